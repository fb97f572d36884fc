/* SPDX-License-Identifier: MIT */

/* SipHash-2-4 and the process's hash key (hash.h), written from the paper's description. */

#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"

#define ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(HashState *s) {
        s->v0 += s->v1;
        s->v1 = ROTL(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = ROTL(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = ROTL(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = ROTL(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = ROTL(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = ROTL(s->v2, 32);
}

static void compress(HashState *s, uint64_t m) {
        s->v3 ^= m;
        sip_round(s);
        sip_round(s);
        s->v0 ^= m;
}

void hash_init(HashState *s, const HashKey *key) {
        /* "somepseudorandomlygeneratedbytes", the paper's initialisation constants. */
        *s = (HashState) {
                .v0 = key->k0 ^ 0x736f6d6570736575ULL,
                .v1 = key->k1 ^ 0x646f72616e646f6dULL,
                .v2 = key->k0 ^ 0x6c7967656e657261ULL,
                .v3 = key->k1 ^ 0x7465646279746573ULL,
        };
}

void hash_add(HashState *s, const void *data, size_t len) {
        const uint8_t *p = data;

        for (size_t i = 0; i < len; i++) {
                s->tail |= (uint64_t) p[i] << (8 * (s->len % 8));
                s->len++;
                if (s->len % 8 == 0) {
                        compress(s, s->tail);
                        s->tail = 0;
                }
        }
}

uint64_t hash_final(HashState *s) {
        compress(s, s->tail | (uint64_t) (s->len & 0xff) << 56);
        s->v2 ^= 0xff;
        for (int i = 0; i < 4; i++)
                sip_round(s);
        return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t hash_bytes(const HashKey *key, const void *data, size_t len) {
        HashState s;

        hash_init(&s, key);
        hash_add(&s, data, len);
        return hash_final(&s);
}

const HashKey *hash_process_key(void) {
        static HashKey key;
        static bool made;

        /* The daemon is one thread where tables live (workers never hash): no lock. */
        if (!made) {
                if (getrandom(&key, sizeof(key), GRND_NONBLOCK) != (ssize_t) sizeof(key)) {
                        /* Early boot without entropy yet: not secret, but different per run. */
                        struct timespec ts = {};

                        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                        key.k0 = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 32) ^ (uint64_t) (uintptr_t) &key;
                        key.k1 = (uint64_t) getpid() ^ ((uint64_t) (uintptr_t) &ts << 16);
                }
                made = true;
        }
        return &key;
}
