/* SPDX-License-Identifier: MIT */

/*
 * The rules file (proto/rules-file-format.h) for netutil_resolve() and its asynchronous form
 * (async-ops.c, with nothing else in flight on the client): an override hit on a literal
 * target answered from the daemon's published rules without a round trip. The mapping
 * (MAP_SHARED) is kept on the client and checked with one stat() per call: the daemon
 * changes the file in place before it acknowledges a change, which the mapping shows, and
 * replaces it (rename) when it makes it anew, which the stat() shows as another inode. The
 * old one stays mapped until then, so its inode number cannot come back for the new file; a
 * refused file is not mapped, so its number can, and the change time tells the two apart.
 * Each lookup reads the file's seq before and after (rules_file_still()): a lookup that
 * overlapped a change in place is not used. Anything the file cannot answer exactly as the
 * daemon would (no file, no rule, a name as target, a TTL, a family the literal lacks, a
 * malformed file, a change under way) goes to the daemon, and so does every question of a
 * client whose daemon has hung up on it (a killed daemon's file stays until the next one
 * starts).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "rules-file-format.h"

/* The largest file mapped: RULES_FILE_MAX_RULES rules with hosts of a few hundred bytes; a
 * bigger file is not one the daemon wrote for us. */
#define CLIENT_RULES_MAX_SIZE (64u * 1024 * 1024)

int client_rules_init(ClientRules *r, const char *socket_path) {
        const char *e = secure_getenv("NETUTIL_RULES_FILE");

        *r = (ClientRules) {};
        /* NETUTIL_RULES_FILE=0: every resolve asks the daemon (debugging, benchmarks). */
        if (e && strcmp(e, "0") == 0)
                return 0;
        if (asprintf(&r->path, "%s" RULES_FILE_SUFFIX, socket_path) < 0) {
                r->path = NULL;
                return -ENOMEM;
        }
        return 0;
}

static void unmap(ClientRules *r) {
        if (r->map)
                (void) munmap(r->map, r->size);
        r->map = NULL;
        r->size = 0;
        r->mapped = false;
}

void client_rules_done(ClientRules *r) {
        unmap(r);
        free(r->path);
        r->path = NULL;
}

/* Maps the file now at r->path if it is not the one mapped. Returns true if a valid file
 * is mapped. */
static bool refresh(ClientRules *r) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        void *map;

        if (stat(r->path, &st) < 0) {
                unmap(r);
                return false;
        }
        /* A mapped file changes in place (its change time with it); only a refused one is
         * judged again when it changed. */
        if (r->mapped && st.st_dev == r->dev && st.st_ino == r->ino &&
            (r->map || (st.st_ctim.tv_sec == r->ctim.tv_sec && st.st_ctim.tv_nsec == r->ctim.tv_nsec)))
                return r->map != NULL;
        unmap(r);
        /* O_NONBLOCK: a FIFO put there must not hang the caller; fstat() then refuses it. */
        fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return false;
        /* Whatever this inode holds, it is judged once: a malformed one is not read again. */
        r->mapped = true;
        r->dev = st.st_dev;
        r->ino = st.st_ino;
        r->ctim = st.st_ctim;
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > CLIENT_RULES_MAX_SIZE)
                return false;
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return false;
        if (!rules_file_parse(map, (size_t) st.st_size, &r->view)) {
                (void) munmap(map, (size_t) st.st_size);
                return false;
        }
        r->map = map;
        r->size = (size_t) st.st_size;
        return true;
}

int client_rules_answer(netutil_client *c, const char *host, unsigned port, int family, const char *scope,
                        netutil_address **ret) {
        struct pollfd p = { .fd = c->fd };
        ClientRules *r = &c->rules;
        const RulesFileEntry *e;
        netutil_address *a;
        uint64_t seq;

        /* Not past a request in flight: a change sent before must be answered first. */
        if (c->pending || c->out_head || !r->path || !refresh(r))
                return 0;
        scope = client_resolve_scope(scope);
        /* NAME@UID trusts another uid's scope, which only the daemon can check (the file names
         * no owners): ask it. */
        if (scope && strchr(scope, '@'))
                return 0;
        seq = rules_file_seq(&r->view);
        if (seq & 1) /* the daemon is changing it */
                return 0;
        e = rules_file_lookup(&r->view, scope, host, (int) port, family, false);
        if (!e)
                return 0;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->family = (int) e->answer_family;
        a->address_len = rules_file_sockaddr(e, port, &a->address);
        /* A lookup that overlapped a change may have seen no state of the tables; and a
         * daemon that hung up on us may have been killed, its file left behind. */
        if (!rules_file_still(&r->view, seq) || poll(&p, 1, 0) != 0) {
                free(a);
                return 0;
        }
        *ret = a;
        return 1;
}
