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

typedef struct sweeper {
    uv_timer_t timer;
    daemon_state *d;
} sweeper;

static void on_tick(uv_timer_t *t)
{
    sweeper *sw = t->data;
    bool any_more = false;
    for (size_t i = 0; i < pool_set_count(sw->d->pools); i++) {
        pool *p = pool_set_at(sw->d->pools, i);
        bool more;
        uint64_t freed = pool_sweep_strays(p, SLICE_EXTENTS, &more);
        if (freed > 0)
            log_info("pool %s: gave back %llu bytes clients wrote outside their blocks",
                     pool_name(p), (unsigned long long)freed);
        any_more |= more;
    }
    uv_timer_start(&sw->timer, on_tick, any_more ? 0 : TICK_MS, 0);
}

int sweeper_start(daemon_state *d)
{
    sweeper *sw = calloc(1, sizeof *sw);
    if (sw == NULL)
        return -1;
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
    free(d->sweeper);
    d->sweeper = NULL;
}
