/* SPDX-License-Identifier: MIT */

/*
 * The attack suite's runner and shared fixtures (attacks.h). Owns the daemon of each test,
 * the children that drop to a hostile uid and the "others are still served" checks; the
 * attacks themselves are in attacks-*.c, one file per area of issue 13.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attacks.h"
#include "netutil-proto.h"
#include "testlib.h"

TestDaemon attack_daemon;
int attack_baseline_fds;

void attack_start_daemon(const char *const *extra_args) {
        test_enter_netns();
        test_cloexec_fds_from_3();
        attack_baseline_fds = test_daemon_start_for_any_user(&attack_daemon, extra_args);
}

void attack_start_daemon_logged(const char *const *extra_args, const char *log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), saved = fcntl(2, F_DUPFD_CLOEXEC, 3);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(fd, 2), 2);
        attack_start_daemon(extra_args);
        dup2(saved, 2);
        close(saved);
        close(fd);
}

int attack_count_in_file(const char *path, const char *needle) {
        static char text[1 << 20];
        int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
        ssize_t len;

        ck_assert_int_ge(fd, 0);
        len = read(fd, text, sizeof(text) - 1);
        close(fd);
        ck_assert_int_ge(len, 0);
        text[len] = '\0';
        for (const char *p = text; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

void attack_setup(void) {
        attack_start_daemon(NULL);
}

void attack_teardown(void) {
        test_daemon_kill(&attack_daemon);
}

pid_t attack_spawn_as(uid_t uid, void (*fn)(void *), void *arg) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                ATTACK_CHECK(setgroups(0, NULL) == 0 && setresgid(uid, uid, uid) == 0 && setresuid(uid, uid, uid) == 0,
                             "dropping to uid %u: %s", (unsigned) uid, strerror(errno));
                fn(arg);
                _exit(0);
        }
        return pid;
}

void attack_wait_child(pid_t pid, int timeout_s) {
        long long deadline = test_now_ms() + timeout_s * 1000LL;
        int status = 0;
        pid_t w;

        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && test_now_ms() < deadline)
                usleep(10000);
        if (w == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                ck_abort_msg("the attacking child did not finish within %d s", timeout_s);
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "attacking child failed, wait status 0x%x",
                      status);
}

void attack_run_as(uid_t uid, void (*fn)(void *), void *arg, int timeout_s) {
        attack_wait_child(attack_spawn_as(uid, fn, arg), timeout_s);
}

int attack_connect(void) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        ATTACK_CHECK(fd >= 0, "socket: %s", strerror(errno));
        ATTACK_CHECK(strlen(attack_daemon.socket) < sizeof(sa.sun_path), "socket path too long");
        memcpy(sa.sun_path, attack_daemon.socket, strlen(attack_daemon.socket));
        ATTACK_CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
        return fd;
}

typedef struct StatusProbe {
        int timeout_ms;
} StatusProbe;

/* A STATUS round trip on a new connection; fails the child if no good reply comes in time. */
static void status_probe(void *arg) {
        const StatusProbe *p = arg;
        uint8_t buf[PROTO_HEADER_SIZE];
        ProtoHeader h = {.version = PROTO_VERSION, .type = PROTO_MSG_STATUS, .serial = 4242};
        unsigned serial = 0;
        int fd = attack_connect(), status = -1, r;
        char msg[256];

        memcpy(buf, &h, sizeof(h));
        ATTACK_CHECK(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0) == 0, "send STATUS: %s", strerror(errno));
        r = test_raw_reply(fd, p->timeout_ms, &status, &serial, msg, sizeof(msg));
        ATTACK_CHECK(r >= 1, "STATUS not answered within %d ms: %s", p->timeout_ms, strerror(-r));
        ATTACK_CHECK(status == 0 && serial == 4242, "STATUS answered %d (%s), serial %u", status, msg, serial);
        close(fd);
}

long long attack_assert_status_answered(uid_t uid, int timeout_ms) {
        StatusProbe p = {.timeout_ms = timeout_ms};
        long long start = test_now_ms();

        if (uid == 0) {
                pid_t pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        status_probe(&p);
                        _exit(0);
                }
                attack_wait_child(pid, timeout_ms / 1000 + 10);
        } else
                attack_run_as(uid, status_probe, &p, timeout_ms / 1000 + 10);
        return test_now_ms() - start;
}

void attack_assert_healthy(void) {
        (void) attack_assert_status_answered(0, 10000);
        test_daemon_assert_fds(&attack_daemon, attack_baseline_fds, attack_baseline_fds);
}

int main(void) {
        Suite *s = suite_create("attacks");

        if (geteuid() != 0) {
                fprintf(stderr, "check-attacks needs root (network namespaces, other uids); skipped.\n");
                return 77;
        }
        attacks_add_conns(s);
        attacks_add_names(s);
        attacks_add_workers(s);
        attacks_add_persist(s);
        attacks_add_sockets(s);
        attacks_add_index(s);
        attacks_add_fds(s);
        attacks_add_replies(s);
        return test_run_suite(s, true);
}
