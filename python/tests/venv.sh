#!/bin/sh
# Installs the binding from a copy of python/ into a venv in a build tree,
# built against that tree's libmempool.a: Debian's python3 with its system
# site packages (numpy and pytest come from apt; no package index is
# reached). Prints the venv's python.
#   venv.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF)
# Exit 77 when this machine's python3 cannot build or test the binding
# (no venv module, headers, numpy or pytest).
set -eu
build=$(cd "$1" && pwd) source=$(cd "$2" && pwd) sanitize=${3:-OFF}
# Debian's python3, whatever else is on the PATH.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if ! "$python" -c 'import venv, numpy, pytest, sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    echo "python: $python lacks venv, numpy, pytest or its headers (scripts/install-deps.sh installs them); not run" >&2
    exit 77
fi

venv=$build/pyvenv
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv" >&2

# A copy, so that setuptools' own build folder never mixes this build
# tree's objects (plain or sanitized) with another's.
rm -rf "$build/python-src"
cp -R "$source/python" "$build/python-src"
rm -rf "$build/python-src/build" "$build/python-src"/*.egg-info

[ "$sanitize" = ON ] && export MEMPOOL_SANITIZE=1
MEMPOOL_SOURCE_DIR=$source MEMPOOL_BUILD_DIR=$build \
    "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index \
    --no-deps --force-reinstall "$build/python-src" >&2
echo "$venv/bin/python"
