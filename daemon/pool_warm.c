/* Warm memory: the free pages a pool keeps Ready for reuse, and the
 * scavenger's way to them (DESIGN §7).
 *
 * The warm pages are the runs of p->warm_set, an unmerged arena: every
 * block that turns free adds a run stamped with the time, and runs never
 * coalesce, so each page's age is exact and the arena's annotations find
 * the highest run idle since a given time, and the oldest stamp, in
 * O(log n) (the job Go's scavengeIndex does with a bitmap per chunk).
 * Release works from the highest address down, as Go's scavenger does:
 * first fit packs used memory at the low end, and the top goes back to the
 * OS.
 *
 * Block isolation: a warm block keeps its own backing. Its Ready part is a
 * prefix of the block and exactly one run of the warm set (runs never
 * coalesce, so no run spans two blocks and taking a block back never
 * splits one); warm_by_start finds the block from its run. The scavenger
 * may release a block from its top down, piece by piece, so that no piece
 * of work is longer than it chose; a block is unmapped when it goes whole.
 * A block it started is finished before any other is started, even a
 * higher one: blocks freed together turn idle one after the other, and
 * following the highest idle block each time would leave several blocks
 * half released, each holding memory and faulting on reuse. Whole warm
 * blocks are what reuse (same size, same uid) can take without a fault.
 *
 * Pool isolation: warm pages are free pages of the pool's arena that are
 * still Ready in the shared backing (released ones are Prepared). An
 * allocation takes the warm runs it covers out of the set. */
#include "pool_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static uint64_t pages_for(const pool *p, uint64_t bytes)
{
    return bytes / p->page + (bytes % p->page != 0);
}

int pool_warm_init(pool *p)
{
    idtable_init(&p->warm_by_size);
    idtable_init(&p->warm_by_start);
    return arena_new_unmerged(p->cfg->reserve / p->page, &p->warm_set);
}

void pool_warm_destroy(pool *p)
{
    while (p->warm_head != NULL) {
        block *b = p->warm_head;
        p->warm_head = b->warm_next;
        pool_block_close_backing(p, b);
        free(b);
    }
    p->warm_tail = NULL;
    idtable_destroy(&p->warm_by_size);
    idtable_destroy(&p->warm_by_start);
    arena_destroy(p->warm_set);
    p->warm_set = NULL;
}

/* ---- block isolation ------------------------------------------------------ */

static void warm_list_link(pool *p, block *b)
{
    b->warm_next = NULL;
    b->warm_prev = p->warm_tail;
    if (p->warm_tail != NULL)
        p->warm_tail->warm_next = b;
    else
        p->warm_head = b;
    p->warm_tail = b;
}

static void warm_list_unlink(pool *p, block *b)
{
    if (b->warm_prev != NULL)
        b->warm_prev->warm_next = b->warm_next;
    else
        p->warm_head = b->warm_next;
    if (b->warm_next != NULL)
        b->warm_next->warm_prev = b->warm_prev;
    else
        p->warm_tail = b->warm_prev;
    b->warm_prev = b->warm_next = NULL;
}

/* Newest first in its size's chain. Out of memory for the index, the block
 * is only not found for reuse; the scavenger still finds it. */
static void size_index_add(pool *p, block *b)
{
    b->size_next = idtable_remove(&p->warm_by_size, b->npages);
    if (idtable_put(&p->warm_by_size, b->npages, b) != 0) {
        idtable_put(&p->warm_by_size, b->npages, b->size_next);
        b->size_next = NULL;
    }
}

static void size_index_remove(pool *p, block *b)
{
    block *head = idtable_get(&p->warm_by_size, b->npages);
    if (head == b) {
        idtable_remove(&p->warm_by_size, b->npages);
        if (b->size_next != NULL)
            idtable_put(&p->warm_by_size, b->npages, b->size_next);
    } else {
        for (block *it = head; it != NULL; it = it->size_next)
            if (it->size_next == b) {
                it->size_next = b->size_next;
                break;
            }
    }
    b->size_next = NULL;
}

static bool warm_block_track(pool *p, block *b, uint64_t now)
{
    if (idtable_put(&p->warm_by_start, b->start + 1, b) != 0)
        return false;
    if (arena_free(p->warm_set, b->start, b->npages, now) != 0) {
        idtable_remove(&p->warm_by_start, b->start + 1);
        return false;
    }
    return true;
}

void warm_block_push(pool *p, block *b, uint64_t now)
{
    b->freed_at = now;
    b->ready_pages = b->npages;
    if (!warm_block_track(p, b, now)) {
        /* Out of memory for the warm set: give the block back rather than
         * keep memory the scavenger could not find. */
        if (pool_block_unmap(p, b))
            p->released += b->size;
        return;
    }
    warm_list_link(p, b);
    size_index_add(p, b);
    p->warm += b->size;
    p->warm_held += b->size;
}

block *warm_block_find(pool *p, uint64_t npages, uint32_t uid)
{
    block *b = idtable_get(&p->warm_by_size, npages);
    while (b != NULL && b->exposed_uid != uid)
        b = b->size_next;
    return b;
}

void warm_block_detach(pool *p, block *b)
{
    if (p->warm_partial == b)
        p->warm_partial = NULL;
    size_index_remove(p, b);
    warm_list_unlink(p, b);
    idtable_remove(&p->warm_by_start, b->start + 1);
    /* The block's whole run: taking it needs no new node. */
    arena_take(p->warm_set, b->start, b->ready_pages);
    p->warm -= b->ready_pages * p->page;
    p->warm_held -= b->size;
}

uint64_t warm_block_drop(pool *p, block *b)
{
    uint64_t ready = b->ready_pages * p->page;
    warm_block_detach(p, b);
    if (!pool_block_unmap(p, b))
        return 0;
    p->released += ready;
    return ready;
}

/* Releases the top npages of a warm block's Ready part (not all of it):
 * punched, so the block keeps its backing and its address range. */
static uint64_t warm_block_release_top(pool *p, block *b, uint64_t npages)
{
    uint64_t keep = b->ready_pages - npages;
    uint64_t offset = keep * p->page, len = npages * p->page;
    mem_backing part = { .fd = b->backing.fd, .offset = b->backing.offset + offset };
    int rc = mem_unused(p->region, b->addr + offset, len, &part);
    if (rc != 0) {
        log_error("pool %s: mem_unused of a warm block failed: %s", p->cfg->name,
                  strerror(-rc));
        return 0;
    }
    /* The top of the block's run: taken in place. */
    arena_take(p->warm_set, b->start + keep, npages);
    b->ready_pages = keep;
    p->warm_partial = b;
    p->warm -= len;
    p->released += len;
    return len;
}

static uint64_t blocks_release(pool *p, const arena_run *run, uint64_t npages,
                               bool whole_blocks)
{
    block *b = idtable_get(&p->warm_by_start, run->start + 1);
    if (whole_blocks || npages >= b->ready_pages)
        return warm_block_drop(p, b);
    return warm_block_release_top(p, b, npages);
}

/* ---- pool isolation -------------------------------------------------------- */

void warm_pages_push(pool *p, uint64_t start, uint64_t npages, uint64_t now)
{
    uint64_t bytes = npages * p->page;
    if (arena_free(p->warm_set, start, npages, now) == 0) {
        p->warm += bytes;
        return;
    }
    /* Out of memory for the warm set: release the pages now, so that every
     * Ready free page is one the scavenger can find. */
    char *v = p->base + start * p->page;
    mem_backing b = pool_shared_backing_at(p, v);
    int rc = mem_unused(p->region, v, bytes, &b);
    if (rc != 0)
        log_error("pool %s: mem_unused of freed pages failed: %s", p->cfg->name,
                  strerror(-rc));
    else
        p->released += bytes;
}

/* Calls fn on each warm run's overlap with [start, end), highest first.
 * Runs do not overlap, so the walk ends at the first run below start. */
typedef void overlap_fn(pool *p, uint64_t lo, uint64_t hi, void *arg);

static void each_warm_overlap(const pool *p, uint64_t start, uint64_t end,
                              overlap_fn *fn, void *arg)
{
    arena_run run;
    for (uint64_t before = end; arena_free_run_below(p->warm_set, before, &run) &&
                                run.start + run.npages > start;
         before = run.start)
        fn((pool *)p, max_u64(run.start, start), min_u64(run.start + run.npages, end), arg);
}

static void count_overlap(pool *p, uint64_t lo, uint64_t hi, void *arg)
{
    (void)p;
    *(uint64_t *)arg += hi - lo;
}

uint64_t warm_pages_in(const pool *p, uint64_t start, uint64_t npages)
{
    uint64_t pages = 0;
    each_warm_overlap(p, start, start + npages, count_overlap, &pages);
    return pages;
}

typedef struct take_walk {
    bool clear;
    uint64_t pages;
} take_walk;

/* Pages just below a free run of the pool's arena are in use, so no warm
 * run crosses its start: each overlap is the bottom of its run, taken in
 * place. */
static void take_overlap(pool *p, uint64_t lo, uint64_t hi, void *arg)
{
    take_walk *w = arg;
    int rc = arena_take(p->warm_set, lo, hi - lo);
    if (rc != 0) {
        log_error("pool %s: warm pages %llu+%llu not in the warm set: %s", p->cfg->name,
                  (unsigned long long)lo, (unsigned long long)(hi - lo), strerror(-rc));
        return;
    }
    if (w->clear) {
        char *v = p->base + lo * p->page;
        mem_backing bk = pool_shared_backing_at(p, v);
        pool_clear(p, v, (hi - lo) * p->page, &bk);
    }
    w->pages += hi - lo;
}

uint64_t warm_pages_take(pool *p, uint64_t start, uint64_t npages, bool clear)
{
    take_walk w = { .clear = clear };
    each_warm_overlap(p, start, start + npages, take_overlap, &w);
    p->warm -= w.pages * p->page;
    return w.pages;
}

static uint64_t pages_release_top(pool *p, const arena_run *run, uint64_t npages)
{
    uint64_t n = min_u64(npages, run->npages);
    uint64_t first = run->start + run->npages - n;
    char *v = p->base + first * p->page;
    uint64_t len = n * p->page;
    mem_backing b = pool_shared_backing_at(p, v);
    int rc = mem_unused(p->region, v, len, &b);
    if (rc != 0) {
        log_error("pool %s: mem_unused failed: %s", p->cfg->name, strerror(-rc));
        return 0;
    }
    arena_take(p->warm_set, first, n);
    p->warm -= len;
    p->released += len;
    return len;
}

/* ---- what the scavenger calls ------------------------------------------------ */

/* Where to release next: the highest run idle since idle_before, unless a
 * block released in part is to be finished first. */
static bool next_run(const pool *p, uint64_t idle_before, bool whole_blocks, arena_run *out)
{
    const block *b = p->warm_partial;
    if (!whole_blocks && b != NULL && b->freed_at <= idle_before) {
        *out = (arena_run){ .start = b->start, .npages = b->ready_pages, .stamp = b->freed_at };
        return true;
    }
    return arena_highest_run_by(p->warm_set, idle_before, out);
}

static uint64_t release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before,
                             bool whole_blocks)
{
    uint64_t done = 0;
    arena_run run;
    while (done < max_bytes && next_run(p, idle_before, whole_blocks, &run)) {
        uint64_t npages = pages_for(p, max_bytes - done);
        uint64_t got = p->cfg->isolation == POLICY_ISOLATION_POOL
                           ? pages_release_top(p, &run, npages)
                           : blocks_release(p, &run, npages, whole_blocks);
        if (got == 0)
            break;
        done += got;
    }
    return done;
}

uint64_t pool_release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before)
{
    return release_warm(p, max_bytes, idle_before, true);
}

uint64_t pool_release_warm_part(pool *p, uint64_t max_bytes, uint64_t idle_before)
{
    return release_warm(p, max_bytes, idle_before, false);
}

uint64_t pool_warm_bytes(const pool *p) { return p->warm; }

uint64_t pool_warm_oldest(const pool *p)
{
    uint64_t stamp;
    return arena_oldest_stamp(p->warm_set, &stamp) ? stamp : 0;
}
