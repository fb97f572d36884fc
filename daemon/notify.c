/* SPDX-License-Identifier: MIT */

/* Non-blocking sd_notify (notify.h). */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netutil-proto.h"
#include "notify.h"

/* The address of $NOTIFY_SOCKET. Returns its length, 0 if unset or not a unix socket, or
 * -ENAMETOOLONG. */
static int notify_address(struct sockaddr_un *sa) {
        const char *e = getenv("NOTIFY_SOCKET");
        size_t len;

        if (!e || (e[0] != '/' && e[0] != '@'))
                return 0;
        len = strlen(e);
        if (len >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(sa->sun_path, e, len);
        if (sa->sun_path[0] == '@')
                sa->sun_path[0] = '\0'; /* abstract */
        return (int) (offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/' ? 1 : 0));
}

int notify_send_fds(bool must_arrive, const char *text, const int *fds, size_t n) {
        _cleanup_(closep) int fd = -EBADF;
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) text, .iov_len = strlen(text) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct sockaddr_un sa;
        bool waited = !must_arrive;
        int r;

        if (n > PROTO_MAX_FDS)
                return -E2BIG;
        r = notify_address(&sa);
        if (r <= 0)
                return r;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* Connected: poll() then reports whether the receiver's queue has room. */
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) r) < 0)
                return -errno;
        if (n > 0) {
                struct cmsghdr *c;

                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };

                if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 1;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN || waited)
                        return -errno;
                waited = true;
                if (poll(&p, 1, NOTIFY_WAIT_MSEC) <= 0)
                        return -ETIMEDOUT;
        }
}

int notify_send(bool must_arrive, const char *format, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        return notify_send_fds(must_arrive, msg, NULL, 0);
}
