/* The metrics endpoint's routing of a request head, alone: what each
 * method, path and malformed line gets (integration.metrics_http drives
 * the listener itself). */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "check_run.h"
#include "metrics_http.h"

static int route(const char *head, bool *head_only)
{
    return metrics_http_route(head, strlen(head), head_only);
}

START_TEST(get_and_head_of_metrics)
{
    bool head_only = true;
    ck_assert_int_eq(route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &head_only), 200);
    ck_assert(!head_only);
    ck_assert_int_eq(route("HEAD /metrics HTTP/1.0\r\n\r\n", &head_only), 200);
    ck_assert(head_only);
    ck_assert_int_eq(route("GET /metrics?name[]=x HTTP/1.1\n\n", &head_only), 200);
}
END_TEST

START_TEST(other_paths_methods_and_garbage)
{
    bool head_only;
    ck_assert_int_eq(route("GET / HTTP/1.1\r\n\r\n", &head_only), 404);
    ck_assert_int_eq(route("GET /metrics/ HTTP/1.1\r\n\r\n", &head_only), 404);
    ck_assert_int_eq(route("GET /metric HTTP/1.1\r\n\r\n", &head_only), 404);
    ck_assert_int_eq(route("POST /metrics HTTP/1.1\r\n\r\n", &head_only), 405);
    ck_assert_int_eq(route("DELETE / HTTP/1.1\r\n\r\n", &head_only), 405);
    ck_assert_int_eq(route("get /metrics HTTP/1.1\r\n\r\n", &head_only), 405);
    ck_assert_int_eq(route("GET /metrics\r\n\r\n", &head_only), 400);
    ck_assert_int_eq(route("GET /metrics SPDY/3\r\n\r\n", &head_only), 400);
    ck_assert_int_eq(route("\r\n\r\n", &head_only), 400);
    ck_assert_int_eq(route("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", &head_only), 400);
}
END_TEST

START_TEST(a_long_request_line_is_not_metrics)
{
    char head[1200] = "GET /";
    memset(head + 5, 'a', 1000);
    strcpy(head + 1005, " HTTP/1.1\r\n\r\n");
    bool head_only;
    ck_assert_int_eq(route(head, &head_only), 404);
}
END_TEST

static Suite *metrics_http_suite(void)
{
    Suite *s = suite_create("metrics_http");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, get_and_head_of_metrics);
    tcase_add_test(tc, other_paths_methods_and_garbage);
    tcase_add_test(tc, a_long_request_line_is_not_metrics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_run(metrics_http_suite()); }
