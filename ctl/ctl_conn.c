#include "ctl_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"

#define MAX_REPLY (256u * 1024 * 1024)

void ctl_conn_init(ctl_conn *c, const char *path, volatile sig_atomic_t *interrupted)
{
    *c = (ctl_conn){ .path = path, .interrupted = interrupted, .fd = -1 };
}

static int say(ctl_conn *c, int err, const char *fmt, const char *detail)
{
    snprintf(c->message, sizeof c->message, fmt, c->path, detail);
    return err;
}

static int not_admin_socket(ctl_conn *c)
{
    return say(c, -EPROTOTYPE,
               "%s is mempoold's client socket (for programs using libmempool), not its admin "
               "socket: name the admin socket (the policy's admin.socket) with -s or "
               "MEMPOOL_ADMIN_SOCKET%s", "");
}

static int explain_connect_error(ctl_conn *c, int err)
{
    switch (err) {
    case ENOENT:
        return say(c, -err, "no admin socket at %s: is mempoold running? "
                            "(-s PATH or MEMPOOL_ADMIN_SOCKET name another)%s", "");
    case ECONNREFUSED:
        return say(c, -err, "nothing answers at %s: mempoold is not running "
                            "(the socket file is left from an earlier run)%s", "");
    case EACCES:
    case EPERM:
        return say(c, -err, "permission denied on %s: the admin socket is for the users in "
                            "the policy's admin.users and admin.groups%s", "");
    /* Linux: a stream socket cannot connect to the client socket, which
     * is SOCK_SEQPACKET. */
    case EPROTOTYPE:
        return not_admin_socket(c);
    default:
        return say(c, -err, "cannot connect to %s: %s", strerror(err));
    }
}

int ctl_conn_open(ctl_conn *c)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ctl_conn_close(c);
    if (strlen(c->path) >= sizeof sa.sun_path)
        return explain_connect_error(c, ENAMETOOLONG);
    strcpy(sa.sun_path, c->path);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c->fd < 0)
        return explain_connect_error(c, errno);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = errno;
        ctl_conn_close(c);
        return explain_connect_error(c, err);
    }
    return 0;
}

/* 0, or the negative errno of the failed write (EPIPE when the daemon
 * went away: mempoolctl ignores SIGPIPE, so write() cannot kill it). */
static int send_all(ctl_conn *c, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(c->fd, data + done, len - done);
        if (n < 0 && errno == EINTR && !*c->interrupted)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

/* The line, padded with spaces (which the admin socket ignores) to at
 * least a protocol header: sent by mistake to the client socket where it
 * is a stream (macOS), it is then read as one bad frame and answered at
 * once with a binary error frame, instead of left waiting for the rest
 * of a header. */
static int send_line(ctl_conn *c, const char *line)
{
    static const char spaces[] = "                        ";
    _Static_assert(sizeof spaces == PROTO_HEADER_SIZE + 1, "one space per header byte");
    size_t len = strlen(line);
    int err = len > 0 ? send_all(c, line, len - 1) : 0;
    if (err == 0 && len < PROTO_HEADER_SIZE)
        err = send_all(c, spaces, PROTO_HEADER_SIZE - len);
    return err != 0 ? err : send_all(c, "\n", 1);
}

/* Reads more; 0, or a negative errno (-EPIPE: the daemon closed). */
static int fill(ctl_conn *c)
{
    if (c->used == c->cap) {
        size_t cap = c->cap == 0 ? 65536 : c->cap * 2;
        char *buf = cap <= MAX_REPLY ? realloc(c->buf, cap + 1) : NULL;
        if (buf == NULL)
            return -EFBIG;
        c->buf = buf;
        c->cap = cap;
    }
    ssize_t n;
    do
        n = read(c->fd, c->buf + c->used, c->cap - c->used);
    while (n < 0 && errno == EINTR && !*c->interrupted);
    if (n <= 0)
        return n < 0 ? -errno : -EPIPE;
    c->used += (size_t)n;
    return 0;
}

/* The admin socket answers in text; the client socket in binary frames
 * (a version number, zero bytes). */
static int looks_binary(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') ||
            p[i] == 0x7f)
            return 1;
    return 0;
}

static char *read_line(ctl_conn *c, int *err)
{
    if (c->consumed > 0) {
        memmove(c->buf, c->buf + c->consumed, c->used - c->consumed);
        c->used -= c->consumed;
        c->consumed = 0;
    }
    char *nl = NULL;
    while (c->used == 0 || (nl = memchr(c->buf, '\n', c->used)) == NULL)
        if ((*err = fill(c)) != 0)
            return NULL;
    *nl = '\0';
    c->consumed = (size_t)(nl - c->buf) + 1;
    return c->buf;
}

static void explain_exchange_error(ctl_conn *c, int send_err, int *err)
{
    if (c->used > 0 && looks_binary(c->buf, c->used))
        *err = not_admin_socket(c);
    else if (send_err != 0)
        *err = say(c, send_err, "cannot send to %s: %s", strerror(-send_err));
    else if (*err == -EFBIG)
        say(c, *err, "the reply from %s is too large%s", "");
    else if (*err == -EPIPE)
        say(c, *err, "mempoold at %s closed the connection without a reply%s", "");
    else
        say(c, *err, "no reply from mempoold at %s: %s", strerror(-*err));
}

/* A daemon that refuses a connection replies and closes at once, so a
 * failed send can still have a reply to read. */
char *ctl_conn_exchange(ctl_conn *c, const char *line, int *err)
{
    if (c->fd < 0 && (*err = ctl_conn_open(c)) != 0)
        return NULL;
    int send_err = send_line(c, line);
    char *reply = read_line(c, err);
    if (reply != NULL && looks_binary(reply, strlen(reply)) == 0 &&
        c->consumed == strlen(reply) + 1) {
        *err = 0;
        return reply;
    }
    if (reply == NULL && *c->interrupted) {
        say(c, *err, "interrupted while waiting for %s%s", "");
        return NULL;
    }
    if (reply != NULL) /* a line with a NUL or control bytes in it */
        *err = -EPROTO;
    explain_exchange_error(c, send_err, err);
    return NULL;
}

void ctl_conn_close(ctl_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->used = c->consumed = 0;
}

void ctl_conn_free(ctl_conn *c)
{
    ctl_conn_close(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}
