/* The daemon's log: one line per event on stderr, so launchd's
 * StandardErrorPath and journald both keep it. On a terminal or a file a
 * line starts with a UTC timestamp and the level; when stderr is the
 * journal (JOURNAL_STREAM), with the syslog priority ("<4>") instead, so
 * `journalctl -p warning` finds the warnings. Lines about peers go
 * through log_peer.h, which rate-limits them. */
#ifndef MEMPOOL_LOG_H
#define MEMPOOL_LOG_H

typedef enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
} log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* "error", "warn", "info", "debug"; -1 for anything else. */
int log_level_parse(const char *name);
const char *log_level_name(log_level level);

/* From now on the log goes to `path` (appended, 0640 when created)
   instead of stderr: it becomes the process's stderr (dup2), so anything
   written there lands in it too. Once the file at `path` is no longer the
   one open (rotated away: renamed or removed), the next line, at most once a
   second, opens `path` again. 0, or -1 with errno set. */
int log_to_file(const char *path);

void log_msg(log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
