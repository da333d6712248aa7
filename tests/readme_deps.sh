#!/bin/sh
# The README's package lists (under "The two commands") are the ones
# scripts/install-deps.sh installs, for Debian and for Homebrew.
#   usage: readme_deps.sh README SCRIPT
set -eu
readme=$1
script=$2
status=0

# The backquoted words of the README's list item that starts with $1,
# one per line, sorted.
readme_list() {
    awk -v start="$1" 'index($0, start) == 1 { on = 1 } on && ($0 == "" || (index($0, "- ") == 1 && index($0, start) != 1)) { exit } on { print }' "$readme" |
        sed 's/;.*//' | grep -o '`[^`]*`' | tr -d '`' | sed 1d | sort
}

check() {
    item=$1
    os=$2
    readme_list "$item" >"$work/readme"
    sh "$script" --list "$os" | tr ' ' '\n' | sort >"$work/script"
    if ! diff -u "$work/script" "$work/readme" >"$work/diff"; then
        echo "readme_deps: the README's $os list differs from install-deps.sh (+: README only, -: script only):"
        tail -n +3 "$work/diff"
        status=1
    fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check '- Debian 12 (`apt-get`):' debian
check '- macOS (`brew`):' brew
[ "$status" -eq 0 ] && echo "readme_deps: the README lists what install-deps.sh installs"
exit "$status"
