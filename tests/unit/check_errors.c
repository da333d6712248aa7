#include <check.h>
#include <string.h>

#include "check_run.h"
#include "mempool.h"

START_TEST(every_code_has_a_name_and_a_text)
{
#define CHECK_CODE(name, num, text)                                            \
    ck_assert_int_eq(MEMPOOL_##name, -(num));                                  \
    ck_assert_str_eq(mempool_err_name(MEMPOOL_##name), "MEMPOOL_" #name);      \
    ck_assert_str_eq(mempool_strerror(MEMPOOL_##name), text);
    MEMPOOL_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
}
END_TEST

START_TEST(codes_are_distinct)
{
    static const int codes[] = {
#define LIST_CODE(name, num, text) MEMPOOL_##name,
        MEMPOOL_ERRNO_MAP(LIST_CODE)
#undef LIST_CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_int_ne(codes[i], codes[j]);
}
END_TEST

START_TEST(unknown_codes_are_named_unknown)
{
    ck_assert_str_eq(mempool_err_name(0), "OK");
    ck_assert_str_eq(mempool_err_name(-9999), "MEMPOOL_EUNKNOWN");
    ck_assert_str_eq(mempool_strerror(12345), "unknown error");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_code_has_a_name_and_a_text);
    tcase_add_test(tc, codes_are_distinct);
    tcase_add_test(tc, unknown_codes_are_named_unknown);
    suite_add_tcase(s, tc);
    return check_run(s);
}
