/* SPDX-License-Identifier: MIT */

/* Override tables and the OVERRIDE_* requests (override.h). A change to a rule without
 * expiry is made, handed to the state file's writer (state.c) and acknowledged once a write
 * that holds it is durable, or undone and refused if that write fails; drop-in rules
 * (Override.source) are refused to every request. */

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers.h"
#include "text.h"
#include "hash.h"
#include "log.h"
#include "macro.h"
#include "names-index.h"
#include "override.h"
#include "rules-file.h"
#include "policy.h"
#include "state.h"

/* Buckets grow with the rules, keeping chains short: at most 2 rules per bucket on
 * average before doubling. */
#define OVERRIDE_INITIAL_BUCKETS 16u
#define OVERRIDE_MAX_LOAD 2u

/* Per-uid count of rules, for the quota without scanning every table. */
typedef struct UidCount {
        uid_t uid;
        unsigned rules;
        unsigned saved; /* of rules, those without expiry (MaxPersistentRulesPerUser=); uid 0 not counted */
        unsigned scopes;
        struct UidCount *next;
} UidCount;

static UidCount *uid_count(Manager *m, uid_t uid, bool create) {
        UidCount *u;

        for (u = m->override_uids; u; u = u->next)
                if (u->uid == uid)
                        return u;
        if (!create)
                return NULL;
        u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->uid = uid;
        u->next = m->override_uids;
        m->override_uids = u;
        return u;
}

/* The bucket hash of a key: keyed (hash.h), so that no client can choose hosts that all
 * land in one bucket and make every lookup in the table walk them all. */
static size_t key_hash(const char *host, int port, int family) {
        HashState s;
        int32_t pf[2] = { port, family };

        hash_init(&s, hash_process_key());
        hash_add(&s, host, strlen(host) + 1);
        hash_add(&s, pf, sizeof(pf));
        return (size_t) hash_final(&s);
}

static bool key_equal(const Override *o, const char *host, int port, int family) {
        return o->port == port && o->family == family && strcmp(o->host, host) == 0;
}

/* Counts o towards (delta 1) or out of (-1) its setter's rules without expiry. Drop-in rules
 * are root's and root has no such cap: only other uids are counted. */
static void count_saved(Manager *m, const Override *o, int delta) {
        UidCount *u;

        if (o->setter == 0 || o->expires_usec != 0 || o->source)
                return;
        u = uid_count(m, o->setter, false);
        if (!u)
                return; /* counted in override_set(), which made the entry */
        if (delta > 0)
                u->saved++;
        else if (u->saved > 0)
                u->saved--;
}

unsigned override_saved_count(Manager *m, uid_t uid) {
        UidCount *u = uid_count(m, uid, false);

        return u ? u->saved : 0;
}

static void rule_free(Manager *m, OverrideTable *t, Override *o) {
        size_t b = key_hash(o->host, o->port, o->family) % t->n_buckets;
        UidCount *u = uid_count(m, o->setter, false);

        names_index_rule_removed(m, t, o);
        count_saved(m, o, -1);
        m->override_removals++; /* a listing's kept pointer may be this one */
        for (Override **p = &t->buckets[b]; *p; p = &(*p)->bucket_next)
                if (*p == o) {
                        *p = o->bucket_next;
                        break;
                }
        LIST_REMOVE(rules, t->rules, o);
        t->n_rules--;
        m->n_overrides--;
        if (u && u->rules > 0)
                u->rules--;
        free(o->host);
        free(o->target);
        free(o->source);
        free(o);
}

static void table_free(Manager *m, OverrideTable *t) {
        while (t->rules)
                rule_free(m, t, t->rules);
        if (t->name) {
                UidCount *u = uid_count(m, t->owner, false);
                if (u && u->scopes > 0)
                        u->scopes--;
        }
        LIST_REMOVE(tables, m->override_tables, t);
        if (m->override_global == t)
                m->override_global = NULL;
        free(t->buckets);
        free(t->name);
        free(t);
}

void override_tables_free(Manager *m) {
        while (m->override_tables)
                table_free(m, m->override_tables);
        while (m->override_uids) {
                UidCount *u = m->override_uids;
                m->override_uids = u->next;
                free(u);
        }
}

unsigned override_count_all(Manager *m) {
        return m->n_overrides;
}

static OverrideTable *table_new(Manager *m, const char *name, uid_t owner) {
        OverrideTable *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->owner = owner;
        t->n_buckets = OVERRIDE_INITIAL_BUCKETS;
        t->buckets = calloc(t->n_buckets, sizeof(Override *));
        if (!t->buckets || (name && !(t->name = strdup(name)))) {
                free(t->buckets);
                free(t);
                return NULL;
        }
        LIST_PREPEND(tables, m->override_tables, t);
        return t;
}

OverrideTable *override_table_find(Manager *m, const char *scope) {
        if (!scope) {
                if (!m->override_global)
                        m->override_global = table_new(m, NULL, 0);
                return m->override_global;
        }
        for (OverrideTable *t = m->override_tables; t; t = t->tables_next)
                if (t->name && strcmp(t->name, scope) == 0)
                        return t;
        return NULL;
}

/* Keeps t->next_expiry at or before the earliest expiry of its rules. */
static void note_expiry(OverrideTable *t, uint64_t expires_usec) {
        if (expires_usec != 0 && (t->next_expiry == 0 || expires_usec < t->next_expiry))
                t->next_expiry = expires_usec;
}

/* Drops t's expired rules, and t itself if it is a scope left empty. Returns t or NULL. */
static OverrideTable *table_sweep(Manager *m, OverrideTable *t) {
        uint64_t now = now_usec();

        if (!t)
                return NULL;
        if (t->next_expiry != 0 && t->next_expiry <= now) {
                t->next_expiry = 0;
                for (Override *o = t->rules, *next; o; o = next) {
                        next = o->rules_next;
                        if (o->expires_usec != 0 && o->expires_usec <= now)
                                rule_free(m, t, o);
                        else
                                note_expiry(t, o->expires_usec);
                }
        }
        if (t->name && t->n_rules == 0) {
                table_free(m, t);
                return NULL;
        }
        return t;
}

/* Scopes of uid whose rules all expired are not its any more: sweep them. */
static void sweep_owned(Manager *m, uid_t uid) {
        for (OverrideTable *t = m->override_tables, *next; t; t = next) {
                next = t->tables_next;
                if (t->name && t->owner == uid)
                        (void) table_sweep(m, t);
        }
}

int override_table_get(Manager *m, const char *scope, uid_t owner, OverrideTable **ret) {
        OverrideTable *t = override_table_find(m, scope);
        UidCount *u;

        if (!t && !scope)
                return -ENOMEM; /* the global table could not be made */
        if (!t) {
                u = uid_count(m, owner, true);
                if (!u)
                        return -ENOMEM;
                if (owner != 0 && u->scopes >= OVERRIDE_MAX_SCOPES_PER_UID)
                        sweep_owned(m, owner);
                if (owner != 0 && u->scopes >= OVERRIDE_MAX_SCOPES_PER_UID)
                        return -EDQUOT;
                t = table_new(m, scope, owner);
                if (!t)
                        return -ENOMEM;
                u->scopes++;
        }
        *ret = t;
        return 0;
}

static int table_grow(OverrideTable *t) {
        size_t n = t->n_buckets * 2;
        Override **b = calloc(n, sizeof(Override *));

        if (!b)
                return -ENOMEM;
        for (Override *o = t->rules; o; o = o->rules_next) {
                size_t i = key_hash(o->host, o->port, o->family) % n;
                o->bucket_next = b[i];
                b[i] = o;
        }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
        return 0;
}

static Override *find_exact(OverrideTable *t, const char *host, int port, int family) {
        for (Override *o = t->buckets[key_hash(host, port, family) % t->n_buckets]; o; o = o->bucket_next)
                if (key_equal(o, host, port, family))
                        return o;
        return NULL;
}

int override_set(Manager *m, OverrideTable *t, const char *host, int port, int family, const char *target,
                 int target_port, uint64_t ttl_usec, uid_t setter) {
        Override *o = find_exact(t, host, port, family);
        UidCount *u = uid_count(m, setter, true);
        char *new_target;
        size_t b;

        if (!u)
                return -ENOMEM;
        new_target = strdup(target);
        if (!new_target)
                return -ENOMEM;
        if (o) {
                /* Replacing: the rule's count moves to the new setter. */
                UidCount *old = uid_count(m, o->setter, false);
                if (o->setter != setter && setter != 0 && u->rules >= OVERRIDE_MAX_PER_UID) {
                        free(new_target);
                        return -EDQUOT;
                }
                count_saved(m, o, -1);
                if (old && old->rules > 0)
                        old->rules--;
                u->rules++;
                free(o->target);
                o->target = new_target;
                o->target_port = target_port;
                o->expires_usec = ttl_usec ? now_usec() + ttl_usec : 0;
                note_expiry(t, o->expires_usec);
                o->setter = setter;
                count_saved(m, o, 1);
                rules_file_set_answer(o);
                names_index_rule_changed(m, t, o);
                return 0;
        }

        if (setter != 0 && u->rules >= OVERRIDE_MAX_PER_UID) {
                free(new_target);
                return -EDQUOT;
        }
        if (t->n_rules >= t->n_buckets * OVERRIDE_MAX_LOAD && table_grow(t) < 0) {
                free(new_target);
                return -ENOMEM;
        }
        o = calloc(1, sizeof(*o));
        if (!o || !(o->host = strdup(host))) {
                free(o);
                free(new_target);
                return -ENOMEM;
        }
        o->port = port;
        o->family = family;
        o->target = new_target;
        o->target_port = target_port;
        o->expires_usec = ttl_usec ? now_usec() + ttl_usec : 0;
        note_expiry(t, o->expires_usec);
        o->setter = setter;
        o->seq = ++m->override_seq;
        rules_file_set_answer(o);
        b = key_hash(host, port, family) % t->n_buckets;
        o->bucket_next = t->buckets[b];
        t->buckets[b] = o;
        LIST_PREPEND(rules, t->rules, o);
        t->n_rules++;
        m->n_overrides++;
        u->rules++;
        count_saved(m, o, 1);
        names_index_rule_added(m, t, o);
        return 0;
}

Override *override_find(OverrideTable *t, const char *host, int port, int family) {
        return t ? find_exact(t, host, port, family) : NULL;
}

void override_remove_read_only(Manager *m) {
        for (OverrideTable *t = m->override_tables, *tnext; t; t = tnext) {
                tnext = t->tables_next;
                for (Override *o = t->rules, *next; o; o = next) {
                        next = o->rules_next;
                        if (o->source)
                                rule_free(m, t, o);
                }
                override_scope_gc(m, t);
        }
}

int override_del(Manager *m, OverrideTable *t, const char *host, int port, int family) {
        Override *o = find_exact(t, host, port, family);

        if (!o)
                return -ENOENT;
        rule_free(m, t, o);
        return 0;
}

void override_scope_gc(Manager *m, OverrideTable *t) {
        /* A scope lives as long as it has rules; the global table always. */
        if (t && t->name && t->n_rules == 0)
                table_free(m, t);
}

size_t override_clear(Manager *m, OverrideTable *t) {
        size_t n = t->n_rules;

        if (t->name)
                table_free(m, t); /* a scope without rules is gone */
        else
                while (t->rules)
                        rule_free(m, t, t->rules);
        return n;
}

/* The rule with this key if it has not expired (an expired one is dropped). */
static const Override *live(Manager *m, OverrideTable *t, const char *host, int port, int family, uint64_t now) {
        Override *o = find_exact(t, host, port, family);

        if (o && o->expires_usec != 0 && o->expires_usec <= now) {
                rule_free(m, t, o);
                return NULL;
        }
        return o;
}

const Override *override_lookup(Manager *m, OverrideTable *t, const char *host, unsigned port, int family,
                                bool host_only) {
        uint64_t now;
        const Override *o;

        if (!t || t->n_rules == 0)
                return NULL;
        now = now_usec();
        /* Exactly Tornado's order: the triple with the family as passed (AF_UNSPEC is 0),
         * then the pair, then the host. */
        if (!host_only && ((o = live(m, t, host, (int) port, family, now)) ||
                           (o = live(m, t, host, (int) port, OVERRIDE_ANY, now))))
                return o;
        return live(m, t, host, OVERRIDE_ANY, OVERRIDE_ANY, now);
}

/* ---- Names and scope references ---------------------------------------------------------- */

int override_text_check(const char *what, const char *s, char *why, size_t why_len) {
        char detail[96];

        if (text_check(s, detail, sizeof(detail)) < 0) {
                snprintf(why, why_len, "Invalid %s: it %s; names are printable UTF-8 text", what, detail);
                return -EINVAL;
        }
        return 0;
}

int override_scope_name_check(const char *name, char *why, size_t why_len) {
        if (name[0] == '\0' || strlen(name) >= PROTO_MAX_SCOPE) {
                snprintf(why, why_len, "Invalid scope name: it must have 1 to %u bytes", PROTO_MAX_SCOPE - 1);
                return -EINVAL;
        }
        if (strchr(name, '@')) {
                snprintf(why, why_len, "Invalid scope name: '@' separates a scope's name from its owner (NAME@UID)");
                return -EINVAL;
        }
        return override_text_check("scope name", name, why, why_len);
}

int override_scope_ref_parse(const char *ref, ScopeRef *ret, char *why, size_t why_len) {
        const char *at = strrchr(ref, '@');
        size_t len = at ? (size_t) (at - ref) : strlen(ref);
        ScopeRef sr = {};
        int r;

        if (len >= sizeof(sr.name)) {
                snprintf(why, why_len, "Invalid scope name: it must have 1 to %u bytes", PROTO_MAX_SCOPE - 1);
                return -EINVAL;
        }
        memcpy(sr.name, ref, len);
        r = override_scope_name_check(sr.name, why, why_len);
        if (r < 0)
                return r;
        if (at) {
                /* A uid in decimal: user names would need the user database here, per
                 * request, and in the NSS module (a lookup inside a lookup). */
                char *end = NULL;
                unsigned long long v;

                errno = 0;
                v = strtoull(at + 1, &end, 10);
                if (at[1] < '0' || at[1] > '9' || errno != 0 || *end != '\0' || v >= (uid_t) -1) {
                        snprintf(why, why_len,
                                 "Invalid scope reference: the owner after '@' is a uid in decimal (NAME@UID)");
                        return -EINVAL;
                }
                sr.owner = (uid_t) v;
                sr.has_owner = true;
        }
        *ret = sr;
        return 0;
}

int override_scope_for_lookup(Manager *m, const ScopeRef *ref, uid_t uid, OverrideTable **ret, char *why,
                              size_t why_len) {
        OverrideTable *t = override_table_find(m, ref->name);

        *ret = NULL;
        if (!t)
                return 0; /* no such scope: the global table alone */
        if (ref->has_owner && t->owner != ref->owner) {
                snprintf(why, why_len, "Scope '%s' belongs to uid %u, not to uid %u", t->name, (unsigned) t->owner,
                         (unsigned) ref->owner);
                return -EPERM;
        }
        if (!ref->has_owner && t->owner != 0 && t->owner != uid) {
                snprintf(why, why_len,
                         "Scope '%s' belongs to uid %u, not to you (uid %u) or root, so its rules are not used; "
                         "name the owner to use them (NETUTIL_SCOPE=%s@%u), or choose another scope name",
                         t->name, (unsigned) t->owner, (unsigned) uid, t->name, (unsigned) t->owner);
                return -EPERM;
        }
        *ret = t;
        return 0;
}

/* ---- Requests -------------------------------------------------------------------------- */

typedef struct OverrideKey {
        const char *scope; /* the scope's name (in ref), or NULL: the global table */
        ScopeRef ref;
        const char *host;
        int port;
        int family;
} OverrideKey;

/* Reads and checks the key attributes; answers req and returns 1 on a bad request. */
static int parse_key(Request *req, const ProtoView *v, bool need_host, OverrideKey *k) {
        uint32_t u;
        char why[PROTO_MAX_ERROR_MESSAGE];
        const char *scope = NULL;

        *k = (OverrideKey) { .port = OVERRIDE_ANY, .family = OVERRIDE_ANY };
        (void) proto_get_string(v, PROTO_ATTR_SCOPE, &scope);
        if (scope && scope[0] == '\0')
                return request_error(req, EINVAL, "A scope name must not be empty"), 1;
        if (scope) {
                if (override_scope_ref_parse(scope, &k->ref, why, sizeof(why)) < 0)
                        return request_error(req, EINVAL, "%s", why), 1;
                k->scope = k->ref.name;
        }
        if (proto_get_string(v, PROTO_ATTR_HOST, &k->host) < 0 && need_host)
                return request_error(req, EINVAL, "An override needs a host"), 1;
        if (need_host && k->host[0] == '\0')
                return request_error(req, EINVAL, "An override needs a non-empty host"), 1;
        if (k->host && override_text_check("host", k->host, why, sizeof(why)) < 0)
                return request_error(req, EINVAL, "%s", why), 1;
        if (proto_get_u32(v, PROTO_ATTR_PORT, &u) >= 0) {
                if (u > 65535)
                        return request_error(req, EINVAL, "Port %u is out of range (0-65535)", u), 1;
                k->port = (int) u;
        }
        if (proto_get_u32(v, PROTO_ATTR_FAMILY, &u) >= 0) {
                if (u != AF_UNSPEC && u != AF_INET && u != AF_INET6)
                        return request_error(req, EAFNOSUPPORT, "Address family %u not supported", u), 1;
                if (k->port == OVERRIDE_ANY)
                        return request_error(req, EINVAL, "A family in an override key needs a port"), 1;
                k->family = (int) u;
        }
        return 0;
}

/* May req change table scope (NULL: global)? The owner of a scope may, root may, and
 * AllowOverride rules may grant the global table or a named scope. Answers and returns 1
 * if not. */
static int check_write(Request *req, const OverrideKey *k, OverrideTable *t) {
        const Creds *c = &req->conn->creds;
        const char *scope = k->scope;
        char reason[PROTO_MAX_ERROR_MESSAGE];

        /* NAME@UID names the owner: it must be the scope's, or the caller's for a new one. */
        if (scope && k->ref.has_owner && (t ? t->owner != k->ref.owner : k->ref.owner != c->uid)) {
                if (t)
                        request_error(req, EPERM, "Scope '%s' belongs to uid %u, not to uid %u", scope,
                                      (unsigned) t->owner, (unsigned) k->ref.owner);
                else
                        request_error(req, EPERM, "A new scope belongs to its creator: uid %u cannot create "
                                                  "scope '%s' for uid %u", (unsigned) c->uid, scope,
                                      (unsigned) k->ref.owner);
                return 1;
        }
        if (c->uid == 0 || (t && t->name && t->owner == c->uid) || (scope && !t))
                return 0;
        if (policy_check_override(req->manager->policy, c, scope, reason, sizeof(reason)) >= 0)
                return 0;
        /* Say whose it is: the caller may then pick another name, or ask its owner. */
        if (t && t->name)
                snprintf(reason, sizeof(reason),
                         "Permission denied by policy: scope '%s' belongs to uid %u and is not writable by uid %u",
                         scope, (unsigned) t->owner, (unsigned) c->uid);
        log_refusal(c->uid, c->pid, "OVERRIDE", "Refused override change for uid %u pid %d: %s", (unsigned) c->uid,
                    (int) c->pid, reason);
        request_error(req, EPERM, "%s", reason);
        return 1;
}

/* Refuses a change to a drop-in rule: answers req and returns 1. */
static int refuse_read_only(Request *req, const Override *o) {
        if (!o || !o->source)
                return 0;
        log_refusal(req->conn->creds.uid, req->conn->creds.pid, "OVERRIDE",
                    "Refused override change for uid %u pid %d: '%s' comes from %s and is read-only",
                    (unsigned) req->conn->creds.uid, (int) req->conn->creds.pid, o->host, o->source);
        request_error(req, EPERM, "The override for '%s' comes from %s and is read-only", o->host, o->source);
        return 1;
}

/* Answers req after the state file could not be written with r: the change did not happen. */
static int refuse_unsaved(Request *req, int r) {
        return request_error(req, r, "Cannot save overrides: %s", strerror(-r));
}

/* A rule as it was before OVERRIDE_SET changed it, to put back if the change cannot be
 * saved. */
typedef struct RuleBackup {
        bool existed;
        char *target; /* owned */
        int target_port;
        uint64_t expires_usec;
        uid_t setter;
} RuleBackup;

/* Undoes override_set() of this key: the rule as in b (whose target it takes), or no rule
 * and no scope made for it. t may be freed. */
static void rule_restore(Manager *m, OverrideTable *t, const char *host, int port, int family, RuleBackup *b) {
        Override *o = find_exact(t, host, port, family);
        UidCount *now, *was;

        if (!o)
                return;
        if (!b->existed) {
                rule_free(m, t, o);
                override_scope_gc(m, t);
                return;
        }
        /* The count moves back; the old setter's entry exists: it counted this rule. */
        now = uid_count(m, o->setter, false);
        was = uid_count(m, b->setter, false);
        count_saved(m, o, -1);
        if (now && now->rules > 0)
                now->rules--;
        if (was)
                was->rules++;
        free(o->target);
        o->target = TAKE_PTR(b->target);
        o->target_port = b->target_port;
        o->expires_usec = b->expires_usec;
        note_expiry(t, o->expires_usec);
        o->setter = b->setter;
        count_saved(m, o, 1);
        rules_file_set_answer(o);
        names_index_rule_changed(m, t, o);
}

/* A removed rule, to put back if its removal cannot be saved. */
typedef struct RuleCopy {
        char *host, *target;
        int port, family, target_port;
        uint64_t expires_usec;
        uid_t setter;
} RuleCopy;

/*
 * A change to saved rules, made in memory and waiting for the state file (state.h). SET
 * keeps the rule as it was (backup), DEL and CLEAR the rules they removed (oldest first), so
 * that a failed write can undo it: the reply goes only once the write is durable, or as the
 * refusal.
 */
typedef enum ChangeKind {
        CHANGE_SET,
        CHANGE_DEL,
        CHANGE_CLEAR,
} ChangeKind;

typedef struct Change {
        StateChange state; /* first: change_done() casts back */
        Request *req;
        ChangeKind kind;
        char *scope; /* NULL: the global table */
        uid_t scope_owner;
        /* SET: the key and the rule as it was. */
        char *host;
        int port, family;
        RuleBackup backup;
        /* DEL, CLEAR: what was removed. */
        RuleCopy *removed;
        size_t n_removed;
} Change;

static Change *change_free(Change *c) {
        if (!c)
                return NULL;
        free(c->scope);
        free(c->host);
        free(c->backup.target);
        for (size_t i = 0; i < c->n_removed; i++) {
                free(c->removed[i].host);
                free(c->removed[i].target);
        }
        free(c->removed);
        free(c);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Change, change_free);

static int change_new(Request *req, ChangeKind kind, const OverrideTable *t, Change **ret) {
        Change *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->req = req;
        c->kind = kind;
        c->scope_owner = t->owner;
        if (t->name && !(c->scope = strdup(t->name))) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/* Copies the rules of t that go (all, or only o), oldest first. */
static int change_copy_rules(Change *c, OverrideTable *t, const Override *only) {
        size_t n = only ? 1 : t->n_rules;
        Override *last = t->rules;

        c->removed = calloc(MAX(n, 1u), sizeof(*c->removed));
        if (!c->removed)
                return -ENOMEM;
        while (last && last->rules_next)
                last = last->rules_next;
        for (const Override *o = only ?: last; o; o = only ? NULL : o->rules_prev) {
                RuleCopy *k = &c->removed[c->n_removed];

                *k = (RuleCopy) { .port = o->port, .family = o->family, .target_port = o->target_port,
                                  .expires_usec = o->expires_usec, .setter = o->setter };
                k->host = strdup(o->host);
                k->target = strdup(o->target);
                c->n_removed++;
                if (!k->host || !k->target)
                        return -ENOMEM;
        }
        return 0;
}

/* Puts the removed rules back (a rule made meanwhile with the same key gives way to the saved
 * one, which is what the state file still holds). */
static void change_put_back(Manager *m, Change *c) {
        OverrideTable *t = NULL;
        uint64_t now = now_usec();
        int r = override_table_get(m, c->scope, c->scope_owner, &t);

        /* The scope went with its last rule and another uid made one of that name meanwhile:
         * the rules are not put into a table of someone else's. */
        if (r >= 0 && t->owner != c->scope_owner) {
                t = NULL;
                r = -EEXIST;
        }
        for (size_t i = 0; r >= 0 && i < c->n_removed; i++) {
                const RuleCopy *k = &c->removed[i];

                if (k->expires_usec != 0 && k->expires_usec <= now)
                        continue;
                r = override_set(m, t, k->host, k->port, k->family, k->target, k->target_port,
                                 k->expires_usec ? k->expires_usec - now : 0, k->setter);
        }
        if (r < 0)
                log_error_errno(r, "Failed to put back overrides whose removal could not be saved; they come "
                                   "back at the next start: %m");
        if (t)
                override_scope_gc(m, t);
}

static void change_done(Manager *m, StateChange *s, int error) {
        _cleanup_(change_freep) Change *c = (Change *) s; /* state is its first member */
        Request *req = c->req;
        int r;

        if (error < 0) {
                OverrideTable *t = override_table_find(m, c->scope);

                if (c->kind == CHANGE_SET && t && t->owner == c->scope_owner)
                        rule_restore(m, t, c->host, c->port, c->family, &c->backup);
                else if (c->kind != CHANGE_SET)
                        change_put_back(m, c);
                manager_status_changed(m);
                (void) refuse_unsaved(req, error);
                return;
        }
        manager_status_changed(m);
        /* The NSS module's index shows the change before the reply (names-index.h). */
        r = names_index_reply_empty(req);
        if (r < 0)
                (void) request_error(req, -r, NULL);
}

/* Hands c to the state file's writer: the reply waits for it (REQUEST_PENDING). If it cannot
 * wait, the change is undone and refused at once. */
static int change_commit(Manager *m, Change *c) {
        int r;

        c->state.done = change_done;
        r = state_commit(m, &c->state);
        if (r < 0) {
                change_done(m, &c->state, r);
                return 0;
        }
        return REQUEST_PENDING;
}

int override_set_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        Manager *m = req->manager;
        _cleanup_(change_freep) Change *c = NULL;
        uid_t uid = req->conn->creds.uid;
        unsigned cap = m->config->max_persistent_rules_per_user;
        OverrideKey k;
        OverrideTable *t;
        const Override *old;
        RuleBackup backup = {};
        _cleanup_(freep) char *old_target = NULL;
        const char *target;
        uint32_t tp;
        uint64_t ttl = 0;
        int target_port = OVERRIDE_ANY, r;

        if (parse_key(req, v, true, &k))
                return 0;
        if (proto_get_string(v, PROTO_ATTR_TARGET, &target) < 0 || target[0] == '\0')
                return request_error(req, EINVAL, "An override needs a target host");
        {
                char why[PROTO_MAX_ERROR_MESSAGE];
                if (override_text_check("target", target, why, sizeof(why)) < 0)
                        return request_error(req, EINVAL, "%s", why);
        }
        if (proto_get_u32(v, PROTO_ATTR_TARGET_PORT, &tp) >= 0) {
                if (tp > 65535)
                        return request_error(req, EINVAL, "Target port %u is out of range (0-65535)", tp);
                target_port = (int) tp;
        }
        /* Tornado's tuple keys map to a (host, port) pair; a host key to a host only. */
        if ((k.port == OVERRIDE_ANY) != (target_port == OVERRIDE_ANY))
                return request_error(req, EINVAL, "A port in the key and a target port go together");
        (void) proto_get_u64(v, PROTO_ATTR_TTL_USEC, &ttl);
        if (ttl > OVERRIDE_MAX_TTL_USEC)
                return request_error(req, EINVAL, "TTL too long (at most ten years)");

        /* A scope whose rules all expired is gone, whoever made it. */
        t = table_sweep(m, override_table_find(m, k.scope));
        if (check_write(req, &k, t))
                return 0;
        old = override_find(t, k.host, k.port, k.family);
        if (refuse_read_only(req, old))
                return 0;
        /* Every rule without expiry is in every write of the state file: a uid's share of it is
         * capped (root's is not). Replacing one of its own such rules adds nothing. */
        if (ttl == 0 && uid != 0 && cap != 0 && override_saved_count(m, uid) >= cap &&
            !(old && old->expires_usec == 0 && !old->source && old->setter == uid)) {
                log_refusal(uid, req->conn->creds.pid, "OVERRIDE",
                            "Refused override for uid %u pid %d: MaxPersistentRulesPerUser=%u reached",
                            (unsigned) uid, (int) req->conn->creds.pid, cap);
                return request_error(req, EDQUOT,
                                     "Quota exceeded: uid %u already has %u overrides without expiry "
                                     "(MaxPersistentRulesPerUser=%u); give this one a TTL or remove one",
                                     (unsigned) uid, cap, cap);
        }
        if (old) {
                old_target = strdup(old->target);
                if (!old_target)
                        return -ENOMEM;
                backup = (RuleBackup) { .existed = true, .target_port = old->target_port,
                                        .expires_usec = old->expires_usec, .setter = old->setter };
        }
        if (!t) {
                r = override_table_get(m, k.scope, uid, &t);
                if (r == -EDQUOT)
                        return request_error(req, EDQUOT, "Quota exceeded: uid %u already owns %u scopes",
                                             (unsigned) uid, OVERRIDE_MAX_SCOPES_PER_UID);
                if (r < 0)
                        return r;
        }
        /* Acknowledged means saved: a rule without expiry, or one that replaced such a rule,
         * is on disk before the reply. Its record is made before the change, so that nothing
         * can fail between the change and its commit but the write. */
        if (ttl == 0 || (backup.existed && backup.expires_usec == 0)) {
                r = change_new(req, CHANGE_SET, t, &c);
                if (r >= 0 && !(c->host = strdup(k.host)))
                        r = -ENOMEM;
                if (r < 0) {
                        override_scope_gc(m, t); /* a scope made for this rule goes */
                        return r;
                }
                c->port = k.port;
                c->family = k.family;
        }
        r = override_set(m, t, k.host, k.port, k.family, target, target_port, ttl, uid);
        if (r < 0)
                override_scope_gc(m, t); /* a scope made for this rule goes with it */
        if (r == -EDQUOT)
                return request_error(req, EDQUOT, "Quota exceeded: uid %u already has %u overrides",
                                     (unsigned) uid, OVERRIDE_MAX_PER_UID);
        if (r < 0)
                return r;
        if (c) {
                c->backup = backup;
                c->backup.target = TAKE_PTR(old_target);
                return change_commit(m, TAKE_PTR(c));
        }
        manager_status_changed(m);
        /* The NSS module's index shows the change before the reply (names-index.h). */
        return names_index_reply_empty(req);
}

int override_del_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        Manager *m = req->manager;
        _cleanup_(change_freep) Change *c = NULL;
        OverrideKey k;
        OverrideTable *t;
        Override *o;
        int r;

        if (parse_key(req, v, true, &k))
                return 0;
        t = table_sweep(m, override_table_find(m, k.scope));
        if (!t)
                return request_error(req, ENOENT, "No scope named '%s'", k.scope ?: "(global)");
        if (check_write(req, &k, t))
                return 0;
        o = override_find(t, k.host, k.port, k.family);
        if (!o)
                return request_error(req, ENOENT, "No override for '%s' with that port and family", k.host);
        if (refuse_read_only(req, o))
                return 0;
        /* A saved rule: a copy to put back if its removal cannot be saved. */
        if (o->expires_usec == 0 && ((r = change_new(req, CHANGE_DEL, t, &c)) < 0 ||
                                     (r = change_copy_rules(c, t, o)) < 0))
                return r;
        (void) override_del(m, t, k.host, k.port, k.family);
        override_scope_gc(m, t);
        if (c)
                return change_commit(m, TAKE_PTR(c));
        manager_status_changed(m);
        /* The NSS module's index shows the change before the reply (names-index.h). */
        return names_index_reply_empty(req);
}

int override_clear_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        Manager *m = req->manager;
        _cleanup_(change_freep) Change *c = NULL;
        OverrideKey k;
        OverrideTable *t;
        const Override *read_only = NULL;
        bool saved = false;
        int r;

        if (parse_key(req, v, false, &k))
                return 0;
        t = table_sweep(m, override_table_find(m, k.scope));
        if (!t)
                return request_error(req, ENOENT, "No scope named '%s'", k.scope ?: "(global)");
        if (check_write(req, &k, t))
                return 0;
        /* A table with a drop-in rule cannot be cleared: the oldest such rule is named. */
        for (const Override *o = t->rules; o; o = o->rules_next) {
                if (o->source)
                        read_only = o;
                if (o->expires_usec == 0)
                        saved = true;
        }
        if (refuse_read_only(req, read_only))
                return 0;
        /* Saved rules among them: a copy of every rule, to put back if this cannot be saved. */
        if (saved && ((r = change_new(req, CHANGE_CLEAR, t, &c)) < 0 || (r = change_copy_rules(c, t, NULL)) < 0))
                return r;
        (void) override_clear(m, t);
        if (c)
                return change_commit(m, TAKE_PTR(c));
        manager_status_changed(m);
        /* The NSS module's index shows the change before the reply (names-index.h). */
        return names_index_reply_empty(req);
}

/* An OVERRIDE_LIST being built (request_reply_stream()): the table by its name, since it may
 * go between parts, and where the listing is, by the sequence number of the last rule sent.
 * next is the rule to send next, good only while no rule anywhere was removed since. */
typedef struct OverrideListing {
        char *scope; /* NULL: the global table */
        ScopeRef ref; /* with an owner (NAME@UID): only that owner's scope of that name */
        uint64_t last_seq, end_seq;
        Override *next;
        uint64_t removals;
} OverrideListing;

static void listing_free(void *p) {
        OverrideListing *l = p;

        free(l->scope);
        free(l);
}

/* The oldest rule of t set after the last one listed and not after the listing began. Rules
 * are newest first, so their numbers fall along t->rules. */
static Override *listing_next(Manager *m, OverrideListing *l, OverrideTable *t) {
        Override *o = NULL;

        if (l->removals == m->override_removals && l->next)
                o = l->next;
        else if (t->rules && t->rules->seq > l->last_seq)
                for (o = t->rules; o->rules_next && o->rules_next->seq > l->last_seq;)
                        o = o->rules_next;
        return o && o->seq <= l->end_seq ? o : NULL;
}

static int override_list_fill(Request *req, void *state, ProtoReply *reply, size_t budget) {
        OverrideListing *l = state;
        Manager *m = req->manager;
        uint64_t now = now_usec();
        OverrideTable *t;
        Override *o;
        int r;

        /* Expired rules go first, and with the last of them a scope. */
        t = table_sweep(m, override_table_find(m, l->scope));
        if (!t || (l->ref.has_owner && t->owner != l->ref.owner))
                return 1;
        for (o = listing_next(m, l, t); o && !request_stream_full(reply, budget); o = listing_next(m, l, t)) {
                _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
                const void *attrs;
                size_t len;

                if ((r = proto_msg_new(0, 0, &item)) < 0 ||
                    (t->name && (r = proto_msg_append_string(item, PROTO_ATTR_SCOPE, t->name)) < 0) ||
                    (r = proto_msg_append_string(item, PROTO_ATTR_HOST, o->host)) < 0 ||
                    (o->port != OVERRIDE_ANY &&
                     (r = proto_msg_append_u32(item, PROTO_ATTR_PORT, (uint32_t) o->port)) < 0) ||
                    (o->family != OVERRIDE_ANY &&
                     (r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, (uint32_t) o->family)) < 0) ||
                    (r = proto_msg_append_string(item, PROTO_ATTR_TARGET, o->target)) < 0 ||
                    (o->target_port != OVERRIDE_ANY &&
                     (r = proto_msg_append_u32(item, PROTO_ATTR_TARGET_PORT, (uint32_t) o->target_port)) <
                             0) ||
                    (o->expires_usec != 0 &&
                     (r = proto_msg_append_u64(item, PROTO_ATTR_TTL_USEC,
                                               o->expires_usec > now ? o->expires_usec - now : 0)) < 0) ||
                    (o->source && (r = proto_msg_append_string(item, PROTO_ATTR_SOURCE, o->source)) < 0))
                        return r;
                attrs = proto_msg_attrs(item, &len);
                r = proto_reply_add_item(reply, attrs, len, -EBADF);
                if (r < 0)
                        return r;
                l->last_seq = o->seq;
                l->next = o->rules_prev;
                l->removals = m->override_removals;
        }
        return o ? 0 : 1;
}

int override_list_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        Manager *m = req->manager;
        OverrideListing *l;
        OverrideKey k;

        if (parse_key(req, v, false, &k))
                return 0;
        /* Anyone may read a table: they may resolve through it anyway. A scope that does
         * not exist lists as empty. Oldest rule first, built in parts as the client reads:
         * the rules that existed when the listing began and still exist when their part is
         * built, each once, as they are then (PROTOCOL.md, OVERRIDE_LIST). */
        l = calloc(1, sizeof(*l));
        if (!l || (k.scope && !(l->scope = strdup(k.scope)))) {
                free(l);
                return -ENOMEM;
        }
        l->ref = k.ref;
        l->end_seq = m->override_seq;
        return request_reply_stream(req, override_list_fill, listing_free, l);
}
