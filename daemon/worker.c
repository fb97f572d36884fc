/* SPDX-License-Identifier: MIT */

/* The worker pool (worker.h): pthreads, the fair queue of jobs to do and a FIFO of jobs
 * done, both under one mutex, and an eventfd to wake the loop. Threads block every signal:
 * signals belong to the loop's signalfd. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fair-queue.h"
#include "macro.h"
#include "worker.h"

struct WorkerJob {
        worker_work_t work;
        worker_done_t done;
        void *userdata;
        FairNode node;          /* in the fair queue while waiting; started: counts for its uid */
        struct WorkerJob *next; /* in the done list */
};

struct WorkerPool {
        sd_event_source *source;
        int efd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        FairQueue todo;                        /* guarded by lock */
        WorkerJob *done_head, *done_tail;      /* guarded by lock */
        unsigned n_idle;                       /* threads waiting for a job; guarded by lock */
        bool stopping;
        pthread_t *threads;
        unsigned n_threads, max_threads;
};

static void *worker_main(void *arg) {
        WorkerPool *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                FairNode *node;
                WorkerJob *j;
                uint64_t one = 1;

                while (p->todo.n_startable == 0 && !p->stopping) {
                        p->n_idle++;
                        pthread_cond_wait(&p->cond, &p->lock);
                        p->n_idle--;
                }
                if (p->stopping)
                        break;
                node = fair_queue_start(&p->todo);
                j = node->job;
                pthread_mutex_unlock(&p->lock);

                j->work(j->userdata);

                pthread_mutex_lock(&p->lock);
                /* Only now may its uid start another: the thread was its until here. */
                fair_queue_finish(&p->todo, &j->node);
                j->next = NULL;
                if (p->done_tail)
                        p->done_tail->next = j;
                else
                        p->done_head = j;
                p->done_tail = j;
                (void) write(p->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void dispatch_done(WorkerPool *p) {
        WorkerJob *list;

        pthread_mutex_lock(&p->lock);
        list = p->done_head;
        p->done_head = p->done_tail = NULL;
        pthread_mutex_unlock(&p->lock);

        while (list) {
                WorkerJob *j = list;
                list = j->next;
                j->done(j->userdata, false);
                free(j);
        }
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t n;

        (void) read(fd, &n, sizeof(n));
        dispatch_done(userdata);
        return 0;
}

int worker_pool_new(sd_event *e, unsigned n_threads, unsigned share, WorkerPool **ret) {
        WorkerPool *p;
        int r;

        if (n_threads == 0 || share == 0 || share > n_threads)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->max_threads = n_threads;
        fair_queue_init(&p->todo, share);
        p->threads = calloc(n_threads, sizeof(pthread_t));
        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!p->threads || p->efd < 0) {
                r = p->efd < 0 ? -errno : -ENOMEM;
                safe_close(p->efd);
                free(p->threads);
                free(p);
                return r;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        r = sd_event_add_io(e, &p->source, p->efd, EPOLLIN, on_event, p);
        if (r < 0) {
                worker_pool_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        FairNode *node;

        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        dispatch_done(p);
        while ((node = fair_queue_any_waiting(&p->todo))) {
                WorkerJob *j = node->job;

                fair_queue_remove(&p->todo, node);
                j->done(j->userdata, true);
                free(j);
        }
        fair_queue_done(&p->todo);
        sd_event_source_disable_unref(p->source);
        safe_close(p->efd);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->threads);
        free(p);
        return NULL;
}

static int start_thread(WorkerPool *p) {
        sigset_t all, old;
        int r;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&p->threads[p->n_threads], NULL, worker_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return -r;
        p->n_threads++;
        return 0;
}

int worker_submit(WorkerPool *p, uid_t uid, worker_work_t work, worker_done_t done, void *userdata,
                  WorkerJob **ret_job) {
        WorkerJob *j;
        int r = 0;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (WorkerJob) { .work = work, .done = done, .userdata = userdata };

        pthread_mutex_lock(&p->lock);
        if (p->todo.n_waiting >= WORKER_MAX_QUEUED)
                r = -EAGAIN;
        else
                r = fair_queue_push(&p->todo, uid, &j->node, j);
        if (r < 0) {
                pthread_mutex_unlock(&p->lock);
                free(j);
                return r;
        }
        /* A new thread only when more jobs may start than threads wait for one (a uid at
         * its share waits for its own threads, not for a new one). */
        if (p->n_threads < p->max_threads && p->todo.n_startable > p->n_idle)
                r = start_thread(p);
        if (p->todo.n_startable > 0)
                pthread_cond_signal(&p->cond);
        /* No thread at all could start: the job would wait for none; take it back. */
        if (r < 0 && p->n_threads == 0) {
                fair_queue_remove(&p->todo, &j->node);
                pthread_mutex_unlock(&p->lock);
                free(j);
                return r;
        }
        pthread_mutex_unlock(&p->lock);
        if (ret_job)
                *ret_job = j;
        return 0;
}

bool worker_cancel(WorkerPool *p, WorkerJob *j) {
        bool waiting;

        pthread_mutex_lock(&p->lock);
        waiting = j->node.user && !j->node.started;
        if (waiting)
                fair_queue_remove(&p->todo, &j->node);
        pthread_mutex_unlock(&p->lock);
        if (waiting)
                free(j);
        return waiting;
}

unsigned worker_pool_busy(const WorkerPool *p) {
        return p->todo.n_waiting + p->todo.n_started;
}
