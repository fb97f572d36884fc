/* SPDX-License-Identifier: MIT */

/*
 * netutilctl — the command line of CLI.md. Owns option parsing, the exit status
 * contract (0 ok, 1 failed, 2 usage), text and --json output. Talks to the daemon only
 * through libnetutil's public API.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "netutil.h"

#define EXIT_USAGE 2

static const char *arg_socket = NULL;
static bool arg_json = false;
static uint64_t arg_timeout_usec = 0; /* library default */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("netutilctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'netutilctl --help'.\n", stderr);
        return EXIT_USAGE;
}

/* Reports a failed operation: "netutilctl: message" on stderr, and with --json the error
 * object of CLI.md on stdout. Returns EXIT_FAILURE. */
static int fail(netutil_client *c, int error, const char *context) {
        const char *daemon_msg = c ? netutil_client_error_message(c) : NULL;
        int gai = c ? netutil_client_error_gai(c) : 0;
        const char *name = strerrorname_np(-error);
        char msg[1024];

        if (daemon_msg)
                snprintf(msg, sizeof(msg), "%s", daemon_msg);
        else if (context)
                snprintf(msg, sizeof(msg), "%s: %s", context, strerror(-error));
        else
                snprintf(msg, sizeof(msg), "%s", strerror(-error));

        fprintf(stderr, "netutilctl: %s\n", msg);
        if (arg_json) {
                JsonWriter w = { .f = stdout };
                json_begin_object(&w, NULL);
                json_begin_object(&w, "error");
                json_int(&w, "errno", -error);
                json_string(&w, "name", name ? name : "EUNKNOWN");
                json_string(&w, "message", msg);
                if (gai != 0)
                        json_string(&w, "gai", netutil_gai_name(gai));
                json_end_object(&w);
                json_end_object(&w);
                json_finish(&w);
        }
        return EXIT_FAILURE;
}

static int connect_daemon(netutil_client **ret) {
        char *path = NULL, ctx[4200];
        int r;

        if (!arg_socket) {
                r = netutil_default_socket_path(&path);
                if (r < 0)
                        return fail(NULL, r, "Cannot find the netutild socket (set $XDG_RUNTIME_DIR, "
                                             "$NETUTILD_SOCKET or --socket)");
        }
        r = netutil_client_open(arg_socket ?: path, ret);
        if (r < 0) {
                snprintf(ctx, sizeof(ctx), "Cannot connect to netutild at '%s'", arg_socket ?: path);
                free(path);
                return fail(NULL, r, ctx);
        }
        free(path);
        return 0;
}

static void format_duration(char *buf, size_t len, uint64_t usec) {
        uint64_t s = usec / 1000000ULL;

        if (s >= 86400)
                snprintf(buf, len, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "min", s / 86400, s % 86400 / 3600,
                         s % 3600 / 60);
        else if (s >= 3600)
                snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "min %" PRIu64 "s", s / 3600, s % 3600 / 60, s % 60);
        else if (s >= 60)
                snprintf(buf, len, "%" PRIu64 "min %" PRIu64 "s", s / 60, s % 60);
        else
                snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 "s", s, usec / 1000 % 1000);
}

static int verb_status(int argc, char *argv[]) {
        netutil_client *c = NULL;
        netutil_status *s = NULL;
        int r;

        if (argc > 1)
                return usage_error("status takes no arguments");
        r = connect_daemon(&c);
        if (r != 0)
                return r;
        r = netutil_status_get(c, arg_timeout_usec, &s);
        if (r < 0) {
                r = fail(c, r, "Failed to get the daemon status");
                netutil_client_close(c);
                return r;
        }

        if (arg_json) {
                JsonWriter w = { .f = stdout };
                json_begin_object(&w, NULL);
                json_string(&w, "version", s->version);
                json_uint(&w, "pid", s->pid);
                json_uint(&w, "uptime_s", s->uptime_usec / 1000000ULL);
                json_uint(&w, "clients", s->clients);
                json_uint(&w, "held", s->held);
                json_uint(&w, "overrides", s->overrides);
                json_string(&w, "resolver", s->resolver);
                json_string(&w, "mode", s->mode);
                json_uint(&w, "policy_rules", s->policy_rules);
                json_uint(&w, "max_clients", s->max_clients);
                json_uint(&w, "requests", s->requests);
                json_end_object(&w);
                json_finish(&w);
        } else {
                char up[64];
                format_duration(up, sizeof(up), s->uptime_usec);
                printf("     Version: netutild %s\n"
                       "         PID: %" PRIu32 " (%s mode)\n"
                       "      Uptime: %s\n"
                       "     Clients: %" PRIu32 " (max %" PRIu32 ")\n"
                       "    Requests: %" PRIu64 "\n"
                       "        Held: %" PRIu32 " socket%s\n"
                       "   Overrides: %" PRIu32 "\n"
                       "    Resolver: %s\n"
                       "      Policy: %" PRIu32 " rule%s\n",
                       s->version, s->pid, s->mode, up, s->clients, s->max_clients, s->requests, s->held,
                       s->held == 1 ? "" : "s", s->overrides, s->resolver, s->policy_rules,
                       s->policy_rules == 1 ? "" : "s");
        }
        netutil_status_free(s);
        netutil_client_close(c);
        return 0;
}

static void help(void) {
        printf("Usage: netutilctl [OPTIONS] COMMAND ...\n\n"
               "Control netutild: sockets bound for you, names resolved with overrides.\n\n"
               "Commands:\n"
               "  status                 show the daemon's version, clients and counters\n\n"
               "Options:\n"
               "  -s, --socket PATH      daemon socket (default: $NETUTILD_SOCKET, then\n"
               "                         /run/netutild/netutild.sock for root, else\n"
               "                         $XDG_RUNTIME_DIR/netutild/netutild.sock)\n"
               "  -j, --json             print one JSON object (errors too)\n"
               "  -t, --timeout SECONDS  give up on the daemon after this long (default 25)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "Exit status: 0 success, 1 the operation failed, 2 usage error.\n");
}

static const struct {
        const char *name;
        int (*func)(int argc, char *argv[]);
} verbs[] = {
        { "status", verb_status },
};

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        opterr = 0;
        /* "+": options end at the command, whose own options follow it. */
        while ((c = getopt_long(argc, argv, "+s:jt:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (!*optarg)
                                return usage_error("--socket needs a path");
                        arg_socket = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 't': {
                        char *end;
                        double t;
                        errno = 0;
                        t = strtod(optarg, &end);
                        if (errno != 0 || end == optarg || *end || !isfinite(t) || t <= 0 || t > 86400.0 * 365)
                                return usage_error("invalid --timeout '%s': expected seconds > 0", optarg);
                        arg_timeout_usec = (uint64_t) (t * 1e6);
                        if (arg_timeout_usec == 0)
                                arg_timeout_usec = 1;
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("netutilctl %s\n", PACKAGE_VERSION);
                        return 0;
                case '?':
                default:
                        if (optopt)
                                return usage_error("option '-%c' is unknown or needs a value", optopt);
                        return usage_error("unknown option '%s'", argv[optind - 1]);
                }
        }

        if (optind >= argc)
                return usage_error("missing command");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0)
                        return verbs[i].func(argc - optind, argv + optind);
        return usage_error("unknown command '%s'", argv[optind]);
}
