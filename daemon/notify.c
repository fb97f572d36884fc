/* SPDX-License-Identifier: MIT */

/* Non-blocking sd_notify (notify.h). */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static int notify_fd = -EBADF;

void notify_close(void) {
        notify_fd = safe_close(notify_fd);
}

int notify_send(bool must_arrive, const char *format, ...) {
        const char *e = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char msg[1024];
        socklen_t salen;
        size_t len;
        va_list ap;

        if (!e || (e[0] != '/' && e[0] != '@'))
                return 0;
        len = strlen(e);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, e, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0'; /* abstract */
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/' ? 1 : 0));

        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (notify_fd < 0) {
                notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (notify_fd < 0)
                        return -errno;
        }
        for (;;) {
                if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *) &sa,
                           salen) >= 0)
                        return 1;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN || !must_arrive)
                        return -errno;
                /* Wait once for room, then give up rather than hold the loop. */
                struct pollfd p = { .fd = notify_fd, .events = POLLOUT };
                if (poll(&p, 1, NOTIFY_WAIT_MSEC) <= 0)
                        return -ETIMEDOUT;
                must_arrive = false;
        }
}
