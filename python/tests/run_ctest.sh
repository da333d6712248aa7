#!/bin/sh
# CTest's entry to the Python binding's tests: installs the binding into a
# venv in the build tree (venv.sh), then runs pytest against the build's
# mempoold.   run_ctest.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF)
# Exit 77 (a CTest skip) when python3 cannot build or test the binding.
set -eu
build=$1 source=$2 sanitize=${3:-OFF}
python=$(sh "$source/python/tests/venv.sh" "$build" "$source" "$sanitize") || exit $?

if [ "$sanitize" = ON ]; then
    # The extension carries ASan: its runtime must be the first library
    # loaded. CPython's own allocations are not ours to leak-check, and the
    # read-only test expects a child to die of SIGSEGV, which ASan would
    # otherwise catch and turn into an abort.
    LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
    export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0:handle_segv=0
fi
cd "$build"
MEMPOOLD=$build/mempoold exec "$python" -m pytest -q -p no:cacheprovider "$source/python/tests"
