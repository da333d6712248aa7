/* Runs one Check suite and turns its result into the exit status CTest
 * reads: the same lines every suite's main() would repeat.
 *
 * Checks that must change uid (they need root) go in a test case made by
 * check_root_tcase(): it carries the tag "root". CTest runs such a suite
 * twice (mempool_root_checks in CMakeLists.txt): its own test without them
 * (CK_EXCLUDE_TAGS=root), and <test>.as_root with them alone
 * (CK_INCLUDE_TAGS=root), which reports itself skipped when not run as
 * root, so that a count of passed tests never includes a check that did
 * not run. */
#ifndef MEMPOOL_CHECK_RUN_H
#define MEMPOOL_CHECK_RUN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The exit status CTest takes for "skipped" (SKIP_RETURN_CODE). */
#define CHECK_SKIPPED 77
#define CHECK_ROOT_TAG "root"

/* Checks that fork() while other threads are inside the library go in a
 * test case made by check_fork_threads_tcase(): tag "fork_threads", run by
 * CTest as <test>.fork_threads (mempool_fork_threads_checks). Under the
 * sanitizers (MEMPOOL_SANITIZED) that test reports itself skipped: their
 * allocator takes no lock at fork() (GCC 12's libasan), so a child can hang
 * in malloc whatever the library does, and a failure would say nothing
 * about the library. */
#define CHECK_FORK_THREADS_TAG "fork_threads"

static inline TCase *check_fork_threads_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, CHECK_FORK_THREADS_TAG);
    return tc;
}

static inline int check_sanitized(void)
{
#ifdef MEMPOOL_SANITIZED
    return 1;
#else
    return 0;
#endif
}

/* How many test cases of this suite need root. */
static inline int *check_root_tcases(void)
{
    static int count;
    return &count;
}

static inline TCase *check_root_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, CHECK_ROOT_TAG);
    ++*check_root_tcases();
    return tc;
}

static inline int check_run(Suite *s)
{
    const char *only = getenv("CK_INCLUDE_TAGS");
    if (only != NULL && strcmp(only, CHECK_FORK_THREADS_TAG) == 0 && check_sanitized()) {
        fprintf(stderr, "fork() among busy threads under the sanitizers' allocator: skipped\n");
        return CHECK_SKIPPED;
    }
    if (geteuid() != 0) {
        if (only != NULL && strcmp(only, CHECK_ROOT_TAG) == 0) {
            fprintf(stderr, "these checks change uid: they need root; skipped\n");
            return CHECK_SKIPPED;
        }
        /* Run by hand: the checks that need root are left out, and said so. */
        if (only == NULL && getenv("CK_EXCLUDE_TAGS") == NULL && *check_root_tcases() > 0) {
            fprintf(stderr, "%d test case(s) change uid and need root: not run\n",
                    *check_root_tcases());
            setenv("CK_EXCLUDE_TAGS", CHECK_ROOT_TAG, 1);
        }
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
