/* SPDX-License-Identifier: MIT */

/*
 * The state file and the drop-in override files (state.h). Owns their formats, the atomic
 * durable write, loading at start and on SIGHUP. Must not check policy, and must not be
 * called per resolve: only when a rule without expiry changes, at start and on reload.
 *
 * State file, STATE_DIR/overrides (0600 in a 0700 directory), written only by us:
 *
 *     netutild-overrides 1                         version line: anything else is refused
 *     # comment lines
 *     global                                       the rules below are the global table's
 *     rule HOST PORT FAMILY TARGET TARGET_PORT SETTER
 *     scope NAME OWNER                             the rules below are scope NAME's
 *     rule ...
 *     end COUNT                                    COUNT rule lines: a cut file is refused
 *
 * Fields are separated by one space. HOST, TARGET and NAME are %-escaped: every byte that
 * is not printable ASCII other than space and '%' is written %XX, so no string (they may
 * hold spaces, '=', '#', newlines, anything but NUL) can split or add a field or a line.
 * PORT and TARGET_PORT are "*" (not part of the key / the asked port is kept) or 0-65535;
 * FAMILY is "*" (not part of the key), "any", "ipv4" or "ipv6"; SETTER and OWNER are uids.
 * Tables and rules are written oldest first, so a reload keeps the listing order.
 *
 * Drop-ins, the files CONFIG_DIR/overrides.d/NAME.conf in lexical order of NAME (CONFIG_DIR:
 * the directory of the config file), written by the administrator:
 *
 *     # comment                                    also after whitespace on a line
 *     HOST TARGET
 *     HOST PORT TARGET TARGET_PORT
 *     HOST PORT FAMILY TARGET TARGET_PORT          FAMILY: ipv4, ipv6 or any
 *     [scope NAME]                                 the rules below go to scope NAME (made
 *     [global]                                     for root if missing), or back to global
 *
 * Each file starts in the global table. Hosts and targets are whitespace-free words there
 * (host names are). A bad line is logged with FILE:LINE and skipped, the rest loads, as
 * systemd does with the drop-ins it parses: one typo must not drop every other rule. Rules
 * under a bad section header are skipped with it, rather than landing in the wrong table.
 * A later rule with the same key replaces an earlier one (a later file wins). A drop-in
 * rule takes its key over from a rule set by a client, which is then gone for good (the
 * state file is rewritten without it), so that what a restart shows never depends on
 * which of the two was saved last.
 */

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "macro.h"
#include "names-index.h"
#include "netutil-proto.h"
#include "override.h"
#include "state.h"

#define STATE_FILE "overrides"
#define STATE_VERSION_LINE "netutild-overrides 1"
#define STATE_VERSION_PREFIX "netutild-overrides "
#define STATE_TEMP_PREFIX ".overrides."
#define DROPIN_DIR "overrides.d"
/* Longest state file line: "rule", two escaped 255-byte strings (3 bytes per byte at
 * worst), ports, family and a uid come to about 1 560 bytes. */
#define STATE_MAX_LINE 4096u
/* A failed save is logged at most this often; each request still gets its error. */
#define SAVE_ERROR_LOG_INTERVAL_USEC (10 * 1000 * 1000ULL)
/* overrides.corrupt-TIMESTAMP names tried before giving up (several corrupt files in one
 * second). */
#define CORRUPT_NAME_TRIES 100

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Creates path and its missing parents (0755 under the daemon's umask), path itself 0700. */
static int mkdir_p(const char *path) {
        int r = mkdir_parents(path);

        if (r < 0)
                return r;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* ---- The directory ------------------------------------------------------------------ */

/* Whether a directory may hold what the daemon trusts (issue 13): only the daemon's uid (or
 * root, whom it trusts anyway: a daemon of another uid then needs root's permission bits) may
 * write in it. NULL if so, else why not, in words (reason has room for it). */
const char *state_untrusted_dir(const struct stat *st, char *reason, size_t len) {
        uid_t me = geteuid();

        if (!S_ISDIR(st->st_mode))
                return snprintf(reason, len, "it is not a directory"), reason;
        if (st->st_uid != me && st->st_uid != 0)
                return snprintf(reason, len, "it is owned by uid %u, not by netutild's uid %u%s", (unsigned) st->st_uid,
                                (unsigned) me, me != 0 ? " or root" : ""),
                       reason;
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return snprintf(reason, len, "its mode %04o lets %s write in it", (unsigned) (st->st_mode & 07777),
                                (st->st_mode & S_IWOTH) ? "every user" : "its group"),
                       reason;
        return NULL;
}

/* Opens the state directory (made first if missing and create) and checks that it is ours
 * (state_untrusted_dir()): the fd in *ret, or -EPERM with the reason in reason (may be
 * NULL), or -errno. */
static int state_dir_open_reason(const char *dir, bool create, int *ret, char *reason, size_t len) {
        _cleanup_(closep) int dfd = -EBADF;
        char buf[160];
        struct stat st;
        int r;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT && create) {
                /* Missing (first start, or removed under us): make it rather than refuse. */
                r = mkdir_p(dir);
                if (r < 0)
                        return r;
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (dfd < 0)
                return -errno;
        if (fstat(dfd, &st) < 0)
                return -errno;
        if (state_untrusted_dir(&st, reason ?: buf, reason ? len : sizeof(buf)))
                return -EPERM;
        *ret = TAKE_FD(dfd);
        return 0;
}

static int state_dir_open(const char *dir, bool create, int *ret) {
        return state_dir_open_reason(dir, create, ret, NULL, 0);
}

/* ---- Encoding ------------------------------------------------------------------------ */

static void put_escaped(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p > ' ' && *p < 0x7f && *p != '%')
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes an escaped field in place; 1 to max bytes, no NUL. */
static int unescape(char *s, size_t max) {
        char *w = s;

        for (char *p = s; *p;) {
                unsigned char c = (unsigned char) *p;
                int hi, lo;

                if (c == '%') {
                        if ((hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
                                return -EBADMSG;
                        c = (unsigned char) (hi << 4 | lo);
                        if (c == 0)
                                return -EBADMSG;
                        p += 3;
                } else if (c <= ' ' || c >= 0x7f)
                        return -EBADMSG;
                else
                        p++;
                *w++ = (char) c;
        }
        *w = '\0';
        return w > s && (size_t) (w - s) <= max ? 0 : -EBADMSG;
}

static const char *port_word(int port, char buf[static 8]) {
        if (port == OVERRIDE_ANY)
                return "*";
        snprintf(buf, 8, "%d", port);
        return buf;
}

static const char *family_word(int family) {
        return family == OVERRIDE_ANY ? "*"
               : family == AF_INET    ? "ipv4"
               : family == AF_INET6   ? "ipv6"
                                      : "any";
}

/* A decimal number in [0, max], nothing else. */
static int parse_number(const char *s, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_port(const char *s, bool star_ok, int *ret) {
        unsigned long v;

        if (star_ok && strcmp(s, "*") == 0) {
                *ret = OVERRIDE_ANY;
                return 0;
        }
        if (parse_number(s, 65535, &v) < 0)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int parse_family(const char *s, bool star_ok, int *ret) {
        if (star_ok && strcmp(s, "*") == 0)
                *ret = OVERRIDE_ANY;
        else if (strcmp(s, "any") == 0)
                *ret = AF_UNSPEC;
        else if (strcmp(s, "ipv4") == 0)
                *ret = AF_INET;
        else if (strcmp(s, "ipv6") == 0)
                *ret = AF_INET6;
        else
                return -EINVAL;
        return 0;
}

/* Splits s at sep into at most max fields; returns the count (max + 1 if there are more). */
static size_t split(char *s, const char *sep, bool merge, char **fields, size_t max) {
        size_t n = 0;

        for (char *p = s; p;) {
                char *f = strsep(&p, sep);

                if (merge && *f == '\0')
                        continue;
                if (n == max)
                        return max + 1;
                fields[n++] = f;
        }
        return n;
}

/* ---- Saving -------------------------------------------------------------------------- */

/*
 * Group commit. A change to a rule without expiry is made in memory and then handed here
 * (state_commit()) with a callback; the reply waits. At the end of the loop iteration (a
 * defer source) the loop copies every saved rule into a snapshot -- fields and bytes, no
 * formatting, about 20 ns a rule -- and hands it to the writer thread, which escapes and
 * formats the text, writes the temporary file, fsync()s it, renames it over the state file
 * and fsync()s the directory. Changes that arrive meanwhile wait for the next write, which
 * starts as soon as this one ends, from a new snapshot: however many changes the clients
 * pipeline, there is one write in flight and one batch waiting, and the loop never waits
 * for the disk. Once a write is durable its changes are acknowledged, in their order. A
 * failed write refuses its changes and every change queued after them (they sit on top of
 * them in memory and would go to the same failing disk), undone newest first, so that
 * memory is again what the state file holds.
 *
 * Cost on the loop per write: the snapshot, O(saved rules) copies (about 2 ms at 100 000
 * rules, 20 µs at one uid's default MaxPersistentRulesPerUser=1000); the formatting (about
 * ten times that) and the two fsync()s run in the thread.
 */

/* One line of the snapshot: a table's header, or one of its rules. Strings are offsets
 * into the snapshot's byte pool, NUL-terminated. */
typedef struct SnapLine {
        bool header;
        uint32_t name;   /* header: the scope's name, SNAP_GLOBAL for the global table */
        uint32_t uid;    /* header: the scope's owner; rule: its setter */
        uint32_t host, target;
        int port, family, target_port;
} SnapLine;

#define SNAP_GLOBAL UINT32_MAX

typedef struct Snapshot {
        SnapLine *lines;
        size_t n_lines, alloc_lines;
        char *pool;
        size_t n_pool, alloc_pool;
        size_t count; /* rule lines */
} Snapshot;

typedef struct StateWriter StateWriter;

struct StateWriter {
        char *dir; /* the state directory, a copy for the thread */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool has_job; /* under lock: the thread owns snap until it clears this */
        bool stopping; /* under lock */
        int result;   /* under lock: the last write's 0 or -errno */
        Snapshot snap;
        int efd; /* the thread's "written", to the loop */
        sd_event_source *efd_source, *defer;

        /* Loop side. */
        bool busy;            /* a write is in flight */
        bool dirty;           /* memory changed since the last snapshot: a write is wanted */
        StateChange **in_flight, **queued;
        size_t n_in_flight, n_queued, alloc_in_flight, alloc_queued;
        uint64_t last_error_log_usec;
};

static bool rule_saved(const Override *o) {
        return o->expires_usec == 0 && !o->source;
}

static int snap_string(Snapshot *s, const char *str, uint32_t *ret) {
        size_t len = strlen(str) + 1;

        if (s->n_pool + len > s->alloc_pool) {
                size_t alloc = MAX(s->alloc_pool * 2, s->n_pool + len + 4096);
                char *p;

                if (alloc >= UINT32_MAX)
                        return -E2BIG;
                p = realloc(s->pool, alloc);
                if (!p)
                        return -ENOMEM;
                s->pool = p;
                s->alloc_pool = alloc;
        }
        memcpy(s->pool + s->n_pool, str, len);
        *ret = (uint32_t) s->n_pool;
        s->n_pool += len;
        return 0;
}

static SnapLine *snap_line(Snapshot *s) {
        if (s->n_lines == s->alloc_lines) {
                size_t alloc = s->alloc_lines ? s->alloc_lines * 2 : 256;
                SnapLine *l = reallocarray(s->lines, alloc, sizeof(*l));

                if (!l)
                        return NULL;
                s->lines = l;
                s->alloc_lines = alloc;
        }
        s->lines[s->n_lines] = (SnapLine) {};
        return &s->lines[s->n_lines++];
}

/* Copies every saved rule of m, in the file's order (tables and rules oldest first), into
 * s (emptied first; its buffers are kept from write to write). */
static int snapshot_take(Manager *m, Snapshot *s) {
        OverrideTable *last_table = m->override_tables;
        int r;

        s->n_lines = s->n_pool = s->count = 0;
        /* Lists are newest first: walk them backwards. */
        while (last_table && last_table->tables_next)
                last_table = last_table->tables_next;
        for (OverrideTable *t = last_table; t; t = t->tables_prev) {
                Override *last = t->rules;
                bool header = false;

                while (last && last->rules_next)
                        last = last->rules_next;
                for (Override *o = last; o; o = o->rules_prev) {
                        SnapLine *l;

                        if (!rule_saved(o))
                                continue;
                        if (!header) {
                                l = snap_line(s);
                                if (!l)
                                        return -ENOMEM;
                                l->header = true;
                                l->uid = (uint32_t) t->owner;
                                l->name = SNAP_GLOBAL;
                                if (t->name && (r = snap_string(s, t->name, &l->name)) < 0)
                                        return r;
                                header = true;
                        }
                        l = snap_line(s);
                        if (!l)
                                return -ENOMEM;
                        *l = (SnapLine) { .uid = (uint32_t) o->setter, .port = o->port, .family = o->family,
                                          .target_port = o->target_port };
                        if ((r = snap_string(s, o->host, &l->host)) < 0 ||
                            (r = snap_string(s, o->target, &l->target)) < 0)
                                return r;
                        s->count++;
                }
        }
        return 0;
}

static void snapshot_done(Snapshot *s) {
        free(s->lines);
        free(s->pool);
        *s = (Snapshot) {};
}

/* The state file's text for snapshot s. Runs in the writer thread: touches nothing else. */
static int state_format(const Snapshot *s, char **ret, size_t *ret_len) {
        _cleanup_(freep) char *buf = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        size_t len = 0;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs(STATE_VERSION_LINE
              "\n# Overrides without expiry, saved by netutild: do not edit while it runs.\n",
              f);
        for (size_t i = 0; i < s->n_lines; i++) {
                const SnapLine *l = &s->lines[i];
                char p[8], tp[8];

                if (l->header) {
                        if (l->name != SNAP_GLOBAL) {
                                fputs("scope ", f);
                                put_escaped(f, s->pool + l->name);
                                fprintf(f, " %u\n", (unsigned) l->uid);
                        } else
                                fputs("global\n", f);
                        continue;
                }
                fputs("rule ", f);
                put_escaped(f, s->pool + l->host);
                fprintf(f, " %s %s ", port_word(l->port, p), family_word(l->family));
                put_escaped(f, s->pool + l->target);
                fprintf(f, " %s %u\n", port_word(l->target_port, tp), (unsigned) l->uid);
        }
        fprintf(f, "end %zu\n", s->count);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f)); /* buf and len are final only now */
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* A new temporary file in dfd, 0600, opened O_EXCL|O_NOFOLLOW: its name in name. */
static int open_temporary(int dfd, char name[static sizeof(STATE_TEMP_PREFIX) + 6]) {
        static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

        for (int i = 0; i < 100; i++) {
                uint8_t rnd[6];
                int fd;

                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -errno;
                memcpy(name, STATE_TEMP_PREFIX, strlen(STATE_TEMP_PREFIX));
                for (size_t k = 0; k < sizeof(rnd); k++)
                        name[strlen(STATE_TEMP_PREFIX) + k] = chars[rnd[k] % (sizeof(chars) - 1)];
                name[strlen(STATE_TEMP_PREFIX) + 6] = '\0';
                fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

/* Replaces dir/STATE_FILE with text: a temporary file in the directory (checked again: it
 * must still be ours), fsync, rename, fsync of the directory. Every name is relative to the
 * directory's fd and never followed: a symlink planted as the state file is replaced, not
 * written through. */
static int write_atomic(const char *dir, const char *text, size_t len) {
        _cleanup_(closep) int dfd = -EBADF, fd = -EBADF;
        char tmp[sizeof(STATE_TEMP_PREFIX) + 6];
        int r;

        r = state_dir_open(dir, true, &dfd);
        if (r < 0)
                return r;
        fd = open_temporary(dfd, tmp);
        if (fd < 0)
                return fd;
        r = write_all(fd, text, len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        /* close() can report a failed write-back (NFS): that too is a failed save. */
        if (r >= 0 && close(TAKE_FD(fd)) < 0 && errno != EINTR)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, STATE_FILE) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        /* Without this the rename may not survive a power cut. If it fails the new file is in
         * place but not known to be durable: the changes are refused (and undone in memory),
         * which is right for their clients, and the next save writes memory again. */
        if (fsync(dfd) < 0)
                return -errno;
        return 0;
}

static int format_and_write(const char *dir, const Snapshot *s) {
        _cleanup_(freep) char *text = NULL;
        size_t len = 0;
        int r;

        r = state_format(s, &text, &len);
        if (r < 0)
                return r;
        return write_atomic(dir, text, len);
}

static void *writer_main(void *arg) {
        StateWriter *w = arg;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                uint64_t one = 1;
                int r;

                while (!w->has_job && !w->stopping)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (!w->has_job)
                        break; /* stopping, nothing left to write */
                pthread_mutex_unlock(&w->lock);

                r = format_and_write(w->dir, &w->snap);

                pthread_mutex_lock(&w->lock);
                w->result = r;
                w->has_job = false;
                (void) write(w->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void log_save_error(Manager *m, int r) {
        StateWriter *w = m->state_writer;
        uint64_t now = now_usec();

        if (w->last_error_log_usec != 0 && now - w->last_error_log_usec < SAVE_ERROR_LOG_INTERVAL_USEC)
                return;
        w->last_error_log_usec = now;
        log_error_errno(r, "Failed to save overrides in '%s/" STATE_FILE "', refusing the change: %m", m->state_dir);
}

static int push_change(StateChange ***v, size_t *n, size_t *alloc, StateChange *c) {
        if (*n == *alloc) {
                size_t a = *alloc ? *alloc * 2 : 16;
                StateChange **p = reallocarray(*v, a, sizeof(*p));

                if (!p)
                        return -ENOMEM;
                *v = p;
                *alloc = a;
        }
        (*v)[(*n)++] = c;
        return 0;
}

/* Ends the changes of a write: acknowledged in order, or (error) refused and undone newest
 * first, the queued ones (on top of them in memory) before them. */
static void finish(Manager *m, int error) {
        StateWriter *w = m->state_writer;
        StateChange **done = TAKE_PTR(w->in_flight);
        size_t n = w->n_in_flight;

        w->n_in_flight = w->alloc_in_flight = 0;
        if (error < 0) {
                StateChange **queued = TAKE_PTR(w->queued);
                size_t nq = w->n_queued;

                /* The file may be the new one (a failed directory fsync): the next write, at
                 * the next change, writes memory again. Not at once: a full disk would have
                 * the writer retry for ever. */
                w->n_queued = w->alloc_queued = 0;
                log_save_error(m, error);
                for (size_t i = nq; i > 0; i--)
                        queued[i - 1]->done(m, queued[i - 1], error);
                for (size_t i = n; i > 0; i--)
                        done[i - 1]->done(m, done[i - 1], error);
                free(queued);
        } else
                for (size_t i = 0; i < n; i++)
                        done[i]->done(m, done[i], 0);
        free(done);
}

/* Starts a write of the tables as they are if one is wanted and none runs. */
static void start_write(Manager *m) {
        StateWriter *w = m->state_writer;
        int r;

        if (w->busy || (!w->dirty && w->n_queued == 0))
                return;
        r = snapshot_take(m, &w->snap);
        if (r < 0) {
                /* Nothing written: the changes are refused as if the write had failed. */
                w->in_flight = TAKE_PTR(w->queued);
                w->n_in_flight = w->n_queued;
                w->alloc_in_flight = w->alloc_queued;
                w->n_queued = w->alloc_queued = 0;
                finish(m, r);
                return;
        }
        free(w->in_flight);
        w->in_flight = TAKE_PTR(w->queued);
        w->n_in_flight = w->n_queued;
        w->alloc_in_flight = w->alloc_queued;
        w->n_queued = w->alloc_queued = 0;
        w->dirty = false;
        w->busy = true;
        pthread_mutex_lock(&w->lock);
        w->has_job = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

static int on_written(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        StateWriter *w = m->state_writer;
        uint64_t v;
        bool done;
        int r;

        (void) read(fd, &v, sizeof(v));
        pthread_mutex_lock(&w->lock);
        done = w->busy && !w->has_job;
        r = w->result;
        pthread_mutex_unlock(&w->lock);
        if (!done)
                return 0;
        w->busy = false;
        finish(m, r);
        /* What came meanwhile: the next write, at once. */
        start_write(m);
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        start_write(userdata);
        return 0;
}

static int schedule(StateWriter *w) {
        return sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

/* Makes m's writer and its thread (idle until the first write). Returns 0 or -errno. */
static int writer_new(Manager *m) {
        StateWriter *w;
        sigset_t all, old;
        int r;

        if (m->state_writer)
                return 0;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->efd = -EBADF;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        m->state_writer = w;
        w->dir = strdup(m->state_dir);
        if (!w->dir)
                return -ENOMEM;
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0)
                return -errno;
        r = sd_event_add_io(m->event, &w->efd_source, w->efd, EPOLLIN, on_written, m);
        if (r < 0)
                return r;
        r = sd_event_add_defer(m->event, &w->defer, on_defer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&w->thread, NULL, writer_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return -r;
        w->thread_started = true;
        return 0;
}

int state_commit(Manager *m, StateChange *c) {
        StateWriter *w = m->state_writer;
        int r;

        if (!w)
                return -ENOENT; /* no state directory */
        r = push_change(&w->queued, &w->n_queued, &w->alloc_queued, c);
        if (r < 0)
                return r;
        if (!w->busy && schedule(w) < 0) {
                /* Cannot wait for the end of the iteration: write now. */
                start_write(m);
        }
        return 0;
}

void state_changed(Manager *m) {
        StateWriter *w = m->state_writer;

        if (!w)
                return;
        w->dirty = true;
        if (!w->busy && schedule(w) < 0)
                start_write(m);
}

int state_save_now(Manager *m) {
        StateWriter *w = m->state_writer;
        int r;

        if (!w)
                return -ENOENT;
        assert(!w->busy);
        r = snapshot_take(m, &w->snap);
        if (r >= 0)
                r = format_and_write(m->state_dir, &w->snap);
        if (r < 0)
                log_save_error(m, r);
        return r;
}

void state_free(Manager *m) {
        StateWriter *w = m->state_writer;

        if (!w)
                return;
        if (w->thread_started) {
                pthread_mutex_lock(&w->lock);
                w->stopping = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
                (void) pthread_join(w->thread, NULL); /* a write under way ends first */
        }
        if (w->busy) {
                w->busy = false;
                finish(m, w->result);
        }
        /* What clients changed last: written now, so that a clean stop keeps it. */
        if (w->dirty || w->n_queued > 0) {
                int r = snapshot_take(m, &w->snap);

                if (r >= 0)
                        r = format_and_write(m->state_dir, &w->snap);
                free(w->in_flight);
                w->in_flight = TAKE_PTR(w->queued);
                w->n_in_flight = w->n_queued;
                w->n_queued = w->alloc_queued = 0;
                finish(m, r);
        }
        w->efd_source = sd_event_source_disable_unref(w->efd_source);
        w->defer = sd_event_source_disable_unref(w->defer);
        safe_close(w->efd);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        snapshot_done(&w->snap);
        free(w->in_flight);
        free(w->queued);
        free(w->dir);
        free(w);
        m->state_writer = NULL;
}

/* ---- Loading the state file ---------------------------------------------------------- */

/* Moves dfd/STATE_FILE (whatever it is: a symlink is moved, not followed) aside to
 * STATE_FILE.corrupt-TIMESTAMP[-N], never over another; the new name in ret_name. */
static int move_aside(int dfd, char *ret_name, size_t len) {
        char stamp[32];
        struct tm tm;
        time_t t = time(NULL);

        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                snprintf(stamp, sizeof(stamp), "%jd", (intmax_t) t);
        for (int i = 0; i < CORRUPT_NAME_TRIES; i++) {
                int n = i == 0 ? snprintf(ret_name, len, STATE_FILE ".corrupt-%s", stamp)
                               : snprintf(ret_name, len, STATE_FILE ".corrupt-%s-%d", stamp, i);

                if (n < 0 || (size_t) n >= len)
                        return -ENAMETOOLONG;
                if (renameat2(dfd, STATE_FILE, dfd, ret_name, RENAME_NOREPLACE) >= 0)
                        return 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Why a state file was refused: line number (0: the file as a whole) and words. */
typedef struct LoadError {
        unsigned line;
        const char *what;
        char owner[96]; /* what, for a file of another owner */
} LoadError;

/* The "table" of the rules of a scope dropped at load (its name is not text). */
#define SKIPPED_TABLE ((OverrideTable *) (uintptr_t) 1)

/* Parses one state-file line into the tables. Returns 0, 1 after "end", -EBADMSG with e
 * filled, or -ENOMEM. */
static int load_line(Manager *m, char *line, OverrideTable **table, size_t *count, LoadError *e) {
        char *f[8];
        size_t n = split(line, " ", false, f, ELEMENTSOF(f));
        unsigned long v;
        int r;

        if (n == 1 && strcmp(f[0], "global") == 0) {
                *table = override_table_find(m, NULL);
                if (!*table)
                        return -ENOMEM;
                return 0;
        }
        if (n == 3 && strcmp(f[0], "scope") == 0) {
                char why[PROTO_MAX_ERROR_MESSAGE];

                if (unescape(f[1], PROTO_MAX_SCOPE - 1) < 0 || parse_number(f[2], UINT32_MAX - 1, &v) < 0)
                        return e->what = "bad scope line", -EBADMSG;
                /* Saved before names had to be text (or with '@'): one scope is dropped, in
                 * words, rather than the whole file refused. Its rules go with it. */
                if (override_scope_name_check(f[1], why, sizeof(why)) < 0) {
                        log_warning("State file, line %u: %s; dropping that scope and its rules.", e->line, why);
                        *table = SKIPPED_TABLE;
                        return 0;
                }
                if (override_table_find(m, f[1]))
                        return e->what = "scope listed twice", -EBADMSG;
                r = override_table_get(m, f[1], (uid_t) v, table);
                if (r == -EDQUOT)
                        return e->what = "more scopes for one uid than the quota", -EBADMSG;
                return r;
        }
        if (n == 7 && strcmp(f[0], "rule") == 0) {
                int port, family, target_port;

                char why[PROTO_MAX_ERROR_MESSAGE];

                if (!*table)
                        return e->what = "rule before any table line", -EBADMSG;
                if (unescape(f[1], PROTO_MAX_HOST) < 0 || parse_port(f[2], true, &port) < 0 ||
                    parse_family(f[3], true, &family) < 0 || unescape(f[4], PROTO_MAX_HOST) < 0 ||
                    parse_port(f[5], true, &target_port) < 0 || parse_number(f[6], UINT32_MAX - 1, &v) < 0)
                        return e->what = "bad rule line", -EBADMSG;
                if (*table == SKIPPED_TABLE) {
                        (*count)++;
                        return 0;
                }
                if (override_text_check("host", f[1], why, sizeof(why)) < 0 ||
                    override_text_check("target", f[4], why, sizeof(why)) < 0) {
                        log_warning("State file, line %u: %s; dropping that rule.", e->line, why);
                        (*count)++;
                        return 0;
                }
                if ((port == OVERRIDE_ANY) != (target_port == OVERRIDE_ANY) ||
                    (family != OVERRIDE_ANY && port == OVERRIDE_ANY))
                        return e->what = "rule with an impossible key", -EBADMSG;
                if (override_find(*table, f[1], port, family))
                        return e->what = "rule listed twice", -EBADMSG;
                r = override_set(m, *table, f[1], port, family, f[4], target_port, 0, (uid_t) v);
                if (r == -EDQUOT)
                        return e->what = "more rules for one uid than the quota", -EBADMSG;
                if (r < 0)
                        return r;
                (*count)++;
                return 0;
        }
        if (n == 2 && strcmp(f[0], "end") == 0) {
                if (parse_number(f[1], SIZE_MAX, &v) < 0 || v != *count)
                        return e->what = "rule count does not match (cut or edited)", -EBADMSG;
                return 1;
        }
        return e->what = "unknown line", -EBADMSG;
}

/* Reads dfd/STATE_FILE into the (empty) tables. -EBADMSG with e filled: corrupt, unknown
 * version, not a regular file of ours (a symlink is not followed). */
static int load_file(Manager *m, int dfd, LoadError *e) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *line = NULL;
        OverrideTable *table = NULL;
        size_t size = 0, count = 0;
        bool ended = false;
        struct stat st;
        ssize_t n;
        int r;

        /* O_NONBLOCK: a FIFO planted there must not block the start. */
        fd = openat(dfd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && errno == ELOOP)
                return e->what = "a symbolic link, not followed", -EBADMSG;
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return e->what = "not a regular file", -EBADMSG;
        if (st.st_uid != geteuid()) {
                snprintf(e->owner, sizeof(e->owner), "owned by uid %u, not by netutild's uid %u",
                         (unsigned) st.st_uid, (unsigned) geteuid());
                return e->what = e->owner, -EBADMSG;
        }
        f = fdopen(fd, "r");
        if (!f)
                return -errno;
        fd = -EBADF; /* the FILE owns it now */

        while ((n = getline(&line, &size, f)) >= 0) {
                e->line++;
                if (n == 0 || line[n - 1] != '\n')
                        return e->what = "last line cut short", -EBADMSG;
                line[--n] = '\0';
                if ((size_t) n > STATE_MAX_LINE || memchr(line, '\0', (size_t) n))
                        return e->what = "line too long or with a NUL byte", -EBADMSG;
                if (e->line == 1) {
                        if (strcmp(line, STATE_VERSION_LINE) == 0)
                                continue;
                        return e->what =
                                       strncmp(line, STATE_VERSION_PREFIX, strlen(STATE_VERSION_PREFIX)) == 0
                                               ? "unknown version"
                                               : "not a netutild state file",
                               -EBADMSG;
                }
                if (line[0] == '#')
                        continue;
                if (ended)
                        return e->what = "text after the end line", -EBADMSG;
                r = load_line(m, line, &table, &count, e);
                if (r < 0)
                        return r;
                ended = r > 0;
        }
        if (ferror(f))
                return -EIO;
        if (e->line == 0)
                return e->what = "empty file", -EBADMSG;
        if (!ended) {
                e->line = 0; /* the file as a whole */
                return e->what = "no end line (cut short)", -EBADMSG;
        }
        return 0;
}

/* Removes temporary files a killed daemon left between creating and renaming them. */
static void remove_stale_temporaries(int dfd) {
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (strncmp(de->d_name, STATE_TEMP_PREFIX, strlen(STATE_TEMP_PREFIX)) == 0 &&
                    strlen(de->d_name) == strlen(STATE_TEMP_PREFIX) + 6)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}

/* Loads STATE_DIR/overrides. Returns 0 (loaded, absent, or moved aside), -EPERM (a state
 * directory that is not the daemon's own: it must not start on it) or -ENOMEM. */
static int load_state_file(Manager *m) {
        _cleanup_(closep) int dfd = -EBADF;
        char path[PATH_MAX], aside[NAME_MAX + 1], reason[160];
        LoadError e = {};
        int r;

        r = state_dir_open_reason(m->state_dir, true, &dfd, reason, sizeof(reason));
        if (r == -EPERM)
                return log_error_errno(r, "Refusing the state directory '%s': %s. Only netutild's own uid may "
                                          "write in it (chown it to uid %u and chmod go-w it, or choose another "
                                          "--state-dir).",
                                       m->state_dir, reason, (unsigned) geteuid());
        if (r < 0) {
                log_error_errno(r, "Failed to create the state directory '%s'; overrides without expiry "
                                   "cannot be saved: %m",
                                m->state_dir);
                return 0;
        }
        remove_stale_temporaries(dfd);
        if ((size_t) snprintf(path, sizeof(path), "%s/" STATE_FILE, m->state_dir) >= sizeof(path)) {
                log_error("State directory path '%s' is too long.", m->state_dir);
                return 0;
        }

        r = load_file(m, dfd, &e);
        if (r == -ENOENT)
                return 0; /* first start */
        if (r == -ENOMEM)
                return log_oom();
        if (r >= 0) {
                unsigned n = override_count_all(m);
                log_info("Loaded %u saved override%s from '%s'.", n, n == 1 ? "" : "s", path);
                return 0;
        }

        /* Whatever was read goes: half a file is not what anyone acknowledged as a whole. */
        override_tables_free(m);
        if (r == -EBADMSG && e.line > 0)
                log_error("State file '%s' is not usable (line %u: %s).", path, e.line, e.what);
        else if (r == -EBADMSG)
                log_error("State file '%s' is not usable (%s).", path, e.what);
        else
                log_error_errno(r, "Failed to read state file '%s': %m", path);
        r = move_aside(dfd, aside, sizeof(aside));
        if (r < 0)
                log_error_errno(r, "Failed to move '%s' aside, it will be replaced by the next save: %m",
                                path);
        else
                log_error("Moved it to '%s/%s'; starting without saved overrides.", m->state_dir, aside);
        return 0;
}

/* ---- Drop-ins ------------------------------------------------------------------------ */

typedef struct DropinLoad {
        Manager *m;
        OverrideTable *table; /* NULL at the start of a file: the global table */
        bool skip_section;    /* under a bad section header */
        unsigned rules;
        unsigned bad;
        bool replaced_saved; /* a saved rule was taken over */
} DropinLoad;

static void dropin_bad(DropinLoad *d, const char *file, unsigned line, const char *what) {
        log_error("%s:%u: %s, ignoring the line.", file, line, what);
        d->bad++;
}

static int dropin_section(DropinLoad *d, char *l, const char *file, unsigned line) {
        char *close = strrchr(l, ']'), *name;
        int r;

        d->skip_section = true;
        if (!close || close[1] != '\0') {
                log_error("%s:%u: bad section header, ignoring it and its rules.", file, line);
                d->bad++;
                return 0;
        }
        *close = '\0';
        name = l + 1;
        while (isspace((unsigned char) *name))
                name++;
        for (char *e = close; e > name && isspace((unsigned char) e[-1]);)
                *--e = '\0';
        if (strcmp(name, "global") == 0) {
                d->table = NULL;
                d->skip_section = false;
                return 0;
        }
        if (strncmp(name, "scope", 5) != 0 || (name[5] != '\0' && !isspace((unsigned char) name[5]))) {
                log_error("%s:%u: unknown section [%s] (expected [scope NAME] or [global]), ignoring it "
                          "and its rules.",
                          file, line, name);
                d->bad++;
                return 0;
        }
        name += 5;
        while (isspace((unsigned char) *name))
                name++;
        if (*name == '\0' || strlen(name) > PROTO_MAX_SCOPE - 1) {
                log_error("%s:%u: a scope name has 1 to %u bytes, ignoring the section and its rules.", file,
                          line, PROTO_MAX_SCOPE - 1);
                d->bad++;
                return 0;
        }
        {
                char why[PROTO_MAX_ERROR_MESSAGE];
                if (override_scope_name_check(name, why, sizeof(why)) < 0) {
                        log_error("%s:%u: %s; ignoring the section and its rules.", file, line, why);
                        d->bad++;
                        return 0;
                }
        }
        /* Made for root if missing; an existing scope keeps its owner. */
        r = override_table_get(d->m, name, 0, &d->table);
        if (r < 0)
                return r;
        d->skip_section = false;
        return 0;
}

static int dropin_rule(DropinLoad *d, char *l, const char *file, unsigned line) {
        char *f[6], source[PATH_MAX + 16];
        size_t n = split(l, " \t\r\v\f", true, f, ELEMENTSOF(f));
        int port = OVERRIDE_ANY, family = OVERRIDE_ANY, target_port = OVERRIDE_ANY, r;
        const char *host = f[0], *target;
        OverrideTable *t = d->table;
        bool again = false; /* the key already came from a drop-in */
        Override *o;

        if (n == 2)
                target = f[1];
        else if (n == 4 || n == 5) {
                if (parse_port(f[1], false, &port) < 0)
                        return dropin_bad(d, file, line, "bad port (0-65535)"), 0;
                if (n == 5 && parse_family(f[2], false, &family) < 0)
                        return dropin_bad(d, file, line, "bad family (ipv4, ipv6 or any)"), 0;
                target = f[n - 2];
                if (parse_port(f[n - 1], false, &target_port) < 0)
                        return dropin_bad(d, file, line, "bad target port (0-65535)"), 0;
        } else
                return dropin_bad(d, file, line,
                                  "expected HOST TARGET, HOST PORT TARGET TARGET_PORT or "
                                  "HOST PORT FAMILY TARGET TARGET_PORT"),
                       0;
        if (strlen(host) > PROTO_MAX_HOST || strlen(target) > PROTO_MAX_HOST)
                return dropin_bad(d, file, line, "host name longer than 255 bytes"), 0;
        {
                char why[PROTO_MAX_ERROR_MESSAGE];
                if (override_text_check("host", host, why, sizeof(why)) < 0 ||
                    override_text_check("target", target, why, sizeof(why)) < 0)
                        return dropin_bad(d, file, line, why), 0;
        }

        if (!t) {
                t = override_table_find(d->m, NULL);
                if (!t)
                        return -ENOMEM;
        }
        snprintf(source, sizeof(source), "%s:%u", file, line);
        o = override_find(t, host, port, family);
        if (o && o->source) {
                log_notice("%s: replaces the override for '%s' from %s.", source, host, o->source);
                again = true;
        } else if (o && o->expires_usec == 0) {
                log_notice("%s: takes the override for '%s' over from the one set by uid %u.", source, host,
                           (unsigned) o->setter);
                d->replaced_saved = true;
        }
        r = override_set(d->m, t, host, port, family, target, target_port, 0, 0);
        if (r < 0)
                return r; /* root has no quota: only -ENOMEM */
        o = override_find(t, host, port, family);
        if (!o)
                return -ENOMEM;
        free(o->source);
        o->source = strdup(source);
        if (!o->source) {
                (void) override_del(d->m, t, host, port, family);
                return -ENOMEM;
        }
        if (!again)
                d->rules++;
        return 0;
}

/* One drop-in file; a file that cannot be read is logged and skipped. */
static int dropin_file(DropinLoad *d, const char *path) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *buf = NULL;
        unsigned lineno = 0;
        struct stat st;
        size_t size = 0;
        ssize_t n;
        int r;

        d->table = NULL;
        d->skip_section = false;
        f = fopen(path, "re");
        if (!f || fstat(fileno(f), &st) < 0) {
                log_error_errno(-errno, "Failed to read '%s', ignoring it: %m", path);
                d->bad++;
                return 0;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > (off_t) CONFIG_MAX_FILE) {
                log_error("'%s' is not a regular file of at most %u bytes, ignoring it.", path,
                          CONFIG_MAX_FILE);
                d->bad++;
                return 0;
        }
        while ((n = getline(&buf, &size, f)) >= 0) {
                char *l, *hash;

                lineno++;
                if (n > 0 && buf[n - 1] == '\n')
                        buf[--n] = '\0';
                if ((size_t) n > CONFIG_MAX_LINE || memchr(buf, '\0', (size_t) n)) {
                        dropin_bad(d, path, lineno, "line too long or with a NUL byte");
                        continue;
                }
                l = buf;
                while (isspace((unsigned char) *l))
                        l++;
                if (*l == '\0' || *l == '#')
                        continue;
                /* Inline comments: "#" after whitespace, as in the config files. */
                for (hash = l + 1; *hash; hash++)
                        if (*hash == '#' && isspace((unsigned char) hash[-1])) {
                                *hash = '\0';
                                break;
                        }
                if (*l == '[') {
                        for (char *e = l + strlen(l); e > l && isspace((unsigned char) e[-1]);)
                                *--e = '\0';
                        r = dropin_section(d, l, path, lineno);
                } else if (d->skip_section)
                        continue;
                else
                        r = dropin_rule(d, l, path, lineno);
                if (r < 0)
                        return r;
        }
        if (ferror(f)) {
                log_error("Failed to read '%s' to its end; the rules before the failure are kept.", path);
                d->bad++;
        }
        return 0;
}

static int filter_conf(const struct dirent *de) {
        size_t n = strlen(de->d_name);
        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

/* Loads CONFIG_DIR/overrides.d/NAME.conf into the tables, on top of what is there. Returns 0
 * or -ENOMEM. */
static int load_dropins(Manager *m, bool reload) {
        _cleanup_(freep) char *dir = NULL;
        struct dirent **names = NULL;
        DropinLoad d = { .m = m };
        const char *slash;
        int n, r = 0;

        if (!m->config_path)
                return 0; /* user mode without --config: no configuration directory */
        slash = strrchr(m->config_path, '/');
        if (!slash)
                r = asprintf(&dir, "./" DROPIN_DIR);
        else
                r = asprintf(&dir, "%.*s/" DROPIN_DIR, (int) (slash - m->config_path), m->config_path);
        if (r < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        r = 0;

        n = scandir(dir, &names, filter_conf, alphasort);
        if (n < 0) {
                if (errno != ENOENT && errno != ENOTDIR)
                        log_error_errno(-errno, "Failed to read '%s', no drop-in overrides: %m", dir);
                return 0;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *path = NULL;

                if (r >= 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                }
                if (r >= 0)
                        r = dropin_file(&d, path);
                free(names[i]);
        }
        free(names);
        /* A section without rules leaves no empty scope behind. */
        for (OverrideTable *t = m->override_tables, *next; t; t = next) {
                next = t->tables_next;
                override_scope_gc(m, t);
        }
        if (r < 0)
                return r;

        log_info("Loaded %u read-only override%s from '%s'%s.", d.rules, d.rules == 1 ? "" : "s", dir,
                 d.bad > 0 ? " (some lines skipped, see above)" : "");
        if (d.replaced_saved) {
                r = reload ? (state_changed(m), 0) : state_save_now(m);
                if (r < 0)
                        log_warning("The state file still holds the overrides drop-ins took over; they stay "
                                    "replaced while the drop-ins exist.");
        }
        return 0;
}

int state_load(Manager *m) {
        int r;

        /* Made first, so that it sees every rule loaded below. */
        if (names_index_new(m) < 0)
                return log_oom();
        if (m->state_dir) {
                r = load_state_file(m);
                if (r < 0)
                        return r;
                r = writer_new(m);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the state file's writer: %m");
        }
        r = load_dropins(m, false);
        if (r < 0)
                return log_oom();
        /* The NSS module's index: now if the daemon serves (a takeover), else at the first
         * loop iteration. */
        names_index_flush(m);
        return 0;
}

void state_reload_dropins(Manager *m) {
        override_remove_read_only(m);
        if (load_dropins(m, true) < 0)
                (void) log_oom();
        names_index_flush(m); /* the drop-ins' names are visible through NSS once READY=1 says so */
        manager_status_changed(m);
}
