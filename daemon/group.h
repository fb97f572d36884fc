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
        char *address; /* the first request's host name (NULL: wildcard or literal, or adopted) */
        char *service; /* the first request's service name (NULL: a number, or adopted) */
        unsigned members_given;
        LIST_FIELDS(struct Group, groups);
} Group;

/* owner's group name: names are per owner, so that no uid can claim a name first and
 * break or steer another's request. */
Group *group_find(Manager *m, const char *name, uid_t owner);
/* The group a request of uid for name joins: uid's own, else root's (workers of other uids
 * join root's group by an AllowBind rule); NULL if neither exists. */
Group *group_find_for(Manager *m, const char *name, uid_t uid);
/* 0 if a request for (address, service, family) asks for what g is: a member has the
 * group's protocol, address and port. -EEXIST and the difference in why, in words, if not. */
int group_check_match(const Group *g, const char *address, const char *service, int family, char *why,
                      size_t why_len);
/* Creates group name from a first member's sockets (the caller keeps them): one anchor per
 * address; address and service as requested, for group_check_match(). Returns 0, -EEXIST or
 * -errno. */
int group_create(Manager *m, const char *name, uid_t owner, const BoundSocket *members, size_t n, int backlog,
                 const char *address, const char *service);
/* Holds a group again from anchors adopted after a restart or a hand-over (fdstore.c): dup()s
 * of them (the caller keeps its fds), sent to the fd store only if push. Returns 0, -EEXIST
 * or -errno. */
int group_adopt(Manager *m, const char *name, uid_t owner, const BoundSocket *anchors, size_t n, int backlog,
                bool push);
/* Answers req with a new member of g (one socket per address), after the membership check
 * (the policy for another uid's group, then group_check_match() of the request's address,
 * service and family), or with the refusal in words. */
int group_answer_member(Request *req, const Creds *creds, Group *g, const char *address, const char *service,
                        int family);
void group_free(Group *g);
void group_free_all(Manager *m);
