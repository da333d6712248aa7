# Run by `cmake --install` (install(SCRIPT ...)) and by cmake/uninstall.cmake
# on Linux: after libmempool.so changes in the live system (no DESTDIR), the
# dynamic linker's cache is rebuilt, or a program linked with -lmempool
# fails with "libmempool.so.0: cannot open shared object file" until someone
# runs ldconfig. Into a DESTDIR (a package build), the package manager runs
# it when the package is installed.
#   cmake -DLIBDIR=/usr/local/lib -P cmake/ldconfig.cmake
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  message(STATUS "ldconfig: not run into DESTDIR; the package's installation runs it")
  return()
endif()
find_program(MEMPOOL_LDCONFIG ldconfig PATHS /sbin /usr/sbin NO_CACHE)
if(NOT MEMPOOL_LDCONFIG)
  message(STATUS "ldconfig not found: run it as root so programs find libmempool in ${LIBDIR}")
  return()
endif()
execute_process(COMMAND ${MEMPOOL_LDCONFIG} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(STATUS "ldconfig failed (${err}): run `ldconfig` as root, or give programs "
    "-Wl,-rpath,${LIBDIR} or LD_LIBRARY_PATH=${LIBDIR}")
  return()
endif()
message(STATUS "ldconfig: the dynamic linker's cache is rebuilt")
# A libdir outside the linker's search path (/etc/ld.so.conf) is not in
# the cache even now: say so rather than leave a program to find out.
if(EXISTS "${LIBDIR}/libmempool.so.${SOVERSION}")
  execute_process(COMMAND ${MEMPOOL_LDCONFIG} -p OUTPUT_VARIABLE cache)
  string(FIND "${cache}" "${LIBDIR}/libmempool.so.${SOVERSION}" at)
  if(at EQUAL -1)
    message(STATUS "${LIBDIR} is not in the dynamic linker's search path: add it to a file in "
      "/etc/ld.so.conf.d/ and run ldconfig, or link programs with -Wl,-rpath,${LIBDIR}")
  endif()
endif()
