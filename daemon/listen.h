/* Listening Unix sockets at policy paths (when no service manager hands
 * them over). */
#ifndef MEMPOOL_LISTEN_H
#define MEMPOOL_LISTEN_H

#include <stdint.h>

/* Binds and listens on `path` with `mode` (chmod after bind: the umask
 * must not decide who may connect). A socket file nobody answers on is a
 * leftover of a crash and is replaced; one a live daemon answers on is
 * -EADDRINUSE. A missing parent folder is created with mode 0700 (the
 * per-user default folder). Returns a non-blocking, close-on-exec fd or
 * -errno. */
int listen_unix(const char *path, int type, uint32_t mode);

#endif
