/* SPDX-License-Identifier: MIT */

/*
 * The service manager's side of netutild, played by the test: the notify protocol on a
 * NOTIFY_SOCKET we read (watchdog pings and their spacing, the reload sequence with its
 * MONOTONIC_USEC, STATUS= with live counts, ERRNO= on a failed start), and journald's
 * native protocol on a socket of ours at /run/systemd/journal/socket in a private mount
 * namespace (structured fields, the fallback to stderr, refusals logged once). What
 * tests/check-daemon.c covers already (READY=1 with STATUS=, STOPPING=1, RELOADING=1 on
 * SIGHUP, socket activation through systemd-socket-activate) is not repeated. Every test
 * counts the daemon's fds and its own.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "testlib.h"

/* The watchdog period the tests give the daemon: pings every 200 ms. Short, so that a
 * couple of seconds show ten of them; long against scheduling noise on a loaded machine. */
#define WATCHDOG_TEST_USEC 400000ULL
/* The journal socket's path, fixed in libsystemd. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static TestDaemon daemon_;

static void teardown(void) {
        test_daemon_kill(&daemon_);
        test_fd_count_teardown();
}

static long long now_usec_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Starts the daemon through "sh -c" so that the environment can name its own pid
 * ($$ survives the execs: sh, then setpriv --pdeathsig, then netutild). env: assignments
 * put before the command (may be ""); config: a --config file or NULL. Waits for READY=1
 * if wait_ready. Returns 0 or -errno. */
static int start_with_env(TestDaemon *d, const char *env, const char *config, bool wait_ready) {
        char script[1024];

        snprintf(script, sizeof(script),
                 "%s exec %s --pdeathsig KILL \"$0\" --user --socket \"$1\" --state-dir \"$2\"%s", env,
                 test_setpriv_bin(), config ? " --config \"$3\"" : "");
        return test_daemon_start_argv(
                d,
                (const char *[]) { "/bin/sh", "-c", script, "@NETUTILD@", "@SOCKET@", "@DIR@", config, NULL },
                wait_ready);
}

/* Receives one notification datagram within timeout_ms into buf (NUL-terminated).
 * Returns its length, or -ETIMEDOUT. */
static ssize_t notify_recv(TestDaemon *d, char *buf, size_t len, int timeout_ms) {
        struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return -ETIMEDOUT;
        n = recv(d->notify_fd, buf, len - 1, MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return n;
}

/* The value of KEY= in a notification or journal datagram (fields one per line), copied
 * to val; false if absent. */
static bool field(const char *msg, const char *key, char *val, size_t len) {
        size_t klen = strlen(key);

        for (const char *l = msg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, klen) == 0 && l[klen] == '=') {
                        const char *v = l + klen + 1, *e = strchrnul(v, '\n');
                        snprintf(val, len, "%.*s", (int) (e - v), v);
                        return true;
                }
        return false;
}

static int ctl(const char *const *priv, const char *const *args, char *out, size_t outlen, char *err,
               size_t errlen) {
        return test_ctl(daemon_.socket, priv, args, out, outlen, err, errlen);
}

static const char *const as_nobody[] = { "--reuid", "65534", "--regid", "65534", "--clear-groups", NULL };

/* ---- watchdog ------------------------------------------------------------------------ */

START_TEST(test_watchdog_pings_every_half_period) {
        char env[128], msg[4096];
        long long t[64], deadline;
        int n = 0, baseline;

        snprintf(env, sizeof(env), "WATCHDOG_USEC=%llu WATCHDOG_PID=$$", WATCHDOG_TEST_USEC);
        ck_assert_int_eq(start_with_env(&daemon_, env, NULL, true), 0);
        baseline = test_daemon_steady_fds(&daemon_);

        /* 2.5 s: about 12 pings at 200 ms. */
        deadline = now_usec_mono() + 2500000;
        while (now_usec_mono() < deadline && n < 64) {
                ssize_t r = notify_recv(&daemon_, msg, sizeof(msg),
                                        (int) ((deadline - now_usec_mono()) / 1000) + 1);
                if (r < 0)
                        continue;
                if (strcmp(msg, "WATCHDOG=1") == 0)
                        t[n++] = now_usec_mono();
        }
        /* Loosely: this is a functional check, not a benchmark. Too few pings means they
         * come at the full period (or not at all), too many at a quarter of it. */
        ck_assert_msg(n >= 8 && n <= 16, "%d pings in 2.5 s, expected about 12", n);
        for (int i = 1; i < n; i++) {
                long long gap = t[i] - t[i - 1];
                ck_assert_msg(gap >= 100000 && gap <= 390000, "ping %d came %lld us after the previous one",
                              i, gap);
        }
        {
                long long mean = (t[n - 1] - t[0]) / (n - 1);
                ck_assert_msg(mean >= 170000 && mean <= 260000, "mean spacing %lld us, expected ~200000",
                              mean);
        }
        test_daemon_assert_fds(&daemon_, baseline, baseline);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_watchdog_of_another_pid_is_not_ours) {
        char env[128], msg[4096];
        long long deadline;

        /* $WATCHDOG_PID names another process (the test itself): the watchdog is not ours. */
        snprintf(env, sizeof(env), "WATCHDOG_USEC=%llu WATCHDOG_PID=%d", WATCHDOG_TEST_USEC, (int) getpid());
        ck_assert_int_eq(start_with_env(&daemon_, env, NULL, true), 0);
        deadline = now_usec_mono() + 1000000;
        while (now_usec_mono() < deadline)
                if (notify_recv(&daemon_, msg, sizeof(msg), 100) > 0)
                        ck_assert_msg(!strstr(msg, "WATCHDOG=1"), "pinged for another pid: %s", msg);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_watchdog_with_stalled_manager_does_not_stall_clients) {
        char env[128], out[4096], err[4096];
        FILE *f;
        int baseline;

        /* A manager that stops reading: in a network namespace of our own the datagram queue
         * can be cut to nothing, so every ping finds it full. A ping that waited for room
         * would hold the event loop, and the clients with it. */
        ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
        f = fopen("/proc/sys/net/unix/max_dgram_qlen", "we");
        ck_assert_ptr_nonnull(f);
        fputs("0\n", f);
        fclose(f);
        /* A queue of 0 still takes one datagram: READY=1, which we read. The first ping
         * fills it, every later one finds it full. */
        snprintf(env, sizeof(env), "WATCHDOG_USEC=%llu WATCHDOG_PID=$$", WATCHDOG_TEST_USEC);
        ck_assert_int_eq(start_with_env(&daemon_, env, NULL, true), 0);
        baseline = test_daemon_steady_fds(&daemon_);
        for (int i = 0; i < 8; i++) {
                long long t0 = now_usec_mono();
                ck_assert_int_eq(ctl(NULL, (const char *[]) { "--timeout", "1", "status", NULL }, out,
                                     sizeof(out), err, sizeof(err)),
                                 0);
                ck_assert_msg(now_usec_mono() - t0 < 900000, "status took %lld us", now_usec_mono() - t0);
                usleep(250 * 1000);
        }
        test_daemon_assert_fds(&daemon_, baseline, baseline);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- reload -------------------------------------------------------------------------- */

START_TEST(test_reload_sequence_reloading_monotonic_then_ready) {
        char conf[256], msg[4096], val[256], out[4096], err[4096];
        int baseline;

        snprintf(conf, sizeof(conf), "/tmp/netutild-notify-%d.conf", (int) getpid());
        test_write_file(conf, "[Daemon]\nResolver=threadpool\n");
        ck_assert_int_eq(start_with_env(&daemon_, "", conf, true), 0);
        baseline = test_daemon_steady_fds(&daemon_);

        for (int round = 0; round < 2; round++) {
                long long before, after, mono;
                bool reloading = false, ready = false;

                test_write_file(conf, round == 0 ? "[Daemon]\nResolver=blocking\n"
                                                 : "[Daemon]\nResolver=threadpool\n");
                before = now_usec_mono();
                ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
                while (!ready) {
                        ck_assert_int_gt(notify_recv(&daemon_, msg, sizeof(msg), 5000), 0);
                        if (strstr(msg, "RELOADING=1")) {
                                ck_assert_msg(!reloading, "RELOADING=1 twice: %s", msg);
                                reloading = true;
                                after = now_usec_mono();
                                ck_assert_msg(field(msg, "MONOTONIC_USEC", val, sizeof(val)), "%s", msg);
                                mono = strtoll(val, NULL, 10);
                                /* CLOCK_MONOTONIC, as the manager reads it, when the reload began. */
                                ck_assert_msg(mono >= before && mono <= after,
                                              "MONOTONIC_USEC=%lld not in [%lld, %lld]", mono, before, after);
                                ck_assert_msg(field(msg, "STATUS", val, sizeof(val)), "%s", msg);
                        } else if (strstr(msg, "READY=1")) {
                                ck_assert_msg(reloading, "READY=1 before RELOADING=1: %s", msg);
                                ready = true;
                                ck_assert_msg(field(msg, "STATUS", val, sizeof(val)), "%s", msg);
                                ck_assert_msg(
                                        strstr(val, round == 0 ? "resolver blocking" : "resolver threadpool"),
                                        "%s", val);
                        }
                }
        }
        ck_assert_int_eq(ctl(NULL, (const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_msg(strstr(out, "Resolver: threadpool"), "%s", out);
        unlink(conf);
        test_daemon_assert_fds(&daemon_, baseline, baseline);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- STATUS= ------------------------------------------------------------------------- */

/* Waits up to 5 s for a STATUS= containing want; the last STATUS= seen goes to last. */
static bool wait_status(const char *want, char *last, size_t len) {
        long long deadline = now_usec_mono() + 5000000;
        char msg[4096];

        last[0] = '\0';
        while (now_usec_mono() < deadline) {
                if (notify_recv(&daemon_, msg, sizeof(msg), 200) <= 0 || !field(msg, "STATUS", last, len))
                        continue;
                if (strstr(last, want))
                        return true;
        }
        return false;
}

START_TEST(test_status_counts_follow_clients_holds_and_overrides) {
        char last[512], out[4096], err[4096];
        int baseline, fd;

        test_enter_netns(); /* port 0 on 127.0.0.1 of our own */
        ck_assert_int_eq(start_with_env(&daemon_, "", NULL, true), 0);
        baseline = test_daemon_steady_fds(&daemon_);

        fd = test_raw_connect(daemon_.socket);
        ck_assert_msg(wait_status("Serving 1 client, 0 held sockets, 0 overrides", last, sizeof(last)),
                      "[%s]", last);

        ck_assert_int_eq(ctl(NULL,
                             (const char *[]) { "bind", "--address", "127.0.0.1", "--name", "web", "--hold",
                                               "0", NULL },
                             out, sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_int_eq(
                ctl(NULL, (const char *[]) { "override", "set", "--scope", "s1", "a.test", "127.0.0.1", NULL },
                    out, sizeof(out), err, sizeof(err)),
                0);
        ck_assert_msg(wait_status("Serving 1 client, 1 held socket, 1 override,", last, sizeof(last)), "[%s]",
                      last);
        ck_assert_msg(strstr(last, " requests, resolver threadpool"), "[%s]", last);

        close(fd);
        ck_assert_int_eq(ctl(NULL, (const char *[]) { "hold", "release", "web", NULL }, out, sizeof(out), err,
                             sizeof(err)),
                         0);
        ck_assert_msg(wait_status("Serving 0 clients, 0 held sockets, 1 override,", last, sizeof(last)),
                      "[%s]", last);
        test_daemon_assert_fds(&daemon_, baseline, baseline);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- ERRNO= -------------------------------------------------------------------------- */

/* Starts the daemon with config text (NULL: a --config that does not exist) and expects
 * it to exit 1 after ERRNO=want, with nothing else sent. */
static void expect_errno_at_start(const char *config_text, int want) {
        char conf[256], msg[4096], val[64];
        int status = 0;

        snprintf(conf, sizeof(conf), "/tmp/netutild-notify-bad-%d.conf", (int) getpid());
        if (config_text)
                test_write_file(conf, config_text);
        ck_assert_int_eq(start_with_env(&daemon_, "", conf, false), 0);
        ck_assert_int_gt(notify_recv(&daemon_, msg, sizeof(msg), 10000), 0);
        ck_assert_msg(!strstr(msg, "READY=1"), "%s", msg);
        ck_assert_msg(field(msg, "ERRNO", val, sizeof(val)), "%s", msg);
        ck_assert_int_eq(atoi(val), want);
        ck_assert_int_eq(waitpid(daemon_.pid, &status, 0), daemon_.pid);
        daemon_.pid = -1;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "wait status %d", status);
        ck_assert_int_eq(notify_recv(&daemon_, msg, sizeof(msg), 0), -ETIMEDOUT);
        unlink(conf);
        test_daemon_stop(&daemon_);
}

START_TEST(test_errno_on_invalid_config) {
        expect_errno_at_start("[Daemon]\nMaxClients=lots\n", EINVAL);
}
END_TEST

START_TEST(test_errno_on_missing_config) {
        expect_errno_at_start(NULL, ENOENT);
}
END_TEST

START_TEST(test_errno_when_socket_is_served_already) {
        TestDaemon second;
        char msg[4096], val[64];
        int status = 0;

        ck_assert_int_eq(start_with_env(&daemon_, "", NULL, true), 0);
        /* A second daemon on the same socket path, its own NOTIFY_SOCKET. */
        ck_assert_int_eq(
                test_daemon_start_argv(&second,
                                       (const char *[]) { "@NETUTILD@", "--user", "--socket", daemon_.socket,
                                                         "--state-dir", "@DIR@", NULL },
                                       false),
                0);
        ck_assert_int_gt(notify_recv(&second, msg, sizeof(msg), 10000), 0);
        ck_assert_msg(field(msg, "ERRNO", val, sizeof(val)), "%s", msg);
        ck_assert_int_eq(atoi(val), EADDRINUSE);
        ck_assert_int_eq(waitpid(second.pid, &status, 0), second.pid);
        second.pid = -1;
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        test_daemon_stop(&second);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- journald ------------------------------------------------------------------------ */

/* In a private mount namespace: an empty tmpfs on /run/systemd, and (with_socket) our
 * datagram socket at JOURNAL_SOCKET, returned; -1 without. Call it in a network namespace
 * of the test's own: it sets that namespace's net.unix.max_dgram_qlen. */
static int journal_setup(bool with_socket) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        int fd, size = 4 << 20;

        test_enter_mount_namespace();
        ck_assert_int_eq(mkdir("/run/systemd", 0755) == 0 || errno == EEXIST, 1);
        ck_assert_int_eq(mount("tmpfs", "/run/systemd", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"), 0);
        ck_assert_int_eq(mkdir("/run/systemd/journal", 0755), 0);
        if (!with_socket)
                return -1;
        /* A new network namespace queues 10 datagrams per unix socket; journald's socket
         * takes many more, and a full queue would hold the daemon until we read. */
        test_write_file("/proc/sys/net/unix/max_dgram_qlen", "512\n");
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fd, 0);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Starts the daemon with stderr on a pipe of ours (returned in *ret_err, read end,
 * non-blocking) and JOURNAL_STREAM naming that pipe (matching) or another inode. */
static void start_with_stderr_pipe(const char *config, bool matching, int *ret_err) {
        char stream[64];
        struct stat st;
        int p[2], saved;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(fstat(p[1], &st), 0);
        snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long) st.st_dev,
                 (unsigned long long) st.st_ino + (matching ? 0 : 1));
        ck_assert_int_eq(setenv("JOURNAL_STREAM", stream, 1), 0);
        /* The daemon inherits our fd 2 for the time of its start. */
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
        ck_assert_int_eq(start_with_env(&daemon_, "", config, true), 0);
        ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        close(p[1]);
        unsetenv("JOURNAL_STREAM");
        ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
        ck_assert_int_eq(chmod(daemon_.dir, 0755), 0); /* nobody reaches the socket */
        *ret_err = p[0];
}

/* Reads journal datagrams for up to timeout_ms until one contains needle; copies it to
 * buf. Returns true if found. */
static bool journal_wait(int fd, const char *needle, int timeout_ms, char *buf, size_t len) {
        long long deadline = now_usec_mono() + (long long) timeout_ms * 1000;

        while (now_usec_mono() < deadline) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 50) <= 0)
                        continue;
                n = recv(fd, buf, len - 1, MSG_DONTWAIT);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, needle))
                        return true;
        }
        return false;
}

/* Journal datagrams containing needle that arrive within ms. */
static int journal_count(int fd, const char *needle, int ms) {
        char buf[8192];
        int n = 0;
        long long deadline = now_usec_mono() + (long long) ms * 1000;

        while (now_usec_mono() < deadline) {
                long long left = (deadline - now_usec_mono()) / 1000;
                if (journal_wait(fd, needle, (int) (left > 0 ? left : 1), buf, sizeof(buf)))
                        n++;
        }
        return n;
}

static void expect_field(const char *entry, const char *key, const char *want) {
        char val[2048];

        ck_assert_msg(field(entry, key, val, sizeof(val)), "no %s= in [%s]", key, entry);
        ck_assert_msg(strstr(val, want), "%s=%s, expected '%s' in it", key, val, want);
}

static void read_all(int fd, char *buf, size_t len) {
        size_t used = 0;
        ssize_t n;

        while (used + 1 < len && (n = read(fd, buf + used, len - 1 - used)) > 0)
                used += (size_t) n;
        buf[used] = '\0';
}

START_TEST(test_journal_native_fields_for_refusal_and_reload) {
        char entry[8192], err_text[8192], out[4096], err[4096], val[64];
        int jfd, efd, baseline;

        test_enter_netns();
        jfd = journal_setup(true);
        start_with_stderr_pipe(NULL, true, &efd);

        /* The start-up line came through the journal socket. */
        ck_assert_msg(journal_wait(jfd, "running in user mode", 5000, entry, sizeof(entry)),
                      "no start-up entry");
        expect_field(entry, "PRIORITY", "6");
        expect_field(entry, "SYSLOG_IDENTIFIER", "netutild");
        ck_assert_msg(field(entry, "CODE_FILE", val, sizeof(val)), "[%s]", entry);
        ck_assert_msg(!field(entry, "CLIENT_UID", val, sizeof(val)), "[%s]", entry);
        baseline = test_daemon_steady_fds(&daemon_); /* with the journal's socket, opened now */

        /* A refusal: port 1 is below ip_unprivileged_port_start, and nobody has no rule. */
        ck_assert_int_eq(ctl(as_nobody, (const char *[]) { "bind", "--address", "127.0.0.1", "1", NULL }, out,
                             sizeof(out), err, sizeof(err)),
                         1);
        ck_assert_msg(strstr(err, "Permission denied by policy"), "%s", err);
        ck_assert_msg(journal_wait(jfd, "Refused BIND", 5000, entry, sizeof(entry)), "no refusal entry");
        expect_field(entry, "MESSAGE", "Refused BIND for uid 65534 pid ");
        expect_field(entry, "PRIORITY", "5");
        expect_field(entry, "CLIENT_UID", "65534");
        expect_field(entry, "OPERATION", "BIND");
        expect_field(entry, "CODE_FILE", "bind.c");
        ck_assert_msg(field(entry, "CLIENT_PID", val, sizeof(val)) && atoi(val) > 0, "[%s]", entry);
        ck_assert_msg(field(entry, "CODE_LINE", val, sizeof(val)) && atoi(val) > 0, "[%s]", entry);

        /* A reload: one entry. */
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 5000, NULL, 0), 0);
        ck_assert_int_eq(journal_count(jfd, "Configuration reloaded", 500), 1);

        /* Nothing of it on stderr: journald got each line once. */
        read_all(efd, err_text, sizeof(err_text));
        ck_assert_msg(err_text[0] == '\0', "stderr: [%s]", err_text);
        test_daemon_assert_fds(&daemon_, baseline, baseline);
        test_daemon_stop_expect_clean_exit(&daemon_);
        close(efd);
        close(jfd);
}
END_TEST

/* Counts, among the journal datagrams arriving within ms, those containing a and b. */
static void journal_count2(int fd, int ms, const char *a, int *ret_a, const char *b, int *ret_b) {
        long long deadline = now_usec_mono() + (long long) ms * 1000;
        char buf[8192];

        *ret_a = *ret_b = 0;
        while (now_usec_mono() < deadline) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 50) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                *ret_a += !!strstr(buf, a);
                *ret_b += !!strstr(buf, b);
        }
}

static void refused_bind(const char *const *priv) {
        char out[4096], err[4096];

        ck_assert_int_eq(ctl(priv, (const char *[]) { "bind", "--address", "127.0.0.1", "1", NULL }, out,
                             sizeof(out), err, sizeof(err)),
                         1);
        ck_assert_msg(strstr(err, "Permission denied by policy"), "%s", err);
}

START_TEST(test_journal_refusals_logged_once_per_uid_and_interval) {
        char entry[8192];
        const char *as_daemon_user[] = { "--reuid", "1", "--regid", "1", "--clear-groups", NULL };
        int jfd, efd, n_nobody, n_daemon;

        test_enter_netns();
        jfd = journal_setup(true);
        start_with_stderr_pipe(NULL, true, &efd);
        ck_assert(journal_wait(jfd, "running in user mode", 5000, entry, sizeof(entry)));

        /* Twenty refusals of one uid in a row: one line. Another uid: a line of its own. */
        for (int i = 0; i < 20; i++)
                refused_bind(as_nobody);
        refused_bind(as_daemon_user);
        journal_count2(jfd, 500, "CLIENT_UID=65534\n", &n_nobody, "CLIENT_UID=1\n", &n_daemon);
        ck_assert_int_eq(n_nobody, 1);
        ck_assert_int_eq(n_daemon, 1);

        /* After the interval, the next refusal is logged, with the count of those that
         * were not. */
        usleep((useconds_t) (LOG_REFUSAL_INTERVAL_USEC + 300000));
        refused_bind(as_nobody);
        ck_assert_msg(journal_wait(jfd, "CLIENT_UID=65534\n", 5000, entry, sizeof(entry)), "no second line");
        expect_field(entry, "MESSAGE", "(19 more refused since the last such line)");
        test_daemon_stop_expect_clean_exit(&daemon_);
        close(efd);
        close(jfd);
}
END_TEST

/* Appends what the daemon writes to stderr (efd) to buf until buf holds needle, up to
 * 5 s. Returns true if it does. */
static bool stderr_wait(int efd, const char *needle, char *buf, size_t len) {
        long long deadline = now_usec_mono() + 5000000;

        while (!strstr(buf, needle) && now_usec_mono() < deadline) {
                struct pollfd p = { .fd = efd, .events = POLLIN };
                size_t used = strlen(buf);
                ssize_t n;

                if (poll(&p, 1, 50) <= 0 || used + 1 >= len)
                        continue;
                n = read(efd, buf + used, len - 1 - used);
                if (n > 0)
                        buf[used + (size_t) n] = '\0';
        }
        return strstr(buf, needle) != NULL;
}

START_TEST(test_journal_refusals_of_many_uids_are_bounded) {
        char entry[8192], uid[16];
        int jfd, efd, lines;

        test_enter_netns();
        jfd = journal_setup(true);
        start_with_stderr_pipe(NULL, true, &efd);
        ck_assert(journal_wait(jfd, "running in user mode", 5000, entry, sizeof(entry)));

        /* More uids than the burst: each a first refusal, but only the burst is logged. */
        for (unsigned i = 0; i < LOG_REFUSAL_BURST + 8; i++) {
                snprintf(uid, sizeof(uid), "%u", 20000 + i);
                refused_bind((const char *[]) { "--reuid", uid, "--regid", uid, "--clear-groups", NULL });
        }
        lines = journal_count(jfd, "Refused BIND", 500);
        ck_assert_int_eq(lines, LOG_REFUSAL_BURST);
        test_daemon_stop_expect_clean_exit(&daemon_);
        close(efd);
        close(jfd);
}
END_TEST

START_TEST(test_journal_unreachable_falls_back_to_prefixed_stderr) {
        char text[16384] = "";
        int efd;

        test_enter_netns();
        (void) journal_setup(false); /* the stream matches, but nobody listens at the socket */
        start_with_stderr_pipe(NULL, true, &efd);
        ck_assert_msg(stderr_wait(efd, "<6>netutild ", text, sizeof(text)), "[%s]", text);
        refused_bind(as_nobody);
        ck_assert_msg(stderr_wait(efd, "<5>Refused BIND for uid 65534 pid ", text, sizeof(text)), "[%s]",
                      text);
        test_daemon_stop_expect_clean_exit(&daemon_);
        close(efd);
}
END_TEST

START_TEST(test_other_stream_than_journals_gets_prefixed_stderr) {
        char text[16384] = "";
        int jfd, efd;

        test_enter_netns();
        jfd = journal_setup(true);
        /* $JOURNAL_STREAM names another inode: inherited from a parent, say. */
        start_with_stderr_pipe(NULL, false, &efd);
        ck_assert_msg(stderr_wait(efd, "<6>netutild ", text, sizeof(text)), "[%s]", text);
        refused_bind(as_nobody);
        ck_assert_msg(stderr_wait(efd, "<5>Refused BIND for uid 65534 pid ", text, sizeof(text)), "[%s]",
                      text);
        ck_assert_int_eq(journal_count(jfd, "MESSAGE=", 300), 0);
        /* A client's string with a newline in a refusal cannot forge a line of its own. */
        {
                char out[4096], err[4096];

                ck_assert_int_eq(ctl(as_nobody, (const char *[]) { "bind-unix", "/tmp/x\n<0>forged.sock", NULL }, out,
                                     sizeof(out), err, sizeof(err)),
                                 1);
                ck_assert_msg(stderr_wait(efd, "?<0>forged.sock", text, sizeof(text)), "[%s]", text);
                ck_assert_msg(!strstr(text, "\n<0>forged"), "[%s]", text);
        }
        test_daemon_stop_expect_clean_exit(&daemon_);
        close(efd);
        close(jfd);
}
END_TEST

static Suite *notify_suite(void) {
        Suite *s = suite_create("notify");
        TCase *tc;

        tc = test_tcase_add(s, "watchdog", 30, test_fd_count_setup, teardown, NULL);
        tcase_add_test(tc, test_watchdog_pings_every_half_period);
        tcase_add_test(tc, test_watchdog_of_another_pid_is_not_ours);
        tcase_add_test(tc, test_watchdog_with_stalled_manager_does_not_stall_clients);

        tc = test_tcase_add(s, "reload", 30, test_fd_count_setup, teardown, NULL);
        tcase_add_test(tc, test_reload_sequence_reloading_monotonic_then_ready);

        tc = test_tcase_add(s, "status", 30, test_fd_count_setup, teardown, NULL);
        tcase_add_test(tc, test_status_counts_follow_clients_holds_and_overrides);

        tc = test_tcase_add(s, "errno", 30, test_fd_count_setup, teardown, NULL);
        tcase_add_test(tc, test_errno_on_invalid_config);
        tcase_add_test(tc, test_errno_on_missing_config);
        tcase_add_test(tc, test_errno_when_socket_is_served_already);

        tc = test_tcase_add(s, "journal", 40, test_fd_count_setup, teardown, NULL);
        tcase_add_test(tc, test_journal_native_fields_for_refusal_and_reload);
        tcase_add_test(tc, test_journal_refusals_logged_once_per_uid_and_interval);
        tcase_add_test(tc, test_journal_refusals_of_many_uids_are_bounded);
        tcase_add_test(tc, test_journal_unreachable_falls_back_to_prefixed_stderr);
        tcase_add_test(tc, test_other_stream_than_journals_gets_prefixed_stderr);
        return s;
}

int main(void) {
        return test_run_suite(notify_suite(), true);
}
