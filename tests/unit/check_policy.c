#include <check.h>
#include <string.h>

#include "policy.h"

START_TEST(a_minimal_policy_loads)
{
    static const char text[] = "pools:\n  - name: default\n";
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), 0);
    ck_assert_uint_eq(p->npools, 1);
    policy_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, a_minimal_policy_loads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
