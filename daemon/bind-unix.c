/* SPDX-License-Identifier: MIT */

/*
 * BIND_UNIX: Tornado's bind_unix_socket() (reference §2) on a client's behalf, made safe
 * for a privileged daemon. Owns the path walk and the node's creation. The rules:
 *   - the path must lie under a directory the policy allows (abstract names need none:
 *     anyone may bind those without us);
 *   - below that directory the client's own permissions decide, as if it had called
 *     bind() itself: the walk, the unlink of an old socket, the bind() and the listen()
 *     run with its uid, gid and groups (as-user.c, this thread only), so the kernel checks
 *     search permission on every directory and write permission on the last one, ACLs
 *     included. The daemon's privilege stands in only at the allowed directory itself:
 *     CAP_DAC_OVERRIDE is kept for a node made directly in it, never for one below, and
 *     only if no one but root can change the path to it (path_only_root_can_change());
 *   - below that directory no symlink is followed: each component is opened with
 *     O_PATH|O_NOFOLLOW|O_DIRECTORY, so a symlink fails with ENOTDIR;
 *   - an existing socket is replaced if it is the requester's (root: anyone's), anything
 *     else is refused ("File PATH exists and is not a socket"), a symlink included
 *     (Tornado would replace a symlink to a socket); as in Tornado, unlink, then bind;
 *   - the node is made by bind() itself with the path asked for, by the client's
 *     credentials and umask: it appears at its final name with the client's owner and
 *     group (or the directory's, if setgid, as for the client's own bind()) and exactly the
 *     mode asked for, and getsockname() of the handed-over socket (and its peers'
 *     getpeername()) shows that path, as Tornado's does;
 *   - the listener shows its peers the client's uid, gid and groups (SO_PEERCRED,
 *     SO_PEERGROUPS); the pid is the daemon's until libnetutil listen()s it again in the
 *     receiving process.
 *
 * Races. bind() resolves the whole path again after the walk, and a component can be
 * replaced in between (by a symlink, say). That is harmless where only the client's
 * permissions are in effect: wherever the kernel then puts the node, the client could have
 * put it there with its own bind(), and the check after bind() still refuses the socket
 * unless a socket of the client's is at the name in the directory the walk opened. Where
 * the daemon's privilege is in effect (a node directly in the allowed directory), the path
 * is the allowed directory, which is the administrator's (it may contain symlinks, as the
 * policy's own directory always could), and the last component, which bind() never
 * follows. The old socket's unlink runs with the same credentials, so the kernel's
 * write and sticky-bit checks are the client's (CAP_FOWNER is never kept): a name swapped
 * in between is one the client could have removed itself. Requests run one at a time
 * on the loop, so the daemon does not race itself.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "as-user.h"
#include "handlers.h"
#include "held.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

/* Mode bits a client may ask for: permissions plus setgid/sticky make no sense on a
 * socket, so only the 0777 bits. */
#define UNIX_MODE_MASK 0777u
/* Tornado's default mode. */
#define UNIX_DEFAULT_MODE 0600u

/* Opens the directory rel (relative, normalized, may be "") below the directory fd dir
 * without following a symlink in rel, with the thread's credentials. Returns an O_PATH fd
 * or -errno (-ELOOP for a symlink). */
static int open_beneath(int dir, const char *rel) {
        _cleanup_(closep) int fd = -EBADF;
        char buf[PROTO_MAX_UNIX_PATH + 1], *save = NULL;

        fd = fcntl(dir, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        if (strlen(rel) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, rel);
        for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        struct stat st;
                        /* ELOOP tells a symlink from a plain non-directory. */
                        if (errno == ENOTDIR && fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
                            S_ISLNK(st.st_mode))
                                return -ELOOP;
                        return -errno;
                }
                safe_close(fd);
                fd = next;
        }
        return TAKE_FD(fd);
}

/* The part of bind_path() that runs with the client's credentials. */
static int bind_path_as_client(const Creds *creds, int adir, const char *parent, const char *last, const char *path,
                               int backlog, int *ret_fd, char *msg, size_t msg_len) {
        _cleanup_(closep) int dfd = -EBADF, sock = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat old, st;

        dfd = open_beneath(adir, parent);
        if (dfd == -ELOOP) {
                snprintf(msg, msg_len, "Cannot open the directory of '%s' (symlinks are not followed): %s", path,
                         strerror(ENOTDIR));
                return -ENOTDIR;
        }
        if (dfd < 0) {
                snprintf(msg, msg_len, "Cannot open the directory of '%s': %s", path, strerror(-dfd));
                return dfd;
        }

        if (fstatat(dfd, last, &old, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (!S_ISSOCK(old.st_mode)) {
                        snprintf(msg, msg_len, "File %s exists and is not a socket", path);
                        return -EEXIST;
                }
                /* Another user's socket is theirs: replacing it would steal their clients. */
                if (creds->uid != 0 && old.st_uid != creds->uid) {
                        snprintf(msg, msg_len, "Socket %s belongs to uid %u and cannot be replaced by uid %u", path,
                                 (unsigned) old.st_uid, (unsigned) creds->uid);
                        return log_refusal(creds->uid, creds->pid, "BIND_UNIX",
                                           "Refused BIND_UNIX for uid %u pid %d: %s", (unsigned) creds->uid,
                                           (int) creds->pid, msg);
                }
                /* As Tornado: unlink, then bind. */
                if (unlinkat(dfd, last, 0) < 0 && errno != ENOENT) {
                        int r = -errno;
                        snprintf(msg, msg_len, "Cannot replace %s as uid %u: %s", path, (unsigned) creds->uid,
                                 strerror(-r));
                        return r;
                }
        } else if (errno != ENOENT) {
                int r = -errno;
                snprintf(msg, msg_len, "Cannot create %s as uid %u: %s", path, (unsigned) creds->uid, strerror(-r));
                return r;
        }

        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0)
                return -errno;
        /* As Tornado: SO_REUSEADDR, ENOPROTOOPT ignored. */
        if (setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0 && errno != ENOPROTOOPT)
                return -errno;
        strcpy(sa.sun_path, path); /* the caller checked its length */
        if (bind(sock, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path))) <
            0) {
                int r = -errno;
                if (r == -EADDRINUSE)
                        snprintf(msg, msg_len, "File %s appeared while the socket was being made", path);
                else
                        snprintf(msg, msg_len, "Cannot create %s as uid %u: %s", path, (unsigned) creds->uid,
                                 strerror(-r));
                return r;
        }
        /* The name in the directory the walk opened must be a socket of the client's now
         * (see the top of the file: where a swapped component led the bind, the client
         * could have bound itself, but it is not what was asked for). */
        if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != creds->uid) {
                snprintf(msg, msg_len, "File %s changed while it was being created", path);
                return -EAGAIN;
        }
        if (listen(sock, backlog < 0 ? 0 : backlog) < 0)
                return -errno;

        *ret_fd = TAKE_FD(sock);
        return 0;
}

/* Whether only root (or the daemon's uid) can change what the components of path are: each
 * is a directory or symlink of theirs, in a parent that no one else may write in or that is
 * sticky. After a symlink the rest is the resolved path's to answer for. */
static bool components_only_root_can_change(const char *path) {
        char prefix[PATH_MAX];
        struct stat parent, st;
        size_t len = strlen(path);

        if (path[0] != '/' || len >= sizeof(prefix) || lstat("/", &parent) < 0 || parent.st_uid != 0)
                return false;
        for (size_t i = 1; i <= len; i++) {
                /* Each prefix that ends a component: "/a", "/a/b", ... path. */
                if ((i < len && path[i] != '/') || path[i - 1] == '/')
                        continue;
                memcpy(prefix, path, i);
                prefix[i] = '\0';
                if (lstat(prefix, &st) < 0 || (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) ||
                    (st.st_uid != 0 && st.st_uid != geteuid()))
                        return false;
                if ((parent.st_mode & (S_IWGRP | S_IWOTH)) && !(parent.st_mode & S_ISVTX))
                        return false;
                if (S_ISLNK(st.st_mode))
                        return true;
                parent = st;
        }
        return true;
}

/* Whether only root (or the daemon's uid) can change which directory dir leads to: its
 * components as written (symlinks the administrator put there included) and those of the
 * directory it resolves to. bind() resolves the absolute path again after the checks, so
 * the daemon's CAP_DAC_OVERRIDE may stand in for the client at the allowed directory only
 * when no one else can swap a component for a symlink (to /etc, say) meanwhile. */
static bool path_only_root_can_change(const char *dir) {
        char real[PATH_MAX];

        return components_only_root_can_change(dir) && realpath(dir, real) && components_only_root_can_change(real);
}

static int bind_path(Request *req, const char *path, mode_t mode, int backlog, int *ret_fd, char *msg,
                     size_t msg_len) {
        const Creds *creds = &req->conn->creds;
        _cleanup_(closep) int adir = -EBADF;
        char parent[PROTO_MAX_UNIX_PATH + 1];
        const char *dir, *last, *rel;
        AsUser as = AS_USER_INIT;
        int r;

        r = policy_check_unix(req->manager->policy, creds, path, &dir, msg, msg_len);
        if (r < 0) {
                if (r == -EPERM)
                        log_refusal(creds->uid, creds->pid, "BIND_UNIX",
                                    "Refused BIND_UNIX for uid %u pid %d: %s", (unsigned) creds->uid,
                                    (int) creds->pid, msg);
                return r;
        }

        /* parent = the part of path between the allowed directory and the last component. */
        last = strrchr(path, '/') + 1;
        rel = path + strlen(dir);
        while (*rel == '/')
                rel++;
        snprintf(parent, sizeof(parent), "%.*s", (int) (last > rel ? last - rel - 1 : 0), rel);

        /* The allowed directory itself is the administrator's: it may contain symlinks,
         * and the daemon opens it with its own privilege. */
        adir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (adir < 0) {
                r = -errno;
                snprintf(msg, msg_len, "Cannot open the directory of '%s': %s", path, strerror(-r));
                return r;
        }

        r = as_user_enter(&as, creds->uid, creds->gid, creds->groups, creds->n_groups,
                          parent[0] == '\0' && path_only_root_can_change(dir) ? AS_USER_DAC_OVERRIDE : 0,
                          (int) mode);
        if (r < 0) {
                snprintf(msg, msg_len, "Cannot act as uid %u: %s", (unsigned) creds->uid, strerror(-r));
                return r;
        }
        r = bind_path_as_client(creds, adir, parent, last, path, backlog, ret_fd, msg, msg_len);
        as_user_leave(&as);
        return r;
}

static int bind_abstract(const Creds *creds, const char *name, size_t len, int backlog, int *ret_fd, char *msg,
                         size_t msg_len) {
        _cleanup_(closep) int sock = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        AsUser as = AS_USER_INIT;
        int r;

        /* The client's credentials for listen(): they are what its peers see. */
        r = as_user_enter(&as, creds->uid, creds->gid, creds->groups, creds->n_groups, 0, -1);
        if (r < 0) {
                snprintf(msg, msg_len, "Cannot act as uid %u: %s", (unsigned) creds->uid, strerror(-r));
                return r;
        }
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0 ||
            (setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0 && errno != ENOPROTOOPT))
                r = -errno;
        if (r >= 0) {
                memcpy(sa.sun_path, name, len);
                if (bind(sock, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) <
                            0 ||
                    listen(sock, backlog < 0 ? 0 : backlog) < 0)
                        r = -errno;
        }
        as_user_leave(&as);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(sock);
        return 0;
}

/* Absolute, no empty, "." or ".." components, no trailing slash. */
static bool path_is_normalized(const char *p) {
        if (p[0] != '/' || p[1] == '\0')
                return false;
        for (const char *c = p; *c;) {
                const char *e;
                size_t n;

                c++; /* past '/' */
                e = strchrnul(c, '/');
                n = (size_t) (e - c);
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c = e;
        }
        return true;
}

int bind_unix_handle(Request *req, const ProtoView *v, ProtoRecv *fds) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[PROTO_MAX_UNIX_PATH + 1], msg[PROTO_MAX_ERROR_MESSAGE] = "";
        const void *value;
        size_t len;
        const char *name = NULL;
        uint32_t mode = UNIX_DEFAULT_MODE, hold = 0;
        int32_t backlog = 128;
        int fd = -EBADF, r;

        if (proto_get_binary(v, PROTO_ATTR_PATH, &value, &len) < 0 || len == 0)
                return request_error(req, EINVAL, "BIND_UNIX needs a path");
        (void) proto_get_u32(v, PROTO_ATTR_FILE_MODE, &mode);
        (void) proto_get_s32(v, PROTO_ATTR_BACKLOG, &backlog);
        (void) proto_get_string(v, PROTO_ATTR_NAME, &name);
        (void) proto_get_u32(v, PROTO_ATTR_HOLD, &hold);
        if (name && held_name_check(name, msg, sizeof(msg)) < 0)
                return request_error(req, EINVAL, "%s", msg);
        if (hold && !name)
                return request_error(req, EINVAL, "Holding sockets needs a name");
        if (hold) {
                r = held_answer_existing(req, req->conn->creds.uid, name, true);
                if (r == 0)
                        r = held_check_quota(req, req->conn->creds.uid);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (mode & ~UNIX_MODE_MASK)
                return request_error(req, EINVAL, "Invalid mode %04o: only permission bits (0777) are allowed", mode);
        if (len >= sizeof(sa.sun_path) + (((const char *) value)[0] == '\0' ? 1 : 0))
                return request_error(req, ENAMETOOLONG, "Unix socket path of %zu bytes is too long (at most %zu)",
                                     len, sizeof(sa.sun_path) - 1);

        if (((const char *) value)[0] == '\0') {
                r = bind_abstract(&req->conn->creds, value, len, backlog, &fd, msg, sizeof(msg));
                memcpy(sa.sun_path, value, len);
        } else {
                if (memchr(value, '\0', len))
                        return request_error(req, EINVAL, "Unix socket path contains a NUL byte");
                memcpy(path, value, len);
                path[len] = '\0';
                if (!path_is_normalized(path))
                        return request_error(req, EINVAL,
                                             "Path '%s' must be absolute and normalized (no '.', '..' or '//')",
                                             path);
                r = bind_path(req, path, (mode_t) mode, backlog, &fd, msg, sizeof(msg));
                memcpy(sa.sun_path, path, len);
        }
        if (r < 0) {
                if (msg[0])
                        return request_error(req, -r, "%s", msg);
                return request_error(req, -r, "%s: %s", strerror(-r), ((const char *) value)[0] ? path : "(abstract)");
        }

        if (hold) {
                BoundSocket b = { .fd = fd, .family = AF_UNIX, .socktype = SOCK_STREAM };

                memcpy(&b.addr, &sa, sizeof(sa));
                b.addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
                r = held_keep_and_answer(req, &req->conn->creds, name, &b, 1, backlog);
                safe_close(fd);
                return r < 0 ? r : 0;
        }

        r = proto_reply_new(req->type, req->serial, &reply);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        r = bind_reply_add_listener(reply, fd, AF_UNIX, SOCK_STREAM, &sa, offsetof(struct sockaddr_un, sun_path) + len,
                                    backlog < 0 ? 0 : backlog);
        if (r < 0)
                return r;
        return request_reply(req, TAKE_PTR(reply));
}
