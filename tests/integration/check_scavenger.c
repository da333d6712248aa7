/* The scavenger in the real daemon, observed from outside the way a user
 * would: the pool's memfds in /proc/<pid>/fd (st_blocks: what the kernel
 * holds for the pool), the daemon's smaps for its mappings of them (its
 * RSS for the pool), its minor faults in /proc/<pid>/stat, and the bytes
 * clients read. Every wait polls for a condition with a generous deadline;
 * nothing asserts how long the scavenger took. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define MiB (1024ULL * 1024)

static const char pools[] =
    "scavenger: { interval: 100ms, idle: 200ms, retain: 0B, cpu: 10% }\n"
    "pools:\n"
    "  - name: blk\n"
    "    reserve: 4GiB\n"
    "    limit: 1GiB\n"
    "  - name: shr\n"
    "    reserve: 4GiB\n"
    "    limit: 1GiB\n"
    "    isolation: pool\n"
    "  - name: keeper\n"
    "    reserve: 4GiB\n"
    "    limit: 1GiB\n"
    "    scavenger: { retain: 64MiB }\n"
    "  - name: capped\n"
    "    reserve: 4GiB\n"
    "    limit: 128MiB\n"
    "    scavenger: { idle: 1h }\n"
    "  - name: young\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    scavenger: { idle: 1h }\n"
    "  - name: eager\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    scavenger: { interval: 10ms, idle: 0s, cpu: 50% }\n"
    "  - name: eagershr\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    isolation: pool\n"
    "    scavenger: { interval: 10ms, idle: 0s, cpu: 50% }\n";

static fixture fx;
static mempool_client *cl;

static void setup(void)
{
    fixture_start(&fx, pools);
    cl = connect_or_die(&fx);
}

/* The daemon exits cleanly (under the sanitizers: without a leak). */
static void teardown(void)
{
    mempool_disconnect(cl);
    int status = fixture_stop(&fx);
    if (status != 0)
        fixture_dump_log(&fx);
    fixture_cleanup(&fx);
    ck_assert_int_eq(status, 0);
}

/* ---- what the kernel says about the daemon -------------------------------- */

/* The bytes the kernel holds for the pool's memfds (their st_blocks), found
 * among the daemon's descriptors by name. */
static uint64_t pool_memfd_bytes(const char *pool)
{
    char dir[64], want[128], path[384], target[256];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fx.pid);
    snprintf(want, sizeof want, "/memfd:mempoold:%s (deleted)", pool);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    uint64_t bytes = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        struct stat st;
        if (n <= 0 || (size_t)n != strlen(want) || memcmp(target, want, (size_t)n) != 0)
            continue;
        if (stat(path, &st) == 0)
            bytes += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return bytes;
}

/* The daemon's RSS in its mappings of the pool's memfds (smaps). */
static uint64_t pool_daemon_rss(const char *pool)
{
    char path[64], want[128], line[512];
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)fx.pid);
    snprintf(want, sizeof want, "/memfd:mempoold:%s (deleted)", pool);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    bool inside = false;
    uint64_t bytes = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long kib;
        char perms[8];
        /* A mapping's header line ("lo-hi perms offset dev inode path"),
         * else one of its "Key: value" lines. */
        if (sscanf(line, "%*x-%*x %7s", perms) == 1)
            inside = strstr(line, want) != NULL;
        else if (inside && sscanf(line, "Rss: %llu kB", &kib) == 1)
            bytes += kib * 1024;
    }
    fclose(f);
    return bytes;
}

/* Minor page faults of the daemon so far (field 10 of /proc/<pid>/stat). */
static uint64_t daemon_minor_faults(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)fx.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *after_name = strrchr(buf, ')');
    ck_assert_ptr_nonnull(after_name);
    unsigned long long minflt = 0;
    ck_assert_int_eq(sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %llu", &minflt), 1);
    return minflt;
}

static mempool_info info_of(const char *pool)
{
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(cl, pool, &info), 0);
    return info;
}

/* Polls until the pool's warm bytes are at most `most`; ~60 s at most. */
static mempool_info wait_warm_at_most(const char *pool, uint64_t most)
{
    mempool_info info = info_of(pool);
    for (int i = 0; i < 6000 && info.warm > most; i++) {
        usleep(10000);
        info = info_of(pool);
    }
    return info;
}

static uint64_t wait_memfd_at_most(const char *pool, uint64_t most)
{
    uint64_t bytes = pool_memfd_bytes(pool);
    for (int i = 0; i < 6000 && bytes > most; i++) {
        usleep(10000);
        bytes = pool_memfd_bytes(pool);
    }
    return bytes;
}

static void alloc_filled(const char *pool, int n, uint64_t size, unsigned flags,
                         mempool_block *b)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(mempool_alloc(cl, pool, size, flags, &b[i]), 0);
        memset(b[i].addr, i + 1, b[i].size);
    }
}

static void release_all(int n, mempool_block *b)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(mempool_release(cl, &b[i]), 0);
}

static bool all_bytes_are(const mempool_block *b, unsigned char value)
{
    const unsigned char *p = b->addr;
    for (uint64_t off = 0; off < b->size; off += 512)
        if (p[off] != value)
            return false;
    return p[b->size - 1] == value;
}

/* ---- idle memory goes back ----------------------------------------------- */

/* 256 MiB written and released twice: the second round reuses the warm
 * memory, which the daemon clears by punching it (no page of its own
 * mapping is faulted in), so its RSS for the pool stays within what the
 * memfds hold. Then the memfds drop by at least 95%, and the daemon's RSS
 * for the pool stays under 5% of what was written. */
static void check_idle_memory_goes_back(const char *pool)
{
    mempool_block b[4];
    alloc_filled(pool, 4, 64 * MiB, 0, b);
    release_all(4, b);
    alloc_filled(pool, 4, 64 * MiB, 0, b);
    ck_assert_uint_ge(pool_memfd_bytes(pool), 256 * MiB);
    ck_assert_uint_le(pool_daemon_rss(pool), pool_memfd_bytes(pool));
    release_all(4, b);
    uint64_t held = wait_memfd_at_most(pool, 256 * MiB / 20);
    ck_assert_uint_le(held, 256 * MiB / 20);
    /* Once nothing is warm, the daemon's own mappings hold nothing either. */
    mempool_info info = wait_warm_at_most(pool, 0);
    ck_assert_uint_eq(info.warm, 0);
    ck_assert_uint_le(pool_daemon_rss(pool), 256 * MiB / 20);
    ck_assert_uint_ge(info.released, 256 * MiB);
    ck_assert_uint_gt(info.scavenger_runs, 0);
    ck_assert_uint_gt(info.scavenger_cpu_ns, 0);
    ck_assert_uint_gt(info.last_scavenge_ms, 0);
}

START_TEST(idle_memory_goes_back_block_isolation) { check_idle_memory_goes_back("blk"); }
END_TEST

START_TEST(idle_memory_goes_back_pool_isolation) { check_idle_memory_goes_back("shr"); }
END_TEST

/* ---- retain ---------------------------------------------------------------- */

START_TEST(retain_keeps_memory_warm_for_reuse_without_faults)
{
    mempool_block b[4], again;
    alloc_filled("keeper", 4, 64 * MiB, 0, b);
    release_all(4, b);
    mempool_info info = wait_warm_at_most("keeper", 64 * MiB);
    ck_assert_uint_eq(info.warm, 64 * MiB);
    ck_assert_uint_eq(info.released, 192 * MiB);
    /* Three intervals later the pool still keeps what it may. */
    usleep(300000);
    info = info_of("keeper");
    ck_assert_uint_eq(info.warm, 64 * MiB);
    uint64_t held = pool_memfd_bytes("keeper");
    ck_assert_uint_ge(held, 64 * MiB);
    ck_assert_uint_le(held, 65 * MiB);
    /* A new 64 MiB block is the warm one, whole and as it was (one of the
     * four patterns): the daemon faults nothing in and the kernel adds no
     * memory when the client writes it all. */
    uint64_t faults = daemon_minor_faults();
    ck_assert_int_eq(mempool_alloc(cl, "keeper", 64 * MiB, MEMPOOL_ALLOC_DIRTY, &again), 0);
    unsigned char first = *(unsigned char *)again.addr;
    ck_assert_msg(first >= 1 && first <= 4 && all_bytes_are(&again, first),
                  "the block reused holds one pattern, whole");
    memset(again.addr, 0x77, again.size);
    ck_assert_uint_lt(daemon_minor_faults() - faults, 256);
    ck_assert_uint_le(pool_memfd_bytes("keeper"), held);
    ck_assert_uint_eq(info_of("keeper").warm, 0);
    ck_assert_int_eq(mempool_release(cl, &again), 0);
}
END_TEST

/* ---- the memory limit -------------------------------------------------------- */

START_TEST(a_pool_full_of_warm_memory_serves_a_new_block)
{
    mempool_block b[2], big;
    alloc_filled("capped", 2, 64 * MiB, 0, b);
    release_all(2, b);
    ck_assert_uint_eq(info_of("capped").warm, 128 * MiB);
    ck_assert_uint_ge(pool_memfd_bytes("capped"), 128 * MiB);
    ck_assert_int_eq(mempool_alloc(cl, "capped", 128 * MiB, 0, &big), 0);
    memset(big.addr, 0x42, big.size);
    mempool_info info = info_of("capped");
    ck_assert_uint_eq(info.in_use, 128 * MiB);
    ck_assert_uint_eq(info.warm, 0);
    ck_assert_uint_eq(info.released, 128 * MiB);
    ck_assert_uint_ge(info.scavenger_runs, 1);
    /* What the kernel holds never went past the limit. */
    ck_assert_uint_le(pool_memfd_bytes("capped"), 128 * MiB);
    ck_assert_int_eq(mempool_release(cl, &big), 0);
}
END_TEST

/* ---- no data lost, zeros where docs/design.md §3 wants them -------------------------- */

static void check_blocks_in_use_survive(const char *pool)
{
    mempool_block live[2], churn;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(mempool_alloc(cl, pool, 8 * MiB, 0, &live[i]), 0);
        memset(live[i].addr, 0xa1 + i, live[i].size);
    }
    /* Twenty rounds of warm memory next to the live blocks, each given back
     * by the scavenger before the next. */
    for (int round = 0; round < 20; round++) {
        uint64_t released = info_of(pool).released;
        ck_assert_int_eq(mempool_alloc(cl, pool, 4 * MiB, 0, &churn), 0);
        memset(churn.addr, 0xb2, churn.size);
        ck_assert_int_eq(mempool_release(cl, &churn), 0);
        ck_assert_int_eq(mempool_trim(cl), 0); /* not kept in the client's cache */
        mempool_info info = wait_warm_at_most(pool, 0);
        ck_assert_uint_eq(info.warm, 0);
        ck_assert_uint_eq(info.released, released + 4 * MiB);
    }
    for (int i = 0; i < 2; i++)
        ck_assert(all_bytes_are(&live[i], (unsigned char)(0xa1 + i)));
    ck_assert_uint_ge(pool_memfd_bytes(pool), 16 * MiB);
    ck_assert_uint_le(pool_memfd_bytes(pool), 16 * MiB);
    /* Released memory taken again, even dirty, reads as zeros. */
    ck_assert_int_eq(mempool_alloc(cl, pool, 4 * MiB, MEMPOOL_ALLOC_DIRTY, &churn), 0);
    ck_assert(all_bytes_are(&churn, 0));
    ck_assert_int_eq(mempool_release(cl, &churn), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(mempool_release(cl, &live[i]), 0);
}

START_TEST(blocks_in_use_are_never_scavenged_block_isolation)
{
    check_blocks_in_use_survive("eager");
}
END_TEST

START_TEST(blocks_in_use_are_never_scavenged_pool_isolation)
{
    check_blocks_in_use_survive("eagershr");
}
END_TEST

START_TEST(warm_memory_taken_again_reads_as_zeros)
{
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(cl, "young", 16 * MiB, 0, &b), 0);
    memset(b.addr, 0xee, b.size);
    ck_assert_int_eq(mempool_release(cl, &b), 0);
    ck_assert_uint_eq(info_of("young").warm, 16 * MiB);
    ck_assert_int_eq(mempool_alloc(cl, "young", 16 * MiB, 0, &b), 0);
    ck_assert(all_bytes_are(&b, 0));
    ck_assert_int_eq(mempool_release(cl, &b), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scavenger");
    TCase *tc = tcase_create("scavenger");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, idle_memory_goes_back_block_isolation);
    tcase_add_test(tc, idle_memory_goes_back_pool_isolation);
    tcase_add_test(tc, retain_keeps_memory_warm_for_reuse_without_faults);
    tcase_add_test(tc, a_pool_full_of_warm_memory_serves_a_new_block);
    tcase_add_test(tc, blocks_in_use_are_never_scavenged_block_isolation);
    tcase_add_test(tc, blocks_in_use_are_never_scavenged_pool_isolation);
    tcase_add_test(tc, warm_memory_taken_again_reads_as_zeros);
    suite_add_tcase(s, tc);
    return check_run(s);
}
