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
DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_status, netutil_status_free);

static int status_parse(const ClientReply *reply, netutil_status **ret) {
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
        return status_parse(reply, ret);
}

typedef struct StatusCall {
        netutil_status_handler_t callback;
        void *userdata;
} StatusCall;

static void status_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) StatusCall *call = userdata;
        _cleanup_(netutil_status_freep) netutil_status *s = NULL;

        if (!c)
                return; /* cancelled: the user asked not to be called */
        if (error == 0)
                error = status_parse(*reply, &s);
        call->callback(c, error, error < 0 ? NULL : s, call->userdata);
}

_public_ int netutil_status_get_async(netutil_client *c, uint64_t timeout_usec, netutil_status_handler_t callback,
                                      void *userdata, netutil_request **ret_request) {
        StatusCall *call;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        call = malloc(sizeof(*call));
        if (!call)
                return -ENOMEM;
        *call = (StatusCall) { callback, userdata };
        r = client_new_request(c, PROTO_MSG_STATUS, &m);
        if (r >= 0)
                r = client_call_async(c, m, timeout_usec, status_done, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}
