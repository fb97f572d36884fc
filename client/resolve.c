/* SPDX-License-Identifier: MIT */

/* RESOLVE and OVERRIDE_* for libnetutil: requests, blocking and async calls, parsers. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"

const char *client_resolve_scope(const char *scope) {
        if (!scope)
                scope = secure_getenv("NETUTIL_SCOPE");
        return scope && *scope ? scope : NULL;
}

int client_resolve_request(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                           ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        if (!host || port > 65535)
                return -EINVAL;
        scope = client_resolve_scope(scope);
        r = client_new_request(c, PROTO_MSG_RESOLVE, &m);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_string(m, PROTO_ATTR_HOST, host)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_PORT, port)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) family)) < 0 ||
            (scope && (r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, scope)) < 0))
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

int client_parse_addresses(const ClientReply *reply, netutil_address **ret) {
        _cleanup_(freep) netutil_address *a = NULL;
        size_t n = 0;

        for (size_t p = 0; p < reply->n_parts; p++) {
                ProtoIter it;
                ProtoAttr attr;

                proto_iter_init(&it, &reply->views[p]);
                while (proto_iter_next(&it, &attr)) {
                        netutil_address *grown;
                        ProtoView item;
                        const void *sa;
                        size_t len;
                        uint32_t family;

                        if (attr.type != PROTO_ATTR_ITEM)
                                continue;
                        if (proto_attr_nested(&attr, &item) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_FAMILY, &family) < 0 ||
                            proto_get_binary(&item, PROTO_ATTR_SOCKADDR, &sa, &len) < 0 ||
                            len > sizeof(struct sockaddr_storage))
                                return -EBADMSG;
                        grown = reallocarray(a, n + 1, sizeof(*a));
                        if (!grown)
                                return -ENOMEM;
                        a = grown;
                        a[n] = (netutil_address) { .family = (int) family, .address_len = (socklen_t) len };
                        memcpy(&a[n].address, sa, len);
                        n++;
                }
        }
        *ret = TAKE_PTR(a);
        return (int) n;
}

_public_ int netutil_resolve(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                             uint64_t timeout_usec, netutil_address **ret) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = client_resolve_request(c, host, port, family, scope, &m);
        if (r < 0)
                return r;
        /* A hit on a literal target: from the rules file, as the daemon would answer it. */
        r = client_rules_answer(c, host, port, family, scope, ret);
        if (r != 0) {
                proto_msg_free(m);
                if (r > 0)
                        client_clear_error(c);
                return r;
        }
        r = client_call(c, m, timeout_usec, &reply);
        if (r < 0)
                return r;
        return client_parse_addresses(reply, ret);
}


/* ---- Overrides ------------------------------------------------------------------------ */

_public_ netutil_override *netutil_overrides_free(netutil_override *o, size_t n) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                free(o[i].scope);
                free(o[i].host);
                free(o[i].target);
                free(o[i].source);
        }
        free(o);
        return NULL;
}

/* A request for the table scope with the key (host, port, family); absent parts left out. */
int client_override_request(netutil_client *c, uint16_t type, const char *scope, const char *host, int port,
                            int family, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        if (port > 65535 || (family >= 0 && port < 0))
                return -EINVAL;
        r = client_new_request(c, type, &m);
        if (r < 0)
                return r;
        if ((scope && (r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, scope)) < 0) ||
            (host && (r = proto_msg_append_string(m, PROTO_ATTR_HOST, host)) < 0) ||
            (port >= 0 && (r = proto_msg_append_u32(m, PROTO_ATTR_PORT, (uint32_t) port)) < 0) ||
            (family >= 0 && (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) family)) < 0))
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int call_simple(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;

        return client_call(c, m, timeout_usec, &reply);
}

int client_override_set_request(netutil_client *c, const char *scope, const char *host, int port, int family,
                                const char *target, int target_port, uint64_t ttl_usec, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        if (!host || !target || target_port > 65535 || (port < 0) != (target_port < 0))
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_SET, scope, host, port, family, &m);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_string(m, PROTO_ATTR_TARGET, target)) < 0 ||
            (target_port >= 0 && (r = proto_msg_append_u32(m, PROTO_ATTR_TARGET_PORT, (uint32_t) target_port)) < 0) ||
            (ttl_usec > 0 && (r = proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, ttl_usec)) < 0))
                return r == -EINVAL ? -ENAMETOOLONG : r;
        *ret = TAKE_PTR(m);
        return 0;
}

_public_ int netutil_override_set(netutil_client *c, const char *scope, const char *host, int port, int family,
                                  const char *target, int target_port, uint64_t ttl_usec, uint64_t timeout_usec) {
        ProtoMsg *m = NULL;
        int r;

        if (!c)
                return -EINVAL;
        r = client_override_set_request(c, scope, host, port, family, target, target_port, ttl_usec, &m);
        if (r < 0)
                return r;
        return call_simple(c, m, timeout_usec);
}

_public_ int netutil_override_del(netutil_client *c, const char *scope, const char *host, int port, int family,
                                  uint64_t timeout_usec) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !host)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_DEL, scope, host, port, family, &m);
        if (r < 0)
                return r;
        return call_simple(c, m, timeout_usec);
}

_public_ int netutil_override_clear(netutil_client *c, const char *scope, uint64_t timeout_usec) {
        ProtoMsg *m = NULL;
        int r;

        if (!c)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_CLEAR, scope, NULL, -1, -1, &m);
        if (r < 0)
                return r;
        return call_simple(c, m, timeout_usec);
}

_public_ int netutil_override_list(netutil_client *c, const char *scope, uint64_t timeout_usec,
                                   netutil_override **ret) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_LIST, scope, NULL, -1, -1, &m);
        if (r < 0)
                return r;
        r = client_call(c, m, timeout_usec, &reply);
        if (r < 0)
                return r;
        return client_parse_overrides(reply, ret);
}

int client_parse_overrides(const ClientReply *reply, netutil_override **ret) {
        netutil_override *o = NULL;
        size_t n = 0;
        int r;

        for (size_t p = 0; p < reply->n_parts; p++) {
                ProtoIter it;
                ProtoAttr a;

                proto_iter_init(&it, &reply->views[p]);
                while (proto_iter_next(&it, &a)) {
                        netutil_override *grown;
                        ProtoView item;
                        const char *s = NULL, *host, *target;
                        uint32_t u;
                        uint64_t ttl;

                        if (a.type != PROTO_ATTR_ITEM)
                                continue;
                        if (proto_attr_nested(&a, &item) < 0 || proto_get_string(&item, PROTO_ATTR_HOST, &host) < 0 ||
                            proto_get_string(&item, PROTO_ATTR_TARGET, &target) < 0) {
                                r = -EBADMSG;
                                goto fail;
                        }
                        grown = reallocarray(o, n + 1, sizeof(*o));
                        if (!grown) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        o = grown;
                        o[n] = (netutil_override) { .port = -1, .family = -1, .target_port = -1, .expires_in_usec = -1 };
                        (void) proto_get_string(&item, PROTO_ATTR_SCOPE, &s);
                        o[n].scope = s ? strdup(s) : NULL;
                        o[n].host = strdup(host);
                        o[n].target = strdup(target);
                        n++;
                        if ((s && !o[n - 1].scope) || !o[n - 1].host || !o[n - 1].target) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        if (proto_get_u32(&item, PROTO_ATTR_PORT, &u) >= 0)
                                o[n - 1].port = (int) u;
                        if (proto_get_u32(&item, PROTO_ATTR_FAMILY, &u) >= 0)
                                o[n - 1].family = (int) u;
                        if (proto_get_u32(&item, PROTO_ATTR_TARGET_PORT, &u) >= 0)
                                o[n - 1].target_port = (int) u;
                        if (proto_get_u64(&item, PROTO_ATTR_TTL_USEC, &ttl) >= 0)
                                o[n - 1].expires_in_usec = (int64_t) ttl;
                        if (proto_get_string(&item, PROTO_ATTR_SOURCE, &s) >= 0 && !(o[n - 1].source = strdup(s))) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
        }
        *ret = o;
        return (int) n;

fail:
        netutil_overrides_free(o, n);
        return r;
}
