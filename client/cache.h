/* The block cache's dealings with the daemon (pools.h keeps the cached
 * blocks): to the daemon a cached block is still held, so the library
 * tells it which held blocks are in the cache (counted as `cached`) and
 * gives them back, in one-way CACHE frames of up to 28 entries.
 *
 * Reports are lazy, so that a cache hit and the release that puts the
 * block back cost no message: each changes what the daemon should believe
 * about one block (PUT: into the cache, TAKE: out of it), and a change
 * that undoes one not yet sent cancels it. What is left goes out in one
 * frame before the next frame this connection sends, so the daemon's
 * figures are right whenever it serves this connection's next request,
 * and never behind by more than one call's worth of hits.
 *
 * Every function expects the client's lock held. */
#ifndef MEMPOOL_CLIENT_CACHE_H
#define MEMPOOL_CLIENT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

/* Monotonic nanoseconds, cheap: the cache ages blocks in whole
 * milliseconds at best, so a coarse clock does. */
uint64_t cache_now(void);

/* Sends the pending reports, if any; call before sending any other frame
 * so that the daemon hears of a block's state before anything else about
 * it. */
void cache_flush(mempool_client *c);

/* Every call does this first: gives back every cache when a reply asked
 * for it, and in every pool the blocks older than its client_cache_age or
 * beyond its client_cache; what was given back goes out at once. */
void cache_housekeep(mempool_client *c, uint64_t now);

/* A cache hit for `size` bytes in p: true and the block in *out, no
 * longer cached (the caller records it as held). */
bool cache_take(mempool_client *c, client_pool *p, size_t size, held_block *out);

/* A release into the cache, if the block may go there (allocated by this
 * connection on its current connection, never shared, the pool's cache on
 * and the block within its cap, oldest blocks given back to make room):
 * true when it went in; false and the caller releases it to the daemon. */
bool cache_put(mempool_client *c, const held_block *b, uint64_t now);

/* Gives back every cached block of p (NULL: of every pool) in batched
 * frames; returns how many went. */
size_t cache_give_back(mempool_client *c, client_pool *p);

#endif
