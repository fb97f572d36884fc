/* SPDX-License-Identifier: MIT */
#pragma once

/* Held sockets that outlive the process: the service manager's fd store and the successor
 * hand-over (--takeover). See fdstore.c. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bind.h"
#include "manager.h"

/* Longest FDNAME= systemd accepts (FDNAME_MAX), NUL excluded. */
#define FDSTORE_MAX_NAME 255u
/* Metadata in front of the held name: "h.tcp4." + uid (10 digits) + "." + backlog (10) + "."
 * + index (4: < BIND_MAX_SOCKETS) + ".". */
#define FDSTORE_NAME_OVERHEAD (7u + 10u + 1u + 10u + 1u + 4u + 1u)
/* How long a successor waits for the running instance's answers, and how long the running
 * instance waits for its requests in flight and for the commit: a hand-over is a moment, and
 * a hung peer must not stop either side for longer. */
#define TAKEOVER_TIMEOUT_USEC (10ULL * 1000ULL * 1000ULL)

/* When the service manager has no room for a message (its queue is full), the messages wait
 * in order and are sent again after 100 ms, then twice as long each time, up to 30 s: the
 * loop never waits for it beyond one NOTIFY_WAIT_MSEC per batch. */
#define FDSTORE_RETRY_MIN_USEC (100ULL * 1000ULL)
#define FDSTORE_RETRY_MAX_USEC (30ULL * 1000ULL * 1000ULL)
/* Messages that may wait: two per held socket (push, removal) of a host's worth of held
 * sockets; about 270 bytes each. */
#define FDSTORE_MAX_QUEUED 65536u

typedef struct FdStoreQueue FdStoreQueue;

/* What an fd store name says: kind 'h' (held socket) or 'g' (reuseport group anchor). */
typedef struct FdName {
        char kind;
        int family;
        int socktype;
        uid_t owner;
        int backlog;
        unsigned index;
        const char *name; /* points into the parsed string */
} FdName;

/* Formats the FDNAME of one socket. Returns 0, or -ENAMETOOLONG / -EAFNOSUPPORT. */
int fdstore_format_name(char *buf, size_t len, char kind, int family, int socktype, uid_t owner, int backlog,
                        size_t index, const char *name);
/* Parses an FDNAME we made. Returns 0, or -EINVAL for anything else. */
int fdstore_parse_name(const char *s, FdName *ret);

/* Reads $FDSTORE (with $NOTIFY_SOCKET): whether and how much to push. */
void fdstore_setup(Manager *m);
/* Push every socket of a new held name or group to the fd store, or remove them from it (on
 * release). Nothing without a store; failures are logged, never fatal. */
void fdstore_push_held(Manager *m, const Held *h);
void fdstore_remove_held(Manager *m, const Held *h);
void fdstore_push_group(Manager *m, const Group *g);
void fdstore_remove_group(Manager *m, const Group *g);
/* Frees the messages still waiting (at exit). */
void fdstore_queue_free(Manager *m);

/* Sockets being adopted at start, from LISTEN_FDS or from a predecessor. */
typedef struct AdoptEntry {
        FdName meta;
        char *name;
        BoundSocket socket;
} AdoptEntry;

typedef struct Adoption {
        AdoptEntry *entries;
        size_t n, allocated;
} Adoption;

/* Checks that fd is a socket of meta's family and type (SO_DOMAIN, SO_TYPE), reads its
 * address if addr is NULL, and keeps it. Consumes fd in every case: closed, with a
 * warning naming what (a description of where it came from), if it is not what meta says.
 * Returns 0 kept, or -errno. */
int adoption_add(Adoption *a, const FdName *meta, int fd, const struct sockaddr_storage *addr, socklen_t addr_len,
                 const char *what);
/* Holds what a collected, by name and in index order, and empties a. push: also put it in
 * the fd store (not for what came from the store). */
void adoption_finish(Manager *m, Adoption *a, bool push);
void adoption_done(Adoption *a);

/* --takeover: connects to the running instance at m->socket_path, takes its control
 * listener, held sockets and groups, and commits. On return 0 m->listen_fd is the
 * predecessor's listener; on -errno nothing changed and the predecessor serves on. */
int fdstore_takeover(Manager *m);
/* The running instance's side of TAKEOVER (handlers.c). */
int takeover_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
/* The successor's connection went away (manager.c): serve on. */
void takeover_abort(Manager *m);
