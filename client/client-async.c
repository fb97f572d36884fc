/* SPDX-License-Identifier: MIT */

/*
 * Asynchronous libnetutil requests on a caller's sd-event loop (client.h): attach and
 * detach, the pending-request list matched by serial, the output queue, timeouts and
 * cancellation. Everything here needs libsystemd; client.c must not.
 */

#include <errno.h>
#include <string.h>

#include "client.h"

/* Replies read per wake-up of the event loop, to share it with others. */
#define CLIENT_READ_BATCH 64u

static void request_unlink(netutil_request *q) {
        netutil_client *c = q->client;

        if (q->prev)
                q->prev->next = q->next;
        else if (c->pending == q)
                c->pending = q->next;
        if (q->next)
                q->next->prev = q->prev;
        q->next = q->prev = NULL;
}

static void request_free(netutil_request *q) {
        request_unlink(q);
        sd_event_source_disable_unref(q->timeout);
        client_reply_free(q->partial);
        free(q);
}

/* Fails every pending request with error (callbacks run unless silent). */
static void fail_pending(netutil_client *c, int error, bool silent) {
        while (c->pending) {
                netutil_request *q = c->pending;
                client_callback_t cb = q->callback;
                void *ud = q->userdata;

                request_free(q);
                if (cb)
                        cb(silent ? NULL : c, error, NULL, ud);
        }
}

static void out_clear(netutil_client *c) {
        for (OutMsg *o = c->out_head, *n; o; o = n) {
                n = o->next;
                proto_msg_free(o->msg);
                free(o);
        }
        c->out_head = c->out_tail = NULL;
}

static void update_io_events(netutil_client *c) {
        if (c->io)
                (void) sd_event_source_set_io_events(c->io, EPOLLIN | (c->out_head ? EPOLLOUT : 0));
}

static int flush_out(netutil_client *c) {
        while (c->out_head) {
                OutMsg *o = c->out_head;
                int r = proto_send(c->fd, o->msg);
                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        return r;
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                proto_msg_free(o->msg);
                free(o);
        }
        update_io_events(c);
        return 0;
}

static netutil_request *find_pending(netutil_client *c, uint32_t serial) {
        if (serial == 0)
                return NULL; /* the serial of local requests, which no reply answers */
        for (netutil_request *q = c->pending; q; q = q->next)
                if (q->serial == serial)
                        return q;
        return NULL;
}

/* Ends q: with its joined reply if error is 0, else with the error. */
static void complete(netutil_request *q, int error) {
        netutil_client *c = q->client;
        client_callback_t cb = q->callback;
        void *ud = q->userdata;
        ClientReply *reply = error == 0 ? TAKE_PTR(q->partial) : NULL;

        request_free(q);
        if (cb)
                cb(c, error, &reply, ud);
        client_reply_free(reply);
}

static void io_dispatch(netutil_client *c, uint32_t revents) {
        int r;

        if (revents & EPOLLOUT) {
                r = flush_out(c);
                if (r < 0) {
                        fail_pending(c, client_send_failed(c, r), false);
                        return;
                }
        }

        /* Stop when a callback closed the client (fd < 0) or detached it (io NULL). */
        for (unsigned i = 0; i < CLIENT_READ_BATCH && c->fd >= 0 && c->io; i++) {
                netutil_request *q;
                ProtoView v;
                ssize_t n;

                r = client_read_one(c, &v, &n);
                if (r == 0)
                        break;
                if (r < 0) {
                        /* A datagram we cannot parse cannot be matched to its request:
                         * the connection is no longer trustworthy. */
                        c->io = sd_event_source_disable_unref(c->io);
                        fail_pending(c, r, false);
                        return;
                }

                if (v.header.serial == 0 && v.header.status != 0) {
                        proto_recv_clear(c->recv);
                        r = client_reply_error(c, &v);
                        fail_pending(c, r, false);
                        continue;
                }
                q = find_pending(c, v.header.serial);
                if (!q) {
                        proto_recv_clear(c->recv); /* cancelled or timed out */
                        continue;
                }
                if (v.header.status != 0) {
                        proto_recv_clear(c->recv);
                        client_clear_error(c);
                        complete(q, client_reply_error(c, &v));
                        continue;
                }
                r = client_reply_add_part(q->partial, c->recv, (size_t) n, &v);
                if (r < 0) {
                        proto_recv_clear(c->recv);
                        complete(q, r);
                        continue;
                }
                if (!(v.header.flags & PROTO_FLAG_MORE)) {
                        client_clear_error(c);
                        complete(q, 0);
                }
        }
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        netutil_client *c = userdata;

        c->n_ref++;
        io_dispatch(c, revents);
        client_unref(c);
        return 0;
}

/* netutil_client_close()'s part for an attached client. */
static void async_close(netutil_client *c) {
        fail_pending(c, -ECANCELED, true);
        out_clear(c);
        c->io = sd_event_source_disable_unref(c->io);
        c->event = sd_event_unref(c->event);
}

_public_ int netutil_client_attach_event(netutil_client *c, sd_event *e, int64_t priority) {
        int r;

        if (!c || !e)
                return -EINVAL;
        if (c->event)
                return -EBUSY;
        r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN, io_cb, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(c->io, priority);
        if (r < 0) {
                c->io = sd_event_source_disable_unref(c->io);
                return r;
        }
        c->event = sd_event_ref(e);
        c->async_close = async_close;
        update_io_events(c);
        return 0;
}

_public_ int netutil_client_detach_event(netutil_client *c) {
        if (!c)
                return -EINVAL;
        fail_pending(c, -ECANCELED, false);
        out_clear(c);
        c->io = sd_event_source_disable_unref(c->io);
        c->event = sd_event_unref(c->event);
        return 0;
}

_public_ netutil_request *netutil_request_cancel(netutil_request *q) {
        client_callback_t cb;
        void *ud;

        if (!q)
                return NULL;
        cb = q->callback;
        ud = q->userdata;
        request_free(q);
        if (cb)
                cb(NULL, -ECANCELED, NULL, ud); /* lets the typed layer free its state */
        return NULL;
}

static int timeout_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        complete(userdata, -ETIMEDOUT);
        return 0;
}

static int local_cb(sd_event_source *s, void *userdata) {
        complete(userdata, 0);
        return 0;
}

int client_call_async_local(netutil_client *c, client_callback_t callback, void *userdata, netutil_request **ret) {
        netutil_request *q;
        int r;

        if (!c->event)
                return -ENXIO;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (netutil_request) { .client = c, .serial = 0, .callback = callback, .userdata = userdata };
        /* In the timeout's place: freed, and so cancelled, with the request. */
        r = sd_event_add_defer(c->event, &q->timeout, local_cb, q);
        if (r < 0) {
                free(q);
                return r;
        }
        if ((q->next = c->pending))
                q->next->prev = q;
        c->pending = q;
        if (ret)
                *ret = q;
        return 0;
}

int client_call_async(netutil_client *c, ProtoMsg *msg, uint64_t timeout_usec, client_callback_t callback,
                      void *userdata, netutil_request **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = msg;
        uint64_t t = client_timeout_or_default(timeout_usec);
        netutil_request *q;
        OutMsg *o;
        int r;

        if (!c->event)
                return -ENXIO;

        q = calloc(1, sizeof(*q));
        o = calloc(1, sizeof(*o));
        if (!q || !o) {
                free(q);
                free(o);
                return -ENOMEM;
        }
        q->client = c;
        q->serial = proto_msg_header(m)->serial;
        q->callback = callback;
        q->userdata = userdata;
        q->partial = calloc(1, sizeof(ClientReply));
        if (!q->partial) {
                free(q);
                free(o);
                return -ENOMEM;
        }
        if (t != UINT64_MAX) {
                /* From now, not from sd_event_now(): that is the loop's last wake-up, which
                 * may be seconds old when a program calls us before running its loop. */
                uint64_t now = now_usec();

                r = sd_event_add_time(c->event, &q->timeout, CLOCK_MONOTONIC, t < UINT64_MAX - now ? now + t : UINT64_MAX - 1,
                                      0, timeout_cb, q);
                if (r < 0) {
                        free(q->partial);
                        free(q);
                        free(o);
                        return r;
                }
        }

        if ((q->next = c->pending))
                q->next->prev = q;
        c->pending = q;

        o->msg = TAKE_PTR(m);
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        r = flush_out(c);
        if (r < 0) {
                /* The connection is broken; the callback learns it from the loop. */
                request_free(q);
                return client_send_failed(c, r);
        }

        if (ret)
                *ret = q;
        return 0;
}

