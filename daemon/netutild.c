/* SPDX-License-Identifier: MIT */

/*
 * netutild's entry point: options, system or user mode defaults, signals and the
 * service-manager notifications around the event loop. Owns process lifetime; must not
 * handle requests (manager.c) or parse the config (config.c).
 */

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "names-index.h"
#include "notify.h"

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) notify_send(true, "STOPPING=1\nSTATUS=Stopping.");
        return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        char status[256];

        (void) notify_send(true, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading configuration.",
                           now_usec());
        (void) manager_reload(m); /* on failure the running configuration stays, and it says so */
        if (manager_format_status(m, status, sizeof(status)) < 0)
                status[0] = '\0';
        (void) notify_send(true, "READY=1\nSTATUS=%s", status);
        return 0;
}

/* The service manager's watchdog: WATCHDOG=1 every half of $WATCHDOG_USEC, from the event
 * loop, so a stuck loop stops the pings. Not sd_event_set_watchdog(): it pings through
 * libsystemd's sd_notify(), which blocks while the manager's queue is full; here a full
 * queue costs one ping (the next comes half a period later, before the deadline). */
static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        const uint64_t *period = userdata;

        (void) notify_send(false, "WATCHDOG=1");
        if (sd_event_source_set_time(s, usec + *period) < 0)
                (void) sd_event_source_set_time_relative(s, *period);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int watchdog_start(Manager *m) {
        static uint64_t period; /* half of $WATCHDOG_USEC */
        uint64_t usec = 0;
        int r;

        r = sd_watchdog_enabled(false, &usec); /* > 0: $WATCHDOG_USEC set, $WATCHDOG_PID ours or unset */
        if (r <= 0)
                return r;
        period = usec / 2;
        /* Accuracy a 20th of the period: late by that at most, still well before the deadline. */
        return sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, period, period / 20, on_watchdog,
                                          &period);
}

static void help(void) {
        printf("Usage: netutild [OPTIONS]\n\n"
               "Binds sockets for other processes and resolves names with central overrides.\n\n"
               "  -c, --config FILE     configuration file (default %s/netutild/netutild.conf;\n"
               "                        user mode: the embedded default)\n"
               "  -s, --socket PATH     control socket (default %s; user mode:\n"
               "                        $XDG_RUNTIME_DIR/netutild/netutild.sock)\n"
               "  -S, --state-dir DIR   state directory (default %s/lib/netutild; user mode:\n"
               "                        $XDG_STATE_HOME/netutild)\n"
               "  -u, --user            user mode even as root: embedded default configuration\n"
               "      --takeover        take the control socket and every held socket over from the\n"
               "                        netutild running on the same --socket, which then exits\n"
               "      --dump-config     print the embedded default configuration and exit\n"
               "  -h, --help            show this help\n"
               "      --version         show the version\n",
               SYSCONFDIR, NETUTILD_SOCKET_PATH, LOCALSTATEDIR);
}

static int strdup_to(char **dst, const char *src) {
        char *s = strdup(src);
        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static int user_path(const char *env, const char *home_fallback, const char *suffix, char **ret) {
        const char *base = getenv(env), *home;
        char buf[4096];

        if (base && base[0] == '/')
                snprintf(buf, sizeof(buf), "%s/%s", base, suffix);
        else if (home_fallback && (home = getenv("HOME")) && home[0] == '/')
                snprintf(buf, sizeof(buf), "%s/%s/%s", home, home_fallback, suffix);
        else
                return -ENXIO;
        return strdup_to(ret, buf);
}

static int parse_argv(Manager *m, int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_DUMP_CONFIG, ARG_TAKEOVER };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "socket", required_argument, NULL, 's' },
                { "state-dir", required_argument, NULL, 'S' },
                { "user", no_argument, NULL, 'u' },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "takeover", no_argument, NULL, ARG_TAKEOVER },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c, r;

        m->user_mode = geteuid() != 0;
        while ((c = getopt_long(argc, argv, "c:s:S:uh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (strdup_to(&m->config_path, optarg) < 0)
                                return log_oom();
                        break;
                case 's':
                        if (strdup_to(&m->socket_path, optarg) < 0)
                                return log_oom();
                        break;
                case 'S':
                        if (strdup_to(&m->state_dir, optarg) < 0)
                                return log_oom();
                        break;
                case 'u':
                        m->user_mode = true;
                        break;
                case ARG_TAKEOVER:
                        m->takeover = true;
                        break;
                case ARG_DUMP_CONFIG:
                        fputs(config_embedded_default, stdout);
                        return 0;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("netutild %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'; see --help.", argv[optind]);
                return -EINVAL;
        }

        if (!m->user_mode) {
                if (!m->config_path) {
                        /* A system without a config file runs on the embedded default. */
                        if (strdup_to(&m->config_path, SYSCONFDIR "/netutild/netutild.conf") < 0)
                                return log_oom();
                        m->config_missing_ok = true;
                }
                if (!m->socket_path && strdup_to(&m->socket_path, NETUTILD_SOCKET_PATH) < 0)
                        return log_oom();
                if (!m->state_dir && strdup_to(&m->state_dir, LOCALSTATEDIR "/lib/netutild") < 0)
                        return log_oom();
        } else {
                if (!m->socket_path) {
                        r = user_path("XDG_RUNTIME_DIR", NULL, "netutild/netutild.sock", &m->socket_path);
                        if (r < 0)
                                return log_error_errno(r, "User mode needs $XDG_RUNTIME_DIR or --socket.");
                }
                if (!m->state_dir) {
                        r = user_path("XDG_STATE_HOME", ".local/state", "netutild", &m->state_dir);
                        if (r < 0)
                                return log_error_errno(r, "User mode needs $XDG_STATE_HOME, $HOME or --state-dir.");
                }
        }
        return 1;
}

static bool usage_error = false;

/* Every client and held socket costs an fd: MaxClients=1024 alone passes the usual soft
 * limit of 1024 (systemd's default LimitNOFILE=1024:524288). Nothing here uses select(),
 * so the soft limit goes up to the hard one; what cannot be had is refused in words. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_warning_errno(errno, "Failed to raise the file descriptor limit: %m");
        }
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        char status[256];
        sigset_t mask;
        int r;

        log_open();

        r = manager_new(&m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m");
        r = parse_argv(m, argc, argv);
        if (r < 0)
                usage_error = true;
        if (r <= 0)
                return r;

        r = manager_load_config(m);
        if (r < 0)
                return r;

        /* Everything we create is private unless made otherwise on purpose (the control
         * socket, unix sockets for clients): never group- or world-accessible by accident. */
        umask(0077);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        r = watchdog_start(m);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        raise_fd_limit();

        r = manager_listen(m);
        if (r < 0)
                return r;
        /* The names index and the rules file as this instance sees the rules, before READY=1
         * and before any client is read. */
        names_index_flush(m);

        log_info("netutild %s running in %s mode, configuration %s, resolver %s.", PACKAGE_VERSION,
                 m->user_mode ? "user" : "system",
                 m->config_path && (!m->config_missing_ok || access(m->config_path, F_OK) >= 0) ? m->config_path
                                                                                                 : "(embedded default)",
                 manager_resolver_name(m));
        if (manager_format_status(m, status, sizeof(status)) < 0)
                status[0] = '\0';
        (void) notify_send(true, "READY=1\nSTATUS=%s", status);

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        if (r < 0) {
                /* Tell the service manager why we could not start. */
                (void) notify_send(true, "ERRNO=%d", -r);
                return usage_error ? 2 : 1;
        }
        return 0;
}
