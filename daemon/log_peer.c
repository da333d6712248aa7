/* The daemon's limiters of lines about peers, on the monotonic clock: one
 * for debug lines, one for the rest, so that a flood of debug lines
 * (sessions opened and closed, where an operator asked for them) never
 * silences the warning that a uid was refused. */
#include "log_peer.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "ratelimit.h"

enum { LIMITER_EVENTS, LIMITER_DEBUG, NLIMITERS };

static ratelimit limiters[NLIMITERS];
static bool limiters_ready;

static const ratelimit_config limits = {
    .per_key_per_s = LOG_PEER_PER_S, .per_key_burst = LOG_PEER_BURST,
    .overall_per_s = LOG_ALL_PEERS_PER_S, .overall_burst = LOG_ALL_PEERS_BURST,
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static ratelimit *limiter_for(log_level level)
{
    if (!limiters_ready) {
        for (int i = 0; i < NLIMITERS; i++)
            ratelimit_init(&limiters[i], &limits, now_ns());
        limiters_ready = true;
    }
    return &limiters[level == LOG_LEVEL_DEBUG ? LIMITER_DEBUG : LIMITER_EVENTS];
}

static void report(uint32_t uid, bool is_overall, uint64_t count, void *arg)
{
    (void)arg;
    if (is_overall)
        log_warn("log: suppressed %llu messages about clients (more than %d a second)",
                 (unsigned long long)count, LOG_ALL_PEERS_PER_S);
    else
        log_warn("log: suppressed %llu messages about uid %u (more than %d a second)",
                 (unsigned long long)count, (unsigned)uid, LOG_PEER_PER_S);
}

void log_peer(uint32_t uid, log_level level, const char *fmt, ...)
{
    if (level > log_get_level())
        return;
    ratelimit_verdict v = ratelimit_take(limiter_for(level), uid, now_ns());
    if (!v.allow)
        return;
    if (v.key_suppressed > 0)
        report(uid, false, v.key_suppressed, NULL);
    if (v.overall_suppressed > 0)
        report(0, true, v.overall_suppressed, NULL);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_msg(level, "%s", line);
}

void log_peer_flush(void)
{
    for (int i = 0; limiters_ready && i < NLIMITERS; i++)
        ratelimit_flush(&limiters[i], now_ns(), report, NULL);
}
