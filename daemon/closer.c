/* SPDX-License-Identifier: MIT */

/* The closer (closer.h): a lane per uid — a FIFO and, while it has jobs, a detached thread
 * of its own — a mutex-protected list of finished jobs, and an eventfd to wake the loop, as
 * in worker.c. Lanes, because the close a client makes linger blocks the thread that does
 * it for as long as the client likes: it then holds up only that uid's closes, never
 * another's (a released held name of theirs, whose port would stay bound). The caller
 * bounds what each uid may have queued. Threads block every signal. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "closer.h"
#include "macro.h"
#include "netutil-proto.h"

typedef struct CloseJob {
        int fd;
        bool drain;
        void *userdata;
        struct CloseJob *next;
} CloseJob;

typedef struct Lane {
        struct Closer *closer;
        uid_t uid;
        CloseJob *head, *tail; /* guarded by closer->lock */
        struct Lane *next;     /* in closer->lanes */
} Lane;

struct Closer {
        sd_event_source *source;
        int efd;
        closer_done_t done;
        void *userdata;
        pthread_mutex_t lock;
        pthread_cond_t cond;             /* signalled when a lane's thread ends */
        Lane *lanes;                     /* guarded by lock: those with jobs, each with a thread */
        unsigned n_threads;              /* guarded by lock */
        CloseJob *done_head, *done_tail; /* guarded by lock */
        bool stopping;                   /* guarded by lock */
};

static void push(CloseJob **head, CloseJob **tail, CloseJob *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static CloseJob *pop(CloseJob **head, CloseJob **tail) {
        CloseJob *j = *head;

        if (j) {
                *head = j->next;
                if (!*head)
                        *tail = NULL;
        }
        return j;
}

static void run(CloseJob *j) {
        if (j->drain) {
                char buf[PROTO_HEADER_SIZE];
                /* Without a control buffer the kernel drops any fds here, on this thread. */
                for (unsigned i = 0;
                     i < PROTO_MAX_INFLIGHT && recv(j->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
                        ;
        }
        j->fd = safe_close(j->fd);
}

/* A lane's thread: closes its jobs in order, and ends with the last (the lane with it). */
static void *lane_main(void *arg) {
        Lane *lane = arg;
        Closer *c = lane->closer;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                CloseJob *j = c->stopping ? NULL : pop(&lane->head, &lane->tail);
                uint64_t one = 1;

                if (!j)
                        break;
                pthread_mutex_unlock(&c->lock);
                run(j);
                pthread_mutex_lock(&c->lock);
                push(&c->done_head, &c->done_tail, j);
                (void) write(c->efd, &one, sizeof(one));
        }
        /* Stopping: what is left stays open for exit() (closer_free()). */
        if (!lane->head) {
                for (Lane **l = &c->lanes; *l; l = &(*l)->next)
                        if (*l == lane) {
                                *l = lane->next;
                                break;
                        }
                free(lane);
        }
        c->n_threads--;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Closer *c = userdata;
        CloseJob *list;
        uint64_t n;

        (void) read(fd, &n, sizeof(n));
        pthread_mutex_lock(&c->lock);
        list = c->done_head;
        c->done_head = c->done_tail = NULL;
        pthread_mutex_unlock(&c->lock);

        while (list) {
                CloseJob *j = list;
                list = j->next;
                c->done(c->userdata, j->userdata);
                free(j);
        }
        return 0;
}

int closer_new(sd_event *e, closer_done_t done, void *userdata, Closer **ret) {
        Closer *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->done = done;
        c->userdata = userdata;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &c->source, c->efd, EPOLLIN, on_event, c);
        if (r < 0)
                goto fail;

        *ret = c;
        return 0;

fail:
        closer_free(c);
        return r;
}

Closer *closer_free(Closer *c) {
        struct timespec deadline;
        CloseJob *j;

        if (!c)
                return NULL;
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        /* A close that lingers on must not hold up our exit: its thread, and what it still
         * uses (c included), are then left to the process's end. */
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        while (c->n_threads > 0)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == ETIMEDOUT && c->n_threads > 0) {
                        pthread_mutex_unlock(&c->lock);
                        return NULL;
                }
        pthread_mutex_unlock(&c->lock);
        /* What was never closed stays open for exit(), which does not linger; its job is
         * done all the same, for the caller's counts. */
        while (c->lanes) {
                Lane *lane = c->lanes;

                c->lanes = lane->next;
                while ((j = pop(&lane->head, &lane->tail))) {
                        if (c->done)
                                c->done(c->userdata, j->userdata);
                        free(j);
                }
                free(lane);
        }
        while ((j = pop(&c->done_head, &c->done_tail))) {
                if (c->done)
                        c->done(c->userdata, j->userdata);
                free(j);
        }
        sd_event_source_disable_unref(c->source);
        safe_close(c->efd);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

/* Starts lane's thread, detached, with every signal blocked. Called with c->lock held. */
static int lane_start(Closer *c, Lane *lane) {
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (pthread_attr_init(&attr) != 0)
                return -ENOMEM;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&thread, &attr, lane_main, lane);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r == 0)
                c->n_threads++;
        return r;
}

int closer_close(Closer *c, int fd, bool drain, uid_t uid, void *userdata) {
        CloseJob *j = calloc(1, sizeof(*j));
        Lane *lane;
        int r = 0;

        if (!j) {
                /* Nowhere to put it: the one case where the loop closes a client's fd. */
                safe_close(fd);
                return -ENOMEM;
        }
        *j = (CloseJob){.fd = fd, .drain = drain, .userdata = userdata};
        pthread_mutex_lock(&c->lock);
        for (lane = c->lanes; lane && lane->uid != uid; lane = lane->next)
                ;
        if (!lane) {
                lane = calloc(1, sizeof(*lane));
                if (lane) {
                        *lane = (Lane){.closer = c, .uid = uid, .next = c->lanes};
                        push(&lane->head, &lane->tail, j);
                        r = lane_start(c, lane);
                        if (r < 0)
                                free(lane);
                        else
                                c->lanes = lane;
                } else
                        r = -ENOMEM;
        } else
                push(&lane->head, &lane->tail, j);
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                /* No thread to be had: as without memory. */
                safe_close(j->fd);
                free(j);
        }
        return r;
}
