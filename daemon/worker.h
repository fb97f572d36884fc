/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A bounded pool of worker threads for work that may block (getaddrinfo of a host name):
 * work() runs in a pool thread, then done() runs on the event loop. Owns threads, the job
 * queue and the hand-back through an eventfd. Must not touch daemon state from a thread:
 * work() gets only its job's own data.
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct WorkerPool WorkerPool;

/* Jobs queued beyond the running ones: each is a request the in-flight limits already
 * bound; past this something is wrong, and new work is refused with -EAGAIN. */
#define WORKER_MAX_QUEUED 65536u

typedef void (*worker_work_t)(void *userdata);
/* cancelled: the pool is going away and work() did not run. */
typedef void (*worker_done_t)(void *userdata, bool cancelled);

/* Threads start lazily, up to n_threads. */
int worker_pool_new(sd_event *e, unsigned n_threads, WorkerPool **ret);
/* Stops taking jobs, lets running work() finish, joins the threads, and calls done() of
 * every job: completed ones normally, never-started ones with cancelled = true. */
WorkerPool *worker_pool_free(WorkerPool *p);
int worker_submit(WorkerPool *p, worker_work_t work, worker_done_t done, void *userdata);
/* Jobs queued or running. */
unsigned worker_pool_busy(const WorkerPool *p);
