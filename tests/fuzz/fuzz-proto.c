/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: the protocol decoder (proto/proto.c). An input is one datagram as a peer
 * would send it. It goes through a real SOCK_SEQPACKET pair into proto_recv(), then
 * proto_parse(); an accepted message is walked with every getter, nested views included,
 * and encoded again with the builder, which the decoder must accept in turn. Owns only
 * these invariants; must not depend on what any message means.
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "macro.h"
#include "netutil-proto.h"

const char fuzz_name[] = "proto";

static int pair[2] = { -EBADF, -EBADF };
static ProtoRecv rcv; /* 64 KiB: static, like the daemon's shared receive buffer */

void fuzz_setup(void) {
        /* A send buffer larger than the largest datagram libFuzzer makes by default: every
         * input fits in one send(). */
        int size = 4 * PROTO_MAX_MSG;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                fuzz_fail("socketpair: %s", strerror(errno));
        (void) setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        (void) setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* Reads every attribute of v with the getter of its kind; returns how many there were. */
static unsigned walk(const ProtoView *v, unsigned depth) {
        unsigned n = 0;
        ProtoIter it;
        ProtoAttr a;

        fuzz_assert(depth <= PROTO_MAX_NESTING);
        proto_iter_init(&it, v);
        while (proto_iter_next(&it, &a)) {
                size_t max_len;
                uint32_t u32;
                uint64_t u64;
                const char *s;
                ProtoView nested;

                n++;
                /* Every value lies inside the view. */
                fuzz_assert((const uint8_t *) a.value >= v->attrs &&
                            (const uint8_t *) a.value + a.length <= v->attrs + v->attrs_len);
                switch (proto_attr_kind(a.type, &max_len)) {
                case PROTO_KIND_U32:
                case PROTO_KIND_S32:
                        fuzz_assert(proto_attr_u32(&a, &u32) == 0);
                        break;
                case PROTO_KIND_U64:
                        fuzz_assert(proto_attr_u64(&a, &u64) == 0);
                        break;
                case PROTO_KIND_STRING:
                        fuzz_assert(proto_attr_string(&a, &s) == 0);
                        fuzz_assert(strlen(s) + 1 == a.length && a.length <= max_len);
                        break;
                case PROTO_KIND_BINARY:
                        fuzz_assert(a.length <= max_len);
                        break;
                case PROTO_KIND_NESTED:
                        fuzz_assert(proto_attr_nested(&a, &nested) == 0);
                        n += walk(&nested, depth + 1);
                        break;
                case PROTO_KIND_UNSPEC:
                default:
                        /* Unknown types are skipped, never interpreted. */
                        fuzz_assert(proto_attr_nested(&a, &nested) == -EBADMSG);
                        break;
                }
        }
        return n;
}

/* The first-match getters agree with the kinds the decoder checked. */
static void get_all(const ProtoView *v) {
        for (uint16_t type = 0; type < _PROTO_ATTR_MAX; type++) {
                uint32_t u32;
                int32_t s32;
                uint64_t u64;
                const char *s;
                const void *b;
                size_t len;
                int r;

                switch (proto_attr_kind(type, NULL)) {
                case PROTO_KIND_U32:
                        r = proto_get_u32(v, type, &u32);
                        break;
                case PROTO_KIND_S32:
                        r = proto_get_s32(v, type, &s32);
                        break;
                case PROTO_KIND_U64:
                        r = proto_get_u64(v, type, &u64);
                        break;
                case PROTO_KIND_STRING:
                        r = proto_get_string(v, type, &s);
                        break;
                default:
                        r = proto_get_binary(v, type, &b, &len);
                        break;
                }
                fuzz_assert(r == 0 || r == -ENODATA);
        }
}

/* Builds the message again attribute by attribute; the decoder must accept the result. */
static void reencode(const ProtoView *v) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        ProtoView again;
        ProtoIter it;
        ProtoAttr a;
        int r;

        fuzz_assert(proto_msg_new(v->header.type, v->header.serial, &m) == 0);
        proto_iter_init(&it, v);
        while (proto_iter_next(&it, &a)) {
                r = proto_msg_append(m, a.type, a.value, a.length);
                /* Padding the last attribute may cost up to 3 bytes past the limit. */
                if (r == -EMSGSIZE)
                        return;
                fuzz_assert(r == 0);
        }
        fuzz_assert(m->size <= PROTO_MAX_MSG);
        r = proto_parse(m->data, m->size, &again);
        if (r != 0)
                fuzz_fail("re-encoded message refused: %s", strerror(-r));
        fuzz_assert(again.header.type == v->header.type && again.header.serial == v->header.serial);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoView v;
        ssize_t n;
        int r;

        /* The receive path: one datagram, no fds, as the daemon reads it. */
        if (send(pair[0], data, size, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                fuzz_fail("send(%zu bytes): %s", size, strerror(errno));
        n = proto_recv(pair[1], &rcv);
        fuzz_assert(n == (ssize_t) size);
        fuzz_assert(rcv.real_size == size && rcv.size == MIN(size, (size_t) PROTO_MAX_MSG));
        fuzz_assert(rcv.n_fds == 0 && !rcv.fds_truncated);
        fuzz_assert(memcmp(rcv.buf, data, rcv.size) == 0);

        r = proto_parse(rcv.buf, rcv.size, &v);
        if (size > PROTO_MAX_MSG) {
                /* Cut by the receive buffer: never accepted. */
                fuzz_assert(r < 0);
                return 0;
        }
        if (size >= PROTO_HEADER_SIZE)
                fuzz_assert(memcmp(&v.header, data, PROTO_HEADER_SIZE) == 0);
        if (r < 0) {
                fuzz_assert(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -E2BIG);
                return 0;
        }
        fuzz_assert(v.header.version == PROTO_VERSION);
        fuzz_assert(v.attrs_len == size - PROTO_HEADER_SIZE);
        fuzz_assert(walk(&v, 0) <= PROTO_MAX_ATTRS);
        get_all(&v);
        reencode(&v);
        return 0;
}
