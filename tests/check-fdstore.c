/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of held sockets that outlive netutild (daemon/fdstore.c): the service
 * manager's fd store and the successor hand-over (`netutild --takeover`).
 *
 * The fd store tests play systemd themselves: a SOCK_DGRAM unix socket as NOTIFY_SOCKET
 * (with FDSTORE= set, as systemd 254 does), FDSTORE=1 messages received with their fds, and
 * a restart with those fds at 3… and LISTEN_FDS, LISTEN_PID (set by the child after fork(),
 * before exec()) and LISTEN_FDNAMES. Clients connect to every held port while no daemon
 * runs and the app accepts them after the restart. While the notify socket's queue is full
 * the daemon goes on serving and its messages wait, in order. Malformed or foreign passed
 * fds are closed with a warning. The hand-over tests start a second netutild with --takeover on the
 * running one's socket while a client keeps connecting to the control socket, and check
 * that no connect is refused, that the old one exits 0 and that the new one serves
 * everything; a refused takeover (nobody) and an abandoned one leave the old one serving.
 * Reuseport group anchors go both ways too.
 *
 * Every test runs in its own network namespace (fork mode, one process per test) as root.
 * The daemons run under setpriv --pdeathsig KILL and are stopped by pid; fd counts of the
 * daemons and of this process are checked; everything waits with a bound.
 */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define NOBODY 65534
/* The test's 300 held sockets: 150 names of two sockets each (IPv4 and IPv6 on one port). */
#define N_NAMES 150
/* Of which the first N_NOBODY_NAMES belong to nobody (the per-uid quota is 64). */
#define N_NOBODY_NAMES 20
/* What the round trip stores: 300 held sockets, a group anchor, a held unix socket. */
#define STORED (2 * N_NAMES + 2)
/* Held sockets and anchors the test may collect from the store. */
#define MAX_STORED 512
/* Bounds on every wait, in ms: a notification, a daemon's start, a connection. */
#define WAIT_MS 10000
#define CONNECT_TIMEOUT_MS 2000

/* ---- daemons started by the test ------------------------------------------------------ */

static char dir[64];
static pid_t daemons[4];

static void setup(void) {
        struct rlimit rl;

        test_enter_netns();
        test_cloexec_fds_from_3();
        /* 300 held sockets, 300 clients and their copies at once. */
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        snprintf(dir, sizeof(dir), "/tmp/netutild-fdstore.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        /* Clients of any uid reach the socket (0666) below it. */
        ck_assert_int_eq(chmod(dir, 0755), 0);
        test_fd_count_setup();
}

static void rm_dir(void) {
        if (dir[0]) {
                test_rm_rf(dir);
                dir[0] = '\0';
        }
}

static void teardown(void) {
        for (size_t i = 0; i < ELEMENTSOF(daemons); i++)
                if (daemons[i] > 0) {
                        kill(daemons[i], SIGKILL);
                        waitpid(daemons[i], NULL, 0);
                        daemons[i] = 0;
                }
        rm_dir();
        test_fd_count_teardown();
}

static void track(pid_t pid) {
        for (size_t i = 0; i < ELEMENTSOF(daemons); i++)
                if (daemons[i] <= 0) {
                        daemons[i] = pid;
                        return;
                }
        ck_abort_msg("too many daemons");
}

static void untrack(pid_t pid) {
        for (size_t i = 0; i < ELEMENTSOF(daemons); i++)
                if (daemons[i] == pid)
                        daemons[i] = 0;
}

static const char *path_in_dir(char *buf, size_t len, const char *name) {
        return test_fmt(buf, len, "%s/%s", dir, name);
}

static const char *socket_path(void) {
        static char buf[128];
        return path_in_dir(buf, sizeof(buf), "netutild.sock");
}

/* A bound SOCK_DGRAM socket at DIR/name for the daemon's notifications. */
static int notify_socket(const char *name) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(fd, 0);
        path_in_dir(sa.sun_path, sizeof(sa.sun_path), name);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Starts `setpriv --pdeathsig KILL [priv…] netutild --user --socket DIR/netutild.sock
 * --state-dir DIR/state [extra…]` with NOTIFY_SOCKET=DIR/notify_name, FDSTORE=fdstore (NULL:
 * unset), fds[0..n) as 3… with the socket activation variables (names joined by ':'), and
 * stderr into DIR/log_name (NULL: ours). */
static pid_t spawn_daemon(const char *notify_name, const char *fdstore, const int *fds, size_t n, const char *names,
                          const char *const *priv, const char *const *extra, const char *log_name) {
        const char *argv[32];
        char notify[128], state[128], logpath[128];
        size_t k = 0;
        pid_t pid;

        argv[k++] = test_setpriv_bin();
        argv[k++] = "--pdeathsig";
        argv[k++] = "KILL";
        for (size_t i = 0; priv && priv[i]; i++)
                argv[k++] = priv[i];
        argv[k++] = test_netutild_bin();
        argv[k++] = "--user";
        argv[k++] = "--socket";
        argv[k++] = socket_path();
        argv[k++] = "--state-dir";
        argv[k++] = path_in_dir(state, sizeof(state), "state");
        for (size_t i = 0; extra && extra[i]; i++)
                argv[k++] = extra[i];
        argv[k] = NULL;
        ck_assert_uint_lt(k, ELEMENTSOF(argv));
        path_in_dir(notify, sizeof(notify), notify_name);
        if (log_name)
                path_in_dir(logpath, sizeof(logpath), log_name);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char buf[32];
                int high[MAX_STORED];

                setenv("NOTIFY_SOCKET", notify, 1);
                if (fdstore)
                        setenv("FDSTORE", fdstore, 1);
                else
                        unsetenv("FDSTORE");
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDNAMES");
                unsetenv("WATCHDOG_USEC");
                if (log_name) {
                        int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                        if (lfd < 0 || dup2(lfd, 2) < 0)
                                _exit(126);
                }
                if (n > 0) {
                        /* Out of the way first, so that moving one cannot overwrite another. */
                        for (size_t i = 0; i < n; i++)
                                if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int) (3 + n))) < 0)
                                        _exit(126);
                        for (size_t i = 0; i < n; i++)
                                if (dup2(high[i], (int) (3 + i)) < 0) /* not close-on-exec */
                                        _exit(126);
                        snprintf(buf, sizeof(buf), "%zu", n);
                        setenv("LISTEN_FDS", buf, 1);
                        /* setpriv execs netutild in this very process. */
                        snprintf(buf, sizeof(buf), "%d", (int) getpid());
                        setenv("LISTEN_PID", buf, 1);
                        setenv("LISTEN_FDNAMES", names, 1);
                }
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        track(pid);
        return pid;
}

/* Waits up to ms for pid to exit; returns its wait status, or -1 if it did not. */
static int wait_exit(pid_t pid, int ms) {
        long long deadline = test_now_ms() + ms;
        int status = 0;

        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        untrack(pid);
                        return status;
                }
                if (test_now_ms() > deadline)
                        return -1;
                usleep(5000);
        }
}

static void stop_daemon_cleanly(pid_t pid) {
        int status;

        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        status = wait_exit(pid, WAIT_MS);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon wait status 0x%x",
                      status);
}

static int daemon_fds(pid_t pid) {
        TestDaemon d = { .pid = pid };
        return test_daemon_steady_fds(&d);
}

/* ---- the test as the service manager ------------------------------------------------- */

typedef struct Store {
        char names[MAX_STORED][256];
        int fds[MAX_STORED];
        size_t n;
        char removed[MAX_STORED][256];
        size_t n_removed;
        unsigned n_ready, n_pushed;
} Store;

static void store_clear(Store *st) {
        for (size_t i = 0; i < st->n; i++)
                safe_close(st->fds[i]);
        st->n = 0;
}

static const char *field(const char *text, const char *key, char *buf, size_t len) {
        const char *p = strstr(text, key);
        size_t n;

        if (!p || (p != text && p[-1] != '\n'))
                return NULL;
        p += strlen(key);
        n = strcspn(p, "\n");
        ck_assert_uint_lt(n, len);
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
}

/* Reads one notification (up to ms), keeping FDSTORE fds and noting removals. Returns false
 * on timeout. */
static bool store_read(Store *st, int nfd, int ms) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 253)];
        } control;
        char text[4096], name[256];
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct pollfd p = { .fd = nfd, .events = POLLIN };
        int fds[253];
        size_t n_fds = 0;
        ssize_t n;

        if (poll(&p, 1, ms) <= 0)
                return false;
        n = recvmsg(nfd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        ck_assert_int_ge(n, 0);
        ck_assert(!(mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)));
        text[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        n_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        memcpy(fds, CMSG_DATA(c), n_fds * sizeof(int));
                }

        if (strstr(text, "READY=1"))
                st->n_ready++;
        if (field(text, "FDSTORE=", name, sizeof(name))) {
                ck_assert_str_eq(name, "1");
                ck_assert_msg(field(text, "FDNAME=", name, sizeof(name)), "FDSTORE without FDNAME: '%s'", text);
                ck_assert_msg(strstr(text, "\nFDPOLL=0"), "FDSTORE without FDPOLL=0: '%s'", text);
                ck_assert_uint_eq(n_fds, 1);
                ck_assert_uint_lt(st->n, MAX_STORED);
                snprintf(st->names[st->n], sizeof(st->names[0]), "%s", name);
                st->fds[st->n++] = fds[0];
                st->n_pushed++;
                return true;
        }
        ck_assert_uint_eq(n_fds, 0);
        if (field(text, "FDSTOREREMOVE=", name, sizeof(name))) {
                ck_assert_msg(field(text, "FDNAME=", name, sizeof(name)), "FDSTOREREMOVE without FDNAME");
                ck_assert_uint_lt(st->n_removed, MAX_STORED);
                snprintf(st->removed[st->n_removed++], sizeof(st->removed[0]), "%s", name);
        }
        return true;
}

/* Reads notifications until one contains needle (or st->n reaches want_stored). */
static void store_wait(Store *st, int nfd, const char *needle, size_t want_stored) {
        long long deadline = test_now_ms() + WAIT_MS;
        unsigned ready = st->n_ready;

        for (;;) {
                if (needle && strcmp(needle, "READY=1") == 0 && st->n_ready > ready)
                        return;
                if (!needle && st->n >= want_stored)
                        return;
                ck_assert_msg(test_now_ms() < deadline, "no '%s' from the daemon (%zu stored)", needle ? needle : "fds",
                              st->n);
                store_read(st, nfd, 100);
        }
}

/* ---- clients ------------------------------------------------------------------------- */

static netutil_client *client_as(uid_t uid) {
        netutil_client *c = NULL;

        ck_assert_int_eq(seteuid(uid), 0); /* SO_PEERCRED records the euid at connect() */
        ck_assert_int_eq(netutil_client_open(socket_path(), &c), 0);
        ck_assert_int_eq(seteuid(0), 0);
        return c;
}

/* BIND with a name and hold (address NULL: both families on one port). Returns the count. */
static int bind_held(netutil_client *c, const char *name, const char *address, netutil_socket **ret) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        int n;

        o.port = "0";
        o.address = address;
        o.name = name;
        o.hold = 1;
        n = netutil_bind(c, &o, 0, ret);
        ck_assert_msg(n > 0, "bind '%s': %s (%s)", name, strerror(-n), netutil_client_error_message(c) ?: "");
        return n;
}

/* BIND_UNIX at DIR/app.sock with a name and hold. */
static void bind_unix_held(netutil_client *c, const char *name, netutil_socket **ret) {
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        char path[128];
        int n;

        o.path = path_in_dir(path, sizeof(path), "app.sock");
        o.name = name;
        o.hold = 1;
        n = netutil_bind_unix(c, &o, 0, ret);
        ck_assert_msg(n == 1, "bind-unix '%s': %s (%s)", name, strerror(-n), netutil_client_error_message(c) ?: "");
}

static int unix_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        path_in_dir(sa.sun_path, sizeof(sa.sun_path), "app.sock");
        ck_assert_msg(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect to app.sock: %s",
                      strerror(errno));
        return fd;
}

static int bind_member(netutil_client *c, const char *group, netutil_socket **ret) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        int n;

        o.port = "0";
        o.address = "127.0.0.1";
        o.name = group;
        o.reuse_port = 1;
        n = netutil_bind(c, &o, 0, ret);
        ck_assert_msg(n == 1, "group member of '%s': %s", group, strerror(-n));
        return n;
}

static unsigned socket_port(const netutil_socket *s) {
        return test_sockaddr_port(&s->address);
}

/* Accepts one connection on listener fd within ms; asserts that one comes. */
static void assert_accepts(int fd, const char *what) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int c;

        ck_assert_msg(poll(&p, 1, CONNECT_TIMEOUT_MS) == 1, "no queued connection on %s", what);
        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_msg(c >= 0, "accept on %s: %s", what, strerror(errno));
        close(c);
}

/* The expected FDNAME of socket i of a held name. */
static const char *held_fdname(char *buf, size_t len, const netutil_socket *s, uid_t owner, size_t i,
                               const char *name) {
        return test_fmt(buf, len, "h.%s.%u.128.%zu.%s", s->family == AF_INET ? "tcp4" : "tcp6", (unsigned) owner, i,
                        name);
}

/* Whether pid has an fd whose link is target ("socket:[INO]", "pipe:[INO]"). */
static bool has_fd_to(pid_t pid, const char *target) {
        char path[64], link[384], buf[128];
        struct dirent *de;
        bool found = false;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                ssize_t k;
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                k = readlink(link, buf, sizeof(buf) - 1);
                if (k > 0) {
                        buf[k] = '\0';
                        if (strcmp(buf, target) == 0)
                                found = true;
                }
        }
        closedir(d);
        return found;
}

/* The sockets pid has open: what two daemons are compared by (under valgrind their other
 * fds differ, e.g. the wrapper script's, which lands above passed fds). */
static int count_sockets(pid_t pid) {
        char path[64], link[384], buf[128];
        struct dirent *de;
        int n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                ssize_t k;
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                k = readlink(link, buf, sizeof(buf) - 1);
                if (k > 0) {
                        buf[k] = '\0';
                        n += strncmp(buf, "socket:", 7) == 0;
                }
        }
        closedir(d);
        return n;
}

static const char *fd_target(char *buf, size_t len, int fd) {
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return test_fmt(buf, len, "%s:[%lu]", S_ISFIFO(st.st_mode) ? "pipe" : "socket", (unsigned long) st.st_ino);
}

static bool file_contains(const char *name, const char *needle) {
        char path[128], buf[65536];
        size_t n;
        FILE *f = fopen(path_in_dir(path, sizeof(path), name), "re");

        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return strstr(buf, needle) != NULL;
}

/* ---- the fd store -------------------------------------------------------------------- */

START_TEST(test_fd_store_round_trip_of_300_held_sockets_keeps_every_port_and_its_queue) {
        static Store st;
        static unsigned ports[N_NAMES];
        static int clients[2 * N_NAMES];
        char name[64], want[256], names[MAX_STORED * 40], out[65536], err[4096];
        netutil_client *root = NULL, *nobody = NULL;
        netutil_socket *s = NULL;
        netutil_held *held = NULL;
        int order[MAX_STORED];
        unsigned group_port;
        int nfd, baseline, n, unix_client, sockets;
        pid_t pid;

        nfd = notify_socket("notify");
        pid = spawn_daemon("notify", "4096", NULL, 0, NULL, NULL, NULL, NULL);
        store_wait(&st, nfd, "READY=1", 0);
        baseline = daemon_fds(pid);

        root = client_as(0);
        nobody = client_as(NOBODY);
        for (unsigned i = 0; i < N_NAMES; i++) {
                netutil_client *c = i < N_NOBODY_NAMES ? nobody : root;
                uid_t owner = i < N_NOBODY_NAMES ? NOBODY : 0;
                size_t before = st.n;

                snprintf(name, sizeof(name), "app-%03u", i);
                n = bind_held(c, name, NULL, &s);
                ck_assert_int_eq(n, 2);
                ck_assert_int_eq(socket_port(&s[0]), socket_port(&s[1]));
                ports[i] = socket_port(&s[0]);
                /* One FDSTORE=1 per socket, named after it. */
                store_wait(&st, nfd, NULL, before + 2);
                for (size_t k = 0; k < 2; k++)
                        ck_assert_str_eq(st.names[before + k], held_fdname(want, sizeof(want), &s[k], owner, k, name));
                s = netutil_sockets_free(s, (size_t) n); /* the app goes */
        }
        ck_assert_int_eq(bind_member(root, "grp", &s), 1);
        group_port = socket_port(&s[0]);
        s = netutil_sockets_free(s, 1);
        store_wait(&st, nfd, NULL, 2 * N_NAMES + 1);
        ck_assert_str_eq(st.names[2 * N_NAMES], "g.tcp4.0.128.0.grp");
        /* And a held unix socket. */
        bind_unix_held(root, "usock", &s);
        s = netutil_sockets_free(s, 1);
        store_wait(&st, nfd, NULL, STORED);
        ck_assert_str_eq(st.names[2 * N_NAMES + 1], "h.unix.0.128.0.usock");
        ck_assert_uint_eq(st.n, STORED);
        /* Each stored socket, and the two client connections. */
        test_daemon_assert_fds(&(TestDaemon) { .pid = pid }, baseline + STORED + 2, baseline);
        root = netutil_client_close(root);
        nobody = netutil_client_close(nobody);
        test_daemon_assert_fds(&(TestDaemon) { .pid = pid }, baseline + STORED, baseline);
        sockets = count_sockets(pid);

        /* The daemon stops; nothing is removed from the store. */
        stop_daemon_cleanly(pid);
        while (store_read(&st, nfd, 200))
                ;
        ck_assert_uint_eq(st.n_removed, 0);

        /* Clients of the app connect while no daemon runs: the stored sockets listen. */
        for (unsigned i = 0; i < N_NAMES; i++) {
                clients[2 * i] = test_tcp_connect("127.0.0.1", ports[i], CONNECT_TIMEOUT_MS);
                clients[2 * i + 1] = test_tcp_connect("::1", ports[i], CONNECT_TIMEOUT_MS);
                ck_assert_msg(clients[2 * i] >= 0 && clients[2 * i + 1] >= 0, "connect to port %u: %s", ports[i],
                              strerror(-MIN(clients[2 * i], clients[2 * i + 1])));
        }
        unix_client = unix_connect();

        /* The restart, with the store in reverse order: indexes, not order, place sockets. */
        names[0] = '\0';
        for (size_t i = 0; i < st.n; i++) {
                order[i] = st.fds[st.n - 1 - i];
                if (i > 0)
                        strcat(names, ":");
                strcat(names, st.names[st.n - 1 - i]);
        }
        st.n_pushed = 0;
        pid = spawn_daemon("notify", "4096", order, st.n, names, NULL, NULL, NULL);
        store_wait(&st, nfd, "READY=1", 0);
        store_clear(&st); /* the new daemon holds them now */
        ck_assert_uint_eq(st.n_pushed, 0); /* already in the store: not pushed again */
        /* The same sockets as the first daemon: the adopted ones, no more. */
        baseline = daemon_fds(pid);
        ck_assert_int_eq(count_sockets(pid), sockets);

        /* The same names, owners and sockets. */
        root = client_as(0);
        n = netutil_hold_list(root, 0, &held);
        ck_assert_int_eq(n, N_NAMES + 1);
        for (int i = 0; i < n; i++) {
                unsigned k;
                if (strcmp(held[i].name, "usock") == 0) {
                        ck_assert_uint_eq(held[i].owner_uid, 0);
                        ck_assert_uint_eq(held[i].n_sockets, 1);
                        ck_assert_int_eq(held[i].sockets[0].family, AF_UNIX);
                        continue;
                }
                ck_assert_int_eq(sscanf(held[i].name, "app-%u", &k), 1);
                ck_assert_uint_lt(k, N_NAMES);
                ck_assert_uint_eq(held[i].owner_uid, k < N_NOBODY_NAMES ? NOBODY : 0);
                ck_assert_uint_eq(held[i].n_sockets, 2);
                ck_assert_uint_eq(socket_port(&held[i].sockets[0]), ports[k]);
                ck_assert_uint_eq(socket_port(&held[i].sockets[1]), ports[k]);
        }
        held = netutil_held_free(held, (size_t) n);
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("--json", "status"), out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, "\"held\": 301"), "status: %s", out);

        /* The app comes back: each name gives the same sockets, with the queued clients. */
        nobody = client_as(NOBODY);
        for (unsigned i = 0; i < N_NAMES; i++) {
                snprintf(name, sizeof(name), "app-%03u", i);
                n = bind_held(i < N_NOBODY_NAMES ? nobody : root, name, "192.0.2.1", &s);
                ck_assert_int_eq(n, 2);
                for (int k = 0; k < n; k++) {
                        ck_assert_uint_eq(socket_port(&s[k]), ports[i]);
                        assert_accepts(s[k].fd, name);
                }
                s = netutil_sockets_free(s, (size_t) n);
                close(clients[2 * i]);
                close(clients[2 * i + 1]);
        }
        bind_unix_held(root, "usock", &s);
        assert_accepts(s[0].fd, "usock");
        s = netutil_sockets_free(s, 1);
        close(unix_client);
        /* The group kept its port: a new member gets it. */
        ck_assert_int_eq(bind_member(root, "grp", &s), 1);
        ck_assert_uint_eq(socket_port(&s[0]), group_port);
        s = netutil_sockets_free(s, 1);

        /* Release: FDSTOREREMOVE for each socket of the name; the daemon lets them go. */
        ck_assert_int_eq(netutil_hold_release(nobody, "app-000", 0), 0);
        ck_assert_int_eq(netutil_hold_release(root, "grp", 0), 0);
        while (st.n_removed < 3 && store_read(&st, nfd, 2000))
                ;
        ck_assert_uint_eq(st.n_removed, 3);
        ck_assert(strncmp(st.removed[0], "h.tcp", 5) == 0 && strstr(st.removed[0], ".65534.128.0.app-000"));
        ck_assert(strncmp(st.removed[1], "h.tcp", 5) == 0 && strstr(st.removed[1], ".65534.128.1.app-000"));
        ck_assert_str_eq(st.removed[2], "g.tcp4.0.128.0.grp");
        test_daemon_assert_fds(&(TestDaemon) { .pid = pid }, baseline - 3 + 2, baseline);

        root = netutil_client_close(root);
        nobody = netutil_client_close(nobody);
        test_daemon_assert_fds(&(TestDaemon) { .pid = pid }, baseline - 3, baseline);
        stop_daemon_cleanly(pid);
        while (store_read(&st, nfd, 100))
                ;
        store_clear(&st);
        close(nfd);
}
END_TEST

START_TEST(test_fd_store_messages_wait_in_order_while_the_service_manager_has_no_room) {
        static Store st;
        char name[64], want[256];
        netutil_client *root = NULL;
        netutil_socket *s = NULL;
        long long start, took, slowest = 0;
        size_t removal_at = 0;
        int nfd;
        pid_t pid;

        nfd = notify_socket("notify");
        pid = spawn_daemon("notify", "4096", NULL, 0, NULL, NULL, NULL, NULL);
        store_wait(&st, nfd, "READY=1", 0);
        root = client_as(0);
        /* We read nothing meanwhile: the socket's queue (net.unix.max_dgram_qlen, 10 in a new
         * network namespace) fills, and binds go on without waiting for it. */
        for (unsigned i = 0; i < 20; i++) {
                snprintf(name, sizeof(name), "q-%03u", i);
                start = test_now_ms();
                ck_assert_int_eq(bind_held(root, name, "127.0.0.1", &s), 1);
                took = test_now_ms() - start;
                slowest = MAX(slowest, took);
                s = netutil_sockets_free(s, 1);
        }
        /* Released before its FDSTORE=1 could go: that one is dropped, the removal is sent. */
        ck_assert_int_eq(netutil_hold_release(root, "q-019", 0), 0);
        ck_assert_msg(slowest < 1000, "a bind took %lld ms while the notify queue was full", slowest);

        while (st.n_removed < 1 && store_read(&st, nfd, 5000))
                removal_at = st.n;
        ck_assert_uint_eq(st.n_removed, 1);
        ck_assert_str_eq(st.removed[0], "h.tcp4.0.128.0.q-019");
        /* Every other name arrived, in order, before the removal. */
        ck_assert_uint_eq(removal_at, 19);
        for (unsigned i = 0; i < 19; i++)
                ck_assert_str_eq(st.names[i], test_fmt(want, sizeof(want), "h.tcp4.0.128.0.q-%03u", i));
        while (store_read(&st, nfd, 300))
                ;
        ck_assert_uint_eq(st.n, 19);

        root = netutil_client_close(root);
        stop_daemon_cleanly(pid);
        store_clear(&st);
        close(nfd);
}
END_TEST

START_TEST(test_malformed_and_foreign_passed_fds_are_closed_with_a_warning_and_the_daemon_serves) {
        static Store st;
        char names[1024], target[64], out[4096], err[4096];
        struct sockaddr_storage ss;
        int fds[6], pipefd[2], nfd, one = 1;
        unsigned good_port;
        netutil_client *root = NULL;
        netutil_socket *s = NULL;
        pid_t pid;

        /* A real held-looking listener, the one that must be adopted. */
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fds[0], 0);
        ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        ck_assert_int_eq(bind(fds[0], (struct sockaddr *) &ss, test_make_sockaddr("127.0.0.1", 0, &ss)), 0);
        ck_assert_int_eq(listen(fds[0], 128), 0);
        good_port = test_fd_port(fds[0]);
        /* A TCP listener whose name claims UDP. */
        fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(bind(fds[1], (struct sockaddr *) &ss, test_make_sockaddr("127.0.0.1", 0, &ss)), 0);
        ck_assert_int_eq(listen(fds[1], 8), 0);
        /* A pipe with a held socket's name. */
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        fds[2] = pipefd[0];
        /* Garbage names, and a name of someone else's. */
        fds[3] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        fds[4] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        /* An anchor name on a socket without SO_REUSEPORT. */
        fds[5] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(names, sizeof(names), "%s",
                 "h.tcp4.0.128.0.good:h.udp4.0.128.0.liar:h.tcp4.0.128.0.pipe:h.tcp4.x.128.0.bad:foo.socket:"
                 "g.tcp4.0.128.0.anchor");

        nfd = notify_socket("notify");
        pid = spawn_daemon("notify", NULL, fds, ELEMENTSOF(fds), names, NULL, NULL, "daemon.log");
        store_wait(&st, nfd, "READY=1", 0);

        /* Only "good" is held; the others are closed in the daemon. */
        for (size_t i = 1; i < ELEMENTSOF(fds); i++)
                ck_assert_msg(!has_fd_to(pid, fd_target(target, sizeof(target), fds[i])), "daemon keeps passed fd %zu",
                              i);
        ck_assert(has_fd_to(pid, fd_target(target, sizeof(target), fds[0])));
        ck_assert(file_contains("daemon.log", "Closing passed file descriptor 4 'h.udp4.0.128.0.liar': a socket of "
                                              "family 2 and type 1, not what its name says."));
        ck_assert(file_contains("daemon.log", "Closing passed file descriptor 5 'h.tcp4.0.128.0.pipe': not a socket"));
        ck_assert(file_contains("daemon.log", "Closing passed file descriptor 6 ('h.tcp4.x.128.0.bad') that is not ours."));
        ck_assert(file_contains("daemon.log", "Closing passed file descriptor 7 ('foo.socket') that is not ours."));
        ck_assert(file_contains("daemon.log", "Closing passed file descriptor 8 'g.tcp4.0.128.0.anchor': a group "
                                              "anchor without SO_REUSEPORT."));

        /* It serves: the adopted name gives the passed socket, status answers. */
        root = client_as(0);
        ck_assert_int_eq(bind_held(root, "good", NULL, &s), 1);
        ck_assert_uint_eq(socket_port(&s[0]), good_port);
        s = netutil_sockets_free(s, 1);
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("hold", "list"), out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_str_eq(out, test_fmt(names, sizeof(names), "good 0 ipv4 stream 127.0.0.1 %u\n", good_port));
        root = netutil_client_close(root);
        stop_daemon_cleanly(pid);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                close(fds[i]);
        close(pipefd[1]);
        while (store_read(&st, nfd, 100))
                ;
        store_clear(&st);
        close(nfd);
}
END_TEST

/* ---- the successor hand-over --------------------------------------------------------- */

/* A child that connects to the control socket over and over until told to stop, then
 * writes {connected, refused (ECONNREFUSED or ENOENT), other errors}. */
static pid_t start_connect_loop(int *ret_stop, int *ret_result) {
        int stop[2], result[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                unsigned counts[3] = {};
                long long deadline = test_now_ms() + 30000;

                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path());
                for (;;) {
                        struct pollfd p = { .fd = stop[0], .events = POLLIN };
                        int fd;

                        if (poll(&p, 1, 0) != 0 || test_now_ms() > deadline)
                                break;
                        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                        if (fd < 0)
                                _exit(2);
                        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                                counts[0]++;
                        else if (errno == ECONNREFUSED || errno == ENOENT)
                                counts[1]++;
                        else
                                counts[2]++;
                        close(fd);
                        usleep(2000); /* a few hundred a second: the backlog never fills */
                }
                _exit(write(result[1], counts, sizeof(counts)) == sizeof(counts) ? 0 : 1);
        }
        close(stop[0]);
        close(result[1]);
        *ret_stop = stop[1];
        *ret_result = result[0];
        return pid;
}

static void stop_connect_loop(pid_t pid, int stop, int result, unsigned counts[3]) {
        int status = 0;

        ck_assert_int_eq(write(stop, "x", 1), 1);
        ck_assert_int_eq(read(result, counts, 3 * sizeof(unsigned)), (ssize_t) (3 * sizeof(unsigned)));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(stop);
        close(result);
}

/* Daemon A with held names (root's "web", nobody's "nob", and n_more of root's "more-N" of
 * two sockets each, held before those) and root's group "grp"; a client queued on web's port. */
typedef struct Old {
        pid_t pid;
        int nfd;
        unsigned web_port, nob_port, group_port;
        unsigned more_ports[N_NAMES];
        int queued;
        int fds, sockets;
} Old;

static void start_old(Old *o, Store *st, unsigned n_more) {
        netutil_client *root = NULL, *nobody = NULL;
        netutil_socket *s = NULL;
        char name[64];

        o->nfd = notify_socket("notify");
        o->pid = spawn_daemon("notify", NULL, NULL, 0, NULL, NULL, NULL, NULL);
        store_wait(st, o->nfd, "READY=1", 0);
        root = client_as(0);
        nobody = client_as(NOBODY);
        for (unsigned i = 0; i < n_more; i++) {
                ck_assert_int_eq(bind_held(root, test_fmt(name, sizeof(name), "more-%03u", i), NULL, &s), 2);
                o->more_ports[i] = socket_port(&s[0]);
                s = netutil_sockets_free(s, 2);
        }
        ck_assert_int_eq(bind_held(root, "web", "127.0.0.1", &s), 1);
        o->web_port = socket_port(&s[0]);
        s = netutil_sockets_free(s, 1);
        ck_assert_int_eq(bind_held(nobody, "nob", "::1", &s), 1);
        o->nob_port = socket_port(&s[0]);
        s = netutil_sockets_free(s, 1);
        ck_assert_int_eq(bind_member(root, "grp", &s), 1);
        o->group_port = socket_port(&s[0]);
        s = netutil_sockets_free(s, 1);
        root = netutil_client_close(root);
        nobody = netutil_client_close(nobody);
        o->queued = test_tcp_connect("127.0.0.1", o->web_port, CONNECT_TIMEOUT_MS);
        ck_assert_int_ge(o->queued, 0);
        o->fds = daemon_fds(o->pid);
        o->sockets = count_sockets(o->pid);
        ck_assert_uint_eq(st->n_pushed, 0); /* no $FDSTORE: nothing goes to the notify socket */
}

START_TEST(test_takeover_hands_everything_to_the_successor_without_refusing_a_client) {
        static Store st, st_b;
        char out[4096], err[4096], want[512];
        netutil_client *root = NULL;
        netutil_socket *s = NULL;
        netutil_held *held = NULL;
        unsigned counts[3];
        int stop, result, nfd_b, status, n;
        pid_t loop, b;
        Old o;

        /* 304 fds to hand over: a reply of two parts. */
        start_old(&o, &st, N_NAMES);
        loop = start_connect_loop(&stop, &result);
        usleep(100 * 1000);

        nfd_b = notify_socket("notify-b");
        b = spawn_daemon("notify-b", NULL, NULL, 0, NULL, NULL, ARGS("--takeover"), "b.log");
        store_wait(&st_b, nfd_b, "READY=1", 0);
        /* A hands over and exits 0. */
        status = wait_exit(o.pid, WAIT_MS);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "old daemon: 0x%x", status);
        usleep(100 * 1000);
        stop_connect_loop(loop, stop, result, counts);
        ck_assert_msg(counts[0] > 0 && counts[1] == 0 && counts[2] == 0,
                      "connects: %u ok, %u refused, %u other errors", counts[0], counts[1], counts[2]);

        /* B serves A's listener, names, owners and group, with as many sockets as A had. */
        (void) daemon_fds(b);
        ck_assert_int_eq(count_sockets(b), o.sockets);
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("--json", "status"), out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, test_fmt(want, sizeof(want), "\"pid\": %d,", (int) b)), "status: %s", out);
        /* Clients see B as the listener's peer (B listen()ed again), not A: the NSS module
         * tells the daemon's own lookups by that pid. */
        {
                int fd = test_raw_connect(socket_path());
                struct ucred peer;
                socklen_t len = sizeof(peer);

                ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len), 0);
                ck_assert_int_eq(peer.pid, b);
                close(fd);
        }
        root = client_as(0);
        n = netutil_hold_list(root, 0, &held);
        ck_assert_int_eq(n, 2 + N_NAMES);
        ck_assert_str_eq(held[0].name, "nob"); /* newest first, as before */
        ck_assert_uint_eq(held[0].owner_uid, NOBODY);
        ck_assert_uint_eq(socket_port(&held[0].sockets[0]), o.nob_port);
        ck_assert_str_eq(held[1].name, "web");
        ck_assert_uint_eq(held[1].owner_uid, 0);
        for (unsigned i = 0; i < N_NAMES; i++) {
                const netutil_held *h = &held[2 + N_NAMES - 1 - i];
                ck_assert_str_eq(h->name, test_fmt(want, sizeof(want), "more-%03u", i));
                ck_assert_uint_eq(h->n_sockets, 2);
                ck_assert_uint_eq(socket_port(&h->sockets[0]), o.more_ports[i]);
                ck_assert_uint_eq(socket_port(&h->sockets[1]), o.more_ports[i]);
        }
        held = netutil_held_free(held, (size_t) n);
        /* The queued client reaches the app through B. */
        ck_assert_int_eq(bind_held(root, "web", NULL, &s), 1);
        ck_assert_uint_eq(socket_port(&s[0]), o.web_port);
        assert_accepts(s[0].fd, "web");
        s = netutil_sockets_free(s, 1);
        ck_assert_int_eq(bind_member(root, "grp", &s), 1);
        ck_assert_uint_eq(socket_port(&s[0]), o.group_port);
        s = netutil_sockets_free(s, 1);
        root = netutil_client_close(root);

        stop_daemon_cleanly(b);
        ck_assert_int_eq(access(socket_path(), F_OK), -1); /* B owned the node and removed it */
        close(o.queued);
        close(o.nfd);
        close(nfd_b);
}
END_TEST

START_TEST(test_takeover_by_nobody_is_refused_in_words_and_the_old_daemon_serves_on) {
        static Store st;
        char out[4096], err[4096], state[] = "/tmp/netutild-nobody-state.XXXXXX";
        netutil_client *root = NULL;
        netutil_socket *s = NULL;
        /* A state directory of nobody's own: the daemon refuses to start on any other. */
        const char *argv[] = { test_setpriv_bin(), "--reuid=65534", "--regid=65534", "--clear-groups",
                               test_netutild_bin(), "--user", "--socket", socket_path(), "--state-dir", state,
                               "--takeover", NULL };
        Old o;

        ck_assert_ptr_nonnull(mkdtemp(state));
        ck_assert_int_eq(chown(state, 65534, 65534), 0);
        start_old(&o, &st, 0);
        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, "The running netutild refused the takeover: Permission denied: only root or uid 0 "
                                  "(the daemon's) may take over netutild"),
                      "stderr: %s", err);
        test_rm_rf(state);
        /* A serves on, with everything, and the refused connection gone. */
        test_daemon_assert_fds(&(TestDaemon) { .pid = o.pid }, o.fds, o.fds);
        root = client_as(0);
        ck_assert_int_eq(bind_held(root, "web", NULL, &s), 1);
        ck_assert_uint_eq(socket_port(&s[0]), o.web_port);
        assert_accepts(s[0].fd, "web");
        s = netutil_sockets_free(s, 1);
        root = netutil_client_close(root);
        test_daemon_assert_fds(&(TestDaemon) { .pid = o.pid }, o.fds, o.fds);
        stop_daemon_cleanly(o.pid);
        close(o.queued);
        close(o.nfd);
}
END_TEST

/* Plays a successor's take: TAKEOVER with serial 1 on a new connection, every reply part
 * read. Returns the connection; *ret_fds the number of fds handed over (closed here). */
static int take_sockets(size_t *ret_fds) {
        static ProtoRecv rcv;
        ProtoMsg *m = NULL;
        size_t fds = 0;
        int fd;

        fd = test_raw_connect(socket_path());
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_TAKEOVER, 1, &m), 0);
        ck_assert_int_eq(proto_send(fd, m), 0);
        m = proto_msg_free(m);
        for (bool more = true; more;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ProtoView v;

                ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
                ck_assert_int_gt(proto_recv(fd, &rcv), 0);
                ck_assert_int_eq(proto_parse(rcv.buf, rcv.size, &v), 0);
                ck_assert_int_eq(v.header.status, 0);
                more = v.header.flags & PROTO_FLAG_MORE;
                fds += rcv.n_fds;
                proto_recv_clear(&rcv);
        }
        *ret_fds = fds;
        return fd;
}

START_TEST(test_abandoned_takeover_leaves_the_old_daemon_serving) {
        static Store st;
        char out[4096], err[4096];
        size_t items_fds = 0;
        int fd;
        Old o;

        start_old(&o, &st, 0);
        /* A successor that takes the sockets and dies before its commit. */
        fd = take_sockets(&items_fds);
        ck_assert_uint_eq(items_fds, 4); /* control socket, web, nob, the group's anchor */
        /* Meanwhile A accepts no one: a client waits in the backlog. */
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("--timeout", "0.3", "status"), out, sizeof(out), err,
                                  sizeof(err)), 1);
        close(fd);
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("status"), out, sizeof(out), err, sizeof(err)), 0);
        test_daemon_assert_fds(&(TestDaemon) { .pid = o.pid }, o.fds, o.fds);
        stop_daemon_cleanly(o.pid);
        close(o.queued);
        close(o.nfd);
}
END_TEST

/* The predecessor's wait for a commit (daemon/fdstore.h, TAKEOVER_TIMEOUT_USEC), and its
 * timer's poll period on top. */
#define TAKEOVER_TIMEOUT_MS 10000
#define TAKEOVER_CHECK_MS 100

/* Fails without the predecessor dropping the connection of a successor it gave up on: the
 * late commit then reads as a new take, is answered with every socket again, and the old
 * daemon pauses, so that the two would serve the same sockets. */
START_TEST(test_a_successor_that_commits_too_late_is_dropped_and_the_old_daemon_serves_on) {
        static Store st;
        static ProtoRecv rcv;
        char out[4096], err[4096];
        struct pollfd p;
        ProtoMsg *m = NULL;
        size_t items_fds = 0;
        ssize_t n;
        int fd;
        Old o;

        start_old(&o, &st, 0);
        fd = take_sockets(&items_fds);
        ck_assert_uint_eq(items_fds, 4);
        /* The successor stalls past the deadline: the old daemon gives up and serves again. */
        usleep((TAKEOVER_TIMEOUT_MS + 20 * TAKEOVER_CHECK_MS) * 1000);
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("--timeout", "2", "status"), out, sizeof(out), err,
                                  sizeof(err)), 0);
        /* Its connection is gone: the commit gets no answer but the hang-up. */
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_TAKEOVER, 2, &m), 0);
        (void) proto_send(fd, m);
        m = proto_msg_free(m);
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        n = proto_recv(fd, &rcv);
        ck_assert_msg(n <= 0, "the abandoned successor's commit got a %zd-byte answer with %u fds", n, rcv.n_fds);
        proto_recv_clear(&rcv);
        close(fd);
        /* Not paused by it: a client is served at once. */
        ck_assert_int_eq(test_ctl(socket_path(), NULL, ARGS("--timeout", "0.3", "status"), out, sizeof(out), err,
                                  sizeof(err)), 0);
        test_daemon_assert_fds(&(TestDaemon) { .pid = o.pid }, o.fds, o.fds);
        stop_daemon_cleanly(o.pid);
        close(o.queued);
        close(o.nfd);
}
END_TEST

/* The fake predecessor's side: waits for a TAKEOVER with serial on c. */
static void expect_takeover(int c, uint32_t serial) {
        static ProtoRecv rcv;
        struct pollfd p = { .fd = c, .events = POLLIN };
        ProtoView v;

        ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        ck_assert_int_gt(proto_recv(c, &rcv), 0);
        ck_assert_int_eq(proto_parse(rcv.buf, rcv.size, &v), 0);
        ck_assert_uint_eq(v.header.type, PROTO_MSG_TAKEOVER);
        ck_assert_uint_eq(v.header.serial, serial);
        proto_recv_clear(&rcv);
}

/* Fails without the successor's check of its commit's answer: it went on to serve next to a
 * predecessor that had given up on it (here, a fake one that hands over its listener and
 * then drops the connection instead of acknowledging the commit). */
START_TEST(test_a_successor_whose_commit_is_not_acknowledged_exits_without_serving) {
        static Store st_b;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
        char logpath[128], log[4096] = "";
        const void *attrs;
        size_t len;
        int l, c, nfd_b, status;
        pid_t b;
        FILE *f;

        l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(l, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path());
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(l, 16), 0);

        nfd_b = notify_socket("notify-b");
        b = spawn_daemon("notify-b", NULL, NULL, 0, NULL, NULL, ARGS("--takeover"), "b.log");
        {
                struct pollfd p = { .fd = l, .events = POLLIN };
                ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        }
        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(c, 0);
        /* The take: answered with the listener alone, as a predecessor without held sockets. */
        expect_takeover(c, 1);
        ck_assert_int_eq(proto_reply_new(PROTO_MSG_TAKEOVER, 1, &reply), 0);
        ck_assert_int_eq(proto_msg_new(0, 0, &item), 0);
        ck_assert_int_eq(proto_msg_append_u32(item, PROTO_ATTR_FAMILY, AF_UNIX), 0);
        ck_assert_int_eq(proto_msg_append_u32(item, PROTO_ATTR_SOCKTYPE, SOCK_SEQPACKET), 0);
        attrs = proto_msg_attrs(item, &len);
        ck_assert_int_eq(proto_reply_add_item(reply, attrs, len, fcntl(l, F_DUPFD_CLOEXEC, 3)), 0);
        ck_assert_uint_eq(reply->n_parts, 1);
        ck_assert_int_eq(proto_send(c, reply->parts[0]), 0);
        /* The commit comes; the fake predecessor drops the connection without an answer. */
        expect_takeover(c, 2);
        close(c);
        status = wait_exit(b, WAIT_MS);
        if (status == -1)
                store_wait(&st_b, nfd_b, "READY=1", 0); /* only to show it, then fail */
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0,
                      "the successor went on serving (0x%x)", status);
        untrack(b);
        f = fopen(path_in_dir(logpath, sizeof(logpath), "b.log"), "re");
        ck_assert_ptr_nonnull(f);
        log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
        fclose(f);
        ck_assert_msg(strstr(log, "did not acknowledge the takeover, so it serves on"), "log: %s", log);
        /* The node is still the predecessor's. */
        ck_assert_int_eq(access(socket_path(), F_OK), 0);
        close(l);
        close(nfd_b);
}
END_TEST

static Suite *fdstore_suite(void) {
        Suite *s = suite_create("fdstore");
        TCase *tc;

        tc = test_tcase_add(s, "fd store", 120, setup, teardown, NULL);
        tcase_add_test(tc, test_fd_store_round_trip_of_300_held_sockets_keeps_every_port_and_its_queue);
        tcase_add_test(tc, test_fd_store_messages_wait_in_order_while_the_service_manager_has_no_room);
        tcase_add_test(tc, test_malformed_and_foreign_passed_fds_are_closed_with_a_warning_and_the_daemon_serves);
        tc = test_tcase_add(s, "successor hand-over", 60, setup, teardown, NULL);
        tcase_add_test(tc, test_takeover_hands_everything_to_the_successor_without_refusing_a_client);
        tcase_add_test(tc, test_takeover_by_nobody_is_refused_in_words_and_the_old_daemon_serves_on);
        tcase_add_test(tc, test_abandoned_takeover_leaves_the_old_daemon_serving);
        tcase_add_test(tc, test_a_successor_that_commits_too_late_is_dropped_and_the_old_daemon_serves_on);
        tcase_add_test(tc, test_a_successor_whose_commit_is_not_acknowledged_exits_without_serving);
        return s;
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "check-fdstore needs root (network namespaces, setpriv); skipped.\n");
                return 77;
        }
        return test_run_suite(fdstore_suite(), true);
}
