/* SPDX-License-Identifier: MIT */

/*
 * Reuseport groups (DESIGN.md §5): BIND with reuse_port and a name (no hold) hands out a
 * new member of a group the daemon owns. The kernel lets a socket join a SO_REUSEPORT
 * group only if it was created by the same uid as the group's first socket; the daemon
 * creates every member, so workers running as different users can share one port. It
 * keeps an anchor per address: bound with SO_REUSEPORT but not listening, so the port
 * stays the group's while no worker runs and the anchor takes no connections (TCP picks
 * among listening members only). Owns the group table and membership checks.
 *
 * Joining a group someone else created needs an explicit AllowBind rule for the port
 * (the defaults are not enough: without the daemon the kernel would refuse it).
 * TCP only: a bound UDP anchor would receive its share of datagrams.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "as-user.h"
#include "bind.h"
#include "fdstore.h"
#include "gai.h"
#include "group.h"
#include "handlers.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

Group *group_find(Manager *m, const char *name, uid_t owner) {
        for (Group *g = m->groups; g; g = g->groups_next)
                if (g->owner == owner && strcmp(g->name, name) == 0)
                        return g;
        return NULL;
}

Group *group_find_for(Manager *m, const char *name, uid_t uid) {
        Group *g = group_find(m, name, uid);

        return g ?: group_find(m, name, 0);
}

static bool is_digits(const char *s) {
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* The address bytes of a sockaddr_in or sockaddr_in6, and their length. */
static const void *addr_bytes(const struct sockaddr_storage *ss, size_t *ret_len) {
        if (ss->ss_family == AF_INET) {
                *ret_len = 4;
                return &((const struct sockaddr_in *) ss)->sin_addr;
        }
        *ret_len = 16;
        return &((const struct sockaddr_in6 *) ss)->sin6_addr;
}

static bool addr_is_wildcard(const struct sockaddr_storage *ss) {
        static const uint8_t zero[16];
        size_t len;
        const void *b = addr_bytes(ss, &len);

        return memcmp(b, zero, len) == 0;
}

int group_check_match(const Group *g, const char *address, const char *service, int family, char *why,
                      size_t why_len) {
        char where[INET6_ADDRSTRLEN + 16] = "?";
        unsigned port = 0;
        const char *wrong = NULL;

        if (g->n_anchors == 0)
                return 0;
        (void) sockaddr_format((const struct sockaddr *) &g->anchors[0].addr, where, sizeof(where), &port);
        if (address && !*address)
                address = NULL;

        /* The port: absent or 0 takes the group's; a number must be it; a service name must
         * be the one the group was made with. */
        if (service && *service && !(is_digits(service) ? strtoul(service, NULL, 10) == 0 ||
                                                                  strtoul(service, NULL, 10) == port
                                                        : g->service && strcmp(service, g->service) == 0))
                wrong = "port";
        /* The address: the wildcard must be a wildcard group; a literal must be each anchor's
         * address; a host name must be the one the group was made with (not known for a group
         * adopted after a restart, which is not checked). */
        else if (!address) {
                for (size_t i = 0; i < g->n_anchors; i++)
                        if (!addr_is_wildcard(&g->anchors[i].addr))
                                wrong = "address";
        } else if (gai_is_literal(address)) {
                uint8_t want[16];
                int f = strchr(address, ':') ? AF_INET6 : AF_INET;
                char plain[INET6_ADDRSTRLEN] = "";

                snprintf(plain, sizeof(plain), "%.*s", (int) strcspn(address, "%"), address);
                if (inet_pton(f, plain, want) != 1)
                        wrong = "address";
                for (size_t i = 0; !wrong && i < g->n_anchors; i++) {
                        size_t len;
                        const void *b = addr_bytes(&g->anchors[i].addr, &len);

                        if (g->anchors[i].family != f || memcmp(b, want, len) != 0)
                                wrong = "address";
                }
        } else if (g->address && strcasecmp(address, g->address) != 0)
                wrong = "address";
        if (!wrong && family != AF_UNSPEC)
                for (size_t i = 0; i < g->n_anchors; i++)
                        if (g->anchors[i].family != family)
                                wrong = "address family";
        if (!wrong)
                return 0;
        /* The request's own strings are not repeated: they may be anything. */
        snprintf(why, why_len,
                 "The reuseport group '%s' of uid %u is on %s port %u%s, and this request asks for another %s: "
                 "a member has the group's protocol, address and port",
                 g->name, (unsigned) g->owner, where, port, g->n_anchors > 1 ? " (and more addresses)" : "",
                 wrong);
        return -EEXIST;
}

void group_free(Group *g) {
        if (!g)
                return;
        if (g->manager)
                LIST_REMOVE(groups, g->manager->groups, g);
        bound_sockets_free(g->anchors, g->n_anchors);
        free(g->address);
        free(g->service);
        free(g->name);
        free(g);
}

void group_free_all(Manager *m) {
        while (m->groups)
                group_free(m->groups);
}

/* A socket on addr with the options bind_sockets() sets, plus SO_REUSEPORT; listening if
 * backlog >= 0. Stamped with the group owner's uid, as its first member was (bind.c):
 * members handed to other uids by rule still join, and nothing else does. */
static int reuseport_socket(uid_t owner, const struct sockaddr_storage *addr, socklen_t len, int backlog) {
        _cleanup_(closep) int fd = -EBADF;
        int one = 1;

        fd = as_user_socket(owner, addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return fd;
        /* Not on anchors: the kernel lets SO_REUSEADDR sockets of any uid share a port whose
         * sockets are not listening, and an anchor never listens. */
        if (backlog >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 && errno != ENOPROTOOPT)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
                return -errno;
        if (addr->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (const struct sockaddr *) addr, len) < 0)
                return -errno;
        if (backlog >= 0 && listen(fd, backlog) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* A new group of n anchors at the addresses of src: new reuseport sockets, or (adopt) dup()s
 * of src's fds, which stay the caller's. Returns 0 or -errno, and the group in *ret. */
static int group_add(Manager *m, const char *name, uid_t owner, const BoundSocket *src, size_t n, int backlog,
                     bool adopt, Group **ret) {
        Group *g;

        if (group_find(m, name, owner))
                return -EEXIST;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->owner = owner;
        g->backlog = backlog < 0 ? 0 : backlog;
        g->name = strdup(name);
        g->anchors = calloc(n ? n : 1, sizeof(BoundSocket));
        if (!g->name || !g->anchors) {
                group_free(g);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int fd = adopt ? fcntl(src[i].fd, F_DUPFD_CLOEXEC, 3)
                               : reuseport_socket(owner, &src[i].addr, src[i].addr_len, -1);

                if (adopt && fd < 0)
                        fd = -errno;
                if (fd < 0) {
                        g->n_anchors = i;
                        group_free(g);
                        return fd;
                }
                g->anchors[i] = src[i];
                g->anchors[i].fd = fd;
        }
        g->n_anchors = n;
        g->manager = m;
        LIST_PREPEND(groups, m->groups, g);
        *ret = g;
        return 0;
}

int group_create(Manager *m, const char *name, uid_t owner, const BoundSocket *members, size_t n, int backlog,
                 const char *address, const char *service) {
        Group *g;
        int r;

        r = group_add(m, name, owner, members, n, backlog, false, &g);
        if (r < 0)
                return r;
        if ((address && *address && !(g->address = strdup(address))) ||
            (service && !is_digits(service) && !(g->service = strdup(service)))) {
                group_free(g);
                return -ENOMEM;
        }
        log_info("Created reuseport group '%s' of uid %u with %zu address%s.", name, (unsigned) owner, n,
                 n == 1 ? "" : "es");
        fdstore_push_group(m, g);
        return 0;
}

int group_adopt(Manager *m, const char *name, uid_t owner, const BoundSocket *anchors, size_t n, int backlog,
                bool push) {
        Group *g;
        int r;

        r = group_add(m, name, owner, anchors, n, backlog, true, &g);
        if (r < 0)
                return r;
        if (push)
                fdstore_push_group(m, g);
        return 0;
}

int group_answer_member(Request *req, const Creds *creds, Group *g, const char *address, const char *service,
                        int family) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        char reason[PROTO_MAX_ERROR_MESSAGE];
        int r;

        if (creds->uid != 0 && creds->uid != g->owner)
                for (size_t i = 0; i < g->n_anchors; i++)
                        if (policy_check_bind_rule(req->manager->policy, creds, (struct sockaddr *) &g->anchors[i].addr,
                                                   SOCK_STREAM, reason, sizeof(reason)) < 0) {
                                log_refusal(creds->uid, creds->pid, "BIND",
                                            "Refused joining reuseport group '%s' of uid %u for uid %u pid %d.",
                                            g->name, (unsigned) g->owner, (unsigned) creds->uid, (int) creds->pid);
                                return request_error(req, EPERM,
                                                     "Permission denied by policy: the reuseport group '%s' belongs "
                                                     "to uid %u; joining it needs an AllowBind rule for its port",
                                                     g->name, (unsigned) g->owner);
                        }
        /* After the policy: a request that may not join learns nothing more of the group. */
        if (group_check_match(g, address, service, family, reason, sizeof(reason)) < 0)
                return request_error(req, EEXIST, "%s", reason);

        r = proto_reply_new(req->type, req->serial, &reply);
        if (r < 0)
                return r;
        for (size_t i = 0; i < g->n_anchors; i++) {
                int fd = reuseport_socket(g->owner, &g->anchors[i].addr, g->anchors[i].addr_len, g->backlog);
                if (fd < 0)
                        return request_error(req, -fd, "Failed to add a member to group '%s': %s", g->name,
                                             strerror(-fd));
                r = bind_reply_add_socket(reply, fd, g->anchors[i].family, SOCK_STREAM, &g->anchors[i].addr,
                                          g->anchors[i].addr_len);
                if (r < 0)
                        return r;
        }
        g->members_given++;
        return request_reply(req, TAKE_PTR(reply));
}
