/* The client socket. One libuv loop; each connection is a socket watched
 * with uv_poll_t and read and written with recvmsg/sendmsg through the
 * handoff layer (libuv's pipes cannot carry a memfd next to a frame).
 * On Linux the socket is SOCK_SEQPACKET and one message is one frame; on
 * macOS it is a stream, and each session reassembles its frames, header
 * first, then the length the header declares.
 *
 * Requests are served synchronously, in order, one frame at a time: a
 * reply is written before the next frame is read, except for a lookup
 * that waits for its name (LOOKUP, ATTACH_NAME): it leaves a record and
 * is answered when the name is published or its deadline passes (one
 * timer for all of them), so its reply may come after later ones. A frame that cannot be
 * decoded gets an error reply and ends its session; a session that does
 * not read its replies (its socket buffer is full) is closed rather than
 * allowed to stall the loop. Nothing a session does reaches another. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "handoff.h"
#include "credentials.h"
#include "frame_stream.h"
#include "handoff_service.h"
#include "idtable.h"
#include "log.h"
#include "log_peer.h"
#include "names.h"
#include "peer.h"
#include "proto.h"

/* Frames served per wake-up of one session before the loop moves on, so
 * a busy client cannot starve the others. */
#define FRAMES_PER_WAKEUP 32

/* Holds of departed clients let go per loop turn: a slice costs well under
 * a millisecond, and the requests that arrived meanwhile are served before
 * the next one (docs/daemon.md, "Departed clients"). */
#define REAP_SLICE 256

_Static_assert(PROTO_RENDEZVOUS_SIZE == HANDOFF_NONCE_SIZE,
               "the block reply carries a handoff nonce");

typedef struct waiting_lookup waiting_lookup;

typedef struct session {
    uv_poll_t poll;
    uv_timer_t hello_timer;  /* limits.hello_timeout: no HELLO by then, closed */
    int open_handles;        /* the poll and the timer: freed when both closed */
    server *srv;
    int fd;
    uint64_t id;
    peer_cred cred;
    pool_client *pc;
    bool greeted;
    bool closing;
    char name[PROTO_CLIENT_NAME_MAX + 1];
    uint64_t connected_ms;
    idtable sent_backings; /* shared backings this connection has */
    unsigned char in[PROTO_MAX_FRAME]; /* the frame being read */
    size_t in_len;                     /* stream: its bytes so far */
    waiting_lookup *waits;             /* its lookups waiting for a name */
    uint32_t nwaits;
    struct session *prev, *next;
} session;

/* A lookup waiting for its name: the request to answer, and the names
 * table's record of it. */
struct waiting_lookup {
    name_waiter w; /* w.owner is this record */
    session *s;
    proto_header h;
    waiting_lookup *prev, *next; /* of the session */
};

struct server {
    daemon_state *d;
    uv_poll_t listen_poll;
    uv_timer_t accept_backoff; /* rests the listener when out of descriptors */
    bool accept_warned;
    int listen_fd;
    bool listening;
    session *sessions;
    uint64_t next_session_id;
    server_stats stats;
    names *names;
    uv_timer_t name_timer; /* the earliest deadline of a waiting lookup */
    uv_idle_t reaper;      /* while departed clients' holds remain */
};

typedef struct request {
    session *s;
    proto_header h;
    const unsigned char *payload;
} request;

/* ---- replies ------------------------------------------------------------- */

static int send_frame(session *s, const unsigned char *frame, size_t len,
                      const handoff_object *obj)
{
    int rc = handoff_send(s->fd, frame, len, obj);
    if (rc < 0) {
        log_peer(s->cred.uid, LOG_LEVEL_INFO, "session %llu (pid %d): cannot reply (%s); closing",
                 (unsigned long long)s->id, (int)s->cred.pid, strerror(-rc));
        s->closing = true;
    }
    return rc;
}

static int reply_error(session *s, const proto_header *h, int status)
{
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = proto_error_reply(frame, h->type, h->request_id, status);
    return send_frame(s, frame, n, NULL);
}

static int reply(session *s, const proto_header *h, const unsigned char *payload,
                 size_t len, const handoff_object *obj)
{
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = proto_encode_reply(frame, h->type, h->request_id, 0, payload, len);
    /* Error replies never carry it: the library gives back and retries on
     * EDQUOT and ENOMEM by itself. */
    if (pool_client_should_give_back(s->pc, daemon_now_ns()))
        proto_set_flags(frame, PROTO_FLAG_GIVE_BACK);
    return send_frame(s, frame, n, obj);
}

/* ---- handlers ------------------------------------------------------------ */

static int serve_hello(request *r)
{
    proto_hello m;
    proto_hello_reply out = { .daemon_pid = (uint32_t)getpid(), .session_id = r->s->id };
    if (r->s->greeted || proto_get_hello(r->payload, &m) != 0)
        return MEMPOOL_EPROTO;
    uint16_t top = m.max_version < PROTO_VERSION ? m.max_version : PROTO_VERSION;
    if (top < PROTO_MIN_VERSION || top < m.min_version)
        return MEMPOOL_EVERSION;
    out.version = top;
    memcpy(r->s->name, m.name, sizeof r->s->name);
    r->s->greeted = true;
    uv_timer_stop(&r->s->hello_timer);
    unsigned char payload[PROTO_MAX_FRAME];
    return reply(r->s, &r->h, payload, proto_put_hello_reply(payload, &out), NULL);
}

/* A pool-wide backing that is no object of its own (anonymous memory, as
 * on Darwin, where backings have no descriptor) cannot be handed over
 * whole: a memory entry covers mapped memory only, and most of a pool's
 * reservation is not mapped. Each block then travels as its own entry, as
 * in block isolation (docs/darwin.md). */
static void grant_per_block(pool_grant *g)
{
    g->shared_backing = false;
    g->offset = 0;
    g->backing_id = g->block_id;
    g->backing_addr = g->addr;
    g->backing_size = g->size;
}

/* The backing as the peer will receive it, offered to the rendezvous
 * (Darwin) before the reply that names it goes out. */
static int export_backing(session *s, const pool_grant *g, handoff_object *obj)
{
    int rc = handoff_export(g->backing_fd, g->backing_addr, g->backing_size, g->prot, obj);
    if (rc == 0 && (rc = handoff_offer(s->fd, obj)) != 0)
        handoff_object_close(obj);
    if (rc != 0)
        log_error("handing over block %llu failed: %s", (unsigned long long)g->block_id,
                  strerror(-rc));
    return rc;
}

/* Sends a block's grant: the backing goes along unless this connection
 * already has it (a shared backing is sent once per connection; a block
 * backing the client kept mapped is named, not sent). An offer whose
 * reply cannot be sent is withdrawn from the rendezvous. */
static int send_grant(request *r, const pool_grant *grant)
{
    session *s = r->s;
    pool_grant g = *grant;
    if (g.shared_backing && g.backing_fd < 0)
        grant_per_block(&g);
    proto_block_reply m = { .block_id = g.block_id, .size = g.size, .offset = g.offset,
                            .backing_id = g.backing_id, .prot = g.prot,
                            .kept_mappings = g.kept_mappings,
                            .client_cache_age_ms = (uint32_t)(g.client_cache_age_ns / 1000000),
                            .client_cache = g.client_cache,
                            .page_size = g.page_size };
    handoff_object obj = HANDOFF_OBJECT_NONE;
    bool send_backing = g.shared_backing ? idtable_get(&s->sent_backings, g.backing_id) == NULL
                                         : !g.kept;
    if (g.kept)
        m.backing_flags |= PROTO_BACKING_KEPT;
    if (g.client_zeroes)
        m.backing_flags |= PROTO_BACKING_CLIENT_ZEROES;
    if (send_backing) {
        if (export_backing(s, &g, &obj) != 0)
            return MEMPOOL_EIO;
        m.backing_flags |= PROTO_BACKING_ATTACHED;
        memcpy(m.rendezvous, obj.nonce, sizeof m.rendezvous);
    }
    if (g.shared_backing)
        m.backing_flags |= PROTO_BACKING_SHARED;
    unsigned char payload[PROTO_MAX_FRAME];
    int rc = reply(s, &r->h, payload, proto_put_block_reply(payload, &m), send_backing ? &obj : NULL);
    if (rc != 0 && send_backing)
        handoff_withdraw(&obj);
    handoff_object_close(&obj);
    if (rc == 0 && send_backing && g.shared_backing)
        idtable_put(&s->sent_backings, g.backing_id, s);
    /* A failed send has marked the session closing: closing it releases
     * the block with everything else. */
    return 0;
}

static int serve_alloc(request *r)
{
    proto_alloc m;
    pool_grant g;
    if (proto_get_alloc(r->payload, &m) != 0)
        return MEMPOOL_EPROTO;
    int rc = pool_alloc(r->s->pc, m.pool, m.size, m.flags, daemon_now_ns(), &g);
    if (rc != 0)
        return rc;
    if ((rc = send_grant(r, &g)) != 0)
        pool_release(r->s->pc, g.block_id, daemon_now_ns());
    return rc;
}

static int serve_attach(request *r)
{
    mempool_handle h;
    pool_grant g;
    proto_get_handle(r->payload, &h);
    int rc = pool_attach(r->s->pc, &h, &g);
    if (rc != 0)
        return rc;
    if ((rc = send_grant(r, &g)) != 0)
        pool_release(r->s->pc, g.block_id, daemon_now_ns());
    return rc;
}

static int serve_share(request *r)
{
    proto_share m;
    mempool_handle h;
    if (proto_get_share(r->payload, &m) != 0)
        return MEMPOOL_EPROTO;
    int rc = pool_share(r->s->pc, m.block_id, m.prot, &h);
    if (rc != 0)
        return rc;
    unsigned char payload[PROTO_MAX_FRAME];
    reply(r->s, &r->h, payload, proto_put_handle(payload, &h), NULL);
    return 0;
}

/* A refused request of `type` (0: a malformed frame), for
 * mempool_request_errors_total. */
static void count_error(server *srv, uint16_t type, int code)
{
    unsigned t = type < PROTO_TYPE_LIMIT ? type : 0;
    unsigned c = code < 0 && -code < SERVER_ERROR_CODES ? (unsigned)-code : 0;
    srv->stats.errors[t][c]++;
}

/* A release the daemon cannot honour (a block this connection does not
 * hold: the library checks that locally, so only a broken or hostile
 * client sends one) is counted, and logged with the uid through log_peer,
 * which rate-limits lines per uid, so that no client can fill the log. */
static void release_refused(session *s, uint64_t block_id, int rc)
{
    s->srv->stats.releases_refused++;
    count_error(s->srv, PROTO_RELEASE, rc);
    log_peer(s->cred.uid, LOG_LEVEL_WARN,
             "session %llu (pid %d, uid %u): release of block %llu refused (%s)",
             (unsigned long long)s->id, (int)s->cred.pid, (unsigned)s->cred.uid,
             (unsigned long long)block_id, mempool_err_name(rc));
}

/* One-way: nothing is sent back, whatever happens (a malformed frame
 * still ends the session). block_id 0 only forgets a kept backing. */
static int serve_release(request *r)
{
    proto_release m;
    if (proto_get_release(r->payload, &m) != 0)
        return MEMPOOL_EPROTO;
    pool_client_forget_backing(r->s->pc, m.forget_backing);
    if (m.block_id == 0)
        return 0;
    uint64_t now = daemon_now_ns();
    int rc = (m.flags & PROTO_RELEASE_KEEP_MAPPING) ? pool_release_keeping(r->s->pc, m.block_id, now)
                                                    : pool_release(r->s->pc, m.block_id, now);
    if (rc != 0)
        release_refused(r->s, m.block_id, rc);
    return 0;
}

/* One-way: what went into the client's cache, came out of it, or was
 * given back from it. An entry the daemon cannot honour (a block the
 * connection does not hold) is refused like a release. */
static int serve_cache(request *r)
{
    proto_cache m;
    if (proto_get_cache(r->payload, &m) != 0)
        return MEMPOOL_EPROTO;
    uint64_t now = daemon_now_ns();
    for (uint32_t i = 0; i < m.count; i++) {
        uint64_t id = PROTO_CACHE_ID(m.entries[i]);
        unsigned op = PROTO_CACHE_OP(m.entries[i]);
        int rc = op == PROTO_CACHE_GIVE_BACK ? pool_release(r->s->pc, id, now)
                                             : pool_client_cache_mark(r->s->pc, id,
                                                                      op == PROTO_CACHE_PUT);
        if (rc != 0)
            release_refused(r->s, id, rc);
    }
    return 0;
}

static int serve_pool_info(request *r)
{
    char name[PROTO_POOL_NAME_MAX + 1];
    mempool_info info;
    if (proto_get_pool_name(r->payload, name) != 0)
        return MEMPOOL_EPROTO;
    int rc = pool_client_info(r->s->pc, name, &info);
    if (rc != 0)
        return rc;
    unsigned char payload[PROTO_MAX_FRAME];
    reply(r->s, &r->h, payload, proto_put_info(payload, &info), NULL);
    return 0;
}

/* ---- named blocks ---------------------------------------------------------- */

/* The names table learns of blocks that died in the request just served
 * (or with a session that closed): their names go. */
static void forget_dead_blocks(server *srv)
{
    uint64_t id;
    while ((id = pool_set_next_dead(srv->d->pools)) != 0)
        names_block_died(srv->names, id);
}

/* Answers a lookup of a published name: a client admitted read-only gets
 * the read-only handle whatever the publisher allowed. */
static int answer_lookup(request *r, const name_entry *e)
{
    unsigned access;
    int rc = pool_client_access(r->s->pc, e->pool, &access);
    if (rc != 0)
        return rc;
    const mempool_handle *h = (access & MEMPOOL_WRITE) ? &e->handle : &e->read_handle;
    if (r->h.type == PROTO_LOOKUP) {
        unsigned char payload[PROTO_MAX_FRAME];
        reply(r->s, &r->h, payload, proto_put_handle(payload, h), NULL);
        return 0;
    }
    pool_grant g;
    if ((rc = pool_attach(r->s->pc, h, &g)) != 0)
        return rc;
    if ((rc = send_grant(r, &g)) != 0)
        pool_release(r->s->pc, g.block_id, daemon_now_ns());
    return rc;
}

static void name_timer_fired(uv_timer_t *t);

static void name_timer_arm(server *srv)
{
    uint64_t deadline = names_next_deadline(srv->names);
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&srv->name_timer);
        return;
    }
    uint64_t now = daemon_now_ns();
    /* Rounded up: the timer never fires before the deadline it serves. */
    uint64_t ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
    uv_timer_start(&srv->name_timer, name_timer_fired, ms, 0);
}

static void wait_unlink(waiting_lookup *wl)
{
    session *s = wl->s;
    if (wl->prev != NULL)
        wl->prev->next = wl->next;
    else
        s->waits = wl->next;
    if (wl->next != NULL)
        wl->next->prev = wl->prev;
    s->nwaits--;
}

static void session_close(session *s);

/* A waiter's turn came (published, or out of time): its session gets the
 * reply. A session whose reply cannot be sent is closed here, unless it
 * is the one being served (`current`), which its own loop closes. */
static void wait_finish(waiting_lookup *wl, const name_entry *e, session *current)
{
    session *s = wl->s;
    request r = { .s = s, .h = wl->h };
    wait_unlink(wl);
    free(wl);
    int rc = e != NULL ? answer_lookup(&r, e) : MEMPOOL_ETIMEDOUT;
    if (rc != 0)
        reply_error(s, &r.h, rc);
    if (s->closing && s != current)
        session_close(s);
}

static void wake_waiters(server *srv, const char *pool, const char *name, session *current)
{
    name_waiter *w;
    while ((w = names_take_woken(srv->names, pool, name)) != NULL)
        wait_finish(w->owner, names_find(srv->names, pool, name), current);
    name_timer_arm(srv);
}

/* Deadlines are checked against the clock, not the loop's cached time,
 * so no lookup times out early. */
static void name_timer_fired(uv_timer_t *t)
{
    server *srv = t->data;
    name_waiter *w;
    while ((w = names_take_expired(srv->names, daemon_now_ns())) != NULL)
        wait_finish(w->owner, NULL, NULL);
    forget_dead_blocks(srv);
    name_timer_arm(srv);
}

static int wait_for_name(request *r, const proto_name_ref *m)
{
    session *s = r->s;
    if (s->nwaits >= s->srv->d->pol->max_waits_per_client)
        return MEMPOOL_ELIMIT;
    waiting_lookup *wl = calloc(1, sizeof *wl);
    if (wl == NULL)
        return MEMPOOL_ENOMEM;
    *wl = (waiting_lookup){ .s = s, .h = r->h };
    memcpy(wl->w.pool, m->pool, sizeof wl->w.pool);
    memcpy(wl->w.name, m->name, sizeof wl->w.name);
    wl->w.owner = wl;
    wl->w.deadline_ns = m->timeout_ms < 0 ? UINT64_MAX
                                          : daemon_now_ns() + (uint64_t)m->timeout_ms * 1000000;
    if (names_wait(s->srv->names, &wl->w) != 0) {
        free(wl);
        return MEMPOOL_ENOMEM;
    }
    wl->next = s->waits;
    if (s->waits != NULL)
        s->waits->prev = wl;
    s->waits = wl;
    s->nwaits++;
    name_timer_arm(s->srv);
    return 0;
}

/* LOOKUP and ATTACH_NAME. A client not admitted to the pool is refused at
 * once, before it can learn whether the name exists. */
static int serve_lookup(request *r)
{
    proto_name_ref m;
    unsigned access;
    int rc = proto_get_lookup(r->payload, &m);
    if (rc == 0)
        rc = pool_client_access(r->s->pc, m.pool, &access);
    if (rc != 0)
        return rc;
    const name_entry *e = names_find(r->s->srv->names, m.pool, m.name);
    if (e != NULL)
        return answer_lookup(r, e);
    return m.timeout_ms == 0 ? MEMPOOL_ENONAME : wait_for_name(r, &m);
}

/* The entry a PUBLISH asks for, if this client may make it: it holds the
 * block with at least `prot`, and is still admitted to the pool. */
static int publish_entry(request *r, const proto_publish *m, name_entry *e)
{
    pool_held_info held;
    unsigned prot = m->prot & ~MEMPOOL_PUBLISH_REPLACE, access;
    if (prot != MEMPOOL_READ && prot != (MEMPOOL_READ | MEMPOOL_WRITE))
        return MEMPOOL_EINVAL;
    int rc = pool_client_held(r->s->pc, m->block_id, &held);
    if (rc == 0)
        rc = pool_client_access(r->s->pc, held.pool, &access);
    if (rc != 0)
        return rc;
    if ((held.prot & prot) != prot)
        return MEMPOOL_EPERM;
    *e = (name_entry){ .block_id = m->block_id, .size = held.size,
                       .publisher_uid = r->s->cred.uid, .prot = prot,
                       .published_ns = daemon_now_ns() };
    snprintf(e->pool, sizeof e->pool, "%s", held.pool);
    memcpy(e->name, m->name, sizeof e->name);
    return 0;
}

/* The block's handles (one per protection, shared with mempool_share's):
 * the published protection, and read-only for clients admitted read-only.
 * They die with the block, as the name does. */
static int name_handles(request *r, name_entry *e)
{
    int rc = pool_share(r->s->pc, e->block_id, e->prot, &e->handle);
    if (rc == 0 && (e->prot & MEMPOOL_WRITE))
        rc = pool_share(r->s->pc, e->block_id, MEMPOOL_READ, &e->read_handle);
    else
        e->read_handle = e->handle;
    return rc;
}

static int serve_publish(request *r)
{
    server *srv = r->s->srv;
    proto_publish m;
    name_entry e, old;
    int rc = proto_get_publish(r->payload, &m);
    if (rc == 0)
        rc = publish_entry(r, &m, &e);
    if (rc != 0)
        return rc;
    bool replace = (m.prot & MEMPOOL_PUBLISH_REPLACE) != 0;
    uint32_t pool_max = pool_policy(pool_set_find(srv->d->pools, e.pool))->max_names;
    names_set_limits(srv->names, &(names_limits){ .per_uid = srv->d->pol->max_names_per_uid });
    if ((rc = names_check_publish(srv->names, &e, pool_max, replace)) != 0 ||
        (rc = pool_set_watch_block(srv->d->pools, e.block_id)) != 0 ||
        (rc = name_handles(r, &e)) != 0 ||
        (rc = names_publish(srv->names, &e, pool_max, replace, &old)) != 0)
        return rc;
    reply(r->s, &r->h, NULL, 0, NULL);
    wake_waiters(srv, e.pool, e.name, r->s);
    return 0;
}

/* A client not admitted to the pool is refused before the name is looked
 * at, so it learns nothing of the pool's names. */
static int serve_unpublish(request *r)
{
    server *srv = r->s->srv;
    proto_name_ref m;
    name_entry old;
    unsigned access;
    int rc = proto_get_unpublish(r->payload, &m);
    if (rc == 0)
        rc = pool_client_access(r->s->pc, m.pool, &access);
    if (rc == 0)
        rc = names_unpublish(srv->names, m.pool, m.name, r->s->cred.uid, &old);
    if (rc != 0)
        return rc;
    reply(r->s, &r->h, NULL, 0, NULL);
    return 0;
}

/* The request table: a handler per message type. */
static int (*const handlers[PROTO_TYPE_LIMIT])(request *) = {
    [PROTO_HELLO] = serve_hello,
    [PROTO_ALLOC] = serve_alloc,
    [PROTO_SHARE] = serve_share,
    [PROTO_ATTACH] = serve_attach,
    [PROTO_RELEASE] = serve_release,
    [PROTO_POOL_INFO] = serve_pool_info,
    [PROTO_PUBLISH] = serve_publish,
    [PROTO_UNPUBLISH] = serve_unpublish,
    [PROTO_LOOKUP] = serve_lookup,
    [PROTO_ATTACH_NAME] = serve_lookup,
    [PROTO_CACHE] = serve_cache,
};

/* ---- sessions ------------------------------------------------------------ */

static void session_closed(uv_handle_t *handle)
{
    session *s = handle->data;
    if (--s->open_handles > 0)
        return;
    close(s->fd);
    free(s);
}

static void reap_slice(uv_idle_t *idle)
{
    server *srv = idle->data;
    if (!pool_set_reap(srv->d->pools, REAP_SLICE, daemon_now_ns()))
        uv_idle_stop(idle);
    forget_dead_blocks(srv);
}

static void session_close(session *s)
{
    server *srv = s->srv;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    srv->stats.clients--;
    /* Its waiting lookups are dropped, then everything it held goes back
     * at once, in this loop turn, and the names of blocks that died go. */
    while (s->waits != NULL) {
        waiting_lookup *wl = s->waits;
        names_cancel(srv->names, &wl->w);
        wait_unlink(wl);
        free(wl);
    }
    name_timer_arm(srv);
    /* What it held goes back a slice per loop turn (reap_slice), still
     * counted until then, so that a client holding 60,000 blocks cannot
     * stall every other client as it goes. */
    pool_client_depart(s->pc);
    if (srv->listening)
        uv_idle_start(&srv->reaper, reap_slice);
    idtable_destroy(&s->sent_backings);
    log_peer(s->cred.uid, LOG_LEVEL_DEBUG, "session %llu (pid %d) closed",
             (unsigned long long)s->id, (int)s->cred.pid);
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, session_closed);
    uv_close((uv_handle_t *)&s->hello_timer, session_closed);
}

/* A connection that never says HELLO holds a descriptor and a slot of
 * max_clients for nothing: it gets limits.hello_timeout to do so. */
static void hello_overdue(uv_timer_t *timer)
{
    session *s = timer->data;
    log_peer(s->cred.uid, LOG_LEVEL_INFO,
             "session %llu (pid %d, uid %u): no HELLO within %llu ms; closing",
             (unsigned long long)s->id, (int)s->cred.pid, (unsigned)s->cred.uid,
             (unsigned long long)(s->srv->d->pol->hello_timeout_ns / 1000000));
    session_close(s);
}

/* Decodes and serves one frame; false when the session must end. */
static bool serve_frame(session *s, const unsigned char *frame, size_t len)
{
    request r = { .s = s, .payload = frame + PROTO_HEADER_SIZE };
    int rc = proto_decode_header(frame, len, 0, &r.h);
    if (rc == 0 && !s->greeted && r.h.type != PROTO_HELLO)
        rc = MEMPOOL_EPROTO;
    if (rc != 0) {
        s->srv->stats.requests[0]++;
        count_error(s->srv, 0, rc);
        log_peer(s->cred.uid, LOG_LEVEL_INFO,
                 "session %llu (pid %d, uid %u): malformed frame (%s); closing",
                 (unsigned long long)s->id, (int)s->cred.pid, (unsigned)s->cred.uid,
                 mempool_err_name(rc));
        /* Echo the type the frame claimed, if it got that far. */
        proto_header bad = { .type = len >= 4 ? (uint16_t)(frame[2] | frame[3] << 8) : 0 };
        reply_error(s, &bad, rc);
        return false;
    }
    s->srv->stats.requests[r.h.type]++;
    rc = handlers[r.h.type](&r);
    if (rc != 0) {
        count_error(s->srv, r.h.type, rc);
        reply_error(s, &r.h, rc);
    }
    forget_dead_blocks(s->srv);
    /* A failed HELLO or a protocol error inside a payload ends the session. */
    return !s->closing && rc != MEMPOOL_EPROTO && (rc != MEMPOOL_EVERSION);
}

/* The next frame into s->in. On SOCK_SEQPACKET one message is one frame,
 * and a truncated one is refused by handoff_recv. */
static ssize_t read_frame(session *s)
{
    if (handoff_socket_type() == SOCK_STREAM)
        return frame_stream_read(s->fd, s->in, &s->in_len, NULL);
    return handoff_recv(s->fd, s->in, sizeof s->in, NULL);
}

/* Serves the frames waiting on the socket, up to `max`. */
static void session_drain(session *s, int max)
{
    for (int i = 0; i < max && !s->closing; i++) {
        ssize_t n = read_frame(s);
        if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
            return;
        if (n <= 0) {
            if (n < 0) {
                /* A truncated frame or one that came with descriptors. */
                s->srv->stats.requests[0]++;
                count_error(s->srv, 0, MEMPOOL_EPROTO);
                log_peer(s->cred.uid, LOG_LEVEL_INFO,
                         "session %llu (pid %d, uid %u): bad message (%s); closing",
                         (unsigned long long)s->id, (int)s->cred.pid, (unsigned)s->cred.uid,
                         strerror((int)-n));
                proto_header none = { 0 };
                reply_error(s, &none, MEMPOOL_EPROTO);
            }
            s->closing = true;
            return;
        }
        if (!serve_frame(s, s->in, (size_t)n))
            s->closing = true;
    }
}

static void session_ready(uv_poll_t *poll, int status, int events)
{
    session *s = poll->data;
    if (status < 0 || (events & UV_DISCONNECT))
        s->closing = true;
    else
        session_drain(s, FRAMES_PER_WAKEUP);
    if (s->closing)
        session_close(s);
}

static session *session_new(server *srv, int fd, const peer_cred *cred)
{
    session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->srv = srv;
    s->fd = fd;
    s->id = ++srv->next_session_id;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s->connected_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    idtable_init(&s->sent_backings);
    s->cred = *cred;
    if ((s->pc = pool_client_new(srv->d->pools, s->cred.uid, s->cred.groups, s->cred.ngroups,
                                 srv->d->pol->max_blocks_per_client)) == NULL ||
        uv_poll_init(srv->d->loop, &s->poll, fd) != 0) {
        pool_client_free(s->pc, 0);
        free(s);
        return NULL;
    }
    uv_timer_init(srv->d->loop, &s->hello_timer);
    s->open_handles = 2;
    s->poll.data = s;
    s->hello_timer.data = s;
    return s;
}

static void refuse(server *srv, int fd, int status)
{
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = proto_error_reply(frame, PROTO_HELLO, 0, status);
    handoff_send(fd, frame, n, NULL);
    close(fd);
    srv->stats.refused++;
    count_error(srv, PROTO_HELLO, status);
}

/* max_clients, less the slots kept for root and the daemon's uid (a
 * sixteenth, at least one), and max_clients_per_uid for everyone else: no
 * uid's connections can lock out another uid or the administrator. */
static uint32_t clients_for_users(uint32_t max)
{
    uint32_t kept = max / 16 > 0 ? max / 16 : 1;
    return max > kept ? max - kept : 0;
}

static bool admits(server *srv, const peer_cred *cred)
{
    const policy *pol = srv->d->pol;
    uint32_t max = srv->d->max_clients;
    if (pool_uid_privileged(srv->d->pools, cred->uid)) {
        if (srv->stats.clients < max)
            return true;
        log_peer(cred->uid, LOG_LEVEL_WARN, "refusing a client of uid %u: max_clients (%u) reached",
                 (unsigned)cred->uid, (unsigned)max);
        return false;
    }
    uint32_t mine = pool_uid_clients(srv->d->pools, cred->uid);
    if (mine >= pol->max_clients_per_uid) {
        log_peer(cred->uid, LOG_LEVEL_WARN,
                 "refusing a client of uid %u: it has %u connections, max_clients_per_uid",
                 (unsigned)cred->uid, (unsigned)mine);
        return false;
    }
    if (srv->stats.clients < clients_for_users(max))
        return true;
    log_peer(cred->uid, LOG_LEVEL_WARN,
             "refusing a client of uid %u: %u connections open, max_clients (%u) less the "
             "slots kept for root", (unsigned)cred->uid, (unsigned)srv->stats.clients,
             (unsigned)max);
    return false;
}

static void accept_one(server *srv, int fd)
{
    peer_cred cred;
    if (credentials_for_policy(fd, srv->d->pol, &cred) != 0) {
        close(fd);
        return;
    }
    if (!admits(srv, &cred)) {
        refuse(srv, fd, MEMPOOL_ELIMIT);
        return;
    }
    session *s = session_new(srv, fd, &cred);
    if (s == NULL) {
        refuse(srv, fd, MEMPOOL_ENOMEM);
        return;
    }
    s->next = srv->sessions;
    if (srv->sessions != NULL)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->stats.clients++;
    srv->stats.clients_total++;
    uv_poll_start(&s->poll, UV_READABLE | UV_DISCONNECT, session_ready);
    uv_timer_start(&s->hello_timer, hello_overdue, srv->d->pol->hello_timeout_ns / 1000000, 0);
    log_peer(s->cred.uid, LOG_LEVEL_DEBUG, "session %llu: pid %d uid %u gid %u",
             (unsigned long long)s->id,
              (int)s->cred.pid, (unsigned)s->cred.uid, (unsigned)s->cred.gid);
}

static void listen_ready(uv_poll_t *poll, int status, int events);

static void listen_resume(uv_timer_t *timer)
{
    server *srv = timer->data;
    if (srv->listening)
        uv_poll_start(&srv->listen_poll, UV_READABLE, listen_ready);
}

/* Out of descriptors, the listening socket stays readable and the loop
 * would spin on it: the listener rests for a moment instead (logged once
 * until an accept succeeds) while connected clients go on. Any other
 * failure means the socket is not one to accept on: stop, say so. */
#define ACCEPT_BACKOFF_MS 100

static void accept_failed(server *srv, int err)
{
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
        return;
    uv_poll_stop(&srv->listen_poll);
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (!srv->accept_warned)
            log_warn("accept: %s; new clients wait until descriptors free up", strerror(err));
        srv->accept_warned = true;
        uv_timer_start(&srv->accept_backoff, listen_resume, ACCEPT_BACKOFF_MS, 0);
        return;
    }
    log_error("accept on the client socket: %s; no new clients are accepted", strerror(err));
}

static void listen_ready(uv_poll_t *poll, int status, int events)
{
    server *srv = poll->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < 64; i++) {
        /* accept, then fcntl: accept4 is Linux-only. */
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0) {
            accept_failed(srv, errno);
            return;
        }
        srv->accept_warned = false;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
            close(fd);
            continue;
        }
        accept_one(srv, fd);
    }
}

int server_start(daemon_state *d, int listen_fd, server **out)
{
    server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return -ENOMEM;
    srv->d = d;
    srv->listen_fd = listen_fd;
    if ((srv->names = names_new()) == NULL) {
        free(srv);
        return -ENOMEM;
    }
    int rc = uv_poll_init(d->loop, &srv->listen_poll, listen_fd);
    if (rc != 0) {
        names_free(srv->names);
        free(srv);
        return rc;
    }
    uv_timer_init(d->loop, &srv->accept_backoff);
    uv_timer_init(d->loop, &srv->name_timer);
    uv_idle_init(d->loop, &srv->reaper);
    srv->reaper.data = srv;
    srv->listen_poll.data = srv;
    srv->accept_backoff.data = srv;
    srv->name_timer.data = srv;
    srv->listening = true;
    *out = srv;
    /* Started last: a failure leaves the handles for server_stop to close. */
    return uv_poll_start(&srv->listen_poll, UV_READABLE, listen_ready);
}

void server_stop(server *srv)
{
    if (srv->listening) {
        uv_poll_stop(&srv->listen_poll);
        uv_close((uv_handle_t *)&srv->listen_poll, NULL);
        uv_close((uv_handle_t *)&srv->accept_backoff, NULL);
        uv_close((uv_handle_t *)&srv->name_timer, NULL);
        uv_close((uv_handle_t *)&srv->reaper, NULL);
        srv->listening = false;
    }
    while (srv->sessions != NULL) {
        session *s = srv->sessions;
        /* Answer what the client already sent, then let it go. */
        session_drain(s, FRAMES_PER_WAKEUP);
        session_close(s);
    }
    /* Stopping: no one is left to wait, so all of it goes now. */
    pool_set_reap(srv->d->pools, UINT64_MAX, daemon_now_ns());
    forget_dead_blocks(srv);
}

void server_free(server *srv)
{
    if (srv != NULL)
        names_free(srv->names);
    free(srv);
}

const names *server_names(const server *srv) { return srv->names; }

void server_get_stats(const server *srv, server_stats *out) { *out = srv->stats; }

void server_foreach_client(const server *srv, void (*fn)(const server_client_info *, void *),
                           void *arg)
{
    for (const session *s = srv->sessions; s != NULL; s = s->next) {
        server_client_info info = {
            .id = s->id,
            .pid = s->cred.pid,
            .uid = s->cred.uid,
            .gid = s->cred.gid,
            .name = s->name,
            .connected_unix_ms = s->connected_ms,
            .blocks = pool_client_blocks(s->pc),
            .bytes = pool_client_bytes(s->pc),
            .cached = pool_client_cached(s->pc),
            .account = s->pc,
        };
        fn(&info, arg);
    }
}
