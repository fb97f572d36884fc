/* SPDX-License-Identifier: MIT */

/*
 * Attacks with the sockets the daemon makes on a client's behalf (issue 13, items 2, 3
 * and 5):
 *   - a plain `bind --reuse-port` made a socket stamped with the daemon's uid, which the
 *     kernel let join any root reuseport socket on the port: nobody took half the
 *     connections of a root service and of another uid's group;
 *   - bind-unix below an allowed directory ignored the requester's own permissions:
 *     nobody made a socket inside another user's private 0700 directory;
 *   - a unix listener made for nobody showed its peers uid 0 and the daemon's pid, and so
 *     did a held one the daemon listen()ed again after a recipient shut it down.
 * Each test fails on a daemon without the fix (checked by building without it).
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attacks.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

/* Library calls in children: far above a loaded machine's answer time. */
#define CALL_TIMEOUT_USEC (30ULL * 1000ULL * 1000ULL)
/* Connections made to a port someone tried to share: enough that a second listener in
 * the reuseport group would get some of them (the kernel spreads by a hash of the source
 * port: with two listeners, the chance that 32 all miss one is 2^-31). */
#define REUSE_CONNECTIONS 32

/* Receives one message on sock and returns the first fd it carried (the others closed), or
 * -errno; waits up to timeout_ms. */
static int recv_one_fd(int sock, int timeout_ms) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        char data[PROTO_MAX_MSG];
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 8)];
        } control;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
        int fd = -ENOMSG;

        if (poll(&p, 1, timeout_ms) != 1)
                return -ETIMEDOUT;
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int got;

                        memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (fd < 0)
                                fd = got;
                        else
                                close(got);
                }
        }
        return fd;
}

/* ---- item 2: reuseport sockets carry the requester's uid ------------------------------- */

typedef struct ReuseRow {
        const char *what;
        unsigned port;
        bool group; /* the victim is uid 1234's reuseport group made through the daemon */
} ReuseRow;

static const ReuseRow reuse_rows[] = {
        {"a root service with SO_REUSEPORT on 127.0.0.1:9000", 9000, false},
        {"a root service with SO_REUSEPORT on 127.0.0.1:443", 443, false},
        {"uid 1234's reuseport group on 127.0.0.1:9001", 9001, true},
};

typedef struct Reuse {
        const ReuseRow *row;
        int report; /* the child's end: results (and, for the victim, its socket) */
        int go;     /* the attacker holds what it got until this becomes readable */
        int parent_ends[2];
} Reuse;

/* uid 1234 starts its group through the daemon and sends its member to the test. */
static void victim_group_child(void *arg) {
        const Reuse *v = arg;
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        char port[16];
        int r;

        snprintf(port, sizeof(port), "%u", v->row->port);
        o.address = "127.0.0.1";
        o.port = port;
        o.reuse_port = 1;
        o.name = "web";
        ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect to the daemon");
        r = netutil_bind(c, &o, CALL_TIMEOUT_USEC, &s);
        ATTACK_CHECK(r == 1, "uid 1234's group: %d (%s)", r, netutil_client_error_message(c));
        ATTACK_CHECK(test_raw_send_fds(v->report, "m", 1, &s[0].fd, 1) == 0, "send the member: %s",
                     strerror(errno));
        netutil_sockets_free(s, 1);
        netutil_client_close(c);
}

/* nobody asks for a plain reuseport socket on the victim's address and port; reports the
 * result and the message, and holds what it got until told to go. */
static void reuse_attacker_child(void *arg) {
        const Reuse *a = arg;
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        char port[16], msg[256] = "", x;
        int r;

        close(a->parent_ends[0]);
        close(a->parent_ends[1]);
        snprintf(port, sizeof(port), "%u", a->row->port);
        o.address = "127.0.0.1";
        o.port = port;
        o.reuse_port = 1;
        ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect to the daemon");
        r = netutil_bind(c, &o, CALL_TIMEOUT_USEC, &s);
        if (r < 0)
                snprintf(msg, sizeof(msg), "%s", netutil_client_error_message(c) ?: "");
        ATTACK_CHECK(write(a->report, &r, sizeof(r)) == sizeof(r) &&
                             write(a->report, msg, sizeof(msg)) == sizeof(msg),
                     "report: %s", strerror(errno));
        ATTACK_CHECK(read(a->go, &x, 1) >= 0, "wait: %s", strerror(errno));
        netutil_sockets_free(s, r > 0 ? (size_t) r : 0);
        netutil_client_close(c);
}

/* A root service: SO_REUSEPORT on 127.0.0.1:port, listening. */
static int root_reuseport_listener(unsigned port) {
        struct sockaddr_storage ss;
        socklen_t len = test_make_sockaddr("127.0.0.1", port, &ss);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){1}, sizeof(int)), 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &ss, len), 0);
        ck_assert_int_eq(listen(fd, 128), 0);
        return fd;
}

/* How many of n connections queued on listener within a generous ceiling (30 s). */
static int count_accepted(int listener, int n) {
        long long deadline = test_now_ms() + 30000;
        int got = 0;

        while (got < n && test_now_ms() < deadline) {
                struct pollfd p = {.fd = listener, .events = POLLIN};
                int a;

                if (poll(&p, 1, 100) < 1)
                        continue;
                a = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (a >= 0) {
                        got++;
                        close(a);
                }
        }
        return got;
}

START_TEST(test_plain_reuseport_bind_cannot_join_another_uids_port) {
        const ReuseRow *row = &reuse_rows[_i];
        char *conf = test_write_config("[Policy]\nAllowBind=user:nobody tcp:443,9000,9001\n");
        const char *extra[] = {"--config", conf, NULL};
        int report[2], go[2], victim = -EBADF, r = 0, conns[REUSE_CONNECTIONS], got;
        char msg[256], want[256];
        Reuse a;
        pid_t pid;

        attack_start_daemon(extra);
        unlink(conf);

        if (row->group) {
                int sp[2];
                Reuse v = {.row = row};

                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
                v.report = sp[1];
                attack_run_as(ATTACK_OTHER, victim_group_child, &v, 60);
                close(sp[1]);
                victim = recv_one_fd(sp[0], 10000);
                close(sp[0]);
                ck_assert_msg(victim >= 0, "uid 1234's member: %s", strerror(-victim));
        } else
                victim = root_reuseport_listener(row->port);

        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        a = (Reuse){.row = row, .report = report[1], .go = go[0], .parent_ends = {report[0], go[1]}};
        pid = attack_spawn_as(ATTACK_NOBODY, reuse_attacker_child, &a);
        close(report[1]);
        close(go[0]);
        ck_assert_msg(read(report[0], &r, sizeof(r)) == sizeof(r) &&
                              read(report[0], msg, sizeof(msg)) == sizeof(msg),
                      "the attacking child failed before its report");
        close(report[0]);

        /* While nobody holds whatever it got, every connection reaches the victim. */
        for (int i = 0; i < REUSE_CONNECTIONS; i++) {
                conns[i] = test_tcp_connect("127.0.0.1", row->port, 10000);
                ck_assert_msg(conns[i] >= 0, "connect %d: %s", i, strerror(-conns[i]));
        }
        got = count_accepted(victim, REUSE_CONNECTIONS);
        close(go[1]);
        attack_wait_child(pid, 60);
        for (int i = 0; i < REUSE_CONNECTIONS; i++)
                close(conns[i]);
        close(victim);

        ck_assert_msg(got == REUSE_CONNECTIONS,
                      "%s: the victim got %d of %d connections (nobody's bind: %d, %s)", row->what, got,
                      REUSE_CONNECTIONS, r, msg);
        /* The refusal, in words: the kernel's own answer to a socket of nobody's. */
        ck_assert_msg(r == -EADDRINUSE, "%s: nobody's bind returned %d (%s)", row->what, r, msg);
        snprintf(want, sizeof(want), "Address already in use (127.0.0.1 port %u)", row->port);
        ck_assert_str_eq(msg, want);
        if (row->group) {
                /* The group's anchor is the daemon's fd: root releases it for the count. */
                netutil_client *c = NULL;

                ck_assert_int_eq(netutil_client_open(attack_daemon.socket, &c), 0);
                ck_assert_int_eq(netutil_hold_release(c, "web", CALL_TIMEOUT_USEC), 0);
                netutil_client_close(c);
        }
        attack_assert_healthy();
}
END_TEST

/* ---- item 3: bind-unix with the requester's own permissions ---------------------------- */

/* POSIX ACL entries as the kernel reads them from system.posix_acl_access. */
#define ACL_XATTR_VERSION 2
enum { ACL_USER_OBJ = 0x01, ACL_USER = 0x02, ACL_GROUP_OBJ = 0x04, ACL_MASK = 0x10, ACL_OTHER = 0x20 };

typedef struct AclEntry {
        uint16_t tag;
        uint16_t perm;
        uint32_t id;
} AclEntry;

/* Sets path's access ACL to: owner rwx, nobody nobody_perm, group and others other_perm.
 * Returns 0 or -errno (-EOPNOTSUPP where the file system has no ACLs). */
static int set_acl(const char *path, unsigned nobody_perm, unsigned other_perm) {
        struct {
                uint32_t version;
                AclEntry e[5];
        } acl = {
                .version = ACL_XATTR_VERSION,
                .e =
                        {
                                {ACL_USER_OBJ, 7, UINT32_MAX},
                                {ACL_USER, (uint16_t) nobody_perm, ATTACK_NOBODY},
                                {ACL_GROUP_OBJ, (uint16_t) other_perm, UINT32_MAX},
                                {ACL_MASK, 7, UINT32_MAX},
                                {ACL_OTHER, (uint16_t) other_perm, UINT32_MAX},
                        },
        };

        return setxattr(path, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0 ? -errno : 0;
}

/* The daemon's words when the kernel refused nobody: at the bind() itself, or on the way. */
enum { WANT_NONE, WANT_CREATE, WANT_DIRECTORY };

typedef struct UnixRow {
        const char *what;
        const char *dir; /* made below the allowed directory, owned by owner, with mode */
        uid_t owner;
        mode_t mode;
        int acl;         /* 0: none; 1: a named entry denying nobody; 2: one granting nobody rwx */
        const char *sub; /* NULL, or a 0777 directory of owner's made inside dir for the path */
        bool allowed;    /* nobody's bind is what nobody's own bind() could do */
        int want;        /* the refusal: WANT_CREATE or WANT_DIRECTORY */
} UnixRow;

static const UnixRow unix_rows[] = {
        {"uid 1234's private 0700 directory", "victim", ATTACK_OTHER, 0700, 0, NULL, false, WANT_CREATE},
        {"a 0777 directory inside uid 1234's 0700 one", "victim", ATTACK_OTHER, 0700, 0, "open", false,
         WANT_DIRECTORY},
        {"uid 1234's 0755 directory (no write for others)", "victim", ATTACK_OTHER, 0755, 0, NULL, false,
         WANT_CREATE},
        {"a 0777 directory whose ACL denies nobody", "acl-deny", ATTACK_OTHER, 0777, 1, NULL, false,
         WANT_CREATE},
        {"nobody's own 0700 directory", "mine", ATTACK_NOBODY, 0700, 0, NULL, true, WANT_NONE},
        {"uid 1234's 0700 directory whose ACL grants nobody rwx", "acl-grant", ATTACK_OTHER, 0700, 2, NULL,
         true, WANT_NONE},
};

typedef struct UnixAttempt {
        char path[PATH_MAX];
        int result; /* in the shared page */
        char msg[256];
} UnixAttempt;

/* nobody binds path with mode 0640; on success checks what it and a peer see. */
static void unix_attacker_child(void *arg) {
        UnixAttempt *u = arg;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX}, got = {0};
        socklen_t got_len = sizeof(got);
        struct ucred cred = {0};
        socklen_t cred_len = sizeof(cred);
        int r, peer;

        o.path = u->path;
        o.mode = 0640;
        ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect to the daemon");
        r = netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s);
        u->result = r;
        snprintf(u->msg, sizeof(u->msg), "%s",
                 r < 0 && netutil_client_error_message(c) ? netutil_client_error_message(c) : "");
        netutil_client_close(c);
        if (r < 0)
                return;
        ATTACK_CHECK(r == 1, "%d sockets", r);
        /* getsockname() shows the path asked for, as Tornado's bind_unix_socket. */
        ATTACK_CHECK(getsockname(s[0].fd, (struct sockaddr *) &got, &got_len) == 0 &&
                             strcmp(got.sun_path, u->path) == 0,
                     "getsockname: '%s'", got.sun_path);
        /* So does a peer's getpeername(), and the peer sees nobody, this process. */
        strcpy(sa.sun_path, u->path);
        peer = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ATTACK_CHECK(peer >= 0 && connect(peer, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect: %s",
                     strerror(errno));
        memset(&got, 0, sizeof(got));
        got_len = sizeof(got);
        ATTACK_CHECK(getpeername(peer, (struct sockaddr *) &got, &got_len) == 0 &&
                             strcmp(got.sun_path, u->path) == 0,
                     "getpeername: '%s'", got.sun_path);
        ATTACK_CHECK(getsockopt(peer, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0, "SO_PEERCRED: %s",
                     strerror(errno));
        ATTACK_CHECK(cred.uid == ATTACK_NOBODY && cred.gid == ATTACK_NOBODY && cred.pid == getpid(),
                     "the peer sees uid %u gid %u pid %d (this is %d)", (unsigned) cred.uid,
                     (unsigned) cred.gid, (int) cred.pid, (int) getpid());
        close(peer);
        netutil_sockets_free(s, 1);
}

static void mkdir_owned(const char *path, uid_t owner, mode_t mode) {
        ck_assert_msg(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
        ck_assert_int_eq(chown(path, owner, owner), 0);
        ck_assert_int_eq(chmod(path, mode), 0);
}

/* Makes top (a mkdtemp() template) a 0755 directory and starts the daemon with every uid
 * allowed to make unix sockets below it (AllowUnix=* TOP). */
static void start_daemon_with_unix_tree(char *top) {
        const char *extra[] = {"--config", NULL, NULL};
        char rules[PATH_MAX + 64];
        char *conf;

        ck_assert_ptr_nonnull(mkdtemp(top));
        ck_assert_int_eq(chmod(top, 0755), 0);
        snprintf(rules, sizeof(rules), "[Policy]\nAllowUnix=* %s\n", top);
        conf = test_write_config(rules);
        extra[1] = conf;
        attack_start_daemon(extra);
        unlink(conf);
}

START_TEST(test_bind_unix_needs_the_requesters_own_permissions) {
        const UnixRow *row = &unix_rows[_i];
        char top[] = "/tmp/netutild-attack.XXXXXX", dir[PATH_MAX], parent[PATH_MAX], want[512];
        UnixAttempt *u;
        int ifd, creates = 0, others = 0, attribs = 0;

        start_daemon_with_unix_tree(top);

        ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s/%s", top, row->dir), (int) sizeof(dir));
        mkdir_owned(dir, row->owner, row->mode);
        ck_assert_int_lt(snprintf(parent, sizeof(parent), "%s", dir), (int) sizeof(parent));
        if (row->sub) {
                ck_assert_int_lt(snprintf(parent, sizeof(parent), "%s/%s", dir, row->sub),
                                 (int) sizeof(parent));
                mkdir_owned(parent, row->owner, 0777);
        }
        if (row->acl) {
                int r = set_acl(dir, row->acl == 1 ? 0 : 7, row->acl == 1 ? 7 : 0);

                if (r == -EOPNOTSUPP) {
                        fprintf(stderr, "%s: the file system of /tmp has no POSIX ACLs; skipped.\n",
                                row->what);
                        test_rm_rf(top);
                        return;
                }
                ck_assert_msg(r == 0, "setting the ACL: %s", strerror(-r));
        }

        u = mmap(NULL, sizeof(*u), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(u, MAP_FAILED);
        ck_assert_int_lt(snprintf(u->path, sizeof(u->path), "%s/evil.sock", parent), (int) sizeof(u->path));

        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ifd, 0);
        ck_assert_int_ge(inotify_add_watch(ifd, parent, IN_CREATE | IN_MOVED_TO | IN_ATTRIB), 0);
        attack_run_as(ATTACK_NOBODY, unix_attacker_child, u, 60);

        for (;;) {
                union {
                        struct inotify_event ev;
                        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
                } ev;
                ssize_t n = read(ifd, ev.buf, sizeof(ev.buf));

                if (n <= 0)
                        break;
                for (char *q = ev.buf; q < ev.buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) q;

                        q += sizeof(*e) + e->len;
                        if (e->len == 0)
                                continue;
                        if (strcmp(e->name, "evil.sock") != 0)
                                others++;
                        else if (e->mask & IN_CREATE)
                                creates++;
                        else
                                attribs++;
                }
        }
        close(ifd);

        if (row->allowed) {
                struct stat st;

                ck_assert_msg(u->result == 1, "%s: %d (%s)", row->what, u->result, u->msg);
                ck_assert_int_eq(lstat(u->path, &st), 0);
                ck_assert(S_ISSOCK(st.st_mode));
                ck_assert_uint_eq(st.st_uid, ATTACK_NOBODY);
                ck_assert_uint_eq(st.st_gid, ATTACK_NOBODY);
                ck_assert_uint_eq(st.st_mode & 07777, 0640);
                /* Made by bind() at its final name with that owner and mode: no other name,
                 * no chown or chmod after (each would be an event). */
                ck_assert_msg(creates == 1 && attribs == 0 && others == 0,
                              "%s: %d creations, %d other events on the name, %d other names", row->what,
                              creates, attribs, others);
        } else {
                struct stat st;
                int r;

                ck_assert_msg(u->result == -EACCES, "%s: nobody's bind-unix returned %d (%s)", row->what,
                              u->result, u->msg);
                if (row->want == WANT_CREATE)
                        r = snprintf(want, sizeof(want), "Cannot create %s as uid 65534: Permission denied",
                                     u->path);
                else
                        r = snprintf(want, sizeof(want),
                                     "Cannot open the directory of '%s': Permission denied", u->path);
                ck_assert_int_lt(r, (int) sizeof(want));
                ck_assert_str_eq(u->msg, want);
                ck_assert_msg(lstat(u->path, &st) < 0 && errno == ENOENT, "%s: %s was created", row->what,
                              u->path);
                ck_assert_msg(creates + attribs + others == 0, "%s: something was made in %s", row->what,
                              parent);
        }
        munmap(u, sizeof(*u));
        attack_assert_healthy();
        test_rm_rf(top);
}
END_TEST

/* ---- item 5: a unix listener shows its peers the requester ----------------------------- */

typedef struct Listeners {
        char path[PATH_MAX];
        char abstract[64];
        bool raw; /* ask without libnetutil (which would listen() again in this process) */
        int report;
        int go;
        int parent_ends[2];
} Listeners;

/* A BIND_UNIX request without libnetutil (held under name if not NULL); returns the
 * socket of the reply. */
static int raw_bind_unix_held(const void *path, size_t len, const char *name) {
        ProtoMsg *m = NULL;
        int sock = attack_connect(), fd;

        ATTACK_CHECK(proto_msg_new(PROTO_MSG_BIND_UNIX, 7, &m) == 0 &&
                             proto_msg_append(m, PROTO_ATTR_PATH, path, len) == 0 &&
                             (!name || (proto_msg_append_string(m, PROTO_ATTR_NAME, name) == 0 &&
                                        proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1) == 0)),
                     "encoding BIND_UNIX");
        ATTACK_CHECK(proto_send(sock, m) >= 0, "send: %s", strerror(errno));
        proto_msg_free(m);
        fd = recv_one_fd(sock, 30000);
        ATTACK_CHECK(fd >= 0, "no socket in the reply: %s", strerror(-fd));
        close(sock);
        return fd;
}

static int raw_bind_unix(const void *path, size_t len) {
        return raw_bind_unix_held(path, len, NULL);
}

/* nobody gets an abstract and a path listener, reports its pid and holds them. */
static void listeners_child(void *arg) {
        const Listeners *l = arg;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s1 = NULL, *s2 = NULL;
        pid_t me = getpid();
        int fd1 = -EBADF, fd2 = -EBADF;
        char x;

        close(l->parent_ends[0]);
        close(l->parent_ends[1]);
        if (l->raw) {
                fd1 = raw_bind_unix(l->abstract, 1 + strlen(l->abstract + 1));
                fd2 = raw_bind_unix(l->path, strlen(l->path));
        } else {
                ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect to the daemon");
                o.path = l->abstract;
                o.path_len = 1 + strlen(l->abstract + 1);
                ATTACK_CHECK(netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s1) == 1, "abstract: %s",
                             netutil_client_error_message(c));
                o.path = l->path;
                o.path_len = 0;
                ATTACK_CHECK(netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s2) == 1, "path: %s",
                             netutil_client_error_message(c));
                netutil_client_close(c);
        }
        ATTACK_CHECK(write(l->report, &me, sizeof(me)) == sizeof(me), "report: %s", strerror(errno));
        ATTACK_CHECK(read(l->go, &x, 1) >= 0, "wait: %s", strerror(errno));
        netutil_sockets_free(s1, s1 ? 1 : 0);
        netutil_sockets_free(s2, s2 ? 1 : 0);
        if (fd1 >= 0)
                close(fd1);
        if (fd2 >= 0)
                close(fd2);
}

/* What a peer connecting to addr (len bytes of sun_path) sees as SO_PEERCRED. */
static struct ucred peer_sees(const char *addr, size_t len) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct ucred cred = {0};
        socklen_t cred_len = sizeof(cred);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        memcpy(sa.sun_path, addr, len);
        ck_assert_msg(connect(fd, (struct sockaddr *) &sa,
                              (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) == 0,
                      "connect: %s", strerror(errno));
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len), 0);
        close(fd);
        return cred;
}

START_TEST(test_unix_listeners_show_peers_the_requester) {
        char top[] = "/tmp/netutild-attack.XXXXXX";
        const bool raw = _i == 1;
        int report[2], go[2];
        Listeners l = {.raw = raw};
        struct ucred seen[2];
        pid_t pid, child = 0;

        start_daemon_with_unix_tree(top);

        snprintf(l.path, sizeof(l.path), "%s/trusted.sock", top);
        l.abstract[0] = '\0';
        snprintf(l.abstract + 1, sizeof(l.abstract) - 1, "netutild-attack-root-%d", (int) getpid());
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        l.report = report[1];
        l.go = go[0];
        l.parent_ends[0] = report[0];
        l.parent_ends[1] = go[1];
        pid = attack_spawn_as(ATTACK_NOBODY, listeners_child, &l);
        close(report[1]);
        close(go[0]);
        ck_assert_msg(read(report[0], &child, sizeof(child)) == sizeof(child),
                      "the child failed before its report");
        close(report[0]);

        seen[0] = peer_sees(l.abstract, 1 + strlen(l.abstract + 1));
        seen[1] = peer_sees(l.path, strlen(l.path));
        close(go[1]);
        attack_wait_child(pid, 60);

        for (int i = 0; i < 2; i++) {
                const char *what = i == 0 ? "abstract" : "path";

                /* Never root: the daemon listen()ed as nobody. */
                ck_assert_msg(seen[i].uid == ATTACK_NOBODY && seen[i].gid == ATTACK_NOBODY,
                              "%s listener: the peer sees uid %u gid %u", what, (unsigned) seen[i].uid,
                              (unsigned) seen[i].gid);
                /* libnetutil listen()s again in the receiving process: its pid, not the
                 * daemon's. Without the library, the daemon's pid (documented). */
                if (raw)
                        ck_assert_int_eq(seen[i].pid, attack_daemon.pid);
                else
                        ck_assert_msg(seen[i].pid == child,
                                      "%s listener: the peer sees pid %d (nobody's is %d, the "
                                      "daemon's %d)",
                                      what, (int) seen[i].pid, (int) child, (int) attack_daemon.pid);
        }
        attack_assert_healthy();
        test_rm_rf(top);
}
END_TEST

/* nobody holds a unix listener, shuts its copy down (the daemon listen()s again), and
 * reads the credentials the listener then shows (a listener's own SO_PEERCRED) from a copy
 * fetched without libnetutil, until the daemon's repair is seen (a 30 s ceiling). */
static void held_repair_child(void *arg) {
        const char *path = arg;
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        long long deadline = test_now_ms() + 30000;
        struct ucred cred = {0};

        o.path = path;
        o.name = "trusted";
        o.hold = 1;
        ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect to the daemon");
        ATTACK_CHECK(netutil_bind_unix(c, &o, CALL_TIMEOUT_USEC, &s) == 1, "hold: %s",
                     netutil_client_error_message(c));
        netutil_client_close(c);
        ATTACK_CHECK(shutdown(s[0].fd, SHUT_RDWR) == 0, "shutdown: %s", strerror(errno));
        netutil_sockets_free(s, 1);
        do {
                socklen_t len = sizeof(cred);
                int fd = raw_bind_unix_held(path, strlen(path), "trusted");

                ATTACK_CHECK(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, "SO_PEERCRED: %s",
                             strerror(errno));
                close(fd);
                if (cred.pid == attack_daemon.pid)
                        break;
                usleep(20000);
        } while (test_now_ms() < deadline);
        ATTACK_CHECK(cred.pid == attack_daemon.pid, "the daemon did not listen() again (pid %d)",
                     (int) cred.pid);
        ATTACK_CHECK(cred.uid == ATTACK_NOBODY && cred.gid == ATTACK_NOBODY,
                     "the repaired listener shows uid %u gid %u", (unsigned) cred.uid, (unsigned) cred.gid);
}

START_TEST(test_repaired_held_unix_listener_shows_its_owner) {
        char top[] = "/tmp/netutild-attack.XXXXXX", path[PATH_MAX];
        netutil_client *c = NULL;

        start_daemon_with_unix_tree(top);
        ck_assert_int_lt(snprintf(path, sizeof(path), "%s/held.sock", top), (int) sizeof(path));

        attack_run_as(ATTACK_NOBODY, held_repair_child, path, 60);
        /* The held socket is the daemon's fd: root releases it for the count. */
        ck_assert_int_eq(netutil_client_open(attack_daemon.socket, &c), 0);
        ck_assert_int_eq(netutil_hold_release(c, "trusted", CALL_TIMEOUT_USEC), 0);
        netutil_client_close(c);
        attack_assert_healthy();
        test_rm_rf(top);
}
END_TEST

/* The daemon's privilege stands in at the allowed directory only while no one else can
 * change the path that leads to it: bind() resolves that path again, and a user who may
 * rename a component could swap it for a symlink to /etc between the checks and the bind.
 * An allowed directory (root's, 0755) below a directory of nobody's: nobody gets only its
 * own permissions there (EACCES, no node); the same directory on a path of root's: the
 * daemon stands in. */
START_TEST(test_privilege_stands_in_only_on_a_path_only_root_can_change) {
        char top[] = "/tmp/netutild-attack.XXXXXX", conf_text[2 * PATH_MAX + 64], theirs[PATH_MAX], safe[PATH_MAX],
             node[PATH_MAX + 16], out[1024], err[1024];
        const char *extra[] = {"--config", NULL, NULL};
        const char *const as_nobody[] = {"--reuid=65534", "--regid=65534", "--clear-groups", NULL};
        struct stat st;
        int status;

        ck_assert_ptr_nonnull(mkdtemp(top));
        ck_assert_int_eq(chmod(top, 0755), 0);
        snprintf(theirs, sizeof(theirs), "%s/nobodys", top);
        ck_assert_int_eq(mkdir(theirs, 0755), 0);
        ck_assert_int_eq(chown(theirs, ATTACK_NOBODY, ATTACK_NOBODY), 0);
        snprintf(theirs, sizeof(theirs), "%s/nobodys/run", top);
        ck_assert_int_eq(mkdir(theirs, 0755), 0);
        snprintf(safe, sizeof(safe), "%s/run", top);
        ck_assert_int_eq(mkdir(safe, 0755), 0);
        snprintf(conf_text, sizeof(conf_text), "[Policy]\nAllowUnix=* %s\nAllowUnix=* %s\n", theirs, safe);
        extra[1] = test_write_config(conf_text);
        attack_start_daemon(extra);
        unlink(extra[1]);

        snprintf(node, sizeof(node), "%s/x.sock", theirs);
        status = test_ctl(attack_daemon.socket, as_nobody, (const char *[]){"bind-unix", node, NULL}, out, sizeof(out),
                          err, sizeof(err));
        ck_assert_msg(status == 1 && strstr(err, "Permission denied"), "exit %d, stderr '%s'", status, err);
        ck_assert_int_eq(lstat(node, &st), -1);
        snprintf(node, sizeof(node), "%s/x.sock", safe);
        status = test_ctl(attack_daemon.socket, as_nobody, (const char *[]){"bind-unix", node, NULL}, out, sizeof(out),
                          err, sizeof(err));
        ck_assert_msg(status == 0, "exit %d, stderr '%s'", status, err);
        ck_assert_int_eq(lstat(node, &st), 0);
        ck_assert_uint_eq(st.st_uid, ATTACK_NOBODY);
        test_rm_rf(top);
}
END_TEST

/* Nobody holds a unix listener and shuts its copy down. A unix socket keeps its shutdown
 * through listen(), so the daemon's repair cannot revive it: before, its watch fired again
 * at once, for ever (the loop spun and logged some 50 000 lines a second); now it says so
 * once and stops watching, and the name can be released and held anew. */
static void hold_and_shut_down(void *arg) {
        static const char path[] = "\0netutild-attack-shut";
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;

        o.path = path;
        o.path_len = sizeof(path) - 1;
        o.name = "shut";
        o.hold = 1;
        ATTACK_CHECK(netutil_client_open(attack_daemon.socket, &c) == 0, "connect");
        ATTACK_CHECK(netutil_bind_unix(c, &o, 0, &s) == 1, "bind-unix: %s", netutil_client_error_message(c));
        ATTACK_CHECK(shutdown(s[0].fd, SHUT_RDWR) == 0, "shutdown: %s", strerror(errno));
        netutil_sockets_free(s, 1);
        netutil_client_close(c);
}

START_TEST(test_shut_down_held_unix_listener_does_not_spin_the_loop) {
        char log[] = "/tmp/netutild-attack-log.XXXXXX";
        int fd = mkstemp(log), n = 0;

        ck_assert_int_ge(fd, 0);
        close(fd);
        attack_start_daemon_logged(NULL, log);
        attack_run_as(ATTACK_NOBODY, hold_and_shut_down, NULL, 30);
        for (long long deadline = test_now_ms() + 10000; n == 0 && test_now_ms() < deadline; usleep(20000))
                n = attack_count_in_file(log, "cannot listen again after that; no longer watching it");
        ck_assert_msg(n == 1, "the daemon did not give up on the shut-down unix listener (%d lines)", n);
        attack_assert_status_answered(ATTACK_OTHER, 30000);
        ck_assert_int_eq(attack_count_in_file(log, "was shut down by a recipient"), 1);
        unlink(log);
}
END_TEST

/* Held or grouped BINDs whose address is a name run in the worker pool; nobody sends them
 * and hangs up at once, so that each finishes after its client is gone. The daemon crashed
 * on the first (the answer read the departed client's credentials); now the sockets are
 * held for their owner as the request asked, and the daemon serves on. */
#define GONE_BINDS 20
static void binds_then_hang_up(void *arg) {
        for (unsigned i = 0; i < GONE_BINDS; i++) {
                ProtoMsg *m = NULL;
                char name[32];
                int sock = attack_connect();

                snprintf(name, sizeof(name), "gone-%u", i);
                ATTACK_CHECK(proto_msg_new(PROTO_MSG_BIND, i + 1, &m) == 0 &&
                                     proto_msg_append_string(m, PROTO_ATTR_ADDRESS, "localhost") == 0 &&
                                     proto_msg_append_string(m, PROTO_ATTR_SERVICE, "0") == 0 &&
                                     proto_msg_append_string(m, PROTO_ATTR_NAME, name) == 0 &&
                                     proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1) == 0,
                             "encoding BIND");
                ATTACK_CHECK(proto_send(sock, m) >= 0, "send: %s", strerror(errno));
                proto_msg_free(m);
                close(sock);
        }
}

START_TEST(test_bind_answered_after_its_client_left_does_not_crash) {
        char out[8192], err[1024];
        int n = 0;

        attack_setup();
        attack_run_as(ATTACK_NOBODY, binds_then_hang_up, NULL, 60);
        /* Every name is held once the workers are done: the list settles at GONE_BINDS. */
        for (long long deadline = test_now_ms() + 30000; n < GONE_BINDS && test_now_ms() < deadline;) {
                ck_assert_int_eq(test_ctl(attack_daemon.socket,
                                          (const char *[]){"--reuid=65534", "--regid=65534", "--clear-groups", NULL},
                                          (const char *[]){"hold", "list", NULL}, out, sizeof(out), err, sizeof(err)),
                                 0);
                n = 0;
                for (const char *p = out; (p = strstr(p, "gone-")); p++)
                        n++;
                if (n < GONE_BINDS)
                        usleep(50000);
        }
        ck_assert_msg(kill(attack_daemon.pid, 0) == 0, "the daemon died");
        ck_assert_int_ge(n, GONE_BINDS);
        attack_assert_status_answered(ATTACK_OTHER, 30000);
}
END_TEST

void attacks_add_sockets(Suite *s) {
        TCase *tc = test_tcase_add(s, "sockets made for clients", 300, NULL, attack_teardown, NULL);

        tcase_add_loop_test(tc, test_plain_reuseport_bind_cannot_join_another_uids_port, 0,
                            (int) (sizeof(reuse_rows) / sizeof(reuse_rows[0])));
        tcase_add_loop_test(tc, test_bind_unix_needs_the_requesters_own_permissions, 0,
                            (int) (sizeof(unix_rows) / sizeof(unix_rows[0])));
        /* 0: through libnetutil; 1: a raw request. */
        tcase_add_loop_test(tc, test_unix_listeners_show_peers_the_requester, 0, 2);
        tcase_add_test(tc, test_repaired_held_unix_listener_shows_its_owner);
        tcase_add_test(tc, test_bind_answered_after_its_client_left_does_not_crash);
        tcase_add_test(tc, test_privilege_stands_in_only_on_a_path_only_root_can_change);
        tcase_add_test(tc, test_shut_down_held_unix_listener_does_not_spin_the_loop);
}
