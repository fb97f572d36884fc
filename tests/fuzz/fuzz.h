/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the fuzz targets in tests/fuzz/ share (fuzz-driver.c): the libFuzzer entry points,
 * a private temporary directory, quiet daemon logs, and the replay driver that runs a
 * corpus without libFuzzer for "make check". Must not know any target's input format.
 *
 * Every target defines fuzz_name (its corpus is tests/fuzz/corpus/<fuzz_name>/) and
 * LLVMFuzzerTestOneInput(); LLVMFuzzerInitialize() is defined here and calls the target's
 * fuzz_setup(). A target that cannot run here (fuzz-handlers without root) sets
 * fuzz_skip_reason in fuzz_setup(): the replay then exits 77 (skipped) instead of passing.
 */

#include <stddef.h>
#include <stdint.h>

extern const char fuzz_name[];
extern const char *fuzz_skip_reason;

/* The target's one-time setup, called before the first input. */
void fuzz_setup(void);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory of our own, made on first use (in /dev/shm when possible, so that fsync()
 * costs nothing) and removed with its contents at exit. Never NULL: aborts on failure. */
const char *fuzz_tmpdir(void);
/* Writes data to path (created 0600 or truncated); aborts on failure: a fuzz target with a
 * broken setup must not pass. */
void fuzz_write_file(const char *path, const void *data, size_t size);
/* snprintf() into buf that aborts on truncation: a cut path would name another file. */
void fuzz_format(char *buf, size_t len, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* Removes everything inside dir, recursively, keeping dir. */
void fuzz_empty_dir(const char *dir);

/* Aborts with a message: an invariant broken by an input, which libFuzzer saves. */
_Noreturn void fuzz_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
#define fuzz_assert(expr)                                                                  \
        do {                                                                               \
                if (!(expr))                                                               \
                        fuzz_fail("%s:%d: assertion failed: %s", __FILE__, __LINE__, #expr); \
        } while (0)
