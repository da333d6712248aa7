#include "paths.h"

#include "dir_trust.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mempool_default_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (geteuid() == 0)
        n = snprintf(buf, len, "/var/run");
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s", xdg);
    else
        n = snprintf(buf, len, "/tmp/mempoold-%u", (unsigned)geteuid());
    return n > 0 && (size_t)n < len ? buf : NULL;
}

char *mempool_default_path(const char *file, char *buf, size_t len)
{
    char dir[512];
    if (mempool_default_dir(dir, sizeof dir) == NULL)
        return NULL;
    int n = snprintf(buf, len, "%s/%s", dir, file);
    return n > 0 && (size_t)n < len ? buf : NULL;
}

char *mempool_user_socket(const char *file, char *buf, size_t len)
{
    char dir[512];
    struct stat st;
    if (mempool_default_dir(dir, sizeof dir) == NULL || mempool_dir_check(dir, NULL, 0) != 0 ||
        mempool_default_path(file, buf, len) == NULL)
        return NULL;
    return stat(buf, &st) == 0 && S_ISSOCK(st.st_mode) ? buf : NULL;
}
