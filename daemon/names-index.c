/* SPDX-License-Identifier: MIT */

/*
 * The names index (names-index.h; the format in proto/names-index-format.h). Owns the set of
 * host-only rule names, the files SOCKET_PATH.names and SOCKET_PATH.rules (rules-file.c
 * gives the latter's bytes) and the replies that wait for them. Must not look at rules other
 * than through the hooks (and a rebuild after a lost change), must not fsync (the files live
 * in /run and are rebuilt at every start), and must never leave a file in place that does
 * not show every rule it should: when it cannot write one, it removes it, and its readers
 * then ask the daemon, as they would without it.
 *
 * The set is a sorted array of distinct hashes with a count of host-only rules each (a name
 * may have a rule in several tables). A change only appends its hash to "added" or "removed"
 * (O(1), and nothing to fail in the middle of a table operation but an allocation, which
 * marks the set lost: rebuilt from the tables at the next write). A defer source, enabled by
 * every change, runs once per loop iteration: it sorts the records (radix sort), merges them
 * into the set in one pass, rewrites the index if a name came or went and the rules file if
 * any rule changed, then answers the OVERRIDE_* requests that waited for them. So a client
 * that pipelines changes pays for one write per batch the loop reads (CONN_READ_BATCH), and a
 * rule is in both files before its "set" is acknowledged. Cost at 100 000 names, measured on
 * the 2-CPU development machine (whose /run is ext4, slower to replace a file than tmpfs):
 * about 1 ms for a change that adds or removes a name (merge 0.15 to 0.7 ms, 800 KB written
 * and renamed 0.3 to 0.8 ms); 2.5 ms to build the set at start; 4.5 ms for a SIGHUP that
 * reloads 100 000 drop-in rules; nothing for a change that keeps the set (another rule for a
 * name, a new target). (With that many rules there is no rules file: RULES_FILE_MAX_RULES.)
 * A client that adds 100 000 names one request at a time therefore pays about 100 s in total
 * (like the state file, whose rewrite per rule without expiry costs more): batch, or
 * pipeline.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "names-index-format.h"
#include "rules-file-format.h"
#include "names-index.h"
#include "override.h"
#include "rules-file.h"

/* A failed write is logged at most this often; the file is removed every time. */
#define NAMES_INDEX_ERROR_LOG_INTERVAL_USEC (10 * 1000 * 1000ULL)
/* Below this many records qsort() beats the radix sort's 8 passes over 256 buckets. */
#define NAMES_INDEX_RADIX_MIN 256u
/* mkostemp()'s suffix: ".XXXXXX" after the index's own name. */
#define NAMES_INDEX_TEMP_SUFFIX_LEN 7u

typedef struct HashList {
        uint64_t *v;
        size_t n, alloc;
} HashList;

/* A file the daemon publishes next to its socket for readers outside it, replaced whole. */
typedef struct PublishedFile {
        char *path;
        const char *what; /* for log lines */
        bool on_disk;     /* the file at path is the one we wrote, dev/ino */
        dev_t dev;
        ino_t ino;
        uint64_t last_error_log_usec;
} PublishedFile;

struct NamesIndex {
        PublishedFile file;  /* SOCKET_PATH.names */
        PublishedFile rules; /* SOCKET_PATH.rules (rules-file.c builds its bytes) */

        /* The set: sorted distinct hashes and their host-only rule counts, in parallel. */
        uint64_t *hashes;
        uint32_t *counts;
        size_t n;
        /* Changes not merged yet. */
        HashList added, removed;
        bool lost;  /* a change could not be recorded: rebuild the set from the tables */
        bool stale; /* the file (or its absence) does not show the set */
        bool rules_stale; /* a rule came, went or changed since the rules file was written */
        bool temporaries_checked;

        sd_event_source *defer;
        Request **waiting; /* OVERRIDE_* requests answered after the next write */
        size_t n_waiting, alloc_waiting;
};

static bool host_only(const Override *o) {
        return o->port == OVERRIDE_ANY && o->family == OVERRIDE_ANY;
}

static int hash_list_push(HashList *l, uint64_t h) {
        if (l->n == l->alloc) {
                size_t alloc = l->alloc ? l->alloc * 2 : 64;
                uint64_t *v = reallocarray(l->v, alloc, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->alloc = alloc;
        }
        l->v[l->n++] = h;
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Sorts v[0..n) ascending: LSD radix sort, 8 passes of one byte (O(n): 100 000 hashes in
 * well under a millisecond, where qsort() takes several). */
static int sort_hashes(uint64_t *v, size_t n) {
        _cleanup_(freep) uint64_t *tmp = NULL;
        uint64_t *src = v, *dst;

        if (n < 2)
                return 0; /* nothing to sort; v may be NULL, which qsort() must not get (UBSan) */
        if (n < NAMES_INDEX_RADIX_MIN) {
                qsort(v, n, sizeof(*v), cmp_u64);
                return 0;
        }
        tmp = malloc(n * sizeof(*tmp));
        if (!tmp)
                return -ENOMEM;
        dst = tmp;
        for (unsigned shift = 0; shift < 64; shift += 8) {
                size_t pos[256] = {0}, sum = 0;

                for (size_t i = 0; i < n; i++)
                        pos[(src[i] >> shift) & 0xff]++;
                for (unsigned b = 0; b < 256; b++) {
                        size_t c = pos[b];
                        pos[b] = sum;
                        sum += c;
                }
                for (size_t i = 0; i < n; i++)
                        dst[pos[(src[i] >> shift) & 0xff]++] = src[i];
                uint64_t *t = src;
                src = dst;
                dst = t;
        }
        /* An even number of passes: the result is back in v. */
        return 0;
}

/* Merges the recorded changes into the set. Returns 1 if a name came or went, 0 if not,
 * -ENOMEM (nothing changed), or -EUCLEAN if the records do not add up (a removal of a name
 * the set does not have: rebuild). */
static int apply(NamesIndex *x) {
        _cleanup_(freep) uint64_t *hashes = NULL;
        _cleanup_(freep) uint32_t *counts = NULL;
        const uint64_t *add = x->added.v, *del = x->removed.v;
        size_t i = 0, j = 0, k = 0, n = 0, cap = x->n + x->added.n;
        bool changed = false;
        int r;

        if (x->added.n == 0 && x->removed.n == 0)
                return 0;
        if ((r = sort_hashes(x->added.v, x->added.n)) < 0 ||
            (r = sort_hashes(x->removed.v, x->removed.n)) < 0)
                return r;
        hashes = malloc(MAX(cap, 1u) * sizeof(*hashes));
        counts = malloc(MAX(cap, 1u) * sizeof(*counts));
        if (!hashes || !counts)
                return -ENOMEM;
        while (i < x->n || j < x->added.n || k < x->removed.n) {
                uint64_t v = UINT64_MAX;
                int64_t c = 0;
                bool was = false;

                if (i < x->n)
                        v = x->hashes[i];
                if (j < x->added.n && add[j] < v)
                        v = add[j];
                if (k < x->removed.n && del[k] < v)
                        v = del[k];
                if (i < x->n && x->hashes[i] == v) {
                        c = x->counts[i++];
                        was = true;
                }
                for (; j < x->added.n && add[j] == v; j++)
                        c++;
                for (; k < x->removed.n && del[k] == v; k++)
                        c--;
                if (c < 0 || c > UINT32_MAX)
                        return -EUCLEAN;
                if (c > 0) {
                        hashes[n] = v;
                        counts[n++] = (uint32_t) c;
                }
                if ((c > 0) != was)
                        changed = true;
        }
        free(x->hashes);
        free(x->counts);
        x->hashes = TAKE_PTR(hashes);
        x->counts = TAKE_PTR(counts);
        x->n = n;
        x->added.n = x->removed.n = 0;
        return changed;
}

/* The set again from every table, after a change could not be recorded. */
static int rebuild(Manager *m, NamesIndex *x) {
        int r;

        x->n = 0;
        x->added.n = x->removed.n = 0;
        for (OverrideTable *t = m->override_tables; t; t = t->tables_next)
                for (Override *o = t->rules; o; o = o->rules_next)
                        if (host_only(o) && (r = hash_list_push(&x->added, names_index_hash(o->host))) < 0)
                                return r;
        r = apply(x);
        if (r < 0)
                return r;
        x->lost = false;
        x->stale = true;
        return 0;
}

/* Removes the temporary files a daemon killed between mkostemp() and rename() left next to
 * f: once per file. */
static void remove_stale_temporaries(const PublishedFile *f) {
        _cleanup_(freep) char *dir = strdup(f->path);
        const char *base;
        char *slash;
        size_t len;
        DIR *d;
        struct dirent *de;

        if (!dir)
                return;
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                base = f->path + (slash - dir) + 1;
        } else
                base = f->path;
        len = strlen(base);
        d = opendir(slash ? (*dir ? dir : "/") : ".");
        if (!d)
                return;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, base, len) == 0 && de->d_name[len] == '.' &&
                    strlen(de->d_name) == len + NAMES_INDEX_TEMP_SUFFIX_LEN)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}

/* Replaces f with the bytes of iov[0..n): temporary file, mode 0644, rename. No fsync: /run. */
static int publish(PublishedFile *f, const struct iovec *iov, size_t n) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *tmp = NULL;
        struct stat st;
        int r;

        if (asprintf(&tmp, "%s.XXXXXX", f->path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, NAMES_INDEX_MODE) < 0 ? -errno : 0;
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (iov[i].iov_len > 0)
                        r = write_all(fd, iov[i].iov_base, iov[i].iov_len);
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0 && errno != EINTR)
                r = -errno;
        if (r >= 0 && rename(tmp, f->path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        f->on_disk = true;
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        return 0;
}

/* f cannot show what it should: none at all is right (its readers then ask the daemon).
 * error 0: nothing failed, f is only not to exist (the rules file past its cap). */
static void unpublish(PublishedFile *f, int error) {
        uint64_t now = now_usec();
        int r = unlink(f->path) < 0 && errno != ENOENT ? -errno : 0;

        f->on_disk = false;
        if ((error == 0 && r == 0) ||
            (f->last_error_log_usec != 0 && now - f->last_error_log_usec < NAMES_INDEX_ERROR_LOG_INTERVAL_USEC))
                return;
        f->last_error_log_usec = now;
        if (error != 0)
                log_error_errno(error, "Failed to write the %s '%s', its readers ask the daemon until it can be: %m",
                                f->what, f->path);
        if (r < 0)
                log_error_errno(r, "Failed to remove the stale %s '%s'; it may not show every override: %m",
                                f->what, f->path);
}

/* Replaces the names index with the set. */
static int write_names(NamesIndex *x) {
        char header[NAMES_INDEX_HEADER_SIZE];
        uint64_t count = x->n;

        memcpy(header, NAMES_INDEX_MAGIC, NAMES_INDEX_MAGIC_SIZE);
        memcpy(header + NAMES_INDEX_MAGIC_SIZE, &count, sizeof(count));
        return publish(&x->file, (const struct iovec[]) { { header, sizeof(header) },
                                                          { x->hashes, x->n * sizeof(*x->hashes) } },
                       2);
}

/* Replaces the rules file with every rule, or removes it past RULES_FILE_MAX_RULES. */
static void write_rules(Manager *m, NamesIndex *x) {
        _cleanup_(freep) void *buf = NULL;
        size_t size;
        int r;

        r = rules_file_build(m, &buf, &size);
        if (r == -E2BIG) {
                unpublish(&x->rules, 0);
                x->rules_stale = false;
                return;
        }
        if (r >= 0)
                r = publish(&x->rules, &(struct iovec) { buf, size }, 1);
        if (r < 0) {
                unpublish(&x->rules, r);
                return; /* stays stale: tried again at the next change or flush */
        }
        x->rules_stale = false;
}

static void flush(Manager *m, NamesIndex *x) {
        int r;

        r = x->lost ? rebuild(m, x) : apply(x);
        if (r == -EUCLEAN) {
                log_error("The names index lost count of a name; rebuilding it.");
                r = rebuild(m, x);
        }
        if (r < 0) {
                x->lost = true;
                unpublish(&x->file, r);
        } else if (r > 0)
                x->stale = true;
        /* Not before the daemon serves: another instance may still be serving the socket. */
        if (m->listen_fd < 0)
                return;
        if (!x->temporaries_checked) {
                remove_stale_temporaries(&x->file);
                remove_stale_temporaries(&x->rules);
                x->temporaries_checked = true;
        }
        if (x->stale && !x->lost) {
                r = write_names(x);
                if (r < 0)
                        unpublish(&x->file, r);
                else
                        x->stale = false;
        }
        if (x->rules_stale)
                write_rules(m, x);
}

static void answer_waiting(NamesIndex *x) {
        /* In arrival order; a reply may free its request, never another. */
        for (size_t i = 0; i < x->n_waiting; i++) {
                Request *req = x->waiting[i];
                int r = request_reply_empty(req);

                if (r < 0)
                        (void) request_error(req, r, NULL);
        }
        x->n_waiting = 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        NamesIndex *x = m->names_index;

        /* The first iteration comes after manager_listen(): the file of the start is written
         * here. (Without a listener nothing is written, and nothing waits either.) */
        flush(m, x);
        answer_waiting(x);
        return 0;
}

/* Makes sure on_defer() runs in this loop iteration. Returns 0 or -errno. */
static int schedule(Manager *m, NamesIndex *x) {
        int r;

        if (!x->defer) {
                r = sd_event_add_defer(m->event, &x->defer, on_defer, m);
                if (r < 0)
                        return r;
        }
        return sd_event_source_set_enabled(x->defer, SD_EVENT_ONESHOT);
}

static bool pending(const NamesIndex *x) {
        return x->lost || x->stale || x->rules_stale || x->added.n > 0 || x->removed.n > 0;
}

int names_index_new(Manager *m) {
        NamesIndex *x;

        if (m->names_index || !m->socket_path)
                return 0;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->file.what = "names index";
        x->rules.what = "rules file";
        if (asprintf(&x->file.path, "%s" NAMES_INDEX_SUFFIX, m->socket_path) < 0 ||
            asprintf(&x->rules.path, "%s" RULES_FILE_SUFFIX, m->socket_path) < 0) {
                free(x->file.path);
                free(x);
                return -ENOMEM;
        }
        /* Whatever a previous instance left there is not known to match: both files are
         * replaced at the first write, once this one serves. Not removed before: another
         * instance may still serve the socket (this one then exits), and they are its files. */
        x->stale = x->rules_stale = true;
        m->names_index = x;
        (void) schedule(m, x);
        return 0;
}

static void record(Manager *m, const Override *o, bool added) {
        NamesIndex *x = m->names_index;

        if (!x) /* none: no socket path, or the daemon is exiting */
                return;
        x->rules_stale = true;
        if (host_only(o) && !x->lost &&
            hash_list_push(added ? &x->added : &x->removed, names_index_hash(o->host)) < 0)
                x->lost = true;
        (void) schedule(m, x); /* if even that fails, names_index_reply_empty() writes inline */
}

void names_index_rule_added(Manager *m, const Override *o) {
        record(m, o, true);
}

void names_index_rule_removed(Manager *m, const Override *o) {
        record(m, o, false);
}

void names_index_rule_changed(Manager *m) {
        NamesIndex *x = m->names_index;

        if (!x)
                return;
        x->rules_stale = true;
        (void) schedule(m, x);
}

int names_index_reply_empty(Request *req) {
        Manager *m = req->manager;
        NamesIndex *x = m->names_index;

        if (x && pending(x) && m->listen_fd >= 0) {
                if (x->n_waiting == x->alloc_waiting) {
                        size_t alloc = x->alloc_waiting ? x->alloc_waiting * 2 : 16;
                        Request **w = reallocarray(x->waiting, alloc, sizeof(*w));

                        if (w) {
                                x->waiting = w;
                                x->alloc_waiting = alloc;
                        }
                }
                if (x->n_waiting < x->alloc_waiting && schedule(m, x) >= 0) {
                        x->waiting[x->n_waiting++] = req;
                        return REQUEST_PENDING;
                }
                flush(m, x); /* no memory to wait: write now */
        }
        return request_reply_empty(req);
}

void names_index_remove_old(Manager *m) {
        NamesIndex *x = m->names_index;
        PublishedFile *files[] = { x ? &x->file : NULL, x ? &x->rules : NULL };

        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i] && unlink(files[i]->path) < 0 && errno != ENOENT)
                        log_warning_errno(errno, "Failed to remove the old %s '%s': %m", files[i]->what,
                                          files[i]->path);
}

void names_index_flush(Manager *m) {
        NamesIndex *x = m->names_index;

        if (!x)
                return;
        flush(m, x);
        if (x->stale)
                (void) schedule(m, x);
}

void names_index_free(Manager *m) {
        NamesIndex *x = m->names_index;
        struct stat st;

        if (!x)
                return;
        answer_waiting(x); /* their clients are gone by now: the replies are dropped */
        x->defer = sd_event_source_disable_unref(x->defer);
        /* Only the files we wrote: a successor (--takeover) may have written its own. */
        PublishedFile *files[] = { &x->file, &x->rules };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                PublishedFile *f = files[i];

                if (f->on_disk && stat(f->path, &st) >= 0 && st.st_dev == f->dev && st.st_ino == f->ino)
                        (void) unlink(f->path);
                free(f->path);
        }
        free(x->hashes);
        free(x->counts);
        free(x->added.v);
        free(x->removed.v);
        free(x->waiting);
        free(x);
        m->names_index = NULL;
}
