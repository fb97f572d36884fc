/* SPDX-License-Identifier: MIT */

/*
 * BIND_UNIX: Tornado's bind_unix_socket() (reference §2) on a client's behalf, made safe
 * for a privileged daemon. Owns the path walk and the node's creation. The rules:
 *   - the path must lie under a directory the policy allows (abstract names need none:
 *     anyone may bind those without us);
 *   - below that directory no symlink is followed: each component is opened with
 *     O_PATH|O_NOFOLLOW|O_DIRECTORY, so a symlink fails with ENOTDIR;
 *   - an existing socket is replaced if it is the requester's (root: anyone's), anything
 *     else is refused ("File PATH exists and is not a socket"), a symlink included
 *     (Tornado would replace a symlink to a socket);
 *   - the node never exists under its name with another owner or mode: it is bound under
 *     a staging name in the same directory (mode 0700, root's), checked, given the
 *     requester's uid, gid and mode, and renamed over the final name in one step.
 * getsockname() on the handed-over socket therefore reports the staging path; the reply
 * carries the path that was asked for.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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

/* Opens the directory dir/rel (rel relative, normalized, may be "") without following a
 * symlink in rel. Returns an O_PATH fd or -errno (-ENOTDIR for a symlink). */
static int open_beneath(const char *dir, const char *rel) {
        _cleanup_(closep) int fd = -EBADF;
        char buf[PROTO_MAX_UNIX_PATH + 1], *save = NULL;

        /* The allowed directory itself is the administrator's: it may contain symlinks. */
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
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

static int bind_path(Request *req, const char *path, mode_t mode, int backlog, int *ret_fd, char *msg,
                     size_t msg_len) {
        const Creds *creds = &req->conn->creds;
        _cleanup_(closep) int dfd = -EBADF, sock = -EBADF, node = -EBADF;
        char parent[PROTO_MAX_UNIX_PATH + 1], staging[64], via[96], node_path[64];
        const char *dir, *last, *rel;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st, old;
        bool replace = false;
        uint64_t rnd = 0;
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

        dfd = open_beneath(dir, parent);
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
                replace = true;
        } else if (errno != ENOENT)
                return -errno;

        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0)
                return -errno;
        /* As Tornado: SO_REUSEADDR, ENOPROTOOPT ignored. */
        if (setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0 && errno != ENOPROTOOPT)
                return -errno;

        (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
        snprintf(staging, sizeof(staging), ".#netutild-%016llx", (unsigned long long) rnd);
        snprintf(via, sizeof(via), "/proc/self/fd/%d/%s", dfd, staging);
        if (strlen(via) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, via);
        /* The daemon's umask is 0077: the staging node is 0700 and root's. */
        if (bind(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;

        /* Make sure the node we are about to hand over is the one we just made. */
        node = openat(dfd, staging, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (node < 0 || fstat(node, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
                r = node < 0 ? -errno : -EIO;
                goto fail;
        }
        snprintf(node_path, sizeof(node_path), "/proc/self/fd/%d", node);
        if (fchownat(node, "", creds->uid, creds->gid, AT_EMPTY_PATH) < 0 || chmod(node_path, mode) < 0) {
                r = -errno;
                goto fail;
        }
        /* One step from staging to the final name, and nothing replaced that is not what
         * we checked: a new name must still be free; an existing socket is exchanged with
         * ours, and swapped back if what came out is not the node we looked at. */
        if (renameat2(dfd, staging, dfd, last, replace ? RENAME_EXCHANGE : RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EEXIST)
                        snprintf(msg, msg_len, "File %s exists and is not a socket", path);
                goto fail;
        }
        if (replace) {
                if (fstatat(dfd, staging, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != old.st_dev ||
                    st.st_ino != old.st_ino) {
                        (void) renameat2(dfd, staging, dfd, last, RENAME_EXCHANGE);
                        snprintf(msg, msg_len, "File %s changed while it was being replaced", path);
                        r = -EAGAIN;
                        goto fail;
                }
                /* staging now names the old socket. */
        }
        (void) unlinkat(dfd, staging, 0);
        if (listen(sock, backlog < 0 ? 0 : backlog) < 0)
                return -errno;

        *ret_fd = TAKE_FD(sock);
        return 0;

fail:
        (void) unlinkat(dfd, staging, 0);
        return r;
}

static int bind_abstract(const char *name, size_t len, int backlog, int *ret_fd) {
        _cleanup_(closep) int sock = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sock < 0)
                return -errno;
        if (setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &(int) { 1 }, sizeof(int)) < 0 && errno != ENOPROTOOPT)
                return -errno;
        memcpy(sa.sun_path, name, len);
        if (bind(sock, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                return -errno;
        if (listen(sock, backlog < 0 ? 0 : backlog) < 0)
                return -errno;
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
                r = held_answer_existing(req, name, true);
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
                r = bind_abstract(value, len, backlog, &fd);
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
        r = bind_reply_add_socket(reply, fd, AF_UNIX, SOCK_STREAM, &sa, offsetof(struct sockaddr_un, sun_path) + len);
        if (r < 0)
                return r;
        return request_reply(req, TAKE_PTR(reply));
}
