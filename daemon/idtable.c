#include "idtable.h"

#include <errno.h>
#include <stdlib.h>

/* Per put or remove while resizing: entries moved, and slots looked at. */
#define DRAIN_ENTRIES 8
#define DRAIN_SLOTS 64
#define MIN_CAP 64

/* A 64-bit mix (splitmix64's finalizer): block ids are sequential and
 * would otherwise cluster in neighbouring slots. */
static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void idtable_init(idtable *t) { *t = (idtable){ 0 }; }

void idtable_destroy(idtable *t)
{
    free(t->now_keys);
    free(t->now_values);
    free(t->old_keys);
    free(t->old_values);
    idtable_init(t);
}

static size_t find_slot(const uint64_t *keys, size_t cap, uint64_t key)
{
    size_t i = slot_of(key, cap);
    while (keys[i] != 0 && keys[i] != key)
        i = (i + 1) & (cap - 1);
    return i;
}

/* The slot holding key in one pair of arrays, or cap. */
static size_t lookup(const uint64_t *keys, size_t cap, uint64_t key)
{
    if (cap == 0)
        return cap;
    size_t i = find_slot(keys, cap, key);
    return keys[i] == key ? i : cap;
}

/* Backward-shift deletion of slot i: pull later entries of the probe run
 * into the hole, so lookups never need tombstones. */
static void remove_at(uint64_t *keys, void **values, size_t cap, size_t i)
{
    size_t mask = cap - 1;
    for (size_t j = (i + 1) & mask; keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(keys[j], cap);
        /* Move j into the hole i unless j's home lies cyclically in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            keys[i] = keys[j];
            values[i] = values[j];
            i = j;
        }
    }
    keys[i] = 0;
    values[i] = NULL;
}

static void insert_now(idtable *t, uint64_t key, void *value)
{
    size_t i = find_slot(t->now_keys, t->now_cap, key);
    t->now_keys[i] = key;
    t->now_values[i] = value;
}

/* Moves a few old entries over. The old slots below drain_at stay empty:
 * an entry is only ever taken at drain_at, and backward shifts move
 * entries into holes at or above it (the slots below are empty, so no
 * probe run wraps into them). */
static void drain(idtable *t, size_t entries, size_t slots)
{
    while (t->old_count > 0 && entries > 0 && slots > 0) {
        size_t i = t->drain_at;
        if (t->old_keys[i] == 0) {
            t->drain_at++;
            slots--;
            continue;
        }
        uint64_t key = t->old_keys[i];
        void *value = t->old_values[i];
        remove_at(t->old_keys, t->old_values, t->old_cap, i);
        t->old_count--;
        insert_now(t, key, value);
        entries--;
    }
    if (t->old_count == 0 && t->old_cap > 0) {
        free(t->old_keys);
        free(t->old_values);
        t->old_keys = NULL;
        t->old_values = NULL;
        t->old_cap = t->drain_at = 0;
    }
}

/* New arrays of cap slots; the current ones are emptied into them a few
 * entries per call. A resize still under way is finished first (the
 * thresholds leave time for it to end on its own: see idtable.h). */
static int resize(idtable *t, size_t cap)
{
    uint64_t *keys = calloc(cap, sizeof *keys);
    void **values = calloc(cap, sizeof *values);
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return -ENOMEM;
    }
    drain(t, SIZE_MAX, SIZE_MAX);
    t->old_keys = t->now_keys;
    t->old_values = t->now_values;
    t->old_cap = t->now_cap;
    t->old_count = t->count;
    t->drain_at = 0;
    t->now_keys = keys;
    t->now_values = values;
    t->now_cap = cap;
    if (t->old_count == 0)
        drain(t, 0, 0);
    return 0;
}

/* The entries in the current arrays, for their load. */
static size_t now_count(const idtable *t) { return t->count - t->old_count; }

int idtable_put(idtable *t, uint64_t key, void *value)
{
    if (key == 0)
        return -EINVAL;
    if (lookup(t->now_keys, t->now_cap, key) != t->now_cap ||
        lookup(t->old_keys, t->old_cap, key) != t->old_cap)
        return -EEXIST;
    /* Keep the load at most 1/2 so probes stay short. */
    if ((now_count(t) + 1) * 2 > t->now_cap &&
        resize(t, t->now_cap ? t->now_cap * 2 : MIN_CAP) != 0)
        return -ENOMEM;
    insert_now(t, key, value);
    t->count++;
    drain(t, DRAIN_ENTRIES, DRAIN_SLOTS);
    return 0;
}

void *idtable_get(const idtable *t, uint64_t key)
{
    if (key == 0)
        return NULL;
    size_t i = lookup(t->now_keys, t->now_cap, key);
    if (i != t->now_cap)
        return t->now_values[i];
    i = lookup(t->old_keys, t->old_cap, key);
    return i != t->old_cap ? t->old_values[i] : NULL;
}

/* A table gives its memory back as it empties: all of it at zero, half of
 * it below a load of 1/8 (moved over a few entries per call, as growth).
 * Out of memory for the smaller arrays, the table keeps the ones it has. */
static void shrink(idtable *t)
{
    if (t->count == 0)
        idtable_destroy(t);
    else if (t->old_cap == 0 && t->now_cap > MIN_CAP && t->count * 8 < t->now_cap)
        (void)resize(t, t->now_cap / 2);
}

void *idtable_remove(idtable *t, uint64_t key)
{
    if (key == 0)
        return NULL;
    void *value;
    size_t i = lookup(t->now_keys, t->now_cap, key);
    if (i != t->now_cap) {
        value = t->now_values[i];
        remove_at(t->now_keys, t->now_values, t->now_cap, i);
    } else if ((i = lookup(t->old_keys, t->old_cap, key)) != t->old_cap) {
        value = t->old_values[i];
        remove_at(t->old_keys, t->old_values, t->old_cap, i);
        t->old_count--;
    } else {
        return NULL;
    }
    t->count--;
    drain(t, DRAIN_ENTRIES, DRAIN_SLOTS);
    shrink(t);
    return value;
}

size_t idtable_slots(const idtable *t) { return t->now_cap + t->old_cap; }

bool idtable_at(const idtable *t, size_t i, uint64_t *key, void **value)
{
    const uint64_t *keys = i < t->now_cap ? t->now_keys : t->old_keys;
    void *const *values = i < t->now_cap ? t->now_values : t->old_values;
    size_t at = i < t->now_cap ? i : i - t->now_cap;
    if (i >= idtable_slots(t) || keys[at] == 0)
        return false;
    if (key != NULL)
        *key = keys[at];
    if (value != NULL)
        *value = values[at];
    return true;
}
