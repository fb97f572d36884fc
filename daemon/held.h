/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Held sockets (DESIGN.md §5): named sockets the daemon keeps so that an app restarts
 * without its port ever closing. Owns the table, quotas, ownership checks, and the watch
 * that re-listen()s a held listener a recipient shut down. Must not bind (bind.c does)
 * and must not hand out an fd except as a dup() into a reply.
 */

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "bind.h"
#include "list.h"
#include "manager.h"

/* Held names and reuseport groups one uid may own together: each costs fds in the daemon,
 * so a user cannot exhaust them. */
#define HELD_MAX_NAMES_PER_UID 64u
/* Sockets under one name: what one bind() call may return, a group's members. */
#define HELD_MAX_SOCKETS_PER_NAME 64u

typedef struct HeldSocket {
        int fd;
        int family;
        int socktype;
        struct sockaddr_storage addr;
        socklen_t addr_len;
        int backlog;                 /* for re-listen() after a recipient's shutdown() */
        sd_event_source *watch;      /* EPOLLHUP on a listener that stopped listening */
        struct Held *held;
} HeldSocket;

typedef struct Held {
        Manager *manager;
        char *name;
        uid_t owner;
        HeldSocket *sockets;
        size_t n_sockets;
        uint64_t seq; /* Manager.held_seq when it was added: HOLD_LIST resumes by it */
        LIST_FIELDS(struct Held, held);
} Held;

/* Checks a name given by a client: 1..PROTO_MAX_SOCKET_NAME - 1 (199) printable ASCII bytes,
 * no ':' (the separator of LISTEN_FDNAMES) and no whitespace: what fits in an fd store name
 * (fdstore.c). Returns 0 or -EINVAL with the reason in reason. */
int held_name_check(const char *name, char *reason, size_t reason_len);

/* The name held by owner (names are per owner: uids do not share a name space). */
Held *held_find(Manager *m, const char *name, uid_t owner);
/* May creds use (retrieve, release) h? Its owner and root may. */
bool held_may_use(const Held *h, const Creds *creds);
/* Number of held names and groups owned by uid. */
unsigned held_count_owned(Manager *m, uid_t uid);

/* Keeps dup()s of sockets[0..n) under name for owner. The caller keeps its fds.
 * Returns 0, -EEXIST, -EDQUOT (quota), -E2BIG or -errno. */
int held_add(Manager *m, const char *name, uid_t owner, const BoundSocket *sockets, size_t n, int backlog);
/* The same for sockets held before a restart or a hand-over (fdstore.c): no quota check,
 * sent to the fd store only if push. */
int held_adopt(Manager *m, const char *name, uid_t owner, const BoundSocket *sockets, size_t n, int backlog,
               bool push);
/* Closes a held name's sockets and forgets it. */
void held_free(Held *h);
void held_free_all(Manager *m);

/* For a request with hold and name: if name is held, answers req with its sockets (or
 * an error if creds may not use it, or if it holds unix sockets and want_unix is false or the
 * other way round) and returns 1; returns 0 if no such name. */
int held_answer_existing(Request *req, uid_t uid, const char *name, bool want_unix);

/* Before binding for a new held name: 0 if uid may hold one more name, else answers req
 * with EDQUOT and returns 1, so that nothing is created that could not be kept. */
int held_check_quota(Request *req, uid_t uid);

/* Keeps the sockets a request just bound under name and answers req: with them, or with
 * the sockets of the same name if another request held it meanwhile, or with an error.
 * The caller adds nothing more; sockets stay the caller's. Returns 1 when it answered
 * (always, except -ENOMEM before answering). */
int held_keep_and_answer(Request *req, const Creds *creds, const char *name, const BoundSocket *sockets, size_t n,
                         int backlog);

/* Adds dup()s of h's sockets to reply as items. */
int held_reply_add(const Held *h, ProtoReply *reply);
/* listen(fd, backlog) again, for the listener repair here and in fdstore.c. A unix listener
 * shows its peers the credentials of whoever called listen() last, so this one runs as the
 * owner, never as the daemon: with the gid and groups the listener wore (SO_PEERCRED,
 * SO_PEERGROUPS) if they were the owner's, else (a socket held before this rule, or one a
 * root recipient listen()ed) with gid 65534 (nogroup) and no groups. Returns 0 or -errno. */
int held_listen_as_owner(int fd, int family, uid_t owner, int backlog);

int hold_list_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int hold_release_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
