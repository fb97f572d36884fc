/* SPDX-License-Identifier: MIT */

/*
 * Attacks through names (issue 13, items 10-12): a name claimed first by nobody must not
 * steer or break another uid's request (scopes, held names, reuseport groups); names are
 * text (control bytes and invalid UTF-8 are refused in words, and netutilctl escapes what
 * it prints whatever it is); the daemon's hash tables are keyed, so that keys crafted to
 * collide under a public hash do not turn a table into a list.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attacks.h"
#include "hash.h"
#include "json.h"
#include "netutil-proto.h"
#include "testlib.h"
#include "text.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define AS_NOBODY ARGS("--reuid=65534", "--regid=65534", "--clear-groups")
#define AS_OTHER ARGS("--reuid=1234", "--regid=1234", "--clear-groups")
#define AS_ROOT NULL

static char out[8192], err[8192];

static int ctl(const char *const *priv, const char *const *args) {
        return test_ctl(attack_daemon.socket, priv, args, out, sizeof(out), err, sizeof(err));
}

static void expect(int status, int want_status, const char *want_out, const char *want_err) {
        test_expect_run(out, err, status, want_status, want_out, want_err);
}

/* ---- item 10: squatted scopes ------------------------------------------------------ */

START_TEST(test_a_squatted_scope_does_not_steer_another_uid) {
        attack_setup();
        /* nobody claims the name a CI job of uid 1234 will use, with a literal target (the
         * kind the rules file answers without asking the daemon). */
        expect(ctl(AS_NOBODY, ARGS("override", "set", "--scope", "ci-build-42", "api.internal", "10.66.0.1")), 0, "",
               "");
        expect(ctl(AS_ROOT, ARGS("override", "set", "other.internal", "127.0.0.9")), 0, "", "");

        /* uid 1234 (and root) do not get nobody's address: they are told whose scope it is. */
        setenv("NETUTIL_SCOPE", "ci-build-42", 1);
        expect(ctl(AS_OTHER, ARGS("resolve", "api.internal")), 1, "",
               "netutilctl: Scope 'ci-build-42' belongs to uid 65534, not to you (uid 1234) or root, so its rules "
               "are not used; name the owner to use them (NETUTIL_SCOPE=ci-build-42@65534), or choose another "
               "scope name\n");
        expect(ctl(AS_ROOT, ARGS("resolve", "api.internal")), 1, "",
               "netutilctl: Scope 'ci-build-42' belongs to uid 65534, not to you (uid 0) or root, so its rules "
               "are not used; name the owner to use them (NETUTIL_SCOPE=ci-build-42@65534), or choose another "
               "scope name\n");
        /* A name nobody's scope has no rule for is the global table's, as without the scope. */
        expect(ctl(AS_OTHER, ARGS("resolve", "other.internal")), 0, "ipv4 127.0.0.9 0\n", "");
        /* Trying to make the scope says whose it is. */
        expect(ctl(AS_OTHER, ARGS("override", "set", "--scope", "ci-build-42", "api.internal", "127.0.0.5")), 1, "",
               "netutilctl: Permission denied by policy: scope 'ci-build-42' belongs to uid 65534 and is not "
               "writable by uid 1234\n");

        /* Naming the owner is the opt-in: then nobody's rule answers. */
        setenv("NETUTIL_SCOPE", "ci-build-42@65534", 1);
        expect(ctl(AS_OTHER, ARGS("resolve", "api.internal")), 0, "ipv4 10.66.0.1 0\n", "");
        setenv("NETUTIL_SCOPE", "ci-build-42@1234", 1);
        expect(ctl(AS_OTHER, ARGS("resolve", "api.internal")), 1, "",
               "netutilctl: Scope 'ci-build-42' belongs to uid 65534, not to uid 1234\n");
        /* The owner itself needs no opt-in. */
        setenv("NETUTIL_SCOPE", "ci-build-42", 1);
        expect(ctl(AS_NOBODY, ARGS("resolve", "api.internal")), 0, "ipv4 10.66.0.1 0\n", "");
        unsetenv("NETUTIL_SCOPE");
        attack_assert_healthy();
}
END_TEST

/* ---- item 10: squatted held and group names ---------------------------------------- */

START_TEST(test_squatted_held_and_group_names_do_not_touch_roots_requests) {
        attack_setup();
        /* nobody claims the names root's service is about to use. */
        ck_assert_int_eq(ctl(AS_NOBODY, ARGS("bind", "--hold", "--name", "web", "--address", "127.0.0.1", "0")), 0);
        ck_assert_int_eq(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "workers", "--address", "127.0.0.1",
                                             "0")),
                         0);

        /* Root's requests work as if nobody had not: its own ports, not nobody's sockets. */
        expect(ctl(AS_ROOT, ARGS("bind", "--hold", "--name", "web", "--address", "127.0.0.1", "8081")), 0,
               "ipv4 stream 127.0.0.1 8081\n", "");
        expect(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "workers", "--address", "127.0.0.1", "8082")), 0,
               "ipv4 stream 127.0.0.1 8082\n", "");
        /* And again: root's held name and root's group. */
        expect(ctl(AS_ROOT, ARGS("bind", "--hold", "--name", "web", "--address", "127.0.0.1", "8081")), 0,
               "ipv4 stream 127.0.0.1 8081\n", "");
        expect(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "workers", "--address", "127.0.0.1", "8082")), 0,
               "ipv4 stream 127.0.0.1 8082\n", "");

        /* Each releases its own. */
        expect(ctl(AS_ROOT, ARGS("hold", "release", "web")), 0, "", "");
        expect(ctl(AS_ROOT, ARGS("hold", "release", "workers")), 0, "", "");
        expect(ctl(AS_NOBODY, ARGS("hold", "release", "web")), 0, "", "");
        expect(ctl(AS_NOBODY, ARGS("hold", "release", "workers")), 0, "", "");
        attack_assert_healthy();
}
END_TEST

START_TEST(test_a_group_join_must_match_the_groups_address_and_port) {
        char *conf = test_write_config("[Policy]\nAllowBind=user:nobody tcp:8090-8091\n");
        const char *extra[] = { "--config", conf, NULL };

        attack_start_daemon(extra);
        unlink(conf);
        expect(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 0,
               "ipv4 stream 127.0.0.1 8090\n", "");
        /* Another port, another address: refused in words, not the group's port instead. */
        expect(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8091")), 1, "",
               "netutilctl: The reuseport group 'G' of uid 0 is on 127.0.0.1 port 8090, and this request asks for "
               "another port: a member has the group's protocol, address and port\n");
        expect(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.2", "8090")), 1, "",
               "netutilctl: The reuseport group 'G' of uid 0 is on 127.0.0.1 port 8090, and this request asks for "
               "another address: a member has the group's protocol, address and port\n");
        expect(ctl(AS_ROOT, ARGS("bind", "--reuse-port", "--name", "G", "8090")), 1, "",
               "netutilctl: The reuseport group 'G' of uid 0 is on 127.0.0.1 port 8090, and this request asks for "
               "another address: a member has the group's protocol, address and port\n");
        /* The group's own address and port, or port 0 (the group's), join. */
        expect(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "8090")), 0,
               "ipv4 stream 127.0.0.1 8090\n", "");
        expect(ctl(AS_NOBODY, ARGS("bind", "--reuse-port", "--name", "G", "--address", "127.0.0.1", "0")), 0,
               "ipv4 stream 127.0.0.1 8090\n", "");
        expect(ctl(AS_ROOT, ARGS("hold", "release", "G")), 0, "", "");
        attack_assert_healthy();
}
END_TEST

/* ---- item 11: names are text -------------------------------------------------------- */

typedef struct BadName {
        const char *what; /* the row's behaviour */
        const char *const *args;
        const char *want_err;
} BadName;

START_TEST(test_names_with_control_bytes_or_bad_utf8_are_refused_in_words) {
        const BadName rows[] = {
                { "host with ESC[31m",
                  ARGS("override", "set", "--scope", "s", "evil\x1b[31m", "10.0.0.1"),
                  "netutilctl: Invalid host: it contains the control character U+001B at byte 4; names are "
                  "printable UTF-8 text\n" },
                { "host with 0xff",
                  ARGS("override", "set", "--scope", "s", "\xff", "10.0.0.1"),
                  "netutilctl: Invalid host: it is not valid UTF-8 at byte 0 (0xff); names are printable UTF-8 "
                  "text\n" },
                { "target with a C1 control (CSI as UTF-8)",
                  ARGS("override", "set", "--scope", "s", "ok.test", "a\xc2\x9b" "31m"),
                  "netutilctl: Invalid target: it contains the control character U+009B at byte 1; names are "
                  "printable UTF-8 text\n" },
                { "scope with DEL",
                  ARGS("override", "set", "--scope", "s\x7f", "ok.test", "10.0.0.1"),
                  "netutilctl: Invalid scope name: it contains the control character U+007F at byte 1; names are "
                  "printable UTF-8 text\n" },
                { "overlong UTF-8 in a global rule",
                  ARGS("override", "del", "\xc0\xaf"),
                  "netutilctl: Invalid host: it is not valid UTF-8 at byte 0 (0xc0); names are printable UTF-8 "
                  "text\n" },
                { "resolve of a host with ESC",
                  ARGS("resolve", "evil\x1b[2J"),
                  "netutilctl: Invalid host: it contains the control character U+001B at byte 4; names are "
                  "printable UTF-8 text\n" },
                { "held name with ESC",
                  ARGS("bind", "--hold", "--name", "w\x1b[31m", "--address", "127.0.0.1", "0"),
                  "netutilctl: Invalid name: byte 1 (0x1b) is not printable ASCII; only printable ASCII without "
                  "spaces or ':' is allowed\n" },
        };

        attack_setup();
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                int r = ctl(AS_NOBODY, rows[i].args);

                ck_assert_msg(r == 1 && strcmp(err, rows[i].want_err) == 0, "%s: exit %d, stderr '%s'", rows[i].what,
                              r, err);
        }
        /* Nothing of it was kept. */
        expect(ctl(AS_ROOT, ARGS("--json", "override", "list", "--scope", "s")), 0, "{\"overrides\": []}\n", "");
        attack_assert_healthy();
}
END_TEST

/* netutilctl's own escaping, whatever a daemon sends: text and JSON. */
START_TEST(test_cli_escapes_control_bytes_and_bad_utf8) {
        static const char input[] = "evil\x1b[31m \xff \xc2\x9b \x7f \\ \"q\" caf\xc3\xa9\n";
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(f);
        text_fputs_escaped(input, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_str_eq(buf, "evil\\x1b[31m \\xff \\xc2\\x9b \\x7f \\\\ \"q\" caf\xc3\xa9\\x0a");
        free(buf);

        buf = NULL;
        f = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(f);
        {
                JsonWriter w = { .f = f };

                json_begin_object(&w, NULL);
                json_string(&w, "host", input);
                json_end_object(&w);
                json_finish(&w);
        }
        ck_assert_int_eq(fclose(f), 0);
        /* Valid JSON, valid UTF-8: controls as \u escapes, the bad byte as U+FFFD. */
        ck_assert_str_eq(buf, "{\"host\": \"evil\\u001b[31m \\ufffd \\u009b \\u007f \\\\ \\\"q\\\" caf\xc3\xa9\\n\"}\n");
        buf[strlen(buf) - 1] = '\0'; /* json_finish()'s newline */
        ck_assert_int_eq(text_check(buf, (char[96]){}, 96), 0);
        free(buf);
}
END_TEST

/* ---- item 12: keyed hash tables ----------------------------------------------------- */

START_TEST(test_siphash_matches_the_reference_and_the_key_differs_per_process) {
        const HashKey key = { .k0 = 0x0706050403020100ULL, .k1 = 0x0f0e0d0c0b0a0908ULL };
        uint8_t msg[15];
        uint64_t h[2];
        int p[2];

        /* The paper's Appendix A vector, and the first of its reference list (empty input). */
        for (unsigned i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t) i;
        ck_assert_uint_eq(hash_bytes(&key, msg, sizeof(msg)), 0xa129ca6149be45e5ULL);
        ck_assert_uint_eq(hash_bytes(&key, msg, 0), 0x726fdb47dd0e0e31ULL);
        /* Incremental and one-shot agree, whatever the pieces. */
        {
                HashState s;

                hash_init(&s, &key);
                hash_add(&s, msg, 3);
                hash_add(&s, msg + 3, 9);
                hash_add(&s, msg + 12, 3);
                ck_assert_uint_eq(hash_final(&s), 0xa129ca6149be45e5ULL);
        }
        /* Two processes (two daemon runs) hash one name differently. */
        ck_assert_int_eq(pipe(p), 0);
        for (int i = 0; i < 2; i++) {
                pid_t pid = fork();

                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        uint64_t v = hash_bytes(hash_process_key(), "api.internal", 12);
                        _exit(write(p[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
                }
                ck_assert_int_eq(read(p[0], &h[i], sizeof(h[i])), (ssize_t) sizeof(h[i]));
                waitpid(pid, NULL, 0);
        }
        ck_assert_msg(h[0] != h[1], "two processes share a hash key");
}
END_TEST

/* The override table's hash before the fix: FNV-1a 64 over the host, then the port and the
 * family as 32-bit values (OVERRIDE_ANY, -1, for a host-only rule). Buckets are a power of
 * two (16, doubled at 2 rules per bucket), so equal low bits mean one bucket at every size. */
static uint64_t old_fnv_state(uint64_t h, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return h;
}

static uint64_t old_fnv_finish(uint64_t h) {
        h = (h ^ 0xffffffffULL) * 1099511628211ULL;
        return (h ^ 0xffffffffULL) * 1099511628211ULL;
}

/* Rules nobody sets (its per-uid quota is 100 000): enough that a walk of one chain costs
 * several times a round trip. The table then has 16384 buckets: 14 bits collide. */
#define FLOOD_RULES 20000
#define COLLIDE_MASK 0x3fffULL
#define LOOKUPS 4000

/* The i-th name whose old hash has low bits equal to those of "c0aa" (i counts every such
 * name found from the start), found by trying two-letter suffixes after a counter. */
static void colliding_names(char (*names)[24], size_t n) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        uint64_t want = old_fnv_finish(old_fnv_state(1469598103934665603ULL, "c0aa")) & COLLIDE_MASK;
        size_t k = 0;

        for (unsigned prefix = 0; k < n; prefix++) {
                char p[16];
                uint64_t base;

                snprintf(p, sizeof(p), "c%u", prefix);
                base = old_fnv_state(1469598103934665603ULL, p);
                for (unsigned a = 0; a < sizeof(alphabet) - 1 && k < n; a++)
                        for (unsigned b = 0; b < sizeof(alphabet) - 1 && k < n; b++) {
                                uint64_t h = ((base ^ (uint8_t) alphabet[a]) * 1099511628211ULL ^
                                              (uint8_t) alphabet[b]) *
                                             1099511628211ULL;

                                if ((old_fnv_finish(h) & COLLIDE_MASK) == want)
                                        snprintf(names[k++], sizeof(names[0]), "%s%c%c", p, alphabet[a], alphabet[b]);
                        }
        }
}

typedef struct Flood {
        char (*names)[24];
        size_t n;
        bool set;          /* OVERRIDE_SET with a TTL, or RESOLVE with OVERRIDE_ONLY */
        const char *scope;
} Flood;

/* Sends one request per name, up to a window ahead of the replies, and checks every reply:
 * 0 for a set, ENOENT (no rule) for a lookup. */
static void flood_child(void *arg) {
        const Flood *f = arg;
        int fd = attack_connect();
        size_t sent = 0, answered = 0;

        while (answered < f->n) {
                while (sent < f->n && sent - answered < 64) {
                        ProtoMsg *m = NULL;
                        int r = proto_msg_new(f->set ? PROTO_MSG_OVERRIDE_SET : PROTO_MSG_RESOLVE, (uint32_t) sent + 1,
                                              &m);

                        ATTACK_CHECK(r >= 0, "proto_msg_new: %s", strerror(-r));
                        if (f->set)
                                r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, f->scope) < 0 ||
                                    proto_msg_append_string(m, PROTO_ATTR_HOST, f->names[sent]) < 0 ||
                                    proto_msg_append_string(m, PROTO_ATTR_TARGET, "10.0.0.1") < 0 ||
                                    proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, 3600ULL * 1000000) < 0;
                        else
                                r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, f->scope) < 0 ||
                                    proto_msg_append_string(m, PROTO_ATTR_HOST, f->names[sent]) < 0 ||
                                    proto_msg_append_u32(m, PROTO_ATTR_OVERRIDE_ONLY, 1) < 0;
                        ATTACK_CHECK(r == 0, "building request %zu", sent);
                        r = proto_send(fd, m);
                        proto_msg_free(m);
                        ATTACK_CHECK(r >= 0, "send: %s", strerror(-r));
                        sent++;
                }
                {
                        int status = -1, r;
                        char msg[256];

                        r = test_raw_reply(fd, 60000, &status, NULL, msg, sizeof(msg));
                        ATTACK_CHECK(r >= 1, "reply %zu: %s", answered, strerror(-r));
                        ATTACK_CHECK(status == (f->set ? 0 : ENOENT), "reply %zu: status %d (%s)", answered, status,
                                     msg);
                        answered++;
                }
        }
        close(fd);
}

/* CPU time the daemon has used so far, in ns. */
static long long daemon_cpu_ns(void) {
        clockid_t clk;
        struct timespec ts;

        ck_assert_int_eq(clock_getcpuclockid(attack_daemon.pid, &clk), 0);
        ck_assert_int_eq(clock_gettime(clk, &ts), 0);
        return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Daemon CPU for LOOKUPS lookups by nobody of names (none has a rule) through its scope. */
static long long lookups_cpu_ns(char (*names)[24], const char *scope) {
        Flood f = { .names = names, .n = LOOKUPS, .set = false, .scope = scope };
        long long before = daemon_cpu_ns();

        attack_run_as(ATTACK_NOBODY, flood_child, &f, 300);
        return daemon_cpu_ns() - before;
}

START_TEST(test_keys_colliding_under_fnv_do_not_slow_lookups) {
        char(*names)[24] = calloc(FLOOD_RULES + LOOKUPS, sizeof(*names));
        char(*plain)[24] = calloc(LOOKUPS, sizeof(*plain));
        Flood set = { .names = names, .n = FLOOD_RULES, .set = true, .scope = "flood" };
        long long colliding, control;

        ck_assert_ptr_nonnull(names);
        ck_assert_ptr_nonnull(plain);
        /* FLOOD_RULES names for the table, and LOOKUPS more in the same bucket that have no
         * rule: each lookup of one walks the whole chain if the hash is FNV-1a. */
        colliding_names(names, FLOOD_RULES + LOOKUPS);
        for (size_t i = 0; i < LOOKUPS; i++)
                snprintf(plain[i], sizeof(plain[i]), "p%zu.example", i);

        attack_setup();
        attack_run_as(ATTACK_NOBODY, flood_child, &set, 600);
        /* Lookups that miss in nobody's scope, colliding or not: the event loop's time, which
         * every other uid waits for. With a keyed hash both cost a round trip; with FNV-1a
         * each colliding one walks the rules of its bucket. */
        control = lookups_cpu_ns(plain, "flood");
        colliding = lookups_cpu_ns(names + FLOOD_RULES, "flood");
        fprintf(stderr, "%d lookups through a table of %d rules: colliding names %lld ms, others %lld ms of daemon CPU\n",
                LOOKUPS, FLOOD_RULES, colliding / 1000000, control / 1000000);
        ck_assert_msg(colliding < 2 * control + 50000000LL,
                      "%d lookups of colliding names cost the daemon %lld ms of CPU, of other names %lld ms",
                      LOOKUPS, colliding / 1000000, control / 1000000);
        free(names);
        free(plain);
        attack_assert_status_answered(ATTACK_OTHER, 30000);
        /* Past 16 384 rules the daemon keeps no rules file (nor its fd): clear them first. */
        ck_assert_int_eq(test_ctl(attack_daemon.socket, NULL,
                                  (const char *[]){"override", "clear", "--scope", "flood", NULL}, out, sizeof(out),
                                  err, sizeof(err)),
                         0);
        attack_assert_healthy();
}
END_TEST

void attacks_add_names(Suite *s) {
        TCase *tc = test_tcase_add(s, "names", 600, NULL, attack_teardown, NULL);

        tcase_add_test(tc, test_a_squatted_scope_does_not_steer_another_uid);
        tcase_add_test(tc, test_squatted_held_and_group_names_do_not_touch_roots_requests);
        tcase_add_test(tc, test_a_group_join_must_match_the_groups_address_and_port);
        tcase_add_test(tc, test_names_with_control_bytes_or_bad_utf8_are_refused_in_words);
        tcase_add_test(tc, test_cli_escapes_control_bytes_and_bad_utf8);
        tcase_add_test(tc, test_siphash_matches_the_reference_and_the_key_differs_per_process);
        tcase_add_test(tc, test_keys_colliding_under_fnv_do_not_slow_lookups);
}
