/* The admin commands without a socket: the table, the line checks and
 * argument counts, and the replies of the handlers over a real pool set
 * (memory allocated through pool_alloc shows in `pool`, `stats` and
 * `metrics`), read back with mempoolctl's JSON reader. The socket, the
 * scavenge command and reload are covered by tests/integration/check_admin.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "../prom_syntax.h"
#include "admin.h"
#include "json_read.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define MiB (1024ULL * 1024)

static const char policy_text[] =
    "pools:\n"
    "  - name: blk\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "  - name: sh.r-2\n"
    "    reserve: 256MiB\n"
    "    limit: 32MiB\n"
    "    isolation: pool\n";

static daemon_state d;
static json_writer out;
static peer_cred me = { .pid = 1, .uid = 0 };

static void setup(void)
{
    policy_error err = { 0 };
    char msg[256];
    memset(&d, 0, sizeof d);
    ck_assert_msg(policy_load_buffer("check_admin", policy_text, strlen(policy_text), &d.pol,
                                     &err) == 0, "%s", err.text);
    ck_assert_int_eq(pool_set_new(d.pol, &d.pools, msg, sizeof msg), 0);
    d.started_ns = daemon_now_ns();
    json_init(&out);
}

static void teardown(void)
{
    json_free(&out);
    pool_set_free(d.pools);
    policy_free(d.pol);
}

/* Runs `line`; checks the reply is one JSON line and returns it parsed. */
static json_value *run(const char *line, admin_outcome want)
{
    char buf[ADMIN_MAX_LINE + 1];
    size_t len = strlen(line);
    memcpy(buf, line, len + 1);
    admin_call call = { .d = &d, .peer = &me, .out = &out };
    ck_assert_int_eq(admin_execute(&call, buf, len), want);
    ck_assert_uint_gt(out.len, 1);
    ck_assert_int_eq(out.text[out.len - 1], '\n');
    ck_assert_ptr_eq(memchr(out.text, '\n', out.len), out.text + out.len - 1);
    char err[128] = "";
    json_value *v = json_parse(out.text, out.len - 1, err, sizeof err);
    ck_assert_msg(v != NULL, "'%s' -> %s: %s", line, out.text, err);
    ck_assert(json_get_bool(v, "ok", false) == (want == ADMIN_DONE));
    return v;
}

static void expect_error(const char *line, admin_outcome want, const char *code)
{
    json_value *v = run(line, want);
    ck_assert_str_eq(json_get_string(v, "code", ""), code);
    ck_assert_str_ne(json_get_string(v, "error", ""), "");
    json_value_free(v);
}

/* ---- the table ----------------------------------------------------------- */

START_TEST(table_names_are_unique_and_state_changes_are_flagged)
{
    static const char *const changing[] = { "scavenge", "reload", "log-level", "shutdown" };
    size_t nchanging = 0;
    for (size_t i = 0; i < admin_cmd_count(); i++) {
        const admin_cmd *cmd = admin_cmd_at(i);
        ck_assert_ptr_eq(admin_find_cmd(cmd->name), cmd);
        ck_assert_int_le(cmd->min_args, cmd->max_args);
        ck_assert_int_lt(cmd->max_args, ADMIN_MAX_ARGS);
        ck_assert_str_ne(cmd->help, "");
        bool listed = false;
        for (size_t k = 0; k < 4; k++)
            listed |= strcmp(changing[k], cmd->name) == 0;
        ck_assert_msg(listed == cmd->changes_state, "%s", cmd->name);
        nchanging += cmd->changes_state;
    }
    ck_assert_uint_eq(nchanging, 4);
    ck_assert_ptr_null(admin_cmd_at(admin_cmd_count()));
    ck_assert_ptr_null(admin_find_cmd("Stats"));
}
END_TEST

START_TEST(help_lists_the_table)
{
    json_value *v = run("help", ADMIN_DONE);
    const json_value *cmds = json_get(v, "commands");
    ck_assert_uint_eq(cmds->count, admin_cmd_count());
    for (size_t i = 0; i < cmds->count; i++) {
        ck_assert_str_eq(json_get_string(cmds->items[i], "name", ""), admin_cmd_at(i)->name);
        ck_assert(json_get_bool(cmds->items[i], "changes_state", false) ==
                  admin_cmd_at(i)->changes_state);
    }
    json_value_free(v);
}
END_TEST

START_TEST(words_split_at_spaces_and_tabs)
{
    char line[] = "  pool \t default  ";
    char *words[ADMIN_MAX_ARGS];
    ck_assert_int_eq(admin_split_words(line, words, ADMIN_MAX_ARGS), 2);
    ck_assert_str_eq(words[0], "pool");
    ck_assert_str_eq(words[1], "default");
    char blank[] = " \t ";
    ck_assert_int_eq(admin_split_words(blank, words, ADMIN_MAX_ARGS), 0);
    char many[] = "a b c d e f g h i";
    ck_assert_int_eq(admin_split_words(many, words, ADMIN_MAX_ARGS), -1);
}
END_TEST

/* ---- bad lines ----------------------------------------------------------- */

START_TEST(bad_lines_get_error_replies)
{
    expect_error("frobnicate", ADMIN_REFUSED, "unknown-command");
    expect_error("pool", ADMIN_REFUSED, "bad-arguments");
    expect_error("stats now", ADMIN_REFUSED, "bad-arguments");
    expect_error("scavenge a b c", ADMIN_REFUSED, "bad-arguments");
    expect_error("a b c d e f g h i", ADMIN_REFUSED, "bad-arguments");
    expect_error("pool nope", ADMIN_REFUSED, "no-such-pool");
    expect_error("stats\x01", ADMIN_BAD_INPUT, "bad-input");
    expect_error("\x7f", ADMIN_BAD_INPUT, "bad-input");
    /* An unknown command's name comes back escaped: still one valid line. */
    expect_error("\xff\xfe\"\\", ADMIN_REFUSED, "unknown-command");
}
END_TEST

START_TEST(a_nul_byte_is_not_text)
{
    char line[] = "stats\0pools";
    admin_call call = { .d = &d, .peer = &me, .out = &out };
    ck_assert_int_eq(admin_execute(&call, line, sizeof line - 1), ADMIN_BAD_INPUT);
    ck_assert_ptr_nonnull(strstr(out.text, "\"bad-input\""));
}
END_TEST

START_TEST(a_blank_line_gets_no_reply)
{
    char line[] = "   ";
    admin_call call = { .d = &d, .peer = &me, .out = &out };
    ck_assert_int_eq(admin_execute(&call, line, 3), ADMIN_NO_REPLY);
    ck_assert_uint_eq(out.len, 0);
}
END_TEST

/* ---- figures ------------------------------------------------------------- */

static pool_client *alloc_in(const char *pool_name, uint64_t size, pool_grant *g)
{
    uint32_t gid = 0;
    pool_client *c = pool_client_new(d.pools, 0, &gid, 1, 100);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(pool_alloc(c, pool_name, size, 0, daemon_now_ns(), g), 0);
    return c;
}

START_TEST(pool_shows_what_was_allocated)
{
    pool_grant g;
    pool_client *c = alloc_in("blk", 3 * MiB, &g);
    json_value *v = run("pool blk", ADMIN_DONE);
    const json_value *p = json_get(v, "pool");
    ck_assert_str_eq(json_get_string(p, "name", ""), "blk");
    ck_assert_uint_eq(json_get_uint(p, "in_use", 0), 3 * MiB);
    ck_assert_uint_eq(json_get_uint(p, "blocks", 0), 1);
    ck_assert_uint_eq(json_get_uint(p, "holders", 0), 1);
    ck_assert_uint_eq(json_get_uint(p, "limit", 0), 64 * MiB);
    ck_assert_uint_eq(json_get_uint(p, "page_size", 0), mem_page_size());
    ck_assert_str_eq(json_get_string(p, "isolation", ""), "block");
    ck_assert_uint_eq(json_get_uint(json_get(p, "scavenger"), "runs", 99), 0);
    json_value_free(v);
    pool_client_free(c, daemon_now_ns());
    v = run("pool blk", ADMIN_DONE);
    ck_assert_uint_eq(json_get_uint(json_get(v, "pool"), "in_use", 1), 0);
    ck_assert_uint_eq(json_get_uint(json_get(v, "pool"), "warm", 0), 3 * MiB);
    json_value_free(v);
}
END_TEST

START_TEST(pools_lists_every_pool)
{
    json_value *v = run("pools", ADMIN_DONE);
    const json_value *pools = json_get(v, "pools");
    ck_assert_uint_eq(pools->count, 2);
    ck_assert_str_eq(json_get_string(pools->items[0], "name", ""), "blk");
    ck_assert_str_eq(json_get_string(pools->items[1], "name", ""), "sh.r-2");
    ck_assert_str_eq(json_get_string(pools->items[1], "isolation", ""), "pool");
    json_value_free(v);
}
END_TEST

START_TEST(stats_agree_with_the_memory_layer)
{
    pool_grant g;
    pool_client *c = alloc_in("sh.r-2", 2 * MiB, &g);
    mem_counters mc;
    mem_total_counters(&mc);
    json_value *v = run("stats", ADMIN_DONE);
    const json_value *mem = json_get(v, "memory");
    ck_assert_uint_eq(json_get_uint(mem, "reserved", 0), mc.bytes[MEM_RESERVED]);
    ck_assert_uint_eq(json_get_uint(mem, "ready", 0), mc.bytes[MEM_READY]);
    ck_assert_uint_ge(mc.bytes[MEM_RESERVED], 1024 * MiB);
    const json_value *os = json_get(mem, "os_footprint");
    ck_assert_str_eq(json_get_string(os, "name", ""), mem_os_footprint_name());
    ck_assert_uint_gt(json_get_uint(os, "bytes", 0), 0);
    ck_assert_uint_eq(json_get_uint(json_get(v, "pools"), "in_use", 0), 2 * MiB);
    ck_assert_uint_eq(json_get_uint(json_get(v, "pools"), "count", 0), 2);
    ck_assert_uint_eq(json_get_uint(json_get(v, "clients"), "connected", 9), 0);
    ck_assert_ptr_nonnull(json_get(json_get(v, "requests"), "alloc"));
    json_value_free(v);
    pool_client_free(c, daemon_now_ns());
}
END_TEST

START_TEST(policy_reply_loads_to_the_same_policy)
{
    json_value *v = run("policy", ADMIN_DONE);
    const char *yaml = json_get_string(v, "yaml", "");
    policy *again = NULL;
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("reply", yaml, strlen(yaml), &again, &err) == 0, "%s",
                  err.text);
    ck_assert(policy_equal(d.pol, again));
    policy_free(again);
    json_value_free(v);
}
END_TEST

START_TEST(log_level_sets_the_level)
{
    log_set_level(LOG_LEVEL_INFO);
    json_value *v = run("log-level debug", ADMIN_DONE);
    ck_assert_str_eq(json_get_string(v, "previous", ""), "info");
    ck_assert_str_eq(json_get_string(v, "level", ""), "debug");
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
    json_value_free(v);
    expect_error("log-level loud", ADMIN_REFUSED, "bad-arguments");
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
}
END_TEST

/* Before the client server runs there are no names: empty, not an error;
 * an unknown pool is, and a second argument is too many. */
START_TEST(names_without_a_server)
{
    json_value *v = run("names", ADMIN_DONE);
    ck_assert_uint_eq(json_get_uint(v, "waiting", 9), 0);
    const json_value *list = json_get(v, "names");
    ck_assert(list != NULL && list->type == JSON_ARRAY && list->count == 0);
    json_value_free(v);
    v = run("stats", ADMIN_DONE);
    ck_assert_uint_eq(json_get_uint(json_get(v, "names"), "published", 9), 0);
    json_value_free(v);
    expect_error("names nosuch", ADMIN_REFUSED, "no-such-pool");
    expect_error("names a b", ADMIN_REFUSED, "bad-arguments");
}
END_TEST

START_TEST(shutdown_replies_first_and_nothing_changes_while_stopping)
{
    char line[] = "shutdown";
    admin_call call = { .d = &d, .peer = &me, .out = &out };
    ck_assert_int_eq(admin_execute(&call, line, strlen(line)), ADMIN_DONE);
    ck_assert(call.shutdown_after_reply);
    ck_assert_ptr_nonnull(strstr(out.text, "\"stopping\":true"));
    d.stopping = true;
    expect_error("log-level warn", ADMIN_REFUSED, "stopping");
    expect_error("reload", ADMIN_REFUSED, "stopping");
    json_value_free(run("stats", ADMIN_DONE));
}
END_TEST

/* ---- metrics ------------------------------------------------------------- */

START_TEST(metrics_are_prometheus_text)
{
    pool_grant g;
    pool_client *c = alloc_in("blk", 5 * MiB, &g);
    json_value *v = run("metrics", ADMIN_DONE);
    const char *text = json_get_string(v, "text", "");
    const char *bad = prom_bad_line(text);
    ck_assert_msg(bad == NULL, "not Prometheus text: '%s'", bad);
    ck_assert_ptr_nonnull(
        strstr(text, "\nmempool_pool_bytes{pool=\"blk\",state=\"in_use\"} 5242880\n"));
    ck_assert_ptr_nonnull(strstr(text, "mempool_pool_limit_bytes{pool=\"sh.r-2\"} 33554432\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE mempool_pool_released_bytes_total counter\n"));
    json_value_free(v);
    pool_client_free(c, daemon_now_ns());
}
END_TEST

START_TEST(label_values_are_escaped)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    metrics_write_label_value(f, "a\"b\\c\nd");
    fclose(f);
    ck_assert_str_eq(text, "a\\\"b\\\\c\\nd");
    free(text);
}
END_TEST

START_TEST(the_checker_refuses_bad_exposition)
{
    ck_assert_ptr_null(prom_bad_line("# HELP a b\n# TYPE a gauge\na{x=\"1\"} 2\n"));
    ck_assert_ptr_nonnull(prom_bad_line("# TYPE a gauge\na{x=\"1} 2\n"));
    ck_assert_ptr_nonnull(prom_bad_line("# TYPE a gauge\nb 2\n"));
    ck_assert_ptr_nonnull(prom_bad_line("# TYPE a gauge\na 2"));
    ck_assert_ptr_nonnull(prom_bad_line("# TYPE a gauge\n# TYPE a gauge\n"));
    ck_assert_ptr_nonnull(prom_bad_line("# TYPE a gauge\na 1.\n"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, table_names_are_unique_and_state_changes_are_flagged);
    tcase_add_test(tc, help_lists_the_table);
    tcase_add_test(tc, words_split_at_spaces_and_tabs);
    tcase_add_test(tc, bad_lines_get_error_replies);
    tcase_add_test(tc, a_nul_byte_is_not_text);
    tcase_add_test(tc, a_blank_line_gets_no_reply);
    tcase_add_test(tc, pool_shows_what_was_allocated);
    tcase_add_test(tc, pools_lists_every_pool);
    tcase_add_test(tc, stats_agree_with_the_memory_layer);
    tcase_add_test(tc, policy_reply_loads_to_the_same_policy);
    tcase_add_test(tc, log_level_sets_the_level);
    tcase_add_test(tc, shutdown_replies_first_and_nothing_changes_while_stopping);
    tcase_add_test(tc, metrics_are_prometheus_text);
    tcase_add_test(tc, names_without_a_server);
    tcase_add_test(tc, label_values_are_escaped);
    tcase_add_test(tc, the_checker_refuses_bad_exposition);
    suite_add_tcase(s, tc);
    return check_run(s);
}
