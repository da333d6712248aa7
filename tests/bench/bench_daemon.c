#include "bench_daemon.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
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

void bench_daemon_start_on(bench_daemon *d, const char *rest, int cpu)
{
    strcpy(d->dir, "/tmp/mempoold-bench-XXXXXX");
    if (mkdtemp(d->dir) == NULL)
        fail("mkdtemp failed");
    snprintf(d->socket, sizeof d->socket, "%s/mempoold.sock", d->dir);
    snprintf(d->admin_socket, sizeof d->admin_socket, "%s/admin.sock", d->dir);
    snprintf(d->policy, sizeof d->policy, "%s/policy.yaml", d->dir);
    write_policy(d, rest);
    if ((d->pid = fork()) == 0) {
        if (cpu >= 0)
            bench_pin(0, cpu);
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

void bench_daemon_start(bench_daemon *d, const char *rest) { bench_daemon_start_on(d, rest, -1); }

void bench_daemon_stop(bench_daemon *d)
{
    kill(d->pid, SIGTERM);
    waitpid(d->pid, NULL, 0);
    unlink(d->socket);
    unlink(d->admin_socket);
    unlink(d->policy);
    rmdir(d->dir);
}

int bench_admin_connect(const bench_daemon *d)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(d->admin_socket) >= sizeof sa.sun_path)
        fail("admin socket path too long");
    memcpy(sa.sun_path, d->admin_socket, strlen(d->admin_socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        bench_die("admin socket", 0);
    return fd;
}

/* Reads up to the reply's newline; what does not fit in buf is skipped. */
void bench_admin_ask(int fd, const char *command, char *buf, size_t len)
{
    size_t n = strlen(command), used = 0;
    if (write(fd, command, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
        bench_die("admin write", 0);
    for (;;) {
        char chunk[65536];
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got <= 0)
            bench_die("admin read", 0);
        size_t take = (size_t)got < len - 1 - used ? (size_t)got : len - 1 - used;
        memcpy(buf + used, chunk, take);
        used += take;
        if (memchr(chunk, '\n', (size_t)got) != NULL)
            break;
    }
    buf[used] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl != NULL)
        *nl = '\0';
}

uint64_t bench_daemon_cpu_ns(const bench_daemon *d)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)d->pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        bench_die("opendir /proc/PID/task", 0);
    uint64_t total = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char file[384];
        unsigned long long ns = 0;
        snprintf(file, sizeof file, "%s/%s/schedstat", path, e->d_name);
        FILE *f = fopen(file, "re");
        if (f != NULL && fscanf(f, "%llu", &ns) == 1)
            total += ns;
        if (f != NULL)
            fclose(f);
    }
    closedir(dir);
    return total;
}
