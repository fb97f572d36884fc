/* SPDX-License-Identifier: MIT */

/*
 * bench-inprocess ("make bench"): what the in-process helpers cost, next to the cheapest
 * thing that does the same work, measured in one run. No daemon is involved.
 *
 * 1. netutil_add_accept_handler() on sd-event against a bare accept loop: level-triggered
 *    epoll on the listener, then accept4() until EAGAIN. Both sides take the peer address,
 *    pass SOCK_CLOEXEC and keep the accepted fd blocking, as the library does, and close
 *    every fd at once; so the kernel does exactly the same work for both, and what differs
 *    is the library's own share (sd-event's dispatch, the batch limit of 128, the callback).
 *    Each has its own listener of the same kind (backlog 4096): TCP on 127.0.0.1, and unix
 *    stream sockets in a temporary directory. The connections come from a client process
 *    (forked, single-threaded, told what to do over a socketpair) in two shapes:
 *      - streaming: the client connects as fast as it can, with at most 64 connections not
 *        yet closed by the server (the oldest is reaped when the server's close reaches it),
 *        so the accept queue never overflows (a dropped SYN would cost a 1 s retransmit);
 *        throughput is measured from the start command to the last accept, and the server's
 *        CPU time per connection (CLOCK_THREAD_CPUTIME_ID) is shown beside it, since when
 *        the client is the bottleneck both servers idle and only the CPU shows the cost;
 *      - queue: the client opens 1000 connections first, the server then drains the full
 *        accept queue on its own: pure accept-side throughput, independent of the client.
 *    Everything runs in a fresh network namespace (unshare(CLONE_NEWNET), lo brought up, a
 *    wide ip_local_port_range), so nothing else on the machine shares the loopback, and no
 *    TIME_WAIT piles up: the server closes first, and the client closes its end with
 *    SO_LINGER 0 (a reset, which ends the server's FIN_WAIT2 socket too). BenchPlacement decides
 *    what a wake-up costs on a 2-CPU machine, so every case runs "same-cpu" (server and
 *    client on the first CPU) and "cross-cpu" (server on the second, client on the first),
 *    and is only compared with the baseline of the same placement.
 *
 * 2. TLS handshakes through netutil_tls_wrap() + netutil_tls_handshake() against gnutls-cli,
 *    both against one gnutls-serv (started by pid, stopped by pid) with a self-signed ECDSA
 *    P-256 certificate made by certtool, all pinned to the same priority string
 *    (TLS_PRIORITY: TLS 1.3 only), both sending SNI "localhost" and verifying the server's
 *    certificate and hostname against the same one-certificate CA file (gnutls-cli with
 *    --x509cafile, so that it does not load the system trust store either). gnutls-cli is a
 *    process per handshake, and its --benchmark-tls-kx mode runs client and server inside
 *    one process with its own credentials and no socket, so it cannot be pointed at a
 *    server. The fair comparison is therefore process against process: "ours" is this
 *    binary exec()ed again with --tls-client (context, connect, wrap, handshake: one
 *    handshake), forked and exec()ed by the same parent in the same way as gnutls-cli.
 *    The end of a handshake is taken from the server, which treats both clients alike: the
 *    parent reads gnutls-serv's output through a pseudo-terminal (so it is line-buffered)
 *    and stops the clock at its "- Description:" line, printed once its handshake is done.
 *    Whole-process time would not do: with stdin at EOF gnutls-cli sends close_notify and
 *    waits for the server's, a teardown ours does not have. So both clients, once done,
 *    wait for the server (ours reads) and are killed by pid after the line, untimed.
 *    In our namespace the route to 127.0.0.1 gets the quickack metric (route_quickack()):
 *    GnuTLS's TLS 1.3 client sends its ChangeCipherSpec and its Finished as two small
 *    segments, and Nagle holds the second until the server's delayed ACK of the first, a
 *    40 ms stall about every other handshake, for gnutls-cli and ours alike, that would
 *    swamp the ~1 ms of the handshake.
 *    For understanding (no target), the same in one process: a loop of connect + wrap +
 *    handshake + free against a loop of the same GnuTLS calls made directly (one credential
 *    set and priority cache reused by both, as a context is), with each one's CPU time; and
 *    the bare cost of starting each program (ours exiting at once, gnutls-cli --version).
 *
 * Method, as bench-status: every measurement is BENCH_ROUNDS rounds, the median round is shown;
 * a round is cut into BENCH_SLICES slices in which ours and the baseline take turns (who goes
 * first rotates), so that drift of the machine hits both alike. Timings never fail the run:
 * the exit status is nonzero only if something broke (a connection or handshake failed, a
 * program is missing, a process did not stop cleanly).
 *
 * The harness (rounds, slices, the table, timing) is benchlib.c's.
 *
 * Environment: BENCH_VERBOSE=1 prints every round on stderr; BENCH_PARTS, "accept" or "tls",
 * runs only that part.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"
#include "benchlib.h"

#define STREAM_CONNS 1000u /* connections per slice, streaming client */
#define STREAM_WINDOW 64u  /* connections the streaming client has not seen closed yet, at most */
#define QUEUE_CONNS 1000u  /* connections per slice, queued before the server drains them */
#define LISTEN_BACKLOG 4096
#define TLS_PROC_PER_SLICE 10u /* handshakes per slice, a process each */
#define TLS_LOOP_PER_SLICE 40u /* handshakes per slice, in this process */
#define START_PER_SLICE 4u     /* program starts per slice */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define TLS_HOSTNAME "localhost"

/* ---- The bench's state ---------------------------------------------------------------- */

typedef enum Transport {
        TRANSPORT_TCP,
        TRANSPORT_UNIX,
        _TRANSPORT_MAX,
} Transport;

static const char *const transport_label[_TRANSPORT_MAX] = {
        [TRANSPORT_TCP] = "TCP",
        [TRANSPORT_UNIX] = "unix",
};

typedef enum Side {
        SIDE_OURS, /* netutil_add_accept_handler() */
        SIDE_BASE, /* epoll + accept4() */
        _SIDE_MAX,
} Side;

/* What the accept handler's callback counts. */
typedef struct Accepted {
        unsigned n;
        int error;
} Accepted;

typedef struct Listener {
        int fd;
        struct sockaddr_storage addr; /* where the client connects */
        socklen_t addr_len;
} Listener;

typedef struct Bench {
        char dir[256]; /* temporary directory: unix sockets, certificate, key */
        bool netns;    /* in a fresh network namespace */
        bool quickack; /* with the quickack route to 127.0.0.1 */
        cpu_set_t all_cpus;
        int cpu[2]; /* the first two allowed CPUs; -1 for none */

        /* 1: the client process, our end of its control socket, the listeners */
        pid_t client_pid;
        int ctl;
        Listener listener[_TRANSPORT_MAX][_SIDE_MAX];
        sd_event *event;
        netutil_accept_handler *handler[_TRANSPORT_MAX];
        Accepted accepted[_TRANSPORT_MAX];
        int epoll[_TRANSPORT_MAX]; /* the baseline's, one per listener */

        /* 2: programs, files, the server and its output */
        char certtool[PATH_MAX], gnutls_serv[PATH_MAX], gnutls_cli[PATH_MAX];
        char cert[300], key[300], template[300];
        char port[16];
        pid_t serv_pid;
        int pty, pty_slave; /* the server's output: our end, and a slave kept open */
        char line[1024];    /* the incomplete line read last */
        size_t line_len;
        unsigned descriptions; /* "- Description:" lines seen: handshakes the server completed */
        bool serv_ready;       /* its IPv4 listener is up */
        gnutls_certificate_credentials_t raw_creds;
        gnutls_priority_t raw_priority;
        netutil_tls_context *tls;
} Bench;

static Bench bench = {
        .client_pid = -1,
        .ctl = -EBADF,
        .epoll = { -EBADF, -EBADF },
        .serv_pid = -1,
        .pty = -EBADF,
        .pty_slave = -EBADF,
        .listener = { { { .fd = -EBADF }, { .fd = -EBADF } }, { { .fd = -EBADF }, { .fd = -EBADF } } },
};

/* ---- Setup: namespace, CPUs, processes ---------------------------------------------------- */

static void write_sysctl(const char *path, const char *value) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd >= 0)
                (void) !write(fd, value, strlen(value));
}

static void nl_attr(struct nlmsghdr *n, size_t max, unsigned short type, const void *data, size_t len) {
        struct rtattr *a = (struct rtattr *) ((char *) n + NLMSG_ALIGN(n->nlmsg_len));

        if (NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len) > max)
                return;
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        n->nlmsg_len = (uint32_t) (NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len));
}

/* Replaces the route to 127.0.0.1 (local table) by the same with the quickack metric, as
 * "ip route replace local 127.0.0.1 dev lo table local proto kernel scope host src
 * 127.0.0.1 quickack 1": TCP then acknowledges at once instead of delaying ACKs. Without
 * it, a TLS 1.3 handshake of GnuTLS's on loopback stalls 40 ms about every other time: the
 * client sends its ChangeCipherSpec and its Finished in two small segments, and Nagle holds
 * the Finished until the server's delayed ACK of the first. That hits every client here
 * alike (they all use GnuTLS on a socket without TCP_NODELAY) and would swamp what is
 * measured. Only in our own namespace. */
static int route_quickack(void) {
        struct {
                struct nlmsghdr n;
                struct rtmsg r;
                char attrs[128];
        } req = {
                .n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
                .n.nlmsg_type = RTM_NEWROUTE,
                .n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
                .n.nlmsg_seq = 1,
                .r.rtm_family = AF_INET,
                .r.rtm_dst_len = 32,
                .r.rtm_table = RT_TABLE_LOCAL,
                .r.rtm_protocol = RTPROT_KERNEL,
                .r.rtm_scope = RT_SCOPE_HOST,
                .r.rtm_type = RTN_LOCAL,
        };
        struct {
                struct rtattr a;
                uint32_t v;
        } metric = { .a.rta_type = RTAX_QUICKACK, .a.rta_len = RTA_LENGTH(sizeof(uint32_t)), .v = 1 };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        uint32_t loopback = htonl(INADDR_LOOPBACK);
        int ifindex = (int) if_nametoindex("lo");
        _cleanup_(closep) int fd = -EBADF;
        char buf[512];
        ssize_t n;

        if (ifindex <= 0)
                return -errno;
        nl_attr(&req.n, sizeof(req), RTA_DST, &loopback, sizeof(loopback));
        nl_attr(&req.n, sizeof(req), RTA_PREFSRC, &loopback, sizeof(loopback));
        nl_attr(&req.n, sizeof(req), RTA_OIF, &ifindex, sizeof(ifindex));
        nl_attr(&req.n, sizeof(req), RTA_METRICS, &metric, sizeof(metric));

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        if (bench_wait_fd(fd, POLLIN, BENCH_IO_TIMEOUT_MS) < 0)
                return -ETIMEDOUT;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
                const struct nlmsghdr *h = (const struct nlmsghdr *) buf;
                if (h->nlmsg_type == NLMSG_ERROR)
                        return ((const struct nlmsgerr *) NLMSG_DATA(h))->error;
        }
        return -EBADMSG;
}

/* A fresh network namespace with lo up, as tests/check-bind.c makes; without the right to
 * make one (not root), the run goes on in the current one, and says so. */
static int enter_netns(Bench *b) {
        _cleanup_(closep) int fd = -EBADF;
        struct ifreq ifr = {};
        int r;

        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "bench: unshare(CLONE_NEWNET): %m: using the current network namespace\n");
                return 0;
        }
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        /* Per namespace, and only ours: best effort, the closing order already avoids
         * running out of ports. */
        write_sysctl("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
        b->netns = true;
        r = route_quickack();
        if (r < 0)
                fprintf(stderr, "bench: cannot set quickack on the loopback route: %s: expect 40 ms stalls in "
                        "the TLS handshakes\n", strerror(-r));
        b->quickack = r >= 0;
        return 0;
}

/* Pins the process pid (single-threaded) to one CPU. */
static int pin(pid_t pid, int cpu) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(pid, sizeof(set), &set) < 0 ? -errno : 0;
}

/* ---- 1: the client process ----------------------------------------------------------------- */

typedef enum Op {
        OP_FILL,   /* open n connections and keep them */
        OP_CLOSE,  /* close the kept ones */
        OP_STREAM, /* n connections, at most window not yet closed by the server */
        OP_QUIT,
} Op;

typedef struct Cmd {
        int op;
        unsigned n, window;
        socklen_t addr_len;
        struct sockaddr_storage addr;
} Cmd;

static int client_connect(const Cmd *c) {
        _cleanup_(closep) int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (c->addr.ss_family == AF_INET) {
                /* close() resets: no TIME_WAIT on either end, whoever closed first. */
                struct linger l = { .l_onoff = 1, .l_linger = 0 };
                if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
                        return -errno;
        }
        if (connect(fd, (const struct sockaddr *) &c->addr, c->addr_len) < 0) /* no handlers: no EINTR */
                return -errno;
        return TAKE_FD(fd);
}

static int client_stream(const Cmd *c) {
        int ring[STREAM_WINDOW];
        unsigned head = 0, inflight = 0, opened = 0, closed = 0;
        int r = 0;

        if (c->window == 0 || c->window > STREAM_WINDOW)
                return -EINVAL;
        while (closed < c->n) {
                if (opened < c->n && inflight < c->window) {
                        r = client_connect(c);
                        if (r < 0)
                                break;
                        ring[(head + inflight) % c->window] = r;
                        inflight++;
                        opened++;
                        continue;
                }
                /* The server takes them in order: the oldest is closed first. */
                r = bench_wait_fd(ring[head], POLLIN, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        break;
                safe_close(ring[head]);
                head = (head + 1) % c->window;
                inflight--;
                closed++;
        }
        for (; inflight > 0; inflight--, head = (head + 1) % c->window)
                safe_close(ring[head]);
        return r < 0 ? r : 0;
}

/* The client's main loop: a command, its result, until OP_QUIT or the parent goes. */
static int client_main(int ctl) {
        _cleanup_(freep) int *kept = calloc(QUEUE_CONNS, sizeof(int));
        unsigned n_kept = 0;

        if (!kept)
                return -ENOMEM;
        (void) prctl(PR_SET_NAME, "bench-client");
        for (;;) {
                Cmd c;
                ssize_t n = recv(ctl, &c, sizeof(c), 0);
                int r = 0;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : 0;
                if (n != sizeof(c))
                        return -EBADMSG;
                switch (c.op) {
                case OP_FILL:
                        for (; n_kept < MIN(c.n, QUEUE_CONNS) && r >= 0; n_kept++) {
                                r = client_connect(&c);
                                if (r < 0)
                                        break;
                                kept[n_kept] = r;
                        }
                        if (r >= 0)
                                r = c.n <= QUEUE_CONNS ? 0 : -E2BIG;
                        break;
                case OP_CLOSE:
                        for (; n_kept > 0; n_kept--)
                                safe_close(kept[n_kept - 1]);
                        break;
                case OP_STREAM:
                        r = client_stream(&c);
                        break;
                case OP_QUIT:
                        return 0;
                default:
                        r = -EINVAL;
                }
                if (send(ctl, &r, sizeof(r), MSG_NOSIGNAL) < 0)
                        return -errno;
        }
}

static int client_start(Bench *b) {
        int sp[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        b->client_pid = fork();
        if (b->client_pid < 0) {
                int r = -errno;
                safe_close(sp[0]);
                safe_close(sp[1]);
                return r;
        }
        if (b->client_pid == 0) {
                int r;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                safe_close(sp[0]);
                r = client_main(sp[1]);
                if (r < 0)
                        fprintf(stderr, "bench: client: %s\n", strerror(-r));
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        safe_close(sp[1]);
        b->ctl = sp[0];
        return 0;
}

static int client_send(Bench *b, const Cmd *c) {
        return send(b->ctl, c, sizeof(*c), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The result of the command sent last. */
static int client_result(Bench *b) {
        int result = 0, r;
        ssize_t n;

        r = bench_wait_fd(b->ctl, POLLIN, 4 * BENCH_IO_TIMEOUT_MS);
        if (r < 0)
                return r;
        n = recv(b->ctl, &result, sizeof(result), 0);
        if (n < 0)
                return -errno;
        if (n != sizeof(result))
                return -ECONNRESET; /* the client died */
        return result;
}

static int client_stop(Bench *b) {
        Cmd c = { .op = OP_QUIT };
        int status = 0, r;

        if (b->client_pid <= 0)
                return 0;
        (void) client_send(b, &c);
        b->ctl = safe_close(b->ctl);
        r = bench_wait_pid(b->client_pid, BENCH_STOP_TIMEOUT_MS, &status, NULL);
        b->client_pid = -1;
        if (r < 0)
                return r;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* ---- 1: the servers ------------------------------------------------------------------------- */

static void on_accept(netutil_accept_handler *h, int fd, const struct sockaddr *addr, socklen_t addr_len,
                      void *userdata) {
        Accepted *a = userdata;

        if (fd < 0) {
                if (a->error == 0)
                        a->error = fd;
                return;
        }
        safe_close(fd);
        a->n++;
}

static int listener_open(Bench *b, Transport t, Side s) {
        Listener *l = &b->listener[t][s];
        int one = 1;

        if (t == TRANSPORT_TCP) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (l->fd < 0)
                        return -errno;
                if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                    bind(l->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        } else {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };

                if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", b->dir,
                                      s == SIDE_OURS ? "ours" : "base") >= sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (l->fd < 0)
                        return -errno;
                if (bind(l->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        }
        if (listen(l->fd, LISTEN_BACKLOG) < 0)
                return -errno;
        l->addr_len = sizeof(l->addr);
        if (getsockname(l->fd, (struct sockaddr *) &l->addr, &l->addr_len) < 0)
                return -errno;
        return 0;
}

static int servers_open(Bench *b) {
        int r;

        r = sd_event_new(&b->event);
        if (r < 0)
                return r;
        for (Transport t = 0; t < _TRANSPORT_MAX; t++) {
                struct epoll_event ev = { .events = EPOLLIN };

                for (Side s = 0; s < _SIDE_MAX; s++) {
                        r = listener_open(b, t, s);
                        if (r < 0)
                                return r;
                }
                r = netutil_add_accept_handler(b->event, b->listener[t][SIDE_OURS].fd, on_accept,
                                               &b->accepted[t], &b->handler[t]);
                if (r < 0)
                        return r;
                b->epoll[t] = epoll_create1(EPOLL_CLOEXEC);
                if (b->epoll[t] < 0)
                        return -errno;
                ev.data.fd = b->listener[t][SIDE_BASE].fd;
                if (epoll_ctl(b->epoll[t], EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
                        return -errno;
        }
        return 0;
}

static void servers_close(Bench *b) {
        for (Transport t = 0; t < _TRANSPORT_MAX; t++) {
                b->handler[t] = netutil_accept_handler_free(b->handler[t]);
                b->epoll[t] = safe_close(b->epoll[t]);
                for (Side s = 0; s < _SIDE_MAX; s++) {
                        Listener *l = &b->listener[t][s];

                        l->fd = safe_close(l->fd);
                        if (t == TRANSPORT_UNIX && l->addr_len > 0)
                                (void) unlink(((struct sockaddr_un *) &l->addr)->sun_path);
                        l->addr_len = 0;
                }
        }
        b->event = sd_event_unref(b->event);
}

/* Accepts and closes n connections on the library's handler. */
static int ours_accept(Bench *b, Transport t, unsigned n) {
        Accepted *a = &b->accepted[t];

        a->n = 0;
        a->error = 0;
        while (a->n < n) {
                int r = sd_event_run(b->event, BENCH_IO_TIMEOUT_MS * 1000ULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ETIMEDOUT;
                if (a->error < 0)
                        return a->error;
        }
        return a->n == n ? 0 : -EPROTO;
}

/* The same, bare: epoll, then accept4() until EAGAIN, with the library's flags. */
static int base_accept(Bench *b, Transport t, unsigned n) {
        int lfd = b->listener[t][SIDE_BASE].fd;
        unsigned got = 0;

        while (got < n) {
                struct epoll_event ev;
                int k = epoll_wait(b->epoll[t], &ev, 1, BENCH_IO_TIMEOUT_MS);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ETIMEDOUT;
                for (;;) {
                        struct sockaddr_storage peer;
                        socklen_t len = sizeof(peer);
                        int fd = accept4(lfd, (struct sockaddr *) &peer, &len, SOCK_CLOEXEC);

                        if (fd < 0) {
                                if (errno == EAGAIN)
                                        break;
                                if (errno == EINTR || errno == ECONNABORTED)
                                        continue;
                                return -errno;
                        }
                        safe_close(fd);
                        got++;
                }
        }
        return got == n ? 0 : -EPROTO;
}

static int side_accept(Bench *b, Transport t, Side s, unsigned n) {
        return s == SIDE_OURS ? ours_accept(b, t, n) : base_accept(b, t, n);
}

/* ---- 1: the cases ---------------------------------------------------------------------------- */

typedef enum Shape {
        SHAPE_STREAM, /* the client connects while the server accepts */
        SHAPE_QUEUE,  /* the client fills the queue, then the server drains it */
} Shape;

/* One slice of one side: n connections. Adds wall and CPU seconds of the server. */
static int accept_slice(Bench *b, Transport t, Shape shape, Side s, unsigned n, double *sec, double *cpu) {
        const Listener *l = &b->listener[t][s];
        Cmd c = { .n = n, .window = STREAM_WINDOW, .addr_len = l->addr_len, .addr = l->addr };
        uint64_t t0, t1, c0, c1;
        int r, r2;

        if (shape == SHAPE_QUEUE) {
                c.op = OP_FILL;
                if ((r = client_send(b, &c)) < 0 || (r = client_result(b)) < 0)
                        return r;
                t0 = bench_now_nsec();
                c0 = bench_thread_cpu_nsec();
                r = side_accept(b, t, s, n);
                c1 = bench_thread_cpu_nsec();
                t1 = bench_now_nsec();
                c.op = OP_CLOSE;
                r2 = client_send(b, &c);
        } else {
                c.op = OP_STREAM;
                t0 = bench_now_nsec();
                c0 = bench_thread_cpu_nsec();
                r2 = client_send(b, &c);
                r = r2 < 0 ? r2 : side_accept(b, t, s, n);
                c1 = bench_thread_cpu_nsec();
                t1 = bench_now_nsec();
        }
        if (r2 >= 0)
                r2 = client_result(b);
        if (r < 0)
                return r;
        if (r2 < 0)
                return r2;
        *sec += bench_seconds_since(t0, t1);
        *cpu += bench_seconds_since(c0, c1);
        return 0;
}

static int case_accept(Bench *b, Transport t, Shape shape, const char *placement) {
        static const char *const names[_TRANSPORT_MAX][2][2] = {
                [TRANSPORT_TCP] = { { "1 accept TCP, streaming client", "1 server CPU/conn, TCP streaming" },
                                    { "1 accept TCP, queue of 1000", NULL } },
                [TRANSPORT_UNIX] = { { "1 accept unix, streaming client", "1 server CPU/conn, unix streaming" },
                                     { "1 accept unix, queue of 1000", NULL } },
        };
        const unsigned n = shape == SHAPE_STREAM ? STREAM_CONNS : QUEUE_CONNS;
        double rate[_SIDE_MAX][BENCH_ROUNDS], cpu_us[_SIDE_MAX][BENCH_ROUNDS], ignored = 0;
        int r = 0;

        /* Warm-up: both sides, a slice each. */
        for (Side s = 0; s < _SIDE_MAX && r >= 0; s++)
                r = accept_slice(b, t, shape, s, n / 4, &ignored, &ignored);

        for (unsigned round = 0; round < BENCH_ROUNDS && r >= 0; round++) {
                double sec[_SIDE_MAX] = { 0 }, cpu[_SIDE_MAX] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES && r >= 0; slice++)
                        for (unsigned k = 0; k < _SIDE_MAX && r >= 0; k++) {
                                Side s = (round + slice + k) % _SIDE_MAX; /* who goes first rotates */
                                r = accept_slice(b, t, shape, s, n, &sec[s], &cpu[s]);
                        }
                for (Side s = 0; s < _SIDE_MAX; s++) {
                        rate[s][round] = (double) n * BENCH_SLICES / sec[s];
                        cpu_us[s][round] = cpu[s] * 1e6 / ((double) n * BENCH_SLICES);
                }
        }
        if (r < 0) {
                fprintf(stderr, "bench: %s, %s: %s\n", names[t][shape][0], placement, strerror(-r));
                return r;
        }
        bench_add_row(names[t][shape][0], placement, "epoll+accept4", BENCH_UNIT_RPS, rate[SIDE_OURS],
                      rate[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_AT_LEAST, 0.9);
        if (names[t][shape][1])
                bench_add_row(names[t][shape][1], placement, "epoll+accept4", BENCH_UNIT_USEC,
                              cpu_us[SIDE_OURS], cpu_us[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
        return 0;
}

static int run_accept(Bench *b) {
        static const char *const labels[2] = { "same-cpu", "cross-cpu" };
        int r;

        r = client_start(b);
        if (r < 0) {
                fprintf(stderr, "bench: cannot start the client process: %s\n", strerror(-r));
                return r;
        }
        r = servers_open(b);
        if (r < 0) {
                fprintf(stderr, "bench: cannot set up the listeners: %s\n", strerror(-r));
                return r;
        }
        for (unsigned p = 0; p < 2; p++) {
                if (p == 1 && b->cpu[1] < 0) {
                        printf("Only one CPU is allowed: the cross-cpu placement is skipped.\n");
                        continue;
                }
                if ((r = pin(0, b->cpu[p])) < 0 || (r = pin(b->client_pid, b->cpu[0])) < 0) {
                        fprintf(stderr, "bench: cannot set CPU affinity: %s\n", strerror(-r));
                        return r;
                }
                for (Transport t = 0; t < _TRANSPORT_MAX; t++)
                        for (Shape shape = SHAPE_STREAM; shape <= SHAPE_QUEUE; shape++) {
                                fprintf(stderr, "bench: %s: accept %s, %s...\n", labels[p], transport_label[t],
                                        shape == SHAPE_STREAM ? "streaming" : "queue");
                                r = case_accept(b, t, shape, labels[p]);
                                if (r < 0)
                                        return r;
                        }
        }
        return 0;
}

/* ---- 2: the TLS server and its output ------------------------------------------------------- */

/* Reads what the server printed; counts "- Description:" lines and notes its IPv4 listener.
 * Returns 0, or -errno. Never blocks. */
static int pty_read(Bench *b) {
        char buf[4096];

        for (;;) {
                ssize_t n = read(b->pty, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
                if (n == 0)
                        return 0;
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] != '\n') {
                                if (b->line_len < sizeof(b->line) - 1)
                                        b->line[b->line_len++] = buf[i];
                                continue;
                        }
                        b->line[b->line_len] = '\0';
                        if (strncmp(b->line, "- Description:", 14) == 0)
                                b->descriptions++;
                        else if (strstr(b->line, "listening on IPv4") && strstr(b->line, "done"))
                                b->serv_ready = true;
                        b->line_len = 0;
                }
        }
}

/* Whether the server still runs; a server that exited is an error. */
static int serv_check(Bench *b) {
        int status = 0;
        pid_t w = waitpid(b->serv_pid, &status, WNOHANG);

        if (w == 0)
                return 0;
        if (w == b->serv_pid) {
                fprintf(stderr, "bench: gnutls-serv exited (wait status 0x%x)\n", status);
                b->serv_pid = -1;
        }
        return -ECHILD;
}

/* Waits until the server has completed want handshakes, up to timeout_ms. If client > 0,
 * a client that exits unsuccessfully meanwhile ends the wait with -EPROTO (it is reaped and
 * *client set to -1, its status in *client_status). */
static int serv_wait(Bench *b, unsigned want, int timeout_ms, pid_t *client, int *client_status) {
        uint64_t deadline = bench_now_nsec() + (uint64_t) timeout_ms * 1000000ULL;

        for (;;) {
                int r = pty_read(b);

                if (r < 0)
                        return r;
                if (b->descriptions >= want)
                        return 0;
                if (bench_now_nsec() > deadline)
                        return -ETIMEDOUT;
                r = bench_wait_fd(b->pty, POLLIN, 50);
                if (r < 0 && r != -ETIMEDOUT)
                        return r;
                if (r == -ETIMEDOUT) {
                        if ((r = serv_check(b)) < 0)
                                return r;
                        if (client && *client > 0) {
                                int status = 0;
                                if (waitpid(*client, &status, WNOHANG) == *client) {
                                        *client = -1;
                                        *client_status = status;
                                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                                                return -EPROTO;
                                }
                        }
                }
        }
}

static int run_certtool(Bench *b, const char *const *argv) {
        char out[512], err[1024];
        int r = test_run(argv, out, sizeof(out), err, sizeof(err));

        if (r != 0) {
                fprintf(stderr, "bench: %s failed (%d): %s\n", argv[1], r, r < 0 ? strerror(-r) : err);
                return r < 0 ? r : -EIO;
        }
        return 0;
}

static int make_certificate(Bench *b) {
        static const char template[] = "cn = " TLS_HOSTNAME "\n"
                                       "dns_name = " TLS_HOSTNAME "\n"
                                       "expiration_days = 2\n"
                                       "ca\n"
                                       "signing_key\n"
                                       "tls_www_server\n";
        const char *const genkey[] = { b->certtool, "--generate-privkey", "--key-type=ecdsa", "--outfile",
                                       b->key, NULL };
        const char *const gencert[] = { b->certtool, "--generate-self-signed", "--load-privkey", b->key,
                                        "--template", b->template, "--outfile", b->cert, NULL };
        _cleanup_(closep) int fd = -EBADF;
        int r;

        snprintf(b->cert, sizeof(b->cert), "%s/cert.pem", b->dir);
        snprintf(b->key, sizeof(b->key), "%s/key.pem", b->dir);
        snprintf(b->template, sizeof(b->template), "%s/template", b->dir);
        fd = open(b->template, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, template, strlen(template)) != (ssize_t) strlen(template))
                return -EIO;
        if ((r = run_certtool(b, genkey)) < 0 || (r = run_certtool(b, gencert)) < 0)
                return r;
        return 0;
}

/* A free TCP port on 127.0.0.1 for the server. */
static int pick_port(Bench *b) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        _cleanup_(closep) int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        snprintf(b->port, sizeof(b->port), "%u", ntohs(sa.sin_port));
        return 0;
}

static int serv_start(Bench *b) {
        char slave[128];
        int r;

        b->pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (b->pty < 0)
                return -errno;
        if (grantpt(b->pty) < 0 || unlockpt(b->pty) < 0 || ptsname_r(b->pty, slave, sizeof(slave)) != 0)
                return -errno;
        if (fcntl(b->pty, F_SETFL, fcntl(b->pty, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        /* Kept open by us too, so that the master never reads EIO whoever has it open. */
        b->pty_slave = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (b->pty_slave < 0)
                return -errno;

        b->serv_pid = fork();
        if (b->serv_pid < 0)
                return -errno;
        if (b->serv_pid == 0) {
                const char *const argv[] = { "gnutls-serv", "--x509certfile", b->cert, "--x509keyfile", b->key,
                                             "-p", b->port, "--priority", TLS_PRIORITY,
                                             "--disable-client-cert", NULL };
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                signal(SIGPIPE, SIG_DFL);
                if (null < 0 || dup2(null, 0) < 0 || dup2(b->pty_slave, 1) < 0 || dup2(b->pty_slave, 2) < 0)
                        _exit(127);
                execv(b->gnutls_serv, (char *const *) argv);
                _exit(127);
        }

        /* Ready once it says its IPv4 listener is up. */
        for (uint64_t deadline = bench_now_nsec() + 10ULL * 1000000000ULL; !b->serv_ready;) {
                if ((r = pty_read(b)) < 0 || (r = serv_check(b)) < 0)
                        return r;
                if (bench_now_nsec() > deadline)
                        return -ETIMEDOUT;
                (void) bench_wait_fd(b->pty, POLLIN, 50);
        }
        return 0;
}

static int serv_stop(Bench *b) {
        int status = 0, r = 0;

        if (b->serv_pid > 0) {
                (void) kill(b->serv_pid, SIGTERM);
                r = bench_wait_pid(b->serv_pid, BENCH_STOP_TIMEOUT_MS, &status, NULL);
                /* gnutls-serv catches SIGTERM and exits with status 1 ("Exiting via signal"). */
                if (r == 0 && !WIFEXITED(status) && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                        r = -ECHILD;
                b->serv_pid = -1;
        }
        b->pty = safe_close(b->pty);
        b->pty_slave = safe_close(b->pty_slave);
        return r;
}

/* ---- 2: handshakes -------------------------------------------------------------------------- */

static int tcp_connect(const char *port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_(closep) int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        sa.sin_port = htons((uint16_t) atoi(port));
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* A client connection, through the library (s) or GnuTLS directly (g). */
typedef struct Conn {
        int fd;
        netutil_tls_session *s;
        gnutls_session_t g;
} Conn;

static void conn_close(Conn *c) {
        c->s = netutil_tls_session_free(c->s);
        if (c->g) {
                (void) gnutls_bye(c->g, GNUTLS_SHUT_WR); /* as netutil_tls_session_free() */
                gnutls_deinit(c->g);
                c->g = NULL;
        }
        c->fd = safe_close(c->fd);
}

/* Connects and runs the handshake through the library, on a context made before. */
static int ours_handshake(netutil_tls_context *ctx, const char *port, Conn *c) {
        char *error = NULL;
        int r;

        *c = (Conn) { .fd = tcp_connect(port) };
        if (c->fd < 0)
                return c->fd;
        r = netutil_tls_wrap(ctx, c->fd, TLS_HOSTNAME, 0, &c->s, &error);
        if (r < 0) {
                fprintf(stderr, "bench: netutil_tls_wrap: %s\n", error ? error : strerror(-r));
                free(error);
                return r;
        }
        r = netutil_tls_handshake(c->s);
        if (r < 0)
                fprintf(stderr, "bench: netutil_tls_handshake: %s\n",
                        netutil_tls_session_error(c->s) ?: strerror(-r));
        return r;
}

/* The same with GnuTLS called directly, as the library calls it. */
static int raw_handshake(Bench *b, Conn *c) {
        int r;

        *c = (Conn) { .fd = tcp_connect(b->port) };
        if (c->fd < 0)
                return c->fd;
        r = gnutls_init(&c->g, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
        if (r < 0) {
                c->g = NULL;
                return -ENOMEM;
        }
        if ((r = gnutls_priority_set(c->g, b->raw_priority)) < 0 ||
            (r = gnutls_credentials_set(c->g, GNUTLS_CRD_CERTIFICATE, b->raw_creds)) < 0 ||
            (r = gnutls_server_name_set(c->g, GNUTLS_NAME_DNS, TLS_HOSTNAME, strlen(TLS_HOSTNAME))) < 0)
                goto finish;
        gnutls_session_set_verify_cert(c->g, TLS_HOSTNAME, 0);
        gnutls_transport_set_int(c->g, c->fd);
        do
                r = gnutls_handshake(c->g);
        while (r < 0 && !gnutls_error_is_fatal(r));
finish:
        if (r < 0) {
                fprintf(stderr, "bench: GnuTLS handshake: %s\n", gnutls_strerror(r));
                gnutls_deinit(c->g);
                c->g = NULL;
        }
        return r < 0 ? -EPROTO : 0;
}

static int ours_context(const char *ca, netutil_tls_context **ret) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char *error = NULL;
        int r;

        o.ca_certs = ca;
        o.cert_reqs = NETUTIL_CERT_REQUIRED;
        o.priority = TLS_PRIORITY;
        r = netutil_tls_context_new(&o, 0, ret, &error);
        if (r < 0) {
                fprintf(stderr, "bench: netutil_tls_context_new: %s\n", error ? error : strerror(-r));
                free(error);
        }
        return r;
}

/* "ours" in a process of its own: bench-inprocess --tls-client PORT CAFILE. After the
 * handshake it waits, as gnutls-cli does, until it is killed (or the server closes):
 * closing at once with the server's session tickets unread would reset the connection
 * before the server has read our Finished. */
static int tls_client_main(const char *port, const char *ca) {
        netutil_tls_context *ctx = NULL;
        Conn c = { .fd = -EBADF };
        int r;

        r = ours_context(ca, &ctx);
        if (r >= 0)
                r = ours_handshake(ctx, port, &c);
        if (r >= 0) {
                char buf[256];
                while (netutil_tls_read(c.s, buf, sizeof(buf)) > 0)
                        ;
        }
        conn_close(&c);
        netutil_tls_context_free(ctx);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

typedef enum Proc {
        PROC_OURS,      /* this binary --tls-client */
        PROC_CLI,       /* gnutls-cli */
        PROC_OURS_NOOP, /* this binary --noop */
        PROC_CLI_NOOP,  /* gnutls-cli --version */
} Proc;

/* Runs one process; for the handshakes, the time is until the server has completed the
 * handshake, for the bare starts until the process has exited. Adds wall and CPU seconds
 * (the child's user + system time). */
static int proc_once(Bench *b, Proc p, double *sec, double *cpu) {
        const char *const argv_ours[] = { "bench-inprocess", "--tls-client", b->port, b->cert, NULL };
        const char *const argv_cli[] = { "gnutls-cli", "--x509cafile", b->cert, "--verify-hostname",
                                         TLS_HOSTNAME, "--sni-hostname", TLS_HOSTNAME, "--priority",
                                         TLS_PRIORITY, "--logfile", "/dev/null", "-p", b->port, "127.0.0.1",
                                         NULL };
        const char *const argv_ours_noop[] = { "bench-inprocess", "--noop", NULL };
        const char *const argv_cli_noop[] = { "gnutls-cli", "--version", NULL };
        const char *const *argv = p == PROC_OURS        ? argv_ours
                                  : p == PROC_CLI       ? argv_cli
                                  : p == PROC_OURS_NOOP ? argv_ours_noop
                                                        : argv_cli_noop;
        const char *path = p == PROC_OURS || p == PROC_OURS_NOOP ? "/proc/self/exe" : b->gnutls_cli;
        const bool handshake = p == PROC_OURS || p == PROC_CLI;
        unsigned want = b->descriptions + 1;
        struct rusage ru = {};
        int status = 0, r = 0, r2;
        uint64_t t0, t1;
        pid_t pid;

        if ((r = pty_read(b)) < 0)
                return r;
        t0 = bench_now_nsec();
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                signal(SIGPIPE, SIG_DFL);
                if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
                    (p != PROC_OURS && dup2(null, 2) < 0)) /* ours says nothing unless it fails */
                        _exit(127);
                execv(path, (char *const *) argv);
                _exit(127);
        }
        if (handshake)
                r = serv_wait(b, want, BENCH_IO_TIMEOUT_MS, &pid, &status);
        t1 = bench_now_nsec();

        if (pid > 0) {
                /* Both clients wait after their handshake (see tls_client_main()): done. */
                if (handshake)
                        (void) kill(pid, SIGKILL);
                r2 = bench_wait_pid(pid, BENCH_STOP_TIMEOUT_MS, &status, &ru);
                if (r >= 0 && r2 < 0)
                        r = r2;
                if (!handshake)
                        t1 = bench_now_nsec();
        }
        if (r >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
            !(handshake && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
                r = -EPROTO;
        if (r < 0) {
                fprintf(stderr, "bench: %s %s: %s (wait status 0x%x)\n", argv[0], argv[1], strerror(-r), status);
                return r;
        }
        *sec += bench_seconds_since(t0, t1);
        *cpu += (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
                (double) ru.ru_stime.tv_usec / 1e6;
        return 0;
}

/* One handshake in this process, ours (the library) or raw GnuTLS. Adds the wall and CPU
 * seconds of the client side: connect and handshake, then freeing the session and closing.
 * In between it waits, untimed, until the server has completed the handshake too (closing
 * earlier, with the session tickets unread, would reset the connection under the server),
 * so that every handshake also starts with an idle server. */
static int loop_once(Bench *b, Side s, double *sec, double *cpu) {
        unsigned want = b->descriptions + 1;
        uint64_t t0, t1, t2, t3, c0, c1, c2, c3;
        Conn c = { .fd = -EBADF };
        int r;

        if ((r = pty_read(b)) < 0)
                return r;
        t0 = bench_now_nsec();
        c0 = bench_thread_cpu_nsec();
        r = s == SIDE_OURS ? ours_handshake(b->tls, b->port, &c) : raw_handshake(b, &c);
        c1 = bench_thread_cpu_nsec();
        t1 = bench_now_nsec();
        if (r >= 0)
                r = serv_wait(b, want, BENCH_IO_TIMEOUT_MS, NULL, NULL);
        t2 = bench_now_nsec();
        c2 = bench_thread_cpu_nsec();
        conn_close(&c);
        c3 = bench_thread_cpu_nsec();
        t3 = bench_now_nsec();
        if (r < 0)
                return r;
        *sec += bench_seconds_since(t0, t1) + bench_seconds_since(t2, t3);
        *cpu += bench_seconds_since(c0, c1) + bench_seconds_since(c2, c3);
        return 0;
}

typedef enum TlsCase {
        TLS_PROC,  /* a process per handshake: ours against gnutls-cli */
        TLS_START, /* a process that does nothing: ours against gnutls-cli --version */
        TLS_LOOP,  /* in this process: the library against raw GnuTLS */
} TlsCase;

static int tls_one(Bench *b, TlsCase c, Side s, double *sec, double *cpu) {
        switch (c) {
        case TLS_PROC:
                return proc_once(b, s == SIDE_OURS ? PROC_OURS : PROC_CLI, sec, cpu);
        case TLS_START:
                return proc_once(b, s == SIDE_OURS ? PROC_OURS_NOOP : PROC_CLI_NOOP, sec, cpu);
        default:
                return loop_once(b, s, sec, cpu);
        }
}

static int case_tls(Bench *b, TlsCase c) {
        const unsigned per_slice = c == TLS_LOOP ? TLS_LOOP_PER_SLICE
                                   : c == TLS_PROC ? TLS_PROC_PER_SLICE
                                                   : START_PER_SLICE;
        double ms[_SIDE_MAX][BENCH_ROUNDS], cpu_ms[_SIDE_MAX][BENCH_ROUNDS], ignored = 0;
        int r = 0;

        for (Side s = 0; s < _SIDE_MAX && r >= 0; s++)
                for (unsigned i = 0; i < 2 && r >= 0; i++)
                        r = tls_one(b, c, s, &ignored, &ignored);

        for (unsigned round = 0; round < BENCH_ROUNDS && r >= 0; round++) {
                double sec[_SIDE_MAX] = { 0 }, cpu[_SIDE_MAX] = { 0 };

                for (unsigned slice = 0; slice < BENCH_SLICES && r >= 0; slice++)
                        for (unsigned k = 0; k < _SIDE_MAX && r >= 0; k++) {
                                Side s = (round + slice + k) % _SIDE_MAX;
                                for (unsigned i = 0; i < per_slice && r >= 0; i++)
                                        r = tls_one(b, c, s, &sec[s], &cpu[s]);
                        }
                for (Side s = 0; s < _SIDE_MAX; s++) {
                        ms[s][round] = sec[s] * 1e3 / (per_slice * BENCH_SLICES);
                        cpu_ms[s][round] = cpu[s] * 1e3 / (per_slice * BENCH_SLICES);
                }
        }
        if (r < 0)
                return r;
        switch (c) {
        case TLS_PROC:
                bench_add_row("2 TLS handshake, a process each", "unpinned", "gnutls-cli", BENCH_UNIT_MSEC,
                              ms[SIDE_OURS], ms[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_AT_MOST, 1.2);
                bench_add_row("2 CPU of that process", "unpinned", "gnutls-cli", BENCH_UNIT_MSEC,
                              cpu_ms[SIDE_OURS], cpu_ms[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
                break;
        case TLS_START:
                bench_add_row("2 program start and exit only", "unpinned", "gnutls-cli -v", BENCH_UNIT_MSEC,
                              ms[SIDE_OURS], ms[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_INFO, 0);
                break;
        case TLS_LOOP:
                bench_add_row("2 TLS handshake in-process, wrap helper", "unpinned", "GnuTLS direct",
                              BENCH_UNIT_MSEC, ms[SIDE_OURS], ms[SIDE_BASE], BENCH_ROUNDS, BENCH_GOAL_INFO,
                              0);
                bench_add_row("2 client CPU per in-process handshake", "unpinned", "GnuTLS direct",
                              BENCH_UNIT_MSEC, cpu_ms[SIDE_OURS], cpu_ms[SIDE_BASE], BENCH_ROUNDS,
                              BENCH_GOAL_INFO, 0);
                break;
        }
        return 0;
}

static int run_tls(Bench *b) {
        int r;

        if ((r = bench_find_program("certtool", b->certtool, sizeof(b->certtool))) < 0 ||
            (r = bench_find_program("gnutls-serv", b->gnutls_serv, sizeof(b->gnutls_serv))) < 0 ||
            (r = bench_find_program("gnutls-cli", b->gnutls_cli, sizeof(b->gnutls_cli))) < 0) {
                fprintf(stderr, "bench: certtool, gnutls-serv and gnutls-cli are needed (gnutls-bin)\n");
                return r;
        }
        if ((r = make_certificate(b)) < 0) {
                fprintf(stderr, "bench: cannot make the certificate: %s\n", strerror(-r));
                return r;
        }
        if ((r = pick_port(b)) < 0 || (r = serv_start(b)) < 0) {
                fprintf(stderr, "bench: gnutls-serv did not start: %s\n", strerror(-r));
                return r;
        }
        if ((r = ours_context(b->cert, &b->tls)) < 0)
                return r;
        if ((r = gnutls_certificate_allocate_credentials(&b->raw_creds)) < 0 ||
            (r = gnutls_certificate_set_x509_trust_file(b->raw_creds, b->cert, GNUTLS_X509_FMT_PEM)) < 0 ||
            (r = gnutls_priority_init2(&b->raw_priority, TLS_PRIORITY, NULL, 0)) < 0) {
                fprintf(stderr, "bench: GnuTLS setup: %s\n", gnutls_strerror(r));
                return -EIO;
        }
        printf("TLS: gnutls-serv pid %d on 127.0.0.1:%s, priority %s, ECDSA P-256 self-signed certificate;\n"
               "%u rounds, %u handshakes per round a process each, %u in-process.\n",
               (int) b->serv_pid, b->port, TLS_PRIORITY, BENCH_ROUNDS, TLS_PROC_PER_SLICE * BENCH_SLICES,
               TLS_LOOP_PER_SLICE * BENCH_SLICES);
        fprintf(stderr, "bench: TLS, a process per handshake...\n");
        if ((r = case_tls(b, TLS_PROC)) < 0)
                return r;
        fprintf(stderr, "bench: TLS, program starts...\n");
        if ((r = case_tls(b, TLS_START)) < 0)
                return r;
        fprintf(stderr, "bench: TLS, in-process...\n");
        return case_tls(b, TLS_LOOP);
}

/* ---- main --------------------------------------------------------------------------------- */

static void tls_free(Bench *b) {
        b->tls = netutil_tls_context_free(b->tls);
        if (b->raw_priority)
                gnutls_priority_deinit(b->raw_priority);
        b->raw_priority = NULL;
        if (b->raw_creds)
                gnutls_certificate_free_credentials(b->raw_creds);
        b->raw_creds = NULL;
}

/* Removes what we made in the temporary directory, then the directory. */
static int dir_remove(Bench *b) {
        static const char *const files[] = { "cert.pem", "key.pem", "template", "ours.sock", "base.sock" };

        if (!b->dir[0])
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char path[512];
                snprintf(path, sizeof(path), "%s/%s", b->dir, files[i]);
                (void) unlink(path);
        }
        if (rmdir(b->dir) < 0)
                return -errno;
        b->dir[0] = '\0';
        return 0;
}

/* $BENCH_PARTS: "accept", "tls" or both, comma-separated; both by default. */
static bool want_part(const char *part) {
        const char *e = getenv("BENCH_PARTS");
        size_t len = strlen(part);

        if (!e || !*e)
                return true;
        while (*e) {
                size_t n = strcspn(e, ",");
                if (n == len && strncmp(e, part, len) == 0)
                        return true;
                e += n + (e[n] == ',');
        }
        return false;
}

static int run(Bench *b) {
        uint64_t t0 = bench_now_nsec();
        int r;

        r = enter_netns(b);
        if (r < 0) {
                fprintf(stderr, "bench: cannot bring lo up in the new network namespace: %s\n", strerror(-r));
                return r;
        }
        r = bench_make_temp_dir(b->dir, sizeof(b->dir));
        if (r < 0) {
                fprintf(stderr, "bench: mkdtemp: %s\n", strerror(-r));
                return r;
        }
        printf("In-process helpers benchmark, %s; %u rounds per measurement, the median shown.\n"
               "Accept: %u connections per slice streaming (at most %u not yet closed), %u queued per slice;\n"
               "same-cpu = server and client on CPU %d; cross-cpu = server on CPU %d, client on CPU %d.\n",
               b->netns ? "in a fresh network namespace" : "in the current network namespace", BENCH_ROUNDS,
               STREAM_CONNS, STREAM_WINDOW, QUEUE_CONNS, b->cpu[0], b->cpu[1], b->cpu[0]);

        if (want_part("accept")) {
                r = run_accept(b);
                if (r < 0)
                        return r;
        }
        /* The accept part is over: its client goes, and we may run anywhere again. */
        servers_close(b);
        r = client_stop(b);
        if (r < 0) {
                fprintf(stderr, "bench: the client process did not stop cleanly: %s\n", strerror(-r));
                return r;
        }
        if (sched_setaffinity(0, sizeof(b->all_cpus), &b->all_cpus) < 0)
                return -errno;

        if (want_part("tls")) {
                r = run_tls(b);
                if (r < 0)
                        return r;
        }
        fprintf(stderr, "bench: done in %.1f s\n", bench_seconds_since(t0, bench_now_nsec()));
        return 0;
}

int main(int argc, char *argv[]) {
        Bench *b = &bench;
        BenchTally t = { 0 };
        int r, r2;

        if (argc == 4 && strcmp(argv[1], "--tls-client") == 0)
                return tls_client_main(argv[2], argv[3]);
        if (argc == 2 && strcmp(argv[1], "--noop") == 0)
                return EXIT_SUCCESS;
        if (argc > 1) {
                fprintf(stderr, "Usage: %s\n", argv[0]);
                return EXIT_FAILURE;
        }

        bench_setup(&(const BenchTableStyle) {
                .name_width = 42, .baseline_width = 16, .rule_width = 124,
                .coloc = false, .round_decimals = 2 });
        /* A reader that goes away (| head) must not keep us from stopping what we started. */
        signal(SIGPIPE, SIG_IGN);
        if (bench_get_cpus(&b->all_cpus, b->cpu) < 0)
                return EXIT_FAILURE;

        r = run(b);

        /* Everything we started goes, by its pid, whatever happened. */
        servers_close(b);
        r2 = client_stop(b);
        if (r2 < 0) {
                fprintf(stderr, "bench: the client process did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        r2 = serv_stop(b);
        if (r2 < 0) {
                fprintf(stderr, "bench: gnutls-serv did not stop cleanly: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        tls_free(b);
        r2 = dir_remove(b);
        if (r2 < 0) {
                fprintf(stderr, "bench: cannot remove the temporary directory: %s\n", strerror(-r2));
                if (r >= 0)
                        r = r2;
        }
        if (r < 0) {
                fprintf(stderr, "bench: FAILED: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        bench_print_table(&t);
        printf("\nTargets: %u met, %u missed.\n"
               "ratio: ours/baseline, only ever within one placement. spread: (max - min) / median of the\n"
               "rounds, ours/baseline. A process each: from fork() until gnutls-serv reports the handshake\n"
               "done, both programs exec()ed alike. CPU: user + system time of the process, or of this\n"
               "thread for the in-process handshakes.%s\n"
               "Timings never fail this program.\n",
               t.met, t.missed,
               b->quickack ? "" : "\nNo quickack route to 127.0.0.1 (no namespace of our own): the TLS rows include 40 ms\n"
                                  "Nagle/delayed-ACK stalls about every other handshake.");
        return EXIT_SUCCESS;
}
