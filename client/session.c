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

/* A request sent and waiting for its reply; in c->pending until
 * answered. */
struct session_pending {
    uint64_t id;
    uint16_t type;
    bool takes_object; /* its reply may bring a backing */
    bool done;
    int status;
    session_reply *rp;
    session_pending *next;
};

/* ---- fork() ------------------------------------------------------------------
 * Another thread may be inside a call on a client (holding its lock, or
 * waiting on its condition variable) when this one forks. The child has
 * only the forking thread: a lock copied while held would never be let
 * go, and glibc's condition variable waits for the parent's waiters,
 * which the child does not have. So every client is on one list, and
 * fork() takes the list's lock and then every client's lock (prepare):
 * the child gets each client as no thread was changing it, and both
 * processes let go of the locks after (the child also starts each
 * condition variable afresh). Order: the list's lock, then the clients'
 * in list order; the list's lock is never taken while holding a client's
 * (session_init and session_destroy run without it). A fork waits at
 * most for the calls holding a lock to reach their wait for a reply,
 * which they do without it. */
static pthread_mutex_t all_clients_lock = PTHREAD_MUTEX_INITIALIZER;
static mempool_client *all_clients;
static uint64_t forks_seen;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    pthread_mutex_lock(&all_clients_lock);
    for (mempool_client *c = all_clients; c != NULL; c = c->fork_next)
        pthread_mutex_lock(&c->lock);
}

static void after_fork_in_parent(void)
{
    for (mempool_client *c = all_clients; c != NULL; c = c->fork_next)
        pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&all_clients_lock);
}

/* Runs in the child only, which has one thread. */
static void after_fork_in_child(void)
{
    forks_seen++;
    for (mempool_client *c = all_clients; c != NULL; c = c->fork_next) {
        pthread_cond_init(&c->turn, NULL);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&all_clients_lock);
}

static void register_fork_handler(void)
{
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

uint64_t session_fork_generation(void)
{
    pthread_once(&fork_handler_once, register_fork_handler);
    return forks_seen;
}

int session_init(mempool_client *c)
{
    pthread_once(&fork_handler_once, register_fork_handler);
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return MEMPOOL_ENOMEM;
    if (pthread_cond_init(&c->turn, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        return MEMPOOL_ENOMEM;
    }
    pthread_mutex_lock(&all_clients_lock);
    c->fork_prev = NULL;
    c->fork_next = all_clients;
    if (all_clients != NULL)
        all_clients->fork_prev = c;
    all_clients = c;
    pthread_mutex_unlock(&all_clients_lock);
    return 0;
}

void session_destroy(mempool_client *c)
{
    pthread_mutex_lock(&all_clients_lock);
    if (c->fork_prev != NULL)
        c->fork_prev->fork_next = c->fork_next;
    else
        all_clients = c->fork_next;
    if (c->fork_next != NULL)
        c->fork_next->fork_prev = c->fork_prev;
    pthread_mutex_unlock(&all_clients_lock);
    pthread_cond_destroy(&c->turn);
    pthread_mutex_destroy(&c->lock);
}

static void answer(mempool_client *c, session_pending *p, int status)
{
    session_pending **link = &c->pending;
    while (*link != p)
        link = &(*link)->next;
    *link = p->next;
    p->status = status;
    p->done = true;
    pthread_cond_broadcast(&c->turn);
}

/* Every request in flight fails with `status`. */
static void answer_all(mempool_client *c, int status)
{
    while (c->pending != NULL)
        answer(c, c->pending, status);
}

/* A reader is blocked in recv on the socket without the lock: closing the
 * descriptor under it could hand its number to another open meanwhile, so
 * the socket is shut down (the reader wakes to a hang-up) and the reader
 * closes it (read_one). */
static void drop_with(mempool_client *c, int status)
{
    if (c->sock >= 0) {
        if (c->reader_sock == c->sock)
            shutdown(c->sock, SHUT_RDWR);
        else
            close(c->sock);
    }
    c->sock = -1;
    c->epoch++;
    /* Backing ids name backings within one connection only. */
    backing_table_clear(&c->backings, &c->blocks);
    answer_all(c, status);
    client_pools_drop_kept(&c->pools);
    /* Reports about that connection's blocks: nobody to tell any more. */
    c->cache_reports.count = 0;
    c->give_back_requested = false;
}

void session_drop(mempool_client *c) { drop_with(c, MEMPOOL_ECONNLOST); }


/* close(), never shutdown(): the descriptor is the child's copy, and
 * closing it drops only the child's reference to the socket, which the
 * parent's copy keeps open; shutdown() would end the parent's connection. */
void session_forget_parent(mempool_client *c)
{
    if (c->sock >= 0)
        close(c->sock);
    c->sock = -1;
    c->epoch++;
    /* The inherited blocks stay mapped: the pool-wide backings keep them. */
    backing_table_clear(&c->backings, &c->blocks);
    block_table_forget(&c->blocks);
    /* The parent's requests in flight belong to threads the child does
     * not have: nobody here waits for them. */
    c->pending = NULL;
    c->reader_sock = -1;
    client_pools_drop_kept(&c->pools); /* the child's copies of them */
    c->cache_reports.count = 0;              /* about the parent's blocks */
    c->give_back_requested = false;
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
    int status = MEMPOOL_EIO;
    if (is_connection_lost(err))
        status = MEMPOOL_ECONNLOST;
    else if (err == -EPROTO)
        status = MEMPOOL_EPROTO;
    drop_with(c, status);
    return status;
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

static session_pending *find_pending(const mempool_client *c, uint64_t id)
{
    session_pending *p = c->pending;
    while (p != NULL && p->id != id)
        p = p->next;
    return p;
}

/* Hands a frame to the request it answers. A frame that answers nothing
 * in flight, or brings a backing its request cannot take, is the daemon
 * talking nonsense: every request fails and the connection is dropped.
 * The object is always consumed. */
static void dispatch(mempool_client *c, const unsigned char *frame, size_t len,
                     handoff_object *obj)
{
    proto_header h;
    int err = proto_decode_header(frame, len, 1, &h);
    session_pending *p = NULL;
    if (err == 0 && h.status != 0 && !daemon_status(h.status))
        err = MEMPOOL_EPROTO;
    if (err == 0 && h.request_id == 0 && h.status < 0)
        err = h.status; /* the daemon could not read a frame: it hangs up */
    if (err == 0 && ((p = find_pending(c, h.request_id)) == NULL || h.type != p->type ||
                     (!p->takes_object && !handoff_object_empty(obj))))
        err = MEMPOOL_EPROTO;
    if (err != 0) {
        handoff_object_close(obj);
        drop_with(c, err);
        return;
    }
    if (h.status != 0) {
        handoff_object_close(obj);
    } else {
        memcpy(p->rp->payload, frame + PROTO_HEADER_SIZE, h.length);
        p->rp->obj = *obj;
    }
    if (h.flags & PROTO_FLAG_GIVE_BACK)
        c->give_back_requested = true;
    *obj = HANDOFF_OBJECT_NONE;
    answer(c, p, h.status);
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

/* Takes the reader's seat: reads one frame with the lock released and
 * hands it over. If the connection was dropped meanwhile (its requests
 * already failed), the socket was left to this reader to close. */
static void read_one(mempool_client *c)
{
    unsigned char frame[PROTO_MAX_FRAME];
    handoff_object obj = HANDOFF_OBJECT_NONE;
    int sock = c->sock;
    uint64_t epoch = c->epoch;
    c->reader_sock = sock;
    pthread_mutex_unlock(&c->lock);
    ssize_t got = recv_frame(sock, frame, &obj);
    pthread_mutex_lock(&c->lock);
    c->reader_sock = -1;
    pthread_cond_broadcast(&c->turn);
    if (c->epoch != epoch) {
        handoff_object_close(&obj);
        close(sock);
    } else if (got <= 0) {
        handoff_object_close(&obj);
        fail(c, (long)got);
    } else {
        dispatch(c, frame, (size_t)got, &obj);
    }
}

/* Waits for p's reply: reads the socket when nobody else does, else
 * sleeps until the reader hands the reply over or leaves the seat. p is
 * in c->pending until answered, which happens before this returns. */
static int await_reply(mempool_client *c, session_pending *p)
{
    p->next = c->pending;
    c->pending = p;
    while (!p->done) {
        if (c->reader_sock >= 0)
            pthread_cond_wait(&c->turn, &c->lock);
        else
            read_one(c);
    }
    return p->status;
}

/* The pending record is on the heap: other threads reach it through
 * c->pending until it is answered. */
static int exchange(mempool_client *c, const session_request *rq,
                    session_reply *rp)
{
    unsigned char frame[PROTO_MAX_FRAME];
    rp->obj = HANDOFF_OBJECT_NONE;
    session_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return MEMPOOL_ENOMEM;
    *p = (session_pending){ .id = c->next_request_id++, .type = rq->type,
                            .takes_object = rq->takes_object != 0, .rp = rp };
    size_t n = proto_encode_request(frame, rq->type, p->id, rq->payload, rq->len);
    int err = handoff_send(c->sock, frame, n, NULL);
    err = err != 0 ? fail(c, err) : await_reply(c, p);
    free(p);
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
    if (err != 0 && c->sock == fd)
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
