/* SPDX-License-Identifier: MIT */

/*
 * The cares resolver backend (resolve-cares.h). Owns the c-ares channels (one current; at
 * reload the old one finishes its lookups, then goes), their sd-event io sources (one per
 * socket c-ares reports through its socket-state callback) and timer (re-armed from
 * ares_timeout() after every processing step), and one table of entries keyed by (name,
 * family), ASCII case ignored as DNS does. An entry is a lookup waiting for a slot
 * (QUEUED), a lookup upstream with the requests that wait for it (RUNNING: identical
 * resolves share it), or an answer kept until its TTL is over (CACHED). Lookups wait and
 * run fairly by uid (fair-queue.h): each waits in the queue of the uid whose resolve made
 * it, the uids take turns for free slots, and one uid's lookups hold at most
 * CARES_MAX_RUNNING_PER_USER of them, until c-ares calls back (also after their requests
 * were answered at their deadline). Requests wait as
 * Waiters, each with its own port; a waiter whose client leaves is freed at once.
 *
 * The lookup is Tornado's shared one, as the other backends do it (reference §5.3):
 * ares_getaddrinfo() with SOCK_STREAM, /etc/hosts first, then DNS, A and AAAA for family
 * any. The file is asked only for names it has (etc-hosts.c knows them without reading it
 * per lookup), on a channel that reads nothing else and so answers inline; its answers are
 * not cached (the file is). DNS is asked on a channel that reads no file. Results come one per address in c-ares's order: RFC 6724 sorted for family any, as
 * glibc does; for one family, the DNS answer's order, as Tornado's CaresResolver gave it
 * (ARES_AI_NOSORT: c-ares's sort costs a socket, connect and close per address, and
 * orders nothing for the usual single answer). Only addresses are kept; the port is put in
 * when a request is answered.
 */

#include <ares.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "etc-hosts.h"
#include "fair-queue.h"
#include "gai.h"
#include "hash.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "resolve-cares.h"

/* Buckets of the entry table (a power of two). Entries are bounded by CARES_CACHE_MAX +
 * CARES_MAX_RUNNING + CARES_MAX_QUEUED, about 27 000: a couple per bucket. */
#define CARES_BUCKETS 16384u
/* Warnings about refused lookups or lost sockets at most this often. */
#define CARES_LOG_INTERVAL_USEC (10ULL * 1000 * 1000)
/* Timer slack: c-ares counts its timeouts in milliseconds. */
#define CARES_TIMER_ACCURACY_USEC 1000ULL

typedef struct Channel Channel;
typedef struct Entry Entry;
typedef struct Waiter Waiter;

/* A socket c-ares asked us to watch: one UDP socket per server, and TCP ones for
 * truncated answers, so a handful per channel and a list is enough. */
typedef struct Watch {
        int fd;
        sd_event_source *source;
        LIST_FIELDS(struct Watch, watches);
} Watch;

struct Channel {
        CaresResolver *resolver;
        ares_channel channel;
        sd_event_source *timer;
        Watch *watches;
        unsigned n_running; /* its lookups not yet called back */
        bool draining;      /* replaced at reload: freed once n_running is 0 */
        LIST_FIELDS(Channel, channels);
};

typedef struct Address {
        socklen_t len;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        };
} Address;

typedef enum EntryState {
        ENTRY_IDLE, /* new, or answered and about to be cached or freed: in no list */
        ENTRY_QUEUED,
        ENTRY_RUNNING,
        ENTRY_CACHED,
} EntryState;

struct Waiter {
        Request *req;
        Entry *entry;
        uint16_t port;
        bool *answered; /* set when answered while cares_resolve() still looks */
        LIST_FIELDS(Waiter, waiters);
};

struct Entry {
        CaresResolver *resolver;
        char *name;
        int family;
        uint64_t hash;
        EntryState state;
        LIST_FIELDS(Entry, bucket);
        LIST_FIELDS(Entry, order); /* in the cache (CACHED), oldest first */
        FairNode node;             /* QUEUED: in the queue; RUNNING: counts for its uid */
        Waiter *waiters;           /* QUEUED and RUNNING; newest first */
        Channel *channel;          /* RUNNING */
        uint64_t expiry_usec;      /* CACHED: CLOCK_MONOTONIC; never served from then on */
        int gai;                   /* CACHED: 0, or the EAI code of a negative answer */
        Address *addresses;        /* CACHED */
        size_t n_addresses;
};

/* Entries in arrival order: head is the oldest. */
typedef struct Fifo {
        Entry *head, *tail;
        unsigned n;
} Fifo;

struct CaresResolver {
        sd_event *event;
        Channel *current;
        Channel *draining;
        Entry **buckets;
        FairQueue queue;
        Fifo cache;
        unsigned n_running;
        bool freeing;
        uint64_t last_log_usec;
        uint64_t n_refused;
        EtcHosts hosts;       /* which names /etc/hosts has */
        ares_channel files;   /* lookups "f": answers those names, inline */
};

/* Rate limit for warnings that a flood of requests could otherwise repeat. */
static bool log_ratelimit(CaresResolver *r) {
        uint64_t now = now_usec();

        if (r->last_log_usec != 0 && now - r->last_log_usec < CARES_LOG_INTERVAL_USEC)
                return false;
        r->last_log_usec = now;
        return true;
}

/* ---- the entry table ----------------------------------------------------------------- */

static char ascii_lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static bool ascii_caseeq(const char *a, const char *b) {
        for (; *a && ascii_lower(*a) == ascii_lower(*b); a++, b++)
                ;
        return ascii_lower(*a) == ascii_lower(*b);
}

/* The keyed hash (hash.h) of the lowered name and the family, so that clients cannot pick
 * names that all land in one bucket. */
static uint64_t key_hash(const CaresResolver *r, const char *name, int family) {
        HashState s;
        int32_t f = family;

        hash_init(&s, hash_process_key());
        for (const char *p = name; *p; p++) {
                char c = ascii_lower(*p);
                hash_add(&s, &c, 1);
        }
        hash_add(&s, &f, sizeof(f));
        return hash_final(&s);
}

static Entry **bucket_of(CaresResolver *r, uint64_t hash) {
        return &r->buckets[hash & (CARES_BUCKETS - 1)];
}

static Entry *entry_find(CaresResolver *r, const char *name, int family, uint64_t hash) {
        for (Entry *e = *bucket_of(r, hash); e; e = e->bucket_next)
                if (e->hash == hash && e->family == family && ascii_caseeq(e->name, name))
                        return e;
        return NULL;
}

static void fifo_push(Fifo *f, Entry *e) {
        e->order_next = NULL;
        e->order_prev = f->tail;
        if (f->tail)
                f->tail->order_next = e;
        else
                f->head = e;
        f->tail = e;
        f->n++;
}

static void fifo_remove(Fifo *f, Entry *e) {
        if (e->order_prev)
                e->order_prev->order_next = e->order_next;
        else
                f->head = e->order_next;
        if (e->order_next)
                e->order_next->order_prev = e->order_prev;
        else
                f->tail = e->order_prev;
        e->order_next = e->order_prev = NULL;
        assert(f->n > 0);
        f->n--;
}

static Entry *entry_new(CaresResolver *r, const char *name, int family, uint64_t hash) {
        Entry *e = calloc(1, sizeof(*e));

        if (!e)
                return NULL;
        e->name = strdup(name);
        if (!e->name) {
                free(e);
                return NULL;
        }
        e->resolver = r;
        e->family = family;
        e->hash = hash;
        e->state = ENTRY_IDLE;
        LIST_PREPEND(bucket, *bucket_of(r, hash), e);
        return e;
}

/* Frees an entry nobody waits for; a running one belongs to c-ares until called back. */
static void entry_free(Entry *e) {
        CaresResolver *r = e->resolver;

        assert(!e->waiters);
        assert(e->state != ENTRY_RUNNING);
        LIST_REMOVE(bucket, *bucket_of(r, e->hash), e);
        if (e->state == ENTRY_QUEUED)
                fair_queue_remove(&r->queue, &e->node);
        else if (e->state == ENTRY_CACHED)
                fifo_remove(&r->cache, e);
        free(e->addresses);
        free(e->name);
        free(e);
}

/* ---- answering ----------------------------------------------------------------------- */

static void answer_gai(Request *req, int gai) {
        (void) request_error_gai(req, gai_to_errno(gai, 0), gai, "%s", gai_strerror(gai));
}

static void answer_addresses(Request *req, const Address *a, size_t n, uint16_t port) {
        _cleanup_(proto_reply_freep) ProtoReply *reply = NULL;
        int r;

        r = proto_reply_new(req->type, req->serial, &reply);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_(proto_msg_freep) ProtoMsg *item = NULL;
                Address x = a[i];
                const void *attrs;
                size_t len;

                if (x.sa.sa_family == AF_INET)
                        x.in.sin_port = htons(port);
                else
                        x.in6.sin6_port = htons(port);
                if ((r = proto_msg_new(0, 0, &item)) < 0 ||
                    (r = proto_msg_append_u32(item, PROTO_ATTR_FAMILY, (uint32_t) x.sa.sa_family)) < 0 ||
                    (r = proto_msg_append(item, PROTO_ATTR_SOCKADDR, &x.sa, x.len)) < 0)
                        break;
                attrs = proto_msg_attrs(item, &len);
                r = proto_reply_add_item(reply, attrs, len, -EBADF);
        }
        if (r < 0) {
                (void) request_error(req, -r, NULL);
                return;
        }
        (void) request_reply(req, TAKE_PTR(reply));
}

static void waiter_cancel(Request *req);
static void waiter_detach(Request *req);

static int waiter_add(Entry *e, Request *req, uint16_t port, bool *answered) {
        Waiter *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        *w = (Waiter) { .req = req, .entry = e, .port = port, .answered = answered };
        LIST_PREPEND(waiters, e->waiters, w);
        req->cancel = waiter_cancel;
        req->detach = waiter_detach;
        req->userdata = w;
        return 0;
}

/* Frees w and unhooks its request, which the caller then answers. */
static Request *waiter_take(Waiter *w) {
        Request *req = w->req;

        LIST_REMOVE(waiters, w->entry->waiters, w);
        req->cancel = NULL;
        req->detach = NULL;
        req->userdata = NULL;
        if (w->answered)
                *w->answered = true;
        free(w);
        return req;
}

/* Answers every waiter of e, in the order they came. */
static void entry_answer_waiters(Entry *e, int gai, const Address *a, size_t n) {
        Waiter *w = e->waiters;

        if (!w)
                return;
        while (w->waiters_next)
                w = w->waiters_next;
        while (w) {
                Waiter *prev = w->waiters_prev;
                uint16_t port = w->port;
                Request *req = waiter_take(w);

                if (gai != 0)
                        answer_gai(req, gai);
                else
                        answer_addresses(req, a, n, port);
                w = prev;
        }
}

/* Request.cancel: the client is gone. The request ends now (into the void); a queued
 * lookup that nobody waits for any more is dropped, a running one finishes and fills the
 * cache (c-ares 1.18 cannot cancel a single lookup). */
static void waiter_cancel(Request *req) {
        waiter_detach(req);
        (void) request_error(req, ECANCELED, NULL);
}

/* Request.detach (its deadline, ResolveTimeoutSec=): the same, answered by the caller. */
static void waiter_detach(Request *req) {
        Waiter *w = req->userdata;
        Entry *e = w->entry;

        (void) waiter_take(w);
        if (e->state == ENTRY_QUEUED && !e->waiters)
                entry_free(e);
}

/* ---- the cache ----------------------------------------------------------------------- */

/* Answers req from a cached entry if it has not expired; drops it if it has. */
static bool cache_answer(Entry *e, Request *req, uint16_t port) {
        if (now_usec() >= e->expiry_usec) {
                entry_free(e);
                return false;
        }
        if (e->gai != 0)
                answer_gai(req, e->gai);
        else
                answer_addresses(req, e->addresses, e->n_addresses, port);
        return true;
}

static void cache_insert(CaresResolver *r, Entry *e, uint64_t expiry_usec, int gai, Address *a, size_t n) {
        uint64_t now = now_usec();

        /* Expired answers at the old end go first, then the oldest while full. */
        while (r->cache.head && (r->cache.n >= CARES_CACHE_MAX || r->cache.head->expiry_usec <= now))
                entry_free(r->cache.head);
        e->state = ENTRY_CACHED;
        e->expiry_usec = expiry_usec;
        e->gai = gai;
        e->addresses = a;
        e->n_addresses = n;
        fifo_push(&r->cache, e);
}

static void cache_flush(CaresResolver *r) {
        while (r->cache.head)
                entry_free(r->cache.head);
}

/* ---- lookups ------------------------------------------------------------------------- */

/* c-ares's status as the EAI_* code getaddrinfo() gives for the same failure. */
static int status_to_gai(int status) {
        switch (status) {
        case ARES_ENOTFOUND:
        case ARES_ENONAME:
        case ARES_EBADNAME:
                return EAI_NONAME;
        case ARES_ENODATA:
                return EAI_NODATA;
        case ARES_EBADFAMILY:
        case ARES_ENOTIMP:
                return EAI_FAMILY;
        case ARES_ENOMEM:
                return EAI_MEMORY;
        case ARES_ETIMEOUT:
        case ARES_ECONNREFUSED:
        case ARES_ESERVFAIL:
        case ARES_EREFUSED:
        case ARES_EOF:
        case ARES_EDESTRUCTION:
        case ARES_ECANCELLED:
                return EAI_AGAIN;
        default: /* EFORMERR, EBADRESP, EFILE, ...: the answer is unusable */
                return EAI_FAIL;
        }
}

/* The addresses of res in its order, and the smallest TTL of its records (addresses and
 * CNAMEs) in *ret_ttl. Returns the count, or -ENOMEM. */
static ssize_t copy_addresses(const struct ares_addrinfo *res, Address **ret, int *ret_ttl) {
        _cleanup_(freep) Address *a = NULL;
        size_t n = 0, k = 0;
        int ttl = INT_MAX;

        for (const struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next)
                n++;
        a = calloc(n > 0 ? n : 1, sizeof(Address));
        if (!a)
                return -ENOMEM;
        for (const struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next) {
                size_t len = ai->ai_family == AF_INET    ? sizeof(struct sockaddr_in)
                             : ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                         : 0;

                if (len == 0 || !ai->ai_addr || ai->ai_addrlen < len)
                        continue;
                memcpy(&a[k].sa, ai->ai_addr, len);
                a[k].len = (socklen_t) len;
                k++;
                ttl = MIN(ttl, ai->ai_ttl);
        }
        for (const struct ares_addrinfo_cname *c = res->cnames; c; c = c->next)
                ttl = MIN(ttl, c->ttl);
        *ret_ttl = ttl;
        *ret = TAKE_PTR(a);
        return (ssize_t) k;
}

/* ares_getaddrinfo()'s callback: answers the waiters, then caches or frees the entry. */
static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
        Entry *e = arg;
        Channel *ch = e->channel;
        CaresResolver *r = e->resolver;
        _cleanup_(freep) Address *a = NULL;
        ssize_t n = 0;
        int ttl = 0, gai = 0;
        bool cache_ok;

        (void) timeouts;
        assert(e->state == ENTRY_RUNNING && ch && ch->n_running > 0 && r->n_running > 0);
        ch->n_running--;
        r->n_running--;
        fair_queue_finish(&r->queue, &e->node);
        e->channel = NULL;
        /* No cache filled by a channel that is going (reload drops the cache), nor while
         * everything is. */
        cache_ok = !r->freeing && !ch->draining;

        if (status == ARES_SUCCESS && res) {
                n = copy_addresses(res, &a, &ttl);
                if (n < 0)
                        gai = EAI_MEMORY;
                else if (n == 0)
                        gai = EAI_NODATA;
        } else
                gai = status_to_gai(status == ARES_SUCCESS ? ARES_ENODATA : status);
        if (res)
                ares_freeaddrinfo(res);

        entry_answer_waiters(e, gai, a, n > 0 ? (size_t) n : 0);

        /* Positive answers for their TTL (hosts-file answers carry none: never kept);
         * NXDOMAIN and NODATA for a fixed short time; failures never. */
        e->state = ENTRY_IDLE;
        if (cache_ok && gai == 0 && ttl > 0 && (size_t) n <= CARES_CACHE_MAX_ADDRESSES)
                cache_insert(r, e, now_usec() + (uint64_t) ttl * 1000000ULL, 0, TAKE_PTR(a), (size_t) n);
        else if (cache_ok && (status == ARES_ENOTFOUND || status == ARES_ENODATA))
                cache_insert(r, e, now_usec() + CARES_NEGATIVE_TTL_USEC, gai, NULL, 0);
        else
                entry_free(e);
}

static struct ares_addrinfo_hints lookup_hints(int family) {
        return (struct ares_addrinfo_hints) { .ai_family = family,
                                              .ai_socktype = SOCK_STREAM,
                                              .ai_flags = family == AF_UNSPEC ? 0 : ARES_AI_NOSORT };
}

static void entry_start(Entry *e) {
        CaresResolver *r = e->resolver;
        Channel *ch = r->current;
        struct ares_addrinfo_hints hints = lookup_hints(e->family);

        e->state = ENTRY_RUNNING;
        e->channel = ch;
        ch->n_running++;
        r->n_running++;
        /* May call lookup_done() before it returns (an error): e is not ours to touch
         * after this. */
        ares_getaddrinfo(ch->channel, e->name, NULL, &hints, lookup_done, e);
}

typedef struct FilesAnswer {
        bool done;
        int status;
        struct ares_addrinfo *res;
} FilesAnswer;

static void files_done(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
        FilesAnswer *a = arg;

        *a = (FilesAnswer) { .done = true, .status = status, .res = res };
}

/* Answers req from /etc/hosts through the files channel, which calls back before
 * ares_getaddrinfo() returns (it has no server to wait for). Returns true if it answered;
 * false if the file no longer has the name (DNS is next, as for getaddrinfo()). */
static bool files_answer(CaresResolver *r, Request *req, const char *host, int family, uint16_t port) {
        struct ares_addrinfo_hints hints = lookup_hints(family);
        FilesAnswer a = {};
        _cleanup_(freep) Address *addresses = NULL;
        ssize_t n;
        int ttl;

        ares_getaddrinfo(r->files, host, NULL, &hints, files_done, &a);
        if (!a.done)
                ares_cancel(r->files); /* never expected; calls back with ARES_ECANCELLED */
        if (a.status != ARES_SUCCESS || !a.res) {
                if (a.res)
                        ares_freeaddrinfo(a.res);
                return false;
        }
        n = copy_addresses(a.res, &addresses, &ttl);
        ares_freeaddrinfo(a.res);
        if (n <= 0)
                answer_gai(req, n < 0 ? EAI_MEMORY : EAI_NODATA);
        else
                answer_addresses(req, addresses, (size_t) n, port);
        return true;
}

/* ---- channels and the event loop ----------------------------------------------------- */

static void channel_arm_timer(Channel *ch) {
        struct timeval tv;

        if (!ares_timeout(ch->channel, NULL, &tv)) {
                (void) sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(ch->timer,
                                                 (uint64_t) tv.tv_sec * 1000000ULL + (uint64_t) tv.tv_usec);
        (void) sd_event_source_set_enabled(ch->timer, SD_EVENT_ONESHOT);
}

/* Starts queued lookups while slots are free. Never called from a c-ares callback, so
 * that starting (which may complete at once) does not nest. */
static void resolver_pump(CaresResolver *r) {
        FairNode *node;

        while (r->n_running < CARES_MAX_RUNNING && !r->freeing && (node = fair_queue_start(&r->queue)))
                entry_start(node->job);
        channel_arm_timer(r->current);
}

static void watch_free(Watch **head, Watch *w) {
        LIST_REMOVE(watches, *head, w);
        sd_event_source_disable_unref(w->source);
        free(w);
}

static Channel *channel_free(Channel *ch) {
        if (!ch)
                return NULL;
        /* Lookups still running are called back with ARES_EDESTRUCTION; sockets are
         * reported closed. */
        if (ch->channel)
                ares_destroy(ch->channel);
        while (ch->watches)
                watch_free(&ch->watches, ch->watches);
        sd_event_source_disable_unref(ch->timer);
        free(ch);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Channel, channel_free);

/* After c-ares processed events or timeouts of ch: a draining channel goes once idle;
 * freed slots start queued lookups. */
static void channel_processed(Channel *ch) {
        CaresResolver *r = ch->resolver;

        if (ch->draining && ch->n_running == 0) {
                LIST_REMOVE(channels, r->draining, ch);
                channel_free(ch);
        } else if (ch->draining)
                channel_arm_timer(ch);
        resolver_pump(r);
}

static int channel_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Channel *ch = userdata;
        bool error = revents & (EPOLLERR | EPOLLHUP);

        /* An error is given to both sides: c-ares finds it on the read or write it tries. */
        ares_process_fd(ch->channel, revents & EPOLLIN || error ? fd : ARES_SOCKET_BAD,
                        revents & EPOLLOUT || error ? fd : ARES_SOCKET_BAD);
        channel_processed(ch);
        return 0;
}

static int channel_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Channel *ch = userdata;

        ares_process_fd(ch->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        channel_processed(ch);
        return 0;
}

/* c-ares's socket-state callback: a socket to watch for reading and/or writing, or (both
 * 0) one it is about to close. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
        Channel *ch = data;
        uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
        Watch *w;
        int r;

        for (w = ch->watches; w; w = w->watches_next)
                if (w->fd == fd)
                        break;
        if (events == 0) {
                if (w)
                        watch_free(&ch->watches, w);
                return;
        }
        if (w) {
                r = sd_event_source_set_io_events(w->source, events);
                if (r < 0 && log_ratelimit(ch->resolver))
                        log_warning_errno(r, "Failed to update a c-ares socket's events: %m");
                return;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                r = -ENOMEM;
                goto fail;
        }
        w->fd = fd;
        r = sd_event_add_io(ch->resolver->event, &w->source, fd, events, channel_io, ch);
        if (r < 0) {
                free(w);
                goto fail;
        }
        LIST_PREPEND(watches, ch->watches, w);
        return;
fail:
        /* Its lookups then end by their timeout. */
        if (log_ratelimit(ch->resolver))
                log_warning_errno(r, "Failed to watch a c-ares socket: %m");
}

/* c-ares 1.18 makes its sockets without close-on-exec. */
static int sock_configure(ares_socket_t fd, int type, void *data) {
        int flags = fcntl(fd, F_GETFD);

        (void) type;
        (void) data;
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return -1;
        return 0;
}

static unsigned count_servers(ares_channel channel) {
        struct ares_addr_node *servers = NULL;
        unsigned n = 0;

        if (ares_get_servers(channel, &servers) != ARES_SUCCESS)
                return 0;
        for (struct ares_addr_node *s = servers; s; s = s->next)
                n++;
        ares_free_data(servers);
        return n;
}

/* The "timeout:N" and "attempts:N" words of an options list, as glibc's resolver reads
 * them: later ones win, values are clamped to glibc's limits. */
static void parse_resolver_options(const char *s, int *timeout_sec, int *tries) {
        while (*s) {
                size_t n;
                long v;

                s += strspn(s, " \t\r\n");
                n = strcspn(s, " \t\r\n");
                if (n > 8 && strncmp(s, "timeout:", 8) == 0) {
                        v = strtol(s + 8, NULL, 10);
                        *timeout_sec = (int) MAX(1, MIN(v, (long) CARES_MAX_TIMEOUT_SEC));
                } else if (n > 9 && strncmp(s, "attempts:", 9) == 0) {
                        v = strtol(s + 9, NULL, 10);
                        *tries = (int) MAX(1, MIN(v, (long) CARES_MAX_TRIES));
                }
                s += n;
        }
}

/* The upstream timeout and tries getaddrinfo() would use (resolve-cares.h). */
static void read_resolver_timeouts(int *ret_timeout_sec, int *ret_tries) {
        int timeout_sec = CARES_DEFAULT_TIMEOUT_SEC, tries = CARES_DEFAULT_TRIES;
        const char *env = secure_getenv("RES_OPTIONS");
        char line[1024]; /* a longer line is cut into pieces, each read as a line */
        FILE *f = fopen("/etc/resolv.conf", "re");

        if (f) {
                while (fgets(line, sizeof(line), f))
                        if (strncmp(line, "options", 7) == 0 && strchr(" \t", line[7]))
                                parse_resolver_options(line + 7, &timeout_sec, &tries);
                fclose(f);
        }
        if (env)
                parse_resolver_options(env, &timeout_sec, &tries);
        *ret_timeout_sec = timeout_sec;
        *ret_tries = tries;
}

/* A channel from /etc/resolv.conf, with the timeout and tries of read_resolver_timeouts(). */
static int channel_new(CaresResolver *r, Channel **ret) {
        _cleanup_(channel_freep) Channel *ch = NULL;
        struct ares_options opts = {};
        int timeout_sec, tries, status, k;
        unsigned n_servers;

        ch = calloc(1, sizeof(*ch));
        if (!ch)
                return -ENOMEM;
        ch->resolver = r;
        read_resolver_timeouts(&timeout_sec, &tries);
        opts.sock_state_cb = sock_state_cb;
        opts.sock_state_cb_data = ch;
        opts.timeout = timeout_sec * 1000;
        opts.tries = tries;
        opts.lookups = (char *) "b"; /* DNS only: cares_resolve() asked /etc/hosts */
        status = ares_init_options(&ch->channel, &opts,
                                   ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
        if (status != ARES_SUCCESS) {
                ch->channel = NULL;
                log_error("Failed to set up c-ares: %s", ares_strerror(status));
                return status == ARES_ENOMEM ? -ENOMEM : -EIO;
        }
        ares_set_socket_configure_callback(ch->channel, sock_configure, NULL);

        /* Made now, disabled: the loop's CLOCK_MONOTONIC timerfd then exists from the start. */
        k = sd_event_add_time(r->event, &ch->timer, CLOCK_MONOTONIC, 0, CARES_TIMER_ACCURACY_USEC,
                              channel_timer, ch);
        if (k < 0)
                return log_error_errno(k, "Failed to add the c-ares timer: %m");
        (void) sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);

        n_servers = count_servers(ch->channel);
        log_info("Resolver cares: %u name server%s from /etc/resolv.conf, %d s timeout, %d attempt%s.",
                 n_servers, n_servers == 1 ? "" : "s", timeout_sec, tries, tries == 1 ? "" : "s");
        *ret = TAKE_PTR(ch);
        return 0;
}

/* ---- the resolver -------------------------------------------------------------------- */

int cares_resolver_new(sd_event *e, CaresResolver **ret) {
        CaresResolver *r;
        int k;

        k = ares_library_init(ARES_LIB_INIT_ALL);
        if (k != ARES_SUCCESS) {
                log_error("Failed to initialize c-ares: %s", ares_strerror(k));
                return -EIO;
        }
        r = calloc(1, sizeof(*r));
        if (!r) {
                ares_library_cleanup();
                return -ENOMEM;
        }
        r->event = sd_event_ref(e);
        fair_queue_init(&r->queue, CARES_MAX_RUNNING_PER_USER);
        r->buckets = calloc(CARES_BUCKETS, sizeof(Entry *));
        if (!r->buckets) {
                cares_resolver_free(r);
                return -ENOMEM;
        }
        k = ares_init_options(&r->files, &(struct ares_options) { .lookups = (char *) "f" }, ARES_OPT_LOOKUPS);
        if (k != ARES_SUCCESS) {
                r->files = NULL;
                log_error("Failed to set up c-ares: %s", ares_strerror(k));
                cares_resolver_free(r);
                return k == ARES_ENOMEM ? -ENOMEM : -EIO;
        }
        k = channel_new(r, &r->current);
        if (k < 0) {
                cares_resolver_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

CaresResolver *cares_resolver_free(CaresResolver *r) {
        if (!r)
                return NULL;
        r->freeing = true;

        /* Waiters of queued lookups, then of running ones (through ARES_EDESTRUCTION). */
        for (FairNode *node; (node = fair_queue_any_waiting(&r->queue));) {
                Entry *e = node->job;

                entry_answer_waiters(e, EAI_AGAIN, NULL, 0);
                entry_free(e);
        }
        r->current = channel_free(r->current);
        while (r->draining) {
                Channel *ch = r->draining;

                LIST_REMOVE(channels, r->draining, ch);
                channel_free(ch);
        }
        assert(r->n_running == 0);
        if (r->buckets)
                cache_flush(r);
        free(r->buckets);
        etc_hosts_clear(&r->hosts);
        if (r->files)
                ares_destroy(r->files);
        fair_queue_done(&r->queue);
        sd_event_unref(r->event);
        free(r);
        ares_library_cleanup();
        return NULL;
}

int cares_resolver_reload(CaresResolver *r) {
        Channel *ch = NULL;
        int k;

        k = channel_new(r, &ch);
        if (k < 0)
                return k;
        cache_flush(r);
        etc_hosts_clear(&r->hosts); /* read again at the next lookup */
        if (r->current->n_running == 0)
                channel_free(r->current);
        else {
                r->current->draining = true;
                LIST_PREPEND(channels, r->draining, r->current);
        }
        r->current = ch;
        return 0;
}

/* Starts what may start now, req's lookup perhaps, some of whose errors come at once:
 * *answered (given to waiter_add()) then says that req is answered, and maybe gone. */
static int pump_pending(CaresResolver *r, Request *req, bool *answered) {
        resolver_pump(r);
        if (*answered)
                return 0;
        ((Waiter *) req->userdata)->answered = NULL;
        return REQUEST_PENDING;
}

int cares_resolve(CaresResolver *r, Request *req, uid_t uid, const char *host, int family, uint16_t port) {
        uint64_t hash;
        bool answered = false;
        Entry *e;
        int k;

        /* getaddrinfo()'s answer for "" (Tornado: EAI_NONAME), without asking anyone. */
        if (!*host) {
                answer_gai(req, EAI_NONAME);
                return 0;
        }
        if (etc_hosts_has(&r->hosts, host, family) && files_answer(r, req, host, family, port))
                return 0;
        hash = key_hash(r, host, family);
        e = entry_find(r, host, family, hash);
        if (e && e->state == ENTRY_CACHED) {
                if (cache_answer(e, req, port))
                        return 0;
                e = NULL; /* it had expired, and is gone */
        }
        if (e) {
                /* The same lookup is in flight or queued: wait for its answer. Queued for
                 * another uid, it may move to ours (a uid that queued a name others ask for
                 * behind its own flood would otherwise hold them back) and start now. */
                bool moved = e->state == ENTRY_QUEUED && fair_queue_also_wanted_by(&r->queue, &e->node, uid) > 0;

                k = waiter_add(e, req, port, moved ? &answered : NULL);
                if (k < 0)
                        return k;
                if (!moved)
                        return REQUEST_PENDING;
                return pump_pending(r, req, &answered);
        }

        if (r->n_running >= CARES_MAX_RUNNING && r->queue.n_waiting >= CARES_MAX_QUEUED) {
                r->n_refused++;
                if (log_ratelimit(r))
                        log_warning("Resolver cares: %u lookups in flight and %u queued; refusing new names "
                                    "with EAI_AGAIN (%" PRIu64 " so far).",
                                    r->n_running, r->queue.n_waiting, r->n_refused);
                answer_gai(req, EAI_AGAIN);
                return 0;
        }
        e = entry_new(r, host, family, hash);
        if (!e)
                return -ENOMEM;
        k = fair_queue_push(&r->queue, uid, &e->node, e);
        if (k < 0) {
                entry_free(e);
                return k;
        }
        e->state = ENTRY_QUEUED;
        k = waiter_add(e, req, port, &answered);
        if (k < 0) {
                entry_free(e);
                return k;
        }
        return pump_pending(r, req, &answered);
}
