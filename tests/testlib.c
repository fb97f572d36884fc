/* SPDX-License-Identifier: MIT */

/* Test helpers (testlib.h): the real daemon on a temporary socket, bounded in time. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *test_netutild_bin(void) {
        const char *e = getenv("NETUTILD_BIN");
        return e && *e ? e : "./netutild";
}

const char *test_netutilctl_bin(void) {
        const char *e = getenv("NETUTILCTL_BIN");
        return e && *e ? e : "./netutilctl";
}

/* Removes path and, if it is a real directory, what is below it; never follows a symlink. */
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
                rm_rf(sub);
        }
        closedir(d);
        return rmdir(path) < 0 ? -errno : 0;
}

static int make_notify_socket(TestDaemon *d, char *path, size_t len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1;

        snprintf(path, len, "%s/notify", d->dir);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->notify_fd < 0)
                return -errno;
        if (bind(d->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        (void) setsockopt(d->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        return 0;
}

static int start(TestDaemon *d, const char *const *argv_template, const char *const *extra_args, bool wait_ready) {
        char notify[300];
        const char *argv[64];
        char subst[64][512];
        size_t n = 0;
        int r;

        memset(d, 0, sizeof(*d));
        d->pid = -1;
        d->notify_fd = -1;
        snprintf(d->dir, sizeof(d->dir), "/tmp/netutild-test.XXXXXX");
        if (!mkdtemp(d->dir))
                return -errno;
        snprintf(d->socket, sizeof(d->socket), "%s/netutild.sock", d->dir);
        r = make_notify_socket(d, notify, sizeof(notify));
        if (r < 0)
                goto fail;

        if (argv_template) {
                for (; argv_template[n] && n < 63; n++) {
                        const char *a = argv_template[n];
                        if (strcmp(a, "@SOCKET@") == 0)
                                a = d->socket;
                        else if (strcmp(a, "@DIR@") == 0)
                                a = d->dir;
                        else if (strcmp(a, "@NETUTILD@") == 0)
                                a = test_netutild_bin();
                        snprintf(subst[n], sizeof(subst[n]), "%s", a);
                        argv[n] = subst[n];
                }
        } else {
                static char state[300];
                snprintf(state, sizeof(state), "%s/state", d->dir);
                argv[n++] = test_netutild_bin();
                argv[n++] = "--user";
                argv[n++] = "--socket";
                argv[n++] = d->socket;
                argv[n++] = "--state-dir";
                argv[n++] = state;
                for (size_t i = 0; extra_args && extra_args[i] && n < 63; i++)
                        argv[n++] = extra_args[i];
        }
        argv[n] = NULL;

        d->pid = fork();
        if (d->pid < 0) {
                r = -errno;
                goto fail;
        }
        if (d->pid == 0) {
                setenv("NOTIFY_SOCKET", notify, 1);
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("WATCHDOG_USEC");
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }

        if (!wait_ready)
                return 0;
        r = test_daemon_wait_notify(d, "READY=1", 10000, NULL, 0);
        if (r < 0)
                goto fail;
        return 0;

fail:
        test_daemon_stop_signal(d, SIGKILL);
        return r;
}

int test_daemon_start(TestDaemon *d, const char *const *extra_args) {
        return start(d, NULL, extra_args, true);
}

int test_daemon_start_argv(TestDaemon *d, const char *const *argv, bool wait_ready) {
        return start(d, argv, NULL, wait_ready);
}

int test_daemon_wait_notify(TestDaemon *d, const char *needle, int timeout_ms, char *buf, size_t len) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                char msg[4096];
                struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
                long long left = deadline - now_ms();
                ssize_t n;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                n = recv(d->notify_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
                if (n < 0)
                        continue;
                msg[n] = '\0';
                if (strstr(msg, needle)) {
                        if (buf && len > 0)
                                snprintf(buf, len, "%s", msg);
                        return 0;
                }
        }
}

int test_daemon_stop_signal(TestDaemon *d, int sig) {
        if (d->pid > 0) {
                long long deadline = now_ms() + 10000;
                int status = 0;

                kill(d->pid, sig);
                for (;;) {
                        pid_t w = waitpid(d->pid, &status, WNOHANG);
                        if (w == d->pid)
                                break;
                        if (w < 0 && errno != EINTR)
                                break;
                        if (now_ms() > deadline) {
                                kill(d->pid, SIGKILL);
                                waitpid(d->pid, &status, 0);
                                break;
                        }
                        usleep(5000);
                }
                d->exit_status = status;
                d->pid = -1;
        }
        if (d->notify_fd >= 0) {
                close(d->notify_fd);
                d->notify_fd = -1;
        }
        if (d->dir[0]) {
                rm_rf(d->dir);
                d->dir[0] = '\0';
        }
        return d->exit_status;
}

int test_daemon_stop(TestDaemon *d) {
        return test_daemon_stop_signal(d, SIGTERM);
}

int test_count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *dir;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        dir = opendir(path);
        if (!dir)
                return -errno;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return pid == getpid() ? n - 1 : n; /* our own count includes the DIR's fd */
}

long test_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -ENODATA;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

int test_wait_fd_count(pid_t pid, int want, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        int n;

        for (;;) {
                n = test_count_fds(pid);
                if (n == want || now_ms() > deadline)
                        return n;
                usleep(10000);
        }
}

static void drain(int fd, char *buf, size_t len, size_t *used) {
        char scratch[4096];
        ssize_t n;

        for (;;) {
                bool to_buf = buf && *used + 1 < len;
                n = read(fd, to_buf ? buf + *used : scratch, to_buf ? len - 1 - *used : sizeof(scratch));
                if (n <= 0)
                        break;
                if (to_buf) {
                        *used += (size_t) n;
                        buf[*used] = '\0';
                }
        }
}

int test_run(const char *const *argv, char *out, size_t outlen, char *err, size_t errlen) {
        int po[2], pe[2], status = 0;
        size_t uo = 0, ue = 0;
        long long deadline = now_ms() + 10000;
        bool open_o = true, open_e = true;
        pid_t pid;

        if (out && outlen)
                out[0] = '\0';
        if (err && errlen)
                err[0] = '\0';
        if (pipe2(po, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(pe, O_CLOEXEC) < 0) {
                close(po[0]);
                close(po[1]);
                return -errno;
        }
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                dup2(po[1], 1);
                dup2(pe[1], 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(po[1]);
        close(pe[1]);
        fcntl(po[0], F_SETFL, O_NONBLOCK);
        fcntl(pe[0], F_SETFL, O_NONBLOCK);

        while ((open_o || open_e) && now_ms() < deadline) {
                struct pollfd p[2] = { { .fd = open_o ? po[0] : -1, .events = POLLIN },
                                       { .fd = open_e ? pe[0] : -1, .events = POLLIN } };
                if (poll(p, 2, 100) < 0 && errno != EINTR)
                        break;
                if (p[0].revents) {
                        drain(po[0], out, outlen, &uo);
                        if (p[0].revents & POLLHUP)
                                open_o = false;
                }
                if (p[1].revents) {
                        drain(pe[0], err, errlen, &ue);
                        if (p[1].revents & POLLHUP)
                                open_e = false;
                }
        }
        close(po[0]);
        close(pe[0]);
        if (open_o || open_e)
                kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}
