/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the configuration parser and the policy compiler (daemon/conf.c,
 * daemon/policy.c). An input is a netutild.conf: it is written to a file and loaded with
 * config_load() as the daemon does at start and on SIGHUP, then compiled with
 * policy_compile(); a compiled policy is asked a fixed set of questions (bind, unix,
 * override) for root, nobody and a uid with groups. Owns only these invariants; must not
 * keep anything between inputs.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "conf.h"
#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

const char fuzz_name[] = "config";

static char conf_path[PATH_MAX];

void fuzz_setup(void) {
        /* The parser does not log, but the library it lives in may: keep the run quiet. */
        log_set_max_level(LOG_CRIT);
        fuzz_format(conf_path, sizeof(conf_path), "%s/netutild.conf", fuzz_tmpdir());
}

static void ask(const Policy *p) {
        static gid_t groups[] = { 0, 100, 65534 };
        const Creds who[] = {
                { .uid = 0, .gid = 0 },
                { .uid = 65534, .gid = 65534 },
                { .uid = 1000, .gid = 1000, .groups = groups, .n_groups = ELEMENTSOF(groups) },
        };
        static const char *const paths[] = { "/", "/run/app/sock", "/tmp/x", "/run/app" };
        static const char *const scopes[] = { NULL, "scope", "test-1", "global" };
        static const unsigned ports[] = { 0, 80, 443, 1023, 1024, 8080, 65535 };
        char reason[PROTO_MAX_ERROR_MESSAGE];

        for (size_t w = 0; w < ELEMENTSOF(who); w++) {
                for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
                        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(ports[i]) };
                        struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(ports[i]) };
                        int r;

                        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                        sin6.sin6_addr = in6addr_loopback;
                        r = policy_check_bind(p, &who[w], (struct sockaddr *) &sin, SOCK_STREAM, reason,
                                              sizeof(reason));
                        fuzz_assert(r == 0 || r == -EPERM);
                        /* Root may do everything, whatever the rules say. */
                        fuzz_assert(who[w].uid != 0 || r == 0);
                        r = policy_check_bind(p, &who[w], (struct sockaddr *) &sin6, SOCK_DGRAM, reason,
                                              sizeof(reason));
                        fuzz_assert(r == 0 || r == -EPERM);
                        r = policy_check_bind_rule(p, &who[w], (struct sockaddr *) &sin, SOCK_DGRAM, reason,
                                                   sizeof(reason));
                        fuzz_assert(r == 0 || r == -EPERM);
                }
                for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                        const char *dir = NULL;
                        int r = policy_check_unix(p, &who[w], paths[i], &dir, reason, sizeof(reason));

                        /* "/" itself is no socket path, whoever asks. */
                        if (strcmp(paths[i], "/") == 0)
                                fuzz_assert(r == -EINVAL);
                        else
                                fuzz_assert(r == 0 || r == -EPERM);
                        fuzz_assert(r < 0 || dir);
                }
                for (size_t i = 0; i < ELEMENTSOF(scopes); i++) {
                        int r = policy_check_override(p, &who[w], scopes[i], reason, sizeof(reason));
                        fuzz_assert(r == 0 || r == -EPERM || r == -EINVAL);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        char err[512] = "";
        int r;

        fuzz_write_file(conf_path, data, size);
        r = config_load(conf_path, false, &c, err, sizeof(err));
        if (r < 0) {
                /* A refusal says where and why. */
                fuzz_assert(r == -EINVAL || r == -ENOMEM || r == -EFBIG || r == -E2BIG);
                fuzz_assert(err[0] != '\0');
                return 0;
        }
        fuzz_assert(c && c->n_rules <= CONFIG_MAX_RULES);
        fuzz_assert(c->max_clients >= 1 && c->max_clients <= CONFIG_MAX_CLIENTS);
        fuzz_assert(c->resolver_threads >= 1 && c->resolver_threads <= CONFIG_MAX_RESOLVER_THREADS);
        fuzz_assert(resolver_kind_to_string(c->resolver));

        r = policy_compile(c, 1024, &p, err, sizeof(err));
        if (r < 0) {
                fuzz_assert(r == -EINVAL || r == -ENOMEM);
                fuzz_assert(err[0] != '\0');
                return 0;
        }
        fuzz_assert(policy_rule_count(p) <= c->n_rules);
        ask(p);
        return 0;
}
