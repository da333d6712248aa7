/* Memory pressure on Darwin: a DISPATCH_SOURCE_TYPE_MEMORYPRESSURE source,
 * the notification libdispatch gives every process when the system's free
 * memory runs low (WARN) or out (CRITICAL). Its handler runs on a dispatch
 * queue, not the loop thread, so it only wakes the loop with
 * uv_async_send, the one libuv call that is safe from another thread. */
#include "pressure.h"

#include <dispatch/dispatch.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"

struct pressure_watch {
    uv_async_t async;
    dispatch_source_t source;
    dispatch_semaphore_t cancelled;
    pressure_fn *fn;
    void *arg;
};

static void on_event(void *context)
{
    pressure_watch *w = context;
    uv_async_send(&w->async);
}

static void on_cancel(void *context)
{
    pressure_watch *w = context;
    dispatch_semaphore_signal(w->cancelled);
}

static void on_async(uv_async_t *h)
{
    pressure_watch *w = h->data;
    w->fn(w->arg);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static dispatch_source_t pressure_source(pressure_watch *w)
{
    dispatch_queue_t queue = dispatch_get_global_queue(QOS_CLASS_UTILITY, 0);
    dispatch_source_t source = dispatch_source_create(
        DISPATCH_SOURCE_TYPE_MEMORYPRESSURE, 0,
        DISPATCH_MEMORYPRESSURE_WARN | DISPATCH_MEMORYPRESSURE_CRITICAL, queue);
    if (source == NULL)
        return NULL;
    dispatch_set_context(source, w);
    dispatch_source_set_event_handler_f(source, on_event);
    dispatch_source_set_cancel_handler_f(source, on_cancel);
    return source;
}

/* The async handle and the semaphore come first: a source, once created,
 * must be resumed before it may be released, so it is made last. */
int pressure_watch_start(uv_loop_t *loop, pressure_fn *fn, void *arg,
                         pressure_watch **out)
{
    *out = NULL;
    pressure_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    *w = (pressure_watch){ .fn = fn, .arg = arg };
    int rc = uv_async_init(loop, &w->async, on_async);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->async.data = w;
    w->cancelled = dispatch_semaphore_create(0);
    if (w->cancelled != NULL)
        w->source = pressure_source(w);
    if (w->source == NULL) {
        bool no_memory = w->cancelled == NULL;
        if (!no_memory)
            dispatch_release(w->cancelled);
        uv_close((uv_handle_t *)&w->async, on_closed);
        if (no_memory)
            return -ENOMEM;
        log_info("memory pressure is not watched: no memory pressure dispatch source");
        return 0;
    }
    dispatch_resume(w->source);
    *out = w;
    return 0;
}

/* The source is cancelled and its cancel handler awaited before the async
 * handle closes: after that no handler can call uv_async_send on it. The
 * wait is short, since the handlers only ever call uv_async_send. */
void pressure_watch_stop(pressure_watch *w)
{
    if (w == NULL || uv_is_closing((uv_handle_t *)&w->async))
        return;
    dispatch_source_cancel(w->source);
    dispatch_semaphore_wait(w->cancelled, DISPATCH_TIME_FOREVER);
    dispatch_release(w->source);
    dispatch_release(w->cancelled);
    uv_close((uv_handle_t *)&w->async, on_closed);
}
