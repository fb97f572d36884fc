/* SPDX-License-Identifier: MIT */

/*
 * Which names /etc/hosts has (etc-hosts.h), parsed as hosts(5) says and c-ares reads it:
 * an address, then the canonical name and aliases; '#' to the end of a line is a comment.
 * An address c-ares would not take (one with a "%zone") names nothing.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "etc-hosts.h"
#include "macro.h"

#define HAS_INET 1u
#define HAS_INET6 2u

struct HostsName {
        char *name; /* ASCII lowered */
        unsigned families;
};

static void names_free(HostsName *names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i].name);
        free(names);
}

void etc_hosts_clear(EtcHosts *h) {
        names_free(h->names, h->n_names);
        h->names = NULL;
        h->n_names = 0;
        h->seen = h->unknown = false;
        h->checked_usec = 0;
}

static void ascii_lower(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(((const HostsName *) a)->name, ((const HostsName *) b)->name);
}

static unsigned address_family_bit(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET, s, buf) == 1)
                return HAS_INET;
        if (inet_pton(AF_INET6, s, buf) == 1)
                return HAS_INET6;
        return 0;
}

/* Reads f into a new sorted table, one entry per name. Returns 0 or -ENOMEM. */
static int parse(FILE *f, HostsName **ret, size_t *ret_n) {
        HostsName *names = NULL;
        size_t n = 0, allocated = 0, k = 0;
        _cleanup_(freep) char *line = NULL;
        size_t line_size = 0;

        while (getline(&line, &line_size, f) >= 0) {
                char *save = NULL, *tok;
                unsigned bit;

                line[strcspn(line, "#")] = '\0';
                tok = strtok_r(line, " \t\r\n", &save);
                if (!tok || (bit = address_family_bit(tok)) == 0)
                        continue;
                while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
                        if (n == allocated) {
                                size_t a = MAX(allocated * 2, (size_t) 64);
                                HostsName *p = reallocarray(names, a, sizeof(*names));

                                if (!p)
                                        goto oom;
                                names = p;
                                allocated = a;
                        }
                        names[n].name = strdup(tok);
                        if (!names[n].name)
                                goto oom;
                        ascii_lower(names[n].name);
                        names[n].families = bit;
                        n++;
                }
        }
        /* Sorted, then each name once with the union of its families. */
        if (n > 0)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && strcmp(names[k - 1].name, names[i].name) == 0) {
                        names[k - 1].families |= names[i].families;
                        free(names[i].name);
                } else
                        names[k++] = names[i];
        }
        *ret = names;
        *ret_n = k;
        return 0;
oom:
        names_free(names, n);
        return -ENOMEM;
}

/* Reads the file again if it is not the one read last. A file that cannot be opened has no
 * names, as for getaddrinfo(). */
static void refresh(EtcHosts *h) {
        uint64_t now = now_usec();
        HostsName *names = NULL;
        size_t n = 0;
        struct stat st;
        FILE *f;

        if (h->checked_usec != 0 && now - h->checked_usec < ETC_HOSTS_RECHECK_USEC)
                return;
        h->checked_usec = now;

        f = fopen(h->path ?: "/etc/hosts", "re");
        if (!f || fstat(fileno(f), &st) < 0) {
                if (f)
                        fclose(f);
                etc_hosts_clear(h);
                h->checked_usec = now;
                return;
        }
        if (h->seen && st.st_dev == h->dev && st.st_ino == h->ino && st.st_size == h->size &&
            st.st_mtim.tv_sec == h->mtime.tv_sec && st.st_mtim.tv_nsec == h->mtime.tv_nsec) {
                fclose(f);
                return;
        }
        h->unknown = st.st_size > (off_t) ETC_HOSTS_MAX_SIZE || parse(f, &names, &n) < 0;
        fclose(f);
        names_free(h->names, h->n_names);
        h->names = names;
        h->n_names = n;
        /* Unknown: not "seen", so that the next check reads it again. */
        h->seen = !h->unknown;
        h->dev = st.st_dev;
        h->ino = st.st_ino;
        h->size = st.st_size;
        h->mtime = st.st_mtim;
}

bool etc_hosts_has(EtcHosts *h, const char *name, int family) {
        _cleanup_(freep) char *lowered = NULL;
        HostsName key, *found;

        refresh(h);
        if (h->unknown)
                return true;
        if (h->n_names == 0)
                return false;
        lowered = strdup(name);
        if (!lowered)
                return true; /* c-ares reads the file, as it would have anyway */
        ascii_lower(lowered);
        key.name = lowered;
        found = bsearch(&key, h->names, h->n_names, sizeof(*h->names), name_cmp);
        if (!found)
                return false;
        return family == AF_INET    ? (found->families & HAS_INET)
               : family == AF_INET6 ? (found->families & HAS_INET6)
                                    : true;
}
