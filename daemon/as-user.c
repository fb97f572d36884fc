/* SPDX-License-Identifier: MIT */

/*
 * Acting with a client's credentials on one thread (as-user.h). Owns every change of the
 * daemon's credentials, its umask and its capabilities after start, and their
 * restoration. The kernel keeps credentials per thread, and the raw system calls change
 * only the calling thread's; glibc's setresuid()/setgroups() wrappers change every thread
 * of the process (the SIGSETXID broadcast), so they are never used here, nor anywhere else
 * in the daemon after start: a worker binding for one client must not change the loop's
 * credentials, nor the loop another worker's. The umask lives in the fs_struct that
 * threads share, so a thread that sets one for a client first takes its own copy
 * (unshare(CLONE_FS)).
 *
 * What the kernel does with them (Linux ≥ 4.10):
 *   - socket() stamps the socket with the thread's filesystem uid (its inode's owner and
 *     sk_uid, the uid SO_REUSEPORT compares); CAP_NET_BIND_SERVICE is not a filesystem
 *     capability, so bind() to a low port still works with another filesystem uid;
 *   - an effective uid other than 0 takes every capability out of the effective set and
 *     0 again puts the permitted ones back (the real and saved uids stay the daemon's,
 *     so the permitted set is kept); capset() may raise one of them in between;
 *   - listen() stamps a unix listener with the thread's effective uid, gid and groups and
 *     its pid: what SO_PEERCRED and SO_PEERGROUPS show every peer that connects.
 * Restoring must not fail; if the kernel refuses, the daemon aborts rather than serve
 * anyone with another uid's credentials.
 */

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "as-user.h"
#include "log.h"
#include "macro.h"

/* Set once the thread has its own umask (and cwd and root) instead of the process's. */
static _Thread_local bool thread_fs_private;

static int caps_get(unsigned eff[2], struct __user_cap_data_struct d[2]) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

        /* The kernel fills both; valgrind (3.19) marks only the first as written. */
        memset(d, 0, 2 * sizeof(*d));
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        eff[0] = d[0].effective;
        eff[1] = d[1].effective;
        return 0;
}

static int caps_set_effective(const unsigned eff[2]) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];
        unsigned now[2];
        int r;

        r = caps_get(now, d);
        if (r < 0)
                return r;
        d[0].effective = eff[0];
        d[1].effective = eff[1];
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Coming back: the uid first, which brings CAP_SETGID back for the rest. */
static int reset_ids(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        if (syscall(SYS_setresuid, -1, uid, -1) < 0 || syscall(SYS_setresgid, -1, gid, -1) < 0 ||
            syscall(SYS_setgroups, n_groups, groups) < 0)
                return -errno;
        return 0;
}

_Noreturn static void restore_failed(const char *what, int error) {
        log_error_errno(error,
                        "Failed to restore the daemon's own %s after acting for a client: %m; aborting.",
                        what);
        abort();
}

int as_user_enter(AsUser *s, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, unsigned flags,
                  int mode) {
        struct __user_cap_data_struct d[2];
        int n, r;

        *s = (AsUser) AS_USER_INIT;
        if (mode >= 0 && !thread_fs_private) {
                if (unshare(CLONE_FS) < 0)
                        return -errno;
                thread_fs_private = true;
        }

        if (geteuid() != 0) {
                /* Not root: only our own uid, and no one's groups but ours. */
                if (uid != geteuid())
                        return -EPERM;
        } else {
                s->euid = geteuid();
                s->egid = getegid();
                n = getgroups(0, NULL);
                if (n < 0)
                        return -errno;
                s->groups = calloc((size_t) n + 1, sizeof(gid_t));
                if (!s->groups)
                        return -ENOMEM;
                n = getgroups(n, s->groups);
                if (n < 0) {
                        r = -errno;
                        free(s->groups);
                        return r;
                }
                s->n_groups = (size_t) n;
                r = caps_get(s->caps, d);
                if (r < 0) {
                        free(s->groups);
                        return r;
                }

                /* Groups first, while the effective uid still carries CAP_SETGID; a step
                 * the kernel refuses undoes the ones before it (the first changes nothing). */
                if (syscall(SYS_setgroups, n_groups, groups) < 0) {
                        r = -errno;
                        free(s->groups);
                        return r;
                }
                if (syscall(SYS_setresgid, -1, gid, -1) < 0 || syscall(SYS_setresuid, -1, uid, -1) < 0) {
                        r = -errno;
                        if (reset_ids(s->euid, s->egid, s->groups, s->n_groups) < 0)
                                restore_failed("credentials", errno);
                        free(s->groups);
                        return r;
                }
                s->active = true;
                if (flags & AS_USER_DAC_OVERRIDE) {
                        unsigned eff[2] = {0, 0};

                        /* Only if the daemon has it: without, the client's permissions alone
                         * decide (a daemon whose bounding set lacks it). */
                        eff[CAP_TO_INDEX(CAP_DAC_OVERRIDE)] |=
                                CAP_TO_MASK(CAP_DAC_OVERRIDE) & d[CAP_TO_INDEX(CAP_DAC_OVERRIDE)].permitted;
                        r = caps_set_effective(eff);
                        if (r < 0) {
                                as_user_leave(s);
                                return r;
                        }
                }
        }
        if (mode >= 0)
                s->umask = (int) umask((mode_t) (0777 & ~mode));
        return 0;
}

void as_user_leave(AsUser *s) {
        struct __user_cap_data_struct d[2];
        unsigned eff[2] = {0, 0};
        gid_t *now = NULL;
        int n;

        if (s->umask >= 0)
                (void) umask((mode_t) s->umask);
        s->umask = -1;
        if (!s->active)
                return;

        if (reset_ids(s->euid, s->egid, s->groups, s->n_groups) < 0)
                restore_failed("credentials", errno);
        if (caps_set_effective(s->caps) < 0)
                restore_failed("capabilities", errno);
        /* Read everything back: the filesystem ids follow the effective ones. */
        if (geteuid() != s->euid || getegid() != s->egid || (uid_t) setfsuid((uid_t) -1) != s->euid ||
            (gid_t) setfsgid((gid_t) -1) != s->egid)
                restore_failed("uid or gid", EPERM);
        if (caps_get(eff, d) < 0 || eff[0] != s->caps[0] || eff[1] != s->caps[1])
                restore_failed("capabilities", EPERM);
        n = getgroups(0, NULL);
        if (n >= 0) {
                now = calloc((size_t) n + 1, sizeof(gid_t));
                if (now)
                        n = getgroups(n, now);
        }
        if (!now || n < 0 || (size_t) n != s->n_groups ||
            memcmp(now, s->groups, s->n_groups * sizeof(gid_t)) != 0)
                restore_failed("groups", now ? EPERM : ENOMEM);
        free(now);
        free(s->groups);
        s->groups = NULL;
        s->active = false;
}

int as_user_socket(uid_t uid, int family, int type, int protocol) {
        _cleanup_(closep) int fd = -EBADF;
        uid_t saved = (uid_t) setfsuid((uid_t) -1);
        struct stat st;
        int r = 0;

        if (uid != saved)
                (void) setfsuid(uid);
        fd = socket(family, type, protocol);
        if (fd < 0)
                r = -errno;
        if (uid != saved) {
                (void) setfsuid(saved);
                if ((uid_t) setfsuid((uid_t) -1) != saved)
                        restore_failed("filesystem uid", EPERM);
        }
        if (r < 0)
                return r;
        /* setfsuid() does not fail, it ignores: see whether the stamp took. */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != uid)
                return -EPERM;
        return TAKE_FD(fd);
}
