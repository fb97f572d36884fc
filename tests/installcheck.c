/* SPDX-License-Identifier: MIT */

/* Compiled and run by "make installcheck" against the installed header and library:
 * proves netutil.h stands alone and the versioned symbols resolve. */

#include <errno.h>
#include <netutil.h>
#include <stdio.h>

int main(void) {
        netutil_client *c = NULL;
        int r = netutil_client_open("/nonexistent/netutild.sock", &c);

        if (r != -ENOENT || c) {
                fprintf(stderr, "netutil_client_open: expected -ENOENT, got %d\n", r);
                return 1;
        }
        return 0;
}
