/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libnetutil internals: the request engine every typed operation is built on (client.c
 * blocking, client-async.c on sd-event), and the typed parsers the blocking and the
 * asynchronous forms share. Not installed.
 */

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "rules-file-format.h"

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
/* An asynchronous request answered without the daemon: callback runs from the loop's next
 * iteration with error 0 and a NULL reply (the caller's userdata carries the answer), or as
 * any request does when it is cancelled or the client closes first. */
int client_call_async_local(netutil_client *c, client_callback_t callback, void *userdata, netutil_request **ret);

struct netutil_request {
        netutil_client *client;
        uint32_t serial;
        client_callback_t callback;
        void *userdata;
        sd_event_source *timeout;
        ClientReply *partial;
        netutil_request *next, *prev;
};

/* The daemon's rules file, mapped (rules.c). */
typedef struct ClientRules {
        char *path;  /* SOCKET_PATH.rules; NULL: not used (NETUTIL_RULES_FILE=0) */
        bool mapped; /* dev/ino is the inode judged last; map is NULL if it was not valid */
        dev_t dev;
        ino_t ino;
        struct timespec ctim;
        void *map;
        size_t size;
        RulesFileView view;
} ClientRules;

int client_rules_init(ClientRules *r, const char *socket_path);
void client_rules_done(ClientRules *r);
/* An override hit on a literal target from c's rules file: 1 and one address in *ret, 0 if
 * only the daemon can answer (no file, no rule, ..., a request of c in flight, its daemon
 * hung up), -ENOMEM. scope as the caller gave it (NULL: $NETUTIL_SCOPE). */
int client_rules_answer(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                        netutil_address **ret);

typedef struct OutMsg {
        ProtoMsg *msg;
        struct OutMsg *next;
} OutMsg;

/* A connection. Shared by client.c (blocking) and client-async.c; the sd-event members
 * are only ever touched by client-async.c. */
struct netutil_client {
        unsigned n_ref; /* callbacks may close the client while io_cb still runs */
        int fd;
        uint32_t serial;
        char error_message[PROTO_MAX_ERROR_MESSAGE];
        bool has_error_message;
        int error_gai;

        sd_event *event;
        sd_event_source *io;
        netutil_request *pending;
        OutMsg *out_head, *out_tail;

        ProtoRecv *recv;
        ClientRules rules;
        void (*async_close)(netutil_client *c); /* set by client-async.c */
};

/* A new request message with the next serial of c. */
int client_new_request(netutil_client *c, uint16_t type, ProtoMsg **ret);

/* Shared by client.c and client-async.c. */
uint64_t client_timeout_or_default(uint64_t t);
void client_unref(netutil_client *c);
void client_clear_error(netutil_client *c);
int client_reply_error(netutil_client *c, const ProtoView *v);
int client_read_one(netutil_client *c, ProtoView *v, ssize_t *ret_n);
int client_send_failed(netutil_client *c, int error);
int client_reply_add_part(ClientReply *r, ProtoRecv *rcv, size_t n, const ProtoView *v);

/* Strings from a reply, copied. */
int client_strdup_attr(const ProtoView *v, uint16_t type, char **ret);

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_status, netutil_status_free);

/* Requests and parsers shared by the blocking and the asynchronous forms. */
int client_parse_status(const ClientReply *reply, netutil_status **ret);
int client_bind_request(netutil_client *c, const netutil_bind_options *o, ProtoMsg **ret);
int client_bind_unix_request(netutil_client *c, const netutil_bind_unix_options *o, ProtoMsg **ret);
int client_parse_held(const ClientReply *reply, netutil_held **ret);
int client_release_request(netutil_client *c, const char *name, ProtoMsg **ret);
/* The scope a resolve names: scope, or $NETUTIL_SCOPE if NULL; NULL for the global table. */
const char *client_resolve_scope(const char *scope);
int client_resolve_request(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                           ProtoMsg **ret);
int client_parse_addresses(const ClientReply *reply, netutil_address **ret);
/* OVERRIDE_* requests for the key (host, port, family) of scope; absent parts left out. */
int client_override_request(netutil_client *c, uint16_t type, const char *scope, const char *host, int port,
                            int family, ProtoMsg **ret);
int client_override_set_request(netutil_client *c, const char *scope, const char *host, int port, int family,
                                const char *target, int target_port, uint64_t ttl_usec, ProtoMsg **ret);
/* The rules of an OVERRIDE_LIST reply: their count and a new array in *ret. */
int client_parse_overrides(const ClientReply *reply, netutil_override **ret);

/* Reply items (family, socktype, sockaddr, fd) as netutil_socket; takes their fds. */
int client_parse_sockets(ClientReply *reply, netutil_socket **ret, size_t *ret_n);
