/* The log file (--log-file): lines are appended to it, and once it is
 * rotated away (renamed, as newsyslog does, or removed) the next line a
 * second later goes to a new file at the same path, while the rotated one
 * keeps what came before. Each test runs in its own forked process (Check),
 * whose stderr becomes the file. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "log.h"

static char dir[64], path[128], rotated[128];

static void setup(void)
{
    strcpy(dir, "/tmp/check_log.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/mempoold.log", dir);
    snprintf(rotated, sizeof rotated, "%s/mempoold.log.0", dir);
}

static void teardown(void)
{
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static bool file_has(const char *file, const char *text)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* The rotation check runs at most once per wall-clock second, read from
 * CLOCK_REALTIME as log_msg reads it (time() may lag it by a tick). */
static time_t realtime_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec;
}

static void next_second(void)
{
    time_t start = realtime_seconds();
    while (realtime_seconds() == start) {
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

START_TEST(lines_follow_a_renamed_file)
{
    ck_assert_int_eq(log_to_file(path), 0);
    log_error("before the rotation");
    ck_assert(file_has(path, "before the rotation"));
    ck_assert_int_eq(rename(path, rotated), 0);
    next_second();
    log_error("after the rotation");
    ck_assert(file_has(path, "after the rotation"));
    ck_assert(!file_has(path, "before the rotation"));
    ck_assert(file_has(rotated, "before the rotation"));
    ck_assert(!file_has(rotated, "after the rotation"));
    /* What else writes to stderr lands in the log too. */
    fprintf(stderr, "straight to stderr\n");
    ck_assert(file_has(path, "straight to stderr"));
}
END_TEST

START_TEST(a_removed_file_is_made_again)
{
    ck_assert_int_eq(log_to_file(path), 0);
    log_error("first");
    ck_assert_int_eq(unlink(path), 0);
    next_second();
    log_error("second");
    ck_assert(file_has(path, "second"));
}
END_TEST

START_TEST(an_unopenable_path_is_an_error)
{
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/folder/log", dir);
    ck_assert_int_eq(log_to_file(bad), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lines_follow_a_renamed_file);
    tcase_add_test(tc, a_removed_file_is_made_again);
    tcase_add_test(tc, an_unopenable_path_is_an_error);
    suite_add_tcase(s, tc);
    return check_run(s);
}
