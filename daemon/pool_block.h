/* A block as the pool modules see it (pool.c, pool_client.c, pool_warm.c).
 * Not for other modules: they use pool.h. */
#ifndef MEMPOOL_POOL_BLOCK_H
#define MEMPOOL_POOL_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

typedef struct pool pool;
typedef struct handle_entry handle_entry;

typedef struct block {
    uint64_t id;
    pool *pool;
    uint64_t start, npages; /* in pool pages */
    char *addr;             /* the daemon's mapping */
    uint64_t size;
    mem_backing backing;    /* own (block isolation) or the pool's */
    uint64_t backing_serial; /* block isolation: names the own backing, for
                                good (a client may keep it mapped) */
    uint32_t exposed_uid;   /* the uid of every holder so far, or MIXED */
    uint32_t holders;
    uint64_t freed_at;      /* warm blocks: when the last holder let go */
    uint64_t ready_pages;   /* warm blocks: the Ready prefix; the scavenger
                               released the rest, from the top down */
    struct block *warm_prev, *warm_next; /* warm list, oldest first */
    struct block *size_next;             /* warm blocks of the same size */
    handle_entry *handles;               /* handles naming this block */
    struct block *live_prev, *live_next; /* live blocks of the pool */
    uint64_t resident;   /* block isolation: its backing's resident bytes when
                            last measured (pool_counters.c) */
    bool watched;        /* its death goes on the set's dead list (names) */
} block;

#endif
