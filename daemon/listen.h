/* Listening Unix sockets at policy paths (when no service manager hands
 * them over). */
#ifndef MEMPOOL_LISTEN_H
#define MEMPOOL_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

/* Binds and listens on `path` with `mode` (chmod after bind: the umask
 * must not decide who may connect). A socket file nobody answers on is a
 * leftover of a crash and is replaced; one a live daemon answers on is
 * -EADDRINUSE. A missing parent folder is created with mode 0700 (the
 * per-user default folder). Returns a non-blocking, close-on-exec fd or
 * -errno. */
int listen_unix(const char *path, int type, uint32_t mode);

/* A listening socket handed over by a service manager: checked to be a
 * listening Unix socket of `type` (-ENOTSOCK, -EPROTOTYPE, -EINVAL: it is
 * closed then) and made non-blocking and close-on-exec. */
int listen_adopt(int fd, int type);
/* The same for a listening TCP socket (AF_INET or AF_INET6, SOCK_STREAM):
 * the metrics endpoint's, handed over by the service manager. */
int listen_adopt_inet(int fd);

/* The service manager's socket called `name` (daemon/activation.h), else
 * one bound at `path`; *bound says which (only a bound path is ours to
 * unlink). A fd or -errno. */
int listen_open(const char *name, const char *path, int type, uint32_t mode, bool *bound);

#endif
