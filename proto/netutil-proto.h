/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The netutild wire contract: the one header that says what travels between a client
 * (libnetutil, netutilctl, libnss_netutil) and netutild.
 *
 * It owns: the protocol version, message and attribute numbers, every limit, the
 * message builder, the decoder and fd passing. It must not do I/O policy (who may do
 * what), keep state between messages, or log.
 *
 * Transport: AF_UNIX, SOCK_SEQPACKET. One message is one datagram, read by one
 * recvmsg() together with its fds (SCM_RIGHTS). All integers are in host byte order:
 * both ends run on the same machine.
 *
 * Every message starts with a 16-byte header:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +---------------+---------------+-------------------------------+
 *   |    version    |     flags     |             type              |
 *   +---------------+---------------+-------------------------------+
 *   |                     serial (chosen by the client)             |
 *   +---------------------------------------------------------------+
 *   |      status: 0, or a positive errno in an error reply         |
 *   +---------------------------------------------------------------+
 *   |          length of the attributes that follow, in bytes       |
 *   +---------------------------------------------------------------+
 *   |                       attributes ...                          |
 *
 * followed by attributes, netlink-like, each aligned to 4 bytes:
 *
 *    0                   1                   2                   3
 *   +-------------------------------+-------------------------------+
 *   |        attribute type         |   value length (no header)    |
 *   +-------------------------------+-------------------------------+
 *   |   value ..., zero-padded to a multiple of 4 bytes             |
 *
 * A request names its serial; every reply to it carries the same serial and type, so
 * requests may be pipelined and replies may arrive out of order. A reply whose fds or
 * items do not fit in one datagram is sent in parts: every part but the last carries
 * PROTO_FLAG_MORE. An error reply has status = errno and a PROTO_ATTR_ERROR_MESSAGE; a
 * resolver failure also carries PROTO_ATTR_GAI_ERROR. A message the daemon sends on its
 * own (serial 0, e.g. "too many clients") is always an error reply.
 *
 * Unknown attribute types are skipped by the decoder, so fields can be added without a
 * new version. proto/PROTOCOL.md documents every message.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bumped only for changes an old peer would misread; new attributes do not bump it. */
#define PROTO_VERSION 1

/* Header flags. */
#define PROTO_FLAG_MORE 0x01u /* reply: further parts with this serial follow */

/* Message types. Replies carry the type of their request. */
enum {
        PROTO_MSG_INVALID = 0,
        PROTO_MSG_STATUS = 1, /* daemon status; no request attributes */
        /* 2..15: socket hand-over */
        PROTO_MSG_BIND = 2,         /* bind_sockets() on the client's behalf; items with fds */
        PROTO_MSG_BIND_UNIX = 3,    /* bind_unix_socket() on the client's behalf; one item */
        PROTO_MSG_HOLD_LIST = 4,    /* held sockets visible to the client; items, no fds */
        PROTO_MSG_HOLD_RELEASE = 5, /* close a held name */
        PROTO_MSG_TAKEOVER = 6,     /* successor hand-over: control listener and held sockets */
        /* 16..31: resolution and overrides */
        PROTO_MSG_RESOLVE = 16,        /* host, port, family[, scope] → addresses (items) */
        PROTO_MSG_OVERRIDE_SET = 17,   /* add or replace one rule */
        PROTO_MSG_OVERRIDE_DEL = 18,   /* remove one rule */
        PROTO_MSG_OVERRIDE_LIST = 19,  /* rules of a scope or the global table (items) */
        PROTO_MSG_OVERRIDE_CLEAR = 20, /* remove every rule of a scope or the global table */
        _PROTO_MSG_MAX,
};

/* Attribute kinds: how the decoder checks a value before anyone reads it. */
typedef enum ProtoAttrKind {
        PROTO_KIND_UNSPEC = 0, /* unknown type: skipped by the decoder */
        PROTO_KIND_U32,        /* exactly 4 bytes */
        PROTO_KIND_S32,        /* exactly 4 bytes */
        PROTO_KIND_U64,        /* exactly 8 bytes */
        PROTO_KIND_STRING,     /* NUL-terminated, no embedded NUL, at most max_len bytes with NUL */
        PROTO_KIND_BINARY,     /* at most max_len bytes */
        PROTO_KIND_NESTED,     /* a sequence of attributes, checked recursively */
} ProtoAttrKind;

/* Attribute types. One namespace for all messages and for nested attributes. */
enum {
        PROTO_ATTR_UNSPEC = 0,
        PROTO_ATTR_ERROR_MESSAGE = 1, /* string: a short message in words for the user */
        PROTO_ATTR_GAI_ERROR = 2,     /* s32: EAI_* code of a resolver failure */

        /* STATUS reply */
        PROTO_ATTR_VERSION = 10,        /* string: daemon version */
        PROTO_ATTR_PID = 11,            /* u32 */
        PROTO_ATTR_UPTIME_USEC = 12,    /* u64: CLOCK_MONOTONIC microseconds since start */
        PROTO_ATTR_CLIENTS = 13,        /* u32: connected clients, the asker included */
        PROTO_ATTR_HELD = 14,           /* u32: held sockets */
        PROTO_ATTR_OVERRIDES = 15,      /* u32: override rules in all tables */
        PROTO_ATTR_RESOLVER = 16,       /* string: resolver backend name */
        PROTO_ATTR_MODE = 17,           /* string: "system" or "user" */
        PROTO_ATTR_POLICY_RULES = 18,   /* u32: compiled policy rules */
        PROTO_ATTR_MAX_CLIENTS = 19,    /* u32: configured client limit */
        PROTO_ATTR_REQUESTS = 20,       /* u64: requests served since start */

        /* BIND / BIND_UNIX requests */
        PROTO_ATTR_ADDRESS = 30,    /* string: host or IP literal; absent or "" = all interfaces */
        PROTO_ATTR_SERVICE = 31,    /* string: port number or service name; absent = Tornado's None */
        PROTO_ATTR_FAMILY = 32,     /* u32: AF_UNSPEC, AF_INET, AF_INET6 (and AF_UNIX in items) */
        PROTO_ATTR_SOCKTYPE = 33,   /* u32: SOCK_STREAM or SOCK_DGRAM */
        PROTO_ATTR_BACKLOG = 34,    /* s32: listen() backlog; absent = 128 */
        PROTO_ATTR_AI_FLAGS = 35,   /* s32: getaddrinfo flags; absent = AI_PASSIVE */
        PROTO_ATTR_REUSE_PORT = 36, /* u32: 1 = SO_REUSEPORT */
        PROTO_ATTR_NAME = 37,       /* string: held socket or reuseport group name */
        PROTO_ATTR_HOLD = 38,       /* u32: 1 = keep a copy in the daemon under NAME */
        PROTO_ATTR_PATH = 39,       /* binary: unix socket path; a leading NUL = abstract */
        PROTO_ATTR_FILE_MODE = 40,  /* u32: unix socket node mode; absent = 0600 */
        /* reply items */
        PROTO_ATTR_SOCKADDR = 41,   /* binary: the bound struct sockaddr (getsockname) */
        PROTO_ATTR_OWNER_UID = 42,  /* u32: owner of a held name */

        /* RESOLVE / OVERRIDE_* */
        PROTO_ATTR_HOST = 50,        /* string: host name or IP literal */
        PROTO_ATTR_PORT = 51,        /* u32: 0..65535 */
        PROTO_ATTR_SCOPE = 52,       /* string: override scope; absent = the global table */
        PROTO_ATTR_TARGET = 53,      /* string: the host an override maps to */
        PROTO_ATTR_TARGET_PORT = 54, /* u32: the port an override maps to */
        PROTO_ATTR_TTL_USEC = 55,    /* u64: an override's lifetime (set) or what is left (list) */
        PROTO_ATTR_OVERRIDE_ONLY = 56, /* u32: 1 = answer only through a host-only rule (NSS) */
        PROTO_ATTR_SOURCE = 57,        /* string: "FILE:LINE" of a read-only drop-in rule (list) */
        /* PROTO_ATTR_FAMILY (32) is the requested family in RESOLVE and an override's key
         * family; PROTO_ATTR_SOCKADDR (41) carries each resolved address. */

        /* Generic list item of a multi-part reply; see proto_reply_add_item(). */
        PROTO_ATTR_ITEM = 60,     /* nested */
        PROTO_ATTR_FD_INDEX = 61, /* u32: index of this item's fd among its message's fds */

        _PROTO_ATTR_MAX,
};

/* Limits. Each is checked by the side that receives. */
#define PROTO_HEADER_SIZE 16u
/* Largest datagram either side sends or accepts: far below the default unix socket send
 * buffer (net.core.wmem_default, 208 KiB), and enough for 253 socket descriptions. */
#define PROTO_MAX_MSG 65536u
/* Attributes per message, nested ones included: bounds the decoder's work per datagram. */
#define PROTO_MAX_ATTRS 4096u
/* Nesting depth: items hold addresses; nothing needs more than this. */
#define PROTO_MAX_NESTING 4u
/* Longest string attribute, NUL included: PATH_MAX, the longest thing we carry. */
#define PROTO_MAX_STRING 4096u
/* Longest host name, NUL excluded (RFC 1035: 255 octets in wire form). */
#define PROTO_MAX_HOST 255u
/* Longest short name (version, resolver, mode), NUL included. */
#define PROTO_MAX_NAME 64u
/* Longest held-socket or group name, NUL included: a systemd FDNAME= is at most 255 bytes
 * and the daemon's fd store names (daemon/fdstore.c) put up to 34 bytes of metadata in
 * front of the name; 199 bytes leave room for one more field. */
#define PROTO_MAX_SOCKET_NAME 200u
/* Longest service string, NUL included: service names in /etc/services are short. */
#define PROTO_MAX_SERVICE 64u
/* Longest scope name, NUL included: a test run's id, not a document. */
#define PROTO_MAX_SCOPE 128u
/* Largest socket address carried: sizeof(struct sockaddr_storage). */
#define PROTO_MAX_SOCKADDR 128u
/* Longest unix socket path: sizeof(sockaddr_un.sun_path) on Linux. */
#define PROTO_MAX_UNIX_PATH 108u
/* Longest error message, NUL included. */
#define PROTO_MAX_ERROR_MESSAGE 512u
/* fds in one datagram: the kernel's SCM_MAX_FD. Larger answers are split into parts. */
#define PROTO_MAX_FDS 253u
/* Requests one connection may have in flight (read but not fully answered); past it the
 * daemon stops reading that connection until replies drain. */
#define PROTO_MAX_INFLIGHT 128u
/* Default limit on connected clients (MaxClients= in the config). */
#define PROTO_DEFAULT_MAX_CLIENTS 1024u

/* Attribute alignment, as netlink's NLA_ALIGNTO. */
#define PROTO_ALIGN(len) (((len) + 3u) & ~(size_t) 3u)

typedef struct ProtoHeader {
        uint8_t version;
        uint8_t flags;
        uint16_t type;
        uint32_t serial;
        int32_t status;
        uint32_t length;
} ProtoHeader;

typedef struct ProtoAttrHeader {
        uint16_t type;
        uint16_t length;
} ProtoAttrHeader;

_Static_assert(sizeof(ProtoHeader) == PROTO_HEADER_SIZE, "header layout");
_Static_assert(sizeof(ProtoAttrHeader) == 4, "attribute header layout");

/* ---- Building a message ------------------------------------------------------------ */

/* A message under construction: header, attributes and the fds that travel with it.
 * The message owns its fds: proto_msg_free() closes them (after sending, the peer holds
 * its own copies). */
typedef struct ProtoMsg {
        uint8_t *data; /* header + attributes; data[0..size) */
        size_t size;
        size_t allocated;
        size_t nest[PROTO_MAX_NESTING]; /* offsets of open nested attributes */
        unsigned n_nest;
        int *fds;      /* room for PROTO_MAX_FDS, allocated with the first fd */
        unsigned n_fds;
        unsigned n_attrs; /* attributes in it, nested ones included (≤ PROTO_MAX_ATTRS to parse) */
} ProtoMsg;

/* Returns 0 and a new message in *ret, or -ENOMEM. */
int proto_msg_new(uint16_t type, uint32_t serial, ProtoMsg **ret);
/* Closes the message's fds, frees it, returns NULL. NULL is fine. */
ProtoMsg *proto_msg_free(ProtoMsg *m);
ProtoHeader *proto_msg_header(ProtoMsg *m);

/* The append functions return 0, -EMSGSIZE if the message would exceed PROTO_MAX_MSG (the
 * message is left as it was), -EINVAL for an over-long value, or -ENOMEM. */
int proto_msg_append(ProtoMsg *m, uint16_t type, const void *data, size_t len);
int proto_msg_append_u32(ProtoMsg *m, uint16_t type, uint32_t v);
int proto_msg_append_s32(ProtoMsg *m, uint16_t type, int32_t v);
int proto_msg_append_u64(ProtoMsg *m, uint16_t type, uint64_t v);
int proto_msg_append_string(ProtoMsg *m, uint16_t type, const char *s);
/* Nested attributes: open, append members, close. Returns -E2BIG past PROTO_MAX_NESTING. */
int proto_msg_open_nested(ProtoMsg *m, uint16_t type);
int proto_msg_close_nested(ProtoMsg *m);
/* Attaches fd, consuming it in every case (closed on error). Returns its index within the
 * message, or -ETOOMANYREFS past PROTO_MAX_FDS. */
int proto_msg_push_fd(ProtoMsg *m, int fd);

/* Turns m into an error reply to (type, serial): status = error (positive errno) and the
 * message text, cut to PROTO_MAX_ERROR_MESSAGE. Returns a new message in *ret. */
int proto_error_new(uint16_t type, uint32_t serial, int error, const char *message, ProtoMsg **ret);

/* A reply that may need several datagrams: items (one nested PROTO_ATTR_ITEM each, with
 * at most one fd) fill the current part; when the next one does not fit, by bytes or by
 * fds, a new part starts and the previous one gets PROTO_FLAG_MORE. Attributes appended
 * to parts[0] directly before the first item are the reply's own. */
typedef struct ProtoReply {
        ProtoMsg **parts;
        size_t n_parts;
        uint16_t type;
        uint32_t serial;
} ProtoReply;

int proto_reply_new(uint16_t type, uint32_t serial, ProtoReply **ret);
ProtoReply *proto_reply_free(ProtoReply *r);
/* Adds an item whose attributes are attrs[0..len) (already encoded, e.g. by a scratch
 * ProtoMsg: proto_msg_attrs()) and, if fd >= 0, that fd, which is consumed in every case.
 * The item gets PROTO_ATTR_FD_INDEX when it has an fd. Returns 0, -EMSGSIZE if the item
 * alone exceeds a datagram, or -ENOMEM. */
int proto_reply_add_item(ProtoReply *r, const void *attrs, size_t len, int fd);
/* The attributes of m, without the header: for proto_reply_add_item(). */
const void *proto_msg_attrs(const ProtoMsg *m, size_t *ret_len);

/* ---- Sending and receiving ---------------------------------------------------------- */

/* Sends m as one datagram with its fds (MSG_NOSIGNAL; the socket's own mode decides
 * whether it blocks). m keeps its fds. Returns 0, or -errno (-EAGAIN: try again later). */
int proto_send(int sock, ProtoMsg *m);

/* A received datagram. buf is PROTO_MAX_MSG bytes; fds are owned by the ProtoRecv until
 * taken with proto_recv_take_fd(); proto_recv_clear() closes the rest. */
typedef struct ProtoRecv {
        uint8_t buf[PROTO_MAX_MSG];
        size_t size;      /* bytes received, at most PROTO_MAX_MSG */
        size_t real_size; /* size of the datagram as sent (MSG_TRUNC) */
        bool fds_truncated; /* MSG_CTRUNC: fds were lost and the rest closed */
        int fds[PROTO_MAX_FDS];
        unsigned n_fds;
        /* Set by the owner, kept by proto_recv(): called instead of close() for each fd
         * the ProtoRecv lets go of (proto_recv_clear(), and a datagram proto_recv()
         * refuses), and consumes it. The daemon closes a client's fds on another thread,
         * since the last close of a file may block (closer.h). NULL: close(). */
        void (*discard)(int fd, void *userdata);
        void *discard_userdata;
} ProtoRecv;

/* Receives one datagram with MSG_CMSG_CLOEXEC (and MSG_DONTWAIT). Returns the datagram
 * size (0 is an empty datagram or end of stream: the caller tells them apart by POLLHUP),
 * or -errno (-EAGAIN). On a truncated datagram (real_size > PROTO_MAX_MSG) the fds are
 * already closed. */
ssize_t proto_recv(int sock, ProtoRecv *r);
/* Takes ownership of fd number i from r (-EBADF if out of range or already taken). */
int proto_recv_take_fd(ProtoRecv *r, unsigned i);
/* Closes every fd r still owns (through r->discard if set). */
void proto_recv_clear(ProtoRecv *r);

/* ---- Decoding ----------------------------------------------------------------------- */

/* For _cleanup_(proto_msg_freep) and _cleanup_(proto_reply_freep). */
static inline void proto_msg_freep(ProtoMsg **m) {
        if (*m)
                proto_msg_free(*m);
}
static inline void proto_reply_freep(ProtoReply **r) {
        if (*r)
                proto_reply_free(*r);
}

/* A checked view of a received message or of a nested attribute's contents. */
typedef struct ProtoView {
        ProtoHeader header; /* zero for a nested view */
        const uint8_t *attrs;
        size_t attrs_len;
} ProtoView;

/* Checks a datagram: size >= header, version, length == what follows, every attribute
 * inside its parent, every known attribute of its kind (proto_attr_kind()), counts and
 * nesting within limits. Returns 0 and *ret, or:
 *   -EBADMSG          truncated header, lying length, attribute overrun, a bad value
 *   -EPROTONOSUPPORT  another protocol version
 *   -E2BIG            more than PROTO_MAX_ATTRS attributes or deeper than PROTO_MAX_NESTING
 * ret->header is filled from the first 16 bytes whenever size >= PROTO_HEADER_SIZE, even on
 * error, so that the error reply can carry the serial. */
int proto_parse(const void *buf, size_t size, ProtoView *ret);

/* Kind and maximum value length of an attribute type, for the decoder and fuzzers. */
ProtoAttrKind proto_attr_kind(uint16_t type, size_t *ret_max_len);

/* Iteration over the attributes of a view: for (proto_iter_init(&it, v); proto_iter_next(&it, &a);) */
typedef struct ProtoAttr {
        uint16_t type;
        uint16_t length;
        const void *value;
} ProtoAttr;

typedef struct ProtoIter {
        const uint8_t *p, *end;
} ProtoIter;

void proto_iter_init(ProtoIter *it, const ProtoView *v);
bool proto_iter_next(ProtoIter *it, ProtoAttr *ret);

/* Getters for the first attribute of a type. Values were checked by proto_parse(), so
 * these only return 0 or -ENODATA (absent). Strings point into the datagram. */
int proto_get_u32(const ProtoView *v, uint16_t type, uint32_t *ret);
int proto_get_s32(const ProtoView *v, uint16_t type, int32_t *ret);
int proto_get_u64(const ProtoView *v, uint16_t type, uint64_t *ret);
int proto_get_string(const ProtoView *v, uint16_t type, const char **ret);
int proto_get_binary(const ProtoView *v, uint16_t type, const void **ret, size_t *ret_len);
/* The same for an attribute from an iterator (checked kind; -EBADMSG on the wrong kind). */
int proto_attr_u32(const ProtoAttr *a, uint32_t *ret);
int proto_attr_u64(const ProtoAttr *a, uint64_t *ret);
int proto_attr_string(const ProtoAttr *a, const char **ret);
/* A view of a nested attribute's members (checked by proto_parse()). */
int proto_attr_nested(const ProtoAttr *a, ProtoView *ret);
