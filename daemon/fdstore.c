/* SPDX-License-Identifier: MIT */

/*
 * Held sockets that outlive the process (DESIGN.md §5). Owns the fd store names, pushing
 * held sockets and reuseport group anchors to the service manager's fd store and removing
 * them on release, adopting them back at start (from LISTEN_FDS / LISTEN_FDNAMES, or from a
 * predecessor), and the successor hand-over (TAKEOVER, `netutild --takeover`). Must not
 * decide who may use a held socket (held.c, group.c do), must not block the loop for more
 * than notify.c's NOTIFY_WAIT_MSEC, and must never keep an fd it cannot account for: what
 * is passed to us and is not ours, or does not match its name, is closed with a warning.
 *
 * The fd store (systemd): with $NOTIFY_SOCKET and $FDSTORE set (systemd 254 and later set
 * $FDSTORE to FileDescriptorStoreMax=; with older ones the unit sets it), every held socket
 * and group anchor is sent once, on its own, as
 *
 *     FDSTORE=1\nFDNAME=<name>\nFDPOLL=0       + the socket (SCM_RIGHTS)
 *
 * FDPOLL=0 because the store must keep a listener that reports EPOLLHUP (a recipient's
 * shutdown(), which held.c repairs). One fd per message because FDNAME= names every fd of a
 * message and each needs its own name; the names carry everything needed to hold it again:
 *
 *     <kind>.<proto>.<owner uid>.<backlog>.<index>.<name>        e.g. h.tcp6.1000.128.1.web
 *
 * kind h = held socket, g = reuseport group anchor; proto tcp4, tcp6, udp4, udp6 or unix
 * (a held unix stream socket); index = the socket's place under its name. Names of held
 * sockets and groups are printable ASCII without ':' or spaces (held_name_check()), which
 * is what systemd allows in FDNAME=; PROTO_MAX_SOCKET_NAME leaves room for the prefix. On
 * release: FDSTOREREMOVE=1\nFDNAME=<name>, one per socket. At exit nothing is removed: that
 * is the point. Messages go out in order through a queue: when the service manager's socket
 * has no room, the first one waits NOTIFY_WAIT_MSEC at most and the rest wait in the queue
 * for a retry with backoff (FDSTORE_RETRY_*), so a removal never overtakes its push and a
 * push for a socket released meanwhile is dropped. At start the passed fds whose names parse as ours are checked (SO_DOMAIN,
 * SO_TYPE, SO_REUSEPORT for anchors; a held stream socket that stopped listening listens
 * again) and held again in index order, with their owners and backlogs, counted in the
 * quotas; they are not pushed again (they came from the store). A held unix socket's
 * address is then what getsockname() says: the staging name bind-unix.c bound it under.
 * Without $FDSTORE nothing is pushed: a NOTIFY_SOCKET whose reader does not keep fds (a
 * test harness, a supervisor without a store) would otherwise keep released ports open in
 * its unread queue.
 *
 * The successor hand-over (no systemd, e.g. an upgrade): `netutild --takeover` connects to
 * the running instance's control socket and sends TAKEOVER (uid 0 or the daemon's own uid
 * only). The running instance stops accepting and stops reading every other connection,
 * waits until nothing else is in flight (at most TAKEOVER_TIMEOUT_USEC), and answers with
 * its control listener and every held socket and anchor as items (multi-part past 253 fds,
 * proto/PROTOCOL.md §7.6a). The successor checks and keeps them, then sends a second
 * TAKEOVER on the same connection: the commit. The running instance then exits 0 without
 * removing the socket node; the successor reloads the state file and serves on the very
 * same listener, so a client connecting meanwhile waits in its backlog and is never
 * refused. If the successor fails or goes away before the commit, or does not commit
 * within TAKEOVER_TIMEOUT_USEC, the running instance serves on and drops its connection; a
 * successor whose commit is not acknowledged exits, so two never serve at once. Overrides travel through the state file; rules with a TTL do not survive.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "group.h"
#include "held.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "override.h"
#include "state.h"

_Static_assert(FDSTORE_NAME_OVERHEAD + PROTO_MAX_SOCKET_NAME - 1 <= FDSTORE_MAX_NAME,
               "a held name and its fd store prefix fit in one FDNAME=");
_Static_assert(BIND_MAX_SOCKETS <= 10000, "an index fits in 4 digits");

/* While a hand-over waits for requests in flight, it looks again this often. */
#define TAKEOVER_POLL_USEC (10ULL * 1000ULL)

static const struct {
        const char *token; /* 4 characters */
        int family;
        int socktype;
} protos[] = {
        { "tcp4", AF_INET, SOCK_STREAM }, { "tcp6", AF_INET6, SOCK_STREAM }, { "udp4", AF_INET, SOCK_DGRAM },
        { "udp6", AF_INET6, SOCK_DGRAM }, { "unix", AF_UNIX, SOCK_STREAM },
};

/* ---- names --------------------------------------------------------------------------- */

int fdstore_format_name(char *buf, size_t len, char kind, int family, int socktype, uid_t owner, int backlog,
                        size_t index, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(protos); i++) {
                int n;

                if (protos[i].family != family || protos[i].socktype != socktype)
                        continue;
                n = snprintf(buf, len, "%c.%s.%u.%d.%zu.%s", kind, protos[i].token, (unsigned) owner,
                             backlog < 0 ? 0 : backlog, index, name);
                if (n < 0 || (size_t) n >= len || (size_t) n > FDSTORE_MAX_NAME)
                        return -ENAMETOOLONG;
                return 0;
        }
        return -EAFNOSUPPORT;
}

/* One decimal field of at most max_digits digits, followed by '.'. */
static int parse_field(const char **p, unsigned max_digits, unsigned long long *ret) {
        unsigned long long v = 0;
        const char *q = *p;
        unsigned n = 0;

        for (; *q >= '0' && *q <= '9'; q++) {
                if (++n > max_digits)
                        return -EINVAL;
                v = v * 10 + (unsigned) (*q - '0');
        }
        if (n == 0 || *q != '.')
                return -EINVAL;
        *p = q + 1;
        *ret = v;
        return 0;
}

int fdstore_parse_name(const char *s, FdName *ret) {
        unsigned long long uid, backlog, index;
        char reason[PROTO_MAX_ERROR_MESSAGE];
        FdName f = {};
        const char *p;
        size_t i;

        if (strlen(s) > FDSTORE_MAX_NAME || (s[0] != 'h' && s[0] != 'g') || s[1] != '.')
                return -EINVAL;
        f.kind = s[0];
        p = s + 2;
        for (i = 0; i < ELEMENTSOF(protos); i++)
                if (strncmp(p, protos[i].token, 4) == 0 && p[4] == '.')
                        break;
        if (i == ELEMENTSOF(protos))
                return -EINVAL;
        f.family = protos[i].family;
        f.socktype = protos[i].socktype;
        p += 5;
        if (parse_field(&p, 10, &uid) < 0 || uid >= UINT32_MAX || parse_field(&p, 10, &backlog) < 0 ||
            backlog > INT_MAX || parse_field(&p, 4, &index) < 0 || index >= BIND_MAX_SOCKETS)
                return -EINVAL;
        if (held_name_check(p, reason, sizeof(reason)) < 0)
                return -EINVAL;
        /* Groups are TCP over IP only (group.c). */
        if (f.kind == 'g' && (f.socktype != SOCK_STREAM || f.family == AF_UNIX))
                return -EINVAL;
        f.owner = (uid_t) uid;
        f.backlog = (int) backlog;
        f.index = (unsigned) index;
        f.name = p;
        *ret = f;
        return 0;
}

/* ---- pushing to the store ------------------------------------------------------------ */

void fdstore_setup(Manager *m) {
        const char *e = getenv("FDSTORE");
        unsigned long v;
        char *end = NULL;

        m->fdstore_max = 0;
        if (!m->notify || !e)
                return;
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno != 0 || end == e || *end || v == 0 || v > UINT_MAX) {
                log_warning("Ignoring $FDSTORE='%s': not a positive number; held sockets stay out of the fd store.",
                            e);
                return;
        }
        m->fdstore_max = (unsigned) v;
        log_info("Held sockets go to the service manager's fd store (room for %u).", m->fdstore_max);
}

static unsigned stored_count(Manager *m) {
        unsigned n = m->n_held_sockets;

        for (Group *g = m->groups; g; g = g->groups_next)
                n += (unsigned) g->n_anchors;
        return n;
}

/* Every message goes through a queue, in order, so that a removal never overtakes the push
 * it undoes (or the other way round) when the service manager has no room for a while. */
typedef struct FdStoreMsg {
        bool remove;
        char fdname[FDSTORE_MAX_NAME + 1];
        struct FdStoreMsg *next;
} FdStoreMsg;

struct FdStoreQueue {
        FdStoreMsg *head, *tail;
        size_t n;
        uint64_t backoff_usec;
        bool retrying; /* the timer is due: send nothing before it */
        sd_event_source *timer;
};

void fdstore_queue_free(Manager *m) {
        FdStoreQueue *q = m->fdstore_queue;

        if (!q)
                return;
        while (q->head) {
                FdStoreMsg *e = q->head;
                q->head = e->next;
                free(e);
        }
        sd_event_source_disable_unref(q->timer);
        free(q);
        m->fdstore_queue = NULL;
}

/* The socket a queued push names, if it is still held as named: a push for a socket
 * released meanwhile is dropped. Returns the fd (ours: do not close) or -ENOENT. */
static int queued_fd(Manager *m, const char *fdname) {
        char again[FDSTORE_MAX_NAME + 1];
        FdName f;

        if (fdstore_parse_name(fdname, &f) < 0)
                return -ENOENT;
        if (f.kind == 'h') {
                Held *h = held_find(m, f.name, f.owner);
                if (!h || f.index >= h->n_sockets)
                        return -ENOENT;
                const HeldSocket *hs = &h->sockets[f.index];
                if (fdstore_format_name(again, sizeof(again), 'h', hs->family, hs->socktype, h->owner, hs->backlog,
                                        f.index, h->name) < 0 || strcmp(again, fdname) != 0)
                        return -ENOENT;
                return hs->fd;
        }
        Group *g = group_find(m, f.name, f.owner);
        if (!g || f.index >= g->n_anchors)
                return -ENOENT;
        if (fdstore_format_name(again, sizeof(again), 'g', g->anchors[f.index].family, SOCK_STREAM, g->owner,
                                g->backlog, f.index, g->name) < 0 || strcmp(again, fdname) != 0)
                return -ENOENT;
        return g->anchors[f.index].fd;
}

static void queue_flush(Manager *m, bool may_wait);

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->fdstore_queue->retrying = false;
        queue_flush(m, false);
        return 0;
}

/* Sends what is queued, in order, until the service manager has no room: then again after
 * a backoff. may_wait: the first message may wait NOTIFY_WAIT_MSEC for room (once per flush,
 * never while backing off), so that a name of many sockets costs one wait at most. */
static void queue_flush(Manager *m, bool may_wait) {
        FdStoreQueue *q = m->fdstore_queue;
        bool retried = q->backoff_usec > 0;

        if (q->retrying)
                return;
        while (q->head) {
                FdStoreMsg *e = q->head;
                char text[FDSTORE_MAX_NAME + 64];
                int fd = -EBADF, r;

                if (!e->remove && (fd = queued_fd(m, e->fdname)) < 0)
                        r = 0; /* released meanwhile: nothing to keep */
                else {
                        if (e->remove)
                                snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", e->fdname);
                        else
                                snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", e->fdname);
                        r = notify_send_fds(may_wait, text, e->remove ? NULL : &fd, e->remove ? 0 : 1);
                        may_wait = false;
                }
                if (r == -EAGAIN || r == -ETIMEDOUT || r == -ENOBUFS) {
                        /* No room now: try again later, backing off, rather than hold the loop. */
                        if (q->backoff_usec == 0)
                                log_warning_errno(r, "The service manager has no room for fd store messages (%m); "
                                                     "%zu queued, retrying.", q->n);
                        q->backoff_usec = q->backoff_usec == 0 ? FDSTORE_RETRY_MIN_USEC
                                                               : MIN(q->backoff_usec * 2, FDSTORE_RETRY_MAX_USEC);
                        if (!q->timer && sd_event_add_time_relative(m->event, &q->timer, CLOCK_MONOTONIC,
                                                                    q->backoff_usec, 0, retry_cb, m) < 0) {
                                log_warning("Cannot retry fd store messages; %zu dropped.", q->n);
                                break;
                        }
                        (void) sd_event_source_set_time_relative(q->timer, q->backoff_usec);
                        (void) sd_event_source_set_enabled(q->timer, SD_EVENT_ONESHOT);
                        q->retrying = true;
                        return;
                }
                if (r < 0)
                        log_warning_errno(r, "Failed to %s '%s' %s the service manager's fd store: %m",
                                          e->remove ? "remove" : "put", e->fdname, e->remove ? "from" : "in");
                q->head = e->next;
                if (!q->head)
                        q->tail = NULL;
                q->n--;
                free(e);
        }
        if (retried && !q->head)
                log_info("The fd store messages that had to wait are delivered.");
        q->backoff_usec = 0;
}

static void queue_add(Manager *m, bool remove, char kind, int family, int socktype, uid_t owner, int backlog,
                      size_t index, const char *name) {
        FdStoreQueue *q = m->fdstore_queue;
        FdStoreMsg *e;
        int r;

        if (!q) {
                q = m->fdstore_queue = calloc(1, sizeof(*q));
                if (!q) {
                        log_oom();
                        return;
                }
        }
        if (q->n >= FDSTORE_MAX_QUEUED) {
                log_warning("Too many fd store messages waiting (%zu); dropping the one for '%s'.", q->n, name);
                return;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                log_oom();
                return;
        }
        r = fdstore_format_name(e->fdname, sizeof(e->fdname), kind, family, socktype, owner, backlog, index, name);
        if (r < 0) {
                log_warning_errno(r, "Cannot name socket %zu of '%s' for the fd store: %m", index, name);
                free(e);
                return;
        }
        e->remove = remove;
        if (q->tail)
                q->tail->next = e;
        else
                q->head = e;
        q->tail = e;
        q->n++;
}

void fdstore_push_held(Manager *m, const Held *h) {
        if (m->fdstore_max == 0)
                return;
        if (stored_count(m) > m->fdstore_max)
                log_warning("More held sockets (%u) than the fd store has room for (%u): raise "
                            "FileDescriptorStoreMax= and $FDSTORE.", stored_count(m), m->fdstore_max);
        for (size_t i = 0; i < h->n_sockets; i++) {
                const HeldSocket *hs = &h->sockets[i];
                queue_add(m, false, 'h', hs->family, hs->socktype, h->owner, hs->backlog, i, h->name);
        }
        if (m->fdstore_queue)
                queue_flush(m, true);
}

void fdstore_remove_held(Manager *m, const Held *h) {
        if (m->fdstore_max == 0)
                return;
        for (size_t i = 0; i < h->n_sockets; i++) {
                const HeldSocket *hs = &h->sockets[i];
                queue_add(m, true, 'h', hs->family, hs->socktype, h->owner, hs->backlog, i, h->name);
        }
        if (m->fdstore_queue)
                queue_flush(m, true);
}

void fdstore_push_group(Manager *m, const Group *g) {
        if (m->fdstore_max == 0)
                return;
        for (size_t i = 0; i < g->n_anchors; i++)
                queue_add(m, false, 'g', g->anchors[i].family, SOCK_STREAM, g->owner, g->backlog, i, g->name);
        if (m->fdstore_queue)
                queue_flush(m, true);
}

void fdstore_remove_group(Manager *m, const Group *g) {
        if (m->fdstore_max == 0)
                return;
        for (size_t i = 0; i < g->n_anchors; i++)
                queue_add(m, true, 'g', g->anchors[i].family, SOCK_STREAM, g->owner, g->backlog, i, g->name);
        if (m->fdstore_queue)
                queue_flush(m, true);
}

/* ---- adopting ------------------------------------------------------------------------ */

static int sockopt_int(int fd, int level, int name, int *ret) {
        socklen_t len = sizeof(*ret);

        if (getsockopt(fd, level, name, ret, &len) < 0)
                return -errno;
        return 0;
}

int adoption_add(Adoption *a, const FdName *meta, int fd_in, const struct sockaddr_storage *addr, socklen_t addr_len,
                 const char *what) {
        _cleanup_(closep) int fd = fd_in;
        int domain = -1, type = -1, v = 0, r;
        AdoptEntry *e;

        /* Passed fds are not close-on-exec; everything of ours is. */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return log_warning_errno(errno, "Closing %s: %m", what);
        if ((r = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain)) < 0 ||
            (r = sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type)) < 0)
                return log_warning_errno(r, "Closing %s: not a socket: %m", what);
        if (domain != meta->family || type != meta->socktype) {
                log_warning("Closing %s: a socket of family %d and type %d, not what its name says.", what, domain,
                            type);
                return -EPROTOTYPE;
        }
        if (meta->kind == 'g' && (sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, &v) < 0 || v != 1)) {
                log_warning("Closing %s: a group anchor without SO_REUSEPORT.", what);
                return -EPROTOTYPE;
        }
        /* A recipient shut the listener down while no daemon watched it: repair it, as held.c would. */
        if (meta->kind == 'h' && type == SOCK_STREAM && sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &v) >= 0 && v == 0 &&
            (r = held_listen_as_owner(fd, domain, meta->owner, meta->backlog)) < 0)
                return log_warning_errno(r, "Closing %s: it stopped listening and cannot listen again: %m", what);

        if (a->n == a->allocated) {
                size_t n = a->allocated ? a->allocated * 2 : 64;
                AdoptEntry *p = reallocarray(a->entries, n, sizeof(AdoptEntry));
                if (!p)
                        return log_oom();
                a->entries = p;
                a->allocated = n;
        }
        e = &a->entries[a->n];
        *e = (AdoptEntry) { .meta = *meta };
        e->name = strdup(meta->name);
        if (!e->name)
                return log_oom();
        e->meta.name = e->name;
        e->socket.family = domain;
        e->socket.socktype = type;
        if (addr && addr_len <= sizeof(e->socket.addr)) {
                memcpy(&e->socket.addr, addr, addr_len);
                e->socket.addr_len = addr_len;
        } else {
                e->socket.addr_len = sizeof(e->socket.addr);
                if (getsockname(fd, (struct sockaddr *) &e->socket.addr, &e->socket.addr_len) < 0) {
                        r = -errno;
                        free(e->name);
                        return log_warning_errno(r, "Closing %s: getsockname() failed: %m", what);
                }
        }
        e->socket.fd = TAKE_FD(fd);
        a->n++;
        return 0;
}

void adoption_done(Adoption *a) {
        for (size_t i = 0; i < a->n; i++) {
                safe_close(a->entries[i].socket.fd);
                free(a->entries[i].name);
        }
        free(a->entries);
        *a = (Adoption) {};
}

void adoption_finish(Manager *m, Adoption *a, bool push) {
        size_t n_held = 0, n_names = 0, n_anchors = 0, n_groups = 0;
        _cleanup_(freep) BoundSocket *run = NULL;

        if (a->n == 0)
                return;
        run = calloc(a->n, sizeof(BoundSocket));
        if (!run) {
                log_oom();
                adoption_done(a);
                return;
        }
        for (size_t i = 0; i < a->n; i++) {
                AdoptEntry *first = &a->entries[i];
                size_t k = 0;
                int r;

                if (first->socket.fd < 0)
                        continue; /* part of an earlier name */
                /* The sockets of this name in index order; the index says where each was. */
                for (unsigned want = 0, found = 1; found && k < a->n; want++) {
                        found = 0;
                        for (size_t j = i; j < a->n; j++) {
                                AdoptEntry *e = &a->entries[j];
                                if (e->socket.fd < 0 || e->meta.kind != first->meta.kind ||
                                    strcmp(e->name, first->name) != 0 || e->meta.index != want)
                                        continue;
                                if (found || e->meta.owner != first->meta.owner ||
                                    e->meta.backlog != first->meta.backlog) {
                                        log_warning("Closing a passed socket of '%s': its index %u, owner or backlog "
                                                    "contradicts another.", e->name, e->meta.index);
                                        e->socket.fd = safe_close(e->socket.fd);
                                        continue;
                                }
                                found = 1;
                                run[k++] = e->socket;
                                e->socket.fd = -EBADF; /* now in run[] */
                        }
                }
                /* Sockets of this name after a gap in the indexes. */
                for (size_t j = i; j < a->n; j++) {
                        AdoptEntry *e = &a->entries[j];
                        if (e->socket.fd >= 0 && e->meta.kind == first->meta.kind && strcmp(e->name, first->name) == 0) {
                                log_warning("Closing socket %u of '%s': an earlier index is missing.", e->meta.index,
                                            e->name);
                                e->socket.fd = safe_close(e->socket.fd);
                        }
                }
                if (k == 0)
                        continue;
                if (first->meta.kind == 'h')
                        r = held_adopt(m, first->name, first->meta.owner, run, k, first->meta.backlog, push);
                else
                        r = group_adopt(m, first->name, first->meta.owner, run, k, first->meta.backlog, push);
                if (r < 0)
                        log_warning_errno(r, "Closing the %zu passed socket%s of %s '%s': %m", k, k == 1 ? "" : "s",
                                          first->meta.kind == 'h' ? "held name" : "group", first->name);
                else if (first->meta.kind == 'h')
                        n_held += k, n_names++;
                else
                        n_anchors += k, n_groups++;
                for (size_t j = 0; j < k; j++)
                        safe_close(run[j].fd); /* held and groups keep their own copies */
        }
        log_info("Adopted %zu held socket%s under %zu name%s and %zu anchor%s of %zu reuseport group%s.", n_held,
                 n_held == 1 ? "" : "s", n_names, n_names == 1 ? "" : "s", n_anchors, n_anchors == 1 ? "" : "s",
                 n_groups, n_groups == 1 ? "" : "s");
        adoption_done(a);
}

/* ---- TAKEOVER: the running instance -------------------------------------------------- */

static int add_socket_item(ProtoReply *reply, bool group, const char *name, uid_t owner, int backlog, int family,
                           int socktype, const struct sockaddr_storage *addr, socklen_t addr_len, int fd_to_dup) {
        _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
        const void *attrs;
        size_t len;
        int fd, r;

        r = proto_msg_new(0, 0, &item);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_string(item, PROTO_ATTR_NAME, name)) < 0 ||
            (r = proto_msg_append_u32(item, PROTO_ATTR_OWNER_UID, (uint32_t) owner)) < 0 ||
            (r = proto_msg_append_s32(item, PROTO_ATTR_BACKLOG, backlog)) < 0 ||
            (r = proto_msg_append_u32(item, group ? PROTO_ATTR_REUSE_PORT : PROTO_ATTR_HOLD, 1)) < 0 ||
            (r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, (uint32_t) family)) < 0 ||
            (r = proto_msg_append_u32(item, PROTO_ATTR_SOCKTYPE, (uint32_t) socktype)) < 0 ||
            (r = proto_msg_append(item, PROTO_ATTR_SOCKADDR, addr, addr_len)) < 0)
                return r;
        fd = fcntl(fd_to_dup, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        attrs = proto_msg_attrs(item, &len);
        return proto_reply_add_item(reply, attrs, len, fd);
}

/* Everything the successor needs, as items: the control listener first, then held names and
 * groups oldest first (the successor prepends, so its lists end up in our order). */
static int takeover_reply(Manager *m, ProtoReply **ret) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
        const void *attrs;
        size_t len;
        Held *h;
        Group *g;
        int fd, r;

        r = proto_reply_new(PROTO_MSG_TAKEOVER, m->takeover_req->serial, &reply);
        if (r < 0)
                return r;
        r = proto_msg_new(0, 0, &item);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, AF_UNIX)) < 0 ||
            (r = proto_msg_append_u32(item, PROTO_ATTR_SOCKTYPE, SOCK_SEQPACKET)) < 0)
                return r;
        /* PATH: the node is ours to remove at exit; the successor's once it takes over. */
        if (m->socket_created && m->socket_path &&
            (r = proto_msg_append(item, PROTO_ATTR_PATH, m->socket_path, strlen(m->socket_path))) < 0)
                return r;
        fd = fcntl(m->listen_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        attrs = proto_msg_attrs(item, &len);
        r = proto_reply_add_item(reply, attrs, len, fd);
        if (r < 0)
                return r;

        for (h = m->held; h && h->held_next; h = h->held_next)
                ;
        for (; h; h = h->held_prev)
                for (size_t i = 0; i < h->n_sockets; i++) {
                        const HeldSocket *hs = &h->sockets[i];
                        r = add_socket_item(reply, false, h->name, h->owner, hs->backlog, hs->family, hs->socktype,
                                            &hs->addr, hs->addr_len, hs->fd);
                        if (r < 0)
                                return r;
                }
        for (g = m->groups; g && g->groups_next; g = g->groups_next)
                ;
        for (; g; g = g->groups_prev)
                for (size_t i = 0; i < g->n_anchors; i++) {
                        r = add_socket_item(reply, true, g->name, g->owner, g->backlog, g->anchors[i].family,
                                            SOCK_STREAM, &g->anchors[i].addr, g->anchors[i].addr_len,
                                            g->anchors[i].fd);
                        if (r < 0)
                                return r;
                }
        *ret = TAKE_PTR(reply);
        return 0;
}

static void takeover_rearm(Manager *m, uint64_t usec) {
        (void) sd_event_source_set_time_relative(m->takeover_timer, usec);
        (void) sd_event_source_set_enabled(m->takeover_timer, SD_EVENT_ONESHOT);
}

void takeover_abort(Manager *m) {
        Request *req = TAKE_PTR(m->takeover_req);
        Conn *successor = m->takeover_conn;

        if (!successor && !req)
                return;
        /* A successor that holds our sockets but did not commit in time must not go on to
         * serve too: its connection goes, so that its commit fails and it exits (a commit
         * that arrived later would otherwise read as a new take). */
        if (successor && m->takeover_prepared)
                manager_conn_kill(successor);
        m->takeover_conn = NULL;
        m->takeover_prepared = false;
        (void) sd_event_source_set_enabled(m->takeover_timer, SD_EVENT_OFF);
        if (req)
                request_error(req, ECANCELED, "The hand-over was abandoned");
        manager_resume(m);
        log_warning("The hand-over to a successor was abandoned; serving on.");
}

static int takeover_timer_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        Manager *m = userdata;
        Request *req = m->takeover_req;
        int r;

        if (!req) {
                /* Handed over; waiting for the commit. */
                if (m->takeover_prepared && now_usec() > m->takeover_deadline) {
                        log_warning("The successor did not confirm the hand-over in time.");
                        takeover_abort(m);
                } else if (m->takeover_prepared)
                        takeover_rearm(m, TAKEOVER_POLL_USEC * 10);
                return 0;
        }
        /* Every request but the TAKEOVER itself answered: nothing changes any more. */
        if (manager_unanswered_requests(m) > 1) {
                if (now_usec() <= m->takeover_deadline) {
                        takeover_rearm(m, TAKEOVER_POLL_USEC);
                        return 0;
                }
                m->takeover_req = NULL;
                request_error(req, EBUSY, "Requests in flight did not finish within %llu s; not handing over",
                              TAKEOVER_TIMEOUT_USEC / 1000000ULL);
                takeover_abort(m);
                return 0;
        }
        r = takeover_reply(m, &reply);
        m->takeover_req = NULL;
        if (r < 0) {
                request_error(req, -r, "Failed to hand over: %s", strerror(-r));
                takeover_abort(m);
                return 0;
        }
        log_info("Handed the control socket, %u held socket%s and every group anchor over to pid %d; waiting for "
                 "its confirmation.", m->n_held_sockets, m->n_held_sockets == 1 ? "" : "s",
                 (int) req->conn->creds.pid);
        m->takeover_prepared = true;
        m->takeover_deadline = now_usec() + TAKEOVER_TIMEOUT_USEC;
        request_reply(req, TAKE_PTR(reply));
        takeover_rearm(m, TAKEOVER_POLL_USEC * 10);
        return 0;
}

int takeover_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        Manager *m = req->manager;
        const Creds *creds = &req->conn->creds;
        uid_t self = geteuid();
        int r;

        if (creds->uid != 0 && creds->uid != self) {
                log_refusal(creds->uid, creds->pid, "TAKEOVER", "Refused TAKEOVER for uid %u pid %d.",
                            (unsigned) creds->uid, (int) creds->pid);
                return request_error(req, EPERM,
                                     "Permission denied: only root or uid %u (the daemon's) may take over netutild",
                                     (unsigned) self);
        }
        if (m->takeover_conn == req->conn && m->takeover_prepared) {
                /* The commit: the successor holds everything and serves on our listener. */
                log_info("Pid %d took over; exiting.", (int) creds->pid);
                m->takeover_conn = NULL;
                m->takeover_prepared = false;
                m->socket_created = false; /* the node is the successor's now */
                (void) sd_event_source_set_enabled(m->takeover_timer, SD_EVENT_OFF);
                r = request_reply_empty(req);
                (void) sd_event_exit(m->event, 0);
                return r;
        }
        if (m->takeover_conn)
                return request_error(req, EBUSY, "Another instance is taking over");
        if (m->listen_fd < 0)
                return request_error(req, EBADF, "No control socket to hand over");

        if (!m->takeover_timer) {
                r = sd_event_add_time_relative(m->event, &m->takeover_timer, CLOCK_MONOTONIC, 0, 0,
                                               takeover_timer_cb, m);
                if (r < 0)
                        return r;
        }
        log_info("Uid %u pid %d is taking over; finishing the requests in flight.", (unsigned) creds->uid,
                 (int) creds->pid);
        manager_pause(m, req->conn);
        m->takeover_req = req;
        m->takeover_deadline = now_usec() + TAKEOVER_TIMEOUT_USEC;
        takeover_rearm(m, 0);
        return REQUEST_PENDING;
}

/* ---- TAKEOVER: the successor --------------------------------------------------------- */

/* Receives one datagram of serial on fd (blocking, until deadline) into r and checks it. */
static int recv_reply(int fd, uint32_t serial, uint64_t deadline, ProtoRecv *r, ProtoView *ret) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t n;
                int k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                k = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                n = proto_recv(fd, r);
                if (n == -EAGAIN || n == -EINTR)
                        continue;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET;
                k = proto_parse(r->buf, r->size, ret);
                if (k < 0) {
                        proto_recv_clear(r);
                        return k;
                }
                if (ret->header.type != PROTO_MSG_TAKEOVER || ret->header.serial != serial) {
                        proto_recv_clear(r); /* nothing else is asked on this connection */
                        continue;
                }
                return 0;
        }
}

static int send_takeover(int fd, uint32_t serial) {
        _cleanup_(proto_msg_freep) ProtoMsg *msg = NULL;
        int r = proto_msg_new(PROTO_MSG_TAKEOVER, serial, &msg);

        if (r < 0)
                return r;
        return proto_send(fd, msg);
}

/* One item of the reply: the control listener, a held socket or a group anchor. */
static int take_item(Manager *m, const ProtoView *item, ProtoRecv *rcv, Adoption *a, int *listener, bool *owns_node,
                     char *last_name, unsigned *index) {
        const char *name = NULL;
        uint32_t family = 0, socktype = 0, fd_index = 0, owner = 0, group = 0;
        int32_t backlog = 0;
        const void *addr = NULL;
        size_t addr_len = 0;
        FdName meta = {};
        int fd;

        if (proto_get_u32(item, PROTO_ATTR_FAMILY, &family) < 0 || proto_get_u32(item, PROTO_ATTR_SOCKTYPE, &socktype) < 0 ||
            proto_get_u32(item, PROTO_ATTR_FD_INDEX, &fd_index) < 0)
                return -EBADMSG;
        fd = proto_recv_take_fd(rcv, fd_index);
        if (fd < 0)
                return -EBADMSG;

        if (family == AF_UNIX && socktype == SOCK_SEQPACKET && proto_get_string(item, PROTO_ATTR_NAME, &name) < 0) {
                const void *path = NULL;
                size_t path_len = 0;

                if (*listener >= 0) {
                        safe_close(fd);
                        return -EBADMSG;
                }
                if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
                        safe_close(fd);
                        return -EBADMSG;
                }
                *listener = fd;
                if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                        return -errno;
                manager_restamp_listener(fd);
                *owns_node = proto_get_binary(item, PROTO_ATTR_PATH, &path, &path_len) >= 0 && m->socket_path &&
                             path_len == strlen(m->socket_path) && memcmp(path, m->socket_path, path_len) == 0;
                return 0;
        }
        if (!name && proto_get_string(item, PROTO_ATTR_NAME, &name) < 0) {
                safe_close(fd);
                return -EBADMSG;
        }
        (void) proto_get_u32(item, PROTO_ATTR_OWNER_UID, &owner);
        (void) proto_get_s32(item, PROTO_ATTR_BACKLOG, &backlog);
        (void) proto_get_u32(item, PROTO_ATTR_REUSE_PORT, &group);
        (void) proto_get_binary(item, PROTO_ATTR_SOCKADDR, &addr, &addr_len);
        /* The items of one name are consecutive and in order. */
        if (strcmp(last_name, name) == 0)
                (*index)++;
        else {
                snprintf(last_name, PROTO_MAX_SOCKET_NAME, "%s", name);
                *index = 0;
        }
        meta = (FdName) { .kind = group ? 'g' : 'h', .family = (int) family, .socktype = (int) socktype,
                          .owner = (uid_t) owner, .backlog = backlog < 0 ? 0 : backlog, .index = *index, .name = name };
        return adoption_add(a, &meta, fd, addr ? (const struct sockaddr_storage *) addr : NULL,
                            (socklen_t) addr_len, "a socket from the running instance");
}

int fdstore_takeover(Manager *m) {
        _cleanup_(closep) int fd = -EBADF, listener = -EBADF;
        _cleanup_(adoption_done) Adoption a = {};
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline = now_usec() + TAKEOVER_TIMEOUT_USEC;
        char last_name[PROTO_MAX_SOCKET_NAME] = "";
        unsigned index = 0;
        bool owns_node = false, more = true;
        ProtoView v;
        int r;

        if (!m->socket_path || strlen(m->socket_path) >= sizeof(sa.sun_path))
                return log_error_errno(-EINVAL, "--takeover needs the control socket's path (--socket).");
        memcpy(sa.sun_path, m->socket_path, strlen(m->socket_path));
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "No running netutild to take over at '%s': %m", m->socket_path);
        /* What we adopt must come from a netutild of root or of our own uid, not from
         * whoever could bind that path. */
        {
                struct ucred peer;
                socklen_t len = sizeof(peer);

                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
                        return log_error_errno(errno, "Failed to read the running instance's credentials: %m");
                if (peer.uid != 0 && peer.uid != geteuid())
                        return log_error_errno(-EPERM, "Refusing to take over from uid %u at '%s': not root or ours.",
                                               (unsigned) peer.uid, m->socket_path);
        }
        r = send_takeover(fd, 1);
        if (r < 0)
                return log_error_errno(r, "Failed to ask the running netutild to hand over: %m");

        while (more) {
                ProtoIter it;
                ProtoAttr attr;

                r = recv_reply(fd, 1, deadline, m->recv, &v);
                if (r < 0)
                        return log_error_errno(r, "Failed to take over from the running netutild: %m");
                if (v.header.status != 0) {
                        const char *text = NULL;

                        r = -(int) v.header.status;
                        (void) proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text);
                        log_error_errno(r, "The running netutild refused the takeover: %s", text ? text : strerror(-r));
                        proto_recv_clear(m->recv);
                        return r;
                }
                more = v.header.flags & PROTO_FLAG_MORE;
                proto_iter_init(&it, &v);
                while (r >= 0 && proto_iter_next(&it, &attr)) {
                        ProtoView item;

                        if (attr.type != PROTO_ATTR_ITEM)
                                continue;
                        r = proto_attr_nested(&attr, &item);
                        if (r >= 0)
                                r = take_item(m, &item, m->recv, &a, &listener, &owns_node, last_name, &index);
                }
                proto_recv_clear(m->recv);
                if (r < 0)
                        return log_error_errno(r, "Failed to take over from the running netutild: %m");
        }
        if (listener < 0)
                return log_error_errno(-EBADMSG, "The running netutild handed over no control socket.");

        /* The commit: the predecessor answers it, then exits. */
        r = send_takeover(fd, 2);
        if (r < 0)
                return log_error_errno(r, "Failed to confirm the takeover: %m");
        /* Only an acknowledged commit hands over: the predecessor drops the connection of a
         * successor it gave up on (it serves on), and two daemons must never serve at once. */
        r = recv_reply(fd, 2, now_usec() + TAKEOVER_TIMEOUT_USEC, m->recv, &v);
        if (r >= 0 && v.header.status != 0)
                r = -(int) v.header.status;
        proto_recv_clear(m->recv);
        if (r < 0)
                return log_error_errno(r, "The running netutild did not acknowledge the takeover, so it serves "
                                          "on: %m");

        m->listen_fd = TAKE_FD(listener);
        if (owns_node) {
                struct stat st;
                if (stat(m->socket_path, &st) >= 0 && S_ISSOCK(st.st_mode)) {
                        m->socket_dev = st.st_dev;
                        m->socket_ino = st.st_ino;
                        m->socket_created = true;
                }
        }
        adoption_finish(m, &a, m->fdstore_max > 0);
        /* The predecessor may have saved rules after we loaded the state file. */
        override_tables_free(m);
        r = state_load(m);
        if (r < 0)
                return r;
        log_info("Took over '%s' from the running netutild.", m->socket_path);
        return 0;
}
