/* A client that sends malformed frames as fast as it can (each one closes
 * its session, so it reconnects and sends another) for about two seconds:
 * the daemon's log grows by a bounded number of lines (log_peer.h: a burst
 * of 10, then 2 a second, per uid), one line says how many were
 * suppressed, and a bystander keeps allocating throughout. Before rate
 * limiting, every bad frame was a line: 1.4 million lines in 60 s. */
#include <check.h>
#include <errno.h>
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

#define FLOOD_MS 2000
/* Lines about one uid in FLOOD_MS plus the wait for the report, at the
 * fixture's debug level: for the info lines (bad frames) and for the debug
 * lines (sessions opened, closed) each, a burst of 10, 2 a second, the
 * suppressed reports; the rest is margin. */
#define MAX_LINES 60

static fixture fx;

static void setup(void)
{
    fixture_start(&fx, "pools:\n  - name: default\n    reserve: 1GiB\n    limit: 64MiB\n");
}

static void teardown(void) { fixture_cleanup(&fx); }

/* Bad frames for FLOOD_MS; exits with 0 and writes how many it sent. */
static int flood(void *arg)
{
    int report = *(int *)arg;
    if (running_as_root() && !drop_to_nobody())
        return 10;
    static const unsigned char garbage[24] = { 0xde, 0xad, 0xbe, 0xef };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, fx.socket);
    long sent = 0;
    for (uint64_t end = now_ms() + FLOOD_MS; now_ms() < end;) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            return 11;
        if (send(fd, garbage, sizeof garbage, MSG_NOSIGNAL) == (ssize_t)sizeof garbage)
            sent++;
        char reply[64];
        (void)recv(fd, reply, sizeof reply, 0); /* the error reply, then the close */
        close(fd);
    }
    return write(report, &sent, sizeof sent) == sizeof sent ? 0 : 12;
}

static long count_lines(const char *path, long from, bool *suppressed)
{
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, from, SEEK_SET), 0);
    char line[2048];
    long n = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        n++;
        if (strstr(line, "suppressed") != NULL)
            *suppressed = true;
    }
    fclose(fp);
    return n;
}

static long log_size(void)
{
    FILE *fp = fopen(fx.log, "r");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    return size;
}

START_TEST(malformed_frames_cannot_flood_the_log)
{
    mempool_client *bystander = connect_or_die(&fx);
    long start = log_size();
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(flood(&pipefd[1]));
    /* The bystander allocates, writes and releases all through the flood. */
    int rounds = 0;
    for (uint64_t end = now_ms() + FLOOD_MS; now_ms() < end; rounds++) {
        mempool_block b;
        ck_assert_int_eq(mempool_alloc(bystander, "default", 64 * 1024, 0, &b), 0);
        memset(b.addr, 0x5a, b.size);
        ck_assert_int_eq(mempool_release(bystander, &b), 0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(exited_ok(status), "the flooding child failed (status %d)", status);
    long sent = 0;
    ck_assert_int_eq(read(pipefd[0], &sent, sizeof sent), (ssize_t)sizeof sent);
    /* The suppressed count comes once the uid's bucket has refilled, at
     * the daemon's next tick: however late a loaded machine runs it. The
     * flood is over, so waiting adds no lines of its own. */
    bool suppressed = false;
    long lines = count_lines(fx.log, start, &suppressed);
    for (uint64_t end = now_ms() + 30000; !suppressed && now_ms() < end;) {
        sleep_ms(50);
        lines = count_lines(fx.log, start, &suppressed);
    }
    if (lines > MAX_LINES || !suppressed)
        fixture_dump_log(&fx);
    ck_assert_msg(sent > 200, "only %ld bad frames sent: the bound says nothing", sent);
    ck_assert_msg(lines <= MAX_LINES, "%ld log lines for %ld bad frames", lines, sent);
    ck_assert_msg(suppressed, "no line says what was suppressed");
    ck_assert_int_gt(rounds, 10);
    fprintf(stderr, "log flood: %ld bad frames, %ld log lines, bystander %d rounds\n", sent,
            lines, rounds);
    mempool_disconnect(bystander);
}
END_TEST

/* Lines of the log from `from` that contain `what`. */
static long count_matching(long from, const char *what)
{
    FILE *fp = fopen(fx.log, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, from, SEEK_SET), 0);
    char line[2048];
    long n = 0;
    while (fgets(line, sizeof line, fp) != NULL)
        n += strstr(line, what) != NULL;
    fclose(fp);
    return n;
}

/* Reads until `lines` newlines came. */
static void read_replies(int fd, int lines)
{
    char buf[4096];
    while (lines > 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        for (ssize_t i = 0; i < n; i++)
            lines -= buf[i] == '\n';
    }
}

/* Every command that changes state is logged with the uid that sent it;
 * an admitted admin user who sends them as fast as the daemon answers
 * (here `log-level debug`, which changes nothing) must not fill the log
 * either: those lines go through the same per-uid limiter. */
START_TEST(admin_commands_cannot_flood_the_log)
{
    long start = log_size();
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, fx.admin_socket);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char batch[100 * 16 + 1] = "";
    for (int i = 0; i < 100; i++)
        strcat(batch, "log-level debug\n");
    long sent = 0;
    for (uint64_t end = now_ms() + FLOOD_MS; now_ms() < end; sent += 100) {
        ck_assert_int_eq(write(fd, batch, strlen(batch)), (ssize_t)strlen(batch));
        read_replies(fd, 100);
    }
    close(fd);
    sleep_ms(1500);
    long lines = count_matching(start, "admin: 'log-level debug'");
    bool suppressed = count_matching(start, "suppressed") > 0;
    if (lines > MAX_LINES || !suppressed)
        fixture_dump_log(&fx);
    ck_assert_msg(sent > 200, "only %ld commands sent: the bound says nothing", sent);
    ck_assert_msg(lines >= 1, "the state change was not logged at all");
    ck_assert_msg(lines <= MAX_LINES, "%ld log lines for %ld admin commands", lines, sent);
    ck_assert_msg(suppressed, "no line says what was suppressed");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log_flood");
    TCase *tc = tcase_create("flood");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, malformed_frames_cannot_flood_the_log);
    tcase_add_test(tc, admin_commands_cannot_flood_the_log);
    suite_add_tcase(s, tc);
    return check_run(s);
}
