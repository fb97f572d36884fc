/* SPDX-License-Identifier: MIT */

/*
 * Tornado's add_accept_handler() on sd-event (shared/reference/tornado-netutil.md §3): a
 * READ watch on a listening socket that accepts up to 128 connections per wake-up and
 * hands each to a callback; plus what Tornado lacks, a pause instead of a busy loop when
 * the process or the system is out of file descriptors. Owns its two event sources and
 * the per-process registry of watched (event loop, fd) pairs. Must not log, and never
 * closes the listening socket; the accepted fds belong to the callback.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "macro.h"
#include "netutil.h"

/* Accepts per wake-up: Tornado's _DEFAULT_BACKLOG (4.0.2), so that a flood of connections
 * does not starve the loop's other sources. ECONNABORTED results count against it. */
#define ACCEPT_BATCH 128u
/* Pause after EMFILE/ENFILE before accepting again. The listener stays readable while
 * connections are queued, so retrying at once would spin (Tornado: ~15,000 failing calls
 * in 0.2 s); 100 ms bounds that to ten failed accept() calls a second and still resumes
 * within a tenth of a second once descriptors are free. */
#define ACCEPT_RETRY_USEC (100u * 1000u)
/* Lets sd-event fire the retry up to 10 ms late, to coalesce wake-ups; its default
 * accuracy (250 ms) would more than triple the pause. */
#define ACCEPT_RETRY_ACCURACY_USEC (10u * 1000u)

struct netutil_accept_handler {
        sd_event *event; /* registry key; kept alive by the sources; NULL once removed */
        int fd;          /* the listening socket: not owned */
        netutil_accept_callback_t callback;
        void *userdata;

        sd_event_source *io;    /* EPOLLIN on fd; off while paused */
        sd_event_source *retry; /* one-shot timer re-enabling io; created up front so that
                                 * pausing needs no new fd (sd-event's timerfd) when there
                                 * are none */

        unsigned n_dispatching; /* > 0 while accept_io() runs: free is deferred */
        bool removed;
        bool free_pending;
        bool out_of_fds; /* in an EMFILE/ENFILE episode, already reported */

        netutil_accept_handler *registry_prev, *registry_next;
};

/* Handlers not yet removed, across all event loops and threads: sd-event accepts a second
 * io source for an fd whose first one is disabled (as ours is while paused), so it cannot
 * be left to refuse duplicates. A handful of entries per process; a list does. */
static netutil_accept_handler *registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* Inserts h under (h->event, h->fd) unless that key is taken. Returns 0 or -EEXIST. */
static int registry_add(netutil_accept_handler *h) {
        int r = 0;

        pthread_mutex_lock(&registry_lock);
        for (netutil_accept_handler *i = registry; i; i = i->registry_next)
                if (i->event == h->event && i->fd == h->fd) {
                        r = -EEXIST;
                        goto out;
                }
        h->registry_prev = NULL;
        h->registry_next = registry;
        if (registry)
                registry->registry_prev = h;
        registry = h;
out:
        pthread_mutex_unlock(&registry_lock);
        return r;
}

static void registry_remove(netutil_accept_handler *h) {
        pthread_mutex_lock(&registry_lock);
        if (h->registry_prev)
                h->registry_prev->registry_next = h->registry_next;
        else if (registry == h)
                registry = h->registry_next;
        if (h->registry_next)
                h->registry_next->registry_prev = h->registry_prev;
        h->registry_prev = h->registry_next = NULL;
        pthread_mutex_unlock(&registry_lock);
}

/* Stops watching fd until the retry timer fires. If the timer cannot be armed the io
 * source stays on: a busy loop is better than a listener that never resumes. */
static int accept_pause(netutil_accept_handler *h) {
        int r = 0;

        r = sd_event_source_set_time_relative(h->retry, ACCEPT_RETRY_USEC);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(h->retry, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(h->io, SD_EVENT_OFF);
        if (r < 0) {
                (void) sd_event_source_set_enabled(h->retry, SD_EVENT_OFF);
                return r;
        }
        return 0;
}

static int accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        netutil_accept_handler *h = userdata;

        /* Re-enabling adds fd to epoll again, which fails only for lack of memory or if
         * someone else watches fd meanwhile: try again later rather than spin. */
        if (sd_event_source_set_enabled(h->io, SD_EVENT_ON) < 0)
                (void) accept_pause(h);
        return 0;
}

/* One wake-up: §3.2. */
static int accept_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        netutil_accept_handler *h = userdata;

        h->n_dispatching++;
        for (unsigned i = 0; i < ACCEPT_BATCH && !h->removed; i++) {
                union {
                        struct sockaddr sa;
                        struct sockaddr_storage storage;
                } peer = {};
                socklen_t len = 0;
                int cfd = -EBADF, r = 0;

                /* No SOCK_NONBLOCK: Tornado's accepted sockets are blocking (§3.3). */
                do {
                        len = sizeof(peer);
                        cfd = accept4(h->fd, &peer.sa, &len, SOCK_CLOEXEC);
                } while (cfd < 0 && errno == EINTR);

                if (cfd >= 0) {
                        h->out_of_fds = false;
                        /* Tornado gives '' for unix peers (§3.3). */
                        if (peer.sa.sa_family == AF_UNIX)
                                len = 0;
                        h->callback(h, cfd, &peer.sa, len, h->userdata);
                        continue;
                }

                r = negative_errno();
                if (r == -EMFILE || r == -ENFILE) {
                        /* Linux reserves the new fd before it looks at the queue: this
                         * may come with nothing queued, and any other result proves that
                         * an fd was free. */
                        bool first = !h->out_of_fds;

                        h->out_of_fds = true;
                        (void) accept_pause(h);
                        if (first)
                                h->callback(h, r, NULL, 0, h->userdata);
                        break;
                }

                /* Any other result means an fd was free: the episode, if any, is over. */
                h->out_of_fds = false;
                if (r == -EAGAIN || r == -EWOULDBLOCK)
                        break;
                if (r == -ECONNABORTED)
                        continue;
                h->callback(h, r, NULL, 0, h->userdata);
                break;
        }

        assert(h->n_dispatching > 0);
        if (--h->n_dispatching == 0 && h->free_pending)
                free(h);
        return 0;
}

static void accept_handler_freep(netutil_accept_handler **h) {
        (void) netutil_accept_handler_free(*h);
}

_public_ int netutil_add_accept_handler(sd_event *e, int fd, netutil_accept_callback_t callback, void *userdata,
                                        netutil_accept_handler **ret) {
        _cleanup_(accept_handler_freep) netutil_accept_handler *h = NULL;
        int listening = 0, flags = 0, r = 0;
        socklen_t len = sizeof(listening);

        if (!e || fd < 0 || !callback || !ret)
                return -EINVAL;

        /* A socket that is not listening polls as hung up for ever and fails every accept;
         * a blocking one would block the loop once its queue is empty. */
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
                return negative_errno();
        if (!listening)
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return negative_errno();
        if (!(flags & O_NONBLOCK))
                return -EINVAL;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->event = e;
        h->fd = fd;
        h->callback = callback;
        h->userdata = userdata;

        r = registry_add(h);
        if (r < 0) {
                /* Not in the registry: free must not unlink the handler holding the key. */
                h->removed = true;
                return r;
        }

        r = sd_event_add_io(e, &h->io, fd, EPOLLIN, accept_io, h);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &h->retry, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC,
                                       ACCEPT_RETRY_ACCURACY_USEC, accept_retry, h);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(h->retry, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(h->io, "netutil-accept");
        (void) sd_event_source_set_description(h->retry, "netutil-accept-retry");

        *ret = TAKE_PTR(h);
        return 0;
}

_public_ int netutil_accept_handler_remove(netutil_accept_handler *h) {
        if (!h)
                return -EINVAL;
        if (h->removed)
                return 0;

        h->removed = true;
        registry_remove(h);
        /* Safe while accept_io() runs: sd-event frees a dispatching source afterwards. */
        h->io = sd_event_source_disable_unref(h->io);
        h->retry = sd_event_source_disable_unref(h->retry);
        h->event = NULL;
        return 0;
}

_public_ netutil_accept_handler *netutil_accept_handler_free(netutil_accept_handler *h) {
        if (!h)
                return NULL;

        (void) netutil_accept_handler_remove(h);
        if (h->n_dispatching > 0)
                h->free_pending = true; /* accept_io() frees it when the batch returns */
        else
                free(h);
        return NULL;
}
