/* SPDX-License-Identifier: MIT */

/*
 * The libnetutil connection and blocking request engine (client.h): socket path
 * resolution, connect, serials, blocking calls with poll(), joining multi-part replies
 * and the ownership of received fds. Asynchronous calls are client-async.c's. Must not
 * log, must not call libsystemd (netutilctl links this without it), and must close every
 * fd it receives that no caller took.
 */

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* Parts of one reply we accept before calling it malformed: 1024 × 253 fds is more than
 * any answer the daemon gives (held groups are bounded by quota). */
#define CLIENT_MAX_REPLY_PARTS 1024u

uint64_t client_timeout_or_default(uint64_t t) {
        return t == 0 ? NETUTIL_DEFAULT_TIMEOUT_USEC : t;
}

_public_ int netutil_default_socket_path(char **ret) {
        const char *e;
        char buf[sizeof(((struct sockaddr_un *) NULL)->sun_path) + 64];
        char *s;

        if (!ret)
                return -EINVAL;
        e = secure_getenv("NETUTILD_SOCKET");
        if (e && *e)
                s = strdup(e);
        else if (geteuid() == 0)
                s = strdup(NETUTILD_SOCKET_PATH);
        else {
                e = secure_getenv("XDG_RUNTIME_DIR");
                if (!e || e[0] != '/')
                        return -ENXIO;
                snprintf(buf, sizeof(buf), "%s/netutild/netutild.sock", e);
                s = strdup(buf);
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

_public_ int netutil_client_open(const char *path, netutil_client **ret) {
        _cleanup_(freep) char *def = NULL;
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        netutil_client *c;
        size_t len;
        int r;

        if (!ret)
                return -EINVAL;
        if (!path) {
                r = netutil_default_socket_path(&def);
                if (r < 0)
                        return r;
                path = def;
        }
        len = strlen(path);
        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* connect() on a local listener completes at once unless its backlog is full;
         * then EAGAIN, which we report rather than wait for. */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->recv = malloc(sizeof(ProtoRecv));
        if (!c->recv) {
                free(c);
                return -ENOMEM;
        }
        c->recv->n_fds = 0;
        r = client_rules_init(&c->rules, path);
        if (r < 0) {
                free(c->recv);
                free(c);
                return r;
        }
        c->n_ref = 1;
        c->fd = TAKE_FD(fd);
        *ret = c;
        return 0;
}

void client_unref(netutil_client *c) {
        if (--c->n_ref > 0)
                return;
        proto_recv_clear(c->recv);
        free(c->recv);
        client_rules_done(&c->rules);
        free(c);
}

_public_ netutil_client *netutil_client_close(netutil_client *c) {
        if (!c)
                return NULL;
        /* Through a pointer, so that programs without async calls need no libsystemd. */
        if (c->async_close)
                c->async_close(c);
        c->fd = safe_close(c->fd);
        client_unref(c);
        return NULL;
}

_public_ int netutil_client_get_fd(const netutil_client *c) {
        return c ? c->fd : -EINVAL;
}

_public_ const char *netutil_client_error_message(const netutil_client *c) {
        return c && c->has_error_message ? c->error_message : NULL;
}

_public_ int netutil_client_error_gai(const netutil_client *c) {
        return c ? c->error_gai : 0;
}

void client_clear_error(netutil_client *c) {
        c->has_error_message = false;
        c->error_message[0] = '\0';
        c->error_gai = 0;
}

/* ---- Replies ------------------------------------------------------------------------ */

ClientReply *client_reply_free(ClientReply *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_fds; i++)
                safe_close(r->fds[i]);
        for (size_t i = 0; i < r->n_parts; i++)
                free(r->bufs[i]);
        free(r->bufs);
        free(r->views);
        free(r->fds);
        free(r->fd_base);
        free(r);
        return NULL;
}

int client_reply_take_fd(ClientReply *r, size_t part, uint32_t idx) {
        size_t i;

        if (part >= r->n_parts)
                return -EBADMSG;
        i = (size_t) r->fd_base[part] + idx;
        if (i >= r->n_fds || (part + 1 < r->n_parts && i >= r->fd_base[part + 1]) || r->fds[i] < 0)
                return -EBADMSG;
        return TAKE_FD(r->fds[i]);
}

/* Appends the datagram in rcv (size n, already parsed into v) to reply r, taking its fds. */
int client_reply_add_part(ClientReply *r, ProtoRecv *rcv, size_t n, const ProtoView *v) {
        ProtoView *views;
        uint8_t **bufs, *copy;
        unsigned *bases;
        int *fds;

        if (r->n_parts >= CLIENT_MAX_REPLY_PARTS)
                return -EBADMSG;
        views = reallocarray(r->views, r->n_parts + 1, sizeof(*views));
        if (!views)
                return -ENOMEM;
        r->views = views;
        bufs = reallocarray(r->bufs, r->n_parts + 1, sizeof(*bufs));
        if (!bufs)
                return -ENOMEM;
        r->bufs = bufs;
        bases = reallocarray(r->fd_base, r->n_parts + 1, sizeof(*bases));
        if (!bases)
                return -ENOMEM;
        r->fd_base = bases;
        fds = reallocarray(r->fds, r->n_fds + rcv->n_fds + 1, sizeof(int));
        if (!fds)
                return -ENOMEM;
        r->fds = fds;
        copy = malloc(n);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, rcv->buf, n);

        r->bufs[r->n_parts] = copy;
        r->views[r->n_parts] = *v;
        r->views[r->n_parts].attrs = copy + PROTO_HEADER_SIZE;
        r->fd_base[r->n_parts] = (unsigned) r->n_fds;
        for (unsigned i = 0; i < rcv->n_fds; i++)
                r->fds[r->n_fds++] = proto_recv_take_fd(rcv, i);
        rcv->n_fds = 0;
        r->n_parts++;
        return 0;
}

/* Records the error of an error reply on c and returns -status. */
int client_reply_error(netutil_client *c, const ProtoView *v) {
        const char *msg;
        int32_t gai;

        if (proto_get_string(v, PROTO_ATTR_ERROR_MESSAGE, &msg) >= 0) {
                snprintf(c->error_message, sizeof(c->error_message), "%s", msg);
                c->has_error_message = true;
        }
        if (proto_get_s32(v, PROTO_ATTR_GAI_ERROR, &gai) >= 0)
                c->error_gai = gai;
        /* A status that is not a plausible errno (errno values are below 4096, the
         * kernel's MAX_ERRNO) is a protocol error. */
        return v->header.status > 0 && v->header.status < 4096 ? -v->header.status : -EBADMSG;
}

/* Reads one datagram and parses it. Returns 1 with *v filled, 0 for nothing to read,
 * -ECONNRESET at end of stream, -EBADMSG for a datagram that does not parse. */
int client_read_one(netutil_client *c, ProtoView *v, ssize_t *ret_n) {
        ssize_t n;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };

        n = proto_recv(c->fd, c->recv);
        if (n == -ECONNRESET) {
                /* The daemon closed with our request unread: the kernel reports that once,
                 * ahead of what the daemon sent before closing (say, a refusal). */
                n = proto_recv(c->fd, c->recv);
                if (n == -EAGAIN || n == 0)
                        n = -ECONNRESET;
        }
        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return (int) n;
        if (n == 0) {
                /* The daemon never sends empty datagrams: this is the end of the stream. */
                (void) poll(&p, 1, 0);
                proto_recv_clear(c->recv);
                return -ECONNRESET;
        }
        if (c->recv->real_size > PROTO_MAX_MSG || proto_parse(c->recv->buf, (size_t) n, v) < 0 ||
            c->recv->fds_truncated) {
                proto_recv_clear(c->recv);
                return -EBADMSG;
        }
        *ret_n = n;
        return 1;
}

/* ---- Sending ------------------------------------------------------------------------ */

int client_new_request(netutil_client *c, uint16_t type, ProtoMsg **ret) {
        if (++c->serial == 0) /* 0 is the daemon's unsolicited messages */
                c->serial = 1;
        return proto_msg_new(type, c->serial, ret);
}

static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int ms = -1, r;

                if (deadline != UINT64_MAX) {
                        uint64_t n = now_usec();
                        if (n >= deadline)
                                return -ETIMEDOUT;
                        ms = (int) MIN((deadline - n + 999) / 1000, (uint64_t) INT32_MAX);
                }
                r = poll(&p, 1, ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

/* A send failed: if the daemon left a refusal behind (serial 0, e.g. too many clients)
 * that is the real reason; otherwise the connection is gone. */
int client_send_failed(netutil_client *c, int error) {
        ProtoView v;
        ssize_t n;

        if (error != -EPIPE && error != -ECONNRESET)
                return error;
        if (client_read_one(c, &v, &n) > 0) {
                proto_recv_clear(c->recv);
                if (v.header.serial == 0 && v.header.status != 0)
                        return client_reply_error(c, &v);
        }
        return -ECONNRESET;
}

int client_call(netutil_client *c, ProtoMsg *msg, uint64_t timeout_usec, ClientReply **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = msg;
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        uint64_t t = client_timeout_or_default(timeout_usec);
        uint64_t deadline = t == UINT64_MAX ? UINT64_MAX : now_usec() + t;
        uint32_t serial = proto_msg_header(m)->serial;
        int r;

        if (c->pending || c->out_head)
                return -EBUSY;
        client_clear_error(c);

        for (;;) {
                r = proto_send(c->fd, m);
                if (r != -EAGAIN)
                        break;
                r = wait_fd(c->fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return client_send_failed(c, r);

        reply = calloc(1, sizeof(*reply));
        if (!reply)
                return -ENOMEM;

        for (;;) {
                ProtoView v;
                ssize_t n;

                /* Wait first: right after sending, a read would only find nothing. */
                r = wait_fd(c->fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                r = client_read_one(c, &v, &n);
                if (r == 0)
                        continue;
                if (r < 0)
                        return r;

                if (v.header.serial == 0 && v.header.status != 0) {
                        /* The daemon refused us as a whole (too many clients). */
                        proto_recv_clear(c->recv);
                        return client_reply_error(c, &v);
                }
                if (v.header.serial != serial) {
                        proto_recv_clear(c->recv); /* a stale reply of a timed-out call */
                        continue;
                }
                if (v.header.status != 0) {
                        proto_recv_clear(c->recv);
                        return client_reply_error(c, &v);
                }
                r = client_reply_add_part(reply, c->recv, (size_t) n, &v);
                if (r < 0) {
                        proto_recv_clear(c->recv);
                        return r;
                }
                if (!(v.header.flags & PROTO_FLAG_MORE))
                        break;
        }

        *ret = TAKE_PTR(reply);
        return 0;
}

/* ---- Asynchronous ------------------------------------------------------------------- */

int client_strdup_attr(const ProtoView *v, uint16_t type, char **ret) {
        const char *s;
        char *d;
        int r;

        r = proto_get_string(v, type, &s);
        if (r < 0)
                return r == -ENODATA ? -EBADMSG : r;
        d = strdup(s);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}
