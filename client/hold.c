/* SPDX-License-Identifier: MIT */

/* HOLD_LIST and HOLD_RELEASE for libnetutil: requests and the list parser. */

#include <errno.h>
#include <string.h>

#include "client.h"

_public_ netutil_held *netutil_held_free(netutil_held *h, size_t n) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                free(h[i].name);
                free(h[i].sockets);
        }
        free(h);
        return NULL;
}

/* Items are one per socket, each with its name; consecutive items of one name are one
 * netutil_held. */
int client_parse_held(const ClientReply *reply, netutil_held **ret) {
        netutil_held *h = NULL;
        size_t n = 0;
        int r = -EBADMSG;

        for (size_t p = 0; p < reply->n_parts; p++) {
                ProtoIter it;
                ProtoAttr a;

                proto_iter_init(&it, &reply->views[p]);
                while (proto_iter_next(&it, &a)) {
                        ProtoView item;
                        const char *name;
                        const void *addr;
                        size_t addr_len;
                        uint32_t uid, family, type;
                        netutil_socket *s;

                        if (a.type != PROTO_ATTR_ITEM)
                                continue;
                        if (proto_attr_nested(&a, &item) < 0 || proto_get_string(&item, PROTO_ATTR_NAME, &name) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_OWNER_UID, &uid) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_FAMILY, &family) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_SOCKTYPE, &type) < 0 ||
                            proto_get_binary(&item, PROTO_ATTR_SOCKADDR, &addr, &addr_len) < 0 ||
                            addr_len > sizeof(struct sockaddr_storage))
                                goto fail;
                        if (n == 0 || strcmp(h[n - 1].name, name) != 0) {
                                netutil_held *grown = reallocarray(h, n + 1, sizeof(*h));
                                if (!grown) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                h = grown;
                                h[n] = (netutil_held) { .name = strdup(name), .owner_uid = uid };
                                if (!h[n++].name) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                        }
                        s = reallocarray(h[n - 1].sockets, h[n - 1].n_sockets + 1, sizeof(*s));
                        if (!s) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        h[n - 1].sockets = s;
                        s = &s[h[n - 1].n_sockets++];
                        *s = (netutil_socket) { .fd = -1, .family = (int) family, .type = (int) type };
                        memcpy(&s->address, addr, addr_len);
                        s->address_len = (socklen_t) addr_len;
                }
        }
        *ret = h;
        return (int) n;

fail:
        netutil_held_free(h, n);
        return r;
}

_public_ int netutil_hold_list(netutil_client *c, uint64_t timeout_usec, netutil_held **ret) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = client_new_request(c, PROTO_MSG_HOLD_LIST, &m);
        if (r < 0)
                return r;
        r = client_call(c, m, timeout_usec, &reply);
        if (r < 0)
                return r;
        return client_parse_held(reply, ret);
}

int client_release_request(netutil_client *c, const char *name, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        r = client_new_request(c, PROTO_MSG_HOLD_RELEASE, &m);
        if (r < 0)
                return r;
        r = proto_msg_append_string(m, PROTO_ATTR_NAME, name);
        if (r < 0)
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

_public_ int netutil_hold_release(netutil_client *c, const char *name, uint64_t timeout_usec) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !name)
                return -EINVAL;
        r = client_release_request(c, name, &m);
        if (r < 0)
                return r;
        return client_call(c, m, timeout_usec, &reply);
}

