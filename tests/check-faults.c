/* SPDX-License-Identifier: MIT */

/*
 * The fault suite (issue 7, part 5): the real netutild under faults it cannot prevent.
 * It owns: running out of fds inside the daemon (its RLIMIT_NOFILE lowered with prlimit():
 * new clients and fd-making requests are refused with EMFILE in words, everything else is
 * answered, and service resumes when fds free up), kill -9 at random moments while several
 * clients write overrides at once (the state file always parses and holds every
 * acknowledged change), and a name server that never answers under the threadpool backend
 * (lookups fail in bounded time, others are answered meanwhile, and no thread, fd or memory
 * is left behind); and one uid taking every place (MaxClientsPerUser= keeps places for
 * the others, and its own connections stay served).
 *
 * It must not repeat check-state (one writer killed 20 times, the full filesystem),
 * check-resolve (c-ares with a dead upstream, 10 000 in flight) or check-badinput. Every
 * test stops the daemon by its pid and counts its fds.
 */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* How long a client gives the daemon. */
#define CALL_TIMEOUT_USEC (10ULL * 1000 * 1000)
/* kill -9 rounds and concurrent writers per round. */
#define KILL_ROUNDS 12
#define KILL_WRITERS 4
/* Lookups sent at a name server that never answers, with 16 worker threads. */
#define SLOW_LOOKUPS 64

static TestDaemon daemon_;
static int baseline_fds;

/* The kill -9 test's state directory, removed by the teardown even after a failure. */
static char state_dir[] = "/tmp/netutild-faults.XXXXXX";

static void teardown(void) {
        test_daemon_kill(&daemon_);
        if (strcmp(state_dir + strlen(state_dir) - 6, "XXXXXX") != 0)
                test_rm_rf(state_dir);
}

/* ---- raw requests -------------------------------------------------------------------- */

/* One request of type with the attributes appended by the caller; returns the status of
 * the reply (0 or errno), its message in msg. */
static int raw_call(int fd, ProtoMsg *m, char *msg, size_t msglen) {
        int status = -1, r;

        ck_assert_int_eq(proto_send(fd, m), 0);
        r = test_raw_reply(fd, 10000, &status, NULL, msg, msglen);
        ck_assert_msg(r >= 1, "no reply: %s", strerror(-r));
        proto_msg_free(m);
        return status;
}

static ProtoMsg *msg_status(void) {
        ProtoMsg *m = NULL;
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 7, &m), 0);
        return m;
}

static ProtoMsg *msg_bind(void) {
        ProtoMsg *m = NULL;
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_BIND, 8, &m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ADDRESS, "127.0.0.1"), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_SERVICE, "0"), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_INET), 0);
        return m;
}

static ProtoMsg *msg_override_set(const char *host, uint64_t ttl) {
        ProtoMsg *m = NULL;
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_OVERRIDE_SET, 9, &m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_HOST, host), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_TARGET, "127.0.0.9"), 0);
        if (ttl)
                ck_assert_int_eq(proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, ttl), 0);
        return m;
}

static ProtoMsg *msg_resolve(const char *host) {
        ProtoMsg *m = NULL;
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_RESOLVE, 10, &m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_HOST, host), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_INET), 0);
        return m;
}

static void assert_status_ok(int fd) {
        char msg[PROTO_MAX_ERROR_MESSAGE];
        int status = raw_call(fd, msg_status(), msg, sizeof(msg));
        ck_assert_msg(status == 0, "STATUS failed: %s", msg);
}

/* ---- EMFILE inside the daemon -------------------------------------------------------- */

static void set_daemon_nofile(rlim_t soft) {
        struct rlimit rl;

        ck_assert_int_eq(prlimit(daemon_.pid, RLIMIT_NOFILE, NULL, &rl), 0);
        rl.rlim_cur = soft;
        ck_assert_int_eq(prlimit(daemon_.pid, RLIMIT_NOFILE, &rl, NULL), 0);
}

START_TEST(test_out_of_fds_refuses_in_words_and_resumes_when_fds_free_up) {
        static const char refusal[] =
                "netutild is out of file descriptors (Too many open files); try again later";
        char msg[PROTO_MAX_ERROR_MESSAGE], out[4096], err[4096], state_file[512], before[4096] = "",
                                                                                  after[4096] = "";
        int clients[64], n_clients = 0, refused = -1, status, p[2];
        struct rlimit original;
        ProtoMsg *m = NULL;
        FILE *f;

        test_enter_netns();
        test_cloexec_fds_from_3();
        /* As on a kernel without SO_PASSRIGHTS, so that the fds sent below reach a daemon
         * that has no room for them (with it, the sender gets EPERM: check-daemon). */
        ck_assert_int_eq(setenv("NETUTILD_NO_SO_PASSRIGHTS", "1", 1), 0);
        baseline_fds = test_daemon_start_for_any_user(&daemon_, NULL);
        ck_assert_int_eq(prlimit(daemon_.pid, RLIMIT_NOFILE, NULL, &original), 0);

        /* A saved rule, to see that the state file survives a save that cannot open it. */
        clients[n_clients++] = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(raw_call(clients[0], msg_override_set("saved.test", 0), msg, sizeof(msg)), 0);
        snprintf(state_file, sizeof(state_file), "%s/overrides", daemon_.dir);
        f = fopen(state_file, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_gt(fread(before, 1, sizeof(before) - 1, f), 0);
        fclose(f);

        /* A few fds above what is open: clients take them until the next one is refused. */
        set_daemon_nofile((rlim_t) test_max_fd(daemon_.pid) + 1 + 3);
        while (refused < 0) {
                int fd = test_raw_connect(daemon_.socket);

                ck_assert_int_lt(n_clients, (int) ELEMENTSOF(clients));
                ProtoMsg *m_status = msg_status();

                /* A refused client may find the daemon's end closed already (EPIPE); the
                 * refusal waits in its queue all the same. */
                status = proto_send(fd, m_status);
                ck_assert_msg(status == 0 || status == -EPIPE, "send: %s", strerror(-status));
                proto_msg_free(m_status);
                ck_assert_int_ge(test_raw_reply(fd, 5000, &status, NULL, msg, sizeof(msg)), 1);
                if (status == 0)
                        clients[n_clients++] = fd;
                else {
                        ck_assert_int_eq(status, EMFILE);
                        ck_assert_str_eq(msg, refusal);
                        refused = fd;
                }
        }
        /* The refused client was closed after the message. */
        ck_assert_int_eq(test_raw_reply(refused, 2000, NULL, NULL, NULL, 0), -ECONNRESET);
        close(refused);

        /* Without SO_PASSRIGHTS the refused client's socket is closed off the loop, and the
         * daemon's spare fd comes back after it: wait until its fds hold still. */
        (void) test_daemon_steady_fds(&daemon_);
        /* At the limit: what needs an fd is refused in words, the rest is answered. */
        status = raw_call(clients[0], msg_bind(), msg, sizeof(msg));
        ck_assert_msg(status == EMFILE || status == ENFILE, "BIND at the fd limit: status %d, '%s'", status,
                      msg);
        ck_assert_msg(strstr(msg, "Too many open files"), "BIND message '%s'", msg);
        assert_status_ok(clients[0]);
        status = raw_call(clients[0], msg_override_set("new.test", 0), msg, sizeof(msg));
        ck_assert_msg(status == EMFILE, "a saved override at the fd limit: status %d, '%s'", status, msg);
        ck_assert_str_eq(msg, "Cannot save overrides: Too many open files");
        ck_assert_int_eq(
                raw_call(clients[0], msg_override_set("ttl.test", 60ULL * 1000 * 1000), msg, sizeof(msg)), 0);
        ck_assert_int_eq(raw_call(clients[0], msg_resolve("ttl.test"), msg, sizeof(msg)), 0);
        ck_assert_int_eq(raw_call(clients[0], msg_resolve("saved.test"), msg, sizeof(msg)), 0);
        status = raw_call(clients[0], msg_resolve("new.test"), msg, sizeof(msg));
        ck_assert_msg(status != 0, "the refused rule applies");
        /* fds sent to a daemon that cannot take them are cut off by the kernel. */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 11, &m), 0);
        ck_assert_int_eq(proto_msg_push_fd(m, p[0]), 0);
        status = raw_call(clients[0], m, msg, sizeof(msg));
        ck_assert_int_eq(status, EBADMSG);
        ck_assert_msg(strstr(msg, "truncated") || strstr(msg, "takes no file descriptors"), "'%s'", msg);
        /* netutilctl says why in words. */
        ck_assert_int_eq(test_ctl(daemon_.socket, NULL, ARGS("status"), out, sizeof(out), err, sizeof(err)),
                         1);
        ck_assert_msg(strstr(err, refusal), "netutilctl stderr: '%s'", err);
        /* The state file is the old one. */
        f = fopen(state_file, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_gt(fread(after, 1, sizeof(after) - 1, f), 0);
        fclose(f);
        ck_assert_str_eq(after, before);

        /* An fd frees up (a client leaves): a new client is served again. netutilctl's refused
         * socket, closed off the loop, gives the spare back first. */
        (void) test_daemon_steady_fds(&daemon_);
        close(clients[--n_clients]);
        test_daemon_assert_fds(&daemon_, baseline_fds + n_clients, baseline_fds);
        {
                int fd = test_raw_connect(daemon_.socket);
                assert_status_ok(fd);
                clients[n_clients++] = fd;
        }
        /* The limit back: binds work again, and the refused rule can be saved. */
        ck_assert_int_eq(prlimit(daemon_.pid, RLIMIT_NOFILE, &original, NULL), 0);
        ck_assert_int_eq(raw_call(clients[0], msg_bind(), msg, sizeof(msg)), 0);
        ck_assert_int_eq(raw_call(clients[0], msg_override_set("new.test", 0), msg, sizeof(msg)), 0);
        ck_assert_int_eq(raw_call(clients[0], msg_resolve("new.test"), msg, sizeof(msg)), 0);
        ck_assert_int_eq(test_ctl(daemon_.socket, NULL, ARGS("status"), out, sizeof(out), err, sizeof(err)),
                         0);

        while (n_clients > 0)
                close(clients[--n_clients]);
        test_daemon_assert_fds(&daemon_, baseline_fds, baseline_fds);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_soft_fd_limit_is_raised_to_the_hard_one_at_start) {
        struct rlimit mine, its;

        /* As systemd starts services: soft 1024, a higher hard limit. */
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &mine), 0);
        ck_assert_uint_gt(mine.rlim_max, 1024);
        mine.rlim_cur = 1024;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &mine), 0);
        baseline_fds = test_daemon_start_for_any_user(&daemon_, NULL);
        ck_assert_int_eq(prlimit(daemon_.pid, RLIMIT_NOFILE, NULL, &its), 0);
        ck_assert_uint_eq(its.rlim_cur, mine.rlim_max);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- kill -9 under concurrent writes ------------------------------------------------- */

/* Writer w's operation j: set rule "rR-W-J.test" in scope "kR", except every fourth
 * (j % 4 == 3), which deletes the rule of j - 2. So rules j % 4 == 0 or 2 stay; j % 4 == 1
 * go two later. A writer stops after WRITER_MAX_OPS: a round's scope stays within one
 * OVERRIDE_LIST datagram (see the report on lists past PROTO_MAX_ATTRS attributes). */
#define WRITER_MAX_OPS 120u
static void writer(const char *socket, unsigned round, unsigned w, int ack_fd) {
        netutil_client *c = NULL;
        char host[64], scope[16];

        if (netutil_client_open(socket, &c) < 0)
                _exit(1);
        snprintf(scope, sizeof(scope), "k%u", round);
        for (uint32_t j = 0; j < WRITER_MAX_OPS; j++) {
                int r;
                if (j % 4 == 3) {
                        snprintf(host, sizeof(host), "r%u-%u-%u.test", round, w, j - 2);
                        r = netutil_override_del(c, scope, host, -1, -1, CALL_TIMEOUT_USEC);
                } else {
                        snprintf(host, sizeof(host), "r%u-%u-%u.test", round, w, j);
                        r = netutil_override_set(c, scope, host, -1, -1, "127.0.0.1", -1, 0,
                                                 CALL_TIMEOUT_USEC);
                }
                if (r < 0)
                        _exit(0); /* the daemon is gone */
                if (write(ack_fd, &j, sizeof(j)) != sizeof(j))
                        _exit(1);
        }
        _exit(0);
}

/* The state file parses: header, rule lines, and "end N" with N the rule count. */
static void assert_state_file_parses(const char *path) {
        char line[1024];
        unsigned rules = 0, end = 0, lines = 0;
        bool ended = false;
        FILE *f = fopen(path, "re");

        if (!f) {
                ck_assert_int_eq(errno, ENOENT); /* nothing saved yet */
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                ck_assert_msg(strchr(line, '\n'), "state file line %u cut short", lines + 1);
                ck_assert_msg(!ended, "text after the end line");
                if (lines++ == 0)
                        ck_assert_str_eq(line, "netutild-overrides 1\n");
                else if (strncmp(line, "rule ", 5) == 0)
                        rules++;
                else if (sscanf(line, "end %u", &end) == 1)
                        ended = true;
        }
        fclose(f);
        ck_assert_msg(ended, "state file without its end line");
        ck_assert_uint_eq(end, rules);
}

typedef struct Writer {
        uint32_t acks;
} Writer;

static bool host_listed(const netutil_override *o, int n, const char *host) {
        for (int i = 0; i < n; i++)
                if (strcmp(o[i].host, host) == 0)
                        return true;
        return false;
}

/* Everything acknowledged in every past round is there (or gone, for deletions). */
static void check_rounds(const Writer (*w)[KILL_WRITERS], unsigned rounds, unsigned *checked) {
        netutil_client *c = NULL;
        netutil_override *o = NULL;
        char host[64];
        int n;

        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        for (unsigned r = 0; r < rounds; r++) {
                char scope[16];

                snprintf(scope, sizeof(scope), "k%u", r);
                n = netutil_override_list(c, scope, CALL_TIMEOUT_USEC, &o);
                if (n == -ENOENT) /* nothing acknowledged, or everything deleted */
                        n = 0;
                ck_assert_msg(n >= 0, "listing scope %s: %s", scope, strerror(-n));
                for (unsigned k = 0; k < KILL_WRITERS; k++) {
                        uint32_t a = w[r][k].acks; /* ops 0..a-1 acknowledged, op a maybe done */
                        for (uint32_t j = 0; j < a + 8; j++) {
                                bool present, want;
                                if (j % 4 == 3 || j == a)
                                        continue; /* a deletion, or the operation in flight */
                                snprintf(host, sizeof(host), "r%u-%u-%u.test", r, k, j);
                                present = host_listed(o, n, host);
                                if (j > a)
                                        want = false; /* never asked for */
                                else if (j % 4 == 1 && j + 2 == a)
                                        continue; /* its deletion was in flight */
                                else
                                        want = !(j % 4 == 1 && j + 2 < a);
                                ck_assert_msg(present == want,
                                              "%s is %s after kill -9 (%u operations acknowledged)", host,
                                              present ? "there" : "missing", a);
                                (*checked)++;
                        }
                }
                netutil_overrides_free(o, (size_t) n);
                o = NULL;
        }
        netutil_client_close(c);
}

static unsigned count_corrupt(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "overrides.corrupt-", 18) == 0 ||
                    strncmp(de->d_name, ".overrides.", 11) == 0)
                        n++;
        closedir(d);
        return n;
}

START_TEST(test_kill_9_under_concurrent_writes_loses_nothing_acknowledged) {
        static Writer w[KILL_ROUNDS + 1][KILL_WRITERS];
        char state_file[128];
        const char *extra[] = {"--state-dir", state_dir, NULL};
        unsigned checked = 0, total_acks = 0;

        ck_assert_ptr_nonnull(mkdtemp(state_dir));
        snprintf(state_file, sizeof(state_file), "%s/overrides", state_dir);
        srand((unsigned) getpid());
        for (unsigned round = 0; round <= KILL_ROUNDS; round++) {
                pid_t pids[KILL_WRITERS];
                int acks[KILL_WRITERS];
                useconds_t delay = (useconds_t) (rand() % 300000);

                ck_assert_int_eq(test_daemon_start_pdeathsig(&daemon_, extra), 0);
                /* A file the daemon would have moved aside is counted here. */
                ck_assert_uint_eq(count_corrupt(state_dir), 0);
                check_rounds(w, round, &checked);
                if (round == KILL_ROUNDS)
                        break;

                for (unsigned k = 0; k < KILL_WRITERS; k++) {
                        int p[2];
                        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                        pids[k] = fork();
                        ck_assert_int_ge(pids[k], 0);
                        if (pids[k] == 0) {
                                close(p[0]);
                                writer(daemon_.socket, round, k, p[1]);
                        }
                        close(p[1]);
                        acks[k] = p[0];
                }
                /* A random moment: up to 0.3 s into the writes. */
                usleep(delay);
                ck_assert_int_eq(kill(daemon_.pid, SIGKILL), 0);
                test_daemon_stop_signal(&daemon_, SIGKILL);
                for (unsigned k = 0; k < KILL_WRITERS; k++) {
                        uint32_t j;
                        int status;
                        while (read(acks[k], &j, sizeof(j)) == sizeof(j)) {
                                ck_assert_uint_eq(j, w[round][k].acks);
                                w[round][k].acks++;
                        }
                        close(acks[k]);
                        ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
                        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                                      "writer wait status 0x%x", status);
                        total_acks += w[round][k].acks;
                }
                assert_state_file_parses(state_file);
        }
        fprintf(stderr,
                "check-faults: %d kill -9 under %d writers: %u acknowledged changes, %u rule states "
                "checked\n",
                KILL_ROUNDS, KILL_WRITERS, total_acks, checked);
        ck_assert_uint_gt(total_acks, KILL_ROUNDS);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- a name server that never answers ------------------------------------------------ */

static long daemon_threads(void) {
        char path[64], line[256];
        long n = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) daemon_.pid);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Threads: %ld", &n) == 1)
                        break;
        fclose(f);
        return n;
}

/* In new network and mount namespaces: test_silent_name_server(). */
static int silent_name_server(const char *options) {
        test_enter_netns();
        test_cloexec_fds_from_3();
        return test_silent_name_server(options);
}

START_TEST(test_silent_name_server_times_out_and_nothing_piles_up) {
        char msg[PROTO_MAX_ERROR_MESSAGE];
        long threads_before, rss_before, rss_after;
        long long t0, worst_other = 0, took;
        int dns, fd, other, status;

        dns = silent_name_server("timeout:1 attempts:1");
        baseline_fds = test_daemon_start_for_any_user(&daemon_, NULL);
        threads_before = daemon_threads();
        rss_before = test_rss_kib(daemon_.pid);

        fd = test_raw_connect(daemon_.socket);
        other = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(
                raw_call(other, msg_override_set("hit.test", 600ULL * 1000 * 1000), msg, sizeof(msg)), 0);
        t0 = test_now_ms();
        for (unsigned i = 0; i < SLOW_LOOKUPS; i++) {
                char host[64];
                ProtoMsg *m;
                snprintf(host, sizeof(host), "n%u.silent.test", i);
                m = msg_resolve(host);
                proto_msg_header(m)->serial = i + 1;
                ck_assert_int_eq(proto_send(fd, m), 0);
                proto_msg_free(m);
        }
        /* Meanwhile: status and override hits at once. */
        for (unsigned i = 0; i < 50; i++) {
                long long t = test_now_ms();
                assert_status_ok(other);
                ck_assert_int_eq(raw_call(other, msg_resolve("hit.test"), msg, sizeof(msg)), 0);
                worst_other = MAX(worst_other, test_now_ms() - t);
                usleep(20000);
        }
        /* Each lookup gives up after about a second (timeout:1 attempts:1); 16 threads. */
        for (unsigned i = 0; i < SLOW_LOOKUPS; i++) {
                int r = test_raw_reply(fd, 30000, &status, NULL, msg, sizeof(msg));
                ck_assert_msg(r >= 1, "lookup %u: no reply: %s", i, strerror(-r));
                ck_assert_msg(status != 0, "lookup %u answered by a silent server", i);
        }
        took = test_now_ms() - t0;
        fprintf(stderr,
                "check-faults: %d lookups at a silent name server failed in %lld ms (last: '%s'); other "
                "requests took at most %lld ms meanwhile\n",
                SLOW_LOOKUPS, took, msg, worst_other);
        ck_assert_int_lt(took, 30000);
        ck_assert_int_lt(worst_other, 500);

        /* Nothing piled up: threads, fds and memory as before. */
        close(fd);
        close(other);
        test_daemon_assert_fds_settle(&daemon_, baseline_fds, 10000);
        ck_assert_int_le(daemon_threads(), threads_before + 16);
        rss_after = test_rss_kib(daemon_.pid);
        ck_assert_msg(rss_after - rss_before < 8 * 1024, "RSS %ld -> %ld KiB", rss_before, rss_after);
        close(dns);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- one uid taking every place ----------------------------------------------------- */

/* In a child as nobody: opens connections until one is refused; reports how many were
 * accepted on the pipe, then waits for a byte on go before checking them all again. */
/* How long nobody's client waits for a reply: generous, for the sanitizer build on a machine
 * running other suites. */
#define FLOOD_REPLY_MS 30000

static void nobody_flood(const char *path, int report, int go) {
        int fds[64], n = 0, status = 0;
        char msg[PROTO_MAX_ERROR_MESSAGE] = "", c;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
                _exit(2);
        for (;;) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                ProtoMsg *m = NULL;
                int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

                memcpy(sa.sun_path, path, strlen(path));
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || n >= 64)
                        _exit(3);
                if (proto_msg_new(PROTO_MSG_STATUS, 1, &m) < 0)
                        _exit(4);
                /* The daemon may refuse and close before this is sent (EPIPE): its refusal
                 * is in our queue all the same, and is read below. */
                (void) proto_send(fd, m);
                proto_msg_free(m);
                if (test_raw_reply(fd, FLOOD_REPLY_MS, &status, NULL, msg, sizeof(msg)) < 1)
                        _exit(5);
                if (status != 0)
                        break;
                fds[n++] = fd;
        }
        if (status != EUSERS || strcmp(msg, "Too many clients of uid 65534 (MaxClientsPerUser=5)") != 0)
                _exit(6);
        if (write(report, &n, sizeof(n)) != sizeof(n) || read(go, &c, 1) != 1)
                _exit(7);
        /* Still served, every one of them. */
        for (int i = 0; i < n; i++) {
                ProtoMsg *m = NULL;
                if (proto_msg_new(PROTO_MSG_STATUS, 2, &m) < 0 || proto_send(fds[i], m) < 0)
                        _exit(8);
                proto_msg_free(m);
                if (test_raw_reply(fds[i], FLOOD_REPLY_MS, &status, NULL, NULL, 0) < 1 || status != 0)
                        _exit(9);
        }
        _exit(0);
}

START_TEST(test_max_clients_per_user_keeps_places_for_others) {
        char *conf = test_write_config("[Daemon]\nMaxClients=8\nMaxClientsPerUser=5\n");
        const char *extra[] = {"--config", conf, NULL};
        char out[4096], err[4096];
        int report[2], go[2], n = 0, status, root_fds[3];
        pid_t pid;

        baseline_fds = test_daemon_start_for_any_user(&daemon_, extra);
        unlink(conf);
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                nobody_flood(daemon_.socket, report[1], go[0]);
        /* If the child fails, its end of the pipe closes: say how, rather than wait. */
        close(report[1]);
        report[1] = -1;
        if (read(report[0], &n, sizeof(n)) != sizeof(n)) {
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_abort_msg("nobody's client child failed before its report: wait status 0x%x", status);
        }
        ck_assert_int_eq(n, 5);
        /* The other 3 places are root's (and anyone else's). */
        for (int i = 0; i < 3; i++) {
                root_fds[i] = test_raw_connect(daemon_.socket);
                assert_status_ok(root_fds[i]);
        }
        ck_assert_int_eq(test_ctl(daemon_.socket, ARGS("--reuid=1234", "--regid=1234", "--clear-groups"),
                                  ARGS("status"), out, sizeof(out), err, sizeof(err)),
                         1);
        ck_assert_msg(strstr(err, "Too many clients (MaxClients=8)"), "%s", err);
        ck_assert_int_eq(write(go[1], "x", 1), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "nobody's client child: wait status 0x%x", status);
        close(root_fds[0]);
        /* A place is free and nobody's connections are gone: uid 1234 gets in. */
        test_daemon_assert_fds(&daemon_, baseline_fds + 2, baseline_fds);
        ck_assert_int_eq(test_ctl(daemon_.socket, ARGS("--reuid=1234", "--regid=1234", "--clear-groups"),
                                  ARGS("status"), out, sizeof(out), err, sizeof(err)),
                         0);
        close(root_fds[1]);
        close(root_fds[2]);
        close(report[0]);
        for (int i = 0; i < 2; i++)
                close(go[i]);
        test_daemon_assert_fds(&daemon_, baseline_fds, baseline_fds);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ResolveTimeoutSec=1 against a resolv.conf that would wait 10 s (timeout:5 attempts:2):
 * every resolve of a silent name, with either backend, fails with EAI_AGAIN and words
 * naming the key after about a second; a client that left before its deadline costs
 * nothing; the thread pool's threads finish for nobody, and nothing is left behind. Fails
 * without the deadline (each resolve then takes the full 10 s). */
static void resolve_deadline_case(const char *resolver) {
        char conf_text[128], msg[PROTO_MAX_ERROR_MESSAGE] = "";
        const char *extra[] = {"--config", NULL, NULL};
        long long t0, took;
        int dns, fd, gone, status = 0;

        dns = silent_name_server("timeout:5 attempts:2");
        snprintf(conf_text, sizeof(conf_text), "[Daemon]\nResolver=%s\nResolveTimeoutSec=1\n", resolver);
        extra[1] = test_write_config(conf_text);
        baseline_fds = test_daemon_start_for_any_user(&daemon_, extra);
        unlink(extra[1]);

        fd = test_raw_connect(daemon_.socket);
        gone = test_raw_connect(daemon_.socket);
        {
                ProtoMsg *m = msg_resolve("left.silent.test");

                ck_assert_int_eq(proto_send(gone, m), 0);
                proto_msg_free(m);
        }
        close(gone);
        t0 = test_now_ms();
        for (unsigned i = 0; i < 4; i++) {
                char host[64];
                ProtoMsg *m;

                snprintf(host, sizeof(host), "d%u.silent.test", i);
                m = msg_resolve(host);
                ck_assert_int_eq(proto_send(fd, m), 0);
                proto_msg_free(m);
        }
        for (unsigned i = 0; i < 4; i++) {
                int r = test_raw_reply(fd, 20000, &status, NULL, msg, sizeof(msg));

                ck_assert_msg(r >= 1, "%s: resolve %u: no reply: %s", resolver, i, strerror(-r));
                ck_assert_int_eq(status, EAGAIN);
                ck_assert_str_eq(msg, "No answer within 1 s (ResolveTimeoutSec=1)");
        }
        took = test_now_ms() - t0;
        fprintf(stderr, "check-faults: %s: 4 resolves at a silent server failed after %lld ms (ResolveTimeoutSec=1, "
                        "resolv.conf: 10 s)\n", resolver, took);
        /* The words are the deadline's (resolv.conf's own give-up says "Temporary failure in
         * name resolution", after 10 s): no time bound needed. */
        assert_status_ok(fd);
        close(fd);
        /* The lookups themselves end by resolv.conf's timeout (10 s), for nobody. */
        test_daemon_assert_fds_settle(&daemon_, baseline_fds, 20000);
        close(dns);
        test_daemon_stop_expect_clean_exit(&daemon_);
}

START_TEST(test_resolve_timeout_answers_at_its_deadline_with_the_thread_pool) {
        resolve_deadline_case("threadpool");
}
END_TEST

START_TEST(test_resolve_timeout_answers_at_its_deadline_with_cares) {
        resolve_deadline_case("cares");
}
END_TEST

/* ---- requests in flight per uid ------------------------------------------------------- */

/* Nobody's side: 8 lookups at a silent name server on one connection, then a STATUS on a
 * second one. Reports through report whether the STATUS was answered within 500 ms (1 byte),
 * then the milliseconds it took in all (long long), then exits 0 if everything got its
 * answer: the lookups their failure, the STATUS success. */
static void nobody_fills_its_requests(const char *path, int report) {
        char msg[PROTO_MAX_ERROR_MESSAGE];
        long long t0, took;
        int a, b, status = -1;
        char answered;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
                _exit(2);
        a = test_raw_connect(path);
        b = test_raw_connect(path);
        for (unsigned i = 0; i < 8; i++) {
                char host[64];
                ProtoMsg *m;

                snprintf(host, sizeof(host), "q%u.silent.test", i);
                m = msg_resolve(host);
                if (proto_send(a, m) < 0)
                        _exit(3);
                proto_msg_free(m);
        }
        usleep(200 * 1000); /* all 8 read: the uid is at its limit */
        t0 = test_now_ms();
        if (proto_send(b, msg_status()) < 0)
                _exit(4);
        answered = test_raw_reply(b, 500, &status, NULL, msg, sizeof(msg)) >= 1;
        if (write(report, &answered, 1) != 1)
                _exit(5);
        if (!answered && (test_raw_reply(b, 20000, &status, NULL, msg, sizeof(msg)) < 1 || status != 0))
                _exit(6);
        took = test_now_ms() - t0;
        if (write(report, &took, sizeof(took)) != sizeof(took))
                _exit(7);
        for (unsigned i = 0; i < 8; i++)
                if (test_raw_reply(a, 20000, &status, NULL, msg, sizeof(msg)) < 1 || status == 0)
                        _exit(8);
        _exit(0);
}

/* Fails without MaxRequestsPerUser= (nobody's STATUS is then answered at once, behind its
 * own lookups on another connection): the uid at its limit is not read from on any of its
 * connections until its requests drop; root and another uid are served meanwhile; nothing
 * is refused or lost, and nothing is left behind. */
START_TEST(test_max_requests_per_user_holds_one_uid_back_and_serves_the_others) {
        char *conf;
        const char *extra[] = {"--config", NULL, NULL};
        char out[4096], err[4096], answered = 1;
        long long took = 0;
        int report[2], dns, root, status;
        pid_t pid;

        dns = silent_name_server("timeout:3 attempts:1"); /* the lookups outlast the 0.7 s of the test */
        conf = test_write_config("[Daemon]\nMaxRequestsPerUser=8\nResolverThreads=4\n");
        extra[1] = conf;
        baseline_fds = test_daemon_start_for_any_user(&daemon_, extra);
        unlink(conf);

        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                nobody_fills_its_requests(daemon_.socket, report[1]);
        close(report[1]);
        ck_assert_int_eq(read(report[0], &answered, 1), 1);
        ck_assert_msg(!answered, "nobody's STATUS was answered while nobody had 8 lookups in flight");
        /* Meanwhile everyone else is served at once. */
        root = test_raw_connect(daemon_.socket);
        assert_status_ok(root);
        ck_assert_int_eq(test_ctl(daemon_.socket, ARGS("--reuid=1234", "--regid=1234", "--clear-groups"),
                                  ARGS("--timeout", "0.5", "status"), out, sizeof(out), err, sizeof(err)),
                         0);
        /* Once the lookups give up (3 s each, four threads), nobody is read again. */
        ck_assert_int_eq(read(report[0], &took, sizeof(took)), sizeof(took));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "nobody's child: wait status 0x%x", status);
        fprintf(stderr, "check-faults: nobody's STATUS waited %lld ms behind its 8 lookups (MaxRequestsPerUser=8)\n",
                took);
        close(report[0]);
        close(root);
        close(dns);
        test_daemon_assert_fds_settle(&daemon_, baseline_fds, 10000);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");
        TCase *tc;

        tc = test_tcase_add(s, "emfile", 60, NULL, teardown, NULL);
        tcase_add_test(tc, test_out_of_fds_refuses_in_words_and_resumes_when_fds_free_up);
        tcase_add_test(tc, test_soft_fd_limit_is_raised_to_the_hard_one_at_start);
        tc = test_tcase_add(s, "kill-9", 300, NULL, teardown, NULL);
        tcase_add_test(tc, test_kill_9_under_concurrent_writes_loses_nothing_acknowledged);
        tc = test_tcase_add(s, "per-user-quota", 60, NULL, teardown, NULL);
        tcase_add_test(tc, test_max_clients_per_user_keeps_places_for_others);
        tcase_add_test(tc, test_max_requests_per_user_holds_one_uid_back_and_serves_the_others);
        tc = test_tcase_add(s, "upstream", 120, NULL, teardown, NULL);
        tcase_add_test(tc, test_silent_name_server_times_out_and_nothing_piles_up);
        tcase_add_test(tc, test_resolve_timeout_answers_at_its_deadline_with_the_thread_pool);
        tcase_add_test(tc, test_resolve_timeout_answers_at_its_deadline_with_cares);
        return s;
}

int main(void) {
        return test_run_suite(faults_suite(), true);
}
