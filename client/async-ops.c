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

/* A typed call in flight: the user's callback, stored as a generic function pointer and
 * cast back to its own type by the finisher that knows it (C allows the round trip). */
typedef void (*any_handler_t)(void);

typedef struct Call {
        any_handler_t callback;
        void *userdata;
} Call;

/* Sends m (consumed) and runs finish with a Call for callback and userdata. */
static int call_async(netutil_client *c, ProtoMsg *m, uint64_t timeout_usec, client_callback_t finish,
                      any_handler_t callback, void *userdata, netutil_request **ret_request) {
        Call *call = malloc(sizeof(*call));
        int r;

        if (!call) {
                proto_msg_free(m);
                return -ENOMEM;
        }
        *call = (Call) { callback, userdata };
        r = client_call_async(c, m, timeout_usec, finish, call, ret_request);
        if (r < 0)
                free(call);
        return r;
}

/* The finishers. c is NULL when the call was cancelled: the user asked not to be called. */

static void finish_done(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;

        if (c)
                ((netutil_done_handler_t) call->callback)(c, error, call->userdata);
}

static void finish_status(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;
        _cleanup_(netutil_status_freep) netutil_status *s = NULL;

        if (!c)
                return;
        if (error == 0)
                error = client_parse_status(*reply, &s);
        ((netutil_status_handler_t) call->callback)(c, error, error < 0 ? NULL : s, call->userdata);
}

static void finish_sockets(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;
        netutil_socket *s = NULL;
        size_t n = 0;

        if (!c)
                return;
        if (error == 0)
                error = client_parse_sockets(*reply, &s, &n);
        ((netutil_bind_handler_t) call->callback)(c, error, error < 0 ? NULL : s, error < 0 ? 0 : n, call->userdata);
}

static void finish_held(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;
        netutil_held *h = NULL;
        int n = 0;

        if (!c)
                return;
        if (error == 0)
                n = error = client_parse_held(*reply, &h);
        ((netutil_hold_list_handler_t) call->callback)(c, error < 0 ? error : 0, error < 0 ? NULL : h,
                                                       error < 0 ? 0 : (size_t) n, call->userdata);
}

static void finish_addresses(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;
        netutil_address *a = NULL;
        int n = 0;

        if (!c)
                return;
        if (error == 0)
                n = error = client_parse_addresses(*reply, &a);
        ((netutil_resolve_handler_t) call->callback)(c, error < 0 ? error : 0, error < 0 ? NULL : a,
                                                     error < 0 ? 0 : (size_t) n, call->userdata);
}

/* A resolve answered from the rules file: the Call and its one address. */
typedef struct LocalAddresses {
        Call call;
        netutil_address *a;
} LocalAddresses;

static void finish_local_addresses(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) LocalAddresses *l = userdata;
        _cleanup_(freep) netutil_address *a = TAKE_PTR(l->a);

        if (!c)
                return;
        ((netutil_resolve_handler_t) l->call.callback)(c, error, error < 0 ? NULL : TAKE_PTR(a), error < 0 ? 0 : 1,
                                                       l->call.userdata);
}

static void finish_overrides(netutil_client *c, int error, ClientReply **reply, void *userdata) {
        _cleanup_(freep) Call *call = userdata;
        netutil_override *o = NULL;
        int n = 0;

        if (!c)
                return;
        if (error == 0)
                n = error = client_parse_overrides(*reply, &o);
        ((netutil_override_list_handler_t) call->callback)(c, error < 0 ? error : 0, error < 0 ? NULL : o,
                                                           error < 0 ? 0 : (size_t) n, call->userdata);
}

/* The calls. Each returns what building its request or call_async() returned. */

_public_ int netutil_status_get_async(netutil_client *c, uint64_t timeout_usec, netutil_status_handler_t callback,
                                      void *userdata, netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_new_request(c, PROTO_MSG_STATUS, &m);
        if (r < 0)
                return r;
        return call_async(c, m, timeout_usec, finish_status, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_sockets, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_sockets, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_held, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_done, (any_handler_t) callback, userdata, ret_request);
}

_public_ int netutil_resolve_async(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                                   uint64_t timeout_usec, netutil_resolve_handler_t callback, void *userdata,
                                   netutil_request **ret_request) {
        ProtoMsg *m = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        r = client_resolve_request(c, host, port, family, scope, &m);
        if (r < 0)
                return r;
        /* A hit on a literal target, from the rules file as the blocking call answers it, from
         * the loop's next iteration. */
        if (c->event) {
                netutil_address *a = NULL;
                LocalAddresses *l;

                r = client_rules_answer(c, host, port, family, scope, &a);
                if (r != 0) {
                        proto_msg_free(m);
                        l = r > 0 ? malloc(sizeof(*l)) : NULL;
                        if (!l) {
                                free(a);
                                return r < 0 ? r : -ENOMEM;
                        }
                        *l = (LocalAddresses) { .call = { (any_handler_t) callback, userdata }, .a = a };
                        r = client_call_async_local(c, finish_local_addresses, l, ret_request);
                        if (r < 0) {
                                free(l->a);
                                free(l);
                        }
                        return r;
                }
        }
        return call_async(c, m, timeout_usec, finish_addresses, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_done, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_done, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_done, (any_handler_t) callback, userdata, ret_request);
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
        return call_async(c, m, timeout_usec, finish_overrides, (any_handler_t) callback, userdata, ret_request);
}
