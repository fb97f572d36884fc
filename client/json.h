/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A tiny JSON writer for netutilctl's --json output: one object per run, written as it
 * is built. Owns escaping; must not buffer or allocate.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct JsonWriter {
        FILE *f;
        bool need_comma[16]; /* per nesting level: 16 is deeper than any output of ours */
        unsigned depth;
} JsonWriter;

void json_begin_object(JsonWriter *w, const char *key);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w, const char *key);
void json_end_array(JsonWriter *w);
void json_string(JsonWriter *w, const char *key, const char *value); /* NULL value: null */
void json_int(JsonWriter *w, const char *key, int64_t value);
void json_uint(JsonWriter *w, const char *key, uint64_t value);
void json_null(JsonWriter *w, const char *key);
void json_bool(JsonWriter *w, const char *key, bool value);
/* Ends the top-level value with a newline. */
void json_finish(JsonWriter *w);
