/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * netutild's configuration: the INI files of CLI.md (main file plus conf.d drop-ins, or
 * the embedded default), parsed into a Config. Owns syntax and value checks; must not
 * apply anything (the manager swaps a whole Config in on start and reload) and must not
 * be called per request.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netutil-proto.h"

typedef enum ResolverKind {
        RESOLVER_THREADPOOL,
        RESOLVER_CARES,
        RESOLVER_BLOCKING,
        _RESOLVER_MAX,
} ResolverKind;

/* One [Policy] line as written, with where it came from for messages; policy.c compiles. */
typedef struct ConfigRule {
        char *key;   /* AllowBind, AllowUnix, AllowOverride */
        char *value; /* the rest of the line, trimmed */
        char *file;
        unsigned line;
} ConfigRule;

typedef struct Config {
        ResolverKind resolver;
        unsigned resolver_threads;
        unsigned resolver_threads_per_user; /* threads one uid's jobs may occupy; 0: half (config_user_threads()) */
        unsigned max_clients;
        unsigned max_clients_per_user; /* connections one uid (root excepted) may hold; 0: no limit */
        unsigned max_requests_per_user; /* requests one uid (root excepted) may have in the daemon; 0: no limit */
        unsigned resolve_timeout_sec;   /* a backend's answer is awaited this long; 0: resolv.conf's own timeout */
        unsigned max_persistent_rules_per_user; /* rules without expiry one uid (root excepted) may have set; 0: no limit */
        /* Queued reply bytes at which a connection, or all of a uid's (root excepted), are not
         * read and their long replies not built; 0: no limit. */
        uint64_t max_reply_bytes_per_connection;
        uint64_t max_reply_bytes_per_user;
        ConfigRule *rules;
        size_t n_rules;
} Config;

/* Limits on values, with their reasons. */
#define CONFIG_MAX_RESOLVER_THREADS 256u /* more threads only add contention on 2-64 cores */
#define CONFIG_MAX_RESOLVE_TIMEOUT_SEC 600u /* beyond ten minutes nobody is waiting any more */
/* ResolveTimeoutSec='s default: what getaddrinfo() waits for one silent name server by
 * glibc's defaults (timeout:5, attempts:2), and well below the 25 s a libnetutil call waits
 * by default, so that a client hears "no answer" in words rather than timing out itself. */
#define CONFIG_DEFAULT_RESOLVE_TIMEOUT_SEC 10u
#define CONFIG_MAX_CLIENTS 65536u        /* each client costs an fd: keep below RLIMIT_NOFILE */
/* MaxRequestsPerUser='s default: 32 connections' full pipelines (PROTO_MAX_INFLIGHT each), a
 * few MiB of requests and jobs; and its ceiling, MaxClients' ceiling times a full pipeline. */
#define CONFIG_DEFAULT_MAX_REQUESTS_PER_USER 4096u
/* MaxClientsPerUser= by default: an eighth of the default MaxClients, so that eight busy
 * users fit and one cannot take every place (issue 13). */
#define CONFIG_DEFAULT_MAX_CLIENTS_PER_USER 128u
#define CONFIG_MAX_REQUESTS_PER_USER (CONFIG_MAX_CLIENTS * PROTO_MAX_INFLIGHT)
/* MaxPersistentRulesPerUser= by default: rules without expiry are administrative (a test run
 * gives its rules a TTL or a throwaway scope), and each one is in every rewrite of the state
 * file; 1000 per uid keeps one uid's share of that file near 100 KB (issue 13). Its ceiling
 * is the rule quota of override.h (OVERRIDE_MAX_PER_UID, 100 000). */
#define CONFIG_DEFAULT_MAX_PERSISTENT_RULES_PER_USER 1000u
#define CONFIG_MAX_PERSISTENT_RULES_PER_USER 100000u
/* Reply bytes queued for one connection before the daemon stops reading it and building its
 * long replies (issue 13): 16 full datagrams, which keeps a client that reads busy (the
 * kernel queues some 200 KiB more) and bounds one that does not. */
#define CONFIG_DEFAULT_MAX_REPLY_BYTES_PER_CONNECTION (1024u * 1024u)
/* The same over one uid's connections: four connections' worth. */
#define CONFIG_DEFAULT_MAX_REPLY_BYTES_PER_USER (4u * 1024u * 1024u)
/* Their range: at least one datagram, at most 1 GiB (more is no bound for a daemon). */
#define CONFIG_MIN_REPLY_BYTES PROTO_MAX_MSG
#define CONFIG_MAX_REPLY_BYTES (1024ULL * 1024 * 1024)
#define CONFIG_MAX_LINE 4096u            /* a line longer than a path is a mistake */
#define CONFIG_MAX_RULES 4096u           /* policy compiled into arrays scanned per request */
#define CONFIG_MAX_FILE (1024u * 1024u)  /* a config file larger than this is not a config */

/* The worker threads one uid's jobs may occupy at once: ResolverThreadsPerUser=, by default
 * half of ResolverThreads= (rounded up), never more than all of them. */
unsigned config_user_threads(const Config *c);

/* The built-in configuration text, used in user mode and when no config file exists. */
extern const char config_embedded_default[];

const char *resolver_kind_to_string(ResolverKind k);

Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        if (*c)
                config_free(*c);
}

/* Parses text as file "filename" into c, adding to what is there. Returns 0, or -EINVAL
 * after writing "FILE:LINE: message" to errbuf. */
int config_parse_text(Config *c, const char *text, size_t len, const char *filename, char *errbuf, size_t errlen);

/* Loads the configuration: the embedded default if path is NULL, else the file path and
 * then the *.conf files of DIR in lexical order, where DIR is path with ".d" appended. A missing main
 * file is -ENOENT unless missing_ok, in which case the embedded default is used. Returns
 * 0 and a new Config, or -errno with errbuf filled. */
int config_load(const char *path, bool missing_ok, Config **ret, char *errbuf, size_t errlen);
