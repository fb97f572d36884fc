/* SPDX-License-Identifier: MIT */

/*
 * The bare SEQPACKET echo server as a program of its own, linked with libc only: the
 * baseline of bench-status's idle-RSS comparison must not carry the benchmark's libraries
 * (libnetutil with GnuTLS, Check), which the daemon does not load either. bench-status
 * runs it when BENCH_ECHO_BIN names it (make bench does).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"

int main(int argc, char *argv[]) {
        int r;

        if (argc != 4 || strcmp(argv[1], "--echo-server") != 0) {
                fprintf(stderr, "Usage: %s --echo-server FD REPLY_PATH\n", argv[0]);
                return EXIT_FAILURE;
        }
        r = bench_echo_serve(atoi(argv[2]), argv[3], -1);
        fprintf(stderr, "bench-echo: %s\n", strerror(-r));
        return EXIT_FAILURE;
}
