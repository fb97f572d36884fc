/* SPDX-License-Identifier: MIT */

/*
 * BIND for libnetutil: the request, the blocking and asynchronous calls, and the parser
 * that turns reply items into netutil_socket with their fds (and listen()s unix listeners
 * again in this process). Owns those fds until the caller has them.
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"

_public_ netutil_socket *netutil_sockets_free(netutil_socket *s, size_t n) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++)
                safe_close(s[i].fd);
        free(s);
        return NULL;
}

/* Parses every item of every part into sockets, taking their fds. */
int client_parse_sockets(ClientReply *reply, netutil_socket **ret, size_t *ret_n) {
        netutil_socket *s = NULL;
        size_t n = 0;
        int r;

        for (size_t p = 0; p < reply->n_parts; p++) {
                ProtoIter it;
                ProtoAttr a;

                proto_iter_init(&it, &reply->views[p]);
                while (proto_iter_next(&it, &a)) {
                        netutil_socket *grown;
                        ProtoView item;
                        const void *addr;
                        size_t addr_len;
                        uint32_t family, type, idx;
                        int32_t backlog;

                        if (a.type != PROTO_ATTR_ITEM)
                                continue;
                        if (proto_attr_nested(&a, &item) < 0 || proto_get_u32(&item, PROTO_ATTR_FAMILY, &family) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_SOCKTYPE, &type) < 0 ||
                            proto_get_binary(&item, PROTO_ATTR_SOCKADDR, &addr, &addr_len) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_FD_INDEX, &idx) < 0 ||
                            addr_len > sizeof(struct sockaddr_storage)) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        grown = reallocarray(s, n + 1, sizeof(*s));
                        if (!grown) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        s = grown;
                        s[n] = (netutil_socket) { .fd = -1, .family = (int) family, .type = (int) type };
                        memcpy(&s[n].address, addr, addr_len);
                        s[n].address_len = (socklen_t) addr_len;
                        r = client_reply_take_fd(reply, p, idx);
                        if (r < 0)
                                goto fail;
                        s[n++].fd = r;
                        /* A unix listener's peers see the credentials and pid of whoever
                         * called listen() last: the daemon, acting as the client. Listen
                         * again here, with the backlog it had, so that they see this
                         * process. Best effort: the socket works either way. */
                        if (family == AF_UNIX && type == SOCK_STREAM &&
                            proto_get_s32(&item, PROTO_ATTR_BACKLOG, &backlog) >= 0)
                                (void) listen(r, backlog < 0 ? 0 : backlog);
                }
        }
        *ret = s;
        *ret_n = n;
        return 0;

fail:
        netutil_sockets_free(s, n);
        return r;
}

int client_bind_request(netutil_client *c, const netutil_bind_options *o, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        r = client_new_request(c, PROTO_MSG_BIND, &m);
        if (r < 0)
                return r;
        if ((o->address && (r = proto_msg_append_string(m, PROTO_ATTR_ADDRESS, o->address)) < 0) ||
            (o->port && (r = proto_msg_append_string(m, PROTO_ATTR_SERVICE, o->port)) < 0) ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) o->family)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_SOCKTYPE, o->udp ? SOCK_DGRAM : SOCK_STREAM)) < 0 ||
            (r = proto_msg_append_s32(m, PROTO_ATTR_BACKLOG, o->backlog)) < 0 ||
            (o->flags != -1 && (r = proto_msg_append_s32(m, PROTO_ATTR_AI_FLAGS, o->flags)) < 0) ||
            (o->reuse_port && (r = proto_msg_append_u32(m, PROTO_ATTR_REUSE_PORT, 1)) < 0) ||
            (o->name && (r = proto_msg_append_string(m, PROTO_ATTR_NAME, o->name)) < 0) ||
            (o->hold && (r = proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1)) < 0))
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* Sends m (consumed) and parses the sockets of the reply. */
static int sockets_call(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec, netutil_socket **ret) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        size_t n;
        int r;

        r = client_call(c, m, timeout_usec, &reply);
        if (r < 0)
                return r;
        r = client_parse_sockets(reply, ret, &n);
        return r < 0 ? r : (int) n;
}


_public_ int netutil_bind(netutil_client *c, const netutil_bind_options *opts, uint64_t timeout_usec,
                          netutil_socket **ret) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !opts || !ret)
                return -EINVAL;
        r = client_bind_request(c, opts, &m);
        if (r < 0)
                return r;
        return sockets_call(c, m, timeout_usec, ret);
}


int client_bind_unix_request(netutil_client *c, const netutil_bind_unix_options *o, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        size_t len;
        int r;

        if (!o->path)
                return -EINVAL;
        len = o->path_len ? o->path_len : strlen(o->path);
        if (len == 0)
                return -EINVAL;
        if (len > PROTO_MAX_UNIX_PATH)
                return -ENAMETOOLONG;
        r = client_new_request(c, PROTO_MSG_BIND_UNIX, &m);
        if (r < 0)
                return r;
        if ((r = proto_msg_append(m, PROTO_ATTR_PATH, o->path, len)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FILE_MODE, o->mode)) < 0 ||
            (r = proto_msg_append_s32(m, PROTO_ATTR_BACKLOG, o->backlog)) < 0 ||
            (o->name && (r = proto_msg_append_string(m, PROTO_ATTR_NAME, o->name)) < 0) ||
            (o->hold && (r = proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1)) < 0))
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

_public_ int netutil_bind_unix(netutil_client *c, const netutil_bind_unix_options *opts, uint64_t timeout_usec,
                               netutil_socket **ret) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !opts || !ret)
                return -EINVAL;
        r = client_bind_unix_request(c, opts, &m);
        if (r < 0)
                return r;
        return sockets_call(c, m, timeout_usec, ret);
}

