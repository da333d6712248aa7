/* The admin commands: one table {name, handler, changes_state, arguments}
 * looked up by name (as memcached's command table), and the handlers.
 * Every handler writes one JSON object; admin_execute checks the line and
 * the argument count from the table before a handler runs. */
#include "admin.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_peer.h"
#include "mem.h"
#include "metrics.h"
#include "names.h"
#include "policy_units.h"
#include "proto.h"
#include "scavenger.h"
#include "server.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define FIGURE(field) offsetof(pool_stats, field)

static uint64_t unix_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "2024-05-01T12:00:00.123Z" */
static void iso8601_ms(uint64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

void admin_reply_ok(json_writer *out)
{
    json_object_begin(out);
    json_kv_bool(out, "ok", true);
}

void admin_reply_error(json_writer *out, const char *code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_object_begin(out);
    json_kv_bool(out, "ok", false);
    json_kv_string(out, "error", text);
    json_kv_string(out, "code", code);
}

/* ---- help, version ------------------------------------------------------- */

static int cmd_help(admin_call *c)
{
    admin_reply_ok(c->out);
    json_key(c->out, "commands");
    json_array_begin(c->out);
    for (size_t i = 0; i < admin_cmd_count(); i++) {
        const admin_cmd *cmd = admin_cmd_at(i);
        json_object_begin(c->out);
        json_kv_string(c->out, "name", cmd->name);
        json_kv_string(c->out, "args", cmd->args);
        json_kv_bool(c->out, "changes_state", cmd->changes_state);
        json_kv_string(c->out, "help", cmd->help);
        json_object_end(c->out);
    }
    json_array_end(c->out);
    return 0;
}

static int cmd_version(admin_call *c)
{
    admin_reply_ok(c->out);
    json_kv_string(c->out, "version", MEMPOOL_VERSION_STRING);
    json_kv_uint(c->out, "protocol", PROTO_VERSION);
    json_kv_int(c->out, "pid", (int64_t)getpid());
    json_kv_string(c->out, "policy", c->d->policy_path != NULL ? c->d->policy_path : "");
    return 0;
}

/* ---- stats --------------------------------------------------------------- */

/* "POOL_INFO" -> "pool_info" */
static void lower_name(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s", name);
    for (char *p = buf; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
}

static void write_server_stats(json_writer *w, const daemon_state *d)
{
    server_stats st = { 0 };
    if (d->srv != NULL)
        server_get_stats(d->srv, &st);
    json_key(w, "clients");
    json_object_begin(w);
    json_kv_uint(w, "connected", st.clients);
    json_kv_uint(w, "total", st.clients_total);
    json_kv_uint(w, "refused", st.refused);
    /* Gone, but what they held is still being let go of (server.c). */
    pool_departing dep = { 0 };
    if (d->pools != NULL)
        pool_set_departing(d->pools, &dep);
    json_kv_uint(w, "departing", dep.clients);
    json_kv_uint(w, "departing_blocks", dep.blocks);
    json_kv_uint(w, "departing_bytes", dep.bytes);
    json_object_end(w);
    json_key(w, "requests");
    json_object_begin(w);
    for (uint16_t t = 1; t < COUNT(st.requests); t++) {
        char name[32];
        if (proto_request_size(t) < 0)
            continue;
        lower_name(proto_type_name(t), name, sizeof name);
        json_kv_uint(w, name, st.requests[t]);
    }
    json_kv_uint(w, "malformed", st.requests[0]);
    json_kv_uint(w, "releases_refused", st.releases_refused);
    json_object_end(w);
}

static void write_memory(json_writer *w)
{
    mem_counters mc;
    mem_total_counters(&mc);
    json_key(w, "memory");
    json_object_begin(w);
    for (int s = MEM_RESERVED; s < MEM_NSTATES; s++)
        json_kv_uint(w, mem_state_name((mem_state)s), mc.bytes[s]);
    int64_t footprint = mem_footprint(daemon_now_ns());
    json_key(w, "os_footprint");
    json_object_begin(w);
    json_kv_string(w, "name", mem_os_footprint_name());
    json_key(w, "bytes");
    if (footprint >= 0)
        json_uint(w, (uint64_t)footprint);
    else
        json_null(w);
    if (footprint < 0)
        json_kv_string(w, "error", strerror((int)-footprint));
    json_object_end(w);
    json_object_end(w);
}

/* Daemon-wide sums of the pools' figures. */
static void write_pool_totals(json_writer *w, const daemon_state *d)
{
    pool_stats sum = { 0 }, s;
    for (size_t i = 0; i < pool_set_count(d->pools); i++) {
        pool_get_stats(pool_set_at(d->pools, i), &s);
        sum.in_use += s.in_use;
        sum.warm += s.warm;
        sum.released += s.released;
        sum.scavenger_runs += s.scavenger_runs;
        sum.scavenger_cpu_ns += s.scavenger_cpu_ns;
        sum.paced_cpu_ns += s.paced_cpu_ns;
        sum.forced_cpu_ns += s.forced_cpu_ns;
        sum.limit_cpu_ns += s.limit_cpu_ns;
        sum.sync_scavenged += s.sync_scavenged;
        if (s.last_scavenge_ms > sum.last_scavenge_ms)
            sum.last_scavenge_ms = s.last_scavenge_ms;
    }
    json_key(w, "pools");
    json_object_begin(w);
    json_kv_uint(w, "count", pool_set_count(d->pools));
    json_kv_uint(w, "in_use", sum.in_use);
    json_kv_uint(w, "warm", sum.warm);
    json_object_end(w);
    json_key(w, "scavenger");
    json_object_begin(w);
    json_kv_uint(w, "released", sum.released);
    json_kv_uint(w, "runs", sum.scavenger_runs);
    json_kv_uint(w, "cpu_ns", sum.scavenger_cpu_ns);
    json_kv_uint(w, "paced_cpu_ns", sum.paced_cpu_ns);
    json_kv_uint(w, "forced_cpu_ns", sum.forced_cpu_ns);
    json_kv_uint(w, "limit_cpu_ns", sum.limit_cpu_ns);
    json_kv_uint(w, "last_scavenge_ms", sum.last_scavenge_ms);
    json_kv_uint(w, "sync_scavenged", sum.sync_scavenged);
    json_object_end(w);
}

/* No names before the server starts (and none after it stops). */
static const names *names_of(const daemon_state *d)
{
    return d->srv != NULL ? server_names(d->srv) : NULL;
}

static void write_name_totals(json_writer *w, const daemon_state *d)
{
    const names *t = names_of(d);
    json_key(w, "names");
    json_object_begin(w);
    json_kv_uint(w, "published", t != NULL ? names_count(t) : 0);
    json_kv_uint(w, "waiting", t != NULL ? names_waiting(t) : 0);
    json_object_end(w);
}

static int cmd_stats(admin_call *c)
{
    uint64_t uptime_ms = (daemon_now_ns() - c->d->started_ns) / 1000000;
    admin_reply_ok(c->out);
    json_kv_uint(c->out, "uptime_ms", uptime_ms);
    json_kv_uint(c->out, "started_unix_ms", unix_ms_now() - uptime_ms);
    json_kv_int(c->out, "pid", (int64_t)getpid());
    json_kv_string(c->out, "log_level", log_level_name(log_get_level()));
    write_server_stats(c->out, c->d);
    write_memory(c->out);
    write_pool_totals(c->out, c->d);
    write_name_totals(c->out, c->d);
    return 0;
}

/* ---- pools --------------------------------------------------------------- */

static const struct {
    const char *key;
    size_t offset;
} pool_figures[] = {
    { "reserve", FIGURE(reserve) },
    { "limit", FIGURE(limit) },
    { "quota", FIGURE(quota) },
    { "page_size", FIGURE(page_size) },
    { "in_use", FIGURE(in_use) },
    { "cached", FIGURE(cached) },
    { "warm", FIGURE(warm) },
    { "released", FIGURE(released) },
    { "blocks", FIGURE(blocks) },
    { "holders", FIGURE(holders) },
    { "largest_free_run", FIGURE(largest_free_run) },
    { "free_bytes", FIGURE(free_bytes) },
    { "backing_resident", FIGURE(backing_resident) },
}, scavenger_figures[] = {
    { "runs", FIGURE(scavenger_runs) },
    { "cpu_ns", FIGURE(scavenger_cpu_ns) },
    { "paced_cpu_ns", FIGURE(paced_cpu_ns) },
    { "forced_cpu_ns", FIGURE(forced_cpu_ns) },
    { "limit_cpu_ns", FIGURE(limit_cpu_ns) },
    { "last_scavenge_ms", FIGURE(last_scavenge_ms) },
    { "sync_scavenged", FIGURE(sync_scavenged) },
};

static uint64_t figure(const pool_stats *s, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)s + offset, sizeof v);
    return v;
}

static void write_scavenger_settings(json_writer *w, const policy_scavenger *ps)
{
    json_kv_uint(w, "interval_ms", ps->interval_ns / 1000000);
    json_kv_uint(w, "idle_ms", ps->idle_ns / 1000000);
    json_kv_uint(w, "retain", ps->retain);
    json_kv_uint(w, "cpu_permille", ps->cpu_permille);
}

static void write_pool(json_writer *w, const daemon_state *d, pool *p)
{
    pool_stats s;
    const policy_pool *pp = pool_policy(p);
    const names *t = names_of(d);
    pool_get_stats(p, &s);
    json_object_begin(w);
    json_kv_string(w, "name", pool_name(p));
    for (size_t i = 0; i < COUNT(pool_figures); i++)
        json_kv_uint(w, pool_figures[i].key, figure(&s, pool_figures[i].offset));
    json_kv_uint(w, "names", t != NULL ? names_count_in_pool(t, pool_name(p)) : 0);
    json_kv_uint(w, "max_names", pp->max_names);
    json_kv_uint(w, "max_block", pp->max_block);
    json_kv_bool(w, "huge_pages", s.huge_pages);
    json_kv_string(w, "isolation", policy_isolation_name(pp->isolation));
    json_key(w, "scavenger");
    json_object_begin(w);
    for (size_t i = 0; i < COUNT(scavenger_figures); i++)
        json_kv_uint(w, scavenger_figures[i].key, figure(&s, scavenger_figures[i].offset));
    write_scavenger_settings(w, &pp->scavenger);
    json_object_end(w);
    json_object_end(w);
}

static int cmd_pools(admin_call *c)
{
    admin_reply_ok(c->out);
    json_key(c->out, "pools");
    json_array_begin(c->out);
    for (size_t i = 0; i < pool_set_count(c->d->pools); i++)
        write_pool(c->out, c->d, pool_set_at(c->d->pools, i));
    json_array_end(c->out);
    return 0;
}

static int no_such_pool(admin_call *c, const char *name)
{
    admin_reply_error(c->out, "no-such-pool", "no pool named '%.*s'", POLICY_POOL_NAME_MAX, name);
    return -1;
}

static void write_uid_use(uint32_t uid, uint32_t clients, uint64_t use, void *arg)
{
    json_writer *w = arg;
    json_object_begin(w);
    json_kv_uint(w, "uid", uid);
    json_kv_uint(w, "clients", clients);
    json_kv_uint(w, "bytes", use);
    json_object_end(w);
}

/* One pool, and what each connected uid holds in it across its
 * connections (what its quota counts). */
static int cmd_pool(admin_call *c)
{
    pool *p = pool_set_find(c->d->pools, c->argv[1]);
    if (p == NULL)
        return no_such_pool(c, c->argv[1]);
    admin_reply_ok(c->out);
    json_key(c->out, "pool");
    write_pool(c->out, c->d, p);
    json_key(c->out, "uids");
    json_array_begin(c->out);
    pool_foreach_uid(c->d->pools, p, write_uid_use, c->out);
    json_array_end(c->out);
    return 0;
}

/* ---- names --------------------------------------------------------------- */

typedef struct names_walk {
    json_writer *w;
    uint64_t now_ns;
} names_walk;

static void write_name(const name_entry *e, void *arg)
{
    names_walk *walk = arg;
    json_writer *w = walk->w;
    json_object_begin(w);
    json_kv_string(w, "name", e->name);
    json_kv_string(w, "pool", e->pool);
    json_kv_uint(w, "block", e->block_id);
    json_kv_uint(w, "size", e->size);
    json_kv_uint(w, "publisher_uid", e->publisher_uid);
    json_kv_string(w, "prot", (e->prot & MEMPOOL_WRITE) ? "rw" : "r");
    json_kv_uint(w, "age_ms", (walk->now_ns - e->published_ns) / 1000000);
    json_object_end(w);
}

/* The handles are never shown: they are what a lookup hands out, and the
 * admin socket's operators need the names, not the keys. */
static int cmd_names(admin_call *c)
{
    const char *pool = c->argc > 1 ? c->argv[1] : NULL;
    if (pool != NULL && pool_set_find(c->d->pools, pool) == NULL)
        return no_such_pool(c, pool);
    const names *t = names_of(c->d);
    names_walk walk = { .w = c->out, .now_ns = daemon_now_ns() };
    admin_reply_ok(c->out);
    json_kv_uint(c->out, "waiting", t != NULL ? names_waiting(t) : 0);
    json_key(c->out, "names");
    json_array_begin(c->out);
    if (t != NULL)
        names_foreach(t, pool, write_name, &walk);
    json_array_end(c->out);
    return 0;
}

/* ---- clients ------------------------------------------------------------- */

typedef struct clients_walk {
    json_writer *w;
    const daemon_state *d;
} clients_walk;

static void write_client(const server_client_info *ci, void *arg)
{
    clients_walk *walk = arg;
    json_writer *w = walk->w;
    char since[40];
    iso8601_ms(ci->connected_unix_ms, since, sizeof since);
    json_object_begin(w);
    json_kv_uint(w, "id", ci->id);
    json_kv_int(w, "pid", ci->pid);
    json_kv_uint(w, "uid", ci->uid);
    json_kv_uint(w, "gid", ci->gid);
    json_kv_string(w, "name", ci->name);
    json_kv_uint(w, "blocks", ci->blocks);
    json_kv_uint(w, "bytes", ci->bytes);
    json_kv_uint(w, "cached", ci->cached);
    json_key(w, "pools");
    json_object_begin(w);
    for (size_t i = 0; i < pool_set_count(walk->d->pools); i++) {
        const pool *p = pool_set_at(walk->d->pools, i);
        uint64_t use = pool_client_use(ci->account, p);
        if (use > 0)
            json_kv_uint(w, pool_name(p), use);
    }
    json_object_end(w);
    /* What the quota counts: everything the uid holds, all connections. */
    json_key(w, "uid_pools");
    json_object_begin(w);
    for (size_t i = 0; i < pool_set_count(walk->d->pools); i++) {
        const pool *p = pool_set_at(walk->d->pools, i);
        uint64_t use = pool_client_uid_use(ci->account, p);
        if (use > 0)
            json_kv_uint(w, pool_name(p), use);
    }
    json_object_end(w);
    json_kv_uint(w, "connected_unix_ms", ci->connected_unix_ms);
    json_kv_string(w, "connected_since", since);
    json_object_end(w);
}

static int cmd_clients(admin_call *c)
{
    clients_walk walk = { .w = c->out, .d = c->d };
    admin_reply_ok(c->out);
    json_key(c->out, "clients");
    json_array_begin(c->out);
    if (c->d->srv != NULL)
        server_foreach_client(c->d->srv, write_client, &walk);
    json_array_end(c->out);
    return 0;
}

/* ---- scavenge ------------------------------------------------------------ */

/* [POOL] [BYTES]: one word is a pool's name, or else a size for all pools. */
static int scavenge_args(admin_call *c, pool **target, uint64_t *bytes)
{
    const char *why = NULL;
    *target = NULL;
    *bytes = UINT64_MAX;
    if (c->argc >= 2)
        *target = pool_set_find(c->d->pools, c->argv[1]);
    if (c->argc == 2 && *target == NULL && policy_scan_size(c->argv[1], bytes, &why) != 0)
        return no_such_pool(c, c->argv[1]);
    if (c->argc == 3 && *target == NULL)
        return no_such_pool(c, c->argv[1]);
    if (c->argc == 3 && policy_scan_size(c->argv[2], bytes, &why) != 0) {
        admin_reply_error(c->out, "bad-arguments", "BYTES '%.64s': %s", c->argv[2], why);
        return -1;
    }
    return 0;
}

static void write_scavenge_fields(json_writer *out, const daemon_state *d, const pool *target,
                                  uint64_t released);

static int cmd_scavenge(admin_call *c)
{
    pool *target;
    uint64_t bytes;
    if (scavenge_args(c, &target, &bytes) != 0)
        return -1;
    /* Nothing asked for, nothing released (the scavenger reads 0 as all). */
    if (bytes == 0) {
        write_scavenge_fields(c->out, c->d, target, 0);
        return 0;
    }
    /* Clients' caches hold memory no scavenge can reach: replies ask them
     * to give it back for the next second (the daemon cannot reach into a
     * client; a connection that makes no call keeps its cache until its
     * age limit). */
    pool_set_ask_give_back(c->d->pools, daemon_now_ns() + GIVE_BACK_ASK_NS);
    /* The scavenger works in slices of a millisecond between other work
     * and calls admin_scavenge_done when it is through. */
    int rc = scavenger_force(c->d, target, bytes == UINT64_MAX ? 0 : bytes, admin_scavenge_done,
                             c->session);
    if (rc != 0) {
        admin_reply_error(c->out, "internal", "the scavenger cannot take the request: %s",
                          strerror(-rc));
        return -1;
    }
    c->scavenge_pool = target;
    return ADMIN_HANDLER_LATER;
}

/* The reply's fields: what was released, and each pool's warm bytes now. */
static void write_scavenge_fields(json_writer *out, const daemon_state *d, const pool *target,
                                  uint64_t released)
{
    admin_reply_ok(out);
    json_kv_uint(out, "released", released);
    json_key(out, "pools");
    json_array_begin(out);
    for (size_t i = 0; i < pool_set_count(d->pools); i++) {
        pool *p = pool_set_at(d->pools, i);
        pool_stats s;
        if (target != NULL && p != target)
            continue;
        pool_get_stats(p, &s);
        json_object_begin(out);
        json_kv_string(out, "name", pool_name(p));
        json_kv_uint(out, "warm", s.warm);
        json_kv_uint(out, "released_total", s.released);
        json_object_end(out);
    }
    json_array_end(out);
}

void admin_write_scavenge_reply(json_writer *out, const daemon_state *d, const pool *target,
                                uint64_t released)
{
    json_reset(out);
    write_scavenge_fields(out, d, target, released);
    json_object_end(out);
    json_raw(out, "\n", 1);
}

/* ---- reload, policy, log-level ------------------------------------------- */

/* The lines of `text` as a JSON array; with a suffix, only lines ending
 * in it. */
static void write_lines(json_writer *w, const char *key, const char *text, const char *suffix)
{
    json_key(w, key);
    json_array_begin(w);
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        size_t sn = suffix != NULL ? strlen(suffix) : 0;
        if (n > 0 && (suffix == NULL || (n >= sn && memcmp(line + n - sn, suffix, sn) == 0)))
            json_string_n(w, line, n);
        line += n + (end != NULL);
    }
    json_array_end(w);
}

static int cmd_reload(admin_call *c)
{
    char msg[8192] = "";
    int rc = daemon_reload(c->d, msg, sizeof msg);
    if (rc == 0) {
        admin_reply_ok(c->out);
        write_lines(c->out, "changes", msg, NULL);
        return 0;
    }
    if (rc == -EBUSY) {
        admin_reply_error(c->out, "needs-restart",
                          "these changes need a restart; the running policy stays");
        write_lines(c->out, "changes", msg, ")");
        write_lines(c->out, "needs_restart", msg, " (needs restart)");
        return -1;
    }
    if (rc == -ERANGE) {
        admin_reply_error(c->out, "over-os-limits", "%s; the running policy stays", msg);
        return -1;
    }
    admin_reply_error(c->out, "invalid-policy", "%s is not valid; the running policy stays",
                      c->d->policy_path != NULL ? c->d->policy_path : "the policy");
    write_lines(c->out, "errors", msg, NULL);
    return -1;
}

typedef int text_writer(const daemon_state *d, FILE *f);

/* Starts a reply whose field `key` holds the text `write` produces. */
static int reply_with_text(admin_call *c, const char *what, text_writer *write, const char *key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc = f != NULL ? write(c->d, f) : -errno;
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = -EIO;
    if (rc != 0) {
        admin_reply_error(c->out, "internal", "cannot write the %s: %s", what, strerror(-rc));
        free(text);
        return -1;
    }
    admin_reply_ok(c->out);
    json_kv_string(c->out, key, text);
    free(text);
    return 0;
}

static int write_policy(const daemon_state *d, FILE *f) { return policy_write_yaml(d->pol, f); }

static int cmd_policy(admin_call *c)
{
    if (reply_with_text(c, "policy", write_policy, "yaml") != 0)
        return -1;
    json_kv_string(c->out, "path", c->d->pol->path);
    return 0;
}

static int cmd_log_level(admin_call *c)
{
    int level = log_level_parse(c->argv[1]);
    if (level < 0) {
        admin_reply_error(c->out, "bad-arguments",
                          "unknown level '%.32s' (error, warn, info, debug)", c->argv[1]);
        return -1;
    }
    admin_reply_ok(c->out);
    json_kv_string(c->out, "previous", log_level_name(log_get_level()));
    log_set_level((log_level)level);
    json_kv_string(c->out, "level", log_level_name((log_level)level));
    return 0;
}

/* ---- metrics, shutdown --------------------------------------------------- */

static int cmd_metrics(admin_call *c)
{
    if (reply_with_text(c, "metrics", metrics_write, "text") != 0)
        return -1;
    json_kv_string(c->out, "content_type", "text/plain; version=0.0.4");
    return 0;
}

static int cmd_shutdown(admin_call *c)
{
    admin_reply_ok(c->out);
    json_kv_bool(c->out, "stopping", true);
    c->shutdown_after_reply = true;
    return 0;
}

/* ---- the table ----------------------------------------------------------- */

static const admin_cmd commands[] = {
    { "help", cmd_help, false, 0, 0, "", "list the commands" },
    { "version", cmd_version, false, 0, 0, "",
      "the daemon's version, protocol, pid and policy file" },
    { "stats", cmd_stats, false, 0, 0, "",
      "uptime, clients, requests by type, memory by state next to the OS footprint, "
      "scavenger totals" },
    { "pools", cmd_pools, false, 0, 0, "", "every pool's figures" },
    { "pool", cmd_pool, false, 1, 1, "NAME", "one pool's figures" },
    { "clients", cmd_clients, false, 0, 0, "", "the connected clients and what they hold" },
    { "names", cmd_names, false, 0, 1, "[POOL]",
      "the published names (of one pool): block, size, publisher, protection, age" },
    { "scavenge", cmd_scavenge, true, 0, 2, "[POOL] [BYTES]",
      "give warm memory back to the OS now (all pools, all of it, unless limited)" },
    { "reload", cmd_reload, true, 0, 0, "", "re-read the policy file (as SIGHUP)" },
    { "policy", cmd_policy, false, 0, 0, "", "the policy in force, every default filled in" },
    { "log-level", cmd_log_level, true, 1, 1, "LEVEL",
      "set the log level: error, warn, info, debug" },
    { "metrics", cmd_metrics, false, 0, 0, "", "Prometheus text exposition, in the field text" },
    { "shutdown", cmd_shutdown, true, 0, 0, "", "stop the daemon, as SIGTERM" },
};

size_t admin_cmd_count(void) { return COUNT(commands); }

const admin_cmd *admin_cmd_at(size_t i) { return i < COUNT(commands) ? &commands[i] : NULL; }

const admin_cmd *admin_find_cmd(const char *name)
{
    for (size_t i = 0; i < COUNT(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---- running a line ------------------------------------------------------ */

int admin_split_words(char *line, char **words, int max)
{
    int n = 0;
    for (char *p = line; *p != '\0';) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        if (n == max)
            return -1;
        words[n++] = p;
        p += strcspn(p, " \t");
        if (*p != '\0')
            *p++ = '\0';
    }
    return n;
}

/* The first byte that cannot be part of a text command, or -1. */
static int first_binary_byte(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)line[i];
        if ((b < 0x20 && b != '\t') || b == 0x7f)
            return b;
    }
    return -1;
}

/* Through the peer limiter, as every line a peer causes: an admitted user
 * sending `log-level debug` in a loop wrote 44,000 lines a second. */
static void log_state_change(const admin_call *c)
{
    char words[256] = "";
    size_t used = 0;
    for (int i = 0; i < c->argc && used < sizeof words; i++)
        used += (size_t)snprintf(words + used, sizeof words - used, "%s%s", i ? " " : "",
                                 c->argv[i]);
    log_peer(c->peer->uid, LOG_LEVEL_INFO, "admin: '%s' from uid %u (pid %d)", words,
             (unsigned)c->peer->uid, (int)c->peer->pid);
}

static admin_outcome run_command(admin_call *c)
{
    const admin_cmd *cmd = admin_find_cmd(c->argv[0]);
    int nargs = c->argc - 1;
    if (cmd == NULL) {
        admin_reply_error(c->out, "unknown-command", "unknown command '%.64s' (try help)",
                          c->argv[0]);
        return ADMIN_REFUSED;
    }
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        admin_reply_error(c->out, "bad-arguments", "usage: %s%s%s", cmd->name,
                          cmd->args[0] != '\0' ? " " : "", cmd->args);
        return ADMIN_REFUSED;
    }
    if (cmd->changes_state && c->d->stopping) {
        admin_reply_error(c->out, "stopping", "the daemon is shutting down");
        return ADMIN_REFUSED;
    }
    if (cmd->changes_state)
        log_state_change(c);
    int rc = cmd->handler(c);
    return rc == 0 ? ADMIN_DONE : rc == ADMIN_HANDLER_LATER ? ADMIN_LATER : ADMIN_REFUSED;
}

static admin_outcome run_line(admin_call *c, char *line, size_t len)
{
    int bad = first_binary_byte(line, len);
    if (bad >= 0) {
        admin_reply_error(c->out, "bad-input",
                          "byte 0x%02x is not text: one command per line, words in plain text",
                          bad);
        return ADMIN_BAD_INPUT;
    }
    line[len] = '\0';
    c->argc = admin_split_words(line, c->argv, ADMIN_MAX_ARGS);
    if (c->argc == 0)
        return ADMIN_NO_REPLY;
    if (c->argc < 0) {
        admin_reply_error(c->out, "bad-arguments", "more than %d words on the line",
                          ADMIN_MAX_ARGS);
        return ADMIN_REFUSED;
    }
    return run_command(c);
}

admin_outcome admin_execute(admin_call *c, char *line, size_t len)
{
    json_reset(c->out);
    c->shutdown_after_reply = false;
    c->scavenge_pool = NULL;
    admin_outcome outcome = run_line(c, line, len);
    if (outcome == ADMIN_NO_REPLY || outcome == ADMIN_LATER)
        return outcome;
    json_object_end(c->out);
    if (c->out->failed) {
        json_reset(c->out);
        admin_reply_error(c->out, "internal", "the reply is too large or out of memory");
        json_object_end(c->out);
        outcome = ADMIN_REFUSED;
        c->shutdown_after_reply = false;
    }
    json_raw(c->out, "\n", 1);
    return outcome;
}
