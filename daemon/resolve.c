/* SPDX-License-Identifier: MIT */

/*
 * RESOLVE: Tornado's resolve(host, port, family) with the overrides of OverrideResolver
 * (reference §5–6) and scopes. Owns the request, the one substitution and the backends'
 * dispatch. The lookup is Tornado's shared one (§5.3): SOCK_STREAM, no AI_PASSIVE or
 * AI_ADDRCONFIG, results in the backend's order, neither sorted nor de-duplicated. IP
 * literals never reach a backend: a numeric lookup cannot block, so it runs inline.
 *
 * OVERRIDE_ONLY (the NSS module's request) consults host-only rules alone and answers ENOENT
 * at once when none applies: no backend sees a name that no rule maps.
 *
 * Backends: "threadpool" (getaddrinfo in the worker pool), "cares" (c-ares in the event
 * loop, resolve-cares.c; the thread pool answers only if its setup failed at a reload, and
 * status then says so), "blocking" (inline, for debugging).
 */

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "gai.h"
#include "handlers.h"
#include "macro.h"
#include "override.h"
#include "resolve-cares.h"
#include "worker.h"

typedef struct ResolveJob {
        Request *req;
        WorkerJob *job; /* in the thread pool, until done */
        char *host;
        char service[8];
        int family;
        int numeric; /* AI_NUMERICHOST: a literal, answered inline */
        int gai;
        int sys_errno;
        struct addrinfo *res;
} ResolveJob;

static ResolveJob *resolve_job_free(ResolveJob *j) {
        if (!j)
                return NULL;
        if (j->res)
                freeaddrinfo(j->res);
        free(j->host);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ResolveJob, resolve_job_free);

static void resolve_work(void *userdata) {
        ResolveJob *j = userdata;
        struct addrinfo hints = { .ai_family = j->family, .ai_socktype = SOCK_STREAM, .ai_flags = j->numeric };

        j->gai = getaddrinfo(j->host, j->service, &hints, &j->res);
        j->sys_errno = j->gai == EAI_SYSTEM ? errno : 0;
}

static void resolve_answer(ResolveJob *j) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        Request *req = j->req;
        int r;

        if (j->gai != 0) {
                /* EAI_SYSTEM is an errno, not a resolver's answer: no code travels. */
                request_error_gai(req, gai_to_errno(j->gai, j->sys_errno), j->gai == EAI_SYSTEM ? 0 : j->gai, "%s",
                                  j->gai == EAI_SYSTEM ? strerror(j->sys_errno) : gai_strerror(j->gai));
                return;
        }
        r = proto_reply_new(req->type, req->serial, &reply);
        for (struct addrinfo *ai = j->res; r >= 0 && ai; ai = ai->ai_next) {
                _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
                const void *attrs;
                size_t len;

                if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                        continue;
                if ((r = proto_msg_new(0, 0, &item)) < 0 ||
                    (r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, (uint32_t) ai->ai_family)) < 0 ||
                    (r = proto_msg_append(item, PROTO_ATTR_SOCKADDR, ai->ai_addr, ai->ai_addrlen)) < 0)
                        break;
                attrs = proto_msg_attrs(item, &len);
                r = proto_reply_add_item(reply, attrs, len, -EBADF);
        }
        if (r < 0) {
                request_error(req, -r, NULL);
                return;
        }
        request_reply(req, TAKE_PTR(reply));
}

static void resolve_done(void *userdata, bool cancelled) {
        _cleanup_(resolve_job_freep) ResolveJob *j = userdata;

        if (!j->req)
                return; /* answered at its deadline; the lookup finished for nobody */
        j->req->detach = NULL;
        if (cancelled) {
                request_error(j->req, ECANCELED, "The daemon is stopping");
                return;
        }
        resolve_answer(j);
}

/* Request.detach of a thread pool job: one still waiting for a thread is taken back (it
 * would hold a thread for nobody, and its uid's share with it); a running one goes on, its
 * answer to nobody. */
static void resolve_job_detach(Request *req) {
        ResolveJob *j = req->userdata;

        req->userdata = NULL;
        if (worker_cancel(req->manager->workers, j->job)) {
                resolve_job_free(j);
                return;
        }
        j->req = NULL;
}

static int deadline_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Request *req = userdata;
        unsigned sec = req->manager->config->resolve_timeout_sec;

        if (req->detach)
                req->detach(req);
        req->detach = NULL;
        (void) request_error_gai(req, EAGAIN, EAI_AGAIN, "No answer within %u s (ResolveTimeoutSec=%u)", sec, sec);
        return 0;
}

/* ResolveTimeoutSec=: req, waiting for a backend, is answered EAI_AGAIN if the backend has
 * not answered by then (the thread pool's getaddrinfo() cannot be stopped: its thread waits
 * for resolv.conf's own timeout, for nobody). Without memory for the timer, the backend's
 * own timeout is the only one. Returns REQUEST_PENDING. */
static int arm_deadline(Request *req) {
        Manager *m = req->manager;
        uint64_t usec = (uint64_t) m->config->resolve_timeout_sec * 1000000ULL;

        if (usec > 0 && req->detach)
                (void) sd_event_add_time_relative(m->event, &req->deadline, CLOCK_MONOTONIC, usec, 0, deadline_cb,
                                                  req);
        return REQUEST_PENDING;
}

int resolve_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        _cleanup_(resolve_job_freep) ResolveJob *j = NULL;
        Manager *m = req->manager;
        const char *host, *scope = NULL;
        const Override *o = NULL;
        char why[PROTO_MAX_ERROR_MESSAGE];
        ScopeRef ref = {};
        uint32_t port = 0, family = AF_UNSPEC, target_port, only = 0;
        int r;

        if (proto_get_string(v, PROTO_ATTR_HOST, &host) < 0)
                return request_error(req, EINVAL, "RESOLVE needs a host");
        (void) proto_get_u32(v, PROTO_ATTR_PORT, &port);
        (void) proto_get_u32(v, PROTO_ATTR_FAMILY, &family);
        (void) proto_get_string(v, PROTO_ATTR_SCOPE, &scope);
        (void) proto_get_u32(v, PROTO_ATTR_OVERRIDE_ONLY, &only);
        if (only && port != 0)
                return request_error(req, EINVAL, "OVERRIDE_ONLY takes no port");
        if (port > 65535)
                return request_error(req, EINVAL, "Port %u is out of range (0-65535)", port);
        if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
                return request_error_gai(req, EAFNOSUPPORT, EAI_FAMILY, "%s", gai_strerror(EAI_FAMILY));
        if (override_text_check("host", host, why, sizeof(why)) < 0)
                return request_error(req, EINVAL, "%s", why);
        if (scope && (scope[0] == '\0' || override_scope_ref_parse(scope, &ref, why, sizeof(why)) < 0))
                return request_error(req, EINVAL, "%s", scope[0] ? why : "A scope name must not be empty");

        /* One substitution: the scope's table, then the global one; never recursive.
         * OVERRIDE_ONLY (every getaddrinfo() on the machine, through the NSS module): host-only
         * rules alone, and no rule is ENOENT at once, before any backend work, so that the
         * common case costs one round trip. */
        if (scope) {
                OverrideTable *t = NULL;

                /* Someone else's scope (not root's, and not named NAME@OWNER) is a squatter's
                 * until the caller says otherwise: its rule is not used, and where it has one
                 * that would answer, the caller learns why instead of getting another answer
                 * silently. (A rules file reader finds that rule too and, seeing no answer in
                 * it, asks here: both give the same result.) */
                if (override_scope_for_lookup(m, &ref, req->conn->creds.uid, &t, why, sizeof(why)) < 0) {
                        OverrideTable *theirs = override_table_find(m, ref.name);

                        if (override_lookup(m, theirs, host, port, (int) family, only))
                                return request_error(req, EPERM, "%s", why);
                        override_scope_gc(m, theirs);
                        t = NULL;
                }
                o = override_lookup(m, t, host, port, (int) family, only);
                if (!o)
                        override_scope_gc(m, t); /* its last rules may have just expired */
        }
        if (!o)
                o = override_lookup(m, override_table_find(m, NULL), host, port, (int) family, only);
        if (!o && only)
                return request_error(req, ENOENT, "No override applies");

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->req = req;
        j->family = (int) family;
        j->host = strdup(o ? o->target : host);
        if (!j->host)
                return -ENOMEM;
        target_port = o && o->target_port != OVERRIDE_ANY ? (uint32_t) o->target_port : port;
        snprintf(j->service, sizeof(j->service), "%u", target_port);

        j->numeric = gai_is_literal(j->host) ? AI_NUMERICHOST : 0;
        if (j->numeric || m->config->resolver == RESOLVER_BLOCKING) {
                resolve_work(j);
                resolve_answer(j);
                return 0;
        }
        /* Either backend shares its capacity fairly between uids (one uid's names that never
         * answer do not delay another's). */
        if (m->config->resolver == RESOLVER_CARES && m->cares) {
                r = cares_resolve(m->cares, req, req->conn->creds.uid, j->host, j->family, (uint16_t) target_port);
                return r == REQUEST_PENDING ? arm_deadline(req) : r;
        }
        r = worker_submit(m->workers, req->conn->creds.uid, resolve_work, resolve_done, j, &j->job);
        if (r < 0)
                return r;
        req->detach = resolve_job_detach;
        req->userdata = TAKE_PTR(j);
        return arm_deadline(req);
}
