/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The closer (issue 13, item 1): threads that close what a client may have put in the
 * daemon's hands, so that the event loop never does the last close of a foreign file. That
 * close takes as long as the file wants: a TCP socket with unsent data and SO_LINGER
 * {1, N} waits N seconds, a FUSE file waits for its server. The fds come from datagrams
 * that carried some, and from connection sockets whose queue may still hold such datagrams
 * (closing a unix socket drops its queue, and with it the last reference to their files).
 * Only needed where the kernel cannot refuse fds at the socket (SO_PASSRIGHTS, Linux 6.16).
 *
 * Owns the thread and its queue. Must not know who gave what (the caller accounts for its
 * jobs through the done callback, on the loop) and never closes anything on the caller's
 * thread, except when it cannot allocate the job (closer_close()).
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct Closer Closer;

/* Called on the loop for each job once its fd is closed: with closer_new()'s userdata and
 * the job's. */
typedef void (*closer_done_t)(void *userdata, void *job_userdata);

/* Starts the thread. Returns 0 and *ret, or -errno. */
int closer_new(sd_event *e, closer_done_t done, void *userdata, Closer **ret);
/* Stops the thread (it finishes the close it is in, if that ends within a second; else it
 * is left to the process's exit). fds still queued are left to the process's exit too,
 * whose closes do not linger. done is not called for them. Returns NULL. */
Closer *closer_free(Closer *c);
/* Closes fd on a thread of uid's lane (jobs of one uid in order, those of different uids
 * independently; (uid_t) -1 for a client whose uid is unknown), consuming it; with drain,
 * first reads (and drops) what the peer queued, at most PROTO_MAX_INFLIGHT datagrams: for a
 * refused client's socket, so that the client reads its refusal instead of ECONNRESET.
 * done(userdata) follows on the loop. Returns 0, or -ENOMEM (or another -errno when no
 * thread could be started): fd was then closed here, and done is not called. */
int closer_close(Closer *c, int fd, bool drain, uid_t uid, void *userdata);
