/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), written from
 * the paper: one incremental implementation for the daemon's keyed tables (daemon/hash.c,
 * SipHash-2-4) and for the hashes the published files carry, which their readers compute
 * too (names-index-format.h, SipHash-1-3). Header-only and libc-free, so that the NSS module
 * can use it. Words are read little-endian whatever the host, so a string hashes the same
 * everywhere.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct SipHash {
        uint64_t v0, v1, v2, v3;
        uint64_t m;          /* up to 7 bytes not yet compressed */
        uint64_t len;        /* bytes added so far */
        unsigned c_rounds;   /* rounds per compressed word: 2 for SipHash-2-4, 1 for -1-3 */
} SipHash;

static inline uint64_t siphash_rotl(uint64_t x, unsigned b) {
        return (x << b) | (x >> (64 - b));
}

static inline void siphash_round(SipHash *s) {
        s->v0 += s->v1;
        s->v1 = siphash_rotl(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = siphash_rotl(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = siphash_rotl(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = siphash_rotl(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = siphash_rotl(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = siphash_rotl(s->v2, 32);
}

static inline void siphash_compress(SipHash *s, uint64_t m) {
        s->v3 ^= m;
        for (unsigned i = 0; i < s->c_rounds; i++)
                siphash_round(s);
        s->v0 ^= m;
}

static inline void siphash_init(SipHash *s, uint64_t k0, uint64_t k1, unsigned c_rounds) {
        /* "somepseudorandomlygeneratedbytes": the paper's initialisation constants. */
        *s = (SipHash) { .v0 = k0 ^ UINT64_C(0x736f6d6570736575), .v1 = k1 ^ UINT64_C(0x646f72616e646f6d),
                         .v2 = k0 ^ UINT64_C(0x6c7967656e657261), .v3 = k1 ^ UINT64_C(0x7465646279746573),
                         .c_rounds = c_rounds };
}

static inline void siphash_add(SipHash *s, const void *data, size_t n) {
        const unsigned char *p = data;

        for (size_t i = 0; i < n; i++) {
                s->m |= (uint64_t) p[i] << (8 * (s->len & 7));
                if ((++s->len & 7) == 0) {
                        siphash_compress(s, s->m);
                        s->m = 0;
                }
        }
}

/* The hash, after d_rounds finalisation rounds (4 for SipHash-2-4, 3 for -1-3). */
static inline uint64_t siphash_final(SipHash *s, unsigned d_rounds) {
        siphash_compress(s, s->m | s->len << 56);
        s->v2 ^= 0xff;
        for (unsigned i = 0; i < d_rounds; i++)
                siphash_round(s);
        return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}
