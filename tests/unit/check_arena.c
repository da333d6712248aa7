#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "arena.h"

static arena *new_arena(uint64_t npages)
{
    arena *a = NULL;
    ck_assert_int_eq(arena_new(npages, &a), 0);
    ck_assert_ptr_nonnull(a);
    return a;
}

static uint64_t alloc_ok(arena *a, uint64_t npages)
{
    uint64_t start = UINT64_MAX;
    ck_assert_int_eq(arena_alloc(a, npages, &start), 0);
    ck_assert(arena_check(a));
    return start;
}

static void free_ok(arena *a, uint64_t start, uint64_t npages, uint64_t stamp)
{
    ck_assert_int_eq(arena_free(a, start, npages, stamp), 0);
    ck_assert(arena_check(a));
}

/* The free runs, lowest address first, read through the public iterator
 * (which walks from the highest address down); SIZE_MAX when there are more
 * than cap. Plain comparisons, not ck_assert: in fork mode Check reports
 * every assertion to its parent, which the randomized test would pay for
 * thousands of times a step. */
static size_t free_runs_of(const arena *a, arena_run *runs, size_t cap)
{
    size_t n = 0;
    arena_run run;
    for (uint64_t before = UINT64_MAX; arena_free_run_below(a, before, &run);
         before = run.start) {
        if (n == cap)
            return SIZE_MAX;
        runs[n++] = run;
    }
    for (size_t i = 0; i < n / 2; i++) {
        arena_run tmp = runs[i];
        runs[i] = runs[n - 1 - i];
        runs[n - 1 - i] = tmp;
    }
    return n;
}

static void assert_run(const arena_run *run, uint64_t start, uint64_t npages,
                       uint64_t stamp)
{
    ck_assert_uint_eq(run->start, start);
    ck_assert_uint_eq(run->npages, npages);
    ck_assert_uint_eq(run->stamp, stamp);
}

START_TEST(new_arena_is_one_free_run)
{
    arena *a = new_arena(100);
    ck_assert_uint_eq(arena_npages(a), 100);
    ck_assert_uint_eq(arena_free_pages(a), 100);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    ck_assert_uint_eq(arena_largest_free(a), 100);
    ck_assert(arena_check(a));
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 1);
    assert_run(&runs[0], 0, 100, 0);
    arena_destroy(a);

    arena *none = NULL;
    ck_assert_int_eq(arena_new(0, &none), -EINVAL);
    ck_assert_ptr_null(none);
}
END_TEST

START_TEST(allocations_go_lowest_first_and_split_runs)
{
    arena *a = new_arena(100);
    ck_assert_uint_eq(alloc_ok(a, 10), 0);
    ck_assert_uint_eq(alloc_ok(a, 5), 10);
    ck_assert_uint_eq(alloc_ok(a, 1), 15);
    ck_assert_uint_eq(arena_free_pages(a), 84);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    ck_assert_uint_eq(arena_largest_free(a), 84);

    /* A hole at [0, 10): a small request takes its low end, a request the
     * hole cannot hold goes past it. */
    free_ok(a, 0, 10, 7);
    ck_assert_uint_eq(alloc_ok(a, 4), 0);
    ck_assert_uint_eq(alloc_ok(a, 20), 16);
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 2);
    assert_run(&runs[0], 4, 6, 7); /* the remainder keeps its stamp */
    assert_run(&runs[1], 36, 64, 0);
    ck_assert_uint_eq(alloc_ok(a, 6), 4);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    ck_assert_uint_eq(alloc_ok(a, 64), 36);
    ck_assert_uint_eq(arena_free_pages(a), 0);
    ck_assert_uint_eq(arena_free_runs(a), 0);
    ck_assert_uint_eq(arena_largest_free(a), 0);
    uint64_t start = 42;
    ck_assert_int_eq(arena_alloc(a, 1, &start), -ENOMEM);
    ck_assert_uint_eq(start, 42);
    ck_assert_int_eq(arena_alloc(a, 0, &start), -EINVAL);
    arena_destroy(a);
}
END_TEST

/* Three allocated blocks [0,10) [10,20) [20,30) and the tail [30,40) free. */
static arena *three_blocks(void)
{
    arena *a = new_arena(40);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(alloc_ok(a, 10), (uint64_t)i * 10);
    return a;
}

START_TEST(free_coalesces_with_the_left_run)
{
    arena *a = three_blocks();
    free_ok(a, 0, 10, 1);
    free_ok(a, 10, 10, 2);
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 2);
    assert_run(&runs[0], 0, 20, 2);
    assert_run(&runs[1], 30, 10, 0);
    arena_destroy(a);
}
END_TEST

START_TEST(free_coalesces_with_the_right_run)
{
    arena *a = three_blocks();
    free_ok(a, 20, 10, 5);
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 1);
    assert_run(&runs[0], 20, 20, 5);
    free_ok(a, 10, 10, 3);
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 1);
    assert_run(&runs[0], 10, 30, 5); /* the newest stamp wins */
    ck_assert_uint_eq(arena_largest_free(a), 30);
    arena_destroy(a);
}
END_TEST

START_TEST(free_coalesces_with_both_runs)
{
    arena *a = three_blocks();
    free_ok(a, 0, 10, 4);
    ck_assert_uint_eq(arena_free_runs(a), 2);
    free_ok(a, 10, 10, 9);
    free_ok(a, 20, 10, 6);
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 1);
    assert_run(&runs[0], 0, 40, 9);
    ck_assert_uint_eq(arena_free_pages(a), 40);
    ck_assert_uint_eq(arena_largest_free(a), 40);
    arena_destroy(a);
}
END_TEST

static void assert_free_refused(arena *a, uint64_t start, uint64_t npages)
{
    arena_run before[64], after[64];
    size_t nbefore = free_runs_of(a, before, 64);
    uint64_t pages = arena_free_pages(a);
    ck_assert_int_eq(arena_free(a, start, npages, 99), -EINVAL);
    ck_assert(arena_check(a));
    ck_assert_uint_eq(arena_free_pages(a), pages);
    ck_assert_uint_eq(free_runs_of(a, after, 64), nbefore);
    ck_assert_mem_eq(before, after, nbefore * sizeof before[0]);
}

START_TEST(bad_frees_are_refused_and_change_nothing)
{
    arena *a = three_blocks();
    free_ok(a, 10, 10, 1);
    assert_free_refused(a, 10, 10);  /* double free */
    assert_free_refused(a, 12, 2);   /* inside a free run */
    assert_free_refused(a, 5, 10);   /* overlaps the free run's low end */
    assert_free_refused(a, 15, 10);  /* overlaps its high end */
    assert_free_refused(a, 0, 30);   /* covers it */
    assert_free_refused(a, 25, 10);  /* overlaps the tail run */
    assert_free_refused(a, 40, 1);   /* past the end */
    assert_free_refused(a, 39, 2);   /* crosses the end */
    assert_free_refused(a, 0, 0);    /* zero length */
    assert_free_refused(a, 1, UINT64_MAX); /* length that would wrap */
    assert_free_refused(a, UINT64_MAX, 1);
    free_ok(a, 0, 10, 2);
    free_ok(a, 20, 10, 3);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    arena_destroy(a);
}
END_TEST

START_TEST(fragmentation_gives_enomem_despite_free_pages)
{
    arena *a = new_arena(64);
    for (int i = 0; i < 16; i++)
        alloc_ok(a, 4);
    for (uint64_t start = 0; start < 64; start += 8)
        free_ok(a, start, 4, 0);
    ck_assert_uint_eq(arena_free_pages(a), 32);
    ck_assert_uint_eq(arena_free_runs(a), 8);
    ck_assert_uint_eq(arena_largest_free(a), 4);
    uint64_t start;
    ck_assert_int_eq(arena_alloc(a, 5, &start), -ENOMEM);
    ck_assert_uint_eq(arena_free_pages(a), 32);
    ck_assert(arena_check(a));
    /* Freeing the block between two holes makes a run of 12. */
    free_ok(a, 36, 4, 0);
    ck_assert_uint_eq(arena_largest_free(a), 12);
    ck_assert_uint_eq(alloc_ok(a, 5), 32);
    arena_destroy(a);
}
END_TEST

START_TEST(largest_free_follows_every_change)
{
    arena *a = new_arena(1000);
    uint64_t starts[10];
    for (int i = 0; i < 10; i++)
        starts[i] = alloc_ok(a, (uint64_t)(i + 1) * 10);
    ck_assert_uint_eq(arena_largest_free(a), 450);
    ck_assert_uint_eq(alloc_ok(a, 450), 550);
    ck_assert_uint_eq(arena_largest_free(a), 0);
    free_ok(a, starts[2], 30, 0);
    ck_assert_uint_eq(arena_largest_free(a), 30);
    free_ok(a, starts[7], 80, 0);
    ck_assert_uint_eq(arena_largest_free(a), 80);
    free_ok(a, starts[5], 60, 0);
    ck_assert_uint_eq(arena_largest_free(a), 80);
    free_ok(a, starts[6], 70, 0); /* joins 60 + 70 + 80 */
    ck_assert_uint_eq(arena_largest_free(a), 210);
    ck_assert_uint_eq(alloc_ok(a, 100), starts[5]);
    ck_assert_uint_eq(arena_largest_free(a), 110);
    ck_assert_uint_eq(alloc_ok(a, 110), starts[5] + 100);
    ck_assert_uint_eq(arena_largest_free(a), 30);
    arena_destroy(a);
}
END_TEST

START_TEST(iteration_walks_down_from_the_highest_run)
{
    arena *a = new_arena(100);
    for (int i = 0; i < 10; i++)
        alloc_ok(a, 10);
    free_ok(a, 10, 10, 1);
    free_ok(a, 50, 10, 2);
    free_ok(a, 80, 10, 3);
    arena_run run;
    ck_assert(arena_free_run_below(a, UINT64_MAX, &run));
    assert_run(&run, 80, 10, 3);
    ck_assert(arena_free_run_below(a, run.start, &run));
    assert_run(&run, 50, 10, 2);
    ck_assert(arena_free_run_below(a, run.start, &run));
    assert_run(&run, 10, 10, 1);
    ck_assert(!arena_free_run_below(a, run.start, &run));
    /* `before` is exclusive and need not be a run's start. */
    ck_assert(arena_free_run_below(a, 81, &run));
    ck_assert_uint_eq(run.start, 80);
    ck_assert(arena_free_run_below(a, 80, &run));
    ck_assert_uint_eq(run.start, 50);
    ck_assert(!arena_free_run_below(a, 10, &run));
    arena_destroy(a);
}
END_TEST

START_TEST(stamps_keep_the_newest_and_survive_splits)
{
    arena *a = new_arena(30);
    for (int i = 0; i < 3; i++)
        alloc_ok(a, 10);
    free_ok(a, 20, 10, 500);
    free_ok(a, 0, 10, 100);
    free_ok(a, 10, 10, 300); /* older than the right part */
    arena_run run;
    ck_assert(arena_free_run_below(a, UINT64_MAX, &run));
    assert_run(&run, 0, 30, 500);
    ck_assert_uint_eq(alloc_ok(a, 7), 0);
    ck_assert(arena_free_run_below(a, UINT64_MAX, &run));
    assert_run(&run, 7, 23, 500);
    free_ok(a, 0, 7, 900);
    ck_assert(arena_free_run_below(a, UINT64_MAX, &run));
    assert_run(&run, 0, 30, 900);
    arena_destroy(a);
}
END_TEST

/* --- taking ranges out, idle runs, unmerged arenas ------------------------ */

START_TEST(take_shrinks_a_run_from_either_end_or_splits_it)
{
    arena *a = new_arena(100);
    ck_assert_int_eq(arena_take(a, 0, 10), 0);
    ck_assert_int_eq(arena_take(a, 90, 10), 0);
    ck_assert(arena_check(a));
    ck_assert_uint_eq(arena_free_pages(a), 80);
    ck_assert_uint_eq(arena_largest_free(a), 80);
    ck_assert_int_eq(arena_take(a, 40, 10), 0);
    ck_assert(arena_check(a));
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 2);
    assert_run(&runs[0], 10, 30, 0);
    assert_run(&runs[1], 50, 40, 0);
    ck_assert_uint_eq(arena_largest_free(a), 40);
    /* A whole run goes, and the taken pages free again like any others. */
    ck_assert_int_eq(arena_take(a, 10, 30), 0);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    free_ok(a, 0, 50, 7);
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 1);
    assert_run(&runs[0], 0, 90, 7);
    arena_destroy(a);
}
END_TEST

START_TEST(bad_takes_are_refused_and_change_nothing)
{
    arena *a = new_arena(100);
    alloc_ok(a, 20);
    free_ok(a, 5, 5, 3); /* free runs [5,10) and [20,100) */
    ck_assert_int_eq(arena_take(a, 0, 5), -EINVAL);     /* allocated */
    ck_assert_int_eq(arena_take(a, 8, 4), -EINVAL);     /* runs past its run */
    ck_assert_int_eq(arena_take(a, 5, 20), -EINVAL);    /* spans two runs */
    ck_assert_int_eq(arena_take(a, 30, 0), -EINVAL);
    ck_assert_int_eq(arena_take(a, 100, 1), -EINVAL);
    ck_assert_int_eq(arena_take(a, 99, 2), -EINVAL);
    ck_assert_int_eq(arena_take(a, 50, UINT64_MAX), -EINVAL);
    ck_assert(arena_check(a));
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 2);
    assert_run(&runs[0], 5, 5, 3);
    assert_run(&runs[1], 20, 80, 0);
    arena_destroy(a);
}
END_TEST

START_TEST(highest_run_by_finds_the_highest_idle_run)
{
    arena *a = NULL;
    ck_assert_int_eq(arena_new_unmerged(100, &a), 0);
    arena_run run;
    uint64_t oldest;
    ck_assert(!arena_highest_run_by(a, UINT64_MAX, &run));
    ck_assert(!arena_oldest_stamp(a, &oldest));
    free_ok(a, 0, 10, 40);
    free_ok(a, 20, 10, 10);
    free_ok(a, 50, 10, 30);
    free_ok(a, 80, 10, 20);
    ck_assert(arena_oldest_stamp(a, &oldest));
    ck_assert_uint_eq(oldest, 10);
    ck_assert(!arena_highest_run_by(a, 9, &run));
    ck_assert(arena_highest_run_by(a, 10, &run));
    assert_run(&run, 20, 10, 10);
    ck_assert(arena_highest_run_by(a, 29, &run));
    assert_run(&run, 80, 10, 20);
    ck_assert(arena_highest_run_by(a, 35, &run));
    assert_run(&run, 80, 10, 20);
    /* The scavenger's step: the top of the highest idle run goes. */
    ck_assert_int_eq(arena_take(a, 85, 5), 0);
    ck_assert(arena_highest_run_by(a, 35, &run));
    assert_run(&run, 80, 5, 20);
    ck_assert_int_eq(arena_take(a, 80, 5), 0);
    ck_assert(arena_highest_run_by(a, 35, &run));
    assert_run(&run, 50, 10, 30);
    ck_assert_int_eq(arena_take(a, 20, 10), 0);
    ck_assert(arena_oldest_stamp(a, &oldest));
    ck_assert_uint_eq(oldest, 30);
    ck_assert(arena_check(a));
    arena_destroy(a);
}
END_TEST

START_TEST(unmerged_arena_keeps_every_freed_range_apart)
{
    arena *a = NULL;
    ck_assert_int_eq(arena_new_unmerged(0, &a), -EINVAL);
    ck_assert_int_eq(arena_new_unmerged(64, &a), 0);
    ck_assert_uint_eq(arena_free_pages(a), 0);
    ck_assert_uint_eq(arena_free_runs(a), 0);
    ck_assert_uint_eq(arena_largest_free(a), 0);
    ck_assert(arena_check(a));
    free_ok(a, 0, 8, 5);
    free_ok(a, 8, 8, 5);
    free_ok(a, 16, 8, 9);
    ck_assert_int_eq(arena_free(a, 4, 8, 1), -EINVAL);
    arena_run runs[4];
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 3);
    assert_run(&runs[0], 0, 8, 5);
    assert_run(&runs[1], 8, 8, 5);
    assert_run(&runs[2], 16, 8, 9);
    ck_assert_uint_eq(arena_largest_free(a), 8);
    /* Each run is what was freed: taking one leaves its neighbours be. */
    ck_assert_int_eq(arena_take(a, 8, 8), 0);
    ck_assert_int_eq(arena_take(a, 4, 8), -EINVAL);
    ck_assert_uint_eq(free_runs_of(a, runs, 4), 2);
    assert_run(&runs[0], 0, 8, 5);
    assert_run(&runs[1], 16, 8, 9);
    ck_assert(arena_check(a));
    arena_destroy(a);
}
END_TEST

/* --- randomized comparison with a page bitmap ---------------------------- */

enum { MODEL_PAGES = 2048, RANDOM_STEPS = 20000 };

typedef struct model {
    bool free[MODEL_PAGES];
    uint64_t stamp[MODEL_PAGES]; /* of free pages: their run's stamp */
} model;

typedef struct block {
    uint64_t start, npages;
} block;

typedef struct random_run {
    arena *a;
    model m;
    block live[RANDOM_STEPS + 1]; /* a step adds at most one entry */
    size_t nlive;
    uint64_t seed;
} random_run;

static uint64_t next_random(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t random_below(random_run *r, uint64_t n)
{
    return next_random(&r->seed) % n;
}

static int model_alloc(model *m, uint64_t npages, uint64_t *start)
{
    uint64_t length = 0;
    for (uint64_t p = 0; p < MODEL_PAGES; p++) {
        length = m->free[p] ? length + 1 : 0;
        if (length == npages) {
            *start = p + 1 - npages;
            memset(&m->free[*start], 0, npages * sizeof m->free[0]);
            return 0;
        }
    }
    return -ENOMEM;
}

static bool model_range_allocated(const model *m, uint64_t start, uint64_t npages)
{
    if (npages == 0 || start >= MODEL_PAGES || npages > MODEL_PAGES - start)
        return false;
    for (uint64_t p = start; p < start + npages; p++)
        if (m->free[p])
            return false;
    return true;
}

static int model_free(model *m, uint64_t start, uint64_t npages, uint64_t stamp)
{
    if (!model_range_allocated(m, start, npages))
        return -EINVAL;
    uint64_t lo = start, hi = start + npages, newest = stamp;
    for (uint64_t p = start; p < hi; p++)
        m->free[p] = true;
    while (lo > 0 && m->free[lo - 1])
        lo--;
    while (hi < MODEL_PAGES && m->free[hi])
        hi++;
    for (uint64_t p = lo; p < hi; p++)
        if (!(p >= start && p < start + npages) && m->stamp[p] > newest)
            newest = m->stamp[p];
    for (uint64_t p = lo; p < hi; p++)
        m->stamp[p] = newest;
    return 0;
}

static size_t model_runs(const model *m, arena_run *runs)
{
    size_t n = 0;
    for (uint64_t p = 0; p < MODEL_PAGES; p++) {
        if (!m->free[p])
            continue;
        if (p > 0 && m->free[p - 1]) {
            runs[n - 1].npages++;
            continue;
        }
        runs[n++] = (arena_run){ .start = p, .npages = 1, .stamp = m->stamp[p] };
    }
    return n;
}

static bool same_as_model(const random_run *r)
{
    static arena_run expected[MODEL_PAGES], got[MODEL_PAGES];
    size_t n = model_runs(&r->m, expected);
    if (free_runs_of(r->a, got, MODEL_PAGES) != n ||
        memcmp(expected, got, n * sizeof expected[0]) != 0)
        return false;
    uint64_t pages = 0, largest = 0;
    for (size_t i = 0; i < n; i++) {
        pages += expected[i].npages;
        if (expected[i].npages > largest)
            largest = expected[i].npages;
    }
    return arena_check(r->a) && arena_free_pages(r->a) == pages &&
           arena_free_runs(r->a) == n && arena_largest_free(r->a) == largest;
}

static bool both_free(random_run *r, uint64_t start, uint64_t npages)
{
    uint64_t stamp = random_below(r, 1000);
    int expected = model_free(&r->m, start, npages, stamp);
    return arena_free(r->a, start, npages, stamp) == expected;
}

static bool random_alloc(random_run *r)
{
    uint64_t npages = random_below(r, 10) == 0 ? 1 + random_below(r, 256)
                                               : 1 + random_below(r, 16);
    uint64_t expected_start = 0, start = 0;
    int expected = model_alloc(&r->m, npages, &expected_start);
    if (arena_alloc(r->a, npages, &start) != expected)
        return false;
    if (expected < 0)
        return true;
    r->live[r->nlive++] = (block){ start, npages };
    return start == expected_start;
}

/* Frees a live block, whole or a middle part of it (the rest stays live).
 * Random frees may have freed part of it already: then both must refuse. */
static bool random_block_free(random_run *r)
{
    if (r->nlive == 0)
        return true;
    size_t i = random_below(r, r->nlive);
    block b = r->live[i];
    r->live[i] = r->live[--r->nlive];
    if (b.npages < 3 || random_below(r, 4) != 0)
        return both_free(r, b.start, b.npages);
    uint64_t offset = 1 + random_below(r, b.npages - 2);
    uint64_t length = 1 + random_below(r, b.npages - offset - 1);
    r->live[r->nlive++] = (block){ b.start, offset };
    r->live[r->nlive++] = (block){ b.start + offset + length,
                                   b.npages - offset - length };
    return both_free(r, b.start + offset, length);
}

/* Frees the allocated stretch around a random page (the pages of blocks
 * whose entries were dropped are found again this way). */
static bool random_stretch_free(random_run *r)
{
    uint64_t lo = random_below(r, MODEL_PAGES), hi = lo;
    if (r->m.free[lo])
        return true;
    while (lo > 0 && !r->m.free[lo - 1] && hi - lo < 40)
        lo--;
    while (hi + 1 < MODEL_PAGES && !r->m.free[hi + 1] && hi - lo < 80)
        hi++;
    return both_free(r, lo, hi - lo + 1);
}

/* false when the arena's answer differs from the model's */
static bool random_step(random_run *r)
{
    uint64_t choice = random_below(r, 100);
    if (choice < 45)
        return random_alloc(r);
    if (choice < 80)
        return random_block_free(r);
    if (choice < 90)
        return random_stretch_free(r);
    return both_free(r, random_below(r, MODEL_PAGES + 8), random_below(r, 20));
}

START_TEST(random_operations_match_a_bitmap_model)
{
    static random_run r;
    memset(&r, 0, sizeof r);
    r.a = new_arena(MODEL_PAGES);
    r.seed = 0x5eed;
    for (uint64_t p = 0; p < MODEL_PAGES; p++)
        r.m.free[p] = true;
    int step = 0;
    while (step < RANDOM_STEPS && random_step(&r) && same_as_model(&r))
        step++;
    ck_assert_int_eq(step, RANDOM_STEPS);
    arena_destroy(r.a);
}
END_TEST

/* --- an unmerged arena against a model of stamped runs -------------------- */

enum { RUNS_PAGES = 1024, RUNS_STEPS = 20000 };

typedef struct runs_model {
    uint64_t run_start[RUNS_PAGES]; /* of free pages: where their run starts */
    bool free[RUNS_PAGES];
    uint64_t stamp[RUNS_PAGES];
} runs_model;

typedef struct runs_random {
    arena *a;
    runs_model m;
    uint64_t seed;
} runs_random;

static uint64_t runs_below(runs_random *r, uint64_t n) { return next_random(&r->seed) % n; }

static uint64_t model_run_end(const runs_model *m, uint64_t p)
{
    uint64_t start = m->run_start[p];
    while (p < RUNS_PAGES && m->free[p] && m->run_start[p] == start)
        p++;
    return p;
}

static void model_set_run(runs_model *m, uint64_t start, uint64_t end, uint64_t stamp)
{
    for (uint64_t p = start; p < end; p++) {
        m->free[p] = true;
        m->run_start[p] = start;
        m->stamp[p] = stamp;
    }
}

static bool runs_random_free(runs_random *r)
{
    uint64_t start = runs_below(r, RUNS_PAGES), npages = 1 + runs_below(r, 24);
    uint64_t stamp = runs_below(r, 1000);
    bool ok = start + npages <= RUNS_PAGES;
    for (uint64_t p = start; ok && p < start + npages; p++)
        ok = !r->m.free[p];
    if (ok)
        model_set_run(&r->m, start, start + npages, stamp);
    return arena_free(r->a, start, npages, stamp) == (ok ? 0 : -EINVAL);
}

/* Takes the top, the bottom, the middle or the whole of a random run, or a
 * range that crosses a run's end (refused). */
static bool runs_random_take(runs_random *r)
{
    uint64_t p = runs_below(r, RUNS_PAGES);
    if (!r->m.free[p])
        return arena_take(r->a, p, 1) == -EINVAL;
    uint64_t start = r->m.run_start[p], end = model_run_end(&r->m, p);
    uint64_t from = start + runs_below(r, end - start);
    uint64_t to = from + 1 + runs_below(r, end - from + 1);
    if (to > end)
        return arena_take(r->a, from, to - from) == -EINVAL;
    int rc = arena_take(r->a, from, to - from);
    if (rc != 0)
        return false;
    uint64_t stamp = r->m.stamp[p];
    for (uint64_t q = from; q < to; q++)
        r->m.free[q] = false;
    if (to < end)
        model_set_run(&r->m, to, end, stamp);
    return true;
}

/* The highest run stamped at or before a random time, and the oldest stamp,
 * both as a scan of the model finds them. */
static bool runs_random_query(runs_random *r)
{
    uint64_t limit = runs_below(r, 1100), oldest = UINT64_MAX;
    bool want = false;
    arena_run expected = { 0 }, got;
    for (uint64_t p = RUNS_PAGES; p-- > 0;) {
        if (!r->m.free[p])
            continue;
        if (r->m.stamp[p] < oldest)
            oldest = r->m.stamp[p];
        if (!want && r->m.stamp[p] <= limit) {
            want = true;
            uint64_t start = r->m.run_start[p];
            expected = (arena_run){ start, p + 1 - start, r->m.stamp[p] };
        }
    }
    uint64_t got_oldest = UINT64_MAX;
    if (arena_oldest_stamp(r->a, &got_oldest) != (oldest != UINT64_MAX) ||
        got_oldest != oldest)
        return false;
    if (arena_highest_run_by(r->a, limit, &got) != want)
        return false;
    return !want || memcmp(&got, &expected, sizeof got) == 0;
}

START_TEST(random_unmerged_operations_match_a_model)
{
    static runs_random r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(arena_new_unmerged(RUNS_PAGES, &r.a), 0);
    r.seed = 0xacce55;
    int step = 0;
    for (; step < RUNS_STEPS; step++) {
        uint64_t choice = runs_below(&r, 10);
        bool ok = choice < 4 ? runs_random_free(&r)
                  : choice < 8 ? runs_random_take(&r) : runs_random_query(&r);
        if (!ok || !arena_check(r.a))
            break;
    }
    ck_assert_int_eq(step, RUNS_STEPS);
    arena_destroy(r.a);
}
END_TEST

/* --- a large arena ------------------------------------------------------- */

enum { LARGE_BLOCKS = 200000 };
#define LARGE_PAGES (UINT64_C(1) << 24)

static uint64_t large_size(int i) { return (uint64_t)(i % 8) + 1; }

START_TEST(a_large_arena_with_many_small_blocks)
{
    arena *a = new_arena(LARGE_PAGES);
    uint64_t *starts = malloc(LARGE_BLOCKS * sizeof *starts);
    ck_assert_ptr_nonnull(starts);
    /* Counted, not ck_assert'ed one by one: see free_runs_of. */
    uint64_t used = 0;
    int wrong = 0;
    for (int i = 0; i < LARGE_BLOCKS; i++) {
        wrong += arena_alloc(a, large_size(i), &starts[i]) != 0 || starts[i] != used;
        used += large_size(i);
    }
    ck_assert_int_eq(wrong, 0);
    /* Holes of 1, 3, 5 and 7 pages at every even block. */
    for (int i = 0; i < LARGE_BLOCKS; i += 2)
        wrong += arena_free(a, starts[i], large_size(i), (uint64_t)i) != 0;
    ck_assert_int_eq(wrong, 0);
    ck_assert_uint_eq(arena_free_runs(a), LARGE_BLOCKS / 2 + 1);
    ck_assert_uint_eq(arena_largest_free(a), LARGE_PAGES - used);
    ck_assert(arena_check(a));

    uint64_t start;
    ck_assert_int_eq(arena_alloc(a, 8, &start), 0);
    ck_assert_uint_eq(start, used); /* no hole holds 8 pages */
    ck_assert_int_eq(arena_alloc(a, 7, &start), 0);
    ck_assert_uint_eq(start, starts[6]); /* the first 7-page hole */
    ck_assert_int_eq(arena_free(a, start, 7, 6), 0);
    ck_assert_int_eq(arena_free(a, used, 8, 0), 0);

    arena_run run;
    ck_assert(arena_free_run_below(a, starts[LARGE_BLOCKS / 2], &run));
    ck_assert_uint_eq(run.start, starts[LARGE_BLOCKS / 2 - 2]);
    ck_assert_uint_eq(run.stamp, LARGE_BLOCKS / 2 - 2);

    for (int i = 1; i < LARGE_BLOCKS; i += 2)
        wrong += arena_free(a, starts[i], large_size(i), 0) != 0;
    ck_assert_int_eq(wrong, 0);
    ck_assert_uint_eq(arena_free_runs(a), 1);
    ck_assert_uint_eq(arena_free_pages(a), LARGE_PAGES);
    ck_assert_uint_eq(arena_largest_free(a), LARGE_PAGES);
    ck_assert(arena_free_run_below(a, UINT64_MAX, &run));
    ck_assert_uint_eq(run.stamp, LARGE_BLOCKS - 2);
    ck_assert(arena_check(a));
    free(starts);
    arena_destroy(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, new_arena_is_one_free_run);
    tcase_add_test(tc, allocations_go_lowest_first_and_split_runs);
    tcase_add_test(tc, free_coalesces_with_the_left_run);
    tcase_add_test(tc, free_coalesces_with_the_right_run);
    tcase_add_test(tc, free_coalesces_with_both_runs);
    tcase_add_test(tc, bad_frees_are_refused_and_change_nothing);
    tcase_add_test(tc, fragmentation_gives_enomem_despite_free_pages);
    tcase_add_test(tc, largest_free_follows_every_change);
    tcase_add_test(tc, iteration_walks_down_from_the_highest_run);
    tcase_add_test(tc, stamps_keep_the_newest_and_survive_splits);
    tcase_add_test(tc, take_shrinks_a_run_from_either_end_or_splits_it);
    tcase_add_test(tc, bad_takes_are_refused_and_change_nothing);
    tcase_add_test(tc, highest_run_by_finds_the_highest_idle_run);
    tcase_add_test(tc, unmerged_arena_keeps_every_freed_range_apart);
    tcase_add_test(tc, random_operations_match_a_bitmap_model);
    tcase_add_test(tc, random_unmerged_operations_match_a_model);
    tcase_add_test(tc, a_large_arena_with_many_small_blocks);
    suite_add_tcase(s, tc);
    return check_run(s);
}
