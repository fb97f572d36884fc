/* SPDX-License-Identifier: MIT */

/* The closer (closer.h): one pthread, a mutex-protected FIFO each way, an eventfd to wake
 * the loop, as in worker.c. One thread is enough: only a client that hands us fds ever
 * makes a job wait (on a kernel with SO_PASSRIGHTS nothing reaches it), and the caller
 * bounds what each uid may have queued. The thread blocks every signal. */

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

struct Closer {
        sd_event_source *source;
        int efd;
        closer_done_t done;
        void *userdata;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        CloseJob *todo_head, *todo_tail; /* guarded by lock */
        CloseJob *done_head, *done_tail; /* guarded by lock */
        bool stopping;                   /* guarded by lock */
        bool started;
        pthread_t thread;
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

static void *closer_main(void *arg) {
        Closer *c = arg;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                CloseJob *j;
                uint64_t one = 1;

                while (!c->todo_head && !c->stopping)
                        pthread_cond_wait(&c->cond, &c->lock);
                if (c->stopping)
                        break;
                j = pop(&c->todo_head, &c->todo_tail);
                pthread_mutex_unlock(&c->lock);

                run(j);

                pthread_mutex_lock(&c->lock);
                push(&c->done_head, &c->done_tail, j);
                (void) write(c->efd, &one, sizeof(one));
        }
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
        sigset_t all, old;
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

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&c->thread, NULL, closer_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                goto fail;
        c->started = true;
        *ret = c;
        return 0;

fail:
        closer_free(c);
        return r;
}

Closer *closer_free(Closer *c) {
        CloseJob *j;

        if (!c)
                return NULL;
        if (c->started) {
                struct timespec deadline;

                pthread_mutex_lock(&c->lock);
                c->stopping = true;
                pthread_cond_broadcast(&c->cond);
                pthread_mutex_unlock(&c->lock);
                /* A close that lingers on must not hold up our exit: the thread, and what it
                 * still uses, are then left to the process's end. */
                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += 1;
                if (pthread_timedjoin_np(c->thread, NULL, &deadline) != 0) {
                        (void) pthread_detach(c->thread);
                        return NULL;
                }
        }
        /* What was never closed stays open for exit(), which does not linger; its job is
         * done all the same, for the caller's counts. */
        while ((j = pop(&c->done_head, &c->done_tail)) || (j = pop(&c->todo_head, &c->todo_tail))) {
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

int closer_close(Closer *c, int fd, bool drain, void *userdata) {
        CloseJob *j = calloc(1, sizeof(*j));

        if (!j) {
                /* Nowhere to put it: the one case where the loop closes a client's fd. */
                safe_close(fd);
                return -ENOMEM;
        }
        *j = (CloseJob){.fd = fd, .drain = drain, .userdata = userdata};
        pthread_mutex_lock(&c->lock);
        push(&c->todo_head, &c->todo_tail, j);
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return 0;
}
