/* mempoold --check-config FILE and --print-config FILE: the policy checked
 * or dumped without starting the daemon. */
#ifndef MEMPOOL_CONFIG_CMD_H
#define MEMPOOL_CONFIG_CMD_H

#include <stdio.h>

/* Exit codes, as main() returns them. */
#define CONFIG_CMD_OK 0
#define CONFIG_CMD_INVALID 2

/* Valid: one summary line per pool on out, returns 0. Otherwise every error
   on err, returns 2. */
int config_check(const char *path, FILE *out, FILE *err);

/* Valid: the effective policy, every default filled in, as YAML on out (it
   passes --check-config again), returns 0. Otherwise as config_check. */
int config_print(const char *path, FILE *out, FILE *err);

#endif
