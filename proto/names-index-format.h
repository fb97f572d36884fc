/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The names index: the contract between netutild, which publishes it next to its control
 * socket (daemon/names-index.c), and libnss_netutil.so.2, which reads it before it asks the
 * daemon anything (nss/nss-netutil.c). Owns the format, the hash and the checks a reader
 * makes; does no I/O, keeps no state, and must stay libc-only (the NSS module includes it).
 * proto/PROTOCOL.md, "The names index", says the same for people.
 *
 * Path: the control socket's path + ".names" (/run/netutild/netutild.sock.names). A regular
 * file, mode 0644, replaced as a whole (temporary file in the same directory, rename()),
 * never changed in place, so a reader sees one complete version or none.
 *
 *      0               8               16              24
 *     +---------------+---------------+---------------+--- ... ---+
 *     | "NUNAMES1"    | count (u64)   | hash[0] (u64) |  hash[count-1]
 *     +---------------+---------------+---------------+--- ... ---+
 *
 * Host byte order (the file never leaves the machine, like the wire protocol). The size is
 * exactly 16 + 8 * count. hash[] is sorted ascending without duplicates: the FNV-1a 64 of
 * the exact bytes (no NUL, no case folding: rules are case-sensitive, as in Tornado) of
 * every host that has a host-only rule (no port, no family) in any table: global, every
 * scope, drop-ins. A name whose hash is absent has no such rule anywhere: the module answers
 * "not found" without a round trip. A present hash only means "ask" (another name may share
 * it, an expired rule may linger): the daemon decides. So a stale extra hash costs one round
 * trip, a missing one would hide a rule, and the daemon writes the file before it
 * acknowledges any change that adds a name.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NAMES_INDEX_SUFFIX ".names"
#define NAMES_INDEX_MAGIC "NUNAMES1"
#define NAMES_INDEX_MAGIC_SIZE 8u
/* Magic and count. */
#define NAMES_INDEX_HEADER_SIZE 16u
/* The file's mode: every user's getaddrinfo() reads it; only the daemon writes it. */
#define NAMES_INDEX_MODE 0644

/* FNV-1a 64 (offset basis 14695981039346656037, prime 1099511628211) of host's bytes. */
static inline uint64_t names_index_hash(const char *host) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (const unsigned char *p = (const unsigned char *) host; *p; p++)
                h = (h ^ *p) * UINT64_C(1099511628211);
        return h;
}

/* Checks a whole file's bytes (buf, size; buf 8-byte aligned, as mmap() gives it). Returns
 * the hashes through *ret_hashes and *ret_count and true, or false for anything but a
 * well-formed index: short, wrong magic, or a size other than 16 + 8 * count (a huge count
 * cannot overflow the check). The order is not checked (that would cost a pass over the
 * file per lookup): the daemon writes it sorted. */
static inline bool names_index_parse(const void *buf, size_t size, const uint64_t **ret_hashes,
                                     uint64_t *ret_count) {
        uint64_t count;

        if (size < NAMES_INDEX_HEADER_SIZE || memcmp(buf, NAMES_INDEX_MAGIC, NAMES_INDEX_MAGIC_SIZE) != 0)
                return false;
        memcpy(&count, (const char *) buf + NAMES_INDEX_MAGIC_SIZE, sizeof(count));
        if (count != (size - NAMES_INDEX_HEADER_SIZE) / sizeof(uint64_t) ||
            (size - NAMES_INDEX_HEADER_SIZE) % sizeof(uint64_t) != 0)
                return false;
        *ret_hashes = (const uint64_t *) (const void *) ((const char *) buf + NAMES_INDEX_HEADER_SIZE);
        *ret_count = count;
        return true;
}

/* Binary search of h in the sorted hashes[0..count). */
static inline bool names_index_contains(const uint64_t *hashes, uint64_t count, uint64_t h) {
        uint64_t lo = 0, hi = count;

        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;

                if (hashes[mid] == h)
                        return true;
                if (hashes[mid] < h)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}
