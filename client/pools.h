/* What the library keeps per pool for one connection: the pool's settings
 * as the daemon last sent them; the mappings of released blocks it keeps
 * (block isolation), least recently used first out, so that a warm block
 * granted again is neither mapped nor faulted afresh; and the block cache
 * (the Go runtime's mcache idea): released blocks this connection alone
 * held, still held from the daemon's side, that the next allocation of the
 * same number of pool pages takes without a message. Not thread-safe: the
 * client's lock guards it. */
#ifndef MEMPOOL_CLIENT_POOLS_H
#define MEMPOOL_CLIENT_POOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blocks.h"
#include "proto.h"

typedef struct kept_mapping {
    uint64_t backing_id;
    void *addr;
    size_t size;
} kept_mapping;

typedef struct cached_block {
    held_block b;       /* as it was held */
    uint64_t cached_at; /* monotonic ns */
} cached_block;

typedef struct client_pool {
    char name[PROTO_POOL_NAME_MAX + 1];
    /* The pool's settings, from the last block reply (0 until then). */
    uint32_t kept_max;
    uint64_t cache_max, cache_age_ns, page_size;
    kept_mapping *kept;   /* oldest first */
    size_t nkept, kept_cap;
    cached_block *cache;  /* oldest first */
    size_t ncached, cache_cap;
    uint64_t cached_bytes;
} client_pool;

typedef struct client_pools {
    client_pool **items;
    size_t count, cap;
} client_pools;

/* The pool's record, made on first use; NULL when out of memory. */
client_pool *client_pools_get(client_pools *t, const char *name);
/* Unmaps every kept mapping and every cached block of every pool: the
 * connection they were kept for is gone (the daemon let go of the cached
 * blocks with it). Settings stay. */
void client_pools_drop_kept(client_pools *t);
void client_pools_free(client_pools *t);

/* The kept mapping of backing_id, taken out of the pool's list: true and
 * *addr when there is one of `size` bytes. */
bool client_pool_take_kept(client_pool *p, uint64_t backing_id, size_t size, void **addr);
/* Keeps a released block's mapping, most recent last. When the pool keeps
 * kept_max already, its oldest makes room: unmapped, and its backing id
 * put in *evicted (0 when none went). false when nothing may be kept
 * (kept_max 0, out of memory): the caller unmaps. */
bool client_pool_keep(client_pool *p, uint64_t backing_id, void *addr, size_t size,
                      uint64_t *evicted);
/* Unmaps the oldest kept mapping while the pool keeps more than kept_max;
 * returns the backing id of the one unmapped, 0 when none was. */
uint64_t client_pool_trim_kept(client_pool *p);

/* The block cache. Fit rule: a cached block serves an allocation of the
 * same number of pool pages, newest first. */
bool client_pool_cache_take(client_pool *p, size_t size, held_block *out);
/* Puts a released block in the cache, stamped `now`. false when the cache
 * cannot take it (off, larger than the cap, out of memory). The caller
 * makes room first (client_pool_cache_pop_oldest). */
bool client_pool_cache_put(client_pool *p, const held_block *b, uint64_t now);
/* Takes the oldest cached block out; false when the cache is empty. */
bool client_pool_cache_pop_oldest(client_pool *p, held_block *out);
/* The stamp of the oldest cached block; UINT64_MAX when empty. */
uint64_t client_pool_cache_oldest(const client_pool *p);

#endif
