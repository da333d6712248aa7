/* Token buckets kept as credit in nanoseconds: a bucket of rate r and
 * burst b holds at most b * (1e9 / r) ns of credit, gains one ns per ns of
 * clock, and a line costs 1e9 / r. Integer arithmetic only; a clock that
 * goes backwards adds nothing. */
#include "ratelimit.h"

#include <string.h>

#define NS_PER_S UINT64_C(1000000000)

static uint64_t cost_ns(uint32_t per_s) { return NS_PER_S / (per_s > 0 ? per_s : 1); }

static uint64_t capacity_ns(uint32_t per_s, uint32_t burst)
{
    return cost_ns(per_s) * (burst > 0 ? burst : 1);
}

static void bucket_fill(ratelimit_bucket *b, uint32_t per_s, uint32_t burst, uint64_t now_ns)
{
    uint64_t cap = capacity_ns(per_s, burst);
    if (now_ns > b->last_ns) {
        uint64_t gained = now_ns - b->last_ns;
        b->credit_ns = gained >= cap - b->credit_ns ? cap : b->credit_ns + gained;
    }
    b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
}

static void bucket_reset(ratelimit_bucket *b, uint32_t per_s, uint32_t burst, uint64_t now_ns)
{
    *b = (ratelimit_bucket){ .credit_ns = capacity_ns(per_s, burst), .last_ns = now_ns };
}

void ratelimit_init(ratelimit *rl, const ratelimit_config *config, uint64_t now_ns)
{
    memset(rl, 0, sizeof *rl);
    rl->config = *config;
    bucket_reset(&rl->overall, config->overall_per_s, config->overall_burst, now_ns);
}

/* The key's slot; a new one (the least recently seen evicted) if absent. */
static ratelimit_slot *slot_of(ratelimit *rl, uint32_t key, uint64_t now_ns)
{
    ratelimit_slot *oldest = &rl->slots[0];
    for (size_t i = 0; i < RATELIMIT_KEYS; i++) {
        ratelimit_slot *s = &rl->slots[i];
        if (s->used && s->key == key)
            return s;
        if (!s->used || (oldest->used && s->seen_ns < oldest->seen_ns))
            oldest = s;
    }
    if (oldest->used)
        rl->overall.suppressed += oldest->bucket.suppressed;
    oldest->used = true;
    oldest->key = key;
    bucket_reset(&oldest->bucket, rl->config.per_key_per_s, rl->config.per_key_burst, now_ns);
    return oldest;
}

static bool bucket_take(ratelimit_bucket *b, uint32_t per_s, uint32_t burst, uint64_t now_ns)
{
    bucket_fill(b, per_s, burst, now_ns);
    if (b->credit_ns < cost_ns(per_s))
        return false;
    b->credit_ns -= cost_ns(per_s);
    return true;
}

ratelimit_verdict ratelimit_take(ratelimit *rl, uint32_t key, uint64_t now_ns)
{
    const ratelimit_config *c = &rl->config;
    ratelimit_verdict v = { .allow = false };
    ratelimit_slot *s = slot_of(rl, key, now_ns);
    s->seen_ns = now_ns;
    if (!bucket_take(&s->bucket, c->per_key_per_s, c->per_key_burst, now_ns)) {
        s->bucket.suppressed++;
        return v;
    }
    if (!bucket_take(&rl->overall, c->overall_per_s, c->overall_burst, now_ns)) {
        rl->overall.suppressed++;
        return v;
    }
    v.allow = true;
    v.key_suppressed = s->bucket.suppressed;
    v.overall_suppressed = rl->overall.suppressed;
    s->bucket.suppressed = 0;
    rl->overall.suppressed = 0;
    return v;
}

/* Has the bucket credit for one more line? (A report is a line too, but
 * it is not charged: it replaces the lines it counts.) */
static bool bucket_ready(ratelimit_bucket *b, uint32_t per_s, uint32_t burst, uint64_t now_ns)
{
    bucket_fill(b, per_s, burst, now_ns);
    return b->credit_ns >= cost_ns(per_s);
}

size_t ratelimit_flush(ratelimit *rl, uint64_t now_ns,
                       void (*report)(uint32_t key, bool is_overall, uint64_t count, void *arg),
                       void *arg)
{
    const ratelimit_config *c = &rl->config;
    size_t reports = 0;
    for (size_t i = 0; i < RATELIMIT_KEYS; i++) {
        ratelimit_slot *s = &rl->slots[i];
        if (!s->used || s->bucket.suppressed == 0 ||
            !bucket_ready(&s->bucket, c->per_key_per_s, c->per_key_burst, now_ns))
            continue;
        report(s->key, false, s->bucket.suppressed, arg);
        s->bucket.suppressed = 0;
        reports++;
    }
    if (rl->overall.suppressed > 0 &&
        bucket_ready(&rl->overall, c->overall_per_s, c->overall_burst, now_ns)) {
        report(0, true, rl->overall.suppressed, arg);
        rl->overall.suppressed = 0;
        reports++;
    }
    return reports;
}
