#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
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

/* The log file (--log-file): its path, and when it was last compared
 * with what fd 2 holds. The lock keeps two threads from reopening it at
 * once; dup2 swaps the file under fd 2 atomically for every writer. */
static struct {
    pthread_mutex_t lock;
    char *path;
    time_t checked;
} log_file = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int open_on_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = fd == STDERR_FILENO ? 0 : dup2(fd, STDERR_FILENO);
    int err = errno;
    if (fd != STDERR_FILENO)
        close(fd);
    errno = err;
    return rc < 0 ? -1 : 0;
}

int log_to_file(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL || open_on_stderr(path) != 0) {
        free(copy);
        return -1;
    }
    pthread_mutex_lock(&log_file.lock);
    free(log_file.path);
    log_file.path = copy;
    struct timespec now; /* the clock log_msg reads, not time()'s coarser one */
    clock_gettime(CLOCK_REALTIME, &now);
    log_file.checked = now.tv_sec;
    pthread_mutex_unlock(&log_file.lock);
    return 0;
}

/* newsyslog renames the file and sends no signal (flag N): the path names
 * a new file, or none, while fd 2 still holds the old one. */
static void follow_rotation(time_t now)
{
    pthread_mutex_lock(&log_file.lock);
    if (log_file.path != NULL && now != log_file.checked) {
        log_file.checked = now;
        struct stat at_path, open_now;
        bool moved = stat(log_file.path, &at_path) != 0 || fstat(STDERR_FILENO, &open_now) != 0 ||
                     at_path.st_ino != open_now.st_ino || at_path.st_dev != open_now.st_dev;
        if (moved)
            open_on_stderr(log_file.path);
    }
    pthread_mutex_unlock(&log_file.lock);
}

static void write_stamped(log_level level, const char *text)
{
    struct timespec now;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    follow_rotation(now.tv_sec);
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
