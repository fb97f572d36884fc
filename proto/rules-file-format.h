/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The rules file: the contract between netutild, which publishes its override rules next to
 * its control socket (daemon/rules-file.c, written with the names index), and its readers,
 * libnetutil's netutil_resolve() and netutil_resolve_async() (client/rules.c) and the NSS
 * module (nss/nss-netutil.c), which answer an override hit whose target is an IP literal
 * from it without a round trip, as glibc answers from nscd's shared mapping. Owns the format, the checks a reader makes
 * and the lookup (Tornado's order, the same as daemon/override.c's); does no I/O, keeps no
 * state and must stay libc-only (the NSS module includes it). proto/PROTOCOL.md, "The rules
 * file", says the same for people.
 *
 * Path: the control socket's path + ".rules" (/run/netutild/netutild.sock.rules). A regular
 * file, mode 0644, replaced as a whole (temporary file, rename()), never changed in place,
 * so a reader sees one complete version or none. The daemon replaces it before it
 * acknowledges any change of a rule, and removes it when it cannot show every rule (more
 * than RULES_FILE_MAX_RULES, a failed write) and when it exits. No file means "ask the
 * daemon": a reader answers from the file only what the daemon would answer the same way.
 *
 *     offset 0    "NURULES1"
 *            8    n, the number of entries (u64)
 *            16   the strings' size (u64)
 *            24   0 (u64, reserved)
 *            32   entry[0..n), RULES_FILE_ENTRY_SIZE bytes each (RulesFileEntry)
 *            32 + 56 n   the strings: hosts and scope names, each NUL-terminated
 *
 * Host byte order. The size is exactly 32 + 56 * n + strings size, and a non-empty strings
 * area ends with a NUL, so an offset below its size names a terminated string. Entries are
 * sorted by host_hash (FNV-1a 64 of the host, names-index-format.h's hash); one per rule of
 * every table (global, scopes, drop-ins), expired or not. An entry whose rule never expires
 * and whose target is an IP literal carries the answer: the address the daemon's numeric
 * getaddrinfo() gives for the target (family, 16 bytes, IPv6 scope id). Every other rule
 * (a name as target, a TTL) is there only so that a reader finds it first and asks.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "names-index-format.h"

#define RULES_FILE_SUFFIX ".rules"
#define RULES_FILE_MAGIC "NURULES1"
#define RULES_FILE_MAGIC_SIZE 8u
/* Magic, entry count, strings size, reserved (0). */
#define RULES_FILE_HEADER_SIZE 32u
/* The file's mode: every user's resolves read it; only the daemon writes it. */
#define RULES_FILE_MODE 0644
/* The most rules the file shows: the daemon rewrites it whole before acknowledging a change,
 * 56 bytes and a host per rule, so 16 384 rules are about 1.5 MB, a millisecond or two per
 * batch of changes. A test run sets tens to thousands; past this many, no file: every
 * resolve asks the daemon, as it does without one. */
#define RULES_FILE_MAX_RULES 16384u
/* scope_off of the global table's rules. */
#define RULES_FILE_GLOBAL UINT32_MAX
/* port, family or target_port absent from a rule (OVERRIDE_ANY). */
#define RULES_FILE_ANY (-1)
/* flags: the rule never expires and its target is a literal: answer_* are set. */
#define RULES_FILE_ANSWER 1u

typedef struct RulesFileEntry {
        uint64_t host_hash;       /* names_index_hash(host) */
        uint32_t host_off;        /* into the strings */
        uint32_t scope_off;       /* into the strings, or RULES_FILE_GLOBAL */
        int32_t port;             /* RULES_FILE_ANY or 0..65535 */
        int32_t family;           /* RULES_FILE_ANY or AF_UNSPEC/AF_INET/AF_INET6 */
        int32_t target_port;      /* RULES_FILE_ANY: the asked port */
        uint32_t flags;           /* RULES_FILE_ANSWER */
        uint32_t answer_family;   /* AF_INET or AF_INET6 */
        uint32_t answer_scope_id; /* sin6_scope_id */
        uint8_t answer_addr[16];  /* 4 bytes for AF_INET */
} RulesFileEntry;

#define RULES_FILE_ENTRY_SIZE 56u
_Static_assert(sizeof(RulesFileEntry) == RULES_FILE_ENTRY_SIZE, "RulesFileEntry is part of the format");

typedef struct RulesFileView {
        const RulesFileEntry *entries;
        uint64_t n;
        const char *strings;
        uint64_t strings_size;
} RulesFileView;

/* Checks a whole file's bytes (buf 8-byte aligned, as mmap() gives it): magic, sizes, the
 * final NUL. Fills *ret and returns true, or false for anything but a well-formed file.
 * O(1): the entries are checked by rules_file_check() (a reader that keeps the file) or, in
 * the part a question reads, by rules_file_lookup(). */
static inline bool rules_file_parse(const void *buf, size_t size, RulesFileView *ret) {
        uint64_t n, strings_size, reserved;
        const char *p = buf;

        if (size < RULES_FILE_HEADER_SIZE || memcmp(p, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE) != 0)
                return false;
        memcpy(&n, p + 8, sizeof(n));
        memcpy(&strings_size, p + 16, sizeof(strings_size));
        memcpy(&reserved, p + 24, sizeof(reserved));
        if (reserved != 0 || n > (size - RULES_FILE_HEADER_SIZE) / RULES_FILE_ENTRY_SIZE ||
            strings_size != size - RULES_FILE_HEADER_SIZE - n * RULES_FILE_ENTRY_SIZE ||
            (strings_size > 0 && p[size - 1] != '\0'))
                return false;
        ret->entries = (const RulesFileEntry *) (const void *) (p + RULES_FILE_HEADER_SIZE);
        ret->n = n;
        ret->strings = p + RULES_FILE_HEADER_SIZE + n * RULES_FILE_ENTRY_SIZE;
        ret->strings_size = strings_size;
        return true;
}

/* Whether every entry is in order (by host_hash) and names strings inside the file: O(n),
 * for a reader that checks a file once and keeps it (libnetutil). A lookup in a file that
 * fails this may miss a rule that shadows another: the reader must not use such a file. */
static inline bool rules_file_check(const RulesFileView *f) {
        for (uint64_t i = 0; i < f->n; i++) {
                const RulesFileEntry *e = &f->entries[i];

                if ((i > 0 && f->entries[i - 1].host_hash > e->host_hash) || e->host_off >= f->strings_size ||
                    (e->scope_off != RULES_FILE_GLOBAL && e->scope_off >= f->strings_size))
                        return false;
        }
        return true;
}

/* The string at off, or NULL if off is outside the strings (a corrupt file). */
static inline const char *rules_file_string(const RulesFileView *f, uint32_t off) {
        return off < f->strings_size ? f->strings + off : NULL;
}

/* Whether e belongs to the table scope (NULL: the global one) and has the key (host, port,
 * family): 1 if it does, 0 if not, -1 if its strings are outside the file (corrupt: it may
 * be the very rule asked for, so the caller must not look further). */
static inline int rules_file_entry_is(const RulesFileView *f, const RulesFileEntry *e, const char *scope,
                                      const char *host, int port, int family) {
        const char *s = e->scope_off == RULES_FILE_GLOBAL ? NULL : rules_file_string(f, e->scope_off),
                   *h = rules_file_string(f, e->host_off);

        if (!h || (e->scope_off != RULES_FILE_GLOBAL && !s))
                return -1;
        return e->port == port && e->family == family && !scope == !s && (!scope || strcmp(s, scope) == 0) &&
               strcmp(h, host) == 0;
}

/* e, the rule that applies, if it carries the answer for family (AF_UNSPEC or the literal's
 * own) in a form the reader can use; else NULL (the daemon answers). */
static inline const RulesFileEntry *rules_file_answer(const RulesFileEntry *e, int family) {
        if (!(e->flags & RULES_FILE_ANSWER) || e->target_port < RULES_FILE_ANY || e->target_port > 65535 ||
            (e->answer_family != AF_INET && e->answer_family != AF_INET6) ||
            (family != AF_UNSPEC && (uint32_t) family != e->answer_family))
                return NULL;
        return e;
}

/* Rule lookup, Tornado's order (daemon/override.c, override_lookup()): the scope's table
 * (scope non-NULL and non-empty), then the global one; in each (host, port, family) with the
 * family as asked (AF_UNSPEC is 0), then (host, port), then host. host_only: the host form
 * alone (the NSS module's OVERRIDE_ONLY). Returns the entry of the rule that applies if it
 * carries the answer for family (AF_UNSPEC or the literal's own), else NULL: no rule, a rule
 * whose target is a name or that may expire, a family the literal lacks, a corrupt entry
 * among the host's — each of which only the daemon answers. Entries out of order can hide a
 * rule from the binary search: rules_file_check() finds them. */
static inline const RulesFileEntry *rules_file_lookup(const RulesFileView *f, const char *scope, const char *host,
                                                      int port, int family, bool host_only) {
        const struct {
                int port, family;
        } forms[3] = { { port, family }, { port, RULES_FILE_ANY }, { RULES_FILE_ANY, RULES_FILE_ANY } };
        uint64_t h = names_index_hash(host), lo = 0, hi = f->n, first;

        /* The first entry with host_hash >= h. */
        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;

                if (f->entries[mid].host_hash < h)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        first = lo;
        for (int table = scope && *scope ? 0 : 1; table < 2; table++)
                for (unsigned k = host_only ? 2 : 0; k < 3; k++)
                        for (uint64_t i = first; i < f->n && f->entries[i].host_hash == h; i++) {
                                const RulesFileEntry *e = &f->entries[i];
                                int is = rules_file_entry_is(f, e, table == 0 ? scope : NULL, host, forms[k].port,
                                                             forms[k].family);

                                if (is < 0)
                                        return NULL;
                                if (is > 0)
                                        return rules_file_answer(e, family);
                        }
        return NULL;
}

/* The answer of e for the asked port, as the daemon's numeric getaddrinfo() gives it: a
 * zeroed sockaddr_in or sockaddr_in6 with the address, the port (the rule's target port, or
 * the asked one) and the IPv6 scope id. Returns its length. */
static inline socklen_t rules_file_sockaddr(const RulesFileEntry *e, unsigned port, struct sockaddr_storage *ret) {
        uint16_t p = htons((uint16_t) (e->target_port >= 0 ? (unsigned) e->target_port : port));

        memset(ret, 0, sizeof(*ret));
        if (e->answer_family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *) ret;

                sin->sin_family = AF_INET;
                sin->sin_port = p;
                memcpy(&sin->sin_addr, e->answer_addr, 4);
                return sizeof(*sin);
        }
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ret;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = p;
        memcpy(&sin6->sin6_addr, e->answer_addr, 16);
        sin6->sin6_scope_id = e->answer_scope_id;
        return sizeof(*sin6);
}
