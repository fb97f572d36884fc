/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The harness the benchmarks (bench-status, bench-handover, bench-inprocess) share: the
 * method (BENCH_ROUNDS rounds, the median shown, each round cut into BENCH_SLICES slices in
 * which the contenders take turns), timing, CPU placement and co-location, the result table
 * (case, placement, ours, baseline, ratio, target, PASS/MISS/UNLIKE, spread, colocated),
 * children stopped by their pid, and the bare SOCK_SEQPACKET echo server that answers a
 * captured daemon reply. What a benchmark measures stays in its own file.
 */

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "netutil-proto.h"
#include "testlib.h"

#define BENCH_ROUNDS 7u            /* rounds per measurement; the median is reported */
#define BENCH_SLICES 5u            /* a round is cut in slices, and the contenders alternate by slice */
#define BENCH_IO_TIMEOUT_MS 5000   /* a reply (or whatever is awaited) that takes longer is an error */
#define BENCH_STOP_TIMEOUT_MS 5000 /* a child that takes longer to stop is killed */
#define BENCH_ECHO_READ_BATCH 16u  /* datagrams per connection per wake-up, as the daemon */
#define BENCH_COLOC_UNLIKE 0.25    /* co-location of ours and the baseline this far apart: UNLIKE */

/* ---- Time ---------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_nsec(void);
/* CLOCK_THREAD_CPUTIME_ID in nanoseconds: the calling thread's CPU time. */
uint64_t bench_thread_cpu_nsec(void);
/* t1 - t0 in seconds; 1 ns if t1 is not after t0 (never 0, as a divisor). */
double bench_seconds_since(uint64_t t0, uint64_t t1);
/* poll() for events on fd, up to timeout_ms: 0, -ETIMEDOUT or -errno; EINTR is retried. */
int bench_wait_fd(int fd, short events, int timeout_ms);

/* ---- The result table ------------------------------------------------------------------------ */

typedef enum BenchUnit {
        BENCH_UNIT_USEC, /* microseconds: lower is better */
        BENCH_UNIT_MSEC, /* milliseconds: lower is better */
        BENCH_UNIT_RPS,  /* per second: higher is better */
        BENCH_UNIT_KIB,  /* memory: lower is better */
} BenchUnit;

typedef enum BenchGoal {
        BENCH_GOAL_INFO,             /* no target: shown for understanding */
        BENCH_GOAL_AT_MOST,          /* ours/baseline <= target */
        BENCH_GOAL_AT_LEAST,         /* ours/baseline >= target */
        BENCH_GOAL_OVERHEAD_AT_MOST, /* ours - baseline <= target, in the row's unit */
} BenchGoal;

typedef struct BenchRow {
        const char *name;
        const char *placement;
        const char *baseline; /* what the baseline column is */
        BenchUnit unit;
        double ours, base;  /* medians of the rounds */
        double spread_ours; /* (max - min) / median of the rounds */
        double spread_base;
        BenchGoal goal;
        double target;
        /* How often the server was found on the client's CPU after a slice, 0..1, or -1 if
         * not sampled: tells whether the scheduler placed both alike. */
        double coloc_ours, coloc_base;
} BenchRow;

/* How a program's table looks: set once by bench_setup(). */
typedef struct BenchTableStyle {
        int name_width;     /* of the case column */
        int baseline_width; /* of the "(baseline is)" column */
        size_t rule_width;  /* dashes under the header */
        bool coloc;         /* with the colocated column (and so UNLIKE) */
        int round_decimals; /* of each round, as $BENCH_VERBOSE prints them */
} BenchTableStyle;

typedef struct BenchTally {
        unsigned met, missed, unlike;
} BenchTally;

/* Once at the start of main(): stdout line-buffered, $BENCH_VERBOSE read (every round of
 * every row on stderr), the table's style. */
void bench_setup(const BenchTableStyle *style);

/* The median and (max - min) / median of n values, n <= BENCH_ROUNDS (else 0). */
double bench_median(const double *v, size_t n);
double bench_spread(const double *v, size_t n);

/* Adds a row of the medians of n rounds of ours and base; NULL (and nothing shown) if the
 * table is full. */
BenchRow *bench_add_row(const char *name, const char *placement, const char *baseline, BenchUnit unit,
                        const double *ours, const double *base, size_t n, BenchGoal goal, double target);
/* Sets a row's co-location shares (w may be NULL). */
void bench_row_set_coloc(BenchRow *w, double ours, double base);
/* Prints the table on stdout and counts the targets into *t. */
void bench_print_table(BenchTally *t);

/* ---- CPUs and placement ----------------------------------------------------------------------- */

/* The CPUs we may run on, and the first two of them in cpu[] (-1 for none). Says why on
 * stderr if it fails: -errno. */
int bench_get_cpus(cpu_set_t *all, int cpu[2]);

/* In the order they run by default: unpinned first, as the processes start out. */
typedef enum BenchPlacement {
        BENCH_PLACE_UNPINNED,  /* wherever the scheduler puts it */
        BENCH_PLACE_SAME_CPU,  /* everything on the first CPU */
        BENCH_PLACE_CROSS_CPU, /* the servers on the second CPU, the clients on the first */
        _BENCH_PLACE_MAX,
} BenchPlacement;

/* "unpinned", "same-cpu", "cross-cpu". */
extern const char *const bench_placement_label[_BENCH_PLACE_MAX];

/* $BENCH_PLACEMENTS: the placements to run, comma-separated, in that order; all by default.
 * Says what it takes on stderr if it is wrong: -EINVAL. */
int bench_parse_placements(BenchPlacement ret[static _BENCH_PLACE_MAX], size_t *ret_n);
/* The CPUs of the servers and of the clients in placement p; false if p cannot be had (the
 * cross-cpu placement with one CPU). */
bool bench_placement_cpus(BenchPlacement p, const cpu_set_t *all, const int cpu[2], cpu_set_t *servers,
                          cpu_set_t *clients);
/* Sets the affinity of every thread of pid: 0 or -errno. */
int bench_pin_pid(pid_t pid, const cpu_set_t *set);
/* Reads /proc/PID/stat into buf (len bytes) and points *ret at its field 3 (the state), after
 * the command name, which may hold anything. 0 or -errno. */
int bench_task_stat(pid_t pid, char *buf, size_t len, char **ret);
/* The CPU that pid's main thread last ran on (field 39 of /proc/PID/stat), or -errno. */
int bench_task_cpu(pid_t pid);
/* Whether server last ran on the CPU we run on: 1 or 0. */
unsigned bench_colocated(pid_t server);

/* ---- Files, programs, children ------------------------------------------------------------------ */

/* Makes /tmp/netutil-bench.XXXXXX in dir (len >= 32): 0, or -errno with dir emptied. */
int bench_make_temp_dir(char *dir, size_t len);
/* Creates path (mode 0600, must not exist) with len bytes of data: 0 or -errno. */
int bench_write_file(const char *path, const void *data, size_t len);
/* Bind-mounts a file with text (written in dir, then removed) over target. Returns 0 or -errno. */
int bench_mount_text_over(const char *dir, const char *target, const char *text);
/* Enters new network and mount namespaces (mounts private, lo up) and forgets
 * $NETUTIL_SCOPE and $NETUTILD_SOCKET, so that nothing outside is touched or asked. Needs root. */
int bench_enter_namespaces(void);
/* name if it has a slash and is executable, else the first executable name in $PATH, into
 * buf: 0 or -errno. */
int bench_find_program(const char *name, char *buf, size_t len);
/* Waits up to timeout_ms for pid to exit (polling every 200 us); SIGKILL after that.
 * Returns 0 and its wait status (and its resource use if ret_usage), -ETIMEDOUT (killed) or
 * -errno. */
int bench_wait_pid(pid_t pid, int timeout_ms, int *ret_status, struct rusage *ret_usage);
/* Sends SIGTERM to *pid (if > 0) and waits as bench_wait_pid() up to
 * BENCH_STOP_TIMEOUT_MS; *pid becomes -1. Returns the wait status in *ret_status (0 if
 * there was none), 0 or -errno. */
int bench_stop_child(pid_t *pid, int *ret_status);

/* Reads what the daemon sent to its NOTIFY_SOCKET, as a service manager would: the daemon's
 * sd_notify() must never wait for a full queue in the middle of a measurement. */
void bench_drain_notify(const TestDaemon *d);

/* ---- The raw protocol on SOCK_SEQPACKET ----------------------------------------------------------- */

/* Connects to the unix socket path (type SOCK_SEQPACKET, say), non-blocking afterwards as the
 * library's connection: the fd or -errno. */
int bench_unix_connect(const char *path, int type);

/* A connection speaking the protocol directly: one request whose serial is rewritten
 * before each send, and one receive buffer. Receiving and checking replies is the
 * benchmark's own. */
typedef struct BenchRawConn {
        int fd;
        uint32_t serial; /* the last serial used */
        ProtoMsg *req;
        ProtoRecv *rcv;
} BenchRawConn;

/* Connects c to path (SOCK_SEQPACKET) with req as its request; req is c's even on failure. */
int bench_raw_open(BenchRawConn *c, const char *path, ProtoMsg *req);
/* Closes and frees what c holds; safe on a zeroed c with fd -EBADF, and twice. */
void bench_raw_close(BenchRawConn *c);
/* The next serial of c; never 0 (the daemon's own messages). */
uint32_t bench_raw_next_serial(BenchRawConn *c);
/* Sends the request under serial, waiting while the socket is full: 0 or -errno. */
int bench_raw_send(BenchRawConn *c, uint32_t serial);

/* ---- The echo server ------------------------------------------------------------------------------ */

/* A bare echo server: a separate, single-threaded process (this binary executed again with
 * --echo-server FD REPLY_PATH) with the daemon's I/O model: non-blocking SOCK_SEQPACKET,
 * level-triggered epoll, at most BENCH_ECHO_READ_BATCH datagrams per connection per wake-up.
 * For every request it sends back a reply captured from the daemon, with the request's
 * serial copied in (and one fd, if it was given one). */
typedef struct BenchEcho {
        char socket[300];     /* DIR/echo.sock */
        char reply_path[300]; /* DIR/reply */
        pid_t pid;            /* -1 while not running */
} BenchEcho;

/* Writes reply to DIR/reply, listens on DIR/echo.sock, and forks and executes
 * /proc/self/exe as argv0 --echo-server 3 DIR/reply with the listening socket as fd 3, so
 * that clients can connect at once. 0 or -errno. */
int bench_echo_start(BenchEcho *e, const char *dir, const char *argv0, const void *reply, size_t reply_size);
/* The echo server's main: lfd listens, reply_path holds the reply; every reply carries
 * held_fd in SCM_RIGHTS if it is >= 0. Runs until killed; returns only on error (-errno). */
int bench_echo_serve(int lfd, const char *reply_path, int held_fd);
/* Stops the echo server by its pid (it must die of our SIGTERM, else -ECHILD) and removes
 * its socket and reply file. 0 or -errno. */
int bench_echo_stop(BenchEcho *e);
