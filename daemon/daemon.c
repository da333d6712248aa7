/* The daemon's life: start from a policy, serve, reload, stop. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "budget.h"
#include "activation.h"
#include "handoff.h"
#include "handoff_service.h"
#include "listen.h"
#include "log.h"
#include "mem.h"
#include "metrics_http.h"
#include "scavenger.h"
#include "server.h"
#include "sweeper.h"
#include "status.h"

uint64_t daemon_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t daemon_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Each block of a client is a descriptor while it is being handed over,
 * and each client a socket: take all the descriptors the system allows. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

/* A pool added by a reload would need address space reserved and every
 * session's accounts widened: it waits for a restart, as a removed one. */
static bool adds_a_pool(const policy *old, const policy *new_)
{
    for (size_t i = 0; i < new_->npools; i++)
        if (policy_find_pool(old, new_->pools[i].name) == NULL)
            return true;
    return false;
}

/* RLIMIT_NOFILE as it is now (a reload reads it again: an administrator
 * may have changed it with prlimit); UINT64_MAX when there is none. */
static uint64_t nofile_now(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return UINT64_MAX;
    return (uint64_t)rl.rlim_cur;
}

/* The connections and block backings the policy gets within the OS
 * limits; -ERANGE (with why) when its max_clients does not fit. */
static int plan_budget(const policy *pol, budget *out, char *why, size_t len)
{
    return budget_plan(pol, nofile_now(), mem_os_mapping_limit(), out, why, len);
}

static void apply_budget(daemon_state *d, const policy *pol, const budget *b)
{
    d->max_clients = b->max_clients;
    pool_set_limit_backings(d->pools, b->backings);
    pool_set_uid_share(d->pools, pol->backings_per_uid);
    log_info("descriptors: %u clients, %llu block backings (a uid at most %u.%u%% of them)",
             (unsigned)b->max_clients, (unsigned long long)b->backings,
             (unsigned)(pol->backings_per_uid / 10), (unsigned)(pol->backings_per_uid % 10));
}

static int reload_policy(daemon_state *d, char *msg, size_t len);

int daemon_reload(daemon_state *d, char *msg, size_t len)
{
    activation_notify(ACTIVATION_RELOADING);
    int rc = reload_policy(d, msg, len);
    d->last_reload_ok = rc == 0;
    if (rc == 0)
        d->last_reload_success_unix_ms = daemon_unix_ms();
    activation_notify(ACTIVATION_READY);
    return rc;
}

static int reload_policy(daemon_state *d, char *msg, size_t len)
{
    policy_error err = { 0 };
    policy *next = NULL;
    if (policy_load_file(d->policy_path, &next, &err) != 0) {
        snprintf(msg, len, "%s", err.text);
        log_error("reload of %s refused; the running policy stays:\n%s", d->policy_path, err.text);
        return -EINVAL;
    }
    bool restart = false;
    int changes = policy_diff(d->pol, next, msg, len, &restart);
    if (restart || adds_a_pool(d->pol, next)) {
        size_t used = strlen(msg);
        snprintf(msg + used, len - used, "%sthese changes need a restart; the running policy stays",
                 used > 0 && msg[used - 1] != '\n' ? "\n" : "");
        log_error("reload of %s refused:\n%s", d->policy_path, msg);
        policy_free(next);
        return -EBUSY;
    }
    budget b;
    if (plan_budget(next, &b, msg, len) != 0) {
        log_error("reload of %s refused; the running policy stays:\n%s", d->policy_path, msg);
        policy_free(next);
        return -ERANGE;
    }
    pool_set_apply(d->pools, next);
    apply_budget(d, next, &b);
    scavenger_policy_changed(d);
    log_set_level((log_level)next->log_level);
    policy_free(d->pol);
    d->pol = next;
    log_info("reloaded %s: %d change%s%s%s", d->policy_path, changes, changes == 1 ? "" : "s",
             changes > 0 ? "\n" : "", changes > 0 ? msg : "");
    return 0;
}


static void on_signal(uv_signal_t *sig, int signum)
{
    daemon_state *d = sig->data;
    char msg[4096] = "";
    if (signum == SIGHUP)
        daemon_reload(d, msg, sizeof msg);
    else
        daemon_shutdown(d);
}

static void watch_signals(daemon_state *d, uv_signal_t sigs[3])
{
    static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d->loop, &sigs[i]);
        sigs[i].data = d;
        uv_signal_start(&sigs[i], on_signal, signums[i]);
        uv_unref((uv_handle_t *)&sigs[i]);
    }
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs the loop until shutdown, then lets every handle close. */
static void run_loop(daemon_state *d)
{
    uv_run(d->loop, UV_RUN_DEFAULT);
    if (!d->stopping)
        daemon_shutdown(d);
    uv_walk(d->loop, close_handle, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
}

/* ---- service modules ------------------------------------------------------
 * Each module serves one part of the daemon on the loop. start: 0 or a
 * negative errno (having logged why); stop: stop taking new work and
 * finish what is in flight (at shutdown, before the loop ends); release:
 * free what start made (after the loop ended). Started in table order,
 * stopped and released in reverse. */
typedef struct daemon_module {
    const char *name;
    int (*start)(daemon_state *d);
    void (*stop)(daemon_state *d);
    void (*release)(daemon_state *d);
} daemon_module;

/* The client socket: the service manager's, else the policy's path. */
static int clients_start(daemon_state *d)
{
    int fd = listen_open(ACTIVATION_CLIENT_SOCKET, d->pol->listen_socket, handoff_socket_type(),
                         d->pol->listen_mode, &d->listen_path_owned);
    if (fd < 0) {
        log_error("cannot listen on the client socket %s: %s",
                  d->listen_path_owned ? d->pol->listen_socket : "from the service manager",
                  fd == -EADDRINUSE ? "another mempoold answers there" : strerror(-fd));
        return fd;
    }
    int rc = server_start(d, fd, &d->srv);
    if (rc != 0) {
        log_error("cannot serve the client socket: %s", uv_strerror(rc));
        close(fd);
        if (d->listen_path_owned)
            unlink(d->pol->listen_socket);
        return rc;
    }
    d->listen_fd = fd;
    return 0;
}

static void clients_stop(daemon_state *d) { server_stop(d->srv); }

/* A socket the service manager made is its to remove. */
static void clients_release(daemon_state *d)
{
    close(d->listen_fd);
    if (d->listen_path_owned)
        unlink(d->pol->listen_socket);
    server_free(d->srv);
}

/* The handoff rendezvous: Darwin's Mach service, nothing on Linux
 * (daemon/handoff_service.h). */
static int handoff_start(daemon_state *d)
{
    (void)d;
    return handoff_service_start(handoff_service_name());
}

static void handoff_stop(daemon_state *d)
{
    (void)d;
    handoff_service_stop();
}

static void handoff_release(daemon_state *d)
{
    (void)d;
    handoff_service_free();
}

/* The handoff comes first, so that it stops last: sessions hand memory
 * over until the clients module has closed them. */
static const daemon_module modules[] = {
    { "handoff", handoff_start, handoff_stop, handoff_release },
    { "clients", clients_start, clients_stop, clients_release },
    /* @modules: one line per service module below this marker */
    { "sweeper", sweeper_start, sweeper_stop, sweeper_release },
    { "scavenger", scavenger_start, scavenger_stop, scavenger_release },
    { "admin", admin_start, admin_stop, admin_release },
    { "metrics", metrics_http_start, metrics_http_stop, metrics_http_release },
    { "status", status_start, status_stop, status_release },
};

#define NMODULES (sizeof modules / sizeof modules[0])

static void stop_modules(daemon_state *d, size_t started)
{
    while (started > 0)
        modules[--started].stop(d);
}

static void release_modules(daemon_state *d, size_t started)
{
    while (started > 0)
        modules[--started].release(d);
}

static size_t start_modules(daemon_state *d)
{
    size_t i = 0;
    while (i < NMODULES && modules[i].start(d) == 0)
        i++;
    return i;
}

void daemon_shutdown(daemon_state *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_info("shutting down");
    activation_notify(ACTIVATION_STOPPING);
    stop_modules(d, NMODULES);
    uv_stop(d->loop);
}

static int serve(daemon_state *d)
{
    char err[512];
    if (pool_set_new(d->pol, &d->pools, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    budget b;
    char why[512];
    if (plan_budget(d->pol, &b, why, sizeof why) != 0)
        log_warn("%s; serving that many", why);
    apply_budget(d, d->pol, &b);
    size_t started = start_modules(d);
    if (started < NMODULES) {
        stop_modules(d, started);
        uv_run(d->loop, UV_RUN_NOWAIT);
        release_modules(d, started);
        pool_set_free(d->pools);
        return 1;
    }
    uv_signal_t sigs[3];
    watch_signals(d, sigs);
    activation_notify(ACTIVATION_READY);
    log_info("mempoold %s serving %zu pool%s on %s%s", MEMPOOL_VERSION_STRING, d->pol->npools,
             d->pol->npools == 1 ? "" : "s",
             d->listen_path_owned ? d->pol->listen_socket : "the service manager's socket",
             d->listen_path_owned ? "" : " (activated)");
    run_loop(d);
    release_modules(d, NMODULES);
    pool_set_free(d->pools);
    return 0;
}

int daemon_main(const char *policy_path)
{
    policy_error err = { 0 };
    daemon_state d = { .loop = uv_default_loop(), .started_ns = daemon_now_ns(),
                       .last_reload_ok = true, .last_reload_success_unix_ms = daemon_unix_ms() };
    if (policy_load_file(policy_path, &d.pol, &err) != 0) {
        fprintf(stderr, "%s\n", err.text);
        return 2;
    }
    d.policy_path = realpath(policy_path, NULL);
    log_set_level((log_level)d.pol->log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    int rc = serve(&d);
    uv_loop_close(d.loop);
    policy_free(d.pol);
    free(d.policy_path);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
