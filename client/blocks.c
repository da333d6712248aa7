#include "blocks.h"

#include <stdlib.h>
#include <string.h>

#include "mempool.h"

#define BLOCK_TABLE_MIN_CAP 16

/* Addresses are page-aligned: drop the low bits, then mix so that
 * neighbouring blocks spread over the table. */
static size_t home_slot(const block_table *t, const void *addr)
{
    uint64_t h = (uint64_t)(uintptr_t)addr >> 12;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & (t->cap - 1);
}

static void place(block_table *t, const held_block *b)
{
    size_t i = home_slot(t, b->addr);
    while (t->slots[i].addr != NULL)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = *b;
    t->count++;
}

static int grow(block_table *t)
{
    size_t cap = t->cap != 0 ? t->cap * 2 : BLOCK_TABLE_MIN_CAP;
    held_block *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return MEMPOOL_ENOMEM;
    block_table old = *t;
    *t = (block_table){ .slots = slots, .cap = cap, .count = 0 };
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].addr != NULL)
            place(t, &old.slots[i]);
    free(old.slots);
    return 0;
}

int block_table_add(block_table *t, const held_block *b)
{
    /* At most three quarters full keeps probe runs short. */
    if ((t->count + 1) * 4 > t->cap * 3) {
        int err = grow(t);
        if (err != 0)
            return err;
    }
    place(t, b);
    return 0;
}

held_block *block_table_find(const block_table *t, const void *addr)
{
    if (t->cap == 0 || addr == NULL)
        return NULL;
    for (size_t i = home_slot(t, addr); t->slots[i].addr != NULL;
         i = (i + 1) & (t->cap - 1))
        if (t->slots[i].addr == addr)
            return &t->slots[i];
    return NULL;
}

/* Backward-shift deletion: entries of the probe run after the hole move
 * into it when the hole lies between their home slot and where they sit,
 * so lookups never need tombstones. */
void block_table_remove(block_table *t, held_block *b)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)(b - t->slots);
    for (size_t i = (hole + 1) & mask; t->slots[i].addr != NULL;
         i = (i + 1) & mask) {
        size_t home = home_slot(t, t->slots[i].addr);
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    memset(&t->slots[hole], 0, sizeof t->slots[hole]);
    t->count--;
}

void block_table_unmap_all(block_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].addr != NULL)
            handoff_unmap(t->slots[i].addr, t->slots[i].size);
    free(t->slots);
    *t = (block_table){ 0 };
}

void block_table_forget(block_table *t)
{
    free(t->slots);
    *t = (block_table){ 0 };
}

static kept_backing *find_backing(const backing_table *t, uint64_t id)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->items[i].id == id)
            return &t->items[i];
    return NULL;
}

int backing_table_put(backing_table *t, uint64_t id, handoff_object obj)
{
    kept_backing *kept = find_backing(t, id);
    if (kept != NULL) {
        handoff_object_close(&kept->obj);
        kept->obj = obj;
        return 0;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 4;
        kept_backing *items = realloc(t->items, cap * sizeof *items);
        if (items == NULL) {
            handoff_object_close(&obj);
            return MEMPOOL_ENOMEM;
        }
        t->items = items;
        t->cap = cap;
    }
    t->items[t->count++] = (kept_backing){ .id = id, .obj = obj };
    return 0;
}

kept_backing *backing_table_get(const backing_table *t, uint64_t id)
{
    return find_backing(t, id);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* Unmaps [base, base+size) but the held blocks inside it: a dead
 * connection's backing would otherwise stay whole in this process (the
 * mapping holds every page of it). */
static void unmap_but_held(const kept_backing *k, const block_table *held)
{
    char *lo = k->base, *hi = lo + k->size;
    size_t n = 0;
    void **starts = held->count ? malloc(held->count * sizeof *starts) : NULL;
    for (size_t i = 0; starts != NULL && i < held->cap; i++) {
        char *a = held->slots[i].addr;
        if (a != NULL && a >= lo && a < hi)
            starts[n++] = a;
    }
    if (held->count != 0 && starts == NULL)
        return; /* out of memory: the mapping stays whole */
    if (n > 1)
        qsort(starts, n, sizeof *starts, by_address);
    char *from = lo;
    for (size_t i = 0; i < n; i++) {
        held_block *b = block_table_find(held, starts[i]);
        if ((char *)starts[i] > from)
            handoff_unmap(from, (size_t)((char *)starts[i] - from));
        from = (char *)starts[i] + b->size;
    }
    if (from < hi)
        handoff_unmap(from, (size_t)(hi - from));
    free(starts);
}

void backing_table_clear(backing_table *t, const block_table *held)
{
    for (size_t i = 0; i < t->count; i++) {
        if (t->items[i].base != NULL)
            unmap_but_held(&t->items[i], held);
        handoff_object_close(&t->items[i].obj);
    }
    t->count = 0;
}

void backing_table_free(backing_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        if (t->items[i].base != NULL)
            handoff_unmap(t->items[i].base, t->items[i].size);
        handoff_object_close(&t->items[i].obj);
    }
    free(t->items);
    *t = (backing_table){ 0 };
}

void held_block_unmap(const held_block *b, uint64_t epoch)
{
    if (b->in_backing_map && b->epoch == epoch)
        return;
    handoff_unmap(b->addr, b->size);
}
