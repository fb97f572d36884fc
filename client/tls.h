/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libnetutil's TLS internals, shared by tls.c (contexts and sessions, netutil.h's "TLS with
 * GnuTLS") and tls-error.c (the one place GnuTLS error codes are read). Not installed; only
 * those two files include it, as it pulls in <gnutls/gnutls.h>.
 *
 * The rule this header exists for: a GnuTLS return value goes straight from the GnuTLS call
 * into one of the tls_error_*() functions below and comes out as -errno plus a message.
 * tls.c never compares a result with a GNUTLS_E_* constant, and nothing outside these two
 * files ever sees one.
 */

#include <gnutls/gnutls.h>

#include "macro.h"
#include "netutil.h"

/* Which file a loading error is about; decides both errno and the words. */
typedef enum TlsLoad {
        TLS_LOAD_CERT,        /* reading or parsing certfile's certificate chain */
        TLS_LOAD_KEY,         /* the private key in keyfile, for certfile's certificate */
        TLS_LOAD_KEY_IN_CERT, /* the private key inside certfile (no keyfile given) */
        TLS_LOAD_CA,          /* the CA bundle ca_certs */
} TlsLoad;

/* Every function below takes a GnuTLS error code (< 0) and returns -errno; the message is
 * written to *ret_message (malloc()ed, the caller's; ret_message may be NULL), and is NULL
 * only when no memory was left for it. */

/* Anything without a more precise mapping (allocations, gnutls_init(), setting credentials
 * and priorities on a session): -ENOMEM for GnuTLS's memory error, -EIO otherwise. what
 * names the step for the message. */
/* *ret_message = the formatted text (NULL if out of memory; nothing if ret_message is
 * NULL); returns r, so that "return tls_message(ret, -EINVAL, ...)" reads well. */
int tls_message(char **ret_message, int r, const char *fmt, ...) _printf_(3, 4);

int tls_error_setup(int code, const char *what, char **ret_message);

/* Loading certfile, keyfile or ca_certs (path: that file; certfile: the certificate a key
 * belongs to, for a mismatch). -EIO when the file could not be read, -EINVAL when the key
 * does not belong to the certificate or (TLS_LOAD_KEY_IN_CERT) certfile holds no key,
 * -EBADMSG for anything that does not parse, -ENOMEM. */
int tls_error_load(int code, TlsLoad what, const char *path, const char *certfile, char **ret_message);

/* A priority string gnutls_priority_init2() refused, with the position it reported
 * (err_pos points into priority, or is NULL): -ENOPROTOOPT, or -ENOMEM. */
int tls_error_priority(int code, const char *priority, const char *err_pos, char **ret_message);

/* Handles a failed gnutls_handshake(), gnutls_record_recv() or gnutls_record_send() on
 * session. errno_at_failure is errno right after that call, which the caller set to 0
 * before it: what the socket said, for transport errors. hostname is the name the peer was
 * verified against, or NULL. A fatal error is reported to the peer with the matching alert
 * first (best effort).
 *
 * Returns 1 when the call should simply be made again (a signal interrupted it, or GnuTLS
 * handled a non-fatal event such as a warning alert or a session ticket), with no message;
 * -EAGAIN (the non-blocking socket would block), with no message; or -errno with a
 * message: -EKEYREJECTED (the peer's certificate did not verify, or it sent none where one
 * is required), -EPROTO (an alert or a protocol error), -ECONNRESET (the connection ended
 * without close_notify), the socket's errno for a transport failure, -ENOMEM, -EINVAL. */
int tls_error_session(gnutls_session_t session, int code, int errno_at_failure, const char *hostname,
                      char **ret_message);
