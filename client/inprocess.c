/* SPDX-License-Identifier: MIT */

/*
 * The in-process helpers of netutil.h: Tornado's is_valid_ip(), bind_sockets() and
 * bind_unix_socket() (shared/reference/tornado-netutil.md §4, §1, §2) run in the caller's
 * process with the caller's rights; no daemon, no policy. Owns only the conversion to the
 * public types and the unix socket's filesystem steps. Must not copy bind_sockets() (it
 * calls common/bind.c, the one implementation), switch on EAI codes (common/gai.c does),
 * log, or keep an fd it does not return.
 */

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bind.h"
#include "client.h"
#include "gai.h"

/* Bits a socket node's mode may have: setuid, setgid and sticky mean nothing on a socket,
 * and the daemon's BIND_UNIX refuses them too. */
#define UNIX_MODE_MASK 0777u

/* ip is NUL-terminated and not empty. */
static int is_valid_ip_internal(const char *ip) {
        /* Tornado's hints exactly: AF_UNSPEC, SOCK_STREAM, proto 0, AI_NUMERICHOST (so no
         * lookup can block or reach the network). */
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = 0,
                .ai_flags = AI_NUMERICHOST,
        };
        struct addrinfo *res = NULL;
        int r;

        errno = 0;
        r = getaddrinfo(ip, NULL, &hints, &res);
        if (r == EAI_NONAME)
                return 0;
        if (r != 0)
                /* Tornado lets every other gaierror propagate: an error, not a verdict. */
                return -gai_to_errno(r, errno);
        r = res ? 1 : 0;
        if (res)
                freeaddrinfo(res);
        return r;
}

_public_ int netutil_is_valid_ip(const char *ip) {
        if (!ip)
                return -EINVAL;
        /* getaddrinfo() would resolve "" as localhost (Tornado issue #893). */
        if (ip[0] == '\0')
                return 0;
        return is_valid_ip_internal(ip);
}

_public_ int netutil_is_valid_ip_n(const char *ip, size_t len) {
        _cleanup_(freep) char *copy = NULL;

        if (!ip)
                return -EINVAL;
        if (len == 0)
                return 0;
        /* getaddrinfo() would stop at the NUL and judge only what comes before it. */
        if (memchr(ip, '\0', len))
                return 0;
        copy = strndup(ip, len);
        if (!copy)
                return -ENOMEM;
        return is_valid_ip_internal(copy);
}

_public_ int netutil_bind_sockets(const netutil_bind_options *opts, netutil_socket **ret, int *ret_gai) {
        BoundSocket *bound = NULL;
        netutil_socket *s = NULL;
        BindParams p = {};
        int n;

        if (ret_gai)
                *ret_gai = 0;
        if (!opts || !ret)
                return -EINVAL;
        /* As the daemon's BIND: the families netutil.h documents, nothing getaddrinfo
         * would only turn into EAI_FAMILY. */
        if (opts->family != AF_UNSPEC && opts->family != AF_INET && opts->family != AF_INET6)
                return -EAFNOSUPPORT;

        p = (BindParams) {
                .address = opts->address,
                .service = opts->port,
                .family = opts->family,
                .socktype = opts->udp ? SOCK_DGRAM : SOCK_STREAM,
                .backlog = opts->backlog,
                .flags = opts->flags == -1 ? BIND_FLAGS_DEFAULT : opts->flags,
                .reuse_port = opts->reuse_port != 0,
        };
        n = bind_sockets(&p, NULL, NULL, &bound, ret_gai, NULL);
        if (n < 0)
                return n;

        /* At least one element, so that *ret is a real array even for 0 sockets, as the
         * daemon's answer and bind_sockets() give. */
        s = calloc(MAX((size_t) n, (size_t) 1), sizeof(netutil_socket));
        if (!s) {
                bound_sockets_free(bound, (size_t) n);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                s[i] = (netutil_socket) {
                        .fd = TAKE_FD(bound[i].fd),
                        .family = bound[i].family,
                        .type = bound[i].socktype,
                        .address = bound[i].addr,
                        .address_len = bound[i].addr_len,
                };
        }
        bound_sockets_free(bound, (size_t) n); /* every fd was taken: frees the array only */

        *ret = s;
        return n;
}

_public_ int netutil_bind_unix_socket(const char *path, size_t path_len, unsigned mode, int backlog) {
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t sa_len;
        bool abstract;
        struct stat st;
        int r;

        if (!path)
                return -EINVAL;
        if (path_len == 0)
                path_len = strlen(path);
        /* Tornado would bind "" (the kernel autobinds an abstract name) and then fail in
         * chmod(""); an empty path is an argument error here. */
        if (path_len == 0)
                return -EINVAL;
        if (mode & ~UNIX_MODE_MASK)
                return -EINVAL;
        abstract = path[0] == '\0';
        /* A path needs its NUL inside sun_path (107 bytes on Linux, Python's "AF_UNIX
         * path too long"); an abstract name may fill all 108. Checked before anything is
         * touched: Tornado would already have removed an old socket. */
        if (path_len > sizeof(sa.sun_path) - (abstract ? 0 : 1))
                return -ENAMETOOLONG;
        /* A filesystem path cannot contain a NUL; stat() and bind() would cut it short. */
        if (!abstract && memchr(path, '\0', path_len))
                return -EINVAL;
        memcpy(sa.sun_path, path, path_len);
        sa_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + path_len + (abstract ? 0 : 1));

        /* Steps 1-3: before the filesystem is touched, so a failure here (EMFILE) leaves
         * an old socket in place. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0 && errno != ENOPROTOOPT)
                return -errno;

        if (!abstract) {
                /* Step 4.1, as Tornado: stat() follows symlinks, so a symlink to a socket is
                 * itself removed and replaced; a missing path is fine; anything else that
                 * exists is refused ("File PATH exists and is not a socket"). */
                if (stat(sa.sun_path, &st) >= 0) {
                        if (!S_ISSOCK(st.st_mode))
                                return -EEXIST;
                        /* ENOENT: someone removed it first, which is all we wanted. */
                        if (unlink(sa.sun_path) < 0 && errno != ENOENT)
                                return -errno;
                } else if (errno != ENOENT)
                        return -errno;
        }

        /* Step 4.2 (missing directory: ENOENT; dangling symlink: EADDRINUSE) or 5. */
        if (bind(fd, (const struct sockaddr *) &sa, sa_len) < 0)
                return -errno;

        /* Step 4.3: an explicit chmod, so the mode is exact whatever the umask. Ours on
         * failure: the node we just made is removed with the socket. */
        if (!abstract && chmod(sa.sun_path, (mode_t) mode) < 0) {
                r = -errno;
                (void) unlink(sa.sun_path);
                return r;
        }

        /* Step 6. Python clamps a negative backlog to 0. */
        if (listen(fd, MAX(backlog, 0)) < 0) {
                r = -errno;
                if (!abstract)
                        (void) unlink(sa.sun_path);
                return r;
        }

        return TAKE_FD(fd);
}
