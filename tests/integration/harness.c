#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* How long the harness polls (the daemon's start, wait_*) before it
 * gives up: what the daemon does in milliseconds can take seconds on a
 * loaded machine under a sanitizer, and waiting longer costs nothing
 * when the condition comes. */
#define WAIT_MS 30000

void fixture_write_policy(fixture *f, const char *pools_yaml)
{
    FILE *fp = fopen(f->policy, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp,
            "listen:\n  socket: %s\n  mode: 0666\n"
            "admin:\n  socket: %s\n  mode: 0600\n"
            "log:\n  level: debug\n"
            "%s",
            f->socket, f->admin_socket, pools_yaml);
    ck_assert_int_eq(fclose(fp), 0);
}

static void spawn(fixture *f)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execl(MEMPOOLD_PATH, "mempoold", "-c", f->policy, (char *)NULL);
        _exit(127);
    }
    f->pid = pid;
    for (uint64_t end = now_ms() + WAIT_MS; now_ms() <= end;) {
        mempool_client *c;
        if (mempool_connect(f->socket, &c) == 0) {
            mempool_disconnect(c);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            f->pid = 0;
            fixture_dump_log(f);
            ck_abort_msg("mempoold exited at start");
        }
        sleep_ms(10);
    }
    fixture_dump_log(f);
    ck_abort_msg("mempoold did not answer on %s", f->socket);
}

void fixture_start(fixture *f, const char *pools_yaml)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/mempoold-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    /* Clients that dropped to nobody must reach the socket inside. */
    chmod(f->dir, 0755);
    snprintf(f->socket, sizeof f->socket, "%s/mempoold.sock", f->dir);
    snprintf(f->admin_socket, sizeof f->admin_socket, "%s/admin.sock", f->dir);
    snprintf(f->policy, sizeof f->policy, "%s/policy.yaml", f->dir);
    snprintf(f->log, sizeof f->log, "%s/mempoold.log", f->dir);
    fixture_write_policy(f, pools_yaml);
    spawn(f);
}

void fixture_restart(fixture *f) { spawn(f); }

int fixture_stop(fixture *f)
{
    int status;
    if (f->pid <= 0)
        return -1;
    kill(f->pid, SIGTERM);
    ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
    f->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void fixture_dump_log(const fixture *f)
{
    char line[1024];
    FILE *fp = fopen(f->log, "r");
    if (fp == NULL)
        return;
    fprintf(stderr, "---- mempoold log (%s)\n", f->log);
    while (fgets(line, sizeof line, fp) != NULL)
        fputs(line, stderr);
    fclose(fp);
}

void fixture_cleanup(fixture *f)
{
    if (f->pid > 0 && fixture_stop(f) != 0)
        fixture_dump_log(f);
    char path[256];
    const char *names[] = { "mempoold.sock", "admin.sock", "policy.yaml", "mempoold.log" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
}

int fixture_fd_count(const fixture *f)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)f->pid);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

mempool_client *connect_or_die(const fixture *f)
{
    mempool_client *c = NULL;
    int rc = mempool_connect(f->socket, &c);
    ck_assert_msg(rc == 0, "connect %s: %s", f->socket, mempool_strerror(rc));
    return c;
}

uint64_t wait_in_use(mempool_client *c, const char *pool, uint64_t want)
{
    mempool_info info = { 0 };
    for (uint64_t end = now_ms() + WAIT_MS;;) {
        ck_assert_int_eq(mempool_pool_info(c, pool, &info), 0);
        if (info.in_use == want || now_ms() > end)
            break;
        sleep_ms(10);
    }
    return info.in_use;
}

int settled_fd_count(const fixture *f, mempool_client *c)
{
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    return fixture_fd_count(f);
}

int wait_fd_count(const fixture *f, int want)
{
    int n = fixture_fd_count(f);
    for (uint64_t end = now_ms() + WAIT_MS; n != want && now_ms() <= end;) {
        sleep_ms(10);
        n = fixture_fd_count(f);
    }
    return n;
}

int run_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

bool running_as_root(void) { return geteuid() == 0; }

bool drop_to_nobody(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL || geteuid() != 0)
        return false;
    return setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 && setuid(pw->pw_uid) == 0;
}

/* SCM_MAX_FD (include/net/scm.h): the most one message can carry. */
#define SEND_FDS_MAX 253

ssize_t send_with_fds(int sock, const void *data, size_t len, int nfds)
{
    ck_assert_int_le(nfds, SEND_FDS_MAX);
    int fds[SEND_FDS_MAX];
    for (int i = 0; i < nfds; i++)
        ck_assert_int_ge(fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(SEND_FDS_MAX * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { (void *)data, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int)) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return n;
}
