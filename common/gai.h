/* SPDX-License-Identifier: MIT */
#pragma once

/* The one place EAI_* codes are translated: to their names and to errno values. */

#include <stdbool.h>

/* True if host is an IP address literal: a numeric getaddrinfo(), which never looks
 * anything up and so cannot block. NULL and "" are not literals. */
bool gai_is_literal(const char *host);

/* "EAI_NONAME", or NULL for a code glibc does not define. */
const char *gai_name(int code);

/* The errno that best says what an EAI_* code means, for error replies that carry both:
 * EAI_NONAME/EAI_NODATA/EAI_ADDRFAMILY/EAI_SERVICE → EADDRNOTAVAIL, EAI_AGAIN → EAGAIN,
 * EAI_FAMILY → EAFNOSUPPORT, EAI_SOCKTYPE → ESOCKTNOSUPPORT, EAI_BADFLAGS → EINVAL,
 * EAI_MEMORY → ENOMEM, EAI_SYSTEM → the given errno, anything else → EIO. Positive. */
int gai_to_errno(int code, int system_errno);
