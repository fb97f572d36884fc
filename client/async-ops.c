/* SPDX-License-Identifier: MIT */

/*
 * The asynchronous forms of the typed calls: each builds its request with the same code
 * as the blocking form, sends it with client_call_async() and parses the reply with the
 * same parser. Kept apart from the blocking forms so that a program using only those
 * (netutilctl) does not pull in libsystemd.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

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
                error = client_parse_status(*reply, &s);
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

typedef struct SocketsCall {
        netutil_bind_handler_t callback;
        void *userdata;
} SocketsCall;

static void sockets_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) SocketsCall *call = userdata;
        netutil_socket *s = NULL;
        size_t n = 0;

        if (!c)
                return; /* cancelled: the user asked not to be called */
        if (error == 0)
                error = client_parse_sockets(*reply, &s, &n);
        call->callback(c, error, error < 0 ? NULL : s, error < 0 ? 0 : n, call->userdata);
}

static int sockets_call_async(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec, netutil_bind_handler_t callback,
                              void *userdata, netutil_request **ret_request) {
        SocketsCall *call;
        int r;

        call = malloc(sizeof(*call));
        if (!call) {
                proto_msg_free(m);
                return -ENOMEM;
        }
        *call = (SocketsCall) { callback, userdata };
        r = client_call_async(c, m, timeout_usec, sockets_done, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}

_public_ int netutil_bind_async(netutil_client *c, const netutil_bind_options *opts, uint64_t timeout_usec,
                                netutil_bind_handler_t callback, void *userdata, netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !opts || !callback)
                return -EINVAL;
        r = client_bind_request(c, opts, &m);
        if (r < 0)
                return r;
        return sockets_call_async(c, m, timeout_usec, callback, userdata, ret_request);
}

_public_ int netutil_bind_unix_async(netutil_client *c, const netutil_bind_unix_options *opts, uint64_t timeout_usec,
                                     netutil_bind_handler_t callback, void *userdata, netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !opts || !callback)
                return -EINVAL;
        r = client_bind_unix_request(c, opts, &m);
        if (r < 0)
                return r;
        return sockets_call_async(c, m, timeout_usec, callback, userdata, ret_request);
}

typedef struct HoldCall {
        netutil_hold_list_handler_t list;
        netutil_done_handler_t done;
        void *userdata;
} HoldCall;

static void hold_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) HoldCall *call = userdata;
        netutil_held *h = NULL;
        int n = 0;

        if (!c)
                return; /* cancelled */
        if (call->done) {
                call->done(c, error, call->userdata);
                return;
        }
        if (error == 0)
                n = error = client_parse_held(*reply, &h);
        call->list(c, error < 0 ? error : 0, error < 0 ? NULL : h, error < 0 ? 0 : (size_t) n, call->userdata);
}

static int hold_call_async(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec, HoldCall how,
                           netutil_request **ret_request) {
        HoldCall *call = malloc(sizeof(*call));
        int r;

        if (!call) {
                proto_msg_free(m);
                return -ENOMEM;
        }
        *call = how;
        r = client_call_async(c, m, timeout_usec, hold_done, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}

_public_ int netutil_hold_list_async(netutil_client *c, uint64_t timeout_usec, netutil_hold_list_handler_t callback,
                                     void *userdata, netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_new_request(c, PROTO_MSG_HOLD_LIST, &m);
        if (r < 0)
                return r;
        return hold_call_async(c, m, timeout_usec, (HoldCall) { .list = callback, .userdata = userdata },
                               ret_request);
}

_public_ int netutil_hold_release_async(netutil_client *c, const char *name, uint64_t timeout_usec,
                                        netutil_done_handler_t callback, void *userdata,
                                        netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !name || !callback)
                return -EINVAL;
        r = client_release_request(c, name, &m);
        if (r < 0)
                return r;
        return hold_call_async(c, m, timeout_usec, (HoldCall) { .done = callback, .userdata = userdata },
                               ret_request);
}

typedef struct ResolveCall {
        netutil_resolve_handler_t callback;
        void *userdata;
} ResolveCall;

static void resolve_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) ResolveCall *call = userdata;
        netutil_address *a = NULL;
        int n = 0;

        if (!c)
                return; /* cancelled */
        if (error == 0)
                n = error = client_parse_addresses(*reply, &a);
        call->callback(c, error < 0 ? error : 0, error < 0 ? NULL : a, error < 0 ? 0 : (size_t) n, call->userdata);
}

_public_ int netutil_resolve_async(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                                   uint64_t timeout_usec, netutil_resolve_handler_t callback, void *userdata,
                                   netutil_request **ret_request) {
        ResolveCall *call;
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_resolve_request(c, host, port, family, scope, &m);
        if (r < 0)
                return r;
        call = malloc(sizeof(*call));
        if (!call) {
                proto_msg_free(m);
                return -ENOMEM;
        }
        *call = (ResolveCall) { callback, userdata };
        r = client_call_async(c, m, timeout_usec, resolve_done, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}

typedef struct OverrideCall {
        netutil_override_list_handler_t list;
        netutil_done_handler_t done;
        void *userdata;
} OverrideCall;

static void override_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) OverrideCall *call = userdata;
        netutil_override *o = NULL;
        int n = 0;

        if (!c)
                return; /* cancelled */
        if (call->done) {
                call->done(c, error, call->userdata);
                return;
        }
        if (error == 0)
                n = error = client_parse_overrides(*reply, &o);
        call->list(c, error < 0 ? error : 0, error < 0 ? NULL : o, error < 0 ? 0 : (size_t) n, call->userdata);
}

/* Sends m (consumed) and calls back how says. */
static int override_call_async(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec, OverrideCall how,
                               netutil_request **ret_request) {
        OverrideCall *call = malloc(sizeof(*call));
        int r;

        if (!call) {
                proto_msg_free(m);
                return -ENOMEM;
        }
        *call = how;
        r = client_call_async(c, m, timeout_usec, override_done, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}

_public_ int netutil_override_set_async(netutil_client *c, const char *scope, const char *host, int port, int family,
                                        const char *target, int target_port, uint64_t ttl_usec,
                                        uint64_t timeout_usec, netutil_done_handler_t callback, void *userdata,
                                        netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_override_set_request(c, scope, host, port, family, target, target_port, ttl_usec, &m);
        if (r < 0)
                return r;
        return override_call_async(c, m, timeout_usec, (OverrideCall) { .done = callback, .userdata = userdata },
                                   ret_request);
}

_public_ int netutil_override_del_async(netutil_client *c, const char *scope, const char *host, int port, int family,
                                        uint64_t timeout_usec, netutil_done_handler_t callback, void *userdata,
                                        netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !host || !callback)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_DEL, scope, host, port, family, &m);
        if (r < 0)
                return r;
        return override_call_async(c, m, timeout_usec, (OverrideCall) { .done = callback, .userdata = userdata },
                                   ret_request);
}

_public_ int netutil_override_clear_async(netutil_client *c, const char *scope, uint64_t timeout_usec,
                                          netutil_done_handler_t callback, void *userdata,
                                          netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_CLEAR, scope, NULL, -1, -1, &m);
        if (r < 0)
                return r;
        return override_call_async(c, m, timeout_usec, (OverrideCall) { .done = callback, .userdata = userdata },
                                   ret_request);
}

_public_ int netutil_override_list_async(netutil_client *c, const char *scope, uint64_t timeout_usec,
                                         netutil_override_list_handler_t callback, void *userdata,
                                         netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_override_request(c, PROTO_MSG_OVERRIDE_LIST, scope, NULL, -1, -1, &m);
        if (r < 0)
                return r;
        return override_call_async(c, m, timeout_usec, (OverrideCall) { .list = callback, .userdata = userdata },
                                   ret_request);
}
