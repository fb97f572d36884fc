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
 * BenchPlacement decides what a round trip costs on a 2-CPU machine: with both ends on one
 * CPU it is two context switches (~8 us); with the ends on different CPUs it is two
 * cross-CPU wake-ups (~50 us). So (a)-(c) run in three placements, and a result is only
 * ever compared with the baseline measured in the same one: "same-cpu" (the daemon, the
 * echo server and the clients all pinned to the first CPU), "cross-cpu" (both servers
 * pinned to the second CPU, the clients to the first) and "unpinned" (the scheduler
 * decides, and may co-locate a pair for a while and then split it). Each measurement is
 * BENCH_ROUNDS rounds, the median round is reported, and every round is cut into
 * BENCH_SLICES slices in which the contenders take turns (daemon, echo, daemon, ...; who
 * goes first rotates), so that drift of the machine and the scheduler's moods hit both alike.
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
 * The harness (rounds, slices, placement, the table, the echo server) is benchlib.c's.
 *
 * Environment: NETUTILD_BIN, the daemon (default ./netutild); BENCH_PLACEMENTS, e.g.
 * "same-cpu,cross-cpu", to run only those; BENCH_VERBOSE=1 prints every round on stderr.
 */

#include <errno.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"
#include "benchlib.h"

#define LAT_ITERS 3000u /* round trips per round, one connection */
#define LAT_WARMUP 500u
#define PIPE_DEPTH 64u    /* requests in flight, pipelined */
#define PIPE_ITERS 30000u /* replies per round, pipelined */
#define PIPE_WARMUP 5000u
#define N_CLIENTS 8u      /* concurrent clients */
#define MULTI_ITERS 1500u /* round trips per client per round */
#define MULTI_WARMUP 100u
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_client, netutil_client_close);

/* ---- Raw protocol client --------------------------------------------------------------- */

/* A connection speaking the protocol directly with one STATUS request (benchlib.h). */
static int raw_open(BenchRawConn *c, const char *path) {
        ProtoMsg *req = NULL;
        int r;

        r = proto_msg_new(PROTO_MSG_STATUS, 0, &req);
        if (r < 0) {
                *c = (BenchRawConn) { .fd = -EBADF };
                return r;
        }
        return bench_raw_open(c, path, req);
}

/* Receives one reply if one is waiting: returns 1 and its serial, 0 if none is, or -errno.
 * Every reply must parse and be a successful single-part STATUS reply. */
static int raw_recv(BenchRawConn *c, uint32_t *ret_serial) {
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

/* total requests on one connection, depth of them in flight at any time: each reply that
 * comes back sends the next request. Every serial must come back exactly once. Returns the
 * time taken in *ret_sec. */
static int raw_pipeline(BenchRawConn *c, unsigned total, unsigned depth, double *ret_sec) {
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

        t0 = bench_now_nsec();
        for (; sent < depth && sent < total; sent++) {
                r = bench_raw_send(c, base + sent);
                if (r < 0)
                        return r;
        }
        while (done < total) {
                r = bench_wait_fd(c->fd, POLLIN, BENCH_IO_TIMEOUT_MS);
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
                                r = bench_raw_send(c, base + sent);
                                if (r < 0)
                                        return r;
                                sent++;
                        }
                }
        }
        t1 = bench_now_nsec();
        *ret_sec = bench_seconds_since(t0, t1);
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
        BenchRawConn raw;
} Client;

static void client_close(Client *c) {
        c->lib = netutil_client_close(c->lib);
        bench_raw_close(&c->raw);
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

        t0 = bench_now_nsec();
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
        t1 = bench_now_nsec();
        if (a.error < 0)
                return a.error;
        *ret_sec = bench_seconds_since(t0, t1);
        return 0;
}

/* ---- The bench ------------------------------------------------------------------------- */

typedef struct Bench {
        TestDaemon daemon;
        bool daemon_started;
        char dir[256]; /* the echo server's temporary directory */
        BenchEcho echo;
        uint8_t reply[PROTO_MAX_MSG]; /* the daemon's STATUS reply, for the echo server */
        size_t reply_size;
        size_t request_size;
        cpu_set_t all_cpus; /* what we were allowed at the start */
        int cpu[2];         /* the first two of them; -1 for none */
} Bench;

static Bench bench = { .echo.pid = -1 };

/* The daemon sends STATUS= to its NOTIFY_SOCKET (at most once a second while clients come
 * and go), and sd_notify() blocks the daemon while that socket's queue is full
 * (net.unix.max_dgram_qlen, 10 by default). Read what it sent, as a service manager
 * would; called before every round, and rounds take well under a second. */
static void drain_notify(Bench *b) {
        bench_drain_notify(&b->daemon);
}

/* Puts the daemon and the echo server on servers, and ourselves on clients (threads made
 * later inherit it). */
static int place(Bench *b, const cpu_set_t *servers, const cpu_set_t *clients) {
        int r;

        if ((r = bench_pin_pid(b->daemon.pid, servers)) < 0 ||
            (r = bench_pin_pid(b->echo.pid, servers)) < 0 || (r = bench_pin_pid(getpid(), clients)) < 0)
                return r;
        return 0;
}

/* Asks the daemon for its status once on the raw protocol and keeps the reply: its size is
 * what the echo server must answer with. */
static int capture_reply(Bench *b) {
        BenchRawConn c;
        uint32_t got;
        int r;

        r = raw_open(&c, b->daemon.socket);
        if (r < 0)
                return r;
        b->request_size = c.req->size;
        r = bench_raw_send(&c, bench_raw_next_serial(&c));
        while (r >= 0) {
                r = bench_wait_fd(c.fd, POLLIN, BENCH_IO_TIMEOUT_MS);
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
        bench_raw_close(&c);
        return r;
}

/* ---- The echo server (benchlib.h) ------------------------------------------------------ */

static int echo_start(Bench *b) {
        int r = bench_make_temp_dir(b->dir, sizeof(b->dir));
        if (r < 0)
                return r;
        return bench_echo_start(&b->echo, b->dir, "bench-status", b->reply, b->reply_size);
}

static int echo_stop(Bench *b) {
        int r = bench_echo_stop(&b->echo);

        if (b->dir[0]) {
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
        double us[3][BENCH_ROUNDS];
        unsigned shared[3] = { 0 };
        const double samples = BENCH_ROUNDS * BENCH_SLICES;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                c[i] = (Client) { .raw.fd = -EBADF };
        if ((r = client_open(&c[0], VIA_LIBRARY, b->daemon.socket)) < 0 ||
            (r = client_open(&c[1], VIA_RAW, b->daemon.socket)) < 0 ||
            (r = client_open(&c[2], VIA_RAW, b->echo.socket)) < 0) {
                fprintf(stderr, "bench: (a) %s: cannot connect: %s\n", placement, strerror(-r));
                goto finish;
        }
        for (size_t i = 0; i < ELEMENTSOF(c); i++)
                if ((r = client_roundtrips(&c[i], LAT_WARMUP)) < 0)
                        goto fail;

        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (size_t k = 0; k < ELEMENTSOF(c); k++) {
                                size_t i = (round + slice + k) % ELEMENTSOF(c); /* who goes first rotates */
                                uint64_t t0;

                                drain_notify(b);
                                t0 = bench_now_nsec();
                                r = client_roundtrips(&c[i], LAT_ITERS / BENCH_SLICES);
                                if (r < 0)
                                        goto fail;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                                shared[i] += bench_colocated(i == 2 ? b->echo.pid : b->daemon.pid);
                        }
                for (size_t i = 0; i < ELEMENTSOF(c); i++)
                        us[i][round] = sec[i] * 1e6 / (LAT_ITERS / BENCH_SLICES * BENCH_SLICES);
        }

        bench_row_set_coloc(bench_add_row("(a) round trip: netutil_status_get()", placement, "echo",
                                          BENCH_UNIT_USEC, us[0], us[2], BENCH_ROUNDS, BENCH_GOAL_AT_MOST,
                                          1.5),
                            shared[0] / samples, shared[2] / samples);
        bench_row_set_coloc(bench_add_row("(a) round trip: raw protocol", placement, "echo", BENCH_UNIT_USEC,
                                          us[1], us[2], BENCH_ROUNDS, BENCH_GOAL_INFO, 0),
                            shared[1] / samples, shared[2] / samples);
        bench_row_set_coloc(bench_add_row("(a) library's share: library vs raw", placement, "raw protocol",
                                          BENCH_UNIT_USEC, us[0], us[1], BENCH_ROUNDS, BENCH_GOAL_INFO, 0),
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
        BenchRawConn daemon = { .fd = -EBADF }, echo = { .fd = -EBADF };
        double rps[3][BENCH_ROUNDS], ignored;
        unsigned shared[3] = { 0 };
        const double samples = BENCH_ROUNDS * BENCH_SLICES;
        const char *what = "cannot connect";
        const unsigned per_slice = PIPE_ITERS / BENCH_SLICES;
        int r;

        if ((r = raw_open(&daemon, b->daemon.socket)) < 0 || (r = raw_open(&echo, b->echo.socket)) < 0 ||
            (r = netutil_client_open(b->daemon.socket, &lib)) < 0 || (r = sd_event_new(&e)) < 0 ||
            (r = netutil_client_attach_event(lib, e, 0)) < 0)
                goto finish;

        what = "a request failed";
        if ((r = raw_pipeline(&daemon, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = raw_pipeline(&echo, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = lib_pipeline(lib, e, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0)
                goto finish;

        /* 0: daemon raw, 1: daemon via the library, 2: echo raw. */
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
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
                                shared[i] += bench_colocated(i == 2 ? b->echo.pid : b->daemon.pid);
                        }
                for (unsigned i = 0; i < 3; i++)
                        rps[i][round] = per_slice * BENCH_SLICES / sec[i];
        }

        bench_row_set_coloc(bench_add_row("(b) pipelined x64: raw protocol", placement, "echo x64",
                                          BENCH_UNIT_RPS, rps[0], rps[2], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST,
                                          0.6),
                            shared[0] / samples, shared[2] / samples);
        bench_row_set_coloc(bench_add_row("(b) pipelined x64: library async", placement, "echo x64",
                                          BENCH_UNIT_RPS, rps[1], rps[2], BENCH_ROUNDS, BENCH_GOAL_INFO, 0),
                            shared[1] / samples, shared[2] / samples);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (b) %s: %s: %s\n", placement, what, strerror(-r));
        bench_raw_close(&daemon);
        bench_raw_close(&echo);
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
                        w->t_start = bench_now_nsec();
                        r = client_roundtrips(&c, iters);
                        w->t_end = bench_now_nsec();
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
        *sec += bench_seconds_since(t0, t1);
        return 0;
}

static int case_clients(Bench *b, const char *placement) {
        Crew crew = {
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .wake = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER },
                .done = PTHREAD_COND_INITIALIZER,
                .via = { VIA_LIBRARY, VIA_RAW, VIA_RAW },
                .path = { b->daemon.socket, b->daemon.socket, b->echo.socket },
        };
        const unsigned per_slice = MULTI_ITERS / BENCH_SLICES;
        double rps[N_GROUPS][BENCH_ROUNDS];
        unsigned started = 0;
        int r;

        r = crew_start(&crew, &started);
        if (r < 0) {
                fprintf(stderr, "bench: (c) %s: cannot start the clients: %s\n", placement, strerror(-r));
                goto finish;
        }

        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[N_GROUPS] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
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
                        rps[g][round] = (double) N_CLIENTS * per_slice * BENCH_SLICES / sec[g];
        }

        bench_add_row("(c) 8 clients: netutil_status_get()", placement, "echo, 8 cl.", BENCH_UNIT_RPS, rps[0],
                      rps[2], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST, 0.6);
        bench_add_row("(c) 8 clients: raw protocol", placement, "echo, 8 cl.", BENCH_UNIT_RPS, rps[1], rps[2],
                      BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
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
        pid_t pids[2] = { b->daemon.pid, b->echo.pid };

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

static int run(Bench *b) {
        BenchPlacement order[_BENCH_PLACE_MAX];
        size_t n_order;
        Memory start, idle;
        int daemon_fds, echo_fds, r;
        uint64_t t0 = bench_now_nsec();

        r = bench_parse_placements(order, &n_order);
        if (r < 0)
                return r;
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
                r = client_open(&c, VIA_RAW, b->echo.socket);
                if (r >= 0)
                        r = client_roundtrips(&c, 1);
                client_close(&c);
                if (r < 0) {
                        fprintf(stderr, "bench: the echo server does not answer: %s\n", strerror(-r));
                        return r;
                }
        }
        echo_fds = test_count_fds(b->echo.pid);
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
               b->request_size, b->reply_size, (int) b->daemon.pid, (int) b->echo.pid, BENCH_ROUNDS,
               LAT_ITERS, PIPE_ITERS, PIPE_DEPTH, N_CLIENTS, MULTI_ITERS, b->cpu[0], b->cpu[1], b->cpu[0]);
        if (b->cpu[1] < 0)
                printf("Only one CPU is allowed: the cross-cpu placement is skipped.\n");
        fflush(stdout);

        for (size_t o = 0; o < n_order; o++) {
                BenchPlacement p = order[o];
                const char *label = bench_placement_label[p];
                cpu_set_t servers, clients;

                if (!bench_placement_cpus(p, &b->all_cpus, b->cpu, &servers, &clients))
                        continue;
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
        (void) test_wait_fd_count(b->echo.pid, echo_fds, 2000);
        r = read_memory(b, &idle);
        if (r < 0) {
                fprintf(stderr, "bench: cannot read memory use: %s\n", strerror(-r));
                return r;
        }
        bench_add_row("(d) idle RSS after the runs (VmRSS)", "-", "echo server", BENCH_UNIT_KIB, &idle.rss[0],
                &idle.rss[1], 1, BENCH_GOAL_AT_MOST, 2.0);
        bench_add_row("(d) idle private memory (RssAnon)", "-", "echo server", BENCH_UNIT_KIB, &idle.anon[0],
                &idle.anon[1], 1, BENCH_GOAL_INFO, 0);
        bench_add_row("(d) RSS right after start (VmRSS)", "-", "echo server", BENCH_UNIT_KIB, &start.rss[0],
                &start.rss[1], 1, BENCH_GOAL_INFO, 0);

        fprintf(stderr, "bench: done in %.1f s\n", bench_seconds_since(t0, bench_now_nsec()));
        return 0;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        BenchTally t = { 0 };
        int r, r2, status;

        if (argc == 4 && strcmp(argv[1], "--echo-server") == 0) {
                r = bench_echo_serve(atoi(argv[2]), argv[3], -EBADF);
                fprintf(stderr, "bench: echo server: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (argc > 1) {
                fprintf(stderr, "Usage: %s\n(NETUTILD_BIN names the daemon binary; default ./netutild)\n",
                        argv[0]);
                return EXIT_FAILURE;
        }

        bench_setup(&(const BenchTableStyle) {
                .name_width = 38, .baseline_width = 13, .rule_width = 128,
                .coloc = true, .round_decimals = 2 });
        if (bench_get_cpus(&b->all_cpus, b->cpu) < 0)
                return EXIT_FAILURE;

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

        bench_print_table(&t);
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
