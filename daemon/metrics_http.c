/* GET /metrics over HTTP/1.x: a libuv TCP server of a few bounded
 * connections, each answered once and closed. */
#include "metrics_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"

typedef struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t deadline;       /* METRICS_HTTP_TIMEOUT_MS from accept */
    int open_handles;          /* freed when both are closed */
    struct metrics_http *srv;
    char head[METRICS_HTTP_MAX_REQUEST];
    size_t used;
    bool answered, closing;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    char *response;
    struct http_conn *prev, *next;
} http_conn;

typedef struct metrics_http {
    daemon_state *d;
    uv_tcp_t listener;
    bool listening;
    http_conn *conns;
    size_t nconns;
} metrics_http;

static metrics_http *endpoint;

/* ---- requests ------------------------------------------------------------- */

/* The end of the head (the blank line), or NULL while it has not come. */
static const char *head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            return buf + i + 2;
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return buf + i + 4;
    }
    return NULL;
}

int metrics_http_route(const char *head, size_t len, bool *head_only)
{
    const char *eol = memchr(head, '\n', len);
    char method[16], target[256], version[16];
    char line[300];
    size_t n = eol != NULL ? (size_t)(eol - head) : len;
    if (n >= sizeof line)
        return n >= METRICS_HTTP_MAX_REQUEST ? 431 : 404;
    memcpy(line, head, n);
    line[n] = '\0';
    if (sscanf(line, "%15s %255s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0)
        return 400;
    *head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !*head_only)
        return 405;
    size_t path_len = strcspn(target, "?");
    return path_len == 8 && memcmp(target, "/metrics", 8) == 0 ? 200 : 404;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Service Unavailable";
    }
}

/* The response, headers and body, in one malloc'd buffer; NULL when out of
 * memory. The body of 200 is the metrics text, of the others one line. */
static char *build_response(const daemon_state *d, int status, bool head_only, size_t *len)
{
    char *body = NULL, *out = NULL;
    size_t body_len = 0, out_len = 0;
    FILE *f = open_memstream(&body, &body_len);
    if (f == NULL)
        return NULL;
    if (status == 200 && metrics_write(d, f) != 0)
        status = 503;
    if (status != 200) {
        rewind(f);
        fprintf(f, "%d %s\n", status, reason(status));
    }
    fclose(f);
    if (body == NULL || (f = open_memstream(&out, &out_len)) == NULL) {
        free(body);
        return NULL;
    }
    fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
               "Connection: close\r\n\r\n",
            status, reason(status),
            status == 200 ? "text/plain; version=0.0.4" : "text/plain; charset=utf-8",
            body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head_only)
        fwrite(body, 1, body_len, f);
    fclose(f);
    free(body);
    *len = out_len;
    return out;
}

/* ---- connections ----------------------------------------------------------- */

static void conn_freed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    free(c->response);
    free(c);
}

static void conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    metrics_http *m = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    m->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
    uv_close((uv_handle_t *)&c->deadline, conn_freed);
}

static void shut_down(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static void written(uv_write_t *req, int status)
{
    http_conn *c = req->data;
    if (c->closing)
        return;
    c->shutdown_req.data = c;
    if (status < 0 || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, shut_down) != 0)
        conn_close(c);
}

static void answer(http_conn *c, int status, bool head_only)
{
    size_t len = 0;
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->response = build_response(c->srv->d, status, head_only, &len);
    uv_buf_t buf = uv_buf_init(c->response, (unsigned)len);
    c->write_req.data = c;
    if (c->response == NULL ||
        uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, written) != 0)
        conn_close(c);
}

static void alloc_head(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->head + c->used, (unsigned)(sizeof c->head - c->used));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->used += (size_t)nread;
    bool head_only = false;
    if (head_end(c->head, c->used) != NULL) {
        int status = metrics_http_route(c->head, c->used, &head_only);
        answer(c, status, head_only);
    } else if (c->used == sizeof c->head) {
        answer(c, 431, false);
    }
}

/* A connection still open at its deadline is a slow or silent client:
 * closed, whatever it was doing. */
static void deadline_passed(uv_timer_t *t)
{
    http_conn *c = t->data;
    log_debug("metrics: an HTTP connection was open %d ms; closed", METRICS_HTTP_TIMEOUT_MS);
    conn_close(c);
}

static http_conn *conn_new(metrics_http *m)
{
    http_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->srv = m;
    uv_tcp_init(m->d->loop, &c->tcp);
    uv_timer_init(m->d->loop, &c->deadline);
    c->tcp.data = c->deadline.data = c;
    c->open_handles = 2;
    c->next = m->conns;
    if (m->conns != NULL)
        m->conns->prev = c;
    m->conns = c;
    m->nconns++;
    return c;
}

static void on_connection(uv_stream_t *listener, int status)
{
    metrics_http *m = listener->data;
    if (status < 0)
        return;
    http_conn *c = conn_new(m);
    if (c == NULL)
        return;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        m->nconns > METRICS_HTTP_MAX_CONNECTIONS) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->deadline, deadline_passed, METRICS_HTTP_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_head, on_read) != 0)
        conn_close(c);
}

/* ---- the listener ----------------------------------------------------------- */

/* Binds metrics.listen; 0 or a libuv error (logged). */
static int bind_policy_address(metrics_http *m)
{
    char host[64];
    int family;
    uint16_t port;
    struct sockaddr_storage sa;
    if (policy_parse_address(m->d->pol->metrics_listen, &family, host, sizeof host, &port) != 0)
        return UV_EINVAL;
    int rc = family == AF_INET6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa)
                                : uv_ip4_addr(host, port, (struct sockaddr_in *)&sa);
    if (rc == 0)
        rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
    if (rc != 0)
        log_error("metrics: cannot listen on %s: %s", m->d->pol->metrics_listen, uv_strerror(rc));
    return rc;
}

/* The port actually bound (metrics.listen may say port 0). */
static void log_endpoint(metrics_http *m, bool activated)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getsockname(&m->listener, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    log_info("metrics: http://%s%s%s:%d/metrics%s", sa.ss_family == AF_INET6 ? "[" : "", host,
             sa.ss_family == AF_INET6 ? "]" : "", port, activated ? " (activated)" : "");
}

/* The service manager's socket, else metrics.listen. 1: nothing to serve. */
static int open_listener(metrics_http *m, bool *activated)
{
    int fd = activation_socket(ACTIVATION_METRICS_SOCKET);
    *activated = fd >= 0;
    if (fd == -ENOENT)
        return m->d->pol->metrics_listen == NULL ? 1 : bind_policy_address(m);
    if (fd >= 0)
        fd = listen_adopt_inet(fd);
    int rc = fd < 0 ? uv_translate_sys_error(-fd) : uv_tcp_open(&m->listener, fd);
    if (rc != 0) {
        log_error("metrics: the socket from the service manager: %s", uv_strerror(rc));
        if (fd >= 0)
            close(fd);
    }
    return rc;
}

static void listener_closed(uv_handle_t *h) { free(h->data); }

int metrics_http_start(daemon_state *d)
{
    metrics_http *m = calloc(1, sizeof *m);
    if (m == NULL)
        return -ENOMEM;
    m->d = d;
    uv_tcp_init(d->loop, &m->listener);
    m->listener.data = m;
    bool activated = false;
    int rc = open_listener(m, &activated);
    if (rc == 0 && (rc = uv_listen((uv_stream_t *)&m->listener, 64, on_connection)) != 0)
        log_error("metrics: listen: %s", uv_strerror(rc));
    if (rc != 0) {
        uv_close((uv_handle_t *)&m->listener, listener_closed);
        return rc > 0 ? 0 : rc;
    }
    m->listening = true;
    endpoint = m;
    log_endpoint(m, activated);
    return 0;
}

void metrics_http_stop(daemon_state *d)
{
    (void)d;
    if (endpoint == NULL)
        return;
    while (endpoint->conns != NULL)
        conn_close(endpoint->conns);
    uv_close((uv_handle_t *)&endpoint->listener, listener_closed);
}

void metrics_http_release(daemon_state *d)
{
    (void)d;
    endpoint = NULL; /* freed when its listener closed */
}
