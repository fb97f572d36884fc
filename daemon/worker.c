/* SPDX-License-Identifier: MIT */

/* The worker pool (worker.h): pthreads, a mutex-protected FIFO each way, an eventfd to
 * wake the loop. Threads block every signal: signals belong to the loop's signalfd. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "worker.h"

typedef struct Job {
        worker_work_t work;
        worker_done_t done;
        void *userdata;
        struct Job *next;
} Job;

struct WorkerPool {
        sd_event_source *source;
        int efd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *todo_head, *todo_tail; /* guarded by lock */
        Job *done_head, *done_tail; /* guarded by lock */
        unsigned n_todo, n_running;
        bool stopping;
        pthread_t *threads;
        unsigned n_threads, max_threads;
};

static void push(Job **head, Job **tail, Job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static Job *pop(Job **head, Job **tail) {
        Job *j = *head;
        if (j) {
                *head = j->next;
                if (!*head)
                        *tail = NULL;
        }
        return j;
}

static void *worker_main(void *arg) {
        WorkerPool *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                Job *j;
                uint64_t one = 1;

                while (!p->todo_head && !p->stopping)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->stopping)
                        break;
                j = pop(&p->todo_head, &p->todo_tail);
                p->n_todo--;
                p->n_running++;
                pthread_mutex_unlock(&p->lock);

                j->work(j->userdata);

                pthread_mutex_lock(&p->lock);
                p->n_running--;
                push(&p->done_head, &p->done_tail, j);
                (void) write(p->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void dispatch_done(WorkerPool *p) {
        Job *list;

        pthread_mutex_lock(&p->lock);
        list = p->done_head;
        p->done_head = p->done_tail = NULL;
        pthread_mutex_unlock(&p->lock);

        while (list) {
                Job *j = list;
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

int worker_pool_new(sd_event *e, unsigned n_threads, WorkerPool **ret) {
        WorkerPool *p;
        int r;

        if (n_threads == 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->max_threads = n_threads;
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
        Job *j;

        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        dispatch_done(p);
        while ((j = pop(&p->todo_head, &p->todo_tail))) {
                j->done(j->userdata, true);
                free(j);
        }
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

int worker_submit(WorkerPool *p, worker_work_t work, worker_done_t done, void *userdata) {
        Job *j;
        int r = 0;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job) { .work = work, .done = done, .userdata = userdata };

        pthread_mutex_lock(&p->lock);
        if (p->n_todo >= WORKER_MAX_QUEUED) {
                pthread_mutex_unlock(&p->lock);
                free(j);
                return -EAGAIN;
        }
        push(&p->todo_head, &p->todo_tail, j);
        p->n_todo++;
        /* A new thread only when every existing one is busy. */
        if (p->n_threads < p->max_threads && p->n_todo + p->n_running > p->n_threads)
                r = start_thread(p);
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        /* No thread at all could start: the job stays queued for none; take it back. */
        if (r < 0 && p->n_threads == 0) {
                pthread_mutex_lock(&p->lock);
                p->todo_head = p->todo_tail = NULL;
                p->n_todo = 0;
                pthread_mutex_unlock(&p->lock);
                free(j);
                return r;
        }
        return 0;
}

unsigned worker_pool_busy(const WorkerPool *p) {
        return p->n_todo + p->n_running;
}
