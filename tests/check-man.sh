#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The manual pages: each renders with man(1) warnings on and nothing on stderr; every
# option netutilctl's and netutild's --help list, every config key, section and rule
# token the parser accepts (extracted from daemon/conf.c and daemon/policy.c), and the
# embedded default configuration appear in the pages; cross-references between our pages
# name pages that exist. Owns only its temporary directory. Each check first proves on a
# broken input that it can fail.
set -u

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
ctl=${NETUTILCTL_BIN:-./netutilctl}
daemon_bin=${NETUTILD_BIN:-./netutild}
man_dir=$srcdir/man
pages="netutild.8 netutilctl.1 netutild.conf.5 libnetutil.3"
failures=0
dir=$(mktemp -d /tmp/netutil-check-man.XXXXXX) || exit 99
trap 'rm -rf "$dir"' EXIT
# The C locale everywhere but the output encoding: no locale warning from man itself.
LC_ALL=C
export LC_ALL
MANWIDTH=80
export MANWIDTH

fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}

if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
        echo "SKIP: man and groff are needed (Debian: man-db groff-base)" >&2
        exit 77
fi

# render_ok PAGE: man renders PAGE with warnings on, exit 0, nothing on stderr.
render_ok() {
        timeout 30 man --warnings -E UTF-8 -l "$1" >"$dir/rendered" 2>"$dir/stderr" || return 1
        [ ! -s "$dir/stderr" ] && [ -s "$dir/rendered" ]
}

# The page's text with roff escapes for hyphens and fonts undone, for grep.
plain() {
        sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(en/-/g' -e 's/\\&//g' "$1"
}

# documented PAGE WORD: WORD appears in PAGE's source as a whole word (not the start of a
# longer option or key).
documented() {
        plain "$1" | grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)"
}

# ---- every page renders without a warning --------------------------------------------------

# The check itself fails on a broken page: an unknown macro and an unknown font.
printf '.TH BROKEN 1\n.SH NAME\nbroken \\- a page\n.XX nonsense\n\\fQword\\fR\n' >"$dir/broken.1"
if render_ok "$dir/broken.1"; then
        fail "a broken page renders without a warning: the check cannot fail"
fi
for p in $pages; do
        if ! render_ok "$man_dir/$p"; then
                fail "man/$p: warnings or errors: $(cat "$dir/stderr")"
        fi
        # groff's own strictest warnings too (-ww), without man-db's preprocessing.
        if [ -n "$(groff -man -ww -z "$man_dir/$p" 2>&1)" ]; then
                fail "man/$p: groff -ww: $(groff -man -ww -z "$man_dir/$p" 2>&1)"
        fi
done

# ---- netutilctl(1): every option of every help -----------------------------------------------

printf 'no options here\n' >"$dir/empty.1"
documented "$dir/empty.1" --no-such-option &&
        fail "documented() finds an option that is not there: the check cannot fail"
documented "$man_dir/netutilctl.1" --name-of-thing &&
        fail "documented() takes --name for --name-of-thing"

ctl_help=$("$ctl" --help) || fail "netutilctl --help failed"
commands=$(printf '%s\n' "$ctl_help" | sed -n '/^Commands:/,/^$/p' | grep -oE '^  [a-z][a-z-]+' | sort -u)
[ -n "$commands" ] || fail "no commands in netutilctl --help"
all_help=$ctl_help
for c in $commands; do
        documented "$man_dir/netutilctl.1" "$c" || fail "netutilctl.1 does not document command '$c'"
        h=$("$ctl" help "$c") || fail "netutilctl help $c failed"
        all_help="$all_help
$h"
done
options=$(printf '%s\n' "$all_help" | grep -oE -- '(^|[ ,[])--?[a-zA-Z][a-z-]*' | grep -oE -- '--?[a-zA-Z][a-z-]*' | sort -u)
[ -n "$options" ] || fail "no options found in netutilctl's help"
for o in $options; do
        documented "$man_dir/netutilctl.1" "$o" || fail "netutilctl.1 does not document option '$o'"
done

# ---- netutild(8): every option of --help ---------------------------------------------------

options=$("$daemon_bin" --help | grep -oE -- '(^|[ ,])--?[a-zA-Z][a-z-]*' | grep -oE -- '--?[a-zA-Z][a-z-]*' | sort -u)
[ -n "$options" ] || fail "no options found in netutild --help"
for o in $options; do
        documented "$man_dir/netutild.8" "$o" || fail "netutild.8 does not document option '$o'"
done

# ---- netutild.conf(5): every key, section and token of the parser ------------------------------

conf_c=$srcdir/daemon/conf.c
policy_c=$srcdir/daemon/policy.c
keys=$(grep -oE 'strcmp\(key, "[A-Za-z]+"\)' "$conf_c" | grep -oE '"[A-Za-z]+"' | tr -d '"' | sort -u)
sections=$(grep -oE 'strcmp\((section|l \+ 1), "[A-Za-z]+"\)' "$conf_c" | grep -oE '"[A-Za-z]+"' | tr -d '"' | sort -u)
values=$(sed -n '/resolver_names\[/,/^};/p' "$conf_c" | grep -oE '"[a-z]+"' | tr -d '"' | sort -u)
tokens=$(grep -oE 'strncmp\(t, "[a-z]+:", [0-9]+\)' "$policy_c" | grep -oE '"[a-z]+:"' | tr -d '"' | sort -u)
targets=$(grep -oE 'strcmp\(toks\[0\], "[a-z]+"\)' "$policy_c" | grep -oE '"[a-z]+"' | tr -d '"' | sort -u)
[ "$(echo $keys | wc -w)" -ge 6 ] || fail "found only [$keys] as config keys in daemon/conf.c"
[ -n "$sections" ] && [ -n "$values" ] && [ -n "$tokens" ] && [ -n "$targets" ] ||
        fail "config sections [$sections], values [$values], tokens [$tokens], targets [$targets]: some not found"
conf5=$man_dir/netutild.conf.5
for k in $keys; do
        plain "$conf5" | grep -qE -- "(^|[^A-Za-z])$k=" || fail "netutild.conf.5 does not document key '$k='"
done
for s in $sections; do
        plain "$conf5" | grep -qF -- "[$s]" || fail "netutild.conf.5 does not document section [$s]"
done
for w in $values $targets; do
        documented "$conf5" "$w" || fail "netutild.conf.5 does not document value '$w'"
done
for t in $tokens; do
        plain "$conf5" | grep -qF -- "$t" || fail "netutild.conf.5 does not document token '$t'"
done
for w in "[global]" "[scope" "overrides.d" "netutild.conf.d" "--dump-config" "NETUTIL_SCOPE" "hosts: netutil"; do
        plain "$conf5" | grep -qF -- "$w" || fail "netutild.conf.5 does not mention '$w'"
done
# The embedded default, line by line (comments aside), as --dump-config prints it.
"$daemon_bin" --dump-config | grep -v '^#' | grep -v '^$' | while IFS= read -r line; do
        plain "$conf5" | grep -qxF -- "$line" || echo "$line"
done >"$dir/missing"
[ ! -s "$dir/missing" ] || fail "netutild.conf.5 lacks embedded default lines: $(cat "$dir/missing")"

# ---- cross-references between our pages ------------------------------------------------------

for p in $pages; do
        for ref in $(plain "$man_dir/$p" | grep -oE '^\.BR? (netutild|netutilctl|netutild\.conf|libnetutil) \([0-9]\)' |
                sed -e 's/^\.BR* //' -e 's/ (/./' -e 's/)$//' | sort -u); do
                [ -f "$man_dir/$ref" ] || fail "man/$p refers to $ref, which does not exist"
        done
done

if [ "$failures" -gt 0 ]; then
        echo "check-man: $failures failure(s)" >&2
        exit 1
fi
echo "check-man: all passed"
exit 0
