/* SPDX-License-Identifier: MIT */

/* The TLS helpers (client/tls.c, client/tls-error.c) against Tornado's ssl_options_to_context()
 * and ssl_wrap_socket() (shared/reference/tornado-netutil.md §7) mapped onto GnuTLS: every
 * refused option with its errno and words, and real handshakes with GnuTLS's own tools on
 * the other end — gnutls-serv when we are the client, gnutls-cli when we are the server.
 *
 * main() makes a small PKI with certtool in a temporary directory before the tests run: a
 * CA, a second CA nobody trusts, a server certificate for "localhost" and
 * "www.example.test", and a client certificate, all ECDSA (fast to make). Tests that talk
 * run in a fresh network namespace (fork mode gives each its own process), so the fixed
 * port is always free; they need root, and an EPERM fails them loudly. Peers are started by
 * pid, die with the test (PR_SET_PDEATHSIG) and are killed and reaped by pid. Every test
 * counts the open fds of the process before and after (checked fixture). */

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "netutil.h"
#include "testlib.h"

/* Seconds for a TCase that talks to a peer: a handshake takes milliseconds, a peer that
 * never answers is cut off by the 10 s waits below first. */
#define TLS_TEST_TIMEOUT 30
/* The port peers listen on; any will do, as every such test has its own namespace. */
#define TEST_PORT 4433
#define TEST_PORT_STR "4433"
/* How long we wait for a peer to start listening, to connect or to exit. */
#define PEER_WAIT_MS 10000

/* ---- The PKI, made once by main() -------------------------------------------------- */

static struct {
        char dir[64];
        char ca[128], ca_key[128];   /* the CA everyone trusts */
        char ca2[128], ca2_key[128]; /* a CA nobody trusts */
        char srv[128], srv_key[128]; /* localhost + www.example.test, signed by ca */
        char cli[128], cli_key[128]; /* a client certificate signed by ca */
        char combined[128];          /* srv and srv_key in one file */
        char garbage[128];           /* not PEM at all */
        char missing[128];           /* never created */
} pki;

static char certtool_bin[PATH_MAX], serv_bin[PATH_MAX], cli_bin[PATH_MAX];

/* The full path of program in $PATH into buf; false if there is none. */
static bool find_program(const char *program, char *buf, size_t len) {
        const char *path = getenv("PATH");
        char copy[4096];
        char *save = NULL;

        snprintf(copy, sizeof(copy), "%s", path ? path : "/usr/bin:/bin");
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(buf, len, "%s/%s", d, program);
                if (access(buf, X_OK) == 0)
                        return true;
        }
        return false;
}

static bool write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        bool ok = false;

        if (!f)
                return false;
        ok = fputs(text, f) >= 0;
        return fclose(f) == 0 && ok;
}

/* Concatenates a and b into path. */
static bool concat_files(const char *path, const char *a, const char *b) {
        char buf[8192], *p = buf;
        const char *in[] = {a, b};

        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                FILE *f = fopen(in[i], "re");
                size_t n = 0;

                if (!f)
                        return false;
                n = fread(p, 1, sizeof(buf) - 1 - (size_t) (p - buf), f);
                fclose(f);
                p += n;
        }
        *p = '\0';
        return write_text(path, buf);
}

static bool certtool(const char *const *args) {
        const char *argv[16] = {certtool_bin};
        char out[4096], err[4096];
        size_t n = 1;
        int r;

        for (; args[n - 1] && n < ELEMENTSOF(argv) - 1; n++)
                argv[n] = args[n - 1];
        argv[n] = NULL;
        r = test_run(argv, out, sizeof(out), err, sizeof(err));
        if (r != 0)
                fprintf(stderr, "certtool %s failed (%d): %s\n", args[0], r, err);
        return r == 0;
}

static bool make_key(const char *path) {
        return certtool(
                (const char *const[]){"--generate-privkey", "--key-type=ecdsa", "--outfile", path, NULL});
}

/* Templates: certtool reads the subject and the extensions from a file. Two days of
 * validity is plenty for one run. */
static const char ca_template[] = "cn = \"netutil test CA\"\nca\ncert_signing_key\nexpiration_days = 2\n";
static const char ca2_template[] =
        "cn = \"netutil untrusted CA\"\nca\ncert_signing_key\nexpiration_days = 2\n";
static const char server_template[] = "cn = \"localhost\"\n"
                                      "dns_name = \"localhost\"\n"
                                      "dns_name = \"www.example.test\"\n"
                                      "tls_www_server\nsigning_key\nencryption_key\nexpiration_days = 2\n";
static const char client_template[] = "cn = \"netutil test client\"\n"
                                      "tls_www_client\nsigning_key\nexpiration_days = 2\n";

static bool make_ca(const char *cert, const char *key, const char *template) {
        char tmpl[160];

        snprintf(tmpl, sizeof(tmpl), "%s/template", pki.dir);
        return write_text(tmpl, template) && make_key(key) &&
               certtool((const char *const[]){"--generate-self-signed", "--load-privkey", key, "--template",
                                              tmpl, "--outfile", cert, NULL});
}

static bool make_leaf(const char *cert, const char *key, const char *template) {
        char tmpl[160];

        snprintf(tmpl, sizeof(tmpl), "%s/template", pki.dir);
        return write_text(tmpl, template) && make_key(key) &&
               certtool((const char *const[]){"--generate-certificate", "--load-privkey", key,
                                              "--load-ca-certificate", pki.ca, "--load-ca-privkey",
                                              pki.ca_key, "--template", tmpl, "--outfile", cert, NULL});
}

static bool pki_make(void) {
        snprintf(pki.dir, sizeof(pki.dir), "/tmp/check-tls.XXXXXX");
        if (!mkdtemp(pki.dir))
                return false;
#define PKI_PATH(field, name) snprintf(pki.field, sizeof(pki.field), "%s/" name, pki.dir)
        PKI_PATH(ca, "ca.pem");
        PKI_PATH(ca_key, "ca.key");
        PKI_PATH(ca2, "ca2.pem");
        PKI_PATH(ca2_key, "ca2.key");
        PKI_PATH(srv, "server.pem");
        PKI_PATH(srv_key, "server.key");
        PKI_PATH(cli, "client.pem");
        PKI_PATH(cli_key, "client.key");
        PKI_PATH(combined, "combined.pem");
        PKI_PATH(garbage, "garbage.pem");
        PKI_PATH(missing, "missing.pem");
#undef PKI_PATH
        return make_ca(pki.ca, pki.ca_key, ca_template) && make_ca(pki.ca2, pki.ca2_key, ca2_template) &&
               make_leaf(pki.srv, pki.srv_key, server_template) &&
               make_leaf(pki.cli, pki.cli_key, client_template) &&
               concat_files(pki.combined, pki.srv, pki.srv_key) &&
               write_text(pki.garbage, "this is not a PEM file\n");
}

static void pki_remove(void) {
        DIR *d = NULL;
        struct dirent *de = NULL;

        if (!pki.dir[0] || !(d = opendir(pki.dir)))
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        (void) rmdir(pki.dir);
}

/* ---- Helpers ------------------------------------------------------------------------ */

static void sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static struct sockaddr_in loopback(void) {
        return (struct sockaddr_in){.sin_family = AF_INET,
                                    .sin_port = htons(TEST_PORT),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* A peer process: its pid and, when asked for, our ends of its stdin and stdout. */
typedef struct Peer {
        pid_t pid;
        int in;  /* we write, it reads; -EBADF if not piped */
        int out; /* it writes, we read; -EBADF if not piped */
} Peer;

/* Starts argv (NULL-terminated, argv[0] a full path) with stderr and, unless piped, stdin
 * and stdout on /dev/null. The child dies with this process, so a failed test leaves no
 * peer behind. */
static Peer peer_start(const char *const *argv, bool pipes) {
        Peer p = {.pid = -1, .in = -EBADF, .out = -EBADF};
        int in[2] = {-1, -1}, out[2] = {-1, -1};

        if (pipes) {
                ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
                ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        }
        p.pid = fork();
        ck_assert_int_ge(p.pid, 0);
        if (p.pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) dup2(pipes ? in[0] : null, STDIN_FILENO);
                (void) dup2(pipes ? out[1] : null, STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        if (pipes) {
                close(in[0]);
                close(out[1]);
                p.in = in[1];
                p.out = out[0];
        }
        return p;
}

/* Waits up to timeout_ms for the peer to exit by itself; returns its wait status, or -1
 * if it is still running. */
static int peer_wait(Peer *p, int timeout_ms) {
        long long deadline = test_now_ms() + timeout_ms;
        int status = 0;

        while (p->pid > 0) {
                pid_t r = waitpid(p->pid, &status, WNOHANG);

                if (r == p->pid) {
                        p->pid = -1;
                        return status;
                }
                if (test_now_ms() >= deadline)
                        return -1;
                sleep_ms(10);
        }
        return -1;
}

/* Kills the peer by its pid (if still running), reaps it and closes our pipe ends. */
static void peer_stop(Peer *p) {
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                (void) waitpid(p->pid, NULL, 0);
                p->pid = -1;
        }
        p->in = safe_close(p->in);
        p->out = safe_close(p->out);
}

/* gnutls-serv on TEST_PORT with the server certificate, echoing what it gets; extra
 * (NULL-terminated, may be NULL) is appended to its arguments. */
static Peer serv_start(const char *const *extra) {
        const char *argv[24] = {serv_bin,        "--echo",    "--quiet", "--x509certfile", pki.srv,
                                "--x509keyfile", pki.srv_key, "-p",      TEST_PORT_STR};
        size_t n = 9;

        for (size_t i = 0; extra && extra[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = extra[i];
        }
        argv[n] = NULL;
        return peer_start(argv, false);
}

/* A TCP connection to 127.0.0.1:TEST_PORT (blocking, close-on-exec), retried while the peer
 * is still starting (connection refused), up to PEER_WAIT_MS. */
static int connect_peer(void) {
        struct sockaddr_in sa = loopback();
        long long deadline = test_now_ms() + PEER_WAIT_MS;

        for (;;) {
                _cleanup_(closep) int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                ck_assert_int_ge(fd, 0);
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return TAKE_FD(fd);
                ck_assert_msg(errno == ECONNREFUSED, "connect: %s", strerror(errno));
                ck_assert_msg(test_now_ms() < deadline, "the peer did not start listening");
                sleep_ms(20);
        }
}

/* A listening socket on 127.0.0.1:TEST_PORT for gnutls-cli to connect to. */
static int listen_here(void) {
        struct sockaddr_in sa = loopback();
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 8), 0);
        return fd;
}

/* Accepts one connection on lfd, waiting up to PEER_WAIT_MS. */
static int accept_peer(int lfd) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int fd = -EBADF;

        ck_assert_msg(poll(&p, 1, PEER_WAIT_MS) == 1, "no client connected");
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return fd;
}

/* gnutls-cli connecting to 127.0.0.1:TEST_PORT, its stdin and stdout piped; extra
 * (NULL-terminated) goes before the host. Its informational output goes to /dev/null so
 * that stdout carries only what the server sends. */
static Peer cli_start(const char *const *extra) {
        const char *argv[24] = {cli_bin, "--logfile=/dev/null", "-p", TEST_PORT_STR};
        size_t n = 4;

        for (size_t i = 0; extra && extra[i]; i++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 2);
                argv[n++] = extra[i];
        }
        argv[n++] = "127.0.0.1";
        argv[n] = NULL;
        return peer_start(argv, true);
}

/* Reads exactly len bytes from the plain fd (a peer's stdout), up to PEER_WAIT_MS. */
static void read_fd_exact(int fd, char *buf, size_t len) {
        long long deadline = test_now_ms() + PEER_WAIT_MS;
        size_t got = 0;

        while (got < len) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;

                ck_assert_msg(test_now_ms() < deadline, "the peer wrote %zu of %zu bytes", got, len);
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(fd, buf + got, len - got);
                ck_assert_int_gt(n, 0);
                got += (size_t) n;
        }
}

static netutil_tls_context *context_new(const netutil_tls_options *o, int server_side) {
        netutil_tls_context *ctx = NULL;
        _cleanup_(freep) char *error = NULL;
        int r = netutil_tls_context_new(o, server_side, &ctx, &error);

        ck_assert_msg(r == 0, "netutil_tls_context_new: %s (%s)", strerror(-r), error ? error : "no message");
        ck_assert_ptr_null(error);
        return ctx;
}

static netutil_tls_session *wrap(netutil_tls_context *ctx, int fd, const char *hostname, int server_side) {
        netutil_tls_session *s = NULL;
        _cleanup_(freep) char *error = NULL;
        int r = netutil_tls_wrap(ctx, fd, hostname, server_side, &s, &error);

        ck_assert_msg(r == 0, "netutil_tls_wrap: %s (%s)", strerror(-r), error ? error : "no message");
        ck_assert_ptr_null(error);
        return s;
}

static void handshake_ok(netutil_tls_session *s) {
        int r = netutil_tls_handshake(s);

        ck_assert_msg(r == 0, "handshake: %s (%s)", strerror(-r),
                      netutil_tls_session_error(s) ? netutil_tls_session_error(s) : "no message");
        ck_assert_ptr_null(netutil_tls_session_error(s));
}

static void tls_write_all(netutil_tls_session *s, const char *data) {
        size_t len = strlen(data), done = 0;

        while (done < len) {
                ssize_t n = netutil_tls_write(s, data + done, len - done);

                ck_assert_msg(n > 0, "netutil_tls_write: %s", strerror((int) -n));
                done += (size_t) n;
        }
}

static void tls_read_exact(netutil_tls_session *s, char *buf, size_t len) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = netutil_tls_read(s, buf + got, len - got);

                ck_assert_msg(n > 0, "netutil_tls_read after %zu of %zu bytes: %zd (%s)", got, len, n,
                              netutil_tls_session_error(s) ? netutil_tls_session_error(s) : "no message");
                got += (size_t) n;
        }
}

/* Sends line and expects gnutls-serv to echo it back. */
static void echo_roundtrip(netutil_tls_session *s, const char *line) {
        char buf[128] = {};

        ck_assert_uint_lt(strlen(line), sizeof(buf));
        tls_write_all(s, line);
        tls_read_exact(s, buf, strlen(line));
        ck_assert_str_eq(buf, line);
}

/* Our client against gnutls-serv (started, and stopped before returning) with options o and
 * hostname; returns the handshake's result and copies its message into error. */
static int client_handshake_result_with(const char *const *serv_extra, const netutil_tls_options *o,
                                        const char *hostname, char *error, size_t len) {
        Peer serv = serv_start(serv_extra);
        netutil_tls_context *ctx = context_new(o, 0);
        _cleanup_(closep) int fd = connect_peer();
        netutil_tls_session *s = wrap(ctx, fd, hostname, 0);
        int r = netutil_tls_handshake(s);

        snprintf(error, len, "%s", netutil_tls_session_error(s) ? netutil_tls_session_error(s) : "");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
        return r;
}

static int client_handshake_result(const netutil_tls_options *o, const char *hostname, char *error,
                                   size_t len) {
        return client_handshake_result_with((const char *const[]){"--disable-client-cert", NULL}, o, hostname,
                                            error, len);
}

/* ---- Client side, against gnutls-serv ------------------------------------------------ */

START_TEST(test_client_verifies_localhost_and_echoes_data) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        int fd = -EBADF;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--disable-client-cert", NULL});
        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "localhost", 0);
        handshake_ok(s);
        /* A second call once done is a no-op success. */
        ck_assert_int_eq(netutil_tls_handshake(s), 0);
        echo_roundtrip(s, "hello over TLS\n");
        echo_roundtrip(s, "and once more\n");
        /* A client session has no received server name. */
        ck_assert_ptr_null(netutil_tls_server_name(s));

        ck_assert_ptr_null(netutil_tls_session_free(s));
        /* The fd is still ours, open and connected. */
        ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
        ck_assert_int_eq(send(fd, "x", 1, MSG_NOSIGNAL), 1);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_ptr_null(netutil_tls_context_free(ctx));
        peer_stop(&serv);
}
END_TEST

START_TEST(test_client_verifies_second_dns_name_of_certificate) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        test_enter_netns();
        o.ca_certs = pki.ca;
        ck_assert_int_eq(client_handshake_result(&o, "www.example.test", error, sizeof(error)), 0);
        ck_assert_str_eq(error, "");
}
END_TEST

START_TEST(test_client_wrong_hostname_is_ekeyrejected_naming_the_mismatch) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        test_enter_netns();
        o.ca_certs = pki.ca;
        ck_assert_int_eq(client_handshake_result(&o, "wrong.example.test", error, sizeof(error)),
                         -EKEYREJECTED);
        ck_assert_str_eq(error, "certificate verification failed: hostname mismatch: "
                                "the certificate is not valid for \"wrong.example.test\"");
}
END_TEST

START_TEST(test_client_unknown_ca_is_ekeyrejected_as_issuer_unknown) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        test_enter_netns();
        o.ca_certs = pki.ca2;
        ck_assert_int_eq(client_handshake_result(&o, "localhost", error, sizeof(error)), -EKEYREJECTED);
        ck_assert_str_eq(error, "certificate verification failed: issuer unknown: no trusted CA signed it");
}
END_TEST

START_TEST(test_client_without_ca_certs_uses_system_store_which_lacks_test_ca) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        /* The documented divergence: Tornado's store would be empty, ours is the system's;
         * either way a private CA is unknown. */
        test_enter_netns();
        ck_assert_int_eq(client_handshake_result(&o, "localhost", error, sizeof(error)), -EKEYREJECTED);
        ck_assert_ptr_nonnull(strstr(error, "issuer unknown"));
}
END_TEST

START_TEST(test_client_optional_verifies_like_required) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        test_enter_netns();
        o.ca_certs = pki.ca2;
        o.cert_reqs = NETUTIL_CERT_OPTIONAL;
        ck_assert_int_eq(client_handshake_result(&o, "localhost", error, sizeof(error)), -EKEYREJECTED);
        ck_assert_ptr_nonnull(strstr(error, "issuer unknown"));
}
END_TEST

START_TEST(test_client_ip_literal_hostname_is_checked_against_the_certificate) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        /* The certificate names no address: verifying against one is a mismatch. */
        test_enter_netns();
        o.ca_certs = pki.ca;
        ck_assert_int_eq(client_handshake_result(&o, "127.0.0.1", error, sizeof(error)), -EKEYREJECTED);
        ck_assert_str_eq(error, "certificate verification failed: hostname mismatch: "
                                "the certificate is not valid for \"127.0.0.1\"");
        /* Not verifying, an address is as good as any name. */
        o.cert_reqs = NETUTIL_CERT_NONE;
        ck_assert_int_eq(client_handshake_result(&o, "127.0.0.1", error, sizeof(error)), 0);
}
END_TEST

START_TEST(test_client_priority_tls12_handshakes_and_echoes) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--disable-client-cert", NULL});
        o.ca_certs = pki.ca;
        o.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "localhost", 0);
        handshake_ok(s);
        echo_roundtrip(s, "over TLS 1.2\n");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
}
END_TEST

START_TEST(test_client_priority_shared_with_no_server_is_eproto) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        /* Our priority string reaches the wire: TLS 1.2 only against a TLS 1.3-only server. */
        test_enter_netns();
        o.ca_certs = pki.ca;
        o.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
        ck_assert_int_eq(
                client_handshake_result_with((const char *const[]){"--disable-client-cert", "--priority",
                                                                   "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL},
                                             &o, "localhost", error, sizeof(error)),
                -EPROTO);
        ck_assert_str_eq(error, "the peer sent a fatal alert: Handshake failed");
}
END_TEST

START_TEST(test_client_cert_reqs_none_accepts_unknown_ca_and_wrong_name) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--disable-client-cert", NULL});
        o.ca_certs = pki.ca2;
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "wrong.example.test", 0);
        handshake_ok(s);
        echo_roundtrip(s, "unverified but encrypted\n");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
}
END_TEST

START_TEST(test_client_cert_reqs_none_without_hostname_handshakes) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char error[512];

        test_enter_netns();
        o.cert_reqs = NETUTIL_CERT_NONE;
        ck_assert_int_eq(client_handshake_result(&o, NULL, error, sizeof(error)), 0);
        ck_assert_str_eq(error, "");
}
END_TEST

START_TEST(test_client_context_freed_before_session_stays_usable) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--disable-client-cert", NULL});
        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "localhost", 0);
        ck_assert_ptr_null(netutil_tls_context_free(ctx));
        handshake_ok(s);
        echo_roundtrip(s, "the session holds the context\n");
        netutil_tls_session_free(s);
        peer_stop(&serv);
}
END_TEST

START_TEST(test_client_presents_certificate_to_server_requiring_one) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--require-client-cert", "--verify-client-cert",
                                                "--x509cafile", pki.ca, NULL});
        o.ca_certs = pki.ca;
        o.certfile = pki.cli;
        o.keyfile = pki.cli_key;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "localhost", 0);
        handshake_ok(s);
        echo_roundtrip(s, "with a client certificate\n");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
}
END_TEST

START_TEST(test_client_without_certificate_is_refused_by_server_requiring_one) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;
        char buf[16];
        ssize_t n;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--require-client-cert", "--x509cafile", pki.ca, NULL});
        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        s = wrap(ctx, fd, "localhost", 0);
        /* TLS 1.3: the client finishes its side of the handshake before the server has
         * looked at the (empty) certificate; the refusal is the alert on the next read. */
        handshake_ok(s);
        n = netutil_tls_read(s, buf, sizeof(buf));
        ck_assert_int_eq(n, -EPROTO);
        ck_assert_str_eq(netutil_tls_session_error(s),
                         "the peer sent a fatal alert: Certificate is required");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
}
END_TEST

/* Drives a handshake on a non-blocking fd: poll()s for what netutil_tls_want_write() asks.
 * Returns how many times it had to wait; *ret_waited_to_read says whether one of those was
 * a wait to read. */
static int nonblocking_handshake(netutil_tls_session *s, int fd, bool *ret_waited_to_read) {
        int waits = 0, r;

        *ret_waited_to_read = false;
        while ((r = netutil_tls_handshake(s)) == -EAGAIN) {
                int want_write = netutil_tls_want_write(s);
                struct pollfd p = {.fd = fd, .events = want_write ? POLLOUT : POLLIN};

                ck_assert_int_ge(want_write, 0);
                ck_assert_ptr_null(netutil_tls_session_error(s));
                if (!want_write)
                        *ret_waited_to_read = true;
                ck_assert_int_eq(poll(&p, 1, PEER_WAIT_MS), 1);
                waits++;
        }
        ck_assert_msg(r == 0, "handshake: %s (%s)", strerror(-r),
                      netutil_tls_session_error(s) ? netutil_tls_session_error(s) : "no message");
        return waits;
}

START_TEST(test_client_nonblocking_handshake_polls_with_want_write) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        Peer serv;
        _cleanup_(closep) int fd = -EBADF;
        const char line[] = "non-blocking\n";
        char buf[sizeof(line)] = {};
        size_t got = 0;
        bool waited_to_read = false;
        ssize_t n;

        test_enter_netns();
        serv = serv_start((const char *const[]){"--disable-client-cert", NULL});
        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        fd = connect_peer();
        ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
        s = wrap(ctx, fd, "localhost", 0);
        /* The ClientHello goes out at once; with the server stopped, no ServerHello can be
         * there: the handshake waits, to read. (A running server on the other CPU can answer
         * before the first read, and then nothing waits.) */
        ck_assert_int_eq(kill(serv.pid, SIGSTOP), 0);
        ck_assert_int_eq(netutil_tls_handshake(s), -EAGAIN);
        ck_assert_int_eq(netutil_tls_want_write(s), 0);
        ck_assert_ptr_null(netutil_tls_session_error(s));
        ck_assert_int_eq(kill(serv.pid, SIGCONT), 0);
        (void) nonblocking_handshake(s, fd, &waited_to_read);

        /* Nothing to read before we send: -EAGAIN, waiting to read, with no message. */
        ck_assert_int_eq(netutil_tls_read(s, buf, sizeof(buf)), -EAGAIN);
        ck_assert_int_eq(netutil_tls_want_write(s), 0);
        ck_assert_ptr_null(netutil_tls_session_error(s));
        ck_assert_int_eq(netutil_tls_write(s, line, strlen(line)), (ssize_t) strlen(line));
        while (got < strlen(line)) {
                struct pollfd p = {.fd = fd, .events = POLLIN};

                n = netutil_tls_read(s, buf + got, strlen(line) - got);
                if (n == -EAGAIN) {
                        ck_assert_int_eq(poll(&p, 1, PEER_WAIT_MS), 1);
                        continue;
                }
                ck_assert_int_gt(n, 0);
                got += (size_t) n;
        }
        ck_assert_str_eq(buf, line);
        /* The session left the fd's mode alone. */
        ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
        peer_stop(&serv);
}
END_TEST

/* ---- Server side, against gnutls-cli ------------------------------------------------- */

/* Our server session on a connection from gnutls-cli started with extra arguments. */
typedef struct ServerRun {
        Peer cli;
        int lfd, fd;
        netutil_tls_context *ctx;
        netutil_tls_session *s;
} ServerRun;

static void server_run_start(ServerRun *run, const netutil_tls_options *o, const char *const *cli_extra) {
        run->lfd = listen_here();
        run->ctx = context_new(o, 1);
        run->cli = cli_start(cli_extra);
        run->fd = accept_peer(run->lfd);
        run->s = wrap(run->ctx, run->fd, NULL, 1);
}

static void server_run_stop(ServerRun *run) {
        run->s = netutil_tls_session_free(run->s);
        run->ctx = netutil_tls_context_free(run->ctx);
        peer_stop(&run->cli);
        run->fd = safe_close(run->fd);
        run->lfd = safe_close(run->lfd);
}

/* "ping" from gnutls-cli's stdin to us, "pong" from us to its stdout; then its stdin
 * closes, it says goodbye with close_notify (a read of 0), waits for ours (sent when the
 * session is freed) and exits 0. */
static void server_ping_pong(ServerRun *run) {
        char buf[8] = {};

        ck_assert_int_eq(write(run->cli.in, "ping\n", 5), 5);
        tls_read_exact(run->s, buf, 5);
        ck_assert_str_eq(buf, "ping\n");
        tls_write_all(run->s, "pong\n");
        memset(buf, 0, sizeof(buf));
        read_fd_exact(run->cli.out, buf, 5);
        ck_assert_str_eq(buf, "pong\n");

        run->cli.in = safe_close(run->cli.in);
        ck_assert_int_eq(netutil_tls_read(run->s, buf, sizeof(buf)), 0);
        run->s = netutil_tls_session_free(run->s);
        ck_assert_int_eq(peer_wait(&run->cli, PEER_WAIT_MS), 0);
        /* The connection is still ours to close. */
        ck_assert_int_ge(fcntl(run->fd, F_GETFD), 0);
}

START_TEST(test_server_handshakes_and_exchanges_data_with_gnutls_cli) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        server_run_start(
                &run, &o,
                (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost", NULL});
        handshake_ok(run.s);
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_with_key_inside_certfile_serves_gnutls_cli) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        test_enter_netns();
        o.certfile = pki.combined;
        server_run_start(
                &run, &o,
                (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost", NULL});
        handshake_ok(run.s);
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_sees_sni_name_sent_by_client) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        server_run_start(&run, &o,
                         (const char *const[]){"--x509cafile", pki.ca, "--sni-hostname", "www.example.test",
                                               "--verify-hostname", "www.example.test", NULL});
        ck_assert_ptr_null(netutil_tls_server_name(run.s));
        handshake_ok(run.s);
        ck_assert_str_eq(netutil_tls_server_name(run.s), "www.example.test");
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_without_sni_from_client_has_no_server_name) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        /* gnutls-cli sends no SNI for an IP address host and no --sni-hostname. */
        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        server_run_start(&run, &o, (const char *const[]){"--insecure", NULL});
        handshake_ok(run.s);
        ck_assert_ptr_null(netutil_tls_server_name(run.s));
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_requiring_client_cert_refuses_client_without_one) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};
        int status;

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        o.ca_certs = pki.ca;
        o.cert_reqs = NETUTIL_CERT_REQUIRED;
        server_run_start(
                &run, &o,
                (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost", NULL});
        ck_assert_int_eq(netutil_tls_handshake(run.s), -EKEYREJECTED);
        ck_assert_str_eq(netutil_tls_session_error(run.s),
                         "the peer sent no certificate, and one is required");
        /* gnutls-cli got our alert and gave up. */
        status = peer_wait(&run.cli, PEER_WAIT_MS);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "gnutls-cli wait status %d", status);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_requiring_client_cert_accepts_client_with_one) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        o.ca_certs = pki.ca;
        o.cert_reqs = NETUTIL_CERT_REQUIRED;
        server_run_start(&run, &o,
                         (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost",
                                               "--x509certfile", pki.cli, "--x509keyfile", pki.cli_key,
                                               NULL});
        handshake_ok(run.s);
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_requiring_client_cert_refuses_one_from_unknown_ca) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};
        int status;

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        o.ca_certs = pki.ca2;
        o.cert_reqs = NETUTIL_CERT_REQUIRED;
        server_run_start(&run, &o,
                         (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost",
                                               "--x509certfile", pki.cli, "--x509keyfile", pki.cli_key,
                                               NULL});
        ck_assert_int_eq(netutil_tls_handshake(run.s), -EKEYREJECTED);
        ck_assert_str_eq(netutil_tls_session_error(run.s),
                         "certificate verification failed: issuer unknown: no trusted CA signed it");
        status = peer_wait(&run.cli, PEER_WAIT_MS);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "gnutls-cli wait status %d", status);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_optional_client_cert_accepts_client_without_one) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        o.ca_certs = pki.ca;
        o.cert_reqs = NETUTIL_CERT_OPTIONAL;
        server_run_start(
                &run, &o,
                (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost", NULL});
        handshake_ok(run.s);
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

START_TEST(test_server_nonblocking_handshake_polls_with_want_write) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        ServerRun run = {};
        bool waited_to_read = false;

        test_enter_netns();
        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        server_run_start(
                &run, &o,
                (const char *const[]){"--x509cafile", pki.ca, "--verify-hostname", "localhost", NULL});
        ck_assert_int_eq(fcntl(run.fd, F_SETFL, fcntl(run.fd, F_GETFL) | O_NONBLOCK), 0);
        ck_assert_int_ge(nonblocking_handshake(run.s, run.fd, &waited_to_read), 0);
        /* Back to blocking for the exchange; the session works either way. */
        ck_assert_int_eq(fcntl(run.fd, F_SETFL, fcntl(run.fd, F_GETFL) & ~O_NONBLOCK), 0);
        server_ping_pong(&run);
        server_run_stop(&run);
}
END_TEST

/* ---- Both sides ours, in one process over a non-blocking socketpair ------------------- */

typedef struct Pair {
        int cfd, sfd;
        netutil_tls_context *cctx, *sctx;
        netutil_tls_session *c, *s;
} Pair;

/* Our client (hostname as SNI, verifying against ca with the client certificate) and our
 * server (asking for a client certificate, OPTIONAL) on the two ends of a non-blocking
 * socketpair; the handshakes are stepped in turn until both are done. */
static void pair_start(Pair *p, const char *hostname) {
        netutil_tls_options co = NETUTIL_TLS_OPTIONS_INIT, so = NETUTIL_TLS_OPTIONS_INIT;
        int sv[2], rc = -EAGAIN, rs = -EAGAIN;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        p->cfd = sv[0];
        p->sfd = sv[1];
        co.ca_certs = pki.ca;
        co.certfile = pki.cli;
        co.keyfile = pki.cli_key;
        so.certfile = pki.srv;
        so.keyfile = pki.srv_key;
        so.ca_certs = pki.ca;
        so.cert_reqs = NETUTIL_CERT_OPTIONAL;
        p->cctx = context_new(&co, 0);
        p->sctx = context_new(&so, 1);
        p->c = wrap(p->cctx, p->cfd, hostname, 0);
        p->s = wrap(p->sctx, p->sfd, NULL, 1);
        /* A TLS 1.3 handshake is three flights; a few more turns than that is plenty. */
        for (int turn = 0; turn < 16 && (rc != 0 || rs != 0); turn++) {
                if (rc != 0)
                        rc = netutil_tls_handshake(p->c);
                if (rs != 0)
                        rs = netutil_tls_handshake(p->s);
                ck_assert_msg(rc == 0 || rc == -EAGAIN, "client: %s", netutil_tls_session_error(p->c));
                ck_assert_msg(rs == 0 || rs == -EAGAIN, "server: %s", netutil_tls_session_error(p->s));
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(rs, 0);
}

static void pair_stop(Pair *p) {
        p->c = netutil_tls_session_free(p->c);
        p->s = netutil_tls_session_free(p->s);
        p->cctx = netutil_tls_context_free(p->cctx);
        p->sctx = netutil_tls_context_free(p->sctx);
        p->cfd = safe_close(p->cfd);
        p->sfd = safe_close(p->sfd);
}

/* Reads exactly len bytes from a non-blocking session whose peer wrote them already. */
static void pair_read_exact(netutil_tls_session *s, char *buf, size_t len) {
        size_t got = 0;

        for (int tries = 0; got < len && tries < 16; tries++) {
                ssize_t n = netutil_tls_read(s, buf + got, len - got);

                if (n == -EAGAIN)
                        continue;
                ck_assert_msg(n > 0, "read: %zd (%s)", n, netutil_tls_session_error(s));
                got += (size_t) n;
        }
        ck_assert_uint_eq(got, len);
}

START_TEST(test_own_client_and_server_agree_on_sni_and_exchange_data) {
        Pair p = {};
        char buf[16] = {};

        pair_start(&p, "www.example.test");
        ck_assert_str_eq(netutil_tls_server_name(p.s), "www.example.test");
        ck_assert_int_eq(netutil_tls_write(p.c, "to server", 9), 9);
        pair_read_exact(p.s, buf, 9);
        ck_assert_str_eq(buf, "to server");
        memset(buf, 0, sizeof(buf));
        ck_assert_int_eq(netutil_tls_write(p.s, "to client", 9), 9);
        pair_read_exact(p.c, buf, 9);
        ck_assert_str_eq(buf, "to client");
        /* A client that closes with a session free sends close_notify: a read of 0. */
        p.c = netutil_tls_session_free(p.c);
        ck_assert_int_eq(netutil_tls_read(p.s, buf, sizeof(buf)), 0);
        pair_stop(&p);
}
END_TEST

START_TEST(test_read_after_peer_closed_without_close_notify_is_econnreset) {
        Pair p = {};
        char buf[16];

        pair_start(&p, "localhost");
        /* The client takes in the server's TLS 1.3 session tickets (GnuTLS's AGAIN without
         * a failing syscall, retried inside) and then finds the socket empty. */
        ck_assert_int_eq(netutil_tls_read(p.c, buf, sizeof(buf)), -EAGAIN);
        ck_assert_int_eq(shutdown(p.cfd, SHUT_WR), 0);
        ck_assert_int_eq(netutil_tls_read(p.s, buf, sizeof(buf)), -ECONNRESET);
        ck_assert_str_eq(netutil_tls_session_error(p.s), "the connection ended without a TLS close_notify");
        pair_stop(&p);
}
END_TEST

START_TEST(test_nonblocking_write_waits_to_write_while_peer_does_not_read) {
        static char chunk[16384], sink[65536];
        Pair p = {};
        ssize_t n = 0;
        int writes = 0;

        pair_start(&p, "localhost");
        memset(chunk, 'z', sizeof(chunk));
        /* The socket buffer is finite: at most a few hundred KiB go in before -EAGAIN. */
        while ((n = netutil_tls_write(p.c, chunk, sizeof(chunk))) > 0)
                ck_assert_int_lt(++writes, 4096);
        ck_assert_int_eq(n, -EAGAIN);
        ck_assert_int_eq(netutil_tls_want_write(p.c), 1);
        ck_assert_ptr_null(netutil_tls_session_error(p.c));

        /* The server drains the socket; the same write, repeated, then goes through. */
        while (netutil_tls_read(p.s, sink, sizeof(sink)) > 0)
                ;
        n = netutil_tls_write(p.c, chunk, sizeof(chunk));
        ck_assert_int_gt(n, 0);
        pair_stop(&p);
}
END_TEST

/* ---- Options: every refusal of netutil_tls_context_new() ----------------------------- */

/* Builds a context from o that must fail with error; the message must contain needle. */
static void context_refused(const netutil_tls_options *o, int server_side, int error, const char *needle) {
        netutil_tls_context *ctx = NULL;
        _cleanup_(freep) char *message = NULL;

        ck_assert_int_eq(netutil_tls_context_new(o, server_side, &ctx, &message), error);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(message);
        ck_assert_msg(strstr(message, needle), "message \"%s\" lacks \"%s\"", message, needle);
        /* And the same without asking for the message. */
        ck_assert_int_eq(netutil_tls_context_new(o, server_side, &ctx, NULL), error);
        ck_assert_ptr_null(ctx);
}

START_TEST(test_context_missing_certfile_is_enoent_naming_it) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        o.certfile = pki.missing;
        o.keyfile = pki.srv_key;
        snprintf(expected, sizeof(expected), "certfile \"%s\" does not exist", pki.missing);
        context_refused(&o, 1, -ENOENT, expected);
        context_refused(&o, 0, -ENOENT, expected);
}
END_TEST

START_TEST(test_context_missing_keyfile_is_enoent_naming_it) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        o.certfile = pki.srv;
        o.keyfile = pki.missing;
        snprintf(expected, sizeof(expected), "keyfile \"%s\" does not exist", pki.missing);
        context_refused(&o, 1, -ENOENT, expected);
}
END_TEST

START_TEST(test_context_missing_ca_certs_is_enoent_naming_it) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        o.ca_certs = pki.missing;
        snprintf(expected, sizeof(expected), "ca_certs \"%s\" does not exist", pki.missing);
        context_refused(&o, 0, -ENOENT, expected);
}
END_TEST

START_TEST(test_context_directory_as_file_is_eisdir) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        o.ca_certs = pki.dir;
        snprintf(expected, sizeof(expected), "ca_certs \"%s\" is a directory", pki.dir);
        context_refused(&o, 0, -EISDIR, expected);
}
END_TEST

START_TEST(test_context_keyfile_without_certfile_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        o.keyfile = pki.srv_key;
        context_refused(&o, 0, -EINVAL, "keyfile given without certfile");
        context_refused(&o, 1, -EINVAL, "keyfile given without certfile");
}
END_TEST

START_TEST(test_context_certfile_without_key_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        o.certfile = pki.srv;
        snprintf(expected, sizeof(expected), "certfile \"%s\" holds no private key and no keyfile was given",
                 pki.srv);
        context_refused(&o, 1, -EINVAL, expected);
        context_refused(&o, 0, -EINVAL, expected);
}
END_TEST

START_TEST(test_context_key_of_another_certificate_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[384];

        o.certfile = pki.srv;
        o.keyfile = pki.cli_key;
        snprintf(expected, sizeof(expected),
                 "the private key in \"%s\" does not match the certificate in \"%s\"", pki.cli_key, pki.srv);
        context_refused(&o, 1, -EINVAL, expected);
}
END_TEST

START_TEST(test_context_garbage_certfile_is_ebadmsg) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        snprintf(expected, sizeof(expected), "certfile \"%s\" does not parse", pki.garbage);
        o.certfile = pki.garbage;
        o.keyfile = pki.srv_key;
        context_refused(&o, 1, -EBADMSG, expected);
        /* Garbage is garbage, not a certificate without a key. */
        o.keyfile = NULL;
        context_refused(&o, 1, -EBADMSG, expected);
}
END_TEST

START_TEST(test_context_key_as_certfile_is_ebadmsg) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        snprintf(expected, sizeof(expected), "certfile \"%s\" does not parse", pki.srv_key);
        o.certfile = pki.srv_key;
        o.keyfile = pki.srv_key;
        context_refused(&o, 1, -EBADMSG, expected);
}
END_TEST

START_TEST(test_context_garbage_keyfile_is_ebadmsg) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        snprintf(expected, sizeof(expected), "keyfile \"%s\" holds no private key", pki.garbage);
        o.certfile = pki.srv;
        o.keyfile = pki.garbage;
        context_refused(&o, 1, -EBADMSG, expected);
}
END_TEST

START_TEST(test_context_garbage_ca_certs_is_ebadmsg) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char expected[256];

        snprintf(expected, sizeof(expected), "ca_certs \"%s\" holds no certificate", pki.garbage);
        o.ca_certs = pki.garbage;
        context_refused(&o, 0, -EBADMSG, expected);
        o.certfile = pki.combined;
        context_refused(&o, 1, -EBADMSG, expected);
        o.certfile = NULL;
        /* An empty file holds no certificate either. */
        o.ca_certs = "/dev/null";
        context_refused(&o, 0, -EBADMSG, "ca_certs \"/dev/null\" holds no certificate");
}
END_TEST

START_TEST(test_context_bad_priority_is_enoprotoopt_with_its_position) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        o.priority = "NORMAL:+BOGUS";
        context_refused(&o, 0, -ENOPROTOOPT,
                        "invalid priority string \"NORMAL:+BOGUS\" at offset 7: \"+BOGUS\"");
        o.priority = "";
        context_refused(&o, 0, -ENOPROTOOPT, "invalid priority string \"\" at offset 0");
}
END_TEST

START_TEST(test_context_priority_without_versions_is_enoprotoopt) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        o.priority = "NORMAL:-VERS-ALL";
        context_refused(&o, 0, -ENOPROTOOPT,
                        "priority string \"NORMAL:-VERS-ALL\" leaves no protocol version or cipher suite");
}
END_TEST

START_TEST(test_context_good_priority_is_accepted) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        o.priority = "NORMAL:-VERS-TLS1.3";
        o.cert_reqs = NETUTIL_CERT_NONE;
        netutil_tls_context_free(context_new(&o, 0));
}
END_TEST

START_TEST(test_context_cert_reqs_out_of_range_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        const int bad[] = {-2, 3, 5, 1000};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                o.cert_reqs = bad[i];
                context_refused(&o, 0, -EINVAL, "invalid value for cert_reqs");
                context_refused(&o, 1, -EINVAL, "invalid value for cert_reqs");
        }
}
END_TEST

START_TEST(test_context_server_without_certificate_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        context_refused(&o, 1, -EINVAL, "a server context needs a certfile");
        o.ca_certs = pki.ca;
        o.cert_reqs = NETUTIL_CERT_REQUIRED;
        context_refused(&o, 1, -EINVAL, "a server context needs a certfile");
}
END_TEST

START_TEST(test_context_accepts_every_valid_cert_reqs_on_both_sides) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;

        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        o.ca_certs = pki.ca;
        for (int reqs = NETUTIL_CERT_DEFAULT; reqs <= NETUTIL_CERT_REQUIRED; reqs++) {
                o.cert_reqs = reqs;
                netutil_tls_context_free(context_new(&o, 0));
                netutil_tls_context_free(context_new(&o, 1));
        }
}
END_TEST

START_TEST(test_context_success_clears_ret_error_and_null_is_fine) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        char *error = (char *) "untouched";

        o.certfile = pki.combined;
        ck_assert_int_eq(netutil_tls_context_new(&o, 1, &ctx, &error), 0);
        ck_assert_ptr_nonnull(ctx);
        ck_assert_ptr_null(error);
        ck_assert_ptr_null(netutil_tls_context_free(ctx));
        ctx = NULL;
        ck_assert_int_eq(netutil_tls_context_new(&o, 1, &ctx, NULL), 0);
        ck_assert_ptr_null(netutil_tls_context_free(ctx));
        ck_assert_ptr_null(netutil_tls_context_free(NULL));
}
END_TEST

START_TEST(test_context_null_arguments_are_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        char *error = (char *) "untouched";

        ck_assert_int_eq(netutil_tls_context_new(NULL, 0, &ctx, &error), -EINVAL);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(netutil_tls_context_new(&o, 0, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- Wrapping, and the session calls without a peer ---------------------------------- */

/* Wraps one end of a fresh socketpair with ctx; must fail with error and a message
 * containing needle. */
static void wrap_refused(netutil_tls_context *ctx, const char *hostname, int server_side, int error,
                         const char *needle) {
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        netutil_tls_session *s = NULL;
        _cleanup_(freep) char *message = NULL;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        ck_assert_int_eq(netutil_tls_wrap(ctx, a, hostname, server_side, &s, &message), error);
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(message);
        ck_assert_msg(strstr(message, needle), "message \"%s\" lacks \"%s\"", message, needle);
        ck_assert_int_eq(netutil_tls_wrap(ctx, a, hostname, server_side, &s, NULL), error);
        ck_assert_ptr_null(s);
}

START_TEST(test_wrap_server_with_hostname_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;

        o.certfile = pki.srv;
        o.keyfile = pki.srv_key;
        ctx = context_new(&o, 1);
        wrap_refused(ctx, "localhost", 1, -EINVAL, "server_hostname can only be specified in client mode");
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_wrap_client_verifying_without_hostname_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;

        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        wrap_refused(ctx, NULL, 0, -EINVAL, "check_hostname requires server_hostname");
        netutil_tls_context_free(ctx);

        /* OPTIONAL keeps checking the hostname, as in Tornado. */
        o.cert_reqs = NETUTIL_CERT_OPTIONAL;
        ctx = context_new(&o, 0);
        wrap_refused(ctx, NULL, 0, -EINVAL, "check_hostname requires server_hostname");
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_wrap_empty_or_leading_dot_hostname_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;

        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        wrap_refused(ctx, "", 0, -EINVAL,
                     "server_hostname cannot be an empty string or start with a leading dot");
        wrap_refused(ctx, ".example.test", 0, -EINVAL, "server_hostname cannot be an empty string");
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_wrap_server_mode_with_client_context_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;

        /* Even one holding a certificate. */
        o.certfile = pki.combined;
        o.ca_certs = pki.ca;
        ctx = context_new(&o, 0);
        wrap_refused(ctx, NULL, 1, -EINVAL, "a client context cannot wrap a server session");
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_wrap_client_mode_with_server_context_is_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;

        o.certfile = pki.combined;
        ctx = context_new(&o, 1);
        wrap_refused(ctx, "localhost", 0, -EINVAL, "a server context cannot wrap a client session");
        wrap_refused(ctx, NULL, 0, -EINVAL, "a server context cannot wrap a client session");
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_wrap_bad_arguments_are_einval) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        char *error = (char *) "untouched";

        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        ck_assert_int_eq(netutil_tls_wrap(NULL, 0, NULL, 0, &s, &error), -EINVAL);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(netutil_tls_wrap(ctx, -1, NULL, 0, &s, NULL), -EINVAL);
        ck_assert_int_eq(netutil_tls_wrap(ctx, 0, NULL, 0, NULL, NULL), -EINVAL);
        ck_assert_ptr_null(s);
        netutil_tls_context_free(ctx);

        ck_assert_int_eq(netutil_tls_handshake(NULL), -EINVAL);
        ck_assert_int_eq(netutil_tls_read(NULL, NULL, 0), -EINVAL);
        ck_assert_int_eq(netutil_tls_write(NULL, NULL, 0), -EINVAL);
        ck_assert_int_eq(netutil_tls_want_write(NULL), -EINVAL);
        ck_assert_ptr_null(netutil_tls_session_error(NULL));
        ck_assert_ptr_null(netutil_tls_server_name(NULL));
        ck_assert_ptr_null(netutil_tls_session_free(NULL));
}
END_TEST

START_TEST(test_wrap_client_cert_reqs_none_needs_no_hostname) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, NULL, 0);
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_session_io_before_handshake_is_enotconn) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        char buf[4];
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, "localhost", 0);
        ck_assert_int_eq(netutil_tls_read(s, buf, sizeof(buf)), -ENOTCONN);
        ck_assert_str_eq(netutil_tls_session_error(s), "the TLS handshake has not completed");
        ck_assert_int_eq(netutil_tls_write(s, "x", 1), -ENOTCONN);
        ck_assert_ptr_nonnull(netutil_tls_session_error(s));
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_session_free_leaves_the_fd_open) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        char c = 0;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, NULL, 0);
        ck_assert_ptr_null(netutil_tls_session_free(s));
        ck_assert_ptr_null(netutil_tls_context_free(ctx));
        /* Open, still connected, and nothing was sent on it (no handshake happened). */
        ck_assert_int_ge(fcntl(a, F_GETFD), 0);
        ck_assert_int_eq(recv(b, &c, 1, MSG_DONTWAIT), -1);
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_int_eq(write(a, "k", 1), 1);
        ck_assert_int_eq(read(b, &c, 1), 1);
        ck_assert_int_eq(c, 'k');
}
END_TEST

START_TEST(test_handshake_ended_by_peer_hanging_up_is_econnreset) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        char buf[4096];
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, NULL, 0);
        /* The ClientHello goes out, the peer reads it and hangs up without a word. */
        ck_assert_int_eq(netutil_tls_handshake(s), -EAGAIN);
        ck_assert_int_eq(netutil_tls_want_write(s), 0);
        ck_assert_ptr_null(netutil_tls_session_error(s));
        ck_assert_int_gt(read(b, buf, sizeof(buf)), 0);
        b = safe_close(b);
        ck_assert_int_eq(netutil_tls_handshake(s), -ECONNRESET);
        ck_assert_str_eq(netutil_tls_session_error(s), "the connection ended without a TLS close_notify");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_handshake_reset_by_peer_is_econnreset) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, NULL, 0);
        /* The peer closes with the ClientHello unread: a unix socket reports a reset. */
        ck_assert_int_eq(netutil_tls_handshake(s), -EAGAIN);
        b = safe_close(b);
        ck_assert_int_eq(netutil_tls_handshake(s), -ECONNRESET);
        ck_assert_str_eq(netutil_tls_session_error(s), "receiving on the socket: Connection reset by peer");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
}
END_TEST

START_TEST(test_handshake_on_closed_peer_is_the_socket_errno) {
        netutil_tls_options o = NETUTIL_TLS_OPTIONS_INIT;
        netutil_tls_context *ctx = NULL;
        netutil_tls_session *s = NULL;
        _cleanup_(closep) int a = -EBADF, b = -EBADF;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        o.cert_reqs = NETUTIL_CERT_NONE;
        ctx = context_new(&o, 0);
        s = wrap(ctx, a, NULL, 0);
        /* Nobody to send the ClientHello to: EPIPE from send(), and no SIGPIPE (which would
         * kill this test). */
        b = safe_close(b);
        ck_assert_int_eq(netutil_tls_handshake(s), -EPIPE);
        ck_assert_str_eq(netutil_tls_session_error(s), "sending on the socket: Broken pipe");
        netutil_tls_session_free(s);
        netutil_tls_context_free(ctx);
}
END_TEST

/* ---- Suite -------------------------------------------------------------------------- */

static TCase *tcase_new(Suite *s, const char *name) {
        return test_tcase_add(s, name, TLS_TEST_TIMEOUT, test_fd_count_setup, test_fd_count_teardown, NULL);
}

static Suite *tls_suite(void) {
        Suite *s = suite_create("tls");
        TCase *tc = NULL;

        tc = tcase_new(s, "client");
        tcase_set_tags(tc, "netns");
        tcase_add_test(tc, test_client_verifies_localhost_and_echoes_data);
        tcase_add_test(tc, test_client_verifies_second_dns_name_of_certificate);
        tcase_add_test(tc, test_client_wrong_hostname_is_ekeyrejected_naming_the_mismatch);
        tcase_add_test(tc, test_client_unknown_ca_is_ekeyrejected_as_issuer_unknown);
        tcase_add_test(tc, test_client_without_ca_certs_uses_system_store_which_lacks_test_ca);
        tcase_add_test(tc, test_client_optional_verifies_like_required);
        tcase_add_test(tc, test_client_ip_literal_hostname_is_checked_against_the_certificate);
        tcase_add_test(tc, test_client_priority_tls12_handshakes_and_echoes);
        tcase_add_test(tc, test_client_priority_shared_with_no_server_is_eproto);
        tcase_add_test(tc, test_client_cert_reqs_none_accepts_unknown_ca_and_wrong_name);
        tcase_add_test(tc, test_client_cert_reqs_none_without_hostname_handshakes);
        tcase_add_test(tc, test_client_context_freed_before_session_stays_usable);
        tcase_add_test(tc, test_client_presents_certificate_to_server_requiring_one);
        tcase_add_test(tc, test_client_without_certificate_is_refused_by_server_requiring_one);
        tcase_add_test(tc, test_client_nonblocking_handshake_polls_with_want_write);

        tc = tcase_new(s, "server");
        tcase_set_tags(tc, "netns");
        tcase_add_test(tc, test_server_handshakes_and_exchanges_data_with_gnutls_cli);
        tcase_add_test(tc, test_server_with_key_inside_certfile_serves_gnutls_cli);
        tcase_add_test(tc, test_server_sees_sni_name_sent_by_client);
        tcase_add_test(tc, test_server_without_sni_from_client_has_no_server_name);
        tcase_add_test(tc, test_server_requiring_client_cert_refuses_client_without_one);
        tcase_add_test(tc, test_server_requiring_client_cert_accepts_client_with_one);
        tcase_add_test(tc, test_server_requiring_client_cert_refuses_one_from_unknown_ca);
        tcase_add_test(tc, test_server_optional_client_cert_accepts_client_without_one);
        tcase_add_test(tc, test_server_nonblocking_handshake_polls_with_want_write);

        tc = tcase_new(s, "pair");
        tcase_add_test(tc, test_own_client_and_server_agree_on_sni_and_exchange_data);
        tcase_add_test(tc, test_read_after_peer_closed_without_close_notify_is_econnreset);
        tcase_add_test(tc, test_nonblocking_write_waits_to_write_while_peer_does_not_read);

        tc = tcase_new(s, "options");
        tcase_add_test(tc, test_context_missing_certfile_is_enoent_naming_it);
        tcase_add_test(tc, test_context_missing_keyfile_is_enoent_naming_it);
        tcase_add_test(tc, test_context_missing_ca_certs_is_enoent_naming_it);
        tcase_add_test(tc, test_context_directory_as_file_is_eisdir);
        tcase_add_test(tc, test_context_keyfile_without_certfile_is_einval);
        tcase_add_test(tc, test_context_certfile_without_key_is_einval);
        tcase_add_test(tc, test_context_key_of_another_certificate_is_einval);
        tcase_add_test(tc, test_context_garbage_certfile_is_ebadmsg);
        tcase_add_test(tc, test_context_key_as_certfile_is_ebadmsg);
        tcase_add_test(tc, test_context_garbage_keyfile_is_ebadmsg);
        tcase_add_test(tc, test_context_garbage_ca_certs_is_ebadmsg);
        tcase_add_test(tc, test_context_bad_priority_is_enoprotoopt_with_its_position);
        tcase_add_test(tc, test_context_priority_without_versions_is_enoprotoopt);
        tcase_add_test(tc, test_context_good_priority_is_accepted);
        tcase_add_test(tc, test_context_cert_reqs_out_of_range_is_einval);
        tcase_add_test(tc, test_context_server_without_certificate_is_einval);
        tcase_add_test(tc, test_context_accepts_every_valid_cert_reqs_on_both_sides);
        tcase_add_test(tc, test_context_success_clears_ret_error_and_null_is_fine);
        tcase_add_test(tc, test_context_null_arguments_are_einval);

        tc = tcase_new(s, "wrap");
        tcase_add_test(tc, test_wrap_server_with_hostname_is_einval);
        tcase_add_test(tc, test_wrap_client_verifying_without_hostname_is_einval);
        tcase_add_test(tc, test_wrap_empty_or_leading_dot_hostname_is_einval);
        tcase_add_test(tc, test_wrap_server_mode_with_client_context_is_einval);
        tcase_add_test(tc, test_wrap_client_mode_with_server_context_is_einval);
        tcase_add_test(tc, test_wrap_bad_arguments_are_einval);
        tcase_add_test(tc, test_wrap_client_cert_reqs_none_needs_no_hostname);
        tcase_add_test(tc, test_session_io_before_handshake_is_enotconn);
        tcase_add_test(tc, test_session_free_leaves_the_fd_open);
        tcase_add_test(tc, test_handshake_ended_by_peer_hanging_up_is_econnreset);
        tcase_add_test(tc, test_handshake_reset_by_peer_is_econnreset);
        tcase_add_test(tc, test_handshake_on_closed_peer_is_the_socket_errno);

        return s;
}

int main(void) {
        int ret;

        /* 77: automake's "skipped", when GnuTLS's tools are not installed. */
        if (!find_program("certtool", certtool_bin, sizeof(certtool_bin)) ||
            !find_program("gnutls-serv", serv_bin, sizeof(serv_bin)) ||
            !find_program("gnutls-cli", cli_bin, sizeof(cli_bin))) {
                fprintf(stderr, "check-tls: certtool, gnutls-serv and gnutls-cli are needed\n");
                return 77;
        }
        if (!pki_make()) {
                fprintf(stderr, "check-tls: could not make the test certificates in %s\n", pki.dir);
                pki_remove();
                return 99; /* automake's "hard error" */
        }

        ret = test_run_suite(tls_suite(), false);
        pki_remove();
        return ret;
}
