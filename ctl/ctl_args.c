#include "ctl_args.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct option long_options[] = {
    { "socket", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static int add_word(ctl_args *a, char *word, char *why, size_t len)
{
    if (a->nwords == CTL_MAX_WORDS) {
        snprintf(why, len, "more than %d words", CTL_MAX_WORDS);
        return -1;
    }
    a->words[a->nwords++] = word;
    return 0;
}

/* One option; 1 when it was a word (getopt's code 1), 0, or -1. */
static int take_option(int opt, ctl_args *a, char *why, size_t len)
{
    switch (opt) {
    case 's': a->socket = optarg; return 0;
    case 'j': a->json = true; return 0;
    case 'h': a->action = CTL_HELP; return 0;
    case 'V': /* --help wins over --version, wherever each is */
        if (a->action != CTL_HELP)
            a->action = CTL_VERSION;
        return 0;
    case 1: return add_word(a, optarg, why, len) == 0 ? 1 : -1;
    case ':': snprintf(why, len, "option %s needs an argument", optopt == 's' ? "-s" : "--socket");
              return -1;
    default: snprintf(why, len, "unknown option"); return -1;
    }
}

int ctl_args_parse(int argc, char **argv, ctl_args *a, char *why, size_t len)
{
    *a = (ctl_args){ .action = CTL_RUN };
    /* '-': words come back in order as option 1, in glibc and the BSDs
     * alike and whatever POSIXLY_CORRECT says, so `stats --json` and
     * `--json stats` are one command. ':': a missing argument is told
     * apart from an unknown option. getopt prints no message of its own. */
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "-:s:jhV", long_options, NULL)) != -1) {
        /* An unknown long option (optopt 0) is named as written; a short
         * one by its letter, which may sit in a group (-jx). */
        if (opt == '?' && optopt == 0)
            snprintf(why, len, "unknown option '%s'", argv[optind - 1]);
        else if (opt == '?' && strchr("jhV", optopt) != NULL)
            snprintf(why, len, "option '%s' takes no argument", argv[optind - 1]);
        else if (opt == '?')
            snprintf(why, len, "unknown option '-%c'", optopt);
        if (opt == '?' || take_option(opt, a, why, len) < 0)
            return -1;
    }
    for (int i = optind; i < argc; i++) /* after "--" */
        if (add_word(a, argv[i], why, len) != 0)
            return -1;
    if (a->action == CTL_RUN && a->nwords == 0) {
        snprintf(why, len, "no command");
        return -1;
    }
    return 0;
}

/* Digits, then an optional '.' and digits (at most 9 after the point). */
static const char *scan_decimal(const char *p, uint64_t *whole, uint64_t *nanos)
{
    *whole = 0;
    *nanos = 0;
    if (*p < '0' || *p > '9')
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (*whole > CTL_INTERVAL_MAX_NS / 1000000) /* past 24h even in ms */
            return NULL;
        *whole = *whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '.')
        return p;
    uint64_t scale = 100000000;
    if (*++p < '0' || *p > '9')
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++, scale /= 10) {
        if (scale == 0)
            return NULL;
        *nanos += (uint64_t)(*p - '0') * scale;
    }
    return p;
}

uint64_t ctl_parse_interval(const char *text)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = { { "ms", 1000000ull }, { "s", 1000000000ull }, { "", 1000000000ull },
                  { "m", 60000000000ull }, { "h", 3600000000000ull } };
    uint64_t whole, nanos;
    const char *unit = scan_decimal(text, &whole, &nanos);
    for (size_t i = 0; unit != NULL && i < sizeof units / sizeof units[0]; i++) {
        uint64_t mult = units[i].ns;
        if (strcmp(unit, units[i].name) != 0 || whole > CTL_INTERVAL_MAX_NS / mult)
            continue;
        /* nanos is the fraction in billionths: scaled without overflow. */
        uint64_t ns = whole * mult + (mult >= 1000000000ull ? nanos * (mult / 1000000000ull)
                                                            : nanos / (1000000000ull / mult));
        return ns >= CTL_INTERVAL_MIN_NS && ns <= CTL_INTERVAL_MAX_NS ? ns : 0;
    }
    return 0;
}

size_t ctl_output_width(unsigned tty_columns, const char *columns_env)
{
    if (tty_columns > 0)
        return tty_columns;
    if (columns_env == NULL || columns_env[0] == '\0' || strlen(columns_env) > 5)
        return 0;
    size_t n = 0;
    for (const char *p = columns_env; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (size_t)(*p - '0');
    }
    return n >= 1 && n <= 10000 ? n : 0;
}
