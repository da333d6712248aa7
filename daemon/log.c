#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static log_level current_level = LOG_LEVEL_INFO;

void log_set_level(log_level level) { current_level = level; }

log_level log_get_level(void) { return current_level; }

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_level_name(log_level level)
{
    return (unsigned)level < sizeof level_names / sizeof level_names[0]
               ? level_names[level]
               : "?";
}

/* syslog priorities (syslog(3)), by level: err, warning, info, debug. */
static const int level_priorities[] = { 3, 4, 6, 7 };

/* Is stderr the journal? systemd sets JOURNAL_STREAM to the "device:inode"
 * of the stream it connects stderr to (systemd.exec(5)); a stderr
 * redirected elsewhere since (a shell's 2>file) no longer matches. Then
 * each line starts with its priority, "<3>", which journald reads as the
 * line's priority (sd-daemon(3)), and the journal keeps its own time. */
static bool stderr_is_journal(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    known = env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
            fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
            (unsigned long long)st.st_ino == ino;
    return known;
}

/* Each line of a message is an entry of its own to journald: every one
 * gets the prefix, so the lines of a refused reload are all warnings. */
static void write_journal(log_level level, const char *text)
{
    int prio = level_priorities[level];
    char out[1536];
    size_t used = 0;
    for (const char *line = text; line != NULL && used < sizeof out;) {
        const char *nl = strchr(line, '\n');
        int len = nl != NULL ? (int)(nl - line) : (int)strlen(line);
        int n = snprintf(out + used, sizeof out - used, "<%d>%s%.*s\n", prio,
                         line == text ? "" : "  ", len, line);
        used += n > 0 ? (size_t)n : 0;
        line = nl != NULL ? nl + 1 : NULL;
    }
    fwrite(out, 1, used < sizeof out ? used : sizeof out - 1, stderr);
}

static void write_stamped(log_level level, const char *text)
{
    struct timespec now;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, now.tv_nsec / 1000000L, log_level_name(level),
            text);
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level > current_level || (unsigned)level > LOG_LEVEL_DEBUG)
        return;
    /* One write per message keeps lines whole when threads log. */
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (stderr_is_journal())
        write_journal(level, line);
    else
        write_stamped(level, line);
}
