/* SPDX-License-Identifier: MIT */

/*
 * stderr logging for netutild (log.h). Owns the choice between journald-style "<N>"
 * prefixes and plain text. Must not allocate: it runs on error paths, out of memory too.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_prefix = -1;

void log_open(void) {
        /* journald sets JOURNAL_STREAM for stderr it owns; a pipe to anything else that is
         * not a terminal also gets prefixes, which syslog-minded readers understand. */
        use_prefix = !isatty(STDERR_FILENO);
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_internal(int level, int error, const char *file, int line, const char *format, ...) {
        int saved_errno = errno;
        char buf[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;
        if (use_prefix < 0)
                log_open();

        /* %m means the error we were given. */
        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (use_prefix)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else
                fprintf(stderr, "%s\n", buf);

        errno = saved_errno;
        return -error;
}
