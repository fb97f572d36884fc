/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The service manager's notify protocol (sd_notify(3)) without blocking the event loop:
 * libsystemd's sd_notify() blocks while the manager's queue is full, and a stalled
 * manager must not stall every client. Keeps no socket: each message has its own.
 */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* How long a state change (READY=1, RELOADING=1, STOPPING=1) may wait for room in the
 * manager's queue: long enough for a busy PID 1, short enough that clients never notice. */
#define NOTIFY_WAIT_MSEC 200

/* Sends the formatted message (notify_send_fds() without fds). must_arrive: wait up to
 * NOTIFY_WAIT_MSEC for room; otherwise (routine STATUS=, WATCHDOG=1) drop it if the queue is
 * full. Returns 1 sent, 0 no $NOTIFY_SOCKET, or -errno. */
int notify_send(bool must_arrive, const char *format, ...) _printf_(2, 3);
/* Sends text with fds[0..n) (SCM_RIGHTS, n <= PROTO_MAX_FDS = the kernel's SCM_MAX_FD) if
 * $NOTIFY_SOCKET is set: for FDSTORE=1 and FDSTOREREMOVE=1 (fdstore.c). The fds stay the
 * caller's. Uses a socket of its own, connected and closed again within the call, so that
 * a full queue can be waited for (poll() on an unconnected datagram socket says nothing
 * about the receiver) and no fd stays open between calls. must_arrive: wait at most
 * NOTIFY_WAIT_MSEC for room; otherwise -EAGAIN at once. Returns 1 sent, 0 no
 * $NOTIFY_SOCKET, or -errno (-E2BIG past PROTO_MAX_FDS, -ETIMEDOUT, -EAGAIN). */
int notify_send_fds(bool must_arrive, const char *text, const int *fds, size_t n);
