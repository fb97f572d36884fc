#!/bin/bash
# SPDX-License-Identifier: MIT
#
# netutilctl's help, usage errors, status (with the NSS module's state) and the bash
# completion (shell-completion/bash/netutilctl), against a real netutild on a temporary
# socket. Owns nothing but its temporary directory and the daemon it starts (stopped by
# its pid); every command runs under timeout(1). The NSS cases need root for a private
# mount namespace (unshare -m), where a test nsswitch.conf is bind-mounted over
# /etc/nsswitch.conf and a module file is overlaid on the multiarch library directory;
# without root they are skipped (and said so), the rest still runs.
set -u

ctl=${NETUTILCTL_BIN:-./netutilctl}
daemon_bin=${NETUTILD_BIN:-./netutild}
srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
completion=$srcdir/shell-completion/bash/netutilctl
failures=0
daemon_pid=
dir=$(mktemp -d /tmp/netutil-check-cli.XXXXXX) || exit 99

cleanup() {
        if [ -n "$daemon_pid" ]; then
                kill -TERM "$daemon_pid" 2>/dev/null
                wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$dir"
}
trap cleanup EXIT

fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}

# run CMD...: runs it with 10 s at most; $out, $err and $rc hold what it did.
run() {
        timeout 10 "$@" >"$dir/out" 2>"$dir/err"
        rc=$?
        out=$(cat "$dir/out")
        err=$(cat "$dir/err")
}

# expect_rc WANT WHAT: checks $rc.
expect_rc() {
        [ "$rc" = "$1" ] || fail "$2: exit status $rc, expected $1 (stderr: $err)"
}

# contains HAYSTACK NEEDLE WHAT
contains() {
        case $1 in
        *"$2"*) ;;
        *) fail "$3: '$2' not in: $1" ;;
        esac
}

# lacks HAYSTACK NEEDLE WHAT
lacks() {
        case $1 in
        *"$2"*) fail "$3: '$2' unexpectedly in: $1" ;;
        esac
}

# The long options a help text lists in its Options section, sorted, one per line.
help_options() {
        sed -n '/^Options:/,/^$/p' | grep -oE '^ +(-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' | sort -u
}

commands="status bind bind-unix hold resolve override is-valid-ip help"

# ---- help and usage errors -------------------------------------------------------------

run "$ctl" --help
expect_rc 0 "--help"
for c in $commands; do
        contains "$out" "
  $c" "--help lists command $c"
done
contains "$out" "netutilctl help COMMAND" "--help points to per-command help"

for c in $commands; do
        run "$ctl" help "$c"
        expect_rc 0 "help $c"
        help_text=$out
        case $out in
        "Usage: netutilctl "*) ;;
        *) fail "help $c: does not start with the usage: $out" ;;
        esac
        contains "$out" "Example" "help $c has an example"
        [ -z "$err" ] || fail "help $c wrote to stderr: $err"
        [ "$c" = is-valid-ip ] && continue # STRING is taken as it is, "--help" included
        for h in --help -h; do
                run "$ctl" "$c" "$h"
                expect_rc 0 "$c $h"
                [ "$out" = "$help_text" ] || fail "$c $h differs from 'help $c'"
        done
done
# Subcommands share their command's help, wherever --help stands.
for args in "override set --help" "override del HOST --help" "override list --help" "hold list --help" \
        "hold release --help" "bind 80 --help" "resolve --family ipv4 --help" "--json status --help"; do
        run "$ctl" $args
        expect_rc 0 "$args"
        contains "$out" "Usage: netutilctl" "$args"
done
# is-valid-ip keeps its contract: "--help" is simply not an address.
run "$ctl" is-valid-ip --help
expect_rc 1 "is-valid-ip --help"
[ "$out" = no ] || fail "is-valid-ip --help printed '$out', expected 'no'"

# Usage errors: exit 2, "netutilctl: message" on stderr, nothing on stdout.
for args in "" "frobnicate" "help nope" "help status bind" "status extra" "bind --bogus 80" "bind" \
        "bind-unix" "hold" "hold frob" "resolve" "resolve --family ipv5 x" "override" "override frob" \
        "override set onlyhost" "is-valid-ip"; do
        run "$ctl" $args
        expect_rc 2 "usage error '$args'"
        case $err in
        "netutilctl: "*) ;;
        *) fail "usage error '$args': stderr is '$err'" ;;
        esac
        [ -z "$out" ] || fail "usage error '$args' wrote to stdout: $out"
done
run "$ctl" help nope
contains "$err" "netutilctl: help: unknown command 'nope'" "help nope"

# Ports are 0-65535 in decimal or a name /etc/services has, and backlogs 0 or more: anything
# else is a usage error in words, before any daemon is asked (getaddrinfo() bound "70000" as
# port 4464).
while IFS='|' read -r args want; do
        run "$ctl" $args
        expect_rc 2 "usage error '$args'"
        [ "$err" = "netutilctl: $want
Try 'netutilctl --help'." ] || fail "usage error '$args': stderr is '$err', expected 'netutilctl: $want'"
        [ -z "$out" ] || fail "usage error '$args' wrote to stdout: $out"
done <<'ROWS'
bind 70000|bind: invalid PORT '70000': expected 0 to 65535 or a service name
bind 65536|bind: invalid PORT '65536': expected 0 to 65535 or a service name
bind 000000065536|bind: invalid PORT '000000065536': expected 0 to 65535 or a service name
bind abc|bind: invalid PORT 'abc': expected 0 to 65535 or a service name
bind +80|bind: invalid PORT '+80': expected 0 to 65535 or a service name
bind 8O|bind: invalid PORT '8O': expected 0 to 65535 or a service name
bind --udp no-such-service|bind: invalid PORT 'no-such-service': expected 0 to 65535 or a service name
bind --backlog -5 80|bind: invalid --backlog '-5': expected 0 or more
bind --backlog x 80|bind: invalid --backlog 'x': expected 0 or more
bind-unix --backlog -5 /tmp/x.sock|bind-unix: invalid --backlog '-5': expected 0 or more
ROWS

# ---- the completion, without a daemon ----------------------------------------------------

# comp WORD...: completes the last word of "netutilctl WORD..." with the real function,
# in a fresh bash; prints the candidates sorted, one per line.
comp() {
        timeout 10 bash -c '
                source "$1" || exit 99
                shift
                COMP_WORDS=("$@")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="${COMP_WORDS[*]}"
                COMP_POINT=${#COMP_LINE}
                _netutilctl || exit 98
                printf "%s\n" "${COMPREPLY[@]}" | sort -u | sed "/^\$/d"' bash "$completion" "$ctl" "$@"
}

# same WHAT GOT WANT: compares two newline lists.
same() {
        [ "$2" = "$3" ] || fail "$1: got [$(echo $2)], expected [$(echo $3)]"
}

sorted() {
        printf '%s\n' "$@" | sort -u
}

[ -r "$completion" ] || fail "no completion at $completion"
same "commands" "$(comp "")" "$(sorted $commands)"
same "commands after global options" "$(comp --socket /x --json b)" "$(sorted bind bind-unix)"
same "global options" "$(comp --)" "$(sorted --socket --json --timeout --help --version)"
# Every command's options are those its --help lists.
for c in status bind bind-unix resolve; do
        same "options of $c" "$(comp "$c" --)" "$("$ctl" "$c" --help | help_options)"
done
same "options of override set" "$(comp override set --)" "$("$ctl" override --help | help_options)"
same "options of override del" "$(comp override del --)" "$(sorted --scope --port --family --help)"
same "options of override list" "$(comp override list --)" "$(sorted --scope --help)"
same "hold subcommands" "$(comp hold "")" "$(sorted list release --help)"
same "override subcommands" "$(comp override "")" "$(sorted set del list clear --help)"
same "bind --family" "$(comp bind --family "")" "$(sorted any ipv4 ipv6)"
same "override --family" "$(comp override set --port 1 --family "")" "$(sorted ipv4 ipv6)"
same "bind --flags list" "$(comp bind --flags passive,num)" "$(sorted passive,numerichost passive,numericserv)"
same "resolve --family=" "$(comp resolve --family = ipv)" "$(sorted ipv4 ipv6)"
same "help COMMAND" "$(comp help bind)" "$(sorted bind bind-unix)"
same "nothing for is-valid-ip" "$(comp is-valid-ip 1)" ""
contains "$(comp bind 80 -- bas)" "bash" "a command after --"
touch "$dir/file-one"
same "files after the command" "$(comp bind 80 -- cat "$dir/file-o")" "$dir/file-one"
same "bind-unix PATH" "$(comp bind-unix "$dir/file-o")" "$dir/file-one"
same "scope from NETUTIL_SCOPE" "$(NETUTIL_SCOPE=run42 comp resolve --scope "")" "run42"
# No daemon: nothing to offer, quickly and silently.
same "held names without a daemon" "$(comp --socket "$dir/none.sock" hold release "")" ""

# ---- a daemon ----------------------------------------------------------------------------

sock=$dir/netutild.sock
"$daemon_bin" --user --socket "$sock" --state-dir "$dir/state" 2>"$dir/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do
        [ -S "$sock" ] && break
        sleep 0.1
done
[ -S "$sock" ] || { fail "netutild did not start: $(cat "$dir/daemon.log")"; exit 1; }

fds() {
        ls "/proc/$daemon_pid/fd" | wc -l
}
# wait_fds WANT: waits up to 3 s for the daemon's fd count to come back to WANT.
wait_fds() {
        local n
        for _ in $(seq 30); do
                n=$(fds)
                [ "$n" = "$1" ] && return 0
                sleep 0.1
        done
        fail "daemon has $n fds, expected $1"
}
baseline=$(fds)

run "$ctl" --socket "$sock" bind --name web --hold 0
expect_rc 0 "bind --hold"
run "$ctl" --socket "$sock" override set example.test 127.0.0.1
expect_rc 0 "override set"
run "$ctl" --socket "$sock" override set --scope s1 --port 80 --to-port 8080 api.test 127.0.0.2
expect_rc 0 "override set --scope"
held_baseline=$(fds) # the held sockets' copies live in the daemon now

# status, text: systemctl-style aligned "Key: value" lines.
run "$ctl" --socket "$sock" status
expect_rc 0 "status"
contains "$out" "     Version: netutild " "status Version"
contains "$out" "         PID: $daemon_pid (user mode)" "status PID"
contains "$out" "      Socket: $sock
" "status Socket"
contains "$out" "      Uptime: " "status Uptime"
contains "$out" "     Clients: 1 (max 1024)" "status Clients"
contains "$out" "        Held: 2 sockets" "status Held"
contains "$out" "   Overrides: 2
" "status Overrides"
contains "$out" "    Resolver: threadpool" "status Resolver"
contains "$out" "      Policy: 0 rules" "status Policy"
contains "$out" "  NSS module: " "status NSS module"
bad=$(printf '%s\n' "$out" | awk 'index($0, ":") != 13')
[ -z "$bad" ] || fail "status lines not aligned on column 13: $bad"

# status, JSON: every key of CLI.md as it was, then socket and nss.
run "$ctl" --socket "$sock" --json status
expect_rc 0 "status --json"
contains "$out" "{\"version\": \"" "status --json version first"
contains "$out" "\"pid\": $daemon_pid, \"uptime_s\": " "status --json pid, uptime_s"
contains "$out" "\"clients\": 1, \"held\": 2, \"overrides\": 2, \"resolver\": \"threadpool\", \"mode\": \"user\", \"policy_rules\": 0, \"max_clients\": 1024, \"requests\": " "status --json counters"
contains "$out" "\"socket\": \"$sock\", \"nss\": {\"installed\": " "status --json socket, nss"
contains "$out" "\"configured\": " "status --json nss.configured"
[ "$(printf '%s' "$out" | tail -c 2)" = "}}" ] || fail "status --json does not end with the nss object: $out"

# The completion asks the daemon: held names, override hosts of a scope.
same "hold release NAME" "$(comp --socket "$sock" hold release "")" "web"
same "bind --name NAME" "$(comp --socket "$sock" bind --name w)" "web"
same "override del HOST" "$(comp --socket "$sock" override del "")" "example.test"
same "override del --scope HOST" "$(comp --socket "$sock" override del --scope s1 "")" "api.test"
same "no hosts past the first" "$(comp --socket "$sock" override del example.test "")" ""
wait_fds "$held_baseline"

# ---- NSS: the module and the hosts line, in a private mount namespace ---------------------

# nss_status NSSWITCH_TEXT [MODULE_DIR] [LD_CACHE]: status --json with NSSWITCH_TEXT
# bind-mounted over /etc/nsswitch.conf; with MODULE_DIR, a module file overlaid on that
# directory; with LD_CACHE, that file bind-mounted over /etc/ld.so.cache.
nss_status() {
        printf '%s\n' "$1" >"$dir/nsswitch.conf"
        timeout 10 unshare -m sh -c '
                set -e
                mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf
                if [ -n "$3" ]; then
                        mkdir -p "$1/ovl"
                        mount -t tmpfs tmpfs "$1/ovl"
                        mkdir "$1/ovl/upper" "$1/ovl/work"
                        : >"$1/ovl/upper/libnss_netutil.so.2"
                        mount -t overlay overlay -o "lowerdir=$3,upperdir=$1/ovl/upper,workdir=$1/ovl/work" "$3"
                fi
                [ -z "$5" ] || mount --bind "$5" /etc/ld.so.cache
                "$2" --socket "$4" --json status' sh "$dir" "$ctl" "${2:-}" "$sock" "${3:-}" >"$dir/out" 2>"$dir/err"
        rc=$?
        out=$(cat "$dir/out")
        err=$(cat "$dir/err")
}

# expect_nss WHAT NSSWITCH_TEXT CONFIGURED
expect_nss() {
        nss_status "$2"
        expect_rc 0 "$1"
        contains "$out" "\"configured\": $3}" "$1"
}

if [ "$(id -u)" != 0 ] || ! timeout 10 unshare -m true 2>/dev/null; then
        echo "SKIP: NSS cases need root and unshare -m" >&2
else
        expect_nss "netutil on the hosts line" "hosts: files netutil dns" true
        expect_nss "netutil first, no space after the colon" "hosts:netutil files" true
        expect_nss "space before the colon, leading blanks" "  hosts  :  mdns4_minimal netutil" true
        expect_nss "after an action group" "hosts: files [NOTFOUND=return] netutil" true
        expect_nss "with its own action group" "hosts: files netutil[UNAVAIL=continue] dns" true
        # glibc 2.33 and later know no comment inside a line: "#" is a service there and
        # what follows it is consulted (older glibc cut the line at "#").
        glibc_minor=$(getconf GNU_LIBC_VERSION | sed -n 's/^glibc 2\.\([0-9]*\).*/\1/p')
        inline=false
        [ "${glibc_minor:-0}" -ge 33 ] && inline=true
        expect_nss "after a '#' inside the line" "hosts: files dns # netutil" $inline
        expect_nss "a service named #netutil" "hosts: files #netutil" false
        expect_nss "commented-out line" "#hosts: netutil files" false
        expect_nss "inside an action group" "hosts: files [NOTFOUND=return netutil]" false
        expect_nss "another database" "$(printf 'passwd: files netutil\nhosts: files dns')" false
        expect_nss "a longer name" "hosts: files netutils dns" false
        expect_nss "a prefix database name" "hostsx: netutil" false
        expect_nss "the last hosts line wins" "$(printf 'hosts: netutil\nhosts: files dns')" false
        expect_nss "the last hosts line wins (2)" "$(printf 'hosts: files\nhosts: netutil files')" true
        expect_nss "empty file" "" false

        multiarch=$(${CC:-cc} -print-multiarch 2>/dev/null)
        system_module=false
        nss_status "hosts: files dns"
        expect_rc 0 "status without a module"
        if [ -e "/lib/$multiarch/libnss_netutil.so.2" ] || [ -e /usr/lib/libnss_netutil.so.2 ] ||
                [ -e /lib64/libnss_netutil.so.2 ] || grep -qa libnss_netutil.so.2 /etc/ld.so.cache 2>/dev/null; then
                echo "SKIP: libnss_netutil.so.2 is installed on this machine: not checking its absence" >&2
                system_module=true
        else
                contains "$out" "\"nss\": {\"installed\": false, \"path\": null, \"configured\": false}" "no module"
        fi
        if [ -n "$multiarch" ] && [ -d "/usr/lib/$multiarch" ]; then
                nss_status "hosts: netutil files" "/usr/lib/$multiarch"
                expect_rc 0 "status with a module"
                contains "$out" "\"nss\": {\"installed\": true, \"path\": \"/lib/$multiarch/libnss_netutil.so.2\", \"configured\": true}" \
                        "module in the multiarch directory"
        else
                echo "SKIP: no multiarch library directory ('$multiarch')" >&2
        fi
        # A module in a directory of ld.so.conf (/usr/local/lib, say) is found through the
        # cache ldconfig made: a real shared object, a real cache (-X: no links made).
        mkdir -p "$dir/ldlib"
        if ${CC:-cc} -shared -o "$dir/ldlib/libnss_netutil.so.2" -Wl,-soname,libnss_netutil.so.2 -x c /dev/null &&
                echo "$dir/ldlib" >"$dir/ld.so.conf" && timeout 30 ldconfig -X -C "$dir/ld.so.cache" -f "$dir/ld.so.conf"; then
                nss_status "hosts: files" "" "$dir/ld.so.cache"
                expect_rc 0 "status with a module in ld.so.cache"
                $system_module || contains "$out" "\"nss\": {\"installed\": true, \"path\": \"$dir/ldlib/libnss_netutil.so.2\", \"configured\": false}" \
                        "module through ld.so.cache"
                rm -f "$dir/ldlib/libnss_netutil.so.2"
                nss_status "hosts: files" "" "$dir/ld.so.cache"
                $system_module || contains "$out" "\"installed\": false" "a module the cache lists but that is gone"
        else
                fail "cannot build a shared object and an ld.so.cache with ${CC:-cc} and ldconfig"
        fi
fi
wait_fds "$held_baseline"

# ---- the daemon stops cleanly ---------------------------------------------------------------

run "$ctl" --socket "$sock" hold release web
expect_rc 0 "hold release"
wait_fds "$baseline"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
status=$?
daemon_pid=
[ "$status" = 0 ] || fail "netutild exited with $status: $(cat "$dir/daemon.log")"

if [ "$failures" -gt 0 ]; then
        echo "check-cli: $failures failure(s)" >&2
        exit 1
fi
echo "check-cli: all passed"
exit 0
