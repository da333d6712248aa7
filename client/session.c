#include "session.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame_stream.h"
#include "paths.h"

#define SYSTEM_SOCKET "/var/run/" MEMPOOL_SOCKET_FILE
#define DEFAULT_CLIENT_NAME "libmempool"

int session_resolve_path(const char *arg, char *buf, size_t len)
{
    const char *env = getenv("MEMPOOL_SOCKET");
    char user_default[SESSION_PATH_MAX];
    const char *path = arg;
    if (path == NULL && env != NULL && env[0] != '\0')
        path = env;
    if (path == NULL)
        path = mempool_user_socket(MEMPOOL_SOCKET_FILE, user_default, sizeof user_default);
    if (path == NULL)
        path = SYSTEM_SOCKET;
    size_t n = strlen(path);
    if (n == 0 || n >= len)
        return MEMPOOL_EINVAL;
    memcpy(buf, path, n + 1);
    return 0;
}

/* The name the daemon logs for this client: $MEMPOOL_CLIENT_NAME, else
 * the kernel's name of the process where /proc has it, else the library's
 * name. Control characters would be refused on the wire: replace them. */
static void client_name(char out[PROTO_CLIENT_NAME_MAX + 1])
{
    const char *env = getenv("MEMPOOL_CLIENT_NAME");
    size_t n = 0;
    if (env != NULL && env[0] != '\0') {
        snprintf(out, PROTO_CLIENT_NAME_MAX + 1, "%s", env);
    } else {
        FILE *f = fopen("/proc/self/comm", "r");
        out[0] = '\0';
        if (f != NULL) {
            if (fgets(out, PROTO_CLIENT_NAME_MAX + 1, f) == NULL)
                out[0] = '\0';
            fclose(f);
        }
        out[strcspn(out, "\n")] = '\0';
    }
    for (n = 0; out[n] != '\0'; n++)
        if ((unsigned char)out[n] < 0x20 || out[n] == 0x7f)
            out[n] = '_';
    if (n == 0)
        snprintf(out, PROTO_CLIENT_NAME_MAX + 1, "%s", DEFAULT_CLIENT_NAME);
}

static int connect_socket(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, handoff_socket_type(), 0);
    if (fd < 0)
        return -errno;
    /* Not SOCK_CLOEXEC: macOS has no such socket() flag. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

void session_drop(mempool_client *c)
{
    if (c->sock >= 0)
        close(c->sock);
    c->sock = -1;
    c->epoch++;
    /* Backing ids name backings within one connection only. */
    backing_table_clear(&c->backings);
}

static uint64_t forks_seen;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* Runs in the child only; a plain increment, as the child has one thread. */
static void count_fork(void) { forks_seen++; }

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, count_fork); }

uint64_t session_fork_generation(void)
{
    pthread_once(&fork_handler_once, register_fork_handler);
    return forks_seen;
}

/* close(), never shutdown(): the descriptor is the child's copy, and
 * closing it drops only the child's reference to the socket, which the
 * parent's copy keeps open; shutdown() would end the parent's connection. */
void session_forget_parent(mempool_client *c)
{
    if (c->sock >= 0)
        close(c->sock);
    c->sock = -1;
    c->epoch++;
    block_table_forget(&c->blocks);
    backing_table_clear(&c->backings);
    c->fork_generation = forks_seen;
}

static int is_connection_lost(long err)
{
    return err == 0 || err == -EPIPE || err == -ECONNRESET ||
           err == -ENOTCONN;
}

/* The connection can no longer be trusted: drop it and say why. */
static int fail(mempool_client *c, long err)
{
    session_drop(c);
    if (is_connection_lost(err))
        return MEMPOOL_ECONNLOST;
    return err == -EPROTO ? MEMPOOL_EPROTO : MEMPOOL_EIO;
}

/* A status the daemon may send: a MEMPOOL_E* code, but not one that only
 * the library says about the connection (a daemon saying "connection lost"
 * would make the library reconnect over a live socket). */
static bool daemon_status(int32_t status)
{
    switch (status) {
#define MEMPOOL_DAEMON_STATUS(name, num, text) case MEMPOOL_##name:
        MEMPOOL_ERRNO_MAP(MEMPOOL_DAEMON_STATUS)
#undef MEMPOOL_DAEMON_STATUS
        return status != MEMPOOL_ECONN && status != MEMPOOL_ECONNLOST;
    default:
        return false;
    }
}

static int check_reply(mempool_client *c, const session_request *rq,
                       uint64_t id, const unsigned char *frame, size_t len,
                       session_reply *rp)
{
    proto_header h;
    int err = proto_decode_header(frame, len, 1, &h);
    if (err != 0) {
        session_drop(c);
        return err;
    }
    if (h.status != 0 && !daemon_status(h.status)) {
        session_drop(c);
        return MEMPOOL_EPROTO;
    }
    if (h.request_id == 0 && h.status < 0) {
        /* The daemon could not read our frame and closes the session. */
        session_drop(c);
        return h.status;
    }
    if (h.request_id != id || h.type != rq->type) {
        session_drop(c);
        return MEMPOOL_EPROTO;
    }
    if (h.status != 0) {
        handoff_object_close(&rp->obj);
        return h.status;
    }
    memcpy(rp->payload, frame + PROTO_HEADER_SIZE, h.length);
    return 0;
}

/* One frame from the daemon: on SOCK_SEQPACKET one message; on a stream
 * (macOS) the header, then the payload length it declares. Returns the
 * frame's length, 0 when the daemon hung up, or -errno. */
static ssize_t recv_frame(int sock, unsigned char *frame, handoff_object *obj)
{
    if (handoff_socket_type() != SOCK_STREAM)
        return handoff_recv(sock, frame, PROTO_MAX_FRAME, obj);
    size_t len = 0;
    ssize_t n = frame_stream_read(sock, frame, &len, obj);
    /* The socket blocks: -EAGAIN only when a receive timeout ran out. */
    if (n == -EAGAIN && obj != NULL)
        handoff_object_close(obj);
    return n;
}

static int exchange(mempool_client *c, const session_request *rq,
                    session_reply *rp)
{
    unsigned char frame[PROTO_MAX_FRAME];
    uint64_t id = c->next_request_id++;
    size_t n = proto_encode_request(frame, rq->type, id, rq->payload, rq->len);
    rp->obj = HANDOFF_OBJECT_NONE;
    int err = handoff_send(c->sock, frame, n, NULL);
    if (err != 0)
        return fail(c, err);
    ssize_t got = recv_frame(c->sock, frame, rq->takes_object ? &rp->obj : NULL);
    if (got <= 0)
        return fail(c, (long)got);
    err = check_reply(c, rq, id, frame, (size_t)got, rp);
    if (err != 0)
        handoff_object_close(&rp->obj);
    return err;
}

int session_send_oneway(mempool_client *c, uint16_t type, const void *payload, size_t len)
{
    unsigned char frame[PROTO_MAX_FRAME];
    if (c->sock < 0)
        return MEMPOOL_ECONNLOST;
    size_t n = proto_encode_request(frame, type, c->next_request_id++, payload, len);
    int err = handoff_send(c->sock, frame, n, NULL);
    return err != 0 ? fail(c, err) : 0;
}

static int say_hello(mempool_client *c)
{
    proto_hello hello = { .min_version = PROTO_MIN_VERSION,
                          .max_version = PROTO_VERSION,
                          .pid = (uint32_t)getpid() };
    client_name(hello.name);
    session_request rq = { .type = PROTO_HELLO };
    rq.len = proto_put_hello(rq.payload, &hello);
    session_reply rp;
    int err = exchange(c, &rq, &rp);
    if (err != 0)
        return err == MEMPOOL_ECONNLOST ? MEMPOOL_ECONN : err;
    proto_hello_reply reply;
    if (proto_get_hello_reply(rp.payload, &reply) != 0) {
        session_drop(c);
        return MEMPOOL_EPROTO;
    }
    if (reply.version < PROTO_MIN_VERSION || reply.version > PROTO_VERSION) {
        session_drop(c);
        return MEMPOOL_EVERSION;
    }
    c->session_id = reply.session_id;
    return 0;
}

int session_open(mempool_client *c)
{
    int fd = connect_socket(c->path);
    if (fd < 0)
        return MEMPOOL_ECONN;
    c->sock = fd;
    int err = say_hello(c);
    if (err != 0 && c->sock >= 0)
        session_drop(c); /* an error reply to HELLO leaves it open */
    return err;
}

int session_call(mempool_client *c, const session_request *rq,
                 session_reply *rp)
{
    int reconnected = 0;
    rp->obj = HANDOFF_OBJECT_NONE;
    if (c->sock < 0) {
        int err = session_open(c);
        if (err != 0)
            return err;
        reconnected = 1;
    }
    int err = exchange(c, rq, rp);
    if (err != MEMPOOL_ECONNLOST || !rq->retry_safe || reconnected)
        return err;
    err = session_open(c);
    return err != 0 ? err : exchange(c, rq, rp);
}
