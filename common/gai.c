/* SPDX-License-Identifier: MIT */

/* EAI_* translation (gai.h). Owns the tables; nothing else may switch on EAI codes. */

#include <errno.h>
#include <netdb.h>
#include <stddef.h>

#include "gai.h"
#include "macro.h"

const char *gai_name(int code) {
        static const struct {
                int code;
                const char *name;
        } table[] = {
                { EAI_BADFLAGS, "EAI_BADFLAGS" },       { EAI_NONAME, "EAI_NONAME" },
                { EAI_AGAIN, "EAI_AGAIN" },             { EAI_FAIL, "EAI_FAIL" },
                { EAI_FAMILY, "EAI_FAMILY" },           { EAI_SOCKTYPE, "EAI_SOCKTYPE" },
                { EAI_SERVICE, "EAI_SERVICE" },         { EAI_MEMORY, "EAI_MEMORY" },
                { EAI_SYSTEM, "EAI_SYSTEM" },           { EAI_OVERFLOW, "EAI_OVERFLOW" },
                { EAI_NODATA, "EAI_NODATA" },           { EAI_ADDRFAMILY, "EAI_ADDRFAMILY" },
                { EAI_INPROGRESS, "EAI_INPROGRESS" },   { EAI_CANCELED, "EAI_CANCELED" },
                { EAI_NOTCANCELED, "EAI_NOTCANCELED" }, { EAI_ALLDONE, "EAI_ALLDONE" },
                { EAI_INTR, "EAI_INTR" },               { EAI_IDN_ENCODE, "EAI_IDN_ENCODE" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].code == code)
                        return table[i].name;
        return NULL;
}

bool gai_is_literal(const char *host) {
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *res = NULL;

        if (!host || !*host || getaddrinfo(host, NULL, &hints, &res) != 0)
                return false;
        freeaddrinfo(res);
        return true;
}

int gai_to_errno(int code, int system_errno) {
        switch (code) {
        case EAI_NONAME:
        case EAI_NODATA:
        case EAI_ADDRFAMILY:
        case EAI_SERVICE:
                return EADDRNOTAVAIL;
        case EAI_AGAIN:
                return EAGAIN;
        case EAI_FAMILY:
                return EAFNOSUPPORT;
        case EAI_SOCKTYPE:
                return ESOCKTNOSUPPORT;
        case EAI_BADFLAGS:
                return EINVAL;
        case EAI_MEMORY:
                return ENOMEM;
        case EAI_SYSTEM:
                return system_errno > 0 ? system_errno : EIO;
        default:
                return EIO;
        }
}
