/* Warm memory (pool_warm.h, docs/scavenger.md).
 *
 * Release works from the highest address down, as Go's scavenger does:
 * first fit packs used memory at the low end, and the top goes back to the
 * OS.
 *
 * Block isolation: runs never coalesce, so no run spans two blocks and
 * taking a block back never splits one; by_start finds the block from its
 * run. The scavenger may release a block from its top down, piece by piece,
 * so that no piece of work is longer than it chose; a block goes whole
 * when what is left of it fits the piece. A block it started is finished
 * before any other is started, even a higher one: blocks freed together
 * turn idle one after the other, and following the highest idle block each
 * time would leave several blocks half released, each holding memory and
 * faulting on reuse. Whole warm blocks are what reuse (same size, same
 * uid) can take without a fault.
 *
 * Pool isolation: an allocation takes the warm runs it covers out of the
 * set. */
#include "pool_warm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static uint64_t pages_for(const warm_set *w, uint64_t bytes)
{
    return bytes / w->page + (bytes % w->page != 0);
}

int warm_set_init(warm_set *w, const char *name, uint64_t page, uint64_t npages,
                  mem_region *region, const mem_backing *shared)
{
    *w = (warm_set){ .page = page,
                     .base = mem_region_base(region),
                     .region = region,
                     .per_block = shared == NULL,
                     .shared = shared != NULL ? *shared : MEM_BACKING_ANON };
    snprintf(w->name, sizeof w->name, "%s", name);
    idtable_init(&w->by_size);
    idtable_init(&w->by_start);
    return arena_new_unmerged(npages, &w->runs);
}

void warm_set_destroy(warm_set *w)
{
    idtable_destroy(&w->by_size);
    idtable_destroy(&w->by_start);
    arena_destroy(w->runs);
    w->runs = NULL;
}

/* Where released memory reads as zeros (a punched hole on Linux), giving
 * the pages back and taking them again clears them in one call whose cost
 * follows what is resident, where memset would first fault in every page
 * a client never touched (and grow the daemon's RSS by them). Elsewhere
 * (Darwin's MADV_FREE_REUSABLE keeps contents) memset clears them. */
void warm_clear(const warm_set *w, char *v, uint64_t n, const mem_backing *bk)
{
    if (n == 0)
        return;
    if (!mem_need_zero_after_unused() && mem_unused(w->region, v, n, bk) == 0 &&
        mem_used(w->region, v, n, n) == 0)
        return;
    memset(v, 0, n);
}

static mem_backing shared_at(const warm_set *w, const char *v)
{
    return (mem_backing){ .fd = w->shared.fd,
                          .offset = w->shared.offset + (uint64_t)(v - w->base) };
}

/* ---- block isolation ------------------------------------------------------ */

static void list_link(warm_set *w, block *b)
{
    b->warm_next = NULL;
    b->warm_prev = w->tail;
    if (w->tail != NULL)
        w->tail->warm_next = b;
    else
        w->head = b;
    w->tail = b;
}

static void list_unlink(warm_set *w, block *b)
{
    if (b->warm_prev != NULL)
        b->warm_prev->warm_next = b->warm_next;
    else
        w->head = b->warm_next;
    if (b->warm_next != NULL)
        b->warm_next->warm_prev = b->warm_prev;
    else
        w->tail = b->warm_prev;
    b->warm_prev = b->warm_next = NULL;
}

/* Newest first in its size's chain. Out of memory for the index, the block
 * is only not found for reuse; the scavenger still finds it. */
static void size_index_add(warm_set *w, block *b)
{
    b->size_next = idtable_remove(&w->by_size, b->npages);
    if (idtable_put(&w->by_size, b->npages, b) != 0) {
        idtable_put(&w->by_size, b->npages, b->size_next);
        b->size_next = NULL;
    }
}

static void size_index_remove(warm_set *w, block *b)
{
    block *head = idtable_get(&w->by_size, b->npages);
    if (head == b) {
        idtable_remove(&w->by_size, b->npages);
        if (b->size_next != NULL)
            idtable_put(&w->by_size, b->npages, b->size_next);
    } else {
        for (block *it = head; it != NULL; it = it->size_next)
            if (it->size_next == b) {
                it->size_next = b->size_next;
                break;
            }
    }
    b->size_next = NULL;
}

bool warm_block_push(warm_set *w, block *b, uint64_t now)
{
    b->freed_at = now;
    b->ready_pages = b->npages;
    if (idtable_put(&w->by_start, b->start + 1, b) != 0)
        return false;
    if (arena_free(w->runs, b->start, b->npages, now) != 0) {
        idtable_remove(&w->by_start, b->start + 1);
        return false;
    }
    list_link(w, b);
    size_index_add(w, b);
    w->bytes += b->size;
    w->held += b->size;
    return true;
}

static bool is_kept(const idtable *kept, const block *b)
{
    return kept != NULL && idtable_get(kept, b->backing_serial) != NULL;
}

block *warm_block_find(const warm_set *w, uint64_t npages, uint32_t uid, const idtable *kept,
                       bool kept_only)
{
    block *first = NULL;
    int scanned = 0;
    for (block *b = idtable_get(&w->by_size, npages); b != NULL; b = b->size_next) {
        if (b->exposed_uid != uid)
            continue;
        if (is_kept(kept, b))
            return b;
        if (first == NULL)
            first = b;
        if (kept == NULL || kept->count == 0 || ++scanned >= WARM_KEPT_SCAN)
            break;
    }
    return kept_only ? NULL : first;
}

void warm_block_detach(warm_set *w, block *b)
{
    if (w->partial == b)
        w->partial = NULL;
    size_index_remove(w, b);
    list_unlink(w, b);
    idtable_remove(&w->by_start, b->start + 1);
    /* The block's whole run: taking it needs no new node. */
    arena_take(w->runs, b->start, b->ready_pages);
    w->bytes -= b->ready_pages * w->page;
    w->held -= b->size;
}

block *warm_block_oldest(const warm_set *w) { return w->head; }

block *warm_block_newest(const warm_set *w) { return w->tail; }

/* Releases the top npages of a warm block's Ready part (not all of it):
 * punched, so the block keeps its backing and its address range. */
static uint64_t block_release_top(warm_set *w, block *b, uint64_t npages)
{
    uint64_t keep = b->ready_pages - npages;
    uint64_t offset = keep * w->page, len = npages * w->page;
    mem_backing part = { .fd = b->backing.fd, .offset = b->backing.offset + offset };
    int rc = mem_unused(w->region, b->addr + offset, len, &part);
    if (rc != 0) {
        log_error("pool %s: mem_unused of a warm block failed: %s", w->name, strerror(-rc));
        return 0;
    }
    /* The top of the block's run: taken in place. */
    arena_take(w->runs, b->start + keep, npages);
    b->ready_pages = keep;
    w->partial = b;
    w->bytes -= len;
    return len;
}

static uint64_t blocks_step(warm_set *w, const arena_run *run, uint64_t npages,
                            bool whole_blocks, block **drop)
{
    block *b = idtable_get(&w->by_start, run->start + 1);
    if (!whole_blocks && npages < b->ready_pages)
        return block_release_top(w, b, npages);
    uint64_t ready = b->ready_pages * w->page;
    warm_block_detach(w, b);
    *drop = b;
    return ready;
}

/* ---- pool isolation -------------------------------------------------------- */

uint64_t warm_pages_push(warm_set *w, uint64_t start, uint64_t npages, uint64_t now)
{
    uint64_t bytes = npages * w->page;
    if (arena_free(w->runs, start, npages, now) == 0) {
        w->bytes += bytes;
        return 0;
    }
    char *v = w->base + start * w->page;
    mem_backing b = shared_at(w, v);
    int rc = mem_unused(w->region, v, bytes, &b);
    if (rc != 0) {
        log_error("pool %s: mem_unused of freed pages failed: %s", w->name, strerror(-rc));
        return 0;
    }
    return bytes;
}

/* Calls fn on each warm run's overlap with [start, end), highest first.
 * Runs do not overlap, so the walk ends at the first run below start. */
typedef void overlap_fn(warm_set *w, uint64_t lo, uint64_t hi, void *arg);

static void each_overlap(const warm_set *w, uint64_t start, uint64_t end, overlap_fn *fn,
                         void *arg)
{
    arena_run run;
    for (uint64_t before = end; arena_free_run_below(w->runs, before, &run) &&
                                run.start + run.npages > start;
         before = run.start)
        fn((warm_set *)w, max_u64(run.start, start), min_u64(run.start + run.npages, end),
           arg);
}

static void count_overlap(warm_set *w, uint64_t lo, uint64_t hi, void *arg)
{
    (void)w;
    *(uint64_t *)arg += hi - lo;
}

uint64_t warm_pages_in(const warm_set *w, uint64_t start, uint64_t npages)
{
    uint64_t pages = 0;
    each_overlap(w, start, start + npages, count_overlap, &pages);
    return pages;
}

typedef struct take_walk {
    bool clear;
    uint64_t pages;
} take_walk;

/* Pages just below a free run of the pool's arena are in use, so no warm
 * run crosses its start: each overlap is the bottom of its run, taken in
 * place. */
static void take_overlap(warm_set *w, uint64_t lo, uint64_t hi, void *arg)
{
    take_walk *t = arg;
    int rc = arena_take(w->runs, lo, hi - lo);
    if (rc != 0) {
        log_error("pool %s: warm pages %llu+%llu not in the warm set: %s", w->name,
                  (unsigned long long)lo, (unsigned long long)(hi - lo), strerror(-rc));
        return;
    }
    if (t->clear) {
        char *v = w->base + lo * w->page;
        mem_backing bk = shared_at(w, v);
        warm_clear(w, v, (hi - lo) * w->page, &bk);
    }
    t->pages += hi - lo;
}

uint64_t warm_pages_take(warm_set *w, uint64_t start, uint64_t npages, bool clear)
{
    take_walk t = { .clear = clear };
    each_overlap(w, start, start + npages, take_overlap, &t);
    w->bytes -= t.pages * w->page;
    return t.pages;
}

static uint64_t pages_release_top(warm_set *w, const arena_run *run, uint64_t npages)
{
    uint64_t n = min_u64(npages, run->npages);
    uint64_t first = run->start + run->npages - n;
    char *v = w->base + first * w->page;
    uint64_t len = n * w->page;
    mem_backing b = shared_at(w, v);
    int rc = mem_unused(w->region, v, len, &b);
    if (rc != 0) {
        log_error("pool %s: mem_unused failed: %s", w->name, strerror(-rc));
        return 0;
    }
    arena_take(w->runs, first, n);
    w->bytes -= len;
    return len;
}

/* ---- the scavenger's step ------------------------------------------------------ */

/* Where to release next: the highest run idle since idle_before, unless a
 * block released in part is to be finished first. */
static bool next_run(const warm_set *w, uint64_t idle_before, bool whole_blocks,
                     arena_run *out)
{
    const block *b = w->partial;
    if (!whole_blocks && b != NULL && b->freed_at <= idle_before) {
        *out = (arena_run){ .start = b->start, .npages = b->ready_pages, .stamp = b->freed_at };
        return true;
    }
    return arena_highest_run_by(w->runs, idle_before, out);
}

uint64_t warm_release_step(warm_set *w, uint64_t max_bytes, uint64_t idle_before,
                           bool whole_blocks, block **drop)
{
    arena_run run;
    *drop = NULL;
    if (max_bytes == 0 || !next_run(w, idle_before, whole_blocks, &run))
        return 0;
    uint64_t npages = pages_for(w, max_bytes);
    return w->per_block ? blocks_step(w, &run, npages, whole_blocks, drop)
                        : pages_release_top(w, &run, npages);
}

uint64_t warm_oldest(const warm_set *w)
{
    uint64_t stamp;
    return arena_oldest_stamp(w->runs, &stamp) ? stamp : 0;
}
