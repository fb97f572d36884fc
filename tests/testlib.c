/* SPDX-License-Identifier: MIT */

/* Test helpers (testlib.h): the real daemon on a temporary socket, bounded in time, and the
 * fixtures the Check suites share. */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netutil-proto.h"
#include "testlib.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *test_netutild_bin(void) {
        const char *e = getenv("NETUTILD_BIN");
        return e && *e ? e : "./netutild";
}

const char *test_netutilctl_bin(void) {
        const char *e = getenv("NETUTILCTL_BIN");
        return e && *e ? e : "./netutilctl";
}

/* Removes path and, if it is a real directory, what is below it; never follows a symlink. */
static int rm_rf(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char sub[1024];
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                rm_rf(sub);
        }
        closedir(d);
        return rmdir(path) < 0 ? -errno : 0;
}

static int make_notify_socket(TestDaemon *d, char *path, size_t len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1;

        snprintf(path, len, "%s/notify", d->dir);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->notify_fd < 0)
                return -errno;
        if (bind(d->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        (void) setsockopt(d->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        return 0;
}

static int start(TestDaemon *d, const char *const *argv_template, const char *const *extra_args, bool wait_ready) {
        char notify[300];
        const char *argv[64];
        char subst[64][512];
        size_t n = 0;
        int r;

        memset(d, 0, sizeof(*d));
        d->pid = -1;
        d->notify_fd = -1;
        snprintf(d->dir, sizeof(d->dir), "/tmp/netutild-test.XXXXXX");
        if (!mkdtemp(d->dir))
                return -errno;
        snprintf(d->socket, sizeof(d->socket), "%s/netutild.sock", d->dir);
        r = make_notify_socket(d, notify, sizeof(notify));
        if (r < 0)
                goto fail;

        if (argv_template) {
                for (; argv_template[n] && n < 63; n++) {
                        const char *a = argv_template[n];
                        if (strcmp(a, "@SOCKET@") == 0)
                                a = d->socket;
                        else if (strcmp(a, "@DIR@") == 0)
                                a = d->dir;
                        else if (strcmp(a, "@NETUTILD@") == 0)
                                a = test_netutild_bin();
                        snprintf(subst[n], sizeof(subst[n]), "%s", a);
                        argv[n] = subst[n];
                }
        } else {
                static char state[300];
                snprintf(state, sizeof(state), "%s/state", d->dir);
                argv[n++] = test_netutild_bin();
                argv[n++] = "--user";
                argv[n++] = "--socket";
                argv[n++] = d->socket;
                argv[n++] = "--state-dir";
                argv[n++] = state;
                for (size_t i = 0; extra_args && extra_args[i] && n < 63; i++)
                        argv[n++] = extra_args[i];
        }
        argv[n] = NULL;

        d->pid = fork();
        if (d->pid < 0) {
                r = -errno;
                goto fail;
        }
        if (d->pid == 0) {
                setenv("NOTIFY_SOCKET", notify, 1);
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("WATCHDOG_USEC");
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }

        if (!wait_ready)
                return 0;
        r = test_daemon_wait_notify(d, "READY=1", 10000, NULL, 0);
        if (r < 0)
                goto fail;
        return 0;

fail:
        test_daemon_stop_signal(d, SIGKILL);
        return r;
}

int test_daemon_start(TestDaemon *d, const char *const *extra_args) {
        return start(d, NULL, extra_args, true);
}

int test_daemon_start_argv(TestDaemon *d, const char *const *argv, bool wait_ready) {
        return start(d, argv, NULL, wait_ready);
}

int test_daemon_wait_notify(TestDaemon *d, const char *needle, int timeout_ms, char *buf, size_t len) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                char msg[4096];
                struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
                long long left = deadline - now_ms();
                ssize_t n;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                n = recv(d->notify_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
                if (n < 0)
                        continue;
                msg[n] = '\0';
                if (strstr(msg, needle)) {
                        if (buf && len > 0)
                                snprintf(buf, len, "%s", msg);
                        return 0;
                }
        }
}

int test_daemon_stop_signal(TestDaemon *d, int sig) {
        if (d->pid > 0) {
                long long deadline = now_ms() + 10000;
                int status = 0;

                kill(d->pid, sig);
                for (;;) {
                        pid_t w = waitpid(d->pid, &status, WNOHANG);
                        if (w == d->pid)
                                break;
                        if (w < 0 && errno != EINTR)
                                break;
                        if (now_ms() > deadline) {
                                kill(d->pid, SIGKILL);
                                waitpid(d->pid, &status, 0);
                                break;
                        }
                        usleep(5000);
                }
                d->exit_status = status;
                d->pid = -1;
        }
        if (d->notify_fd >= 0) {
                close(d->notify_fd);
                d->notify_fd = -1;
        }
        if (d->dir[0]) {
                rm_rf(d->dir);
                d->dir[0] = '\0';
        }
        return d->exit_status;
}

int test_daemon_stop(TestDaemon *d) {
        return test_daemon_stop_signal(d, SIGTERM);
}

int test_count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *dir;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        dir = opendir(path);
        if (!dir)
                return -errno;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return pid == getpid() ? n - 1 : n; /* our own count includes the DIR's fd */
}

long test_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -ENODATA;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

int test_wait_fd_count(pid_t pid, int want, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        int n;

        for (;;) {
                n = test_count_fds(pid);
                if (n == want || now_ms() > deadline)
                        return n;
                usleep(10000);
        }
}

static void drain(int fd, char *buf, size_t len, size_t *used) {
        char scratch[4096];
        ssize_t n;

        for (;;) {
                bool to_buf = buf && *used + 1 < len;
                n = read(fd, to_buf ? buf + *used : scratch, to_buf ? len - 1 - *used : sizeof(scratch));
                if (n <= 0)
                        break;
                if (to_buf) {
                        *used += (size_t) n;
                        buf[*used] = '\0';
                }
        }
}

int test_run(const char *const *argv, char *out, size_t outlen, char *err, size_t errlen) {
        int po[2], pe[2], status = 0;
        size_t uo = 0, ue = 0;
        long long deadline = now_ms() + 10000;
        bool open_o = true, open_e = true;
        pid_t pid;

        if (out && outlen)
                out[0] = '\0';
        if (err && errlen)
                err[0] = '\0';
        if (pipe2(po, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(pe, O_CLOEXEC) < 0) {
                close(po[0]);
                close(po[1]);
                return -errno;
        }
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                dup2(po[1], 1);
                dup2(pe[1], 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(po[1]);
        close(pe[1]);
        fcntl(po[0], F_SETFL, O_NONBLOCK);
        fcntl(pe[0], F_SETFL, O_NONBLOCK);

        while ((open_o || open_e) && now_ms() < deadline) {
                struct pollfd p[2] = { { .fd = open_o ? po[0] : -1, .events = POLLIN },
                                       { .fd = open_e ? pe[0] : -1, .events = POLLIN } };
                if (poll(p, 2, 100) < 0 && errno != EINTR)
                        break;
                if (p[0].revents) {
                        drain(po[0], out, outlen, &uo);
                        if (p[0].revents & POLLHUP)
                                open_o = false;
                }
                if (p[1].revents) {
                        drain(pe[0], err, errlen, &ue);
                        if (p[1].revents & POLLHUP)
                                open_e = false;
                }
        }
        close(po[0]);
        close(pe[0]);
        if (open_o || open_e)
                kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

/* ---- Shared fixtures of the Check suites --------------------------------------------- */

long long test_now_ms(void) {
        return now_ms();
}

const char *test_fmt(char *buf, size_t len, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, len, format, ap);
        va_end(ap);
        return buf;
}

const char *test_setpriv_bin(void) {
        static const char *const candidates[] = { "/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv" };

        for (size_t i = 0; i < N_ELEMENTS(candidates); i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return "/usr/bin/setpriv";
}

int test_count_own_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de = NULL;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static int fds_at_start = -1;

void test_fd_count_setup(void) {
        fds_at_start = test_count_own_fds();
}

void test_fd_count_teardown(void) {
        ck_assert_int_eq(test_count_own_fds(), fds_at_start);
}

TCase *test_tcase_add(Suite *s, const char *name, int timeout, void (*setup)(void), void (*teardown)(void),
                      const char *tags) {
        TCase *tc = tcase_create(name);

        if (setup || teardown)
                tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, timeout);
        if (tags)
                tcase_set_tags(tc, tags);
        suite_add_tcase(s, tc);
        return tc;
}

int test_run_suite(Suite *s, bool always_fork) {
        SRunner *sr = srunner_create(s);
        int failed = 0;

        if (always_fork)
                srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void test_enter_netns(void) {
        struct ifreq ifr = {};
        int fd;

        ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s (these tests must run as root)",
                      strerror(errno));
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags |= IFF_UP;
        ck_assert_msg(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS lo: %s", strerror(errno));
        close(fd);
}

void test_cloexec_fds_from_3(void) {
        ck_assert_int_eq(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), 0);
}

void test_enter_mount_namespace(void) {
        ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
}

void test_mount_text_over(const char *target, const char *text) {
        char path[] = "/tmp/netutild-mount.XXXXXX";
        size_t len = strlen(text);
        int fd = mkostemp(path, O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        ck_assert_int_eq(fchmod(fd, 0644), 0);
        close(fd);
        ck_assert_msg(mount(path, target, NULL, MS_BIND, NULL) == 0, "bind mount over %s: %s", target,
                      strerror(errno));
        unlink(path); /* the mount keeps the inode */
}

void test_use_hosts_file(const char *text) {
        test_enter_mount_namespace();
        test_mount_text_over("/etc/hosts", text);
}

/* ---- a name server of the test's own ---- */

int test_silent_name_server(const char *options) {
        char resolv_conf[128];
        struct sockaddr_in sa = {
                .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int dns;

        test_enter_mount_namespace();
        snprintf(resolv_conf, sizeof(resolv_conf), "nameserver 127.0.0.1\noptions %s\n", options);
        test_mount_text_over("/etc/resolv.conf", resolv_conf);
        dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(dns, 0);
        ck_assert_int_eq(bind(dns, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return dns;
}

int test_dns_take_query(int fd, int timeout_ms, TestDnsQuery *q) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        size_t off = 12, nl = 0;
        ssize_t n;

        memset(q, 0, sizeof(*q));
        if (poll(&p, 1, timeout_ms) != 1)
                return 0;
        q->from_len = sizeof(q->from);
        n = recvfrom(fd, q->buf, sizeof(q->buf), 0, (struct sockaddr *) &q->from, &q->from_len);
        ck_assert_int_gt(n, 12);
        /* The question: labels up to the root's, then type and class. */
        while (off < (size_t) n && q->buf[off] != 0) {
                size_t len = q->buf[off];

                ck_assert_uint_lt(off + 1 + len, (size_t) n);
                ck_assert_uint_lt(nl + len + 2, sizeof(q->name));
                if (nl > 0)
                        q->name[nl++] = '.';
                memcpy(q->name + nl, q->buf + off + 1, len);
                nl += len;
                q->name[nl] = '\0';
                off += 1 + len;
        }
        q->len = off + 1 + 4;
        ck_assert_uint_le(q->len, (size_t) n);
        q->type = (unsigned) (q->buf[off + 1] << 8 | q->buf[off + 2]);
        return 1;
}

void test_dns_answer_a(int fd, const TestDnsQuery *q, const char *address, uint32_t ttl) {
        /* A pointer to the question's name, type A, class IN, the TTL, the address's length. */
        const unsigned char record[] = {
                0xc0, 0x0c, 0, 1, 0, 1, (unsigned char) (ttl >> 24), (unsigned char) (ttl >> 16),
                (unsigned char) (ttl >> 8), (unsigned char) ttl, 0, 4,
        };
        unsigned char a[600];
        struct in_addr in;

        ck_assert_int_eq(inet_pton(AF_INET, address, &in), 1);
        /* Header (same id; QR, RD as asked, RA; one question, one answer), the question, and
         * the record, named by a pointer to the question's name. */
        memcpy(a, q->buf, q->len);
        a[2] = (unsigned char) (0x80 | (q->buf[2] & 0x01));
        a[3] = 0x80;
        a[4] = 0, a[5] = 1, a[6] = 0, a[7] = 1, a[8] = a[9] = a[10] = a[11] = 0;
        memcpy(a + q->len, record, sizeof(record));
        memcpy(a + q->len + sizeof(record), &in, 4);
        ck_assert_int_eq(sendto(fd, a, q->len + sizeof(record) + 4, 0, (const struct sockaddr *) &q->from,
                                q->from_len),
                         (ssize_t) (q->len + sizeof(record) + 4));
}

void test_write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f, "fopen(%s): %s", path, strerror(errno));
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

char *test_write_config(const char *text) {
        static char path[64];
        size_t len = strlen(text);
        int fd;

        snprintf(path, sizeof(path), "/tmp/netutild-test-conf.XXXXXX");
        fd = mkostemp(path, O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        close(fd);
        return path;
}

int test_daemon_start_pdeathsig(TestDaemon *d, const char *const *extra_args) {
        const char *argv[64] = { test_setpriv_bin(), "--pdeathsig", "KILL", "@NETUTILD@", "--user", "--socket",
                                 "@SOCKET@",         "--state-dir", "@DIR@" };
        size_t n = 9;

        for (size_t i = 0; extra_args && extra_args[i]; i++) {
                if (n >= N_ELEMENTS(argv) - 1)
                        return -E2BIG;
                argv[n++] = extra_args[i];
        }
        argv[n] = NULL;
        return test_daemon_start_argv(d, argv, true);
}

int test_daemon_start_for_any_user(TestDaemon *d, const char *const *extra_args) {
        int baseline;

        ck_assert_int_eq(test_daemon_start_pdeathsig(d, extra_args), 0);
        baseline = test_daemon_steady_fds(d);
        ck_assert_int_eq(chmod(d->dir, 0755), 0);
        return baseline;
}

void test_daemon_kill(TestDaemon *d) {
        if (d->pid > 0)
                test_daemon_stop_signal(d, SIGKILL);
}

int test_daemon_steady_fds(const TestDaemon *d) {
        int n = -1, prev = -1, same = 0;

        /* The same count five times over 100 ms: a file being replaced on a slow disk (the
         * names index, the rules file) keeps its temporary fd open for tens of ms. */
        for (int i = 0; i < 200 && same < 5; i++) {
                n = test_count_fds(d->pid);
                same = n == prev ? same + 1 : 0;
                prev = n;
                usleep(20000);
        }
        ck_assert_int_gt(n, 0);
        return n;
}

void test_daemon_assert_fds(const TestDaemon *d, int want, int baseline) {
        int n = test_wait_fd_count(d->pid, want, 3000);

        ck_assert_msg(n == want, "daemon has %d fds open, expected %d (baseline %d)", n, want, baseline);
}

void test_daemon_assert_fds_settle(const TestDaemon *d, int baseline, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms, since = -1;
        int n = -1;

        while (now_ms() < deadline) {
                n = test_count_fds(d->pid);
                if (n != baseline)
                        since = -1;
                else if (since < 0)
                        since = now_ms();
                else if (now_ms() - since >= 500)
                        return;
                usleep(10000);
        }
        ck_abort_msg("daemon fd count did not settle at its baseline %d (last %d)", baseline, n);
}

void test_daemon_stop_expect_clean_exit(TestDaemon *d) {
        int status = test_daemon_stop(d);

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon wait status 0x%x", status);
}

int test_ctl(const char *socket, const char *const *priv, const char *const *args, char *out, size_t outlen,
             char *err, size_t errlen) {
        const char *argv[64];
        size_t n = 0;

        if (priv) {
                argv[n++] = test_setpriv_bin();
                for (size_t i = 0; priv[i]; i++) {
                        ck_assert_uint_lt(n, N_ELEMENTS(argv) - 4);
                        argv[n++] = priv[i];
                }
        }
        argv[n++] = test_netutilctl_bin();
        argv[n++] = "--socket";
        argv[n++] = socket;
        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, N_ELEMENTS(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        return test_run(argv, out, outlen, err, errlen);
}

void test_expect_run(const char *out, const char *err, int status, int want_status, const char *want_out,
                     const char *want_err) {
        ck_assert_msg(status == want_status, "exit status %d, expected %d; stdout '%s', stderr '%s'", status,
                      want_status, out, err);
        ck_assert_str_eq(out, want_out);
        ck_assert_str_eq(err, want_err);
}

unsigned test_port_in(const char *s, const char *key) {
        unsigned port = 0;
        const char *p;

        if (key) {
                p = strstr(s, key);
                ck_assert_msg(p, "no '%s' in '%s'", key, s);
                ck_assert_int_eq(sscanf(p + strlen(key), "%u", &port), 1);
        } else {
                const char *nl = strchr(s, '\n');
                p = nl ? nl : s + strlen(s);
                while (p > s && p[-1] >= '0' && p[-1] <= '9')
                        p--;
                ck_assert_int_eq(sscanf(p, "%u", &port), 1);
        }
        ck_assert_uint_gt(port, 0);
        ck_assert_uint_le(port, 65535);
        return port;
}

socklen_t test_make_sockaddr(const char *address, unsigned port, struct sockaddr_storage *ss) {
        memset(ss, 0, sizeof(*ss));
        if (strchr(address, ':')) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                ck_assert_int_eq(inet_pton(AF_INET6, address, &in6->sin6_addr), 1);
                return sizeof(*in6);
        }
        struct sockaddr_in *in = (struct sockaddr_in *) ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t) port);
        ck_assert_int_eq(inet_pton(AF_INET, address, &in->sin_addr), 1);
        return sizeof(*in);
}

int test_tcp_connect(const char *address, unsigned port, int timeout_ms) {
        struct sockaddr_storage ss;
        socklen_t len = test_make_sockaddr(address, port, &ss);
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        if (timeout_ms > 0) {
                struct timeval timeout = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
                ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)), 0);
        }
        if (connect(fd, (struct sockaddr *) &ss, len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

void test_assert_nobody_listens(const char *address, unsigned port, int timeout_ms) {
        int fd = test_tcp_connect(address, port, timeout_ms);
        if (fd >= 0)
                close(fd);
        ck_assert_msg(fd == -ECONNREFUSED, "connect to %s port %u: %s, expected refused", address, port,
                      fd >= 0 ? "connected" : strerror(-fd));
}

unsigned test_sockaddr_port(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) ss)->sin_port);
        if (ss->ss_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
        return 0;
}

unsigned test_fd_port(int fd) {
        struct sockaddr_storage ss = {};
        socklen_t len = sizeof(ss);

        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &ss, &len), 0);
        return test_sockaddr_port(&ss);
}

int test_sockopt_int(int fd, int level, int name) {
        socklen_t len = sizeof(int);
        int v = -1;

        ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
        ck_assert_uint_eq(len, sizeof(int));
        return v;
}

int test_raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* ---- raw protocol clients (bad input, load, faults; issue 7) -------------------------- */

int test_raw_send_fds(int fd, const void *buf, size_t len, const int *fds, unsigned n_fds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (n_fds > 253)
                return -EINVAL;
        if (n_fds > 0) {
                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

int test_raw_reply(int fd, int timeout_ms, int *ret_status, unsigned *ret_serial, char *msg, size_t msglen) {
        static ProtoRecv rcv; /* 64 KiB: not on the stack */
        long long deadline = now_ms() + timeout_ms;
        int parts = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - now_ms();
                const char *text = NULL;
                ProtoView v;
                ssize_t n;
                int r;

                r = poll(&p, 1, left > 0 ? (int) left : 0);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0) {
                        if (left <= 0)
                                return -ETIMEDOUT;
                        continue;
                }
                n = proto_recv(fd, &rcv);
                if (n == -EAGAIN)
                        continue;
                proto_recv_clear(&rcv);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET;
                if (proto_parse(rcv.buf, (size_t) n, &v) < 0)
                        return -EBADMSG;
                parts++;
                if (v.header.flags & PROTO_FLAG_MORE)
                        continue;
                if (ret_status)
                        *ret_status = v.header.status;
                if (ret_serial)
                        *ret_serial = v.header.serial;
                if (msg && msglen) {
                        (void) proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text);
                        snprintf(msg, msglen, "%s", text ? text : "");
                }
                return parts;
        }
}

int test_max_fd(pid_t pid) {
        char path[64];
        struct dirent *de;
        int max = -1;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && atoi(de->d_name) > max)
                        max = atoi(de->d_name);
        closedir(d);
        return max;
}

void test_rm_rf(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                (void) unlink(path);
                return;
        }
        d = opendir(path);
        if (d) {
                while ((de = readdir(d))) {
                        char sub[PATH_MAX];

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int) sizeof(sub))
                                test_rm_rf(sub);
                }
                closedir(d);
        }
        (void) rmdir(path);
}
