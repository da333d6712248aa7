/* What pool.c (memory: pools and blocks) and pool_client.c (who holds
 * what: clients, holds, handles, quotas, access) share. Not for other
 * modules: they use pool.h. */
#ifndef MEMPOOL_POOL_INTERNAL_H
#define MEMPOOL_POOL_INTERNAL_H

#include "arena.h"
#include "idtable.h"
#include "mem.h"
#include "pool.h"

/* exposed_uid of a block that more than one uid has held. */
#define POOL_UID_MIXED UINT32_MAX

typedef struct handle_entry handle_entry;

typedef struct block {
    uint64_t id;
    pool *pool;
    uint64_t start, npages; /* in pool pages */
    char *addr;             /* the daemon's mapping */
    uint64_t size;
    mem_backing backing;    /* own (block isolation) or the pool's */
    uint32_t exposed_uid;   /* the uid of every holder so far, or MIXED */
    uint32_t holders;
    uint64_t freed_at;      /* warm blocks: when the last holder let go */
    uint64_t ready_pages;   /* warm blocks: the Ready prefix; the scavenger
                               released the rest, from the top down */
    struct block *warm_prev, *warm_next; /* warm list, oldest first */
    struct block *size_next;             /* warm blocks of the same size */
    handle_entry *handles;               /* handles naming this block */
} block;

struct handle_entry {
    mempool_handle handle;
    block *blk;
    unsigned prot;
    handle_entry *next; /* of the same block */
};

struct pool {
    pool_set *set;
    size_t index;
    const policy_pool *cfg;
    uint64_t page;
    mem_region *region;
    char *base;
    arena *arena;
    mem_backing shared;   /* pool isolation: one backing for the pool */
    uint64_t mapped_top;  /* pool isolation: no page at or above is mapped */
    uint64_t in_use, warm, released, sync_scavenged, blocks, holders;
    arena *warm_set;              /* warm pages, one run per free, stamped */
    block *warm_head, *warm_tail; /* block isolation: freed blocks */
    idtable warm_by_size;         /* npages -> newest warm block */
    idtable warm_by_start;        /* start page + 1 -> warm block */
    uint64_t warm_held;           /* block isolation: bytes warm blocks span */
    block *warm_partial;          /* block isolation: released in part, finished first */
    uint64_t scavenger_runs, scavenger_cpu_ns, last_scavenge_ms;
    bool broken;                  /* a mapping failed other than for memory */
};

struct pool_set {
    pool *pools;
    size_t npools;
    idtable blocks;  /* id -> live block */
    idtable handles; /* first 8 handle bytes -> handle_entry */
    uint64_t next_block_id;
    pool_limit_release_fn *limit_release; /* NULL: pool_release_warm_part */
    void *limit_release_arg;
    uint64_t backings;     /* own backings open (block isolation), live or warm */
    uint64_t max_backings; /* 0: no limit */
};

/* pool isolation: where addr lies in the pool's one backing. */
static inline mem_backing pool_shared_backing_at(const pool *p, const char *addr)
{
    return (mem_backing){ .fd = p->shared.fd,
                          .offset = p->shared.offset + (uint64_t)(addr - p->base) };
}

/* pool.c: memory. */
int pool_block_new(pool *p, uint64_t size, uint32_t uid, unsigned flags,
                   block **out);
/* The last holder let go: the block turns warm (or its pages go back to
 * the pool's free runs) and its handles die. */
void pool_block_retire(block *b, uint64_t now);
/* Drops every handle naming the block. */
void pool_block_forget_handles(block *b);
/* Makes Ready memory [v, v+n) of backing `bk` read as zeros for a new
 * owner (see pool.c for how). */
void pool_clear(pool *p, char *v, uint64_t n, const mem_backing *bk);
/* Gives a block's memory back to the OS and its pages back to the pool's
 * free runs (stamped when it was freed), and frees the struct; false when
 * the memory could not be given back (its range then stays out of use). */
bool pool_block_unmap(pool *p, block *b);
/* Closes a block's own backing (block isolation) and counts it. */
void pool_block_close_backing(pool *p, block *b);

/* pool_warm.c: warm memory, free and still Ready, kept for reuse. Its pages
 * are the runs of p->warm_set, an unmerged arena: each run is what one
 * release freed, stamped with when, so the scavenger finds the highest idle
 * run and the oldest stamp in O(log n). */
int pool_warm_init(pool *p);
/* At exit: clients may still map warm blocks, so nothing is punched. */
void pool_warm_destroy(pool *p);

/* Block isolation: a warm block keeps its backing; its Ready part is a
 * prefix of the block and one run of the warm set. */
void warm_block_push(pool *p, block *b, uint64_t now);
/* The newest warm block of npages pages that only `uid` has held. */
block *warm_block_find(pool *p, uint64_t npages, uint32_t uid);
/* Takes a warm block out of the warm set for reuse. */
void warm_block_detach(pool *p, block *b);
/* Gives a warm block back whole; returns the Ready bytes released. */
uint64_t warm_block_drop(pool *p, block *b);

/* Pool isolation: warm pages of the shared backing. */
void warm_pages_push(pool *p, uint64_t start, uint64_t npages, uint64_t now);
/* Warm pages in [start, start+npages), in pages. */
uint64_t warm_pages_in(const pool *p, uint64_t start, uint64_t npages);
/* Takes the warm pages of [start, start+npages), which must begin a free
 * run of the pool's arena, out of the warm set (clearing them if asked);
 * returns how many there were. */
uint64_t warm_pages_take(pool *p, uint64_t start, uint64_t npages, bool clear);

#endif
