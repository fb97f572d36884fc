/* SPDX-License-Identifier: MIT */

/*
 * STATUS: what the daemon is and how busy it is, for "netutilctl status". Owns the
 * reply's attributes; must not change any state.
 */

#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "macro.h"
#include "policy.h"

int status_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        Manager *mgr = req->manager;
        uint64_t now = now_usec();
        int r;

        r = request_new_reply(req, &m);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_string(m, PROTO_ATTR_VERSION, PACKAGE_VERSION)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_PID, (uint32_t) mgr->pid)) < 0 ||
            (r = proto_msg_append_u64(m, PROTO_ATTR_UPTIME_USEC, now - mgr->start_usec)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_CLIENTS, mgr->n_conns)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_HELD, mgr->n_held_sockets)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_OVERRIDES, mgr->n_overrides)) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_RESOLVER, manager_resolver_name(mgr))) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_MODE, mgr->user_mode ? "user" : "system")) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_POLICY_RULES, policy_rule_count(mgr->policy))) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_MAX_CLIENTS, mgr->config->max_clients)) < 0 ||
            (r = proto_msg_append_u64(m, PROTO_ATTR_REQUESTS, mgr->n_requests)) < 0)
                return r;
        return request_reply_msg(req, TAKE_PTR(m));
}
