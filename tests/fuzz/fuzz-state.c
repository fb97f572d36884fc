/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the state file parser (daemon/state.c, STATE_DIR/overrides). A state file is
 * written only by the daemon, but it survives crashes, disks and editors: an input is one
 * such file. A fresh Manager loads it as at start; a refused file must leave no rule and
 * be moved aside; an accepted one must give consistent tables, be saved again, and load
 * back to the same rules and the same bytes. Owns only these invariants; must not keep
 * anything between inputs.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fuzz-tables.h"
#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "state.h"

const char fuzz_name[] = "state";

/* The largest state file compared: the round trip of the largest input libFuzzer makes
 * (4 KiB) with every byte escaped (x3) fits easily. */
#define STATE_COMPARE_MAX (1024u * 1024u)

static char state_dir[PATH_MAX], state_file[PATH_MAX];

void fuzz_setup(void) {
        log_set_max_level(LOG_CRIT);
        fuzz_format(state_dir, sizeof(state_dir), "%s/state", fuzz_tmpdir());
        fuzz_format(state_file, sizeof(state_file), "%s/overrides", state_dir);
}

static Manager *load(void) {
        Manager *m = NULL;

        fuzz_assert(manager_new(&m) == 0);
        m->state_dir = strdup(state_dir);
        fuzz_assert(m->state_dir);
        fuzz_assert(state_load(m) == 0);
        return m;
}

static size_t read_state(char *buf, size_t len) {
        int fd = open(state_file, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                fuzz_fail("open(%s): %m", state_file);
        n = read(fd, buf, len);
        close(fd);
        fuzz_assert(n >= 0 && (size_t) n < len);
        return (size_t) n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char first[STATE_COMPARE_MAX], second[STATE_COMPARE_MAX];
        _cleanup_(manager_freep) Manager *m = NULL, *again = NULL;
        size_t n1, n2;
        unsigned n;

        fuzz_empty_dir(fuzz_tmpdir());
        if (mkdir(state_dir, 0700) < 0)
                fuzz_fail("mkdir(%s): %m", state_dir);
        fuzz_write_file(state_file, data, size);

        m = load();
        n = fuzz_check_tables(m);
        if (access(state_file, F_OK) < 0) {
                /* Refused and moved aside: nothing of it stays. */
                fuzz_assert(errno == ENOENT);
                fuzz_assert(n == 0);
                return 0;
        }

        /* Accepted: what the daemon writes back, it reads back as it was. */
        fuzz_assert(state_save_now(m) == 0);
        n1 = read_state(first, sizeof(first));
        again = load();
        if (fuzz_check_tables(again) != n)
                fuzz_fail("%u rules loaded, %u after a save and a load", n, again->n_overrides);
        fuzz_assert(access(state_file, F_OK) == 0);
        fuzz_assert(state_save_now(again) == 0);
        n2 = read_state(second, sizeof(second));
        if (n1 != n2 || memcmp(first, second, n1) != 0)
                fuzz_fail("the state file changed across a load and a save");
        return 0;
}
