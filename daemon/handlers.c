/* SPDX-License-Identifier: MIT */

/*
 * The table from message type to handler. Owns nothing else: each request's meaning
 * lives in its module (status.c, and the hand-over and resolver modules to come).
 */

#include "fdstore.h"
#include "handlers.h"
#include "held.h"
#include "override.h"

static const Handler handlers[_PROTO_MSG_MAX] = {
        [PROTO_MSG_STATUS] = { .func = status_handle, .max_fds = 0 },
        [PROTO_MSG_BIND] = { .func = bind_handle, .max_fds = 0 },
        [PROTO_MSG_BIND_UNIX] = { .func = bind_unix_handle, .max_fds = 0 },
        [PROTO_MSG_HOLD_LIST] = { .func = hold_list_handle, .max_fds = 0 },
        [PROTO_MSG_HOLD_RELEASE] = { .func = hold_release_handle, .max_fds = 0 },
        [PROTO_MSG_TAKEOVER] = { .func = takeover_handle, .max_fds = 0 },
        [PROTO_MSG_RESOLVE] = { .func = resolve_handle, .max_fds = 0 },
        [PROTO_MSG_OVERRIDE_SET] = { .func = override_set_handle, .max_fds = 0 },
        [PROTO_MSG_OVERRIDE_DEL] = { .func = override_del_handle, .max_fds = 0 },
        [PROTO_MSG_OVERRIDE_LIST] = { .func = override_list_handle, .max_fds = 0 },
        [PROTO_MSG_OVERRIDE_CLEAR] = { .func = override_clear_handle, .max_fds = 0 },
};

const Handler *handler_lookup(uint16_t type) {
        if (type >= _PROTO_MSG_MAX || !handlers[type].func)
                return NULL;
        return &handlers[type];
}
