/* Strays: memory a client wrote into a pool-isolation backing where no
 * block of its lies. The client maps blocks at offsets of one descriptor,
 * and a descriptor lets it map and write the whole backing: such pages are
 * neither in use nor warm in the pool's books, so neither the limit nor the
 * scavenger would ever see them, and a later owner of that range could
 * (allocations that want zeros are punched first, pool.c). The sweep finds
 * the backing's data with SEEK_DATA/SEEK_HOLE and punches whatever lies in
 * the pool's free runs and outside its warm pages (pool.h). */
#include "pool_internal.h"

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static void discard_pages(pool *p, uint64_t lo, uint64_t hi)
{
    mem_backing bk = { .fd = p->shared.fd, .offset = p->shared.offset + lo * p->page };
    (void)mem_backing_discard(&bk, (hi - lo) * p->page);
}

/* [lo, hi) is free in the pool's arena: punches all of it but the warm
 * runs, which are Ready memory the scavenger owns. */
static void discard_unwarm(pool *p, uint64_t lo, uint64_t hi)
{
    uint64_t top = hi;
    arena_run run;
    for (uint64_t before = hi; arena_free_run_below(p->warm.runs, before, &run) &&
                               run.start + run.npages > lo;
         before = run.start) {
        uint64_t run_hi = min_u64(run.start + run.npages, hi);
        if (run_hi < top)
            discard_pages(p, run_hi, top);
        top = max_u64(run.start, lo);
    }
    if (top > lo)
        discard_pages(p, lo, top);
}

/* Pages [lo, hi) hold data: what of them lies in free runs goes. */
static void sweep_range(pool *p, uint64_t lo, uint64_t hi)
{
    arena_run run;
    for (uint64_t before = hi; arena_free_run_below(p->arena, before, &run) &&
                               run.start + run.npages > lo;
         before = run.start)
        discard_unwarm(p, max_u64(run.start, lo), min_u64(run.start + run.npages, hi));
}

static bool pass_wanted(const pool *p, int64_t resident)
{
    return p->strays_suspected || (resident >= 0 &&
           (uint64_t)resident > p->in_use + p->warm.bytes);
}

static void end_pass(pool *p)
{
    p->stray_pass = false;
    p->stray_at = 0;
}

static uint64_t sweep_one(pool *p, unsigned max_extents, bool *more)
{
    *more = false;
    if (p->shared.fd < 0)
        return 0;
    int64_t before = mem_backing_resident(&p->shared);
    if (!p->stray_pass && !pass_wanted(p, before))
        return 0;
    if (!p->stray_pass) {
        p->stray_pass = true;
        p->strays_suspected = false;
    }
    for (unsigned i = 0; i < max_extents && p->stray_pass; i++) {
        uint64_t lo, hi;
        if (mem_backing_next_data(&p->shared, p->stray_at * p->page, &lo, &hi) != 0) {
            end_pass(p);
            break;
        }
        uint64_t first = lo / p->page, last = (hi + p->page - 1) / p->page;
        sweep_range(p, first, min_u64(last, p->cfg->reserve / p->page));
        p->stray_at = last;
        if (last >= p->cfg->reserve / p->page)
            end_pass(p);
    }
    *more = p->stray_pass;
    int64_t after = mem_backing_resident(&p->shared);
    uint64_t freed = before > after ? (uint64_t)(before - after) : 0;
    p->strays_freed += freed;
    return freed;
}

/* uid isolation: every uid's part, each with its own backing; a client of
 * any uid that left may have written into its part. */
uint64_t pool_sweep_strays(pool *p, unsigned max_extents, bool *more)
{
    uint64_t freed = sweep_one(p, max_extents, more);
    for (size_t i = 0; i < idtable_slots(&p->parts); i++) {
        void *any;
        if (!idtable_at(&p->parts, i, NULL, &any))
            continue;
        pool *part = any;
        bool part_more;
        part->strays_suspected |= p->strays_suspected;
        freed += sweep_one(part, max_extents, &part_more);
        *more |= part_more;
    }
    if (p->parts.count > 0)
        p->strays_suspected = false;
    return freed;
}
