/* SPDX-License-Identifier: MIT */

/* Fair queueing by uid (fair-queue.h). A uid is "ready" while it has a waiting job and is
 * below its share; the ready uids form a ring walked in turn: the one that starts a job
 * goes to the back. n_startable is kept exact so that the worker pool knows, without a
 * walk, whether a thread has something to do. */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "fair-queue.h"
#include "macro.h"

struct FairUser {
        uid_t uid;
        FairNode *head, *tail;  /* waiting, oldest first */
        unsigned n_waiting;
        unsigned n_started;
        unsigned startable;     /* its part of n_startable */
        bool ready;             /* in the ring */
        LIST_FIELDS(FairUser, users);
        LIST_FIELDS(FairUser, ring);
};

static unsigned share_of(const FairQueue *q) {
        return q->share > 0 ? q->share : UINT_MAX;
}

static void ring_append(FairQueue *q, FairUser *u) {
        u->ring_next = NULL;
        u->ring_prev = q->ready_tail;
        if (q->ready_tail)
                q->ready_tail->ring_next = u;
        else
                q->ready_head = u;
        q->ready_tail = u;
        u->ready = true;
}

static void ring_remove(FairQueue *q, FairUser *u) {
        if (u->ring_prev)
                u->ring_prev->ring_next = u->ring_next;
        else
                q->ready_head = u->ring_next;
        if (u->ring_next)
                u->ring_next->ring_prev = u->ring_prev;
        else
                q->ready_tail = u->ring_prev;
        u->ring_next = u->ring_prev = NULL;
        u->ready = false;
}

/* After u's counts changed: its place in the ring, its part of n_startable, and the record
 * itself once it has nothing waiting or started. */
static void user_update(FairQueue *q, FairUser *u) {
        unsigned share = share_of(q);
        unsigned room = u->n_started < share ? share - u->n_started : 0;
        unsigned startable = MIN(u->n_waiting, room);

        q->n_startable = q->n_startable - u->startable + startable;
        u->startable = startable;
        if (startable > 0 && !u->ready)
                ring_append(q, u);
        else if (startable == 0 && u->ready)
                ring_remove(q, u);
        if (u->n_waiting == 0 && u->n_started == 0) {
                LIST_REMOVE(users, q->users, u);
                free(u);
        }
}

void fair_queue_init(FairQueue *q, unsigned share) {
        *q = (FairQueue) { .share = share };
}

void fair_queue_done(FairQueue *q) {
        while (q->users) {
                FairUser *u = q->users;

                LIST_REMOVE(users, q->users, u);
                free(u);
        }
        q->ready_head = q->ready_tail = NULL;
}

static FairUser *user_find(const FairQueue *q, uid_t uid) {
        /* A walk: the uids with work in the daemon at one moment are few. */
        for (FairUser *u = q->users; u; u = u->users_next)
                if (u->uid == uid)
                        return u;
        return NULL;
}

/* uid's record, made if it has none; NULL without memory. A new record must get a job
 * before the next user_update() of it, which would free it. */
static FairUser *user_get(FairQueue *q, uid_t uid) {
        FairUser *u = user_find(q, uid);

        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u)
                        return NULL;
                u->uid = uid;
                LIST_PREPEND(users, q->users, u);
        }
        return u;
}

static void push(FairQueue *q, FairUser *u, FairNode *node, void *job) {
        *node = (FairNode) { .job = job, .user = u, .nodes_prev = u->tail };
        if (u->tail)
                u->tail->nodes_next = node;
        else
                u->head = node;
        u->tail = node;
        u->n_waiting++;
        q->n_waiting++;
        user_update(q, u);
}

int fair_queue_push(FairQueue *q, uid_t uid, FairNode *node, void *job) {
        FairUser *u = user_get(q, uid);

        if (!u)
                return -ENOMEM;
        push(q, u, node, job);
        return 0;
}

static unsigned jobs_of(const FairUser *u) {
        return u ? u->n_waiting + u->n_started : 0;
}

int fair_queue_also_wanted_by(FairQueue *q, FairNode *node, uid_t uid) {
        FairUser *u = user_find(q, uid);
        void *job = node->job;

        if (node->started || node->user->uid == uid || jobs_of(u) >= jobs_of(node->user))
                return 0;
        u = user_get(q, uid);
        if (!u)
                return -ENOMEM;
        fair_queue_remove(q, node);
        push(q, u, node, job);
        return 1;
}

/* Takes node out of its uid's waiting queue (the counts are the caller's). */
static void unlink_waiting(FairUser *u, FairNode *node) {
        if (node->nodes_prev)
                node->nodes_prev->nodes_next = node->nodes_next;
        else
                u->head = node->nodes_next;
        if (node->nodes_next)
                node->nodes_next->nodes_prev = node->nodes_prev;
        else
                u->tail = node->nodes_prev;
        node->nodes_next = node->nodes_prev = NULL;
}

FairNode *fair_queue_start(FairQueue *q) {
        FairUser *u = q->ready_head;
        FairNode *node;

        if (!u)
                return NULL;
        node = u->head;
        unlink_waiting(u, node);
        node->started = true;
        u->n_waiting--;
        u->n_started++;
        q->n_waiting--;
        q->n_started++;
        /* To the back of the ring: the next uid in turn starts the next job. */
        ring_remove(q, u);
        user_update(q, u);
        return node;
}

void fair_queue_finish(FairQueue *q, FairNode *node) {
        FairUser *u = node->user;

        u->n_started--;
        q->n_started--;
        node->user = NULL;
        node->started = false;
        user_update(q, u);
}

void fair_queue_remove(FairQueue *q, FairNode *node) {
        FairUser *u = node->user;

        unlink_waiting(u, node);
        u->n_waiting--;
        q->n_waiting--;
        node->user = NULL;
        user_update(q, u);
}

FairNode *fair_queue_any_waiting(const FairQueue *q) {
        for (FairUser *u = q->users; u; u = u->users_next)
                if (u->head)
                        return u->head;
        return NULL;
}

unsigned fair_queue_started_for(const FairQueue *q, uid_t uid) {
        FairUser *u = user_find(q, uid);

        return u ? u->n_started : 0;
}
