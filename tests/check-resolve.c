/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of resolve and overrides: the real netutild resolves through a real
 * DNS server, the real netutilctl (or libnetutil in this process) asks. Covers Tornado's
 * resolve() through the daemon (reference §5: getaddrinfo's order, families, ports,
 * errors in words and JSON, literals that never reach a backend), OverrideResolver
 * (§6: the upstream OverrideResolverTest mapping, the three key forms and their
 * precedence, one substitution, exact keys, the family passed through), scopes, expiry,
 * the override policy as nobody and uid 1234, error and usage paths, an upstream that
 * never answers, clients that leave with resolves in flight, and 2000 pipelined
 * asynchronous resolves. Each test that does not depend on the backend runs three times
 * (a Check loop test): _i 0 is the default backend (threadpool, no config file), _i 1 is
 * Resolver=blocking, _i 2 is Resolver=cares; every test checks that the daemon's fd count
 * is back at its baseline. The cares backend's own tests (its cache, coalescing, 10 000
 * resolves in flight, a dead upstream) count the queries that reach dnsmasq in its log, and
 * answer some of them themselves as the slow.test upstream.
 *
 * Every test runs in its own process (Check's fork mode) inside its own network and mount
 * namespaces (unshare -mn, / made private), with lo up and, bind-mounted over /etc:
 *   - resolv.conf: "nameserver 127.0.0.1" with "options timeout:1 attempts:1", so that a
 *     lookup the upstream never answers gives up after about a second;
 *   - hosts: "127.0.0.1 localhost" only (no ::1 line: localhost is IPv4 here);
 *   - nsswitch.conf: only if its hosts line is not already "files dns".
 * Then dnsmasq on 127.0.0.1:53 (started before the daemon, which inherits all of this):
 *   example.test     A 192.0.2.10 and AAAA 2001:db8::10
 *   v4only.test      A 192.0.2.20 only
 *   short.test       A 192.0.2.30 from --addn-hosts (a memfd), TTL 1 s, changed by SIGHUP
 *   slow.test        forwarded to 127.0.0.2:5353, a UDP socket of ours that never answers
 *   *.test otherwise NXDOMAIN
 * The tests run as root; unprivileged clients go through setpriv.
 */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The NULL-terminated argument list of a command line. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* setpriv(1) arguments for the unprivileged clients: 65534 is nobody, 1234 a uid without
 * a passwd entry (the policy names it by number). */
#define AS_ROOT NULL
#define AS_NOBODY ARGS("--reuid=65534", "--regid=65534", "--clear-groups")
#define AS_UID_1234 ARGS("--reuid=1234", "--regid=1234", "--clear-groups")

#define DNSMASQ_BIN "/usr/sbin/dnsmasq"
#define HOSTS_TEXT "127.0.0.1 localhost\n"
#define RESOLV_TEXT "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
/* slow.test's upstream: our socket, bound and never read from. */
#define SILENT_ADDRESS "127.0.0.2"
#define SILENT_PORT 5353
/* How long a client gives the daemon when the test does not test timeouts. */
#define CALL_TIMEOUT_USEC (10ULL * 1000 * 1000)

#define REFUSED_GLOBAL(uid) "Permission denied by policy: the global override table is not writable by uid " uid
#define REFUSED_SCOPE(scope, owner, uid)                                                                       \
        "Permission denied by policy: scope '" scope "' belongs to uid " owner " and is not writable by uid " uid

/* The backends, by loop index. */
static const char *const backend_names[] = { "threadpool", "blocking", "cares" };
#define BACKEND_CARES 2

static TestDaemon daemon_;
static int baseline_fds;
static pid_t dnsmasq_pid = -1;
static int silent_fd = -1;
/* short.test's record: a memfd (nothing left behind in /tmp when a test fails), which
 * dnsmasq reads through its /proc path. */
static int addn_fd = -1;
static char addn_hosts[64];
/* dnsmasq's log of the queries it receives (--log-queries), also a memfd; -1 unless a
 * test restarted dnsmasq to count them. */
static int dnsmasq_log_fd = -1;
/* The daemon's --config file, "" if none: gone once it started. */
static char daemon_config[64];
/* The last ctl() run's output. */
static char out[65536], err[8192];

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *setpriv_bin(void) {
        static const char *const candidates[] = { "/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (access(candidates[i], X_OK) == 0)
                        return candidates[i];
        return "/usr/bin/setpriv";
}

static const char *env_bin(void) {
        return access("/usr/bin/env", X_OK) == 0 ? "/usr/bin/env" : "/bin/env";
}

__attribute__((format(printf, 3, 4))) static const char *fmt(char *buf, size_t len, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, len, format, ap);
        va_end(ap);
        return buf;
}

static const char *family_word(int family) {
        return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "any";
}

/* ---- the environment: namespaces, /etc, dnsmasq ------------------------------------- */

/* Bind-mounts a new file with text over target (in the private mount namespace). */
static void mount_text_over(const char *target, const char *text) {
        char path[] = "/tmp/netutild-resolve.XXXXXX";
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

/* getaddrinfo() must ask /etc/hosts, then DNS: if nsswitch.conf says otherwise here, a copy
 * with "hosts: files dns" goes over it. */
static void use_hosts_files_then_dns(void) {
        char line[1024], text[16384] = "";
        bool found = false, as_wanted = false;
        size_t used = 0;
        FILE *f = fopen("/etc/nsswitch.conf", "re");

        if (f) {
                while (fgets(line, sizeof(line), f)) {
                        if (strncmp(line, "hosts:", 6) == 0) {
                                char a[64] = "", b[64] = "", c[64] = "";
                                int n = sscanf(line + 6, "%63s %63s %63s", a, b, c);

                                found = true;
                                as_wanted = n == 2 && strcmp(a, "files") == 0 && strcmp(b, "dns") == 0;
                                snprintf(line, sizeof(line), "hosts: files dns\n");
                        }
                        ck_assert_uint_lt(used + strlen(line), sizeof(text));
                        strcpy(text + used, line);
                        used += strlen(line);
                }
                fclose(f);
        }
        if (!found)
                snprintf(text + used, sizeof(text) - used, "hosts: files dns\n");
        if (!as_wanted)
                mount_text_over("/etc/nsswitch.conf", text);
}

static void write_addn_hosts(const char *text) {
        size_t len = strlen(text);

        ck_assert_int_eq(ftruncate(addn_fd, 0), 0);
        ck_assert_int_eq(pwrite(addn_fd, text, len, 0), (ssize_t) len);
}

/* The first IPv4 address getaddrinfo() gives here for host, or "" on failure. */
static void first_ipv4(const char *host, char *buf, size_t len) {
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;

        buf[0] = '\0';
        if (getaddrinfo(host, NULL, &hints, &res) != 0)
                return;
        inet_ntop(AF_INET, &((struct sockaddr_in *) res->ai_addr)->sin_addr, buf, (socklen_t) len);
        freeaddrinfo(res);
}

/* Waits (5 s at most) until dnsmasq gives want for host. */
static void wait_dns_answer(const char *host, const char *want) {
        long long deadline = now_ms() + 5000;
        char got[INET6_ADDRSTRLEN] = "";

        while (now_ms() < deadline) {
                int status;

                first_ipv4(host, got, sizeof(got));
                if (strcmp(got, want) == 0)
                        return;
                ck_assert_msg(dnsmasq_pid < 0 || waitpid(dnsmasq_pid, &status, WNOHANG) == 0,
                              "dnsmasq exited (wait status 0x%x)", status);
                usleep(20000);
        }
        ck_abort_msg("DNS gave '%s' for %s, not %s, within 5 s", got, host, want);
}

static void start_dnsmasq(void) {
        char addn_arg[128], log_arg[128];
        const char *argv[] = { DNSMASQ_BIN,
                               "--no-daemon", /* also: no user change, so the parent-death signal stays */
                               "--no-resolv",
                               "--no-hosts",
                               "--listen-address=127.0.0.1",
                               "--bind-interfaces",
                               "--port=53",
                               "--pid-file=",
                               "--conf-file=/dev/null",
                               "--address=/example.test/192.0.2.10",
                               "--address=/example.test/2001:db8::10",
                               "--host-record=v4only.test,192.0.2.20",
                               "--local-ttl=1",
                               addn_arg,
                               "--local=/test/",
                               "--server=/slow.test/" SILENT_ADDRESS "#5353",
                               /* Its default of 150 forwarded queries at once would answer
                                * the cares cap test's 1000 with REFUSED. */
                               "--dns-forward-max=4096",
                               NULL, /* the log's two, if there is one */
                               NULL,
                               NULL };
        pid_t parent = getpid();

        snprintf(addn_arg, sizeof(addn_arg), "--addn-hosts=%s", addn_hosts);
        if (dnsmasq_log_fd >= 0) {
                snprintf(log_arg, sizeof(log_arg), "--log-facility=/proc/%d/fd/%d", (int) getpid(),
                         dnsmasq_log_fd);
                argv[ELEMENTSOF(argv) - 3] = "--log-queries";
                argv[ELEMENTSOF(argv) - 2] = log_arg;
        }
        dnsmasq_pid = fork();
        ck_assert_int_ge(dnsmasq_pid, 0);
        if (dnsmasq_pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* It dies with this test process, even when an assertion ends it early. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || null < 0)
                        _exit(1);
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        wait_dns_answer("v4only.test", "192.0.2.20");
}

static void stop_dnsmasq(void) {
        if (dnsmasq_pid <= 0)
                return;
        kill(dnsmasq_pid, SIGTERM);
        waitpid(dnsmasq_pid, NULL, 0);
        dnsmasq_pid = -1;
}

/* Checked fixture: namespaces, /etc, the silent upstream and dnsmasq, in this test's own
 * process before the daemon starts, so that the daemon inherits all of it. */
static void setup(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SILENT_PORT) };
        struct ifreq ifr = {};
        int fd;

        ck_assert_msg(unshare(CLONE_NEWNET | CLONE_NEWNS) == 0, "unshare(CLONE_NEWNET|CLONE_NEWNS): %s (run as root)",
                      strerror(errno));
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        strcpy(ifr.ifr_name, "lo");
        ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags |= IFF_UP;
        ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
        close(fd);
        /* Nothing of ours (Check's message file, say) leaks into the daemon or dnsmasq. */
        ck_assert_int_eq(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), 0);
        unsetenv("NETUTIL_SCOPE");
        unsetenv("NETUTILD_SOCKET");

        mount_text_over("/etc/resolv.conf", RESOLV_TEXT);
        mount_text_over("/etc/hosts", HOSTS_TEXT);
        use_hosts_files_then_dns();

        silent_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(silent_fd, 0);
        ck_assert_int_eq(inet_pton(AF_INET, SILENT_ADDRESS, &sa.sin_addr), 1);
        ck_assert_int_eq(bind(silent_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        addn_fd = memfd_create("netutild-resolve-hosts", MFD_CLOEXEC);
        ck_assert_int_ge(addn_fd, 0);
        snprintf(addn_hosts, sizeof(addn_hosts), "/proc/%d/fd/%d", (int) getpid(), addn_fd);
        write_addn_hosts("192.0.2.30 short.test\n");

        start_dnsmasq();
}

static void teardown(void) {
        /* After a failed assertion the process exits without this; the daemon and dnsmasq
         * die with it (parent-death signals). */
        if (daemon_.pid > 0)
                test_daemon_stop_signal(&daemon_, SIGKILL);
        stop_dnsmasq();
        if (silent_fd >= 0)
                close(silent_fd);
        silent_fd = -1;
        if (addn_fd >= 0)
                close(addn_fd);
        addn_fd = -1;
        if (dnsmasq_log_fd >= 0)
                close(dnsmasq_log_fd);
        dnsmasq_log_fd = -1;
}

/* Starts dnsmasq again, now logging every query it receives: for the tests that count the
 * queries the daemon sends. */
static void restart_dnsmasq_logging_queries(void) {
        stop_dnsmasq();
        dnsmasq_log_fd = memfd_create("netutild-resolve-dnsmasq-log", MFD_CLOEXEC);
        ck_assert_int_ge(dnsmasq_log_fd, 0);
        start_dnsmasq();
}

/* How many queries of type (A or AAAA) for name (ASCII case ignored) dnsmasq has logged
 * receiving: its lines "... query[A] example.test from 127.0.0.1". */
static unsigned dnsmasq_queries(const char *type, const char *name) {
        static char text[1 << 20];
        char needle[300];
        unsigned n = 0;
        ssize_t k;

        ck_assert_int_ge(dnsmasq_log_fd, 0);
        k = pread(dnsmasq_log_fd, text, sizeof(text) - 1, 0);
        ck_assert_int_ge(k, 0);
        ck_assert_int_lt(k, (ssize_t) sizeof(text) - 1);
        text[k] = '\0';
        snprintf(needle, sizeof(needle), "query[%s] %s from ", type, name);
        for (const char *p = text; (p = strcasestr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Datagrams waiting on the silent upstream (dnsmasq forwarded a slow.test query); drained. */
static size_t silent_drain(void) {
        char buf[1024];
        size_t n = 0;

        while (recv(silent_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                n++;
        return n;
}

/* Waits (up to timeout_ms) for a query to reach the silent upstream. */
static void silent_wait_query(int timeout_ms) {
        struct pollfd p = { .fd = silent_fd, .events = POLLIN };

        ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "no slow.test query reached its upstream within %d ms",
                      timeout_ms);
}

typedef TestDnsQuery DnsQuery;

/* Takes the next query that reaches the silent upstream (within 3 s), which must ask for
 * an A record. */
static void silent_take_query(DnsQuery *q) {
        ck_assert_msg(test_dns_take_query(silent_fd, 3000, q) == 1,
                      "no slow.test query reached its upstream within 3000 ms");
        ck_assert_msg(q->type == 1, "the upstream was asked for type %u, not A", q->type);
}

/* Answers q with one A record, address with ttl. */
static void silent_answer(const DnsQuery *q, const char *address, uint32_t ttl) {
        test_dns_answer_a(silent_fd, q, address, ttl);
}

/* Plays slow.test's upstream for once: the next query must be for qname's A record. */
static void silent_answer_a(const char *qname, const char *address, uint32_t ttl) {
        DnsQuery q;

        silent_take_query(&q);
        ck_assert_msg(strcasecmp(q.name, qname) == 0, "the upstream was asked for '%s', not '%s'", q.name, qname);
        silent_answer(&q, address, ttl);
}

/* ---- the daemon ---------------------------------------------------------------------- */

static char *write_config(const char *text) {
        static char path[64];
        size_t len = strlen(text);
        int fd;

        snprintf(path, sizeof(path), "/tmp/netutild-resolve-conf.XXXXXX");
        fd = mkostemp(path, O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        close(fd);
        return path;
}

static void assert_fds_at_baseline(void) {
        int n = test_wait_fd_count(daemon_.pid, baseline_fds, 3000);

        ck_assert_msg(n == baseline_fds, "daemon has %d fds open, expected its baseline %d", n, baseline_fds);
}

/* Waits (up to 6 s) until the daemon's fd count has stayed at its baseline for 500 ms: for
 * work that passes through the baseline on its way (one lookup's socket closed before the
 * next one's is opened). */
static void assert_fds_settle_at_baseline(void) {
        long long deadline = now_ms() + 6000, since = -1;
        int n = -1;

        while (now_ms() < deadline) {
                n = test_count_fds(daemon_.pid);
                if (n != baseline_fds)
                        since = -1;
                else if (since < 0)
                        since = now_ms();
                else if (now_ms() - since >= 500)
                        return;
                usleep(10000);
        }
        ck_abort_msg("daemon fd count did not settle at its baseline %d (last %d)", baseline_fds, n);
}

static netutil_client *open_client(void) {
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        return c;
}

/* Starts netutild (user mode, under setpriv --pdeathsig) with the backend of loop index
 * backend (0: the default, no config file unless other lines are needed; 1:
 * Resolver=blocking; 2: Resolver=cares), plus [Daemon] and [Policy] lines (either may be NULL); measures the
 * fd baseline and checks that the daemon reports the backend in use. */
static void start_daemon_for(int backend, const char *daemon_lines, const char *policy_lines) {
        const char *argv[16] = { setpriv_bin(), "--pdeathsig", "KILL", "@NETUTILD@", "--user", "--socket",
                                 "@SOCKET@",    "--state-dir", "@DIR@" };
        char *conf = NULL, text[2048];
        netutil_status *s = NULL;
        netutil_client *c;
        size_t n = 9;

        ck_assert_int_lt(backend, (int) ELEMENTSOF(backend_names));
        if (backend != 0 || daemon_lines || policy_lines) {
                snprintf(text, sizeof(text), "[Daemon]\n%s%s%s%s",
                         backend == 1 ? "Resolver=blocking\n" : backend == BACKEND_CARES ? "Resolver=cares\n" : "",
                         daemon_lines ? daemon_lines : "", policy_lines ? "[Policy]\n" : "",
                         policy_lines ? policy_lines : "");
                conf = write_config(text);
                argv[n++] = "--config";
                argv[n++] = conf;
        }
        argv[n] = NULL;
        ck_assert_int_eq(test_daemon_start_argv(&daemon_, argv, true), 0);
        if (conf)
                unlink(conf); /* read at start; a reload test writes it anew (daemon_config) */
        snprintf(daemon_config, sizeof(daemon_config), "%s", conf ? conf : "");
        /* sd_notify() opens a socket for a moment after READY=1, and the first loop iteration
         * writes the names index and the rules file: wait until the count holds still. */
        baseline_fds = test_daemon_steady_fds(&daemon_);
        /* The directory is 0700 (mkdtemp): let other users reach the socket (0666). */
        ck_assert_int_eq(chmod(daemon_.dir, 0755), 0);

        c = open_client();
        ck_assert_int_eq(netutil_status_get(c, CALL_TIMEOUT_USEC, &s), 0);
        ck_assert_str_eq(s->resolver, backend_names[backend]);
        netutil_status_free(s);
        netutil_client_close(c);
        assert_fds_at_baseline();
}

static void stop_daemon_expect_clean_exit(void) {
        int status = test_daemon_stop(&daemon_);

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon wait status 0x%x", status);
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

/* ---- running netutilctl -------------------------------------------------------------- */

/* [env ENV] [setpriv PRIV...] netutilctl --socket DAEMON [--json] ARGS into argv; returns
 * the count, or 0 if it does not fit. No assertions: also used in forked children. */
static size_t build_ctl_argv(const char **argv, size_t max, const char *env, const char *const *priv, bool json,
                             const char *const *args) {
        size_t n = 0;

        if (env) {
                argv[n++] = env_bin();
                argv[n++] = env;
        }
        if (priv) {
                argv[n++] = setpriv_bin();
                for (size_t i = 0; priv[i] && n < max; i++)
                        argv[n++] = priv[i];
        }
        if (n + 4 >= max)
                return 0;
        argv[n++] = test_netutilctl_bin();
        argv[n++] = "--socket";
        argv[n++] = daemon_.socket;
        if (json)
                argv[n++] = "--json";
        for (size_t i = 0; args[i]; i++) {
                if (n + 1 >= max)
                        return 0;
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        return n;
}

/* The last ctl()'s command line, for failure messages. */
static char last_command[1024];

static int ctl_full(const char *env, const char *const *priv, bool json, const char *const *args) {
        const char *argv[64];
        size_t used = 0;

        ck_assert_uint_gt(build_ctl_argv(argv, ELEMENTSOF(argv), env, priv, json, args), 0);
        last_command[0] = '\0';
        for (size_t i = 0; argv[i] && used < sizeof(last_command); i++)
                used += (size_t) snprintf(last_command + used, sizeof(last_command) - used, "%s%s", i ? " " : "",
                                          argv[i] == daemon_.socket ? "SOCKET" : argv[i]);
        return test_run(argv, out, sizeof(out), err, sizeof(err));
}

/* netutilctl as root (priv NULL) or through setpriv with priv; output in out and err. */
static int ctl(const char *const *priv, const char *const *args) {
        return ctl_full(NULL, priv, false, args);
}

/* The same with --json. */
static int ctl_json(const char *const *priv, const char *const *args) {
        return ctl_full(NULL, priv, true, args);
}

/* The same with one variable (NAME=VALUE) added to the environment. */
static int ctl_env(const char *env, const char *const *priv, const char *const *args) {
        return ctl_full(env, priv, false, args);
}

/* Asserts the last ctl()'s exit status and exact outputs. */
static void expect_run(int status, int want_status, const char *want_out, const char *want_err) {
        ck_assert_msg(status == want_status, "%s: exit status %d, expected %d; stdout '%s', stderr '%s'",
                      last_command, status, want_status, out, err);
        ck_assert_msg(strcmp(out, want_out) == 0, "%s: stdout '%s', expected '%s'", last_command, out, want_out);
        ck_assert_msg(strcmp(err, want_err) == 0, "%s: stderr '%s', expected '%s'", last_command, err, want_err);
}

/* Succeeds with exactly want_out on stdout and nothing on stderr. */
static void expect_ok(const char *const *priv, const char *const *args, const char *want_out) {
        expect_run(ctl(priv, args), 0, want_out, "");
}

/* Fails (exit 1) with "netutilctl: MESSAGE" on stderr, and with --json also the error
 * object of CLI.md on stdout (with "gai" if gai is not NULL). */
static void expect_fail(const char *const *priv, const char *const *args, int error, const char *message,
                        const char *gai) {
        char want_err[1024], want_json[2048], gai_part[64] = "";
        const char *name = strerrorname_np(error);

        ck_assert_ptr_nonnull(name);
        fmt(want_err, sizeof(want_err), "netutilctl: %s\n", message);
        if (gai)
                fmt(gai_part, sizeof(gai_part), ", \"gai\": \"%s\"", gai);
        fmt(want_json, sizeof(want_json), "{\"error\": {\"errno\": %d, \"name\": \"%s\", \"message\": \"%s\"%s}}\n",
            error, name, message, gai_part);
        expect_run(ctl(priv, args), 1, "", want_err);
        expect_run(ctl_json(priv, args), 1, want_json, want_err);
}

/* A usage error: exit 2, nothing on stdout, "netutilctl: MESSAGE" and the hint on stderr. */
static void expect_usage(const char *const *args, const char *message) {
        char want[1024];

        fmt(want, sizeof(want), "netutilctl: %s\nTry 'netutilctl --help'.\n", message);
        expect_run(ctl(AS_ROOT, args), 2, "", want);
}

/* A netutilctl run in a child process, for a request that waits while the test goes on. */
typedef struct Background {
        pid_t pid;
        int fd; /* the child writes "STATUS\n" STDOUT "\x1f" STDERR here */
} Background;

static Background ctl_background(const char *const *args) {
        Background b = { -1, -1 };
        const char *argv[64];
        int p[2];

        ck_assert_uint_gt(build_ctl_argv(argv, ELEMENTSOF(argv), NULL, NULL, false, args), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        b.pid = fork();
        ck_assert_int_ge(b.pid, 0);
        if (b.pid == 0) {
                static char o[8192], e[8192], msg[16500];
                int status, len;

                close(p[0]);
                status = test_run(argv, o, sizeof(o), e, sizeof(e));
                len = snprintf(msg, sizeof(msg), "%d\n%s\x1f%s", status, o, e);
                (void) !write(p[1], msg, (size_t) len);
                _exit(0);
        }
        close(p[1]);
        b.fd = p[0];
        return b;
}

static bool background_running(const Background *b) {
        return waitpid(b->pid, NULL, WNOHANG) == 0;
}

/* Waits for the child and puts its netutilctl's output in out and err; returns its exit
 * status. */
static int background_wait(Background *b) {
        static char buf[16500];
        size_t used = 0;
        ssize_t k;
        char *sep, *nl;
        int status = -1;

        while ((k = read(b->fd, buf + used, sizeof(buf) - 1 - used)) > 0)
                used += (size_t) k;
        buf[used] = '\0';
        close(b->fd);
        ck_assert_int_eq(waitpid(b->pid, NULL, 0), b->pid);
        nl = strchr(buf, '\n');
        sep = strchr(buf, '\x1f');
        ck_assert_msg(nl && sep && sep > nl, "background netutilctl wrote '%s'", buf);
        status = atoi(buf);
        snprintf(last_command, sizeof(last_command), "(in the background) netutilctl");
        *sep = '\0';
        snprintf(out, sizeof(out), "%s", nl + 1);
        snprintf(err, sizeof(err), "%s", sep + 1);
        return status;
}

/* ---- what getaddrinfo() gives here --------------------------------------------------- */

#define MAX_EXPECTED 8

/* getaddrinfo()'s answer in this process (same namespaces and /etc as the daemon), as
 * Tornado's shared lookup asks (SOCK_STREAM, no flags). */
typedef struct Expected {
        int gai;
        size_t n;
        int family[MAX_EXPECTED];
        char address[MAX_EXPECTED][INET6_ADDRSTRLEN];
        unsigned flowinfo[MAX_EXPECTED], scope_id[MAX_EXPECTED];
} Expected;

static void gai_lookup(const char *host, int family, Expected *e) {
        struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM }, *res = NULL;

        memset(e, 0, sizeof(*e));
        e->gai = getaddrinfo(host, "0", &hints, &res);
        if (e->gai != 0)
                return;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *) ai->ai_addr;
                        inet_ntop(AF_INET, &in->sin_addr, e->address[e->n], INET6_ADDRSTRLEN);
                } else if (ai->ai_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ai->ai_addr;
                        inet_ntop(AF_INET6, &in6->sin6_addr, e->address[e->n], INET6_ADDRSTRLEN);
                        e->flowinfo[e->n] = ntohl(in6->sin6_flowinfo);
                        e->scope_id[e->n] = in6->sin6_scope_id;
                } else
                        continue;
                e->family[e->n] = ai->ai_family;
                ck_assert_uint_lt(++e->n, MAX_EXPECTED);
        }
        freeaddrinfo(res);
}

/* As netutilctl prints them: one "ipv4 ADDRESS PORT" line each. */
static void expected_text(const Expected *e, unsigned port, char *buf, size_t len) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < e->n; i++)
                used += (size_t) snprintf(buf + used, len - used, "%s %s %u\n", family_word(e->family[i]),
                                          e->address[i], port);
}

static void expected_json(const Expected *e, unsigned port, char *buf, size_t len) {
        size_t used = (size_t) snprintf(buf, len, "{\"addresses\": [");

        for (size_t i = 0; i < e->n; i++) {
                used += (size_t) snprintf(buf + used, len - used,
                                          "%s{\"family\": \"%s\", \"address\": \"%s\", \"port\": %u", i ? ", " : "",
                                          family_word(e->family[i]), e->address[i], port);
                if (e->family[i] == AF_INET6)
                        used += (size_t) snprintf(buf + used, len - used, ", \"flowinfo\": %u, \"scope_id\": %u",
                                                  e->flowinfo[i], e->scope_id[i]);
                used += (size_t) snprintf(buf + used, len - used, "}");
        }
        snprintf(buf + used, len - used, "]}\n");
}

/* The addresses of e are exactly the "FAMILY ADDRESS" entries of want, in some order (the
 * order is getaddrinfo's): so the fixture is what the test thinks it is. */
static void assert_expected_is(const Expected *e, const char *host, const char *const *want) {
        size_t n = 0;

        ck_assert_msg(e->gai == 0, "getaddrinfo(%s) here: %s", host, gai_strerror(e->gai));
        for (; want[n]; n++) {
                bool found = false;
                char line[128];

                for (size_t i = 0; i < e->n; i++)
                        if (strcmp(fmt(line, sizeof(line), "%s %s", family_word(e->family[i]), e->address[i]),
                                   want[n]) == 0)
                                found = true;
                ck_assert_msg(found, "getaddrinfo(%s) here does not give %s", host, want[n]);
        }
        ck_assert_uint_eq(e->n, n);
}

/* `resolve [--family F] HOST PORT` gives, in text and JSON, exactly what getaddrinfo() gives
 * here for it, which must be the addresses in want. */
static void expect_resolve_as_here(const char *host, unsigned port, int family, const char *const *want) {
        char port_s[16], text[2048], json[4096];
        Expected e;

        gai_lookup(host, family, &e);
        assert_expected_is(&e, host, want);
        expected_text(&e, port, text, sizeof(text));
        expected_json(&e, port, json, sizeof(json));
        fmt(port_s, sizeof(port_s), "%u", port);
        expect_ok(AS_ROOT, ARGS("resolve", "--family", family_word(family), host, port_s), text);
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "--family", family_word(family), host, port_s)), 0, json, "");
}

/* The errno the daemon sends for an EAI code (common/gai.c's table, for the codes seen
 * here). */
static int gai_errno(int gai) {
        switch (gai) {
        case EAI_NONAME:
        case EAI_NODATA:
        case EAI_ADDRFAMILY:
                return EADDRNOTAVAIL;
        case EAI_AGAIN:
                return EAGAIN;
        default:
                ck_abort_msg("unexpected EAI code %d here", gai);
                return 0;
        }
}

/* `resolve` of host fails exactly as getaddrinfo() fails here, which must be one of the
 * codes in want_gai (0-terminated). */
static void expect_resolve_fails_as_here(const char *host, int family, const int *want_gai) {
        bool listed = false;
        Expected e;

        gai_lookup(host, family, &e);
        for (size_t i = 0; want_gai[i]; i++)
                listed = listed || e.gai == want_gai[i];
        ck_assert_msg(listed, "getaddrinfo(%s, %s) here: %d (%s)", host, family_word(family), e.gai,
                      e.gai ? gai_strerror(e.gai) : "success");
        expect_fail(AS_ROOT, ARGS("resolve", "--family", family_word(family), host), gai_errno(e.gai),
                    gai_strerror(e.gai), netutil_gai_name(e.gai));
}

/* As netutilctl prints addresses the library returned. */
static void format_addresses(const netutil_address *a, size_t n, char *buf, size_t len) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                char addr[INET6_ADDRSTRLEN] = "?";
                unsigned port = 0;

                if (a[i].family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *) &a[i].address;
                        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
                        port = ntohs(in->sin_port);
                } else if (a[i].family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &a[i].address;
                        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
                        port = ntohs(in6->sin6_port);
                }
                used += (size_t) snprintf(buf + used, len - used, "%s %s %u\n", family_word(a[i].family), addr, port);
        }
}

/* netutil_resolve() of host as text lines, or "error NAME: message". */
static void lib_resolve(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                        char *buf, size_t len) {
        netutil_address *a = NULL;
        int n = netutil_resolve(c, host, port, family, scope, CALL_TIMEOUT_USEC, &a);

        if (n < 0) {
                const char *m = netutil_client_error_message(c);
                snprintf(buf, len, "error %s: %s", strerrorname_np(-n), m ? m : "");
                return;
        }
        format_addresses(a, (size_t) n, buf, len);
        free(a);
}

/* ---- raw protocol -------------------------------------------------------------------- */

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void raw_resolve(int fd, uint32_t serial, const char *host, unsigned port, int family) {
        ProtoMsg *m = NULL;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_RESOLVE, serial, &m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_HOST, host), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_PORT, port), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) family), 0);
        ck_assert_int_eq(proto_send(fd, m), 0);
        proto_msg_free(m);
}

/* ---- 1. resolve: getaddrinfo through the daemon (reference §5.2, §5.3) --------------- */

START_TEST(test_localhost_gives_the_hosts_file_address) {
        start_daemon_for(_i, NULL, NULL);
        /* /etc/hosts has "127.0.0.1 localhost" only: no DNS answer is asked for. */
        expect_ok(AS_ROOT, ARGS("resolve", "localhost"), "ipv4 127.0.0.1 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "localhost", "80"), "ipv4 127.0.0.1 80\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "localhost", "80"), "ipv4 127.0.0.1 80\n");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "localhost", "80")), 0,
                   "{\"addresses\": [{\"family\": \"ipv4\", \"address\": \"127.0.0.1\", \"port\": 80}]}\n", "");
        expect_resolve_as_here("localhost", 80, AF_UNSPEC, ARGS("ipv4 127.0.0.1"));
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_name_with_a_and_aaaa_gives_both_in_getaddrinfo_order) {
        start_daemon_for(_i, NULL, NULL);
        expect_resolve_as_here("example.test", 8080, AF_UNSPEC, ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        expect_resolve_as_here("example.test", 0, AF_UNSPEC, ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_family_filter_gives_only_that_family) {
        static const int no_data[] = { EAI_NONAME, EAI_NODATA, 0 };

        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "443"), "ipv4 192.0.2.10 443\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "example.test", "443"), "ipv6 2001:db8::10 443\n");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "--family", "ipv6", "example.test", "443")), 0,
                   "{\"addresses\": [{\"family\": \"ipv6\", \"address\": \"2001:db8::10\", \"port\": 443, "
                   "\"flowinfo\": 0, \"scope_id\": 0}]}\n",
                   "");
        expect_ok(AS_ROOT, ARGS("resolve", "v4only.test"), "ipv4 192.0.2.20 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "v4only.test"), "ipv4 192.0.2.20 0\n");
        /* A name without AAAA asked for ipv6 fails as getaddrinfo() fails for it here. */
        expect_resolve_fails_as_here("v4only.test", AF_INET6, no_data);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_unknown_name_fails_with_eai_noname_in_words_and_json) {
        start_daemon_for(_i, NULL, NULL);
        expect_fail(AS_ROOT, ARGS("resolve", "nx.test"), EADDRNOTAVAIL, "Name or service not known", "EAI_NONAME");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "nx.test", "80")), 1,
                   "{\"error\": {\"errno\": 99, \"name\": \"EADDRNOTAVAIL\", \"message\": \"Name or service not "
                   "known\", \"gai\": \"EAI_NONAME\"}}\n",
                   "netutilctl: Name or service not known\n");
        expect_fail(AS_ROOT, ARGS("resolve", "--family", "ipv6", "nx.test"), EADDRNOTAVAIL,
                    "Name or service not known", "EAI_NONAME");
        /* The daemon serves on after a failure. */
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test"), "ipv4 192.0.2.10 0\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_literals_are_answered_with_the_dns_server_stopped) {
        static const int unreachable[] = { EAI_AGAIN, 0 };

        start_daemon_for(_i, NULL, NULL);
        stop_dnsmasq();
        /* DNS is really gone: a name fails now. */
        expect_resolve_fails_as_here("example.test", AF_UNSPEC, unreachable);

        expect_ok(AS_ROOT, ARGS("resolve", "127.0.0.1"), "ipv4 127.0.0.1 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "127.0.0.1", "8000"), "ipv4 127.0.0.1 8000\n");
        expect_ok(AS_ROOT, ARGS("resolve", "::1", "443"), "ipv6 ::1 443\n");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "::1", "443")), 0,
                   "{\"addresses\": [{\"family\": \"ipv6\", \"address\": \"::1\", \"port\": 443, \"flowinfo\": 0, "
                   "\"scope_id\": 0}]}\n",
                   "");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "--family", "ipv4", "192.0.2.55", "1")), 0,
                   "{\"addresses\": [{\"family\": \"ipv4\", \"address\": \"192.0.2.55\", \"port\": 1}]}\n", "");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "2001:db8::77"), "ipv6 2001:db8::77 0\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_literal_of_the_other_family_fails_with_eai_addrfamily) {
        start_daemon_for(_i, NULL, NULL);
        expect_fail(AS_ROOT, ARGS("resolve", "--family", "ipv4", "::1", "80"), EADDRNOTAVAIL,
                    "Address family for hostname not supported", "EAI_ADDRFAMILY");
        expect_fail(AS_ROOT, ARGS("resolve", "--family", "ipv6", "127.0.0.1", "80"), EADDRNOTAVAIL,
                    "Address family for hostname not supported", "EAI_ADDRFAMILY");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_port_defaults_to_0_and_is_carried_into_every_address) {
        start_daemon_for(_i, NULL, NULL);
        expect_resolve_as_here("example.test", 0, AF_UNSPEC, ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        expect_resolve_as_here("example.test", 65535, AF_UNSPEC, ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "example.test"), "ipv6 2001:db8::10 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "127.0.0.1", "65535"), "ipv4 127.0.0.1 65535\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_changed_dns_record_is_seen_once_its_ttl_is_over) {
        netutil_client *c;
        char got[512] = "";
        long long deadline;

        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("resolve", "short.test", "7"), "ipv4 192.0.2.30 7\n");
        write_addn_hosts("192.0.2.31 short.test\n");
        ck_assert_int_eq(kill(dnsmasq_pid, SIGHUP), 0);
        wait_dns_answer("short.test", "192.0.2.31");
        /* The record's TTL is 1 s: a daemon may keep the old answer that long, no longer. */
        c = open_client();
        deadline = now_ms() + 2500;
        do {
                lib_resolve(c, "short.test", 7, AF_UNSPEC, NULL, got, sizeof(got));
                if (strcmp(got, "ipv4 192.0.2.31 7\n") == 0)
                        break;
                usleep(50000);
        } while (now_ms() < deadline);
        ck_assert_str_eq(got, "ipv4 192.0.2.31 7\n");
        netutil_client_close(c);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* Rewrites the (bind-mounted) /etc/hosts in place, as an editor saving it would. */
static void rewrite_hosts(const char *text) {
        FILE *f = fopen("/etc/hosts", "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(text, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

/* Resolves host (family any, port 9) through the library until the answer is want, for
 * 3 s at most: the cares backend reads /etc/hosts again within a second of a change. */
static void wait_resolve_text(netutil_client *c, const char *host, const char *want) {
        long long deadline = now_ms() + 3000;
        char got[512] = "";

        do {
                lib_resolve(c, host, 9, AF_UNSPEC, NULL, got, sizeof(got));
                if (strcmp(got, want) == 0)
                        return;
                usleep(50000);
        } while (now_ms() < deadline);
        ck_assert_str_eq(got, want);
}

START_TEST(test_hosts_file_names_and_aliases_follow_edits_of_the_file) {
        netutil_client *c;

        start_daemon_for(_i, NULL, NULL);
        c = open_client();
        wait_resolve_text(c, "edited.test", "error EADDRNOTAVAIL: Name or service not known");
        rewrite_hosts("127.0.0.1 localhost\n192.0.2.77 edited.test Alias.Edited.TEST # comment\n");
        wait_resolve_text(c, "edited.test", "ipv4 192.0.2.77 9\n");
        /* Aliases count, ASCII case ignored, as getaddrinfo() has them. */
        expect_resolve_as_here("ALIAS.edited.test", 9, AF_UNSPEC, ARGS("ipv4 192.0.2.77"));
        expect_resolve_as_here("alias.edited.test", 9, AF_INET, ARGS("ipv4 192.0.2.77"));
        /* A name the file no longer has goes to DNS again. */
        rewrite_hosts("127.0.0.1 localhost\n");
        wait_resolve_text(c, "edited.test", "error EADDRNOTAVAIL: Name or service not known");
        netutil_client_close(c);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_hosts_file_answers_in_getaddrinfo_order_and_per_family) {
        start_daemon_for(_i, NULL, NULL);
        rewrite_hosts("127.0.0.1 localhost\n127.0.0.1 both.test\n::1 both.test\n192.0.2.99 example.test\n");
        usleep(1100 * 1000); /* past the cares backend's once-a-second check of the file */
        /* Both loopbacks are usable here: RFC 6724 puts ::1 first, file order notwithstanding. */
        expect_resolve_as_here("both.test", 80, AF_UNSPEC, ARGS("ipv6 ::1", "ipv4 127.0.0.1"));
        expect_resolve_as_here("both.test", 80, AF_INET6, ARGS("ipv6 ::1"));
        /* (Not both.test for IPv4: glibc's files module also gives "::1" as 127.0.0.1 then,
         * c-ares does not, so the backends differ there.) */
        /* The file has example.test for IPv4 only: IPv6 is DNS's answer. */
        expect_resolve_as_here("example.test", 80, AF_INET, ARGS("ipv4 192.0.2.99"));
        expect_resolve_as_here("example.test", 80, AF_INET6, ARGS("ipv6 2001:db8::10"));
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 2. OverrideResolverTest (reference §6, upstream cases) -------------------------- */

#define V6_GOOGLE "2a02:6b8:7c:40c:c51e:495f:e23a:3"

START_TEST(test_override_resolver_upstream_mapping) {
        start_daemon_for(_i, NULL, NULL);
        /* ("google.com", 80) -> ("1.2.3.4", 80); (…, 80, AF_INET) -> ("1.2.3.4", 80);
         * (…, 80, AF_INET6) -> ("2a02:6b8:7c:40c:c51e:495f:e23a:3", 80) */
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "80", "google.com", "1.2.3.4"), "");
        expect_ok(AS_ROOT,
                  ARGS("override", "set", "--port", "80", "--family", "ipv4", "--to-port", "80", "google.com",
                       "1.2.3.4"),
                  "");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "set", "--port", "80", "--family", "ipv6", "--to-port", "80",
                                          "google.com", V6_GOOGLE)),
                   0, "{}\n", "");

        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "google.com", "80"), "ipv4 1.2.3.4 80\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "google.com", "80"), "ipv6 " V6_GOOGLE " 80\n");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "--family", "ipv6", "google.com", "80")), 0,
                   "{\"addresses\": [{\"family\": \"ipv6\", \"address\": \"" V6_GOOGLE "\", \"port\": 80, "
                   "\"flowinfo\": 0, \"scope_id\": 0}]}\n",
                   "");
        /* The default family: the (host, port) key, observed [(AF_INET, ('1.2.3.4', 80))]. */
        expect_ok(AS_ROOT, ARGS("resolve", "google.com", "80"), "ipv4 1.2.3.4 80\n");
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "google.com", "80")), 0,
                   "{\"addresses\": [{\"family\": \"ipv4\", \"address\": \"1.2.3.4\", \"port\": 80}]}\n", "");
        /* localhost falls through unmapped. */
        expect_ok(AS_ROOT, ARGS("resolve", "localhost", "80"), "ipv4 127.0.0.1 80\n");

        expect_run(ctl_json(AS_ROOT, ARGS("override", "list")), 0,
                   "{\"overrides\": ["
                   "{\"scope\": \"global\", \"host\": \"google.com\", \"port\": 80, \"family\": null, \"target\": "
                   "\"1.2.3.4\", \"target_port\": 80, \"expires_in\": null}, "
                   "{\"scope\": \"global\", \"host\": \"google.com\", \"port\": 80, \"family\": \"ipv4\", \"target\": "
                   "\"1.2.3.4\", \"target_port\": 80, \"expires_in\": null}, "
                   "{\"scope\": \"global\", \"host\": \"google.com\", \"port\": 80, \"family\": \"ipv6\", \"target\": "
                   "\"" V6_GOOGLE "\", \"target_port\": 80, \"expires_in\": null}]}\n",
                   "");
        expect_ok(AS_ROOT, ARGS("override", "list"),
                  "global google.com port 80 -> 1.2.3.4 port 80\n"
                  "global google.com port 80 ipv4 -> 1.2.3.4 port 80\n"
                  "global google.com port 80 ipv6 -> " V6_GOOGLE " port 80\n");
        ck_assert_uint_eq(daemon_override_count(), 3);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 3. key forms, precedence, one substitution -------------------------------------- */

START_TEST(test_triple_beats_pair_beats_host) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "p.test", "127.0.0.1"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "8080", "p.test", "127.0.0.2"), "");
        expect_ok(AS_ROOT,
                  ARGS("override", "set", "--port", "80", "--family", "ipv4", "--to-port", "8081", "p.test",
                       "127.0.0.3"),
                  "");

        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "p.test", "80"), "ipv4 127.0.0.3 8081\n");
        expect_ok(AS_ROOT, ARGS("resolve", "p.test", "80"), "ipv4 127.0.0.2 8080\n");
        /* No (p.test, 80, ipv6) key: the pair wins, and the family goes through to the
         * lookup of its IPv4 target, as in Tornado. */
        expect_fail(AS_ROOT, ARGS("resolve", "--family", "ipv6", "p.test", "80"), EADDRNOTAVAIL,
                    "Address family for hostname not supported", "EAI_ADDRFAMILY");
        expect_ok(AS_ROOT, ARGS("resolve", "p.test", "81"), "ipv4 127.0.0.1 81\n");

        /* Take them away one by one: each time the next form answers. */
        expect_ok(AS_ROOT, ARGS("override", "del", "--port", "80", "--family", "ipv4", "p.test"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "p.test", "80"), "ipv4 127.0.0.2 8080\n");
        expect_ok(AS_ROOT, ARGS("override", "del", "--port", "80", "p.test"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "p.test", "80"), "ipv4 127.0.0.1 80\n");
        expect_ok(AS_ROOT, ARGS("override", "del", "p.test"), "");
        expect_fail(AS_ROOT, ARGS("resolve", "p.test", "80"), EADDRNOTAVAIL, "Name or service not known",
                    "EAI_NONAME");
        ck_assert_uint_eq(daemon_override_count(), 0);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_host_rule_keeps_the_asked_port) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "web.test", "127.0.0.5"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test"), "ipv4 127.0.0.5 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test", "443"), "ipv4 127.0.0.5 443\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "web.test", "8443"), "ipv4 127.0.0.5 8443\n");
        /* A (host, port) rule maps the port, and only for that port. */
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "443", "--to-port", "0", "web.test", "127.0.0.6"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test", "443"), "ipv4 127.0.0.6 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "web.test", "444"), "ipv4 127.0.0.5 444\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_one_substitution_only_not_recursive) {
        char text[1024];
        Expected e;

        start_daemon_for(_i, NULL, NULL);
        gai_lookup("example.test", AF_UNSPEC, &e);
        assert_expected_is(&e, "example.test", ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        expected_text(&e, 80, text, sizeof(text));
        /* {"a.test": "example.test", "example.test": "127.0.0.9"}: resolving a.test asks
         * for example.test (its DNS addresses), not for what example.test maps to. */
        expect_ok(AS_ROOT, ARGS("override", "set", "a.test", "example.test"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "example.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "a.test", "80"), text);
        expect_ok(AS_ROOT, ARGS("resolve", "example.test", "80"), "ipv4 127.0.0.9 80\n");
        /* A chain of three does not go further either: b.test asks DNS for a.test. */
        expect_ok(AS_ROOT, ARGS("override", "set", "b.test", "a.test"), "");
        expect_fail(AS_ROOT, ARGS("resolve", "b.test"), EADDRNOTAVAIL, "Name or service not known", "EAI_NONAME");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_keys_are_case_sensitive) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "example.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "example.test"), "ipv4 127.0.0.9 0\n");
        /* "EXAMPLE.TEST" is not the key: it goes to DNS, which (unlike the keys) ignores case. */
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "EXAMPLE.TEST"), "ipv4 192.0.2.10 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "Example.test", "80"), "ipv4 192.0.2.10 80\n");
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "81", "A.TEST", "127.0.0.8"), "");
        expect_fail(AS_ROOT, ARGS("resolve", "a.test", "80"), EADDRNOTAVAIL, "Name or service not known",
                    "EAI_NONAME");
        expect_ok(AS_ROOT, ARGS("resolve", "A.TEST", "80"), "ipv4 127.0.0.8 81\n");
        /* del is exact too. */
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "80", "a.test"), ENOENT,
                    "No override for 'a.test' with that port and family", NULL);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_family_is_passed_through_after_host_substitution) {
        static const int no_data[] = { EAI_NONAME, EAI_NODATA, 0 };

        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "svc.test", "example.test"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "v4.test", "v4only.test"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "svc.test", "53"), "ipv6 2001:db8::10 53\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "svc.test", "53"), "ipv4 192.0.2.10 53\n");
        expect_ok(AS_ROOT, ARGS("resolve", "v4.test"), "ipv4 192.0.2.20 0\n");
        /* Asked for ipv6, the target is looked up for ipv6 and has none: the failure of
         * v4only.test for ipv6, not an IPv4 answer. */
        {
                Expected e;

                gai_lookup("v4only.test", AF_INET6, &e);
                ck_assert_msg(e.gai == no_data[0] || e.gai == no_data[1], "getaddrinfo here: %d", e.gai);
                expect_fail(AS_ROOT, ARGS("resolve", "--family", "ipv6", "v4.test"), EADDRNOTAVAIL,
                            gai_strerror(e.gai), netutil_gai_name(e.gai));
        }
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_triple_key_with_family_any_matches_the_default_family) {
        netutil_client *c;
        char got[512];

        start_daemon_for(_i, NULL, NULL);
        /* Tornado: ("a.com", 443, 0) matched resolve("a.com", 443). Only the library can
         * set a family of AF_UNSPEC; the list calls it "any". */
        c = open_client();
        ck_assert_int_eq(netutil_override_set(c, NULL, "any.test", 443, AF_UNSPEC, "127.0.0.3", 1443, 0,
                                              CALL_TIMEOUT_USEC),
                         0);
        lib_resolve(c, "any.test", 443, AF_UNSPEC, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 127.0.0.3 1443\n");
        /* Not for an explicit family, and not for another port. */
        lib_resolve(c, "any.test", 443, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "error EADDRNOTAVAIL: Name or service not known");
        lib_resolve(c, "any.test", 444, AF_UNSPEC, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "error EADDRNOTAVAIL: Name or service not known");
        netutil_client_close(c);
        expect_ok(AS_ROOT, ARGS("override", "list"), "global any.test port 443 any -> 127.0.0.3 port 1443\n");
        expect_ok(AS_ROOT, ARGS("resolve", "any.test", "443"), "ipv4 127.0.0.3 1443\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_set_on_an_existing_key_replaces_the_rule) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "r.test", "127.0.0.5"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "r.test", "127.0.0.6"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "r.test", "1"), "ipv4 127.0.0.6 1\n");
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "1", "--to-port", "2", "r.test", "127.0.0.7"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "1", "--to-port", "3", "r.test", "127.0.0.7"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "r.test", "1"), "ipv4 127.0.0.7 3\n");
        expect_ok(AS_ROOT, ARGS("override", "list"),
                  "global r.test -> 127.0.0.6\nglobal r.test port 1 -> 127.0.0.7 port 3\n");
        ck_assert_uint_eq(daemon_override_count(), 2);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 4. scopes ------------------------------------------------------------------------ */

START_TEST(test_scope_rule_applies_only_with_the_scope_option_or_variable) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "example.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "example.test", "80"), "ipv4 127.0.0.9 80\n");
        expect_run(ctl_env("NETUTIL_SCOPE=run1", AS_ROOT, ARGS("resolve", "example.test", "80")), 0,
                   "ipv4 127.0.0.9 80\n", "");
        /* Not without it, not in another scope, not with an empty variable. */
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "80"), "ipv4 192.0.2.10 80\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run2", "--family", "ipv4", "example.test", "80"),
                  "ipv4 192.0.2.10 80\n");
        expect_run(ctl_env("NETUTIL_SCOPE=", AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "80")), 0,
                   "ipv4 192.0.2.10 80\n", "");
        /* --scope wins over the variable. */
        expect_run(ctl_env("NETUTIL_SCOPE=run2", AS_ROOT, ARGS("resolve", "--scope", "run1", "example.test", "80")),
                   0, "ipv4 127.0.0.9 80\n", "");
        /* Other users see the scope too (resolving is not a write). */
        expect_run(ctl_env("NETUTIL_SCOPE=run1", AS_NOBODY, ARGS("resolve", "example.test", "80")), 0,
                   "ipv4 127.0.0.9 80\n", "");
        /* override without --scope means the global table, whatever the variable says. */
        expect_run(ctl_env("NETUTIL_SCOPE=run1", AS_ROOT, ARGS("override", "set", "g.test", "127.0.0.4")), 0, "",
                   "");
        expect_ok(AS_ROOT, ARGS("override", "list"), "global g.test -> 127.0.0.4\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_scope_table_wins_over_the_global_one_and_scopes_are_isolated) {
        char text[1024];
        Expected e;

        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "example.test", "127.0.0.8"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "example.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run2", "other.test", "127.0.0.10"), "");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "example.test"), "ipv4 127.0.0.9 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "example.test"), "ipv4 127.0.0.8 0\n");
        /* run2 has no rule for it: the global table answers. run1 does not see run2's. */
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run2", "example.test"), "ipv4 127.0.0.8 0\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run2", "other.test"), "ipv4 127.0.0.10 0\n");
        expect_fail(AS_ROOT, ARGS("resolve", "--scope", "run1", "other.test"), EADDRNOTAVAIL,
                    "Name or service not known", "EAI_NONAME");
        /* Any rule of the scope beats the global table, even a host rule against a triple. */
        expect_ok(AS_ROOT,
                  ARGS("override", "set", "--port", "80", "--family", "ipv4", "--to-port", "80", "example.test",
                       "127.0.0.7"),
                  "");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "--family", "ipv4", "example.test", "80"),
                  "ipv4 127.0.0.9 80\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "80"), "ipv4 127.0.0.7 80\n");
        /* Still one substitution across the tables: run1's a.test -> example.test is not
         * followed by the global example.test -> 127.0.0.8. */
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "a.test", "example.test"), "");
        gai_lookup("example.test", AF_UNSPEC, &e);
        expected_text(&e, 5, text, sizeof(text));
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "a.test", "5"), text);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_override_list_of_a_scope_in_json_and_text) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "a.test", "127.0.0.5"), "");
        expect_ok(AS_ROOT,
                  ARGS("override", "set", "--scope", "run1", "--port", "443", "--family", "ipv6", "--to-port", "1443",
                       "b.test", "::1"),
                  "");
        expect_ok(AS_ROOT, ARGS("override", "set", "global.test", "127.0.0.6"), "");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list", "--scope", "run1")), 0,
                   "{\"overrides\": ["
                   "{\"scope\": \"run1\", \"host\": \"a.test\", \"port\": null, \"family\": null, \"target\": "
                   "\"127.0.0.5\", \"target_port\": null, \"expires_in\": null}, "
                   "{\"scope\": \"run1\", \"host\": \"b.test\", \"port\": 443, \"family\": \"ipv6\", \"target\": "
                   "\"::1\", \"target_port\": 1443, \"expires_in\": null}]}\n",
                   "");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "run1"),
                  "run1 a.test -> 127.0.0.5\nrun1 b.test port 443 ipv6 -> ::1 port 1443\n");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list")), 0,
                   "{\"overrides\": [{\"scope\": \"global\", \"host\": \"global.test\", \"port\": null, \"family\": "
                   "null, \"target\": \"127.0.0.6\", \"target_port\": null, \"expires_in\": null}]}\n",
                   "");
        /* A scope that does not exist lists as empty; anyone may read. */
        expect_run(ctl_json(AS_NOBODY, ARGS("override", "list", "--scope", "run2")), 0, "{\"overrides\": []}\n", "");
        expect_ok(AS_NOBODY, ARGS("override", "list", "--scope", "run1"),
                  "run1 a.test -> 127.0.0.5\nrun1 b.test port 443 ipv6 -> ::1 port 1443\n");
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "--family", "ipv6", "b.test", "443"), "ipv6 ::1 1443\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_override_clear_of_a_scope_removes_it) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "a.test", "127.0.0.5"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "b.test", "127.0.0.6"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run2", "a.test", "127.0.0.7"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "a.test", "127.0.0.8"), "");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "clear", "--scope", "run1")), 0, "{}\n", "");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list", "--scope", "run1")), 0, "{\"overrides\": []}\n", "");
        expect_fail(AS_ROOT, ARGS("override", "clear", "--scope", "run1"), ENOENT, "No scope named 'run1'", NULL);
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "a.test"), "ipv4 127.0.0.8 0\n");
        /* The others are untouched. */
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run2", "a.test"), "ipv4 127.0.0.7 0\n");
        ck_assert_uint_eq(daemon_override_count(), 2);
        /* Clearing the global table leaves the table (it always exists). */
        expect_ok(AS_ROOT, ARGS("override", "clear"), "");
        expect_ok(AS_ROOT, ARGS("override", "clear"), "");
        expect_ok(AS_ROOT, ARGS("override", "list"), "");
        ck_assert_uint_eq(daemon_override_count(), 1);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_scope_goes_with_its_last_rule) {
        /* netutil.h: "a scope goes with its last rule" (deleted or expired), as the daemon does
         * since d096f5b: the name is free again, for any uid, and no longer counts as its
         * owner's. (proto/PROTOCOL.md §7.9 and §7.12 still say the empty scope stays.) */
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "tmp", "a.test", "127.0.0.5"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "tmp", "b.test", "127.0.0.6"), "");
        expect_ok(AS_NOBODY, ARGS("override", "del", "--scope", "tmp", "a.test"), "");
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "tmp", "c.test", "127.0.0.7"), EPERM,
                    REFUSED_SCOPE("tmp", "65534", "1234"), NULL);
        expect_ok(AS_NOBODY, ARGS("override", "del", "--scope", "tmp", "b.test"), "");
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "tmp"), ENOENT, "No scope named 'tmp'", NULL);
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "tmp", "c.test", "127.0.0.7"), "");
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", "tmp", "d.test", "127.0.0.8"), EPERM,
                    REFUSED_SCOPE("tmp", "1234", "65534"), NULL);
        /* Expired rules dropped by a listing take their scope with them too. */
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "--ttl", "0.2", "a.test", "127.0.0.5"), "");
        usleep(400000);
        expect_ok(AS_UID_1234, ARGS("override", "list", "--scope", "ci"), "");
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "ci", "b.test", "127.0.0.6"), "");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "ci@1234", "b.test"), "ipv4 127.0.0.6 0\n");
        /* ...and so do those a resolve meets. */
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci2", "--ttl", "0.2", "a.test", "127.0.0.5"), "");
        usleep(400000);
        expect_fail(AS_UID_1234, ARGS("resolve", "--scope", "ci2", "a.test"), EADDRNOTAVAIL,
                    "Name or service not known", "EAI_NONAME");
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "ci2"), ENOENT, "No scope named 'ci2'", NULL);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* In a child running as nobody: creates scope s0, s1, ... (n of them) with one rule each,
 * through the library, and empties it again: by deleting the rule (ttl_usec 0), or by
 * letting it expire (a rule with ttl_usec, not looked at again). result is "ok" or what
 * failed. */
static void churn_scopes_as_nobody(int n, uint64_t ttl_usec, char *result, size_t len) {
        ssize_t k;
        int p[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                netutil_client *c = NULL;
                char msg[512] = "ok";
                int r = 0;

                close(p[0]);
                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        snprintf(msg, sizeof(msg), "cannot become nobody: %s", strerror(errno));
                else if ((r = netutil_client_open(daemon_.socket, &c)) < 0)
                        snprintf(msg, sizeof(msg), "cannot connect: %s", strerror(-r));
                else
                        for (int i = 0; i < n; i++) {
                                char scope[32];

                                snprintf(scope, sizeof(scope), "s%d", i);
                                r = netutil_override_set(c, scope, "a.test", -1, -1, "127.0.0.5", -1, ttl_usec,
                                                         CALL_TIMEOUT_USEC);
                                if (r >= 0 && ttl_usec == 0)
                                        r = netutil_override_del(c, scope, "a.test", -1, -1, CALL_TIMEOUT_USEC);
                                if (r < 0) {
                                        const char *m = netutil_client_error_message(c);
                                        snprintf(msg, sizeof(msg), "scope %d of %d: %s: %s", i + 1, n,
                                                 strerrorname_np(-r), m ? m : "");
                                        break;
                                }
                                if (ttl_usec > 0)
                                        usleep((useconds_t) ttl_usec + 1000); /* expired before the next */
                        }
                netutil_client_close(c);
                (void) !write(p[1], msg, strlen(msg));
                _exit(0);
        }
        close(p[1]);
        k = read(p[0], result, len - 1);
        result[k > 0 ? k : 0] = '\0';
        close(p[0]);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(test_deleted_scopes_do_not_count_against_the_scope_quota) {
        char result[512];

        start_daemon_for(_i, NULL, NULL);
        /* A uid may own 256 scopes (OVERRIDE_MAX_SCOPES_PER_UID): one per test run, say. Runs
         * that clean up after themselves never reach it. */
        churn_scopes_as_nobody(300, 0, result, sizeof(result));
        ck_assert_str_eq(result, "ok");
        ck_assert_uint_eq(daemon_override_count(), 0);
        /* The quota itself holds: 256 live scopes, then no more. */
        {
                char scope[32];

                for (int i = 0; i < 256; i++)
                        expect_ok(AS_NOBODY,
                                  ARGS("override", "set", "--scope", fmt(scope, sizeof(scope), "q%d", i), "a", "b"),
                                  "");
        }
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", "q256", "a", "b"), EDQUOT,
                    "Quota exceeded: uid 65534 already owns 256 scopes", NULL);
        /* Refused, and no trace of it: the name is free for another uid. */
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "q256", "a", "b"), "");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_scope_whose_rules_expired_is_free_for_another_user) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci", "--ttl", "0.2", "a.test", "127.0.0.5"), "");
        usleep(400000);
        /* The scope's only rule has expired, so the scope is gone: another uid may make
         * it anew, without a listing first. */
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "ci", "b.test", "127.0.0.6"), "");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "ci@1234", "b.test"), "ipv4 127.0.0.6 0\n");
        /* ...and so do those a resolve meets. */
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "ci2", "--ttl", "0.2", "a.test", "127.0.0.5"), "");
        usleep(400000);
        expect_fail(AS_UID_1234, ARGS("resolve", "--scope", "ci2", "a.test"), EADDRNOTAVAIL,
                    "Name or service not known", "EAI_NONAME");
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "ci2"), ENOENT, "No scope named 'ci2'", NULL);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_scopes_whose_rules_expired_do_not_count_against_the_scope_quota) {
        char result[512];

        start_daemon_for(_i, NULL, NULL);
        /* 257 runs, each a scope with one rule of a 5 ms TTL, never looked at again: when the
         * 257th is made, every earlier rule has expired, so no scope is left to count. */
        churn_scopes_as_nobody(257, 5000, result, sizeof(result));
        ck_assert_str_eq(result, "ok");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 5. expiry ------------------------------------------------------------------------ */

START_TEST(test_rule_with_ttl_applies_then_expires) {
        char text[1024];
        long long t0;
        Expected e;

        start_daemon_for(_i, NULL, NULL);
        t0 = now_ms();
        expect_ok(AS_ROOT, ARGS("override", "set", "--ttl", "1", "example.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--ttl", "1", "gone.test", "127.0.0.10"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "--ttl", "90", "example.test", "127.0.0.8"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "run1", "--ttl", "0.3", "--port", "5", "--to-port", "6",
                                "x.test", "127.0.0.7"),
                  "");
        /* Seconds left, rounded up. */
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list")), 0,
                   "{\"overrides\": ["
                   "{\"scope\": \"global\", \"host\": \"example.test\", \"port\": null, \"family\": null, \"target\": "
                   "\"127.0.0.9\", \"target_port\": null, \"expires_in\": 1}, "
                   "{\"scope\": \"global\", \"host\": \"gone.test\", \"port\": null, \"family\": null, \"target\": "
                   "\"127.0.0.10\", \"target_port\": null, \"expires_in\": 1}]}\n",
                   "");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list", "--scope", "run1")), 0,
                   "{\"overrides\": ["
                   "{\"scope\": \"run1\", \"host\": \"example.test\", \"port\": null, \"family\": null, \"target\": "
                   "\"127.0.0.8\", \"target_port\": null, \"expires_in\": 90}, "
                   "{\"scope\": \"run1\", \"host\": \"x.test\", \"port\": 5, \"family\": null, \"target\": "
                   "\"127.0.0.7\", \"target_port\": 6, \"expires_in\": 1}]}\n",
                   "");
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "run1"),
                  "run1 example.test -> 127.0.0.8 (expires in 90s)\nrun1 x.test port 5 -> 127.0.0.7 port 6 (expires "
                  "in 1s)\n");
        expect_ok(AS_ROOT, ARGS("resolve", "example.test", "80"), "ipv4 127.0.0.9 80\n");
        ck_assert_msg(now_ms() - t0 < 900, "the checks before expiry took %lld ms", now_ms() - t0);

        while (now_ms() < t0 + 1500)
                usleep(10000);
        gai_lookup("example.test", AF_UNSPEC, &e);
        expected_text(&e, 80, text, sizeof(text));
        expect_ok(AS_ROOT, ARGS("resolve", "example.test", "80"), text);
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list")), 0, "{\"overrides\": []}\n", "");
        expect_fail(AS_ROOT, ARGS("override", "del", "gone.test"), ENOENT,
                    "No override for 'gone.test' with that port and family", NULL);
        expect_fail(AS_ROOT, ARGS("resolve", "--scope", "run1", "x.test", "5"), EADDRNOTAVAIL,
                    "Name or service not known", "EAI_NONAME");
        /* The scope's 90 s rule lives on. */
        expect_ok(AS_ROOT, ARGS("resolve", "--scope", "run1", "example.test", "80"), "ipv4 127.0.0.8 80\n");
        /* 88.5 s and a little left: 89 rounded up. */
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "run1"),
                  "run1 example.test -> 127.0.0.8 (expires in 89s)\n");
        ck_assert_uint_eq(daemon_override_count(), 1);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 6. policy ------------------------------------------------------------------------ */

START_TEST(test_nobody_is_refused_the_global_table) {
        start_daemon_for(_i, NULL, NULL);
        expect_fail(AS_NOBODY, ARGS("override", "set", "a.test", "127.0.0.5"), EPERM, REFUSED_GLOBAL("65534"), NULL);
        expect_fail(AS_NOBODY, ARGS("override", "set", "--port", "1", "--to-port", "2", "a.test", "127.0.0.5"), EPERM,
                    REFUSED_GLOBAL("65534"), NULL);
        expect_run(ctl_json(AS_NOBODY, ARGS("override", "list")), 0, "{\"overrides\": []}\n", "");
        expect_ok(AS_ROOT, ARGS("override", "set", "a.test", "127.0.0.5"), "");
        /* Refused before the key is even looked up: del of a missing key is refused too. */
        expect_fail(AS_NOBODY, ARGS("override", "del", "a.test"), EPERM, REFUSED_GLOBAL("65534"), NULL);
        expect_fail(AS_NOBODY, ARGS("override", "del", "missing.test"), EPERM, REFUSED_GLOBAL("65534"), NULL);
        expect_fail(AS_NOBODY, ARGS("override", "clear"), EPERM, REFUSED_GLOBAL("65534"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "set", "a.test", "127.0.0.6"), EPERM, REFUSED_GLOBAL("1234"), NULL);
        /* Nothing changed; everyone resolves through the global table. */
        expect_ok(AS_NOBODY, ARGS("override", "list"), "global a.test -> 127.0.0.5\n");
        expect_ok(AS_NOBODY, ARGS("resolve", "a.test", "80"), "ipv4 127.0.0.5 80\n");
        expect_ok(AS_UID_1234, ARGS("resolve", "a.test", "80"), "ipv4 127.0.0.5 80\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_nobody_owns_the_scope_it_creates_and_other_uids_only_read_it) {
        start_daemon_for(_i, NULL, NULL);
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "mine", "a.test", "127.0.0.5"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "mine", "--port", "80", "--to-port", "81", "b.test",
                                  "127.0.0.6"),
                  "");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "mine", "a.test", "80"), "ipv4 127.0.0.5 80\n");
        /* Another uid resolves through it when it names the owner (issue 13: a scope is not
         * a way to steer another uid), and reads it... */
        expect_fail(AS_UID_1234, ARGS("resolve", "--scope", "mine", "a.test", "80"), EPERM,
                    "Scope 'mine' belongs to uid 65534, not to you (uid 1234) or root, so its rules are not used; "
                    "name the owner to use them (NETUTIL_SCOPE=mine@65534), or choose another scope name",
                    NULL);
        expect_ok(AS_UID_1234, ARGS("resolve", "--scope", "mine@65534", "a.test", "80"), "ipv4 127.0.0.5 80\n");
        expect_ok(AS_UID_1234, ARGS("resolve", "--scope", "mine@65534", "b.test", "80"), "ipv4 127.0.0.6 81\n");
        expect_ok(AS_UID_1234, ARGS("override", "list", "--scope", "mine"),
                  "mine a.test -> 127.0.0.5\nmine b.test port 80 -> 127.0.0.6 port 81\n");
        /* ...but changes nothing in it. */
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "mine", "c.test", "127.0.0.7"), EPERM,
                    REFUSED_SCOPE("mine", "65534", "1234"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "mine", "a.test", "127.0.0.7"), EPERM,
                    REFUSED_SCOPE("mine", "65534", "1234"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "del", "--scope", "mine", "a.test"), EPERM,
                    REFUSED_SCOPE("mine", "65534", "1234"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "clear", "--scope", "mine"), EPERM,
                    REFUSED_SCOPE("mine", "65534", "1234"),
                    NULL);
        /* uid 1234's own scope is its own, and nobody's writes are refused there. */
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "theirs", "a.test", "127.0.0.8"), "");
        expect_fail(AS_NOBODY, ARGS("override", "set", "--scope", "theirs", "a.test", "127.0.0.7"), EPERM,
                    REFUSED_SCOPE("theirs", "1234", "65534"), NULL);
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "mine", "a.test"), "ipv4 127.0.0.5 0\n");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "theirs@1234", "a.test"), "ipv4 127.0.0.8 0\n");
        /* Root changes anything: another user's scope and the global table. */
        expect_ok(AS_ROOT, ARGS("override", "set", "--scope", "mine", "c.test", "127.0.0.9"), "");
        expect_ok(AS_ROOT, ARGS("override", "del", "--scope", "mine", "a.test"), "");
        expect_ok(AS_ROOT, ARGS("override", "set", "c.test", "127.0.0.10"), "");
        expect_ok(AS_ROOT, ARGS("override", "clear", "--scope", "theirs"), "");
        expect_ok(AS_UID_1234, ARGS("override", "list", "--scope", "mine"),
                  "mine b.test port 80 -> 127.0.0.6 port 81\nmine c.test -> 127.0.0.9\n");
        /* Root's writes did not take the scope from its owner. */
        expect_ok(AS_NOBODY, ARGS("override", "del", "--scope", "mine", "c.test"), "");
        expect_ok(AS_NOBODY, ARGS("override", "clear", "--scope", "mine"), "");
        expect_ok(AS_ROOT, ARGS("override", "list"), "global c.test -> 127.0.0.10\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_allow_override_global_lets_nobody_write_the_global_table) {
        start_daemon_for(_i, NULL, "AllowOverride=user:nobody global\n");
        expect_ok(AS_NOBODY, ARGS("override", "set", "a.test", "127.0.0.5"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "b.test", "127.0.0.6"), "");
        expect_ok(AS_UID_1234, ARGS("resolve", "a.test", "80"), "ipv4 127.0.0.5 80\n");
        expect_ok(AS_NOBODY, ARGS("override", "del", "a.test"), "");
        expect_fail(AS_UID_1234, ARGS("override", "set", "a.test", "127.0.0.7"), EPERM, REFUSED_GLOBAL("1234"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "clear"), EPERM, REFUSED_GLOBAL("1234"), NULL);
        expect_ok(AS_ROOT, ARGS("override", "list"), "global b.test -> 127.0.0.6\n");
        expect_ok(AS_NOBODY, ARGS("override", "clear"), "");
        expect_ok(AS_ROOT, ARGS("override", "list"), "");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_allow_override_scope_name_lets_uid_1234_write_nobodys_scope) {
        start_daemon_for(_i, NULL, "AllowOverride=user:1234 run1\n");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "run1", "a.test", "127.0.0.5"), "");
        expect_ok(AS_NOBODY, ARGS("override", "set", "--scope", "run2", "a.test", "127.0.0.6"), "");
        expect_ok(AS_UID_1234, ARGS("override", "set", "--scope", "run1", "b.test", "127.0.0.7"), "");
        expect_ok(AS_UID_1234, ARGS("override", "del", "--scope", "run1", "a.test"), "");
        expect_ok(AS_NOBODY, ARGS("resolve", "--scope", "run1", "b.test"), "ipv4 127.0.0.7 0\n");
        /* The rule names run1 only; nor does it open the global table. */
        expect_fail(AS_UID_1234, ARGS("override", "set", "--scope", "run2", "b.test", "127.0.0.8"), EPERM,
                    REFUSED_SCOPE("run2", "65534", "1234"), NULL);
        expect_fail(AS_UID_1234, ARGS("override", "set", "b.test", "127.0.0.8"), EPERM, REFUSED_GLOBAL("1234"), NULL);
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "run1"), "run1 b.test -> 127.0.0.7\n");
        expect_ok(AS_UID_1234, ARGS("override", "clear", "--scope", "run1"), "");
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "run1"), ENOENT, "No scope named 'run1'", NULL);
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "run2"), "run2 a.test -> 127.0.0.6\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 7. errors -------------------------------------------------------------------------- */

START_TEST(test_del_of_a_missing_key_fails_in_words_and_json) {
        start_daemon_for(_i, NULL, NULL);
        expect_fail(AS_ROOT, ARGS("override", "del", "x"), ENOENT, "No override for 'x' with that port and family",
                    NULL);
        /* Keys are exact: (x, 80) is neither x, nor (x, 80, ipv4), nor (x, 81). */
        expect_ok(AS_ROOT, ARGS("override", "set", "--port", "80", "--to-port", "80", "x", "127.0.0.5"), "");
        expect_fail(AS_ROOT, ARGS("override", "del", "x"), ENOENT, "No override for 'x' with that port and family",
                    NULL);
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "80", "--family", "ipv4", "x"), ENOENT,
                    "No override for 'x' with that port and family", NULL);
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "81", "x"), ENOENT,
                    "No override for 'x' with that port and family", NULL);
        expect_run(ctl_json(AS_ROOT, ARGS("override", "del", "--port", "80", "x")), 0, "{}\n", "");
        expect_fail(AS_ROOT, ARGS("override", "del", "--port", "80", "x"), ENOENT,
                    "No override for 'x' with that port and family", NULL);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_del_and_clear_in_a_missing_scope_fail) {
        start_daemon_for(_i, NULL, NULL);
        expect_fail(AS_ROOT, ARGS("override", "del", "--scope", "x", "a.test"), ENOENT, "No scope named 'x'", NULL);
        expect_fail(AS_ROOT, ARGS("override", "clear", "--scope", "x"), ENOENT, "No scope named 'x'", NULL);
        expect_fail(AS_NOBODY, ARGS("override", "clear", "--scope", "x"), ENOENT, "No scope named 'x'", NULL);
        /* A scope is made by set only. */
        expect_ok(AS_ROOT, ARGS("override", "list", "--scope", "x"), "");
        expect_fail(AS_ROOT, ARGS("override", "clear", "--scope", "x"), ENOENT, "No scope named 'x'", NULL);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_usage_errors_exit_2_and_change_nothing) {
        start_daemon_for(_i, NULL, NULL);
        expect_usage(ARGS("override", "set", "--family", "ipv4", "a.test", "127.0.0.5"),
                     "override: --family needs --port");
        expect_usage(ARGS("override", "del", "--family", "ipv6", "a.test"), "override: --family needs --port");
        expect_usage(ARGS("override", "set", "--port", "80", "a.test", "127.0.0.5"),
                     "override set: --port and --to-port go together");
        expect_usage(ARGS("override", "set", "--to-port", "80", "a.test", "127.0.0.5"),
                     "override set: --port and --to-port go together");
        expect_usage(ARGS("override", "set", "--ttl", "0", "a.test", "127.0.0.5"),
                     "override: invalid --ttl '0': expected seconds > 0");
        expect_usage(ARGS("override", "set", "--ttl", "-1", "a.test", "127.0.0.5"),
                     "override: invalid --ttl '-1': expected seconds > 0");
        expect_usage(ARGS("override", "set", "--ttl", "soon", "a.test", "127.0.0.5"),
                     "override: invalid --ttl 'soon': expected seconds > 0");
        expect_usage(ARGS("override", "set", "--ttl", "1s", "a.test", "127.0.0.5"),
                     "override: invalid --ttl '1s': expected seconds > 0");
        expect_usage(ARGS("override", "set", "--port", "80", "--family", "any", "--to-port", "80", "a.test", "b"),
                     "override: invalid --family 'any': expected ipv4 or ipv6");
        expect_usage(ARGS("override", "set", "--port", "65536", "--to-port", "1", "a.test", "b"),
                     "override: invalid --port '65536': expected 0-65535");
        expect_usage(ARGS("override", "set", "a.test"), "override set: expected HOST TARGET");
        expect_usage(ARGS("override", "del", "--ttl", "5", "a.test"), "override del: --to-port and --ttl are for set");
        expect_usage(ARGS("override", "list", "--port", "1"), "override list: takes only --scope");
        expect_usage(ARGS("resolve", "--family", "ipv5", "a.test"),
                     "resolve: invalid --family 'ipv5': expected any, ipv4 or ipv6");
        expect_usage(ARGS("resolve", "a.test", "65536"), "resolve: invalid PORT '65536': expected 0-65535");
        expect_usage(ARGS("resolve"), "resolve: missing HOST");
        expect_usage(ARGS("resolve", "a.test", "1", "2"), "resolve: too many arguments");
        expect_run(ctl_json(AS_ROOT, ARGS("override", "list")), 0, "{\"overrides\": []}\n", "");
        ck_assert_uint_eq(daemon_override_count(), 0);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_resolve_of_an_unsupported_family_fails_with_eai_family) {
        netutil_address *a = NULL;
        netutil_client *c;

        start_daemon_for(_i, NULL, NULL);
        c = open_client();
        ck_assert_int_eq(netutil_resolve(c, "127.0.0.1", 80, AF_UNIX, NULL, CALL_TIMEOUT_USEC, &a), -EAFNOSUPPORT);
        ck_assert_ptr_null(a);
        ck_assert_int_eq(netutil_client_error_gai(c), EAI_FAMILY);
        ck_assert_str_eq(netutil_client_error_message(c), gai_strerror(EAI_FAMILY));
        /* The same connection serves on. */
        ck_assert_int_eq(netutil_resolve(c, "127.0.0.1", 80, AF_INET, NULL, CALL_TIMEOUT_USEC, &a), 1);
        ck_assert_int_eq(a[0].family, AF_INET);
        free(a);
        netutil_client_close(c);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 8. an upstream that never answers --------------------------------------------------- */

START_TEST(test_slow_lookup_times_out_in_the_client_while_the_daemon_serves_others) {
        char text[1024];
        long long t0;
        Background b;
        Expected e;

        /* The thread pool (_i 0) and cares (_i 1): Resolver=blocking waits inline by design
         * (DESIGN.md §6). */
        start_daemon_for(_i == 0 ? 0 : BACKEND_CARES, NULL, NULL);
        t0 = now_ms();
        /* Half the resolver's own timeout (resolv.conf timeout:1 attempts:1), so that the
         * client gives up first even on a loaded machine. */
        b = ctl_background(ARGS("--timeout", "0.5", "resolve", "slow.test", "80"));
        silent_wait_query(3000);
        /* The lookup waits (in a worker, or in c-ares) for an answer that never comes: others
         * are served. */
        expect_ok(AS_ROOT, ARGS("resolve", "127.0.0.1", "80"), "ipv4 127.0.0.1 80\n");
        gai_lookup("example.test", AF_UNSPEC, &e);
        expected_text(&e, 80, text, sizeof(text));
        expect_ok(AS_ROOT, ARGS("resolve", "example.test", "80"), text);
        ck_assert_msg(background_running(&b), "the slow resolve ended after %lld ms, before the others were served",
                      now_ms() - t0);

        expect_run(background_wait(&b), 1, "", "netutilctl: Failed to resolve: Connection timed out\n");
        ck_assert_int_ge(now_ms() - t0, 450);
        /* The backend gives up (timeout:1 attempts:1) and its answer finds no client. */
        assert_fds_settle_at_baseline();
        silent_drain();
        expect_ok(AS_ROOT, ARGS("resolve", "localhost", "1"), "ipv4 127.0.0.1 1\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_slow_lookup_fails_with_eai_again_once_getaddrinfo_gives_up) {
        long long t0;

        start_daemon_for(_i, NULL, NULL);
        t0 = now_ms();
        /* One run for both outputs: --json prints the error object and the line on stderr. */
        expect_run(ctl_json(AS_ROOT, ARGS("resolve", "slow.test", "80")), 1,
                   "{\"error\": {\"errno\": 11, \"name\": \"EAGAIN\", \"message\": \"Temporary failure in name "
                   "resolution\", \"gai\": \"EAI_AGAIN\"}}\n",
                   "netutilctl: Temporary failure in name resolution\n");
        ck_assert_int_ge(now_ms() - t0, 900);
        ck_assert_int_lt(now_ms() - t0, 5000);
        ck_assert_uint_gt(silent_drain(), 0);
        assert_fds_settle_at_baseline();
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "example.test", "1"), "ipv6 2001:db8::10 1\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_disconnect_with_resolves_in_flight_costs_nothing) {
        char text[1024];
        uint32_t serial = 1;
        Expected e;
        int fd;

        start_daemon_for(_i, NULL, NULL);
        fd = raw_connect(daemon_.socket);
        for (int i = 0; i < 2; i++)
                raw_resolve(fd, serial++, "slow.test", 80, AF_UNSPEC);
        for (int i = 0; i < 20; i++) {
                raw_resolve(fd, serial++, "example.test", 80, AF_UNSPEC);
                raw_resolve(fd, serial++, "127.0.0.1", 80, AF_UNSPEC);
                raw_resolve(fd, serial++, "nx.test", 80, AF_INET);
        }
        silent_wait_query(3000);
        close(fd);
        assert_fds_settle_at_baseline();
        ck_assert_int_eq(kill(daemon_.pid, 0), 0);

        /* And once more with nothing waited for at all: connect, ask, leave. */
        for (int i = 0; i < 20; i++) {
                fd = raw_connect(daemon_.socket);
                raw_resolve(fd, 1, i % 2 ? "example.test" : "::1", 443, AF_UNSPEC);
                close(fd);
        }
        assert_fds_settle_at_baseline();
        gai_lookup("example.test", AF_UNSPEC, &e);
        expected_text(&e, 80, text, sizeof(text));
        expect_ok(AS_ROOT, ARGS("resolve", "example.test", "80"), text);
        {
                netutil_client *c = open_client();
                netutil_status *s = NULL;

                ck_assert_int_eq(netutil_status_get(c, CALL_TIMEOUT_USEC, &s), 0);
                ck_assert_uint_eq(s->clients, 1);
                netutil_status_free(s);
                netutil_client_close(c);
        }
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_literal_is_answered_while_every_worker_waits_on_dns) {
        netutil_client *c;
        long long t;
        char got[512];
        int fd;

        /* Two workers, both busy with slow.test: a literal is still answered at once (it never
         * reaches the pool), while a name waits for a worker. */
        start_daemon_for(0, "ResolverThreads=2\n", NULL);
        fd = raw_connect(daemon_.socket);
        raw_resolve(fd, 1, "slow.test", 80, AF_UNSPEC);
        raw_resolve(fd, 2, "slow.test", 81, AF_UNSPEC);
        silent_wait_query(3000);
        usleep(100000);
        c = open_client();
        t = now_ms();
        lib_resolve(c, "127.0.0.1", 80, AF_UNSPEC, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 127.0.0.1 80\n");
        lib_resolve(c, "::1", 80, AF_UNSPEC, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv6 ::1 80\n");
        ck_assert_msg(now_ms() - t < 300, "literals took %lld ms with the pool busy", now_ms() - t);
        t = now_ms();
        lib_resolve(c, "example.test", 80, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.10 80\n");
        ck_assert_msg(now_ms() - t >= 300, "a name was answered in %lld ms: the pool was not busy", now_ms() - t);
        netutil_client_close(c);
        close(fd);
        assert_fds_settle_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 9. load ---------------------------------------------------------------------------- */

typedef struct ResolveResult {
        int calls;
        int error;
        netutil_address *a;
        size_t n;
} ResolveResult;

static void on_resolve(netutil_client *c, int error, netutil_address *addresses, size_t n, void *userdata) {
        ResolveResult *r = userdata;

        (void) c;
        r->calls++;
        r->error = error;
        r->a = addresses; /* the callback owns them; the test frees them */
        r->n = n;
}

typedef struct OverrideResult {
        int calls, error;
        netutil_override *o;
        size_t n;
} OverrideResult;

static void on_override_done(netutil_client *c, int error, void *userdata) {
        OverrideResult *r = userdata;

        r->calls++;
        r->error = error;
}

static void on_override_list(netutil_client *c, int error, netutil_override *o, size_t n, void *userdata) {
        OverrideResult *r = userdata;

        r->calls++;
        r->error = error;
        r->o = o;
        r->n = n;
}

/* Runs e until r has its one callback (5 s at most). */
static void wait_override(sd_event *e, OverrideResult *r) {
        long long deadline = now_ms() + 5000;

        while (r->calls == 0) {
                ck_assert_msg(now_ms() < deadline, "no callback within 5 s");
                ck_assert_int_ge(sd_event_run(e, 100000), 0);
        }
        ck_assert_int_eq(r->calls, 1);
}

START_TEST(test_async_override_calls_set_list_del_and_clear) {
        OverrideResult set = {}, list = {}, del = {}, del_again = {}, clear = {}, clear_none = {};
        netutil_client *c;
        sd_event *e = NULL;
        char got[512];

        start_daemon_for(_i, NULL, NULL);
        c = open_client();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);

        ck_assert_int_eq(netutil_override_set_async(c, "run1", "api.test", 443, AF_INET6, "::1", 8443, 0, 0,
                                                    on_override_done, &set, NULL),
                         0);
        wait_override(e, &set);
        ck_assert_int_eq(set.error, 0);
        lib_resolve(c, "api.test", 443, AF_INET6, "run1", got, sizeof(got));
        ck_assert_str_eq(got, "ipv6 ::1 8443\n");

        ck_assert_int_eq(netutil_override_list_async(c, "run1", 0, on_override_list, &list, NULL), 0);
        wait_override(e, &list);
        ck_assert_int_eq(list.error, 0);
        ck_assert_uint_eq(list.n, 1);
        ck_assert_str_eq(list.o[0].scope, "run1");
        ck_assert_str_eq(list.o[0].host, "api.test");
        ck_assert_int_eq(list.o[0].port, 443);
        ck_assert_int_eq(list.o[0].family, AF_INET6);
        ck_assert_str_eq(list.o[0].target, "::1");
        ck_assert_int_eq(list.o[0].target_port, 8443);
        ck_assert_int_eq(list.o[0].expires_in_usec, -1);
        netutil_overrides_free(list.o, list.n);

        ck_assert_int_eq(netutil_override_del_async(c, "run1", "api.test", 443, AF_INET6, 0, on_override_done, &del,
                                                    NULL),
                         0);
        wait_override(e, &del);
        ck_assert_int_eq(del.error, 0);
        ck_assert_int_eq(netutil_override_del_async(c, "run1", "api.test", 443, AF_INET6, 0, on_override_done,
                                                    &del_again, NULL),
                         0);
        wait_override(e, &del_again);
        ck_assert_int_eq(del_again.error, -ENOENT);

        /* clear: a rule set, then the table gone; clearing it again is ENOENT. */
        ck_assert_int_eq(netutil_override_set(c, "run1", "web.test", -1, -1, "127.0.0.1", -1, 0, CALL_TIMEOUT_USEC), 0);
        ck_assert_int_eq(netutil_override_clear_async(c, "run1", 0, on_override_done, &clear, NULL), 0);
        wait_override(e, &clear);
        ck_assert_int_eq(clear.error, 0);
        ck_assert_int_eq(netutil_override_clear_async(c, "run1", 0, on_override_done, &clear_none, NULL), 0);
        wait_override(e, &clear_none);
        ck_assert_int_eq(clear_none.error, -ENOENT);

        /* Bad arguments are refused before anything is sent. */
        ck_assert_int_eq(netutil_override_set_async(c, NULL, "x.test", 80, -1, "1.2.3.4", -1, 0, 0, on_override_done,
                                                    &set, NULL),
                         -EINVAL);
        ck_assert_int_eq(netutil_override_list_async(c, NULL, 0, NULL, NULL, NULL), -EINVAL);

        netutil_client_close(c);
        sd_event_unref(e);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_override_list_of_3000_rules_comes_whole) {
        netutil_override *o = NULL;
        netutil_client *c;
        char host[64];
        int n;

        start_daemon_for(_i, NULL, NULL);
        c = open_client();
        /* Short items: a reply part holds fewer of them than its bytes would (the receiver
         * takes at most PROTO_MAX_ATTRS attributes per datagram). */
        for (int i = 0; i < 3000; i++)
                ck_assert_int_eq(netutil_override_set(c, "big", fmt(host, sizeof(host), "h%d.test", i), -1, -1,
                                                      "127.0.0.1", -1, 600 * 1000000ULL, CALL_TIMEOUT_USEC),
                                 0);
        n = netutil_override_list(c, "big", CALL_TIMEOUT_USEC, &o);
        ck_assert_int_eq(n, 3000);
        for (int i = 0; i < n; i++)
                ck_assert_str_eq(o[i].host, fmt(host, sizeof(host), "h%d.test", i));
        netutil_overrides_free(o, (size_t) n);
        netutil_client_close(c);
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_2000_pipelined_async_resolves_are_all_answered_correctly) {
        enum { N = 2000 };
        static ResolveResult res[N];
        static const char *const hosts[] = { "127.0.0.1", "example.test", "::1", "example.test" };
        char name_text[1024];
        netutil_client *c;
        sd_event *e = NULL;
        long long deadline;
        size_t done = 0, failed = 0;
        Expected ex;
        int before;

        start_daemon_for(_i, NULL, NULL);
        gai_lookup("example.test", AF_UNSPEC, &ex);
        assert_expected_is(&ex, "example.test", ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        c = open_client();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        /* One call run to its end first: the loop's timer fd exists from then on, so that
         * our own fd count is stable. */
        {
                ResolveResult warm = {};

                ck_assert_int_eq(netutil_resolve_async(c, "127.0.0.1", 1, AF_UNSPEC, NULL, 0, on_resolve, &warm, NULL),
                                 0);
                deadline = now_ms() + 5000;
                while (warm.calls == 0) {
                        ck_assert_msg(now_ms() < deadline, "the warm-up resolve got no answer");
                        ck_assert_int_ge(sd_event_run(e, 100000), 0);
                }
                ck_assert_int_eq(warm.error, 0);
                free(warm.a);
        }
        before = test_count_fds(getpid());

        memset(res, 0, sizeof(res));
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(netutil_resolve_async(c, hosts[i % 4], 1000u + (unsigned) i, AF_UNSPEC, NULL, 0,
                                                       on_resolve, &res[i], NULL),
                                 0);
        deadline = now_ms() + 30000;
        while (done < N) {
                ck_assert_msg(now_ms() < deadline, "only %zu of %d callbacks ran within 30 s", done, N);
                ck_assert_int_ge(sd_event_run(e, 100000), 0);
                done = 0;
                for (int i = 0; i < N; i++)
                        done += res[i].calls > 0;
        }
        for (int i = 0; i < N; i++) {
                char got[1024], want[1024];
                unsigned port = 1000u + (unsigned) i;

                ck_assert_int_eq(res[i].calls, 1);
                if (res[i].error != 0) {
                        failed++;
                        continue;
                }
                format_addresses(res[i].a, res[i].n, got, sizeof(got));
                if (i % 4 == 0)
                        fmt(want, sizeof(want), "ipv4 127.0.0.1 %u\n", port);
                else if (i % 4 == 2)
                        fmt(want, sizeof(want), "ipv6 ::1 %u\n", port);
                else {
                        expected_text(&ex, port, name_text, sizeof(name_text));
                        snprintf(want, sizeof(want), "%s", name_text);
                }
                ck_assert_msg(strcmp(got, want) == 0, "resolve %d of %s: got '%s', expected '%s'", i, hosts[i % 4],
                              got, want);
                free(res[i].a);
        }
        ck_assert_msg(failed == 0, "%zu of %d resolves failed", failed, N);
        ck_assert_int_eq(test_count_fds(getpid()), before);
        netutil_client_close(c);
        sd_event_unref(e);
        assert_fds_settle_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- 10. the cares backend: cache, coalescing, load, a dead upstream -------------------- */

/* Runs e until every one of the n results has its callback, or fails after timeout_ms. */
static void run_until_answered(sd_event *e, ResolveResult *res, size_t n, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        size_t done = 0;

        for (;;) {
                done = 0;
                for (size_t i = 0; i < n; i++)
                        done += res[i].calls > 0;
                if (done == n)
                        return;
                ck_assert_msg(now_ms() < deadline, "only %zu of %zu callbacks ran within %d ms", done, n, timeout_ms);
                ck_assert_int_ge(sd_event_run(e, 100000), 0);
        }
}

/* Runs e for ms milliseconds: the requests made so far reach the daemon. */
static void run_for(sd_event *e, int ms) {
        long long end = now_ms() + ms;

        while (now_ms() < end)
                ck_assert_int_ge(sd_event_run(e, 10000), 0);
}

static long daemon_rss_kib(void) {
        long kib = test_rss_kib(daemon_.pid);

        ck_assert_int_gt(kib, 0);
        return kib;
}

/* Asserts that the daemon's RSS is less than max_growth_kib above before, unless it runs
 * under valgrind (make check-valgrind's wrapper sets NETUTILD_REAL_BIN) or was built with
 * the sanitizers (--enable-sanitizers: ASan's quarantine and shadow memory), whose own
 * memory that would be. */
static void assert_rss_bounded(long before, long max_growth_kib) {
        long now = daemon_rss_kib();

        if (getenv("NETUTILD_REAL_BIN"))
                return;
#ifdef NETUTIL_SANITIZERS
        return;
#endif
        ck_assert_msg(now - before < max_growth_kib, "daemon RSS grew from %ld KiB to %ld KiB", before, now);
}

START_TEST(test_cares_coalesces_identical_lookups_and_gives_each_its_port) {
        static ResolveResult res[4];
        netutil_client *c1, *c2, *c;
        sd_event *e = NULL;
        char got[512];

        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        c1 = open_client();
        c2 = open_client();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c1, e, 0), 0);
        ck_assert_int_eq(netutil_client_attach_event(c2, e, 0), 0);
        memset(res, 0, sizeof(res));

        /* Four resolves of one name (DNS ignores case, and so does the coalescing) from two
         * clients, while its upstream (us) holds the answer back. */
        ck_assert_int_eq(netutil_resolve_async(c1, "co.slow.test", 81, AF_INET, NULL, 0, on_resolve, &res[0], NULL), 0);
        ck_assert_int_eq(netutil_resolve_async(c2, "co.slow.test", 82, AF_INET, NULL, 0, on_resolve, &res[1], NULL), 0);
        ck_assert_int_eq(netutil_resolve_async(c2, "CO.slow.test", 83, AF_INET, NULL, 0, on_resolve, &res[2], NULL), 0);
        ck_assert_int_eq(netutil_resolve_async(c1, "co.slow.test", 0, AF_INET, NULL, 0, on_resolve, &res[3], NULL), 0);
        run_for(e, 200);
        for (size_t i = 0; i < ELEMENTSOF(res); i++)
                ck_assert_int_eq(res[i].calls, 0);
        silent_answer_a("co.slow.test", "192.0.2.77", 60);
        run_until_answered(e, res, ELEMENTSOF(res), 5000);
        for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                static const unsigned ports[] = { 81, 82, 83, 0 };
                char want[64];

                ck_assert_msg(res[i].error == 0, "resolve %zu failed: %s", i, strerror(-res[i].error));
                format_addresses(res[i].a, res[i].n, got, sizeof(got));
                ck_assert_str_eq(got, fmt(want, sizeof(want), "ipv4 192.0.2.77 %u\n", ports[i]));
                free(res[i].a);
        }
        /* One query reached dnsmasq, and one reached its upstream. */
        ck_assert_uint_eq(dnsmasq_queries("A", "co.slow.test"), 1);
        ck_assert_uint_eq(silent_drain(), 0);

        /* Cached for its TTL (60 s): no more queries, whoever asks, in whatever case. */
        c = open_client();
        lib_resolve(c, "co.slow.test", 84, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.77 84\n");
        lib_resolve(c, "Co.Slow.Test", 85, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.77 85\n");
        ck_assert_uint_eq(dnsmasq_queries("A", "co.slow.test"), 1);
        netutil_client_close(c);

        netutil_client_close(c1);
        netutil_client_close(c2);
        sd_event_unref(e);
        assert_fds_settle_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_cares_cache_never_serves_an_answer_past_its_ttl) {
        char got[512];
        long long t, t_cached, t_changed;
        bool seen_new = false;
        netutil_client *c;

        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        c = open_client();

        /* Positive: example.test has a TTL of 1 s (--local-ttl=1). Asked again at once, the
         * cache answers; once the TTL is over, dnsmasq is asked again. */
        t = now_ms();
        lib_resolve(c, "example.test", 1, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.10 1\n");
        for (unsigned i = 2; i <= 6; i++) {
                char want[64];

                lib_resolve(c, "example.test", i, AF_INET, NULL, got, sizeof(got));
                ck_assert_str_eq(got, fmt(want, sizeof(want), "ipv4 192.0.2.10 %u\n", i));
        }
        if (now_ms() - t < 800)
                ck_assert_uint_eq(dnsmasq_queries("A", "example.test"), 1);
        while (now_ms() < t + 2100)
                usleep(10000);
        lib_resolve(c, "example.test", 7, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.10 7\n");
        ck_assert_uint_eq(dnsmasq_queries("A", "example.test"), 2);

        /* Negative: NXDOMAIN is kept CARES_NEGATIVE_TTL_USEC (5 s), not longer. */
        t = now_ms();
        lib_resolve(c, "nx.test", 1, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "error EADDRNOTAVAIL: Name or service not known");
        lib_resolve(c, "nx.test", 2, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "error EADDRNOTAVAIL: Name or service not known");
        if (now_ms() - t < 4000)
                ck_assert_uint_eq(dnsmasq_queries("A", "nx.test"), 1);
        while (now_ms() < t + 5200)
                usleep(10000);
        lib_resolve(c, "nx.test", 3, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "error EADDRNOTAVAIL: Name or service not known");
        ck_assert_uint_eq(dnsmasq_queries("A", "nx.test"), 2);

        /* A changed record (TTL 1 s): from TTL + 1 s after the old answer was cached, only
         * the new one is ever given. */
        lib_resolve(c, "short.test", 7, AF_UNSPEC, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.30 7\n");
        t_cached = now_ms();
        write_addn_hosts("192.0.2.31 short.test\n");
        ck_assert_int_eq(kill(dnsmasq_pid, SIGHUP), 0);
        wait_dns_answer("short.test", "192.0.2.31");
        t_changed = now_ms();
        while (now_ms() < MAX(t_cached, t_changed) + 3000) {
                lib_resolve(c, "short.test", 7, AF_UNSPEC, NULL, got, sizeof(got));
                t = now_ms();
                if (strcmp(got, "ipv4 192.0.2.31 7\n") == 0)
                        seen_new = true;
                else
                        ck_assert_msg(t < t_cached + 2000 && t < t_changed + 2000,
                                      "%lld ms after the old answer was cached: '%s'", t - t_cached, got);
                usleep(50000);
        }
        ck_assert(seen_new);
        netutil_client_close(c);
        assert_fds_settle_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_cares_10000_resolves_in_flight_are_all_answered) {
        enum { N = 10000, CLIENTS = 4 };
        static ResolveResult res[N];
        static const char *const hosts[] = { "example.test", "127.0.0.1", "v4only.test", "::1", "localhost" };
        netutil_client *c[CLIENTS];
        char ex_text[1024], got[1024], want[1024];
        sd_event *e = NULL;
        size_t failed = 0;
        long rss_before;
        Expected ex;

        start_daemon_for(BACKEND_CARES, NULL, NULL);
        gai_lookup("example.test", AF_UNSPEC, &ex);
        assert_expected_is(&ex, "example.test", ARGS("ipv4 192.0.2.10", "ipv6 2001:db8::10"));
        rss_before = daemon_rss_kib();
        ck_assert_int_eq(sd_event_new(&e), 0);
        for (int i = 0; i < CLIENTS; i++) {
                c[i] = open_client();
                ck_assert_int_eq(netutil_client_attach_event(c[i], e, 0), 0);
        }

        /* All asked at once, pipelined: the daemon takes PROTO_MAX_INFLIGHT per client at a
         * time, the library queues the rest. */
        memset(res, 0, sizeof(res));
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(netutil_resolve_async(c[i % CLIENTS], hosts[i % ELEMENTSOF(hosts)],
                                                       1000u + (unsigned) i, AF_UNSPEC, NULL, 0, on_resolve, &res[i],
                                                       NULL),
                                 0);
        run_until_answered(e, res, N, 25000);
        for (int i = 0; i < N; i++) {
                const char *host = hosts[i % ELEMENTSOF(hosts)];
                unsigned port = 1000u + (unsigned) i;

                ck_assert_int_eq(res[i].calls, 1);
                if (res[i].error != 0) {
                        failed++;
                        continue;
                }
                format_addresses(res[i].a, res[i].n, got, sizeof(got));
                free(res[i].a);
                if (strcmp(host, "example.test") == 0) {
                        expected_text(&ex, port, ex_text, sizeof(ex_text));
                        snprintf(want, sizeof(want), "%s", ex_text);
                } else if (strcmp(host, "v4only.test") == 0)
                        fmt(want, sizeof(want), "ipv4 192.0.2.20 %u\n", port);
                else if (strcmp(host, "::1") == 0)
                        fmt(want, sizeof(want), "ipv6 ::1 %u\n", port);
                else
                        fmt(want, sizeof(want), "ipv4 127.0.0.1 %u\n", port);
                ck_assert_msg(strcmp(got, want) == 0, "resolve %d of %s: got '%s', expected '%s'", i, host, got, want);
        }
        ck_assert_msg(failed == 0, "%zu of %d resolves failed", failed, N);
        for (int i = 0; i < CLIENTS; i++)
                netutil_client_close(c[i]);
        sd_event_unref(e);

        /* Nothing stays: no fd, and memory within a few MiB of where it was. */
        assert_fds_settle_at_baseline();
        assert_rss_bounded(rss_before, 8 * 1024);
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "1"), "ipv4 192.0.2.10 1\n");
        stop_daemon_expect_clean_exit();
}
END_TEST

/* The daemon's count of requests received (STATUS), this ask included. */
static uint64_t daemon_request_count(void) {
        netutil_client *c = open_client();
        netutil_status *st = NULL;
        uint64_t n;

        ck_assert_int_eq(netutil_status_get(c, CALL_TIMEOUT_USEC, &st), 0);
        n = st->requests;
        netutil_status_free(st);
        netutil_client_close(c);
        return n;
}

START_TEST(test_cares_10000_resolves_waiting_upstream_at_once_are_all_answered) {
        enum { N = 10000, CLIENTS = 80, NAMES = 10 };
        static ResolveResult res[N];
        netutil_client *c[CLIENTS];
        char name[64], got[256], want[256];
        sd_event *e = NULL;
        uint64_t before;
        long rss_before;
        long long deadline;

        /* 5 s for us to answer (the fixture's timeout:1 would be tight for 10 000). The
         * fixture's file is unlinked: mounting over it again would fail. */
        ck_assert_int_eq(umount2("/etc/resolv.conf", MNT_DETACH), 0);
        mount_text_over("/etc/resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n");
        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        rss_before = daemon_rss_kib();
        ck_assert_int_eq(sd_event_new(&e), 0);
        for (int i = 0; i < CLIENTS; i++) {
                c[i] = open_client();
                ck_assert_int_eq(netutil_client_attach_event(c[i], e, 0), 0);
        }

        /* 10 000 resolves of ten names whose upstream is us, 125 per client (within
         * PROTO_MAX_INFLIGHT): all in the daemon at once, waiting. */
        before = daemon_request_count();
        memset(res, 0, sizeof(res));
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(netutil_resolve_async(c[i % CLIENTS],
                                                       fmt(name, sizeof(name), "w%d.slow.test", i % NAMES),
                                                       1u + (unsigned) i, AF_INET, NULL, 0, on_resolve, &res[i], NULL),
                                 0);
        deadline = now_ms() + 4000;
        while (daemon_request_count() < before + N + 2) {
                ck_assert_msg(now_ms() < deadline, "the daemon did not receive the 10 000 requests within 4 s");
                run_for(e, 20);
        }
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(res[i].calls, 0);

        /* One query per name reached the upstream: answer each, 192.0.2.1xx for wxx. */
        for (int k = 0; k < NAMES; k++) {
                char address[32];
                DnsQuery q;
                int n;

                silent_take_query(&q);
                ck_assert_int_eq(sscanf(q.name, "w%d.slow.test", &n), 1);
                silent_answer(&q, fmt(address, sizeof(address), "192.0.2.%d", 100 + n), 60);
        }
        run_until_answered(e, res, N, 10000);
        for (int i = 0; i < N; i++) {
                ck_assert_msg(res[i].error == 0, "resolve %d failed: %s", i, strerror(-res[i].error));
                format_addresses(res[i].a, res[i].n, got, sizeof(got));
                free(res[i].a);
                ck_assert_str_eq(got, fmt(want, sizeof(want), "ipv4 192.0.2.%d %d\n", 100 + i % NAMES, 1 + i));
        }
        for (int k = 0; k < NAMES; k++)
                ck_assert_uint_eq(dnsmasq_queries("A", fmt(name, sizeof(name), "w%d.slow.test", k)), 1);
        ck_assert_uint_eq(silent_drain(), 0);

        for (int i = 0; i < CLIENTS; i++)
                netutil_client_close(c[i]);
        sd_event_unref(e);
        assert_fds_settle_at_baseline();
        assert_rss_bounded(rss_before, 8 * 1024);
        stop_daemon_expect_clean_exit();
}
END_TEST

/* Writes the daemon's config file anew with text, reloads (SIGHUP) and waits for READY=1;
 * then checks the backend status reports. */
static void reload_daemon_with(const char *text, const char *want_resolver) {
        netutil_status *st = NULL;
        netutil_client *c;

        ck_assert_str_ne(daemon_config, "");
        test_write_file(daemon_config, text);
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 5000, NULL, 0), 0);
        unlink(daemon_config);
        c = open_client();
        ck_assert_int_eq(netutil_status_get(c, CALL_TIMEOUT_USEC, &st), 0);
        ck_assert_str_eq(st->resolver, want_resolver);
        netutil_status_free(st);
        netutil_client_close(c);
}

START_TEST(test_cares_lookups_beyond_the_cap_wait_for_a_free_slot) {
        enum { N = 1100, CLIENTS = 11 };
        static ResolveResult res[N];
        netutil_client *c[CLIENTS];
        sd_event *e = NULL;
        char name[64];
        long long t0, took;
        unsigned received = 0;

        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        ck_assert_int_eq(sd_event_new(&e), 0);
        for (int i = 0; i < CLIENTS; i++) {
                c[i] = open_client();
                ck_assert_int_eq(netutil_client_attach_event(c[i], e, 0), 0);
        }

        /* 1100 names the upstream never answers (100 per client), all root's: its share of
         * the slots (CARES_MAX_RUNNING_PER_USER, 500) go upstream at once and time out after
         * 1 s; the others wait for their slots, go then, and time out a second later, in
         * three rounds. */
        memset(res, 0, sizeof(res));
        t0 = now_ms();
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(netutil_resolve_async(c[i % CLIENTS], fmt(name, sizeof(name), "q%d.slow.test", i),
                                                       80, AF_INET, NULL, 0, on_resolve, &res[i], NULL),
                                 0);
        run_until_answered(e, res, N, 10000);
        took = now_ms() - t0;
        ck_assert_msg(took >= 1900 && took < 6000, "1100 lookups took %lld ms", took);
        for (int i = 0; i < N; i++)
                ck_assert_msg(res[i].error == -EAGAIN, "resolve %d: %s, not EAGAIN", i,
                              res[i].error ? strerror(-res[i].error) : "success");
        /* None went upstream twice (a burst of 1000 may overflow dnsmasq's socket: some
         * never reach it). */
        for (int i = 0; i < N; i++) {
                unsigned n = dnsmasq_queries("A", fmt(name, sizeof(name), "q%d.slow.test", i));

                ck_assert_msg(n <= 1, "dnsmasq received %u queries for %s", n, name);
                received += n;
        }
        ck_assert_uint_gt(received, 0);
        for (int i = 0; i < CLIENTS; i++)
                netutil_client_close(c[i]);
        sd_event_unref(e);
        silent_drain();
        assert_fds_settle_at_baseline();
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "1"), "ipv4 192.0.2.10 1\n");
        stop_daemon_expect_clean_exit();
}
END_TEST

START_TEST(test_cares_reload_rereads_resolv_conf_drops_the_cache_and_lets_lookups_finish) {
        ResolveResult res[2] = {};
        netutil_client *c;
        sd_event *e = NULL;
        char got[512];

        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        c = open_client();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);

        /* An answer cached for 60 s, and a lookup in flight that nobody will answer. */
        ck_assert_int_eq(
                netutil_resolve_async(c, "r.slow.test", 1, AF_INET, NULL, 0, on_resolve, &res[0], NULL), 0);
        run_for(e, 50);
        silent_answer_a("r.slow.test", "192.0.2.77", 60);
        run_until_answered(e, res, 1, 5000);
        ck_assert_int_eq(res[0].error, 0);
        free(res[0].a);
        ck_assert_int_eq(
                netutil_resolve_async(c, "stuck.slow.test", 2, AF_INET, NULL, 0, on_resolve, &res[1], NULL), 0);
        run_for(e, 50);
        silent_wait_query(3000);

        /* A reload: a new channel for new lookups, the old one finishes the stuck one. */
        reload_daemon_with("[Daemon]\nResolver=cares\n", "cares");
        run_until_answered(e, res + 1, 1, 5000);
        ck_assert_int_eq(res[1].error, -EAGAIN);
        silent_drain();

        /* The cache went with the reload: r.slow.test is asked again (dnsmasq answers from
         * its own cache). */
        netutil_client_close(c);
        sd_event_unref(e);
        c = open_client();
        lib_resolve(c, "r.slow.test", 3, AF_INET, NULL, got, sizeof(got));
        ck_assert_str_eq(got, "ipv4 192.0.2.77 3\n");
        ck_assert_uint_eq(dnsmasq_queries("A", "r.slow.test"), 2);
        netutil_client_close(c);
        assert_fds_settle_at_baseline();

        /* To the thread pool and back. */
        reload_daemon_with("[Daemon]\nResolver=threadpool\n", "threadpool");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "1"), "ipv4 192.0.2.10 1\n");
        reload_daemon_with("[Daemon]\nResolver=cares\n", "cares");
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv4", "example.test", "2"), "ipv4 192.0.2.10 2\n");
        assert_fds_settle_at_baseline();

        /* A stop with a lookup in flight (and its client still there) is clean too. */
        c = open_client();
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        memset(res, 0, sizeof(res));
        ck_assert_int_eq(
                netutil_resolve_async(c, "stop.slow.test", 4, AF_INET, NULL, 0, on_resolve, &res[0], NULL), 0);
        run_for(e, 50);
        silent_wait_query(3000);
        stop_daemon_expect_clean_exit();
        run_until_answered(e, res, 1, 5000);
        ck_assert_int_lt(res[0].error, 0);
        netutil_client_close(c);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_cares_dead_upstream_times_out_with_eai_again_and_nothing_piles_up) {
        enum { NAMES = 100, EACH = 3 };
        static ResolveResult res[NAMES * EACH];
        netutil_client *c[EACH];
        sd_event *e = NULL;
        long rss_before;
        long long t0;
        char name[64];
        int fd;

        restart_dnsmasq_logging_queries();
        start_daemon_for(BACKEND_CARES, NULL, NULL);
        rss_before = daemon_rss_kib();
        ck_assert_int_eq(sd_event_new(&e), 0);
        for (int k = 0; k < EACH; k++) {
                c[k] = open_client();
                ck_assert_int_eq(netutil_client_attach_event(c[k], e, 0), 0);
        }

        /* 100 names under slow.test, whose upstream never answers, each asked by three
         * clients (100 requests each: within PROTO_MAX_INFLIGHT, so that all are in the
         * daemon at once); and a fourth client that asks for them too and leaves at once. */
        memset(res, 0, sizeof(res));
        t0 = now_ms();
        for (int i = 0; i < NAMES; i++)
                for (int k = 0; k < EACH; k++)
                        ck_assert_int_eq(netutil_resolve_async(c[k],
                                                               fmt(name, sizeof(name), "d%d.slow.test", i),
                                                               (unsigned) (80 + k), AF_INET, NULL, 0, on_resolve,
                                                               &res[i * EACH + k], NULL),
                                         0);
        fd = raw_connect(daemon_.socket);
        for (int i = 0; i < NAMES; i++)
                raw_resolve(fd, (uint32_t) i + 1, fmt(name, sizeof(name), "d%d.slow.test", i), 80, AF_INET);
        close(fd);

        /* c-ares gives up after resolv.conf's timeout:1 attempts:1, as getaddrinfo() would. */
        run_until_answered(e, res, ELEMENTSOF(res), 8000);
        ck_assert_int_ge(now_ms() - t0, 900);
        ck_assert_int_lt(now_ms() - t0, 5000);
        for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                ck_assert_msg(res[i].error == -EAGAIN, "resolve %zu: %s, not EAGAIN", i,
                              res[i].error ? strerror(-res[i].error) : "success");
                free(res[i].a);
        }
        /* One query per name, whatever the number of askers. */
        for (int i = 0; i < NAMES; i++) {
                unsigned n = dnsmasq_queries("A", fmt(name, sizeof(name), "d%d.slow.test", i));

                ck_assert_msg(n == 1, "dnsmasq received %u queries for %s", n, name);
        }
        ck_assert_uint_gt(silent_drain(), 0);

        /* Nothing piled up: no socket but the clients', no memory to speak of, and a
         * failure is not cached. */
        baseline_fds += EACH;
        assert_fds_settle_at_baseline();
        baseline_fds -= EACH;
        assert_rss_bounded(rss_before, 8 * 1024);
        memset(res, 0, sizeof(res[0]));
        ck_assert_int_eq(
                netutil_resolve_async(c[0], "d0.slow.test", 80, AF_INET, NULL, 0, on_resolve, &res[0], NULL), 0);
        run_until_answered(e, res, 1, 5000);
        ck_assert_int_eq(res[0].error, -EAGAIN);
        ck_assert_uint_eq(dnsmasq_queries("A", "d0.slow.test"), 2);
        for (int k = 0; k < EACH; k++)
                netutil_client_close(c[k]);
        sd_event_unref(e);
        silent_drain();
        assert_fds_settle_at_baseline();
        expect_ok(AS_ROOT, ARGS("resolve", "--family", "ipv6", "example.test", "1"), "ipv6 2001:db8::10 1\n");
        assert_fds_at_baseline();
        stop_daemon_expect_clean_exit();
}
END_TEST

/* ---- the suite ------------------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name) {
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, setup, teardown);
        suite_add_tcase(s, tc);
        return tc;
}

/* Adds t once per backend: _i indexes backend_names. */
static void add_per_backend(TCase *tc, const TTest *t) {
        tcase_add_loop_test(tc, t, 0, (int) ELEMENTSOF(backend_names));
}

static Suite *resolve_suite(void) {
        Suite *s = suite_create("resolve");
        TCase *tc;

        tc = tcase(s, "lookup");
        add_per_backend(tc, test_localhost_gives_the_hosts_file_address);
        add_per_backend(tc, test_name_with_a_and_aaaa_gives_both_in_getaddrinfo_order);
        add_per_backend(tc, test_family_filter_gives_only_that_family);
        add_per_backend(tc, test_unknown_name_fails_with_eai_noname_in_words_and_json);
        add_per_backend(tc, test_literals_are_answered_with_the_dns_server_stopped);
        add_per_backend(tc, test_literal_of_the_other_family_fails_with_eai_addrfamily);
        add_per_backend(tc, test_port_defaults_to_0_and_is_carried_into_every_address);
        add_per_backend(tc, test_changed_dns_record_is_seen_once_its_ttl_is_over);
        add_per_backend(tc, test_hosts_file_names_and_aliases_follow_edits_of_the_file);
        add_per_backend(tc, test_hosts_file_answers_in_getaddrinfo_order_and_per_family);

        tc = tcase(s, "override-tornado");
        add_per_backend(tc, test_override_resolver_upstream_mapping);

        tc = tcase(s, "override-keys");
        tcase_add_test(tc, test_async_override_calls_set_list_del_and_clear);
        tcase_add_test(tc, test_override_list_of_3000_rules_comes_whole);
        add_per_backend(tc, test_triple_beats_pair_beats_host);
        add_per_backend(tc, test_host_rule_keeps_the_asked_port);
        add_per_backend(tc, test_one_substitution_only_not_recursive);
        add_per_backend(tc, test_keys_are_case_sensitive);
        add_per_backend(tc, test_family_is_passed_through_after_host_substitution);
        add_per_backend(tc, test_triple_key_with_family_any_matches_the_default_family);
        add_per_backend(tc, test_set_on_an_existing_key_replaces_the_rule);

        tc = tcase(s, "scopes");
        add_per_backend(tc, test_scope_rule_applies_only_with_the_scope_option_or_variable);
        add_per_backend(tc, test_scope_table_wins_over_the_global_one_and_scopes_are_isolated);
        add_per_backend(tc, test_override_list_of_a_scope_in_json_and_text);
        add_per_backend(tc, test_override_clear_of_a_scope_removes_it);
        tcase_add_test(tc, test_scope_goes_with_its_last_rule);
        tcase_add_test(tc, test_deleted_scopes_do_not_count_against_the_scope_quota);
        tcase_add_test(tc, test_scope_whose_rules_expired_is_free_for_another_user);
        tcase_add_test(tc, test_scopes_whose_rules_expired_do_not_count_against_the_scope_quota);

        tc = tcase(s, "expiry");
        add_per_backend(tc, test_rule_with_ttl_applies_then_expires);

        tc = tcase(s, "policy");
        add_per_backend(tc, test_nobody_is_refused_the_global_table);
        add_per_backend(tc, test_nobody_owns_the_scope_it_creates_and_other_uids_only_read_it);
        add_per_backend(tc, test_allow_override_global_lets_nobody_write_the_global_table);
        add_per_backend(tc, test_allow_override_scope_name_lets_uid_1234_write_nobodys_scope);

        tc = tcase(s, "errors");
        add_per_backend(tc, test_del_of_a_missing_key_fails_in_words_and_json);
        add_per_backend(tc, test_del_and_clear_in_a_missing_scope_fail);
        add_per_backend(tc, test_usage_errors_exit_2_and_change_nothing);
        add_per_backend(tc, test_resolve_of_an_unsupported_family_fails_with_eai_family);

        tc = tcase(s, "slow-upstream");
        tcase_add_loop_test(tc, test_slow_lookup_times_out_in_the_client_while_the_daemon_serves_others, 0, 2);
        add_per_backend(tc, test_slow_lookup_fails_with_eai_again_once_getaddrinfo_gives_up);
        add_per_backend(tc, test_disconnect_with_resolves_in_flight_costs_nothing);
        tcase_add_test(tc, test_literal_is_answered_while_every_worker_waits_on_dns);

        tc = tcase(s, "load");
        add_per_backend(tc, test_2000_pipelined_async_resolves_are_all_answered_correctly);

        tc = tcase(s, "cares");
        tcase_add_test(tc, test_cares_coalesces_identical_lookups_and_gives_each_its_port);
        tcase_add_test(tc, test_cares_cache_never_serves_an_answer_past_its_ttl);
        tcase_add_test(tc, test_cares_10000_resolves_in_flight_are_all_answered);
        tcase_add_test(tc, test_cares_10000_resolves_waiting_upstream_at_once_are_all_answered);
        tcase_add_test(tc, test_cares_dead_upstream_times_out_with_eai_again_and_nothing_piles_up);
        tcase_add_test(tc, test_cares_lookups_beyond_the_cap_wait_for_a_free_slot);
        tcase_add_test(tc, test_cares_reload_rereads_resolv_conf_drops_the_cache_and_lets_lookups_finish);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "check-resolve needs root (namespaces, bind mounts, setpriv); skipped.\n");
                return 77;
        }
        if (access(DNSMASQ_BIN, X_OK) != 0) {
                fprintf(stderr, "check-resolve needs %s; skipped.\n", DNSMASQ_BIN);
                return 77;
        }

        sr = srunner_create(resolve_suite());
        /* Every test unshare()s its namespaces: one process each, whatever CK_FORK says. */
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
