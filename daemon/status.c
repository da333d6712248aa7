#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "log_peer.h"
#include "server.h"

typedef struct status_timers {
    uv_timer_t tick;        /* STATUS_PERIOD_MS: the status line, log reports */
    uv_timer_t watchdog;    /* half of WATCHDOG_USEC */
    bool watchdog_on;
    char last[160];         /* the status line last sent */
} status_timers;

static status_timers *timers;

static void format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

void status_describe(const daemon_state *d, char *buf, size_t len)
{
    uint64_t in_use = 0;
    size_t npools = pool_set_count(d->pools);
    for (size_t i = 0; i < npools; i++)
        in_use += pool_in_use(pool_set_at(d->pools, i));
    server_stats st = { 0 };
    if (d->srv != NULL)
        server_get_stats(d->srv, &st);
    char bytes[32];
    format_bytes(in_use, bytes, sizeof bytes);
    snprintf(buf, len, "%zu pool%s, %llu client%s, %s in use", npools, npools == 1 ? "" : "s",
             (unsigned long long)st.clients, st.clients == 1 ? "" : "s", bytes);
}

static void on_tick(uv_timer_t *t)
{
    daemon_state *d = t->data;
    char now[sizeof timers->last];
    status_describe(d, now, sizeof now);
    if (strcmp(now, timers->last) != 0) {
        activation_status(now);
        memcpy(timers->last, now, sizeof now);
    }
    log_peer_flush();
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    activation_notify(ACTIVATION_WATCHDOG);
}

/* Neither timer keeps the loop alive: they run while the daemon serves. */
int status_start(daemon_state *d)
{
    if ((timers = calloc(1, sizeof *timers)) == NULL)
        return -1;
    uv_timer_init(d->loop, &timers->tick);
    uv_timer_init(d->loop, &timers->watchdog);
    timers->tick.data = timers->watchdog.data = d;
    uv_unref((uv_handle_t *)&timers->tick);
    uv_unref((uv_handle_t *)&timers->watchdog);
    uv_timer_start(&timers->tick, on_tick, 0, STATUS_PERIOD_MS);
    uint64_t usec = activation_watchdog_usec();
    if (usec > 0) {
        uint64_t ms = usec / 2000 > 0 ? usec / 2000 : 1;
        uv_timer_start(&timers->watchdog, on_watchdog, 0, ms);
        log_info("watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)ms);
    }
    return 0;
}

void status_stop(daemon_state *d)
{
    (void)d;
    uv_close((uv_handle_t *)&timers->tick, NULL);
    uv_close((uv_handle_t *)&timers->watchdog, NULL);
}

void status_release(daemon_state *d)
{
    (void)d;
    free(timers);
    timers = NULL;
}
