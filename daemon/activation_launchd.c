/* launchd socket activation (launch_activate_socket(3), launch.h): the
 * plist's Sockets dictionary names each socket ("client", "admin"),
 * launchd creates, binds and listens on it before the job starts, and the
 * job takes the descriptors by that name.
 *
 * launchd has no readiness protocol: a job counts as running once it is
 * spawned, and KeepAlive restarts it when it exits. So activation_notify
 * has nobody to tell. */
#include "activation.h"

#include <errno.h>
#include <launch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static bool is_listening(int fd)
{
    int accepting = 0;
    socklen_t len = sizeof accepting;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting != 0;
}

/* launchd returns one descriptor per address it made for the name (a
 * SockPathName gives one; a host name with several addresses gives more).
 * The daemon serves one socket per name: it keeps the first listening one
 * and closes the others. */
static int keep_first_listening(int *fds, size_t count)
{
    int kept = -1;
    for (size_t i = 0; i < count; i++) {
        if (kept < 0 && is_listening(fds[i]))
            kept = fds[i];
        else
            close(fds[i]);
    }
    return kept;
}

/* ESRCH: the process is not managed by launchd; ENOENT: its plist has no
 * socket by that name. Either way the daemon binds the policy's path. */
int activation_socket(const char *name)
{
    int *fds = NULL;
    size_t count = 0;
    int err = launch_activate_socket(name, &fds, &count);
    if (err != 0)
        return err == ESRCH || err == ENOENT ? -ENOENT : -err;
    int fd = keep_first_listening(fds, count);
    free(fds);
    return fd < 0 ? -ENOTSOCK : fd;
}

void activation_notify(activation_state state) { (void)state; }

/* launchd has no status line and no watchdog: KeepAlive restarts a daemon
 * that exits, not one that hangs. */
void activation_status(const char *text) { (void)text; }

uint64_t activation_watchdog_usec(void) { return 0; }
