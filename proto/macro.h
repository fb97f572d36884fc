/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small helpers every module uses: cleanup attributes, ownership transfer, fd closing.
 * Header-only; no state, no I/O beyond close(), no logging.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _public_ __attribute__((visibility("default")))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hands ownership of a pointer or an fd to the caller and leaves the variable empty. */
#define TAKE_PTR(p)                                   \
        ({                                            \
                __typeof__(p) _p_ = (p);              \
                (p) = NULL;                           \
                _p_;                                  \
        })
#define TAKE_FD(fd)                                   \
        ({                                            \
                int _fd_ = (fd);                      \
                (fd) = -EBADF;                        \
                _fd_;                                 \
        })

/* Closes fd if valid, keeping errno; returns -EBADF so that "fd = safe_close(fd);" reads well. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Defines "static inline void namep(type **p)" calling func(*p) when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)              \
        static inline void func##p(type **p) {               \
                if (*p)                                       \
                        (void) func(*p);                      \
        }

/* CLOCK_MONOTONIC in microseconds: every deadline, expiry and uptime uses this clock. */
static inline uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

/* Writes all of buf[0..len) to a blocking fd (a file), retrying short writes and EINTR.
 * Returns 0 or -errno. */
static inline int write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Negative errno from a call that sets errno, never 0 even if errno was clobbered. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
