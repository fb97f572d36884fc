/* SPDX-License-Identifier: MIT */

/* The benchmarks' shared harness: see benchlib.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "benchlib.h"

/* ---- Time ---------------------------------------------------------------------------------- */

static uint64_t clock_nsec(clockid_t id) {
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

uint64_t bench_now_nsec(void) {
        return clock_nsec(CLOCK_MONOTONIC);
}

uint64_t bench_thread_cpu_nsec(void) {
        return clock_nsec(CLOCK_THREAD_CPUTIME_ID);
}

double bench_seconds_since(uint64_t t0, uint64_t t1) {
        return t1 > t0 ? (double) (t1 - t0) / 1e9 : 1e-9;
}

int bench_wait_fd(int fd, short events, int timeout_ms) {
        struct pollfd p = {.fd = fd, .events = events};

        for (;;) {
                int r = poll(&p, 1, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

/* ---- The result table ------------------------------------------------------------------------ */

static BenchRow rows[64];
static size_t n_rows;
static BenchTableStyle style;
static bool verbose; /* $BENCH_VERBOSE: every round on stderr */

void bench_setup(const BenchTableStyle *s) {
        const char *e = getenv("BENCH_VERBOSE");

        setvbuf(stdout, NULL, _IOLBF, 0);
        verbose = e && *e && strcmp(e, "0") != 0;
        style = *s;
}

double bench_median(const double *v, size_t n) {
        double s[BENCH_ROUNDS];

        if (n == 0 || n > BENCH_ROUNDS)
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

double bench_spread(const double *v, size_t n) {
        double lo = v[0], hi = v[0], m = bench_median(v, n);

        for (size_t i = 1; i < n; i++) {
                lo = MIN(lo, v[i]);
                hi = MAX(hi, v[i]);
        }
        return m > 0 ? (hi - lo) / m : 0;
}

BenchRow *bench_add_row(const char *name, const char *placement, const char *baseline, BenchUnit unit,
                        const double *ours, const double *base, size_t n, BenchGoal goal, double target) {
        if (n_rows >= ELEMENTSOF(rows))
                return NULL;
        if (verbose && n > 1) {
                fprintf(stderr, "bench: %s, %s: rounds", name, placement);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, " %.*f", style.round_decimals, ours[i]);
                fprintf(stderr, " | %s:", baseline);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, " %.*f", style.round_decimals, base[i]);
                fputc('\n', stderr);
        }
        rows[n_rows] = (BenchRow){
                .name = name,
                .placement = placement,
                .baseline = baseline,
                .unit = unit,
                .ours = bench_median(ours, n),
                .base = bench_median(base, n),
                .spread_ours = bench_spread(ours, n),
                .spread_base = bench_spread(base, n),
                .goal = goal,
                .target = target,
                .coloc_ours = -1,
                .coloc_base = -1,
        };
        return &rows[n_rows++];
}

void bench_row_set_coloc(BenchRow *w, double ours, double base) {
        if (w) {
                w->coloc_ours = ours;
                w->coloc_base = base;
        }
}

static void format_value(char *buf, size_t len, BenchUnit unit, double v) {
        switch (unit) {
        case BENCH_UNIT_USEC:
                snprintf(buf, len, "%.2f us", v);
                break;
        case BENCH_UNIT_MSEC:
                snprintf(buf, len, "%.3f ms", v);
                break;
        case BENCH_UNIT_RPS:
                snprintf(buf, len, "%.1fk/s", v / 1000.0);
                break;
        case BENCH_UNIT_KIB:
                snprintf(buf, len, "%.0f KiB", v);
                break;
        }
}

void bench_print_table(BenchTally *t) {
        printf("\n%-*s %-9s %11s %11s %-*s %6s %7s %-6s ", style.name_width, "case", "placement", "ours",
               "baseline", style.baseline_width, "(baseline is)", "ratio", "target", "result");
        if (style.coloc)
                printf("%-9s %s\n", "spread", "colocated");
        else
                printf("%s\n", "spread");
        for (size_t i = 0; i < style.rule_width; i++)
                putchar('-');
        putchar('\n');
        for (size_t i = 0; i < n_rows; i++) {
                const BenchRow *w = &rows[i];
                char ours[32], base[32], target[16], spr[32], coloc[32] = "-";
                double ratio = w->base > 0 ? w->ours / w->base : 0;
                const char *result = "info";

                format_value(ours, sizeof(ours), w->unit, w->ours);
                format_value(base, sizeof(base), w->unit, w->base);
                if (w->goal == BENCH_GOAL_AT_MOST) {
                        snprintf(target, sizeof(target), "<=%.2fx", w->target);
                        result = ratio <= w->target ? "PASS" : "MISS";
                } else if (w->goal == BENCH_GOAL_AT_LEAST) {
                        snprintf(target, sizeof(target), ">=%.2fx", w->target);
                        result = ratio >= w->target ? "PASS" : "MISS";
                } else if (w->goal == BENCH_GOAL_OVERHEAD_AT_MOST) {
                        snprintf(target, sizeof(target), "+%.2f%s", w->target,
                                 w->unit == BENCH_UNIT_USEC ? "us" : "ms");
                        result = w->ours - w->base <= w->target ? "PASS" : "MISS";
                } else
                        snprintf(target, sizeof(target), "-");
                if (style.coloc && w->coloc_ours >= 0 && w->coloc_base >= 0) {
                        snprintf(coloc, sizeof(coloc), "%.0f%%/%.0f%%", w->coloc_ours * 100,
                                 w->coloc_base * 100);
                        if (w->goal != BENCH_GOAL_INFO &&
                            (w->coloc_ours - w->coloc_base > BENCH_COLOC_UNLIKE ||
                             w->coloc_base - w->coloc_ours > BENCH_COLOC_UNLIKE))
                                result = "UNLIKE";
                }
                if (w->goal != BENCH_GOAL_INFO) {
                        if (strcmp(result, "PASS") == 0)
                                t->met++;
                        else if (strcmp(result, "MISS") == 0)
                                t->missed++;
                        else
                                t->unlike++;
                }
                snprintf(spr, sizeof(spr), "%.0f%%/%.0f%%", w->spread_ours * 100, w->spread_base * 100);
                printf("%-*s %-9s %11s %11s %-*s %5.2fx %7s %-6s ", style.name_width, w->name, w->placement,
                       ours, base, style.baseline_width, w->baseline, ratio, target, result);
                if (style.coloc)
                        printf("%-9s %s\n", spr, coloc);
                else
                        printf("%s\n", spr);
        }
}

/* ---- CPUs and placement ----------------------------------------------------------------------- */

int bench_get_cpus(cpu_set_t *all, int cpu[2]) {
        if (sched_getaffinity(0, sizeof(*all), all) < 0) {
                int r = -errno;
                fprintf(stderr, "bench: sched_getaffinity: %s\n", strerror(-r));
                return r;
        }
        cpu[0] = cpu[1] = -1;
        for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
                if (CPU_ISSET(i, all))
                        cpu[k++] = i;
        return 0;
}

const char *const bench_placement_label[_BENCH_PLACE_MAX] = {
        [BENCH_PLACE_SAME_CPU] = "same-cpu",
        [BENCH_PLACE_CROSS_CPU] = "cross-cpu",
        [BENCH_PLACE_UNPINNED] = "unpinned",
};

int bench_parse_placements(BenchPlacement ret[static _BENCH_PLACE_MAX], size_t *ret_n) {
        const char *e = getenv("BENCH_PLACEMENTS");
        size_t n = 0;

        if (!e || !*e) {
                for (BenchPlacement p = 0; p < _BENCH_PLACE_MAX; p++)
                        ret[n++] = p;
                *ret_n = n;
                return 0;
        }
        while (*e) {
                size_t len = strcspn(e, ",");
                BenchPlacement p = 0;

                while (p < _BENCH_PLACE_MAX && !(strlen(bench_placement_label[p]) == len &&
                                                 strncmp(bench_placement_label[p], e, len) == 0))
                        p++;
                if (p == _BENCH_PLACE_MAX || n == _BENCH_PLACE_MAX) {
                        fprintf(stderr, "bench: BENCH_PLACEMENTS takes same-cpu, cross-cpu and unpinned, "
                                        "comma-separated\n");
                        return -EINVAL;
                }
                ret[n++] = p;
                e += len + (e[len] == ',');
        }
        *ret_n = n;
        return 0;
}

bool bench_placement_cpus(BenchPlacement p, const cpu_set_t *all, const int cpu[2], cpu_set_t *servers,
                          cpu_set_t *clients) {
        CPU_ZERO(servers);
        CPU_ZERO(clients);
        if (p == BENCH_PLACE_SAME_CPU) {
                CPU_SET(cpu[0], servers);
                CPU_SET(cpu[0], clients);
        } else if (p == BENCH_PLACE_CROSS_CPU) {
                if (cpu[1] < 0)
                        return false;
                CPU_SET(cpu[1], servers);
                CPU_SET(cpu[0], clients);
        } else
                *servers = *clients = *all;
        return true;
}

int bench_pin_pid(pid_t pid, const cpu_set_t *set) {
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

int bench_task_stat(pid_t pid, char *buf, size_t len, char **ret) {
        char path[64], *p;
        _cleanup_(closep) int fd = -EBADF;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, len - 1);
        if (n <= 0)
                return n < 0 ? -errno : -EIO;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold anything but ends with ')' */
        if (!p || p[1] != ' ' || !p[2])
                return -EIO;
        *ret = p + 2;
        return 0;
}

int bench_task_cpu(pid_t pid) {
        char buf[1024], *p;
        int cpu = -1, r;

        r = bench_task_stat(pid, buf, sizeof(buf), &p);
        if (r < 0)
                return r;
        /* p is at field 3 (state); each step moves to the space in front of the next field,
         * so 36 of them reach the space in front of field 39. */
        p--;
        for (unsigned i = 0; i < 36 && p; i++)
                p = strchr(p + 1, ' ');
        if (!p || sscanf(p, " %d", &cpu) != 1 || cpu < 0)
                return -EIO;
        return cpu;
}

unsigned bench_colocated(pid_t server) {
        int cpu = bench_task_cpu(server);
        return cpu >= 0 && cpu == sched_getcpu();
}

/* ---- Files, programs, children ------------------------------------------------------------------ */

int bench_make_temp_dir(char *dir, size_t len) {
        snprintf(dir, len, "/tmp/netutil-bench.XXXXXX");
        if (!mkdtemp(dir)) {
                int r = -errno;
                dir[0] = '\0';
                return r;
        }
        return 0;
}

int bench_write_file(const char *path, const void *data, size_t len) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

int bench_find_program(const char *name, char *buf, size_t len) {
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

int bench_wait_pid(pid_t pid, int timeout_ms, int *ret_status, struct rusage *ret_usage) {
        uint64_t deadline = bench_now_nsec() + (uint64_t) timeout_ms * 1000000ULL;
        struct rusage ru;
        int status = 0;

        for (;;) {
                pid_t w = wait4(pid, &status, WNOHANG, &ru);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (bench_now_nsec() > deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        return -ETIMEDOUT;
                }
                usleep(200);
        }
        *ret_status = status;
        if (ret_usage)
                *ret_usage = ru;
        return 0;
}

int bench_stop_child(pid_t *pid, int *ret_status) {
        int r;

        *ret_status = 0;
        if (*pid <= 0)
                return 0;
        (void) kill(*pid, SIGTERM);
        r = bench_wait_pid(*pid, BENCH_STOP_TIMEOUT_MS, ret_status, NULL);
        *pid = -1;
        return r;
}

void bench_drain_notify(const TestDaemon *d) {
        char buf[4096];

        while (d->notify_fd >= 0 && recv(d->notify_fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                ;
}

/* ---- The raw protocol on SOCK_SEQPACKET ----------------------------------------------------------- */

int bench_unix_connect(const char *path, int type) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
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

void bench_raw_close(BenchRawConn *c) {
        c->fd = safe_close(c->fd);
        c->req = proto_msg_free(c->req);
        if (c->rcv) {
                proto_recv_clear(c->rcv);
                free(c->rcv);
                c->rcv = NULL;
        }
}

int bench_raw_open(BenchRawConn *c, const char *path, ProtoMsg *req) {
        int r;

        *c = (BenchRawConn){.fd = -EBADF, .req = req};
        c->rcv = calloc(1, sizeof(ProtoRecv));
        if (!c->rcv) {
                r = -ENOMEM;
                goto fail;
        }
        r = bench_unix_connect(path, SOCK_SEQPACKET);
        if (r < 0)
                goto fail;
        c->fd = r;
        return 0;
fail:
        bench_raw_close(c);
        return r;
}

uint32_t bench_raw_next_serial(BenchRawConn *c) {
        if (++c->serial == 0) /* serial 0 is the daemon's own messages */
                c->serial = 1;
        return c->serial;
}

int bench_raw_send(BenchRawConn *c, uint32_t serial) {
        proto_msg_header(c->req)->serial = serial;
        for (;;) {
                int r = proto_send(c->fd, c->req);
                if (r != -EAGAIN)
                        return r;
                r = bench_wait_fd(c->fd, POLLOUT, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        return r;
        }
}

/* ---- The echo server ------------------------------------------------------------------------------ */

/* Sends buf and waits while the socket is full: with send(), or with sendmsg() and fd
 * attached if fd >= 0 (as the daemon sends a one-socket reply). */
static int echo_send(int sock, const void *buf, size_t len, int fd) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = {.iov_base = (void *) buf, .iov_len = len};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };

        if (fd >= 0) {
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        for (;;) {
                ssize_t n = fd >= 0 ? sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)
                                    : send(sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = bench_wait_fd(sock, POLLOUT, BENCH_IO_TIMEOUT_MS);
                if (r < 0)
                        return r;
        }
}

/* One wake-up of one connection, shaped as the daemon's conn_io(). */
static void echo_conn(int ep, int fd, uint32_t events, uint8_t *reply, size_t reply_size, int held) {
        static uint8_t buf[PROTO_MAX_MSG];
        bool dead = false;

        if (events & EPOLLIN) {
                for (unsigned i = 0; i < BENCH_ECHO_READ_BATCH && !dead; i++) {
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

int bench_echo_serve(int lfd, const char *reply_path, int held_fd) {
        static uint8_t reply[PROTO_MAX_MSG];
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
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
                                echo_conn(ep, events[i].data.fd, events[i].events, reply, (size_t) size,
                                          held_fd);
                                continue;
                        }
                        for (unsigned k = 0; k < BENCH_ECHO_READ_BATCH; k++) {
                                struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP};
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

int bench_echo_start(BenchEcho *e, const char *dir, const char *argv0, const void *reply, size_t reply_size) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_(closep) int lfd = -EBADF;
        int r;

        e->pid = -1;
        snprintf(e->socket, sizeof(e->socket), "%s/echo.sock", dir);
        snprintf(e->reply_path, sizeof(e->reply_path), "%s/reply", dir);
        if (strlen(e->socket) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, e->socket);

        r = bench_write_file(e->reply_path, reply, reply_size);
        if (r < 0)
                return r;
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return -errno;
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, SOMAXCONN) < 0)
                return -errno;

        /* The listening socket goes over as fd 3, so clients can connect right away. */
        e->pid = fork();
        if (e->pid < 0)
                return -errno;
        if (e->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (lfd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(lfd, 3) < 0)
                        _exit(127);
                /* A libc-only echo program if one is named, so that its RSS is a fair
                 * baseline; else this binary again. */
                const char *bin = getenv("BENCH_ECHO_BIN");
                if (bin && *bin)
                        execl(bin, bin, "--echo-server", "3", e->reply_path, (char *) NULL);
                else
                        execl("/proc/self/exe", argv0, "--echo-server", "3", e->reply_path, (char *) NULL);
                _exit(127);
        }
        return 0;
}

int bench_echo_stop(BenchEcho *e) {
        int status, r = 0;

        if (e->pid > 0) {
                r = bench_stop_child(&e->pid, &status);
                /* It is expected to die of our SIGTERM; anything else is a breakage. */
                if (r == 0 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                        r = -ECHILD;
        }
        if (e->socket[0])
                (void) unlink(e->socket);
        if (e->reply_path[0])
                (void) unlink(e->reply_path);
        e->socket[0] = e->reply_path[0] = '\0';
        return r;
}

int bench_mount_text_over(const char *dir, const char *target, const char *text) {
        char path[300];
        int r;

        if ((size_t) snprintf(path, sizeof(path), "%s/mnt-over", dir) >= sizeof(path))
                return -ENAMETOOLONG;
        r = bench_write_file(path, text, strlen(text));
        if (r < 0)
                return r;
        r = mount(path, target, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
        (void) unlink(path);
        return r;
}

int bench_enter_namespaces(void) {
        struct ifreq ifr = { 0 };
        _cleanup_(closep) int fd = -EBADF;

        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        unsetenv("NETUTIL_SCOPE");
        unsetenv("NETUTILD_SOCKET");
        return 0;
}
