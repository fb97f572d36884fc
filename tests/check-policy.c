/* SPDX-License-Identifier: MIT */

/* The access policy (daemon/policy.c): rule syntax and compile errors with file:line, the
 * defaults, root, principals, ports, addresses, unix directories and overrides. Configs
 * are parsed from literal text with config_parse_text(), as the daemon would load them. */

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "macro.h"
#include "manager.h"
#include "policy.h"

#define FILENAME "test.conf"
/* Unprivileged port start that keeps the defaults out of the way of rule tests. */
#define HIGH_START 65535u

static const Creds nobody = {.uid = 65534, .gid = 65534};
static const Creds root = {.uid = 0, .gid = 0};

/* Parses text as FILENAME and compiles it; returns the compile result. */
static int compile(const char *text, unsigned start, Policy **ret, char *err, size_t errlen) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        int r = 0;

        ck_assert_ptr_nonnull(c);
        r = config_parse_text(c, text, strlen(text), FILENAME, err, errlen);
        ck_assert_msg(r == 0, "config_parse_text: %s", err);
        /* The Config is freed on return: the Policy must not point into it. */
        return policy_compile(c, start, ret, err, errlen);
}

static Policy *compile_ok(const char *text, unsigned start) {
        Policy *p = NULL;
        char err[512] = "";

        ck_assert_msg(compile(text, start, &p, err, sizeof(err)) == 0, "policy_compile: %s", err);
        ck_assert_ptr_nonnull(p);
        return p;
}

static void make_sa(const char *addr, unsigned port, struct sockaddr_storage *ss) {
        memset(ss, 0, sizeof(*ss));
        if (strchr(addr, ':')) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *) ss;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                ck_assert_int_eq(inet_pton(AF_INET, addr, &in->sin_addr), 1);
        }
}

/* policy_check_bind() on addr:port; reason may be NULL. */
static int bind_check(const Policy *p, const Creds *creds, const char *addr, unsigned port, int socktype,
                      char *reason, size_t reason_len) {
        struct sockaddr_storage ss;

        make_sa(addr, port, &ss);
        return policy_check_bind(p, creds, (const struct sockaddr *) &ss, socktype, reason, reason_len);
}

#define ck_allowed(p, creds, addr, port, type)                                                               \
        do {                                                                                                 \
                char _reason[512] = "";                                                                      \
                int _r = bind_check(p, creds, addr, port, type, _reason, sizeof(_reason));                   \
                ck_assert_msg(_r == 0, "%s:%u refused (%d): %s", addr, (unsigned) (port), _r, _reason);      \
        } while (0)

#define ck_refused(p, creds, addr, port, type)                                                               \
        do {                                                                                                 \
                char _reason[512] = "";                                                                      \
                int _r = bind_check(p, creds, addr, port, type, _reason, sizeof(_reason));                   \
                ck_assert_msg(_r == -EPERM, "%s:%u not refused (%d)", addr, (unsigned) (port), _r);          \
                ck_assert_ptr_nonnull(strstr(_reason, "Permission denied by policy: "));                     \
        } while (0)

/* ---- root ------------------------------------------------------------------------------ */

START_TEST(test_root_may_do_everything) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=user:65534 tcp:80\n", HIGH_START);
        const char *dir = NULL;

        ck_allowed(p, &root, "0.0.0.0", 1, SOCK_STREAM);
        ck_allowed(p, &root, "0.0.0.0", 80, SOCK_DGRAM);
        ck_allowed(p, &root, "::", 443, SOCK_STREAM);
        ck_allowed(p, &root, "192.0.2.1", 1023, SOCK_STREAM);
        ck_assert_int_eq(policy_check_unix(p, &root, "/etc/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/");
        ck_assert_int_eq(policy_check_override(p, &root, NULL, NULL, 0), 0);
        ck_assert_int_eq(policy_check_override(p, &root, "someone-elses", NULL, 0), 0);
}
END_TEST

START_TEST(test_root_group_is_not_root) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 1024);
        const Creds gid0 = {.uid = 1000, .gid = 0};

        ck_refused(p, &gid0, "0.0.0.0", 80, SOCK_STREAM);
        ck_assert_int_eq(policy_check_override(p, &gid0, NULL, NULL, 0), -EPERM);
}
END_TEST

/* ---- defaults -------------------------------------------------------------------------- */

START_TEST(test_default_allows_port0_and_unprivileged_ports) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 1024);

        ck_allowed(p, &nobody, "0.0.0.0", 0, SOCK_STREAM);
        ck_allowed(p, &nobody, "::", 0, SOCK_DGRAM);
        ck_allowed(p, &nobody, "0.0.0.0", 1024, SOCK_STREAM);
        ck_allowed(p, &nobody, "127.0.0.1", 1024, SOCK_DGRAM);
        ck_allowed(p, &nobody, "::1", 65535, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 1023, SOCK_STREAM);
}
END_TEST

START_TEST(test_default_refuses_privileged_port_with_reason) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 1024);
        char reason[512] = "";

        ck_assert_int_eq(bind_check(p, &nobody, "0.0.0.0", 80, SOCK_STREAM, reason, sizeof(reason)), -EPERM);
        ck_assert_msg(strstr(reason,
                             "Permission denied by policy: port 80/tcp on 0.0.0.0 is not allowed for uid "
                             "65534 (allowed: ports 0 and 1024-65535)"),
                      "%s", reason);
        ck_assert_int_eq(bind_check(p, &nobody, "::1", 80, SOCK_DGRAM, reason, sizeof(reason)), -EPERM);
        ck_assert_msg(strstr(reason, "port 80/udp on ::1 is not allowed for uid 65534"), "%s", reason);
}
END_TEST

START_TEST(test_default_follows_unprivileged_port_start) {
        _cleanup_(policy_freep) Policy *p0 = compile_ok("[Policy]\n", 0);
        _cleanup_(policy_freep) Policy *p80 = compile_ok("[Policy]\n", 80);

        ck_allowed(p0, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p0, &nobody, "0.0.0.0", 1, SOCK_DGRAM);
        ck_allowed(p80, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_refused(p80, &nobody, "0.0.0.0", 79, SOCK_STREAM);
}
END_TEST

START_TEST(test_default_refuses_other_socket_types) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 0);
        char reason[512] = "";

        ck_assert_int_eq(bind_check(p, &nobody, "0.0.0.0", 5000, SOCK_RAW, reason, sizeof(reason)), -EPERM);
        ck_assert_ptr_nonnull(strstr(reason, "socket type"));
        ck_allowed(p, &nobody, "0.0.0.0", 5000, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK);
}
END_TEST

START_TEST(test_non_inet_family_is_not_a_bind_question) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 0);
        struct sockaddr sa = {.sa_family = AF_UNIX};

        ck_assert_int_eq(policy_check_bind(p, &root, &sa, SOCK_STREAM, NULL, 0), -EAFNOSUPPORT);
}
END_TEST

/* ---- bind ports ------------------------------------------------------------------------ */

START_TEST(test_user_rule_allows_listed_ports_for_its_protocol) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=user:nobody tcp:80,443\n", 1024);
        const Creds other = {.uid = 1000, .gid = 1000};

        ck_allowed(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::", 443, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 80, SOCK_DGRAM);
        ck_refused(p, &nobody, "0.0.0.0", 81, SOCK_STREAM);
        ck_refused(p, &other, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_refusal_lists_the_uids_rules) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=user:nobody tcp:80,443 udp:53\n"
                           "AllowBind=user:65534 tcp:8000-8099 address:127.0.0.1 address:10.0.0.0/8\n",
                           1024);
        char reason[512] = "";

        ck_assert_int_eq(bind_check(p, &nobody, "0.0.0.0", 81, SOCK_STREAM, reason, sizeof(reason)), -EPERM);
        ck_assert_msg(strstr(reason,
                             "(allowed: ports 0 and 1024-65535; 80,443; 8000-8099 on 127.0.0.1,10.0.0.0/8)"),
                      "%s", reason);
}
END_TEST

START_TEST(test_range_edges_are_inclusive) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=* tcp:8000-8099\n", HIGH_START);

        ck_refused(p, &nobody, "0.0.0.0", 7999, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 8000, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 8050, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 8099, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 8100, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 8000, SOCK_DGRAM);
}
END_TEST

START_TEST(test_protocols_keep_their_own_ports) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 udp:53,1-2 tcp:22\n", HIGH_START);

        ck_allowed(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 22, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 53, SOCK_DGRAM);
        ck_allowed(p, &nobody, "0.0.0.0", 2, SOCK_DGRAM);
        ck_refused(p, &nobody, "0.0.0.0", 53, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 80, SOCK_DGRAM);
        ck_refused(p, &nobody, "0.0.0.0", 3, SOCK_DGRAM);
}
END_TEST

START_TEST(test_port_zero_and_65535_are_valid) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=* tcp:0,65535\n", HIGH_START + 1);

        /* With a start above every port the defaults allow only port 0. */
        ck_allowed(p, &nobody, "0.0.0.0", 0, SOCK_STREAM);
        ck_allowed(p, &nobody, "0.0.0.0", 65535, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 65534, SOCK_STREAM);
}
END_TEST

/* ---- principals ------------------------------------------------------------------------ */

START_TEST(test_group_rule_matches_primary_gid) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=group:4242 tcp:80\n", HIGH_START);
        const Creds c = {.uid = 1000, .gid = 4242};

        ck_allowed(p, &c, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_group_rule_matches_supplementary_group) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=group:4242 tcp:80\n", HIGH_START);
        gid_t groups[] = {10, 4242, 20};
        const Creds c = {.uid = 1000, .gid = 1000, .groups = groups, .n_groups = ELEMENTSOF(groups)};

        ck_allowed(p, &c, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_group_rule_ignores_other_gids) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=group:4242 tcp:80\n", HIGH_START);
        gid_t groups[] = {10, 4243, 20};
        const Creds c = {.uid = 4242, .gid = 1000, .groups = groups, .n_groups = ELEMENTSOF(groups)};

        /* uid 4242 is not gid 4242. */
        ck_refused(p, &c, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_user_rule_does_not_match_gid) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=user:4242 tcp:80\n", HIGH_START);
        const Creds c = {.uid = 1000, .gid = 4242};

        ck_refused(p, &c, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_numeric_user_and_group_need_not_exist) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=user:65534 tcp:80\nAllowBind=group:65534 tcp:81\n"
                           "AllowBind=user:4000000000 tcp:82\n",
                           HIGH_START);
        const Creds g = {.uid = 1000, .gid = 65534};
        const Creds big = {.uid = 4000000000u, .gid = 1};

        ck_allowed(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &g, "0.0.0.0", 81, SOCK_STREAM);
        ck_refused(p, &g, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &big, "0.0.0.0", 82, SOCK_STREAM);
}
END_TEST

START_TEST(test_names_are_resolved_at_compile) {
        _cleanup_(policy_freep) Policy *p = compile_ok(
                "[Policy]\nAllowBind=user:nobody tcp:80\nAllowBind=group:nogroup tcp:81\n", HIGH_START);
        struct passwd *pw = getpwnam("nobody");
        struct group *gr = getgrnam("nogroup");
        Creds u = {.uid = 1000, .gid = 1000}, g = {.uid = 1000, .gid = 1000};

        ck_assert_ptr_nonnull(pw);
        ck_assert_ptr_nonnull(gr);
        u.uid = pw->pw_uid;
        g.gid = gr->gr_gid;
        ck_allowed(p, &u, "0.0.0.0", 80, SOCK_STREAM);
        ck_refused(p, &u, "0.0.0.0", 81, SOCK_STREAM);
        ck_allowed(p, &g, "0.0.0.0", 81, SOCK_STREAM);
        ck_refused(p, &g, "0.0.0.0", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_star_matches_every_uid) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowBind=* udp:67\n", HIGH_START);
        const Creds a = {.uid = 1, .gid = 1}, b = {.uid = 123456, .gid = 7};

        ck_allowed(p, &a, "0.0.0.0", 67, SOCK_DGRAM);
        ck_allowed(p, &b, "0.0.0.0", 67, SOCK_DGRAM);
        ck_allowed(p, &nobody, "::", 67, SOCK_DGRAM);
}
END_TEST

/* ---- bind addresses -------------------------------------------------------------------- */

START_TEST(test_address_rule_allows_only_that_address) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:127.0.0.1\n", 1024);

        ck_allowed(p, &nobody, "127.0.0.1", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "127.0.0.2", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::1", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_several_addresses_allow_any_of_them) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:127.0.0.1 address:::1\n", 1024);

        ck_allowed(p, &nobody, "127.0.0.1", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::1", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "192.0.2.1", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_cidr_prefix_edges) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:10.0.0.0/8\n", 1024);
        _cleanup_(policy_freep) Policy *p26 =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:192.0.2.64/26\n", 1024);

        ck_refused(p, &nobody, "9.255.255.255", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "10.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "10.1.2.3", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "10.255.255.255", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "11.0.0.0", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);

        /* A length that is not a multiple of 8. */
        ck_refused(p26, &nobody, "192.0.2.63", 80, SOCK_STREAM);
        ck_allowed(p26, &nobody, "192.0.2.64", 80, SOCK_STREAM);
        ck_allowed(p26, &nobody, "192.0.2.127", 80, SOCK_STREAM);
        ck_refused(p26, &nobody, "192.0.2.128", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_ipv6_prefixes) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:fd00::/8 address:::1\n", 1024);

        ck_allowed(p, &nobody, "fd00::", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "fd12:3456::1", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "fc00::1", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "fe00::1", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::1", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::2", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "127.0.0.1", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_ipv4_mapped_matches_ipv4_prefixes) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:127.0.0.1 address:10.0.0.0/8\n", 1024);

        ck_allowed(p, &nobody, "::ffff:127.0.0.1", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::ffff:10.9.8.7", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::ffff:127.0.0.2", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::ffff:0.0.0.0", 80, SOCK_STREAM);
        /* Not mapped: the IPv4-compatible form ::a.b.c.d is just an IPv6 address. */
        ck_refused(p, &nobody, "::127.0.0.1", 80, SOCK_STREAM);
}
END_TEST

START_TEST(test_wildcard_needs_a_zero_length_prefix) {
        _cleanup_(policy_freep) Policy *p =
                compile_ok("[Policy]\nAllowBind=* tcp:80 address:0.0.0.0/0\nAllowBind=* tcp:81 address:::/0\n"
                           "AllowBind=* tcp:82 address:0.0.0.0/1\n",
                           1024);

        ck_allowed(p, &nobody, "0.0.0.0", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "192.0.2.1", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::ffff:0.0.0.0", 80, SOCK_STREAM);
        ck_refused(p, &nobody, "::", 80, SOCK_STREAM);
        ck_allowed(p, &nobody, "::", 81, SOCK_STREAM);
        ck_allowed(p, &nobody, "2001:db8::1", 81, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 81, SOCK_STREAM);
        /* 0.0.0.0/1 contains the address 0.0.0.0 but not "every address". */
        ck_allowed(p, &nobody, "1.2.3.4", 82, SOCK_STREAM);
        ck_refused(p, &nobody, "0.0.0.0", 82, SOCK_STREAM);
}
END_TEST

/* ---- unix ------------------------------------------------------------------------------ */

START_TEST(test_unix_allows_paths_below_the_directory) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowUnix=user:nobody /run/app\n", 1024);
        const char *dir = NULL;

        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app");
        dir = NULL;
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/sub/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app");
}
END_TEST

START_TEST(test_unix_refuses_outside_and_lookalikes) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowUnix=user:nobody /run/app\n", 1024);
        const Creds other = {.uid = 1000, .gid = 1000};
        const char *dir = "untouched";
        char reason[512] = "";

        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/apple/x", &dir, reason, sizeof(reason)), -EPERM);
        ck_assert_str_eq(dir, "untouched");
        ck_assert_msg(strstr(reason,
                             "Permission denied by policy: the directory of '/run/apple/x' is not allowed "
                             "for uid 65534 (allowed: below /run/app)"),
                      "%s", reason);
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app", &dir, NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/x.sock", &dir, NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/srv/x.sock", &dir, NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_unix(p, &other, "/run/app/x.sock", &dir, NULL, 0), -EPERM);
}
END_TEST

START_TEST(test_unix_returns_the_longest_matching_directory) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowUnix=* /run\n"
                                                       "AllowUnix=user:nobody /run/app/deep\n"
                                                       "AllowUnix=user:nobody /run/app\n"
                                                       "AllowUnix=user:1000 /run/app/deep/er\n",
                                                       1024);
        const char *dir = NULL;

        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/deep/er/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app/deep");
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app");
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/deeper.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app");
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run");
}
END_TEST

START_TEST(test_unix_slash_directory_allows_everything_below) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowUnix=user:nobody /\n", 1024);
        const char *dir = NULL;

        ck_assert_int_eq(policy_check_unix(p, &nobody, "/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/");
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/a/b/c", &dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_unix_default_allows_nothing_but_root) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\n", 0);
        const char *dir = NULL;
        char reason[512] = "";

        ck_assert_int_eq(policy_check_unix(p, &nobody, "/srv/x.sock", &dir, reason, sizeof(reason)), -EPERM);
        ck_assert_ptr_null(dir);
        ck_assert_msg(strstr(reason, "the directory of '/srv/x.sock' is not allowed for uid 65534"), "%s",
                      reason);
        ck_assert_ptr_null(strstr(reason, "allowed:"));
        ck_assert_int_eq(policy_check_unix(p, &root, "/srv/x.sock", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/");
}
END_TEST

START_TEST(test_unix_refuses_non_normalized_paths) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowUnix=* /run/app\n", 0);
        static const char *const bad[] = {
                "run/app/x",   "",  "/run//app/x", "/run/app/./x", "/run/app/../etc/x", "/run/app/x/",
                "/run/app/..", "/", "./x",         "/run/app/x/.",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *dir = NULL;
                char reason[512] = "";

                ck_assert_msg(policy_check_unix(p, &nobody, bad[i], &dir, reason, sizeof(reason)) == -EINVAL,
                              "'%s' accepted", bad[i]);
                ck_assert_msg(strstr(reason, "Invalid unix socket path"), "'%s': %s", bad[i], reason);
                /* Root too: the handler relies on a normalized path. */
                ck_assert_int_eq(policy_check_unix(p, &root, bad[i], &dir, NULL, 0), -EINVAL);
                ck_assert_ptr_null(dir);
        }
        /* Dots inside names are fine. */
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/.x..sock", NULL, NULL, 0), 0);
        ck_assert_int_eq(policy_check_unix(p, &nobody, "/run/app/...", NULL, NULL, 0), 0);
}
END_TEST

/* ---- override -------------------------------------------------------------------------- */

START_TEST(test_override_global_by_group_rule) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowOverride=group:4242 global\n", 1024);
        gid_t groups[] = {4242};
        const Creds tester = {.uid = 1000, .gid = 1000, .groups = groups, .n_groups = 1};
        const Creds other = {.uid = 1001, .gid = 1001};

        ck_assert_int_eq(policy_check_override(p, &tester, NULL, NULL, 0), 0);
        ck_assert_int_eq(policy_check_override(p, &other, NULL, NULL, 0), -EPERM);
        /* "global" is the global table, not everyone's scopes. */
        ck_assert_int_eq(policy_check_override(p, &tester, "ci", NULL, 0), -EPERM);
}
END_TEST

START_TEST(test_override_refused_by_default_with_reason) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowOverride=* scope\n", 0);
        const Creds u = {.uid = 1000, .gid = 1000};
        char reason[512] = "";

        ck_assert_int_eq(policy_check_override(p, &u, NULL, reason, sizeof(reason)), -EPERM);
        ck_assert_msg(strstr(reason,
                             "Permission denied by policy: the global override table is not writable by "
                             "uid 1000"),
                      "%s", reason);
        ck_assert_int_eq(policy_check_override(p, &u, "ci", reason, sizeof(reason)), -EPERM);
        ck_assert_msg(strstr(reason, "scope 'ci'") && strstr(reason, "not writable by uid 1000"), "%s",
                      reason);
}
END_TEST

START_TEST(test_override_named_scope_by_rule) {
        _cleanup_(policy_freep) Policy *p = compile_ok("[Policy]\nAllowOverride=user:nobody ci\n", 0);

        ck_assert_int_eq(policy_check_override(p, &nobody, "ci", NULL, 0), 0);
        ck_assert_int_eq(policy_check_override(p, &nobody, "ci2", NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_override(p, &nobody, "c", NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_override(p, &nobody, NULL, NULL, 0), -EPERM);
        ck_assert_int_eq(policy_check_override(p, &nobody, "", NULL, 0), -EINVAL);
}
END_TEST

/* ---- compile errors -------------------------------------------------------------------- */

static const struct {
        const char *rule;
        const char *message; /* after "test.conf:3: " */
} compile_errors[] = {
        {"AllowBind=user:nobody tcp:80 frob", "unknown token 'frob'"},
        {"AllowBind=user:nobody adress:127.0.0.1 tcp:80", "unknown token 'adress:127.0.0.1'"},
        {"AllowBind=user:no-such-user-netutild tcp:80", "unknown user 'no-such-user-netutild'"},
        {"AllowBind=group:no-such-group-netutild tcp:80", "unknown group 'no-such-group-netutild'"},
        {"AllowBind=user:nobody tcp:70000", "bad port '70000'"},
        {"AllowBind=user:nobody tcp:80,", "empty port in 'tcp:80,'"},
        {"AllowBind=user:nobody tcp:-80", "bad port range '-80'"},
        {"AllowBind=user:nobody tcp:+80", "bad port '+80'"},
        {"AllowBind=user:nobody tcp:90-80", "reversed port range '90-80'"},
        {"AllowBind=user:nobody tcp:", "no ports in 'tcp:'"},
        {"AllowBind=user:nobody tcp:80 address:10.0.0.0/33", "bad prefix length in 'address:10.0.0.0/33'"},
        {"AllowBind=user:nobody tcp:80 address:fd00::/129", "bad prefix length"},
        {"AllowBind=user:nobody tcp:80 address:10.0.0.1/8", "bad prefix 'address:10.0.0.1/8'"},
        {"AllowBind=user:nobody tcp:80 address:localhost",
         "bad address 'address:localhost': 'localhost' is not an IPv4 or IPv6 address"},
        {"AllowBind=user:nobody tcp:80 address:", "bad address 'address:'"},
        {"AllowBind=user:nobody address:127.0.0.1", "AllowBind= needs at least one tcp:PORTS or udp:PORTS"},
        {"AllowBind=user:nobody sctp:1", "unknown token 'sctp:1'"},
        {"AllowBind=", "empty rule"},
        {"AllowUnix=", "empty rule"},
        {"AllowBind=nobody tcp:80", "bad principal 'nobody'"},
        {"AllowBind=user: tcp:80", "empty user name"},
        {"AllowBind=user:4294967295 tcp:80", "user id '4294967295' out of range"},
        {"AllowUnix=user:nobody run/app", "bad directory 'run/app': not an absolute path"},
        {"AllowUnix=user:nobody /run/app/", "bad directory '/run/app/': trailing slash"},
        {"AllowUnix=user:nobody /run//app", "bad directory '/run//app'"},
        {"AllowUnix=user:nobody /run/../etc", "bad directory '/run/../etc'"},
        {"AllowUnix=user:nobody", "AllowUnix= takes a principal and one directory"},
        {"AllowUnix=user:nobody /a /b", "AllowUnix= takes a principal and one directory"},
        {"AllowOverride=user:nobody", "AllowOverride= takes a principal"},
        {"AllowOverride=user:nobody global ci", "AllowOverride= takes a principal"},
        {"AllowBind=user:nobody "
         "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
         "29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,"
         "62,"
         "63,64",
         NULL},
        {"AllowBind=user:nobody "
         "tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
         "29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,"
         "62,"
         "63,64,65",
         "more than 64 port ranges in one rule"},
        {"AllowBind=* tcp:1 address:10.0.0.1 address:10.0.0.2 address:10.0.0.3 address:10.0.0.4 "
         "address:10.0.0.5 address:10.0.0.6 address:10.0.0.7 address:10.0.0.8 address:10.0.0.9 "
         "address:10.0.0.10 address:10.0.0.11 address:10.0.0.12 address:10.0.0.13 address:10.0.0.14 "
         "address:10.0.0.15 address:10.0.0.16",
         NULL},
        {"AllowBind=* tcp:1 address:10.0.0.1 address:10.0.0.2 address:10.0.0.3 address:10.0.0.4 "
         "address:10.0.0.5 address:10.0.0.6 address:10.0.0.7 address:10.0.0.8 address:10.0.0.9 "
         "address:10.0.0.10 address:10.0.0.11 address:10.0.0.12 address:10.0.0.13 address:10.0.0.14 "
         "address:10.0.0.15 address:10.0.0.16 address:10.0.0.17",
         "more than 16 address prefixes in one rule"},
        {"AllowBind=* tcp:1\x01", "control character in AllowBind="},
};

/* Each refusal at line 3 (after a good rule on line 2); NULL message: the limit itself is accepted. */
START_TEST(test_compile_error_names_file_and_line) {
        _cleanup_(policy_freep) Policy *p = NULL;
        char text[2048] = "", err[512] = "", want[512] = "";
        int r = 0;

        snprintf(text, sizeof(text), "[Policy]\nAllowBind=* tcp:80\n%s\nAllowBind=* tcp:81\n",
                 compile_errors[_i].rule);
        r = compile(text, 1024, &p, err, sizeof(err));
        if (!compile_errors[_i].message) {
                ck_assert_msg(r == 0, "'%s': %s", compile_errors[_i].rule, err);
                ck_assert_uint_eq(policy_rule_count(p), 3);
                return;
        }
        ck_assert_msg(r == -EINVAL, "'%s' accepted", compile_errors[_i].rule);
        ck_assert_ptr_null(p);
        snprintf(want, sizeof(want), FILENAME ":3: %s", compile_errors[_i].message);
        ck_assert_msg(strncmp(err, FILENAME ":3: ", strlen(FILENAME ":3: ")) == 0, "'%s': %s",
                      compile_errors[_i].rule, err);
        ck_assert_msg(strstr(err, want) == err, "'%s': got \"%s\", want \"%s…\"", compile_errors[_i].rule,
                      err, want);
}
END_TEST

START_TEST(test_unknown_rule_key_is_refused) {
        /* config_parse_text() refuses unknown keys itself; a Config built otherwise is checked too. */
        ConfigRule rule = {.key = (char *) "AllowFrob",
                           .value = (char *) "* tcp:80",
                           .file = (char *) "x.conf",
                           .line = 7};
        const Config c = {.rules = &rule, .n_rules = 1};
        _cleanup_(policy_freep) Policy *p = NULL;
        char err[512] = "";

        ck_assert_int_eq(policy_compile(&c, 1024, &p, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_str_eq(err, "x.conf:7: unknown policy key 'AllowFrob'");
}
END_TEST

START_TEST(test_error_in_dropin_names_its_file) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        _cleanup_(policy_freep) Policy *p = NULL;
        static const char a[] = "[Policy]\nAllowBind=* tcp:80\n";
        static const char b[] = "# drop-in\n[Policy]\n\nAllowBind=* tcp:90-80\n";
        char err[512] = "";

        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(config_parse_text(c, a, strlen(a), "/etc/netutild.conf", err, sizeof(err)), 0);
        ck_assert_int_eq(
                config_parse_text(c, b, strlen(b), "/etc/netutild.conf.d/50-x.conf", err, sizeof(err)), 0);
        ck_assert_int_eq(policy_compile(c, 1024, &p, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strncmp(err, "/etc/netutild.conf.d/50-x.conf:4: ", 34) == 0, "%s", err);
}
END_TEST

/* ---- rule count ------------------------------------------------------------------------ */

START_TEST(test_rule_count_counts_compiled_rules) {
        _cleanup_(policy_freep) Policy *empty = compile_ok("[Policy]\n", 1024);
        _cleanup_(policy_freep) Policy *five =
                compile_ok("[Policy]\n"
                           "AllowBind=user:nobody tcp:80,443 udp:443\n"
                           "AllowBind=group:nogroup tcp:8000-8099 address:127.0.0.1\n"
                           "AllowUnix=user:65534 /run/app\n"
                           "AllowOverride=group:4242 global\n"
                           "AllowOverride=* scope\n",
                           1024);

        ck_assert_uint_eq(policy_rule_count(empty), 0);
        ck_assert_uint_eq(policy_rule_count(five), 5);
        ck_assert_uint_eq(policy_rule_count(NULL), 0);
}
END_TEST

/* ---- references ------------------------------------------------------------------------ */

START_TEST(test_reference_keeps_policy_alive) {
        Policy *p = compile_ok("[Policy]\nAllowUnix=* /run/app\n", 1024);
        Policy *held = policy_ref(p);
        const char *dir = NULL;

        ck_assert_ptr_eq(held, p);
        /* The loop drops its reference (a reload); the holder still asks it. Valgrind
         * (CK_FORK=no) sees a use after free or a leak if the count is wrong. */
        ck_assert_ptr_null(policy_unref(p));
        ck_assert_int_eq(policy_check_unix(held, &nobody, "/run/app/x", &dir, NULL, 0), 0);
        ck_assert_str_eq(dir, "/run/app");
        ck_assert_ptr_null(policy_unref(held));
        ck_assert_ptr_null(policy_ref(NULL));
        ck_assert_ptr_null(policy_unref(NULL));
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc = NULL;

        tc = tcase_create("root");
        tcase_add_test(tc, test_root_may_do_everything);
        tcase_add_test(tc, test_root_group_is_not_root);
        suite_add_tcase(s, tc);

        tc = tcase_create("defaults");
        tcase_add_test(tc, test_default_allows_port0_and_unprivileged_ports);
        tcase_add_test(tc, test_default_refuses_privileged_port_with_reason);
        tcase_add_test(tc, test_default_follows_unprivileged_port_start);
        tcase_add_test(tc, test_default_refuses_other_socket_types);
        tcase_add_test(tc, test_non_inet_family_is_not_a_bind_question);
        suite_add_tcase(s, tc);

        tc = tcase_create("bind_ports");
        tcase_add_test(tc, test_user_rule_allows_listed_ports_for_its_protocol);
        tcase_add_test(tc, test_refusal_lists_the_uids_rules);
        tcase_add_test(tc, test_range_edges_are_inclusive);
        tcase_add_test(tc, test_protocols_keep_their_own_ports);
        tcase_add_test(tc, test_port_zero_and_65535_are_valid);
        suite_add_tcase(s, tc);

        tc = tcase_create("principals");
        tcase_add_test(tc, test_group_rule_matches_primary_gid);
        tcase_add_test(tc, test_group_rule_matches_supplementary_group);
        tcase_add_test(tc, test_group_rule_ignores_other_gids);
        tcase_add_test(tc, test_user_rule_does_not_match_gid);
        tcase_add_test(tc, test_numeric_user_and_group_need_not_exist);
        tcase_add_test(tc, test_names_are_resolved_at_compile);
        tcase_add_test(tc, test_star_matches_every_uid);
        suite_add_tcase(s, tc);

        tc = tcase_create("bind_addresses");
        tcase_add_test(tc, test_address_rule_allows_only_that_address);
        tcase_add_test(tc, test_several_addresses_allow_any_of_them);
        tcase_add_test(tc, test_cidr_prefix_edges);
        tcase_add_test(tc, test_ipv6_prefixes);
        tcase_add_test(tc, test_ipv4_mapped_matches_ipv4_prefixes);
        tcase_add_test(tc, test_wildcard_needs_a_zero_length_prefix);
        suite_add_tcase(s, tc);

        tc = tcase_create("unix");
        tcase_add_test(tc, test_unix_allows_paths_below_the_directory);
        tcase_add_test(tc, test_unix_refuses_outside_and_lookalikes);
        tcase_add_test(tc, test_unix_returns_the_longest_matching_directory);
        tcase_add_test(tc, test_unix_slash_directory_allows_everything_below);
        tcase_add_test(tc, test_unix_default_allows_nothing_but_root);
        tcase_add_test(tc, test_unix_refuses_non_normalized_paths);
        suite_add_tcase(s, tc);

        tc = tcase_create("override");
        tcase_add_test(tc, test_override_global_by_group_rule);
        tcase_add_test(tc, test_override_refused_by_default_with_reason);
        tcase_add_test(tc, test_override_named_scope_by_rule);
        suite_add_tcase(s, tc);

        tc = tcase_create("compile_errors");
        tcase_add_loop_test(tc, test_compile_error_names_file_and_line, 0, (int) ELEMENTSOF(compile_errors));
        tcase_add_test(tc, test_unknown_rule_key_is_refused);
        tcase_add_test(tc, test_error_in_dropin_names_its_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("rule_count");
        tcase_add_test(tc, test_rule_count_counts_compiled_rules);
        suite_add_tcase(s, tc);

        tc = tcase_create("references");
        tcase_add_test(tc, test_reference_keeps_policy_alive);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(policy_suite());
        int failed = 0;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
