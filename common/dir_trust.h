/* Whether a folder may be trusted with a socket: the daemon checks the
 * folder it binds in, the library the per-user folder it looks in. */
#ifndef MEMPOOL_DIR_TRUST_H
#define MEMPOOL_DIR_TRUST_H

#include <stddef.h>

/* A folder one may trust with a socket is a folder owned by this uid or
 * root, that nobody else can write to unless it is sticky (/tmp); a
 * system group (gid below MEMPOOL_FIRST_USER_GID) may write to it, as
 * the group daemon writes macOS's /var/run. Another user who made
 * /tmp/mempoold-<uid> first could otherwise put a daemon of their own
 * behind the path.
 *
 * A symbolic link on the way is followed to the folder it names, and that
 * folder is judged (Debian's /var/run -> /run, macOS's /var ->
 * private/var). The link itself must be owned by this uid or root, in a
 * folder that passes the same rules, or someone else could point it
 * elsewhere later.
 *
 * 0, or -ENOTDIR / -EPERM / -ELOOP / -ENAMETOOLONG / -errno of lstat; then
 * `why` (when not NULL) says which rule failed, naming the folder or link. */
int mempool_dir_check(const char *dir, char *why, size_t why_len);

#endif
