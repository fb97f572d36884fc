/* SPDX-License-Identifier: MIT */
#ifndef NETUTIL_H
#define NETUTIL_H

/*
 * libnetutil — the client library of netutild.
 *
 * Conventions, for every function below:
 *   - Functions return an int: >= 0 on success, -errno on failure (a negative errno
 *     value, never -1 with errno set). Errors the daemon sends back arrive as its errno,
 *     with its message in words available from netutil_client_error_message().
 *   - Out-parameters (ret) are written only on success.
 *   - Objects the library returns are owned by the caller and freed with the matching
 *     _free() or _close() function, which accepts NULL and returns NULL.
 *   - File descriptors the library returns are the caller's to close; every fd the
 *     library creates or receives is close-on-exec.
 *   - A netutil_client is not thread-safe: use one per thread, or lock around it.
 *   - Timeouts are in microseconds; 0 means the default (NETUTIL_DEFAULT_TIMEOUT_USEC),
 *     UINT64_MAX means none.
 *   - The library never logs, never installs signal handlers and never raises SIGPIPE.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 25 s, as sd-bus's default method call timeout. */
#define NETUTIL_DEFAULT_TIMEOUT_USEC (25ULL * 1000ULL * 1000ULL)

typedef struct netutil_client netutil_client;
typedef struct netutil_request netutil_request;

/* ---- Connection ------------------------------------------------------------------- */

/* Writes the daemon socket path clients use when none is given, as CLI.md orders it:
 * $NETUTILD_SOCKET, then /run/netutild/netutild.sock for root, then
 * $XDG_RUNTIME_DIR/netutild/netutild.sock. *ret is malloc()ed and the caller's.
 * Returns 0, -ENXIO (not root and no $XDG_RUNTIME_DIR) or -ENOMEM. */
int netutil_default_socket_path(char **ret);

/* Connects to the daemon at path (NULL: netutil_default_socket_path()). The connection
 * is non-blocking underneath; blocking calls wait with poll(). Returns 0 and the new
 * client in *ret, or -errno: -ENOENT/-ECONNREFUSED (no daemon), -ENAMETOOLONG, -ENOMEM. */
int netutil_client_open(const char *path, netutil_client **ret);

/* Cancels every pending asynchronous request without calling its callback, detaches
 * from the event loop, closes the connection and frees c. Returns NULL. */
netutil_client *netutil_client_close(netutil_client *c);

/* The connection's fd (owned by c: do not close it), for poll() by callers without
 * sd-event. */
int netutil_client_get_fd(const netutil_client *c);

/* The daemon's message for the last failed request on c ("Permission denied by policy:
 * ..."), or NULL if the last failure was local or nothing failed. Valid until the next
 * call on c. */
const char *netutil_client_error_message(const netutil_client *c);

/* The resolver's EAI_* code of the last failed request, or 0. */
int netutil_client_error_gai(const netutil_client *c);

/* The name of an EAI_* code ("EAI_NONAME"), or NULL for a code glibc does not define. */
const char *netutil_gai_name(int code);

/* Attaches c to event loop e (a reference is taken) at the given priority, so that
 * asynchronous requests can be made. Returns 0, -EBUSY if already attached, or -errno. */
int netutil_client_attach_event(netutil_client *c, sd_event *e, int64_t priority);

/* Detaches c from its event loop. Pending asynchronous requests fail with -ECANCELED
 * through their callbacks first. Returns 0. */
int netutil_client_detach_event(netutil_client *c);

/* Cancels one pending asynchronous request: its callback is never called and its reply
 * is discarded (with any fds in it) when it arrives. Returns NULL; NULL is fine. The
 * handle is invalid after the callback has run. */
netutil_request *netutil_request_cancel(netutil_request *r);

/* ---- Status ----------------------------------------------------------------------- */

/* What the daemon reports about itself. Fields are only ever appended. */
typedef struct netutil_status {
        char *version;         /* daemon version */
        uint32_t pid;          /* daemon pid */
        uint64_t uptime_usec;  /* since the daemon started */
        uint32_t clients;      /* connected clients, this one included */
        uint32_t held;         /* held sockets */
        uint32_t overrides;    /* override rules in all tables */
        char *resolver;        /* "threadpool", "cares" or "blocking" */
        char *mode;            /* "system" or "user" */
        uint32_t policy_rules; /* policy rules in force */
        uint32_t max_clients;  /* MaxClients= */
        uint64_t requests;     /* requests served since start */
} netutil_status;

netutil_status *netutil_status_free(netutil_status *s);

/* Asks the daemon for its status and waits up to timeout_usec. Returns 0 and a new
 * netutil_status in *ret (the caller frees it), or -errno: -ETIMEDOUT, -ECONNRESET (the
 * daemon went away), -EBUSY (asynchronous requests are pending on c: a client is used
 * either blocking or asynchronously at one time), -EUSERS (the daemon has too many
 * clients), -EBADMSG (a malformed reply). */
int netutil_status_get(netutil_client *c, uint64_t timeout_usec, netutil_status **ret);

/* Called once with error 0 and the status (valid during the call only; the library
 * frees it afterwards), or with -errno and NULL. */
typedef void (*netutil_status_handler_t)(netutil_client *c, int error, const netutil_status *status,
                                         void *userdata);

/* The same, asynchronous, on the event loop c is attached to. ret_request may be NULL;
 * otherwise it receives a handle for netutil_request_cancel(). Returns 0 or -errno:
 * -ENXIO (c is not attached to an event loop), -ENOMEM. */
int netutil_status_get_async(netutil_client *c, uint64_t timeout_usec, netutil_status_handler_t callback,
                             void *userdata, netutil_request **ret_request);

/* ---- Sockets from the daemon -------------------------------------------------------- */

/* A socket handed over by the daemon. */
typedef struct netutil_socket {
        int fd;                          /* the caller's to close (netutil_sockets_free does) */
        int family;                      /* AF_INET, AF_INET6 or AF_UNIX */
        int type;                        /* SOCK_STREAM or SOCK_DGRAM */
        struct sockaddr_storage address; /* as bound (getsockname) */
        socklen_t address_len;
} netutil_socket;

/* Closes every fd >= 0 in s[0..n) and frees s. Returns NULL; NULL is fine. Set an fd to -1
 * first to keep it. */
netutil_socket *netutil_sockets_free(netutil_socket *s, size_t n);

/* What to bind, as Tornado's bind_sockets(port, address, family, backlog, flags,
 * reuse_port). Start from NETUTIL_BIND_OPTIONS_INIT; fields are only ever appended. */
typedef struct netutil_bind_options {
        const char *port;    /* decimal port or service name; NULL = Tornado's None */
        const char *address; /* NULL or "" = all interfaces */
        int family;          /* AF_UNSPEC (both), AF_INET or AF_INET6 */
        int backlog;         /* listen() backlog (default 128) */
        int flags;           /* getaddrinfo() flags; -1 = AI_PASSIVE (default) */
        int reuse_port;      /* non-zero: SO_REUSEPORT */
        int udp;             /* non-zero: SOCK_DGRAM, no listen() */
        const char *name;    /* held socket or reuseport group name, or NULL */
        int hold;            /* non-zero: the daemon keeps the socket(s) under name */
} netutil_bind_options;

#define NETUTIL_BIND_OPTIONS_INIT { .port = NULL, .address = NULL, .family = 0, .backlog = 128, .flags = -1 }

/* Asks the daemon to bind. On success returns the number of sockets (0 is possible, as in
 * Tornado) and a new array in *ret (the caller owns the fds: netutil_sockets_free()).
 * Errors: -EPERM (policy; the reason in netutil_client_error_message()), -EADDRINUSE,
 * -EADDRNOTAVAIL with netutil_client_error_gai() set when the address or port did not
 * resolve, -EAFNOSUPPORT, -ETIMEDOUT, -ECONNRESET, -EBUSY (async requests pending). */
int netutil_bind(netutil_client *c, const netutil_bind_options *opts, uint64_t timeout_usec, netutil_socket **ret);

/* Called once with the sockets (n >= 0; the callback owns them and frees them with
 * netutil_sockets_free()) or with -errno, NULL and 0. */
typedef void (*netutil_bind_handler_t)(netutil_client *c, int error, netutil_socket *sockets, size_t n,
                                       void *userdata);
int netutil_bind_async(netutil_client *c, const netutil_bind_options *opts, uint64_t timeout_usec,
                       netutil_bind_handler_t callback, void *userdata, netutil_request **ret_request);

/* What Tornado's bind_unix_socket(file, mode, backlog) takes, plus hold. Start from
 * NETUTIL_BIND_UNIX_OPTIONS_INIT; fields are only ever appended. */
typedef struct netutil_bind_unix_options {
        const char *path; /* absolute and normalized, or a leading NUL for an abstract name */
        size_t path_len;  /* bytes of path; 0 = strlen(path) (needed only for abstract names) */
        unsigned mode;    /* node permissions (default 0600) */
        int backlog;      /* listen() backlog (default 128) */
        const char *name; /* held socket name, or NULL */
        int hold;         /* non-zero: the daemon keeps the socket under name */
} netutil_bind_unix_options;

#define NETUTIL_BIND_UNIX_OPTIONS_INIT { .path = NULL, .path_len = 0, .mode = 0600, .backlog = 128 }

/* Asks the daemon for a listening unix stream socket at path, owned by the caller's uid
 * and gid with the given mode from the moment it appears. An existing socket at path is
 * replaced; anything else is refused (-EEXIST, "File PATH exists and is not a socket").
 * The directory must be allowed by the policy (-EPERM) and no symlink below it is
 * followed (-ENOTDIR). Returns 1 and the socket in *ret (an array of one, for
 * netutil_sockets_free()), or -errno. */
int netutil_bind_unix(netutil_client *c, const netutil_bind_unix_options *opts, uint64_t timeout_usec,
                      netutil_socket **ret);
/* The same, asynchronous; the callback is that of netutil_bind_async(). */
int netutil_bind_unix_async(netutil_client *c, const netutil_bind_unix_options *opts, uint64_t timeout_usec,
                            netutil_bind_handler_t callback, void *userdata, netutil_request **ret_request);

/* A name the daemon holds sockets under (netutil_hold_list()). */
typedef struct netutil_held {
        char *name;
        uint32_t owner_uid;
        netutil_socket *sockets; /* descriptions only: fd is -1 */
        size_t n_sockets;
} netutil_held;

netutil_held *netutil_held_free(netutil_held *h, size_t n);

/* Lists the held names the caller may use (its own; root: all). Returns the number of
 * names and a new array in *ret, or -errno. */
int netutil_hold_list(netutil_client *c, uint64_t timeout_usec, netutil_held **ret);

/* Closes the daemon's copy of a held name. Applications that got the sockets keep them.
 * Returns 0, -ENOENT (no such name visible to the caller), or -errno. */
int netutil_hold_release(netutil_client *c, const char *name, uint64_t timeout_usec);

/* Asynchronous forms. The list callback owns the array (netutil_held_free()). */
typedef void (*netutil_hold_list_handler_t)(netutil_client *c, int error, netutil_held *held, size_t n,
                                            void *userdata);
typedef void (*netutil_done_handler_t)(netutil_client *c, int error, void *userdata);
int netutil_hold_list_async(netutil_client *c, uint64_t timeout_usec, netutil_hold_list_handler_t callback,
                            void *userdata, netutil_request **ret_request);
int netutil_hold_release_async(netutil_client *c, const char *name, uint64_t timeout_usec,
                               netutil_done_handler_t callback, void *userdata, netutil_request **ret_request);

#ifdef __cplusplus
}
#endif

#endif
