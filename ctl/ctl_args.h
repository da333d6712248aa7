/* mempoolctl's command line: options before or after the command (as
 * systemctl takes them), the watch interval, the terminal's width. Pure
 * functions of their input, so tests/unit/check_ctl_args.c can drive them. */
#ifndef MEMPOOL_CTL_ARGS_H
#define MEMPOOL_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The watch interval's range, as documented in mempoolctl(8). */
#define CTL_INTERVAL_MIN_NS 100000000ull          /* 100ms */
#define CTL_INTERVAL_MAX_NS 86400000000000ull     /* 24h */
#define CTL_INTERVAL_DEFAULT_NS 2000000000ull     /* 2s */
#define CTL_MAX_WORDS 16

typedef enum ctl_action { CTL_RUN, CTL_HELP, CTL_VERSION } ctl_action;

typedef struct ctl_args {
    ctl_action action;
    const char *socket;         /* -s; NULL: the default rule */
    bool json;
    int nwords;
    char *words[CTL_MAX_WORDS]; /* the command and its arguments */
} ctl_args;

/* Fills `a` from argv. Options may come anywhere before `--`; everything
 * after `--` is a word. Returns 0, or -1 with a reason in `why` (a usage
 * error). --help and --version need no command. */
int ctl_args_parse(int argc, char **argv, ctl_args *a, char *why, size_t len);

/* "2", "0.5", "500ms", "2s", "1.25s", "5m", "1h" -> nanoseconds within
 * [CTL_INTERVAL_MIN_NS, CTL_INTERVAL_MAX_NS]; 0 for anything else (nan,
 * inf, hex, signs, spaces, exponents, other units, out of range). */
uint64_t ctl_parse_interval(const char *text);

/* The width to fit tables to: the terminal's when `tty_columns` > 0, else
 * $COLUMNS when it is a number from 1 to 10000 (pass getenv's result),
 * else 0: no limit (output to a pipe or file is never cut). */
size_t ctl_output_width(unsigned tty_columns, const char *columns_env);

#endif
