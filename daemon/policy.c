/* SPDX-License-Identifier: MIT */

/*
 * The access policy (policy.h, DESIGN.md §4, CLI.md [Policy]). Owns the syntax of the
 * AllowBind=, AllowUnix= and AllowOverride= rules, their compilation (user and group names
 * resolved here, once), the reference count that lets worker threads keep a policy across
 * a reload, and the decisions asked per request. Must not do I/O per request,
 * must not log (reasons and errors are returned as text) and must trust nothing about a
 * client but its Creds.
 *
 * Rules, one per line, whitespace-separated tokens (no quoting):
 *   AllowBind=PRINCIPAL PROTO:PORTS [PROTO:PORTS...] [address:PREFIX...]
 *   AllowUnix=PRINCIPAL DIRECTORY
 *   AllowOverride=PRINCIPAL global|scope|SCOPENAME
 *   PRINCIPAL = user:NAME|UID | group:NAME|GID | *
 * A bind rule allows when the principal, the protocol, a port range and (if any address:
 * tokens) one of the prefixes match. Rules only add to the defaults: root may do
 * everything, every uid may bind port 0 and ports >= ip_unprivileged_port_start.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy.h"

/* Port ranges in one AllowBind= rule: a rule lists one service's ports, so more is a table
 * better split over lines; every range is compared on each bind request. */
#define POLICY_MAX_RANGES 64u
/* Address prefixes in one AllowBind= rule: a host has a handful of addresses; a rule
 * naming more is better split, and each is compared on each bind request. */
#define POLICY_MAX_PREFIXES 16u
/* Largest getpwnam_r()/getgrnam_r() buffer we grow to: a group whose entry (members
 * included) does not fit in 1 MiB is a broken NSS source, not a principal. */
#define POLICY_MAX_NSS_BUFFER (1024u * 1024u)
/* Rules listed in a refusal's "(allowed: …)": the reason travels in an error message of
 * PROTO_MAX_ERROR_MESSAGE (512) bytes and must stay readable. */
#define POLICY_REASON_MAX_LISTED 4u

#define REASON_PREFIX "Permission denied by policy: "

typedef enum PrincipalKind {
        PRINCIPAL_ANY,
        PRINCIPAL_UID,
        PRINCIPAL_GID,
} PrincipalKind;

typedef struct Principal {
        PrincipalKind kind;
        uint32_t id; /* uid or gid */
} Principal;

typedef enum RuleKind {
        RULE_BIND,
        RULE_UNIX,
        RULE_OVERRIDE,
} RuleKind;

typedef enum OverrideTarget {
        OVERRIDE_GLOBAL, /* the global table */
        OVERRIDE_SCOPES, /* creating and owning scopes: everyone may, so it grants nothing more */
        OVERRIDE_NAMED,  /* one named scope, whoever owns it */
} OverrideTarget;

#define PROTO_BIT_TCP 0x1u
#define PROTO_BIT_UDP 0x2u

typedef struct PortRange {
        unsigned protos; /* PROTO_BIT_* */
        uint16_t lo, hi; /* inclusive */
} PortRange;

typedef struct Prefix {
        int family;        /* AF_INET or AF_INET6 */
        unsigned len;      /* prefix length in bits */
        uint8_t bytes[16]; /* network order; 4 used for AF_INET */
} Prefix;

typedef struct Rule {
        RuleKind kind;
        Principal principal;
        PortRange *ranges; /* RULE_BIND */
        size_t n_ranges;
        Prefix *prefixes; /* RULE_BIND; none = any address */
        size_t n_prefixes;
        OverrideTarget target; /* RULE_OVERRIDE */
        char *text;            /* RULE_UNIX: the directory; RULE_OVERRIDE/NAMED: the scope */
        size_t text_len;
} Rule;

struct Policy {
        /* Worker threads hold references while the loop may drop its own on reload. */
        atomic_uint n_ref;
        unsigned unprivileged_port_start;
        Rule *rules;
        size_t n_rules;
};

/* ---- compilation --------------------------------------------------------------------- */

_printf_(4, 5) static int rule_error(const ConfigRule *cr, char *errbuf, size_t errlen, const char *fmt,
                                     ...) {
        char msg[512] = "";
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (errbuf && errlen > 0)
                snprintf(errbuf, errlen, "%s:%u: %s", cr->file ? cr->file : "(unknown)", cr->line, msg);
        return -EINVAL;
}

static void rule_done(Rule *r) {
        free(r->ranges);
        free(r->prefixes);
        free(r->text);
        *r = (Rule){};
}

static void policy_free(Policy *p) {
        for (size_t i = 0; i < p->n_rules; i++)
                rule_done(&p->rules[i]);
        free(p->rules);
        free(p);
}

Policy *policy_ref(Policy *p) {
        if (p)
                atomic_fetch_add_explicit(&p->n_ref, 1, memory_order_relaxed);
        return p;
}

Policy *policy_unref(Policy *p) {
        /* acq_rel: whoever frees sees every other holder's reads finished. */
        if (p && atomic_fetch_sub_explicit(&p->n_ref, 1, memory_order_acq_rel) == 1)
                policy_free(p);
        return NULL;
}

unsigned policy_rule_count(const Policy *p) {
        return p ? (unsigned) p->n_rules : 0;
}

/* Parses s[0..n) as a decimal number <= max: digits only, no sign, no spaces. */
static int parse_decimal(const char *s, size_t n, uint32_t max, uint32_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret = (uint32_t) v;
        return 0;
}

/* Resolves a user name. Returns 0, -ENOENT if there is no such user, or -errno. */
static int lookup_user(const char *name, uint32_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 1024;

        for (;;) {
                struct passwd pw = {}, *result = NULL;
                int r = 0;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getpwnam_r(name, &pw, buf, size, &result);
                if (r == 0 && !result)
                        return -ENOENT;
                if (r == 0) {
                        *ret = (uint32_t) pw.pw_uid;
                        return 0;
                }
                if (r == ERANGE && size < POLICY_MAX_NSS_BUFFER) {
                        size *= 2;
                        continue;
                }
                /* getpwnam_r(3): some implementations say "not found" this way. */
                if (r == ENOENT || r == ESRCH)
                        return -ENOENT;
                return -r;
        }
}

/* Resolves a group name, as lookup_user(). */
static int lookup_group(const char *name, uint32_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 1024;

        for (;;) {
                struct group gr = {}, *result = NULL;
                int r = 0;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &gr, buf, size, &result);
                if (r == 0 && !result)
                        return -ENOENT;
                if (r == 0) {
                        *ret = (uint32_t) gr.gr_gid;
                        return 0;
                }
                if (r == ERANGE && size < POLICY_MAX_NSS_BUFFER) {
                        size *= 2;
                        continue;
                }
                if (r == ENOENT || r == ESRCH)
                        return -ENOENT;
                return -r;
        }
}

static int parse_principal(const ConfigRule *cr, const char *tok, Principal *ret, char *errbuf,
                           size_t errlen) {
        bool is_user = false;
        const char *what = NULL, *name = NULL;
        uint32_t id = 0;
        int r = 0;

        if (strcmp(tok, "*") == 0) {
                *ret = (Principal){.kind = PRINCIPAL_ANY};
                return 0;
        }
        if (strncmp(tok, "user:", 5) == 0) {
                is_user = true;
                name = tok + 5;
        } else if (strncmp(tok, "group:", 6) == 0)
                name = tok + 6;
        else
                return rule_error(cr, errbuf, errlen,
                                  "bad principal '%s': expected user:NAME|UID, group:NAME|GID or *", tok);
        what = is_user ? "user" : "group";
        if (*name == '\0')
                return rule_error(cr, errbuf, errlen, "empty %s name in '%s'", what, tok);

        if (strspn(name, "0123456789") == strlen(name)) {
                /* Numeric ids need not exist; (uid_t) -1 means "no id" to the kernel. */
                if (parse_decimal(name, strlen(name), UINT32_MAX - 1, &id) < 0)
                        return rule_error(cr, errbuf, errlen, "%s id '%s' out of range", what, name);
        } else {
                r = is_user ? lookup_user(name, &id) : lookup_group(name, &id);
                if (r == -ENOMEM)
                        return r;
                if (r == -ENOENT)
                        return rule_error(cr, errbuf, errlen, "unknown %s '%s'", what, name);
                if (r < 0)
                        return rule_error(cr, errbuf, errlen, "cannot look up %s '%s': %s", what, name,
                                          strerror(-r));
        }
        *ret = (Principal){.kind = is_user ? PRINCIPAL_UID : PRINCIPAL_GID, .id = id};
        return 0;
}

/* Parses "tcp:PORTS" or "udp:PORTS" (PORTS after the colon in list) into rule's ranges. */
static int parse_ports(const ConfigRule *cr, Rule *rule, unsigned proto, const char *tok, const char *list,
                       char *errbuf, size_t errlen) {
        const char *p = list;

        if (*p == '\0')
                return rule_error(cr, errbuf, errlen, "no ports in '%s'", tok);
        for (;;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t) (comma - p) : strlen(p);
                const char *dash = memchr(p, '-', n);
                uint32_t lo = 0, hi = 0;
                PortRange *ranges = NULL;

                if (n == 0)
                        return rule_error(cr, errbuf, errlen, "empty port in '%s'", tok);
                if (dash) {
                        size_t n_lo = (size_t) (dash - p);
                        if (parse_decimal(p, n_lo, 65535, &lo) < 0 ||
                            parse_decimal(dash + 1, n - n_lo - 1, 65535, &hi) < 0)
                                return rule_error(
                                        cr, errbuf, errlen,
                                        "bad port range '%.*s' in '%s': expected PORT-PORT, 0..65535",
                                        (int) n, p, tok);
                        if (lo > hi)
                                return rule_error(cr, errbuf, errlen, "reversed port range '%.*s' in '%s'",
                                                  (int) n, p, tok);
                } else {
                        if (parse_decimal(p, n, 65535, &lo) < 0)
                                return rule_error(cr, errbuf, errlen,
                                                  "bad port '%.*s' in '%s': expected 0..65535", (int) n, p,
                                                  tok);
                        hi = lo;
                }
                if (rule->n_ranges >= POLICY_MAX_RANGES)
                        return rule_error(cr, errbuf, errlen, "more than %u port ranges in one rule",
                                          POLICY_MAX_RANGES);
                ranges = reallocarray(rule->ranges, rule->n_ranges + 1, sizeof(PortRange));
                if (!ranges)
                        return -ENOMEM;
                rule->ranges = ranges;
                rule->ranges[rule->n_ranges++] =
                        (PortRange){.protos = proto, .lo = (uint16_t) lo, .hi = (uint16_t) hi};

                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

static bool prefix_has_host_bits(const Prefix *pf) {
        size_t nbytes = pf->family == AF_INET ? 4 : 16;

        for (size_t i = 0; i < nbytes; i++) {
                unsigned bit0 = (unsigned) i * 8; /* first bit of this byte */
                uint8_t mask = 0;

                if (pf->len >= bit0 + 8)
                        continue;
                mask = pf->len <= bit0 ? 0xff : (uint8_t) (0xffu >> (pf->len - bit0));
                if (pf->bytes[i] & mask)
                        return true;
        }
        return false;
}

/* Parses "address:ADDR[/LEN]" (ADDR after the colon in s). */
static int parse_prefix(const ConfigRule *cr, Rule *rule, const char *tok, const char *s, char *errbuf,
                        size_t errlen) {
        char addr[INET6_ADDRSTRLEN] = "";
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        Prefix pf = {};
        Prefix *prefixes = NULL;
        uint32_t len = 0;

        if (n == 0 || n >= sizeof(addr))
                return rule_error(cr, errbuf, errlen,
                                  "bad address '%s': expected address:ADDRESS[/PREFIXLEN]", tok);
        memcpy(addr, s, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET, addr, pf.bytes) == 1)
                pf.family = AF_INET;
        else if (inet_pton(AF_INET6, addr, pf.bytes) == 1)
                pf.family = AF_INET6;
        else
                return rule_error(cr, errbuf, errlen, "bad address '%s': '%s' is not an IPv4 or IPv6 address",
                                  tok, addr);
        pf.len = pf.family == AF_INET ? 32 : 128;
        if (slash) {
                if (parse_decimal(slash + 1, strlen(slash + 1), pf.len, &len) < 0)
                        return rule_error(cr, errbuf, errlen, "bad prefix length in '%s': expected 0..%u",
                                          tok, pf.len);
                pf.len = len;
        }
        /* "10.0.0.1/8" is a typo for 10.0.0.0/8 or for 10.0.0.1: refuse rather than guess. */
        if (prefix_has_host_bits(&pf))
                return rule_error(cr, errbuf, errlen, "bad prefix '%s': address bits set beyond /%u", tok,
                                  pf.len);

        if (rule->n_prefixes >= POLICY_MAX_PREFIXES)
                return rule_error(cr, errbuf, errlen, "more than %u address prefixes in one rule",
                                  POLICY_MAX_PREFIXES);
        prefixes = reallocarray(rule->prefixes, rule->n_prefixes + 1, sizeof(Prefix));
        if (!prefixes)
                return -ENOMEM;
        rule->prefixes = prefixes;
        rule->prefixes[rule->n_prefixes++] = pf;
        return 0;
}

/* Why path is not absolute and normalized, or NULL if it is. */
static const char *path_problem(const char *path) {
        size_t len = strlen(path);

        if (path[0] != '/')
                return "not an absolute path";
        if (len >= PATH_MAX)
                return "longer than PATH_MAX";
        if (len == 1)
                return NULL;
        if (path[len - 1] == '/')
                return "trailing slash";
        for (const char *c = path; *c;) {
                const char *next = strchr(c + 1, '/');
                size_t n = next ? (size_t) (next - c - 1) : strlen(c + 1);

                /* c points at a '/', followed by a component of n bytes. */
                if (n == 0)
                        return "empty component (\"//\")";
                if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
                        return "\".\" or \"..\" component";
                if (!next)
                        break;
                c = next;
        }
        return NULL;
}

static int compile_bind(const ConfigRule *cr, Rule *rule, char **toks, size_t n_toks, char *errbuf,
                        size_t errlen) {
        int r = 0;

        for (size_t i = 0; i < n_toks; i++) {
                const char *t = toks[i];

                if (strncmp(t, "tcp:", 4) == 0)
                        r = parse_ports(cr, rule, PROTO_BIT_TCP, t, t + 4, errbuf, errlen);
                else if (strncmp(t, "udp:", 4) == 0)
                        r = parse_ports(cr, rule, PROTO_BIT_UDP, t, t + 4, errbuf, errlen);
                else if (strncmp(t, "address:", 8) == 0)
                        r = parse_prefix(cr, rule, t, t + 8, errbuf, errlen);
                else
                        r = rule_error(cr, errbuf, errlen,
                                       "unknown token '%s': expected tcp:PORTS, udp:PORTS or address:PREFIX",
                                       t);
                if (r < 0)
                        return r;
        }
        if (rule->n_ranges == 0)
                return rule_error(cr, errbuf, errlen, "AllowBind= needs at least one tcp:PORTS or udp:PORTS");
        return 0;
}

static int compile_unix(const ConfigRule *cr, Rule *rule, char **toks, size_t n_toks, char *errbuf,
                        size_t errlen) {
        const char *problem = NULL;

        if (n_toks != 1)
                return rule_error(cr, errbuf, errlen, "AllowUnix= takes a principal and one directory");
        problem = path_problem(toks[0]);
        if (problem)
                return rule_error(cr, errbuf, errlen, "bad directory '%s': %s", toks[0], problem);
        rule->text = strdup(toks[0]);
        if (!rule->text)
                return -ENOMEM;
        rule->text_len = strlen(rule->text);
        return 0;
}

static int compile_override(const ConfigRule *cr, Rule *rule, char **toks, size_t n_toks, char *errbuf,
                            size_t errlen) {
        if (n_toks != 1)
                return rule_error(
                        cr, errbuf, errlen,
                        "AllowOverride= takes a principal and one of global, scope or a scope name");
        if (strcmp(toks[0], "global") == 0)
                rule->target = OVERRIDE_GLOBAL;
        else if (strcmp(toks[0], "scope") == 0)
                rule->target = OVERRIDE_SCOPES;
        else {
                rule->target = OVERRIDE_NAMED;
                rule->text = strdup(toks[0]);
                if (!rule->text)
                        return -ENOMEM;
                rule->text_len = strlen(rule->text);
        }
        return 0;
}

static int compile_rule(const ConfigRule *cr, Rule *rule, char *errbuf, size_t errlen) {
        _cleanup_(freep) char *copy = NULL;
        /* Tokens after the principal: each adds a port range or a prefix, or is an error,
         * so a valid rule never has more than this. */
        char *toks[POLICY_MAX_RANGES + POLICY_MAX_PREFIXES + 1] = {};
        size_t n_toks = 0;
        char *save = NULL, *t = NULL;
        int r = 0;

        if (!cr->key || !cr->value)
                return rule_error(cr, errbuf, errlen, "incomplete policy rule");
        if (strcmp(cr->key, "AllowBind") == 0)
                rule->kind = RULE_BIND;
        else if (strcmp(cr->key, "AllowUnix") == 0)
                rule->kind = RULE_UNIX;
        else if (strcmp(cr->key, "AllowOverride") == 0)
                rule->kind = RULE_OVERRIDE;
        else
                return rule_error(cr, errbuf, errlen, "unknown policy key '%s'", cr->key);

        /* Names and paths end up quoted in messages: no terminal control bytes. */
        for (const char *c = cr->value; *c; c++)
                if (((unsigned char) *c < 0x20 && !isspace((unsigned char) *c)) || *c == 0x7f)
                        return rule_error(cr, errbuf, errlen, "control character in %s=", cr->key);

        copy = strdup(cr->value);
        if (!copy)
                return -ENOMEM;
        t = strtok_r(copy, " \t\n\v\f\r", &save);
        if (!t)
                return rule_error(cr, errbuf, errlen, "empty rule: expected %s=PRINCIPAL …", cr->key);
        r = parse_principal(cr, t, &rule->principal, errbuf, errlen);
        if (r < 0)
                return r;
        while ((t = strtok_r(NULL, " \t\n\v\f\r", &save))) {
                if (n_toks >= ELEMENTSOF(toks))
                        return rule_error(cr, errbuf, errlen, "too many tokens in %s=", cr->key);
                toks[n_toks++] = t;
        }

        switch (rule->kind) {
        case RULE_BIND:
                return compile_bind(cr, rule, toks, n_toks, errbuf, errlen);
        case RULE_UNIX:
                return compile_unix(cr, rule, toks, n_toks, errbuf, errlen);
        case RULE_OVERRIDE:
                return compile_override(cr, rule, toks, n_toks, errbuf, errlen);
        }
        return -EINVAL;
}

int policy_compile(const Config *c, unsigned unprivileged_port_start, Policy **ret, char *errbuf,
                   size_t errlen) {
        _cleanup_(policy_freep) Policy *p = NULL;

        if (!c || !ret)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        atomic_init(&p->n_ref, 1);
        p->unprivileged_port_start = unprivileged_port_start;
        if (c->n_rules > 0) {
                p->rules = calloc(c->n_rules, sizeof(Rule));
                if (!p->rules)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_rules; i++) {
                int r = compile_rule(&c->rules[i], &p->rules[i], errbuf, errlen);
                /* Count it either way: a half-built rule holds memory policy_free() must see. */
                p->n_rules++;
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- decisions ----------------------------------------------------------------------- */

static bool principal_matches(const Principal *pr, const Creds *creds) {
        switch (pr->kind) {
        case PRINCIPAL_ANY:
                return true;
        case PRINCIPAL_UID:
                return (uint32_t) creds->uid == pr->id;
        case PRINCIPAL_GID:
                if ((uint32_t) creds->gid == pr->id)
                        return true;
                for (size_t i = 0; i < creds->n_groups; i++)
                        if ((uint32_t) creds->groups[i] == pr->id)
                                return true;
                return false;
        }
        return false;
}

/* Appends to buf (size bytes, *pos used), truncating silently. */
_printf_(4, 5) static void append(char *buf, size_t size, size_t *pos, const char *fmt, ...) {
        va_list ap;
        int n = 0;

        if (!buf || *pos + 1 >= size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        *pos = MIN(*pos + (size_t) n, size - 1);
}

/* Is addr (family's length in bytes) inside pf? The wildcard address is inside /0 only:
 * a rule for 127.0.0.1 must not grant binding every address. */
static bool prefix_contains(const Prefix *pf, int family, const uint8_t *addr, bool wildcard) {
        unsigned full = 0, rest = 0;

        if (pf->family != family)
                return false;
        if (wildcard)
                return pf->len == 0;
        full = pf->len / 8;
        rest = pf->len % 8;
        if (memcmp(pf->bytes, addr, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((pf->bytes[full] ^ addr[full]) & (uint8_t) (0xffu << (8 - rest))) == 0;
}

static bool rule_allows_address(const Rule *rule, int family, const uint8_t *addr) {
        static const uint8_t zero[16] = {};
        bool mapped = family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *) addr);
        bool wildcard = memcmp(addr, zero, family == AF_INET ? 4 : 16) == 0 ||
                        (mapped && memcmp(addr + 12, zero, 4) == 0);

        if (rule->n_prefixes == 0)
                return true;
        for (size_t i = 0; i < rule->n_prefixes; i++) {
                if (prefix_contains(&rule->prefixes[i], family, addr, wildcard))
                        return true;
                /* ::ffff:a.b.c.d is a.b.c.d on the wire: IPv4 prefixes apply. */
                if (mapped && prefix_contains(&rule->prefixes[i], AF_INET, addr + 12, wildcard))
                        return true;
        }
        return false;
}

static bool rule_allows_port(const Rule *rule, unsigned proto, unsigned port) {
        for (size_t i = 0; i < rule->n_ranges; i++)
                if ((rule->ranges[i].protos & proto) && port >= rule->ranges[i].lo &&
                    port <= rule->ranges[i].hi)
                        return true;
        return false;
}

static void append_default_ports(char *buf, size_t size, size_t *pos, unsigned start) {
        if (start <= 1)
                append(buf, size, pos, "any port");
        else if (start < 65535)
                append(buf, size, pos, "ports 0 and %u-65535", start);
        else if (start == 65535)
                append(buf, size, pos, "ports 0 and 65535");
        else
                append(buf, size, pos, "port 0");
}

static void append_prefix(char *buf, size_t size, size_t *pos, const Prefix *pf) {
        char s[INET6_ADDRSTRLEN] = "";

        if (!inet_ntop(pf->family, pf->bytes, s, sizeof(s)))
                return;
        if (pf->len == (pf->family == AF_INET ? 32u : 128u))
                append(buf, size, pos, "%s", s);
        else
                append(buf, size, pos, "%s/%u", s, pf->len);
}

/* "; 80,443 on 127.0.0.1" for each rule of creds with ports for proto. */
static void append_bind_rules(char *buf, size_t size, size_t *pos, const Policy *p, const Creds *creds,
                              unsigned proto) {
        unsigned listed = 0;

        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *rule = &p->rules[i];
                bool first = true;

                if (rule->kind != RULE_BIND || !principal_matches(&rule->principal, creds))
                        continue;
                for (size_t j = 0; j < rule->n_ranges; j++)
                        if (rule->ranges[j].protos & proto)
                                first = false;
                if (first)
                        continue;
                if (listed++ >= POLICY_REASON_MAX_LISTED) {
                        append(buf, size, pos, "; …");
                        return;
                }
                append(buf, size, pos, "; ");
                first = true;
                for (size_t j = 0; j < rule->n_ranges; j++) {
                        const PortRange *pr = &rule->ranges[j];

                        if (!(pr->protos & proto))
                                continue;
                        append(buf, size, pos, "%s%u", first ? "" : ",", pr->lo);
                        if (pr->hi != pr->lo)
                                append(buf, size, pos, "-%u", pr->hi);
                        first = false;
                }
                for (size_t j = 0; j < rule->n_prefixes; j++) {
                        append(buf, size, pos, j == 0 ? " on " : ",");
                        append_prefix(buf, size, pos, &rule->prefixes[j]);
                }
        }
}

static int check_bind(const Policy *p, const Creds *creds, const struct sockaddr *sa, int socktype,
                      bool defaults, char *reason, size_t reason_len) {
        char addr_str[INET6_ADDRSTRLEN] = "";
        const uint8_t *addr = NULL;
        const char *proto_name = NULL;
        unsigned proto = 0, port = 0;
        int family = 0;
        size_t pos = 0;

        if (!p || !creds || !sa)
                return -EINVAL;
        family = sa->sa_family;
        if (family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                addr = (const uint8_t *) &in->sin_addr;
                port = ntohs(in->sin_port);
        } else if (family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
                addr = (const uint8_t *) &in6->sin6_addr;
                port = ntohs(in6->sin6_port);
        } else {
                append(reason, reason_len, &pos, "Address family %d is not IPv4 or IPv6", family);
                return -EAFNOSUPPORT;
        }

        if (creds->uid == 0)
                return 0;

        switch (socktype & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        case SOCK_STREAM:
                proto = PROTO_BIT_TCP;
                proto_name = "tcp";
                break;
        case SOCK_DGRAM:
                proto = PROTO_BIT_UDP;
                proto_name = "udp";
                break;
        default:
                append(reason, reason_len, &pos, REASON_PREFIX "socket type %d is not allowed for uid %u",
                       socktype, (unsigned) creds->uid);
                return -EPERM;
        }

        /* The defaults: port 0 (ephemeral) and what the kernel lets anyone bind anyway. */
        if (defaults && (port == 0 || port >= p->unprivileged_port_start))
                return 0;

        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *rule = &p->rules[i];

                if (rule->kind == RULE_BIND && principal_matches(&rule->principal, creds) &&
                    rule_allows_port(rule, proto, port) && rule_allows_address(rule, family, addr))
                        return 0;
        }

        if (!inet_ntop(family, addr, addr_str, sizeof(addr_str)))
                strcpy(addr_str, "?");
        append(reason, reason_len, &pos,
               REASON_PREFIX "port %u/%s on %s is not allowed for uid %u (allowed: ", port, proto_name,
               addr_str, (unsigned) creds->uid);
        append_default_ports(reason, reason_len, &pos, p->unprivileged_port_start);
        append_bind_rules(reason, reason_len, &pos, p, creds, proto);
        append(reason, reason_len, &pos, ")");
        return -EPERM;
}

int policy_check_bind(const Policy *p, const Creds *creds, const struct sockaddr *sa, int socktype,
                      char *reason, size_t reason_len) {
        return check_bind(p, creds, sa, socktype, true, reason, reason_len);
}

int policy_check_bind_rule(const Policy *p, const Creds *creds, const struct sockaddr *sa, int socktype,
                           char *reason, size_t reason_len) {
        return check_bind(p, creds, sa, socktype, false, reason, reason_len);
}

/* Is path strictly below dir (both normalized)? */
static bool path_is_below(const char *path, const char *dir, size_t dir_len) {
        if (dir_len == 1)
                return path[1] != '\0'; /* dir is "/" */
        return strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/' && path[dir_len + 1] != '\0';
}

int policy_check_unix(const Policy *p, const Creds *creds, const char *path, const char **ret_dir,
                      char *reason, size_t reason_len) {
        const char *problem = NULL, *best = NULL;
        size_t best_len = 0, pos = 0;
        unsigned listed = 0;

        if (!p || !creds || !path)
                return -EINVAL;
        problem = path_problem(path);
        if (!problem && path[1] == '\0')
                problem = "the root directory";
        if (problem) {
                append(reason, reason_len, &pos, "Invalid unix socket path '%s': %s", path, problem);
                return -EINVAL;
        }

        if (creds->uid == 0) {
                if (ret_dir)
                        *ret_dir = "/";
                return 0;
        }

        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *rule = &p->rules[i];

                if (rule->kind != RULE_UNIX || !principal_matches(&rule->principal, creds))
                        continue;
                if (rule->text_len > best_len && path_is_below(path, rule->text, rule->text_len)) {
                        best = rule->text;
                        best_len = rule->text_len;
                }
        }
        if (best) {
                if (ret_dir)
                        *ret_dir = best;
                return 0;
        }

        append(reason, reason_len, &pos, REASON_PREFIX "the directory of '%s' is not allowed for uid %u",
               path, (unsigned) creds->uid);
        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *rule = &p->rules[i];

                if (rule->kind != RULE_UNIX || !principal_matches(&rule->principal, creds))
                        continue;
                if (listed++ >= POLICY_REASON_MAX_LISTED) {
                        append(reason, reason_len, &pos, ", …");
                        break;
                }
                append(reason, reason_len, &pos, "%s%s", listed == 1 ? " (allowed: below " : ", ",
                       rule->text);
        }
        if (listed > 0)
                append(reason, reason_len, &pos, ")");
        return -EPERM;
}

int policy_check_override(const Policy *p, const Creds *creds, const char *scope, char *reason,
                          size_t reason_len) {
        size_t pos = 0;

        if (!p || !creds)
                return -EINVAL;
        if (scope && *scope == '\0') {
                append(reason, reason_len, &pos, "Invalid scope name: empty");
                return -EINVAL;
        }
        if (creds->uid == 0)
                return 0;

        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *rule = &p->rules[i];

                if (rule->kind != RULE_OVERRIDE || !principal_matches(&rule->principal, creds))
                        continue;
                if (!scope && rule->target == OVERRIDE_GLOBAL)
                        return 0;
                if (scope && rule->target == OVERRIDE_NAMED && strcmp(rule->text, scope) == 0)
                        return 0;
        }

        if (!scope)
                append(reason, reason_len, &pos,
                       REASON_PREFIX "the global override table is not writable by uid %u",
                       (unsigned) creds->uid);
        else
                append(reason, reason_len, &pos,
                       REASON_PREFIX "scope '%s' belongs to another user and is not writable by uid %u",
                       scope, (unsigned) creds->uid);
        return -EPERM;
}
