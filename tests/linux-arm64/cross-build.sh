#!/bin/sh
# aarch64 Linux cross-build: builds every library and program target of
# mempoold, the Check suites included, for aarch64-linux-gnu (glibc 2.36,
# Debian 12's) with the same Zig as the Darwin cross-build, and checks that
# each object, archive, program and shared library is ELF for AArch64
# (EM_AARCH64), that no source file was skipped, that programs need only
# glibc's libraries, and that the Linux code paths import what they are
# meant to call (memfd_create, the SCM_RIGHTS messages, epoll through
# libuv). Nothing built here is run. The steps they share (Zig, Debian's
# source packages, the dependencies, the CMake build) are
# tests/cross/lib.sh; docs/cross-build.md explains them.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/linux-arm64"
BUILD=${MEMPOOL_CROSS_BUILD:-$ROOT/build-linux-arm64}
TARGETS=${MEMPOOL_CROSS_TARGETS:-"aarch64-linux-gnu.2.36"}

CROSS_TOOLCHAIN="$HERE/zig-linux.cmake"
CROSS_CC_FLAGS=""
CROSS_HASHED_DIR=""
CROSS_SHARED_EXT=so
CROSS_CHECK_FLAGS=""
# The integration suites are built on Linux; the admin suite needs jansson.
CROSS_JANSSON=ON
# C names in ELF objects carry no prefix.
CROSS_SYMBOL_PREFIX=""

# shellcheck source=tests/cross/lib.sh
. "$ROOT/tests/cross/lib.sh"

# --- checks -------------------------------------------------------------------------------

# The libraries a program of ours may need on an aarch64 Debian machine:
# glibc's, and our own libmempool (the README's example links it).
ALLOWED_NEEDED="libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 ld-linux-aarch64.so.1 libmempool.so.0"

# expect_elf PATH TYPE: llvm-readobj must call PATH an AArch64 ELF file of
# TYPE (Relocatable, Executable, SharedObject).
expect_elf() {
    [ -f "$1" ] || die "$target: $1 was not built"
    headers=$(llvm-readobj --file-headers "$1")
    printf '%s\n' "$headers" | grep -q 'Machine: EM_AARCH64' ||
        die "$target: $1 is not an AArch64 ELF file: $(file -bL "$1")"
    printf '%s\n' "$headers" | grep -Eq "Type: $2 " ||
        die "$target: $1 is not an ELF $2: $(file -bL "$1")"
}

# A static library holds exactly its target's objects, each AArch64 ELF.
expect_archive() {
    members=$(llvm-ar t "$1" | wc -l)
    [ "$members" -eq "$2" ] ||
        die "$target: $1 has $members members, its target compiles $2 sources"
    aarch64=$(llvm-readobj --file-headers "$1" | grep -c 'Machine: EM_AARCH64' || true)
    [ "$aarch64" -eq "$members" ] ||
        die "$target: of the $members members of $1, $aarch64 are AArch64"
}

expect_only_glibc() {
    for lib in $(llvm-readobj --needed-libs "$1" | sed -n 's/^ *\(lib[^ ]*\|ld-[^ ]*\)$/\1/p'); do
        case " $ALLOWED_NEEDED " in
        *" $lib "*) ;;
        *) die "$target: $1 needs $lib, which only glibc's libraries (and libmempool) may be" ;;
        esac
    done
}

# require_imports FILE SYMBOL...: FILE references every SYMBOL as undefined
# (a call into glibc); a program's dynamic symbols carry a version
# (memfd_create@GLIBC_2.27), which is dropped before comparing.
require_imports() {
    checked=$1
    shift
    case $checked in
    *.o | *.a) undefined=$(llvm-nm --undefined-only --just-symbol-name "$checked") ;;
    *) undefined=$(llvm-nm -D --undefined-only --just-symbol-name "$checked" | sed 's/@.*//') ;;
    esac
    for symbol in "$@"; do
        printf '%s\n' "$undefined" | grep -qx -- "$symbol" ||
            die "$target: $(basename "$checked") does not import $symbol"
    done
    say "$target:   $(basename "$checked") imports $*"
}

# What each Linux code path must call.
check_imports() {
    # The memory layer: memfd backings, punched holes, seals.
    require_imports "$(object_of daemon/mem_linux.c)" memfd_create fallocate fcntl mmap madvise
    require_imports "$(object_of common/peer_linux.c)" getsockopt
    require_imports "$(object_of common/handoff_linux.c)" sendmsg recvmsg mmap
    # And per program: the daemon makes memfds and waits in epoll (libuv's
    # Linux backend, linked in); the library receives and maps them.
    require_imports "$(artifact_of mempoold)" memfd_create fallocate recvmsg sendmsg epoll_ctl
    require_imports "$(artifact_of mempool)" recvmsg mmap munmap
    require_imports "$(artifact_of mempoolctl)" connect
}

# Every *_linux.c belongs to some target, and no *_darwin.c does.
check_platform_sources() {
    for src in $(cd "$ROOT" && find common daemon client ctl -name '*_linux.c' 2>/dev/null | sort); do
        object_of "$src" >/dev/null
    done
    if grep -q '_darwin\.c ' "$INVENTORY"; then
        die "$target: a Darwin source was compiled for Linux"
    fi
}

# shellcheck disable=SC2094 # the loop and the awk in it only read INVENTORY
check_artifacts() {
    while read -r kind type name path; do
        [ "$kind" = artifact ] || continue
        case $type in
        STATIC_LIBRARY)
            expect_archive "$path" "$(awk -v t="$name" '$1 == "object" && $2 == t' "$INVENTORY" | wc -l)"
            NAMESPACE=""
            [ "$name" != mempool_static ] || expect_library_namespace "$path"
            say "$target:   library $(basename "$path"): $(llvm-ar t "$path" | wc -l) AArch64 objects${NAMESPACE:+, $NAMESPACE}" ;;
        EXECUTABLE)
            # PIE programs are ELF shared objects (ET_DYN) to readobj.
            expect_elf "$path" "(Executable|SharedObject)"
            expect_only_glibc "$path"
            say "$target:   program $(basename "$path"): $(file -bL "$path" | cut -d, -f1-2)" ;;
        SHARED_LIBRARY | MODULE_LIBRARY)
            expect_elf "$path" SharedObject
            expect_only_glibc "$path"
            say "$target:   library $(basename "$path"): $(file -bL "$path" | cut -d, -f1-2)" ;;
        esac
    done <"$INVENTORY"
}

check_object() { expect_elf "$1" Relocatable; }

object_kind() { echo "ELF AArch64"; }

# libuv and libyaml link into an AArch64 program against glibc.
check_toolchain_link() {
    probe="$BUILD/$target.probe"
    cat >"$probe.c" <<'PROBE'
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <uv.h>
#include <yaml.h>

int main(void)
{
    uv_loop_t loop;
    yaml_parser_t parser;
    if (uv_loop_init(&loop) != 0 || !yaml_parser_initialize(&parser))
        return 1;
    int fd = memfd_create("probe", MFD_CLOEXEC);
    printf("libuv %s, libyaml %s, memfd %d\n", uv_version_string(), yaml_get_version_string(), fd);
    yaml_parser_delete(&parser);
    return uv_loop_close(&loop);
}
PROBE
    # shellcheck disable=SC2046
    "$CACHE/bin/$target/cc" -std=c11 -Wall -Wextra -Werror -o "$probe" "$probe.c" \
        $(PKG_CONFIG_LIBDIR=$(deps_pkg_config_dirs) pkg-config --cflags --libs libuv yaml-0.1) ||
        die "$target: the toolchain probe (libuv, libyaml, glibc) does not link"
    expect_elf "$probe" "(Executable|SharedObject)"
    expect_only_glibc "$probe"
    require_imports "$probe" memfd_create epoll_ctl
}

cross_main "$@"
