/* mempoolctl's output: the daemon's JSON replies as readable text, tables
 * and `key value` lines, sizes in B/KiB/MiB/GiB/TiB. docs/admin.md shows
 * each. */
#ifndef MEMPOOL_CTL_FORMAT_H
#define MEMPOOL_CTL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json_read.h"

/* A size with the largest binary unit it reaches: whole numbers as they
 * are ("64MiB", "512B"), others with one decimal ("1.5GiB"). */
void ctl_format_size(uint64_t bytes, char *buf, size_t len);

/* A successful reply to `command` (its first word). Tables fit in `max`
 * columns (0: no limit): on a narrow terminal the least needed columns
 * are dropped, then long names cut with "...", then lines cut. */
void ctl_print_reply(FILE *f, size_t max, const char *command, const json_value *reply);
/* A refusal: the error, its code, and any detail lines (reload's errors). */
void ctl_print_error(FILE *f, const json_value *reply);

#endif
