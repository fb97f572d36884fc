/* SPDX-License-Identifier: MIT */

/*
 * Attacks on persistence (issue 13, items 8 and 9). Item 8: nobody pipelining rules without
 * expiry in its own scope, each of which rewrote and fsync()ed the state file on the event
 * loop, so that every other client waited for the disk (another uid's STATUS: p50 79 ms, max
 * 249 ms at 20 000 rules). Item 9: a state directory (or socket directory) that another uid
 * may write in, where nobody replaced the state file and a global rule came back pointing at
 * its address after a restart.
 *
 * The loop test does not time anything: it makes the disk as slow as it likes. A seccomp
 * filter installed in the test process (inherited by the daemon it starts) sends every
 * fsync() and fdatasync() to a supervisor thread of the test, which lets them through or
 * holds them until told. With the first write of the state file held, another uid's STATUS
 * must be answered (the loop does not wait for the disk), nobody's changes must still be
 * read and made (the daemon's rule count grows), and not one of them acknowledged (a reply
 * only after its write is durable). Released, the changes read meanwhile share one write
 * (group commit): fewer writes than changes. Before the fix the first STATUS was never
 * answered while the write was held.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attacks.h"
#include "macro.h"
#include "netutil-proto.h"
#include "netutil.h"
#include "testlib.h"

/* Changes nobody pipelines in the loop test: enough that many are read while one write is
 * held, below the default MaxPersistentRulesPerUser=1000. */
#define LOOP_CHANGES 400
/* The default MaxPersistentRulesPerUser= (daemon/conf.h). */
#define DEFAULT_CAP 1000
/* STATUS while the write is held: a generous ceiling for "answered", the hold lasts as long
 * as the test wants (for ever before the fix). */
#define STATUS_TIMEOUT_MS 5000

/* ---- the fsync gate ------------------------------------------------------------------- */

typedef struct FsyncGate {
        int listener;
        pthread_t thread;
        pthread_mutex_t lock;
        bool hold;
        unsigned seen; /* fsync()s and fdatasync()s trapped, held or not */
        uint64_t held[64];
        unsigned n_held;
} FsyncGate;

static FsyncGate gate = {.listener = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static void gate_continue(uint64_t id) {
        struct seccomp_notif_resp resp = {.id = id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};

        (void) ioctl(gate.listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* ENOENT: the caller died */
}

static void *gate_main(void *arg) {
        for (;;) {
                struct seccomp_notif req;
                bool held = false;

                memset(&req, 0, sizeof(req));
                if (ioctl(gate.listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                        if (errno == EINTR || errno == ENOENT)
                                continue;
                        return NULL;
                }
                pthread_mutex_lock(&gate.lock);
                gate.seen++;
                if (gate.hold && gate.n_held < ELEMENTSOF(gate.held)) {
                        gate.held[gate.n_held++] = req.id;
                        held = true;
                }
                pthread_mutex_unlock(&gate.lock);
                if (!held)
                        gate_continue(req.id);
        }
}

/* Traps fsync() and fdatasync() of this process and of every process it starts from now on
 * (the daemon), letting them through until gate_hold(). */
static void gate_install(void) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) SYS_fsync, 1, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) SYS_fdatasync, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(filter), .filter = filter};

        gate.listener = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        ck_assert_msg(gate.listener >= 0, "seccomp: %s", strerror(errno));
        ck_assert_int_eq(pthread_create(&gate.thread, NULL, gate_main, NULL), 0);
}

static void gate_hold(void) {
        pthread_mutex_lock(&gate.lock);
        gate.hold = true;
        pthread_mutex_unlock(&gate.lock);
}

static void gate_release(void) {
        pthread_mutex_lock(&gate.lock);
        gate.hold = false;
        for (unsigned i = 0; i < gate.n_held; i++)
                gate_continue(gate.held[i]);
        gate.n_held = 0;
        pthread_mutex_unlock(&gate.lock);
}

static void gate_counts(unsigned *seen, unsigned *held) {
        pthread_mutex_lock(&gate.lock);
        *seen = gate.seen;
        *held = gate.n_held;
        pthread_mutex_unlock(&gate.lock);
}

/* ---- nobody's pipeline ---------------------------------------------------------------- */

typedef struct Pipeline {
        const char *scope;
        unsigned first, count; /* hosts p{first}.test .. p{first+count-1}.test */
        uint64_t ttl_usec;
        int report; /* write end: the serial (unsigned) of each acknowledged change, host p{serial-1} */
        int close_fd; /* the parent's read end, closed in the child */
        /* The status and message the last change must get (0: every change succeeds). */
        int last_status;
        const char *last_message;
} Pipeline;

static int send_set(int fd, const Pipeline *p, unsigned i) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        char host[64];
        int r;

        snprintf(host, sizeof(host), "p%u.test", p->first + i);
        if ((r = proto_msg_new(PROTO_MSG_OVERRIDE_SET, i + 1, &m)) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, p->scope)) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_HOST, host)) < 0 ||
            (r = proto_msg_append_string(m, PROTO_ATTR_TARGET, "127.0.0.66")) < 0 ||
            (p->ttl_usec && (r = proto_msg_append_u64(m, PROTO_ATTR_TTL_USEC, p->ttl_usec)) < 0))
                return r;
        return proto_send(fd, m);
}

/* Sends every change as fast as the socket takes them, reading replies as they come; reports
 * each success on p->report. */
static void pipeline_child(void *arg) {
        const Pipeline *p = arg;
        int fd = attack_connect();
        unsigned sent = 0, answered = 0;

        if (p->close_fd >= 0)
                close(p->close_fd);
        ATTACK_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
        while (answered < p->count) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < p->count ? POLLOUT : 0)};

                ATTACK_CHECK(poll(&pfd, 1, 120000) > 0, "no progress for 120 s (%u sent, %u answered)", sent,
                             answered);
                if ((pfd.revents & POLLOUT) && sent < p->count) {
                        int r = send_set(fd, p, sent);

                        ATTACK_CHECK(r >= 0 || r == -EAGAIN, "send: %s", strerror(-r));
                        if (r >= 0)
                                sent++;
                }
                if (pfd.revents & (POLLIN | POLLHUP)) {
                        char msg[256];
                        unsigned serial = 0;
                        int status = -1, r = test_raw_reply(fd, 1000, &status, &serial, msg, sizeof(msg));

                        ATTACK_CHECK(r >= 1, "reply %u: %s", answered, strerror(-r));
                        ATTACK_CHECK(serial >= 1 && serial <= sent, "reply to %u, %u sent", serial, sent);
                        /* A refusal is answered at once, before changes that wait for a write. */
                        if (serial == p->count && p->last_status != 0) {
                                ATTACK_CHECK(status == p->last_status && strcmp(msg, p->last_message) == 0,
                                             "last change answered %d '%s', expected %d '%s'", status, msg,
                                             p->last_status, p->last_message);
                        } else {
                                ATTACK_CHECK(status == 0, "change %u refused: %d %s", serial, status, msg);
                                ATTACK_CHECK(write(p->report, &serial, sizeof(serial)) == sizeof(serial),
                                             "report: %s", strerror(errno));
                        }
                        answered++;
                }
        }
        close(fd);
}

/* Starts pipeline_child as nobody; *ret_report is the read end of its reports. */
static pid_t pipeline_start(Pipeline *p, int *ret_report) {
        int fds[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        p->report = fds[1];
        p->close_fd = fds[0];
        pid = attack_spawn_as(ATTACK_NOBODY, pipeline_child, p);
        close(fds[1]);
        *ret_report = fds[0];
        return pid;
}

/* Acknowledgements reported so far (non-blocking); each one's serial is marked in acked
 * (may be NULL), which has room for every serial. */
static unsigned acks_read(int report, bool *acked) {
        unsigned serial, n = 0;

        (void) fcntl(report, F_SETFL, O_NONBLOCK);
        while (read(report, &serial, sizeof(serial)) == sizeof(serial)) {
                if (acked)
                        acked[serial] = true;
                n++;
        }
        return n;
}

/* The daemon's rule count, asked by root (answered within STATUS_TIMEOUT_MS or fails). */
static unsigned daemon_overrides(void) {
        netutil_client *c = NULL;
        netutil_status *s = NULL;
        unsigned n;
        int r;

        ck_assert_int_eq(netutil_client_open(attack_daemon.socket, &c), 0);
        r = netutil_status_get(c, STATUS_TIMEOUT_MS * 1000ULL, &s);
        ck_assert_msg(r == 0, "root's STATUS not answered within %d ms: %s", STATUS_TIMEOUT_MS, strerror(-r));
        n = s->overrides;
        netutil_status_free(s);
        netutil_client_close(c);
        return n;
}

/* ---- item 8 --------------------------------------------------------------------------- */

START_TEST(test_persistent_rules_do_not_stall_the_loop_and_share_writes) {
        Pipeline p = {.scope = "nobody-persist", .count = LOOP_CHANGES};
        unsigned seen, held, made = 0, writes;
        int report;
        pid_t pid;

        gate_install();
        attack_start_daemon(NULL);
        gate_hold();
        pid = pipeline_start(&p, &report);

        /* The first write is held in its first fsync(): the daemon keeps reading and making
         * nobody's changes (up to its in-flight limits), and answers everyone else. */
        for (int i = 0; i < 600; i++) {
                gate_counts(&seen, &held);
                if (held > 0 && (made = daemon_overrides()) >= 10)
                        break;
                usleep(10000);
        }
        ck_assert_msg(held == 1, "%u fsync()s held, expected the first write's one", held);
        ck_assert_msg(made >= 10, "only %u of nobody's changes made while a write was held", made);
        for (int i = 0; i < 3; i++)
                (void) attack_assert_status_answered(ATTACK_OTHER, STATUS_TIMEOUT_MS);
        /* Not one acknowledged: nothing is durable yet. */
        ck_assert_uint_eq(acks_read(report, NULL), 0);
        gate_counts(&seen, &held);
        ck_assert_uint_eq(held, 1);

        gate_release();
        attack_wait_child(pid, 120);
        ck_assert_uint_eq(acks_read(report, NULL), LOOP_CHANGES);
        close(report);
        ck_assert_uint_eq(daemon_overrides(), LOOP_CHANGES);
        /* Two fsync()s per write (file and directory): the changes read while the first was
         * held shared a write. */
        gate_counts(&seen, &held);
        writes = seen / 2;
        ck_assert_msg(writes + (made - 2) <= LOOP_CHANGES, "%u writes for %u changes, %u of them read during one write",
                      writes, LOOP_CHANGES, made);
        attack_assert_healthy();
}
END_TEST

/* Percentile of sorted v[0..n). */
static long long percentile(const long long *v, size_t n, unsigned pct) {
        return n ? v[(n - 1) * pct / 100] : 0;
}

static int cmp_ll(const void *a, const void *b) {
        long long x = *(const long long *) a, y = *(const long long *) b;

        return x < y ? -1 : x > y;
}

typedef struct Prober {
        int stop; /* read end: STATUS round trips until it becomes readable */
        int report; /* write end: the round trips in µs */
        int close_fds[2];
} Prober;

static void prober_child(void *arg) {
        const Prober *pr = arg;
        uint8_t buf[PROTO_HEADER_SIZE];
        ProtoHeader h = {.version = PROTO_VERSION, .type = PROTO_MSG_STATUS};
        int fd = attack_connect();

        close(pr->close_fds[0]);
        close(pr->close_fds[1]);
        for (uint32_t serial = 1;; serial++) {
                struct pollfd s = {.fd = pr->stop, .events = POLLIN};
                struct timespec a, b;
                long long us;
                int status = -1, r;

                if (poll(&s, 1, 0) > 0)
                        break;
                h.serial = serial;
                memcpy(buf, &h, sizeof(h));
                clock_gettime(CLOCK_MONOTONIC, &a);
                ATTACK_CHECK(test_raw_send_fds(fd, buf, sizeof(buf), NULL, 0) == 0, "send: %s", strerror(errno));
                r = test_raw_reply(fd, 30000, &status, NULL, NULL, 0);
                clock_gettime(CLOCK_MONOTONIC, &b);
                ATTACK_CHECK(r >= 1 && status == 0, "STATUS: %d %d", r, status);
                us = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
                ATTACK_CHECK(write(pr->report, &us, sizeof(us)) == sizeof(us), "report: %s", strerror(errno));
                usleep(2000);
        }
}

START_TEST(test_persistent_rules_are_capped_per_uid_in_words) {
        static long long samples[200000];
        Pipeline p = {.scope = "nobody-cap",
                      .count = DEFAULT_CAP + 1,
                      .last_status = EDQUOT,
                      .last_message = "Quota exceeded: uid 65534 already has 1000 overrides without expiry "
                                      "(MaxPersistentRulesPerUser=1000); give this one a TTL or remove one"};
        Pipeline ttl = {.scope = "nobody-cap", .first = 5000, .count = 1, .ttl_usec = 600ULL * 1000000};
        Pipeline again = {.scope = "nobody-cap", .count = 1}; /* p0.test again: its own rule, replaced */
        int stop[2], times[2], report;
        size_t n = 0;
        ssize_t k;
        pid_t pid, prober;
        Prober pr;

        attack_start_daemon(NULL);
        /* uid 1234 measures its STATUS round trips meanwhile, for the figures only. */
        ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(times, O_CLOEXEC), 0);
        (void) fcntl(times[0], F_SETPIPE_SZ, 1 << 20); /* never full: the prober must not block */
        pr = (Prober){.stop = stop[0], .report = times[1], .close_fds = {stop[1], times[0]}};
        prober = attack_spawn_as(ATTACK_OTHER, prober_child, &pr);
        close(stop[0]);
        close(times[1]);

        pid = pipeline_start(&p, &report);
        attack_wait_child(pid, 120);
        ck_assert_uint_eq(acks_read(report, NULL), DEFAULT_CAP);
        close(report);
        close(stop[1]);
        attack_wait_child(prober, 60);
        while ((k = read(times[0], &samples[n], sizeof(samples[0]))) == sizeof(samples[0]) && n + 1 < ELEMENTSOF(samples))
                n++;
        close(times[0]);
        qsort(samples, n, sizeof(samples[0]), cmp_ll);
        fprintf(stderr, "attacks-persist: %d rules without expiry pipelined by nobody: uid 1234's STATUS p50 %lld us, "
                        "p99 %lld us, max %lld us over %zu round trips\n",
                DEFAULT_CAP, percentile(samples, n, 50), percentile(samples, n, 99), percentile(samples, n, 100), n);

        /* At the cap: a rule with a TTL still goes, and so does replacing one of its own. */
        pid = pipeline_start(&ttl, &report);
        attack_wait_child(pid, 30);
        ck_assert_uint_eq(acks_read(report, NULL), 1);
        close(report);
        pid = pipeline_start(&again, &report);
        attack_wait_child(pid, 30);
        ck_assert_uint_eq(acks_read(report, NULL), 1);
        close(report);
        ck_assert_uint_eq(daemon_overrides(), DEFAULT_CAP + 1);
        attack_assert_healthy();
}
END_TEST

START_TEST(test_acknowledged_rule_survives_kill_9_right_after_its_reply) {
        static char dir[] = "/tmp/netutild-persist.XXXXXX";
        char state[128], out[65536], err[1024], want[64];
        const char *extra[] = {"--state-dir", state, NULL};
        Pipeline p = {.scope = "nobody-kill", .count = 300};
        static bool acked[302];
        unsigned n = 0, serial;
        int report;
        pid_t pid;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(state, sizeof(state), "%s/state", dir);
        attack_start_daemon(extra);
        pid = pipeline_start(&p, &report);
        /* Killed right after the 50th reply reached nobody, while it pipelines on. */
        while (n < 50 && read(report, &serial, sizeof(serial)) == sizeof(serial)) {
                acked[serial] = true;
                n++;
        }
        ck_assert_int_eq(kill(attack_daemon.pid, SIGKILL), 0);
        test_daemon_kill(&attack_daemon);
        n += acks_read(report, acked);
        close(report);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_assert_uint_ge(n, 50);

        attack_start_daemon(extra);
        ck_assert_int_eq(test_ctl(attack_daemon.socket, NULL,
                                  (const char *[]){"override", "list", "--scope", "nobody-kill", NULL}, out,
                                  sizeof(out), err, sizeof(err)),
                         0);
        for (unsigned i = 1; i <= p.count; i++) {
                if (!acked[i])
                        continue;
                snprintf(want, sizeof(want), "nobody-kill p%u.test -> 127.0.0.66\n", i - 1);
                ck_assert_msg(strstr(out, want), "acknowledged rule p%u.test lost (%u acknowledged)", i - 1, n);
        }
        attack_assert_healthy();
        test_daemon_kill(&attack_daemon);
        test_rm_rf(dir);
}
END_TEST

/* ---- item 9 --------------------------------------------------------------------------- */

/* A state file that would steer every user's api.internal to nobody's address. */
static const char planted[] = "netutild-overrides 1\nglobal\nrule api.internal * * 10.6.6.6 * 65534\nend 1\n";

static void write_as(const char *path, const char *text, uid_t owner) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ck_assert_int_eq(fchown(fd, owner, owner), 0);
        close(fd);
}

static const struct {
        const char *name;
        uid_t owner;
        mode_t mode;
        bool socket_dir; /* the directory is the socket's, not the state's */
        const char *why;
} bad_dirs[] = {
        {"nobody's 0777 state directory", ATTACK_NOBODY, 0777, false,
         "it is owned by uid 65534, not by netutild's uid 0"},
        {"nobody's 0700 state directory", ATTACK_NOBODY, 0700, false,
         "it is owned by uid 65534, not by netutild's uid 0"},
        {"root's world-writable state directory", 0, 0777, false, "its mode 0777 lets every user write in it"},
        {"root's group-writable state directory", 0, 0770, false, "its mode 0770 lets its group write in it"},
        {"a sticky /tmp-like socket directory", 0, 01777, true, "its mode 1777 lets every user write in it"},
        {"nobody's socket directory", ATTACK_NOBODY, 0755, true, "it is owned by uid 65534, not by netutild's uid 0"},
};

START_TEST(test_daemon_refuses_a_directory_others_may_write) {
        char dir[] = "/tmp/netutild-baddir.XXXXXX", bad[128], state[128], sock[160], out[1024], err[4096], want[512];
        const char *argv[] = {test_netutild_bin(), "--user", "--socket", sock, "--state-dir", state, NULL};
        int status;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0755), 0);
        snprintf(bad, sizeof(bad), "%s/bad", dir);
        ck_assert_int_eq(mkdir(bad, 0700), 0);
        ck_assert_int_eq(chown(bad, bad_dirs[_i].owner, bad_dirs[_i].owner), 0);
        ck_assert_int_eq(chmod(bad, bad_dirs[_i].mode), 0);
        if (bad_dirs[_i].socket_dir) {
                snprintf(state, sizeof(state), "%s/state", dir);
                snprintf(sock, sizeof(sock), "%s/netutild.sock", bad);
        } else {
                snprintf(state, sizeof(state), "%s", bad);
                snprintf(sock, sizeof(sock), "%s/netutild.sock", dir);
                /* What nobody planted there is not loaded (the daemon does not start). */
                write_as(test_fmt(want, sizeof(want), "%s/overrides", bad), planted, ATTACK_NOBODY);
        }
        status = test_run(argv, out, sizeof(out), err, sizeof(err));
        ck_assert_msg(status == 1, "%s: exit status %d, stderr %s", bad_dirs[_i].name, status, err);
        if (bad_dirs[_i].socket_dir)
                test_fmt(want, sizeof(want), "Refusing the socket directory '%s': %s.", bad, bad_dirs[_i].why);
        else
                test_fmt(want, sizeof(want), "Refusing the state directory '%s': %s.", bad, bad_dirs[_i].why);
        ck_assert_msg(strstr(err, want), "%s: the log lacks '%s':\n%s", bad_dirs[_i].name, want, err);
        ck_assert_msg(access(sock, F_OK) < 0, "%s: the daemon made its socket", bad_dirs[_i].name);
        test_rm_rf(dir);
}
END_TEST

/* Starts the attack daemon on state with its stderr in log. */
static void start_logged(const char *state, const char *log) {
        const char *extra[] = {"--state-dir", state, NULL};

        attack_start_daemon_logged(extra, log);
}

static void assert_file_contains(const char *path, const char *needle) {
        ck_assert_msg(attack_count_in_file(path, needle) > 0, "'%s' lacks '%s'", path, needle);
}

/* nobody's address must not be what api.internal resolves to through the global table. */
static void assert_not_planted(void) {
        char out[4096], err[1024];

        ck_assert_int_eq(test_ctl(attack_daemon.socket, NULL, (const char *[]){"override", "list", NULL}, out,
                                  sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_msg(!strstr(out, "10.6.6.6"), "nobody's rule was loaded: %s", out);
}

START_TEST(test_state_file_of_another_owner_or_a_symlink_is_not_loaded) {
        char dir[] = "/tmp/netutild-planted.XXXXXX", state[128], file[160], target[160], log[160], want[512],
             out[4096], err[1024];
        struct stat st;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(file, sizeof(file), "%s/overrides", state);
        snprintf(target, sizeof(target), "%s/elsewhere", dir);
        snprintf(log, sizeof(log), "%s/log", dir);
        ck_assert_int_eq(mkdir(state, 0700), 0);

        /* A state file owned by nobody in a good directory: refused in words, moved aside. */
        write_as(file, planted, ATTACK_NOBODY);
        start_logged(state, log);
        assert_not_planted();
        assert_file_contains(log, test_fmt(want, sizeof(want),
                                           "State file '%s' is not usable (owned by uid 65534, not by netutild's "
                                           "uid 0).",
                                           file));
        ck_assert_int_eq(lstat(file, &st), -1);
        test_daemon_kill(&attack_daemon);

        /* A symlink as the state file, to a file that would load: not followed, moved aside;
         * the next save replaces the link's name, never writes through it. */
        write_as(target, planted, 0);
        ck_assert_int_eq(symlink(target, file), 0);
        start_logged(state, log);
        assert_not_planted();
        assert_file_contains(log, test_fmt(want, sizeof(want),
                                           "State file '%s' is not usable (a symbolic link, not followed).", file));
        ck_assert_int_eq(symlink(target, file), 0); /* planted again while the daemon runs */
        ck_assert_int_eq(test_ctl(attack_daemon.socket, NULL,
                                  (const char *[]){"override", "set", "mine.test", "127.0.0.7", NULL}, out,
                                  sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_int_eq(lstat(file, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && st.st_uid == 0, "the state file is not root's regular file");
        assert_file_contains(file, "mine.test");
        assert_file_contains(target, "10.6.6.6"); /* untouched */
        attack_assert_healthy();
        test_daemon_kill(&attack_daemon);
        test_rm_rf(dir);
}
END_TEST

void attacks_add_persist(Suite *s) {
        TCase *tc = test_tcase_add(s, "persistent rules", 300, NULL, attack_teardown, NULL);

        tcase_add_test(tc, test_persistent_rules_do_not_stall_the_loop_and_share_writes);
        tcase_add_test(tc, test_persistent_rules_are_capped_per_uid_in_words);
        tcase_add_test(tc, test_acknowledged_rule_survives_kill_9_right_after_its_reply);
        tc = test_tcase_add(s, "trusted directories", 60, NULL, attack_teardown, NULL);
        tcase_add_loop_test(tc, test_daemon_refuses_a_directory_others_may_write, 0, ELEMENTSOF(bad_dirs));
        tcase_add_test(tc, test_state_file_of_another_owner_or_a_symlink_is_not_loaded);
}
