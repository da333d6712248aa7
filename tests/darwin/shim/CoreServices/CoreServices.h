/* Cross-build shim, on the include path only for tests/darwin/cross-build.sh
 * (after every real header folder): Zig 0.11 ships no macOS frameworks.
 *
 * Check's lib/clock_gettime.c includes this umbrella header on Apple but
 * uses nothing from it: it converts mach_absolute_time() itself, from
 * <mach/mach_time.h>, precisely so as not to depend on CoreServices. So
 * the shim declares nothing. */
#ifndef __CORESERVICES__
#define __CORESERVICES__
#endif
