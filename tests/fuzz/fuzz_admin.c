/* libFuzzer: the admin command line (daemon/admin_cmds.c: the text check,
 * the word splitter, the command table's name and argument checks, and
 * the handlers that need no event loop) over a real pool set. The input is
 * cut into lines at '\n', as the admin socket cuts them; each line gets
 * exactly one reply line (or none for a blank line), and that reply must
 * be one JSON object, read by mempoolctl's own reader, whose "ok" says
 * what admin_execute returned. Never a crash, a leak or undefined
 * behavior. `scavenge`, `reload` and `clients` are left out: they need the
 * running daemon's scavenger, policy file and server (the integration
 * suite drives them through the socket). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "json_read.h"
#include "log.h"

static const char policy_text[] =
    "pools:\n"
    "  - name: blk\n"
    "    reserve: 64MiB\n"
    "    limit: 16MiB\n"
    "  - name: sh.r-2\n"
    "    reserve: 64MiB\n"
    "    limit: 8MiB\n"
    "    isolation: pool\n";

static daemon_state d;
static json_writer out;
static const peer_cred me = { .pid = 1, .uid = 0 };

static void start(void)
{
    policy_error err = { 0 };
    char msg[256];
    if (policy_load_buffer("fuzz_admin", policy_text, strlen(policy_text), &d.pol, &err) != 0 ||
        pool_set_new(d.pol, &d.pools, msg, sizeof msg) != 0) {
        fprintf(stderr, "fuzz_admin: cannot set up: %s %s\n", err.text, msg);
        abort();
    }
    d.started_ns = daemon_now_ns();
    json_init(&out);
}

static bool needs_the_daemon(const char *line, size_t len)
{
    static const char *const left_out[] = { "scavenge", "reload", "clients" };
    size_t skip = 0;
    while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
        skip++;
    for (size_t i = 0; i < sizeof left_out / sizeof left_out[0]; i++) {
        size_t n = strlen(left_out[i]);
        if (len - skip >= n && memcmp(line + skip, left_out[i], n) == 0)
            return true;
    }
    return false;
}

static void check_reply(admin_outcome outcome)
{
    if (out.len < 2 || out.text[out.len - 1] != '\n' ||
        memchr(out.text, '\n', out.len) != out.text + out.len - 1) {
        fprintf(stderr, "fuzz_admin: the reply is not one line\n");
        abort();
    }
    char err[128] = "";
    json_value *v = json_parse(out.text, out.len - 1, err, sizeof err);
    if (v == NULL || json_get(v, "ok") == NULL ||
        json_get_bool(v, "ok", outcome != ADMIN_DONE) != (outcome == ADMIN_DONE)) {
        fprintf(stderr, "fuzz_admin: bad reply (%s): %.*s\n", err, (int)out.len, out.text);
        abort();
    }
    json_value_free(v);
}

/* One line as admin.c hands it over: its bytes, and room for the '\0'
 * that replaces the '\n', in a buffer of exactly that size. */
static void run_line(const uint8_t *text, size_t len)
{
    if (len > ADMIN_MAX_LINE || needs_the_daemon((const char *)text, len))
        return;
    char *line = malloc(len + 1);
    if (line == NULL)
        return;
    memcpy(line, text, len);
    line[len] = '\n';
    admin_call call = { .d = &d, .peer = &me, .out = &out };
    admin_outcome outcome = admin_execute(&call, line, len);
    if (outcome != ADMIN_NO_REPLY)
        check_reply(outcome);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (d.pol == NULL)
        start();
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
        run_line(data + at, len);
        at += len + 1;
    }
    /* `log-level debug` would make every later input log its lines. */
    log_set_level(LOG_LEVEL_ERROR);
    d.stopping = false;
    return 0;
}
