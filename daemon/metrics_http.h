/* The HTTP metrics endpoint: GET /metrics answers the Prometheus text of
 * metrics_write (metrics.h), the same as the admin command `metrics`, on a
 * TCP listener: the service manager's socket named "metrics" (systemd's
 * mempoold-metrics.socket, launchd's Sockets entry), else the policy's
 * metrics.listen, else none. A service module (daemon.c).
 *
 * Anything but GET or HEAD is 405, any other path 404. Nothing a
 * connection does may stall the loop or grow without bound: a request's
 * head is at most METRICS_HTTP_MAX_REQUEST bytes (431 past it), a
 * connection lives at most METRICS_HTTP_TIMEOUT_MS from accept to the last
 * byte of its response (a slow reader is closed then), and at most
 * METRICS_HTTP_MAX_CONNECTIONS are open at once (more are closed at
 * accept). One response per connection (Connection: close). */
#ifndef MEMPOOL_METRICS_HTTP_H
#define MEMPOOL_METRICS_HTTP_H

#include "daemon.h"

#define METRICS_HTTP_MAX_REQUEST 8192
#define METRICS_HTTP_TIMEOUT_MS 10000
#define METRICS_HTTP_MAX_CONNECTIONS 8

int metrics_http_start(daemon_state *d);
void metrics_http_stop(daemon_state *d);
void metrics_http_release(daemon_state *d);

/* What a request's head asks for: 200 (GET or HEAD /metrics), 400, 404,
 * 405. `head` holds the request line and headers, `len` bytes; *head_only
 * is set for HEAD. */
int metrics_http_route(const char *head, size_t len, bool *head_only);

#endif
