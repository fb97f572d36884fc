/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libnetutil internals: the request engine every typed operation (status.c, and bind,
 * resolve, ... to come) is built on. Not installed.
 */

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"

/* A complete reply: one part, or several joined (PROTO_FLAG_MORE). Owns its fds until
 * client_reply_take_fd(); the typed parsers walk views[0..n_parts). */
typedef struct ClientReply {
        size_t n_parts;
        ProtoView *views;
        uint8_t **bufs;     /* owned copies of each part's bytes */
        int *fds;           /* every part's fds, in order */
        size_t n_fds;
        unsigned *fd_base;  /* index in fds[] of each part's first fd */
} ClientReply;

ClientReply *client_reply_free(ClientReply *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ClientReply, client_reply_free);

/* Takes the fd that item attribute FD_INDEX = idx of part names; -EBADMSG if there is no
 * such fd or it was taken. */
int client_reply_take_fd(ClientReply *r, size_t part, uint32_t idx);

/* Blocking request: sends msg (consumed) and waits for the whole reply. A reply with an
 * error status returns -status after recording its message on c. */
int client_call(netutil_client *c, ProtoMsg *msg, uint64_t timeout_usec, ClientReply **ret);

/* Asynchronous request: callback is called exactly once, with error 0 and the reply
 * (freed after the callback unless it took ownership by setting *reply to NULL), or with
 * -errno and NULL. When the request was cancelled (netutil_request_cancel(),
 * netutil_client_close()) c is NULL: free your state and do not call the user. */
typedef void (*client_callback_t)(netutil_client *c, int error, ClientReply **reply, void *userdata);
int client_call_async(netutil_client *c, ProtoMsg *msg, uint64_t timeout_usec, client_callback_t callback,
                      void *userdata, netutil_request **ret);

/* A new request message with the next serial of c. */
int client_new_request(netutil_client *c, uint16_t type, ProtoMsg **ret);

/* Strings from a reply, copied. */
int client_strdup_attr(const ProtoView *v, uint16_t type, char **ret);

/* Reply items (family, socktype, sockaddr, fd) as netutil_socket; takes their fds. */
int client_parse_sockets(ClientReply *reply, netutil_socket **ret, size_t *ret_n);
