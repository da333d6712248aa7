#!/bin/sh
# Each man page given renders without a single warning: through man-db
# (`man --warnings -l`, groff -ww underneath, at 80 columns) and groff
# itself, or through mandoc's linter where that is the man of the system.
# Exit 77 (skipped) when none of them is installed.
#   usage: check_man.sh PAGE...
set -u

status=0
checked=0

# Runs a renderer; anything it says on stderr is a warning.
quiet() {
    page=$1
    shift
    said=$("$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" -eq 0 ] || said="$said${said:+
}exit status $rc"
    if [ -n "$said" ]; then
        echo "$page: $*:"
        echo "$said"
        status=1
    fi
    checked=$((checked + 1))
}

for page in "$@"; do
    [ -f "$page" ] || { echo "$page: no such file"; status=1; continue; }
    if man --version 2>/dev/null | grep -q '^man '; then
        quiet "$page" env MANWIDTH=80 man --warnings -l "$page"
    fi
    if command -v groff >/dev/null; then
        quiet "$page" groff -man -ww -z "$page"
    fi
    if command -v mandoc >/dev/null; then
        quiet "$page" mandoc -T lint -W warning "$page"
    fi
done

if [ "$checked" -eq 0 ]; then
    echo "check_man: skipped: neither man-db, groff nor mandoc is installed"
    exit 77
fi
[ "$status" -eq 0 ] && echo "check_man: $# pages render without warnings ($checked runs)"
exit "$status"
