/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of the rules file from the library's side (proto/rules-file-format.h,
 * client/rules.c): netutil_resolve() answers an override hit on a literal target from
 * SOCKET.rules without asking the daemon, and must answer byte for byte what the daemon
 * answers. Owns these tests only; must not test the daemon's tables or the NSS module (their
 * suites do), and must not change the daemon's files other than as the daemon would (a
 * rename() over SOCKET.rules).
 *
 * Every answer is compared with the answer of a second client opened with
 * NETUTIL_RULES_FILE=0, which always asks the daemon ("the oracle"): the return value, the
 * EAI_* code, the message and, address by address, family, address_len and the sockaddr
 * bytes. "Local" is proved by stopping the daemon (SIGSTOP): a local answer still comes, a
 * question for the daemon times out. Covers: a matrix of rules (global and scoped, the three
 * key forms, IPv4, IPv6, scope ids, v4-mapped, inet_aton forms, a name target, TTLs, rules
 * shadowing each other) against a matrix of questions; coherence after every kind of change
 * (set, replace, del, TTL, clear, a scope's last rule, SIGHUP of drop-ins, 200 rounds); the
 * file's mode and life (SIGTERM, kill -9 and a restart, past RULES_FILE_MAX_RULES and back);
 * malformed files put in place by rename(); fd and mapping counts over 1000 resolves, many
 * clients and a forked child.
 *
 * Every test runs in its own process (fork mode) in its own mount and network namespaces,
 * with /etc/hosts "127.0.0.1 localhost" + "::1 localhost" and nsswitch.conf "hosts: files"
 * bind-mounted, so that a name without a rule fails at once with EAI_NONAME and "localhost"
 * has both families. The daemon (user mode, --config with an overrides.d) dies with the test
 * (setpriv --pdeathsig KILL); a test that stops it sends SIGCONT on every way out (atexit).
 */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "rules-file-format.h"
#include "testlib.h"

/* The NULL-terminated argument list of a command line. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* How long a client gives the daemon when the test does not test timeouts. */
#define CALL_TIMEOUT_USEC (10ULL * 1000 * 1000)
/* How long a client waits for a stopped daemon: long against a local answer (microseconds),
 * short enough for hundreds of questions. */
#define STOPPED_TIMEOUT_USEC (200ULL * 1000)
/* Rounds of set/resolve/del/resolve in the coherence loop. */
#define COHERENCE_ROUNDS 200
/* Resolves in the fd count test. */
#define FD_ROUNDS 1000
/* One TTL long enough never to expire in a test: a rule with it never carries an answer. */
#define LONG_TTL_USEC (3600ULL * 1000 * 1000)
/* The small matrix of a malformed file (336 round trips, milliseconds here, a second with the
 * daemon under valgrind) must not take longer: a reader blocked on a FIFO would. */
#define MALFORMED_MATRIX_MAX_MS 20000
/* The most addresses one answer of the matrix has ("localhost": two). */
#define MAX_ADDRESSES 16

static TestDaemon daemon_;
static int baseline_fds;
/* This test's config directory (conf/netutild.conf, conf/overrides.d) and paths. */
static char work[64], conf_path[128], dropin_dir[128], rules_path[320];
/* Set while the daemon is SIGSTOPped: every way out sends SIGCONT. */
static pid_t stopped_pid = -1;
static char out[65536], err[8192];

__attribute__((format(printf, 3, 4))) static const char *fmt(char *buf, size_t len, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, len, format, ap);
        va_end(ap);
        return buf;
}

/* ---- the daemon, stopped and continued ------------------------------------------------ */

static void continue_stopped_daemon(void) {
        if (stopped_pid > 0)
                (void) kill(stopped_pid, SIGCONT);
        stopped_pid = -1;
}

/* The state letter of pid in /proc/PID/stat, or 0. */
static char proc_state(pid_t pid) {
        char path[64], buf[512], *p;
        ssize_t n;
        int fd;

        fd = open(fmt(path, sizeof(path), "/proc/%d/stat", (int) pid), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

/* Stops the daemon and waits (up to 2 s) until it is stopped. */
static void stop_daemon_process(void) {
        long long deadline = test_now_ms() + 2000;

        stopped_pid = daemon_.pid;
        ck_assert_int_eq(kill(daemon_.pid, SIGSTOP), 0);
        while (proc_state(daemon_.pid) != 'T') {
                ck_assert_msg(test_now_ms() < deadline, "the daemon did not stop");
                usleep(1000);
        }
}

static void continue_daemon_process(void) {
        ck_assert_int_gt(stopped_pid, 0);
        continue_stopped_daemon();
}

/* ---- fixture --------------------------------------------------------------------------- */

/* Starts the daemon with --config conf/netutild.conf (so conf/overrides.d is read), socket
 * in its own temporary directory; measures its fd baseline. */
static void start_daemon(void) {
        baseline_fds = test_daemon_start_for_any_user(&daemon_, ARGS("--config", conf_path));
        fmt(rules_path, sizeof(rules_path), "%s" RULES_FILE_SUFFIX, daemon_.socket);
}

static void setup(void) {
        char conf_dir[96];

        test_cloexec_fds_from_3();
        unsetenv("NETUTIL_SCOPE");
        unsetenv("NETUTIL_RULES_FILE");
        unsetenv("NETUTILD_SOCKET");
        ck_assert_int_eq(atexit(continue_stopped_daemon), 0);
        test_enter_mount_namespace();
        test_enter_netns();
        test_mount_text_over("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
        test_mount_text_over("/etc/nsswitch.conf", "hosts: files\n");
        snprintf(work, sizeof(work), "/tmp/netutild-rules.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(work));
        fmt(conf_dir, sizeof(conf_dir), "%s/conf", work);
        fmt(conf_path, sizeof(conf_path), "%s/netutild.conf", conf_dir);
        fmt(dropin_dir, sizeof(dropin_dir), "%s/overrides.d", conf_dir);
        ck_assert_int_eq(mkdir(conf_dir, 0755), 0);
        ck_assert_int_eq(mkdir(dropin_dir, 0755), 0);
        test_write_file(conf_path, "[Daemon]\n");
        start_daemon();
}

static void teardown(void) {
        continue_stopped_daemon();
        test_daemon_kill(&daemon_);
        test_rm_rf(work);
}

/* Asserts that the daemon's fd count is back at its baseline and stops it (exit 0). */
static void finish_daemon(void) {
        test_daemon_assert_fds(&daemon_, baseline_fds, baseline_fds);
        test_daemon_stop_expect_clean_exit(&daemon_);
}

/* ---- clients and answers ------------------------------------------------------------- */

/* A client of the daemon; local false: with NETUTIL_RULES_FILE=0, the oracle. */
static netutil_client *open_client_at(const char *socket, bool local) {
        netutil_client *c = NULL;

        if (!local)
                ck_assert_int_eq(setenv("NETUTIL_RULES_FILE", "0", 1), 0);
        ck_assert_int_eq(netutil_client_open(socket, &c), 0);
        unsetenv("NETUTIL_RULES_FILE");
        return c;
}

static netutil_client *open_client(bool local) {
        return open_client_at(daemon_.socket, local);
}

typedef struct Question {
        const char *host;
        unsigned port;
        int family;
        const char *scope;
} Question;

typedef struct Answer {
        int r;
        int gai;
        bool has_message;
        char message[PROTO_MAX_ERROR_MESSAGE + 1];
        size_t n;
        netutil_address a[MAX_ADDRESSES];
} Answer;

static const char *family_name(int family) {
        return family == AF_UNSPEC ? "any" : family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "other";
}

static const char *question_text(char *buf, size_t len, const Question *q) {
        return fmt(buf, len, "resolve(%s, %u, %s(%d), scope %s%s)", q->host, q->port, family_name(q->family),
                   q->family, q->scope ? q->scope : "NULL", q->scope ? "" : getenv("NETUTIL_SCOPE") ? " (env)" : "");
}

static const char *answer_text(char *buf, size_t len, const Answer *a) {
        size_t used = 0;

        if (a->r < 0)
                return fmt(buf, len, "error %d (%s), gai %d, message %s%s%s", a->r, strerror(-a->r), a->gai,
                           a->has_message ? "'" : "", a->has_message ? a->message : "NULL", a->has_message ? "'" : "");
        used += (size_t) snprintf(buf, len, "%zu address%s:", a->n, a->n == 1 ? "" : "es");
        for (size_t i = 0; i < a->n && used < len; i++) {
                const netutil_address *x = &a->a[i];
                char text[INET6_ADDRSTRLEN] = "?";

                if (x->address.ss_family == AF_INET) {
                        const struct sockaddr_in *s = (const struct sockaddr_in *) &x->address;
                        inet_ntop(AF_INET, &s->sin_addr, text, sizeof(text));
                        used += (size_t) snprintf(buf + used, len - used, " [family %d len %u %s:%u]", x->family,
                                                  (unsigned) x->address_len, text, ntohs(s->sin_port));
                } else {
                        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *) &x->address;
                        inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof(text));
                        used += (size_t) snprintf(buf + used, len - used,
                                                  " [family %d len %u %s port %u flow %u scope %u]", x->family,
                                                  (unsigned) x->address_len, text, ntohs(s->sin6_port),
                                                  s->sin6_flowinfo, s->sin6_scope_id);
                }
        }
        return buf;
}

static void ask(netutil_client *c, const Question *q, uint64_t timeout_usec, Answer *a) {
        netutil_address *addrs = NULL;
        const char *m;

        memset(a, 0, sizeof(*a));
        a->r = netutil_resolve(c, q->host, q->port, q->family, q->scope, timeout_usec, &addrs);
        a->gai = netutil_client_error_gai(c);
        m = netutil_client_error_message(c);
        a->has_message = m != NULL;
        if (m)
                snprintf(a->message, sizeof(a->message), "%s", m);
        if (a->r > 0) {
                ck_assert_msg(a->r <= MAX_ADDRESSES, "%d addresses", a->r);
                a->n = (size_t) a->r;
                memcpy(a->a, addrs, a->n * sizeof(*addrs));
        }
        free(addrs);
}

static bool answers_equal(const Answer *x, const Answer *y) {
        if (x->r != y->r || x->gai != y->gai || x->has_message != y->has_message ||
            (x->has_message && strcmp(x->message, y->message) != 0) || x->n != y->n)
                return false;
        for (size_t i = 0; i < x->n; i++)
                if (x->a[i].family != y->a[i].family || x->a[i].address_len != y->a[i].address_len ||
                    x->a[i].address_len > sizeof(x->a[i].address) ||
                    memcmp(&x->a[i].address, &y->a[i].address, x->a[i].address_len) != 0)
                        return false;
        return true;
}

/* Asserts that local (the rules file on) answers q exactly as the oracle does; the oracle's
 * answer in *ret if not NULL. */
static void assert_same_answer(netutil_client *local, netutil_client *oracle, const Question *q, Answer *ret) {
        static Answer l, o;
        char qt[512], lt[1024], ot[1024];

        ask(local, q, CALL_TIMEOUT_USEC, &l);
        ask(oracle, q, CALL_TIMEOUT_USEC, &o);
        ck_assert_msg(answers_equal(&l, &o), "%s: with the rules file %s, from the daemon %s",
                      question_text(qt, sizeof(qt), q), answer_text(lt, sizeof(lt), &l),
                      answer_text(ot, sizeof(ot), &o));
        if (ret)
                *ret = o;
}

/* Asserts that q gets an answer while the daemon is stopped, at once, equal to want. */
static void assert_local(netutil_client *c, const Question *q, const Answer *want) {
        static Answer a;
        char qt[512], at[1024], wt[1024];

        ask(c, q, STOPPED_TIMEOUT_USEC, &a);
        ck_assert_msg(a.r > 0, "%s with the daemon stopped: %s, expected a local answer",
                      question_text(qt, sizeof(qt), q), answer_text(at, sizeof(at), &a));
        /* No time bound: an answer at all, with the daemon stopped, can only be local. */
        if (want)
                ck_assert_msg(answers_equal(&a, want), "%s: local %s, the daemon's %s",
                              question_text(qt, sizeof(qt), q), answer_text(at, sizeof(at), &a),
                              answer_text(wt, sizeof(wt), want));
}

/* Asserts that q waits for the stopped daemon: -ETIMEDOUT. */
static void assert_asks_daemon(netutil_client *c, const Question *q) {
        static Answer a;
        char qt[512], at[1024];

        ask(c, q, STOPPED_TIMEOUT_USEC, &a);
        ck_assert_msg(a.r == -ETIMEDOUT, "%s with the daemon stopped: %s, expected it to ask the daemon (-ETIMEDOUT)",
                      question_text(qt, sizeof(qt), q), answer_text(at, sizeof(at), &a));
}

/* One address: ip (text) and port, as the daemon's numeric getaddrinfo() gives it. */
static void expect_address(const Answer *a, const char *ip, unsigned port, uint32_t scope_id) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        char service[8], at[1024];
        Answer want = { .r = 1, .n = 1 };

        snprintf(service, sizeof(service), "%u", port);
        ck_assert_int_eq(getaddrinfo(ip, service, &hints, &res), 0);
        want.a[0].family = res->ai_family;
        want.a[0].address_len = res->ai_addrlen;
        memcpy(&want.a[0].address, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        if (want.a[0].family == AF_INET6)
                ck_assert_uint_eq(((struct sockaddr_in6 *) &want.a[0].address)->sin6_scope_id, scope_id);
        ck_assert_msg(a->r == 1 && a->n == 1 && a->a[0].family == want.a[0].family &&
                              a->a[0].address_len == want.a[0].address_len &&
                              memcmp(&a->a[0].address, &want.a[0].address, want.a[0].address_len) == 0,
                      "expected %s port %u, got %s", ip, port, answer_text(at, sizeof(at), a));
}

static int set_rule(netutil_client *c, const char *scope, const char *host, int port, int family, const char *target,
                    int target_port, uint64_t ttl_usec) {
        return netutil_override_set(c, scope, host, port, family, target, target_port, ttl_usec, CALL_TIMEOUT_USEC);
}

/* ---- the matrix --------------------------------------------------------------------- */

/* Rules, with the question that each is about in its comment. Scopes "s1" and "s2" exist,
 * "missing" does not. */
static void set_matrix(netutil_client *c) {
        static const struct {
                const char *scope, *host;
                int port, family;
                const char *target;
                int target_port;
                uint64_t ttl;
        } rules[] = {
                /* host form, shadowed in s1 by an IPv6 target and in s2 by a name */
                { NULL, "h1.test", -1, -1, "192.0.2.1", -1, 0 },
                { "s1", "h1.test", -1, -1, "2001:db8::1", -1, 0 },
                { "s2", "h1.test", -1, -1, "localhost", -1, 0 },
                /* all three forms for one host; AF_UNSPEC's triple is its own key */
                { NULL, "h2.test", -1, -1, "::1", -1, 0 },
                { NULL, "h2.test", 80, -1, "192.0.2.2", 8080, 0 },
                { NULL, "h2.test", 443, AF_INET6, "fe80::1%1", 4443, 0 },
                { NULL, "h2.test", 443, AF_INET, "10.0.0.1", 4430, 0 },
                { NULL, "h2.test", 443, AF_UNSPEC, "::ffff:1.2.3.4", 443, 0 },
                /* a scope's host form wins over every global form */
                { "s1", "h2.test", -1, -1, "2001:db8::2", -1, 0 },
                /* an interface name as scope id: the daemon looks it up each time */
                { NULL, "h3.test", -1, -1, "fe80::1%lo", -1, 0 },
                /* a name target */
                { NULL, "h4.test", -1, -1, "localhost", -1, 0 },
                /* a TTL, and a pair under it without one */
                { NULL, "h5.test", -1, -1, "192.0.2.5", -1, LONG_TTL_USEC },
                { NULL, "h5.test", 80, -1, "192.0.2.55", 80, 0 },
                /* a TTL in the scope over a literal in the global table */
                { "s1", "h6.test", 80, -1, "192.0.2.6", 80, LONG_TTL_USEC },
                { NULL, "h6.test", -1, -1, "192.0.2.66", -1, 0 },
                /* in a scope only */
                { "s1", "h7.test", -1, -1, "::1", -1, 0 },
                /* port 0 as a key, a numeric scope id; a name with a target port */
                { "s1", "h8.test", 0, -1, "fe80::2%1", 0, 0 },
                { NULL, "h8.test", 443, -1, "localhost", 8443, 0 },
                /* a family the target lacks: AF_INET asked, an IPv6 (v4-mapped) literal */
                { NULL, "h9.test", 80, AF_INET, "::ffff:1.2.3.4", 81, 0 },
                /* inet_aton forms are literals too */
                { NULL, "h10.test", -1, -1, "127.1", -1, 0 },
                { NULL, "h10.test", 443, AF_INET6, "0x7f.1", 1, 0 },
                /* a rule for a literal host */
                { NULL, "127.0.0.2", -1, -1, "::1", -1, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(rules); i++)
                ck_assert_msg(set_rule(c, rules[i].scope, rules[i].host, rules[i].port, rules[i].family,
                                       rules[i].target, rules[i].target_port, rules[i].ttl) == 0,
                              "rule %zu (%s)", i, rules[i].host);
}

static const char *const matrix_hosts[] = {
        "h1.test", "h2.test", "h3.test",  "h4.test",   "h5.test",   "h6.test",   "h7.test",
        "h8.test", "h9.test", "h10.test", "localhost", "no.test",   "127.0.0.2", "::1",
};
static const unsigned matrix_ports[] = { 0, 80, 443 };
static const int matrix_families[] = { AF_UNSPEC, AF_INET, AF_INET6 };
static const char *const matrix_scopes[] = { NULL, "s1", "missing" };

/* Calls f for every question of the matrix, and with NETUTIL_SCOPE=s1 and scope NULL. */
static unsigned for_each_question(void (*f)(const Question *q, void *userdata), void *userdata) {
        unsigned n = 0;

        for (int env = 0; env < 2; env++) {
                if (env)
                        ck_assert_int_eq(setenv("NETUTIL_SCOPE", "s1", 1), 0);
                for (size_t h = 0; h < ELEMENTSOF(matrix_hosts); h++)
                        for (size_t p = 0; p < ELEMENTSOF(matrix_ports); p++)
                                for (size_t fa = 0; fa < ELEMENTSOF(matrix_families); fa++)
                                        for (size_t s = 0; s < (env ? 1 : ELEMENTSOF(matrix_scopes)); s++) {
                                                Question q = { matrix_hosts[h], matrix_ports[p], matrix_families[fa],
                                                               matrix_scopes[s] };
                                                f(&q, userdata);
                                                n++;
                                        }
                unsetenv("NETUTIL_SCOPE");
        }
        return n;
}

typedef struct Pair {
        netutil_client *local, *oracle;
} Pair;

static void same_answer_cb(const Question *q, void *userdata) {
        Pair *p = userdata;

        assert_same_answer(p->local, p->oracle, q, NULL);
}

/* The whole matrix, plus families the daemon refuses and the largest port. */
static void assert_matrix_equivalent(netutil_client *local, netutil_client *oracle) {
        Pair p = { local, oracle };
        static const Question odd[] = {
                { "h1.test", 0, 99, NULL },        { "h1.test", 80, -1, NULL },   { "h2.test", 80, 99, NULL },
                { "h2.test", 443, AF_UNIX, NULL }, { "h1.test", 65535, 0, "s1" }, { "", 0, 0, NULL },
                { "h1.test", 0, 0, "" },
        };

        ck_assert_uint_gt(for_each_question(same_answer_cb, &p), 0);
        for (size_t i = 0; i < ELEMENTSOF(odd); i++)
                assert_same_answer(local, oracle, &odd[i], NULL);
}

/* ---- 1. equivalence ------------------------------------------------------------------ */

/* Breaks if the library's lookup (order, scopes, key forms, families) or its sockaddr (port,
 * scope id, v4-mapped bytes, length) differs from the daemon's in any question. */
START_TEST(test_answers_equal_the_daemons_for_every_rule_and_question) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        int fds = test_count_own_fds();
        struct stat st;

        set_matrix(c);
        ck_assert_msg(stat(rules_path, &st) == 0, "%s: %s", rules_path, strerror(errno));
        assert_matrix_equivalent(c, oracle);

        /* netutilctl resolve goes through the same path: its output is the same with the
         * file and without it. */
        static const char *const hosts[] = { "h1.test", "h2.test", "h4.test", "h8.test", "no.test" };
        for (size_t i = 0; i < ELEMENTSOF(hosts); i++)
                for (int scoped = 0; scoped < 2; scoped++) {
                        char with_out[4096], with_err[1024];
                        int with, without;
                        const char *const *args = scoped ? ARGS("resolve", "--scope", "s1", hosts[i], "443")
                                                         : ARGS("--json", "resolve", hosts[i], "443");

                        with = test_ctl(daemon_.socket, NULL, args, with_out, sizeof(with_out), with_err,
                                        sizeof(with_err));
                        ck_assert_int_eq(setenv("NETUTIL_RULES_FILE", "0", 1), 0);
                        without = test_ctl(daemon_.socket, NULL, args, out, sizeof(out), err, sizeof(err));
                        unsetenv("NETUTIL_RULES_FILE");
                        ck_assert_int_ge(with, 0);
                        ck_assert_msg(with == without && strcmp(with_out, out) == 0 && strcmp(with_err, err) == 0,
                                      "netutilctl resolve %s: with the file %d '%s' '%s', without %d '%s' '%s'",
                                      hosts[i], with, with_out, with_err, without, out, err);
                }

        ck_assert_int_eq(test_count_own_fds(), fds);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- 2. local answers are local ------------------------------------------------------ */

/* Breaks if a literal hit asks the daemon (no speed-up), if a name target, a TTL rule, an
 * interface scope id, a family the literal lacks or a missing rule is answered without the
 * daemon, or if NETUTIL_RULES_FILE=0 does not turn the local path off. */
START_TEST(test_literal_hits_answer_with_the_daemon_stopped) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        static const Question local[] = {
                { "h1.test", 0, AF_UNSPEC, NULL },     { "h1.test", 80, AF_INET, "missing" },
                { "h1.test", 80, AF_INET6, "s1" },     { "h2.test", 80, AF_UNSPEC, NULL },
                { "h2.test", 443, AF_INET6, NULL },    { "h2.test", 443, AF_UNSPEC, NULL },
                { "h2.test", 443, AF_INET, NULL },     { "h2.test", 0, AF_INET6, NULL },
                { "h2.test", 443, AF_UNSPEC, "s1" },   { "h5.test", 80, AF_UNSPEC, NULL },
                { "h6.test", 443, AF_INET, "s1" },     { "h7.test", 0, AF_UNSPEC, "s1" },
                { "h8.test", 0, AF_UNSPEC, "s1" },     { "h10.test", 443, AF_UNSPEC, NULL },
                { "h10.test", 80, AF_INET, NULL },     { "127.0.0.2", 1, AF_UNSPEC, NULL },
        };
        static const Question daemon_only[] = {
                { "h1.test", 0, AF_INET6, NULL },   /* IPv4 literal, IPv6 asked */
                { "h1.test", 0, AF_UNSPEC, "s2" },  /* a name target in the scope */
                { "h3.test", 0, AF_UNSPEC, NULL },  /* fe80::1%lo */
                { "h4.test", 80, AF_UNSPEC, NULL }, /* a name target */
                { "h5.test", 0, AF_UNSPEC, NULL },  /* a TTL */
                { "h6.test", 80, AF_UNSPEC, "s1" }, /* a TTL in the scope shadows a literal */
                { "h8.test", 443, AF_INET, NULL },  /* a name with a target port */
                { "h9.test", 80, AF_INET, NULL },   /* a v4-mapped literal, IPv4 asked */
                { "h9.test", 80, AF_INET6, NULL },  /* no rule with that family or without one */
                { "h10.test", 443, AF_INET6, NULL },/* an IPv4 literal, IPv6 asked */
                { "no.test", 0, AF_UNSPEC, NULL },  /* no rule */
                { "localhost", 0, AF_UNSPEC, NULL },
                { "h1.test", 0, 99, NULL },         /* a family the daemon refuses */
        };
        static Answer want[ELEMENTSOF(local)];

        set_matrix(c);
        for (size_t i = 0; i < ELEMENTSOF(local); i++)
                assert_same_answer(c, oracle, &local[i], &want[i]);
        /* The addresses themselves, as a reader of the format's comment expects them. */
        expect_address(&want[4], "fe80::1%1", 4443, 1);
        expect_address(&want[5], "::ffff:1.2.3.4", 443, 0);
        expect_address(&want[14], "127.0.0.1", 80, 0);
        stop_daemon_process();
        for (size_t i = 0; i < ELEMENTSOF(local); i++)
                assert_local(c, &local[i], &want[i]);
        for (size_t i = 0; i < ELEMENTSOF(daemon_only); i++)
                assert_asks_daemon(c, &daemon_only[i]);
        /* The oracle asks for everything. */
        assert_asks_daemon(oracle, &local[0]);
        /* A client opened while the daemon is stopped: connect() lands in the backlog, and
         * its first resolve of a literal hit needs no answer from the daemon either. */
        {
                netutil_client *late = open_client(true);
                assert_local(late, &local[3], &want[3]);
                netutil_client_close(late);
        }
        /* netutilctl too. */
        ck_assert_int_eq(test_ctl(daemon_.socket, NULL, ARGS("resolve", "h2.test", "80"), out, sizeof(out), err,
                                  sizeof(err)),
                         0);
        ck_assert_str_eq(out, "ipv4 192.0.2.2 8080\n");
        continue_daemon_process();

        /* The timed-out questions get their answers again, equal. */
        for (size_t i = 0; i < ELEMENTSOF(daemon_only); i++)
                assert_same_answer(c, oracle, &daemon_only[i], NULL);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- 3. coherence -------------------------------------------------------------------- */

/* Asserts that q is answered locally (the daemon stopped for it) with want. */
static void assert_local_now(netutil_client *c, const Question *q, const Answer *want) {
        stop_daemon_process();
        assert_local(c, q, want);
        continue_daemon_process();
}

static void assert_daemon_now(netutil_client *c, const Question *q) {
        stop_daemon_process();
        assert_asks_daemon(c, q);
        continue_daemon_process();
}

/* Breaks if a change is acknowledged before the file shows it, or if the library keeps an
 * old mapping after the daemon replaced the file. */
START_TEST(test_each_change_is_seen_by_the_next_resolve) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question q = { "co.test", 80, AF_UNSPEC, NULL }, qs = { "co.test", 80, AF_UNSPEC, "sc" };
        Answer a, b;
        char target[64];
        int fds = test_count_own_fds();

        /* No rule: the backend's answer (no such name). */
        assert_same_answer(c, oracle, &q, &a);
        ck_assert_int_eq(a.gai, EAI_NONAME);

        for (unsigned i = 0; i < COHERENCE_ROUNDS; i++) {
                bool v6 = i % 2;

                if (v6)
                        fmt(target, sizeof(target), "2001:db8::%x", i);
                else
                        fmt(target, sizeof(target), "192.0.2.%u", i % 250 + 1);
                ck_assert_int_eq(set_rule(c, NULL, "co.test", -1, -1, target, -1, 0), 0);
                ask(c, &q, CALL_TIMEOUT_USEC, &a);
                expect_address(&a, target, 80, 0);
                if (i % 25 == 0) {
                        assert_same_answer(c, oracle, &q, &b);
                        assert_local_now(c, &q, &b);
                }
                /* Replaced with another target, seen at once. */
                fmt(target, sizeof(target), "198.51.100.%u", i % 250 + 1);
                ck_assert_int_eq(set_rule(c, NULL, "co.test", -1, -1, target, -1, 0), 0);
                ask(c, &q, CALL_TIMEOUT_USEC, &a);
                expect_address(&a, target, 80, 0);
                ck_assert_int_eq(netutil_override_del(c, NULL, "co.test", -1, -1, CALL_TIMEOUT_USEC), 0);
                ask(c, &q, CALL_TIMEOUT_USEC, &a);
                ck_assert_msg(a.r == -EADDRNOTAVAIL && a.gai == EAI_NONAME, "round %u: after del: %d gai %d", i, a.r,
                              a.gai);
        }

        /* A TTL-less rule replaced by one with a TTL: asked again. */
        ck_assert_int_eq(set_rule(c, NULL, "co.test", 80, -1, "192.0.2.200", 8080, 0), 0);
        assert_same_answer(c, oracle, &q, &a);
        assert_local_now(c, &q, &a);
        ck_assert_int_eq(set_rule(c, NULL, "co.test", 80, -1, "192.0.2.201", 8080, LONG_TTL_USEC), 0);
        assert_daemon_now(c, &q);
        assert_same_answer(c, oracle, &q, &a);
        expect_address(&a, "192.0.2.201", 8080, 0);
        /* ... and back. */
        ck_assert_int_eq(set_rule(c, NULL, "co.test", 80, -1, "192.0.2.202", 8080, 0), 0);
        assert_same_answer(c, oracle, &q, &a);
        expect_address(&a, "192.0.2.202", 8080, 0);
        assert_local_now(c, &q, &a);

        /* A scope shadows the global rule; its last rule deleted, the global one answers. */
        ck_assert_int_eq(set_rule(c, "sc", "co.test", -1, -1, "2001:db8::99", -1, 0), 0);
        assert_same_answer(c, oracle, &qs, &a);
        expect_address(&a, "2001:db8::99", 80, 0);
        assert_local_now(c, &qs, &a);
        ck_assert_int_eq(netutil_override_del(c, "sc", "co.test", -1, -1, CALL_TIMEOUT_USEC), 0);
        assert_same_answer(c, oracle, &qs, &a);
        expect_address(&a, "192.0.2.202", 8080, 0);
        assert_local_now(c, &qs, &a);

        /* A scope cleared. */
        ck_assert_int_eq(set_rule(c, "sc", "co.test", -1, -1, "2001:db8::98", -1, 0), 0);
        ck_assert_int_eq(set_rule(c, "sc", "other.test", -1, -1, "2001:db8::97", -1, 0), 0);
        assert_same_answer(c, oracle, &qs, &a);
        expect_address(&a, "2001:db8::98", 80, 0);
        ck_assert_int_eq(netutil_override_clear(c, "sc", CALL_TIMEOUT_USEC), 0);
        assert_same_answer(c, oracle, &qs, &a);
        expect_address(&a, "192.0.2.202", 8080, 0);

        /* The global table cleared: nothing left, the backend answers. */
        ck_assert_int_eq(set_rule(c, NULL, "co2.test", -1, -1, "192.0.2.3", -1, 0), 0);
        ck_assert_int_eq(netutil_override_clear(c, NULL, CALL_TIMEOUT_USEC), 0);
        assert_same_answer(c, oracle, &q, &a);
        ck_assert_int_eq(a.gai, EAI_NONAME);
        assert_same_answer(c, oracle, &(Question) { "co2.test", 0, AF_INET, NULL }, &a);
        ck_assert_int_eq(a.gai, EAI_NONAME);

        ck_assert_int_eq(test_count_own_fds(), fds);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

static void reload_daemon(void) {
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 10000, NULL, 0), 0);
}

static void write_dropin(const char *name, const char *text) {
        char path[256];

        test_write_file(fmt(path, sizeof(path), "%s/%s", dropin_dir, name), text);
}

/* Breaks if a reload's drop-in rules reach the file only after READY=1, or if the old ones
 * stay in it. */
START_TEST(test_dropins_reloaded_by_sighup_are_seen_after_ready) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question q1 = { "d1.test", 80, AF_UNSPEC, NULL }, q2 = { "d2.test", 0, AF_INET6, "ds" },
                       q3 = { "d3.test", 443, AF_INET, NULL };
        char path[256];
        Answer a;

        for (int round = 0; round < 20; round++) {
                char text[256], ip[32];

                fmt(ip, sizeof(ip), "192.0.2.%d", 100 + round);
                fmt(text, sizeof(text), "d1.test %s\n[scope ds]\nd2.test 2001:db8::%x\n", ip, round + 1);
                write_dropin("10-a.conf", text);
                write_dropin("20-b.conf", round % 2 ? "d3.test 443 ipv4 192.0.2.33 4433\n" : "# none\n");
                reload_daemon();
                assert_same_answer(c, oracle, &q1, &a);
                expect_address(&a, ip, 80, 0);
                assert_local_now(c, &q1, &a);
                fmt(ip, sizeof(ip), "2001:db8::%x", round + 1);
                assert_same_answer(c, oracle, &q2, &a);
                expect_address(&a, ip, 0, 0);
                assert_same_answer(c, oracle, &q3, &a);
                if (round % 2)
                        expect_address(&a, "192.0.2.33", 4433, 0);
                else
                        ck_assert_int_eq(a.gai, EAI_NONAME);
        }
        ck_assert_int_eq(unlink(fmt(path, sizeof(path), "%s/10-a.conf", dropin_dir)), 0);
        reload_daemon();
        assert_same_answer(c, oracle, &q1, &a);
        ck_assert_int_eq(a.gai, EAI_NONAME);
        assert_same_answer(c, oracle, &q2, &a);
        ck_assert_int_eq(a.gai, EAI_NONAME);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- 4. the file ------------------------------------------------------------------- */

/* Calls fn on every entry of v that a chain reaches and that is not removed: the rules the
 * file shows. Returns how many. */
static uint64_t for_each_rule(const RulesFileView *v, void (*fn)(const RulesFileEntry *e, void *userdata),
                              void *userdata) {
        uint64_t n = 0;

        for (uint64_t i = 0; i < v->n_slots; i++)
                for (uint32_t k = v->slots[i].hash ? v->slots[i].head : 0; k != 0 && k != UINT32_MAX;) {
                        const RulesFileEntry *e = rules_file_entry(v, k);

                        ck_assert_ptr_nonnull(e);
                        if (!(e->flags & RULES_FILE_REMOVED)) {
                                n++;
                                if (fn)
                                        fn(e, userdata);
                        }
                        k = rules_file_next(e, k);
                        ck_assert_uint_ne(k, UINT32_MAX);
                }
        return n;
}

/* Asserts a rules file at path that parses, with n rules; returns its size. */
static size_t assert_rules_file(const char *path, uint64_t n) {
        struct stat st;
        RulesFileView v;
        void *map;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == RULES_FILE_MODE && st.st_uid == 0,
                      "%s: mode 0%o uid %u", path, (unsigned) st.st_mode, (unsigned) st.st_uid);
        ck_assert_int_gt(st.st_size, 0);
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(map, MAP_FAILED);
        close(fd);
        ck_assert_msg(rules_file_parse(map, (size_t) st.st_size, &v), "%s does not parse", path);
        ck_assert_uint_eq(for_each_rule(&v, NULL, NULL), n);
        munmap(map, (size_t) st.st_size);
        return (size_t) st.st_size;
}

static void assert_no_file(const char *path) {
        struct stat st;

        ck_assert_msg(lstat(path, &st) < 0 && errno == ENOENT, "%s exists", path);
}

/* Breaks if the daemon writes the file with another mode or type, or leaves it at exit. */
START_TEST(test_file_is_0644_and_removed_at_exit) {
        netutil_client *c = open_client(true);
        char names[320];

        /* Written at the start, with no rule. */
        for (int i = 0; i < 200 && access(rules_path, F_OK) < 0; i++)
                usleep(10000);
        assert_rules_file(rules_path, 0);
        set_matrix(c);
        assert_rules_file(rules_path, 22);
        netutil_client_close(c);
        finish_daemon();
        assert_no_file(rules_path);
        assert_no_file(fmt(names, sizeof(names), "%s.names", daemon_.socket));
}
END_TEST

/* Starts a daemon on socket with its state in state_dir; its own TestDaemon for the rest. */
static void start_daemon_on(TestDaemon *d, const char *socket, const char *state_dir) {
        int r = test_daemon_start_argv(d,
                                       ARGS(test_setpriv_bin(), "--pdeathsig", "KILL", "@NETUTILD@", "--user",
                                            "--socket", socket, "--state-dir", state_dir),
                                       true);

        ck_assert_msg(r == 0, "the daemon did not start: %s", strerror(-r));
}

/* Breaks if a daemon started after kill -9 serves (or leaves) its predecessor's file: what
 * the first daemon knew must not be answered for the second one, which does not know it. */
START_TEST(test_after_kill_9_a_new_daemon_replaces_the_file) {
        TestDaemon a = {}, b = {}, c2 = {};
        char socket[160], rules[200], state1[160], state2[160];
        netutil_client *old, *lc, *oracle;
        const Question q = { "k.test", 80, AF_UNSPEC, NULL };
        Answer x;

        /* The fixture's daemon is not used here. */
        finish_daemon();
        fmt(socket, sizeof(socket), "%s/netutild.sock", work);
        fmt(rules, sizeof(rules), "%s" RULES_FILE_SUFFIX, socket);
        fmt(state1, sizeof(state1), "%s/state1", work);
        fmt(state2, sizeof(state2), "%s/state2", work);

        start_daemon_on(&a, socket, state1);
        old = open_client_at(socket, true);
        ck_assert_int_eq(set_rule(old, NULL, "k.test", -1, -1, "192.0.2.9", -1, 0), 0);
        ask(old, &q, CALL_TIMEOUT_USEC, &x);
        expect_address(&x, "192.0.2.9", 80, 0);
        test_daemon_stop_signal(&a, SIGKILL);
        /* Nobody could remove it. */
        assert_rules_file(rules, 1);
        /* But a client whose daemon hung up does not answer from it (fails without the
         * library's check of its connection). */
        ask(old, &q, STOPPED_TIMEOUT_USEC, &x);
        ck_assert_msg(x.r < 0, "a client of the killed daemon answered k.test from its file");

        /* A daemon without that rule (another state directory). */
        start_daemon_on(&b, socket, state2);
        lc = open_client_at(socket, true);
        oracle = open_client_at(socket, false);
        assert_same_answer(lc, oracle, &q, &x);
        ck_assert_msg(x.r == -EADDRNOTAVAIL && x.gai == EAI_NONAME, "the new daemon knows k.test: %d", x.r);
        /* The old client's connection is gone, and it does not answer from the old file. */
        ask(old, &q, STOPPED_TIMEOUT_USEC, &x);
        ck_assert_msg(x.r < 0, "the old client answered k.test from the dead daemon's file");
        assert_rules_file(rules, 0);
        ck_assert_int_eq(set_rule(lc, NULL, "k2.test", -1, -1, "192.0.2.10", -1, 0), 0);
        assert_rules_file(rules, 1);
        assert_same_answer(lc, oracle, &(Question) { "k2.test", 1, AF_INET, NULL }, &x);
        expect_address(&x, "192.0.2.10", 1, 0);
        netutil_client_close(lc);
        netutil_client_close(oracle);
        test_daemon_stop_signal(&b, SIGKILL);

        /* A daemon with the first state again: its rule comes back, and is answered locally. */
        start_daemon_on(&c2, socket, state1);
        lc = open_client_at(socket, true);
        oracle = open_client_at(socket, false);
        assert_same_answer(lc, oracle, &q, &x);
        expect_address(&x, "192.0.2.9", 80, 0);
        assert_rules_file(rules, 1);
        netutil_client_close(lc);
        netutil_client_close(oracle);
        netutil_client_close(old);
        test_daemon_stop_expect_clean_exit(&c2);
        assert_no_file(rules);
}
END_TEST

/* Drop-in text with rules capN.test -> 10.X.Y.Z for N in [0, n). */
static void write_cap_dropin(unsigned n) {
        size_t len = (size_t) n * 40 + 1, used = 0;
        char *text = malloc(len), path[256];

        ck_assert_ptr_nonnull(text);
        text[0] = '\0';
        for (unsigned i = 0; i < n; i++)
                used += (size_t) snprintf(text + used, len - used, "cap%u.test 10.%u.%u.%u\n", i, (i >> 16) & 255,
                                          (i >> 8) & 255, i & 255);
        test_write_file(fmt(path, sizeof(path), "%s/50-cap.conf", dropin_dir), text);
        free(text);
}

static void cap_questions(netutil_client *c, netutil_client *oracle, unsigned n) {
        static const unsigned picks[] = { 0, 1, 4095, 8191, 16383, 16384, 16385 };

        for (size_t i = 0; i < ELEMENTSOF(picks); i++) {
                char host[32];
                Answer a;

                fmt(host, sizeof(host), "cap%u.test", picks[i]);
                assert_same_answer(c, oracle, &(Question) { host, 80, AF_UNSPEC, NULL }, &a);
                ck_assert_int_eq(a.r > 0, picks[i] < n);
        }
        assert_same_answer(c, oracle, &(Question) { "own.test", 80, AF_UNSPEC, NULL }, NULL);
}

/* Breaks if the file stays (showing only some rules) past RULES_FILE_MAX_RULES, comes back
 * as soon as the count is under it again (a count going back and forth across the cap would
 * make the daemon write the whole file per change), or does not come back at half of it. */
START_TEST(test_past_the_cap_no_file_and_back_under_it_again) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        Answer a;

        ck_assert_int_eq(set_rule(c, NULL, "own.test", -1, -1, "192.0.2.1", -1, LONG_TTL_USEC), 0);
        /* Exactly the cap: own.test and RULES_FILE_MAX_RULES - 1 drop-in rules. */
        write_cap_dropin(RULES_FILE_MAX_RULES - 1);
        reload_daemon();
        assert_rules_file(rules_path, RULES_FILE_MAX_RULES);
        cap_questions(c, oracle, RULES_FILE_MAX_RULES - 1);
        assert_local_now(c, &(Question) { "cap16382.test", 0, AF_UNSPEC, NULL }, NULL);

        /* One more rule: no file, every answer from the daemon, the same. */
        ck_assert_int_eq(set_rule(c, NULL, "own2.test", -1, -1, "192.0.2.2", -1, 0), 0);
        assert_no_file(rules_path);
        cap_questions(c, oracle, RULES_FILE_MAX_RULES - 1);
        assert_same_answer(c, oracle, &(Question) { "own2.test", 80, AF_UNSPEC, NULL }, &a);
        expect_address(&a, "192.0.2.2", 80, 0);
        assert_daemon_now(c, &(Question) { "own2.test", 80, AF_UNSPEC, NULL });

        /* Back at the cap: still no file, the daemon answers. */
        ck_assert_int_eq(netutil_override_del(c, NULL, "own.test", -1, -1, CALL_TIMEOUT_USEC), 0);
        assert_no_file(rules_path);
        assert_same_answer(c, oracle, &(Question) { "own2.test", 80, AF_UNSPEC, NULL }, &a);
        assert_daemon_now(c, &(Question) { "own2.test", 80, AF_UNSPEC, NULL });

        /* At half the cap (own2.test and RULES_FILE_MAX_RULES / 2 - 1 drop-in rules): the
         * file again, answered locally. */
        write_cap_dropin(RULES_FILE_MAX_RULES / 2 - 1);
        reload_daemon();
        assert_rules_file(rules_path, RULES_FILE_MAX_RULES / 2);
        assert_local_now(c, &(Question) { "own2.test", 80, AF_UNSPEC, NULL }, &a);

        /* Far past it by a reload, and back by another. */
        write_cap_dropin(RULES_FILE_MAX_RULES + 100);
        reload_daemon();
        assert_no_file(rules_path);
        cap_questions(c, oracle, RULES_FILE_MAX_RULES + 100);
        write_cap_dropin(100);
        reload_daemon();
        assert_rules_file(rules_path, 101);
        cap_questions(c, oracle, 100);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- 5. malformed files ------------------------------------------------------------- */

/* The daemon's file, read into a malloc()ed (so 8-byte aligned) buffer. */
static char *read_rules_file(size_t *ret_size) {
        struct stat st;
        char *buf;
        int fd = open(rules_path, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = malloc((size_t) st.st_size + 64);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(read(fd, buf, (size_t) st.st_size), st.st_size);
        close(fd);
        *ret_size = (size_t) st.st_size;
        return buf;
}

/* Puts size bytes of buf in place of the rules file as the daemon would: a new file, then
 * rename(). */
static void replace_rules_file(const void *buf, size_t size) {
        char tmp[400];
        int fd;

        fmt(tmp, sizeof(tmp), "%s.test-tmp", rules_path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, buf, size), (ssize_t) size);
        close(fd);
        ck_assert_int_eq(rename(tmp, rules_path), 0);
}

typedef struct FindEntry {
        const RulesFileView *v;
        const char *scope, *host;
        int port, family;
        const RulesFileEntry *found;
} FindEntry;

static void find_entry_one(const RulesFileEntry *e, void *userdata) {
        FindEntry *f = userdata;

        if (rules_file_entry_is(f->v, e, f->scope, f->host, f->port, f->family) > 0)
                f->found = e;
}

/* The entry of the daemon's file for (scope, host, port, family), or NULL. */
static RulesFileEntry *find_entry(char *buf, size_t size, const char *scope, const char *host, int port, int family) {
        RulesFileView v;
        FindEntry f = { &v, scope, host, port, family, NULL };

        ck_assert(rules_file_parse(buf, size, &v));
        (void) for_each_rule(&v, find_entry_one, &f);
        return (RulesFileEntry *) (uintptr_t) f.found;
}

/* The slot of the daemon's file for (scope, host), or NULL. */
static RulesFileSlot *find_slot(char *buf, size_t size, const char *scope, const char *host) {
        RulesFileView v;
        uint64_t h;

        ck_assert(rules_file_parse(buf, size, &v));
        h = rules_file_slot_hash(v.key, scope, host);
        for (uint64_t i = 0; i < v.n_slots; i++)
                if (v.slots[i].hash == h)
                        return (RulesFileSlot *) (uintptr_t) &v.slots[i];
        return NULL;
}

/* Every answering entry of buf answers 203.0.113.7 (or its v4-mapped form) instead: a valid
 * file that is not the daemon's, to tell whether the library read it. */
static void poison_answers(char *buf, size_t size) {
        RulesFileView v;

        ck_assert(rules_file_parse(buf, size, &v));
        /* Unused entries are zero: no flag, nothing poisoned. */
        for (uint64_t i = 0; i < v.n; i++) {
                RulesFileEntry *e = (RulesFileEntry *) (void *) &v.entries[i];
                static const uint8_t v4[4] = { 203, 0, 113, 7 };
                static const uint8_t v6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7 };

                if (!(e->flags & RULES_FILE_ANSWER))
                        continue;
                memset(e->answer_addr, 0, sizeof(e->answer_addr));
                memcpy(e->answer_addr, e->answer_family == AF_INET ? v4 : v6,
                       e->answer_family == AF_INET ? sizeof(v4) : sizeof(v6));
        }
}

static void put_u64(char *buf, size_t off, uint64_t v) {
        memcpy(buf + off, &v, sizeof(v));
}

enum {
        BAD_EMPTY,
        BAD_SHORT_HEADER,
        BAD_MAGIC,
        BAD_VERSION_1,
        BAD_ODD_SEQ,
        BAD_SLOTS_NOT_POWER_OF_TWO,
        BAD_N_PLUS_ONE,
        BAD_STRINGS_SIZE,
        BAD_RESERVED,
        BAD_NO_FINAL_NUL,
        BAD_HUGE_N,
        BAD_TRUNCATED_ENTRY,
        BAD_HOST_OFF_OUT_OF_RANGE_UNSHADOWED,
        BAD_DIRECTORY,
        BAD_SYMLINK,
        BAD_FIFO,
        BAD_SPARSE_100MB,
        BAD_SOCKET_PATH_DEVICE,
        _BAD_MAX,
};

static const char *const bad_names[_BAD_MAX] = {
        "empty",        "short header",        "wrong magic",   "version 1",         "odd seq (a change under way)",
        "slots not a power of two",            "n one too big",     "strings size one too big",
        "reserved set", "no final NUL",        "huge n",        "truncated entry",   "host offset out of range",
        "a directory",  "a symlink to a valid file", "a FIFO", "a 100 MB sparse file", "a device node",
};

/* Puts the malformed file number kind in place (by rename(), or as a node that rename()
 * cannot make: directory, FIFO, device, symlink, made aside and renamed). good: the daemon's
 * file. */
static void put_bad_file(int kind, const char *good, size_t size) {
        _cleanup_(freep) char *buf = malloc(size + 64);
        char aside[400], other[400];
        RulesFileEntry *e;

        ck_assert_ptr_nonnull(buf);
        memcpy(buf, good, size);
        fmt(aside, sizeof(aside), "%s.test-node", rules_path);
        switch (kind) {
        case BAD_EMPTY:
                replace_rules_file(buf, 0);
                return;
        case BAD_SHORT_HEADER:
                replace_rules_file(buf, 16);
                return;
        case BAD_MAGIC:
                buf[7] = '3';
                break;
        case BAD_VERSION_1:
                /* An old daemon's file: a reader refuses a version it does not know. */
                buf[7] = '1';
                break;
        case BAD_ODD_SEQ: {
                /* A change in place that never ended (a daemon killed in the middle). */
                uint64_t seq;
                memcpy(&seq, buf + RULES_FILE_SEQ_OFFSET, sizeof(seq));
                put_u64(buf, RULES_FILE_SEQ_OFFSET, seq | 1);
                break;
        }
        case BAD_SLOTS_NOT_POWER_OF_TWO: {
                /* Slots one fewer, strings as many bytes more: the sizes still add up. */
                uint64_t slots, strings;
                memcpy(&slots, buf + 32, sizeof(slots));
                memcpy(&strings, buf + 48, sizeof(strings));
                put_u64(buf, 32, slots - 1);
                put_u64(buf, 48, strings + RULES_FILE_SLOT_SIZE);
                break;
        }
        case BAD_N_PLUS_ONE: {
                uint64_t n;
                memcpy(&n, buf + 40, sizeof(n));
                put_u64(buf, 40, n + 1);
                break;
        }
        case BAD_STRINGS_SIZE: {
                uint64_t s;
                memcpy(&s, buf + 48, sizeof(s));
                put_u64(buf, 48, s + 1);
                break;
        }
        case BAD_RESERVED:
                put_u64(buf, 56, 1);
                break;
        case BAD_NO_FINAL_NUL:
                buf[size - 1] = 'x';
                break;
        case BAD_HUGE_N:
                put_u64(buf, 40, UINT64_MAX / RULES_FILE_ENTRY_SIZE + 1);
                break;
        case BAD_TRUNCATED_ENTRY:
                replace_rules_file(buf, RULES_FILE_HEADER_SIZE + RULES_FILE_ENTRY_SIZE / 2);
                return;
        case BAD_HOST_OFF_OUT_OF_RANGE_UNSHADOWED:
                /* The global h1.test rule, which nothing shadows for scope NULL: unreadable, so
                 * no rule applies here and the daemon must answer. */
                e = find_entry(buf, size, NULL, "h1.test", RULES_FILE_ANY, RULES_FILE_ANY);
                ck_assert_ptr_nonnull(e);
                e->host_off = UINT32_MAX - 1;
                break;
        case BAD_DIRECTORY:
                /* rename() cannot put a directory over a file: the file goes first. */
                ck_assert_int_eq(mkdir(aside, 0755), 0);
                ck_assert_int_eq(unlink(rules_path), 0);
                ck_assert_int_eq(rename(aside, rules_path), 0);
                return;
        case BAD_SYMLINK:
                /* A valid file with other answers: followed, the library would give them. */
                poison_answers(buf, size);
                fmt(other, sizeof(other), "%s/valid-other.rules", work);
                {
                        int fd = open(other, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        ck_assert_int_ge(fd, 0);
                        ck_assert_int_eq(write(fd, buf, size), (ssize_t) size);
                        close(fd);
                }
                ck_assert_int_eq(symlink(other, aside), 0);
                ck_assert_int_eq(rename(aside, rules_path), 0);
                return;
        case BAD_FIFO:
                ck_assert_int_eq(mkfifo(aside, 0644), 0);
                ck_assert_int_eq(rename(aside, rules_path), 0);
                return;
        case BAD_SPARSE_100MB: {
                /* A well-formed file (the daemon's entries, poisoned) with its strings padded
                 * with NULs to 100 MB: too large to be one the daemon wrote. */
                uint64_t s;
                int fd;
                off_t big = 100LL * 1024 * 1024;

                poison_answers(buf, size);
                memcpy(&s, buf + 48, sizeof(s));
                put_u64(buf, 48, s + ((uint64_t) big - size));
                fd = open(aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(write(fd, buf, size), (ssize_t) size);
                ck_assert_int_eq(ftruncate(fd, big), 0);
                close(fd);
                ck_assert_int_eq(rename(aside, rules_path), 0);
                return;
        }
        case BAD_SOCKET_PATH_DEVICE:
                /* /dev/null's kind: reads give nothing; must be refused, not read. */
                ck_assert_int_eq(mknod(aside, S_IFCHR | 0644, makedev(1, 3)), 0);
                ck_assert_int_eq(rename(aside, rules_path), 0);
                return;
        default:
                ck_abort();
        }
        replace_rules_file(buf, size);
}

/* A smaller matrix for the malformed files (each one gets it): every host, scopes NULL and
 * s1, ports 0 and 80, every family. */
static void assert_small_matrix_equivalent(netutil_client *c, netutil_client *oracle) {
        static const char *const scopes[] = { NULL, "s1" };
        static const unsigned ports[] = { 0, 80 };

        for (size_t h = 0; h < ELEMENTSOF(matrix_hosts); h++)
                for (size_t s = 0; s < ELEMENTSOF(scopes); s++)
                        for (size_t p = 0; p < ELEMENTSOF(ports); p++)
                                for (size_t f = 0; f < ELEMENTSOF(matrix_families); f++)
                                        assert_same_answer(c, oracle,
                                                           &(Question) { matrix_hosts[h], ports[p], matrix_families[f],
                                                                         scopes[s] },
                                                           NULL);
}

/* Breaks if the library reads a file the format refuses (or a node that is not a regular
 * file, or follows a symlink, or blocks on a FIFO, or maps 100 MB), leaks an fd on one, or
 * does not take up the daemon's next file. */
START_TEST(test_malformed_files_are_refused_and_the_next_good_one_is_used) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question hit = { "h1.test", 80, AF_UNSPEC, NULL };
        int kind = _i, fds;
        _cleanup_(freep) char *good = NULL;
        size_t size;
        Answer want;

        set_matrix(c);
        good = read_rules_file(&size);
        assert_same_answer(c, oracle, &hit, &want);
        fds = test_count_own_fds();

        put_bad_file(kind, good, size);
        /* Twice: once judged, once from what the library remembers of it. */
        for (int i = 0; i < 2; i++) {
                long long start = test_now_ms();
                assert_small_matrix_equivalent(c, oracle);
                ck_assert_msg(test_now_ms() - start < MALFORMED_MATRIX_MAX_MS, "%s: the matrix took %lld ms",
                              bad_names[kind], test_now_ms() - start);
        }
        assert_daemon_now(c, &hit);
        ck_assert_msg(test_count_own_fds() == fds, "%s: %d fds, %d before", bad_names[kind], test_count_own_fds(),
                      fds);

        /* The daemon's next file (a directory in the way: it cannot rename over it, so the
         * test removes it, as an administrator would). */
        if (kind == BAD_DIRECTORY)
                ck_assert_int_eq(rmdir(rules_path), 0);
        ck_assert_int_eq(set_rule(c, NULL, "next.test", -1, -1, "192.0.2.250", -1, 0), 0);
        assert_rules_file(rules_path, 23);
        assert_local_now(c, &hit, &want);
        assert_small_matrix_equivalent(c, oracle);
        ck_assert_int_eq(test_count_own_fds(), fds);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* Breaks if the library remembers a refused file by an inode number that the daemon's next
 * file can have again: ext4 (here /tmp) gives a freed inode number to the next new file at
 * once, and a refused file is not kept open or mapped, so its number is free as soon as the
 * daemon's rename() replaces it. Two writes in a row (no resolve in between) then leave the
 * library refusing the daemon's good file until the one after. */
START_TEST(test_a_refused_files_inode_number_coming_back_is_not_refused) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question hit = { "h1.test", 80, AF_UNSPEC, NULL };
        _cleanup_(freep) char *good = NULL;
        size_t size;
        Answer want;

        set_matrix(c);
        good = read_rules_file(&size);
        assert_same_answer(c, oracle, &hit, &want);
        for (int round = 0; round < 20; round++) {
                char host[32];

                struct stat bad, now;
                Answer a;

                put_bad_file(BAD_MAGIC, good, size);
                ck_assert_int_eq(stat(rules_path, &bad), 0);
                assert_daemon_now(c, &hit);
                /* A few changes, a few files: the first takes the refused file's place and
                 * frees its inode, a later one may get its number. (Rules with a port: the
                 * names index does not change and takes no inode.) */
                fmt(host, sizeof(host), "n%d.test", round);
                for (int k = 0; k < 1 + round % 6; k++) {
                        ck_assert_int_eq(set_rule(c, NULL, host, 80, -1, "192.0.2.250", 80, 0), 0);
                        ck_assert_int_eq(netutil_override_del(c, NULL, host, 80, -1, CALL_TIMEOUT_USEC), 0);
                }
                ck_assert_int_eq(stat(rules_path, &now), 0);
                stop_daemon_process();
                ask(c, &hit, STOPPED_TIMEOUT_USEC, &a);
                continue_daemon_process();
                ck_assert_msg(a.r > 0 && answers_equal(&a, &want),
                              "round %d: after %d new files the library does not answer from the daemon's (%d); "
                              "its inode %lu, the refused file's %lu",
                              round, 2 * (1 + round % 6), a.r, (unsigned long) now.st_ino, (unsigned long) bad.st_ino);
        }
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* The corruptions of test_a_corrupt_shadowing_entry_is_not_skipped(), by loop index. */
static const char *const corrupt_names[] = { "host offset out of range", "scope offset out of range",
                                             "a chain link that does not go to an older entry",
                                             "a chain head past the entries" };

/* Breaks if an entry that the lookup cannot read as it should (its host or scope outside the
 * strings, a chain that loops or leaves the file) makes the library pass over it and answer
 * a rule that it shadows: the daemon answers the shadowing rule, the library must ask it.
 * The format's comment promises that "a corrupt entry" is left to the daemon, and
 * rules_file_parse() that entries and slots are "checked where a lookup reads them"; here
 * the lookup reads past them. */
START_TEST(test_a_corrupt_shadowing_entry_is_not_skipped) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question q = { "h1.test", 80, AF_UNSPEC, "s1" };
        _cleanup_(freep) char *buf = NULL, *bad = NULL;
        size_t size;
        RulesFileEntry *e;
        RulesFileSlot *slot;
        RulesFileView v;
        Answer want;

        set_matrix(c);
        buf = read_rules_file(&size);
        bad = malloc(size);
        ck_assert_ptr_nonnull(bad);
        assert_same_answer(c, oracle, &q, &want);
        expect_address(&want, "2001:db8::1", 80, 0);

        /* s1's h1.test rule shadows the global one (192.0.2.1) for scope s1. */
        memcpy(bad, buf, size);
        e = find_entry(bad, size, "s1", "h1.test", RULES_FILE_ANY, RULES_FILE_ANY);
        ck_assert_ptr_nonnull(e);
        slot = find_slot(bad, size, "s1", "h1.test");
        ck_assert_ptr_nonnull(slot);
        ck_assert(rules_file_parse(bad, size, &v));
        switch (_i) {
        case 0:
                e->host_off = UINT32_MAX - 1;
                break;
        case 1:
                e->scope_off = UINT32_MAX - 1;
                break;
        case 2:
                /* The rule links to itself: a reader that followed it would never end. */
                ck_assert_uint_eq(slot->head, (uint32_t) (e - v.entries) + 1);
                e->next = slot->head;
                break;
        case 3:
                slot->head = (uint32_t) v.n + 1;
                break;
        default:
                ck_abort();
        }
        replace_rules_file(bad, size);
        {
                static Answer a;
                char at[1024], wt[1024];

                ask(c, &q, CALL_TIMEOUT_USEC, &a);
                ck_assert_msg(answers_equal(&a, &want), "%s: the library answers %s, the daemon %s", corrupt_names[_i],
                              answer_text(at, sizeof(at), &a), answer_text(wt, sizeof(wt), &want));
        }
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- 6. many resolves, clients, a fork ------------------------------------------------ */

/* Mappings of this process whose line names a file with name in it (a replaced file's line
 * ends in " (deleted)"). */
static unsigned count_mappings(const char *name) {
        FILE *f = fopen("/proc/self/maps", "re");
        char line[1024];
        unsigned n = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                if (strstr(line, name))
                        n++;
        }
        fclose(f);
        return n;
}

/* Breaks if the library leaks an fd or a mapping per resolve or per new file. */
START_TEST(test_fds_and_mappings_stay_flat_over_1000_resolves) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        int fds;

        set_matrix(c);
        fds = test_count_own_fds();
        for (unsigned i = 0; i < FD_ROUNDS; i++) {
                Question q = { matrix_hosts[i % ELEMENTSOF(matrix_hosts)], matrix_ports[i % 3],
                               matrix_families[(i / 3) % 3], matrix_scopes[(i / 9) % 3] };
                Answer a;

                /* Every 50th a new file. */
                if (i % 50 == 0)
                        ck_assert_int_eq(set_rule(c, NULL, "flat.test", -1, -1, i % 100 ? "192.0.2.1" : "::1", -1, 0),
                                         0);
                ask(c, &q, CALL_TIMEOUT_USEC, &a);
                ck_assert_uint_le(count_mappings("netutild.sock" RULES_FILE_SUFFIX), 1);
        }
        ck_assert_int_eq(test_count_own_fds(), fds);
        ck_assert_uint_eq(count_mappings("netutild.sock" RULES_FILE_SUFFIX), 1);
        /* The file removed (past the cap, say): the mapping goes with the next resolve. */
        ck_assert_int_eq(unlink(rules_path), 0);
        assert_same_answer(c, oracle, &(Question) { "h1.test", 0, AF_UNSPEC, NULL }, NULL);
        ck_assert_uint_eq(count_mappings("netutild.sock" RULES_FILE_SUFFIX), 0);
        ck_assert_int_eq(test_count_own_fds(), fds);

        /* 100 clients, each with its own mapping, all gone with them. */
        ck_assert_int_eq(set_rule(c, NULL, "flat.test", -1, -1, "192.0.2.1", -1, 0), 0);
        {
                netutil_client *many[100];
                for (size_t i = 0; i < ELEMENTSOF(many); i++) {
                        Answer a;
                        many[i] = open_client(true);
                        ask(many[i], &(Question) { "h1.test", 80, AF_UNSPEC, NULL }, CALL_TIMEOUT_USEC, &a);
                        expect_address(&a, "192.0.2.1", 80, 0);
                }
                ck_assert_uint_eq(count_mappings("netutild.sock" RULES_FILE_SUFFIX), 100);
                for (size_t i = 0; i < ELEMENTSOF(many); i++)
                        netutil_client_close(many[i]);
        }
        ck_assert_uint_eq(count_mappings("netutild.sock" RULES_FILE_SUFFIX), 0);
        ck_assert_int_eq(test_count_own_fds(), fds);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* Breaks if a forked child cannot use the parent's client (its mapping and connection are
 * copies), or if the parent's client is unusable after the child used it. */
START_TEST(test_a_forked_child_uses_the_parents_client) {
        netutil_client *c = open_client(true), *oracle = open_client(false);
        const Question hit = { "h1.test", 80, AF_UNSPEC, NULL }, miss = { "h4.test", 80, AF_INET, NULL };
        Answer want_hit, want_miss;
        int status;
        pid_t pid;

        set_matrix(c);
        assert_same_answer(c, oracle, &hit, &want_hit);
        assert_same_answer(c, oracle, &miss, &want_miss);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                Answer a;

                /* The child: a local hit, a question for the daemon, a change; no Check
                 * assertions here (they would report from the wrong process). */
                ask(c, &hit, CALL_TIMEOUT_USEC, &a);
                if (!answers_equal(&a, &want_hit))
                        _exit(1);
                ask(c, &miss, CALL_TIMEOUT_USEC, &a);
                if (!answers_equal(&a, &want_miss))
                        _exit(2);
                if (set_rule(c, NULL, "h1.test", -1, -1, "192.0.2.111", -1, 0) < 0)
                        _exit(3);
                ask(c, &hit, CALL_TIMEOUT_USEC, &a);
                if (a.r != 1 || ((struct sockaddr_in *) &a.a[0].address)->sin_addr.s_addr != htonl(0xc000026f))
                        _exit(4);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        /* The parent sees the child's change, locally and from the daemon. */
        assert_same_answer(c, oracle, &hit, &want_hit);
        expect_address(&want_hit, "192.0.2.111", 80, 0);
        assert_local_now(c, &hit, &want_hit);
        assert_same_answer(c, oracle, &miss, NULL);
        netutil_client_close(c);
        netutil_client_close(oracle);
        finish_daemon();
}
END_TEST

/* ---- the asynchronous call -------------------------------------------------------------- */

typedef struct AsyncResult {
        bool done;
        int error;
        size_t n;
        netutil_address a;
} AsyncResult;

static void async_cb(netutil_client *c, int error, netutil_address *addresses, size_t n, void *userdata) {
        AsyncResult *res = userdata;

        res->done = true;
        res->error = error;
        res->n = n;
        if (n > 0)
                res->a = addresses[0];
        free(addresses);
}

static void done_cb(netutil_client *c, int error, void *userdata) {
        AsyncResult *res = userdata;

        res->done = true;
        res->error = error;
}

/* Runs e until res is done or ms pass. */
static void run_until(sd_event *e, AsyncResult *res, int ms) {
        long long deadline = test_now_ms() + ms;

        while (!res->done && test_now_ms() < deadline)
                ck_assert_int_ge(sd_event_run(e, 10 * 1000), 0);
}

/* Breaks if netutil_resolve_async() asks the daemon for a literal hit (it then times out
 * with the daemon stopped), answers it inside the call instead of from the loop, answers
 * from the file past a change still in flight on the connection (the file shows the old
 * rule until the daemon has it), or leaks or calls back a cancelled local request. */
START_TEST(test_the_asynchronous_resolve_answers_hits_from_the_file_too) {
        netutil_client *c = open_client(true);
        sd_event *e = NULL;
        netutil_request *q = NULL;
        AsyncResult res = {};
        Answer want;
        int fds;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(set_rule(c, NULL, "a1.test", -1, -1, "192.0.2.41", -1, 0), 0);
        ck_assert_int_eq(set_rule(c, NULL, "a2.test", -1, -1, "localhost", -1, 0), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);

        /* A literal hit with the daemon stopped: from the loop, not inside the call. */
        stop_daemon_process();
        ck_assert_int_eq(netutil_resolve_async(c, "a1.test", 8080, AF_UNSPEC, NULL, 200 * 1000, async_cb, &res, &q), 0);
        ck_assert(!res.done);
        run_until(e, &res, 1000);
        ck_assert_msg(res.done && res.error == 0 && res.n == 1, "done %d error %d n %zu", res.done, res.error, res.n);
        ask(c, &(Question) { "a1.test", 8080, AF_UNSPEC, NULL }, CALL_TIMEOUT_USEC, &want);
        ck_assert_int_eq(want.r, 1);
        ck_assert_int_eq(memcmp(&res.a, &want.a[0], sizeof(res.a)), 0);
        /* A name target asks the daemon, which does not answer. */
        res = (AsyncResult) {};
        ck_assert_int_eq(netutil_resolve_async(c, "a2.test", 80, AF_UNSPEC, NULL, 200 * 1000, async_cb, &res, NULL), 0);
        run_until(e, &res, 2000);
        ck_assert_msg(res.done && res.error == -ETIMEDOUT, "a name target: done %d error %d", res.done, res.error);
        fds = test_count_own_fds(); /* the loop has its timer fd now */
        /* Cancelled before the loop runs: never called back, nothing left. */
        res = (AsyncResult) {};
        ck_assert_int_eq(netutil_resolve_async(c, "a1.test", 1, AF_UNSPEC, NULL, 0, async_cb, &res, &q), 0);
        netutil_request_cancel(q);
        (void) sd_event_run(e, 50 * 1000);
        ck_assert(!res.done);
        continue_daemon_process();

        /* A change sent before the resolve is answered first: the resolve goes to the daemon
         * behind it and sees the new target. */
        {
                AsyncResult set = {};
                struct in_addr want_addr;

                res = (AsyncResult) {};
                ck_assert_int_eq(netutil_override_set_async(c, NULL, "a1.test", -1, -1, "192.0.2.42", -1, 0, 0, done_cb,
                                                            &set, NULL),
                                 0);
                ck_assert_int_eq(netutil_resolve_async(c, "a1.test", 1, AF_INET, NULL, 0, async_cb, &res, NULL), 0);
                /* Replies may come in any order (the set's waits for the files). */
                run_until(e, &res, 5000);
                run_until(e, &set, 5000);
                ck_assert_msg(set.done && set.error == 0, "set: done %d error %d", set.done, set.error);
                ck_assert_msg(res.done && res.error == 0 && res.n == 1, "resolve: done %d error %d", res.done,
                              res.error);
                ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.42", &want_addr), 1);
                ck_assert_int_eq(((struct sockaddr_in *) &res.a.address)->sin_addr.s_addr, want_addr.s_addr);
        }
        ck_assert_int_eq(test_count_own_fds(), fds);
        netutil_client_close(c);
        sd_event_unref(e);
}
END_TEST

static Suite *rules_suite(void) {
        Suite *s = suite_create("rules");
        TCase *tc;

        tc = test_tcase_add(s, "equivalence", 120, setup, teardown, NULL);
        tcase_add_test(tc, test_answers_equal_the_daemons_for_every_rule_and_question);

        tc = test_tcase_add(s, "local", 60, setup, teardown, NULL);
        tcase_add_test(tc, test_literal_hits_answer_with_the_daemon_stopped);

        tc = test_tcase_add(s, "coherence", 120, setup, teardown, NULL);
        tcase_add_test(tc, test_each_change_is_seen_by_the_next_resolve);
        tcase_add_test(tc, test_dropins_reloaded_by_sighup_are_seen_after_ready);

        tc = test_tcase_add(s, "file", 120, setup, teardown, NULL);
        tcase_add_test(tc, test_file_is_0644_and_removed_at_exit);
        tcase_add_test(tc, test_after_kill_9_a_new_daemon_replaces_the_file);
        tcase_add_test(tc, test_past_the_cap_no_file_and_back_under_it_again);

        tc = test_tcase_add(s, "malformed", 60, setup, teardown, NULL);
        tcase_add_loop_test(tc, test_malformed_files_are_refused_and_the_next_good_one_is_used, 0, _BAD_MAX);

        tcase_add_test(tc, test_a_refused_files_inode_number_coming_back_is_not_refused);
        tcase_add_loop_test(tc, test_a_corrupt_shadowing_entry_is_not_skipped, 0, ELEMENTSOF(corrupt_names));

        tc = test_tcase_add(s, "clients", 60, setup, teardown, NULL);
        tcase_add_test(tc, test_fds_and_mappings_stay_flat_over_1000_resolves);
        tcase_add_test(tc, test_a_forked_child_uses_the_parents_client);
        tcase_add_test(tc, test_the_asynchronous_resolve_answers_hits_from_the_file_too);
        return s;
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "check-rules needs root (namespaces, bind mounts); skipped.\n");
                return 77;
        }
        return test_run_suite(rules_suite(), true);
}
