/* The names table: publishing rules, limits, block deaths, waiters and
 * their deadlines, with fake time. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "names.h"

static name_entry entry(const char *pool, const char *name, uint64_t block, uint32_t uid)
{
    name_entry e = { .block_id = block, .size = 4096, .publisher_uid = uid,
                     .prot = MEMPOOL_READ | MEMPOOL_WRITE };
    snprintf(e.pool, sizeof e.pool, "%s", pool);
    snprintf(e.name, sizeof e.name, "%s", name);
    e.handle.bytes[0] = (unsigned char)block;
    return e;
}

static name_waiter waiter(const char *pool, const char *name, uint64_t deadline)
{
    name_waiter w = { .deadline_ns = deadline };
    snprintf(w.pool, sizeof w.pool, "%s", pool);
    snprintf(w.name, sizeof w.name, "%s", name);
    return w;
}

static names *table(uint32_t per_uid)
{
    names *t = names_new();
    ck_assert_ptr_nonnull(t);
    names_set_limits(t, &(names_limits){ .per_uid = per_uid });
    return t;
}

START_TEST(publish_find_unpublish)
{
    names *t = table(100);
    name_entry e = entry("p", "cam/0", 7, 1000), old;
    ck_assert_int_eq(names_publish(t, &e, 10, false, &old), 0);
    ck_assert_uint_eq(old.block_id, 0);
    const name_entry *got = names_find(t, "p", "cam/0");
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->block_id, 7);
    ck_assert_ptr_null(names_find(t, "q", "cam/0")); /* names are per pool */
    ck_assert_ptr_null(names_find(t, "p", "cam/1"));
    ck_assert_uint_eq(names_count(t), 1);
    ck_assert_uint_eq(names_count_in_pool(t, "p"), 1);
    ck_assert_uint_eq(names_count_of_uid(t, 1000), 1);
    ck_assert_int_eq(names_unpublish(t, "p", "cam/0", 1001, &old), MEMPOOL_EACCES);
    ck_assert_int_eq(names_unpublish(t, "p", "cam/0", 1000, &old), 0);
    ck_assert_uint_eq(old.block_id, 7);
    ck_assert_int_eq(names_unpublish(t, "p", "cam/0", 1000, &old), MEMPOOL_ENONAME);
    ck_assert_ptr_null(names_find(t, "p", "cam/0"));
    ck_assert_uint_eq(names_count(t), 0);
    ck_assert_uint_eq(names_count_in_pool(t, "p"), 0);
    ck_assert_uint_eq(names_count_of_uid(t, 1000), 0);
    names_free(t);
}
END_TEST

START_TEST(root_may_unpublish_any)
{
    names *t = table(100);
    name_entry e = entry("p", "x", 7, 1000), old;
    ck_assert_int_eq(names_publish(t, &e, 10, false, &old), 0);
    ck_assert_int_eq(names_unpublish(t, "p", "x", 0, &old), 0);
    names_free(t);
}
END_TEST

START_TEST(exists_and_replace)
{
    names *t = table(100);
    name_entry a = entry("p", "x", 7, 1000), b = entry("p", "x", 8, 1000), old;
    name_entry other = entry("p", "x", 9, 1001), root = entry("p", "x", 10, 0);
    ck_assert_int_eq(names_publish(t, &a, 10, false, &old), 0);
    ck_assert_int_eq(names_publish(t, &b, 10, false, &old), MEMPOOL_EEXIST);
    ck_assert_int_eq(names_publish(t, &other, 10, true, &old), MEMPOOL_EACCES);
    ck_assert_uint_eq(names_find(t, "p", "x")->block_id, 7);
    ck_assert_int_eq(names_publish(t, &b, 10, true, &old), 0);
    ck_assert_uint_eq(old.block_id, 7);
    ck_assert_uint_eq(names_find(t, "p", "x")->block_id, 8);
    ck_assert_uint_eq(names_count(t), 1);
    /* Root takes it over: the count moves from one uid to the other. */
    ck_assert_int_eq(names_publish(t, &root, 10, true, &old), 0);
    ck_assert_uint_eq(old.block_id, 8);
    ck_assert_uint_eq(names_count_of_uid(t, 1000), 0);
    ck_assert_uint_eq(names_count_of_uid(t, 0), 1);
    /* The old block's death no longer touches the name. */
    names_block_died(t, 8);
    ck_assert_uint_eq(names_find(t, "p", "x")->block_id, 10);
    names_free(t);
}
END_TEST

START_TEST(limits_per_pool_and_uid)
{
    names *t = table(3);
    name_entry old;
    char n[16];
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "a%d", i);
        name_entry e = entry("p", n, 10 + (uint64_t)i, 1000);
        ck_assert_int_eq(names_publish(t, &e, 2, false, &old), 0);
    }
    name_entry full = entry("p", "a2", 20, 1001);
    ck_assert_int_eq(names_publish(t, &full, 2, false, &old), MEMPOOL_ELIMIT);
    /* A replace takes the old name's place in a full pool. */
    name_entry again = entry("p", "a1", 21, 1000);
    ck_assert_int_eq(names_publish(t, &again, 2, true, &old), 0);
    name_entry q = entry("q", "b", 30, 1000);
    ck_assert_int_eq(names_publish(t, &q, 10, false, &old), 0);
    name_entry q2 = entry("q", "c", 31, 1000);
    ck_assert_int_eq(names_publish(t, &q2, 10, false, &old), MEMPOOL_ELIMIT);
    ck_assert_uint_eq(names_count_of_uid(t, 1000), 3);
    name_entry other = entry("q", "c", 31, 1001);
    ck_assert_int_eq(names_publish(t, &other, 10, false, &old), 0);
    name_entry none = entry("r", "d", 40, 5);
    ck_assert_int_eq(names_publish(t, &none, 0, false, &old), MEMPOOL_ELIMIT);
    names_free(t);
}
END_TEST

START_TEST(block_death_removes_all_its_names)
{
    names *t = table(100);
    name_entry old;
    const char *names_of_7[] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        name_entry e = entry("p", names_of_7[i], 7, 1000);
        ck_assert_int_eq(names_publish(t, &e, 10, false, &old), 0);
    }
    name_entry other = entry("p", "d", 8, 1000);
    ck_assert_int_eq(names_publish(t, &other, 10, false, &old), 0);
    ck_assert_int_eq(names_unpublish(t, "p", "b", 1000, &old), 0); /* mid-chain */
    names_block_died(t, 7);
    ck_assert_ptr_null(names_find(t, "p", "a"));
    ck_assert_ptr_null(names_find(t, "p", "c"));
    ck_assert_ptr_nonnull(names_find(t, "p", "d"));
    ck_assert_uint_eq(names_count(t), 1);
    ck_assert_uint_eq(names_count_of_uid(t, 1000), 1);
    names_block_died(t, 99); /* unknown: nothing */
    ck_assert_uint_eq(names_count(t), 1);
    names_free(t);
}
END_TEST

static void count_entry(const name_entry *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
}

/* Enough names to grow the buckets several times. */
START_TEST(many_names_and_foreach)
{
    names *t = table(100000);
    name_entry old;
    char n[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(n, sizeof n, "n.%d", i);
        name_entry e = entry(i % 2 ? "odd" : "even", n, 1 + (uint64_t)i, 1000);
        ck_assert_int_eq(names_publish(t, &e, 100000, false, &old), 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(n, sizeof n, "n.%d", i);
        const name_entry *e = names_find(t, i % 2 ? "odd" : "even", n);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->block_id, 1 + (uint64_t)i);
    }
    int all = 0, odd = 0;
    names_foreach(t, NULL, count_entry, &all);
    names_foreach(t, "odd", count_entry, &odd);
    ck_assert_int_eq(all, 5000);
    ck_assert_int_eq(odd, 2500);
    ck_assert_uint_eq(names_count_in_pool(t, "even"), 2500);
    names_free(t);
}
END_TEST

START_TEST(waiters_wake_on_publish_oldest_first)
{
    names *t = table(100);
    name_waiter w1 = waiter("p", "x", UINT64_MAX), w2 = waiter("p", "x", 500),
                w3 = waiter("p", "y", UINT64_MAX);
    ck_assert_int_eq(names_wait(t, &w1), 0);
    ck_assert_int_eq(names_wait(t, &w2), 0);
    ck_assert_int_eq(names_wait(t, &w3), 0);
    ck_assert_uint_eq(names_waiting(t), 3);
    ck_assert_ptr_null(names_take_woken(t, "p", "x")); /* not published yet */
    name_entry e = entry("p", "x", 7, 1000), old;
    ck_assert_int_eq(names_publish(t, &e, 10, false, &old), 0);
    ck_assert_ptr_eq(names_take_woken(t, "p", "x"), &w1);
    ck_assert_ptr_eq(names_take_woken(t, "p", "x"), &w2);
    ck_assert_ptr_null(names_take_woken(t, "p", "x"));
    /* w2's deadline left with it. */
    ck_assert_uint_eq(names_next_deadline(t), UINT64_MAX);
    ck_assert_uint_eq(names_waiting(t), 1);
    names_cancel(t, &w3);
    names_cancel(t, &w3); /* twice: a no-op */
    ck_assert_uint_eq(names_waiting(t), 0);
    names_free(t);
}
END_TEST

/* Deadlines come out in order, none before its time, whatever order they
 * went in and whichever were cancelled. */
START_TEST(deadlines_in_order)
{
    enum { N = 200 };
    static name_waiter w[N];
    names *t = table(100);
    srand(7);
    for (int i = 0; i < N; i++) {
        char n[16];
        snprintf(n, sizeof n, "n%d", i % 7);
        w[i] = waiter("p", n, 1000 + (uint64_t)(rand() % 10000));
        ck_assert_int_eq(names_wait(t, &w[i]), 0);
    }
    for (int i = 0; i < N; i += 3)
        names_cancel(t, &w[i]);
    uint64_t last = 0;
    size_t taken = 0;
    for (uint64_t now = 0; now <= 12000; now += 250) {
        name_waiter *x;
        while ((x = names_take_expired(t, now)) != NULL) {
            ck_assert_uint_le(x->deadline_ns, now);
            ck_assert_uint_ge(x->deadline_ns, last);
            last = x->deadline_ns;
            taken++;
        }
        ck_assert(names_next_deadline(t) > now);
    }
    ck_assert_uint_eq(taken, N - (N + 2) / 3);
    ck_assert_uint_eq(names_waiting(t), 0);
    names_free(t);
}
END_TEST

/* A waiter on a name never published, and the name's slot, leave no
 * trace once cancelled (ASan sees the slot freed). */
START_TEST(waiting_for_unpublished_name_then_cancel)
{
    names *t = table(100);
    name_waiter w = waiter("p", "never", 100);
    ck_assert_int_eq(names_wait(t, &w), 0);
    ck_assert_uint_eq(names_next_deadline(t), 100);
    names_cancel(t, &w);
    ck_assert_uint_eq(names_next_deadline(t), UINT64_MAX);
    ck_assert_ptr_null(names_find(t, "p", "never"));
    names_free(t);
}
END_TEST

/* FNV-1a over "pool\0name", the table's hash before it was keyed: names
 * a client can compute to fall in one bucket. */
static uint64_t fnv1a(const char *pool, const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = pool; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = h * 1099511628211ULL;
    for (const char *p = name; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

#define CHOSEN_NAMES 4096

/* The attack: 4,096 waiting lookups on names chosen to share the low 12
 * bits of their hash put every slot in one bucket of the unkeyed table.
 * Under a random key they spread as any names do (about 8 at most in a
 * bucket; 32 is a generous bound that only a chosen set would pass). */
START_TEST(chosen_names_do_not_share_a_bucket)
{
    names *t = table(100);
    static name_waiter w[CHOSEN_NAMES];
    uint64_t seq = 0;
    for (int i = 0; i < CHOSEN_NAMES; i++) {
        char name[32];
        do
            snprintf(name, sizeof name, "n%llu", (unsigned long long)seq++);
        while ((fnv1a("default", name) & 0xfff) != 0);
        w[i] = waiter("default", name, UINT64_MAX);
        ck_assert_int_eq(names_wait(t, &w[i]), 0);
    }
    ck_assert_uint_eq(names_waiting(t), CHOSEN_NAMES);
    ck_assert_uint_le(names_longest_chain(t), 32);
    for (int i = 0; i < CHOSEN_NAMES; i++)
        names_cancel(t, &w[i]);
    ck_assert_uint_eq(names_waiting(t), 0);
    names_free(t);
}
END_TEST

static Suite *names_suite(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, publish_find_unpublish);
    tcase_add_test(tc, root_may_unpublish_any);
    tcase_add_test(tc, exists_and_replace);
    tcase_add_test(tc, limits_per_pool_and_uid);
    tcase_add_test(tc, block_death_removes_all_its_names);
    tcase_add_test(tc, many_names_and_foreach);
    tcase_add_test(tc, waiters_wake_on_publish_oldest_first);
    tcase_add_test(tc, deadlines_in_order);
    tcase_add_test(tc, waiting_for_unpublished_name_then_cancel);
    tcase_add_test(tc, chosen_names_do_not_share_a_bucket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(names_suite()); }
