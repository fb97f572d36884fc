/* SPDX-License-Identifier: MIT */

/*
 * Attacks on the daemon's memory through replies (issue 13, item 4): a client that asks for
 * long lists and never reads them. Before the fix nobody filled its scope with 5 000 rules,
 * pipelined 120 OVERRIDE_LIST and the daemon grew from 8 MB to 396 MB, each list built
 * whole. Now a connection's queued reply bytes are capped (MaxReplyBytesPerConnection=,
 * MaxReplyBytesPerUser=), reading stops at the cap and long lists are built in parts as the
 * socket drains. Also here: what a reader of a list built in parts sees while the table
 * changes, and a reader that leaves in the middle.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attacks.h"
#include "macro.h"
#include "netutil-proto.h"
#include "testlib.h"

/* The attack: 5 000 rules, 120 lists. */
#define BIG_RULES 5000u
#define BIG_LISTS 120u
/* Each rule's host and target are long, so that one list is some 2.6 MB (the lists
 * were longer still: it is the 120 of them that cost 300 MB). */
#define LONG_LABEL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* Rules set with a TTL: no state file to write 5 000 times. */
#define RULE_TTL_USEC (3600ULL * 1000 * 1000)
/* What the daemon may grow by while nobody's 120 lists wait: the per-uid cap (4 MiB by
 * default) and the per-connection one (1 MiB), a part being filled (64 KiB) and 120 small
 * listing records, with room for the allocator's slack. Without the caps it is 300 MB. */
#define RSS_GROWTH_MAX_KIB (24 * 1024)

static ProtoRecv recv_buf; /* 64 KiB: not on the stack */

void attack_rule_host(char *buf, size_t len, unsigned i) {
        snprintf(buf, len, "h%05u." LONG_LABEL "." LONG_LABEL "." LONG_LABEL ".test", i);
}

static void rule_target(char *buf, size_t len, unsigned i) {
        snprintf(buf, len, "t%05u." LONG_LABEL "." LONG_LABEL "." LONG_LABEL ".test", i);
}

static ProtoMsg *override_msg(uint16_t type, uint32_t serial, const char *scope, const char *host,
                              const char *target) {
        ProtoMsg *m = NULL;

        ATTACK_CHECK(proto_msg_new(type, serial, &m) == 0, "proto_msg_new");
        ATTACK_CHECK(!scope || proto_msg_append_string(m, PROTO_ATTR_SCOPE, scope) == 0, "scope");
        ATTACK_CHECK(!host || proto_msg_append_string(m, PROTO_ATTR_HOST, host) == 0, "host");
        if (target) {
                ATTACK_CHECK(proto_msg_append_string(m, PROTO_ATTR_TARGET, target) == 0, "target");
                ATTACK_CHECK(proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, RULE_TTL_USEC) == 0, "ttl");
        }
        return m;
}

/* Sends m on fd (blocking) and frees it. */
static void send_msg(int fd, ProtoMsg *m) {
        int r = proto_send(fd, m);

        ATTACK_CHECK(r == 0, "send: %s", strerror(-r));
        proto_msg_free(m);
}

/* Expects a success reply without parts. */
static void expect_ok(int fd, const char *what) {
        char msg[PROTO_MAX_ERROR_MESSAGE] = "";
        int status = -1, r;

        r = test_raw_reply(fd, 30000, &status, NULL, msg, sizeof(msg));
        ATTACK_CHECK(r == 1 && status == 0, "%s: %d, status %d (%s)", what, r, status, msg);
}

void attack_set_rule(int fd, const char *scope, unsigned i, const char *target) {
        char host[256], t[256];

        attack_rule_host(host, sizeof(host), i);
        if (!target) {
                rule_target(t, sizeof(t), i);
                target = t;
        }
        send_msg(fd, override_msg(PROTO_MSG_OVERRIDE_SET, i + 1, scope, host, target));
        expect_ok(fd, "OVERRIDE_SET");
}

void attack_fill_scope(int fd, const char *scope, unsigned n) {
        /* Pipelined 64 at a time: 5 000 round trips would take long under load. */
        for (unsigned i = 0; i < n; i += 64) {
                unsigned k = MIN(64u, n - i);
                for (unsigned j = 0; j < k; j++) {
                        char host[256], target[256];
                        attack_rule_host(host, sizeof(host), i + j);
                        rule_target(target, sizeof(target), i + j);
                        send_msg(fd, override_msg(PROTO_MSG_OVERRIDE_SET, i + j + 1, scope, host, target));
                }
                for (unsigned j = 0; j < k; j++)
                        expect_ok(fd, "OVERRIDE_SET");
        }
}

void attack_send_list(int fd, const char *scope, uint32_t serial) {
        send_msg(fd, override_msg(PROTO_MSG_OVERRIDE_LIST, serial, scope, NULL, NULL));
}

/* A list as read back: the index of each item's host (h%05u) and its target's. */
typedef struct Listed {
        unsigned n, parts;
        unsigned host[BIG_RULES + 16];
        unsigned target[BIG_RULES + 16];
} Listed;

/* Reads one part of the list with serial into l; returns whether more parts follow. */
static bool read_part(int fd, uint32_t serial, Listed *l) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ProtoView v;
        ProtoIter it;
        ProtoAttr a;
        ssize_t n;

        ATTACK_CHECK(poll(&p, 1, 30000) == 1, "no part within 30 s");
        n = proto_recv(fd, &recv_buf);
        ATTACK_CHECK(n > 0, "recv: %zd", n);
        ATTACK_CHECK(proto_parse(recv_buf.buf, (size_t) n, &v) == 0, "malformed part");
        ATTACK_CHECK(v.header.serial == serial && v.header.status == 0, "part of serial %u, status %d",
                     v.header.serial, v.header.status);
        l->parts++;
        for (proto_iter_init(&it, &v); proto_iter_next(&it, &a);) {
                ProtoView item;
                const char *host = NULL, *target = NULL;
                unsigned hi, ti;

                if (a.type != PROTO_ATTR_ITEM)
                        continue;
                ATTACK_CHECK(proto_attr_nested(&a, &item) == 0, "item");
                ATTACK_CHECK(proto_get_string(&item, PROTO_ATTR_HOST, &host) == 0 &&
                                     proto_get_string(&item, PROTO_ATTR_TARGET, &target) == 0,
                             "item without host or target");
                ATTACK_CHECK(sscanf(host, "h%05u.", &hi) == 1, "host '%s'", host);
                ti = sscanf(target, "t%05u.", &ti) == 1 ? ti : UINT32_MAX;
                ATTACK_CHECK(l->n < ELEMENTSOF(l->host), "more items than rules");
                l->host[l->n] = hi;
                l->target[l->n] = ti;
                l->n++;
        }
        return v.header.flags & PROTO_FLAG_MORE;
}

static void read_rest(int fd, uint32_t serial, Listed *l) {
        while (read_part(fd, serial, l))
                ;
}

/* Each item once, oldest rule first: the hosts' numbers rise. */
static void check_order(const Listed *l) {
        for (unsigned i = 1; i < l->n; i++)
                ATTACK_CHECK(l->host[i] > l->host[i - 1], "item %u (h%05u) after h%05u", i, l->host[i],
                             l->host[i - 1]);
}

/* ---- nobody never reads its lists ------------------------------------------------------ */

/* Who caps what: the attack (one connection, 120 lists) meets the per-connection cap;
 * the same lists over 8 connections, with a per-connection cap too large to matter, meet the
 * per-uid one. */
static const struct HoardCase {
        const char *name;
        const char *config;
        unsigned conns;
} hoard_cases[] = {
        {"120 lists on one connection", NULL, 1},
        {"120 lists over 8 connections", "[Daemon]\nMaxReplyBytesPerConnection=1G\nMaxReplyBytesPerUser=1M\n",
         8},
};

typedef struct Hoard {
        unsigned conns;
        int report, go, parent_ends[2];
} Hoard;

static void report(int fd, char c) {
        ATTACK_CHECK(write(fd, &c, 1) == 1, "report: %s", strerror(errno));
}

static void hoard_child(void *arg) {
        const Hoard *h = arg;
        int fds[8];
        char c;

        close(h->parent_ends[0]);
        close(h->parent_ends[1]);
        for (unsigned i = 0; i < h->conns; i++)
                fds[i] = attack_connect();
        attack_fill_scope(fds[0], "hoard", BIG_RULES);
        report(h->report, 'r'); /* rules set: the parent measures */
        ATTACK_CHECK(read(h->go, &c, 1) == 1, "wait");
        for (unsigned i = 0; i < BIG_LISTS; i++)
                attack_send_list(fds[i % h->conns], "hoard", 1000 + i);
        report(h->report, 'l');
        /* Never read; hold everything until told to go. */
        ATTACK_CHECK(read(h->go, &c, 1) >= 0, "wait");
}

START_TEST(test_unread_lists_cost_at_most_the_cap) {
        const struct HoardCase *k = &hoard_cases[_i];
        char *conf = k->config ? test_write_config(k->config) : NULL;
        const char *extra[] = {"--config", conf, NULL};
        int rep[2], go[2];
        long rss0, peak = 0, rss;
        pid_t pid;
        Hoard h;
        char c;

        attack_start_daemon(conf ? extra : NULL);
        if (conf)
                unlink(conf);
        ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        h = (Hoard){.conns = k->conns, .report = rep[1], .go = go[0], .parent_ends = {rep[0], go[1]}};
        pid = attack_spawn_as(ATTACK_NOBODY, hoard_child, &h);
        close(rep[1]);
        close(go[0]);
        ck_assert_msg(read(rep[0], &c, 1) == 1 && c == 'r', "nobody could not set its rules");
        rss0 = test_rss_kib(attack_daemon.pid);
        ck_assert_int_gt(rss0, 0);
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        ck_assert_msg(read(rep[0], &c, 1) == 1 && c == 'l', "nobody could not send its lists");

        /* Another uid is served while nobody's lists wait. */
        attack_assert_status_answered(ATTACK_OTHER, 30000);
        /* The daemon reads and builds only up to the caps, however long one waits: watch it
         * until its size holds still for a second (without the caps it grows by 300 MB, list
         * after list, first). */
        for (int i = 0, same = 0; i < 300 && same < 10; i++) {
                rss = test_rss_kib(attack_daemon.pid);
                same = rss == peak ? same + 1 : 0;
                peak = MAX(peak, rss);
                usleep(100000);
        }
        ck_assert_msg(peak - rss0 < RSS_GROWTH_MAX_KIB, "%s: the daemon grew from %ld KiB to %ld KiB",
                      k->name, rss0, peak);
        fprintf(stderr, "unread lists: daemon RSS %ld KiB with 5000 rules, at most %ld KiB with %s unread\n",
                rss0, peak, k->name);

        /* nobody leaves: its connection, and what was queued for it, go. */
        close(go[1]);
        attack_wait_child(pid, 60);
        close(rep[0]);
        attack_assert_healthy();
}
END_TEST

/* ---- A reader gets the whole list, in parts -------------------------------------------- */

static void reader_child(void *arg) {
        static Listed l;
        int fd = attack_connect();

        (void) arg;
        attack_fill_scope(fd, "read", BIG_RULES);
        attack_send_list(fd, "read", 77);
        read_rest(fd, 77, &l);
        ATTACK_CHECK(l.n == BIG_RULES, "%u items of %u", l.n, BIG_RULES);
        check_order(&l);
        for (unsigned i = 0; i < l.n; i++)
                ATTACK_CHECK(l.host[i] == i && l.target[i] == i, "item %u: h%05u -> t%05u", i, l.host[i],
                             l.target[i]);
        /* The parts are full datagrams, as when a list was built whole. */
        ATTACK_CHECK(l.parts > 1 && l.parts <= 2 * BIG_RULES * 540 / PROTO_MAX_MSG, "%u parts", l.parts);
        close(fd);
}

START_TEST(test_a_reader_gets_the_whole_list_in_parts) {
        attack_start_daemon(NULL);
        attack_run_as(ATTACK_NOBODY, reader_child, NULL, 120);
        attack_assert_healthy();
}
END_TEST

/* ---- The table changes while a list is being built --------------------------------------- */

static void changes_child(void *arg) {
        static Listed l;
        int a = attack_connect(), b = attack_connect(), c = attack_connect();
        static Listed lc;

        (void) arg;
        attack_fill_scope(b, "moving", BIG_RULES);
        /* a and c start lists and read one part each: the daemon built a megabyte or so of
         * each (the cap, and what the socket holds), far from their last rules. */
        attack_send_list(a, "moving", 1);
        attack_send_list(c, "moving", 2);
        ATTACK_CHECK(read_part(a, 1, &l), "a list of 5000 rules in one part");
        ATTACK_CHECK(read_part(c, 2, &lc), "a list of 5000 rules in one part");
        /* Meanwhile: the first rule (already sent) and the last (not yet built) go, a rule
         * is set anew, and one not yet built changes its target. */
        {
                char host[256];
                attack_rule_host(host, sizeof(host), 0);
                send_msg(b, override_msg(PROTO_MSG_OVERRIDE_DEL, 2, "moving", host, NULL));
                expect_ok(b, "OVERRIDE_DEL h00000");
                attack_rule_host(host, sizeof(host), BIG_RULES - 1);
                send_msg(b, override_msg(PROTO_MSG_OVERRIDE_DEL, 3, "moving", host, NULL));
                expect_ok(b, "OVERRIDE_DEL h04999");
        }
        attack_set_rule(b, "moving", BIG_RULES, NULL);
        attack_set_rule(b, "moving", 0, NULL); /* gone and set again: a new rule */
        attack_set_rule(b, "moving", BIG_RULES - 2, "t99999.test");
        /* a reads the rest: the rules of when it began, still there, each once, in order;
         * h00000 was sent before it went; the new ones are not shown. */
        read_rest(a, 1, &l);
        check_order(&l);
        ATTACK_CHECK(l.n == BIG_RULES - 1, "%u items", l.n);
        ATTACK_CHECK(l.host[0] == 0 && l.target[0] == 0, "first item h%05u", l.host[0]);
        ATTACK_CHECK(l.host[l.n - 1] == BIG_RULES - 2 && l.target[l.n - 1] == 99999,
                     "last item h%05u -> t%05u", l.host[l.n - 1], l.target[l.n - 1]);
        /* The whole scope goes while c is in the middle: its list just ends, in order. */
        send_msg(b, override_msg(PROTO_MSG_OVERRIDE_CLEAR, 9, "moving", NULL, NULL));
        expect_ok(b, "OVERRIDE_CLEAR");
        read_rest(c, 2, &lc);
        check_order(&lc);
        ATTACK_CHECK(lc.n < BIG_RULES, "%u items after the scope was cleared", lc.n);
        close(a);
        close(b);
        close(c);
}

START_TEST(test_a_list_stays_consistent_while_its_table_changes) {
        attack_start_daemon(NULL);
        attack_run_as(ATTACK_NOBODY, changes_child, NULL, 120);
        attack_assert_healthy();
}
END_TEST

/* ---- A reader leaves in the middle ---------------------------------------------------- */

static void leaver_child(void *arg) {
        static Listed l;
        int a = attack_connect(), b = attack_connect();

        (void) arg;
        attack_fill_scope(b, "left", BIG_RULES);
        for (unsigned i = 0; i < 8; i++)
                attack_send_list(a, "left", 10 + i);
        ATTACK_CHECK(read_part(a, 10, &l), "a list of 5000 rules in one part");
        close(a);
        /* The daemon dropped the lists it was building, and serves the same uid on. */
        attack_send_list(b, "left", 20);
        memset(&l, 0, sizeof(l));
        read_rest(b, 20, &l);
        ATTACK_CHECK(l.n == BIG_RULES, "%u items", l.n);
        close(b);
}

START_TEST(test_a_reader_that_leaves_mid_list) {
        attack_start_daemon(NULL);
        attack_run_as(ATTACK_NOBODY, leaver_child, NULL, 120);
        attack_assert_healthy();
}
END_TEST

/* ---- HOLD_LIST in parts ---------------------------------------------------------------- */

/* Root holds 8 000 names (root has no quota): some 560 KB of HOLD_LIST, far more than the
 * test's 64 KiB per connection and what the socket holds. */
#define HELD_NAMES 8000u

static void hold_msg(int fd, uint16_t type, uint32_t serial, const char *name) {
        ProtoMsg *m = NULL;

        ck_assert_int_eq(proto_msg_new(type, serial, &m), 0);
        if (type == PROTO_MSG_BIND) {
                ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ADDRESS, "127.0.0.1"), 0);
                ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_SERVICE, "0"), 0);
                ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1), 0);
        }
        if (name)
                ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_NAME, name), 0);
        ck_assert_int_eq(proto_send(fd, m), 0);
        proto_msg_free(m);
}

/* Reads a HOLD_LIST part: checks each name is the next one expected (newest first) and
 * returns whether more parts follow. */
static bool read_hold_part(int fd, unsigned *next, unsigned *seen) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ProtoView v;
        ProtoIter it;
        ProtoAttr a;
        ssize_t n;

        ck_assert_int_eq(poll(&p, 1, 30000), 1);
        n = proto_recv(fd, &recv_buf);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(proto_parse(recv_buf.buf, (size_t) n, &v), 0);
        ck_assert_uint_eq(v.header.serial, 50000);
        ck_assert_int_eq(v.header.status, 0);
        for (proto_iter_init(&it, &v); proto_iter_next(&it, &a);) {
                ProtoView item;
                const char *name;
                char want[32];

                ck_assert_int_eq(proto_attr_nested(&a, &item), 0);
                ck_assert_int_eq(proto_get_string(&item, PROTO_ATTR_NAME, &name), 0);
                snprintf(want, sizeof(want), "held-%04u", *next);
                ck_assert_str_eq(name, want);
                --*next;
                ++*seen;
        }
        return v.header.flags & PROTO_FLAG_MORE;
}

START_TEST(test_hold_list_in_parts) {
        char *conf = test_write_config("[Daemon]\nMaxReplyBytesPerConnection=64K\n");
        const char *extra[] = {"--config", conf, NULL};
        unsigned next = HELD_NAMES - 1, seen = 0, parts = 1;
        int fd, status = -1;

        attack_start_daemon(extra);
        unlink(conf);
        fd = test_raw_connect(attack_daemon.socket);
        for (unsigned i = 0; i < HELD_NAMES; i += 64) {
                for (unsigned j = i; j < MIN(i + 64, HELD_NAMES); j++) {
                        char name[32];
                        snprintf(name, sizeof(name), "held-%04u", j);
                        hold_msg(fd, PROTO_MSG_BIND, j + 1, name);
                }
                for (unsigned j = i; j < MIN(i + 64, HELD_NAMES); j++)
                        ck_assert_msg(test_raw_reply(fd, 30000, &status, NULL, NULL, 0) >= 1 && status == 0,
                                      "BIND %u: status %d", j, status);
        }
        hold_msg(fd, PROTO_MSG_HOLD_LIST, 50000, NULL);
        ck_assert(read_hold_part(fd, &next, &seen));
        /* Newest first: held-7999 was sent, held-0000 is not built yet. Both go. */
        {
                int b = test_raw_connect(attack_daemon.socket);
                hold_msg(b, PROTO_MSG_HOLD_RELEASE, 1, "held-7999");
                ck_assert_int_eq(test_raw_reply(b, 30000, &status, NULL, NULL, 0), 1);
                ck_assert_int_eq(status, 0);
                hold_msg(b, PROTO_MSG_HOLD_RELEASE, 2, "held-0000");
                ck_assert_int_eq(test_raw_reply(b, 30000, &status, NULL, NULL, 0), 1);
                ck_assert_int_eq(status, 0);
                close(b);
        }
        /* The rest: each name still held once, in order, held-0000 not among them. */
        while (read_hold_part(fd, &next, &seen))
                parts++;
        parts++;
        ck_assert_uint_eq(seen, HELD_NAMES - 1);
        ck_assert_uint_eq(next, 0);
        ck_assert_uint_gt(parts, 2);
        close(fd);
}
END_TEST

void attacks_add_replies(Suite *s) {
        TCase *tc = test_tcase_add(s, "reply bytes", 300, NULL, attack_teardown, NULL);

        tcase_add_loop_test(tc, test_unread_lists_cost_at_most_the_cap, 0, (int) ELEMENTSOF(hoard_cases));
        tcase_add_test(tc, test_a_reader_gets_the_whole_list_in_parts);
        tcase_add_test(tc, test_a_list_stays_consistent_while_its_table_changes);
        tcase_add_test(tc, test_a_reader_that_leaves_mid_list);
        tcase_add_test(tc, test_hold_list_in_parts);
}
