/* Pools and their blocks: where memory comes from and where it goes.
 *
 * Memory moves only through the memory layer (mem_map / mem_used /
 * mem_unused / mem_fault), so mem.c's counters describe every pool.
 * Zeroing (docs/design.md §3): a new owner sees zeros unless every earlier holder
 * had its uid and it asked for MEMPOOL_ALLOC_DIRTY. Fresh backings
 * and punched holes read as zeros by themselves; warm memory is cleared
 * with memset; memory that went through mem_unused is cleared where the
 * OS does not guarantee zeros (mem_need_zero_after_unused, Darwin). */
#include "pool_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "log_peer.h"
#include "scavenge_policy.h"

/* ---- scavenger bookkeeping ------------------------------------------------ */

void pool_note_scavenge(pool *p, pool_scavenge_kind kind, uint64_t cpu_ns, uint64_t wall_ms)
{
    p->scavenger_runs++;
    p->scavenger_cpu_ns += cpu_ns;
    p->kind_cpu_ns[kind] += cpu_ns;
    p->last_scavenge_ms = wall_ms;
}

void pool_set_limit_release(pool_set *s, pool_limit_release_fn *fn, void *arg)
{
    s->limit_release = fn;
    s->limit_release_arg = arg;
}

/* ---- the memory limit (Go's memory-limit path) ------------------------------ */

/* How much warm memory must go before `request` more bytes are in use;
 * reused_warm: warm bytes the new block itself takes, which must not count
 * twice. */
static int limit_need(pool *p, uint64_t request, uint64_t reused_warm,
                      uint64_t *need)
{
    pool *top = pool_top(p);
    int rc = scavenge_limit_need(p->cfg->limit, top->in_use,
                                 pool_warm_bytes(top) - reused_warm, request, need);
    return rc == 0 ? 0 : MEMPOOL_ENOMEM;
}

/* Releases `need` bytes of warm memory now, through the scavenger when it
 * runs so that the work shows in its figures. The block being allocated is
 * out of the warm set already, so none of its pages go. */
static bool limit_release(pool *p, uint64_t need)
{
    if (need == 0)
        return true;
    p = pool_top(p); /* in uid isolation, any uid's warm memory */
    pool_set *s = p->set;
    uint64_t done = s->limit_release != NULL
                        ? s->limit_release(p, need, s->limit_release_arg)
                        : pool_release_warm_part(p, need, UINT64_MAX);
    p->sync_scavenged += done;
    return done >= need;
}

/* ---- blocks ------------------------------------------------------------ */

/* mem_map, Go's sysMap: ENOMEM is out of memory; any other failure means
 * the pool's reservation is not what the daemon thinks it is (Go throws),
 * so the pool takes no more allocations. */
static int pool_map(pool *p, void *v, size_t n, const mem_backing *b)
{
    int rc = mem_map(p->region, v, n, b);
    if (rc != 0 && rc != -ENOMEM && !p->broken) {
        p->broken = true;
        log_error("pool %s: mapping into its reservation failed (%s); it takes no more "
                  "allocations until the daemon restarts", p->cfg->name, strerror(-rc));
    }
    return rc;
}

static block *block_struct(pool *p, uint64_t start, uint64_t npages)
{
    block *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->pool = p;
    b->start = start;
    b->npages = npages;
    b->size = npages * p->page;
    b->addr = p->base + start * p->page;
    b->backing = MEM_BACKING_ANON;
    return b;
}

static void block_close_backing(pool *p, block *b)
{
    counters_forget(p, b);
    if (b->backing.fd >= 0 && b->backing.fd != p->shared.fd)
        p->set->backings--;
    mem_backing_close(&b->backing);
}

/* Gives a block's memory back to the OS and its pages back to the pool's
 * free runs (stamped when it was freed), and frees the struct; false when
 * the memory could not be given back. A range whose memory could not be
 * given back stays out of the arena: it is still mapped, and handing it
 * out again would map over it. */
static bool block_unmap(pool *p, block *b)
{
    int rc = mem_fault(p->region, b->addr, b->size, &b->backing);
    if (rc != 0)
        log_error("pool %s: mem_fault of a block failed (%s); its %llu bytes stay out of use",
                  p->cfg->name, strerror(-rc), (unsigned long long)b->size);
    else if (arena_free(p->arena, b->start, b->npages, b->freed_at) != 0)
        log_error("pool %s: cannot return %llu bytes of address space to the arena",
                  p->cfg->name, (unsigned long long)b->size);
    block_close_backing(p, b);
    free(b);
    return rc == 0;
}

/* Gives a warm block back whole; returns the Ready bytes released. */
static uint64_t warm_block_drop(pool *p, block *b)
{
    uint64_t ready = b->ready_pages * p->page;
    warm_block_detach(&p->warm, b);
    if (!block_unmap(p, b))
        return 0;
    p->released += ready;
    return ready;
}

/* Every block of a block-isolation pool holds a descriptor (its memfd) and
 * a mapping in the daemon, live or warm; the set allows max_backings of
 * them (from RLIMIT_NOFILE and the kernel's map count, see daemon.c). Past
 * that, warm blocks are given back first, any pool's, oldest first; then
 * the allocation is refused rather than the daemon running out of
 * descriptors for everyone. The last sixteenth is kept for root and the
 * daemon's uid, so that the users together cannot lock them out either
 * (each user is also held to its share, in pool_client.c). */
static uint64_t backings_allowed(const pool_set *s, uint32_t uid)
{
    if (pool_uid_is_privileged(s, uid))
        return s->max_backings;
    return pool_backings_for_users(s);
}

static bool backing_room(pool_set *s, uint32_t uid)
{
    uint64_t allowed = backings_allowed(s, uid);
    for (size_t i = 0; s->max_backings != 0 && s->backings >= allowed && i < s->npools; i++)
        while (s->backings >= allowed && warm_block_oldest(&s->pools[i].warm) != NULL)
            warm_block_drop(&s->pools[i], warm_block_oldest(&s->pools[i].warm));
    return s->max_backings == 0 || s->backings < allowed;
}

void pool_set_limit_backings(pool_set *s, uint64_t max)
{
    s->max_backings = max;
}

void pool_set_backings(const pool_set *s, uint64_t *open, uint64_t *max)
{
    *open = s->backings;
    *max = s->max_backings;
}

static int mem_to_mempool(int rc)
{
    return rc == -ENOMEM ? MEMPOOL_ENOMEM : MEMPOOL_EIO;
}

static void log_map_failure(const pool *p, uint64_t bytes, int rc)
{
    log_warn("pool %s: mapping %llu bytes failed: %s", p->cfg->name,
             (unsigned long long)bytes, strerror(-rc));
}

/* ---- block isolation: each block its own backing ------------------------ */

/* Address space for npages; warm blocks in the way are given back until a
 * run is long enough. */
static int take_pages(pool *p, uint64_t npages, uint64_t *start)
{
    int rc = arena_alloc(p->arena, npages, start);
    while (rc == -ENOMEM && warm_block_newest(&p->warm) != NULL) {
        warm_block_drop(p, warm_block_newest(&p->warm));
        rc = arena_alloc(p->arena, npages, start);
    }
    return rc;
}

static int block_map_own(pool *p, block *b)
{
    char name[96];
    snprintf(name, sizeof name, "mempoold:%s", p->cfg->name);
    int rc = mem_backing_new(name, b->size, &b->backing);
    if (rc != 0)
        return rc;
    b->backing_serial = ++p->set->next_backing_serial;
    p->set->backings++;
    if ((rc = pool_map(p, b->addr, b->size, &b->backing)) == 0 &&
        (rc = mem_used(p->region, b->addr, b->size, b->size)) == 0)
        return 0;
    if (mem_region_state(p->region, b->addr) != MEM_RESERVED)
        mem_fault(p->region, b->addr, b->size, &b->backing);
    block_close_backing(p, b);
    return rc;
}

static int own_block_new(pool *p, uint64_t npages, uint32_t uid, block **out)
{
    uint64_t start, need, bytes = npages * p->page;
    if (!backing_room(p->set, uid)) {
        log_peer(uid, LOG_LEVEL_WARN,
                 "pool %s: refused uid %u: %llu block backings open, the most the daemon "
                 "allows %s", p->cfg->name, (unsigned)uid, (unsigned long long)p->set->backings,
                 pool_uid_is_privileged(p->set, uid) ? "" : "users (the rest is root's)");
        return MEMPOOL_ELIMIT;
    }
    if (limit_need(p, bytes, 0, &need) != 0 || take_pages(p, npages, &start) != 0)
        return MEMPOOL_ENOMEM;
    /* take_pages may have given warm blocks back: ask again. */
    block *b = NULL;
    if (limit_need(p, bytes, 0, &need) != 0 || !limit_release(p, need) ||
        (b = block_struct(p, start, npages)) == NULL) {
        arena_free(p->arena, start, npages, 0);
        return MEMPOOL_ENOMEM;
    }
    int rc = block_map_own(p, b);
    if (rc != 0) {
        arena_free(p->arena, start, npages, 0);
        free(b);
        log_map_failure(p, bytes, rc);
        return mem_to_mempool(rc);
    }
    *out = b;
    return 0;
}

/* Brings the released part of a reused warm block back (Prepared ->
 * Ready) after making room for it under the limit. */
static int warm_block_refill(pool *p, block *b, uint64_t prepared)
{
    uint64_t need;
    if (limit_need(p, b->size, 0, &need) != 0 || !limit_release(p, need))
        return -ENOMEM;
    return mem_used(p->region, b->addr, b->size, prepared);
}

/* A warm block of exactly npages that only `uid` has ever held, newest
 * first (its pages are the most likely to still be in cache), one the
 * allocating connection keeps mapped before any other. A backing another
 * uid has held is never handed to this one, zeroed or not: that holder
 * may have kept its mapping (libmempool keeps the mappings of released
 * blocks, `kept_mappings`) and would see, and write, what comes next. The
 * part the scavenger released reads as zeros where the OS guarantees it
 * (a punched hole); elsewhere it is cleared too. */
/* Clearing costs about a millisecond per 5 MiB resident (a punch, or a
 * memset): a larger block that the daemon must clear is not reused, so
 * that one client's allocation never holds every other client's requests
 * that long. A fresh backing costs the same whatever its size; the warm
 * block is left to dirty reuse, to a client that keeps it mapped and
 * clears it itself, or to the scavenger, which releases in slices. */
#define POOL_CLEAR_INLINE_MAX (4u << 20)

static block *warm_reuse(pool *p, uint64_t npages, uint32_t uid, unsigned flags,
                         const idtable *kept, bool *client_zeroes)
{
    bool dirty = flags & MEMPOOL_ALLOC_DIRTY;
    bool daemon_may_clear = dirty || npages * p->page <= POOL_CLEAR_INLINE_MAX;
    block *b = warm_block_find(&p->warm, npages, uid, kept, !daemon_may_clear);
    if (b == NULL)
        return NULL;
    uint64_t ready = b->ready_pages * p->page, prepared = b->size - ready, need;
    if (limit_need(p, b->size, ready, &need) != 0)
        return NULL;
    warm_block_detach(&p->warm, b);
    if (prepared > 0 && warm_block_refill(p, b, prepared) != 0) {
        if (block_unmap(p, b))
            p->released += ready;
        return NULL;
    }
    /* Only this uid has held it: its client may clear it itself. */
    *client_zeroes = !dirty && kept != NULL && idtable_get(kept, b->backing_serial) != NULL;
    bool daemon_clears = !dirty && !*client_zeroes;
    if (daemon_clears)
        warm_clear(&p->warm, b->addr, ready, &b->backing);
    if (daemon_clears && prepared > 0 && mem_need_zero_after_unused())
        memset(b->addr + ready, 0, prepared);
    if (!dirty)
        counters_measure(p, b);
    return b;
}

/* ---- pool isolation: pages of the shared backing ------------------------- */

/* pool isolation: where addr lies in the pool's one backing. */
static mem_backing pool_shared_backing_at(const pool *p, const char *addr)
{
    return (mem_backing){ .fd = p->shared.fd,
                          .offset = p->shared.offset + (uint64_t)(addr - p->base) };
}

/* The first run of one memory state at v (within n bytes), in OS pages. */
static size_t state_run(const pool *p, const char *v, size_t n, mem_state *st)
{
    size_t os_page = mem_page_size();
    *st = mem_region_state(p->region, v);
    size_t len = os_page;
    while (len < n && mem_region_state(p->region, v + len) == *st)
        len += os_page;
    return len;
}

/* Maps what lies above everything mapped so far (Reserved -> Prepared),
 * then brings the block to Ready: its warm pages are Ready already and
 * the rest is Prepared, so mem_used gets the exact Prepared count. */
static int shared_make_ready(pool *p, block *b, uint64_t prepared)
{
    uint64_t top = b->start + b->npages;
    if (top > p->mapped_top) {
        uint64_t from = b->start > p->mapped_top ? b->start : p->mapped_top;
        char *v = p->base + from * p->page;
        mem_backing fresh = pool_shared_backing_at(p, v);
        int rc = pool_map(p, v, (top - from) * p->page, &fresh);
        if (rc != 0)
            return rc;
        p->mapped_top = top;
    }
    b->backing = pool_shared_backing_at(p, b->addr);
    if (prepared == 0)
        return 0;
    int rc = mem_used(p->region, b->addr, b->size, prepared);
    /* A punched hole reads as zeros; reused Darwin pages may not. */
    if (rc == 0 && mem_need_zero_after_unused())
        memset(b->addr, 0, b->size);
    return rc;
}

/* A block that could not be made ready: its pages that were warm are out of
 * the warm set, so they are released (every free Ready page must be one the
 * scavenger can find) before the range goes back to the arena. */
static void shared_unwind(pool *p, block *b)
{
    for (uint64_t off = 0; off < b->size;) {
        mem_state st;
        size_t len = state_run(p, b->addr + off, b->size - off, &st);
        mem_backing bk = pool_shared_backing_at(p, b->addr + off);
        if (st == MEM_READY && mem_unused(p->region, b->addr + off, len, &bk) == 0)
            p->released += len;
        off += len;
    }
    arena_free(p->arena, b->start, b->npages, 0);
    free(b);
}

/* A client of the pool can write anywhere in the backing it maps, also
 * where no block lies, and such pages are not warm or even Ready in the
 * daemon's books: a block for an owner that wants zeros is punched whole
 * before it is handed out, so that it shows nothing, and its warm pages
 * need no clearing of their own. false where nothing outside a block can
 * be written (Darwin) and the warm pages are cleared as before. */
static bool shared_scrub(pool *p, uint64_t start, uint64_t npages)
{
    mem_backing bk = pool_shared_backing_at(p, p->base + start * p->page);
    return mem_backing_discard(&bk, npages * p->page) == 0;
}

/* True when no uid but `uid` has ever been granted a block of the shared
 * backing, so none but its own connections hold a descriptor of it (on
 * Darwin, where blocks travel singly, the test is stricter than needed). */
static bool shared_backing_only_for(const pool *p, uint32_t uid)
{
    return !p->backing_granted || p->backing_uid == uid;
}

/* In pool isolation, warm pages anyone of the pool may have written are
 * cleared unless the caller takes them dirty: every client of such a pool
 * can read the whole backing anyway. Where only the caller's uid has ever
 * had the backing (always so in a uid's part), warm pages are its own
 * data, and its client zeroes a block that is warm throughout by memset
 * (*client_zeroes). */
static int shared_block_new(pool *p, uint64_t npages, uint32_t uid, bool clear_warm,
                            block **out, bool *client_zeroes)
{
    uint64_t start, need, bytes = npages * p->page;
    if (arena_alloc(p->arena, npages, &start) != 0)
        return MEMPOOL_ENOMEM;
    uint64_t reused = warm_pages_in(&p->warm, start, npages) * p->page;
    /* Only a block warm throughout: the client's memset would fault in
     * (and keep resident) every page of it that is not. */
    *client_zeroes = clear_warm && reused == bytes && shared_backing_only_for(p, uid);
    clear_warm = clear_warm && !*client_zeroes;
    block *b = NULL;
    if (limit_need(p, bytes, reused, &need) != 0 ||
        (b = block_struct(p, start, npages)) == NULL) {
        arena_free(p->arena, start, npages, 0);
        return MEMPOOL_ENOMEM;
    }
    /* Darwin clears a block with released pages whole, warm ones too. */
    bool clear_whole = reused < bytes && mem_need_zero_after_unused();
    bool scrubbed = clear_warm && shared_scrub(p, start, npages);
    warm_pages_take(&p->warm, start, npages, clear_warm && !clear_whole && !scrubbed);
    int rc = limit_release(p, need) ? shared_make_ready(p, b, bytes - reused) : -ENOMEM;
    if (rc != 0) {
        shared_unwind(p, b);
        log_map_failure(p, bytes, rc);
        return mem_to_mempool(rc);
    }
    *out = b;
    return 0;
}

int pool_block_new(pool *p, uint64_t size, uint32_t uid, unsigned flags,
                   const idtable *kept, block **out, bool *client_zeroes)
{
    *client_zeroes = false;
    uint64_t npages = (size + p->page - 1) / p->page;
    uint64_t bytes = npages * p->page;
    if (size == 0 || npages == 0 || npages > arena_npages(p->arena))
        return size == 0 ? MEMPOOL_EINVAL : MEMPOOL_E2BIG;
    if (bytes > p->cfg->max_block)
        return MEMPOOL_E2BIG;
    if (p->broken)
        return MEMPOOL_EIO;
    block *b = NULL;
    if (p->cfg->isolation == POLICY_ISOLATION_BLOCK)
        b = warm_reuse(p, npages, uid, flags, kept, client_zeroes);
    if (b == NULL) {
        int rc = p->cfg->isolation == POLICY_ISOLATION_BLOCK
                     ? own_block_new(p, npages, uid, &b)
                     : shared_block_new(p, npages, uid, !(flags & MEMPOOL_ALLOC_DIRTY), &b,
                                        client_zeroes);
        if (rc != 0)
            return rc;
    }
    b->id = ++p->set->next_block_id;
    b->exposed_uid = uid;
    if (idtable_put(&p->set->blocks, b->id, b) != 0) {
        pool_block_retire(b, 0);
        return MEMPOOL_ENOMEM;
    }
    pool_block_note_holder(b, uid);
    b->holders = 0;
    p->in_use += b->size;
    p->blocks++;
    counters_live_link(p, b);
    if (p->parent != NULL) {
        p->parent->in_use += b->size;
        p->parent->blocks++;
    }
    *out = b;
    return 0;
}

void pool_block_note_holder(block *b, uint32_t uid)
{
    pool *p = b->pool;
    if (b->exposed_uid != uid)
        b->exposed_uid = POOL_UID_MIXED;
    if (!p->backing_granted)
        p->backing_uid = uid;
    else if (p->backing_uid != uid)
        p->backing_uid = POOL_UID_MIXED;
    p->backing_granted = true;
}

void pool_block_forget_handles(block *b)
{
    while (b->handles != NULL) {
        handle_entry *h = b->handles;
        b->handles = h->next;
        uint64_t key;
        memcpy(&key, h->handle.bytes, sizeof key);
        idtable_remove(&b->pool->set->handles, key);
        free(h);
    }
}

void pool_block_retire(block *b, uint64_t now)
{
    pool *p = b->pool;
    pool_block_note_death(b);
    pool_block_forget_handles(b);
    if (b->id != 0 && idtable_remove(&p->set->blocks, b->id) == b) {
        p->in_use -= b->size;
        p->blocks--;
        counters_live_unlink(p, b);
        if (p->parent != NULL) {
            p->parent->in_use -= b->size;
            p->parent->blocks--;
        }
    }
    b->id = 0;
    if (p->cfg->isolation == POLICY_ISOLATION_BLOCK) {
        /* What its holders wrote: measured once, as it turns warm. */
        counters_measure(p, b);
        /* Out of memory for the warm set: give the block back rather than
         * keep memory the scavenger could not find. */
        if (!warm_block_push(&p->warm, b, now) && block_unmap(p, b))
            p->released += b->size;
        return;
    }
    arena_free(p->arena, b->start, b->npages, now);
    p->released += warm_pages_push(&p->warm, b->start, b->npages, now);
    free(b);
}

/* ---- giving warm memory back ---------------------------------------------- */

static uint64_t release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before,
                             bool whole_blocks)
{
    uint64_t done = 0;
    while (done < max_bytes) {
        block *drop;
        uint64_t got = warm_release_step(&p->warm, max_bytes - done, idle_before,
                                         whole_blocks, &drop);
        if (drop != NULL && !block_unmap(p, drop))
            got = 0;
        else if (drop == NULL && p->warm.partial != NULL)
            counters_measure(p, p->warm.partial);
        if (got == 0)
            break;
        p->released += got;
        done += got;
    }
    return done;
}

/* uid isolation: the parts in turn, each from its highest idle memory;
 * the part that gave the last time goes last the next time, so that no
 * uid's warm memory is always the first to go. */
static uint64_t release_parts(pool *p, uint64_t max_bytes, uint64_t idle_before,
                              bool whole_blocks)
{
    uint64_t done = 0;
    idtable *t = &p->parts;
    size_t first = p->parts_cursor, slots = idtable_slots(t);
    for (size_t k = 0; k < slots && done < max_bytes; k++) {
        size_t i = (first + k) % slots;
        void *part;
        if (!idtable_at(t, i, NULL, &part))
            continue;
        uint64_t got = release_warm(part, max_bytes - done, idle_before, whole_blocks);
        done += got;
        if (got > 0)
            p->parts_cursor = i + 1;
    }
    return done;
}

static uint64_t release_any(pool *p, uint64_t max_bytes, uint64_t idle_before, bool whole)
{
    if (p->cfg->isolation == POLICY_ISOLATION_UID && p->parent == NULL)
        return release_parts(p, max_bytes, idle_before, whole);
    return release_warm(p, max_bytes, idle_before, whole);
}

uint64_t pool_release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before)
{
    return release_any(p, max_bytes, idle_before, true);
}

uint64_t pool_release_warm_part(pool *p, uint64_t max_bytes, uint64_t idle_before)
{
    return release_any(p, max_bytes, idle_before, false);
}

uint64_t pool_warm_bytes(const pool *p)
{
    uint64_t bytes = p->warm.bytes;
    void *part;
    for (size_t i = 0; i < idtable_slots(&p->parts); i++)
        if (idtable_at(&p->parts, i, NULL, &part))
            bytes += ((const pool *)part)->warm.bytes;
    return bytes;
}

uint64_t pool_warm_oldest(const pool *p)
{
    uint64_t oldest = warm_oldest(&p->warm);
    void *part;
    for (size_t i = 0; i < idtable_slots(&p->parts); i++) {
        uint64_t stamp = idtable_at(&p->parts, i, NULL, &part) ? warm_oldest(&((pool *)part)->warm) : 0;
        if (stamp != 0 && (oldest == 0 || stamp < oldest))
            oldest = stamp;
    }
    return oldest;
}

/* ---- uid isolation: a part per uid ------------------------------------- */

static int pool_open(pool *p, const policy_pool *cfg, char *err, size_t errlen);
static void pool_close(pool *p);

/* A uid's part reserves the pool's whole `reserve` of address space (which
 * costs no memory) and holds one backing the size of the reservation, a
 * descriptor of the daemon's budget. It lives as long as the pool: its
 * clients keep the backing's descriptor anyway, and a uid that allocated
 * once is likely to again. */
static int part_open(pool *p, uint32_t uid, pool **out)
{
    if (!backing_room(p->set, uid)) {
        log_peer(uid, LOG_LEVEL_WARN,
                 "pool %s: refused uid %u: no descriptor left for a backing of its own "
                 "(%llu block backings open)", p->cfg->name, (unsigned)uid,
                 (unsigned long long)p->set->backings);
        return MEMPOOL_ELIMIT;
    }
    pool *part = calloc(1, sizeof *part);
    if (part == NULL)
        return MEMPOOL_ENOMEM;
    *part = (pool){ .set = p->set, .index = p->index, .parent = p, .part_uid = uid,
                    .backing_key = p->set->next_backing_key++ };
    char err[256] = "out of memory";
    if (pool_open(part, p->cfg, err, sizeof err) != 0 ||
        idtable_put(&p->parts, (uint64_t)uid + 1, part) != 0) {
        log_peer(uid, LOG_LEVEL_WARN, "%s (uid %u's part)", err, (unsigned)uid);
        pool_close(part);
        free(part);
        return MEMPOOL_ENOMEM;
    }
    p->set->backings += part->shared.fd >= 0;
    *out = part;
    return 0;
}

pool *pool_part_for(pool *p, uint32_t uid, int *err)
{
    if (p->cfg->isolation != POLICY_ISOLATION_UID)
        return p;
    pool *part = idtable_get(&p->parts, (uint64_t)uid + 1);
    if (part == NULL && (*err = part_open(p, uid, &part)) != 0)
        return NULL;
    return part;
}

/* ---- watched blocks -------------------------------------------------------- */

int pool_set_watch_block(pool_set *s, uint64_t block_id)
{
    block *b = block_id != 0 ? idtable_get(&s->blocks, block_id) : NULL;
    if (b == NULL)
        return MEMPOOL_ENOBLOCK;
    if (b->watched)
        return 0;
    if (s->watched + s->ndead >= s->dead_cap) {
        size_t cap = s->dead_cap ? s->dead_cap * 2 : 16;
        uint64_t *dead = realloc(s->dead, cap * sizeof *dead);
        if (dead == NULL)
            return MEMPOOL_ENOMEM;
        s->dead = dead;
        s->dead_cap = cap;
    }
    b->watched = true;
    s->watched++;
    return 0;
}

void pool_block_note_death(block *b)
{
    pool_set *s = b->pool->set;
    if (!b->watched || b->id == 0)
        return;
    b->watched = false;
    s->watched--;
    s->dead[s->ndead++] = b->id;
}

/* The list empties (head back to 0) once read to its end, so between
 * requests it holds only the deaths the driver has not heard of yet. */
uint64_t pool_set_next_dead(pool_set *s)
{
    if (s->dead_head == s->ndead) {
        s->dead_head = s->ndead = 0;
        return 0;
    }
    return s->dead[s->dead_head++];
}

/* ---- pools and the set ------------------------------------------------- */

static int pool_open(pool *p, const policy_pool *cfg, char *err, size_t errlen)
{
    p->cfg = cfg;
    p->page = cfg->page;
    p->shared = MEM_BACKING_ANON;
    int rc = mem_reserve(NULL, cfg->reserve, &p->region);
    if (rc == 0) {
        p->base = mem_region_base(p->region);
        if (cfg->huge_pages)
            mem_huge(p->region, p->base, cfg->reserve);
        rc = arena_new(cfg->reserve / p->page, &p->arena);
    }
    /* uid isolation: each uid's part has the backing, the pool none. */
    bool backed = cfg->isolation == POLICY_ISOLATION_POOL || p->parent != NULL;
    if (rc == 0 && backed) {
        char name[96];
        if (p->parent != NULL)
            snprintf(name, sizeof name, "mempoold:%s:uid%u", cfg->name, (unsigned)p->part_uid);
        else
            snprintf(name, sizeof name, "mempoold:%s", cfg->name);
        rc = mem_backing_new(name, cfg->reserve, &p->shared);
    }
    if (rc == 0)
        rc = warm_set_init(&p->warm, cfg->name, p->page, cfg->reserve / p->page, p->region,
                           backed ? &p->shared : NULL);
    if (rc != 0)
        snprintf(err, errlen, "pool %s: cannot reserve %llu bytes: %s", cfg->name,
                 (unsigned long long)cfg->reserve, strerror(-rc));
    return rc;
}

/* Clients may still map what the pool handed out, and their mappings must
 * outlive the daemon: unmap and close, but never punch a backing here. */
static void pool_close(pool *p)
{
    void *any;
    for (size_t i = 0; i < idtable_slots(&p->parts); i++)
        if (idtable_at(&p->parts, i, NULL, &any)) {
            pool *part = any;
            p->set->backings -= part->shared.fd >= 0;
            pool_close(part);
            free(part);
        }
    idtable_destroy(&p->parts);
    for (block *b; p->warm.runs != NULL && (b = warm_block_oldest(&p->warm)) != NULL;) {
        warm_block_detach(&p->warm, b);
        block_close_backing(p, b);
        free(b);
    }
    if (p->warm.runs != NULL)
        warm_set_destroy(&p->warm);
    if (p->arena != NULL)
        arena_destroy(p->arena);
    if (p->region != NULL)
        mem_free(p->region);
    mem_backing_close(&p->shared);
}

int pool_set_new(const policy *pol, pool_set **out, char *err, size_t errlen)
{
    pool_set *s = calloc(1, sizeof *s);
    if (s == NULL || (s->pools = calloc(pol->npools, sizeof *s->pools)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    idtable_init(&s->blocks);
    idtable_init(&s->handles);
    idtable_init(&s->accounts);
    s->daemon_uid = (uint32_t)geteuid();
    s->backings_per_uid_permille = 1000;
    s->next_backing_key = pol->npools;
    for (size_t i = 0; i < pol->npools; i++) {
        s->pools[i].set = s;
        s->pools[i].index = i;
        s->pools[i].backing_key = i;
        s->npools = i + 1;
        int rc = pool_open(&s->pools[i], &pol->pools[i], err, errlen);
        if (rc != 0) {
            pool_set_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

/* Live blocks are held by clients; the caller frees (or departs) every
 * pool_client first, so only departed clients' holds and warm memory are
 * left here. */
void pool_set_free(pool_set *s)
{
    if (s == NULL)
        return;
    pool_set_reap(s, UINT64_MAX, 0);
    for (size_t i = 0; i < s->npools; i++)
        pool_close(&s->pools[i]);
    idtable_destroy(&s->blocks);
    idtable_destroy(&s->handles);
    idtable_destroy(&s->accounts);
    free(s->dead);
    free(s->pools);
    free(s);
}

void pool_set_apply(pool_set *s, const policy *pol)
{
    for (size_t i = 0; i < s->npools; i++) {
        const policy_pool *cfg = policy_find_pool(pol, s->pools[i].cfg->name);
        if (cfg == NULL)
            continue;
        s->pools[i].cfg = cfg;
        const idtable *parts = &s->pools[i].parts;
        void *part;
        for (size_t k = 0; k < idtable_slots(parts); k++)
            if (idtable_at(parts, k, NULL, &part))
                ((pool *)part)->cfg = cfg;
    }
}

size_t pool_set_count(const pool_set *s) { return s->npools; }

pool *pool_set_at(const pool_set *s, size_t i)
{
    return i < s->npools ? &s->pools[i] : NULL;
}

pool *pool_set_find(const pool_set *s, const char *name)
{
    for (size_t i = 0; i < s->npools; i++)
        if (strcmp(s->pools[i].cfg->name, name) == 0)
            return &s->pools[i];
    return NULL;
}

const char *pool_name(const pool *p) { return p->cfg->name; }

const policy_pool *pool_policy(const pool *p) { return p->cfg; }

void pool_get_stats(pool *p, pool_stats *out)
{
    *out = (pool_stats){
        .reserve = p->cfg->reserve,
        .limit = p->cfg->limit,
        .quota = p->cfg->quota,
        .page_size = p->page,
        .in_use = p->in_use,
        .cached = p->cached,
        .warm = p->warm.bytes,
        .released = p->released,
        .blocks = p->blocks,
        .holders = p->holders,
        .largest_free_run = arena_largest_free(p->arena) * p->page,
        .free_bytes = arena_free_pages(p->arena) * p->page + p->warm.held,
        .backing_resident = counters_backing_resident(p),
        .scavenger_runs = p->scavenger_runs,
        .scavenger_cpu_ns = p->scavenger_cpu_ns,
        .paced_cpu_ns = p->kind_cpu_ns[POOL_SCAVENGE_PACED],
        .forced_cpu_ns = p->kind_cpu_ns[POOL_SCAVENGE_FORCED],
        .limit_cpu_ns = p->kind_cpu_ns[POOL_SCAVENGE_LIMIT],
        .last_scavenge_ms = p->last_scavenge_ms,
        .sync_scavenged = p->sync_scavenged,
        .huge_pages = p->cfg->huge_pages,
    };
    /* uid isolation: the parts' memory, under the pool's name. */
    for (size_t i = 0; i < idtable_slots(&p->parts); i++) {
        void *any;
        if (!idtable_at(&p->parts, i, NULL, &any))
            continue;
        pool *part = any;
        out->warm += part->warm.bytes;
        out->released += part->released;
        out->holders += part->holders;
        out->backing_resident += counters_backing_resident(part);
    }
}

uint64_t pool_in_use(const pool *p) { return p->in_use; }
