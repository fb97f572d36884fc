/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The "cares" resolver backend (DESIGN.md §6): c-ares driven by the daemon's sd-event
 * loop, fully asynchronous, thousands of resolves in flight. Owns the c-ares channel and
 * its io and timer sources, a cache of answers keyed by (name, family) that never serves
 * an answer past its DNS TTL, the coalescing of identical lookups in flight, and the cap
 * on lookups in flight upstream with its bounded queue. Must not see overrides or IP
 * literals (resolve.c answers and substitutes those first) and must not block: the only
 * file I/O is reading /etc/hosts when it changed (etc-hosts.c), and /etc/resolv.conf at
 * (re)load.
 */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "manager.h"

typedef struct CaresResolver CaresResolver;

/* Lookups (ares_getaddrinfo calls, each one or two DNS queries) in flight upstream at
 * once. c-ares 1.18 scans every query it holds on each ares_timeout() and answer, so its
 * cost grows with the count; a flood of unique names must not make the daemon flood its
 * upstream either. 1000 is far beyond a normal workload (identical names coalesce, and
 * answers come from the cache). */
#define CARES_MAX_RUNNING 1000u
/* Of those, one uid's lookups at most (counted until c-ares calls back, after their
 * requests' deadline too): a uid asking for names that never answer (MaxRequestsPerUser=
 * lets it have 4096 in the daemon) leaves the other half to everyone else. */
#define CARES_MAX_RUNNING_PER_USER (CARES_MAX_RUNNING / 2)
/* Distinct lookups waiting for a slot beyond those, first come first served within a uid,
 * the uids in turn. Past this a resolve fails at once with EAI_AGAIN ("try again"):
 * waiting requests are already bounded per uid (MaxRequestsPerUser=) and by MaxClients,
 * this bounds the unique names. */
#define CARES_MAX_QUEUED 16384u
/* Answers kept in the cache; past this the oldest goes first. About 10 000 × (a name and
 * a few addresses), a few MiB at most. */
#define CARES_CACHE_MAX 10000u
/* Answers with more addresses than this are given to the client but not cached, so that
 * the cache stays bounded in bytes too (a TCP answer may carry thousands). */
#define CARES_CACHE_MAX_ADDRESSES 64u
/* How long "no such name" (NXDOMAIN) and "no address of that family" (NODATA) are kept:
 * c-ares 1.18's ares_getaddrinfo() does not pass on the SOA minimum that is their TTL, so
 * this is short on purpose: it shields the upstream from a flood of misses and makes a
 * new name visible within seconds. */
#define CARES_NEGATIVE_TTL_USEC (5ULL * 1000 * 1000)
/* The upstream timeout, as getaddrinfo() has it: "options timeout:N attempts:N" of
 * /etc/resolv.conf, then $RES_OPTIONS, read here because c-ares 1.18 knows only its own
 * "retrans:" and "retry:" (and takes retrans in milliseconds). Without them, glibc's
 * defaults: 5 s and 2 tries (c-ares's own, 4 tries with the timeout doubling each round,
 * would keep a lookup to a dead upstream for over a minute); above glibc's limits (30 s,
 * 5 tries), those limits. c-ares doubles the timeout after each round over the servers. */
#define CARES_DEFAULT_TIMEOUT_SEC 5
#define CARES_DEFAULT_TRIES 2
#define CARES_MAX_TIMEOUT_SEC 30
#define CARES_MAX_TRIES 5

/* Sets up the c-ares state: a channel from /etc/resolv.conf (name servers, search, ndots
 * as c-ares reads them; timeout and attempts as above) and an empty cache. */
int cares_resolver_new(sd_event *e, CaresResolver **ret);
/* Answers what waits with EAI_AGAIN, then destroys the channels and the cache. */
CaresResolver *cares_resolver_free(CaresResolver *r);
/* On reload: a new channel (resolv.conf read again) for new lookups while the old one
 * finishes its own, and an empty cache. On failure the old channel stays. */
int cares_resolver_reload(CaresResolver *r);

/* Resolves host (a name, not an IP literal) for family (AF_UNSPEC, AF_INET or AF_INET6),
 * a new lookup queued as uid's (whose client asked), and answers req with one item per address, each with port (host order), or with an
 * EAI_* error. Returns 0 if req was answered already, REQUEST_PENDING if the answer comes
 * later. A request whose client leaves stops waiting at once (Request.cancel). */
int cares_resolve(CaresResolver *r, Request *req, uid_t uid, const char *host, int family, uint16_t port);
