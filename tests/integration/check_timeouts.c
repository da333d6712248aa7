/* Connections that say nothing (issue: a connection that never says HELLO
 * was kept forever; 32 idle admin connections locked every admin out):
 *   - a client connection without HELLO is closed after limits.hello_timeout,
 *     while a greeted bystander goes on;
 *   - an admin connection silent for admin.idle_timeout gets an
 *     "idle-timeout" line and is closed; one that keeps talking stays;
 *   - admin connections that pipeline commands and never read the replies
 *     are closed too, and do not hold every admin slot;
 *   - with every admin slot held by idle connections of another uid
 *     (nobody), the daemon's own uid still gets `stats` answered.
 * The last one needs root (to be nobody): run as `check_it_timeouts
 * reserved-slot`, it exits 77, which CTest reports as skipped, without it. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"
#include "proto.h"

#define SKIPPED 77

static const char policy_rest[] =
    "limits:\n  hello_timeout: 1s\n"
    "pools:\n  - name: default\n    reserve: 1GiB\n    limit: 64MiB\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, policy_rest); }
static void teardown(void) { fixture_cleanup(&fx); }

static int connect_to(const char *path, int type)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, type, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
                  strerror(errno));
    return fd;
}

/* Waits up to `ms` for the peer to close; true if it did (EOF, a reset). */
static bool closed_within(int fd, int ms)
{
    char buf[4096];
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) == 1) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
        }
    }
    return false;
}

/* One line from the admin socket into buf; false at EOF. */
static bool read_line(int fd, char *buf, size_t len)
{
    size_t used = 0;
    while (used + 1 < len) {
        ssize_t n = read(fd, buf + used, 1);
        if (n <= 0)
            return false;
        if (buf[used] == '\n')
            break;
        used++;
    }
    buf[used] = '\0';
    return true;
}

static void bystander_works(mempool_client *c)
{
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4096, 0, &b), 0);
    memset(b.addr, 7, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
}

START_TEST(a_connection_without_hello_is_closed)
{
    mempool_client *bystander = connect_or_die(&fx);
    int before = fixture_fd_count(&fx);
    int silent[8];
    for (int i = 0; i < 8; i++)
        silent[i] = connect_to(fx.socket, SOCK_SEQPACKET);
    /* All 8 are seen open for most of the 1 s timeout: a loaded machine
     * that stalls the daemon's accepts or this poll for less does not
     * make the count skip its peak. */
    ck_assert_int_eq(wait_fd_count(&fx, before + 8), before + 8);
    /* 1 s in the policy; 10 s is generous for a loaded machine. */
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(closed_within(silent[i], 10000), "silent connection %d still open", i);
        close(silent[i]);
    }
    ck_assert_int_eq(wait_fd_count(&fx, before), before);
    /* The greeted bystander said HELLO long ago: it stays and works. */
    bystander_works(bystander);
    mempool_disconnect(bystander);
}
END_TEST

START_TEST(hello_in_time_keeps_the_connection)
{
    mempool_client *c = connect_or_die(&fx);
    sleep_ms(3000); /* three timeouts */
    bystander_works(c);
    mempool_disconnect(c);
}
END_TEST

/* admin.idle_timeout cannot be written in the fixture's admin section:
 * the policy is rewritten with it and reloaded (it applies live). */
static void write_policy_with_admin(const char *admin_extra)
{
    FILE *fp = fopen(fx.policy, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp,
            "listen:\n  socket: %s\n  mode: 0666\n"
            "admin:\n  socket: %s\n  mode: 0600\n%s"
            "log:\n  level: debug\n%s",
            fx.socket, fx.admin_socket, admin_extra, policy_rest);
    ck_assert_int_eq(fclose(fp), 0);
}

static void admin_ask(const char *command, char *reply, size_t len)
{
    int fd = connect_to(fx.admin_socket, SOCK_STREAM);
    ck_assert_int_eq(write(fd, command, strlen(command)), (ssize_t)strlen(command));
    ck_assert_msg(read_line(fd, reply, len), "no reply to %s", command);
    close(fd);
}

static void reload_with_admin(const char *admin_extra)
{
    char reply[4096];
    write_policy_with_admin(admin_extra);
    admin_ask("reload\n", reply, sizeof reply);
    ck_assert_msg(strstr(reply, "\"ok\":true") != NULL, "reload: %s", reply);
}

/* 1 s of silence closes; the busy connection speaks every 100 ms until
 * the idle one is told, ten times within the timeout: a loaded machine
 * that stalls the test or the daemon for most of a second cannot make
 * the busy one look idle. */
START_TEST(an_idle_admin_connection_is_closed)
{
    reload_with_admin("  idle_timeout: 1s\n");
    char line[4096];
    int idle = connect_to(fx.admin_socket, SOCK_STREAM);
    int busy = connect_to(fx.admin_socket, SOCK_STREAM);
    uint64_t end = now_ms() + 30000;
    struct pollfd told = { .fd = idle, .events = POLLIN };
    while (poll(&told, 1, 100) == 0 && now_ms() < end) {
        ck_assert_msg(send(busy, "version\n", 8, MSG_NOSIGNAL) == 8 &&
                          read_line(busy, line, sizeof line),
                      "the busy connection was closed");
        ck_assert_msg(strstr(line, "\"ok\":true") != NULL, "%s", line);
    }
    ck_assert_msg(read_line(idle, line, sizeof line), "the idle connection got no line");
    ck_assert_msg(strstr(line, "\"code\":\"idle-timeout\"") != NULL, "%s", line);
    ck_assert(closed_within(idle, 10000));
    ck_assert_int_eq(write(busy, "version\n", 8), 8);
    ck_assert(read_line(busy, line, sizeof line));
    ck_assert_ptr_nonnull(strstr(line, "\"ok\":true"));
    close(idle);
    close(busy);
}
END_TEST

/* Replies left unread keep a reply's write pending forever: the daemon
 * once counted that as "not idle", and 16 connections that pipelined
 * commands and never read took every admin slot for good. */
#define ADMIN_SLOTS 16

static void send_unread_commands(int fd)
{
    char lines[300 * 8 + 1] = "";
    for (int i = 0; i < 300; i++)
        strcat(lines, "metrics\n"); /* ~10 KiB each: far more than a socket holds */
    size_t len = strlen(lines);
    ck_assert_int_eq(write(fd, lines, len), (ssize_t)len);
}

/* True once a new admin connection is answered "ok" within `ms`. */
static bool admin_served_within(int ms)
{
    char line[4096];
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end; sleep_ms(100)) {
        int fd = connect_to(fx.admin_socket, SOCK_STREAM);
        bool ok = write(fd, "version\n", 8) == 8 && read_line(fd, line, sizeof line) &&
                  strstr(line, "\"ok\":true") != NULL;
        close(fd);
        if (ok)
            return true;
    }
    return false;
}

START_TEST(replies_left_unread_do_not_hold_an_admin_slot)
{
    reload_with_admin("  idle_timeout: 300ms\n");
    int fds[ADMIN_SLOTS];
    for (int i = 0; i < ADMIN_SLOTS; i++) {
        fds[i] = connect_to(fx.admin_socket, SOCK_STREAM);
        send_unread_commands(fds[i]);
    }
    ck_assert_msg(admin_served_within(15000),
                  "connections that never read their replies hold every admin slot");
    for (int i = 0; i < ADMIN_SLOTS; i++) {
        ck_assert_msg(closed_within(fds[i], 10000), "unread connection %d still open", i);
        close(fds[i]);
    }
}
END_TEST

/* ---- the daemon's own slot (root only) ------------------------------------ */

static int reloads_logged(void)
{
    FILE *fp = fopen(fx.log, "r");
    ck_assert_ptr_nonnull(fp);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp) != NULL)
        n += strstr(line, "reloaded ") != NULL;
    fclose(fp);
    return n;
}

/* Rewrites the policy and sends SIGHUP; returns once the log says the
 * reload is done (~30 s at most). */
static void reload_by_signal(const char *admin_extra)
{
    int before = reloads_logged();
    write_policy_with_admin(admin_extra);
    ck_assert_int_eq(kill(fx.pid, SIGHUP), 0);
    for (uint64_t end = now_ms() + 30000; reloads_logged() == before && now_ms() < end;)
        sleep_ms(10);
    if (reloads_logged() == before)
        fixture_dump_log(&fx);
    ck_assert_int_gt(reloads_logged(), before);
}

#define IDLE_CONNECTIONS 32
/* docs/admin.md: 16 admin connections, the 16th kept for the daemon's uid. */
#define SLOTS_FOR_OTHERS 15

/* Admitted or refused, however slow the daemon: a refused connection has
 * its error line waiting (written at accept, before the close), an
 * admitted one answers `version`. 1 admitted, 0 refused for lack of a
 * slot, -1 anything else. */
static int admitted_by_daemon(int fd)
{
    (void)send(fd, "version\n", 8, MSG_NOSIGNAL); /* a refused one may be closed */
    char line[4096];
    if (!read_line(fd, line, sizeof line))
        return -1;
    if (strstr(line, "\"ok\":true") != NULL)
        return 1;
    return strstr(line, "\"code\":\"too-many-connections\"") != NULL ? 0 : -1;
}

/* As nobody: opens IDLE_CONNECTIONS admin connections, says how many were
 * admitted on `report`, then holds them until the parent closes `hold`. */
static int hold_idle_connections(int report, int hold)
{
    if (!drop_to_nobody())
        return 10;
    int fds[IDLE_CONNECTIONS], admitted = 0;
    for (int i = 0; i < IDLE_CONNECTIONS; i++)
        fds[i] = connect_to(fx.admin_socket, SOCK_STREAM);
    for (int i = 0; i < IDLE_CONNECTIONS; i++) {
        int verdict = admitted_by_daemon(fds[i]);
        if (verdict < 0)
            return 12;
        admitted += verdict;
    }
    if (write(report, &admitted, sizeof admitted) != sizeof admitted)
        return 11;
    char c;
    (void)read(hold, &c, 1);
    return 0;
}

START_TEST(the_daemons_uid_keeps_an_admin_slot)
{
    struct passwd *nobody = getpwnam("nobody");
    ck_assert_ptr_nonnull(nobody);
    char users[64];
    snprintf(users, sizeof users, "  users: [root, %u]\n", (unsigned)nobody->pw_uid);
    /* By SIGHUP: a reload over the admin socket would hold a slot until
     * the daemon saw it close, and nobody must find all 15 free. */
    reload_by_signal(users);
    ck_assert_int_eq(chmod(fx.admin_socket, 0666), 0);
    int report[2], hold[2];
    ck_assert_int_eq(pipe(report), 0);
    ck_assert_int_eq(pipe(hold), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(hold[1]);
        _exit(hold_idle_connections(report[1], hold[0]));
    }
    close(hold[0]);
    close(report[1]); /* a child that dies early makes read() return 0 */
    int admitted = 0;
    ssize_t got = read(report[0], &admitted, sizeof admitted);
    if (got != (ssize_t)sizeof admitted) {
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_abort_msg("the child (nobody) reported nothing: exit %d", WEXITSTATUS(status));
    }
    /* Every other slot was taken, the rest refused with the reason. */
    ck_assert_int_eq(admitted, SLOTS_FOR_OTHERS);
    char reply[65536];
    admin_ask("stats\n", reply, sizeof reply);
    if (strncmp(reply, "{\"ok\":true", 10) != 0)
        fixture_dump_log(&fx);
    ck_assert_msg(strncmp(reply, "{\"ok\":true", 10) == 0, "stats as root: %.200s", reply);
    close(hold[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(exited_ok(status));
}
END_TEST

int main(int argc, char **argv)
{
    /* The daemon closes connections these tests hold (silent, idle,
     * refused): a write to one must fail with EPIPE, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("timeouts");
    TCase *tc = tcase_create("silent");
    tcase_add_checked_fixture(tc, setup, teardown);
    if (argc > 1 && strcmp(argv[1], "reserved-slot") == 0) {
        if (!running_as_root()) {
            fprintf(stderr, "the_daemons_uid_keeps_an_admin_slot needs root (to be nobody)\n");
            return SKIPPED;
        }
        tcase_add_test(tc, the_daemons_uid_keeps_an_admin_slot);
    } else {
        tcase_add_test(tc, a_connection_without_hello_is_closed);
        tcase_add_test(tc, hello_in_time_keeps_the_connection);
        tcase_add_test(tc, an_idle_admin_connection_is_closed);
        tcase_add_test(tc, replies_left_unread_do_not_hold_an_admin_slot);
    }
    suite_add_tcase(s, tc);
    return check_run(s);
}
