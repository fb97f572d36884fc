/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Daemon logging. Under journald (stderr is the stream $JOURNAL_STREAM names) each line
 * goes through journald's native protocol with structured fields: MESSAGE=, PRIORITY=,
 * CODE_FILE=, CODE_LINE=, SYSLOG_IDENTIFIER=, ERRNO=, and for lines about a request
 * CLIENT_UID=, CLIENT_PID=, OPERATION=; if that fails, the line goes to stderr. Otherwise
 * stderr with "<N>" syslog priority prefixes when it is not a terminal (supervisors parse
 * them), plain text on a terminal. Helpers return the error they were given, so
 * "return log_error_errno(r, "...: %m");" reads well; %m prints the error passed in, not
 * the global errno. Only the daemon logs.
 */

#include <sys/types.h>
#include <syslog.h>

#include "macro.h"

/* Refusals of one operation to one uid are logged at most once per this interval; the
 * ones in between are counted and the count is given with the next line logged. */
#define LOG_REFUSAL_INTERVAL_USEC (10 * 1000 * 1000ULL)
/* At most this many refusal lines per interval in all, whatever the uids: a bound on the
 * log volume clients can cause (the rest are counted, as above). */
#define LOG_REFUSAL_BURST 32u
/* (uid, operation) pairs remembered for the interval above; past that the least recently
 * logged pair is forgotten (its count of unlogged refusals goes into the global one). */
#define LOG_REFUSAL_SLOTS 64u

/* Decides between journald, prefixed and plain stderr (again, if called again). */
void log_open(void);
void log_set_max_level(int level);

int log_internal(int level, int error, const char *file, int line, const char *format, ...) _printf_(5, 6);
/* A refused request, at LOG_NOTICE with the client's uid and pid (from its SO_PEERCRED) and
 * operation (a short upper-case word: BIND, BIND_UNIX, OVERRIDE, ...) as fields, rate
 * limited as described above. Returns -EPERM. */
int log_refusal_internal(uid_t uid, pid_t pid, const char *operation, const char *file, int line,
                         const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) log_internal(level, error, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

#define log_refusal(uid, pid, operation, ...)                                                                \
        log_refusal_internal(uid, pid, operation, __FILE__, __LINE__, __VA_ARGS__)
