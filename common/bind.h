/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one implementation of Tornado's bind_sockets() (shared/reference/tornado-netutil.md
 * §1), used by netutild on a client's behalf and by libnetutil in-process. Plus UDP.
 * Owns getaddrinfo flags, ordering, de-duplication, socket options, port-0 sharing and
 * the localhost/::1 skip. Must not log, check policy (the caller's check hook does) or
 * keep any fd it does not return.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Tornado's _DEFAULT_BACKLOG. */
#define BIND_DEFAULT_BACKLOG 128
/* Sockets one call may return: getaddrinfo never gives more than a handful per name, but
 * a hosts file can list many; this keeps an answer within 5 datagrams of 253 fds. */
#define BIND_MAX_SOCKETS 1024u

typedef struct BindParams {
        const char *address; /* NULL or "" = all interfaces (AI_PASSIVE wildcard) */
        const char *service; /* port as a decimal string or a service name; NULL: see below */
        int family;          /* AF_UNSPEC, AF_INET or AF_INET6 */
        int socktype;        /* SOCK_STREAM (listen) or SOCK_DGRAM (no listen) */
        int backlog;         /* for listen(); negative is clamped to 0, like Python */
        int flags;           /* getaddrinfo flags; BIND_FLAGS_DEFAULT means AI_PASSIVE */
        bool reuse_port;     /* SO_REUSEPORT, errors reported */
        /* NULL, or makes each socket instead of socket(): returns the fd or -errno. The
         * daemon stamps its client's uid on it there (the uid SO_REUSEPORT compares). */
        int (*make_socket)(int family, int type, int protocol, void *userdata);
        void *make_socket_userdata;
} BindParams;

#define BIND_FLAGS_DEFAULT (-1)

typedef struct BoundSocket {
        int fd; /* listening (stream) or bound (dgram), non-blocking, CLOEXEC */
        int family;
        int socktype;
        struct sockaddr_storage addr; /* getsockname() after bind */
        socklen_t addr_len;
} BoundSocket;

/* Called before each socket is created, with the address it will be bound to as
 * getaddrinfo gave it (the requested port, before port-0 sharing). Return 0 to go on or
 * -errno (e.g. -EPERM) to fail the whole call. */
typedef int (*bind_check_t)(const struct sockaddr *sa, socklen_t len, int socktype, void *userdata);

/* Binds as Tornado's bind_sockets(port, address, family, backlog, flags, reuse_port)
 * does, in its exact order (reference §1.1). service NULL behaves as Tornado's port None:
 * "0" when an address is given, EAI_NONAME otherwise.
 *
 * Returns the number of sockets (>= 0; 0 is possible, as in Tornado) with a malloc()ed
 * array in *ret that the caller frees, closing every fd; or on failure, with nothing
 * left open:
 *   -errno from socket()/setsockopt()/bind()/listen()/the check hook, or
 *   -EADDRNOTAVAIL with *ret_gai set to the EAI_* code when getaddrinfo() failed
 *   (*ret_gai is 0 otherwise; for EAI_SYSTEM the return is getaddrinfo's -errno instead),
 *   or -E2BIG past BIND_MAX_SOCKETS, or -EINVAL for a socktype other than SOCK_STREAM
 *   and SOCK_DGRAM, or -EOPNOTSUPP for reuse_port where SO_REUSEPORT does not exist.
 * *ret_failed_addr, if not NULL, receives the address whose bind failed (for messages). */
/* Whether service may be passed to getaddrinfo(): a name, or a port in decimal from 0 to
 * 65535. getaddrinfo() takes "70000" and binds port 4464 (it keeps 16 bits), where Tornado's
 * bind_sockets() wants a port: more digits than that are refused. */
bool bind_service_valid(const char *service);

int bind_sockets(const BindParams *p, bind_check_t check, void *userdata, BoundSocket **ret, int *ret_gai,
                 struct sockaddr_storage *ret_failed_addr);

/* Frees an array from bind_sockets(), closing fds that are still >= 0. */
void bound_sockets_free(BoundSocket *s, size_t n);

/* Formats sa as "ADDRESS" (IPv6 without brackets; scope as %N) and its port. Returns 0
 * or -EAFNOSUPPORT. buf must hold INET6_ADDRSTRLEN + 16 bytes (a smaller len that the text
 * does not fit is -ENOSPC, buf and *ret_port untouched; ret_port may be NULL). */
int sockaddr_format(const struct sockaddr *sa, char *buf, size_t len, unsigned *ret_port);
