/* Warm memory: the free pages a pool keeps Ready for reuse, and the
 * scavenger's way to them (docs/scavenger.md).
 *
 * A warm_set is a structure the pool drives: it keeps the warm pages, their
 * ages and the warm blocks, releases pages in place (mem_unused, the memory
 * layer) and says what else must happen. It never calls back into the pool:
 * a warm block that must go whole is detached and handed to the caller,
 * which unmaps it (pool_block_unmap) and counts what it released.
 *
 * The warm pages are the runs of an unmerged arena: every block that turns
 * free adds a run stamped with the time, and runs never coalesce, so each
 * page's age is exact and the arena's annotations find the highest run idle
 * since a given time, and the oldest stamp, in O(log n) (the job Go's
 * scavengeIndex does with a bitmap per chunk).
 *
 * Block isolation: a warm block keeps its backing; its Ready part is a
 * prefix of the block and exactly one run. Pool isolation: warm pages are
 * free pages of the pool's arena still Ready in the shared backing. */
#ifndef MEMPOOL_POOL_WARM_H
#define MEMPOOL_POOL_WARM_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "idtable.h"
#include "mem.h"
#include "pool_block.h"

typedef struct warm_set {
    char name[80];       /* the pool's, for log lines */
    uint64_t page;       /* the pool's page size */
    char *base;          /* the pool's page 0 */
    mem_region *region;  /* the pool's reservation */
    bool per_block;      /* block isolation: each block its own backing */
    mem_backing shared;  /* pool isolation: the one backing */
    arena *runs;         /* warm pages, one run per free, stamped */
    block *head, *tail;  /* block isolation: warm blocks, oldest first */
    idtable by_size;     /* npages -> newest warm block */
    idtable by_start;    /* start page + 1 -> warm block */
    block *partial;      /* block isolation: released in part, finished first */
    uint64_t bytes;      /* warm bytes still Ready */
    uint64_t held;       /* block isolation: bytes the warm blocks span */
} warm_set;

/* npages: the pool's size in pages; shared: pool isolation's backing, NULL
 * in block isolation. 0 or -ENOMEM. */
int warm_set_init(warm_set *w, const char *name, uint64_t page, uint64_t npages,
                  mem_region *region, const mem_backing *shared);
/* Every warm block must have been taken out first (warm_block_oldest,
 * warm_block_detach). */
void warm_set_destroy(warm_set *w);

/* Makes Ready memory [v, v+n) of backing `bk` read as zeros for a new
 * owner: by punching and taking the pages again where a punched hole reads
 * as zeros (cost follows what is resident), else by memset. */
void warm_clear(const warm_set *w, char *v, uint64_t n, const mem_backing *bk);

/* ---- block isolation ---- */

/* A block whose last holder let go turns warm, whole and Ready. false when
 * the set has no memory to track it: the caller gives it back instead. */
bool warm_block_push(warm_set *w, block *b, uint64_t now);
/* The newest warm block of npages pages that only `uid` has held,
 * preferring one whose backing serial is in `kept` (NULL: none) among the
 * first WARM_KEPT_SCAN of its size; with kept_only, only such a block. */
#define WARM_KEPT_SCAN 64
block *warm_block_find(const warm_set *w, uint64_t npages, uint32_t uid, const idtable *kept,
                       bool kept_only);
/* Takes a warm block out of the set (for reuse, or to give it back). */
void warm_block_detach(warm_set *w, block *b);
block *warm_block_oldest(const warm_set *w);
block *warm_block_newest(const warm_set *w);

/* ---- pool isolation ---- */

/* Freed pages turn warm; returns the bytes released at once instead, when
 * the set has no memory to track them (every Ready free page must be one
 * the scavenger can find). */
uint64_t warm_pages_push(warm_set *w, uint64_t start, uint64_t npages, uint64_t now);
/* Warm pages in [start, start+npages), in pages. */
uint64_t warm_pages_in(const warm_set *w, uint64_t start, uint64_t npages);
/* Takes the warm pages of [start, start+npages), which must begin a free
 * run of the pool's arena, out of the set (clearing them if asked);
 * returns how many there were. */
uint64_t warm_pages_take(warm_set *w, uint64_t start, uint64_t npages, bool clear);

/* ---- the scavenger's step ---- */

/* One step of giving warm memory idle since idle_before back to the OS,
 * highest first, at most max_bytes rounded up to a page unless a whole block
 * must go (whole_blocks, or the block's Ready part fits in max_bytes).
 * Returns the bytes the step releases. Pages are released in place; a block
 * that goes whole is detached and left in *drop for the caller to unmap
 * (its bytes count only once the caller has). 0 (and *drop NULL) when
 * nothing is eligible or a release failed. */
uint64_t warm_release_step(warm_set *w, uint64_t max_bytes, uint64_t idle_before,
                           bool whole_blocks, block **drop);
/* The stamp of the oldest warm memory; 0 when nothing is warm. */
uint64_t warm_oldest(const warm_set *w);

#endif
