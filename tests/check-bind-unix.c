/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of BIND_UNIX (daemon/bind-unix.c, DESIGN.md §4, reference §2) through
 * the real daemon, as uid/gid 65534 (nobody) unless a test says otherwise: the node's
 * owner and mode from the moment it appears, replacing only sockets, refusing symlinks
 * below the allowed directory, the policy's directories, path validation, abstract
 * names, held unix sockets (the quota checked before a node is made), the asynchronous
 * call, and no staging leftovers. Every test starts its own daemon
 * with a fresh allowed directory and counts the daemon's fds before and after.
 *
 * Clients run as nobody either through netutilctl under setpriv, or in a forked child
 * that drops to 65534 and calls libnetutil. Run with "--probe PATH", this program is the
 * COMMAND of "netutilctl bind-unix PATH -- COMMAND" and checks the socket it got as fd 3.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netutil.h"
#include "testlib.h"

#define NOBODY 65534
/* Library calls in children: far below the tcase timeout, far above a loaded machine's
 * answer time. */
#define CALL_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)

static TestDaemon daemon_;
static int baseline_fds;
static char dir_[64];            /* the test's allowed directory, 0755, root's */
static char probe_bin[PATH_MAX]; /* this program, for the exec form */
/* An unlinked file, opened by main() with O_APPEND, listing what each test created in /tmp:
 * a failed test ends before finish() and main() removes its leftovers at the end. */
static int cleanup_fd = -EBADF;

static void register_cleanup(const char *path) {
        ck_assert_int_gt(dprintf(cleanup_fd, "%s\n", path), 0);
}

/* ---- files and directories ----------------------------------------------------------- */

static void make_dir(char *buf, size_t len) {
        snprintf(buf, len, "/tmp/netutild-unix.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(buf));
        register_cleanup(buf);
        ck_assert_int_eq(chmod(buf, 0755), 0);
}

/* Removes name below dfd without following a symlink anywhere: the tests plant symlinks
 * to /etc and to /tmp, and a recursive removal that followed them would be a disaster. */
static void rm_rf_at(int dfd, const char *name) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *de;

        if (fd < 0) {
                (void) unlinkat(dfd, name, 0);
                return;
        }
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        rm_rf_at(dirfd(d), de->d_name);
        closedir(d);
        (void) unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Entries named ".#netutild-*" (the daemon's staging names) below path, symlinks not
 * followed. */
static int count_staging(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), n = 0;
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                char sub[PATH_MAX];

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (strncmp(de->d_name, ".#netutild-", 11) == 0)
                        n++;
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                n += count_staging(sub);
        }
        closedir(d);
        return n;
}

static void assert_node(const char *path, uid_t uid, gid_t gid, mode_t mode) {
        struct stat st;

        ck_assert_msg(lstat(path, &st) == 0, "lstat(%s): %m", path);
        ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket (mode %o)", path, (unsigned) st.st_mode);
        ck_assert_msg(st.st_uid == uid && st.st_gid == gid, "%s is owned by %u:%u, want %u:%u", path,
                      (unsigned) st.st_uid, (unsigned) st.st_gid, (unsigned) uid, (unsigned) gid);
        ck_assert_msg((st.st_mode & 07777) == mode, "%s has mode %04o, want %04o", path,
                      (unsigned) (st.st_mode & 07777), (unsigned) mode);
}

static void assert_absent(const char *path) {
        struct stat st;

        ck_assert_msg(lstat(path, &st) < 0 && errno == ENOENT, "%s exists", path);
}

/* What must not change about a node the daemon refused to touch. */
typedef struct Snapshot {
        struct stat st;
        char content[256]; /* a regular file's bytes or a symlink's target */
} Snapshot;

static void snapshot(const char *path, Snapshot *s) {
        memset(s, 0, sizeof(*s));
        ck_assert_msg(lstat(path, &s->st) == 0, "lstat(%s): %m", path);
        if (S_ISLNK(s->st.st_mode))
                ck_assert_int_gt(readlink(path, s->content, sizeof(s->content) - 1), 0);
        else if (S_ISREG(s->st.st_mode)) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_ge(read(fd, s->content, sizeof(s->content) - 1), 0);
                close(fd);
        }
}

static void assert_unchanged(const char *path, const Snapshot *before) {
        Snapshot now;

        snapshot(path, &now);
        ck_assert_msg(now.st.st_dev == before->st.st_dev && now.st.st_ino == before->st.st_ino,
                      "%s was replaced", path);
        ck_assert_msg(now.st.st_mode == before->st.st_mode, "%s mode %o -> %o", path,
                      (unsigned) before->st.st_mode, (unsigned) now.st.st_mode);
        ck_assert_msg(now.st.st_uid == before->st.st_uid && now.st.st_gid == before->st.st_gid,
                      "%s changed owner", path);
        ck_assert_msg(now.st.st_size == before->st.st_size, "%s changed size", path);
        ck_assert_msg(now.st.st_mtim.tv_sec == before->st.st_mtim.tv_sec &&
                              now.st.st_mtim.tv_nsec == before->st.st_mtim.tv_nsec,
                      "%s was modified", path);
        ck_assert_msg(now.st.st_ctim.tv_sec == before->st.st_ctim.tv_sec &&
                              now.st.st_ctim.tv_nsec == before->st.st_ctim.tv_nsec,
                      "%s had its inode changed (chmod/chown)", path);
        ck_assert_str_eq(now.content, before->content);
}

/* A listening socket made by the test itself, at path (root's, umask mode). */
static int listen_at(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 8), 0);
        return fd;
}

/* Connects a stream socket to path (len bytes; a leading NUL is an abstract name).
 * Returns the fd or -errno. */
static int connect_unix(const char *path, size_t len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_le(len, sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, len);
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* ---- the daemon ---------------------------------------------------------------------- */

/* Starts the daemon with "[Policy]\n" + rules (NULL: none) as its configuration and
 * makes its directory reachable for nobody. */
static void start_daemon(const char *rules) {
        char conf[128], text[2048];
        const char *extra[] = { "--config", conf, NULL };

        snprintf(conf, sizeof(conf), "/tmp/netutild-unix-%d.conf", (int) getpid());
        snprintf(text, sizeof(text), "[Policy]\n%s", rules ? rules : "");
        register_cleanup(conf);
        test_write_file(conf, text);
        ck_assert_int_eq(test_daemon_start(&daemon_, extra), 0);
        register_cleanup(daemon_.dir);
        unlink(conf);
        ck_assert_int_eq(chmod(daemon_.dir, 0755), 0);
        baseline_fds = test_daemon_steady_fds(&daemon_);
}

/* The usual set-up: a fresh allowed directory for nobody. */
static void start_daemon_allowing_dir(void) {
        char rules[256];

        make_dir(dir_, sizeof(dir_));
        snprintf(rules, sizeof(rules), "AllowUnix=user:nobody %s\n", dir_);
        start_daemon(rules);
}

static void assert_fds_at_baseline(void) {
        test_daemon_assert_fds(&daemon_, baseline_fds, baseline_fds);
}

/* The end of every test: no staging names left, fds back at the baseline, a clean
 * exit, the directory removed. */
static void finish(void) {
        int staging = count_staging(dir_);

        ck_assert_msg(staging == 0, "%d staging entries (.#netutild-*) left in %s", staging, dir_);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
        rm_rf_at(AT_FDCWD, dir_);
}

/* Runs netutilctl --socket DAEMON args..., as nobody (under setpriv) or as root. */
static int ctl(bool as_nobody, const char *const *args, char *out, size_t outlen, char *err, size_t errlen) {
        static const char *const nobody[] = { "--reuid=65534", "--regid=65534", "--clear-groups", NULL };

        return test_ctl(daemon_.socket, as_nobody ? nobody : NULL, args, out, outlen, err, errlen);
}

#define NOBODY_CTL(out, err, ...)                                                                            \
        ctl(true, (const char *[]){ __VA_ARGS__, NULL }, out, sizeof(out), err, sizeof(err))
#define ROOT_CTL(out, err, ...)                                                                              \
        ctl(false, (const char *[]){ __VA_ARGS__, NULL }, out, sizeof(out), err, sizeof(err))

/* Runs fn in a child with uid and gid 65534 and no supplementary groups. ck_assert works
 * in it: a failure there is reported and fails the test. */
static void as_nobody(void (*fn)(void *userdata), void *userdata) {
        pid_t pid = fork();
        int status = 0;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(99);
                fn(userdata);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child running as nobody failed (0x%x)", status);
}

/* In a child: asks the daemon for a unix socket; returns the result of netutil_bind_unix()
 * and the socket in *ret (1 element) on success, and the daemon's message in msg. */
static int child_bind(const netutil_bind_unix_options *o, netutil_socket **ret, char *msg, size_t msglen) {
        netutil_client *c = NULL;
        const char *m;
        int r;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        r = netutil_bind_unix(c, o, CALL_TIMEOUT_USEC, ret);
        m = netutil_client_error_message(c);
        if (msg)
                snprintf(msg, msglen, "%s", m ? m : "");
        netutil_client_close(c);
        return r;
}

static int child_bind_path(const char *path, netutil_socket **ret) {
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;

        o.path = path;
        return child_bind(&o, ret, NULL, 0);
}

/* nobody asks for path and the policy says no: exit 1, the exact message, nothing on
 * stdout. allowed: the directory the refusal lists, or NULL when no rule is nobody's. */
static void assert_policy_refusal(const char *path, const char *allowed) {
        char out[1024], err[1024], want[512], tail[160] = "";

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 1);
        if (allowed)
                snprintf(tail, sizeof(tail), " (allowed: below %s)", allowed);
        snprintf(want, sizeof(want),
                 "netutilctl: Permission denied by policy: the directory of '%s' is not allowed "
                 "for uid 65534%s\n",
                 path, tail);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(out, "");
}

/* ---- create -------------------------------------------------------------------------- */

static void child_listening_and_reachable(void *userdata) {
        const char *path = userdata;
        netutil_socket *s = NULL;
        const struct sockaddr_un *un;
        struct sockaddr_un bound = { 0 };
        socklen_t bound_len = sizeof(bound);
        struct ucred cred = { 0 };
        socklen_t cred_len = sizeof(cred);
        int c, a;

        ck_assert_int_eq(child_bind_path(path, &s), 1);
        ck_assert_int_eq(s[0].family, AF_UNIX);
        ck_assert_int_eq(s[0].type, SOCK_STREAM);
        un = (const struct sockaddr_un *) &s[0].address;
        ck_assert_uint_eq(s[0].address_len, offsetof(struct sockaddr_un, sun_path) + strlen(path));
        ck_assert_mem_eq(un->sun_path, path, strlen(path));

        ck_assert_int_eq(test_sockopt_int(s[0].fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        ck_assert_int_eq(test_sockopt_int(s[0].fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
        ck_assert_int_eq(test_sockopt_int(s[0].fd, SOL_SOCKET, SO_DOMAIN), AF_UNIX);
        ck_assert_int_eq(test_sockopt_int(s[0].fd, SOL_SOCKET, SO_REUSEADDR), 1);
        ck_assert(fcntl(s[0].fd, F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(s[0].fd, F_GETFD) & FD_CLOEXEC);
        /* The socket was bound under the path asked for, as Tornado's: getsockname()
         * names it, byte for byte. */
        ck_assert_int_eq(getsockname(s[0].fd, (struct sockaddr *) &bound, &bound_len), 0);
        ck_assert_msg(bound_len == offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1 &&
                              strcmp(bound.sun_path, path) == 0,
                      "getsockname: %s", bound.sun_path);

        /* Nothing is waiting yet; a connect() to the path lands on this socket. */
        ck_assert_int_eq(accept4(s[0].fd, NULL, NULL, SOCK_CLOEXEC), -1);
        ck_assert_int_eq(errno, EAGAIN);
        c = connect_unix(path, strlen(path));
        ck_assert_int_ge(c, 0);
        a = accept4(s[0].fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(a, 0);
        ck_assert_int_eq(getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len), 0);
        ck_assert_uint_eq(cred.uid, NOBODY);
        ck_assert_int_eq(cred.pid, getpid());
        /* The peer sees the listener as this process (libnetutil listen()ed it again), and
         * its address as the path. */
        cred_len = sizeof(cred);
        ck_assert_int_eq(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len), 0);
        ck_assert_uint_eq(cred.uid, NOBODY);
        ck_assert_uint_eq(cred.gid, NOBODY);
        ck_assert_int_eq(cred.pid, getpid());
        bound_len = sizeof(bound);
        memset(&bound, 0, sizeof(bound));
        ck_assert_int_eq(getpeername(c, (struct sockaddr *) &bound, &bound_len), 0);
        ck_assert_str_eq(bound.sun_path, path);
        ck_assert_int_eq(write(c, "x", 1), 1);
        {
                char b = 0;
                ck_assert_int_eq(read(a, &b, 1), 1);
                ck_assert_int_eq(b, 'x');
        }
        close(a);
        close(c);
        netutil_sockets_free(s, 1);
}

START_TEST(test_nobody_gets_listening_socket_owned_0600_and_reachable) {
        char path[128];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/a.sock", dir_);
        as_nobody(child_listening_and_reachable, path);
        assert_node(path, NOBODY, NOBODY, 0600);
        finish();
}
END_TEST

static void child_connect_refused_by_mode(void *userdata) {
        const char *path = userdata;

        /* Mode 0000 on a node of our own: no write permission, no connect. */
        ck_assert_int_eq(connect_unix(path, strlen(path)), -EACCES);
}

static void child_bad_mode_refused(void *userdata) {
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_socket *s = NULL;
        char msg[512];

        o.path = userdata;
        o.mode = 01777;
        ck_assert_int_eq(child_bind(&o, &s, msg, sizeof(msg)), -EINVAL);
        ck_assert_str_eq(msg, "Invalid mode 1777: only permission bits (0777) are allowed");
        o.mode = 04600;
        ck_assert_int_eq(child_bind(&o, &s, msg, sizeof(msg)), -EINVAL);
        ck_assert_str_eq(msg, "Invalid mode 4600: only permission bits (0777) are allowed");
}

START_TEST(test_mode_is_exact_and_umask_free) {
        char out[1024], err[1024], a[128], b[128], c[128], d[128];

        start_daemon_allowing_dir();
        snprintf(a, sizeof(a), "%s/a.sock", dir_);
        snprintf(b, sizeof(b), "%s/b.sock", dir_);
        snprintf(c, sizeof(c), "%s/c.sock", dir_);
        snprintf(d, sizeof(d), "%s/d.sock", dir_);

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--mode", "0660", a), 0);
        assert_node(a, NOBODY, NOBODY, 0660);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--mode", "0", b), 0);
        assert_node(b, NOBODY, NOBODY, 0000);
        as_nobody(child_connect_refused_by_mode, b);
        /* The daemon's umask is 0077; the mode asked for wins anyway. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--mode", "777", c), 0);
        assert_node(c, NOBODY, NOBODY, 0777);

        /* Only permission bits: netutilctl says so as a usage error, the daemon as EINVAL. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--mode", "1777", d), 2);
        ck_assert_str_eq(err, "netutilctl: bind-unix: invalid --mode '1777': expected octal 0000-0777\n"
                              "Try 'netutilctl --help'.\n");
        as_nobody(child_bad_mode_refused, d);
        assert_absent(d);
        finish();
}
END_TEST

START_TEST(test_text_and_json_output_name_the_requested_path) {
        char out[1024], err[1024], path[128], want[512];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/a.sock", dir_);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");

        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", "--mode", "0640", path), 0);
        snprintf(want, sizeof(want),
                 "{\"sockets\": [{\"family\": \"unix\", \"type\": \"stream\", \"path\": \"%s\"}]}\n", path);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");
        assert_node(path, NOBODY, NOBODY, 0640);
        finish();
}
END_TEST

/* The COMMAND of the exec form (main() runs it for "--probe PATH"): fd 3 must be the
 * listening socket at PATH, non-blocking, inherited, and this process nobody. Prints "ok"
 * or what is wrong. */
static int probe_fail(const char *what) {
        printf("%s\n", what);
        return 1;
}

static int probe_sockopt(int opt) {
        int v = -1;
        socklen_t l = sizeof(v);

        return getsockopt(3, SOL_SOCKET, opt, &v, &l) < 0 ? -1 : v;
}

static int probe(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES"),
                   *lpid = getenv("LISTEN_PID");
        int c, a;

        if (!fds || strcmp(fds, "1") != 0)
                return probe_fail("LISTEN_FDS is not 1");
        if (!names || strcmp(names, "netutil") != 0)
                return probe_fail("LISTEN_FDNAMES is not netutil");
        if (!lpid || atoi(lpid) != (int) getpid())
                return probe_fail("LISTEN_PID is not our pid");
        if (geteuid() != NOBODY || getegid() != NOBODY)
                return probe_fail("not running as nobody");
        if (probe_sockopt(SO_ACCEPTCONN) != 1)
                return probe_fail("fd 3 is not listening");
        if (probe_sockopt(SO_TYPE) != SOCK_STREAM || probe_sockopt(SO_DOMAIN) != AF_UNIX)
                return probe_fail("fd 3 is not a unix stream socket");
        if (!(fcntl(3, F_GETFL) & O_NONBLOCK))
                return probe_fail("fd 3 is blocking");
        if (fcntl(3, F_GETFD) & FD_CLOEXEC)
                return probe_fail("fd 3 is close-on-exec");
        /* Only fd 3: netutilctl's connection to the daemon must not leak into COMMAND
         * (the test harness may leave files open, so look at sockets only). */
        for (int fd = 4; fd < 1024; fd++) {
                struct stat st;
                if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
                        return probe_fail("a socket leaked into COMMAND");
        }
        /* No ck_assert here: this process is no test. */
        if (strlen(path) >= sizeof(sa.sun_path))
                return probe_fail("path too long");
        strcpy(sa.sun_path, path);
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return probe_fail("cannot connect to the path");
        a = accept4(3, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0)
                return probe_fail("the connection did not reach fd 3");
        close(a);
        close(c);
        printf("ok\n");
        return 0;
}

START_TEST(test_exec_form_passes_listening_socket_as_fd3) {
        char out[1024], err[1024], path[128];
        int r;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/e.sock", dir_);
        r = NOBODY_CTL(out, err, "bind-unix", path, "--", probe_bin, "--probe", path);
        ck_assert_msg(r == 0 && strcmp(out, "ok\n") == 0, "exit %d, stdout '%s', stderr '%s'", r, out, err);
        ck_assert_str_eq(err, "");
        assert_node(path, NOBODY, NOBODY, 0600);
        finish();
}
END_TEST

static void child_rebind_replaces(void *userdata) {
        const char *path = userdata;
        netutil_socket *old = NULL, *new = NULL;
        struct stat st1, st2;

        ck_assert_int_eq(child_bind_path(path, &old), 1);
        ck_assert_int_eq(lstat(path, &st1), 0);
        ck_assert_int_eq(child_bind_path(path, &new), 1);
        ck_assert_int_eq(lstat(path, &st2), 0);
        ck_assert_msg(st1.st_ino != st2.st_ino, "the node was not replaced");
        ck_assert_int_eq(test_sockopt_int(old[0].fd, SOL_SOCKET, SO_ACCEPTCONN), 1);

        for (int i = 0; i < 3; i++) {
                int c = connect_unix(path, strlen(path)), a;

                ck_assert_int_ge(c, 0);
                a = accept4(new[0].fd, NULL, NULL, SOCK_CLOEXEC);
                ck_assert_int_ge(a, 0);
                close(a);
                close(c);
        }
        /* The old listener is orphaned: no connection ever reaches it. */
        ck_assert_int_eq(accept4(old[0].fd, NULL, NULL, SOCK_CLOEXEC), -1);
        ck_assert_int_eq(errno, EAGAIN);
        netutil_sockets_free(old, 1);
        netutil_sockets_free(new, 1);
}

START_TEST(test_rebinding_replaces_socket_and_old_listener_gets_nothing) {
        char path[128];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/a.sock", dir_);
        as_nobody(child_rebind_replaces, path);
        assert_node(path, NOBODY, NOBODY, 0600);
        finish();
}
END_TEST

/* ---- refusals at the final component --------------------------------------------------- */

/* nobody asks for path: exit 1, the exact message, nothing on stdout. */
static void assert_not_a_socket_refusal(const char *path) {
        char out[1024], err[1024], want[512];

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 1);
        snprintf(want, sizeof(want), "netutilctl: File %s exists and is not a socket\n", path);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "{\"error\": {\"errno\": 17, \"name\": \"EEXIST\", "
                 "\"message\": \"File %s exists and is not a socket\"}}\n",
                 path);
        ck_assert_str_eq(out, want);
}

START_TEST(test_regular_file_is_not_replaced) {
        char path[128];
        struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
        Snapshot before;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/x", dir_);
        test_write_file(path, "precious\n");
        ck_assert_int_eq(chmod(path, 0644), 0);
        ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
        snapshot(path, &before);
        assert_not_a_socket_refusal(path);
        assert_unchanged(path, &before);
        ck_assert_str_eq(before.content, "precious\n");
        finish();
}
END_TEST

START_TEST(test_directory_is_not_replaced) {
        char path[128], inner[160];
        Snapshot before, before_inner;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/x", dir_);
        snprintf(inner, sizeof(inner), "%s/keep", path);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        test_write_file(inner, "kept\n");
        snapshot(path, &before);
        snapshot(inner, &before_inner);
        assert_not_a_socket_refusal(path);
        assert_unchanged(path, &before);
        assert_unchanged(inner, &before_inner);
        finish();
}
END_TEST

START_TEST(test_symlink_to_socket_is_not_replaced_nor_followed) {
        char path[128], target[128];
        Snapshot before, before_target;
        int fd;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/x", dir_);
        snprintf(target, sizeof(target), "%s/real.sock", dir_);
        fd = listen_at(target);
        ck_assert_int_eq(symlink(target, path), 0);
        snapshot(path, &before);
        snapshot(target, &before_target);
        /* Tornado would unlink the symlink and bind in its place (reference §2.1); the
         * daemon refuses a symlink whatever it points to. */
        assert_not_a_socket_refusal(path);
        assert_unchanged(path, &before);
        assert_unchanged(target, &before_target);
        close(fd);
        finish();
}
END_TEST

START_TEST(test_symlink_to_etc_passwd_or_nowhere_is_not_replaced_nor_followed) {
        char path[128], dangling[128], nowhere[128];
        Snapshot before, before_dangling, passwd;

        start_daemon_allowing_dir();
        snapshot("/etc/passwd", &passwd);
        snprintf(path, sizeof(path), "%s/x", dir_);
        ck_assert_int_eq(symlink("/etc/passwd", path), 0);
        snapshot(path, &before);
        assert_not_a_socket_refusal(path);
        assert_unchanged(path, &before);
        assert_unchanged("/etc/passwd", &passwd);

        /* A dangling symlink: Tornado's stat() says ENOENT and bind() fails with
         * EADDRINUSE; here it is refused like any other non-socket, and its target is not
         * created. */
        snprintf(dangling, sizeof(dangling), "%s/dangling", dir_);
        snprintf(nowhere, sizeof(nowhere), "%s/nowhere.sock", dir_);
        ck_assert_int_eq(symlink(nowhere, dangling), 0);
        snapshot(dangling, &before_dangling);
        assert_not_a_socket_refusal(dangling);
        assert_unchanged(dangling, &before_dangling);
        assert_absent(nowhere);
        finish();
}
END_TEST

START_TEST(test_socket_of_another_owner_is_not_replaced) {
        char out[1024], err[1024], path[128], want[256];
        Snapshot before;
        int r;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/root.sock", dir_);
        /* root (a service of the administrator) has its socket in the directory. */
        ck_assert_int_eq(ROOT_CTL(out, err, "bind-unix", path), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        assert_node(path, 0, 0, 0600);
        snapshot(path, &before);

        /* nobody may not replace root's socket (or any other uid's) in a shared allowed
         * directory: that would steal the service's clients. */
        r = NOBODY_CTL(out, err, "bind-unix", path);
        ck_assert_msg(r == 1, "nobody replaced root's socket %s (exit %d, stdout '%s')", path, r, out);
        snprintf(want, sizeof(want), "netutilctl: Socket %s belongs to uid 0 and cannot be replaced by uid 65534\n",
                 path);
        ck_assert_str_eq(err, want);
        assert_unchanged(path, &before);
        assert_node(path, 0, 0, 0600);
        finish();
}
END_TEST

/* ---- symlinks below the allowed directory --------------------------------------------- */

static void assert_symlink_refusal(const char *path) {
        char out[1024], err[1024], want[512];

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "netutilctl: Cannot open the directory of '%s' (symlinks are not followed): "
                 "Not a directory\n",
                 path);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(out, "");
}

START_TEST(test_symlink_component_to_etc_is_refused) {
        char link[128], path[160], out[1024], err[1024], want[512];
        int n_etc = count_staging("/etc");

        start_daemon_allowing_dir();
        snprintf(link, sizeof(link), "%s/link", dir_);
        ck_assert_int_eq(symlink("/etc", link), 0);
        snprintf(path, sizeof(path), "%s/evil-netutild-test.sock", link);
        assert_symlink_refusal(path);
        assert_absent("/etc/evil-netutild-test.sock");
        ck_assert_int_eq(count_staging("/etc"), n_etc);

        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "{\"error\": {\"errno\": 20, \"name\": \"ENOTDIR\", "
                 "\"message\": \"Cannot open the directory of '%s' (symlinks are not followed): "
                 "Not a directory\"}}\n",
                 path);
        ck_assert_str_eq(out, want);
        finish();
}
END_TEST

START_TEST(test_symlink_component_to_parent_dirs_is_refused) {
        char sub[96], link[128], path[256], escaped[96];

        start_daemon_allowing_dir();
        snprintf(sub, sizeof(sub), "%s/sub", dir_);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        snprintf(link, sizeof(link), "%s/link", sub);
        ck_assert_int_eq(symlink("../..", link), 0); /* DIR/sub/link -> /tmp */
        snprintf(escaped, sizeof(escaped), "/tmp/netutild-escaped-%d.sock", (int) getpid());
        register_cleanup(escaped);
        snprintf(path, sizeof(path), "%s%s", link, escaped + 4);
        assert_symlink_refusal(path);
        assert_absent(escaped);
        finish();
}
END_TEST

START_TEST(test_symlink_deep_in_path_is_refused_even_pointing_inside) {
        char a[96], b[128], c[160], lnk[160], path[256], ok[256], inside[256], out[1024], err[1024];

        start_daemon_allowing_dir();
        snprintf(a, sizeof(a), "%s/a", dir_);
        snprintf(b, sizeof(b), "%s/b", a);
        ck_assert_int_eq(mkdir(a, 0755), 0);
        ck_assert_int_eq(mkdir(b, 0755), 0);

        /* DIR/a/b/c -> /tmp, then real-looking components after it. */
        snprintf(c, sizeof(c), "%s/c", b);
        ck_assert_int_eq(symlink("/tmp", c), 0);
        snprintf(path, sizeof(path), "%s/d/e.sock", c);
        assert_symlink_refusal(path);

        /* DIR/a/lnk -> b: the target is inside the allowed directory, still not followed. */
        snprintf(lnk, sizeof(lnk), "%s/lnk", a);
        ck_assert_int_eq(symlink("b", lnk), 0);
        snprintf(path, sizeof(path), "%s/x.sock", lnk);
        snprintf(inside, sizeof(inside), "%s/x.sock", b);
        assert_symlink_refusal(path);
        assert_absent(inside);

        /* The same depth through real directories works, where nobody may write. */
        ck_assert_int_eq(chown(b, NOBODY, NOBODY), 0);
        snprintf(ok, sizeof(ok), "%s/ok.sock", b);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", ok), 0);
        assert_node(ok, NOBODY, NOBODY, 0600);
        finish();
}
END_TEST

START_TEST(test_allowed_directory_may_be_reached_through_admin_symlink) {
        char xlink[64], rules[256], path[128], real[128], other[128], out[1024], err[1024], want[512];

        /* The administrator wrote AllowUnix=user:nobody /tmp/…xlink with xlink -> DIR: the
         * allowed directory is the administrator's and may contain symlinks. */
        make_dir(dir_, sizeof(dir_));
        snprintf(xlink, sizeof(xlink), "/tmp/netutild-xlink-%d", (int) getpid());
        register_cleanup(xlink);
        (void) unlink(xlink);
        ck_assert_int_eq(symlink(dir_, xlink), 0);
        snprintf(rules, sizeof(rules), "AllowUnix=user:nobody %s\n", xlink);
        start_daemon(rules);

        snprintf(path, sizeof(path), "%s/a.sock", xlink);
        snprintf(real, sizeof(real), "%s/a.sock", dir_);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        assert_node(real, NOBODY, NOBODY, 0600);

        /* Observed: the policy compares path strings, so the real directory's own name is
         * not allowed. */
        snprintf(other, sizeof(other), "%s/b.sock", dir_);
        assert_policy_refusal(other, xlink);
        assert_absent(other);
        ck_assert_int_eq(unlink(xlink), 0);
        finish();
}
END_TEST

START_TEST(test_root_path_walk_does_not_follow_symlinks_either) {
        char xlink[64], path[128], real[128], out[1024], err[1024], want[512];

        start_daemon_allowing_dir();
        snprintf(xlink, sizeof(xlink), "/tmp/netutild-rootlink-%d", (int) getpid());
        register_cleanup(xlink);
        (void) unlink(xlink);
        ck_assert_int_eq(symlink(dir_, xlink), 0);
        snprintf(path, sizeof(path), "%s/r.sock", xlink);
        snprintf(real, sizeof(real), "%s/r.sock", dir_);

        /* Observed: root's "allowed directory" is "/", so the no-symlink walk covers every
         * component and root cannot bind through a symlinked directory (e.g. /var/run ->
         * /run), where Tornado running as root would. */
        ck_assert_int_eq(ROOT_CTL(out, err, "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "netutilctl: Cannot open the directory of '%s' (symlinks are not followed): "
                 "Not a directory\n",
                 path);
        ck_assert_str_eq(err, want);
        assert_absent(real);
        ck_assert_int_eq(unlink(xlink), 0);
        finish();
}
END_TEST

/* ---- policy ---------------------------------------------------------------------------- */

START_TEST(test_path_outside_allowed_dir_is_refused_by_policy) {
        char path[128], out[1024], err[1024], want[512];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "/tmp/netutild-other-%d.sock", (int) getpid());
        register_cleanup(path);
        assert_policy_refusal(path, dir_);
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "{\"error\": {\"errno\": 1, \"name\": \"EPERM\", "
                 "\"message\": \"Permission denied by policy: the directory of '%s' is not allowed "
                 "for uid 65534 (allowed: below %s)\"}}\n",
                 path, dir_);
        ck_assert_str_eq(out, want);
        assert_absent(path);
        finish();
}
END_TEST

START_TEST(test_no_rule_means_no_directory) {
        char path[128];

        make_dir(dir_, sizeof(dir_));
        start_daemon(NULL);
        snprintf(path, sizeof(path), "%s/a.sock", dir_);
        assert_policy_refusal(path, NULL);
        assert_absent(path);
        finish();
}
END_TEST

START_TEST(test_allowed_dir_itself_is_refused) {
        struct stat st;

        start_daemon_allowing_dir();
        assert_policy_refusal(dir_, dir_);
        ck_assert_int_eq(lstat(dir_, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        finish();
}
END_TEST

START_TEST(test_lookalike_prefix_dir_is_refused) {
        char look[80], path[128];

        start_daemon_allowing_dir();
        snprintf(look, sizeof(look), "%sx", dir_);
        register_cleanup(look);
        ck_assert_int_eq(mkdir(look, 0755), 0);
        snprintf(path, sizeof(path), "%s/a.sock", look);
        assert_policy_refusal(path, dir_);
        assert_absent(path);
        ck_assert_int_eq(rmdir(look), 0);
        finish();
}
END_TEST

START_TEST(test_root_binds_anywhere_and_owns_node) {
        char dir2[64], path[128], out[1024], err[1024], want[256];

        start_daemon_allowing_dir();
        make_dir(dir2, sizeof(dir2));
        snprintf(path, sizeof(path), "%s/r.sock", dir2);
        ck_assert_int_eq(ROOT_CTL(out, err, "bind-unix", "--mode", "0666", path), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");
        assert_node(path, 0, 0, 0666);
        ck_assert_int_eq(count_staging(dir2), 0);
        rm_rf_at(AT_FDCWD, dir2);
        finish();
}
END_TEST

START_TEST(test_group_rule_allows_members_of_primary_group) {
        char dir2[64], rules[512], path[128], out[1024], err[1024];

        make_dir(dir_, sizeof(dir_));
        make_dir(dir2, sizeof(dir2));
        snprintf(rules, sizeof(rules), "AllowUnix=user:nobody %s\nAllowUnix=group:65534 %s\n", dir_, dir2);
        start_daemon(rules);
        snprintf(path, sizeof(path), "%s/g.sock", dir2);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--mode", "0660", path), 0);
        assert_node(path, NOBODY, NOBODY, 0660);
        ck_assert_int_eq(count_staging(dir2), 0);
        rm_rf_at(AT_FDCWD, dir2);
        finish();
}
END_TEST

/* ---- path validation ------------------------------------------------------------------- */

static void assert_unnormalized_refusal(const char *path) {
        char out[1024], err[1024], want[512];

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "netutilctl: Path '%s' must be absolute and normalized (no '.', '..' or '//')\n", path);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(out, "");
}

START_TEST(test_unnormalized_paths_are_refused) {
        char p[256], sub[128], out[1024], err[1024];

        start_daemon_allowing_dir();
        snprintf(sub, sizeof(sub), "%s/sub", dir_);
        ck_assert_int_eq(mkdir(sub, 0755), 0);

        assert_unnormalized_refusal("a.sock");
        assert_unnormalized_refusal("/");
        snprintf(p, sizeof(p), "%s/./a.sock", dir_);
        assert_unnormalized_refusal(p);
        snprintf(p, sizeof(p), "%s/sub/../a.sock", dir_);
        assert_unnormalized_refusal(p);
        snprintf(p, sizeof(p), "%s//a.sock", dir_);
        assert_unnormalized_refusal(p);
        snprintf(p, sizeof(p), "%s/a.sock/", dir_);
        assert_unnormalized_refusal(p);
        snprintf(p, sizeof(p), "%s/sub/..", dir_);
        assert_unnormalized_refusal(p);

        /* An empty path never reaches the daemon. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", ""), 1);
        ck_assert_str_eq(err, "netutilctl: Failed to bind: Invalid argument\n");
        finish();
}
END_TEST

START_TEST(test_path_length_limits) {
        char p107[128], p108[128], p109[128], name[128], out[1024], err[1024], want[512];
        size_t dl;

        start_daemon_allowing_dir();
        dl = strlen(dir_);
        /* dir_ + "/" + name = 107 bytes: sun_path with its NUL exactly. */
        memset(name, 'n', sizeof(name));
        snprintf(p107, sizeof(p107), "%s/%.*s", dir_, (int) (107 - dl - 1), name);
        snprintf(p108, sizeof(p108), "%s/%.*s", dir_, (int) (108 - dl - 1), name);
        snprintf(p109, sizeof(p109), "%s/%.*s", dir_, (int) (109 - dl - 1), name);
        ck_assert_uint_eq(strlen(p107), 107);
        ck_assert_uint_eq(strlen(p109), 109);

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", p107), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", p107);
        ck_assert_str_eq(out, want);
        assert_node(p107, NOBODY, NOBODY, 0600);
        /* And the socket of such a path listens and is reachable by that name. */
        as_nobody(child_listening_and_reachable, p107);

        /* 108 bytes reach the daemon, which refuses them. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", p108), 1);
        ck_assert_str_eq(err, "netutilctl: Unix socket path of 108 bytes is too long (at most 107)\n");
        ck_assert_str_eq(out,
                         "{\"error\": {\"errno\": 36, \"name\": \"ENAMETOOLONG\", \"message\": \"Unix socket "
                         "path of 108 bytes is too long (at most 107)\"}}\n");
        assert_absent(p108);

        /* 109 bytes do not fit the protocol: the library says so itself. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", p109), 1);
        ck_assert_str_eq(err, "netutilctl: Failed to bind: File name too long\n");
        snprintf(want, sizeof(want),
                 "{\"error\": {\"errno\": 36, \"name\": \"ENAMETOOLONG\", \"message\": \"Failed "
                 "to bind: File name too long\"}}\n");
        ck_assert_str_eq(out, want);
        assert_absent(p109);
        finish();
}
END_TEST

START_TEST(test_missing_or_non_directory_parent_is_refused) {
        char path[128], file[96], out[1024], err[1024], want[512];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/missing/a.sock", dir_);
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", path), 1);
        snprintf(want, sizeof(want),
                 "netutilctl: Cannot open the directory of '%s': No such file or directory\n", path);
        ck_assert_str_eq(err, want);
        {
                const char *head =
                        "{\"error\": {\"errno\": 2, \"name\": \"ENOENT\", \"message\": \"Cannot open";
                ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%s", out);
        }

        /* A regular file as a directory component: ENOTDIR. (The message also says
         * "(symlinks are not followed)", which is only true of symlinks.) */
        snprintf(file, sizeof(file), "%s/file", dir_);
        test_write_file(file, "");
        snprintf(path, sizeof(path), "%s/a.sock", file);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", path), 1);
        snprintf(want, sizeof(want), "netutilctl: Cannot open the directory of '%s'", path);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
        {
                const char *tail = ": Not a directory\n";
                ck_assert_msg(strlen(err) > strlen(tail) &&
                                      strcmp(err + strlen(err) - strlen(tail), tail) == 0,
                              "%s", err);
        }
        finish();
}
END_TEST

/* ---- abstract names -------------------------------------------------------------------- */

START_TEST(test_abstract_name_needs_no_rule_and_prints_at) {
        char name[64], out[1024], err[1024], want[256];

        make_dir(dir_, sizeof(dir_));
        start_daemon(NULL); /* no AllowUnix= at all */
        snprintf(name, sizeof(name), "@netutild-test-%d-a", (int) getpid());
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", name), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", name);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", name), 0);
        snprintf(want, sizeof(want),
                 "{\"sockets\": [{\"family\": \"unix\", \"type\": \"stream\", \"path\": \"%s\"}]}\n", name);
        ck_assert_str_eq(out, want);

        /* "@" alone is no name. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "@"), 2);
        ck_assert_str_eq(err, "netutilctl: bind-unix: invalid abstract name '@'\nTry 'netutilctl --help'.\n");
        finish();
}
END_TEST

static void child_abstract_listening(void *userdata) {
        const char *name = userdata; /* "\0..." */
        size_t len = 1 + strlen(name + 1);
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_socket *s = NULL;
        int c, a;

        o.path = name;
        o.path_len = len;
        ck_assert_int_eq(child_bind(&o, &s, NULL, 0), 1);
        ck_assert_uint_eq(s[0].address_len, offsetof(struct sockaddr_un, sun_path) + len);
        ck_assert_mem_eq(((const struct sockaddr_un *) &s[0].address)->sun_path, name, len);
        ck_assert_int_eq(test_sockopt_int(s[0].fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        c = connect_unix(name, len);
        ck_assert_int_ge(c, 0);
        a = accept4(s[0].fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(a, 0);
        close(a);
        close(c);
        netutil_sockets_free(s, 1);
}

START_TEST(test_abstract_name_in_use_is_eaddrinuse) {
        char name[64], at[64], out[1024], err[1024];
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;

        make_dir(dir_, sizeof(dir_));
        start_daemon(NULL);
        snprintf(at, sizeof(at), "@netutild-test-%d-b", (int) getpid());
        name[0] = '\0';
        snprintf(name + 1, sizeof(name) - 1, "%s", at + 1);

        /* The test holds the name through its own request. */
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        o.path = name;
        o.path_len = strlen(at);
        ck_assert_int_eq(netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s), 1);
        netutil_client_close(c);

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", at), 1);
        ck_assert_str_eq(err, "netutilctl: Address already in use: (abstract)\n");
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", at), 1);
        ck_assert_str_eq(
                out, "{\"error\": {\"errno\": 98, \"name\": \"EADDRINUSE\", \"message\": \"Address already "
                     "in use: (abstract)\"}}\n");

        /* Free again once the holder lets go: nobody gets a listening socket. */
        netutil_sockets_free(s, 1);
        as_nobody(child_abstract_listening, name);
        finish();
}
END_TEST

/* ---- held unix sockets ------------------------------------------------------------------ */

static void child_hold_twice_same_socket(void *userdata) {
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_socket *a = NULL, *b = NULL;
        struct stat sa, sb;
        int c, x;

        o.path = userdata;
        o.name = "u";
        o.hold = 1;
        ck_assert_int_eq(child_bind(&o, &a, NULL, 0), 1);
        ck_assert_int_eq(child_bind(&o, &b, NULL, 0), 1);
        ck_assert_int_eq(fstat(a[0].fd, &sa), 0);
        ck_assert_int_eq(fstat(b[0].fd, &sb), 0);
        ck_assert_msg(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino, "two different sockets");
        c = connect_unix(o.path, strlen(o.path));
        ck_assert_int_ge(c, 0);
        x = accept4(b[0].fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(x, 0);
        close(x);
        close(c);
        netutil_sockets_free(a, 1);
        netutil_sockets_free(b, 1);
}

START_TEST(test_held_unix_socket_is_returned_again_and_listed) {
        char path[128], out[1024], err[1024], want[512];
        struct stat st1, st2;

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/h.sock", dir_);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--name", "u", "--hold", path), 0);
        ck_assert_str_eq(out, want);
        ck_assert_int_eq(lstat(path, &st1), 0);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--name", "u", "--hold", path), 0);
        ck_assert_str_eq(out, want);
        ck_assert_int_eq(lstat(path, &st2), 0);
        ck_assert_msg(st1.st_ino == st2.st_ino, "the node was made again for a held name");
        assert_node(path, NOBODY, NOBODY, 0600);
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + 1, 3000), baseline_fds + 1);

        ck_assert_int_eq(NOBODY_CTL(out, err, "hold", "list"), 0);
        snprintf(want, sizeof(want), "u 65534 unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "hold", "list"), 0);
        snprintf(want, sizeof(want),
                 "{\"held\": [{\"name\": \"u\", \"owner_uid\": 65534, \"sockets\": "
                 "[{\"family\": \"unix\", \"type\": \"stream\", \"path\": \"%s\"}]}]}\n",
                 path);
        ck_assert_str_eq(out, want);

        as_nobody(child_hold_twice_same_socket, path);
        ck_assert_int_eq(NOBODY_CTL(out, err, "hold", "release", "u"), 0);
        ck_assert_str_eq(err, "");
        /* As Tornado, the node stays after the socket is gone. */
        assert_node(path, NOBODY, NOBODY, 0600);
        finish();
}
END_TEST

/* ---- the quota, checked before anything is created ------------------------------------- */

#define QUOTA_NAMES 64
#define QUOTA_MESSAGE "Quota exceeded: uid 65534 already holds 64 names"

/* In a child: holds (or, with release, releases) the names n<first>..n<last> at
 * DIR/h<i>.sock through one connection. */
typedef struct HoldRange {
        const char *dir;
        int first, last;
        bool release;
} HoldRange;

static void child_hold_range(void *userdata) {
        const HoldRange *h = userdata;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        for (int i = h->first; i <= h->last; i++) {
                char path[128], name[16];
                netutil_socket *s = NULL;
                int r;

                snprintf(name, sizeof(name), "n%d", i);
                if (h->release) {
                        r = netutil_hold_release(c, name, CALL_TIMEOUT_USEC);
                        ck_assert_msg(r == 0, "release %s: %s", name, strerror(-r));
                        continue;
                }
                snprintf(path, sizeof(path), "%s/h%d.sock", h->dir, i);
                o.path = path;
                o.name = name;
                o.hold = 1;
                r = netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s);
                ck_assert_msg(r == 1, "hold %s: %d (%s)", name, r, netutil_client_error_message(c));
                netutil_sockets_free(s, 1);
        }
        netutil_client_close(c);
}

/* In a child: the 65th name is refused by the library as -EDQUOT, in words too. */
static void child_quota_refused(void *userdata) {
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_socket *s = NULL;
        char msg[512];

        o.path = userdata;
        o.name = "n65";
        o.hold = 1;
        ck_assert_int_eq(child_bind(&o, &s, msg, sizeof(msg)), -EDQUOT);
        ck_assert_ptr_null(s);
        ck_assert_str_eq(msg, QUOTA_MESSAGE);
}

static void assert_quota_refusal(const char *path) {
        char out[1024], err[1024];

        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--name", "n65", "--hold", path), 1);
        ck_assert_str_eq(err, "netutilctl: " QUOTA_MESSAGE "\n");
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(NOBODY_CTL(out, err, "--json", "bind-unix", "--name", "n65", "--hold", path), 1);
        ck_assert_str_eq(out, "{\"error\": {\"errno\": 122, \"name\": \"EDQUOT\", \"message\": \"" QUOTA_MESSAGE
                              "\"}}\n");
        ck_assert_str_eq(err, "netutilctl: " QUOTA_MESSAGE "\n");
        as_nobody(child_quota_refused, (void *) path);
}

START_TEST(test_hold_over_quota_creates_and_replaces_nothing) {
        char path[128], out[1024], err[1024], want[512];
        HoldRange hold = { .first = 1, .last = QUOTA_NAMES };
        Snapshot before;
        int listener, c, a;

        start_daemon_allowing_dir();
        hold.dir = dir_;
        as_nobody(child_hold_range, &hold);
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + QUOTA_NAMES, 3000),
                         baseline_fds + QUOTA_NAMES);
        snprintf(path, sizeof(path), "%s/q.sock", dir_);

        /* A new path: refused before the node is made, so there is nothing to take back. */
        assert_quota_refusal(path);
        assert_absent(path);
        ck_assert_int_eq(count_staging(dir_), 0);

        /* nobody's own socket, listening, at that path: left exactly as it was. */
        listener = listen_at(path);
        ck_assert_int_eq(chown(path, NOBODY, NOBODY), 0);
        snapshot(path, &before);
        assert_quota_refusal(path);
        assert_unchanged(path, &before);
        c = connect_unix(path, strlen(path));
        ck_assert_msg(c >= 0, "connect to the socket at %s: %s", path, strerror(-c));
        a = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_msg(a >= 0, "the old socket no longer gets the path's connections: %m");
        close(a);
        close(c);
        ck_assert_int_eq(count_staging(dir_), 0);
        /* The quota counts names of either kind: a network hold is refused alike. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind", "--name", "n65", "--hold", "--address", "127.0.0.1", "0"), 1);
        ck_assert_str_eq(err, "netutilctl: " QUOTA_MESSAGE "\n");
        ck_assert_str_eq(out, "");
        /* A name nobody already holds is no new name: it is answered at the quota too. */
        snprintf(want, sizeof(want), "%s/h1.sock", dir_);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--name", "n1", "--hold", want), 0);
        ck_assert_str_eq(err, "");
        {
                char line[sizeof(want) + 16];

                snprintf(line, sizeof(line), "unix stream %s\n", want);
                ck_assert_str_eq(out, line);
        }
        /* The refusals cost the daemon nothing. */
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + QUOTA_NAMES, 3000),
                         baseline_fds + QUOTA_NAMES);

        /* A release makes room: now the same request replaces nobody's socket and holds it. */
        ck_assert_int_eq(NOBODY_CTL(out, err, "hold", "release", "n1"), 0);
        ck_assert_int_eq(NOBODY_CTL(out, err, "bind-unix", "--name", "n65", "--hold", path), 0);
        snprintf(want, sizeof(want), "unix stream %s\n", path);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");
        assert_node(path, NOBODY, NOBODY, 0600);
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + QUOTA_NAMES, 3000),
                         baseline_fds + QUOTA_NAMES);
        close(listener);

        hold = (HoldRange) { .dir = dir_, .first = 2, .last = QUOTA_NAMES + 1, .release = true };
        as_nobody(child_hold_range, &hold);
        ck_assert_int_eq(NOBODY_CTL(out, err, "hold", "list"), 0);
        ck_assert_str_eq(out, "");
        finish();
}
END_TEST

#undef QUOTA_MESSAGE

/* ---- asynchronous bind-unix ---------------------------------------------------------------- */

typedef struct AsyncBind {
        int calls;
        netutil_client *c;
        int error;
        netutil_socket *s;
        size_t n;
} AsyncBind;

static void on_bind_unix(netutil_client *c, int error, netutil_socket *sockets, size_t n, void *userdata) {
        AsyncBind *a = userdata;

        a->calls++;
        a->c = c;
        a->error = error;
        a->s = sockets; /* the callback owns them; the child frees them */
        a->n = n;
}

static void child_bind_unix_async(void *userdata) {
        const char *path = userdata;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_request *req = NULL;
        AsyncBind a = { 0 };
        netutil_client *c = NULL;
        sd_event *e = NULL;
        struct timespec start, now;
        int conn, acc;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        o.path = path;
        o.mode = 0640;
        ck_assert_int_eq(netutil_bind_unix_async(c, &o, CALL_TIMEOUT_USEC, on_bind_unix, &a, &req), 0);
        ck_assert_ptr_nonnull(req);
        ck_assert_int_eq(a.calls, 0);
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (a.calls == 0) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                ck_assert_msg(now.tv_sec - start.tv_sec < 6, "the callback did not run");
                ck_assert_int_ge(sd_event_run(e, 100000), 0);
        }
        ck_assert_int_eq(a.calls, 1);
        ck_assert_ptr_eq(a.c, c);
        ck_assert_msg(a.error == 0, "callback error %d (%s): %s", a.error, strerror(-a.error),
                      netutil_client_error_message(c));
        ck_assert_uint_eq(a.n, 1);
        ck_assert_ptr_nonnull(a.s);
        ck_assert_int_eq(a.s[0].family, AF_UNIX);
        ck_assert_int_eq(a.s[0].type, SOCK_STREAM);
        ck_assert_uint_eq(a.s[0].address_len, offsetof(struct sockaddr_un, sun_path) + strlen(path));
        ck_assert_mem_eq(((const struct sockaddr_un *) &a.s[0].address)->sun_path, path, strlen(path));
        ck_assert_int_eq(test_sockopt_int(a.s[0].fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        ck_assert(fcntl(a.s[0].fd, F_GETFD) & FD_CLOEXEC);
        assert_node(path, NOBODY, NOBODY, 0640);

        /* It is the socket at path. */
        conn = connect_unix(path, strlen(path));
        ck_assert_int_ge(conn, 0);
        acc = accept4(a.s[0].fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(acc, 0);
        close(acc);
        close(conn);

        netutil_sockets_free(a.s, a.n);
        netutil_client_close(c);
        sd_event_unref(e);
}

START_TEST(test_async_bind_unix_creates_the_node_and_hands_over_one_socket) {
        char path[128];

        start_daemon_allowing_dir();
        snprintf(path, sizeof(path), "%s/async.sock", dir_);
        as_nobody(child_bind_unix_async, path);
        /* The node stays after the socket is gone, as Tornado's. */
        assert_node(path, NOBODY, NOBODY, 0640);
        finish();
}
END_TEST

/* ---- the owner and mode from the start ---------------------------------------------------- */

#define WATCH_BINDS 50

static void child_bind_many(void *userdata) {
        const char *dir = userdata;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        for (int i = 0; i < WATCH_BINDS; i++) {
                char path[128];
                netutil_socket *s = NULL;

                snprintf(path, sizeof(path), "%s/w%02d.sock", dir, i);
                o.path = path;
                o.mode = 0640;
                ck_assert_int_eq(netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s), 1);
                netutil_sockets_free(s, 1);
        }
        netutil_client_close(c);
}

static bool is_final_name(const char *n) {
        size_t l = strlen(n);
        return n[0] == 'w' && l > 5 && strcmp(n + l - 5, ".sock") == 0;
}

START_TEST(test_node_appears_with_owner_and_mode_already_set) {
        char bad[512] = "";
        int ifd, dfd, finals = 0, staging = 0, staging_foreign = 0, status = 0;
        bool done = false, overflow = false;
        pid_t pid;

        start_daemon_allowing_dir();
        dfd = open(dir_, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ifd, 0);
        ck_assert_int_ge(inotify_add_watch(ifd, dir_, IN_CREATE | IN_MOVED_TO), 0);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(99);
                child_bind_many(dir_);
                _exit(0);
        }

        /* Look at every new name as soon as the kernel tells us, until the child is done
         * and the queue is empty. */
        for (;;) {
                union {
                        struct inotify_event ev;
                        char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
                } u;
                struct pollfd p = { .fd = ifd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, done ? 0 : 10) == 0) {
                        if (done)
                                break;
                        if (waitpid(pid, &status, WNOHANG) == pid)
                                done = true;
                        continue;
                }
                n = read(ifd, u.buf, sizeof(u.buf));
                if (n <= 0)
                        continue;
                for (char *q = u.buf; q < u.buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) q;
                        struct stat st;

                        q += sizeof(*ev) + ev->len;
                        if (ev->mask & IN_Q_OVERFLOW)
                                overflow = true;
                        if (ev->len == 0)
                                continue;
                        if (is_final_name(ev->name)) {
                                finals++;
                                if (fstatat(dfd, ev->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                        if (!bad[0])
                                                snprintf(bad, sizeof(bad), "%s vanished: %m", ev->name);
                                } else if (!S_ISSOCK(st.st_mode) || st.st_uid != NOBODY ||
                                           st.st_gid != NOBODY || (st.st_mode & 07777) != 0640) {
                                        if (!bad[0])
                                                snprintf(bad, sizeof(bad), "%s appeared as %u:%u %04o",
                                                         ev->name, (unsigned) st.st_uid, (unsigned) st.st_gid,
                                                         (unsigned) (st.st_mode & 07777));
                                }
                                /* bind() makes it there, as nobody with nobody's umask. */
                                if (!(ev->mask & IN_CREATE) && !bad[0])
                                        snprintf(bad, sizeof(bad), "%s was not created under its final name",
                                                 ev->name);
                        } else if (strncmp(ev->name, ".#netutild-", 11) == 0) {
                                /* The staging names of old: none any more. */
                                staging++;
                                if (fstatat(dfd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid != 0 &&
                                    st.st_uid != NOBODY)
                                        staging_foreign++;
                        } else if (!bad[0])
                                snprintf(bad, sizeof(bad), "unexpected entry %s", ev->name);
                }
        }
        close(ifd);
        close(dfd);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child running as nobody failed (0x%x)", status);
        ck_assert(!overflow);
        ck_assert_msg(bad[0] == '\0', "%s", bad);
        ck_assert_int_eq(finals, WATCH_BINDS);
        ck_assert_int_eq(staging, 0);
        ck_assert_int_eq(staging_foreign, 0);
        finish();
}
END_TEST

static Suite *bind_unix_suite(void) {
        Suite *s = suite_create("bind-unix");
        TCase *tc;

        tc = tcase_create("create");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_nobody_gets_listening_socket_owned_0600_and_reachable);
        tcase_add_test(tc, test_mode_is_exact_and_umask_free);
        tcase_add_test(tc, test_text_and_json_output_name_the_requested_path);
        tcase_add_test(tc, test_exec_form_passes_listening_socket_as_fd3);
        tcase_add_test(tc, test_rebinding_replaces_socket_and_old_listener_gets_nothing);
        suite_add_tcase(s, tc);

        tc = tcase_create("refuse-final-component");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_regular_file_is_not_replaced);
        tcase_add_test(tc, test_directory_is_not_replaced);
        tcase_add_test(tc, test_symlink_to_socket_is_not_replaced_nor_followed);
        tcase_add_test(tc, test_symlink_to_etc_passwd_or_nowhere_is_not_replaced_nor_followed);
        tcase_add_test(tc, test_socket_of_another_owner_is_not_replaced);
        suite_add_tcase(s, tc);

        tc = tcase_create("symlinks");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_symlink_component_to_etc_is_refused);
        tcase_add_test(tc, test_symlink_component_to_parent_dirs_is_refused);
        tcase_add_test(tc, test_symlink_deep_in_path_is_refused_even_pointing_inside);
        tcase_add_test(tc, test_allowed_directory_may_be_reached_through_admin_symlink);
        tcase_add_test(tc, test_root_path_walk_does_not_follow_symlinks_either);
        suite_add_tcase(s, tc);

        tc = tcase_create("policy");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_path_outside_allowed_dir_is_refused_by_policy);
        tcase_add_test(tc, test_no_rule_means_no_directory);
        tcase_add_test(tc, test_allowed_dir_itself_is_refused);
        tcase_add_test(tc, test_lookalike_prefix_dir_is_refused);
        tcase_add_test(tc, test_root_binds_anywhere_and_owns_node);
        tcase_add_test(tc, test_group_rule_allows_members_of_primary_group);
        suite_add_tcase(s, tc);

        tc = tcase_create("paths");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_unnormalized_paths_are_refused);
        tcase_add_test(tc, test_path_length_limits);
        tcase_add_test(tc, test_missing_or_non_directory_parent_is_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("abstract");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_abstract_name_needs_no_rule_and_prints_at);
        tcase_add_test(tc, test_abstract_name_in_use_is_eaddrinuse);
        suite_add_tcase(s, tc);

        tc = tcase_create("hold");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_held_unix_socket_is_returned_again_and_listed);
        tcase_add_test(tc, test_hold_over_quota_creates_and_replaces_nothing);
        suite_add_tcase(s, tc);

        tc = tcase_create("async");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_async_bind_unix_creates_the_node_and_hands_over_one_socket);
        suite_add_tcase(s, tc);

        tc = tcase_create("owner-from-the-start");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_node_appears_with_owner_and_mode_already_set);
        suite_add_tcase(s, tc);
        return s;
}

int main(int argc, char *argv[]) {
        char cleanup_list[] = "/tmp/netutild-unix-cleanup.XXXXXX", line[PATH_MAX];
        FILE *f;
        int ret;

        if (argc == 3 && strcmp(argv[1], "--probe") == 0)
                return probe(argv[2]);

        if (geteuid() != 0) {
                fprintf(stderr, "check-bind-unix needs root (clients run as uid 65534).\n");
                return 77;
        }
        if (!realpath("/proc/self/exe", probe_bin)) {
                perror("realpath(/proc/self/exe)");
                return EXIT_FAILURE;
        }

        cleanup_fd = mkostemp(cleanup_list, O_CLOEXEC | O_APPEND);
        if (cleanup_fd < 0) {
                perror("mkostemp");
                return EXIT_FAILURE;
        }
        (void) unlink(cleanup_list);

        ret = test_run_suite(bind_unix_suite(), false);

        /* What failed tests left behind (the daemons died with their test's process
         * group). Symlinks are removed, never followed. */
        f = fdopen(cleanup_fd, "r");
        if (f) {
                rewind(f);
                while (fgets(line, sizeof(line), f)) {
                        line[strcspn(line, "\n")] = '\0';
                        if (strncmp(line, "/tmp/", 5) == 0)
                                rm_rf_at(AT_FDCWD, line);
                }
                fclose(f);
        }
        return ret;
}
