/* SPDX-License-Identifier: MIT */

/*
 * Attacks on the resolver's capacity (issue 13, item 7): nobody asks for names whose name
 * server never answers, so that its lookups hold the worker threads (threadpool) or the
 * c-ares slots (cares) while another uid's lookups wait. Before the fix the pool was one
 * FIFO: nobody's 120 lookups made uid 1234's `resolve localhost` and `bind --address
 * localhost` wait for resolv.conf's timeout, and c-ares's 1000 slots and its queue were
 * first come first served.
 *
 * Each test has its own network and mount namespaces, a hosts file of its own and a name
 * server of its own on 127.0.0.1:53 (test_silent_name_server()) that resolv.conf says to
 * wait 20 s for. A victim that waits behind the attack waits those 20 s, twice the 10 s
 * its netutilctl allows; and a victim answered at the default ResolveTimeoutSec= (10 s)
 * gets EAI_AGAIN, not its address: either way the test fails. With the fix the victim is
 * answered in milliseconds; the 10 s are a ceiling for a busy machine, not a measure.
 */

#include <check.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attacks.h"
#include "netutil-proto.h"
#include "testlib.h"

/* resolv.conf's wait for the silent name server: a lookup behind nobody's waits this long. */
#define SILENT_OPTIONS "timeout:20 attempts:1"
/* What a victim may take: half of that, and all of ResolveTimeoutSec='s default. */
#define VICTIM_TIMEOUT "10"
/* The words of the default ResolveTimeoutSec= that nobody's lookups end with. */
#define DEADLINE_WORDS "No answer within 10 s (ResolveTimeoutSec=10)"

static const char *const AS_OTHER[] = {"--reuid=1234", "--regid=1234", "--clear-groups", NULL};

/* Fixture: namespaces, the hosts file, the silent name server (its socket, with room for a
 * burst of queries), then the daemon with config text (NULL: none) and extra_args. */
static int start_with_silent_name_server(const char *config_text) {
        const char *extra[] = {"--config", NULL, NULL};
        int dns, size = 8 << 20;

        test_enter_netns();
        test_cloexec_fds_from_3();
        test_use_hosts_file("127.0.0.1 localhost\n");
        dns = test_silent_name_server(SILENT_OPTIONS);
        ck_assert_int_eq(setsockopt(dns, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)), 0);
        if (config_text)
                extra[1] = test_write_config(config_text);
        attack_baseline_fds = test_daemon_start_for_any_user(&attack_daemon, config_text ? extra : NULL);
        if (config_text)
                unlink(extra[1]);
        return dns;
}

/* ---- nobody's side -------------------------------------------------------------------- */

typedef struct Flood {
        unsigned connections;
        unsigned per_connection; /* resolves of distinct names on each */
        const char *plant;       /* NULL, or the last lookup's name: one a victim asks for too */
        int report;              /* write end: one byte once the daemon has read them all */
        int parent_end;          /* the parent's read end, inherited by fork(): closed here */
} Flood;

static void send_or_fail(int fd, ProtoMsg *m) {
        ATTACK_CHECK(m && proto_send(fd, m) == 0, "send: %s", strerror(errno));
        proto_msg_free(m);
}

static ProtoMsg *resolve_msg(uint32_t serial, const char *host) {
        ProtoMsg *m = NULL;

        if (proto_msg_new(PROTO_MSG_RESOLVE, serial, &m) < 0 || proto_msg_append_string(m, PROTO_ATTR_HOST, host) < 0 ||
            proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_INET) < 0)
                return proto_msg_free(m), NULL;
        return m;
}

/* Pipelines the resolves of names nobody answers, then a STATUS on each connection: its
 * answer says the daemon read everything before it. Reports, then checks that every
 * lookup ends with the deadline's EAI_AGAIN in words. */
static void flood_child(void *arg) {
        const Flood *f = arg;
        int fds[32];
        char msg[PROTO_MAX_ERROR_MESSAGE];

        close(f->parent_end);
        ATTACK_CHECK(f->connections <= 32 && f->per_connection < PROTO_MAX_INFLIGHT, "flood too large");
        for (unsigned c = 0; c < f->connections; c++) {
                fds[c] = attack_connect();
                for (unsigned i = 0; i < f->per_connection; i++) {
                        char host[64];

                        if (f->plant && c == f->connections - 1 && i == f->per_connection - 1)
                                snprintf(host, sizeof(host), "%s", f->plant);
                        else
                                snprintf(host, sizeof(host), "n%u-%u.silent.test", c, i);
                        send_or_fail(fds[c], resolve_msg(i + 1, host));
                }
                {
                        ProtoMsg *m = NULL;
                        ATTACK_CHECK(proto_msg_new(PROTO_MSG_STATUS, 100000, &m) == 0, "proto_msg_new");
                        send_or_fail(fds[c], m);
                }
        }
        for (unsigned c = 0; c < f->connections; c++) {
                unsigned serial = 0;
                int status = -1, r = test_raw_reply(fds[c], 30000, &status, &serial, msg, sizeof(msg));

                ATTACK_CHECK(r >= 1, "connection %u: no STATUS reply: %s", c, strerror(-r));
                ATTACK_CHECK(serial == 100000 && status == 0,
                             "connection %u: reply %u (status %d, '%s') before the STATUS", c, serial, status, msg);
        }
        ATTACK_CHECK(write(f->report, "x", 1) == 1, "report: %s", strerror(errno));
        for (unsigned c = 0; c < f->connections; c++)
                for (unsigned i = 0; i < f->per_connection; i++) {
                        unsigned serial = 0;
                        int status = -1, r = test_raw_reply(fds[c], 60000, &status, &serial, msg, sizeof(msg));

                        ATTACK_CHECK(r >= 1, "lookup %u-%u: no reply: %s", c, i, strerror(-r));
                        if (f->plant && c == f->connections - 1 && serial == f->per_connection)
                                continue; /* the planted name: answered with the victim's */
                        ATTACK_CHECK(status == EAGAIN && strcmp(msg, DEADLINE_WORDS) == 0,
                                     "lookup %u-%u: status %d, '%s'", c, i, status, msg);
                }
}

/* Starts flood_child as nobody and returns once the daemon has read the whole flood. */
static pid_t flood_start(unsigned connections, unsigned per_connection, const char *plant) {
        int report[2];
        Flood f;
        pid_t pid;
        char c;

        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        f = (Flood){.connections = connections, .per_connection = per_connection, .plant = plant, .report = report[1],
                    .parent_end = report[0]};
        pid = attack_spawn_as(ATTACK_NOBODY, flood_child, &f);
        close(report[1]);
        if (read(report[0], &c, 1) != 1)
                attack_wait_child(pid, 60); /* it failed: this says how */
        close(report[0]);
        return pid;
}

/* ---- the victims ---------------------------------------------------------------------- */

/* Runs netutilctl ARGS as priv's uid (NULL: root): true if it succeeded with want in its
 * stdout; else says why on stderr. *ret_ms: how long it took (for messages, never a verdict). */
static bool victim_try(const char *const *priv, const char *const *args, const char *want, long long *ret_ms) {
        char out[1024], err[1024];
        long long t0 = test_now_ms();
        int r = test_ctl(attack_daemon.socket, priv, args, out, sizeof(out), err, sizeof(err));

        *ret_ms = test_now_ms() - t0;
        if (r == 0 && strstr(out, want))
                return true;
        fprintf(stderr, "netutilctl %s %s as %s: exit %d after %lld ms, stdout '%s', stderr '%s'\n", args[2],
                args[3], priv ? "uid 1234" : "root", r, *ret_ms, out, err);
        return false;
}

/* victim_try(), asserted. */
static long long victim_run(const char *const *priv, const char *const *args, const char *want) {
        long long ms;

        ck_assert_msg(victim_try(priv, args, want, &ms), "a victim was not answered (see above)");
        return ms;
}

/* ---- the thread pool ------------------------------------------------------------------ */

/* Nobody's 120 lookups of names that never answer, pipelined on one connection: with 16
 * threads and one FIFO they took every thread for resolv.conf's 20 s and queued ahead of
 * everyone. Now nobody holds at most half the threads and the uids take turns: uid 1234's
 * resolve and bind of localhost (from the hosts file) and root's resolve are answered
 * meanwhile; nobody's lookups end at the default ResolveTimeoutSec= in words, those still
 * queued taken back from the pool; nothing is left once its threads give up. */
START_TEST(test_slow_lookups_of_one_uid_do_not_delay_another_threadpool) {
        long long resolve_ms, bind_ms, root_ms;
        int dns = start_with_silent_name_server(NULL);
        pid_t pid = flood_start(1, 120, NULL);

        resolve_ms = victim_run(AS_OTHER, (const char *[]){"--timeout", VICTIM_TIMEOUT, "resolve", "localhost", NULL},
                                "ipv4 127.0.0.1 0\n");
        bind_ms = victim_run(AS_OTHER,
                             (const char *[]){"--timeout", VICTIM_TIMEOUT, "bind", "--address", "localhost", "0", NULL},
                             "127.0.0.1");
        root_ms = victim_run(NULL, (const char *[]){"--timeout", VICTIM_TIMEOUT, "resolve", "localhost", NULL},
                             "ipv4 127.0.0.1 0\n");
        fprintf(stderr,
                "check-attacks: threadpool: while nobody's 120 lookups hung, uid 1234's resolve localhost took %lld "
                "ms, its bind --address localhost %lld ms, root's resolve %lld ms\n",
                resolve_ms, bind_ms, root_ms);
        attack_wait_child(pid, 60);
        /* Nobody's threads give up 20 s after they started; then every fd is back. */
        test_daemon_assert_fds_settle(&attack_daemon, attack_baseline_fds, 60000);
        attack_assert_healthy();
        close(dns);
}
END_TEST

/* ---- c-ares --------------------------------------------------------------------------- */

/* Waits for pid (a victim) while playing the name server: answers the A queries for the
 * victims' names, leaves the others (nobody's) unanswered. Returns its wait status. */
static int answer_victims_until_exit(int dns, pid_t pid) {
        long long deadline = test_now_ms() + 30000;
        int status = 0;
        pid_t w;

        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && test_now_ms() < deadline) {
                TestDnsQuery q;

                if (test_dns_take_query(dns, 50, &q) == 1 && q.type == 1 &&
                    (strcasecmp(q.name, "v1234.silent.test") == 0 || strcasecmp(q.name, "v0.silent.test") == 0))
                        test_dns_answer_a(dns, &q, "192.0.2.7", 60);
        }
        if (w == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
        }
        return status;
}

typedef struct CaresVictim {
        const char *const *priv;
        const char *host;
} CaresVictim;

/* Forks a process that resolves v->host as v->priv's uid and exits 0 if it got 192.0.2.7
 * within the ceiling; the caller answers its query meanwhile. Returns how long it took. */
static long long cares_victim(int dns, const CaresVictim *v) {
        long long t0 = test_now_ms();
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                long long ms;
                bool ok = victim_try(v->priv,
                                     (const char *[]){"--timeout", VICTIM_TIMEOUT, "resolve", "--family", "ipv4",
                                                      v->host, "80", NULL},
                                     "ipv4 192.0.2.7 80\n", &ms);
                _exit(ok ? 0 : 1);
        }
        status = answer_victims_until_exit(dns, pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "resolving %s failed (wait status 0x%x)",
                      v->host, status);
        return test_now_ms() - t0;
}

/* Nobody's 4000 lookups of names that never answer (32 connections, within
 * MaxRequestsPerUser='s 4096): first come first served they took all 1000 c-ares slots for
 * resolv.conf's 20 s and queued 3000 more ahead of everyone. Now nobody holds at most 500
 * slots and the uids take turns: uid 1234's and root's names, which the name server
 * answers, are resolved meanwhile. Nobody's last lookup is uid 1234's name, queued behind
 * its flood: uid 1234's identical lookup joins it, and it moves to uid 1234's turn (before,
 * it waited behind nobody's 3500). */
START_TEST(test_slow_lookups_of_one_uid_do_not_delay_another_cares) {
        const CaresVictim other = {AS_OTHER, "v1234.silent.test"}, root = {NULL, "v0.silent.test"};
        long long other_ms, root_ms;
        int dns = start_with_silent_name_server("[Daemon]\nResolver=cares\n");
        pid_t pid = flood_start(32, 125, "v1234.silent.test");
        TestDnsQuery q;

        other_ms = cares_victim(dns, &other);
        root_ms = cares_victim(dns, &root);
        fprintf(stderr,
                "check-attacks: cares: while nobody's 4000 lookups hung, uid 1234's resolve took %lld ms, root's "
                "%lld ms\n",
                other_ms, root_ms);
        attack_wait_child(pid, 60);
        test_daemon_assert_fds_settle(&attack_daemon, attack_baseline_fds, 60000);
        attack_assert_healthy();
        while (test_dns_take_query(dns, 0, &q) == 1)
                ;
        close(dns);
}
END_TEST

void attacks_add_workers(Suite *s) {
        TCase *tc = test_tcase_add(s, "resolver capacity", 180, NULL, attack_teardown, NULL);

        tcase_add_test(tc, test_slow_lookups_of_one_uid_do_not_delay_another_threadpool);
        tcase_add_test(tc, test_slow_lookups_of_one_uid_do_not_delay_another_cares);
}
