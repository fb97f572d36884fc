/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The rules file (proto/rules-file-format.h): every override rule, published as
 * SOCKET_PATH.rules so that libnetutil and the NSS module answer a hit on a literal target
 * without a round trip. Owns the file's bytes — the daemon's copy of them (FileImage),
 * built whole from the tables and then changed in place, a rule at a time, in O(1) — and
 * each rule's answer; names-index.c owns when the file is written (with the names index,
 * before the acknowledgement of a change), which bytes go to the file in place (the image's
 * dirty ranges) and the file itself. Must not decide anything about rules: it only mirrors
 * the tables.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manager.h"

typedef struct Override Override;
typedef struct OverrideTable OverrideTable;

/* A byte range of an image that the file does not show yet. */
typedef struct FileRange {
        size_t off, len;
} FileRange;

/* The bytes a published file is to hold, and which of them changed since it was written.
 * broken: the image cannot show the tables any more (no room, a lost change): it is to be
 * made anew and the file replaced. */
typedef struct FileImage {
        char *buf;
        size_t size;
        FileRange *dirty;
        size_t n_dirty, alloc_dirty;
        bool broken;
} FileImage;

/* Notes buf[off, off + len) as changed; on no memory for the note, the image is broken. */
void file_image_dirty(FileImage *im, size_t off, size_t len);
/* Sorts the dirty ranges and merges those that touch or nearly do (writing a few unchanged
 * bytes costs less than a system call). */
void file_image_merge_dirty(FileImage *im);
void file_image_free(FileImage *im);

/* The rules file's image: the file's layout and how much of its room is taken. */
typedef struct RulesImage {
        FileImage im;
        uint64_t key[2];
        uint64_t n_slots, n_entries, strings_size;
        uint64_t used_slots, used_entries, used_strings;
} RulesImage;

/* Sets o's answer from its target (override.c, whenever a target is set): the address the
 * daemon's numeric getaddrinfo() gives, or none (answer_family 0) for a name, or an IPv6
 * literal whose scope is an interface name (its index could change before a resolve). */
void rules_file_set_answer(Override *o);

/* Makes ri anew from every table of m (numbering every rule's entry), with room for as many
 * rules again. -E2BIG past RULES_FILE_MAX_RULES (no file then), -ENOMEM, or -errno of the
 * random key. */
int rules_file_build(Manager *m, RulesImage *ri);

/* In place, O(1) (a slot probe, a chain head): o of table t is in the tables now, or is
 * about to leave them. Each notes the bytes it changed; without room the image is broken. */
void rules_file_add(RulesImage *ri, const OverrideTable *t, Override *o);
void rules_file_remove(RulesImage *ri, Override *o);
void rules_image_free(RulesImage *ri);

/* A random key for a new file's slots (getrandom(), else the clock: the key only has to be
 * unknown before the file exists, since every reader can read it after). */
void published_file_key(uint64_t key[2]);
