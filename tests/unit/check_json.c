/* JSON: the daemon's writer (daemon/json.c) and mempoolctl's reader
 * (ctl/json_read.c). The writer's output is compared byte for byte with
 * what RFC 8259 requires; the reader is fed valid and invalid documents;
 * and every string of bytes the writer escapes must read back as itself
 * (valid UTF-8) or with U+FFFD in place of each invalid byte. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "json.h"
#include "json_read.h"

static json_writer w;

static void setup(void) { json_init(&w); }
static void teardown(void) { json_free(&w); }

static const char *string_of(const char *s, size_t n)
{
    json_reset(&w);
    json_string_n(&w, s, n);
    ck_assert(!w.failed);
    return w.text;
}

/* ---- writer -------------------------------------------------------------- */

START_TEST(writer_places_commas_and_nests)
{
    json_object_begin(&w);
    json_kv_bool(&w, "ok", true);
    json_key(&w, "list");
    json_array_begin(&w);
    json_uint(&w, 1);
    json_int(&w, -2);
    json_null(&w);
    json_object_begin(&w);
    json_object_end(&w);
    json_array_begin(&w);
    json_array_end(&w);
    json_array_end(&w);
    json_kv_string(&w, "s", "x");
    json_kv_uint(&w, "max", UINT64_MAX);
    json_kv_int(&w, "min", INT64_MIN);
    json_object_end(&w);
    ck_assert(!w.failed);
    ck_assert_str_eq(w.text, "{\"ok\":true,\"list\":[1,-2,null,{},[]],\"s\":\"x\","
                             "\"max\":18446744073709551615,\"min\":-9223372036854775808}");
    ck_assert_uint_eq(w.len, strlen(w.text));
}
END_TEST

START_TEST(writer_escapes_quotes_backslashes_and_controls)
{
    ck_assert_str_eq(string_of("a\"b\\c/", 6), "\"a\\\"b\\\\c/\"");
    ck_assert_str_eq(string_of("\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    ck_assert_str_eq(string_of("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"");
    ck_assert_str_eq(string_of("a\0b", 3), "\"a\\u0000b\"");
}
END_TEST

START_TEST(writer_keeps_valid_utf8_and_replaces_invalid_bytes)
{
    /* é, €, 😀 pass as they are. */
    ck_assert_str_eq(string_of("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
                     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* A lone continuation byte, a truncated sequence, an overlong '/', a
     * UTF-16 surrogate, a code point above U+10FFFF, 0xff. */
    ck_assert_str_eq(string_of("\x80", 1), "\"\\ufffd\"");
    ck_assert_str_eq(string_of("\xe2\x82", 2), "\"\\ufffd\\ufffd\"");
    ck_assert_str_eq(string_of("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");
    ck_assert_str_eq(string_of("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\"");
    ck_assert_str_eq(string_of("\xf4\x90\x80\x80", 4), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    ck_assert_str_eq(string_of("a\xffz", 3), "\"a\\ufffdz\"");
}
END_TEST

START_TEST(writer_refuses_unbalanced_and_too_deep_documents)
{
    json_array_end(&w);
    ck_assert(w.failed);
    json_reset(&w);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        json_array_begin(&w);
    ck_assert(w.failed);
    json_reset(&w);
    json_uint(&w, 7);
    ck_assert(!w.failed);
    ck_assert_str_eq(w.text, "7");
}
END_TEST

/* ---- reader -------------------------------------------------------------- */

static json_value *parse(const char *text)
{
    char err[128];
    return json_parse(text, strlen(text), err, sizeof err);
}

START_TEST(reader_builds_the_tree)
{
    json_value *v = parse(" {\"ok\":true,\"n\":18446744073709551615,\"neg\":-1.5e2,"
                          "\"list\":[null,false,\"x\",{\"k\":[]}],"
                          "\"s\":\"a\\u00e9\\ud83d\\ude00\"} ");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, JSON_OBJECT);
    ck_assert(json_get_bool(v, "ok", false));
    ck_assert_uint_eq(json_get_uint(v, "n", 0), UINT64_MAX);
    const json_value *neg = json_get(v, "neg");
    ck_assert(neg->type == JSON_NUMBER && !neg->is_uint && neg->number == -150.0);
    const json_value *list = json_get(v, "list");
    ck_assert_uint_eq(list->count, 4);
    ck_assert_int_eq(list->items[0]->type, JSON_NULL);
    ck_assert(list->items[1]->type == JSON_BOOL && !list->items[1]->boolean);
    ck_assert_str_eq(list->items[2]->string, "x");
    ck_assert_uint_eq(json_get(list->items[3], "k")->count, 0);
    ck_assert_str_eq(json_get_string(v, "s", ""), "a\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_ptr_null(json_get(v, "missing"));
    ck_assert_uint_eq(json_get_uint(v, "s", 42), 42);
    json_value_free(v);
}
END_TEST

START_TEST(reader_keeps_many_items_in_order)
{
    json_reset(&w);
    json_array_begin(&w);
    for (unsigned i = 0; i < 1000; i++)
        json_uint(&w, i);
    json_array_end(&w);
    json_value *v = parse(w.text);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->count, 1000);
    for (unsigned i = 0; i < 1000; i++)
        ck_assert_uint_eq(v->items[i]->uint, i);
    json_value_free(v);
}
END_TEST

START_TEST(reader_refuses_what_rfc8259_does_not_allow)
{
    static const char *const bad[] = {
        "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "1e", "-",
        "+1", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\x01\"",
        "\"\xff\"", "\"\xc0\xaf\"", "tru", "nul", "[1] 2", "{}x", "NaN", "[\"a\"\"b\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        json_value *v = json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        ck_assert_msg(v == NULL, "accepted '%s'", bad[i]);
        ck_assert_msg(strstr(err, "at byte") != NULL, "no position for '%s': %s", bad[i], err);
    }
}
END_TEST

static json_value *parse_nested(int depth)
{
    char text[2 * JSON_READ_MAX_DEPTH + 3];
    memset(text, '[', (size_t)depth);
    memset(text + depth, ']', (size_t)depth);
    text[2 * depth] = '\0';
    return parse(text);
}

START_TEST(reader_limits_nesting)
{
    ck_assert_ptr_null(parse_nested(JSON_READ_MAX_DEPTH + 1));
    json_value *v = parse_nested(JSON_READ_MAX_DEPTH);
    ck_assert_ptr_nonnull(v);
    json_value_free(v);
}
END_TEST

/* Every byte string of length 1 and 2 (and some of 3 and 4): the writer's
 * text reads back as the input, or with U+FFFD for each byte that is not
 * part of a well-formed sequence. */
START_TEST(writer_output_reads_back)
{
    unsigned char in[4];
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            in[0] = (unsigned char)a;
            in[1] = (unsigned char)b;
            in[2] = (unsigned char)(0x80 + (a ^ b) % 64);
            in[3] = (unsigned char)(0x80 + (a + b) % 64);
            for (size_t n = 1; n <= 4; n++) {
                if (n == 1 && b > 0)
                    continue;
                const char *text = string_of((const char *)in, n);
                json_value *v = parse(text);
                ck_assert_msg(v != NULL && v->type == JSON_STRING, "%s does not read back", text);
                /* Only valid UTF-8 in, the same bytes out. */
                if (strstr(text, "\\ufffd") == NULL) {
                    ck_assert_uint_eq(v->length, n);
                    ck_assert(memcmp(v->string, in, n) == 0);
                }
                json_value_free(v);
            }
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *writer = tcase_create("writer");
    tcase_add_checked_fixture(writer, setup, teardown);
    tcase_add_test(writer, writer_places_commas_and_nests);
    tcase_add_test(writer, writer_escapes_quotes_backslashes_and_controls);
    tcase_add_test(writer, writer_keeps_valid_utf8_and_replaces_invalid_bytes);
    tcase_add_test(writer, writer_refuses_unbalanced_and_too_deep_documents);
    suite_add_tcase(s, writer);
    TCase *reader = tcase_create("reader");
    tcase_add_checked_fixture(reader, setup, teardown);
    tcase_add_test(reader, reader_builds_the_tree);
    tcase_add_test(reader, reader_keeps_many_items_in_order);
    tcase_add_test(reader, reader_refuses_what_rfc8259_does_not_allow);
    tcase_add_test(reader, reader_limits_nesting);
    tcase_add_test(reader, writer_output_reads_back);
    suite_add_tcase(s, reader);
    return check_run(s);
}
