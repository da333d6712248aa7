/* mempoolctl: sends one command to mempoold's admin socket and prints the
 * reply as tables (or the raw JSON with --json); `watch` redraws the pools
 * table until interrupted, through daemon restarts. Exit codes: 0 ok, 1
 * the daemon said no, 2 a usage or connection error. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ctl_args.h"
#include "ctl_conn.h"
#include "ctl_format.h"
#include "json_read.h"
#include "paths.h"
#include "proto.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define SYSTEM_ADMIN_SOCKET "/var/run/" MEMPOOL_ADMIN_SOCKET_FILE
#define MAX_COMMAND_LINE 4096

static const char synopsis[] =
    "usage: mempoolctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
    "       mempoolctl [-s SOCKET] watch [INTERVAL]\n"
    "       mempoolctl --help | --version\n";

static const char usage_text[] =
    "\n"
    "Commands (mempoolctl help asks the daemon for its list):\n"
    "  stats                    uptime, clients, requests, memory by state, OS footprint\n"
    "  pools | pool NAME        per-pool figures\n"
    "  clients                  connected clients and what they hold\n"
    "  names [POOL]             published names: pool, size, publisher, protection, age\n"
    "  scavenge [POOL] [BYTES]  give warm memory back to the OS now\n"
    "  reload                   re-read the policy file\n"
    "  policy                   the policy in force, every default filled in\n"
    "  log-level LEVEL          error, warn, info or debug\n"
    "  metrics                  Prometheus text exposition\n"
    "  version | help | shutdown\n"
    "  watch [INTERVAL]         redraw `pools` every INTERVAL, from 100ms to 24h\n"
    "                           (default 2s; as 2, 0.5, 500ms, 1.5s)\n"
    "\n"
    "Options go before or after the command; `--` ends them.\n"
    "  -s, --socket PATH  the admin socket: default $MEMPOOL_ADMIN_SOCKET, else the\n"
    "                     per-user socket if one is there, else " SYSTEM_ADMIN_SOCKET "\n"
    "  -j, --json         print the daemon's JSON reply line as it came\n"
    "  -h, --help         this text (no daemon needed)\n"
    "  -V, --version      mempoolctl's version (`mempoolctl version` asks the daemon)\n"
    "Tables fit the terminal's width ($COLUMNS when not a terminal); output\n"
    "to a pipe or file is never cut.\n"
    "Exit status: 0 ok, 1 the daemon said no, 2 usage or connection error.\n";

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int usage_error(const char *why)
{
    fprintf(stderr, "mempoolctl: %s\n%s(mempoolctl --help for more)\n", why, synopsis);
    return EXIT_USAGE;
}

/* The rule of the client library's socket, for the admin socket. */
static const char *default_socket(char *buf, size_t len)
{
    const char *env = getenv("MEMPOOL_ADMIN_SOCKET");
    if (env != NULL && env[0] != '\0')
        return env;
    if (mempool_user_socket(MEMPOOL_ADMIN_SOCKET_FILE, buf, len) != NULL)
        return buf;
    return SYSTEM_ADMIN_SOCKET;
}

static size_t output_width(void)
{
    struct winsize ws = { 0 };
    unsigned tty = 0;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        tty = ws.ws_col;
    return ctl_output_width(tty, getenv("COLUMNS"));
}

/* ---- one command --------------------------------------------------------- */

typedef enum outcome { REPLY_OK, REPLY_REFUSED, REPLY_MISUSED, REPLY_NONE } outcome;

/* The daemon's codes for a command or arguments it does not take: the
 * user's mistake, so a usage error (exit 2) rather than a refusal. */
static bool is_usage_code(const char *code)
{
    return strcmp(code, "unknown-command") == 0 || strcmp(code, "bad-arguments") == 0;
}

/* Sends `line` and prints the reply; a reply that did not come is left
 * to the caller, with its reason in c->message. */
static outcome run(ctl_conn *c, bool json, const char *line, const char *command, int *err)
{
    char why[128];
    char *reply = ctl_conn_exchange(c, line, err);
    if (reply == NULL)
        return REPLY_NONE;
    json_value *v = json_parse(reply, strlen(reply), why, sizeof why);
    if (v == NULL) {
        snprintf(c->message, sizeof c->message, "%s sent a reply that is not JSON (%s)",
                 c->path, why);
        *err = -EPROTO;
        return REPLY_NONE;
    }
    bool ok = json_get_bool(v, "ok", false);
    const char *code = json_get_string(v, "code", "");
    if (json)
        printf("%s\n", reply);
    else if (ok)
        ctl_print_reply(stdout, output_width(), command, v);
    else
        ctl_print_error(stderr, v);
    outcome o = ok ? REPLY_OK : is_usage_code(code) ? REPLY_MISUSED : REPLY_REFUSED;
    if (strcmp(code, "access-denied") == 0)
        fprintf(stderr, "mempoolctl: (socket %s)\n", c->path);
    json_value_free(v);
    fflush(stdout);
    return o;
}

static int exit_code(outcome o, const ctl_conn *c)
{
    switch (o) {
    case REPLY_OK: return EXIT_SUCCESS;
    case REPLY_REFUSED: return EXIT_REFUSED;
    case REPLY_MISUSED: fputs(synopsis, stderr); return EXIT_USAGE;
    default: fprintf(stderr, "mempoolctl: %s\n", c->message); return EXIT_USAGE;
    }
}

/* The words joined by spaces; -1 when a word could not survive the trip. */
static int join_words(char **words, int n, char *line, size_t len)
{
    size_t used = 0;
    char why[160];
    for (int i = 0; i < n; i++) {
        if (words[i][0] == '\0' || words[i][strcspn(words[i], " \t\r\n")] != '\0') {
            snprintf(why, sizeof why, "an argument cannot be empty or hold spaces: '%.64s'",
                     words[i]);
            return usage_error(why);
        }
        int w = snprintf(line + used, len - used, "%s%s", i ? " " : "", words[i]);
        if (w < 0 || (size_t)w >= len - used - 1)
            return usage_error("the command is too long");
        used += (size_t)w;
    }
    line[used++] = '\n';
    line[used] = '\0';
    return 0;
}

/* ---- watch --------------------------------------------------------------- */

static void draw_header(uint64_t ns, const char *path, const char *note)
{
    char stamp[32], line[512];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%H:%M:%S", localtime_r(&now, &tm));
    if (isatty(STDOUT_FILENO))
        fputs("\033[H\033[2J", stdout);
    snprintf(line, sizeof line, "every %.3gs: pools of %s  %s%s", (double)ns / 1e9, path, stamp,
             note);
    size_t max = output_width();
    printf("%.*s\n", (int)(max > 0 && max < strlen(line) ? max : strlen(line)), line);
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    nanosleep(&ts, NULL);
}

/* One frame: the table, or why there is none. Returns -1 when watch must
 * stop with *rc, 0 when it drew, 1 when mempoold did not answer. */
static int draw_frame(ctl_conn *c, uint64_t ns, bool was_lost, int *rc)
{
    int err = 0;
    draw_header(ns, c->path, was_lost ? "  (reconnecting)" : "");
    outcome o = run(c, false, "pools\n", "pools", &err);
    if (o == REPLY_OK)
        return 0;
    if (interrupted) {
        *rc = EXIT_SUCCESS;
        return -1;
    }
    if (o != REPLY_NONE || err == -EPROTOTYPE) {
        *rc = exit_code(o, c);
        return -1;
    }
    /* The daemon restarting: say so on the screen and try again. */
    ctl_conn_close(c);
    printf("mempoold is not answering: %s\nwatching on; trying again every %.3gs\n",
           c->message, (double)ns / 1e9);
    fflush(stdout);
    return 1;
}

/* Redraws until interrupted. The first connection must work (a wrong
 * path is an error at once); after that, a daemon that goes away is
 * waited for. */
static int watch(ctl_conn *c, int nwords, char **words)
{
    uint64_t ns = nwords > 1 ? ctl_parse_interval(words[1]) : CTL_INTERVAL_DEFAULT_NS;
    if (nwords > 2 || ns == 0)
        return usage_error("watch [INTERVAL]: a time from 100ms to 24h, as 2, 0.5, 500ms, 1.5s");
    if (ctl_conn_open(c) != 0)
        return exit_code(REPLY_NONE, c);
    bool lost = false;
    int rc = EXIT_SUCCESS;
    while (!interrupted) {
        int drawn = draw_frame(c, ns, lost, &rc);
        if (drawn < 0)
            return rc;
        if (drawn == 0 && lost)
            printf("reconnected\n");
        lost = drawn > 0;
        fflush(stdout);
        sleep_ns(ns);
    }
    return EXIT_SUCCESS;
}

/* ---- main ---------------------------------------------------------------- */

static void catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_interrupt };
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking read or sleep returns at Ctrl-C. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A daemon that goes away mid-write is an error to report (EPIPE), or
     * for watch a restart to wait out, never a reason to die. */
    signal(SIGPIPE, SIG_IGN);
}

static int run_command(ctl_conn *c, bool json, int nwords, char **words)
{
    char line[MAX_COMMAND_LINE + 2];
    int err = 0;
    if (join_words(words, nwords, line, sizeof line) != 0)
        return EXIT_USAGE;
    if (ctl_conn_open(c) != 0)
        return exit_code(REPLY_NONE, c);
    return exit_code(run(c, json, line, words[0], &err), c);
}

int main(int argc, char **argv)
{
    char default_path[256], why[160];
    ctl_args a;
    if (ctl_args_parse(argc, argv, &a, why, sizeof why) != 0)
        return usage_error(why);
    if (a.action == CTL_HELP) {
        printf("%s%s", synopsis, usage_text);
        return EXIT_SUCCESS;
    }
    if (a.action == CTL_VERSION) {
        printf("mempoolctl %s (protocol %d)\n", MEMPOOL_VERSION_STRING, PROTO_VERSION);
        return EXIT_SUCCESS;
    }
    ctl_conn c;
    ctl_conn_init(&c, a.socket != NULL ? a.socket : default_socket(default_path,
                                                                    sizeof default_path),
                  &interrupted);
    catch_signals();
    bool watching = strcmp(a.words[0], "watch") == 0;
    int rc = watching ? watch(&c, a.nwords, a.words) : run_command(&c, a.json, a.nwords, a.words);
    ctl_conn_free(&c);
    return rc;
}
