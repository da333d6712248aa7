/* mempoolctl's command line (ctl/ctl_args.c): options before or after the
 * command, `--`, usage errors, the watch interval's strict grammar and
 * range, and the width tables fit. */
#include <check.h>
#include <string.h>

#include "check_run.h"
#include "ctl_args.h"

/* Parses a NULL-terminated list (without argv[0]); returns what
 * ctl_args_parse returned. */
static int parse(ctl_args *a, char *why, const char *const *words)
{
    char *argv[32] = { "mempoolctl" };
    int argc = 1;
    for (; words[argc - 1] != NULL; argc++)
        argv[argc] = (char *)words[argc - 1];
    return ctl_args_parse(argc, argv, a, why, 160);
}

START_TEST(options_go_before_or_after_the_command)
{
    ctl_args a;
    char why[160];
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "stats", "--json", NULL }), 0);
    ck_assert(a.json);
    ck_assert_int_eq(a.nwords, 1);
    ck_assert_str_eq(a.words[0], "stats");
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "--json", "stats", NULL }), 0);
    ck_assert(a.json);
    ck_assert_int_eq(a.nwords, 1);
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "pool", "-s", "/x.sock", "default", "-j",
                                                      NULL }),
                     0);
    ck_assert_str_eq(a.socket, "/x.sock");
    ck_assert(a.json);
    ck_assert_int_eq(a.nwords, 2);
    ck_assert_str_eq(a.words[1], "default");
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "--socket=/y.sock", "pools", NULL }), 0);
    ck_assert_str_eq(a.socket, "/y.sock");
    ck_assert(!a.json);
}
END_TEST

START_TEST(double_dash_ends_the_options)
{
    ctl_args a;
    char why[160];
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "-j", "--", "pool", "-odd", NULL }), 0);
    ck_assert(a.json);
    ck_assert_int_eq(a.nwords, 2);
    ck_assert_str_eq(a.words[1], "-odd");
}
END_TEST

START_TEST(help_and_version_need_no_command)
{
    ctl_args a;
    char why[160];
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "--version", NULL }), 0);
    ck_assert_int_eq(a.action, CTL_VERSION);
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "-V", NULL }), 0);
    ck_assert_int_eq(a.action, CTL_VERSION);
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "stats", "--help", NULL }), 0);
    ck_assert_int_eq(a.action, CTL_HELP);
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "-h", NULL }), 0);
    ck_assert_int_eq(a.action, CTL_HELP);
}
END_TEST

START_TEST(usage_errors_say_why)
{
    ctl_args a;
    char why[160];
    ck_assert_int_eq(parse(&a, why, (const char *[]){ NULL }), -1);
    ck_assert_str_eq(why, "no command");
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "--json", NULL }), -1);
    ck_assert_str_eq(why, "no command");
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "stats", "--bogus", NULL }), -1);
    ck_assert_ptr_nonnull(strstr(why, "--bogus"));
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "-x", "stats", NULL }), -1);
    ck_assert_ptr_nonnull(strstr(why, "-x"));
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "stats", "-s", NULL }), -1);
    ck_assert_ptr_nonnull(strstr(why, "needs an argument"));
    ck_assert_int_eq(parse(&a, why, (const char *[]){ "--json=1", "stats", NULL }), -1);
    ck_assert_str_eq(why, "option '--json=1' takes no argument");
}
END_TEST

START_TEST(intervals_in_range_are_read_exactly)
{
    ck_assert_uint_eq(ctl_parse_interval("2"), 2000000000ull);
    ck_assert_uint_eq(ctl_parse_interval("0.5"), 500000000ull);
    ck_assert_uint_eq(ctl_parse_interval("500ms"), 500000000ull);
    ck_assert_uint_eq(ctl_parse_interval("100ms"), CTL_INTERVAL_MIN_NS);
    ck_assert_uint_eq(ctl_parse_interval("0.1"), CTL_INTERVAL_MIN_NS);
    ck_assert_uint_eq(ctl_parse_interval("1.5s"), 1500000000ull);
    ck_assert_uint_eq(ctl_parse_interval("1.25"), 1250000000ull);
    ck_assert_uint_eq(ctl_parse_interval("5m"), 300000000000ull);
    ck_assert_uint_eq(ctl_parse_interval("24h"), CTL_INTERVAL_MAX_NS);
    ck_assert_uint_eq(ctl_parse_interval("86400"), CTL_INTERVAL_MAX_NS);
    ck_assert_uint_eq(ctl_parse_interval("0.000000001h"), 0);
}
END_TEST

START_TEST(anything_else_is_not_an_interval)
{
    static const char *const bad[] = {
        "",      "nan",   "NaN",  "inf",   "infinity", "0x1",     "0x10",  "1e3",  "1E0",
        " 1",    "1 ",    "+1",   "-1",    "1.",       ".5",      "1..2",  "1s2",  "2sec",
        "1d",    "0",     "0ms",  "99ms",  "0.05",     "24.001h", "86401", "25h",  "1441m",
        "1.0000000001", "18446744073709551617", "99999999999999999999h", "1,5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ctl_parse_interval(bad[i]) == 0, "'%s' was taken", bad[i]);
}
END_TEST

START_TEST(width_is_the_terminal_then_columns_then_none)
{
    ck_assert_uint_eq(ctl_output_width(132, "80"), 132);
    ck_assert_uint_eq(ctl_output_width(0, "80"), 80);
    ck_assert_uint_eq(ctl_output_width(0, NULL), 0);
    ck_assert_uint_eq(ctl_output_width(0, ""), 0);
    ck_assert_uint_eq(ctl_output_width(0, "0"), 0);
    ck_assert_uint_eq(ctl_output_width(0, "-5"), 0);
    ck_assert_uint_eq(ctl_output_width(0, "80x"), 0);
    ck_assert_uint_eq(ctl_output_width(0, "999999"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctl_args");
    TCase *tc = tcase_create("ctl_args");
    tcase_add_test(tc, options_go_before_or_after_the_command);
    tcase_add_test(tc, double_dash_ends_the_options);
    tcase_add_test(tc, help_and_version_need_no_command);
    tcase_add_test(tc, usage_errors_say_why);
    tcase_add_test(tc, intervals_in_range_are_read_exactly);
    tcase_add_test(tc, anything_else_is_not_an_interval);
    tcase_add_test(tc, width_is_the_terminal_then_columns_then_none);
    suite_add_tcase(s, tc);
    return check_run(s);
}
