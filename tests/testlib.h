/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the integration tests and the benchmarks: start the real netutild
 * on a temporary socket with a NOTIFY_SOCKET we read, stop it by its pid, count its fds,
 * run a command and capture its output. Everything is bounded in time. Below those, the
 * fixtures the Check suites share: namespaces, fd counts, the daemon in a test, netutilctl
 * runs, sockets of the test's own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Check's types, declared here so that the benchmarks need not include <check.h>. */
struct Suite;
struct TCase;

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

/* ---- Shared fixtures of the Check suites ----------------------------------------------
 *
 * Helpers whose comment starts with "Asserts" use Check's ck_assert*(): they belong inside
 * a test or a checked fixture, and a failure is reported at its line in testlib.c. The
 * others return errors like the ones above, or cannot fail. */

/* CLOCK_MONOTONIC in milliseconds. */
long long test_now_ms(void);

/* vsnprintf() into buf; returns buf. */
__attribute__((format(printf, 3, 4))) const char *test_fmt(char *buf, size_t len, const char *format, ...);

/* setpriv(1): the first of /usr/bin, /bin and /usr/sbin that is executable, else
 * /usr/bin/setpriv. */
const char *test_setpriv_bin(void);

/* ---- the test process's own fds ---- */

/* Asserts that /proc/self/fd can be read; returns the open fds of this process. The
 * directory's own fd is counted every time, so two counts compare equal exactly when
 * nothing was opened or closed in between. */
int test_count_own_fds(void);
/* Asserts (a checked fixture): remembers test_count_own_fds() for the teardown. */
void test_fd_count_setup(void);
/* Asserts (a checked fixture) that test_count_own_fds() is what test_fd_count_setup() saw. */
void test_fd_count_teardown(void);

/* ---- Check plumbing ---- */

/* A new TCase in s with timeout seconds, the checked fixture setup/teardown (either may be
 * NULL) and tags (NULL: none). */
struct TCase *test_tcase_add(struct Suite *s, const char *name, int timeout, void (*setup)(void),
                             void (*teardown)(void), const char *tags);
/* Runs every test of s (CK_NORMAL; with always_fork in fork mode whatever CK_FORK says)
 * and frees it. Returns EXIT_SUCCESS if none failed, else EXIT_FAILURE. */
int test_run_suite(struct Suite *s, bool always_fork);

/* ---- isolation (needs root) ---- */

/* Asserts: a fresh network namespace with lo up: 127.0.0.1/8 and ::1 exist, nothing else
 * does, every port is free and the abstract unix namespace is empty. */
void test_enter_netns(void);
/* Asserts: marks every fd from 3 up close-on-exec, so that nothing of the test process
 * (Check's message file, say) leaks into a daemon or command it starts. */
void test_cloexec_fds_from_3(void);
/* Asserts: a private mount namespace (propagation private, recursively), so that mounts
 * over /etc stay in this process. */
void test_enter_mount_namespace(void);
/* Asserts: bind-mounts a new file (mode 0644) with text over target; call it in a private
 * mount namespace. The file is unlinked at once: the mount keeps the inode. */
void test_mount_text_over(const char *target, const char *text);
/* Asserts: test_enter_mount_namespace(), then text over /etc/hosts. */
void test_use_hosts_file(const char *text);

/* ---- a name server of the test's own ---- */

/* Asserts: in a new mount namespace, /etc/resolv.conf naming 127.0.0.1 with "options
 * OPTIONS" (its timeout and attempts), and a UDP socket on 127.0.0.1:53 of the current
 * network namespace (test_enter_netns() first) that nothing reads: every query goes
 * unanswered unless the test takes and answers it. Returns the socket. */
int test_silent_name_server(const char *options);

/* A query that reached the test's name server. */
typedef struct TestDnsQuery {
        unsigned char buf[512];
        size_t len; /* header and question */
        struct sockaddr_storage from;
        socklen_t from_len;
        char name[256];
        unsigned type; /* the question's: 1 A, 28 AAAA */
} TestDnsQuery;

/* Asserts the query parses: takes the next query on fd, waiting up to timeout_ms. Returns
 * 1, or 0 if none came. */
int test_dns_take_query(int fd, int timeout_ms, TestDnsQuery *q);
/* Asserts: answers q on fd with one A record, address (IPv4 text) with ttl. */
void test_dns_answer_a(int fd, const TestDnsQuery *q, const char *address, uint32_t ttl);

/* ---- files ---- */

/* Asserts: creates or truncates path (fopen "w") with text. */
void test_write_file(const char *path, const char *text);
/* Asserts: a new file /tmp/netutild-test-conf.XXXXXX with text; returns its path, in a
 * static buffer that the next call overwrites. The caller unlinks it. */
char *test_write_config(const char *text);

/* ---- the daemon in a Check test ---- */

/* Like test_daemon_start() but under `setpriv --pdeathsig KILL`, so that the daemon dies
 * with the test process even when an assertion ends it early. Returns 0 or -errno. */
int test_daemon_start_pdeathsig(TestDaemon *d, const char *const *extra_args);
/* Asserts that test_daemon_start_pdeathsig() works, makes the daemon's directory 0755
 * (mkdtemp() made it 0700) so that clients of any uid reach its socket (0666), and returns
 * the daemon's fd count once it holds still (test_daemon_steady_fds()): its baseline. */
int test_daemon_start_for_any_user(TestDaemon *d, const char *const *extra_args);
/* For a teardown: if the daemon runs, test_daemon_stop_signal(SIGKILL); nothing if it never
 * started (a zeroed TestDaemon) or has stopped already. */
void test_daemon_kill(TestDaemon *d);
/* Asserts > 0: the daemon's fd count once it holds still (sd_notify() opens a socket for a
 * moment after READY=1): counted every 20 ms, up to 100 times, until two counts agree. */
int test_daemon_steady_fds(const TestDaemon *d);
/* Asserts that the daemon's fd count reaches want within 3 s (baseline: for the message). */
void test_daemon_assert_fds(const TestDaemon *d, int want, int baseline);
/* Asserts that the daemon's fd count stays at baseline for 500 ms within timeout_ms: for
 * work that passes through the baseline on its way (a socket closed before the next one
 * is opened). */
void test_daemon_assert_fds_settle(const TestDaemon *d, int baseline, int timeout_ms);
/* Asserts that test_daemon_stop() sees an exit with status 0. */
void test_daemon_stop_expect_clean_exit(TestDaemon *d);

/* Asserts that the command line fits: runs `[setpriv PRIV...] netutilctl --socket SOCKET
 * ARGS...` (priv NULL: no setpriv; both lists NULL-terminated) with test_run(), output in
 * out and err. Returns the exit status. */
int test_ctl(const char *socket, const char *const *priv, const char *const *args, char *out, size_t outlen,
             char *err, size_t errlen);
/* Asserts a command's exit status and its exact stdout and stderr. */
void test_expect_run(const char *out, const char *err, int status, int want_status, const char *want_out,
                     const char *want_err);
/* Asserts that there is one, from 1 to 65535: the port after the first occurrence of key in
 * s (JSON: "\"port\": ") or, with key NULL, the last number on the first line (text). */
unsigned test_port_in(const char *s, const char *key);

/* ---- sockets ---- */

/* Asserts that address is IPv4 or IPv6 text: address and port as a sockaddr; returns its
 * length. */
socklen_t test_make_sockaddr(const char *address, unsigned port, struct sockaddr_storage *ss);
/* Asserts (address, socket()): connects a TCP client; returns the fd or -errno
 * (-ECONNREFUSED: nobody listens). With timeout_ms > 0, SO_SNDTIMEO bounds connect()
 * (-EINPROGRESS: no answer in time, as when the SYN lands in a full queue). */
int test_tcp_connect(const char *address, unsigned port, int timeout_ms);
/* Asserts that a TCP connect (test_tcp_connect(), timeout_ms) to address:port is refused. */
void test_assert_nobody_listens(const char *address, unsigned port, int timeout_ms);
/* The port of an AF_INET or AF_INET6 address; 0 for other families. */
unsigned test_sockaddr_port(const struct sockaddr_storage *ss);
/* Asserts that getsockname() works: the port fd is bound to. */
unsigned test_fd_port(int fd);
/* Asserts that getsockopt() works and gives an int: that int socket option. */
int test_sockopt_int(int fd, int level, int name);
/* Asserts: a SOCK_SEQPACKET connection to the unix socket path (the daemon's protocol). */
int test_raw_connect(const char *path);

/* ---- raw protocol clients (bad input, load, faults; issue 7) ---- */

/* Sends buf[0..len) as one datagram with n_fds fds (at most 253; the fds stay ours).
 * Returns 0 or -errno (never asserts: load and fault tests count failures themselves). */
int test_raw_send_fds(int fd, const void *buf, size_t len, const int *fds, unsigned n_fds);
/* The last part of one reply: waits up to timeout_ms for datagrams, closing every fd they
 * carry, until one without PROTO_FLAG_MORE arrives. Stores its status (positive errno or 0),
 * serial and error message (cut to msglen; "" if none). Returns the parts read (>= 1),
 * -ETIMEDOUT, -ECONNRESET at end of stream, -EBADMSG for a reply that does not parse, or
 * -errno. */
int test_raw_reply(int fd, int timeout_ms, int *ret_status, unsigned *ret_serial, char *msg, size_t msglen);
/* The daemon's highest open fd number (from /proc/PID/fd), or -errno. */
int test_max_fd(pid_t pid);

/* Removes path and everything below it, never following a symlink; quietly, as teardowns
 * need. */
void test_rm_rf(const char *path);
