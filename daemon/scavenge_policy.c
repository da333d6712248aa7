#include "scavenge_policy.h"

#include <errno.h>

/* Cost ratios beyond 10:1 would mean reuse is the main cost: release
 * nothing then (cpu 0) rather than pace for it. */
#define REUSE_COST_MAX_PERMILLE 10000u

static uint64_t add_saturating(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_floor_zero(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ceil(a * b / d), saturating: a stalled slice of hours must give a long
 * wait, not one that wrapped around to a short one. */
static uint64_t mul_div_ceil(uint64_t a, uint64_t b, uint64_t d)
{
    uint64_t product;
    if (__builtin_mul_overflow(a, b, &product))
        return UINT64_MAX;
    return product / d + (product % d != 0);
}

int scavenge_config_check(const scavenge_config *c)
{
    if (c->interval_ns == 0 || c->cpu_permille > 1000 ||
        c->reuse_cost_permille > REUSE_COST_MAX_PERMILLE)
        return -EINVAL;
    return 0;
}

int scavenge_pacer_init(scavenge_pacer *p, const scavenge_config *c)
{
    if (scavenge_config_check(c) < 0)
        return -EINVAL;
    *p = (scavenge_pacer){ .config = *c };
    return 0;
}

int scavenge_pacer_configure(scavenge_pacer *p, const scavenge_config *c)
{
    if (scavenge_config_check(c) < 0)
        return -EINVAL;
    p->config = *c;
    return 0;
}

static void plan_nothing(scavenge_plan *out, uint64_t wake_ns)
{
    *out = (scavenge_plan){ .wake_ns = wake_ns };
}

static void plan_forced(scavenge_pacer *p, uint64_t now_ns, uint64_t warm_bytes,
                        scavenge_plan *out)
{
    p->slice_forced = true;
    *out = (scavenge_plan){ .release_bytes = min_u64(p->forced_bytes, warm_bytes),
                            .freed_by_ns = UINT64_MAX,
                            .budget_ns = SCAVENGE_SLICE_NS,
                            .wake_ns = now_ns };
}

/* When background work may start: now_ns if at once. Memory becomes
 * eligible when the oldest warm run has been free for idle_ns; an idle
 * scavenger looks again after interval_ns at the earliest. */
static uint64_t background_start(const scavenge_pacer *p, uint64_t now_ns,
                                 uint64_t excess, uint64_t oldest_stamp)
{
    const scavenge_config *c = &p->config;
    uint64_t next_look = add_saturating(now_ns, c->interval_ns);
    if (c->cpu_permille == 0)
        return SCAVENGE_NEVER;
    if (excess == 0)
        return next_look;
    uint64_t eligible_at = add_saturating(oldest_stamp, c->idle_ns);
    if (now_ns < eligible_at)
        return max_u64(next_look, eligible_at);
    return max_u64(now_ns, p->resume_ns);
}

static void plan_background(scavenge_pacer *p, uint64_t now_ns, uint64_t warm_bytes,
                            uint64_t oldest_stamp, scavenge_plan *out)
{
    uint64_t excess = sub_floor_zero(warm_bytes, p->config.retain_bytes);
    uint64_t start = background_start(p, now_ns, excess, oldest_stamp);
    if (start > now_ns) {
        plan_nothing(out, start);
        return;
    }
    p->slice_forced = false;
    /* now_ns >= oldest_stamp + idle_ns >= idle_ns here. */
    *out = (scavenge_plan){ .release_bytes = excess,
                            .freed_by_ns = now_ns - p->config.idle_ns,
                            .budget_ns = SCAVENGE_SLICE_NS,
                            .wake_ns = now_ns };
}

void scavenge_pacer_plan(scavenge_pacer *p, uint64_t now_ns, uint64_t warm_bytes,
                         uint64_t oldest_stamp, scavenge_plan *out)
{
    /* Forced work with nothing warm to drop is done. */
    if (warm_bytes == 0)
        p->forced_bytes = 0;
    if (p->forced_bytes > 0)
        plan_forced(p, now_ns, warm_bytes, out);
    else
        plan_background(p, now_ns, warm_bytes, oldest_stamp, out);
}

/* The wait after a background slice that keeps work / (work + wait) at or
 * below cpu_permille / 1000, charging reuse on top of the work itself. */
static uint64_t pacing_wait(const scavenge_config *c, uint64_t work_ns)
{
    uint64_t charged = mul_div_ceil(work_ns, 1000u + c->reuse_cost_permille, 1000u);
    return mul_div_ceil(charged, 1000u - c->cpu_permille, c->cpu_permille);
}

void scavenge_pacer_record(scavenge_pacer *p, uint64_t now_ns, uint64_t work_ns,
                           uint64_t released_bytes)
{
    scavenge_stats *s = &p->stats;
    s->released_bytes = add_saturating(s->released_bytes, released_bytes);
    s->work_ns = add_saturating(s->work_ns, work_ns);
    s->slices++;
    s->last_slice_ns = now_ns;
}

uint64_t scavenge_pacer_account(scavenge_pacer *p, uint64_t now_ns, uint64_t work_ns,
                                uint64_t released_bytes, bool more_left)
{
    scavenge_pacer_record(p, now_ns, work_ns, released_bytes);
    if (p->slice_forced) {
        p->slice_forced = false;
        p->forced_bytes = more_left ? sub_floor_zero(p->forced_bytes, released_bytes) : 0;
        /* Plan again at once: the rest of the forced work, or the background
         * plan that takes over. */
        return now_ns;
    }
    if (p->config.cpu_permille == 0)
        return SCAVENGE_NEVER;
    p->resume_ns = add_saturating(now_ns, pacing_wait(&p->config, work_ns));
    if (more_left)
        return p->resume_ns;
    return max_u64(p->resume_ns, add_saturating(now_ns, p->config.interval_ns));
}

void scavenge_pacer_force(scavenge_pacer *p, uint64_t bytes)
{
    p->forced_bytes = add_saturating(p->forced_bytes, bytes);
}

void scavenge_pacer_pressure(scavenge_pacer *p) { p->forced_bytes = UINT64_MAX; }

bool scavenge_pacer_forced(const scavenge_pacer *p) { return p->forced_bytes > 0; }

int scavenge_limit_need(uint64_t limit, uint64_t in_use, uint64_t warm,
                        uint64_t request, uint64_t *release)
{
    if (in_use > limit || request > limit - in_use)
        return -ENOMEM;
    uint64_t room_for_warm = limit - in_use - request;
    *release = sub_floor_zero(warm, room_for_warm);
    return 0;
}

/* ---- piece sizing ---------------------------------------------------------------- */

void scavenge_rate_init(scavenge_rate *r)
{
    *r = (scavenge_rate){ .piece_bytes = SCAVENGE_PIECE_MIN };
}

uint64_t scavenge_piece_bytes(const scavenge_rate *r, bool short_piece, uint64_t page)
{
    uint64_t bytes = r->piece_bytes;
    if (short_piece)
        bytes = max_u64(mul_div_ceil(bytes, SCAVENGE_SHORT_PIECE_NS, SCAVENGE_PIECE_NS),
                        SCAVENGE_SHORT_PIECE_MIN);
    bytes -= bytes % page;
    return max_u64(bytes, page);
}

void scavenge_rate_learn(scavenge_rate *r, uint64_t bytes, uint64_t work_ns, bool short_pieces)
{
    /* Less than one piece (the tail of a plan) is mostly the call's own
     * cost: it would shrink the pieces. */
    uint64_t least = short_pieces ? SCAVENGE_SHORT_PIECE_MIN : SCAVENGE_PIECE_MIN;
    if (bytes < least || work_ns == 0 || (short_pieces && r->learned_long))
        return;
    r->learned_long = r->learned_long || !short_pieces;
    uint64_t fit = mul_div_ceil(bytes, SCAVENGE_PIECE_NS, work_ns);
    fit = fit < SCAVENGE_PIECE_MIN ? SCAVENGE_PIECE_MIN : min_u64(fit, SCAVENGE_PIECE_MAX);
    r->piece_bytes = (r->piece_bytes + fit) / 2;
}
