/* A map from 64-bit ids to pointers (open addressing, linear probing,
 * backward-shift deletion): the daemon's block, handle and session tables.
 * Key 0 is reserved as "empty". */
#ifndef MEMPOOL_IDTABLE_H
#define MEMPOOL_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct idtable {
    uint64_t *keys;
    void **values;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} idtable;

void idtable_init(idtable *t);
void idtable_destroy(idtable *t);
/* 0, -EEXIST when the key is there, -EINVAL for key 0, -ENOMEM. */
int idtable_put(idtable *t, uint64_t key, void *value);
void *idtable_get(const idtable *t, uint64_t key);
/* The value that was there, or NULL. */
void *idtable_remove(idtable *t, uint64_t key);

#endif
