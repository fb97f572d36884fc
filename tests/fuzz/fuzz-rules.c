/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the rules file's reader (proto/rules-file-format.h), which libnetutil and the
 * NSS module run on SOCKET_PATH.rules, a file that only the daemon writes but that anything
 * with write access to /run, a full disk or a bug could leave malformed. An input is one such
 * file. rules_file_parse() must refuse anything whose sizes do not add up; on a file it
 * accepts, rules_file_lookup() runs for questions made from the file's own entries and from
 * the input (scope, host, port, family, host_only), and every entry it returns must be one
 * of the file's, belong to the question's tables and key forms, and carry an answer for the
 * asked family, which rules_file_sockaddr() turns into a well-formed sockaddr. On a file
 * sorted by host_hash (as the daemon writes it), the binary search must give exactly what a
 * linear scan in Tornado's order gives. Owns only these invariants; no I/O, no state kept
 * between inputs.
 */

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "rules-file-format.h"

const char fuzz_name[] = "rules";

/* Questions per input made from its entries: enough to reach every key form of a few rules,
 * few enough to keep an execution in microseconds. */
#define FUZZ_RULES_ENTRY_QUESTIONS 8u
/* Bytes of the input taken as one more host name. */
#define FUZZ_RULES_HOST_MAX 64u

void fuzz_setup(void) {
}

/* Tornado's order without the binary search: the first entry, in file order, of the scope's
 * table then the global one, of the first key form that has one; the same checks on it. */
static const RulesFileEntry *linear_lookup(const RulesFileView *f, const char *scope, const char *host,
                                           int port, int family, bool host_only) {
        const int ports[3] = { port, port, RULES_FILE_ANY },
                  families[3] = { family, RULES_FILE_ANY, RULES_FILE_ANY };
        uint64_t h = names_index_hash(host);

        for (int table = scope && *scope ? 0 : 1; table < 2; table++)
                for (unsigned k = host_only ? 2 : 0; k < 3; k++)
                        for (uint64_t i = 0; i < f->n; i++) {
                                const RulesFileEntry *e = &f->entries[i];
                                int is;

                                if (e->host_hash != h)
                                        continue;
                                /* A corrupt entry of the host's may be the rule asked for. */
                                is = rules_file_entry_is(f, e, table == 0 ? scope : NULL, host, ports[k],
                                                         families[k]);
                                if (is < 0)
                                        return NULL;
                                if (is > 0)
                                        return rules_file_answer(e, family);
                        }
        return NULL;
}

static bool sorted(const RulesFileView *f) {
        for (uint64_t i = 1; i < f->n; i++)
                if (f->entries[i - 1].host_hash > f->entries[i].host_hash)
                        return false;
        return true;
}

static void check_sockaddr(const RulesFileEntry *e, unsigned port) {
        struct sockaddr_storage ss;
        socklen_t len = rules_file_sockaddr(e, port, &ss);
        unsigned want_port = e->target_port >= 0 ? (unsigned) e->target_port : port;

        if (e->answer_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) &ss;

                fuzz_assert(len == sizeof(*sin) && sin->sin_family == AF_INET);
                fuzz_assert(ntohs(sin->sin_port) == (want_port & 0xffff));
                fuzz_assert(memcmp(&sin->sin_addr, e->answer_addr, 4) == 0);
        } else {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;

                fuzz_assert(len == sizeof(*sin6) && sin6->sin6_family == AF_INET6);
                fuzz_assert(ntohs(sin6->sin6_port) == (want_port & 0xffff));
                fuzz_assert(sin6->sin6_flowinfo == 0 && sin6->sin6_scope_id == e->answer_scope_id);
                fuzz_assert(memcmp(&sin6->sin6_addr, e->answer_addr, 16) == 0);
        }
}

static void ask(const RulesFileView *f, bool is_sorted, const char *scope, const char *host, int port,
                int family, bool host_only) {
        const RulesFileEntry *e = rules_file_lookup(f, scope, host, port, family, host_only);

        if (is_sorted)
                fuzz_assert(e == linear_lookup(f, scope, host, port, family, host_only));
        if (!e)
                return;
        /* One of the file's entries, for this host, in one of the question's tables and key
         * forms, with an answer of the asked family. */
        fuzz_assert(e >= f->entries && e < f->entries + f->n);
        fuzz_assert(e->host_hash == names_index_hash(host));
        fuzz_assert(rules_file_entry_is(f, e, NULL, host, e->port, e->family) ||
                    (scope && *scope && rules_file_entry_is(f, e, scope, host, e->port, e->family)));
        fuzz_assert((e->port == RULES_FILE_ANY && e->family == RULES_FILE_ANY) ||
                    (!host_only && e->port == port && (e->family == RULES_FILE_ANY || e->family == family)));
        fuzz_assert(e->flags & RULES_FILE_ANSWER);
        fuzz_assert(e->answer_family == AF_INET || e->answer_family == AF_INET6);
        fuzz_assert(family == AF_UNSPEC || (uint32_t) family == e->answer_family);
        fuzz_assert(e->target_port >= RULES_FILE_ANY && e->target_port <= 65535);
        check_sockaddr(e, port >= 0 ? (unsigned) port : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const int families[] = { AF_UNSPEC, AF_INET, AF_INET6 };
        char host[FUZZ_RULES_HOST_MAX + 1];
        RulesFileView v;
        uint8_t *buf;
        bool ok, is_sorted;

        /* An exact-size copy (malloc() aligns it as mmap() would the file), so that ASan sees
         * a read past the end. */
        buf = malloc(size ? size : 1);
        if (!buf)
                fuzz_fail("out of memory");
        memcpy(buf, data, size);
        ok = rules_file_parse(buf, size, &v);
        if (!ok) {
                free(buf);
                return 0;
        }
        /* What parse() promises: the sizes add up, a non-empty strings area ends in a NUL. */
        fuzz_assert(size >= RULES_FILE_HEADER_SIZE &&
                    memcmp(buf, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE) == 0);
        fuzz_assert(v.n <= (size - RULES_FILE_HEADER_SIZE) / RULES_FILE_ENTRY_SIZE);
        fuzz_assert(RULES_FILE_HEADER_SIZE + v.n * RULES_FILE_ENTRY_SIZE + v.strings_size == size);
        fuzz_assert((const uint8_t *) v.strings + v.strings_size == buf + size);
        fuzz_assert(v.strings_size == 0 || v.strings[v.strings_size - 1] == '\0');
        is_sorted = sorted(&v);

        /* Questions from the file's own entries: their exact keys, the other forms, every
         * family, their scope, another scope and none. */
        for (uint64_t i = 0; i < v.n && i < FUZZ_RULES_ENTRY_QUESTIONS; i++) {
                const RulesFileEntry *e = &v.entries[i];
                const char *h = rules_file_string(&v, e->host_off), *s = rules_file_string(&v, e->scope_off);
                int port = e->port >= 0 && e->port <= 65535 ? e->port : 80;

                if (!h)
                        continue;
                for (size_t fa = 0; fa < sizeof(families) / sizeof(families[0]); fa++) {
                        ask(&v, is_sorted, s, h, port, families[fa], false);
                        ask(&v, is_sorted, NULL, h, port, families[fa], false);
                        ask(&v, is_sorted, "no-such-scope", h, port + 1 <= 65535 ? port + 1 : 0, families[fa],
                            false);
                }
                if (e->family >= 0)
                        ask(&v, is_sorted, s, h, port, e->family, false);
                ask(&v, is_sorted, s, h, 0, AF_UNSPEC, true);
        }

        /* And one from the input's last bytes, with a port and a family from its first. */
        {
                size_t len = size < FUZZ_RULES_HOST_MAX ? size : FUZZ_RULES_HOST_MAX;
                int port = (int) (((unsigned) data[size - 1] << 8 | data[size / 2]) & 0xffff);
                int family = (int) (int8_t) data[RULES_FILE_MAGIC_SIZE];

                memcpy(host, data + size - len, len);
                host[len] = '\0';
                ask(&v, is_sorted, NULL, host, port, family, false);
                ask(&v, is_sorted, v.strings_size > 0 ? v.strings : NULL, host, port, AF_UNSPEC, data[9] & 1);
        }
        free(buf);
        return 0;
}
