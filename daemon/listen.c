#include "listen.h"

#include "activation.h"
#include "dir_trust.h"
#include "log.h"
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

/* A socket file is stale when connecting to it is refused. */
static int remove_stale(const char *path, int type, const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int probe = socket(AF_UNIX, type, 0);
    if (probe < 0)
        return -errno;
    int alive = connect(probe, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(probe);
    if (alive)
        return -EADDRINUSE;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* The socket's folder: made (0700) when missing; when it is there, it must
 * be one nobody else controls (mempool_dir_check), or another user could
 * swap the socket for their own. */
static int make_parent(const char *path)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    char why[256];
    int rc = mempool_dir_check(dir, why, sizeof why);
    if (rc != 0)
        log_error("%s is not a folder to trust with a socket: %s (a socket's folder must "
                  "be owned by this user or root and writable by nobody else unless sticky)",
                  dir, why);
    return rc;
}

static int set_flags(int fd)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return -errno;
    return 0;
}

int listen_unix(const char *path, int type, uint32_t mode)
{
    struct sockaddr_un sa;
    int rc = fill_addr(path, &sa);
    if (rc == 0)
        rc = make_parent(path);
    if (rc == 0)
        rc = remove_stale(path, type, &sa);
    if (rc != 0)
        return rc;
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (const struct sockaddr *)&sa, sizeof sa) != 0 ||
        chmod(path, (mode_t)mode) != 0 || listen(fd, SOMAXCONN) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if ((rc = set_flags(fd)) != 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    return fd;
}

static int socket_int_option(int fd, int option, int *value)
{
    socklen_t len = sizeof *value;
    return getsockopt(fd, SOL_SOCKET, option, value, &len) == 0 ? 0 : -errno;
}

/* inet: an AF_INET or AF_INET6 socket (the metrics endpoint); otherwise
 * AF_UNIX. */
static int check_listening(int fd, bool inet, int type)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int got_type = 0, accepting = 0;
    int rc = getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ? -errno : 0;
    bool family_ok = inet ? sa.ss_family == AF_INET || sa.ss_family == AF_INET6
                          : sa.ss_family == AF_UNIX;
    if (rc == 0 && !family_ok)
        rc = -EPROTOTYPE;
    if (rc == 0 && (rc = socket_int_option(fd, SO_TYPE, &got_type)) == 0 && got_type != type)
        rc = -EPROTOTYPE;
    if (rc == 0 && (rc = socket_int_option(fd, SO_ACCEPTCONN, &accepting)) == 0 && !accepting)
        rc = -EINVAL;
    return rc;
}

static int adopt(int fd, bool inet, int type)
{
    int rc = check_listening(fd, inet, type);
    if (rc == 0)
        rc = set_flags(fd);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int listen_adopt(int fd, int type) { return adopt(fd, false, type); }

int listen_adopt_inet(int fd) { return adopt(fd, true, SOCK_STREAM); }

int listen_open(const char *name, const char *path, int type, uint32_t mode, bool *bound)
{
    int fd = activation_socket(name);
    *bound = fd == -ENOENT;
    if (*bound)
        return listen_unix(path, type, mode);
    return fd < 0 ? fd : listen_adopt(fd, type);
}
