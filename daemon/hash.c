/* SPDX-License-Identifier: MIT */

/* SipHash-2-4 (proto/siphash.h) and the process's hash key (hash.h). */

#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"

void hash_init(HashState *s, const HashKey *key) {
        siphash_init(s, key->k0, key->k1, 2);
}

void hash_add(HashState *s, const void *data, size_t len) {
        siphash_add(s, data, len);
}

uint64_t hash_final(HashState *s) {
        return siphash_final(s, 4);
}

uint64_t hash_bytes(const HashKey *key, const void *data, size_t len) {
        HashState s;

        hash_init(&s, key);
        hash_add(&s, data, len);
        return hash_final(&s);
}

void hash_random_key(HashKey *key) {
        static uint64_t counter;
        struct timespec ts = {};

        if (getrandom(key, sizeof(*key), GRND_NONBLOCK) == (ssize_t) sizeof(*key))
                return;
        /* Early boot without entropy yet: not secret, but different per run and per call. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        key->k0 = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 32) ^ (uint64_t) (uintptr_t) key;
        key->k1 = ((uint64_t) getpid() << 16) ^ (++counter * UINT64_C(0xbf58476d1ce4e5b9));
}

const HashKey *hash_process_key(void) {
        static HashKey key;
        static bool made;

        /* The daemon is one thread where tables live (workers never hash): no lock. */
        if (!made) {
                hash_random_key(&key);
                made = true;
        }
        return &key;
}
