/* SPDX-License-Identifier: MIT */
#pragma once

/* Reuseport groups: see group.c. */

#include "bind.h"
#include "list.h"
#include "manager.h"

typedef struct Group {
        Manager *manager;
        char *name;
        uid_t owner;
        BoundSocket *anchors; /* bound, SO_REUSEPORT, not listening: they keep the port */
        size_t n_anchors;
        int backlog;
        unsigned members_given;
        LIST_FIELDS(struct Group, groups);
} Group;

Group *group_find(Manager *m, const char *name);
/* Creates group name from a first member's sockets (the caller keeps them): one anchor per
 * address. Returns 0, -EEXIST or -errno. */
int group_create(Manager *m, const char *name, uid_t owner, const BoundSocket *members, size_t n, int backlog);
/* Holds a group again from anchors adopted after a restart or a hand-over (fdstore.c): dup()s
 * of them (the caller keeps its fds), sent to the fd store only if push. Returns 0, -EEXIST
 * or -errno. */
int group_adopt(Manager *m, const char *name, uid_t owner, const BoundSocket *anchors, size_t n, int backlog,
                bool push);
/* Answers req with a new member of g (one socket per address), after the membership check. */
int group_answer_member(Request *req, Group *g);
void group_free(Group *g);
void group_free_all(Manager *m);
