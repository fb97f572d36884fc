/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of reuseport groups (DESIGN.md §5, daemon/group.c): BIND with
 * reuse_port and a name but no hold hands out a new member socket of a group the daemon
 * owns, one per address, all on one port; the daemon keeps a bound, non-listening anchor
 * per address so that the port stays the group's while no member lives. Covers the first
 * and further members (distinct sockets, same port, SO_REUSEPORT), the kernel sharing
 * connections among members, the anchor keeping the port, joining across uids (only by
 * an explicit AllowBind rule), TCP only, release with `hold release`, both families, two
 * first requests at once, and the per-uid quota.
 *
 * Every test runs in its own network namespace (Check's fork mode: one process per test)
 * with only lo up, so ports are deterministic. The tests run as root. Every test checks
 * the daemon's fd count: its baseline plus one anchor per address of each live group, and
 * the baseline again once the groups are released.
 *
 * The binary doubles as the program that `netutilctl bind ... -- COMMAND` executes:
 * started as `check-group --exec-probe`, it describes what it was handed, including
 * whether a connection to each listening socket's port reaches it (see exec_probe()).
 */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"

/* The NULL-terminated argument list of a command line. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* setpriv(1) arguments for the unprivileged clients. 65534 is nobody (and nogroup). */
#define AS_ROOT NULL
#define AS_NOBODY ARGS("--reuid=65534", "--regid=65534", "--clear-groups")
#define AS_UID_1 ARGS("--reuid=1", "--regid=1", "--clear-groups")

/* How long our own TCP clients wait for connect() (SO_SNDTIMEO): -EINPROGRESS after that,
 * as when the SYN lands in a full queue. */
#define CONNECT_TIMEOUT_MS 2000

/* A uid that is neither root nor the daemon's, for sockets made outside the daemon. */
#define OTHER_UID 1234

/* The refusal a uid gets for a group someone else created. */
#define NOT_YOURS(group, owner)                                                                                \
        "Permission denied by policy: the reuseport group '" group "' belongs to uid " owner                 \
        "; joining it needs an AllowBind rule for its port"
#define TCP_ONLY                                                                                               \
        "Reuseport groups are TCP only (a UDP anchor would take datagrams); bind UDP with --reuse-port and no " \
        "--name"

static TestDaemon daemon_;
static int baseline_fds;
static char self_exe[PATH_MAX];
/* The last ctl() run's output. */
static char out[65536], err[8192];

/* ---- isolation ----------------------------------------------------------------------- */

/* Checked fixture: a fresh network namespace with lo up, entered before the daemon starts
 * so that it inherits it. */
static void enter_network_namespace(void) {
        test_enter_netns();
        /* Nothing of ours (Check's message file, say) leaks into the daemon, netutilctl or
         * the probe. */
        test_cloexec_fds_from_3();
}

static void leave_network_namespace(void) {
        /* After a failed assertion the process exits without this; the daemon dies with it
         * (--pdeathsig, start_daemon()). */
        test_daemon_kill(&daemon_);
}

/* ---- the daemon ---------------------------------------------------------------------- */

/* Starts netutild in user mode (plus extra arguments), under setpriv --pdeathsig so that
 * it dies with this test process even when an assertion ends it early; clients of any
 * uid reach it. */
static void start_daemon(const char *const *extra) {
        baseline_fds = test_daemon_start_for_any_user(&daemon_, extra);
}

/* The daemon holds its baseline plus anchors fds (one per address of each live group). */
static void assert_anchors(int anchors) {
        test_daemon_assert_fds(&daemon_, baseline_fds + anchors, baseline_fds);
}

/* For assertions that a known daemon bug fails: stop the daemon first, since a failed
 * assertion skips the teardown and would leave the daemon's directory behind. */
#define assert_or_stop(cond, ...)                                                                              \
        do {                                                                                                   \
                if (!(cond)) {                                                                                 \
                        test_daemon_stop_signal(&daemon_, SIGKILL);                                            \
                        ck_abort_msg(__VA_ARGS__);                                                             \
                }                                                                                              \
        } while (0)

/* ---- running netutilctl -------------------------------------------------------------- */

/* Runs netutilctl --socket DAEMON args as root (priv NULL) or through setpriv with priv;
 * output in out and err. Returns the exit status. */
static int ctl(const char *const *priv, const char *const *args) {
        return test_ctl(daemon_.socket, priv, args, out, sizeof(out), err, sizeof(err));
}

/* Asserts the last ctl()'s exit status and exact outputs. */
static void expect_run(int status, int want_status, const char *want_out, const char *want_err) {
        test_expect_run(out, err, status, want_status, want_out, want_err);
}

/* ---- sockets of our own -------------------------------------------------------------- */

static ino_t fd_inode(int fd) {
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return st.st_ino;
}

/* Waits up to timeout_ms for a connection on the listening fd and accepts it; returns
 * the connection or -errno (-ETIMEDOUT: none came). */
static int accept_within(int fd, int timeout_ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int conn;

        if (poll(&pfd, 1, timeout_ms) != 1)
                return -ETIMEDOUT;
        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        return conn < 0 ? -errno : conn;
}

/* Connects to address:port and expects the listening fd to accept that very connection. */
static void assert_member_accepts(int fd, const char *address, unsigned port) {
        int client = test_tcp_connect(address, port, CONNECT_TIMEOUT_MS), conn;
        char byte = 0;

        ck_assert_msg(client >= 0, "connect to %s port %u: %s", address, port, strerror(-client));
        conn = accept_within(fd, 2000);
        ck_assert_msg(conn >= 0, "member did not accept the connection to %s port %u: %s", address, port,
                      strerror(-conn));
        ck_assert_int_eq(write(client, "x", 1), 1);
        ck_assert_int_eq(read(conn, &byte, 1), 1);
        ck_assert_int_eq(byte, 'x');
        close(conn);
        close(client);
}

/* Asserts that s is a listening TCP member with SO_REUSEPORT on port. */
static void assert_listening_member(const netutil_socket *s, int family, unsigned port) {
        ck_assert_int_eq(s->family, family);
        ck_assert_int_eq(s->type, SOCK_STREAM);
        ck_assert_uint_eq(test_sockaddr_port(&s->address), port);
        ck_assert_uint_eq(test_fd_port(s->fd), port);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_REUSEPORT), 1);
}

/* Asks the daemon (as root, on a connection of its own that is closed again, so that it
 * costs the daemon no fd afterwards) for a new member of group name; returns the count. */
static int take_member(const char *name, const char *address, const char *port, netutil_socket **ret) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_client *c = NULL;
        int n;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        o.address = address;
        o.port = port;
        o.reuse_port = 1;
        o.name = name;
        n = netutil_bind(c, &o, 0, ret);
        ck_assert_msg(n >= 0, "netutil_bind of group '%s': %s (%s)", name, strerror(-n),
                      netutil_client_error_message(c) ?: "no message");
        netutil_client_close(c);
        return n;
}

/* The one member on 127.0.0.1 of group name, checked to be on *port (if 0 on entry, any
 * port, stored there). */
static netutil_socket *take_ipv4_member(const char *name, unsigned *port) {
        netutil_socket *s = NULL;
        int n = take_member(name, "127.0.0.1", "0", &s);

        ck_assert_int_eq(n, 1);
        if (*port == 0)
                *port = test_sockaddr_port(&s[0].address);
        assert_listening_member(&s[0], AF_INET, *port);
        return s;
}

/* Binds and listens on address:port with a socket made by a child running as uid, with
 * the given options; returns 0 if both worked, or -errno of the step that failed. */
static int bind_as_uid(uid_t uid, const char *address, unsigned port, bool reuseaddr, bool reuseport) {
        struct sockaddr_storage ss;
        socklen_t len = test_make_sockaddr(address, port, &ss);
        int status = 0;
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int one = 1, fd;

                /* The kernel stamps the socket with the uid at socket() time. */
                if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(255);
                fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || (reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
                    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
                        _exit(254);
                if (bind(fd, (struct sockaddr *) &ss, len) < 0 || listen(fd, 1) < 0)
                        _exit(errno > 0 && errno < 250 ? errno : 253);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) < 250, "child as uid %u: wait status 0x%x",
                      (unsigned) uid, status);
        return -WEXITSTATUS(status);
}

/* ---- the probe executed by `netutilctl bind ... -- COMMAND` -------------------------- */

static const char *family_str(int family) {
        return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "other";
}

/* One line for fd: family, type, address, port, whether it listens, SO_REUSEPORT, V6ONLY
 * on IPv6, and for a listener whether a connection to its port over loopback arrived on
 * it ("accepted"), or not ("none"), or was refused. */
static void probe_describe_fd(int fd) {
        struct sockaddr_storage ss = {};
        socklen_t len = sizeof(ss), olen = sizeof(int);
        char host[INET6_ADDRSTRLEN] = "?";
        int type = 0, accepting = 0, reuseport = 0, v6only = 0;

        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
                printf("fd %d: not a socket (%s)\n", fd, strerror(errno));
                return;
        }
        if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, host, sizeof(host));
        else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, host, sizeof(host));
        (void) getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen);
        olen = sizeof(int);
        (void) getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &olen);
        olen = sizeof(int);
        (void) getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &olen);
        printf("fd %d: %s %s %s %u accepting=%d reuseport=%d", fd, family_str(ss.ss_family),
               type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : "other", host, test_sockaddr_port(&ss),
               accepting, reuseport);
        if (ss.ss_family == AF_INET6) {
                olen = sizeof(int);
                (void) getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen);
                printf(" v6only=%d", v6only);
        }
        if (accepting) {
                /* To the wildcard's loopback, else to the address itself. */
                struct sockaddr_storage to = ss;
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                const char *result = "none";
                int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), conn;

                if (ss.ss_family == AF_INET && strcmp(host, "0.0.0.0") == 0)
                        ((struct sockaddr_in *) &to)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                else if (ss.ss_family == AF_INET6 && strcmp(host, "::") == 0)
                        ((struct sockaddr_in6 *) &to)->sin6_addr = in6addr_loopback;
                if (c < 0 || connect(c, (struct sockaddr *) &to, len) < 0)
                        result = "refused";
                else if (poll(&pfd, 1, 2000) == 1 && (conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                        result = "accepted";
                        close(conn);
                }
                if (c >= 0)
                        close(c);
                printf(" connection=%s", result);
        }
        printf("\n");
}

/* What a socket-activated worker sees: its uid, the variables, each passed fd. */
static int exec_probe(void) {
        const char *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
        int n = fds ? atoi(fds) : 0;

        printf("uid=%u\nLISTEN_FDS=%s\nLISTEN_FDNAMES=%s\n", (unsigned) getuid(), fds ? fds : "(unset)",
               names ? names : "(unset)");
        for (int fd = 3; fd < 3 + n; fd++)
                probe_describe_fd(fd);
        fflush(stdout);
        return 0;
}

/* ---- 1. members ---------------------------------------------------------------------- */

START_TEST(test_each_request_gets_a_new_listening_member_on_the_groups_port) {
        netutil_socket *a = NULL, *b = NULL;
        char want[512];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "0"));
        p = test_port_in(out, "127.0.0.1 ");
        expect_run(r, 0, test_fmt(want, sizeof(want), "ipv4 stream 127.0.0.1 %u\n", p), "");
        /* netutilctl and its member are gone; the daemon keeps the anchor. */
        assert_anchors(1);

        /* As a worker gets it: one listening socket with SO_REUSEPORT on the group's port,
         * and it takes the connections (nothing else listens). */
        r = ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "0", "--", self_exe,
                              "--exec-probe"));
        expect_run(r, 0,
                   test_fmt(want, sizeof(want),
                       "uid=0\nLISTEN_FDS=1\nLISTEN_FDNAMES=G\n"
                       "fd 3: ipv4 stream 127.0.0.1 %u accepting=1 reuseport=1 connection=accepted\n",
                       p),
                   "");
        assert_anchors(1);

        /* Two more, alive together: two different sockets on that one port. */
        a = take_ipv4_member("G", &p);
        b = take_ipv4_member("G", &p);
        ck_assert_int_ne(a[0].fd, b[0].fd);
        ck_assert_msg(fd_inode(a[0].fd) != fd_inode(b[0].fd), "both members are socket inode %lu",
                      (unsigned long) fd_inode(a[0].fd));
        assert_anchors(1);

        netutil_sockets_free(a, 1);
        netutil_sockets_free(b, 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_assert_nobody_listens("127.0.0.1", p, CONNECT_TIMEOUT_MS);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 2. load sharing ----------------------------------------------------------------- */

START_TEST(test_connections_are_shared_between_members_and_none_is_lost) {
        enum { N = 100 };
        int clients[N], accepted[2] = {}, total = 0;
        netutil_socket *m[2] = {};
        long long deadline;
        unsigned p = 0;

        start_daemon(NULL);
        m[0] = take_ipv4_member("G", &p);
        m[1] = take_ipv4_member("G", &p);
        assert_anchors(1);

        /* Each client has its own source port: the kernel hashes the 4-tuple over the two
         * listening members (never the anchor, which does not listen). */
        for (int i = 0; i < N; i++) {
                clients[i] = test_tcp_connect("127.0.0.1", p, CONNECT_TIMEOUT_MS);
                ck_assert_msg(clients[i] >= 0, "connection %d to port %u: %s", i, p, strerror(-clients[i]));
        }
        deadline = test_now_ms() + 3000;
        while (total < N && test_now_ms() < deadline) {
                struct pollfd pfd[2] = { { .fd = m[0][0].fd, .events = POLLIN },
                                         { .fd = m[1][0].fd, .events = POLLIN } };

                if (poll(pfd, 2, 100) <= 0)
                        continue;
                for (int k = 0; k < 2; k++) {
                        int conn;

                        while ((conn = accept4(m[k][0].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                                close(conn);
                                accepted[k]++;
                                total++;
                        }
                        ck_assert_int_eq(errno, EAGAIN);
                }
        }
        ck_assert_msg(total == N, "accepted %d + %d of %d connections", accepted[0], accepted[1], N);
        ck_assert_msg(accepted[0] > 0 && accepted[1] > 0, "one member took every connection: %d and %d",
                      accepted[0], accepted[1]);
        /* Nothing more is queued anywhere. */
        for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(accept4(m[k][0].fd, NULL, NULL, SOCK_CLOEXEC), -1);
                ck_assert_int_eq(errno, EAGAIN);
        }

        for (int i = 0; i < N; i++)
                close(clients[i]);
        netutil_sockets_free(m[0], 1);
        netutil_sockets_free(m[1], 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 3. the anchor ------------------------------------------------------------------- */

START_TEST(test_anchor_keeps_the_port_for_the_next_member_without_taking_connections) {
        netutil_socket *m[2] = {}, *third = NULL;
        unsigned p = 0;
        int r;

        start_daemon(NULL);
        m[0] = take_ipv4_member("G", &p);
        m[1] = take_ipv4_member("G", &p);
        netutil_sockets_free(m[0], 1);
        netutil_sockets_free(m[1], 1);
        assert_anchors(1);

        /* No member: the port is bound (the anchor) but refuses connections. */
        test_assert_nobody_listens("127.0.0.1", p, CONNECT_TIMEOUT_MS);
        /* Another uid cannot join the kernel's group on that port by itself. */
        r = bind_as_uid(OTHER_UID, "127.0.0.1", p, false, true);
        ck_assert_msg(r == -EADDRINUSE, "uid %d bound port %u next to the anchor: %s", OTHER_UID, p,
                      r == 0 ? "bound and listening" : strerror(-r));

        /* The next worker gets the same port, and the connections. */
        third = take_ipv4_member("G", &p);
        assert_member_accepts(third[0].fd, "127.0.0.1", p);
        r = bind_as_uid(OTHER_UID, "127.0.0.1", p, false, true);
        ck_assert_msg(r == -EADDRINUSE, "uid %d bound port %u next to a member: %s", OTHER_UID, p,
                      r == 0 ? "bound and listening" : strerror(-r));
        /* Not even with SO_REUSEADDR, while a member listens. */
        r = bind_as_uid(OTHER_UID, "127.0.0.1", p, true, true);
        ck_assert_msg(r == -EADDRINUSE, "uid %d bound port %u next to a member with SO_REUSEADDR: %s", OTHER_UID,
                      p, r == 0 ? "bound and listening" : strerror(-r));
        assert_member_accepts(third[0].fd, "127.0.0.1", p);

        netutil_sockets_free(third, 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_anchor_keeps_the_port_from_another_uid_using_so_reuseaddr) {
        netutil_socket *m = NULL;
        unsigned p = 0;
        int r[2];

        start_daemon(NULL);
        m = take_ipv4_member("G", &p);
        netutil_sockets_free(m, 1);
        assert_anchors(1);
        test_assert_nobody_listens("127.0.0.1", p, CONNECT_TIMEOUT_MS);

        /* No member runs (a worker restarts): only the anchor holds the port. Most servers
         * set SO_REUSEADDR (Tornado, nginx, ...); another uid doing so must not get the
         * group's port. */
        r[0] = bind_as_uid(OTHER_UID, "127.0.0.1", p, true, false);
        r[1] = bind_as_uid(OTHER_UID, "127.0.0.1", p, true, true);
        /* Anchors carry SO_REUSEPORT but not SO_REUSEADDR, which would let any uid share
         * a port whose sockets are not listening. */
        assert_or_stop(r[0] == -EADDRINUSE && r[1] == -EADDRINUSE,
                       "uid %d took the group's port %u held only by the anchor: with SO_REUSEADDR: %s; with "
                       "SO_REUSEADDR and SO_REUSEPORT: %s (expected EADDRINUSE for both)",
                       OTHER_UID, p, r[0] == 0 ? "bound and listening" : strerror(-r[0]),
                       r[1] == 0 ? "bound and listening" : strerror(-r[1]));

        m = take_ipv4_member("G", &p);
        assert_member_accepts(m[0].fd, "127.0.0.1", p);
        netutil_sockets_free(m, 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 4. across uids ------------------------------------------------------------------ */

START_TEST(test_nobody_cannot_join_roots_group_without_a_rule) {
        char want[512];

        start_daemon(NULL);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 0,
                   "ipv4 stream 127.0.0.1 8090\n", "");
        assert_anchors(1);
        /* Port 8090 is open to anyone by default; the group is not. */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 1,
                   "", "netutilctl: " NOT_YOURS("G", "0") "\n");
        test_fmt(want, sizeof(want),
            "{\"error\": {\"errno\": %d, \"name\": \"EPERM\", \"message\": \"" NOT_YOURS("G", "0") "\"}}\n", EPERM);
        expect_run(ctl(AS_NOBODY, ARGS("--json", "bind", "--reuse-port", "--name", "G", "0")), 1, want,
                   "netutilctl: " NOT_YOURS("G", "0") "\n");
        /* The exec form never runs the command. */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090",
                                       "--", self_exe, "--exec-probe")),
                   1, "", "netutilctl: " NOT_YOURS("G", "0") "\n");
        /* The refusals made nothing, and the group is still root's. */
        assert_anchors(1);
        test_assert_nobody_listens("127.0.0.1", 8090, CONNECT_TIMEOUT_MS);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 0,
                   "ipv4 stream 127.0.0.1 8090\n", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_allowbind_rule_lets_nobody_join_roots_group) {
        char *conf = test_write_config("[Policy]\nAllowBind=user:nobody tcp:8090\n");

        start_daemon(ARGS("--config", conf));
        unlink(conf); /* read at start; no reload here */
        expect_run(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 0,
                   "ipv4 stream 127.0.0.1 8090\n", "");
        assert_anchors(1);
        /* A worker running as nobody: a member of root's group that takes connections. */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090",
                                       "--", self_exe, "--exec-probe")),
                   0,
                   "uid=65534\nLISTEN_FDS=1\nLISTEN_FDNAMES=G\n"
                   "fd 3: ipv4 stream 127.0.0.1 8090 accepting=1 reuseport=1 connection=accepted\n",
                   "");
        /* The rule names nobody; uid 1 is still refused. */
        expect_run(ctl(AS_UID_1, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 1,
                   "", "netutilctl: " NOT_YOURS("G", "0") "\n");
        assert_anchors(1);
        /* A member, not the group: nobody cannot release it. */
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "G")), 1, "", "netutilctl: No held socket named 'G'\n");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_owner_rejoins_own_group_freely_and_others_get_their_own) {
        netutil_socket *rootmember = NULL;
        char want[256];
        unsigned p, q = 0;
        int r;

        start_daemon(NULL);
        /* Port 0: an ephemeral port, which no rule names. */
        r = ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "N", "--address", "127.0.0.1", "0"));
        p = test_port_in(out, "127.0.0.1 ");
        expect_run(r, 0, test_fmt(want, sizeof(want), "ipv4 stream 127.0.0.1 %u\n", p), "");
        assert_anchors(1);
        /* Its creator joins without any rule... */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "N", "--address", "127.0.0.1", "0")), 0,
                   want, "");
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "N", "--address", "127.0.0.1", "0", "--",
                                       self_exe, "--exec-probe")),
                   0,
                   test_fmt(want, sizeof(want),
                       "uid=65534\nLISTEN_FDS=1\nLISTEN_FDNAMES=N\n"
                       "fd 3: ipv4 stream 127.0.0.1 %u accepting=1 reuseport=1 connection=accepted\n",
                       p),
                   "");
        /* ...and names are per owner (issue 13): another uid's "N", root's included, is a
         * group of its own on another port, never nobody's. */
        r = ctl(AS_UID_1, ARGS("bind", "--reuse-port", "--name", "N", "--address", "127.0.0.1", "0"));
        ck_assert_int_eq(r, 0);
        ck_assert_uint_ne(test_port_in(out, "127.0.0.1 "), p);
        rootmember = take_ipv4_member("N", &q);
        ck_assert_uint_ne(q, p);
        assert_member_accepts(rootmember[0].fd, "127.0.0.1", q);
        netutil_sockets_free(rootmember, 1);
        assert_anchors(3);
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "N")), 0, "", "");
        expect_run(ctl(AS_UID_1, ARGS("hold", "release", "N")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "N")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 5. TCP only --------------------------------------------------------------------- */

START_TEST(test_udp_group_is_refused_but_udp_reuseport_without_a_name_works) {
        char want[512];
        unsigned p;
        int r;

        start_daemon(NULL);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--udp", "--reuse-port", "--name", "U", "0")), 1, "",
                   "netutilctl: " TCP_ONLY "\n");
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--udp", "--reuse-port", "--name", "U", "--address", "127.0.0.1",
                                       "0")),
                   1, "", "netutilctl: " TCP_ONLY "\n");
        /* No group came of it. */
        assert_anchors(0);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "U")), 1, "", "netutilctl: No held socket named 'U'\n");

        /* Without a name: plain datagram sockets with SO_REUSEPORT, nothing kept. */
        r = ctl(AS_ROOT, ARGS("bind", "--udp", "--reuse-port", "0"));
        p = test_port_in(out, "0.0.0.0 ");
        expect_run(r, 0, test_fmt(want, sizeof(want), "ipv4 dgram 0.0.0.0 %u\nipv6 dgram :: %u\n", p, p), "");
        r = ctl(AS_ROOT, ARGS("bind", "--udp", "--reuse-port", "0", "--", self_exe, "--exec-probe"));
        p = test_port_in(out, "0.0.0.0 ");
        expect_run(r, 0,
                   test_fmt(want, sizeof(want),
                       "uid=0\nLISTEN_FDS=2\nLISTEN_FDNAMES=netutil:netutil\n"
                       "fd 3: ipv4 dgram 0.0.0.0 %u accepting=0 reuseport=1\n"
                       "fd 4: ipv6 dgram :: %u accepting=0 reuseport=1 v6only=1\n",
                       p, p),
                   "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 6. release ---------------------------------------------------------------------- */

START_TEST(test_release_closes_the_anchor_members_keep_accepting_and_the_name_starts_afresh) {
        netutil_socket *old = NULL, *fresh = NULL;
        unsigned p = 0, q = 0;

        start_daemon(NULL);
        old = take_ipv4_member("G", &p);
        assert_anchors(1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        /* The member handed out before is untouched. */
        assert_member_accepts(old[0].fd, "127.0.0.1", p);

        /* The name is free: the next request starts a new group, with a new anchor. */
        fresh = take_ipv4_member("G", &q);
        assert_anchors(1);
        ck_assert_msg(fd_inode(fresh[0].fd) != fd_inode(old[0].fd), "the new group handed out the old member");
        assert_member_accepts(fresh[0].fd, "127.0.0.1", q);
        netutil_sockets_free(old, 1);
        assert_member_accepts(fresh[0].fd, "127.0.0.1", q);
        netutil_sockets_free(fresh, 1);

        /* One group, released once. */
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "release", "G")), 0, "{\"released\": \"G\"}\n", "");
        assert_anchors(0);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 1, "", "netutilctl: No held socket named 'G'\n");
        test_assert_nobody_listens("127.0.0.1", p, CONNECT_TIMEOUT_MS);
        test_assert_nobody_listens("127.0.0.1", q, CONNECT_TIMEOUT_MS);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_nobody_cannot_release_roots_group_but_root_releases_nobodys) {
        netutil_socket *m = NULL;
        unsigned p = 0;

        start_daemon(NULL);
        m = take_ipv4_member("G", &p);
        netutil_sockets_free(m, 1);
        assert_anchors(1);
        /* Someone else's group is reported as absent, as a held name is. */
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "G")), 1, "", "netutilctl: No held socket named 'G'\n");
        assert_anchors(1);
        /* Still there: the next member is on the same port. */
        m = take_ipv4_member("G", &p);
        netutil_sockets_free(m, 1);

        ck_assert_int_eq(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "N", "--address", "127.0.0.1", "0")),
                         0);
        assert_anchors(2);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "N")), 0, "", "");
        assert_anchors(1);
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "N")), 1, "", "netutilctl: No held socket named 'N'\n");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 7. both families ---------------------------------------------------------------- */

START_TEST(test_wildcard_group_gives_ipv4_and_ipv6_members_on_one_port) {
        netutil_socket *a = NULL, *b = NULL;
        char want[256];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G6", "0"));
        p = test_port_in(out, "0.0.0.0 ");
        expect_run(r, 0, test_fmt(want, sizeof(want), "ipv4 stream 0.0.0.0 %u\nipv6 stream :: %u\n", p, p), "");
        /* One anchor per address. */
        assert_anchors(2);

        ck_assert_int_eq(take_member("G6", NULL, "0", &a), 2);
        ck_assert_int_eq(take_member("G6", NULL, "0", &b), 2);
        assert_listening_member(&a[0], AF_INET, p);
        assert_listening_member(&a[1], AF_INET6, p);
        assert_listening_member(&b[0], AF_INET, p);
        assert_listening_member(&b[1], AF_INET6, p);
        ck_assert_int_eq(test_sockopt_int(a[1].fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
        ck_assert_int_eq(test_sockopt_int(b[1].fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
        /* Four different sockets. */
        for (int i = 0; i < 4; i++)
                for (int j = i + 1; j < 4; j++)
                        ck_assert_msg(fd_inode((i < 2 ? a : b)[i % 2].fd) != fd_inode((j < 2 ? a : b)[j % 2].fd),
                                      "members %d and %d are one socket", i, j);
        assert_anchors(2);

        /* With b gone, a's members take each family's connections. */
        netutil_sockets_free(b, 2);
        assert_member_accepts(a[0].fd, "127.0.0.1", p);
        assert_member_accepts(a[1].fd, "::1", p);
        netutil_sockets_free(a, 2);
        test_assert_nobody_listens("127.0.0.1", p, CONNECT_TIMEOUT_MS);
        test_assert_nobody_listens("::1", p, CONNECT_TIMEOUT_MS);

        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G6")), 0, "", "");
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 8. two first requests at once --------------------------------------------------- */

START_TEST(test_two_first_requests_by_host_name_end_in_one_group) {
        int go[2], result[2];
        unsigned ports[2] = {};
        pid_t pid[2];

        /* A host name is looked up in the daemon's worker pool: both requests may bind
         * before either creates the group; the one that comes second must join. */
        test_use_hosts_file("127.0.0.1 localhost\n127.0.0.2 myhost\n");
        start_daemon(NULL);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        for (int i = 0; i < 2; i++) {
                pid[i] = fork();
                ck_assert_int_ge(pid[i], 0);
                if (pid[i] == 0) {
                        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
                        netutil_socket *s = NULL;
                        netutil_client *c = NULL;
                        unsigned port = 0;
                        char byte;
                        int n;

                        if (netutil_client_open(daemon_.socket, &c) < 0 || read(go[0], &byte, 1) != 1)
                                _exit(1);
                        o.address = "myhost";
                        o.port = "0";
                        o.reuse_port = 1;
                        o.name = "G";
                        n = netutil_bind(c, &o, 0, &s);
                        if (n == 1 && s[0].family == AF_INET)
                                port = test_sockaddr_port(&s[0].address);
                        if (write(result[1], &port, sizeof(port)) != sizeof(port))
                                _exit(1);
                        _exit(0);
                }
        }
        ck_assert_int_eq(write(go[1], "xx", 2), 2);
        for (int i = 0; i < 2; i++) {
                int status = 0;

                ck_assert_int_eq(read(result[0], &ports[i], sizeof(ports[i])), (ssize_t) sizeof(ports[i]));
                ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client %d: wait status 0x%x", i,
                              status);
        }
        ck_assert_msg(ports[0] != 0 && ports[0] == ports[1], "the two first members are on ports %u and %u",
                      ports[0], ports[1]);
        assert_anchors(1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        assert_anchors(0);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "G")), 1, "", "netutilctl: No held socket named 'G'\n");
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 9. quota ------------------------------------------------------------------------ */

START_TEST(test_nobody_may_own_64_groups_not_65) {
        enum { QUOTA = 64 }; /* HELD_MAX_NAMES_PER_UID: what a uid may keep in the daemon */
        char name[32];
        int r, n;

        start_daemon(NULL);
        for (int i = 0; i < QUOTA; i++) {
                snprintf(name, sizeof(name), "g%d", i);
                r = ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", name, "--address", "127.0.0.1", "0"));
                ck_assert_msg(r == 0, "group %d: exit %d: %s", i, r, err);
        }
        assert_anchors(QUOTA);
        r = ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "g64", "--address", "127.0.0.1", "0"));
        n = test_wait_fd_count(daemon_.pid, baseline_fds + QUOTA, 500);
        /* Groups share the per-uid quota with held names: each keeps anchor fds in the
         * daemon. */
        assert_or_stop(r == 1 && strstr(err, "Quota exceeded") && n == baseline_fds + QUOTA,
                       "group %d of uid 65534: exit %d, stderr '%s'; the daemon has %d fds (baseline %d + %d)",
                       QUOTA + 1, r, err, n, baseline_fds, n - baseline_fds);
        for (int i = 0; i < QUOTA; i++) {
                snprintf(name, sizeof(name), "g%d", i);
                ck_assert_int_eq(ctl(AS_NOBODY, ARGS("hold", "release", name)), 0);
        }
        assert_anchors(0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name) {
        return test_tcase_add(s, name, 30, enter_network_namespace, leave_network_namespace, NULL);
}

static Suite *group_suite(void) {
        Suite *s = suite_create("group");
        TCase *tc;

        tc = tcase(s, "members");
        tcase_add_test(tc, test_each_request_gets_a_new_listening_member_on_the_groups_port);
        tcase_add_test(tc, test_connections_are_shared_between_members_and_none_is_lost);

        tc = tcase(s, "anchor");
        tcase_add_test(tc, test_anchor_keeps_the_port_for_the_next_member_without_taking_connections);
        tcase_add_test(tc, test_anchor_keeps_the_port_from_another_uid_using_so_reuseaddr);

        tc = tcase(s, "uids");
        tcase_add_test(tc, test_nobody_cannot_join_roots_group_without_a_rule);
        tcase_add_test(tc, test_allowbind_rule_lets_nobody_join_roots_group);
        tcase_add_test(tc, test_owner_rejoins_own_group_freely_and_others_get_their_own);

        tc = tcase(s, "tcp-only");
        tcase_add_test(tc, test_udp_group_is_refused_but_udp_reuseport_without_a_name_works);

        tc = tcase(s, "release");
        tcase_add_test(tc, test_release_closes_the_anchor_members_keep_accepting_and_the_name_starts_afresh);
        tcase_add_test(tc, test_nobody_cannot_release_roots_group_but_root_releases_nobodys);

        tc = tcase(s, "families");
        tcase_add_test(tc, test_wildcard_group_gives_ipv4_and_ipv6_members_on_one_port);

        tc = tcase(s, "race");
        tcase_add_test(tc, test_two_first_requests_by_host_name_end_in_one_group);

        tc = tcase(s, "quota");
        tcase_add_test(tc, test_nobody_may_own_64_groups_not_65);
        return s;
}

int main(int argc, char *argv[]) {
        ssize_t k;

        if (argc == 2 && strcmp(argv[1], "--exec-probe") == 0)
                return exec_probe();

        /* The probe is this very binary (not a libtool wrapper script). */
        k = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (k <= 0) {
                perror("readlink /proc/self/exe");
                return EXIT_FAILURE;
        }
        self_exe[k] = '\0';
        if (geteuid() != 0) {
                fprintf(stderr, "check-group needs root (network namespaces, setpriv); skipped.\n");
                return 77;
        }

        /* Every test unshare()s its namespaces: one process each, whatever CK_FORK says. */
        return test_run_suite(group_suite(), true);
}
