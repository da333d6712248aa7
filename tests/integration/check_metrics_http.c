/* The HTTP metrics endpoint (daemon/metrics_http.c) against the real
 * daemon, on 127.0.0.1 and a port the kernel picks (metrics.listen:
 * 127.0.0.1:0; the daemon logs the port):
 *   - GET /metrics is 200 with Content-Type text/plain; version=0.0.4 and
 *     the same families as the admin `metrics`; HEAD has no body; another
 *     path is 404, another method 405 with Allow;
 *   - the new series: refused requests by type and code, build info,
 *     reload outcome, backings, process_* against what /proc says;
 *   - bounds: a head past 8 KiB is 431 and closed, a silent connection is
 *     closed at the deadline, past 8 connections a new one is closed at
 *     once, and all the while a client allocates and the admin socket
 *     answers.
 * With the argument `promtool`, both outputs (HTTP and admin) go through
 * `promtool check metrics`; exit 77 (skipped) where promtool is missing. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define SKIPPED 77
#define DEADLINE_MS 10000 /* METRICS_HTTP_TIMEOUT_MS */

static fixture fx;
static int port;

/* "metrics: http://127.0.0.1:PORT/metrics" in the log. */
static int logged_port(void)
{
    for (int tries = 0; tries < 500; tries++) {
        char line[1024];
        FILE *f = fopen(fx.log, "r");
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            const char *at = strstr(line, "metrics: http://127.0.0.1:");
            if (at != NULL) {
                fclose(f);
                return atoi(at + strlen("metrics: http://127.0.0.1:"));
            }
        }
        if (f != NULL)
            fclose(f);
        sleep_ms(10);
    }
    fixture_dump_log(&fx);
    ck_abort_msg("the daemon did not log its metrics port");
    return 0;
}

static void setup(void)
{
    fixture_start(&fx, "metrics:\n  listen: 127.0.0.1:0\n"
                       "pools:\n  - name: default\n    reserve: 1GiB\n    limit: 64MiB\n");
    port = logged_port();
}

static void teardown(void) { fixture_cleanup(&fx); }

static int http_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
                  strerror(errno));
    struct timeval tv = { .tv_sec = 30 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Everything the server sends until it closes (malloc'd). */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (used + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

static char *request(const char *text)
{
    int fd = http_connect();
    ck_assert_int_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
    size_t len;
    char *reply = read_all(fd, &len);
    close(fd);
    return reply;
}

static const char *body_of(const char *reply)
{
    const char *b = strstr(reply, "\r\n\r\n");
    ck_assert_ptr_nonnull(b);
    return b + 4;
}

/* The value of a sample line "name value" (or "name{...} value"). */
static double sample(const char *text, const char *name)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = strstr(text, needle);
    ck_assert_msg(at != NULL, "no sample %s", name);
    return strtod(at + strlen(needle), NULL);
}

/* The admin `metrics` reply's text, through mempoolctl's socket protocol:
 * a JSON line whose "text" field holds it (\n escaped). */
static char *admin_metrics(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, fx.admin_socket);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, "metrics\n", 8), 8);
    shutdown(fd, SHUT_WR);
    size_t len;
    char *json = read_all(fd, &len);
    close(fd);
    const char *start = strstr(json, "\"text\":\"");
    ck_assert_msg(start != NULL, "admin metrics: %.200s", json);
    char *text = malloc(len + 1), *o = text;
    for (const char *p = start + 8; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] == 'n')
            *o++ = '\n', p++;
        else if (*p == '\\' && p[1] != '\0')
            *o++ = *++p;
        else
            *o++ = *p;
    }
    *o = '\0';
    free(json);
    return text;
}

START_TEST(get_metrics_is_prometheus_text)
{
    char *reply = request("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ck_assert_msg(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.100s", reply);
    ck_assert_ptr_nonnull(strstr(reply, "\r\nContent-Type: text/plain; version=0.0.4\r\n"));
    const char *body = body_of(reply);
    char length[64];
    snprintf(length, sizeof length, "\r\nContent-Length: %zu\r\n", strlen(body));
    ck_assert_ptr_nonnull(strstr(reply, length));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE mempool_clients gauge\n"));
    ck_assert_ptr_nonnull(
        strstr(body, "mempool_build_info{version=\"" MEMPOOL_VERSION_STRING "\"} 1\n"));
    ck_assert(sample(body, "mempool_config_last_reload_successful") == 1);
    free(reply);
    /* A query string is the same resource; HEAD has the headers only. */
    reply = request("GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    ck_assert(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(reply);
    reply = request("HEAD /metrics HTTP/1.1\r\n\r\n");
    ck_assert(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ck_assert_str_eq(body_of(reply), "");
    free(reply);
}
END_TEST

START_TEST(other_paths_and_methods_are_refused)
{
    char *reply = request("GET / HTTP/1.1\r\n\r\n");
    ck_assert_msg(strncmp(reply, "HTTP/1.1 404 ", 13) == 0, "%.100s", reply);
    free(reply);
    reply = request("GET /metricsX HTTP/1.1\r\n\r\n");
    ck_assert(strncmp(reply, "HTTP/1.1 404 ", 13) == 0);
    free(reply);
    reply = request("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    ck_assert_msg(strncmp(reply, "HTTP/1.1 405 ", 13) == 0, "%.100s", reply);
    ck_assert_ptr_nonnull(strstr(reply, "\r\nAllow: GET, HEAD\r\n"));
    free(reply);
    reply = request("nonsense\r\n\r\n");
    ck_assert(strncmp(reply, "HTTP/1.1 400 ", 13) == 0);
    free(reply);
}
END_TEST

START_TEST(refused_requests_are_counted_by_code)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "nosuchpool", 4096, 0, &b), MEMPOOL_ENOPOOL);
    ck_assert_int_eq(mempool_alloc(c, "nosuchpool", 4096, 0, &b), MEMPOOL_ENOPOOL);
    ck_assert_int_eq(mempool_alloc(c, "default", 1ull << 40, 0, &b), MEMPOOL_E2BIG);
    char *reply = request("GET /metrics HTTP/1.1\r\n\r\n");
    const char *body = body_of(reply);
    ck_assert(sample(body, "mempool_request_errors_total{type=\"alloc\","
                           "code=\"MEMPOOL_ENOPOOL\"}") == 2);
    ck_assert(sample(body, "mempool_request_errors_total{type=\"alloc\","
                           "code=\"MEMPOOL_E2BIG\"}") == 1);
    free(reply);
    mempool_disconnect(c);
}
END_TEST

/* process_* against the kernel's own figures for the daemon. */
START_TEST(process_figures_match_proc)
{
    double asked = (double)time(NULL);
    char *reply = request("GET /metrics HTTP/1.1\r\n\r\n");
    const char *body = body_of(reply);
    int fds = fixture_fd_count(&fx);
    double open_fds = sample(body, "process_open_fds");
    /* The scrape's own connection may or may not be open in both counts. */
    ck_assert_msg(open_fds >= fds - 2 && open_fds <= fds + 2, "%f fds, /proc says %d", open_fds,
                  fds);
    ck_assert(sample(body, "process_max_fds") >= 1024);
    ck_assert(sample(body, "process_resident_memory_bytes") > 1 << 20);
    ck_assert(sample(body, "process_virtual_memory_bytes") >= 1ull << 30); /* the reserve */
    double start = sample(body, "process_start_time_seconds");
    double uptime = sample(body, "mempool_uptime_seconds");
    /* time() truncates, and the kernel's boot time (btime) is whole
     * seconds: a couple of seconds either way. The scrape happened
     * between `asked` and now, however long a loaded machine took. */
    double now = (double)time(NULL);
    ck_assert_msg(start > asked - uptime - 3 && start < now + 2,
                  "start %f, uptime %f, asked at %f, now %f", start, uptime, asked, now);
    ck_assert(sample(body, "process_cpu_seconds_total") >= 0);
    ck_assert(sample(body, "mempool_backings_budget") > 0);
    free(reply);
}
END_TEST

START_TEST(an_oversized_head_is_431)
{
    int fd = http_connect();
    char junk[9000];
    memset(junk, 'a', sizeof junk);
    memcpy(junk, "GET /metrics HTTP/1.1\r\nX: ", 26);
    send(fd, junk, sizeof junk, MSG_NOSIGNAL);
    size_t len;
    char *reply = read_all(fd, &len);
    ck_assert_msg(strncmp(reply, "HTTP/1.1 431 ", 13) == 0, "%.100s", reply);
    free(reply);
    close(fd);
}
END_TEST

static void clients_and_admin_work(void)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 64 * 1024, 0, &b), 0);
    memset(b.addr, 1, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
    char *text = admin_metrics();
    ck_assert_ptr_nonnull(strstr(text, "mempool_build_info"));
    free(text);
}

/* Eight silent connections hold every slot: a ninth is closed at once,
 * clients and the admin socket go on, and at the deadline the silent ones
 * are closed and the endpoint answers again. */
START_TEST(silent_connections_are_bounded_and_closed)
{
    int silent[8];
    uint64_t opened = now_ms();
    for (int i = 0; i < 8; i++) {
        silent[i] = http_connect();
        send(silent[i], "GET /met", 8, MSG_NOSIGNAL); /* and nothing more */
    }
    sleep_ms(200);
    int extra = http_connect();
    size_t len;
    char *nothing = read_all(extra, &len);
    ck_assert_uint_eq(len, 0); /* closed without a word */
    free(nothing);
    close(extra);
    clients_and_admin_work();
    for (int i = 0; i < 8; i++) {
        char *left = read_all(silent[i], &len);
        ck_assert_uint_eq(len, 0);
        free(left);
        close(silent[i]);
    }
    uint64_t waited = now_ms() - opened;
    ck_assert_msg(waited >= DEADLINE_MS - 500, "closed after %llu ms", (unsigned long long)waited);
    char *reply = request("GET /metrics HTTP/1.1\r\n\r\n");
    ck_assert(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(reply);
}
END_TEST

/* ---- promtool ------------------------------------------------------------------ */

static bool have_promtool(void) { return system("command -v promtool >/dev/null 2>&1") == 0; }

/* `promtool check metrics` reads the text on its standard input; its
 * complaints go to the test's output. */
static int promtool_check(const char *text)
{
    fflush(NULL);
    FILE *p = popen("promtool check metrics", "w");
    ck_assert_ptr_nonnull(p);
    fputs(text, p);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(promtool_accepts_both_outputs)
{
    /* Some refused requests first, so that every family has samples. */
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "nosuchpool", 4096, 0, &b), MEMPOOL_ENOPOOL);
    ck_assert_int_eq(mempool_alloc(c, "default", 4096, 0, &b), 0);
    char *reply = request("GET /metrics HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(promtool_check(body_of(reply)), 0);
    free(reply);
    char *text = admin_metrics();
    ck_assert_int_eq(promtool_check(text), 0);
    free(text);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("metrics_http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    if (argc > 1 && strcmp(argv[1], "promtool") == 0) {
        if (!have_promtool()) {
            fprintf(stderr, "promtool not found (Debian: apt-get install prometheus)\n");
            return SKIPPED;
        }
        tcase_add_test(tc, promtool_accepts_both_outputs);
    } else {
        tcase_add_test(tc, get_metrics_is_prometheus_text);
        tcase_add_test(tc, other_paths_and_methods_are_refused);
        tcase_add_test(tc, refused_requests_are_counted_by_code);
        tcase_add_test(tc, process_figures_match_proc);
        tcase_add_test(tc, an_oversized_head_is_431);
        tcase_add_test(tc, silent_connections_are_bounded_and_closed);
    }
    suite_add_tcase(s, tc);
    return check_run(s);
}
