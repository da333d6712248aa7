/* Token buckets for the daemon's log lines about its peers: one per key
 * (a uid) and one overall, so that no client can fill the log, and all of
 * them together cannot either. A line that a bucket refuses is counted;
 * the next line let through for that key (or ratelimit_flush, once the
 * key's bucket has refilled) reports how many were suppressed.
 *
 * A pure module, as scavenge_policy.c: the clock is passed in, nothing is
 * read from the system, so the unit tests run it on fake time. */
#ifndef MEMPOOL_RATELIMIT_H
#define MEMPOOL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys followed at once; past that, the one seen longest ago is dropped
 * (what it had suppressed is added to the overall count). */
#define RATELIMIT_KEYS 64

typedef struct ratelimit_config {
    uint32_t per_key_per_s, per_key_burst;   /* lines a second, and a burst */
    uint32_t overall_per_s, overall_burst;
} ratelimit_config;

typedef struct ratelimit_bucket {
    uint64_t credit_ns;    /* a line costs 1e9 / rate ns of credit */
    uint64_t last_ns;      /* when credit was last added */
    uint64_t suppressed;   /* lines refused since the last report */
} ratelimit_bucket;

typedef struct ratelimit_slot {
    bool used;
    uint32_t key;
    uint64_t seen_ns;
    ratelimit_bucket bucket;
} ratelimit_slot;

typedef struct ratelimit {
    ratelimit_config config;
    ratelimit_bucket overall;
    ratelimit_slot slots[RATELIMIT_KEYS];
} ratelimit;

/* What ratelimit_take decided. When `allow`, the caller reports first the
 * counts of lines suppressed before this one (0: nothing to report). */
typedef struct ratelimit_verdict {
    bool allow;
    uint64_t key_suppressed;      /* about this key */
    uint64_t overall_suppressed;  /* by the overall bucket, about any key */
} ratelimit_verdict;

/* Every bucket starts full. A rate or burst of 0 is taken as 1. */
void ratelimit_init(ratelimit *rl, const ratelimit_config *config, uint64_t now_ns);

/* May a line about `key` be written at `now_ns`? */
ratelimit_verdict ratelimit_take(ratelimit *rl, uint32_t key, uint64_t now_ns);

/* Suppressed counts whose bucket has refilled enough for a line, for one
 * report line each (the flood is over or paused): `report` is called with
 * the key and the count (is_overall: the overall bucket's count, key 0),
 * and the count is reset. Returns the number of reports. */
size_t ratelimit_flush(ratelimit *rl, uint64_t now_ns,
                       void (*report)(uint32_t key, bool is_overall, uint64_t count, void *arg),
                       void *arg);

#endif
