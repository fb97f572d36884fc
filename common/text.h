/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Names are text (DESIGN.md §4): what the daemon accepts as a host, a target, a scope or a
 * socket name is valid UTF-8 without control characters, and what netutilctl prints is
 * escaped whatever it is. Shared by the daemon (the checks) and netutilctl (the escaping).
 * Owns the UTF-8 decoding and the rules; no I/O except the FILE it is given.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The length (1..4) of the UTF-8 character at s (at most n bytes), its code point in
 * *ret_cp; 0 if the bytes there are no valid UTF-8 (a stray continuation byte, a truncated
 * sequence, an overlong form, a surrogate, past U+10FFFF). */
size_t text_utf8_char(const unsigned char *s, size_t n, uint32_t *ret_cp);

/* C0 (U+0000..U+001F), DEL (U+007F) and C1 (U+0080..U+009F): characters a terminal acts on. */
static inline bool text_is_control(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* 0 if s is valid UTF-8 without control characters; else -EINVAL, and in *ret_why what is
 * wrong in words ("contains the control character U+001B at byte 4", "is not valid UTF-8
 * at byte 0 (0xff)"), never the bytes themselves. */
int text_check(const char *s, char *why, size_t why_len);

/* Writes s to f with every byte that is not part of a printable UTF-8 character written as
 * \xNN, and a backslash as \\ (so that the output is unambiguous and never moves a
 * terminal's cursor or colours). */
void text_fputs_escaped(const char *s, FILE *f);
