/* SPDX-License-Identifier: MIT */

/*
 * Logging for netutild (log.h). Owns the choice between journald's native protocol,
 * "<N>"-prefixed and plain stderr, and the rate limit of refusals. Must not allocate
 * (it runs on error paths, out of memory too: only sd_journal_sendv() may, and stderr is
 * the fallback when it fails) and must not block on anything but its own output.
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"

/* Longest message kept; longer ones are cut (journald itself takes up to 48 KiB per
 * field, a terminal reader does not want that). */
#define LOG_MESSAGE_MAX 2048
/* Where sd_journal_sendv() sends, fixed in libsystemd. */
#define JOURNAL_SOCKET_PATH "/run/systemd/journal/socket"

enum { TARGET_UNSET = -1, TARGET_PLAIN, TARGET_PREFIX, TARGET_JOURNAL };

static int max_level = LOG_INFO;
static int target = TARGET_UNSET;

typedef struct RefusalSlot {
        bool used;
        uid_t uid;
        char operation[24]; /* the short word of log.h (BIND_UNIX): longer ones are cut */
        uint64_t last_usec; /* when a line was last logged for it; 0: never */
        unsigned missed;    /* refusals not logged since */
} RefusalSlot;

static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;
static RefusalSlot refusal_slots[LOG_REFUSAL_SLOTS];
static uint64_t refusal_window_usec;
static unsigned refusal_window_lines;
static unsigned refusal_missed_forgotten; /* of slots given to another (uid, operation) */

/* Does stderr lead to journald? $JOURNAL_STREAM ("DEV:INODE") names the stream journald
 * gave us; stderr redirected elsewhere (a test's pipe, a file) does not match it. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char extra;

        if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &extra) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_open(void) {
        if (stderr_is_journal())
                target = TARGET_JOURNAL;
        else /* not a terminal: a supervisor or a pipe, which syslog-minded readers parse */
                target = isatty(STDERR_FILENO) ? TARGET_PLAIN : TARGET_PREFIX;
}

void log_set_max_level(int level) {
        max_level = level;
}

/* Sends one entry with its fields; returns sd_journal_sendv()'s result. */
static int journal_send(int level, int error, const char *file, int line, bool client, uid_t uid, pid_t pid,
                        const char *operation, const char *text) {
        char message[LOG_MESSAGE_MAX + sizeof("MESSAGE=")], priority[32], code_file[512], code_line[32],
                identifier[64], errno_field[32], uid_field[32], pid_field[32], op_field[48];
        struct iovec iov[9];
        size_t n = 0;

        /* sd_journal_sendv() reports success when journald's socket is missing (the entry is
         * dropped): look first, so that the line goes to stderr instead. */
        if (access(JOURNAL_SOCKET_PATH, F_OK) < 0)
                return -errno;

#define FIELD(buf, ...)                                                                                      \
        do {                                                                                                 \
                snprintf(buf, sizeof(buf), __VA_ARGS__);                                                     \
                iov[n++] = (struct iovec) { .iov_base = buf, .iov_len = strlen(buf) };                        \
        } while (0)
        FIELD(message, "MESSAGE=%s", text);
        FIELD(priority, "PRIORITY=%d", level);
        FIELD(code_file, "CODE_FILE=%s", file);
        FIELD(code_line, "CODE_LINE=%d", line);
        FIELD(identifier, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (error > 0)
                FIELD(errno_field, "ERRNO=%d", error);
        if (client) {
                FIELD(uid_field, "CLIENT_UID=%u", (unsigned) uid);
                FIELD(pid_field, "CLIENT_PID=%d", (int) pid);
                FIELD(op_field, "OPERATION=%s", operation ? operation : "");
        }
#undef FIELD
        return sd_journal_sendv(iov, (int) n);
}

static void emit(int level, int error, const char *file, int line, bool client, uid_t uid, pid_t pid,
                 const char *operation, const char *text) {
        char line_text[LOG_MESSAGE_MAX];
        size_t i;

        if (target == TARGET_UNSET)
                log_open();
        if (target == TARGET_JOURNAL &&
            journal_send(level, error, file, line, client, uid, pid, operation, text) >= 0)
                return;
        /* One line per message: a client's string (a path, a name) with a newline must not
         * forge a line, with a "<0>" prefix of its own, in the stream. */
        for (i = 0; text[i] && i < sizeof(line_text) - 1; i++)
                line_text[i] = (unsigned char) text[i] < ' ' || text[i] == 0x7f ? '?' : text[i];
        line_text[i] = '\0';
        text = line_text;
        /* Not journald, or journald did not take it: stderr, which under journald is its
         * stream and understands the prefix. */
        if (target == TARGET_PLAIN)
                fprintf(stderr, "%s\n", text);
        else
                fprintf(stderr, "<%d>%s\n", level, text);
}

_printf_(4, 0) static void format_text(char *buf, size_t len, int error, const char *format, va_list ap) {
        int saved_errno = errno;

        /* %m means the error we were given. */
        errno = error;
        vsnprintf(buf, len, format, ap);
        errno = saved_errno;
}

/* The two entry points below: client says whether uid, pid and operation are fields. */
_printf_(9, 0) static int log_va(int level, int error, bool client, uid_t uid, pid_t pid, const char *operation,
                                 const char *file, int line, const char *format, va_list ap) {
        char text[LOG_MESSAGE_MAX];

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;
        format_text(text, sizeof(text), error, format, ap);
        emit(level, error, file, line, client, uid, pid, operation, text);
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_va(level, error, false, 0, 0, NULL, file, line, format, ap);
        va_end(ap);
        return r;
}

/* The slot of (uid, operation): found, free, or the least recently logged one (whose
 * unlogged count moves to refusal_missed_forgotten). Called with refusal_lock held. */
static RefusalSlot *refusal_slot(uid_t uid, const char *operation) {
        RefusalSlot *oldest = NULL;

        for (size_t i = 0; i < LOG_REFUSAL_SLOTS; i++) {
                RefusalSlot *s = &refusal_slots[i];

                if (s->used && s->uid == uid && strcmp(s->operation, operation) == 0)
                        return s;
                if (!oldest || !s->used || (oldest->used && s->last_usec < oldest->last_usec))
                        oldest = s;
        }
        if (oldest->used)
                refusal_missed_forgotten += oldest->missed;
        *oldest = (RefusalSlot) { .used = true, .uid = uid };
        snprintf(oldest->operation, sizeof(oldest->operation), "%s", operation);
        return oldest;
}

int log_refusal_internal(uid_t uid, pid_t pid, const char *operation, const char *file, int line,
                         const char *format, ...) {
        char text[LOG_MESSAGE_MAX], suffix[160] = "";
        unsigned missed, forgotten;
        uint64_t now = now_usec();
        RefusalSlot *s;
        va_list ap;

        if (LOG_NOTICE > max_level)
                return -EPERM;

        pthread_mutex_lock(&refusal_lock);
        if (now - refusal_window_usec >= LOG_REFUSAL_INTERVAL_USEC) {
                refusal_window_usec = now;
                refusal_window_lines = 0;
        }
        s = refusal_slot(uid, operation ? operation : "");
        if ((s->last_usec != 0 && now - s->last_usec < LOG_REFUSAL_INTERVAL_USEC) ||
            refusal_window_lines >= LOG_REFUSAL_BURST) {
                s->missed++;
                pthread_mutex_unlock(&refusal_lock);
                return -EPERM;
        }
        missed = s->missed;
        forgotten = refusal_missed_forgotten;
        s->missed = 0;
        s->last_usec = now;
        refusal_missed_forgotten = 0;
        refusal_window_lines++;
        pthread_mutex_unlock(&refusal_lock);

        if (missed > 0)
                snprintf(suffix, sizeof(suffix), " (%u more refused since the last such line)", missed);
        if (forgotten > 0)
                snprintf(suffix + strlen(suffix), sizeof(suffix) - strlen(suffix),
                         " (%u other refusals not logged)", forgotten);
        va_start(ap, format);
        format_text(text, sizeof(text), EPERM, format, ap);
        va_end(ap);
        if (suffix[0])
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s", suffix);
        emit(LOG_NOTICE, 0, file, line, true, uid, pid, operation, text);
        return -EPERM;
}
