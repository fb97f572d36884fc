/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the integration tests and the benchmarks: start the real netutild
 * on a temporary socket with a NOTIFY_SOCKET we read, stop it by its pid, count its fds,
 * run a command and capture its output. Everything is bounded in time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct TestDaemon {
        pid_t pid;
        char dir[256];    /* temporary directory, removed by test_daemon_stop() */
        char socket[300]; /* dir/netutild.sock */
        int notify_fd;    /* our end of NOTIFY_SOCKET */
        int exit_status;  /* after test_daemon_stop(): the wait status */
} TestDaemon;

/* $NETUTILD_BIN, or ./netutild. */
const char *test_netutild_bin(void);
/* $NETUTILCTL_BIN, or ./netutilctl. */
const char *test_netutilctl_bin(void);

/* Starts netutild --user --socket DIR/netutild.sock --state-dir DIR/state plus extra_args
 * (NULL-terminated, may be NULL) with NOTIFY_SOCKET=DIR/notify, and waits up to 10 s for
 * READY=1. Returns 0, or -errno (the daemon is stopped again on failure). */
int test_daemon_start(TestDaemon *d, const char *const *extra_args);

/* Like test_daemon_start() but runs argv (NULL-terminated; "@SOCKET@", "@DIR@" and
 * "@NETUTILD@" are replaced) instead of the plain daemon, e.g. under
 * systemd-socket-activate; waits for READY=1 only if wait_ready. */
int test_daemon_start_argv(TestDaemon *d, const char *const *argv, bool wait_ready);

/* Reads notification datagrams until one contains needle, or timeout_ms passes. The
 * matching datagram is copied to buf. Returns 0 or -ETIMEDOUT. */
int test_daemon_wait_notify(TestDaemon *d, const char *needle, int timeout_ms, char *buf, size_t len);

/* Sends sig and waits up to 10 s for the daemon to exit (then SIGKILL). Removes the
 * temporary directory. Returns the wait status. Safe to call twice. */
int test_daemon_stop_signal(TestDaemon *d, int sig);
int test_daemon_stop(TestDaemon *d);

/* Open fds of pid (entries of /proc/PID/fd), or -errno. */
int test_count_fds(pid_t pid);
/* Resident set size of pid in KiB (VmRSS), or -errno. */
long test_rss_kib(pid_t pid);

/* Runs argv (NULL-terminated) with up to 10 s, capturing stdout and stderr (each cut to
 * its buffer). Returns the exit status (0-255), 128+signal, or -errno. */
int test_run(const char *const *argv, char *out, size_t outlen, char *err, size_t errlen);

/* Waits until fd count of pid equals want, up to timeout_ms; returns the last count. */
int test_wait_fd_count(pid_t pid, int want, int timeout_ms);
