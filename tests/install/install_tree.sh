#!/bin/sh
# Installs the build into a temporary DESTDIR, as a package maintainer
# does, then checks what arrived:
#   - every file in the place docs/service.md gives, the library with its
#     soname and links, the units naming the installed daemon and policy;
#   - an administrator's policy survives a second install;
#   - a client builds against the installed tree with pkg-config, and with
#     find_package(mempool) through mempool::mempool and
#     mempool::mempool_static, and each one works against the installed
#     daemon.
# With the argument `units`, it installs and checks only that
# `systemd-analyze verify` accepts the units, with the installed man pages
# for their Documentation= (the test install.units); where systemd-analyze
# is missing it exits 77, which CTest reports as skipped.
# The layout comes from CMake in the environment (tests/install/tests.cmake).
set -eu

for var in BUILD_DIR SOURCE_DIR CMAKE CC VERSION SOVERSION PREFIX SBINDIR BINDIR LIBDIR \
    INCLUDEDIR SYSCONFDIR MANDIR UNITDIR SYSUSERSDIR; do
    eval "[ -n \"\${$var:-}\" ]" || { echo "install_tree: $var is not set" >&2; exit 2; }
done
SANITIZE_FLAGS=${SANITIZE_FLAGS:-}

work=$(mktemp -d /tmp/mempool-install-XXXXXX)
dest=$work/dest
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "install_tree: $*" >&2
    exit 1
}

# Runs a command quietly; on failure shows what it said and fails.
run() {
    what=$1
    shift
    "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "$what failed: $*"; }
}

# ---- the files --------------------------------------------------------------

check_files() {
    for f in "$SBINDIR/mempoold" "$BINDIR/mempoolctl" "$LIBDIR/libmempool.so.$VERSION" \
        "$LIBDIR/libmempool.a" "$INCLUDEDIR/mempool.h" "$SYSCONFDIR/mempoold.yaml" \
        "$UNITDIR/mempoold.service" "$UNITDIR/mempoold.socket" \
        "$UNITDIR/mempoold-admin.socket" "$UNITDIR/mempoold-metrics.socket" \
        "$UNITDIR/mempoold-textfile.service" "$UNITDIR/mempoold-textfile.timer" \
        "$SYSUSERSDIR/mempoold.conf" \
        "$MANDIR/man3/mempool.3" "$MANDIR/man5/mempoold.yaml.5" "$MANDIR/man8/mempoold.8" \
        "$MANDIR/man8/mempoolctl.8" "$LIBDIR/pkgconfig/mempool.pc" \
        "$LIBDIR/cmake/mempool/mempoolConfig.cmake" \
        "$LIBDIR/cmake/mempool/mempoolConfigVersion.cmake"; do
        [ -f "$dest$f" ] || fail "not installed: $f"
    done
    for f in "$SBINDIR/mempoold" "$BINDIR/mempoolctl"; do
        [ -x "$dest$f" ] || fail "not executable: $f"
    done
    [ "$(readlink "$dest$LIBDIR/libmempool.so.$SOVERSION")" = "libmempool.so.$VERSION" ] ||
        fail "libmempool.so.$SOVERSION does not link to libmempool.so.$VERSION"
    [ "$(readlink "$dest$LIBDIR/libmempool.so")" = "libmempool.so.$SOVERSION" ] ||
        fail "libmempool.so does not link to libmempool.so.$SOVERSION"
    readelf -d "$dest$LIBDIR/libmempool.so.$VERSION" | grep -q "SONAME.*\[libmempool\.so\.$SOVERSION\]" ||
        fail "the soname of libmempool is not libmempool.so.$SOVERSION"
    # Nothing lands outside the prefix but the policy and the service
    # manager's files, which may be configured elsewhere.
    [ -z "$(find "$dest" -path "$dest$PREFIX" -prune -o -path "$dest$SYSCONFDIR" -prune \
        -o -path "$dest$UNITDIR" -prune -o -path "$dest$SYSUSERSDIR" -prune \
        -o -type f -print)" ] || fail "files installed outside $PREFIX"
}

# `man mempool_alloc` after install: every function of mempool.h has its
# page in man3 (a .so link to mempool.3 or its own), and man-db, where it
# is installed, renders it from the installed tree.
check_man_links() {
    for fn in $(sed 's/^_//' "$SOURCE_DIR/client/libmempool.exports"); do
        [ -f "$dest$MANDIR/man3/$fn.3" ] || fail "no man page for $fn: $MANDIR/man3/$fn.3"
    done
    if man --version 2>/dev/null | grep -q '^man '; then
        MANWIDTH=80 man -M "$dest$MANDIR" 3 mempool_alloc >"$work/man" 2>&1 ||
            { cat "$work/man" >&2; fail "man mempool_alloc failed in the installed tree"; }
        grep -q 'mempool_alloc' "$work/man" && grep -q '^ATTRIBUTES' "$work/man" ||
            fail "man mempool_alloc does not show mempool(3)"
    fi
}

check_daemon_paths() {
    run "the installed policy check" "$dest$SBINDIR/mempoold" --check-config "$dest$SYSCONFDIR/mempoold.yaml"
    "$dest$SBINDIR/mempoold" --help | grep -qF "(default $SYSCONFDIR/mempoold.yaml)" ||
        fail "the daemon's default policy is not $SYSCONFDIR/mempoold.yaml"
    service=$dest$UNITDIR/mempoold.service
    grep -qx "ExecStart=$SBINDIR/mempoold -c $SYSCONFDIR/mempoold.yaml" "$service" ||
        fail "mempoold.service does not start $SBINDIR/mempoold on $SYSCONFDIR/mempoold.yaml"
    ! grep -q '@[A-Z_]*@' "$service" || fail "mempoold.service still has @VARIABLES@"
    textfile=$dest$UNITDIR/mempoold-textfile.service
    grep -qF "$BINDIR/mempoolctl metrics" "$textfile" ||
        fail "mempoold-textfile.service does not run $BINDIR/mempoolctl"
    ! grep -q '@[A-Z_]*@' "$textfile" || fail "mempoold-textfile.service still has @VARIABLES@"
}

# An edited policy stays through a reinstall.
check_policy_kept() {
    echo "# the administrator's edit" >>"$dest$SYSCONFDIR/mempoold.yaml"
    run "a second cmake --install" env DESTDIR="$dest" "$CMAKE" --install "$BUILD_DIR"
    grep -q "the administrator's edit" "$dest$SYSCONFDIR/mempoold.yaml" ||
        fail "a reinstall overwrote the policy"
}

# ---- the units --------------------------------------------------------------

# systemd-analyze checks that ExecStart= names an executable, so it reads a
# copy whose daemon path points into DESTDIR; the rest is as installed, and
# Documentation= is checked against the installed man pages.
verify_units() {
    mkdir "$work/units"
    sed "s|^ExecStart=$SBINDIR/|ExecStart=$dest$SBINDIR/|" "$dest$UNITDIR/mempoold.service" \
        >"$work/units/mempoold.service"
    cp "$dest$UNITDIR/mempoold.socket" "$dest$UNITDIR/mempoold-admin.socket" \
        "$dest$UNITDIR/mempoold-metrics.socket" "$dest$UNITDIR/mempoold-textfile.service" \
        "$dest$UNITDIR/mempoold-textfile.timer" "$work/units/"
    run "systemd-analyze verify" env MANPATH="$dest$MANDIR" systemd-analyze verify \
        "$work/units/mempoold.service" "$work/units/mempoold.socket" \
        "$work/units/mempoold-admin.socket" "$work/units/mempoold-metrics.socket" \
        "$work/units/mempoold-textfile.service" "$work/units/mempoold-textfile.timer"
    [ ! -s "$work/out" ] || { cat "$work/out" >&2; fail "systemd-analyze verify warned"; }
    echo "install_tree: systemd-analyze verify accepts the units"
}

# ---- clients built against the installed tree --------------------------------

build_with_pkg_config() {
    # Only the installed mempool.pc, its paths seen through DESTDIR.
    export PKG_CONFIG_LIBDIR="$dest$LIBDIR/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
    [ "$(pkg-config --modversion mempool)" = "$VERSION" ] || fail "pkg-config: not version $VERSION"
    # shellcheck disable=SC2046,SC2086
    run "the pkg-config build" "$CC" $SANITIZE_FLAGS -o "$work/client_pkgconfig" \
        "$SOURCE_DIR/tests/install/client/client.c" $(pkg-config --cflags --libs mempool) \
        -Wl,-rpath,"$dest$LIBDIR"
    unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
}

build_with_cmake() {
    run "the find_package configure" "$CMAKE" -S "$SOURCE_DIR/tests/install/client" \
        -B "$work/client" -DCMAKE_PREFIX_PATH="$dest$PREFIX" -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_C_FLAGS="$SANITIZE_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE_FLAGS"
    grep -qx "mempool_DIR:PATH=$dest$LIBDIR/cmake/mempool" "$work/client/CMakeCache.txt" ||
        fail "find_package(mempool) did not find the installed package"
    run "the find_package build" "$CMAKE" --build "$work/client"
}

# The shared clients need libmempool.so.N; the static one no libmempool.
check_linkage() {
    for exe in "$work/client_pkgconfig" "$work/client/client_shared"; do
        readelf -d "$exe" | grep -q "NEEDED.*\[libmempool\.so\.$SOVERSION\]" ||
            fail "$exe does not need libmempool.so.$SOVERSION"
    done
    ! readelf -d "$work/client/client_static" | grep -q 'NEEDED.*libmempool' ||
        fail "client_static needs libmempool.so"
}

start_daemon() {
    cat >"$work/policy.yaml" <<EOF
listen: { socket: $work/mempoold.sock }
admin: { socket: $work/admin.sock }
pools:
  - name: default
    reserve: 1GiB
    limit: 64MiB
EOF
    "$dest$SBINDIR/mempoold" -c "$work/policy.yaml" 2>"$work/mempoold.log" &
    daemon_pid=$!
    # The admin socket starts after the client socket: once the installed
    # mempoolctl gets an answer, both serve.
    tries=0
    until "$dest$BINDIR/mempoolctl" -s "$work/admin.sock" version >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 300 ] || ! kill -0 "$daemon_pid" 2>/dev/null; then
            cat "$work/mempoold.log" >&2
            fail "the installed mempoold did not start"
        fi
        sleep 0.1
    done
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    status=0
    wait "$daemon_pid" || status=$?
    daemon_pid=
    [ "$status" -eq 0 ] || { cat "$work/mempoold.log" >&2; fail "mempoold exited with $status"; }
}

# The installed mempoold-textfile.service's command, run as systemd would
# run it ($$ is a literal $), with node_exporter's folder and the admin
# socket moved into the work folder: the file appears whole, with no
# temporary file left; with the daemon gone the run fails and the last
# good file stays.
run_textfile() {
    mkdir -p "$work/textfile"
    cmd=$(sed -n 's/^ExecStart=//p' "$dest$UNITDIR/mempoold-textfile.service" |
        sed -e 's/\$\$/$/g' -e "s|/var/lib/prometheus/node-exporter|$work/textfile|" \
            -e "s|$BINDIR/mempoolctl|$dest$BINDIR/mempoolctl -s $work/admin.sock|")
    eval "$cmd"
}

check_textfile() {
    run "the textfile service's command" run_textfile
    grep -q '^mempool_build_info{version="'"$VERSION"'"} 1$' "$work/textfile/mempoold.prom" ||
        fail "mempoold-textfile.service wrote no metrics"
    [ "$(ls -A "$work/textfile")" = mempoold.prom ] || fail "mempoold-textfile.service left $(ls -A "$work/textfile")"
}

check_textfile_keeps_the_last_file() {
    ! run_textfile >/dev/null 2>&1 || fail "mempoold-textfile.service succeeded without a daemon"
    grep -q '^mempool_build_info' "$work/textfile/mempoold.prom" ||
        fail "a failed run of mempoold-textfile.service lost the last file"
    [ "$(ls -A "$work/textfile")" = mempoold.prom ] || fail "a failed run left $(ls -A "$work/textfile")"
}

run_clients() {
    start_daemon
    check_textfile
    for exe in "$work/client_pkgconfig" "$work/client/client_shared" "$work/client/client_static"; do
        "$exe" "$work/mempoold.sock" >"$work/out" 2>&1 ||
            { cat "$work/out" "$work/mempoold.log" >&2; fail "$exe failed"; }
        grep -qx ok "$work/out" || fail "$exe did not say ok"
    done
    stop_daemon
    check_textfile_keeps_the_last_file
}

if [ "${1:-}" = units ] && ! command -v systemd-analyze >/dev/null; then
    echo "install_tree: systemd-analyze not found: the units cannot be verified here (skipped)"
    exit 77
fi
echo "install_tree: cmake --install with DESTDIR=$dest (prefix $PREFIX)"
run "cmake --install" env DESTDIR="$dest" "$CMAKE" --install "$BUILD_DIR"
if [ "${1:-}" = units ]; then
    verify_units
    exit 0
fi
check_files
check_man_links
check_daemon_paths
check_policy_kept
build_with_pkg_config
build_with_cmake
check_linkage
run_clients
echo "install_tree: installed tree complete; clients built with pkg-config and find_package work"
