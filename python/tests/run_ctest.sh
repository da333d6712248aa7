#!/bin/sh
# CTest's entry to the Python binding's tests: installs the binding from a
# copy of python/ into a venv in the build tree (Debian's python3 with its
# system site packages: numpy and pytest come from apt, no package index is
# reached), then runs pytest against the build's mempoold.
#   run_ctest.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF)
# Exit 77 (a CTest skip) when this machine's python3 cannot build or test
# the binding (no venv module, headers, numpy or pytest).
set -eu
build=$1 source=$2 sanitize=${3:-OFF}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if ! "$python" -c 'import venv, numpy, pytest, sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    echo "python: $python lacks venv, numpy, pytest or its headers (scripts/install-deps.sh installs them); not run"
    exit 77
fi

venv=$build/pyvenv
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"

# A copy, so that setuptools' own build folder never mixes this build
# tree's objects (plain or sanitized) with another's.
rm -rf "$build/python-src"
cp -R "$source/python" "$build/python-src"
rm -rf "$build/python-src/build" "$build/python-src"/*.egg-info

if [ "$sanitize" = ON ]; then
    export MEMPOOL_SANITIZE=1
fi
MEMPOOL_SOURCE_DIR=$source MEMPOOL_BUILD_DIR=$build \
    "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index \
    --no-deps --force-reinstall "$build/python-src"

if [ "$sanitize" = ON ]; then
    # The extension carries ASan: its runtime must be the first library
    # loaded. CPython's own allocations are not ours to leak-check.
    LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
    export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0
fi
cd "$build"
MEMPOOLD=$build/mempoold exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$source/python/tests"
