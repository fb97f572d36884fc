/* SPDX-License-Identifier: MIT */

/*
 * bind_sockets(): Tornado's netutil.bind_sockets() in C, step for step as
 * shared/reference/tornado-netutil.md §1.1 describes it, for TCP (listening) and UDP.
 * Owns the getaddrinfo flags and service defaults, the family sort, de-duplication, socket
 * options, port-0 sharing across families and the localhost/::1 skip; plus the formatting
 * of the addresses it returns. Must not log, decide policy (the caller's check hook does)
 * or keep an fd it does not hand back: on failure everything it opened is closed.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bind.h"
#include "macro.h"

/* One getaddrinfo() result and its position in getaddrinfo's list, so that the family sort
 * can be made stable with qsort(). */
typedef struct BindEntry {
        const struct addrinfo *ai;
        size_t index;
} BindEntry;

/* The sockets bound so far; closed and freed by the cleanup unless taken. */
typedef struct BoundSocketArray {
        BoundSocket *sockets;
        size_t n;
} BoundSocketArray;

static void freeaddrinfop(struct addrinfo **p) {
        if (*p)
                freeaddrinfo(*p);
}

static void bound_socket_array_done(BoundSocketArray *a) {
        bound_sockets_free(a->sockets, a->n);
        a->sockets = NULL;
        a->n = 0;
}

void bound_sockets_free(BoundSocket *s, size_t n) {
        if (!s)
                return;
        for (size_t i = 0; i < n; i++)
                s[i].fd = safe_close(s[i].fd);
        free(s);
}

/* Tornado sorts by the family number only (AF_INET 2 < AF_INET6 10, so IPv4 comes first);
 * Python's sort is stable, so ties keep getaddrinfo's order. */
static int bind_entry_compare(const void *a, const void *b) {
        const BindEntry *x = a, *y = b;

        if (x->ai->ai_family != y->ai->ai_family)
                return x->ai->ai_family < y->ai->ai_family ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Tornado's "res in unique_addresses": the whole (family, socktype, proto, canonname,
 * sockaddr) tuple. getaddrinfo zeroes the sockaddr padding, so bytes compare like Python's
 * sockaddr tuples do. canonname is only on the first entry with AI_CANONNAME, so entries
 * that differ only there stay distinct, as in Tornado. */
static bool addrinfo_equal(const struct addrinfo *a, const struct addrinfo *b) {
        if (a->ai_family != b->ai_family || a->ai_socktype != b->ai_socktype ||
            a->ai_protocol != b->ai_protocol || a->ai_addrlen != b->ai_addrlen)
                return false;
        if (!a->ai_canonname != !b->ai_canonname)
                return false;
        if (a->ai_canonname && strcmp(a->ai_canonname, b->ai_canonname) != 0)
                return false;
        return memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

/* Port of an AF_INET/AF_INET6 address in host order, or -EAFNOSUPPORT. */
static int sockaddr_get_port(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) ss)->sin_port);
        if (ss->ss_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
        return -EAFNOSUPPORT;
}

/* Replaces the port only: host, flowinfo and scope id stay as getaddrinfo gave them. */
static void sockaddr_set_port(struct sockaddr_storage *ss, uint16_t port) {
        if (ss->ss_family == AF_INET)
                ((struct sockaddr_in *) ss)->sin_port = htons(port);
        else if (ss->ss_family == AF_INET6)
                ((struct sockaddr_in6 *) ss)->sin6_port = htons(port);
}

/* Tornado compares Python's host string with "::1"; that string carries "%scope" whenever
 * the scope id is non-zero (glibc getnameinfo), so ::1 with a scope is not "::1". */
static bool sockaddr_is_ipv6_loopback(const struct sockaddr_storage *ss) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ss;

        return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) &&
               in6->sin6_scope_id == 0;
}

bool bind_service_valid(const char *service) {
        unsigned long v = 0;

        for (const char *s = service; s && *s; s++) {
                if (*s < '0' || *s > '9')
                        return true; /* a service name, looked up as such */
                v = v * 10 + (unsigned long) (*s - '0');
                if (v > 65535)
                        return false;
        }
        return true;
}

int bind_sockets(const BindParams *p, bind_check_t check, void *userdata, BoundSocket **ret, int *ret_gai,
                 struct sockaddr_storage *ret_failed_addr) {
        _cleanup_(freeaddrinfop) struct addrinfo *res = NULL;
        _cleanup_(freep) BindEntry *entries = NULL;
        _cleanup_(bound_socket_array_done) BoundSocketArray bound = {};
        struct addrinfo hints = {};
        const char *address = NULL, *service = NULL;
        size_t n_entries = 0, capacity = 0;
        bool have_bound_port = false;
        uint16_t bound_port = 0;
        int flags = 0, r = 0;

        if (ret_gai)
                *ret_gai = 0;
        if (!p || !ret)
                return -EINVAL;

        /* §1.1 step 1, before anything else. */
#ifndef SO_REUSEPORT
        if (p->reuse_port)
                return -EOPNOTSUPP;
#endif

        /* Tornado only does SOCK_STREAM; SOCK_DGRAM is our extension, nothing else is. */
        if (p->socktype != SOCK_STREAM && p->socktype != SOCK_DGRAM)
                return -EINVAL;
        if (!bind_service_valid(p->service))
                return -EINVAL;

        /* Step 2: "" is no address (the AI_PASSIVE wildcard); getaddrinfo("") is EAI_NONAME.
         * Step 3 (Python built without IPv6) has no equivalent: AF_INET6 is always built in. */
        address = p->address && p->address[0] != '\0' ? p->address : NULL;

        /* Step 4: an explicit value, 0 included, replaces AI_PASSIVE. No AI_ADDRCONFIG. */
        flags = p->flags == BIND_FLAGS_DEFAULT ? AI_PASSIVE : p->flags;

        /* Port None: "0" with an address; with neither, getaddrinfo(NULL, NULL) reports
         * EAI_NONAME, as in Tornado. */
        service = p->service ? p->service : address ? "0" : NULL;

        /* Step 5. */
        hints.ai_family = p->family;
        hints.ai_socktype = p->socktype;
        hints.ai_protocol = 0;
        hints.ai_flags = flags;
        r = getaddrinfo(address, service, &hints, &res);
        if (r != 0) {
                if (r == EAI_SYSTEM) {
                        r = negative_errno();
                        if (ret_gai)
                                *ret_gai = EAI_SYSTEM;
                        return r;
                }
                if (ret_gai)
                        *ret_gai = r;
                return -EADDRNOTAVAIL;
        }

        /* Step 6: stable sort by family. */
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
                n_entries++;
        entries = calloc(n_entries, sizeof(BindEntry));
        if (!entries)
                return -ENOMEM;
        n_entries = 0;
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                entries[n_entries] = (BindEntry) { .ai = ai, .index = n_entries };
                n_entries++;
        }
        qsort(entries, n_entries, sizeof(BindEntry), bind_entry_compare);

        /* No more sockets than entries, nor than the limit; at least one element so that
         * *ret is a real array even when every entry is skipped. */
        capacity = MAX(MIN(n_entries, (size_t) BIND_MAX_SOCKETS), (size_t) 1);
        bound.sockets = calloc(capacity, sizeof(BoundSocket));
        if (!bound.sockets)
                return -ENOMEM;

        /* Step 7. */
        for (size_t i = 0; i < n_entries; i++) {
                const struct addrinfo *ai = entries[i].ai;
                _cleanup_(closep) int fd = -EBADF;
                struct sockaddr_storage sa = {}, local = {};
                socklen_t local_len = sizeof(local);
                bool duplicate = false;
                const int one = 1;
                int port = 0;

                /* 7.1: skip an entry identical to an earlier one (quadratic, but n is what
                 * one name resolves to). */
                for (size_t j = 0; j < i && !duplicate; j++)
                        duplicate = addrinfo_equal(entries[j].ai, ai);
                if (duplicate)
                        continue;

                /* 7.2 (the macOS link-local skip) does not apply on Linux. */

                if (ai->ai_addrlen > sizeof(sa))
                        return -EAFNOSUPPORT; /* cannot happen: storage holds any family */
                memcpy(&sa, ai->ai_addr, ai->ai_addrlen);

                /* Ours: the caller's policy sees the address as getaddrinfo gave it. */
                if (check) {
                        r = check(ai->ai_addr, ai->ai_addrlen, ai->ai_socktype, userdata);
                        if (r < 0)
                                return r;
                }

                /* 7.3, and 7.8 at creation: the same state as setblocking(False) later. */
                if (p->make_socket)
                        fd = p->make_socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                            ai->ai_protocol, p->make_socket_userdata);
                else {
                        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
                        if (fd < 0)
                                fd = negative_errno();
                }
                if (fd < 0) {
                        if (fd == -EAFNOSUPPORT)
                                continue;
                        return fd;
                }

                /* 7.4: ENOPROTOOPT is ignored (GNU Hurd). */
                if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 && errno != ENOPROTOOPT)
                        return negative_errno();

                /* 7.5: opt-in, so every error is reported. */
#ifdef SO_REUSEPORT
                if (p->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
                        return negative_errno();
#endif

                /* 7.6: a :: socket never takes IPv4, so 0.0.0.0 and :: can share a port. */
                if (ai->ai_family == AF_INET6 &&
                    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                        return negative_errno();

                /* 7.7: port 0 after a bind in this call means the port already bound. */
                port = sockaddr_get_port(&sa);
                if (port == 0 && have_bound_port)
                        sockaddr_set_port(&sa, bound_port);

                /* 7.9 */
                if (bind(fd, (const struct sockaddr *) &sa, ai->ai_addrlen) < 0) {
                        /* Docker or partial IPv6: "localhost" resolves to ::1 that cannot be
                         * bound. Only the exact name; an explicit "::1" fails. */
                        if (errno == EADDRNOTAVAIL && address && strcmp(address, "localhost") == 0 &&
                            sockaddr_is_ipv6_loopback(&sa))
                                continue;
                        r = negative_errno();
                        if (ret_failed_addr)
                                *ret_failed_addr = sa;
                        return r;
                }

                /* 7.10: updated after every bind. */
                if (getsockname(fd, (struct sockaddr *) &local, &local_len) < 0)
                        return negative_errno();
                port = sockaddr_get_port(&local);
                if (port >= 0) {
                        bound_port = (uint16_t) port;
                        have_bound_port = true;
                }

                /* 7.11: before the next entry. Python clamps a negative backlog to 0; the
                 * kernel would read it as unsigned and use somaxconn. */
                if (ai->ai_socktype == SOCK_STREAM && listen(fd, MAX(p->backlog, 0)) < 0)
                        return negative_errno();

                /* 7.12 */
                if (bound.n >= BIND_MAX_SOCKETS)
                        return -E2BIG;
                bound.sockets[bound.n++] = (BoundSocket) {
                        .fd = TAKE_FD(fd),
                        .family = ai->ai_family,
                        .socktype = ai->ai_socktype,
                        .addr = local,
                        .addr_len = local_len,
                };
        }

        /* Step 8, in sorted order. */
        r = (int) bound.n;
        *ret = TAKE_PTR(bound.sockets);
        bound.n = 0;
        return r;
}

int sockaddr_format(const struct sockaddr *sa, char *buf, size_t len, unsigned *ret_port) {
        /* An IPv6 address, "%" and a 32-bit scope id in decimal (10 digits): the size the
         * header asks callers for. */
        char host[INET6_ADDRSTRLEN] = "", out[INET6_ADDRSTRLEN + 16] = "";
        uint32_t scope_id = 0;
        unsigned port = 0;
        int n = 0;

        if (!sa || !buf)
                return -EINVAL;

        if (sa->sa_family == AF_INET) {
                struct sockaddr_in in = {};

                memcpy(&in, sa, sizeof(in));
                if (!inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host)))
                        return negative_errno();
                port = ntohs(in.sin_port);
        } else if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 in6 = {};

                memcpy(&in6, sa, sizeof(in6));
                if (!inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host)))
                        return negative_errno();
                port = ntohs(in6.sin6_port);
                scope_id = in6.sin6_scope_id;
        } else
                return -EAFNOSUPPORT;

        if (scope_id != 0)
                n = snprintf(out, sizeof(out), "%s%%%" PRIu32, host, scope_id);
        else
                n = snprintf(out, sizeof(out), "%s", host);
        if (n < 0 || (size_t) n >= len)
                return -ENOSPC;

        memcpy(buf, out, (size_t) n + 1);
        if (ret_port)
                *ret_port = port;
        return 0;
}
