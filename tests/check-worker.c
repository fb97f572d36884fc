/* SPDX-License-Identifier: MIT */

/*
 * The worker pool and its fair queue (daemon/worker.c, daemon/fair-queue.c): uids take
 * turns, one uid's started jobs never exceed its share, a job holds its share until work()
 * returns, and a job that has not started can be taken back. The attack on the real daemon
 * is in attacks-workers.c.
 */

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fair-queue.h"
#include "macro.h"
#include "worker.h"

/* ---- the fair queue ------------------------------------------------------------------ */

/* One row per case: jobs pushed as "uid:name", a share, and the order they start in when
 * every started job is finished at once ("|" where none may start until one finishes). */
START_TEST(test_fair_queue_takes_turns_and_keeps_each_uid_to_its_share) {
        static const struct {
                const char *name;
                unsigned share;
                const char *push; /* uid letter and job letter pairs */
                unsigned batch;   /* jobs started before the first finishes */
                const char *want; /* the start order, job letters */
        } rows[] = {
                {"one uid alone keeps its order", 0, "a1a2a3", 3, "123"},
                {"uids take turns, one job each", 0, "a1a2a3b4c5", 5, "14523"},
                {"a late uid goes before the flood's rest", 0, "a1a2a3a4b5", 5, "15234"},
                {"a uid at its share waits for its own jobs", 2, "a1a2a3b4", 3, "142"},
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                FairQueue q;
                FairNode nodes[16];
                char got[16] = "";
                size_t n = strlen(rows[i].push) / 2, k = 0;
                FairNode *started[16];

                fair_queue_init(&q, rows[i].share);
                for (size_t j = 0; j < n; j++)
                        ck_assert_int_eq(fair_queue_push(&q, (uid_t) rows[i].push[2 * j], &nodes[j],
                                                         (void *) &rows[i].push[2 * j + 1]),
                                         0);
                for (FairNode *node; k < rows[i].batch && (node = fair_queue_start(&q)); k++) {
                        got[k] = *(const char *) node->job;
                        started[k] = node;
                }
                ck_assert_msg(strcmp(got, rows[i].want) == 0, "%s: started %s, not %s", rows[i].name, got,
                              rows[i].want);
                ck_assert_uint_eq(q.n_started, k);
                ck_assert_uint_eq(q.n_waiting, n - k);
                /* Nothing left may start while those run if a share held the rest back. */
                ck_assert_uint_eq(q.n_startable, 0);
                for (size_t j = 0; j < k; j++)
                        fair_queue_finish(&q, started[j]);
                while (fair_queue_any_waiting(&q))
                        fair_queue_remove(&q, fair_queue_any_waiting(&q));
                ck_assert_uint_eq(q.n_waiting + q.n_started + q.n_startable, 0);
                ck_assert_ptr_null(q.users);
                fair_queue_done(&q);
        }
}
END_TEST

START_TEST(test_fair_queue_frees_a_place_only_when_a_job_finishes) {
        FairQueue q;
        FairNode nodes[3], *a, *b;

        fair_queue_init(&q, 1);
        for (int j = 0; j < 3; j++)
                ck_assert_int_eq(fair_queue_push(&q, 65534, &nodes[j], &nodes[j]), 0);
        a = fair_queue_start(&q);
        ck_assert_ptr_eq(a, &nodes[0]);
        ck_assert_ptr_null(fair_queue_start(&q));
        ck_assert_uint_eq(fair_queue_started_for(&q, 65534), 1);
        /* A waiting job taken back frees no place. */
        fair_queue_remove(&q, &nodes[1]);
        ck_assert_ptr_null(fair_queue_start(&q));
        fair_queue_finish(&q, a);
        b = fair_queue_start(&q);
        ck_assert_ptr_eq(b, &nodes[2]);
        fair_queue_finish(&q, b);
        ck_assert_ptr_null(q.users);
        fair_queue_done(&q);
}
END_TEST

/* A job queued by a flooding uid that another uid wants too moves to that uid's queue, and
 * the flood cannot take it back; a uid with as many jobs as the owner leaves it where it is. */
START_TEST(test_fair_queue_moves_a_shared_job_to_the_lighter_uid) {
        FairQueue q;
        FairNode flood[4], other[2], *node;

        fair_queue_init(&q, 1);
        for (int j = 0; j < 4; j++)
                ck_assert_int_eq(fair_queue_push(&q, 65534, &flood[j], &flood[j]), 0);
        ck_assert_ptr_eq(fair_queue_start(&q), &flood[0]);
        /* Nobody's last job is a name uid 1234 asks for too. */
        ck_assert_int_eq(fair_queue_also_wanted_by(&q, &flood[3], 1234), 1);
        ck_assert_int_eq(fair_queue_also_wanted_by(&q, &flood[3], 65534), 0);
        ck_assert_int_eq(fair_queue_also_wanted_by(&q, &flood[3], 1234), 0);
        /* A started job stays with its uid. */
        ck_assert_int_eq(fair_queue_also_wanted_by(&q, &flood[0], 1234), 0);
        node = fair_queue_start(&q);
        ck_assert_ptr_eq(node, &flood[3]);
        ck_assert_uint_eq(fair_queue_started_for(&q, 1234), 1);
        /* Uid 77, with as many jobs as nobody (two each), leaves nobody's where it is. */
        fair_queue_finish(&q, node);
        fair_queue_finish(&q, &flood[0]);
        ck_assert_ptr_eq(fair_queue_start(&q), &flood[1]);
        ck_assert_int_eq(fair_queue_push(&q, 77, &other[0], &other[0]), 0);
        ck_assert_int_eq(fair_queue_push(&q, 77, &other[1], &other[1]), 0);
        ck_assert_int_eq(fair_queue_also_wanted_by(&q, &flood[2], 77), 0);
        fair_queue_finish(&q, &flood[1]);
        fair_queue_remove(&q, &flood[2]);
        fair_queue_remove(&q, &other[0]);
        fair_queue_remove(&q, &other[1]);
        ck_assert_ptr_null(q.users);
        fair_queue_done(&q);
}
END_TEST

/* ---- the pool ------------------------------------------------------------------------- */

/* A job that blocks until the test lets it go, and counts what happened to it. */
typedef struct Gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool open;
        unsigned running; /* in work() now */
        unsigned done;    /* done() called, not cancelled */
} Gate;

static Gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};

static void gate_work(void *userdata) {
        pthread_mutex_lock(&gate.lock);
        gate.running++;
        pthread_cond_broadcast(&gate.cond);
        while (!gate.open)
                pthread_cond_wait(&gate.cond, &gate.lock);
        gate.running--;
        pthread_mutex_unlock(&gate.lock);
}

static void quick_work(void *userdata) {
}

static void count_done(void *userdata, bool cancelled) {
        if (!cancelled)
                (*(unsigned *) userdata)++;
}

static void wait_running(unsigned n) {
        pthread_mutex_lock(&gate.lock);
        while (gate.running != n)
                pthread_cond_wait(&gate.cond, &gate.lock);
        pthread_mutex_unlock(&gate.lock);
}

/* Runs the loop until *counter reaches want. */
static void run_until(sd_event *e, const unsigned *counter, unsigned want) {
        while (*counter < want)
                ck_assert_int_ge(sd_event_run(e, 10 * 1000 * 1000), 0);
}

/* Four threads, a share of two: nobody's jobs that block hold two threads, and its third
 * waits; another uid's job runs meanwhile; nobody's waiting job can be taken back; once
 * nobody's work() returns, the rest runs. */
START_TEST(test_pool_keeps_threads_for_other_uids_while_one_uid_blocks) {
        sd_event *e = NULL;
        WorkerPool *p = NULL;
        WorkerJob *fourth = NULL;
        unsigned nobody_done = 0, other_done = 0;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(worker_pool_new(e, 4, 2, &p), 0);
        for (int i = 0; i < 2; i++)
                ck_assert_int_eq(worker_submit(p, 65534, gate_work, count_done, &nobody_done, NULL), 0);
        ck_assert_int_eq(worker_submit(p, 65534, gate_work, count_done, &nobody_done, NULL), 0);
        ck_assert_int_eq(worker_submit(p, 65534, gate_work, count_done, &nobody_done, &fourth), 0);
        wait_running(2);
        ck_assert_int_eq(worker_submit(p, 1234, quick_work, count_done, &other_done, NULL), 0);
        run_until(e, &other_done, 1);
        ck_assert_uint_eq(gate.running, 2);
        ck_assert(worker_cancel(p, fourth));
        pthread_mutex_lock(&gate.lock);
        gate.open = true;
        pthread_cond_broadcast(&gate.cond);
        pthread_mutex_unlock(&gate.lock);
        run_until(e, &nobody_done, 3);
        ck_assert_uint_eq(worker_pool_busy(p), 0);
        p = worker_pool_free(p);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_pool_refuses_a_share_beyond_its_threads) {
        sd_event *e = NULL;
        WorkerPool *p = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(worker_pool_new(e, 4, 5, &p), -EINVAL);
        ck_assert_int_eq(worker_pool_new(e, 4, 0, &p), -EINVAL);
        sd_event_unref(e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("worker");
        TCase *tc = tcase_create("fair queue");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_fair_queue_takes_turns_and_keeps_each_uid_to_its_share);
        tcase_add_test(tc, test_fair_queue_frees_a_place_only_when_a_job_finishes);
        tcase_add_test(tc, test_fair_queue_moves_a_shared_job_to_the_lighter_uid);
        suite_add_tcase(s, tc);
        tc = tcase_create("pool");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_pool_keeps_threads_for_other_uids_while_one_uid_blocks);
        tcase_add_test(tc, test_pool_refuses_a_share_beyond_its_threads);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
