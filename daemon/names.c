/* Named blocks: a hash table of slots keyed by (pool, name), hashed with
 * SipHash under a random key of the table's: clients choose the names, and
 * with a hash they could compute (FNV-1a, before) one uid's 8,192 waiting
 * lookups on names of one bucket cost the loop 0.36 s, 32,768 of them 6 s.
 * A slot holds
 * the published entry, if any, and the waiters for that name, so a name
 * that is waited for before it exists has a slot too; a slot with neither
 * goes away. Published slots are also chained per block (names_block_died)
 * and counted per pool and per uid (the limits). Waiters with a deadline
 * are in a min-heap by deadline. */
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idtable.h"
#include "siphash.h"

#define FIRST_BUCKETS 64

typedef struct name_slot {
    char pool[PROTO_POOL_NAME_MAX + 1];
    char name[PROTO_BLOCK_NAME_MAX + 1];
    uint64_t hash;
    bool published;
    name_entry entry;
    name_waiter *wait_head, *wait_tail;
    struct name_slot *bucket_next;
    struct name_slot *block_next; /* published names of the same block */
} name_slot;

typedef struct pool_count {
    char pool[PROTO_POOL_NAME_MAX + 1];
    size_t count;
    struct pool_count *next;
} pool_count;

struct names {
    name_slot **buckets;
    size_t nbuckets, nslots;
    idtable by_block; /* block id -> its first published slot */
    idtable per_uid;  /* uid + 1 -> names published (never 0: removed) */
    pool_count *pools;
    name_waiter **heap;
    size_t heap_len, heap_cap;
    size_t count, waiting;
    names_limits limits;
    unsigned char hash_key[SIPHASH_KEY_SIZE];
};

/* ---- slots ------------------------------------------------------------------ */

/* SipHash of "pool\0name" under the table's key. */
static uint64_t key_hash(const names *t, const char *pool, const char *name)
{
    siphash_state s;
    siphash_init(&s, t->hash_key);
    siphash_update(&s, pool, strlen(pool) + 1);
    siphash_update(&s, name, strlen(name));
    return siphash_final(&s);
}

static name_slot **bucket_of(const names *t, uint64_t hash)
{
    return &t->buckets[hash & (t->nbuckets - 1)];
}

static name_slot *slot_find(const names *t, const char *pool, const char *name)
{
    uint64_t hash = key_hash(t, pool, name);
    for (name_slot *s = *bucket_of(t, hash); s != NULL; s = s->bucket_next)
        if (s->hash == hash && strcmp(s->pool, pool) == 0 && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* Doubles the buckets once there are as many slots; a failure to grow
 * only makes chains longer. */
static void maybe_grow(names *t)
{
    if (t->nslots < t->nbuckets)
        return;
    size_t n = t->nbuckets * 2;
    name_slot **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (name_slot *s = t->buckets[i], *next; s != NULL; s = next) {
            next = s->bucket_next;
            s->bucket_next = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static name_slot *slot_get(names *t, const char *pool, const char *name)
{
    name_slot *s = slot_find(t, pool, name);
    if (s != NULL)
        return s;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return NULL;
    snprintf(s->pool, sizeof s->pool, "%s", pool);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->hash = key_hash(t, pool, name);
    maybe_grow(t);
    name_slot **b = bucket_of(t, s->hash);
    s->bucket_next = *b;
    *b = s;
    t->nslots++;
    return s;
}

/* A slot with no name and no waiter goes. */
static void slot_tidy(names *t, name_slot *s)
{
    if (s->published || s->wait_head != NULL)
        return;
    name_slot **link = bucket_of(t, s->hash);
    while (*link != s)
        link = &(*link)->bucket_next;
    *link = s->bucket_next;
    t->nslots--;
    free(s);
}

/* ---- counts ----------------------------------------------------------------- */

static pool_count *pool_count_of(names *t, const char *pool, bool create)
{
    for (pool_count *c = t->pools; c != NULL; c = c->next)
        if (strcmp(c->pool, pool) == 0)
            return c;
    pool_count *c = create ? calloc(1, sizeof *c) : NULL;
    if (c != NULL) {
        snprintf(c->pool, sizeof c->pool, "%s", pool);
        c->next = t->pools;
        t->pools = c;
    }
    return c;
}

size_t names_count_of_uid(const names *t, uint32_t uid)
{
    return (size_t)(uintptr_t)idtable_get(&t->per_uid, (uint64_t)uid + 1);
}

static int uid_count_add(names *t, uint32_t uid, int delta)
{
    size_t n = names_count_of_uid(t, uid) + (size_t)(ptrdiff_t)delta;
    idtable_remove(&t->per_uid, (uint64_t)uid + 1);
    if (n == 0)
        return 0;
    return idtable_put(&t->per_uid, (uint64_t)uid + 1, (void *)(uintptr_t)n) == 0
               ? 0
               : MEMPOOL_ENOMEM;
}

size_t names_count(const names *t) { return t->count; }

size_t names_count_in_pool(const names *t, const char *pool)
{
    pool_count *c = pool_count_of((names *)t, pool, false);
    return c != NULL ? c->count : 0;
}

size_t names_waiting(const names *t) { return t->waiting; }

/* ---- the per-block chains ----------------------------------------------------- */

static int block_link(names *t, name_slot *s)
{
    uint64_t id = s->entry.block_id;
    name_slot *head = idtable_remove(&t->by_block, id);
    s->block_next = head;
    if (idtable_put(&t->by_block, id, s) == 0)
        return 0;
    if (head != NULL)
        idtable_put(&t->by_block, id, head);
    return MEMPOOL_ENOMEM;
}

/* Removing never allocates: the head is replaced in place. */
static void block_unlink(names *t, name_slot *s)
{
    uint64_t id = s->entry.block_id;
    name_slot *head = idtable_get(&t->by_block, id);
    if (head == s) {
        idtable_remove(&t->by_block, id);
        if (s->block_next != NULL)
            idtable_put(&t->by_block, id, s->block_next);
        return;
    }
    for (name_slot *p = head; p != NULL; p = p->block_next) {
        if (p->block_next == s) {
            p->block_next = s->block_next;
            return;
        }
    }
}

/* ---- publishing ----------------------------------------------------------------- */

names *names_new(void)
{
    names *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->nbuckets = FIRST_BUCKETS;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (t->buckets == NULL || siphash_random_key(t->hash_key) != 0) {
        free(t->buckets);
        free(t);
        return NULL;
    }
    idtable_init(&t->by_block);
    idtable_init(&t->per_uid);
    t->limits.per_uid = UINT32_MAX;
    return t;
}

void names_set_limits(names *t, const names_limits *l) { t->limits = *l; }

static void entry_remove(names *t, name_slot *s)
{
    block_unlink(t, s);
    uid_count_add(t, s->entry.publisher_uid, -1); /* shrinking: cannot fail */
    pool_count_of(t, s->pool, false)->count--;
    t->count--;
    s->published = false;
}

/* A replace takes nothing from the pool's count, nor from the uid's when
 * the same uid publishes again. */
int names_check_publish(const names *t, const name_entry *e, uint32_t pool_max,
                        bool replace)
{
    const name_slot *s = slot_find(t, e->pool, e->name);
    bool taken = s != NULL && s->published;
    if (taken && !replace)
        return MEMPOOL_EEXIST;
    if (taken && e->publisher_uid != 0 && e->publisher_uid != s->entry.publisher_uid)
        return MEMPOOL_EACCES;
    size_t in_pool = names_count_in_pool(t, e->pool) - (taken ? 1 : 0);
    size_t of_uid = names_count_of_uid(t, e->publisher_uid);
    if (taken && s->entry.publisher_uid == e->publisher_uid)
        of_uid--;
    if (in_pool >= pool_max || of_uid >= t->limits.per_uid)
        return MEMPOOL_ELIMIT;
    return 0;
}

/* Counts first (they may allocate), the chain next; each step undone if a
 * later one fails, so a failed publish leaves the table as it was. */
static int entry_add(names *t, name_slot *s, const name_entry *e)
{
    pool_count *pc = pool_count_of(t, e->pool, true);
    if (pc == NULL || uid_count_add(t, e->publisher_uid, 1) != 0)
        return MEMPOOL_ENOMEM;
    s->entry = *e;
    if (block_link(t, s) != 0) {
        uid_count_add(t, e->publisher_uid, -1);
        return MEMPOOL_ENOMEM;
    }
    pc->count++;
    t->count++;
    s->published = true;
    return 0;
}

int names_publish(names *t, const name_entry *e, uint32_t pool_max, bool replace,
                  name_entry *old_out)
{
    int rc = names_check_publish(t, e, pool_max, replace);
    old_out->block_id = 0;
    if (rc != 0)
        return rc;
    name_slot *s = slot_find(t, e->pool, e->name);
    if (s == NULL && (s = slot_get(t, e->pool, e->name)) == NULL)
        return MEMPOOL_ENOMEM;
    name_entry old = s->entry;
    bool had = s->published;
    if (had)
        entry_remove(t, s);
    rc = entry_add(t, s, e);
    if (rc != 0 && had)
        entry_add(t, s, &old); /* frees nothing it needs: counts shrank */
    if (rc != 0)
        slot_tidy(t, s);
    else if (had)
        *old_out = old;
    return rc;
}

int names_unpublish(names *t, const char *pool, const char *name, uint32_t uid,
                    name_entry *old)
{
    name_slot *s = slot_find(t, pool, name);
    if (s == NULL || !s->published)
        return MEMPOOL_ENONAME;
    if (uid != 0 && uid != s->entry.publisher_uid)
        return MEMPOOL_EACCES;
    *old = s->entry;
    entry_remove(t, s);
    slot_tidy(t, s);
    return 0;
}

const name_entry *names_find(const names *t, const char *pool, const char *name)
{
    const name_slot *s = slot_find(t, pool, name);
    return s != NULL && s->published ? &s->entry : NULL;
}

void names_block_died(names *t, uint64_t block_id)
{
    name_slot *s;
    while ((s = idtable_get(&t->by_block, block_id)) != NULL) {
        entry_remove(t, s);
        slot_tidy(t, s);
    }
}

size_t names_longest_chain(const names *t)
{
    size_t longest = 0;
    for (size_t i = 0; i < t->nbuckets; i++) {
        size_t n = 0;
        for (const name_slot *s = t->buckets[i]; s != NULL; s = s->bucket_next)
            n++;
        longest = n > longest ? n : longest;
    }
    return longest;
}

void names_foreach(const names *t, const char *pool,
                   void (*fn)(const name_entry *, void *), void *arg)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (const name_slot *s = t->buckets[i]; s != NULL; s = s->bucket_next)
            if (s->published && (pool == NULL || strcmp(s->pool, pool) == 0))
                fn(&s->entry, arg);
}

/* ---- the deadline heap ---------------------------------------------------------- */

static void heap_set(names *t, size_t i, name_waiter *w)
{
    t->heap[i] = w;
    w->heap_index = i;
}

static void heap_up(names *t, size_t i)
{
    name_waiter *w = t->heap[i];
    while (i > 0 && t->heap[(i - 1) / 2]->deadline_ns > w->deadline_ns) {
        heap_set(t, i, t->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(t, i, w);
}

static void heap_down(names *t, size_t i)
{
    name_waiter *w = t->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->heap_len)
            break;
        if (c + 1 < t->heap_len && t->heap[c + 1]->deadline_ns < t->heap[c]->deadline_ns)
            c++;
        if (t->heap[c]->deadline_ns >= w->deadline_ns)
            break;
        heap_set(t, i, t->heap[c]);
        i = c;
    }
    heap_set(t, i, w);
}

static int heap_reserve(names *t)
{
    if (t->heap_len < t->heap_cap)
        return 0;
    size_t cap = t->heap_cap ? t->heap_cap * 2 : 16;
    name_waiter **h = realloc(t->heap, cap * sizeof *h);
    if (h == NULL)
        return MEMPOOL_ENOMEM;
    t->heap = h;
    t->heap_cap = cap;
    return 0;
}

static void heap_remove(names *t, name_waiter *w)
{
    size_t i = w->heap_index;
    if (i == SIZE_MAX)
        return;
    w->heap_index = SIZE_MAX;
    name_waiter *last = t->heap[--t->heap_len];
    if (last == w)
        return;
    heap_set(t, i, last);
    heap_up(t, i);
    heap_down(t, last->heap_index);
}

uint64_t names_next_deadline(const names *t)
{
    return t->heap_len > 0 ? t->heap[0]->deadline_ns : UINT64_MAX;
}

/* ---- waiters ------------------------------------------------------------------- */

int names_wait(names *t, name_waiter *w)
{
    w->heap_index = SIZE_MAX;
    w->slot = NULL;
    if (w->deadline_ns != UINT64_MAX && heap_reserve(t) != 0)
        return MEMPOOL_ENOMEM;
    name_slot *s = slot_get(t, w->pool, w->name);
    if (s == NULL)
        return MEMPOOL_ENOMEM;
    w->slot = s;
    w->next = NULL;
    w->prev = s->wait_tail;
    if (s->wait_tail != NULL)
        s->wait_tail->next = w;
    else
        s->wait_head = w;
    s->wait_tail = w;
    if (w->deadline_ns != UINT64_MAX) {
        heap_set(t, t->heap_len++, w);
        heap_up(t, w->heap_index);
    }
    t->waiting++;
    return 0;
}

void names_cancel(names *t, name_waiter *w)
{
    name_slot *s = w->slot;
    if (s == NULL)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        s->wait_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        s->wait_tail = w->prev;
    w->slot = NULL;
    w->prev = w->next = NULL;
    heap_remove(t, w);
    t->waiting--;
    slot_tidy(t, s);
}

name_waiter *names_take_woken(names *t, const char *pool, const char *name)
{
    name_slot *s = slot_find(t, pool, name);
    if (s == NULL || !s->published || s->wait_head == NULL)
        return NULL;
    name_waiter *w = s->wait_head;
    names_cancel(t, w);
    return w;
}

name_waiter *names_take_expired(names *t, uint64_t now)
{
    if (t->heap_len == 0 || t->heap[0]->deadline_ns > now)
        return NULL;
    name_waiter *w = t->heap[0];
    names_cancel(t, w);
    return w;
}

void names_free(names *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (name_slot *s = t->buckets[i], *next; s != NULL; s = next) {
            next = s->bucket_next;
            for (name_waiter *w = s->wait_head; w != NULL; w = w->next)
                w->slot = NULL;
            free(s);
        }
    }
    for (pool_count *c = t->pools, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    idtable_destroy(&t->by_block);
    idtable_destroy(&t->per_uid);
    free(t->buckets);
    free(t->heap);
    free(t);
}
