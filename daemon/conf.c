/* SPDX-License-Identifier: MIT */

/*
 * The configuration parser (conf.h). Owns INI syntax, the [Daemon] keys and the
 * collection of [Policy] lines. Must not apply anything or touch the filesystem outside
 * config_load().
 *
 * Our own parser rather than inih: Debian's inih is built with 200-byte lines, only ";"
 * for inline comments (CLI.md's examples use "#"), and no line numbers in errors.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "macro.h"
#include "netutil-proto.h"

const char config_embedded_default[] =
        "# netutild embedded default configuration (user mode, or no config file).\n"
        "# Policy defaults: root may do everything; every uid may bind port 0 and ports at\n"
        "# or above net.ipv4.ip_unprivileged_port_start, and set overrides in its own scopes.\n"
        "[Daemon]\n"
        "Resolver=threadpool\n"
        "ResolverThreads=16\n"
        "MaxClients=1024\n"
        "\n"
        "[Policy]\n";

static const char *const resolver_names[_RESOLVER_MAX] = {
        [RESOLVER_THREADPOOL] = "threadpool",
        [RESOLVER_CARES] = "cares",
        [RESOLVER_BLOCKING] = "blocking",
};

const char *resolver_kind_to_string(ResolverKind k) {
        return k < _RESOLVER_MAX ? resolver_names[k] : NULL;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_rules; i++) {
                free(c->rules[i].key);
                free(c->rules[i].value);
                free(c->rules[i].file);
        }
        free(c->rules);
        free(c);
        return NULL;
}

static Config *config_new(void) {
        Config *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->resolver = RESOLVER_THREADPOOL;
        c->resolver_threads = 16;
        c->max_clients = PROTO_DEFAULT_MAX_CLIENTS;
        c->max_clients_per_user = CONFIG_DEFAULT_MAX_CLIENTS_PER_USER;
        c->max_requests_per_user = CONFIG_DEFAULT_MAX_REQUESTS_PER_USER;
        c->resolve_timeout_sec = CONFIG_DEFAULT_RESOLVE_TIMEOUT_SEC;
        c->max_persistent_rules_per_user = CONFIG_DEFAULT_MAX_PERSISTENT_RULES_PER_USER;
        c->max_reply_bytes_per_connection = CONFIG_DEFAULT_MAX_REPLY_BYTES_PER_CONNECTION;
        c->max_reply_bytes_per_user = CONFIG_DEFAULT_MAX_REPLY_BYTES_PER_USER;
        return c;
}

unsigned config_user_threads(const Config *c) {
        if (c->resolver_threads_per_user == 0)
                return (c->resolver_threads + 1) / 2;
        return MIN(c->resolver_threads_per_user, c->resolver_threads);
}

_printf_(5, 6) static int parse_error(char *errbuf, size_t errlen, const char *file, unsigned line, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (errbuf && errlen > 0)
                snprintf(errbuf, errlen, "%s:%u: %s", file, line, msg);
        return -EINVAL;
}

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

/* Parses a decimal unsigned in [min, max]. */
static int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

/* A byte count: digits with an optional K, M or G (powers of 1024); 0, or min..max. */
static int parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        if (*end == 'K')
                shift = 10;
        else if (*end == 'M')
                shift = 20;
        else if (*end == 'G')
                shift = 30;
        if (shift > 0)
                end++;
        if (*end != '\0' || v > (max >> shift))
                return -ERANGE;
        v <<= shift;
        if (v != 0 && v < min)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int add_rule(Config *c, const char *key, const char *value, const char *file, unsigned line) {
        ConfigRule *rules;

        rules = reallocarray(c->rules, c->n_rules + 1, sizeof(ConfigRule));
        if (!rules)
                return -ENOMEM;
        c->rules = rules;
        ConfigRule *r = &c->rules[c->n_rules];
        *r = (ConfigRule) { .key = strdup(key), .value = strdup(value), .file = strdup(file), .line = line };
        if (!r->key || !r->value || !r->file) {
                free(r->key);
                free(r->value);
                free(r->file);
                return -ENOMEM;
        }
        c->n_rules++;
        return 0;
}

/* The [Daemon] keys that take a count: one row each. zero: what 0 means where 0 is allowed
 * (NULL: the smallest value is 1), for the error message. */
typedef struct UnsignedKey {
        const char *key;
        const char *zero;
        unsigned max;
        size_t offset; /* of the unsigned in Config */
} UnsignedKey;

static const UnsignedKey unsigned_keys[] = {
        { "ResolverThreads", NULL, CONFIG_MAX_RESOLVER_THREADS, offsetof(Config, resolver_threads) },
        { "ResolverThreadsPerUser", NULL, CONFIG_MAX_RESOLVER_THREADS,
          offsetof(Config, resolver_threads_per_user) },
        { "ResolveTimeoutSec", "resolv.conf's", CONFIG_MAX_RESOLVE_TIMEOUT_SEC,
          offsetof(Config, resolve_timeout_sec) },
        { "MaxClients", NULL, CONFIG_MAX_CLIENTS, offsetof(Config, max_clients) },
        { "MaxClientsPerUser", "no limit", CONFIG_MAX_CLIENTS, offsetof(Config, max_clients_per_user) },
        { "MaxRequestsPerUser", "no limit", CONFIG_MAX_REQUESTS_PER_USER,
          offsetof(Config, max_requests_per_user) },
        { "MaxPersistentRulesPerUser", "no limit", CONFIG_MAX_PERSISTENT_RULES_PER_USER,
          offsetof(Config, max_persistent_rules_per_user) },
};

static int parse_assignment(Config *c, const char *section, const char *key, const char *value,
                            const char *file, unsigned line, char *errbuf, size_t errlen) {
        unsigned u;

        if (strcmp(section, "Daemon") == 0) {
                if (strcmp(key, "Resolver") == 0) {
                        for (ResolverKind k = 0; k < _RESOLVER_MAX; k++)
                                if (strcmp(value, resolver_names[k]) == 0) {
                                        c->resolver = k;
                                        return 0;
                                }
                        return parse_error(errbuf, errlen, file, line,
                                           "Resolver=%s: expected threadpool, cares or blocking", value);
                }
                for (size_t i = 0; i < ELEMENTSOF(unsigned_keys); i++) {
                        const UnsignedKey *k = &unsigned_keys[i];

                        if (strcmp(key, k->key) != 0)
                                continue;
                        if (parse_unsigned(value, k->zero ? 0 : 1, k->max, &u) < 0) {
                                if (k->zero)
                                        return parse_error(errbuf, errlen, file, line, "%s=%s: expected 0 (%s)..%u",
                                                           key, value, k->zero, k->max);
                                return parse_error(errbuf, errlen, file, line, "%s=%s: expected 1..%u", key,
                                                   value, k->max);
                        }
                        *(unsigned *) (void *) ((char *) c + k->offset) = u;
                        return 0;
                }
                if (strcmp(key, "MaxReplyBytesPerConnection") == 0 ||
                    strcmp(key, "MaxReplyBytesPerUser") == 0) {
                        uint64_t b;
                        if (parse_bytes(value, CONFIG_MIN_REPLY_BYTES, CONFIG_MAX_REPLY_BYTES, &b) < 0)
                                return parse_error(errbuf, errlen, file, line,
                                                   "%s=%s: expected 0 (no limit) or 64K..1G bytes", key,
                                                   value);
                        if (strcmp(key, "MaxReplyBytesPerConnection") == 0)
                                c->max_reply_bytes_per_connection = b;
                        else
                                c->max_reply_bytes_per_user = b;
                        return 0;
                }
        } else if (strcmp(section, "Policy") == 0) {
                if (strcmp(key, "AllowBind") == 0 || strcmp(key, "AllowUnix") == 0 ||
                    strcmp(key, "AllowOverride") == 0) {
                        if (c->n_rules >= CONFIG_MAX_RULES)
                                return parse_error(errbuf, errlen, file, line, "more than %u policy rules",
                                                   CONFIG_MAX_RULES);
                        if (add_rule(c, key, value, file, line) < 0)
                                return -ENOMEM;
                        return 0;
                }
        }
        /* Like systemd: an unknown key is a mistake worth refusing rather than guessing. */
        return parse_error(errbuf, errlen, file, line, "unknown key '%s' in section [%s]", key, section);
}

int config_parse_text(Config *c, const char *text, size_t len, const char *filename, char *errbuf, size_t errlen) {
        char section[64] = "";
        unsigned lineno = 0;
        const char *p = text, *end = text + len;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char buf[CONFIG_MAX_LINE + 1], *l, *eq, *hash;
                int r;

                lineno++;
                if (n > CONFIG_MAX_LINE)
                        return parse_error(errbuf, errlen, filename, lineno, "line longer than %u bytes",
                                           CONFIG_MAX_LINE);
                if (memchr(p, '\0', n))
                        return parse_error(errbuf, errlen, filename, lineno, "NUL byte in line");
                memcpy(buf, p, n);
                buf[n] = '\0';
                p = nl ? nl + 1 : end;

                l = strip(buf);
                if (*l == '\0' || *l == '#' || *l == ';')
                        continue;
                /* Inline comments: " #" or " ;" after whitespace, as CLI.md writes them. */
                for (hash = l + 1; *hash; hash++)
                        if ((*hash == '#' || *hash == ';') && isspace((unsigned char) hash[-1])) {
                                *hash = '\0';
                                break;
                        }
                l = strip(l);

                if (*l == '[') {
                        char *close = strchr(l, ']');
                        if (!close || close[1] != '\0' || close - l - 1 <= 0 ||
                            (size_t) (close - l - 1) >= sizeof(section))
                                return parse_error(errbuf, errlen, filename, lineno, "bad section header");
                        *close = '\0';
                        if (strcmp(l + 1, "Daemon") != 0 && strcmp(l + 1, "Policy") != 0)
                                return parse_error(errbuf, errlen, filename, lineno, "unknown section [%s]", l + 1);
                        strcpy(section, l + 1);
                        continue;
                }

                eq = strchr(l, '=');
                if (!eq)
                        return parse_error(errbuf, errlen, filename, lineno, "expected KEY=VALUE");
                *eq = '\0';
                if (section[0] == '\0')
                        return parse_error(errbuf, errlen, filename, lineno, "assignment outside a section");
                r = parse_assignment(c, section, strip(l), strip(eq + 1), filename, lineno, errbuf, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads a whole regular file without following a symlink in its last component. */
static int read_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if ((uintmax_t) st.st_size > CONFIG_MAX_FILE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int load_file(Config *c, const char *path, char *errbuf, size_t errlen) {
        _cleanup_(freep) char *text = NULL;
        size_t len = 0;
        int r;

        r = read_file(path, &text, &len);
        if (r < 0) {
                if (errbuf)
                        snprintf(errbuf, errlen, "%s: %s", path, strerror(-r));
                return r;
        }
        return config_parse_text(c, text, len, path, errbuf, errlen);
}

static int filter_conf(const struct dirent *de) {
        size_t n = strlen(de->d_name);
        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

int config_load(const char *path, bool missing_ok, Config **ret, char *errbuf, size_t errlen) {
        _cleanup_(config_freep) Config *c = NULL;
        struct dirent **names = NULL;
        char dir[PATH_MAX];
        int r, n;

        c = config_new();
        if (!c)
                return -ENOMEM;

        if (!path || (missing_ok && access(path, F_OK) < 0 && errno == ENOENT)) {
                r = config_parse_text(c, config_embedded_default, strlen(config_embedded_default),
                                      "(embedded)", errbuf, errlen);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(c);
                return 0;
        }

        r = load_file(c, path, errbuf, errlen);
        if (r < 0)
                return r;

        if ((size_t) snprintf(dir, sizeof(dir), "%s.d", path) >= sizeof(dir))
                return -ENAMETOOLONG;
        n = scandir(dir, &names, filter_conf, alphasort);
        if (n < 0) {
                if (errno != ENOENT && errno != ENOTDIR) {
                        r = -errno;
                        if (errbuf)
                                snprintf(errbuf, errlen, "%s: %s", dir, strerror(-r));
                        return r;
                }
                n = 0;
        }
        r = 0;
        for (int i = 0; i < n; i++) {
                char file[PATH_MAX];

                if (r >= 0) {
                        if ((size_t) snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name) >= sizeof(file))
                                r = -ENAMETOOLONG;
                        else
                                r = load_file(c, file, errbuf, errlen);
                }
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}
