/* SPDX-License-Identifier: MIT */

/* JSON output for netutilctl (json.h). Keys are ours; values may be anything, so they
 * are escaped per RFC 8259. */

#include <inttypes.h>
#include <string.h>

#include "json.h"
#include "text.h"

/* Always valid JSON in valid UTF-8, whatever s holds: quote and backslash escaped, the
 * control characters (C0, DEL, C1) as \u escapes, and each byte that is not valid UTF-8
 * as U+FFFD (\ufffd), the replacement character. */
static void put_escaped(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                uint32_t cp = 0;
                size_t len = text_utf8_char(p + i, n - i, &cp);

                if (len == 0) {
                        fputs("\\ufffd", f);
                        i++;
                        continue;
                }
                if (cp == '"')
                        fputs("\\\"", f);
                else if (cp == '\\')
                        fputs("\\\\", f);
                else if (cp == '\n')
                        fputs("\\n", f);
                else if (cp == '\r')
                        fputs("\\r", f);
                else if (cp == '\t')
                        fputs("\\t", f);
                else if (text_is_control(cp))
                        fprintf(f, "\\u%04x", (unsigned) cp);
                else
                        fwrite(p + i, 1, len, f);
                i += len;
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
