/* SPDX-License-Identifier: MIT */

/*
 * BIND: bind_sockets() on a client's behalf under the policy, the sockets handed over as
 * reply items with their fds. Owns request parsing and the reply; the binding itself is
 * common/bind.c. A host name may need DNS, so such requests run in the worker pool;
 * literals and the wildcard are bound inline (no lookup can block).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "as-user.h"
#include "bind.h"
#include "gai.h"
#include "group.h"
#include "handlers.h"
#include "held.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "worker.h"

typedef struct BindJob {
        Request *req;
        Policy *policy;
        Creds creds;
        char *address;
        char *service;
        char *name;  /* with hold: keep the sockets under this name */
        char *group; /* with reuse_port and no hold: the group these sockets start */
        BindParams params;

        int r;
        int gai;
        int n;
        BoundSocket *sockets;
        struct sockaddr_storage failed;
        char reason[PROTO_MAX_ERROR_MESSAGE];
} BindJob;

static BindJob *bind_job_free(BindJob *j) {
        if (!j)
                return NULL;
        bound_sockets_free(j->sockets, j->n > 0 ? (size_t) j->n : 0);
        policy_unref(j->policy);
        free(j->creds.groups);
        free(j->address);
        free(j->service);
        free(j->name);
        free(j->group);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(BindJob, bind_job_free);

static int check_policy(const struct sockaddr *sa, socklen_t len, int socktype, void *userdata) {
        BindJob *j = userdata;

        return policy_check_bind(j->policy, &j->creds, sa, socktype, j->reason, sizeof(j->reason));
}

/* Every socket carries the client's uid, so that SO_REUSEPORT lets it join only what a
 * socket the client made itself could join: never a root service's port, nor another
 * uid's group (whose members the daemon makes with the group owner's uid, group.c). */
static int make_socket(int family, int type, int protocol, void *userdata) {
        BindJob *j = userdata;

        return as_user_socket(j->creds.uid, family, type, protocol);
}

static void bind_work(void *userdata) {
        BindJob *j = userdata;

        j->reason[0] = '\0';
        j->n = j->r = bind_sockets(&j->params, check_policy, j, &j->sockets, &j->gai, &j->failed);
}

/* Adds one socket as a reply item: family, type, address, and the fd (consumed). */
int bind_reply_add_socket(ProtoReply *reply, int fd, int family, int socktype, const void *addr, size_t addr_len) {
        return bind_reply_add_listener(reply, fd, family, socktype, addr, addr_len, -1);
}

int bind_reply_add_listener(ProtoReply *reply, int fd, int family, int socktype, const void *addr, size_t addr_len,
                            int backlog) {
        _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
        const void *attrs;
        size_t len;
        int r;

        r = proto_msg_new(0, 0, &item);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        if ((r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, (uint32_t) family)) < 0 ||
            (r = proto_msg_append_u32(item, PROTO_ATTR_SOCKTYPE, (uint32_t) socktype)) < 0 ||
            (r = proto_msg_append(item, PROTO_ATTR_SOCKADDR, addr, addr_len)) < 0 ||
            (backlog >= 0 && (r = proto_msg_append_s32(item, PROTO_ATTR_BACKLOG, backlog)) < 0)) {
                safe_close(fd);
                return r;
        }
        attrs = proto_msg_attrs(item, &len);
        return proto_reply_add_item(reply, attrs, len, fd);
}

static void bind_answer(BindJob *j) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        Request *req = j->req;
        int r;

        if (j->r < 0) {
                char where[INET6_ADDRSTRLEN + 32] = "";
                unsigned port = 0;

                if (j->r == -EPERM && j->reason[0]) {
                        log_refusal(j->creds.uid, j->creds.pid, "BIND", "Refused BIND for uid %u pid %d: %s",
                                    (unsigned) j->creds.uid, (int) j->creds.pid, j->reason);
                        request_error(req, EPERM, "%s", j->reason);
                        return;
                }
                if (j->gai != 0 && j->gai != EAI_SYSTEM) {
                        request_error_gai(req, gai_to_errno(j->gai, 0), j->gai, "%s", gai_strerror(j->gai));
                        return;
                }
                if (j->failed.ss_family != AF_UNSPEC &&
                    sockaddr_format((struct sockaddr *) &j->failed, where, sizeof(where), &port) >= 0) {
                        request_error(req, -j->r, "%s (%s port %u)", strerror(-j->r), where, port);
                        return;
                }
                request_error(req, -j->r, NULL);
                return;
        }

        if (j->group && j->n > 0) {
                r = group_create(req->manager, j->group, j->creds.uid, j->sockets, (size_t) j->n, j->params.backlog,
                                 j->address, j->service);
                if (r == -EEXIST) {
                        /* Another request started the group meanwhile: join that one, if it is
                         * what this request asked for. */
                        r = group_answer_member(req, &j->creds, group_find(req->manager, j->group, j->creds.uid),
                                                j->address, j->service, j->params.family);
                        if (r < 0)
                                request_error(req, -r, NULL);
                        return;
                }
                if (r < 0) {
                        request_error(req, -r, "Failed to create reuseport group '%s': %s", j->group, strerror(-r));
                        return;
                }
        }
        if (j->name) {
                r = held_keep_and_answer(req, &j->creds, j->name, j->sockets, (size_t) j->n, j->params.backlog);
                if (r < 0)
                        request_error(req, -r, NULL);
                return;
        }
        r = proto_reply_new(req->type, req->serial, &reply);
        if (r < 0) {
                request_error(req, -r, NULL);
                return;
        }
        for (int i = 0; i < j->n; i++) {
                BoundSocket *s = &j->sockets[i];
                r = bind_reply_add_socket(reply, TAKE_FD(s->fd), s->family, s->socktype, &s->addr, s->addr_len);
                if (r < 0) {
                        request_error(req, -r, NULL);
                        return;
                }
        }
        request_reply(req, TAKE_PTR(reply));
}

static void bind_done(void *userdata, bool cancelled) {
        _cleanup_(bind_job_freep) BindJob *j = userdata;

        if (cancelled)
                j->r = -ECANCELED;
        bind_answer(j);
}

/* True if getaddrinfo() of (address, service) cannot block: no name to look up. */
static bool lookup_is_local(const char *address, const char *service) {
        if (service)
                for (const char *s = service; *s; s++)
                        if (*s < '0' || *s > '9')
                                return false;
        return !address || !*address || gai_is_literal(address);
}

int bind_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        _cleanup_(bind_job_freep) BindJob *j = NULL;
        Manager *m = req->manager;
        const char *address = NULL, *service = NULL, *name = NULL;
        uint32_t family = AF_UNSPEC, socktype = SOCK_STREAM, reuse = 0, hold = 0, owner;
        int32_t backlog = BIND_DEFAULT_BACKLOG, flags = BIND_FLAGS_DEFAULT;
        int r;

        (void) proto_get_string(v, PROTO_ATTR_ADDRESS, &address);
        (void) proto_get_string(v, PROTO_ATTR_SERVICE, &service);
        (void) proto_get_u32(v, PROTO_ATTR_FAMILY, &family);
        (void) proto_get_u32(v, PROTO_ATTR_SOCKTYPE, &socktype);
        (void) proto_get_s32(v, PROTO_ATTR_BACKLOG, &backlog);
        (void) proto_get_s32(v, PROTO_ATTR_AI_FLAGS, &flags);
        (void) proto_get_u32(v, PROTO_ATTR_REUSE_PORT, &reuse);
        (void) proto_get_string(v, PROTO_ATTR_NAME, &name);
        (void) proto_get_u32(v, PROTO_ATTR_HOLD, &hold);

        if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
                return request_error(req, EAFNOSUPPORT, "Address family %u not supported (expected ipv4 or ipv6)",
                                     family);
        if (socktype != SOCK_STREAM && socktype != SOCK_DGRAM)
                return request_error(req, ESOCKTNOSUPPORT, "Socket type %u not supported (expected stream or dgram)",
                                     socktype);
        /* Only digits reach the message: a name is valid. */
        if (!bind_service_valid(service))
                return request_error(req, EINVAL, "Invalid port '%s': expected 0 to 65535", service);

        if (name) {
                char reason[PROTO_MAX_ERROR_MESSAGE];
                if (held_name_check(name, reason, sizeof(reason)) < 0)
                        return request_error(req, EINVAL, "%s", reason);
        }
        if (hold && !name)
                return request_error(req, EINVAL, "Holding sockets needs a name");
        if (reuse && name && !hold) {
                Group *g;

                if (socktype != SOCK_STREAM)
                        return request_error(req, EOPNOTSUPP,
                                             "Reuseport groups are TCP only (a UDP anchor would take datagrams); "
                                             "bind UDP with --reuse-port and no --name");
                /* The caller's own group, else root's; another uid's only if OWNER_UID names it. */
                if (proto_get_u32(v, PROTO_ATTR_OWNER_UID, &owner) >= 0) {
                        g = group_find(m, name, (uid_t) owner);
                        if (!g && owner != req->conn->creds.uid)
                                return request_error(req, ENOENT, "No reuseport group named '%s' of uid %u", name,
                                                     owner);
                } else
                        g = group_find_for(m, name, req->conn->creds.uid);
                if (g)
                        return group_answer_member(req, &req->conn->creds, g, address, service, (int) family);
                if (held_check_quota(req, req->conn->creds.uid))
                        return 0;
        }
        if (hold) {
                r = held_answer_existing(req, req->conn->creds.uid, name, false);
                if (r == 0)
                        r = held_check_quota(req, req->conn->creds.uid);
                if (r != 0)
                        return r < 0 ? r : 0;
        }

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->req = req;
        j->policy = policy_ref(m->policy);
        r = creds_copy(&req->conn->creds, &j->creds);
        if (r < 0)
                return r;
        if ((address && !(j->address = strdup(address))) || (service && !(j->service = strdup(service))) ||
            (hold && !(j->name = strdup(name))) || (reuse && name && !hold && !(j->group = strdup(name))))
                return -ENOMEM;
        j->params = (BindParams) {
                .address = j->address,
                .service = j->service,
                .family = (int) family,
                .socktype = (int) socktype,
                .backlog = backlog,
                .flags = flags,
                .reuse_port = reuse != 0,
                .make_socket = make_socket,
                .make_socket_userdata = j,
        };

        if (lookup_is_local(address, service)) {
                bind_work(j);
                bind_answer(j);
                return 0;
        }
        r = worker_submit(m->workers, j->creds.uid, bind_work, bind_done, j, NULL);
        if (r < 0)
                return r;
        TAKE_PTR(j);
        return REQUEST_PENDING;
}
