/* The README's example (examples/share.c), built as the README says and
 * run against the real daemon: a producer process and a consumer process. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

static fixture fx;

static void setup(void) { fixture_start(&fx, "pools:\n  - name: default\n    reserve: 1GiB\n    limit: 64MiB\n"); }

static void teardown(void) { fixture_cleanup(&fx); }

START_TEST(producer_shares_and_consumer_reads)
{
    setenv("MEMPOOL_SOCKET", fx.socket, 1);
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t producer = fork();
    if (producer == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(EXAMPLE_PATH, "share", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *from_producer = fdopen(out[0], "r");
    char handle[MEMPOOL_HANDLE_STRLEN + 2] = "";
    ck_assert_ptr_nonnull(fgets(handle, sizeof handle, from_producer));
    handle[strcspn(handle, "\n")] = '\0';
    ck_assert_uint_eq(strlen(handle), MEMPOOL_HANDLE_STRLEN - 1);

    char command[512], line[128] = "";
    snprintf(command, sizeof command, "%s consume %s", EXAMPLE_PATH, handle);
    FILE *consumer = popen(command, "r");
    ck_assert_ptr_nonnull(consumer);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, consumer));
    ck_assert_int_eq(pclose(consumer), 0);
    ck_assert_str_eq(line, "hello from the producer\n");

    ck_assert_int_eq(write(in[1], "\n", 1), 1);
    int status;
    ck_assert_int_eq(waitpid(producer, &status, 0), producer);
    ck_assert(exited_ok(status));
    fclose(from_producer);
}
END_TEST

/* Without a daemon, the example says which socket it tried. */
START_TEST(without_a_daemon_it_names_the_socket_it_tried)
{
    char missing[160], command[512], line[512] = "";
    snprintf(missing, sizeof missing, "%s/nobody-here.sock", fx.dir);
    setenv("MEMPOOL_SOCKET", missing, 1);
    snprintf(command, sizeof command, "%s 2>&1 </dev/null", EXAMPLE_PATH);
    FILE *p = popen(command, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    int status = pclose(p);
    unsetenv("MEMPOOL_SOCKET");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char want[256];
    snprintf(want, sizeof want, "share: %s: cannot reach the daemon\n", missing);
    ck_assert_str_eq(line, want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("example");
    TCase *tc = tcase_create("example");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, producer_shares_and_consumer_reads);
    tcase_add_test(tc, without_a_daemon_it_names_the_socket_it_tried);
    suite_add_tcase(s, tc);
    return check_run(s);
}
