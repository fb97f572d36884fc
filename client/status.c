/* SPDX-License-Identifier: MIT */

/*
 * STATUS for libnetutil: blocking and asynchronous forms, and the reply parser. Owns the
 * netutil_status object; must not know about the connection beyond client.h.
 */

#include <errno.h>
#include <string.h>

#include "client.h"

_public_ netutil_status *netutil_status_free(netutil_status *s) {
        if (!s)
                return NULL;
        free(s->version);
        free(s->resolver);
        free(s->mode);
        free(s);
        return NULL;
}

int client_parse_status(const ClientReply *reply, netutil_status **ret) {
        _cleanup_(netutil_status_freep) netutil_status *s = NULL;
        const ProtoView *v;
        int r;

        if (reply->n_parts != 1)
                return -EBADMSG;
        v = &reply->views[0];

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if ((r = client_strdup_attr(v, PROTO_ATTR_VERSION, &s->version)) < 0 ||
            (r = client_strdup_attr(v, PROTO_ATTR_RESOLVER, &s->resolver)) < 0 ||
            (r = client_strdup_attr(v, PROTO_ATTR_MODE, &s->mode)) < 0)
                return r;
        /* Counters a daemon of this version always sends. */
        if (proto_get_u32(v, PROTO_ATTR_PID, &s->pid) < 0 ||
            proto_get_u64(v, PROTO_ATTR_UPTIME_USEC, &s->uptime_usec) < 0 ||
            proto_get_u32(v, PROTO_ATTR_CLIENTS, &s->clients) < 0)
                return -EBADMSG;
        /* Optional ones stay 0 when absent. */
        (void) proto_get_u32(v, PROTO_ATTR_HELD, &s->held);
        (void) proto_get_u32(v, PROTO_ATTR_OVERRIDES, &s->overrides);
        (void) proto_get_u32(v, PROTO_ATTR_POLICY_RULES, &s->policy_rules);
        (void) proto_get_u32(v, PROTO_ATTR_MAX_CLIENTS, &s->max_clients);
        (void) proto_get_u64(v, PROTO_ATTR_REQUESTS, &s->requests);

        *ret = TAKE_PTR(s);
        return 0;
}

_public_ int netutil_status_get(netutil_client *c, uint64_t timeout_usec, netutil_status **ret) {
        _cleanup_(client_reply_freep) ClientReply *reply = NULL;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = client_new_request(c, PROTO_MSG_STATUS, &m);
        if (r < 0)
                return r;
        r = client_call(c, m, timeout_usec, &reply);
        if (r < 0)
                return r;
        return client_parse_status(reply, ret);
}

