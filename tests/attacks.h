/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The attack suite (issue 13): every way an unprivileged local user was seen to hurt the
 * daemon or another user, run against the real daemon (root, user mode, its own network
 * namespace) by `nobody` and a second ordinary uid. Each attacks-*.c file adds one TCase per
 * attack to the suite; each test asserts what the victim is promised (answered, nothing
 * stolen, nothing created, memory bounded, the refusal in words) and fails without its fix.
 *
 * Shared here: the daemon fixture, children that drop to a uid, and "another client is
 * served" checks. Time bounds in these helpers are generous ceilings for a stalled loop
 * (tens of seconds), never a measure of speed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct Suite;
struct TestDaemon;

/* The hostile uids: nobody, and an ordinary uid with no passwd entry (its own group). */
#define ATTACK_NOBODY 65534
#define ATTACK_OTHER 1234

/* The daemon of the running test, started by attack_setup() (or attack_start_daemon()). */
extern struct TestDaemon attack_daemon;
/* Its fd count once it held still after start. */
extern int attack_baseline_fds;

/* Fixture: a fresh network namespace, fds from 3 close-on-exec, the daemon started with
 * extra_args (NULL-terminated, may be NULL) and reachable by any uid. */
void attack_start_daemon(const char *const *extra_args);
/* attack_start_daemon() with the daemon's stderr (its log) in the file log. */
void attack_start_daemon_logged(const char *const *extra_args, const char *log);
/* Asserts that path can be read (its first MiB): how often needle occurs in it. */
int attack_count_in_file(const char *path, const char *needle);
/* Checked fixtures: attack_start_daemon(NULL), and kill it. */
void attack_setup(void);
void attack_teardown(void);

/* In a child: report and fail; the parent asserts the exit status and shows stderr. */
#define ATTACK_CHECK(cond, ...)                                                                              \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "attack child, %s:%d: ", __FILE__, __LINE__);                        \
                        fprintf(stderr, __VA_ARGS__);                                                        \
                        fputc('\n', stderr);                                                                 \
                        _exit(1);                                                                            \
                }                                                                                            \
        } while (0)

/* Forks a child that drops to uid (gid the same, no supplementary groups) and runs fn(arg),
 * then _exit(0). Returns its pid; the child is killed with the test process. */
pid_t attack_spawn_as(uid_t uid, void (*fn)(void *), void *arg);
/* Waits up to timeout_s for pid (then kills it) and asserts that it exited 0. */
void attack_wait_child(pid_t pid, int timeout_s);
/* attack_spawn_as() then attack_wait_child(). */
void attack_run_as(uid_t uid, void (*fn)(void *), void *arg, int timeout_s);

/* In a child: a SEQPACKET connection to the daemon (ATTACK_CHECK on failure). */
int attack_connect(void);
/* Asserts that a new client of uid (0 for root) gets a STATUS reply within timeout_ms, and
 * returns how long it took in ms (for messages and make bench, never for a verdict). */
long long attack_assert_status_answered(uid_t uid, int timeout_ms);
/* Asserts that the daemon answers and its fds are back at attack_baseline_fds. */
void attack_assert_healthy(void);

/* In a child, on a connection to the daemon (attacks-replies.c): rule i of a scope has the
 * host h%05u.<long labels>.test and, unless given, the target t%05u.<long labels>.test, some
 * 430 bytes in a list; rules are set with a TTL (no state file). */
void attack_rule_host(char *buf, size_t len, unsigned i);
void attack_set_rule(int fd, const char *scope, unsigned i, const char *target);
/* Sets rules 0..n-1 of scope, pipelined. */
void attack_fill_scope(int fd, const char *scope, unsigned n);
/* Sends an OVERRIDE_LIST of scope, reading nothing. */
void attack_send_list(int fd, const char *scope, uint32_t serial);

/* One function per attacks-*.c file: adds its TCases to s. */
void attacks_add_conns(struct Suite *s);
void attacks_add_names(struct Suite *s);
void attacks_add_workers(struct Suite *s);
void attacks_add_persist(struct Suite *s);
void attacks_add_sockets(struct Suite *s);
void attacks_add_index(struct Suite *s);
void attacks_add_fds(struct Suite *s);
void attacks_add_replies(struct Suite *s);
