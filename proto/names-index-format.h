/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The names index: the contract between netutild, which publishes it next to its control
 * socket (daemon/names-index.c), and libnss_netutil.so.2, which reads it before it asks the
 * daemon anything (nss/nss-netutil.c). Owns the format, the keyed hash both published files
 * use, and the checks a reader makes; does no I/O, keeps no state, and must stay libc-only
 * (the NSS module includes it). proto/PROTOCOL.md, "The names index", says the same for
 * people.
 *
 * Path: the control socket's path + ".names" (/run/netutild/netutild.sock.names). A regular
 * file, mode 0644. Version 2 (this one) is an open-addressing hash set that the daemon
 * changes in place, one aligned 8-byte slot per change, so that a change costs the same
 * whatever the number of names (version 1, a sorted array rewritten whole per change, cost
 * O(names) per change: 0.8 ms at 100 000). The file never changes size; when it fills up
 * the daemon writes a new one (twice the names, a new key) and rename()s it over the old.
 *
 *      0               8                              24              32
 *     +---------------+---------------+---------------+---------------+--- ... ---+
 *     | "NUNAMES2"    | key[0] (u64)  | key[1] (u64)  | slots (u64)   | slot[0..slots)
 *     +---------------+---------------+---------------+---------------+--- ... ---+
 *
 * Host byte order (the file never leaves the machine, like the wire protocol). The size is
 * exactly 32 + 8 * slots, slots a power of two. A slot is 0 (empty), UINT64_MAX (a name
 * that was removed) or the value names_index_value(key, host) of a host that has a
 * host-only rule (no port, no family) in any table: global, every scope, drop-ins. A name
 * sits in the first empty-or-removed slot at or after its home slot (value & (slots - 1)),
 * never more than NAMES_INDEX_MAX_PROBE slots after it. Lookup: from the home slot, the
 * value means "ask" (another name may share it, an expired rule may linger: the daemon
 * decides), 0 means "no such rule anywhere" (NSS_STATUS_NOTFOUND without a round trip),
 * and NAMES_INDEX_MAX_PROBE slots without either means "ask".
 *
 * Changes in place, each before the daemon acknowledges it: a new name writes its slot
 * (0 or UINT64_MAX becomes its value), a name whose last rule went writes UINT64_MAX over
 * its value. Nothing else is written in place, and a slot never becomes 0 again, so a
 * reader that reads while a slot is written (even torn, byte by byte) can only see a name
 * that is being added or removed, or a false "ask": no byte mixture of 0 or UINT64_MAX
 * with a value is 0 unless it is all 0, and every name acknowledged before the read began
 * lies behind slots that were not 0 when it was placed, and are not 0 now.
 *
 * The key is random per file: a home slot cannot be predicted before the file exists, and
 * when names crowd one home so that a new one would land past NAMES_INDEX_MAX_PROBE, the
 * daemon writes the file anew with another key (costly for whoever crafts such names: each
 * takes about "slots" tries of the hash, per key).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "siphash.h"

#define NAMES_INDEX_SUFFIX ".names"
#define NAMES_INDEX_MAGIC "NUNAMES2"
#define NAMES_INDEX_MAGIC_SIZE 8u
/* Magic, key, slot count. */
#define NAMES_INDEX_HEADER_SIZE 32u
/* The file's mode: every user's getaddrinfo() reads it; only the daemon writes it. */
#define NAMES_INDEX_MODE 0644
/* Slot values with a meaning of their own. */
#define NAMES_INDEX_EMPTY UINT64_C(0)
#define NAMES_INDEX_REMOVED UINT64_MAX
/* The farthest a name sits from its home slot, so the most slots a lookup reads: 128 slots
 * are 1 KiB, two pages at most. At the daemon's load (at most one slot in two used, one in
 * four after a rewrite) linear probing puts a name that far with a chance of about 1e-11,
 * so only crafted names make the daemon write the file anew. */
#define NAMES_INDEX_MAX_PROBE 128u
/* The most slots a reader accepts: far past the quota's names (2^26 slots are 512 MiB);
 * the count bounds nothing else, since the size must match it. */
#define NAMES_INDEX_MAX_SLOTS (UINT64_C(1) << 26)

/* SipHash-1-3 (Aumasson and Bernstein; one compression round, three finalisation rounds,
 * as CPython and Rust use for their tables) under key[2] of the bytes of a, then, if b is
 * not NULL, a NUL and the bytes of b: the words are read little-endian whatever the host,
 * so the value of a string is the same everywhere. Both published files use it: the names
 * index on hosts (b NULL), the rules file on host and scope. */
static inline uint64_t names_index_siphash(const uint64_t key[2], const char *a, const char *b) {
        SipHash s;

        siphash_init(&s, key[0], key[1], 1);
        siphash_add(&s, a, strlen(a));
        if (b) {
                siphash_add(&s, "", 1); /* the NUL between them */
                siphash_add(&s, b, strlen(b));
        }
        return siphash_final(&s, 3);
}

/* The slot value of host under key: its hash, 1 instead of the two reserved values. */
static inline uint64_t names_index_value(const uint64_t key[2], const char *host) {
        uint64_t h = names_index_siphash(key, host, NULL);

        return h == NAMES_INDEX_EMPTY || h == NAMES_INDEX_REMOVED ? 1 : h;
}

typedef struct NamesIndexView {
        uint64_t key[2];
        const uint64_t *slots;
        uint64_t n_slots; /* a power of two */
} NamesIndexView;

/* Checks a whole file's bytes (buf 8-byte aligned, as mmap() gives it) and fills *ret, or
 * returns false for anything but a well-formed index: short, another magic (version 1's
 * "NUNAMES1" included: a reader that does not know a version asks the daemon), a slot
 * count that is not a power of two up to NAMES_INDEX_MAX_SLOTS, a size other than
 * 32 + 8 * slots. The slots are not checked: any value only ever makes a lookup ask. */
static inline bool names_index_parse(const void *buf, size_t size, NamesIndexView *ret) {
        const char *p = buf;
        uint64_t n;

        if (size < NAMES_INDEX_HEADER_SIZE || memcmp(p, NAMES_INDEX_MAGIC, NAMES_INDEX_MAGIC_SIZE) != 0)
                return false;
        memcpy(&n, p + 24, sizeof(n));
        if (n == 0 || n > NAMES_INDEX_MAX_SLOTS || (n & (n - 1)) != 0 ||
            (size - NAMES_INDEX_HEADER_SIZE) / sizeof(uint64_t) != n || (size - NAMES_INDEX_HEADER_SIZE) % sizeof(uint64_t) != 0)
                return false;
        memcpy(ret->key, p + 8, sizeof(ret->key));
        ret->slots = (const uint64_t *) (const void *) (p + NAMES_INDEX_HEADER_SIZE);
        ret->n_slots = n;
        return true;
}

/* Whether host may have a host-only rule: true "ask the daemon", false "no rule anywhere".
 * Each slot is loaded once (the daemon may be writing it: see above). */
static inline bool names_index_may_have(const NamesIndexView *v, const char *host) {
        uint64_t h = names_index_value(v->key, host), mask = v->n_slots - 1;

        for (uint64_t i = 0; i < NAMES_INDEX_MAX_PROBE && i < v->n_slots; i++) {
                uint64_t s = __atomic_load_n(&v->slots[(h + i) & mask], __ATOMIC_RELAXED);

                if (s == h)
                        return true;
                if (s == NAMES_INDEX_EMPTY)
                        return false;
        }
        return true;
}
