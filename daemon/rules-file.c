/* SPDX-License-Identifier: MIT */

/*
 * The rules file's bytes (rules-file.h; the format in proto/rules-file-format.h). Owns the
 * daemon's image of the file: built whole from the tables (a pass over every rule, about a
 * millisecond for RULES_FILE_MAX_RULES) with room for as many rules again, then changed in
 * place by each rule that comes, goes or changes: a slot probe, an entry and its strings
 * appended, a chain head moved or a flag set, O(1) whatever the number of rules. When the
 * room runs out (entries, strings, half the slots) or a probe would go past
 * NAMES_INDEX_MAX_PROBE, the image is broken and names-index.c has it built anew: at least
 * as many changes as rules lie between two builds, so the build costs O(1) per change,
 * amortised. Must not write any file (names-index.c does) or decide anything about rules.
 */

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "gai.h"
#include "hash.h"
#include "macro.h"
#include "override.h"
#include "rules-file-format.h"
#include "rules-file.h"

/* The least room a built file has: a few rules never make it rebuild at every change. */
#define RULES_FILE_MIN_ENTRIES 64u
#define RULES_FILE_MIN_SLOTS 64u
#define RULES_FILE_MIN_STRINGS 1024u
/* Builds with a new key before a build gives up on crafted names (each doubles the slots
 * after the second). */
#define RULES_FILE_BUILD_TRIES 6
/* Dirty ranges this close are written as one. */
#define FILE_IMAGE_MERGE_GAP 64u

void file_image_dirty(FileImage *im, size_t off, size_t len) {
        FileRange *last = im->n_dirty > 0 ? &im->dirty[im->n_dirty - 1] : NULL;

        if (im->broken)
                return;
        if (last && off >= last->off && off <= last->off + last->len) {
                last->len = MAX(last->len, off + len - last->off);
                return;
        }
        if (im->n_dirty == im->alloc_dirty) {
                size_t alloc = im->alloc_dirty ? im->alloc_dirty * 2 : 64;
                FileRange *d = reallocarray(im->dirty, alloc, sizeof(*d));

                if (!d) {
                        im->broken = true;
                        return;
                }
                im->dirty = d;
                im->alloc_dirty = alloc;
        }
        im->dirty[im->n_dirty++] = (FileRange) { off, len };
}

static int cmp_range(const void *a, const void *b) {
        size_t x = ((const FileRange *) a)->off, y = ((const FileRange *) b)->off;

        return x < y ? -1 : x > y;
}

void file_image_merge_dirty(FileImage *im) {
        size_t n = 0;

        if (im->n_dirty < 2)
                return;
        qsort(im->dirty, im->n_dirty, sizeof(*im->dirty), cmp_range);
        for (size_t i = 1; i < im->n_dirty; i++) {
                FileRange *last = &im->dirty[n], *r = &im->dirty[i];

                if (r->off <= last->off + last->len + FILE_IMAGE_MERGE_GAP)
                        last->len = MAX(last->len, r->off + r->len - last->off);
                else
                        im->dirty[++n] = *r;
        }
        im->n_dirty = n + 1;
}

void file_image_free(FileImage *im) {
        free(im->buf);
        free(im->dirty);
        *im = (FileImage) { .broken = true };
}

void rules_image_free(RulesImage *ri) {
        file_image_free(&ri->im);
        *ri = (RulesImage) { .im = ri->im };
}

void published_file_key(uint64_t key[2]) {
        HashKey k;

        hash_random_key(&k);
        key[0] = k.k0;
        key[1] = k.k1;
}

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

static RulesFileSlot *slots_of(RulesImage *ri) {
        return (RulesFileSlot *) (void *) (ri->im.buf + RULES_FILE_HEADER_SIZE);
}

static RulesFileEntry *entries_of(RulesImage *ri) {
        return (RulesFileEntry *) (void *) (ri->im.buf + RULES_FILE_HEADER_SIZE + ri->n_slots * RULES_FILE_SLOT_SIZE);
}

static char *strings_of(RulesImage *ri) {
        return (char *) entries_of(ri) + ri->n_entries * RULES_FILE_ENTRY_SIZE;
}

/* Appends s to the strings (the last byte stays the NUL it is): its offset, or -1 without
 * room. */
static int64_t add_string(RulesImage *ri, const char *s) {
        size_t len = strlen(s) + 1;
        int64_t off = (int64_t) ri->used_strings;

        if (ri->used_strings + len > ri->strings_size - 1)
                return -1;
        memcpy(strings_of(ri) + off, s, len);
        file_image_dirty(&ri->im, (size_t) (strings_of(ri) + off - ri->im.buf), len);
        ri->used_strings += len;
        return off;
}

/* Adds o of t; false without room or past the probe limit (the image is then not changed
 * in a way a reader could see: nothing links to what was appended). */
static bool add(RulesImage *ri, const OverrideTable *t, Override *o) {
        uint64_t h = rules_file_slot_hash(ri->key, t->name, o->host), mask = ri->n_slots - 1;
        RulesFileSlot *slot = NULL;
        RulesFileEntry *e;
        int64_t host_off, scope_off = RULES_FILE_GLOBAL;

        for (uint64_t i = 0; i < NAMES_INDEX_MAX_PROBE && i < ri->n_slots; i++) {
                RulesFileSlot *s = &slots_of(ri)[(h + i) & mask];

                if (s->hash == h || s->hash == 0) {
                        slot = s;
                        break;
                }
        }
        if (!slot || ri->used_entries >= ri->n_entries)
                return false;
        host_off = add_string(ri, o->host);
        if (host_off < 0 || (t->name && (scope_off = add_string(ri, t->name)) < 0))
                return false;
        e = &entries_of(ri)[ri->used_entries];
        *e = (RulesFileEntry) {
                .host_off = (uint32_t) host_off,
                .scope_off = (uint32_t) scope_off,
                .port = o->port,
                .family = o->family,
                .target_port = o->target_port,
                .next = slot->head,
        };
        /* A scope of a uid other than root answers only its owner and those who name the
         * owner (override_scope_for_lookup()); a reader cannot tell who asks, so it finds
         * the rule and asks the daemon. */
        if (o->answer_family != 0 && o->expires_usec == 0 && (!t->name || t->owner == 0)) {
                e->flags = RULES_FILE_ANSWER;
                e->answer_family = o->answer_family;
                e->answer_scope_id = o->answer_scope_id;
                memcpy(e->answer_addr, o->answer_addr, sizeof(e->answer_addr));
        }
        o->rules_file_entry = (uint32_t) ++ri->used_entries;
        file_image_dirty(&ri->im, (size_t) ((char *) e - ri->im.buf), sizeof(*e));
        if (slot->hash == 0) {
                slot->hash = h;
                ri->used_slots++;
        }
        slot->head = o->rules_file_entry;
        file_image_dirty(&ri->im, (size_t) ((char *) slot - ri->im.buf), sizeof(*slot));
        return true;
}

void rules_file_add(RulesImage *ri, const OverrideTable *t, Override *o) {
        if (ri->im.broken)
                return;
        if (!add(ri, t, o) || ri->used_slots * 2 > ri->n_slots)
                ri->im.broken = true;
}

void rules_file_remove(RulesImage *ri, Override *o) {
        RulesFileEntry *e;

        if (ri->im.broken || o->rules_file_entry == 0 || o->rules_file_entry > ri->used_entries)
                return;
        e = &entries_of(ri)[o->rules_file_entry - 1];
        e->flags |= RULES_FILE_REMOVED;
        o->rules_file_entry = 0;
        file_image_dirty(&ri->im, (size_t) ((char *) &e->flags - ri->im.buf), sizeof(e->flags));
}

static uint64_t pow2_at_least(uint64_t n) {
        uint64_t p = 1;

        while (p < n)
                p <<= 1;
        return p;
}

int rules_file_build(Manager *m, RulesImage *ri) {
        size_t n = 0, strings = 0;
        uint64_t n_slots;

        for (OverrideTable *t = m->override_tables; t; t = t->tables_next) {
                n += t->n_rules;
                if (n > RULES_FILE_MAX_RULES)
                        return -E2BIG;
                for (Override *o = t->rules; o; o = o->rules_next)
                        strings += strlen(o->host) + 1 + (t->name ? strlen(t->name) + 1 : 0);
        }
        n_slots = pow2_at_least(MAX(RULES_FILE_MIN_SLOTS, 4 * n));
        for (int attempt = 0; attempt < RULES_FILE_BUILD_TRIES; attempt++) {
                RulesImage new = {};
                uint64_t header[8] = {};
                bool ok = true;

                if (attempt >= 2)
                        n_slots *= 2;
                new.n_slots = n_slots;
                new.n_entries = MAX(RULES_FILE_MIN_ENTRIES, 2 * n);
                /* Offsets are u32: RULES_FILE_MAX_RULES hosts and scopes of at most
                 * PROTO_MAX_STRING bytes each, twice, stay far below 4 GiB. */
                new.strings_size = MAX(RULES_FILE_MIN_STRINGS, 2 * strings) + 1;
                new.im.size = RULES_FILE_HEADER_SIZE + n_slots * RULES_FILE_SLOT_SIZE +
                              new.n_entries * RULES_FILE_ENTRY_SIZE + new.strings_size;
                new.im.buf = calloc(1, new.im.size);
                if (!new.im.buf)
                        return -ENOMEM;
                published_file_key(new.key);
                memcpy(header, RULES_FILE_MAGIC, RULES_FILE_MAGIC_SIZE);
                header[2] = new.key[0];
                header[3] = new.key[1];
                header[4] = new.n_slots;
                header[5] = new.n_entries;
                header[6] = new.strings_size;
                memcpy(new.im.buf, header, sizeof(header));
                new.im.broken = true; /* no dirty ranges: the whole file is written */
                /* Oldest first, so that each chain's newest rule comes first, as in place. */
                for (OverrideTable *t = m->override_tables; ok && t; t = t->tables_next) {
                        Override *last = t->rules;

                        while (last && last->rules_next)
                                last = last->rules_next;
                        for (Override *o = last; ok && o; o = o->rules_prev)
                                ok = add(&new, t, o);
                }
                if (ok) {
                        free(ri->im.buf);
                        free(new.im.dirty);
                        new.im.dirty = ri->im.dirty;
                        new.im.alloc_dirty = ri->im.alloc_dirty;
                        new.im.n_dirty = 0;
                        new.im.broken = false;
                        *ri = new;
                        return 0;
                }
                free(new.im.buf);
                free(new.im.dirty);
        }
        return -ELOOP; /* no key placed every slot: crafted names beyond belief */
}
