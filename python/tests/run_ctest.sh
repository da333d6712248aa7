#!/bin/sh
# CTest's entry to the Python binding's tests: installs the binding into a
# venv in the build tree (venv.sh), then runs pytest against the build's
# mempoold.   run_ctest.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF) user|root
# "user" runs every test but those marked root; "root" runs those alone.
# Exit 77 (a CTest skip) when python3 cannot build or test the binding, or
# for "root" when not run as root.
set -eu
build=$1 source=$2 sanitize=${3:-OFF} which=${4:-user}
if [ "$which" = root ] && [ "$(id -u)" -ne 0 ]; then
    echo "python.root: needs root to change uid; not run"
    exit 77
fi
marks="not root"
[ "$which" = root ] && marks=root
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
MEMPOOLD=$build/mempoold exec "$python" -m pytest -q -p no:cacheprovider -m "$marks" "$source/python/tests"
