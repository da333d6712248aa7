/* Memory pressure on Linux: a PSI trigger (Documentation/accounting/psi.rst).
 * Writing "some STALL WINDOW" to /proc/pressure/memory asks the kernel to
 * raise POLLPRI on that descriptor whenever tasks stalled on memory for
 * STALL microseconds within any WINDOW; the trigger lives as long as the
 * descriptor. */
#include "pressure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define PSI_MEMORY "/proc/pressure/memory"

/* 150 ms of stall in one second: some task waited for memory 15% of the
 * time, the kernel documentation's example and well past the noise of
 * ordinary reclaim. Unprivileged writers (Linux 6.5 and later) may only
 * use windows that are multiples of two seconds, hence the second form. */
static const char *const triggers[] = { "some 150000 1000000", "some 300000 2000000" };

struct pressure_watch {
    uv_poll_t poll;
    int fd;
    pressure_fn *fn;
    void *arg;
};

/* The descriptor carrying a trigger, or -errno of the last refusal. */
static int open_trigger(void)
{
    int err = -ENOENT;
    for (size_t i = 0; i < sizeof triggers / sizeof triggers[0]; i++) {
        int fd = open(PSI_MEMORY, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        /* The kernel reads the trigger with its terminating NUL. */
        if (write(fd, triggers[i], strlen(triggers[i]) + 1) >= 0)
            return fd;
        err = -errno;
        close(fd);
    }
    return err;
}

static void on_closed(uv_handle_t *h)
{
    pressure_watch *w = h->data;
    close(w->fd);
    free(w);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pressure_watch *w = h->data;
    if (status < 0) {
        /* POLLERR: the trigger's cgroup went away. */
        log_warn("memory pressure: %s failed (%s); no longer watched", PSI_MEMORY,
                 uv_strerror(status));
        uv_poll_stop(h);
        return;
    }
    if (events & UV_PRIORITIZED)
        w->fn(w->arg);
}

int pressure_watch_start(uv_loop_t *loop, pressure_fn *fn, void *arg,
                         pressure_watch **out)
{
    *out = NULL;
    int fd = open_trigger();
    if (fd < 0) {
        log_info("memory pressure is not watched: %s: %s (warm memory still goes "
                 "back on the scavenger's schedule)", PSI_MEMORY, strerror(-fd));
        return 0;
    }
    pressure_watch *w = calloc(1, sizeof *w);
    if (w == NULL) {
        close(fd);
        return -ENOMEM;
    }
    *w = (pressure_watch){ .fd = fd, .fn = fn, .arg = arg };
    int rc = uv_poll_init(loop, &w->poll, fd);
    if (rc == 0) {
        w->poll.data = w;
        rc = uv_poll_start(&w->poll, UV_PRIORITIZED, on_poll);
        if (rc != 0)
            uv_close((uv_handle_t *)&w->poll, on_closed);
    } else {
        close(fd);
        free(w);
    }
    if (rc != 0)
        return rc;
    log_debug("memory pressure: watching %s (%s)", PSI_MEMORY, triggers[0]);
    *out = w;
    return 0;
}

void pressure_watch_stop(pressure_watch *w)
{
    if (w != NULL && !uv_is_closing((uv_handle_t *)&w->poll))
        uv_close((uv_handle_t *)&w->poll, on_closed);
}
