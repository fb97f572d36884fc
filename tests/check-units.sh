#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The installed systemd units, checked offline (no systemd as PID 1 needed):
#   1. "make install" of the daemon, netutilctl, the units, sysusers.d and tmpfiles.d into a
#      scratch root; "systemd-analyze verify --root" of netutild.socket, netutild.service
#      and the example web app must print nothing (a unit with a mistake must print
#      something: checked first, so that a verify that checks nothing fails this test);
#   2. systemd-sysusers and systemd-tmpfiles applied to the scratch root;
#   3. the installed daemon, as root in a network namespace, limited to the unit's
#      CapabilityBoundingSet: every feature works for an unprivileged client (port 443,
#      unix sockets made with its credentials, in its own directory, in a sticky one, in
#      the administrator's), and without any one of those capabilities something fails;
#   4. (with strace) every syscall the daemon made is allowed by the unit's
#      SystemCallFilter= lines and every socket family by RestrictAddressFamilies=.
# Needs root. Exit 77 (skip) without systemd-analyze; everything bounded by timeouts.
# Environment (make check's AM_TESTS_ENVIRONMENT): abs_top_builddir, abs_top_srcdir.

set -eu
export LC_ALL=C

fail() {
        echo "check-units: FAIL: $*" >&2
        exit 1
}

[ "$(id -u)" = 0 ] || { echo "check-units: needs root, skipped"; exit 77; }
analyze=$(command -v systemd-analyze || true)
[ -n "$analyze" ] || { echo "check-units: no systemd-analyze, skipped"; exit 77; }
builddir=${abs_top_builddir:-$(pwd)}

tmp=$(mktemp -d /tmp/netutild-units.XXXXXX)
root=$tmp/root
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- 1. install and verify -----------------------------------------------------------
# Only what the units need: the binaries they run and their own files. Not through the
# make that runs this test (its jobserver and command-line variables are not ours).
timeout 300 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" DESTDIR="$root" \
        install-sbinPROGRAMS install-binPROGRAMS install-systemdsystemunitDATA install-sysusersDATA \
        install-tmpfilesDATA systemd/examples/webapp.service >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log" >&2; fail "make install DESTDIR=$root"; }

service=$(find "$root" -name netutild.service -type f)
[ -n "$service" ] || fail "no netutild.service installed"
unitdir=${service%/netutild.service}
unitdir=${unitdir#"$root"}
[ -f "$root$unitdir/netutild.socket" ] || fail "no netutild.socket next to netutild.service"
sysusers=$(find "$root" -path '*/sysusers.d/netutild.conf' -type f)
tmpfiles=$(find "$root" -path '*/tmpfiles.d/netutild.conf' -type f)
[ -n "$sysusers" ] && [ -n "$tmpfiles" ] || fail "sysusers.d or tmpfiles.d entry not installed"

exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$service")
[ -x "$root$exec_start" ] || fail "ExecStart=$exec_start is not the installed netutild"
grep -q "^ListenSequentialPacket=/" "$root$unitdir/netutild.socket" || fail "socket unit without a path"

# What verify loads besides our units, from the host: the targets of the default
# dependencies, and the commands the units run that "make install" does not provide.
host_units=
for d in /lib/systemd/system /usr/lib/systemd/system; do
        [ -f "$d/sysinit.target" ] && host_units=$d && break
done
[ -n "$host_units" ] || { echo "check-units: no systemd unit directory on this host, skipped"; exit 77; }
# The installed units are verified from /etc/systemd/system in the root: systemd finds
# units by name only in its own directories, and the configured unit directory need not be
# one (make distcheck installs below its own prefix); the files are the installed ones.
vdir=/etc/systemd/system
mkdir -p "$root$vdir"
for u in sysinit.target sockets.target basic.target shutdown.target; do
        [ ! -f "$host_units/$u" ] || cp "$host_units/$u" "$root$vdir/"
done
[ "$unitdir" = "$vdir" ] || cp "$root$unitdir/netutild.socket" "$root$unitdir/netutild.service" "$root$vdir/"
kill_cmd=$(sed -n 's/^ExecReload=\([^ ]*\).*/\1/p' "$service")
mkdir -p "$root$(dirname "$kill_cmd")" "$root/opt/webapp/bin"
cp "$kill_cmd" "$root$kill_cmd"
printf '#!/bin/sh\nexit 0\n' >"$root/opt/webapp/bin/webapp"
chmod 755 "$root/opt/webapp/bin/webapp"
cp "$builddir/systemd/examples/webapp.service" "$root/etc/systemd/system/webapp.service"

verify() {
        timeout 60 "$analyze" verify --man=no --root="$root" "$@" >"$tmp/verify.log" 2>&1
        rc=$?
        cat "$tmp/verify.log"
        return $rc
}

# A mistake must be seen: a misspelt directive and a bad value.
sed -e 's/^ProtectHome=/ProtectHom=/' -e 's/^Type=notify/Type=notifyy/' "$service" \
        >"$root/etc/systemd/system/netutild-broken.service"
out=$(verify /etc/systemd/system/netutild-broken.service || true)
case $out in
*ProtectHom*notifyy* | *notifyy*ProtectHom*) ;;
*) fail "systemd-analyze verify did not report a broken unit: [$out]" ;;
esac
rm "$root/etc/systemd/system/netutild-broken.service"

out=$(verify "$vdir/netutild.socket" "$vdir/netutild.service" "$vdir/webapp.service") ||
        fail "systemd-analyze verify failed: [$out]"
[ -z "$out" ] || fail "systemd-analyze verify: [$out]"
echo "check-units: systemd-analyze verify: netutild.socket netutild.service webapp.service clean"

# ---- 2. sysusers.d and tmpfiles.d ------------------------------------------------------
mkdir -p "$root/etc"
timeout 30 systemd-sysusers --root="$root" "$sysusers" >"$tmp/sysusers.log" 2>&1 ||
        { cat "$tmp/sysusers.log" >&2; fail "systemd-sysusers"; }
grep -q '^netutild:x:[0-9]*:$' "$root/etc/group" || fail "sysusers.d made no netutild group"
timeout 30 systemd-tmpfiles --root="$root" --create "$tmpfiles" >"$tmp/tmpfiles.log" 2>&1 ||
        { cat "$tmp/tmpfiles.log" >&2; fail "systemd-tmpfiles"; }
[ "$(stat -c '%a %u' "$root/run/netutild")" = "755 0" ] || fail "tmpfiles.d: /run/netutild not 0755 root"
[ "$(stat -c '%a %u' "$root/var/lib/netutild")" = "700 0" ] ||
        fail "tmpfiles.d: /var/lib/netutild not 0700 root"
echo "check-units: sysusers.d and tmpfiles.d entries apply"

# ---- 3. the capability bounding set ------------------------------------------------------
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$service")
[ -n "$caps" ] || fail "no CapabilityBoundingSet="
setpriv_caps() { # "CAP_A CAP_B" minus $1 -> "-all,+a,+b"
        s=-all
        for c in $caps; do
                [ "$c" = "${1:-}" ] && continue
                s="$s,+$(echo "${c#CAP_}" | tr 'A-Z' 'a-z')"
        done
        echo "$s"
}

netutild_bin=$root$exec_start
netutilctl_bin=$(find "$root" -name netutilctl -type f -perm -u+x | head -n 1)
[ -n "$netutilctl_bin" ] || fail "netutilctl not installed"
work=$tmp/work
mkdir -p "$work/state" "$work/sticky" "$work/own" "$work/public"
chmod 755 "$tmp" "$work"
chmod 1777 "$work/sticky"         # like /tmp: replacing someone's file there needs CAP_FOWNER
chown 65534:65534 "$work/own"     # the client's own directory: root's bits do not let it write
chmod 700 "$work/own"
chmod 755 "$work/public"          # the administrator's: only the daemon's privilege writes there
cat >"$work/netutild.conf" <<EOF
[Policy]
AllowUnix=user:65534 $work/sticky
AllowUnix=user:65534 $work/own
AllowUnix=user:65534 $work/public
EOF
# Port 443 through the example's drop-in, for uid 65534 instead of webapp (no such user here).
mkdir -p "$work/netutild.conf.d"
sed 's/user:webapp/user:65534/' "${abs_top_srcdir:-$builddir/..}/systemd/examples/webapp-policy.conf" \
        >"$work/netutild.conf.d/webapp.conf"
grep -q '^AllowBind=user:65534 tcp:443$' "$work/netutild.conf.d/webapp.conf" || fail "example policy changed"

# Two addresses for one name: glibc sorts them (RFC 3484), asking rtnetlink for the host's
# addresses, as it does for real names with IPv4 and IPv6 addresses.
printf '127.0.0.1 localhost\n127.0.0.1 both.test\n::1 both.test\n' >"$work/hosts"
chmod 644 "$work/hosts"

# Runs in network and mount namespaces of its own: the daemon with bounding set $1, then every
# feature as uid 65534; prints one line per feature, "ok NAME" or "FAILED NAME: why". Port 443
# is bound on the wildcard addresses, which need no interface up (no iproute2 needed).
features() {
        timeout -k 5 60 unshare -mn sh -c '
                setpriv_bin=$1 caps=$2 netutild=$3 netutilctl=$4 dir=$5
                mount --bind "$dir/hosts" /etc/hosts
                "$setpriv_bin" --bounding-set "$caps" --pdeathsig KILL "$netutild" \
                        --config "$dir/netutild.conf" --socket "$dir/netutild.sock" \
                        --state-dir "$dir/state" >/dev/null 2>"$dir/daemon.log" &
                pid=$!
                i=0
                while [ ! -S "$dir/netutild.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
                try() {
                        name=$1
                        shift
                        if out=$("$setpriv_bin" --reuid 65534 --regid 65534 --clear-groups "$netutilctl" \
                                --socket "$dir/netutild.sock" --timeout 5 "$@" 2>&1); then
                                echo "ok $name"
                        else
                                echo "FAILED $name: $out"
                        fi
                }
                try port443 bind 443
                try unix-sticky bind-unix --mode 0660 "$dir/sticky/a.sock"
                try unix-replace bind-unix --mode 0660 "$dir/sticky/a.sock"
                try unix-own bind-unix "$dir/own/b.sock"
                try unix-public bind-unix "$dir/public/c.sock"
                if [ "$(stat -c "%u %a" "$dir/sticky/a.sock" 2>&1)" = "65534 660" ]; then
                        echo "ok owner-mode"
                else
                        echo "FAILED owner-mode: $(stat -c "%u %a" "$dir/sticky/a.sock" 2>&1)"
                fi
                try resolve resolve localhost 80
                try resolve-sorted resolve both.test 80
                kill -HUP $pid
                sleep 0.2
                try after-reload status
                kill $pid
                wait $pid
                rm -f "$dir/sticky/a.sock" "$dir/own/b.sock" "$dir/public/c.sock"
        ' features "$(command -v setpriv)" "$1" "$2" "$netutilctl_bin" "$work"
}

out=$(features "$(setpriv_caps)" "$netutild_bin")
echo "$out" | sed 's/^/check-units: all of the unit'"'"'s capabilities: /'
echo "$out" | grep -q FAILED && fail "a feature fails with the unit's capabilities: $(cat "$work/daemon.log")"
[ "$(echo "$out" | grep -c '^ok')" = 9 ] || fail "features did not run: [$out]"

for c in $caps; do
        out=$(features "$(setpriv_caps "$c")" "$netutild_bin")
        failed=$(echo "$out" | sed -n 's/^FAILED \([^:]*\):.*/\1/p' | tr '\n' ' ')
        [ -n "$failed" ] || fail "without $c every feature still works: it is not needed"
        echo "check-units: without $c: fails $failed"
done

# ---- 4. syscalls and address families against the sandbox -------------------------------
strace_bin=$(command -v strace || true)
if [ -z "$strace_bin" ]; then
        echo "check-units: no strace: syscalls not compared with SystemCallFilter="
        exit 0
fi
filter=$(sed -n 's/^SystemCallFilter=\([^~]\)/\1/p' "$service")
deny=$(sed -n 's/^SystemCallFilter=~//p' "$service")
families=$(sed -n 's/^RestrictAddressFamilies=//p' "$service")
[ -n "$filter" ] || fail "no SystemCallFilter= allow list"
# The filter's syscalls, groups expanded.
expand() {
        todo=$1 seen=
        while [ -n "$todo" ]; do
                set -- $todo
                g=$1; shift; todo=$*
                case " $seen " in *" $g "*) continue ;; esac
                seen="$seen $g"
                for w in $("$analyze" syscall-filter "$g" | sed -n 's/^    \([^#]\)/\1/p'); do
                        case $w in @*) todo="$todo $w" ;; *) echo "$w" ;; esac
                done
        done
}
# Allowed: the allow lists, less the deny lists (systemd applies them in that order).
expand "$filter" | sort -u >"$tmp/allow"
expand "$deny" | sort -u >"$tmp/deny"
comm -23 "$tmp/allow" "$tmp/deny" >"$tmp/allowed"
[ "$(wc -l <"$tmp/allowed")" -gt 100 ] || fail "could not list SystemCallFilter=$filter"

# The daemon under strace, as above, with every feature, a resolve and a reload. -D: the
# daemon keeps its pid (strace runs as its grandchild), so that it is stopped as before.
netutild_traced=$tmp/netutild-traced
cat >"$netutild_traced" <<EOF
#!/bin/sh
# --enable-sanitizers: LeakSanitizer cannot run under ptrace (it would fail the exit).
ASAN_OPTIONS="\${ASAN_OPTIONS:-}:detect_leaks=0"; export ASAN_OPTIONS
exec $strace_bin -D -f -qq -o $tmp/strace.log "$netutild_bin" "\$@"
EOF
chmod 755 "$netutild_traced"
out=$(features "$(setpriv_caps)" "$netutild_traced")
echo "$out" | grep -q FAILED && fail "a feature fails under strace: [$out]"
grep -q ' exit_group(0) ' "$tmp/strace.log" ||
        fail "strace did not see the daemon exit: $(tail -n 3 "$tmp/strace.log")"
used=$(sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' "$tmp/strace.log" | sort -u)
[ -n "$used" ] || fail "strace saw no syscalls"
missing=
for s in $used; do
        grep -qx "$s" "$tmp/allowed" || missing="$missing $s"
done
# execve of the daemon itself happens before the filter applies (systemd installs it
# in the child, just before that execve), and is in @system-service anyway.
[ -z "$missing" ] || fail "syscalls outside SystemCallFilter=$filter ~$deny:$missing"
echo "check-units: $(echo "$used" | wc -l) distinct syscalls, all in SystemCallFilter=$filter ~$deny"
for f in $(sed -n 's/.*socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$tmp/strace.log" | sort -u); do
        case " $families " in
        *" $f "*) ;;
        *) fail "socket family $f outside RestrictAddressFamilies=$families" ;;
        esac
done
used_families=$(sed -n 's/.*socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$tmp/strace.log" | sort -u | tr '\n' ' ')
echo "check-units: socket families ${used_families}all in RestrictAddressFamilies="
exit 0
