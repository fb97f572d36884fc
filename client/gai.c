/* SPDX-License-Identifier: MIT */

/* netutil_gai_name(): the library's face of common/gai.c. */

#include "client.h"
#include "gai.h"

_public_ const char *netutil_gai_name(int code) {
        return gai_name(code);
}
