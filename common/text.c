/* SPDX-License-Identifier: MIT */

/* UTF-8 checks and escaping (text.h), after RFC 3629 §4's table of well-formed sequences. */

#include <errno.h>
#include <string.h>

#include "text.h"

size_t text_utf8_char(const unsigned char *s, size_t n, uint32_t *ret_cp) {
        uint32_t cp, min;
        size_t len;

        if (n == 0)
                return 0;
        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f, min = 0x80;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f, min = 0x800;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0; /* a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5.. */
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

int text_check(const char *s, char *why, size_t why_len) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);

        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = text_utf8_char(p + i, n - i, &cp);

                if (len == 0) {
                        snprintf(why, why_len, "is not valid UTF-8 at byte %zu (0x%02x)", i, p[i]);
                        return -EINVAL;
                }
                if (text_is_control(cp)) {
                        snprintf(why, why_len, "contains the control character U+%04X at byte %zu", (unsigned) cp, i);
                        return -EINVAL;
                }
                i += len;
        }
        return 0;
}

void text_fputs_escaped(const char *s, FILE *f) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);

        for (size_t i = 0; i < n;) {
                uint32_t cp = 0;
                size_t len = text_utf8_char(p + i, n - i, &cp);

                if (len > 0 && !text_is_control(cp)) {
                        if (cp == '\\')
                                fputs("\\\\", f);
                        else
                                fwrite(p + i, 1, len, f);
                        i += len;
                        continue;
                }
                /* A control character is escaped byte by byte, as an invalid byte is. */
                for (size_t k = 0; k < (len ? len : 1); k++)
                        fprintf(f, "\\x%02x", p[i + k]);
                i += len ? len : 1;
        }
}
