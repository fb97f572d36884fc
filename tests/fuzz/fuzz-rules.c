/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the readers of the two files the daemon publishes next to its socket
 * (proto/rules-file-format.h and proto/names-index-format.h), which libnetutil and the NSS
 * module run on SOCKET_PATH.rules and SOCKET_PATH.names, files that only the daemon writes
 * but that anything with write access to /run, a full disk, a bug or a read that overlaps a
 * change in place (a torn slot, a chain head moved under the reader) could leave in any
 * state. An input is one such file, read as either. rules_file_parse() must refuse anything
 * whose sizes do not add up; on a file it accepts, rules_file_lookup() runs for questions
 * made from the file's own entries (removed ones included) and from the input (scope, host,
 * port, family, host_only), must end (chains that loop or leave the file), and every entry
 * it returns must be one of the file's, not removed, belong to the question's tables and key
 * forms, and carry an answer for the asked family, which rules_file_sockaddr() turns into a
 * well-formed sockaddr; an odd seq must never pass rules_file_still(). On a file whose
 * chains are all well-formed (as the daemon writes them), the lookup must give exactly what
 * a scan of every slot and chain in Tornado's order gives. names_index_parse() and
 * names_index_may_have() must hold to the index's sizes and probe bound. Owns only these
 * invariants; no I/O, no state kept between inputs.
 */

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "names-index-format.h"
#include "rules-file-format.h"

const char fuzz_name[] = "rules";

/* Questions per input made from its entries: enough to reach every key form of a few rules,
 * few enough to keep an execution in microseconds. */
#define FUZZ_RULES_ENTRY_QUESTIONS 8u
/* Bytes of the input taken as one more host name. */
#define FUZZ_RULES_HOST_MAX 64u

void fuzz_setup(void) {
}

/* Tornado's order by a scan of every slot (the first whose hash is the table's, wherever
 * it is) and of its whole chain: the same answer as the lookup on a well-formed file. */
static const RulesFileEntry *linear_lookup(const RulesFileView *f, const char *scope, const char *host,
                                           int port, int family, bool host_only) {
        const int ports[3] = { port, port, RULES_FILE_ANY },
                  families[3] = { family, RULES_FILE_ANY, RULES_FILE_ANY };

        for (int table = scope && *scope ? 0 : 1; table < 2; table++) {
                const char *s = table == 0 ? scope : NULL;
                uint64_t h = rules_file_slot_hash(f->key, s, host);
                uint32_t head = 0;

                for (uint64_t i = 0; i < f->n_slots; i++)
                        if (f->slots[(h + i) & (f->n_slots - 1)].hash == h) {
                                head = f->slots[(h + i) & (f->n_slots - 1)].head;
                                break;
                        }
                for (unsigned k = host_only ? 2 : 0; head && k < 3; k++)
                        for (uint32_t i = head; i != 0; i = f->entries[i - 1].next) {
                                int is = rules_file_entry_is(f, &f->entries[i - 1], s, host, ports[k], families[k]);

                                /* A corrupt entry of the host's may be the rule asked for. */
                                if (is < 0)
                                        return NULL;
                                if (is > 0)
                                        return rules_file_answer(&f->entries[i - 1], family);
                        }
        }
        return NULL;
}

/* As the daemon writes a file: every slot within NAMES_INDEX_MAX_PROBE of its home with no
 * free slot before it, every chain inside the file and going to older entries. */
static bool well_formed(const RulesFileView *f) {
        uint64_t mask = f->n_slots - 1;

        for (uint64_t i = 0; i < f->n_slots; i++) {
                const RulesFileSlot *s = &f->slots[i];

                if (s->hash == 0)
                        continue;
                if (((i - s->hash) & mask) >= NAMES_INDEX_MAX_PROBE)
                        return false;
                for (uint64_t j = s->hash & mask; j != i; j = (j + 1) & mask)
                        if (f->slots[j].hash == 0 || f->slots[j].hash == s->hash)
                                return false;
                if (s->head > f->n)
                        return false;
                for (uint32_t k = s->head; k != 0; k = f->entries[k - 1].next)
                        if (f->entries[k - 1].next >= k)
                                return false;
        }
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
        fuzz_assert(!(e->flags & RULES_FILE_REMOVED));
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

/* The input as a names index: the sizes parse() promises, and a probe that ends. */
static void check_names_index(const uint8_t *buf, size_t size, const uint8_t *data) {
        char host[FUZZ_RULES_HOST_MAX + 1];
        NamesIndexView v;
        size_t len = size < FUZZ_RULES_HOST_MAX ? size : FUZZ_RULES_HOST_MAX;

        if (!names_index_parse(buf, size, &v))
                return;
        fuzz_assert(v.n_slots > 0 && v.n_slots <= NAMES_INDEX_MAX_SLOTS && (v.n_slots & (v.n_slots - 1)) == 0);
        fuzz_assert(NAMES_INDEX_HEADER_SIZE + v.n_slots * sizeof(uint64_t) == size);
        memcpy(host, data + size - len, len);
        host[len] = '\0';
        /* A name whose value is in a slot of its window, before any empty one, is "ask". */
        if (!names_index_may_have(&v, host)) {
                uint64_t h = names_index_value(v.key, host);

                for (uint64_t i = 0; i < v.n_slots && i < NAMES_INDEX_MAX_PROBE; i++) {
                        uint64_t s = v.slots[(h + i) & (v.n_slots - 1)];

                        fuzz_assert(s != h);
                        if (s == NAMES_INDEX_EMPTY)
                                break;
                }
        }
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
        check_names_index(buf, size, data);
        ok = rules_file_parse(buf, size, &v);
        if (!ok) {
                free(buf);
                return 0;
        }
        /* What parse() promises: the sizes add up, a non-empty strings area ends in a NUL. */
        fuzz_assert(size >= RULES_FILE_HEADER_SIZE &&
                    memcmp(buf, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE) == 0);
        fuzz_assert(v.n_slots > 0 && (v.n_slots & (v.n_slots - 1)) == 0);
        fuzz_assert(RULES_FILE_HEADER_SIZE + v.n_slots * RULES_FILE_SLOT_SIZE + v.n * RULES_FILE_ENTRY_SIZE +
                            v.strings_size ==
                    size);
        fuzz_assert((const uint8_t *) v.strings + v.strings_size == buf + size);
        fuzz_assert(v.strings_size > 0 && v.strings[v.strings_size - 1] == '\0');
        is_sorted = well_formed(&v);
        /* A change under way (odd seq) or one that came between (another seq) is never
         * taken for a state of the tables. */
        {
                uint64_t seq = rules_file_seq(&v);

                fuzz_assert(rules_file_still(&v, seq) == ((seq & 1) == 0));
                fuzz_assert(!rules_file_still(&v, seq | 1));
                fuzz_assert(!rules_file_still(&v, seq + 2));
        }

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
