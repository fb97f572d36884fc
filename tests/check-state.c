/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of persistent and drop-in overrides (daemon/state.c): the real netutild,
 * stopped (SIGTERM or SIGKILL) and started again on the same state directory, asked by the
 * real netutilctl or by libnetutil. Covers rules without expiry and scopes (with their
 * owners) coming back after a restart, strings that would break a naive line format, rules
 * with a TTL not coming back, kill -9 right after acknowledged changes (nothing
 * acknowledged is lost), corrupt or unknown-version state files moved aside, a full state
 * filesystem (the change refused with ENOSPC, memory and file unchanged), and the
 * read-only drop-ins of overrides.d: applied, refused to every change with their FILE:LINE,
 * reloaded on SIGHUP, a bad line skipped with the rest loaded.
 *
 * Each test has its own directory /tmp/netutild-state.XXXXXX with state/ (the daemon's
 * --state-dir, made by the daemon), conf/netutild.conf, conf/overrides.d/ and log (the
 * daemon's stderr). Every test checks the daemon's fd count back at its baseline and stops
 * the daemon by pid. The tests run as root; unprivileged clients go through setpriv.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The NULL-terminated argument list of a command line. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* setpriv(1) arguments for unprivileged clients: 65534 is nobody, 1234 a uid without a
 * passwd entry. */
#define AS_ROOT NULL
#define AS_NOBODY ARGS("--reuid=65534", "--regid=65534", "--clear-groups")
#define AS_UID_1234 ARGS("--reuid=1234", "--regid=1234", "--clear-groups")

/* How long a client gives the daemon. */
#define CALL_TIMEOUT_USEC (10ULL * 1000 * 1000)
/* Restarts in the kill -9 test: each kills the daemon at another moment. */
#define KILL_ITERATIONS 20

#define REFUSED_SCOPE(scope, owner, uid)                                                                       \
        "Permission denied by policy: scope '" scope "' belongs to uid " owner " and is not writable by uid " uid

static TestDaemon daemon_;
static int baseline_fds;
/* This test's directory and the paths in it. */
static char work[64], state_dir[128], state_file[160], conf_path[128], dropin_dir[128], log_path[128];
/* The last ctl() run's output and command line. */
static char out[65536], err[8192], last_command[1024];

__attribute__((format(printf, 3, 4))) static const char *fmt(char *buf, size_t len, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, len, format, ap);
        va_end(ap);
        return buf;
}

static const char *setpriv_bin(void) {
        static const char *const candidates[] = { "/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return "/usr/bin/setpriv";
}

/* ---- files --------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        close(fd);
}

static void write_dropin(const char *name, const char *text) {
        char path[256];

        write_text(fmt(path, sizeof(path), "%s/%s", dropin_dir, name), text, strlen(text));
}

/* The whole file in buf (NUL-terminated); returns its length or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n, used = 0;

        if (fd < 0)
                return -errno;
        while ((size_t) used + 1 < len && (n = read(fd, buf + used, len - 1 - (size_t) used)) > 0)
                used += n;
        buf[used] = '\0';
        close(fd);
        return used;
}

/* Entries of the state directory whose name starts with prefix; the first one's path in
 * first (may be NULL). */
static unsigned count_entries(const char *prefix, char *first, size_t len) {
        DIR *d = opendir(state_dir);
        struct dirent *de;
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        if (n == 0 && first)
                                fmt(first, len, "%s/%s", state_dir, de->d_name);
                        n++;
                }
        closedir(d);
        return n;
}

static bool log_contains(const char *needle) {
        static char text[65536];

        return read_text(log_path, text, sizeof(text)) >= 0 && strstr(text, needle);
}

static void assert_log_contains(const char *needle) {
        static char text[65536];

        (void) read_text(log_path, text, sizeof(text));
        ck_assert_msg(strstr(text, needle), "the daemon's log lacks '%s'; it is:\n%s", needle, text);
}

/* ---- fixture ------------------------------------------------------------------------- */

static void setup(void) {
        char conf_dir[128];

        /* Nothing of ours (Check's message file, say) leaks into the daemon. */
        ck_assert_int_eq(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), 0);
        unsetenv("NETUTIL_SCOPE");
        unsetenv("NETUTILD_SOCKET");
        snprintf(work, sizeof(work), "/tmp/netutild-state.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(work));
        fmt(state_dir, sizeof(state_dir), "%s/state", work);
        fmt(state_file, sizeof(state_file), "%s/overrides", state_dir);
        fmt(conf_dir, sizeof(conf_dir), "%s/conf", work);
        fmt(conf_path, sizeof(conf_path), "%s/netutild.conf", conf_dir);
        fmt(dropin_dir, sizeof(dropin_dir), "%s/overrides.d", conf_dir);
        fmt(log_path, sizeof(log_path), "%s/log", work);
        ck_assert_int_eq(mkdir(conf_dir, 0755), 0);
        ck_assert_int_eq(mkdir(dropin_dir, 0755), 0);
        write_text(conf_path, "[Daemon]\n", 9);
}

static void teardown(void) {
        /* After a failed assertion the process exits without this; the daemon dies with it
         * (parent-death signal) and the directory stays for a look. */
        if (daemon_.pid > 0)
                test_daemon_stop_signal(&daemon_, SIGKILL);
        (void) umount2(state_dir, MNT_DETACH);
        test_rm_rf(work);
}

/* ---- the daemon ---------------------------------------------------------------------- */

static void assert_fds_at_baseline(void) {
        int n = test_wait_fd_count(daemon_.pid, baseline_fds, 3000);

        ck_assert_msg(n == baseline_fds, "daemon has %d fds open, expected its baseline %d", n, baseline_fds);
}

/* Starts netutild in user mode (under setpriv --pdeathsig) on this test's state directory,
 * with --config conf/netutild.conf (and so conf/overrides.d) if with_config, its stderr in
 * the log (emptied first); measures its fd baseline. */
static void start_daemon(bool with_config) {
        const char *argv[16] = { setpriv_bin(), "--pdeathsig", "KILL",        "@NETUTILD@", "--user",
                                 "--socket",    "@SOCKET@",    "--state-dir", state_dir };
        size_t n = 9;
        int logfd, saved, r, prev = -1;

        if (with_config) {
                argv[n++] = "--config";
                argv[n++] = conf_path;
        }
        argv[n] = NULL;
        logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        ck_assert_int_ge(logfd, 0);
        saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(logfd, 2), 2);
        r = test_daemon_start_argv(&daemon_, argv, true);
        dup2(saved, 2);
        close(saved);
        close(logfd);
        ck_assert_msg(r == 0, "the daemon did not start: %s", strerror(-r));

        /* sd_notify() opens a socket for a moment after READY=1: wait until the count holds
         * still. */
        for (int i = 0; i < 100; i++) {
                baseline_fds = test_count_fds(daemon_.pid);
                if (baseline_fds == prev)
                        break;
                prev = baseline_fds;
                usleep(20000);
        }
        ck_assert_int_gt(baseline_fds, 0);
        /* The directory is 0700 (mkdtemp): let other users reach the socket (0666). */
        ck_assert_int_eq(chmod(daemon_.dir, 0755), 0);
}

static void stop_daemon(void) {
        int status = test_daemon_stop(&daemon_);

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon wait status 0x%x", status);
}

static netutil_client *open_client(void) {
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        return c;
}

static unsigned daemon_override_count(void) {
        netutil_client *c = open_client();
        netutil_status *s = NULL;
        unsigned n;

        ck_assert_int_eq(netutil_status_get(c, CALL_TIMEOUT_USEC, &s), 0);
        n = s->overrides;
        netutil_status_free(s);
        netutil_client_close(c);
        return n;
}

/* Sends SIGHUP and waits for the READY=1 that ends the reload. */
static void reload_daemon(void) {
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 10000, NULL, 0), 0);
}

/* ---- running netutilctl -------------------------------------------------------------- */

/* netutilctl as root (priv NULL) or through setpriv with priv; output in out and err. */
static int ctl_full(const char *const *priv, bool json, const char *const *args) {
        const char *argv[64];
        size_t n = 0, used = 0;

        if (priv) {
                argv[n++] = setpriv_bin();
                for (size_t i = 0; priv[i]; i++)
                        argv[n++] = priv[i];
        }
        argv[n++] = test_netutilctl_bin();
        argv[n++] = "--socket";
        argv[n++] = daemon_.socket;
        if (json)
                argv[n++] = "--json";
        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n + 1, ELEMENTSOF(argv));
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        last_command[0] = '\0';
        for (size_t i = 0; argv[i] && used < sizeof(last_command); i++)
                used += (size_t) snprintf(last_command + used, sizeof(last_command) - used, "%s%s", i ? " " : "",
                                          argv[i] == daemon_.socket ? "SOCKET" : argv[i]);
        return test_run(argv, out, sizeof(out), err, sizeof(err));
}

static int ctl(const char *const *priv, const char *const *args) {
        return ctl_full(priv, false, args);
}

/* Asserts the last ctl()'s exit status and exact outputs. */
static void expect_run(int status, int want_status, const char *want_out, const char *want_err) {
        ck_assert_msg(status == want_status, "%s: exit status %d, expected %d; stdout '%s', stderr '%s'",
                      last_command, status, want_status, out, err);
        ck_assert_msg(strcmp(out, want_out) == 0, "%s: stdout '%s', expected '%s'", last_command, out, want_out);
        ck_assert_msg(strcmp(err, want_err) == 0, "%s: stderr '%s', expected '%s'", last_command, err, want_err);
}

static void expect_ok(const char *const *priv, const char *const *args, const char *want_out) {
        expect_run(ctl(priv, args), 0, want_out, "");
}

/* Fails (exit 1) with "netutilctl: MESSAGE" on stderr, and with --json also the error
 * object of CLI.md on stdout. */
static void expect_fail(const char *const *priv, const char *const *args, int error, const char *message) {
        char want_err[1024], want_json[2048];
        const char *name = strerrorname_np(error);

        ck_assert_ptr_nonnull(name);
        fmt(want_err, sizeof(want_err), "netutilctl: %s\n", message);
        fmt(want_json, sizeof(want_json), "{\"error\": {\"errno\": %d, \"name\": \"%s\", \"message\": \"%s\"}}\n",
            error, name, message);
        expect_run(ctl(priv, args), 1, "", want_err);
        expect_run(ctl_full(priv, true, args), 1, want_json, want_err);
}

/* The "read-only" refusal for host from the drop-in NAME at line. */
static const char *read_only_message(char *buf, size_t len, const char *host, const char *name, unsigned line) {
        return fmt(buf, len, "The override for '%s' comes from %s/%s:%u and is read-only", host, dropin_dir, name,
                   line);
}

/* `override list` gives want, in which "{FILE:LINE}" stands for the marker of a drop-in
 * rule: " (read-only, DROPIN_DIR/FILE:LINE)". */
static void expect_list(const char *const *args, const char *want) {
        char expanded[4096];
        size_t n = 0;

        for (const char *p = want; *p; p++) {
                const char *end = *p == '{' ? strchr(p, '}') : NULL;
                int k = end ? snprintf(expanded + n, sizeof(expanded) - n, " (read-only, %s/%.*s)", dropin_dir,
                                       (int) (end - p - 1), p + 1)
                            : snprintf(expanded + n, sizeof(expanded) - n, "%c", *p);

                ck_assert(k > 0 && (size_t) k < sizeof(expanded) - n);
                n += (size_t) k;
                if (end)
                        p = end;
        }
        expect_ok(AS_ROOT, args, expanded);
}

/* ---- 1. restart ---------------------------------------------------------------------- */

/* A host and a scope name that a line format splitting at spaces, '=', '#' or newlines, or
 * trusting '%', would get wrong. */
/* Anything the state file must escape that is still text (names are text: no control
 * characters, issue 13). */
static const char weird_host[] = "we ird=host %20#x \xc3\xa9\xe2\x9c\x93";
static const char weird_scope[] = "my scope=1 %25 #";

START_TEST(test_rules_without_expiry_and_scope_owners_survive_a_restart) {
        netutil_client *c;
        netutil_override *o = NULL;
        netutil_address *a = NULL;
        char text[4096];
        struct stat st;
        int n;

        ck_assert_int_eq(lstat(state_dir, &st), -1);
        start_daemon(false);
        /* The daemon made its state directory, private. */
        ck_assert_int_eq(lstat(state_dir, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0700);

        expect_ok(AS_ROOT, ARGS("override", "set", "g.test", "127.0.0.5"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "8080", "g.test", "127.0.0.6"), "");
        expect_ok(AS_ROOT,
                  ARGS("override", "set", "--port", "80", "--family", "ipv6", "--to-port", "8081", "g.test", "::1"),
                  "");
        c = open_client();
        ck_assert_int_eq(netutil_override_set(c, NULL, weird_host, -1, -1, "127.0.0.7", -1, 0, CALL_TIMEOUT_USEC), 0);
        ck_assert_int_eq(
                netutil_override_set(c, weird_scope, "s.test", 443, AF_UNSPEC, "127.0.0.8", 8443, 0, CALL_TIMEOUT_USEC),
                0);
        netutil_client_close(c);
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "n.test", "127.0.0.9"), "");
        /* Changes that leave nothing behind. */
        expect_ok(AS_ROOT, ARGS("override", "set", "d.test", "127.0.0.14"), "");
        expect_ok(AS_ROOT, ARGS("override", "del", "d.test"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "gone", "x.test", "127.0.0.15"), "");
        expect_ok(AS_NOBODY, ARGS("override", "clear", "--scope", "gone"), "");
        /* The file is private too, and starts with its version. */
        ck_assert_int_eq(lstat(state_file, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_gt(read_text(state_file, text, sizeof(text)), 0);
        ck_assert_msg(strncmp(text, "netutild-overrides 1\n", 21) == 0, "state file: %s", text);
        ck_assert_uint_eq(count_entries(".overrides.", NULL, 0), 0);
        assert_fds_at_baseline();
        stop_daemon();

        start_daemon(false);
        ck_assert_uint_eq(daemon_override_count(), 6);
        c = open_client();
        n = netutil_override_list(c, NULL, CALL_TIMEOUT_USEC, &o);
        ck_assert_int_eq(n, 4);
        /* Oldest first, as before the restart. */
        ck_assert_str_eq(o[0].host, "g.test");
        ck_assert_int_eq(o[0].port, -1);
        ck_assert_str_eq(o[0].target, "127.0.0.5");
        ck_assert_int_eq(o[1].port, 80);
        ck_assert_int_eq(o[1].family, -1);
        ck_assert_str_eq(o[1].target, "127.0.0.6");
        ck_assert_int_eq(o[1].target_port, 8080);
        ck_assert_int_eq(o[2].port, 80);
        ck_assert_int_eq(o[2].family, AF_INET6);
        ck_assert_str_eq(o[2].target, "::1");
        ck_assert_int_eq(o[2].target_port, 8081);
        ck_assert_str_eq(o[3].host, weird_host);
        ck_assert_str_eq(o[3].target, "127.0.0.7");
        for (int i = 0; i < n; i++) {
                ck_assert_ptr_null(o[i].scope);
                ck_assert_int_eq(o[i].expires_in_usec, -1);
        }
        netutil_overrides_free(o, (size_t) n);
        n = netutil_override_list(c, weird_scope, CALL_TIMEOUT_USEC, &o);
        ck_assert_int_eq(n, 1);
        ck_assert_str_eq(o[0].scope, weird_scope);
        ck_assert_str_eq(o[0].host, "s.test");
        ck_assert_int_eq(o[0].port, 443);
        ck_assert_int_eq(o[0].family, AF_UNSPEC);
        ck_assert_str_eq(o[0].target, "127.0.0.8");
        ck_assert_int_eq(o[0].target_port, 8443);
        netutil_overrides_free(o, (size_t) n);
        /* They apply, too. */
        n = netutil_resolve(c, weird_host, 5, AF_INET, NULL, CALL_TIMEOUT_USEC, &a);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(ntohl(((struct sockaddr_in *) &a[0].address)->sin_addr.s_addr), 0x7f000007);
        free(a);
        netutil_client_close(c);
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "ci"), "ci n.test -> 127.0.0.9\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "gone"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "g.test", "80"), "ipv4 127.0.0.6 8080\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "g.test", "80"), "ipv6 ::1 8081\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "ci@65534", "n.test"), "ipv4 127.0.0.9 0\n");

        /* Scopes kept their owners: nobody's scope is still nobody's, root's still root's. */
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "ci", "m.test", "127.0.0.10"), EPERM,
                    REFUSED_SCOPE("ci", "65534", "1234"));
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", weird_scope, "m.test", "127.0.0.10"), EPERM,
                    REFUSED_SCOPE("my scope=1 %25 #", "0", "65534"));
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "m.test", "127.0.0.10"), "");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "ci"),
                  "ci n.test -> 127.0.0.9\nci m.test -> 127.0.0.10\n");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

START_TEST(test_rules_with_a_ttl_are_not_restored) {
        char text[4096];

        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "set", "--ttl", "300", "ttl.test", "127.0.0.10"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "--ttl", "300", "ttl.test", "127.0.0.11"), "");
        /* Nothing to save so far: no file was written. */
        ck_assert_int_eq(read_text(state_file, text, sizeof(text)), -ENOENT);
        /* A saved rule replaced by one with a TTL leaves the file. */
        expect_ok(AS_ROOT, ARGS("override", "set", "r.test", "127.0.0.12"), "");
        ck_assert_int_gt(read_text(state_file, text, sizeof(text)), 0);
        ck_assert_ptr_nonnull(strstr(text, "rule r.test * * 127.0.0.12 * 0\n"));
        expect_ok(AS_ROOT, ARGS("override", "set", "--ttl", "300", "r.test", "127.0.0.13"), "");
        ck_assert_int_gt(read_text(state_file, text, sizeof(text)), 0);
        ck_assert_msg(!strstr(text, "r.test") && !strstr(text, "ttl.test"), "state file: %s", text);
        ck_assert_uint_eq(daemon_override_count(), 3);
        assert_fds_at_baseline();
        stop_daemon();

        start_daemon(false);
        ck_assert_uint_eq(daemon_override_count(), 0);
        expect_ok(AS_ROOT, ARGS("override", "list"), "");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "ci"), "");
        /* The scope went with its rules: another uid may make it. */
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "ci", "a.test", "127.0.0.1"), "");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* The state file's format is documented in daemon/state.c: one written by hand loads. */
START_TEST(test_state_file_in_the_documented_format_loads) {
        static const char file[] = "netutild-overrides 1\n"
                                   "# hand-written\n"
                                   "global\n"
                                   "rule a%20b.test * * 127.0.0.5 * 0\n"
                                   "rule c.test 80 ipv4 127.0.0.6 8080 1234\n"
                                   "scope my%20scope 65534\n"
                                   "rule d.test 443 any 127.0.0.7 8443 65534\n"
                                   "end 3\n";

        ck_assert_int_eq(mkdir(state_dir, 0700), 0);
        write_text(state_file, file, strlen(file));
        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "list"),
                  "global a b.test -> 127.0.0.5\nglobal c.test port 80 ipv4 -> 127.0.0.6 port 8080\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "my scope"),
                  "my scope d.test port 443 any -> 127.0.0.7 port 8443\n");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "my scope", "e.test", "127.0.0.8"), "");
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "my scope", "e.test", "127.0.0.8"), EPERM,
                    REFUSED_SCOPE("my scope", "65534", "1234"));
        assert_log_contains("Loaded 3 saved overrides");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* ---- 2. kill -9 ---------------------------------------------------------------------- */

/* The writer's operations, in order: set rule 3k, set 3k+1, set 3k+2, delete 3k+2, ... */
static unsigned op_rule(uint32_t op) {
        return 3 * (op / 4) + MIN(op % 4, 2u);
}

static bool op_is_del(uint32_t op) {
        return op % 4 == 3;
}

/* In a child: performs the operations on rules "PREFIX-N.test" one after another, each
 * waiting for its acknowledgement, and writes each acknowledged operation's number to fd.
 * Exits when a request fails: the daemon is gone. */
static _Noreturn void writer(const char *prefix, int fd) {
        netutil_client *c = NULL;

        if (netutil_client_open(daemon_.socket, &c) < 0)
                _exit(1);
        for (uint32_t op = 0;; op++) {
                char host[64];
                int r;

                fmt(host, sizeof(host), "%s-%u.test", prefix, op_rule(op));
                r = op_is_del(op) ? netutil_override_del(c, NULL, host, -1, -1, CALL_TIMEOUT_USEC)
                                  : netutil_override_set(c, NULL, host, -1, -1, "127.0.0.1", -1, 0, CALL_TIMEOUT_USEC);
                if (r < 0)
                        _exit(0);
                if (write(fd, &op, sizeof(op)) != sizeof(op))
                        _exit(1);
        }
}

/* Reads one acknowledged operation number; false at EOF. */
static bool read_ack(int fd, uint32_t *op) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        ck_assert_msg(poll(&p, 1, 10000) == 1, "the writer sent nothing for 10 s");
        return read(fd, op, sizeof(*op)) == sizeof(*op);
}

/* What iteration i left: acks operations acknowledged (0 .. acks-1). */
typedef struct Round {
        char prefix[16];
        uint32_t acks;
} Round;

/* Every rule whose last acknowledged operation is a set is there; every one deleted with
 * an acknowledgement is not. The rule of the operation in flight at the kill may be either. */
static void check_rounds(const Round *rounds, int n) {
        netutil_client *c = open_client();
        netutil_override *o = NULL;
        int k = netutil_override_list(c, NULL, CALL_TIMEOUT_USEC, &o);

        ck_assert_int_ge(k, 0);
        for (int i = 0; i < n; i++) {
                const Round *r = &rounds[i];
                unsigned uncertain = op_rule(r->acks);

                for (uint32_t op = 0; op < r->acks; op++) {
                        char host[64];
                        bool deleted, found = false;

                        if (op_is_del(op) || op_rule(op) == uncertain)
                                continue;
                        deleted = op % 4 == 2 && op + 1 < r->acks;
                        fmt(host, sizeof(host), "%s-%u.test", r->prefix, op_rule(op));
                        for (int j = 0; j < k && !found; j++)
                                found = strcmp(o[j].host, host) == 0;
                        ck_assert_msg(found != deleted, "round %d: %s is %s after kill -9 (%u operations acknowledged)",
                                      i, host, found ? "there although its deletion was acknowledged" : "missing",
                                      r->acks);
                }
        }
        netutil_overrides_free(o, (size_t) k);
        netutil_client_close(c);
}

START_TEST(test_acknowledged_changes_survive_kill_9_at_any_moment) {
        Round rounds[KILL_ITERATIONS] = {};

        for (int i = 0; i < KILL_ITERATIONS; i++) {
                Round *r = &rounds[i];
                uint32_t op;
                pid_t pid;
                int p[2], status;

                start_daemon(false);
                check_rounds(rounds, i);
                /* A killed daemon's temporary file is cleaned up at start. */
                ck_assert_uint_eq(count_entries(".overrides.", NULL, 0), 0);

                snprintf(r->prefix, sizeof(r->prefix), "k%d", i);
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        close(p[0]);
                        writer(r->prefix, p[1]);
                }
                close(p[1]);
                /* Kill after 1 to 7 acknowledgements, at once or up to 1.5 ms later while
                 * the writer goes on: anywhere in a save. */
                for (uint32_t want = 1 + (uint32_t) i % 7; r->acks < want;) {
                        ck_assert(read_ack(p[0], &op));
                        ck_assert_uint_eq(op, r->acks);
                        r->acks++;
                }
                if (i % 4 != 0)
                        usleep((useconds_t) (i * 97 % 1500));
                ck_assert_int_eq(kill(daemon_.pid, SIGKILL), 0);
                test_daemon_stop_signal(&daemon_, SIGKILL);
                /* Acknowledgements that were on their way count too. */
                while (read_ack(p[0], &op)) {
                        ck_assert_uint_eq(op, r->acks);
                        r->acks++;
                }
                close(p[0]);
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer wait status 0x%x", status);
        }

        start_daemon(false);
        check_rounds(rounds, KILL_ITERATIONS);
        ck_assert_uint_eq(count_entries(".overrides.", NULL, 0), 0);
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* ---- 3. corrupt files ---------------------------------------------------------------- */

static const struct {
        const char *text;
        const char *why; /* in the log */
} corrupt_files[] = {
        { "garbage\n", "(line 1: not a netutild state file)" },
        { "netutild-overrides 2\nglobal\nend 0\n", "(line 1: unknown version)" },
        { "", "(empty file)" },
        { "netutild-overrides 1\nglobal\nrule a.test * * 127.0.0.1 * 0\n", "(no end line (cut short))" },
        { "netutild-overrides 1\nglobal\nrule a.test * * 127.0.0.1 * 0\nend 1", "(line 4: last line cut short)" },
        { "netutild-overrides 1\nglobal\nrule a.test * * 127.0.0.1 * 0\nend 2\n",
          "(line 4: rule count does not match (cut or edited))" },
        { "netutild-overrides 1\nglobal\nrule a%zz * * 127.0.0.1 * 0\nend 1\n", "(line 3: bad rule line)" },
        { "netutild-overrides 1\nglobal\nrule a%00b * * 127.0.0.1 * 0\nend 1\n", "(line 3: bad rule line)" },
        { "netutild-overrides 1\nglobal\nrule a  * * 127.0.0.1 * 0\nend 1\n", "(line 3: unknown line)" },
        { "netutild-overrides 1\nrule a.test * * 127.0.0.1 * 0\nend 1\n", "(line 2: rule before any table line)" },
        { "netutild-overrides 1\nglobal\nrule a.test 80 * 127.0.0.1 * 0\nend 1\n",
          "(line 3: rule with an impossible key)" },
        { "netutild-overrides 1\nglobal\nrule b.test * * 127.0.0.1 * 0\nrule b.test * * 127.0.0.2 * 0\nend 2\n",
          "(line 4: rule listed twice)" },
        { "netutild-overrides 1\nglobal\nrule a.test * * 127.0.0.1 * 0\nend 1\nglobal\n",
          "(line 5: text after the end line)" },
        { "netutild-overrides 1\nscope s 0\nrule a.test * * 127.0.0.1 * 0\nscope s 0\nend 1\n",
          "(line 4: scope listed twice)" },
};

START_TEST(test_corrupt_state_file_is_moved_aside_and_the_daemon_starts) {
        const char *text = corrupt_files[_i].text;
        char aside[256], moved[4096], want[512];

        ck_assert_int_eq(mkdir(state_dir, 0700), 0);
        write_text(state_file, text, strlen(text));
        start_daemon(false);
        /* Nothing of a half-read file is kept. */
        ck_assert_uint_eq(daemon_override_count(), 0);
        expect_ok(AS_ROOT, ARGS("override", "list"), "");
        ck_assert_int_eq(read_text(state_file, moved, sizeof(moved)), -ENOENT);
        ck_assert_uint_eq(count_entries("overrides.corrupt-", aside, sizeof(aside)), 1);
        ck_assert_int_eq(read_text(aside, moved, sizeof(moved)), (ssize_t) strlen(text));
        ck_assert_str_eq(moved, text);
        assert_log_contains(fmt(want, sizeof(want), "State file '%s' is not usable %s.", state_file,
                                corrupt_files[_i].why));
        assert_log_contains(fmt(want, sizeof(want), "Moved it to '%s'; starting without saved overrides.", aside));

        /* Saving works again, and what is saved comes back. */
        expect_ok(AS_ROOT, ARGS("override", "set", "new.test", "127.0.0.5"), "");
        assert_fds_at_baseline();
        stop_daemon();
        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "list"), "global new.test -> 127.0.0.5\n");
        ck_assert_uint_eq(count_entries("overrides.corrupt-", NULL, 0), 1);
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* ---- 4. a full disk ------------------------------------------------------------------ */

/* Fills the filesystem of the state directory with one file; returns its path. */
static const char *fill_state_fs(void) {
        static char path[192];
        static const char block[4096];
        int fd;

        fmt(path, sizeof(path), "%s/filler", state_dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        for (int i = 0; i < 1024; i++) {
                ssize_t n = write(fd, block, sizeof(block));

                if (n < 0) {
                        ck_assert_int_eq(errno, ENOSPC);
                        break;
                }
        }
        /* The last partial page too. */
        while (write(fd, block, 1) == 1)
                ;
        ck_assert_int_eq(errno, ENOSPC);
        close(fd);
        return path;
}

START_TEST(test_full_state_filesystem_refuses_the_change_and_keeps_memory_and_file) {
        static const char enospc[] = "Cannot save overrides: No space left on device";
        char before[4096], after[4096];
        const char *filler;
        ssize_t len;

        /* A 16 KiB tmpfs as the state directory, in our own mount namespace; our own
         * network namespace too, so that a name without override fails at once. */
        ck_assert_msg(unshare(CLONE_NEWNS | CLONE_NEWNET) == 0, "unshare: %s (run as root)", strerror(errno));
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mkdir(state_dir, 0700), 0);
        ck_assert_msg(mount("tmpfs", state_dir, "tmpfs", 0, "size=16k,mode=0700") == 0, "mount tmpfs: %s",
                      strerror(errno));
        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "set", "k1.test", "127.0.0.5"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "n.test", "127.0.0.6"), "");
        len = read_text(state_file, before, sizeof(before));
        ck_assert_int_gt(len, 0);
        filler = fill_state_fs();

        /* Every change to a saved rule is refused, with the reason, and did not happen. */
        expect_fail(AS_ROOT, ARGS("override", "set", "k2.test", "127.0.0.7"), ENOSPC, enospc);
        expect_fail(AS_ROOT, ARGS("override", "set", "k1.test", "127.0.0.8"), ENOSPC, enospc);
        expect_fail(AS_ROOT, ARGS("override", "set", "--ttl", "60", "k1.test", "127.0.0.8"), ENOSPC, enospc);
        expect_fail(AS_ROOT, ARGS("override", "del", "k1.test"), ENOSPC, enospc);
        expect_fail(AS_ROOT, ARGS("override", "clear"), ENOSPC, enospc);
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", "new", "s.test", "127.0.0.9"), ENOSPC, enospc);
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "ci"), ENOSPC, enospc);
        expect_ok(AS_ROOT, ARGS("override", "list"), "global k1.test -> 127.0.0.5\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "ci"), "ci n.test -> 127.0.0.6\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "new"), "");
        ck_assert_uint_eq(daemon_override_count(), 2);
        expect_ok(AS_ROOT, ARGS("resolve", "k1.test"), "ipv4 127.0.0.5 0\n");
        ck_assert_int_eq(ctl(AS_ROOT, ARGS("resolve", "k2.test")), 1);
        ck_assert_msg(!strstr(out, "127.0.0.7"), "resolve saw the refused rule: %s", out);
        /* Rules with a TTL are not saved: they still work. */
        expect_ok(AS_ROOT, ARGS("override", "set", "--ttl", "60", "t.test", "127.0.0.10"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "t.test"), "ipv4 127.0.0.10 0\n");
        expect_ok(AS_ROOT, ARGS("override", "del", "t.test"), "");
        /* The file is the old one, and no temporary file is left. */
        ck_assert_int_eq(read_text(state_file, after, sizeof(after)), len);
        ck_assert_str_eq(after, before);
        ck_assert_uint_eq(count_entries(".overrides.", NULL, 0), 0);
        assert_log_contains("Failed to save overrides in");

        /* Room again: the same change goes through. */
        ck_assert_int_eq(unlink(filler), 0);
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "new", "s.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "k2.test", "127.0.0.7"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "k2.test"), "ipv4 127.0.0.7 0\n");
        ck_assert_int_gt(read_text(state_file, after, sizeof(after)), 0);
        ck_assert_ptr_nonnull(strstr(after, "k2.test"));
        assert_fds_at_baseline();
        stop_daemon();
        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "list"),
                  "global k1.test -> 127.0.0.5\nglobal k2.test -> 127.0.0.7\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "new"), "new s.test -> 127.0.0.9\n");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* ---- 5. drop-ins --------------------------------------------------------------------- */

START_TEST(test_dropin_rules_apply_and_are_read_only) {
        char msg[512], text[4096];

        write_dropin("10-web.conf", "# web front ends\n"
                                    "web.test 127.0.0.5\n"
                                    "web.test 443 127.0.0.6 8443   # inline comment\n"
                                    "web.test 443 ipv6 ::1 9443\n"
                                    "[scope ci]\n"
                                    "ci.test 127.0.0.7\n");
        start_daemon(true);
        expect_ok(AS_ROOT, ARGS("resolve", "web.test"), "ipv4 127.0.0.5 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test", "443"), "ipv4 127.0.0.6 8443\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "web.test", "443"), "ipv6 ::1 9443\n");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "ci", "ci.test"), "ipv4 127.0.0.7 0\n");
        /* Listed with where they come from, which says they are read-only. */
        expect_list(ARGS("override", "list"),
                    "global web.test -> 127.0.0.5{10-web.conf:2}\n"
                    "global web.test port 443 -> 127.0.0.6 port 8443{10-web.conf:3}\n"
                    "global web.test port 443 ipv6 -> ::1 port 9443{10-web.conf:4}\n");
        expect_list(ARGS("override", "list", "--scope", "ci"), "ci ci.test -> 127.0.0.7{10-web.conf:6}\n");
        fmt(text, sizeof(text),
            "{\"overrides\": [{\"scope\": \"ci\", \"host\": \"ci.test\", \"port\": null, \"family\": null, "
            "\"target\": \"127.0.0.7\", \"target_port\": null, \"expires_in\": null, \"source\": "
            "\"%s/10-web.conf:6\"}]}\n",
            dropin_dir);
        expect_run(ctl_full(AS_ROOT, true, ARGS("override", "list", "--scope", "ci")), 0, text, "");

        /* Read-only, even for root: each refusal names the file and line. */
        expect_fail(AS_ROOT, ARGS("override", "set", "web.test", "127.0.0.9"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 2));
        expect_fail(AS_ROOT, ARGS("override", "set", "--ttl", "5", "web.test", "127.0.0.9"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 2));
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "443", "web.test"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 3));
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "443", "--family", "ipv6", "web.test"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 4));
        expect_fail(AS_ROOT, ARGS("override", "clear"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 2));
        expect_fail(AS_ROOT, ARGS("override", "clear", "--scope", "ci"), EPERM,
                    read_only_message(msg, sizeof(msg), "ci.test", "10-web.conf", 6));
        /* A drop-in scope is root's: the policy refuses others first. */
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "x.test", "127.0.0.9"), EPERM,
                    REFUSED_SCOPE("ci", "0", "65534"));
        ck_assert_uint_eq(daemon_override_count(), 4);

        /* Other keys are free, and saved; drop-in rules never are. */
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "8080", "web.test", "127.0.0.8"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "ci", "root.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test", "80"), "ipv4 127.0.0.8 8080\n");
        ck_assert_int_gt(read_text(state_file, text, sizeof(text)), 0);
        ck_assert_msg(strstr(text, "rule web.test 80 * 127.0.0.8 8080 0\n") && strstr(text, "root.test") &&
                              !strstr(text, "127.0.0.5") && !strstr(text, "127.0.0.6") && !strstr(text, "ci.test"),
                      "state file: %s", text);
        assert_fds_at_baseline();
        stop_daemon();

        /* Both kinds come back, the drop-ins still read-only. */
        start_daemon(true);
        expect_list(ARGS("override", "list"),
                    "global web.test port 80 -> 127.0.0.8 port 8080\n"
                    "global web.test -> 127.0.0.5{10-web.conf:2}\n"
                    "global web.test port 443 -> 127.0.0.6 port 8443{10-web.conf:3}\n"
                    "global web.test port 443 ipv6 -> ::1 port 9443{10-web.conf:4}\n");
        expect_list(ARGS("override", "list", "--scope", "ci"),
                    "ci root.test -> 127.0.0.9\nci ci.test -> 127.0.0.7{10-web.conf:6}\n");
        expect_fail(AS_ROOT, ARGS("override", "del", "web.test"), EPERM,
                    read_only_message(msg, sizeof(msg), "web.test", "10-web.conf", 2));
        expect_ok(AS_ROOT, ARGS("override", "del", "--port", "80", "web.test"), "");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

START_TEST(test_dropins_are_replaced_on_sighup) {
        char msg[512], text[4096], path[256];

        write_dropin("10-a.conf", "a.test 127.0.0.1\n[scope only-a]\nsa.test 127.0.0.11\n");
        write_dropin("20-b.conf", "b.test 127.0.0.2\n");
        start_daemon(true);
        expect_ok(AS_ROOT, ARGS("override", "set", "own.test", "127.0.0.4"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "c.test", "127.0.0.40"), "");
        expect_list(ARGS("override", "list"),
                    "global a.test -> 127.0.0.1{10-a.conf:1}\nglobal b.test -> 127.0.0.2{20-b.conf:1}\n"
                    "global own.test -> 127.0.0.4\nglobal c.test -> 127.0.0.40\n");
        expect_list(ARGS("override", "list", "--scope", "only-a"), "only-a sa.test -> 127.0.0.11{10-a.conf:3}\n");

        /* A removed file's rules go, a changed file's change, a new file's come; the new one
         * takes c.test over from the rule root set, which is gone for good. */
        ck_assert_int_eq(unlink(fmt(path, sizeof(path), "%s/10-a.conf", dropin_dir)), 0);
        write_dropin("20-b.conf", "# changed\nb.test 127.0.0.22\n");
        write_dropin("30-c.conf", "c.test 127.0.0.3\n");
        write_dropin("40-ignored.txt", "i.test 127.0.0.9\n");
        write_dropin(".50-hidden.conf", "h.test 127.0.0.9\n");
        reload_daemon();
        /* c.test keeps its place in the listing; b.test is new. */
        expect_list(ARGS("override", "list"),
                    "global own.test -> 127.0.0.4\nglobal c.test -> 127.0.0.3{30-c.conf:1}\n"
                    "global b.test -> 127.0.0.22{20-b.conf:2}\n");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "only-a"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "b.test"), "ipv4 127.0.0.22 0\n");
        expect_fail(AS_ROOT, ARGS("override", "set", "b.test", "127.0.0.9"), EPERM,
                    read_only_message(msg, sizeof(msg), "b.test", "20-b.conf", 2));
        expect_fail(AS_ROOT, ARGS("override", "del", "c.test"), EPERM,
                    read_only_message(msg, sizeof(msg), "c.test", "30-c.conf", 1));
        /* a.test is a plain key again. */
        expect_ok(AS_ROOT, ARGS("override", "set", "a.test", "127.0.0.10"), "");
        ck_assert_int_gt(read_text(state_file, text, sizeof(text)), 0);
        ck_assert_msg(strstr(text, "own.test") && strstr(text, "rule a.test * * 127.0.0.10") &&
                              !strstr(text, "c.test") && !strstr(text, "b.test"),
                      "state file: %s", text);
        assert_fds_at_baseline();

        /* Without its drop-in, c.test does not come back: what root set was replaced. */
        ck_assert_int_eq(unlink(fmt(path, sizeof(path), "%s/30-c.conf", dropin_dir)), 0);
        reload_daemon();
        expect_list(ARGS("override", "list"),
                    "global own.test -> 127.0.0.4\nglobal a.test -> 127.0.0.10\nglobal b.test -> 127.0.0.22{20-b.conf:2}\n");
        assert_fds_at_baseline();
        stop_daemon();
        start_daemon(true);
        expect_list(ARGS("override", "list"),
                    "global own.test -> 127.0.0.4\nglobal a.test -> 127.0.0.10\nglobal b.test -> 127.0.0.22{20-b.conf:2}\n");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

START_TEST(test_bad_dropin_lines_are_skipped_and_the_rest_loads) {
        char want[512];
        static const struct {
                unsigned line;
                const char *message;
        } bad[] = {
                { 2, "expected HOST TARGET, HOST PORT TARGET TARGET_PORT or HOST PORT FAMILY TARGET TARGET_PORT, "
                     "ignoring the line." },
                { 3, "bad port (0-65535), ignoring the line." },
                { 4, "bad family (ipv4, ipv6 or any), ignoring the line." },
                { 5, "bad target port (0-65535), ignoring the line." },
                { 6, "expected HOST TARGET, HOST PORT TARGET TARGET_PORT or HOST PORT FAMILY TARGET TARGET_PORT, "
                     "ignoring the line." },
                { 8, "a scope name has 1 to 127 bytes, ignoring the section and its rules." },
                { 10, "unknown section [foo] (expected [scope NAME] or [global]), ignoring it and its rules." },
                { 12, "bad section header, ignoring it and its rules." },
        };

        write_dropin("10-mixed.conf", "good1.test 127.0.0.1\n"           /* 1 */
                                      "lonely.test\n"                    /* 2 */
                                      "x.test 99999 127.0.0.1 80\n"      /* 3 */
                                      "x.test 80 ipv5 127.0.0.1 80\n"    /* 4 */
                                      "x.test 80 127.0.0.1 -1\n"         /* 5 */
                                      "x.test 1 2 3 4 5\n"               /* 6 */
                                      "good2.test 80 127.0.0.2 81\n"     /* 7 */
                                      "[scope ]\n"                       /* 8 */
                                      "skipped1.test 127.0.0.9\n"        /* 9 */
                                      "[foo]\n"                          /* 10 */
                                      "skipped2.test 127.0.0.9\n"        /* 11 */
                                      "[scope s\n"                       /* 12 */
                                      "skipped3.test 127.0.0.9\n"        /* 13 */
                                      "[global]\n"                       /* 14 */
                                      "good3.test 80 any 127.0.0.3 82\n" /* 15 */
                                      "[scope s]\n"                      /* 16 */
                                      "good4.test 127.0.0.4");           /* 17, no newline */
        /* A later file's rule with the same key wins. */
        write_dropin("20-next.conf", "good5.test 127.0.0.5\ngood1.test 127.0.0.51\n");
        start_daemon(true);
        expect_list(ARGS("override", "list"),
                    "global good1.test -> 127.0.0.51{20-next.conf:2}\n"
                    "global good2.test port 80 -> 127.0.0.2 port 81{10-mixed.conf:7}\n"
                    "global good3.test port 80 any -> 127.0.0.3 port 82{10-mixed.conf:15}\n"
                    "global good5.test -> 127.0.0.5{20-next.conf:1}\n");
        expect_list(ARGS("override", "list", "--scope", "s"), "s good4.test -> 127.0.0.4{10-mixed.conf:17}\n");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_log_contains(
                        fmt(want, sizeof(want), "%s/10-mixed.conf:%u: %s", dropin_dir, bad[i].line, bad[i].message));
        ck_assert(!log_contains(":1: ") && !log_contains(":7: ") && !log_contains(":9: ") &&
                  !log_contains(":17: "));
        assert_log_contains("Loaded 5 read-only overrides from");
        expect_fail(AS_ROOT, ARGS("override", "del", "good1.test"), EPERM,
                    read_only_message(want, sizeof(want), "good1.test", "20-next.conf", 2));
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

/* Without --config in user mode there is no configuration directory, so no drop-ins. */
START_TEST(test_no_dropins_in_user_mode_without_config) {
        write_dropin("10-a.conf", "a.test 127.0.0.1\n");
        start_daemon(false);
        expect_ok(AS_ROOT, ARGS("override", "list"), "");
        assert_fds_at_baseline();
        stop_daemon();
}
END_TEST

static Suite *state_suite(void) {
        Suite *s = suite_create("state");
        TCase *tc;

        tc = tcase_create("restart");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_rules_without_expiry_and_scope_owners_survive_a_restart);
        tcase_add_test(tc, test_rules_with_a_ttl_are_not_restored);
        tcase_add_test(tc, test_state_file_in_the_documented_format_loads);
        suite_add_tcase(s, tc);

        tc = tcase_create("kill");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_acknowledged_changes_survive_kill_9_at_any_moment);
        suite_add_tcase(s, tc);

        tc = tcase_create("corrupt");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, test_corrupt_state_file_is_moved_aside_and_the_daemon_starts, 0,
                            (int) ELEMENTSOF(corrupt_files));
        suite_add_tcase(s, tc);

        tc = tcase_create("full");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_full_state_filesystem_refuses_the_change_and_keeps_memory_and_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("dropins");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_dropin_rules_apply_and_are_read_only);
        tcase_add_test(tc, test_dropins_are_replaced_on_sighup);
        tcase_add_test(tc, test_bad_dropin_lines_are_skipped_and_the_rest_loads);
        tcase_add_test(tc, test_no_dropins_in_user_mode_without_config);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "check-state needs root (mount namespaces, tmpfs, setpriv); skipped.\n");
                return 77;
        }
        sr = srunner_create(state_suite());
        /* Tests unshare() namespaces and redirect stderr: one process each. */
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
