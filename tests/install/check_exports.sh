#!/bin/sh
# The dynamic symbols libmempool defines are exactly the functions that
# mempool.h declares: nothing internal (proto_*, handoff_*, session_*)
# leaks into the ABI, and nothing declared is missing. Neither the shared
# library's symbol table nor the archive ARCHIVE (when given) defines a
# global symbol outside mempool_* (client/libmempool_names.h renames the
# internal ones), so a program may have its own session_open.
#   usage: check_exports.sh LIBRARY HEADER CC [ARCHIVE]
set -eu
lib=$1
header=$2
cc=$3
archive=${4-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The header through the preprocessor, so that comments and macros do not
# count: every mempool_* identifier that is followed by '(' is a function.
"$cc" -E -P -x c "$header" | grep -oE 'mempool_[A-Za-z0-9_]+[[:space:]]*\(' |
    sed 's/[[:space:](]*$//' | sort -u >"$work/api"

# Defined dynamic symbols, without their version (mempool_alloc@@MEMPOOL_0)
# and without the version nodes themselves (type A).
case $(uname -s) in
Darwin) nm -gU "$lib" | awk '{ print $3 }' | sed 's/^_//' ;;
*) nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' ;;
esac | sort -u >"$work/exported"

if [ ! -s "$work/api" ] || [ ! -s "$work/exported" ]; then
    echo "check_exports: nothing read from $header or $lib" >&2
    exit 1
fi
if ! diff -u "$work/api" "$work/exported" >"$work/diff"; then
    echo "check_exports: $lib does not export exactly the functions of $header" >&2
    echo "(- declared but not exported, + exported but not declared)" >&2
    cat "$work/diff" >&2
    exit 1
fi
echo "check_exports: $(wc -l <"$work/api" | tr -d ' ') functions, exactly those of mempool.h"

# Every global a file defines (nm -g: upper-case types; A is a version
# node such as MEMPOOL_0, not a symbol) that is not mempool_*. Mach-O
# names carry a leading underscore.
foreign_globals() {
    nm -g --defined-only "$1" | awk 'NF >= 3 && $2 != "A" { print $3 }' | sed 's/^_//' |
        grep -v '^mempool_' || true
}
for file in "$lib" ${archive:+"$archive"}; do
    foreign=$(foreign_globals "$file")
    if [ -n "$foreign" ]; then
        echo "check_exports: $file defines globals outside mempool_*:" >&2
        printf '  %s\n' $foreign >&2
        echo "a program defining the same name would not link: rename each in" \
            "client/libmempool_names.h (#define NAME mempool__NAME)" >&2
        exit 1
    fi
    nm -g --defined-only "$file" | grep -q ' mempool_connect$' ||
        { echo "check_exports: nm read no mempool_connect from $file" >&2; exit 1; }
done
echo "check_exports: no global symbol outside mempool_* in $lib${archive:+ and $archive}"
