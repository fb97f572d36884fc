/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Which names /etc/hosts has, for the cares backend: read once, then again only when the
 * file changed, checked at most once a second. c-ares 1.18 opens and parses the whole file
 * for every lookup it starts (five system calls and a parse per name, costlier than the DNS
 * query itself), so the backend asks c-ares to read the file only for names it has. Owns
 * the set of names; must not answer with addresses (c-ares does, in its own order).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* How often the file's stat() is compared with what was read: as often as a change of
 * /etc/hosts becomes visible. */
#define ETC_HOSTS_RECHECK_USEC (1000ULL * 1000)
/* A bigger file is not read, and every name counts as possibly in it (blocklist hosts files
 * reach a few MiB; this is far above). */
#define ETC_HOSTS_MAX_SIZE (64u * 1024 * 1024)

typedef struct HostsName HostsName;

typedef struct EtcHosts {
        const char *path;      /* NULL: /etc/hosts */
        uint64_t checked_usec; /* CLOCK_MONOTONIC of the last stat(); 0: never */
        bool seen;             /* the fields below describe the file that was read */
        bool unknown;          /* too big or unreadable for lack of memory: assume every name */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        HostsName *names; /* sorted, each once, with the families it has */
        size_t n_names;
} EtcHosts;

/* Whether the file may have an address of family (AF_INET, AF_INET6, AF_UNSPEC: either)
 * for name (ASCII case ignored), after reading it again if it changed. */
bool etc_hosts_has(EtcHosts *h, const char *name, int family);
/* Forgets what was read: the next etc_hosts_has() reads the file. */
void etc_hosts_clear(EtcHosts *h);
