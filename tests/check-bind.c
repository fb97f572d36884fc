/* SPDX-License-Identifier: MIT */

/* bind_sockets() and its helpers (common/bind.c) against Tornado's behaviour
 * (shared/reference/tornado-netutil.md §1): the §1.2 address table, family order, port-0
 * sharing, getaddrinfo errors, the state of every returned socket, SO_REUSEPORT, backlog,
 * the check hook, the localhost/::1 skip, de-duplication, the socket limit and every
 * syscall failure path; plus sockaddr_format() and bound_sockets_free().
 *
 * Tests that bind run in a fresh network namespace (fork mode gives each a fresh process),
 * so 127.0.0.1 and ::1 exist and every port is free whatever the host has. Tests that need
 * a particular /etc/hosts bind-mount one in a private mount namespace; tests that need a
 * syscall to fail install a seccomp filter. These need root: an EPERM fails them loudly.
 * TCases are tagged "netns", "mountns" and "seccomp"; a CK_FORK=no run (valgrind) must
 * set CK_EXCLUDE_TAGS="mountns seccomp", as those change the process for good. Every test
 * counts the open fds of the process before and after (checked fixture). */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bind.h"
#include "macro.h"

/* Seconds for a TCase that binds sockets; the limit tests bind 1025 of them. */
#define SOCKET_TEST_TIMEOUT 30
/* getaddrinfo results a test looks at; the largest list here (limits aside) has 3. */
#define MAX_EXPECTED 8
/* The one ephemeral port left to the kernel in the no-retry test (any unprivileged port). */
#define ONLY_EPHEMERAL_PORT 40000
/* Open files the limit tests need: BIND_MAX_SOCKETS + 1 sockets plus Check's own. */
#define LIMIT_TEST_NOFILE 4096

/* ---- Helpers ------------------------------------------------------------------------ */

static int fds_at_start = -1;

/* Open fds of this process; the directory's own fd is counted every time, so two counts
 * compare equal exactly when nothing was opened or closed in between. */
static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de = NULL;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void fd_count_setup(void) {
        fds_at_start = count_fds();
}

static void fd_count_teardown(void) {
        ck_assert_int_eq(count_fds(), fds_at_start);
}

static void write_file(const char *path, const char *content) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t len = strlen(content);

        ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, content, len), (ssize_t) len);
}

/* A fresh network namespace with lo up: 127.0.0.1/8 and ::1 exist, nothing else does. */
static void enter_netns(void) {
        _cleanup_(closep) int fd = -EBADF;
        struct ifreq ifr = {};

        ck_assert_msg(unshare(CLONE_NEWNET) == 0,
                      "unshare(CLONE_NEWNET): %s (check-bind must run as root)", strerror(errno));
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags |= IFF_UP;
        ck_assert_msg(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS lo: %s", strerror(errno));
}

/* Makes content this process's /etc/hosts: a private mount namespace with a temporary file
 * bind-mounted over it (unlinked at once; the mount keeps it). The host is not touched. */
static void override_hosts(const char *content) {
        char path[] = "/tmp/check-bind-hosts.XXXXXX";
        _cleanup_(closep) int fd = -EBADF;
        int r = 0, saved = 0;

        ck_assert_msg(unshare(CLONE_NEWNS) == 0,
                      "unshare(CLONE_NEWNS): %s (check-bind must run as root)", strerror(errno));
        /* The type is ignored for propagation changes and bind mounts; "none" rather than
         * NULL because valgrind before 3.20 reads it regardless. */
        ck_assert_int_eq(mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
        fd = mkostemp(path, O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        fd = safe_close(fd);
        r = mount(path, "/etc/hosts", "none", MS_BIND, NULL);
        saved = errno;
        (void) unlink(path);
        ck_assert_msg(r == 0, "bind-mount over /etc/hosts: %s", strerror(saved));
}

/* Makes syscall nr fail with error when its argument arg_a is val_a and its argument arg_b
 * is val_b (compare the same argument twice for a single condition). Only the low 32 bits
 * of each argument are compared: every value here is an int. The filter stays for the
 * rest of the process, which fork mode makes the rest of the test. No architecture check:
 * the numbers are this build's own. */
static void seccomp_fail(int nr, unsigned arg_a, uint32_t val_a, unsigned arg_b, uint32_t val_b, int error) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const unsigned lo = 0;
#else
        const unsigned lo = 4;
#endif
        const uint32_t off_a = (uint32_t) (offsetof(struct seccomp_data, args) + 8 * arg_a + lo);
        const uint32_t off_b = (uint32_t) (offsetof(struct seccomp_data, args) + 8 * arg_b + lo);
        struct sock_filter filter[] = {
                /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 5),
                /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off_a),
                /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, val_a, 0, 3),
                /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off_b),
                /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, val_b, 0, 1),
                /* 6 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t) error & SECCOMP_RET_DATA)),
                /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };

        ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        ck_assert_msg(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp: %s", strerror(errno));
}

/* The backlog a listening TCP socket on port got from listen(), as the kernel keeps it
 * (sk_max_ack_backlog; inet_diag reports it in idiag_wqueue for listeners, ss's Send-Q).
 * The namespace is fresh, so the port finds our socket and nothing else. */
static unsigned listen_backlog(int family, uint16_t port) {
        _cleanup_(closep) int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 req;
        } msg = {
                .nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                         .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
                .req = { .sdiag_family = (uint8_t) family, .sdiag_protocol = IPPROTO_TCP,
                         .idiag_states = 1u << TCP_LISTEN },
        };
        /* One dump of a fresh namespace fits many times over. */
        union {
                struct nlmsghdr align;
                char buf[32768];
        } reply;
        long found = -1;
        bool done = false;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(send(fd, &msg, sizeof(msg), 0), (ssize_t) sizeof(msg));
        while (!done) {
                ssize_t n = recv(fd, &reply, sizeof(reply), 0);

                ck_assert_int_gt(n, 0);
                for (struct nlmsghdr *h = &reply.align; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                        const struct inet_diag_msg *d = NLMSG_DATA(h);

                        if (h->nlmsg_type == NLMSG_DONE) {
                                done = true;
                                break;
                        }
                        ck_assert_int_ne(h->nlmsg_type, NLMSG_ERROR);
                        if (ntohs(d->id.idiag_sport) == port) {
                                ck_assert_int_eq(found, -1);
                                found = d->idiag_wqueue;
                        }
                }
        }
        ck_assert_msg(found >= 0, "no listening socket on port %u", port);
        return (unsigned) found;
}

static BindParams params(const char *address, const char *service) {
        return (BindParams) {
                .address = address,
                .service = service,
                .family = AF_UNSPEC,
                .socktype = SOCK_STREAM,
                .backlog = BIND_DEFAULT_BACKLOG,
                .flags = BIND_FLAGS_DEFAULT,
                .reuse_port = false,
        };
}

/* bind_sockets() that must succeed; *ret_gai must then be 0. */
static int bind_ok(const BindParams *p, bind_check_t check, void *userdata, BoundSocket **ret) {
        int gai = 12345, r = 0;

        *ret = NULL;
        r = bind_sockets(p, check, userdata, ret, &gai, NULL);
        ck_assert_msg(r >= 0, "bind_sockets: %s (gai %d)", strerror(-r), gai);
        ck_assert_int_eq(gai, 0);
        ck_assert_ptr_nonnull(*ret);
        return r;
}

/* bind_sockets() that must fail: returns the error and checks *ret was not written. */
static int bind_fail(const BindParams *p, bind_check_t check, void *userdata, int *ret_gai,
                     struct sockaddr_storage *ret_failed) {
        BoundSocket sentinel = { .fd = -EBADF };
        BoundSocket *s = &sentinel;
        int r = 0;

        r = bind_sockets(p, check, userdata, &s, ret_gai, ret_failed);
        ck_assert_msg(r < 0, "bind_sockets succeeded with %d sockets", r);
        ck_assert_ptr_eq(s, &sentinel);
        return r;
}

static uint16_t port_of(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) ss)->sin_port);
        ck_assert_int_eq(ss->ss_family, AF_INET6);
        return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
}

/* Asserts family and address (inet_ntop's canonical text); IPv6 also flowinfo and scope 0. */
static void assert_addr(const struct sockaddr_storage *ss, int family, const char *ip) {
        char text[INET6_ADDRSTRLEN] = "";

        ck_assert_int_eq(ss->ss_family, family);
        if (family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) ss;

                ck_assert_ptr_nonnull(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)));
        } else {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ss;

                ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)));
                ck_assert_uint_eq(in6->sin6_flowinfo, 0);
                ck_assert_uint_eq(in6->sin6_scope_id, 0);
        }
        ck_assert_str_eq(text, ip);
}

static void assert_bound(const BoundSocket *b, int family, const char *ip) {
        assert_addr(&b->addr, family, ip);
        ck_assert_int_eq(b->family, family);
        ck_assert_uint_eq(b->addr_len,
                          family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        ck_assert_uint_ne(port_of(&b->addr), 0);
}

static void assert_all_share_first_port(const BoundSocket *s, int n) {
        for (int i = 1; i < n; i++)
                ck_assert_uint_eq(port_of(&s[i].addr), port_of(&s[0].addr));
}

/* getaddrinfo's own answer, in its order, as SOCK_STREAM: what bind_sockets() must use. */
static size_t gai_list(const char *node, const char *service, int family, int flags,
                       struct sockaddr_storage out[static MAX_EXPECTED]) {
        struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = flags };
        struct addrinfo *res = NULL;
        size_t n = 0;
        int r = getaddrinfo(node, service, &hints, &res);

        ck_assert_msg(r == 0, "getaddrinfo(%s): %s", node ? node : "NULL", gai_strerror(r));
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                ck_assert_uint_lt(n, MAX_EXPECTED);
                memset(&out[n], 0, sizeof(out[n]));
                memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
                n++;
        }
        freeaddrinfo(res);
        return n;
}

/* The getaddrinfo error code for these arguments, to compare bind_sockets()'s with. */
static int gai_code(const char *node, const char *service, int family, int flags) {
        struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = flags };
        struct addrinfo *res = NULL;
        int r = getaddrinfo(node, service, &hints, &res);

        if (r == 0)
                freeaddrinfo(res);
        return r;
}

/* Tornado's expected list from getaddrinfo's: IPv4 entries then IPv6 entries, each in
 * getaddrinfo's order, exact duplicates dropped. Written independently of bind.c. */
static size_t tornado_order(const struct sockaddr_storage *in, size_t n,
                            struct sockaddr_storage out[static MAX_EXPECTED]) {
        static const int families[] = { AF_INET, AF_INET6 };
        size_t m = 0;

        for (size_t f = 0; f < ELEMENTSOF(families); f++)
                for (size_t i = 0; i < n; i++) {
                        bool dup = false;

                        if (in[i].ss_family != families[f])
                                continue;
                        for (size_t j = 0; j < m && !dup; j++)
                                dup = memcmp(&out[j], &in[i], sizeof(in[i])) == 0;
                        if (!dup)
                                out[m++] = in[i];
                }
        return m;
}

/* Records every call of the check hook; refuses from call number refuse_from (1-based;
 * 0 never) with error. */
typedef struct HookLog {
        unsigned calls;
        struct sockaddr_storage addr[MAX_EXPECTED];
        socklen_t len[MAX_EXPECTED];
        int socktype[MAX_EXPECTED];
        unsigned refuse_from;
        int error;
} HookLog;

static int hook_record(const struct sockaddr *sa, socklen_t len, int socktype, void *userdata) {
        HookLog *log = userdata;

        ck_assert_uint_lt(log->calls, MAX_EXPECTED);
        ck_assert_uint_le(len, sizeof(struct sockaddr_storage));
        memset(&log->addr[log->calls], 0, sizeof(log->addr[0]));
        memcpy(&log->addr[log->calls], sa, len);
        log->len[log->calls] = len;
        log->socktype[log->calls] = socktype;
        log->calls++;
        if (log->refuse_from != 0 && log->calls >= log->refuse_from)
                return log->error;
        return 0;
}

/* A listening TCP socket of ours on the given wildcard; returns it, its port in *ret_port. */
static int occupy(int family, uint16_t port, uint16_t *ret_port) {
        struct sockaddr_storage ss = {};
        socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;

        ck_assert_int_ge(fd, 0);
        ss.ss_family = (sa_family_t) family;
        if (family == AF_INET)
                ((struct sockaddr_in *) &ss)->sin_port = htons(port);
        else {
                ((struct sockaddr_in6 *) &ss)->sin6_port = htons(port);
                ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
        }
        ck_assert_msg(bind(fd, (struct sockaddr *) &ss, len) == 0, "bind: %s", strerror(errno));
        ck_assert_int_eq(listen(fd, 1), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &ss, &len), 0);
        *ret_port = port_of(&ss);
        return fd;
}

static int sockopt_int(int fd, int level, int name) {
        socklen_t len = sizeof(int);
        int v = -1;

        ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
        ck_assert_uint_eq(len, sizeof(int));
        return v;
}

/* §1.1 "socket state on return", plus SO_TYPE/SO_DOMAIN and the recorded address. */
static void assert_socket_state(const BoundSocket *b, int socktype, bool reuse_port) {
        struct sockaddr_storage ss = {};
        socklen_t len = sizeof(ss);
        int fl = fcntl(b->fd, F_GETFL), fdfl = fcntl(b->fd, F_GETFD);

        ck_assert_int_ge(b->fd, 0);
        ck_assert_int_ge(fl, 0);
        ck_assert_int_ge(fdfl, 0);
        ck_assert_msg(fl & O_NONBLOCK, "fd %d is blocking", b->fd);
        ck_assert_msg(fdfl & FD_CLOEXEC, "fd %d is not CLOEXEC", b->fd);
        ck_assert_int_eq(sockopt_int(b->fd, SOL_SOCKET, SO_REUSEADDR), 1);
        ck_assert_int_eq(sockopt_int(b->fd, SOL_SOCKET, SO_REUSEPORT), reuse_port ? 1 : 0);
        ck_assert_int_eq(sockopt_int(b->fd, SOL_SOCKET, SO_TYPE), socktype);
        ck_assert_int_eq(sockopt_int(b->fd, SOL_SOCKET, SO_DOMAIN), b->family);
        ck_assert_int_eq(sockopt_int(b->fd, SOL_SOCKET, SO_ACCEPTCONN), socktype == SOCK_STREAM ? 1 : 0);
        if (b->family == AF_INET6)
                ck_assert_int_eq(sockopt_int(b->fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
        ck_assert_int_eq(b->socktype, socktype);
        ck_assert_int_eq(getsockname(b->fd, (struct sockaddr *) &ss, &len), 0);
        ck_assert_uint_eq(len, b->addr_len);
        ck_assert_mem_eq(&ss, &b->addr, len);
}

/* ---- §1.2 address table ------------------------------------------------------------- */

START_TEST(test_bind_null_address_gives_both_wildcards_on_one_port) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        assert_bound(&s[0], AF_INET, "0.0.0.0");
        assert_bound(&s[1], AF_INET6, "::");
        ck_assert_uint_eq(port_of(&s[1].addr), port_of(&s[0].addr));
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_empty_address_is_the_wildcard_like_null) {
        BindParams p = params("", "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        assert_bound(&s[0], AF_INET, "0.0.0.0");
        assert_bound(&s[1], AF_INET6, "::");
        ck_assert_uint_eq(port_of(&s[1].addr), port_of(&s[0].addr));
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_family_inet6_gives_only_the_v6_wildcard) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.family = AF_INET6;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET6, "::");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_family_inet_gives_only_the_v4_wildcard) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.family = AF_INET;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "0.0.0.0");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* The reference host maps localhost to 127.0.0.1 only; whatever this host's /etc/hosts
 * says, the sockets must be getaddrinfo's answer in Tornado's order. */
START_TEST(test_bind_localhost_binds_what_getaddrinfo_resolves) {
        BindParams p = params("localhost", "0");
        struct sockaddr_storage gai[MAX_EXPECTED], want[MAX_EXPECTED];
        size_t n_want = 0;
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n_want = tornado_order(gai, gai_list("localhost", "0", AF_UNSPEC, AI_PASSIVE, gai), want);
        ck_assert_uint_ge(n_want, 1);
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, (int) n_want);
        for (int i = 0; i < n; i++) {
                ck_assert_int_eq(s[i].family, want[i].ss_family);
                if (want[i].ss_family == AF_INET)
                        ck_assert_mem_eq(&((struct sockaddr_in *) &s[i].addr)->sin_addr,
                                         &((struct sockaddr_in *) &want[i])->sin_addr,
                                         sizeof(struct in_addr));
                else
                        ck_assert_mem_eq(&((struct sockaddr_in6 *) &s[i].addr)->sin6_addr,
                                         &((struct sockaddr_in6 *) &want[i])->sin6_addr,
                                         sizeof(struct in6_addr));
        }
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_v6_loopback_literal_gives_one_v6_socket) {
        BindParams p = params("::1", "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET6, "::1");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* Tornado's port None with an address behaves as port 0. */
START_TEST(test_bind_null_service_with_address_binds_an_ephemeral_port) {
        BindParams p = params("127.0.0.1", NULL);
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "127.0.0.1");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_service_name_http_binds_port_80) {
        BindParams p = params("127.0.0.1", "http");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "127.0.0.1");
        ck_assert_uint_eq(port_of(&s[0].addr), 80);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* A port past 65535 in digits is refused (-EINVAL) before getaddrinfo(), which keeps its
 * low 16 bits: the reference saw 65536 give an ephemeral port and 70000 port 4464 (a
 * Tornado bug we fix: DESIGN.md §1). Service names and ports up to 65535 go through. */
START_TEST(test_bind_port_past_65535_is_refused_not_truncated) {
        static const struct {
                const char *service;
                bool valid;
        } rows[] = {
                {"0", true},      {"65535", true},         {"00080", true},        {"http", true},
                {"", true},       {"65536", false},        {"70000", false},       {"4294967296", false},
                {"000000065536", false},
        };
        BoundSocket *s = NULL;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                ck_assert_msg(bind_service_valid(rows[i].service) == rows[i].valid, "'%s'", rows[i].service);
        enter_netns();
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                BindParams p = params("127.0.0.1", rows[i].service);

                if (rows[i].valid)
                        continue;
                ck_assert_int_eq(bind_sockets(&p, NULL, NULL, &s, NULL, NULL), -EINVAL);
                ck_assert_ptr_null(s);
        }
}
END_TEST

/* ---- family order ------------------------------------------------------------------- */

/* With flags 0 and no address glibc answers ::1 before 127.0.0.1; Tornado puts IPv4 first. */
START_TEST(test_bind_sorts_ipv4_before_ipv6) {
        BindParams p = params(NULL, "0");
        struct sockaddr_storage gai[MAX_EXPECTED];
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        ck_assert_uint_eq(gai_list(NULL, "0", AF_UNSPEC, 0, gai), 2);
        ck_assert_msg(gai[0].ss_family == AF_INET6, "precondition: getaddrinfo gave IPv4 first already");
        p.flags = 0;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(s[0].family, AF_INET);
        ck_assert_int_eq(s[1].family, AF_INET6);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* The sort is by family only and stable: 127.0.0.3 stays before 127.0.0.2. */
START_TEST(test_bind_keeps_getaddrinfo_order_within_a_family) {
        BindParams p = params("order.test", "0");
        struct sockaddr_storage gai[MAX_EXPECTED];
        BoundSocket *s = NULL;
        int n = 0;

        override_hosts("::1 order.test\n127.0.0.3 order.test\n127.0.0.2 order.test\n");
        enter_netns();
        ck_assert_uint_eq(gai_list("order.test", "0", AF_UNSPEC, AI_PASSIVE, gai), 3);
        assert_addr(&gai[0], AF_INET6, "::1");
        assert_addr(&gai[1], AF_INET, "127.0.0.3");
        assert_addr(&gai[2], AF_INET, "127.0.0.2");
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 3);
        assert_bound(&s[0], AF_INET, "127.0.0.3");
        assert_bound(&s[1], AF_INET, "127.0.0.2");
        assert_bound(&s[2], AF_INET6, "::1");
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* ---- port 0 ------------------------------------------------------------------------- */

START_TEST(test_bind_port0_shared_across_families) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        ck_assert_uint_ne(port_of(&s[0].addr), 0);
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_flags_zero_gives_loopbacks_sharing_one_port) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.flags = 0;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        assert_bound(&s[0], AF_INET, "127.0.0.1");
        assert_bound(&s[1], AF_INET6, "::1");
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_port0_shared_for_udp) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.socktype = SOCK_DGRAM;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        assert_bound(&s[0], AF_INET, "0.0.0.0");
        assert_bound(&s[1], AF_INET6, "::");
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* Tornado issue #1860: the port the first family got is not retried when the other family
 * has it. The kernel is left a single ephemeral port, already taken on ::. */
START_TEST(test_bind_port0_not_retried_when_other_family_has_the_port) {
        BindParams p = params(NULL, "0");
        struct sockaddr_storage failed = {};
        _cleanup_(closep) int blocker = -EBADF;
        char range[32] = "";
        uint16_t port = 0;
        int gai = 12345;

        enter_netns();
        snprintf(range, sizeof(range), "%d %d", ONLY_EPHEMERAL_PORT, ONLY_EPHEMERAL_PORT);
        write_file("/proc/sys/net/ipv4/ip_local_port_range", range);
        blocker = occupy(AF_INET6, ONLY_EPHEMERAL_PORT, &port);
        ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRINUSE);
        ck_assert_int_eq(gai, 0);
        assert_addr(&failed, AF_INET6, "::");
        ck_assert_uint_eq(port_of(&failed), ONLY_EPHEMERAL_PORT);
}
END_TEST

/* ---- ports in use ------------------------------------------------------------------- */

START_TEST(test_bind_port_in_use_is_eaddrinuse_and_leaves_nothing_open) {
        BindParams p = params(NULL, NULL);
        struct sockaddr_storage failed = {};
        _cleanup_(closep) int blocker = -EBADF;
        char service[8] = "";
        uint16_t port = 0;
        int gai = 12345, before = 0;

        enter_netns();
        blocker = occupy(AF_INET, 0, &port);
        snprintf(service, sizeof(service), "%u", port);
        p.service = service;
        before = count_fds();
        ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRINUSE);
        ck_assert_int_eq(count_fds(), before);
        ck_assert_int_eq(gai, 0);
        assert_addr(&failed, AF_INET, "0.0.0.0");
        ck_assert_uint_eq(port_of(&failed), port);
}
END_TEST

/* The IPv4 socket is bound and listening when the IPv6 bind fails: it must be closed. */
START_TEST(test_bind_port_in_use_in_second_family_closes_the_first_socket) {
        BindParams p = params(NULL, NULL);
        struct sockaddr_storage failed = {};
        _cleanup_(closep) int blocker = -EBADF;
        BoundSocket *s = NULL;
        char service[8] = "";
        uint16_t port = 0;
        int gai = 12345, before = 0, n = 0;

        enter_netns();
        blocker = occupy(AF_INET6, 0, &port);
        snprintf(service, sizeof(service), "%u", port);
        p.service = service;
        before = count_fds();
        ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRINUSE);
        ck_assert_int_eq(count_fds(), before);
        assert_addr(&failed, AF_INET6, "::");
        ck_assert_uint_eq(port_of(&failed), port);
        /* Closed, not leaked elsewhere: the IPv4 port is free again. */
        p.family = AF_INET;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(port_of(&s[0].addr), port);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* ---- getaddrinfo errors and arguments ----------------------------------------------- */

/* Every failure here must leave *ret and *ret_failed_addr alone. */
static void assert_gai_failure(const BindParams *p, int want_gai) {
        struct sockaddr_storage failed, untouched;
        int gai = 12345;

        memset(&failed, 0xa5, sizeof(failed));
        memcpy(&untouched, &failed, sizeof(failed));
        ck_assert_int_eq(bind_fail(p, NULL, NULL, &gai, &failed), -EADDRNOTAVAIL);
        ck_assert_msg(gai == want_gai, "gai %d (%s), want %d (%s)", gai, gai_strerror(gai), want_gai,
                      gai_strerror(want_gai));
        ck_assert_mem_eq(&failed, &untouched, sizeof(failed));
}

START_TEST(test_bind_unresolvable_numeric_host_is_eai_noname) {
        BindParams p = params("nonexistent.invalid", "0");

        p.flags = AI_PASSIVE | AI_NUMERICHOST;
        ck_assert_int_eq(gai_code("nonexistent.invalid", "0", AF_UNSPEC, p.flags), EAI_NONAME);
        assert_gai_failure(&p, EAI_NONAME);
}
END_TEST

START_TEST(test_bind_localhost_with_numerichost_is_eai_noname) {
        BindParams p = params("localhost", "0");

        p.flags = AI_PASSIVE | AI_NUMERICHOST;
        assert_gai_failure(&p, EAI_NONAME);
}
END_TEST

START_TEST(test_bind_null_address_and_null_service_is_eai_noname) {
        BindParams p = params(NULL, NULL);

        ck_assert_int_eq(gai_code(NULL, NULL, AF_UNSPEC, AI_PASSIVE), EAI_NONAME);
        assert_gai_failure(&p, EAI_NONAME);
        p.address = "";
        assert_gai_failure(&p, EAI_NONAME);
}
END_TEST

/* glibc says EAI_ADDRFAMILY (-9) here, as the reference observed. */
START_TEST(test_bind_v4_literal_with_family_inet6_is_eai_addrfamily) {
        BindParams p = params("127.0.0.1", "0");

        p.family = AF_INET6;
        ck_assert_int_eq(gai_code("127.0.0.1", "0", AF_INET6, AI_PASSIVE), EAI_ADDRFAMILY);
        assert_gai_failure(&p, EAI_ADDRFAMILY);
}
END_TEST

START_TEST(test_bind_unknown_family_is_eai_family) {
        BindParams p = params(NULL, "0");

        p.family = AF_UNIX;
        ck_assert_int_eq(gai_code(NULL, "0", AF_UNIX, AI_PASSIVE), EAI_FAMILY);
        assert_gai_failure(&p, EAI_FAMILY);
}
END_TEST

START_TEST(test_bind_negative_port_is_eai_service) {
        BindParams p = params("127.0.0.1", "-1");

        ck_assert_int_eq(gai_code("127.0.0.1", "-1", AF_UNSPEC, AI_PASSIVE), EAI_SERVICE);
        assert_gai_failure(&p, EAI_SERVICE);
}
END_TEST

START_TEST(test_bind_rejects_socktypes_other_than_stream_and_dgram) {
        static const int bad[] = { SOCK_RAW, SOCK_SEQPACKET, SOCK_RDM, 0, SOCK_STREAM | SOCK_NONBLOCK };
        BindParams p = params("127.0.0.1", "0");

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int gai = 12345;

                p.socktype = bad[i];
                ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, NULL), -EINVAL);
                ck_assert_int_eq(gai, 0);
        }
}
END_TEST

START_TEST(test_bind_rejects_missing_params_or_result_pointer) {
        BindParams p = params("127.0.0.1", "0");
        int gai = 12345;

        ck_assert_int_eq(bind_fail(NULL, NULL, NULL, &gai, NULL), -EINVAL);
        ck_assert_int_eq(gai, 0);
        ck_assert_int_eq(bind_sockets(&p, NULL, NULL, NULL, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- state of the returned sockets -------------------------------------------------- */

START_TEST(test_bind_stream_sockets_are_nonblocking_cloexec_reuseaddr_v6only_listening) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
                assert_socket_state(&s[i], SOCK_STREAM, false);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_dgram_sockets_are_bound_and_not_listening) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.socktype = SOCK_DGRAM;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
                assert_socket_state(&s[i], SOCK_DGRAM, false);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_reuse_port_sets_so_reuseport_on_every_socket) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.reuse_port = true;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
                assert_socket_state(&s[i], SOCK_STREAM, true);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* ---- reuse_port --------------------------------------------------------------------- */

static void bind_same_port_twice(bool reuse_port) {
        BindParams p = params(NULL, "0");
        BoundSocket *first = NULL, *second = NULL;
        char service[8] = "";
        int n1 = 0, n2 = 0;

        enter_netns();
        p.reuse_port = reuse_port;
        n1 = bind_ok(&p, NULL, NULL, &first);
        ck_assert_int_eq(n1, 2);
        snprintf(service, sizeof(service), "%u", port_of(&first[0].addr));
        p.service = service;
        if (reuse_port) {
                n2 = bind_ok(&p, NULL, NULL, &second);
                ck_assert_int_eq(n2, 2);
                for (int i = 0; i < n2; i++) {
                        ck_assert_uint_eq(port_of(&second[i].addr), port_of(&first[0].addr));
                        assert_socket_state(&second[i], SOCK_STREAM, true);
                }
                bound_sockets_free(second, (size_t) n2);
        } else {
                struct sockaddr_storage failed = {};
                int gai = 12345;

                ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRINUSE);
                assert_addr(&failed, AF_INET, "0.0.0.0");
                ck_assert_uint_eq(port_of(&failed), port_of(&first[0].addr));
        }
        bound_sockets_free(first, (size_t) n1);
}

START_TEST(test_bind_reuse_port_lets_two_calls_share_a_port) {
        bind_same_port_twice(true);
}
END_TEST

START_TEST(test_bind_without_reuse_port_second_call_is_eaddrinuse) {
        bind_same_port_twice(false);
}
END_TEST

/* ---- backlog ------------------------------------------------------------------------ */

/* The backlog each listening socket got. A negative one passed through would be read as
 * unsigned by the kernel and become somaxconn (4096), so the clamp is visible. */
static void assert_listen_backlog(int backlog, unsigned want) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.backlog = backlog;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
                ck_assert_uint_eq(listen_backlog(s[i].family, port_of(&s[i].addr)), want);
        bound_sockets_free(s, (size_t) n);
}

START_TEST(test_bind_negative_backlog_listens_with_zero) {
        assert_listen_backlog(-5, 0);
}
END_TEST

START_TEST(test_bind_zero_backlog_listens_with_zero) {
        assert_listen_backlog(0, 0);
}
END_TEST

START_TEST(test_bind_backlog_reaches_listen) {
        assert_listen_backlog(7, 7);
        assert_listen_backlog(BIND_DEFAULT_BACKLOG, BIND_DEFAULT_BACKLOG);
}
END_TEST

/* ---- check hook --------------------------------------------------------------------- */

START_TEST(test_bind_check_hook_sees_each_entry_with_the_requested_port) {
        BindParams p = params(NULL, "0");
        HookLog log = {};
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        n = bind_ok(&p, hook_record, &log, &s);
        ck_assert_int_eq(n, 2);
        ck_assert_uint_eq(log.calls, 2);
        assert_addr(&log.addr[0], AF_INET, "0.0.0.0");
        ck_assert_uint_eq(log.len[0], sizeof(struct sockaddr_in));
        assert_addr(&log.addr[1], AF_INET6, "::");
        ck_assert_uint_eq(log.len[1], sizeof(struct sockaddr_in6));
        for (unsigned i = 0; i < log.calls; i++) {
                /* Port 0 also for the second, though it is then bound to the first's port. */
                ck_assert_uint_eq(port_of(&log.addr[i]), 0);
                ck_assert_int_eq(log.socktype[i], SOCK_STREAM);
        }
        ck_assert_uint_ne(port_of(&s[1].addr), 0);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_check_hook_sees_the_dgram_socktype) {
        BindParams p = params("127.0.0.1", "0");
        HookLog log = {};
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        p.socktype = SOCK_DGRAM;
        n = bind_ok(&p, hook_record, &log, &s);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(log.calls, 1);
        ck_assert_int_eq(log.socktype[0], SOCK_DGRAM);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_check_hook_refusal_fails_the_call_with_nothing_open) {
        BindParams p = params(NULL, "0");
        struct sockaddr_storage failed, untouched;
        HookLog log = { .refuse_from = 1, .error = -EPERM };
        int gai = 12345, before = 0;

        enter_netns();
        memset(&failed, 0xa5, sizeof(failed));
        memcpy(&untouched, &failed, sizeof(failed));
        before = count_fds();
        ck_assert_int_eq(bind_fail(&p, hook_record, &log, &gai, &failed), -EPERM);
        ck_assert_int_eq(count_fds(), before);
        ck_assert_uint_eq(log.calls, 1);
        ck_assert_int_eq(gai, 0);
        ck_assert_mem_eq(&failed, &untouched, sizeof(failed));
}
END_TEST

START_TEST(test_bind_check_hook_refusing_second_entry_closes_the_first) {
        BindParams p = params(NULL, "0");
        HookLog log = { .refuse_from = 2, .error = -EPERM };
        int gai = 12345, before = 0;

        enter_netns();
        before = count_fds();
        ck_assert_int_eq(bind_fail(&p, hook_record, &log, &gai, NULL), -EPERM);
        ck_assert_int_eq(count_fds(), before);
        ck_assert_uint_eq(log.calls, 2);
        assert_addr(&log.addr[1], AF_INET6, "::");
}
END_TEST

/* ---- localhost and an unbindable ::1 ------------------------------------------------ */

/* /etc/hosts gives localhost both loopbacks (the Docker case); IPv6 is off on lo, so ::1
 * resolves but bind() says EADDRNOTAVAIL. */
static void enter_netns_with_unbindable_v6_loopback(const char *hosts) {
        struct sockaddr_storage gai[MAX_EXPECTED];
        size_t n = 0;
        bool has_v6_loopback = false;

        override_hosts(hosts);
        enter_netns();
        write_file("/proc/sys/net/ipv6/conf/lo/disable_ipv6", "1");
        /* Wherever glibc's RFC 3484 sort puts it (last, now that it has no source address). */
        n = gai_list("localhost", "0", AF_UNSPEC, AI_PASSIVE, gai);
        for (size_t i = 0; i < n; i++)
                has_v6_loopback = has_v6_loopback ||
                                  (gai[i].ss_family == AF_INET6 &&
                                   IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *) &gai[i])->sin6_addr));
        ck_assert_msg(has_v6_loopback, "precondition: localhost does not resolve to ::1");
}

#define HOSTS_BOTH_LOOPBACKS "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"

START_TEST(test_bind_localhost_skips_unbindable_v6_loopback) {
        BindParams p = params("localhost", "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns_with_unbindable_v6_loopback(HOSTS_BOTH_LOOPBACKS);
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "127.0.0.1");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_explicit_v6_loopback_unbindable_is_eaddrnotavail) {
        BindParams p = params("::1", "0");
        struct sockaddr_storage failed = {};
        int gai = 12345;

        enter_netns_with_unbindable_v6_loopback(HOSTS_BOTH_LOOPBACKS);
        ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRNOTAVAIL);
        ck_assert_int_eq(gai, 0); /* a bind error, not a resolver one */
        assert_addr(&failed, AF_INET6, "::1");
}
END_TEST

/* Only the exact string "localhost": another name for ::1, or another spelling that glibc
 * resolves the same, fails (after the IPv4 socket was bound, which is closed again). */
START_TEST(test_bind_other_names_for_unbindable_v6_loopback_are_not_skipped) {
        static const char *names[] = { "ip6-localhost", "LOCALHOST" };

        enter_netns_with_unbindable_v6_loopback(HOSTS_BOTH_LOOPBACKS);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                BindParams p = params(names[i], "0");
                struct sockaddr_storage failed = {};
                int gai = 12345, before = count_fds();

                ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, &failed), -EADDRNOTAVAIL);
                ck_assert_int_eq(count_fds(), before);
                ck_assert_int_eq(gai, 0);
                assert_addr(&failed, AF_INET6, "::1");
        }
}
END_TEST

/* Every entry skipped is success with no sockets, as in Tornado. */
START_TEST(test_bind_localhost_with_only_unbindable_v6_returns_no_sockets) {
        BindParams p = params("localhost", "0");
        BoundSocket *s = NULL;

        enter_netns_with_unbindable_v6_loopback("::1 localhost\n");
        ck_assert_int_eq(bind_ok(&p, NULL, NULL, &s), 0);
        bound_sockets_free(s, 0);
}
END_TEST

/* ---- de-duplication ----------------------------------------------------------------- */

/* glibc repeats an address listed twice in /etc/hosts (Tornado issues #434, #435). */
START_TEST(test_bind_skips_duplicate_getaddrinfo_entries) {
        BindParams p = params("dup.test", "0");
        struct sockaddr_storage gai[MAX_EXPECTED];
        HookLog log = {};
        BoundSocket *s = NULL;
        int n = 0;

        override_hosts("127.0.0.2 dup.test\n127.0.0.2 dup.test\n");
        enter_netns();
        ck_assert_uint_eq(gai_list("dup.test", "0", AF_UNSPEC, AI_PASSIVE, gai), 2);
        ck_assert_mem_eq(&gai[0], &gai[1], sizeof(gai[0]));
        n = bind_ok(&p, hook_record, &log, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "127.0.0.2");
        ck_assert_uint_eq(log.calls, 1);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

/* ---- BIND_MAX_SOCKETS --------------------------------------------------------------- */

/* A name with n distinct loopback addresses (127.1.x.y, all local on lo). */
static void enter_netns_with_many_addresses(unsigned n) {
        /* The longest line, "127.1.255.255 many.test\n"; the buffer has one more byte for
         * the final NUL. */
        const size_t line_max = 24;
        _cleanup_(freep) char *hosts = malloc(n * line_max + 1);
        struct rlimit rl = {};
        size_t off = 0;

        ck_assert_ptr_nonnull(hosts);
        hosts[0] = '\0';
        for (unsigned i = 0; i < n; i++)
                /* 250 hosts per /24 keeps clear of .0 and .255. */
                off += (size_t) snprintf(hosts + off, line_max + 1, "127.1.%u.%u many.test\n", i / 250,
                                         1 + i % 250);
        override_hosts(hosts);
        enter_netns();
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < LIMIT_TEST_NOFILE) {
                rl.rlim_cur = LIMIT_TEST_NOFILE;
                rl.rlim_max = MAX(rl.rlim_max, (rlim_t) LIMIT_TEST_NOFILE);
                ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
}

START_TEST(test_bind_max_sockets_succeeds) {
        BindParams p = params("many.test", "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns_with_many_addresses(BIND_MAX_SOCKETS);
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, (int) BIND_MAX_SOCKETS);
        assert_all_share_first_port(s, n);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_more_than_max_sockets_is_e2big_with_nothing_left_open) {
        BindParams p = params("many.test", "0");
        int gai = 12345, before = 0;

        enter_netns_with_many_addresses(BIND_MAX_SOCKETS + 1);
        before = count_fds();
        ck_assert_int_eq(bind_fail(&p, NULL, NULL, &gai, NULL), -E2BIG);
        ck_assert_int_eq(count_fds(), before);
        ck_assert_int_eq(gai, 0);
}
END_TEST

/* ---- syscall failures --------------------------------------------------------------- */

START_TEST(test_bind_skips_a_family_the_kernel_does_not_support) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        seccomp_fail(__NR_socket, 0, AF_INET6, 0, AF_INET6, EAFNOSUPPORT);
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 1);
        assert_bound(&s[0], AF_INET, "0.0.0.0");
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_every_family_unsupported_returns_no_sockets) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;

        enter_netns();
        seccomp_fail(__NR_socket, 0, AF_INET6, 0, AF_INET6, EAFNOSUPPORT);
        p.family = AF_INET6;
        ck_assert_int_eq(bind_ok(&p, NULL, NULL, &s), 0);
        bound_sockets_free(s, 0);
}
END_TEST

/* Run p with the filter in place: must fail with want, leaving no fd open. */
static void assert_syscall_failure(const BindParams *p, int want) {
        int gai = 12345, before = count_fds();

        ck_assert_int_eq(bind_fail(p, NULL, NULL, &gai, NULL), want);
        ck_assert_int_eq(count_fds(), before);
        ck_assert_int_eq(gai, 0);
}

START_TEST(test_bind_socket_error_other_than_eafnosupport_fails_and_closes) {
        BindParams p = params(NULL, "0");

        enter_netns();
        seccomp_fail(__NR_socket, 0, AF_INET6, 0, AF_INET6, EACCES);
        assert_syscall_failure(&p, -EACCES);
}
END_TEST

START_TEST(test_bind_reuseaddr_enoprotoopt_is_ignored) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        seccomp_fail(__NR_setsockopt, 1, SOL_SOCKET, 2, SO_REUSEADDR, ENOPROTOOPT);
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        for (int i = 0; i < n; i++)
                ck_assert_int_eq(sockopt_int(s[i].fd, SOL_SOCKET, SO_REUSEADDR), 0);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_reuseaddr_other_error_fails_and_closes) {
        BindParams p = params(NULL, "0");

        enter_netns();
        seccomp_fail(__NR_setsockopt, 1, SOL_SOCKET, 2, SO_REUSEADDR, EINVAL);
        assert_syscall_failure(&p, -EINVAL);
}
END_TEST

/* Opt-in, so not even ENOPROTOOPT is swallowed (Tornado PR #2353). */
START_TEST(test_bind_reuse_port_error_is_reported_even_enoprotoopt) {
        BindParams p = params(NULL, "0");
        BoundSocket *s = NULL;
        int n = 0;

        enter_netns();
        seccomp_fail(__NR_setsockopt, 1, SOL_SOCKET, 2, SO_REUSEPORT, ENOPROTOOPT);
        p.reuse_port = true;
        assert_syscall_failure(&p, -ENOPROTOOPT);
        p.reuse_port = false;
        n = bind_ok(&p, NULL, NULL, &s);
        ck_assert_int_eq(n, 2);
        bound_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_v6only_error_fails_and_closes_the_v4_socket) {
        BindParams p = params(NULL, "0");

        enter_netns();
        seccomp_fail(__NR_setsockopt, 1, IPPROTO_IPV6, 2, IPV6_V6ONLY, ENOPROTOOPT);
        assert_syscall_failure(&p, -ENOPROTOOPT);
}
END_TEST

START_TEST(test_bind_listen_error_fails_and_closes) {
        BindParams p = params(NULL, "0");

        enter_netns();
        seccomp_fail(__NR_listen, 1, BIND_DEFAULT_BACKLOG, 1, BIND_DEFAULT_BACKLOG, EADDRINUSE);
        assert_syscall_failure(&p, -EADDRINUSE);
}
END_TEST

START_TEST(test_bind_getsockname_error_fails_and_closes) {
        BindParams p = params(NULL, "0");
        int probe = -EBADF, next_fd = -EBADF;

        enter_netns();
        /* The first socket bind_sockets() creates gets the lowest free number, the one a
         * probe gets now (getaddrinfo closes whatever it opens); fail getsockname on it. */
        probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(probe, 0);
        next_fd = probe;
        probe = safe_close(probe);
        seccomp_fail(__NR_getsockname, 0, (uint32_t) next_fd, 0, (uint32_t) next_fd, ENOBUFS);
        assert_syscall_failure(&p, -ENOBUFS);
}
END_TEST

/* ---- sockaddr_format ---------------------------------------------------------------- */

START_TEST(test_sockaddr_format_ipv4) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(8080) };
        char buf[INET6_ADDRSTRLEN + 16] = "";
        unsigned port = 0;

        ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &in.sin_addr), 1);
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in, buf, sizeof(buf), &port), 0);
        ck_assert_str_eq(buf, "192.0.2.1");
        ck_assert_uint_eq(port, 8080);
}
END_TEST

START_TEST(test_sockaddr_format_ipv6_without_brackets) {
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
        char buf[INET6_ADDRSTRLEN + 16] = "";
        unsigned port = 0;

        ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr), 1);
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in6, buf, sizeof(buf), &port), 0);
        ck_assert_str_eq(buf, "2001:db8::1");
        ck_assert_uint_eq(port, 443);
}
END_TEST

START_TEST(test_sockaddr_format_ipv6_appends_nonzero_scope) {
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(1), .sin6_scope_id = 3 };
        char buf[INET6_ADDRSTRLEN + 16] = "";
        unsigned port = 0;

        ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in6, buf, sizeof(buf), &port), 0);
        ck_assert_str_eq(buf, "fe80::1%3");
        ck_assert_uint_eq(port, 1);

        /* The longest text inet_ntop makes, and the longest scope, fit the size the header
         * asks for. */
        in6.sin6_scope_id = UINT32_MAX;
        memset(&in6.sin6_addr, 0xff, sizeof(in6.sin6_addr));
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in6, buf, sizeof(buf), NULL), 0);
        ck_assert_str_eq(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
}
END_TEST

START_TEST(test_sockaddr_format_rejects_other_families) {
        struct sockaddr_storage ss = { .ss_family = AF_UNIX };
        char buf[INET6_ADDRSTRLEN + 16] = "untouched";
        unsigned port = 12345;

        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &ss, buf, sizeof(buf), &port), -EAFNOSUPPORT);
        ck_assert_str_eq(buf, "untouched");
        ck_assert_uint_eq(port, 12345);
}
END_TEST

START_TEST(test_sockaddr_format_short_buffer_is_enospc_and_untouched) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(80) };
        char buf[sizeof("192.0.2.1")] = "x";
        unsigned port = 12345;

        ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &in.sin_addr), 1);
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in, buf, sizeof(buf) - 1, &port), -ENOSPC);
        ck_assert_str_eq(buf, "x");
        ck_assert_uint_eq(port, 12345);
        ck_assert_int_eq(sockaddr_format((struct sockaddr *) &in, buf, sizeof(buf), &port), 0);
        ck_assert_str_eq(buf, "192.0.2.1");
        ck_assert_uint_eq(port, 80);
}
END_TEST

/* ---- bound_sockets_free ------------------------------------------------------------- */

START_TEST(test_bound_sockets_free_closes_valid_fds_and_skips_negative) {
        BoundSocket *s = calloc(3, sizeof(BoundSocket));
        int a = -EBADF, b = -EBADF, before = count_fds();

        ck_assert_ptr_nonnull(s);
        a = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        b = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(a, 0);
        ck_assert_int_ge(b, 0);
        s[0].fd = a;
        s[1].fd = -EBADF;
        s[2].fd = b;
        bound_sockets_free(s, 3);
        ck_assert_int_eq(count_fds(), before);
        ck_assert(fcntl(a, F_GETFD) == -1 && errno == EBADF);
        ck_assert(fcntl(b, F_GETFD) == -1 && errno == EBADF);
        bound_sockets_free(NULL, 0);
}
END_TEST

/* ---- suite -------------------------------------------------------------------------- */

static TCase *tcase_new(Suite *s, const char *name, const char *tags) {
        TCase *tc = tcase_create(name);

        tcase_add_checked_fixture(tc, fd_count_setup, fd_count_teardown);
        tcase_set_timeout(tc, SOCKET_TEST_TIMEOUT);
        if (tags)
                tcase_set_tags(tc, tags);
        suite_add_tcase(s, tc);
        return tc;
}

static Suite *bind_suite(void) {
        Suite *s = suite_create("bind");
        TCase *tc = NULL;

        tc = tcase_new(s, "address_table", "netns");
        tcase_add_test(tc, test_bind_null_address_gives_both_wildcards_on_one_port);
        tcase_add_test(tc, test_bind_empty_address_is_the_wildcard_like_null);
        tcase_add_test(tc, test_bind_family_inet6_gives_only_the_v6_wildcard);
        tcase_add_test(tc, test_bind_family_inet_gives_only_the_v4_wildcard);
        tcase_add_test(tc, test_bind_localhost_binds_what_getaddrinfo_resolves);
        tcase_add_test(tc, test_bind_v6_loopback_literal_gives_one_v6_socket);

        tc = tcase_new(s, "service", "netns");
        tcase_add_test(tc, test_bind_null_service_with_address_binds_an_ephemeral_port);
        tcase_add_test(tc, test_bind_service_name_http_binds_port_80);
        tcase_add_test(tc, test_bind_port_past_65535_is_refused_not_truncated);

        tc = tcase_new(s, "family_order", "netns");
        tcase_add_test(tc, test_bind_sorts_ipv4_before_ipv6);

        tc = tcase_new(s, "family_order_hosts", "netns mountns");
        tcase_add_test(tc, test_bind_keeps_getaddrinfo_order_within_a_family);

        tc = tcase_new(s, "port0", "netns");
        tcase_add_test(tc, test_bind_port0_shared_across_families);
        tcase_add_test(tc, test_bind_flags_zero_gives_loopbacks_sharing_one_port);
        tcase_add_test(tc, test_bind_port0_shared_for_udp);
        tcase_add_test(tc, test_bind_port0_not_retried_when_other_family_has_the_port);

        tc = tcase_new(s, "port_in_use", "netns");
        tcase_add_test(tc, test_bind_port_in_use_is_eaddrinuse_and_leaves_nothing_open);
        tcase_add_test(tc, test_bind_port_in_use_in_second_family_closes_the_first_socket);

        tc = tcase_new(s, "getaddrinfo_errors", NULL);
        tcase_add_test(tc, test_bind_unresolvable_numeric_host_is_eai_noname);
        tcase_add_test(tc, test_bind_localhost_with_numerichost_is_eai_noname);
        tcase_add_test(tc, test_bind_null_address_and_null_service_is_eai_noname);
        tcase_add_test(tc, test_bind_v4_literal_with_family_inet6_is_eai_addrfamily);
        tcase_add_test(tc, test_bind_unknown_family_is_eai_family);
        tcase_add_test(tc, test_bind_negative_port_is_eai_service);

        tc = tcase_new(s, "arguments", NULL);
        tcase_add_test(tc, test_bind_rejects_socktypes_other_than_stream_and_dgram);
        tcase_add_test(tc, test_bind_rejects_missing_params_or_result_pointer);

        tc = tcase_new(s, "socket_state", "netns");
        tcase_add_test(tc, test_bind_stream_sockets_are_nonblocking_cloexec_reuseaddr_v6only_listening);
        tcase_add_test(tc, test_bind_dgram_sockets_are_bound_and_not_listening);
        tcase_add_test(tc, test_bind_reuse_port_sets_so_reuseport_on_every_socket);

        tc = tcase_new(s, "reuse_port", "netns");
        tcase_add_test(tc, test_bind_reuse_port_lets_two_calls_share_a_port);
        tcase_add_test(tc, test_bind_without_reuse_port_second_call_is_eaddrinuse);

        tc = tcase_new(s, "backlog", "netns");
        tcase_add_test(tc, test_bind_negative_backlog_listens_with_zero);
        tcase_add_test(tc, test_bind_zero_backlog_listens_with_zero);
        tcase_add_test(tc, test_bind_backlog_reaches_listen);

        tc = tcase_new(s, "check_hook", "netns");
        tcase_add_test(tc, test_bind_check_hook_sees_each_entry_with_the_requested_port);
        tcase_add_test(tc, test_bind_check_hook_sees_the_dgram_socktype);
        tcase_add_test(tc, test_bind_check_hook_refusal_fails_the_call_with_nothing_open);
        tcase_add_test(tc, test_bind_check_hook_refusing_second_entry_closes_the_first);

        tc = tcase_new(s, "localhost_v6_skip", "netns mountns");
        tcase_add_test(tc, test_bind_localhost_skips_unbindable_v6_loopback);
        tcase_add_test(tc, test_bind_explicit_v6_loopback_unbindable_is_eaddrnotavail);
        tcase_add_test(tc, test_bind_other_names_for_unbindable_v6_loopback_are_not_skipped);
        tcase_add_test(tc, test_bind_localhost_with_only_unbindable_v6_returns_no_sockets);

        tc = tcase_new(s, "dedup", "netns mountns");
        tcase_add_test(tc, test_bind_skips_duplicate_getaddrinfo_entries);

        tc = tcase_new(s, "max_sockets", "netns mountns");
        tcase_add_test(tc, test_bind_max_sockets_succeeds);
        tcase_add_test(tc, test_bind_more_than_max_sockets_is_e2big_with_nothing_left_open);

        tc = tcase_new(s, "syscall_errors", "netns seccomp");
        tcase_add_test(tc, test_bind_skips_a_family_the_kernel_does_not_support);
        tcase_add_test(tc, test_bind_every_family_unsupported_returns_no_sockets);
        tcase_add_test(tc, test_bind_socket_error_other_than_eafnosupport_fails_and_closes);
        tcase_add_test(tc, test_bind_reuseaddr_enoprotoopt_is_ignored);
        tcase_add_test(tc, test_bind_reuseaddr_other_error_fails_and_closes);
        tcase_add_test(tc, test_bind_reuse_port_error_is_reported_even_enoprotoopt);
        tcase_add_test(tc, test_bind_v6only_error_fails_and_closes_the_v4_socket);
        tcase_add_test(tc, test_bind_listen_error_fails_and_closes);
        tcase_add_test(tc, test_bind_getsockname_error_fails_and_closes);

        tc = tcase_new(s, "sockaddr_format", NULL);
        tcase_add_test(tc, test_sockaddr_format_ipv4);
        tcase_add_test(tc, test_sockaddr_format_ipv6_without_brackets);
        tcase_add_test(tc, test_sockaddr_format_ipv6_appends_nonzero_scope);
        tcase_add_test(tc, test_sockaddr_format_rejects_other_families);
        tcase_add_test(tc, test_sockaddr_format_short_buffer_is_enospc_and_untouched);

        tc = tcase_new(s, "bound_sockets_free", NULL);
        tcase_add_test(tc, test_bound_sockets_free_closes_valid_fds_and_skips_negative);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(bind_suite());
        int failed = 0;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
