/* SPDX-License-Identifier: MIT */

/* The wire protocol (proto/proto.c): encoding and decoding round trips, builder limits,
 * every malformed input proto_parse() must refuse, a deterministic mutation loop, fd
 * passing over a real SOCK_SEQPACKET socketpair, oversized datagrams and multi-part
 * replies. Tests that touch fds count the open fds of the process before and after. */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"

/* An attribute type no table knows: the decoder must skip it. */
#define ATTR_UNKNOWN 999u
/* A type inside the table's range that has no entry: also unknown. */
#define ATTR_UNKNOWN_GAP 3u

/* ---- Helpers ------------------------------------------------------------------------ */

/* Open fds of this process; the directory's own fd is counted every time, so two counts
 * compare equal exactly when nothing was opened or closed in between. */
static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static bool fd_is_closed(int fd) {
        return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static bool fd_is_cloexec(int fd) {
        int flags = fcntl(fd, F_GETFD);

        ck_assert_int_ge(flags, 0);
        return flags & FD_CLOEXEC;
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        ck_assert_int_eq(fstat(a, &sa), 0);
        ck_assert_int_eq(fstat(b, &sb), 0);
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A dup without O_CLOEXEC, so that CLOEXEC on the receiving side proves MSG_CMSG_CLOEXEC. */
static int dup_plain(int fd) {
        int d = fcntl(fd, F_DUPFD, 3);

        ck_assert_int_ge(d, 0);
        ck_assert(!fd_is_cloexec(d));
        return d;
}

static void seqpacket_pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

/* Writes one attribute (header, value, zero padding) at p; returns the bytes written. */
static size_t put_attr(uint8_t *p, uint16_t type, uint16_t len, const void *value, size_t value_len) {
        ProtoAttrHeader h = {.type = type, .length = len};

        memcpy(p, &h, sizeof(h));
        if (value_len > 0)
                memcpy(p + sizeof(h), value, value_len);
        memset(p + sizeof(h) + value_len, 0, PROTO_ALIGN(value_len) - value_len);
        return sizeof(h) + PROTO_ALIGN(value_len);
}

static size_t put_u32(uint8_t *p, uint16_t type, uint32_t v) {
        return put_attr(p, type, sizeof(v), &v, sizeof(v));
}

/* A datagram of exactly PROTO_HEADER_SIZE + attrs_len bytes (heap, so that valgrind sees
 * any read past it) whose header says version, serial and length. */
static uint8_t *craft(uint8_t version, uint32_t length, const void *attrs, size_t attrs_len,
                      size_t *ret_size) {
        ProtoHeader h = {
                .version = version,
                .type = PROTO_MSG_STATUS,
                .serial = 0x5e1a1u,
                .length = length,
        };
        uint8_t *buf = malloc(PROTO_HEADER_SIZE + attrs_len);

        ck_assert_ptr_nonnull(buf);
        memcpy(buf, &h, sizeof(h));
        if (attrs_len > 0)
                memcpy(buf + PROTO_HEADER_SIZE, attrs, attrs_len);
        *ret_size = PROTO_HEADER_SIZE + attrs_len;
        return buf;
}

/* proto_parse() of a well-formed header followed by attrs[0..attrs_len). */
static int parse_attrs(const void *attrs, size_t attrs_len) {
        _cleanup_(freep) uint8_t *buf = NULL;
        ProtoView v;
        size_t size;

        buf = craft(PROTO_VERSION, (uint32_t) attrs_len, attrs, attrs_len, &size);
        return proto_parse(buf, size, &v);
}

/* The attributes of a freshly built scratch message, copied out. */
static uint8_t *scratch_attrs(ProtoMsg *m, size_t *ret_len) {
        const void *a = proto_msg_attrs(m, ret_len);
        uint8_t *copy = malloc(*ret_len + 1);

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, a, *ret_len);
        return copy;
}

/* ---- Round trips -------------------------------------------------------------------- */

START_TEST(test_roundtrip_header_fields_as_set) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        ProtoView v;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 0xdeadbeefu, &m), 0);
        ck_assert_uint_eq(m->size, PROTO_HEADER_SIZE);
        proto_msg_header(m)->status = EHOSTUNREACH;
        proto_msg_header(m)->flags = PROTO_FLAG_MORE;
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_PID, 42), 0);

        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
        ck_assert_uint_eq(v.header.version, PROTO_VERSION);
        ck_assert_uint_eq(v.header.type, PROTO_MSG_STATUS);
        ck_assert_uint_eq(v.header.serial, 0xdeadbeefu);
        ck_assert_int_eq(v.header.status, EHOSTUNREACH);
        ck_assert_uint_eq(v.header.flags, PROTO_FLAG_MORE);
        ck_assert_uint_eq(v.header.length, 8);
        ck_assert_uint_eq(m->size, PROTO_HEADER_SIZE + 8);
        ck_assert_ptr_eq(v.attrs, m->data + PROTO_HEADER_SIZE);
        ck_assert_uint_eq(v.attrs_len, 8);
}
END_TEST

START_TEST(test_roundtrip_all_kinds_via_getters_and_iterator) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        const uint8_t blob[3] = {0xaa, 0x00, 0xbb};
        ProtoView v, item, inner;
        ProtoIter it;
        ProtoAttr a;
        const char *s;
        uint32_t u32;
        int32_t s32;
        uint64_t u64;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 7, &m), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_PID, 0xfffffffeu), 0);
        ck_assert_int_eq(proto_msg_append_s32(m, PROTO_ATTR_GAI_ERROR, -3), 0);
        ck_assert_int_eq(proto_msg_append_u64(m, PROTO_ATTR_UPTIME_USEC, UINT64_C(0x0123456789abcdef)), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_VERSION, "1.2.3"), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, blob, sizeof(blob)), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_MODE, "user"), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_CLIENTS, 77), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FD_INDEX, 5), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_uint_eq(m->n_nest, 0);
        ck_assert_uint_eq(proto_msg_header(m)->length, m->size - PROTO_HEADER_SIZE);

        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);

        /* Getters. */
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_PID, &u32), 0);
        ck_assert_uint_eq(u32, 0xfffffffeu);
        ck_assert_int_eq(proto_get_s32(&v, PROTO_ATTR_GAI_ERROR, &s32), 0);
        ck_assert_int_eq(s32, -3);
        ck_assert_int_eq(proto_get_u64(&v, PROTO_ATTR_UPTIME_USEC, &u64), 0);
        ck_assert(u64 == UINT64_C(0x0123456789abcdef));
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_VERSION, &s), 0);
        ck_assert_str_eq(s, "1.2.3");
        /* Nested members are not top-level attributes. */
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_MODE, &s), -ENODATA);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_CLIENTS, &u32), -ENODATA);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_HELD, &u32), -ENODATA);
        /* The wrong width is refused, not misread. */
        ck_assert_int_eq(proto_get_u64(&v, PROTO_ATTR_PID, &u64), -EBADMSG);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_UPTIME_USEC, &u32), -EBADMSG);

        /* Iterator: every attribute in order, with exact lengths. */
        proto_iter_init(&it, &v);
        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_PID);
        ck_assert_uint_eq(a.length, 4);
        ck_assert_int_eq(proto_attr_u32(&a, &u32), 0);
        ck_assert_uint_eq(u32, 0xfffffffeu);
        ck_assert_int_eq(proto_attr_u64(&a, &u64), -EBADMSG);
        ck_assert_int_eq(proto_attr_nested(&a, &item), -EBADMSG);

        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_GAI_ERROR);
        ck_assert_uint_eq(a.length, 4);

        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_UPTIME_USEC);
        ck_assert_uint_eq(a.length, 8);
        ck_assert_int_eq(proto_attr_u64(&a, &u64), 0);
        ck_assert(u64 == UINT64_C(0x0123456789abcdef));

        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_VERSION);
        ck_assert_uint_eq(a.length, 6);
        ck_assert_int_eq(proto_attr_string(&a, &s), 0);
        ck_assert_str_eq(s, "1.2.3");

        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, ATTR_UNKNOWN);
        ck_assert_uint_eq(a.length, 3);
        ck_assert_int_eq(memcmp(a.value, blob, sizeof(blob)), 0);

        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_ITEM);
        /* MODE (4 + 8) + ITEM (4 + CLIENTS 8) + FD_INDEX (4 + 4) */
        ck_assert_uint_eq(a.length, 12 + 12 + 8);
        ck_assert_int_eq(proto_attr_nested(&a, &item), 0);
        ck_assert(!proto_iter_next(&it, &a));

        /* Level 1. */
        ck_assert_uint_eq(item.header.serial, 0);
        ck_assert_int_eq(proto_get_string(&item, PROTO_ATTR_MODE, &s), 0);
        ck_assert_str_eq(s, "user");
        ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_FD_INDEX, &u32), 0);
        ck_assert_uint_eq(u32, 5);
        ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_CLIENTS, &u32), -ENODATA);
        proto_iter_init(&it, &item);
        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_MODE);
        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_ITEM);
        ck_assert_uint_eq(a.length, 8);
        ck_assert_int_eq(proto_attr_nested(&a, &inner), 0);
        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_FD_INDEX);
        ck_assert(!proto_iter_next(&it, &a));

        /* Level 2. */
        ck_assert_int_eq(proto_get_u32(&inner, PROTO_ATTR_CLIENTS, &u32), 0);
        ck_assert_uint_eq(u32, 77);
        proto_iter_init(&it, &inner);
        ck_assert(proto_iter_next(&it, &a));
        ck_assert_uint_eq(a.type, PROTO_ATTR_CLIENTS);
        ck_assert(!proto_iter_next(&it, &a));
}
END_TEST

START_TEST(test_unknown_attributes_are_skipped_by_parse_and_getters) {
        /* Unknown types carry values that would be invalid for any known kind: a 1-byte
         * value, a "string" without NUL, an odd length. The known ones after them must
         * still be found. */
        uint8_t attrs[128];
        size_t n = 0;
        uint32_t u32;
        const char *s;
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        ProtoView v;
        ProtoIter it;
        ProtoAttr a;
        unsigned seen = 0;

        n += put_attr(attrs + n, ATTR_UNKNOWN, 1, "x", 1);
        n += put_attr(attrs + n, ATTR_UNKNOWN_GAP, 3, "abc", 3);
        n += put_attr(attrs + n, 0xffff, 0, NULL, 0);
        n += put_attr(attrs + n, PROTO_ATTR_UNSPEC, 5, "\0\0\0\0\0", 5);
        n += put_u32(attrs + n, PROTO_ATTR_PID, 1234);
        n += put_attr(attrs + n, ATTR_UNKNOWN, 7, "1234567", 7);
        n += put_attr(attrs + n, PROTO_ATTR_MODE, 7, "system", 7);

        buf = craft(PROTO_VERSION, (uint32_t) n, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), 0);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_PID, &u32), 0);
        ck_assert_uint_eq(u32, 1234);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_MODE, &s), 0);
        ck_assert_str_eq(s, "system");

        proto_iter_init(&it, &v);
        while (proto_iter_next(&it, &a))
                seen++;
        ck_assert_uint_eq(seen, 7);

        /* The same unknown attribute inside an ITEM is skipped too. */
        uint8_t nested[64];
        size_t k = 0;
        uint8_t member[32];
        size_t mlen = 0;

        mlen += put_attr(member + mlen, ATTR_UNKNOWN, 2, "zz", 2);
        mlen += put_u32(member + mlen, PROTO_ATTR_FD_INDEX, 9);
        k += put_attr(nested + k, PROTO_ATTR_ITEM, (uint16_t) mlen, member, mlen);
        ck_assert_int_eq(parse_attrs(nested, k), 0);
}
END_TEST

START_TEST(test_error_new_carries_status_and_message) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL, *bare = NULL;
        ProtoView v;
        const char *s;

        ck_assert_int_eq(proto_error_new(PROTO_MSG_STATUS, 99, EPERM, "Permission denied by policy", &m), 0);
        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
        ck_assert_uint_eq(v.header.type, PROTO_MSG_STATUS);
        ck_assert_uint_eq(v.header.serial, 99);
        ck_assert_int_eq(v.header.status, EPERM);
        ck_assert_uint_eq(v.header.flags, 0);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &s), 0);
        ck_assert_str_eq(s, "Permission denied by policy");

        /* No text: status only. */
        ck_assert_int_eq(proto_error_new(PROTO_MSG_STATUS, 0, EMFILE, NULL, &bare), 0);
        ck_assert_int_eq(proto_parse(bare->data, bare->size, &v), 0);
        ck_assert_int_eq(v.header.status, EMFILE);
        ck_assert_uint_eq(v.header.length, 0);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &s), -ENODATA);
}
END_TEST

START_TEST(test_error_new_cuts_overlong_message) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        char text[3 * PROTO_MAX_ERROR_MESSAGE];
        ProtoView v;
        const char *s;

        memset(text, 'x', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        text[PROTO_MAX_ERROR_MESSAGE - 2] = 'y'; /* last character kept */
        text[PROTO_MAX_ERROR_MESSAGE - 1] = 'z'; /* first character cut */

        ck_assert_int_eq(proto_error_new(PROTO_MSG_STATUS, 5, EINVAL, text, &m), 0);
        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
        ck_assert_int_eq(v.header.status, EINVAL);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &s), 0);
        ck_assert_uint_eq(strlen(s), PROTO_MAX_ERROR_MESSAGE - 1);
        ck_assert_int_eq(strncmp(s, text, PROTO_MAX_ERROR_MESSAGE - 1), 0);
        ck_assert_int_eq(s[PROTO_MAX_ERROR_MESSAGE - 2], 'y');
}
END_TEST

START_TEST(test_parse_accepts_missing_padding_after_last_attribute) {
        uint8_t attrs[16];
        size_t n = 0;

        n += put_u32(attrs + n, PROTO_ATTR_PID, 1);
        n += put_attr(attrs + n, PROTO_ATTR_MODE, 3, "ab", 3);
        /* Drop the last attribute's one padding byte. */
        ck_assert_int_eq(parse_attrs(attrs, n - 1), 0);
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
}
END_TEST

/* ---- Builder limits ----------------------------------------------------------------- */

/* A message filled to exactly PROTO_MAX_MSG with one unknown attribute. */
static ProtoMsg *full_message(void) {
        ProtoMsg *m = NULL;
        static uint8_t fill[PROTO_MAX_MSG];

        memset(fill, 0x5a, sizeof(fill));
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 1, &m), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, fill, PROTO_MAX_MSG - PROTO_HEADER_SIZE - 4), 0);
        ck_assert_uint_eq(m->size, PROTO_MAX_MSG);
        return m;
}

START_TEST(test_append_past_max_msg_leaves_message_unchanged) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL, *f = NULL;
        _cleanup_(freep) uint8_t *snapshot = NULL, *big = NULL;
        size_t size;
        ProtoView v;

        /* Nearly full: a large append that does not fit. */
        big = calloc(1, 2000);
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, 1000), 0);
        for (unsigned i = 0; i < 63; i++)
                ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, 1000), 0);
        ck_assert_uint_eq(m->size, PROTO_HEADER_SIZE + 64 * 1004);
        size = m->size;
        snapshot = malloc(size);
        ck_assert_ptr_nonnull(snapshot);
        memcpy(snapshot, m->data, size);

        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, 2000), -EMSGSIZE);
        ck_assert_uint_eq(m->size, size);
        ck_assert_int_eq(memcmp(m->data, snapshot, size), 0);
        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);

        /* Full to the byte: every kind of append fails, nothing changes. */
        f = full_message();
        free(snapshot);
        snapshot = malloc(PROTO_MAX_MSG);
        ck_assert_ptr_nonnull(snapshot);
        memcpy(snapshot, f->data, PROTO_MAX_MSG);
        ck_assert_int_eq(proto_parse(f->data, f->size, &v), 0);

        ck_assert_int_eq(proto_msg_append_u32(f, PROTO_ATTR_PID, 1), -EMSGSIZE);
        ck_assert_int_eq(proto_msg_append_s32(f, PROTO_ATTR_GAI_ERROR, -1), -EMSGSIZE);
        ck_assert_int_eq(proto_msg_append_u64(f, PROTO_ATTR_REQUESTS, 1), -EMSGSIZE);
        ck_assert_int_eq(proto_msg_append_string(f, PROTO_ATTR_MODE, "user"), -EMSGSIZE);
        ck_assert_int_eq(proto_msg_append(f, ATTR_UNKNOWN, NULL, 0), -EMSGSIZE);
        ck_assert_int_eq(proto_msg_open_nested(f, PROTO_ATTR_ITEM), -EMSGSIZE);
        ck_assert_uint_eq(f->n_nest, 0);
        ck_assert_uint_eq(f->size, PROTO_MAX_MSG);
        ck_assert_int_eq(memcmp(f->data, snapshot, PROTO_MAX_MSG), 0);
        ck_assert_int_eq(proto_parse(f->data, f->size, &v), 0);
}
END_TEST

START_TEST(test_append_past_max_msg_inside_nested_leaves_message_unchanged) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        _cleanup_(freep) uint8_t *snapshot = NULL, *big = NULL;
        size_t size;
        ProtoView v;

        big = calloc(1, PROTO_MAX_MSG);
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, 60000), 0);
        size = m->size;
        snapshot = malloc(size);
        ck_assert_ptr_nonnull(snapshot);
        memcpy(snapshot, m->data, size);

        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, 6000), -EMSGSIZE);
        ck_assert_uint_eq(m->size, size);
        ck_assert_uint_eq(m->n_nest, 1);
        ck_assert_int_eq(memcmp(m->data, snapshot, size), 0);

        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
}
END_TEST

START_TEST(test_append_refuses_value_longer_than_attribute_field) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        _cleanup_(freep) uint8_t *big = NULL;

        big = calloc(1, UINT16_MAX + 1);
        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, UINT16_MAX), -EINVAL);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, big, UINT16_MAX + 1), -EINVAL);
        ck_assert_uint_eq(m->size, PROTO_HEADER_SIZE);
        ck_assert_uint_eq(proto_msg_header(m)->length, 0);
}
END_TEST

START_TEST(test_append_string_longer_than_max_is_einval) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        char s[PROTO_MAX_ERROR_MESSAGE + 1];
        ProtoView v;
        const char *got;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);

        /* VERSION: at most 64 bytes with the NUL. */
        memset(s, 'v', 64);
        s[64] = '\0';
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_VERSION, s), -EINVAL);
        ck_assert_uint_eq(m->size, PROTO_HEADER_SIZE);
        s[63] = '\0';
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_VERSION, s), 0);

        /* ERROR_MESSAGE: at most PROTO_MAX_ERROR_MESSAGE with the NUL. */
        memset(s, 'e', PROTO_MAX_ERROR_MESSAGE);
        s[PROTO_MAX_ERROR_MESSAGE] = '\0';
        size_t before = m->size;
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ERROR_MESSAGE, s), -EINVAL);
        ck_assert_uint_eq(m->size, before);
        s[PROTO_MAX_ERROR_MESSAGE - 1] = '\0';
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ERROR_MESSAGE, s), 0);

        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_VERSION, &got), 0);
        ck_assert_uint_eq(strlen(got), 63);
        ck_assert_int_eq(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &got), 0);
        ck_assert_uint_eq(strlen(got), PROTO_MAX_ERROR_MESSAGE - 1);
}
END_TEST

START_TEST(test_nesting_deeper_than_max_is_e2big) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        ProtoView v, cur;
        ProtoIter it;
        ProtoAttr a;
        uint32_t u32;
        size_t size;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);
        for (unsigned i = 0; i < PROTO_MAX_NESTING; i++)
                ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_uint_eq(m->n_nest, PROTO_MAX_NESTING);
        size = m->size;
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), -E2BIG);
        ck_assert_uint_eq(m->size, size);
        ck_assert_uint_eq(m->n_nest, PROTO_MAX_NESTING);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FD_INDEX, 4), 0);
        for (unsigned i = 0; i < PROTO_MAX_NESTING; i++)
                ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), -EINVAL);

        /* The deepest nesting the builder makes, the decoder accepts. */
        ck_assert_int_eq(proto_parse(m->data, m->size, &v), 0);
        cur = v;
        for (unsigned i = 0; i < PROTO_MAX_NESTING; i++) {
                proto_iter_init(&it, &cur);
                ck_assert(proto_iter_next(&it, &a));
                ck_assert_uint_eq(a.type, PROTO_ATTR_ITEM);
                ck_assert_uint_eq(a.length, 4 * (PROTO_MAX_NESTING - 1 - i) + 8);
                ck_assert(!proto_iter_next(&it, &a));
                ck_assert_int_eq(proto_attr_nested(&a, &cur), 0);
        }
        ck_assert_int_eq(proto_get_u32(&cur, PROTO_ATTR_FD_INDEX, &u32), 0);
        ck_assert_uint_eq(u32, 4);
}
END_TEST

START_TEST(test_push_fd_past_max_fds_closes_fd) {
        int fds0 = count_fds();
        int p[2], extra;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;

                ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 3, &m), 0);
                ck_assert_int_eq(proto_msg_push_fd(m, -1), -EBADF);
                for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
                        ck_assert_int_eq(proto_msg_push_fd(m, dup_plain(p[0])), (int) i);
                ck_assert_uint_eq(m->n_fds, PROTO_MAX_FDS);
                ck_assert_int_eq(count_fds(), fds0 + 2 + (int) PROTO_MAX_FDS);

                extra = dup_plain(p[0]);
                ck_assert_int_eq(proto_msg_push_fd(m, extra), -ETOOMANYREFS);
                ck_assert(fd_is_closed(extra));
                ck_assert_uint_eq(m->n_fds, PROTO_MAX_FDS);
                ck_assert_int_eq(count_fds(), fds0 + 2 + (int) PROTO_MAX_FDS);
        }
        /* proto_msg_free() closed all 253. */
        ck_assert_int_eq(count_fds(), fds0 + 2);
        safe_close(p[0]);
        safe_close(p[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* ---- Malformed input ---------------------------------------------------------------- */

START_TEST(test_parse_rejects_empty_datagram) {
        uint8_t buf[PROTO_HEADER_SIZE] = {PROTO_VERSION};
        ProtoView v;

        memset(&v, 0xff, sizeof(v));
        ck_assert_int_eq(proto_parse(buf, 0, &v), -EBADMSG);
        ck_assert_ptr_null(v.attrs);
        ck_assert_uint_eq(v.attrs_len, 0);
}
END_TEST

START_TEST(test_parse_rejects_truncated_header) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        ProtoView v;

        buf = craft(PROTO_VERSION, 0, NULL, 0, &size);
        ck_assert_int_eq(proto_parse(buf, PROTO_HEADER_SIZE - 1, &v), -EBADMSG);
        ck_assert_uint_eq(v.header.serial, 0); /* not filled from fewer than 16 bytes */
        ck_assert_ptr_null(v.attrs);
        ck_assert_int_eq(proto_parse(buf, 1, &v), -EBADMSG);
        /* Control: the whole header alone is a valid empty message. */
        ck_assert_int_eq(proto_parse(buf, size, &v), 0);
        ck_assert_uint_eq(v.attrs_len, 0);
}
END_TEST

START_TEST(test_parse_rejects_other_version_but_fills_header) {
        uint8_t attrs[8];
        size_t n = put_u32(attrs, PROTO_ATTR_PID, 1), size;
        ProtoView v;

        for (unsigned version = 0; version < 256; version++) {
                _cleanup_(freep) uint8_t *buf = NULL;

                if (version == PROTO_VERSION)
                        continue;
                buf = craft((uint8_t) version, (uint32_t) n, attrs, n, &size);
                ck_assert_int_eq(proto_parse(buf, size, &v), -EPROTONOSUPPORT);
                ck_assert_uint_eq(v.header.version, version);
                ck_assert_uint_eq(v.header.serial, 0x5e1a1u);
                ck_assert_uint_eq(v.header.type, PROTO_MSG_STATUS);
                ck_assert_ptr_null(v.attrs);
        }
}
END_TEST

START_TEST(test_parse_rejects_length_larger_than_datagram) {
        _cleanup_(freep) uint8_t *buf = NULL;
        uint8_t attrs[8];
        size_t n = put_u32(attrs, PROTO_ATTR_PID, 1), size;
        ProtoView v;

        buf = craft(PROTO_VERSION, (uint32_t) n + 4, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
        ck_assert_uint_eq(v.header.serial, 0x5e1a1u); /* filled for the error reply */
        ck_assert_ptr_null(v.attrs);
        free(buf);
        buf = craft(PROTO_VERSION, UINT32_MAX, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
        free(buf);
        buf = craft(PROTO_VERSION, (uint32_t) n + 1, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
}
END_TEST

START_TEST(test_parse_rejects_length_smaller_than_datagram) {
        _cleanup_(freep) uint8_t *buf = NULL;
        uint8_t attrs[16];
        size_t n = 0, size;
        ProtoView v;

        n += put_u32(attrs + n, PROTO_ATTR_PID, 1);
        n += put_u32(attrs + n, PROTO_ATTR_HELD, 2);
        /* Claims only the first attribute: trailing bytes are not ignored. */
        buf = craft(PROTO_VERSION, 8, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
        ck_assert_uint_eq(v.header.serial, 0x5e1a1u);
        free(buf);
        buf = craft(PROTO_VERSION, 0, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
        free(buf);
        buf = craft(PROTO_VERSION, (uint32_t) n - 1, attrs, n, &size);
        ck_assert_int_eq(proto_parse(buf, size, &v), -EBADMSG);
}
END_TEST

START_TEST(test_parse_rejects_attr_header_overrunning_payload) {
        uint8_t attrs[16];
        size_t n = 0;

        n += put_u32(attrs + n, PROTO_ATTR_PID, 1);
        n += put_u32(attrs + n, PROTO_ATTR_HELD, 2);
        /* 1..3 bytes of an attribute header alone, and after a valid attribute. */
        for (size_t k = 1; k < 4; k++) {
                ck_assert_int_eq(parse_attrs(attrs, k), -EBADMSG);
                ck_assert_int_eq(parse_attrs(attrs, 8 + k), -EBADMSG);
        }
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
}
END_TEST

START_TEST(test_parse_rejects_attr_value_overrunning_payload) {
        uint8_t attrs[32];
        ProtoAttrHeader h;
        size_t n;

        /* Known u32 whose header claims 4 bytes but only 0..3 follow. */
        n = put_u32(attrs, PROTO_ATTR_PID, 1);
        for (size_t k = 4; k < n; k++)
                ck_assert_int_eq(parse_attrs(attrs, k), -EBADMSG);

        /* Unknown type: the value must still lie inside the payload. */
        n = put_attr(attrs, ATTR_UNKNOWN, 8, "12345678", 8);
        h = (ProtoAttrHeader){.type = ATTR_UNKNOWN, .length = 9};
        memcpy(attrs, &h, sizeof(h));
        ck_assert_int_eq(parse_attrs(attrs, n), -EBADMSG);
        h.length = UINT16_MAX;
        memcpy(attrs, &h, sizeof(h));
        ck_assert_int_eq(parse_attrs(attrs, n), -EBADMSG);
        h.length = 8;
        memcpy(attrs, &h, sizeof(h));
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
}
END_TEST

START_TEST(test_parse_rejects_fixed_size_values_of_wrong_length) {
        const uint8_t zero[16] = {};
        static const struct {
                uint16_t type;
                uint16_t good;
        } cases[] = {
                {PROTO_ATTR_PID, 4},         {PROTO_ATTR_FD_INDEX, 4}, {PROTO_ATTR_GAI_ERROR, 4},
                {PROTO_ATTR_UPTIME_USEC, 8}, {PROTO_ATTR_REQUESTS, 8},
        };
        uint8_t attrs[32];

        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                for (uint16_t len = 0; len <= 12; len++) {
                        size_t n = put_attr(attrs, cases[c].type, len, zero, len);
                        int want = len == cases[c].good ? 0 : -EBADMSG;

                        ck_assert_msg(parse_attrs(attrs, n) == want, "type %u length %u", cases[c].type, len);
                }
        /* The two the brief names, explicitly. */
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_PID, 3, zero, 3)), -EBADMSG);
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_PID, 5, zero, 5)), -EBADMSG);
}
END_TEST

START_TEST(test_parse_rejects_string_without_nul) {
        uint8_t attrs[16];

        /* The padding after "abc" is a zero byte: it must not count as the terminator. */
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_MODE, 3, "abc", 3)), -EBADMSG);
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_MODE, 4, "abcd", 4)), -EBADMSG);
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_MODE, 4, "abc", 4)), 0);
}
END_TEST

START_TEST(test_parse_rejects_string_with_embedded_nul) {
        uint8_t attrs[16];

        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_MODE, 4, "a\0b", 4)), -EBADMSG);
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_MODE, 2, "\0", 2)), -EBADMSG);
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_ERROR_MESSAGE, 5, "ab\0c", 5)),
                         -EBADMSG);
}
END_TEST

START_TEST(test_parse_rejects_empty_string) {
        uint8_t attrs[16];

        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_VERSION, 0, NULL, 0)), -EBADMSG);
        /* The empty string is one NUL byte. */
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_VERSION, 1, "", 1)), 0);
}
END_TEST

START_TEST(test_parse_rejects_string_longer_than_max) {
        uint8_t s[PROTO_MAX_ERROR_MESSAGE + 1];
        uint8_t attrs[PROTO_MAX_ERROR_MESSAGE + 8];

        memset(s, 'q', sizeof(s));
        s[64] = '\0';
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_VERSION, 65, s, 65)), -EBADMSG);
        s[63] = '\0';
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_VERSION, 64, s, 64)), 0);

        memset(s, 'q', sizeof(s));
        s[PROTO_MAX_ERROR_MESSAGE] = '\0';
        ck_assert_int_eq(
                parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_ERROR_MESSAGE, PROTO_MAX_ERROR_MESSAGE + 1, s,
                                            PROTO_MAX_ERROR_MESSAGE + 1)),
                -EBADMSG);
        s[PROTO_MAX_ERROR_MESSAGE - 1] = '\0';
        ck_assert_int_eq(parse_attrs(attrs, put_attr(attrs, PROTO_ATTR_ERROR_MESSAGE, PROTO_MAX_ERROR_MESSAGE,
                                                     s, PROTO_MAX_ERROR_MESSAGE)),
                         0);
}
END_TEST

START_TEST(test_parse_rejects_nested_member_overrunning_nested_length) {
        uint8_t member[16], attrs[32];
        size_t mlen = 0, n;
        ProtoAttrHeader h;

        mlen += put_u32(member, PROTO_ATTR_FD_INDEX, 1);
        /* ITEM claims 6 bytes: the member's value runs 2 bytes past it, though still
         * inside the message. */
        n = put_attr(attrs, PROTO_ATTR_ITEM, 8, member, mlen);
        n += put_u32(attrs + n, PROTO_ATTR_PID, 1);
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
        for (uint16_t len = 1; len < 8; len++) {
                h = (ProtoAttrHeader){.type = PROTO_ATTR_ITEM, .length = len};
                memcpy(attrs, &h, sizeof(h));
                ck_assert_msg(parse_attrs(attrs, n) == -EBADMSG, "ITEM length %u", len);
        }
        /* A member header cut by the ITEM's end, ITEM last in the message. */
        n = put_attr(attrs, PROTO_ATTR_ITEM, 2, member, 2);
        ck_assert_int_eq(parse_attrs(attrs, n), -EBADMSG);
        /* A bad value inside an ITEM is as bad as at top level. */
        n = put_attr(attrs, PROTO_ATTR_ITEM, 8, member, mlen);
        h = (ProtoAttrHeader){.type = PROTO_ATTR_FD_INDEX, .length = 3};
        memcpy(attrs + 4, &h, sizeof(h));
        ck_assert_int_eq(parse_attrs(attrs, n), -EBADMSG);
}
END_TEST

START_TEST(test_parse_rejects_more_than_max_attrs) {
        _cleanup_(freep) uint8_t *attrs = NULL;
        size_t n = 0;

        attrs = malloc(4 * (PROTO_MAX_ATTRS + 2));
        ck_assert_ptr_nonnull(attrs);

        /* Top level: 4096 empty unknown attributes pass, 4097 do not. */
        for (unsigned i = 0; i < PROTO_MAX_ATTRS; i++)
                n += put_attr(attrs + n, ATTR_UNKNOWN, 0, NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
        n += put_attr(attrs + n, ATTR_UNKNOWN, 0, NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n), -E2BIG);

        /* Nested attributes count too: an ITEM plus 4095 members pass, plus 4096 do not. */
        n = 4;
        for (unsigned i = 0; i < PROTO_MAX_ATTRS - 1; i++)
                n += put_attr(attrs + n, ATTR_UNKNOWN, 0, NULL, 0);
        put_attr(attrs, PROTO_ATTR_ITEM, (uint16_t) (n - 4), NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
        n += put_attr(attrs + n, ATTR_UNKNOWN, 0, NULL, 0);
        put_attr(attrs, PROTO_ATTR_ITEM, (uint16_t) (n - 4), NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n), -E2BIG);
}
END_TEST

/* depth ITEMs, one inside the other, the innermost empty. */
static size_t nested_chain(uint8_t *p, unsigned depth) {
        for (unsigned i = 0; i < depth; i++)
                put_attr(p + 4 * i, PROTO_ATTR_ITEM, (uint16_t) (4 * (depth - 1 - i)), NULL, 0);
        return 4 * depth;
}

START_TEST(test_parse_rejects_nesting_deeper_than_max) {
        uint8_t attrs[64];

        ck_assert_int_eq(parse_attrs(attrs, nested_chain(attrs, PROTO_MAX_NESTING)), 0);
        ck_assert_int_eq(parse_attrs(attrs, nested_chain(attrs, PROTO_MAX_NESTING + 1)), -E2BIG);
        ck_assert_int_eq(parse_attrs(attrs, nested_chain(attrs, PROTO_MAX_NESTING + 5)), -E2BIG);
}
END_TEST

START_TEST(test_parse_rejects_datagram_larger_than_max_msg) {
        _cleanup_(freep) uint8_t *attrs = NULL;
        size_t n;

        attrs = calloc(1, PROTO_MAX_MSG);
        ck_assert_ptr_nonnull(attrs);
        /* Exactly PROTO_MAX_MSG passes; one aligned step more does not, even though the
         * header's length is consistent. */
        n = put_attr(attrs, ATTR_UNKNOWN, (uint16_t) (PROTO_MAX_MSG - PROTO_HEADER_SIZE - 4), NULL, 0);
        n += PROTO_MAX_MSG - PROTO_HEADER_SIZE - 4;
        ck_assert_uint_eq(PROTO_HEADER_SIZE + n, PROTO_MAX_MSG);
        ck_assert_int_eq(parse_attrs(attrs, n), 0);
        put_attr(attrs, ATTR_UNKNOWN, (uint16_t) (PROTO_MAX_MSG - PROTO_HEADER_SIZE), NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n + 4), -EBADMSG);
        put_attr(attrs, ATTR_UNKNOWN, (uint16_t) (PROTO_MAX_MSG - PROTO_HEADER_SIZE - 3), NULL, 0);
        ck_assert_int_eq(parse_attrs(attrs, n + 1), -EBADMSG);
}
END_TEST

/* ---- Mutation ----------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
        /* xorshift64*: deterministic, good enough to pick offsets and values. */
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * UINT64_C(2685821657736338717);
}

#define LOOP_ASSERT(iter, cond)                                                                              \
        do {                                                                                                 \
                if (!(cond))                                                                                 \
                        ck_abort_msg("mutation %u: %s", (unsigned) (iter), #cond);                           \
        } while (0)

/* Walks a parsed view recursively: every value inside [buf, buf + size), every known
 * attribute valid for its kind, depth and count within the limits. */
static void walk_view(unsigned iter, const ProtoView *v, const uint8_t *buf, size_t size, unsigned depth,
                      unsigned *count) {
        ProtoIter it;
        ProtoAttr a;

        LOOP_ASSERT(iter, depth <= PROTO_MAX_NESTING);
        LOOP_ASSERT(iter, v->attrs >= buf && v->attrs + v->attrs_len <= buf + size);
        proto_iter_init(&it, v);
        while (proto_iter_next(&it, &a)) {
                const uint8_t *value = a.value;
                size_t max_len;
                uint32_t u32;
                uint64_t u64;
                const char *s;
                ProtoView sub;

                LOOP_ASSERT(iter, ++*count <= PROTO_MAX_ATTRS);
                LOOP_ASSERT(iter, value >= buf + PROTO_HEADER_SIZE);
                LOOP_ASSERT(iter, value + a.length <= buf + size);
                LOOP_ASSERT(iter, value + a.length <= v->attrs + v->attrs_len);

                switch (proto_attr_kind(a.type, &max_len)) {
                case PROTO_KIND_U32:
                case PROTO_KIND_S32:
                        LOOP_ASSERT(iter, a.length == 4);
                        LOOP_ASSERT(iter, proto_attr_u32(&a, &u32) == 0);
                        break;
                case PROTO_KIND_U64:
                        LOOP_ASSERT(iter, a.length == 8);
                        LOOP_ASSERT(iter, proto_attr_u64(&a, &u64) == 0);
                        break;
                case PROTO_KIND_STRING:
                        LOOP_ASSERT(iter, proto_attr_string(&a, &s) == 0);
                        LOOP_ASSERT(iter, strlen(s) + 1 == a.length);
                        LOOP_ASSERT(iter, a.length <= max_len);
                        break;
                case PROTO_KIND_BINARY:
                        LOOP_ASSERT(iter, a.length <= max_len);
                        break;
                case PROTO_KIND_NESTED:
                        LOOP_ASSERT(iter, proto_attr_nested(&a, &sub) == 0);
                        LOOP_ASSERT(iter, sub.attrs == value && sub.attrs_len == a.length);
                        walk_view(iter, &sub, buf, size, depth + 1, count);
                        break;
                case PROTO_KIND_UNSPEC:
                default:
                        break;
                }
        }
}

static ProtoMsg *mutation_seed(void) {
        ProtoMsg *m = NULL;

        ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 0x01020304u, &m), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_PID, 4242), 0);
        ck_assert_int_eq(proto_msg_append_u64(m, PROTO_ATTR_UPTIME_USEC, 123456789), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_VERSION, "0.1"), 0);
        ck_assert_int_eq(proto_msg_append(m, ATTR_UNKNOWN, "\x01\x02\x03\x04\x05", 5), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_FD_INDEX, 0), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_MODE, "user"), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append_s32(m, PROTO_ATTR_GAI_ERROR, -2), 0);
        ck_assert_int_eq(proto_msg_open_nested(m, PROTO_ATTR_ITEM), 0);
        ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_CLIENTS, 3), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_msg_close_nested(m), 0);
        ck_assert_int_eq(proto_msg_append_string(m, PROTO_ATTR_ERROR_MESSAGE, "no"), 0);
        return m;
}

START_TEST(test_mutated_messages_never_escape_the_buffer) {
        static const uint16_t interesting[] = {
                0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 60, 61, 63, 64, 65, 255, 0x7fff, 0x8000, 0xfffe, 0xffff,
        };
        _cleanup_(proto_msg_freep) ProtoMsg *seed = mutation_seed();
        uint8_t work[512];
        uint64_t rng = UINT64_C(0x6e65747574696c64); /* "netutild" */
        unsigned ok = 0, bad = 0, versions = 0;
        ProtoView v;

        ck_assert_uint_lt(seed->size, 256);
        ck_assert_int_eq(proto_parse(seed->data, seed->size, &v), 0);

        for (unsigned iter = 0; iter < 10000; iter++) {
                size_t size = seed->size;
                unsigned op = (unsigned) (rng_next(&rng) % 6);
                uint8_t *buf;
                int r;

                memset(work, 0, sizeof(work));
                memcpy(work, seed->data, seed->size);
                switch (op) {
                case 0: /* flip 1..4 bits */
                        for (unsigned k = 1 + rng_next(&rng) % 4; k > 0; k--) {
                                size_t bit = rng_next(&rng) % (size * 8);
                                work[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                        }
                        break;
                case 1: /* overwrite 1..3 bytes */
                        for (unsigned k = 1 + rng_next(&rng) % 3; k > 0; k--)
                                work[rng_next(&rng) % size] = (uint8_t) rng_next(&rng);
                        break;
                case 2: /* truncate */
                        size = rng_next(&rng) % size;
                        break;
                case 3: /* extend with random bytes */
                        for (unsigned k = 1 + rng_next(&rng) % 64; k > 0; k--)
                                work[size++] = (uint8_t) rng_next(&rng);
                        break;
                case 4: /* an interesting 16-bit value at an attribute-aligned field */
                case 5: {
                        size_t off =
                                PROTO_HEADER_SIZE + 2 * (rng_next(&rng) % ((size - PROTO_HEADER_SIZE) / 2));
                        uint16_t val = interesting[rng_next(&rng) % ELEMENTSOF(interesting)];

                        memcpy(work + off, &val, sizeof(val));
                        if (op == 5) /* ... and truncate or extend by a few bytes */
                                size = size - 8 + rng_next(&rng) % 17;
                        break;
                }
                }
                /* Half the time make the header length consistent, to reach the attributes. */
                if (size >= PROTO_HEADER_SIZE && rng_next(&rng) % 2 == 0) {
                        uint32_t len = (uint32_t) (size - PROTO_HEADER_SIZE);
                        memcpy(work + offsetof(ProtoHeader, length), &len, sizeof(len));
                }

                /* Exactly size bytes on the heap, so that any overread is visible to
                 * valgrind and to the bounds checks. */
                buf = malloc(size > 0 ? size : 1);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf, work, size);

                r = proto_parse(buf, size, &v);
                if (r == 0) {
                        unsigned count = 0;

                        ok++;
                        LOOP_ASSERT(iter, size >= PROTO_HEADER_SIZE && size <= PROTO_MAX_MSG);
                        LOOP_ASSERT(iter, v.attrs == buf + PROTO_HEADER_SIZE);
                        LOOP_ASSERT(iter, v.attrs_len == size - PROTO_HEADER_SIZE);
                        LOOP_ASSERT(iter, v.header.length == v.attrs_len);
                        LOOP_ASSERT(iter, v.header.version == PROTO_VERSION);
                        walk_view(iter, &v, buf, size, 0, &count);
                } else {
                        bad++;
                        if (r == -EPROTONOSUPPORT)
                                versions++;
                        LOOP_ASSERT(iter, r == -EBADMSG || r == -EPROTONOSUPPORT || r == -E2BIG);
                        LOOP_ASSERT(iter, v.attrs == NULL && v.attrs_len == 0);
                }
                free(buf);
        }
        /* The loop exercised both outcomes. */
        ck_assert_uint_eq(ok + bad, 10000);
        ck_assert_uint_gt(ok, 500);
        ck_assert_uint_gt(bad, 500);
        ck_assert_uint_gt(versions, 0);
}
END_TEST

/* ---- fd passing --------------------------------------------------------------------- */

static ProtoRecv *recv_new(void) {
        ProtoRecv *r = calloc(1, sizeof(ProtoRecv));

        ck_assert_ptr_nonnull(r);
        return r;
}

START_TEST(test_fds_arrive_cloexec_and_refer_to_same_file) {
        int fds0 = count_fds();
        int sv[2], p[2];

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
                _cleanup_(freep) ProtoRecv *r = recv_new();
                ProtoView v;
                uint32_t u32;
                char c;
                int fd0, fd1, fd2, taken;

                ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 17, &m), 0);
                ck_assert_int_eq(proto_msg_append_u32(m, PROTO_ATTR_HELD, 3), 0);
                ck_assert_int_eq(proto_msg_push_fd(m, dup_plain(p[0])), 0);
                ck_assert_int_eq(proto_msg_push_fd(m, dup_plain(p[1])), 1);
                ck_assert_int_eq(proto_msg_push_fd(m, dup_plain(p[0])), 2);
                ck_assert_int_eq(proto_send(sv[0], m), 0);
                ck_assert_uint_eq(m->n_fds, 3); /* the message keeps its fds */

                ck_assert_int_eq(proto_recv(sv[1], r), (ssize_t) m->size);
                ck_assert_uint_eq(r->size, m->size);
                ck_assert_uint_eq(r->real_size, m->size);
                ck_assert(!r->fds_truncated);
                ck_assert_uint_eq(r->n_fds, 3);
                ck_assert_int_eq(memcmp(r->buf, m->data, m->size), 0);
                ck_assert_int_eq(proto_parse(r->buf, r->size, &v), 0);
                ck_assert_uint_eq(v.header.serial, 17);
                ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_HELD, &u32), 0);
                ck_assert_uint_eq(u32, 3);

                for (unsigned i = 0; i < 3; i++) {
                        ck_assert_int_ge(r->fds[i], 0);
                        ck_assert(fd_is_cloexec(r->fds[i]));
                        ck_assert(same_file(r->fds[i], i == 1 ? p[1] : p[0]));
                        /* Both pipe ends share an inode; the access mode tells them apart. */
                        ck_assert_int_eq(fcntl(r->fds[i], F_GETFL) & O_ACCMODE, i == 1 ? O_WRONLY : O_RDONLY);
                }
                /* The received write end really is the pipe. */
                ck_assert_int_eq(write(r->fds[1], "!", 1), 1);
                ck_assert_int_eq(read(p[0], &c, 1), 1);
                ck_assert_int_eq(c, '!');
                ck_assert_int_eq(count_fds(), fds0 + 4 + 3 + 3);

                fd0 = r->fds[0];
                fd1 = r->fds[1];
                fd2 = r->fds[2];
                taken = proto_recv_take_fd(r, 1);
                ck_assert_int_eq(taken, fd1);
                ck_assert_int_eq(proto_recv_take_fd(r, 1), -EBADF);
                ck_assert_int_eq(proto_recv_take_fd(r, 3), -EBADF);
                ck_assert_int_eq(proto_recv_take_fd(r, PROTO_MAX_FDS), -EBADF);

                proto_recv_clear(r);
                ck_assert_uint_eq(r->n_fds, 0);
                ck_assert(fd_is_closed(fd0));
                ck_assert(fd_is_closed(fd2));
                ck_assert(!fd_is_closed(taken));
                ck_assert_int_eq(count_fds(), fds0 + 4 + 3 + 1);
                proto_recv_clear(r); /* twice is harmless */
                ck_assert_int_eq(proto_recv_take_fd(r, 0), -EBADF);
                safe_close(taken);
        }
        safe_close(p[0]);
        safe_close(p[1]);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_message_without_fds_receives_none) {
        int fds0 = count_fds();
        int sv[2];

        seqpacket_pair(sv);
        {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
                _cleanup_(freep) ProtoRecv *r = recv_new();

                ck_assert_int_eq(proto_error_new(PROTO_MSG_STATUS, 0, EBUSY, "Too many clients", &m), 0);
                ck_assert_int_eq(proto_send(sv[0], m), 0);
                ck_assert_int_eq(proto_recv(sv[1], r), (ssize_t) m->size);
                ck_assert_uint_eq(r->n_fds, 0);
                ck_assert(!r->fds_truncated);
                ck_assert_int_eq(proto_recv_take_fd(r, 0), -EBADF);
        }
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_recv_zero_byte_datagram_returns_zero) {
        int fds0 = count_fds();
        int sv[2];
        _cleanup_(freep) ProtoRecv *r = recv_new();

        seqpacket_pair(sv);
        ck_assert_int_eq(send(sv[0], "", 0, MSG_NOSIGNAL), 0);
        r->size = 99;
        ck_assert_int_eq(proto_recv(sv[1], r), 0);
        ck_assert_uint_eq(r->size, 0);
        ck_assert_uint_eq(r->real_size, 0);
        ck_assert_uint_eq(r->n_fds, 0);
        /* Nothing left after it. */
        ck_assert_int_eq(proto_recv(sv[1], r), -EAGAIN);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_recv_empty_nonblocking_socket_returns_eagain) {
        int fds0 = count_fds();
        int sv[2];
        _cleanup_(freep) ProtoRecv *r = recv_new();

        seqpacket_pair(sv);
        ck_assert_int_eq(proto_recv(sv[1], r), -EAGAIN);
        ck_assert_uint_eq(r->size, 0);
        ck_assert_uint_eq(r->n_fds, 0);
        /* And end of stream is a 0, not an error. */
        safe_close(sv[0]);
        ck_assert_int_eq(proto_recv(sv[1], r), 0);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_recv_oversized_datagram_closes_its_fds) {
        const size_t big = PROTO_MAX_MSG + 100;
        int fds0 = count_fds();
        int sv[2], p[2], before, sndbuf = 4 * PROTO_MAX_MSG;
        _cleanup_(freep) ProtoRecv *r = recv_new();
        _cleanup_(freep) uint8_t *payload = NULL;
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(2 * sizeof(int))];
        } control = {};
        struct iovec iov;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *c;
        ProtoHeader h = {.version = PROTO_VERSION, .type = PROTO_MSG_STATUS, .serial = 8};
        char ch;

        seqpacket_pair(sv);
        ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);

        payload = calloc(1, big);
        ck_assert_ptr_nonnull(payload);
        h.length = (uint32_t) (big - PROTO_HEADER_SIZE);
        memcpy(payload, &h, sizeof(h));
        iov = (struct iovec){.iov_base = payload, .iov_len = big};
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(2 * sizeof(int));
        memcpy(CMSG_DATA(c), p, 2 * sizeof(int));
        ck_assert_int_eq(sendmsg(sv[0], &mh, MSG_NOSIGNAL), (ssize_t) big);

        before = count_fds();
        ck_assert_int_eq(proto_recv(sv[1], r), (ssize_t) big);
        ck_assert_uint_gt(r->real_size, PROTO_MAX_MSG);
        ck_assert_uint_eq(r->real_size, big);
        ck_assert_uint_eq(r->size, PROTO_MAX_MSG);
        ck_assert_uint_eq(r->n_fds, 0);
        ck_assert_int_eq(proto_recv_take_fd(r, 0), -EBADF);
        /* The two fds that arrived are already closed. */
        ck_assert_int_eq(count_fds(), before);

        /* Proof from the pipe: with our write end closed, no copy of it is left. */
        p[1] = safe_close(p[1]);
        ck_assert_int_eq(read(p[0], &ch, 1), 0);

        /* The socket stays usable. */
        ck_assert_int_eq(send(sv[0], &h, 0, MSG_NOSIGNAL), 0);
        ck_assert_int_eq(proto_recv(sv[1], r), 0);
        ck_assert_uint_eq(r->real_size, 0);

        safe_close(p[0]);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* MSG_CTRUNC: ProtoRecv.fds_truncated is set and the fds that did arrive are already
 * closed, as netutil-proto.h promises. */
START_TEST(test_recv_truncated_fds_are_flagged_and_closed) {
        int fds0 = count_fds();
        int sv[2], p[2], on = 1, before;

        seqpacket_pair(sv);
        /* SCM_CREDENTIALS takes control space first, so 253 fds no longer fit. */
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
                /* Static: in no-fork mode a failed assertion leaves the function
                 * without running cleanups. */
                static ProtoRecv recv_storage;
                ProtoRecv *r = &recv_storage;
                char ch;

                ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 1, &m), 0);
                for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
                        ck_assert_int_ge(proto_msg_push_fd(m, dup_plain(p[1])), 0);
                ck_assert_int_eq(proto_send(sv[0], m), 0);
                m = proto_msg_free(m);
                p[1] = safe_close(p[1]);

                before = count_fds();
                ck_assert_int_eq(proto_recv(sv[1], r), PROTO_HEADER_SIZE);
                ck_assert(r->fds_truncated);
                /* Documented: the fds that did arrive are closed already. */
                ck_assert_int_eq(count_fds(), before);
                ck_assert_uint_eq(r->n_fds, 0);
                ck_assert_int_eq(read(p[0], &ch, 1), 0);
                proto_recv_clear(r);
        }
        safe_close(p[0]);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_recv_truncated_fds_leak_nothing_after_clear) {
        int fds0 = count_fds();
        int sv[2], p[2], on = 1;

        seqpacket_pair(sv);
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        {
                _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
                _cleanup_(freep) ProtoRecv *r = recv_new();
                char ch;

                ck_assert_int_eq(proto_msg_new(PROTO_MSG_STATUS, 1, &m), 0);
                for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
                        ck_assert_int_ge(proto_msg_push_fd(m, dup_plain(p[1])), 0);
                ck_assert_int_eq(proto_send(sv[0], m), 0);
                m = proto_msg_free(m);
                p[1] = safe_close(p[1]);

                ck_assert_int_eq(proto_recv(sv[1], r), PROTO_HEADER_SIZE);
                ck_assert(r->fds_truncated);
                ck_assert_uint_lt(r->n_fds, PROTO_MAX_FDS);
                for (unsigned i = 0; i < r->n_fds; i++)
                        ck_assert(fd_is_cloexec(r->fds[i]));
                proto_recv_clear(r);
                ck_assert_uint_eq(r->n_fds, 0);
                /* Every copy of the write end is gone: the kernel closed the lost ones. */
                ck_assert_int_eq(read(p[0], &ch, 1), 0);
        }
        safe_close(p[0]);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* ---- Multi-part replies ------------------------------------------------------------- */

/* Encoded attributes of one list item: CLIENTS = seq, plus pad bytes of an unknown type. */
static uint8_t *item_attrs(uint32_t seq, size_t pad, size_t *ret_len) {
        _cleanup_(proto_msg_freep) ProtoMsg *s = NULL;
        _cleanup_(freep) uint8_t *fill = calloc(1, pad + 1);

        ck_assert_ptr_nonnull(fill);
        ck_assert_int_eq(proto_msg_new(PROTO_MSG_INVALID, 0, &s), 0);
        ck_assert_int_eq(proto_msg_append_u32(s, PROTO_ATTR_CLIENTS, seq), 0);
        if (pad > 0)
                ck_assert_int_eq(proto_msg_append(s, ATTR_UNKNOWN, fill, pad), 0);
        return scratch_attrs(s, ret_len);
}

/* Checks one part: it parses, type/serial/MORE as expected, its ITEMs carry consecutive
 * sequence numbers from *seq and, with fds, FD_INDEX = position within the part. Returns
 * the number of items. */
static unsigned check_part(const uint8_t *buf, size_t size, bool more, bool with_fds, unsigned n_fds,
                           uint32_t *seq) {
        ProtoView v, item;
        ProtoIter it;
        ProtoAttr a;
        unsigned n = 0;
        uint32_t u32;

        ck_assert_uint_le(size, PROTO_MAX_MSG);
        ck_assert_int_eq(proto_parse(buf, size, &v), 0);
        ck_assert_uint_eq(v.header.type, PROTO_MSG_STATUS);
        ck_assert_uint_eq(v.header.serial, 4711);
        ck_assert_uint_eq(v.header.flags, more ? PROTO_FLAG_MORE : 0);
        proto_iter_init(&it, &v);
        while (proto_iter_next(&it, &a)) {
                if (a.type != PROTO_ATTR_ITEM)
                        continue; /* the reply's own attributes */
                ck_assert_int_eq(proto_attr_nested(&a, &item), 0);
                ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_CLIENTS, &u32), 0);
                ck_assert_uint_eq(u32, *seq);
                (*seq)++;
                if (with_fds) {
                        ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_FD_INDEX, &u32), 0);
                        ck_assert_uint_eq(u32, n);
                } else
                        ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_FD_INDEX, &u32), -ENODATA);
                n++;
        }
        if (with_fds)
                ck_assert_uint_eq(n, n_fds);
        return n;
}

START_TEST(test_reply_splits_items_by_fds_and_passes_them_all) {
        int fds0 = count_fds();
        int sv[2], p[2];

        seqpacket_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        {
                _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
                _cleanup_(freep) ProtoRecv *r = recv_new();
                uint32_t seq = 0;
                unsigned total = 0;

                ck_assert_int_eq(proto_reply_new(PROTO_MSG_STATUS, 4711, &reply), 0);
                ck_assert_uint_eq(reply->n_parts, 1);
                for (uint32_t i = 0; i < 300; i++) {
                        _cleanup_(freep) uint8_t *attrs = NULL;
                        size_t len;

                        attrs = item_attrs(i, 0, &len);
                        ck_assert_int_eq(proto_reply_add_item(reply, attrs, len, dup_plain(p[0])), 0);
                }
                ck_assert_int_eq(count_fds(), fds0 + 4 + 300);
                ck_assert_uint_eq(reply->n_parts, 2);
                ck_assert_uint_eq(reply->parts[0]->n_fds, PROTO_MAX_FDS);
                ck_assert_uint_eq(reply->parts[1]->n_fds, 300 - PROTO_MAX_FDS);
                ck_assert_uint_eq(proto_msg_header(reply->parts[0])->flags, PROTO_FLAG_MORE);
                ck_assert_uint_eq(proto_msg_header(reply->parts[1])->flags, 0);
                ck_assert_uint_eq(check_part(reply->parts[0]->data, reply->parts[0]->size, true, true,
                                             PROTO_MAX_FDS, &seq),
                                  PROTO_MAX_FDS);
                ck_assert_uint_eq(
                        check_part(reply->parts[1]->data, reply->parts[1]->size, false, true, 47, &seq), 47);
                ck_assert_uint_eq(seq, 300);
                for (size_t i = 0; i < reply->n_parts; i++)
                        for (unsigned k = 0; k < reply->parts[i]->n_fds; k++)
                                ck_assert(same_file(reply->parts[i]->fds[k], p[0]));

                /* Over the wire. */
                ck_assert_int_eq(proto_send(sv[0], reply->parts[0]), 0);
                ck_assert_int_eq(proto_send(sv[0], reply->parts[1]), 0);
                seq = 0;
                for (size_t i = 0; i < 2; i++) {
                        int before = count_fds();

                        ck_assert_int_eq(proto_recv(sv[1], r), (ssize_t) reply->parts[i]->size);
                        ck_assert(!r->fds_truncated);
                        ck_assert_uint_eq(r->n_fds, i == 0 ? PROTO_MAX_FDS : 47);
                        ck_assert_int_eq(count_fds(), before + (int) r->n_fds);
                        check_part(r->buf, r->size, i == 0, true, r->n_fds, &seq);
                        for (unsigned k = 0; k < r->n_fds; k++) {
                                ck_assert(fd_is_cloexec(r->fds[k]));
                                ck_assert(same_file(r->fds[k], p[0]));
                        }
                        total += r->n_fds;
                        proto_recv_clear(r);
                        ck_assert_int_eq(count_fds(), before);
                }
                ck_assert_uint_eq(total, 300);
                ck_assert_uint_eq(seq, 300);
                ck_assert_int_eq(proto_recv(sv[1], r), -EAGAIN);
        }
        /* Freeing the reply closed all 300. */
        ck_assert_int_eq(count_fds(), fds0 + 4);
        safe_close(p[0]);
        safe_close(p[1]);
        safe_close(sv[0]);
        safe_close(sv[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

START_TEST(test_reply_splits_items_by_bytes) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        ProtoView v;
        uint32_t seq = 0, u32;
        size_t item_size = 0;
        unsigned per_part, items = 0;

        ck_assert_int_eq(proto_reply_new(PROTO_MSG_STATUS, 4711, &reply), 0);
        /* The reply's own attribute, before the first item. */
        ck_assert_int_eq(proto_msg_append_u32(reply->parts[0], PROTO_ATTR_HELD, 200), 0);
        for (uint32_t i = 0; i < 200; i++) {
                _cleanup_(freep) uint8_t *attrs = NULL;
                size_t len;

                attrs = item_attrs(i, 1000, &len);
                ck_assert_uint_eq(len, 8 + 4 + 1000);
                item_size = 4 + PROTO_ALIGN(len);
                ck_assert_int_eq(proto_reply_add_item(reply, attrs, len, -1), 0);
        }

        /* 1016-byte items in 65520 bytes of payload: 64 per part (the first part also
         * has HELD), so 64 + 64 + 64 + 8. */
        per_part = (PROTO_MAX_MSG - PROTO_HEADER_SIZE - 8) / item_size;
        ck_assert_uint_eq(per_part, 64);
        ck_assert_uint_eq(reply->n_parts, 4);
        for (size_t i = 0; i < reply->n_parts; i++) {
                ProtoMsg *part = reply->parts[i];
                bool last = i == reply->n_parts - 1;
                unsigned n;

                ck_assert_uint_le(part->size, PROTO_MAX_MSG);
                ck_assert_uint_eq(part->n_fds, 0);
                n = check_part(part->data, part->size, !last, false, 0, &seq);
                ck_assert_uint_eq(n, last ? 8 : 64);
                /* A part was closed only because the next item did not fit. */
                if (!last)
                        ck_assert_uint_gt(part->size + item_size, PROTO_MAX_MSG);
                items += n;
        }
        ck_assert_uint_eq(items, 200);
        ck_assert_uint_eq(seq, 200);
        ck_assert_int_eq(proto_parse(reply->parts[0]->data, reply->parts[0]->size, &v), 0);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_HELD, &u32), 0);
        ck_assert_uint_eq(u32, 200);
        ck_assert_int_eq(proto_parse(reply->parts[1]->data, reply->parts[1]->size, &v), 0);
        ck_assert_int_eq(proto_get_u32(&v, PROTO_ATTR_HELD, &u32), -ENODATA);
}
END_TEST

START_TEST(test_reply_splits_items_by_attribute_count) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        unsigned items = 0;

        /* Small items of three attributes (four with ITEM): 28 bytes each, so the receiver's
         * PROTO_MAX_ATTRS, not the datagram size, is what a part runs out of first. */
        ck_assert_int_eq(proto_reply_new(PROTO_MSG_OVERRIDE_LIST, 7, &reply), 0);
        for (uint32_t i = 0; i < 3000; i++) {
                _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
                const void *attrs;
                size_t len;

                ck_assert_int_eq(proto_msg_new(0, 0, &item), 0);
                ck_assert_int_eq(proto_msg_append_u32(item, PROTO_ATTR_PORT, i), 0);
                ck_assert_int_eq(proto_msg_append_u32(item, PROTO_ATTR_FAMILY, AF_INET), 0);
                ck_assert_int_eq(proto_msg_append_u32(item, PROTO_ATTR_TARGET_PORT, i + 1), 0);
                attrs = proto_msg_attrs(item, &len);
                ck_assert_int_eq(proto_reply_add_item(reply, attrs, len, -1), 0);
        }
        ck_assert_uint_eq(reply->n_parts, 3);
        for (size_t i = 0; i < reply->n_parts; i++) {
                ProtoMsg *part = reply->parts[i];
                ProtoIter it;
                ProtoAttr a;
                ProtoView v;
                unsigned n = 0;

                /* Every part is one the receiving decoder takes. */
                ck_assert_uint_le(part->n_attrs, PROTO_MAX_ATTRS);
                ck_assert_int_eq(proto_parse(part->data, part->size, &v), 0);
                proto_iter_init(&it, &v);
                while (proto_iter_next(&it, &a)) {
                        ProtoView item;
                        uint32_t port;

                        ck_assert_int_eq(a.type, PROTO_ATTR_ITEM);
                        ck_assert_int_eq(proto_attr_nested(&a, &item), 0);
                        ck_assert_int_eq(proto_get_u32(&item, PROTO_ATTR_PORT, &port), 0);
                        ck_assert_uint_eq(port, items + n);
                        n++;
                }
                ck_assert_uint_eq(n, i < 2 ? PROTO_MAX_ATTRS / 4 : 3000 - 2 * PROTO_MAX_ATTRS / 4);
                items += n;
        }
        ck_assert_uint_eq(items, 3000);
}
END_TEST

START_TEST(test_reply_item_larger_than_datagram_is_emsgsize_and_closes_fd) {
        int fds0 = count_fds();
        int p[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        {
                _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
                _cleanup_(freep) uint8_t *big = calloc(1, PROTO_MAX_MSG + 1);
                _cleanup_(freep) uint8_t *attrs = NULL, *snapshot = NULL;
                size_t len, size0, max_with_fd = PROTO_MAX_MSG - PROTO_HEADER_SIZE - 4 - 8;
                int fd;

                ck_assert_ptr_nonnull(big);
                ck_assert_int_eq(proto_reply_new(PROTO_MSG_STATUS, 4711, &reply), 0);
                attrs = item_attrs(0, 0, &len);
                ck_assert_int_eq(proto_reply_add_item(reply, attrs, len, dup_plain(p[0])), 0);
                size0 = reply->parts[0]->size;
                snapshot = malloc(size0);
                ck_assert_ptr_nonnull(snapshot);
                memcpy(snapshot, reply->parts[0]->data, size0);

                fd = dup_plain(p[0]);
                ck_assert_int_eq(proto_reply_add_item(reply, big, PROTO_MAX_MSG, fd), -EMSGSIZE);
                ck_assert(fd_is_closed(fd));
                fd = dup_plain(p[0]);
                ck_assert_int_eq(proto_reply_add_item(reply, big, max_with_fd + 1, fd), -EMSGSIZE);
                ck_assert(fd_is_closed(fd));
                ck_assert_int_eq(proto_reply_add_item(reply, big, PROTO_MAX_MSG - PROTO_HEADER_SIZE, -1),
                                 -EMSGSIZE);
                /* Nothing changed. */
                ck_assert_uint_eq(reply->n_parts, 1);
                ck_assert_uint_eq(reply->parts[0]->n_fds, 1);
                ck_assert_uint_eq(reply->parts[0]->size, size0);
                ck_assert_int_eq(memcmp(reply->parts[0]->data, snapshot, size0), 0);
                ck_assert_int_eq(count_fds(), fds0 + 2 + 1);

                /* The largest item that fits with an fd takes a part of its own, exactly
                 * PROTO_MAX_MSG bytes: one attribute of that size (zeros would be 16 000
                 * empty attributes, more than a receiver takes: EMSGSIZE too). */
                ck_assert_int_eq(proto_reply_add_item(reply, big, max_with_fd, dup_plain(p[0])), -EMSGSIZE);
                {
                        ProtoAttrHeader h = { .type = PROTO_ATTR_UNSPEC, .length = (uint16_t) (max_with_fd - 4) };

                        memcpy(big, &h, sizeof(h));
                }
                ck_assert_int_eq(proto_reply_add_item(reply, big, max_with_fd, dup_plain(p[0])), 0);
                ck_assert_uint_eq(reply->n_parts, 2);
                ck_assert_uint_eq(reply->parts[1]->size, PROTO_MAX_MSG);
                ck_assert_uint_eq(reply->parts[1]->n_fds, 1);
                ck_assert_uint_eq(proto_msg_header(reply->parts[0])->flags, PROTO_FLAG_MORE);
                ck_assert_int_eq(count_fds(), fds0 + 2 + 2);
        }
        ck_assert_int_eq(count_fds(), fds0 + 2);
        safe_close(p[0]);
        safe_close(p[1]);
        ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

/* ---- Suite -------------------------------------------------------------------------- */

static Suite *proto_suite(void) {
        Suite *s = suite_create("proto");
        TCase *tc;

        tc = tcase_create("roundtrip");
        tcase_add_test(tc, test_roundtrip_header_fields_as_set);
        tcase_add_test(tc, test_roundtrip_all_kinds_via_getters_and_iterator);
        tcase_add_test(tc, test_unknown_attributes_are_skipped_by_parse_and_getters);
        tcase_add_test(tc, test_error_new_carries_status_and_message);
        tcase_add_test(tc, test_error_new_cuts_overlong_message);
        tcase_add_test(tc, test_parse_accepts_missing_padding_after_last_attribute);
        suite_add_tcase(s, tc);

        tc = tcase_create("builder_limits");
        tcase_add_test(tc, test_append_past_max_msg_leaves_message_unchanged);
        tcase_add_test(tc, test_append_past_max_msg_inside_nested_leaves_message_unchanged);
        tcase_add_test(tc, test_append_refuses_value_longer_than_attribute_field);
        tcase_add_test(tc, test_append_string_longer_than_max_is_einval);
        tcase_add_test(tc, test_nesting_deeper_than_max_is_e2big);
        tcase_add_test(tc, test_push_fd_past_max_fds_closes_fd);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse_malformed");
        tcase_add_test(tc, test_parse_rejects_empty_datagram);
        tcase_add_test(tc, test_parse_rejects_truncated_header);
        tcase_add_test(tc, test_parse_rejects_other_version_but_fills_header);
        tcase_add_test(tc, test_parse_rejects_length_larger_than_datagram);
        tcase_add_test(tc, test_parse_rejects_length_smaller_than_datagram);
        tcase_add_test(tc, test_parse_rejects_attr_header_overrunning_payload);
        tcase_add_test(tc, test_parse_rejects_attr_value_overrunning_payload);
        tcase_add_test(tc, test_parse_rejects_fixed_size_values_of_wrong_length);
        tcase_add_test(tc, test_parse_rejects_string_without_nul);
        tcase_add_test(tc, test_parse_rejects_string_with_embedded_nul);
        tcase_add_test(tc, test_parse_rejects_empty_string);
        tcase_add_test(tc, test_parse_rejects_string_longer_than_max);
        tcase_add_test(tc, test_parse_rejects_nested_member_overrunning_nested_length);
        tcase_add_test(tc, test_parse_rejects_more_than_max_attrs);
        tcase_add_test(tc, test_parse_rejects_nesting_deeper_than_max);
        tcase_add_test(tc, test_parse_rejects_datagram_larger_than_max_msg);
        suite_add_tcase(s, tc);

        tc = tcase_create("mutation");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_mutated_messages_never_escape_the_buffer);
        suite_add_tcase(s, tc);

        tc = tcase_create("fd_passing");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_fds_arrive_cloexec_and_refer_to_same_file);
        tcase_add_test(tc, test_message_without_fds_receives_none);
        tcase_add_test(tc, test_recv_zero_byte_datagram_returns_zero);
        tcase_add_test(tc, test_recv_empty_nonblocking_socket_returns_eagain);
        tcase_add_test(tc, test_recv_oversized_datagram_closes_its_fds);
        tcase_add_test(tc, test_recv_truncated_fds_are_flagged_and_closed);
        tcase_add_test(tc, test_recv_truncated_fds_leak_nothing_after_clear);
        suite_add_tcase(s, tc);

        tc = tcase_create("multipart_reply");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_reply_splits_items_by_fds_and_passes_them_all);
        tcase_add_test(tc, test_reply_splits_items_by_bytes);
        tcase_add_test(tc, test_reply_splits_items_by_attribute_count);
        tcase_add_test(tc, test_reply_item_larger_than_datagram_is_emsgsize_and_closes_fd);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(proto_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
