/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Acting with a client's credentials, on the calling thread only (see as-user.c). Used
 * wherever the kernel stamps or checks the credentials of whoever makes a socket: the uid
 * a reuseport socket may share a port with (bind.c, group.c), the permissions of a unix
 * socket's directories and its node's owner and mode (bind-unix.c), and the credentials
 * a unix listener shows its peers (bind-unix.c, held.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct AsUser {
        bool active;
        uid_t euid;
        gid_t egid;
        gid_t *groups;
        size_t n_groups;
        int umask; /* the thread's umask to restore, or -1 */
        unsigned caps[2];
} AsUser;

#define AS_USER_INIT                                                                                         \
        { .umask = -1 }

/* With the daemon's CAP_DAC_OVERRIDE kept in effect, if the daemon has it (for a node made
 * directly in an allowed directory, where the daemon's privilege stands in for the
 * client's). */
#define AS_USER_DAC_OVERRIDE 1u

/* Makes the calling thread act as uid/gid with the supplementary groups (effective and
 * filesystem ids, groups; the daemon's capabilities leave the effective set unless flags
 * keep CAP_DAC_OVERRIDE), and, if mode >= 0, sets the thread's own umask so that a node
 * bind() creates gets exactly mode. Other threads are untouched. Returns 0, or -errno
 * with nothing changed (-EPERM: a daemon not running as root cannot act as another uid).
 * Every successful as_user_enter() must be followed by as_user_leave() on the same thread
 * before the thread does anything else for the daemon. */
int as_user_enter(AsUser *s, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, unsigned flags,
                  int mode);
/* Restores what as_user_enter() changed. Aborts the daemon if the kernel refuses: it must
 * never go on with another uid's credentials. */
void as_user_leave(AsUser *s);

/* socket(family, type, protocol) stamped with uid (the owner the kernel compares for
 * SO_REUSEPORT, from the thread's filesystem uid at socket()). Returns the fd or -errno
 * (-EPERM if the stamp could not be given: a daemon not running as root). */
int as_user_socket(uid_t uid, int family, int type, int protocol);
