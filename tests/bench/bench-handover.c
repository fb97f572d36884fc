/* SPDX-License-Identifier: MIT */

/*
 * bench-handover ("make bench"): what it costs to get a socket from netutild, next to the
 * cheapest way to get the same socket without it, and next to s6-fdholderd.
 *
 * Measured in one run, against the real daemon (test_daemon_start(): --user, temporary
 * socket), a bare echo server and an s6-fdholderd that this program runs itself:
 *   (1) bind on behalf: netutil_bind() of 127.0.0.1 port 0 (one listening socket) on a
 *       persistent connection, the returned fd closed each time; against doing it here,
 *       socket() + bind() + listen() + close(), PLUS one bare SEQPACKET round trip that
 *       carries one fd back. Target: at most 1.3x.
 *   (2) a held socket: netutil_bind() with the NAME and HOLD of a name the daemon already
 *       holds (it dup()s the socket and sends it; we close it), against the bare one-fd
 *       round trip alone. Target: at most 1.5x. Then the same socket from s6-fdholderd:
 *       `netutilctl bind --name N --hold ... -- true` against `s6-fdholder-retrieve S N
 *       true`, both one chain of exec()s timed from spawn to exit (target: netutilctl
 *       faster); and for 8 sockets, netutilctl's one exec that gets all 8 against 8
 *       chained s6-fdholder-retrieve (target: netutilctl faster).
 *   (3) what netutilctl adds to a command: `netutilctl bind --address 127.0.0.1 0 --
 *       true` against `true` alone. Target: at most 1 ms more.
 * Figures of (1) and (2) in-process are microseconds per round trip; those of the exec
 * chains are milliseconds from posix_spawn() to waitpid(). Rows for understanding: the
 * raw protocol against the same servers (the library's share), the local half of (1)'s
 * baseline alone, `netutilctl --version` against `true` (what starting netutilctl costs,
 * no daemon involved), and each exec chain minus `true` (what each tool adds).
 *
 * Method, as bench-status: every measurement runs in three placements ("same-cpu": the
 * servers and we on the first CPU; "cross-cpu": the servers on the second CPU, we and our
 * children on the first; "unpinned"), and a result is only ever compared with a baseline
 * measured in the same placement. Each is BENCH_ROUNDS rounds, the median round is reported;
 * every round is cut into BENCH_SLICES slices in which the contenders take turns (who goes
 * first rotates), so that drift of the machine hits all of them alike.
 *
 * Why the baselines are fair:
 *   - The echo server is a separate, single-threaded process (this binary executed again
 *     with --echo-server) with the daemon's I/O model: non-blocking SOCK_SEQPACKET,
 *     level-triggered epoll, at most 16 datagrams per connection per wake-up. For every
 *     request it sends back the daemon's own BIND reply (captured once at the start, the
 *     request's serial copied in) with one fd in SCM_RIGHTS: a listening TCP socket it
 *     made at start. So both directions carry the daemon's bytes and one fd, the receiver
 *     gets a new fd for it as from the daemon, and the client code (send, poll, recvmsg
 *     with MSG_CMSG_CLOEXEC, parse, close the fd) is the same raw-protocol code for the
 *     daemon and the echo server. The echo server does no dup(): the least work that
 *     moves an fd is the baseline, which only makes the targets harder.
 *   - (1)'s local half is what the client would do itself, with the daemon's socket
 *     flags (SOCK_CLOEXEC | SOCK_NONBLOCK) and backlog, but without the
 *     getaddrinfo(), SO_REUSEADDR and getsockname() the daemon does on top: again the
 *     cheaper side.
 *   - s6-fdholderd holds the very same socket objects netutild holds (we retrieve them
 *     from netutild once and s6-fdholder-store them), and s6-fdholder-retrieve is a
 *     chainloading program, so it is timed the way it is used: one exec chain to
 *     /bin/true, as netutilctl's "-- true". Both tools' paths are resolved once, both
 *     get absolute paths. s6-fdholder-retrieve puts the fd on stdin, so 8 chained
 *     retrieves keep only the last fd: that 8-exec chain is s6's lower bound, and the
 *     target row. A chain that keeps all 8 needs execline's fdmove between them
 *     (fds 3..10, as netutilctl's LISTEN_FDS): shown for information.
 *   - netutilctl runs as it would installed. In a build tree NETUTILCTL_BIN is libtool's
 *     wrapper script (bash and a sed: milliseconds no installed netutilctl pays), so its
 *     binary in .libs/ is executed directly with that directory in LD_LIBRARY_PATH, and
 *     every other program without it (libtool's wrapper of this program put it in our
 *     environment). The `true` that netutilctl executes inherits it, at our expense.
 *   - For 8 sockets under one held name, one BIND must give 8 sockets: this program
 *     enters a mount namespace of its own (root only) and bind-mounts over /etc/hosts a
 *     copy with a name for 127.0.0.1..8, before it starts the daemon, which inherits it.
 *     Nothing outside this process tree sees it. Without it, those rows are skipped.
 *
 * Timings never fail the run: the exit status is nonzero only if something broke (a
 * server did not start, a request or an exec failed, a process did not stop cleanly).
 * Missing s6 tools or no mount namespace skip their rows, with a note.
 *
 * The harness (rounds, slices, placement, the table, the echo server) is benchlib.c's.
 *
 * Environment: NETUTILD_BIN and NETUTILCTL_BIN (default ./netutild, ./netutilctl);
 * BENCH_PLACEMENTS, e.g. "same-cpu,cross-cpu", to run only those; BENCH_VERBOSE=1 prints
 * every round on stderr.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"
#include "benchlib.h"

#define RT_ITERS 2000u      /* in-process round trips per contender per round */
#define RT_WARMUP 300u
#define EXEC_ITERS 20u      /* exec chains per contender per round */
#define EXEC_WARMUP 3u
#define N_EIGHT 8u          /* sockets under the second held name */
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)

#define HELD_ONE "bench-one"     /* held name: one socket, 127.0.0.1 */
#define HELD_EIGHT "bench-eight" /* held name: 8 sockets, 127.0.0.1..8 */
#define EIGHT_HOST "netutil-bench-eight.test"

extern char **environ;

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_client, netutil_client_close);

/* ---- Notes ------------------------------------------------------------------------------ */

/* Things skipped or worth knowing, printed under the table. */
static char notes[8][256];
static size_t n_notes;

_printf_(1, 2) static void add_note(const char *fmt, ...) {
        va_list ap;

        if (n_notes >= ELEMENTSOF(notes))
                return;
        va_start(ap, fmt);
        vsnprintf(notes[n_notes++], sizeof(notes[0]), fmt, ap);
        va_end(ap);
}

/* ---- Raw protocol client --------------------------------------------------------------- */

/* The BIND request netutil_bind() sends for o (client/bind.c), attribute for attribute. */
static int bind_request(const netutil_bind_options *o, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        r = proto_msg_new(PROTO_MSG_BIND, 0, &m);
        if (r < 0)
                return r;
        if ((o->address && (r = proto_msg_append_string(m, PROTO_ATTR_ADDRESS, o->address)) < 0) ||
            (o->port && (r = proto_msg_append_string(m, PROTO_ATTR_SERVICE, o->port)) < 0) ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) o->family)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_SOCKTYPE, o->udp ? SOCK_DGRAM : SOCK_STREAM)) < 0 ||
            (r = proto_msg_append_s32(m, PROTO_ATTR_BACKLOG, o->backlog)) < 0 ||
            (o->flags != -1 && (r = proto_msg_append_s32(m, PROTO_ATTR_AI_FLAGS, o->flags)) < 0) ||
            (o->reuse_port && (r = proto_msg_append_u32(m, PROTO_ATTR_REUSE_PORT, 1)) < 0) ||
            (o->name && (r = proto_msg_append_string(m, PROTO_ATTR_NAME, o->name)) < 0) ||
            (o->hold && (r = proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1)) < 0))
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* A connection speaking the protocol directly with o's BIND request (benchlib.h). */
static int raw_open(BenchRawConn *c, const char *path, const netutil_bind_options *o) {
        ProtoMsg *req = NULL;
        int r;

        r = bind_request(o, &req);
        if (r < 0) {
                *c = (BenchRawConn) { .fd = -EBADF };
                return r;
        }
        return bench_raw_open(c, path, req);
}

/* Receives one reply if one is waiting: returns 1, 0 if none is, or -errno. It must be a
 * successful single-part BIND reply with exactly one item and one fd, which is closed. */
static int raw_recv(BenchRawConn *c, uint32_t *ret_serial) {
        ProtoView v, item;
        ProtoIter it;
        ProtoAttr a;
        unsigned items = 0;
        uint32_t idx;
        ssize_t n;
        int r = 0;

        n = proto_recv(c->fd, c->rcv);
        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return (int) n;
        if (n == 0)
                r = -ECONNRESET;
        else if (c->rcv->real_size > PROTO_MAX_MSG || c->rcv->fds_truncated ||
                 proto_parse(c->rcv->buf, (size_t) n, &v) < 0)
                r = -EBADMSG;
        else if (v.header.status != 0)
                r = v.header.status > 0 && v.header.status < 4096 ? -(int) v.header.status : -EBADMSG;
        else if (v.header.type != PROTO_MSG_BIND || (v.header.flags & PROTO_FLAG_MORE))
                r = -EBADMSG;
        else {
                proto_iter_init(&it, &v);
                while (proto_iter_next(&it, &a) && r == 0) {
                        if (a.type != PROTO_ATTR_ITEM)
                                continue;
                        if (proto_attr_nested(&a, &item) < 0 ||
                            proto_get_u32(&item, PROTO_ATTR_FD_INDEX, &idx) < 0 || idx >= c->rcv->n_fds)
                                r = -EBADMSG;
                        items++;
                }
                if (r == 0 && (items != 1 || c->rcv->n_fds != 1))
                        r = -EBADMSG;
        }
        proto_recv_clear(c->rcv); /* closes the socket we were sent */
        if (r < 0)
                return r;
        *ret_serial = v.header.serial;
        return 1;
}

static int raw_roundtrip(BenchRawConn *c) {
        uint32_t serial = bench_raw_next_serial(c), got;
        int r;

        r = bench_raw_send(c, serial);
        if (r < 0)
                return r;
        for (;;) {
                r = bench_wait_fd(c->fd, POLLIN, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        return r;
                r = raw_recv(c, &got);
                if (r < 0)
                        return r;
                if (r > 0)
                        return got == serial ? 0 : -EBADMSG;
        }
}

/* What the client would do itself instead of (1): with the daemon's socket flags. */
static int local_bind(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd, r = 0;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* ---- The bench ------------------------------------------------------------------------- */

typedef struct Bench {
        TestDaemon daemon;
        bool daemon_started;
        char dir[256]; /* our temporary directory: echo server, s6, hosts */
        BenchEcho echo;
        uint8_t reply[PROTO_MAX_MSG];       /* the daemon's reply for HELD_ONE: the echo server's */
        size_t reply_size, reply_size_bind; /* its size, and that of the reply to a plain bind */
        size_t request_size_bind, request_size_held;
        bool hosts_mounted; /* our /etc/hosts has EIGHT_HOST: HELD_EIGHT can exist */
        char hosts_path[300];
        bool have_eight; /* the daemon holds HELD_EIGHT */
        /* s6 */
        bool have_s6;
        char s6_daemon[256], s6_store[256], s6_retrieve[256], s6_delete[256], fdmove[256];
        char s6_socket[300];
        pid_t s6_pid;
        char s6_ids[1 + N_EIGHT][64]; /* stored, deleted again before s6-fdholderd stops */
        size_t n_s6_ids;
        /* programs */
        char true_bin[256];
        char ctl_bin[512];
        char **ctl_env;     /* netutilctl's environment (NULL: environ): with its library directory */
        char **base_env;    /* everything else's (NULL: environ): without it */
        int devnull;        /* the exec chains' stdout, alike for all */
        cpu_set_t all_cpus; /* what we were allowed at the start */
        int cpu[2];         /* the first two of them; -1 for none */
} Bench;

static Bench bench = { .echo.pid = -1, .s6_pid = -1, .devnull = -EBADF };

/* Read what the daemon sent to its NOTIFY_SOCKET, as a service manager would (harmless;
 * the daemon no longer blocks on a full queue). */
static void drain_notify(Bench *b) {
        bench_drain_notify(&b->daemon);
}

/* Puts the daemon, the echo server and s6-fdholderd on servers, and ourselves on clients
 * (the exec chains we spawn inherit it). */
static int place(Bench *b, const cpu_set_t *servers, const cpu_set_t *clients) {
        int r;

        if ((r = bench_pin_pid(b->daemon.pid, servers)) < 0 ||
            (r = bench_pin_pid(b->echo.pid, servers)) < 0 ||
            (b->s6_pid > 0 && (r = bench_pin_pid(b->s6_pid, servers)) < 0) ||
            (r = bench_pin_pid(getpid(), clients)) < 0)
                return r;
        return 0;
}

/* Removes path and what is below it; never follows a symlink. */
static int rm_rf(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char sub[1024];
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                (void) rm_rf(sub);
        }
        closedir(d);
        return rmdir(path) < 0 ? -errno : 0;
}

/* ---- Children ---------------------------------------------------------------------------- */

/* Waits up to timeout_ms for pid (killed after that): 0 and its wait status, or -errno. */
static int wait_child(pid_t pid, int timeout_ms, int *ret_status) {
        int pfd = (int) syscall(SYS_pidfd_open, pid, 0), r = 0;

        if (pfd >= 0) {
                struct pollfd p = { .fd = pfd, .events = POLLIN };
                do
                        r = poll(&p, 1, timeout_ms);
                while (r < 0 && errno == EINTR);
                close(pfd);
                if (r == 0) {
                        (void) kill(pid, SIGKILL);
                        r = -ETIMEDOUT;
                } else
                        r = 0;
        }
        while (waitpid(pid, ret_status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return r;
}

/* Runs argv with envp (NULL: ours), and fd (if >= 0) as its stdin (to_fd 0) or stdout
 * (to_fd 1), waits, and returns 0 and the time from spawn to reaped in *ret_nsec; -EPROTO
 * if it did not exit 0. */
static int spawn_wait(char *const argv[], char *const envp[], int fd, int to_fd, uint64_t *ret_nsec) {
        posix_spawn_file_actions_t fa, *pfa = NULL;
        uint64_t t0, t1;
        pid_t pid;
        int r, status = 0;

        if (fd >= 0) {
                if ((r = posix_spawn_file_actions_init(&fa)) != 0)
                        return -r;
                pfa = &fa;
                if ((r = posix_spawn_file_actions_adddup2(&fa, fd, to_fd)) != 0) {
                        posix_spawn_file_actions_destroy(&fa);
                        return -r;
                }
        }
        t0 = bench_now_nsec();
        r = posix_spawn(&pid, argv[0], pfa, NULL, argv, envp ?: environ);
        if (pfa)
                posix_spawn_file_actions_destroy(pfa);
        if (r != 0) {
                fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(r));
                return -r;
        }
        r = wait_child(pid, BENCH_IO_TIMEOUT_MS, &status);
        t1 = bench_now_nsec();
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench: %s", argv[0]);
                for (size_t i = 1; argv[i]; i++)
                        fprintf(stderr, " %s", argv[i]);
                fprintf(stderr, ": wait status 0x%x\n", status);
                return -EPROTO;
        }
        if (ret_nsec)
                *ret_nsec = t1 - t0;
        return 0;
}

/* ---- The echo server ------------------------------------------------------------------ */

/* The echo server (benchlib.h), whose every reply carries a listening TCP socket on
 * 127.0.0.1 made at its start, as a held one. */
static int echo_serve(int lfd, const char *reply_path) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_(closep) int held = -EBADF;

        held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (held < 0)
                return -errno;
        if (bind(held, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(held, 128) < 0)
                return -errno;
        return bench_echo_serve(lfd, reply_path, held);
}

/* ---- s6-fdholderd ------------------------------------------------------------------------- */

/* Access rules for s6-fdholderd (s6-accessrules-cdb-from-fs layout): our uid may store and
 * retrieve every identifier. */
static int s6_rules(Bench *b, char *rules, size_t len) {
        char p[512];
        int r;

        snprintf(rules, len, "%s/s6-rules", b->dir);
        if (mkdir(rules, 0700) < 0)
                return -errno;
        snprintf(p, sizeof(p), "%s/uid", rules);
        if (mkdir(p, 0700) < 0)
                return -errno;
        snprintf(p, sizeof(p), "%s/uid/%u", rules, (unsigned) getuid());
        if (mkdir(p, 0700) < 0)
                return -errno;
        snprintf(p, sizeof(p), "%s/uid/%u/allow", rules, (unsigned) getuid());
        if ((r = bench_write_file(p, "", 0)) < 0)
                return r;
        snprintf(p, sizeof(p), "%s/uid/%u/env", rules, (unsigned) getuid());
        if (mkdir(p, 0700) < 0)
                return -errno;
        snprintf(p, sizeof(p), "%s/uid/%u/env/S6_FDHOLDER_STORE_REGEX", rules, (unsigned) getuid());
        if ((r = bench_write_file(p, "^bench-\n", 8)) < 0)
                return r;
        snprintf(p, sizeof(p), "%s/uid/%u/env/S6_FDHOLDER_RETRIEVE_REGEX", rules, (unsigned) getuid());
        return bench_write_file(p, "^bench-\n", 8);
}

/* s6-fdholder-daemon -1 -i RULES DIR/s6.sock: it exec()s into s6-ipcserver-socketbinder
 * and s6-fdholderd under the same pid, and writes a newline to fd 1 once it serves. */
static int s6_start(Bench *b) {
        char rules[300], c = 0;
        int p[2], r;

        r = s6_rules(b, rules, sizeof(rules));
        if (r < 0)
                return r;
        snprintf(b->s6_socket, sizeof(b->s6_socket), "%s/s6.sock", b->dir);
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        b->s6_pid = fork();
        if (b->s6_pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (b->s6_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (dup2(p[1], 1) < 0)
                        _exit(127);
                execl(b->s6_daemon, "s6-fdholder-daemon", "-1", "-i", rules, b->s6_socket, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        r = bench_wait_fd(p[0], POLLIN, BENCH_IO_TIMEOUT_MS);
        if (r == 0 && (read(p[0], &c, 1) != 1 || c != '\n'))
                r = -EPROTO;
        close(p[0]);
        return r;
}

static int s6_stop(Bench *b) {
        int status, r = 0;

        if (b->s6_pid <= 0)
                return 0;
        /* s6-fdholderd exits 1 on SIGTERM while it still holds fds: give them back first. */
        for (size_t i = 0; i < b->n_s6_ids && r == 0; i++) {
                char *argv[] = { b->s6_delete, b->s6_socket, b->s6_ids[i], NULL };
                r = spawn_wait(argv, b->base_env, -1, 0, NULL);
        }
        b->n_s6_ids = 0;
        if (r < 0) {
                int ignored;
                (void) bench_stop_child(&b->s6_pid, &ignored);
                return r;
        }
        r = bench_stop_child(&b->s6_pid, &status);
        /* Then it exits 0 on SIGTERM; dying of it is fine too. */
        if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
            !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                r = -ECHILD;
        return r;
}

static int s6_store(Bench *b, int fd, const char *id) {
        char *argv[] = { b->s6_store, b->s6_socket, (char *) id, NULL };
        int r;

        if (b->n_s6_ids >= ELEMENTSOF(b->s6_ids))
                return -ENOBUFS;
        r = spawn_wait(argv, b->base_env, fd, 0, NULL);
        if (r == 0)
                snprintf(b->s6_ids[b->n_s6_ids++], sizeof(b->s6_ids[0]), "%s", id);
        return r;
}

/* ---- A mount namespace with a name for 8 addresses ----------------------------------------- */

/* Enters a mount namespace of our own and bind-mounts over /etc/hosts a copy of it that
 * also has EIGHT_HOST on 127.0.0.1..8. Only this process and its children (the daemon,
 * started after this) see it. */
static int hosts_setup(Bench *b) {
        char buf[65536], line[128];
        ssize_t n = 0;
        size_t len = 0;
        int fd, r;

        fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, buf, sizeof(buf) - 1024);
                close(fd);
        }
        if (fd < 0 || n < 0)
                return -errno;
        len = (size_t) n;
        if (len > 0 && buf[len - 1] != '\n')
                buf[len++] = '\n';
        for (unsigned i = 1; i <= N_EIGHT; i++) {
                int k = snprintf(line, sizeof(line), "127.0.0.%u %s\n", i, EIGHT_HOST);
                memcpy(buf + len, line, (size_t) k);
                len += (size_t) k;
        }
        snprintf(b->hosts_path, sizeof(b->hosts_path), "%s/hosts", b->dir);
        r = bench_write_file(b->hosts_path, buf, len);
        if (r < 0)
                return r;
        if (chmod(b->hosts_path, 0644) < 0)
                return -errno;
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        if (mount(b->hosts_path, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
                return -errno;
        b->hosts_mounted = true;
        return 0;
}

static void hosts_teardown(Bench *b) {
        if (b->hosts_mounted && umount2("/etc/hosts", MNT_DETACH) == 0)
                b->hosts_mounted = false;
}

/* ---- Setup: held names, the reply, s6 ------------------------------------------------------ */

static const netutil_bind_options opts_bind = {
        .address = "127.0.0.1", .port = "0", .backlog = 128, .flags = -1,
};
static const netutil_bind_options opts_held = {
        .address = "127.0.0.1", .port = "0", .backlog = 128, .flags = -1, .name = HELD_ONE, .hold = 1,
};
static const netutil_bind_options opts_eight = {
        .address = EIGHT_HOST, .port = "0", .family = AF_INET, .backlog = 128, .flags = -1,
        .name = HELD_EIGHT, .hold = 1,
};

/* Sends o's request once on the raw protocol to the daemon and keeps the reply bytes in
 * buf (PROTO_MAX_MSG). */
static int capture_reply(Bench *b, const netutil_bind_options *o, uint8_t *buf, size_t *ret_size,
                         size_t *ret_request_size) {
        BenchRawConn c;
        uint32_t got;
        int r;

        r = raw_open(&c, b->daemon.socket, o);
        if (r < 0)
                return r;
        *ret_request_size = c.req->size;
        c.serial = 1;
        r = bench_raw_send(&c, c.serial);
        while (r >= 0) {
                r = bench_wait_fd(c.fd, POLLIN, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        break;
                r = raw_recv(&c, &got);
                if (r > 0) {
                        *ret_size = (size_t) c.rcv->size;
                        if (buf)
                                memcpy(buf, c.rcv->buf, c.rcv->size);
                        r = got == c.serial ? 0 : -EBADMSG;
                        break;
                }
        }
        bench_raw_close(&c);
        return r;
}

/* Makes the daemon hold HELD_ONE (and HELD_EIGHT if it can), and with s6 stores the same
 * sockets in s6-fdholderd as "bench-one" and "bench-eight-0".."bench-eight-7". */
static int setup_held(Bench *b) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        netutil_socket *s = NULL;
        char id[64];
        int n, r;

        r = netutil_client_open(b->daemon.socket, &c);
        if (r < 0)
                return r;
        n = netutil_bind(c, &opts_held, LIB_TIMEOUT_USEC, &s);
        if (n < 0) {
                fprintf(stderr, "bench: holding %s: %s\n", HELD_ONE,
                        netutil_client_error_message(c) ?: strerror(-n));
                return n;
        }
        r = n == 1 ? 0 : -EBADMSG;
        if (r == 0 && b->have_s6)
                r = s6_store(b, s[0].fd, HELD_ONE);
        netutil_sockets_free(s, (size_t) n);
        if (r < 0)
                return r;

        if (!b->hosts_mounted)
                return 0;
        n = netutil_bind(c, &opts_eight, LIB_TIMEOUT_USEC, &s);
        if (n < 0) {
                add_note("The daemon could not bind %s (%s): the 8-socket rows are skipped.", EIGHT_HOST,
                         netutil_client_error_message(c) ?: strerror(-n));
                return 0;
        }
        if (n != (int) N_EIGHT) {
                add_note("%s gave %d sockets, not %u: the 8-socket rows are skipped.", EIGHT_HOST, n,
                         N_EIGHT);
                netutil_sockets_free(s, (size_t) n);
                return 0;
        }
        for (int i = 0; i < n && r == 0 && b->have_s6; i++) {
                snprintf(id, sizeof(id), "%s-%d", HELD_EIGHT, i);
                r = s6_store(b, s[i].fd, id);
        }
        netutil_sockets_free(s, (size_t) n);
        if (r < 0)
                return r;
        b->have_eight = true;
        return 0;
}

/* ---- (1), (2) in-process ---------------------------------------------------------------- */

typedef enum Op {
        OP_LIBRARY,   /* netutil_bind() to the daemon, then netutil_sockets_free() */
        OP_RAW,       /* the raw protocol to a server: one request, one reply with one fd */
        OP_LOCAL_RAW, /* local_bind() here, then OP_RAW */
        OP_LOCAL,     /* local_bind() alone */
} Op;

typedef struct Contender {
        Op op;
        const char *path;                 /* the server's socket */
        pid_t server;                     /* for colocation; 0: none */
        const netutil_bind_options *opts; /* the request */
        netutil_client *lib;
        BenchRawConn raw;
        double us[BENCH_ROUNDS];
        unsigned shared;
} Contender;

static void contender_close(Contender *c) {
        c->lib = netutil_client_close(c->lib);
        bench_raw_close(&c->raw);
}

static int contender_open(Contender *c) {
        if (c->op == OP_LIBRARY)
                return netutil_client_open(c->path, &c->lib);
        if (c->op == OP_RAW || c->op == OP_LOCAL_RAW)
                return raw_open(&c->raw, c->path, c->opts);
        return 0;
}

static int contender_run(Contender *c, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                netutil_socket *s = NULL;
                int r = 0;

                switch (c->op) {
                case OP_LIBRARY:
                        r = netutil_bind(c->lib, c->opts, LIB_TIMEOUT_USEC, &s);
                        if (r >= 0) {
                                netutil_sockets_free(s, (size_t) r);
                                r = r == 1 ? 0 : -EBADMSG;
                        }
                        break;
                case OP_LOCAL_RAW:
                        r = local_bind();
                        if (r >= 0)
                                r = raw_roundtrip(&c->raw);
                        break;
                case OP_RAW:
                        r = raw_roundtrip(&c->raw);
                        break;
                case OP_LOCAL:
                        r = local_bind();
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

#define MAX_CONTENDERS 8u

/* Runs n contenders for BENCH_ROUNDS rounds, interleaved by slice; fills their us[]. */
static int run_contenders(Bench *b, Contender *c, size_t n, const char *what, const char *placement) {
        int r = 0;

        if (n > MAX_CONTENDERS)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                c[i].raw = (BenchRawConn) { .fd = -EBADF };
                c[i].lib = NULL;
                c[i].shared = 0;
        }
        for (size_t i = 0; i < n; i++)
                if ((r = contender_open(&c[i])) < 0) {
                        fprintf(stderr, "bench: %s %s: cannot connect: %s\n", what, placement, strerror(-r));
                        goto finish;
                }
        for (size_t i = 0; i < n; i++)
                if ((r = contender_run(&c[i], RT_WARMUP)) < 0)
                        goto fail;

        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[MAX_CONTENDERS] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (size_t k = 0; k < n; k++) {
                                size_t i = (round + slice + k) % n; /* who goes first rotates */
                                uint64_t t0;

                                drain_notify(b);
                                t0 = bench_now_nsec();
                                r = contender_run(&c[i], RT_ITERS / BENCH_SLICES);
                                if (r < 0)
                                        goto fail;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                                if (c[i].server > 0)
                                        c[i].shared += bench_colocated(c[i].server);
                        }
                for (size_t i = 0; i < n; i++)
                        c[i].us[round] = sec[i] * 1e6 / (RT_ITERS / BENCH_SLICES * BENCH_SLICES);
        }
        goto finish;
fail:
        fprintf(stderr, "bench: %s %s: a request failed: %s\n", what, placement, strerror(-r));
finish:
        for (size_t i = 0; i < n; i++)
                contender_close(&c[i]);
        return r;
}

static double coloc_of(const Contender *c) {
        return c->server > 0 ? c->shared / (double) (BENCH_ROUNDS * BENCH_SLICES) : -1;
}

static int case_bind(Bench *b, const char *placement) {
        Contender c[] = {
                { .op = OP_LIBRARY, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_bind },
                { .op = OP_RAW, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_bind },
                { .op = OP_LOCAL_RAW, .path = b->echo.socket, .server = b->echo.pid, .opts = &opts_bind },
                { .op = OP_LOCAL },
        };
        int r;

        r = run_contenders(b, c, ELEMENTSOF(c), "(1)", placement);
        if (r < 0)
                return r;
        bench_row_set_coloc(bench_add_row("(1) bind 127.0.0.1:0: netutil_bind()", placement, "local+echo 1fd",
                                          BENCH_UNIT_USEC, c[0].us, c[2].us, BENCH_ROUNDS, BENCH_GOAL_AT_MOST,
                                          1.3),
                            coloc_of(&c[0]), coloc_of(&c[2]));
        bench_row_set_coloc(bench_add_row("(1) bind 127.0.0.1:0: raw protocol", placement, "local+echo 1fd",
                                          BENCH_UNIT_USEC, c[1].us, c[2].us, BENCH_ROUNDS, BENCH_GOAL_INFO,
                                          0),
                            coloc_of(&c[1]), coloc_of(&c[2]));
        bench_row_set_coloc(bench_add_row("(1) library's share: library vs raw", placement, "raw protocol",
                                          BENCH_UNIT_USEC, c[0].us, c[1].us, BENCH_ROUNDS, BENCH_GOAL_INFO,
                                          0),
                            coloc_of(&c[0]), coloc_of(&c[1]));
        bench_add_row("(1) baseline's local part: socket..close", placement, "local+echo 1fd",
                      BENCH_UNIT_USEC, c[3].us, c[2].us, BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        return 0;
}

static int case_held(Bench *b, const char *placement) {
        Contender c[] = {
                { .op = OP_LIBRARY, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_held },
                { .op = OP_RAW, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_held },
                { .op = OP_RAW, .path = b->echo.socket, .server = b->echo.pid, .opts = &opts_held },
        };
        int r;

        r = run_contenders(b, c, ELEMENTSOF(c), "(2)", placement);
        if (r < 0)
                return r;
        bench_row_set_coloc(bench_add_row("(2) held socket: netutil_bind(name, hold)", placement, "echo 1fd",
                                          BENCH_UNIT_USEC, c[0].us, c[2].us, BENCH_ROUNDS, BENCH_GOAL_AT_MOST,
                                          1.5),
                            coloc_of(&c[0]), coloc_of(&c[2]));
        bench_row_set_coloc(bench_add_row("(2) held socket: raw protocol", placement, "echo 1fd",
                                          BENCH_UNIT_USEC, c[1].us, c[2].us, BENCH_ROUNDS, BENCH_GOAL_INFO,
                                          0),
                            coloc_of(&c[1]), coloc_of(&c[2]));
        return 0;
}

/* ---- (2), (3) exec chains ------------------------------------------------------------------ */

enum {
        X_TRUE,      /* /bin/true */
        X_CTL_LOAD,  /* netutilctl --version: loading it, no daemon */
        X_CTL_BIND,  /* netutilctl bind --address 127.0.0.1 0 -- /bin/true */
        X_CTL_ONE,   /* netutilctl bind ... --name bench-one --hold 0 -- /bin/true */
        X_S6_ONE,    /* s6-fdholder-retrieve S bench-one /bin/true */
        X_CTL_EIGHT, /* netutilctl bind ... --name bench-eight --hold 0 -- /bin/true */
        X_S6_EIGHT,  /* s6-fdholder-retrieve S bench-eight-0 ... -7 /bin/true */
        X_S6_FDMOVE, /* the same with fdmove 3+i 0 after each */
        _X_MAX,
};

typedef struct ExecCase {
        char *argv[64];
        char **envp; /* NULL: ours */
        bool on;     /* available in this run */
        double ms[BENCH_ROUNDS];
} ExecCase;

static void exec_cases(Bench *b, ExecCase x[static _X_MAX]) {
        static char ids[N_EIGHT][64], fds[N_EIGHT][8];
        size_t k;

        memset(x, 0, sizeof(ExecCase) * _X_MAX);
        x[X_TRUE] = (ExecCase) { .on = true, .envp = b->base_env, .argv = { b->true_bin } };
        x[X_CTL_LOAD] = (ExecCase) { .on = true, .envp = b->ctl_env, .argv = { b->ctl_bin, "--version" } };
        x[X_CTL_BIND] = (ExecCase) {
                .on = true,
                .envp = b->ctl_env,
                .argv = { b->ctl_bin, "--socket", b->daemon.socket, "bind", "--address", "127.0.0.1", "0",
                          "--", b->true_bin },
        };
        x[X_CTL_ONE] = (ExecCase) {
                .on = true,
                .envp = b->ctl_env,
                .argv = { b->ctl_bin, "--socket", b->daemon.socket, "bind", "--address", "127.0.0.1",
                          "--name", HELD_ONE, "--hold", "0", "--", b->true_bin },
        };
        x[X_S6_ONE] = (ExecCase) {
                .on = b->have_s6,
                .envp = b->base_env,
                .argv = { b->s6_retrieve, b->s6_socket, HELD_ONE, b->true_bin },
        };
        x[X_CTL_EIGHT] = (ExecCase) {
                .on = b->have_eight,
                .envp = b->ctl_env,
                .argv = { b->ctl_bin, "--socket", b->daemon.socket, "bind", "--address", EIGHT_HOST,
                          "--family", "ipv4", "--name", HELD_EIGHT, "--hold", "0", "--", b->true_bin },
        };
        x[X_S6_EIGHT].on = b->have_eight && b->have_s6;
        x[X_S6_FDMOVE].on = b->have_eight && b->have_s6 && b->fdmove[0];
        x[X_S6_EIGHT].envp = x[X_S6_FDMOVE].envp = b->base_env;
        k = 0;
        for (unsigned i = 0; i < N_EIGHT; i++) {
                snprintf(ids[i], sizeof(ids[i]), "%s-%u", HELD_EIGHT, i);
                snprintf(fds[i], sizeof(fds[i]), "%u", 3 + i);
                x[X_S6_EIGHT].argv[k++] = b->s6_retrieve;
                x[X_S6_EIGHT].argv[k++] = b->s6_socket;
                x[X_S6_EIGHT].argv[k++] = ids[i];
        }
        x[X_S6_EIGHT].argv[k] = b->true_bin;
        k = 0;
        for (unsigned i = 0; i < N_EIGHT; i++) {
                x[X_S6_FDMOVE].argv[k++] = b->s6_retrieve;
                x[X_S6_FDMOVE].argv[k++] = b->s6_socket;
                x[X_S6_FDMOVE].argv[k++] = ids[i];
                x[X_S6_FDMOVE].argv[k++] = b->fdmove;
                x[X_S6_FDMOVE].argv[k++] = fds[i];
                x[X_S6_FDMOVE].argv[k++] = "0";
        }
        x[X_S6_FDMOVE].argv[k] = b->true_bin;
}

static int case_exec(Bench *b, const char *placement) {
        ExecCase x[_X_MAX];
        double over[4][BENCH_ROUNDS];
        int r;

        exec_cases(b, x);
        for (size_t i = 0; i < _X_MAX; i++)
                for (unsigned w = 0; w < EXEC_WARMUP && x[i].on; w++)
                        if ((r = spawn_wait(x[i].argv, x[i].envp, b->devnull, 1, NULL)) < 0)
                                goto fail;

        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[_X_MAX] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (size_t k = 0; k < _X_MAX; k++) {
                                size_t i = (round + slice + k) % _X_MAX;

                                if (!x[i].on)
                                        continue;
                                drain_notify(b);
                                for (unsigned e = 0; e < EXEC_ITERS / BENCH_SLICES; e++) {
                                        uint64_t ns;

                                        r = spawn_wait(x[i].argv, x[i].envp, b->devnull, 1, &ns);
                                        if (r < 0)
                                                goto fail;
                                        sec[i] += (double) ns / 1e9;
                                }
                        }
                for (size_t i = 0; i < _X_MAX; i++)
                        x[i].ms[round] = sec[i] * 1e3 / (EXEC_ITERS / BENCH_SLICES * BENCH_SLICES);
                /* What each adds to /bin/true, in this round. */
                over[0][round] = x[X_CTL_ONE].ms[round] - x[X_TRUE].ms[round];
                over[1][round] = x[X_S6_ONE].ms[round] - x[X_TRUE].ms[round];
                over[2][round] = x[X_CTL_EIGHT].ms[round] - x[X_TRUE].ms[round];
                over[3][round] = x[X_S6_EIGHT].ms[round] - x[X_TRUE].ms[round];
        }

        bench_add_row("(3) netutilctl bind 127.0.0.1 0 -- true", placement, "/bin/true", BENCH_UNIT_MSEC,
                x[X_CTL_BIND].ms, x[X_TRUE].ms, BENCH_ROUNDS, BENCH_GOAL_OVERHEAD_AT_MOST, 1.0);
        bench_add_row("(3) its start-up: netutilctl --version", placement, "/bin/true", BENCH_UNIT_MSEC,
                x[X_CTL_LOAD].ms, x[X_TRUE].ms, BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        if (x[X_S6_ONE].on) {
                bench_add_row("(2) 1 held fd: netutilctl -- true", placement, "s6-retrieve", BENCH_UNIT_MSEC,
                        x[X_CTL_ONE].ms, x[X_S6_ONE].ms, BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 1.0);
                bench_add_row("(2) 1 held fd: the same minus /bin/true", placement, "s6, minus true",
                              BENCH_UNIT_MSEC, over[0], over[1], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        }
        if (x[X_S6_EIGHT].on) {
                bench_add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "s6-retrieve x8",
                              BENCH_UNIT_MSEC, x[X_CTL_EIGHT].ms, x[X_S6_EIGHT].ms, BENCH_ROUNDS,
                              BENCH_GOAL_AT_MOST, 1.0);
                bench_add_row("(2) 8 held fds: the same minus /bin/true", placement, "s6, minus true",
                              BENCH_UNIT_MSEC, over[2], over[3], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        }
        if (x[X_S6_FDMOVE].on)
                bench_add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "s6 x8 + fdmove",
                              BENCH_UNIT_MSEC, x[X_CTL_EIGHT].ms, x[X_S6_FDMOVE].ms, BENCH_ROUNDS,
                              BENCH_GOAL_INFO, 0);
        if (x[X_CTL_EIGHT].on && !x[X_S6_EIGHT].on)
                bench_add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "/bin/true", BENCH_UNIT_MSEC,
                        x[X_CTL_EIGHT].ms, x[X_TRUE].ms, BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        return 0;
fail:
        fprintf(stderr, "bench: exec chains, %s: %s\n", placement, strerror(-r));
        return r;
}

/* ---- main --------------------------------------------------------------------------------- */

/* Whether path starts with magic. */
static bool file_starts_with(const char *path, const char *magic) {
        char buf[8] = "";
        size_t n = strlen(magic);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        bool ok;

        if (fd < 0)
                return false;
        ok = n <= sizeof(buf) && read(fd, buf, n) == (ssize_t) n && memcmp(buf, magic, n) == 0;
        close(fd);
        return ok;
}

/* environ without dir in LD_LIBRARY_PATH, and with add (if not NULL) as a first entry of
 * LD_LIBRARY_PATH instead: a new array, its strings ours or environ's. */
static char **env_with_libdir(const char *dir, const char *add) {
        const char *old = getenv("LD_LIBRARY_PATH");
        char *ld = NULL, **env;
        size_t n = 0, k = 0, len;
        FILE *f;

        f = open_memstream(&ld, &len);
        if (!f)
                return NULL;
        fputs("LD_LIBRARY_PATH=", f);
        if (add)
                fputs(add, f);
        for (const char *p = old; p && *p;) {
                size_t m = strcspn(p, ":");

                if (m > 0 && !(m == strlen(dir) && strncmp(p, dir, m) == 0))
                        fprintf(f, "%s%.*s", ftell(f) > 16 ? ":" : "", (int) m, p);
                p += m + (p[m] == ':');
        }
        if (fclose(f) != 0)
                return NULL;
        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env) {
                free(ld);
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "LD_LIBRARY_PATH=", 16) != 0)
                        env[k++] = environ[i];
        if (strlen(ld) > 16)
                env[k++] = ld;
        else
                free(ld);
        return env;
}

static char **env_free(char **env) {
        if (env)
                for (size_t i = 0; env[i]; i++)
                        if (strncmp(env[i], "LD_LIBRARY_PATH=", 16) == 0)
                                free(env[i]); /* ours: environ's was left out */
        free(env);
        return NULL;
}

/* netutilctl as it is installed: an absolute path, so that exec()s look nothing up; and in
 * a build tree, instead of libtool's wrapper script (bash and a sed: milliseconds), the
 * binary in .libs/ with LD_LIBRARY_PATH, as the wrapper would run it. The other programs
 * then run without that directory in LD_LIBRARY_PATH, where libtool's wrapper of this very
 * program put it; the /bin/true that netutilctl executes inherits it, at our expense. */
static int find_netutilctl(Bench *b) {
        char real[512], dir[512], *slash;

        if (!realpath(test_netutilctl_bin(), b->ctl_bin) || access(b->ctl_bin, X_OK) < 0)
                return -errno;
        if (!file_starts_with(b->ctl_bin, "#!"))
                return 0;
        snprintf(dir, sizeof(dir), "%s", b->ctl_bin);
        slash = strrchr(dir, '/');
        if (!slash)
                return 0;
        *slash = '\0';
        if ((size_t) snprintf(real, sizeof(real), "%s/.libs/%s", dir, slash + 1) >= sizeof(real) ||
            access(real, X_OK) < 0 || !file_starts_with(real, "\177ELF"))
                return 0;
        snprintf(b->ctl_bin, sizeof(b->ctl_bin), "%s", real);
        *strrchr(real, '/') = '\0'; /* the .libs directory */
        b->ctl_env = env_with_libdir(real, real);
        b->base_env = env_with_libdir(real, NULL);
        if (!b->ctl_env || !b->base_env)
                return -ENOMEM;
        add_note("netutilctl is libtool's wrapper script: its binary %s/%s ran instead, with "
                 "LD_LIBRARY_PATH=%s.", real, slash + 1, real);
        return 0;
}

/* The programs: netutild and netutilctl are required, s6 and fdmove optional. */
static int find_programs(Bench *b) {
        int r;

        if (access(test_netutild_bin(), X_OK) < 0) {
                r = -errno;
                fprintf(stderr, "bench: cannot run the daemon %s (set NETUTILD_BIN): %s\n",
                        test_netutild_bin(), strerror(-r));
                return r;
        }
        r = find_netutilctl(b);
        if (r < 0) {
                fprintf(stderr, "bench: cannot run %s (set NETUTILCTL_BIN): %s\n", test_netutilctl_bin(),
                        strerror(-r));
                return r;
        }
        if (bench_find_program("/bin/true", b->true_bin, sizeof(b->true_bin)) < 0 &&
            bench_find_program("true", b->true_bin, sizeof(b->true_bin)) < 0) {
                fprintf(stderr, "bench: no true(1)\n");
                return -ENOENT;
        }
        b->have_s6 =
                bench_find_program("s6-fdholder-daemon", b->s6_daemon, sizeof(b->s6_daemon)) == 0 &&
                bench_find_program("s6-fdholder-store", b->s6_store, sizeof(b->s6_store)) == 0 &&
                bench_find_program("s6-fdholder-retrieve", b->s6_retrieve, sizeof(b->s6_retrieve)) == 0 &&
                bench_find_program("s6-fdholder-delete", b->s6_delete, sizeof(b->s6_delete)) == 0;
        if (!b->have_s6)
                add_note("s6-fdholder-daemon, -store, -retrieve or -delete is not in $PATH: the s6 rows are "
                         "skipped.");
        if (bench_find_program("/usr/lib/execline/bin/fdmove", b->fdmove, sizeof(b->fdmove)) < 0 &&
            bench_find_program("fdmove", b->fdmove, sizeof(b->fdmove)) < 0) {
                b->fdmove[0] = '\0';
                if (b->have_s6)
                        add_note("execline's fdmove was not found: the s6 x8 + fdmove row is skipped.");
        }
        return 0;
}

static int run(Bench *b) {
        BenchPlacement order[_BENCH_PLACE_MAX];
        size_t n_order;
        uint64_t t0 = bench_now_nsec();
        int r;

        r = bench_parse_placements(order, &n_order);
        if (r < 0)
                return r;
        r = find_programs(b);
        if (r < 0)
                return r;
        b->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (b->devnull < 0) {
                r = -errno;
                fprintf(stderr, "bench: cannot open /dev/null: %s\n", strerror(-r));
                return r;
        }
        r = bench_make_temp_dir(b->dir, sizeof(b->dir));
        if (r < 0) {
                fprintf(stderr, "bench: cannot make a temporary directory: %s\n", strerror(-r));
                return r;
        }
        /* Before the daemon starts, so that it inherits the namespace. */
        r = hosts_setup(b);
        if (r < 0)
                add_note("No mount namespace for a hosts file with %s (%s): the 8-socket rows are skipped.",
                         EIGHT_HOST, strerror(-r));

        r = test_daemon_start(&b->daemon, NULL);
        if (r < 0) {
                fprintf(stderr, "bench: the daemon (%s) did not start: %s\n", test_netutild_bin(),
                        strerror(-r));
                return r;
        }
        b->daemon_started = true;

        if (b->have_s6) {
                r = s6_start(b);
                if (r < 0) {
                        fprintf(stderr, "bench: s6-fdholder-daemon did not start: %s\n", strerror(-r));
                        return r;
                }
        }
        r = setup_held(b);
        if (r < 0) {
                fprintf(stderr, "bench: cannot set up the held sockets: %s\n", strerror(-r));
                return r;
        }
        r = capture_reply(b, &opts_held, b->reply, &b->reply_size, &b->request_size_held);
        if (r >= 0)
                r = capture_reply(b, &opts_bind, NULL, &b->reply_size_bind, &b->request_size_bind);
        if (r < 0) {
                fprintf(stderr, "bench: the first BIND requests failed: %s\n", strerror(-r));
                return r;
        }
        r = bench_echo_start(&b->echo, b->dir, "bench-handover", b->reply, b->reply_size);
        if (r < 0) {
                fprintf(stderr, "bench: the echo server did not start: %s\n", strerror(-r));
                return r;
        }
        {
                BenchRawConn c;
                r = raw_open(&c, b->echo.socket, &opts_held);
                if (r >= 0)
                        r = raw_roundtrip(&c);
                bench_raw_close(&c);
                if (r < 0) {
                        fprintf(stderr, "bench: the echo server does not answer: %s\n", strerror(-r));
                        return r;
                }
        }

        printf("netutild hand-over benchmark: BIND request %zu bytes (bind) / %zu bytes (held), reply %zu / "
               "%zu\n"
               "bytes with one fd (the echo server answers %zu bytes and one fd); daemon pid %d, echo "
               "server\n"
               "pid %d, s6-fdholderd pid %d; %u rounds per measurement, the median shown; in-process:\n"
               "%u round trips per round; exec chains: %u per round, timed from posix_spawn() to waitpid().\n"
               "Placements: unpinned = the scheduler decides; same-cpu = servers and clients (and their\n"
               "children) on CPU %d; cross-cpu = servers on CPU %d, clients on CPU %d.\n",
               b->request_size_bind, b->request_size_held, b->reply_size_bind, b->reply_size, b->reply_size,
               (int) b->daemon.pid, (int) b->echo.pid, (int) b->s6_pid, BENCH_ROUNDS, RT_ITERS, EXEC_ITERS,
               b->cpu[0], b->cpu[1], b->cpu[0]);
        if (b->cpu[1] < 0)
                printf("Only one CPU is allowed: the cross-cpu placement is skipped.\n");
        fflush(stdout);

        for (size_t o = 0; o < n_order; o++) {
                BenchPlacement p = order[o];
                const char *label = bench_placement_label[p];
                cpu_set_t servers, clients;

                if (!bench_placement_cpus(p, &b->all_cpus, b->cpu, &servers, &clients))
                        continue;
                r = place(b, &servers, &clients);
                if (r < 0) {
                        fprintf(stderr, "bench: cannot set CPU affinity: %s\n", strerror(-r));
                        return r;
                }
                fprintf(stderr, "bench: %s: (1) bind on behalf...\n", label);
                if ((r = case_bind(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (2) held socket...\n", label);
                if ((r = case_held(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: exec chains...\n", label);
                if ((r = case_exec(b, label)) < 0)
                        return r;
        }
        /* Back to where we started, for whatever follows. */
        (void) bench_pin_pid(getpid(), &b->all_cpus);

        fprintf(stderr, "bench: done in %.1f s\n", bench_seconds_since(t0, bench_now_nsec()));
        return 0;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        BenchTally t = { 0 };
        int r, r2, status;

        if (argc == 4 && strcmp(argv[1], "--echo-server") == 0) {
                r = echo_serve(atoi(argv[2]), argv[3]);
                fprintf(stderr, "bench: echo server: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (argc > 1) {
                fprintf(stderr,
                        "Usage: %s\n(NETUTILD_BIN and NETUTILCTL_BIN name the daemon and the CLI; default "
                        "./netutild, ./netutilctl)\n",
                        argv[0]);
                return EXIT_FAILURE;
        }

        bench_setup(&(const BenchTableStyle) {
                .name_width = 42, .baseline_width = 15, .rule_width = 134,
                .coloc = true, .round_decimals = 3 });
        if (bench_get_cpus(&b->all_cpus, b->cpu) < 0)
                return EXIT_FAILURE;

        r = run(b);

        /* Everything we started goes, by its pid, whatever happened. */
        r2 = s6_stop(b);
        if (r2 < 0) {
                fprintf(stderr, "bench: s6-fdholderd did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        r2 = bench_echo_stop(&b->echo);
        if (r2 < 0) {
                fprintf(stderr, "bench: the echo server did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        if (b->daemon_started) {
                status = test_daemon_stop(&b->daemon);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "bench: the daemon did not exit cleanly (wait status 0x%x)\n",
                                status);
                        if (r >= 0)
                                r = -ECHILD;
                }
        }
        hosts_teardown(b);
        b->devnull = safe_close(b->devnull);
        b->ctl_env = env_free(b->ctl_env);
        b->base_env = env_free(b->base_env);
        if (b->dir[0]) {
                r2 = rm_rf(b->dir);
                if (r2 < 0) {
                        fprintf(stderr, "bench: cannot remove %s: %s\n", b->dir, strerror(-r2));
                        if (r >= 0)
                                r = r2;
                }
                b->dir[0] = '\0';
        }
        if (r < 0) {
                fprintf(stderr, "bench: FAILED: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        bench_print_table(&t);
        printf("\nTargets: %u met, %u missed, %u not comparable in this run (UNLIKE).\n"
               "ratio: ours/baseline, only ever within one placement; target +N ms: ours - baseline <= N.\n"
               "spread: (max - min) / median of the rounds, ours/baseline. colocated: how often the server\n"
               "was found on the client's CPU after a slice, ours/baseline (in-process rows only). UNLIKE:\n"
               "unpinned, the scheduler kept one pair on one CPU and split the other, so the ratio would\n"
               "compare a context switch with a cross-CPU wake-up; the pinned rows are the fair comparison.\n"
               "local+echo 1fd: socket()+bind()+listen()+close() here, then one SEQPACKET round trip to\n"
               "the echo server carrying one fd back. s6-retrieve x8: 8 chained s6-fdholder-retrieve,\n"
               "which keep only the last fd (s6's lower bound); s6 x8 + fdmove keeps all 8 on fds 3..10.\n"
               "Timings never fail this program.\n",
               t.met, t.missed, t.unlike);
        for (size_t i = 0; i < n_notes; i++)
                printf("Note: %s\n", notes[i]);
        return EXIT_SUCCESS;
}
