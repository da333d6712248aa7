#!/bin/sh
# Every environment variable the programs and the library read (getenv in
# common/, daemon/, client/, ctl/) is documented in a man page's
# ENVIRONMENT section.
#   usage: check_env_documented.sh SOURCE_DIR
set -eu
src=$1
vars=$(cd "$src" && grep -rhoE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' common daemon client ctl |
    sed 's/getenv("\(.*\)")/\1/' | sort -u)
[ -n "$vars" ] || { echo "check_env_documented: no getenv found under $src" >&2; exit 1; }
missing=
for var in $vars; do
    found=
    for page in "$src"/man/*.[0-9]; do
        # The ENVIRONMENT section, up to the next section heading.
        if awk '/^\.SH / { in_env = ($0 == ".SH ENVIRONMENT") } in_env' "$page" |
            grep -qw -- "$var"; then
            found=yes
        fi
    done
    [ -n "$found" ] || missing="$missing $var"
done
if [ -n "$missing" ]; then
    echo "check_env_documented: read but in no man page's ENVIRONMENT:$missing" >&2
    exit 1
fi
echo "check_env_documented: $(echo $vars | wc -w) variables, each in a man page's ENVIRONMENT"
