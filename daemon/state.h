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

#include "manager.h"

typedef struct Override Override;

/* Creates the state directory (0700) if missing, loads the state file into the (empty)
 * tables, then the drop-ins. A corrupt or unknown-version state file is logged, moved
 * aside to overrides.corrupt-TIMESTAMP and the daemon starts without it; a directory that
 * cannot be made is logged (rules without expiry are then refused until it can). Returns
 * 0, or -ENOMEM. */
int state_load(Manager *m);

/* SIGHUP: drops every drop-in rule and loads the drop-in files again. A bad line is
 * logged with FILE:LINE and skipped, like systemd does with its drop-ins; the rest loads. */
void state_reload_dropins(Manager *m);

/* Writes every rule without expiry to the state file, leaving out skip_rule and every rule
 * of skip_table (either may be NULL: a removal is written before it is done). Written to
 * STATE_DIR/.overrides.XXXXXX, fsync()ed, renamed over STATE_DIR/overrides and the
 * directory fsync()ed: on return 0 the file on disk is the new one, whatever happens next
 * (kill -9, power loss); on -errno (-ENOSPC, -EIO, -EROFS, ...) the old file is intact and
 * the temporary one removed. Blocks the caller for the write and two fsync()s: see
 * state.c for the cost. */
int state_save(Manager *m, const Override *skip_rule, const OverrideTable *skip_table);
