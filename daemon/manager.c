/* SPDX-License-Identifier: MIT */

/*
 * Manager, connections and requests (manager.h). Owns the control socket, accepting with
 * the client limit, SO_PEERCRED/SO_PEERGROUPS, reading and checking datagrams, dispatch
 * by type, the per-connection reply queue and back-pressure. Must not block: every
 * socket here is non-blocking, and handlers that wait return REQUEST_PENDING.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "manager.h"
#include "notify.h"
#include "fdstore.h"
#include "group.h"
#include "held.h"
#include "names-index.h"
#include "override.h"
#include "policy.h"
#include "resolve-cares.h"
#include "state.h"
#include "worker.h"

/* Datagrams read from one client per wake-up, so one busy client cannot starve others. */
#define CONN_READ_BATCH 16u
/* How long accepting pauses after EMFILE/ENFILE before trying again (if no client left). */
#define ACCEPT_RETRY_USEC (250 * 1000ULL)
/* Refused clients are logged at most this often. */
#define REFUSAL_LOG_INTERVAL_USEC (10 * 1000 * 1000ULL)
/* STATUS= is sent to the service manager at most this often. */
#define STATUS_INTERVAL_USEC (1000 * 1000ULL)
/* Supplementary groups read with SO_PEERGROUPS: NGROUPS_MAX on Linux. */
#define MAX_PEER_GROUPS 65536u

struct OutMsg {
        ProtoMsg *msg;
        Request *req; /* the request this part answers */
        OutMsg *next;
};

/* ---- Requests ------------------------------------------------------------------------ */

static void conn_update_events(Conn *c);
static void conn_set_events(Conn *c, bool rearm);
static void conn_kill(Conn *c);

/* ---- Requests per uid (MaxRequestsPerUser=) ------------------------------------------- */

/* uid's load with a new reference, made if it has none; NULL without memory. Walks the
 * loads: called once per accepted client, and there is one per connected uid. */
static UserLoad *user_load_get(Manager *m, uid_t uid) {
        UserLoad *l;

        for (l = m->loads; l; l = l->loads_next)
                if (l->uid == uid)
                        break;
        if (!l) {
                l = calloc(1, sizeof(*l));
                if (!l)
                        return NULL;
                l->uid = uid;
                LIST_PREPEND(loads, m->loads, l);
        }
        l->n_refs++;
        return l;
}

static void user_load_unref(Manager *m, UserLoad *l) {
        if (!l || --l->n_refs > 0)
                return;
        LIST_REMOVE(loads, m->loads, l);
        free(l);
}

/* Whether c's uid has as many requests in the daemon as it may: then none of its
 * connections is read (back-pressure, as PROTO_MAX_INFLIGHT per connection). Root is not
 * limited: its clients are the administrator's. */
static bool user_over_limit(const Conn *c) {
        unsigned limit = c->manager->config->max_requests_per_user;

        return limit > 0 && c->load && c->load->uid != 0 && c->load->n_requests >= limit;
}

/* A request of l's uid is gone. Connections that stopped reading at the limit read again
 * once the uid is a quarter below it, not at each freed request: re-arming all of them for
 * one place would cost a system call per connection per request. */
static void user_load_request_done(Manager *m, UserLoad *l) {
        unsigned limit = m->config->max_requests_per_user;

        assert(l->n_requests > 0);
        l->n_requests--;
        if (l->blocked && l->n_requests <= limit - limit / 4) {
                l->blocked = false;
                for (Conn *c = m->conns; c; c = c->conns_next)
                        if (c->load == l)
                                conn_set_events(c, true);
        }
        user_load_unref(m, l);
}

/* ---- Requests ------------------------------------------------------------------------ */

/* Frees a request that no connection lists any more. */
static void request_release(Request *req) {
        Manager *m = req->manager;
        UserLoad *l = req->load;

        sd_event_source_disable_unref(req->deadline);
        free(req);
        if (l)
                user_load_request_done(m, l);
}

static void request_free(Request *req) {
        Conn *c = req->conn;

        if (c) {
                LIST_REMOVE(requests, c->requests, req);
                assert(c->n_in_flight > 0);
                c->n_in_flight--;
                conn_update_events(c);
        }
        request_release(req);
}

static int conn_flush(Conn *c);

static int request_queue(Request *req, ProtoMsg **msgs, size_t n) {
        Conn *c = req->conn;

        for (size_t i = 0; i < n; i++) {
                OutMsg *o = calloc(1, sizeof(*o));
                if (!o) {
                        for (size_t j = i; j < n; j++)
                                proto_msg_free(msgs[j]);
                        /* Nothing sensible can reach this client any more. */
                        conn_kill(c);
                        return -ENOMEM;
                }
                *o = (OutMsg) { .msg = msgs[i], .req = req };
                if (c->out_tail)
                        c->out_tail->next = o;
                else
                        c->out_head = o;
                c->out_tail = o;
                req->parts_queued++;
        }
        return conn_flush(c);
}

static void request_end(Request *req, ProtoMsg **msgs, size_t n) {
        assert(!req->replied);
        req->replied = true;
        req->deadline = sd_event_source_disable_unref(req->deadline);
        req->manager->n_replied++;

        if (!req->conn || req->conn->dead) {
                for (size_t i = 0; i < n; i++)
                        proto_msg_free(msgs[i]);
                request_free(req);
                return;
        }
        (void) request_queue(req, msgs, n);
}

int request_new_reply(Request *req, ProtoMsg **ret) {
        return proto_msg_new(req->type, req->serial, ret);
}

int request_reply_msg(Request *req, ProtoMsg *msg) {
        request_end(req, &msg, 1);
        return 0;
}

int request_reply_empty(Request *req) {
        ProtoMsg *m = NULL;
        int r = request_new_reply(req, &m);

        if (r < 0)
                return r;
        return request_reply_msg(req, m);
}

int request_reply(Request *req, ProtoReply *reply) {
        ProtoMsg **parts = reply->parts;
        size_t n = reply->n_parts;

        free(reply); /* the parts now belong to the queue */
        request_end(req, parts, n);
        free(parts);
        return 0;
}

_printf_(4, 0) static int request_error_va(Request *req, int error, int gai, const char *format, va_list ap) {
        ProtoMsg *m = NULL;
        char text[PROTO_MAX_ERROR_MESSAGE];
        int r;

        if (error < 0)
                error = -error;
        if (format)
                vsnprintf(text, sizeof(text), format, ap);
        else
                snprintf(text, sizeof(text), "%s", strerror(error));

        r = proto_error_new(req->type, req->serial, error, text, &m);
        if (r >= 0 && gai != 0)
                r = proto_msg_append_s32(m, PROTO_ATTR_GAI_ERROR, gai);
        if (r < 0) {
                proto_msg_free(m);
                /* Out of memory for a reply: the client would wait forever, so drop it. */
                if (req->conn)
                        conn_kill(req->conn);
                request_end(req, NULL, 0);
                return r;
        }
        request_end(req, &m, 1);
        return 0;
}

int request_error(Request *req, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = request_error_va(req, error, 0, format, ap);
        va_end(ap);
        return r;
}

int request_error_gai(Request *req, int error, int gai, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = request_error_va(req, error, gai, format, ap);
        va_end(ap);
        return r;
}

int creds_copy(const Creds *src, Creds *dst) {
        *dst = *src;
        dst->groups = NULL;
        if (src->n_groups > 0) {
                dst->groups = malloc(src->n_groups * sizeof(gid_t));
                if (!dst->groups)
                        return -ENOMEM;
                memcpy(dst->groups, src->groups, src->n_groups * sizeof(gid_t));
        }
        return 0;
}

/* ---- Connections --------------------------------------------------------------------- */

static void manager_schedule_gc(Manager *m);

/* For a connection found unusable outside conn_io(): shutting it down makes epoll report a
 * hang-up, and conn_io() disconnects it, even when no read is armed. */
static void conn_kill(Conn *c) {
        c->dead = true;
        if (c->fd >= 0)
                (void) shutdown(c->fd, SHUT_RDWR);
}

void manager_conn_kill(Conn *c) {
        conn_kill(c);
}

static void conn_disconnect(Conn *c) {
        Manager *m = c->manager;

        if (c->fd < 0)
                return;
        c->dead = true;
        /* A successor that goes away before its commit: serve on (fdstore.c). */
        if (m->takeover_conn == c)
                takeover_abort(m);

        /* Pending requests lose their client; their handlers finish them later. */
        while (c->requests) {
                Request *req = c->requests;
                LIST_REMOVE(requests, c->requests, req);
                req->conn = NULL;
                if (req->replied)
                        request_release(req); /* only waiting for the queue, which goes now */
                else if (req->cancel)
                        req->cancel(req);
        }
        c->n_in_flight = 0;

        for (OutMsg *o = c->out_head, *next; o; o = next) {
                next = o->next;
                proto_msg_free(o->msg);
                free(o);
        }
        c->out_head = c->out_tail = NULL;

        c->io = sd_event_source_disable_unref(c->io);
        c->fd = safe_close(c->fd);
        free(c->creds.groups);
        c->creds.groups = NULL;

        LIST_REMOVE(conns, m->conns, c);
        m->n_conns--;
        LIST_PREPEND(conns, m->dead_conns, c);
        manager_schedule_gc(m);
        manager_status_changed(m);

        /* A freed fd may be what a paused accept was waiting for (not during a takeover). */
        if (m->accept_retry && !m->paused)
                (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
}

/* Edge-triggered: sd-event runs epoll_wait() before every dispatch, and with level
 * triggering each call reported every busy client again (O(clients) per request: 1000
 * clients served 6.6k requests/s, 73k/s like this). sd-event re-arms an edge-triggered
 * source (EPOLL_CTL_MOD) on every call, which makes a socket left readable be reported
 * again: that is what rearm asks for (reading stopped before EAGAIN); otherwise only a
 * change of the events costs the system call, not every reply. */
static void conn_set_events(Conn *c, bool rearm) {
        uint32_t events = EPOLLET | EPOLLRDHUP;

        if (!c->io || c->dead)
                return;
        /* Back-pressure: stop reading while the client, or its uid, has too much in flight.
         * During a hand-over only the successor is read. */
        if (user_over_limit(c))
                c->load->blocked = true;
        else if (c->n_in_flight < PROTO_MAX_INFLIGHT && (!c->manager->paused || c == c->manager->takeover_conn))
                events |= EPOLLIN;
        if (c->out_head)
                events |= EPOLLOUT;
        if (!rearm && events == c->io_events)
                return;
        c->io_events = events;
        (void) sd_event_source_set_io_events(c->io, events);
}

static void conn_update_events(Conn *c) {
        conn_set_events(c, false);
}

static int conn_flush(Conn *c) {
        int r;

        while (c->out_head) {
                OutMsg *o = c->out_head;

                r = proto_send(c->fd, o->msg);
                if (r == -EAGAIN)
                        break;
                if (r < 0) {
                        /* EPIPE, ECONNRESET, ...: the client is gone. */
                        if (r != -EPIPE && r != -ECONNRESET)
                                log_debug_errno(r, "Failed to send to client pid %d: %m", (int) c->creds.pid);
                        conn_kill(c);
                        break;
                }
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                proto_msg_free(o->msg);
                if (--o->req->parts_queued == 0)
                        request_free(o->req);
                free(o);
        }
        conn_update_events(c);
        return 0;
}

static int conn_dispatch(Conn *c, ProtoRecv *rcv, ssize_t n) {
        Manager *m = c->manager;
        const Handler *h;
        ProtoView v;
        Request *req;
        int r;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->manager = m;
        req->conn = c;
        LIST_PREPEND(requests, c->requests, req);
        c->n_in_flight++;
        req->load = c->load;
        if (req->load) {
                req->load->n_refs++;
                req->load->n_requests++;
        }
        m->n_requests++;

        if (rcv->real_size > PROTO_MAX_MSG) {
                /* The header is in the buffer even though the rest was cut. */
                (void) proto_parse(rcv->buf, rcv->size, &v);
                req->type = v.header.type;
                req->serial = v.header.serial;
                return request_error(req, EMSGSIZE, "Message of %zu bytes exceeds the limit of %u bytes",
                                     rcv->real_size, PROTO_MAX_MSG);
        }

        r = proto_parse(rcv->buf, (size_t) n, &v);
        req->type = v.header.type;
        req->serial = v.header.serial;
        if (r < 0) {
                proto_recv_clear(rcv);
                if (n == 0)
                        return request_error(req, EBADMSG, "Empty message");
                if ((size_t) n < PROTO_HEADER_SIZE)
                        return request_error(req, EBADMSG, "Truncated message header (%zd bytes)", n);
                if (r == -EPROTONOSUPPORT)
                        return request_error(req, EPROTONOSUPPORT, "Protocol version %u not supported (expected %u)",
                                             v.header.version, PROTO_VERSION);
                if (r == -E2BIG)
                        return request_error(req, E2BIG, "Too many or too deeply nested attributes");
                return request_error(req, EBADMSG, "Malformed message");
        }
        if (rcv->fds_truncated) {
                proto_recv_clear(rcv);
                return request_error(req, EBADMSG, "File descriptors were truncated");
        }

        h = handler_lookup(v.header.type);
        if (!h) {
                proto_recv_clear(rcv);
                return request_error(req, EOPNOTSUPP, "Unknown request type %u", v.header.type);
        }
        if (rcv->n_fds > h->max_fds) {
                unsigned k = rcv->n_fds;
                proto_recv_clear(rcv);
                if (h->max_fds == 0)
                        return request_error(req, EBADMSG, "This request takes no file descriptors, got %u", k);
                return request_error(req, EBADMSG, "This request takes at most %u file descriptors, got %u",
                                     h->max_fds, k);
        }

        /* req may be freed by the time the handler returns (its reply already written):
         * only the counter tells whether it answered. */
        uint64_t replied = m->n_replied;
        r = h->func(req, &v, rcv);
        proto_recv_clear(rcv);
        if (r == REQUEST_PENDING)
                return 0;
        if (r < 0) {
                assert(m->n_replied == replied);
                if (r == -ENOMEM)
                        log_oom();
                return request_error(req, -r, NULL);
        }
        assert(m->n_replied == replied + 1);
        return 0;
}

static bool peer_gone(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;
        Manager *m = c->manager;

        if (revents & EPOLLOUT)
                (void) conn_flush(c);

        if (revents & EPOLLIN) {
                bool drained = false;

                for (unsigned i = 0; i < CONN_READ_BATCH && !c->dead && c->n_in_flight < PROTO_MAX_INFLIGHT &&
                                     !user_over_limit(c);
                     i++) {
                        ssize_t n = proto_recv(c->fd, m->recv);
                        if (n == -EAGAIN) {
                                drained = true;
                                break;
                        }
                        if (n < 0) {
                                c->dead = true;
                                break;
                        }
                        /* On SEQPACKET, 0 is an empty datagram or the end: HUP tells which.
                         * The peer may have gone since this wake-up began, so ask again. */
                        if (n == 0 && (revents & (EPOLLHUP | EPOLLRDHUP) || peer_gone(c->fd))) {
                                c->dead = true;
                                break;
                        }
                        if (conn_dispatch(c, m->recv, n) == -ENOMEM) {
                                proto_recv_clear(m->recv);
                                c->dead = true;
                        }
                }
                /* The batch or the in-flight limit may have left some: report it again. */
                conn_set_events(c, !drained);
        } else if (revents & (EPOLLHUP | EPOLLERR))
                c->dead = true;

        if (c->dead)
                conn_disconnect(c);
        return 0;
}

static int conn_get_creds(int fd, Creds *ret) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        _cleanup_(freep) gid_t *groups = NULL;
        socklen_t glen = 64 * sizeof(gid_t);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (len != sizeof(uc))
                return -EIO;

        for (;;) {
                gid_t *g = realloc(groups, glen ? glen : sizeof(gid_t));
                if (!g)
                        return -ENOMEM;
                groups = g;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) >= 0)
                        break;
                if (errno != ERANGE || glen > MAX_PEER_GROUPS * sizeof(gid_t))
                        return -errno;
                /* glen now holds the size needed. */
        }

        *ret = (Creds) {
                .pid = uc.pid,
                .uid = uc.uid,
                .gid = uc.gid,
                .n_groups = glen / sizeof(gid_t),
                .groups = TAKE_PTR(groups),
        };
        return 0;
}

/* Sends a refusal to a client that is closed next. What the client already sent is read
 * first (at most PROTO_MAX_INFLIGHT datagrams): a unix socket closed with unread data resets
 * the connection, and the client would get ECONNRESET instead of the refusal. */
static void send_refusal(int fd, ProtoMsg *msg) {
        char buf[PROTO_HEADER_SIZE];

        (void) proto_send(fd, msg);
        for (unsigned i = 0; i < PROTO_MAX_INFLIGHT && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
                ;
}

static void refuse_client(Manager *m, int fd) {
        _cleanup_(proto_msg_freep) ProtoMsg *msg = NULL;
        char text[128];
        uint64_t now = now_usec();

        m->refused_clients++;
        snprintf(text, sizeof(text), "Too many clients (MaxClients=%u)", m->config->max_clients);
        if (proto_error_new(PROTO_MSG_INVALID, 0, EUSERS, text, &msg) >= 0)
                send_refusal(fd, msg);

        if (now - m->last_refusal_log_usec >= REFUSAL_LOG_INTERVAL_USEC) {
                log_warning("Refusing clients: MaxClients=%u reached (%" PRIu64 " refused so far).",
                            m->config->max_clients, m->refused_clients);
                m->last_refusal_log_usec = now;
        }
}

static int accept_retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->accept_retry = sd_event_source_unref(m->accept_retry);
        if (m->paused)
                return 0; /* manager_resume() turns accepting on again */
        return sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
}

static void spare_fd_reserve(void);
static void spare_fd_release(void);
static bool refuse_client_out_of_fds(Manager *m, int error);
static bool refuse_client_by_uid(Manager *m, int fd, uid_t uid);

static int listen_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        for (unsigned i = 0; i < CONN_READ_BATCH; i++) {
                _cleanup_(closep) int cfd = -EBADF;
                Conn *c;
                int r;

                cfd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        if (errno == EMFILE || errno == ENFILE) {
                                /* Tell the waiting client why rather than leave it hanging. */
                                if (refuse_client_out_of_fds(m, errno))
                                        continue;
                                /* Do not spin on a readable listener: pause until a client
                                 * leaves or the timer fires. */
                                if (!m->accept_retry) {
                                        log_warning_errno(errno, "Cannot accept clients: %m; pausing.");
                                        (void) sd_event_add_time_relative(m->event, &m->accept_retry, CLOCK_MONOTONIC,
                                                                          ACCEPT_RETRY_USEC, 0, accept_retry_cb, m);
                                }
                                return sd_event_source_set_enabled(m->listen_source, SD_EVENT_OFF);
                        }
                        return log_error_errno(errno, "accept4() failed: %m");
                }

                if (m->n_conns >= m->config->max_clients) {
                        refuse_client(m, cfd);
                        continue;
                }

                /* Whatever fails for one client drops it (cfd is closed), never the listener:
                 * a negative return would disable it for good. */
                c = calloc(1, sizeof(*c));
                if (!c) {
                        log_oom();
                        continue;
                }
                c->manager = m;
                c->fd = -EBADF;
                r = conn_get_creds(cfd, &c->creds);
                if (r < 0)
                        log_warning_errno(r, "Failed to read peer credentials: %m");
                else if (!refuse_client_by_uid(m, cfd, c->creds.uid)) {
                        c->load = user_load_get(m, c->creds.uid);
                        r = c->load ? sd_event_add_io(m->event, &c->io, cfd, EPOLLIN | EPOLLRDHUP | EPOLLET, conn_io, c)
                                    : -ENOMEM;
                        if (r < 0)
                                log_warning_errno(r, "Failed to watch client: %m");
                }
                if (!c->io) {
                        user_load_unref(m, c->load);
                        free(c->creds.groups);
                        free(c);
                        continue;
                }
                c->io_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
                c->fd = TAKE_FD(cfd);
                LIST_PREPEND(conns, m->conns, c);
                m->n_conns++;
                manager_status_changed(m);
        }
        return 0;
}

/* ---- Manager ------------------------------------------------------------------------- */

void manager_pause(Manager *m, Conn *keep) {
        m->paused = true;
        m->takeover_conn = keep;
        /* New clients wait in the listener's backlog: for the successor, which accepts from
         * the same socket, or for us again. */
        (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_OFF);
        for (Conn *c = m->conns; c; c = c->conns_next)
                conn_update_events(c);
}

void manager_resume(Manager *m) {
        m->paused = false;
        m->takeover_conn = NULL;
        if (m->listen_source && !m->accept_retry)
                (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
        for (Conn *c = m->conns; c; c = c->conns_next)
                conn_update_events(c);
}

uint64_t manager_unanswered_requests(Manager *m) {
        /* Every request read is answered exactly once (request_end()), also one whose
         * client has gone while a worker still runs it. */
        return m->n_requests - m->n_replied;
}

/* A disconnected connection: its requests, if any still run, hold their uid's load. */
static void conn_free(Manager *m, Conn *c) {
        user_load_unref(m, c->load);
        free(c);
}

static int gc_cb(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        while (m->dead_conns) {
                Conn *c = m->dead_conns;
                LIST_REMOVE(conns, m->dead_conns, c);
                conn_free(m, c);
        }
        return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static void manager_schedule_gc(Manager *m) {
        if (!m->gc_source) {
                if (sd_event_add_defer(m->event, &m->gc_source, gc_cb, m) < 0)
                        return; /* freed at exit instead */
        }
        (void) sd_event_source_set_enabled(m->gc_source, SD_EVENT_ONESHOT);
}

static int status_timer_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        char buf[256];

        if (manager_format_status(m, buf, sizeof(buf)) >= 0)
                (void) notify_send(false, "STATUS=%s", buf);
        return 0;
}

void manager_status_changed(Manager *m) {
        int enabled = SD_EVENT_OFF;

        /* Coalesced: at most one STATUS= per interval, only when someone listens. */
        if (!m->status_timer || sd_event_source_get_enabled(m->status_timer, &enabled) < 0 || enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_time_relative(m->status_timer, STATUS_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
}

const char *manager_resolver_name(Manager *m) {
        /* What answers, not what was asked for: the thread pool if c-ares failed at a reload. */
        return resolver_kind_to_string(m->config->resolver == RESOLVER_CARES && !m->cares ? RESOLVER_THREADPOOL
                                                                                         : m->config->resolver);
}

int manager_format_status(Manager *m, char *buf, size_t len) {
        /* Live counts, as "netutilctl status" gives them. */
        int n = snprintf(buf, len,
                         "Serving %u client%s, %u held socket%s, %u override%s, %" PRIu64 " requests, resolver %s",
                         m->n_conns, m->n_conns == 1 ? "" : "s", m->n_held_sockets,
                         m->n_held_sockets == 1 ? "" : "s", m->n_overrides, m->n_overrides == 1 ? "" : "s",
                         m->n_requests, manager_resolver_name(m));
        return n < 0 || (size_t) n >= len ? -ENOBUFS : 0;
}

int manager_new(Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->listen_fd = -EBADF;
        m->start_usec = now_usec();
        m->pid = getpid();
        m->notify = !!getenv("NOTIFY_SOCKET");
        spare_fd_reserve();
        m->recv = calloc(1, sizeof(ProtoRecv));
        if (!m->recv) {
                free(m);
                return -ENOMEM;
        }
        r = sd_event_default(&m->event);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        while (m->conns)
                conn_disconnect(m->conns);
        while (m->dead_conns) {
                Conn *c = m->dead_conns;
                LIST_REMOVE(conns, m->dead_conns, c);
                conn_free(m, c);
        }

        /* Finishes running jobs; their replies go nowhere now. */
        m->workers = worker_pool_free(m->workers);
        m->cares = cares_resolver_free(m->cares);
        held_free_all(m);
        group_free_all(m);
        state_free(m); /* before the names index: an acknowledgement may still wait for it */
        names_index_free(m); /* before the tables: their rules leave with the file */
        override_tables_free(m);
        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        m->accept_retry = sd_event_source_disable_unref(m->accept_retry);
        m->status_timer = sd_event_source_disable_unref(m->status_timer);
        m->takeover_timer = sd_event_source_disable_unref(m->takeover_timer);
        fdstore_queue_free(m);
        m->gc_source = sd_event_source_disable_unref(m->gc_source);

        if (m->socket_created && m->socket_path) {
                struct stat st;
                /* Remove the node only if it is still the one we made. */
                if (stat(m->socket_path, &st) >= 0 && st.st_dev == m->socket_dev && st.st_ino == m->socket_ino)
                        (void) unlink(m->socket_path);
        }
        m->listen_fd = safe_close(m->listen_fd);
        spare_fd_release();

        sd_event_unref(m->event);
        config_free(m->config);
        policy_unref(m->policy);
        free(m->config_path);
        free(m->socket_path);
        free(m->state_dir);
        free(m->recv);
        free(m);
        return NULL;
}

int mkdir_parents(const char *path) {
        _cleanup_(freep) char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* Binds our own control socket at m->socket_path. */
static int manager_bind(Manager *m) {
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(m->socket_path);
        struct stat st;
        mode_t old_umask;
        int r;

        if (len == 0 || len >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Socket path '%s' is empty or longer than %zu bytes.",
                                       m->socket_path, sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, m->socket_path, len);

        /* Directories on the way must be reachable by every client: 0755 whatever the
         * daemon's own umask. */
        old_umask = umask(0022);
        r = mkdir_parents(m->socket_path);
        umask(old_umask);
        if (r < 0)
                return log_error_errno(r, "Failed to create the directory of '%s': %m", m->socket_path);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create socket: %m");

        /* A socket node left by a dead instance is replaced; a live one is not ours to
         * take; anything that is not a socket is refused. */
        if (lstat(m->socket_path, &st) >= 0) {
                _cleanup_(closep) int probe = -EBADF;

                if (!S_ISSOCK(st.st_mode))
                        return log_error_errno(-EEXIST, "'%s' exists and is not a socket.", m->socket_path);
                probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                        return log_error_errno(-EADDRINUSE, "Another netutild is serving '%s'.", m->socket_path);
                if (unlink(m->socket_path) < 0 && errno != ENOENT)
                        return log_error_errno(errno, "Failed to remove stale socket '%s': %m", m->socket_path);
        }
        /* Nobody serves the path: what a dead instance published next to it goes too, before
         * a client can connect and read it (this instance writes its own before READY=1). */
        names_index_remove_old(m);

        /* The node is 0666: the policy, not the file mode, decides who may do what. The
         * umask is process-wide, which is fine before any thread exists. */
        old_umask = umask(0111);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old_umask);
        if (r < 0)
                return log_error_errno(errno, "Failed to bind '%s': %m", m->socket_path);
        if (stat(m->socket_path, &st) >= 0) {
                m->socket_dev = st.st_dev;
                m->socket_ino = st.st_ino;
        }
        m->socket_created = true;

        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on '%s': %m", m->socket_path);

        m->listen_fd = TAKE_FD(fd);
        return 0;
}

void manager_restamp_listener(int fd) {
        /* Clients see as SO_PEERCRED whoever last called listen(): the service manager, or a
         * predecessor. The NSS module recognises the daemon by that pid (so that our own
         * getaddrinfo() does not ask us again), so listen() again, as ours. */
        if (listen(fd, SOMAXCONN) < 0)
                log_warning_errno(errno, "Failed to listen on the control socket again: %m");
}

/* The socket's directory holds the socket node and the files published next to it (the
 * names index and the rules file, which the NSS module and libnetutil trust): whoever may
 * write in it could replace them. An existing one must be the daemon's own (state.c's rule);
 * a missing one is made by manager_bind(), as ours. A sticky world-writable directory such as
 * /tmp is refused too: there another user may create those names before the daemon does. */
static int check_socket_dir(Manager *m) {
        _cleanup_(freep) char *dir = strdup(m->socket_path);
        char reason[160], *slash;
        struct stat st;

        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                slash[1] = '\0'; /* "/" */
        else
                *slash = '\0';
        if (stat(dir, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Failed to check the socket directory '%s': %m", dir);
        }
        if (state_untrusted_dir(&st, reason, sizeof(reason)))
                return log_error_errno(-EPERM,
                                       "Refusing the socket directory '%s': %s. Only netutild's own uid may write "
                                       "in it, or other users could replace the socket and the files published "
                                       "next to it; give the socket a directory of its own (e.g. "
                                       "$XDG_RUNTIME_DIR/netutild/ or /run/netutild/).",
                                       dir, reason);
        return 0;
}

int manager_listen(Manager *m) {
        _cleanup_(adoption_done) Adoption adopt = {};
        char **names = NULL;
        int n, r;

        r = check_socket_dir(m);
        if (r < 0)
                return r;

        fdstore_setup(m);
        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to read passed file descriptors: %m");

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                char what[FDSTORE_MAX_NAME + 64];
                FdName meta;

                /* Held sockets and group anchors from the fd store, by the names we gave them. */
                if (fdstore_parse_name(name, &meta) >= 0) {
                        snprintf(what, sizeof(what), "passed file descriptor %d '%s'", fd, name);
                        (void) adoption_add(&adopt, &meta, fd, NULL, 0, what);
                        continue;
                }
                if (m->listen_fd < 0 && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) > 0) {
                        m->listen_fd = fd;
                        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                        manager_restamp_listener(fd);
                        log_info("Using the control socket passed by the service manager.");
                        continue;
                }
                /* Anything else would be kept unaccounted: close it. */
                log_warning("Closing passed file descriptor %d ('%s') that is not ours.", fd, name);
                safe_close(fd);
        }
        for (int i = 0; names && i < n; i++)
                free(names[i]);
        free(names);

        if (m->takeover) {
                if (m->listen_fd >= 0)
                        return log_error_errno(-EINVAL, "--takeover cannot take over when a control socket is "
                                                        "passed.");
                r = fdstore_takeover(m);
                if (r < 0)
                        return r;
        }
        /* From the store: already in it, not pushed again. */
        adoption_finish(m, &adopt, false);

        if (m->listen_fd < 0) {
                r = manager_bind(m);
                if (r < 0)
                        return r;
                log_info("Listening on '%s'.", m->socket_path);
        }

        r = sd_event_add_io(m->event, &m->listen_source, m->listen_fd, EPOLLIN, listen_io, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the control socket: %m");

        /* Made now, disabled, so that its timerfd is part of the fd baseline rather than
         * appearing with the first client. */
        if (m->notify) {
                r = sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC, STATUS_INTERVAL_USEC, 0,
                                               status_timer_cb, m);
                if (r < 0)
                        return log_error_errno(r, "Failed to add the status timer: %m");
                (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_OFF);
        }
        return 0;
}

static unsigned read_unprivileged_port_start(void) {
        unsigned v = 1024; /* the kernel's default, if the sysctl cannot be read */
        FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");

        if (f) {
                if (fscanf(f, "%u", &v) != 1 || v > 65536)
                        v = 1024;
                fclose(f);
        }
        return v;
}

/* Loads and compiles into new objects; swaps them in only if both succeed. */
static int load(Manager *m, char *err, size_t errlen) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        unsigned start = read_unprivileged_port_start();
        int r;

        r = config_load(m->config_path, m->config_missing_ok, &c, err, errlen);
        if (r < 0)
                return r;
        r = policy_compile(c, start, &p, err, errlen);
        if (r < 0)
                return r;

        config_free(m->config);
        m->config = TAKE_PTR(c);
        policy_unref(m->policy);
        m->policy = TAKE_PTR(p);
        m->unprivileged_port_start = start;
        return 0;
}

int manager_load_config(Manager *m) {
        char err[512] = "";
        int r;

        r = load(m, err, sizeof(err));
        if (r < 0)
                return log_error_errno(r, "Failed to load configuration: %s", err);
        if (m->config->resolver == RESOLVER_CARES) {
                r = cares_resolver_new(m->event, &m->cares);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the cares resolver: %m");
        }
        if (!m->workers) {
                r = worker_pool_new(m->event, m->config->resolver_threads, config_user_threads(m->config),
                                    &m->workers);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up worker threads: %m");
        }
        /* Saved and drop-in overrides, before the first client. */
        return state_load(m);
}

int manager_reload(Manager *m) {
        char err[512] = "";
        int r;

        r = load(m, err, sizeof(err));
        if (r < 0)
                return log_error_errno(r, "Reload failed, keeping the running configuration: %s", err);
        state_reload_dropins(m);
        /* c-ares reads resolv.conf again; a failure keeps the old channel, or (none yet)
         * leaves the thread pool answering. Another backend: what waits gets EAI_AGAIN. */
        if (m->config->resolver != RESOLVER_CARES)
                m->cares = cares_resolver_free(m->cares);
        else if ((r = m->cares ? cares_resolver_reload(m->cares) : cares_resolver_new(m->event, &m->cares)) < 0)
                log_error_errno(r, "Failed to set up the cares resolver, resolving with %s: %m",
                                m->cares ? "the previous name servers" : "the thread pool");
        log_info("Configuration reloaded from %s: %u policy rule%s, resolver %s.",
                 m->config_path ?: "(embedded default)", policy_rule_count(m->policy),
                 policy_rule_count(m->policy) == 1 ? "" : "s", manager_resolver_name(m));
        manager_status_changed(m);
        return 0;
}

/* ---- Refusing clients when out of fds (issue 7) -------------------------------------- */

/* One fd kept open for the moment accept4() fails with EMFILE/ENFILE: closing it lets us
 * accept the waiting client, tell it why in words, and close it again, instead of leaving
 * it in the backlog with no answer until an fd frees up. The daemon has one Manager. */
static int spare_fd = -EBADF;

static void spare_fd_reserve(void) {
        if (spare_fd < 0)
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void spare_fd_release(void) {
        spare_fd = safe_close(spare_fd);
}

/* Returns true if a client was taken from the backlog and refused, so accepting may go on. */
static bool refuse_client_out_of_fds(Manager *m, int error) {
        _cleanup_(proto_msg_freep) ProtoMsg *msg = NULL;
        _cleanup_(closep) int cfd = -EBADF;
        uint64_t now = now_usec();
        char text[128];

        if (spare_fd < 0)
                return false;
        spare_fd = safe_close(spare_fd);
        cfd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd >= 0) {
                m->refused_clients++;
                snprintf(text, sizeof(text), "netutild is out of file descriptors (%s); try again later",
                         strerror(error));
                if (proto_error_new(PROTO_MSG_INVALID, 0, error, text, &msg) >= 0)
                        send_refusal(cfd, msg);
                cfd = safe_close(cfd);
                if (now - m->last_refusal_log_usec >= REFUSAL_LOG_INTERVAL_USEC) {
                        log_warning("Refusing clients: %s (%" PRIu64 " refused so far).", strerror(error),
                                    m->refused_clients);
                        m->last_refusal_log_usec = now;
                }
                spare_fd_reserve();
                /* Without the spare again (a worker took the fd), fall back to pausing. */
                if (spare_fd >= 0)
                        return true;
        } else if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
                spare_fd_reserve();
                return true; /* nobody waits after all: the next accept4() says so */
        } else
                spare_fd_reserve();
        errno = error; /* for the caller's message */
        return false;
}

/* ---- Connections per uid (issues 7 and 13) ------------------------------------------- */

/* Places of MaxClients that only root may take, so that the administrator (and a successor's
 * --takeover) can always connect, whatever the other users hold: a sixteenth, at least one. */
static unsigned root_reserved_clients(unsigned max_clients) {
        return max_clients > 1 ? MAX(max_clients / 16, 1u) : 0;
}

/* MaxClientsPerUser=: one uid may not take every place MaxClients leaves, nor make every
 * other client wait behind its connections; and no uid but root takes root's places.
 * Counting walks the connections, once per accepted client: accepting is rare next to
 * requests, and MaxClients bounds the walk. Returns true if the client was refused (told
 * why; the caller closes fd). */
static bool refuse_client_by_uid(Manager *m, int fd, uid_t uid) {
        _cleanup_(proto_msg_freep) ProtoMsg *msg = NULL;
        unsigned limit = m->config->max_clients_per_user, n = 0;
        unsigned reserved = root_reserved_clients(m->config->max_clients);
        uint64_t now = now_usec();
        char text[128];

        if (uid == 0)
                return false;
        if (m->n_conns >= m->config->max_clients - reserved)
                snprintf(text, sizeof(text), "Too many clients (MaxClients=%u, the last %u kept for root)",
                         m->config->max_clients, reserved);
        else {
                if (limit == 0)
                        return false;
                for (Conn *c = m->conns; c && n < limit; c = c->conns_next)
                        if (c->creds.uid == uid)
                                n++;
                if (n < limit)
                        return false;
                snprintf(text, sizeof(text), "Too many clients of uid %u (MaxClientsPerUser=%u)", (unsigned) uid,
                         limit);
        }

        m->refused_clients++;
        if (proto_error_new(PROTO_MSG_INVALID, 0, EUSERS, text, &msg) >= 0)
                send_refusal(fd, msg);
        if (now - m->last_refusal_log_usec >= REFUSAL_LOG_INTERVAL_USEC) {
                log_warning("Refusing clients of uid %u: %s (%" PRIu64 " refused so far).", (unsigned) uid, text,
                            m->refused_clients);
                m->last_refusal_log_usec = now;
        }
        return true;
}
