/* systemd socket activation and readiness, without libsystemd: the
 * protocol is a few environment variables and one datagram
 * (sd_listen_fds(3), sd_notify(3)).
 *
 * systemd passes the sockets of mempoold.socket as fds 3.. with
 * LISTEN_FDS=N, LISTEN_PID=<our pid> and LISTEN_FDNAMES=a:b:... from each
 * socket's FileDescriptorName=; they are matched here by name, never by
 * order. */
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

/* LISTEN_FDS, when LISTEN_PID says the sockets are ours; 0 otherwise. */
static int listen_fds(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    long n = strtol(fds, NULL, 10);
    return n > 0 && n < 1024 ? (int)n : 0;
}

/* The index of `name` in LISTEN_FDNAMES (colon-separated), or -1. */
static int name_index(const char *name, int n)
{
    const char *names = getenv("LISTEN_FDNAMES");
    size_t len = strlen(name);
    for (int i = 0; names != NULL && i < n; i++) {
        if (strncmp(names, name, len) == 0 && (names[len] == ':' || names[len] == '\0'))
            return i;
        names = strchr(names, ':');
        if (names != NULL)
            names++;
    }
    return -1;
}

int activation_socket(const char *name)
{
    int i = name_index(name, listen_fds());
    return i < 0 ? -ENOENT : SD_LISTEN_FDS_START + i;
}

static const char *const state_messages[] = {
    [ACTIVATION_READY] = "READY=1",
    [ACTIVATION_RELOADING] = "RELOADING=1",
    [ACTIVATION_STOPPING] = "STOPPING=1",
    [ACTIVATION_WATCHDOG] = "WATCHDOG=1",
};

/* $NOTIFY_SOCKET is a path, or an abstract address when it starts with
 * '@'. */
static socklen_t notify_address(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len = path != NULL ? strlen(path) : 0;
    if (len == 0 || len >= sizeof sa->sun_path || (path[0] != '/' && path[0] != '@'))
        return 0;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len);
    if (path[0] == '@')
        sa->sun_path[0] = '\0';
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* One datagram to $NOTIFY_SOCKET. Readiness is advisory: a manager that
 * cannot hear us still runs us. */
static void send_notification(const char *msg, size_t len)
{
    struct sockaddr_un sa;
    socklen_t salen = notify_address(&sa);
    if (salen == 0)
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
    close(fd);
}

void activation_notify(activation_state state)
{
    char msg[64];
    int len = snprintf(msg, sizeof msg, "%s", state_messages[state]);
    /* systemd 253+ (Type=notify-reload) wants the time of the reload. */
    if (state == ACTIVATION_RELOADING) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        len = snprintf(msg, sizeof msg, "%s\nMONOTONIC_USEC=%llu", state_messages[state],
                       (unsigned long long)now.tv_sec * 1000000ULL +
                           (unsigned long long)now.tv_nsec / 1000);
    }
    send_notification(msg, (size_t)len);
}

void activation_status(const char *text)
{
    char msg[256];
    int len = snprintf(msg, sizeof msg, "STATUS=%s", text);
    send_notification(msg, len < (int)sizeof msg ? (size_t)len : sizeof msg - 1);
}

/* sd_watchdog_enabled(3): WATCHDOG_USEC, for us when WATCHDOG_PID is
 * unset or names our pid. */
uint64_t activation_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (usec == NULL || (pid != NULL && strtol(pid, NULL, 10) != (long)getpid()))
        return 0;
    char *end;
    unsigned long long v = strtoull(usec, &end, 10);
    return end != usec && *end == '\0' ? (uint64_t)v : 0;
}
