/* mempoold started the way systemd starts it: listening sockets it did not
 * make, passed as descriptors 3 and up with LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES, and readiness reported on a NOTIFY_SOCKET datagram
 * socket this test owns (sd_listen_fds(3), sd_notify(3)).
 *
 * The policy names socket paths of its own; a daemon that serves the
 * sockets it was handed must never bind them.
 *
 * While it runs, the daemon says what it serves (STATUS=), pings the
 * watchdog (WATCHDOG=1) when WATCHDOG_USEC asks for it, and writes its log
 * with syslog priorities when JOURNAL_STREAM says stderr is the journal. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024u
#define WAIT_MS 30000 /* a guard against a hung daemon, not a measurement */

static const char pools[] =
    "pools:\n"
    "  - name: default\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n";

/* What the test plays the service manager with. */
typedef struct manager {
    fixture f;              /* f.socket, f.admin_socket: the policy's paths */
    char client_path[128];  /* the sockets the "manager" made */
    char admin_path[128];
    char notify_path[128];  /* NOTIFY_SOCKET as the daemon sees it */
    int client_fd, admin_fd, notify_fd;
} manager;

/* What the daemon is handed: fds[i] becomes descriptor 3 + i. */
typedef struct handover {
    int nfds;
    int fds[3];
    const char *names;      /* LISTEN_FDNAMES */
    bool for_another_pid;   /* LISTEN_PID names someone else */
} handover;

static manager m;

/* Variables exec_daemon sets besides the activation ones ("NAME=value"). */
#define MAX_EXTRA_ENV 4
static const char *extra_env[MAX_EXTRA_ENV + 1];

/* ---- the manager's sockets ------------------------------------------------ */

static socklen_t unix_address(const char *path, struct sockaddr_un *sa)
{
    size_t len = strlen(path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    ck_assert_uint_lt(len, sizeof sa->sun_path);
    memcpy(sa->sun_path, path, len);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* the abstract namespace, as systemd writes it */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

static int bound_socket(const char *path, int type)
{
    struct sockaddr_un sa;
    socklen_t len = unix_address(path, &sa);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s", path,
                  strerror(errno));
    if (type != SOCK_DGRAM)
        ck_assert_int_eq(listen(fd, SOMAXCONN), 0);
    return fd;
}

static void set_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < len);
}

/* `notify_name`: NOTIFY_SOCKET, else a path in the folder. With
 * `policy_names_them`, the policy's paths are those of the handed sockets,
 * as with the shipped policy and units (/var/run is /run). */
static void make_sockets(const char *notify_name, bool policy_names_them)
{
    memset(&m, 0, sizeof m);
    strcpy(m.f.dir, "/tmp/mempoold-activation-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(m.f.dir));
    set_path(m.f.policy, sizeof m.f.policy, m.f.dir, "policy.yaml");
    set_path(m.f.log, sizeof m.f.log, m.f.dir, "mempoold.log");
    set_path(m.client_path, sizeof m.client_path, m.f.dir, "activated.sock");
    set_path(m.admin_path, sizeof m.admin_path, m.f.dir, "activated.admin.sock");
    if (policy_names_them) {
        strcpy(m.f.socket, m.client_path);
        strcpy(m.f.admin_socket, m.admin_path);
    } else {
        set_path(m.f.socket, sizeof m.f.socket, m.f.dir, "mempoold.sock");
        set_path(m.f.admin_socket, sizeof m.f.admin_socket, m.f.dir, "admin.sock");
    }
    if (notify_name != NULL)
        snprintf(m.notify_path, sizeof m.notify_path, "%s", notify_name);
    else
        set_path(m.notify_path, sizeof m.notify_path, m.f.dir, "notify.sock");
    fixture_write_policy(&m.f, pools);
    m.client_fd = bound_socket(m.client_path, SOCK_SEQPACKET);
    m.admin_fd = bound_socket(m.admin_path, SOCK_STREAM);
    m.notify_fd = bound_socket(m.notify_path, SOCK_DGRAM);
}

static void setup(void)
{
    memset(extra_env, 0, sizeof extra_env);
    make_sockets(NULL, false);
}

static void teardown(void)
{
    fixture_cleanup(&m.f); /* stops the daemon if it still runs */
    close(m.client_fd);
    close(m.admin_fd);
    close(m.notify_fd);
    unlink(m.client_path);
    unlink(m.admin_path);
    if (m.notify_path[0] == '/')
        unlink(m.notify_path);
    rmdir(m.f.dir);
}

/* ---- starting the daemon as systemd does ------------------------------------ */

/* In the forked child: the handed-over sockets at 3, 4, ..., the
 * environment, then mempoold. LISTEN_PID can only be written now that the
 * child has its pid. */
static void exec_daemon(const handover *h)
{
    int log = open(m.f.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0 || dup2(log, 2) < 0)
        _exit(126);
    /* Out of the way first: a socket to pass may already sit at 3 or 4. */
    int high[3];
    for (int i = 0; i < h->nfds; i++)
        if ((high[i] = fcntl(h->fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(126);
    for (int i = 0; i < h->nfds; i++)
        if (dup2(high[i], 3 + i) < 0) /* the copy at 3 + i is not close-on-exec */
            _exit(126);
    char nfds[16], pid[32];
    snprintf(nfds, sizeof nfds, "%d", h->nfds);
    snprintf(pid, sizeof pid, "%ld", (long)(h->for_another_pid ? getppid() : getpid()));
    if (setenv("LISTEN_FDS", nfds, 1) != 0 || setenv("LISTEN_PID", pid, 1) != 0 ||
        setenv("LISTEN_FDNAMES", h->names, 1) != 0 ||
        setenv("NOTIFY_SOCKET", m.notify_path, 1) != 0)
        _exit(126);
    for (int i = 0; extra_env[i] != NULL; i++)
        if (putenv((char *)extra_env[i]) != 0)
            _exit(126);
    execl(MEMPOOLD_PATH, "mempoold", "-c", m.f.policy, (char *)NULL);
    _exit(127);
}

static void start_daemon(const handover *h)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exec_daemon(h);
    m.f.pid = pid;
}

/* The admin socket at 3, the client socket at 4: the reverse of what a
 * daemon going by position would expect. */
static const handover both_by_name = {
    .nfds = 2, .fds = { -1, -1 }, .names = "admin:client",
};

static void start_with_both(void)
{
    handover h = both_by_name;
    h.fds[0] = m.admin_fd;
    h.fds[1] = m.client_fd;
    start_daemon(&h);
}

/* ---- what the daemon says and serves ---------------------------------------- */

static void fail_with_log(const char *why)
{
    fixture_dump_log(&m.f);
    ck_abort_msg("%s", why);
}

/* The next datagram on the notify socket. */
static void next_notification(char *buf, size_t len)
{
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        struct pollfd pfd = { .fd = m.notify_fd, .events = POLLIN };
        if (poll(&pfd, 1, 100) == 1) {
            ssize_t n = recv(m.notify_fd, buf, len - 1, 0);
            ck_assert_int_gt(n, 0);
            buf[n] = '\0';
            return;
        }
        int status;
        if (m.f.pid > 0 && waitpid(m.f.pid, &status, WNOHANG) == m.f.pid) {
            m.f.pid = 0;
            fail_with_log("mempoold exited before it said what the test waits for");
        }
    }
    fail_with_log("mempoold said nothing on NOTIFY_SOCKET");
}

/* STATUS= and WATCHDOG=1 come on their own schedule, between the states. */
static bool is_state(const char *msg)
{
    return strncmp(msg, "STATUS=", 7) != 0 && strcmp(msg, "WATCHDOG=1") != 0;
}

/* The next notification of a state carries `want` as one of its lines
 * (others, such as MONOTONIC_USEC= beside RELOADING=1, may come with it). */
static void expect_notification(const char *want)
{
    char got[256], lines[256];
    do
        next_notification(got, sizeof got);
    while (!is_state(got));
    strcpy(lines, got);
    for (char *save = NULL, *line = strtok_r(lines, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        if (strcmp(line, want) == 0)
            return;
    ck_abort_msg("expected %s from mempoold, got \"%s\"", want, got);
}

/* Nothing may have bound a path that the test watches. */
static void assert_absent(const char *path)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) != 0 && errno == ENOENT, "%s exists", path);
}

static void assert_socket_file(const char *path)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode), "no socket at %s", path);
}

/* A client on `path` allocates, writes and reads a block: the socket serves. */
static void assert_serves_clients(const char *path)
{
    mempool_client *c = NULL;
    mempool_block b;
    int rc = mempool_connect(path, &c);
    ck_assert_msg(rc == 0, "connect %s: %s", path, mempool_strerror(rc));
    rc = mempool_alloc(c, "default", 64 * KiB, 0, &b);
    ck_assert_msg(rc == 0, "alloc: %s", mempool_strerror(rc));
    strcpy(b.addr, "served on a socket the daemon was handed");
    ck_assert_str_eq(b.addr, "served on a socket the daemon was handed");
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}

/* The reply line to `version` on the admin socket at `path`. */
static void admin_version(const char *path, char *reply, size_t len)
{
    struct sockaddr_un sa;
    socklen_t salen = unix_address(path, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, salen) == 0, "connect %s: %s", path,
                  strerror(errno));
    ck_assert_int_eq(write(fd, "version\n", 8), 8);
    size_t used = 0;
    while (used + 1 < len && memchr(reply, '\n', used) == NULL) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "no reply on %s", path);
        ssize_t n = read(fd, reply + used, len - 1 - used);
        ck_assert_int_gt(n, 0);
        used += (size_t)n;
    }
    reply[used] = '\0';
    close(fd);
}

static void assert_serves_admin(const char *path)
{
    char reply[1024];
    admin_version(path, reply, sizeof reply);
    ck_assert_msg(strncmp(reply, "{\"ok\":true", 10) == 0, "admin replied %s", reply);
    ck_assert_ptr_nonnull(strstr(reply, MEMPOOL_VERSION_STRING));
}

static int stop_daemon(void)
{
    int status;
    ck_assert_int_eq(kill(m.f.pid, SIGTERM), 0);
    expect_notification("STOPPING=1");
    ck_assert_int_eq(waitpid(m.f.pid, &status, 0), m.f.pid);
    m.f.pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(ready_only_once_the_handed_sockets_serve)
{
    start_with_both();
    /* The first word is READY=1, and at that point both sockets answer at
     * once: no retry, no sleep. */
    expect_notification("READY=1");
    assert_absent(m.f.socket);
    assert_absent(m.f.admin_socket);
    assert_serves_clients(m.client_path);
    assert_serves_admin(m.admin_path);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(reload_and_stop_are_announced)
{
    start_with_both();
    expect_notification("READY=1");
    ck_assert_int_eq(kill(m.f.pid, SIGHUP), 0);
    expect_notification("RELOADING=1");
    expect_notification("READY=1");
    assert_serves_clients(m.client_path);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* The shipped policy names /var/run/mempoold.sock and the units make
 * /run/mempoold.sock: the same file. The manager made it and keeps it for
 * the next start, so the daemon must not remove it at exit. */
static void setup_same_paths(void)
{
    memset(extra_env, 0, sizeof extra_env);
    make_sockets(NULL, true);
}

START_TEST(sockets_it_was_handed_are_not_removed)
{
    start_with_both();
    expect_notification("READY=1");
    assert_serves_clients(m.client_path);
    assert_serves_admin(m.admin_path);
    ck_assert_int_eq(stop_daemon(), 0);
    assert_socket_file(m.client_path);
    assert_socket_file(m.admin_path);
}
END_TEST

START_TEST(a_socket_not_handed_over_is_bound_at_the_policy_path)
{
    handover h = { .nfds = 1, .fds = { m.client_fd, -1 }, .names = "client" };
    start_daemon(&h);
    expect_notification("READY=1");
    /* Bound before READY=1: it answers at once. */
    assert_serves_admin(m.f.admin_socket);
    assert_serves_clients(m.client_path);
    assert_absent(m.f.socket);
    ck_assert_int_eq(stop_daemon(), 0);
    /* The admin socket was the daemon's own: it removes it. */
    assert_absent(m.f.admin_socket);
    assert_socket_file(m.client_path);
}
END_TEST

START_TEST(sockets_meant_for_another_process_are_ignored)
{
    handover h = both_by_name;
    h.fds[0] = m.admin_fd;
    h.fds[1] = m.client_fd;
    h.for_another_pid = true;
    start_daemon(&h);
    expect_notification("READY=1");
    assert_serves_clients(m.f.socket);
    assert_serves_admin(m.f.admin_socket);
    ck_assert_int_eq(stop_daemon(), 0);
    assert_absent(m.f.socket);
    assert_absent(m.f.admin_socket);
}
END_TEST

/* A handed socket of the wrong type (names swapped in the units) or one
 * that does not listen is refused at start, with the reason in the log,
 * rather than served or spun on. */
static bool log_mentions(const char *text)
{
    char line[512];
    bool found = false;
    FILE *log = fopen(m.f.log, "r");
    while (log != NULL && fgets(line, sizeof line, log) != NULL)
        found |= strstr(line, text) != NULL;
    if (log != NULL)
        fclose(log);
    return found;
}

static int exit_status_of_start(const handover *h)
{
    int status;
    start_daemon(h);
    ck_assert_int_eq(waitpid(m.f.pid, &status, 0), m.f.pid);
    m.f.pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(a_wrong_or_idle_socket_is_refused_with_a_reason)
{
    handover swapped = { .nfds = 2, .fds = { m.admin_fd, m.client_fd }, .names = "client:admin" };
    ck_assert_int_eq(exit_status_of_start(&swapped), 1);
    ck_assert(log_mentions("client socket from the service manager"));
    int idle = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ck_assert_int_ge(idle, 0);
    handover not_listening = { .nfds = 1, .fds = { idle, -1 }, .names = "client" };
    ck_assert_int_eq(exit_status_of_start(&not_listening), 1);
    close(idle);
    assert_absent(m.f.socket);
}
END_TEST

/* systemd may name an abstract socket: "@name". */
static void setup_abstract(void)
{
    memset(extra_env, 0, sizeof extra_env);
    char name[64];
    snprintf(name, sizeof name, "@mempoold-activation-test-%ld", (long)getpid());
    make_sockets(name, false);
}

START_TEST(notify_socket_in_the_abstract_namespace)
{
    start_with_both();
    expect_notification("READY=1");
    assert_serves_clients(m.client_path);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* ---- status, watchdog, journal ------------------------------------------------ */

/* Waits for STATUS=`want`, skipping every other notification. */
static void expect_status(const char *want)
{
    char got[256], last[256] = "";
    for (uint64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        next_notification(got, sizeof got);
        if (strncmp(got, "STATUS=", 7) != 0)
            continue;
        if (strcmp(got + 7, want) == 0)
            return;
        strcpy(last, got);
    }
    ck_abort_msg("expected STATUS=%s, last \"%s\"", want, last);
}

/* Notifications whose text starts with `prefix` during `ms`. */
static int count_notifications(const char *prefix, int ms)
{
    char got[256];
    int n = 0;
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
        struct pollfd pfd = { .fd = m.notify_fd, .events = POLLIN };
        if (poll(&pfd, 1, 10) != 1)
            continue;
        ssize_t len = recv(m.notify_fd, got, sizeof got - 1, 0);
        ck_assert_int_gt(len, 0);
        got[len] = '\0';
        n += strncmp(got, prefix, strlen(prefix)) == 0;
    }
    return n;
}

/* Allocates and releases in a loop for `ms`: a status that changes all
 * the time. */
static int churn(void *arg)
{
    int ms = *(int *)arg;
    mempool_client *c = NULL;
    if (mempool_connect(m.client_path, &c) != 0)
        return 1;
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
        mempool_block b;
        if (mempool_alloc(c, "default", 64 * KiB, 0, &b) != 0 || mempool_release(c, &b) != 0)
            return 2;
    }
    mempool_disconnect(c);
    return 0;
}

START_TEST(status_says_what_the_daemon_serves)
{
    start_with_both();
    expect_notification("READY=1");
    expect_status("1 pool, 0 clients, 0 B in use");
    mempool_client *c = NULL;
    mempool_block b;
    ck_assert_int_eq(mempool_connect(m.client_path, &c), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 1024 * KiB, 0, &b), 0);
    expect_status("1 pool, 1 client, 1.0 MiB in use");
    /* Thousands of changes in 2.5 s: at most one line a second. */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ms = 2500;
        _exit(churn(&ms));
    }
    int lines = count_notifications("STATUS=", 2500);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_le(lines, 4);
    ck_assert_int_ge(lines, 1);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(watchdog_is_pinged_at_half_its_period)
{
    extra_env[0] = "WATCHDOG_USEC=200000";
    start_with_both();
    expect_notification("READY=1");
    /* Every 100 ms: some 20 in two seconds; a loaded machine may lose a few. */
    int pings = count_notifications("WATCHDOG=1", 2000);
    ck_assert_int_ge(pings, 8);
    ck_assert_int_le(pings, 25);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

START_TEST(a_watchdog_meant_for_another_process_is_not_pinged)
{
    static char pid[32];
    snprintf(pid, sizeof pid, "WATCHDOG_PID=%ld", (long)getpid());
    extra_env[0] = "WATCHDOG_USEC=200000";
    extra_env[1] = pid;
    start_with_both();
    expect_notification("READY=1");
    ck_assert_int_eq(count_notifications("WATCHDOG=1", 1000), 0);
    ck_assert_int_eq(stop_daemon(), 0);
}
END_TEST

/* The log file as JOURNAL_STREAM names a stream: "device:inode". */
static void journal_stream_of(const char *path, char *env, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    snprintf(env, len, "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
}

/* Every line of the log starts with a priority and carries no timestamp;
 * counts the lines of priority `prio`. */
static int journal_lines(int prio, int *total)
{
    char line[1024];
    int n = 0;
    *total = 0;
    FILE *log = fopen(m.f.log, "r");
    ck_assert_ptr_nonnull(log);
    while (fgets(line, sizeof line, log) != NULL) {
        int p = -1, end = 0;
        ck_assert_msg(sscanf(line, "<%d>%n", &p, &end) == 1 && end == 3 && p >= 0 && p <= 7,
                      "no priority: %s", line);
        /* Not "<6>2026-12-04T22:54:54.123Z info ...". */
        int year, month;
        ck_assert_msg(sscanf(line + end, "%4d-%2d-", &year, &month) != 2, "a timestamp: %s",
                      line);
        n += p == prio;
        (*total)++;
    }
    fclose(log);
    return n;
}

START_TEST(journal_lines_carry_their_priority)
{
    static char stream[96];
    journal_stream_of(m.f.log, stream, sizeof stream);
    extra_env[0] = stream;
    start_with_both();
    expect_notification("READY=1");
    /* A refused reload: an error of several lines, each one an error. */
    FILE *fp = fopen(m.f.policy, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("pools:\n  - name: default\n    limit: lots\n    colour: red\n", fp);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(kill(m.f.pid, SIGHUP), 0);
    expect_notification("RELOADING=1");
    expect_notification("READY=1");
    ck_assert_int_eq(stop_daemon(), 0);
    int total;
    ck_assert_int_ge(journal_lines(3, &total), 3); /* "reload ... refused" and 2 errors */
    ck_assert_int_ge(journal_lines(6, &total), 2); /* "serving", "stopped" */
    ck_assert(log_mentions("<3>reload of "));
    ck_assert(log_mentions("<6>mempoold "));
    ck_assert_int_gt(total, 5);
}
END_TEST

START_TEST(a_stream_that_is_not_stderr_is_not_the_journal)
{
    extra_env[0] = "JOURNAL_STREAM=1:1";
    start_with_both();
    expect_notification("READY=1");
    ck_assert_int_eq(stop_daemon(), 0);
    ck_assert(!log_mentions("<6>"));
    ck_assert(log_mentions("Z info  mempoold "));
}
END_TEST

/* ---- the metrics socket (mempoold-metrics.socket) ------------------------------- */

/* A listening TCP socket on 127.0.0.1 and a port the kernel picks, as
 * systemd makes for ListenStream=127.0.0.1:9464. */
static int tcp_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void http_get_metrics(int port, char *reply, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *get = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
    size_t used = 0;
    for (ssize_t n; used + 1 < len && (n = read(fd, reply + used, len - 1 - used)) > 0;)
        used += (size_t)n;
    reply[used] = '\0';
    close(fd);
}

START_TEST(a_metrics_socket_it_was_handed_is_served)
{
    int port;
    int tcp = tcp_listener(&port);
    handover h = { .nfds = 3, .fds = { m.admin_fd, m.client_fd, tcp },
                   .names = "admin:client:metrics" };
    start_daemon(&h);
    expect_notification("READY=1");
    char reply[65536];
    http_get_metrics(port, reply, sizeof reply);
    ck_assert_msg(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.200s", reply);
    ck_assert_ptr_nonnull(strstr(reply, "\nmempool_build_info{version="));
    assert_serves_clients(m.client_path);
    ck_assert_int_eq(stop_daemon(), 0);
    ck_assert(log_mentions("(activated)"));
    close(tcp);
}
END_TEST

/* A Unix socket where the TCP one belongs is refused at start. */
START_TEST(a_metrics_socket_that_is_not_tcp_is_refused)
{
    handover h = { .nfds = 3, .fds = { m.admin_fd, m.client_fd, m.admin_fd },
                   .names = "admin:client:metrics" };
    ck_assert_int_eq(exit_status_of_start(&h), 1);
    ck_assert(log_mentions("metrics: the socket from the service manager"));
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("systemd");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ready_only_once_the_handed_sockets_serve);
    tcase_add_test(tc, reload_and_stop_are_announced);
    tcase_add_test(tc, a_socket_not_handed_over_is_bound_at_the_policy_path);
    tcase_add_test(tc, sockets_meant_for_another_process_are_ignored);
    tcase_add_test(tc, a_wrong_or_idle_socket_is_refused_with_a_reason);
    suite_add_tcase(s, tc);
    TCase *running = tcase_create("status, watchdog, journal");
    tcase_add_checked_fixture(running, setup, teardown);
    tcase_add_test(running, status_says_what_the_daemon_serves);
    tcase_add_test(running, watchdog_is_pinged_at_half_its_period);
    tcase_add_test(running, a_watchdog_meant_for_another_process_is_not_pinged);
    tcase_add_test(running, journal_lines_carry_their_priority);
    tcase_add_test(running, a_stream_that_is_not_stderr_is_not_the_journal);
    tcase_add_test(running, a_metrics_socket_it_was_handed_is_served);
    tcase_add_test(running, a_metrics_socket_that_is_not_tcp_is_refused);
    suite_add_tcase(s, running);
    TCase *same = tcase_create("policy paths are the handed sockets");
    tcase_add_checked_fixture(same, setup_same_paths, teardown);
    tcase_add_test(same, sockets_it_was_handed_are_not_removed);
    suite_add_tcase(s, same);
    TCase *abstract = tcase_create("abstract notify socket");
    tcase_add_checked_fixture(abstract, setup_abstract, teardown);
    tcase_add_test(abstract, notify_socket_in_the_abstract_namespace);
    suite_add_tcase(s, abstract);
    return s;
}

int main(void)
{
    return check_run(activation_suite());
}
