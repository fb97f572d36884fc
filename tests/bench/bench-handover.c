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
 * measured in the same placement. Each is ROUNDS rounds, the median round is reported;
 * every round is cut into SLICES slices in which the contenders take turns (who goes
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

#define ROUNDS 7u           /* rounds per measurement; the median is reported */
#define SLICES 5u           /* a round is cut in slices, and the contenders alternate by slice */
#define RT_ITERS 2000u      /* in-process round trips per contender per round */
#define RT_WARMUP 300u
#define EXEC_ITERS 20u      /* exec chains per contender per round */
#define EXEC_WARMUP 3u
#define N_EIGHT 8u          /* sockets under the second held name */
#define ECHO_READ_BATCH 16u /* datagrams per connection per wake-up, as the daemon */
#define IO_TIMEOUT_MS 5000  /* a reply or an exec chain that takes longer is an error */
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)
#define STOP_TIMEOUT_MS 5000

#define HELD_ONE "bench-one"     /* held name: one socket, 127.0.0.1 */
#define HELD_EIGHT "bench-eight" /* held name: 8 sockets, 127.0.0.1..8 */
#define EIGHT_HOST "netutil-bench-eight.test"

extern char **environ;

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_client, netutil_client_close);

static uint64_t now_nsec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static double seconds_since(uint64_t t0, uint64_t t1) {
        return t1 > t0 ? (double) (t1 - t0) / 1e9 : 1e-9;
}

static int wait_fd(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };

        for (;;) {
                int r = poll(&p, 1, IO_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

/* ---- Results ------------------------------------------------------------------------- */

typedef enum Unit {
        UNIT_USEC, /* microseconds per round trip */
        UNIT_MSEC, /* milliseconds per exec chain */
} Unit;

typedef enum Goal {
        GOAL_INFO,             /* no target: shown for understanding */
        GOAL_AT_MOST,          /* ours/baseline <= target */
        GOAL_OVERHEAD_AT_MOST, /* ours - baseline <= target, in the row's unit */
} Goal;

typedef struct Row {
        const char *name;
        const char *placement;
        const char *baseline; /* what the baseline column is */
        Unit unit;
        double ours, base;  /* medians of the rounds */
        double spread_ours; /* (max - min) / median of the rounds */
        double spread_base;
        Goal goal;
        double target;
        /* How often the server was found on the client's CPU after a slice, 0..1, or -1 if
         * not sampled (exec chains): tells whether the scheduler placed both alike. */
        double coloc_ours, coloc_base;
} Row;

/* Ours and the baseline are not comparable when the scheduler co-located one with its
 * client much more often than the other. */
#define COLOC_UNLIKE 0.25

static Row rows[64];
static size_t n_rows;
static bool verbose; /* $BENCH_VERBOSE: every round on stderr */

static double median(const double *v, size_t n) {
        double s[ROUNDS];

        if (n == 0 || n > ROUNDS)
                return 0;
        memcpy(s, v, n * sizeof(double));
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && s[j - 1] > s[j]; j--) {
                        double t = s[j];
                        s[j] = s[j - 1];
                        s[j - 1] = t;
                }
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double spread(const double *v, size_t n) {
        double lo = v[0], hi = v[0], m = median(v, n);

        for (size_t i = 1; i < n; i++) {
                lo = MIN(lo, v[i]);
                hi = MAX(hi, v[i]);
        }
        return m > 0 ? (hi - lo) / m : 0;
}

static Row *add_row(const char *name, const char *placement, const char *baseline, Unit unit,
                    const double *ours, const double *base, size_t n, Goal goal, double target) {
        if (n_rows >= ELEMENTSOF(rows))
                return NULL;
        if (verbose && n > 1) {
                fprintf(stderr, "bench: %s, %s: rounds", name, placement);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, " %.3f", ours[i]);
                fprintf(stderr, " | %s:", baseline);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, " %.3f", base[i]);
                fputc('\n', stderr);
        }
        rows[n_rows] = (Row) {
                .name = name,
                .placement = placement,
                .baseline = baseline,
                .unit = unit,
                .ours = median(ours, n),
                .base = median(base, n),
                .spread_ours = spread(ours, n),
                .spread_base = spread(base, n),
                .goal = goal,
                .target = target,
                .coloc_ours = -1,
                .coloc_base = -1,
        };
        return &rows[n_rows++];
}

static void row_set_coloc(Row *w, double ours, double base) {
        if (w) {
                w->coloc_ours = ours;
                w->coloc_base = base;
        }
}

static void format_value(char *buf, size_t len, Unit unit, double v) {
        if (unit == UNIT_USEC)
                snprintf(buf, len, "%.2f us", v);
        else
                snprintf(buf, len, "%.3f ms", v);
}

typedef struct Tally {
        unsigned met, missed, unlike;
} Tally;

static void print_table(Tally *t) {
        printf("\n%-42s %-9s %11s %11s %-15s %6s %7s %-6s %-9s %s\n", "case", "placement", "ours", "baseline",
               "(baseline is)", "ratio", "target", "result", "spread", "colocated");
        for (size_t i = 0; i < 134; i++)
                putchar('-');
        putchar('\n');
        for (size_t i = 0; i < n_rows; i++) {
                const Row *w = &rows[i];
                char ours[32], base[32], target[16], spr[32], coloc[32] = "-";
                double ratio = w->base > 0 ? w->ours / w->base : 0;
                const char *result = "info";

                format_value(ours, sizeof(ours), w->unit, w->ours);
                format_value(base, sizeof(base), w->unit, w->base);
                if (w->goal == GOAL_AT_MOST) {
                        snprintf(target, sizeof(target), "<=%.2fx", w->target);
                        result = ratio <= w->target ? "PASS" : "MISS";
                } else if (w->goal == GOAL_OVERHEAD_AT_MOST) {
                        snprintf(target, sizeof(target), "+%.2f%s", w->target,
                                 w->unit == UNIT_USEC ? "us" : "ms");
                        result = w->ours - w->base <= w->target ? "PASS" : "MISS";
                } else
                        snprintf(target, sizeof(target), "-");
                if (w->coloc_ours >= 0 && w->coloc_base >= 0) {
                        snprintf(coloc, sizeof(coloc), "%.0f%%/%.0f%%", w->coloc_ours * 100,
                                 w->coloc_base * 100);
                        if (w->goal != GOAL_INFO && (w->coloc_ours - w->coloc_base > COLOC_UNLIKE ||
                                                     w->coloc_base - w->coloc_ours > COLOC_UNLIKE))
                                result = "UNLIKE";
                }
                if (w->goal != GOAL_INFO) {
                        if (strcmp(result, "PASS") == 0)
                                t->met++;
                        else if (strcmp(result, "MISS") == 0)
                                t->missed++;
                        else
                                t->unlike++;
                }
                snprintf(spr, sizeof(spr), "%.0f%%/%.0f%%", w->spread_ours * 100, w->spread_base * 100);
                printf("%-42s %-9s %11s %11s %-15s %5.2fx %7s %-6s %-9s %s\n", w->name, w->placement, ours,
                       base, w->baseline, ratio, target, result, spr, coloc);
        }
}

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

/* A connection speaking the protocol directly: one BIND request whose serial is rewritten
 * before each send, and one receive buffer. */
typedef struct RawConn {
        int fd;
        uint32_t serial; /* the last serial used */
        ProtoMsg *req;
        ProtoRecv *rcv;
} RawConn;

static void raw_close(RawConn *c) {
        c->fd = safe_close(c->fd);
        c->req = proto_msg_free(c->req);
        if (c->rcv) {
                proto_recv_clear(c->rcv);
                free(c->rcv);
                c->rcv = NULL;
        }
}

static int unix_connect(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        /* Non-blocking from here on, as the library's connection. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

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

static int raw_open(RawConn *c, const char *path, const netutil_bind_options *o) {
        int r;

        *c = (RawConn) { .fd = -EBADF };
        c->rcv = calloc(1, sizeof(ProtoRecv));
        if (!c->rcv)
                return -ENOMEM;
        r = bind_request(o, &c->req);
        if (r < 0)
                goto fail;
        r = unix_connect(path, SOCK_SEQPACKET);
        if (r < 0)
                goto fail;
        c->fd = r;
        return 0;
fail:
        raw_close(c);
        return r;
}

static int raw_send(RawConn *c, uint32_t serial) {
        proto_msg_header(c->req)->serial = serial;
        for (;;) {
                int r = proto_send(c->fd, c->req);
                if (r != -EAGAIN)
                        return r;
                r = wait_fd(c->fd, POLLOUT);
                if (r < 0)
                        return r;
        }
}

/* Receives one reply if one is waiting: returns 1, 0 if none is, or -errno. It must be a
 * successful single-part BIND reply with exactly one item and one fd, which is closed. */
static int raw_recv(RawConn *c, uint32_t *ret_serial) {
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

static int raw_roundtrip(RawConn *c) {
        uint32_t serial, got;
        int r;

        if (++c->serial == 0) /* serial 0 is the daemon's own messages */
                c->serial = 1;
        serial = c->serial;
        r = raw_send(c, serial);
        if (r < 0)
                return r;
        for (;;) {
                r = wait_fd(c->fd, POLLIN);
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
        char echo_socket[300];
        char reply_path[300];
        pid_t echo_pid;
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

static Bench bench = { .echo_pid = -1, .s6_pid = -1, .devnull = -EBADF };

/* Read what the daemon sent to its NOTIFY_SOCKET, as a service manager would (harmless;
 * the daemon no longer blocks on a full queue). */
static void drain_notify(Bench *b) {
        char buf[4096];

        while (b->daemon.notify_fd >= 0 && recv(b->daemon.notify_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                ;
}

/* The CPU that pid's main thread last ran on (field 39 of /proc/PID/stat), or -errno. */
static int task_cpu(pid_t pid) {
        char path[64], buf[1024], *p;
        _cleanup_(closep) int fd = -EBADF;
        ssize_t n;
        int cpu = -1;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? -errno : -EIO;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold anything */
        if (!p)
                return -EIO;
        p++;
        for (unsigned i = 0; i < 36 && p; i++)
                p = strchr(p + 1, ' ');
        if (!p || sscanf(p, " %d", &cpu) != 1 || cpu < 0)
                return -EIO;
        return cpu;
}

/* Whether server last ran on the CPU we run on: 1 or 0. */
static unsigned colocated(pid_t server) {
        int cpu = task_cpu(server);
        return cpu >= 0 && cpu == sched_getcpu();
}

/* Sets the affinity of every thread of pid. */
static int pin_pid(pid_t pid, const cpu_set_t *set) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int r = 0;

        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                pid_t tid = (pid_t) atoi(de->d_name);
                if (tid <= 0)
                        continue;
                if (sched_setaffinity(tid, sizeof(*set), set) < 0 && errno != ESRCH) {
                        r = -errno;
                        break;
                }
        }
        closedir(d);
        return r;
}

/* Puts the daemon, the echo server and s6-fdholderd on servers, and ourselves on clients
 * (the exec chains we spawn inherit it). */
static int place(Bench *b, const cpu_set_t *servers, const cpu_set_t *clients) {
        int r;

        if ((r = pin_pid(b->daemon.pid, servers)) < 0 || (r = pin_pid(b->echo_pid, servers)) < 0 ||
            (b->s6_pid > 0 && (r = pin_pid(b->s6_pid, servers)) < 0) || (r = pin_pid(getpid(), clients)) < 0)
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

static int write_file(const char *path, const void *data, size_t len) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

/* name if it has a slash and is executable, else the first executable name in $PATH. */
static int find_program(const char *name, char *buf, size_t len) {
        const char *path = getenv("PATH");

        if (strchr(name, '/')) {
                snprintf(buf, len, "%s", name);
                return access(buf, X_OK) < 0 ? -errno : 0;
        }
        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t n = strcspn(path, ":");

                if (n > 0 && (size_t) snprintf(buf, len, "%.*s/%s", (int) n, path, name) < len &&
                    access(buf, X_OK) == 0)
                        return 0;
                path += n + (path[n] == ':');
        }
        return -ENOENT;
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
        t0 = now_nsec();
        r = posix_spawn(&pid, argv[0], pfa, NULL, argv, envp ?: environ);
        if (pfa)
                posix_spawn_file_actions_destroy(pfa);
        if (r != 0) {
                fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(r));
                return -r;
        }
        r = wait_child(pid, IO_TIMEOUT_MS, &status);
        t1 = now_nsec();
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

/* Sends SIGTERM to *pid and waits up to STOP_TIMEOUT_MS, then SIGKILL. Returns the wait
 * status in *ret_status, or -errno. */
static int stop_child(pid_t *pid, int *ret_status) {
        uint64_t deadline = now_nsec() + STOP_TIMEOUT_MS * 1000000ULL;
        int r = 0;

        *ret_status = 0;
        if (*pid <= 0)
                return 0;
        (void) kill(*pid, SIGTERM);
        for (;;) {
                pid_t w = waitpid(*pid, ret_status, WNOHANG);
                if (w == *pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (now_nsec() > deadline) {
                        (void) kill(*pid, SIGKILL);
                        (void) waitpid(*pid, ret_status, 0);
                        r = -ETIMEDOUT;
                        break;
                }
                usleep(2000);
        }
        *pid = -1;
        return r;
}

/* ---- The echo server ------------------------------------------------------------------ */

/* Sends reply with fd attached, as the daemon sends a one-socket BIND reply. */
static int echo_send(int sock, const void *buf, size_t len, int fd) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        for (;;) {
                if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = wait_fd(sock, POLLOUT);
                if (r < 0)
                        return r;
        }
}

/* One wake-up of one connection, shaped as the daemon's conn_io(). */
static void echo_conn(int ep, int fd, uint32_t events, uint8_t *reply, size_t reply_size, int held) {
        static uint8_t buf[PROTO_MAX_MSG];
        bool dead = false;

        if (events & EPOLLIN) {
                for (unsigned i = 0; i < ECHO_READ_BATCH && !dead; i++) {
                        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EAGAIN)
                                        break;
                                if (errno != EINTR)
                                        dead = true;
                                continue;
                        }
                        if (n == 0 && (events & (EPOLLHUP | EPOLLRDHUP))) {
                                dead = true;
                                break;
                        }
                        /* Answer with the daemon's reply bytes under the request's serial. */
                        if ((size_t) n >= PROTO_HEADER_SIZE)
                                memcpy(reply + offsetof(ProtoHeader, serial),
                                       buf + offsetof(ProtoHeader, serial), sizeof(uint32_t));
                        if (echo_send(fd, reply, reply_size, held) < 0)
                                dead = true;
                }
        } else if (events & (EPOLLHUP | EPOLLERR))
                dead = true;

        if (dead) {
                (void) epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                safe_close(fd);
        }
}

/* The echo server's main loop: lfd is a listening SOCK_SEQPACKET socket, reply_path holds
 * the reply. Runs until killed. */
static int echo_serve(int lfd, const char *reply_path) {
        static uint8_t reply[PROTO_MAX_MSG];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
        _cleanup_(closep) int ep = -EBADF, rfd = -EBADF, held = -EBADF;
        ssize_t size;

        (void) prctl(PR_SET_NAME, "bench-echo"); /* rather than "exe", in ps and perf */
        rfd = open(reply_path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        size = read(rfd, reply, sizeof(reply));
        if (size < (ssize_t) PROTO_HEADER_SIZE)
                return size < 0 ? -errno : -EBADMSG;
        rfd = safe_close(rfd);

        /* The socket every reply carries, as a held one: listening on 127.0.0.1. */
        held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (held < 0)
                return -errno;
        if (bind(held, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(held, 128) < 0)
                return -errno;

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                return -errno;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
                return -errno;

        for (;;) {
                struct epoll_event events[64];
                int n = epoll_wait(ep, events, (int) ELEMENTSOF(events), -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        if (events[i].data.fd != lfd) {
                                echo_conn(ep, events[i].data.fd, events[i].events, reply, (size_t) size,
                                          held);
                                continue;
                        }
                        for (unsigned k = 0; k < ECHO_READ_BATCH; k++) {
                                struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP };
                                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                                if (cfd < 0)
                                        break;
                                cev.data.fd = cfd;
                                if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) < 0)
                                        safe_close(cfd);
                        }
                }
        }
}

static int echo_start(Bench *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int lfd = -EBADF;
        int r;

        snprintf(b->echo_socket, sizeof(b->echo_socket), "%s/echo.sock", b->dir);
        snprintf(b->reply_path, sizeof(b->reply_path), "%s/reply", b->dir);
        if (strlen(b->echo_socket) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, b->echo_socket);

        r = write_file(b->reply_path, b->reply, b->reply_size);
        if (r < 0)
                return r;
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return -errno;
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, SOMAXCONN) < 0)
                return -errno;

        /* The listening socket goes over as fd 3, so clients can connect right away. */
        b->echo_pid = fork();
        if (b->echo_pid < 0)
                return -errno;
        if (b->echo_pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (lfd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(lfd, 3) < 0)
                        _exit(127);
                execl("/proc/self/exe", "bench-handover", "--echo-server", "3", b->reply_path, (char *) NULL);
                _exit(127);
        }
        return 0;
}

static int echo_stop(Bench *b) {
        int status, r;

        if (b->echo_pid <= 0)
                return 0;
        r = stop_child(&b->echo_pid, &status);
        /* It is expected to die of our SIGTERM; anything else is a breakage. */
        if (r == 0 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                r = -ECHILD;
        return r;
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
        if ((r = write_file(p, "", 0)) < 0)
                return r;
        snprintf(p, sizeof(p), "%s/uid/%u/env", rules, (unsigned) getuid());
        if (mkdir(p, 0700) < 0)
                return -errno;
        snprintf(p, sizeof(p), "%s/uid/%u/env/S6_FDHOLDER_STORE_REGEX", rules, (unsigned) getuid());
        if ((r = write_file(p, "^bench-\n", 8)) < 0)
                return r;
        snprintf(p, sizeof(p), "%s/uid/%u/env/S6_FDHOLDER_RETRIEVE_REGEX", rules, (unsigned) getuid());
        return write_file(p, "^bench-\n", 8);
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
        r = wait_fd(p[0], POLLIN);
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
                (void) stop_child(&b->s6_pid, &ignored);
                return r;
        }
        r = stop_child(&b->s6_pid, &status);
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
        r = write_file(b->hosts_path, buf, len);
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
        RawConn c;
        uint32_t got;
        int r;

        r = raw_open(&c, b->daemon.socket, o);
        if (r < 0)
                return r;
        *ret_request_size = c.req->size;
        c.serial = 1;
        r = raw_send(&c, c.serial);
        while (r >= 0) {
                r = wait_fd(c.fd, POLLIN);
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
        raw_close(&c);
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
        RawConn raw;
        double us[ROUNDS];
        unsigned shared;
} Contender;

static void contender_close(Contender *c) {
        c->lib = netutil_client_close(c->lib);
        raw_close(&c->raw);
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

/* Runs n contenders for ROUNDS rounds, interleaved by slice; fills their us[]. */
static int run_contenders(Bench *b, Contender *c, size_t n, const char *what, const char *placement) {
        int r = 0;

        if (n > MAX_CONTENDERS)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                c[i].raw = (RawConn) { .fd = -EBADF };
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

        for (unsigned round = 0; round < ROUNDS; round++) {
                double sec[MAX_CONTENDERS] = { 0 };

                for (unsigned slice = 0; slice < SLICES; slice++)
                        for (size_t k = 0; k < n; k++) {
                                size_t i = (round + slice + k) % n; /* who goes first rotates */
                                uint64_t t0;

                                drain_notify(b);
                                t0 = now_nsec();
                                r = contender_run(&c[i], RT_ITERS / SLICES);
                                if (r < 0)
                                        goto fail;
                                sec[i] += seconds_since(t0, now_nsec());
                                if (c[i].server > 0)
                                        c[i].shared += colocated(c[i].server);
                        }
                for (size_t i = 0; i < n; i++)
                        c[i].us[round] = sec[i] * 1e6 / (RT_ITERS / SLICES * SLICES);
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
        return c->server > 0 ? c->shared / (double) (ROUNDS * SLICES) : -1;
}

static int case_bind(Bench *b, const char *placement) {
        Contender c[] = {
                { .op = OP_LIBRARY, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_bind },
                { .op = OP_RAW, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_bind },
                { .op = OP_LOCAL_RAW, .path = b->echo_socket, .server = b->echo_pid, .opts = &opts_bind },
                { .op = OP_LOCAL },
        };
        int r;

        r = run_contenders(b, c, ELEMENTSOF(c), "(1)", placement);
        if (r < 0)
                return r;
        row_set_coloc(add_row("(1) bind 127.0.0.1:0: netutil_bind()", placement, "local+echo 1fd", UNIT_USEC,
                              c[0].us, c[2].us, ROUNDS, GOAL_AT_MOST, 1.3),
                      coloc_of(&c[0]), coloc_of(&c[2]));
        row_set_coloc(add_row("(1) bind 127.0.0.1:0: raw protocol", placement, "local+echo 1fd", UNIT_USEC,
                              c[1].us, c[2].us, ROUNDS, GOAL_INFO, 0),
                      coloc_of(&c[1]), coloc_of(&c[2]));
        row_set_coloc(add_row("(1) library's share: library vs raw", placement, "raw protocol", UNIT_USEC,
                              c[0].us, c[1].us, ROUNDS, GOAL_INFO, 0),
                      coloc_of(&c[0]), coloc_of(&c[1]));
        add_row("(1) baseline's local part: socket..close", placement, "local+echo 1fd", UNIT_USEC, c[3].us,
                c[2].us, ROUNDS, GOAL_INFO, 0);
        return 0;
}

static int case_held(Bench *b, const char *placement) {
        Contender c[] = {
                { .op = OP_LIBRARY, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_held },
                { .op = OP_RAW, .path = b->daemon.socket, .server = b->daemon.pid, .opts = &opts_held },
                { .op = OP_RAW, .path = b->echo_socket, .server = b->echo_pid, .opts = &opts_held },
        };
        int r;

        r = run_contenders(b, c, ELEMENTSOF(c), "(2)", placement);
        if (r < 0)
                return r;
        row_set_coloc(add_row("(2) held socket: netutil_bind(name, hold)", placement, "echo 1fd", UNIT_USEC,
                              c[0].us, c[2].us, ROUNDS, GOAL_AT_MOST, 1.5),
                      coloc_of(&c[0]), coloc_of(&c[2]));
        row_set_coloc(add_row("(2) held socket: raw protocol", placement, "echo 1fd", UNIT_USEC, c[1].us,
                              c[2].us, ROUNDS, GOAL_INFO, 0),
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
        double ms[ROUNDS];
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
        double over[4][ROUNDS];
        int r;

        exec_cases(b, x);
        for (size_t i = 0; i < _X_MAX; i++)
                for (unsigned w = 0; w < EXEC_WARMUP && x[i].on; w++)
                        if ((r = spawn_wait(x[i].argv, x[i].envp, b->devnull, 1, NULL)) < 0)
                                goto fail;

        for (unsigned round = 0; round < ROUNDS; round++) {
                double sec[_X_MAX] = { 0 };

                for (unsigned slice = 0; slice < SLICES; slice++)
                        for (size_t k = 0; k < _X_MAX; k++) {
                                size_t i = (round + slice + k) % _X_MAX;

                                if (!x[i].on)
                                        continue;
                                drain_notify(b);
                                for (unsigned e = 0; e < EXEC_ITERS / SLICES; e++) {
                                        uint64_t ns;

                                        r = spawn_wait(x[i].argv, x[i].envp, b->devnull, 1, &ns);
                                        if (r < 0)
                                                goto fail;
                                        sec[i] += (double) ns / 1e9;
                                }
                        }
                for (size_t i = 0; i < _X_MAX; i++)
                        x[i].ms[round] = sec[i] * 1e3 / (EXEC_ITERS / SLICES * SLICES);
                /* What each adds to /bin/true, in this round. */
                over[0][round] = x[X_CTL_ONE].ms[round] - x[X_TRUE].ms[round];
                over[1][round] = x[X_S6_ONE].ms[round] - x[X_TRUE].ms[round];
                over[2][round] = x[X_CTL_EIGHT].ms[round] - x[X_TRUE].ms[round];
                over[3][round] = x[X_S6_EIGHT].ms[round] - x[X_TRUE].ms[round];
        }

        add_row("(3) netutilctl bind 127.0.0.1 0 -- true", placement, "/bin/true", UNIT_MSEC,
                x[X_CTL_BIND].ms, x[X_TRUE].ms, ROUNDS, GOAL_OVERHEAD_AT_MOST, 1.0);
        add_row("(3) its start-up: netutilctl --version", placement, "/bin/true", UNIT_MSEC,
                x[X_CTL_LOAD].ms, x[X_TRUE].ms, ROUNDS, GOAL_INFO, 0);
        if (x[X_S6_ONE].on) {
                add_row("(2) 1 held fd: netutilctl -- true", placement, "s6-retrieve", UNIT_MSEC,
                        x[X_CTL_ONE].ms, x[X_S6_ONE].ms, ROUNDS, GOAL_AT_MOST, 1.0);
                add_row("(2) 1 held fd: the same minus /bin/true", placement, "s6, minus true", UNIT_MSEC,
                        over[0], over[1], ROUNDS, GOAL_INFO, 0);
        }
        if (x[X_S6_EIGHT].on) {
                add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "s6-retrieve x8", UNIT_MSEC,
                        x[X_CTL_EIGHT].ms, x[X_S6_EIGHT].ms, ROUNDS, GOAL_AT_MOST, 1.0);
                add_row("(2) 8 held fds: the same minus /bin/true", placement, "s6, minus true", UNIT_MSEC,
                        over[2], over[3], ROUNDS, GOAL_INFO, 0);
        }
        if (x[X_S6_FDMOVE].on)
                add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "s6 x8 + fdmove", UNIT_MSEC,
                        x[X_CTL_EIGHT].ms, x[X_S6_FDMOVE].ms, ROUNDS, GOAL_INFO, 0);
        if (x[X_CTL_EIGHT].on && !x[X_S6_EIGHT].on)
                add_row("(2) 8 held fds: netutilctl, 1 exec", placement, "/bin/true", UNIT_MSEC,
                        x[X_CTL_EIGHT].ms, x[X_TRUE].ms, ROUNDS, GOAL_INFO, 0);
        return 0;
fail:
        fprintf(stderr, "bench: exec chains, %s: %s\n", placement, strerror(-r));
        return r;
}

/* ---- main --------------------------------------------------------------------------------- */

/* In the order they run by default: unpinned first, as the processes start out. */
typedef enum Placement {
        PLACE_UNPINNED,  /* wherever the scheduler puts it */
        PLACE_SAME_CPU,  /* everything on the first CPU */
        PLACE_CROSS_CPU, /* the servers on the second CPU, the clients on the first */
        _PLACE_MAX,
} Placement;

static const char *const placement_label[_PLACE_MAX] = {
        [PLACE_SAME_CPU] = "same-cpu",
        [PLACE_CROSS_CPU] = "cross-cpu",
        [PLACE_UNPINNED] = "unpinned",
};

/* $BENCH_PLACEMENTS: the placements to run, comma-separated, in that order; all by default. */
static int parse_placements(Placement ret[static _PLACE_MAX], size_t *ret_n) {
        const char *e = getenv("BENCH_PLACEMENTS");
        size_t n = 0;

        if (!e || !*e) {
                for (Placement p = 0; p < _PLACE_MAX; p++)
                        ret[n++] = p;
                *ret_n = n;
                return 0;
        }
        while (*e) {
                size_t len = strcspn(e, ",");
                Placement p = 0;

                while (p < _PLACE_MAX &&
                       !(strlen(placement_label[p]) == len && strncmp(placement_label[p], e, len) == 0))
                        p++;
                if (p == _PLACE_MAX || n == _PLACE_MAX)
                        return -EINVAL;
                ret[n++] = p;
                e += len + (e[len] == ',');
        }
        *ret_n = n;
        return 0;
}

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
        if (find_program("/bin/true", b->true_bin, sizeof(b->true_bin)) < 0 &&
            find_program("true", b->true_bin, sizeof(b->true_bin)) < 0) {
                fprintf(stderr, "bench: no true(1)\n");
                return -ENOENT;
        }
        b->have_s6 = find_program("s6-fdholder-daemon", b->s6_daemon, sizeof(b->s6_daemon)) == 0 &&
                     find_program("s6-fdholder-store", b->s6_store, sizeof(b->s6_store)) == 0 &&
                     find_program("s6-fdholder-retrieve", b->s6_retrieve, sizeof(b->s6_retrieve)) == 0 &&
                     find_program("s6-fdholder-delete", b->s6_delete, sizeof(b->s6_delete)) == 0;
        if (!b->have_s6)
                add_note("s6-fdholder-daemon, -store, -retrieve or -delete is not in $PATH: the s6 rows are "
                         "skipped.");
        if (find_program("/usr/lib/execline/bin/fdmove", b->fdmove, sizeof(b->fdmove)) < 0 &&
            find_program("fdmove", b->fdmove, sizeof(b->fdmove)) < 0) {
                b->fdmove[0] = '\0';
                if (b->have_s6)
                        add_note("execline's fdmove was not found: the s6 x8 + fdmove row is skipped.");
        }
        return 0;
}

static int run(Bench *b) {
        Placement order[_PLACE_MAX];
        size_t n_order;
        uint64_t t0 = now_nsec();
        int r;

        r = parse_placements(order, &n_order);
        if (r < 0) {
                fprintf(stderr,
                        "bench: BENCH_PLACEMENTS takes same-cpu, cross-cpu and unpinned, comma-separated\n");
                return r;
        }
        r = find_programs(b);
        if (r < 0)
                return r;
        b->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (b->devnull < 0) {
                r = -errno;
                fprintf(stderr, "bench: cannot open /dev/null: %s\n", strerror(-r));
                return r;
        }
        snprintf(b->dir, sizeof(b->dir), "/tmp/netutil-bench.XXXXXX");
        if (!mkdtemp(b->dir)) {
                r = -errno;
                b->dir[0] = '\0';
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
        r = echo_start(b);
        if (r < 0) {
                fprintf(stderr, "bench: the echo server did not start: %s\n", strerror(-r));
                return r;
        }
        {
                RawConn c;
                r = raw_open(&c, b->echo_socket, &opts_held);
                if (r >= 0)
                        r = raw_roundtrip(&c);
                raw_close(&c);
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
               (int) b->daemon.pid, (int) b->echo_pid, (int) b->s6_pid, ROUNDS, RT_ITERS, EXEC_ITERS,
               b->cpu[0], b->cpu[1], b->cpu[0]);
        if (b->cpu[1] < 0)
                printf("Only one CPU is allowed: the cross-cpu placement is skipped.\n");
        fflush(stdout);

        for (size_t o = 0; o < n_order; o++) {
                Placement p = order[o];
                const char *label = placement_label[p];
                cpu_set_t servers, clients;

                CPU_ZERO(&servers);
                CPU_ZERO(&clients);
                if (p == PLACE_SAME_CPU) {
                        CPU_SET(b->cpu[0], &servers);
                        CPU_SET(b->cpu[0], &clients);
                } else if (p == PLACE_CROSS_CPU) {
                        if (b->cpu[1] < 0)
                                continue;
                        CPU_SET(b->cpu[1], &servers);
                        CPU_SET(b->cpu[0], &clients);
                } else
                        servers = clients = b->all_cpus;
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
        (void) pin_pid(getpid(), &b->all_cpus);

        fprintf(stderr, "bench: done in %.1f s\n", seconds_since(t0, now_nsec()));
        return 0;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        Tally t = { 0 };
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

        setvbuf(stdout, NULL, _IOLBF, 0);
        verbose = getenv("BENCH_VERBOSE") && *getenv("BENCH_VERBOSE") &&
                  strcmp(getenv("BENCH_VERBOSE"), "0") != 0;
        if (sched_getaffinity(0, sizeof(b->all_cpus), &b->all_cpus) < 0) {
                fprintf(stderr, "bench: sched_getaffinity: %m\n");
                return EXIT_FAILURE;
        }
        b->cpu[0] = b->cpu[1] = -1;
        for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
                if (CPU_ISSET(i, &b->all_cpus))
                        b->cpu[k++] = i;

        r = run(b);

        /* Everything we started goes, by its pid, whatever happened. */
        r2 = s6_stop(b);
        if (r2 < 0) {
                fprintf(stderr, "bench: s6-fdholderd did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        r2 = echo_stop(b);
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

        print_table(&t);
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
