/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The service manager's notify protocol (sd_notify(3)) without blocking the event loop:
 * libsystemd's sd_notify() blocks while the manager's queue is full, and a stalled
 * manager must not stall every client. Owns the socket to $NOTIFY_SOCKET.
 */

#include <stdbool.h>

#include "macro.h"

/* How long a state change (READY=1, RELOADING=1, STOPPING=1) may wait for room in the
 * manager's queue: long enough for a busy PID 1, short enough that clients never notice. */
#define NOTIFY_WAIT_MSEC 200

/* Sends the formatted message if $NOTIFY_SOCKET is set. must_arrive: wait up to
 * NOTIFY_WAIT_MSEC for room; otherwise (routine STATUS=) drop it if the queue is full.
 * Returns 1 sent, 0 no $NOTIFY_SOCKET, or -errno. */
int notify_send(bool must_arrive, const char *format, ...) _printf_(2, 3);
/* Closes the socket (at exit). */
void notify_close(void);
