/* The free runs of an arena in an AVL tree keyed by start. Each node also
 * holds the longest run in its subtree, which lets first fit by address
 * descend in O(log n) instead of scanning the runs (the job of the summary
 * levels of Go's pageAlloc radix tree), and the oldest stamp in its
 * subtree, which lets the scavenger find the highest idle run the same way
 * (the job of Go's scavengeIndex).
 *
 * Nodes keep their identity while the tree changes shape (a removal relinks
 * the successor rather than copying it), so a pointer found by a lookup
 * stays valid across the removal of another node. */
#include "arena.h"

#include <errno.h>
#include <stdlib.h>

typedef struct arena_node {
    struct arena_node *left, *right;
    uint64_t start, npages, stamp;
    uint64_t longest; /* the longest run in this subtree */
    uint64_t oldest;  /* the smallest stamp in this subtree */
    int height;
} arena_node;

struct arena {
    arena_node *root;
    uint64_t npages;
    uint64_t free_pages;
    uint64_t free_runs;
    bool coalesce; /* false: each freed range stays a run of its own */
};

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static int height_of(const arena_node *n) { return n ? n->height : 0; }

static uint64_t longest_of(const arena_node *n) { return n ? n->longest : 0; }

static uint64_t oldest_of(const arena_node *n) { return n ? n->oldest : UINT64_MAX; }

static uint64_t run_end(const arena_node *n) { return n->start + n->npages; }

static int subtree_height(const arena_node *n)
{
    int left = height_of(n->left), right = height_of(n->right);
    return 1 + (left > right ? left : right);
}

static uint64_t subtree_longest(const arena_node *n)
{
    return max_u64(n->npages, max_u64(longest_of(n->left), longest_of(n->right)));
}

static uint64_t subtree_oldest(const arena_node *n)
{
    return min_u64(n->stamp, min_u64(oldest_of(n->left), oldest_of(n->right)));
}

/* The annotations that depend on the node's own run, not on the shape. */
static void node_annotate(arena_node *n)
{
    n->longest = subtree_longest(n);
    n->oldest = subtree_oldest(n);
}

static void node_update(arena_node *n)
{
    n->height = subtree_height(n);
    node_annotate(n);
}

static arena_node *node_new(uint64_t start, uint64_t npages, uint64_t stamp)
{
    arena_node *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    *n = (arena_node){ .start = start, .npages = npages, .stamp = stamp,
                       .longest = npages, .oldest = stamp, .height = 1 };
    return n;
}

static void subtree_free(arena_node *n)
{
    if (!n)
        return;
    subtree_free(n->left);
    subtree_free(n->right);
    free(n);
}

static arena_node *rotate_right(arena_node *n)
{
    arena_node *pivot = n->left;
    n->left = pivot->right;
    pivot->right = n;
    node_update(n);
    node_update(pivot);
    return pivot;
}

static arena_node *rotate_left(arena_node *n)
{
    arena_node *pivot = n->right;
    n->right = pivot->left;
    pivot->left = n;
    node_update(n);
    node_update(pivot);
    return pivot;
}

/* Restores the AVL balance of n (whose subtrees are balanced and differ in
 * height by at most 2) and returns the subtree's new root. */
static arena_node *rebalance(arena_node *n)
{
    node_update(n);
    int balance = height_of(n->left) - height_of(n->right);
    if (balance > 1) {
        if (height_of(n->left->left) < height_of(n->left->right))
            n->left = rotate_left(n->left);
        return rotate_right(n);
    }
    if (balance < -1) {
        if (height_of(n->right->right) < height_of(n->right->left))
            n->right = rotate_right(n->right);
        return rotate_left(n);
    }
    return n;
}

static arena_node *tree_insert(arena_node *root, arena_node *n)
{
    if (!root)
        return n;
    if (n->start < root->start)
        root->left = tree_insert(root->left, n);
    else
        root->right = tree_insert(root->right, n);
    return rebalance(root);
}

static arena_node *tree_detach_min(arena_node *root, arena_node **min)
{
    if (!root->left) {
        *min = root;
        return root->right;
    }
    root->left = tree_detach_min(root->left, min);
    return rebalance(root);
}

/* Unlinks the node starting at `start`, which must be in the tree; freeing
 * it is the caller's. */
static arena_node *tree_detach(arena_node *root, uint64_t start)
{
    if (start < root->start) {
        root->left = tree_detach(root->left, start);
    } else if (start > root->start) {
        root->right = tree_detach(root->right, start);
    } else {
        if (!root->left || !root->right)
            return root->left ? root->left : root->right;
        arena_node *successor;
        arena_node *rest = tree_detach_min(root->right, &successor);
        successor->right = rest;
        successor->left = root->left;
        return rebalance(successor);
    }
    return rebalance(root);
}

/* Recomputes the annotations from the node at `start` up to the root,
 * after that node's length or stamp changed in place. A start moved in place
 * follows the same path as long as it crossed no other run's start, which
 * splitting or growing a run into pages no other run holds never does. */
static void tree_refresh(arena_node *root, uint64_t start)
{
    if (start < root->start)
        tree_refresh(root->left, start);
    else if (start > root->start)
        tree_refresh(root->right, start);
    node_annotate(root);
}

static arena_node *find_below(arena_node *n, uint64_t before)
{
    arena_node *best = NULL;
    while (n) {
        if (n->start < before) {
            best = n;
            n = n->right;
        } else {
            n = n->left;
        }
    }
    return best;
}

static arena_node *find_exact(arena_node *n, uint64_t start)
{
    while (n && n->start != start)
        n = start < n->start ? n->left : n->right;
    return n;
}

/* The lowest-addressed run of at least npages: go left while the left
 * subtree has one, since everything there is at a lower address. */
static arena_node *first_fit(arena_node *n, uint64_t npages)
{
    if (longest_of(n) < npages)
        return NULL;
    for (;;) {
        if (longest_of(n->left) >= npages)
            n = n->left;
        else if (n->npages >= npages)
            return n;
        else
            n = n->right;
    }
}

int arena_new(uint64_t npages, arena **out)
{
    if (npages == 0)
        return -EINVAL;
    arena *a = malloc(sizeof *a);
    arena_node *all = node_new(0, npages, 0);
    if (!a || !all) {
        free(a);
        free(all);
        return -ENOMEM;
    }
    *a = (arena){ .root = all, .npages = npages, .free_pages = npages,
                  .free_runs = 1, .coalesce = true };
    *out = a;
    return 0;
}

int arena_new_unmerged(uint64_t npages, arena **out)
{
    if (npages == 0)
        return -EINVAL;
    arena *a = malloc(sizeof *a);
    if (!a)
        return -ENOMEM;
    *a = (arena){ .npages = npages };
    *out = a;
    return 0;
}

void arena_destroy(arena *a)
{
    if (!a)
        return;
    subtree_free(a->root);
    free(a);
}

int arena_alloc(arena *a, uint64_t npages, uint64_t *start)
{
    if (npages == 0)
        return -EINVAL;
    arena_node *run = first_fit(a->root, npages);
    if (!run)
        return -ENOMEM;
    *start = run->start;
    a->free_pages -= npages;
    if (run->npages == npages) {
        a->root = tree_detach(a->root, run->start);
        free(run);
        a->free_runs--;
    } else {
        run->start += npages;
        run->npages -= npages;
        tree_refresh(a->root, run->start);
    }
    return 0;
}

static void merge_both(arena *a, arena_node *left, arena_node *right,
                       uint64_t npages, uint64_t stamp)
{
    left->npages += npages + right->npages;
    left->stamp = max_u64(stamp, max_u64(left->stamp, right->stamp));
    a->root = tree_detach(a->root, right->start);
    free(right);
    tree_refresh(a->root, left->start);
    a->free_runs--;
}

static void grow_left_run(arena *a, arena_node *left, uint64_t npages, uint64_t stamp)
{
    left->npages += npages;
    left->stamp = max_u64(stamp, left->stamp);
    tree_refresh(a->root, left->start);
}

static void grow_right_run(arena *a, arena_node *right, uint64_t start,
                           uint64_t npages, uint64_t stamp)
{
    right->start = start;
    right->npages += npages;
    right->stamp = max_u64(stamp, right->stamp);
    tree_refresh(a->root, right->start);
}

static int insert_run(arena *a, uint64_t start, uint64_t npages, uint64_t stamp)
{
    arena_node *run = node_new(start, npages, stamp);
    if (!run)
        return -ENOMEM;
    a->root = tree_insert(a->root, run);
    a->free_runs++;
    return 0;
}

int arena_free(arena *a, uint64_t start, uint64_t npages, uint64_t stamp)
{
    if (npages == 0 || start >= a->npages || npages > a->npages - start)
        return -EINVAL;
    uint64_t end = start + npages;
    /* Runs are disjoint and sorted, so only the last run starting before
     * `end` can overlap the range. */
    arena_node *left = find_below(a->root, end);
    if (left && run_end(left) > start)
        return -EINVAL;
    if (left && run_end(left) != start)
        left = NULL;
    arena_node *right = find_exact(a->root, end);
    if (!a->coalesce)
        left = right = NULL;
    if (left && right)
        merge_both(a, left, right, npages, stamp);
    else if (left)
        grow_left_run(a, left, npages, stamp);
    else if (right)
        grow_right_run(a, right, start, npages, stamp);
    else if (insert_run(a, start, npages, stamp) < 0)
        return -ENOMEM;
    a->free_pages += npages;
    return 0;
}

uint64_t arena_npages(const arena *a) { return a->npages; }

uint64_t arena_largest_free(const arena *a) { return longest_of(a->root); }

uint64_t arena_free_pages(const arena *a) { return a->free_pages; }

uint64_t arena_free_runs(const arena *a) { return a->free_runs; }

bool arena_free_run_below(const arena *a, uint64_t before, arena_run *out)
{
    const arena_node *run = find_below(a->root, before);
    if (!run)
        return false;
    *out = (arena_run){ .start = run->start, .npages = run->npages,
                        .stamp = run->stamp };
    return true;
}

/* The run holding page `start`, if it is free. */
static arena_node *run_holding(arena_node *root, uint64_t start)
{
    arena_node *n = find_below(root, start + 1);
    return n && run_end(n) > start ? n : NULL;
}

/* Takes the middle out of a run: the part above becomes a run of its own
 * with the same stamp. */
static int split_out(arena *a, arena_node *run, uint64_t start, uint64_t end)
{
    arena_node *above = node_new(end, run_end(run) - end, run->stamp);
    if (!above)
        return -ENOMEM;
    run->npages = start - run->start;
    tree_refresh(a->root, run->start);
    a->root = tree_insert(a->root, above);
    a->free_runs++;
    return 0;
}

int arena_take(arena *a, uint64_t start, uint64_t npages)
{
    if (npages == 0 || start >= a->npages || npages > a->npages - start)
        return -EINVAL;
    uint64_t end = start + npages;
    arena_node *run = run_holding(a->root, start);
    if (!run || run_end(run) < end)
        return -EINVAL;
    if (run->start == start && run_end(run) == end) {
        a->root = tree_detach(a->root, start);
        free(run);
        a->free_runs--;
    } else if (run->start == start) {
        run->start = end;
        run->npages -= npages;
        tree_refresh(a->root, run->start);
    } else if (run_end(run) == end) {
        run->npages -= npages;
        tree_refresh(a->root, run->start);
    } else if (split_out(a, run, start, end) < 0) {
        return -ENOMEM;
    }
    a->free_pages -= npages;
    return 0;
}

/* Descends towards the highest address while the subtree there still holds
 * a run stamped at or before stamp_max; the annotation says where one is. */
static const arena_node *highest_by(const arena_node *n, uint64_t stamp_max)
{
    if (!n || n->oldest > stamp_max)
        return NULL;
    for (;;) {
        if (n->right && n->right->oldest <= stamp_max)
            n = n->right;
        else if (n->stamp <= stamp_max)
            return n;
        else
            n = n->left;
    }
}

bool arena_highest_run_by(const arena *a, uint64_t stamp_max, arena_run *out)
{
    const arena_node *run = highest_by(a->root, stamp_max);
    if (!run)
        return false;
    *out = (arena_run){ .start = run->start, .npages = run->npages,
                        .stamp = run->stamp };
    return true;
}

bool arena_oldest_stamp(const arena *a, uint64_t *stamp)
{
    if (!a->root)
        return false;
    *stamp = a->root->oldest;
    return true;
}

typedef struct check_walk {
    const arena *a;
    bool has_prev;
    uint64_t prev_end;
    uint64_t pages, runs;
} check_walk;

static bool run_is_valid(const arena_node *n, const check_walk *w)
{
    if (n->npages == 0 || n->npages > w->a->npages ||
        n->start > w->a->npages - n->npages)
        return false;
    if (!w->has_prev || n->start > w->prev_end)
        return true;
    /* Touching runs would have been coalesced into one, unless the arena
     * keeps each freed range apart. */
    return !w->a->coalesce && n->start == w->prev_end;
}

/* The subtree's height, or -1 when an invariant is broken in it. */
static int check_subtree(const arena_node *n, check_walk *w)
{
    if (!n)
        return 0;
    int left = check_subtree(n->left, w);
    if (left < 0 || !run_is_valid(n, w))
        return -1;
    w->has_prev = true;
    w->prev_end = run_end(n);
    w->pages += n->npages;
    w->runs++;
    int right = check_subtree(n->right, w);
    if (right < 0 || left - right > 1 || right - left > 1)
        return -1;
    if (n->height != subtree_height(n) || n->longest != subtree_longest(n) ||
        n->oldest != subtree_oldest(n))
        return -1;
    return n->height;
}

bool arena_check(const arena *a)
{
    check_walk w = { .a = a };
    if (check_subtree(a->root, &w) < 0)
        return false;
    return w.pages == a->free_pages && w.runs == a->free_runs &&
           a->free_pages <= a->npages;
}
