#!/bin/sh
# The README's example program, run as the README says. The ```c block after the line
# "<!-- example: tls-echo.c -->" in README.md is extracted, compiled against the built
# libnetutil, and run under the real daemon (user mode, temporary socket) with
#   netutilctl bind --address 127.0.0.1 PORT -- ./tls-echo cert.pem key.pem
# and a self-signed certificate from certtool; gnutls-cli sends a line, twice, and the
# same line must come back; SIGTERM must end tls-echo with status 0.
#
# In a network namespace of its own when unshare and ip allow (port 8443, as the README),
# else on the host on a port the daemon just found free. Every wait is bounded, every
# process started here is stopped by its pid, the temporary directory is removed.
# Exit 0 pass, 1 fail, 77 skip (certtool or gnutls-cli missing).
#
# Environment (from Makefile.am's AM_TESTS_ENVIRONMENT): abs_top_srcdir, abs_top_builddir,
# CC, SYSTEMD_CFLAGS, SYSTEMD_LIBS, NETUTILD_BIN, NETUTILCTL_BIN.
set -eu

me=readme-example
dir=
daemon_pid=
echo_pid=

show() { # FILE: its contents on stderr, if it has any
        if [ -n "$dir" ] && [ -s "$dir/$1" ]; then
                echo "--- $1:" >&2
                sed 's/^/    /' "$dir/$1" >&2
        fi
}

fail() {
        echo "$me: FAIL: $*" >&2
        for f in build.log netutild.log tls-echo.log cli.out cli.err cli.log; do
                show "$f"
        done
        exit 1
}

skip() {
        echo "$me: SKIP: $*" >&2
        exit 77
}

# alive PID: true while PID runs; a zombie (exited, not yet reaped) does not count.
alive() {
        state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
        [ -n "$state" ] && [ "$state" != Z ]
}

# stop PID: SIGTERM, up to 5 s, then SIGKILL; reaps it and returns its exit status.
stop() {
        i=0
        kill -TERM "$1" 2>/dev/null || :
        while alive "$1" && [ "$i" -lt 50 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        if alive "$1"; then
                echo "$me: pid $1 ignored SIGTERM for 5 s, killing it" >&2
                kill -KILL "$1" 2>/dev/null || :
        fi
        status=0
        wait "$1" || status=$?
        return "$status"
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
        if [ -n "$echo_pid" ]; then
                stop "$echo_pid" || :
        fi
        if [ -n "$daemon_pid" ]; then
                stop "$daemon_pid" || :
        fi
        if [ -n "$dir" ]; then
                cd /
                rm -rf "$dir"
        fi
}

abs_top_srcdir=${abs_top_srcdir:-}
abs_top_builddir=${abs_top_builddir:-}
CC=${CC:-}
NETUTILD_BIN=${NETUTILD_BIN:-}
NETUTILCTL_BIN=${NETUTILCTL_BIN:-}
SYSTEMD_CFLAGS=${SYSTEMD_CFLAGS:-}
SYSTEMD_LIBS=${SYSTEMD_LIBS:-}
for v in "$abs_top_srcdir" "$abs_top_builddir" "$CC" "$NETUTILD_BIN" "$NETUTILCTL_BIN"; do
        [ -n "$v" ] || fail "abs_top_srcdir, abs_top_builddir, CC, NETUTILD_BIN and NETUTILCTL_BIN" \
                "must be set (run it through make check)"
done
command -v certtool >/dev/null 2>&1 || skip "certtool not found (Debian: gnutls-bin)"
command -v gnutls-cli >/dev/null 2>&1 || skip "gnutls-cli not found (Debian: gnutls-bin)"

# Once, before anything starts: into a new network namespace (as root, else as a user
# namespace's root), with its loopback up. Nothing else can then hold or reach the port.
if [ -z "${README_EXAMPLE_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 &&
        command -v ip >/dev/null 2>&1; then
        for how in "-n" "-r -n"; do
                # shellcheck disable=SC2086 # $how is two words on purpose
                if unshare $how ip link set lo up 2>/dev/null; then
                        README_EXAMPLE_NETNS=1
                        export README_EXAMPLE_NETNS
                        # shellcheck disable=SC2086,SC2016 # "$0" is the inner shell's
                        exec unshare $how sh -c 'ip link set lo up && exec sh "$0"' "$0"
                fi
        done
fi

trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# No inherited socket activation, notification socket or daemon address.
unset LISTEN_FDS LISTEN_PID LISTEN_FDNAMES NOTIFY_SOCKET NETUTILD_SOCKET NETUTIL_SCOPE

dir=$(mktemp -d "${TMPDIR:-/tmp}/readme-example.XXXXXX")
cd "$dir"

# ---- the program, from the README -------------------------------------------------------
awk '
        /^<!-- example: tls-echo\.c -->$/ { state = 1; next }
        state == 1 && /^```c$/ { state = 2; next }
        state == 1 && /[^[:space:]]/ { exit 3 }
        state == 2 && /^```$/ { state = 3; exit }
        state == 2 { print }
        END { if (state != 3) exit 3 }
' "$abs_top_srcdir/README.md" >tls-echo.c ||
        fail "no \`\`\`c block right after <!-- example: tls-echo.c --> in $abs_top_srcdir/README.md"
[ -s tls-echo.c ] || fail "the example block in README.md is empty"

# Compiled as a user would (no project flags) but warning-free, against the headers of the
# source tree and the library just built; -no-install links it to build/.libs directly.
# shellcheck disable=SC2086 # CC and the *_CFLAGS/*_LIBS are word lists
$CC -Wall -Wextra -Wno-unused-parameter -Werror -I"$abs_top_srcdir/client" $SYSTEMD_CFLAGS \
        -c tls-echo.c -o tls-echo.o >build.log 2>&1 || fail "the README example does not compile"
# shellcheck disable=SC2086
"$abs_top_builddir/libtool" --quiet --tag=CC --mode=link $CC -no-install -o tls-echo tls-echo.o \
        "$abs_top_builddir/libnetutil.la" $SYSTEMD_LIBS >>build.log 2>&1 ||
        fail "the README example does not link against $abs_top_builddir/libnetutil.la"

# ---- a self-signed certificate, as the README makes it -----------------------------------
printf '%s\n' 'cn = localhost' 'dns_name = localhost' 'ip_address = 127.0.0.1' 'expiration_days = 2' \
        'tls_www_server' >cert.cfg
if ! certtool --generate-privkey --key-type ecdsa --outfile key.pem >certtool.log 2>&1 ||
        ! certtool --generate-self-signed --load-privkey key.pem --template cert.cfg \
                --outfile cert.pem >>certtool.log 2>&1; then
        show certtool.log
        fail "certtool could not make the certificate"
fi

# ---- the daemon ------------------------------------------------------------------------------
mkdir state
"$NETUTILD_BIN" --user --socket "$dir/s.sock" --state-dir "$dir/state" >netutild.log 2>&1 &
daemon_pid=$!
i=0
until "$NETUTILCTL_BIN" --socket "$dir/s.sock" status >/dev/null 2>&1; do
        if ! alive "$daemon_pid"; then
                pid=$daemon_pid
                daemon_pid=
                status=0
                wait "$pid" || status=$?
                fail "netutild exited with status $status before it was ready"
        fi
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "netutild did not answer status within 10 s"
        sleep 0.1
done

if [ -n "${README_EXAMPLE_NETNS:-}" ]; then
        port=8443
else
        # A port the daemon finds free now, closed again when netutilctl exits.
        port=$("$NETUTILCTL_BIN" --socket "$dir/s.sock" bind --address 127.0.0.1 0 | awk '{ print $NF }') ||
                fail "netutilctl bind --address 127.0.0.1 0 failed"
        case $port in
        '' | *[!0-9]*) fail "no port from netutilctl bind --address 127.0.0.1 0: '$port'" ;;
        esac
fi

# ---- the example, as the README runs it --------------------------------------------------
"$NETUTILCTL_BIN" --socket "$dir/s.sock" bind --address 127.0.0.1 "$port" -- ./tls-echo cert.pem key.pem \
        >tls-echo.log 2>&1 &
echo_pid=$!
# netutilctl execs tls-echo (same pid) only once the socket is bound and listening.
i=0
while [ "$(cat "/proc/$echo_pid/comm" 2>/dev/null)" != tls-echo ]; do
        if ! alive "$echo_pid"; then
                pid=$echo_pid
                echo_pid=
                status=0
                wait "$pid" || status=$?
                fail "netutilctl bind ... -- ./tls-echo exited with status $status"
        fi
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "tls-echo was not started within 10 s"
        sleep 0.1
done

# gnutls-cli stops at the end of its input, and a close_notify sent while the server closes
# can reset the connection before the echo is read: keep its input open until the echo is
# in (at most 5 s).
for round in 1 2; do
        line="hello $round from $me"
        : >cli.out
        status=0
        # shellcheck disable=SC2094 # the feeder only reads cli.out, to learn when to stop
        {
                printf '%s\n' "$line"
                i=0
                while [ "$i" -lt 50 ] && ! grep -qxF "$line" cli.out; do
                        sleep 0.1
                        i=$((i + 1))
                done
        } | timeout 10 gnutls-cli --logfile="$dir/cli.log" --insecure -p "$port" 127.0.0.1 \
                >cli.out 2>cli.err || status=$?
        grep -qxF "$line" cli.out ||
                fail "round $round: '$line' did not come back (gnutls-cli status $status)"
        alive "$echo_pid" || fail "tls-echo exited after round $round"
done

# ---- stop, each by its pid -------------------------------------------------------------------
pid=$echo_pid
echo_pid=
status=0
stop "$pid" || status=$?
[ "$status" -eq 0 ] || fail "tls-echo exited with status $status on SIGTERM (0 expected)"
[ ! -s tls-echo.log ] || fail "tls-echo wrote to stderr"
pid=$daemon_pid
daemon_pid=
status=0
stop "$pid" || status=$?
[ "$status" -eq 0 ] || fail "netutild exited with status $status on SIGTERM (0 expected)"

where="host network"
[ -z "${README_EXAMPLE_NETNS:-}" ] || where="network namespace of its own"
echo "$me: PASS: the README's tls-echo.c echoed over TLS on 127.0.0.1:$port ($where)"
exit 0
