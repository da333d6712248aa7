/* The fast path against the real daemon, from separate processes: one-way
 * releases, fork(), kept mappings, the client-side block cache and where
 * each meets isolation between uids. Behaviour only; speed is measured in
 * tests/bench/bench_alloc.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

/* The client cache is off but in `cached`, so that what the other tests
 * look at (kept mappings, one-way releases) is not hidden behind it. */
static const char pools[] =
    "library: { client_cache: 0B }\n"
    "pools:\n"
    "  - name: default\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    quota: 64MiB\n"
    "  - name: shared\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    isolation: pool\n"
    "  - name: peruid\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    isolation: uid\n"
    "  - name: churn\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    library: { kept_mappings: 2 }\n"
    "  - name: churncache\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    library: { kept_mappings: 2, client_cache: 256KiB }\n"
    "  - name: cached\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    quota: 8MiB\n"
    "    library: { client_cache: 2MiB, client_cache_age: 1h }\n"
    "  - name: aging\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    library: { client_cache: 1MiB, client_cache_age: 100ms }\n"
    "  - name: tight\n"
    "    reserve: 1GiB\n"
    "    limit: 4MiB\n"
    "    library: { client_cache: 1MiB, client_cache_age: 1h }\n"
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

/* ---- what the daemon says (its admin socket) -------------------------------- */

static json_t *ask(const char *command)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(fx.admin_socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, fx.admin_socket, strlen(fx.admin_socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, command, strlen(command)), (ssize_t)strlen(command));
    ck_assert_int_eq(write(fd, "\n", 1), 1);
    shutdown(fd, SHUT_WR);
    char buf[65536];
    size_t len = 0;
    for (ssize_t n; len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0;)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    json_error_t err;
    json_t *v = json_loads(buf, JSON_DISABLE_EOF_CHECK, &err);
    ck_assert_msg(v != NULL && json_is_true(json_object_get(v, "ok")), "%s: %.200s", command, buf);
    return v;
}

static uint64_t u64_at(json_t *v, const char *a, const char *b)
{
    json_t *x = json_object_get(v, a);
    if (b != NULL)
        x = json_object_get(x, b);
    ck_assert_msg(json_is_integer(x), "no %s.%s", a, b ? b : "");
    return (uint64_t)json_integer_value(x);
}

static uint64_t pool_cached(const char *pool)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "pool %s", pool);
    json_t *v = ask(cmd);
    uint64_t cached = u64_at(v, "pool", "cached");
    json_decref(v);
    return cached;
}

static uint64_t alloc_requests(void)
{
    json_t *v = ask("stats");
    uint64_t n = u64_at(v, "requests", "alloc");
    json_decref(v);
    return n;
}

/* What the kernel holds for every memfd the daemon has open (st_blocks). */
static uint64_t daemon_memfd_bytes(void)
{
    char dir[64], path[384], target[256];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fx.pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    uint64_t bytes = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        struct stat st;
        if (n > 0 && strncmp(target, "/memfd:", 7) == 0 && stat(path, &st) == 0)
            bytes += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return bytes;
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
static const char *churn_pool;

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
        if (mempool_alloc(c, churn_pool, CHURN_SIZE, flags, b) != 0)
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

/* The same with the client cache on: a hit is this connection's own block. */
static const char *const churn_pools[] = { "churn", "churncache" };

START_TEST(a_kept_mapping_never_sees_another_uids_data)
{
    churn_pool = churn_pools[_i];
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

/* ---- the client cache ---------------------------------------------------------- */

static void alloc_release(mempool_client *c, const char *pool, size_t size)
{
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, pool, size, 0, &b), 0);
    memset(b.addr, 0x3c, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
}

/* A released block waits in the cache, still held (the daemon shows it as
 * cached once the library has said so, before its next request); the
 * next allocation of the same size takes it without a message, zeroed
 * unless DIRTY. */
START_TEST(cache_hits_are_zeroed_unless_dirty_and_send_nothing)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB, 0, &b), 0);
    memset(b.addr, 0x11, b.size);
    void *addr = b.addr;
    uint64_t id = b.id;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 64 * KiB); /* still held */
    ck_assert_uint_eq(pool_cached("cached"), 64 * KiB);
    uint64_t allocs = alloc_requests();
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB, 0, &b), 0);
        ck_assert_ptr_eq(b.addr, addr);
        ck_assert_uint_eq(b.id, id);
        ck_assert(all_bytes(&b, 0));
        memset(b.addr, 0x22, b.size);
        ck_assert_int_eq(mempool_release(c, &b), 0);
        ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB - 100, MEMPOOL_ALLOC_DIRTY, &b), 0);
        ck_assert_ptr_eq(b.addr, addr);
        ck_assert(all_bytes(&b, 0x22));
        ck_assert_int_eq(mempool_release(c, &b), 0);
    }
    ck_assert_uint_eq(alloc_requests(), allocs); /* no ALLOC reached the daemon */
    /* Another size does not fit: the daemon serves it. */
    ck_assert_int_eq(mempool_alloc(c, "cached", 128 * KiB, 0, &b), 0);
    ck_assert_ptr_ne(b.addr, addr);
    ck_assert_uint_eq(alloc_requests(), allocs + 1);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    /* The daemon shows what is cached: the pool, the connection. */
    ck_assert_uint_eq(client_use(c, "cached"), 192 * KiB);
    ck_assert_uint_eq(pool_cached("cached"), 192 * KiB);
    json_t *v = ask("clients");
    json_t *list = json_object_get(v, "clients");
    uint64_t cached = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        cached += u64_at(json_array_get(list, i), "cached", NULL);
    ck_assert_uint_eq(cached, 192 * KiB);
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

/* Cached blocks count toward the quota (8 MiB here); an allocation the
 * quota refuses only because of them succeeds: the library gives its
 * cache back and asks again. */
START_TEST(cached_blocks_count_toward_quota_and_give_way)
{
    mempool_client *c = connect_or_die(&fx);
    alloc_release(c, "cached", MiB);
    mempool_block a, big;
    ck_assert_int_eq(mempool_alloc(c, "cached", 512 * KiB, 0, &a), 0);
    alloc_release(c, "cached", MiB); /* the hit, back again */
    ck_assert_int_eq(mempool_release(c, &a), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 1536 * KiB);
    ck_assert_uint_eq(pool_cached("cached"), 1536 * KiB);
    /* 7 MiB + 1.5 MiB cached is over the quota: given back, then granted. */
    ck_assert_int_eq(mempool_alloc(c, "cached", 7 * MiB, 0, &big), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 7 * MiB);
    ck_assert_uint_eq(pool_cached("cached"), 0);
    /* A refusal the cache cannot cure stays a refusal. */
    ck_assert_int_eq(mempool_alloc(c, "cached", 2 * MiB, 0, &a), MEMPOOL_EDQUOT);
    ck_assert_int_eq(mempool_release(c, &big), 0);
    mempool_disconnect(c);
}
END_TEST

static int attach_and_release(void *arg)
{
    mempool_client *c;
    mempool_block b;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_attach(c, arg, &b) != 0)
        return 10;
    if (mempool_release(c, &b) != 0 || client_use(c, "cached") != 0)
        return 11; /* an attached block is never cached */
    mempool_disconnect(c);
    return 0;
}

START_TEST(shared_and_attached_blocks_are_never_cached)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, &h), 0);
    ck_assert(exited_ok(run_child(attach_and_release, &h)));
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 0);
    ck_assert_uint_eq(pool_cached("cached"), 0);
    mempool_disconnect(c);
}
END_TEST

/* mempool_trim empties the cache at once; a block older than
 * client_cache_age goes back at the next call. */
START_TEST(trim_and_age_give_the_cache_back)
{
    mempool_client *c = connect_or_die(&fx);
    alloc_release(c, "cached", 64 * KiB);
    ck_assert_uint_eq(client_use(c, "cached"), 64 * KiB);
    ck_assert_int_eq(mempool_trim(c), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 0);
    ck_assert_int_eq(mempool_trim(NULL), MEMPOOL_EINVAL);

    alloc_release(c, "aging", 64 * KiB); /* client_cache_age: 100ms */
    ck_assert_uint_eq(pool_cached("aging"), 0); /* not told yet: no frame since */
    usleep(200 * 1000);
    ck_assert_uint_eq(client_use(c, "aging"), 0); /* this call gave it back first */
    mempool_disconnect(c);
}
END_TEST

/* A pool within an eighth of its limit: every reply to a connection that
 * caches in it carries the give-back flag, and the cache is emptied
 * before the call returns. */
START_TEST(the_give_back_flag_empties_the_cache)
{
    mempool_client *c = connect_or_die(&fx), *other = connect_or_die(&fx);
    alloc_release(c, "tight", 256 * KiB);
    ck_assert_uint_eq(client_use(c, "tight"), 256 * KiB);
    mempool_block big;
    ck_assert_int_eq(mempool_alloc(other, "tight", 3 * MiB + 512 * KiB, 0, &big), 0);
    /* 3.75 of 4 MiB in use: the next reply asks, this very call obeys. */
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "tight", &info), 0);
    ck_assert_uint_eq(client_use(c, "tight"), 0);
    ck_assert_uint_eq(pool_cached("tight"), 0);
    ck_assert_int_eq(mempool_release(other, &big), 0);
    mempool_disconnect(other);
    mempool_disconnect(c);
}
END_TEST

/* A client killed while it holds blocks, keeps some cached and keeps the
 * mappings of others: the daemon lets go of everything, and once the warm
 * memory is scavenged its descriptors and the memfds' pages are what they
 * were before the client came. */
static int hold_cache_and_keep(void *arg)
{
    int fd = *(int *)arg;
    mempool_client *c;
    mempool_block b[4];
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    for (int i = 0; i < 4; i++)
        if (mempool_alloc(c, "cached", 256 * KiB, 0, &b[i]) != 0)
            return 11;
    for (int i = 0; i < 4; i++)
        memset(b[i].addr, 9, b[i].size);
    for (int i = 0; i < 2; i++)
        if (mempool_release(c, &b[i]) != 0) /* into the cache */
            return 12;
    for (int i = 0; i < 3; i++)
        alloc_release(c, "default", 128 * KiB); /* kept mappings */
    if (mempool_pool_info(c, "cached", &(mempool_info){ 0 }) != 0) /* the cache reports go */
        return 13;
    char ready = 1;
    if (write(fd, &ready, 1) != 1)
        return 14;
    pause();
    return 0;
}

START_TEST(a_killed_client_leaves_nothing_behind)
{
    mempool_client *c = connect_or_die(&fx); /* a fresh daemon: nothing warm */
    int fds = settled_fd_count(&fx, c);
    uint64_t memfd_bytes = daemon_memfd_bytes();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(hold_cache_and_keep(&p[1]));
    char ready;
    ck_assert_int_eq(read(p[0], &ready, 1), 1);
    ck_assert_uint_eq(pool_cached("cached"), 512 * KiB);
    ck_assert_uint_eq(wait_in_use(c, "cached", MiB), MiB);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_uint_eq(wait_in_use(c, "cached", 0), 0);
    ck_assert_uint_eq(pool_cached("cached"), 0);
    json_decref(ask("scavenge"));
    ck_assert_int_eq(wait_fd_count(&fx, fds), fds);
    ck_assert_uint_eq(daemon_memfd_bytes(), memfd_bytes);
    close(p[0]);
    close(p[1]);
    mempool_disconnect(c);
}
END_TEST

/* fork() with a cached block: the child allocates on a connection of its
 * own and never gets the parent's cached block; the parent's cache and
 * connection are untouched. */
static int child_allocates_beside_the_cache(void *arg)
{
    mempool_client *c = arg;
    mempool_block mine;
    if (mempool_alloc(c, "cached", 64 * KiB, MEMPOOL_ALLOC_DIRTY, &mine) != 0)
        return 10;
    if (!all_bytes(&mine, 0)) /* a fresh block, not the parent's 0x3c */
        return 11;
    if (client_use(c, "cached") != 64 * KiB)
        return 12;
    mempool_disconnect(c);
    return 0;
}

START_TEST(after_fork_the_child_leaves_the_parents_cache_alone)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB, 0, &b), 0);
    memset(b.addr, 0x3c, b.size);
    void *addr = b.addr;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert(exited_ok(run_child(child_allocates_beside_the_cache, c)));
    ck_assert_uint_eq(client_use(c, "cached"), 64 * KiB);
    ck_assert_int_eq(mempool_alloc(c, "cached", 64 * KiB, MEMPOOL_ALLOC_DIRTY, &b), 0);
    ck_assert_ptr_eq(b.addr, addr); /* still in the parent's cache */
    ck_assert(all_bytes(&b, 0x3c));
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}
END_TEST

/* One client, four threads, the cache in use: every block each thread
 * gets is its own (it writes a pattern and finds it intact), zeroed when
 * it did not ask for DIRTY, and once trimmed nothing stays held. */
typedef struct cache_worker {
    mempool_client *c;
    unsigned char mark;
    int failures;
} cache_worker;

static void *cache_churn(void *arg)
{
    cache_worker *w = arg;
    for (int i = 0; i < 300; i++) {
        mempool_block b;
        size_t size = (size_t)(1 + i % 3) * 16 * KiB;
        unsigned flags = i % 2 ? MEMPOOL_ALLOC_DIRTY : 0;
        if (mempool_alloc(w->c, "cached", size, flags, &b) != 0) {
            w->failures++;
            continue;
        }
        w->failures += !flags && !all_bytes(&b, 0);
        memset(b.addr, w->mark, b.size);
        sched_yield();
        w->failures += !all_bytes(&b, w->mark);
        w->failures += mempool_release(w->c, &b) != 0;
    }
    return NULL;
}

START_TEST(one_client_many_threads_share_the_cache_safely)
{
    mempool_client *c = connect_or_die(&fx);
    cache_worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (cache_worker){ .c = c, .mark = (unsigned char)(0x40 + i) };
        ck_assert_int_eq(pthread_create(&t[i], NULL, cache_churn, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    ck_assert_uint_gt(client_use(c, "cached"), 0); /* some wait in the cache */
    ck_assert_int_eq(mempool_trim(c), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 0);
    ck_assert_uint_eq(pool_cached("cached"), 0);
    mempool_disconnect(c);
}
END_TEST

/* fork() while other threads are inside calls on the same client: one
 * holds the client's lock for its cache hits, one waits for replies (on
 * the condition variable, or reading). Each child must still get a
 * connection of its own: a lock copied while held, or a condition
 * variable copied with waiters the child does not have, would hang its
 * first call (the alarm then kills it, and the test fails). */
typedef struct fork_busy {
    mempool_client *c;
    volatile int stop;
    int failures;
} fork_busy;

static void *busy_with_the_cache(void *arg)
{
    fork_busy *fb = arg;
    while (!fb->stop) {
        mempool_block b;
        if (mempool_alloc(fb->c, "cached", 64 * KiB, 0, &b) != 0) {
            fb->failures++;
            continue;
        }
        fb->failures += mempool_release(fb->c, &b) != 0;
    }
    return NULL;
}

static void *busy_with_round_trips(void *arg)
{
    fork_busy *fb = arg;
    while (!fb->stop) {
        mempool_info info;
        fb->failures += mempool_pool_info(fb->c, "default", &info) != 0;
    }
    return NULL;
}

static int child_of_a_busy_client(mempool_client *c)
{
    /* A hang is a failure, not a stuck suite (Check's own SIGALRM
     * handler, inherited, would kill the whole test). */
    signal(SIGALRM, SIG_DFL);
    alarm(20);
    mempool_block mine;
    if (mempool_alloc(c, "cached", 64 * KiB, 0, &mine) != 0)
        return 10;
    if (client_use(c, "cached") != 64 * KiB) /* only its own block */
        return 11;
    if (mempool_release(c, &mine) != 0)
        return 12;
    mempool_disconnect(c);
    return 0;
}

START_TEST(a_fork_while_other_threads_are_in_calls_leaves_the_child_working)
{
    mempool_client *c = connect_or_die(&fx);
    fork_busy fb = { .c = c };
    pthread_t t[3];
    ck_assert_int_eq(pthread_create(&t[0], NULL, busy_with_the_cache, &fb), 0);
    ck_assert_int_eq(pthread_create(&t[1], NULL, busy_with_round_trips, &fb), 0);
    ck_assert_int_eq(pthread_create(&t[2], NULL, busy_with_round_trips, &fb), 0);
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_of_a_busy_client(c));
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        bad += !exited_ok(status);
    }
    fb.stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(fb.failures, 0);
    ck_assert_int_eq(mempool_trim(c), 0);
    ck_assert_uint_eq(client_use(c, "cached"), 0);
    mempool_disconnect(c);
}
END_TEST

/* ---- a pool-wide backing, mapped once ------------------------------------------ */

/* This process's mappings of the pool's memfd (/proc/self/maps). */
static int memfd_mappings(const char *pool)
{
    char want[128], line[512];
    snprintf(want, sizeof want, "/memfd:mempoold:%s", pool);
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, want) != NULL;
    fclose(f);
    return n;
}

/* In pool and uid isolation the connection maps the backing once, whole;
 * blocks are pieces of that mapping, and neither an allocation nor a
 * release maps or unmaps anything. */
static const char *const whole_pools[] = { "shared", "peruid" };

START_TEST(a_pool_wide_backing_is_mapped_once_per_connection)
{
    const char *pool = whole_pools[_i];
    mempool_client *c = connect_or_die(&fx);
    mempool_block first, b;
    ck_assert_int_eq(mempool_alloc(c, pool, 64 * KiB, 0, &first), 0);
    ck_assert_int_eq(memfd_mappings(pool), 1);
    memset(first.addr, 0x5e, first.size);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(mempool_alloc(c, pool, (size_t)(1 + i % 5) * 16 * KiB, 0, &b), 0);
        ck_assert(all_bytes(&b, 0));
        memset(b.addr, 0x6f, b.size);
        ck_assert_int_eq(mempool_release(c, &b), 0);
        ck_assert_int_eq(memfd_mappings(pool), 1);
    }
    ck_assert(all_bytes(&first, 0x5e));
    ck_assert_int_eq(mempool_release(c, &first), 0);
    ck_assert_int_eq(memfd_mappings(pool), 1);
    mempool_disconnect(c);
    ck_assert_int_eq(memfd_mappings(pool), 0);
}
END_TEST

/* A warm block of a backing only this uid has ever had (pool isolation
 * used by one uid, a uid's part always) is zeroed by the library through
 * the connection's mapping of the backing, not punched by the daemon: it
 * reads as zeros and its pages do not fault in again. */
START_TEST(a_warm_block_of_ones_own_backing_is_zeroed_without_faults)
{
    const char *pool = whole_pools[_i];
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, pool, 4 * MiB, 0, &b), 0);
    memset(b.addr, 0x5a, b.size);
    void *addr = b.addr;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    uint64_t faults = minor_faults();
    ck_assert_int_eq(mempool_alloc(c, pool, 4 * MiB, 0, &b), 0);
    ck_assert_ptr_eq(b.addr, addr);
    ck_assert(all_bytes(&b, 0));
    memset(b.addr, 0x6b, b.size);
    /* 1024 pages zeroed and written: a punch would have faulted them all. */
    ck_assert_uint_lt(minor_faults() - faults, 64);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}
END_TEST

/* Writes `v` over a 4 MiB block of pool "shared" and lets it go, as nobody. */
static int dirty_shared_as_nobody(unsigned char v)
{
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody())
        return 20;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_alloc(c, "shared", 4 * MiB, 0, &b) != 0)
        return 21;
    if (!all_bytes(&b, 0)) /* root's warm bytes, cleared by the daemon */
        return 22;
    memset(b.addr, v, b.size);
    if (mempool_release(c, &b) != 0)
        return 23;
    mempool_disconnect(c);
    return 0;
}

/* Once another uid has been granted part of a pool-isolation backing, warm
 * pages taken without DIRTY are cleared by the daemon again (the client
 * refaults them), whoever wrote them last: the client's own memset would
 * not be this uid's data any more. Both uids see zeros. */
START_TEST(a_shared_backing_another_uid_had_is_cleared_by_the_daemon)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "shared", 4 * MiB, 0, &b), 0);
    void *addr = b.addr;
    memset(b.addr, 0xaa, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(dirty_shared_as_nobody(0x55));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    uint64_t faults = minor_faults();
    ck_assert_int_eq(mempool_alloc(c, "shared", 4 * MiB, 0, &b), 0);
    ck_assert_ptr_eq(b.addr, addr);
    ck_assert(all_bytes(&b, 0));
    memset(b.addr, 0x6b, b.size);
    ck_assert_uint_ge(minor_faults() - faults, 512);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}
END_TEST

/* The daemon goes: the blocks held stay mapped and keep their bytes, the
 * rest of the backing is unmapped; a release then unmaps the block. */
START_TEST(a_lost_connection_keeps_only_the_held_pieces_of_the_backing)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block a, b;
    ck_assert_int_eq(mempool_alloc(c, "shared", 64 * KiB, 0, &a), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 128 * KiB, 0, &b), 0);
    memset(a.addr, 0x11, a.size);
    memset(b.addr, 0x22, b.size);
    ck_assert_int_eq(fixture_stop(&fx), 0);
    ck_assert_int_eq(mempool_pool_info(c, "shared", &(mempool_info){ 0 }), MEMPOOL_ECONN);
    ck_assert(all_bytes(&a, 0x11));
    ck_assert(all_bytes(&b, 0x22));
    /* Only the two pieces are left of the whole mapping. */
    ck_assert_int_eq(resident_in_file(a.addr, a.size) >= 0, 1);
    ck_assert_int_eq(resident_in_file((char *)b.addr + b.size, 4096), -1);
    void *addr = a.addr;
    ck_assert_int_eq(mempool_release(c, &a), 0);
    ck_assert_int_eq(resident_in_file(addr, 64 * KiB), -1);
    ck_assert(all_bytes(&b, 0x22));
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
    tcase_add_test(tc, a_scavenged_warm_block_leaves_the_memfd_while_its_mapping_is_kept);
    tcase_add_test(tc, cache_hits_are_zeroed_unless_dirty_and_send_nothing);
    tcase_add_test(tc, cached_blocks_count_toward_quota_and_give_way);
    tcase_add_test(tc, shared_and_attached_blocks_are_never_cached);
    tcase_add_test(tc, trim_and_age_give_the_cache_back);
    tcase_add_test(tc, the_give_back_flag_empties_the_cache);
    tcase_add_test(tc, a_killed_client_leaves_nothing_behind);
    tcase_add_test(tc, after_fork_the_child_leaves_the_parents_cache_alone);
    tcase_add_test(tc, one_client_many_threads_share_the_cache_safely);
    tcase_add_loop_test(tc, a_pool_wide_backing_is_mapped_once_per_connection, 0, 2);
    tcase_add_loop_test(tc, a_warm_block_of_ones_own_backing_is_zeroed_without_faults, 0, 2);
    tcase_add_test(tc, a_lost_connection_keeps_only_the_held_pieces_of_the_backing);
    suite_add_tcase(s, tc);
    TCase *uids = check_root_tcase("uids");
    tcase_add_checked_fixture(uids, setup, teardown);
    tcase_set_timeout(uids, 120);
    tcase_add_loop_test(uids, a_kept_mapping_never_sees_another_uids_data, 0, 2);
    tcase_add_test(uids, a_shared_backing_another_uid_had_is_cleared_by_the_daemon);
    suite_add_tcase(s, uids);
    TCase *forks = check_fork_threads_tcase("fork_threads");
    tcase_add_checked_fixture(forks, setup, teardown);
    tcase_set_timeout(forks, 120);
    tcase_add_test(forks, a_fork_while_other_threads_are_in_calls_leaves_the_child_working);
    suite_add_tcase(s, forks);
    return check_run(s);
}
