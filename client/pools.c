#include "pools.h"

#include <stdlib.h>
#include <string.h>

#include "handoff.h"

client_pool *client_pools_get(client_pools *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->items[i]->name, name) == 0)
            return t->items[i];
    if (t->count == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 4;
        client_pool **items = realloc(t->items, cap * sizeof *items);
        if (items == NULL)
            return NULL;
        t->items = items;
        t->cap = cap;
    }
    client_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    strncpy(p->name, name, PROTO_POOL_NAME_MAX);
    t->items[t->count++] = p;
    return p;
}

static void drop_kept(client_pool *p)
{
    for (size_t i = 0; i < p->nkept; i++)
        handoff_unmap(p->kept[i].addr, p->kept[i].size);
    p->nkept = 0;
    /* Their connection is gone: whatever mapped them goes (a piece of a
     * backing mapped whole was unmapped with the backing). */
    for (size_t i = 0; i < p->ncached; i++)
        if (!p->cache[i].b.in_backing_map)
            handoff_unmap(p->cache[i].b.addr, p->cache[i].b.size);
    p->ncached = 0;
    p->cached_bytes = 0;
}

void client_pools_drop_kept(client_pools *t)
{
    for (size_t i = 0; i < t->count; i++)
        drop_kept(t->items[i]);
}

void client_pools_free(client_pools *t)
{
    for (size_t i = 0; i < t->count; i++) {
        drop_kept(t->items[i]);
        free(t->items[i]->kept);
        free(t->items[i]->cache);
        free(t->items[i]);
    }
    free(t->items);
    *t = (client_pools){ 0 };
}

static void remove_at(client_pool *p, size_t i)
{
    memmove(&p->kept[i], &p->kept[i + 1], (p->nkept - i - 1) * sizeof *p->kept);
    p->nkept--;
}

/* Newest first: the block just released is the likeliest to come back. */
bool client_pool_take_kept(client_pool *p, uint64_t backing_id, size_t size, void **addr)
{
    for (size_t i = p->nkept; i-- > 0;)
        if (p->kept[i].backing_id == backing_id && p->kept[i].size == size) {
            *addr = p->kept[i].addr;
            remove_at(p, i);
            return true;
        }
    return false;
}

uint64_t client_pool_trim_kept(client_pool *p)
{
    if (p->nkept == 0 || p->nkept <= p->kept_max)
        return 0;
    kept_mapping oldest = p->kept[0];
    remove_at(p, 0);
    handoff_unmap(oldest.addr, oldest.size);
    return oldest.backing_id;
}

bool client_pool_keep(client_pool *p, uint64_t backing_id, void *addr, size_t size,
                      uint64_t *evicted)
{
    *evicted = 0;
    if (p->kept_max == 0)
        return false;
    /* A backing kept twice (the daemon sent it again rather than naming
     * it): the older mapping goes, and the daemon's record stays right. */
    void *older;
    if (client_pool_take_kept(p, backing_id, size, &older))
        handoff_unmap(older, size);
    if (p->nkept == p->kept_cap) {
        size_t cap = p->kept_cap != 0 ? p->kept_cap * 2 : 8;
        kept_mapping *kept = realloc(p->kept, cap * sizeof *kept);
        if (kept == NULL)
            return false;
        p->kept = kept;
        p->kept_cap = cap;
    }
    p->kept[p->nkept++] = (kept_mapping){ .backing_id = backing_id, .addr = addr, .size = size };
    if (p->nkept > p->kept_max)
        *evicted = client_pool_trim_kept(p);
    return true;
}

/* ---- the block cache ---------------------------------------------------------- */

static size_t pages_of(const client_pool *p, size_t size)
{
    return (size + p->page_size - 1) / p->page_size;
}

bool client_pool_cache_take(client_pool *p, size_t size, held_block *out)
{
    if (p->ncached == 0 || p->page_size == 0)
        return false;
    size_t want = pages_of(p, size) * p->page_size;
    for (size_t i = p->ncached; i-- > 0;) {
        if (p->cache[i].b.size != want)
            continue;
        *out = p->cache[i].b;
        p->cached_bytes -= want;
        memmove(&p->cache[i], &p->cache[i + 1], (p->ncached - i - 1) * sizeof *p->cache);
        p->ncached--;
        return true;
    }
    return false;
}

bool client_pool_cache_put(client_pool *p, const held_block *b, uint64_t now)
{
    if (b->size > p->cache_max || p->cached_bytes + b->size > p->cache_max)
        return false;
    if (p->ncached == p->cache_cap) {
        size_t cap = p->cache_cap != 0 ? p->cache_cap * 2 : 16;
        cached_block *cache = realloc(p->cache, cap * sizeof *cache);
        if (cache == NULL)
            return false;
        p->cache = cache;
        p->cache_cap = cap;
    }
    p->cache[p->ncached++] = (cached_block){ .b = *b, .cached_at = now };
    p->cached_bytes += b->size;
    return true;
}

bool client_pool_cache_pop_oldest(client_pool *p, held_block *out)
{
    if (p->ncached == 0)
        return false;
    *out = p->cache[0].b;
    p->cached_bytes -= out->size;
    memmove(&p->cache[0], &p->cache[1], (p->ncached - 1) * sizeof *p->cache);
    p->ncached--;
    return true;
}

uint64_t client_pool_cache_oldest(const client_pool *p)
{
    return p->ncached > 0 ? p->cache[0].cached_at : UINT64_MAX;
}
