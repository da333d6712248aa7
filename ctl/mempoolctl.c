/* mempoolctl: sends one command to mempoold's admin socket and prints the
 * reply as tables (or the raw JSON with --json); `watch` redraws the pools
 * table until interrupted. Exit codes: 0 ok, 1 the daemon said no, 2 a
 * usage or connection error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_format.h"
#include "json_read.h"
#include "paths.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define SYSTEM_ADMIN_SOCKET "/var/run/" MEMPOOL_ADMIN_SOCKET_FILE
#define MAX_COMMAND_LINE 4096
#define MAX_REPLY (256u * 1024 * 1024)

static const char usage_text[] =
    "usage: mempoolctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
    "       mempoolctl [-s SOCKET] [--json] watch [INTERVAL]\n"
    "\n"
    "Commands (mempoolctl help asks the daemon for its list):\n"
    "  stats                    uptime, clients, requests, memory by state, OS footprint\n"
    "  pools | pool NAME        per-pool figures\n"
    "  clients                  connected clients and what they hold\n"
    "  scavenge [POOL] [BYTES]  give warm memory back to the OS now\n"
    "  reload                   re-read the policy file\n"
    "  policy                   the policy in force, every default filled in\n"
    "  log-level LEVEL          error, warn, info or debug\n"
    "  metrics                  Prometheus text exposition\n"
    "  version | help | shutdown\n"
    "  watch [INTERVAL]         redraw `pools` every INTERVAL (2s; 500ms, 0.5, 1s...)\n"
    "\n"
    "  -s, --socket PATH  the admin socket: default $MEMPOOL_ADMIN_SOCKET, else the\n"
    "                     per-user socket if one is there, else " SYSTEM_ADMIN_SOCKET "\n"
    "  -j, --json         print the daemon's JSON reply line as it came\n"
    "  -h, --help\n"
    "Exit status: 0 ok, 1 the daemon said no, 2 usage or connection error.\n";

typedef struct ctl {
    const char *path;
    bool json;
    int fd;
    char *buf;          /* what was read and not yet returned */
    size_t used, cap;
    size_t consumed;    /* the line returned last, with its '\n' */
} ctl;

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- the socket ---------------------------------------------------------- */

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

static void explain_connect_error(const char *path, int err)
{
    if (err == ENOENT)
        fprintf(stderr, "mempoolctl: no admin socket at %s: is mempoold running? "
                        "(-s PATH or MEMPOOL_ADMIN_SOCKET name another)\n", path);
    else if (err == ECONNREFUSED)
        fprintf(stderr, "mempoolctl: nothing answers at %s: mempoold is not running "
                        "(the socket file is left from an earlier run)\n", path);
    else if (err == EACCES || err == EPERM)
        fprintf(stderr, "mempoolctl: permission denied on %s: the admin socket is for the "
                        "users in the policy's admin.users and admin.groups\n", path);
    else
        fprintf(stderr, "mempoolctl: cannot connect to %s: %s\n", path, strerror(err));
}

static int connect_admin(ctl *c)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(c->path) >= sizeof sa.sun_path) {
        explain_connect_error(c->path, ENAMETOOLONG);
        return -1;
    }
    strcpy(sa.sun_path, c->path);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        explain_connect_error(c->path, errno);
        return -1;
    }
    return 0;
}

/* 0, or the errno of the failed write. */
static int send_line(ctl *c, const char *line)
{
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = write(c->fd, line + done, len - done);
        if (n < 0 && errno == EINTR && !interrupted)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (size_t)n;
    }
    return 0;
}

/* Reads more; 0, or the errno of the failure (EPIPE: the daemon closed). */
static int fill(ctl *c)
{
    if (c->used == c->cap) {
        size_t cap = c->cap == 0 ? 65536 : c->cap * 2;
        char *buf = cap <= MAX_REPLY ? realloc(c->buf, cap + 1) : NULL;
        if (buf == NULL)
            return EFBIG;
        c->buf = buf;
        c->cap = cap;
    }
    ssize_t n;
    do
        n = read(c->fd, c->buf + c->used, c->cap - c->used);
    while (n < 0 && errno == EINTR && !interrupted);
    if (n <= 0)
        return n < 0 ? errno : EPIPE;
    c->used += (size_t)n;
    return 0;
}

/* The next reply line, NUL-terminated, without its '\n'; NULL with *err
 * set when none came. */
static char *read_line(ctl *c, int *err)
{
    if (c->consumed > 0) {
        memmove(c->buf, c->buf + c->consumed, c->used - c->consumed);
        c->used -= c->consumed;
        c->consumed = 0;
    }
    char *nl = NULL;
    while (c->used == 0 || (nl = memchr(c->buf, '\n', c->used)) == NULL)
        if ((*err = fill(c)) != 0)
            return NULL;
    *nl = '\0';
    c->consumed = (size_t)(nl - c->buf) + 1;
    return c->buf;
}

/* Sends `line` and reads the reply. A daemon that refuses a connection
 * replies and closes at once, so a failed send can still have a reply. */
static char *exchange(ctl *c, const char *line)
{
    int send_err = send_line(c, line), read_err = 0;
    char *reply = read_line(c, &read_err);
    if (reply != NULL || interrupted)
        return reply;
    if (send_err != 0)
        fprintf(stderr, "mempoolctl: cannot send to %s: %s\n", c->path, strerror(send_err));
    else if (read_err == EFBIG)
        fprintf(stderr, "mempoolctl: the reply from %s is too large\n", c->path);
    else if (read_err == EPIPE)
        fprintf(stderr, "mempoolctl: mempoold at %s closed the connection without a reply\n",
                c->path);
    else
        fprintf(stderr, "mempoolctl: no reply from mempoold at %s: %s\n", c->path,
                strerror(read_err));
    return NULL;
}

/* ---- one command --------------------------------------------------------- */

/* Sends `line`, prints the reply; returns the exit code. */
static int run(ctl *c, const char *line, const char *command)
{
    char err[128];
    char *reply = exchange(c, line);
    if (reply == NULL)
        return EXIT_USAGE;
    json_value *v = json_parse(reply, strlen(reply), err, sizeof err);
    if (v == NULL) {
        fprintf(stderr, "mempoolctl: %s sent a reply that is not JSON (%s)\n", c->path, err);
        return EXIT_USAGE;
    }
    bool ok = json_get_bool(v, "ok", false);
    if (c->json)
        printf("%s\n", reply);
    else if (ok)
        ctl_print_reply(stdout, command, v);
    else
        ctl_print_error(stderr, v);
    if (!ok && strcmp(json_get_string(v, "code", ""), "access-denied") == 0)
        fprintf(stderr, "mempoolctl: (socket %s)\n", c->path);
    json_value_free(v);
    fflush(stdout);
    return ok ? EXIT_SUCCESS : EXIT_REFUSED;
}

/* The words joined by spaces; -1 when a word could not survive the trip. */
static int join_words(char **words, int n, char *line, size_t len)
{
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (words[i][0] == '\0' || words[i][strcspn(words[i], " \t\r\n")] != '\0') {
            fprintf(stderr, "mempoolctl: an argument cannot be empty or hold spaces: '%s'\n",
                    words[i]);
            return -1;
        }
        int w = snprintf(line + used, len - used, "%s%s", i ? " " : "", words[i]);
        if (w < 0 || (size_t)w >= len - used - 1) {
            fprintf(stderr, "mempoolctl: the command is too long\n");
            return -1;
        }
        used += (size_t)w;
    }
    line[used++] = '\n';
    line[used] = '\0';
    return 0;
}

/* ---- watch --------------------------------------------------------------- */

/* "2", "0.5", "500ms", "2s" -> nanoseconds; 0 when invalid. */
static uint64_t parse_interval(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || v <= 0 || v > 86400)
        return 0;
    if (strcmp(end, "ms") == 0)
        v /= 1000;
    else if (*end != '\0' && strcmp(end, "s") != 0)
        return 0;
    return v * 1e9 < 1e6 ? 0 : (uint64_t)(v * 1e9);
}

static int watch(ctl *c, int argc, char **argv)
{
    uint64_t ns = argc > 1 ? parse_interval(argv[1]) : 2000000000ull;
    if (argc > 2 || ns == 0) {
        fprintf(stderr, "mempoolctl: watch [INTERVAL]: a time from 1ms to 24h, as 2, 0.5, 500ms\n");
        return EXIT_USAGE;
    }
    bool tty = isatty(STDOUT_FILENO);
    while (!interrupted) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(stamp, sizeof stamp, "%H:%M:%S", localtime_r(&now, &tm));
        if (tty)
            fputs("\033[H\033[2J", stdout);
        printf("every %.3gs: pools of %s  %s\n", (double)ns / 1e9, c->path, stamp);
        int rc = run(c, "pools\n", "pools");
        if (rc != EXIT_SUCCESS)
            return interrupted ? EXIT_SUCCESS : rc;
        struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
        nanosleep(&ts, NULL);
    }
    return EXIT_SUCCESS;
}

/* ---- main ---------------------------------------------------------------- */

static void catch_interrupts(void)
{
    struct sigaction sa = { .sa_handler = on_interrupt };
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking read or sleep returns at Ctrl-C. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const struct option options[] = {
    { "socket", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Options come before the command ('+'), so a command's own words such as
 * a negative-looking argument are never taken for options. */
static int parse_options(int argc, char **argv, ctl *c)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "+s:jh", options, NULL)) != -1) {
        if (opt == 's')
            c->path = optarg;
        else if (opt == 'j')
            c->json = true;
        else if (opt == 'h') {
            fputs(usage_text, stdout);
            exit(EXIT_SUCCESS);
        } else {
            fputs(usage_text, stderr);
            return -1;
        }
    }
    if (optind == argc) {
        fputs(usage_text, stderr);
        return -1;
    }
    return optind;
}

int main(int argc, char **argv)
{
    char default_path[256], line[MAX_COMMAND_LINE + 2];
    ctl c = { .fd = -1 };
    int first = parse_options(argc, argv, &c);
    if (first < 0)
        return EXIT_USAGE;
    if (c.path == NULL)
        c.path = default_socket(default_path, sizeof default_path);
    bool watching = strcmp(argv[first], "watch") == 0;
    if (!watching && join_words(argv + first, argc - first, line, sizeof line) != 0)
        return EXIT_USAGE;
    catch_interrupts();
    int rc = connect_admin(&c) != 0 ? EXIT_USAGE
             : watching            ? watch(&c, argc - first, argv + first)
                                   : run(&c, line, argv[first]);
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    return rc;
}
