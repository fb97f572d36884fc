/* SPDX-License-Identifier: MIT */

/*
 * The fuzz targets' shared part (fuzz.h): temporary directory, failure reports, and the
 * driver. With libFuzzer (FUZZ_LIBFUZZER, --enable-fuzzing) libFuzzer's main runs and
 * this file only turns an argument-less run ("make check") into a replay of the target's
 * corpus. Without it, main() below replays the corpus (or the files and directories given)
 * through LLVMFuzzerTestOneInput(), one input after the other in one process, as libFuzzer
 * would. Must not interpret inputs: that is each target's business.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_CORPUS_ROOT
#error "FUZZ_CORPUS_ROOT must name tests/fuzz/corpus in the source tree"
#endif

/* Largest input the replay reads: libFuzzer's inputs are 4 KiB by default (-max_len); a
 * corpus file much larger than a datagram (64 KiB) or a config file (1 MiB) means nothing. */
#define FUZZ_MAX_INPUT (1024u * 1024u)
/* Wall-clock limit for one input in a replay: the slowest (a name lookup that must fail in
 * an empty network namespace) takes milliseconds; SIGALRM's default action fails the test. */
#define FUZZ_INPUT_TIMEOUT_SEC 30u

const char *fuzz_skip_reason = NULL;
static char tmpdir[PATH_MAX];

_Noreturn void fuzz_fail(const char *format, ...) {
        va_list ap;

        fprintf(stderr, "fuzz-%s: ", fuzz_name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        abort();
}

void fuzz_format(char *buf, size_t len, const char *format, ...) {
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(buf, len, format, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= len)
                fuzz_fail("'%s...' does not fit in %zu bytes", buf, len);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (ftw->level == 0)
                return 0; /* the directory itself: fuzz_empty_dir() keeps it */
        if (remove(path) < 0 && errno != ENOENT)
                fuzz_fail("cannot remove '%s': %s", path, strerror(errno));
        return 0;
}

void fuzz_empty_dir(const char *dir) {
        /* Depth first and without following symlinks: only what is inside dir goes. */
        if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                fuzz_fail("cannot empty '%s': %s", dir, strerror(errno));
}

static void tmpdir_remove(void) {
        if (tmpdir[0]) {
                fuzz_empty_dir(tmpdir);
                (void) rmdir(tmpdir);
        }
}

const char *fuzz_tmpdir(void) {
        const char *base = getenv("TMPDIR");

        if (tmpdir[0])
                return tmpdir;
        if (!base && access("/dev/shm", W_OK) == 0)
                base = "/dev/shm";
        snprintf(tmpdir, sizeof(tmpdir), "%s/netutil-fuzz-%s.XXXXXX", base ?: "/tmp", fuzz_name);
        if (!mkdtemp(tmpdir))
                fuzz_fail("mkdtemp(%s): %s", tmpdir, strerror(errno));
        atexit(tmpdir_remove);
        return tmpdir;
}

void fuzz_write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        const char *p = data;

        if (fd < 0)
                fuzz_fail("open(%s): %s", path, strerror(errno));
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        fuzz_fail("write(%s): %s", path, strerror(errno));
                p += n;
                size -= (size_t) n;
        }
        if (close(fd) < 0)
                fuzz_fail("close(%s): %s", path, strerror(errno));
}

static const char *corpus_dir(void) {
        static char dir[PATH_MAX];

        snprintf(dir, sizeof(dir), "%s/%s", FUZZ_CORPUS_ROOT, fuzz_name);
        return dir;
}

#ifdef FUZZ_LIBFUZZER

/* libFuzzer reads argv after this returns: a run without arguments (make check) becomes
 * "-runs=0 CORPUS", which executes every corpus file once and exits. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static char *replay_argv[4];

        if (*argc == 1) {
                replay_argv[0] = (*argv)[0];
                replay_argv[1] = (char *) "-runs=0";
                replay_argv[2] = (char *) corpus_dir();
                replay_argv[3] = NULL;
                *argc = 3;
                *argv = replay_argv;
        }
        fuzz_setup();
        if (fuzz_skip_reason)
                fuzz_fail("cannot run here: %s", fuzz_skip_reason);
        return 0;
}

#else /* the replay driver */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_setup();
        return 0;
}

static void replay_file(const char *path, size_t *count) {
        struct stat st;
        uint8_t *buf;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                fuzz_fail("cannot read '%s': %s", path, strerror(errno));
        if (st.st_size > (off_t) FUZZ_MAX_INPUT)
                fuzz_fail("'%s' is larger than %u bytes: not a corpus file", path, FUZZ_MAX_INPUT);
        /* An exact-size copy, so that ASan sees a read past the input's end. */
        buf = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!buf)
                fuzz_fail("out of memory");
        n = read(fd, buf, (size_t) st.st_size);
        if (n != st.st_size)
                fuzz_fail("short read of '%s'", path);
        close(fd);

        alarm(FUZZ_INPUT_TIMEOUT_SEC);
        (void) LLVMFuzzerTestOneInput(buf, (size_t) n);
        alarm(0);
        free(buf);
        (*count)++;
}

static int skip_dots(const struct dirent *de) {
        return de->d_name[0] != '.';
}

static void replay_path(const char *path, size_t *count) {
        struct dirent **names = NULL;
        struct stat st;
        int n;

        if (stat(path, &st) < 0)
                fuzz_fail("'%s': %s", path, strerror(errno));
        if (!S_ISDIR(st.st_mode)) {
                replay_file(path, count);
                return;
        }
        /* Sorted, so that a failure is the same input on every run. */
        n = scandir(path, &names, skip_dots, alphasort);
        if (n < 0)
                fuzz_fail("scandir(%s): %s", path, strerror(errno));
        for (int i = 0; i < n; i++) {
                char file[PATH_MAX];

                snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
                if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
                        replay_file(file, count);
                free(names[i]);
        }
        free(names);
}

int main(int argc, char **argv) {
        size_t count = 0;

        LLVMFuzzerInitialize(&argc, &argv);
        if (fuzz_skip_reason) {
                printf("fuzz-%s: SKIP: %s\n", fuzz_name, fuzz_skip_reason);
                return 77;
        }
        if (argc < 2)
                replay_path(corpus_dir(), &count);
        for (int i = 1; i < argc; i++)
                replay_path(argv[i], &count);
        /* An empty corpus proves nothing: a replay that ran no input fails. */
        if (count == 0)
                fuzz_fail("no input found in %s", argc < 2 ? corpus_dir() : "the arguments");
        printf("fuzz-%s: %zu input%s replayed without a failure\n", fuzz_name, count, count == 1 ? "" : "s");
        return 0;
}

#endif
