#include "bench_daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mempool.h"

static void fail(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static void write_policy(const bench_daemon *d, const char *rest)
{
    FILE *f = fopen(d->policy, "w");
    if (f == NULL)
        fail("cannot write the policy");
    fprintf(f, "listen: { socket: %s }\nadmin: { socket: %s }\nlog: { level: warn }\n%s",
            d->socket, d->admin_socket, rest);
    fclose(f);
}

void bench_daemon_start(bench_daemon *d, const char *rest)
{
    strcpy(d->dir, "/tmp/mempoold-bench-XXXXXX");
    if (mkdtemp(d->dir) == NULL)
        fail("mkdtemp failed");
    snprintf(d->socket, sizeof d->socket, "%s/mempoold.sock", d->dir);
    snprintf(d->admin_socket, sizeof d->admin_socket, "%s/admin.sock", d->dir);
    snprintf(d->policy, sizeof d->policy, "%s/policy.yaml", d->dir);
    write_policy(d, rest);
    if ((d->pid = fork()) == 0) {
        execl(MEMPOOLD_PATH, "mempoold", "-c", d->policy, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        mempool_client *c;
        if (mempool_connect(d->socket, &c) == 0) {
            mempool_disconnect(c);
            return;
        }
        usleep(10000);
    }
    fail("mempoold did not start");
}

void bench_daemon_stop(bench_daemon *d)
{
    kill(d->pid, SIGTERM);
    waitpid(d->pid, NULL, 0);
    unlink(d->socket);
    unlink(d->admin_socket);
    unlink(d->policy);
    rmdir(d->dir);
}
