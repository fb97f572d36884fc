/* SPDX-License-Identifier: MIT */

/* Held sockets (held.h): the table, HOLD_LIST, HOLD_RELEASE and the listener repair. */

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "as-user.h"
#include "bind.h"
#include "fdstore.h"
#include "group.h"
#include "handlers.h"
#include "held.h"
#include "log.h"
#include "macro.h"

int held_name_check(const char *name, char *reason, size_t reason_len) {
        size_t len = strlen(name);

        if (len == 0 || len >= PROTO_MAX_SOCKET_NAME) {
                snprintf(reason, reason_len, "Invalid name: must be 1 to %u bytes", PROTO_MAX_SOCKET_NAME - 1);
                return -EINVAL;
        }
        /* Bytes that are not printable are described, never repeated (a terminal or a log
         * would act on them); a name of printable bytes can be quoted safely. */
        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                if (*p < ' ' || *p > '~') {
                        snprintf(reason, reason_len,
                                 "Invalid name: byte %zu (0x%02x) is not printable ASCII; only printable ASCII "
                                 "without spaces or ':' is allowed",
                                 (size_t) (p - (const unsigned char *) name), *p);
                        return -EINVAL;
                }
        for (const char *p = name; *p; p++)
                if (*p == ' ' || *p == ':') {
                        snprintf(reason, reason_len,
                                 "Invalid name '%s': only printable ASCII without spaces or ':' is allowed", name);
                        return -EINVAL;
                }
        return 0;
}

Held *held_find(Manager *m, const char *name, uid_t owner) {
        for (Held *h = m->held; h; h = h->held_next)
                if (h->owner == owner && strcmp(h->name, name) == 0)
                        return h;
        return NULL;
}

bool held_may_use(const Held *h, const Creds *creds) {
        return creds->uid == 0 || creds->uid == h->owner;
}

unsigned held_count_owned(Manager *m, uid_t uid) {
        unsigned n = 0;

        /* Held names and reuseport groups share the quota: both keep fds in the daemon. */
        for (Held *h = m->held; h; h = h->held_next)
                if (h->owner == uid)
                        n++;
        for (Group *g = m->groups; g; g = g->groups_next)
                if (g->owner == uid)
                        n++;
        return n;
}

void held_free(Held *h) {
        Manager *m;

        if (!h)
                return;
        m = h->manager;
        for (size_t i = 0; i < h->n_sockets; i++) {
                sd_event_source_disable_unref(h->sockets[i].watch);
                /* A recipient may have made its copy a connected socket with unsent data and
                 * SO_LINGER (shutdown(), connect()) and closed it: ours is then the last close,
                 * which lingers (issue 13). */
                if (m)
                        manager_close_foreign(m, h->sockets[i].fd, h->owner);
                else
                        safe_close(h->sockets[i].fd);
        }
        if (m) {
                LIST_REMOVE(held, m->held, h);
                m->held_removals++; /* a HOLD_LIST's kept pointer may be this one */
                m->n_held_sockets -= h->n_sockets;
                manager_status_changed(m);
        }
        free(h->sockets);
        free(h->name);
        free(h);
}

void held_free_all(Manager *m) {
        while (m->held)
                held_free(m->held);
}

int held_listen_as_owner(int fd, int family, uid_t owner, int backlog) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        gid_t groups[64], gid = 65534;
        size_t n_groups = 0;
        AsUser as = AS_USER_INIT;
        int r = 0;

        if (family != AF_UNIX)
                return listen(fd, backlog) < 0 ? -errno : 0;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) >= 0 && cred.uid == owner) {
                len = sizeof(groups);
                gid = cred.gid;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0)
                        n_groups = len / sizeof(gid_t);
        }
        r = as_user_enter(&as, owner, gid, groups, n_groups, 0, -1);
        if (r < 0)
                return r;
        if (listen(fd, backlog) < 0)
                r = -errno;
        as_user_leave(&as);
        return r;
}

/* A held listener reports EPOLLHUP once a recipient shut it down (TCP_CLOSE): listen()
 * again, so that the port stays open for the next app. */
static int held_watch_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HeldSocket *hs = userdata;
        int r;

        /* A port the kernel chose is given up when the socket closes: bind it again to the
         * port it had (EINVAL: still bound, the port was named explicitly). */
        if ((hs->family == AF_INET || hs->family == AF_INET6) &&
            bind(hs->fd, (struct sockaddr *) &hs->addr, hs->addr_len) < 0 && errno != EINVAL) {
                log_error_errno(errno, "Held socket '%s' stopped listening and its port is gone: %m; "
                                       "no longer watching it.", hs->held->name);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        r = held_listen_as_owner(hs->fd, hs->family, hs->held->owner, hs->backlog);
        if (r < 0) {
                log_error_errno(r, "Held socket '%s' stopped listening and cannot listen again: %m; "
                                   "no longer watching it.", hs->held->name);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        /* A unix socket keeps its shutdown through listen(): it still reports the hang-up,
         * and watching it on would run this again at once, for ever (any uid could make the
         * daemon spin and flood its log so). */
        if (hs->family == AF_UNIX && poll(&(struct pollfd){.fd = hs->fd}, 1, 0) > 0) {
                log_error("Held socket '%s' was shut down by a recipient, and a unix socket cannot listen "
                          "again after that; no longer watching it (release and hold it anew).",
                          hs->held->name);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        log_warning("Held socket '%s' was shut down by a recipient; listening on it again.", hs->held->name);
        return 0;
}

/* adopt: sockets that were held before a restart or a hand-over (fdstore.c): no quota (they
 * were admitted once; they still count) and, unless push, not sent to the fd store again. */
static int held_add_full(Manager *m, const char *name, uid_t owner, const BoundSocket *sockets, size_t n,
                         int backlog, bool adopt, bool push) {
        Held *h;
        int r;

        if (held_find(m, name, owner))
                return -EEXIST;
        if (n > HELD_MAX_SOCKETS_PER_NAME)
                return -E2BIG;
        if (!adopt && owner != 0 && held_count_owned(m, owner) >= HELD_MAX_NAMES_PER_UID)
                return -EDQUOT;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->owner = owner;
        h->name = strdup(name);
        h->sockets = calloc(n ? n : 1, sizeof(HeldSocket));
        if (!h->name || !h->sockets) {
                held_free(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                h->sockets[i].fd = -EBADF;
        h->n_sockets = n;

        for (size_t i = 0; i < n; i++) {
                HeldSocket *hs = &h->sockets[i];

                hs->fd = fcntl(sockets[i].fd, F_DUPFD_CLOEXEC, 3);
                if (hs->fd < 0) {
                        r = -errno;
                        held_free(h);
                        return r;
                }
                hs->family = sockets[i].family;
                hs->socktype = sockets[i].socktype;
                hs->addr = sockets[i].addr;
                hs->addr_len = sockets[i].addr_len;
                hs->backlog = backlog < 0 ? 0 : backlog;
                hs->held = h;
                if (hs->socktype == SOCK_STREAM) {
                        /* events 0: only EPOLLHUP/EPOLLERR, never the queue filling up. */
                        r = sd_event_add_io(m->event, &hs->watch, hs->fd, 0, held_watch_cb, hs);
                        if (r < 0) {
                                held_free(h);
                                return r;
                        }
                }
        }

        h->manager = m;
        h->seq = ++m->held_seq;
        LIST_PREPEND(held, m->held, h);
        m->n_held_sockets += n;
        manager_status_changed(m);
        if (push)
                fdstore_push_held(m, h);
        if (!adopt)
                log_info("Holding %zu socket%s as '%s' for uid %u.", n, n == 1 ? "" : "s", name, (unsigned) owner);
        return 0;
}

int held_add(Manager *m, const char *name, uid_t owner, const BoundSocket *sockets, size_t n, int backlog) {
        return held_add_full(m, name, owner, sockets, n, backlog, false, true);
}

int held_adopt(Manager *m, const char *name, uid_t owner, const BoundSocket *sockets, size_t n, int backlog,
               bool push) {
        return held_add_full(m, name, owner, sockets, n, backlog, true, push);
}

int held_reply_add(const Held *h, ProtoReply *reply) {
        for (size_t i = 0; i < h->n_sockets; i++) {
                const HeldSocket *hs = &h->sockets[i];
                int fd, r;

                fd = fcntl(hs->fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                r = bind_reply_add_listener(reply, fd, hs->family, hs->socktype, &hs->addr, hs->addr_len,
                                            hs->family == AF_UNIX && hs->socktype == SOCK_STREAM ? hs->backlog : -1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A HOLD_LIST being built (request_reply_stream()): for whom, and where it is, by the number
 * of the last name sent. next is the name to send next, good only while no name was
 * released since. */
typedef struct HeldListing {
        Creds creds;
        uint64_t last_seq, end_seq;
        Held *next;
        uint64_t removals;
} HeldListing;

static void held_listing_free(void *p) {
        HeldListing *l = p;

        free(l->creds.groups);
        free(l);
}

/* The next name after the last one listed, newest first, among those held when the listing
 * began. Names are newest first, so their numbers fall along m->held. */
static Held *held_listing_next(Manager *m, HeldListing *l) {
        Held *h;

        if (l->removals == m->held_removals && l->last_seq > 0)
                h = l->next;
        else
                for (h = m->held; h && h->seq > (l->last_seq > 0 ? l->last_seq - 1 : l->end_seq);)
                        h = h->held_next;
        return h;
}

static int hold_list_fill(Request *req, void *state, ProtoReply *reply, size_t budget) {
        HeldListing *l = state;
        Manager *m = req->manager;
        Held *h;
        int r;

        /* Each socket is an item carrying its name and owner; no fds travel. A name's
         * sockets go together. */
        for (h = held_listing_next(m, l); h && !request_stream_full(reply, budget);
             h = held_listing_next(m, l)) {
                if (held_may_use(h, &l->creds))
                        for (size_t i = 0; i < h->n_sockets; i++) {
                                _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
                                const HeldSocket *hs = &h->sockets[i];
                                const void *attrs;
                                size_t len;

                                if ((r = proto_msg_new(0, 0, &item)) < 0 ||
                                    (r = proto_msg_append_string(item, PROTO_ATTR_NAME, h->name)) < 0 ||
                                    (r = proto_msg_append_u32(item, PROTO_ATTR_OWNER_UID,
                                                              (uint32_t) h->owner)) < 0 ||
                                    (r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY,
                                                              (uint32_t) hs->family)) < 0 ||
                                    (r = proto_msg_append_u32(item, PROTO_ATTR_SOCKTYPE,
                                                              (uint32_t) hs->socktype)) < 0 ||
                                    (r = proto_msg_append(item, PROTO_ATTR_SOCKADDR, &hs->addr,
                                                          hs->addr_len)) < 0)
                                        return r;
                                attrs = proto_msg_attrs(item, &len);
                                r = proto_reply_add_item(reply, attrs, len, -EBADF);
                                if (r < 0)
                                        return r;
                        }
                l->last_seq = h->seq;
                l->next = h->held_next;
                l->removals = m->held_removals;
        }
        return h ? 0 : 1;
}

int hold_list_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        HeldListing *l;

        /* Built in parts as the client reads: the names held when the listing began and
         * still held when their part is built, newest first, each once. */
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        if (creds_copy(&req->conn->creds, &l->creds) < 0) {
                free(l);
                return -ENOMEM;
        }
        l->end_seq = req->manager->held_seq;
        return request_reply_stream(req, hold_list_fill, held_listing_free, l);
}

/* The one held name or group name of another uid that root's HOLD_RELEASE without OWNER_UID
 * means: -ENOENT if none, -ENOTUNIQ if several uids have one by that name. */
static int find_any_owner(Manager *m, const char *name, Held **ret_h, Group **ret_g) {
        Held *h = NULL;
        Group *g = NULL;
        unsigned n = 0;

        for (Held *x = m->held; x; x = x->held_next)
                if (strcmp(x->name, name) == 0)
                        h = x, n++;
        for (Group *x = m->groups; x; x = x->groups_next)
                if (strcmp(x->name, name) == 0)
                        g = x, n++;
        if (n == 0)
                return -ENOENT;
        if (n > 1)
                return -ENOTUNIQ;
        *ret_h = h;
        *ret_g = h ? NULL : g;
        return 0;
}

int hold_release_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        const Creds *creds = &req->conn->creds;
        char reason[PROTO_MAX_ERROR_MESSAGE];
        const char *name;
        uint32_t owner = creds->uid;
        bool owner_given;
        Held *h = NULL;
        Group *g = NULL;

        if (proto_get_string(v, PROTO_ATTR_NAME, &name) < 0)
                return request_error(req, EINVAL, "HOLD_RELEASE needs a name");
        /* The same rules as for holding: a name that cannot be held is a mistake, not an
         * unknown name. */
        if (held_name_check(name, reason, sizeof(reason)) < 0)
                return request_error(req, EINVAL, "%s", reason);
        /* Names are per owner: the caller's own, or (root) the owner's that OWNER_UID names. */
        owner_given = proto_get_u32(v, PROTO_ATTR_OWNER_UID, &owner) >= 0;
        if (owner_given && owner != creds->uid && creds->uid != 0)
                return request_error(req, ENOENT, "No held socket named '%s'", name);
        h = held_find(req->manager, name, (uid_t) owner);
        if (!h)
                g = group_find(req->manager, name, (uid_t) owner);
        /* Root without OWNER_UID and no name of its own: the one uid that has the name. */
        if (!h && !g && creds->uid == 0 && !owner_given &&
            find_any_owner(req->manager, name, &h, &g) == -ENOTUNIQ)
                return request_error(req, ENOTUNIQ,
                                     "Several users hold a socket or group named '%s': name its owner (OWNER_UID)",
                                     name);
        if (g) {
                /* A reuseport group is released the same way: its anchors close, members
                 * already handed out keep working. */
                log_info("Releasing reuseport group '%s' of uid %u at the request of uid %u.", g->name,
                         (unsigned) g->owner, (unsigned) creds->uid);
                fdstore_remove_group(req->manager, g);
                group_free(g);
                return request_reply_empty(req);
        }
        /* Someone else's name is absent for the caller: names are not a way to probe. */
        if (!h)
                return request_error(req, ENOENT, "No held socket named '%s'", name);

        log_info("Releasing held socket '%s' of uid %u at the request of uid %u.", h->name, (unsigned) h->owner,
                 (unsigned) creds->uid);
        fdstore_remove_held(req->manager, h);
        held_free(h);
        return request_reply_empty(req);
}

int held_check_quota(Request *req, uid_t uid) {
        if (uid == 0 || held_count_owned(req->manager, uid) < HELD_MAX_NAMES_PER_UID)
                return 0;
        request_error(req, EDQUOT, "Quota exceeded: uid %u already holds %u names", (unsigned) uid,
                      HELD_MAX_NAMES_PER_UID);
        return 1;
}

int held_answer_existing(Request *req, uid_t uid, const char *name, bool want_unix) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        /* Names are per owner: another uid's name of the same spelling is not this one, so
         * that no uid can claim a name first to break or steer another's (issue 13). */
        Held *h = held_find(req->manager, name, uid);
        int r;

        if (!h)
                return 0;
        /* The same name again: the same sockets, the port never closed. */
        if ((h->sockets[0].family == AF_UNIX) != want_unix) {
                request_error(req, EEXIST, "The name '%s' holds %s sockets", name, want_unix ? "network" : "unix");
                return 1;
        }
        r = proto_reply_new(req->type, req->serial, &reply);
        if (r < 0)
                return r;
        r = held_reply_add(h, reply);
        if (r < 0)
                return r;
        request_reply(req, TAKE_PTR(reply));
        return 1;
}

int held_keep_and_answer(Request *req, const Creds *creds, const char *name, const BoundSocket *sockets, size_t n,
                         int backlog) {
        int r;

        if (n == 0) {
                request_error(req, EADDRNOTAVAIL, "Nothing to hold under '%s': no address was bound", name);
                return 1;
        }
        r = held_add(req->manager, name, creds->uid, sockets, n, backlog);
        if (r == 0 || r == -EEXIST) {
                /* r == -EEXIST: another request held the name while we were binding; its
                 * sockets win and ours are closed by the caller. */
                r = held_answer_existing(req, creds->uid, name, sockets[0].family == AF_UNIX);
                if (r != 0)
                        return r;
                return -ENOENT; /* cannot happen: the name was just there */
        }
        if (r == -E2BIG)
                request_error(req, E2BIG, "Cannot hold %zu sockets under one name (at most %u)", n,
                              HELD_MAX_SOCKETS_PER_NAME);
        else if (r == -EDQUOT)
                request_error(req, EDQUOT, "Quota exceeded: uid %u already holds %u names", (unsigned) creds->uid,
                              HELD_MAX_NAMES_PER_UID);
        else
                request_error(req, -r, "Failed to hold '%s': %s", name, strerror(-r));
        return 1;
}
