#!/bin/sh
# The README's commands on a machine that may have nothing but git: installs
# what the build and the tests need, make and a compiler included
# (scripts/install-deps.sh), then runs make with the arguments given, from
# the top of the clone. Once that has run, `make TARGET` does the same.
#   sh scripts/make.sh run     build, start mempoold on conf/mempoold.yaml
#   sh scripts/make.sh test    build, run every test
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
exec make "$@"
