/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of the socket handover: the real netutild binds, the real netutilctl
 * (or libnetutil in this process) receives the sockets over SCM_RIGHTS. Covers the
 * bind_sockets() table of the reference (§1.2), errors in words and in JSON, UDP, host
 * names from /etc/hosts and DNS (the worker pool), the exec form with the socket
 * activation variables, the policy as nobody, held sockets (same port, queued connections,
 * list, release, ownership, quota, listener repair), an answer of 300 fds, clients
 * that leave with a bind in flight, the asynchronous calls on an sd-event loop (bind,
 * hold list and release, cancel, pipelining), a hold that binds nothing, and a name held
 * for one kind of socket (network or unix) refused for the other.
 *
 * Every test runs in its own network namespace (Check's fork mode: one process per test)
 * with only lo up, so ports and addresses are deterministic; tests that need their own
 * /etc/hosts or /etc/resolv.conf also get a private mount namespace. The tests run as
 * root. Every test checks that the daemon's fd count returns to its baseline.
 *
 * The binary doubles as the program that `netutilctl bind ... -- COMMAND` executes:
 * started as `check-handover --exec-probe`, it describes what it was handed (see
 * exec_probe()) and the tests compare that text.
 */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

/* The NULL-terminated argument list of a command line. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* setpriv(1) arguments for the unprivileged clients. 65534 is nobody (and nogroup);
 * 4242 is a group nobody is not in, for the supplementary-group rule. */
#define AS_ROOT NULL
#define AS_NOBODY ARGS("--reuid=65534", "--regid=65534", "--clear-groups")
#define AS_NOBODY_IN_4242 ARGS("--reuid=65534", "--regid=65534", "--groups=4242")
#define AS_UID_1 ARGS("--reuid=1", "--regid=1", "--clear-groups")

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
         * the probe: an fd the probe finds is netutilctl's doing. */
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

static void assert_fds_at(int want) {
        test_daemon_assert_fds(&daemon_, want, baseline_fds);
}

static void assert_fds_at_baseline(void) {
        assert_fds_at(baseline_fds);
}

/* Waits (up to 5 s) until the daemon's fd count has stayed at its baseline for 500 ms:
 * for work that passes through the baseline on its way (a resolver's socket closed before
 * a bound one is opened). */
static void assert_fds_settle_at_baseline(void) {
        test_daemon_assert_fds_settle(&daemon_, baseline_fds, 5000);
}

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

#define JSON_PORT "\"port\": "
/* One socket as netutilctl --json writes it; the port is left as %u. */
#define JSON_SOCKET(family, type, address)                                                                     \
        "{\"family\": \"" family "\", \"type\": \"" type "\", \"address\": \"" address "\", \"port\": %u}"
/* An error as netutilctl --json writes it; errno is left as %d. */
#define JSON_ERROR(name, message)                                                                              \
        "{\"error\": {\"errno\": %d, \"name\": \"" name "\", \"message\": \"" message "\"}}\n"
/* The arguments of `bind` that hold a socket on 127.0.0.1 under name. */
#define HOLD_ARGS(name) "bind", "--name", name, "--hold", "--address", "127.0.0.1", "0"

/* ---- sockets of our own -------------------------------------------------------------- */

static netutil_client *open_client(void) {
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        return c;
}

/* A new connection with one BIND request for (address, service) sent on it. */
static int raw_bind_request(const char *address, const char *service) {
        ProtoMsg *m = NULL;
        int fd = test_raw_connect(daemon_.socket);

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_BIND, 1, &m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ADDRESS, address), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_SERVICE, service), 0);
        ck_assert_int_eq(proto_send(fd, m), 0);
        proto_msg_free(m);
        return fd;
}

/* ---- the probe executed by `netutilctl bind ... -- COMMAND` -------------------------- */

static const char *family_str(int family) {
        return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "other";
}

static void probe_describe_fd(int fd) {
        struct sockaddr_storage ss = {};
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN] = "?";
        int type = 0, accepting = 0, reuse = 0, v6only = 0, fl, fdfl;
        socklen_t olen = sizeof(int);

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
        (void) getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &olen);
        fl = fcntl(fd, F_GETFL);
        fdfl = fcntl(fd, F_GETFD);
        printf("fd %d: %s %s %s %u accepting=%d nonblock=%d cloexec=%d reuseaddr=%d", fd, family_str(ss.ss_family),
               type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : "other", host, test_sockaddr_port(&ss),
               accepting, !!(fl & O_NONBLOCK), !!(fdfl & FD_CLOEXEC), reuse);
        if (ss.ss_family == AF_INET6) {
                olen = sizeof(int);
                (void) getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen);
                printf(" v6only=%d", v6only);
        }
        printf("\n");
}

/* What a socket-activated service would check, as text: the three variables (LISTEN_PID
 * as "self" when it is our pid: no fork between netutilctl and us), each passed fd, and
 * every other open fd above them. */
static int exec_probe(void) {
        const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID"), *names = getenv("LISTEN_FDNAMES");
        int n = fds ? atoi(fds) : 0;
        bool extra = false;
        struct dirent *de;
        DIR *d;

        printf("LISTEN_FDS=%s\n", fds ? fds : "(unset)");
        if (pid && atol(pid) == (long) getpid())
                printf("LISTEN_PID=self\n");
        else
                printf("LISTEN_PID=%s (our pid %d)\n", pid ? pid : "(unset)", (int) getpid());
        printf("LISTEN_FDNAMES=%s\n", names ? names : "(unset)");
        for (int fd = 3; fd < 3 + n; fd++)
                probe_describe_fd(fd);

        printf("extra fds:");
        d = opendir("/proc/self/fd");
        if (!d) {
                printf(" cannot list: %s\n", strerror(errno));
                return 1;
        }
        while ((de = readdir(d))) {
                char link[64], target[256] = "";
                int fd = atoi(de->d_name);
                ssize_t k;

                if (de->d_name[0] == '.' || fd == dirfd(d) || fd < 3 + n)
                        continue;
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                k = readlink(link, target, sizeof(target) - 1);
                target[k > 0 ? k : 0] = '\0';
                printf(" %d->%s", fd, target);
                extra = true;
        }
        closedir(d);
        printf("%s\n", extra ? "" : " none");
        fflush(stdout);
        return 0;
}

/* ---- 1. the bind_sockets() table (reference §1.2) ------------------------------------ */

/* Runs `netutilctl --json bind ARGS` as root and expects the text want_template with
 * every "%u" replaced by the one port bound; returns that port. */
static unsigned expect_json_bind(const char *const *args, const char *want_template) {
        char want[4096] = "", port[16];
        const char *t = want_template, *u;
        unsigned p;
        int r;

        r = ctl(AS_ROOT, args);
        p = test_port_in(out, JSON_PORT);
        snprintf(port, sizeof(port), "%u", p);
        while ((u = strstr(t, "%u"))) {
                strncat(want, t, (size_t) (u - t));
                strcat(want, port);
                t = u + 2;
        }
        strcat(want, t);
        expect_run(r, 0, want, "");
        return p;
}

#define SOCKETS(...) "{\"sockets\": [" __VA_ARGS__ "]}\n"

START_TEST(test_bind_port0_gives_ipv4_then_ipv6_wildcards_on_one_port) {
        start_daemon(NULL);
        /* bind_sockets(0, None), then bind_sockets(0, ""): the same answer. */
        for (int i = 0; i < 2; i++) {
                unsigned p = expect_json_bind(i == 0 ? ARGS("--json", "bind", "0")
                                                     : ARGS("--json", "bind", "--address", "", "0"),
                                              SOCKETS(JSON_SOCKET("ipv4", "stream", "0.0.0.0") ", "
                                                      JSON_SOCKET("ipv6", "stream", "::")));
                /* The daemon kept no copy: with netutilctl gone, the port is closed. (The
                 * daemon closes its copies right after sendmsg(); netutilctl, woken by it,
                 * may well have exited before that: wait for the daemon's count first.) */
                assert_fds_at_baseline();
                test_assert_nobody_listens("127.0.0.1", p, 0);
                test_assert_nobody_listens("::1", p, 0);
        }
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_family_ipv6_gives_only_the_ipv6_wildcard) {
        start_daemon(NULL);
        expect_json_bind(ARGS("--json", "bind", "--family", "ipv6", "0"),
                         SOCKETS(JSON_SOCKET("ipv6", "stream", "::")));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_family_ipv4_gives_only_the_ipv4_wildcard) {
        start_daemon(NULL);
        expect_json_bind(ARGS("--json", "bind", "--family", "ipv4", "0"),
                         SOCKETS(JSON_SOCKET("ipv4", "stream", "0.0.0.0")));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_localhost_gives_what_getaddrinfo_gives_here) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
        const struct addrinfo *sorted[64];
        char want[4096] = "{\"sockets\": [", one[256];
        size_t n = 0;
        unsigned p;
        int r;

        /* Expected: getaddrinfo("localhost") here, de-duplicated, IPv4 first and otherwise
         * in getaddrinfo's order (Tornado's stable sort by family). */
        ck_assert_int_eq(getaddrinfo("localhost", "0", &hints, &res), 0);
        for (int fam = 0; fam < 2; fam++)
                for (const struct addrinfo *ai = res; ai && n < ELEMENTSOF(sorted); ai = ai->ai_next) {
                        bool dup = false;
                        if (ai->ai_family != (fam == 0 ? AF_INET : AF_INET6))
                                continue;
                        for (size_t j = 0; j < n; j++)
                                dup = dup || (sorted[j]->ai_addrlen == ai->ai_addrlen &&
                                              memcmp(sorted[j]->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0);
                        if (!dup)
                                sorted[n++] = ai;
                }
        ck_assert_uint_gt(n, 0);

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS("--json", "bind", "--address", "localhost", "0"));
        p = test_port_in(out, JSON_PORT);
        for (size_t k = 0; k < n; k++) {
                const struct sockaddr *sa = sorted[k]->ai_addr;
                const void *a = sa->sa_family == AF_INET
                                        ? (const void *) &((const struct sockaddr_in *) sa)->sin_addr
                                        : (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
                char host[INET6_ADDRSTRLEN];

                inet_ntop(sa->sa_family, a, host, sizeof(host));
                strcat(want, k ? ", " : "");
                strcat(want, test_fmt(one, sizeof(one), JSON_SOCKET("%s", "stream", "%s"), family_str(sa->sa_family),
                                 host, p));
        }
        strcat(want, "]}\n");
        freeaddrinfo(res);
        expect_run(r, 0, want, "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_ipv6_loopback_literal_gives_one_socket) {
        start_daemon(NULL);
        expect_json_bind(ARGS("--json", "bind", "--address", "::1", "0"),
                         SOCKETS(JSON_SOCKET("ipv6", "stream", "::1")));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_text_output_is_one_line_per_socket) {
        char want[256];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS("bind", "0"));
        p = test_port_in(out, NULL);
        expect_run(r, 0, test_fmt(want, sizeof(want), "ipv4 stream 0.0.0.0 %u\nipv6 stream :: %u\n", p, p), "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 2. errors ----------------------------------------------------------------------- */

START_TEST(test_bind_port_in_use_fails_with_eaddrinuse_in_words_and_json) {
        struct sockaddr_storage ss;
        socklen_t len = test_make_sockaddr("127.0.0.1", 0, &ss);
        char port[16], want_err[256], want_out[512];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unsigned p;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &ss, len), 0);
        ck_assert_int_eq(listen(fd, 1), 0);
        p = test_fd_port(fd);
        snprintf(port, sizeof(port), "%u", p);

        start_daemon(NULL);
        test_fmt(want_err, sizeof(want_err), "netutilctl: Address already in use (127.0.0.1 port %u)\n", p);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "127.0.0.1", port)), 1, "", want_err);
        test_fmt(want_out, sizeof(want_out), JSON_ERROR("EADDRINUSE", "Address already in use (127.0.0.1 port %u)"),
            EADDRINUSE, p);
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind", "--address", "127.0.0.1", port)), 1, want_out, want_err);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bind_numerichost_name_fails_with_eai_noname) {
        char want[512];

        start_daemon(NULL);
        test_fmt(want, sizeof(want),
            "{\"error\": {\"errno\": %d, \"name\": \"EADDRNOTAVAIL\", \"message\": \"Name or service not known\", "
            "\"gai\": \"EAI_NONAME\"}}\n",
            EADDRNOTAVAIL);
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind", "--address", "nonexistent.invalid", "--flags", "numerichost",
                                     "0")),
                   1, want, "netutilctl: Name or service not known\n");
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "nonexistent.invalid", "--flags", "numerichost", "0")), 1,
                   "", "netutilctl: Name or service not known\n");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* A port past 65535 given as digits is refused in words, not bound as its low 16 bits
 * (getaddrinfo() took "70000" as port 4464); a service name still goes to getaddrinfo(). */
START_TEST(test_bind_port_past_65535_is_refused_in_words) {
        static const char *const ports[] = {"70000", "65536", "4294967296", "000000065536"};
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_socket *s = NULL;
        netutil_client *c;
        char want[128];

        start_daemon(NULL);
        c = open_client();
        o.address = "127.0.0.1";
        for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
                o.port = ports[i];
                ck_assert_int_eq(netutil_bind(c, &o, 0, &s), -EINVAL);
                ck_assert_ptr_null(s);
                test_fmt(want, sizeof(want), "Invalid port '%s': expected 0 to 65535", ports[i]);
                ck_assert_str_eq(netutil_client_error_message(c), want);
        }
        o.port = "65535";
        ck_assert_int_eq(netutil_bind(c, &o, 0, &s), 1);
        ck_assert_uint_eq(test_fd_port(s[0].fd), 65535);
        netutil_sockets_free(s, 1);
        netutil_client_close(c);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 3. UDP -------------------------------------------------------------------------- */

START_TEST(test_bind_udp_gives_datagram_sockets_on_one_port) {
        char want[512];
        unsigned p;
        int r;

        start_daemon(NULL);
        expect_json_bind(ARGS("--json", "bind", "--udp", "0"),
                         SOCKETS(JSON_SOCKET("ipv4", "dgram", "0.0.0.0") ", " JSON_SOCKET("ipv6", "dgram", "::")));

        /* In the exec form, the kernel's word for it: SO_TYPE is SOCK_DGRAM, no listen(). */
        r = ctl(AS_ROOT, ARGS("bind", "--udp", "--address", "127.0.0.1", "0", "--", self_exe, "--exec-probe"));
        p = test_port_in(out, "127.0.0.1 ");
        test_fmt(want, sizeof(want),
            "LISTEN_FDS=1\nLISTEN_PID=self\nLISTEN_FDNAMES=netutil\n"
            "fd 3: ipv4 dgram 127.0.0.1 %u accepting=0 nonblock=1 cloexec=0 reuseaddr=1\n"
            "extra fds: none\n",
            p);
        expect_run(r, 0, want, "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 4. names ------------------------------------------------------------------------ */

START_TEST(test_bind_host_name_from_etc_hosts_binds_its_address) {
        test_use_hosts_file("127.0.0.1 localhost\n127.0.0.2 myhost\n");
        start_daemon(NULL);
        /* A name, not a literal: resolved in the daemon's worker pool. */
        expect_json_bind(ARGS("--json", "bind", "--address", "myhost", "0"),
                         SOCKETS(JSON_SOCKET("ipv4", "stream", "127.0.0.2")));
        /* With a service name as the port, too. */
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "myhost", "http")), 0, "ipv4 stream 127.0.0.2 80\n", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 5. the exec form ---------------------------------------------------------------- */

START_TEST(test_exec_gets_one_named_listening_socket_as_systemd_passes_it) {
        char want[512];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT,
                ARGS("bind", "--address", "127.0.0.1", "--name", "web", "0", "--", self_exe, "--exec-probe"));
        p = test_port_in(out, "127.0.0.1 ");
        test_fmt(want, sizeof(want),
            "LISTEN_FDS=1\nLISTEN_PID=self\nLISTEN_FDNAMES=web\n"
            "fd 3: ipv4 stream 127.0.0.1 %u accepting=1 nonblock=1 cloexec=0 reuseaddr=1\n"
            "extra fds: none\n",
            p);
        expect_run(r, 0, want, "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_exec_gets_both_wildcards_named_netutil_each) {
        char want[512];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS("bind", "0", "--", self_exe, "--exec-probe"));
        p = test_port_in(out, "0.0.0.0 ");
        test_fmt(want, sizeof(want),
            "LISTEN_FDS=2\nLISTEN_PID=self\nLISTEN_FDNAMES=netutil:netutil\n"
            "fd 3: ipv4 stream 0.0.0.0 %u accepting=1 nonblock=1 cloexec=0 reuseaddr=1\n"
            "fd 4: ipv6 stream :: %u accepting=1 nonblock=1 cloexec=0 reuseaddr=1 v6only=1\n"
            "extra fds: none\n",
            p, p);
        expect_run(r, 0, want, "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_exec_of_missing_command_fails_in_words) {
        start_daemon(NULL);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "127.0.0.1", "0", "--", "/nonexistent/netutild-test")), 1,
                   "", "netutilctl: Failed to execute '/nonexistent/netutild-test': No such file or directory\n");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 6. policy as nobody ------------------------------------------------------------- */

/* The default policy's list of what an unprivileged uid may bind, in a refusal. */
#define DEFAULT_ALLOWED "(allowed: ports 0 and 1024-65535"
#define REFUSED_80_NOBODY                                                                                      \
        "Permission denied by policy: port 80/tcp on 0.0.0.0 is not allowed for uid 65534 " DEFAULT_ALLOWED ")"

START_TEST(test_nobody_may_bind_unprivileged_port_8080) {
        start_daemon(NULL);
        expect_run(ctl(AS_NOBODY, ARGS("bind", "8080")), 0, "ipv4 stream 0.0.0.0 8080\nipv6 stream :: 8080\n", "");
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--address", "127.0.0.1", "8080")), 0, "ipv4 stream 127.0.0.1 8080\n",
                   "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_nobody_is_refused_port_80_by_default) {
        char want[512];

        start_daemon(NULL);
        expect_run(ctl(AS_NOBODY, ARGS("bind", "80")), 1, "", "netutilctl: " REFUSED_80_NOBODY "\n");
        test_fmt(want, sizeof(want), JSON_ERROR("EPERM", REFUSED_80_NOBODY), EPERM);
        expect_run(ctl(AS_NOBODY, ARGS("--json", "bind", "80")), 1, want, "netutilctl: " REFUSED_80_NOBODY "\n");
        /* Refused before any socket was made: nothing listens. */
        test_assert_nobody_listens("127.0.0.1", 80, 0);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_user_rule_allows_port_80_for_nobody_only) {
        char *conf = test_write_config("[Policy]\nAllowBind=user:nobody tcp:80\n");

        start_daemon(ARGS("--config", conf));
        unlink(conf); /* read at start; no reload here */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "80")), 0, "ipv4 stream 0.0.0.0 80\nipv6 stream :: 80\n", "");
        /* Another uid is still refused; so is UDP for nobody (the rule says tcp). */
        expect_run(ctl(AS_UID_1, ARGS("bind", "--family", "ipv4", "80")), 1, "",
                   "netutilctl: Permission denied by policy: port 80/tcp on 0.0.0.0 is not allowed for uid 1 "
                   DEFAULT_ALLOWED ")\n");
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--udp", "--family", "ipv4", "80")), 1, "",
                   "netutilctl: Permission denied by policy: port 80/udp on 0.0.0.0 is not allowed for uid 65534 "
                   DEFAULT_ALLOWED ")\n");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_group_rule_needs_the_supplementary_group) {
#define REFUSED_81                                                                                             \
        "Permission denied by policy: port 81/tcp on 127.0.0.1 is not allowed for uid 65534 " DEFAULT_ALLOWED ")"
        char *conf = test_write_config("[Policy]\nAllowBind=group:4242 tcp:81\n");
        char want[512];

        start_daemon(ARGS("--config", conf));
        unlink(conf); /* read at start; no reload here */
        expect_run(ctl(AS_NOBODY_IN_4242, ARGS("bind", "--address", "127.0.0.1", "81")), 0,
                   "ipv4 stream 127.0.0.1 81\n", "");
        test_fmt(want, sizeof(want), JSON_ERROR("EPERM", REFUSED_81), EPERM);
        expect_run(ctl(AS_NOBODY, ARGS("--json", "bind", "--address", "127.0.0.1", "81")), 1, want,
                   "netutilctl: " REFUSED_81 "\n");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
#undef REFUSED_81
}
END_TEST

START_TEST(test_address_rule_allows_that_address_not_the_wildcard) {
#define REFUSED_82(address)                                                                                    \
        "netutilctl: Permission denied by policy: port 82/tcp on " address " is not allowed for uid 65534 "   \
        DEFAULT_ALLOWED "; 82 on 127.0.0.1)\n"
        char *conf = test_write_config("[Policy]\nAllowBind=user:nobody tcp:82 address:127.0.0.1\n");

        start_daemon(ARGS("--config", conf));
        unlink(conf); /* read at start; no reload here */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--address", "127.0.0.1", "82")), 0, "ipv4 stream 127.0.0.1 82\n", "");
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--address", "0.0.0.0", "82")), 1, "", REFUSED_82("0.0.0.0"));
        /* The wildcards of a plain `bind 82` too: the first (IPv4) entry is refused. */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "82")), 1, "", REFUSED_82("0.0.0.0"));
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--address", "127.0.0.2", "82")), 1, "", REFUSED_82("127.0.0.2"));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
#undef REFUSED_82
}
END_TEST

/* ---- 7. held sockets ----------------------------------------------------------------- */

START_TEST(test_hold_twice_returns_the_same_socket) {
        char first[256];
        unsigned p;
        int r;

        start_daemon(NULL);
        r = ctl(AS_ROOT, ARGS(HOLD_ARGS("app")));
        p = test_port_in(out, NULL);
        expect_run(r, 0, test_fmt(first, sizeof(first), "ipv4 stream 127.0.0.1 %u\n", p), "");
        /* netutilctl is gone; the daemon's copy keeps the port open. */
        assert_fds_at(baseline_fds + 1);
        r = test_tcp_connect("127.0.0.1", p, 0);
        ck_assert_msg(r >= 0, "held port %u not listening: %s", p, strerror(-r));
        close(r);
        /* Again, even with other arguments: the held socket, not a new one. */
        expect_run(ctl(AS_ROOT, ARGS(HOLD_ARGS("app"))), 0, first, "");
        expect_run(ctl(AS_ROOT, ARGS("bind", "--name", "app", "--hold", "0")), 0, first, "");
        assert_fds_at(baseline_fds + 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "app")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* Takes the held name through libnetutil, as a restarted app would. */
static int take_held(netutil_client *c, const char *name, const char *port, netutil_socket **ret) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;

        o.address = "127.0.0.1";
        o.port = port;
        o.name = name;
        o.hold = 1;
        return netutil_bind(c, &o, 0, ret);
}

START_TEST(test_held_socket_keeps_queued_connection_for_the_next_app) {
        struct sockaddr_storage peer = {}, local = {};
        socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
        struct pollfd pfd;
        netutil_socket *s = NULL;
        netutil_client *c;
        char byte = 0;
        int client, conn, n;
        unsigned p;

        start_daemon(NULL);
        /* The first app gets the socket held and exits. */
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("app"))), 0);
        p = test_port_in(out, NULL);

        /* A client connects while no app runs: the handshake completes in the backlog. */
        client = test_tcp_connect("127.0.0.1", p, 0);
        ck_assert_msg(client >= 0, "connect to the held port %u: %s", p, strerror(-client));
        ck_assert_int_eq(getsockname(client, (struct sockaddr *) &local, &local_len), 0);

        /* The next app gets the same socket and accepts exactly that connection. */
        c = open_client();
        n = take_held(c, "app", "0", &s);
        ck_assert_msg(n == 1, "netutil_bind: %d (%s)", n, n < 0 ? strerror(-n) : "count");
        ck_assert_uint_eq(test_sockaddr_port(&s[0].address), p);
        ck_assert_uint_eq(test_fd_port(s[0].fd), p);
        pfd = (struct pollfd) { .fd = s[0].fd, .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
        conn = accept4(s[0].fd, (struct sockaddr *) &peer, &peer_len, SOCK_CLOEXEC);
        ck_assert_msg(conn >= 0, "accept: %s", strerror(errno));
        ck_assert_uint_eq(peer_len, local_len);
        ck_assert_msg(memcmp(&peer, &local, local_len) == 0, "accepted the client of port %u, queued was %u",
                      test_sockaddr_port(&peer), test_sockaddr_port(&local));
        ck_assert_int_eq(write(client, "x", 1), 1);
        ck_assert_int_eq(read(conn, &byte, 1), 1);
        ck_assert_int_eq(byte, 'x');
        ck_assert_int_eq(write(conn, "y", 1), 1);
        ck_assert_int_eq(read(client, &byte, 1), 1);
        ck_assert_int_eq(byte, 'y');
        /* Nothing else was queued (the socket is non-blocking). */
        ck_assert_int_eq(accept4(s[0].fd, NULL, NULL, SOCK_CLOEXEC), -1);
        ck_assert_int_eq(errno, EAGAIN);

        close(conn);
        close(client);
        netutil_sockets_free(s, (size_t) n);
        ck_assert_int_eq(netutil_hold_release(c, "app", 0), 0);
        netutil_client_close(c);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_hold_list_text_and_json) {
        char want[512];
        unsigned p;

        start_daemon(NULL);
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "list")), 0, "{\"held\": []}\n", "");
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("app"))), 0);
        p = test_port_in(out, NULL);
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0,
                   test_fmt(want, sizeof(want), "app 0 ipv4 stream 127.0.0.1 %u\n", p), "");
        test_fmt(want, sizeof(want),
            "{\"held\": [{\"name\": \"app\", \"owner_uid\": 0, \"sockets\": [" JSON_SOCKET("ipv4", "stream",
                                                                                          "127.0.0.1") "]}]}\n",
            p);
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "list")), 0, want, "");
        /* Two sockets under one name: one entry. */
        ck_assert_int_eq(ctl(AS_ROOT, ARGS("bind", "--name", "both", "--hold", "0")), 0);
        p = test_port_in(out, NULL);
        ck_assert_int_eq(ctl(AS_ROOT, ARGS("--json", "hold", "list")), 0);
        test_fmt(want, sizeof(want),
            "{\"name\": \"both\", \"owner_uid\": 0, \"sockets\": [" JSON_SOCKET("ipv4", "stream", "0.0.0.0") ", "
                    JSON_SOCKET("ipv6", "stream", "::") "]}",
            p, p);
        ck_assert_msg(strstr(out, want), "'%s' lacks '%s'", out, want);
        assert_fds_at(baseline_fds + 3);
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "release", "both")), 0, "{\"released\": \"both\"}\n", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "app")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_hold_release_closes_the_port_once_every_copy_is_closed) {
        netutil_socket *s = NULL;
        netutil_client *c;
        unsigned p;
        int n, fd;

        start_daemon(NULL);
        c = open_client();
        n = take_held(c, "app", "0", &s);
        ck_assert_int_eq(n, 1);
        p = test_sockaddr_port(&s[0].address);
        netutil_client_close(c);

        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "app")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "list")), 0, "{\"held\": []}\n", "");
        assert_fds_at_baseline();
        /* The app's copy still listens... */
        fd = test_tcp_connect("127.0.0.1", p, 0);
        ck_assert_msg(fd >= 0, "the app's copy stopped listening on release: %s", strerror(-fd));
        close(fd);
        /* ...and with it closed, nothing does. */
        netutil_sockets_free(s, (size_t) n);
        test_assert_nobody_listens("127.0.0.1", p, 0);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_release_of_unknown_name_fails) {
        char want[256];

        start_daemon(NULL);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "x")), 1, "", "netutilctl: No held socket named 'x'\n");
        test_fmt(want, sizeof(want), JSON_ERROR("ENOENT", "No held socket named 'x'"), ENOENT);
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "release", "x")), 1, want,
                   "netutilctl: No held socket named 'x'\n");
        /* A name no hold could have made is refused as such. */
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "a:b")), 1, "",
                   "netutilctl: Invalid name 'a:b': only printable ASCII without spaces or ':' is allowed\n");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_nobody_cannot_take_or_release_roots_name) {
        char want[256];
        unsigned p;

        start_daemon(NULL);
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("app"))), 0);
        p = test_port_in(out, NULL);
        /* Names are per owner (issue 13): nobody's "app" is its own, on its own port, and
         * neither takes nor blocks root's. */
        ck_assert_int_eq(ctl(AS_NOBODY, ARGS(HOLD_ARGS("app"))), 0);
        ck_assert_uint_ne(test_port_in(out, NULL), p);
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "app")), 0, "", "");
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "app")), 1, "", "netutilctl: No held socket named 'app'\n");
        /* Still root's, still listening. */
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0,
                   test_fmt(want, sizeof(want), "app 0 ipv4 stream 127.0.0.1 %u\n", p), "");
        assert_fds_at(baseline_fds + 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "app")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_root_sees_every_held_name_nobody_only_its_own) {
        char line_root[128], line_nobody[128];
        const char *socket_nobody;

        start_daemon(NULL);
        ck_assert_int_eq(ctl(AS_NOBODY, ARGS(HOLD_ARGS("userapp"))), 0);
        snprintf(line_nobody, sizeof(line_nobody), "userapp 65534 ipv4 stream 127.0.0.1 %u\n", test_port_in(out, NULL));
        socket_nobody = line_nobody + strlen("userapp 65534 ");
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("rootapp"))), 0);
        snprintf(line_root, sizeof(line_root), "rootapp 0 ipv4 stream 127.0.0.1 %u\n", test_port_in(out, NULL));

        expect_run(ctl(AS_NOBODY, ARGS("hold", "list")), 0, line_nobody, "");
        ck_assert_int_eq(ctl(AS_ROOT, ARGS("hold", "list")), 0);
        ck_assert_msg(strstr(out, line_root) && strstr(out, line_nobody) &&
                              strlen(out) == strlen(line_root) + strlen(line_nobody),
                      "root's list: '%s'", out);
        /* nobody takes its own name back; root's bind of that name is root's own (names
         * are per owner), and root may release nobody's, the only one of that name. */
        expect_run(ctl(AS_NOBODY, ARGS(HOLD_ARGS("userapp"))), 0, socket_nobody, "");
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("userapp"))), 0);
        ck_assert_str_ne(out, socket_nobody);
        assert_fds_at(baseline_fds + 3);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "userapp")), 0, "", "");
        assert_fds_at(baseline_fds + 2);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "userapp")), 0, "", "");
        expect_run(ctl(AS_NOBODY, ARGS("hold", "list")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "rootapp")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_nobody_may_hold_64_names_not_65) {
#define QUOTA_MESSAGE "Quota exceeded: uid 65534 already holds 64 names"
        char name[32], want[256];

        start_daemon(NULL);
        for (int i = 0; i < 64; i++) {
                snprintf(name, sizeof(name), "q%d", i);
                ck_assert_msg(ctl(AS_NOBODY, ARGS(HOLD_ARGS(name))) == 0, "hold %d: %s", i, err);
        }
        assert_fds_at(baseline_fds + 64);
        expect_run(ctl(AS_NOBODY, ARGS(HOLD_ARGS("q64"))), 1, "", "netutilctl: " QUOTA_MESSAGE "\n");
        test_fmt(want, sizeof(want), JSON_ERROR("EDQUOT", QUOTA_MESSAGE), EDQUOT);
        expect_run(ctl(AS_NOBODY, ARGS("--json", HOLD_ARGS("q64"))), 1, want, "netutilctl: " QUOTA_MESSAGE "\n");
        /* The refused binds cost nothing; a release makes room again. */
        assert_fds_at(baseline_fds + 64);
        expect_run(ctl(AS_NOBODY, ARGS("hold", "release", "q0")), 0, "", "");
        ck_assert_int_eq(ctl(AS_NOBODY, ARGS(HOLD_ARGS("q64"))), 0);
        assert_fds_at(baseline_fds + 64);
        for (int i = 1; i <= 64; i++) {
                snprintf(name, sizeof(name), "q%d", i);
                ck_assert_msg(ctl(AS_NOBODY, ARGS("hold", "release", name)) == 0, "release %d: %s", i, err);
        }
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
#undef QUOTA_MESSAGE
}
END_TEST

/* Takes a held listener, shuts our copy down (which is the daemon's too) and expects the
 * daemon to listen() on it again within a second or two, on the same port. */
static void check_listener_repair(const char *port) {
        netutil_socket *s = NULL;
        netutil_client *c;
        long long deadline;
        unsigned p;
        int n, fd = -ECONNREFUSED;

        start_daemon(NULL);
        c = open_client();
        n = take_held(c, "app", port, &s);
        ck_assert_int_eq(n, 1);
        p = test_sockaddr_port(&s[0].address);
        fd = test_tcp_connect("127.0.0.1", p, 0);
        ck_assert_int_ge(fd, 0);
        close(fd);

        ck_assert_int_eq(shutdown(s[0].fd, SHUT_RDWR), 0);
        deadline = test_now_ms() + 2000;
        do {
                usleep(20000);
                fd = test_tcp_connect("127.0.0.1", p, 0);
        } while (fd < 0 && test_now_ms() < deadline);
        if (fd < 0) {
                int accepting = 0;
                socklen_t alen = sizeof(accepting);

                unsigned now_port = test_fd_port(s[0].fd);

                (void) getsockopt(s[0].fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen);
                /* A failed assertion skips the teardown: leave no daemon directory behind. */
                test_daemon_stop_signal(&daemon_, SIGKILL);
                ck_abort_msg("nobody listens on 127.0.0.1 port %u 2 s after a recipient's shutdown() (%s); the "
                             "held socket is now on port %u, listening=%d",
                             p, strerror(-fd), now_port, accepting);
        }
        close(fd);
        ck_assert_uint_eq(test_fd_port(s[0].fd), p);

        netutil_sockets_free(s, (size_t) n);
        ck_assert_int_eq(netutil_hold_release(c, "app", 0), 0);
        netutil_client_close(c);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}

START_TEST(test_shut_down_held_listener_on_fixed_port_listens_again) {
        check_listener_repair("4321");
}
END_TEST

START_TEST(test_shut_down_held_listener_on_ephemeral_port_listens_again) {
        /* A port the kernel chose is lost when the socket drops to TCP_CLOSE (it keeps
         * only explicit ones): the repair must bind the held port again, not just listen. */
        check_listener_repair("0");
}
END_TEST

/* ---- 8. an answer of 300 fds --------------------------------------------------------- */

START_TEST(test_name_with_300_addresses_gives_300_sockets_in_one_answer) {
        enum { N = 300 };
        static char hosts[N * 32];
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_socket *s = NULL;
        bool seen[N + 1] = {};
        netutil_client *c;
        int n, before;
        size_t pos = 0;
        unsigned p;

        /* 127.0.0.1 ... 127.0.1.44: all on lo (127/8). */
        pos += (size_t) snprintf(hosts + pos, sizeof(hosts) - pos, "127.0.0.1 localhost\n");
        for (int i = 1; i <= N; i++)
                pos += (size_t) snprintf(hosts + pos, sizeof(hosts) - pos, "127.0.%d.%d big\n", i / 256, i % 256);
        test_use_hosts_file(hosts);
        start_daemon(NULL);

        c = open_client();
        before = test_count_fds(getpid());
        o.address = "big";
        o.port = "0";
        n = netutil_bind(c, &o, 0, &s);
        ck_assert_msg(n == N, "netutil_bind gave %d (%s), expected %d sockets", n, n < 0 ? strerror(-n) : "sockets",
                      N);
        ck_assert_int_eq(test_count_fds(getpid()), before + N);
        p = test_sockaddr_port(&s[0].address);
        for (int i = 0; i < n; i++) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &s[i].address;
                struct sockaddr_in actual = {};
                socklen_t len = sizeof(actual);
                uint32_t a;
                int accepting = 0, k;
                socklen_t alen = sizeof(accepting);

                ck_assert_int_eq(s[i].family, AF_INET);
                ck_assert_int_eq(s[i].type, SOCK_STREAM);
                ck_assert_int_ge(s[i].fd, 3);
                for (int j = 0; j < i; j++)
                        ck_assert_int_ne(s[j].fd, s[i].fd);
                /* The fd is the socket described. */
                ck_assert_int_eq(getsockname(s[i].fd, (struct sockaddr *) &actual, &len), 0);
                ck_assert_int_eq(memcmp(&actual.sin_addr, &in->sin_addr, 4), 0);
                ck_assert_uint_eq(ntohs(actual.sin_port), p);
                ck_assert_int_eq(getsockopt(s[i].fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen), 0);
                ck_assert_int_eq(accepting, 1);
                /* One of the listed addresses, each once. */
                a = ntohl(in->sin_addr.s_addr);
                ck_assert_uint_eq(a >> 16, 0x7f00);
                k = (int) (a & 0xffff);
                ck_assert_msg(k >= 1 && k <= N && !seen[k], "unexpected or repeated address 127.0.%d.%d", k / 256,
                              k % 256);
                seen[k] = true;
        }
        netutil_sockets_free(s, (size_t) n);
        ck_assert_int_eq(test_count_fds(getpid()), before);
        netutil_client_close(c);
        assert_fds_at_baseline();

        /* On the wire: 253 fds (SCM_MAX_FD) with PROTO_FLAG_MORE, then the other 47. */
        {
                static ProtoRecv rcv;
                unsigned want_fds[] = { PROTO_MAX_FDS, N - PROTO_MAX_FDS };
                int fd = raw_bind_request("big", "0");

                for (size_t part = 0; part < ELEMENTSOF(want_fds); part++) {
                        struct pollfd pfd = { .fd = fd, .events = POLLIN };
                        ProtoView v;
                        ssize_t k;

                        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
                        k = proto_recv(fd, &rcv);
                        ck_assert_int_gt(k, 0);
                        ck_assert_int_eq(proto_parse(rcv.buf, (size_t) k, &v), 0);
                        ck_assert_int_eq(v.header.status, 0);
                        ck_assert_uint_eq(v.header.serial, 1);
                        ck_assert_msg(rcv.n_fds == want_fds[part], "part %zu carries %u fds, expected %u", part,
                                      rcv.n_fds, want_fds[part]);
                        ck_assert_uint_eq(v.header.flags & PROTO_FLAG_MORE, part + 1 < ELEMENTSOF(want_fds));
                        proto_recv_clear(&rcv);
                }
                close(fd);
                ck_assert_int_eq(test_count_fds(getpid()), before - 1); /* our client is closed too */
        }
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 9. clients that leave with a bind in flight ------------------------------------- */

START_TEST(test_disconnect_with_hosts_name_bind_in_flight_costs_nothing) {
        test_use_hosts_file("127.0.0.1 localhost\n127.0.0.2 myhost\n");
        start_daemon(NULL);
        for (int i = 0; i < 50; i++)
                close(raw_bind_request("myhost", "0"));
        assert_fds_at_baseline();
        ck_assert_int_eq(kill(daemon_.pid, 0), 0);
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "myhost", "5000")), 0, "ipv4 stream 127.0.0.2 5000\n", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* Answers one waiting DNS query on fd: A with 127.0.0.3, any other type with no records.
 * Returns true if one was answered. */
static bool dns_answer_one(int fd) {
        static const uint8_t a_record[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 3 };
        uint8_t q[512], a[600];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *) &from, &from_len);
        size_t p = 12, len;
        bool is_a;

        if (n < 12)
                return false;
        while (p < (size_t) n && q[p] != 0)
                p += q[p] + 1u;
        p += 1 + 4; /* the root label, QTYPE, QCLASS */
        if (p > (size_t) n)
                return false;
        is_a = q[p - 4] == 0 && q[p - 3] == 1;
        memcpy(a, q, p);
        a[2] = (uint8_t) (0x84 | (q[2] & 0x01)); /* QR, AA, RD as asked */
        a[3] = 0x80;                             /* RA, NOERROR */
        a[4] = 0, a[5] = 1;                      /* QDCOUNT */
        a[6] = 0, a[7] = is_a;                   /* ANCOUNT */
        memset(a + 8, 0, 4);                     /* NSCOUNT, ARCOUNT */
        len = p;
        if (is_a) {
                memcpy(a + len, a_record, sizeof(a_record));
                len += sizeof(a_record);
        }
        ck_assert_int_eq(sendto(fd, a, len, 0, (struct sockaddr *) &from, from_len), (ssize_t) len);
        return true;
}

START_TEST(test_disconnect_while_dns_lookup_is_pending_costs_nothing) {
        struct sockaddr_storage ss;
        socklen_t len = test_make_sockaddr("127.0.0.1", 53, &ss);
        struct pollfd pfd;
        long long deadline;
        pid_t server;
        int dns, client;

        test_enter_mount_namespace();
        test_mount_text_over("/etc/resolv.conf", "nameserver 127.0.0.1\noptions timeout:3 attempts:1\n");
        dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(dns, 0);
        ck_assert_int_eq(bind(dns, (struct sockaddr *) &ss, len), 0);
        start_daemon(NULL);

        /* The BIND waits in a worker for our DNS server, which holds its answer back until
         * the client is gone. */
        client = raw_bind_request("slow.test", "4444");
        pfd = (struct pollfd) { .fd = dns, .events = POLLIN };
        ck_assert_msg(poll(&pfd, 1, 5000) == 1, "the daemon sent no DNS query for slow.test");
        close(client);
        usleep(100000);

        /* Answer (A and AAAA) until the lookup is over: the daemon has its baseline again
         * (the resolver's socket and the connection closed, the bound socket too). */
        deadline = test_now_ms() + 5000;
        while (test_now_ms() < deadline) {
                while (dns_answer_one(dns))
                        ;
                if (test_count_fds(daemon_.pid) == baseline_fds)
                        break;
                pfd = (struct pollfd) { .fd = dns, .events = POLLIN };
                (void) poll(&pfd, 1, 20);
        }
        assert_fds_settle_at_baseline();
        /* What it bound for the client that left is closed again. */
        test_assert_nobody_listens("127.0.0.3", 4444, 0);

        /* The daemon still serves, and the same lookup works for a client that waits. */
        server = fork();
        ck_assert_int_ge(server, 0);
        if (server == 0) {
                long long end = test_now_ms() + 8000;
                while (test_now_ms() < end) {
                        pfd = (struct pollfd) { .fd = dns, .events = POLLIN };
                        if (poll(&pfd, 1, 100) > 0)
                                while (dns_answer_one(dns))
                                        ;
                }
                _exit(0);
        }
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "slow.test", "4444")), 0, "ipv4 stream 127.0.0.3 4444\n",
                   "");
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        close(dns);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 10. asynchronous calls on an sd-event loop -------------------------------------- */

/* What one asynchronous call's callback saw. */
typedef struct AsyncResult {
        int calls;           /* times the callback ran (must end at 1, or 0 when cancelled) */
        netutil_client *c;   /* the client it was called with */
        int error;
        netutil_socket *s;   /* bind: the sockets, now the test's */
        netutil_held *held;  /* hold list: the array, now the test's */
        size_t n;
        char msg[256];       /* the daemon's message, if any */
} AsyncResult;

static void async_record_message(netutil_client *c, AsyncResult *a) {
        const char *m = netutil_client_error_message(c);

        snprintf(a->msg, sizeof(a->msg), "%s", m ? m : "");
}

static void on_bind(netutil_client *c, int error, netutil_socket *sockets, size_t n, void *userdata) {
        AsyncResult *a = userdata;

        a->calls++;
        a->c = c;
        a->error = error;
        a->s = sockets; /* the callback owns them; the test frees them */
        a->n = n;
        async_record_message(c, a);
}

static void on_hold_list(netutil_client *c, int error, netutil_held *held, size_t n, void *userdata) {
        AsyncResult *a = userdata;

        a->calls++;
        a->c = c;
        a->error = error;
        a->held = held;
        a->n = n;
        async_record_message(c, a);
}

static void on_done(netutil_client *c, int error, void *userdata) {
        AsyncResult *a = userdata;

        a->calls++;
        a->c = c;
        a->error = error;
        async_record_message(c, a);
}

/* Runs e until every result in a[0..n) has had its callback (5 s at most). */
static void run_until_called(sd_event *e, AsyncResult *a, size_t n) {
        long long deadline = test_now_ms() + 5000;

        for (;;) {
                size_t called = 0;

                for (size_t i = 0; i < n; i++)
                        called += a[i].calls > 0;
                if (called == n)
                        return;
                ck_assert_msg(test_now_ms() < deadline, "only %zu of %zu callbacks ran within 5 s", called, n);
                ck_assert_int_ge(sd_event_run(e, 100000), 0);
        }
}

/* A client on a new event loop. */
static netutil_client *open_async_client(sd_event **ret_event) {
        netutil_client *c = open_client();

        ck_assert_int_eq(sd_event_new(ret_event), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, *ret_event, 0), 0);
        return c;
}

static void close_async_client(netutil_client *c, sd_event *e) {
        netutil_client_close(c);
        sd_event_unref(e);
}

/* A HOLD_LIST run to its end: the loop's timer fd exists afterwards, so that the test's own
 * fd count is stable from then on. Expects an empty list. */
static void async_warm_up(netutil_client *c, sd_event *e) {
        AsyncResult a = {};

        ck_assert_int_eq(netutil_hold_list_async(c, 0, on_hold_list, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_int_eq(a.error, 0);
        ck_assert_uint_eq(a.n, 0);
        ck_assert_ptr_null(a.held);
}

START_TEST(test_async_bind_hands_the_sockets_to_the_callback) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_request *req = NULL;
        AsyncResult a = {};
        netutil_client *c;
        sd_event *e = NULL;
        int before, fd;
        unsigned p;

        start_daemon(NULL);
        c = open_async_client(&e);
        async_warm_up(c, e);
        before = test_count_fds(getpid());

        o.port = "0";
        ck_assert_int_eq(netutil_bind_async(c, &o, 0, on_bind, &a, &req), 0);
        ck_assert_ptr_nonnull(req);
        /* Nothing happens before the loop runs. */
        ck_assert_int_eq(a.calls, 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_ptr_eq(a.c, c);
        ck_assert_msg(a.error == 0, "callback error %d (%s): %s", a.error, strerror(-a.error), a.msg);
        ck_assert_str_eq(a.msg, "");
        /* bind_sockets(0): both wildcards on one port, IPv4 first. */
        ck_assert_uint_eq(a.n, 2);
        ck_assert_ptr_nonnull(a.s);
        ck_assert_int_eq(test_count_fds(getpid()), before + 2);
        ck_assert_int_eq(a.s[0].family, AF_INET);
        ck_assert_int_eq(a.s[1].family, AF_INET6);
        p = test_sockaddr_port(&a.s[0].address);
        ck_assert_uint_gt(p, 0);
        for (size_t i = 0; i < a.n; i++) {
                int accepting = 0;
                socklen_t alen = sizeof(accepting);

                ck_assert_int_eq(a.s[i].type, SOCK_STREAM);
                ck_assert_int_ge(a.s[i].fd, 3);
                ck_assert_uint_eq(test_sockaddr_port(&a.s[i].address), p);
                ck_assert_uint_eq(test_fd_port(a.s[i].fd), p);
                ck_assert_int_eq(getsockopt(a.s[i].fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen), 0);
                ck_assert_int_eq(accepting, 1);
                ck_assert(fcntl(a.s[i].fd, F_GETFD) & FD_CLOEXEC);
        }
        ck_assert_uint_eq(a.s[0].address_len, sizeof(struct sockaddr_in));
        ck_assert_uint_eq(((struct sockaddr_in *) &a.s[0].address)->sin_addr.s_addr, htonl(INADDR_ANY));
        ck_assert_uint_eq(a.s[1].address_len, sizeof(struct sockaddr_in6));
        ck_assert(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *) &a.s[1].address)->sin6_addr));
        /* The daemon kept no copy (its one extra fd is our connection): the sockets are
         * ours and they listen. */
        assert_fds_at(baseline_fds + 1);
        fd = test_tcp_connect("127.0.0.1", p, 0);
        ck_assert_msg(fd >= 0, "connect to the async socket's port %u: %s", p, strerror(-fd));
        close(fd);
        fd = test_tcp_connect("::1", p, 0);
        ck_assert_msg(fd >= 0, "connect to [::1]:%u: %s", p, strerror(-fd));
        close(fd);

        netutil_sockets_free(a.s, a.n);
        ck_assert_int_eq(test_count_fds(getpid()), before);
        test_assert_nobody_listens("127.0.0.1", p, 0);
        test_assert_nobody_listens("::1", p, 0);

        /* An error comes through the callback as -errno with the daemon's message. */
        a = (AsyncResult) {};
        o = (netutil_bind_options) NETUTIL_BIND_OPTIONS_INIT;
        o.address = "nonexistent.invalid";
        o.flags = AI_NUMERICHOST;
        o.port = "0";
        ck_assert_int_eq(netutil_bind_async(c, &o, 0, on_bind, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_int_eq(a.error, -EADDRNOTAVAIL);
        ck_assert_ptr_null(a.s);
        ck_assert_uint_eq(a.n, 0);
        ck_assert_str_eq(a.msg, "Name or service not known");
        ck_assert_int_eq(test_count_fds(getpid()), before);

        close_async_client(c, e);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_async_hold_list_and_release) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        AsyncResult a = {};
        netutil_client *c;
        sd_event *e = NULL;
        const struct sockaddr_in *in;
        int before;
        unsigned p;

        start_daemon(NULL);
        c = open_async_client(&e);
        async_warm_up(c, e);
        before = test_count_fds(getpid());

        /* Hold a name, asynchronously too. */
        o.address = "127.0.0.1";
        o.port = "0";
        o.name = "app";
        o.hold = 1;
        ck_assert_int_eq(netutil_bind_async(c, &o, 0, on_bind, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_msg(a.error == 0, "hold: %d (%s): %s", a.error, strerror(-a.error), a.msg);
        ck_assert_uint_eq(a.n, 1);
        p = test_sockaddr_port(&a.s[0].address);
        ck_assert_uint_eq(test_fd_port(a.s[0].fd), p);
        netutil_sockets_free(a.s, a.n);
        ck_assert_int_eq(test_count_fds(getpid()), before);
        assert_fds_at(baseline_fds + 2); /* our connection and the held copy */

        /* The list names it, with its owner and its one socket (description only). */
        a = (AsyncResult) {};
        ck_assert_int_eq(netutil_hold_list_async(c, 0, on_hold_list, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_ptr_eq(a.c, c);
        ck_assert_int_eq(a.error, 0);
        ck_assert_uint_eq(a.n, 1);
        ck_assert_ptr_nonnull(a.held);
        ck_assert_str_eq(a.held[0].name, "app");
        ck_assert_uint_eq(a.held[0].owner_uid, 0);
        ck_assert_uint_eq(a.held[0].n_sockets, 1);
        ck_assert_int_eq(a.held[0].sockets[0].fd, -1);
        ck_assert_int_eq(a.held[0].sockets[0].family, AF_INET);
        ck_assert_int_eq(a.held[0].sockets[0].type, SOCK_STREAM);
        ck_assert_uint_eq(a.held[0].sockets[0].address_len, sizeof(struct sockaddr_in));
        in = (const struct sockaddr_in *) &a.held[0].sockets[0].address;
        ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
        ck_assert_uint_eq(ntohs(in->sin_port), p);
        netutil_held_free(a.held, a.n);
        /* No fds travel with a list. */
        ck_assert_int_eq(test_count_fds(getpid()), before);

        /* Release: error 0, the daemon's copy closed, the port with it. */
        a = (AsyncResult) {};
        ck_assert_int_eq(netutil_hold_release_async(c, "app", 0, on_done, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_ptr_eq(a.c, c);
        ck_assert_msg(a.error == 0, "release: %d (%s): %s", a.error, strerror(-a.error), a.msg);
        ck_assert_str_eq(a.msg, "");
        assert_fds_at(baseline_fds + 1); /* our connection only */
        test_assert_nobody_listens("127.0.0.1", p, 0);

        /* A second release: -ENOENT, in words too. */
        a = (AsyncResult) {};
        ck_assert_int_eq(netutil_hold_release_async(c, "app", 0, on_done, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.calls, 1);
        ck_assert_int_eq(a.error, -ENOENT);
        ck_assert_str_eq(a.msg, "No held socket named 'app'");

        /* And the list is empty again. */
        a = (AsyncResult) {};
        ck_assert_int_eq(netutil_hold_list_async(c, 0, on_hold_list, &a, NULL), 0);
        run_until_called(e, &a, 1);
        ck_assert_int_eq(a.error, 0);
        ck_assert_uint_eq(a.n, 0);
        ck_assert_ptr_null(a.held);
        ck_assert_int_eq(test_count_fds(getpid()), before);

        close_async_client(c, e);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_async_bind_cancelled_before_the_loop_runs_never_calls_back) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_request *req = NULL;
        AsyncResult cancelled = {}, after = {};
        netutil_client *c;
        sd_event *e = NULL;
        int before;

        start_daemon(NULL);
        c = open_async_client(&e);
        async_warm_up(c, e);
        before = test_count_fds(getpid());

        /* A fixed port: whoever kept a copy of the socket would still listen on it. */
        o.address = "127.0.0.1";
        o.port = "4711";
        ck_assert_int_eq(netutil_bind_async(c, &o, 0, on_bind, &cancelled, &req), 0);
        ck_assert_ptr_nonnull(req);
        ck_assert_ptr_null(netutil_request_cancel(req));
        ck_assert_int_eq(cancelled.calls, 0);

        /* A request sent after it on the same connection: its answer comes after the
         * cancelled one's (a literal is bound inline), so once it is in, the cancelled
         * answer was read and discarded with its fd. */
        ck_assert_int_eq(netutil_hold_list_async(c, 0, on_hold_list, &after, NULL), 0);
        run_until_called(e, &after, 1);
        ck_assert_int_eq(after.error, 0);
        ck_assert_uint_eq(after.n, 0);
        /* Run the loop a little more: nothing may still call back. */
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 20000), 0);
        ck_assert_int_eq(cancelled.calls, 0);
        ck_assert_ptr_null(cancelled.s);

        ck_assert_int_eq(test_count_fds(getpid()), before);
        assert_fds_at(baseline_fds + 1); /* our connection only */
        test_assert_nobody_listens("127.0.0.1", 4711, 0);
        /* The daemon did bind it (and the port is free again): the blocking form gets it. */
        expect_run(ctl(AS_ROOT, ARGS("bind", "--address", "127.0.0.1", "4711")), 0, "ipv4 stream 127.0.0.1 4711\n",
                   "");

        close_async_client(c, e);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_async_binds_pipelined_on_one_connection_all_complete) {
        enum { N = 12 };
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        AsyncResult a[N] = {};
        netutil_client *c;
        sd_event *e = NULL;
        int before;

        /* Half are literals (bound inline), half a name from /etc/hosts (the worker pool):
         * the answers need not come in order; each must reach its own callback. */
        test_use_hosts_file("127.0.0.1 localhost\n127.0.0.2 myhost\n");
        start_daemon(NULL);
        c = open_async_client(&e);
        async_warm_up(c, e);
        before = test_count_fds(getpid());

        o.port = "0";
        for (int i = 0; i < N; i++) {
                o.address = i % 2 ? "myhost" : "127.0.0.1";
                ck_assert_int_eq(netutil_bind_async(c, &o, 0, on_bind, &a[i], NULL), 0);
        }
        run_until_called(e, a, N);
        ck_assert_int_eq(test_count_fds(getpid()), before + N);
        for (int i = 0; i < N; i++) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &a[i].s[0].address;
                struct sockaddr_in actual = {};
                socklen_t len = sizeof(actual);

                ck_assert_int_eq(a[i].calls, 1);
                ck_assert_ptr_eq(a[i].c, c);
                ck_assert_msg(a[i].error == 0, "bind %d: %d (%s): %s", i, a[i].error, strerror(-a[i].error),
                              a[i].msg);
                ck_assert_uint_eq(a[i].n, 1);
                ck_assert_int_eq(a[i].s[0].family, AF_INET);
                ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), i % 2 ? 0x7f000002u : 0x7f000001u);
                /* The fd is the socket described. */
                ck_assert_int_eq(getsockname(a[i].s[0].fd, (struct sockaddr *) &actual, &len), 0);
                ck_assert_uint_eq(actual.sin_addr.s_addr, in->sin_addr.s_addr);
                ck_assert_uint_eq(actual.sin_port, in->sin_port);
                /* Every request bound its own socket. */
                for (int j = 0; j < i; j++)
                        ck_assert_msg(a[j].s[0].fd != a[i].s[0].fd &&
                                              memcmp(&a[j].s[0].address, &a[i].s[0].address,
                                                     sizeof(struct sockaddr_in)) != 0,
                                      "binds %d and %d got the same socket", j, i);
        }
        for (int i = 0; i < N; i++)
                netutil_sockets_free(a[i].s, a[i].n);
        ck_assert_int_eq(test_count_fds(getpid()), before);

        close_async_client(c, e);
        assert_fds_settle_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- 11. a hold that binds nothing --------------------------------------------------- */

#define NOTHING_TO_HOLD "Nothing to hold under 'empty': no address was bound"

START_TEST(test_hold_of_a_name_that_binds_nothing_is_refused) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_socket *s = NULL;
        netutil_client *c;
        char want[512];
        unsigned p;

        /* "localhost" is only ::1 and IPv6 is off on lo: bind_sockets() skips it and binds
         * nothing (success with 0 sockets, as Tornado). */
        test_use_hosts_file("::1 localhost\n");
        {
                int fd = open("/proc/sys/net/ipv6/conf/lo/disable_ipv6", O_WRONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(write(fd, "1\n", 2), 2);
                close(fd);
        }
        start_daemon(NULL);
        /* Precondition: without --hold, success with no sockets. */
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind", "--address", "localhost", "0")), 0, "{\"sockets\": []}\n",
                   "");

        expect_run(ctl(AS_ROOT, ARGS("bind", "--name", "empty", "--hold", "--address", "localhost", "0")), 1, "",
                   "netutilctl: " NOTHING_TO_HOLD "\n");
        test_fmt(want, sizeof(want), JSON_ERROR("EADDRNOTAVAIL", NOTHING_TO_HOLD), EADDRNOTAVAIL);
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind", "--name", "empty", "--hold", "--address", "localhost", "0")),
                   1, want, "netutilctl: " NOTHING_TO_HOLD "\n");
        /* As nobody too (the quota is not what refuses it). */
        expect_run(ctl(AS_NOBODY, ARGS("bind", "--name", "empty", "--hold", "--address", "localhost", "0")), 1, "",
                   "netutilctl: " NOTHING_TO_HOLD "\n");
        /* The library: -EADDRNOTAVAIL, not a resolver error. */
        c = open_client();
        o.address = "localhost";
        o.port = "0";
        o.name = "empty";
        o.hold = 1;
        ck_assert_int_eq(netutil_bind(c, &o, 0, &s), -EADDRNOTAVAIL);
        ck_assert_ptr_null(s);
        ck_assert_str_eq(netutil_client_error_message(c), NOTHING_TO_HOLD);
        ck_assert_int_eq(netutil_client_error_gai(c), 0);
        netutil_client_close(c);

        /* Nothing was kept under the name... */
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("--json", "hold", "list")), 0, "{\"held\": []}\n", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "empty")), 1, "",
                   "netutilctl: No held socket named 'empty'\n");
        assert_fds_settle_at_baseline();
        /* ...so it is free for a hold that binds something. */
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("empty"))), 0);
        p = test_port_in(out, NULL);
        expect_run(ctl(AS_ROOT, ARGS("hold", "list")), 0, test_fmt(want, sizeof(want), "empty 0 ipv4 stream 127.0.0.1 %u\n", p),
                   "");
        assert_fds_at(baseline_fds + 1);
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "empty")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

#undef NOTHING_TO_HOLD

/* ---- 12. a name holds one kind of socket --------------------------------------------- */

START_TEST(test_held_name_of_one_kind_is_refused_for_the_other) {
        char path[sizeof(daemon_.dir) + 16], upath[sizeof(daemon_.dir) + 16], want[1024];
        struct stat st;
        unsigned p;

        /* root may bind-unix anywhere; the daemon's own directory goes when it stops. */
        start_daemon(NULL);
        snprintf(path, sizeof(path), "%s/net.sock", daemon_.dir);
        snprintf(upath, sizeof(upath), "%s/unix.sock", daemon_.dir);

        /* "net" holds a TCP socket: bind-unix under that name creates nothing. */
        ck_assert_int_eq(ctl(AS_ROOT, ARGS(HOLD_ARGS("net"))), 0);
        p = test_port_in(out, NULL);
        expect_run(ctl(AS_ROOT, ARGS("bind-unix", "--name", "net", "--hold", path)), 1, "",
                   "netutilctl: The name 'net' holds network sockets\n");
        test_fmt(want, sizeof(want), JSON_ERROR("EEXIST", "The name 'net' holds network sockets"), EEXIST);
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind-unix", "--name", "net", "--hold", path)), 1, want,
                   "netutilctl: The name 'net' holds network sockets\n");
        ck_assert_msg(lstat(path, &st) < 0 && errno == ENOENT, "%s was created", path);

        /* "unix" holds a unix socket: bind under that name binds nothing either. */
        expect_run(ctl(AS_ROOT, ARGS("bind-unix", "--name", "unix", "--hold", upath)), 0,
                   test_fmt(want, sizeof(want), "unix stream %s\n", upath), "");
        ck_assert_int_eq(lstat(upath, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        expect_run(ctl(AS_ROOT, ARGS("bind", "--name", "unix", "--hold", "0")), 1, "",
                   "netutilctl: The name 'unix' holds unix sockets\n");
        test_fmt(want, sizeof(want), JSON_ERROR("EEXIST", "The name 'unix' holds unix sockets"), EEXIST);
        expect_run(ctl(AS_ROOT, ARGS("--json", "bind", "--name", "unix", "--hold", "--address", "127.0.0.1", "0")),
                   1, want, "netutilctl: The name 'unix' holds unix sockets\n");

        /* Both names still hold what they held, and nothing more. */
        ck_assert_int_eq(ctl(AS_ROOT, ARGS("hold", "list")), 0);
        {
                char line_net[128], line_unix[sizeof(upath) + 32];

                test_fmt(line_net, sizeof(line_net), "net 0 ipv4 stream 127.0.0.1 %u\n", p);
                test_fmt(line_unix, sizeof(line_unix), "unix 0 unix stream %s\n", upath);
                ck_assert_msg(strstr(out, line_net) && strstr(out, line_unix) &&
                                      strlen(out) == strlen(line_net) + strlen(line_unix),
                              "hold list: '%s'", out);
        }
        assert_fds_at(baseline_fds + 2);
        /* The same kind under the same name is the held socket, as ever. */
        expect_run(ctl(AS_ROOT, ARGS(HOLD_ARGS("net"))), 0, test_fmt(want, sizeof(want), "ipv4 stream 127.0.0.1 %u\n", p),
                   "");
        expect_run(ctl(AS_ROOT, ARGS("bind-unix", "--name", "unix", "--hold", upath)), 0,
                   test_fmt(want, sizeof(want), "unix stream %s\n", upath), "");
        assert_fds_at(baseline_fds + 2);

        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "net")), 0, "", "");
        expect_run(ctl(AS_ROOT, ARGS("hold", "release", "unix")), 0, "", "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name) {
        return test_tcase_add(s, name, 30, enter_network_namespace, leave_network_namespace, NULL);
}

static Suite *handover_suite(void) {
        Suite *s = suite_create("handover");
        TCase *tc;

        tc = tcase(s, "bind-table");
        tcase_add_test(tc, test_bind_port0_gives_ipv4_then_ipv6_wildcards_on_one_port);
        tcase_add_test(tc, test_bind_family_ipv6_gives_only_the_ipv6_wildcard);
        tcase_add_test(tc, test_bind_family_ipv4_gives_only_the_ipv4_wildcard);
        tcase_add_test(tc, test_bind_localhost_gives_what_getaddrinfo_gives_here);
        tcase_add_test(tc, test_bind_ipv6_loopback_literal_gives_one_socket);
        tcase_add_test(tc, test_bind_text_output_is_one_line_per_socket);

        tc = tcase(s, "bind-errors");
        tcase_add_test(tc, test_bind_port_in_use_fails_with_eaddrinuse_in_words_and_json);
        tcase_add_test(tc, test_bind_numerichost_name_fails_with_eai_noname);
        tcase_add_test(tc, test_bind_port_past_65535_is_refused_in_words);

        tc = tcase(s, "udp");
        tcase_add_test(tc, test_bind_udp_gives_datagram_sockets_on_one_port);

        tc = tcase(s, "names");
        tcase_add_test(tc, test_bind_host_name_from_etc_hosts_binds_its_address);

        tc = tcase(s, "exec");
        tcase_add_test(tc, test_exec_gets_one_named_listening_socket_as_systemd_passes_it);
        tcase_add_test(tc, test_exec_gets_both_wildcards_named_netutil_each);
        tcase_add_test(tc, test_exec_of_missing_command_fails_in_words);

        tc = tcase(s, "policy");
        tcase_add_test(tc, test_nobody_may_bind_unprivileged_port_8080);
        tcase_add_test(tc, test_nobody_is_refused_port_80_by_default);
        tcase_add_test(tc, test_user_rule_allows_port_80_for_nobody_only);
        tcase_add_test(tc, test_group_rule_needs_the_supplementary_group);
        tcase_add_test(tc, test_address_rule_allows_that_address_not_the_wildcard);

        tc = tcase(s, "held");
        tcase_add_test(tc, test_hold_twice_returns_the_same_socket);
        tcase_add_test(tc, test_held_socket_keeps_queued_connection_for_the_next_app);
        tcase_add_test(tc, test_hold_list_text_and_json);
        tcase_add_test(tc, test_hold_release_closes_the_port_once_every_copy_is_closed);
        tcase_add_test(tc, test_release_of_unknown_name_fails);
        tcase_add_test(tc, test_nobody_cannot_take_or_release_roots_name);
        tcase_add_test(tc, test_root_sees_every_held_name_nobody_only_its_own);
        tcase_add_test(tc, test_nobody_may_hold_64_names_not_65);
        tcase_add_test(tc, test_shut_down_held_listener_on_fixed_port_listens_again);
        tcase_add_test(tc, test_shut_down_held_listener_on_ephemeral_port_listens_again);

        tc = tcase(s, "many-fds");
        tcase_add_test(tc, test_name_with_300_addresses_gives_300_sockets_in_one_answer);

        tc = tcase(s, "disconnect");
        tcase_add_test(tc, test_disconnect_with_hosts_name_bind_in_flight_costs_nothing);
        tcase_add_test(tc, test_disconnect_while_dns_lookup_is_pending_costs_nothing);

        tc = tcase(s, "async");
        tcase_add_test(tc, test_async_bind_hands_the_sockets_to_the_callback);
        tcase_add_test(tc, test_async_hold_list_and_release);
        tcase_add_test(tc, test_async_bind_cancelled_before_the_loop_runs_never_calls_back);
        tcase_add_test(tc, test_async_binds_pipelined_on_one_connection_all_complete);

        tc = tcase(s, "held-kinds");
        tcase_add_test(tc, test_hold_of_a_name_that_binds_nothing_is_refused);
        tcase_add_test(tc, test_held_name_of_one_kind_is_refused_for_the_other);
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
                fprintf(stderr, "check-handover needs root (network namespaces, setpriv); skipped.\n");
                return 77;
        }

        /* Every test unshare()s its namespaces: one process each, whatever CK_FORK says. */
        return test_run_suite(handover_suite(), true);
}
