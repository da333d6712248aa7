/* The fast path against the real daemon, from separate processes: one-way
 * releases, fork(), kept mappings, the client-side block cache and where
 * each meets isolation between uids. Behaviour only; speed is measured in
 * tests/bench/bench_alloc.c. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

static const char pools[] =
    "pools:\n"
    "  - name: default\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    quota: 64MiB\n"
    "  - name: shared\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    isolation: pool\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, pools); }

static void teardown(void) { fixture_cleanup(&fx); }

static uint64_t client_use(mempool_client *c, const char *pool)
{
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, pool, &info), 0);
    return info.client_use;
}

/* ---- one-way release -------------------------------------------------------- */

START_TEST(release_needs_no_reply_and_is_seen_in_order)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(mempool_alloc(c, "default", 64 * KiB, 0, &b), 0);
        ck_assert_int_eq(mempool_release(c, &b), 0);
        /* The next request is served after the release it follows. */
        ck_assert_uint_eq(client_use(c, "default"), 0);
    }
    /* What this connection does not hold is refused locally, at once. */
    ck_assert_int_eq(mempool_release(c, &b), MEMPOOL_ENOBLOCK);
    mempool_disconnect(c);
}
END_TEST

/* ---- fork() ------------------------------------------------------------------ */

typedef struct fork_case {
    mempool_block parent_block;
} fork_case;

/* In the child: the parent's block is still mapped but is not the
 * child's to release; the child allocates on a connection of its own. */
static int child_after_fork(mempool_client *c, const fork_case *fc)
{
    mempool_block inherited = fc->parent_block, mine;
    if (strcmp(inherited.addr, "parent's") != 0)
        return 10;
    if (mempool_release(c, &inherited) != MEMPOOL_ENOBLOCK)
        return 11;
    if (mempool_alloc(c, "default", 64 * KiB, 0, &mine) != 0)
        return 12;
    if (client_use(c, "default") != 64 * KiB) /* only its own block */
        return 13;
    memset(mine.addr, 7, mine.size);
    if (mempool_release(c, &mine) != 0)
        return 14;
    mempool_disconnect(c);
    return 0;
}

START_TEST(after_fork_the_child_has_its_own_connection)
{
    mempool_client *c = connect_or_die(&fx);
    fork_case fc;
    ck_assert_int_eq(mempool_alloc(c, "default", 128 * KiB, 0, &fc.parent_block), 0);
    strcpy(fc.parent_block.addr, "parent's");
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_after_fork(c, &fc));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(exited_ok(status));
    /* The parent's connection is the one it had: its block can still be
     * shared (a block of a dropped connection could not), and it holds
     * exactly what it held. */
    mempool_handle h;
    ck_assert_int_eq(mempool_share(c, &fc.parent_block, MEMPOOL_READ, &h), 0);
    ck_assert_uint_eq(client_use(c, "default"), 128 * KiB);
    ck_assert_str_eq(fc.parent_block.addr, "parent's");
    ck_assert_int_eq(mempool_release(c, &fc.parent_block), 0);
    ck_assert_uint_eq(client_use(c, "default"), 0);
    mempool_disconnect(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fastpath");
    TCase *tc = tcase_create("fastpath");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, release_needs_no_reply_and_is_seen_in_order);
    tcase_add_test(tc, after_fork_the_child_has_its_own_connection);
    suite_add_tcase(s, tc);
    return check_run(s);
}
