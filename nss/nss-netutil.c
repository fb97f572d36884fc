/* SPDX-License-Identifier: MIT */

/*
 * libnss_netutil.so.2: netutild's host overrides for every program, through glibc's NSS
 * ("hosts: netutil files dns" in /etc/nsswitch.conf). Owns the four host lookups glibc
 * calls (gethostbyname4_r for getaddrinfo(), 3_r, 2_r and the plain _r), the reading of the
 * two files the daemon publishes next to its socket for them, and their one question to the
 * daemon: a RESOLVE with OVERRIDE_ONLY for the name, in the scope of $NETUTIL_SCOPE and then
 * globally. A host-only rule that applies gives the target's addresses; no rule is
 * NSS_STATUS_NOTFOUND, so that the next source answers; no daemon is NSS_STATUS_UNAVAIL at
 * once.
 *
 * A lookup takes up to three steps, each only if the one before could not decide:
 *   1. the names index (SOCKET_PATH.names, proto/names-index-format.h): a name that no table
 *      has a host-only rule for is NSS_STATUS_NOTFOUND without a round trip, which is nearly
 *      every name a machine resolves;
 *   2. the rules file (SOCKET_PATH.rules, proto/rules-file-format.h): a host-only rule
 *      without expiry whose target is an IP literal of the asked family is answered from it
 *      (rules_file_lookup(), the daemon's order), with exactly the address the daemon's
 *      numeric getaddrinfo() would send, so the result is the same either way;
 *   3. the daemon, for everything else: a name as target, a rule with a TTL, a literal of
 *      the other family (the daemon's EAI_ADDRFAMILY), a scope's rule seen without the
 *      scope, any file that is missing, unreadable or malformed, and every rule when
 *      $NETUTIL_RULES_FILE is "0" (as in libnetutil).
 * Both files are read (or mapped, if large) for one lookup and let go before it returns.
 * The daemon changes them in place (or replaces them by rename()) before it acknowledges a
 * change of a rule, so a lookup made after an acknowledged change sees it; a read that
 * overlaps a change sees, in the names index, at worst a name being added or removed, and in
 * the rules file a seq that tells it to ask the daemon (the formats' headers say why). They
 * never change size in place. They are as trustworthy as the socket beside them: whoever
 * could replace them could put a daemon of their own there.
 *
 * It is loaded into every process that resolves a name, so it must not: link anything but
 * libc (and proto/, which is libc only), start threads, run constructors, keep any state
 * between calls (nothing static, no mapping or fd kept: it is reentrant and survives fork()
 * by construction), block longer than NSS_TIMEOUT_MSEC, raise SIGPIPE, leak an fd, log, or
 * change errno other than through *errnop.
 */

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <poll.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "names-index-format.h"
#include "netutil-proto.h"
#include "rules-file-format.h"

NSS_DECLARE_MODULE_FUNCTIONS(netutil)

/* The whole budget of one lookup: connect, send and every reply part, 250 ms. The daemon
 * answers a name without a rule (the common case) and a rule whose target is an IP literal
 * inline, in tens of microseconds; the budget only ever runs out when the daemon is wedged
 * (stopped, swapping) or when a target host name takes its backend longer than this. A
 * quarter of a second is noticeable but not a hang, and it is far below the resolver's own
 * 5 s DNS timeout, so a wedged daemon never makes a program wait longer than DNS would.
 * A daemon that is not running costs nothing: connect() fails at once. When the budget
 * runs out the lookup is NSS_STATUS_UNAVAIL and the next source answers, so a rule that
 * programs use through NSS is best pointed at an IP literal or at a name the backend
 * answers quickly (/etc/hosts, a local DNS server, the cares backend's cache). */
#define NSS_TIMEOUT_MSEC 250
/* Addresses kept from one answer: far more than any hostent needs (glibc's own files
 * backend has no fixed limit, but a target with more addresses than this is a mistake). */
#define NSS_MAX_ADDRESSES 1024u
/* A names index up to this size (510 names) is read into a buffer on the stack; a larger one is
 * mapped. Measured here: open+fstat+pread+close 3.9 us, the same with mmap+munmap instead of
 * pread 9.3 us (the unmap's TLB work), so reading wins where the copy is small; 4 KiB of stack
 * is far below what any thread that calls getaddrinfo() has. */
#define NSS_INDEX_READ_MAX 4096u
/* A rules file up to this size (about 1 800 rules with short names, 70 bytes each) is read into
 * a buffer from malloc() (not the stack: more than a small thread stack has, and below glibc's
 * default 128 KiB threshold for serving malloc() with mmap()); a larger one is mapped. Measured
 * here, one whole gethostbyname4_r() hit, read / mapped: 3 rules 7.2 / 7.6 us, 200 rules
 * (13.8 KB) 7.9 / 14.8 us, 900 (62 KB) 15.2 / 20.7 us, 3 000 (209 KB) 22.2 / 25.1 us, 10 000
 * (699 KB) 50.3 / 34.0 us: a mapping costs its mmap(), page faults and munmap(), a copy about
 * 1 us per 16 KB. */
#define NSS_RULES_READ_MAX (128u * 1024)
/* The largest rules file looked at: RULES_FILE_MAX_RULES rules with hosts and scope names of
 * a few hundred bytes stay far below it (client/rules.c has the same cap); a bigger file is
 * not one the daemon wrote, and the daemon is asked. */
#define NSS_RULES_MAX_SIZE (64u * 1024 * 1024)
/* The serial of our one request: the connection is ours alone and carries one request. */
#define NSS_SERIAL 1u
/* query(): no rule applies (the daemon's ENOENT; a connect() may fail with ENOENT too). */
#define NSS_NO_RULE 1

typedef struct NssAddress {
        int family; /* AF_INET or AF_INET6 */
        uint32_t addr[4];
        uint32_t scope_id;
} NssAddress;

typedef struct NssAnswer {
        NssAddress *addresses;
        size_t n;
        int gai; /* the daemon's EAI_* code when the target failed to resolve, else 0 */
} NssAnswer;

static void proto_recv_freep(ProtoRecv **r) {
        if (*r) {
                proto_recv_clear(*r);
                free(*r);
        }
}

static long long now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (now_msec() clock): 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, long long deadline) {
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                long long left = deadline - now_msec();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, (int) left);
                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* The daemon's socket: $NETUTILD_SOCKET (ignored in set-uid and other secure-execution
 * programs), else the path fixed at build time. */
static int socket_address(struct sockaddr_un *sa) {
        const char *path = secure_getenv("NETUTILD_SOCKET");
        size_t len;

        if (!path || !*path)
                path = NETUTILD_SOCKET_PATH;
        len = strlen(path);
        if (len >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        memcpy(sa->sun_path, path, len);
        return 0;
}

/* The scope of a lookup: $NETUTIL_SCOPE (ignored in secure-execution programs), or NULL for
 * the global table only. A name longer than the protocol allows cannot be a scope. */
static const char *lookup_scope(void) {
        const char *scope = secure_getenv("NETUTIL_SCOPE");

        return scope && *scope && strlen(scope) < PROTO_MAX_SCOPE ? scope : NULL;
}

/* Opens the file the daemon publishes at its socket's path + suffix, carefully, since
 * anything may be there: no symlink followed (O_NOFOLLOW), no FIFO waited on (O_NONBLOCK,
 * then refused as not regular), no terminal made ours (O_NOCTTY). Returns the fd of a
 * regular file of min_size to max_size bytes and its size in *ret_size; -EBADMSG for any
 * other file, -errno (-ENOENT: none) if it cannot be opened. */
static int open_published(const char *suffix, size_t min_size, size_t max_size, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        /* sun_path holds the path and its NUL (socket_address() checked the length); the
         * longest suffix, NUL included, fits in 8 more bytes. */
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path) + 8];
        struct sockaddr_un sa;
        struct stat st;
        int r;

        r = socket_address(&sa);
        if (r < 0)
                return r;
        if (strlen(suffix) >= 8)
                return -ENAMETOOLONG;
        snprintf(path, sizeof(path), "%s%s", sa.sun_path, suffix);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) min_size || (uint64_t) st.st_size > max_size)
                return -EBADMSG;
        *ret_size = (size_t) st.st_size;
        return TAKE_FD(fd);
}

/* Is name in the daemon's names index? 1: maybe a rule (ask the daemon), 0: no host-only rule
 * in any table (do not ask), -errno: no usable index (ask). The file is read (or mapped, if
 * large) for the one probe and let go at once: nothing is kept between lookups. The daemon
 * never changes its size in place, so a mapping never shrinks under us. */
static int index_lookup(const char *name) {
        _cleanup_(closep) int fd = -EBADF;
        uint64_t buf[NSS_INDEX_READ_MAX / sizeof(uint64_t)];
        NamesIndexView v;
        size_t size = 0;
        ssize_t n;
        void *p;
        int r;

        fd = open_published(NAMES_INDEX_SUFFIX, NAMES_INDEX_HEADER_SIZE, SIZE_MAX, &size);
        if (fd < 0)
                return fd;
        if (size <= sizeof(buf)) {
                n = pread(fd, buf, size, 0);
                if (n != (ssize_t) size)
                        return n < 0 ? -errno : -EBADMSG;
                if (!names_index_parse(buf, size, &v))
                        return -EBADMSG;
                return names_index_may_have(&v, name);
        }
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (names_index_parse(p, size, &v))
                r = names_index_may_have(&v, name);
        else
                r = -EBADMSG;
        (void) munmap(p, size);
        return r;
}

/* The seq of the rules file open at fd (proto/rules-file-format.h), read with pread(): a read
 * that begins after the daemon's write() returned sees it. -errno if it cannot be read. */
static int64_t rules_seq(int fd) {
        uint64_t seq;

        if (pread(fd, &seq, sizeof(seq), RULES_FILE_SEQ_OFFSET) != (ssize_t) sizeof(seq))
                return -EBADMSG;
        return (int64_t) (seq & INT64_MAX);
}

/* The rules file's answer for name and family (AF_UNSPEC: either): 1 and the address in
 * *ret, the one the daemon would send (step 2 above); 0 when the file has no answer the
 * daemon would give the same way; -errno when there is no usable file. Either of the last
 * two means: ask the daemon. The file is read (or mapped, if large) for this one lookup. */
static int rules_answer(const char *name, int family, NssAddress *ret) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) void *copy = NULL;
        const char *off = secure_getenv("NETUTIL_RULES_FILE");
        const RulesFileEntry *e;
        struct sockaddr_storage ss;
        RulesFileView view;
        const void *bytes;
        void *map = NULL;
        size_t size = 0;
        int64_t seq;
        ssize_t n;
        int r = 0;

        /* NETUTIL_RULES_FILE=0: every rule is asked about, as libnetutil does (debugging). */
        if (off && strcmp(off, "0") == 0)
                return 0;
        /* NAME@UID trusts another uid's scope, which only the daemon can check (the file
         * names no owners): ask it. */
        if (lookup_scope() && strchr(lookup_scope(), '@'))
                return 0;
        fd = open_published(RULES_FILE_SUFFIX, RULES_FILE_HEADER_SIZE, NSS_RULES_MAX_SIZE, &size);
        if (fd < 0)
                return fd;
        /* Even before and the same after the lookup: it saw one state of the tables. */
        seq = rules_seq(fd);
        if (seq < 0 || (seq & 1))
                return seq < 0 ? (int) seq : 0;
        if (size <= NSS_RULES_READ_MAX) {
                /* malloc() aligns for any type, as rules_file_parse() needs. */
                copy = malloc(size);
                if (!copy)
                        return -ENOMEM;
                n = pread(fd, copy, size, 0);
                if (n != (ssize_t) size)
                        return n < 0 ? -errno : -EBADMSG;
                bytes = copy;
        } else {
                map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
                if (map == MAP_FAILED)
                        return -errno;
                bytes = map;
        }

        if (!rules_file_parse(bytes, size, &view))
                r = -EBADMSG;
        else if ((e = rules_file_lookup(&view, lookup_scope(), name, 0, family, true /* host_only */))) {
                /* Port 0: OVERRIDE_ONLY carries none, and NSS shows none. */
                (void) rules_file_sockaddr(e, 0, &ss);
                *ret = (NssAddress){.family = ss.ss_family};
                if (ss.ss_family == AF_INET)
                        memcpy(ret->addr, &((const struct sockaddr_in *) &ss)->sin_addr,
                               sizeof(struct in_addr));
                else {
                        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;

                        memcpy(ret->addr, &sin6->sin6_addr, sizeof(struct in6_addr));
                        ret->scope_id = sin6->sin6_scope_id;
                }
                __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the lookup's loads before the second read */
                r = rules_seq(fd) == seq ? 1 : 0;
        }
        if (map)
                (void) munmap(map, size);
        return r;
}

/* Connects to the daemon without ever waiting: -ENOENT or -ECONNREFUSED when it does not
 * run, -EAGAIN when its listen queue is full, -ELOOP when the daemon is this very process
 * (its threadpool resolver calls getaddrinfo(), which must not ask the daemon itself).
 * Returns the fd, non-blocking. */
static int daemon_connect(void) {
        _cleanup_(closep) int fd = -EBADF;
        struct sockaddr_un sa;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int r;

        r = socket_address(&sa);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (cred.pid == getpid())
                return -ELOOP;
        return TAKE_FD(fd);
}

static int build_request(const char *name, int family, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        const char *scope = lookup_scope();
        int r;

        r = proto_msg_new(PROTO_MSG_RESOLVE, NSS_SERIAL, &m);
        if (r < 0)
                return r;
        if ((r = proto_msg_append_string(m, PROTO_ATTR_HOST, name)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_FAMILY, (uint32_t) family)) < 0 ||
            (r = proto_msg_append_u32(m, PROTO_ATTR_OVERRIDE_ONLY, 1)) < 0)
                return r;
        if (scope && (r = proto_msg_append_string(m, PROTO_ATTR_SCOPE, scope)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* Adds the items of one reply part to a. */
static int add_items(const ProtoView *v, NssAnswer *a) {
        ProtoIter it;
        ProtoAttr attr;

        proto_iter_init(&it, v);
        while (proto_iter_next(&it, &attr)) {
                ProtoView item;
                const void *sa;
                size_t len;
                uint32_t family;
                NssAddress *grown, *x;

                if (attr.type != PROTO_ATTR_ITEM)
                        continue;
                if (proto_attr_nested(&attr, &item) < 0 ||
                    proto_get_u32(&item, PROTO_ATTR_FAMILY, &family) < 0 ||
                    proto_get_binary(&item, PROTO_ATTR_SOCKADDR, &sa, &len) < 0)
                        return -EBADMSG;
                if (a->n >= NSS_MAX_ADDRESSES)
                        continue;
                grown = reallocarray(a->addresses, a->n + 1, sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                a->addresses = grown;
                x = &a->addresses[a->n];
                *x = (NssAddress){.family = (int) family};
                if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                        struct sockaddr_in sin;

                        memcpy(&sin, sa, sizeof(sin));
                        memcpy(x->addr, &sin.sin_addr, sizeof(sin.sin_addr));
                } else if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                        struct sockaddr_in6 sin6;

                        memcpy(&sin6, sa, sizeof(sin6));
                        memcpy(x->addr, &sin6.sin6_addr, sizeof(sin6.sin6_addr));
                        x->scope_id = sin6.sin6_scope_id;
                } else
                        continue; /* the daemon sends no other family */
                a->n++;
        }
        return 0;
}

/* Whether a host-only rule maps name, for family (AF_UNSPEC: both): from the names index and
 * the rules file where they can tell, else from the daemon. Returns 0 and the target's
 * addresses in *a (maybe none), NSS_NO_RULE if no rule applies, the daemon's error as -errno
 * (with a->gai if the target failed to resolve), or a connection error (the daemon is not
 * there, or did not answer within NSS_TIMEOUT_MSEC: -ETIMEDOUT). */
static int query(const char *name, int family, NssAnswer *a) {
        _cleanup_(proto_recv_freep) ProtoRecv *rcv = NULL;
        _cleanup_(proto_msg_freep) ProtoMsg *req = NULL;
        _cleanup_(closep) int fd = -EBADF;
        long long deadline = now_msec() + NSS_TIMEOUT_MSEC;
        NssAddress local;
        int r;

        /* The common case: no rule can apply, and the daemon is not asked. */
        if (index_lookup(name) == 0)
                return NSS_NO_RULE;
        /* A rule with a literal target: the rules file has the daemon's answer. */
        if (rules_answer(name, family, &local) > 0) {
                a->addresses = malloc(sizeof(local));
                if (!a->addresses)
                        return -ENOMEM;
                a->addresses[0] = local;
                a->n = 1;
                return 0;
        }
        fd = daemon_connect();
        if (fd < 0)
                return fd;
        r = build_request(name, family, &req);
        if (r < 0)
                return r;
        while ((r = proto_send(fd, req)) == -EAGAIN)
                if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
                        return r;
        if (r < 0)
                return r;

        rcv = malloc(sizeof(*rcv));
        if (!rcv)
                return -ENOMEM;
        rcv->n_fds = 0;
        for (;;) {
                ProtoView v;
                ssize_t n;
                int32_t gai;

                /* Wait first: a reply is never there the moment the request left, so trying
                 * to receive before poll() would only cost a system call per lookup. */
                if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
                        return r;
                n = proto_recv(fd, rcv);
                if (n == -EAGAIN)
                        continue;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -ECONNRESET; /* the daemon went away, or refused us (MaxClients) */
                proto_recv_clear(rcv);      /* RESOLVE carries no fds: none is kept */
                if (rcv->real_size > rcv->size || proto_parse(rcv->buf, rcv->size, &v) < 0)
                        return -EBADMSG;
                if (v.header.serial != NSS_SERIAL || v.header.type != PROTO_MSG_RESOLVE) {
                        if (v.header.serial == 0 && v.header.status > 0)
                                return -v.header.status; /* the daemon's own refusal */
                        continue;
                }
                if (v.header.status > 0) {
                        if (proto_get_s32(&v, PROTO_ATTR_GAI_ERROR, &gai) >= 0)
                                a->gai = gai;
                        else if (v.header.status == ENOENT)
                                return NSS_NO_RULE;
                        return -v.header.status;
                }
                r = add_items(&v, a);
                if (r < 0)
                        return r;
                if (!(v.header.flags & PROTO_FLAG_MORE))
                        return 0;
        }
}

/* Sets glibc's two error codes for a lookup that did not succeed; returns the status. */
static enum nss_status fail(enum nss_status status, int error, int h_error, int *errnop, int *h_errnop) {
        *errnop = error;
        *h_errnop = h_error;
        return status;
}

/* What a query() result r other than an address means to NSS. */
static enum nss_status query_failed(int r, const NssAnswer *a, int *errnop, int *h_errnop) {
        if (r == NSS_NO_RULE)
                return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
        if (r == 0) /* a rule, and the target has no address of the family */
                return fail(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);
        if (a->gai == EAI_AGAIN)
                return fail(NSS_STATUS_TRYAGAIN, EAGAIN, TRY_AGAIN, errnop, h_errnop);
        if (a->gai == EAI_NODATA || a->gai == EAI_ADDRFAMILY)
                return fail(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);
        if (a->gai == EAI_NONAME)
                return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
        return fail(NSS_STATUS_UNAVAIL, -r, NO_RECOVERY, errnop, h_errnop);
}

/* A name the daemon can hold a rule for: 1 to PROTO_MAX_HOST bytes. */
static bool name_ok(const char *name) {
        return name && *name && strlen(name) <= PROTO_MAX_HOST;
}

/* Takes len bytes aligned to align (a power of two) from the caller's buffer, or NULL if
 * they do not fit. The buffer itself may start anywhere. */
static void *carve(char **buf, size_t *left, size_t len, size_t align) {
        size_t pad = (align - ((uintptr_t) *buf & (align - 1))) & (align - 1);
        void *p;

        if (pad > *left || len > *left - pad)
                return NULL;
        p = *buf + pad;
        *buf += pad + len;
        *left -= pad + len;
        return p;
}

static size_t family_size(int family) {
        return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

static enum nss_status lookup4(const char *name, struct gaih_addrtuple **pat, char *buffer, size_t buflen,
                               int *errnop, int *h_errnop, int32_t *ttlp) {
        NssAnswer a = {};
        struct gaih_addrtuple *first = NULL, *prev = NULL;
        char *copy;
        size_t len;
        int r;

        if (!name_ok(name))
                return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
        r = query(name, AF_UNSPEC, &a);
        if (r != 0 || a.n == 0) {
                enum nss_status s = query_failed(r, &a, errnop, h_errnop);
                free(a.addresses);
                return s;
        }

        len = strlen(name) + 1;
        copy = carve(&buffer, &buflen, len, 1);
        if (copy)
                memcpy(copy, name, len);
        for (size_t i = 0; copy && i < a.n; i++) {
                struct gaih_addrtuple *t =
                        carve(&buffer, &buflen, sizeof(*t), alignof(struct gaih_addrtuple));

                if (!t) {
                        copy = NULL;
                        break;
                }
                *t = (struct gaih_addrtuple){
                        .name = copy, .family = a.addresses[i].family, .scopeid = a.addresses[i].scope_id};
                memcpy(t->addr, a.addresses[i].addr, family_size(t->family));
                if (prev)
                        prev->next = t;
                else
                        first = t;
                prev = t;
        }
        free(a.addresses);
        if (!copy) /* glibc retries with a larger buffer */
                return fail(NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL, errnop, h_errnop);

        /* glibc may hand in a first tuple of its own to fill (systemd's modules do this too). */
        if (*pat)
                **pat = *first;
        else
                *pat = first;
        /* Rules change at any moment and may expire: no cache (nscd) should keep the answer. */
        if (ttlp)
                *ttlp = 0;
        *h_errnop = NETDB_SUCCESS;
        return NSS_STATUS_SUCCESS;
}

static enum nss_status lookup3(const char *name, int af, struct hostent *host, char *buffer, size_t buflen,
                               int *errnop, int *h_errnop, int32_t *ttlp, char **canonp) {
        NssAnswer a = {};
        char *copy, **aliases, **list;
        size_t len, alen;
        int r;

        if (af != AF_INET && af != AF_INET6)
                return fail(NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY, errnop, h_errnop);
        if (!name_ok(name))
                return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
        r = query(name, af, &a);
        if (r != 0 || a.n == 0) {
                enum nss_status s = query_failed(r, &a, errnop, h_errnop);
                free(a.addresses);
                return s;
        }

        /* Name, an empty alias list, the address pointers, then the addresses. */
        alen = family_size(af);
        len = strlen(name) + 1;
        copy = carve(&buffer, &buflen, len, 1);
        aliases = copy ? carve(&buffer, &buflen, sizeof(char *), alignof(char *)) : NULL;
        list = aliases ? carve(&buffer, &buflen, (a.n + 1) * sizeof(char *), alignof(char *)) : NULL;
        for (size_t i = 0; list && i < a.n; i++) {
                list[i] = carve(&buffer, &buflen, alen, alignof(uint32_t));
                if (!list[i]) {
                        list = NULL;
                        break;
                }
                memcpy(list[i], a.addresses[i].addr, alen);
        }
        if (!list) {
                free(a.addresses);
                return fail(NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL, errnop, h_errnop);
        }
        memcpy(copy, name, len);
        aliases[0] = NULL;
        list[a.n] = NULL;
        free(a.addresses);

        *host = (struct hostent){.h_name = copy,
                                 .h_aliases = aliases,
                                 .h_addrtype = af,
                                 .h_length = (int) alen,
                                 .h_addr_list = list};
        if (ttlp)
                *ttlp = 0;
        if (canonp)
                *canonp = copy;
        *h_errnop = NETDB_SUCCESS;
        return NSS_STATUS_SUCCESS;
}

/* The entry points. errno is the caller's again on return (our system calls set it on the
 * way), except that *errnop, glibc's &errno as a rule, carries the error of a failure. */

_public_ enum nss_status _nss_netutil_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat,
                                                       char *buffer, size_t buflen, int *errnop,
                                                       int *h_errnop, int32_t *ttlp) {
        int saved = errno, error = 0;
        enum nss_status s = lookup4(name, pat, buffer, buflen, &error, h_errnop, ttlp);

        errno = saved;
        if (s != NSS_STATUS_SUCCESS)
                *errnop = error;
        return s;
}

_public_ enum nss_status _nss_netutil_gethostbyname3_r(const char *name, int af, struct hostent *host,
                                                       char *buffer, size_t buflen, int *errnop,
                                                       int *h_errnop, int32_t *ttlp, char **canonp) {
        int saved = errno, error = 0;
        enum nss_status s = lookup3(name, af, host, buffer, buflen, &error, h_errnop, ttlp, canonp);

        errno = saved;
        if (s != NSS_STATUS_SUCCESS)
                *errnop = error;
        return s;
}

_public_ enum nss_status _nss_netutil_gethostbyname2_r(const char *name, int af, struct hostent *host,
                                                       char *buffer, size_t buflen, int *errnop,
                                                       int *h_errnop) {
        return _nss_netutil_gethostbyname3_r(name, af, host, buffer, buflen, errnop, h_errnop, NULL, NULL);
}

_public_ enum nss_status _nss_netutil_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
                                                      size_t buflen, int *errnop, int *h_errnop) {
        /* IPv4, as glibc's own backends answer without the deprecated RES_USE_INET6. */
        return _nss_netutil_gethostbyname3_r(name, AF_INET, host, buffer, buflen, errnop, h_errnop, NULL,
                                             NULL);
}
