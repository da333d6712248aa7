/* A pool's running figures: what `stats`, `pools`, `pool NAME`, the
 * metrics and mempool_pool_info show is kept up to date as blocks come and
 * go, so answering costs the same with one block as with thousands.
 *
 * in_use, blocks, holders, warm, released are counters the pool modules
 * move as they act. What the OS holds for the backings (memfd st_blocks) is
 * the one figure the daemon cannot count itself, because clients write
 * into their blocks: block isolation keeps each block's last measurement
 * and their sum, measures a block when the daemon changes what it holds
 * (it turns warm, the scavenger releases part of it, it is cleared for
 * reuse, it closes) and measures live blocks again a few at a time, round
 * robin, on each call that shows the figure. Warm blocks are exact; a live
 * block lags by at most (live blocks / COUNTERS_REFRESH) such calls.
 *
 * pool_check_counters recomputes everything by walking every block, for
 * the tests. */
#include "pool_internal.h"

#include <stdio.h>

void counters_live_link(pool *p, block *b)
{
    b->live_prev = NULL;
    b->live_next = p->live_head;
    if (p->live_head != NULL)
        p->live_head->live_prev = b;
    p->live_head = b;
}

void counters_live_unlink(pool *p, block *b)
{
    if (p->resident_cursor == b)
        p->resident_cursor = b->live_next;
    if (b->live_prev != NULL)
        b->live_prev->live_next = b->live_next;
    else
        p->live_head = b->live_next;
    if (b->live_next != NULL)
        b->live_next->live_prev = b->live_prev;
    b->live_prev = b->live_next = NULL;
}

void counters_measure(pool *p, block *b)
{
    if (p->cfg->isolation != POLICY_ISOLATION_BLOCK)
        return;
    int64_t now = mem_backing_resident(&b->backing);
    uint64_t bytes = now > 0 ? (uint64_t)now : 0;
    p->own_resident = p->own_resident - b->resident + bytes;
    b->resident = bytes;
}

void counters_forget(pool *p, block *b)
{
    p->own_resident -= b->resident;
    b->resident = 0;
}

uint64_t counters_backing_resident(pool *p)
{
    if (p->cfg->isolation != POLICY_ISOLATION_BLOCK) { /* pool, or a uid's part */
        int64_t bytes = mem_backing_resident(&p->shared);
        return bytes > 0 ? (uint64_t)bytes : 0;
    }
    for (int i = 0; i < COUNTERS_REFRESH && p->live_head != NULL; i++) {
        if (p->resident_cursor == NULL)
            p->resident_cursor = p->live_head;
        block *b = p->resident_cursor;
        p->resident_cursor = b->live_next;
        counters_measure(p, b);
    }
    return p->own_resident;
}

/* ---- the full walk (tests) -------------------------------------------------- */

typedef struct walk_sums {
    uint64_t in_use, blocks, holders, warm, held, resident, live_listed;
} walk_sums;

static void sum_live(const pool *p, walk_sums *w)
{
    const idtable *t = &p->set->blocks;
    for (size_t i = 0; i < idtable_slots(t); i++) {
        void *any;
        if (!idtable_at(t, i, NULL, &any) || ((const block *)any)->pool != p)
            continue;
        const block *b = any;
        w->in_use += b->size;
        w->blocks++;
        w->holders += b->holders;
        w->resident += b->resident;
    }
    for (const block *b = p->live_head; b != NULL; b = b->live_next)
        w->live_listed++;
}

/* Warm blocks are written by nobody: each one's measurement must be what
 * the kernel says now. */
static bool sum_warm_blocks(const pool *p, walk_sums *w, char *why, size_t len)
{
    for (const block *b = p->warm.head; b != NULL; b = b->warm_next) {
        int64_t kernel = mem_backing_resident(&b->backing);
        if (kernel >= 0 && (uint64_t)kernel != b->resident) {
            snprintf(why, len, "warm block at page %llu: resident %llu, the kernel says %lld",
                     (unsigned long long)b->start, (unsigned long long)b->resident,
                     (long long)kernel);
            return false;
        }
        w->warm += b->ready_pages * p->page;
        w->held += b->size;
        w->resident += b->resident;
    }
    return true;
}

static bool same(const char *what, uint64_t counter, uint64_t walked, char *why, size_t len)
{
    if (counter == walked)
        return true;
    snprintf(why, len, "%s: counter %llu, walk %llu", what, (unsigned long long)counter,
             (unsigned long long)walked);
    return false;
}

/* uid isolation: every part checks out, and the pool's in-use figures are
 * the sums of its parts'. */
static bool check_parts(const pool *p, char *why, size_t len)
{
    uint64_t in_use = 0, blocks = 0;
    for (size_t i = 0; i < idtable_slots(&p->parts); i++) {
        void *any;
        if (!idtable_at(&p->parts, i, NULL, &any))
            continue;
        const pool *part = any;
        if (!pool_check_counters(part, why, len))
            return false;
        in_use += part->in_use;
        blocks += part->blocks;
    }
    return same("in_use (parts)", p->in_use, in_use, why, len) &&
           same("blocks (parts)", p->blocks, blocks, why, len);
}

bool pool_check_counters(const pool *p, char *why, size_t len)
{
    if (p->cfg->isolation == POLICY_ISOLATION_UID && p->parent == NULL)
        return check_parts(p, why, len);
    walk_sums w = { 0 };
    sum_live(p, &w);
    bool per_block = p->cfg->isolation == POLICY_ISOLATION_BLOCK;
    if (per_block && !sum_warm_blocks(p, &w, why, len))
        return false;
    if (!per_block)
        w.warm = arena_free_pages(p->warm.runs) * p->page;
    return same("in_use", p->in_use, w.in_use, why, len) &&
           same("blocks", p->blocks, w.blocks, why, len) &&
           same("live list", p->blocks, w.live_listed, why, len) &&
           same("holders", p->holders, w.holders, why, len) &&
           same("warm", p->warm.bytes, w.warm, why, len) &&
           same("warm held", p->warm.held, w.held, why, len) &&
           same("resident", p->own_resident, w.resident, why, len);
}
