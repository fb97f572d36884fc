/* SPDX-License-Identifier: MIT */

/* The configuration parser (daemon/config.c): syntax, values, errors with file:line,
 * drop-ins and the embedded default. */

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "macro.h"

static Config *parse(const char *text, int *ret_r, char *err, size_t errlen) {
        Config *c = NULL;
        char dir[] = "/tmp/netutild-config.XXXXXX", path[PATH_MAX];
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/netutild.conf", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
        *ret_r = config_load(path, false, &c, err, errlen);
        unlink(path);
        rmdir(dir);
        return c;
}

START_TEST(test_embedded_default_parses) {
        _cleanup_(config_freep) Config *c = NULL;
        char err[256] = "";

        ck_assert_int_eq(config_load(NULL, false, &c, err, sizeof(err)), 0);
        ck_assert_int_eq(c->resolver, RESOLVER_THREADPOOL);
        ck_assert_uint_eq(c->resolver_threads, 16);
        ck_assert_uint_eq(c->max_clients, 1024);
        ck_assert_uint_eq(c->n_rules, 0);
}
END_TEST

START_TEST(test_missing_file_uses_default_only_when_allowed) {
        _cleanup_(config_freep) Config *c = NULL;
        char err[256] = "";

        ck_assert_int_eq(config_load("/nonexistent/netutild.conf", false, &c, err, sizeof(err)), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(strstr(err, "/nonexistent/netutild.conf"));
        ck_assert_int_eq(config_load("/nonexistent/netutild.conf", true, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c->max_clients, 1024);
}
END_TEST

START_TEST(test_cli_md_example_parses) {
        char err[256] = "";
        int r;
        Config *c = parse("[Daemon]\n"
                          "Resolver=cares          # threadpool | cares | blocking\n"
                          "ResolverThreads=4\n"
                          "MaxClients=7 ; comment\n"
                          "\n"
                          "[Policy]\n"
                          "AllowBind=user:www-data tcp:80,443 udp:443\n"
                          "AllowBind=group:web tcp:8000-8099 address:127.0.0.1\n"
                          "AllowUnix=user:app /run/app\n"
                          "  # indented comment\n"
                          "AllowOverride=group:testers global\n"
                          "AllowOverride=* scope\n",
                          &r, err, sizeof(err));

        ck_assert_msg(r == 0, "%s", err);
        ck_assert_int_eq(c->resolver, RESOLVER_CARES);
        ck_assert_uint_eq(c->resolver_threads, 4);
        ck_assert_uint_eq(c->max_clients, 7);
        ck_assert_uint_eq(c->n_rules, 5);
        ck_assert_str_eq(c->rules[0].key, "AllowBind");
        ck_assert_str_eq(c->rules[0].value, "user:www-data tcp:80,443 udp:443");
        ck_assert_uint_eq(c->rules[0].line, 7);
        ck_assert_str_eq(c->rules[4].value, "* scope");
        config_free(c);
}
END_TEST

static void expect_error(const char *text, const char *needle, unsigned line) {
        char err[512] = "", want[64];
        int r;
        Config *c = parse(text, &r, err, sizeof(err));

        ck_assert_ptr_null(c);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_msg(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
        snprintf(want, sizeof(want), "netutild.conf:%u: ", line);
        ck_assert_msg(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

START_TEST(test_bad_values_are_refused_with_file_and_line) {
        expect_error("[Daemon]\nResolver=dns\n", "Resolver=dns: expected threadpool, cares or blocking", 2);
        expect_error("[Daemon]\nMaxClients=0\n", "MaxClients=0: expected 1..65536", 2);
        expect_error("[Daemon]\nMaxClients=65537\n", "MaxClients=65537", 2);
        expect_error("[Daemon]\nMaxClients=-1\n", "MaxClients=-1", 2);
        expect_error("[Daemon]\nMaxClients=12abc\n", "MaxClients=12abc", 2);
        expect_error("[Daemon]\n\nResolverThreads=257\n", "ResolverThreads=257: expected 1..256", 3);
        expect_error("[Daemon]\nFoo=1\n", "unknown key 'Foo' in section [Daemon]", 2);
        expect_error("[Daemon]\nAllowBind=* tcp:80\n", "unknown key 'AllowBind' in section [Daemon]", 2);
        expect_error("[Bogus]\n", "unknown section [Bogus]", 1);
        expect_error("[Daemon\n", "bad section header", 1);
        expect_error("[]\n", "bad section header", 1);
        expect_error("Resolver=cares\n", "assignment outside a section", 1);
        expect_error("[Daemon]\nResolver\n", "expected KEY=VALUE", 2);
}
END_TEST

START_TEST(test_long_line_and_nul_are_refused) {
        char *text = malloc(CONFIG_MAX_LINE + 64);
        char err[256] = "";
        Config *c = NULL;

        ck_assert_ptr_nonnull(text);
        strcpy(text, "[Policy]\nAllowUnix=* /");
        memset(text + strlen(text), 'a', CONFIG_MAX_LINE);
        text[9 + CONFIG_MAX_LINE + 8] = '\0';
        c = calloc(1, sizeof(*c));
        ck_assert_int_eq(config_parse_text(c, text, strlen(text), "t.conf", err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "t.conf:2: line longer than 4096 bytes"));
        ck_assert_int_eq(config_parse_text(c, "[Daemon]\nMax\0Clients=1\n", 23, "t.conf", err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "t.conf:2: NUL byte in line"));
        config_free(c);
        free(text);
}
END_TEST

START_TEST(test_dropins_apply_in_lexical_order) {
        char dir[] = "/tmp/netutild-config.XXXXXX", path[128], dropins[160], f1[192], f2[192], f3[192];
        _cleanup_(config_freep) Config *c = NULL;
        char err[256] = "";
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/netutild.conf", dir);
        snprintf(dropins, sizeof(dropins), "%s.d", path);
        snprintf(f1, sizeof(f1), "%s/10-a.conf", dropins);
        snprintf(f2, sizeof(f2), "%s/20-b.conf", dropins);
        snprintf(f3, sizeof(f3), "%s/30-ignored.txt", dropins);
        ck_assert_int_eq(mkdir(dropins, 0755), 0);
        ck_assert_ptr_nonnull(f = fopen(path, "we"));
        fputs("[Daemon]\nMaxClients=10\n", f);
        fclose(f);
        ck_assert_ptr_nonnull(f = fopen(f2, "we"));
        fputs("[Daemon]\nMaxClients=30\n[Policy]\nAllowOverride=* global\n", f);
        fclose(f);
        ck_assert_ptr_nonnull(f = fopen(f1, "we"));
        fputs("[Daemon]\nMaxClients=20\n", f);
        fclose(f);
        ck_assert_ptr_nonnull(f = fopen(f3, "we"));
        fputs("garbage\n", f);
        fclose(f);

        ck_assert_msg(config_load(path, false, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(c->max_clients, 30);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_ptr_nonnull(strstr(c->rules[0].file, "20-b.conf"));

        unlink(f1);
        unlink(f2);
        unlink(f3);
        rmdir(dropins);
        unlink(path);
        rmdir(dir);
}
END_TEST

START_TEST(test_directory_as_config_is_refused) {
        _cleanup_(config_freep) Config *c = NULL;
        char err[256] = "";

        ck_assert_int_eq(config_load("/tmp", false, &c, err, sizeof(err)), -EISDIR);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_max_clients_per_user_parses_and_defaults_to_128) {
        _cleanup_(config_freep) Config *d = NULL;
        char err[256] = "";
        int r;
        Config *c = parse("[Daemon]\nMaxClientsPerUser=5\n", &r, err, sizeof(err));

        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->max_clients_per_user, 5);
        config_free(c);
        c = parse("[Daemon]\nMaxClientsPerUser=0\n", &r, err, sizeof(err));
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->max_clients_per_user, 0);
        config_free(c);
        ck_assert_int_eq(config_load(NULL, false, &d, err, sizeof(err)), 0);
        ck_assert_uint_eq(d->max_clients_per_user, 128);
        expect_error("[Daemon]\nMaxClientsPerUser=65537\n", "MaxClientsPerUser=65537: expected 0 (no limit)..65536", 2);
        expect_error("[Daemon]\nMaxClientsPerUser=-1\n", "MaxClientsPerUser=-1", 2);
        expect_error("[Daemon]\nMaxClientsPerUser=\n", "MaxClientsPerUser=", 2);
        expect_error("[Daemon]\nMaxClientsPerUser=5x\n", "MaxClientsPerUser=5x", 2);
}
END_TEST

START_TEST(test_max_requests_per_user_parses_and_defaults_to_4096) {
        _cleanup_(config_freep) Config *d = NULL;
        char err[256] = "";
        int r;
        Config *c = parse("[Daemon]\nMaxRequestsPerUser=16\n", &r, err, sizeof(err));

        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->max_requests_per_user, 16);
        config_free(c);
        c = parse("[Daemon]\nMaxRequestsPerUser=0\n", &r, err, sizeof(err));
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->max_requests_per_user, 0);
        config_free(c);
        ck_assert_int_eq(config_load(NULL, false, &d, err, sizeof(err)), 0);
        ck_assert_uint_eq(d->max_requests_per_user, 4096);
        expect_error("[Daemon]\nMaxRequestsPerUser=8388609\n",
                     "MaxRequestsPerUser=8388609: expected 0 (no limit)..8388608", 2);
        expect_error("[Daemon]\nMaxRequestsPerUser=-1\n", "MaxRequestsPerUser=-1", 2);
        expect_error("[Daemon]\nMaxRequestsPerUser=\n", "MaxRequestsPerUser=", 2);
}
END_TEST

/* MaxReplyBytesPerConnection= and MaxReplyBytesPerUser=: bytes with K, M or G. */
static const struct {
        const char *text;
        uint64_t per_connection, per_user; /* UINT64_MAX: the line is refused */
} reply_bytes_cases[] = {
        {"", 1024 * 1024, 4 * 1024 * 1024},
        {"MaxReplyBytesPerConnection=65536\n", 65536, 4 * 1024 * 1024},
        {"MaxReplyBytesPerConnection=64K\nMaxReplyBytesPerUser=2M\n", 65536, 2 * 1024 * 1024},
        {"MaxReplyBytesPerConnection=1G\nMaxReplyBytesPerUser=0\n", 1024 * 1024 * 1024, 0},
        {"MaxReplyBytesPerConnection=0\n", 0, 4 * 1024 * 1024},
        {"MaxReplyBytesPerConnection=65535\n", UINT64_MAX, 0}, /* below one datagram */
        {"MaxReplyBytesPerUser=2G\n", UINT64_MAX, 0},          /* above 1 GiB */
        {"MaxReplyBytesPerUser=1073741825\n", UINT64_MAX, 0},
        {"MaxReplyBytesPerUser=4T\n", UINT64_MAX, 0},
        {"MaxReplyBytesPerUser=-1\n", UINT64_MAX, 0},
        {"MaxReplyBytesPerUser=\n", UINT64_MAX, 0},
        {"MaxReplyBytesPerUser=99999999999999999999K\n", UINT64_MAX, 0},
};

START_TEST(test_max_reply_bytes_parse_with_suffixes_and_default_to_1M_and_4M) {
        char text[256], err[256] = "";
        Config *c;
        int r;

        snprintf(text, sizeof(text), "[Daemon]\n%s", reply_bytes_cases[_i].text);
        c = parse(text, &r, err, sizeof(err));
        if (reply_bytes_cases[_i].per_connection == UINT64_MAX) {
                ck_assert_msg(r < 0, "'%s' was accepted", reply_bytes_cases[_i].text);
                ck_assert_msg(strstr(err, "expected 0 (no limit) or 64K..1G bytes"), "%s", err);
                return;
        }
        ck_assert_msg(r == 0, "%s: %s", reply_bytes_cases[_i].text, err);
        ck_assert_uint_eq(c->max_reply_bytes_per_connection, reply_bytes_cases[_i].per_connection);
        ck_assert_uint_eq(c->max_reply_bytes_per_user, reply_bytes_cases[_i].per_user);
        config_free(c);
}
END_TEST

/* The default is 10 s (issue 13: a name whose servers never answer is answered in words
 * before a client's own 25 s); 0 still means resolv.conf's timeout alone. */
START_TEST(test_resolve_timeout_parses_and_defaults_to_ten_seconds) {
        _cleanup_(config_freep) Config *d = NULL;
        char err[256] = "";
        int r;
        Config *c = parse("[Daemon]\nResolveTimeoutSec=3\n", &r, err, sizeof(err));

        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->resolve_timeout_sec, 3);
        config_free(c);
        c = parse("[Daemon]\nResolveTimeoutSec=0\n", &r, err, sizeof(err));
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_uint_eq(c->resolve_timeout_sec, 0);
        config_free(c);
        ck_assert_int_eq(config_load(NULL, false, &d, err, sizeof(err)), 0);
        ck_assert_uint_eq(d->resolve_timeout_sec, 10);
        expect_error("[Daemon]\nResolveTimeoutSec=601\n", "ResolveTimeoutSec=601: expected 0 (resolv.conf's)..600", 2);
        expect_error("[Daemon]\nResolveTimeoutSec=1.5\n", "ResolveTimeoutSec=1.5", 2);
}
END_TEST

/* One row per case: the threads one uid may occupy, from ResolverThreads= and
 * ResolverThreadsPerUser=. */
START_TEST(test_resolver_threads_per_user_defaults_to_half_and_never_exceeds_all) {
        static const struct {
                const char *text;
                unsigned want;
        } rows[] = {
                {"[Daemon]\n", 8},                                            /* half of 16 */
                {"[Daemon]\nResolverThreads=5\n", 3},                         /* rounded up */
                {"[Daemon]\nResolverThreads=1\n", 1},                         /* one thread is one */
                {"[Daemon]\nResolverThreadsPerUser=12\n", 12},
                {"[Daemon]\nResolverThreads=4\nResolverThreadsPerUser=12\n", 4}, /* at most all */
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                char err[256] = "";
                int r;
                Config *c = parse(rows[i].text, &r, err, sizeof(err));

                ck_assert_msg(r == 0, "%s", err);
                ck_assert_uint_eq(config_user_threads(c), rows[i].want);
                config_free(c);
        }
        expect_error("[Daemon]\nResolverThreadsPerUser=0\n", "ResolverThreadsPerUser=0: expected 1..256", 2);
        expect_error("[Daemon]\nResolverThreadsPerUser=257\n", "ResolverThreadsPerUser=257: expected 1..256", 2);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_embedded_default_parses);
        tcase_add_test(tc, test_missing_file_uses_default_only_when_allowed);
        tcase_add_test(tc, test_cli_md_example_parses);
        tcase_add_test(tc, test_bad_values_are_refused_with_file_and_line);
        tcase_add_test(tc, test_long_line_and_nul_are_refused);
        tcase_add_test(tc, test_dropins_apply_in_lexical_order);
        tcase_add_test(tc, test_directory_as_config_is_refused);
        tcase_add_test(tc, test_max_clients_per_user_parses_and_defaults_to_128);
        tcase_add_test(tc, test_max_requests_per_user_parses_and_defaults_to_4096);
        tcase_add_test(tc, test_resolve_timeout_parses_and_defaults_to_ten_seconds);
        tcase_add_test(tc, test_resolver_threads_per_user_defaults_to_half_and_never_exceeds_all);
        tcase_add_loop_test(tc, test_max_reply_bytes_parse_with_suffixes_and_default_to_1M_and_4M, 0,
                            (int) ELEMENTSOF(reply_bytes_cases));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
