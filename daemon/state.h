/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Overrides that outlive the process (DESIGN.md §6): the state file STATE_DIR/overrides,
 * which holds every rule without expiry, of the global table and of every scope (with the
 * scope's owner), and the read-only drop-in files CONFIG_DIR/overrides.d/NAME.conf. Owns the
 * two file formats, writing the state file atomically and durably, loading it at start
 * (moving a corrupt one aside), and loading drop-ins at start and on SIGHUP. Must not
 * decide who may change what (override.c and the policy do) and must not run per resolve.
 *
 * Rules with a TTL are never saved: they are short-lived by design (a test run's
 * overrides), and a restart that forgets them only ends them early. Drop-in rules are not
 * saved either: their files are their storage.
 */

#include <stddef.h>

#include "manager.h"

typedef struct Override Override;

/* Creates the state directory (0700) if missing, loads the state file into the (empty)
 * tables, then the drop-ins. A corrupt or unknown-version state file is logged, moved
 * aside to overrides.corrupt-TIMESTAMP and the daemon starts without it; a directory that
 * cannot be made is logged (rules without expiry are then refused until it can). An
 * existing state directory not owned by the daemon's uid, or writable by group or others,
 * is refused (logged with the reason: -EPERM, the daemon must not start); the state file is
 * opened relative to it, never through a symlink, and one that is not a regular file owned
 * by the daemon's uid is moved aside like a corrupt one. Starts the writer thread. Returns
 * 0, -EPERM or -ENOMEM. */
int state_load(Manager *m);

/* SIGHUP: drops every drop-in rule and loads the drop-in files again. A bad line is
 * logged with FILE:LINE and skipped, like systemd does with its drop-ins; the rest loads. */
void state_reload_dropins(Manager *m);

/* A change to the saved rules (made in memory by override.c), waiting for a write of the
 * state file that contains it. done is called once, in the loop: error 0 once that write is
 * durable (the reply may go), or -errno (-ENOSPC, -EIO, -EROFS, -EPERM for a state
 * directory that is no longer the daemon's own, ...) if it failed; then done must undo the
 * change and refuse it. On failure every change not yet written is refused, newest first:
 * they sit on top of each other in memory. Embed it in the change's own record. */
typedef struct StateChange StateChange;
struct StateChange {
        void (*done)(Manager *m, StateChange *c, int error);
};

/* Queues c for the next write of the state file: every rule without expiry of every table,
 * written to a temporary file in STATE_DIR, fsync()ed, renamed over STATE_DIR/overrides and
 * the directory fsync()ed, in the writer thread; changes that come while a write runs share
 * the next one (group commit). Returns 0 (c->done will be called) or -ENOENT (no state
 * directory), -ENOMEM: then c->done is not called. The change stays visible in memory while
 * it waits (another client may resolve through it before it is acknowledged); it is undone
 * only if the write fails. */
int state_commit(Manager *m, StateChange *c);

/* The tables changed in a way no client waits for (drop-ins that took a saved rule over at
 * SIGHUP): a write follows; a failure is only logged. */
void state_changed(Manager *m);

/* Writes the state file now, in the caller, and returns 0 or -errno (logged): at start-up
 * (drop-ins that took a saved rule over) and in the fuzz target, where no write is under
 * way. -ENOENT without a state directory. */
int state_save_now(Manager *m);

/* At exit, before the tables and the names index go: waits for a write under way, writes
 * what is still unwritten, ends every waiting change, stops the thread. */
void state_free(Manager *m);

/* NULL if a directory with this stat may hold what the daemon trusts (owned by its uid, not
 * writable by group or others), else why not, in words, in reason (len bytes). */
struct stat;
const char *state_untrusted_dir(const struct stat *st, char *reason, size_t len);
