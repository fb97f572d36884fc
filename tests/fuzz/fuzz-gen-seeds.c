/* SPDX-License-Identifier: MIT */

/*
 * The message seeds of the fuzz corpora (corpus/proto and corpus/handlers), made with the
 * real message builder so that they are what clients send today: one file per request
 * shape of PROTOCOL.md, a few replies, and a few broken messages that the builder cannot
 * make. "fuzz-gen-seeds DIR" writes them under DIR/proto and DIR/handlers; without an
 * argument (make check) it checks that the corpus in the source tree holds every seed as
 * built now, so that a protocol change cannot leave stale seeds unnoticed. Owns the seed
 * list; must not read anything but the corpus.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "netutil-proto.h"

/* The corpora that take whole datagrams. */
static const char *const corpora[] = { "proto", "handlers" };

static const char *out_root; /* NULL: check mode */
static unsigned n_seeds, n_bad;

static void die(const char *what) {
        fprintf(stderr, "fuzz-gen-seeds: %s: %s\n", what, strerror(errno));
        exit(EXIT_FAILURE);
}

static void check_or_write(const char *corpus, const char *name, const void *data, size_t size) {
        char path[PATH_MAX];
        uint8_t old[PROTO_MAX_MSG + 1];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/%s/%s", out_root ?: FUZZ_CORPUS_ROOT, corpus, name);
        if (out_root) {
                char d[PATH_MAX];

                snprintf(d, sizeof(d), "%s/%s", out_root, corpus);
                if (mkdir(d, 0755) < 0 && errno != EEXIST)
                        die(d);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, data, size) != (ssize_t) size || close(fd) < 0)
                        die(path);
                return;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "fuzz-gen-seeds: %s is missing (make fuzz-seeds)\n", path);
                n_bad++;
                return;
        }
        n = read(fd, old, sizeof(old));
        close(fd);
        if (n != (ssize_t) size || memcmp(old, data, size) != 0) {
                fprintf(stderr, "fuzz-gen-seeds: %s differs from the message built today (make fuzz-seeds)\n",
                        path);
                n_bad++;
        }
}

static void seed_raw(const char *name, const void *data, size_t size) {
        for (size_t i = 0; i < ELEMENTSOF(corpora); i++)
                check_or_write(corpora[i], name, data, size);
        n_seeds++;
}

/* Writes m as seed NAME and frees it. */
static void seed(const char *name, ProtoMsg *m) {
        if (!m) {
                fprintf(stderr, "fuzz-gen-seeds: cannot build seed %s\n", name);
                exit(EXIT_FAILURE);
        }
        seed_raw(name, m->data, m->size);
        proto_msg_free(m);
}

static ProtoMsg *msg(uint16_t type) {
        static uint32_t serial;
        ProtoMsg *m = NULL;

        if (proto_msg_new(type, ++serial, &m) < 0)
                die("proto_msg_new");
        return m;
}

/* Appends, or dies: a seed the builder refuses is a bug in this list. */
#define S(m, t, v) ok(proto_msg_append_string(m, t, v))
#define U(m, t, v) ok(proto_msg_append_u32(m, t, v))
#define I(m, t, v) ok(proto_msg_append_s32(m, t, v))
#define Q(m, t, v) ok(proto_msg_append_u64(m, t, v))
static void ok(int r) {
        if (r < 0) {
                errno = -r;
                die("append");
        }
}

static void bind_seeds(void) {
        ProtoMsg *m;

        seed("status.bin", msg(PROTO_MSG_STATUS));

        m = msg(PROTO_MSG_BIND); /* netutilctl bind 0 */
        S(m, PROTO_ATTR_SERVICE, "0");
        seed("bind-port0.bin", m);

        m = msg(PROTO_MSG_BIND); /* bind 127.0.0.1:8080 tcp, ipv4 */
        S(m, PROTO_ATTR_ADDRESS, "127.0.0.1");
        S(m, PROTO_ATTR_SERVICE, "8080");
        U(m, PROTO_ATTR_FAMILY, AF_INET);
        U(m, PROTO_ATTR_SOCKTYPE, SOCK_STREAM);
        I(m, PROTO_ATTR_BACKLOG, 16);
        seed("bind-ipv4.bin", m);

        m = msg(PROTO_MSG_BIND); /* [::1]:0 udp, reuse port */
        S(m, PROTO_ATTR_ADDRESS, "::1");
        S(m, PROTO_ATTR_SERVICE, "0");
        U(m, PROTO_ATTR_FAMILY, AF_INET6);
        U(m, PROTO_ATTR_SOCKTYPE, SOCK_DGRAM);
        U(m, PROTO_ATTR_REUSE_PORT, 1);
        seed("bind-udp6-reuseport.bin", m);

        m = msg(PROTO_MSG_BIND); /* a privileged port by service name, all interfaces */
        S(m, PROTO_ATTR_ADDRESS, "");
        S(m, PROTO_ATTR_SERVICE, "http");
        I(m, PROTO_ATTR_AI_FLAGS, 1 /* AI_PASSIVE */);
        seed("bind-service-name.bin", m);

        m = msg(PROTO_MSG_BIND); /* a held name */
        S(m, PROTO_ATTR_ADDRESS, "localhost");
        S(m, PROTO_ATTR_SERVICE, "2080");
        S(m, PROTO_ATTR_NAME, "web");
        U(m, PROTO_ATTR_HOLD, 1);
        seed("bind-hold.bin", m);

        m = msg(PROTO_MSG_BIND); /* a reuseport group member */
        S(m, PROTO_ATTR_ADDRESS, "127.0.0.1");
        S(m, PROTO_ATTR_SERVICE, "2081");
        S(m, PROTO_ATTR_NAME, "workers");
        U(m, PROTO_ATTR_REUSE_PORT, 1);
        seed("bind-group.bin", m);

        m = msg(PROTO_MSG_BIND); /* refused values */
        U(m, PROTO_ATTR_FAMILY, AF_UNIX);
        U(m, PROTO_ATTR_SOCKTYPE, SOCK_RAW);
        S(m, PROTO_ATTR_NAME, "bad name");
        seed("bind-bad-values.bin", m);

        m = msg(PROTO_MSG_BIND_UNIX); /* a path (refused: outside the allowed directory) */
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "/run/app/app.sock", strlen("/run/app/app.sock")));
        U(m, PROTO_ATTR_FILE_MODE, 0660);
        I(m, PROTO_ATTR_BACKLOG, 64);
        seed("bind-unix-path.bin", m);

        /* In the allowed directory: fuzz-handlers puts its own in place of /FUZZDIR. */
        m = msg(PROTO_MSG_BIND_UNIX);
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "/FUZZDIR/app.sock", strlen("/FUZZDIR/app.sock")));
        U(m, PROTO_ATTR_FILE_MODE, 0660);
        seed("bind-unix-allowed.bin", m);

        m = msg(PROTO_MSG_BIND_UNIX);
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "/FUZZDIR/held.sock", strlen("/FUZZDIR/held.sock")));
        S(m, PROTO_ATTR_NAME, "unix-held");
        U(m, PROTO_ATTR_HOLD, 1);
        seed("bind-unix-allowed-held.bin", m);

        m = msg(PROTO_MSG_BIND_UNIX); /* below a directory that does not exist */
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "/FUZZDIR/no/such/dir.sock", strlen("/FUZZDIR/no/such/dir.sock")));
        seed("bind-unix-allowed-missing-dir.bin", m);

        m = msg(PROTO_MSG_BIND_UNIX); /* abstract, held */
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "\0netutil-fuzz", 13));
        S(m, PROTO_ATTR_NAME, "abstract");
        U(m, PROTO_ATTR_HOLD, 1);
        seed("bind-unix-abstract.bin", m);

        m = msg(PROTO_MSG_BIND_UNIX); /* not normalized */
        ok(proto_msg_append(m, PROTO_ATTR_PATH, "/tmp/../etc/x", 13));
        U(m, PROTO_ATTR_FILE_MODE, 04777);
        seed("bind-unix-bad.bin", m);

        seed("hold-list.bin", msg(PROTO_MSG_HOLD_LIST));
        m = msg(PROTO_MSG_HOLD_RELEASE);
        S(m, PROTO_ATTR_NAME, "web");
        seed("hold-release.bin", m);
        seed("takeover.bin", msg(PROTO_MSG_TAKEOVER));
}

static void resolve_seeds(void) {
        ProtoMsg *m;

        m = msg(PROTO_MSG_RESOLVE);
        S(m, PROTO_ATTR_HOST, "localhost");
        U(m, PROTO_ATTR_PORT, 80);
        U(m, PROTO_ATTR_FAMILY, AF_UNSPEC);
        seed("resolve-localhost.bin", m);

        m = msg(PROTO_MSG_RESOLVE);
        S(m, PROTO_ATTR_HOST, "::1");
        U(m, PROTO_ATTR_PORT, 443);
        U(m, PROTO_ATTR_FAMILY, AF_INET6);
        S(m, PROTO_ATTR_SCOPE, "test-1");
        seed("resolve-literal-scope.bin", m);

        m = msg(PROTO_MSG_RESOLVE); /* the NSS module's question */
        S(m, PROTO_ATTR_HOST, "db.example.invalid");
        U(m, PROTO_ATTR_FAMILY, AF_INET);
        U(m, PROTO_ATTR_OVERRIDE_ONLY, 1);
        seed("resolve-override-only.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_SET); /* host -> host, global */
        S(m, PROTO_ATTR_HOST, "db.example.invalid");
        S(m, PROTO_ATTR_TARGET, "127.0.0.1");
        seed("override-set-host.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_SET); /* (host, port, family) -> (host, port), scope, TTL */
        S(m, PROTO_ATTR_HOST, "api.example.invalid");
        U(m, PROTO_ATTR_PORT, 443);
        U(m, PROTO_ATTR_FAMILY, AF_INET6);
        S(m, PROTO_ATTR_TARGET, "::1");
        U(m, PROTO_ATTR_TARGET_PORT, 8443);
        S(m, PROTO_ATTR_SCOPE, "test-1");
        Q(m, PROTO_ATTR_TTL_USEC, 60ULL * 1000 * 1000);
        seed("override-set-scope-ttl.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_SET); /* a named scope granted by rule */
        S(m, PROTO_ATTR_HOST, "cache");
        U(m, PROTO_ATTR_PORT, 6379);
        S(m, PROTO_ATTR_TARGET, "localhost");
        U(m, PROTO_ATTR_TARGET_PORT, 16379);
        S(m, PROTO_ATTR_SCOPE, "shared");
        seed("override-set-shared.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_DEL);
        S(m, PROTO_ATTR_HOST, "db.example.invalid");
        seed("override-del.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_LIST);
        S(m, PROTO_ATTR_SCOPE, "test-1");
        seed("override-list-scope.bin", m);
        seed("override-list-global.bin", msg(PROTO_MSG_OVERRIDE_LIST));

        m = msg(PROTO_MSG_OVERRIDE_CLEAR);
        S(m, PROTO_ATTR_SCOPE, "test-1");
        seed("override-clear.bin", m);
}

static void reply_seeds(void) {
        ProtoReply *reply = NULL;
        ProtoMsg *m, *item = NULL;
        const void *attrs;
        size_t len;

        m = msg(PROTO_MSG_STATUS); /* a status reply */
        S(m, PROTO_ATTR_VERSION, "0.1.0");
        U(m, PROTO_ATTR_PID, 1234);
        Q(m, PROTO_ATTR_UPTIME_USEC, 5000000);
        U(m, PROTO_ATTR_CLIENTS, 1);
        S(m, PROTO_ATTR_RESOLVER, "threadpool");
        S(m, PROTO_ATTR_MODE, "system");
        Q(m, PROTO_ATTR_REQUESTS, 42);
        seed("reply-status.bin", m);

        m = NULL;
        ok(proto_error_new(PROTO_MSG_RESOLVE, 7, ENOENT, "Name not found", &m));
        ok(proto_msg_append_s32(m, PROTO_ATTR_GAI_ERROR, -2));
        seed("reply-error-gai.bin", m);

        /* A bind reply: one item (family, socktype, sockaddr, fd index). */
        ok(proto_reply_new(PROTO_MSG_BIND, 9, &reply));
        item = msg(PROTO_MSG_INVALID);
        U(item, PROTO_ATTR_FAMILY, AF_INET);
        U(item, PROTO_ATTR_SOCKTYPE, SOCK_STREAM);
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ok(proto_msg_append(item, PROTO_ATTR_SOCKADDR, &sin, sizeof(sin)));
        attrs = proto_msg_attrs(item, &len);
        ok(proto_reply_add_item(reply, attrs, len, -1));
        ok(proto_reply_add_item(reply, attrs, len, -1));
        seed_raw("reply-bind-items.bin", reply->parts[0]->data, reply->parts[0]->size);
        proto_msg_free(item);
        proto_reply_free(reply);
}

static void broken_seeds(void) {
        uint8_t buf[64];
        ProtoMsg *m;
        ProtoHeader h;

        m = msg(99); /* an unknown type, an unknown attribute */
        ok(proto_msg_append(m, 999, "x", 1));
        seed("unknown-type.bin", m);

        m = msg(PROTO_MSG_RESOLVE); /* nested four deep: the limit */
        for (int i = 0; i < (int) PROTO_MAX_NESTING; i++)
                ok(proto_msg_open_nested(m, PROTO_ATTR_ITEM));
        S(m, PROTO_ATTR_HOST, "localhost");
        for (int i = 0; i < (int) PROTO_MAX_NESTING; i++)
                ok(proto_msg_close_nested(m));
        seed("nested-deep.bin", m);

        m = msg(PROTO_MSG_RESOLVE); /* a string without its NUL */
        ok(proto_msg_append(m, PROTO_ATTR_HOST, "localhost", 9));
        seed("string-no-nul.bin", m);

        m = msg(PROTO_MSG_OVERRIDE_SET); /* a u32 of 2 bytes */
        S(m, PROTO_ATTR_HOST, "a");
        ok(proto_msg_append(m, PROTO_ATTR_PORT, "\x50\x00", 2));
        seed("u32-short.bin", m);

        m = msg(PROTO_MSG_STATUS); /* a header whose length lies */
        h = *proto_msg_header(m);
        h.length = 100;
        memcpy(buf, &h, sizeof(h));
        seed_raw("length-lies.bin", buf, sizeof(h));
        proto_msg_free(m);

        m = msg(PROTO_MSG_STATUS); /* another version */
        proto_msg_header(m)->version = 2;
        seed("version-2.bin", m);

        seed_raw("truncated-header.bin", "\x01\x00\x01\x00\x01\x00", 6);
}

int main(int argc, char **argv) {
        if (argc > 2) {
                fprintf(stderr, "usage: %s [CORPUS_DIR]\n", argv[0]);
                return 2;
        }
        out_root = argc == 2 ? argv[1] : NULL;
        if (out_root && mkdir(out_root, 0755) < 0 && errno != EEXIST)
                die(out_root);
        bind_seeds();
        resolve_seeds();
        reply_seeds();
        broken_seeds();
        if (n_bad > 0) {
                fprintf(stderr, "fuzz-gen-seeds: %u of %u seeds missing or stale\n", n_bad, n_seeds);
                return EXIT_FAILURE;
        }
        printf("fuzz-gen-seeds: %u seeds %s\n", n_seeds, out_root ? "written" : "present and up to date");
        return 0;
}
