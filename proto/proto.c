/* SPDX-License-Identifier: MIT */

/*
 * Framing, attribute encoding and decoding, and fd passing for the netutild protocol
 * (netutil-proto.h has the diagram). Owns the checks every received byte passes before
 * anyone reads it. Must not log, keep state between messages, or know about policy.
 */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "netutil-proto.h"

/* What the decoder expects of each known attribute type. */
static const struct {
        ProtoAttrKind kind;
        size_t max_len; /* for strings (NUL included) and binary values */
} attr_policy[_PROTO_ATTR_MAX] = {
        [PROTO_ATTR_ERROR_MESSAGE] = { PROTO_KIND_STRING, PROTO_MAX_ERROR_MESSAGE },
        [PROTO_ATTR_GAI_ERROR] = { PROTO_KIND_S32, 0 },
        [PROTO_ATTR_VERSION] = { PROTO_KIND_STRING, PROTO_MAX_NAME },
        [PROTO_ATTR_PID] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_UPTIME_USEC] = { PROTO_KIND_U64, 0 },
        [PROTO_ATTR_CLIENTS] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_HELD] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_OVERRIDES] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_RESOLVER] = { PROTO_KIND_STRING, PROTO_MAX_NAME },
        [PROTO_ATTR_MODE] = { PROTO_KIND_STRING, PROTO_MAX_NAME },
        [PROTO_ATTR_POLICY_RULES] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_MAX_CLIENTS] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_REQUESTS] = { PROTO_KIND_U64, 0 },
        [PROTO_ATTR_ADDRESS] = { PROTO_KIND_STRING, PROTO_MAX_HOST + 1 },
        [PROTO_ATTR_SERVICE] = { PROTO_KIND_STRING, PROTO_MAX_SERVICE },
        [PROTO_ATTR_FAMILY] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_SOCKTYPE] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_BACKLOG] = { PROTO_KIND_S32, 0 },
        [PROTO_ATTR_AI_FLAGS] = { PROTO_KIND_S32, 0 },
        [PROTO_ATTR_REUSE_PORT] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_NAME] = { PROTO_KIND_STRING, PROTO_MAX_SOCKET_NAME },
        [PROTO_ATTR_HOLD] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_PATH] = { PROTO_KIND_BINARY, PROTO_MAX_UNIX_PATH },
        [PROTO_ATTR_FILE_MODE] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_SOCKADDR] = { PROTO_KIND_BINARY, PROTO_MAX_SOCKADDR },
        [PROTO_ATTR_OWNER_UID] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_HOST] = { PROTO_KIND_STRING, PROTO_MAX_HOST + 1 },
        [PROTO_ATTR_PORT] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_SCOPE] = { PROTO_KIND_STRING, PROTO_MAX_SCOPE },
        [PROTO_ATTR_TARGET] = { PROTO_KIND_STRING, PROTO_MAX_HOST + 1 },
        [PROTO_ATTR_TARGET_PORT] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_TTL_USEC] = { PROTO_KIND_U64, 0 },
        [PROTO_ATTR_OVERRIDE_ONLY] = { PROTO_KIND_U32, 0 },
        [PROTO_ATTR_SOURCE] = { PROTO_KIND_STRING, PROTO_MAX_STRING },
        [PROTO_ATTR_ITEM] = { PROTO_KIND_NESTED, 0 },
        [PROTO_ATTR_FD_INDEX] = { PROTO_KIND_U32, 0 },
};

ProtoAttrKind proto_attr_kind(uint16_t type, size_t *ret_max_len) {
        if (type >= _PROTO_ATTR_MAX) {
                if (ret_max_len)
                        *ret_max_len = 0;
                return PROTO_KIND_UNSPEC;
        }
        if (ret_max_len)
                *ret_max_len = attr_policy[type].max_len;
        return attr_policy[type].kind;
}

/* ---- Building ----------------------------------------------------------------------- */

static int msg_reserve(ProtoMsg *m, size_t extra) {
        size_t need;

        if (extra > PROTO_MAX_MSG || m->size + extra > PROTO_MAX_MSG)
                return -EMSGSIZE;
        need = m->size + extra;
        if (need <= m->allocated)
                return 0;

        size_t n = MAX(m->allocated * 2, MAX(need, (size_t) 256));
        n = MIN(n, (size_t) PROTO_MAX_MSG);
        uint8_t *d = realloc(m->data, n);
        if (!d)
                return -ENOMEM;
        m->data = d;
        m->allocated = n;
        return 0;
}

static void msg_sync_length(ProtoMsg *m) {
        proto_msg_header(m)->length = (uint32_t) (m->size - PROTO_HEADER_SIZE);
}

int proto_msg_new(uint16_t type, uint32_t serial, ProtoMsg **ret) {
        ProtoMsg *m;
        int r;

        assert(ret);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = msg_reserve(m, PROTO_HEADER_SIZE);
        if (r < 0) {
                free(m);
                return r;
        }
        m->size = PROTO_HEADER_SIZE;
        *proto_msg_header(m) = (ProtoHeader) {
                .version = PROTO_VERSION,
                .type = type,
                .serial = serial,
        };
        *ret = m;
        return 0;
}

ProtoMsg *proto_msg_free(ProtoMsg *m) {
        if (!m)
                return NULL;
        for (unsigned i = 0; i < m->n_fds; i++)
                safe_close(m->fds[i]);
        free(m->fds);
        free(m->data);
        free(m);
        return NULL;
}

ProtoHeader *proto_msg_header(ProtoMsg *m) {
        return (ProtoHeader *) m->data;
}

const void *proto_msg_attrs(const ProtoMsg *m, size_t *ret_len) {
        *ret_len = m->size - PROTO_HEADER_SIZE;
        return m->data + PROTO_HEADER_SIZE;
}

int proto_msg_append(ProtoMsg *m, uint16_t type, const void *data, size_t len) {
        ProtoAttrHeader h;
        int r;

        assert(m);
        if (len > UINT16_MAX - sizeof(h))
                return -EINVAL;
        r = msg_reserve(m, sizeof(h) + PROTO_ALIGN(len));
        if (r < 0)
                return r;

        h = (ProtoAttrHeader) { .type = type, .length = (uint16_t) len };
        memcpy(m->data + m->size, &h, sizeof(h));
        if (len > 0)
                memcpy(m->data + m->size + sizeof(h), data, len);
        memset(m->data + m->size + sizeof(h) + len, 0, PROTO_ALIGN(len) - len);
        m->size += sizeof(h) + PROTO_ALIGN(len);
        m->n_attrs++;
        msg_sync_length(m);
        return 0;
}

int proto_msg_append_u32(ProtoMsg *m, uint16_t type, uint32_t v) {
        return proto_msg_append(m, type, &v, sizeof(v));
}

int proto_msg_append_s32(ProtoMsg *m, uint16_t type, int32_t v) {
        return proto_msg_append(m, type, &v, sizeof(v));
}

int proto_msg_append_u64(ProtoMsg *m, uint16_t type, uint64_t v) {
        return proto_msg_append(m, type, &v, sizeof(v));
}

int proto_msg_append_string(ProtoMsg *m, uint16_t type, const char *s) {
        size_t max_len, len = strlen(s) + 1;

        if (proto_attr_kind(type, &max_len) != PROTO_KIND_STRING)
                max_len = PROTO_MAX_STRING;
        if (len > max_len)
                return -EINVAL;
        return proto_msg_append(m, type, s, len);
}

int proto_msg_open_nested(ProtoMsg *m, uint16_t type) {
        size_t offset = m->size;
        int r;

        if (m->n_nest >= PROTO_MAX_NESTING)
                return -E2BIG;
        r = proto_msg_append(m, type, NULL, 0);
        if (r < 0)
                return r;
        m->nest[m->n_nest++] = offset;
        return 0;
}

int proto_msg_close_nested(ProtoMsg *m) {
        ProtoAttrHeader h;
        size_t offset, len;

        if (m->n_nest == 0)
                return -EINVAL;
        offset = m->nest[--m->n_nest];
        len = m->size - offset - sizeof(h);
        if (len > UINT16_MAX)
                return -EMSGSIZE;
        memcpy(&h, m->data + offset, sizeof(h));
        h.length = (uint16_t) len;
        memcpy(m->data + offset, &h, sizeof(h));
        return 0;
}

/* The fd array is separate so that a message without fds (most) stays small enough for
 * malloc's per-thread cache: with 253 ints inline, allocating one cost ~900 instructions. */
static int msg_reserve_fd(ProtoMsg *m) {
        if (!m->fds) {
                m->fds = malloc(sizeof(int) * PROTO_MAX_FDS);
                if (!m->fds)
                        return -ENOMEM;
        }
        return 0;
}

int proto_msg_push_fd(ProtoMsg *m, int fd) {
        if (fd < 0)
                return -EBADF;
        if (m->n_fds >= PROTO_MAX_FDS) {
                safe_close(fd);
                return -ETOOMANYREFS;
        }
        if (msg_reserve_fd(m) < 0) {
                safe_close(fd);
                return -ENOMEM;
        }
        m->fds[m->n_fds] = fd;
        return (int) m->n_fds++;
}

int proto_error_new(uint16_t type, uint32_t serial, int error, const char *message, ProtoMsg **ret) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        char text[PROTO_MAX_ERROR_MESSAGE];
        int r;

        assert(error > 0);

        r = proto_msg_new(type, serial, &m);
        if (r < 0)
                return r;
        proto_msg_header(m)->status = error;
        if (message) {
                /* Cut long messages (they may quote user input) rather than fail. */
                snprintf(text, sizeof(text), "%s", message);
                r = proto_msg_append_string(m, PROTO_ATTR_ERROR_MESSAGE, text);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int proto_reply_new(uint16_t type, uint32_t serial, ProtoReply **ret) {
        _cleanup_(proto_reply_freep) ProtoReply *r = NULL;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->type = type;
        r->serial = serial;
        r->parts = calloc(1, sizeof(ProtoMsg *));
        if (!r->parts)
                return -ENOMEM;
        k = proto_msg_new(type, serial, &r->parts[0]);
        if (k < 0)
                return k;
        r->n_parts = 1;
        *ret = TAKE_PTR(r);
        return 0;
}

ProtoReply *proto_reply_free(ProtoReply *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_parts; i++)
                proto_msg_free(r->parts[i]);
        free(r->parts);
        free(r);
        return NULL;
}

static int reply_new_part(ProtoReply *r) {
        ProtoMsg **parts;
        int k;

        parts = reallocarray(r->parts, r->n_parts + 1, sizeof(ProtoMsg *));
        if (!parts)
                return -ENOMEM;
        r->parts = parts;
        k = proto_msg_new(r->type, r->serial, &r->parts[r->n_parts]);
        if (k < 0)
                return k;
        proto_msg_header(r->parts[r->n_parts - 1])->flags |= PROTO_FLAG_MORE;
        r->n_parts++;
        return 0;
}

/* The attributes in attrs[0..len), nested ones included, as proto_parse() counts them. attrs
 * were built by us, so they are well-formed; a bad length only ends the walk. */
static size_t count_attrs(const uint8_t *p, size_t len) {
        size_t n = 0;

        while (len >= sizeof(ProtoAttrHeader)) {
                ProtoAttrHeader h;
                size_t step;

                memcpy(&h, p, sizeof(h));
                n++;
                if (h.length > len - sizeof(h))
                        break;
                if (proto_attr_kind(h.type, NULL) == PROTO_KIND_NESTED)
                        n += count_attrs(p + sizeof(h), h.length);
                step = MIN(sizeof(h) + PROTO_ALIGN(h.length), len);
                p += step;
                len -= step;
        }
        return n;
}

static int reply_append_item(ProtoMsg *m, const void *attrs, size_t len, size_t n_attrs, int fd) {
        size_t saved_size = m->size;
        unsigned saved_attrs = m->n_attrs;
        int r;

        /* ITEM header + attrs + FD_INDEX (4 + 4) must fit, in bytes, fds and attributes (the
         * receiver refuses more than PROTO_MAX_ATTRS); check before touching m. */
        if (m->size + 4 + PROTO_ALIGN(len) + (fd >= 0 ? 8 : 0) > PROTO_MAX_MSG ||
            (fd >= 0 && m->n_fds >= PROTO_MAX_FDS) || m->n_attrs + n_attrs > PROTO_MAX_ATTRS)
                return -ENOSPC;
        if (fd >= 0 && (r = msg_reserve_fd(m)) < 0)
                return r;

        r = proto_msg_open_nested(m, PROTO_ATTR_ITEM);
        if (r < 0)
                goto fail;
        r = msg_reserve(m, PROTO_ALIGN(len));
        if (r < 0)
                goto fail;
        memcpy(m->data + m->size, attrs, len);
        memset(m->data + m->size + len, 0, PROTO_ALIGN(len) - len);
        m->size += PROTO_ALIGN(len);
        m->n_attrs += (unsigned) (n_attrs - 1 - (fd >= 0)); /* ITEM and FD_INDEX count themselves */
        if (fd >= 0) {
                r = proto_msg_append_u32(m, PROTO_ATTR_FD_INDEX, m->n_fds);
                if (r < 0)
                        goto fail;
        }
        r = proto_msg_close_nested(m);
        if (r < 0)
                goto fail;
        msg_sync_length(m);
        if (fd >= 0)
                m->fds[m->n_fds++] = fd;
        return 0;

fail:
        m->size = saved_size;
        m->n_attrs = saved_attrs;
        m->n_nest = 0;
        msg_sync_length(m);
        return r;
}

int proto_reply_add_item(ProtoReply *r, const void *attrs, size_t len, int fd) {
        _cleanup_(closep) int owned = fd;
        /* ITEM, what it holds, and FD_INDEX. */
        size_t n_attrs = 1 + count_attrs(attrs, len) + (fd >= 0);
        int k;

        /* An item that cannot fit even in an empty part is an error, not a new part. */
        if (PROTO_HEADER_SIZE + 4 + PROTO_ALIGN(len) + (fd >= 0 ? 8 : 0) > PROTO_MAX_MSG || n_attrs > PROTO_MAX_ATTRS)
                return -EMSGSIZE;

        k = reply_append_item(r->parts[r->n_parts - 1], attrs, len, n_attrs, owned);
        if (k == -ENOSPC) {
                k = reply_new_part(r);
                if (k < 0)
                        return k;
                k = reply_append_item(r->parts[r->n_parts - 1], attrs, len, n_attrs, owned);
        }
        if (k < 0)
                return k;
        TAKE_FD(owned);
        return 0;
}

/* ---- Sending and receiving ---------------------------------------------------------- */

int proto_send(int sock, ProtoMsg *m) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = m->data, .iov_len = m->size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        assert(m->n_nest == 0);

        if (m->n_fds > 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->n_fds);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int) * m->n_fds);
                memcpy(CMSG_DATA(cmsg), m->fds, sizeof(int) * m->n_fds);
        }

        for (;;) {
                if (sendmsg(sock, &mh, MSG_NOSIGNAL) >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

static void recv_release(ProtoRecv *r, int fd) {
        if (fd < 0)
                return;
        if (r->discard)
                r->discard(fd, r->discard_userdata);
        else
                safe_close(fd);
}

ssize_t proto_recv(int sock, ProtoRecv *r) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = r->buf, .iov_len = sizeof(r->buf) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        ssize_t n;

        r->size = r->real_size = 0;
        r->n_fds = 0;
        r->fds_truncated = false;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        /* Collect every fd of every SCM_RIGHTS header first, so that none can leak. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const uint8_t *p = CMSG_DATA(c);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, p + i * sizeof(int), sizeof(int));
                        if (r->n_fds < PROTO_MAX_FDS)
                                r->fds[r->n_fds++] = fd;
                        else
                                recv_release(r, fd);
                }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
                /* Some fds were lost: the message is unusable, keep none of them. */
                r->fds_truncated = true;
                proto_recv_clear(r);
        }

        r->real_size = (size_t) n;
        r->size = MIN((size_t) n, sizeof(r->buf));
        if (r->real_size > sizeof(r->buf))
                proto_recv_clear(r);
        return n;
}

int proto_recv_take_fd(ProtoRecv *r, unsigned i) {
        if (i >= r->n_fds || r->fds[i] < 0)
                return -EBADF;
        return TAKE_FD(r->fds[i]);
}

void proto_recv_clear(ProtoRecv *r) {
        for (unsigned i = 0; i < r->n_fds; i++) {
                recv_release(r, r->fds[i]);
                r->fds[i] = -EBADF;
        }
        r->n_fds = 0;
}

/* ---- Decoding ----------------------------------------------------------------------- */

static int check_value(uint16_t type, const uint8_t *value, size_t len, unsigned depth, unsigned *count);

static int check_attrs(const uint8_t *p, size_t len, unsigned depth, unsigned *count) {
        const uint8_t *end = p + len;

        if (depth > PROTO_MAX_NESTING)
                return -E2BIG;

        while (p < end) {
                ProtoAttrHeader h;
                int r;

                if ((size_t) (end - p) < sizeof(h))
                        return -EBADMSG;
                memcpy(&h, p, sizeof(h));
                /* The value must lie inside the parent; the padding may be missing only
                 * after the last attribute. */
                if ((size_t) (end - p) - sizeof(h) < h.length)
                        return -EBADMSG;
                if (++*count > PROTO_MAX_ATTRS)
                        return -E2BIG;
                r = check_value(h.type, p + sizeof(h), h.length, depth, count);
                if (r < 0)
                        return r;
                size_t step = sizeof(h) + PROTO_ALIGN(h.length);
                if ((size_t) (end - p) < step)
                        step = (size_t) (end - p);
                p += step;
        }
        return 0;
}

static int check_value(uint16_t type, const uint8_t *value, size_t len, unsigned depth, unsigned *count) {
        size_t max_len;

        switch (proto_attr_kind(type, &max_len)) {
        case PROTO_KIND_U32:
        case PROTO_KIND_S32:
                return len == 4 ? 0 : -EBADMSG;
        case PROTO_KIND_U64:
                return len == 8 ? 0 : -EBADMSG;
        case PROTO_KIND_STRING:
                if (len == 0 || len > max_len || value[len - 1] != '\0' || memchr(value, '\0', len - 1))
                        return -EBADMSG;
                return 0;
        case PROTO_KIND_BINARY:
                return len <= max_len ? 0 : -EBADMSG;
        case PROTO_KIND_NESTED:
                return check_attrs(value, len, depth + 1, count);
        case PROTO_KIND_UNSPEC:
        default:
                return 0; /* unknown: skipped, for compatibility with newer peers */
        }
}

int proto_parse(const void *buf, size_t size, ProtoView *ret) {
        unsigned count = 0;
        int r;

        assert(ret);
        *ret = (ProtoView) {};

        if (size < PROTO_HEADER_SIZE)
                return -EBADMSG;
        memcpy(&ret->header, buf, PROTO_HEADER_SIZE);
        if (ret->header.version != PROTO_VERSION)
                return -EPROTONOSUPPORT;
        if (size > PROTO_MAX_MSG || ret->header.length != size - PROTO_HEADER_SIZE)
                return -EBADMSG;

        r = check_attrs((const uint8_t *) buf + PROTO_HEADER_SIZE, ret->header.length, 0, &count);
        if (r < 0)
                return r;

        ret->attrs = (const uint8_t *) buf + PROTO_HEADER_SIZE;
        ret->attrs_len = ret->header.length;
        return 0;
}

void proto_iter_init(ProtoIter *it, const ProtoView *v) {
        it->p = v->attrs;
        it->end = v->attrs + v->attrs_len;
}

bool proto_iter_next(ProtoIter *it, ProtoAttr *ret) {
        ProtoAttrHeader h;

        /* The view was checked by proto_parse(); these tests only keep a misuse harmless. */
        if (!it->p || (size_t) (it->end - it->p) < sizeof(h))
                return false;
        memcpy(&h, it->p, sizeof(h));
        if ((size_t) (it->end - it->p) - sizeof(h) < h.length)
                return false;
        *ret = (ProtoAttr) { .type = h.type, .length = h.length, .value = it->p + sizeof(h) };
        size_t step = sizeof(h) + PROTO_ALIGN(h.length);
        it->p = (size_t) (it->end - it->p) < step ? it->end : it->p + step;
        return true;
}

static int find(const ProtoView *v, uint16_t type, ProtoAttr *ret) {
        ProtoIter it;

        proto_iter_init(&it, v);
        while (proto_iter_next(&it, ret))
                if (ret->type == type)
                        return 0;
        return -ENODATA;
}

static int attr_fixed(const ProtoAttr *a, void *ret, size_t size) {
        if (a->length != size)
                return -EBADMSG;
        memcpy(ret, a->value, size);
        return 0;
}

int proto_attr_u32(const ProtoAttr *a, uint32_t *ret) {
        return attr_fixed(a, ret, sizeof(*ret));
}

int proto_attr_u64(const ProtoAttr *a, uint64_t *ret) {
        return attr_fixed(a, ret, sizeof(*ret));
}

int proto_attr_string(const ProtoAttr *a, const char **ret) {
        const char *s = a->value;

        if (a->length == 0 || s[a->length - 1] != '\0' || memchr(s, '\0', a->length - 1))
                return -EBADMSG;
        *ret = s;
        return 0;
}

int proto_attr_nested(const ProtoAttr *a, ProtoView *ret) {
        if (proto_attr_kind(a->type, NULL) != PROTO_KIND_NESTED)
                return -EBADMSG;
        *ret = (ProtoView) { .attrs = a->value, .attrs_len = a->length };
        return 0;
}

int proto_get_u32(const ProtoView *v, uint16_t type, uint32_t *ret) {
        ProtoAttr a;
        int r = find(v, type, &a);
        return r < 0 ? r : proto_attr_u32(&a, ret);
}

int proto_get_s32(const ProtoView *v, uint16_t type, int32_t *ret) {
        ProtoAttr a;
        int r = find(v, type, &a);
        return r < 0 ? r : attr_fixed(&a, ret, sizeof(*ret));
}

int proto_get_u64(const ProtoView *v, uint16_t type, uint64_t *ret) {
        ProtoAttr a;
        int r = find(v, type, &a);
        return r < 0 ? r : proto_attr_u64(&a, ret);
}

int proto_get_string(const ProtoView *v, uint16_t type, const char **ret) {
        ProtoAttr a;
        int r = find(v, type, &a);
        return r < 0 ? r : proto_attr_string(&a, ret);
}

int proto_get_binary(const ProtoView *v, uint16_t type, const void **ret, size_t *ret_len) {
        ProtoAttr a;
        int r = find(v, type, &a);
        if (r < 0)
                return r;
        *ret = a.value;
        *ret_len = a.length;
        return 0;
}
