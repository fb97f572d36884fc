/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Override tables (DESIGN.md §6; Tornado's OverrideResolver, reference §6): the global
 * table and named scopes, each a hash of rules keyed by (host, port, family) where port
 * and family may be absent. Owns the rules, their expiry, scope ownership and quotas.
 * Must not resolve anything (resolve.c does) or check policy (the handlers do).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "manager.h"
#include "netutil-proto.h"

/* Rules one uid may set across all tables: each costs memory in a privileged daemon. */
#define OVERRIDE_MAX_PER_UID 100000u
/* Scopes one uid may own: a test run makes one, a CI machine a few hundred at most. */
#define OVERRIDE_MAX_SCOPES_PER_UID 256u
/* The longest TTL accepted: ten years, so that now + ttl cannot overflow. */
#define OVERRIDE_MAX_TTL_USEC (10ULL * 366 * 24 * 3600 * 1000000ULL)

#define OVERRIDE_ANY (-1) /* port or family not part of the key; target port kept */

typedef struct Override {
        char *host;
        int port;             /* OVERRIDE_ANY or 0..65535 */
        int family;           /* OVERRIDE_ANY or AF_UNSPEC/AF_INET/AF_INET6 (needs a port) */
        char *target;
        int target_port;      /* OVERRIDE_ANY: keep the asked port */
        uint64_t expires_usec; /* CLOCK_MONOTONIC; 0 = never */
        uid_t setter;         /* who set it, for the per-uid quota */
        uint64_t seq;         /* Manager.override_seq when it was first set: listings resume by it */
        char *source;         /* drop-in rule: "FILE:LINE", read-only and never saved; NULL: a client's */
        /* The target as the numeric getaddrinfo() gives it, for the rules file (rules-file.c,
         * rules_file_set_answer()): answer_family 0 if the target is no literal. */
        uint32_t answer_family, answer_scope_id;
        uint8_t answer_addr[16];
        uint32_t rules_file_entry; /* its entry in the rules file's image (rules-file.c), number; 0: none */
        struct Override *bucket_next;
        LIST_FIELDS(struct Override, rules); /* insertion order, for listing */
} Override;

typedef struct OverrideTable {
        char *name; /* NULL: the global table */
        uid_t owner;
        Override **buckets;
        size_t n_buckets;
        size_t n_rules;
        Override *rules; /* newest first */
        uint64_t next_expiry; /* no rule expires before this (0: none has a TTL): sweeps
                               * before it are skipped, so a big table costs nothing */
        LIST_FIELDS(struct OverrideTable, tables);
} OverrideTable;

/* A scope as a request names it: NAME, or NAME@UID to name its owner too (the owner's
 * consent to trust a scope of another uid: override_scope_for_lookup()). */
typedef struct ScopeRef {
        char name[PROTO_MAX_SCOPE];
        uid_t owner;
        bool has_owner;
} ScopeRef;

/* Names are text (DESIGN.md §4): 0 if s (a host or target; what names it in the message) is
 * valid UTF-8 without control characters, else -EINVAL and the reason in why, in words
 * that never repeat the bytes. */
int override_text_check(const char *what, const char *s, char *why, size_t why_len);
/* A scope name: 1..PROTO_MAX_SCOPE - 1 bytes of text without '@'. 0 or -EINVAL (why). */
int override_scope_name_check(const char *name, char *why, size_t why_len);
/* Parses NAME or NAME@UID (UID in decimal). 0, or -EINVAL with the reason in why. */
int override_scope_ref_parse(const char *ref, ScopeRef *ret, char *why, size_t why_len);
/* The scope table a lookup by uid through ref may use (issue 13, item 10: a scope is not a
 * way to steer another uid): a scope of root's or of uid's own, or of the owner ref names.
 * *ret NULL and 0 if no scope has that name (the global table alone); -EPERM with why in
 * words if the scope belongs to someone else (ref did not name that owner). */
int override_scope_for_lookup(Manager *m, const ScopeRef *ref, uid_t uid, OverrideTable **ret, char *why,
                              size_t why_len);

/* The table for scope (NULL: global), or NULL if that scope does not exist. */
OverrideTable *override_table_find(Manager *m, const char *scope);
/* The scope's table, made for owner if missing (-EDQUOT past the scope quota). */
int override_table_get(Manager *m, const char *scope, uid_t owner, OverrideTable **ret);
void override_tables_free(Manager *m);
unsigned override_count_all(Manager *m);

/* Rules without expiry set by uid (counted for every uid but root), for
 * MaxPersistentRulesPerUser=. */
unsigned override_saved_count(Manager *m, uid_t uid);

/* Adds or replaces the rule with the same key. ttl_usec 0 = no expiry. Returns 0,
 * -EDQUOT (the setter's quota) or -ENOMEM. */
int override_set(Manager *m, OverrideTable *t, const char *host, int port, int family, const char *target,
                 int target_port, uint64_t ttl_usec, uid_t setter);
/* The rule with exactly this key, expired or not, or NULL. */
Override *override_find(OverrideTable *t, const char *host, int port, int family);
/* Removes every drop-in (read-only) rule, and the scopes left without rules (state.c,
 * before it loads the drop-ins again). */
void override_remove_read_only(Manager *m);

/* Removes the rule with exactly this key; -ENOENT if none. */
int override_del(Manager *m, OverrideTable *t, const char *host, int port, int family);
/* Removes every rule of t; a scope's table itself goes too. Returns the number removed. */
size_t override_clear(Manager *m, OverrideTable *t);

/* Frees t if it is a scope left without rules (deleted or expired ones): call it where
 * nothing else holds t. */
void override_scope_gc(Manager *m, OverrideTable *t);

/* Tornado's lookup order in one table (NULL: none): (host, port, family), then (host, port),
 * then host; host_only: the host form alone (the NSS module's OVERRIDE_ONLY). Expired rules
 * are dropped on the way. NULL if none applies. */
const Override *override_lookup(Manager *m, OverrideTable *t, const char *host, unsigned port, int family,
                                bool host_only);

int override_set_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int override_del_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int override_list_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int override_clear_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
