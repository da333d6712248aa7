/* Pools and their blocks: where memory comes from and where it goes.
 *
 * Memory moves only through the memory layer (mem_map / mem_used /
 * mem_unused / mem_fault), so mem.c's counters describe every pool.
 * Zeroing (DESIGN §3): a new owner sees zeros unless every earlier holder
 * had its uid and it asked for MEMPOOL_ALLOC_DIRTY. Fresh backings
 * and punched holes read as zeros by themselves; warm memory is cleared
 * with memset; memory that went through mem_unused is cleared where the
 * OS does not guarantee zeros (mem_need_zero_after_unused, Darwin). */
#include "pool_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- the warm list (block isolation) ------------------------------------ */

static void warm_push(pool *p, block *b, uint64_t now)
{
    b->freed_at = now;
    b->warm_next = NULL;
    b->warm_prev = p->warm_tail;
    if (p->warm_tail != NULL)
        p->warm_tail->warm_next = b;
    else
        p->warm_head = b;
    p->warm_tail = b;
    b->size_next = idtable_remove(&p->warm_by_size, b->npages);
    if (idtable_put(&p->warm_by_size, b->npages, b) != 0) {
        /* Out of memory for the index: give the block back instead of
         * keeping memory we could not find again. */
        idtable_put(&p->warm_by_size, b->npages, b->size_next);
        b->size_next = NULL;
    }
    p->warm += b->size;
}

static void warm_unlink_size(pool *p, block *b)
{
    block *head = idtable_get(&p->warm_by_size, b->npages);
    if (head == b) {
        idtable_remove(&p->warm_by_size, b->npages);
        if (b->size_next != NULL)
            idtable_put(&p->warm_by_size, b->npages, b->size_next);
        return;
    }
    for (block *it = head; it != NULL; it = it->size_next)
        if (it->size_next == b) {
            it->size_next = b->size_next;
            return;
        }
}

static void warm_remove(pool *p, block *b)
{
    warm_unlink_size(p, b);
    if (b->warm_prev != NULL)
        b->warm_prev->warm_next = b->warm_next;
    else
        p->warm_head = b->warm_next;
    if (b->warm_next != NULL)
        b->warm_next->warm_prev = b->warm_prev;
    else
        p->warm_tail = b->warm_prev;
    b->warm_prev = b->warm_next = b->size_next = NULL;
    p->warm -= b->size;
}

/* Gives a warm block's memory back to the OS and its address range back
 * to the arena: punch the backing, fault the range, close the backing. */
static void warm_drop(pool *p, block *b)
{
    warm_remove(p, b);
    int rc = mem_fault(p->region, b->addr, b->size, &b->backing);
    if (rc != 0)
        log_error("pool %s: mem_fault of a warm block failed: %s", p->cfg->name,
                  strerror(-rc));
    mem_backing_close(&b->backing);
    arena_free(p->arena, b->start, b->npages, b->freed_at);
    p->released += b->size;
    free(b);
}

/* ---- pool isolation: pages of the shared backing ------------------------- */

static mem_backing shared_backing_at(const pool *p, const char *addr)
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

/* Brings one run of the shared backing to Ready. Returns 0 or -errno;
 * *was_warm tells whether the run was warm (already Ready). */
static int shared_run_ready(pool *p, char *v, size_t len, mem_state st,
                            bool clear_warm)
{
    int rc = 0;
    if (st == MEM_READY) {
        p->warm -= len;
        if (clear_warm)
            memset(v, 0, len);
        return 0;
    }
    if (st == MEM_RESERVED) {
        mem_backing b = shared_backing_at(p, v);
        if ((rc = mem_map(p->region, v, len, &b)) != 0)
            return rc;
    }
    if ((rc = mem_used(p->region, v, len, len)) != 0)
        return rc;
    /* A punched hole reads as zeros; reused Darwin pages may not. */
    if (st == MEM_PREPARED && mem_need_zero_after_unused())
        memset(v, 0, len);
    return 0;
}

/* Brings [v, v+n) of the shared backing to Ready. On failure the pages
 * already made Ready count as warm again, since the caller frees the
 * range. */
static int shared_make_ready(pool *p, char *v, size_t n, bool clear_warm)
{
    for (size_t off = 0; off < n;) {
        mem_state st;
        size_t len = state_run(p, v + off, n - off, &st);
        int rc = shared_run_ready(p, v + off, len, st, clear_warm);
        if (rc != 0) {
            p->warm += off;
            return rc;
        }
        off += len;
    }
    return 0;
}

/* Releases the Ready pages of [v, v+n), highest first, up to `max` bytes. */
static uint64_t shared_release_range(pool *p, char *v, size_t n, uint64_t max)
{
    uint64_t done = 0;
    size_t os_page = mem_page_size();
    size_t end = n;
    while (end > 0 && done < max) {
        size_t len = 0;
        /* The Ready run ending at `end`, no longer than what is still due. */
        while (len < end && done + len < max &&
               mem_region_state(p->region, v + end - len - os_page) == MEM_READY)
            len += os_page;
        if (len > 0) {
            mem_backing b = shared_backing_at(p, v + end - len);
            int rc = mem_unused(p->region, v + end - len, len, &b);
            if (rc != 0) {
                log_error("pool %s: mem_unused failed: %s", p->cfg->name, strerror(-rc));
                break;
            }
            done += len;
            end -= len;
        } else {
            end -= os_page;
        }
    }
    p->warm -= done;
    p->released += done;
    return done;
}

static uint64_t shared_release_warm(pool *p, uint64_t max, uint64_t idle_before)
{
    uint64_t done = 0;
    arena_run run;
    uint64_t before = p->mapped_top;
    while (done < max && p->warm > 0 && arena_free_run_below(p->arena, before, &run)) {
        before = run.start;
        if (run.stamp > idle_before)
            continue;
        uint64_t top = run.start + run.npages;
        if (top > p->mapped_top)
            top = p->mapped_top;
        done += shared_release_range(p, p->base + run.start * p->page,
                                     (top - run.start) * p->page, max - done);
    }
    return done;
}

/* ---- block isolation: each block its own backing ------------------------ */

static int compare_by_address_desc(const void *a, const void *b)
{
    const block *x = *(block *const *)a, *y = *(block *const *)b;
    return x->start < y->start ? 1 : x->start > y->start ? -1 : 0;
}

static uint64_t blocks_release_warm(pool *p, uint64_t max, uint64_t idle_before)
{
    size_t n = 0;
    for (block *b = p->warm_head; b != NULL && b->freed_at <= idle_before; b = b->warm_next)
        n++;
    if (n == 0)
        return 0;
    block **idle = malloc(n * sizeof *idle);
    if (idle == NULL)
        return 0;
    size_t i = 0;
    for (block *b = p->warm_head; i < n; b = b->warm_next)
        idle[i++] = b;
    /* Highest addresses first, as Go's scavenger: the low end stays dense. */
    qsort(idle, n, sizeof *idle, compare_by_address_desc);
    uint64_t done = 0;
    for (i = 0; i < n && done < max; i++) {
        done += idle[i]->size;
        warm_drop(p, idle[i]);
    }
    free(idle);
    return done;
}

uint64_t pool_release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before)
{
    if (max_bytes == 0 || p->warm == 0)
        return 0;
    if (p->cfg->isolation == POLICY_ISOLATION_POOL)
        return shared_release_warm(p, max_bytes, idle_before);
    return blocks_release_warm(p, max_bytes, idle_before);
}

void pool_note_scavenge(pool *p, uint64_t cpu_ns, uint64_t wall_ms)
{
    p->scavenger_runs++;
    p->scavenger_cpu_ns += cpu_ns;
    p->last_scavenge_ms = wall_ms;
}

/* ---- blocks ------------------------------------------------------------ */

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

/* Makes room under the pool's limit by releasing warm memory now (Go's
 * memory-limit path), and says whether `size` more bytes then fit. */
static bool fits_limit(pool *p, uint64_t size)
{
    uint64_t limit = p->cfg->limit;
    if (p->in_use + size > limit)
        return false;
    if (p->in_use + p->warm + size <= limit)
        return true;
    uint64_t need = p->in_use + p->warm + size - limit;
    p->sync_scavenged += pool_release_warm(p, need, UINT64_MAX);
    return p->in_use + p->warm + size <= limit;
}

/* Address space for npages; in block isolation, warm blocks in the way are
 * given back until a run is long enough. */
static int take_pages(pool *p, uint64_t npages, uint64_t *start)
{
    int rc = arena_alloc(p->arena, npages, start);
    while (rc == -ENOMEM && p->warm_tail != NULL) {
        warm_drop(p, p->warm_tail);
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
    if ((rc = mem_map(p->region, b->addr, b->size, &b->backing)) == 0 &&
        (rc = mem_used(p->region, b->addr, b->size, b->size)) == 0)
        return 0;
    if (mem_region_state(p->region, b->addr) != MEM_RESERVED)
        mem_fault(p->region, b->addr, b->size, &b->backing);
    mem_backing_close(&b->backing);
    return rc;
}

static int block_map(pool *p, block *b, bool clear_warm)
{
    if (p->cfg->isolation == POLICY_ISOLATION_BLOCK)
        return block_map_own(p, b);
    b->backing = shared_backing_at(p, b->addr);
    if (b->start + b->npages > p->mapped_top)
        p->mapped_top = b->start + b->npages;
    return shared_make_ready(p, b->addr, b->size, clear_warm);
}

static int mem_to_mempool(int rc)
{
    return rc == -ENOMEM ? MEMPOOL_ENOMEM : MEMPOOL_EIO;
}

static int block_from_arena(pool *p, uint64_t npages, bool clear_warm, block **out)
{
    uint64_t start;
    if (take_pages(p, npages, &start) != 0)
        return MEMPOOL_ENOMEM;
    block *b = block_struct(p, start, npages);
    int rc = b == NULL ? -ENOMEM : block_map(p, b, clear_warm);
    if (rc != 0) {
        arena_free(p->arena, start, npages, 0);
        free(b);
        log_warn("pool %s: mapping %llu bytes failed: %s", p->cfg->name,
                 (unsigned long long)(npages * p->page), strerror(-rc));
        return mem_to_mempool(rc);
    }
    *out = b;
    return 0;
}

/* A warm block of exactly npages that only `uid` has ever held, newest
 * first (its pages are the most likely to still be in cache). A backing
 * another uid has held is never handed to this one, zeroed or not: that
 * holder may have kept its mapping and would see what comes next. */
static block *warm_take(pool *p, uint64_t npages, uint32_t uid, unsigned flags)
{
    block *b = idtable_get(&p->warm_by_size, npages);
    while (b != NULL && b->exposed_uid != uid)
        b = b->size_next;
    if (b == NULL)
        return NULL;
    warm_remove(p, b);
    if (!(flags & MEMPOOL_ALLOC_DIRTY))
        memset(b->addr, 0, b->size);
    return b;
}

int pool_block_new(pool *p, uint64_t size, uint32_t uid, unsigned flags, block **out)
{
    uint64_t npages = (size + p->page - 1) / p->page;
    uint64_t bytes = npages * p->page;
    if (size == 0 || npages == 0 || npages > arena_npages(p->arena))
        return size == 0 ? MEMPOOL_EINVAL : MEMPOOL_E2BIG;
    if (bytes > p->cfg->max_block)
        return MEMPOOL_E2BIG;
    block *b = warm_take(p, npages, uid, flags);
    if (b == NULL) {
        if (!fits_limit(p, bytes))
            return MEMPOOL_ENOMEM;
        /* In pool isolation, warm pages anyone of the pool may have written
         * are cleared unless the caller takes them dirty: every client of
         * such a pool can read the whole backing anyway. */
        int rc = block_from_arena(p, npages, !(flags & MEMPOOL_ALLOC_DIRTY), &b);
        if (rc != 0)
            return rc;
    }
    b->id = ++p->set->next_block_id;
    if (idtable_put(&p->set->blocks, b->id, b) != 0) {
        pool_block_retire(b, 0);
        return MEMPOOL_ENOMEM;
    }
    b->exposed_uid = uid;
    b->holders = 0;
    p->in_use += b->size;
    p->blocks++;
    *out = b;
    return 0;
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
    pool_block_forget_handles(b);
    if (b->id != 0 && idtable_remove(&p->set->blocks, b->id) == b) {
        p->in_use -= b->size;
        p->blocks--;
    }
    b->id = 0;
    if (p->cfg->isolation == POLICY_ISOLATION_BLOCK) {
        warm_push(p, b, now);
        return;
    }
    p->warm += b->size;
    arena_free(p->arena, b->start, b->npages, now);
    free(b);
}

/* ---- pools and the set ------------------------------------------------- */

static int pool_open(pool *p, const policy_pool *cfg, char *err, size_t errlen)
{
    p->cfg = cfg;
    p->page = cfg->page;
    idtable_init(&p->warm_by_size);
    p->shared = MEM_BACKING_ANON;
    int rc = mem_reserve(NULL, cfg->reserve, &p->region);
    if (rc == 0) {
        p->base = mem_region_base(p->region);
        if (cfg->huge_pages)
            mem_huge(p->region, p->base, cfg->reserve);
        rc = arena_new(cfg->reserve / p->page, &p->arena);
    }
    if (rc == 0 && cfg->isolation == POLICY_ISOLATION_POOL) {
        char name[96];
        snprintf(name, sizeof name, "mempoold:%s", cfg->name);
        rc = mem_backing_new(name, cfg->reserve, &p->shared);
    }
    if (rc != 0)
        snprintf(err, errlen, "pool %s: cannot reserve %llu bytes: %s", cfg->name,
                 (unsigned long long)cfg->reserve, strerror(-rc));
    return rc;
}

/* Clients may still map what the pool handed out, and their mappings must
 * outlive the daemon: unmap and close, but never punch a backing here. */
static void pool_close(pool *p)
{
    while (p->warm_head != NULL) {
        block *b = p->warm_head;
        warm_remove(p, b);
        mem_backing_close(&b->backing);
        free(b);
    }
    idtable_destroy(&p->warm_by_size);
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
    for (size_t i = 0; i < pol->npools; i++) {
        s->pools[i].set = s;
        s->pools[i].index = i;
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

/* Live blocks are held by clients; the caller frees every pool_client
 * first, so only warm memory is left here. */
void pool_set_free(pool_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->npools; i++)
        pool_close(&s->pools[i]);
    idtable_destroy(&s->blocks);
    idtable_destroy(&s->handles);
    free(s->pools);
    free(s);
}

void pool_set_apply(pool_set *s, const policy *pol)
{
    for (size_t i = 0; i < s->npools; i++) {
        const policy_pool *cfg = policy_find_pool(pol, s->pools[i].cfg->name);
        if (cfg != NULL)
            s->pools[i].cfg = cfg;
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

static uint64_t backing_resident(const pool *p)
{
    if (p->cfg->isolation == POLICY_ISOLATION_POOL)
        return (uint64_t)mem_backing_resident(&p->shared);
    uint64_t total = 0;
    for (block *b = p->warm_head; b != NULL; b = b->warm_next)
        total += (uint64_t)mem_backing_resident(&b->backing);
    const idtable *t = &p->set->blocks;
    for (size_t i = 0; i < t->cap; i++) {
        const block *b = t->values[i];
        if (t->keys[i] != 0 && b->pool == p)
            total += (uint64_t)mem_backing_resident(&b->backing);
    }
    return total;
}

void pool_get_stats(const pool *p, pool_stats *out)
{
    uint64_t held_free = p->cfg->isolation == POLICY_ISOLATION_BLOCK ? p->warm : 0;
    *out = (pool_stats){
        .reserve = p->cfg->reserve,
        .limit = p->cfg->limit,
        .quota = p->cfg->quota,
        .page_size = p->page,
        .in_use = p->in_use,
        .warm = p->warm,
        .released = p->released,
        .blocks = p->blocks,
        .holders = p->holders,
        .largest_free_run = arena_largest_free(p->arena) * p->page,
        .free_bytes = arena_free_pages(p->arena) * p->page + held_free,
        .backing_resident = backing_resident(p),
        .scavenger_runs = p->scavenger_runs,
        .scavenger_cpu_ns = p->scavenger_cpu_ns,
        .last_scavenge_ms = p->last_scavenge_ms,
        .sync_scavenged = p->sync_scavenged,
        .huge_pages = p->cfg->huge_pages,
    };
}
