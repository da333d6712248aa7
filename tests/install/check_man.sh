#!/bin/sh
# Each man page given renders without a single warning: through man-db
# (`man --warnings -l`, groff -ww underneath, at 80 columns) and groff
# itself, or through mandoc's linter where that is the man of the system.
# Its standard sections come in the order of man-pages(7). A page that is
# only a `.so manN/PAGE.N` link must point at a page given here whose NAME
# section names it. Exit 77 (skipped) when no renderer is installed.
#   usage: check_man.sh PAGE...
set -u

status=0
checked=0

# man-pages(7): "the list below shows conventional or suggested sections".
SECTION_ORDER='NAME|LIBRARY|SYNOPSIS|CONFIGURATION|DESCRIPTION|OPTIONS|EXIT STATUS|RETURN VALUE|ERRORS|ENVIRONMENT|FILES|ATTRIBUTES|VERSIONS|STANDARDS|HISTORY|NOTES|CAVEATS|BUGS|EXAMPLES|AUTHORS|REPORTING BUGS|COPYRIGHT|SEE ALSO'

check_order() {
    out=$(awk -v order="$SECTION_ORDER" '
        BEGIN { n = split(order, names, "|"); for (i = 1; i <= n; i++) rank[names[i]] = i }
        /^\.SH / { h = substr($0, 5); gsub(/"/, "", h)
                   if (h in rank) { if (rank[h] < last) print h " after " lastname
                                    last = rank[h]; lastname = h } }' "$1")
    if [ -n "$out" ]; then
        echo "$1: sections out of man-pages(7) order: $out"
        status=1
    fi
}

# A link page: its target is among the pages given, and names the link.
check_link() {
    target=$(sed -n 's/^\.so man[0-9]\/\(.*\)$/\1/p' "$1")
    name=$(basename "$1" | sed 's/\.[0-9]$//')
    found=
    for other in $all; do
        [ "$(basename "$other")" = "$target" ] && found=$other
    done
    if [ -z "$found" ]; then
        echo "$1: links to $target, which is not among the pages"
        status=1
    elif ! sed -n '/^\.SH NAME/,/^\.SH/p' "$found" | grep -qw -- "$name"; then
        echo "$1: $target does not name $name in its NAME section"
        status=1
    fi
    links=$((links + 1))
}

all="$*"
links=0

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
    if [ "$(wc -l <"$page")" -eq 1 ] && grep -q '^\.so man[0-9]/' "$page"; then
        check_link "$page"
        continue
    fi
    check_order "$page"
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
[ "$status" -eq 0 ] &&
    echo "check_man: $(($# - links)) pages render without warnings ($checked runs), in man-pages(7) order; $links links name their target"
exit "$status"
