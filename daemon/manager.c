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

#include "closer.h"
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
/* fds a uid sent that the closer has still to close, at which none of its connections is
 * read: a client never sends fds, and a hostile one needs few to make closes wait. One
 * datagram may bring up to 253 more than this. */
#define CLOSER_MAX_PER_USER 64u
/* Closer jobs at which accepting waits (clients stay in the listener's backlog) until half
 * are done: each holds an fd of ours. What gets there without a uid's reading being stopped
 * first is sockets: of connections gone or refused on a kernel without SO_PASSRIGHTS (not
 * counted per uid, so that a closer held up by one user does not stop others' reading). */
#define CLOSER_MAX_QUEUED 512u

/* SO_PASSRIGHTS, Linux 6.16 (commit 77cbe1a6d873): 0 makes the kernel refuse SCM_RIGHTS sent
 * to the socket (the sender gets EPERM), and connections accepted from a listener inherit
 * it. Debian 12's headers predate it: the value is that of include/uapi/asm-generic/socket.h;
 * the architectures with their own socket.h (alpha, mips, parisc, sparc) go without. */
#if !defined(SO_PASSRIGHTS) && !defined(__alpha__) && !defined(__mips__) && !defined(__hppa__) &&            \
        !defined(__sparc__)
#define SO_PASSRIGHTS 83
#endif

struct OutMsg {
        ProtoMsg *msg;
        Request *req; /* the request this part answers */
        OutMsg *next;
};

static void accept_resume(Manager *m);

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

/* n against limit (0: none); resume: whether n is still above the point where reading
 * resumes, a quarter below the limit, so that re-arming every connection of a uid is paid
 * once per quarter of it and not per freed place. */
static bool over(uint64_t n, uint64_t limit, bool resume) {
        if (limit == 0)
                return false;
        return resume ? n > limit - limit / 4 : n >= limit;
}

/* Whether l's uid has as much in the daemon as it may: requests, queued reply bytes, fds for
 * the closer. Then none of its connections is read (back-pressure, as PROTO_MAX_INFLIGHT per
 * connection), and nothing is refused. Root is not limited but by the closer: its clients
 * are the administrator's, and send no fds. */
static bool user_load_full(const Manager *m, const UserLoad *l, bool resume) {
        if (over(l->n_closing, CLOSER_MAX_PER_USER, resume))
                return true;
        if (l->uid == 0)
                return false;
        return over(l->n_requests, m->config->max_requests_per_user, resume) ||
               over(l->out_bytes, m->config->max_reply_bytes_per_user, resume);
}

static bool user_over_limit(const Conn *c) {
        return c->load && user_load_full(c->manager, c->load, false);
}

/* Something of l's uid went: its connections that stopped reading at a limit read again
 * (and build their long replies) once the uid is a quarter below every limit. */
static void user_load_wake(Manager *m, UserLoad *l) {
        if (!l->blocked || user_load_full(m, l, true))
                return;
        l->blocked = false;
        for (Conn *c = m->conns; c; c = c->conns_next)
                if (c->load == l)
                        conn_set_events(c, true);
}

static void user_load_request_done(Manager *m, UserLoad *l) {
        assert(l->n_requests > 0);
        l->n_requests--;
        user_load_wake(m, l);
        user_load_unref(m, l);
}

/* ---- Closing what clients gave us (issue 13, item 1) ---------------------------------- */

static void spare_fd_reserve(void);

/* The closer closed a job of l's uid (NULL: of no known uid). */
static void closer_done(void *userdata, void *job_userdata) {
        Manager *m = userdata;
        UserLoad *l = job_userdata;

        assert(m->n_closing > 0);
        m->n_closing--;
        /* The spare given up to refuse a client at the fd limit can only come back once that
         * client's socket is closed (refuse_client_out_of_fds()). */
        spare_fd_reserve();
        if (m->accept_paused_closing && m->n_closing <= CLOSER_MAX_QUEUED / 2) {
                m->accept_paused_closing = false;
                accept_resume(m);
        }
        if (l) {
                assert(l->n_closing > 0);
                l->n_closing--;
                user_load_wake(m, l);
                user_load_unref(m, l);
        }
}

/* The uid of a unix socket's peer, or (uid_t) -1. */
static uid_t peer_uid(int fd) {
        struct ucred uc;
        socklen_t len = sizeof(uc);

        return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) >= 0 && len == sizeof(uc) ? uc.uid : (uid_t) -1;
}

/* Closes fd, which a client of uid ((uid_t) -1: unknown) may have put foreign files in, on
 * a thread of that uid's lane, consuming it. The job counts for the uid: at
 * CLOSER_MAX_PER_USER its connections are not read. */
static void close_foreign(Manager *m, int fd, bool drain, uid_t uid) {
        UserLoad *l;

        if (fd < 0)
                return;
        if (!m->closer) { /* at exit, after the closer */
                safe_close(fd);
                return;
        }
        l = uid != (uid_t) -1 ? user_load_get(m, uid) : NULL;
        if (closer_close(m->closer, fd, drain, uid, l) < 0) {
                log_oom();
                user_load_unref(m, l);
                return;
        }
        m->n_closing++;
        if (l)
                l->n_closing++;
        if (m->n_closing >= CLOSER_MAX_QUEUED && !m->accept_paused_closing) {
                m->accept_paused_closing = true;
                (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_OFF);
        }
}

void manager_close_foreign(Manager *m, int fd, uid_t uid) {
        close_foreign(m, fd, false, uid);
}

/* ProtoRecv.discard of the loop's buffer: fds a client sent, which no handler took. */
static void recv_discard(int fd, void *userdata) {
        Manager *m = userdata;

        close_foreign(m, fd, false, m->reading ? m->reading->creds.uid : (uid_t) -1);
}

/* Whether a freshly accepted client socket refuses fds since its connect(): the listener
 * had SO_PASSRIGHTS off then, and the socket inherited it. Otherwise it is turned off now,
 * and what the client sent before may still be queued (returns false). */
static bool client_socket_refuses_fds(Manager *m, int fd) {
#ifdef SO_PASSRIGHTS
        int v = 1, zero = 0;
        socklen_t len = sizeof(v);

        if (!m->refuse_fds)
                return false;
        if (getsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &v, &len) >= 0 && v == 0)
                return true;
        (void) setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero));
#endif
        return false;
}

/* Closes a client's socket. If its queue may hold fds, closing it would drop them, which may
 * be the last close of their files: the closer does it. */
static void close_client_socket(Manager *m, int fd, bool may_hold_fds) {
        if (may_hold_fds)
                close_foreign(m, fd, false, peer_uid(fd));
        else
                safe_close(fd);
}

/* ---- Requests ------------------------------------------------------------------------ */

/* Frees a request that no connection lists any more. */
static void request_release(Request *req) {
        Manager *m = req->manager;
        UserLoad *l = req->load;

        sd_event_source_disable_unref(req->deadline);
        if (req->fill_free && req->fill_state)
                req->fill_free(req->fill_state);
        proto_reply_free(req->fill_reply);
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

static void conn_flush(Conn *c, bool fill);

/* Queues msgs[0..n) for req's connection, consuming them. */
static int request_append(Request *req, ProtoMsg **msgs, size_t n) {
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
                c->out_bytes += msgs[i]->size;
                if (c->load)
                        c->load->out_bytes += msgs[i]->size;
        }
        return 0;
}

static int request_queue(Request *req, ProtoMsg **msgs, size_t n) {
        int r = request_append(req, msgs, n);

        /* Other requests' long replies are not built from inside a handler: only from the
         * loop's own wake-ups (and a new one's first part, request_reply_stream()). */
        conn_flush(req->conn, false);
        return r;
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

/* ---- Replies built in parts (issue 13, item 4) ---------------------------------------- */

bool request_stream_full(const ProtoReply *reply, size_t budget) {
        size_t done = 0;

        for (size_t i = 0; i + 1 < reply->n_parts; i++)
                done += reply->parts[i]->size;
        return reply->n_parts > 1 && done >= budget;
}

int request_reply_stream(Request *req, RequestFillFunc fill, void (*free_state)(void *state), void *state) {
        Conn *c = req->conn;

        assert(!req->replied);
        req->fill = fill;
        req->fill_free = free_state;
        req->fill_state = state;
        if (!c || c->dead) {
                request_end(req, NULL, 0); /* frees state */
                return REQUEST_PENDING;
        }
        /* Answered as far as the counters go: only the client's reading holds it now, and a
         * takeover need not wait for that any more than for parts already queued. */
        req->replied = true;
        req->deadline = sd_event_source_disable_unref(req->deadline);
        req->manager->n_replied++;
        req->streaming = true;
        if (c->streams_tail)
                c->streams_tail->stream_next = req;
        else
                c->streams_head = req;
        c->streams_tail = req;
        /* With no long reply before it, what fits goes now: a short list keeps its place
         * among the replies, as when it was built whole. Else EPOLLOUT, armed for it,
         * brings its turn. */
        if (c->streams_head == req)
                conn_flush(c, true);
        else
                conn_update_events(c);
        return REQUEST_PENDING;
}

/* Bytes c may still queue before a limit (UINT64_MAX: none). */
static uint64_t conn_reply_room(const Conn *c) {
        const Config *cfg = c->manager->config;
        uint64_t room = UINT64_MAX, max;

        max = cfg->max_reply_bytes_per_connection;
        if (max > 0)
                room = max > c->out_bytes ? max - c->out_bytes : 0;
        max = cfg->max_reply_bytes_per_user;
        if (max > 0 && c->load && c->load->uid != 0)
                room = MIN(room, max > c->load->out_bytes ? max - c->load->out_bytes : 0);
        return room;
}

static void stream_pop(Conn *c, Request *req) {
        assert(c->streams_head == req);
        c->streams_head = req->stream_next;
        if (!c->streams_head)
                c->streams_tail = NULL;
        req->stream_next = NULL;
        req->streaming = false;
        if (req->fill_free && req->fill_state)
                req->fill_free(req->fill_state);
        req->fill_state = NULL;
}

/* The first stream of c ends with error after what was already sent. */
static void stream_fail(Conn *c, Request *req, int error) {
        ProtoMsg *msg = NULL;

        stream_pop(c, req);
        req->fill_reply = proto_reply_free(req->fill_reply);
        if (error == -ENOMEM)
                log_oom();
        if (proto_error_new(req->type, req->serial, -error, strerror(-error), &msg) < 0 ||
            request_append(req, &msg, 1) < 0) {
                conn_kill(c); /* the client would wait for the rest for ever */
                return;
        }
}

/* Builds the next parts of c's first long replies while c may queue more: every complete
 * part goes in the queue, the last one stays to be filled further. */
static void conn_fill_streams(Conn *c) {
        while (c->streams_head && !c->dead) {
                Request *req = c->streams_head;
                uint64_t room = conn_reply_room(c);
                ProtoReply *reply;
                size_t n;
                int r;

                if (room == 0)
                        return;
                if (!req->fill_reply && (r = proto_reply_new(req->type, req->serial, &req->fill_reply)) < 0) {
                        stream_fail(c, req, r);
                        continue;
                }
                reply = req->fill_reply;
                r = req->fill(req, req->fill_state, reply, (size_t) MIN(room, (uint64_t) SIZE_MAX));
                if (r < 0) {
                        stream_fail(c, req, r);
                        continue;
                }
                /* Done: every part goes, the last without PROTO_FLAG_MORE. Else the last part
                 * stays, and gets PROTO_FLAG_MORE when the next one starts. */
                n = r > 0 ? reply->n_parts : reply->n_parts - 1;
                assert(r > 0 || n > 0);
                if (r > 0) {
                        stream_pop(c, req);
                        req->fill_reply = NULL;
                        (void) request_append(req, reply->parts, n);
                        reply->n_parts = 0;
                        proto_reply_free(reply);
                } else {
                        ProtoMsg *last = reply->parts[n];
                        (void) request_append(req, reply->parts, n);
                        reply->parts[0] = last;
                        reply->n_parts = 1;
                }
        }
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

        /* Pending requests lose their client; their handlers finish them later. Replies still
         * being built are just dropped (request_release()). */
        for (Request *req = c->streams_head; req; req = req->stream_next)
                req->streaming = false;
        c->streams_head = c->streams_tail = NULL;
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
        if (c->load) {
                c->load->out_bytes -= c->out_bytes;
                user_load_wake(m, c->load);
        }
        c->out_bytes = 0;

        c->io = sd_event_source_disable_unref(c->io);
        close_client_socket(m, TAKE_FD(c->fd), c->may_hold_fds);
        free(c->creds.groups);
        c->creds.groups = NULL;

        LIST_REMOVE(conns, m->conns, c);
        m->n_conns--;
        LIST_PREPEND(conns, m->dead_conns, c);
        manager_schedule_gc(m);
        manager_status_changed(m);

        /* A freed fd may be what a paused accept was waiting for (not during a takeover). */
        if (m->accept_retry && !m->paused && !m->accept_paused_closing)
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
        /* Back-pressure: stop reading while the client, or its uid, has too much in flight or
         * too many reply bytes queued. During a hand-over only the successor is read. */
        if (user_over_limit(c))
                c->load->blocked = true;
        else if (c->n_in_flight < PROTO_MAX_INFLIGHT && conn_reply_room(c) > 0 &&
                 (!c->manager->paused || c == c->manager->takeover_conn))
                events |= EPOLLIN;
        /* A long reply with room to grow is built when the socket can take it. */
        if (c->out_head || (c->streams_head && conn_reply_room(c) > 0))
                events |= EPOLLOUT;
        if (!rearm && events == c->io_events)
                return;
        c->io_events = events;
        (void) sd_event_source_set_io_events(c->io, events);
}

static void conn_update_events(Conn *c) {
        conn_set_events(c, false);
}

/* Sends what c has queued until the socket is full (returns false) or the queue empty. */
static bool conn_send(Conn *c) {
        int r;

        while (c->out_head) {
                OutMsg *o = c->out_head;
                size_t size = o->msg->size;

                r = proto_send(c->fd, o->msg);
                if (r == -EAGAIN)
                        return false;
                if (r < 0) {
                        /* EPIPE, ECONNRESET, ...: the client is gone. */
                        if (r != -EPIPE && r != -ECONNRESET)
                                log_debug_errno(r, "Failed to send to client pid %d: %m", (int) c->creds.pid);
                        conn_kill(c);
                        return false;
                }
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                c->out_bytes -= size;
                if (c->load) {
                        c->load->out_bytes -= size;
                        user_load_wake(c->manager, c->load);
                }
                proto_msg_free(o->msg);
                if (--o->req->parts_queued == 0 && !o->req->streaming)
                        request_free(o->req);
                free(o);
        }
        return true;
}

/* Sends c's queue and, with fill, builds its long replies on as the socket takes them and
 * the limits leave room: up to the limit while the socket is full, so that the client
 * finds the next parts ready. */
static void conn_flush(Conn *c, bool fill) {
        for (;;) {
                bool drained = conn_send(c);

                if (!fill || c->dead || !c->streams_head || conn_reply_room(c) == 0)
                        break;
                conn_fill_streams(c);
                if (!drained)
                        break;
        }
        conn_update_events(c);
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
                conn_flush(c, true);

        if (revents & EPOLLIN) {
                bool drained = false;

                m->reading = c;
                for (unsigned i = 0; i < CONN_READ_BATCH && !c->dead && c->n_in_flight < PROTO_MAX_INFLIGHT &&
                                     !user_over_limit(c) && conn_reply_room(c) > 0;
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
                m->reading = NULL;
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

/* Sends a refusal (if msg) to a client just accepted and closes it, consuming fd. What the
 * client already sent is read first (at most PROTO_MAX_INFLIGHT datagrams): a unix socket
 * closed with unread data resets the connection, and the client would get ECONNRESET
 * instead of the refusal. That read drops the fds those datagrams carry, the close drops
 * what comes later: where they may carry some, the closer reads and closes.
 * clean: client_socket_refuses_fds() said so when it was accepted. */
static void refuse_and_close(Manager *m, int fd, ProtoMsg *msg, bool clean) {
        char buf[PROTO_HEADER_SIZE];

        if (msg)
                (void) proto_send(fd, msg);
        if (!clean) {
                close_foreign(m, fd, true, peer_uid(fd));
                return;
        }
        for (unsigned i = 0; i < PROTO_MAX_INFLIGHT && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
                ;
        safe_close(fd);
}

static void refuse_client(Manager *m, int fd) {
        _cleanup_(proto_msg_freep) ProtoMsg *msg = NULL;
        char text[128];
        uint64_t now = now_usec();

        m->refused_clients++;
        snprintf(text, sizeof(text), "Too many clients (MaxClients=%u)", m->config->max_clients);
        (void) proto_error_new(PROTO_MSG_INVALID, 0, EUSERS, text, &msg);
        refuse_and_close(m, fd, msg, client_socket_refuses_fds(m, fd));

        if (now - m->last_refusal_log_usec >= REFUSAL_LOG_INTERVAL_USEC) {
                log_warning("Refusing clients: MaxClients=%u reached (%" PRIu64 " refused so far).",
                            m->config->max_clients, m->refused_clients);
                m->last_refusal_log_usec = now;
        }
}

static int accept_retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->accept_retry = sd_event_source_unref(m->accept_retry);
        /* During a takeover manager_resume() turns accepting on again. */
        accept_resume(m);
        return 0;
}

static void spare_fd_release(void);
static bool refuse_client_out_of_fds(Manager *m, int error);
static bool refuse_client_by_uid(Manager *m, int *fd, bool clean, uid_t uid);

static void accept_resume(Manager *m) {
        if (m->listen_source && !m->paused && !m->accept_retry && !m->accept_paused_closing)
                (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
}

static int listen_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        for (unsigned i = 0; i < CONN_READ_BATCH; i++) {
                _cleanup_(closep) int cfd = -EBADF;
                bool clean;
                Conn *c;
                int r;

                /* Each closer job holds an fd: new clients wait in the backlog meanwhile. */
                if (m->accept_paused_closing)
                        return sd_event_source_set_enabled(m->listen_source, SD_EVENT_OFF);
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
                        refuse_client(m, TAKE_FD(cfd));
                        continue;
                }

                /* Whatever fails for one client drops it (cfd is closed), never the listener:
                 * a negative return would disable it for good. */
                clean = client_socket_refuses_fds(m, cfd);
                c = calloc(1, sizeof(*c));
                if (!c) {
                        log_oom();
                        close_client_socket(m, TAKE_FD(cfd), !clean);
                        continue;
                }
                c->manager = m;
                c->fd = -EBADF;
                c->may_hold_fds = !clean;
                r = conn_get_creds(cfd, &c->creds);
                if (r < 0)
                        log_warning_errno(r, "Failed to read peer credentials: %m");
                else if (!refuse_client_by_uid(m, &cfd, clean, c->creds.uid)) {
                        c->load = user_load_get(m, c->creds.uid);
                        r = c->load ? sd_event_add_io(m->event, &c->io, cfd, EPOLLIN | EPOLLRDHUP | EPOLLET, conn_io, c)
                                    : -ENOMEM;
                        if (r < 0)
                                log_warning_errno(r, "Failed to watch client: %m");
                }
                if (!c->io) {
                        close_client_socket(m, TAKE_FD(cfd), !clean);
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
        accept_resume(m);
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
        m->recv->discard = recv_discard;
        m->recv->discard_userdata = m;
        /* A testing aid (netutild(8)): behave as on a kernel without SO_PASSRIGHTS. */
        m->refuse_fds = !getenv("NETUTILD_NO_SO_PASSRIGHTS");
        r = sd_event_default(&m->event);
        if (r >= 0)
                r = closer_new(m->event, closer_done, m, &m->closer);
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
        /* After what may hand it fds: those it has not closed yet are left to exit(). */
        m->closer = closer_free(m->closer);
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

/* No request takes fds from a client (issue 13): SO_PASSRIGHTS off on the listener makes
 * the kernel refuse them on every connection from its connect() on (the client's sendmsg()
 * fails with EPERM). Where the kernel lacks it, fds get in and the closer closes them. */
static void manager_refuse_fds(Manager *m) {
        int r = -ENOPROTOOPT;

#ifdef SO_PASSRIGHTS
        if (m->refuse_fds) {
                int zero = 0;
                r = setsockopt(m->listen_fd, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero)) < 0 ? -errno : 0;
        } else
                r = -ECANCELED;
#endif
        if (r >= 0)
                return;
        m->refuse_fds = false;
        if (r == -ECANCELED)
                log_info("NETUTILD_NO_SO_PASSRIGHTS is set: letting clients' fds in, to be closed off the "
                         "event loop.");
        else if (r == -ENOPROTOOPT || r == -EINVAL)
                log_info("The kernel cannot refuse fds at the socket (SO_PASSRIGHTS, Linux 6.16): "
                         "clients' fds are closed off the event loop.");
        else
                log_warning_errno(r, "Failed to turn SO_PASSRIGHTS off, closing clients' fds off the event "
                                     "loop instead: %m");
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

        manager_refuse_fds(m);
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
                (void) proto_error_new(PROTO_MSG_INVALID, 0, error, text, &msg);
                refuse_and_close(m, cfd, msg, client_socket_refuses_fds(m, cfd));
                cfd = -EBADF;
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
 * why, and *fd closed). */
static bool refuse_client_by_uid(Manager *m, int *fd, bool clean, uid_t uid) {
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
        (void) proto_error_new(PROTO_MSG_INVALID, 0, EUSERS, text, &msg);
        refuse_and_close(m, TAKE_FD(*fd), msg, clean);
        if (now - m->last_refusal_log_usec >= REFUSAL_LOG_INTERVAL_USEC) {
                log_warning("Refusing clients of uid %u: %s (%" PRIu64 " refused so far).", (unsigned) uid, text,
                            m->refused_clients);
                m->last_refusal_log_usec = now;
        }
        return true;
}
