/* SPDX-License-Identifier: MIT */

/*
 * bench-status ("make bench"): what a STATUS request to netutild costs, next to the
 * cheapest thing that moves the same bytes over the same kind of socket.
 *
 * Measured in one run, against the real daemon (test_daemon_start(): --user, temporary
 * socket) and against a bare echo server that this program runs itself:
 *   (a) round-trip latency on one connection: the library's blocking netutil_status_get(),
 *       and the raw protocol (proto_send(), poll(), proto_recv(), proto_parse()), so that
 *       the library's own share is visible;
 *   (b) throughput of one connection with 64 requests in flight: the raw protocol with
 *       distinct serials (the target), and the library's asynchronous calls on sd-event
 *       (for information);
 *   (c) aggregate throughput of 8 threads, each with its own connection doing blocking
 *       round trips: through the library (the target) and the raw protocol;
 *   (d) resident memory of the idle daemon after all that, and of the idle echo server.
 *
 * Placement decides what a round trip costs on a 2-CPU machine: with both ends on one
 * CPU it is two context switches (~8 us); with the ends on different CPUs it is two
 * cross-CPU wake-ups (~50 us). So (a)-(c) run in three placements, and a result is only
 * ever compared with the baseline measured in the same one: "same-cpu" (the daemon, the
 * echo server and the clients all pinned to the first CPU), "cross-cpu" (both servers
 * pinned to the second CPU, the clients to the first) and "unpinned" (the scheduler
 * decides, and may co-locate a pair for a while and then split it). Each measurement is
 * ROUNDS rounds, the median round is reported, and every round is cut into SLICES slices
 * in which the contenders take turns (daemon, echo, daemon, ...; who goes first rotates),
 * so that drift of the machine and the scheduler's moods hit both alike.
 *
 * Why the baseline is fair: the echo server is a separate, single-threaded process (this
 * binary executed again with --echo-server) with the daemon's I/O model — non-blocking
 * SOCK_SEQPACKET, level-triggered epoll, at most 16 datagrams per connection per wake-up,
 * as the daemon reads — and no work: for every request it sends back the daemon's own
 * STATUS reply, captured once at the start, with the request's serial copied in. So both
 * directions carry exactly the bytes they carry with the daemon, and the client side is
 * the same code for both servers (it parses and checks every reply). Being exec()ed
 * rather than only forked, the echo server's memory is its own, not a copy of ours.
 *
 * Timings never fail the run: the exit status is nonzero only if something broke (the
 * daemon did not start, a request failed, a process did not stop cleanly).
 *
 * Environment: NETUTILD_BIN, the daemon (default ./netutild); BENCH_PLACEMENTS, e.g.
 * "same-cpu,cross-cpu", to run only those; BENCH_VERBOSE=1 prints every round on stderr.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

#define ROUNDS 7u       /* rounds per measurement; the median is reported */
#define LAT_ITERS 3000u /* round trips per round, one connection */
#define LAT_WARMUP 500u
#define PIPE_DEPTH 64u    /* requests in flight, pipelined */
#define PIPE_ITERS 30000u /* replies per round, pipelined */
#define PIPE_WARMUP 5000u
#define N_CLIENTS 8u      /* concurrent clients */
#define MULTI_ITERS 1500u /* round trips per client per round */
#define MULTI_WARMUP 100u
#define SLICES 5u           /* a round is cut in slices, and the contenders alternate by slice */
#define ECHO_READ_BATCH 16u /* datagrams per connection per wake-up, as the daemon */
#define IO_TIMEOUT_MS 5000  /* a reply that takes longer is an error */
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)
#define STOP_TIMEOUT_MS 5000

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
        UNIT_USEC, /* microseconds per round trip: lower is better */
        UNIT_RPS,  /* replies per second: higher is better */
        UNIT_KIB,  /* resident memory: lower is better */
} Unit;

typedef enum Goal {
        GOAL_INFO,     /* no target: shown for understanding */
        GOAL_AT_MOST,  /* ours/baseline <= target */
        GOAL_AT_LEAST, /* ours/baseline >= target */
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
        double target; /* bound on ours / base */
        /* How often the server was found on the client's CPU after a slice, 0..1, or -1 if
         * not sampled (several clients): tells whether the scheduler placed both alike. */
        double coloc_ours, coloc_base;
} Row;

/* Ours and the baseline are not comparable when the scheduler co-located one with its
 * client much more often than the other. */
#define COLOC_UNLIKE 0.25

static Row rows[32];
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
                        fprintf(stderr, " %.2f", ours[i]);
                fprintf(stderr, " | %s:", baseline);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, " %.2f", base[i]);
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
        switch (unit) {
        case UNIT_USEC:
                snprintf(buf, len, "%.2f us", v);
                break;
        case UNIT_RPS:
                snprintf(buf, len, "%.1fk/s", v / 1000.0);
                break;
        case UNIT_KIB:
                snprintf(buf, len, "%.0f KiB", v);
                break;
        }
}

typedef struct Tally {
        unsigned met, missed, unlike;
} Tally;

static void print_table(Tally *t) {
        printf("\n%-38s %-9s %11s %11s %-13s %6s %7s %-6s %-9s %s\n", "case", "placement", "ours", "baseline",
               "(baseline is)", "ratio", "target", "result", "spread", "colocated");
        for (size_t i = 0; i < 128; i++)
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
                } else if (w->goal == GOAL_AT_LEAST) {
                        snprintf(target, sizeof(target), ">=%.2fx", w->target);
                        result = ratio >= w->target ? "PASS" : "MISS";
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
                printf("%-38s %-9s %11s %11s %-13s %5.2fx %7s %-6s %-9s %s\n", w->name, w->placement, ours,
                       base, w->baseline, ratio, target, result, spr, coloc);
        }
}

/* ---- Raw protocol client --------------------------------------------------------------- */

/* A connection speaking the protocol directly: one STATUS request message whose serial is
 * rewritten before each send, and one receive buffer. */
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

static int unix_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        /* Non-blocking from here on, as the library's connection. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int raw_open(RawConn *c, const char *path) {
        int r;

        *c = (RawConn) { .fd = -EBADF };
        c->rcv = calloc(1, sizeof(ProtoRecv));
        if (!c->rcv)
                return -ENOMEM;
        r = proto_msg_new(PROTO_MSG_STATUS, 0, &c->req);
        if (r < 0)
                goto fail;
        r = unix_connect(path);
        if (r < 0)
                goto fail;
        c->fd = r;
        return 0;
fail:
        raw_close(c);
        return r;
}

static uint32_t raw_next_serial(RawConn *c) {
        if (++c->serial == 0) /* serial 0 is the daemon's own messages */
                c->serial = 1;
        return c->serial;
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

/* Receives one reply if one is waiting: returns 1 and its serial, 0 if none is, or -errno.
 * Every reply must parse and be a successful single-part STATUS reply. */
static int raw_recv(RawConn *c, uint32_t *ret_serial) {
        ProtoView v;
        ssize_t n;

        n = proto_recv(c->fd, c->rcv);
        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return (int) n;
        proto_recv_clear(c->rcv); /* STATUS carries no fds */
        if (n == 0)
                return -ECONNRESET;
        if (c->rcv->real_size > PROTO_MAX_MSG || proto_parse(c->rcv->buf, (size_t) n, &v) < 0)
                return -EBADMSG;
        if (v.header.status != 0)
                return v.header.status > 0 && v.header.status < 4096 ? -v.header.status : -EBADMSG;
        if (v.header.type != PROTO_MSG_STATUS || (v.header.flags & PROTO_FLAG_MORE))
                return -EBADMSG;
        *ret_serial = v.header.serial;
        return 1;
}

static int raw_roundtrip(RawConn *c) {
        uint32_t serial = raw_next_serial(c), got;
        int r;

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

/* total requests on one connection, depth of them in flight at any time: each reply that
 * comes back sends the next request. Every serial must come back exactly once. Returns the
 * time taken in *ret_sec. */
static int raw_pipeline(RawConn *c, unsigned total, unsigned depth, double *ret_sec) {
        _cleanup_(freep) uint8_t *seen = calloc(total, 1);
        unsigned sent = 0, done = 0;
        uint64_t t0, t1;
        uint32_t base;
        int r;

        if (!seen)
                return -ENOMEM;
        if (c->serial >= UINT32_MAX - total)
                c->serial = 0; /* no wrap inside one run */
        base = c->serial + 1;
        c->serial += total;

        t0 = now_nsec();
        for (; sent < depth && sent < total; sent++) {
                r = raw_send(c, base + sent);
                if (r < 0)
                        return r;
        }
        while (done < total) {
                r = wait_fd(c->fd, POLLIN);
                if (r < 0)
                        return r;
                for (;;) {
                        uint32_t got, i;

                        r = raw_recv(c, &got);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        i = got - base;
                        if (i >= sent || seen[i])
                                return -EBADMSG;
                        seen[i] = 1;
                        done++;
                        if (sent < total) {
                                r = raw_send(c, base + sent);
                                if (r < 0)
                                        return r;
                                sent++;
                        }
                }
        }
        t1 = now_nsec();
        *ret_sec = seconds_since(t0, t1);
        return 0;
}

/* ---- Library or raw, behind one face --------------------------------------------------- */

typedef enum Via {
        VIA_LIBRARY, /* netutil_status_get() */
        VIA_RAW,     /* raw_roundtrip() */
} Via;

typedef struct Client {
        Via via;
        netutil_client *lib;
        RawConn raw;
} Client;

static void client_close(Client *c) {
        c->lib = netutil_client_close(c->lib);
        raw_close(&c->raw);
}

static int client_open(Client *c, Via via, const char *path) {
        *c = (Client) { .via = via, .raw.fd = -EBADF };
        if (via == VIA_LIBRARY)
                return netutil_client_open(path, &c->lib);
        return raw_open(&c->raw, path);
}

static int client_roundtrips(Client *c, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                int r;

                if (c->via == VIA_LIBRARY) {
                        netutil_status *s = NULL;
                        r = netutil_status_get(c->lib, LIB_TIMEOUT_USEC, &s);
                        netutil_status_free(s);
                } else
                        r = raw_roundtrip(&c->raw);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Library, asynchronous and pipelined ---------------------------------------------- */

typedef struct AsyncRun {
        netutil_client *client;
        unsigned total, sent, done;
        int error;
} AsyncRun;

static void async_done(netutil_client *c, int error, const netutil_status *s, void *userdata);

static int async_issue(AsyncRun *a) {
        int r = netutil_status_get_async(a->client, LIB_TIMEOUT_USEC, async_done, a, NULL);
        if (r >= 0)
                a->sent++;
        return r;
}

static void async_done(netutil_client *c, int error, const netutil_status *s, void *userdata) {
        AsyncRun *a = userdata;

        a->done++;
        if (error < 0) {
                if (a->error == 0)
                        a->error = error;
                return;
        }
        if (a->sent < a->total && a->error == 0) {
                int r = async_issue(a);
                if (r < 0)
                        a->error = r;
        }
}

/* The same through the library's asynchronous calls on event loop e. */
static int lib_pipeline(netutil_client *c, sd_event *e, unsigned total, unsigned depth, double *ret_sec) {
        AsyncRun a = { .client = c, .total = total };
        uint64_t t0, t1;
        int r;

        t0 = now_nsec();
        while (a.sent < depth && a.sent < total) {
                r = async_issue(&a);
                if (r < 0)
                        return r;
        }
        while (a.done < total && a.error == 0) {
                r = sd_event_run(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        t1 = now_nsec();
        if (a.error < 0)
                return a.error;
        *ret_sec = seconds_since(t0, t1);
        return 0;
}

/* ---- The bench ------------------------------------------------------------------------- */

typedef struct Bench {
        TestDaemon daemon;
        bool daemon_started;
        char dir[256]; /* the echo server's temporary directory */
        char echo_socket[300];
        char reply_path[300];
        pid_t echo_pid;
        uint8_t reply[PROTO_MAX_MSG]; /* the daemon's STATUS reply, for the echo server */
        size_t reply_size;
        size_t request_size;
        cpu_set_t all_cpus; /* what we were allowed at the start */
        int cpu[2];         /* the first two of them; -1 for none */
} Bench;

static Bench bench = { .echo_pid = -1 };

/* The daemon sends STATUS= to its NOTIFY_SOCKET (at most once a second while clients come
 * and go), and sd_notify() blocks the daemon while that socket's queue is full
 * (net.unix.max_dgram_qlen, 10 by default). Read what it sent, as a service manager
 * would; called before every round, and rounds take well under a second. */
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
        /* p is at ")", followed by " " and field 3 (state); each step moves to the space in
         * front of the next field, so 36 of them reach the space in front of field 39. */
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

/* Puts the daemon and the echo server on servers, and ourselves on clients (threads made
 * later inherit it). */
static int place(Bench *b, const cpu_set_t *servers, const cpu_set_t *clients) {
        int r;

        if ((r = pin_pid(b->daemon.pid, servers)) < 0 || (r = pin_pid(b->echo_pid, servers)) < 0 ||
            (r = pin_pid(getpid(), clients)) < 0)
                return r;
        return 0;
}

/* Asks the daemon for its status once on the raw protocol and keeps the reply: its size is
 * what the echo server must answer with. */
static int capture_reply(Bench *b) {
        RawConn c;
        uint32_t got;
        int r;

        r = raw_open(&c, b->daemon.socket);
        if (r < 0)
                return r;
        b->request_size = c.req->size;
        r = raw_send(&c, raw_next_serial(&c));
        while (r >= 0) {
                r = wait_fd(c.fd, POLLIN);
                if (r < 0)
                        break;
                r = raw_recv(&c, &got);
                if (r > 0) {
                        b->reply_size = c.rcv->size;
                        memcpy(b->reply, c.rcv->buf, c.rcv->size);
                        r = got == c.serial ? 0 : -EBADMSG;
                        break;
                }
        }
        raw_close(&c);
        return r;
}

/* ---- The echo server ------------------------------------------------------------------ */

static int echo_send(int fd, const void *buf, size_t len) {
        for (;;) {
                if (send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = wait_fd(fd, POLLOUT);
                if (r < 0)
                        return r;
        }
}

/* One wake-up of one connection, shaped as the daemon's conn_io(). */
static void echo_conn(int ep, int fd, uint32_t events, uint8_t *reply, size_t reply_size) {
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
                        if (echo_send(fd, reply, reply_size) < 0)
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
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
        _cleanup_(closep) int ep = -EBADF, rfd = -EBADF;
        ssize_t size;

        (void) prctl(PR_SET_NAME, "bench-echo"); /* rather than "exe", in ps and perf */
        rfd = open(reply_path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        size = read(rfd, reply, sizeof(reply));
        if (size < (ssize_t) PROTO_HEADER_SIZE)
                return size < 0 ? -errno : -EBADMSG;
        rfd = safe_close(rfd);

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
                                echo_conn(ep, events[i].data.fd, events[i].events, reply, (size_t) size);
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

static int write_file(const char *path, const void *data, size_t len) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

static int echo_start(Bench *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int lfd = -EBADF;
        int r;

        snprintf(b->dir, sizeof(b->dir), "/tmp/netutil-bench.XXXXXX");
        if (!mkdtemp(b->dir)) {
                r = -errno;
                b->dir[0] = '\0';
                return r;
        }
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
                execl("/proc/self/exe", "bench-status", "--echo-server", "3", b->reply_path, (char *) NULL);
                _exit(127);
        }
        return 0;
}

static int echo_stop(Bench *b) {
        int status = 0, r = 0;

        if (b->echo_pid > 0) {
                uint64_t deadline = now_nsec() + STOP_TIMEOUT_MS * 1000000ULL;

                (void) kill(b->echo_pid, SIGTERM);
                for (;;) {
                        pid_t w = waitpid(b->echo_pid, &status, WNOHANG);
                        if (w == b->echo_pid)
                                break;
                        if (w < 0 && errno != EINTR) {
                                r = -errno;
                                break;
                        }
                        if (now_nsec() > deadline) {
                                (void) kill(b->echo_pid, SIGKILL);
                                (void) waitpid(b->echo_pid, &status, 0);
                                r = -ETIMEDOUT;
                                break;
                        }
                        usleep(2000);
                }
                /* It is expected to die of our SIGTERM; anything else is a breakage. */
                if (r == 0 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                        r = -ECHILD;
                b->echo_pid = -1;
        }
        if (b->dir[0]) {
                (void) unlink(b->echo_socket);
                (void) unlink(b->reply_path);
                if (rmdir(b->dir) < 0 && r == 0)
                        r = -errno;
                b->dir[0] = '\0';
        }
        return r;
}

/* RssAnon: the private memory of pid in KiB, or -errno. */
static long rss_anon_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -ENODATA;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* ---- (a) latency ------------------------------------------------------------------------ */

static int case_latency(Bench *b, const char *placement) {
        /* 0: daemon via the library, 1: daemon raw, 2: echo raw; the same client code for 1, 2. */
        Client c[3];
        double us[3][ROUNDS];
        unsigned shared[3] = { 0 };
        const double samples = ROUNDS * SLICES;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                c[i] = (Client) { .raw.fd = -EBADF };
        if ((r = client_open(&c[0], VIA_LIBRARY, b->daemon.socket)) < 0 ||
            (r = client_open(&c[1], VIA_RAW, b->daemon.socket)) < 0 ||
            (r = client_open(&c[2], VIA_RAW, b->echo_socket)) < 0) {
                fprintf(stderr, "bench: (a) %s: cannot connect: %s\n", placement, strerror(-r));
                goto finish;
        }
        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                if ((r = client_roundtrips(&c[i], LAT_WARMUP)) < 0)
                        goto fail;

        for (unsigned round = 0; round < ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < SLICES; slice++)
                        for (size_t k = 0; k < ELEMENTSOF(c); k++) {
                                size_t i = (round + slice + k) % ELEMENTSOF(c); /* who goes first rotates */
                                uint64_t t0;

                                drain_notify(b);
                                t0 = now_nsec();
                                r = client_roundtrips(&c[i], LAT_ITERS / SLICES);
                                if (r < 0)
                                        goto fail;
                                sec[i] += seconds_since(t0, now_nsec());
                                shared[i] += colocated(i == 2 ? b->echo_pid : b->daemon.pid);
                        }
                for (size_t i = 0; i < ELEMENTSOF(c); i++)
                        us[i][round] = sec[i] * 1e6 / (LAT_ITERS / SLICES * SLICES);
        }

        row_set_coloc(add_row("(a) round trip: netutil_status_get()", placement, "echo", UNIT_USEC, us[0],
                              us[2], ROUNDS, GOAL_AT_MOST, 1.5),
                      shared[0] / samples, shared[2] / samples);
        row_set_coloc(add_row("(a) round trip: raw protocol", placement, "echo", UNIT_USEC, us[1], us[2],
                              ROUNDS, GOAL_INFO, 0),
                      shared[1] / samples, shared[2] / samples);
        row_set_coloc(add_row("(a) library's share: library vs raw", placement, "raw protocol", UNIT_USEC,
                              us[0], us[1], ROUNDS, GOAL_INFO, 0),
                      shared[0] / samples, shared[1] / samples);
        goto finish;
fail:
        fprintf(stderr, "bench: (a) %s: a request failed: %s\n", placement, strerror(-r));
finish:
        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                client_close(&c[i]);
        return r;
}

/* ---- (b) pipelined ---------------------------------------------------------------------- */

static int case_pipelined(Bench *b, const char *placement) {
        _cleanup_(netutil_client_closep) netutil_client *lib = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        RawConn daemon = { .fd = -EBADF }, echo = { .fd = -EBADF };
        double rps[3][ROUNDS], ignored;
        unsigned shared[3] = { 0 };
        const double samples = ROUNDS * SLICES;
        const char *what = "cannot connect";
        const unsigned per_slice = PIPE_ITERS / SLICES;
        int r;

        if ((r = raw_open(&daemon, b->daemon.socket)) < 0 || (r = raw_open(&echo, b->echo_socket)) < 0 ||
            (r = netutil_client_open(b->daemon.socket, &lib)) < 0 || (r = sd_event_new(&e)) < 0 ||
            (r = netutil_client_attach_event(lib, e, 0)) < 0)
                goto finish;

        what = "a request failed";
        if ((r = raw_pipeline(&daemon, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = raw_pipeline(&echo, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = lib_pipeline(lib, e, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0)
                goto finish;

        /* 0: daemon raw, 1: daemon via the library, 2: echo raw. */
        for (unsigned round = 0; round < ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < SLICES; slice++)
                        for (unsigned k = 0; k < 3; k++) {
                                unsigned i = (round + slice + k) % 3;
                                double s = 0;

                                drain_notify(b);
                                if (i == 0)
                                        r = raw_pipeline(&daemon, per_slice, PIPE_DEPTH, &s);
                                else if (i == 1)
                                        r = lib_pipeline(lib, e, per_slice, PIPE_DEPTH, &s);
                                else
                                        r = raw_pipeline(&echo, per_slice, PIPE_DEPTH, &s);
                                if (r < 0)
                                        goto finish;
                                sec[i] += s;
                                shared[i] += colocated(i == 2 ? b->echo_pid : b->daemon.pid);
                        }
                for (unsigned i = 0; i < 3; i++)
                        rps[i][round] = per_slice * SLICES / sec[i];
        }

        row_set_coloc(add_row("(b) pipelined x64: raw protocol", placement, "echo x64", UNIT_RPS, rps[0],
                              rps[2], ROUNDS, GOAL_AT_LEAST, 0.6),
                      shared[0] / samples, shared[2] / samples);
        row_set_coloc(add_row("(b) pipelined x64: library async", placement, "echo x64", UNIT_RPS, rps[1],
                              rps[2], ROUNDS, GOAL_INFO, 0),
                      shared[1] / samples, shared[2] / samples);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (b) %s: %s: %s\n", placement, what, strerror(-r));
        raw_close(&daemon);
        raw_close(&echo);
        return r;
}

/* ---- (c) concurrent clients ------------------------------------------------------------- */

/* Three groups of N_CLIENTS threads, each thread with its own connection, kept for the
 * whole case: 0 the daemon through the library, 1 the daemon on the raw protocol, 2 the
 * echo server. The main thread starts one group at a time for a slice and waits for it. */
#define N_GROUPS 3u

typedef struct Crew Crew;

typedef struct Worker {
        pthread_t thread;
        Crew *crew;
        unsigned group;
        uint64_t t_start, t_end; /* of the last slice */
        int error;
} Worker;

struct Crew {
        pthread_mutex_t lock;
        pthread_cond_t wake[N_GROUPS]; /* one per group, so that only the group that runs wakes */
        pthread_cond_t done;
        unsigned generation[N_GROUPS]; /* bumped to start a slice of that group */
        unsigned pending;              /* workers still getting ready, or still in the slice */
        unsigned iters;                /* round trips per worker in this slice */
        bool quit;
        Via via[N_GROUPS];
        const char *path[N_GROUPS];
        Worker workers[N_GROUPS][N_CLIENTS];
};

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        Crew *k = w->crew;
        unsigned seen = 0;
        Client c;
        int r;

        r = client_open(&c, k->via[w->group], k->path[w->group]);
        if (r >= 0)
                r = client_roundtrips(&c, MULTI_WARMUP);
        w->error = r < 0 ? r : 0;

        pthread_mutex_lock(&k->lock);
        for (;;) {
                unsigned iters;

                if (--k->pending == 0)
                        pthread_cond_signal(&k->done);
                while (k->generation[w->group] == seen && !k->quit)
                        pthread_cond_wait(&k->wake[w->group], &k->lock);
                if (k->quit)
                        break;
                seen = k->generation[w->group];
                iters = k->iters;
                pthread_mutex_unlock(&k->lock);

                if (w->error == 0) {
                        w->t_start = now_nsec();
                        r = client_roundtrips(&c, iters);
                        w->t_end = now_nsec();
                        if (r < 0)
                                w->error = r;
                }
                pthread_mutex_lock(&k->lock);
        }
        pthread_mutex_unlock(&k->lock);
        client_close(&c);
        return NULL;
}

/* Waits until no worker is pending. */
static void crew_wait(Crew *k) {
        pthread_mutex_lock(&k->lock);
        while (k->pending > 0)
                pthread_cond_wait(&k->done, &k->lock);
        pthread_mutex_unlock(&k->lock);
}

static void crew_stop(Crew *k, unsigned started) {
        pthread_mutex_lock(&k->lock);
        k->quit = true;
        for (unsigned g = 0; g < N_GROUPS; g++)
                pthread_cond_broadcast(&k->wake[g]);
        pthread_mutex_unlock(&k->lock);
        for (unsigned i = 0; i < started; i++)
                pthread_join(k->workers[i / N_CLIENTS][i % N_CLIENTS].thread, NULL);
}

/* Starts every worker and waits until all are connected and warmed up. Returns the number
 * started in *ret_started, and the first error. */
static int crew_start(Crew *k, unsigned *ret_started) {
        unsigned n = 0;
        int r = 0;

        k->pending = N_GROUPS * N_CLIENTS;
        for (; n < N_GROUPS * N_CLIENTS; n++) {
                Worker *w = &k->workers[n / N_CLIENTS][n % N_CLIENTS];

                *w = (Worker) { .crew = k, .group = n / N_CLIENTS };
                r = -pthread_create(&w->thread, NULL, worker_main, w);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                pthread_mutex_lock(&k->lock);
                k->pending -= N_GROUPS * N_CLIENTS - n; /* those never started */
                pthread_mutex_unlock(&k->lock);
        }
        crew_wait(k);
        for (unsigned i = 0; i < n && r == 0; i++)
                r = k->workers[i / N_CLIENTS][i % N_CLIENTS].error;
        *ret_started = n;
        return r;
}

/* Runs one slice of group g: every worker of it does iters round trips. Adds the time from
 * the first start to the last end to *sec. */
static int crew_slice(Crew *k, unsigned g, unsigned iters, double *sec) {
        uint64_t t0 = UINT64_MAX, t1 = 0;

        pthread_mutex_lock(&k->lock);
        k->pending = N_CLIENTS;
        k->iters = iters;
        k->generation[g]++;
        pthread_cond_broadcast(&k->wake[g]);
        pthread_mutex_unlock(&k->lock);
        crew_wait(k);

        for (unsigned i = 0; i < N_CLIENTS; i++) {
                const Worker *w = &k->workers[g][i];

                if (w->error < 0)
                        return w->error;
                t0 = MIN(t0, w->t_start);
                t1 = MAX(t1, w->t_end);
        }
        *sec += seconds_since(t0, t1);
        return 0;
}

static int case_clients(Bench *b, const char *placement) {
        Crew crew = {
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .wake = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER },
                .done = PTHREAD_COND_INITIALIZER,
                .via = { VIA_LIBRARY, VIA_RAW, VIA_RAW },
                .path = { b->daemon.socket, b->daemon.socket, b->echo_socket },
        };
        const unsigned per_slice = MULTI_ITERS / SLICES;
        double rps[N_GROUPS][ROUNDS];
        unsigned started = 0;
        int r;

        r = crew_start(&crew, &started);
        if (r < 0) {
                fprintf(stderr, "bench: (c) %s: cannot start the clients: %s\n", placement, strerror(-r));
                goto finish;
        }

        for (unsigned round = 0; round < ROUNDS; round++) {
                double sec[N_GROUPS] = { 0 };

                for (unsigned slice = 0; slice < SLICES; slice++)
                        for (unsigned k = 0; k < N_GROUPS; k++) {
                                unsigned g = (round + slice + k) % N_GROUPS;

                                drain_notify(b);
                                r = crew_slice(&crew, g, per_slice, &sec[g]);
                                if (r < 0) {
                                        fprintf(stderr, "bench: (c) %s: a client failed: %s\n", placement,
                                                strerror(-r));
                                        goto finish;
                                }
                        }
                for (unsigned g = 0; g < N_GROUPS; g++)
                        rps[g][round] = (double) N_CLIENTS * per_slice * SLICES / sec[g];
        }

        add_row("(c) 8 clients: netutil_status_get()", placement, "echo, 8 cl.", UNIT_RPS, rps[0], rps[2],
                ROUNDS, GOAL_AT_LEAST, 0.6);
        add_row("(c) 8 clients: raw protocol", placement, "echo, 8 cl.", UNIT_RPS, rps[1], rps[2], ROUNDS,
                GOAL_INFO, 0);
finish:
        crew_stop(&crew, started);
        return r;
}

/* ---- (d) memory ------------------------------------------------------------------------- */

typedef struct Memory {
        double rss[2];  /* daemon, echo: VmRSS in KiB */
        double anon[2]; /* daemon, echo: RssAnon in KiB */
} Memory;

static int read_memory(Bench *b, Memory *ret) {
        pid_t pids[2] = { b->daemon.pid, b->echo_pid };

        for (size_t i = 0; i < 2; i++) {
                long rss = test_rss_kib(pids[i]), anon = rss_anon_kib(pids[i]);
                if (rss < 0)
                        return (int) rss;
                if (anon < 0)
                        return (int) anon;
                ret->rss[i] = (double) rss;
                ret->anon[i] = (double) anon;
        }
        return 0;
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

static int run(Bench *b) {
        Placement order[_PLACE_MAX];
        size_t n_order;
        Memory start, idle;
        int daemon_fds, echo_fds, r;
        uint64_t t0 = now_nsec();

        r = parse_placements(order, &n_order);
        if (r < 0) {
                fprintf(stderr,
                        "bench: BENCH_PLACEMENTS takes same-cpu, cross-cpu and unpinned, comma-separated\n");
                return r;
        }
        if (access(test_netutild_bin(), X_OK) < 0) {
                r = -errno;
                fprintf(stderr, "bench: cannot run the daemon %s (set NETUTILD_BIN): %s\n",
                        test_netutild_bin(), strerror(-r));
                return r;
        }
        r = test_daemon_start(&b->daemon, NULL);
        if (r < 0) {
                fprintf(stderr, "bench: the daemon (%s) did not start: %s\n", test_netutild_bin(),
                        strerror(-r));
                return r;
        }
        b->daemon_started = true;
        daemon_fds = test_count_fds(b->daemon.pid);

        r = capture_reply(b);
        if (r < 0) {
                fprintf(stderr, "bench: the first STATUS request failed: %s\n", strerror(-r));
                return r;
        }
        r = echo_start(b);
        if (r < 0) {
                fprintf(stderr, "bench: the echo server did not start: %s\n", strerror(-r));
                return r;
        }
        {
                Client c;
                r = client_open(&c, VIA_RAW, b->echo_socket);
                if (r >= 0)
                        r = client_roundtrips(&c, 1);
                client_close(&c);
                if (r < 0) {
                        fprintf(stderr, "bench: the echo server does not answer: %s\n", strerror(-r));
                        return r;
                }
        }
        echo_fds = test_count_fds(b->echo_pid);
        r = read_memory(b, &start);
        if (r < 0) {
                fprintf(stderr, "bench: cannot read memory use: %s\n", strerror(-r));
                return r;
        }

        printf("netutild STATUS benchmark: request %zu bytes, reply %zu bytes (the echo server answers\n"
               "the same); daemon pid %d, echo server pid %d; %u rounds per measurement, the median shown;\n"
               "(a) %u round trips per round, (b) %u requests per round %u in flight,\n"
               "(c) %u clients x %u round trips per round.\n"
               "Placements: unpinned = the scheduler decides; same-cpu = daemon, echo server and clients\n"
               "all on CPU %d; cross-cpu = servers on CPU %d, clients on CPU %d.\n",
               b->request_size, b->reply_size, (int) b->daemon.pid, (int) b->echo_pid, ROUNDS, LAT_ITERS,
               PIPE_ITERS, PIPE_DEPTH, N_CLIENTS, MULTI_ITERS, b->cpu[0], b->cpu[1], b->cpu[0]);
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
                drain_notify(b);
                r = place(b, &servers, &clients);
                if (r < 0) {
                        fprintf(stderr, "bench: cannot set CPU affinity: %s\n", strerror(-r));
                        return r;
                }
                fprintf(stderr, "bench: %s: (a) round trip...\n", label);
                if ((r = case_latency(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (b) pipelined...\n", label);
                if ((r = case_pipelined(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (c) %u clients...\n", label, N_CLIENTS);
                if ((r = case_clients(b, label)) < 0)
                        return r;
        }

        /* Idle: every client has gone (the fd counts are back to their start). */
        drain_notify(b);
        (void) test_wait_fd_count(b->daemon.pid, daemon_fds, 2000);
        (void) test_wait_fd_count(b->echo_pid, echo_fds, 2000);
        r = read_memory(b, &idle);
        if (r < 0) {
                fprintf(stderr, "bench: cannot read memory use: %s\n", strerror(-r));
                return r;
        }
        add_row("(d) idle RSS after the runs (VmRSS)", "-", "echo server", UNIT_KIB, &idle.rss[0],
                &idle.rss[1], 1, GOAL_AT_MOST, 2.0);
        add_row("(d) idle private memory (RssAnon)", "-", "echo server", UNIT_KIB, &idle.anon[0],
                &idle.anon[1], 1, GOAL_INFO, 0);
        add_row("(d) RSS right after start (VmRSS)", "-", "echo server", UNIT_KIB, &start.rss[0],
                &start.rss[1], 1, GOAL_INFO, 0);

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
                fprintf(stderr, "Usage: %s\n(NETUTILD_BIN names the daemon binary; default ./netutild)\n",
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
        if (r < 0) {
                fprintf(stderr, "bench: FAILED: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        print_table(&t);
        printf("\nTargets: %u met, %u missed, %u not comparable in this run (UNLIKE).\n"
               "ratio: ours/baseline, only ever within one placement. spread: (max - min) / median of the\n"
               "rounds, ours/baseline. colocated: how often the server was found on the client's CPU\n"
               "after a slice, ours/baseline. UNLIKE: unpinned, the scheduler kept one pair on one CPU and\n"
               "split the other (it tends to keep whichever it has), so the ratio would compare a context\n"
               "switch with a cross-CPU wake-up; the pinned rows are the fair comparison then.\n"
               "Timings never fail this program.\n",
               t.met, t.missed, t.unlike);
        return EXIT_SUCCESS;
}
