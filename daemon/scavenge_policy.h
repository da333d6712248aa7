/* What the scavenger decides: how much of a pool's free memory to give back
 * to the OS, which of it, and when (docs/design.md §7, after Go's
 * mgcscavenge.go), and how large a piece of that work is (scavenge_rate_*).
 *
 * A pure module: the clock is an argument (as in jemalloc's decay.c), and it
 * knows nothing of pools, arenas or mmap. The driver (the scavenger) asks
 * for a plan, does the work it describes, and reports what the work took:
 *
 *   scavenge_pacer_plan(p, now, warm, oldest, &plan);
 *   if (plan.release_bytes) {
 *       walk free runs from the highest address down, releasing those
 *       stamped at or before plan.freed_by_ns, until plan.release_bytes are
 *       released or plan.budget_ns of work is done;
 *       next = scavenge_pacer_account(p, now2, work, released, more_left);
 *   } else {
 *       next = plan.wake_ns;
 *   }
 *
 * Background pacing, Go's sleep-ratio controller simplified: after a slice
 * of work w (as measured), the next background slice waits
 *     w * (1 + reuse_cost) * (1 - cpu) / cpu
 * so that work / (work + wait) stays at or below the cpu share. Go steers its
 * sleep ratio with a PI controller because the time it gets to sleep and the
 * processors it shares differ from what it asks; here the wait is computed
 * in one step from the work really measured, and a late timer only lowers the
 * share. Rounding is upward, so the share is never exceeded. reuse_cost is
 * Go's scavengeCostRatio: released memory costs work again when it is reused
 * (MADV_FREE_REUSE on Darwin), so each slice is charged for that too.
 *
 * Forced work (pressure, the admin command) ignores idle, retain and pacing
 * and is still cut into slices of at most SCAVENGE_SLICE_NS, so the request
 * loop runs between them. The memory-limit path is synchronous: the pool
 * asks scavenge_limit_need how much to release before it allocates. */
#ifndef MEMPOOL_SCAVENGE_POLICY_H
#define MEMPOOL_SCAVENGE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* The longest stretch of work one slice may take (docs/design.md §7). */
#define SCAVENGE_SLICE_NS UINT64_C(1000000)
/* A time that never comes: no wake-up needed. */
#define SCAVENGE_NEVER UINT64_MAX

typedef struct scavenge_config {
    uint64_t interval_ns;  /* how often an idle scavenger looks again; > 0 */
    uint64_t idle_ns;      /* free memory must be this old to be released */
    uint64_t retain_bytes; /* warm free memory the pool may keep */
    uint32_t cpu_permille; /* share of one core; 0 turns background work off */
    /* What reusing released memory costs, per mille of what releasing it
     * cost: 700 where reuse is a syscall (Darwin), 0 where it is free. */
    uint32_t reuse_cost_permille;
} scavenge_config;

typedef struct scavenge_stats {
    uint64_t released_bytes; /* in all slices, background and forced */
    uint64_t work_ns;        /* measured work of all slices */
    uint64_t slices;
    uint64_t pieces;         /* the driver's units of work within slices, between
                                which it may end a slice for pending requests */
    uint64_t last_slice_ns;  /* when the last slice ended; 0 before any */
} scavenge_stats;

typedef struct scavenge_pacer {
    scavenge_config config;
    uint64_t resume_ns;    /* no background slice starts before this */
    uint64_t forced_bytes; /* still to release regardless of idle, retain, pacing */
    bool slice_forced;     /* the last plan was forced work */
    scavenge_stats stats;
} scavenge_pacer;

typedef struct scavenge_plan {
    uint64_t release_bytes; /* at most this much; 0: nothing to do before wake_ns */
    uint64_t freed_by_ns;   /* release only free runs stamped at or before this */
    uint64_t budget_ns;     /* end the slice once this much work is done */
    uint64_t wake_ns;       /* when to plan again if release_bytes is 0 */
} scavenge_plan;

/* Piece sizing. The driver releases a slice's memory in pieces and looks at
 * the loop between them, so a request waits at most one piece. A piece is
 * sized from the release rate measured so far (bytes per ns of the release
 * calls alone, not of the looks between them) to take about
 * SCAVENGE_PIECE_NS, between Go's scavengeQuantum (64 KiB) and 2 MiB: a
 * *long* piece. While requests keep coming the driver asks for *short*
 * pieces instead, about SCAVENGE_SHORT_PIECE_NS, at least 16 KiB (four
 * pages: below that the call's own cost is most of the piece). Never less
 * than one page: with 2 MiB pages every piece is a page.
 *
 * The rate is learned from slices of long pieces: what a release call
 * costs whatever its size (the syscall, a TLB shootdown where a client on
 * another CPU has the memory mapped) makes short pieces look slow, and
 * learning from them would shrink every piece towards that cost
 * (bench_scavenger's forced 2 GiB scavenge under a busy client took 11.2 s
 * instead of 5.7-6.2 s on one CPU, 2.45 s instead of 1.4-1.6 s on two).
 * Until a slice of long pieces has been
 * seen, short ones teach it too: a driver busy from its start must not
 * keep the first guess. A slice that released less than one piece (the
 * tail of a plan) teaches nothing. */
#define SCAVENGE_PIECE_NS UINT64_C(50000)
#define SCAVENGE_SHORT_PIECE_NS UINT64_C(10000)
#define SCAVENGE_PIECE_MIN (UINT64_C(64) << 10)
#define SCAVENGE_SHORT_PIECE_MIN (UINT64_C(16) << 10)
#define SCAVENGE_PIECE_MAX (UINT64_C(2) << 20)

typedef struct scavenge_rate {
    uint64_t piece_bytes; /* what SCAVENGE_PIECE_NS of release work releases */
    bool learned_long;    /* from a slice of long pieces */
} scavenge_rate;

void scavenge_rate_init(scavenge_rate *r);
/* The next piece in bytes, a whole number of pages (at least one). */
uint64_t scavenge_piece_bytes(const scavenge_rate *r, bool short_piece, uint64_t page);
/* Learns from release calls that released `bytes` in `work_ns`, in short
 * pieces or long ones. */
void scavenge_rate_learn(scavenge_rate *r, uint64_t bytes, uint64_t work_ns, bool short_pieces);

/* -EINVAL for interval_ns == 0, cpu_permille > 1000 or reuse_cost_permille
 * above 10000, else 0. */
int scavenge_config_check(const scavenge_config *c);

/* 0 or -EINVAL (see scavenge_config_check). */
int scavenge_pacer_init(scavenge_pacer *p, const scavenge_config *c);
/* A new policy (reload): pacing state, pending forced work and statistics
 * are kept. 0 or -EINVAL, and then nothing changes. */
int scavenge_pacer_configure(scavenge_pacer *p, const scavenge_config *c);

/* warm_bytes: the pool's free memory still backed by the OS.
 * oldest_stamp: the oldest stamp among those free runs, if the pool knows it,
 * which lets an idle pool sleep until its oldest memory comes of age; pass 0
 * when it does not (the plan then asks the driver to look, which costs one
 * walk per interval). */
void scavenge_pacer_plan(scavenge_pacer *p, uint64_t now_ns, uint64_t warm_bytes,
                         uint64_t oldest_stamp, scavenge_plan *out);

/* Records a slice done after a plan: it ended at now_ns, took work_ns and
 * released released_bytes; more_left says it stopped on its budget with
 * eligible memory left. Returns when to plan again. */
uint64_t scavenge_pacer_account(scavenge_pacer *p, uint64_t now_ns, uint64_t work_ns,
                                uint64_t released_bytes, bool more_left);

/* Records work done outside a plan (the memory-limit path) in the stats;
 * it is not paced, as Go does not pace its allocation-path scavenging. */
void scavenge_pacer_record(scavenge_pacer *p, uint64_t now_ns, uint64_t work_ns,
                           uint64_t released_bytes);

/* Release up to `bytes` of warm memory now, young or not, retain or not,
 * unpaced (the admin `scavenge POOL BYTES`). Adds to what is pending. */
void scavenge_pacer_force(scavenge_pacer *p, uint64_t bytes);
/* OS memory pressure: drop all warm memory. */
void scavenge_pacer_pressure(scavenge_pacer *p);
/* True while forced work is pending. */
bool scavenge_pacer_forced(const scavenge_pacer *p);

/* Go's memory-limit path: how much warm memory the pool must release before
 * an allocation so that it stays within `limit`, which caps in use plus warm.
 * in_use: bytes held by blocks, without the new one; request: the new
 * block's bytes; warm: warm free bytes outside the new block (warm pages the
 * new block reuses must not be counted here, or they count twice and the
 * pool releases more than it must). 0 and *release (0 when it fits as is),
 * or -ENOMEM when in_use + request alone is over the limit. */
int scavenge_limit_need(uint64_t limit, uint64_t in_use, uint64_t warm,
                        uint64_t request, uint64_t *release);

#endif
