/* SPDX-License-Identifier: MIT */

/*
 * bench-resolve ("make bench"): what a RESOLVE request to netutild costs, next to the
 * cheapest thing that moves the same bytes, next to nscd, and next to dnsperf for misses.
 *
 * The whole run happens in private network and mount namespaces (this process unshares
 * them before it starts anything, so every daemon, dnsmasq and nscd inherits them): lo up,
 * and bind-mounted over /etc a resolv.conf naming 127.0.0.1 and a hosts file with
 * nscd-hit.bench.test. The library answers an override hit on a literal target whose rule
 * has no TTL from the daemon's rules file (SOCKET.rules, proto/rules-file-format.h) without a
 * round trip; rows (1)-(3) measure the daemon's own path, so their clients are opened with
 * NETUTIL_RULES_FILE=0 ("through the daemon"; the asynchronous calls always ask the daemon).
 * Measured, in order of the issue's priorities:
 *   (1) an override hit through the daemon — netutil_resolve() of hit.bench.test, which a
 *       host rule with a TTL maps to the IP literal 192.0.2.7, so no backend is involved —
 *       against a bare echo server answering the daemon's own reply bytes: (1a) one blocking
 *       client's round trip (target <= 1.5x the echo), (1b) one connection with 64 requests
 *       in flight, through the library's asynchronous calls (target >= 50 % of the echo's
 *       rate) and the raw protocol (info), (1c) 8 threads with blocking clients (target
 *       >= 60 %); (1d) netutil_resolve() of file-hit.bench.test, whose rule (-> 192.0.2.9)
 *       has no TTL, answered from the rules file, against the same call through the daemon
 *       (info);
 *   (2) the hit through the daemon asked with AF_UNSPEC against AF_INET (target <= 1.25x);
 *   (3) 100 000 overrides in a second daemon: the RSS they add (target <= 32 MiB) and the
 *       hit's round trip there against the first daemon's, which holds 10 rules (target
 *       <= 1.2x), through the daemon. The rules are set with a TTL (one hour): rules without
 *       expiry are saved to the state file on every change (state_save() before the
 *       acknowledgement), which would make adding 100 000 of them quadratic and measure the
 *       disk, not the table (and past RULES_FILE_MAX_RULES there is no rules file anyway);
 *   (4) our hit against nscd's hosts cache through getaddrinfo(), nscd -F on a private
 *       tmpfs over /run/nscd, three ways: (4a) our hit from the rules file and (4b) our hit
 *       through the daemon, each against nscd's socket path (a private config: hosts cache
 *       only, shared no, so glibc asks over nscd's socket; target: ours <= 0.5x nscd's
 *       time); (4c) our hit from the rules file against nscd's shared-memory path (a second
 *       nscd with shared yes: glibc maps nscd's database and answers a cached name without
 *       asking; info). glibc gives up on nscd's mapping for good in a process that once
 *       failed to get it, as this one did, so (4c) runs in a fresh process (this binary
 *       executed again with --nscd-shared-rounds); an strace of a probe (--gai-probe) must
 *       show no connect() to nscd's socket in its second and later getaddrinfo(), and
 *       nscd -g must count no socket hits for the measuring process's lookups, which must
 *       all give nscd's answer although that process's own hosts file lacks the name;
 *   (5) misses against dnsmasq on 127.0.0.1:53 (--address=/bench.test/192.0.2.1, so every
 *       name under bench.test is answered locally; --cache-size=0; --dns-forward-max only
 *       matters for forwarded queries, of which there are none): distinct names
 *       n-<i>.bench.test, AF_INET (one A query each, as dnsperf sends), through
 *       netutil_resolve_async() on one connection with 1, 100 and 1000 in flight, for the
 *       cares backend and the threadpool backend, and dnsperf -q 1000 against the same
 *       dnsmasq in the same rounds (target: cares x1000 >= 50 % of dnsperf, no failures).
 * Before (1d) and (4) the benchmark proves that the rules-file client answers locally (with
 * the daemon SIGSTOPped, its resolve must succeed and a daemon client's must time out), and
 * after each rules-file measurement that the daemon served no more requests (STATUS counts
 * them) than the daemon-path contender sent; if not, the run fails.
 *
 * Method, as bench-status: every measurement is ROUNDS rounds and the median round is
 * shown; within a round the contenders take turns in SLICES slices (who goes first
 * rotates), so that drift hits all alike. (1) and (2) run in two placements: "same-cpu"
 * (servers and clients pinned to the first CPU: a round trip is two context switches)
 * and "cross-cpu" (servers on the second CPU, clients on the first: two cross-CPU
 * wake-ups); a result is only compared with the baseline of the same placement. (3) and
 * (4) run same-cpu and cross-cpu as well (a hit from the rules file or nscd's mapping has no
 * server: its placement only says where the other contender ran); (5) is unpinned
 * (dnsmasq, dnsperf and the daemon's threads need both CPUs), one slice per contender per
 * round.
 *
 * Why the baselines are fair: the echo server is a separate single-threaded process (this
 * binary exec()ed with --echo-server) with the daemon's I/O model (non-blocking
 * SOCK_SEQPACKET, level-triggered epoll, up to 16 datagrams per wake-up) and no work: it
 * answers every datagram with the daemon's own RESOLVE reply, captured once through a
 * relay, with the request's serial copied in; the raw client sends the library's own
 * request bytes. nscd is measured through the libc call applications use, getaddrinfo(),
 * for a name nscd has cached, against our library call for a name the daemon answers from
 * its table or from its rules file: each is the call an application makes, with
 * everything it costs (our stat() of the rules file, glibc's nscd handshake). dnsperf is
 * the usual DNS load generator, against the same dnsmasq, with the same number of queries
 * in flight.
 *
 * Timings never fail the run: the exit status is nonzero only if something broke (a
 * process did not start or stop cleanly, a request failed) or a row would not measure what
 * it says (the rules file not used, glibc not using nscd's mapping). Needs root
 * (namespaces) and strace for (4c).
 *
 * Left out: the unpinned placement for (1)-(4); the cares backend's own cache and
 * coalescing (every miss name is new).
 *
 * Environment: NETUTILD_BIN (default ./netutild); NETUTILCTL_BIN is not needed;
 * BENCH_VERBOSE=1 prints every round on stderr; NETUTIL_RULES_FILE is ignored (unset at
 * the start, set only around the opening of the daemon-path clients).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"
#include "benchlib.h"

#define LAT_ITERS 2000u
#define LAT_WARMUP 300u
#define PIPE_DEPTH 64u
#define PIPE_ITERS 20000u
#define PIPE_WARMUP 3000u
#define N_CLIENTS 8u
#define MULTI_ITERS 1000u
#define N_BIG 100000u /* overrides in the big table */
#define N_SMALL 10u   /* overrides in the small one */
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)
#define OVERRIDE_TTL_USEC (3600ULL * 1000ULL * 1000ULL)

/* Hits from the rules file take about 2 us: ten times the round trips per round, so that a
 * slice lasts milliseconds, not a fraction of one. */
#define FILE_ITERS 20000u
#define FILE_WARMUP 3000u
/* A resolve asked of the SIGSTOPped daemon must fail within this; the rules file answers in
 * microseconds, so any timeout far above that and far below a second does. */
#define STOPPED_TIMEOUT_USEC (200ULL * 1000ULL)
/* Requests the daemon may serve beyond those counted during a rules-file measurement: the
 * STATUS calls that read the counter (one or two, depending on when the daemon counts). */
#define REQUESTS_SLACK 2
/* How long the daemon may take to show as stopped (state T) after SIGSTOP. */
#define STOP_WAIT_MS 2000

/* The hit through the daemon: its rule has a TTL, so the rules file cannot answer it. */
#define HIT_NAME "hit.bench.test"
#define HIT_TARGET "192.0.2.7"
/* The hit from the rules file: a host rule, a literal target, no TTL. */
#define FILE_HIT_NAME "file-hit.bench.test"
#define FILE_HIT_TARGET "192.0.2.9"
#define NSCD_TARGET "192.0.2.8"
#define NSCD_NAME "nscd-hit.bench.test"
#define HOSTS_TEXT "127.0.0.1 localhost\n" NSCD_TARGET " " NSCD_NAME "\n"
#define RESOLV_TEXT "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n"
#define DNSMASQ_BIN "/usr/sbin/dnsmasq"
#define DNSPERF_BIN "/usr/bin/dnsperf"
#define NSCD_BIN "/usr/sbin/nscd"
#define NSCD_DIR "/run/nscd"
#define NSCD_SOCKET NSCD_DIR "/socket" /* glibc's _PATH_NSCDSOCKET, /var/run/nscd/socket */
#define NSCD_PID_FILE NSCD_DIR "/nscd.pid"
#define STRACE_BIN "strace"

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_client, netutil_client_close);

/* ---- The bench's state ------------------------------------------------------------------ */

typedef struct Bench {
        char dir[256]; /* our temporary directory */
        TestDaemon main_d, big_d, cares_d;
        bool main_started, big_started, cares_started;
        BenchEcho echo;
        pid_t dnsmasq_pid, nscd_pid;
        bool nscd_mounted;
        uint8_t request[PROTO_MAX_MSG]; /* the library's RESOLVE request for HIT_NAME, AF_INET */
        size_t request_size;
        uint8_t reply[PROTO_MAX_MSG]; /* the daemon's reply to it */
        size_t reply_size;
        cpu_set_t all_cpus;
        int cpu[2];
        unsigned miss_serial; /* the next n-<i>.bench.test */
        unsigned miss_failures;
        char exe[4096]; /* this binary (/proc/self/exe), executed afresh for (4c) */
} Bench;

static Bench bench = { .echo.pid = -1, .dnsmasq_pid = -1, .nscd_pid = -1 };

static void drain_all(Bench *b) {
        bench_drain_notify(&b->main_d);
        bench_drain_notify(&b->big_d);
        bench_drain_notify(&b->cares_d);
}

/* Pins every server we run (daemons, echo, nscd; dnsmasq too) and ourselves. */
static int place(Bench *b, BenchPlacement p) {
        cpu_set_t servers, clients;
        pid_t pids[] = { b->main_d.pid, b->big_d.pid, b->cares_d.pid, b->echo.pid, b->nscd_pid, b->dnsmasq_pid };
        int r;

        (void) bench_placement_cpus(p, &b->all_cpus, b->cpu, &servers, &clients);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++)
                if (pids[i] > 0 && (r = bench_pin_pid(pids[i], &servers)) < 0)
                        return r;
        return bench_pin_pid(getpid(), &clients);
}

/* ---- Raw protocol: the captured request bytes under a fresh serial ------------------------- */

typedef struct RawConn {
        int fd;
        uint32_t serial;
        uint8_t req[PROTO_MAX_MSG];
        size_t req_size;
        uint8_t buf[PROTO_MAX_MSG];
} RawConn;

static RawConn *raw_free(RawConn *c) {
        if (c) {
                safe_close(c->fd);
                free(c);
        }
        return NULL;
}

static int raw_open(const Bench *b, const char *path, RawConn **ret) {
        RawConn *c = calloc(1, sizeof(RawConn));
        int r;

        if (!c)
                return -ENOMEM;
        memcpy(c->req, b->request, b->request_size);
        c->req_size = b->request_size;
        r = bench_unix_connect(path, SOCK_SEQPACKET);
        if (r < 0) {
                free(c);
                return r;
        }
        c->fd = r;
        *ret = c;
        return 0;
}

static int raw_send(RawConn *c, uint32_t serial) {
        memcpy(c->req + offsetof(ProtoHeader, serial), &serial, sizeof(serial));
        for (;;) {
                if (send(c->fd, c->req, c->req_size, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = bench_wait_fd(c->fd, POLLOUT, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        return r;
        }
}

/* One reply if one waits: 1 and its serial, 0 if none, or -errno. It must be a successful,
 * single-part reply. */
static int raw_recv(RawConn *c, uint32_t *ret_serial) {
        ProtoHeader h;
        ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);

        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;
        if ((size_t) n < PROTO_HEADER_SIZE)
                return -EBADMSG;
        memcpy(&h, c->buf, sizeof(h));
        if (h.status != 0)
                return h.status > 0 && h.status < 4096 ? -h.status : -EBADMSG;
        if (h.flags & PROTO_FLAG_MORE)
                return -EBADMSG;
        *ret_serial = h.serial;
        return 1;
}

static uint32_t raw_next_serial(RawConn *c) {
        if (++c->serial == 0)
                c->serial = 1;
        return c->serial;
}

static int raw_roundtrips(RawConn *c, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                uint32_t serial = raw_next_serial(c), got;
                int r = raw_send(c, serial);

                if (r < 0)
                        return r;
                for (;;) {
                        r = bench_wait_fd(c->fd, POLLIN, BENCH_IO_TIMEOUT_MS);
                        if (r < 0)
                                return r;
                        r = raw_recv(c, &got);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                if (got != serial)
                                        return -EBADMSG;
                                break;
                        }
                }
        }
        return 0;
}

static int raw_pipeline(RawConn *c, unsigned total, unsigned depth, double *ret_sec) {
        _cleanup_(freep) uint8_t *seen = calloc(total, 1);
        unsigned sent = 0, done = 0;
        uint64_t t0;
        uint32_t base;
        int r;

        if (!seen)
                return -ENOMEM;
        if (c->serial >= UINT32_MAX - total)
                c->serial = 0;
        base = c->serial + 1;
        c->serial += total;

        t0 = bench_now_nsec();
        for (; sent < depth && sent < total; sent++)
                if ((r = raw_send(c, base + sent)) < 0)
                        return r;
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
                                if ((r = raw_send(c, base + sent)) < 0)
                                        return r;
                                sent++;
                        }
                }
        }
        *ret_sec = bench_seconds_since(t0, bench_now_nsec());
        return 0;
}

/* ---- Library calls ---------------------------------------------------------------------- */

/* A client whose netutil_resolve() always asks the daemon: the library reads
 * NETUTIL_RULES_FILE once, in netutil_client_open(), so it is set around that call only and
 * every other client of this process uses the rules file. */
static int lib_open_daemon(const char *path, netutil_client **ret) {
        int r;

        if (setenv("NETUTIL_RULES_FILE", "0", 1) < 0)
                return -errno;
        r = netutil_client_open(path, ret);
        (void) unsetenv("NETUTIL_RULES_FILE");
        return r;
}

static int lib_resolves(netutil_client *c, const char *host, int family, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                netutil_address *a = NULL;
                int r = netutil_resolve(c, host, 80, family, "", LIB_TIMEOUT_USEC, &a);

                free(a);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EADDRNOTAVAIL;
        }
        return 0;
}

typedef struct AsyncRun {
        netutil_client *client;
        const char *host; /* NULL: distinct miss names */
        Bench *bench;
        unsigned total, sent, done, failed;
        bool tolerate; /* misses: count failures rather than stop */
        int error;
} AsyncRun;

static void async_done(netutil_client *c, int error, netutil_address *addresses, size_t n, void *userdata);

static int async_issue(AsyncRun *a) {
        char name[64];
        const char *host = a->host;
        int r;

        if (!host) {
                snprintf(name, sizeof(name), "n-%u.bench.test", a->bench->miss_serial++);
                host = name;
        }
        r = netutil_resolve_async(a->client, host, 80, a->host ? AF_UNSPEC : AF_INET, "", LIB_TIMEOUT_USEC,
                                  async_done, a, NULL);
        if (r >= 0)
                a->sent++;
        return r;
}

static void async_done(netutil_client *c, int error, netutil_address *addresses, size_t n, void *userdata) {
        AsyncRun *a = userdata;

        free(addresses);
        a->done++;
        if (error < 0 || n == 0) {
                /* The first failure of a run says why, in the verbose log. */
                if (a->failed == 0 && getenv("BENCH_VERBOSE"))
                        fprintf(stderr, "bench: a resolve failed: %s (%s)\n", error < 0 ? strerror(-error) : "no address",
                                c && netutil_client_error_message(c) ? netutil_client_error_message(c) : "-");
                a->failed++;
                if (!a->tolerate && a->error == 0)
                        a->error = error < 0 ? error : -EADDRNOTAVAIL;
        }
        if (a->sent < a->total && a->error == 0) {
                int r = async_issue(a);
                if (r < 0)
                        a->error = r;
        }
}

/* total resolves, depth in flight, on c attached to e. host NULL: distinct miss names. */
static int lib_pipeline(Bench *b, netutil_client *c, sd_event *e, const char *host, unsigned total, unsigned depth,
                        double *ret_sec, unsigned *ret_failed) {
        AsyncRun a = { .client = c, .host = host, .bench = b, .total = total, .tolerate = !host };
        uint64_t t0;
        int r;

        t0 = bench_now_nsec();
        while (a.sent < depth && a.sent < total)
                if ((r = async_issue(&a)) < 0)
                        return r;
        while (a.done < total && a.error == 0) {
                r = sd_event_run(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        if (a.error < 0)
                return a.error;
        *ret_sec = bench_seconds_since(t0, bench_now_nsec());
        if (ret_failed)
                *ret_failed = a.failed;
        return 0;
}

static int lib_open_async(const char *path, netutil_client **ret_c, sd_event **ret_e) {
        netutil_client *c = NULL;
        sd_event *e = NULL;
        int r;

        /* The asynchronous calls ask the daemon anyway; opened alike so that nothing depends
         * on it. */
        if ((r = lib_open_daemon(path, &c)) < 0 || (r = sd_event_new(&e)) < 0 ||
            (r = netutil_client_attach_event(c, e, 0)) < 0) {
                netutil_client_close(c);
                sd_event_unref(e);
                return r;
        }
        *ret_c = c;
        *ret_e = e;
        return 0;
}

/* ---- Capture: the library's request and the daemon's reply, through a relay ---------------- */

typedef struct CaptureArgs {
        const char *path;
        int result;
} CaptureArgs;

static void *capture_client(void *userdata) {
        CaptureArgs *a = userdata;
        netutil_client *c = NULL;

        a->result = lib_open_daemon(a->path, &c);
        if (a->result >= 0)
                a->result = lib_resolves(c, HIT_NAME, AF_INET, 1);
        netutil_client_close(c);
        return NULL;
}

static int capture(Bench *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int lfd = -EBADF, cfd = -EBADF, dfd = -EBADF;
        char path[300];
        CaptureArgs args = { .path = path };
        pthread_t t;
        ssize_t n;
        int r;

        snprintf(path, sizeof(path), "%s/capture.sock", b->dir);
        strcpy(sa.sun_path, path);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return -errno;
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                return -errno;
        dfd = bench_unix_connect(b->main_d.socket, SOCK_SEQPACKET);
        if (dfd < 0)
                return dfd;
        r = -pthread_create(&t, NULL, capture_client, &args);
        if (r < 0)
                return r;
        if ((r = bench_wait_fd(lfd, POLLIN, BENCH_IO_TIMEOUT_MS)) < 0)
                goto join;
        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0 || (r = bench_wait_fd(cfd, POLLIN, BENCH_IO_TIMEOUT_MS)) < 0) {
                r = cfd < 0 ? -errno : r;
                goto join;
        }
        n = recv(cfd, b->request, sizeof(b->request), 0);
        if (n < (ssize_t) PROTO_HEADER_SIZE) {
                r = n < 0 ? -errno : -EBADMSG;
                goto join;
        }
        b->request_size = (size_t) n;
        if (send(dfd, b->request, b->request_size, MSG_NOSIGNAL) < 0 ||
            (r = bench_wait_fd(dfd, POLLIN, BENCH_IO_TIMEOUT_MS)) < 0) {
                r = r < 0 ? r : -errno;
                goto join;
        }
        n = recv(dfd, b->reply, sizeof(b->reply), 0);
        if (n < (ssize_t) PROTO_HEADER_SIZE) {
                r = n < 0 ? -errno : -EBADMSG;
                goto join;
        }
        b->reply_size = (size_t) n;
        if (send(cfd, b->reply, b->reply_size, MSG_NOSIGNAL) < 0)
                r = -errno;
join:
        if (r < 0)
                cfd = safe_close(cfd); /* unblocks the client */
        pthread_join(t, NULL);
        (void) unlink(path);
        return r < 0 ? r : args.result;
}

/* Stops a child of ours by its pid: SIGTERM, then SIGKILL after BENCH_STOP_TIMEOUT_MS. Returns
 * 0 if it exited with 0 or died of our SIGTERM, else -ECHILD or -ETIMEDOUT. */
static int stop_child(pid_t *pid) {
        int status, r = bench_stop_child(pid, &status);

        if (r == 0 && status != 0 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                r = -ECHILD;
        return r;
}

/* ---- Environment: namespaces, /etc, dnsmasq, nscd ---------------------------------------- */

static int enter_namespaces(Bench *b) {
        int r;

        if ((r = bench_enter_namespaces()) < 0 ||
            (r = bench_mount_text_over(b->dir, "/etc/resolv.conf", RESOLV_TEXT)) < 0 ||
            (r = bench_mount_text_over(b->dir, "/etc/hosts", HOSTS_TEXT)) < 0)
                return r;
        /* nscd is not to answer anything before (4): an empty private directory for its
         * socket, from the start. */
        (void) mkdir(NSCD_DIR, 0755);
        if (mount("tmpfs", NSCD_DIR, "tmpfs", 0, "mode=0755,size=1m") < 0)
                return -errno;
        b->nscd_mounted = true;
        return 0;
}

static int spawn_quiet(const char *const *argv, pid_t *ret) {
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (null < 0)
                        _exit(127);
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

/* getaddrinfo(host, AF_INET) once: 0 on an answer. */
static int gai_once(const char *host) {
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
        int r = getaddrinfo(host, "80", &hints, &res);

        if (r != 0)
                return -EADDRNOTAVAIL;
        freeaddrinfo(res);
        return 0;
}

static int dnsmasq_start(Bench *b) {
        const char *argv[] = { DNSMASQ_BIN,
                               "--no-daemon",
                               "--no-resolv",
                               "--no-hosts",
                               "--listen-address=127.0.0.1",
                               "--bind-interfaces",
                               "--port=53",
                               "--pid-file=",
                               "--conf-file=/dev/null",
                               "--address=/bench.test/192.0.2.1",
                               "--cache-size=0",
                               "--dns-forward-max=4096",
                               NULL };
        int r = spawn_quiet(argv, &b->dnsmasq_pid);

        if (r < 0)
                return r;
        for (int i = 0; i < 250; i++) {
                if (gai_once("ready.bench.test") == 0)
                        return 0;
                usleep(20000);
        }
        return -ETIMEDOUT;
}

/* nscd -F on a private config: the hosts cache only; shared: whether it offers glibc its
 * database to map (shared yes) or answers over its socket only (shared no). conf gets the
 * config's path (conf_len >= 300). */
static int nscd_start(Bench *b, bool shared, char *conf, size_t conf_len) {
        static const char head[] = "debug-level 0\n"
                                   "paranoia no\n"
                                   "enable-cache passwd no\n"
                                   "enable-cache group no\n"
                                   "enable-cache services no\n"
                                   "enable-cache netgroup no\n"
                                   "enable-cache hosts yes\n"
                                   "positive-time-to-live hosts 3600\n"
                                   "negative-time-to-live hosts 20\n"
                                   "suggested-size hosts 211\n"
                                   "check-files hosts yes\n"
                                   "persistent hosts no\n";
        char text[sizeof(head) + 32];
        struct stat st;
        int r;

        snprintf(text, sizeof(text), "%sshared hosts %s\n", head, shared ? "yes" : "no");
        snprintf(conf, conf_len, "%s/nscd%s.conf", b->dir, shared ? "-shared" : "");
        r = bench_write_file(conf, text, strlen(text));
        if (r < 0)
                return r;
        /* A socket left by an earlier nscd would look like this one's. */
        if (unlink(NSCD_SOCKET) < 0 && errno != ENOENT)
                return -errno;
        if (unlink(NSCD_PID_FILE) < 0 && errno != ENOENT)
                return -errno;
        r = spawn_quiet((const char *const[]) { NSCD_BIN, "-F", "-f", conf, NULL }, &b->nscd_pid);
        if (r < 0)
                return r;
        for (int i = 0; i < 250; i++) {
                int status;

                if (stat(NSCD_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
                        return 0;
                if (waitpid(b->nscd_pid, &status, WNOHANG) == b->nscd_pid) {
                        b->nscd_pid = -1;
                        return -ECHILD;
                }
                usleep(20000);
        }
        return -ETIMEDOUT;
}

static int write_daemon_config(Bench *b, const char *name, const char *text, char *path, size_t len) {
        snprintf(path, len, "%s/%s", b->dir, name);
        return bench_write_file(path, text, strlen(text));
}

/* ---- (1a), (2) round trips ----------------------------------------------------------------- */

static int case_latency(Bench *b, const char *placement) {
        _cleanup_(netutil_client_closep) netutil_client *lib = NULL;
        RawConn *raw = NULL, *echo = NULL;
        double us[4][BENCH_ROUNDS];
        int r;

        /* 0: library AF_INET, 1: raw protocol to the daemon, 2: echo raw, 3: library AF_UNSPEC */
        if ((r = lib_open_daemon(b->main_d.socket, &lib)) < 0 || (r = raw_open(b, b->main_d.socket, &raw)) < 0 ||
            (r = raw_open(b, b->echo.socket, &echo)) < 0)
                goto finish;
        if ((r = lib_resolves(lib, HIT_NAME, AF_INET, LAT_WARMUP)) < 0 ||
            (r = lib_resolves(lib, HIT_NAME, AF_UNSPEC, LAT_WARMUP)) < 0 || (r = raw_roundtrips(raw, LAT_WARMUP)) < 0 ||
            (r = raw_roundtrips(echo, LAT_WARMUP)) < 0)
                goto finish;
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[4] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 4; k++) {
                                unsigned i = (round + slice + k) % 4;
                                uint64_t t0;

                                drain_all(b);
                                t0 = bench_now_nsec();
                                if (i == 0)
                                        r = lib_resolves(lib, HIT_NAME, AF_INET, LAT_ITERS / BENCH_SLICES);
                                else if (i == 1)
                                        r = raw_roundtrips(raw, LAT_ITERS / BENCH_SLICES);
                                else if (i == 2)
                                        r = raw_roundtrips(echo, LAT_ITERS / BENCH_SLICES);
                                else
                                        r = lib_resolves(lib, HIT_NAME, AF_UNSPEC, LAT_ITERS / BENCH_SLICES);
                                if (r < 0)
                                        goto finish;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                        }
                for (unsigned i = 0; i < 4; i++)
                        us[i][round] = sec[i] * 1e6 / (LAT_ITERS / BENCH_SLICES * BENCH_SLICES);
        }
        bench_add_row("(1a) hit through the daemon: netutil_resolve()", placement, "echo", BENCH_UNIT_USEC,
                      us[0], us[2], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 1.5);
        bench_add_row("(1a) hit through the daemon: raw protocol", placement, "echo", BENCH_UNIT_USEC, us[1],
                      us[2], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        bench_add_row("(2) AF_UNSPEC vs AF_INET, through the daemon", placement, "AF_INET", BENCH_UNIT_USEC,
                      us[3], us[0], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 1.25);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (1a) %s: %s\n", placement, strerror(-r));
        raw_free(raw);
        raw_free(echo);
        return r;
}

/* ---- (1d) the rules file ------------------------------------------------------------------ */

/* The requests the main daemon has served since it started (STATUS), or -errno. */
static int64_t daemon_requests(const Bench *b) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        netutil_status *st = NULL;
        int64_t n;
        int r;

        if ((r = lib_open_daemon(b->main_d.socket, &c)) < 0 ||
            (r = netutil_status_get(c, LIB_TIMEOUT_USEC, &st)) < 0)
                return r;
        n = (int64_t) st->requests;
        netutil_status_free(st);
        return n;
}

/* After a measurement with rules-file hits: the daemon must have served no more requests
 * than the daemon-path contender sent (expected) and our STATUS calls (REQUESTS_SLACK), or
 * the rules-file contender asked it. Fails the run, loudly. */
static int check_requests(const Bench *b, const char *what, int64_t before, uint64_t expected) {
        int64_t after = daemon_requests(b), extra;

        if (before < 0 || after < 0) {
                fprintf(stderr, "bench: %s: STATUS: %s\n", what, strerror((int) -(before < 0 ? before : after)));
                return before < 0 ? (int) before : (int) after;
        }
        extra = after - before - (int64_t) expected;
        if (extra > REQUESTS_SLACK) {
                fprintf(stderr,
                        "bench: FATAL: %s: the daemon served %" PRId64 " requests more than the daemon-path calls "
                        "sent: the rules-file client asked it\n",
                        what, extra);
                return -EPROTO;
        }
        if (getenv("BENCH_VERBOSE"))
                fprintf(stderr, "bench: %s: the daemon served %" PRId64 " requests, %" PRIu64 " of them "
                        "expected\n", what, after - before, expected);
        return 0;
}

/* Whether a is the IPv4 address ip with port. */
static bool address_is(const netutil_address *a, const char *ip, unsigned port) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) &a->address;
        struct in_addr want;

        return a->family == AF_INET && inet_pton(AF_INET, ip, &want) == 1 && sin->sin_family == AF_INET &&
               sin->sin_addr.s_addr == want.s_addr && ntohs(sin->sin_port) == port;
}

/* The state letter of pid (field 3 of /proc/PID/stat), or -errno. */
static int task_state(pid_t pid) {
        char buf[512], *p;
        int r = bench_task_stat(pid, buf, sizeof(buf), &p);

        return r < 0 ? r : p[0];
}

/* Proves that a client opened as the rules-file rows open theirs answers FILE_HIT_NAME
 * without the daemon: with the main daemon SIGSTOPped, its resolve must give FILE_HIT_TARGET
 * and a daemon-path client's must fail (which shows the stop took). Any other outcome: the
 * rules-file rows would measure the daemon, so the run fails, loudly. */
static int check_local_path(Bench *b, const char *when) {
        _cleanup_(netutil_client_closep) netutil_client *file = NULL, *daemon = NULL;
        netutil_address *a = NULL;
        int r, r_daemon = 0, state = 0;

        /* Both connect before the stop, so that only the resolves meet the stopped daemon. */
        if ((r = netutil_client_open(b->main_d.socket, &file)) < 0 ||
            (r = lib_open_daemon(b->main_d.socket, &daemon)) < 0)
                return r;
        if (kill(b->main_d.pid, SIGSTOP) < 0)
                return -errno;
        for (int i = 0; i < STOP_WAIT_MS && (state = task_state(b->main_d.pid)) != 'T'; i++)
                usleep(1000);
        if (state == 'T') {
                r = netutil_resolve(file, FILE_HIT_NAME, 80, AF_INET, "", STOPPED_TIMEOUT_USEC, &a);
                if (r == 1 && !address_is(a, FILE_HIT_TARGET, 80))
                        r = -EBADMSG;
                free(a);
                a = NULL;
                r_daemon = netutil_resolve(daemon, FILE_HIT_NAME, 80, AF_INET, "", STOPPED_TIMEOUT_USEC, &a);
                free(a);
        }
        if (kill(b->main_d.pid, SIGCONT) < 0)
                return -errno;
        if (state != 'T') {
                fprintf(stderr, "bench: FATAL (%s): the daemon (pid %d) did not stop after SIGSTOP (state %c)\n",
                        when, (int) b->main_d.pid, state > 0 ? state : '?');
                return -ETIMEDOUT;
        }
        if (r != 1) {
                fprintf(stderr,
                        "bench: FATAL (%s): netutil_resolve(%s) did not answer from the rules file %s.rules while "
                        "the daemon was stopped (%s): the rules-file rows would measure the daemon\n",
                        when, FILE_HIT_NAME, b->main_d.socket, r < 0 ? strerror(-r) : "wrong answer");
                return -EPROTO;
        }
        if (r_daemon >= 0) {
                fprintf(stderr,
                        "bench: FATAL (%s): the stopped daemon answered a resolve: the check proves nothing\n",
                        when);
                return -EPROTO;
        }
        fprintf(stderr, "bench: %s: daemon stopped: rules file answered %s -> %s, the daemon's path failed (%s)\n",
                when, FILE_HIT_NAME, FILE_HIT_TARGET, strerror(-r_daemon));
        return 0;
}

/* The same rule, FILE_HIT_NAME, from the rules file and through the daemon. */
static int case_rules_file(Bench *b, const char *placement) {
        _cleanup_(netutil_client_closep) netutil_client *file = NULL, *daemon = NULL;
        const unsigned iters[2] = { FILE_ITERS / BENCH_SLICES, LAT_ITERS / BENCH_SLICES };
        double us[2][BENCH_ROUNDS];
        int64_t requests;
        int r;

        /* 0: from the rules file, 1: through the daemon */
        if ((r = netutil_client_open(b->main_d.socket, &file)) < 0 ||
            (r = lib_open_daemon(b->main_d.socket, &daemon)) < 0 ||
            (r = lib_resolves(file, FILE_HIT_NAME, AF_INET, FILE_WARMUP)) < 0 ||
            (r = lib_resolves(daemon, FILE_HIT_NAME, AF_INET, LAT_WARMUP)) < 0)
                goto finish;
        requests = daemon_requests(b);
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[2] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 2; k++) {
                                unsigned i = (round + slice + k) % 2;
                                uint64_t t0;

                                drain_all(b);
                                t0 = bench_now_nsec();
                                r = lib_resolves(i == 0 ? file : daemon, FILE_HIT_NAME, AF_INET, iters[i]);
                                if (r < 0)
                                        goto finish;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                        }
                for (unsigned i = 0; i < 2; i++)
                        us[i][round] = sec[i] * 1e6 / (iters[i] * BENCH_SLICES);
        }
        if ((r = check_requests(b, "(1d)", requests, (uint64_t) iters[1] * BENCH_SLICES * BENCH_ROUNDS)) < 0)
                goto finish;
        bench_add_row("(1d) hit: from the rules file vs the daemon", placement, "through daemon", BENCH_UNIT_USEC,
                      us[0], us[1], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (1d) %s: %s\n", placement, strerror(-r));
        return r;
}

/* ---- (1b) pipelined ----------------------------------------------------------------------- */

static int case_pipelined(Bench *b, const char *placement) {
        netutil_client *lib = NULL;
        sd_event *e = NULL;
        RawConn *raw = NULL, *echo = NULL;
        double rps[3][BENCH_ROUNDS], ignored;
        const unsigned per_slice = PIPE_ITERS / BENCH_SLICES;
        int r;

        if ((r = raw_open(b, b->main_d.socket, &raw)) < 0 || (r = raw_open(b, b->echo.socket, &echo)) < 0 ||
            (r = lib_open_async(b->main_d.socket, &lib, &e)) < 0)
                goto finish;
        if ((r = raw_pipeline(raw, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = raw_pipeline(echo, PIPE_WARMUP, PIPE_DEPTH, &ignored)) < 0 ||
            (r = lib_pipeline(b, lib, e, HIT_NAME, PIPE_WARMUP, PIPE_DEPTH, &ignored, NULL)) < 0)
                goto finish;
        /* 0: library async, 1: raw to the daemon, 2: echo raw */
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 3; k++) {
                                unsigned i = (round + slice + k) % 3;
                                double s = 0;

                                drain_all(b);
                                if (i == 0)
                                        r = lib_pipeline(b, lib, e, HIT_NAME, per_slice, PIPE_DEPTH, &s, NULL);
                                else
                                        r = raw_pipeline(i == 1 ? raw : echo, per_slice, PIPE_DEPTH, &s);
                                if (r < 0)
                                        goto finish;
                                sec[i] += s;
                        }
                for (unsigned i = 0; i < 3; i++)
                        rps[i][round] = per_slice * BENCH_SLICES / sec[i];
        }
        bench_add_row("(1b) hit x64 through the daemon: library async", placement, "echo x64", BENCH_UNIT_RPS,
                      rps[0], rps[2], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST, 0.5);
        bench_add_row("(1b) hit x64 through the daemon: raw protocol", placement, "echo x64", BENCH_UNIT_RPS,
                      rps[1], rps[2], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (1b) %s: %s\n", placement, strerror(-r));
        raw_free(raw);
        raw_free(echo);
        netutil_client_close(lib);
        sd_event_unref(e);
        return r;
}

/* ---- (1c) 8 clients --------------------------------------------------------------------- */

typedef struct Worker {
        pthread_t thread;
        pthread_barrier_t *start;
        netutil_client *lib; /* either this */
        RawConn *raw;        /* or this */
        unsigned iters;
        uint64_t t0, t1;
        int error;
} Worker;

static void *worker_main(void *userdata) {
        Worker *w = userdata;

        pthread_barrier_wait(w->start);
        w->t0 = bench_now_nsec();
        w->error = w->lib ? lib_resolves(w->lib, HIT_NAME, AF_INET, w->iters) : raw_roundtrips(w->raw, w->iters);
        w->t1 = bench_now_nsec();
        return NULL;
}

/* One slice: every worker does iters round trips at once; adds first start to last end. */
static int crew_slice(Worker *w, unsigned n, unsigned iters, double *sec) {
        pthread_barrier_t start;
        uint64_t t0 = UINT64_MAX, t1 = 0;
        unsigned started = 0;
        int r = 0;

        pthread_barrier_init(&start, NULL, n);
        for (; started < n; started++) {
                w[started].start = &start;
                w[started].iters = iters;
                w[started].error = 0;
                r = -pthread_create(&w[started].thread, NULL, worker_main, &w[started]);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                /* The barrier would never open: this cannot be recovered from sanely. */
                fprintf(stderr, "bench: pthread_create: %s\n", strerror(-r));
                abort();
        }
        for (unsigned i = 0; i < n; i++) {
                pthread_join(w[i].thread, NULL);
                if (w[i].error < 0 && r == 0)
                        r = w[i].error;
                t0 = MIN(t0, w[i].t0);
                t1 = MAX(t1, w[i].t1);
        }
        pthread_barrier_destroy(&start);
        *sec += bench_seconds_since(t0, t1);
        return r;
}

static int case_clients(Bench *b, const char *placement) {
        Worker lib[N_CLIENTS] = { 0 }, echo[N_CLIENTS] = { 0 };
        const unsigned per_slice = MULTI_ITERS / BENCH_SLICES;
        double rps[2][BENCH_ROUNDS];
        int r = 0;

        for (unsigned i = 0; i < N_CLIENTS && r >= 0; i++) {
                r = lib_open_daemon(b->main_d.socket, &lib[i].lib);
                if (r >= 0)
                        r = raw_open(b, b->echo.socket, &echo[i].raw);
        }
        if (r < 0)
                goto finish;
        for (unsigned round = 0; round < BENCH_ROUNDS && r >= 0; round++) {
                double sec[2] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES && r >= 0; slice++)
                        for (unsigned k = 0; k < 2 && r >= 0; k++) {
                                unsigned g = (round + slice + k) % 2;

                                drain_all(b);
                                r = crew_slice(g == 0 ? lib : echo, N_CLIENTS, per_slice, &sec[g]);
                        }
                for (unsigned g = 0; g < 2; g++)
                        rps[g][round] = (double) N_CLIENTS * per_slice * BENCH_SLICES / sec[g];
        }
        if (r >= 0)
                bench_add_row("(1c) hit, 8 clients, through the daemon", placement, "echo, 8 cl.",
                              BENCH_UNIT_RPS, rps[0], rps[1], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST, 0.6);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (1c) %s: %s\n", placement, strerror(-r));
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                netutil_client_close(lib[i].lib);
                raw_free(echo[i].raw);
        }
        return r;
}

/* ---- (3) 100 000 overrides ------------------------------------------------------------------ */

/* Sets rules host-<i>.big.test -> 198.18.x.y for i in [from, to), with a TTL (not saved). */
static int add_overrides(const char *socket, unsigned from, unsigned to) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        int r = netutil_client_open(socket, &c);

        for (unsigned i = from; i < to && r >= 0; i++) {
                char host[64], target[32];

                snprintf(host, sizeof(host), "host-%u.big.test", i);
                snprintf(target, sizeof(target), "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
                r = netutil_override_set(c, NULL, host, -1, -1, target, -1, OVERRIDE_TTL_USEC, LIB_TIMEOUT_USEC);
        }
        return r;
}

static int set_hit(const char *socket) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        int r = netutil_client_open(socket, &c);

        if (r >= 0)
                r = netutil_override_set(c, NULL, HIT_NAME, -1, -1, HIT_TARGET, -1, OVERRIDE_TTL_USEC,
                                         LIB_TIMEOUT_USEC);
        return r;
}

/* FILE_HIT_NAME -> FILE_HIT_TARGET without a TTL: the rules file carries its answer. (The
 * daemon saves it to its state file, once.) */
static int set_file_hit(const char *socket) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        int r = netutil_client_open(socket, &c);

        if (r >= 0)
                r = netutil_override_set(c, NULL, FILE_HIT_NAME, -1, -1, FILE_HIT_TARGET, -1, 0, LIB_TIMEOUT_USEC);
        return r;
}

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

/* Fills the big daemon and reports the memory it took. */
static int case_big_fill(Bench *b) {
        long rss0, rss1, anon0, anon1;
        double added, anon, budget = 32 * 1024, zero = 0, chunk_us[10] = { 0 };
        uint64_t t0;
        int r;

        rss0 = test_rss_kib(b->big_d.pid);
        anon0 = rss_anon_kib(b->big_d.pid);
        t0 = bench_now_nsec();
        /* In ten chunks, to show whether setting a rule gets slower as the table grows. */
        r = 0;
        for (unsigned k = 0; k < 10 && r >= 0; k++) {
                uint64_t t = bench_now_nsec();

                r = add_overrides(b->big_d.socket, k * (N_BIG / 10), MIN((k + 1) * (N_BIG / 10), N_BIG - 1));
                bench_drain_notify(&b->big_d);
                chunk_us[k] = bench_seconds_since(t, bench_now_nsec()) * 1e6 / (N_BIG / 10);
        }
        if (r >= 0)
                r = set_hit(b->big_d.socket);
        if (r < 0) {
                fprintf(stderr, "bench: (3) adding %u overrides: %s\n", N_BIG, strerror(-r));
                return r;
        }
        fprintf(stderr, "bench: (3) %u overrides set in %.1f s (%.1f us each, blocking, with TTL)\n", N_BIG,
                bench_seconds_since(t0, bench_now_nsec()), bench_seconds_since(t0, bench_now_nsec()) * 1e6 / N_BIG);
        fprintf(stderr, "bench: (3) us per rule set, by tenth of the table:");
        for (unsigned k = 0; k < 10; k++)
                fprintf(stderr, " %.0f", chunk_us[k]);
        fputc('\n', stderr);
        rss1 = test_rss_kib(b->big_d.pid);
        anon1 = rss_anon_kib(b->big_d.pid);
        if (rss0 < 0 || rss1 < 0 || anon0 < 0 || anon1 < 0)
                return -EIO;
        added = (double) (rss1 - rss0);
        anon = (double) (anon1 - anon0);
        bench_add_row("(3) RSS added by 100 000 overrides", "-", "budget 32 MiB", BENCH_UNIT_KIB, &added,
                      &budget, 1, BENCH_GOAL_AT_MOST, 1.0);
        bench_add_row("(3) RssAnon added by 100 000 overrides", "-", "(none)", BENCH_UNIT_KIB, &anon, &zero,
                      1, BENCH_GOAL_INFO, 0);
        return 0;
}

static int case_big_lookup(Bench *b, const char *placement) {
        _cleanup_(netutil_client_closep) netutil_client *small = NULL, *big = NULL;
        double us[2][BENCH_ROUNDS];
        int r;

        if ((r = lib_open_daemon(b->main_d.socket, &small)) < 0 ||
            (r = lib_open_daemon(b->big_d.socket, &big)) < 0 ||
            (r = lib_resolves(small, HIT_NAME, AF_INET, LAT_WARMUP)) < 0 ||
            (r = lib_resolves(big, HIT_NAME, AF_INET, LAT_WARMUP)) < 0)
                goto finish;
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[2] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 2; k++) {
                                unsigned i = (round + slice + k) % 2;
                                uint64_t t0;

                                drain_all(b);
                                t0 = bench_now_nsec();
                                r = lib_resolves(i == 0 ? big : small, HIT_NAME, AF_INET, LAT_ITERS / BENCH_SLICES);
                                if (r < 0)
                                        goto finish;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                        }
                for (unsigned i = 0; i < 2; i++)
                        us[i][round] = sec[i] * 1e6 / (LAT_ITERS / BENCH_SLICES * BENCH_SLICES);
        }
        bench_add_row("(3) 100 000 rules vs 10, through the daemon", placement, "10 rules", BENCH_UNIT_USEC,
                      us[0], us[1], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 1.2);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (3) %s: %s\n", placement, strerror(-r));
        return r;
}

/* ---- (4) nscd ----------------------------------------------------------------------------- */

static int gai_many(const char *host, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                int r = gai_once(host);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* (4a), (4b): our hit from the rules file and through the daemon against nscd's socket
 * path (this process never maps nscd's database: see (4c)). */
static int case_nscd(Bench *b, const char *placement) {
        _cleanup_(netutil_client_closep) netutil_client *file = NULL, *daemon = NULL;
        const unsigned iters[3] = { FILE_ITERS / BENCH_SLICES, LAT_ITERS / BENCH_SLICES,
                                    LAT_ITERS / BENCH_SLICES };
        double us[3][BENCH_ROUNDS];
        int64_t requests;
        int r;

        /* 0: FILE_HIT_NAME from the rules file, 1: HIT_NAME through the daemon, 2: nscd */
        if ((r = netutil_client_open(b->main_d.socket, &file)) < 0 ||
            (r = lib_open_daemon(b->main_d.socket, &daemon)) < 0 ||
            (r = lib_resolves(file, FILE_HIT_NAME, AF_INET, FILE_WARMUP)) < 0 ||
            (r = lib_resolves(daemon, HIT_NAME, AF_INET, LAT_WARMUP)) < 0 ||
            (r = gai_many(NSCD_NAME, LAT_WARMUP)) < 0)
                goto finish;
        requests = daemon_requests(b);
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[3] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 3; k++) {
                                unsigned i = (round + slice + k) % 3;
                                uint64_t t0;

                                drain_all(b);
                                t0 = bench_now_nsec();
                                if (i == 0)
                                        r = lib_resolves(file, FILE_HIT_NAME, AF_INET, iters[i]);
                                else if (i == 1)
                                        r = lib_resolves(daemon, HIT_NAME, AF_INET, iters[i]);
                                else
                                        r = gai_many(NSCD_NAME, iters[i]);
                                if (r < 0)
                                        goto finish;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                        }
                for (unsigned i = 0; i < 3; i++)
                        us[i][round] = sec[i] * 1e6 / (iters[i] * BENCH_SLICES);
        }
        if ((r = check_requests(b, "(4a)", requests, (uint64_t) iters[1] * BENCH_SLICES * BENCH_ROUNDS)) < 0)
                goto finish;
        bench_add_row("(4a) hit from the rules file vs nscd", placement, "nscd, socket", BENCH_UNIT_USEC, us[0],
                      us[2], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 0.5);
        bench_add_row("(4b) hit through the daemon vs nscd", placement, "nscd, socket", BENCH_UNIT_USEC, us[1],
                      us[2], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 0.5);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (4) %s: %s\n", placement, strerror(-r));
        return r;
}

/* A counter of the hosts cache as nscd -g reports it ("cache hits on positive entries"), or
 * -1. */
static long nscd_stat(const char *conf, const char *what) {
        static char out[65536], err[4096];
        const char *argv[] = { NSCD_BIN, "-f", conf, "-g", NULL };
        char *p;
        long v = -1;

        if (test_run(argv, out, sizeof(out), err, sizeof(err)) != 0)
                return -1;
        p = strstr(out, "hosts cache:");
        if (p)
                p = strstr(p, what);
        if (p) {
                while (p > out && p[-1] != '\n')
                        p--;
                v = strtol(p, NULL, 10);
        }
        return v;
}

/* The lookups nscd answered over its socket (hits and misses on positive entries), or -1. */
static long nscd_asked(const char *conf) {
        long hits = nscd_stat(conf, "cache hits on positive entries"),
             misses = nscd_stat(conf, "cache misses on positive entries");

        return hits < 0 || misses < 0 ? -1 : hits + misses;
}

/* ---- (4c) nscd's shared mapping, in fresh processes -------------------------------------- */

/* Written by --gai-probe between its first getaddrinfo() and the next ones, to an fd that
 * cannot be open, so that only strace sees it. */
#define PROBE_MARK "bench-resolve-gai-probe-mark"
#define PROBE_AFTER 3u /* getaddrinfo() calls after the mark */

/* --gai-probe: getaddrinfo(NSCD_NAME) once (glibc asks nscd for its database's fd), the
 * mark, then PROBE_AFTER more, which must come from the mapping. */
static int gai_probe(void) {
        int r = gai_once(NSCD_NAME);

        if (r < 0)
                return r;
        if (write(-1, PROBE_MARK, strlen(PROBE_MARK)) >= 0)
                return -EIO;
        return gai_many(NSCD_NAME, PROBE_AFTER);
}

/* getaddrinfo(host, AF_INET) once: 0 if its first answer is ip. */
static int gai_expect(const char *host, const char *ip) {
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
        struct in_addr want;
        int r;

        if (inet_pton(AF_INET, ip, &want) != 1)
                return -EINVAL;
        if (getaddrinfo(host, "80", &hints, &res) != 0)
                return -EADDRNOTAVAIL;
        r = res->ai_family == AF_INET && ((struct sockaddr_in *) res->ai_addr)->sin_addr.s_addr == want.s_addr
                    ? 0
                    : -EBADMSG;
        freeaddrinfo(res);
        return r;
}

/* --nscd-shared-rounds SOCKET DIR: (4c)'s measurement in a process that never failed to reach
 * nscd (glibc would never try its mapping again): our hit from the rules file against
 * getaddrinfo() from nscd's mapping, FILE_ITERS each per round; prints each round's two
 * figures (us) on a line. Its own /etc/hosts (in a mount namespace of its own) lacks
 * NSCD_NAME and dnsmasq answers it with another address, so NSCD_TARGET can only come from
 * nscd, which keeps the answer it cached from the hosts file outside. */
static int nscd_shared_rounds(const char *socket, const char *dir) {
        _cleanup_(netutil_client_closep) netutil_client *file = NULL;
        const unsigned iters = FILE_ITERS / BENCH_SLICES;
        double us[2][BENCH_ROUNDS];
        int r;

        /* The hosts file mounted over /etc/hosts is unlinked, and nothing can be mounted on an
         * unlinked file: it goes first (in this process's mount namespace only). */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            umount2("/etc/hosts", MNT_DETACH) < 0)
                return -errno;
        if ((r = bench_mount_text_over(dir, "/etc/hosts", "127.0.0.1 localhost\n")) < 0) {
                fprintf(stderr, "bench: (4c) hiding %s from /etc/hosts: %s\n", NSCD_NAME, strerror(-r));
                return r;
        }
        if ((r = gai_expect(NSCD_NAME, NSCD_TARGET)) < 0) {
                fprintf(stderr, "bench: (4c) getaddrinfo(%s) did not give nscd's %s: %s\n", NSCD_NAME, NSCD_TARGET,
                        strerror(-r));
                return r;
        }
        if ((r = netutil_client_open(socket, &file)) < 0 ||
            (r = lib_resolves(file, FILE_HIT_NAME, AF_INET, FILE_WARMUP)) < 0 ||
            (r = gai_many(NSCD_NAME, FILE_WARMUP - 1)) < 0)
                return r;
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                double sec[2] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES; slice++)
                        for (unsigned k = 0; k < 2; k++) {
                                unsigned i = (round + slice + k) % 2;
                                uint64_t t0 = bench_now_nsec();

                                r = i == 0 ? lib_resolves(file, FILE_HIT_NAME, AF_INET, iters)
                                           : gai_many(NSCD_NAME, iters);
                                if (r < 0)
                                        return r;
                                sec[i] += bench_seconds_since(t0, bench_now_nsec());
                        }
                for (unsigned i = 0; i < 2; i++)
                        us[i][round] = sec[i] * 1e6 / (iters * BENCH_SLICES);
        }
        if ((r = gai_expect(NSCD_NAME, NSCD_TARGET)) < 0)
                return r;
        for (unsigned round = 0; round < BENCH_ROUNDS; round++)
                printf("%.6f %.6f\n", us[0][round], us[1][round]);
        return fflush(stdout) == 0 ? 0 : -errno;
}

/* The getaddrinfo() calls one --nscd-shared-rounds process makes. */
#define SHARED_LOOKUPS (FILE_WARMUP + 1 + (FILE_ITERS / BENCH_SLICES) * BENCH_SLICES * BENCH_ROUNDS)

/* Runs --gai-probe under strace and checks that glibc used nscd's mapping: before the mark a
 * connect() to nscd's socket and a file descriptor received (the database), after it no
 * connect() at all. Fails the run, loudly, otherwise. */
static int check_nscd_mapping(Bench *b) {
        static char out[4096], err[4096], trace[65536];
        char strace[300], path[300];
        const char *mark, *after;
        _cleanup_(closep) int fd = -EBADF;
        size_t used = 0;
        ssize_t n;
        int r;

        if ((r = bench_find_program(STRACE_BIN, strace, sizeof(strace))) < 0) {
                fprintf(stderr, "bench: FATAL: (4c) needs strace to show that glibc maps nscd's database\n");
                return r;
        }
        snprintf(path, sizeof(path), "%s/gai-probe.strace", b->dir);
        r = test_run((const char *const[]) { strace, "-f", "-qq", "-e", "trace=connect,recvmsg,write", "-o", path,
                                             b->exe, "--gai-probe", NULL },
                     out, sizeof(out), err, sizeof(err));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        (void) unlink(path);
        if (r != 0 || fd < 0) {
                fprintf(stderr, "bench: FATAL: (4c) strace of the getaddrinfo() probe failed (%d): %s\n", r, err);
                return -EIO;
        }
        while (used < sizeof(trace) - 1 && (n = read(fd, trace + used, sizeof(trace) - 1 - used)) > 0)
                used += (size_t) n;
        trace[used] = '\0';
        mark = strstr(trace, PROBE_MARK);
        after = mark ? strstr(mark, "connect(") : NULL;
        if (!mark || !strstr(trace, "nscd/socket") || !strstr(trace, "SCM_RIGHTS") || after ||
            (strstr(trace, "nscd/socket") > mark)) {
                fprintf(stderr,
                        "bench: FATAL: (4c) glibc did not use nscd's mapping (expected: connect() to its socket "
                        "and an fd received, then no connect()); strace:\n%s\n",
                        trace);
                return -EPROTO;
        }
        fprintf(stderr, "bench: (4c) strace: the first getaddrinfo() fetched nscd's database fd, the next %u made "
                        "no connect()\n", PROBE_AFTER);
        return 0;
}

/* (4c) in one placement, in a fresh process. */
static int case_nscd_shared(Bench *b, const char *placement) {
        static char out[4096], err[4096];
        double us[2][BENCH_ROUNDS];
        const char *p = out;
        int r;

        r = test_run((const char *const[]) { b->exe, "--nscd-shared-rounds", b->main_d.socket, b->dir, NULL },
                     out, sizeof(out), err, sizeof(err));
        if (r != 0) {
                fprintf(stderr, "bench: (4c) %s: the measuring process failed (%d): %s\n", placement, r, err);
                return -ECHILD;
        }
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                int len = 0;

                if (sscanf(p, "%lf %lf\n%n", &us[0][round], &us[1][round], &len) != 2 || len <= 0) {
                        fprintf(stderr, "bench: (4c) %s: unexpected output: %s\n", placement, out);
                        return -EBADMSG;
                }
                p += len;
        }
        bench_add_row("(4c) hit from the rules file vs nscd mapped", placement, "nscd, shared map",
                      BENCH_UNIT_USEC, us[0], us[1], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        return 0;
}

/* (4c): nscd again, with shared yes, in every placement; proves first that glibc maps its
 * database, afterwards that nscd was asked (almost) none of the measured lookups and that the
 * daemon was asked none. */
static int run_nscd_shared(Bench *b) {
        char conf[300] = "";
        long asked0, asked1;
        int64_t requests;
        unsigned runs = 0;
        int r;

        r = nscd_start(b, true, conf, sizeof(conf));
        if (r < 0) {
                fprintf(stderr, "bench: nscd (shared yes) did not start: %s\n", strerror(-r));
                goto finish;
        }
        /* Over the socket (this process has no mapping): nscd caches the name. */
        if ((r = gai_once(NSCD_NAME)) < 0 || (r = check_nscd_mapping(b)) < 0)
                goto finish;
        asked0 = nscd_asked(conf);
        requests = daemon_requests(b);
        for (BenchPlacement p = BENCH_PLACE_SAME_CPU; p <= BENCH_PLACE_CROSS_CPU && r >= 0; p++) {
                if (p == BENCH_PLACE_CROSS_CPU && b->cpu[1] < 0)
                        continue;
                if ((r = place(b, p)) >= 0 && (r = case_nscd_shared(b, bench_placement_label[p])) >= 0)
                        runs++;
        }
        if (r < 0 || (r = check_requests(b, "(4c)", requests, 0)) < 0)
                goto finish;
        asked1 = nscd_asked(conf);
        /* The first getaddrinfo() of each process may ask before it has the mapping. */
        if (asked0 < 0 || asked1 < 0 || asked1 - asked0 > (long) runs) {
                fprintf(stderr,
                        "bench: FATAL: (4c) nscd -g counts %ld lookups over its socket during the measurement "
                        "(of %u): glibc did not use the mapping\n",
                        asked0 >= 0 && asked1 >= 0 ? asked1 - asked0 : -1L, runs * SHARED_LOOKUPS);
                r = -EPROTO;
                goto finish;
        }
        printf("(4c) nscd shared: %u getaddrinfo() answered in the measuring processes, %ld of them over nscd's "
               "socket (nscd -g), none by netutild\n",
               runs * SHARED_LOOKUPS, asked1 - asked0);
finish:
        if (conf[0])
                (void) unlink(conf);
        return r;
}

/* ---- (5) misses ------------------------------------------------------------------------------ */

/* dnsperf for 1 s with depth in flight: its queries per second, and the lost ones. */
static int run_dnsperf(const char *file, unsigned depth, double *ret_qps, unsigned long *ret_lost) {
        static char out[4 << 20], err[4096]; /* it prints a line per timed-out query */
        char q[16];
        const char *p;
        int r;

        snprintf(q, sizeof(q), "%u", depth);
        r = test_run((const char *const[]) { DNSPERF_BIN, "-s", "127.0.0.1", "-p", "53", "-d", file, "-l", "1", "-q",
                                             q, "-t", "2", NULL },
                     out, sizeof(out), err, sizeof(err));
        if (r != 0) {
                fprintf(stderr, "bench: dnsperf exited with %d: %s\n", r, err);
                return -EIO;
        }
        p = strstr(out, "Queries per second:");
        if (!p || sscanf(p, "Queries per second: %lf", ret_qps) != 1) {
                fprintf(stderr, "bench: no \"Queries per second\" in dnsperf's output (%zu bytes)\n", strlen(out));
                return -EBADMSG;
        }
        p = strstr(out, "Queries lost:");
        *ret_lost = 0;
        if (p)
                (void) sscanf(p, "Queries lost: %lu", ret_lost);
        return 0;
}

static int case_misses(Bench *b, const char *dnsperf_file) {
        static const unsigned depths[] = { 1, 100, 1000 };
        static const unsigned totals[] = { 300, 3000, 6000 };
        static const char *const names_tp[] = {"(5) miss x1: threadpool vs cares",
                                               "(5) miss x100: threadpool vs cares",
                                               "(5) miss x1000: threadpool vs cares"};
        netutil_client *cl[2] = { NULL, NULL };
        sd_event *ev[2] = { NULL, NULL };
        unsigned long dnsperf_lost = 0;
        int r;

        /* 0: cares, 1: threadpool (the main daemon) */
        if ((r = lib_open_async(b->cares_d.socket, &cl[0], &ev[0])) < 0 ||
            (r = lib_open_async(b->main_d.socket, &cl[1], &ev[1])) < 0)
                goto finish;
        for (size_t d = 0; d < ELEMENTSOF(depths); d++) {
                double rps[3][BENCH_ROUNDS], ignored;
                bool with_dnsperf = depths[d] == 1000;
                unsigned n = with_dnsperf ? 3 : 2;

                for (unsigned i = 0; i < 2; i++) {
                        unsigned failed = 0;

                        r = lib_pipeline(b, cl[i], ev[i], NULL, totals[d] / 10, depths[d], &ignored, &failed);
                        if (r < 0)
                                goto finish;
                }
                for (unsigned round = 0; round < BENCH_ROUNDS; round++)
                        for (unsigned k = 0; k < n; k++) {
                                unsigned i = (round + k) % n, failed = 0;
                                double s = 0;

                                drain_all(b);
                                if (i == 2) {
                                        unsigned long lost = 0;

                                        r = run_dnsperf(dnsperf_file, depths[d], &rps[2][round], &lost);
                                        dnsperf_lost += lost;
                                        if (r < 0)
                                                goto finish;
                                        continue;
                                }
                                r = lib_pipeline(b, cl[i], ev[i], NULL, totals[d], depths[d], &s, &failed);
                                if (r < 0)
                                        goto finish;
                                if (failed > 0 && getenv("BENCH_VERBOSE"))
                                        fprintf(stderr, "bench: (5) x%u round %u, %s: %u of %u failed in %.3f s\n",
                                                depths[d], round, i == 0 ? "cares" : "threadpool", failed,
                                                totals[d], s);
                                b->miss_failures += failed;
                                rps[i][round] = totals[d] / s;
                        }
                if (with_dnsperf)
                        bench_add_row("(5) miss x1000: cares vs dnsperf", "unpinned", "dnsperf -q1000",
                                      BENCH_UNIT_RPS, rps[0], rps[2], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST, 0.5);
                bench_add_row(names_tp[d], "unpinned", "cares", BENCH_UNIT_RPS, rps[1], rps[0], BENCH_ROUNDS,
                              BENCH_GOAL_INFO, 0);
        }
        printf("(5) failed resolves of misses (both backends, every depth): %u (target 0: %s); dnsperf lost %lu "
               "queries\n",
               b->miss_failures, b->miss_failures == 0 ? "PASS" : "MISS", dnsperf_lost);
finish:
        if (r < 0)
                fprintf(stderr, "bench: (5): %s\n", strerror(-r));
        for (unsigned i = 0; i < 2; i++) {
                netutil_client_close(cl[i]);
                sd_event_unref(ev[i]);
        }
        return r;
}

static int write_dnsperf_file(Bench *b, char *path, size_t len) {
        _cleanup_(freep) char *text = NULL;
        size_t used = 0, cap = 200000u * 32u;

        snprintf(path, len, "%s/dnsperf-queries", b->dir);
        text = malloc(cap);
        if (!text)
                return -ENOMEM;
        for (unsigned i = 0; i < 200000u; i++)
                used += (size_t) snprintf(text + used, cap - used, "d-%u.bench.test A\n", i);
        return bench_write_file(path, text, used);
}

/* ---- main --------------------------------------------------------------------------------- */

static int start_daemon(Bench *b, TestDaemon *d, bool *started, const char *conf_name, const char *conf_text) {
        char conf[300];
        int r;

        if (conf_text) {
                r = write_daemon_config(b, conf_name, conf_text, conf, sizeof(conf));
                if (r < 0)
                        return r;
        }
        r = test_daemon_start(d, conf_text ? (const char *const[]) { "--config", conf, NULL } : NULL);
        if (conf_text)
                (void) unlink(conf);
        if (r < 0)
                return r;
        *started = true;
        return 0;
}

static int run(Bench *b) {
        char dnsperf_file[300] = "", nscd_conf[300] = "";
        uint64_t t0 = bench_now_nsec();
        long hits0 = -1, hits1 = -1;
        int r;

        /* Every client opened here uses the rules file unless lib_open_daemon() opens it. */
        (void) unsetenv("NETUTIL_RULES_FILE");
        if (access(test_netutild_bin(), X_OK) < 0) {
                fprintf(stderr, "bench: cannot run the daemon %s (set NETUTILD_BIN): %m\n", test_netutild_bin());
                return -errno;
        }
        if ((r = enter_namespaces(b)) < 0) {
                fprintf(stderr, "bench: namespaces and /etc (run as root): %s\n", strerror(-r));
                return r;
        }
        if ((r = dnsmasq_start(b)) < 0) {
                fprintf(stderr, "bench: dnsmasq did not start: %s\n", strerror(-r));
                return r;
        }
        if ((r = start_daemon(b, &b->main_d, &b->main_started, NULL, NULL)) < 0 ||
            (r = start_daemon(b, &b->big_d, &b->big_started, NULL, NULL)) < 0 ||
            (r = start_daemon(b, &b->cares_d, &b->cares_started, "cares.conf", "[Daemon]\nResolver=cares\n")) < 0) {
                fprintf(stderr, "bench: a daemon (%s) did not start: %s\n", test_netutild_bin(), strerror(-r));
                return r;
        }
        /* The main daemon's table: the two hits and 8 others (10 rules). */
        if ((r = set_hit(b->main_d.socket)) < 0 || (r = set_file_hit(b->main_d.socket)) < 0 ||
            (r = add_overrides(b->main_d.socket, 0, N_SMALL - 2)) < 0) {
                fprintf(stderr, "bench: setting overrides: %s\n", strerror(-r));
                return r;
        }
        if ((r = capture(b)) < 0) {
                fprintf(stderr, "bench: capturing the RESOLVE exchange: %s\n", strerror(-r));
                return r;
        }
        if ((r = bench_echo_start(&b->echo, b->dir, "bench-resolve", b->reply, b->reply_size)) < 0) {
                fprintf(stderr, "bench: the echo server did not start: %s\n", strerror(-r));
                return r;
        }
        printf("netutild RESOLVE benchmark: override hit %s -> %s; request %zu bytes, reply %zu bytes (the echo\n"
               "server answers the same); %u rounds per measurement, the median shown; (1a) %u round trips per\n"
               "round, (1b) %u per round %u in flight, (1c) %u clients x %u; same-cpu = servers and clients on\n"
               "CPU %d, cross-cpu = servers on CPU %d, clients on CPU %d. (1)-(3) and (4b) go through the daemon\n"
               "(NETUTIL_RULES_FILE=0); (1d), (4a) and (4c) resolve %s -> %s (no TTL) from the rules\n"
               "file, %u times per round.\n",
               HIT_NAME, HIT_TARGET, b->request_size, b->reply_size, BENCH_ROUNDS, LAT_ITERS, PIPE_ITERS,
               PIPE_DEPTH, N_CLIENTS, MULTI_ITERS, b->cpu[0], b->cpu[1], b->cpu[0], FILE_HIT_NAME,
               FILE_HIT_TARGET, FILE_ITERS);

        /* The rules-file rows measure a local answer, or nothing. */
        if ((r = check_local_path(b, "before (1d)")) < 0)
                return r;

        /* (3) first fill: it needs no pinning and the lookups below want the table full. */
        fprintf(stderr, "bench: (3) filling the big table...\n");
        if ((r = case_big_fill(b)) < 0)
                return r;

        for (BenchPlacement p = BENCH_PLACE_SAME_CPU; p <= BENCH_PLACE_CROSS_CPU; p++) {
                const char *label = bench_placement_label[p];

                if (p == BENCH_PLACE_CROSS_CPU && b->cpu[1] < 0)
                        continue;
                if ((r = place(b, p)) < 0) {
                        fprintf(stderr, "bench: cannot set CPU affinity: %s\n", strerror(-r));
                        return r;
                }
                fprintf(stderr, "bench: %s: (1a, 2) round trips...\n", label);
                if ((r = case_latency(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (1b) pipelined...\n", label);
                if ((r = case_pipelined(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (1c) %u clients...\n", label, N_CLIENTS);
                if ((r = case_clients(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (1d) the rules file...\n", label);
                if ((r = case_rules_file(b, label)) < 0)
                        return r;
                fprintf(stderr, "bench: %s: (3) lookups in the big table...\n", label);
                if ((r = case_big_lookup(b, label)) < 0)
                        return r;
        }

        /* (5) before nscd runs: the threadpool's getaddrinfo() would otherwise go through it. */
        if ((r = place(b, BENCH_PLACE_UNPINNED)) < 0)
                return r;
        fprintf(stderr, "bench: (5) misses against dnsmasq...\n");
        if ((r = write_dnsperf_file(b, dnsperf_file, sizeof(dnsperf_file))) < 0 ||
            (r = case_misses(b, dnsperf_file)) < 0) {
                (void) unlink(dnsperf_file);
                return r;
        }
        (void) unlink(dnsperf_file);

        fprintf(stderr, "bench: (4a, 4b) nscd, shared no...\n");
        if ((r = check_local_path(b, "before (4)")) < 0)
                return r;
        r = nscd_start(b, false, nscd_conf, sizeof(nscd_conf));
        if (r < 0) {
                fprintf(stderr, "bench: nscd did not start: %s\n", strerror(-r));
                (void) unlink(nscd_conf);
                return r;
        }
        if (gai_once(NSCD_NAME) == 0)
                hits0 = nscd_stat(nscd_conf, "cache hits on positive entries");
        for (BenchPlacement p = BENCH_PLACE_SAME_CPU; p <= BENCH_PLACE_CROSS_CPU && r >= 0; p++) {
                if (p == BENCH_PLACE_CROSS_CPU && b->cpu[1] < 0)
                        continue;
                if ((r = place(b, p)) >= 0)
                        r = case_nscd(b, bench_placement_label[p]);
        }
        if (r >= 0) {
                hits1 = nscd_stat(nscd_conf, "cache hits on positive entries");
                printf("(4a, 4b) nscd's hosts cache: %ld positive hits over its socket during the measurement%s\n",
                       hits0 >= 0 && hits1 >= 0 ? hits1 - hits0 : -1L,
                       hits0 >= 0 && hits1 > hits0 ? "" : " (could not confirm nscd answered!)");
        }
        (void) unlink(nscd_conf);
        if (r < 0)
                return r;

        /* (4c): the first nscd goes (a second one would find its socket taken). */
        fprintf(stderr, "bench: (4c) nscd, shared yes...\n");
        if ((r = stop_child(&b->nscd_pid)) < 0) {
                fprintf(stderr, "bench: nscd (shared no) did not stop cleanly: %s\n", strerror(-r));
                return r;
        }
        if ((r = run_nscd_shared(b)) < 0)
                return r;
        fprintf(stderr, "bench: done in %.1f s\n", bench_seconds_since(t0, bench_now_nsec()));
        return 0;
}

static int stop_daemon(TestDaemon *d, bool *started, const char *what) {
        int status;

        if (!*started)
                return 0;
        *started = false;
        status = test_daemon_stop(d);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench: the %s daemon did not exit cleanly (wait status 0x%x)\n", what, status);
                return -ECHILD;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        BenchTally t = { 0 };
        int r, r2;

        if (argc == 4 && strcmp(argv[1], "--echo-server") == 0) {
                r = bench_echo_serve(atoi(argv[2]), argv[3], -1);
                fprintf(stderr, "bench: echo server: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (argc == 2 && strcmp(argv[1], "--gai-probe") == 0)
                return gai_probe() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (argc == 4 && strcmp(argv[1], "--nscd-shared-rounds") == 0) {
                r = nscd_shared_rounds(argv[2], argv[3]);
                if (r < 0)
                        fprintf(stderr, "bench: (4c) measuring process: %s\n", strerror(-r));
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (argc > 1) {
                fprintf(stderr, "Usage: %s\n(NETUTILD_BIN names the daemon binary; default ./netutild)\n", argv[0]);
                return EXIT_FAILURE;
        }
        bench_setup(&(const BenchTableStyle) {
                .name_width = 47, .baseline_width = 16, .rule_width = 129, .coloc = false, .round_decimals = 2 });
        {
                ssize_t n = readlink("/proc/self/exe", b->exe, sizeof(b->exe) - 1);

                if (n <= 0) {
                        fprintf(stderr, "bench: readlink /proc/self/exe: %m\n");
                        return EXIT_FAILURE;
                }
                b->exe[n] = '\0';
        }
        if (bench_get_cpus(&b->all_cpus, b->cpu) < 0)
                return EXIT_FAILURE;
        if (bench_make_temp_dir(b->dir, sizeof(b->dir)) < 0) {
                fprintf(stderr, "bench: mkdtemp: %m\n");
                return EXIT_FAILURE;
        }

        r = run(b);

        /* Everything we started goes, by its pid, whatever happened. */
        if ((r2 = stop_child(&b->nscd_pid)) < 0)
                fprintf(stderr, "bench: nscd did not stop cleanly: %s\n", strerror(-r2));
        if (r >= 0 && r2 < 0)
                r = r2;
        if ((r2 = bench_echo_stop(&b->echo)) < 0)
                fprintf(stderr, "bench: the echo server did not stop cleanly: %s\n", strerror(-r2));
        if (r >= 0 && r2 < 0)
                r = r2;
        r2 = stop_daemon(&b->main_d, &b->main_started, "main");
        if (r >= 0 && r2 < 0)
                r = r2;
        r2 = stop_daemon(&b->big_d, &b->big_started, "big-table");
        if (r >= 0 && r2 < 0)
                r = r2;
        r2 = stop_daemon(&b->cares_d, &b->cares_started, "cares");
        if (r >= 0 && r2 < 0)
                r = r2;
        if ((r2 = stop_child(&b->dnsmasq_pid)) < 0)
                fprintf(stderr, "bench: dnsmasq did not stop cleanly: %s\n", strerror(-r2));
        if (r >= 0 && r2 < 0)
                r = r2;
        if (b->nscd_mounted)
                (void) umount2(NSCD_DIR, MNT_DETACH);
        if (rmdir(b->dir) < 0) {
                fprintf(stderr, "bench: removing %s: %m\n", b->dir);
                if (r >= 0)
                        r = -errno;
        }
        if (r < 0) {
                fprintf(stderr, "bench: FAILED: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        bench_print_table(&t);
        printf("\nTargets: %u met, %u missed (the (5) failure count above is a target too).\n"
               "ratio: ours/baseline, only ever within one placement. spread: (max - min) / median of the\n"
               "rounds, ours/baseline. The 100 000 rules have a TTL: rules without one are written to the\n"
               "state file on every change. Timings never fail this program.\n",
               t.met, t.missed);
        return EXIT_SUCCESS;
}
