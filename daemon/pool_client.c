/* Who holds what: a client's holds on blocks, the handles that share
 * them, per-pool quotas and the pools' access lists. */
#include "pool_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "log_peer.h"

#define CLIENT_MAX_GROUPS 64

typedef struct hold {
    block *blk;
    unsigned prot;
    bool cached;            /* in the client's cache */
    struct hold *next_same; /* other holds of the same block by this client */
} hold;

struct pool_client {
    pool_set *set;
    uint32_t uid;
    uint32_t gids[CLIENT_MAX_GROUPS];
    size_t ngids;
    uint32_t max_blocks;
    uint64_t nholds, bytes;
    idtable holds; /* block id -> hold chain */
    uint64_t *use; /* per pool: bytes of every hold of this connection */
    uid_account *account; /* its uid's, shared with its other connections */
    bool *mapped_shared;  /* per pool: it was given the pool's one backing */
    idtable kept;    /* backing serial -> its pool's index + 1: backings the
                        client keeps mapped (block isolation) */
    uint32_t *nkept; /* per pool: entries of `kept` */
    uint64_t *cached; /* per pool: bytes of holds in the client's cache */
    uint64_t cached_total;
    /* Departed (pool_client_depart): its holds in one list through
     * next_same, let go a slice at a time by pool_set_reap. */
    hold *leaving;
    pool_client *next_departed;
};

/* ---- uid accounts ------------------------------------------------------------ */

static uid_account *account_get(pool_set *s, uint32_t uid)
{
    uint64_t key = (uint64_t)uid + 1;
    uid_account *a = idtable_get(&s->accounts, key);
    if (a != NULL)
        return a;
    a = calloc(1, sizeof *a + (s->npools ? s->npools : 1) * sizeof a->use[0]);
    if (a == NULL)
        return NULL;
    a->uid = uid;
    if (idtable_put(&s->accounts, key, a) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

static void account_put(pool_set *s, uid_account *a)
{
    if (a != NULL && --a->clients == 0) {
        idtable_remove(&s->accounts, (uint64_t)a->uid + 1);
        free(a);
    }
}

uint32_t pool_uid_clients(const pool_set *s, uint32_t uid)
{
    const uid_account *a = idtable_get(&s->accounts, (uint64_t)uid + 1);
    return a != NULL ? a->clients : 0;
}

bool pool_uid_privileged(const pool_set *s, uint32_t uid)
{
    return pool_uid_is_privileged(s, uid);
}

void pool_set_uid_share(pool_set *s, uint32_t backings_permille)
{
    s->backings_per_uid_permille = backings_permille;
}

void pool_foreach_uid(const pool_set *s, const pool *p, pool_uid_fn *fn, void *arg)
{
    void *any;
    for (size_t i = 0; i < idtable_slots(&s->accounts); i++)
        if (idtable_at(&s->accounts, i, NULL, &any)) {
            const uid_account *a = any;
            fn(a->uid, a->clients, a->use[p->index], arg);
        }
}

/* A uid's share of the block backings: a fixed fraction of what the users
 * may hold together (not of the whole budget, whose last sixteenth is
 * root's), so that however the others behave each uid keeps its own and
 * at the default eight uids can each hold all of theirs (docs/daemon.md). */
static uint64_t backings_share(const pool_set *s)
{
    uint64_t share = pool_backings_for_users(s) * s->backings_per_uid_permille / 1000;
    return share > 0 ? share : 1;
}

static bool within_backing_share(const pool_client *c, const pool *p)
{
    const pool_set *s = c->set;
    if (p->cfg->isolation != POLICY_ISOLATION_BLOCK || s->max_backings == 0 ||
        pool_uid_is_privileged(s, c->uid) || c->account->backing_holds < backings_share(s))
        return true;
    log_peer(c->uid, LOG_LEVEL_WARN,
             "refused: uid %u holds %llu blocks with a backing of their own, its share "
             "(limits.backings_per_uid) of the daemon's %llu; pool %s",
             (unsigned)c->uid, (unsigned long long)c->account->backing_holds,
             (unsigned long long)s->max_backings, p->cfg->name);
    return false;
}

/* ---- clients ----------------------------------------------------------------- */

pool_client *pool_client_new(pool_set *s, uint32_t uid, const uint32_t *gids,
                             size_t ngids, uint32_t max_blocks)
{
    pool_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->use = calloc(s->npools ? s->npools : 1, sizeof *c->use);
    c->mapped_shared = calloc(s->npools ? s->npools : 1, sizeof *c->mapped_shared);
    c->nkept = calloc(s->npools ? s->npools : 1, sizeof *c->nkept);
    c->cached = calloc(s->npools ? s->npools : 1, sizeof *c->cached);
    c->account = c->use && c->mapped_shared && c->nkept && c->cached ? account_get(s, uid) : NULL;
    if (c->account == NULL) {
        free(c->use);
        free(c->mapped_shared);
        free(c->nkept);
        free(c->cached);
        free(c);
        return NULL;
    }
    c->account->clients++;
    c->set = s;
    c->uid = uid;
    c->ngids = ngids < CLIENT_MAX_GROUPS ? ngids : CLIENT_MAX_GROUPS;
    memcpy(c->gids, gids, c->ngids * sizeof *gids);
    c->max_blocks = max_blocks;
    idtable_init(&c->holds);
    idtable_init(&c->kept);
    return c;
}

static void set_cached(pool_client *c, hold *h, bool cached)
{
    if (h->cached == cached)
        return;
    pool *p = h->blk->pool;
    int64_t delta = cached ? (int64_t)h->blk->size : -(int64_t)h->blk->size;
    h->cached = cached;
    c->cached[p->index] += (uint64_t)delta;
    c->cached_total += (uint64_t)delta;
    p->cached += (uint64_t)delta;
}

static void hold_drop(pool_client *c, hold *h, uint64_t now)
{
    block *b = h->blk;
    set_cached(c, h, false);
    c->use[b->pool->index] -= b->size;
    c->account->use[b->pool->index] -= b->size;
    c->account->backing_holds -= b->pool->cfg->isolation == POLICY_ISOLATION_BLOCK;
    c->nholds--;
    c->bytes -= b->size;
    b->pool->holders--;
    if (--b->holders == 0)
        pool_block_retire(b, now);
    free(h);
}

/* What is left once the holds are gone: the client's own records. */
static void client_destroy(pool_client *c)
{
    idtable_destroy(&c->holds);
    /* It could write anywhere in the backings it was given: the next
     * sweep looks (pool_stray.c). */
    for (size_t i = 0; i < c->set->npools; i++)
        c->set->pools[i].strays_suspected |= c->mapped_shared[i];
    idtable_destroy(&c->kept);
    account_put(c->set, c->account);
    free(c->mapped_shared);
    free(c->use);
    free(c->nkept);
    free(c->cached);
    free(c);
}

/* Every hold chain of the table in one list, and the table emptied: one
 * pass over its slots, no hold let go yet. */
static hold *holds_to_list(pool_client *c)
{
    hold *list = NULL;
    for (size_t i = 0; i < idtable_slots(&c->holds); i++) {
        void *first;
        if (!idtable_at(&c->holds, i, NULL, &first))
            continue;
        hold *last = first;
        while (last->next_same != NULL)
            last = last->next_same;
        last->next_same = list;
        list = first;
    }
    idtable_destroy(&c->holds);
    return list;
}

/* Lets go of up to `max` holds of the list; the number let go. */
static uint64_t drop_leaving(pool_client *c, uint64_t max, uint64_t now)
{
    uint64_t n = 0;
    for (; n < max && c->leaving != NULL; n++) {
        hold *h = c->leaving;
        c->leaving = h->next_same;
        hold_drop(c, h, now);
    }
    return n;
}

void pool_client_free(pool_client *c, uint64_t now)
{
    if (c == NULL)
        return;
    c->leaving = holds_to_list(c);
    drop_leaving(c, UINT64_MAX, now);
    client_destroy(c);
}

void pool_client_depart(pool_client *c)
{
    if (c == NULL)
        return;
    pool_set *s = c->set;
    c->leaving = holds_to_list(c);
    c->next_departed = NULL;
    if (s->departed == NULL)
        s->departed = c;
    else
        s->departed_last->next_departed = c;
    s->departed_last = c;
}

/* Departed clients are let go of in arrival order, a slice of holds per
 * call, so that a client that held 60,000 blocks does not stall the loop
 * (and every other client) while they all go back. */
bool pool_set_reap(pool_set *s, uint64_t max_holds, uint64_t now)
{
    while (s->departed != NULL && max_holds > 0) {
        pool_client *c = s->departed;
        max_holds -= drop_leaving(c, max_holds, now);
        if (c->leaving != NULL)
            break;
        s->departed = c->next_departed;
        client_destroy(c);
    }
    return s->departed != NULL;
}

void pool_set_departing(const pool_set *s, pool_departing *out)
{
    *out = (pool_departing){ 0 };
    for (const pool_client *c = s->departed; c != NULL; c = c->next_departed) {
        out->clients++;
        out->blocks += c->nholds;
        out->bytes += c->bytes;
    }
}

uint64_t pool_client_blocks(const pool_client *c) { return c->nholds; }

uint64_t pool_client_bytes(const pool_client *c) { return c->bytes; }

uint64_t pool_client_use(const pool_client *c, const pool *p)
{
    return c->use[p->index];
}

uint64_t pool_client_uid_use(const pool_client *c, const pool *p)
{
    return c->account->use[p->index];
}

/* Every hold counts toward the quota of the client's uid, an attach as
 * much as an allocation, across all the uid's connections: otherwise two
 * connections could pass a block back and forth (allocate, share, attach,
 * release) and hold any amount uncounted, or simply each take a quota. */
static int hold_add(pool_client *c, block *b, unsigned prot)
{
    hold *h = calloc(1, sizeof *h);
    if (h == NULL)
        return MEMPOOL_ENOMEM;
    *h = (hold){ .blk = b, .prot = prot };
    h->next_same = idtable_remove(&c->holds, b->id);
    if (idtable_put(&c->holds, b->id, h) != 0) {
        if (h->next_same != NULL)
            idtable_put(&c->holds, b->id, h->next_same);
        free(h);
        return MEMPOOL_ENOMEM;
    }
    c->use[b->pool->index] += b->size;
    c->account->use[b->pool->index] += b->size;
    c->account->backing_holds += b->pool->cfg->isolation == POLICY_ISOLATION_BLOCK;
    c->mapped_shared[b->pool->index] |= b->pool->shared.fd >= 0;
    c->nholds++;
    c->bytes += b->size;
    b->holders++;
    b->pool->holders++;
    return 0;
}

static bool admitted(const pool_client *c, const pool *p)
{
    if (policy_pool_admits(p->cfg, c->uid, c->gids, c->ngids))
        return true;
    log_peer(c->uid, LOG_LEVEL_WARN, "access denied: uid %u to pool %s", (unsigned)c->uid,
             p->cfg->name);
    return false;
}

static void grant_fill(const block *b, unsigned prot, pool_grant *g)
{
    const pool *p = b->pool;
    bool shared = pool_shares_backing(p);
    *g = (pool_grant){
        .block_id = b->id,
        .addr = b->addr,
        .size = b->size,
        .offset = shared ? (uint64_t)(b->addr - p->base) : 0,
        .backing_fd = shared ? p->shared.fd : b->backing.fd,
        /* A shared backing is named by pool (or uid part) and protection,
         * so each connection receives it once per protection; a block's
         * own backing by its serial, for good (a client may keep it mapped). */
        .backing_id = shared ? (1ULL << 63) | (p->backing_key << 2) | prot
                             : b->backing_serial,
        .prot = prot,
        .shared_backing = shared,
        .backing_addr = shared ? p->base : b->addr,
        .backing_size = shared ? p->cfg->reserve : b->size,
        .kept_mappings = p->cfg->library.kept_mappings,
        .client_cache = p->cfg->library.client_cache,
        .client_cache_age_ns = p->cfg->library.client_cache_age_ns,
        .page_size = p->page,
    };
}

static int check_alloc(const pool_client *c, const pool *p, uint64_t size)
{
    if (!admitted(c, p))
        return MEMPOOL_EACCES;
    if (policy_pool_read_only(p->cfg, c->uid)) {
        log_peer(c->uid, LOG_LEVEL_WARN, "access denied: uid %u may only read pool %s",
                 (unsigned)c->uid,
                 p->cfg->name);
        return MEMPOOL_EACCES;
    }
    if (c->nholds >= c->max_blocks)
        return MEMPOOL_ELIMIT;
    uint64_t rounded = (size + p->page - 1) / p->page * p->page;
    if (size > p->cfg->max_block || rounded > p->cfg->max_block)
        return MEMPOOL_E2BIG;
    if (c->account->use[p->index] + rounded > p->cfg->quota)
        return MEMPOOL_EDQUOT;
    return within_backing_share(c, p) ? 0 : MEMPOOL_ELIMIT;
}

int pool_alloc(pool_client *c, const char *name, uint64_t size, unsigned flags,
               uint64_t now, pool_grant *out)
{
    pool *p = pool_set_find(c->set, name);
    if (p == NULL)
        return MEMPOOL_ENOPOOL;
    if (size == 0 || (flags & ~(MEMPOOL_ALLOC_DIRTY | MEMPOOL_ALLOC_POPULATE)))
        return MEMPOOL_EINVAL;
    int rc = check_alloc(c, p, size);
    block *b;
    bool client_zeroes;
    if (rc != 0 || (p = pool_part_for(p, c->uid, &rc)) == NULL ||
        (rc = pool_block_new(p, size, c->uid, flags, &c->kept, &b, &client_zeroes)) != 0)
        return rc;
    if ((rc = hold_add(c, b, MEMPOOL_READ | MEMPOOL_WRITE)) != 0) {
        pool_block_retire(b, now);
        return rc;
    }
    grant_fill(b, MEMPOOL_READ | MEMPOOL_WRITE, out);
    out->kept = !out->shared_backing && idtable_get(&c->kept, b->backing_serial) != NULL;
    out->client_zeroes = client_zeroes;
    return 0;
}

static hold *hold_find(const pool_client *c, uint64_t block_id)
{
    return block_id == 0 ? NULL : idtable_get(&c->holds, block_id);
}

static unsigned held_prot(const hold *h)
{
    unsigned prot = 0;
    for (; h != NULL; h = h->next_same)
        prot |= h->prot;
    return prot;
}

static int new_handle(pool_set *s, handle_entry *e)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        if (getentropy(e->handle.bytes, sizeof e->handle.bytes) != 0)
            return MEMPOOL_EIO;
        uint64_t key;
        memcpy(&key, e->handle.bytes, sizeof key);
        int rc = idtable_put(&s->handles, key, e);
        if (rc == 0)
            return 0;
        if (rc != -EEXIST && rc != -EINVAL)
            return MEMPOOL_ENOMEM;
    }
    return MEMPOOL_EIO;
}

int pool_share(pool_client *c, uint64_t block_id, unsigned prot, mempool_handle *out)
{
    if (prot != MEMPOOL_READ && prot != (MEMPOOL_READ | MEMPOOL_WRITE))
        return MEMPOOL_EINVAL;
    hold *h = hold_find(c, block_id);
    if (h == NULL)
        return MEMPOOL_ENOBLOCK;
    if ((held_prot(h) & prot) != prot)
        return MEMPOOL_EPERM;
    /* The same block with the same protection has one handle, whoever
     * asks and however often: the table stays at two entries per block
     * at most, however often a client shares. */
    for (const handle_entry *old = h->blk->handles; old != NULL; old = old->next)
        if (old->prot == prot) {
            *out = old->handle;
            return 0;
        }
    handle_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return MEMPOOL_ENOMEM;
    int rc = new_handle(c->set, e);
    if (rc != 0) {
        free(e);
        return rc;
    }
    e->blk = h->blk;
    e->prot = prot;
    e->next = h->blk->handles;
    h->blk->handles = e;
    *out = e->handle;
    return 0;
}

static handle_entry *handle_find(const pool_set *s, const mempool_handle *h)
{
    uint64_t key;
    memcpy(&key, h->bytes, sizeof key);
    handle_entry *e = idtable_get(&s->handles, key);
    /* The key is only 8 of the 32 bytes: compare them all. */
    if (e == NULL || memcmp(e->handle.bytes, h->bytes, sizeof h->bytes) != 0)
        return NULL;
    return e;
}

int pool_attach(pool_client *c, const mempool_handle *h, pool_grant *out)
{
    handle_entry *e = handle_find(c->set, h);
    if (e == NULL)
        return MEMPOOL_EBADHANDLE;
    block *b = e->blk;
    if (!admitted(c, b->pool))
        return MEMPOOL_EACCES;
    /* uid isolation: a block lies in its uid's backing, and the backing's
     * descriptor reaches all of that uid's memory, so only the same uid
     * may map it. Sharing across uids needs block isolation. */
    if (b->pool->parent != NULL && b->pool->part_uid != c->uid) {
        log_peer(c->uid, LOG_LEVEL_WARN,
                 "access denied: uid %u to a block of uid %u in pool %s (uid isolation "
                 "shares within a uid only)", (unsigned)c->uid, (unsigned)b->pool->part_uid,
                 b->pool->cfg->name);
        return MEMPOOL_EACCES;
    }
    if (c->nholds >= c->max_blocks)
        return MEMPOOL_ELIMIT;
    if (c->account->use[b->pool->index] + b->size > b->pool->cfg->quota)
        return MEMPOOL_EDQUOT;
    unsigned prot = e->prot;
    /* A read-only user of the pool gets a read-only mapping, whatever the
     * handle allows. */
    if (policy_pool_read_only(b->pool->cfg, c->uid))
        prot = MEMPOOL_READ;
    int rc = hold_add(c, b, prot);
    if (rc != 0)
        return rc;
    pool_block_note_holder(b, c->uid);
    grant_fill(b, prot, out);
    return 0;
}

void pool_client_forget_backing(pool_client *c, uint64_t backing_id)
{
    void *index = backing_id != 0 ? idtable_remove(&c->kept, backing_id) : NULL;
    if (index != NULL)
        c->nkept[(uintptr_t)index - 1]--;
}

/* Records that the client keeps the block's backing mapped, within the
 * pool's kept_mappings (a client keeping more gets descriptors again).
 * Out of memory for the table, the backing only comes with a descriptor
 * next time. */
static void note_kept(pool_client *c, const hold *h)
{
    const block *b = h->blk;
    const pool *p = b->pool;
    if (p->cfg->isolation != POLICY_ISOLATION_BLOCK || h->prot != (MEMPOOL_READ | MEMPOOL_WRITE) ||
        idtable_get(&c->kept, b->backing_serial) != NULL ||
        c->nkept[p->index] >= p->cfg->library.kept_mappings)
        return;
    if (idtable_put(&c->kept, b->backing_serial, (void *)(uintptr_t)(p->index + 1)) == 0)
        c->nkept[p->index]++;
}

static int release(pool_client *c, uint64_t block_id, bool keep_mapping, uint64_t now)
{
    hold *h = hold_find(c, block_id);
    if (h == NULL)
        return MEMPOOL_ENOBLOCK;
    if (keep_mapping)
        note_kept(c, h);
    else
        pool_client_forget_backing(c, h->blk->backing_serial);
    idtable_remove(&c->holds, block_id);
    if (h->next_same != NULL)
        idtable_put(&c->holds, block_id, h->next_same);
    hold_drop(c, h, now);
    return 0;
}

int pool_client_cache_mark(pool_client *c, uint64_t block_id, bool cached)
{
    hold *h = hold_find(c, block_id);
    if (h == NULL)
        return MEMPOOL_ENOBLOCK;
    set_cached(c, h, cached);
    return 0;
}

uint64_t pool_client_cached(const pool_client *c) { return c->cached_total; }

uint64_t pool_client_cached_in(const pool_client *c, const pool *p)
{
    return c->cached[p->index];
}

void pool_set_ask_give_back(pool_set *s, uint64_t until)
{
    if (until > s->give_back_until)
        s->give_back_until = until;
}

/* Near the limit: in use and warm within an eighth of it, so that what
 * clients cache goes back before the limit path has to refuse. */
static bool near_limit(const pool *p)
{
    uint64_t limit = p->cfg->limit;
    return p->in_use + pool_warm_bytes(p) >= limit - limit / 8;
}

bool pool_client_should_give_back(const pool_client *c, uint64_t now)
{
    if (c->cached_total == 0)
        return false;
    if (now < c->set->give_back_until)
        return true;
    for (size_t i = 0; i < c->set->npools; i++)
        if (c->cached[i] > 0 && near_limit(&c->set->pools[i]))
            return true;
    return false;
}

int pool_release(pool_client *c, uint64_t block_id, uint64_t now)
{
    return release(c, block_id, false, now);
}

int pool_release_keeping(pool_client *c, uint64_t block_id, uint64_t now)
{
    return release(c, block_id, true, now);
}

int pool_client_info(const pool_client *c, const char *name, mempool_info *out)
{
    pool *p = pool_set_find(c->set, name);
    if (p == NULL)
        return MEMPOOL_ENOPOOL;
    if (!admitted(c, p))
        return MEMPOOL_EACCES;
    pool_stats st;
    pool_get_stats(p, &st);
    *out = (mempool_info){
        .page_size = p->page,
        .limit = p->cfg->limit,
        .in_use = st.in_use,
        .warm = st.warm,
        .quota = p->cfg->quota,
        .client_use = c->use[p->index],
        .released = st.released,
        .scavenger_runs = p->scavenger_runs,
        .scavenger_cpu_ns = p->scavenger_cpu_ns,
        .last_scavenge_ms = p->last_scavenge_ms,
    };
    return 0;
}

int pool_client_access(const pool_client *c, const char *name, unsigned *prot)
{
    pool *p = pool_set_find(c->set, name);
    if (p == NULL)
        return MEMPOOL_ENOPOOL;
    if (!admitted(c, p))
        return MEMPOOL_EACCES;
    *prot = policy_pool_read_only(p->cfg, c->uid) ? MEMPOOL_READ
                                                  : MEMPOOL_READ | MEMPOOL_WRITE;
    return 0;
}

int pool_client_held(const pool_client *c, uint64_t block_id, pool_held_info *out)
{
    hold *h = hold_find(c, block_id);
    if (h == NULL)
        return MEMPOOL_ENOBLOCK;
    *out = (pool_held_info){ .pool = h->blk->pool->cfg->name, .size = h->blk->size,
                             .prot = held_prot(h) };
    return 0;
}

