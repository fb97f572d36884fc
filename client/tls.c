/* SPDX-License-Identifier: MIT */

/*
 * TLS with GnuTLS (netutil.h): Tornado's ssl_options_to_context() as
 * netutil_tls_context_new() and ssl_wrap_socket() as netutil_tls_wrap(), plus the few
 * session calls a caller needs on a blocking or non-blocking socket. Owns the GnuTLS
 * credentials, priority cache and sessions; never owns, closes or changes the mode of the
 * caller's socket. Reads no GnuTLS error code itself: each goes to tls-error.c. Never logs.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "tls.h"

/* The priority string used when the options give none (netutil.h). GnuTLS 3.6 and later
 * have no TLS compression at all, so nothing is needed for Tornado's OP_NO_COMPRESSION. */
#define TLS_DEFAULT_PRIORITY "NORMAL"
/* Room for an SNI name: a DNS name is at most 253 characters (RFC 1035), plus the NUL. */
#define TLS_SERVER_NAME_MAX 256

struct netutil_tls_context {
        /* One for the caller, one per session: a session keeps the credentials and the
         * priority cache it points to alive, whatever order things are freed in. Sessions
         * may live in other threads, hence atomic. */
        atomic_uint n_ref;
        bool server_side;
        int cert_reqs; /* resolved: NETUTIL_CERT_NONE, _OPTIONAL or _REQUIRED */
        gnutls_certificate_credentials_t creds;
        gnutls_priority_t priority;
};

struct netutil_tls_session {
        netutil_tls_context *ctx; /* a reference */
        gnutls_session_t session;
        int fd; /* the caller's */
        bool server_side;
        bool handshake_done;
        char *hostname;    /* a copy: GnuTLS keeps the pointer given for verification */
        char *server_name; /* SNI received (servers), after the handshake */
        char *error;       /* the last error in words */
};

static void *mfree(void *p) {
        free(p);
        return NULL;
}


static netutil_tls_context *tls_context_unref(netutil_tls_context *ctx) {
        if (!ctx || atomic_fetch_sub(&ctx->n_ref, 1) > 1)
                return NULL;
        if (ctx->priority)
                gnutls_priority_deinit(ctx->priority);
        if (ctx->creds)
                gnutls_certificate_free_credentials(ctx->creds);
        free(ctx);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_tls_context, tls_context_unref);

/* A file named in the options must exist and be readable before GnuTLS sees it, so that
 * the error is the exact errno and names the file (GnuTLS says only "Error while reading
 * file"). */
static int check_file(const char *what, const char *path, char **ret_error) {
        struct stat st;

        if (stat(path, &st) < 0 && errno == ENOENT)
                return tls_message(ret_error, -ENOENT, "%s \"%s\" does not exist", what, path);
        if (access(path, R_OK) < 0)
                return tls_message(ret_error, negative_errno(), "%s \"%s\": %s", what, path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return tls_message(ret_error, -EISDIR, "%s \"%s\" is a directory", what, path);
        return 0;
}

/* Parses certfile's certificate chain on its own first, so that a file that is not a
 * certificate is told apart from a certificate without its key (GnuTLS's key loader says
 * the same for both). */
static int check_certificate_chain(const char *certfile, char **ret_error) {
        gnutls_datum_t data = {NULL, 0};
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        r = gnutls_load_file(certfile, &data);
        if (r < 0)
                return tls_error_load(r, TLS_LOAD_CERT, certfile, certfile, ret_error);
        r = gnutls_x509_crt_list_import2(&crts, &n, &data, GNUTLS_X509_FMT_PEM, 0);
        gnutls_free(data.data);
        if (r < 0)
                return tls_error_load(r, TLS_LOAD_CERT, certfile, certfile, ret_error);
        for (unsigned i = 0; i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        return 0;
}

/* Loads the certificate chain and its key (from keyfile, or from certfile itself). */
static int load_certificate(const netutil_tls_context *ctx, const char *certfile, const char *keyfile,
                            char **ret_error) {
        int r;

        r = check_certificate_chain(certfile, ret_error);
        if (r < 0)
                return r;
        r = gnutls_certificate_set_x509_key_file2(ctx->creds, certfile, keyfile ? keyfile : certfile,
                                                  GNUTLS_X509_FMT_PEM, NULL, 0);
        if (r < 0)
                return tls_error_load(r, keyfile ? TLS_LOAD_KEY : TLS_LOAD_KEY_IN_CERT,
                                      keyfile ? keyfile : certfile, certfile, ret_error);
        return 0;
}

/* The CA bundle peers are verified against: ca_certs, else (clients that verify) the system
 * store. The system store is best effort: where it is missing or empty, verification
 * fails at the handshake with "issuer unknown", which says more than failing here would;
 * only running out of memory is an error. */
static int load_trust(netutil_tls_context *ctx, const char *ca_certs, char **ret_error) {
        int r;

        if (ca_certs) {
                r = gnutls_certificate_set_x509_trust_file(ctx->creds, ca_certs, GNUTLS_X509_FMT_PEM);
                if (r < 0)
                        return tls_error_load(r, TLS_LOAD_CA, ca_certs, NULL, ret_error);
                /* GnuTLS counts the certificates it found; a file with none is not a bundle. */
                if (r == 0)
                        return tls_message(ret_error, -EBADMSG, "ca_certs \"%s\" holds no certificate", ca_certs);
                return 0;
        }
        if (ctx->server_side || ctx->cert_reqs == NETUTIL_CERT_NONE)
                return 0;
        r = gnutls_certificate_set_x509_system_trust(ctx->creds);
        if (r < 0) {
                r = tls_error_setup(r, "loading the system trust store", ret_error);
                if (r == -ENOMEM)
                        return r;
                if (ret_error)
                        *ret_error = mfree(*ret_error);
        }
        return 0;
}

static int tls_context_build(const netutil_tls_options *o, bool server_side, netutil_tls_context **ret,
                             char **ret_error) {
        _cleanup_(tls_context_unrefp) netutil_tls_context *ctx = NULL;
        const char *priority = o->priority ? o->priority : TLS_DEFAULT_PRIORITY;
        const char *err_pos = NULL;
        int r;

        /* The options first, then whether the files are there, then what is in them. */
        if (o->cert_reqs < NETUTIL_CERT_DEFAULT || o->cert_reqs > NETUTIL_CERT_REQUIRED)
                return tls_message(ret_error, -EINVAL, "invalid value for cert_reqs: %d", o->cert_reqs);
        /* Tornado ignores such a keyfile; a key nobody uses is a mistake worth reporting. */
        if (o->keyfile && !o->certfile)
                return tls_message(ret_error, -EINVAL, "keyfile given without certfile");
        if (server_side && !o->certfile)
                return tls_message(ret_error, -EINVAL, "a server context needs a certfile");
        if (o->certfile) {
                r = check_file("certfile", o->certfile, ret_error);
                if (r < 0)
                        return r;
        }
        if (o->keyfile) {
                r = check_file("keyfile", o->keyfile, ret_error);
                if (r < 0)
                        return r;
        }
        if (o->ca_certs) {
                r = check_file("ca_certs", o->ca_certs, ret_error);
                if (r < 0)
                        return r;
        }

        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        atomic_init(&ctx->n_ref, 1);
        ctx->server_side = server_side;
        /* Tornado's defaults: a server asks for nothing, a client requires and checks. */
        ctx->cert_reqs = o->cert_reqs != NETUTIL_CERT_DEFAULT ? o->cert_reqs
                         : server_side                        ? NETUTIL_CERT_NONE
                                                              : NETUTIL_CERT_REQUIRED;

        r = gnutls_priority_init2(&ctx->priority, priority, &err_pos, 0);
        if (r < 0) {
                ctx->priority = NULL;
                return tls_error_priority(r, priority, err_pos, ret_error);
        }
        r = gnutls_certificate_allocate_credentials(&ctx->creds);
        if (r < 0) {
                ctx->creds = NULL;
                return tls_error_setup(r, "allocating certificate credentials", ret_error);
        }
        if (o->certfile) {
                r = load_certificate(ctx, o->certfile, o->keyfile, ret_error);
                if (r < 0)
                        return r;
        }
        r = load_trust(ctx, o->ca_certs, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

_public_ int netutil_tls_context_new(const netutil_tls_options *opts, int server_side,
                                     netutil_tls_context **ret, char **ret_error) {
        char *error = NULL;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!opts || !ret)
                return -EINVAL;
        r = tls_context_build(opts, server_side != 0, ret, &error);
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(error);
        free(error);
        return r;
}

_public_ netutil_tls_context *netutil_tls_context_free(netutil_tls_context *ctx) {
        return tls_context_unref(ctx);
}

_public_ netutil_tls_session *netutil_tls_session_free(netutil_tls_session *s) {
        int saved = errno;

        if (!s)
                return NULL;
        if (s->session) {
                /* close_notify, best effort: SHUT_WR sends it without waiting for the peer's,
                 * and on a non-blocking socket that cannot take it now it is dropped. */
                if (s->handshake_done)
                        (void) gnutls_bye(s->session, GNUTLS_SHUT_WR);
                gnutls_deinit(s->session);
        }
        tls_context_unref(s->ctx);
        free(s->hostname);
        free(s->server_name);
        free(s->error);
        free(s);
        errno = saved;
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(netutil_tls_session, netutil_tls_session_free);

/* Servers' check of a client certificate. GnuTLS's own (gnutls_session_set_verify_cert())
 * also fails a client that sent none when one was only requested, which is not OPTIONAL;
 * REQUIRED's "none sent" is refused by GnuTLS itself (GNUTLS_CERT_REQUIRE) before this
 * runs. A certificate that was sent must verify against ca_certs; a failure here fails the
 * handshake, and tls-error.c asks GnuTLS again why. */
static int verify_client_certificate(gnutls_session_t session) {
        unsigned n = 0, status = 0;

        if (!gnutls_certificate_get_peers(session, &n) || n == 0)
                return 0;
        if (gnutls_certificate_verify_peers3(session, NULL, &status) < 0 || status != 0)
                return -1;
        return 0;
}

/* Sets up a fresh GnuTLS session on s for its context, side and hostname. */
static int tls_session_setup(netutil_tls_session *s, char **ret_error) {
        netutil_tls_context *ctx = s->ctx;
        int r;

        /* NO_SIGNAL: sends use MSG_NOSIGNAL, as the library must never raise SIGPIPE. */
        r = gnutls_init(&s->session, (s->server_side ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
        if (r < 0) {
                s->session = NULL;
                return tls_error_setup(r, "creating the TLS session", ret_error);
        }
        r = gnutls_priority_set(s->session, ctx->priority);
        if (r < 0)
                return tls_error_setup(r, "setting the priorities", ret_error);
        r = gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE, ctx->creds);
        if (r < 0)
                return tls_error_setup(r, "setting the credentials", ret_error);

        if (s->server_side) {
                if (ctx->cert_reqs != NETUTIL_CERT_NONE) {
                        gnutls_certificate_server_set_request(
                                s->session, ctx->cert_reqs == NETUTIL_CERT_REQUIRED ? GNUTLS_CERT_REQUIRE
                                                                                    : GNUTLS_CERT_REQUEST);
                        /* No hostname: a client certificate is checked against the CAs only. */
                        gnutls_session_set_verify_function(s->session, verify_client_certificate);
                }
        } else {
                if (s->hostname) {
                        r = gnutls_server_name_set(s->session, GNUTLS_NAME_DNS, s->hostname,
                                                   strlen(s->hostname));
                        if (r < 0)
                                return tls_error_setup(r, "setting the server name", ret_error);
                }
                if (ctx->cert_reqs != NETUTIL_CERT_NONE)
                        gnutls_session_set_verify_cert(s->session, s->hostname, 0);
        }
        gnutls_transport_set_int(s->session, s->fd);
        return 0;
}

_public_ int netutil_tls_wrap(netutil_tls_context *ctx, int fd, const char *server_hostname, int server_side,
                              netutil_tls_session **ret, char **ret_error) {
        _cleanup_(netutil_tls_session_freep) netutil_tls_session *s = NULL;
        char *error = NULL;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!ctx || fd < 0 || !ret)
                return -EINVAL;
        /* Tornado's (Python ssl's) refusals, in its words. */
        if (server_side && server_hostname)
                return tls_message(ret_error, -EINVAL, "server_hostname can only be specified in client mode");
        if (server_hostname && (server_hostname[0] == '\0' || server_hostname[0] == '.'))
                return tls_message(ret_error, -EINVAL,
                            "server_hostname cannot be an empty string or start with a leading dot");
        /* Python refuses these too: a server context would wrap a client that verifies
         * nothing, a client context a server asking for client certificates. */
        if (!!server_side != ctx->server_side)
                return tls_message(ret_error, -EINVAL, "a %s context cannot wrap a %s session",
                            ctx->server_side ? "server" : "client", server_side ? "server" : "client");
        if (!server_side && ctx->cert_reqs != NETUTIL_CERT_NONE && !server_hostname)
                return tls_message(ret_error, -EINVAL, "check_hostname requires server_hostname");

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        atomic_fetch_add(&ctx->n_ref, 1);
        s->ctx = ctx;
        s->fd = fd;
        s->server_side = server_side != 0;
        if (server_hostname) {
                s->hostname = strdup(server_hostname);
                if (!s->hostname)
                        return -ENOMEM;
        }
        r = tls_session_setup(s, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                free(error);
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Remembers the SNI name the client sent, if any (servers, after the handshake). */
static void tls_session_store_server_name(netutil_tls_session *s) {
        char name[TLS_SERVER_NAME_MAX + 1];
        size_t len = sizeof(name);
        unsigned type = 0;

        /* Fails when the client sent none, or one too long for any DNS name: both "no name". */
        if (gnutls_server_name_get(s->session, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
                return;
        name[MIN(len, sizeof(name) - 1)] = '\0';
        free(s->server_name);
        s->server_name = strdup(name);
}

_public_ int netutil_tls_handshake(netutil_tls_session *s) {
        int r;

        if (!s)
                return -EINVAL;
        s->error = mfree(s->error);
        if (s->handshake_done)
                return 0;
        for (;;) {
                errno = 0;
                r = gnutls_handshake(s->session);
                if (r >= 0)
                        break;
                r = tls_error_session(s->session, r, errno, s->hostname, &s->error);
                if (r < 0)
                        return r;
        }
        s->handshake_done = true;
        if (s->server_side)
                tls_session_store_server_name(s);
        return 0;
}

_public_ ssize_t netutil_tls_read(netutil_tls_session *s, void *buf, size_t len) {
        ssize_t n;
        int r;

        if (!s || (!buf && len > 0))
                return -EINVAL;
        s->error = mfree(s->error);
        if (!s->handshake_done)
                return tls_message(&s->error, -ENOTCONN, "the TLS handshake has not completed");
        if (len == 0)
                return 0;
        for (;;) {
                errno = 0;
                n = gnutls_record_recv(s->session, buf, len);
                if (n >= 0)
                        return n;
                r = tls_error_session(s->session, (int) n, errno, s->hostname, &s->error);
                if (r < 0)
                        return r;
        }
}

_public_ ssize_t netutil_tls_write(netutil_tls_session *s, const void *buf, size_t len) {
        ssize_t n;
        int r;

        if (!s || (!buf && len > 0))
                return -EINVAL;
        s->error = mfree(s->error);
        if (!s->handshake_done)
                return tls_message(&s->error, -ENOTCONN, "the TLS handshake has not completed");
        if (len == 0)
                return 0;
        for (;;) {
                errno = 0;
                n = gnutls_record_send(s->session, buf, len);
                if (n >= 0)
                        return n;
                r = tls_error_session(s->session, (int) n, errno, s->hostname, &s->error);
                if (r < 0)
                        return r;
        }
}

_public_ int netutil_tls_want_write(const netutil_tls_session *s) {
        if (!s)
                return -EINVAL;
        return gnutls_record_get_direction(s->session) == 1;
}

_public_ const char *netutil_tls_session_error(const netutil_tls_session *s) {
        return s ? s->error : NULL;
}

_public_ const char *netutil_tls_server_name(const netutil_tls_session *s) {
        return s ? s->server_name : NULL;
}
