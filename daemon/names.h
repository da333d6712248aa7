/* Named blocks: the names published in each pool, and the lookups waiting
 * for a name to appear. A pure data structure with its policy (syntax is
 * proto_block_name_ok's; limits, who may replace or unpublish); no I/O,
 * no clock of its own: times are the caller's monotonic nanoseconds.
 *
 * A name holds handles to its block, never a hold: it lives while the
 * block does. The driver (server.c) tells the table when a block dies
 * (names_block_died), as the pool layer reports it (pool_set_next_dead).
 *
 * Waiters are records the driver owns and embeds in its own; the table
 * links them per name and orders those with a deadline in a binary heap,
 * so the driver needs one timer for all of them (names_next_deadline). */
#ifndef MEMPOOL_NAMES_H
#define MEMPOOL_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mempool.h"
#include "proto.h"

typedef struct names names;

/* One published name. */
typedef struct name_entry {
    char pool[PROTO_POOL_NAME_MAX + 1];
    char name[PROTO_BLOCK_NAME_MAX + 1];
    uint64_t block_id;
    uint64_t size;
    uint32_t publisher_uid;
    unsigned prot;               /* as published: READ or READ|WRITE */
    mempool_handle handle;       /* grants prot */
    mempool_handle read_handle;  /* grants READ: for read-only lookups */
    uint64_t published_ns;
} name_entry;

/* A lookup waiting for a name. The driver fills pool, name, deadline_ns
 * (UINT64_MAX: none) and owner; the rest is the table's. */
typedef struct name_waiter {
    char pool[PROTO_POOL_NAME_MAX + 1];
    char name[PROTO_BLOCK_NAME_MAX + 1];
    uint64_t deadline_ns;
    void *owner;
    struct name_slot *slot;            /* the table's */
    struct name_waiter *prev, *next;   /* the table's: waiters of a name */
    size_t heap_index;                 /* the table's: SIZE_MAX when none */
} name_waiter;

/* Limits; 0 allows no names at all. */
typedef struct names_limits {
    uint32_t per_uid;
} names_limits;

names *names_new(void);
/* Waiters still linked are unlinked, not freed (the driver owns them). */
void names_free(names *t);
void names_set_limits(names *t, const names_limits *l);

/* May e (its pool, name, uid) be published? A name already published is
 * MEMPOOL_EEXIST, unless `replace`, which only its publisher's uid or
 * root may do (else MEMPOOL_EACCES). MEMPOOL_ELIMIT when the pool already
 * has `pool_max` names or the uid per_uid (a replace takes the old name's
 * place). 0 when it may. */
int names_check_publish(const names *t, const name_entry *e, uint32_t pool_max,
                        bool replace);
/* Publishes e after the same checks. A name it replaces is copied to
 * *old (old->block_id 0 when none), so the caller can drop its handles.
 * 0, a code of names_check_publish, or MEMPOOL_ENOMEM. */
int names_publish(names *t, const name_entry *e, uint32_t pool_max, bool replace,
                  name_entry *old);
/* MEMPOOL_ENONAME, MEMPOOL_EACCES (another uid than the publisher's, and
 * not root), or 0 with the entry that went copied to *old. */
int names_unpublish(names *t, const char *pool, const char *name, uint32_t uid,
                    name_entry *old);
const name_entry *names_find(const names *t, const char *pool, const char *name);
/* Every name of the block goes (it was let go of by its last holder). */
void names_block_died(names *t, uint64_t block_id);

size_t names_count(const names *t);
/* The most names (published or waited for) that share one bucket: a
 * health figure, which no choice of names by clients can drive up. */
size_t names_longest_chain(const names *t);
size_t names_count_in_pool(const names *t, const char *pool);
size_t names_count_of_uid(const names *t, uint32_t uid);
size_t names_waiting(const names *t);
/* Every name (of `pool`, or all when NULL), in no particular order. */
void names_foreach(const names *t, const char *pool,
                   void (*fn)(const name_entry *, void *), void *arg);

/* Links a waiter; 0 or MEMPOOL_ENOMEM. */
int names_wait(names *t, name_waiter *w);
/* Unlinks a waiter that is linked (a no-op otherwise). */
void names_cancel(names *t, name_waiter *w);
/* The next waiter of a published name, unlinked; NULL when the name is
 * not published or nobody waits for it. Oldest first. */
name_waiter *names_take_woken(names *t, const char *pool, const char *name);
/* The next waiter whose deadline is at or before `now`, unlinked; NULL
 * when there is none. */
name_waiter *names_take_expired(names *t, uint64_t now);
/* The earliest deadline of any waiter; UINT64_MAX when none has one. */
uint64_t names_next_deadline(const names *t);

#endif
