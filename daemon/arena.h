/* The page allocator of one pool's reserved address range (the role of
 * Go's pageAlloc): which pages of [0, npages) are free, found first fit by
 * address so that used memory packs at the low end and the scavenger can
 * work down from the high end.
 *
 * Pure bookkeeping: pages are in units of the pool's page size, and the
 * caller turns them into addresses and memory-state changes. Free pages are
 * kept as maximal runs (two free runs never touch) in a balanced tree keyed
 * by start, each node knowing the longest run and the oldest stamp below
 * it, so every operation but arena_check is O(log n) in the number of free
 * runs. An unmerged arena (arena_new_unmerged) keeps every freed range as a
 * run of its own instead.
 *
 * Each free run carries a stamp: the caller's clock when it was freed. A run
 * made by coalescing keeps the newest stamp of its parts. That loses the age
 * of the older parts: the scavenger then waits for the newest part to be idle
 * before releasing any of the run, so it may keep old pages up to one `idle`
 * period longer than an exact per-page age would. The other choice, the
 * oldest stamp, would release pages a client freed a moment ago and make the
 * next allocation fault them back in: holding memory a little longer is the
 * cheaper mistake. The remainder of a split run keeps the run's stamp. A
 * pool's warm memory, whose ages the scavenger needs exactly, is tracked in
 * an unmerged arena, where nothing coalesces and no age is lost.
 *
 * Not thread-safe: one owner (the pool, on the loop thread). */
#ifndef MEMPOOL_ARENA_H
#define MEMPOOL_ARENA_H

#include <stdbool.h>
#include <stdint.h>

typedef struct arena arena;

typedef struct arena_run {
    uint64_t start, npages, stamp;
} arena_run;

/* A new arena of npages pages, all free, as one run with stamp 0.
 * 0, -EINVAL (npages == 0) or -ENOMEM. */
int arena_new(uint64_t npages, arena **out);
/* A new arena of npages pages, none free, whose free runs never coalesce:
 * each range freed stays a run of its own, with its own stamp, until it is
 * taken. This is how a pool tracks its warm memory: ages stay exact, and a
 * run never spans two blocks, so taking one back never splits a run.
 * 0, -EINVAL (npages == 0) or -ENOMEM. */
int arena_new_unmerged(uint64_t npages, arena **out);
void arena_destroy(arena *a);

/* The lowest-addressed free run with at least npages pages gives its first
 * npages pages. 0 and *start, -EINVAL for npages == 0, -ENOMEM when no
 * free run is long enough (even if enough pages are free in total). */
int arena_alloc(arena *a, uint64_t npages, uint64_t *start);

/* Frees [start, start+npages) at time `stamp`, coalescing with the free runs
 * it touches. Every page must be allocated and inside the arena: otherwise
 * -EINVAL (also for npages == 0) and nothing changes. -ENOMEM when the range
 * touches no free run and no node for a new run can be allocated; nothing
 * changes then either. */
int arena_free(arena *a, uint64_t start, uint64_t npages, uint64_t stamp);

uint64_t arena_npages(const arena *a);
uint64_t arena_largest_free(const arena *a);
uint64_t arena_free_pages(const arena *a);
/* The number of free runs: 1 for an empty arena, more as it fragments. */
uint64_t arena_free_runs(const arena *a);

/* The free run with the highest start below `before` (UINT64_MAX to begin),
 * for walking the free runs from the highest address down. false when there
 * is none. */
bool arena_free_run_below(const arena *a, uint64_t before, arena_run *out);

/* Takes [start, start+npages) out of the free set: the pages are allocated
 * afterwards. The range must lie inside one free run: -EINVAL otherwise
 * (also for npages == 0), and nothing changes. Taking either end of a run
 * changes it in place; taking its middle splits it and needs a node, so it
 * may fail with -ENOMEM, and then nothing changes. O(log n). */
int arena_take(arena *a, uint64_t start, uint64_t npages);

/* The highest-addressed free run stamped at or before stamp_max: where the
 * scavenger starts, as Go's scavenger works from the highest address down.
 * false when there is none. O(log n). */
bool arena_highest_run_by(const arena *a, uint64_t stamp_max, arena_run *out);
/* The smallest stamp among the free runs; false when nothing is free.
 * O(1). */
bool arena_oldest_stamp(const arena *a, uint64_t *stamp);

/* Verifies every invariant (order, no touching runs unless unmerged, no
 * empty runs, bounds, the longest-run and oldest-stamp annotations,
 * balance, counters) by walking the whole tree: O(n), for tests and
 * debugging. */
bool arena_check(const arena *a);

#endif
