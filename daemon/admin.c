/* The admin socket: a libuv pipe server at the policy's admin.socket.
 *
 * Each connection is checked once, at accept, against admin.users and
 * admin.groups from the kernel's peer credentials; a refusal is one JSON
 * error line and a log line with the uid. An admitted connection sends
 * lines; each is run by admin_execute and answered with one line.
 *
 * Nothing a connection does may stall the loop or grow without bound:
 *   - a line is at most ADMIN_MAX_LINE bytes; a longer one gets an error
 *     line and the connection is closed;
 *   - a byte that is not text gets an error line and a close;
 *   - a command is read only once the replies before it are written out
 *     (uv_stream_get_write_queue_size is 0), and at most LINES_PER_TURN per
 *     loop turn: a client that never reads its replies stops being read,
 *     and its unread replies stay bounded by one reply; past
 *     ADMIN_MAX_PENDING unwritten bytes the connection is closed;
 *   - descriptors sent along (SCM_RIGHTS) are closed and end the connection.
 *     libuv reads a pipe with read(), and xnu installs the descriptors of a
 *     message in the reader even then (bsd/kern/uipc_socket.c: soreceive_ctl
 *     externalizes them whether or not the caller asked for control data,
 *     then frees the message), so they would stay open in the daemon. Linux
 *     drops them on read() (scm_recv in include/net/scm.h destroys them
 *     when there is no control buffer), but one reading path for both: a
 *     uv_poll on a duplicate of the connection's descriptor, read with
 *     handoff_recv, which gives recvmsg room for them all and closes them.
 *     The uv_pipe_t only writes;
 *   - a connection that sends no command for admin.idle_timeout is closed
 *     (after an error line saying so);
 *   - of the ADMIN_MAX_CONNECTIONS slots, the last is kept for the uid the
 *     daemon runs as, so that idle connections of other admitted users
 *     never lock out the daemon's own operator (mempoolctl as that user). */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "credentials.h"
#include "handoff.h"
#include "listen.h"
#include "log.h"
#include "log_peer.h"
#include "scavenger.h"

#define ADMIN_MAX_CONNECTIONS 16
#define ADMIN_MAX_PENDING (16u * 1024 * 1024)
#define LINES_PER_TURN 16

typedef struct admin_conn {
    uv_pipe_t pipe;               /* writes the replies */
    uv_poll_t reader;             /* reads reader_fd, a dup of the pipe's */
    int reader_fd;
    bool reader_open;             /* the reader was initialised */
    uv_timer_t idle_timer;        /* admin.idle_timeout, restarted by each read */
    int open_handles;             /* freed when all are closed */
    admin *adm;
    peer_cred peer;
    char buf[ADMIN_MAX_LINE + 2]; /* a longest line, '\r' and '\n' */
    size_t used;
    unsigned writes;              /* replies whose write has not completed */
    uint64_t bytes_queued;        /* of every reply given to the pipe */
    uint64_t written_mark;        /* bytes written when the idle timer started */
    bool eof, closing, close_after_writes;
    bool awaiting;                /* a `scavenge` the scavenger works on */
    bool admitted;                /* counted in nadmitted */
    pool *scavenge_pool;
    struct admin_conn *prev, *next;
} admin_conn;

struct admin {
    daemon_state *d;
    uv_pipe_t listener;
    char *path;
    bool path_owned;   /* bound here, not handed over by the service manager */
    bool listening;
    admin_conn *conns;
    size_t nconns;
    size_t nadmitted;  /* connections past the checks: what the limit counts */
    json_writer reply;
};

typedef struct reply_write {
    uv_write_t req;
    admin_conn *conn;
    char *text;
    bool shutdown_after;
} reply_write;

static void pump(admin_conn *c);
static void reading_start(admin_conn *c);
static void reading_stop(admin_conn *c);
static void refuse(admin_conn *c, const char *code, const char *why);
static void conn_close(admin_conn *c);

/* ---- idle connections ------------------------------------------------------ */

/* Bytes of replies the peer has taken so far. */
static uint64_t bytes_written(admin_conn *c)
{
    return c->bytes_queued - uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
}

/* A peer that leaves its replies unread for a whole idle_timeout: its
 * writes cannot finish, so it cannot be told; it is closed. */
static void unread_expired(admin_conn *c, uint64_t ms)
{
    log_peer(c->peer.uid, LOG_LEVEL_INFO,
             "admin: uid %u (pid %d) read none of its replies for %llu ms; closing",
             (unsigned)c->peer.uid, (int)c->peer.pid, (unsigned long long)ms);
    conn_close(c);
}

/* A connection waiting for its `scavenge` reply, or reading replies still
 * being written, is not idle; one whose replies stay unread (not a byte
 * taken since the timer started) is, or it would hold its slot forever. */
static void idle_expired(uv_timer_t *timer)
{
    admin_conn *c = timer->data;
    uint64_t ms = c->adm->d->pol->admin_idle_timeout_ns / 1000000;
    uint64_t written = bytes_written(c);
    if (c->awaiting || (c->writes > 0 && written > c->written_mark)) {
        c->written_mark = written;
        uv_timer_start(&c->idle_timer, idle_expired, ms, 0);
        return;
    }
    if (c->writes > 0) {
        unread_expired(c, ms);
        return;
    }
    log_peer(c->peer.uid, LOG_LEVEL_INFO, "admin: uid %u (pid %d) idle for %llu ms; closing",
             (unsigned)c->peer.uid, (int)c->peer.pid, (unsigned long long)ms);
    char why[96];
    snprintf(why, sizeof why, "idle: no command for %llu ms (admin.idle_timeout)",
             (unsigned long long)ms);
    refuse(c, "idle-timeout", why);
}

static void restart_idle_timer(admin_conn *c)
{
    c->written_mark = bytes_written(c);
    if (!c->closing)
        uv_timer_start(&c->idle_timer, idle_expired,
                       c->adm->d->pol->admin_idle_timeout_ns / 1000000, 0);
}

/* ---- closing ------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    admin_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->reader_fd >= 0)
        close(c->reader_fd);
    free(c);
}

static void conn_close(admin_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    admin *a = c->adm;
    if (c->awaiting)
        scavenger_force_cancel(a->d, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    a->nconns--;
    if (c->admitted)
        a->nadmitted--;
    if (c->reader_open)
        uv_close((uv_handle_t *)&c->reader, handle_closed);
    uv_close((uv_handle_t *)&c->idle_timer, handle_closed);
    uv_close((uv_handle_t *)&c->pipe, handle_closed);
}

/* Closes once every reply queued so far has been written. */
static void close_after_writes(admin_conn *c)
{
    c->close_after_writes = true;
    reading_stop(c);
    if (c->writes == 0)
        conn_close(c);
}

/* ---- replies ------------------------------------------------------------- */

static void reply_written(uv_write_t *req, int status)
{
    reply_write *rw = (reply_write *)req;
    admin_conn *c = rw->conn;
    bool shutdown_after = rw->shutdown_after && status == 0;
    free(rw->text);
    free(rw);
    c->writes--;
    if (shutdown_after)
        daemon_shutdown(c->adm->d);
    if (c->closing)
        return;
    if (status < 0)
        conn_close(c);
    else if (c->close_after_writes && c->writes == 0)
        conn_close(c);
    else if (!c->close_after_writes)
        pump(c);
}

/* Queues the writer's text (taken over) on the connection. */
static void send_reply(admin_conn *c, json_writer *w, bool shutdown_after)
{
    uv_stream_t *stream = (uv_stream_t *)&c->pipe;
    reply_write *rw = calloc(1, sizeof *rw);
    if (rw == NULL) {
        conn_close(c);
        return;
    }
    rw->conn = c;
    rw->text = w->text;
    rw->shutdown_after = shutdown_after;
    uv_buf_t buf = uv_buf_init(rw->text, (unsigned)w->len);
    json_init(w);
    if (uv_write(&rw->req, stream, &buf, 1, reply_written) != 0) {
        free(rw->text);
        free(rw);
        conn_close(c);
        return;
    }
    c->writes++;
    c->bytes_queued += buf.len;
    if (uv_stream_get_write_queue_size(stream) > ADMIN_MAX_PENDING) {
        log_peer(c->peer.uid, LOG_LEVEL_WARN,
                 "admin: uid %u (pid %d) leaves %zu bytes of replies unread; closing",
                 (unsigned)c->peer.uid, (int)c->peer.pid, uv_stream_get_write_queue_size(stream));
        conn_close(c);
    }
}

/* One error line, then the connection ends. */
static void refuse(admin_conn *c, const char *code, const char *why)
{
    json_writer *w = &c->adm->reply;
    json_reset(w);
    admin_reply_error(w, code, "%s", why);
    json_object_end(w);
    json_raw(w, "\n", 1);
    if (w->failed) {
        conn_close(c);
        return;
    }
    send_reply(c, w, false);
    if (!c->closing)
        close_after_writes(c);
}

/* ---- reading lines ------------------------------------------------------- */

/* Runs the line that ends at buf[len] ('\n'); true when it was answered. */
static bool serve_line(admin_conn *c, size_t len)
{
    size_t text_len = len > 0 && c->buf[len - 1] == '\r' ? len - 1 : len;
    admin_call call = { .d = c->adm->d, .peer = &c->peer, .session = c, .out = &c->adm->reply };
    admin_outcome outcome = admin_execute(&call, c->buf, text_len);
    size_t rest = c->used - len - 1;
    memmove(c->buf, c->buf + len + 1, rest);
    c->used = rest;
    if (outcome == ADMIN_NO_REPLY)
        return false;
    if (outcome == ADMIN_LATER) {
        c->awaiting = true;
        c->scavenge_pool = call.scavenge_pool;
        reading_stop(c);
        return true;
    }
    send_reply(c, call.out, call.shutdown_after_reply);
    /* After `shutdown` this connection runs nothing more. */
    if ((outcome == ADMIN_BAD_INPUT || call.shutdown_after_reply) && !c->closing)
        close_after_writes(c);
    return true;
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    admin_conn *c = poll->data;
    (void)events;
    ssize_t n = status < 0 ? status
                           : handoff_recv(c->reader_fd, c->buf + c->used, sizeof c->buf - c->used, NULL);
    if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
        return;
    if (n == -EPROTO) {
        log_peer(c->peer.uid, LOG_LEVEL_WARN,
                 "admin: uid %u (pid %d) sent descriptors; closed them and the connection",
                 (unsigned)c->peer.uid, (int)c->peer.pid);
        refuse(c, "descriptors-refused", "the admin socket takes text only, not descriptors");
        return;
    }
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0) {
        c->eof = true;
        reading_stop(c);
    } else {
        c->used += (size_t)n;
        restart_idle_timer(c);
    }
    pump(c);
}

static void reading_start(admin_conn *c) { uv_poll_start(&c->reader, UV_READABLE, on_readable); }

static void reading_stop(admin_conn *c)
{
    if (c->reader_open)
        uv_poll_stop(&c->reader);
}

/* What remains once no complete line can be served now. */
static void after_lines(admin_conn *c)
{
    if (c->used == sizeof c->buf) {
        char why[96];
        snprintf(why, sizeof why, "line too long: a command line is at most %d bytes",
                 ADMIN_MAX_LINE);
        refuse(c, "line-too-long", why);
    } else if (c->eof) {
        /* A last command without its '\n' is still a command. */
        if (c->used > 0) {
            c->buf[c->used] = '\n';
            c->used++;
            serve_line(c, c->used - 1);
        }
        /* A `scavenge` still at work replies first; pump comes back here. */
        if (!c->closing && !c->awaiting)
            close_after_writes(c);
    } else {
        reading_start(c);
    }
}

/* Serves the complete lines in the buffer while the replies before them
 * are written out, then reads on; the write callback calls it again. */
static void pump(admin_conn *c)
{
    uv_stream_t *stream = (uv_stream_t *)&c->pipe;
    for (int served = 0; !c->closing && !c->close_after_writes && !c->awaiting;) {
        char *nl = memchr(c->buf, '\n', c->used);
        if (nl == NULL) {
            after_lines(c);
            return;
        }
        if (served == LINES_PER_TURN || uv_stream_get_write_queue_size(stream) > 0) {
            reading_stop(c);
            return;
        }
        served += serve_line(c, (size_t)(nl - c->buf));
    }
}

void admin_scavenge_done(uint64_t released, void *session)
{
    admin_conn *c = session;
    c->awaiting = false;
    admin_write_scavenge_reply(&c->adm->reply, c->adm->d, c->scavenge_pool, released);
    send_reply(c, &c->adm->reply, false);
    /* Lines that came in meanwhile are served from the write callback. */
}

/* ---- accepting ----------------------------------------------------------- */

static bool admits(admin_conn *c)
{
    const policy *pol = c->adm->d->pol;
    if (policy_admin_admits(pol, c->peer.uid, c->peer.groups, c->peer.ngroups))
        return true;
    log_peer(c->peer.uid, LOG_LEVEL_WARN,
             "admin: refused uid %u gid %u (pid %d): not in admin.users or admin.groups",
             (unsigned)c->peer.uid, (unsigned)c->peer.gid, (int)c->peer.pid);
    char why[128];
    snprintf(why, sizeof why, "access denied: uid %u is not in admin.users or admin.groups",
             (unsigned)c->peer.uid);
    refuse(c, "access-denied", why);
    return false;
}

static admin_conn *conn_new(admin *a)
{
    admin_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->adm = a;
    c->reader_fd = -1;
    uv_pipe_init(a->d->loop, &c->pipe, 0);
    uv_timer_init(a->d->loop, &c->idle_timer);
    c->pipe.data = c;
    c->reader.data = c;
    c->idle_timer.data = c;
    c->open_handles = 2;
    c->next = a->conns;
    if (a->conns != NULL)
        a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    return c;
}

/* The reading side: a duplicate of the connection's descriptor (the same
 * open socket, so the same O_NONBLOCK), watched by its own uv_poll. */
static int open_reader(admin_conn *c, int fd)
{
    c->reader_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (c->reader_fd < 0)
        return -errno;
    int rc = uv_poll_init(c->adm->d->loop, &c->reader, c->reader_fd);
    if (rc == 0) {
        c->reader_open = true;
        c->open_handles++;
    }
    return rc;
}

/* Is there a slot for a new connection of `uid`? Only admitted
 * connections count: one refused a moment ago may still be writing its
 * error line. The last slot is the daemon's own uid's. */
static bool slot_free(const admin *a, uint32_t uid)
{
    size_t others_max = ADMIN_MAX_CONNECTIONS - 1;
    return a->nadmitted < (uid == (uint32_t)geteuid() ? ADMIN_MAX_CONNECTIONS : others_max);
}

static void on_connection(uv_stream_t *server, int status)
{
    admin *a = server->data;
    uv_os_fd_t fd;
    if (status < 0)
        return;
    admin_conn *c = conn_new(a);
    if (c == NULL)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
        uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 || credentials_for_policy(fd, a->d->pol, &c->peer) != 0 ||
        open_reader(c, fd) != 0) {
        conn_close(c);
        return;
    }
    if (!slot_free(a, c->peer.uid)) {
        log_peer(c->peer.uid, LOG_LEVEL_WARN,
                 "admin: refused uid %u (pid %d): %zu connections already",
                 (unsigned)c->peer.uid, (int)c->peer.pid, a->nadmitted);
        refuse(c, "too-many-connections", "too many admin connections; try again later");
        return;
    }
    if (admits(c)) {
        c->admitted = true;
        a->nadmitted++;
        restart_idle_timer(c);
        log_peer(c->peer.uid, LOG_LEVEL_DEBUG, "admin: uid %u (pid %d) connected",
                 (unsigned)c->peer.uid, (int)c->peer.pid);
        pump(c);
    }
}

/* ---- the module ---------------------------------------------------------- */

static void free_admin(admin *a)
{
    json_free(&a->reply);
    free(a->path);
    free(a);
}

static void listener_closed_at_start(uv_handle_t *h) { free_admin(h->data); }

static int serve_on(admin *a, int fd)
{
    uv_pipe_init(a->d->loop, &a->listener, 0);
    a->listener.data = a;
    int rc = uv_pipe_open(&a->listener, fd);
    if (rc != 0)
        close(fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        log_error("admin socket %s: %s", a->path, uv_strerror(rc));
        if (a->path_owned)
            unlink(a->path);
        uv_close((uv_handle_t *)&a->listener, listener_closed_at_start);
    }
    return rc;
}

/* The admin socket the service manager handed over, else one bound at the
 * policy's path; a fd or -errno (logged). */
static int open_listener(admin *a)
{
    int fd = listen_open(ACTIVATION_ADMIN_SOCKET, a->path, SOCK_STREAM, a->d->pol->admin_mode,
                         &a->path_owned);
    if (fd < 0)
        log_error("cannot listen on the admin socket %s: %s",
                  a->path_owned ? a->path : "from the service manager",
                  fd == -EADDRINUSE ? "another mempoold answers there" : strerror(-fd));
    return fd;
}

int admin_start(daemon_state *d)
{
    admin *a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(d->pol->admin_socket)) == NULL) {
        free(a);
        return -ENOMEM;
    }
    a->d = d;
    json_init(&a->reply);
    int fd = open_listener(a);
    if (fd < 0) {
        free_admin(a);
        return fd;
    }
    int rc = serve_on(a, fd);
    if (rc != 0)
        return rc;
    a->listening = true;
    d->admin = a;
    if (a->path_owned)
        log_info("admin socket on %s", a->path);
    else
        log_info("admin socket from the service manager");
    return 0;
}

void admin_stop(daemon_state *d)
{
    admin *a = d->admin;
    if (a->listening) {
        uv_close((uv_handle_t *)&a->listener, NULL);
        a->listening = false;
    }
    while (a->conns != NULL)
        conn_close(a->conns);
}

/* A socket the service manager made is its to remove. */
void admin_release(daemon_state *d)
{
    if (d->admin->path_owned)
        unlink(d->admin->path);
    free_admin(d->admin);
    d->admin = NULL;
}
