# Tests of what `cmake --install` delivers, included from the tests section
# of CMakeLists.txt.

# Every man page renders without a warning (skipped without man-db, groff or
# mandoc).
set(MEMPOOL_MAN_PAGES)
# The .so links of the functions (CMakeLists.txt) are checked to point at
# a page that names them.
foreach(page mempool.3 mempoold.yaml.5 mempoold.8 mempoolctl.8)
  list(APPEND MEMPOOL_MAN_PAGES ${CMAKE_SOURCE_DIR}/man/${page})
endforeach()
file(GLOB MEMPOOL_FUNCTION_PAGES ${CMAKE_SOURCE_DIR}/man/mempool_*.3)
add_test(NAME install.man COMMAND sh ${CMAKE_SOURCE_DIR}/tests/install/check_man.sh
  ${MEMPOOL_MAN_PAGES} ${MEMPOOL_FUNCTION_PAGES} ${MEMPOOL_MAN_LINKS})
set_tests_properties(install.man PROPERTIES SKIP_RETURN_CODE 77)
# Every variable the code reads with getenv is in a man page's ENVIRONMENT.
add_test(NAME install.env_documented COMMAND sh
  ${CMAKE_SOURCE_DIR}/tests/install/check_env_documented.sh ${CMAKE_SOURCE_DIR})

if(TARGET mempool)
  # libmempool exports exactly the functions of mempool.h; neither library
  # defines a global outside mempool_* (client/libmempool_names.h renames
  # the internal ones).
  add_test(NAME install.exports COMMAND sh ${CMAKE_SOURCE_DIR}/tests/install/check_exports.sh
    $<TARGET_FILE:mempool> ${CMAKE_SOURCE_DIR}/client/include/mempool.h ${CMAKE_C_COMPILER}
    $<TARGET_FILE:mempool_static>)
endif()

# A program with its own session_open links statically against libmempool.a.
if(TARGET mempool_static)
  add_executable(static_namespace tests/install/static_namespace.c)
  target_link_libraries(static_namespace PRIVATE mempool_static mempool_warnings)
  add_test(NAME install.static_namespace COMMAND static_namespace)
endif()

# The installed tree: every file in its place, the systemd units verified,
# and a client built against it with pkg-config and with find_package.
if(MEMPOOL_OS STREQUAL "linux" AND TARGET mempool AND TARGET mempoold)
  cmake_path(ABSOLUTE_PATH MEMPOOL_SYSTEMD_UNIT_DIR BASE_DIRECTORY ${CMAKE_INSTALL_PREFIX}
    OUTPUT_VARIABLE unit_dir)
  cmake_path(ABSOLUTE_PATH MEMPOOL_SYSUSERS_DIR BASE_DIRECTORY ${CMAKE_INSTALL_PREFIX}
    OUTPUT_VARIABLE sysusers_dir)
  set(sanitize_flags "")
  if(MEMPOOL_SANITIZE)
    set(sanitize_flags "-fsanitize=address,undefined -fno-sanitize-recover=all")
  endif()
  set(install_tree ${CMAKE_COMMAND} -E env
    BUILD_DIR=${CMAKE_BINARY_DIR} SOURCE_DIR=${CMAKE_SOURCE_DIR}
    CMAKE=${CMAKE_COMMAND} CC=${CMAKE_C_COMPILER} "SANITIZE_FLAGS=${sanitize_flags}"
    VERSION=${PROJECT_VERSION} SOVERSION=${PROJECT_VERSION_MAJOR}
    PREFIX=${CMAKE_INSTALL_PREFIX} SBINDIR=${CMAKE_INSTALL_FULL_SBINDIR}
    BINDIR=${CMAKE_INSTALL_FULL_BINDIR} LIBDIR=${CMAKE_INSTALL_FULL_LIBDIR}
    INCLUDEDIR=${CMAKE_INSTALL_FULL_INCLUDEDIR} SYSCONFDIR=${CMAKE_INSTALL_FULL_SYSCONFDIR}
    MANDIR=${CMAKE_INSTALL_FULL_MANDIR} UNITDIR=${unit_dir} SYSUSERSDIR=${sysusers_dir}
    sh ${CMAKE_SOURCE_DIR}/tests/install/install_tree.sh)
  add_test(NAME install.tree COMMAND ${install_tree})
  # `systemd-analyze verify` of the installed units: skipped (77) where
  # systemd-analyze is missing (a container without systemd).
  add_test(NAME install.units COMMAND ${install_tree} units)
  set_tests_properties(install.units PROPERTIES SKIP_RETURN_CODE 77)
endif()
