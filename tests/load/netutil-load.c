/* SPDX-License-Identifier: MIT */

/*
 * netutil-load: the load test of issue 7 (part 4). Starts the real netutild in a private
 * network namespace with MaxClients equal to the number of load clients, connects that many
 * clients from one epoll loop, and keeps each of them busy for the run with one request at
 * a time, mixing BIND of an ephemeral port, retrieval of a held socket, override hits of
 * RESOLVE and override writes (a scope's rules with a TTL). While they run it connects
 * extra clients beyond MaxClients, each of which must get the clear EUSERS refusal, and
 * samples the daemon's RSS. It prints p50/p99/max latency, requests per second, RSS and
 * the daemon's fds, and exits 1 on any error it did not ask for, on a refusal that did not
 * come, or on an fd left over.
 *
 * It owns nothing of the daemon and must not change it: the daemon is a black box on its
 * socket. Latency is measured from send() to the last part of the reply in this process,
 * so it includes this loop's own queueing behind 1000 ready sockets.
 *
 * Usage: netutil-load [--clients N] [--seconds S] [--extra K]   (root: it unshares a netns)
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"
#include "testlib.h"

/* A request not answered within this long is an error (the library's default is 10 s). */
#define REQUEST_TIMEOUT_USEC (10ULL * 1000 * 1000)
/* A refusal beyond MaxClients must arrive within this long. */
#define REFUSAL_TIMEOUT_MS 2000
/* Override targets the resolves hit: a table this size, made before the run. */
#define N_HIT_RULES 100u
/* Latency samples kept: 32 M entries (128 MiB) is far above 60 s at any rate seen here. */
#define MAX_SAMPLES (32u * 1024 * 1024)
/* Error messages printed at most: the rest are only counted. */
#define MAX_ERRORS_SHOWN 10
#define SAMPLE_MASK ((1u << 30) - 1)

enum { OP_BIND, OP_HELD, OP_RESOLVE, OP_OVERRIDE_SET, _OP_MAX };
static const char *const op_names[_OP_MAX] = {"bind", "held retrieve", "resolve hit", "override write"};
/* The mix, one operation per slot, cycled per client from a different start. */
static const int op_cycle[] = {OP_BIND,    OP_HELD,         OP_RESOLVE, OP_RESOLVE, OP_RESOLVE,
                               OP_RESOLVE, OP_OVERRIDE_SET, OP_RESOLVE, OP_RESOLVE, OP_HELD};

typedef struct Client {
        int fd;
        unsigned id;
        unsigned step;
        uint32_t serial;
        uint64_t sent_usec; /* 0: nothing in flight */
        int op;
} Client;

static struct {
        uint32_t *samples;
        size_t n_samples;
        uint64_t requests[_OP_MAX];
        uint64_t errors, timeouts, errors_shown;
        uint64_t refused_ok, refused_bad;
} stats;

static ProtoRecv rcv;

static int die(const char *what, int r) {
        fprintf(stderr, "netutil-load: %s: %s\n", what, strerror(r < 0 ? -r : r));
        return 1;
}

static int lo_up(void) {
        struct ifreq ifr = {};
        int fd, r = 0;

        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        ifr.ifr_flags |= IFF_UP;
        if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int connect_daemon(const char *path, bool nonblock) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (strlen(path) >= sizeof(sa.sun_path)) {
                close(fd);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (nonblock)
                (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        return fd;
}

/* Builds the request of op for client c into *ret. */
static int build(const Client *c, int op, uint32_t serial, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        char host[64];
        int r;

        switch (op) {
        case OP_BIND:
        case OP_HELD:
                if ((r = proto_msg_new(PROTO_MSG_BIND, serial, &m)) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_ADDRESS, "127.0.0.1")) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_SERVICE, "0")) < 0 ||
                    (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_INET)) < 0)
                        return r;
                if (op == OP_HELD && ((r = proto_msg_append_string(m, PROTO_ATTR_NAME, "load-held")) < 0 ||
                                      (r = proto_msg_append_u32(m, PROTO_ATTR_HOLD, 1)) < 0))
                        return r;
                break;
        case OP_RESOLVE:
                snprintf(host, sizeof(host), "hit-%u.test", (c ? c->id + c->step : 0) % N_HIT_RULES);
                if ((r = proto_msg_new(PROTO_MSG_RESOLVE, serial, &m)) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_HOST, host)) < 0 ||
                    (r = proto_msg_append_u32(m, PROTO_ATTR_PORT, 80)) < 0 ||
                    (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, AF_INET)) < 0)
                        return r;
                break;
        case OP_OVERRIDE_SET:
                /* One rule per client, replaced each time: the table stays N rules. */
                snprintf(host, sizeof(host), "w-%u.test", c ? c->id : 0);
                if ((r = proto_msg_new(PROTO_MSG_OVERRIDE_SET, serial, &m)) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, "load")) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_HOST, host)) < 0 ||
                    (r = proto_msg_append_string(m, PROTO_ATTR_TARGET,
                                                 c && c->step % 2 ? "127.0.0.2" : "::1")) < 0 ||
                    (r = proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, 600ULL * 1000 * 1000)) < 0)
                        return r;
                break;
        default:
                return -EINVAL;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

/* A blocking request on fd for the set-up: returns the reply's status (0 or errno) or -errno. */
static int setup_call(int fd, ProtoMsg *m) {
        int r = proto_send(fd, m), status = 0;

        if (r < 0)
                return r;
        r = test_raw_reply(fd, 10000, &status, NULL, NULL, 0);
        return r < 0 ? r : status;
}

static int client_send(Client *c) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        int r;

        c->op = op_cycle[(c->id + c->step) % ELEMENTSOF(op_cycle)];
        c->serial++;
        r = build(c, c->op, c->serial, &m);
        if (r < 0)
                return r;
        c->sent_usec = now_usec();
        return proto_send(c->fd, m); /* SEQPACKET: a datagram of < 200 bytes never blocks here */
}

static void record_error(const Client *c, int status, const char *text) {
        stats.errors++;
        if (stats.errors_shown++ < MAX_ERRORS_SHOWN)
                fprintf(stderr, "netutil-load: client %u: %s failed: %s (%s)\n", c->id, op_names[c->op],
                        text && *text ? text : "no message", strerror(status));
}

/* Reads what arrived for c; returns true when the request in flight was answered. */
static bool client_read(Client *c) {
        for (;;) {
                const char *text = NULL;
                ProtoView v;
                ssize_t n = proto_recv(c->fd, &rcv);

                proto_recv_clear(&rcv); /* closes the fds handed over: we only count them */
                if (n == -EAGAIN)
                        return false;
                if (n <= 0) {
                        record_error(c, n < 0 ? (int) -n : ECONNRESET, "connection lost");
                        c->sent_usec = 0;
                        return false;
                }
                if (proto_parse(rcv.buf, (size_t) n, &v) < 0) {
                        record_error(c, EBADMSG, "reply does not parse");
                        continue;
                }
                if (v.header.serial != c->serial) {
                        (void) proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text);
                        record_error(c, v.header.status, text ? text : "reply with an unexpected serial");
                        continue;
                }
                if (v.header.flags & PROTO_FLAG_MORE)
                        continue;
                if (v.header.status != 0) {
                        (void) proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text);
                        record_error(c, v.header.status, text);
                }
                /* Microseconds in the low 30 bits (18 minutes), the operation in the top 2. */
                if (stats.n_samples < MAX_SAMPLES)
                        stats.samples[stats.n_samples++] =
                                (uint32_t) MIN(now_usec() - c->sent_usec, SAMPLE_MASK) | (uint32_t) c->op
                                                                                                 << 30;
                stats.requests[c->op]++;
                c->sent_usec = 0;
                return true;
        }
}

/* Connects k clients beyond the limit: each must get EUSERS with its message. */
static void check_refusals(const char *path, unsigned k) {
        for (unsigned i = 0; i < k; i++) {
                char msg[PROTO_MAX_ERROR_MESSAGE] = "";
                int fd = connect_daemon(path, false), status = 0, r;

                if (fd < 0) {
                        stats.refused_bad++;
                        fprintf(stderr, "netutil-load: extra client: connect: %s\n", strerror(-fd));
                        continue;
                }
                r = test_raw_reply(fd, REFUSAL_TIMEOUT_MS, &status, NULL, msg, sizeof(msg));
                if (r >= 1 && status == EUSERS && strstr(msg, "Too many clients (MaxClients="))
                        stats.refused_ok++;
                else {
                        stats.refused_bad++;
                        fprintf(stderr, "netutil-load: extra client beyond MaxClients: %s, status %d, '%s'\n",
                                r < 0 ? strerror(-r) : "reply", status, msg);
                }
                close(fd);
        }
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* Prints p50/p99/max of the samples of op (all of them for op < 0), in place: keeps the
 * selected samples' latencies at the front of a scratch copy. */
static void print_percentiles(const char *label, int op, uint32_t *scratch) {
        size_t n = 0;

        for (size_t i = 0; i < stats.n_samples; i++)
                if (op < 0 || (int) (stats.samples[i] >> 30) == op)
                        scratch[n++] = stats.samples[i] & SAMPLE_MASK;
        if (n == 0)
                return;
        qsort(scratch, n, sizeof(uint32_t), cmp_u32);
        printf("netutil-load: %-14s latency p50 %8.3f ms, p99 %8.3f ms, max %8.3f ms (%zu requests)\n", label,
               scratch[n / 2] / 1000.0, scratch[(size_t) ((double) n * 0.99)] / 1000.0,
               scratch[n - 1] / 1000.0, n);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                {"clients", required_argument, NULL, 'c'},
                {"seconds", required_argument, NULL, 's'},
                {"extra", required_argument, NULL, 'e'},
                {},
        };
        unsigned n_clients = 100, seconds = 5, extra = 10;
        char conf[64], conf_text[128], setup_host[64];
        const char *args[] = {"--config", conf, NULL};
        TestDaemon d = {.pid = -1};
        struct rlimit rl;
        Client *clients = NULL;
        uint64_t start, end, last_sample = 0;
        long rss_start, rss_max, rss_end;
        int ep, setup_fd, baseline, fds_end, r, c;
        unsigned refusal_rounds = 0;
        bool ok;

        while ((c = getopt_long(argc, argv, "c:s:e:", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        n_clients = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        seconds = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'e':
                        extra = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                default:
                        fprintf(stderr, "Usage: %s [--clients N] [--seconds S] [--extra K]\n", argv[0]);
                        return 2;
                }
        }
        if (n_clients == 0 || n_clients > 60000 || seconds == 0) {
                fprintf(stderr, "netutil-load: --clients 1-60000 and --seconds >= 1\n");
                return 2;
        }

        /* Our fds: every client, the handed-over sockets for a moment, and slack. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < n_clients + extra + 64) {
                fprintf(stderr, "netutil-load: RLIMIT_NOFILE %llu is too low for %u clients\n",
                        (unsigned long long) rl.rlim_cur, n_clients);
                return 1;
        }
        r = lo_up();
        if (r < 0)
                return die("private network namespace (run as root)", r);
        signal(SIGPIPE, SIG_IGN);

        /* MaxClients = the load clients: the set-up connection is closed before they come. */
        snprintf(conf, sizeof(conf), "/tmp/netutil-load-conf.XXXXXX");
        r = mkstemp(conf);
        if (r < 0)
                return die("config file", -errno);
        snprintf(conf_text, sizeof(conf_text), "[Daemon]\nMaxClients=%u\n", n_clients);
        if (write(r, conf_text, strlen(conf_text)) != (ssize_t) strlen(conf_text))
                return die("config file", -EIO);
        close(r);
        r = test_daemon_start_pdeathsig(&d, args);
        unlink(conf);
        if (r < 0)
                return die("starting netutild", r);

        /* Set-up: the held socket and the rules the resolves hit. */
        setup_fd = connect_daemon(d.socket, false);
        if (setup_fd < 0)
                return die("connect", setup_fd);
        for (unsigned i = 0; i <= N_HIT_RULES; i++) {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
                if (i == N_HIT_RULES)
                        r = build(NULL, OP_HELD, i + 1, &m);
                else {
                        snprintf(setup_host, sizeof(setup_host), "hit-%u.test", i);
                        if ((r = proto_msg_new(PROTO_MSG_OVERRIDE_SET, i + 1, &m)) >= 0 &&
                            (r = proto_msg_append_string(m, PROTO_ATTR_HOST, setup_host)) >= 0)
                                r = proto_msg_append_string(m, PROTO_ATTR_TARGET, "127.0.0.1");
                }
                if (r >= 0)
                        r = setup_call(setup_fd, m);
                if (r != 0) {
                        test_daemon_stop(&d);
                        return die("set-up request", r < 0 ? r : -r);
                }
        }
        close(setup_fd);
        /* Baseline: the daemon's fds with the held socket, once the set-up client is gone. */
        usleep(200000);
        baseline = test_count_fds(d.pid);
        rss_start = rss_max = test_rss_kib(d.pid);

        stats.samples = malloc(sizeof(uint32_t) * MAX_SAMPLES);
        clients = calloc(n_clients, sizeof(Client));
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (!stats.samples || !clients || ep < 0)
                return die("memory", -ENOMEM);
        for (unsigned i = 0; i < n_clients; i++) {
                Client *cl = &clients[i];
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cl};

                cl->id = i;
                cl->fd = connect_daemon(d.socket, true);
                if (cl->fd < 0) {
                        test_daemon_stop(&d);
                        return die("connecting the load clients", cl->fd);
                }
                if (epoll_ctl(ep, EPOLL_CTL_ADD, cl->fd, &ev) < 0)
                        return die("epoll_ctl", -errno);
        }
        fprintf(stderr, "netutil-load: %u clients connected (MaxClients=%u), running %u s\n", n_clients,
                n_clients, seconds);

        start = now_usec();
        end = start + (uint64_t) seconds * 1000000;
        for (unsigned i = 0; i < n_clients; i++)
                if (client_send(&clients[i]) < 0)
                        record_error(&clients[i], EIO, "send");

        for (bool stopping = false;;) {
                struct epoll_event evs[256];
                uint64_t now = now_usec();
                unsigned busy = 0;
                int n;

                if (now >= end)
                        stopping = true;
                /* Refusals at a third and two thirds of the run, while everyone is busy. */
                if (!stopping && refusal_rounds < 2 &&
                    now >= start + (end - start) * (refusal_rounds + 1) / 3) {
                        check_refusals(d.socket, extra);
                        refusal_rounds++;
                }
                if (now - last_sample >= 1000000) {
                        long rss = test_rss_kib(d.pid);
                        rss_max = MAX(rss_max, rss);
                        last_sample = now;
                }
                n = epoll_wait(ep, evs, (int) ELEMENTSOF(evs), 100);
                for (int i = 0; i < n; i++) {
                        Client *cl = evs[i].data.ptr;
                        if (cl->sent_usec == 0) { /* nothing asked: drain what came */
                                (void) proto_recv(cl->fd, &rcv);
                                proto_recv_clear(&rcv);
                                continue;
                        }
                        if (client_read(cl) && !stopping) {
                                cl->step++;
                                if (client_send(cl) < 0)
                                        record_error(cl, EIO, "send");
                        }
                }
                now = now_usec();
                for (unsigned i = 0; i < n_clients; i++) {
                        Client *cl = &clients[i];
                        if (cl->sent_usec == 0)
                                continue;
                        if (now - cl->sent_usec > REQUEST_TIMEOUT_USEC) {
                                stats.timeouts++;
                                record_error(cl, ETIMEDOUT, "no reply within 10 s");
                                cl->sent_usec = 0;
                                continue;
                        }
                        busy++;
                }
                if (stopping && busy == 0)
                        break;
        }
        end = now_usec();
        rss_end = test_rss_kib(d.pid);
        rss_max = MAX(rss_max, rss_end);

        for (unsigned i = 0; i < n_clients; i++)
                close(clients[i].fd);
        close(ep);
        /* Every client's fd is given back; the held socket stays. */
        fds_end = test_wait_fd_count(d.pid, baseline, 5000);

        uint64_t total = 0;
        for (int op = 0; op < _OP_MAX; op++)
                total += stats.requests[op];
        double secs = (double) (end - start) / 1e6;
        printf("netutil-load: %u clients for %.1f s: %llu requests (%.0f/s): bind %llu, held retrieve %llu, "
               "resolve hit %llu, override write %llu\n",
               n_clients, secs, (unsigned long long) total, (double) total / secs,
               (unsigned long long) stats.requests[OP_BIND], (unsigned long long) stats.requests[OP_HELD],
               (unsigned long long) stats.requests[OP_RESOLVE],
               (unsigned long long) stats.requests[OP_OVERRIDE_SET]);
        {
                uint32_t *scratch = malloc(sizeof(uint32_t) * MAX(stats.n_samples, (size_t) 1));
                if (!scratch)
                        return die("memory", -ENOMEM);
                print_percentiles("all", -1, scratch);
                for (int op = 0; op < _OP_MAX; op++)
                        print_percentiles(op_names[op], op, scratch);
                free(scratch);
        }
        printf("netutil-load: daemon RSS %ld KiB at start, %ld KiB max, %ld KiB at end; fds %d at start, %d "
               "at end\n",
               rss_start, rss_max, rss_end, baseline, fds_end);
        printf("netutil-load: errors not asked for: %llu (timeouts %llu); clients beyond MaxClients refused "
               "clearly: %llu of %llu\n",
               (unsigned long long) stats.errors, (unsigned long long) stats.timeouts,
               (unsigned long long) stats.refused_ok,
               (unsigned long long) (stats.refused_ok + stats.refused_bad));

        ok = stats.errors == 0 && stats.refused_bad == 0 && stats.refused_ok == 2ULL * extra &&
             fds_end == baseline && total > 0;
        r = test_daemon_stop(&d);
        if (!(WIFEXITED(r) && WEXITSTATUS(r) == 0)) {
                fprintf(stderr, "netutil-load: the daemon did not exit cleanly (wait status 0x%x)\n", r);
                ok = false;
        }
        free(stats.samples);
        free(clients);
        printf("netutil-load: %s\n", ok ? "PASS" : "FAIL");
        return ok ? 0 : 1;
}
