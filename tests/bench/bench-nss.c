/* SPDX-License-Identifier: MIT */

/*
 * bench-nss ("make bench"): what libnss_netutil.so.2 adds to every getaddrinfo() on the
 * machine, and what an overridden name costs next to /etc/hosts.
 *
 * The run happens in private network and mount namespaces (lo up, an /etc/hosts with
 * files.bench.test, indexed.bench.test, same.bench.test and ttl.bench.test, one netutild with
 * the rule same.bench.test → 192.0.2.9, the address /etc/hosts gives it too, the rule
 * ttl.bench.test → 192.0.2.6 (likewise) with a TTL of a day, and a rule for
 * indexed.bench.test in a scope the workers do not use). Two worker processes call getaddrinfo()
 * (AF_UNSPEC, SOCK_STREAM, as applications do) in their own mount namespaces, the same in
 * every way but one: the "netutil" worker's nsswitch.conf says "hosts: netutil files", the
 * "files" worker's "hosts: files". Both load the module's build through LD_LIBRARY_PATH
 * (main() runs this program again with it set). Measured, every round, contenders taking
 * turns slice by slice:
 *   (1) files.bench.test, which no rule maps: the netutil worker's module finds the name
 *       absent from the daemon's names index (open, mmap, binary search, close; no socket),
 *       then reads /etc/hosts; the files worker only reads /etc/hosts. Target: the added
 *       cost <= one bare unix round trip, measured in the same rounds against the bare
 *       SEQPACKET echo server (benchlib) on an open connection, answering the daemon's own
 *       ENOENT reply bytes.
 *   (1b) indexed.bench.test: in the index (a rule in another scope), so the module asks the
 *       daemon, which says "no rule" (connect, one round trip, close), then /etc/hosts: the
 *       path every miss took before the index. Shown, with the floor of that path as a
 *       second row: a bare connect + round trip + close to the same echo server.
 *   (2) same.bench.test: the netutil worker gets it from the module, which finds the rule's
 *       literal target in the daemon's rules file (index, then rules file: two small reads,
 *       no socket); the files worker from /etc/hosts. Shown with the ratio, no target.
 *   (2b) ttl.bench.test: the same kind of rule but with a TTL, which the rules file never
 *       answers: the module asks the daemon (connect, one round trip, close), the path every
 *       overridden name took before the rules file. Shown, no target.
 *   (0) for understanding: the module's miss path alone (socket, connect, the request, the
 *       ENOENT reply, close: what the module does, without getaddrinfo()) against the daemon
 *       and against the echo server, and the bare round trip.
 * Placements: same-cpu (everything on the first CPU) and cross-cpu (netutild and the echo
 * server on the second, the workers and this process on the first). Medians of
 * BENCH_ROUNDS rounds. Timings never fail the run; a wrong answer or a failed lookup does.
 *
 * Environment: NETUTILD_BIN (default ./netutild), NSS_MODULE_DIR (default ./.libs: where
 * libnss_netutil.so.2 is), BENCH_VERBOSE=1 prints every round on stderr. Needs root.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"
#include "benchlib.h"

#define ITERS 1500u /* operations per contender per round */
#define WARMUP 200u /* unmeasured operations per contender per placement */
#define LIB_TIMEOUT_USEC (5ULL * 1000ULL * 1000ULL)

DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_client, netutil_client_close);

#define MISS_NAME "files.bench.test"
#define HIT_NAME "same.bench.test"
#define INDEXED_NAME "indexed.bench.test"
#define TTL_NAME "ttl.bench.test"
#define HIT_ADDRESS "192.0.2.9"
#define TTL_ADDRESS "192.0.2.6"
/* TTL_NAME's rule lasts a day, far longer than the run: only its TTL makes the module ask. */
#define TTL_USEC (24ULL * 3600ULL * 1000ULL * 1000ULL)
#define MISS_ADDRESS "192.0.2.8"
#define INDEXED_ADDRESS "192.0.2.7"
/* The scope of INDEXED_NAME's rule: none of the workers resolves in it. */
#define INDEXED_SCOPE "bench-elsewhere"
#define HOSTS_TEXT                                                                                           \
        "127.0.0.1 localhost\n" MISS_ADDRESS " " MISS_NAME "\n" HIT_ADDRESS " " HIT_NAME                     \
        "\n" INDEXED_ADDRESS " " INDEXED_NAME "\n" TTL_ADDRESS " " TTL_NAME "\n"
#define RESOLV_TEXT "nameserver 127.0.0.1\n"

/* Contenders, in the order of a slice (rotated every slice). */
enum {
        C_NSS_MISS,      /* netutil worker, MISS_NAME */
        C_FILES_MISS,    /* files worker, MISS_NAME */
        C_NSS_HIT,       /* netutil worker, HIT_NAME (the rules file answers) */
        C_FILES_HIT,     /* files worker, HIT_NAME */
        C_NSS_TTL,       /* netutil worker, TTL_NAME (the module asks the daemon) */
        C_FILES_TTL,     /* files worker, TTL_NAME */
        C_NSS_INDEXED,   /* netutil worker, INDEXED_NAME (the module asks the daemon) */
        C_FILES_INDEXED, /* files worker, INDEXED_NAME */
        C_ECHO_RT,       /* round trip to the echo server on an open connection */
        C_DAEMON_CONN,   /* socket+connect+round trip+close to netutild (the module's path) */
        C_ECHO_CONN,     /* the same to the echo server */
        _C_MAX,
};

enum { W_NSS, W_FILES, _W_MAX };

typedef struct Worker {
        pid_t pid;
        int cmd;    /* our end: commands */
        int result; /* our end: results */
} Worker;

/* The names a worker looks up, by Cmd.name, and the first address each must give. */
static const char *const worker_names[] = {MISS_NAME, HIT_NAME, INDEXED_NAME, TTL_NAME};
static const char *const worker_addresses[] = {MISS_ADDRESS, HIT_ADDRESS, INDEXED_ADDRESS, TTL_ADDRESS};

/* A command to a worker and its answer. */
typedef struct Cmd {
        uint32_t name; /* an index of worker_names[]; any other value: exit */
        uint32_t n;
} Cmd;
typedef struct Result {
        uint64_t nsec;
        uint32_t failures;
} Result;

typedef struct Bench {
        char dir[256];
        TestDaemon d;
        bool started;
        BenchEcho echo;
        Worker w[_W_MAX];
        cpu_set_t all_cpus;
        int cpu[2];
        uint8_t request[PROTO_MAX_MSG]; /* the module's request for MISS_NAME */
        size_t request_size;
        uint8_t reply[PROTO_MAX_MSG]; /* the daemon's answer to it (ENOENT) */
        size_t reply_size;
        int echo_fd; /* an open connection to the echo server */
} Bench;

static Bench bench = {.echo.pid = -1,
                      .echo_fd = -1,
                      .w = {{.pid = -1, .cmd = -1, .result = -1}, {.pid = -1, .cmd = -1, .result = -1}}};

/* ---- the environment ------------------------------------------------------------------------- */

static int enter_namespaces(Bench *b) {
        int r;

        if ((r = bench_enter_namespaces()) < 0 ||
            (r = bench_mount_text_over(b->dir, "/etc/resolv.conf", RESOLV_TEXT)) < 0 ||
            (r = bench_mount_text_over(b->dir, "/etc/hosts", HOSTS_TEXT)) < 0)
                return r;
        return 0;
}

/* ---- the workers: getaddrinfo() under their own nsswitch.conf -------------------------------- */

/* n lookups of name; the failures: an error or a first address other than want. */
static uint32_t lookups(const char *name, const char *want, uint32_t n) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        uint32_t failures = 0;

        for (uint32_t i = 0; i < n; i++) {
                struct addrinfo *res = NULL;
                char a[INET_ADDRSTRLEN] = "";

                if (getaddrinfo(name, NULL, &hints, &res) != 0) {
                        failures++;
                        continue;
                }
                if (res->ai_family != AF_INET ||
                    !inet_ntop(AF_INET, &((struct sockaddr_in *) res->ai_addr)->sin_addr, a, sizeof(a)) ||
                    strcmp(a, want) != 0)
                        failures++;
                freeaddrinfo(res);
        }
        return failures;
}

static int read_full(int fd, void *buf, size_t len) {
        size_t done = 0;

        while (done < len) {
                ssize_t n = read(fd, (char *) buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                done += (size_t) n;
        }
        return 0;
}

static _Noreturn void worker_main(const char *dir, const char *hosts_line, int cmd, int result) {
        char text[128];
        Cmd c;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(text, sizeof(text), "hosts: %s\n", hosts_line);
        if (unshare(CLONE_NEWNS) < 0 || bench_mount_text_over(dir, "/etc/nsswitch.conf", text) < 0)
                _exit(2);
        (void) lookups(MISS_NAME, MISS_ADDRESS, 10); /* loads the modules */
        while (read_full(cmd, &c, sizeof(c)) == 0 && c.name < ELEMENTSOF(worker_names)) {
                uint64_t t0 = bench_now_nsec();
                Result res = {.failures = lookups(worker_names[c.name], worker_addresses[c.name], c.n)};

                res.nsec = bench_now_nsec() - t0;
                if (write(result, &res, sizeof(res)) != (ssize_t) sizeof(res))
                        _exit(3);
        }
        _exit(0);
}

static int worker_start(Bench *b, Worker *w, const char *hosts_line, const char *name) {
        int cmd[2], res[2];

        if (pipe2(cmd, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(res, O_CLOEXEC) < 0) {
                close(cmd[0]);
                close(cmd[1]);
                return -errno;
        }
        w->pid = fork();
        if (w->pid < 0) {
                w->pid = -1;
                return -errno;
        }
        if (w->pid == 0)
                worker_main(b->dir, hosts_line, cmd[0], res[1]);
        close(cmd[0]);
        close(res[1]);
        w->cmd = cmd[1];
        w->result = res[0];
        fprintf(stderr, "bench: worker %s (pid %d): hosts: %s\n", name, (int) w->pid, hosts_line);
        return 0;
}

/* n lookups of worker_names[name] in worker w: microseconds per lookup. */
static int worker_run(Worker *w, uint32_t name, uint32_t n, double *ret_usec) {
        Cmd c = {.name = name, .n = n};
        Result res;
        int r;

        if (write(w->cmd, &c, sizeof(c)) != (ssize_t) sizeof(c))
                return -EPIPE;
        r = read_full(w->result, &res, sizeof(res));
        if (r < 0)
                return r;
        if (res.failures > 0) {
                fprintf(stderr, "bench: %u of %u lookups of %s failed or were wrong\n", res.failures, n,
                        worker_names[name]);
                return -EBADMSG;
        }
        *ret_usec = (double) res.nsec / 1000.0 / n;
        return 0;
}

static int worker_stop(Worker *w) {
        Cmd c = {.name = UINT32_MAX};
        int status = 0, r;

        if (w->pid <= 0)
                return 0;
        (void) !write(w->cmd, &c, sizeof(c));
        r = bench_wait_pid(w->pid, BENCH_STOP_TIMEOUT_MS, &status, NULL);
        w->pid = -1;
        w->cmd = safe_close(w->cmd);
        w->result = safe_close(w->result);
        if (r < 0)
                return r;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* ---- the raw protocol ------------------------------------------------------------------------- */

/* The request the module sends (nss/nss-netutil.c: HOST, FAMILY, OVERRIDE_ONLY). */
static int build_request(Bench *b) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        if ((r = proto_msg_new(PROTO_MSG_RESOLVE, 1, &m)) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_HOST, MISS_NAME)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_UNSPEC)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_OVERRIDE_ONLY, 1)) < 0)
                return r;
        memcpy(b->request, m->data, m->size);
        b->request_size = m->size;
        return 0;
}

/* One request on fd and its reply, which must be the daemon's ENOENT (our serial). */
static int roundtrip(Bench *b, int fd, uint32_t serial) {
        uint8_t buf[512];
        ProtoHeader h;
        ssize_t n;
        int r;

        memcpy(b->request + offsetof(ProtoHeader, serial), &serial, sizeof(serial));
        if (send(fd, b->request, b->request_size, MSG_NOSIGNAL) < 0)
                return -errno;
        for (;;) {
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n >= 0 || errno != EAGAIN)
                        break;
                if ((r = bench_wait_fd(fd, POLLIN, BENCH_IO_TIMEOUT_MS)) < 0)
                        return r;
        }
        if (n < 0)
                return -errno;
        if ((size_t) n < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        if (h.serial != serial || h.status != ENOENT)
                return -EBADMSG;
        return 0;
}

/* What the module does for a miss, without getaddrinfo() around it. */
static int connect_roundtrip(Bench *b, const char *path) {
        _cleanup_(closep) int fd = bench_unix_connect(path, SOCK_SEQPACKET);

        if (fd < 0)
                return fd;
        return roundtrip(b, fd, 1);
}

static int capture(Bench *b) {
        _cleanup_(closep) int fd = -EBADF;
        ssize_t n;
        int r;

        if ((r = build_request(b)) < 0)
                return r;
        fd = bench_unix_connect(b->d.socket, SOCK_SEQPACKET);
        if (fd < 0)
                return fd;
        if (send(fd, b->request, b->request_size, MSG_NOSIGNAL) < 0)
                return -errno;
        if ((r = bench_wait_fd(fd, POLLIN, BENCH_IO_TIMEOUT_MS)) < 0)
                return r;
        n = recv(fd, b->reply, sizeof(b->reply), 0);
        if (n < (ssize_t) PROTO_HEADER_SIZE)
                return n < 0 ? -errno : -EBADMSG;
        b->reply_size = (size_t) n;
        return roundtrip(b, fd, 2); /* checks it is the miss */
}

/* ---- measuring ---------------------------------------------------------------------------------- */

static int place(Bench *b, BenchPlacement p) {
        cpu_set_t servers, clients;
        int r;

        (void) bench_placement_cpus(p, &b->all_cpus, b->cpu, &servers, &clients);
        if ((r = bench_pin_pid(b->d.pid, &servers)) < 0 || (r = bench_pin_pid(b->echo.pid, &servers)) < 0)
                return r;
        for (unsigned i = 0; i < _W_MAX; i++)
                if ((r = bench_pin_pid(b->w[i].pid, &clients)) < 0)
                        return r;
        return bench_pin_pid(getpid(), &clients);
}

/* n operations of contender c: microseconds per operation. */
static int contender(Bench *b, unsigned c, uint32_t n, double *ret_usec) {
        static uint32_t serial;
        uint64_t t0;
        int r = 0;

        switch (c) {
        case C_NSS_MISS:
                return worker_run(&b->w[W_NSS], 0, n, ret_usec);
        case C_FILES_MISS:
                return worker_run(&b->w[W_FILES], 0, n, ret_usec);
        case C_NSS_HIT:
                return worker_run(&b->w[W_NSS], 1, n, ret_usec);
        case C_FILES_HIT:
                return worker_run(&b->w[W_FILES], 1, n, ret_usec);
        case C_NSS_INDEXED:
                return worker_run(&b->w[W_NSS], 2, n, ret_usec);
        case C_FILES_INDEXED:
                return worker_run(&b->w[W_FILES], 2, n, ret_usec);
        case C_NSS_TTL:
                return worker_run(&b->w[W_NSS], 3, n, ret_usec);
        case C_FILES_TTL:
                return worker_run(&b->w[W_FILES], 3, n, ret_usec);
        }
        t0 = bench_now_nsec();
        for (uint32_t i = 0; i < n && r >= 0; i++) {
                if (c == C_ECHO_RT) {
                        if (++serial == 0)
                                serial = 1;
                        r = roundtrip(b, b->echo_fd, serial);
                } else
                        r = connect_roundtrip(b, c == C_DAEMON_CONN ? b->d.socket : b->echo.socket);
        }
        if (r < 0)
                return r;
        *ret_usec = (double) (bench_now_nsec() - t0) / 1000.0 / n;
        return 0;
}

static int measure(Bench *b, const char *placement) {
        double us[_C_MAX][BENCH_ROUNDS], sum[_C_MAX], x;
        int r;

        for (unsigned c = 0; c < _C_MAX; c++)
                if ((r = contender(b, c, WARMUP, &x)) < 0)
                        return r;
        for (unsigned round = 0; round < BENCH_ROUNDS; round++) {
                memset(sum, 0, sizeof(sum));
                for (unsigned s = 0; s < BENCH_SLICES; s++) {
                        for (unsigned k = 0; k < _C_MAX; k++) {
                                unsigned c = (k + s + round) % _C_MAX;

                                if ((r = contender(b, c, ITERS / BENCH_SLICES, &x)) < 0)
                                        return r;
                                sum[c] += x;
                        }
                        bench_drain_notify(&b->d);
                }
                for (unsigned c = 0; c < _C_MAX; c++)
                        us[c][round] = sum[c] / BENCH_SLICES;
        }

        bench_add_row("(1) getaddrinfo /etc/hosts name: netutil+files", placement, "files only",
                      BENCH_UNIT_USEC, us[C_NSS_MISS], us[C_FILES_MISS], BENCH_ROUNDS,
                      BENCH_GOAL_OVERHEAD_AT_MOST, bench_median(us[C_ECHO_RT], BENCH_ROUNDS));
        /* A name in the index: the module (which keeps no state) connects for the lookup, so
         * the floor under it is a bare connect + round trip + close, shown against that. */
        bench_add_row("(1b) name in the index, no rule: netutil+files", placement, "files only",
                      BENCH_UNIT_USEC, us[C_NSS_INDEXED], us[C_FILES_INDEXED], BENCH_ROUNDS, BENCH_GOAL_INFO,
                      0);
        bench_add_row("(1b) the same, floor: echo connect..close", placement, "files only", BENCH_UNIT_USEC,
                      us[C_NSS_INDEXED], us[C_FILES_INDEXED], BENCH_ROUNDS, BENCH_GOAL_OVERHEAD_AT_MOST,
                      bench_median(us[C_ECHO_CONN], BENCH_ROUNDS));
        /* An overridden name both ways: from the rules file (a literal target, no TTL) and from
         * the daemon (a TTL), each against the files worker's lookup of the same name. */
        bench_add_row("(2) overridden name, rules file: netutil+files", placement, "files, same name",
                      BENCH_UNIT_USEC, us[C_NSS_HIT], us[C_FILES_HIT], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        bench_add_row("(2b) overridden name, daemon asked (TTL rule)", placement, "files, same name",
                      BENCH_UNIT_USEC, us[C_NSS_TTL], us[C_FILES_TTL], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        bench_add_row("(0) module's miss path: connect..close", placement, "echo round trip", BENCH_UNIT_USEC,
                      us[C_DAEMON_CONN], us[C_ECHO_RT], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        bench_add_row("(0) the same against the echo server", placement, "echo round trip", BENCH_UNIT_USEC,
                      us[C_ECHO_CONN], us[C_ECHO_RT], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        return 0;
}

static int run(Bench *b) {
        _cleanup_(netutil_client_closep) netutil_client *c = NULL;
        int r;

        if (access(test_netutild_bin(), X_OK) < 0) {
                fprintf(stderr, "bench: cannot run the daemon %s (set NETUTILD_BIN): %m\n",
                        test_netutild_bin());
                return -errno;
        }
        if ((r = enter_namespaces(b)) < 0) {
                fprintf(stderr, "bench: namespaces and /etc (run as root): %s\n", strerror(-r));
                return r;
        }
        if ((r = test_daemon_start(&b->d, NULL)) < 0) {
                fprintf(stderr, "bench: the daemon (%s) did not start: %s\n", test_netutild_bin(),
                        strerror(-r));
                return r;
        }
        b->started = true;
        if ((r = netutil_client_open(b->d.socket, &c)) < 0 ||
            (r = netutil_override_set(c, NULL, HIT_NAME, -1, -1, HIT_ADDRESS, -1, 0, LIB_TIMEOUT_USEC)) < 0 ||
            (r = netutil_override_set(c, NULL, TTL_NAME, -1, -1, TTL_ADDRESS, -1, TTL_USEC,
                                      LIB_TIMEOUT_USEC)) < 0 ||
            (r = netutil_override_set(c, INDEXED_SCOPE, INDEXED_NAME, -1, -1, "192.0.2.99", -1, 0,
                                      LIB_TIMEOUT_USEC)) < 0) {
                fprintf(stderr, "bench: setting the rule: %s\n", strerror(-r));
                return r;
        }
        if ((r = capture(b)) < 0) {
                fprintf(stderr, "bench: capturing the miss: %s\n", strerror(-r));
                return r;
        }
        if ((r = bench_echo_start(&b->echo, b->dir, "bench-nss", b->reply, b->reply_size)) < 0) {
                fprintf(stderr, "bench: the echo server did not start: %s\n", strerror(-r));
                return r;
        }
        b->echo_fd = bench_unix_connect(b->echo.socket, SOCK_SEQPACKET);
        if (b->echo_fd < 0) {
                fprintf(stderr, "bench: connecting to the echo server: %s\n", strerror(-b->echo_fd));
                return b->echo_fd;
        }
        setenv("NETUTILD_SOCKET", b->d.socket, 1);
        if ((r = worker_start(b, &b->w[W_NSS], "netutil files", "netutil")) < 0 ||
            (r = worker_start(b, &b->w[W_FILES], "files", "files")) < 0) {
                fprintf(stderr, "bench: starting the workers: %s\n", strerror(-r));
                return r;
        }
        printf("NSS module benchmark: getaddrinfo(AF_UNSPEC) in two workers, 'hosts: netutil files' vs\n"
               "'hosts: files'; %s (in /etc/hosts, no rule, not in the names index), %s (in\n"
               "/etc/hosts and the index, a rule in another scope only), %s (a rule to a literal,\n"
               "answered from the rules file, and /etc/hosts) and %s (the same with a TTL: the\n"
               "daemon is asked); the module's miss request %zu bytes, the daemon's reply %zu bytes (the\n"
               "echo server answers the same); %u rounds, the median shown, %u lookups per contender per\n"
               "round; same-cpu = CPU %d, cross-cpu = daemon and echo on CPU %d, workers on CPU %d.\n",
               MISS_NAME, INDEXED_NAME, HIT_NAME, TTL_NAME, b->request_size, b->reply_size, BENCH_ROUNDS,
               ITERS, b->cpu[0], b->cpu[1], b->cpu[0]);

        for (BenchPlacement p = BENCH_PLACE_SAME_CPU; p <= BENCH_PLACE_CROSS_CPU; p++) {
                if (p == BENCH_PLACE_CROSS_CPU && b->cpu[1] < 0)
                        continue;
                if ((r = place(b, p)) < 0) {
                        fprintf(stderr, "bench: cannot set CPU affinity: %s\n", strerror(-r));
                        return r;
                }
                fprintf(stderr, "bench: %s...\n", bench_placement_label[p]);
                if ((r = measure(b, bench_placement_label[p])) < 0) {
                        fprintf(stderr, "bench: %s: %s\n", bench_placement_label[p], strerror(-r));
                        return r;
                }
        }
        return 0;
}

/* Runs this program again with the module's directory in LD_LIBRARY_PATH (ld.so reads it
 * once, at start), so that glibc's NSS in the workers finds the module just built. */
static int reexec_with_module(char *argv[]) {
        const char *dir = getenv("NSS_MODULE_DIR");
        char path[PATH_MAX], module[PATH_MAX + 32];

        if (getenv("NETUTIL_NSS_BENCH_LIBS"))
                return 0;
        if (!realpath(dir ? dir : ".libs", path)) {
                fprintf(stderr, "bench: %s: %m (set NSS_MODULE_DIR)\n", dir ? dir : ".libs");
                return -errno;
        }
        snprintf(module, sizeof(module), "%s/libnss_netutil.so.2", path);
        if (access(module, R_OK) < 0) {
                fprintf(stderr, "bench: %s: %m (set NSS_MODULE_DIR)\n", module);
                return -errno;
        }
        setenv("NETUTIL_NSS_BENCH_LIBS", path, 1);
        setenv("LD_LIBRARY_PATH", path, 1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "bench: execv: %m\n");
        return -errno;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        BenchTally t = {0};
        int r, r2, status;

        if (argc == 4 && strcmp(argv[1], "--echo-server") == 0) {
                r = bench_echo_serve(atoi(argv[2]), argv[3], -1);
                fprintf(stderr, "bench: echo server: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (argc > 1) {
                fprintf(stderr,
                        "Usage: %s\n(NETUTILD_BIN: the daemon, NSS_MODULE_DIR: the module's directory)\n",
                        argv[0]);
                return EXIT_FAILURE;
        }
        if (reexec_with_module(argv) < 0)
                return EXIT_FAILURE;
        bench_setup(&(const BenchTableStyle){.name_width = 46,
                                             .baseline_width = 16,
                                             .rule_width = 122,
                                             .coloc = false,
                                             .round_decimals = 2});
        if (bench_get_cpus(&b->all_cpus, b->cpu) < 0)
                return EXIT_FAILURE;
        if (bench_make_temp_dir(b->dir, sizeof(b->dir)) < 0) {
                fprintf(stderr, "bench: mkdtemp: %m\n");
                return EXIT_FAILURE;
        }

        r = run(b);

        /* Everything we started goes, by its pid, whatever happened. */
        for (unsigned i = 0; i < _W_MAX; i++)
                if ((r2 = worker_stop(&b->w[i])) < 0) {
                        fprintf(stderr, "bench: a worker did not stop cleanly: %s\n", strerror(-r2));
                        if (r >= 0)
                                r = r2;
                }
        b->echo_fd = safe_close(b->echo_fd);
        if ((r2 = bench_echo_stop(&b->echo)) < 0) {
                fprintf(stderr, "bench: the echo server did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        if (b->started) {
                status = test_daemon_stop(&b->d);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "bench: the daemon did not exit cleanly (wait status 0x%x)\n",
                                status);
                        if (r >= 0)
                                r = -ECHILD;
                }
        }
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
        printf("\nTargets: %u met, %u missed. (1)'s target is the bare round trip of the same run and\n"
               "placement (the echo server on an open connection). ratio: ours/baseline, only ever within "
               "one\n"
               "placement. Timings never fail this program.\n",
               t.met, t.missed);
        return EXIT_SUCCESS;
}
