/* Where the sockets live when nothing says otherwise, one rule for the
 * daemon, the library and mempoolctl:
 *   root:            /var/run/<file>
 *   anyone else:     $XDG_RUNTIME_DIR/<file>, else /tmp/mempoold-<uid>/<file> */
#ifndef MEMPOOL_PATHS_H
#define MEMPOOL_PATHS_H

#include <stddef.h>

#define MEMPOOL_SOCKET_FILE "mempoold.sock"
#define MEMPOOL_ADMIN_SOCKET_FILE "mempoold.admin.sock"

/* Writes the default path of `file` into buf; returns buf, or NULL when it
 * does not fit. */
char *mempool_default_path(const char *file, char *buf, size_t len);
/* The folder mempool_default_path puts files in, for this uid. */
char *mempool_default_dir(char *buf, size_t len);

/* The per-user default path of `file` if a socket is there and its folder
 * passes mempool_dir_check (dir_trust.h); NULL otherwise. */
char *mempool_user_socket(const char *file, char *buf, size_t len);

#endif
