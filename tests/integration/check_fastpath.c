/* The fast path against the real daemon, from separate processes: one-way
 * releases, fork(), kept mappings, the client-side block cache and where
 * each meets isolation between uids. Behaviour only; speed is measured in
 * tests/bench/bench_alloc.c. */
#include <check.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
    "    isolation: pool\n"
    "  - name: churn\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    library: { kept_mappings: 2 }\n"
    "  - name: eager\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    scavenger: { interval: 10ms, idle: 0s, retain: 0B, cpu: 50% }\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, pools); }

static void teardown(void) { fixture_cleanup(&fx); }

static uint64_t client_use(mempool_client *c, const char *pool)
{
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, pool, &info), 0);
    return info.client_use;
}

/* ---- what the kernel says ---------------------------------------------------- */

static uint64_t minor_faults(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (uint64_t)ru.ru_minflt;
}

/* Bytes of [addr, addr+len) the backing file holds in memory (mincore on
 * a shared file mapping reports its page cache); -1 when the range is not
 * mapped at all. */
static int64_t resident_in_file(void *addr, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *vec = malloc(len / page);
    ck_assert_ptr_nonnull(vec);
    int64_t bytes = 0;
    if (mincore(addr, len, vec) != 0)
        bytes = -1;
    for (size_t i = 0; bytes >= 0 && i < len / page; i++)
        bytes += (vec[i] & 1) ? (int64_t)page : 0;
    free(vec);
    return bytes;
}

static bool all_bytes(const mempool_block *b, unsigned char v)
{
    const unsigned char *p = b->addr;
    for (size_t i = 0; i < b->size; i++)
        if (p[i] != v)
            return false;
    return true;
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

/* ---- kept mappings ----------------------------------------------------------- */

/* A released block's mapping stays; when the daemon grants the same warm
 * backing again it names it, and the library reuses the mapping: the
 * pages are still mapped, so touching all of them faults none in. */
START_TEST(a_kept_mapping_is_reused_without_faults)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, MEMPOOL_ALLOC_DIRTY, &b), 0);
    memset(b.addr, 0x5a, b.size);
    void *addr = b.addr;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(resident_in_file(addr, 4 * MiB), (int64_t)(4 * MiB)); /* still mapped */

    uint64_t faults = minor_faults();
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, MEMPOOL_ALLOC_DIRTY, &b), 0);
    ck_assert_ptr_eq(b.addr, addr);
    ck_assert(all_bytes(&b, 0x5a)); /* DIRTY: this uid's bytes, as they were */
    memset(b.addr, 0x6b, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    /* Without DIRTY the library zeroes it through the kept mapping. */
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, 0, &b), 0);
    ck_assert_ptr_eq(b.addr, addr);
    ck_assert(all_bytes(&b, 0));
    memset(b.addr, 0x7c, b.size);
    /* 1024 pages written twice and zeroed once, and hardly a fault. */
    ck_assert_uint_lt(minor_faults() - faults, 64);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
    /* Disconnecting unmaps what was kept. */
    ck_assert_int_eq(resident_in_file(addr, 4 * MiB), -1);
}
END_TEST

/* Two uids churn the same pool at once, each keeping mappings: every block
 * taken without DIRTY reads as zeros, and no block, DIRTY or not, nor any
 * mapping the library kept, ever shows the other uid's bytes. */
#define CHURN_ROUNDS 300
#define CHURN_SIZE (64 * KiB)

/* Each churner holds up to four blocks and lets go of them out of order,
 * so most warm blocks are ones this connection does not keep mapped (the
 * pool keeps two), and both uids' warm blocks are always on offer. */
static int churn_as(unsigned char mine, unsigned char theirs)
{
    mempool_client *c;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    void *seen[CHURN_ROUNDS];
    mempool_block held[4] = { 0 };
    unsigned seed = mine;
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        mempool_block *b = &held[rand_r(&seed) % 4];
        if (b->addr != NULL && mempool_release(c, b) != 0)
            return 14;
        unsigned flags = i % 3 == 0 ? MEMPOOL_ALLOC_DIRTY : 0;
        if (mempool_alloc(c, "churn", CHURN_SIZE, flags, b) != 0)
            return 11;
        if (!flags && !all_bytes(b, 0))
            return 12;
        if (memchr(b->addr, theirs, b->size) != NULL)
            return 13;
        memset(b->addr, mine, b->size);
        seen[i] = b->addr;
    }
    for (int i = 0; i < 4; i++)
        if (mempool_release(c, &held[i]) != 0)
            return 14;
    /* Whatever the library still maps of what it released. */
    for (int i = 0; i < CHURN_ROUNDS; i++)
        if (resident_in_file(seen[i], CHURN_SIZE) >= 0 && memchr(seen[i], theirs, CHURN_SIZE))
            return 15;
    mempool_disconnect(c);
    return 0;
}

static int churn_as_nobody(void *arg)
{
    (void)arg;
    if (!drop_to_nobody())
        return 20;
    return churn_as(0x55, 0xaa);
}

START_TEST(a_kept_mapping_never_sees_another_uids_data)
{
    if (!running_as_root()) {
        fprintf(stderr, "a_kept_mapping_never_sees_another_uids_data: needs root; not run\n");
        return;
    }
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(churn_as_nobody(NULL));
        ck_assert_int_eq(churn_as(0xaa, 0x55), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert(exited_ok(status));
    }
}
END_TEST

/* The scavenger gives a warm block back (its pages leave the memfd) even
 * while a client keeps a mapping of it. */
START_TEST(a_scavenged_warm_block_leaves_the_memfd_while_its_mapping_is_kept)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "eager", 2 * MiB, 0, &b), 0);
    memset(b.addr, 1, b.size);
    void *addr = b.addr;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_info info;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(mempool_pool_info(c, "eager", &info), 0);
        if (info.warm == 0 && info.released >= 2 * MiB)
            break;
        usleep(10 * 1000);
    }
    ck_assert_uint_eq(info.warm, 0);
    ck_assert_int_eq(resident_in_file(addr, 2 * MiB), 0); /* mapped, and empty */
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
    tcase_add_test(tc, a_kept_mapping_is_reused_without_faults);
    tcase_add_test(tc, a_kept_mapping_never_sees_another_uids_data);
    tcase_add_test(tc, a_scavenged_warm_block_leaves_the_memfd_while_its_mapping_is_kept);
    suite_add_tcase(s, tc);
    return check_run(s);
}
