/* SPDX-License-Identifier: MIT */

/*
 * Attacks on the connection slots (issue 13, item 6): one uid opening connections until
 * the daemon refuses it. Before the fix nobody held all 1024 places of the default
 * MaxClients and root, --takeover included, could no longer connect.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attacks.h"
#include "netutil-proto.h"
#include "testlib.h"

/* More than the default MaxClients (1024), so that a daemon without a per-user default is
 * seen to let one uid take every place. */
#define FLOOD_MAX 1100

typedef struct Flood {
        int report; /* write end: the number of connections the daemon served, then the refusal */
        int go;     /* read end: the child closes its connections when this becomes readable */
        int parent_ends[2]; /* the parent's ends, inherited by fork(): closed in the child */
} Flood;

/* Connects until refused, each connection checked with a STATUS round trip (so that the
 * daemon has counted it); reports the count and the refusal's words, then holds everything
 * until told to go. */
static void flood_child(void *arg) {
        const Flood *f = arg;
        struct rlimit rl = {.rlim_cur = FLOOD_MAX + 64, .rlim_max = FLOOD_MAX + 64};
        uint8_t buf[PROTO_HEADER_SIZE];
        ProtoHeader h = {.version = PROTO_VERSION, .type = PROTO_MSG_STATUS, .serial = 1};
        char msg[256] = "";
        int n = 0, status = 0;
        char c;

        close(f->parent_ends[0]);
        close(f->parent_ends[1]);
        memcpy(buf, &h, sizeof(h));
        (void) setrlimit(RLIMIT_NOFILE, &rl);
        for (; n < FLOOD_MAX; n++) {
                int fd = attack_connect(), r;

                ATTACK_CHECK(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0) == 0 || errno == EPIPE,
                             "send: %s", strerror(errno));
                r = test_raw_reply(fd, 30000, &status, NULL, msg, sizeof(msg));
                ATTACK_CHECK(r >= 1, "connection %d: no reply: %s", n, strerror(-r));
                if (status != 0) {
                        close(fd);
                        break;
                }
        }
        ATTACK_CHECK(write(f->report, &n, sizeof(n)) == sizeof(n), "report: %s", strerror(errno));
        ATTACK_CHECK(write(f->report, &status, sizeof(status)) == sizeof(status), "report: %s", strerror(errno));
        ATTACK_CHECK(write(f->report, msg, sizeof(msg)) == sizeof(msg), "report: %s", strerror(errno));
        ATTACK_CHECK(read(f->go, &c, 1) >= 0, "wait: %s", strerror(errno));
}

/* Starts flood_child as uid and reads its report; *ret_pid must be let go with *ret_go. */
static void flood(uid_t uid, int *ret_n, int *ret_status, char *msg, pid_t *ret_pid, int *ret_go) {
        int report[2], go[2];
        Flood f;

        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        f = (Flood){.report = report[1], .go = go[0], .parent_ends = {report[0], go[1]}};
        *ret_pid = attack_spawn_as(uid, flood_child, &f);
        close(report[1]);
        close(go[0]);
        ck_assert_msg(read(report[0], ret_n, sizeof(*ret_n)) == sizeof(*ret_n) &&
                              read(report[0], ret_status, sizeof(*ret_status)) == sizeof(*ret_status) &&
                              read(report[0], msg, 256) == 256,
                      "the flooding child failed before its report");
        close(report[0]);
        *ret_go = go[1];
}

static void flood_end(pid_t pid, int go) {
        close(go);
        attack_wait_child(pid, 60);
}

START_TEST(test_one_uid_cannot_take_every_slot) {
        char msg[256];
        int n, status, go;
        pid_t pid;

        attack_start_daemon(NULL);
        flood(ATTACK_NOBODY, &n, &status, msg, &pid, &go);
        /* The default MaxClientsPerUser=128 stops nobody, in words. */
        ck_assert_int_eq(n, 128);
        ck_assert_int_eq(status, EUSERS);
        ck_assert_str_eq(msg, "Too many clients of uid 65534 (MaxClientsPerUser=128)");
        /* While nobody holds its 128, another uid and root are served. */
        attack_assert_status_answered(ATTACK_OTHER, 30000);
        attack_assert_status_answered(0, 30000);
        flood_end(pid, go);
        attack_assert_healthy();
}
END_TEST

START_TEST(test_root_keeps_its_places) {
        char *conf = test_write_config("[Daemon]\nMaxClients=64\nMaxClientsPerUser=0\n");
        const char *extra[] = {"--config", conf, NULL};
        char msg[256];
        int n, status, go;
        pid_t pid;

        attack_start_daemon(extra);
        unlink(conf);
        /* Without a per-user limit nobody gets all but root's sixteenth. */
        flood(ATTACK_NOBODY, &n, &status, msg, &pid, &go);
        ck_assert_int_eq(n, 60);
        ck_assert_int_eq(status, EUSERS);
        ck_assert_str_eq(msg, "Too many clients (MaxClients=64, the last 4 kept for root)");
        /* Another ordinary uid is refused the same way; root is served. */
        {
                char out[512], err[512];
                ck_assert_int_eq(test_ctl(attack_daemon.socket,
                                          (const char *[]){"--reuid=1234", "--regid=1234", "--clear-groups", NULL},
                                          (const char *[]){"status", NULL}, out, sizeof(out), err, sizeof(err)),
                                 1);
                ck_assert_msg(strstr(err, "Too many clients (MaxClients=64, the last 4 kept for root)"), "%s", err);
        }
        attack_assert_status_answered(0, 30000);
        flood_end(pid, go);
        attack_assert_healthy();
}
END_TEST

void attacks_add_conns(Suite *s) {
        TCase *tc = test_tcase_add(s, "connection slots", 300, NULL, attack_teardown, NULL);

        tcase_add_test(tc, test_one_uid_cannot_take_every_slot);
        tcase_add_test(tc, test_root_keeps_its_places);
}
