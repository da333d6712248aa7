/* mempoold: the command line. Everything else lives in daemon.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config_cmd.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"

static const char usage_text[] =
    "usage: mempoold [-c FILE]            run in the foreground on the policy FILE\n"
    "       mempoold --check-config FILE  validate FILE; one line per pool, exit 0 (2 if invalid)\n"
    "       mempoold --print-config FILE  print the effective policy, every default filled in\n"
    "       mempoold --help | --version\n"
    "\n"
    "  -c, --config FILE   the policy (default " MEMPOOL_DEFAULT_POLICY ")\n"
    "  --log-file PATH     log to PATH (appended) instead of stderr, and open it\n"
    "                      again once it is rotated away (newsyslog needs no signal)\n"
    "\n"
    "mempoold never forks: run it under systemd, launchd, or in a terminal.\n"
    "Signals: SIGTERM/SIGINT stop it (exit 0), SIGHUP reloads the policy.\n"
    "\n"
    "The sockets: the policy's listen.socket and admin.socket. Left at their\n"
    "defaults (/var/run/mempoold.sock, /var/run/mempoold.admin.sock), a daemon\n"
    "that cannot write to /var/run (not root) uses the per-user folder instead:\n"
    "$XDG_RUNTIME_DIR, else /tmp/mempoold-UID.\n"
    "Clients (mempool(3)) do not read the policy; they try, in order:\n"
    "  1. $MEMPOOL_SOCKET, when set;\n"
    "  2. the per-user path, when a socket is there: /var/run/mempoold.sock for\n"
    "     root, else $XDG_RUNTIME_DIR/mempoold.sock, else\n"
    "     /tmp/mempoold-UID/mempoold.sock;\n"
    "  3. /var/run/mempoold.sock.\n"
    "mempoolctl does the same for the admin socket, with $MEMPOOL_ADMIN_SOCKET\n"
    "and mempoold.admin.sock. A policy that moves listen.socket elsewhere needs\n"
    "MEMPOOL_SOCKET (or the path given to mempool_connect) in its clients.\n";

enum { OPT_CHECK = 1000, OPT_PRINT, OPT_LOG_FILE };

static const struct option options[] = {
    { "config", required_argument, NULL, 'c' },
    { "check-config", required_argument, NULL, OPT_CHECK },
    { "print-config", required_argument, NULL, OPT_PRINT },
    { "log-file", required_argument, NULL, OPT_LOG_FILE },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
    const char *config = MEMPOOL_DEFAULT_POLICY;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case OPT_CHECK:
            return config_check(optarg, stdout, stderr);
        case OPT_PRINT:
            return config_print(optarg, stdout, stderr);
        case OPT_LOG_FILE:
            if (log_to_file(optarg) != 0) {
                fprintf(stderr, "mempoold: cannot open the log file %s: %s\n", optarg,
                        strerror(errno));
                return 1;
            }
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("mempoold %s (protocol %d)\n", MEMPOOL_VERSION_STRING, PROTO_VERSION);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mempoold: unexpected argument '%s'\n%s", argv[optind], usage_text);
        return 2;
    }
    return daemon_main(config);
}
