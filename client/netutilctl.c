/* SPDX-License-Identifier: MIT */

/*
 * netutilctl — the command line of CLI.md. Owns option parsing, the exit status
 * contract (0 ok, 1 failed, 2 usage), the help of every command, text and --json output,
 * and status's look at this machine's NSS setup (module files, nsswitch.conf: read
 * only). Talks to the daemon only through libnetutil's public API; must not write
 * anything but stdout and stderr.
 */

#include <arpa/inet.h>
#include <ctype.h>
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
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "text.h"
#include "macro.h"
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

static int command_help(const char *verb);
static bool is_help_option(const char *s);

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

        /* The daemon's words are escaped like every string we print (text.h). */
        fputs("netutilctl: ", stderr);
        text_fputs_escaped(msg, stderr);
        fputc('\n', stderr);
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

/* Connects to the daemon at --socket or the default path. On success, *ret_path (if not
 * NULL) gets the path used, malloc()ed and the caller's. Returns 0 or EXIT_FAILURE (after
 * reporting). */
static int connect_daemon(netutil_client **ret, char **ret_path) {
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
        if (ret_path) {
                if (!path && !(path = strdup(arg_socket))) {
                        *ret = netutil_client_close(*ret);
                        return fail(NULL, -ENOMEM, NULL);
                }
                *ret_path = TAKE_PTR(path);
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

/* ---- the NSS module, as glibc would find it ------------------------------------------ */

/* The module glibc loads for the service "netutil" (dlopen("libnss_netutil.so.2")). */
#define NSS_SERVICE "netutil"
#define NSS_MODULE "libnss_" NSS_SERVICE ".so.2"
#define NSSWITCH_CONF "/etc/nsswitch.conf"
#define LD_SO_CACHE "/etc/ld.so.cache"
/* ld.so.cache is read whole to look for the module's path: a few hundred KiB on a system
 * with thousands of libraries; a larger file is not a cache we should be reading. */
#define LD_SO_CACHE_MAX (16u * 1024u * 1024u)

static bool is_regular_file(const char *path) {
        struct stat st;

        return stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

/* Looks for "/…/libnss_netutil.so.2" in ld.so.cache, where ldconfig lists every library
 * of the directories in ld.so.conf (/usr/local/lib included on Debian). The cache's string
 * table holds each library's full path NUL-terminated, so the path is the string that
 * ends with "/" NSS_MODULE; it counts only if the file is still there. */
static bool nss_find_in_ld_cache(char *path, size_t len) {
        static const char needle[] = "/" NSS_MODULE; /* sizeof includes the NUL: a whole name */
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(LD_SO_CACHE, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
            (uintmax_t) st.st_size > LD_SO_CACHE_MAX)
                return false;
        buf = malloc((size_t) st.st_size);
        if (!buf)
                return false;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        for (const char *p = buf; (p = memmem(p, n - (size_t) (p - buf), needle, sizeof(needle))); p++) {
                const char *start = p;
                size_t l;

                while (start > buf && start[-1] != '\0')
                        start--;
                l = (size_t) (p - start) + sizeof(needle) - 1;
                if (*start != '/' || l >= len)
                        continue;
                memcpy(path, start, l);
                path[l] = '\0';
                if (is_regular_file(path))
                        return true;
        }
        return false;
}

/* Whether glibc would find the module: in the loader's own directories (the multiarch
 * ones of this build first, then the generic ones), or through ld.so.cache. On success
 * path holds where it is. */
static bool nss_find_module(char *path, size_t len) {
        static const char *const generic[] = { "/lib64", "/usr/lib64", "/lib", "/usr/lib" };
        const char *multiarch = NETUTILCTL_MULTIARCH; /* "x86_64-linux-gnu", or "" off Debian */

        for (size_t i = 0; multiarch[0] && i < 2; i++) {
                snprintf(path, len, "%s/%s/%s", i == 0 ? "/lib" : "/usr/lib", multiarch, NSS_MODULE);
                if (is_regular_file(path))
                        return true;
        }
        for (size_t i = 0; i < ELEMENTSOF(generic); i++) {
                snprintf(path, len, "%s/%s", generic[i], NSS_MODULE);
                if (is_regular_file(path))
                        return true;
        }
        if (nss_find_in_ld_cache(path, len))
                return true;
        path[0] = '\0';
        return false;
}

/* Whether the services of one database line (what follows "hosts:") name service, read
 * as glibc's __nss_action_parse() reads them: words ending at whitespace or '[', each
 * optionally followed by one "[STATUS=ACTION ...]" group. A malformed line, which glibc
 * refuses, names nothing. */
static bool nss_services_name(const char *p, const char *service) {
        size_t want = strlen(service);
        bool found = false;

        for (;;) {
                const char *word;

                while (isspace((unsigned char) *p))
                        p++;
                if (*p == '\0')
                        return found;
                word = p;
                while (*p && !isspace((unsigned char) *p) && *p != '[')
                        p++;
                if (p == word) /* an action group without a service before it */
                        return false;
                if ((size_t) (p - word) == want && strncmp(word, service, want) == 0)
                        found = true;
                while (isspace((unsigned char) *p))
                        p++;
                if (*p == '[') {
                        const char *close = strchr(p, ']');
                        if (!close) /* unterminated action group */
                                return false;
                        p = close + 1;
                }
        }
}

/* Whether nsswitch.conf has comments inside a line. glibc 2.33 rewrote its reader
 * (nss/nss_database.c), which knows none: in "hosts: files # netutil", "#" is a service
 * (whose module fails to load) and netutil the next one, consulted. A line that starts with
 * '#' is still skipped there, as "#hosts" names no database. Older glibc cut every line at
 * its first '#'. */
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
#define NSSWITCH_INLINE_COMMENTS 0
#else
#define NSSWITCH_INLINE_COMMENTS 1
#endif

/* Whether service is named on the hosts line of file, parsed as the glibc we are built
 * against parses it: a line is a database name, then any whitespace and colons, then the
 * services; the last "hosts" line wins. A missing file means glibc's built-in default,
 * which has no netutil. Returns 1, 0 or -errno. */
static int nss_configured(const char *file, const char *service) {
        _cleanup_(freep) char *line = NULL;
        FILE *f = NULL;
        size_t cap = 0;
        int found = 0;

        f = fopen(file, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        /* Lines of any length, as glibc reads them; the file is the administrator's. */
        while (getline(&line, &cap, f) >= 0) {
                char *p = line, *name = NULL, *hash = strchr(line, '#');

                if (hash && NSSWITCH_INLINE_COMMENTS)
                        *hash = '\0';
                while (isspace((unsigned char) *p))
                        p++;
                name = p;
                while (*p && !isspace((unsigned char) *p) && *p != ':')
                        p++;
                if (*p == '\0' || p - name != 5 || strncmp(name, "hosts", 5) != 0)
                        continue;
                while (*p && (isspace((unsigned char) *p) || *p == ':'))
                        p++;
                found = nss_services_name(p, service);
        }
        fclose(f);
        return found;
}

static int verb_status(int argc, char *argv[]) {
        netutil_client *c = NULL;
        netutil_status *s = NULL;
        char *socket_path = NULL, nss_path[4096];
        bool nss_installed;
        int r, nss_conf;

        if (argc == 2 && is_help_option(argv[1]))
                return command_help("status");
        if (argc > 1)
                return usage_error("status takes no arguments");
        r = connect_daemon(&c, &socket_path);
        if (r != 0)
                return r;
        r = netutil_status_get(c, arg_timeout_usec, &s);
        if (r < 0) {
                r = fail(c, r, "Failed to get the daemon status");
                netutil_client_close(c);
                free(socket_path);
                return r;
        }
        netutil_client_close(c);
        nss_installed = nss_find_module(nss_path, sizeof(nss_path));
        nss_conf = nss_configured(NSSWITCH_CONF, NSS_SERVICE);

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
                json_string(&w, "socket", socket_path);
                json_begin_object(&w, "nss");
                json_bool(&w, "installed", nss_installed);
                json_string(&w, "path", nss_installed ? nss_path : NULL);
                /* null: nsswitch.conf exists but cannot be read */
                if (nss_conf < 0)
                        json_null(&w, "configured");
                else
                        json_bool(&w, "configured", nss_conf > 0);
                json_end_object(&w);
                json_end_object(&w);
                json_finish(&w);
        } else {
                char up[64];
                format_duration(up, sizeof(up), s->uptime_usec);
                printf("     Version: netutild %s\n"
                       "         PID: %" PRIu32 " (%s mode)\n"
                       "      Socket: %s\n"
                       "      Uptime: %s\n"
                       "     Clients: %" PRIu32 " (max %" PRIu32 ")\n"
                       "    Requests: %" PRIu64 "\n"
                       "        Held: %" PRIu32 " socket%s\n"
                       "   Overrides: %" PRIu32 "\n"
                       "    Resolver: %s\n"
                       "      Policy: %" PRIu32 " rule%s\n",
                       s->version, s->pid, s->mode, socket_path, up, s->clients, s->max_clients, s->requests,
                       s->held, s->held == 1 ? "" : "s", s->overrides, s->resolver, s->policy_rules,
                       s->policy_rules == 1 ? "" : "s");
                printf("  NSS module: %s; %s\n", nss_installed ? nss_path : "not installed",
                       nss_conf > 0    ? "named on the hosts: line of " NSSWITCH_CONF
                       : nss_conf == 0 ? "not named on the hosts: line of " NSSWITCH_CONF
                                       : "cannot read " NSSWITCH_CONF);
        }
        netutil_status_free(s);
        free(socket_path);
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

/* A port as the command line takes it: 0 to 65535 in decimal, or a service name that
 * /etc/services has for the protocol, as getaddrinfo() in Tornado's bind_sockets() takes it
 * ("http"). getaddrinfo() would take "70000" as port 4464, and "+80" as a name. */
static bool is_port(const char *s, bool udp) {
        int v;

        if (s[strspn(s, "0123456789")] == '\0')
                return parse_int(s, 0, 65535, &v) >= 0;
        return getservbyname(s, udp ? "udp" : "tcp") != NULL;
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
                        } else {
                                text_fputs_escaped(prefix, stdout);
                                printf("unix %s ", type);
                                text_fputs_escaped(path, stdout);
                                putchar('\n');
                        }
                        continue;
                }
                if (arg_json) {
                        json_begin_object(w, NULL);
                        json_string(w, "family", family_name(s[i].family));
                        json_string(w, "type", type);
                        json_string(w, "address", addr);
                        json_uint(w, "port", port);
                        json_end_object(w);
                } else {
                        text_fputs_escaped(prefix, stdout);
                        printf("%s %s %s %u\n", family_name(s[i].family), type, addr, port);
                }
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

        for (int i = 1; i < argc; i++)
                if (is_help_option(argv[i]))
                        return command_help("hold");
        if (argc < 2)
                return usage_error("hold: expected 'list' or 'release NAME'");
        if (strcmp(argv[1], "list") == 0) {
                netutil_held *h = NULL;
                JsonWriter w = { .f = stdout };
                int n;

                if (argc != 2)
                        return usage_error("hold list takes no arguments");
                r = connect_daemon(&c, NULL);
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
                r = connect_daemon(&c, NULL);
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
        if (command) {
                /* Returns only if the exec failed: the sockets go, as after printing. */
                r = exec_with_sockets(s, (size_t) n, name ? name : "netutil", command);
                netutil_sockets_free(s, (size_t) n);
                return r;
        }
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
                { "help", no_argument, NULL, 'h' },          {},
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
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
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
                        if (parse_int(optarg, 0, INT32_MAX, &o.backlog) < 0)
                                return usage_error("bind: invalid --backlog '%s': expected 0 or more", optarg);
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
                case 'h':
                        return command_help("bind");
                default:
                        return usage_error("bind: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return usage_error(optind >= argc ? "bind: missing PORT" : "bind: too many arguments");
        o.port = argv[optind];
        if (!is_port(o.port, o.udp))
                return usage_error("bind: invalid PORT '%s': expected 0 to 65535 or a service name", o.port);
        if (o.hold && !o.name)
                return usage_error("bind: --hold needs --name");

        r = connect_daemon(&c, NULL);
        if (r != 0)
                return r;
        n = netutil_bind(c, &o, arg_timeout_usec, &s);
        return finish_bind(c, n, s, o.name, command);
}

static int verb_bind_unix(int argc, char *argv[]) {
        static const struct option options[] = {
                { "mode", required_argument, NULL, 'm' }, { "backlog", required_argument, NULL, 'b' },
                { "name", required_argument, NULL, 'n' }, { "hold", no_argument, NULL, 'H' },
                { "help", no_argument, NULL, 'h' },       {},
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
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
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
                        if (parse_int(optarg, 0, INT32_MAX, &o.backlog) < 0)
                                return usage_error("bind-unix: invalid --backlog '%s': expected 0 or more", optarg);
                        break;
                case 'n':
                        o.name = optarg;
                        break;
                case 'H':
                        o.hold = 1;
                        break;
                case 'h':
                        return command_help("bind-unix");
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

        r = connect_daemon(&c, NULL);
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
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *scope = NULL;
        netutil_client *c = NULL;
        netutil_address *a = NULL;
        int ch, r, n, family = AF_UNSPEC, port = 0;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (ch) {
                case 'f':
                        if (parse_family(optarg, &family) < 0)
                                return usage_error("resolve: invalid --family '%s': expected any, ipv4 or ipv6", optarg);
                        break;
                case 's':
                        scope = optarg;
                        break;
                case 'h':
                        return command_help("resolve");
                default:
                        return usage_error("resolve: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc || argc - optind > 2)
                return usage_error(optind >= argc ? "resolve: missing HOST" : "resolve: too many arguments");
        if (argc - optind == 2 && parse_int(argv[optind + 1], 0, 65535, &port) < 0)
                return usage_error("resolve: invalid PORT '%s': expected 0-65535", argv[optind + 1]);

        r = connect_daemon(&c, NULL);
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
                { "ttl", required_argument, NULL, 'T' },     { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *scope = NULL, *sub;
        int ch, r, port = -1, family = -1, to_port = -1, n_args;
        uint64_t ttl = 0;
        netutil_client *c = NULL;

        if (argc >= 2 && is_help_option(argv[1]))
                return command_help("override");
        if (argc < 2)
                return usage_error("override: expected set, del, list or clear");
        sub = argv[1];
        argc--;
        argv++;
        optind = 0;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
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
                case 'h':
                        return command_help("override");
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

        r = connect_daemon(&c, NULL);
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
                                if (o[i].source) /* only drop-in rules: the others' shape is CLI.md's */
                                        json_string(&w, "source", o[i].source);
                                json_end_object(&w);
                        } else {
                                /* Names come from other users: escaped (text.h). */
                                text_fputs_escaped(o[i].scope ? o[i].scope : "global", stdout);
                                putchar(' ');
                                text_fputs_escaped(o[i].host, stdout);
                                if (o[i].port >= 0)
                                        printf(" port %d", o[i].port);
                                if (fam)
                                        printf(" %s", fam);
                                fputs(" -> ", stdout);
                                text_fputs_escaped(o[i].target, stdout);
                                if (o[i].target_port >= 0)
                                        printf(" port %d", o[i].target_port);
                                if (o[i].expires_in_usec >= 0)
                                        printf(" (expires in %" PRIu64 "s)",
                                               ((uint64_t) o[i].expires_in_usec + 999999) / 1000000);
                                if (o[i].source)
                                {
                                        fputs(" (read-only, ", stdout);
                                        text_fputs_escaped(o[i].source, stdout);
                                        putchar(')');
                                }
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

/* ---- help ---------------------------------------------------------------------------- */

static void help(void) {
        printf("Usage: netutilctl [OPTIONS] COMMAND ...\n\n"
               "Control netutild: sockets bound for you, names resolved with overrides.\n\n"
               "Commands:\n"
               "  status                 show the daemon's version, uptime, clients, held sockets,\n"
               "                         overrides, resolver, policy, and the NSS module's state\n"
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
               "                         literal, as Tornado's is_valid_ip(); else \"no\" (exit 1)\n"
               "  help [COMMAND]         this help, or one command's (also: COMMAND --help)\n\n"
               "Options:\n"
               "  -s, --socket PATH      daemon socket (default: $NETUTILD_SOCKET, then\n"
               "                         " NETUTILD_SOCKET_PATH " for root, else\n"
               "                         $XDG_RUNTIME_DIR/netutild/netutild.sock)\n"
               "  -j, --json             print one JSON object (errors too)\n"
               "  -t, --timeout SECONDS  give up on the daemon after this long (default 25)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "Exit status: 0 success, 1 the operation failed (is-valid-ip: \"no\"), 2 usage error.\n"
               "See 'netutilctl help COMMAND' for a command's options and examples, and\n"
               "netutilctl(1).\n");
}

/* One command's help: usage, what it does, options, examples. Global options (--socket,
 * --json, --timeout) go before the command and are in the main help. */
static const char help_status[] =
        "Usage: netutilctl [--socket PATH] [--json] status\n\n"
        "Show what the daemon is and how busy it is: version, pid and mode, the socket\n"
        "used, uptime, connected clients (this one included) and MaxClients=, requests\n"
        "served, held sockets, override rules, the resolver backend and the number of\n"
        "policy rules; and, from this machine, whether the NSS module libnss_netutil.so.2\n"
        "is installed where glibc looks and named on the hosts: line of /etc/nsswitch.conf.\n"
        "--json prints one object: version, pid, uptime_s, clients, held, overrides,\n"
        "resolver, mode, policy_rules, max_clients, requests, socket and\n"
        "nss {installed, path, configured}.\n\n"
        "Options:\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl status\n"
        "  netutilctl --json status\n";

static const char help_bind[] =
        "Usage: netutilctl bind [OPTIONS] PORT [-- COMMAND [ARG...]]\n\n"
        "Bind sockets in the daemon, under its policy, as Tornado's bind_sockets(PORT,\n"
        "ADDR, family, backlog, flags, reuse_port) would, and print them; with COMMAND,\n"
        "execute it (no fork) with the sockets as fds 3, 4, ... and LISTEN_FDS,\n"
        "LISTEN_PID and LISTEN_FDNAMES set as systemd sets them. PORT 0 is an ephemeral\n"
        "port shared by every family.\n\n"
        "Options:\n"
        "      --address ADDR     address or host name (default: all interfaces)\n"
        "      --family FAMILY    any (default), ipv4 or ipv6\n"
        "      --udp              datagram sockets (no listen)\n"
        "      --backlog N        listen() backlog (default 128)\n"
        "      --flags LIST       getaddrinfo flags, comma-separated: passive, canonname,\n"
        "                         numerichost, numericserv, v4mapped, all, addrconfig; 0 for\n"
        "                         none (default passive)\n"
        "      --reuse-port       SO_REUSEPORT; with --name, a new member of group NAME\n"
        "      --name NAME        name of the socket(s): held name, group, LISTEN_FDNAMES\n"
        "      --hold             keep the socket(s) in the daemon under NAME (needs --name)\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl bind 0\n"
        "  netutilctl bind --address 127.0.0.1 8080 -- ./app\n"
        "  netutilctl bind --name web --hold 443 -- ./app\n";

static const char help_bind_unix[] =
        "Usage: netutilctl bind-unix [OPTIONS] PATH [-- COMMAND [ARG...]]\n\n"
        "Make a listening unix socket at PATH in the daemon, owned by you, as Tornado's\n"
        "bind_unix_socket(PATH, mode, backlog): an existing socket is replaced, any other\n"
        "file is an error; PATH must lie below a directory an AllowUnix= rule gives you.\n"
        "@NAME is the abstract name NAME. Printed, or passed to COMMAND as for bind.\n\n"
        "Options:\n"
        "      --mode OCTAL       node permissions (default 0600)\n"
        "      --backlog N        listen() backlog (default 128)\n"
        "      --name NAME        name of the socket: held name, LISTEN_FDNAMES\n"
        "      --hold             keep the socket in the daemon under NAME (needs --name)\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl bind-unix --mode 0660 /run/app/app.sock\n"
        "  netutilctl bind-unix @app -- ./app\n";

static const char help_hold[] =
        "Usage: netutilctl hold list\n"
        "       netutilctl hold release NAME\n\n"
        "List the held sockets and reuseport groups you may use (name, owner uid, sockets),\n"
        "or close the daemon's copy of NAME; sockets already handed out keep working.\n\n"
        "Options:\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl hold list\n"
        "  netutilctl --json hold list\n"
        "  netutilctl hold release web\n";

static const char help_resolve[] =
        "Usage: netutilctl resolve [--family any|ipv4|ipv6] [--scope SCOPE] HOST [PORT]\n\n"
        "Resolve HOST (and PORT, default 0) in the daemon, with the overrides applied as\n"
        "Tornado's OverrideResolver applies them: (HOST, PORT, FAMILY), then (HOST, PORT),\n"
        "then HOST, in the scope's table and then the global one. One line per address,\n"
        "\"FAMILY ADDRESS PORT\", in the backend's order.\n\n"
        "Options:\n"
        "      --family FAMILY    any (default), ipv4 or ipv6\n"
        "      --scope SCOPE      override scope (default: $NETUTIL_SCOPE, else the global\n"
        "                         table only)\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl resolve example.com 443\n"
        "  netutilctl resolve --family ipv6 --scope run42 api.example.com 443\n";

static const char help_override[] =
        "Usage: netutilctl override set [--scope SCOPE] [--port PORT [--family F] --to-port PORT]\n"
        "                               [--ttl SECONDS] HOST TARGET\n"
        "       netutilctl override del [--scope SCOPE] [--port PORT [--family F]] HOST\n"
        "       netutilctl override list [--scope SCOPE]\n"
        "       netutilctl override clear [--scope SCOPE]\n\n"
        "Change or show the central overrides: HOST -> TARGET; with --port and --to-port,\n"
        "(HOST, PORT) -> (TARGET, TO-PORT); adding --family, (HOST, PORT, FAMILY) ->\n"
        "(TARGET, TO-PORT). set replaces a rule with the same key. Without --scope, the\n"
        "global table (root, or an AllowOverride= rule). Rules without --ttl survive a\n"
        "daemon restart.\n\n"
        "Options:\n"
        "      --scope SCOPE      the scope's table instead of the global one\n"
        "      --port PORT        the rule's key port (0-65535)\n"
        "      --family FAMILY    the rule's key family: ipv4 or ipv6 (needs --port)\n"
        "      --to-port PORT     the port the rule maps to (set; with --port)\n"
        "      --ttl SECONDS      the rule expires after this long (set)\n"
        "  -h, --help             show this help\n\n"
        "Examples:\n"
        "  netutilctl override set --scope run42 api.example.com 127.0.0.1\n"
        "  netutilctl override set --port 443 --to-port 8443 api.example.com 127.0.0.1\n"
        "  netutilctl override set --ttl 60 db.test 10.0.0.5\n"
        "  netutilctl --json override list --scope run42\n";

static const char help_is_valid_ip[] =
        "Usage: netutilctl is-valid-ip STRING\n\n"
        "Print \"yes\" and exit 0 if STRING is an IPv4 or IPv6 address literal, as Tornado's\n"
        "is_valid_ip() decides (getaddrinfo with AI_NUMERICHOST), else \"no\" and exit 1.\n"
        "Runs in this process, without the daemon. STRING is taken as it is, so\n"
        "\"is-valid-ip --help\" answers \"no\": use \"netutilctl help is-valid-ip\".\n"
        "--json prints {\"valid\": true|false}.\n\n"
        "Examples:\n"
        "  netutilctl is-valid-ip 2620:0:1cfe:face:b00c::3\n"
        "  netutilctl is-valid-ip www.example.com\n";

static const char help_help[] =
        "Usage: netutilctl help [COMMAND]\n\n"
        "Show the list of commands, or COMMAND's usage, options and examples.\n\n"
        "Examples:\n"
        "  netutilctl help\n"
        "  netutilctl help override\n";

static int verb_help(int argc, char *argv[]);

static const struct {
        const char *name;
        int (*func)(int argc, char *argv[]);
        const char *help;
} verbs[] = {
        { "status", verb_status, help_status },
        { "bind", verb_bind, help_bind },
        { "hold", verb_hold, help_hold },
        { "bind-unix", verb_bind_unix, help_bind_unix },
        { "resolve", verb_resolve, help_resolve },
        { "override", verb_override, help_override },
        { "is-valid-ip", verb_is_valid_ip, help_is_valid_ip },
        { "help", verb_help, help_help },
};

/* Prints the help of command verb on stdout. Returns 0, or the usage error if there is no
 * such command. */
static int command_help(const char *verb) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, verb) == 0) {
                        fputs(verbs[i].help, stdout);
                        return 0;
                }
        return usage_error("help: unknown command '%s'", verb);
}

static int verb_help(int argc, char *argv[]) {
        if (argc > 2)
                return usage_error("help takes at most one COMMAND");
        if (argc == 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0)
                return command_help(argv[1]);
        if (argc == 2)
                return command_help("help");
        help();
        return 0;
}

static bool is_help_option(const char *s) {
        return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

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
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0)
                        return verbs[i].func(argc - optind, argv + optind);
        return usage_error("unknown command '%s'", argv[optind]);
}
