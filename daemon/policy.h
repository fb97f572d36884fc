/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The access policy (DESIGN.md §4, CLI.md [Policy]): compiled from the configuration's
 * rules at start and on reload — user and group names resolved then, never per request —
 * and asked by the handlers. Owns rule syntax and decisions; must not do I/O per request
 * or trust anything about a client but its Creds.
 */

#include <stdbool.h>
#include <sys/socket.h>

#include "conf.h"
#include "manager.h"

typedef struct Policy Policy;

/* Compiles c's rules. unprivileged_port_start is net.ipv4.ip_unprivileged_port_start
 * (read by the caller; the default policy lets every uid bind ports at or above it, and
 * port 0). Returns 0 and *ret, or -EINVAL with "FILE:LINE: message" in errbuf (an unknown
 * user or group is an error, so that a typo does not silently grant nothing). */
int policy_compile(const Config *c, unsigned unprivileged_port_start, Policy **ret, char *errbuf, size_t errlen);
/* Policies are shared by reference: a job in a worker thread keeps the policy it began
 * with even if a reload replaces it. The count is atomic; the policy itself is immutable.
 * policy_unref() frees on the last reference and returns NULL; NULL is fine for both. */
Policy *policy_ref(Policy *p);
Policy *policy_unref(Policy *p);
static inline void policy_freep(Policy **p) {
        if (*p)
                policy_unref(*p);
}
/* Rules compiled (the defaults not counted). */
unsigned policy_rule_count(const Policy *p);

/* May creds bind sa (AF_INET/AF_INET6; the port as requested, 0 = ephemeral) with
 * socktype (SOCK_STREAM = tcp, SOCK_DGRAM = udp)? Returns 0, or -EPERM with the reason in
 * words in reason ("port 80/tcp is not allowed for uid 65534"). */
int policy_check_bind(const Policy *p, const Creds *creds, const struct sockaddr *sa, int socktype, char *reason,
                      size_t reason_len);

/* The same, by an explicit AllowBind rule only (root: always): the defaults do not count.
 * For what the kernel would refuse between uids, such as joining another uid's reuseport
 * group. */
int policy_check_bind_rule(const Policy *p, const Creds *creds, const struct sockaddr *sa, int socktype,
                           char *reason, size_t reason_len);

/* May creds create a unix socket at the absolute, normalized path? On success returns 0
 * and the allowed directory the path lies under (the longest match; owned by p). Returns
 * -EPERM with the reason otherwise. Root may use any directory ("/"). */
int policy_check_unix(const Policy *p, const Creds *creds, const char *path, const char **ret_dir, char *reason,
                      size_t reason_len);

/* May creds change the global override table (scope NULL) or a named scope it does not
 * own? (Owners may always change their own scopes: the caller checks ownership first.) */
int policy_check_override(const Policy *p, const Creds *creds, const char *scope, char *reason, size_t reason_len);
