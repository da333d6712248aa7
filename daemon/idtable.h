/* A map from 64-bit ids to pointers (open addressing, linear probing,
 * backward-shift deletion): the daemon's block, handle and session tables.
 * Key 0 is reserved as "empty".
 *
 * Resizing never holds the caller long: a table that must grow (past a
 * load of 1/2) or shrink (below 1/8) gets new arrays at once, and its
 * entries move over a few per call (put, remove) while lookups search
 * both, so that no call costs more than a few dozen slots whatever the
 * table's size. An empty table holds no memory. */
#ifndef MEMPOOL_IDTABLE_H
#define MEMPOOL_IDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idtable {
    uint64_t *now_keys;   /* the arrays new entries go to */
    void **now_values;
    size_t now_cap;       /* a power of two, or 0 */
    uint64_t *old_keys;   /* while resizing: the arrays being emptied */
    void **old_values;
    size_t old_cap;
    size_t old_count;     /* entries still in the old arrays */
    size_t drain_at;      /* old slots below this are empty */
    size_t count;         /* entries in all */
} idtable;

void idtable_init(idtable *t);
void idtable_destroy(idtable *t);
/* 0, -EEXIST when the key is there, -EINVAL for key 0, -ENOMEM. */
int idtable_put(idtable *t, uint64_t key, void *value);
void *idtable_get(const idtable *t, uint64_t key);
/* The value that was there, or NULL. */
void *idtable_remove(idtable *t, uint64_t key);

/* Walking every entry, with no put or remove on the same table meanwhile:
 *   for (size_t i = 0; i < idtable_slots(t); i++)
 *       if (idtable_at(t, i, &key, &value)) ...
 * key may be NULL. */
size_t idtable_slots(const idtable *t);
bool idtable_at(const idtable *t, size_t i, uint64_t *key, void **value);

#endif
