/* SPDX-License-Identifier: MIT */

/*
 * netutilctl — the command line of CLI.md. Owns option parsing, the exit status
 * contract (0 ok, 1 failed, 2 usage), text and --json output. Talks to the daemon only
 * through libnetutil's public API.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stddef.h>
#include <sys/un.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static const char *family_name(int family) {
        return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : family == AF_UNIX ? "unix" : "unknown";
}

static int parse_family(const char *s, int *ret) {
        if (strcmp(s, "any") == 0)
                *ret = AF_UNSPEC;
        else if (strcmp(s, "ipv4") == 0)
                *ret = AF_INET;
        else if (strcmp(s, "ipv6") == 0)
                *ret = AF_INET6;
        else
                return -EINVAL;
        return 0;
}

static int parse_ai_flags(const char *s, int *ret) {
        static const struct {
                const char *name;
                int flag;
        } names[] = {
                { "passive", AI_PASSIVE },         { "canonname", AI_CANONNAME }, { "numerichost", AI_NUMERICHOST },
                { "numericserv", AI_NUMERICSERV }, { "v4mapped", AI_V4MAPPED },   { "all", AI_ALL },
                { "addrconfig", AI_ADDRCONFIG },
        };
        char buf[256], *save = NULL;
        int flags = 0;

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        /* "" or "0" is an explicit 0, which Tornado distinguishes from the default. */
        if (strcmp(buf, "0") == 0 || buf[0] == '\0') {
                *ret = 0;
                return 0;
        }
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t i;
                for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                        if (strcmp(t, names[i].name) == 0)
                                break;
                if (i == sizeof(names) / sizeof(names[0]))
                        return -EINVAL;
                flags |= names[i].flag;
        }
        *ret = flags;
        return 0;
}

static int parse_int(const char *s, long min, long max, int *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

/* Writes sockets as CLI.md shows them: into w's current array with --json, else one
 * text line each, after prefix. */
static void write_sockets(JsonWriter *w, const char *prefix, const netutil_socket *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char addr[INET6_ADDRSTRLEN + 16] = "";
                unsigned port = 0;
                const char *type = s[i].type == SOCK_DGRAM ? "dgram" : "stream";

                if (s[i].family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *) &s[i].address;
                        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
                        port = ntohs(in->sin_port);
                } else if (s[i].family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &s[i].address;
                        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
                        if (in6->sin6_scope_id != 0)
                                snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), "%%%u",
                                         (unsigned) in6->sin6_scope_id);
                        port = ntohs(in6->sin6_port);
                }
                if (s[i].family == AF_UNIX) {
                        char path[128] = "";
                        const struct sockaddr_un *un = (const struct sockaddr_un *) &s[i].address;
                        size_t len = s[i].address_len > offsetof(struct sockaddr_un, sun_path)
                                             ? s[i].address_len - offsetof(struct sockaddr_un, sun_path)
                                             : 0;
                        len = len < sizeof(path) - 1 ? len : sizeof(path) - 1;
                        memcpy(path, un->sun_path, len);
                        if (len > 0 && path[0] == '\0')
                                path[0] = '@'; /* abstract */
                        path[len] = '\0';
                        if (arg_json) {
                                json_begin_object(w, NULL);
                                json_string(w, "family", "unix");
                                json_string(w, "type", type);
                                json_string(w, "path", path);
                                json_end_object(w);
                        } else
                                printf("%sunix %s %s\n", prefix, type, path);
                        continue;
                }
                if (arg_json) {
                        json_begin_object(w, NULL);
                        json_string(w, "family", family_name(s[i].family));
                        json_string(w, "type", type);
                        json_string(w, "address", addr);
                        json_uint(w, "port", port);
                        json_end_object(w);
                } else
                        printf("%s%s %s %s %u\n", prefix, family_name(s[i].family), type, addr, port);
        }
}

static void print_sockets(const netutil_socket *s, size_t n) {
        JsonWriter w = { .f = stdout };

        if (arg_json) {
                json_begin_object(&w, NULL);
                json_begin_array(&w, "sockets");
        }
        write_sockets(&w, "", s, n);
        if (arg_json) {
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
        }
}

static int verb_hold(int argc, char *argv[]) {
        netutil_client *c = NULL;
        int r;

        if (argc < 2)
                return usage_error("hold: expected 'list' or 'release NAME'");
        if (strcmp(argv[1], "list") == 0) {
                netutil_held *h = NULL;
                JsonWriter w = { .f = stdout };
                int n;

                if (argc != 2)
                        return usage_error("hold list takes no arguments");
                r = connect_daemon(&c);
                if (r != 0)
                        return r;
                n = netutil_hold_list(c, arg_timeout_usec, &h);
                if (n < 0) {
                        r = fail(c, n, "Failed to list held sockets");
                        netutil_client_close(c);
                        return r;
                }
                if (arg_json) {
                        json_begin_object(&w, NULL);
                        json_begin_array(&w, "held");
                }
                for (int i = 0; i < n; i++) {
                        char prefix[320];
                        if (arg_json) {
                                json_begin_object(&w, NULL);
                                json_string(&w, "name", h[i].name);
                                json_uint(&w, "owner_uid", h[i].owner_uid);
                                json_begin_array(&w, "sockets");
                        }
                        snprintf(prefix, sizeof(prefix), "%s %" PRIu32 " ", h[i].name, h[i].owner_uid);
                        write_sockets(&w, prefix, h[i].sockets, h[i].n_sockets);
                        if (arg_json) {
                                json_end_array(&w);
                                json_end_object(&w);
                        }
                }
                if (arg_json) {
                        json_end_array(&w);
                        json_end_object(&w);
                        json_finish(&w);
                }
                netutil_held_free(h, (size_t) n);
                netutil_client_close(c);
                return 0;
        }
        if (strcmp(argv[1], "release") == 0) {
                if (argc != 3)
                        return usage_error("hold release takes one NAME");
                r = connect_daemon(&c);
                if (r != 0)
                        return r;
                r = netutil_hold_release(c, argv[2], arg_timeout_usec);
                if (r < 0) {
                        r = fail(c, r, "Failed to release");
                        netutil_client_close(c);
                        return r;
                }
                netutil_client_close(c);
                if (arg_json) {
                        JsonWriter jw = { .f = stdout };
                        json_begin_object(&jw, NULL);
                        json_string(&jw, "released", argv[2]);
                        json_end_object(&jw);
                        json_finish(&jw);
                }
                return 0;
        }
        return usage_error("hold: unknown subcommand '%s'", argv[1]);
}

/* Executes command with the sockets as fds 3, 4, ... and the socket activation variables
 * of sd_listen_fds(3), as systemd sets them: one exec, no fork, so LISTEN_PID is ours.
 * Returns only on failure. */
static int exec_with_sockets(netutil_socket *s, size_t n, const char *name, char **command) {
        char buf[32];
        char *names;
        size_t len = strlen(name) + 1;

        /* First above every target slot, then down into 3.. : a received fd may already
         * sit on a slot another one needs. dup2() clears close-on-exec on the targets. */
        for (size_t i = 0; i < n; i++) {
                int fd = fcntl(s[i].fd, F_DUPFD_CLOEXEC, (int) (3 + n));
                if (fd < 0)
                        return fail(NULL, -errno, "Failed to move socket");
                close(s[i].fd);
                s[i].fd = fd;
        }
        for (size_t i = 0; i < n; i++) {
                if (dup2(s[i].fd, (int) (3 + i)) < 0)
                        return fail(NULL, -errno, "Failed to move socket");
                close(s[i].fd);
                s[i].fd = (int) (3 + i);
        }

        /* Nothing else leaks into the command: what we inherited stays with us, as
         * systemd hands a service only its sockets and stdio. */
        if (close_range((unsigned) (3 + n), ~0U, 0) < 0 && errno != ENOSYS)
                return fail(NULL, -errno, "Failed to close inherited file descriptors");

        names = malloc(n * len + 1);
        if (!names)
                return fail(NULL, -ENOMEM, NULL);
        names[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(names, ":");
                strcat(names, name);
        }
        snprintf(buf, sizeof(buf), "%zu", n);
        setenv("LISTEN_FDS", buf, 1);
        snprintf(buf, sizeof(buf), "%d", (int) getpid());
        setenv("LISTEN_PID", buf, 1);
        setenv("LISTEN_FDNAMES", names, 1);
        free(names);

        execvp(command[0], command);
        {
                char ctx[512];
                snprintf(ctx, sizeof(ctx), "Failed to execute '%s'", command[0]);
                return fail(NULL, -errno, ctx);
        }
}

/* Everything after "--" is the command, untouched by option parsing: returns it (NULL if
 * there is no "--") and shortens argc to what comes before. */
static char **split_command(int *argc, char *argv[]) {
        for (int i = 1; i < *argc; i++)
                if (strcmp(argv[i], "--") == 0) {
                        *argc = i;
                        return argv + i + 1;
                }
        return NULL;
}

/* The end of bind and bind-unix: n sockets (or -errno) from the daemon, printed or
 * handed to command. Closes c. */
static int finish_bind(netutil_client *c, int n, netutil_socket *s, const char *name, char **command) {
        int r;

        if (n < 0) {
                r = fail(c, n, "Failed to bind");
                netutil_client_close(c);
                return r;
        }
        netutil_client_close(c);
        if (command)
                return exec_with_sockets(s, (size_t) n, name ? name : "netutil", command);
        print_sockets(s, (size_t) n);
        netutil_sockets_free(s, (size_t) n);
        return 0;
}

static int verb_bind(int argc, char *argv[]) {
        static const struct option options[] = {
                { "address", required_argument, NULL, 'a' }, { "family", required_argument, NULL, 'f' },
                { "udp", no_argument, NULL, 'u' },           { "backlog", required_argument, NULL, 'b' },
                { "flags", required_argument, NULL, 'F' },   { "reuse-port", no_argument, NULL, 'r' },
                { "name", required_argument, NULL, 'n' },    { "hold", no_argument, NULL, 'H' },
                {},
        };
        netutil_bind_options o = NETUTIL_BIND_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        char **command = NULL;
        int ch, r, n;

        command = split_command(&argc, argv);
        if (command && !command[0])
                return usage_error("bind: missing command after '--'");

        optind = 0;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (ch) {
                case 'a':
                        o.address = optarg;
                        break;
                case 'f':
                        if (parse_family(optarg, &o.family) < 0)
                                return usage_error("bind: invalid --family '%s': expected any, ipv4 or ipv6", optarg);
                        break;
                case 'u':
                        o.udp = 1;
                        break;
                case 'b':
                        if (parse_int(optarg, INT32_MIN, INT32_MAX, &o.backlog) < 0)
                                return usage_error("bind: invalid --backlog '%s'", optarg);
                        break;
                case 'F':
                        if (parse_ai_flags(optarg, &o.flags) < 0)
                                return usage_error("bind: invalid --flags '%s': expected a comma list of passive, "
                                                   "canonname, numerichost, numericserv, v4mapped, all, addrconfig",
                                                   optarg);
                        break;
                case 'r':
                        o.reuse_port = 1;
                        break;
                case 'n':
                        o.name = optarg;
                        break;
                case 'H':
                        o.hold = 1;
                        break;
                default:
                        return usage_error("bind: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return usage_error(optind >= argc ? "bind: missing PORT" : "bind: too many arguments");
        o.port = argv[optind];
        if (o.hold && !o.name)
                return usage_error("bind: --hold needs --name");

        r = connect_daemon(&c);
        if (r != 0)
                return r;
        n = netutil_bind(c, &o, arg_timeout_usec, &s);
        return finish_bind(c, n, s, o.name, command);
}

static int verb_bind_unix(int argc, char *argv[]) {
        static const struct option options[] = {
                { "mode", required_argument, NULL, 'm' }, { "backlog", required_argument, NULL, 'b' },
                { "name", required_argument, NULL, 'n' }, { "hold", no_argument, NULL, 'H' },
                {},
        };
        netutil_bind_unix_options o = NETUTIL_BIND_UNIX_OPTIONS_INIT;
        netutil_client *c = NULL;
        netutil_socket *s = NULL;
        char **command = NULL, abstract[128];
        int ch, r, n;

        command = split_command(&argc, argv);
        if (command && !command[0])
                return usage_error("bind-unix: missing command after '--'");

        optind = 0;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (ch) {
                case 'm': {
                        char *end;
                        unsigned long mode;
                        errno = 0;
                        mode = strtoul(optarg, &end, 8);
                        if (errno || end == optarg || *end || mode > 0777)
                                return usage_error("bind-unix: invalid --mode '%s': expected octal 0000-0777", optarg);
                        o.mode = (unsigned) mode;
                        break;
                }
                case 'b':
                        if (parse_int(optarg, INT32_MIN, INT32_MAX, &o.backlog) < 0)
                                return usage_error("bind-unix: invalid --backlog '%s'", optarg);
                        break;
                case 'n':
                        o.name = optarg;
                        break;
                case 'H':
                        o.hold = 1;
                        break;
                default:
                        return usage_error("bind-unix: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return usage_error(optind >= argc ? "bind-unix: missing PATH" : "bind-unix: too many arguments");
        if (o.hold && !o.name)
                return usage_error("bind-unix: --hold needs --name");
        o.path = argv[optind];
        if (o.path[0] == '@') {
                /* "@name" is the abstract name "\0name", as systemd and ss write it. */
                size_t len = strlen(o.path);
                if (len > sizeof(abstract) - 1 || len < 2)
                        return usage_error("bind-unix: invalid abstract name '%s'", o.path);
                abstract[0] = '\0';
                memcpy(abstract + 1, o.path + 1, len - 1);
                o.path = abstract;
                o.path_len = len;
        }

        r = connect_daemon(&c);
        if (r != 0)
                return r;
        n = netutil_bind_unix(c, &o, arg_timeout_usec, &s);
        return finish_bind(c, n, s, o.name, command);
}

/* Tornado's is_valid_ip() in this process; no daemon. The answer is the exit status, as
 * test(1) gives it: 0 "yes", 1 "no"; a getaddrinfo() failure other than "not an address"
 * is an error (exit 1 with a message), not a "no". STRING is taken as it is, options
 * included: "--help" is simply not an address. */
static int verb_is_valid_ip(int argc, char *argv[]) {
        char ctx[512];
        int r;

        if (argc != 2)
                return usage_error(argc < 2 ? "is-valid-ip: missing STRING" : "is-valid-ip takes one STRING");
        r = netutil_is_valid_ip(argv[1]);
        if (r < 0) {
                snprintf(ctx, sizeof(ctx), "Cannot check '%s'", argv[1]);
                return fail(NULL, r, ctx);
        }
        if (arg_json) {
                JsonWriter w = { .f = stdout };
                json_begin_object(&w, NULL);
                json_bool(&w, "valid", r > 0);
                json_end_object(&w);
                json_finish(&w);
        } else
                puts(r > 0 ? "yes" : "no");
        return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* "ADDRESS" and port of a resolved address, the IPv6 scope as %N. */
static void format_address(const netutil_address *a, char *buf, size_t len, unsigned *port) {
        buf[0] = '\0';
        *port = 0;
        if (a->family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &a->address;
                inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t) len);
                *port = ntohs(in->sin_port);
        } else if (a->family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &a->address;
                inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t) len);
                *port = ntohs(in6->sin6_port);
        }
}

static int verb_resolve(int argc, char *argv[]) {
        static const struct option options[] = {
                { "family", required_argument, NULL, 'f' },
                { "scope", required_argument, NULL, 's' },
                {},
        };
        const char *scope = NULL;
        netutil_client *c = NULL;
        netutil_address *a = NULL;
        int ch, r, n, family = AF_UNSPEC, port = 0;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (ch) {
                case 'f':
                        if (parse_family(optarg, &family) < 0)
                                return usage_error("resolve: invalid --family '%s': expected any, ipv4 or ipv6", optarg);
                        break;
                case 's':
                        scope = optarg;
                        break;
                default:
                        return usage_error("resolve: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc || argc - optind > 2)
                return usage_error(optind >= argc ? "resolve: missing HOST" : "resolve: too many arguments");
        if (argc - optind == 2 && parse_int(argv[optind + 1], 0, 65535, &port) < 0)
                return usage_error("resolve: invalid PORT '%s': expected 0-65535", argv[optind + 1]);

        r = connect_daemon(&c);
        if (r != 0)
                return r;
        n = netutil_resolve(c, argv[optind], (unsigned) port, family, scope, arg_timeout_usec, &a);
        if (n < 0) {
                r = fail(c, n, "Failed to resolve");
                netutil_client_close(c);
                return r;
        }
        netutil_client_close(c);

        JsonWriter w = { .f = stdout };
        if (arg_json) {
                json_begin_object(&w, NULL);
                json_begin_array(&w, "addresses");
        }
        for (int i = 0; i < n; i++) {
                char addr[INET6_ADDRSTRLEN];
                unsigned p;

                format_address(&a[i], addr, sizeof(addr), &p);
                if (arg_json) {
                        json_begin_object(&w, NULL);
                        json_string(&w, "family", family_name(a[i].family));
                        json_string(&w, "address", addr);
                        json_uint(&w, "port", p);
                        if (a[i].family == AF_INET6) {
                                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &a[i].address;
                                json_uint(&w, "flowinfo", ntohl(in6->sin6_flowinfo));
                                json_uint(&w, "scope_id", in6->sin6_scope_id);
                        }
                        json_end_object(&w);
                } else
                        printf("%s %s %u\n", family_name(a[i].family), addr, p);
        }
        if (arg_json) {
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
        }
        free(a);
        return 0;
}

/* override set|del|list|clear per CLI.md. */
static int verb_override(int argc, char *argv[]) {
        static const struct option options[] = {
                { "scope", required_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
                { "family", required_argument, NULL, 'f' }, { "to-port", required_argument, NULL, 't' },
                { "ttl", required_argument, NULL, 'T' },     {},
        };
        const char *scope = NULL, *sub;
        int ch, r, port = -1, family = -1, to_port = -1, n_args;
        uint64_t ttl = 0;
        netutil_client *c = NULL;

        if (argc < 2)
                return usage_error("override: expected set, del, list or clear");
        sub = argv[1];
        argc--;
        argv++;
        optind = 0;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (ch) {
                case 's':
                        if (!*optarg)
                                return usage_error("override: --scope needs a name");
                        scope = optarg;
                        break;
                case 'p':
                        if (parse_int(optarg, 0, 65535, &port) < 0)
                                return usage_error("override: invalid --port '%s': expected 0-65535", optarg);
                        break;
                case 't':
                        if (parse_int(optarg, 0, 65535, &to_port) < 0)
                                return usage_error("override: invalid --to-port '%s': expected 0-65535", optarg);
                        break;
                case 'f':
                        if (parse_family(optarg, &family) < 0 || family == AF_UNSPEC)
                                return usage_error("override: invalid --family '%s': expected ipv4 or ipv6", optarg);
                        break;
                case 'T': {
                        char *end;
                        double t;
                        errno = 0;
                        t = strtod(optarg, &end);
                        if (errno || end == optarg || *end || !isfinite(t) || t <= 0 || t > 86400.0 * 3650)
                                return usage_error("override: invalid --ttl '%s': expected seconds > 0", optarg);
                        ttl = (uint64_t) (t * 1e6);
                        break;
                }
                default:
                        return usage_error("override: unknown option '%s'", argv[optind - 1]);
                }
        }
        n_args = argc - optind;
        if (family >= 0 && port < 0)
                return usage_error("override: --family needs --port");

        if (strcmp(sub, "set") == 0) {
                if (n_args != 2)
                        return usage_error("override set: expected HOST TARGET");
                if ((port < 0) != (to_port < 0))
                        return usage_error("override set: --port and --to-port go together");
        } else if (strcmp(sub, "del") == 0) {
                if (n_args != 1)
                        return usage_error("override del: expected HOST");
                if (to_port >= 0 || ttl)
                        return usage_error("override del: --to-port and --ttl are for set");
        } else if (strcmp(sub, "list") == 0 || strcmp(sub, "clear") == 0) {
                if (n_args != 0 || port >= 0 || to_port >= 0 || ttl)
                        return usage_error("override %s: takes only --scope", sub);
        } else
                return usage_error("override: unknown subcommand '%s'", sub);

        r = connect_daemon(&c);
        if (r != 0)
                return r;
        if (strcmp(sub, "set") == 0)
                r = netutil_override_set(c, scope, argv[optind], port, family, argv[optind + 1], to_port, ttl,
                                         arg_timeout_usec);
        else if (strcmp(sub, "del") == 0)
                r = netutil_override_del(c, scope, argv[optind], port, family, arg_timeout_usec);
        else if (strcmp(sub, "clear") == 0)
                r = netutil_override_clear(c, scope, arg_timeout_usec);
        else {
                netutil_override *o = NULL;
                JsonWriter w = { .f = stdout };
                int n = netutil_override_list(c, scope, arg_timeout_usec, &o);

                if (n < 0) {
                        r = fail(c, n, "Failed to list overrides");
                        netutil_client_close(c);
                        return r;
                }
                if (arg_json) {
                        json_begin_object(&w, NULL);
                        json_begin_array(&w, "overrides");
                }
                for (int i = 0; i < n; i++) {
                        const char *fam = o[i].family < 0 ? NULL
                                                          : o[i].family == AF_UNSPEC ? "any" : family_name(o[i].family);
                        if (arg_json) {
                                json_begin_object(&w, NULL);
                                json_string(&w, "scope", o[i].scope ? o[i].scope : "global");
                                json_string(&w, "host", o[i].host);
                                if (o[i].port >= 0)
                                        json_uint(&w, "port", (uint64_t) o[i].port);
                                else
                                        json_null(&w, "port");
                                json_string(&w, "family", fam);
                                json_string(&w, "target", o[i].target);
                                if (o[i].target_port >= 0)
                                        json_uint(&w, "target_port", (uint64_t) o[i].target_port);
                                else
                                        json_null(&w, "target_port");
                                if (o[i].expires_in_usec >= 0)
                                        /* Whole seconds, rounded up: a live rule never shows 0. */
                                        json_uint(&w, "expires_in", ((uint64_t) o[i].expires_in_usec + 999999) / 1000000);
                                else
                                        json_null(&w, "expires_in");
                                json_end_object(&w);
                        } else {
                                printf("%s %s", o[i].scope ? o[i].scope : "global", o[i].host);
                                if (o[i].port >= 0)
                                        printf(" port %d", o[i].port);
                                if (fam)
                                        printf(" %s", fam);
                                printf(" -> %s", o[i].target);
                                if (o[i].target_port >= 0)
                                        printf(" port %d", o[i].target_port);
                                if (o[i].expires_in_usec >= 0)
                                        printf(" (expires in %" PRIu64 "s)",
                                               ((uint64_t) o[i].expires_in_usec + 999999) / 1000000);
                                putchar('\n');
                        }
                }
                if (arg_json) {
                        json_end_array(&w);
                        json_end_object(&w);
                        json_finish(&w);
                }
                netutil_overrides_free(o, (size_t) n);
                netutil_client_close(c);
                return 0;
        }
        if (r < 0) {
                r = fail(c, r, "Failed to change overrides");
                netutil_client_close(c);
                return r;
        }
        netutil_client_close(c);
        if (arg_json) {
                JsonWriter w = { .f = stdout };
                json_begin_object(&w, NULL);
                json_end_object(&w);
                json_finish(&w);
        }
        return 0;
}

static void help(void) {
        printf("Usage: netutilctl [OPTIONS] COMMAND ...\n\n"
               "Control netutild: sockets bound for you, names resolved with overrides.\n\n"
               "Commands:\n"
               "  status                 show the daemon's version, clients and counters\n"
               "  bind [OPTIONS] PORT [-- COMMAND [ARG...]]\n"
               "                         sockets bound by the daemon, as Tornado's bind_sockets();\n"
               "                         printed, or passed to COMMAND as fds 3... (LISTEN_FDS)\n"
               "      --address ADDR     address or host name (default: all interfaces)\n"
               "      --family any|ipv4|ipv6\n"
               "      --udp              datagram sockets (no listen)\n"
               "      --backlog N        listen() backlog (default 128)\n"
               "      --flags LIST       getaddrinfo flags: passive,numerichost,... (default passive)\n"
               "      --reuse-port       SO_REUSEPORT\n"
               "      --name NAME        name of the socket(s), LISTEN_FDNAMES\n"
               "      --hold             keep the socket(s) in the daemon under NAME\n"
               "  bind-unix [OPTIONS] PATH [-- COMMAND [ARG...]]\n"
               "                         a unix socket made by the daemon, owned by you, as\n"
               "                         Tornado's bind_unix_socket(); @NAME is abstract\n"
               "      --mode OCTAL       node permissions (default 0600)\n"
               "      --backlog N, --name NAME, --hold   as for bind\n"
               "  hold list              held sockets you may use\n"
               "  hold release NAME      close the daemon's copy of NAME\n"
               "  resolve [--family any|ipv4|ipv6] [--scope SCOPE] HOST [PORT]\n"
               "                         addresses of HOST, overrides applied (scope default:\n"
               "                         $NETUTIL_SCOPE, else the global table only)\n"
               "  override set [--scope S] [--port P [--family F] --to-port P] [--ttl SEC] HOST TARGET\n"
               "  override del [--scope S] [--port P [--family F]] HOST\n"
               "  override list [--scope S]\n"
               "  override clear [--scope S]\n"
               "                         central overrides (no --scope: the global table)\n"
               "  is-valid-ip STRING     \"yes\" (exit 0) if STRING is an IPv4 or IPv6 address\n"
               "                         literal, as Tornado's is_valid_ip(); else \"no\" (exit 1)\n\n"
               "Options:\n"
               "  -s, --socket PATH      daemon socket (default: $NETUTILD_SOCKET, then\n"
               "                         /run/netutild/netutild.sock for root, else\n"
               "                         $XDG_RUNTIME_DIR/netutild/netutild.sock)\n"
               "  -j, --json             print one JSON object (errors too)\n"
               "  -t, --timeout SECONDS  give up on the daemon after this long (default 25)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "Exit status: 0 success, 1 the operation failed (is-valid-ip: \"no\"), 2 usage error.\n");
}

static const struct {
        const char *name;
        int (*func)(int argc, char *argv[]);
} verbs[] = {
        { "status", verb_status },
        { "bind", verb_bind },
        { "hold", verb_hold },
        { "bind-unix", verb_bind_unix },
        { "resolve", verb_resolve },
        { "override", verb_override },
        { "is-valid-ip", verb_is_valid_ip },
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
