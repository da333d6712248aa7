/* What pool.c (memory: pools and blocks) and pool_client.c (who holds
 * what: clients, holds, handles, quotas, access) share. Not for other
 * modules: they use pool.h. */
#ifndef MEMPOOL_POOL_INTERNAL_H
#define MEMPOOL_POOL_INTERNAL_H

#include "arena.h"
#include "idtable.h"
#include "mem.h"
#include "pool.h"
#include "pool_block.h"
#include "pool_warm.h"

/* exposed_uid of a block that more than one uid has held. */
#define POOL_UID_MIXED UINT32_MAX

struct handle_entry {
    mempool_handle handle;
    block *blk;
    unsigned prot;
    handle_entry *next; /* of the same block */
};

struct pool {
    pool_set *set;
    size_t index;
    const policy_pool *cfg;
    uint64_t page;
    mem_region *region;
    char *base;
    arena *arena;
    mem_backing shared;   /* pool isolation: one backing for the pool */
    uint64_t mapped_top;  /* pool isolation: no page at or above is mapped */
    uint64_t in_use, released, sync_scavenged, blocks, holders;
    uint64_t cached;              /* bytes of held blocks in clients' caches */
    warm_set warm;                /* free memory kept Ready for reuse */
    block *live_head;             /* live blocks, newest first */
    block *resident_cursor;       /* the next live block to measure again */
    uint64_t own_resident;        /* block isolation: sum of the blocks' resident */
    uint64_t scavenger_runs, scavenger_cpu_ns, last_scavenge_ms;
    uint64_t kind_cpu_ns[3];      /* scavenger_cpu_ns by pool_scavenge_kind */
    bool broken;                  /* a mapping failed other than for memory */
    uint64_t stray_at;            /* pool isolation: where the stray sweep goes on */
    bool stray_pass;              /* a sweep is under way */
    bool strays_suspected;        /* a client of the pool left since the last pass */
    uint64_t strays_freed;        /* bytes freed by the sweep, in total */
    /* uid isolation: the pool holds no memory itself; each uid that
     * allocates gets a part, a pool of its own with one backing (as pool
     * isolation), sharing the pool's policy, limit and counters. */
    pool *parent;                 /* a uid's part: the pool it belongs to */
    uint32_t part_uid;            /* a uid's part: whose */
    idtable parts;                /* the pool: uid + 1 -> its part */
    size_t parts_cursor;          /* the pool: where the next release starts */
    uint64_t backing_key;         /* names the shared backing in grants */
    /* pool isolation, a uid's part: the uid of every connection granted a
     * block of the shared backing so far (each such connection holds a
     * descriptor of all of it), or POOL_UID_MIXED; valid once granted. */
    uint32_t backing_uid;
    bool backing_granted;
};

/* The pool whose policy, limit and counters apply: itself, or for a uid's
 * part the pool it belongs to. */
static inline pool *pool_top(pool *p) { return p->parent != NULL ? p->parent : p; }

/* Blocks are offsets into one backing (pool isolation, a uid's part). */
static inline bool pool_shares_backing(const pool *p)
{
    return p->cfg->isolation != POLICY_ISOLATION_BLOCK;
}

/* What one uid holds across all its connections: the quota and the shares
 * count here (docs/daemon.md, "Fair shares"). Lives while the uid has a
 * connection. */
typedef struct uid_account {
    uint32_t uid;
    uint32_t clients;       /* its connections */
    uint64_t backing_holds; /* its holds on blocks that keep a backing of their own */
    uint64_t use[];         /* per pool: bytes of every hold (what the quota counts) */
} uid_account;

struct pool_set {
    pool *pools;
    size_t npools;
    idtable blocks;  /* id -> live block */
    idtable handles; /* first 8 handle bytes -> handle_entry */
    uint64_t next_block_id;
    uint64_t next_backing_serial;
    uint64_t give_back_until; /* monotonic ns: replies ask clients to give
                                 their caches back until then */
    pool_limit_release_fn *limit_release; /* NULL: pool_release_warm_part */
    void *limit_release_arg;
    uint64_t backings;     /* own backings open (block isolation), live or warm */
    uint64_t max_backings; /* 0: no limit */
    uint32_t backings_per_uid_permille; /* a uid's share of max_backings */
    uint32_t daemon_uid;   /* like root, never held to a uid's share */
    idtable accounts;      /* uid + 1 -> uid_account */
    pool_client *departed; /* connections gone, holds not all let go yet */
    pool_client *departed_last;
    uint64_t next_backing_key; /* for uid parts: past every pool's index */
    /* Watched blocks that died, for the driver (pool_set_next_dead). Room
     * is made when a block is watched, so a death never allocates:
     * watched + ndead <= dead_cap. */
    uint64_t *dead;
    size_t ndead, dead_head, dead_cap, watched;
};

/* Root and the daemon's own uid: the administrators, never held to a
 * uid's share, and the last descriptors of every budget are theirs. */
static inline bool pool_uid_is_privileged(const pool_set *s, uint32_t uid)
{
    return uid == 0 || uid == s->daemon_uid;
}

/* The block backings all unprivileged uids may hold together: the budget
 * less its last sixteenth, kept for root and the daemon's uid. */
static inline uint64_t pool_backings_for_users(const pool_set *s)
{
    return s->max_backings - s->max_backings / 16;
}

/* uid isolation: the part of `p` for `uid`, made on first use; p itself
 * in the other modes. NULL with *err (MEMPOOL_ELIMIT: no descriptor left
 * for its backing; MEMPOOL_ENOMEM: no address space). */
pool *pool_part_for(pool *p, uint32_t uid, int *err);
/* pool.c: memory. `kept`: the backing serials the allocating connection
 * keeps mapped (NULL: none); a warm block among them is preferred, and
 * when the caller did not ask for DIRTY its clearing is left to that
 * client (*client_zeroes): it is this uid's own data, zeroed by memset
 * through the mapping the client already has, with no punch and no
 * refault. The same holds for a block of a shared backing (pool
 * isolation, a uid's part) whose every page is warm and whose backing no
 * other uid has ever been granted; a partly warm one is still cleared by
 * the daemon. */
int pool_block_new(pool *p, uint64_t size, uint32_t uid, unsigned flags,
                   const idtable *kept, block **out, bool *client_zeroes);
/* The last holder let go: the block turns warm (or its pages go back to
 * the pool's free runs) and its handles die. */
void pool_block_retire(block *b, uint64_t now);
/* A watched block's death goes on the set's dead list. */
void pool_block_note_death(block *b);
/* A grant of b (its allocation or an attach) to a connection of uid:
 * records who has seen its memory and, for a shared backing, who holds a
 * descriptor of all of it (block isolation ignores the latter). */
void pool_block_note_holder(block *b, uint32_t uid);
/* Drops every handle naming the block. */
void pool_block_forget_handles(block *b);

/* pool_counters.c: the running figures that stats, metrics and pool info
 * read in O(1), whatever the number of blocks. */
/* A live block joins or leaves the pool's list of live blocks. */
void counters_live_link(pool *p, block *b);
void counters_live_unlink(pool *p, block *b);
/* Block isolation: measures what the OS holds for b's backing now (one
 * fstat) and keeps the pool's sum in step; forget: b's backing closes. */
void counters_measure(pool *p, block *b);
void counters_forget(pool *p, block *b);
/* What the OS holds for the pool's backings: the pool isolation backing
 * measured now (one fstat), or the blocks' running sum after measuring
 * again up to COUNTERS_REFRESH live blocks, round robin (clients write into
 * live blocks without the daemon seeing it; warm blocks are measured as
 * they change). */
#define COUNTERS_REFRESH 128
uint64_t counters_backing_resident(pool *p);
#endif
