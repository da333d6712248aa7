#include "cache.h"

#include <string.h>
#include <time.h>

#include "handoff.h"

/* CLOCK_MONOTONIC_COARSE (Linux) reads the tick without asking the
 * clocksource: a few nanoseconds, where the hit path has a hundred in all.
 * Elsewhere the precise monotonic clock. */
#ifdef CLOCK_MONOTONIC_COARSE
#define CACHE_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define CACHE_CLOCK CLOCK_MONOTONIC
#endif

uint64_t cache_now(void)
{
    struct timespec ts;
    clock_gettime(CACHE_CLOCK, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cache_flush(mempool_client *c)
{
    if (c->cache_reports.count == 0)
        return;
    unsigned char payload[PROTO_MAX_FRAME];
    size_t len = proto_put_cache(payload, &c->cache_reports);
    c->cache_reports.count = 0;
    /* A failure drops the connection, and the daemon lets go of every
     * block with it: nothing is left to report. */
    session_send_oneway(c, PROTO_CACHE, payload, len);
}

static void report(mempool_client *c, unsigned op, uint64_t id)
{
    if (c->cache_reports.count == PROTO_CACHE_MAX)
        cache_flush(c);
    c->cache_reports.entries[c->cache_reports.count++] = PROTO_CACHE_ENTRY(op, id);
}

/* PUT and TAKE undo each other: the newest pending report for the block,
 * if it is the opposite one, is cancelled instead of adding another. */
static void report_toggle(mempool_client *c, unsigned op, uint64_t id)
{
    unsigned opposite = op == PROTO_CACHE_PUT ? PROTO_CACHE_TAKE : PROTO_CACHE_PUT;
    for (uint32_t i = c->cache_reports.count; i-- > 0;) {
        if (PROTO_CACHE_ID(c->cache_reports.entries[i]) != id)
            continue;
        if (PROTO_CACHE_OP(c->cache_reports.entries[i]) != opposite)
            break;
        memmove(&c->cache_reports.entries[i], &c->cache_reports.entries[i + 1],
                (c->cache_reports.count - i - 1) * sizeof c->cache_reports.entries[0]);
        c->cache_reports.count--;
        return;
    }
    report(c, op, id);
}

/* Released for good: unmapped here, GIVE_BACK to the daemon. */
static void give_back_one(mempool_client *c, const held_block *b)
{
    report(c, PROTO_CACHE_GIVE_BACK, b->id);
    held_block_unmap(b, c->epoch);
}

size_t cache_give_back(mempool_client *c, client_pool *p)
{
    size_t n = 0;
    held_block b;
    for (size_t i = 0; i < c->pools.count; i++) {
        client_pool *q = c->pools.items[i];
        while ((p == NULL || q == p) && client_pool_cache_pop_oldest(q, &b)) {
            give_back_one(c, &b);
            n++;
        }
    }
    cache_flush(c);
    return n;
}

/* Expired or over the cap (a reload may have lowered it): oldest first. */
static bool pool_housekeep(mempool_client *c, client_pool *p, uint64_t now)
{
    bool any = false;
    held_block b;
    while (p->ncached > 0 &&
           (now - client_pool_cache_oldest(p) > p->cache_age_ns || p->cached_bytes > p->cache_max) &&
           client_pool_cache_pop_oldest(p, &b)) {
        give_back_one(c, &b);
        any = true;
    }
    return any;
}

void cache_housekeep(mempool_client *c, uint64_t now)
{
    if (c->give_back_requested) {
        c->give_back_requested = false;
        cache_give_back(c, NULL);
        return;
    }
    bool any = false;
    for (size_t i = 0; i < c->pools.count; i++)
        any |= pool_housekeep(c, c->pools.items[i], now);
    if (any)
        cache_flush(c);
}

bool cache_take(mempool_client *c, client_pool *p, size_t size, held_block *out)
{
    if (!client_pool_cache_take(p, size, out))
        return false;
    report_toggle(c, PROTO_CACHE_TAKE, out->id);
    return true;
}

bool cache_put(mempool_client *c, const held_block *b, uint64_t now)
{
    client_pool *p = b->pool;
    if (p == NULL || b->shared || b->epoch != c->epoch || b->size > p->cache_max)
        return false;
    bool made_room = false;
    held_block oldest;
    while (p->cached_bytes + b->size > p->cache_max && client_pool_cache_pop_oldest(p, &oldest)) {
        give_back_one(c, &oldest);
        made_room = true;
    }
    bool put = client_pool_cache_put(p, b, now);
    if (put)
        report_toggle(c, PROTO_CACHE_PUT, b->id);
    if (made_room)
        cache_flush(c); /* what went back goes at once, with the PUT */
    return put;
}
