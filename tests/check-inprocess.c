/* SPDX-License-Identifier: MIT */

/*
 * The in-process helpers of libnetutil (client/inprocess.c) against Tornado's behaviour
 * (shared/reference/tornado-netutil.md §4, §1, §2), and "netutilctl is-valid-ip":
 *   - netutil_is_valid_ip(): the whole upstream table of §4.2, glibc's numeric forms and
 *     our edge cases, the _n variant's lengths and NULs, and the error mapping of every
 *     getaddrinfo() failure other than EAI_NONAME;
 *   - netutil_bind_sockets(): the §1.2 table, port-0 sharing, EADDRINUSE, EAI codes
 *     through ret_gai, UDP, socket state; in a fresh network namespace;
 *   - netutil_bind_unix_socket(): mode, replacement, every refusal, abstract names,
 *     lengths, and every syscall failure (seccomp), each without a leaked fd or node.
 *
 * getaddrinfo() failures other than EAI_NONAME cannot be provoked with any input to a
 * numeric lookup, so this program defines getaddrinfo() itself: the definition in the
 * executable interposes on libc's for libnetutil too, and passes every call through to
 * libc's unless a test arms it (fake_gai). Fork mode gives each test a fresh process, so
 * the namespaces, seccomp filters and umask of a test are its own; TCases are tagged
 * "netns" and "seccomp" like check-bind's, and a CK_FORK=no run must exclude "seccomp".
 * Every test counts the open fds of the process before and after (checked fixture).
 * Needs root (namespaces); NETUTILCTL_BIN names the netutilctl to run.
 */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"

/* Seconds for any TCase: everything here is local and quick; this bounds a hang. */
#define TEST_TIMEOUT 30
/* sun_path on Linux: a path needs its NUL inside, an abstract name may fill it. */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *) NULL)->sun_path)
/* Bytes of netutilctl output a test looks at: one line or one small object. */
#define OUT_SIZE 4096

/* ---- getaddrinfo() interposer --------------------------------------------------------- */

/* Armed by a test: error != 0 makes getaddrinfo() return it (with errno = sys_errno for
 * EAI_SYSTEM); empty makes it succeed with no results. Every call is recorded. */
static struct {
        int error;
        int sys_errno;
        bool empty;
        unsigned calls;
        bool service_null;
        struct addrinfo hints;
        char node[512];
} fake_gai;

/* Default visibility (the build hides symbols): exported, it is what libnetutil binds to. */
_public_ int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                         struct addrinfo **res) {
        static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) = NULL;

        fake_gai.calls++;
        fake_gai.service_null = !service;
        fake_gai.hints = hints ? *hints : (struct addrinfo) {};
        snprintf(fake_gai.node, sizeof(fake_gai.node), "%s", node ? node : "(null)");
        if (fake_gai.empty) {
                *res = NULL;
                return 0;
        }
        if (fake_gai.error != 0) {
                if (fake_gai.error == EAI_SYSTEM)
                        errno = fake_gai.sys_errno;
                return fake_gai.error;
        }
        if (!real) {
                *(void **) &real = dlsym(RTLD_NEXT, "getaddrinfo");
                if (!real)
                        return EAI_SYSTEM;
        }
        return real(node, service, hints, res);
}

/* ---- Helpers ------------------------------------------------------------------------ */

/* Created by main() (the parent); each test makes its own directory below it; main()
 * removes the tree at the end, so a failed test leaves nothing in /tmp either. */
static char base_dir[64];

static void fd_count_setup(void) {
        /* Disarmed, for CK_FORK=no runs where one test's process is the next one's. */
        memset(&fake_gai, 0, sizeof(fake_gai));
        test_fd_count_setup();
}

/* Makes syscall nr fail with error, always, for the rest of the process (fork mode: the
 * rest of the test). No architecture check: the numbers are this build's own. */
static void seccomp_fail(long nr, int error) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t) error & SECCOMP_RET_DATA)),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };

        ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        ck_assert_msg(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp: %s", strerror(errno));
}

/* socket() of one family only, so the test's own other sockets still work. */
static void seccomp_fail_socket_family(int family, int error) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) SYS_socket, 0, 3),
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args)),
#else
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args) + 4),
#endif
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) family, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t) error & SECCOMP_RET_DATA)),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };

        ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        ck_assert_msg(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp: %s", strerror(errno));
}

/* chmod(2) in every form glibc may use. */
static void seccomp_fail_chmod(int error) {
#ifdef SYS_chmod
        seccomp_fail(SYS_chmod, error);
#endif
        seccomp_fail(SYS_fchmodat, error);
#ifdef SYS_fchmodat2
        seccomp_fail(SYS_fchmodat2, error);
#endif
}

static void seccomp_fail_unlink(int error) {
#ifdef SYS_unlink
        seccomp_fail(SYS_unlink, error);
#endif
        seccomp_fail(SYS_unlinkat, error);
}

/* A new directory below base_dir, for this test only. */
static void make_dir(char *buf, size_t len) {
        ck_assert_int_lt(snprintf(buf, len, "%s/t.XXXXXX", base_dir), (int) len);
        ck_assert_ptr_nonnull(mkdtemp(buf));
}

static void join(char *buf, size_t len, const char *dir, const char *name) {
        ck_assert_int_lt(snprintf(buf, len, "%s/%s", dir, name), (int) len);
}

static void write_file(const char *path, const char *text) {
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

        ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

/* A socket node at path that nobody listens on (bound, then closed), as a crashed
 * server leaves it. Returns its inode. */
static ino_t make_stale_socket(const char *path) {
        _cleanup_(closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        return st.st_ino;
}

/* What a refusal must leave as it was. */
typedef struct Snapshot {
        struct stat st;
        char content[64];
        ssize_t content_len;
} Snapshot;

static void snapshot(const char *path, Snapshot *s) {
        *s = (Snapshot) { .content_len = -1 };
        ck_assert_int_eq(lstat(path, &s->st), 0);
        if (S_ISREG(s->st.st_mode)) {
                _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                s->content_len = read(fd, s->content, sizeof(s->content));
                ck_assert_int_ge(s->content_len, 0);
        }
}

static void assert_unchanged(const char *path, const Snapshot *before) {
        Snapshot now;

        snapshot(path, &now);
        ck_assert_int_eq(now.st.st_ino, before->st.st_ino);
        ck_assert_int_eq(now.st.st_mode, before->st.st_mode);
        ck_assert_int_eq(now.st.st_size, before->st.st_size);
        ck_assert_int_eq(now.st.st_mtim.tv_sec, before->st.st_mtim.tv_sec);
        ck_assert_int_eq(now.st.st_mtim.tv_nsec, before->st.st_mtim.tv_nsec);
        ck_assert_int_eq(now.content_len, before->content_len);
        if (now.content_len > 0)
                ck_assert_mem_eq(now.content, before->content, (size_t) now.content_len);
}

static void assert_absent(const char *path) {
        struct stat st;

        ck_assert_msg(lstat(path, &st) < 0 && errno == ENOENT, "%s exists", path);
}

/* A connection to the unix socket named by the len bytes at name (a leading NUL: abstract). */
static int connect_unix(const char *name, size_t len) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_le(len, sizeof(sa.sun_path));
        memcpy(sa.sun_path, name, len);
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
                int saved = errno;
                close(fd);
                return -saved;
        }
        return fd;
}

/* The state bind_unix_socket promises: a listening, non-blocking, close-on-exec AF_UNIX
 * stream socket with SO_REUSEADDR that accepts a connection made to name. */
static void assert_unix_listener(int fd, const char *name, size_t len) {
        _cleanup_(closep) int client = -EBADF, conn = -EBADF;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN), AF_UNIX);
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
        ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);

        client = connect_unix(name, len);
        ck_assert_msg(client >= 0, "connect: %s", strerror(-client));
        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_msg(conn >= 0, "accept4: %s", strerror(errno));
}

static mode_t node_mode(const char *path) {
        struct stat st;

        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        return st.st_mode & 07777;
}

/* ---- is_valid_ip: tables -------------------------------------------------------------- */

typedef struct IpCase {
        const char *input;
        int expected;
} IpCase;

/* reference §4.2, upstream IsValidIPTest.test_is_valid_ip; "\x00" and "a" * 100 are the
 * tests below (one needs the _n variant, the other is built). */
static const IpCase upstream_cases[] = {
        { "127.0.0.1", 1 },
        { "4.4.4.4", 1 },
        { "::1", 1 },
        { "2620:0:1cfe:face:b00c::3", 1 },
        { "www.google.com", 0 },
        { "localhost", 0 },
        { "4.4.4.4<", 0 },
        { " 127.0.0.1", 0 },
        { "", 0 },
        { " ", 0 },
        { "\n", 0 },
};

START_TEST(test_is_valid_ip_matches_tornados_upstream_table) {
        const IpCase *c = &upstream_cases[_i];

        ck_assert_msg(netutil_is_valid_ip(c->input) == c->expected, "is_valid_ip(\"%s\") is not %d", c->input,
                      c->expected);
        /* The _n form agrees when given the string's own length. */
        ck_assert_int_eq(netutil_is_valid_ip_n(c->input, strlen(c->input)), c->expected);
}
END_TEST

START_TEST(test_is_valid_ip_n_rejects_a_lone_nul_byte) {
        ck_assert_int_eq(netutil_is_valid_ip_n("\x00", 1), 0);
}
END_TEST

START_TEST(test_is_valid_ip_rejects_a_hundred_letters) {
        char a100[101];

        memset(a100, 'a', 100);
        a100[100] = '\0';
        ck_assert_int_eq(netutil_is_valid_ip(a100), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n(a100, 100), 0);
}
END_TEST

/* Ours: what glibc's numeric getaddrinfo accepts (inet_aton forms) and refuses. */
static const IpCase glibc_cases[] = {
        { "127.1", 1 },               /* inet_aton shorthand: 127.0.0.1 */
        { "0x7f.0.0.1", 1 },          /* hex */
        { "0X7F.0.0.1", 1 },          /* hex, upper case */
        { "0x7f.1", 1 },              /* hex shorthand */
        { "0177.0.0.1", 1 },          /* octal */
        { "08.0.0.1", 0 },            /* not octal, not decimal */
        { "4294967295", 1 },          /* one 32-bit number: 255.255.255.255 */
        { "4294967296", 0 },          /* one past it */
        { "::ffff:1.2.3.4", 1 },      /* v4-mapped */
        { "::", 1 },                  /* the v6 wildcard */
        { "1.2.3.4.5", 0 },           /* a fifth part */
        { "256.1.1.1", 0 },           /* a part over 255 */
        { "1..2", 0 },                /* an empty part */
        { "127.0.0.1 ", 0 },          /* trailing space (inet_aton would take it) */
        { "\t127.0.0.1", 0 },         /* leading tab */
        { "127.0.0.1\n", 0 },         /* trailing newline */
        { ":", 0 },                   /* only a colon */
        { ":::", 0 },                 /* only colons */
        { "[::1]", 0 },               /* brackets are URL syntax */
        { "::1/128", 0 },             /* a prefix length */
        { "::1%lo", 0 },              /* glibc: scope ids on link-local addresses only */
        { "1.2.3.4%lo", 0 },          /* no scope on IPv4 */
        { "fe80::1%1", 1 },           /* a numeric scope id */
        { "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1", 0 }, /* full-width "127": see netutil.h */
};

START_TEST(test_is_valid_ip_follows_glibcs_numeric_getaddrinfo) {
        const IpCase *c = &glibc_cases[_i];

        ck_assert_msg(netutil_is_valid_ip(c->input) == c->expected, "is_valid_ip(\"%s\") is not %d", c->input,
                      c->expected);
}
END_TEST

START_TEST(test_is_valid_ip_accepts_a_scope_by_interface_name_when_it_exists) {
        /* lo exists in every network namespace; the test states the dependency. */
        ck_assert_int_ne(if_nametoindex("lo"), 0);
        ck_assert_int_eq(netutil_is_valid_ip("fe80::1%lo"), 1);
        ck_assert_int_eq(netutil_is_valid_ip_n("fe80::1%lo", 10), 1);
}
END_TEST

START_TEST(test_is_valid_ip_rejects_a_scope_naming_no_interface) {
        ck_assert_int_eq(if_nametoindex("nonexistent"), 0);
        ck_assert_int_eq(netutil_is_valid_ip("fe80::1%nonexistent"), 0);
}
END_TEST

START_TEST(test_is_valid_ip_rejects_300_byte_strings_without_a_length_limit_of_its_own) {
        char s[301];

        memset(s, 'a', 300);
        s[300] = '\0';
        ck_assert_int_eq(netutil_is_valid_ip(s), 0);
        memset(s, ':', 300);
        ck_assert_int_eq(netutil_is_valid_ip(s), 0);
        memset(s, '1', 300);
        ck_assert_int_eq(netutil_is_valid_ip(s), 0);
        /* 291 zeros and "127.0.0.1": octal 0127 with leading zeros is still an address,
         * so any cap on length would be wrong. */
        memset(s, '0', 291);
        memcpy(s + 291, "127.0.0.1", 10);
        ck_assert_int_eq(strlen(s), 300);
        ck_assert_int_eq(netutil_is_valid_ip(s), 1);
}
END_TEST

/* ---- is_valid_ip: lengths, NULs and arguments ---------------------------------------- */

START_TEST(test_is_valid_ip_n_reads_exactly_len_bytes_without_a_terminator) {
        const char buf[] = { '1', '2', '7', '.', '0', '.', '0', '.', '1', '2', 'x' };

        ck_assert_int_eq(netutil_is_valid_ip_n(buf, 9), 1);  /* "127.0.0.1" */
        ck_assert_int_eq(netutil_is_valid_ip_n(buf, 10), 1); /* "127.0.0.12" */
        ck_assert_int_eq(netutil_is_valid_ip_n(buf, 11), 0); /* "127.0.0.12x" */
        ck_assert_int_eq(netutil_is_valid_ip_n(buf, 5), 1);  /* "127.0": inet_aton's 127.0.0.0 */
}
END_TEST

START_TEST(test_is_valid_ip_n_rejects_a_nul_anywhere_without_calling_getaddrinfo) {
        fake_gai.calls = 0;
        ck_assert_int_eq(netutil_is_valid_ip_n("127.0.0.1\0junk", 14), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n("127.0.0.1\0", 10), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n("\0" "127.0.0.1", 10), 0);
        ck_assert_int_eq(fake_gai.calls, 0);
}
END_TEST

START_TEST(test_is_valid_ip_empty_is_invalid_without_calling_getaddrinfo) {
        fake_gai.calls = 0;
        ck_assert_int_eq(netutil_is_valid_ip(""), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n("", 0), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n("127.0.0.1", 0), 0);
        ck_assert_int_eq(fake_gai.calls, 0);
}
END_TEST

START_TEST(test_is_valid_ip_null_is_einval) {
        ck_assert_int_eq(netutil_is_valid_ip(NULL), -EINVAL);
        ck_assert_int_eq(netutil_is_valid_ip_n(NULL, 0), -EINVAL);
        ck_assert_int_eq(netutil_is_valid_ip_n(NULL, 9), -EINVAL);
}
END_TEST

/* ---- is_valid_ip: getaddrinfo's answers --------------------------------------------- */

START_TEST(test_is_valid_ip_asks_getaddrinfo_as_tornado_does) {
        fake_gai.calls = 0;
        ck_assert_int_eq(netutil_is_valid_ip("4.4.4.4"), 1);
        ck_assert_int_eq(fake_gai.calls, 1);
        ck_assert_str_eq(fake_gai.node, "4.4.4.4");
        ck_assert(fake_gai.service_null);
        ck_assert_int_eq(fake_gai.hints.ai_flags, AI_NUMERICHOST);
        ck_assert_int_eq(fake_gai.hints.ai_family, AF_UNSPEC);
        ck_assert_int_eq(fake_gai.hints.ai_socktype, SOCK_STREAM);
        ck_assert_int_eq(fake_gai.hints.ai_protocol, 0);
}
END_TEST

START_TEST(test_is_valid_ip_success_without_results_is_invalid) {
        fake_gai.empty = true;
        ck_assert_int_eq(netutil_is_valid_ip("127.0.0.1"), 0);
        ck_assert_int_eq(netutil_is_valid_ip_n("127.0.0.1", 9), 0);
}
END_TEST

START_TEST(test_is_valid_ip_eai_noname_is_invalid_not_an_error) {
        fake_gai.error = EAI_NONAME;
        ck_assert_int_eq(netutil_is_valid_ip("127.0.0.1"), 0);
}
END_TEST

/* Tornado lets these gaierrors propagate: an error, never a "no". */
static const struct {
        int eai;
        int sys_errno;
        int expected;
} gai_error_cases[] = {
        { EAI_AGAIN, 0, -EAGAIN },
        { EAI_MEMORY, 0, -ENOMEM },
        { EAI_FAIL, 0, -EIO },
        { EAI_FAMILY, 0, -EAFNOSUPPORT },
        { EAI_SOCKTYPE, 0, -ESOCKTNOSUPPORT },
        { EAI_BADFLAGS, 0, -EINVAL },
        { EAI_SERVICE, 0, -EADDRNOTAVAIL },
        { EAI_NODATA, 0, -EADDRNOTAVAIL },
        { EAI_ADDRFAMILY, 0, -EADDRNOTAVAIL },
        { EAI_OVERFLOW, 0, -EIO },
        { EAI_SYSTEM, EMFILE, -EMFILE },
        { EAI_SYSTEM, 0, -EIO }, /* errno lost: still an error */
};

START_TEST(test_is_valid_ip_other_getaddrinfo_errors_are_negative_errno) {
        fake_gai.error = gai_error_cases[_i].eai;
        fake_gai.sys_errno = gai_error_cases[_i].sys_errno;
        ck_assert_int_eq(netutil_is_valid_ip("127.0.0.1"), gai_error_cases[_i].expected);
        ck_assert_int_eq(netutil_is_valid_ip_n("127.0.0.1", 9), gai_error_cases[_i].expected);
}
END_TEST

/* ---- netutilctl is-valid-ip ------------------------------------------------------------ */

static int ctl(const char *const *args, char *out, char *err) {
        const char *argv[8] = { test_netutilctl_bin() };
        size_t n = 1;
        int r;

        for (; args[n - 1]; n++) {
                ck_assert_int_lt(n, ELEMENTSOF(argv) - 1);
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;
        r = test_run(argv, out, OUT_SIZE, err, OUT_SIZE);
        ck_assert_msg(r >= 0 && r != 127, "cannot run %s (set NETUTILCTL_BIN): %d", argv[0], r);
        return r;
}

START_TEST(test_ctl_is_valid_ip_says_yes_and_exits_0_for_an_address) {
        char out[OUT_SIZE], err[OUT_SIZE];

        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "127.0.0.1", NULL }, out, err), 0);
        ck_assert_str_eq(out, "yes\n");
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "2620:0:1cfe:face:b00c::3", NULL }, out, err), 0);
        ck_assert_str_eq(out, "yes\n");
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "127.1", NULL }, out, err), 0);
        ck_assert_str_eq(out, "yes\n");
}
END_TEST

START_TEST(test_ctl_is_valid_ip_says_no_and_exits_1_for_anything_else) {
        char out[OUT_SIZE], err[OUT_SIZE];

        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "www.google.com", NULL }, out, err), 1);
        ck_assert_str_eq(out, "no\n");
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "", NULL }, out, err), 1);
        ck_assert_str_eq(out, "no\n");
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", " 127.0.0.1", NULL }, out, err), 1);
        ck_assert_str_eq(out, "no\n");
        /* The argument is taken as it is, option-like or not. */
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "--help", NULL }, out, err), 1);
        ck_assert_str_eq(out, "no\n");
        ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_ctl_is_valid_ip_json_is_a_valid_boolean) {
        char out[OUT_SIZE], err[OUT_SIZE];

        ck_assert_int_eq(ctl((const char *[]) { "--json", "is-valid-ip", "::1", NULL }, out, err), 0);
        ck_assert_str_eq(out, "{\"valid\": true}\n");
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(ctl((const char *[]) { "--json", "is-valid-ip", "4.4.4.4<", NULL }, out, err), 1);
        ck_assert_str_eq(out, "{\"valid\": false}\n");
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(ctl((const char *[]) { "-j", "is-valid-ip", "localhost", NULL }, out, err), 1);
        ck_assert_str_eq(out, "{\"valid\": false}\n");
}
END_TEST

START_TEST(test_ctl_is_valid_ip_without_exactly_one_string_is_a_usage_error) {
        char out[OUT_SIZE], err[OUT_SIZE];

        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", NULL }, out, err), 2);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, "netutilctl: is-valid-ip: missing STRING\nTry 'netutilctl --help'.\n");
        ck_assert_int_eq(ctl((const char *[]) { "is-valid-ip", "1.2.3.4", "5.6.7.8", NULL }, out, err), 2);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, "netutilctl: is-valid-ip takes one STRING\nTry 'netutilctl --help'.\n");
}
END_TEST

START_TEST(test_ctl_help_lists_is_valid_ip) {
        char out[OUT_SIZE], err[OUT_SIZE];

        ck_assert_int_eq(ctl((const char *[]) { "--help", NULL }, out, err), 0);
        ck_assert_ptr_nonnull(strstr(out, "\n  is-valid-ip STRING "));
}
END_TEST

/* ---- bind_sockets ---------------------------------------------------------------------- */

static uint16_t port_of(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) ss)->sin_port);
        ck_assert_int_eq(ss->ss_family, AF_INET6);
        return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
}

/* Asserts family and address (inet_ntop's text); IPv6 also scope 0. */
static void assert_addr(const netutil_socket *s, int family, const char *ip) {
        char text[INET6_ADDRSTRLEN] = "";

        ck_assert_int_eq(s->family, family);
        ck_assert_int_eq(s->address.ss_family, family);
        if (family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &s->address;

                ck_assert_int_eq(s->address_len, sizeof(struct sockaddr_in));
                ck_assert_ptr_nonnull(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)));
        } else {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &s->address;

                ck_assert_int_eq(s->address_len, sizeof(struct sockaddr_in6));
                ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)));
                ck_assert_int_eq(in6->sin6_scope_id, 0);
        }
        ck_assert_str_eq(text, ip);
}

/* netutil_bind_sockets() that must succeed; ret_gai must then be 0. */
static int bind_ok(const netutil_bind_options *o, netutil_socket **ret) {
        int gai = 12345, n;

        *ret = NULL;
        n = netutil_bind_sockets(o, ret, &gai);
        ck_assert_msg(n >= 0, "netutil_bind_sockets: %s (gai %d)", strerror(-n), gai);
        ck_assert_int_eq(gai, 0);
        ck_assert_ptr_nonnull(*ret);
        return n;
}

/* netutil_bind_sockets() that must fail: returns the error, checks *ret was not written. */
static int bind_fail(const netutil_bind_options *o, int *ret_gai) {
        netutil_socket sentinel = { .fd = -1 };
        netutil_socket *s = &sentinel;
        int r;

        r = netutil_bind_sockets(o, &s, ret_gai);
        ck_assert_msg(r < 0, "netutil_bind_sockets succeeded with %d sockets", r);
        ck_assert_ptr_eq(s, &sentinel);
        return r;
}

/* The state bind_sockets promises (reference §1.1 "socket state on return"), and that the
 * reported address is the socket's own. */
static void assert_socket_state(const netutil_socket *s, int type) {
        struct sockaddr_storage local = {};
        socklen_t len = sizeof(local);

        ck_assert_int_eq(s->type, type);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_DOMAIN), s->family);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_TYPE), type);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_ACCEPTCONN), type == SOCK_STREAM ? 1 : 0);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_REUSEADDR), 1);
        ck_assert_int_eq(test_sockopt_int(s->fd, SOL_SOCKET, SO_REUSEPORT), 0);
        if (s->family == AF_INET6)
                ck_assert_int_eq(test_sockopt_int(s->fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
        ck_assert(fcntl(s->fd, F_GETFL) & O_NONBLOCK);
        ck_assert(fcntl(s->fd, F_GETFD) & FD_CLOEXEC);
        ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *) &local, &len), 0);
        ck_assert_int_eq(len, s->address_len);
        ck_assert_mem_eq(&local, &s->address, len);
}

static netutil_bind_options bind_options(const char *address, const char *port) {
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;

        o.address = address;
        o.port = port;
        return o;
}

/* §1.2 row 1: ('0.0.0.0', P) and ('::', P, 0, 0), the same P, IPv4 first. */
static void assert_both_wildcards_on_one_port(const char *address) {
        netutil_bind_options o = bind_options(address, "0");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 2);
        assert_addr(&s[0], AF_INET, "0.0.0.0");
        assert_addr(&s[1], AF_INET6, "::");
        ck_assert_int_ne(port_of(&s[0].address), 0);
        ck_assert_int_eq(port_of(&s[1].address), port_of(&s[0].address));
        assert_socket_state(&s[0], SOCK_STREAM);
        assert_socket_state(&s[1], SOCK_STREAM);
        netutil_sockets_free(s, (size_t) n);
}

START_TEST(test_bind_sockets_null_address_gives_both_wildcards_on_one_port) {
        assert_both_wildcards_on_one_port(NULL);
}
END_TEST

START_TEST(test_bind_sockets_empty_address_is_the_wildcard_like_null) {
        assert_both_wildcards_on_one_port("");
}
END_TEST

static void assert_one_socket(const char *address, int family, const char *expected) {
        netutil_bind_options o = bind_options(address, "0");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        o.family = family;
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 1);
        assert_addr(&s[0], expected[0] == ':' ? AF_INET6 : AF_INET, expected);
        ck_assert_int_ne(port_of(&s[0].address), 0);
        assert_socket_state(&s[0], SOCK_STREAM);
        netutil_sockets_free(s, (size_t) n);
}

START_TEST(test_bind_sockets_family_inet6_gives_only_the_v6_wildcard) {
        assert_one_socket(NULL, AF_INET6, "::");
}
END_TEST

START_TEST(test_bind_sockets_family_inet_gives_only_the_v4_wildcard) {
        assert_one_socket(NULL, AF_INET, "0.0.0.0");
}
END_TEST

START_TEST(test_bind_sockets_v6_loopback_literal_gives_one_v6_socket) {
        assert_one_socket("::1", AF_UNSPEC, "::1");
}
END_TEST

/* The address of a getaddrinfo() result as inet_ntop() writes it. */
static void ai_text(const struct addrinfo *ai, char *buf, size_t len) {
        const void *addr = ai->ai_family == AF_INET ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
                                                    : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;

        ck_assert_ptr_nonnull(inet_ntop(ai->ai_family, addr, buf, (socklen_t) len));
}

/* §1.2 "localhost": one socket per distinct address the resolver gives, IPv4 first, one
 * port. The expectation is computed from getaddrinfo() itself, as the hosts file decides
 * (the reference's host had no ::1 line). */
START_TEST(test_bind_sockets_localhost_binds_what_getaddrinfo_resolves) {
        netutil_bind_options o = bind_options("localhost", "0");
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
        char expected[8][INET6_ADDRSTRLEN];
        int families[8], n_expected = 0;
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        ck_assert_int_eq(getaddrinfo("localhost", "0", &hints, &res), 0);
        for (int pass = 0; pass < 2; pass++) /* IPv4 first, as the sort */
                for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                        char text[INET6_ADDRSTRLEN] = "";
                        bool seen = false;

                        if (ai->ai_family != (pass == 0 ? AF_INET : AF_INET6))
                                continue;
                        ai_text(ai, text, sizeof(text));
                        for (int j = 0; j < n_expected; j++)
                                seen = seen || (families[j] == ai->ai_family && strcmp(expected[j], text) == 0);
                        if (seen)
                                continue;
                        ck_assert_int_lt(n_expected, 8);
                        families[n_expected] = ai->ai_family;
                        strcpy(expected[n_expected++], text);
                }
        freeaddrinfo(res);
        ck_assert_int_ge(n_expected, 1);

        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, n_expected);
        for (int i = 0; i < n; i++) {
                assert_addr(&s[i], families[i], expected[i]);
                ck_assert_int_eq(port_of(&s[i].address), port_of(&s[0].address));
                assert_socket_state(&s[i], SOCK_STREAM);
        }
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

/* Port None with an address: an ephemeral port, as Tornado's bind_sockets(None, "localhost"). */
START_TEST(test_bind_sockets_null_port_with_an_address_binds_an_ephemeral_port) {
        netutil_bind_options o = bind_options("127.0.0.1", NULL);
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 1);
        assert_addr(&s[0], AF_INET, "127.0.0.1");
        ck_assert_int_ne(port_of(&s[0].address), 0);
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_sockets_service_name_http_binds_port_80) {
        netutil_bind_options o = bind_options("127.0.0.1", "http");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(port_of(&s[0].address), 80);
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

/* §1.3 and reference §1.1 step 4: flags 0 and no address give the loopbacks, on one port. */
START_TEST(test_bind_sockets_port0_shared_by_the_loopbacks_with_flags_zero) {
        netutil_bind_options o = bind_options(NULL, "0");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        o.flags = 0;
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 2);
        assert_addr(&s[0], AF_INET, "127.0.0.1");
        assert_addr(&s[1], AF_INET6, "::1");
        ck_assert_int_ne(port_of(&s[0].address), 0);
        ck_assert_int_eq(port_of(&s[1].address), port_of(&s[0].address));
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_sockets_udp_gives_bound_dgram_sockets_on_one_port) {
        netutil_bind_options o = bind_options(NULL, "0");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        o.udp = 1;
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 2);
        assert_addr(&s[0], AF_INET, "0.0.0.0");
        assert_addr(&s[1], AF_INET6, "::");
        ck_assert_int_ne(port_of(&s[0].address), 0);
        ck_assert_int_eq(port_of(&s[1].address), port_of(&s[0].address));
        assert_socket_state(&s[0], SOCK_DGRAM);
        assert_socket_state(&s[1], SOCK_DGRAM);
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

START_TEST(test_bind_sockets_port_in_use_is_eaddrinuse_with_nothing_left_open) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        netutil_socket *held = NULL;
        char port[8];
        int n, gai = 12345, before;

        test_enter_netns();
        n = bind_ok(&o, &held);
        ck_assert_int_eq(n, 1);
        snprintf(port, sizeof(port), "%u", port_of(&held[0].address));
        o.port = port;
        before = test_count_own_fds();
        ck_assert_int_eq(bind_fail(&o, &gai), -EADDRINUSE);
        ck_assert_int_eq(gai, 0);
        ck_assert_int_eq(test_count_own_fds(), before);
        netutil_sockets_free(held, (size_t) n);
}
END_TEST

/* The IPv4 socket is bound first; the IPv6 bind fails: the IPv4 one must not stay open. */
START_TEST(test_bind_sockets_port_in_use_in_the_second_family_closes_the_first) {
        netutil_bind_options o = bind_options("::", "0");
        netutil_socket *held = NULL;
        char port[8];
        int n, gai = 12345, before;

        test_enter_netns();
        o.family = AF_INET6;
        n = bind_ok(&o, &held);
        ck_assert_int_eq(n, 1);
        snprintf(port, sizeof(port), "%u", port_of(&held[0].address));
        o = bind_options(NULL, port);
        before = test_count_own_fds();
        ck_assert_int_eq(bind_fail(&o, &gai), -EADDRINUSE);
        ck_assert_int_eq(gai, 0);
        ck_assert_int_eq(test_count_own_fds(), before);
        netutil_sockets_free(held, (size_t) n);
}
END_TEST

/* The EAI codes the reference observed (§1.1 step 5), through ret_gai. */
static const struct {
        const char *address;
        const char *port;
        int family;
        int flags;
        int eai;
} gai_bind_cases[] = {
        { "localhost", "0", AF_UNSPEC, AI_PASSIVE | AI_NUMERICHOST, EAI_NONAME },
        { "127.0.0.1", "0", AF_INET6, -1, EAI_ADDRFAMILY },
        { "127.0.0.1", "-1", AF_UNSPEC, -1, EAI_SERVICE },
        { NULL, NULL, AF_UNSPEC, -1, EAI_NONAME }, /* port None, no address */
        { "", NULL, AF_UNSPEC, -1, EAI_NONAME },
        { "256.1.1.1", "0", AF_UNSPEC, AI_NUMERICHOST, EAI_NONAME },
};

START_TEST(test_bind_sockets_unresolvable_is_eaddrnotavail_with_the_eai_code) {
        netutil_bind_options o = bind_options(gai_bind_cases[_i].address, gai_bind_cases[_i].port);
        int gai = 0, before = test_count_own_fds();

        o.family = gai_bind_cases[_i].family;
        o.flags = gai_bind_cases[_i].flags;
        ck_assert_int_eq(bind_fail(&o, &gai), -EADDRNOTAVAIL);
        ck_assert_msg(gai == gai_bind_cases[_i].eai, "gai %d (%s), expected %s", gai, netutil_gai_name(gai),
                      netutil_gai_name(gai_bind_cases[_i].eai));
        /* ret_gai is optional. */
        ck_assert_int_eq(bind_fail(&o, NULL), -EADDRNOTAVAIL);
        ck_assert_int_eq(test_count_own_fds(), before);
}
END_TEST

START_TEST(test_bind_sockets_eai_system_returns_its_errno_with_the_code) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        int gai = 0;

        fake_gai.error = EAI_SYSTEM;
        fake_gai.sys_errno = ENFILE;
        ck_assert_int_eq(bind_fail(&o, &gai), -ENFILE);
        ck_assert_int_eq(gai, EAI_SYSTEM);
}
END_TEST

START_TEST(test_bind_sockets_family_outside_inet_is_eafnosupport) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        int gai = 12345;

        fake_gai.calls = 0;
        o.family = AF_UNIX;
        ck_assert_int_eq(bind_fail(&o, &gai), -EAFNOSUPPORT);
        ck_assert_int_eq(gai, 0);
        ck_assert_int_eq(fake_gai.calls, 0);
}
END_TEST

START_TEST(test_bind_sockets_missing_options_or_result_is_einval) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        netutil_socket *s = NULL;
        int gai = 12345;

        ck_assert_int_eq(netutil_bind_sockets(NULL, &s, &gai), -EINVAL);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(gai, 0);
        gai = 12345;
        ck_assert_int_eq(netutil_bind_sockets(&o, NULL, &gai), -EINVAL);
        ck_assert_int_eq(gai, 0);
}
END_TEST

START_TEST(test_bind_sockets_reuse_port_lets_two_calls_share_a_port) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        netutil_socket *a = NULL, *b = NULL;
        char port[8];
        int na, nb;

        test_enter_netns();
        o.reuse_port = 1;
        na = bind_ok(&o, &a);
        ck_assert_int_eq(na, 1);
        ck_assert_int_eq(test_sockopt_int(a[0].fd, SOL_SOCKET, SO_REUSEPORT), 1);
        snprintf(port, sizeof(port), "%u", port_of(&a[0].address));
        o.port = port;
        nb = bind_ok(&o, &b);
        ck_assert_int_eq(nb, 1);
        ck_assert_int_eq(port_of(&b[0].address), port_of(&a[0].address));
        netutil_sockets_free(a, (size_t) na);
        netutil_sockets_free(b, (size_t) nb);
}
END_TEST

/* No daemon is involved: name and hold mean nothing in-process. */
START_TEST(test_bind_sockets_ignores_name_and_hold) {
        netutil_bind_options o = bind_options("127.0.0.1", "0");
        netutil_socket *s = NULL;
        int n;

        test_enter_netns();
        o.name = "web";
        o.hold = 1;
        n = bind_ok(&o, &s);
        ck_assert_int_eq(n, 1);
        assert_addr(&s[0], AF_INET, "127.0.0.1");
        netutil_sockets_free(s, (size_t) n);
}
END_TEST

/* ---- bind_unix_socket -------------------------------------------------------------------- */

START_TEST(test_bind_unix_socket_creates_a_listener_with_exactly_the_mode_whatever_the_umask) {
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "a.sock");
        umask(022);
        fd = netutil_bind_unix_socket(path, 0, 0666, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode(path), 0666);
        assert_unix_listener(fd, path, strlen(path));
        close(fd);
        /* Tornado never removes the node. */
        ck_assert_int_eq(node_mode(path), 0666);
}
END_TEST

static const unsigned mode_cases[][2] = {
        /* mode, umask */
        { 0600, 022 }, { 0777, 077 }, { 0, 0 }, { 0640, 0777 }, { 0666, 0 },
};

START_TEST(test_bind_unix_socket_mode_is_exact_for_any_mode_and_umask) {
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "m.sock");
        umask((mode_t) mode_cases[_i][1]);
        fd = netutil_bind_unix_socket(path, 0, mode_cases[_i][0], 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode(path), mode_cases[_i][0]);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_replaces_an_existing_live_socket) {
        char dir[PATH_MAX], path[PATH_MAX];
        struct stat before, after;
        int old_fd, fd;
        int c;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "live.sock");
        old_fd = netutil_bind_unix_socket(path, 0, 0600, 128);
        ck_assert_int_ge(old_fd, 0);
        ck_assert_int_eq(lstat(path, &before), 0);

        fd = netutil_bind_unix_socket(path, 0, 0660, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(lstat(path, &after), 0);
        ck_assert_int_ne(after.st_ino, before.st_ino);
        ck_assert_int_eq(node_mode(path), 0660);
        /* New clients reach the new socket; the old listener is orphaned (reference §2.1). */
        assert_unix_listener(fd, path, strlen(path));
        c = connect_unix(path, strlen(path));
        ck_assert_int_ge(c, 0);
        ck_assert_int_lt(accept4(old_fd, NULL, NULL, SOCK_CLOEXEC), 0);
        ck_assert_int_eq(errno, EAGAIN);
        close(c);
        close(old_fd);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_replaces_a_stale_socket_node) {
        char dir[PATH_MAX], path[PATH_MAX];
        struct stat st;
        int fd, old;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "stale.sock");
        (void) make_stale_socket(path);
        ck_assert_int_eq(connect_unix(path, strlen(path)), -ECONNREFUSED);
        /* Held open so that its inode number cannot be reused for the new node. */
        old = open(path, O_PATH | O_CLOEXEC);
        ck_assert_int_ge(old, 0);
        fd = netutil_bind_unix_socket(path, 0, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(fstat(old, &st), 0);
        ck_assert_int_eq(st.st_nlink, 0); /* the stale node was unlinked */
        ck_assert_int_eq(lstat(path, &st), 0);
        assert_unix_listener(fd, path, strlen(path));
        close(old);
        close(fd);
}
END_TEST

/* Tornado's stat() follows the link: a symlink to a socket is itself replaced by the new
 * socket, and its target is left alone (reference §2.1 step 4.1). */
START_TEST(test_bind_unix_socket_replaces_a_symlink_to_a_socket_and_leaves_the_target) {
        char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
        Snapshot t;
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "link.sock");
        join(target, sizeof(target), dir, "target.sock");
        (void) make_stale_socket(target);
        ck_assert_int_eq(symlink(target, path), 0);
        snapshot(target, &t);

        fd = netutil_bind_unix_socket(path, 0, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode(path), 0600); /* lstat: a socket now, not a link */
        assert_unchanged(target, &t);
        assert_unix_listener(fd, path, strlen(path));
        close(fd);
}
END_TEST

/* A refusal: -EEXIST, nothing at path changed, no fd left. */
static void assert_not_a_socket_refusal(const char *path) {
        Snapshot before;
        int n_fds = test_count_own_fds();

        snapshot(path, &before);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EEXIST);
        assert_unchanged(path, &before);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}

START_TEST(test_bind_unix_socket_refuses_a_regular_file_and_leaves_it) {
        char dir[PATH_MAX], path[PATH_MAX];

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "file");
        write_file(path, "precious\n");
        assert_not_a_socket_refusal(path);
}
END_TEST

START_TEST(test_bind_unix_socket_refuses_a_directory_and_leaves_it) {
        char dir[PATH_MAX], path[PATH_MAX], inside[PATH_MAX];
        struct stat st;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "subdir");
        ck_assert_int_eq(mkdir(path, 0750), 0);
        join(inside, sizeof(inside), path, "keep");
        write_file(inside, "x");
        assert_not_a_socket_refusal(path);
        ck_assert_int_eq(stat(inside, &st), 0);
}
END_TEST

START_TEST(test_bind_unix_socket_refuses_a_symlink_to_a_regular_file_and_leaves_both) {
        char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
        Snapshot t;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "link");
        join(target, sizeof(target), dir, "file");
        write_file(target, "precious\n");
        ck_assert_int_eq(symlink(target, path), 0);
        snapshot(target, &t);
        assert_not_a_socket_refusal(path);
        assert_unchanged(target, &t);
}
END_TEST

START_TEST(test_bind_unix_socket_refuses_a_fifo_and_leaves_it) {
        char dir[PATH_MAX], path[PATH_MAX];

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "fifo");
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        assert_not_a_socket_refusal(path);
}
END_TEST

/* stat() says ENOENT and is ignored; bind() then finds the link: EADDRINUSE (§2.1). */
START_TEST(test_bind_unix_socket_dangling_symlink_is_eaddrinuse_and_left) {
        char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
        Snapshot before;
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "dangling");
        join(target, sizeof(target), dir, "nowhere");
        ck_assert_int_eq(symlink(target, path), 0);
        snapshot(path, &before);
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EADDRINUSE);
        assert_unchanged(path, &before);
        assert_absent(target);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_missing_directory_is_enoent) {
        char dir[PATH_MAX], path[PATH_MAX];
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "missing/x.sock");
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -ENOENT);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

/* stat() failing otherwise than ENOENT is an error (Tornado lets it propagate). */
START_TEST(test_bind_unix_socket_path_through_a_file_is_enotdir) {
        char dir[PATH_MAX], file[PATH_MAX], path[PATH_MAX];
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(file, sizeof(file), dir, "file");
        write_file(file, "x");
        join(path, sizeof(path), file, "x.sock");
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -ENOTDIR);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

/* dir + "/" + a name of 'a's making the whole path len bytes. */
static void path_of_length(char *buf, size_t size, const char *dir, size_t len) {
        size_t d = strlen(dir);

        ck_assert_int_lt(d + 2, len);
        ck_assert_int_lt(len, size);
        memcpy(buf, dir, d);
        buf[d] = '/';
        memset(buf + d + 1, 'a', len - d - 1);
        buf[len] = '\0';
}

START_TEST(test_bind_unix_socket_path_of_107_bytes_fits) {
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        path_of_length(path, sizeof(path), dir, SUN_PATH_SIZE - 1);
        fd = netutil_bind_unix_socket(path, 0, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode(path), 0600);
        close(fd);
}
END_TEST

/* Checked before anything is touched: a socket node already at the too-long path stays
 * (Tornado would have removed it before its bind failed). */
START_TEST(test_bind_unix_socket_path_of_108_bytes_is_enametoolong_and_touches_nothing) {
        char dir[PATH_MAX], path[PATH_MAX];
        Snapshot before;
        int n_fds;

        make_dir(dir, sizeof(dir));
        path_of_length(path, sizeof(path), dir, SUN_PATH_SIZE);
        ck_assert_int_eq(mknod(path, S_IFSOCK | 0600, 0), 0);
        snapshot(path, &before);
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -ENAMETOOLONG);
        ck_assert_int_eq(netutil_bind_unix_socket(path, strlen(path), 0600, 128), -ENAMETOOLONG);
        assert_unchanged(path, &before);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_relative_path_is_bound_in_the_working_directory) {
        char dir[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        ck_assert_int_eq(chdir(dir), 0);
        fd = netutil_bind_unix_socket("rel.sock", 0, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode("rel.sock"), 0600);
        assert_unix_listener(fd, "rel.sock", strlen("rel.sock"));
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_path_len_limits_the_path) {
        char dir[PATH_MAX], path[PATH_MAX], full[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "p.sockIGNORED");
        join(full, sizeof(full), dir, "p.sock");
        fd = netutil_bind_unix_socket(path, strlen(full), 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(node_mode(full), 0600);
        assert_absent(path);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_negative_backlog_still_listens) {
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "b.sock");
        fd = netutil_bind_unix_socket(path, 0, 0600, -5);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_invalid_arguments_are_einval_and_touch_nothing) {
        char dir[PATH_MAX], path[PATH_MAX], nul_path[PATH_MAX];
        size_t len;
        int n_fds = test_count_own_fds();

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "x.sock");
        ck_assert_int_eq(netutil_bind_unix_socket(NULL, 0, 0600, 128), -EINVAL);
        ck_assert_int_eq(netutil_bind_unix_socket("", 0, 0600, 128), -EINVAL);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 01777, 128), -EINVAL);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 04600, 128), -EINVAL);
        /* A NUL inside a filesystem path. */
        len = strlen(path);
        memcpy(nul_path, path, len + 1);
        memcpy(nul_path + len, "\0tail", 6);
        ck_assert_int_eq(netutil_bind_unix_socket(nul_path, len + 5, 0600, 128), -EINVAL);
        assert_absent(path);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_abstract_name_binds_without_a_node) {
        char name[64], dir[PATH_MAX];
        struct sockaddr_un sa = {};
        socklen_t len = sizeof(sa);
        size_t name_len;
        DIR *d;
        int fd, entries = 0;
        struct dirent *de;

        test_enter_netns();
        make_dir(dir, sizeof(dir));
        ck_assert_int_eq(chdir(dir), 0);
        name[0] = '\0';
        snprintf(name + 1, sizeof(name) - 1, "check-inprocess-abstract");
        name_len = 1 + strlen(name + 1);
        fd = netutil_bind_unix_socket(name, name_len, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        ck_assert_int_eq(len, offsetof(struct sockaddr_un, sun_path) + name_len);
        ck_assert_mem_eq(sa.sun_path, name, name_len);
        assert_unix_listener(fd, name, name_len);
        /* Nothing in the filesystem: not in the working directory, nowhere else either
         * (no stat, unlink or chmod of the "path"). */
        d = opendir(".");
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        entries++;
        closedir(d);
        ck_assert_int_eq(entries, 0);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_abstract_name_in_use_is_eaddrinuse) {
        static const char name[] = "\0check-inprocess-busy";
        int fd, n_fds;

        test_enter_netns();
        fd = netutil_bind_unix_socket(name, sizeof(name) - 1, 0600, 128);
        ck_assert_int_ge(fd, 0);
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(name, sizeof(name) - 1, 0600, 128), -EADDRINUSE);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_abstract_name_may_fill_sun_path_and_no_more) {
        char name[SUN_PATH_SIZE + 1];
        int fd, n_fds;

        test_enter_netns();
        name[0] = '\0';
        memset(name + 1, 'z', sizeof(name) - 1);
        fd = netutil_bind_unix_socket(name, SUN_PATH_SIZE, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        assert_unix_listener(fd, name, SUN_PATH_SIZE);
        close(fd);
        n_fds = test_count_own_fds();
        ck_assert_int_eq(netutil_bind_unix_socket(name, SUN_PATH_SIZE + 1, 0600, 128), -ENAMETOOLONG);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

/* ---- bind_unix_socket: every syscall failure, nothing left behind ---------------------- */

/* socket() fails before the filesystem is touched: an old socket stays in place. */
START_TEST(test_bind_unix_socket_socket_failure_leaves_the_old_socket) {
        char dir[PATH_MAX], path[PATH_MAX];
        Snapshot before;
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "old.sock");
        (void) make_stale_socket(path);
        snapshot(path, &before);
        n_fds = test_count_own_fds();
        seccomp_fail_socket_family(AF_UNIX, EMFILE);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EMFILE);
        assert_unchanged(path, &before);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_setsockopt_failure_closes_and_leaves_the_old_socket) {
        char dir[PATH_MAX], path[PATH_MAX];
        Snapshot before;
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "old.sock");
        (void) make_stale_socket(path);
        snapshot(path, &before);
        n_fds = test_count_own_fds();
        seccomp_fail(SYS_setsockopt, EPERM);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EPERM);
        assert_unchanged(path, &before);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

/* As Tornado: SO_REUSEADDR's ENOPROTOOPT is ignored (GNU Hurd). */
START_TEST(test_bind_unix_socket_setsockopt_enoprotoopt_is_ignored) {
        char dir[PATH_MAX], path[PATH_MAX];
        int fd;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "h.sock");
        seccomp_fail(SYS_setsockopt, ENOPROTOOPT);
        fd = netutil_bind_unix_socket(path, 0, 0600, 128);
        ck_assert_msg(fd >= 0, "bind_unix_socket: %s", strerror(-fd));
        ck_assert_int_eq(test_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
        close(fd);
}
END_TEST

START_TEST(test_bind_unix_socket_unlink_failure_closes_and_keeps_the_old_socket) {
        char dir[PATH_MAX], path[PATH_MAX];
        Snapshot before;
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "old.sock");
        (void) make_stale_socket(path);
        snapshot(path, &before);
        n_fds = test_count_own_fds();
        seccomp_fail_unlink(EPERM);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EPERM);
        assert_unchanged(path, &before);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_chmod_failure_removes_the_new_node_and_closes) {
        char dir[PATH_MAX], path[PATH_MAX];
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "c.sock");
        n_fds = test_count_own_fds();
        seccomp_fail_chmod(EROFS);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -EROFS);
        assert_absent(path);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_listen_failure_removes_the_new_node_and_closes) {
        char dir[PATH_MAX], path[PATH_MAX];
        int n_fds;

        make_dir(dir, sizeof(dir));
        join(path, sizeof(path), dir, "l.sock");
        n_fds = test_count_own_fds();
        seccomp_fail(SYS_listen, ENOBUFS);
        ck_assert_int_eq(netutil_bind_unix_socket(path, 0, 0600, 128), -ENOBUFS);
        assert_absent(path);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

START_TEST(test_bind_unix_socket_abstract_listen_failure_closes) {
        static const char name[] = "\0check-inprocess-listen";
        int n_fds;

        test_enter_netns();
        n_fds = test_count_own_fds();
        seccomp_fail(SYS_listen, ENOBUFS);
        ck_assert_int_eq(netutil_bind_unix_socket(name, sizeof(name) - 1, 0600, 128), -ENOBUFS);
        ck_assert_int_eq(test_count_own_fds(), n_fds);
}
END_TEST

/* ---- Suite ---------------------------------------------------------------------------- */

static TCase *tcase_new(Suite *s, const char *name, const char *tags) {
        return test_tcase_add(s, name, TEST_TIMEOUT, fd_count_setup, test_fd_count_teardown, tags);
}

static Suite *inprocess_suite(void) {
        Suite *s = suite_create("inprocess");
        TCase *tc;

        tc = tcase_new(s, "is_valid_ip_upstream", NULL);
        tcase_add_loop_test(tc, test_is_valid_ip_matches_tornados_upstream_table, 0,
                            (int) ELEMENTSOF(upstream_cases));
        tcase_add_test(tc, test_is_valid_ip_n_rejects_a_lone_nul_byte);
        tcase_add_test(tc, test_is_valid_ip_rejects_a_hundred_letters);

        tc = tcase_new(s, "is_valid_ip_forms", NULL);
        tcase_add_loop_test(tc, test_is_valid_ip_follows_glibcs_numeric_getaddrinfo, 0,
                            (int) ELEMENTSOF(glibc_cases));
        tcase_add_test(tc, test_is_valid_ip_accepts_a_scope_by_interface_name_when_it_exists);
        tcase_add_test(tc, test_is_valid_ip_rejects_a_scope_naming_no_interface);
        tcase_add_test(tc, test_is_valid_ip_rejects_300_byte_strings_without_a_length_limit_of_its_own);

        tc = tcase_new(s, "is_valid_ip_arguments", NULL);
        tcase_add_test(tc, test_is_valid_ip_n_reads_exactly_len_bytes_without_a_terminator);
        tcase_add_test(tc, test_is_valid_ip_n_rejects_a_nul_anywhere_without_calling_getaddrinfo);
        tcase_add_test(tc, test_is_valid_ip_empty_is_invalid_without_calling_getaddrinfo);
        tcase_add_test(tc, test_is_valid_ip_null_is_einval);

        tc = tcase_new(s, "is_valid_ip_getaddrinfo", NULL);
        tcase_add_test(tc, test_is_valid_ip_asks_getaddrinfo_as_tornado_does);
        tcase_add_test(tc, test_is_valid_ip_success_without_results_is_invalid);
        tcase_add_test(tc, test_is_valid_ip_eai_noname_is_invalid_not_an_error);
        tcase_add_loop_test(tc, test_is_valid_ip_other_getaddrinfo_errors_are_negative_errno, 0,
                            (int) ELEMENTSOF(gai_error_cases));

        tc = tcase_new(s, "netutilctl_is_valid_ip", NULL);
        tcase_add_test(tc, test_ctl_is_valid_ip_says_yes_and_exits_0_for_an_address);
        tcase_add_test(tc, test_ctl_is_valid_ip_says_no_and_exits_1_for_anything_else);
        tcase_add_test(tc, test_ctl_is_valid_ip_json_is_a_valid_boolean);
        tcase_add_test(tc, test_ctl_is_valid_ip_without_exactly_one_string_is_a_usage_error);
        tcase_add_test(tc, test_ctl_help_lists_is_valid_ip);

        tc = tcase_new(s, "bind_sockets", "netns");
        tcase_add_test(tc, test_bind_sockets_null_address_gives_both_wildcards_on_one_port);
        tcase_add_test(tc, test_bind_sockets_empty_address_is_the_wildcard_like_null);
        tcase_add_test(tc, test_bind_sockets_family_inet6_gives_only_the_v6_wildcard);
        tcase_add_test(tc, test_bind_sockets_family_inet_gives_only_the_v4_wildcard);
        tcase_add_test(tc, test_bind_sockets_localhost_binds_what_getaddrinfo_resolves);
        tcase_add_test(tc, test_bind_sockets_v6_loopback_literal_gives_one_v6_socket);
        tcase_add_test(tc, test_bind_sockets_null_port_with_an_address_binds_an_ephemeral_port);
        tcase_add_test(tc, test_bind_sockets_service_name_http_binds_port_80);
        tcase_add_test(tc, test_bind_sockets_port0_shared_by_the_loopbacks_with_flags_zero);
        tcase_add_test(tc, test_bind_sockets_udp_gives_bound_dgram_sockets_on_one_port);
        tcase_add_test(tc, test_bind_sockets_port_in_use_is_eaddrinuse_with_nothing_left_open);
        tcase_add_test(tc, test_bind_sockets_port_in_use_in_the_second_family_closes_the_first);
        tcase_add_test(tc, test_bind_sockets_reuse_port_lets_two_calls_share_a_port);
        tcase_add_test(tc, test_bind_sockets_ignores_name_and_hold);

        tc = tcase_new(s, "bind_sockets_errors", NULL);
        tcase_add_loop_test(tc, test_bind_sockets_unresolvable_is_eaddrnotavail_with_the_eai_code, 0,
                            (int) ELEMENTSOF(gai_bind_cases));
        tcase_add_test(tc, test_bind_sockets_eai_system_returns_its_errno_with_the_code);
        tcase_add_test(tc, test_bind_sockets_family_outside_inet_is_eafnosupport);
        tcase_add_test(tc, test_bind_sockets_missing_options_or_result_is_einval);

        tc = tcase_new(s, "bind_unix_socket", NULL);
        tcase_add_test(tc, test_bind_unix_socket_creates_a_listener_with_exactly_the_mode_whatever_the_umask);
        tcase_add_loop_test(tc, test_bind_unix_socket_mode_is_exact_for_any_mode_and_umask, 0,
                            (int) ELEMENTSOF(mode_cases));
        tcase_add_test(tc, test_bind_unix_socket_replaces_an_existing_live_socket);
        tcase_add_test(tc, test_bind_unix_socket_replaces_a_stale_socket_node);
        tcase_add_test(tc, test_bind_unix_socket_replaces_a_symlink_to_a_socket_and_leaves_the_target);
        tcase_add_test(tc, test_bind_unix_socket_path_of_107_bytes_fits);
        tcase_add_test(tc, test_bind_unix_socket_relative_path_is_bound_in_the_working_directory);
        tcase_add_test(tc, test_bind_unix_socket_path_len_limits_the_path);
        tcase_add_test(tc, test_bind_unix_socket_negative_backlog_still_listens);

        tc = tcase_new(s, "bind_unix_socket_refusals", NULL);
        tcase_add_test(tc, test_bind_unix_socket_refuses_a_regular_file_and_leaves_it);
        tcase_add_test(tc, test_bind_unix_socket_refuses_a_directory_and_leaves_it);
        tcase_add_test(tc, test_bind_unix_socket_refuses_a_symlink_to_a_regular_file_and_leaves_both);
        tcase_add_test(tc, test_bind_unix_socket_refuses_a_fifo_and_leaves_it);
        tcase_add_test(tc, test_bind_unix_socket_dangling_symlink_is_eaddrinuse_and_left);
        tcase_add_test(tc, test_bind_unix_socket_missing_directory_is_enoent);
        tcase_add_test(tc, test_bind_unix_socket_path_through_a_file_is_enotdir);
        tcase_add_test(tc, test_bind_unix_socket_path_of_108_bytes_is_enametoolong_and_touches_nothing);
        tcase_add_test(tc, test_bind_unix_socket_invalid_arguments_are_einval_and_touch_nothing);

        tc = tcase_new(s, "bind_unix_socket_abstract", "netns");
        tcase_add_test(tc, test_bind_unix_socket_abstract_name_binds_without_a_node);
        tcase_add_test(tc, test_bind_unix_socket_abstract_name_in_use_is_eaddrinuse);
        tcase_add_test(tc, test_bind_unix_socket_abstract_name_may_fill_sun_path_and_no_more);

        tc = tcase_new(s, "bind_unix_socket_syscall_errors", "netns seccomp");
        tcase_add_test(tc, test_bind_unix_socket_socket_failure_leaves_the_old_socket);
        tcase_add_test(tc, test_bind_unix_socket_setsockopt_failure_closes_and_leaves_the_old_socket);
        tcase_add_test(tc, test_bind_unix_socket_setsockopt_enoprotoopt_is_ignored);
        tcase_add_test(tc, test_bind_unix_socket_unlink_failure_closes_and_keeps_the_old_socket);
        tcase_add_test(tc, test_bind_unix_socket_chmod_failure_removes_the_new_node_and_closes);
        tcase_add_test(tc, test_bind_unix_socket_listen_failure_removes_the_new_node_and_closes);
        tcase_add_test(tc, test_bind_unix_socket_abstract_listen_failure_closes);

        return s;
}

int main(void) {
        int ret;

        snprintf(base_dir, sizeof(base_dir), "/tmp/check-inprocess.XXXXXX");
        if (!mkdtemp(base_dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        ret = test_run_suite(inprocess_suite(), false);
        test_rm_rf(base_dir);
        return ret;
}
