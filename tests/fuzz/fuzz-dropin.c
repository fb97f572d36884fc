/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the override drop-in parser (daemon/state.c, CONFIG_DIR/overrides.d/NAME.conf).
 * An input is one drop-in file; a fresh Manager (no socket, no state directory) loads it
 * as at start, the tables must be consistent, and a reload (SIGHUP) must give the same
 * rules. Owns only these invariants; must not keep anything between inputs.
 */

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "fuzz-tables.h"
#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "state.h"

const char fuzz_name[] = "dropin";

static char conf_path[PATH_MAX], dropin_path[PATH_MAX];

void fuzz_setup(void) {
        char dir[PATH_MAX];

        /* Every bad line is logged: at this rate that is most of the run time. */
        log_set_max_level(LOG_CRIT);
        fuzz_format(conf_path, sizeof(conf_path), "%s/netutild.conf", fuzz_tmpdir());
        fuzz_format(dir, sizeof(dir), "%s/overrides.d", fuzz_tmpdir());
        if (mkdir(dir, 0700) < 0)
                fuzz_fail("mkdir(%s): %m", dir);
        fuzz_format(dropin_path, sizeof(dropin_path), "%s/50-fuzz.conf", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manager_freep) Manager *m = NULL;
        unsigned n;

        fuzz_write_file(dropin_path, data, size);
        fuzz_assert(manager_new(&m) == 0);
        m->config_path = strdup(conf_path);
        fuzz_assert(m->config_path);

        /* Only -ENOMEM fails a load: bad lines are logged and skipped. */
        fuzz_assert(state_load(m) == 0);
        n = fuzz_check_tables(m);
        /* Drop-in rules are read-only and remember where they came from. */
        for (OverrideTable *t = m->override_tables; t; t = t->tables_next)
                for (Override *o = t->rules; o; o = o->rules_next)
                        fuzz_assert(o->source && strncmp(o->source, dropin_path, strlen(dropin_path)) == 0);

        state_reload_dropins(m);
        if (fuzz_check_tables(m) != n)
                fuzz_fail("%u rules at start, %u after a reload of the same file", n, m->n_overrides);
        return 0;
}
