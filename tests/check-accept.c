/* SPDX-License-Identifier: MIT */

/*
 * netutil_add_accept_handler() and its remove/free (client/accept.c) against Tornado's
 * add_accept_handler (shared/reference/tornado-netutil.md §3) and the contract in
 * netutil.h: 128 accepts per wake-up (300 queued give 128, 128, 44), EAGAIN ending the
 * batch, ECONNABORTED skipped and counted, EINTR retried, other errors reported with the
 * handler kept, removal and free from inside the callback, -EEXIST for a second handler on
 * one (loop, fd), the state and address of accepted sockets, and EMFILE/ENFILE: reported
 * once per episode, retried on a timer without spinning, and recovered from.
 *
 * Linux never returns ECONNABORTED or EINTR from accept4() on a non-blocking TCP or unix
 * listener (a connection reset in the queue is still accepted; the reset shows on the
 * first read), so this program defines accept4() itself: the library's calls bind to it
 * (the executable comes first in symbol lookup), it counts them, and it can fail the next
 * ones with chosen errors before passing through to the real system call. Tests that rely
 * on it assert that it saw the calls.
 *
 * TCP tests run in a fresh network namespace with lo up (TCase tag "netns", needs root);
 * the test at a real RLIMIT_NOFILE limit is tagged "rlimit" (valgrind virtualises that
 * limit). A CK_FORK=no run under valgrind must set CK_EXCLUDE_TAGS="netns rlimit". Every
 * test counts the open fds of the process before and after (checked fixture).
 */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"

/* Seconds per test: the slowest waits 1 s twice on the retry timer. */
#define TEST_TIMEOUT 30
/* Tornado's per-wake-up limit, which the library must keep. */
#define BATCH 128u
/* Connections of the reference's observation (§3.2): 128 + 128 + 44. */
#define QUEUED 300u
/* listen() backlog for QUEUED connections: the queue holds backlog + 1 on Linux. */
#define BACKLOG 512
/* The library's pause after EMFILE/ENFILE (client/accept.c); the bounds below use it. */
#define RETRY_USEC (100ULL * 1000ULL)
/* How long the EMFILE tests watch a paused handler: ten retry intervals. */
#define WATCH_USEC (1000ULL * 1000ULL)
/* How long to wait for something that should happen at the next retry. */
#define RECOVER_USEC (1000ULL * 1000ULL)

/* ---- accept4() seen by the library --------------------------------------------------- */

static unsigned accept4_calls;
static unsigned inject_after; /* calls to pass through before failing */
static int inject_errno;      /* errno the next inject_count calls fail with */
static unsigned inject_count; /* UINT_MAX: all of them */

static void inject_ex(int error, unsigned after, unsigned count) {
        inject_after = after;
        inject_errno = error;
        inject_count = count;
}

static void inject(int error, unsigned count) {
        inject_ex(error, 0, count);
}

/* Interposes libc's accept4() for the whole process: see the top of the file. */
_public_ int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags) {
        accept4_calls++;
        if (inject_after > 0)
                inject_after--;
        else if (inject_count > 0) {
                if (inject_count != UINT_MAX)
                        inject_count--;
                errno = inject_errno;
                return -1;
        }
        return (int) syscall(SYS_accept4, fd, addr.__sockaddr__, len, flags);
}

/* ---- Fixture ------------------------------------------------------------------------- */

/* Checked fixture: no injection, no calls seen, and the open fds of the process counted
 * before and after. */
static void setup(void) {
        accept4_calls = 0;
        inject(0, 0);
        test_fd_count_setup();
}

static void teardown(void) {
        inject(0, 0);
        test_fd_count_teardown();
}

/* ---- Helpers ------------------------------------------------------------------------- */

/* A listening, non-blocking unix stream socket on an abstract name the kernel picks. */
static int unix_listener(int backlog) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        /* Only the family: Linux autobinds an abstract name. */
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa_family_t)), 0);
        ck_assert_int_eq(listen(fd, backlog), 0);
        return fd;
}

/* A listening, non-blocking TCP socket on the loopback address of family, port 0. */
static int tcp_listener(int family, int backlog) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } a = {};
        socklen_t len = 0;
        int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        if (family == AF_INET) {
                a.in.sin_family = AF_INET;
                a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(a.in);
        } else {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_addr = in6addr_loopback;
                len = sizeof(a.in6);
        }
        ck_assert_int_eq(bind(fd, &a.sa, len), 0);
        ck_assert_int_eq(listen(fd, backlog), 0);
        return fd;
}

/* A blocking client connected to listener (queued there until accepted). If bind_first,
 * a unix client binds to an autobound abstract name of its own before connecting. */
static int connect_to_ex(int listener, bool bind_first) {
        struct sockaddr_storage sa = {};
        socklen_t len = sizeof(sa);
        int fd = -EBADF;

        ck_assert_int_eq(getsockname(listener, (struct sockaddr *) &sa, &len), 0);
        fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        if (bind_first) {
                struct sockaddr_un self = { .sun_family = AF_UNIX };
                ck_assert_int_eq(bind(fd, (struct sockaddr *) &self, sizeof(sa_family_t)), 0);
        }
        ck_assert_msg(connect(fd, (struct sockaddr *) &sa, len) == 0, "connect: %s", strerror(errno));
        return fd;
}

static int connect_to(int listener) {
        return connect_to_ex(listener, false);
}

/* n clients queued on listener, in a new array (close_all() frees it). */
static int *queue_connections(int listener, unsigned n) {
        int *fds = calloc(n, sizeof(int));

        ck_assert_ptr_nonnull(fds);
        for (unsigned i = 0; i < n; i++)
                fds[i] = connect_to(listener);
        return fds;
}

static void close_all(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                safe_close(fds[i]);
        free(fds);
}

/* Connections still queued on listener (accepts and closes them, directly). */
static unsigned drain(int listener) {
        unsigned n = 0;
        int fd = -EBADF;

        while ((fd = (int) syscall(SYS_accept4, listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                safe_close(fd);
                n++;
        }
        ck_assert_int_eq(errno, EAGAIN);
        return n;
}

static void assert_still_listening(int listener) {
        int v = 0;
        socklen_t len = sizeof(v);

        ck_assert_int_ge(fcntl(listener, F_GETFD), 0);
        ck_assert_int_eq(getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
        ck_assert_int_eq(v, 1);
}

/* What the callback saw, and what it should do. */
typedef enum Action {
        ACT_NONE,
        ACT_REMOVE,       /* netutil_accept_handler_remove() */
        ACT_REMOVE_TWICE, /* ... twice */
        ACT_FREE,         /* netutil_accept_handler_free() */
} Action;

typedef struct Recorder {
        unsigned n_conns;
        unsigned n_errors;
        int last_error;
        bool error_args_ok;    /* every error came with addr NULL and len 0 */
        bool keep_fd;          /* keep the last accepted fd in fd (else close it) */
        int fd;
        int fd_status_flags;   /* F_GETFL of the last accepted fd */
        int fd_fd_flags;       /* F_GETFD of the last accepted fd */
        struct sockaddr_storage addr;
        socklen_t addr_len;
        bool addr_nonnull;
        Action on_conn, on_error;
        bool freed;            /* the callback freed the handler */
} Recorder;

#define RECORDER_INIT { .error_args_ok = true, .fd = -EBADF }

static void act(netutil_accept_handler *h, Recorder *rec, Action a) {
        switch (a) {
        case ACT_NONE:
                break;
        case ACT_REMOVE:
                ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
                break;
        case ACT_REMOVE_TWICE:
                ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
                ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
                break;
        case ACT_FREE:
                ck_assert_ptr_null(netutil_accept_handler_free(h));
                rec->freed = true;
                break;
        }
}

static void on_accept(netutil_accept_handler *h, int fd, const struct sockaddr *addr, socklen_t addr_len,
                      void *userdata) {
        Recorder *rec = userdata;

        ck_assert_ptr_nonnull(h);
        if (fd < 0) {
                rec->n_errors++;
                rec->last_error = fd;
                if (addr || addr_len != 0)
                        rec->error_args_ok = false;
                act(h, rec, rec->on_error);
                return;
        }

        rec->n_conns++;
        rec->fd_status_flags = fcntl(fd, F_GETFL);
        rec->fd_fd_flags = fcntl(fd, F_GETFD);
        rec->addr_nonnull = addr != NULL;
        rec->addr_len = addr_len;
        ck_assert_uint_le(addr_len, sizeof(rec->addr));
        if (addr && addr_len > 0)
                memcpy(&rec->addr, addr, addr_len);
        if (rec->keep_fd) {
                safe_close(rec->fd);
                rec->fd = fd;
        } else
                safe_close(fd);
        act(h, rec, rec->on_conn);
}

/* Runs e for usec; returns the number of iterations that dispatched a source. */
static unsigned run_for(sd_event *e, uint64_t usec) {
        uint64_t end = now_usec() + usec, now = 0;
        unsigned dispatched = 0;

        while ((now = now_usec()) < end) {
                int r = sd_event_run(e, end - now);

                ck_assert_int_ge(r, 0);
                if (r > 0)
                        dispatched++;
        }
        return dispatched;
}

/* Runs e until *counter reaches want or usec passes; returns the time taken. */
static uint64_t run_until(sd_event *e, const unsigned *counter, unsigned want, uint64_t usec) {
        uint64_t start = now_usec(), end = start + usec, now = 0;

        while (*counter < want && (now = now_usec()) < end)
                ck_assert_int_ge(sd_event_run(e, end - now), 0);
        ck_assert_uint_eq(*counter, want);
        return now_usec() - start;
}

static sd_event *new_event(void) {
        sd_event *e = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        return e;
}

/* ---- Batches ------------------------------------------------------------------------- */

/* §3.2 [observed]: 300 queued before registration give 128, 128 and 44 per wake-up. Each
 * sd_event_run(e, 0) dispatches one source: one batch. */
static void check_batches_of_128(int listener) {
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, QUEUED);
        const unsigned want[] = { 128, 128, 44 };

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_ptr_nonnull(h);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                unsigned before = rec.n_conns;

                ck_assert_int_eq(sd_event_run(e, 0), 1);
                ck_assert_uint_eq(rec.n_conns - before, want[i]);
        }
        /* Nothing left: no wake-up, no more accepts. 128 + 128 + 44 successes and the
         * EAGAIN that ended the third batch. */
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(rec.n_conns, QUEUED);
        ck_assert_uint_eq(rec.n_errors, 0);
        ck_assert_uint_eq(accept4_calls, QUEUED + 1);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
        close_all(clients, QUEUED);
        sd_event_unref(e);
}

START_TEST(test_accept_300_queued_unix_are_taken_128_128_44_per_wakeup) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);

        check_batches_of_128(listener);
}
END_TEST

START_TEST(test_accept_300_queued_tcp_are_taken_128_128_44_per_wakeup) {
        _cleanup_(closep) int listener = -EBADF;

        test_enter_netns();
        listener = tcp_listener(AF_INET, BACKLOG);
        check_batches_of_128(listener);
}
END_TEST

/* Another source of the loop runs between two batches: a flood does not starve it. */
static int on_defer(sd_event_source *s, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

START_TEST(test_accept_other_sources_run_between_batches) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event_source *defer = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, QUEUED);
        unsigned n_defer = 0, conns_at_defer = UINT_MAX;

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_add_defer(e, &defer, on_defer, &n_defer), 0);
        ck_assert_int_eq(sd_event_source_set_enabled(defer, SD_EVENT_ONESHOT), 0);
        /* Same priority: sd-event alternates pending sources, so the defer source runs
         * after at most one batch. */
        while (n_defer == 0) {
                ck_assert_int_eq(sd_event_run(e, 0), 1);
                if (n_defer > 0)
                        conns_at_defer = rec.n_conns;
        }
        ck_assert_uint_le(conns_at_defer, BATCH);
        ck_assert_uint_eq(rec.n_conns % BATCH, 0);

        sd_event_source_unref(defer);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, QUEUED);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_eagain_ends_the_batch_with_one_extra_call) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 3);

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 3);
        ck_assert_uint_eq(accept4_calls, 4);
        ck_assert_uint_eq(rec.n_errors, 0);
        /* Nothing queued: the handler is not woken. */
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(accept4_calls, 4);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 3);
        sd_event_unref(e);
}
END_TEST

/* ---- Removal and free ---------------------------------------------------------------- */

/* §3.4 [observed]: of 10 queued, exactly 1 is accepted when the callback removes. */
START_TEST(test_accept_remove_inside_callback_accepts_exactly_one_of_ten) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 10);

        rec.on_conn = ACT_REMOVE;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert_uint_eq(accept4_calls, 1);
        /* Removed: no more wake-ups; the listener is open with the other 9 queued. */
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(rec.n_conns, 1);
        assert_still_listening(listener);
        ck_assert_uint_eq(drain(listener), 9);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
        close_all(clients, 10);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_remove_twice_inside_callback_is_fine) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 3);

        rec.on_conn = ACT_REMOVE_TWICE;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
        ck_assert_uint_eq(drain(listener), 2);

        close_all(clients, 3);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_remove_before_any_wakeup_accepts_nothing_and_keeps_the_listener) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 2);

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
        ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(rec.n_conns, 0);
        ck_assert_uint_eq(accept4_calls, 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
        ck_assert_uint_eq(drain(listener), 2);

        close_all(clients, 2);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_free_inside_callback_is_deferred_and_stops_the_batch) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 5);

        rec.on_conn = ACT_FREE;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert(rec.freed);
        h = NULL;
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert_uint_eq(accept4_calls, 1);
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        assert_still_listening(listener);
        ck_assert_uint_eq(drain(listener), 4);

        close_all(clients, 5);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_free_inside_error_callback_is_deferred) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 2);

        rec.on_error = ACT_FREE;
        inject(ENOBUFS, 1);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert(rec.freed);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(rec.last_error, -ENOBUFS);
        ck_assert_uint_eq(rec.n_conns, 0);
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(drain(listener), 2);

        close_all(clients, 2);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_handler_outliving_its_loop_reference_is_freed_cleanly) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        /* The caller drops its reference first; the handler's sources keep the loop. */
        e = sd_event_unref(e);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
}
END_TEST

/* ---- Registration -------------------------------------------------------------------- */

START_TEST(test_accept_second_handler_on_same_fd_and_loop_is_eexist) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL, *h2 = NULL, *sentinel = (netutil_accept_handler *) &rec;
        sd_event *e = new_event(), *other = new_event();

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        h2 = sentinel;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h2), -EEXIST);
        ck_assert_ptr_eq(h2, sentinel);

        /* Another loop may watch the same fd. */
        h2 = NULL;
        ck_assert_int_eq(netutil_add_accept_handler(other, listener, on_accept, &rec, &h2), 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h2));

        /* Once removed (not yet freed), the fd can be watched again on e. */
        ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
        h2 = NULL;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h2), 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        ck_assert_ptr_null(netutil_accept_handler_free(h2));

        /* And after free too. */
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h));

        sd_event_unref(other);
        sd_event_unref(e);
}
END_TEST

/* While paused after EMFILE the io source is off, and sd-event alone would accept a second
 * source for the fd: the library's own registry must refuse it. */
START_TEST(test_accept_second_handler_while_paused_is_eexist) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL, *h2 = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 1);

        inject(EMFILE, UINT_MAX);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h2), -EEXIST);
        ck_assert_ptr_null(h2);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 1);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_rejects_invalid_arguments) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();

        ck_assert_int_eq(netutil_add_accept_handler(NULL, listener, on_accept, &rec, &h), -EINVAL);
        ck_assert_int_eq(netutil_add_accept_handler(e, -1, on_accept, &rec, &h), -EINVAL);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, NULL, &rec, &h), -EINVAL);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, NULL), -EINVAL);
        ck_assert_ptr_null(h);
        ck_assert_int_eq(netutil_accept_handler_remove(NULL), -EINVAL);
        ck_assert_ptr_null(netutil_accept_handler_free(NULL));

        /* Nothing was registered: the fd can still be watched. */
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_refuses_fds_that_are_not_nonblocking_listeners) {
        _cleanup_(closep) int unbound = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        _cleanup_(closep) int blocking = unix_listener(BACKLOG);
        int pipefd[2] = { -EBADF, -EBADF }, closed = -EBADF;
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();

        ck_assert_int_ge(unbound, 0);
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
        /* A number that was just closed and that nothing reopens before it is used. */
        closed = fcntl(pipefd[0], F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(closed, 0);
        ck_assert_int_eq(close(closed), 0);

        ck_assert_int_eq(netutil_add_accept_handler(e, pipefd[0], on_accept, &rec, &h), -ENOTSOCK);
        ck_assert_int_eq(netutil_add_accept_handler(e, closed, on_accept, &rec, &h), -EBADF);
        ck_assert_int_eq(netutil_add_accept_handler(e, unbound, on_accept, &rec, &h), -EINVAL);
        ck_assert_int_eq(fcntl(blocking, F_SETFL, fcntl(blocking, F_GETFL) & ~O_NONBLOCK), 0);
        ck_assert_int_eq(netutil_add_accept_handler(e, blocking, on_accept, &rec, &h), -EINVAL);
        ck_assert_ptr_null(h);
        ck_assert_uint_eq(accept4_calls, 0);

        safe_close(pipefd[0]);
        safe_close(pipefd[1]);
        sd_event_unref(e);
}
END_TEST

/* ---- The accepted connection --------------------------------------------------------- */

/* §3.3: blocking, close-on-exec, whatever the listener (non-blocking here); the fd is the
 * callback's and the connection works. */
START_TEST(test_accept_accepted_fd_is_blocking_cloexec_and_owned_by_the_callback) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        _cleanup_(closep) int client = -EBADF;
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        char buf[4] = {};

        ck_assert(fcntl(listener, F_GETFL) & O_NONBLOCK);
        client = connect_to(listener);
        rec.keep_fd = true;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert_int_ge(rec.fd_status_flags, 0);
        ck_assert_int_eq(rec.fd_status_flags & O_NONBLOCK, 0);
        ck_assert_int_eq(rec.fd_fd_flags, FD_CLOEXEC);

        /* Still open after the callback returned, and connected to the client. */
        ck_assert_int_eq(fcntl(rec.fd, F_GETFL) & O_NONBLOCK, 0);
        ck_assert_int_eq(write(rec.fd, "ping", 4), 4);
        ck_assert_int_eq(read(client, buf, sizeof(buf)), 4);
        ck_assert_int_eq(memcmp(buf, "ping", 4), 0);

        rec.fd = safe_close(rec.fd);
        ck_assert_ptr_null(netutil_accept_handler_free(h));
        sd_event_unref(e);
}
END_TEST

/* §3.3: '' for unix peers, bound or not: addr is given, its length is 0. */
START_TEST(test_accept_unix_peer_address_is_empty) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int clients[2] = { -EBADF, -EBADF };

        clients[0] = connect_to_ex(listener, false);
        clients[1] = connect_to_ex(listener, true);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 2);
        /* The recorder holds the last one: the bound client's. */
        ck_assert(rec.addr_nonnull);
        ck_assert_uint_eq(rec.addr_len, 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        safe_close(clients[0]);
        safe_close(clients[1]);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_ipv4_peer_address_is_the_clients) {
        _cleanup_(closep) int listener = -EBADF, client = -EBADF;
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        struct sockaddr_in self = {};
        socklen_t len = sizeof(self);
        const struct sockaddr_in *peer = (const struct sockaddr_in *) &rec.addr;
        sd_event *e = NULL;

        test_enter_netns();
        e = new_event();
        listener = tcp_listener(AF_INET, BACKLOG);
        client = connect_to(listener);
        ck_assert_int_eq(getsockname(client, (struct sockaddr *) &self, &len), 0);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert(rec.addr_nonnull);
        ck_assert_uint_eq(rec.addr_len, sizeof(struct sockaddr_in));
        ck_assert_int_eq(peer->sin_family, AF_INET);
        ck_assert_uint_eq(ntohl(peer->sin_addr.s_addr), INADDR_LOOPBACK);
        ck_assert_uint_eq(ntohs(peer->sin_port), ntohs(self.sin_port));
        ck_assert_uint_ne(ntohs(peer->sin_port), 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_ipv6_peer_address_is_the_clients) {
        _cleanup_(closep) int listener = -EBADF, client = -EBADF;
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        struct sockaddr_in6 self = {};
        socklen_t len = sizeof(self);
        const struct sockaddr_in6 *peer = (const struct sockaddr_in6 *) &rec.addr;
        sd_event *e = NULL;

        test_enter_netns();
        e = new_event();
        listener = tcp_listener(AF_INET6, BACKLOG);
        client = connect_to(listener);
        ck_assert_int_eq(getsockname(client, (struct sockaddr *) &self, &len), 0);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert(rec.addr_nonnull);
        ck_assert_uint_eq(rec.addr_len, sizeof(struct sockaddr_in6));
        ck_assert_int_eq(peer->sin6_family, AF_INET6);
        ck_assert(IN6_IS_ADDR_LOOPBACK(&peer->sin6_addr));
        ck_assert_uint_eq(ntohs(peer->sin6_port), ntohs(self.sin6_port));
        ck_assert_uint_eq(peer->sin6_flowinfo, 0);
        ck_assert_uint_eq(peer->sin6_scope_id, 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        sd_event_unref(e);
}
END_TEST

/* ---- accept() errors ----------------------------------------------------------------- */

START_TEST(test_accept_econnaborted_is_skipped) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 2);

        inject(ECONNABORTED, 3);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        /* 3 skipped, 2 accepted, then EAGAIN, all in one batch; never reported. */
        ck_assert_uint_eq(accept4_calls, 6);
        ck_assert_uint_eq(rec.n_conns, 2);
        ck_assert_uint_eq(rec.n_errors, 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 2);
        sd_event_unref(e);
}
END_TEST

/* §3.2: an aborted connection counts against the 128. */
START_TEST(test_accept_econnaborted_counts_against_the_batch) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 1);

        inject(ECONNABORTED, BATCH);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(accept4_calls, BATCH);
        ck_assert_uint_eq(rec.n_conns, 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(accept4_calls, BATCH + 2);
        ck_assert_uint_eq(rec.n_conns, 1);
        ck_assert_uint_eq(rec.n_errors, 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 1);
        sd_event_unref(e);
}
END_TEST

/* EINTR is retried and does not count against the 128. */
START_TEST(test_accept_eintr_is_retried_without_counting) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, QUEUED);

        inject(EINTR, 5);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, BATCH);
        ck_assert_uint_eq(accept4_calls, BATCH + 5);
        ck_assert_uint_eq(rec.n_errors, 0);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, QUEUED);
        sd_event_unref(e);
}
END_TEST

/* §3.2: any other error ends the batch, is reported, and the handler stays. */
START_TEST(test_accept_other_error_is_reported_ends_the_batch_and_keeps_the_handler) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 3);

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 3);
        close_all(clients, 3);
        clients = queue_connections(listener, 3);

        /* After one success, the second accept fails: the batch ends there. */
        accept4_calls = 0;
        rec.n_conns = 0;
        inject_ex(EPROTO, 1, 1);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(accept4_calls, 2);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(rec.last_error, -EPROTO);
        ck_assert(rec.error_args_ok);
        ck_assert_uint_eq(rec.n_conns, 1);

        /* Still registered: the next wake-up takes the other two. */
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 3);
        ck_assert_uint_eq(rec.n_errors, 1);

        /* Every failure is reported (these are not EMFILE/ENFILE episodes). */
        close_all(clients, 3);
        clients = queue_connections(listener, 1);
        inject(ENOBUFS, 2);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_errors, 3);
        ck_assert_int_eq(rec.last_error, -ENOBUFS);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_conns, 4);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 1);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_remove_inside_error_callback_stops_accepting) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 2);

        rec.on_error = ACT_REMOVE;
        inject(EPERM, 1);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(rec.last_error, -EPERM);
        ck_assert_int_eq(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(rec.n_conns, 0);
        ck_assert_uint_eq(drain(listener), 2);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 2);
        sd_event_unref(e);
}
END_TEST

/* ---- Out of file descriptors --------------------------------------------------------- */

/* Watching a handler that gets error on every accept for WATCH_USEC: reported once, at
 * most one accept per retry interval, and only about two loop iterations (the timer, then
 * the io source) per retry. Tornado spins here (§3.2: ~14,800 calls in 0.2 s). */
static void check_paused_without_spinning(sd_event *e, Recorder *rec, int error) {
        unsigned calls_before = accept4_calls, errors_before = rec->n_errors, dispatched = 0, calls = 0;

        dispatched = run_for(e, WATCH_USEC);
        calls = accept4_calls - calls_before;
        ck_assert_uint_eq(rec->n_errors - errors_before, 1);
        ck_assert_int_eq(rec->last_error, -error);
        ck_assert(rec->error_args_ok);
        /* 1 + WATCH_USEC / RETRY_USEC = 11 at most, one more for the interval cut at the
         * end; the timer never fires early. At least half of them, so that it does retry. */
        ck_assert_uint_le(calls, 1 + WATCH_USEC / RETRY_USEC + 1);
        ck_assert_uint_ge(calls, WATCH_USEC / RETRY_USEC / 2);
        ck_assert_uint_le(dispatched, 2 * calls + 1);
}

START_TEST(test_accept_emfile_is_reported_once_and_retried_on_a_timer) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 3);
        uint64_t took = 0;

        inject(EMFILE, UINT_MAX);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        check_paused_without_spinning(e, &rec, EMFILE);
        ck_assert_uint_eq(rec.n_conns, 0);

        /* Descriptors are back: the queued connections come at the next retry, with no
         * further report. */
        inject(0, 0);
        took = run_until(e, &rec.n_conns, 3, RECOVER_USEC);
        ck_assert_uint_le(took, 3 * RETRY_USEC);
        ck_assert_uint_eq(rec.n_errors, 1);

        /* A new episode is reported again, ENFILE as well. */
        close_all(clients, 3);
        clients = queue_connections(listener, 3);
        inject(ENFILE, UINT_MAX);
        check_paused_without_spinning(e, &rec, ENFILE);
        ck_assert_uint_eq(rec.n_errors, 2);
        inject(0, 0);
        run_until(e, &rec.n_conns, 6, RECOVER_USEC);
        ck_assert_uint_eq(rec.n_errors, 2);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 3);
        sd_event_unref(e);
}
END_TEST

/* An episode may start mid-batch and alternate EMFILE/ENFILE: still one report. */
START_TEST(test_accept_emfile_after_successes_in_a_batch_is_one_episode) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 5);

        /* Two accepted, then out of fds: the batch ends with the report. */
        inject_ex(EMFILE, 2, UINT_MAX);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(accept4_calls, 3);
        ck_assert_uint_eq(rec.n_conns, 2);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(rec.last_error, -EMFILE);

        /* The system runs out instead: the same episode, not reported again. */
        inject(ENFILE, UINT_MAX);
        run_for(e, 3 * RETRY_USEC);
        ck_assert_uint_gt(accept4_calls, 3);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_uint_eq(rec.n_conns, 2);

        inject(0, 0);
        run_until(e, &rec.n_conns, 5, RECOVER_USEC);
        ck_assert_uint_eq(rec.n_errors, 1);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        close_all(clients, 5);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_accept_remove_or_free_while_paused_stops_the_retries) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 2);
        unsigned calls = 0;

        /* Removed outside the callback while the timer is armed. */
        inject(EMFILE, UINT_MAX);
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert_uint_eq(rec.n_errors, 1);
        calls = accept4_calls;
        ck_assert_int_eq(netutil_accept_handler_remove(h), 0);
        ck_assert_uint_eq(run_for(e, 3 * RETRY_USEC), 0);
        ck_assert_uint_eq(accept4_calls, calls);
        ck_assert_ptr_null(netutil_accept_handler_free(h));

        /* Freed inside the EMFILE report. */
        rec.on_error = ACT_FREE;
        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);
        ck_assert_int_eq(sd_event_run(e, 0), 1);
        ck_assert(rec.freed);
        ck_assert_uint_eq(rec.n_errors, 2);
        calls = accept4_calls;
        ck_assert_uint_eq(run_for(e, 3 * RETRY_USEC), 0);
        ck_assert_uint_eq(accept4_calls, calls);

        inject(0, 0);
        assert_still_listening(listener);
        ck_assert_uint_eq(drain(listener), 2);
        close_all(clients, 2);
        sd_event_unref(e);
}
END_TEST

/* The real thing: the process at RLIMIT_NOFILE with connections queued. */
START_TEST(test_accept_at_the_fd_limit_pauses_reports_once_and_resumes) {
        _cleanup_(closep) int listener = unix_listener(BACKLOG);
        Recorder rec = RECORDER_INIT;
        netutil_accept_handler *h = NULL;
        struct rlimit saved = {}, tight = {};
        sd_event *e = new_event();
        int *clients = queue_connections(listener, 5);
        int lowest_free = -EBADF;

        ck_assert_int_eq(netutil_add_accept_handler(e, listener, on_accept, &rec, &h), 0);

        /* Every fd below the lowest free one is open: a limit there leaves none. */
        lowest_free = fcntl(listener, F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(lowest_free, 0);
        safe_close(lowest_free);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
        tight = saved;
        tight.rlim_cur = (rlim_t) lowest_free;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
        ck_assert_int_eq(fcntl(listener, F_DUPFD_CLOEXEC, 0), -1);
        ck_assert_int_eq(errno, EMFILE);

        check_paused_without_spinning(e, &rec, EMFILE);
        ck_assert_uint_eq(rec.n_conns, 0);

        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
        ck_assert_uint_le(run_until(e, &rec.n_conns, 5, RECOVER_USEC), 3 * RETRY_USEC);
        ck_assert_uint_eq(rec.n_errors, 1);
        ck_assert_int_eq(rec.fd_fd_flags, FD_CLOEXEC);

        ck_assert_ptr_null(netutil_accept_handler_free(h));
        assert_still_listening(listener);
        close_all(clients, 5);
        sd_event_unref(e);
}
END_TEST

/* ---- Suite --------------------------------------------------------------------------- */

static TCase *tcase_new(Suite *s, const char *name, const char *tags) {
        return test_tcase_add(s, name, TEST_TIMEOUT, setup, teardown, tags);
}

static Suite *accept_suite(void) {
        Suite *s = suite_create("accept");
        TCase *tc = NULL;

        tc = tcase_new(s, "batch", NULL);
        tcase_add_test(tc, test_accept_300_queued_unix_are_taken_128_128_44_per_wakeup);
        tcase_add_test(tc, test_accept_other_sources_run_between_batches);
        tcase_add_test(tc, test_accept_eagain_ends_the_batch_with_one_extra_call);

        tc = tcase_new(s, "batch_tcp", "netns");
        tcase_add_test(tc, test_accept_300_queued_tcp_are_taken_128_128_44_per_wakeup);

        tc = tcase_new(s, "remove_free", NULL);
        tcase_add_test(tc, test_accept_remove_inside_callback_accepts_exactly_one_of_ten);
        tcase_add_test(tc, test_accept_remove_twice_inside_callback_is_fine);
        tcase_add_test(tc, test_accept_remove_before_any_wakeup_accepts_nothing_and_keeps_the_listener);
        tcase_add_test(tc, test_accept_free_inside_callback_is_deferred_and_stops_the_batch);
        tcase_add_test(tc, test_accept_free_inside_error_callback_is_deferred);
        tcase_add_test(tc, test_accept_handler_outliving_its_loop_reference_is_freed_cleanly);

        tc = tcase_new(s, "registration", NULL);
        tcase_add_test(tc, test_accept_second_handler_on_same_fd_and_loop_is_eexist);
        tcase_add_test(tc, test_accept_second_handler_while_paused_is_eexist);
        tcase_add_test(tc, test_accept_rejects_invalid_arguments);
        tcase_add_test(tc, test_accept_refuses_fds_that_are_not_nonblocking_listeners);

        tc = tcase_new(s, "accepted_socket", NULL);
        tcase_add_test(tc, test_accept_accepted_fd_is_blocking_cloexec_and_owned_by_the_callback);
        tcase_add_test(tc, test_accept_unix_peer_address_is_empty);

        tc = tcase_new(s, "address_tcp", "netns");
        tcase_add_test(tc, test_accept_ipv4_peer_address_is_the_clients);
        tcase_add_test(tc, test_accept_ipv6_peer_address_is_the_clients);

        tc = tcase_new(s, "accept_errors", NULL);
        tcase_add_test(tc, test_accept_econnaborted_is_skipped);
        tcase_add_test(tc, test_accept_econnaborted_counts_against_the_batch);
        tcase_add_test(tc, test_accept_eintr_is_retried_without_counting);
        tcase_add_test(tc, test_accept_other_error_is_reported_ends_the_batch_and_keeps_the_handler);
        tcase_add_test(tc, test_accept_remove_inside_error_callback_stops_accepting);

        tc = tcase_new(s, "out_of_fds", NULL);
        tcase_add_test(tc, test_accept_emfile_is_reported_once_and_retried_on_a_timer);
        tcase_add_test(tc, test_accept_emfile_after_successes_in_a_batch_is_one_episode);
        tcase_add_test(tc, test_accept_remove_or_free_while_paused_stops_the_retries);

        tc = tcase_new(s, "fd_limit", "rlimit");
        tcase_add_test(tc, test_accept_at_the_fd_limit_pauses_reports_once_and_resumes);

        return s;
}

int main(void) {
        return test_run_suite(accept_suite(), false);
}
