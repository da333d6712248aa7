/* daemon/budget.c: descriptors divided between clients, block backings and
 * the daemon, from the figures the OS gives. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "budget.h"
#include "check_run.h"

static policy pol_with(uint32_t max_clients)
{
    return (policy){ .max_clients = max_clients };
}

START_TEST(everything_fits_under_rlimit_nofile)
{
    policy p = pol_with(1024);
    budget b;
    char why[512] = "";
    ck_assert_int_eq(budget_plan(&p, 20000, 65530, &b, why, sizeof why), 0);
    ck_assert_uint_eq(b.max_clients, 1024);
    ck_assert_uint_eq(b.backings, 20000 - 1024 - BUDGET_RESERVED_FDS);
    ck_assert_uint_le(b.max_clients + b.backings + BUDGET_RESERVED_FDS, 20000);
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(the_kernel_map_count_caps_backings)
{
    policy p = pol_with(16);
    budget b;
    char why[512];
    ck_assert_int_eq(budget_plan(&p, 1000000, 65530, &b, why, sizeof why), 0);
    ck_assert_uint_eq(b.backings, 65530 / 2 - 1024);
    ck_assert_int_eq(budget_plan(&p, UINT64_MAX, 0, &b, why, sizeof why), 0);
    ck_assert_uint_eq(b.backings, 0); /* no limit anywhere */
}
END_TEST

START_TEST(too_many_clients_are_refused_with_the_numbers)
{
    policy p = pol_with(100000);
    budget b;
    char why[512];
    ck_assert_int_eq(budget_plan(&p, 20000, 65530, &b, why, sizeof why), -ERANGE);
    ck_assert_ptr_nonnull(strstr(why, "100000"));
    ck_assert_ptr_nonnull(strstr(why, "RLIMIT_NOFILE allows 20000"));
    /* The clamped plan still fits, with room for backings. */
    ck_assert_uint_eq(b.max_clients, 20000 - BUDGET_RESERVED_FDS - BUDGET_MIN_BACKINGS);
    ck_assert_uint_eq(b.backings, BUDGET_MIN_BACKINGS);
    ck_assert_uint_le(b.max_clients + b.backings + BUDGET_RESERVED_FDS, 20000);
}
END_TEST

START_TEST(a_tiny_limit_still_gives_one_client)
{
    policy p = pol_with(10);
    budget b;
    char why[512];
    ck_assert_int_eq(budget_plan(&p, 100, 0, &b, why, sizeof why), -ERANGE);
    ck_assert_uint_eq(b.max_clients, 1);
    ck_assert_uint_ge(b.backings, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("budget");
    tcase_add_test(tc, everything_fits_under_rlimit_nofile);
    tcase_add_test(tc, the_kernel_map_count_caps_backings);
    tcase_add_test(tc, too_many_clients_are_refused_with_the_numbers);
    tcase_add_test(tc, a_tiny_limit_still_gives_one_client);
    suite_add_tcase(s, tc);
    return check_run(s);
}
