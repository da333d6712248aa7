/* Runs one Check suite and turns its result into the exit status CTest
 * reads: the same five lines every suite's main() would repeat. */
#ifndef MEMPOOL_CHECK_RUN_H
#define MEMPOOL_CHECK_RUN_H

#include <check.h>

static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
