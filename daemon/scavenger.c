/* The scavenger's driver: it asks each pool's pacer what to do, does it in
 * slices on the loop thread, and tells the pacer what the work took
 * (docs/scavenger.md says why slices on the loop rather than a thread).
 *
 * Waiting is a uv_timer set to the earliest time any pool's pacer wants to
 * plan again. Work that is due runs from a uv_idle handle, one slice per
 * loop iteration: libuv polls for I/O (with a zero timeout) between two
 * idle callbacks, so requests are served between slices.
 *
 * Clients never wait behind a slice. A slice releases memory in pieces
 * (pool_release_warm_part) and, between pieces, looks at the clock and at
 * the loop: when any descriptor the loop watches is ready (a request, a
 * new connection), the slice ends there and the loop serves it before the
 * next slice starts. Asking is one poll() of the loop's own epoll (kqueue
 * on Darwin) descriptor with a zero timeout, which is readable exactly when
 * one of its descriptors is ready: one syscall whatever the number of
 * clients. A request therefore waits at most one piece. A slice always
 * does its first piece, so a flood of requests slows the scavenger but
 * never stops it. Before a slice the thread yields its CPU (sched_yield):
 * where a client shares the CPU with the daemon and has just been answered,
 * it runs and sends its next request, which the slice then sees after its
 * first piece, rather than waiting for the slice to end.
 *
 * A piece is sized from the release rate seen so far (scavenge_policy.h)
 * to take about SCAVENGE_PIECE_NS (50 us): large enough to amortize the
 * syscall, short enough that a request waits little (docs/scavenger.md has
 * the figures). While requests keep coming pieces take about
 * SCAVENGE_SHORT_PIECE_NS (10 us) instead: clients wait less, and the
 * scavenger releases more slowly. A slice is a quarter of the millisecond
 * the pacer allows.
 *
 * Time: a slice's work is measured with CLOCK_MONOTONIC around it, as Go
 * measures its scavenger with nanotime. That is the time the loop was held,
 * what the millisecond bound is about, and an upper bound of the CPU the
 * slice used, so pacing on it never exceeds the cpu share even when the
 * thread is descheduled mid-slice. The CPU time reported in the pool's
 * statistics is CLOCK_THREAD_CPUTIME_ID, what the figure's name says. The
 * rate that sizes pieces is timed around the release calls alone
 * (release_piece), without the polls between them. */
#include "scavenger.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"
#include "pressure.h"
#include "scavenge_policy.h"

#define SLICE_NS (SCAVENGE_SLICE_NS / 4)
/* While requests keep coming (one was seen waiting at a slice in the last
 * SHORT_PIECES_HOLD_NS), pieces are short (SCAVENGE_SHORT_PIECE_NS, a
 * fifth of the usual): where the daemon and a client share one CPU the
 * idle p99 of a round trip is about 20 us, and a request waiting behind a
 * 50 us piece made the p99 3.2 x that (docs/scavenger.md). 100 ms spans a
 * client's pauses between bursts of requests, and a quiet loop is back to
 * long pieces soon after. */
#define SHORT_PIECES_HOLD_NS UINT64_C(100000000)

typedef struct pool_scav {
    pool *pool;
    scavenge_pacer pacer;
    uint64_t next_ns;         /* when to plan again */
    uint64_t forced_released; /* by forced slices, in total */
} pool_scav;

/* An admin request, served one at a time in order. */
typedef struct force_request {
    struct force_request *next;
    bool every_pool;      /* else pools[index] only */
    size_t index;         /* the pool being worked on */
    uint64_t wanted;      /* still to release; UINT64_MAX: all that is warm */
    uint64_t released;
    uint64_t mark;        /* forced_released of the pool when it was forced */
    bool armed;           /* the pool's pacer has been forced for it */
    scavenger_done_fn *done;
    void *arg;
} force_request;

struct scavenger {
    daemon_state *d;
    uv_timer_t timer;
    uv_idle_t idle;
    pressure_watch *pressure;
    pool_scav *pools;
    size_t npools;
    size_t cursor;        /* round robin among pools with work due */
    scavenge_rate rate;   /* sizes the pieces */
    uint64_t short_pieces_until_ns; /* short pieces until then */
    force_request *head, *tail;
    bool stopping;
};

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The clock of daemon_now_ns, which stamps the pools' warm memory: the
 * pacer compares the two. (Read here, not through daemon.c, so that the
 * driver links without the server.) */
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static uint64_t wall_ms(void) { return clock_ns(CLOCK_REALTIME) / 1000000u; }

static scavenge_config config_of(const pool *p)
{
    const policy_scavenger *sc = &pool_policy(p)->scavenger;
    return (scavenge_config){ .interval_ns = sc->interval_ns,
                              .idle_ns = sc->idle_ns,
                              .retain_bytes = sc->retain,
                              .cpu_permille = sc->cpu_permille,
                              .reuse_cost_permille = mem_os_reuse_cost_permille() };
}

static pool_scav *scav_of(scavenger *s, const pool *p)
{
    for (size_t i = 0; i < s->npools; i++)
        if (s->pools[i].pool == p)
            return &s->pools[i];
    return NULL;
}

/* ---- slices ------------------------------------------------------------------ */

/* True when a descriptor the loop watches is ready: the loop's backend
 * (epoll, kqueue) polls readable then. Seeing one also starts (or
 * extends) the time of short pieces. */
static bool note_pending_io(scavenger *s, uint64_t now)
{
    struct pollfd pfd = { .fd = uv_backend_fd(s->d->loop), .events = POLLIN };
    if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
        return false;
    s->short_pieces_until_ns = now + SHORT_PIECES_HOLD_NS;
    return true;
}

/* One piece: releases up to `want` bytes; *now is the clock after it and
 * the release calls' own time goes to *work_ns. */
static uint64_t release_piece(pool_scav *ps, uint64_t want, uint64_t freed_by_ns,
                              uint64_t *now, uint64_t *work_ns)
{
    uint64_t start = now_ns();
    uint64_t got = pool_release_warm_part(ps->pool, want, freed_by_ns);
    ps->pacer.stats.pieces++;
    *now = now_ns();
    *work_ns += *now - start;
    return got;
}

/* Releases what the plan says, piece by piece, until it is done, nothing
 * eligible is left, the budget is spent, or the loop has I/O to serve. */
static uint64_t release_pieces(scavenger *s, pool_scav *ps, const scavenge_plan *plan,
                               uint64_t start_ns, bool *more_left)
{
    uint64_t page = pool_policy(ps->pool)->page, work_ns = 0;
    uint64_t budget = plan->budget_ns < SLICE_NS ? plan->budget_ns : SLICE_NS;
    uint64_t released = 0, deadline = start_ns + budget, now = start_ns;
    bool short_pieces = false;
    /* A request already waiting: short pieces from the first. */
    note_pending_io(s, now);
    for (;;) {
        bool short_piece = now < s->short_pieces_until_ns;
        short_pieces = short_pieces || short_piece;
        uint64_t want = min_u64(scavenge_piece_bytes(&s->rate, short_piece, page),
                                plan->release_bytes - released);
        uint64_t got = release_piece(ps, want, plan->freed_by_ns, &now, &work_ns);
        released += got;
        *more_left = got == want && released < plan->release_bytes;
        if (!*more_left || now >= deadline || note_pending_io(s, now))
            break;
    }
    scavenge_rate_learn(&s->rate, released, work_ns, short_pieces);
    return released;
}

static void run_slice(scavenger *s, pool_scav *ps, uint64_t now)
{
    pool *p = ps->pool;
    scavenge_plan plan;
    scavenge_pacer_plan(&ps->pacer, now, pool_warm_bytes(p), pool_warm_oldest(p), &plan);
    if (plan.release_bytes == 0) {
        ps->next_ns = plan.wake_ns;
        return;
    }
    /* The plan is forced work exactly when forced work is pending. */
    bool forced = scavenge_pacer_forced(&ps->pacer);
    uint64_t cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t start = now_ns();
    bool more_left;
    uint64_t released = release_pieces(s, ps, &plan, start, &more_left);
    uint64_t end = now_ns();
    ps->next_ns = scavenge_pacer_account(&ps->pacer, end, end - start, released, more_left);
    if (forced)
        ps->forced_released += released;
    pool_note_scavenge(p, forced ? POOL_SCAVENGE_FORCED : POOL_SCAVENGE_PACED,
                       clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start, wall_ms());
}

/* The next pool whose pacer wants to plan by now, round robin so that a
 * pool with much to do does not starve the others. */
static pool_scav *next_due(scavenger *s, uint64_t now)
{
    for (size_t k = 0; k < s->npools; k++) {
        size_t i = (s->cursor + k) % s->npools;
        if (s->pools[i].next_ns <= now) {
            s->cursor = i + 1;
            return &s->pools[i];
        }
    }
    return NULL;
}

/* ---- forced requests ---------------------------------------------------------- */

static void arm_head(scavenger *s, uint64_t now)
{
    force_request *r = s->head;
    if (r == NULL || r->armed)
        return;
    pool_scav *ps = &s->pools[r->index];
    scavenge_pacer_force(&ps->pacer, r->wanted);
    r->mark = ps->forced_released;
    r->armed = true;
    ps->next_ns = now;
}

/* Takes what the head request's pool released for it into account. */
static void collect(scavenger *s, force_request *r)
{
    pool_scav *ps = &s->pools[r->index];
    uint64_t got = ps->forced_released - r->mark;
    r->mark = ps->forced_released;
    r->released += got;
    if (r->wanted != UINT64_MAX)
        r->wanted -= min_u64(got, r->wanted);
}

static void finish_head(scavenger *s)
{
    force_request *r = s->head;
    s->head = r->next;
    if (s->head == NULL)
        s->tail = NULL;
    if (r->done != NULL)
        r->done(r->released, r->arg);
    free(r);
}

/* Moves the head request on once its pool is done with it: to the next
 * pool, or to its callback. */
static void settle_requests(scavenger *s, uint64_t now)
{
    for (;;) {
        arm_head(s, now);
        force_request *r = s->head;
        if (r == NULL || scavenge_pacer_forced(&s->pools[r->index].pacer))
            return;
        collect(s, r);
        if (r->every_pool && r->wanted > 0 && r->index + 1 < s->npools) {
            r->index++;
            r->armed = false;
        } else {
            finish_head(s);
        }
    }
}

/* ---- waking -------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);
static void on_idle(uv_idle_t *h);

/* Runs on at the next loop iteration when work is due, else sleeps until
 * the earliest time a pacer asked for. */
static void schedule(scavenger *s)
{
    if (s->stopping)
        return;
    uint64_t now = now_ns(), next = SCAVENGE_NEVER;
    for (size_t i = 0; i < s->npools; i++)
        next = min_u64(next, s->pools[i].next_ns);
    if (next <= now) {
        uv_timer_stop(&s->timer);
        uv_idle_start(&s->idle, on_idle);
        return;
    }
    uv_idle_stop(&s->idle);
    if (next == SCAVENGE_NEVER) {
        uv_timer_stop(&s->timer);
        return;
    }
    /* The loop's cached time may be a slice old. */
    uv_update_time(s->d->loop);
    uv_timer_start(&s->timer, on_timer, (next - now + 999999) / 1000000, 0);
}

static void wake(scavenger *s)
{
    uint64_t now = now_ns();
    settle_requests(s, now);
    pool_scav *ps = next_due(s, now);
    if (ps != NULL) {
        /* Where a client shares this CPU, it runs now (and sends its next
         * request) rather than after the slice. */
        sched_yield();
        run_slice(s, ps, now);
    }
    settle_requests(s, now_ns());
    schedule(s);
}

static void on_timer(uv_timer_t *t) { wake(t->data); }

static void on_idle(uv_idle_t *h) { wake(h->data); }

/* ---- the memory-limit path and pressure ------------------------------------------ */

/* Go's memory-limit path, called by the pool inside an allocation:
 * synchronous and unpaced, as Go's allocation-path scavenging, but it
 * shows in the scavenger's figures. */
static uint64_t limit_release(pool *p, uint64_t bytes, void *arg)
{
    scavenger *s = arg;
    uint64_t cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t start = now_ns();
    uint64_t released = pool_release_warm_part(p, bytes, UINT64_MAX);
    uint64_t end = now_ns();
    pool_scav *ps = scav_of(s, p);
    if (ps != NULL)
        scavenge_pacer_record(&ps->pacer, end, end - start, released);
    pool_note_scavenge(p, POOL_SCAVENGE_LIMIT, clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start,
                       wall_ms());
    return released;
}

int scavenger_pool_stats(const daemon_state *d, const pool *p, scavenge_stats *out)
{
    pool_scav *ps = d->scav != NULL ? scav_of(d->scav, p) : NULL;
    if (ps == NULL)
        return -EINVAL;
    *out = ps->pacer.stats;
    return 0;
}

void scavenger_pressure(daemon_state *d)
{
    scavenger *s = d->scav;
    if (s == NULL || s->stopping)
        return;
    log_info("memory pressure: every pool drops its warm memory");
    uint64_t now = now_ns();
    pool_set_ask_give_back(d->pools, now + GIVE_BACK_ASK_NS);
    for (size_t i = 0; i < s->npools; i++) {
        scavenge_pacer_pressure(&s->pools[i].pacer);
        s->pools[i].next_ns = now;
    }
    schedule(s);
}

static void on_pressure(void *arg) { scavenger_pressure(arg); }

/* ---- the module ---------------------------------------------------------------- */

static int init_pools(scavenger *s, pool_set *set, uint64_t now)
{
    s->npools = pool_set_count(set);
    s->pools = calloc(s->npools ? s->npools : 1, sizeof *s->pools);
    if (s->pools == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->npools; i++) {
        pool_scav *ps = &s->pools[i];
        ps->pool = pool_set_at(set, i);
        scavenge_config c = config_of(ps->pool);
        if (scavenge_pacer_init(&ps->pacer, &c) != 0) {
            log_error("scavenger: pool %s: invalid settings (interval 0 or cpu above 100%%)",
                      pool_name(ps->pool));
            return -EINVAL;
        }
        ps->next_ns = now;
    }
    return 0;
}

int scavenger_start(daemon_state *d)
{
    scavenger *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->d = d;
    scavenge_rate_init(&s->rate);
    int rc = init_pools(s, d->pools, now_ns());
    if (rc != 0) {
        free(s->pools);
        free(s);
        return rc;
    }
    uv_timer_init(d->loop, &s->timer);
    uv_idle_init(d->loop, &s->idle);
    s->timer.data = s->idle.data = s;
    rc = pressure_watch_start(d->loop, on_pressure, d, &s->pressure);
    if (rc != 0)
        log_warn("memory pressure is not watched: %s", strerror(-rc));
    pool_set_limit_release(d->pools, limit_release, s);
    d->scav = s;
    schedule(s);
    return 0;
}

void scavenger_stop(daemon_state *d)
{
    scavenger *s = d->scav;
    if (s == NULL || s->stopping)
        return;
    s->stopping = true;
    while (s->head != NULL) {
        if (s->head->armed)
            collect(s, s->head);
        finish_head(s);
    }
    pool_set_limit_release(d->pools, NULL, NULL);
    pressure_watch_stop(s->pressure);
    s->pressure = NULL;
    uv_close((uv_handle_t *)&s->timer, NULL);
    uv_close((uv_handle_t *)&s->idle, NULL);
}

void scavenger_release(daemon_state *d)
{
    scavenger *s = d->scav;
    if (s == NULL)
        return;
    free(s->pools);
    free(s);
    d->scav = NULL;
}

void scavenger_policy_changed(daemon_state *d)
{
    scavenger *s = d->scav;
    if (s == NULL || s->stopping)
        return;
    uint64_t now = now_ns();
    for (size_t i = 0; i < s->npools; i++) {
        pool_scav *ps = &s->pools[i];
        scavenge_config c = config_of(ps->pool);
        if (scavenge_pacer_configure(&ps->pacer, &c) != 0)
            log_error("scavenger: pool %s: invalid settings kept out", pool_name(ps->pool));
        ps->next_ns = now;
    }
    schedule(s);
}

int scavenger_force(daemon_state *d, pool *p, uint64_t bytes, scavenger_done_fn *done,
                    void *arg)
{
    scavenger *s = d->scav;
    pool_scav *ps = p != NULL && s != NULL ? scav_of(s, p) : NULL;
    if (s == NULL || s->stopping || (p != NULL && ps == NULL) || s->npools == 0)
        return -EINVAL;
    force_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    *r = (force_request){ .every_pool = p == NULL,
                          .index = p != NULL ? (size_t)(ps - s->pools) : 0,
                          .wanted = bytes == 0 ? UINT64_MAX : bytes,
                          .done = done,
                          .arg = arg };
    if (s->tail != NULL)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    /* Answered from the loop, never from inside this call. */
    uv_timer_stop(&s->timer);
    uv_idle_start(&s->idle, on_idle);
    return 0;
}

void scavenger_force_cancel(daemon_state *d, void *arg)
{
    scavenger *s = d->scav;
    if (s == NULL)
        return;
    for (force_request *r = s->head; r != NULL; r = r->next)
        if (r->arg == arg)
            r->done = NULL;
}
