/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The keyed hash of every in-daemon hash table whose keys a client chooses (override rules,
 * the c-ares cache): SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012) under a key drawn from getrandom() once per process. A client that does not know
 * the key cannot pick names that land in one bucket, and the key differs at every start,
 * so a collision found against one run is worth nothing against the next. Owns the key and
 * the function; must not be used for hashes that other processes compute (the names index
 * and the rules file publish theirs: proto/names-index-format.h).
 */

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

typedef struct HashKey {
        uint64_t k0, k1;
} HashKey;

/* Incremental SipHash-2-4 (proto/siphash.h): hash_init(), any number of hash_add(),
 * hash_final(). */
typedef SipHash HashState;

/* A new random key (getrandom(), else a mix of the clock, the pid and a counter if the
 * kernel has no entropy to give yet). */
void hash_random_key(HashKey *key);
/* This process's key: random (getrandom(), else a mix of the clock, pid and addresses if
 * the kernel has no entropy to give yet), made at the first call and then fixed. */
const HashKey *hash_process_key(void);

void hash_init(HashState *s, const HashKey *key);
void hash_add(HashState *s, const void *data, size_t len);
uint64_t hash_final(HashState *s);

/* SipHash-2-4 of data under key, in one call. */
uint64_t hash_bytes(const HashKey *key, const void *data, size_t len);
