#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "check_run.h"
#include "scavenge_policy.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)
#define MIB (UINT64_C(1) << 20)

static scavenge_config default_config(void)
{
    return (scavenge_config){ .interval_ns = 1 * SEC, .idle_ns = 10 * SEC,
                              .retain_bytes = 0, .cpu_permille = 10,
                              .reuse_cost_permille = 0 };
}

static scavenge_pacer new_pacer(const scavenge_config *c)
{
    scavenge_pacer p;
    ck_assert_int_eq(scavenge_pacer_init(&p, c), 0);
    return p;
}

START_TEST(bad_configs_are_refused)
{
    scavenge_config c = default_config();
    ck_assert_int_eq(scavenge_config_check(&c), 0);
    c.interval_ns = 0;
    ck_assert_int_eq(scavenge_config_check(&c), -EINVAL);
    c = default_config();
    c.cpu_permille = 1001;
    scavenge_pacer p;
    ck_assert_int_eq(scavenge_pacer_init(&p, &c), -EINVAL);
    c = default_config();
    c.reuse_cost_permille = 10001;
    ck_assert_int_eq(scavenge_config_check(&c), -EINVAL);

    p = new_pacer(&(scavenge_config){ .interval_ns = 1, .cpu_permille = 1000 });
    c = default_config();
    c.cpu_permille = 2000;
    ck_assert_int_eq(scavenge_pacer_configure(&p, &c), -EINVAL);
    ck_assert_uint_eq(p.config.cpu_permille, 1000); /* unchanged */
    c.cpu_permille = 20;
    ck_assert_int_eq(scavenge_pacer_configure(&p, &c), 0);
    ck_assert_uint_eq(p.config.cpu_permille, 20);
}
END_TEST

START_TEST(memory_younger_than_idle_stays)
{
    scavenge_config c = default_config();
    scavenge_pacer p = new_pacer(&c);
    scavenge_plan plan;

    /* Freed at 2 s: not idle until 12 s; the scavenger sleeps until then. */
    scavenge_pacer_plan(&p, 3 * SEC, 8 * MIB, 2 * SEC, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, 12 * SEC);
    scavenge_pacer_plan(&p, 12 * SEC - 1, 8 * MIB, 2 * SEC, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, 12 * SEC - 1 + c.interval_ns);

    scavenge_pacer_plan(&p, 12 * SEC, 8 * MIB, 2 * SEC, &plan);
    ck_assert_uint_eq(plan.release_bytes, 8 * MIB);
    ck_assert_uint_eq(plan.freed_by_ns, 2 * SEC); /* exactly idle is old enough */
    ck_assert_uint_le(plan.budget_ns, SCAVENGE_SLICE_NS);
    ck_assert_uint_gt(plan.budget_ns, 0);

    /* Before the clock has run for `idle`, nothing can be idle. */
    scavenge_pacer q = new_pacer(&c);
    scavenge_pacer_plan(&q, 500 * MS, 8 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, 10 * SEC);
}
END_TEST

START_TEST(retain_stays_warm)
{
    scavenge_config c = default_config();
    c.retain_bytes = 64 * MIB;
    scavenge_pacer p = new_pacer(&c);
    scavenge_plan plan;
    uint64_t now = 100 * SEC;

    scavenge_pacer_plan(&p, now, 100 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 36 * MIB);
    ck_assert_uint_eq(plan.freed_by_ns, now - c.idle_ns);
    uint64_t next = scavenge_pacer_account(&p, now + MS, MS, 36 * MIB, false);
    ck_assert_uint_ge(next, now + MS + c.interval_ns);

    scavenge_pacer_plan(&p, next, 64 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, next + c.interval_ns);
    scavenge_pacer_plan(&p, next, 3 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    scavenge_pacer_plan(&p, next, 64 * MIB + 4096, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 4096);
}
END_TEST

/* --- pacing over a long fake run ----------------------------------------- */

typedef struct fake_run {
    uint64_t warm;          /* bytes left to release */
    uint64_t ns_per_mib;    /* what releasing costs */
    uint64_t overrun_ns;    /* how far the driver overshoots its budget */
    uint64_t late_ns;       /* how late its timer fires */
    uint64_t total_work, start, end;
    uint64_t slices;
    int slices_over_share; /* slices whose work exceeded the share of the
                              time until the next slice could start */
    int budgets_too_long;
} fake_run;

static uint64_t work_for(const fake_run *r, uint64_t bytes)
{
    return bytes / MIB * r->ns_per_mib + (bytes % MIB) * r->ns_per_mib / MIB;
}

/* One slice as a driver does it: work until the budget is spent (plus the
 * overrun a real driver has, its last release being indivisible) or the plan
 * is done, then account. Returns when the next slice may start. */
static uint64_t fake_slice(scavenge_pacer *p, fake_run *r, uint64_t now,
                           const scavenge_plan *plan, uint32_t share_permille)
{
    uint64_t want = plan->release_bytes < r->warm ? plan->release_bytes : r->warm;
    uint64_t work = work_for(r, want);
    uint64_t released = want;
    if (work > plan->budget_ns + r->overrun_ns) {
        work = plan->budget_ns + r->overrun_ns;
        released = work * MIB / r->ns_per_mib;
    }
    r->warm -= released;
    r->total_work += work;
    r->slices++;
    r->budgets_too_long += plan->budget_ns > SCAVENGE_SLICE_NS;
    uint64_t end = now + work;
    uint64_t next = scavenge_pacer_account(p, end, work, released, r->warm > 0);
    /* work / (time from this slice's start to the next one's) <= share */
    r->slices_over_share += work * 1000 > share_permille * (next - now);
    return next;
}

static void run_until_released(scavenge_pacer *p, fake_run *r, uint32_t share_permille)
{
    uint64_t now = r->start;
    for (int step = 0; r->warm > 0 && step < 1000000; step++) {
        scavenge_plan plan;
        scavenge_pacer_plan(p, now, r->warm, 0, &plan);
        if (plan.release_bytes == 0) {
            now = plan.wake_ns + r->late_ns;
            continue;
        }
        now = fake_slice(p, r, now, &plan, share_permille) + r->late_ns;
    }
    r->end = now;
}

START_TEST(background_work_stays_within_its_cpu_share)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    scavenge_pacer p = new_pacer(&c);
    /* 4 GiB at 0.25 ms per MiB: 1 s of work, 100 s at 1%. */
    fake_run r = { .warm = 4096 * MIB, .ns_per_mib = 250000, .start = SEC };
    run_until_released(&p, &r, c.cpu_permille);
    ck_assert_uint_eq(r.warm, 0);
    ck_assert_int_eq(r.budgets_too_long, 0);
    ck_assert_int_eq(r.slices_over_share, 0);
    ck_assert_uint_ge(r.slices, 1000); /* cut into slices of at most 1 ms */
    uint64_t elapsed = r.end - r.start;
    ck_assert_uint_le(r.total_work * 1000, c.cpu_permille * elapsed);
    /* and it uses the share it has: no longer than the share allows, plus
     * the one interval it waits after its last slice */
    ck_assert_uint_le(elapsed, r.total_work * 1000 / c.cpu_permille + c.interval_ns);
    ck_assert_uint_eq(p.stats.released_bytes, 4096 * MIB);
    ck_assert_uint_eq(p.stats.work_ns, r.total_work);
    ck_assert_uint_eq(p.stats.slices, r.slices);
}
END_TEST

START_TEST(overruns_and_late_timers_keep_the_share)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    c.cpu_permille = 50;
    scavenge_pacer p = new_pacer(&c);
    fake_run r = { .warm = 1024 * MIB, .ns_per_mib = 333333, .overrun_ns = 700000,
                   .late_ns = 123457, .start = 5 * SEC };
    run_until_released(&p, &r, c.cpu_permille);
    ck_assert_uint_eq(r.warm, 0);
    ck_assert_int_eq(r.slices_over_share, 0);
    ck_assert_uint_le(r.total_work * 1000, c.cpu_permille * (r.end - r.start));
}
END_TEST

START_TEST(reuse_cost_lowers_the_share)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    c.reuse_cost_permille = 700; /* Darwin's scavengeCostRatio */
    scavenge_pacer p = new_pacer(&c);
    fake_run r = { .warm = 1024 * MIB, .ns_per_mib = 250000, .start = SEC };
    run_until_released(&p, &r, c.cpu_permille);
    ck_assert_uint_eq(r.warm, 0);
    uint64_t elapsed = r.end - r.start;
    /* As Go does, the work is charged 1.7 times over, and the charged work
     * keeps within 1% of the time it took plus the rests between:
     * 1.7 W <= 1% (1.7 W + elapsed - W). */
    ck_assert_uint_le(r.total_work * 1700 * 1000,
                      c.cpu_permille * (elapsed * 1000 + r.total_work * 700));
    /* so the work alone keeps well under 1% / 1.6 */
    ck_assert_uint_le(r.total_work * 1600, c.cpu_permille * elapsed);
    ck_assert_uint_le(elapsed, r.total_work * 1700 / c.cpu_permille + c.interval_ns);
}
END_TEST

/* The wait after one background slice of `work` ns ended at `now`. */
static uint64_t wait_after(const scavenge_config *c, uint64_t now, uint64_t work)
{
    scavenge_pacer p = new_pacer(c);
    scavenge_plan plan;
    scavenge_pacer_plan(&p, now - work, 1, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 1);
    return scavenge_pacer_account(&p, now, work, 1, true) - now;
}

START_TEST(the_wait_rounds_up)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    c.cpu_permille = 30;
    int over = 0;
    for (uint64_t work = 999983; work < 999983 + 500; work++) {
        uint64_t wait = wait_after(&c, SEC, work);
        /* work / (work + wait) <= 3%, however work divides */
        over += work * 1000 > c.cpu_permille * (work + wait);
    }
    ck_assert_int_eq(over, 0);
}
END_TEST

START_TEST(a_stalled_slice_waits_without_wrapping)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    c.cpu_permille = 1;
    uint64_t now = UINT64_C(1) << 62;
    uint64_t stall = UINT64_C(1) << 40; /* 18 minutes */
    ck_assert_uint_eq(wait_after(&c, now, stall), 999 * stall);
    /* 2^55 ns of work wants 999 * 2^55 ns of rest: past the end of time */
    ck_assert_uint_eq(wait_after(&c, now, UINT64_C(1) << 55), SCAVENGE_NEVER - now);
    c.reuse_cost_permille = 10000;
    ck_assert_uint_eq(wait_after(&c, now, UINT64_C(1) << 52), SCAVENGE_NEVER - now);
}
END_TEST

START_TEST(zero_cpu_turns_background_work_off)
{
    scavenge_config c = default_config();
    c.cpu_permille = 0;
    scavenge_pacer p = new_pacer(&c);
    scavenge_plan plan;
    scavenge_pacer_plan(&p, 1000 * SEC, 512 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, SCAVENGE_NEVER);
    /* Pressure is not background work. */
    scavenge_pacer_pressure(&p);
    scavenge_pacer_plan(&p, 1000 * SEC, 512 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 512 * MIB);
}
END_TEST

START_TEST(pressure_drops_all_warm_memory_unpaced)
{
    scavenge_config c = default_config();
    c.retain_bytes = 64 * MIB;
    scavenge_pacer p = new_pacer(&c);
    uint64_t now = 50 * SEC;
    scavenge_plan plan;

    /* Young memory within retain: normally kept. */
    scavenge_pacer_plan(&p, now, 40 * MIB, now - MS, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);

    scavenge_pacer_pressure(&p);
    ck_assert(scavenge_pacer_forced(&p));
    uint64_t warm = 40 * MIB;
    int slices = 0;
    while (warm > 0) {
        scavenge_pacer_plan(&p, now, warm, now - MS, &plan);
        ck_assert_uint_eq(plan.release_bytes, warm);
        ck_assert_uint_eq(plan.freed_by_ns, UINT64_MAX);
        ck_assert_uint_le(plan.budget_ns, SCAVENGE_SLICE_NS);
        uint64_t released = warm < 8 * MIB ? warm : 8 * MIB; /* 8 MiB a slice */
        warm -= released;
        now += plan.budget_ns;
        uint64_t next = scavenge_pacer_account(&p, now, plan.budget_ns, released,
                                               warm > 0);
        ck_assert_uint_eq(next, now); /* no pacing: the next loop turn */
        slices++;
    }
    ck_assert_int_eq(slices, 5);
    ck_assert(!scavenge_pacer_forced(&p));
    /* Back to normal: new young memory stays. */
    scavenge_pacer_plan(&p, now, 10 * MIB, now, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(p.stats.released_bytes, 40 * MIB);
}
END_TEST

START_TEST(pressure_ends_when_nothing_is_warm)
{
    scavenge_pacer p = new_pacer(&(scavenge_config){ .interval_ns = SEC,
                                                     .cpu_permille = 10 });
    scavenge_plan plan;
    scavenge_pacer_pressure(&p);
    scavenge_pacer_plan(&p, SEC, 0, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert(!scavenge_pacer_forced(&p));

    /* A driver that finds less than the plan said is done too. */
    scavenge_pacer_pressure(&p);
    scavenge_pacer_plan(&p, SEC, 4 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 4 * MIB);
    scavenge_pacer_account(&p, SEC + MS, MS, MIB, false);
    ck_assert(!scavenge_pacer_forced(&p));
}
END_TEST

START_TEST(forced_bytes_are_released_regardless_of_idle_and_retain)
{
    scavenge_config c = default_config();
    c.retain_bytes = 256 * MIB;
    scavenge_pacer p = new_pacer(&c);
    scavenge_plan plan;
    uint64_t now = 20 * SEC;
    scavenge_pacer_force(&p, 10 * MIB);
    scavenge_pacer_plan(&p, now, 100 * MIB, now, &plan);
    ck_assert_uint_eq(plan.release_bytes, 10 * MIB);
    scavenge_pacer_account(&p, now + MS, MS, 4 * MIB, true);
    scavenge_pacer_plan(&p, now + MS, 96 * MIB, now, &plan);
    ck_assert_uint_eq(plan.release_bytes, 6 * MIB);
    scavenge_pacer_account(&p, now + 2 * MS, MS, 6 * MIB, true);
    ck_assert(!scavenge_pacer_forced(&p));
    scavenge_pacer_plan(&p, now + 2 * MS, 90 * MIB, now, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(p.stats.released_bytes, 10 * MIB);
    ck_assert_uint_eq(p.stats.slices, 2);
    ck_assert_uint_eq(p.stats.last_slice_ns, now + 2 * MS);
}
END_TEST

START_TEST(background_waits_for_its_pacing)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    scavenge_pacer p = new_pacer(&c);
    scavenge_plan plan;
    scavenge_pacer_plan(&p, SEC, 100 * MIB, 0, &plan);
    ck_assert_uint_gt(plan.release_bytes, 0);
    uint64_t next = scavenge_pacer_account(&p, SEC + MS, MS, 4 * MIB, true);
    ck_assert_uint_eq(next, SEC + MS + 99 * MS); /* 1 ms of work: 99 ms off */
    scavenge_pacer_plan(&p, next - 1, 96 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 0);
    ck_assert_uint_eq(plan.wake_ns, next);
    scavenge_pacer_plan(&p, next, 96 * MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, 96 * MIB);
    /* The last slice: the scavenger goes back to looking every interval. */
    next = scavenge_pacer_account(&p, next + MS, MS, 96 * MIB, false);
    ck_assert_uint_eq(next, SEC + 101 * MS + c.interval_ns);
}
END_TEST

START_TEST(limit_path_releases_just_enough)
{
    uint64_t release = 12345;
    /* 128 MiB limit, nothing in use, all warm: a new 128 MiB block fits
     * once all of it is released. */
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 0, 128 * MIB, 128 * MIB, &release), 0);
    ck_assert_uint_eq(release, 128 * MIB);
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 32 * MIB, 64 * MIB, 48 * MIB, &release), 0);
    ck_assert_uint_eq(release, 16 * MIB);
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 32 * MIB, 16 * MIB, 48 * MIB, &release), 0);
    ck_assert_uint_eq(release, 0);
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 64 * MIB, 0, 64 * MIB, &release), 0);
    ck_assert_uint_eq(release, 0);
    release = 777;
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 64 * MIB, 64 * MIB, 64 * MIB + 1, &release),
                     -ENOMEM);
    ck_assert_int_eq(scavenge_limit_need(128 * MIB, 129 * MIB, 0, 0, &release), -ENOMEM);
    ck_assert_int_eq(scavenge_limit_need(UINT64_MAX, 1, 0, UINT64_MAX, &release), -ENOMEM);
    ck_assert_uint_eq(release, 777);
}
END_TEST

START_TEST(limit_path_work_is_recorded_not_paced)
{
    scavenge_config c = default_config();
    c.idle_ns = 0;
    scavenge_pacer p = new_pacer(&c);
    scavenge_pacer_record(&p, 3 * SEC, 5 * MS, 64 * MIB);
    ck_assert_uint_eq(p.stats.released_bytes, 64 * MIB);
    ck_assert_uint_eq(p.stats.work_ns, 5 * MS);
    ck_assert_uint_eq(p.stats.slices, 1);
    ck_assert_uint_eq(p.stats.last_slice_ns, 3 * SEC);
    scavenge_plan plan;
    scavenge_pacer_plan(&p, 3 * SEC, MIB, 0, &plan);
    ck_assert_uint_eq(plan.release_bytes, MIB);
}
END_TEST

/* ---- piece sizing ---------------------------------------------------------------- */

#define PAGE UINT64_C(4096)

/* A release call that costs fixed_ns whatever its size, and then
 * bytes_per_ns: what the driver measures around pool_release_warm_part. */
typedef struct fake_release {
    uint64_t fixed_ns;
    double bytes_per_ns;
} fake_release;

static uint64_t release_ns(const fake_release *f, uint64_t bytes)
{
    return f->fixed_ns + (uint64_t)((double)bytes / f->bytes_per_ns);
}

/* Slices of one piece each, all short or all long, learning as the driver
 * does; returns the piece they settle on. */
static uint64_t settle(const fake_release *f, bool short_piece, scavenge_rate *r)
{
    uint64_t bytes = 0;
    for (int i = 0; i < 64; i++) {
        bytes = scavenge_piece_bytes(r, short_piece, PAGE);
        scavenge_rate_learn(r, bytes, release_ns(f, bytes), short_piece);
    }
    return bytes;
}

/* 4 bytes/ns and 1 us per call: long pieces settle where they take about
 * 50 us, short ones about 10 us, and short ones, which the call's own cost
 * makes look slower, do not shrink the long ones once those have been
 * seen. */
START_TEST(pieces_settle_on_their_time)
{
    fake_release f = { .fixed_ns = 1000, .bytes_per_ns = 4.0 };
    scavenge_rate r;
    scavenge_rate_init(&r);
    uint64_t full = settle(&f, false, &r);
    ck_assert_uint_ge(release_ns(&f, full), 45000);
    ck_assert_uint_le(release_ns(&f, full), 55000);
    uint64_t short_piece = settle(&f, true, &r);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, false, PAGE), full);
    ck_assert_uint_ge(release_ns(&f, short_piece), 8000);
    ck_assert_uint_le(release_ns(&f, short_piece), 12000);
    ck_assert_uint_eq(full % PAGE, 0);
    ck_assert_uint_eq(short_piece % PAGE, 0);
}
END_TEST

/* A driver busy from its start runs short pieces only: they must learn the
 * rate too, not keep the first guess (64 KiB, a fifth of it clamped up to
 * the 16 KiB floor) for ever. */
START_TEST(short_pieces_alone_learn_the_rate)
{
    fake_release f = { .fixed_ns = 1000, .bytes_per_ns = 4.0 };
    scavenge_rate r;
    scavenge_rate_init(&r);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, true, PAGE), SCAVENGE_SHORT_PIECE_MIN);
    uint64_t short_piece = settle(&f, true, &r);
    ck_assert_uint_ge(short_piece, 2 * SCAVENGE_SHORT_PIECE_MIN);
    ck_assert_uint_le(release_ns(&f, short_piece), 12000);
}
END_TEST

/* The tail of a plan, less than one piece, is mostly the call's own cost:
 * it does not shrink settled pieces. */
START_TEST(a_tail_smaller_than_a_piece_teaches_nothing)
{
    fake_release f = { .fixed_ns = 1000, .bytes_per_ns = 4.0 };
    scavenge_rate r;
    scavenge_rate_init(&r);
    uint64_t full = settle(&f, false, &r);
    for (int i = 0; i < 8; i++)
        scavenge_rate_learn(&r, 2 * PAGE, release_ns(&f, 2 * PAGE), false);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, false, PAGE), full);
}
END_TEST

/* Very slow and very fast releases stay within the bounds; a page larger
 * than any piece (2 MiB huge pages) gives pieces of one page. */
START_TEST(pieces_keep_their_bounds)
{
    scavenge_rate r;
    scavenge_rate_init(&r);
    settle(&(fake_release){ .fixed_ns = 1000, .bytes_per_ns = 0.01 }, false, &r);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, false, PAGE), SCAVENGE_PIECE_MIN);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, true, PAGE), SCAVENGE_SHORT_PIECE_MIN);
    settle(&(fake_release){ .fixed_ns = 0, .bytes_per_ns = 1000.0 }, false, &r);
    ck_assert_uint_le(scavenge_piece_bytes(&r, false, PAGE), SCAVENGE_PIECE_MAX);
    ck_assert_uint_ge(scavenge_piece_bytes(&r, false, PAGE), SCAVENGE_PIECE_MAX - PAGE);
    ck_assert_uint_eq(scavenge_piece_bytes(&r, true, 2 * MIB), 2 * MIB);
    scavenge_rate_learn(&r, 0, 5, false);
    scavenge_rate_learn(&r, 5, 0, false);
    ck_assert_uint_le(scavenge_piece_bytes(&r, false, PAGE), SCAVENGE_PIECE_MAX);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scavenge_policy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bad_configs_are_refused);
    tcase_add_test(tc, memory_younger_than_idle_stays);
    tcase_add_test(tc, retain_stays_warm);
    tcase_add_test(tc, background_work_stays_within_its_cpu_share);
    tcase_add_test(tc, overruns_and_late_timers_keep_the_share);
    tcase_add_test(tc, reuse_cost_lowers_the_share);
    tcase_add_test(tc, the_wait_rounds_up);
    tcase_add_test(tc, a_stalled_slice_waits_without_wrapping);
    tcase_add_test(tc, zero_cpu_turns_background_work_off);
    tcase_add_test(tc, pressure_drops_all_warm_memory_unpaced);
    tcase_add_test(tc, pressure_ends_when_nothing_is_warm);
    tcase_add_test(tc, forced_bytes_are_released_regardless_of_idle_and_retain);
    tcase_add_test(tc, background_waits_for_its_pacing);
    tcase_add_test(tc, limit_path_releases_just_enough);
    tcase_add_test(tc, limit_path_work_is_recorded_not_paced);
    tcase_add_test(tc, pieces_settle_on_their_time);
    tcase_add_test(tc, short_pieces_alone_learn_the_rate);
    tcase_add_test(tc, a_tail_smaller_than_a_piece_teaches_nothing);
    tcase_add_test(tc, pieces_keep_their_bounds);
    suite_add_tcase(s, tc);
    return check_run(s);
}
