/* SPDX-License-Identifier: MIT */

/*
 * Integration tests of the real netutild: start-up and READY=1, STATUS through netutilctl
 * and libnetutil (blocking and on sd-event), malformed input, disconnects, back-pressure,
 * the client limit, SIGHUP reload, SIGTERM, socket activation. Every test counts the
 * daemon's open fds before and after.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

static TestDaemon daemon_;
static int baseline_fds;

static void start_daemon(const char *const *extra) {
        ck_assert_int_eq(test_daemon_start(&daemon_, extra), 0);
        baseline_fds = test_daemon_steady_fds(&daemon_);
}

static void assert_fds_at_baseline(void) {
        test_daemon_assert_fds(&daemon_, baseline_fds, baseline_fds);
}

/* Waits up to 5 s for one reply and checks its serial and status; returns the message. */
static ProtoRecv *raw_expect(int fd, uint32_t serial, int status, const char *message_part) {
        static ProtoRecv rcv;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ProtoView v;
        const char *msg = NULL;
        ssize_t n;

        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        n = proto_recv(fd, &rcv);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(proto_parse(rcv.buf, (size_t) n, &v), 0);
        ck_assert_uint_eq(v.header.serial, serial);
        ck_assert_int_eq(v.header.status, status);
        ck_assert_uint_eq(rcv.n_fds, 0);
        if (message_part) {
                ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &msg), 0);
                ck_assert_msg(strstr(msg, message_part), "message '%s' lacks '%s'", msg, message_part);
        }
        return &rcv;
}

static void header_bytes(uint8_t *buf, uint8_t version, uint16_t type, uint32_t serial, uint32_t length) {
        ProtoHeader h = { .version = version, .type = type, .serial = serial, .length = length };
        memcpy(buf, &h, sizeof(h));
}

static void raw_status_ok(int fd, uint32_t serial) {
        uint8_t buf[PROTO_HEADER_SIZE];

        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, serial, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0), 0);
        raw_expect(fd, serial, 0, NULL);
}

static int ctl(const char *const *args, char *out, size_t outlen, char *err, size_t errlen) {
        return test_ctl(daemon_.socket, NULL, args, out, outlen, err, errlen);
}

/* ---- start-up, status, stop ---------------------------------------------------------- */

START_TEST(test_ready_then_status_text) {
        char out[4096], err[4096], want[64];

        start_daemon(NULL);
        ck_assert_int_eq(ctl((const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, "Version: netutild " PACKAGE_VERSION), "%s", out);
        snprintf(want, sizeof(want), "PID: %d (user mode)", (int) daemon_.pid);
        ck_assert_msg(strstr(out, want), "%s", out);
        ck_assert_msg(strstr(out, "Clients: 1 (max 1024)"), "%s", out);
        ck_assert_msg(strstr(out, "Resolver: threadpool"), "%s", out);
        ck_assert_str_eq(err, "");
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_status_json) {
        char out[4096], err[4096], want[64];

        start_daemon(NULL);
        ck_assert_int_eq(ctl((const char *[]) { "--json", "status", NULL }, out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strncmp(out, "{\"version\": \"" PACKAGE_VERSION "\", ", 15 + strlen(PACKAGE_VERSION)) == 0,
                      "%s", out);
        snprintf(want, sizeof(want), "\"pid\": %d, ", (int) daemon_.pid);
        ck_assert_msg(strstr(out, want), "%s", out);
        ck_assert_msg(strstr(out, "\"clients\": 1, \"held\": 0, \"overrides\": 0, \"resolver\": \"threadpool\""),
                      "%s", out);
        ck_assert_msg(out[strlen(out) - 2] == '}' && out[strlen(out) - 1] == '\n', "%s", out);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_sigterm_exits_0_sends_stopping_and_removes_socket) {
        struct stat st;
        char note[4096];

        start_daemon(NULL);
        ck_assert_int_eq(stat(daemon_.socket, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 0777, 0666);
        ck_assert_int_eq(kill(daemon_.pid, SIGTERM), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "STOPPING=1", 5000, note, sizeof(note)), 0);
        {
                /* Keep the directory until we looked at the socket node. */
                int status = 0;
                ck_assert_int_eq(waitpid(daemon_.pid, &status, 0), daemon_.pid);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                daemon_.pid = -1;
        }
        ck_assert_int_eq(stat(daemon_.socket, &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        test_daemon_stop(&daemon_);
}
END_TEST

START_TEST(test_ready_carries_status_line) {
        TestDaemon d;
        char note[4096];

        /* A second instance reads its own READY=1 datagram in full. */
        ck_assert_int_eq(test_daemon_start_argv(&d,
                                                (const char *[]) { "@NETUTILD@", "--user", "--socket", "@SOCKET@",
                                                                   "--state-dir", "@DIR@", NULL },
                                                false),
                         0);
        ck_assert_int_eq(test_daemon_wait_notify(&d, "READY=1", 10000, note, sizeof(note)), 0);
        ck_assert_msg(strstr(note, "STATUS=Serving 0 clients"), "%s", note);
        test_daemon_stop(&d);
}
END_TEST

/* The files the live daemon publishes next to its socket (names index, rules file): the
 * refused instance must leave them alone (it once removed them while it started). */
static void assert_published_files(const char *socket) {
        static const char *const suffixes[] = { ".names", ".rules" };
        char path[sizeof(daemon_.socket) + 16];

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                long long deadline = test_now_ms() + 5000;

                snprintf(path, sizeof(path), "%s%s", socket, suffixes[i]);
                /* Written at the daemon's first loop iteration, just after READY=1. */
                while (access(path, F_OK) < 0 && test_now_ms() < deadline)
                        usleep(10 * 1000);
                ck_assert_msg(access(path, F_OK) == 0, "%s: %s", path, strerror(errno));
        }
}

START_TEST(test_second_instance_refuses_live_socket) {
        char out[1024], err[4096];
        const char *argv[] = { test_netutild_bin(), "--user", "--socket", NULL, NULL };

        start_daemon(NULL);
        assert_published_files(daemon_.socket);
        argv[3] = daemon_.socket;
        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, "Another netutild is serving"), "%s", err);
        assert_published_files(daemon_.socket);
        raw_status_ok(test_raw_connect(daemon_.socket), 1);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_stale_socket_is_replaced_and_file_is_refused) {
        char dir[] = "/tmp/netutild-stale.XXXXXX", path[128], out[1024], err[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *argv[] = { test_netutild_bin(), "--user", "--socket", path, "--state-dir", dir, NULL };
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/s", dir);
        /* A regular file where the socket goes: refused, untouched. */
        fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, "exists and is not a socket"), "%s", err);
        ck_assert_int_eq(access(path, F_OK), 0);
        unlink(path);
        rmdir(dir);
        (void) sa;
}
END_TEST

/* ---- library ------------------------------------------------------------------------- */

START_TEST(test_library_blocking_status) {
        netutil_client *c = NULL;
        netutil_status *s = NULL;

        start_daemon(NULL);
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        ck_assert_int_eq(netutil_status_get(c, 0, &s), 0);
        ck_assert_str_eq(s->version, PACKAGE_VERSION);
        ck_assert_uint_eq(s->pid, (uint32_t) daemon_.pid);
        ck_assert_uint_eq(s->clients, 1);
        ck_assert_str_eq(s->mode, "user");
        ck_assert_ptr_null(netutil_status_free(s));
        ck_assert_ptr_null(netutil_client_close(c));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_library_open_without_daemon) {
        netutil_client *c = NULL;

        ck_assert_int_eq(netutil_client_open("/nonexistent/netutild.sock", &c), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(netutil_client_open("", &c), -EINVAL);
}
END_TEST

START_TEST(test_default_socket_path_order) {
        char *p = NULL;

        setenv("NETUTILD_SOCKET", "/tmp/x.sock", 1);
        ck_assert_int_eq(netutil_default_socket_path(&p), 0);
        ck_assert_str_eq(p, "/tmp/x.sock");
        free(p);
        unsetenv("NETUTILD_SOCKET");
        if (geteuid() == 0) {
                ck_assert_int_eq(netutil_default_socket_path(&p), 0);
                ck_assert_str_eq(p, NETUTILD_SOCKET_PATH);
                free(p);
                /* As another user: $XDG_RUNTIME_DIR decides. (Fork mode: this process ends here.) */
                ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
        }
        setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
        ck_assert_int_eq(netutil_default_socket_path(&p), 0);
        ck_assert_str_eq(p, "/run/user/4242/netutild/netutild.sock");
        free(p);
        unsetenv("XDG_RUNTIME_DIR");
        ck_assert_int_eq(netutil_default_socket_path(&p), -ENXIO);
}
END_TEST

typedef struct AsyncState {
        int calls;
        int error;
        uint32_t pid;
} AsyncState;

static void on_status(netutil_client *c, int error, const netutil_status *s, void *userdata) {
        AsyncState *st = userdata;

        st->calls++;
        st->error = error;
        if (s)
                st->pid = s->pid;
}

/* Runs e until *calls is non-zero or usec passed. */
static void run_loop_bounded(sd_event *e, const int *calls, uint64_t usec) {
        uint64_t start;
        ck_assert_int_ge(sd_event_now(e, CLOCK_MONOTONIC, &start), 0);
        for (;;) {
                uint64_t now;
                int r = sd_event_run(e, 100000);
                ck_assert_int_ge(r, 0);
                if (*calls > 0)
                        return;
                ck_assert_int_ge(sd_event_now(e, CLOCK_MONOTONIC, &now), 0);
                if (now - start > usec)
                        return;
        }
}

START_TEST(test_library_async_status_and_cancel) {
        netutil_client *c = NULL;
        netutil_request *req = NULL;
        AsyncState st = {}, cancelled = {};
        sd_event *e = NULL;

        start_daemon(NULL);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &st, NULL), -ENXIO);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), -EBUSY);

        /* One request cancelled, one answered: only the second callback runs. */
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &cancelled, &req), 0);
        ck_assert_ptr_nonnull(req);
        ck_assert_ptr_null(netutil_request_cancel(req));
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &st, NULL), 0);
        {
                netutil_status *s = NULL;
                ck_assert_int_eq(netutil_status_get(c, 0, &s), -EBUSY); /* blocking while async pending */
        }
        run_loop_bounded(e, &st.calls, 5000000);
        ck_assert_int_eq(st.calls, 1);
        ck_assert_int_eq(st.error, 0);
        ck_assert_uint_eq(st.pid, (uint32_t) daemon_.pid);
        ck_assert_int_eq(cancelled.calls, 0);

        netutil_client_close(c);
        sd_event_unref(e);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_library_async_timeout_counts_from_the_call_not_the_loops_last_wakeup) {
        netutil_client *c = NULL;
        AsyncState warm = {}, st = {};
        sd_event *e = NULL;

        start_daemon(NULL);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &warm, NULL), 0);
        run_loop_bounded(e, &warm.calls, 5000000);
        ck_assert_int_eq(warm.error, 0);
        /* The loop sleeps longer than the next call's timeout, as a program busy elsewhere
         * would; the call's 300 ms start when it is made. */
        ck_assert_int_eq(kill(daemon_.pid, SIGSTOP), 0);
        usleep(600 * 1000);
        ck_assert_int_eq(netutil_status_get_async(c, 300000, on_status, &st, NULL), 0);
        /* The daemon answers 100 ms late: within the 300 ms, after a deadline counted from
         * the loop's last wake-up. */
        for (long long end = test_now_ms() + 100; test_now_ms() < end && st.calls == 0;)
                ck_assert_int_ge(sd_event_run(e, 10000), 0);
        ck_assert_int_eq(kill(daemon_.pid, SIGCONT), 0);
        run_loop_bounded(e, &st.calls, 5000000);
        ck_assert_int_eq(st.calls, 1);
        ck_assert_int_eq(st.error, 0);
        netutil_client_close(c);
        sd_event_unref(e);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* A listener that accepts and never answers: for timeouts. */
static int silent_listener(char *path, size_t len, char *dir) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, len, "%s/silent.sock", dir);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 8), 0);
        return fd;
}

START_TEST(test_library_timeouts) {
        char dir[] = "/tmp/netutild-silent.XXXXXX", path[128];
        int lfd = silent_listener(path, sizeof(path), dir);
        netutil_client *c = NULL;
        netutil_status *s = NULL;
        AsyncState st = {};
        sd_event *e = NULL;

        ck_assert_int_eq(netutil_client_open(path, &c), 0);
        ck_assert_int_eq(netutil_status_get(c, 100000, &s), -ETIMEDOUT);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        ck_assert_int_eq(netutil_status_get_async(c, 100000, on_status, &st, NULL), 0);
        run_loop_bounded(e, &st.calls, 5000000);
        ck_assert_int_eq(st.calls, 1);
        ck_assert_int_eq(st.error, -ETIMEDOUT);
        netutil_client_close(c);
        sd_event_unref(e);
        close(lfd);
        unlink(path);
        rmdir(dir);
}
END_TEST

START_TEST(test_library_daemon_gone_fails_pending) {
        netutil_client *c = NULL;
        AsyncState st = {};
        sd_event *e = NULL;

        start_daemon(NULL);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(netutil_client_open(daemon_.socket, &c), 0);
        ck_assert_int_eq(netutil_client_attach_event(c, e, 0), 0);
        /* A request in flight when the daemon goes: its callback gets -ECONNRESET. */
        ck_assert_int_eq(kill(daemon_.pid, SIGSTOP), 0);
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &st, NULL), 0);
        ck_assert_int_eq(kill(daemon_.pid, SIGKILL), 0);
        run_loop_bounded(e, &st.calls, 5000000);
        ck_assert_int_eq(st.calls, 1);
        ck_assert_int_eq(st.error, -ECONNRESET);
        test_daemon_stop(&daemon_);
        /* Asking a daemon that is gone fails at once, without a callback. */
        ck_assert_int_eq(netutil_status_get_async(c, 0, on_status, &st, NULL), -ECONNRESET);
        ck_assert_int_eq(st.calls, 1);
        netutil_client_close(c);
        sd_event_unref(e);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------- */

START_TEST(test_malformed_datagrams_get_errors_and_connection_stays_usable) {
        uint8_t buf[256];
        int fd;

        start_daemon(NULL);
        fd = test_raw_connect(daemon_.socket);

        ck_assert_int_eq(test_raw_send_fds(fd, buf, 0, NULL, 0), 0);
        raw_expect(fd, 0, EBADMSG, "Empty message");

        memset(buf, 0xab, sizeof(buf));
        ck_assert_int_eq(test_raw_send_fds(fd, buf, 7, NULL, 0), 0);
        raw_expect(fd, 0, EBADMSG, "Truncated message header (7 bytes)");

        header_bytes(buf, 9, PROTO_MSG_STATUS, 11, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, PROTO_HEADER_SIZE, NULL, 0), 0);
        raw_expect(fd, 11, EPROTONOSUPPORT, "Protocol version 9 not supported (expected 1)");

        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 12, 100); /* length beyond the datagram */
        ck_assert_int_eq(test_raw_send_fds(fd, buf, PROTO_HEADER_SIZE + 4, NULL, 0), 0);
        raw_expect(fd, 12, EBADMSG, "Malformed message");

        /* An attribute whose value runs past the payload. */
        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 13, 8);
        memcpy(buf + PROTO_HEADER_SIZE, &(ProtoAttrHeader) { .type = PROTO_ATTR_VERSION, .length = 200 }, 4);
        memcpy(buf + PROTO_HEADER_SIZE + 4, "abcd", 4);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, PROTO_HEADER_SIZE + 8, NULL, 0), 0);
        raw_expect(fd, 13, EBADMSG, "Malformed message");

        /* An unterminated string. */
        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 14, 8);
        memcpy(buf + PROTO_HEADER_SIZE, &(ProtoAttrHeader) { .type = PROTO_ATTR_VERSION, .length = 4 }, 4);
        memcpy(buf + PROTO_HEADER_SIZE + 4, "abcd", 4);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, PROTO_HEADER_SIZE + 8, NULL, 0), 0);
        raw_expect(fd, 14, EBADMSG, "Malformed message");

        header_bytes(buf, PROTO_VERSION, 999, 15, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, PROTO_HEADER_SIZE, NULL, 0), 0);
        raw_expect(fd, 15, EOPNOTSUPP, "Unknown request type 999");

        /* Still usable after all that. */
        raw_status_ok(fd, 16);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_oversized_datagram_is_refused) {
        size_t len = PROTO_MAX_MSG + 4096;
        uint8_t *buf = calloc(1, len);
        int fd, sndbuf = (int) len * 2, pipefd[2];

        /* As on a kernel without SO_PASSRIGHTS, so that the fds reach the daemon. */
        ck_assert_int_eq(setenv("NETUTILD_NO_SO_PASSRIGHTS", "1", 1), 0);
        start_daemon(NULL);
        fd = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 21, (uint32_t) (len - PROTO_HEADER_SIZE));
        /* With fds, which must not stay in the daemon. */
        ck_assert_int_eq(test_raw_send_fds(fd, buf, len, pipefd, 2), 0);
        raw_expect(fd, 21, EMSGSIZE, "exceeds the limit of 65536 bytes");
        raw_status_ok(fd, 22);
        close(pipefd[0]);
        close(pipefd[1]);
        close(fd);
        free(buf);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_fds_are_refused_by_the_kernel) {
        uint8_t buf[PROTO_HEADER_SIZE];
        int fd, p[2];

        start_daemon(NULL);
        fd = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        /* SO_PASSRIGHTS is off on every connection (Linux 6.16): the sender gets EPERM, and
         * the connection is as good as before. */
        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 30, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), p, 2), -EPERM);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0), 0);
        raw_expect(fd, 30, 0, NULL);
        close(p[0]);
        close(p[1]);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_fds_on_a_request_that_takes_none_are_closed) {
        uint8_t buf[PROTO_HEADER_SIZE];
        int fds[253], fd, p[2];

        /* As on a kernel without SO_PASSRIGHTS: the fds get in, and are closed (off the
         * event loop: check-attacks). */
        ck_assert_int_eq(setenv("NETUTILD_NO_SO_PASSRIGHTS", "1", 1), 0);
        start_daemon(NULL);
        fd = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        for (unsigned i = 0; i < 253; i++)
                fds[i] = i % 2 ? p[0] : p[1];

        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 31, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), fds, 1), 0);
        raw_expect(fd, 31, EBADMSG, "This request takes no file descriptors, got 1");
        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 32, 0);
        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), fds, 253), 0);
        raw_expect(fd, 32, EBADMSG, "got 253");
        /* fds on garbage too. */
        ck_assert_int_eq(test_raw_send_fds(fd, buf, 3, fds, 10), 0);
        raw_expect(fd, 0, EBADMSG, "Truncated message header");
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + 1, 3000), baseline_fds + 1);
        /* The pipe's write end is ours alone again: closing it gives EOF on the read end. */
        close(p[1]);
        {
                char c;
                ck_assert_int_eq(read(p[0], &c, 1), 0);
        }
        close(p[0]);
        raw_status_ok(fd, 33);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_garbage_client_does_not_disturb_others) {
        uint8_t junk[512];
        int bad, good;

        start_daemon(NULL);
        good = test_raw_connect(daemon_.socket);
        bad = test_raw_connect(daemon_.socket);
        srand(7);
        for (unsigned i = 0; i < 200; i++) {
                size_t len = (size_t) rand() % sizeof(junk);
                for (size_t k = 0; k < len; k++)
                        junk[k] = (uint8_t) rand();
                ck_assert_int_eq(test_raw_send_fds(bad, junk, len, NULL, 0), 0);
                if (i % 50 == 0)
                        raw_status_ok(good, 100 + i);
        }
        close(bad); /* with 200 error replies unread */
        raw_status_ok(good, 999);
        close(good);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_client_closing_mid_request_costs_nothing) {
        uint8_t buf[PROTO_HEADER_SIZE];

        start_daemon(NULL);
        for (unsigned k = 0; k < 50; k++) {
                int fd = test_raw_connect(daemon_.socket);
                for (unsigned i = 0; i < k; i++) {
                        header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, i + 1, 0);
                        ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0), 0);
                }
                close(fd);
        }
        assert_fds_at_baseline();
        raw_status_ok(test_raw_connect(daemon_.socket), 1);
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_stream_socket_cannot_connect) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        start_daemon(NULL);
        strcpy(sa.sun_path, daemon_.socket);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), -1);
        ck_assert_int_eq(errno, EPROTOTYPE);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- pipelining and back-pressure ---------------------------------------------------- */

START_TEST(test_pipelined_beyond_inflight_limit_all_answered_in_order) {
        const unsigned n = 3 * PROTO_MAX_INFLIGHT;
        uint8_t buf[PROTO_HEADER_SIZE];
        int fd, sndbuf = 1 << 20;

        start_daemon(NULL);
        fd = test_raw_connect(daemon_.socket);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        /* Write everything before reading anything: the daemon must stop reading at its
         * in-flight limit and resume as we drain, losing nothing. */
        for (unsigned i = 0; i < n; i++) {
                header_bytes(buf, PROTO_VERSION, PROTO_MSG_STATUS, 1000 + i, 0);
                ck_assert_int_eq(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0), 0);
        }
        for (unsigned i = 0; i < n; i++)
                raw_expect(fd, 1000 + i, 0, NULL);
        close(fd);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_max_clients_refuses_clearly_and_keeps_existing) {
        char conf[512], out[4096], err[4096];
        int a, b, c;
        FILE *f;
        const char *extra[] = { "--config", conf, NULL };

        snprintf(conf, sizeof(conf), "/tmp/netutild-maxclients-%d.conf", (int) getpid());
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fputs("[Daemon]\nMaxClients=2\n", f);
        fclose(f);
        start_daemon(extra);
        unlink(conf);

        a = test_raw_connect(daemon_.socket);
        b = test_raw_connect(daemon_.socket);
        raw_status_ok(a, 1);
        raw_status_ok(b, 1);
        c = test_raw_connect(daemon_.socket);
        raw_expect(c, 0, EUSERS, "Too many clients (MaxClients=2)");
        close(c);

        ck_assert_int_eq(ctl((const char *[]) { "--json", "status", NULL }, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, "netutilctl: Too many clients (MaxClients=2)"), "%s", err);
        ck_assert_msg(strstr(out, "{\"error\": {\"errno\": 87, \"name\": \"EUSERS\", \"message\": \"Too many clients"),
                      "%s", out);

        raw_status_ok(a, 2);
        close(b);
        /* A place is free again. */
        ck_assert_int_eq(test_wait_fd_count(daemon_.pid, baseline_fds + 1, 3000), baseline_fds + 1);
        ck_assert_int_eq(ctl((const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)), 0);
        close(a);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- reload ------------------------------------------------------------------------- */

START_TEST(test_sighup_reloads_and_keeps_config_on_error) {
        char conf[256], out[4096], err[4096], note[4096];
        const char *extra[] = { "--config", conf, NULL };

        snprintf(conf, sizeof(conf), "/tmp/netutild-reload-%d.conf", (int) getpid());
        test_write_file(conf, "[Daemon]\nResolver=threadpool\n");
        start_daemon(extra);

        test_write_file(conf, "[Daemon]\nResolver=blocking\n[Policy]\nAllowOverride=* global\n");
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "RELOADING=1", 5000, note, sizeof(note)), 0);
        ck_assert_msg(strstr(note, "MONOTONIC_USEC="), "%s", note);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 5000, NULL, 0), 0);
        ck_assert_int_eq(ctl((const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, "Resolver: blocking"), "%s", out);
        ck_assert_msg(strstr(out, "Policy: 1 rule\n"), "%s", out);

        /* A broken file: the running configuration stays, the daemon keeps serving. */
        test_write_file(conf, "[Daemon]\nResolver=nonsense\n");
        ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 5000, NULL, 0), 0);
        ck_assert_int_eq(ctl((const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, "Resolver: blocking"), "%s", out);

        unlink(conf);
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

START_TEST(test_bad_config_at_start_fails_with_message) {
        char conf[256], out[1024], err[4096];
        const char *argv[] = { test_netutild_bin(), "--user", "--socket", "/tmp/netutild-never.sock", "--config",
                               conf, NULL };

        snprintf(conf, sizeof(conf), "/tmp/netutild-bad-%d.conf", (int) getpid());
        test_write_file(conf, "[Daemon]\nMaxClients=lots\n");
        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, ":2: MaxClients=lots: expected 1..65536"), "%s", err);
        ck_assert_int_eq(access("/tmp/netutild-never.sock", F_OK), -1);
        unlink(conf);
}
END_TEST

START_TEST(test_stalled_service_manager_does_not_stall_clients) {
        char out[4096], err[4096];
        FILE *f;

        /* A manager that stops reading: in a network namespace of our own the unix datagram
         * queue can be cut to nothing, so the next notification finds it full. */
        ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
        f = fopen("/proc/sys/net/unix/max_dgram_qlen", "we");
        ck_assert_ptr_nonnull(f);
        fputs("0\n", f);
        fclose(f);
        start_daemon(NULL);

        /* Client traffic makes STATUS= updates; a reload sends RELOADING=1 and READY=1, all
         * into the full queue. Every request must still be answered promptly. */
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(ctl((const char *[]) { "--timeout", "1", "status", NULL }, out, sizeof(out), err,
                                     sizeof(err)),
                                 0);
                ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
                usleep(1100 * 1000);
        }
        ck_assert_int_eq(ctl((const char *[]) { "--timeout", "1", "status", NULL }, out, sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_msg(strstr(out, "Requests: 4\n"), "[%s]", strstr(out, "Requests"));
        assert_fds_at_baseline();
        test_daemon_stop_expect_clean_exit(&daemon_);
}
END_TEST

/* ---- netutilctl contract ------------------------------------------------------------- */

START_TEST(test_netutilctl_usage_errors_exit_2) {
        char out[4096], err[4096];
        const char *a1[] = { test_netutilctl_bin(), NULL };
        const char *a2[] = { test_netutilctl_bin(), "frobnicate", NULL };
        const char *a3[] = { test_netutilctl_bin(), "--timeout", "-1", "status", NULL };
        const char *a4[] = { test_netutilctl_bin(), "--bogus", "status", NULL };
        const char *a5[] = { test_netutilctl_bin(), "status", "extra", NULL };
        const char *a6[] = { test_netutilctl_bin(), "--help", NULL };

        ck_assert_int_eq(test_run(a1, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_msg(strstr(err, "netutilctl: missing command"), "%s", err);
        ck_assert_int_eq(test_run(a2, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_msg(strstr(err, "netutilctl: unknown command 'frobnicate'"), "%s", err);
        ck_assert_int_eq(test_run(a3, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_msg(strstr(err, "invalid --timeout '-1'"), "%s", err);
        ck_assert_int_eq(test_run(a4, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_msg(strstr(err, "unknown option '--bogus'"), "%s", err);
        ck_assert_int_eq(test_run(a5, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_int_eq(test_run(a6, out, sizeof(out), err, sizeof(err)), 0);
        ck_assert_msg(strstr(out, "Usage: netutilctl"), "%s", out);
}
END_TEST

START_TEST(test_netutilctl_no_daemon_json_error) {
        char out[4096], err[4096];
        const char *argv[] = { test_netutilctl_bin(), "--json", "--socket", "/nonexistent/n.sock", "status", NULL };

        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_str_eq(out, "{\"error\": {\"errno\": 2, \"name\": \"ENOENT\", \"message\": \"Cannot connect to "
                              "netutild at '/nonexistent/n.sock': No such file or directory\"}}\n");
        ck_assert_str_eq(err, "netutilctl: Cannot connect to netutild at '/nonexistent/n.sock': No such file or "
                              "directory\n");
}
END_TEST

START_TEST(test_netutilctl_timeout) {
        char dir[] = "/tmp/netutild-silent.XXXXXX", path[128], out[4096], err[4096];
        int lfd = silent_listener(path, sizeof(path), dir);
        const char *argv[] = { test_netutilctl_bin(), "--socket", path, "--timeout", "0.2", "status", NULL };

        ck_assert_int_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
        ck_assert_msg(strstr(err, "Failed to get the daemon status: Connection timed out"), "%s", err);
        close(lfd);
        unlink(path);
        rmdir(dir);
}
END_TEST

/* ---- socket activation --------------------------------------------------------------- */

START_TEST(test_socket_activation) {
        const char *sa = getenv("SYSTEMD_SOCKET_ACTIVATE");
        char out[4096], err[4096];
        struct stat st;

        if (!sa || !*sa)
                sa = "/usr/bin/systemd-socket-activate";
        ck_assert_msg(access(sa, X_OK) == 0, "systemd-socket-activate not found at %s", sa);
        /* systemd-socket-activate passes on only the variables named with -E; the
         * valgrind wrapper of "make check-valgrind" needs its own. */
        const char *env = getenv("NETUTILD_REAL_BIN") ? "NETUTILD_REAL_BIN" : "NOTIFY_SOCKET";
        ck_assert_int_eq(test_daemon_start_argv(&daemon_,
                                                (const char *[]) { sa, "--seqpacket", "-l", "@SOCKET@", "-E",
                                                                   "NOTIFY_SOCKET", "-E", env, "@NETUTILD@",
                                                                   "--user", "--socket", "/nonexistent/unused.sock",
                                                                   "--state-dir", "@DIR@", NULL },
                                                false),
                         0);
        /* systemd-socket-activate binds, then execs the daemon at the first connection. */
        for (int i = 0; i < 500 && access(daemon_.socket, F_OK) < 0; i++)
                usleep(10000);
        ck_assert_msg(ctl((const char *[]) { "status", NULL }, out, sizeof(out), err, sizeof(err)) == 0, "%s", err);
        ck_assert_msg(strstr(out, "Version: netutild"), "%s / %s", out, err);
        ck_assert_int_eq(test_daemon_wait_notify(&daemon_, "READY=1", 5000, NULL, 0), 0);
        /* The passed socket is not ours to remove on exit. */
        ck_assert_int_eq(kill(daemon_.pid, SIGTERM), 0);
        {
                int status = 0;
                ck_assert_int_eq(waitpid(daemon_.pid, &status, 0), daemon_.pid);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                daemon_.pid = -1;
        }
        ck_assert_int_eq(stat(daemon_.socket, &st), 0);
        ck_assert_int_eq(access("/nonexistent/unused.sock", F_OK), -1);
        test_daemon_stop(&daemon_);
}
END_TEST

static Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc;

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_ready_then_status_text);
        tcase_add_test(tc, test_status_json);
        tcase_add_test(tc, test_sigterm_exits_0_sends_stopping_and_removes_socket);
        tcase_add_test(tc, test_ready_carries_status_line);
        tcase_add_test(tc, test_second_instance_refuses_live_socket);
        tcase_add_test(tc, test_stale_socket_is_replaced_and_file_is_refused);
        tcase_add_test(tc, test_sighup_reloads_and_keeps_config_on_error);
        tcase_add_test(tc, test_stalled_service_manager_does_not_stall_clients);
        tcase_add_test(tc, test_bad_config_at_start_fails_with_message);
        tcase_add_test(tc, test_socket_activation);
        suite_add_tcase(s, tc);

        tc = tcase_create("library");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_library_blocking_status);
        tcase_add_test(tc, test_library_open_without_daemon);
        tcase_add_test(tc, test_default_socket_path_order);
        tcase_add_test(tc, test_library_async_status_and_cancel);
        tcase_add_test(tc, test_library_timeouts);
        tcase_add_test(tc, test_library_async_timeout_counts_from_the_call_not_the_loops_last_wakeup);
        tcase_add_test(tc, test_library_daemon_gone_fails_pending);
        suite_add_tcase(s, tc);

        tc = tcase_create("bad-input");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_malformed_datagrams_get_errors_and_connection_stays_usable);
        tcase_add_test(tc, test_oversized_datagram_is_refused);
        tcase_add_test(tc, test_fds_are_refused_by_the_kernel);
        tcase_add_test(tc, test_fds_on_a_request_that_takes_none_are_closed);
        tcase_add_test(tc, test_garbage_client_does_not_disturb_others);
        tcase_add_test(tc, test_client_closing_mid_request_costs_nothing);
        tcase_add_test(tc, test_stream_socket_cannot_connect);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_pipelined_beyond_inflight_limit_all_answered_in_order);
        tcase_add_test(tc, test_max_clients_refuses_clearly_and_keeps_existing);
        suite_add_tcase(s, tc);

        tc = tcase_create("netutilctl");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_netutilctl_usage_errors_exit_2);
        tcase_add_test(tc, test_netutilctl_no_daemon_json_error);
        tcase_add_test(tc, test_netutilctl_timeout);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(daemon_suite(), false);
}
