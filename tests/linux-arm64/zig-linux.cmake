# CMake toolchain for the aarch64 Linux cross-build
# (tests/linux-arm64/cross-build.sh): `zig cc -target aarch64-linux-gnu.2.36`,
# glibc 2.36 as Debian 12 ships it. MEMPOOL_CROSS_BIN is the folder of the
# target's cc/ar/ranlib wrappers, named after the Zig target; the script
# writes them. CMAKE_SYSTEM_NAME Linux makes mempoold's CMakeLists pick its
# *_linux.c files, as on an aarch64 Debian machine.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# try_compile projects read this file again and need the same compiler.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MEMPOOL_CROSS_BIN)

if(NOT MEMPOOL_CROSS_BIN)
  message(FATAL_ERROR "zig-linux.cmake: set MEMPOOL_CROSS_BIN to a wrapper folder")
endif()

set(CMAKE_C_COMPILER "${MEMPOOL_CROSS_BIN}/cc")
set(CMAKE_AR "${MEMPOOL_CROSS_BIN}/ar" CACHE FILEPATH "archiver")
set(CMAKE_RANLIB "${MEMPOOL_CROSS_BIN}/ranlib" CACHE FILEPATH "ranlib")

# Libraries come only from pkg-config, whose PKG_CONFIG_LIBDIR the script
# points at this target's prefixes; zig brings the C library, so nothing
# of the host's /usr (x86_64) can be picked up. Programs (python3 for the
# plist test) are the host's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
