# CMake toolchain for the Darwin cross-build (tests/darwin/cross-build.sh):
# macOS on arm64 or x86_64 through `zig cc`. MEMPOOL_CROSS_BIN is the folder
# of that target's cc/ar/ranlib wrappers, named after the Zig target
# (e.g. .../aarch64-macos.11.0); the script writes them.
#
# CMAKE_SYSTEM_NAME Darwin makes CMake's APPLE true, so mempoold's
# CMakeLists picks its *_darwin.c files as it does on a Mac.

set(CMAKE_SYSTEM_NAME Darwin)
# try_compile projects read this file again and need the same compiler.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MEMPOOL_CROSS_BIN)

if(NOT MEMPOOL_CROSS_BIN)
  message(FATAL_ERROR "zig-darwin.cmake: set MEMPOOL_CROSS_BIN to a wrapper folder")
endif()
get_filename_component(_mempool_zig_target "${MEMPOOL_CROSS_BIN}" NAME)
if(_mempool_zig_target MATCHES "^aarch64-")
  set(CMAKE_SYSTEM_PROCESSOR arm64)
elseif(_mempool_zig_target MATCHES "^x86_64-")
  set(CMAKE_SYSTEM_PROCESSOR x86_64)
else()
  message(FATAL_ERROR "zig-darwin.cmake: unknown CPU in ${_mempool_zig_target}")
endif()

set(CMAKE_C_COMPILER "${MEMPOOL_CROSS_BIN}/cc")
# Zig's archiver writes the BSD archive format Apple's linker expects.
set(CMAKE_AR "${MEMPOOL_CROSS_BIN}/ar" CACHE FILEPATH "archiver")
set(CMAKE_RANLIB "${MEMPOOL_CROSS_BIN}/ranlib" CACHE FILEPATH "ranlib")

# The SDK is Zig's bundled headers and libSystem stubs, chosen by the
# target's OS version; no -isysroot, -arch or -mmacosx-version-min on top.
set(CMAKE_OSX_SYSROOT "" CACHE PATH "unused: zig cc brings the macOS SDK")
set(CMAKE_OSX_ARCHITECTURES "" CACHE STRING "unused: the zig target names the CPU")
set(CMAKE_OSX_DEPLOYMENT_TARGET "" CACHE STRING "unused: the zig target names the version")

# Libraries come only from pkg-config, whose PKG_CONFIG_LIBDIR the script
# points at this target's prefixes: FindPkgConfig looks for each library in
# the -L folders pkg-config names and nowhere else, so no Linux library of
# the host can be picked up.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
