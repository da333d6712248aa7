/* The admin `metrics` command: the daemon's figures in the Prometheus text
 * exposition format (version 0.0.4): for each family a `# HELP` and a
 * `# TYPE` line, then its samples, `name{label="value"} number`. */
#ifndef MEMPOOL_METRICS_H
#define MEMPOOL_METRICS_H

#include <stdio.h>

#include "daemon.h"

/* Writes every family. Returns 0 or -EIO. */
int metrics_write(const daemon_state *d, FILE *f);

/* A label value as the format wants it: backslash, double quote and
 * newline escaped. */
void metrics_write_label_value(FILE *f, const char *value);

#endif
