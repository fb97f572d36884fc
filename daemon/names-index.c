/* SPDX-License-Identifier: MIT */

/*
 * The names index (names-index.h; the format in proto/names-index-format.h). Owns the set of
 * host-only rule names, the files SOCKET_PATH.names and SOCKET_PATH.rules (rules-file.c
 * keeps the latter's image) and the replies that wait for them. Must not look at rules other
 * than through the hooks (and a walk over the tables when a file is made anew), must not
 * fsync (the files live in /run and are rebuilt at every start), and must never leave a file
 * in place that does not show every rule it should: when it cannot write one, it removes
 * it, and its readers then ask the daemon, as they would without it.
 *
 * The daemon keeps an image of each file. The names index's is its slots (an open-addressing
 * hash set under a random key) with a count of host-only rules per slot beside them (a name
 * may have a rule in several tables); the rules file's is rules-file.c's. A change edits the
 * images at once (O(1), and nothing to fail in the middle of a table operation: an image
 * that cannot take a change is marked broken) and notes the bytes it changed. A defer
 * source, enabled by every change, runs once per loop iteration: it writes each image's
 * changed bytes into its file with pwrite() (the rules file's between an odd and an even
 * seq), or, for a broken image, makes it anew from the tables and replaces the file whole
 * (temporary file, rename()); then it answers the OVERRIDE_* requests that waited. So a rule
 * is in both files before its "set" is acknowledged, and a change costs a few system calls
 * whatever the number of rules. An image breaks when it runs out of room: the names index
 * when half its slots are taken (or a sixteenth of them hold names, when it shrinks), the
 * rules file when its entries or strings run out or half its slots are taken; each is made
 * with room for as many again, so a build of O(n) comes after at least n/2 changes: O(1)
 * per change, amortised (tests/attacks-index.c holds the loop to it).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
/* mkostemp()'s suffix: ".XXXXXX" after the index's own name. */
#define NAMES_INDEX_TEMP_SUFFIX_LEN 7u
/* The fewest slots: 512 bytes, read by the NSS module in one pread(). */
#define NAMES_INDEX_MIN_SLOTS 64u
/* Builds with a new key before giving up on crafted names (each doubles the slots after
 * the second). */
#define NAMES_INDEX_BUILD_TRIES 6

/* A file the daemon publishes next to its socket for readers outside it. */
typedef struct PublishedFile {
        char *path;
        const char *what; /* for log lines */
        int fd;           /* the file at path, which we wrote (dev/ino), for pwrite(); -EBADF: none */
        dev_t dev;
        ino_t ino;
        uint64_t last_error_log_usec;
} PublishedFile;

struct NamesIndex {
        PublishedFile file;  /* SOCKET_PATH.names */
        PublishedFile rules; /* SOCKET_PATH.rules */

        /* The names index's image: header and slots in im.buf, and per slot the number of
         * host-only rules whose host has its value. */
        FileImage im;
        uint64_t key[2];
        uint64_t n_slots, used, live; /* used: not empty (names and removed ones) */
        uint32_t *counts;

        RulesImage ri;
        bool rules_over_cap; /* past RULES_FILE_MAX_RULES: no rules file until half of it */
        bool rules_changed;  /* the rules image changed since the file was written */
        bool temporaries_checked;

        sd_event_source *defer;
        Request **waiting; /* OVERRIDE_* requests answered after the next write */
        size_t n_waiting, alloc_waiting;
};

static bool host_only(const Override *o) {
        return o->port == OVERRIDE_ANY && o->family == OVERRIDE_ANY;
}

static uint64_t *slots_of(NamesIndex *x) {
        return (uint64_t *) (void *) (x->im.buf + NAMES_INDEX_HEADER_SIZE);
}

/* Counts host in (another host-only rule for it): places its value in the first free slot
 * of its probe window if it has none. Returns false if it cannot (no free slot within
 * NAMES_INDEX_MAX_PROBE). */
static bool names_add(NamesIndex *x, const char *host, bool note) {
        uint64_t h = names_index_value(x->key, host), mask = x->n_slots - 1, *slots = slots_of(x);
        uint64_t free_slot = UINT64_MAX;

        for (uint64_t i = 0; i < NAMES_INDEX_MAX_PROBE && i < x->n_slots; i++) {
                uint64_t j = (h + i) & mask;

                if (slots[j] == h) {
                        x->counts[j]++;
                        return true;
                }
                if (slots[j] == NAMES_INDEX_REMOVED && free_slot == UINT64_MAX)
                        free_slot = j;
                if (slots[j] == NAMES_INDEX_EMPTY) {
                        if (free_slot == UINT64_MAX)
                                free_slot = j;
                        break;
                }
        }
        if (free_slot == UINT64_MAX)
                return false;
        if (slots[free_slot] == NAMES_INDEX_EMPTY)
                x->used++;
        slots[free_slot] = h;
        x->counts[free_slot] = 1;
        x->live++;
        if (note)
                file_image_dirty(&x->im, NAMES_INDEX_HEADER_SIZE + free_slot * sizeof(uint64_t), sizeof(uint64_t));
        return true;
}

/* One host-only rule for host fewer: its slot becomes NAMES_INDEX_REMOVED with the last.
 * Returns false if host has no slot (the image lost count). */
static bool names_remove(NamesIndex *x, const char *host) {
        uint64_t h = names_index_value(x->key, host), mask = x->n_slots - 1, *slots = slots_of(x);

        for (uint64_t i = 0; i < NAMES_INDEX_MAX_PROBE && i < x->n_slots; i++) {
                uint64_t j = (h + i) & mask;

                if (slots[j] == h) {
                        if (--x->counts[j] == 0) {
                                slots[j] = NAMES_INDEX_REMOVED;
                                x->live--;
                                file_image_dirty(&x->im, NAMES_INDEX_HEADER_SIZE + j * sizeof(uint64_t),
                                                 sizeof(uint64_t));
                        }
                        return true;
                }
                if (slots[j] == NAMES_INDEX_EMPTY)
                        break;
        }
        return false;
}

/* Whether the names image is to be made anew: half its slots taken, or big and nearly
 * empty. */
static bool names_crowded(const NamesIndex *x) {
        return x->used * 2 > x->n_slots || (x->n_slots > NAMES_INDEX_MIN_SLOTS && x->live * 16 < x->n_slots);
}

static uint64_t pow2_at_least(uint64_t n) {
        uint64_t p = 1;

        while (p < n)
                p <<= 1;
        return p;
}

/* Makes the names image anew from every table: four slots per host-only rule (at least
 * NAMES_INDEX_MIN_SLOTS), a new key. Returns 0, -ENOMEM, or -ELOOP if no key placed every
 * name within NAMES_INDEX_MAX_PROBE. */
static int names_build(Manager *m, NamesIndex *x) {
        uint64_t n = 0, n_slots;

        for (OverrideTable *t = m->override_tables; t; t = t->tables_next)
                for (Override *o = t->rules; o; o = o->rules_next)
                        n += host_only(o);
        n_slots = pow2_at_least(MAX(NAMES_INDEX_MIN_SLOTS, 4 * n));
        for (int attempt = 0; attempt < NAMES_INDEX_BUILD_TRIES; attempt++) {
                uint64_t header[4];
                bool ok = true;

                if (attempt >= 2)
                        n_slots *= 2;
                free(x->im.buf);
                free(x->counts);
                x->im.size = NAMES_INDEX_HEADER_SIZE + n_slots * sizeof(uint64_t);
                x->im.buf = calloc(1, x->im.size);
                x->counts = calloc(n_slots, sizeof(*x->counts));
                if (!x->im.buf || !x->counts)
                        return -ENOMEM;
                x->n_slots = n_slots;
                x->used = x->live = 0;
                published_file_key(x->key);
                memcpy(header, NAMES_INDEX_MAGIC, NAMES_INDEX_MAGIC_SIZE);
                header[1] = x->key[0];
                header[2] = x->key[1];
                header[3] = n_slots;
                memcpy(x->im.buf, header, sizeof(header));
                for (OverrideTable *t = m->override_tables; ok && t; t = t->tables_next)
                        for (Override *o = t->rules; ok && o; o = o->rules_next)
                                if (host_only(o))
                                        ok = names_add(x, o->host, false);
                if (ok) {
                        x->im.n_dirty = 0;
                        x->im.broken = false;
                        return 0;
                }
        }
        return -ELOOP;
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

/* Replaces f with the bytes of im: temporary file, mode 0644, rename; the new file's fd is
 * kept for the changes in place. No fsync: /run. */
static int publish(PublishedFile *f, FileImage *im) {
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
        if (r >= 0)
                r = write_all(fd, im->buf, im->size);
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, f->path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        f->fd = safe_close(f->fd);
        f->fd = TAKE_FD(fd);
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        im->n_dirty = 0;
        return 0;
}

static int pwrite_all(int fd, const char *buf, size_t len, off_t off) {
        while (len > 0) {
                ssize_t n = pwrite(fd, buf, len, off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                buf += n;
                len -= (size_t) n;
                off += n;
        }
        return 0;
}

/* Writes im's changed bytes into f in place; the rules file's between an odd and an even
 * seq (seq: its offset, or SIZE_MAX for none). */
static int patch(PublishedFile *f, FileImage *im, size_t seq) {
        uint64_t v;
        int r;

        if (im->n_dirty == 0)
                return 0;
        file_image_merge_dirty(im);
        if (seq != SIZE_MAX) {
                memcpy(&v, im->buf + seq, sizeof(v));
                v++;
                r = pwrite_all(f->fd, (const char *) &v, sizeof(v), (off_t) seq);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < im->n_dirty; i++) {
                r = pwrite_all(f->fd, im->buf + im->dirty[i].off, im->dirty[i].len, (off_t) im->dirty[i].off);
                if (r < 0)
                        return r;
        }
        if (seq != SIZE_MAX) {
                v++;
                r = pwrite_all(f->fd, (const char *) &v, sizeof(v), (off_t) seq);
                if (r < 0)
                        return r;
                memcpy(im->buf + seq, &v, sizeof(v));
        }
        im->n_dirty = 0;
        return 0;
}

/* f cannot show what it should: none at all is right (its readers then ask the daemon).
 * error 0: nothing failed, f is only not to exist (the rules file past its cap). */
static void unpublish(PublishedFile *f, int error) {
        uint64_t now = now_usec();
        int r = unlink(f->path) < 0 && errno != ENOENT ? -errno : 0;

        f->fd = safe_close(f->fd);
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

/* Brings f up to date with im: in place, or whole when im is broken or f is not on disk,
 * after make() made im anew. Any failure removes f and breaks im (made anew next time). */
static void write_file(Manager *m, NamesIndex *x, PublishedFile *f, FileImage *im, size_t seq,
                       int (*make)(Manager *m, NamesIndex *x)) {
        struct stat st;
        int r;

        /* A file replaced or removed behind our back (by root) is written anew, not patched
         * unseen. */
        if (!im->broken && f->fd >= 0 && (stat(f->path, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino))
                im->broken = true;
        if (!im->broken && f->fd >= 0)
                r = patch(f, im, seq);
        else {
                r = make(m, x);
                if (r >= 0)
                        r = publish(f, im);
        }
        if (r < 0) {
                im->broken = true;
                if (r == -E2BIG) { /* the rules file past its cap: no file, no error */
                        x->rules_over_cap = true;
                        rules_image_free(&x->ri);
                        unpublish(f, 0);
                } else
                        unpublish(f, r);
        }
}

static int make_names(Manager *m, NamesIndex *x) {
        return names_build(m, x);
}

static int make_rules(Manager *m, NamesIndex *x) {
        return rules_file_build(m, &x->ri);
}

static void flush(Manager *m, NamesIndex *x) {
        /* Not before the daemon serves: another instance may still be serving the socket. */
        if (m->listen_fd < 0)
                return;
        if (!x->temporaries_checked) {
                remove_stale_temporaries(&x->file);
                remove_stale_temporaries(&x->rules);
                x->temporaries_checked = true;
        }
        if (!x->im.broken && names_crowded(x))
                x->im.broken = true;
        write_file(m, x, &x->file, &x->im, SIZE_MAX, make_names);

        /* Past the cap the rules file stays away until the rules are down to half of it. */
        if (x->rules_over_cap && m->n_overrides <= RULES_FILE_MAX_RULES / 2)
                x->rules_over_cap = false;
        if (!x->rules_over_cap && m->n_overrides > RULES_FILE_MAX_RULES) {
                x->rules_over_cap = true;
                rules_image_free(&x->ri);
                unpublish(&x->rules, 0);
        }
        if (!x->rules_over_cap && (x->rules_changed || x->ri.im.broken || x->rules.fd < 0))
                write_file(m, x, &x->rules, &x->ri.im, RULES_FILE_SEQ_OFFSET, make_rules);
        x->rules_changed = false;
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

        /* The first iteration comes after manager_listen(): the files of the start are written
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
        return x->im.broken || x->im.n_dirty > 0 || x->file.fd < 0 || x->rules_changed ||
               (!x->rules_over_cap && (x->ri.im.broken || x->rules.fd < 0));
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
        x->file.fd = x->rules.fd = -EBADF;
        if (asprintf(&x->file.path, "%s" NAMES_INDEX_SUFFIX, m->socket_path) < 0 ||
            asprintf(&x->rules.path, "%s" RULES_FILE_SUFFIX, m->socket_path) < 0) {
                free(x->file.path);
                free(x);
                return -ENOMEM;
        }
        /* Whatever a previous instance left there is not known to match: both files are
         * replaced at the first write, once this one serves. Not removed before: another
         * instance may still serve the socket (this one then exits), and they are its files. */
        x->im.broken = x->ri.im.broken = true;
        m->names_index = x;
        (void) schedule(m, x);
        return 0;
}

void names_index_rule_added(Manager *m, const OverrideTable *t, Override *o) {
        NamesIndex *x = m->names_index;

        if (!x) /* none: no socket path, or the daemon is exiting */
                return;
        if (host_only(o) && !x->im.broken && !names_add(x, o->host, true))
                x->im.broken = true;
        if (!x->rules_over_cap)
                rules_file_add(&x->ri, t, o);
        x->rules_changed = true;
        (void) schedule(m, x); /* if even that fails, names_index_reply_empty() writes inline */
}

void names_index_rule_removed(Manager *m, const OverrideTable *t, Override *o) {
        NamesIndex *x = m->names_index;

        if (!x)
                return;
        if (host_only(o) && !x->im.broken && !names_remove(x, o->host)) {
                log_error("The names index lost count of a name; rebuilding it.");
                x->im.broken = true;
        }
        if (!x->rules_over_cap)
                rules_file_remove(&x->ri, o);
        x->rules_changed = true;
        (void) schedule(m, x);
}

void names_index_rule_changed(Manager *m, const OverrideTable *t, Override *o) {
        NamesIndex *x = m->names_index;

        if (!x)
                return;
        if (!x->rules_over_cap) {
                rules_file_remove(&x->ri, o);
                rules_file_add(&x->ri, t, o);
        }
        x->rules_changed = true;
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
        if (pending(x))
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

                if (f->fd >= 0 && stat(f->path, &st) >= 0 && st.st_dev == f->dev && st.st_ino == f->ino)
                        (void) unlink(f->path);
                f->fd = safe_close(f->fd);
                free(f->path);
        }
        file_image_free(&x->im);
        free(x->counts);
        rules_image_free(&x->ri);
        free(x->waiting);
        free(x);
        m->names_index = NULL;
}
