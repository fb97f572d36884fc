/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A bounded pool of worker threads for work that may block (getaddrinfo of a host name):
 * work() runs in a pool thread, then done() runs on the event loop. Owns threads, the job
 * queues and the hand-back through an eventfd. Must not touch daemon state from a thread:
 * work() gets only its job's own data.
 *
 * Jobs carry the uid they are done for and are served fairly (fair-queue.h): each uid
 * waits in its own queue, the uids take turns, and one uid's jobs occupy at most `share`
 * threads at once, counted until work() returns (a getaddrinfo() cannot be stopped: one
 * whose request was answered at its deadline still holds its thread, and still counts).
 * So a uid whose lookups hang leaves the other threads to everyone else. Root is one uid
 * among the others: its lookups take their turn and are never starved, and cannot starve
 * anyone either.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct WorkerPool WorkerPool;
typedef struct WorkerJob WorkerJob;

/* Jobs queued beyond the running ones: each is a request the in-flight limits already
 * bound; past this something is wrong, and new work is refused with -EAGAIN. */
#define WORKER_MAX_QUEUED 65536u

typedef void (*worker_work_t)(void *userdata);
/* cancelled: the pool is going away and work() did not run. */
typedef void (*worker_done_t)(void *userdata, bool cancelled);

/* Threads start lazily, up to n_threads; one uid's jobs run on at most share of them
 * (1..n_threads). */
int worker_pool_new(sd_event *e, unsigned n_threads, unsigned share, WorkerPool **ret);
/* Stops taking jobs, lets running work() finish, joins the threads, and calls done() of
 * every job: completed ones normally, never-started ones with cancelled = true. */
WorkerPool *worker_pool_free(WorkerPool *p);
/* Queues work for uid. *ret_job (may be NULL) identifies it for worker_cancel() until
 * done() is called. Returns 0, -EAGAIN past WORKER_MAX_QUEUED, or -ENOMEM. */
int worker_submit(WorkerPool *p, uid_t uid, worker_work_t work, worker_done_t done, void *userdata,
                  WorkerJob **ret_job);
/* Takes back a job that has not started: returns true, and neither work() nor done() will
 * run (userdata is the caller's again). Returns false if it started: done() will come. */
bool worker_cancel(WorkerPool *p, WorkerJob *job);
/* Jobs queued or running. */
unsigned worker_pool_busy(const WorkerPool *p);
