#include "idtable.h"

#include <errno.h>
#include <stdlib.h>

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
    free(t->keys);
    free(t->values);
    idtable_init(t);
}

static size_t find_slot(const idtable *t, uint64_t key)
{
    size_t i = slot_of(key, t->cap);
    while (t->keys[i] != 0 && t->keys[i] != key)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int resize(idtable *t, size_t cap)
{
    idtable bigger = { calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(void *)), cap, t->count };
    if (bigger.keys == NULL || bigger.values == NULL) {
        free(bigger.keys);
        free(bigger.values);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->keys[i] == 0)
            continue;
        size_t j = find_slot(&bigger, t->keys[i]);
        bigger.keys[j] = t->keys[i];
        bigger.values[j] = t->values[i];
    }
    free(t->keys);
    free(t->values);
    *t = bigger;
    return 0;
}

int idtable_put(idtable *t, uint64_t key, void *value)
{
    if (key == 0)
        return -EINVAL;
    /* Keep the load at most 1/2 so probes stay short. */
    if ((t->count + 1) * 2 > t->cap && resize(t, t->cap ? t->cap * 2 : 64) != 0)
        return -ENOMEM;
    size_t i = find_slot(t, key);
    if (t->keys[i] == key)
        return -EEXIST;
    t->keys[i] = key;
    t->values[i] = value;
    t->count++;
    return 0;
}

void *idtable_get(const idtable *t, uint64_t key)
{
    if (key == 0 || t->cap == 0)
        return NULL;
    size_t i = find_slot(t, key);
    return t->keys[i] == key ? t->values[i] : NULL;
}

/* A table gives its memory back as it empties: all of it at zero, half of
 * it below a load of 1/8 (a shrink costs the size of the smaller table,
 * and at least as many removals came before it: amortised O(1)). Out of
 * memory for the smaller arrays, the table keeps the ones it has. */
static void shrink(idtable *t)
{
    if (t->count == 0)
        idtable_destroy(t);
    else if (t->cap > 64 && t->count * 8 < t->cap)
        (void)resize(t, t->cap / 2);
}

/* Backward-shift deletion: pull later entries of the probe run into the
 * hole, so lookups never need tombstones. */
void *idtable_remove(idtable *t, uint64_t key)
{
    if (key == 0 || t->cap == 0)
        return NULL;
    size_t i = find_slot(t, key);
    if (t->keys[i] != key)
        return NULL;
    void *value = t->values[i];
    size_t mask = t->cap - 1;
    for (size_t j = (i + 1) & mask; t->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(t->keys[j], t->cap);
        /* Move j into the hole i unless j's home lies cyclically in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->keys[i] = t->keys[j];
            t->values[i] = t->values[j];
            i = j;
        }
    }
    t->keys[i] = 0;
    t->values[i] = NULL;
    t->count--;
    shrink(t);
    return value;
}
