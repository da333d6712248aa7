/* The stray sweeper (sweeper.h). Each turn checks every pool with a
 * shared backing: one fstat when nothing is astray. A pass that finds
 * data goes on in slices of SLICE_EXTENTS ranges per pool, one slice per
 * loop turn, so that clients are served between slices; otherwise the
 * sweeper wakes every TICK_MS. A client writing outside its blocks can so
 * hold at most what it writes in one tick above the pool's limit. */
#include "sweeper.h"

#include <stdlib.h>

#include "log.h"

#define TICK_MS 200
#define SLICE_EXTENTS 64
/* A client that writes outside its blocks without end would otherwise get
 * a log line per slice (350 a second, measured): what each pool gave back
 * is summed and told at most once per REPORT_NS. */
#define REPORT_NS (10 * 1000000000ULL)

typedef struct sweeper {
    uv_timer_t timer;
    daemon_state *d;
    size_t npools;
    uint64_t *unreported;  /* per pool: bytes given back, not yet logged */
    uint64_t *reported_ns; /* per pool: when its last line was written */
} sweeper;

static void report(sweeper *sw, size_t i, uint64_t freed, uint64_t now)
{
    sw->unreported[i] += freed;
    if (sw->unreported[i] == 0 ||
        (sw->reported_ns[i] != 0 && now - sw->reported_ns[i] < REPORT_NS))
        return;
    log_info("pool %s: gave back %llu bytes clients wrote outside their blocks",
             pool_name(pool_set_at(sw->d->pools, i)), (unsigned long long)sw->unreported[i]);
    sw->unreported[i] = 0;
    sw->reported_ns[i] = now;
}

static void on_tick(uv_timer_t *t)
{
    sweeper *sw = t->data;
    bool any_more = false;
    uint64_t now = daemon_now_ns();
    for (size_t i = 0; i < sw->npools; i++) {
        bool more;
        report(sw, i, pool_sweep_strays(pool_set_at(sw->d->pools, i), SLICE_EXTENTS, &more),
               now);
        any_more |= more;
    }
    uv_timer_start(&sw->timer, on_tick, any_more ? 0 : TICK_MS, 0);
}

int sweeper_start(daemon_state *d)
{
    sweeper *sw = calloc(1, sizeof *sw);
    if (sw == NULL)
        return -1;
    sw->npools = pool_set_count(d->pools);
    sw->unreported = calloc(sw->npools + 1, sizeof *sw->unreported);
    sw->reported_ns = calloc(sw->npools + 1, sizeof *sw->reported_ns);
    if (sw->unreported == NULL || sw->reported_ns == NULL) {
        free(sw->unreported);
        free(sw->reported_ns);
        free(sw);
        return -1;
    }
    sw->d = d;
    uv_timer_init(d->loop, &sw->timer);
    sw->timer.data = sw;
    uv_timer_start(&sw->timer, on_tick, TICK_MS, 0);
    d->sweeper = sw;
    return 0;
}

void sweeper_stop(daemon_state *d)
{
    if (d->sweeper != NULL && !uv_is_closing((uv_handle_t *)&d->sweeper->timer))
        uv_close((uv_handle_t *)&d->sweeper->timer, NULL);
}

void sweeper_release(daemon_state *d)
{
    if (d->sweeper != NULL) {
        free(d->sweeper->unreported);
        free(d->sweeper->reported_ns);
    }
    free(d->sweeper);
    d->sweeper = NULL;
}
