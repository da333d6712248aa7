/* The log limiter on fake time: bursts, refill, per-key independence, the
 * overall cap, suppressed counts reported once, eviction. */
#include <check.h>
#include <stdint.h>

#include "check_run.h"
#include "ratelimit.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)

static const ratelimit_config config = {
    .per_key_per_s = 2, .per_key_burst = 10, .overall_per_s = 20, .overall_burst = 100,
};

/* Lines let through for `key` out of `tries` at one instant. */
static int allowed(ratelimit *rl, uint32_t key, int tries, uint64_t now)
{
    int n = 0;
    for (int i = 0; i < tries; i++)
        n += ratelimit_take(rl, key, now).allow;
    return n;
}

START_TEST(a_burst_then_the_rate)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    ck_assert_int_eq(allowed(&rl, 7, 1000, 1 * SEC), 10);
    /* Half a second later: one more line (2 a second). */
    ck_assert_int_eq(allowed(&rl, 7, 1000, 1 * SEC + 500 * MS), 1);
    ck_assert_int_eq(allowed(&rl, 7, 1000, 1 * SEC + 999 * MS), 0);
    /* A flood of 60 s gives at most burst + 2 * 60 lines. */
    int total = 0;
    for (uint64_t t = 2 * SEC; t < 62 * SEC; t += 10 * MS)
        total += allowed(&rl, 7, 10, t);
    ck_assert_int_le(total, 10 + 2 * 60);
    ck_assert_int_ge(total, 2 * 60 - 2);
}
END_TEST

START_TEST(the_next_line_reports_what_was_suppressed)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    allowed(&rl, 7, 10 + 57, 0);
    ratelimit_verdict v = ratelimit_take(&rl, 7, 500 * MS);
    ck_assert(v.allow);
    ck_assert_uint_eq(v.key_suppressed, 57);
    ck_assert_uint_eq(v.overall_suppressed, 0);
    v = ratelimit_take(&rl, 7, 1000 * MS);
    ck_assert(v.allow);
    ck_assert_uint_eq(v.key_suppressed, 0); /* reported once */
}
END_TEST

START_TEST(one_key_does_not_silence_another)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    ck_assert_int_eq(allowed(&rl, 65534, 10000, 0), 10);
    ck_assert_int_eq(allowed(&rl, 0, 5, 0), 5);
}
END_TEST

START_TEST(many_keys_meet_the_overall_cap)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    int total = 0;
    for (uint32_t key = 1; key <= 50; key++)
        total += allowed(&rl, key, 10, 0);
    ck_assert_int_eq(total, 100);
    ratelimit_verdict v = ratelimit_take(&rl, 51, 50 * MS);
    ck_assert(v.allow); /* 50 ms at 20 a second: one line */
    ck_assert_uint_eq(v.overall_suppressed, 400);
}
END_TEST

static uint64_t reported_key_count, reported_overall;
static uint32_t reported_key;

static void record(uint32_t key, bool is_overall, uint64_t count, void *arg)
{
    (void)arg;
    if (is_overall) {
        reported_overall += count;
    } else {
        reported_key = key;
        reported_key_count += count;
    }
}

START_TEST(flush_reports_a_flood_that_ended)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    reported_key_count = reported_overall = 0;
    allowed(&rl, 42, 30, 0);
    /* Still no credit: nothing to report yet. */
    ck_assert_uint_eq(ratelimit_flush(&rl, 100 * MS, record, NULL), 0);
    ck_assert_uint_eq(ratelimit_flush(&rl, 600 * MS, record, NULL), 1);
    ck_assert_uint_eq(reported_key, 42);
    ck_assert_uint_eq(reported_key_count, 20);
    ck_assert_uint_eq(ratelimit_flush(&rl, 5 * SEC, record, NULL), 0);
}
END_TEST

START_TEST(an_evicted_key_keeps_its_count_overall)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 0);
    allowed(&rl, 1000, 13, 0); /* 3 suppressed */
    /* The table is full once 63 more keys came: the next evicts 1000,
     * the key seen longest ago, and its line carries the count. */
    for (uint32_t key = 1; key < RATELIMIT_KEYS; key++)
        ck_assert_uint_eq(ratelimit_take(&rl, key, key * MS).overall_suppressed, 0);
    ratelimit_verdict v = ratelimit_take(&rl, 2000, 10 * SEC);
    ck_assert(v.allow);
    ck_assert_uint_eq(v.overall_suppressed, 3);
    ck_assert_uint_eq(v.key_suppressed, 0);
}
END_TEST

START_TEST(a_clock_going_back_adds_nothing)
{
    ratelimit rl;
    ratelimit_init(&rl, &config, 10 * SEC);
    ck_assert_int_eq(allowed(&rl, 1, 100, 10 * SEC), 10);
    ck_assert_int_eq(allowed(&rl, 1, 100, 1 * SEC), 0);
    ck_assert_int_eq(allowed(&rl, 1, 100, 10 * SEC), 0);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, a_burst_then_the_rate);
    tcase_add_test(tc, the_next_line_reports_what_was_suppressed);
    tcase_add_test(tc, one_key_does_not_silence_another);
    tcase_add_test(tc, many_keys_meet_the_overall_cap);
    tcase_add_test(tc, flush_reports_a_flood_that_ended);
    tcase_add_test(tc, an_evicted_key_keeps_its_count_overall);
    tcase_add_test(tc, a_clock_going_back_adds_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(ratelimit_suite()); }
