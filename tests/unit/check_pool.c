/* daemon/pool.c and pool_client.c: blocks, holders, handles, quotas,
 * access, zeroing and warm memory, checked against what the kernel
 * reports (memfd st_blocks, smaps residency) as well as our counters. */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "mem.h"
#include "page_cache.h"
#include "policy.h"
#include "pool.h"

#define MiB (1024ULL * 1024)

static const char policy_text[] =
    "scavenger: { retain: 4MiB }\n"
    "pools:\n"
    "  - name: blk\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    quota: 32MiB\n"
    "    max_block: 16MiB\n"
    "  - name: shr\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    isolation: pool\n"
    "  - name: uidp\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    isolation: uid\n"
    "  - name: rootonly\n"
    "    reserve: 64MiB\n"
    "    limit: 16MiB\n"
    "    access: { users: [0], read_only_users: [4242] }\n";

static policy *pol;
static pool_set *set;

static void setup(void)
{
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("check_pool", policy_text, strlen(policy_text), &pol, &err) == 0,
                  "%s", err.text);
    char msg[256];
    ck_assert_int_eq(pool_set_new(pol, &set, msg, sizeof msg), 0);
}

static void teardown(void)
{
    pool_set_free(set);
    policy_free(pol);
}

static pool_client *client(uint32_t uid)
{
    uint32_t gid = uid;
    pool_client *c = pool_client_new(set, uid, &gid, 1, 1000);
    ck_assert_ptr_nonnull(c);
    return c;
}

static pool_stats stats_of(const char *name)
{
    pool_stats st;
    pool_get_stats(pool_set_find(set, name), &st);
    return st;
}

static int64_t fd_resident(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/* Every 512th byte and the last read as zero (a new owner's view). */
static bool reads_as_zeros(const void *addr, uint64_t size)
{
    const unsigned char *p = addr;
    for (uint64_t off = 0; off < size; off += 512)
        if (p[off] != 0)
            return false;
    return p[size - 1] == 0;
}

/* What a client would map: the grant's backing at its offset. */
static unsigned char *map_grant(const pool_grant *g)
{
    void *p = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_SHARED, g->backing_fd, (off_t)g->offset);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

START_TEST(alloc_maps_a_backing_the_kernel_fills)
{
    pool_client *c = client(1000);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(c, "blk", 8 * MiB, 0, 1, &g), 0);
    ck_assert_uint_eq(g.size, 8 * MiB);
    ck_assert_int_eq(fd_resident(g.backing_fd), 0);
    unsigned char *p = map_grant(&g);
    memset(p, 0xab, g.size);
    ck_assert_int_ge(fd_resident(g.backing_fd), (int64_t)(8 * MiB));
    /* The daemon's mapping sees the client's bytes: the same pages. */
    ck_assert_uint_eq(((unsigned char *)g.addr)[12345], 0xab);
    ck_assert_uint_eq(stats_of("blk").in_use, 8 * MiB);
    munmap(p, g.size);
    pool_client_free(c, 2);
    ck_assert_uint_eq(stats_of("blk").in_use, 0);
    ck_assert_uint_eq(stats_of("blk").warm, 8 * MiB);
}
END_TEST

START_TEST(sizes_round_up_to_whole_pages)
{
    pool_client *c = client(1000);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(c, "blk", 1, 0, 1, &g), 0);
    ck_assert_uint_eq(g.size, mem_page_size());
    pool_client_free(c, 2);
}
END_TEST

START_TEST(limits_quota_and_max_block_refuse_cleanly)
{
    pool_client *a = client(1000), *b = client(1001), *c = client(1002);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, "blk", 17 * MiB, 0, 1, &g), MEMPOOL_E2BIG);
    ck_assert_int_eq(pool_alloc(a, "blk", 16 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(a, "blk", 16 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(a, "blk", 1, 0, 1, &g), MEMPOOL_EDQUOT);
    ck_assert_int_eq(pool_alloc(b, "blk", 16 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(b, "blk", 16 * MiB, 0, 1, &g), 0);
    /* 64 MiB in use: the pool limit, with nothing warm to give back. */
    mem_counters before, after;
    mem_total_counters(&before);
    ck_assert_int_eq(pool_alloc(c, "blk", 4 * MiB, 0, 1, &g), MEMPOOL_ENOMEM);
    mem_total_counters(&after);
    ck_assert_mem_eq(&before, &after, sizeof before);
    ck_assert_uint_eq(stats_of("blk").in_use, 64 * MiB);
    ck_assert_uint_eq(stats_of("blk").blocks, 4);
    ck_assert_int_eq(pool_alloc(b, "nope", 1, 0, 1, &g), MEMPOOL_ENOPOOL);
    ck_assert_int_eq(pool_alloc(b, "blk", 0, 0, 1, &g), MEMPOOL_EINVAL);
    pool_client_free(a, 2);
    pool_client_free(b, 2);
    pool_client_free(c, 2);
}
END_TEST

START_TEST(limit_path_gives_back_warm_memory_first)
{
    pool_client *a = client(1000);
    pool_grant g[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pool_alloc(a, "shr", 16 * MiB, 0, 1, &g[i]), 0);
    for (int i = 0; i < 4; i++)
        memset(g[i].addr, 1, g[i].size);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pool_release(a, g[i].block_id, 5), 0);
    ck_assert_uint_eq(stats_of("shr").warm, 64 * MiB);
    /* The pool is full of warm memory; a new, larger block still fits. */
    pool_grant big;
    ck_assert_int_eq(pool_alloc(a, "shr", 32 * MiB, 0, 6, &big), 0);
    ck_assert_uint_le(stats_of("shr").in_use + stats_of("shr").warm, 64 * MiB);
    pool_client_free(a, 7);
}
END_TEST

START_TEST(block_freed_only_when_its_last_holder_lets_go)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant g, g2;
    mempool_handle h;
    ck_assert_int_eq(pool_alloc(a, "blk", MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_share(a, g.block_id, MEMPOOL_READ | MEMPOOL_WRITE, &h), 0);
    ck_assert_int_eq(pool_attach(b, &h, &g2), 0);
    ck_assert_uint_eq(g2.block_id, g.block_id);
    ck_assert_uint_eq(stats_of("blk").holders, 2);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), 0);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), MEMPOOL_ENOBLOCK);
    ck_assert_uint_eq(stats_of("blk").in_use, MiB);
    ck_assert_int_eq(pool_release(b, g.block_id, 3), 0);
    ck_assert_uint_eq(stats_of("blk").in_use, 0);
    ck_assert_uint_eq(stats_of("blk").blocks, 0);
    /* A handle dies with its block. */
    ck_assert_int_eq(pool_attach(b, &h, &g2), MEMPOOL_EBADHANDLE);
    pool_client_free(a, 4);
    pool_client_free(b, 4);
}
END_TEST

START_TEST(a_departed_client_is_let_go_of_a_slice_at_a_time)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant g, g2;
    mempool_handle h;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(pool_alloc(a, "shr", 4096, 0, 1, &g), 0);
    /* One block also attached by b, and the same block twice by a. */
    ck_assert_int_eq(pool_share(a, g.block_id, MEMPOOL_READ | MEMPOOL_WRITE, &h), 0);
    ck_assert_int_eq(pool_attach(b, &h, &g2), 0);
    ck_assert_int_eq(pool_attach(a, &h, &g2), 0);
    pool_client_depart(a);
    pool_departing dep;
    pool_set_departing(set, &dep);
    ck_assert_uint_eq(dep.clients, 1);
    ck_assert_uint_eq(dep.blocks, 11);
    ck_assert_uint_eq(dep.bytes, 11 * 4096);
    /* Still counted until let go of. */
    ck_assert_uint_eq(stats_of("shr").in_use, 10 * 4096);
    ck_assert(pool_set_reap(set, 4, 2));
    pool_set_departing(set, &dep);
    ck_assert_uint_eq(dep.blocks, 7);
    ck_assert(pool_set_reap(set, 4, 2));
    ck_assert(!pool_set_reap(set, 4, 2));
    pool_set_departing(set, &dep);
    ck_assert_uint_eq(dep.clients, 0);
    ck_assert_uint_eq(dep.bytes, 0);
    /* b's hold keeps the shared block alive; nothing else is left. */
    ck_assert_uint_eq(stats_of("shr").in_use, 4096);
    ck_assert_uint_eq(stats_of("shr").holders, 1);
    ck_assert_int_eq(pool_release(b, g.block_id, 3), 0);
    ck_assert_uint_eq(stats_of("shr").in_use, 0);
    /* A departed client the set still has at its end goes with it. */
    ck_assert_int_eq(pool_alloc(b, "shr", 4096, 0, 1, &g), 0);
    pool_client_depart(b);
}
END_TEST

START_TEST(read_only_handles_cannot_be_widened)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant g, g2;
    mempool_handle ro, again;
    ck_assert_int_eq(pool_alloc(a, "blk", MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_share(a, g.block_id, MEMPOOL_WRITE, &ro), MEMPOOL_EINVAL);
    ck_assert_int_eq(pool_share(a, g.block_id, MEMPOOL_READ, &ro), 0);
    ck_assert_int_eq(pool_attach(b, &ro, &g2), 0);
    ck_assert_uint_eq(g2.prot, MEMPOOL_READ);
    ck_assert_int_eq(pool_share(b, g.block_id, MEMPOOL_READ | MEMPOOL_WRITE, &again), MEMPOOL_EPERM);
    ck_assert_int_eq(pool_share(b, g.block_id, MEMPOOL_READ, &again), 0);
    ck_assert_int_eq(pool_share(b, 999999, MEMPOOL_READ, &again), MEMPOOL_ENOBLOCK);
    pool_client_free(a, 2);
    pool_client_free(b, 2);
}
END_TEST

START_TEST(access_lists_are_enforced)
{
    pool_client *root = client(0), *user = client(1000), *reader = client(4242);
    pool_grant g, g2;
    mempool_handle h;
    ck_assert_int_eq(pool_alloc(user, "rootonly", MiB, 0, 1, &g), MEMPOOL_EACCES);
    ck_assert_int_eq(pool_alloc(reader, "rootonly", MiB, 0, 1, &g), MEMPOOL_EACCES);
    ck_assert_int_eq(pool_alloc(root, "rootonly", MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_share(root, g.block_id, MEMPOOL_READ | MEMPOOL_WRITE, &h), 0);
    ck_assert_int_eq(pool_attach(user, &h, &g2), MEMPOOL_EACCES);
    /* A read-only user gets a read-only mapping even from a writable handle. */
    ck_assert_int_eq(pool_attach(reader, &h, &g2), 0);
    ck_assert_uint_eq(g2.prot, MEMPOOL_READ);
    mempool_info info;
    ck_assert_int_eq(pool_client_info(user, "rootonly", &info), MEMPOOL_EACCES);
    pool_client_free(root, 2);
    pool_client_free(user, 2);
    pool_client_free(reader, 2);
}
END_TEST

/* Another uid never sees the previous owner's bytes; the same uid asking
 * for dirty memory gets the warm block as it was. */
static void check_reuse(const char *pool_name)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, pool_name, 2 * MiB, 0, 1, &g), 0);
    memset(g.addr, 0x5a, g.size);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), 0);
    ck_assert_int_eq(pool_alloc(a, pool_name, 2 * MiB, MEMPOOL_ALLOC_DIRTY, 3, &g), 0);
    ck_assert_uint_eq(((unsigned char *)g.addr)[4097], 0x5a);
    ck_assert_int_eq(pool_release(a, g.block_id, 4), 0);
    ck_assert_int_eq(pool_alloc(b, pool_name, 2 * MiB, MEMPOOL_ALLOC_DIRTY, 5, &g), 0);
    ck_assert(reads_as_zeros(g.addr, g.size));
    pool_client_free(a, 6);
    pool_client_free(b, 6);
}

START_TEST(reuse_is_zeroed_across_uids_block_isolation) { check_reuse("blk"); }
END_TEST

/* While one uid alone has had the backing, its library zeroes its warm
 * blocks (client_zeroes); once another uid has been granted a block, the
 * daemon clears them, for both. */
START_TEST(pool_isolation_leaves_zeroing_to_a_lone_uid_and_clears_once_shared)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, "shr", 2 * MiB, 0, 1, &g), 0);
    ck_assert(!g.client_zeroes); /* nothing warm: fresh pages are zeros */
    memset(g.addr, 0x77, g.size);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), 0);
    ck_assert_int_eq(pool_alloc(a, "shr", 2 * MiB, 0, 3, &g), 0);
    ck_assert(g.client_zeroes);
    ck_assert_uint_eq(((unsigned char *)g.addr)[4097], 0x77); /* left to the client */
    ck_assert_int_eq(pool_release(a, g.block_id, 4), 0);
    ck_assert_int_eq(pool_alloc(b, "shr", 2 * MiB, 0, 5, &g), 0);
    ck_assert(!g.client_zeroes);
    ck_assert(reads_as_zeros(g.addr, g.size));
    memset(g.addr, 0x66, g.size);
    ck_assert_int_eq(pool_release(b, g.block_id, 6), 0);
    ck_assert_int_eq(pool_alloc(a, "shr", 2 * MiB, 0, 7, &g), 0);
    ck_assert(!g.client_zeroes);
    ck_assert(reads_as_zeros(g.addr, g.size));
    pool_client_free(a, 8);
    pool_client_free(b, 8);
}
END_TEST

/* A block only partly warm is punched by the daemon as before: the
 * client's memset would fault in and keep every page that is a hole. */
START_TEST(a_partly_warm_block_is_not_left_to_the_client)
{
    pool_client *a = client(1000);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, "shr", 4096, 0, 1, &g), 0);
    memset(g.addr, 0x77, g.size);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), 0);
    ck_assert_int_eq(pool_alloc(a, "shr", 2 * MiB, 0, 3, &g), 0);
    ck_assert(!g.client_zeroes);
    ck_assert(reads_as_zeros(g.addr, g.size));
    pool_client_free(a, 4);
}
END_TEST

START_TEST(warm_blocks_go_back_to_the_os_highest_first)
{
    pool_client *a = client(1000);
    pool_grant g[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, 0, 1, &g[i]), 0);
        memset(g[i].addr, 1, g[i].size);
    }
    ck_assert_int_ge(mem_os_range_resident(g[0].addr, 4 * MiB), (int64_t)(4 * MiB));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pool_release(a, g[i].block_id, 10 + (uint64_t)i), 0);
    /* Only blocks free since before time 12 are idle enough. */
    pool *p = pool_set_find(set, "blk");
    ck_assert_uint_eq(pool_release_warm(p, UINT64_MAX, 11), 8 * MiB);
    ck_assert_uint_eq(stats_of("blk").warm, 4 * MiB);
    ck_assert_uint_eq(stats_of("blk").released, 8 * MiB);
    ck_assert_int_eq(mem_os_range_resident(g[0].addr, 4 * MiB), 0);
    ck_assert_int_eq(mem_os_range_resident(g[1].addr, 4 * MiB), 0);
    /* A budget of one byte still releases a whole block, the highest one. */
    ck_assert_uint_eq(pool_release_warm(p, 1, UINT64_MAX), 4 * MiB);
    ck_assert_int_eq(mem_os_range_resident(g[2].addr, 4 * MiB), 0);
    pool_client_free(a, 20);
}
END_TEST

START_TEST(pool_isolation_punches_the_shared_backing)
{
    pool_client *a = client(1000);
    pool_grant g[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pool_alloc(a, "shr", 8 * MiB, 0, 1, &g[i]), 0);
        memset(g[i].addr, 1, g[i].size);
    }
    ck_assert(g[0].shared_backing);
    ck_assert_int_eq(g[0].backing_fd, g[2].backing_fd);
    ck_assert_uint_eq(g[1].offset, g[0].offset + 8 * MiB);
    int fd = g[0].backing_fd;
    ck_assert_int_ge(fd_resident(fd), (int64_t)(24 * MiB));
    ck_assert_int_eq(pool_release(a, g[1].block_id, 5), 0);
    ck_assert_int_eq(pool_release(a, g[2].block_id, 5), 0);
    pool *p = pool_set_find(set, "shr");
    ck_assert_uint_eq(pool_release_warm(p, 4 * MiB, 5), 4 * MiB);
    ck_assert_int_le(fd_resident(fd), (int64_t)(20 * MiB));
    ck_assert_uint_eq(pool_release_warm(p, UINT64_MAX, 5), 12 * MiB);
    ck_assert_int_le(fd_resident(fd), (int64_t)(8 * MiB + 64 * 1024));
    ck_assert_uint_eq(stats_of("shr").warm, 0);
    /* The block still in use kept its data. */
    ck_assert_uint_eq(((unsigned char *)g[0].addr)[g[0].size - 1], 1);
    /* Scavenged pages come back as zeros. */
    pool_grant again;
    ck_assert_int_eq(pool_alloc(a, "shr", 16 * MiB, MEMPOOL_ALLOC_DIRTY, 6, &again), 0);
    ck_assert_uint_eq(again.offset, g[1].offset);
    ck_assert_uint_eq(((unsigned char *)again.addr)[100], 0);
    pool_client_free(a, 7);
}
END_TEST

/* ---- warm tracking ------------------------------------------------------- */

START_TEST(warm_oldest_is_the_oldest_free_memory)
{
    pool_client *a = client(1000);
    pool *p = pool_set_find(set, "blk");
    pool_grant g[3];
    ck_assert_uint_eq(pool_warm_oldest(p), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pool_alloc(a, "blk", MiB, 0, 1, &g[i]), 0);
    ck_assert_int_eq(pool_release(a, g[0].block_id, 30), 0);
    ck_assert_int_eq(pool_release(a, g[1].block_id, 10), 0);
    ck_assert_int_eq(pool_release(a, g[2].block_id, 20), 0);
    ck_assert_uint_eq(pool_warm_bytes(p), 3 * MiB);
    ck_assert_uint_eq(pool_warm_oldest(p), 10);
    ck_assert_uint_eq(pool_release_warm(p, UINT64_MAX, 10), MiB);
    ck_assert_uint_eq(pool_warm_oldest(p), 20);
    /* Reuse takes memory out of the warm set too. */
    ck_assert_int_eq(pool_alloc(a, "blk", MiB, 0, 40, &g[0]), 0);
    ck_assert_uint_eq(pool_warm_oldest(p), 30);
    pool_client_free(a, 50);
}
END_TEST

START_TEST(part_release_takes_the_top_of_a_warm_block)
{
    pool_client *a = client(1000);
    pool *p = pool_set_find(set, "blk");
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, 0, 1, &g), 0);
    unsigned char *mine = map_grant(&g);
    memset(mine, 0x3c, g.size);
    ck_assert_int_eq(pool_release(a, g.block_id, 2), 0);
    ck_assert_uint_eq(pool_release_warm_part(p, MiB, UINT64_MAX), MiB);
    ck_assert_uint_eq(stats_of("blk").warm, 3 * MiB);
    ck_assert_uint_eq(stats_of("blk").released, MiB);
    ck_assert_int_eq(stats_of("blk").backing_resident, (int64_t)(3 * MiB));
    ck_assert_uint_eq(cached_bytes(g.addr, 3 * MiB), 3 * MiB);
    ck_assert_uint_eq(cached_bytes((char *)g.addr + 3 * MiB, MiB), 0);
    /* A mapping the client kept sees the hole as zeros, the rest as it was. */
    ck_assert_uint_eq(mine[3 * MiB], 0);
    ck_assert_uint_eq(mine[3 * MiB - 1], 0x3c);
    munmap(mine, g.size);
    /* The same uid takes it back dirty: the warm part is as it was, the
     * released part reads as zeros, and nothing is warm any more. */
    pool_grant again;
    ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, MEMPOOL_ALLOC_DIRTY, 3, &again), 0);
    ck_assert_ptr_eq(again.addr, g.addr);
    ck_assert_uint_eq(((unsigned char *)again.addr)[0], 0x3c);
    ck_assert_uint_eq(((unsigned char *)again.addr)[4 * MiB - 1], 0);
    ck_assert_uint_eq(stats_of("blk").warm, 0);
    ck_assert_uint_eq(stats_of("blk").in_use, 4 * MiB);
    mem_counters c;
    mem_total_counters(&c);
    ck_assert_uint_eq(c.bytes[MEM_READY], 4 * MiB);
    ck_assert_uint_eq(c.bytes[MEM_PREPARED], 0);
    /* Taken back without DIRTY, it is all zeros. */
    ck_assert_int_eq(pool_release(a, again.block_id, 4), 0);
    ck_assert_uint_eq(pool_release_warm_part(p, 2 * MiB, UINT64_MAX), 2 * MiB);
    ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, 0, 5, &again), 0);
    ck_assert(reads_as_zeros(again.addr, again.size));
    pool_client_free(a, 6);
}
END_TEST

START_TEST(a_block_released_in_part_is_finished_first)
{
    pool_client *a = client(1000);
    pool *p = pool_set_find(set, "blk");
    pool_grant g[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, 0, 1, &g[i]), 0);
        memset(g[i].addr, 1, g[i].size);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pool_release(a, g[i].block_id, 10 * (uint64_t)(i + 1)), 0);
    /* Only the lowest block is idle enough: its top goes. */
    ck_assert_uint_eq(pool_release_warm_part(p, MiB, 10), MiB);
    ck_assert_uint_eq(cached_bytes(g[0].addr, 4 * MiB), 3 * MiB);
    /* Later everything is idle: the lowest block is finished before the
     * highest one is started. */
    ck_assert_uint_eq(pool_release_warm_part(p, 4 * MiB, UINT64_MAX), 4 * MiB);
    ck_assert_int_eq(mem_os_range_resident(g[0].addr, 4 * MiB), 0);
    ck_assert_uint_eq(cached_bytes(g[1].addr, 4 * MiB), 4 * MiB);
    ck_assert_uint_eq(cached_bytes(g[2].addr, 4 * MiB), 3 * MiB);
    ck_assert_uint_eq(stats_of("blk").warm, 7 * MiB);
    pool_client_free(a, 40);
}
END_TEST

START_TEST(reused_warm_pages_count_once_against_the_limit)
{
    pool_client *a = client(1000);
    pool_grant g[4], big;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pool_alloc(a, "shr", 16 * MiB, 0, 1, &g[i]), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pool_release(a, g[i].block_id, 2), 0);
    /* The new block lands on warm pages: nothing needs to go back. */
    ck_assert_int_eq(pool_alloc(a, "shr", 32 * MiB, 0, 3, &big), 0);
    ck_assert_uint_eq(big.offset, g[0].offset);
    pool_stats st = stats_of("shr");
    ck_assert_uint_eq(st.sync_scavenged, 0);
    ck_assert_uint_eq(st.released, 0);
    ck_assert_uint_eq(st.in_use + st.warm, 64 * MiB);
    /* Now the pool is full: a block above the warm pages makes room. */
    pool_grant above;
    ck_assert_int_eq(pool_alloc(a, "shr", 32 * MiB, 0, 4, &above), 0);
    ck_assert_uint_eq(above.offset, g[2].offset);
    ck_assert_uint_eq(stats_of("shr").sync_scavenged, 0);
    ck_assert_uint_eq(stats_of("shr").warm, 0);
    pool_client_free(a, 5);
}
END_TEST

/* Random allocations, releases and scavenging in both isolations: the
 * memory layer's Ready bytes always equal what the pools hold in use plus
 * warm, and the Prepared bytes the pools' mapped but released memory. */
static uint64_t rnd(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool ready_matches_the_pools(void)
{
    mem_counters c;
    uint64_t held = 0;
    for (size_t i = 0; i < pool_set_count(set); i++) {
        pool_stats st;
        pool_get_stats(pool_set_at(set, i), &st);
        held += st.in_use + st.warm;
        if (st.warm != pool_warm_bytes(pool_set_at(set, i)))
            return false;
    }
    mem_total_counters(&c);
    return c.bytes[MEM_READY] == held;
}

START_TEST(random_warm_traffic_keeps_the_memory_states_exact)
{
    pool_client *a = client(1000);
    uint64_t seed = 0xfeed, ids[64], now = 10;
    int nlive = 0, wrong = 0;
    const char *names[2] = { "blk", "shr" };
    for (int step = 0; step < 2000; step++, now++) {
        uint64_t r = rnd(&seed) % 10;
        pool *p = pool_set_find(set, names[rnd(&seed) % 2]);
        pool_grant g;
        if (r < 4 && nlive < 64) {
            uint64_t size = (1 + rnd(&seed) % 64) * 64 * 1024;
            if (pool_alloc(a, pool_name(p), size, rnd(&seed) % 2, now, &g) == 0)
                ids[nlive++] = g.block_id;
        } else if (r < 8 && nlive > 0) {
            int i = (int)(rnd(&seed) % (uint64_t)nlive);
            wrong += pool_release(a, ids[i], now) != 0;
            ids[i] = ids[--nlive];
        } else if (r == 8) {
            pool_release_warm_part(p, rnd(&seed) % (8 * MiB), now - rnd(&seed) % 64);
        } else {
            pool_release_warm(p, rnd(&seed) % (8 * MiB), now - rnd(&seed) % 64);
        }
        wrong += !ready_matches_the_pools();
    }
    ck_assert_int_eq(wrong, 0);
    pool_client_free(a, now);
    ck_assert(ready_matches_the_pools());
}
END_TEST

/* The running figures (stats, metrics, pool info) against a full walk of
 * every block, after each step of random traffic from two uids: allocate
 * (written or not), release, share and attach, scavenge in part and whole,
 * a client going away. Warm blocks' resident bytes are also checked
 * against the kernel (pool_check_counters). */
static bool counters_agree(char *why, size_t len)
{
    for (size_t i = 0; i < pool_set_count(set); i++)
        if (!pool_check_counters(pool_set_at(set, i), why, len))
            return false;
    return true;
}

typedef struct held {
    pool_client *by;
    pool_grant g;
} held;

static void random_step(pool_client *const *clients, held *h, int *nheld, uint64_t *seed,
                        uint64_t now)
{
    static const char *const names[2] = { "blk", "shr" };
    uint64_t r = rnd(seed) % 12;
    pool *p = pool_set_find(set, names[rnd(seed) % 2]);
    pool_client *c = clients[rnd(seed) % 2];
    if (r < 4 && *nheld < 64) {
        uint64_t size = (1 + rnd(seed) % 32) * 64 * 1024;
        if (pool_alloc(c, pool_name(p), size, rnd(seed) % 2, now, &h[*nheld].g) != 0)
            return;
        h[*nheld].by = c;
        if (rnd(seed) % 2)
            memset(h[*nheld].g.addr, 0x5a, h[*nheld].g.size / (1 + rnd(seed) % 4));
        (*nheld)++;
    } else if (r < 7 && *nheld > 0) {
        int i = (int)(rnd(seed) % (uint64_t)*nheld);
        ck_assert_int_eq(pool_release(h[i].by, h[i].g.block_id, now), 0);
        h[i] = h[--*nheld];
    } else if (r < 9 && *nheld > 0 && *nheld < 64) {
        int i = (int)(rnd(seed) % (uint64_t)*nheld);
        mempool_handle hd;
        ck_assert_int_eq(pool_share(h[i].by, h[i].g.block_id, MEMPOOL_READ, &hd), 0);
        if (pool_attach(c, &hd, &h[*nheld].g) == 0)
            h[(*nheld)++].by = c;
    } else if (r == 9) {
        pool_release_warm_part(p, rnd(seed) % (8 * MiB), now - rnd(seed) % 64);
    } else {
        pool_release_warm(p, rnd(seed) % (8 * MiB), now - rnd(seed) % 64);
    }
}

START_TEST(running_figures_match_a_full_walk)
{
    pool_client *clients[2] = { client(1000), client(1001) };
    held h[64];
    int nheld = 0;
    uint64_t seed = 0x5eed, now = 100;
    char why[256] = "";
    for (int step = 0; step < 1500; step++, now++) {
        random_step(clients, h, &nheld, &seed, now);
        ck_assert_msg(counters_agree(why, sizeof why), "step %d: %s", step, why);
    }
    /* One client goes away with what it holds. */
    int kept = 0;
    for (int i = 0; i < nheld; i++)
        if (h[i].by == clients[1])
            h[kept++] = h[i];
    pool_client_free(clients[0], now);
    ck_assert_msg(counters_agree(why, sizeof why), "after a client left: %s", why);
    pool_client_free(clients[1], now);
    ck_assert_msg(counters_agree(why, sizeof why), "after both left: %s", why);
    ck_assert_uint_eq(stats_of("blk").in_use, 0);
    ck_assert_uint_eq(stats_of("shr").in_use, 0);
    (void)kept;
}
END_TEST

/* A live block's resident bytes are measured again a few at a time on each
 * call that shows them: after enough calls the figure is the kernel's. */
START_TEST(live_blocks_are_measured_again_round_robin)
{
    enum { N = 300 };
    pool_client *c = client(1000);
    static pool_grant g[N];
    int64_t kernel = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pool_alloc(c, "blk", 64 * 1024, 0, 1, &g[i]), 0);
        memset(g[i].addr, 1, g[i].size);
        kernel += fd_resident(g[i].backing_fd);
    }
    ck_assert_int_eq(kernel, (int64_t)N * 64 * 1024);
    ck_assert_int_le(stats_of("blk").backing_resident, kernel);
    pool_stats st;
    for (int call = 0; call < N / 128 + 1; call++)
        st = stats_of("blk");
    ck_assert_int_eq(st.backing_resident, kernel);
    char why[256] = "";
    ck_assert_msg(counters_agree(why, sizeof why), "%s", why);
    pool_client_free(c, 2);
    /* Warm now, measured as they turned warm. */
    ck_assert_int_eq(stats_of("blk").backing_resident, kernel);
    ck_assert_msg(counters_agree(why, sizeof why), "%s", why);
}
END_TEST

START_TEST(max_blocks_per_client)
{
    uint32_t gid = 1000;
    pool_client *c = pool_client_new(set, 1000, &gid, 1, 2);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(c, "blk", 1, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(c, "blk", 1, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(c, "blk", 1, 0, 1, &g), MEMPOOL_ELIMIT);
    pool_client_free(c, 2);
}
END_TEST

START_TEST(client_info_reports_its_share)
{
    pool_client *c = client(1000);
    pool_grant g;
    mempool_info info;
    ck_assert_int_eq(pool_alloc(c, "blk", 3 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_client_info(c, "blk", &info), 0);
    ck_assert_uint_eq(info.page_size, mem_page_size());
    ck_assert_uint_eq(info.limit, 64 * MiB);
    ck_assert_uint_eq(info.quota, 32 * MiB);
    ck_assert_uint_eq(info.in_use, 3 * MiB);
    ck_assert_uint_eq(info.client_use, 3 * MiB);
    ck_assert_int_eq(pool_client_info(c, "nope", &info), MEMPOOL_ENOPOOL);
    pool_client_free(c, 2);
}
END_TEST

/* A large warm block that would have to be cleared is not reused (the
 * clearing would hold every other client's requests): a fresh backing is
 * made, and the warm block stays for dirty reuse or the scavenger. */
START_TEST(large_blocks_are_not_cleared_inline)
{
    pool_client *c = client(1000);
    pool_grant g, again;
    ck_assert_int_eq(pool_alloc(c, "blk", 16 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_release(c, g.block_id, 2), 0);
    ck_assert_uint_eq(stats_of("blk").warm, 16 * MiB);
    ck_assert_int_eq(pool_alloc(c, "blk", 16 * MiB, 0, 3, &again), 0);
    ck_assert_ptr_ne(again.addr, g.addr);
    ck_assert_uint_eq(stats_of("blk").warm, 16 * MiB);
    ck_assert_int_eq(pool_alloc(c, "blk", 16 * MiB, MEMPOOL_ALLOC_DIRTY, 4, &again), 0);
    ck_assert_ptr_eq(again.addr, g.addr);
    ck_assert_uint_eq(stats_of("blk").warm, 0);
    pool_client_free(c, 5);
}
END_TEST

/* The daemon-wide budget of block backings: past it, warm blocks go back
 * first, then allocations are refused; the descriptors really close. */
static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

START_TEST(backing_budget_gives_back_warm_blocks_then_refuses)
{
    pool_client *c = client(1000);
    pool_grant g[4];
    pool_set_limit_backings(set, 3);
    int fds = open_fds();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pool_alloc(c, "blk", MiB, 0, 1, &g[i]), 0);
    ck_assert_int_eq(open_fds(), fds + 3);
    ck_assert_int_eq(pool_alloc(c, "blk", 2 * MiB, 0, 1, &g[3]), MEMPOOL_ELIMIT);
    ck_assert_int_eq(open_fds(), fds + 3);
    ck_assert_int_eq(pool_release(c, g[0].block_id, 2), 0);
    ck_assert_uint_eq(stats_of("blk").warm, MiB);
    /* A different size cannot reuse the warm block: it is given back. */
    ck_assert_int_eq(pool_alloc(c, "blk", 2 * MiB, 0, 3, &g[3]), 0);
    ck_assert_uint_eq(stats_of("blk").warm, 0);
    ck_assert_int_eq(open_fds(), fds + 3);
    pool_client_free(c, 4);
    pool_set_limit_backings(set, 0);
}
END_TEST

/* Each user uid holds at most its share of the backings, and the users
 * together leave the last sixteenth to root: no uid locks out another. */
static int fill_until_refused(pool_client *c, int max)
{
    pool_grant g;
    int n = 0;
    while (n < max && pool_alloc(c, "blk", 4096, 0, 1, &g) == 0)
        n++;
    return n;
}

START_TEST(backing_shares_keep_room_for_other_uids_and_root)
{
    pool_set_limit_backings(set, 32);
    /* A quarter of the users' 30 (32 less root's sixteenth): 7 each. */
    pool_set_uid_share(set, 250);
    /* Uids no one runs the tests as: the uid running them is the daemon's
     * here, an administrator, whom no share holds. */
    pool_client *users[4] = { client(70001), client(70002), client(70003), client(70004) };
    /* Four uids at a quarter each all get their whole share. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fill_until_refused(users[i], 100), 7);
    pool_client *root = client(0);
    ck_assert_int_eq(fill_until_refused(root, 100), 4);
    for (int i = 0; i < 4; i++)
        pool_client_free(users[i], 2);
    pool_client_free(root, 2);
    pool_set_limit_backings(set, 0);
}
END_TEST

START_TEST(quota_counts_the_uid_across_its_connections)
{
    pool_client *a = client(1000), *b = client(1000), *other = client(1001);
    pool_grant g;
    const pool *blk = pool_set_find(set, "blk");
    ck_assert_int_eq(pool_alloc(a, "blk", 16 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(a, "blk", 4 * MiB, 0, 1, &g), 0);
    ck_assert_int_eq(pool_alloc(b, "blk", 16 * MiB, 0, 1, &g), MEMPOOL_EDQUOT);
    ck_assert_int_eq(pool_alloc(b, "blk", 12 * MiB, 0, 1, &g), 0);
    ck_assert_uint_eq(pool_client_use(b, blk), 12 * MiB);
    ck_assert_uint_eq(pool_client_uid_use(b, blk), 32 * MiB);
    ck_assert_uint_eq(pool_uid_clients(set, 1000), 2);
    /* Another uid has a quota of its own. */
    ck_assert_int_eq(pool_alloc(other, "blk", 16 * MiB, 0, 1, &g), 0);
    pool_client_free(a, 2);
    ck_assert_uint_eq(pool_client_uid_use(b, blk), 12 * MiB);
    ck_assert_uint_eq(pool_uid_clients(set, 1000), 1);
    pool_client_free(b, 2);
    pool_client_free(other, 2);
    ck_assert_uint_eq(pool_uid_clients(set, 1000), 0);
}
END_TEST

START_TEST(sharing_again_returns_the_same_handle)
{
    pool_client *c = client(1000), *peer = client(1000);
    pool_grant g, ga;
    mempool_handle ro, ro2, rw;
    ck_assert_int_eq(pool_alloc(c, "blk", 4096, 0, 1, &g), 0);
    ck_assert_int_eq(pool_share(c, g.block_id, MEMPOOL_READ, &ro), 0);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(pool_share(c, g.block_id, MEMPOOL_READ, &ro2), 0);
        ck_assert_mem_eq(ro.bytes, ro2.bytes, sizeof ro.bytes);
    }
    ck_assert_int_eq(pool_share(c, g.block_id, MEMPOOL_READ | MEMPOOL_WRITE, &rw), 0);
    ck_assert_mem_ne(ro.bytes, rw.bytes, sizeof ro.bytes);
    /* Another holder asking for the same protection gets the same handle. */
    ck_assert_int_eq(pool_attach(peer, &rw, &ga), 0);
    ck_assert_int_eq(pool_share(peer, g.block_id, MEMPOOL_READ, &ro2), 0);
    ck_assert_mem_eq(ro.bytes, ro2.bytes, sizeof ro.bytes);
    /* Handles die with their block. */
    ck_assert_int_eq(pool_release(c, g.block_id, 2), 0);
    ck_assert_int_eq(pool_release(peer, g.block_id, 2), 0);
    ck_assert_int_eq(pool_attach(peer, &ro, &ga), MEMPOOL_EBADHANDLE);
    pool_client_free(c, 3);
    pool_client_free(peer, 3);
}
END_TEST

/* A pool-isolation client writes where no block of its lies, through the
 * descriptor it was given: a later owner still gets zeros, the sweep gives
 * the pages back (the memfd's st_blocks says so) without touching live
 * blocks or warm pages, and a departed client's pages go too. */
static void sweep_all(pool *p)
{
    bool more = true;
    for (int i = 0; i < 100000 && more; i++)
        pool_sweep_strays(p, 64, &more);
    ck_assert(!more);
}

START_TEST(pool_isolation_reclaims_what_clients_write_outside_blocks)
{
    pool_client *a = client(1000), *b = client(1001);
    pool *p = pool_set_find(set, "shr");
    pool_grant mine, later;
    ck_assert_int_eq(pool_alloc(a, "shr", 4 * MiB, 0, 1, &mine), 0);
    memset(mine.addr, 7, mine.size);
    /* 100 MiB written above everything handed out: memory the pool's
     * books know nothing of. */
    int fd = mine.backing_fd;
    unsigned char *all = mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(all, MAP_FAILED);
    memset(all + 6 * MiB, 0xbb, 100 * MiB);
    ck_assert_int_ge(fd_resident(fd), (int64_t)(104 * MiB));
    /* Someone else's allocation over part of it reads as zeros. */
    ck_assert_int_eq(pool_alloc(b, "shr", 8 * MiB, 0, 3, &later), 0);
    ck_assert_uint_eq(later.offset, 4 * MiB);
    ck_assert(reads_as_zeros(later.addr, later.size));
    memset(later.addr, 9, later.size);
    ck_assert_int_eq(pool_release(b, later.block_id, 4), 0); /* 8 MiB warm */
    /* The sweep gives the rest back; live and warm memory stay. */
    sweep_all(p);
    ck_assert_int_le(fd_resident(fd), (int64_t)(12 * MiB + 64 * 1024));
    ck_assert_uint_eq(((unsigned char *)mine.addr)[100], 7);
    ck_assert_uint_eq(all[4 * MiB + 100], 9);
    ck_assert_uint_eq(stats_of("shr").warm, 8 * MiB);
    /* A departed client's writes go at the next pass, even under the
     * pool's books (the pass starts because a client left). */
    ck_assert_int_eq(pool_release_warm(p, UINT64_MAX, 5), 8 * MiB);
    pool_grant untouched;
    ck_assert_int_eq(pool_alloc(b, "shr", 16 * MiB, MEMPOOL_ALLOC_DIRTY, 5, &untouched), 0);
    memset(all + 64 * MiB, 0xcc, 2 * MiB);
    pool_client_free(b, 5); /* 16 MiB warm, none of it resident */
    ck_assert_int_lt(fd_resident(fd), (int64_t)(stats_of("shr").in_use + stats_of("shr").warm));
    sweep_all(p);
    ck_assert_int_le(fd_resident(fd), (int64_t)(4 * MiB + 64 * 1024));
    munmap(all, 128 * MiB);
    pool_client_free(a, 6);
}
END_TEST

/* uid isolation: one backing per uid, blocks as offsets into it; the
 * descriptors grow with the uids, not the blocks; no uid is handed
 * another's backing, not even through a handle. */
START_TEST(uid_isolation_gives_each_uid_one_backing)
{
    pool_client *a = client(1000), *a2 = client(1000), *b = client(1001);
    pool_grant g[100], other, seen;
    int fds = open_fds();
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(pool_alloc(a, "uidp", 4096, 0, 1, &g[i]), 0);
        ck_assert(g[i].shared_backing);
        ck_assert_int_eq(g[i].backing_fd, g[0].backing_fd);
        ck_assert_uint_eq(g[i].backing_id, g[0].backing_id);
    }
    ck_assert_uint_eq(g[1].offset, g[0].offset + 4096);
    ck_assert_int_eq(open_fds(), fds + 1);
    ck_assert_int_eq(pool_alloc(b, "uidp", 4096, 0, 1, &other), 0);
    ck_assert_int_ne(other.backing_fd, g[0].backing_fd);
    ck_assert_uint_ne(other.backing_id, g[0].backing_id);
    ck_assert_int_eq(open_fds(), fds + 2);
    /* What one uid writes lies in its backing only. */
    memset(other.addr, 0x77, other.size);
    ck_assert_int_le(fd_resident(g[0].backing_fd), 0);
    ck_assert_int_ge(fd_resident(other.backing_fd), 4096);
    /* A handle reaches the same uid's other connections, never another uid. */
    mempool_handle h;
    ck_assert_int_eq(pool_share(a, g[0].block_id, MEMPOOL_READ, &h), 0);
    ck_assert_int_eq(pool_attach(b, &h, &seen), MEMPOOL_EACCES);
    ck_assert_int_eq(pool_attach(a2, &h, &seen), 0);
    ck_assert_int_eq(seen.backing_fd, g[0].backing_fd);
    ck_assert_uint_eq(stats_of("uidp").in_use, 101 * 4096);
    ck_assert_uint_eq(stats_of("uidp").blocks, 101);
    pool_client_free(a, 2);
    pool_client_free(a2, 2);
    pool_client_free(b, 2);
    ck_assert_uint_eq(stats_of("uidp").in_use, 0);
    ck_assert_uint_eq(stats_of("uidp").warm, 101 * 4096);
}
END_TEST

/* The pool's limit holds across the uids' parts: an allocation over it
 * gives back another uid's warm memory, punched in that uid's backing. */
START_TEST(uid_isolation_shares_the_limit_and_leaves_zeroing_to_the_uid)
{
    pool_client *a = client(1000), *b = client(1001);
    pool_grant ga, gb, again;
    ck_assert_int_eq(pool_alloc(a, "uidp", 40 * MiB, 0, 1, &ga), 0);
    memset(ga.addr, 0x11, ga.size);
    ck_assert_int_eq(pool_alloc(b, "uidp", 30 * MiB, 0, 1, &gb), MEMPOOL_ENOMEM);
    int a_fd = dup(ga.backing_fd);
    ck_assert_int_eq(pool_release(a, ga.block_id, 2), 0);
    ck_assert_uint_eq(stats_of("uidp").warm, 40 * MiB);
    ck_assert_int_eq(pool_alloc(b, "uidp", 30 * MiB, 0, 3, &gb), 0);
    ck_assert_uint_le(stats_of("uidp").in_use + stats_of("uidp").warm, 64 * MiB);
    ck_assert_int_le(fd_resident(a_fd), (int64_t)(34 * MiB));
    ck_assert(reads_as_zeros(gb.addr, gb.size));
    /* The same uid: zeros unless it asks for its own old bytes. */
    memset(gb.addr, 0x22, gb.size);
    ck_assert_int_eq(pool_release(b, gb.block_id, 4), 0);
    ck_assert_int_eq(pool_alloc(b, "uidp", 4 * MiB, MEMPOOL_ALLOC_DIRTY, 5, &again), 0);
    ck_assert_uint_eq(((unsigned char *)again.addr)[10], 0x22);
    ck_assert_int_eq(pool_release(b, again.block_id, 6), 0);
    /* Only uid 1001 ever had its part: its library zeroes the block. */
    ck_assert_int_eq(pool_alloc(b, "uidp", 4 * MiB, 0, 7, &again), 0);
    ck_assert(again.client_zeroes);
    /* The scavenger reaches every part. */
    pool *p = pool_set_find(set, "uidp");
    ck_assert_uint_ne(pool_warm_oldest(p), 0);
    pool_release_warm(p, UINT64_MAX, UINT64_MAX);
    ck_assert_uint_eq(stats_of("uidp").warm, 0);
    ck_assert_int_le(fd_resident(a_fd), 0);
    close(a_fd);
    pool_client_free(a, 8);
    pool_client_free(b, 8);
}
END_TEST

/* A uid's part is swept like a pool-isolation backing. */
START_TEST(uid_isolation_sweeps_each_uids_backing)
{
    pool_client *a = client(1000);
    pool_grant g;
    ck_assert_int_eq(pool_alloc(a, "uidp", 4096, 0, 1, &g), 0);
    unsigned char *all = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, g.backing_fd, 0);
    ck_assert_ptr_ne(all, MAP_FAILED);
    memset(all + MiB, 0x44, 32 * MiB);
    ck_assert_int_ge(fd_resident(g.backing_fd), (int64_t)(32 * MiB));
    sweep_all(pool_set_find(set, "uidp"));
    ck_assert_int_le(fd_resident(g.backing_fd), (int64_t)(64 * 1024));
    munmap(all, 64 * MiB);
    pool_client_free(a, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, alloc_maps_a_backing_the_kernel_fills);
    tcase_add_test(tc, sizes_round_up_to_whole_pages);
    tcase_add_test(tc, limits_quota_and_max_block_refuse_cleanly);
    tcase_add_test(tc, limit_path_gives_back_warm_memory_first);
    tcase_add_test(tc, block_freed_only_when_its_last_holder_lets_go);
    tcase_add_test(tc, a_departed_client_is_let_go_of_a_slice_at_a_time);
    tcase_add_test(tc, read_only_handles_cannot_be_widened);
    tcase_add_test(tc, access_lists_are_enforced);
    tcase_add_test(tc, reuse_is_zeroed_across_uids_block_isolation);
    tcase_add_test(tc, pool_isolation_leaves_zeroing_to_a_lone_uid_and_clears_once_shared);
    tcase_add_test(tc, a_partly_warm_block_is_not_left_to_the_client);
    tcase_add_test(tc, warm_blocks_go_back_to_the_os_highest_first);
    tcase_add_test(tc, pool_isolation_punches_the_shared_backing);
    tcase_add_test(tc, warm_oldest_is_the_oldest_free_memory);
    tcase_add_test(tc, part_release_takes_the_top_of_a_warm_block);
    tcase_add_test(tc, a_block_released_in_part_is_finished_first);
    tcase_add_test(tc, reused_warm_pages_count_once_against_the_limit);
    tcase_add_test(tc, random_warm_traffic_keeps_the_memory_states_exact);
    tcase_add_test(tc, running_figures_match_a_full_walk);
    tcase_add_test(tc, live_blocks_are_measured_again_round_robin);
    tcase_add_test(tc, max_blocks_per_client);
    tcase_add_test(tc, client_info_reports_its_share);
    tcase_add_test(tc, backing_budget_gives_back_warm_blocks_then_refuses);
    tcase_add_test(tc, large_blocks_are_not_cleared_inline);
    tcase_add_test(tc, backing_shares_keep_room_for_other_uids_and_root);
    tcase_add_test(tc, quota_counts_the_uid_across_its_connections);
    tcase_add_test(tc, sharing_again_returns_the_same_handle);
    tcase_add_test(tc, pool_isolation_reclaims_what_clients_write_outside_blocks);
    tcase_add_test(tc, uid_isolation_gives_each_uid_one_backing);
    tcase_add_test(tc, uid_isolation_shares_the_limit_and_leaves_zeroing_to_the_uid);
    tcase_add_test(tc, uid_isolation_sweeps_each_uids_backing);
    suite_add_tcase(s, tc);
    return check_run(s);
}
