/* mempoolctl's tables (ctl/ctl_format.c) within a width: no line longer
 * than the width, the columns that matter kept longest, nothing cut when
 * there is no limit. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "ctl_format.h"

static const char pools_reply[] =
    "{\"ok\":true,\"pools\":["
    "{\"name\":\"default\",\"reserve\":4294967296,\"limit\":268435456,\"in_use\":3670016,"
    "\"warm\":1048576,\"released\":0,\"blocks\":2,\"holders\":1,\"free_bytes\":4291297280,"
    "\"largest_free_run\":4291297280,\"page_size\":4096,\"huge_pages\":false,"
    "\"backing_resident\":4718592},"
    "{\"name\":\"a_pool_with_a_name_longer_than_most_terminals_would_like_to_show\","
    "\"reserve\":1073741824,\"limit\":67108864,\"in_use\":0,\"warm\":0,\"released\":0,"
    "\"blocks\":0,\"holders\":0,\"free_bytes\":1073741824,\"largest_free_run\":1073741824,"
    "\"page_size\":2097152,\"huge_pages\":true,\"backing_resident\":0}]}";

static const char clients_reply[] =
    "{\"ok\":true,\"clients\":[{\"id\":7,\"pid\":4242,\"uid\":1000,\"gid\":1000,\"blocks\":3,"
    "\"bytes\":2359296,\"connected_unix_ms\":1700000000000,"
    "\"pools\":{\"default\":2097152,\"shared\":262144},\"name\":\"a-client-named-at-length\"}]}";

/* The text ctl_print_reply writes for `command` within `width`. */
static char *render(const char *command, const char *reply, size_t width)
{
    char err[128], *text = NULL;
    size_t len = 0;
    json_value *v = json_parse(reply, strlen(reply), err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ctl_print_reply(f, width, command, v);
    fclose(f);
    json_value_free(v);
    return text;
}

static size_t longest_line(const char *text)
{
    size_t longest = 0;
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        longest = n > longest ? n : longest;
        p += n + (p[n] == '\n');
    }
    return longest;
}

static bool header_has(const char *text, const char *word)
{
    size_t n = strcspn(text, "\n");
    for (const char *p = text; (p = strstr(p, word)) != NULL && (size_t)(p - text) < n; p++)
        if ((p == text || p[-1] == ' ') && (p[strlen(word)] == ' ' || p[strlen(word)] == '\n'))
            return true;
    return false;
}

START_TEST(without_a_limit_every_column_and_name_is_whole)
{
    char *text = render("pools", pools_reply, 0);
    static const char *const headers[] = { "POOL", "RESERVE", "LIMIT", "IN_USE", "WARM",
                                           "RELEASED", "BLOCKS", "HOLDERS", "FREE",
                                           "LARGEST_FREE", "PAGE", "HUGE", "RESIDENT" };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        ck_assert_msg(header_has(text, headers[i]), "%s missing:\n%s", headers[i], text);
    ck_assert_ptr_nonnull(strstr(text, "a_pool_with_a_name_longer_than_most_terminals"));
    ck_assert_uint_gt(longest_line(text), 100);
    free(text);
}
END_TEST

START_TEST(no_line_is_wider_than_the_width)
{
    static const char *const commands[][2] = { { "pools", pools_reply },
                                               { "clients", clients_reply } };
    for (size_t c = 0; c < 2; c++)
        for (size_t width = 10; width <= 200; width++) {
            char *text = render(commands[c][0], commands[c][1], width);
            ck_assert_msg(longest_line(text) <= width, "%s at %zu:\n%s", commands[c][0], width,
                          text);
            free(text);
        }
}
END_TEST

START_TEST(at_80_columns_the_pool_and_its_use_stay)
{
    char *text = render("pools", pools_reply, 80);
    static const char *const kept[] = { "POOL", "LIMIT", "IN_USE", "WARM" };
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(header_has(text, kept[i]), "%s dropped:\n%s", kept[i], text);
    ck_assert_msg(!header_has(text, "HUGE") && !header_has(text, "PAGE"), "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "\ndefault "));
    ck_assert_ptr_nonnull(strstr(text, "3.5MiB"));
    /* The long name is cut and says so. */
    ck_assert_ptr_nonnull(strstr(text, "..."));
    ck_assert_uint_le(longest_line(text), 80);
    free(text);
}
END_TEST

START_TEST(clients_keep_who_and_how_much)
{
    char *text = render("clients", clients_reply, 60);
    ck_assert_msg(header_has(text, "ID") && header_has(text, "PID") && header_has(text, "BYTES"),
                  "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "2.2MiB"));
    ck_assert_uint_le(longest_line(text), 60);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctl_format");
    TCase *tc = tcase_create("ctl_format");
    tcase_add_test(tc, without_a_limit_every_column_and_name_is_whole);
    tcase_add_test(tc, no_line_is_wider_than_the_width);
    tcase_add_test(tc, at_80_columns_the_pool_and_its_use_stay);
    tcase_add_test(tc, clients_keep_who_and_how_much);
    suite_add_tcase(s, tc);
    return check_run(s);
}
