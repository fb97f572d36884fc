/* SPDX-License-Identifier: MIT */

/*
 * GnuTLS error codes to -errno and words (tls.h). The only file of libnetutil that reads a
 * GNUTLS_E_* value or a verification status bit: whatever it does not recognise becomes a
 * generic errno with GnuTLS's own text, never a GnuTLS code. Keeps no state; its only I/O
 * is the alert a fatal session error calls for.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tls.h"

/* A verification status bit and the words for it, in the order messages list them. */
static const struct {
        unsigned bit;
        const char *words;
} verify_reasons[] = {
        {GNUTLS_CERT_SIGNER_NOT_FOUND, "issuer unknown: no trusted CA signed it"},
        {GNUTLS_CERT_SIGNER_NOT_CA, "its issuer is not a CA"},
        {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "its issuer's constraints forbid it"},
        {GNUTLS_CERT_SIGNATURE_FAILURE, "its signature does not verify"},
        {GNUTLS_CERT_INSECURE_ALGORITHM, "it is signed with an insecure algorithm"},
        {GNUTLS_CERT_NOT_ACTIVATED, "it is not yet valid"},
        {GNUTLS_CERT_EXPIRED, "it has expired"},
        {GNUTLS_CERT_REVOKED, "it was revoked"},
        {GNUTLS_CERT_PURPOSE_MISMATCH, "it is not meant for this purpose"},
        {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "it has an unknown critical extension"},
};

int tls_message(char **ret_message, int r, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        if (!ret_message)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        *ret_message = s;
        return r;
}

int tls_error_setup(int code, const char *what, char **ret_message) {
        if (code == GNUTLS_E_MEMORY_ERROR)
                return tls_message(ret_message, -ENOMEM, "%s: out of memory", what);
        return tls_message(ret_message, -EIO, "%s: %s", what, gnutls_strerror(code));
}

int tls_error_load(int code, TlsLoad what, const char *path, const char *certfile, char **ret_message) {
        static const char *const names[] = {
                [TLS_LOAD_CERT] = "certfile",
                [TLS_LOAD_KEY] = "keyfile",
                [TLS_LOAD_KEY_IN_CERT] = "certfile",
                [TLS_LOAD_CA] = "ca_certs",
        };
        const char *name = names[what];

        switch (code) {
        case GNUTLS_E_MEMORY_ERROR:
                return tls_message(ret_message, -ENOMEM, "%s \"%s\": out of memory", name, path);
        case GNUTLS_E_FILE_ERROR:
                /* The file existed and was readable a moment earlier (tls.c checks first). */
                return tls_message(ret_message, -EIO, "%s \"%s\" could not be read", name, path);
        case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
                return tls_message(ret_message, -EINVAL,
                               "the private key in \"%s\" does not match the certificate in \"%s\"", path,
                               certfile);
        case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
                /* What GnuTLS says when it finds no private key block at all. */
                if (what == TLS_LOAD_KEY_IN_CERT)
                        return tls_message(ret_message, -EINVAL,
                                       "certfile \"%s\" holds no private key and no keyfile was given", path);
                if (what == TLS_LOAD_KEY)
                        return tls_message(ret_message, -EBADMSG, "keyfile \"%s\" holds no private key", path);
                break;
        default:
                break;
        }
        return tls_message(ret_message, -EBADMSG, "%s \"%s\" does not parse: %s", name, path,
                       gnutls_strerror(code));
}

int tls_error_priority(int code, const char *priority, const char *err_pos, char **ret_message) {
        size_t offset = 0;

        if (code == GNUTLS_E_MEMORY_ERROR)
                return tls_message(ret_message, -ENOMEM, "priority string \"%s\": out of memory", priority);
        if (code == GNUTLS_E_NO_PRIORITIES_WERE_SET)
                return tls_message(ret_message, -ENOPROTOOPT,
                               "priority string \"%s\" leaves no protocol version or cipher suite", priority);
        /* err_pos points into priority, or is NULL when GnuTLS did not say. */
        if (err_pos && err_pos >= priority && err_pos <= priority + strlen(priority)) {
                offset = (size_t) (err_pos - priority);
                return tls_message(ret_message, -ENOPROTOOPT,
                               "invalid priority string \"%s\" at offset %zu: \"%s\"", priority, offset,
                               err_pos);
        }
        return tls_message(ret_message, -ENOPROTOOPT, "invalid priority string \"%s\": %s", priority,
                       gnutls_strerror(code));
}

/* The words for a failed verification: our own for the reasons people meet, GnuTLS's
 * rendering of the status for anything else. */
static int verify_failure(unsigned status, const char *hostname, char **ret_message) {
        gnutls_datum_t printed = {NULL, 0};
        char *s = NULL, *joined = NULL;
        bool any = false;

        if (!ret_message)
                return -EKEYREJECTED;
        if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
                if (asprintf(&s, "hostname mismatch: the certificate is not valid for \"%s\"",
                             hostname ? hostname : "") < 0)
                        s = NULL;
                any = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(verify_reasons); i++) {
                if (!(status & verify_reasons[i].bit))
                        continue;
                if (asprintf(&joined, "%s%s%s", s ? s : "", s ? "; " : "", verify_reasons[i].words) < 0)
                        joined = NULL;
                free(s);
                s = joined;
                any = true;
        }
        if (!any && gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &printed, 0) >= 0) {
                s = strdup((const char *) printed.data);
                gnutls_free(printed.data);
        }
        (void) tls_message(ret_message, -EKEYREJECTED, "certificate verification failed: %s",
                       s ? s : "the certificate is not trusted");
        free(s);
        return -EKEYREJECTED;
}

/* Tells the peer why we give up (bad_certificate, decode_error, ...), best effort: the
 * GnuTLS session does not do it by itself. Not after the socket failed or the peer left or
 * aborted first, where there is no one to tell. */
static void send_alert(gnutls_session_t session, int code) {
        switch (code) {
        case GNUTLS_E_PUSH_ERROR:
        case GNUTLS_E_PULL_ERROR:
        case GNUTLS_E_PREMATURE_TERMINATION:
        case GNUTLS_E_FATAL_ALERT_RECEIVED:
        case GNUTLS_E_MEMORY_ERROR:
        case GNUTLS_E_INVALID_REQUEST:
                return;
        default:
                (void) gnutls_alert_send_appropriate(session, code);
        }
}

int tls_error_session(gnutls_session_t session, int code, int errno_at_failure, const char *hostname,
                      char **ret_message) {
        if (ret_message)
                *ret_message = NULL;
        if (gnutls_error_is_fatal(code))
                send_alert(session, code);

        switch (code) {
        case GNUTLS_E_AGAIN:
                /* The socket would block only if recv()/send() said so. GnuTLS also returns
                 * AGAIN, with no syscall failing, after it consumed a post-handshake message
                 * (a TLS 1.3 NewSessionTicket), even on a blocking socket: call again, which
                 * reads on or meets the socket's own EAGAIN. tls.c clears errno before each
                 * call, so a zero errno means no syscall failed. */
                return errno_at_failure == 0 ? 1 : -EAGAIN;
        case GNUTLS_E_INTERRUPTED:
                return 1;
        case GNUTLS_E_MEMORY_ERROR:
                return tls_message(ret_message, -ENOMEM, "out of memory");
        case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
                return verify_failure(gnutls_session_get_verify_cert_status(session), hostname, ret_message);
        case GNUTLS_E_CERTIFICATE_ERROR: {
                /* What tls.c's own check of a client certificate failing becomes: verify again
                 * to learn why. */
                unsigned status = 0;

                if (gnutls_certificate_verify_peers3(session, NULL, &status) >= 0 && status != 0)
                        return verify_failure(status, hostname, ret_message);
                break;
        }
        case GNUTLS_E_NO_CERTIFICATE_FOUND:
        case GNUTLS_E_CERTIFICATE_REQUIRED:
                return tls_message(ret_message, -EKEYREJECTED,
                               "the peer sent no certificate, and one is required");
        case GNUTLS_E_FATAL_ALERT_RECEIVED: {
                const char *alert = gnutls_alert_get_name(gnutls_alert_get(session));

                return tls_message(ret_message, -EPROTO, "the peer sent a fatal alert: %s",
                               alert ? alert : "unknown");
        }
        case GNUTLS_E_PREMATURE_TERMINATION:
                return tls_message(ret_message, -ECONNRESET, "the connection ended without a TLS close_notify");
        case GNUTLS_E_PUSH_ERROR:
        case GNUTLS_E_PULL_ERROR:
                /* The socket failed: its errno is the error. EAGAIN and EINTR never get here
                 * (GnuTLS reports them as the codes above). */
                if (errno_at_failure > 0)
                        return tls_message(ret_message, -errno_at_failure, "%s on the socket: %s",
                                       code == GNUTLS_E_PUSH_ERROR ? "sending" : "receiving",
                                       strerror(errno_at_failure));
                return tls_message(ret_message, -EIO, "%s", gnutls_strerror(code));
        case GNUTLS_E_INVALID_REQUEST:
                return tls_message(ret_message, -EINVAL, "%s", gnutls_strerror(code));
        default:
                break;
        }
        /* Warning alerts, renegotiation requests and the like: GnuTLS dealt with them and the
         * call can be made again. */
        if (!gnutls_error_is_fatal(code))
                return 1;
        return tls_message(ret_message, -EPROTO, "%s", gnutls_strerror(code));
}
