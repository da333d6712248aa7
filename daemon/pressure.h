/* OS memory pressure, watched on the loop (docs/design.md §7): the platform file
 * chosen by CMake says how the OS tells, as libuv's src/unix/linux.c and
 * darwin.c do for their events.
 *
 *   Linux (pressure_linux.c): a PSI trigger on /proc/pressure/memory, polled
 *     for POLLPRI with uv_poll (UV_PRIORITIZED). Where the file is missing
 *     (kernels before 4.20, no CONFIG_PSI, psi=0) or refuses the trigger
 *     (unprivileged on kernels before 6.5), pressure is not watched, and
 *     the daemon says so once at info level.
 *   Darwin (pressure_darwin.c): a DISPATCH_SOURCE_TYPE_MEMORYPRESSURE
 *     source for WARN and CRITICAL, whose handler runs on a dispatch queue
 *     and wakes the loop with uv_async_send. */
#ifndef MEMPOOL_PRESSURE_H
#define MEMPOOL_PRESSURE_H

#include <uv.h>

typedef struct pressure_watch pressure_watch;

/* Called on the loop thread each time the OS reports memory pressure. */
typedef void pressure_fn(void *arg);

/* Starts watching. 0 and *out; 0 and *out NULL where the OS cannot report
 * pressure (logged once at info level); or -errno. */
int pressure_watch_start(uv_loop_t *loop, pressure_fn *fn, void *arg,
                         pressure_watch **out);
/* Stops watching; the watch is freed once its handle has closed, on the
 * loop. NULL is ignored. */
void pressure_watch_stop(pressure_watch *w);

#endif
