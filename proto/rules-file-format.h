/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The rules file: the contract between netutild, which publishes its override rules next to
 * its control socket (daemon/rules-file.c, written with the names index), and its readers,
 * libnetutil's netutil_resolve() and netutil_resolve_async() (client/rules.c) and the NSS
 * module (nss/nss-netutil.c), which answer an override hit whose target is an IP literal
 * from it without a round trip, as glibc answers from nscd's shared mapping. Owns the format,
 * the checks a reader makes and the lookup (Tornado's order, the same as daemon/override.c's);
 * does no I/O, keeps no state and must stay libc-only (the NSS module includes it).
 * proto/PROTOCOL.md, "The rules file", says the same for people.
 *
 * Path: the control socket's path + ".rules" (/run/netutild/netutild.sock.rules). A regular
 * file, mode 0644. Version 2 (this one) is a hash table that the daemon changes in place, so
 * that a change costs the same whatever the number of rules (version 1, sorted and rewritten
 * whole per change, cost O(rules)); it never changes size, and when it fills up the daemon
 * writes a new one with room for twice the rules and rename()s it over the old one. It
 * removes the file when it cannot show every rule (past RULES_FILE_MAX_RULES, a failed
 * write) and when it exits. No file means "ask the daemon": a reader answers from the file
 * only what the daemon would answer the same way.
 *
 *     offset 0    "NURULES2"
 *            8    seq (u64): even while the file shows a state of the tables, odd while the
 *                 daemon changes it in place
 *            16   key[2] (2 x u64): the SipHash key of the slots (names-index-format.h)
 *            32   slots, a power of two (u64)
 *            40   entries (u64)
 *            48   the strings' size (u64), at least 1
 *            56   0 (u64, reserved)
 *            64   slot[0..slots), 16 bytes each: hash (u64), head (u32), 0 (u32)
 *            ...  entry[0..entries), RULES_FILE_ENTRY_SIZE bytes each (RulesFileEntry)
 *            ...  the strings: hosts and scope names, each NUL-terminated; the last byte is
 *                 NUL and never written, so an offset below the size names a terminated
 *                 string whatever else is there
 *
 * Host byte order. The size is exactly 64 + 16 slots + 56 entries + strings size. A slot
 * holds the rules of one table for one host: hash is names_index_siphash(key, host, scope)
 * (scope NULL for the global table; 1 if that is 0), 0 for a free slot, and head is the
 * number (index + 1) of the newest entry of its chain, 0 for none. A slot sits at most
 * NAMES_INDEX_MAX_PROBE slots after its home (hash & (slots - 1)), before any free one. Each
 * entry's next is the number of the next older entry of its chain, always lower than its
 * own (so every walk ends), 0 at the end. An entry is one rule, or a rule that was removed
 * or replaced (flag RULES_FILE_REMOVED): a chain holds at most one entry not removed per key
 * (port, family) and table. An entry whose rule never expires and whose target is an IP
 * literal carries the answer: the address the daemon's numeric getaddrinfo() gives for the
 * target (family, 16 bytes, IPv6 scope id). Every other rule (a name as target, a TTL) is
 * there only so that a reader finds it first and asks.
 *
 * In place the daemon only appends entries and strings to room that was 0 (linking them to
 * a chain's head), sets RULES_FILE_REMOVED, fills free slots and moves heads, each batch
 * between two writes of seq: odd before the first change, even after the last, and the
 * change is acknowledged after that. A reader reads seq (even, or it asks), looks up, and
 * reads seq again: the same value means nothing was written in between (POSIX: a read
 * that begins after a write() returned sees it), so the lookup saw one state of the tables;
 * another means "ask". Every index and offset is checked where it is used, so a reader
 * that reads while the daemon writes cannot go outside the file or loop.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "names-index-format.h"

#define RULES_FILE_SUFFIX ".rules"
#define RULES_FILE_MAGIC "NURULES2"
#define RULES_FILE_MAGIC_SIZE 8u
/* Magic, seq, key, slots, entries, strings size, reserved (0). */
#define RULES_FILE_HEADER_SIZE 64u
/* Where seq is: a reader reads it before and after a lookup. */
#define RULES_FILE_SEQ_OFFSET 8u
#define RULES_FILE_SLOT_SIZE 16u
/* The file's mode: every user's resolves read it; only the daemon writes it. */
#define RULES_FILE_MODE 0644
/* The most rules the file shows. A change costs the same at any count, but the file and the
 * daemon's copy of it take about 200 bytes per rule (room for twice the rules, four slots
 * per rule): 16 384 rules are about 3 MB of each. A test run sets tens to thousands; past
 * this many, no file: every resolve asks the daemon, as it does without one, until the
 * rules are down to half of it (so that a count going back and forth across the cap cannot
 * make the daemon write the whole file per change). */
#define RULES_FILE_MAX_RULES 16384u
/* The slot and entry counts a reader accepts: far past RULES_FILE_MAX_RULES. */
#define RULES_FILE_MAX_SLOTS (UINT64_C(1) << 24)
#define RULES_FILE_MAX_ENTRIES (UINT64_C(1) << 24)
/* scope_off of the global table's rules. */
#define RULES_FILE_GLOBAL UINT32_MAX
/* port, family or target_port absent from a rule (OVERRIDE_ANY). */
#define RULES_FILE_ANY (-1)
/* flags: the rule never expires and its target is a literal: answer_* are set. */
#define RULES_FILE_ANSWER 1u
/* flags: the rule was removed or replaced; the entry only keeps its chain whole. */
#define RULES_FILE_REMOVED 2u

typedef struct RulesFileSlot {
        uint64_t hash; /* names_index_siphash(key, host, scope), 0: free */
        uint32_t head; /* newest entry's number (index + 1), 0: none */
        uint32_t reserved;
} RulesFileSlot;

_Static_assert(sizeof(RulesFileSlot) == RULES_FILE_SLOT_SIZE, "RulesFileSlot is part of the format");

typedef struct RulesFileEntry {
        uint32_t host_off;        /* into the strings */
        uint32_t scope_off;       /* into the strings, or RULES_FILE_GLOBAL */
        int32_t port;             /* RULES_FILE_ANY or 0..65535 */
        int32_t family;           /* RULES_FILE_ANY or AF_UNSPEC/AF_INET/AF_INET6 */
        int32_t target_port;      /* RULES_FILE_ANY: the asked port */
        uint32_t flags;           /* RULES_FILE_ANSWER, RULES_FILE_REMOVED */
        uint32_t answer_family;   /* AF_INET or AF_INET6 */
        uint32_t answer_scope_id; /* sin6_scope_id */
        uint8_t answer_addr[16];  /* 4 bytes for AF_INET */
        uint32_t next;            /* the next older entry's number in the chain, 0: none */
        uint32_t reserved;
} RulesFileEntry;

#define RULES_FILE_ENTRY_SIZE 56u
_Static_assert(sizeof(RulesFileEntry) == RULES_FILE_ENTRY_SIZE, "RulesFileEntry is part of the format");

typedef struct RulesFileView {
        const char *base; /* the file's first byte, for seq */
        uint64_t key[2];
        const RulesFileSlot *slots;
        uint64_t n_slots; /* a power of two */
        const RulesFileEntry *entries;
        uint64_t n;
        const char *strings;
        uint64_t strings_size;
} RulesFileView;

/* Checks a whole file's bytes (buf 8-byte aligned, as mmap() gives it): magic (another
 * version's included: a reader that does not know it asks the daemon), counts, sizes, the
 * final NUL. Fills *ret and returns true, or false for anything but a well-formed file.
 * O(1): entries and slots are checked where a lookup reads them. */
static inline bool rules_file_parse(const void *buf, size_t size, RulesFileView *ret) {
        uint64_t slots, n, strings_size, reserved;
        const char *p = buf;

        if (size < RULES_FILE_HEADER_SIZE || memcmp(p, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE) != 0)
                return false;
        memcpy(&slots, p + 32, sizeof(slots));
        memcpy(&n, p + 40, sizeof(n));
        memcpy(&strings_size, p + 48, sizeof(strings_size));
        memcpy(&reserved, p + 56, sizeof(reserved));
        if (reserved != 0 || slots == 0 || slots > RULES_FILE_MAX_SLOTS || (slots & (slots - 1)) != 0 ||
            n > RULES_FILE_MAX_ENTRIES || strings_size == 0 ||
            strings_size != size - RULES_FILE_HEADER_SIZE - slots * RULES_FILE_SLOT_SIZE - n * RULES_FILE_ENTRY_SIZE ||
            size < RULES_FILE_HEADER_SIZE + slots * RULES_FILE_SLOT_SIZE + n * RULES_FILE_ENTRY_SIZE + 1 ||
            p[size - 1] != '\0')
                return false;
        ret->base = p;
        memcpy(ret->key, p + 16, sizeof(ret->key));
        ret->slots = (const RulesFileSlot *) (const void *) (p + RULES_FILE_HEADER_SIZE);
        ret->n_slots = slots;
        ret->entries = (const RulesFileEntry *) (const void *) (p + RULES_FILE_HEADER_SIZE + slots * RULES_FILE_SLOT_SIZE);
        ret->n = n;
        ret->strings = (const char *) ret->entries + n * RULES_FILE_ENTRY_SIZE;
        ret->strings_size = strings_size;
        return true;
}

/* The file's seq now, from a mapping (a reader of a copy reads it with pread() instead). */
static inline uint64_t rules_file_seq(const RulesFileView *f) {
        uint64_t seq = __atomic_load_n((const uint64_t *) (const void *) (f->base + RULES_FILE_SEQ_OFFSET),
                                       __ATOMIC_ACQUIRE);

        return seq;
}

/* Whether a lookup made after rules_file_seq() gave seq saw one state: seq is even and still
 * the file's. The loads of the lookup come before the second read of seq. */
static inline bool rules_file_still(const RulesFileView *f, uint64_t seq) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        return (seq & 1) == 0 && rules_file_seq(f) == seq;
}

/* The string at off, or NULL if off is outside the strings (a corrupt file). */
static inline const char *rules_file_string(const RulesFileView *f, uint32_t off) {
        return off < f->strings_size ? f->strings + off : NULL;
}

/* The value of a slot for (scope, host): scope NULL for the global table; never 0. */
static inline uint64_t rules_file_slot_hash(const uint64_t key[2], const char *scope, const char *host) {
        uint64_t h = names_index_siphash(key, host, scope);

        return h == 0 ? 1 : h;
}

/* The head of the chain of (scope, host), 0 if there is none. */
static inline uint32_t rules_file_chain(const RulesFileView *f, const char *scope, const char *host) {
        uint64_t h = rules_file_slot_hash(f->key, scope, host), mask = f->n_slots - 1;

        for (uint64_t i = 0; i < NAMES_INDEX_MAX_PROBE && i < f->n_slots; i++) {
                const RulesFileSlot *s = &f->slots[(h + i) & mask];
                uint64_t v = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);

                if (v == h)
                        return __atomic_load_n(&s->head, __ATOMIC_RELAXED);
                if (v == 0)
                        return 0;
        }
        return 0;
}

/* The entry numbered number (index + 1) if it is inside the file, else NULL. */
static inline const RulesFileEntry *rules_file_entry(const RulesFileView *f, uint32_t number) {
        return number >= 1 && number <= f->n ? &f->entries[number - 1] : NULL;
}

/* The number of the entry after the one numbered number in its chain: 0 at the end,
 * UINT32_MAX if the chain does not go to an older entry (a corrupt file: it may hide the
 * rule asked for, so the caller must not look further). */
static inline uint32_t rules_file_next(const RulesFileEntry *e, uint32_t number) {
        uint32_t next = __atomic_load_n(&e->next, __ATOMIC_RELAXED);

        return next < number ? next : UINT32_MAX;
}

/* Whether e belongs to the table scope (NULL: the global one) and has the key (host, port,
 * family): 1 if it does, 0 if not (or removed), -1 if its strings are outside the file
 * (corrupt: it may be the very rule asked for, so the caller must not look further). */
static inline int rules_file_entry_is(const RulesFileView *f, const RulesFileEntry *e, const char *scope,
                                      const char *host, int port, int family) {
        uint32_t scope_off = __atomic_load_n(&e->scope_off, __ATOMIC_RELAXED),
                 host_off = __atomic_load_n(&e->host_off, __ATOMIC_RELAXED);
        const char *s = scope_off == RULES_FILE_GLOBAL ? NULL : rules_file_string(f, scope_off),
                   *h = rules_file_string(f, host_off);

        if (!h || (scope_off != RULES_FILE_GLOBAL && !s))
                return -1;
        if (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & RULES_FILE_REMOVED)
                return 0;
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
 * among the host's — each of which only the daemon answers. The caller must then check
 * rules_file_still() (or read seq again) before it uses the answer. */
static inline const RulesFileEntry *rules_file_lookup(const RulesFileView *f, const char *scope, const char *host,
                                                      int port, int family, bool host_only) {
        const struct {
                int port, family;
        } forms[3] = { { port, family }, { port, RULES_FILE_ANY }, { RULES_FILE_ANY, RULES_FILE_ANY } };

        for (int table = scope && *scope ? 0 : 1; table < 2; table++) {
                const char *s = table == 0 ? scope : NULL;
                uint32_t head = rules_file_chain(f, s, host);

                for (unsigned k = host_only ? 2 : 0; head != 0 && k < 3; k++)
                        for (uint32_t i = head; i != 0;) {
                                const RulesFileEntry *e = rules_file_entry(f, i);
                                int is;

                                if (!e)
                                        return NULL;
                                is = rules_file_entry_is(f, e, s, host, forms[k].port, forms[k].family);
                                if (is < 0)
                                        return NULL;
                                if (is > 0)
                                        return rules_file_answer(e, family);
                                i = rules_file_next(e, i);
                                if (i == UINT32_MAX)
                                        return NULL;
                        }
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
