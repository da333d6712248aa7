#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_run.h"
#include "idtable.h"

START_TEST(put_get_remove)
{
    idtable t;
    int a, b;
    idtable_init(&t);
    ck_assert_int_eq(idtable_put(&t, 7, &a), 0);
    ck_assert_int_eq(idtable_put(&t, 9, &b), 0);
    ck_assert_int_eq(idtable_put(&t, 7, &b), -EEXIST);
    ck_assert_int_eq(idtable_put(&t, 0, &b), -EINVAL);
    ck_assert_ptr_eq(idtable_get(&t, 7), &a);
    ck_assert_ptr_eq(idtable_get(&t, 9), &b);
    ck_assert_ptr_null(idtable_get(&t, 8));
    ck_assert_ptr_eq(idtable_remove(&t, 7), &a);
    ck_assert_ptr_null(idtable_get(&t, 7));
    ck_assert_ptr_null(idtable_remove(&t, 7));
    ck_assert_uint_eq(t.count, 1);
    idtable_destroy(&t);
}
END_TEST

/* Random puts and removes against a plain array model: every key stays
 * findable across growth and backward-shift deletion. */
START_TEST(matches_a_model_under_churn)
{
    enum { KEYS = 5000, STEPS = 200000 };
    static int present[KEYS];
    idtable t;
    idtable_init(&t);
    srand(12345);
    for (int step = 0; step < STEPS; step++) {
        int k = rand() % KEYS;
        uint64_t key = (uint64_t)k * 64 + 1; /* clustered keys */
        if (present[k]) {
            ck_assert_ptr_eq(idtable_remove(&t, key), &present[k]);
            present[k] = 0;
        } else {
            ck_assert_int_eq(idtable_put(&t, key, &present[k]), 0);
            present[k] = 1;
        }
    }
    size_t count = 0;
    for (int k = 0; k < KEYS; k++) {
        void *v = idtable_get(&t, (uint64_t)k * 64 + 1);
        ck_assert_ptr_eq(v, present[k] ? &present[k] : NULL);
        count += present[k] != 0;
    }
    ck_assert_uint_eq(t.count, count);
    idtable_destroy(&t);
}
END_TEST

/* The table gives its memory back as it empties: smaller below 1/8 full,
 * nothing at all when empty; every key stays findable on the way down. */
START_TEST(shrinks_as_it_empties)
{
    enum { N = 100000 };
    idtable t;
    idtable_init(&t);
    static int v;
    for (uint64_t k = 1; k <= N; k++)
        ck_assert_int_eq(idtable_put(&t, k, &v), 0);
    ck_assert_uint_ge(idtable_slots(&t), 2 * N);
    for (uint64_t k = 1; k <= N - 100; k++)
        ck_assert_ptr_eq(idtable_remove(&t, k), &v);
    ck_assert_uint_le(idtable_slots(&t), 2048);
    for (uint64_t k = N - 99; k <= N; k++)
        ck_assert_ptr_eq(idtable_get(&t, k), &v);
    for (uint64_t k = N - 99; k <= N; k++)
        ck_assert_ptr_eq(idtable_remove(&t, k), &v);
    ck_assert_uint_eq(idtable_slots(&t), 0);
    ck_assert_ptr_null(t.now_keys);
    ck_assert_ptr_null(t.old_keys);
    ck_assert_int_eq(idtable_put(&t, 7, &v), 0);
    ck_assert_ptr_eq(idtable_get(&t, 7), &v);
    idtable_destroy(&t);
}
END_TEST

/* Growing never rehashes the whole table in one call: while it grows,
 * the old arrays empty a few entries per call, every key stays findable
 * in one of the two, and a walk sees each entry exactly once. */
START_TEST(grows_a_few_entries_per_call)
{
    enum { N = 1 << 16 };
    idtable t;
    idtable_init(&t);
    static int v;
    size_t resizes = 0;
    for (uint64_t k = 1; k <= N; k++) {
        bool resizing = t.old_cap > 0;
        size_t old_before = t.old_count;
        ck_assert_int_eq(idtable_put(&t, k * 7919, &v), 0);
        if (resizing)
            ck_assert_uint_le(old_before - t.old_count, 8); /* moved this call */
        else if (t.old_cap > 0)
            resizes++;
        if (k % 1021 == 0) {
            size_t seen = 0;
            for (size_t i = 0; i < idtable_slots(&t); i++)
                seen += idtable_at(&t, i, NULL, NULL);
            ck_assert_uint_eq(seen, k);
            for (uint64_t j = 1; j <= k; j += 31)
                ck_assert_ptr_eq(idtable_get(&t, j * 7919), &v);
        }
    }
    ck_assert_uint_ge(resizes, 8); /* from 64 slots up, each spread over calls */
    for (uint64_t k = 1; k <= N; k++)
        ck_assert_ptr_eq(idtable_remove(&t, k * 7919), &v);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_uint_eq(idtable_slots(&t), 0);
    idtable_destroy(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idtable");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, put_get_remove);
    tcase_add_test(tc, matches_a_model_under_churn);
    tcase_add_test(tc, shrinks_as_it_empties);
    tcase_add_test(tc, grows_a_few_entries_per_call);
    suite_add_tcase(s, tc);
    return check_run(s);
}
