/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The rules file (proto/rules-file-format.h): every override rule, published as
 * SOCKET_PATH.rules so that libnetutil and the NSS module answer a hit on a literal target
 * without a round trip. Owns the file's bytes and each rule's answer; names-index.c owns
 * when the file is written (with the names index, before the acknowledgement of a change)
 * and the file itself. Must not decide anything about rules: it only mirrors the tables.
 */

#include <stddef.h>

#include "manager.h"

typedef struct Override Override;

/* Sets o's answer from its target (override.c, whenever a target is set): the address the
 * daemon's numeric getaddrinfo() gives, or none (answer_family 0) for a name, or an IPv6
 * literal whose scope is an interface name (its index could change before a resolve). */
void rules_file_set_answer(Override *o);

/* The whole file for every table of m, in a new buffer. -E2BIG past RULES_FILE_MAX_RULES
 * (no file then), -ENOMEM. */
int rules_file_build(Manager *m, void **ret_buf, size_t *ret_size);
