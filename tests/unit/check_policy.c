/* The policy: units, YAML handling, every validation rule with its exact
 * line:column and message, defaults, access, dumps that load back, reload
 * diffs, and the --check-config / --print-config commands. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "config_cmd.h"
#include "log.h"
#include "policy.h"
#include "policy_units.h"

#define POLICIES_DIR MEMPOOL_SOURCE_DIR "/tests/policies"
#define DEFAULT_FILE MEMPOOL_SOURCE_DIR "/conf/mempoold.yaml"

static policy *load_ok(const char *text)
{
    policy *p = NULL;
    policy_error err;
    int rc = policy_load_buffer("t.yaml", text, strlen(text), &p, &err);
    ck_assert_msg(rc == 0, "policy did not load:\n%s", err.text);
    return p;
}

static void expect_errors(const char *text, const char *expected)
{
    policy *p = (policy *)0x1;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), -EINVAL);
    ck_assert_ptr_eq(p, (policy *)0x1);   /* untouched on failure */
    ck_assert_str_eq(err.text, expected);
}

static char *os_page_text(void)
{
    static char text[32];
    policy_format_size((uint64_t)sysconf(_SC_PAGESIZE), text, sizeof text);
    return text;
}

/* ---- units --------------------------------------------------------------------- */

START_TEST(sizes_scan_every_unit)
{
    static const struct { const char *text; uint64_t bytes; } cases[] = {
        { "0", 0 }, { "4096", 4096 }, { "1B", 1 }, { "2KiB", 2048 },
        { "3MiB", 3 * POLICY_MIB }, { "4GiB", 4 * POLICY_GIB }, { "5TiB", 5 * POLICY_TIB },
        { "6KB", 6000 }, { "7MB", 7000000 }, { "8GB", 8000000000ull },
        { "9TB", 9000000000000ull }, { "64 MiB", 64 * POLICY_MIB },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t bytes = 1;
        const char *why = NULL;
        ck_assert_int_eq(policy_scan_size(cases[i].text, &bytes, &why), 0);
        ck_assert_uint_eq(bytes, cases[i].bytes);
    }
}
END_TEST

START_TEST(sizes_reject_what_is_not_a_size)
{
    static const struct { const char *text, *why; } cases[] = {
        { "-1GiB", "cannot be negative" },
        { "99999999TiB", "too large for 64 bits" },
        { "99999999999999999999", "too large for 64 bits" },
        { "1.5GiB", "expected a whole number: use a smaller unit instead of a fraction" },
        { "12XB", "unknown unit: sizes take B, KiB, MiB, GiB, TiB, KB, MB, GB or TB" },
        { "12mib", "unknown unit: sizes take B, KiB, MiB, GiB, TiB, KB, MB, GB or TB" },
        { "GiB", "expected a size such as 64MiB" },
        { "", "expected a size such as 64MiB" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t bytes;
        const char *why = NULL;
        ck_assert_int_eq(policy_scan_size(cases[i].text, &bytes, &why), -EINVAL);
        ck_assert_str_eq(why, cases[i].why);
    }
}
END_TEST

START_TEST(durations_shares_modes_counts_scan)
{
    uint64_t v;
    const char *why;
    ck_assert_int_eq(policy_scan_duration("250ms", &v, &why), 0);
    ck_assert_uint_eq(v, 250 * POLICY_NS_PER_MS);
    ck_assert_int_eq(policy_scan_duration("2h", &v, &why), 0);
    ck_assert_uint_eq(v, 7200 * POLICY_NS_PER_S);
    ck_assert_int_eq(policy_scan_duration("3m", &v, &why), 0);
    ck_assert_uint_eq(v, 180 * POLICY_NS_PER_S);
    ck_assert_int_eq(policy_scan_duration("30", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "missing unit: durations take ms, s, m or h");
    ck_assert_int_eq(policy_scan_duration("1d", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "unknown unit: durations take ms, s, m or h");
    ck_assert_int_eq(policy_scan_share("0.5%", &v, &why), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(policy_scan_share("100%", &v, &why), 0);
    ck_assert_uint_eq(v, 1000);
    ck_assert_int_eq(policy_scan_share("1", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "missing %: a share is written as 1% or 0.5%");
    ck_assert_int_eq(policy_scan_share("0.25%", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "a share takes one decimal at most, as 0.5%");
    ck_assert_int_eq(policy_scan_mode("0660", &v, &why), 0);
    ck_assert_uint_eq(v, 0660);
    ck_assert_int_eq(policy_scan_mode("0o755", &v, &why), 0);
    ck_assert_uint_eq(v, 0755);
    ck_assert_int_eq(policy_scan_mode("660", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "a mode is octal with a leading 0, as 0660");
    ck_assert_int_eq(policy_scan_mode("0689", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "not an octal number");
    ck_assert_int_eq(policy_scan_count("1024", &v, &why), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(policy_scan_count("1k", &v, &why), -EINVAL);
    ck_assert_str_eq(why, "expected a whole number");
}
END_TEST

START_TEST(formats_read_back_to_the_same_number)
{
    static const uint64_t sizes[] = { 0, 1, 4096, 1000, 1536 * POLICY_KIB, 64 * POLICY_MIB,
                                      2 * POLICY_GIB, 3 * POLICY_TIB, 1000000, 12345 };
    char text[32];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t back;
        const char *why;
        policy_format_size(sizes[i], text, sizeof text);
        ck_assert_int_eq(policy_scan_size(text, &back, &why), 0);
        ck_assert_uint_eq(back, sizes[i]);
    }
    policy_format_size(2 * POLICY_GIB, text, sizeof text);
    ck_assert_str_eq(text, "2GiB");
    policy_format_size(1000000, text, sizeof text);
    ck_assert_str_eq(text, "1MB");
    policy_format_duration(90 * POLICY_NS_PER_S, text, sizeof text);
    ck_assert_str_eq(text, "90s");
    policy_format_duration(2 * 3600 * POLICY_NS_PER_S, text, sizeof text);
    ck_assert_str_eq(text, "2h");
    policy_format_duration(0, text, sizeof text);
    ck_assert_str_eq(text, "0s");
    policy_format_share(5, text, sizeof text);
    ck_assert_str_eq(text, "0.5%");
    policy_format_mode(0600, text, sizeof text);
    ck_assert_str_eq(text, "0600");
}
END_TEST

/* ---- YAML itself ------------------------------------------------------------------ */

START_TEST(yaml_syntax_error_names_its_place)
{
    expect_errors("pools:\n  - name: a\n    limit: [1\n",
                  "t.yaml:4:1: YAML syntax error: did not find expected ',' or ']' while "
                  "parsing a flow sequence started at 3:12");
}
END_TEST

START_TEST(yaml_tabs_are_refused)
{
    expect_errors("pools:\n\t- name: a\n",
                  "t.yaml:2:1: tab character: YAML indents with spaces, not tabs");
}
END_TEST

START_TEST(yaml_bare_star_gets_a_hint)
{
    expect_errors("pools: [{name: a, access: {users: [*]}}]\n",
                  "t.yaml:1:37: YAML syntax error: did not find expected alphabetic or numeric "
                  "character while scanning an alias started at 1:36; to mean anyone, write "
                  "\"*\" in quotes");
}
END_TEST

START_TEST(yaml_duplicate_keys_in_one_mapping)
{
    expect_errors("pools:\n  - name: a\n    limit: 1GiB\n    limit: 2GiB\n",
                  "t.yaml:4:5: pools[0].limit: duplicate key: first given at 3:5");
}
END_TEST

START_TEST(yaml_alias_to_the_wrong_kind)
{
    expect_errors("scavenger: &s {idle: 1s}\npools:\n  - name: a\n    limit: *s\n",
                  "t.yaml:4:12: pools[0].limit: alias *s points at a mapping; expected a size "
                  "such as 64MiB");
}
END_TEST

START_TEST(yaml_alias_to_an_unknown_anchor)
{
    expect_errors("pools:\n  - name: a\n    limit: *nowhere\n",
                  "t.yaml:3:12: alias *nowhere names no anchor (&nowhere) defined before it");
}
END_TEST

START_TEST(yaml_aliases_that_fit_are_followed)
{
    policy *p = load_ok("scavenger: &s {idle: 7s}\n"
                        "pools:\n  - name: a\n    limit: &l 1GiB\n    quota: *l\n"
                        "    scavenger: *s\n");
    ck_assert_uint_eq(p->pools[0].quota, POLICY_GIB);
    ck_assert_uint_eq(p->pools[0].scavenger.idle_ns, 7 * POLICY_NS_PER_S);
    policy_free(p);
}
END_TEST

START_TEST(yaml_empty_files_are_refused)
{
    expect_errors("", "t.yaml:1:1: the policy is empty: it needs at least a list of pools");
    expect_errors("# only a comment\n",
                  "t.yaml:1:1: the policy is empty: it needs at least a list of pools");
    expect_errors("---\n", "t.yaml:2:1: the policy is empty: it needs at least a list of pools");
}
END_TEST

START_TEST(yaml_several_documents_are_refused)
{
    expect_errors("pools: [{name: a}]\n---\npools: [{name: b}]\n",
                  "t.yaml:2:1: a second YAML document: a policy file holds exactly one");
}
END_TEST

START_TEST(yaml_bytes_that_are_not_utf8)
{
    expect_errors("pools:\n  - name: \"caf\xe9\"\n",
                  "t.yaml:2:15: byte 0xe9 is not UTF-8: a policy is UTF-8 text");
    /* Overlong encodings and surrogates are not UTF-8 either. */
    expect_errors("pools: [{name: \xc0\xaf}]\n",
                  "t.yaml:1:16: byte 0xc0 is not UTF-8: a policy is UTF-8 text");
    expect_errors("pools: [{name: \xed\xa0\x80}]\n",
                  "t.yaml:1:16: byte 0xed is not UTF-8: a policy is UTF-8 text");
    /* A UTF-16 byte-order mark is not taken as a change of encoding. */
    expect_errors("\xff\xfep\0o\0", "t.yaml:1:1: byte 0xff is not UTF-8: a policy is UTF-8 text");
}
END_TEST

START_TEST(yaml_root_must_be_a_mapping)
{
    expect_errors("- a\n", "t.yaml:1:1: expected a mapping of sections (listen, admin, limits, "
                           "log, metrics, scavenger, library, pools), found a list");
}
END_TEST

START_TEST(yaml_nul_characters_are_refused)
{
    expect_errors("pools:\n  - name: \"a\\0b\"\n",
                  "t.yaml:2:11: pools[0].name: contains a NUL character");
}
END_TEST

START_TEST(yaml_deep_nesting_is_bounded)
{
    char text[512] = "pools: ";
    for (int i = 0; i < 70; i++)
        strcat(text, "[");
    expect_errors(text, "t.yaml:1:71: nested deeper than 64 levels");
}
END_TEST

START_TEST(yaml_oversized_input_is_refused)
{
    size_t len = POLICY_MAX_FILE_SIZE + 1;
    char *text = malloc(len);
    memset(text, '#', len);
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("big.yaml", text, len, &p, &err), -EINVAL);
    ck_assert_str_eq(err.text, "big.yaml: larger than 1048576 bytes: not a policy");
    free(text);
}
END_TEST

/* ---- validation: one test per rule, exact place and message ----------------------- */

START_TEST(unknown_keys_are_errors)
{
    expect_errors("pools:\n  - name: a\n    limt: 1GiB\n",
                  "t.yaml:3:5: pools[0].limt: unknown key; did you mean limit?");
    expect_errors("colour: red\npools: [{name: a}]\n",
                  "t.yaml:1:1: colour: unknown key; expected one of: listen, admin, limits, "
                  "log, metrics, scavenger, library, pools");
}
END_TEST

START_TEST(a_list_where_a_scalar_belongs)
{
    expect_errors("pools:\n  - name: a\n    reserve: [1GiB]\n",
                  "t.yaml:3:14: pools[0].reserve: expected a size such as 64MiB, found a list");
    expect_errors("listen: /tmp/x.sock\npools: [{name: a}]\n",
                  "t.yaml:1:9: listen: expected a mapping of socket, mode, found a single value");
    expect_errors("admin: {users: root}\npools: [{name: a}]\n",
                  "t.yaml:1:16: admin.users: expected a list of user names or ids, found a "
                  "single value");
}
END_TEST

START_TEST(a_value_left_empty)
{
    expect_errors("pools:\n  - name: a\n    limit:\n",
                  "t.yaml:3:11: pools[0].limit: no value given; leave the key out to use the "
                  "default");
}
END_TEST

START_TEST(bad_and_missing_units)
{
    expect_errors("pools:\n  - name: a\n    limit: 2XB\n",
                  "t.yaml:3:12: pools[0].limit: 2XB: unknown unit: sizes take B, KiB, MiB, GiB, "
                  "TiB, KB, MB, GB or TB");
    expect_errors("scavenger:\n  idle: 30\npools: [{name: a}]\n",
                  "t.yaml:2:9: scavenger.idle: 30: missing unit: durations take ms, s, m or h");
    expect_errors("scavenger:\n  cpu: 5\npools: [{name: a}]\n",
                  "t.yaml:2:8: scavenger.cpu: 5: missing %: a share is written as 1% or 0.5%");
}
END_TEST

START_TEST(negative_zero_and_overflowing_sizes)
{
    expect_errors("pools:\n  - name: a\n    limit: -1GiB\n",
                  "t.yaml:3:12: pools[0].limit: -1GiB: cannot be negative");
    expect_errors("pools:\n  - name: a\n    limit: 0GiB\n",
                  "t.yaml:3:12: pools[0].limit: 0GiB: zero is not allowed (at least 1B)");
    expect_errors("pools:\n  - name: a\n    reserve: 99999999TiB\n",
                  "t.yaml:3:14: pools[0].reserve: 99999999TiB: too large for 64 bits");
    expect_errors("pools:\n  - name: a\n    reserve: 128TiB\n",
                  "t.yaml:3:14: pools[0].reserve: 128TiB is above the maximum (64TiB)");
}
END_TEST

START_TEST(durations_and_shares_out_of_range)
{
    expect_errors("scavenger:\n  interval: 5ms\npools: [{name: a}]\n",
                  "t.yaml:2:13: scavenger.interval: 5ms is below the minimum (10ms)");
    expect_errors("scavenger:\n  idle: 25h\npools: [{name: a}]\n",
                  "t.yaml:2:9: scavenger.idle: 25h is above the maximum (24h)");
    expect_errors("scavenger:\n  cpu: 101%\npools: [{name: a}]\n",
                  "t.yaml:2:8: scavenger.cpu: 101% is above the maximum (100%)");
    expect_errors("pools:\n  - name: a\n    scavenger: {cpu: 0%}\n",
                  "t.yaml:3:22: pools[0].scavenger.cpu: 0%: zero is not allowed (at least "
                  "0.1%)");
    expect_errors("metrics:\n  listen: localhost:9464\npools: [{name: a}]\n",
                  "t.yaml:2:11: metrics.listen: localhost:9464: expected off or HOST:PORT with "
                  "an IP address, such as 127.0.0.1:9464 or [::1]:9464");
    expect_errors("metrics:\n  listen: \"127.0.0.1:65536\"\npools: [{name: a}]\n",
                  "t.yaml:2:11: metrics.listen: 127.0.0.1:65536: expected off or HOST:PORT with "
                  "an IP address, such as 127.0.0.1:9464 or [::1]:9464");
    expect_errors("limits:\n  hello_timeout: 10ms\npools: [{name: a}]\n",
                  "t.yaml:2:18: limits.hello_timeout: 10ms is below the minimum (100ms)");
    expect_errors("admin:\n  idle_timeout: 25h\npools: [{name: a}]\n",
                  "t.yaml:2:17: admin.idle_timeout: 25h is above the maximum (24h)");
}
END_TEST

START_TEST(modes_counts_and_levels)
{
    expect_errors("listen: {mode: 660}\npools: [{name: a}]\n",
                  "t.yaml:1:16: listen.mode: 660: a mode is octal with a leading 0, as 0660");
    expect_errors("admin: {mode: 01777}\npools: [{name: a}]\n",
                  "t.yaml:1:15: admin.mode: 01777 is above the maximum (0777)");
    expect_errors("limits: {max_clients: 0}\npools: [{name: a}]\n",
                  "t.yaml:1:23: limits.max_clients: 0: zero is not allowed (at least 1)");
    expect_errors("log: {level: verbose}\npools: [{name: a}]\n",
                  "t.yaml:1:14: log.level: verbose is not error, warn, info or debug");
}
END_TEST

START_TEST(metrics_addresses_are_ip_literals)
{
    char host[64];
    int family;
    uint16_t port;
    ck_assert_int_eq(policy_parse_address("127.0.0.1:9464", &family, host, sizeof host, &port), 0);
    ck_assert_int_eq(family, AF_INET);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 9464);
    ck_assert_int_eq(policy_parse_address("[::1]:0", &family, host, sizeof host, &port), 0);
    ck_assert_int_eq(family, AF_INET6);
    ck_assert_str_eq(host, "::1");
    ck_assert_uint_eq(port, 0);
    const char *bad[] = { "::1:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:123456",
                          "1.2.3:80", "[::1]", "[]:80", ":80", "host:80", "127.0.0.1:-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(policy_parse_address(bad[i], &family, host, sizeof host, &port) == -EINVAL,
                      "%s accepted", bad[i]);
    policy *p = load_ok("metrics: {listen: \"[::1]:9464\"}\npools: [{name: a}]\n");
    ck_assert_str_eq(p->metrics_listen, "[::1]:9464");
    policy_free(p);
    p = load_ok("metrics: {listen: off}\npools: [{name: a}]\n");
    ck_assert_ptr_null(p->metrics_listen);
    policy_free(p);
}
END_TEST

START_TEST(socket_paths_must_be_absolute_and_short)
{
    expect_errors("listen: {socket: run/m.sock}\npools: [{name: a}]\n",
                  "t.yaml:1:18: listen.socket: run/m.sock: must be an absolute path");
    char text[400];
    char long_path[200];
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    snprintf(text, sizeof text, "admin: {socket: %s}\npools: [{name: a}]\n", long_path);
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "t.yaml:1:17: admin.socket: /xxx"));
    ck_assert_ptr_nonnull(strstr(err.text, ": is 199 bytes long; a socket path holds at most"));
}
END_TEST

START_TEST(no_pools_is_an_error)
{
    expect_errors("log: {level: info}\n",
                  "t.yaml:1:1: pools: missing: a policy needs at least one pool");
    expect_errors("pools: []\n", "t.yaml:1:8: pools: no pools: a policy needs at least one");
    expect_errors("pools:\n", "t.yaml:1:7: pools: no pools: a policy needs at least one");
}
END_TEST

START_TEST(duplicate_pool_names)
{
    expect_errors("pools:\n  - name: a\n  - name: b\n  - name: a\n",
                  "t.yaml:4:11: pools[2].name: duplicate pool name a: pools[0] has it already");
}
END_TEST

START_TEST(pool_names_follow_the_pattern)
{
    expect_errors("pools:\n  - name: Big\n",
                  "t.yaml:2:11: pools[0].name: Big is not a pool name: 1 to 64 of a-z, 0-9, "
                  "'_', '.' and '-'");
    expect_errors("pools:\n  - name: \"\"\n",
                  "t.yaml:2:11: pools[0].name:  is not a pool name: 1 to 64 of a-z, 0-9, '_', "
                  "'.' and '-'");
    char text[200];
    snprintf(text, sizeof text, "pools:\n  - name: %065d\n", 0);
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, " is not a pool name"));
    snprintf(text, sizeof text, "pools:\n  - name: %064d\n", 0);
    p = load_ok(text);
    ck_assert_uint_eq(strlen(p->pools[0].name), 64);
    policy_free(p);
    expect_errors("pools:\n  - limit: 1GiB\n",
                  "t.yaml:2:5: pools[0].name: missing: every pool needs a name");
    expect_errors("pools:\n  - 42\n",
                  "t.yaml:2:5: pools[0]: expected a pool (a mapping with a name), found a "
                  "single value");
}
END_TEST

START_TEST(limit_above_reserve)
{
    expect_errors("pools:\n  - name: a\n    reserve: 4GiB\n    limit: 8GiB\n",
                  "t.yaml:4:12: pools[0].limit: 8GiB is above reserve (4GiB)");
    /* Only the reserve written: the default limit (2GiB) is the other
     * side, and the message says it is the default. */
    expect_errors("pools:\n  - name: a\n    reserve: 1GiB\n",
                  "t.yaml:3:14: pools[0].reserve: 1GiB is below the default limit (2GiB): "
                  "write a limit of at most 1GiB");
    /* Only the limit written, above the default reserve (64GiB). */
    expect_errors("pools:\n  - name: a\n    limit: 100GiB\n",
                  "t.yaml:3:12: pools[0].limit: 100GiB is above the default reserve (64GiB)");
}
END_TEST

START_TEST(quota_and_max_block_above_limit)
{
    expect_errors("pools:\n  - name: a\n    limit: 1GiB\n    quota: 2GiB\n    max_block: 3GiB\n",
                  "t.yaml:4:12: pools[0].quota: 2GiB is above limit (1GiB)\n"
                  "t.yaml:5:16: pools[0].max_block: 3GiB is above limit (1GiB)");
}
END_TEST

START_TEST(retain_above_limit)
{
    expect_errors("pools:\n  - name: a\n    limit: 32MiB\n    scavenger: {retain: 64MiB}\n",
                  "t.yaml:4:25: pools[0].scavenger.retain: 64MiB is above limit (32MiB)");
}
END_TEST

/* Inherited from the global default, retain is cut to the pool's limit. */
START_TEST(inherited_retain_is_cut_to_the_limit)
{
    static const char text[] = "scavenger: {retain: 64MiB}\npools:\n  - name: a\n    limit: 32MiB\n"
                               "  - name: b\n    limit: 128MiB\n";
    policy *p = NULL;
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("t.yaml", text, strlen(text), &p, &err) == 0, "%s", err.text);
    ck_assert_uint_eq(p->pools[0].scavenger.retain, 32ULL << 20);
    ck_assert_uint_eq(p->pools[1].scavenger.retain, 64ULL << 20);
    policy_free(p);
}
END_TEST

/* client_cache: at most a quarter of the quota; inherited, cut to it. */
START_TEST(client_cache_is_a_quarter_of_the_quota_at_most)
{
    expect_errors("pools:\n  - name: a\n    quota: 8MiB\n    library: {client_cache: 4MiB}\n",
                  "t.yaml:4:29: pools[0].library.client_cache: 4MiB is above a quarter of quota "
                  "(2MiB)");
    static const char text[] = "library: {client_cache: 8MiB, client_cache_age: 250ms}\n"
                               "pools:\n  - name: a\n    quota: 8MiB\n"
                               "  - name: b\n    library: {client_cache: 0B, kept_mappings: 0}\n"
                               "  - name: c\n";
    policy *p = NULL;
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("t.yaml", text, strlen(text), &p, &err) == 0, "%s", err.text);
    ck_assert_uint_eq(p->pools[0].library.client_cache, 2ULL << 20);
    ck_assert_uint_eq(p->pools[0].library.client_cache_age_ns, 250ULL * 1000000);
    ck_assert_uint_eq(p->pools[1].library.client_cache, 0);
    ck_assert_uint_eq(p->pools[1].library.kept_mappings, 0);
    ck_assert_uint_eq(p->pools[2].library.client_cache, 8ULL << 20);
    ck_assert_uint_eq(p->pools[2].library.kept_mappings, 64);
    policy_free(p);
    expect_errors("library: {kept_mappings: 2000}\npools:\n  - name: a\n",
                  "t.yaml:1:26: library.kept_mappings: 2000 is above the maximum (1024)");
}
END_TEST

START_TEST(page_must_be_a_power_of_two_at_least_the_os_page)
{
    expect_errors("pools:\n  - name: a\n    page: 24KiB\n",
                  "t.yaml:3:11: pools[0].page: 24KiB is not a power of two");
    char expected[200];
    snprintf(expected, sizeof expected,
             "t.yaml:3:11: pools[0].page: 1KiB is below the OS page size (%s)", os_page_text());
    expect_errors("pools:\n  - name: a\n    page: 1KiB\n", expected);
    expect_errors("pools:\n  - name: a\n    page: 2GiB\n",
                  "t.yaml:3:11: pools[0].page: 2GiB is above the maximum (1GiB)");
    expect_errors("pools:\n  - name: a\n    page: huge\n",
                  "t.yaml:3:11: pools[0].page: huge: expected a size such as 64MiB; or auto for "
                  "the OS page size");
}
END_TEST

/* Sizes users write every day ("500MB", "10GB") are no whole number of
 * pages: the reserve rounds up, the others down, and what was written is
 * kept for --check-config. */
START_TEST(sizes_round_to_the_page)
{
    static const char text[] = "pools:\n  - name: a\n    reserve: 10GB\n    limit: 500MB\n"
                               "    quota: 100MB\n    max_block: 300MB\n"
                               "  - name: b\n    page: 2MiB\n    limit: 1000000000\n"
                               "  - name: c\n    reserve: 1GiB\n    limit: 64MiB\n";
    policy *p = NULL;
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("t.yaml", text, strlen(text), &p, &err) == 0, "%s", err.text);
    const policy_pool *a = &p->pools[0], *b = &p->pools[1], *c = &p->pools[2];
    uint64_t page = a->page;
    ck_assert_uint_eq(a->reserve, (10000000000ULL + page - 1) / page * page);
    ck_assert_uint_eq(a->limit, 500000000ULL / page * page);
    ck_assert_uint_eq(a->quota, 100000000ULL / page * page);
    ck_assert_uint_eq(a->max_block, 300000000ULL / page * page);
    ck_assert_str_eq(a->rounded_from.reserve, "10GB");
    ck_assert_str_eq(a->rounded_from.limit, "500MB");
    ck_assert_str_eq(a->rounded_from.quota, "100MB");
    ck_assert_str_eq(a->rounded_from.max_block, "300MB");
    /* 1000000000 is 476.8 pages of 2MiB: 476 of them, and the defaults
     * that follow the limit (quota, max_block) with it. */
    ck_assert_uint_eq(b->limit, 476ULL << 21);
    ck_assert_uint_eq(b->quota, 476ULL << 21);
    ck_assert_uint_eq(b->max_block, 476ULL << 21);
    ck_assert_str_eq(b->rounded_from.limit, "1000000000");
    ck_assert_str_eq(b->rounded_from.quota, "");
    /* Whole pages are taken as written. */
    ck_assert_uint_eq(c->limit, 64ULL << 20);
    ck_assert_str_eq(c->rounded_from.limit, "");
    ck_assert_str_eq(c->rounded_from.reserve, "");
    policy_free(p);
}
END_TEST

START_TEST(a_size_below_one_page_is_refused)
{
    expect_errors("pools:\n  - name: a\n    page: 2MiB\n    limit: 1MiB\n",
                  "t.yaml:4:12: pools[0].limit: 1MiB is less than one page (2MiB)");
}
END_TEST

START_TEST(huge_pages_need_a_large_page_on_linux)
{
    struct utsname os;
    ck_assert_int_eq(uname(&os), 0);
    const char *text = "pools:\n  - name: a\n    huge_pages: true\n";
    if (strcmp(os.sysname, "Linux") == 0) {
        char expected[200];
        snprintf(expected, sizeof expected,
                 "t.yaml:3:17: pools[0].huge_pages: true needs a page of 2MiB or more on Linux, "
                 "and page is %s", os_page_text());
        expect_errors(text, expected);
    } else {
        policy_free(load_ok(text));   /* accepted and ignored on macOS */
    }
    policy *p = load_ok("pools:\n  - {name: a, page: 2MiB, huge_pages: true}\n");
    ck_assert(p->pools[0].huge_pages);
    ck_assert_uint_eq(p->pools[0].page, 2 * POLICY_MIB);
    policy_free(p);
}
END_TEST

START_TEST(isolation_is_block_pool_or_uid)
{
    expect_errors("pools:\n  - name: a\n    isolation: shared\n",
                  "t.yaml:3:16: pools[0].isolation: shared is not block, pool or uid");
}
END_TEST

START_TEST(unknown_users_and_groups)
{
    expect_errors("pools:\n  - name: a\n    access:\n      users: [root, nobody-here-x1]\n",
                  "t.yaml:4:21: pools[0].access.users[1]: unknown user nobody-here-x1");
    expect_errors("admin:\n  groups: [no-such-group-x1]\npools: [{name: a}]\n",
                  "t.yaml:2:12: admin.groups[0]: unknown group no-such-group-x1");
    expect_errors("pools:\n  - name: a\n    access: {read_only_users: [\"4294967295\"]}\n",
                  "t.yaml:3:32: pools[0].access.read_only_users[0]: 4294967295 is not a valid "
                  "user id");
}
END_TEST

START_TEST(independent_errors_are_all_reported_in_file_order)
{
    const char *text = "log:\n  level: loud\n"
                       "pools:\n  - name: a\n    limit: 1XB\n    isolation: none\n"
                       "  - name: a\n";
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), -EINVAL);
    ck_assert_int_eq(err.count, 4);
    ck_assert_str_eq(err.text,
                     "t.yaml:2:10: log.level: loud is not error, warn, info or debug\n"
                     "t.yaml:5:12: pools[0].limit: 1XB: unknown unit: sizes take B, KiB, MiB, "
                     "GiB, TiB, KB, MB, GB or TB\n"
                     "t.yaml:6:16: pools[0].isolation: none is not block, pool or uid\n"
                     "t.yaml:7:11: pools[1].name: duplicate pool name a: pools[0] has it already");
}
END_TEST

START_TEST(too_many_errors_are_counted_not_lost)
{
    char *text = malloc(64 * 1024);
    strcpy(text, "pools:\n");
    for (int i = 0; i < 300; i++)
        sprintf(text + strlen(text), "  - name: BAD%d\n", i);
    policy *p = NULL;
    policy_error err;
    ck_assert_int_eq(policy_load_buffer("t.yaml", text, strlen(text), &p, &err), -EINVAL);
    ck_assert_int_eq(err.count, 300);
    ck_assert(strncmp(err.text, "t.yaml:2:11: pools[0].name: BAD0 is not a pool name", 51) == 0);
    const char *tail = strrchr(err.text, '\n') + 1;
    int shown = 0, more = 0;
    for (const char *s = err.text; s < tail; s++)
        shown += *s == '\n';
    ck_assert_int_eq(sscanf(tail, "(and %d more errors)", &more), 1);
    ck_assert_int_eq(shown + more, 300);
    ck_assert_uint_lt(strlen(err.text), sizeof err.text);
    free(text);
}
END_TEST

/* ---- defaults ------------------------------------------------------------------------ */

START_TEST(every_documented_default)
{
    policy *p = load_ok("pools:\n  - name: default\n");
    ck_assert_uint_eq(p->listen_mode, 0666);
    ck_assert_uint_eq(p->admin_mode, 0600);
    ck_assert_uint_eq(p->max_clients, 1024);
    ck_assert_uint_eq(p->max_blocks_per_client, 65536);
    ck_assert_uint_eq(p->hello_timeout_ns, 5 * POLICY_NS_PER_S);
    ck_assert_ptr_null(p->metrics_listen);
    ck_assert_uint_eq(p->admin_idle_timeout_ns, 60 * POLICY_NS_PER_S);
    ck_assert_int_eq(p->log_level, LOG_LEVEL_INFO);
    ck_assert_uint_eq(p->scavenger.interval_ns, POLICY_NS_PER_S);
    ck_assert_uint_eq(p->scavenger.idle_ns, 30 * POLICY_NS_PER_S);
    ck_assert_uint_eq(p->scavenger.retain, 64 * POLICY_MIB);
    ck_assert_uint_eq(p->scavenger.cpu_permille, 10);
    /* admin.users: root, and the uid running the daemon. */
    ck_assert(policy_admin_admits(p, 0, NULL, 0));
    ck_assert(policy_admin_admits(p, (uint32_t)geteuid(), NULL, 0));
    ck_assert(!p->admin_users.any);
    ck_assert_uint_eq(p->admin_users.n, geteuid() == 0 ? 1 : 2);
    ck_assert_uint_eq(p->admin_groups.n, 0);
    const policy_pool *pool = &p->pools[0];
    ck_assert_uint_eq(pool->reserve, 64 * POLICY_GIB);
    ck_assert_uint_eq(pool->limit, 2 * POLICY_GIB);
    ck_assert_uint_eq(pool->quota, 2 * POLICY_GIB);
    ck_assert_uint_eq(pool->max_block, 2 * POLICY_GIB);
    ck_assert(pool->page_auto);
    ck_assert_uint_eq(pool->page, (uint64_t)sysconf(_SC_PAGESIZE));
    ck_assert(!pool->huge_pages);
    ck_assert_int_eq(pool->isolation, POLICY_ISOLATION_BLOCK);
    ck_assert(pool->users.any);
    ck_assert(!pool->groups.any && pool->groups.n == 0);
    ck_assert(!pool->read_only_users.any && pool->read_only_users.n == 0);
    ck_assert_mem_eq(&pool->scavenger, &p->scavenger, sizeof p->scavenger);
    ck_assert_str_eq(p->path, "t.yaml");
    policy_free(p);
}
END_TEST

START_TEST(default_socket_paths_follow_who_runs_the_daemon)
{
    policy *p = load_ok("pools: [{name: a}]\n");
    if (geteuid() == 0) {
        ck_assert_str_eq(p->listen_socket, "/var/run/mempoold.sock");
        ck_assert_str_eq(p->admin_socket, "/var/run/mempoold.admin.sock");
    } else {
        ck_assert_str_ne(p->listen_socket, "/var/run/mempoold.sock");
        ck_assert_ptr_nonnull(strstr(p->listen_socket, "/mempoold.sock"));
        ck_assert_ptr_nonnull(strstr(p->admin_socket, "/mempoold.admin.sock"));
    }
    policy_free(p);
}
END_TEST

/* In a child that gives up root (when it has it): the root default paths
   of the annotated file fall back to the per-user ones. Exit codes say
   which step failed. */
static int check_fallback_as_unprivileged_user(void)
{
    static const char text[] = "listen: {socket: /var/run/mempoold.sock}\n"
                               "admin: {socket: /var/run/mempoold.admin.sock}\n"
                               "pools: [{name: a}]\n";
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
        return 10;
    if (faccessat(AT_FDCWD, "/var/run", W_OK, AT_EACCESS) == 0)
        return 11;   /* the premise: this user cannot create sockets there */
    setenv("XDG_RUNTIME_DIR", "/run/user/test", 1);
    policy *p = NULL;
    if (policy_load_buffer("t.yaml", text, strlen(text), &p, NULL) != 0)
        return 12;
    int rc = strcmp(p->listen_socket, "/run/user/test/mempoold.sock") != 0 ? 13
             : strcmp(p->admin_socket, "/run/user/test/mempoold.admin.sock") != 0 ? 14
             : !policy_admin_admits(p, (uint32_t)geteuid(), NULL, 0) ? 15
                                                                      : 0;
    policy_free(p);
    unsetenv("XDG_RUNTIME_DIR");
    char expected[64];
    snprintf(expected, sizeof expected, "/tmp/mempoold-%u/mempoold.sock", (unsigned)geteuid());
    if (rc == 0 && policy_load_buffer("t.yaml", text, strlen(text), &p, NULL) != 0)
        return 16;
    if (rc == 0)
        rc = strcmp(p->listen_socket, expected) != 0 ? 17 : 0;
    if (rc == 0)
        policy_free(p);
    return rc;
}

START_TEST(root_default_paths_fall_back_for_other_users)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(check_fallback_as_unprivileged_user());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(other_socket_paths_are_taken_as_written)
{
    policy *p = load_ok("listen: {socket: /var/run/other.sock}\npools: [{name: a}]\n");
    ck_assert_str_eq(p->listen_socket, "/var/run/other.sock");
    policy_free(p);
}
END_TEST

START_TEST(pools_inherit_the_global_scavenger_key_by_key)
{
    policy *p = load_ok("scavenger: {interval: 2s, idle: 1m, retain: 8MiB, cpu: 5%}\n"
                        "pools:\n  - name: a\n    scavenger: {idle: 10s}\n  - name: b\n");
    ck_assert_uint_eq(p->pools[0].scavenger.interval_ns, 2 * POLICY_NS_PER_S);
    ck_assert_uint_eq(p->pools[0].scavenger.idle_ns, 10 * POLICY_NS_PER_S);
    ck_assert_uint_eq(p->pools[0].scavenger.retain, 8 * POLICY_MIB);
    ck_assert_uint_eq(p->pools[0].scavenger.cpu_permille, 50);
    ck_assert_mem_eq(&p->pools[1].scavenger, &p->scavenger, sizeof p->scavenger);
    policy_free(p);
}
END_TEST

START_TEST(empty_sections_take_their_defaults)
{
    policy *p = load_ok("listen:\nlog:\nscavenger:\npools:\n  - name: a\n    scavenger:\n");
    ck_assert_int_eq(p->log_level, LOG_LEVEL_INFO);
    ck_assert_uint_eq(p->pools[0].scavenger.retain, 64 * POLICY_MIB);
    policy_free(p);
}
END_TEST

START_TEST(the_annotated_default_file_is_the_builtin_default)
{
    policy *file = NULL, *builtin;
    policy_error err;
    ck_assert_msg(policy_load_file(DEFAULT_FILE, &file, &err) == 0, "%s", err.text);
    builtin = load_ok("pools:\n  - name: default\n");
    ck_assert(policy_equal(file, builtin));
    ck_assert_str_eq(file->path, DEFAULT_FILE);
    policy_free(file);
    policy_free(builtin);
}
END_TEST

/* ---- access ----------------------------------------------------------------------------- */

START_TEST(pool_access_lists)
{
    policy *p = load_ok("pools:\n"
                        "  - name: a\n"
                        "    access: {users: [\"1001\"], groups: [\"2000\"], "
                        "read_only_users: [\"1002\", \"1001\"]}\n"
                        "  - name: b\n"
                        "    access: {users: [], read_only_users: [\"*\"]}\n"
                        "  - name: c\n"
                        "    access: {users: []}\n");
    const policy_pool *a = policy_find_pool(p, "a"), *b = policy_find_pool(p, "b"),
                      *c = policy_find_pool(p, "c");
    static const uint32_t member[] = { 5, 2000 }, outsider[] = { 5, 6 };
    ck_assert(policy_pool_admits(a, 1001, NULL, 0));
    ck_assert(policy_pool_read_only(a, 1001));   /* read_only_users wins over users */
    ck_assert(policy_pool_admits(a, 1002, NULL, 0));
    ck_assert(policy_pool_read_only(a, 1002));
    ck_assert(policy_pool_admits(a, 3000, member, 2));
    ck_assert(!policy_pool_read_only(a, 3000));
    ck_assert(!policy_pool_admits(a, 3000, outsider, 2));
    ck_assert(policy_pool_admits(b, 42, NULL, 0));
    ck_assert(policy_pool_read_only(b, 42));
    ck_assert(!policy_pool_admits(c, 0, NULL, 0));
    ck_assert_ptr_null(policy_find_pool(p, "d"));
    policy_free(p);
}
END_TEST

START_TEST(users_and_groups_by_name_or_id)
{
    policy *p = load_ok("admin: {users: [daemon, \"1234\", 1234], groups: [daemon, 77]}\n"
                        "pools: [{name: a}]\n");
    static const uint32_t in_daemon[] = { 1 }, in_77[] = { 77 }, elsewhere[] = { 78 };
    ck_assert(policy_admin_admits(p, 1, NULL, 0));      /* daemon is uid 1 */
    ck_assert(policy_admin_admits(p, 1234, NULL, 0));
    ck_assert(policy_admin_admits(p, 999, in_daemon, 1));
    ck_assert(policy_admin_admits(p, 999, in_77, 1));
    ck_assert(!policy_admin_admits(p, 999, elsewhere, 1));
    /* Sorted, without duplicates. */
    ck_assert_uint_eq(p->admin_users.n, geteuid() == 1 || geteuid() == 1234 ? 2 : 3);
    for (size_t i = 1; i < p->admin_users.n; i++)
        ck_assert_uint_lt(p->admin_users.ids[i - 1], p->admin_users.ids[i]);
    policy_free(p);
}
END_TEST

/* ---- dumps load back ------------------------------------------------------------------- */

static void assert_dump_loads_back(const policy *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(policy_write_yaml(p, f), 0);
    fclose(f);
    policy *again = NULL;
    policy_error err;
    ck_assert_msg(policy_load_buffer("dump.yaml", text, len, &again, &err) == 0,
                  "dump of %s did not load:\n%s\n%s", p->path, err.text, text);
    ck_assert_msg(policy_equal(p, again), "dump of %s loads to another policy:\n%s", p->path,
                  text);
    policy_free(again);
    free(text);
}

START_TEST(every_test_policy_and_the_default_load_and_dump_back)
{
    DIR *dir = opendir(POLICIES_DIR);
    ck_assert_ptr_nonnull(dir);
    int loaded = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", POLICIES_DIR, e->d_name);
        policy *p = NULL;
        policy_error err;
        ck_assert_msg(policy_load_file(path, &p, &err) == 0, "%s", err.text);
        assert_dump_loads_back(p);
        policy_free(p);
        loaded++;
    }
    closedir(dir);
    ck_assert_int_ge(loaded, 4);
    policy *p = NULL;
    policy_error err;
    ck_assert_msg(policy_load_file(DEFAULT_FILE, &p, &err) == 0, "%s", err.text);
    assert_dump_loads_back(p);
    policy_free(p);
}
END_TEST

START_TEST(a_realistic_policy_loads_what_it_says)
{
    policy *p = NULL;
    policy_error err;
    ck_assert_msg(policy_load_file(POLICIES_DIR "/media_pipeline.yaml", &p, &err) == 0, "%s",
                  err.text);
    ck_assert_str_eq(p->listen_socket, "/run/mempoold/mempoold.sock");
    ck_assert_uint_eq(p->listen_mode, 0660);
    ck_assert_int_eq(p->log_level, LOG_LEVEL_WARN);
    ck_assert_uint_eq(p->scavenger.interval_ns, 500 * POLICY_NS_PER_MS);
    ck_assert_uint_eq(p->scavenger.cpu_permille, 25);
    ck_assert_uint_eq(p->npools, 2);
    const policy_pool *frames = policy_find_pool(p, "frames");
    ck_assert_uint_eq(frames->page, 2 * POLICY_MIB);
    ck_assert(!frames->page_auto && frames->huge_pages);
    ck_assert_uint_eq(frames->scavenger.idle_ns, 5 * POLICY_NS_PER_S);
    ck_assert_uint_eq(frames->scavenger.interval_ns, 500 * POLICY_NS_PER_MS);
    ck_assert(policy_pool_read_only(frames, 65534));
    ck_assert_int_eq(frames->line, 22);
    ck_assert_int_eq(frames->column, 5);
    const policy_pool *meta = policy_find_pool(p, "meta.records");
    ck_assert_int_eq(meta->isolation, POLICY_ISOLATION_POOL);
    ck_assert_uint_eq(meta->quota, 128 * POLICY_MIB);
    ck_assert_uint_eq(meta->scavenger.retain, 0);
    ck_assert_uint_eq(meta->scavenger.cpu_permille, 5);
    policy_free(p);
}
END_TEST

START_TEST(equal_tells_policies_apart)
{
    policy *a = load_ok("pools: [{name: a, limit: 1GiB}]\n");
    policy *b = load_ok("pools: [{name: a, limit: 1024MiB}]\n");
    policy *c = load_ok("pools: [{name: a, limit: 1GiB, quota: 512MiB}]\n");
    policy *d = load_ok("pools: [{name: a, limit: 1GiB}, {name: b}]\n");
    ck_assert(policy_equal(a, b));
    ck_assert(!policy_equal(a, c));
    ck_assert(!policy_equal(a, d));
    policy_free(a);
    policy_free(b);
    policy_free(c);
    policy_free(d);
}
END_TEST

/* ---- reload diff ------------------------------------------------------------------------- */

static int diff_texts(const char *old_text, const char *new_text, char *buf, size_t len,
                      bool *restart)
{
    policy *old = load_ok(old_text), *new_ = load_ok(new_text);
    int n = policy_diff(old, new_, buf, len, restart);
    policy_free(old);
    policy_free(new_);
    return n;
}

START_TEST(diff_of_equal_policies_is_empty)
{
    char buf[256];
    bool restart = true;
    ck_assert_int_eq(diff_texts("pools: [{name: a}]\n", "pools: [{name: a}]\n", buf,
                                sizeof buf, &restart), 0);
    ck_assert(!restart);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(diff_live_changes)
{
    char buf[1024];
    bool restart = true;
    int n = diff_texts("pools: [{name: a, page: 2MiB}]\n",
                       "log: {level: debug}\nlimits: {max_clients: 10}\n"
                       "scavenger: {idle: 5s}\n"
                       "pools: [{name: a, page: 2MiB, limit: 1GiB, "
                       "access: {users: [\"0\"]}}]\n",
                       buf, sizeof buf, &restart);
    ck_assert(!restart);
    ck_assert_str_eq(buf, "limits.max_clients: 1024 -> 10 (live)\n"
                          "limits.max_clients_per_uid: 120 -> 1 (live)\n"
                          "log.level: info -> debug (live)\n"
                          "scavenger.idle: 30s -> 5s (live)\n"
                          "pools[a].limit: 2GiB -> 1GiB (live)\n"
                          "pools[a].quota: 2GiB -> 1GiB (live)\n"
                          "pools[a].max_block: 2GiB -> 1GiB (live)\n"
                          "pools[a].access.users: [\"*\"] -> [\"root\"] (live)\n"
                          "pools[a].scavenger.idle: 30s -> 5s (live)\n");
    ck_assert_int_eq(n, 9);
}
END_TEST

START_TEST(diff_restart_changes)
{
    static const struct { const char *new_text, *line; } cases[] = {
        { "listen: {socket: /tmp/x.sock}\npools: [{name: a}]\n", "listen.socket: " },
        { "admin: {socket: /tmp/y.sock}\npools: [{name: a}]\n", "admin.socket: " },
        { "listen: {mode: 0600}\npools: [{name: a}]\n", "listen.mode: 0666 -> 0600" },
        { "pools: [{name: a, reserve: 128GiB}]\n", "pools[a].reserve: 64GiB -> 128GiB" },
        { "pools: [{name: a, page: 2MiB, huge_pages: true}]\n", "pools[a].huge_pages: false -> true" },
        { "pools: [{name: a, isolation: pool}]\n", "pools[a].isolation: block -> pool" },
        { "pools: [{name: a, page: 1MiB}]\n", "pools[a].page: auto -> 1MiB" },
        { "pools: [{name: b}]\n", "pools[a]: removed (needs restart)\npools[b]: added" },
        { "pools: [{name: a}, {name: b}]\n", "pools[b]: added (needs restart)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512];
        bool restart = false;
        int n = diff_texts("pools: [{name: a}]\n", cases[i].new_text, buf, sizeof buf,
                           &restart);
        ck_assert_msg(restart, "%s", cases[i].new_text);
        ck_assert_int_ge(n, 1);
        ck_assert_msg(strstr(buf, cases[i].line) != NULL, "%s\nnot in\n%s", cases[i].line, buf);
        ck_assert_ptr_nonnull(strstr(buf, "(needs restart)\n"));
    }
}
END_TEST

START_TEST(diff_counts_past_a_small_buffer)
{
    char buf[16];
    bool restart = false;
    int n = diff_texts("pools: [{name: a}]\n",
                       "log: {level: warn}\npools: [{name: a, reserve: 1TiB}]\n", buf,
                       sizeof buf, &restart);
    ck_assert_int_eq(n, 2);
    ck_assert(restart);
    ck_assert_uint_lt(strlen(buf), sizeof buf);
}
END_TEST

/* ---- --check-config and --print-config ---------------------------------------------------- */

typedef struct captured {
    char *out_text, *err_text;
    size_t out_len, err_len;
    FILE *out, *err;
} captured;

static void capture_start(captured *c)
{
    memset(c, 0, sizeof *c);
    c->out = open_memstream(&c->out_text, &c->out_len);
    c->err = open_memstream(&c->err_text, &c->err_len);
}

static void capture_stop(captured *c)
{
    fclose(c->out);
    fclose(c->err);
}

static void capture_free(captured *c)
{
    free(c->out_text);
    free(c->err_text);
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/check_policy_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(check_config_summarizes_each_pool)
{
    captured c;
    capture_start(&c);
    int rc = config_check(POLICIES_DIR "/single_user.yaml", c.out, c.err);
    capture_stop(&c);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(c.err_text, "");
    char expected[1024];
    snprintf(expected, sizeof expected,
             "%s/single_user.yaml: valid, 2 pools\n"
             "pool test: reserve 4GiB, limit 256MiB, quota 64MiB, max_block 16MiB, page %s "
             "(auto), isolation block, access: anyone\n"
             "pool test-dirty: reserve 1TiB, limit 1GiB, quota 1GiB, max_block 1GiB, page %s "
             "(auto), isolation block, access: anyone\n",
             POLICIES_DIR, os_page_text(), os_page_text());
    ck_assert_str_eq(c.out_text, expected);
    capture_free(&c);
}
END_TEST

/* A size rounded to the page shows both: the effective value, and what
 * was written. 2MiB pages make the figures the same on every OS. */
START_TEST(check_config_shows_what_was_rounded)
{
    char *path = write_temp("pools:\n  - name: a\n    page: 2MiB\n    reserve: 10GB\n"
                            "    limit: 500MB\n");
    captured c;
    capture_start(&c);
    int rc = config_check(path, c.out, c.err);
    capture_stop(&c);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", c.err_text);
    ck_assert_msg(strstr(c.out_text, "reserve 9538MiB (10GB rounded up to the page), "
                                     "limit 476MiB (500MB rounded down to the page), "
                                     "quota 476MiB, max_block 476MiB, page 2MiB,") != NULL,
                  "%s", c.out_text);
    capture_free(&c);
}
END_TEST

START_TEST(check_config_lists_errors_and_exits_2)
{
    char *path = write_temp("pools:\n  - name: a\n    limit: 8GiB\n    reserve: 4GiB\n"
                            "    quota: 16GiB\n");
    captured c;
    capture_start(&c);
    int rc = config_check(path, c.out, c.err);
    capture_stop(&c);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(c.out_text, "");
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s:3:12: pools[0].limit: 8GiB is above reserve (4GiB)\n"
             "%s:5:12: pools[0].quota: 16GiB is above limit (8GiB)\n"
             "%s: 2 errors\n", path, path, path);
    ck_assert_str_eq(c.err_text, expected);
    unlink(path);
    capture_free(&c);
}
END_TEST

START_TEST(check_config_of_a_missing_file)
{
    captured c;
    capture_start(&c);
    int rc = config_check("/nonexistent/mempoold.yaml", c.out, c.err);
    capture_stop(&c);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(c.err_text,
                     "/nonexistent/mempoold.yaml: cannot read: No such file or directory\n");
    capture_free(&c);
}
END_TEST

START_TEST(print_config_output_passes_check_config)
{
    captured c;
    capture_start(&c);
    int rc = config_print(POLICIES_DIR "/ml_inference.yaml", c.out, c.err);
    capture_stop(&c);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(c.err_text, "");
    ck_assert_ptr_nonnull(strstr(c.out_text, "\n    quota: 48GiB  # "));   /* a default, filled in */
    ck_assert_ptr_nonnull(strstr(c.out_text, "\n      retain: 100MB  # "));
    char *path = write_temp(c.out_text);
    captured again;
    capture_start(&again);
    ck_assert_int_eq(config_check(path, again.out, again.err), 0);
    capture_stop(&again);
    policy *original = NULL, *printed = NULL;
    ck_assert_int_eq(policy_load_file(POLICIES_DIR "/ml_inference.yaml", &original, NULL), 0);
    ck_assert_int_eq(policy_load_file(path, &printed, NULL), 0);
    ck_assert(policy_equal(original, printed));
    policy_free(original);
    policy_free(printed);
    unlink(path);
    capture_free(&again);
    capture_free(&c);
}
END_TEST

START_TEST(print_config_of_an_invalid_file_exits_2)
{
    char *path = write_temp("pools: []\n");
    captured c;
    capture_start(&c);
    int rc = config_print(path, c.out, c.err);
    capture_stop(&c);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(c.out_text, "");
    ck_assert_ptr_nonnull(strstr(c.err_text, ":1:8: pools: no pools: a policy needs at least one"));
    unlink(path);
    capture_free(&c);
}
END_TEST

static TCase *units_case(void)
{
    TCase *tc = tcase_create("units");
    tcase_add_test(tc, sizes_scan_every_unit);
    tcase_add_test(tc, sizes_reject_what_is_not_a_size);
    tcase_add_test(tc, durations_shares_modes_counts_scan);
    tcase_add_test(tc, formats_read_back_to_the_same_number);
    return tc;
}

static TCase *yaml_case(void)
{
    TCase *tc = tcase_create("yaml");
    tcase_add_test(tc, yaml_syntax_error_names_its_place);
    tcase_add_test(tc, yaml_tabs_are_refused);
    tcase_add_test(tc, yaml_bare_star_gets_a_hint);
    tcase_add_test(tc, yaml_duplicate_keys_in_one_mapping);
    tcase_add_test(tc, yaml_alias_to_the_wrong_kind);
    tcase_add_test(tc, yaml_alias_to_an_unknown_anchor);
    tcase_add_test(tc, yaml_aliases_that_fit_are_followed);
    tcase_add_test(tc, yaml_empty_files_are_refused);
    tcase_add_test(tc, yaml_several_documents_are_refused);
    tcase_add_test(tc, yaml_bytes_that_are_not_utf8);
    tcase_add_test(tc, yaml_root_must_be_a_mapping);
    tcase_add_test(tc, yaml_nul_characters_are_refused);
    tcase_add_test(tc, yaml_deep_nesting_is_bounded);
    tcase_add_test(tc, yaml_oversized_input_is_refused);
    return tc;
}

static TCase *validation_case(void)
{
    TCase *tc = tcase_create("validation");
    tcase_add_test(tc, unknown_keys_are_errors);
    tcase_add_test(tc, a_list_where_a_scalar_belongs);
    tcase_add_test(tc, a_value_left_empty);
    tcase_add_test(tc, bad_and_missing_units);
    tcase_add_test(tc, negative_zero_and_overflowing_sizes);
    tcase_add_test(tc, durations_and_shares_out_of_range);
    tcase_add_test(tc, modes_counts_and_levels);
    tcase_add_test(tc, socket_paths_must_be_absolute_and_short);
    tcase_add_test(tc, metrics_addresses_are_ip_literals);
    tcase_add_test(tc, no_pools_is_an_error);
    tcase_add_test(tc, duplicate_pool_names);
    tcase_add_test(tc, pool_names_follow_the_pattern);
    tcase_add_test(tc, limit_above_reserve);
    tcase_add_test(tc, quota_and_max_block_above_limit);
    tcase_add_test(tc, retain_above_limit);
    tcase_add_test(tc, inherited_retain_is_cut_to_the_limit);
    tcase_add_test(tc, client_cache_is_a_quarter_of_the_quota_at_most);
    tcase_add_test(tc, page_must_be_a_power_of_two_at_least_the_os_page);
    tcase_add_test(tc, sizes_round_to_the_page);
    tcase_add_test(tc, a_size_below_one_page_is_refused);
    tcase_add_test(tc, huge_pages_need_a_large_page_on_linux);
    tcase_add_test(tc, isolation_is_block_pool_or_uid);
    tcase_add_test(tc, unknown_users_and_groups);
    tcase_add_test(tc, independent_errors_are_all_reported_in_file_order);
    tcase_add_test(tc, too_many_errors_are_counted_not_lost);
    return tc;
}

static TCase *defaults_case(void)
{
    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, every_documented_default);
    tcase_add_test(tc, default_socket_paths_follow_who_runs_the_daemon);
    tcase_add_test(tc, root_default_paths_fall_back_for_other_users);
    tcase_add_test(tc, other_socket_paths_are_taken_as_written);
    tcase_add_test(tc, pools_inherit_the_global_scavenger_key_by_key);
    tcase_add_test(tc, empty_sections_take_their_defaults);
    tcase_add_test(tc, the_annotated_default_file_is_the_builtin_default);
    return tc;
}

static TCase *access_case(void)
{
    TCase *tc = tcase_create("access");
    tcase_add_test(tc, pool_access_lists);
    tcase_add_test(tc, users_and_groups_by_name_or_id);
    return tc;
}

static TCase *dump_case(void)
{
    TCase *tc = tcase_create("dump");
    tcase_add_test(tc, every_test_policy_and_the_default_load_and_dump_back);
    tcase_add_test(tc, a_realistic_policy_loads_what_it_says);
    tcase_add_test(tc, equal_tells_policies_apart);
    return tc;
}

static TCase *diff_case(void)
{
    TCase *tc = tcase_create("diff");
    tcase_add_test(tc, diff_of_equal_policies_is_empty);
    tcase_add_test(tc, diff_live_changes);
    tcase_add_test(tc, diff_restart_changes);
    tcase_add_test(tc, diff_counts_past_a_small_buffer);
    return tc;
}

START_TEST(named_groups_are_listed_once)
{
    policy *p = load_ok("admin: { groups: [70001, 70002] }\n"
                        "pools:\n"
                        "  - { name: a, reserve: 1GiB, limit: 64MiB, access: { groups: [70002, 70003] } }\n"
                        "  - { name: b, reserve: 1GiB, limit: 64MiB, access: { groups: [70004] } }\n");
    uint32_t got[8];
    ck_assert_uint_eq(policy_named_groups(p, got, 8), 4);
    ck_assert_uint_eq(got[0], 70001);
    ck_assert_uint_eq(got[1], 70002);
    ck_assert_uint_eq(got[2], 70003);
    ck_assert_uint_eq(got[3], 70004);
    /* Cut at the cap, counted in full. */
    ck_assert_uint_eq(policy_named_groups(p, got, 2), 4);
    ck_assert_uint_eq(got[1], 70002);
    policy_free(p);
}
END_TEST

static TCase *commands_case(void)
{
    TCase *tc = tcase_create("commands");
    tcase_add_test(tc, check_config_summarizes_each_pool);
    tcase_add_test(tc, check_config_shows_what_was_rounded);
    tcase_add_test(tc, check_config_lists_errors_and_exits_2);
    tcase_add_test(tc, check_config_of_a_missing_file);
    tcase_add_test(tc, print_config_output_passes_check_config);
    tcase_add_test(tc, print_config_of_an_invalid_file_exits_2);
    tcase_add_test(tc, named_groups_are_listed_once);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("policy");
    suite_add_tcase(s, units_case());
    suite_add_tcase(s, yaml_case());
    suite_add_tcase(s, validation_case());
    suite_add_tcase(s, defaults_case());
    suite_add_tcase(s, access_case());
    suite_add_tcase(s, dump_case());
    suite_add_tcase(s, diff_case());
    suite_add_tcase(s, commands_case());
    return check_run(s);
}
