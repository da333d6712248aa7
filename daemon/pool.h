/* Pools: named ranges of shared memory under a policy, the blocks carved
 * out of them, who holds each block, and the handles that share them.
 *
 * A pool reserves its whole `reserve` at start (mem_reserve) and keeps an
 * arena of pool pages over it. A block is a run of whole pool pages:
 *   - `block` isolation: the block has its own backing (a memfd on Linux),
 *     mapped into the pool's range at the block's address;
 *   - `pool` isolation: one backing covers the pool and blocks are offsets
 *     into it.
 * A block lives while it has holders (its allocation, each attach). When
 * the last lets go its memory stays Ready ("warm") for reuse until the
 * scavenger gives it back to the OS.
 *
 * Every function here returns 0 or a negative MEMPOOL_E* code: the codes
 * travel to clients as they are. Times are the caller's monotonic clock in
 * nanoseconds (the pool keeps no clock of its own, so tests control it). */
#ifndef MEMPOOL_POOL_H
#define MEMPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mempool.h"
#include "policy.h"

typedef struct pool pool;
typedef struct pool_set pool_set;
typedef struct pool_client pool_client;

/* What a client needs to map a block: the backing, and where the block
 * lies in it. The daemon's own mapping is at addr. */
typedef struct pool_grant {
    uint64_t block_id;
    void *addr;
    uint64_t size;
    uint64_t offset;     /* of the block in its backing */
    int backing_fd;      /* -1 where backings are anonymous (Darwin) */
    uint64_t backing_id; /* stable per backing and protection */
    unsigned prot;
    bool shared_backing; /* pool isolation: the backing serves many blocks */
    void *backing_addr;  /* the daemon's mapping of the whole backing */
    uint64_t backing_size;
    bool kept;           /* the connection keeps this backing mapped: send
                            no descriptor, the client reuses its mapping */
    bool client_zeroes;  /* warm, this uid's own, not DIRTY: the client
                            clears it through its mapping */
    uint32_t kept_mappings; /* the pool's settings, for the client */
    uint64_t client_cache, client_cache_age_ns;
    uint64_t page_size;
} pool_grant;

/* Per-pool figures, for mempool_pool_info, stats and metrics. */
typedef struct pool_stats {
    uint64_t reserve, limit, quota, page_size;
    uint64_t in_use;      /* bytes in live blocks */
    uint64_t cached;      /* of which: in clients' caches */
    uint64_t warm;        /* free bytes kept Ready */
    uint64_t released;    /* bytes given back to the OS, in total */
    uint64_t blocks;      /* live blocks */
    uint64_t holders;     /* holds on live blocks */
    uint64_t largest_free_run; /* bytes; fragmentation next to free bytes */
    uint64_t free_bytes;  /* address space not in live or warm blocks */
    uint64_t backing_resident; /* what the OS holds for the pool's backings */
    uint64_t scavenger_runs, scavenger_cpu_ns, last_scavenge_ms;
    /* scavenger_cpu_ns by kind: paced is what the `cpu` setting bounds */
    uint64_t paced_cpu_ns, forced_cpu_ns, limit_cpu_ns;
    uint64_t sync_scavenged; /* bytes released on the allocation path */
    bool huge_pages;
} pool_stats;

int pool_set_new(const policy *p, pool_set **out, char *err, size_t errlen);
void pool_set_free(pool_set *s);
/* Takes the live part of a reloaded policy (limits, quotas, access,
 * scavenger settings). The caller has checked with policy_diff that
 * nothing needs a restart; pools are matched by name. `p` must outlive
 * the set or the next apply. */
void pool_set_apply(pool_set *s, const policy *p);
/* The most block backings (memfds, each also a mapping) the set keeps
 * open at once, live or warm; 0: no limit. */
void pool_set_limit_backings(pool_set *s, uint64_t max);
/* Block backings open now, and the most allowed (0: no limit). */
void pool_set_backings(const pool_set *s, uint64_t *open, uint64_t *max);
/* The share of those backings one uid may hold through its holds, in
 * 1/1000 (root and the daemon's uid are not held to it; instead the last
 * sixteenth of the budget is kept for them). */
void pool_set_uid_share(pool_set *s, uint32_t backings_permille);
/* Connections a uid has open, and whether it is root or the daemon's. */
uint32_t pool_uid_clients(const pool_set *s, uint32_t uid);
bool pool_uid_privileged(const pool_set *s, uint32_t uid);
/* Per uid with a connection: bytes it holds in `p` across its connections
 * (what the quota counts) and its connection count. */
typedef void pool_uid_fn(uint32_t uid, uint32_t clients, uint64_t use, void *arg);
void pool_foreach_uid(const pool_set *s, const pool *p, pool_uid_fn *fn, void *arg);
size_t pool_set_count(const pool_set *s);
pool *pool_set_at(const pool_set *s, size_t i);
pool *pool_set_find(const pool_set *s, const char *name);

const char *pool_name(const pool *p);
/* Recomputes every running figure of the pool by walking all its blocks
 * and compares (and each warm block's resident bytes with the kernel's
 * st_blocks): true when all agree, else false with the first difference in
 * why. O(blocks): for tests and debugging, never on a request. */
bool pool_check_counters(const pool *p, char *why, size_t len);
const policy_pool *pool_policy(const pool *p);
/* Not const: it also measures a few live blocks again (pool_counters.c),
 * which keeps the resident figure current at O(1) per call. */
void pool_get_stats(pool *p, pool_stats *out);
/* Bytes in the pool's live blocks: pool_stats.in_use without the rest
 * (some of which costs system calls). */
uint64_t pool_in_use(const pool *p);

/* A connection as the pools see it. */
pool_client *pool_client_new(pool_set *s, uint32_t uid, const uint32_t *gids,
                             size_t ngids, uint32_t max_blocks);
/* Lets go of everything the client holds, at once. */
void pool_client_free(pool_client *c, uint64_t now);
/* The client's connection is gone: it joins the set's departed clients,
 * still holding (and accounted for) everything, and pool_set_reap lets
 * go of it a slice at a time. */
void pool_client_depart(pool_client *c);
/* Lets go of up to `max_holds` holds of departed clients (oldest first),
 * freeing each client whose last hold went; true while some remain. */
bool pool_set_reap(pool_set *s, uint64_t max_holds, uint64_t now);
/* Departed clients not yet let go of, and what they still hold. */
typedef struct pool_departing {
    uint64_t clients, blocks, bytes;
} pool_departing;
void pool_set_departing(const pool_set *s, pool_departing *out);
uint64_t pool_client_blocks(const pool_client *c);
uint64_t pool_client_bytes(const pool_client *c);
/* Bytes the client holds in `p` (allocated and attached). */
uint64_t pool_client_use(const pool_client *c, const pool *p);
/* Bytes the client's uid holds in `p` across all its connections: what
 * the pool's quota counts. */
uint64_t pool_client_uid_use(const pool_client *c, const pool *p);

int pool_alloc(pool_client *c, const char *pool_name, uint64_t size,
               unsigned flags, uint64_t now, pool_grant *out);
int pool_share(pool_client *c, uint64_t block_id, unsigned prot,
               mempool_handle *out);
int pool_attach(pool_client *c, const mempool_handle *h, pool_grant *out);
/* The client lets go of a block it has unmapped. */
int pool_release(pool_client *c, uint64_t block_id, uint64_t now);
/* The same, but the client keeps its mapping of the block's backing
 * (block isolation, a block it held read-write), up to the pool's
 * kept_mappings: a later grant of that backing to this connection carries
 * no descriptor. */
int pool_release_keeping(pool_client *c, uint64_t block_id, uint64_t now);
/* The client unmapped a backing it kept (0 or an unknown serial: nothing). */
void pool_client_forget_backing(pool_client *c, uint64_t backing_id);

/* The client's block cache: a block it holds went into its cache (still
 * held: it counts toward quota and limit, shown as cached) or came out of
 * it. 0 or MEMPOOL_ENOBLOCK. */
int pool_client_cache_mark(pool_client *c, uint64_t block_id, bool cached);
/* Bytes the client keeps cached, in all pools / in one. */
uint64_t pool_client_cached(const pool_client *c);
uint64_t pool_client_cached_in(const pool_client *c, const pool *p);
/* Whether the next reply asks the client to give its cache back: it keeps
 * some cached and a pool it caches in is within an eighth of its limit,
 * or the set asks every client (pool_set_ask_give_back) until later. */
bool pool_client_should_give_back(const pool_client *c, uint64_t now);
/* Memory pressure, an admin scavenge: clients are asked to give their
 * caches back until `until` (monotonic ns). */
void pool_set_ask_give_back(pool_set *s, uint64_t until);
/* How long an admin scavenge or memory pressure asks it. */
#define GIVE_BACK_ASK_NS 1000000000ull
int pool_client_info(const pool_client *c, const char *pool_name,
                     mempool_info *out);

/* What a client may do in a pool: MEMPOOL_ENOPOOL, MEMPOOL_EACCES (not
 * admitted), or 0 with *prot READ (admitted read-only) or READ|WRITE. */
int pool_client_access(const pool_client *c, const char *pool_name,
                       unsigned *prot);

/* A block the client holds, as a name describes it. */
typedef struct pool_held_info {
    const char *pool; /* the pool's name */
    uint64_t size;
    unsigned prot;    /* what the client's holds allow */
} pool_held_info;
/* 0, or MEMPOOL_ENOBLOCK when the client does not hold it. */
int pool_client_held(const pool_client *c, uint64_t block_id,
                     pool_held_info *out);

/* Deaths a caller wants to hear of (named blocks): once watched, the
 * block's id is reported by pool_set_next_dead after its last holder lets
 * go. 0, MEMPOOL_ENOBLOCK (no such live block) or MEMPOOL_ENOMEM. The
 * pool layer calls no one: the driver asks after each request. */
int pool_set_watch_block(pool_set *s, uint64_t block_id);
/* The id of a watched block that died, oldest first; 0 when none. */
uint64_t pool_set_next_dead(pool_set *s);

/* The scavenger's hands. Gives back to the OS up to `max_bytes` of warm
 * memory that has been free since `idle_before` or earlier, highest
 * addresses first, in whole pool pages (so up to max_bytes rounded up to a
 * page); in block isolation whole blocks, each as a unit. Returns the bytes
 * released. */
uint64_t pool_release_warm(pool *p, uint64_t max_bytes, uint64_t idle_before);
/* The same, but a block may be released in part, from its top down, so
 * that one call releases no more than max_bytes rounded up to a page: the
 * scavenger's pieces, and the memory-limit path. */
uint64_t pool_release_warm_part(pool *p, uint64_t max_bytes, uint64_t idle_before);
/* What the scavenger plans with, O(1): warm bytes, and the stamp of the
 * oldest warm memory (0 when nothing is warm). */
uint64_t pool_warm_bytes(const pool *p);
uint64_t pool_warm_oldest(const pool *p);
/* Pool isolation: a client can write anywhere in the backing it maps.
 * Frees what the backing holds outside every live block and the warm
 * pages, going through up to max_extents ranges of data (SEEK_DATA) from
 * where the last call stopped, so no call holds the loop long. Starts a
 * pass only when the backing holds more than the pool's in-use and warm
 * bytes, or a client of the pool has left since the last pass. Returns the
 * bytes freed; *more: the pass is not finished. */
uint64_t pool_sweep_strays(pool *p, unsigned max_extents, bool *more);
/* The scavenger's bookkeeping, shown in stats: a slice of work of one
 * kind, what it cost in CPU time, and when (Unix ms). */
typedef enum pool_scavenge_kind {
    POOL_SCAVENGE_PACED,  /* background slices, paced to the pool's cpu share */
    POOL_SCAVENGE_FORCED, /* the admin `scavenge` and memory pressure: unpaced */
    POOL_SCAVENGE_LIMIT,  /* the memory-limit path, inside an allocation */
} pool_scavenge_kind;
void pool_note_scavenge(pool *p, pool_scavenge_kind kind, uint64_t cpu_ns, uint64_t wall_ms);

/* Go's memory-limit path: an allocation that would take a pool over its
 * limit first releases warm memory through this function, which the
 * scavenger sets so the work counts in its statistics. It must release up
 * to `bytes` (pool_release_warm_part(p, bytes, UINT64_MAX)) and return
 * what it released. Without one the pool calls pool_release_warm_part. */
typedef uint64_t pool_limit_release_fn(pool *p, uint64_t bytes, void *arg);
void pool_set_limit_release(pool_set *s, pool_limit_release_fn *fn, void *arg);

#endif
