/* SPDX-License-Identifier: MIT */

/* The one place EAI_* codes become names (netutil_gai_name()). */

#include <netdb.h>
#include <stddef.h>

#include "client.h"

_public_ const char *netutil_gai_name(int code) {
        static const struct {
                int code;
                const char *name;
        } table[] = {
                { EAI_BADFLAGS, "EAI_BADFLAGS" }, { EAI_NONAME, "EAI_NONAME" },
                { EAI_AGAIN, "EAI_AGAIN" },       { EAI_FAIL, "EAI_FAIL" },
                { EAI_FAMILY, "EAI_FAMILY" },     { EAI_SOCKTYPE, "EAI_SOCKTYPE" },
                { EAI_SERVICE, "EAI_SERVICE" },   { EAI_MEMORY, "EAI_MEMORY" },
                { EAI_SYSTEM, "EAI_SYSTEM" },     { EAI_OVERFLOW, "EAI_OVERFLOW" },
                { EAI_NODATA, "EAI_NODATA" },     { EAI_ADDRFAMILY, "EAI_ADDRFAMILY" },
                { EAI_INPROGRESS, "EAI_INPROGRESS" }, { EAI_CANCELED, "EAI_CANCELED" },
                { EAI_NOTCANCELED, "EAI_NOTCANCELED" }, { EAI_ALLDONE, "EAI_ALLDONE" },
                { EAI_INTR, "EAI_INTR" },         { EAI_IDN_ENCODE, "EAI_IDN_ENCODE" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].code == code)
                        return table[i].name;
        return NULL;
}
