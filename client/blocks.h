/* What one connection holds: the blocks it has mapped (found by address,
 * the one thing a caller's mempool_block is sure to carry) and, for pools
 * with `pool` isolation, the backings the daemon sent once and the client
 * keeps to map later blocks from. Not thread-safe: the client's lock
 * guards both tables. */
#ifndef MEMPOOL_CLIENT_BLOCKS_H
#define MEMPOOL_CLIENT_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff.h"

struct client_pool;

typedef struct held_block {
    void *addr; /* NULL marks a free slot */
    size_t size;
    uint64_t id;
    unsigned prot;
    uint64_t epoch; /* the connection it was obtained on */
    uint64_t backing_id;
    struct client_pool *pool; /* allocated here (read-write): it may go into
                                 the pool's cache; NULL for an attach */
    bool own_backing;   /* block isolation: its mapping may be kept */
    bool in_backing_map; /* a piece of a pool-wide backing mapped whole:
                            nothing to unmap while its connection lives */
    bool shared;        /* handed out by mempool_share: never cached */
} held_block;

/* Open addressing with linear probing, keyed by address. */
typedef struct block_table {
    held_block *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} block_table;

/* 0, or MEMPOOL_ENOMEM. */
int block_table_add(block_table *t, const held_block *b);
held_block *block_table_find(const block_table *t, const void *addr);
void block_table_remove(block_table *t, held_block *b);
/* Unmaps every block and frees the table. */
void block_table_unmap_all(block_table *t);
/* Frees the table, leaving every block mapped (a child after fork: the
 * blocks are its parent's). */
void block_table_forget(block_table *t);

typedef struct kept_backing {
    uint64_t id;
    handoff_object obj;
    void *base; /* the whole backing mapped once, or NULL */
    size_t size;
} kept_backing;

typedef struct backing_table {
    kept_backing *items;
    size_t count;
    size_t cap;
} backing_table;

/* Takes ownership of obj (a backing already kept under `id` is closed and
 * replaced); 0, or MEMPOOL_ENOMEM with obj closed. */
int backing_table_put(backing_table *t, uint64_t id, handoff_object obj);
kept_backing *backing_table_get(const backing_table *t, uint64_t id);
/* The connection is gone: closes every kept backing, and of each one
 * mapped whole unmaps all but the blocks in `held` (they stay mapped and
 * valid, as every block of a lost connection does). */
void backing_table_clear(backing_table *t, const block_table *held);
/* A block's mapping goes: unless it is a piece of a backing mapped whole
 * for the connection of `epoch`, still live. */
void held_block_unmap(const held_block *b, uint64_t epoch);
void backing_table_free(backing_table *t);

#endif
