/* SPDX-License-Identifier: MIT */

/*
 * Fuzz target: every request handler's argument parsing (daemon/handlers.c table), through
 * the real dispatch. A real Manager runs in this process: its config, control socket and
 * state directory live in a temporary directory, and the whole target runs in a network
 * namespace of its own (unshare(CLONE_NEWNET), hence root), so that binds and name lookups
 * touch nothing outside. One client connects, and its connection's credentials are then
 * set to uid/gid 65534 (nobody): policy refusals are part of what is fuzzed, and the rules
 * below keep every unix socket inside the temporary directory.
 *
 * An input is one request datagram; its header's version and length are set right (and
 * the serial chosen here) so that mutations reach the handlers rather than stop at the
 * framing, which fuzz-proto covers. The input is sent, the loop runs until the reply's
 * last part, and every part must be a well-formed message with the request's type and
 * serial; an error must carry a message; the connection must stay up (errors are answers,
 * not disconnects). Owns only that; must not know what a request means.
 */

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "netutil-proto.h"

const char fuzz_name[] = "handlers";

/* The uid and gid the fuzzed client gets: nobody on Debian. */
#define FUZZ_UID 65534u
/* Inputs served by one Manager before a fresh one starts: held sockets, groups, scopes and
 * overrides pile up within a Manager (the quotas stop them), and a fresh one reaches the
 * paths of an empty daemon again. Every other Manager uses the cares resolver. */
#define FUZZ_INPUTS_PER_MANAGER 64u
/* How long one request may take: the slowest is a name lookup that fails at once in an
 * empty network namespace. Longer is a hang: the daemon never answered. */
#define FUZZ_REPLY_TIMEOUT_USEC (10u * 1000u * 1000u)
/* One event loop iteration waits at most this long for the worker threads. */
#define FUZZ_LOOP_WAIT_USEC (10u * 1000u)

static char dir[PATH_MAX], conf_path[PATH_MAX], sock_path[PATH_MAX], state_dir[PATH_MAX], unix_dir[PATH_MAX];
static Manager *mgr;
static int client = -EBADF;
static unsigned generation, used;
static uint32_t serial;
static ProtoRecv reply; /* 64 KiB and 253 fds: static */

static void loopback_up(void) {
        struct ifreq ifr = {};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        /* A new network namespace has "lo" down: binds to 127.0.0.1 would all fail alike. */
        if (fd < 0)
                fuzz_fail("socket: %m");
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                fuzz_fail("SIOCGIFFLAGS lo: %m");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                fuzz_fail("SIOCSIFFLAGS lo: %m");
        close(fd);
}

void fuzz_setup(void) {
        log_set_max_level(LOG_CRIT);
        if (geteuid() != 0) {
                fuzz_skip_reason = "needs root, for a network namespace of its own";
                return;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                fuzz_skip_reason = "cannot make a network namespace (unshare(CLONE_NEWNET) failed)";
                return;
        }
        loopback_up();
        /* Not socket-activated, not under a service manager: a Manager of our own. */
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDNAMES");
        unsetenv("NOTIFY_SOCKET");

        fuzz_format(dir, sizeof(dir), "%s", fuzz_tmpdir());
        fuzz_format(conf_path, sizeof(conf_path), "%s/netutild.conf", dir);
        fuzz_format(sock_path, sizeof(sock_path), "%s/netutild.sock", dir);
        fuzz_format(state_dir, sizeof(state_dir), "%s/state", dir);
        fuzz_format(unix_dir, sizeof(unix_dir), "%s/unix", dir);
}

static void run_once(void) {
        int r = sd_event_run(mgr->event, FUZZ_LOOP_WAIT_USEC);

        if (r < 0)
                fuzz_fail("sd_event_run: %s", strerror(-r));
}

static void manager_start(void) {
        char config[1024];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline = now_usec() + FUZZ_REPLY_TIMEOUT_USEC;
        Conn *c;
        int r;

        /* Every Manager starts from an empty directory: no state file, no socket nodes. */
        fuzz_empty_dir(dir);
        if (mkdir(unix_dir, 0755) < 0)
                fuzz_fail("mkdir(%s): %m", unix_dir);
        fuzz_format(config, sizeof(config),
                 "[Daemon]\n"
                 "Resolver=%s\n"
                 "ResolverThreads=2\n"
                 "MaxClients=4\n"
                 "[Policy]\n"
                 "AllowBind=user:%u tcp:1-65535 udp:1-65535\n"
                 "AllowBind=user:%u tcp:2000-2999 address:127.0.0.0/8\n"
                 "AllowUnix=user:%u %s\n"
                 "AllowOverride=user:%u global\n"
                 "AllowOverride=user:%u shared\n",
                 generation % 2 ? "cares" : "threadpool", FUZZ_UID, FUZZ_UID, FUZZ_UID, unix_dir, FUZZ_UID,
                 FUZZ_UID);
        fuzz_write_file(conf_path, config, strlen(config));
        generation++;

        fuzz_assert(manager_new(&mgr) == 0);
        mgr->config_path = strdup(conf_path);
        mgr->socket_path = strdup(sock_path);
        mgr->state_dir = strdup(state_dir);
        fuzz_assert(mgr->config_path && mgr->socket_path && mgr->state_dir);
        r = manager_load_config(mgr);
        if (r < 0)
                fuzz_fail("manager_load_config: %s", strerror(-r));
        r = manager_listen(mgr);
        if (r < 0)
                fuzz_fail("manager_listen: %s", strerror(-r));

        client = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        fuzz_assert(client >= 0);
        fuzz_format(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        if (connect(client, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                fuzz_fail("connect(%s): %m", sock_path);
        while (mgr->n_conns == 0) {
                if (now_usec() > deadline)
                        fuzz_fail("the daemon did not accept the client");
                run_once();
        }

        /* SO_PEERCRED said root; the policy is to see nobody. */
        c = mgr->conns;
        c->creds.uid = FUZZ_UID;
        c->creds.gid = FUZZ_UID;
        free(c->creds.groups);
        c->creds.groups = NULL;
        c->creds.n_groups = 0;
        used = 0;
}

static void manager_stop(void) {
        client = safe_close(client);
        mgr = manager_free(mgr);
}

static void send_request(const void *buf, size_t size) {
        uint64_t deadline = now_usec() + FUZZ_REPLY_TIMEOUT_USEC;

        for (;;) {
                if (send(client, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                        return;
                if (errno != EAGAIN)
                        fuzz_fail("send(%zu bytes): %m", size);
                if (now_usec() > deadline)
                        fuzz_fail("the daemon does not read its socket");
                run_once();
        }
}

/* Runs the loop until the last part of the reply to (type, serial) arrived. */
static void wait_reply(uint16_t type, uint32_t want_serial) {
        uint64_t deadline = now_usec() + FUZZ_REPLY_TIMEOUT_USEC;

        for (;;) {
                ProtoView v;
                const char *text;
                ssize_t n;
                int r;

                n = proto_recv(client, &reply);
                proto_recv_clear(&reply); /* the sockets a bind handed over */
                if (n == -EAGAIN) {
                        if (now_usec() > deadline)
                                fuzz_fail("no reply to a request of type %u within %u s", type,
                                          FUZZ_REPLY_TIMEOUT_USEC / 1000000u);
                        run_once();
                        continue;
                }
                if (n <= 0)
                        fuzz_fail("the daemon closed the connection (%s)", n < 0 ? strerror((int) -n) : "EOF");

                r = proto_parse(reply.buf, reply.size, &v);
                if (r < 0)
                        fuzz_fail("malformed reply of %zd bytes: %s", n, strerror(-r));
                if (v.header.type != type || v.header.serial != want_serial)
                        fuzz_fail("reply (type %u, serial %u) to request (type %u, serial %u)", v.header.type,
                                  v.header.serial, type, want_serial);
                fuzz_assert(v.header.status >= 0);
                if (v.header.status > 0) {
                        fuzz_assert(proto_get_string(&v, PROTO_ATTR_ERROR_MESSAGE, &text) == 0);
                        fuzz_assert(text[0] != '\0');
                        fuzz_assert(!(v.header.flags & PROTO_FLAG_MORE));
                }
                if (!(v.header.flags & PROTO_FLAG_MORE)) {
                        /* FUZZ_VERBOSE=1: what each request got, to see what a corpus reaches. */
                        if (getenv("FUZZ_VERBOSE"))
                                fprintf(stderr, "type %u serial %u: status %d %s\n", type, want_serial,
                                        v.header.status,
                                        v.header.status > 0 ? text : "");
                        return;
                }
        }
}

/* Seeds cannot know the temporary directory: a unix socket PATH that starts with
 * FUZZ_UNIX_PREFIX is sent with that prefix replaced by the directory the policy allows, so
 * that the paths that create sockets are fuzzed too, not only the refusals. Returns the new
 * size of buf (the datagram rebuilt), or size if nothing was replaced. */
#define FUZZ_UNIX_PREFIX "/FUZZDIR"
static size_t place_unix_paths(uint8_t *buf, size_t size) {
        _cleanup_(proto_msg_freep) ProtoMsg *m = NULL;
        size_t prefix = strlen(FUZZ_UNIX_PREFIX);
        bool replaced = false;
        ProtoView v;
        ProtoIter it;
        ProtoAttr a;

        if (proto_parse(buf, size, &v) < 0 || proto_msg_new(v.header.type, v.header.serial, &m) < 0)
                return size;
        proto_msg_header(m)->flags = v.header.flags;
        proto_iter_init(&it, &v);
        while (proto_iter_next(&it, &a)) {
                char path[PROTO_MAX_UNIX_PATH * 2];
                int r;

                if (a.type == PROTO_ATTR_PATH && a.length >= prefix && memcmp(a.value, FUZZ_UNIX_PREFIX, prefix) == 0) {
                        int n = snprintf(path, sizeof(path), "%s%.*s", unix_dir, (int) (a.length - prefix),
                                         (const char *) a.value + prefix);
                        /* An embedded NUL cuts the copy: keep such a value as it came. */
                        if (n < 0 || (size_t) n >= sizeof(path) || memchr(a.value, '\0', a.length)) {
                                r = proto_msg_append(m, a.type, a.value, a.length);
                        } else {
                                r = proto_msg_append(m, a.type, path, (size_t) n);
                                replaced = true;
                        }
                } else
                        r = proto_msg_append(m, a.type, a.value, a.length);
                if (r < 0)
                        return size;
        }
        if (!replaced || m->size > PROTO_MAX_MSG)
                return size;
        memcpy(buf, m->data, m->size);
        return m->size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint8_t buf[PROTO_MAX_MSG];
        uint16_t type = 0;
        uint32_t s = 0;

        /* Larger datagrams only test the size check, which fuzz-proto covers. */
        if (size > sizeof(buf))
                return 0;
        if (!mgr || used >= FUZZ_INPUTS_PER_MANAGER) {
                if (mgr)
                        manager_stop();
                manager_start();
        }
        used++;

        memcpy(buf, data, size);
        if (size >= PROTO_HEADER_SIZE) {
                ProtoHeader h;

                memcpy(&h, buf, sizeof(h));
                h.version = PROTO_VERSION;
                h.length = (uint32_t) (size - PROTO_HEADER_SIZE);
                h.serial = s = ++serial ?: ++serial; /* 0 is the daemon's own messages' */
                type = h.type;
                memcpy(buf, &h, sizeof(h));
                size = place_unix_paths(buf, size);
        }
        send_request(buf, size);
        wait_reply(type, s);
        /* Errors are answers: the connection is still there. */
        if (mgr->n_conns != 1)
                fuzz_fail("the daemon dropped the client after a request of type %u", type);
        return 0;
}
