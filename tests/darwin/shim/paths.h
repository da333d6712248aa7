/* Cross-build shim, on the include path only for tests/darwin/cross-build.sh
 * (after every real header folder): Zig 0.11's macOS headers have no
 * <paths.h>. On a Mac the SDK's own file, from Apple's Libc, is used.
 *
 * Only what code in the build uses, with macOS's values: libuv's
 * uv_spawn (src/unix/process.c) searches _PATH_DEFPATH when the child's
 * environment has no PATH. */
#ifndef _PATHS_H_
#define _PATHS_H_

/* The search path login(1) and execvp(3) use on macOS. */
#define _PATH_DEFPATH "/usr/bin:/bin"
#define _PATH_BSHELL "/bin/sh"
#define _PATH_DEVNULL "/dev/null"

#endif /* _PATHS_H_ */
