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
        const char *port;    /* decimal port 0-65535 or service name; NULL = Tornado's None */
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
 * followed (-ENOTDIR); below it the caller's own permissions apply, as for its own bind()
 * (-EACCES). getsockname() of the socket shows path. The socket is listen()ed again in
 * this process, so that its peers' SO_PEERCRED shows this process (as for every unix
 * listener libnetutil receives). Returns 1 and the socket in *ret (an array of one, for
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

/* ---- Resolution and overrides ---------------------------------------------------------- */

/* One resolved address, ready for connect(). */
typedef struct netutil_address {
        int family;                      /* AF_INET or AF_INET6 */
        struct sockaddr_storage address; /* with the port; IPv6 with flowinfo and scope_id */
        socklen_t address_len;
} netutil_address;

/* Tornado's Resolver.resolve(host, port, family) through the daemon, overrides applied:
 * the scope's table, then the global one; (host, port, family), then (host, port), then
 * host; one substitution. scope NULL means $NETUTIL_SCOPE (read with secure_getenv), and
 * "" or an unset variable the global table only. Returns the number of addresses, in the
 * backend's order, with a new array in *ret (free() it); or -errno: a resolver failure is
 * -EADDRNOTAVAIL, -EAGAIN, ... with the EAI_* code in netutil_client_error_gai() and its
 * words in netutil_client_error_message(). */
int netutil_resolve(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                    uint64_t timeout_usec, netutil_address **ret);

/* The callback owns addresses (free()). */
typedef void (*netutil_resolve_handler_t)(netutil_client *c, int error, netutil_address *addresses, size_t n,
                                          void *userdata);
int netutil_resolve_async(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                          uint64_t timeout_usec, netutil_resolve_handler_t callback, void *userdata,
                          netutil_request **ret_request);

/* An override rule, as netutil_override_list() returns it. -1 marks an absent part. */
typedef struct netutil_override {
        char *scope;              /* NULL: the global table */
        char *host;
        int port;                 /* -1: a host-only rule */
        int family;               /* -1: no family in the key */
        char *target;
        int target_port;          /* -1: the port is kept */
        int64_t expires_in_usec;  /* -1: never */
        char *source;             /* a drop-in's "FILE:LINE": read-only; NULL: set by a client */
} netutil_override;

netutil_override *netutil_overrides_free(netutil_override *o, size_t n);

/* Sets (or replaces) a rule in scope (NULL: the global table, which needs an
 * AllowOverride rule or root; a scope is created for, and owned by, the caller):
 * host → target (port and target_port -1), (host, port) → (target, target_port), or with
 * family >= 0 (AF_UNSPEC, AF_INET, AF_INET6) (host, port, family) → (target,
 * target_port). ttl_usec 0: no expiry. Returns 0, -EPERM, -EDQUOT, -EINVAL, -errno. */
int netutil_override_set(netutil_client *c, const char *scope, const char *host, int port, int family,
                         const char *target, int target_port, uint64_t ttl_usec, uint64_t timeout_usec);
/* Removes the rule with exactly that key: 0, -ENOENT, -EPERM, -errno. */
int netutil_override_del(netutil_client *c, const char *scope, const char *host, int port, int family,
                         uint64_t timeout_usec);
/* The live rules of a table, oldest first: the count and a new array in *ret. */
int netutil_override_list(netutil_client *c, const char *scope, uint64_t timeout_usec, netutil_override **ret);
/* Removes every rule of a table (a scope goes with its last rule): 0, -ENOENT, -EPERM. */
int netutil_override_clear(netutil_client *c, const char *scope, uint64_t timeout_usec);

/* Asynchronous forms, with the arguments and errors of the blocking ones; set, del and
 * clear call back with the error only (netutil_done_handler_t), list with the rules, which
 * the callback owns (netutil_overrides_free()). */
typedef void (*netutil_override_list_handler_t)(netutil_client *c, int error, netutil_override *overrides,
                                                size_t n, void *userdata);
int netutil_override_set_async(netutil_client *c, const char *scope, const char *host, int port, int family,
                               const char *target, int target_port, uint64_t ttl_usec, uint64_t timeout_usec,
                               netutil_done_handler_t callback, void *userdata, netutil_request **ret_request);
int netutil_override_del_async(netutil_client *c, const char *scope, const char *host, int port, int family,
                               uint64_t timeout_usec, netutil_done_handler_t callback, void *userdata,
                               netutil_request **ret_request);
int netutil_override_clear_async(netutil_client *c, const char *scope, uint64_t timeout_usec,
                                 netutil_done_handler_t callback, void *userdata, netutil_request **ret_request);
int netutil_override_list_async(netutil_client *c, const char *scope, uint64_t timeout_usec,
                                netutil_override_list_handler_t callback, void *userdata,
                                netutil_request **ret_request);

/* ---- In-process helpers: no daemon involved ----------------------------------------- */

/* Tornado's is_valid_ip(): 1 if ip is an IPv4 or IPv6 address literal as the libc's
 * numeric getaddrinfo() accepts it (so inet_aton forms such as "127.1", "0x7f.1" and octal
 * "0177.0.0.1" count, and "fe80::1%lo" where the interface exists; glibc takes a scope id
 * on link-local addresses only), 0 if not (empty, NUL inside, EAI_NONAME: a host name,
 * surrounding spaces, "256.1.1.1"), or -errno for any other getaddrinfo failure, which is
 * an error, not a verdict (EAI_MEMORY -ENOMEM, EAI_AGAIN -EAGAIN, EAI_FAMILY -EAFNOSUPPORT,
 * EAI_BADFLAGS -EINVAL, EAI_SOCKTYPE -ESOCKTNOSUPPORT, EAI_NODATA/EAI_ADDRFAMILY/EAI_SERVICE
 * -EADDRNOTAVAIL, EAI_SYSTEM its errno, others -EIO); -EINVAL for ip NULL.
 * netutil_is_valid_ip_n() takes a length
 * (len bytes of ip, no NUL needed; 0 is empty) and rejects an embedded NUL.
 * A deliberate divergence: the check is on bytes, with no IDNA step, so non-ASCII text is
 * never an address here. Tornado (through Python's IDNA nameprep) accepts full-width
 * digits (U+FF10..U+FF19: "127.0.0.1" written with U+FF11 U+FF12 U+FF17 is True there);
 * this returns 0 for them, as glibc's getaddrinfo() says EAI_NONAME. */
int netutil_is_valid_ip(const char *ip);
int netutil_is_valid_ip_n(const char *ip, size_t len);

/* Tornado's bind_sockets() in this process, with the caller's rights: the same code the
 * daemon runs, without its policy (ignores opts->name and opts->hold). Returns the number
 * of sockets (0 is possible) with a new array in *ret (netutil_sockets_free()), or -errno
 * with nothing left open: when the address or port did not resolve, -EADDRNOTAVAIL and
 * the EAI_* code in *ret_gai (for EAI_SYSTEM, getaddrinfo's -errno instead); -EADDRINUSE,
 * -EADDRNOTAVAIL, -EACCES and the like from bind(); -EAFNOSUPPORT for a family other than
 * AF_UNSPEC, AF_INET and AF_INET6, as the daemon; -EINVAL for opts or ret NULL. ret_gai
 * may be NULL; otherwise it is always written: 0 unless getaddrinfo() failed. */
int netutil_bind_sockets(const netutil_bind_options *opts, netutil_socket **ret, int *ret_gai);

/* Tornado's bind_unix_socket(file, mode, backlog) in this process, with the caller's
 * rights: a listening, non-blocking, close-on-exec AF_UNIX stream socket at path
 * (path_len bytes, 0 = strlen(path); relative paths are fine; a leading NUL is an abstract
 * name, for which mode is ignored). As in Tornado, path is stat()ed following symlinks: an
 * existing socket (or a symlink to one: the link is replaced, its target left alone) is
 * unlinked and replaced, anything else is refused with -EEXIST (Tornado: "File PATH exists
 * and is not a socket") and left untouched. The node gets exactly mode by a chmod() after
 * bind() (no umask; for that moment it has the umask's mode). Returns the fd (the caller's)
 * or -errno: -EEXIST, -ENOENT (missing directory), -EADDRINUSE (a dangling symlink at
 * path, or an abstract name in use), -ENAMETOOLONG (a path of 108 bytes or more, an
 * abstract name of more than 108 with its leading NUL; checked before anything is
 * touched), -EINVAL (path
 * NULL or empty, a NUL inside a path, mode bits outside 0777). Nothing is leaked on any
 * error: no fd, and no node (one made by this call is removed again if chmod() or
 * listen() fails). */
int netutil_bind_unix_socket(const char *path, size_t path_len, unsigned mode, int backlog);

/* Tornado's add_accept_handler() on an sd-event loop. */
typedef struct netutil_accept_handler netutil_accept_handler;

/* Called for each accepted connection with fd >= 0 (blocking, close-on-exec, the
 * callback's to close) and the peer's address (len 0 for unix peers). Called with fd < 0
 * and addr NULL to report an error: -EMFILE or -ENFILE once per episode (accepting then
 * pauses and retries every 100 ms by itself, without spinning; the episode ends at the
 * first accept() that fails otherwise or succeeds), or another -errno (the batch ends; the
 * handler stays). */
typedef void (*netutil_accept_callback_t)(netutil_accept_handler *h, int fd, const struct sockaddr *addr,
                                          socklen_t addr_len, void *userdata);

/* Watches the listening socket fd (not owned: never closed by the handler) on e: each
 * time it is readable, up to 128 connections are accepted (Tornado's _DEFAULT_BACKLOG),
 * ECONNABORTED skipped, EINTR retried, EAGAIN ends the batch. fd must be a listening,
 * non-blocking socket (a blocking one would block the loop once the queue is empty).
 * Returns 0 and the handler in *ret (the caller frees it), or -errno: -EEXIST if fd is
 * already watched by a handler on e that was not removed, -EINVAL (e, callback or ret
 * NULL, fd < 0, fd not listening or blocking), -ENOTSOCK, -EBADF, -ENOMEM, or sd-event's
 * error (-ECHILD after fork(), -ESTALE when e has finished). */
int netutil_add_accept_handler(sd_event *e, int fd, netutil_accept_callback_t callback, void *userdata,
                               netutil_accept_handler **ret);

/* Stops accepting: idempotent, safe from inside the callback (the current batch stops
 * after that connection). Does not close the socket. Returns 0, or -EINVAL for NULL. */
int netutil_accept_handler_remove(netutil_accept_handler *h);

/* Removes (if not yet) and frees h; safe from inside the callback (freed when the batch
 * returns). Returns NULL; NULL is fine. */
netutil_accept_handler *netutil_accept_handler_free(netutil_accept_handler *h);

/* ---- TLS with GnuTLS (Tornado's ssl_options_to_context / ssl_wrap_socket) ------------ */

typedef enum netutil_cert_reqs {
        NETUTIL_CERT_DEFAULT = -1, /* servers: NONE; clients: REQUIRED */
        NETUTIL_CERT_NONE = 0,     /* no peer certificate asked for or checked */
        NETUTIL_CERT_OPTIONAL = 1, /* checked if the peer sends one */
        NETUTIL_CERT_REQUIRED = 2, /* the peer must present a valid one */
} netutil_cert_reqs;

/* Start from NETUTIL_TLS_OPTIONS_INIT; fields are only ever appended. */
typedef struct netutil_tls_options {
        const char *certfile; /* PEM certificate (chain); with keyfile, or containing the key */
        const char *keyfile;  /* PEM private key; needs certfile */
        const char *ca_certs; /* PEM CA bundle to verify peers; NULL: the system trust store for
                               * clients (a deliberate divergence: Tornado's is empty), none
                               * for servers */
        int cert_reqs;        /* a netutil_cert_reqs value */
        const char *priority; /* GnuTLS priority string (ciphers, versions); NULL = "NORMAL" */
} netutil_tls_options;

#define NETUTIL_TLS_OPTIONS_INIT { .certfile = NULL, .keyfile = NULL, .ca_certs = NULL, .cert_reqs = -1 }

typedef struct netutil_tls_context netutil_tls_context;
typedef struct netutil_tls_session netutil_tls_session;

/* Builds a context for the server (server_side != 0) or client side. cert_reqs
 * NETUTIL_CERT_DEFAULT resolves here: NONE for a server context, REQUIRED for a client one.
 * A client that verifies (anything but NONE) checks the server's certificate and its
 * hostname; for a client OPTIONAL is the same as REQUIRED, as servers always send one. A
 * server with OPTIONAL or REQUIRED asks for a client certificate and verifies it against
 * ca_certs (no hostname check; without ca_certs none verifies, as with Tornado's empty
 * store); REQUIRED fails handshakes that send none.
 *
 * Returns 0 and the context in *ret, or -errno with a message in words in *ret_error
 * (malloc()ed, the caller frees; NULL on success and when memory ran out; ret_error may be
 * NULL):
 *   -ENOENT      a file is missing (the message names it); -EACCES, -EISDIR and the like
 *                for one that cannot be read
 *   -EINVAL      NULL opts or ret; cert_reqs outside -1..2 ("invalid value for cert_reqs");
 *                keyfile without certfile ("keyfile given without certfile", where Tornado
 *                ignores it); a certfile with no key in it and no keyfile; a key that does
 *                not match the certificate; a server context without a certfile
 *   -EBADMSG     certfile, keyfile or ca_certs does not parse (ca_certs: or holds no
 *                certificate)
 *   -ENOPROTOOPT a bad priority string (the message gives the offset and the rest of the
 *                string from there)
 *   -EIO, -ENOMEM.
 * The context can be freed while sessions made from it live: each keeps it alive. Sessions
 * of one context may be used from different threads. */
int netutil_tls_context_new(const netutil_tls_options *opts, int server_side, netutil_tls_context **ret,
                            char **ret_error);
/* Drops the caller's reference; returns NULL. NULL is fine. */
netutil_tls_context *netutil_tls_context_free(netutil_tls_context *ctx);

/* Wraps the connected socket fd (not owned: never closed, and its O_NONBLOCK left as it is)
 * in a TLS session of ctx, in server mode if server_side != 0. A client sends
 * server_hostname as SNI and, unless the context's cert_reqs is NONE, verifies the peer's
 * certificate against it. Returns 0 and the session in *ret, or -errno with a message in
 * *ret_error as for netutil_tls_context_new(): -EINVAL for NULL ctx or ret, fd < 0,
 *   - a server_hostname in server mode ("server_hostname can only be specified in client
 *     mode", as Tornado);
 *   - a server_hostname that is empty or starts with a dot (as Python's ssl);
 *   - server_side not the context's side (as Python's ssl: "a server context cannot wrap a
 *     client session");
 *   - a client verifying with no hostname ("check_hostname requires server_hostname");
 * or -ENOMEM. No I/O happens until netutil_tls_handshake(). A TCP fd wants TCP_NODELAY:
 * GnuTLS sends a TLS 1.3 client's last handshake flight as two small segments, and Nagle
 * with the peer's delayed ACK can hold the second for 40 ms. */
int netutil_tls_wrap(netutil_tls_context *ctx, int fd, const char *server_hostname, int server_side,
                     netutil_tls_session **ret, char **ret_error);

/* Runs the handshake: 0 done (again 0 once done), -EAGAIN (non-blocking fd: call again when
 * netutil_tls_want_write() says writable, else readable), -EPROTO for a TLS alert or
 * protocol error, -EKEYREJECTED for a certificate that did not verify or a missing
 * required one (the reason in netutil_tls_session_error(): "hostname mismatch: ...",
 * "issuer unknown: ..."), -ECONNRESET (the peer went away mid-handshake), -errno of the
 * socket. Interrupted calls are retried inside. */
int netutil_tls_handshake(netutil_tls_session *s);
/* Data after the handshake (-ENOTCONN before). read: bytes (0 = the peer closed with
 * close_notify; -ECONNRESET = it closed without one). write: bytes sent, which may be
 * fewer than len (at most one TLS record: write the rest). -EAGAIN / -errno as above; after
 * -EAGAIN from netutil_tls_write(), call it again with the same buf and len (GnuTLS has
 * already taken the data). len 0 returns 0 without I/O. */
ssize_t netutil_tls_read(netutil_tls_session *s, void *buf, size_t len);
ssize_t netutil_tls_write(netutil_tls_session *s, const void *buf, size_t len);
/* After -EAGAIN: 1 if the session waits to write, 0 if to read; -EINVAL for NULL. */
int netutil_tls_want_write(const netutil_tls_session *s);
/* The last error in words, or NULL (no error, or -EAGAIN). Valid until the next call on s. */
const char *netutil_tls_session_error(const netutil_tls_session *s);
/* The SNI name a server session received (after the handshake), or NULL. Valid until s is
 * freed. */
const char *netutil_tls_server_name(const netutil_tls_session *s);
/* Sends close_notify (best effort, once the handshake is done; never waits for the peer's)
 * and frees s; the fd stays open. Returns NULL; NULL is fine. */
netutil_tls_session *netutil_tls_session_free(netutil_tls_session *s);

#ifdef __cplusplus
}
#endif

#endif
