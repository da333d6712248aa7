/* libmempool's public calls: argument checks, the request each one sends,
 * and what this connection holds. The connection itself (HELLO, replies,
 * reconnecting) is session.c; the tables are blocks.c. */
#include "mempool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocks.h"
#include "cache.h"
#include "handoff.h"
#include "proto.h"
#include "session.h"

#define ALLOC_FLAGS (MEMPOOL_ALLOC_DIRTY | MEMPOOL_ALLOC_POPULATE)

_Static_assert(PROTO_RENDEZVOUS_SIZE == HANDOFF_NONCE_SIZE,
               "the block reply carries a handoff nonce");

static int pool_name_ok(const char *pool)
{
    if (pool == NULL)
        return 0;
    size_t n = strnlen(pool, PROTO_POOL_NAME_MAX + 1);
    if (n == 0 || n > PROTO_POOL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pool[i] < 0x20 || pool[i] == 0x7f)
            return 0;
    return 1;
}

static int prot_ok(unsigned prot)
{
    return prot == MEMPOOL_READ || prot == (MEMPOOL_READ | MEMPOOL_WRITE);
}

/* Thread-local, so that threads asking at once do not overwrite each
 * other's answer; the string is valid until the same thread calls again. */
const char *mempool_default_socket(void)
{
    static _Thread_local char path[SESSION_PATH_MAX];
    return session_resolve_path(NULL, path, sizeof path) == 0 ? path : NULL;
}

/* Every call takes the client's lock here. A client made before a fork of
 * this process first forgets its parent's connection (session.h). */
static void lock_client(mempool_client *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->fork_generation != session_fork_generation())
        session_forget_parent(c);
}

/* A call's frame: the lock, then the cache's housekeeping (expiry, a
 * give-back a reply asked for) before the call's work and, should this
 * call's reply ask for a give-back, after it. */
static void begin_call(mempool_client *c)
{
    lock_client(c);
    cache_housekeep(c, cache_now());
}

static void end_call(mempool_client *c)
{
    if (c->give_back_requested)
        cache_housekeep(c, cache_now());
    pthread_mutex_unlock(&c->lock);
}

int mempool_connect(const char *socket_path, mempool_client **out)
{
    if (out == NULL)
        return MEMPOOL_EINVAL;
    *out = NULL;
    mempool_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return MEMPOOL_ENOMEM;
    int err = session_resolve_path(socket_path, c->path, sizeof c->path);
    if (err == 0)
        err = session_init(c);
    if (err != 0) {
        free(c);
        return err;
    }
    c->sock = -1;
    c->reader_sock = -1;
    c->epoch = 1;
    c->next_request_id = 1; /* 0 marks the daemon's replies to bad frames */
    c->fork_generation = session_fork_generation();
    pthread_mutex_lock(&c->lock); /* session_open releases it to wait */
    err = session_open(c);
    pthread_mutex_unlock(&c->lock);
    if (err != 0) {
        session_destroy(c);
        free(c);
        return err;
    }
    *out = c;
    return 0;
}

/* The daemon releases everything a connection held when it hangs up. */
void mempool_disconnect(mempool_client *c)
{
    if (c == NULL)
        return;
    lock_client(c);
    session_drop(c);
    block_table_unmap_all(&c->blocks);
    backing_table_free(&c->backings);
    client_pools_free(&c->pools);
    pthread_mutex_unlock(&c->lock);
    session_destroy(c);
    free(c);
}

static int map_error(int err)
{
    return err == -ENOMEM ? MEMPOOL_ENOMEM : MEMPOOL_EIO;
}

/* Kept mapping gone: a reply named a backing this connection unmapped
 * after the request went out (another thread's release made room while
 * this one waited, and the daemon read the request first). */
#define KEPT_GONE 1

/* A block whose backing this connection kept mapped when it released an
 * earlier block of it (block isolation): the daemon names it, sends no
 * descriptor, and the mapping is reused as it is. */
static int map_kept(client_pool *pool, const proto_block_reply *r, void **addr)
{
    if (pool == NULL || r->offset != 0)
        return MEMPOOL_EPROTO;
    if (!client_pool_take_kept(pool, r->backing_id, (size_t)r->size, addr))
        return KEPT_GONE;
    return 0;
}

/* A pool-wide backing (pool or uid isolation) is mapped once, whole, the
 * first time a block of it comes: a block is then base + offset, and
 * nothing is mapped or unmapped per block. Where its size cannot be
 * known (handoff_object_size), each block is mapped on its own. */
static int map_in_backing(kept_backing *kept, const proto_block_reply *r, void **addr,
                          bool *in_backing_map)
{
    uint64_t size;
    if (kept->base == NULL && handoff_object_size(&kept->obj, &size) == 0 && size > 0 &&
        size <= SIZE_MAX) {
        int err = handoff_map(&kept->obj, (size_t)size, 0, r->prot, &kept->base);
        if (err != 0)
            return map_error(err);
        kept->size = (size_t)size;
    }
    if (kept->base == NULL) {
        int err = handoff_map(&kept->obj, (size_t)r->size, r->offset, r->prot, addr);
        return err != 0 ? map_error(err) : 0;
    }
    if (r->offset > kept->size || r->size > kept->size - r->offset)
        return MEMPOOL_EPROTO;
    *addr = (char *)kept->base + r->offset;
    *in_backing_map = true;
    return 0;
}

/* Where the reply's block lives: its own backing, which came with the
 * frame and is closed once mapped, a mapping this connection kept, or a
 * pool-wide backing this connection keeps (brought by this frame or an
 * earlier one). */
static int map_reply(mempool_client *c, client_pool *pool, const proto_block_reply *r,
                     handoff_object *obj, void **addr, bool *in_backing_map)
{
    *in_backing_map = false;
    int attached = (r->backing_flags & PROTO_BACKING_ATTACHED) != 0;
    if (attached == handoff_object_empty(obj) || r->size > SIZE_MAX)
        return MEMPOOL_EPROTO;
    if (r->backing_flags & PROTO_BACKING_KEPT)
        return map_kept(pool, r, addr);
    if ((r->backing_flags & PROTO_BACKING_SHARED) == 0) {
        if (!attached)
            return MEMPOOL_EPROTO; /* a block's own backing comes with it */
        int err = handoff_map(obj, (size_t)r->size, r->offset, r->prot, addr);
        handoff_object_close(obj);
        return err != 0 ? map_error(err) : 0;
    }
    if (attached) {
        int err = backing_table_put(&c->backings, r->backing_id, *obj);
        *obj = HANDOFF_OBJECT_NONE;
        if (err != 0)
            return err;
    }
    kept_backing *kept = backing_table_get(&c->backings, r->backing_id);
    if (kept == NULL)
        return MEMPOOL_EPROTO;
    return map_in_backing(kept, r, addr, in_backing_map);
}

/* The backing an ATTACHED reply announced: on Linux it came in the reply's
 * own message, on macOS it is fetched over Mach with the reply's nonce. A
 * reply that announced one that is not there is the daemon talking
 * nonsense (EPROTO); a fetch that fails is an I/O error. */
static int collect_backing(mempool_client *c, const proto_block_reply *r,
                           handoff_object *obj)
{
    if ((r->backing_flags & PROTO_BACKING_ATTACHED) == 0)
        return 0;
    int err = handoff_collect(c->sock, r->rendezvous, obj);
    if (err == -EPROTO)
        return MEMPOOL_EPROTO;
    return err != 0 ? MEMPOOL_EIO : 0;
}

/* A block the daemon gave but this process could not map or record goes
 * straight back; if that fails, the daemon still frees it on hang-up. */
/* Every frame to the daemon goes after the pending cache reports. */
static int call(mempool_client *c, const session_request *rq, session_reply *rp)
{
    cache_flush(c);
    return session_call(c, rq, rp);
}

/* One request and its reply, under the client's lock. */
static int locked_call(mempool_client *c, const session_request *rq, session_reply *rp)
{
    begin_call(c);
    int err = call(c, rq, rp);
    end_call(c);
    return err;
}

static void send_release(mempool_client *c, const proto_release *m)
{
    unsigned char payload[PROTO_MAX_FRAME];
    cache_flush(c);
    session_send_oneway(c, PROTO_RELEASE, payload, proto_put_release(payload, m));
}

static void give_back(mempool_client *c, uint64_t block_id)
{
    send_release(c, &(proto_release){ .block_id = block_id });
}

static int record_block(mempool_client *c, client_pool *pool, const proto_block_reply *r,
                        void *addr, bool in_backing_map, mempool_block *out)
{
    held_block b = { .addr = addr, .size = (size_t)r->size,
                     .id = r->block_id, .prot = r->prot, .epoch = c->epoch,
                     .backing_id = r->backing_id,
                     .pool = r->prot == (MEMPOOL_READ | MEMPOOL_WRITE) ? pool : NULL,
                     .own_backing = (r->backing_flags & PROTO_BACKING_SHARED) == 0,
                     .in_backing_map = in_backing_map };
    int err = block_table_add(&c->blocks, &b);
    if (err != 0) {
        held_block_unmap(&b, c->epoch);
        give_back(c, r->block_id);
        return err;
    }
    *out = (mempool_block){ .addr = addr, .size = b.size, .id = b.id,
                            .prot = b.prot };
    return 0;
}

/* ALLOC and ATTACH: one request, a block reply, a mapping. `pool`: the
 * pool's record for an ALLOC (its settings come with the reply), NULL
 * for an ATTACH. A warm block of this uid's own that the caller did not
 * ask DIRTY is zeroed here, through the mapping (usually a kept one, so
 * its pages are resident: no fault, no punch). */
static int take_block_once(mempool_client *c, client_pool *pool, const session_request *rq,
                           mempool_block *out)
{
    session_reply rp;
    int err = call(c, rq, &rp);
    if (err != 0)
        return err;
    proto_block_reply r;
    void *addr = NULL;
    bool in_backing_map = false;
    err = proto_get_block_reply(rp.payload, &r);
    if (err == 0 && pool != NULL) {
        pool->kept_max = r.kept_mappings;
        pool->cache_max = r.client_cache;
        pool->cache_age_ns = (uint64_t)r.client_cache_age_ms * 1000000u;
        pool->page_size = (size_t)r.page_size;
    }
    if (err == 0)
        err = collect_backing(c, &r, &rp.obj);
    if (err == 0)
        err = map_reply(c, pool, &r, &rp.obj, &addr, &in_backing_map);
    handoff_object_close(&rp.obj);
    if (err == MEMPOOL_EPROTO) {
        session_drop(c); /* a daemon talking nonsense: start afresh */
        return err;
    }
    if (err != 0) {
        give_back(c, r.block_id);
        return err;
    }
    if (r.backing_flags & PROTO_BACKING_CLIENT_ZEROES)
        memset(addr, 0, (size_t)r.size);
    return record_block(c, pool, &r, addr, in_backing_map, out);
}

/* The block granted on a kept mapping that is gone went straight back;
 * asked again, the daemon has read that the mapping is gone and sends
 * the backing. */
static int take_block(mempool_client *c, client_pool *pool, const session_request *rq,
                      mempool_block *out)
{
    int err = take_block_once(c, pool, rq, out);
    if (err == KEPT_GONE)
        err = take_block_once(c, pool, rq, out);
    if (err == KEPT_GONE) {
        session_drop(c); /* it named it again: not a race but nonsense */
        err = MEMPOOL_EPROTO;
    }
    return err;
}

/* Faults every page in now. Reading then writing back the same byte is
 * safe because a block fresh from ALLOC has no other holder yet. */
static void populate(const mempool_block *b)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    volatile unsigned char *p = b->addr;
    for (size_t off = 0; off < b->size; off += page) {
        unsigned char byte = p[off];
        if (b->prot & MEMPOOL_WRITE)
            p[off] = byte;
    }
}

/* A cache hit: the block is held again without a word to the daemon,
 * zeroed here unless the caller asked for DIRTY (its bytes are this
 * connection's own). */
static bool alloc_from_cache(mempool_client *c, client_pool *p, size_t size, unsigned flags,
                             mempool_block *out)
{
    held_block b;
    if (!cache_take(c, p, size, &b))
        return false;
    if (block_table_add(&c->blocks, &b) != 0) {
        give_back(c, b.id);
        held_block_unmap(&b, c->epoch);
        return false;
    }
    if (!(flags & MEMPOOL_ALLOC_DIRTY))
        memset(b.addr, 0, b.size);
    *out = (mempool_block){ .addr = b.addr, .size = b.size, .id = b.id, .prot = b.prot };
    return true;
}

/* Refused for the quota or the pool's limit while this connection's cache
 * of the pool held memory: the cache goes back and the daemon is asked
 * once more. */
static int alloc_from_daemon(mempool_client *c, client_pool *p, const session_request *rq,
                             mempool_block *out)
{
    int err = take_block(c, p, rq, out);
    if ((err == MEMPOOL_EDQUOT || err == MEMPOOL_ENOMEM) && cache_give_back(c, p) > 0)
        err = take_block(c, p, rq, out);
    return err;
}

int mempool_alloc(mempool_client *c, const char *pool, size_t size,
                  unsigned flags, mempool_block *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (c == NULL || out == NULL || !pool_name_ok(pool) || size == 0 ||
        (flags & ~ALLOC_FLAGS) != 0)
        return MEMPOOL_EINVAL;
    begin_call(c);
    client_pool *p = client_pools_get(&c->pools, pool);
    int err = p != NULL ? 0 : MEMPOOL_ENOMEM;
    if (p != NULL && !alloc_from_cache(c, p, size, flags, out)) {
        proto_alloc m = { .size = size, .flags = flags };
        memcpy(m.pool, pool, strlen(pool) + 1);
        session_request rq = { .type = PROTO_ALLOC, .retry_safe = 1, .takes_object = 1 };
        rq.len = proto_put_alloc(rq.payload, &m);
        err = alloc_from_daemon(c, p, &rq, out);
    }
    end_call(c);
    if (err == 0 && (flags & MEMPOOL_ALLOC_POPULATE))
        populate(out);
    return err;
}

int mempool_attach(mempool_client *c, const mempool_handle *h,
                   mempool_block *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (c == NULL || h == NULL || out == NULL)
        return MEMPOOL_EINVAL;
    session_request rq = { .type = PROTO_ATTACH, .retry_safe = 1,
                           .takes_object = 1 };
    rq.len = proto_put_handle(rq.payload, h);
    begin_call(c);
    int err = take_block(c, NULL, &rq, out);
    end_call(c);
    return err;
}

/* The block this connection holds at b->addr, if b describes it. */
static held_block *find_held(mempool_client *c, const mempool_block *b)
{
    held_block *held = block_table_find(&c->blocks, b->addr);
    if (held == NULL || held->id != b->id || held->size != b->size)
        return NULL;
    return held;
}

/* A block from an older epoch died with its connection: it can no longer
 * be shared, since the daemon no longer knows this process holds it. */
static int share_held(mempool_client *c, held_block *held, unsigned prot,
                      mempool_handle *out)
{
    if (held->epoch != c->epoch)
        return MEMPOOL_ENOBLOCK;
    session_request rq = { .type = PROTO_SHARE };
    rq.len = proto_put_share(rq.payload,
                             &(proto_share){ .block_id = held->id, .prot = prot });
    /* `held` is not looked at after the call, which releases the lock. */
    session_reply rp;
    int err = call(c, &rq, &rp);
    if (err == MEMPOOL_ECONNLOST)
        return MEMPOOL_ENOBLOCK;
    if (err == 0) {
        proto_get_handle(rp.payload, out);
        held->shared = true; /* others may attach: never cached */
    }
    return err;
}

int mempool_share(mempool_client *c, const mempool_block *b, unsigned prot,
                  mempool_handle *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (c == NULL || b == NULL || out == NULL || !prot_ok(prot))
        return MEMPOOL_EINVAL;
    begin_call(c);
    held_block *held = find_held(c, b);
    int err = held != NULL ? share_held(c, held, prot, out) : MEMPOOL_ENOBLOCK;
    end_call(c);
    return err;
}

/* A block allocated in block isolation keeps its mapping (up to the
 * pool's kept_mappings): the daemon may grant its backing again, warm,
 * and then names it instead of sending it. The oldest kept mapping makes
 * room, and the daemon hears which in the same frame; when a reload cut
 * kept_mappings, the rest go in frames of their own. */
static bool keep_mapping(mempool_client *c, const held_block *b, proto_release *m)
{
    if (b->pool == NULL || !b->own_backing ||
        !client_pool_keep(b->pool, b->backing_id, b->addr, b->size, &m->forget_backing))
        return false;
    m->flags |= PROTO_RELEASE_KEEP_MAPPING;
    for (uint64_t more; (more = client_pool_trim_kept(b->pool)) != 0;)
        send_release(c, &(proto_release){ .forget_backing = more });
    return true;
}

/* Tells the daemon, one-way (no reply to wait for), and unmaps unless the
 * mapping is kept: this process is done with the block either way. A
 * block whose connection is gone (before or during the call) was already
 * let go of by the daemon: that is success too. What the daemon cannot
 * honour it logs and counts; the library has checked locally that this
 * connection holds the block. */
static int release_held(mempool_client *c, held_block *held)
{
    held_block b = *held;
    block_table_remove(&c->blocks, held);
    bool kept = false;
    if (b.epoch == c->epoch) {
        proto_release m = { .block_id = b.id };
        kept = keep_mapping(c, &b, &m);
        send_release(c, &m);
    }
    if (!kept)
        held_block_unmap(&b, c->epoch);
    return 0;
}

/* Into this connection's cache if the block may go there (cache.h),
 * without a message; else to the daemon. */
static int release_or_cache(mempool_client *c, held_block *held)
{
    if (!cache_put(c, held, cache_now()))
        return release_held(c, held);
    block_table_remove(&c->blocks, held);
    return 0;
}

int mempool_release(mempool_client *c, mempool_block *b)
{
    if (c == NULL || b == NULL)
        return MEMPOOL_EINVAL;
    begin_call(c);
    held_block *held = find_held(c, b);
    int err = held != NULL ? release_or_cache(c, held) : MEMPOOL_ENOBLOCK;
    end_call(c);
    if (held != NULL)
        memset(b, 0, sizeof *b);
    return err;
}

int mempool_pool_info(mempool_client *c, const char *pool, mempool_info *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (c == NULL || out == NULL || !pool_name_ok(pool))
        return MEMPOOL_EINVAL;
    session_request rq = { .type = PROTO_POOL_INFO, .retry_safe = 1 };
    rq.len = proto_put_pool_name(rq.payload, pool);
    session_reply rp;
    int err = locked_call(c, &rq, &rp);
    if (err == 0)
        proto_get_info(rp.payload, out);
    return err;
}

/* ---- named blocks ---------------------------------------------------------- */

#define PUBLISH_FLAGS MEMPOOL_PUBLISH_REPLACE

/* A bad pool name is EINVAL as everywhere; a bad block name EBADNAME, so
 * a program can tell its user which of the two is wrong. */
static int name_ref(const char *pool, const char *name, int timeout_ms,
                    proto_name_ref *out)
{
    if (!pool_name_ok(pool) || timeout_ms < -1)
        return MEMPOOL_EINVAL;
    if (!proto_block_name_ok(name))
        return MEMPOOL_EBADNAME;
    memset(out, 0, sizeof *out);
    memcpy(out->pool, pool, strlen(pool) + 1);
    memcpy(out->name, name, strlen(name) + 1);
    out->timeout_ms = timeout_ms;
    return 0;
}

static int publish_held(mempool_client *c, held_block *held,
                        const char *name, unsigned prot)
{
    if (held->epoch != c->epoch)
        return MEMPOOL_ENOBLOCK;
    proto_publish m = { .block_id = held->id, .prot = prot };
    memcpy(m.name, name, strlen(name) + 1);
    session_request rq = { .type = PROTO_PUBLISH };
    rq.len = proto_put_publish(rq.payload, &m);
    session_reply rp;
    int err = call(c, &rq, &rp);
    if (err == 0)
        held->shared = true; /* others may attach by its name: never cached */
    return err == MEMPOOL_ECONNLOST ? MEMPOOL_ENOBLOCK : err;
}

int mempool_publish(mempool_client *c, const mempool_block *b, const char *name,
                    unsigned prot)
{
    if (c == NULL || b == NULL || !prot_ok(prot & ~PUBLISH_FLAGS))
        return MEMPOOL_EINVAL;
    if (!proto_block_name_ok(name))
        return MEMPOOL_EBADNAME;
    begin_call(c);
    held_block *held = find_held(c, b);
    int err = held != NULL ? publish_held(c, held, name, prot) : MEMPOOL_ENOBLOCK;
    end_call(c);
    return err;
}

int mempool_unpublish(mempool_client *c, const char *pool, const char *name)
{
    session_request rq = { .type = PROTO_UNPUBLISH };
    proto_name_ref m;
    int err = c != NULL ? name_ref(pool, name, 0, &m) : MEMPOOL_EINVAL;
    if (err != 0)
        return err;
    rq.len = proto_put_unpublish(rq.payload, &m);
    session_reply rp;
    err = locked_call(c, &rq, &rp);
    return err;
}

/* A lookup may wait in the daemon; session_call lets the other threads
 * use the connection meanwhile. Sent again after a reconnect, the wait
 * starts over: the daemon that went away forgot it. */
int mempool_lookup(mempool_client *c, const char *pool, const char *name,
                   int timeout_ms, mempool_handle *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    session_request rq = { .type = PROTO_LOOKUP, .retry_safe = 1 };
    proto_name_ref m;
    int err = c != NULL && out != NULL ? name_ref(pool, name, timeout_ms, &m)
                                       : MEMPOOL_EINVAL;
    if (err != 0)
        return err;
    rq.len = proto_put_lookup(rq.payload, &m);
    session_reply rp;
    err = locked_call(c, &rq, &rp);
    if (err == 0)
        proto_get_handle(rp.payload, out);
    return err;
}

int mempool_attach_name(mempool_client *c, const char *pool, const char *name,
                        int timeout_ms, mempool_block *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    session_request rq = { .type = PROTO_ATTACH_NAME, .retry_safe = 1,
                           .takes_object = 1 };
    proto_name_ref m;
    int err = c != NULL && out != NULL ? name_ref(pool, name, timeout_ms, &m)
                                       : MEMPOOL_EINVAL;
    if (err != 0)
        return err;
    rq.len = proto_put_lookup(rq.payload, &m);
    begin_call(c);
    err = take_block(c, NULL, &rq, out);
    end_call(c);
    return err;
}

int mempool_trim(mempool_client *c)
{
    if (c == NULL)
        return MEMPOOL_EINVAL;
    lock_client(c);
    cache_give_back(c, NULL);
    pthread_mutex_unlock(&c->lock);
    return 0;
}
