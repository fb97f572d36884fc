/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Consistency of the daemon's override tables, for the targets that fill them from files
 * (fuzz-dropin.c, fuzz-state.c): every table's rule list, hash buckets and counters agree,
 * and every rule holds what a request could have set. Reads only; must not change a table.
 */

#include <string.h>

#include "fuzz.h"
#include "manager.h"
#include "netutil-proto.h"
#include "override.h"

/* Returns the number of rules in all tables, after checking them. */
static inline unsigned fuzz_check_tables(Manager *m) {
        unsigned total = 0;

        for (OverrideTable *t = m->override_tables; t; t = t->tables_next) {
                size_t in_list = 0, in_buckets = 0;

                fuzz_assert(!t->name || (t->name[0] && strlen(t->name) < PROTO_MAX_SCOPE));
                for (Override *o = t->rules; o; o = o->rules_next) {
                        in_list++;
                        fuzz_assert(o->host && strlen(o->host) <= PROTO_MAX_HOST);
                        fuzz_assert(o->target && strlen(o->target) <= PROTO_MAX_HOST);
                        fuzz_assert(o->port == OVERRIDE_ANY || (o->port >= 0 && o->port <= 65535));
                        fuzz_assert(o->target_port == OVERRIDE_ANY || (o->target_port >= 0 && o->target_port <= 65535));
                        fuzz_assert(override_find(t, o->host, o->port, o->family) == o);
                }
                for (size_t b = 0; b < t->n_buckets; b++)
                        for (Override *o = t->buckets[b]; o; o = o->bucket_next)
                                in_buckets++;
                fuzz_assert(in_list == t->n_rules && in_buckets == t->n_rules);
                total += (unsigned) t->n_rules;
        }
        fuzz_assert(total == m->n_overrides);
        return total;
}
