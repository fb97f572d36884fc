/* SPDX-License-Identifier: MIT */

/* JSON output for netutilctl (json.h). Keys are ours; values may be anything, so they
 * are escaped per RFC 8259. */

#include <inttypes.h>

#include "json.h"

static void put_escaped(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (*p < 0x20)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

static void prefix(JsonWriter *w, const char *key) {
        if (w->need_comma[w->depth])
                fputs(", ", w->f);
        w->need_comma[w->depth] = true;
        if (key) {
                put_escaped(w->f, key);
                fputs(": ", w->f);
        }
}

static void open_level(JsonWriter *w, const char *key, char c) {
        prefix(w, key);
        fputc(c, w->f);
        if (w->depth + 1 < sizeof(w->need_comma))
                w->depth++;
        w->need_comma[w->depth] = false;
}

static void close_level(JsonWriter *w, char c) {
        fputc(c, w->f);
        if (w->depth > 0)
                w->depth--;
}

void json_begin_object(JsonWriter *w, const char *key) {
        open_level(w, key, '{');
}

void json_end_object(JsonWriter *w) {
        close_level(w, '}');
}

void json_begin_array(JsonWriter *w, const char *key) {
        open_level(w, key, '[');
}

void json_end_array(JsonWriter *w) {
        close_level(w, ']');
}

void json_string(JsonWriter *w, const char *key, const char *value) {
        prefix(w, key);
        if (value)
                put_escaped(w->f, value);
        else
                fputs("null", w->f);
}

void json_int(JsonWriter *w, const char *key, int64_t value) {
        prefix(w, key);
        fprintf(w->f, "%" PRId64, value);
}

void json_uint(JsonWriter *w, const char *key, uint64_t value) {
        prefix(w, key);
        fprintf(w->f, "%" PRIu64, value);
}

void json_null(JsonWriter *w, const char *key) {
        prefix(w, key);
        fputs("null", w->f);
}

void json_bool(JsonWriter *w, const char *key, bool value) {
        prefix(w, key);
        fputs(value ? "true" : "false", w->f);
}

void json_finish(JsonWriter *w) {
        fputc('\n', w->f);
        fflush(w->f);
}
