/* Prometheus text exposition of the daemon's figures. The per-pool
 * families are a table over pool_stats, so a figure added there needs one
 * line here. Every family is written whole (HELP, TYPE, then all its
 * samples), as the format requires. */
#include "metrics.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "names.h"
#include "process.h"
#include "proto.h"
#include "server.h"

/* A figure in a base unit, shown with `decimals` of it moved behind the
 * point (9: nanoseconds as seconds). */
typedef struct pool_family {
    const char *name, *type, *help;
    size_t offset;     /* of a uint64_t in pool_stats */
    int decimals;
} pool_family;

#define FIGURE(field) offsetof(pool_stats, field)

static const pool_family pool_families[] = {
    { "mempool_pool_reserve_bytes", "gauge", "Address space the pool reserved at start.",
      FIGURE(reserve), 0 },
    { "mempool_pool_limit_bytes", "gauge", "Most memory the pool may hold, in use plus warm.",
      FIGURE(limit), 0 },
    { "mempool_pool_quota_bytes", "gauge", "Most memory one uid may hold in the pool,.",
      FIGURE(quota), 0 },
    { "mempool_pool_page_size_bytes", "gauge", "The pool's block granularity.",
      FIGURE(page_size), 0 },
    { "mempool_pool_blocks", "gauge", "Live blocks in the pool.", FIGURE(blocks), 0 },
    { "mempool_pool_holders", "gauge", "Holds on the pool's live blocks.", FIGURE(holders), 0 },
    { "mempool_pool_largest_free_run_bytes", "gauge",
      "The largest run of free address space (fragmentation, next to the free bytes).",
      FIGURE(largest_free_run), 0 },
    { "mempool_pool_backing_resident_bytes", "gauge",
      "What the OS holds for the pool's backings (memfd st_blocks).", FIGURE(backing_resident), 0 },
    { "mempool_pool_released_bytes_total", "counter", "Bytes the pool gave back to the OS.",
      FIGURE(released), 0 },
    { "mempool_pool_cached_bytes", "gauge",
      "Bytes of held blocks that clients keep in their block caches (part of in use).",
      FIGURE(cached), 0 },
    { "mempool_pool_sync_scavenged_bytes_total", "counter",
      "Bytes released on the allocation path to stay under the limit.", FIGURE(sync_scavenged), 0 },
    { "mempool_pool_scavenger_runs_total", "counter", "Background scavenger runs on the pool.",
      FIGURE(scavenger_runs), 0 },
    { "mempool_pool_scavenger_cpu_seconds_total", "counter",
      "CPU time the scavenger spent on the pool.", FIGURE(scavenger_cpu_ns), 9 },
    { "mempool_pool_scavenger_paced_cpu_seconds_total", "counter",
      "CPU time of the pool's paced background scavenging (bounded by its cpu setting).",
      FIGURE(paced_cpu_ns), 9 },
    { "mempool_pool_scavenger_forced_cpu_seconds_total", "counter",
      "CPU time of forced scavenging (admin scavenge, memory pressure), not paced.",
      FIGURE(forced_cpu_ns), 9 },
    { "mempool_pool_scavenger_limit_cpu_seconds_total", "counter",
      "CPU time spent releasing memory inside allocations to stay under the limit.",
      FIGURE(limit_cpu_ns), 9 },
    { "mempool_pool_last_scavenge_timestamp_seconds", "gauge",
      "Unix time of the pool's last scavenge (0: never).", FIGURE(last_scavenge_ms), 3 },
};

/* The states a pool's address space is in, for mempool_pool_bytes. */
static const struct {
    const char *state;
    size_t offset;
} pool_states[] = {
    { "in_use", FIGURE(in_use) },
    { "warm", FIGURE(warm) },
    { "free", FIGURE(free_bytes) },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void number(FILE *f, uint64_t v, int decimals)
{
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals == 0)
        fprintf(f, "%" PRIu64 "\n", v);
    else
        fprintf(f, "%" PRIu64 ".%0*" PRIu64 "\n", v / scale, decimals, v % scale);
}

void metrics_write_label_value(FILE *f, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
}

/* `name{key="value"} ` (the number follows). */
static void sample(FILE *f, const char *name, const char *key, const char *value)
{
    fprintf(f, "%s{%s=\"", name, key);
    metrics_write_label_value(f, value);
    fputs("\"} ", f);
}

static uint64_t figure(const pool_stats *s, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)s + offset, sizeof v);
    return v;
}

static void write_pools(const daemon_state *d, const pool_stats *stats, FILE *f)
{
    size_t n = pool_set_count(d->pools);
    family(f, "mempool_pool_bytes", "gauge",
           "The pool's address space by state: in live blocks, warm (free, kept mapped), free.");
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < COUNT(pool_states); k++) {
            fprintf(f, "mempool_pool_bytes{pool=\"");
            metrics_write_label_value(f, pool_name(pool_set_at(d->pools, i)));
            fprintf(f, "\",state=\"%s\"} ", pool_states[k].state);
            number(f, figure(&stats[i], pool_states[k].offset), 0);
        }
    }
    for (size_t k = 0; k < COUNT(pool_families); k++) {
        const pool_family *pf = &pool_families[k];
        family(f, pf->name, pf->type, pf->help);
        for (size_t i = 0; i < n; i++) {
            sample(f, pf->name, "pool", pool_name(pool_set_at(d->pools, i)));
            number(f, figure(&stats[i], pf->offset), pf->decimals);
        }
    }
    family(f, "mempool_pool_huge_pages", "gauge", "1 where the pool's memory uses huge pages.");
    for (size_t i = 0; i < n; i++) {
        sample(f, "mempool_pool_huge_pages", "pool", pool_name(pool_set_at(d->pools, i)));
        number(f, stats[i].huge_pages ? 1 : 0, 0);
    }
}

static void write_requests(const server_stats *st, FILE *f)
{
    family(f, "mempool_requests_total", "counter",
           "Client requests by message type (malformed: frames that could not be decoded).");
    sample(f, "mempool_requests_total", "type", "malformed");
    number(f, st->requests[0], 0);
    for (uint16_t t = 1; t < COUNT(st->requests); t++) {
        if (proto_request_size(t) < 0)
            continue;
        char name[32];
        snprintf(name, sizeof name, "%s", proto_type_name(t));
        for (char *p = name; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        sample(f, "mempool_requests_total", "type", name);
        number(f, st->requests[t], 0);
    }
}

/* The message type as a label: "alloc", "pool_info"; "malformed" for 0. */
static void type_label(uint16_t type, char *buf, size_t len)
{
    snprintf(buf, len, "%s", type == 0 ? "malformed" : proto_type_name(type));
    for (char *p = buf; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* Only the pairs that happened: 7 types by 17 codes would be mostly zeros. */
static void write_request_errors(const server_stats *st, FILE *f)
{
    family(f, "mempool_request_errors_total", "counter",
           "Refused requests by message type and MEMPOOL_E* code (a refused connection "
           "is a refused hello; malformed: frames that could not be decoded).");
    for (uint16_t t = 0; t < COUNT(st->errors); t++) {
        for (int c = 1; c < SERVER_ERROR_CODES; c++) {
            if (st->errors[t][c] == 0)
                continue;
            char type[32];
            type_label(t, type, sizeof type);
            fprintf(f, "mempool_request_errors_total{type=\"%s\",code=\"%s\"} ", type,
                    mempool_err_name(-c));
            number(f, st->errors[t][c], 0);
        }
    }
}

static void write_daemon_info(const daemon_state *d, FILE *f)
{
    family(f, "mempool_build_info", "gauge", "Always 1; the daemon's version as a label.");
    sample(f, "mempool_build_info", "version", MEMPOOL_VERSION_STRING);
    number(f, 1, 0);
    family(f, "mempool_config_last_reload_successful", "gauge",
           "1 when the last reload of the policy applied (the start counts), else 0.");
    fputs("mempool_config_last_reload_successful ", f);
    number(f, d->last_reload_ok ? 1 : 0, 0);
    family(f, "mempool_config_last_reload_success_timestamp_seconds", "gauge",
           "Unix time of the last reload that applied (or of the start).");
    fputs("mempool_config_last_reload_success_timestamp_seconds ", f);
    number(f, d->last_reload_success_unix_ms, 3);
    uint64_t open, max;
    pool_set_backings(d->pools, &open, &max);
    family(f, "mempool_backings", "gauge",
           "Block backings open (a descriptor and a mapping each, block isolation).");
    fputs("mempool_backings ", f);
    number(f, open, 0);
    family(f, "mempool_backings_budget", "gauge",
           "The most block backings the daemon keeps open at once (0: no limit).");
    fputs("mempool_backings_budget ", f);
    number(f, max, 0);
}

/* The standard process families, as Prometheus' client libraries write
 * them; left out where the OS would not say. */
static void write_process(FILE *f)
{
    process_figures p;
    if (process_read(&p) != 0)
        return;
    static const struct {
        const char *name, *type, *help;
        size_t offset;
        int decimals;
    } families[] = {
        { "process_cpu_seconds_total", "counter",
          "Total user and system CPU time spent in seconds.",
          offsetof(process_figures, cpu_ns), 9 },
        { "process_open_fds", "gauge", "Number of open file descriptors.",
          offsetof(process_figures, open_fds), 0 },
        { "process_max_fds", "gauge", "Maximum number of open file descriptors.",
          offsetof(process_figures, max_fds), 0 },
        { "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          offsetof(process_figures, resident_bytes), 0 },
        { "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
          offsetof(process_figures, virtual_bytes), 0 },
        { "process_start_time_seconds", "gauge",
          "Start time of the process since unix epoch in seconds.",
          offsetof(process_figures, start_unix_ms), 3 },
    };
    for (size_t i = 0; i < COUNT(families); i++) {
        uint64_t v;
        memcpy(&v, (const char *)&p + families[i].offset, sizeof v);
        family(f, families[i].name, families[i].type, families[i].help);
        fprintf(f, "%s ", families[i].name);
        number(f, v, families[i].decimals);
    }
}

static void write_clients(const daemon_state *d, FILE *f)
{
    server_stats st = { 0 };
    if (d->srv != NULL)
        server_get_stats(d->srv, &st);
    family(f, "mempool_clients", "gauge", "Connected clients.");
    fprintf(f, "mempool_clients %" PRIu64 "\n", st.clients);
    family(f, "mempool_clients_accepted_total", "counter", "Client connections accepted.");
    fprintf(f, "mempool_clients_accepted_total %" PRIu64 "\n", st.clients_total);
    family(f, "mempool_clients_refused_total", "counter",
           "Client connections refused (max_clients reached, out of memory).");
    fprintf(f, "mempool_clients_refused_total %" PRIu64 "\n", st.refused);
    family(f, "mempool_releases_refused_total", "counter",
           "One-way releases the daemon could not honour (a block the client does not hold).");
    fprintf(f, "mempool_releases_refused_total %" PRIu64 "\n", st.releases_refused);
    write_requests(&st, f);
    write_request_errors(&st, f);
}

static void write_memory(FILE *f)
{
    mem_counters mc;
    mem_total_counters(&mc);
    family(f, "mempool_memory_bytes", "gauge",
           "Bytes per memory state, as the daemon's memory layer counts them.");
    for (int s = MEM_RESERVED; s < MEM_NSTATES; s++) {
        sample(f, "mempool_memory_bytes", "state", mem_state_name((mem_state)s));
        number(f, mc.bytes[s], 0);
    }
    int64_t footprint = mem_footprint(daemon_now_ns());
    if (footprint >= 0) {
        family(f, "mempool_os_footprint_bytes", "gauge",
               "The daemon's footprint as the OS reports it (Linux: rss, macOS: phys_footprint).");
        sample(f, "mempool_os_footprint_bytes", "source", mem_os_footprint_name());
        number(f, (uint64_t)footprint, 0);
    }
}

/* Published names per pool, and the lookups waiting for one. */
static void write_names(const daemon_state *d, FILE *f)
{
    const names *t = d->srv != NULL ? server_names(d->srv) : NULL;
    family(f, "mempool_pool_names", "gauge", "Names published in the pool.");
    for (size_t i = 0; i < pool_set_count(d->pools); i++) {
        const char *name = pool_name(pool_set_at(d->pools, i));
        sample(f, "mempool_pool_names", "pool", name);
        number(f, t != NULL ? names_count_in_pool(t, name) : 0, 0);
    }
    family(f, "mempool_name_lookups_waiting", "gauge",
           "Lookups waiting in the daemon for a name to be published.");
    fprintf(f, "mempool_name_lookups_waiting %" PRIu64 "\n",
            (uint64_t)(t != NULL ? names_waiting(t) : 0));
}

int metrics_write(const daemon_state *d, FILE *f)
{
    /* Each pool's figures once: a family per figure walks them all. */
    size_t n = pool_set_count(d->pools);
    pool_stats *stats = calloc(n > 0 ? n : 1, sizeof *stats);
    if (stats == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        pool_get_stats(pool_set_at(d->pools, i), &stats[i]);
    family(f, "mempool_uptime_seconds", "gauge", "Time since the daemon started.");
    fputs("mempool_uptime_seconds ", f);
    number(f, (daemon_now_ns() - d->started_ns) / 1000000, 3);
    write_daemon_info(d, f);
    write_clients(d, f);
    write_memory(f);
    write_pools(d, stats, f);
    write_names(d, f);
    write_process(f);
    free(stats);
    return ferror(f) ? -EIO : 0;
}
