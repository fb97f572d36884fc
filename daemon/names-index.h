/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The names index (proto/names-index-format.h): the set of host names that have a host-only
 * rule in any table, published as SOCKET_PATH.names so that the NSS module answers every
 * other name without a round trip. Owns the set (its slots and a count of host-only rules
 * per slot, kept up to date by override.c as rules come and go), the file, and holding back
 * the replies of changes until the file shows them; and, written with it, the rules file
 * SOCKET_PATH.rules (rules-file.h keeps its bytes). Must not decide anything about rules: it
 * only mirrors the tables.
 *
 * Cost: a change edits both images in memory at once (O(1): a probe, a slot, an entry); at
 * most once per event loop iteration (a defer source) the changed bytes are written in
 * place with pwrite(), so a change costs the same with 10 rules or 100 000. A file is
 * written whole (temporary file, rename) only when it runs out of room, at least as many
 * changes after the last time as it holds names or rules, so O(1) per change amortised
 * (see names-index.c).
 */

#include "manager.h"

typedef struct NamesIndex NamesIndex;
typedef struct Override Override;
typedef struct OverrideTable OverrideTable;

/* Makes m's index (for m->socket_path; none without one), every name to be written once the
 * daemon serves (state_load(), before the first rule). Returns 0 or -ENOMEM. */
int names_index_new(Manager *m);

/* override.c: rule o of table t was made, is about to be freed, had its target, target port
 * or expiry changed (only the rules file shows those). */
void names_index_rule_added(Manager *m, const OverrideTable *t, Override *o);
void names_index_rule_removed(Manager *m, const OverrideTable *t, Override *o);
void names_index_rule_changed(Manager *m, const OverrideTable *t, Override *o);

/* Ends req (OVERRIDE_SET, _DEL, _CLEAR) with an empty reply once both files show every change
 * made so far: at once if it does, else after the next write, in this loop iteration.
 * Returns 0 or REQUEST_PENDING, as a handler does. */
int names_index_reply_empty(Request *req);

/* Removes the files a dead instance left (manager.c, once it knows that nobody serves the
 * socket path). */
void names_index_remove_old(Manager *m);

/* Writes the files now if they do not show the tables (SIGHUP, takeover); before the daemon
 * serves, at its first loop iteration instead. */
void names_index_flush(Manager *m);

/* Exit: answers what waits, removes each file if it is still the one we wrote, frees. */
void names_index_free(Manager *m);
