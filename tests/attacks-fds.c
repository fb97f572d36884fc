/* SPDX-License-Identifier: MIT */

/*
 * Attacks with fds handed to the daemon (issue 13, item 1). No request takes fds, yet a
 * client could put one in the daemon's hands and close its own copy, so that the daemon's
 * close was the last: a TCP socket with unsent data and SO_LINGER {1, 60} then froze the
 * event loop for 60 s, every other client with it. Three ways in: in a request, queued in a
 * connection the daemon drops, and on a connection it refuses. With SO_PASSRIGHTS (Linux
 * 6.16) the kernel refuses the fd in the client's sendmsg() (EPERM); as on an older kernel
 * (NETUTILD_NO_SO_PASSRIGHTS=1) the fd gets in and a thread of its own closes it. Either
 * way another uid is answered meanwhile and the daemon keeps no fd. A fourth way passes no
 * fd to the daemon and works whatever the kernel: a unix listener the daemon holds for its
 * client, with a connection nobody accepts that carries the fd; when the name is released,
 * the daemon's close of the listener drops that connection, and the fd with it.
 */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attacks.h"
#include "macro.h"
#include "netutil-proto.h"
#include "testlib.h"

/* How long the close lingers: twice the ceiling for another client's answer. */
#define LINGER_SEC 60
/* Rules whose list (some 640 KB) outlasts the per-connection cap of the test's config (64 KiB)
 * and what the socket holds (some 200 KB): the daemon stops reading that connection. */
#define QUEUE_RULES 1500u
#define LIST_SERIAL 99u
#define STATUS_SERIAL 7u

typedef enum Way {
        WAY_REQUEST, /* in a request, read once the connection is read again */
        WAY_QUEUED,  /* queued in a connection the daemon does not read, which then goes */
        WAY_REFUSED, /* on a connection refused (MaxClientsPerUser=1), sent while the daemon is
                      * stopped (SIGSTOP), so that it is in the queue when it is refused */
        WAY_HELD,    /* queued in a connection to a held unix listener, which is then released */
} Way;

static const struct FdsCase {
        const char *name;
        Way way;
        bool old_kernel;
} cases[] = {
        {"an fd in a request", WAY_REQUEST, false},
        {"an fd in a request, as without SO_PASSRIGHTS", WAY_REQUEST, true},
        {"an fd queued in a dropped connection", WAY_QUEUED, false},
        {"an fd queued in a dropped connection, as without SO_PASSRIGHTS", WAY_QUEUED, true},
        {"an fd on a refused connection", WAY_REFUSED, false},
        {"an fd on a refused connection, as without SO_PASSRIGHTS", WAY_REFUSED, true},
        {"an fd queued in a connection to a held unix socket, then released", WAY_HELD, false},
};

typedef struct Linger {
        Way way;
        int report, go, parent_ends[2];
} Linger;

static ProtoRecv recv_buf; /* 64 KiB: not on the stack */

/* A TCP listener on loopback that never accepts: a connection to it, its send buffer full
 * and with SO_LINGER {1, LINGER_SEC}, waits LINGER_SEC seconds in its last close. The
 * listener must stay open meanwhile (closing it resets the connection). */
static int silent_listener(struct sockaddr_in *ret_sa) {
        socklen_t len = sizeof(*ret_sa);
        int l;

        *ret_sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ATTACK_CHECK(l >= 0 && bind(l, (struct sockaddr *) ret_sa, sizeof(*ret_sa)) == 0 &&
                             listen(l, 1) == 0 && getsockname(l, (struct sockaddr *) ret_sa, &len) == 0,
                     "listener: %s", strerror(errno));
        return l;
}

/* s, connected to a silent listener: fills its send buffer and makes it linger. */
static void make_linger(int s) {
        struct linger lg = {.l_onoff = 1, .l_linger = LINGER_SEC};
        static char junk[65536];

        while (send(s, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
                ;
        ATTACK_CHECK(errno == EAGAIN, "filling the send buffer: %s", strerror(errno));
        ATTACK_CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "SO_LINGER: %s",
                     strerror(errno));
}

static int lingering_socket(int *ret_listener) {
        struct sockaddr_in sa;
        int s;

        *ret_listener = silent_listener(&sa);
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ATTACK_CHECK(s >= 0 && connect(s, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect: %s",
                     strerror(errno));
        make_linger(s);
        return s;
}

/* The abstract name nobody holds a unix listener under. */
static const char held_path[] = "\0netutild-attack-lingering";

static void send_hold_msg(int fd, uint16_t type, uint32_t serial) {
        ProtoMsg *m = NULL;

        ATTACK_CHECK(proto_msg_new(type, serial, &m) == 0, "proto_msg_new");
        if (type == PROTO_MSG_BIND_UNIX)
                ATTACK_CHECK(proto_msg_append(m, PROTO_ATTR_PATH, held_path, sizeof(held_path) - 1) == 0 &&
                                     proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1) == 0,
                             "BIND_UNIX");
        ATTACK_CHECK(proto_msg_append_string(m, PROTO_ATTR_NAME, "lingering") == 0, "NAME");
        ATTACK_CHECK(proto_send(fd, m) == 0, "send: %s", strerror(errno));
        proto_msg_free(m);
}

/* Holds a unix listener (an abstract name needs no permission), connects to it and sends s
 * in that connection, which nobody accepts, then lets go of every copy but the daemon's:
 * closing the listener drops the connection's queue, and with it the last copy of s. */
static void held_with_a_lingering_fd_queued(int fd, int s) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        ProtoView v;
        ssize_t n;
        int h, c;

        send_hold_msg(fd, PROTO_MSG_BIND_UNIX, 1);
        ATTACK_CHECK(poll(&p, 1, 30000) == 1, "no BIND_UNIX reply");
        n = proto_recv(fd, &recv_buf);
        ATTACK_CHECK(n > 0 && proto_parse(recv_buf.buf, (size_t) n, &v) == 0 && v.header.status == 0 &&
                             recv_buf.n_fds == 1,
                     "BIND_UNIX with hold: %zd, status %d, %u fds", n, v.header.status, recv_buf.n_fds);
        h = proto_recv_take_fd(&recv_buf, 0);
        memcpy(sa.sun_path, held_path, sizeof(held_path) - 1);
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ATTACK_CHECK(c >= 0 && connect(c, (struct sockaddr *) &sa,
                                       offsetof(struct sockaddr_un, sun_path) + sizeof(held_path) - 1) == 0,
                     "connect: %s", strerror(errno));
        ATTACK_CHECK(test_raw_send_fds(c, "x", 1, &s, 1) == 0, "send the fd: %s", strerror(errno));
        close(c);
        close(h);
}

/* Reads one datagram on fd: returns its serial, status and flags. */
static void read_one(int fd, ProtoView *v) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        ATTACK_CHECK(poll(&p, 1, (LINGER_SEC + 30) * 1000) == 1, "no reply");
        n = proto_recv(fd, &recv_buf);
        ATTACK_CHECK(n > 0, "recv: %zd", n);
        proto_recv_clear(&recv_buf);
        ATTACK_CHECK(proto_parse(recv_buf.buf, (size_t) n, v) == 0, "malformed reply");
}

static void expect_error(int fd, uint32_t serial, int status, const char *words) {
        const char *text = "";
        ProtoView v;

        read_one(fd, &v);
        (void) proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text);
        ATTACK_CHECK(v.header.serial == serial && v.header.status == status && strstr(text, words),
                     "reply serial %u status %d '%s'", v.header.serial, v.header.status, text);
}

static void linger_child(void *arg) {
        const Linger *L = arg;
        ProtoHeader h = {.version = PROTO_VERSION, .type = PROTO_MSG_STATUS, .serial = STATUS_SERIAL};
        uint8_t hdr[PROTO_HEADER_SIZE];
        int listener, s, fd, b = -1, r;
        ProtoView v;
        char c;

        close(L->parent_ends[0]);
        close(L->parent_ends[1]);
        memcpy(hdr, &h, sizeof(h));
        s = lingering_socket(&listener);
        fd = attack_connect();
        if (L->way == WAY_HELD) {
                held_with_a_lingering_fd_queued(fd, s);
                s = safe_close(s);
                send_hold_msg(fd, PROTO_MSG_HOLD_RELEASE, 2); /* the daemon closes the last copy */
                r = 0;
        } else if (L->way == WAY_REFUSED) {
                /* Our one place is taken (and counted: it was answered), the next is refused. */
                ATTACK_CHECK(test_raw_send_fds(fd, hdr, sizeof(hdr), NULL, 0) == 0, "STATUS");
                read_one(fd, &v);
                ATTACK_CHECK(v.header.status == 0, "STATUS: %d", v.header.status);
                ATTACK_CHECK(write(L->report, "R", 1) == 1, "report: %s", strerror(errno));
                ATTACK_CHECK(read(L->go, &c, 1) == 1, "wait: %s", strerror(errno));
                b = attack_connect(); /* in the listener's backlog until the daemon goes on */
                r = test_raw_send_fds(b, hdr, sizeof(hdr), &s, 1);
                if (r == 0)
                        s = safe_close(s); /* the daemon's copy, in the queue, is the last */
        } else {
                /* The daemon stops reading us once our list has filled what it may queue. */
                attack_fill_scope(fd, "fds", QUEUE_RULES);
                attack_send_list(fd, "fds", LIST_SERIAL);
                read_one(fd, &v);
                ATTACK_CHECK(v.header.serial == LIST_SERIAL && (v.header.flags & PROTO_FLAG_MORE),
                             "first part");
                r = test_raw_send_fds(fd, hdr, sizeof(hdr), &s, 1);
                if (r == 0)
                        s = safe_close(s); /* the daemon's copy, or the queue's, is the last */
                if (L->way == WAY_REQUEST)
                        do /* the daemon reads on once the list is out */
                                read_one(fd, &v);
                        while (v.header.serial == LIST_SERIAL && (v.header.flags & PROTO_FLAG_MORE));
                else
                        fd = safe_close(fd); /* the daemon drops the connection with its queue */
        }
        ATTACK_CHECK(write(L->report, &r, sizeof(r)) == sizeof(r), "report: %s", strerror(errno));
        ATTACK_CHECK(read(L->go, &c, 1) >= 0, "wait: %s", strerror(errno));
        /* Where the fd got in, the refusal still comes in words. */
        if (r == 0 && L->way == WAY_REQUEST)
                expect_error(fd, STATUS_SERIAL, EBADMSG, "This request takes no file descriptors, got 1");
        if (L->way == WAY_HELD) {
                read_one(fd, &v);
                ATTACK_CHECK(v.header.serial == 2 && v.header.status == 0, "HOLD_RELEASE: %d",
                             v.header.status);
        }
        if (r == 0 && L->way == WAY_REFUSED)
                expect_error(b, 0, EUSERS, "Too many clients of uid 65534 (MaxClientsPerUser=1)");
        safe_close(b);
        safe_close(fd);
        /* Refused by the kernel, ours is the last copy: its close does not linger once the
         * connection is reset. */
        close(listener);
        safe_close(s);
}

/* While nobody's close lingers in its lane of the closer, uid 1234 holds a port and lets it
 * go: that close is its own lane's, and the port is free again at once (with one closer
 * thread it waited behind nobody's LINGER_SEC). */
static void assert_another_uids_release_goes_through(void) {
        const char *const as_other[] = {"--reuid=1234", "--regid=1234", "--clear-groups", NULL};
        char out[1024], err[1024];
        struct sockaddr_storage ss;
        socklen_t len;
        unsigned port;
        int fd = -1;
        long long t0;

        ck_assert_int_eq(test_ctl(attack_daemon.socket, as_other,
                                  (const char *[]){"bind", "--name", "victim", "--hold", "--address", "127.0.0.1",
                                                   "0", NULL},
                                  out, sizeof(out), err, sizeof(err)),
                         0);
        port = test_port_in(out, NULL);
        ck_assert_int_eq(test_ctl(attack_daemon.socket, as_other, (const char *[]){"hold", "release", "victim", NULL},
                                  out, sizeof(out), err, sizeof(err)),
                         0);
        t0 = test_now_ms();
        len = test_make_sockaddr("127.0.0.1", port, &ss);
        for (long long deadline = test_now_ms() + 10000; test_now_ms() < deadline; usleep(20000)) {
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ck_assert_int_ge(fd, 0);
                if (bind(fd, (struct sockaddr *) &ss, len) == 0)
                        break;
                fd = safe_close(fd);
        }
        ck_assert_msg(fd >= 0, "uid 1234's released port %u was still bound 10 s later", port);
        fprintf(stderr, "fds: uid 1234's released port was free after %lld ms\n", test_now_ms() - t0);
        close(fd);
}

START_TEST(test_no_blocking_close_of_a_clients_fd) {
        const struct FdsCase *k = &cases[_i];
        char *conf = test_write_config("[Daemon]\nMaxReplyBytesPerConnection=64K\nMaxClientsPerUser=1\n");
        const char *extra[] = {"--config", conf, NULL};
        int rep[2], go[2], r = -1;
        Linger L;
        pid_t pid;

        if (k->old_kernel)
                ck_assert_int_eq(setenv("NETUTILD_NO_SO_PASSRIGHTS", "1", 1), 0);
        attack_start_daemon(extra);
        unlink(conf);
        ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        L = (Linger){.way = k->way, .report = rep[1], .go = go[0], .parent_ends = {rep[0], go[1]}};
        pid = attack_spawn_as(ATTACK_NOBODY, linger_child, &L);
        close(rep[1]);
        close(go[0]);
        if (k->way == WAY_REFUSED) {
                /* The daemon stops while the client connects and sends; it accepts and
                 * refuses with the fd in the queue once it goes on. */
                char c;
                int status;
                ck_assert_msg(read(rep[0], &c, 1) == 1 && c == 'R', "%s: the attacking child failed",
                              k->name);
                ck_assert_int_eq(kill(attack_daemon.pid, SIGSTOP), 0);
                ck_assert_int_eq(waitpid(attack_daemon.pid, &status, WUNTRACED), attack_daemon.pid);
                ck_assert(WIFSTOPPED(status));
                ck_assert_int_eq(write(go[1], "g", 1), 1);
        }
        ck_assert_msg(read(rep[0], &r, sizeof(r)) == sizeof(r), "%s: the attacking child failed", k->name);
        if (k->way == WAY_REFUSED)
                ck_assert_int_eq(kill(attack_daemon.pid, SIGCONT), 0);
        /* The kernel refuses the fd in the client's sendmsg(); else it got in. */
        if (k->old_kernel || k->way == WAY_HELD)
                ck_assert_msg(r == 0, "%s: sendmsg: %s", k->name, strerror(-r));
        else
                ck_assert_msg(r == -EPERM, "%s: sendmsg: %s, expected EPERM", k->name, strerror(-r));

        /* Another uid is answered while the fd's last close lingers. */
        fprintf(stderr, "fds: %s: another uid answered in %lld ms\n", k->name,
                attack_assert_status_answered(ATTACK_OTHER, 30000));
        if (k->way == WAY_HELD)
                assert_another_uids_release_goes_through();

        close(go[1]);
        attack_wait_child(pid, LINGER_SEC + 60);
        close(rep[0]);
        attack_assert_healthy();
}
END_TEST

void attacks_add_fds(Suite *s) {
        TCase *tc = test_tcase_add(s, "fds from clients", 300, NULL, attack_teardown, NULL);

        tcase_add_loop_test(tc, test_no_blocking_close_of_a_clients_fd, 0, (int) ELEMENTSOF(cases));
}
