/* daemon/scavenger.c (the driver) and daemon/pressure_*.c: the scavenger on
 * a real libuv loop over real pools, with what the kernel reports (memfd
 * st_blocks through pool_stats.backing_resident, smaps residency) checked
 * next to the pools' counters. Time is real, but every assertion waits for
 * a condition (with a generous deadline) instead of for a duration: pools
 * that must not be scavenged get an `idle` of an hour. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "daemon.h"
#include "mem.h"
#include "page_cache.h"
#include "policy.h"
#include "pool.h"
#include "pressure.h"
#include "scavenger.h"

#define MiB (1024ULL * 1024)

static const char policy_text[] =
    "scavenger: { interval: 10ms, idle: 0s, retain: 0B, cpu: 100% }\n"
    "pools:\n"
    "  - name: eager\n"
    "    reserve: 2GiB\n"
    "    limit: 512MiB\n"
    "  - name: shared\n"
    "    reserve: 2GiB\n"
    "    limit: 512MiB\n"
    "    isolation: pool\n"
    "  - name: young\n"
    "    reserve: 1GiB\n"
    "    limit: 512MiB\n"
    "    scavenger: { idle: 1h }\n"
    "  - name: keeper\n"
    "    reserve: 1GiB\n"
    "    limit: 512MiB\n"
    "    scavenger: { retain: 8MiB }\n"
    "  - name: tight\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    scavenger: { idle: 1h }\n";

/* The daemon's clock (daemon_now_ns), which the scavenger reads too. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static policy *pol, *reloaded;
static pool_set *set;
static uv_loop_t loop;
static daemon_state d;
static pool_client *client;

static void setup(void)
{
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("check_scavenger", policy_text, strlen(policy_text), &pol,
                                     &err) == 0, "%s", err.text);
    char msg[256];
    ck_assert_int_eq(pool_set_new(pol, &set, msg, sizeof msg), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    d = (daemon_state){ .loop = &loop, .pol = pol, .pools = set };
    ck_assert_int_eq(scavenger_start(&d), 0);
    uint32_t gid = 1000;
    client = pool_client_new(set, 1000, &gid, 1, 10000);
    ck_assert_ptr_nonnull(client);
}

static void teardown(void)
{
    pool_client_free(client, now_ns());
    scavenger_stop(&d);
    uv_run(&loop, UV_RUN_DEFAULT);
    scavenger_release(&d);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    pool_set_free(set);
    policy_free(pol);
    policy_free(reloaded);
    reloaded = NULL;
}

static pool *pool_named(const char *name)
{
    pool *p = pool_set_find(set, name);
    ck_assert_ptr_nonnull(p);
    return p;
}

static pool_stats stats_of(const char *name)
{
    pool_stats st;
    pool_get_stats(pool_named(name), &st);
    return st;
}

typedef bool condition(const void *arg);

/* Runs the loop until cond holds; false if it did not within ~20 s. */
static bool run_until(condition *cond, const void *arg)
{
    for (int i = 0; i < 200000; i++) {
        if (cond(arg))
            return true;
        uv_run(&loop, UV_RUN_NOWAIT);
        if (i % 16 == 15)
            usleep(100);
    }
    return cond(arg);
}

static bool nothing_warm(const void *name) { return stats_of(name).warm == 0; }

/* Blocks of `size` bytes, written (so the kernel backs them), released
 * now: warm memory, stamped with the real clock. */
static void make_warm(const char *name, int n, uint64_t size, pool_grant *g)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(pool_alloc(client, name, size, 0, now_ns(), &g[i]), 0);
        memset(g[i].addr, 0x5a, g[i].size);
    }
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pool_release(client, g[i].block_id, now_ns()), 0);
}

/* ---- background work --------------------------------------------------------- */

START_TEST(idle_memory_goes_back_to_the_os)
{
    pool_grant g[4];
    make_warm("eager", 4, 16 * MiB, g);
    ck_assert(run_until(nothing_warm, "eager"));
    pool_stats st = stats_of("eager");
    ck_assert_uint_eq(st.released, 64 * MiB);
    ck_assert_int_eq(st.backing_resident, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(mem_os_range_resident(g[i].addr, g[i].size), 0);
    ck_assert_uint_gt(st.scavenger_runs, 0);
    ck_assert_uint_gt(st.last_scavenge_ms, 0);
}
END_TEST

START_TEST(young_memory_stays_warm)
{
    pool_grant g[2], e[1];
    make_warm("young", 2, 4 * MiB, g);
    /* A pool that is scavenged in the same loop shows the loop ran. */
    make_warm("eager", 1, 4 * MiB, e);
    ck_assert(run_until(nothing_warm, "eager"));
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    pool_stats st = stats_of("young");
    ck_assert_uint_eq(st.warm, 8 * MiB);
    ck_assert_uint_eq(st.released, 0);
    ck_assert_int_ge(st.backing_resident, (int64_t)(8 * MiB));
    ck_assert_uint_eq(st.scavenger_runs, 0);
}
END_TEST

static bool keeper_settled(const void *arg)
{
    (void)arg;
    return stats_of("keeper").warm <= 8 * MiB;
}

START_TEST(retain_keeps_the_lowest_memory_warm)
{
    pool_grant g[4];
    make_warm("keeper", 4, 4 * MiB, g);
    ck_assert(run_until(keeper_settled, NULL));
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    pool_stats st = stats_of("keeper");
    ck_assert_uint_eq(st.warm, 8 * MiB);
    ck_assert_uint_eq(st.released, 8 * MiB);
    /* Highest addresses went first: the two low blocks are still there. */
    ck_assert_int_ge(mem_os_range_resident(g[0].addr, 4 * MiB), (int64_t)(4 * MiB));
    ck_assert_int_ge(mem_os_range_resident(g[1].addr, 4 * MiB), (int64_t)(4 * MiB));
    ck_assert_int_eq(mem_os_range_resident(g[2].addr, 4 * MiB), 0);
    ck_assert_int_eq(mem_os_range_resident(g[3].addr, 4 * MiB), 0);
    ck_assert_int_le(st.backing_resident, (int64_t)(8 * MiB));
}
END_TEST

START_TEST(blocks_in_use_keep_their_data)
{
    pool_grant live[2], warm[1];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pool_alloc(client, "shared", 8 * MiB, 0, now_ns(), &live[i]), 0);
        memset(live[i].addr, 0x11 * (i + 1), live[i].size);
    }
    make_warm("shared", 1, 8 * MiB, warm);
    /* The warm block lies above both live ones, next to the second. */
    ck_assert_uint_eq(warm[0].offset, live[1].offset + 8 * MiB);
    ck_assert(run_until(nothing_warm, "shared"));
    for (int i = 0; i < 2; i++) {
        const unsigned char *p = live[i].addr;
        for (uint64_t off = 0; off < live[i].size; off += 4096)
            ck_assert_uint_eq(p[off], 0x11 * (i + 1));
        ck_assert_uint_eq(p[live[i].size - 1], 0x11 * (i + 1));
    }
    ck_assert_int_ge(stats_of("shared").backing_resident, (int64_t)(16 * MiB));
    ck_assert_int_le(stats_of("shared").backing_resident, (int64_t)(16 * MiB));
}
END_TEST

/* A check handle sees every loop iteration; the scavenger must let some
 * run while it still has work, or it held the loop. */
typedef struct loop_watch {
    uv_check_t check;
    uint64_t start_warm;
    bool saw_partial;
} loop_watch;

static void on_check(uv_check_t *h)
{
    loop_watch *w = h->data;
    uint64_t warm = stats_of("shared").warm;
    if (warm > 0 && warm < w->start_warm)
        w->saw_partial = true;
}

START_TEST(large_releases_are_cut_into_slices)
{
    pool_grant g[4];
    loop_watch w = { .start_warm = 256 * MiB };
    uv_check_init(&loop, &w.check);
    w.check.data = &w;
    uv_check_start(&w.check, on_check);
    make_warm("shared", 4, 64 * MiB, g);
    ck_assert(run_until(nothing_warm, "shared"));
    uv_close((uv_handle_t *)&w.check, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    pool_stats st = stats_of("shared");
    ck_assert_uint_eq(st.released, 256 * MiB);
    ck_assert_int_eq(st.backing_resident, 0);
    /* 65536 pages are not punched in one millisecond. */
    ck_assert_uint_gt(st.scavenger_runs, 1);
    ck_assert(w.saw_partial);
}
END_TEST

/* ---- forced work ---------------------------------------------------------------- */

typedef struct answer {
    int calls;
    uint64_t released;
} answer;

static void on_done(uint64_t released, void *arg)
{
    answer *a = arg;
    a->calls++;
    a->released = released;
}

static bool answered(const void *arg) { return ((const answer *)arg)->calls > 0; }

/* ---- clients first ------------------------------------------------------------- */

typedef struct ready_io {
    uv_poll_t poll;
    int fds[2];
    uint64_t wakeups;
} ready_io;

static void on_ready(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    ((ready_io *)h->data)->wakeups++;
}

/* A descriptor the loop watches, kept readable: a request nobody reads. */
static void ready_io_start(ready_io *io)
{
    *io = (ready_io){ 0 };
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io->fds), 0);
    ck_assert_int_eq(write(io->fds[1], "x", 1), 1);
    ck_assert_int_eq(uv_poll_init(&loop, &io->poll, io->fds[0]), 0);
    io->poll.data = io;
    ck_assert_int_eq(uv_poll_start(&io->poll, UV_READABLE, on_ready), 0);
}

static void ready_io_stop(ready_io *io)
{
    uv_poll_stop(&io->poll);
    uv_close((uv_handle_t *)&io->poll, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    close(io->fds[0]);
    close(io->fds[1]);
}

/* Two 16 MiB blocks of pool "young" turn warm and a forced scavenge gives
 * all of them back; *done: what the pool's pacer counted meanwhile. */
static void force_all_of_young(scavenge_stats *done)
{
    pool_grant g[2];
    make_warm("young", 2, 16 * MiB, g);
    scavenge_stats before, after;
    ck_assert_int_eq(scavenger_pool_stats(&d, pool_named("young"), &before), 0);
    answer a = { 0 };
    ck_assert_int_eq(scavenger_force(&d, pool_named("young"), 0, on_done, &a), 0);
    ck_assert(run_until(answered, &a));
    ck_assert_uint_eq(a.released, 32 * MiB);
    ck_assert_int_eq(scavenger_pool_stats(&d, pool_named("young"), &after), 0);
    *done = (scavenge_stats){ .released_bytes = after.released_bytes - before.released_bytes,
                              .slices = after.slices - before.slices,
                              .pieces = after.pieces - before.pieces };
}

/* A descriptor the loop watches stays readable: every slice ends after
 * its first piece, so a request waits at most one piece, the loop serves
 * the descriptor between any two slices, and the forced work still
 * finishes. */
START_TEST(pending_io_ends_each_slice_after_one_piece)
{
    ready_io io;
    ready_io_start(&io);
    scavenge_stats done;
    force_all_of_young(&done);
    ck_assert_uint_gt(done.slices, 1);
    ck_assert_uint_eq(done.pieces, done.slices);
    ck_assert_uint_ge(io.wakeups, done.slices - 1);
    ready_io_stop(&io);
}
END_TEST

/* Without anything to serve, a slice does many pieces: the check above is
 * not how slices always end. */
START_TEST(an_idle_loop_lets_slices_run_to_their_budget)
{
    scavenge_stats done;
    force_all_of_young(&done);
    ck_assert_uint_gt(done.pieces, done.slices);
}
END_TEST

/* While requests are waiting, pieces are cut shorter (a fifth of the
 * usual time), so that a request waits less behind the one under way. */
START_TEST(waiting_requests_make_pieces_smaller)
{
    scavenge_stats quiet, busy;
    force_all_of_young(&quiet);
    ready_io io;
    ready_io_start(&io);
    force_all_of_young(&busy);
    ready_io_stop(&io);
    ck_assert_uint_lt(busy.released_bytes / busy.pieces, quiet.released_bytes / quiet.pieces);
}
END_TEST

START_TEST(force_releases_what_was_asked_young_or_not)
{
    pool_grant g[2];
    make_warm("young", 2, 8 * MiB, g);
    answer a = { 0 };
    ck_assert_int_eq(scavenger_force(&d, pool_named("young"), 5 * MiB, on_done, &a), 0);
    ck_assert_int_eq(a.calls, 0); /* never from inside the call */
    ck_assert(run_until(answered, &a));
    ck_assert_int_eq(a.calls, 1);
    ck_assert_uint_eq(a.released, 5 * MiB);
    pool_stats st = stats_of("young");
    ck_assert_uint_eq(st.warm, 11 * MiB);
    ck_assert_int_le(st.backing_resident, (int64_t)(11 * MiB));
    /* The top of the highest block went, its bottom stayed. */
    ck_assert_uint_eq(cached_bytes((char *)g[1].addr + 3 * MiB, 5 * MiB), 0);
    ck_assert_uint_eq(cached_bytes(g[1].addr, 3 * MiB), 3 * MiB);
    ck_assert_uint_eq(cached_bytes(g[0].addr, 8 * MiB), 8 * MiB);
    answer all = { 0 };
    ck_assert_int_eq(scavenger_force(&d, NULL, 0, on_done, &all), 0);
    ck_assert(run_until(answered, &all));
    ck_assert_uint_eq(all.released, 11 * MiB);
    ck_assert_uint_eq(stats_of("young").warm, 0);
    ck_assert_int_eq(stats_of("young").backing_resident, 0);
}
END_TEST

START_TEST(force_over_every_pool_stops_at_the_bytes_asked)
{
    pool_grant a_blocks[2], b_blocks[2];
    make_warm("young", 2, 4 * MiB, a_blocks);
    make_warm("tight", 2, 4 * MiB, b_blocks);
    answer a = { 0 };
    ck_assert_int_eq(scavenger_force(&d, NULL, 10 * MiB, on_done, &a), 0);
    ck_assert(run_until(answered, &a));
    ck_assert_uint_eq(a.released, 10 * MiB);
    ck_assert_uint_eq(stats_of("young").warm + stats_of("tight").warm, 6 * MiB);
}
END_TEST

START_TEST(cancelled_requests_are_not_answered_and_stop_answers_the_rest)
{
    pool_grant g[1];
    make_warm("young", 1, 4 * MiB, g);
    answer cancelled = { 0 }, pending = { 0 }, bad = { 0 };
    ck_assert_int_eq(scavenger_force(&d, NULL, 0, on_done, &cancelled), 0);
    ck_assert_int_eq(scavenger_force(&d, pool_named("young"), 0, on_done, &pending), 0);
    scavenger_force_cancel(&d, &cancelled);
    /* Stopping before the loop ran answers what is pending, with what it
     * released so far. */
    scavenger_stop(&d);
    ck_assert_int_eq(cancelled.calls, 0);
    ck_assert_int_eq(pending.calls, 1);
    ck_assert_uint_eq(pending.released, 0);
    ck_assert_int_eq(scavenger_force(&d, NULL, 0, on_done, &bad), -EINVAL);
    ck_assert_int_eq(bad.calls, 0);
}
END_TEST

START_TEST(pressure_drops_all_warm_memory)
{
    pool_grant y[2], k[4];
    make_warm("young", 2, 4 * MiB, y);
    make_warm("keeper", 4, 4 * MiB, k);
    scavenger_pressure(&d);
    ck_assert(run_until(nothing_warm, "young"));
    ck_assert(run_until(nothing_warm, "keeper"));
    ck_assert_int_eq(stats_of("young").backing_resident, 0);
    ck_assert_int_eq(stats_of("keeper").backing_resident, 0);
    /* Pressure passes: the pools fill and keep memory again. */
    pool_grant again[1];
    make_warm("young", 1, 4 * MiB, again);
    for (int i = 0; i < 100; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_eq(stats_of("young").warm, 4 * MiB);
}
END_TEST

/* ---- the memory-limit path and reloads -------------------------------------------- */

START_TEST(limit_path_is_counted_as_scavenger_work)
{
    pool_grant g[4], big;
    make_warm("tight", 4, 16 * MiB, g);
    ck_assert_uint_eq(stats_of("tight").warm, 64 * MiB);
    ck_assert_int_eq(pool_alloc(client, "tight", 32 * MiB, 0, now_ns(), &big), 0);
    pool_stats st = stats_of("tight");
    ck_assert_uint_eq(st.in_use, 32 * MiB);
    ck_assert_uint_eq(st.warm, 32 * MiB);
    ck_assert_uint_eq(st.sync_scavenged, 32 * MiB);
    ck_assert_uint_eq(st.released, 32 * MiB);
    ck_assert_uint_eq(st.scavenger_runs, 1);
    ck_assert_uint_gt(st.last_scavenge_ms, 0);
    /* The highest two blocks went. */
    ck_assert_int_eq(mem_os_range_resident(g[3].addr, 16 * MiB), 0);
    ck_assert_int_ge(mem_os_range_resident(g[0].addr, 16 * MiB), (int64_t)(16 * MiB));
    ck_assert_int_le(st.backing_resident, (int64_t)(32 * MiB));
}
END_TEST

START_TEST(reload_applies_new_settings_at_once)
{
    pool_grant g[2];
    make_warm("young", 2, 4 * MiB, g);
    char *text = strdup(policy_text);
    char *idle = strstr(text, "idle: 1h");
    memcpy(idle, "idle: 0s", 8);
    policy_error err = { 0 };
    ck_assert_msg(policy_load_buffer("reload", text, strlen(text), &reloaded, &err) == 0,
                  "%s", err.text);
    free(text);
    pool_set_apply(set, reloaded);
    scavenger_policy_changed(&d);
    ck_assert(run_until(nothing_warm, "young"));
    ck_assert_uint_eq(stats_of("young").released, 8 * MiB);
}
END_TEST

/* ---- the pressure watch ----------------------------------------------------------- */

static int open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void count_call(void *arg) { ++*(int *)arg; }

/* A trigger is taken where the kernel offers PSI to this process; where it
 * does not, nothing is watched and nothing is left open. */
START_TEST(pressure_watch_takes_a_trigger_where_the_kernel_has_psi)
{
    uv_loop_t l;
    ck_assert_int_eq(uv_loop_init(&l), 0);
    int before = open_fds(), calls = 0;
    pressure_watch *w = NULL;
    ck_assert_int_eq(pressure_watch_start(&l, count_call, &calls, &w), 0);
    bool psi = access("/proc/pressure/memory", W_OK) == 0 && geteuid() == 0;
    if (psi)
        ck_assert_ptr_nonnull(w);
    if (w == NULL)
        ck_assert_int_eq(open_fds(), before);
    pressure_watch_stop(w);
    uv_run(&l, UV_RUN_DEFAULT);
    ck_assert_int_eq(open_fds(), before);
    ck_assert_int_eq(uv_loop_close(&l), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scavenger");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idle_memory_goes_back_to_the_os);
    tcase_add_test(tc, young_memory_stays_warm);
    tcase_add_test(tc, retain_keeps_the_lowest_memory_warm);
    tcase_add_test(tc, blocks_in_use_keep_their_data);
    tcase_add_test(tc, large_releases_are_cut_into_slices);
    tcase_add_test(tc, pending_io_ends_each_slice_after_one_piece);
    tcase_add_test(tc, waiting_requests_make_pieces_smaller);
    tcase_add_test(tc, an_idle_loop_lets_slices_run_to_their_budget);
    tcase_add_test(tc, force_releases_what_was_asked_young_or_not);
    tcase_add_test(tc, force_over_every_pool_stops_at_the_bytes_asked);
    tcase_add_test(tc, cancelled_requests_are_not_answered_and_stop_answers_the_rest);
    tcase_add_test(tc, pressure_drops_all_warm_memory);
    tcase_add_test(tc, limit_path_is_counted_as_scavenger_work);
    tcase_add_test(tc, reload_applies_new_settings_at_once);
    suite_add_tcase(s, tc);
    TCase *watch = tcase_create("pressure");
    tcase_add_test(watch, pressure_watch_takes_a_trigger_where_the_kernel_has_psi);
    suite_add_tcase(s, watch);
    return check_run(s);
}
