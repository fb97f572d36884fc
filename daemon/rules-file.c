/* SPDX-License-Identifier: MIT */

/*
 * The rules file's bytes (rules-file.h; the format in proto/rules-file-format.h). Cost: a
 * pass over every rule, a sort of their hashes and one buffer, about a millisecond for the
 * RULES_FILE_MAX_RULES rules the file may hold; rebuilt once per event loop iteration in
 * which a rule changed (names-index.c), so a client that pipelines changes pays it per batch.
 */

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "gai.h"
#include "macro.h"
#include "override.h"
#include "rules-file-format.h"
#include "rules-file.h"

void rules_file_set_answer(Override *o) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *res = NULL;
        const char *pct = strchr(o->target, '%');

        o->answer_family = 0;
        /* fe80::1%eth0: the daemon would look the name up at each resolve; only a numeric
         * scope ("%2") is the same every time. */
        if (pct && (pct[1] == '\0' || strspn(pct + 1, "0123456789") != strlen(pct + 1)))
                return;
        /* The daemon answers a literal target with exactly this call (resolve.c), per family. */
        if (!gai_is_literal(o->target) || getaddrinfo(o->target, NULL, &hints, &res) != 0)
                return;
        if (res->ai_family == AF_INET && res->ai_addrlen == sizeof(struct sockaddr_in)) {
                memcpy(o->answer_addr, &((struct sockaddr_in *) res->ai_addr)->sin_addr, 4);
                o->answer_scope_id = 0;
                o->answer_family = AF_INET;
        } else if (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) res->ai_addr;

                /* getaddrinfo() gives an IPv6 literal's flowinfo as 0, which a reader writes. */
                memcpy(o->answer_addr, &sin6->sin6_addr, 16);
                o->answer_scope_id = sin6->sin6_scope_id;
                o->answer_family = AF_INET6;
        }
        freeaddrinfo(res);
}

static int cmp_entry(const void *a, const void *b) {
        uint64_t x = ((const RulesFileEntry *) a)->host_hash, y = ((const RulesFileEntry *) b)->host_hash;

        return x < y ? -1 : x > y;
}

int rules_file_build(Manager *m, void **ret_buf, size_t *ret_size) {
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, strings = 0, size, at = 0;
        uint64_t header[4];
        RulesFileEntry *e;

        for (OverrideTable *t = m->override_tables; t; t = t->tables_next) {
                n += t->n_rules;
                if (n > RULES_FILE_MAX_RULES)
                        return -E2BIG;
                if (t->name && t->n_rules > 0)
                        strings += strlen(t->name) + 1;
                for (Override *o = t->rules; o; o = o->rules_next)
                        strings += strlen(o->host) + 1;
        }
        /* Offsets are u32: RULES_FILE_MAX_RULES hosts and scopes of at most PROTO_MAX_STRING
         * bytes each stay far below 4 GiB. */
        size = RULES_FILE_HEADER_SIZE + n * RULES_FILE_ENTRY_SIZE + strings;
        buf = calloc(1, size);
        if (!buf)
                return -ENOMEM;
        header[0] = 0;
        memcpy(header, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE);
        header[1] = n;
        header[2] = strings;
        header[3] = 0;
        memcpy(buf, header, sizeof(header));

        e = (RulesFileEntry *) (void *) (buf + RULES_FILE_HEADER_SIZE);
        char *s = buf + RULES_FILE_HEADER_SIZE + n * RULES_FILE_ENTRY_SIZE;
        for (OverrideTable *t = m->override_tables; t; t = t->tables_next) {
                uint32_t scope_off = RULES_FILE_GLOBAL;

                if (t->name && t->n_rules > 0) {
                        scope_off = (uint32_t) at;
                        at += strlen(strcpy(s + at, t->name)) + 1;
                }
                for (Override *o = t->rules; o; o = o->rules_next, e++) {
                        *e = (RulesFileEntry) {
                                .host_hash = names_index_hash(o->host),
                                .host_off = (uint32_t) at,
                                .scope_off = scope_off,
                                .port = o->port,
                                .family = o->family,
                                .target_port = o->target_port,
                        };
                        /* A scope of a uid other than root's answers only its owner and
                         * those who name the owner (override_scope_for_lookup()); a reader
                         * cannot tell who asks, so it finds the rule and asks the daemon. */
                        if (o->answer_family != 0 && o->expires_usec == 0 && (!t->name || t->owner == 0)) {
                                e->flags = RULES_FILE_ANSWER;
                                e->answer_family = o->answer_family;
                                e->answer_scope_id = o->answer_scope_id;
                                memcpy(e->answer_addr, o->answer_addr, sizeof(e->answer_addr));
                        }
                        at += strlen(strcpy(s + at, o->host)) + 1;
                }
        }
        qsort(buf + RULES_FILE_HEADER_SIZE, n, RULES_FILE_ENTRY_SIZE, cmp_entry);
        *ret_size = size;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}
