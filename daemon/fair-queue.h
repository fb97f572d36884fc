/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Jobs queued fairly between uids (DESIGN.md §4: one uid's slow lookups never delay
 * another's). Each uid has its own first-come-first-served queue; the uids with a job that
 * may start take turns, one job each (round robin); and a uid may have at most `share` jobs
 * started and not yet finished, so that jobs which hang (names whose servers never answer)
 * hold at most that many of the slots. Owns the per-uid records; the jobs are the caller's,
 * each with a FairNode in it. Not thread-safe: the worker pool calls it under its lock, the
 * c-ares backend from the event loop. Allocates only for a uid's first job.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "list.h"

typedef struct FairUser FairUser;

typedef struct FairNode {
        void *job;      /* the caller's, returned by fair_queue_start() */
        FairUser *user; /* while waiting or started */
        bool started;
        LIST_FIELDS(struct FairNode, nodes); /* in its uid's queue while waiting */
} FairNode;

typedef struct FairQueue {
        FairUser *users;                /* every uid with a job waiting or started */
        FairUser *ready_head, *ready_tail; /* uids that may start a job, in turn order */
        unsigned share;                 /* started jobs per uid at most; 0: no limit */
        unsigned n_waiting;             /* jobs not started */
        unsigned n_started;             /* jobs started and not finished */
        unsigned n_startable;           /* waiting jobs that could start now */
} FairQueue;

void fair_queue_init(FairQueue *q, unsigned share);
/* Frees the uid records; every job must have left it (finished or removed). */
void fair_queue_done(FairQueue *q);

/* Queues node (for job) as uid's newest. Returns 0, or -ENOMEM (node not queued). */
int fair_queue_push(FairQueue *q, uid_t uid, FairNode *node, void *job);
/* A waiting job that uid wants too (one lookup shared by identical requests): it moves to
 * the back of uid's queue if uid has fewer jobs waiting or started than the job's uid, so
 * that a uid flooding its own queue cannot hold back a job others wait for, and cannot take
 * it back either (it has more). Returns 1 if it moved, 0 if not, or -ENOMEM (it stays). */
int fair_queue_also_wanted_by(FairQueue *q, FairNode *node, uid_t uid);
/* Starts the next job in turn: the oldest of the next uid below its share. Returns its
 * node, now started (it counts against its uid until fair_queue_finish()), or NULL if no
 * job may start. */
FairNode *fair_queue_start(FairQueue *q);
/* A started job is over. */
void fair_queue_finish(FairQueue *q, FairNode *node);
/* A waiting job leaves without starting. */
void fair_queue_remove(FairQueue *q, FairNode *node);
/* Some waiting job, whatever its uid's share (to empty the queue when it goes), or NULL. */
FairNode *fair_queue_any_waiting(const FairQueue *q);
/* Jobs started and not finished for uid. */
unsigned fair_queue_started_for(const FairQueue *q, uid_t uid);
