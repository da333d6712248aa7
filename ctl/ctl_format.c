#include "ctl_format.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE_MAX_COLS 16
#define CELL_MAX 256

void ctl_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    size_t u = 0;
    uint64_t scale = 1;
    while (u + 1 < sizeof units / sizeof units[0] && bytes >= scale * 1024) {
        scale *= 1024;
        u++;
    }
    if (bytes % scale == 0)
        snprintf(buf, len, "%" PRIu64 "%s", bytes / scale, units[u]);
    else
        snprintf(buf, len, "%.1f%s", (double)bytes / (double)scale, units[u]);
}

/* ---- tables: columns as wide as their widest cell ------------------------ */

/* A column of a table, and how it gives way to a narrow terminal: first
 * the columns with the highest `drop` go (0: never), then `elastic` ones
 * are cut, with "...", down to ELASTIC_MIN; a line still too long is cut
 * at the width, so nothing ever wraps. */
typedef struct column {
    const char *header;
    unsigned drop;
    bool elastic;
} column;

#define ELASTIC_MIN 8
#define ELLIPSIS "..."

typedef struct table {
    const column *cols;
    size_t ncols, nrows;
    char **cells; /* row-major; row 0 holds the headers */
} table;

static void table_add(table *t, char cells[][CELL_MAX])
{
    char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *grown);
    if (grown == NULL)
        return;
    t->cells = grown;
    for (size_t i = 0; i < t->ncols; i++)
        grown[t->nrows * t->ncols + i] = strdup(cells[i]);
    t->nrows++;
}

static void table_init(table *t, const column *cols, size_t ncols)
{
    char row[TABLE_MAX_COLS][CELL_MAX];
    *t = (table){ .cols = cols, .ncols = ncols };
    for (size_t i = 0; i < ncols; i++)
        snprintf(row[i], CELL_MAX, "%s", cols[i].header);
    table_add(t, row);
}

static const char *cell(const table *t, size_t row, size_t col)
{
    const char *s = t->cells[row * t->ncols + col];
    return s != NULL ? s : "?";
}

static size_t shown_width(const table *t, const size_t *width, const bool *shown)
{
    size_t total = 0, n = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (shown[c]) {
            total += width[c];
            n++;
        }
    return n > 0 ? total + 2 * (n - 1) : 0;
}

/* Drops the columns that go first until the table fits `max`. */
static void drop_columns(const table *t, const size_t *width, bool *shown, size_t max)
{
    while (shown_width(t, width, shown) > max) {
        size_t victim = t->ncols;
        for (size_t c = 0; c < t->ncols; c++)
            if (shown[c] && t->cols[c].drop > 0 &&
                (victim == t->ncols || t->cols[c].drop > t->cols[victim].drop))
                victim = c;
        if (victim == t->ncols)
            return;
        shown[victim] = false;
    }
}

/* Narrows the widest elastic column, again and again, until it fits. */
static void narrow_columns(const table *t, size_t *width, const bool *shown, size_t max)
{
    size_t total;
    while ((total = shown_width(t, width, shown)) > max) {
        size_t widest = t->ncols;
        for (size_t c = 0; c < t->ncols; c++)
            if (shown[c] && t->cols[c].elastic && width[c] > ELASTIC_MIN &&
                (widest == t->ncols || width[c] > width[widest]))
                widest = c;
        if (widest == t->ncols)
            return;
        size_t spare = width[widest] - ELASTIC_MIN, excess = total - max;
        width[widest] -= excess < spare ? excess : spare;
    }
}

/* The length of the first `max` bytes of s, not cutting a UTF-8 character. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* One cell into line at *used, cut with "..." when wider than `w`, padded
 * unless it is the last. */
static void put_cell(char *line, size_t *used, const char *s, size_t w, bool last)
{
    size_t n = strlen(s);
    if (n > w) {
        n = utf8_prefix(s, w - strlen(ELLIPSIS));
        *used += (size_t)sprintf(line + *used, "%.*s%s", (int)n, s, ELLIPSIS);
        n += strlen(ELLIPSIS);
    } else {
        *used += (size_t)sprintf(line + *used, "%s", s);
    }
    if (!last)
        *used += (size_t)sprintf(line + *used, "%*s", (int)(w - n + 2), "");
}

static void print_row(FILE *f, const table *t, size_t r, const size_t *width, const bool *shown,
                      size_t max)
{
    char line[TABLE_MAX_COLS * (CELL_MAX + 2) + 1];
    size_t used = 0, last = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (shown[c])
            last = c;
    for (size_t c = 0; c <= last; c++)
        if (shown[c])
            put_cell(line, &used, cell(t, r, c), width[c], c == last);
    size_t n = max > 0 ? utf8_prefix(line, max) : used;
    fprintf(f, "%.*s\n", (int)n, line);
}

/* Prints the table within `max` columns (0: no limit) and frees it. */
static void table_print(FILE *f, table *t, size_t max)
{
    size_t width[TABLE_MAX_COLS] = { 0 };
    bool shown[TABLE_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++)
        shown[c] = true;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++)
            if (strlen(cell(t, r, c)) > width[c])
                width[c] = strlen(cell(t, r, c));
    if (max > 0) {
        drop_columns(t, width, shown, max);
        narrow_columns(t, width, shown, max);
    }
    for (size_t r = 0; r < t->nrows; r++)
        print_row(f, t, r, width, shown, max);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- cells --------------------------------------------------------------- */

static void size_cell(char *buf, const json_value *v, const char *key)
{
    const json_value *m = json_get(v, key);
    if (m != NULL && m->type == JSON_NUMBER && m->is_uint)
        ctl_format_size(m->uint, buf, CELL_MAX);
    else
        snprintf(buf, CELL_MAX, "-");
}

static void count_cell(char *buf, const json_value *v, const char *key)
{
    const json_value *m = json_get(v, key);
    if (m != NULL && m->type == JSON_NUMBER && m->is_uint)
        snprintf(buf, CELL_MAX, "%" PRIu64, m->uint);
    else if (m != NULL && m->type == JSON_NUMBER)
        snprintf(buf, CELL_MAX, "%.0f", m->number);
    else
        snprintf(buf, CELL_MAX, "-");
}

/* Unix milliseconds as "2024-05-01T12:00:00Z"; 0 is "never". */
static void time_cell(char *buf, size_t len, uint64_t unix_ms)
{
    if (unix_ms == 0) {
        snprintf(buf, len, "never");
        return;
    }
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void duration_cell(char *buf, size_t len, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 "s", s, ms % 1000);
    else if (s < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600, s / 60 % 60,
                 s % 60);
}

/* ---- commands ------------------------------------------------------------ */

/* On a narrow terminal the pool's name and what it uses stay longest. */
static void print_pools(FILE *f, size_t max, const json_value *reply)
{
    static const column cols[] = {
        { "POOL", 0, true },      { "RESERVE", 5, false }, { "LIMIT", 0, false },
        { "IN_USE", 0, false },   { "WARM", 0, false },    { "RELEASED", 6, false },
        { "BLOCKS", 4, false },   { "HOLDERS", 7, false }, { "FREE", 8, false },
        { "LARGEST_FREE", 9, false }, { "PAGE", 11, false }, { "HUGE", 12, false },
        { "RESIDENT", 10, false },
    };
    static const char *const size_keys[] = { "reserve", "limit", "in_use", "warm", "released" };
    const json_value *pools = json_get(reply, "pools");
    table t;
    table_init(&t, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; pools != NULL && pools->type == JSON_ARRAY && i < pools->count; i++) {
        const json_value *p = pools->items[i];
        char row[TABLE_MAX_COLS][CELL_MAX];
        snprintf(row[0], CELL_MAX, "%s", json_get_string(p, "name", "?"));
        for (size_t k = 0; k < 5; k++)
            size_cell(row[1 + k], p, size_keys[k]);
        count_cell(row[6], p, "blocks");
        count_cell(row[7], p, "holders");
        size_cell(row[8], p, "free_bytes");
        size_cell(row[9], p, "largest_free_run");
        size_cell(row[10], p, "page_size");
        snprintf(row[11], CELL_MAX, "%s", json_get_bool(p, "huge_pages", false) ? "yes" : "no");
        size_cell(row[12], p, "backing_resident");
        table_add(&t, row);
    }
    table_print(f, &t, max);
}

static void print_kv_size(FILE *f, const char *label, const json_value *v, const char *key)
{
    char buf[CELL_MAX];
    size_cell(buf, v, key);
    fprintf(f, "%-18s%s\n", label, buf);
}

static void print_kv_count(FILE *f, const char *label, const json_value *v, const char *key)
{
    char buf[CELL_MAX];
    count_cell(buf, v, key);
    fprintf(f, "%-18s%s\n", label, buf);
}

static void print_pool(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    const json_value *p = json_get(reply, "pool");
    const json_value *sc = json_get(p, "scavenger");
    static const char *const sizes[] = { "reserve", "limit", "quota", "max_block", "page_size",
                                         "in_use", "warm", "released", "free_bytes",
                                         "largest_free_run", "backing_resident" };
    char when[64];
    fprintf(f, "%-18s%s\n", "pool", json_get_string(p, "name", "?"));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        print_kv_size(f, sizes[i], p, sizes[i]);
    print_kv_count(f, "blocks", p, "blocks");
    print_kv_count(f, "holders", p, "holders");
    fprintf(f, "%-18s%s\n", "huge_pages", json_get_bool(p, "huge_pages", false) ? "yes" : "no");
    fprintf(f, "%-18s%s\n", "isolation", json_get_string(p, "isolation", "?"));
    print_kv_count(f, "scavenger_runs", sc, "runs");
    print_kv_count(f, "scavenger_cpu_ns", sc, "cpu_ns");
    print_kv_size(f, "sync_scavenged", sc, "sync_scavenged");
    time_cell(when, sizeof when, json_get_uint(sc, "last_scavenge_ms", 0));
    fprintf(f, "%-18s%s\n", "last_scavenge", when);
    /* What each connected uid holds: what its quota counts. */
    const json_value *uids = json_get(reply, "uids");
    for (size_t i = 0; uids != NULL && uids->type == JSON_ARRAY && i < uids->count; i++) {
        char bytes[CELL_MAX], label[32];
        size_cell(bytes, uids->items[i], "bytes");
        snprintf(label, sizeof label, "uid %llu",
                 (unsigned long long)json_get_uint(uids->items[i], "uid", 0));
        fprintf(f, "%-18s%s in %llu connection%s\n", label, bytes,
                (unsigned long long)json_get_uint(uids->items[i], "clients", 0),
                json_get_uint(uids->items[i], "clients", 0) == 1 ? "" : "s");
    }
}

static void print_requests(FILE *f, const json_value *requests)
{
    fprintf(f, "%-18s", "requests");
    for (size_t i = 0; requests != NULL && requests->type == JSON_OBJECT && i < requests->count;
         i++) {
        char n[CELL_MAX];
        count_cell(n, requests, requests->members[i].key);
        fprintf(f, "%s%s %s", i ? ", " : "", requests->members[i].key, n);
    }
    fputc('\n', f);
}

static void print_stats(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    const json_value *clients = json_get(reply, "clients");
    const json_value *mem = json_get(reply, "memory");
    const json_value *os = json_get(mem, "os_footprint");
    const json_value *pools = json_get(reply, "pools");
    const json_value *sc = json_get(reply, "scavenger");
    char buf[CELL_MAX];
    duration_cell(buf, sizeof buf, json_get_uint(reply, "uptime_ms", 0));
    fprintf(f, "%-18s%s\n", "uptime", buf);
    print_kv_count(f, "pid", reply, "pid");
    fprintf(f, "%-18s%s\n", "log_level", json_get_string(reply, "log_level", "?"));
    fprintf(f, "%-18s%" PRIu64 " connected, %" PRIu64 " total, %" PRIu64 " refused\n", "clients",
            json_get_uint(clients, "connected", 0), json_get_uint(clients, "total", 0),
            json_get_uint(clients, "refused", 0));
    print_requests(f, json_get(reply, "requests"));
    print_kv_size(f, "reserved", mem, "reserved");
    print_kv_size(f, "prepared", mem, "prepared");
    print_kv_size(f, "ready", mem, "ready");
    print_kv_size(f, json_get_string(os, "name", "os_footprint"), os, "bytes");
    print_kv_count(f, "pools", pools, "count");
    print_kv_size(f, "in_use", pools, "in_use");
    print_kv_size(f, "warm", pools, "warm");
    print_kv_size(f, "released", sc, "released");
    print_kv_count(f, "scavenger_runs", sc, "runs");
    print_kv_size(f, "sync_scavenged", sc, "sync_scavenged");
    const json_value *names = json_get(reply, "names");
    fprintf(f, "%-18s%" PRIu64 " published, %" PRIu64 " lookups waiting\n", "names",
            json_get_uint(names, "published", 0), json_get_uint(names, "waiting", 0));
}

/* "default=1MiB,shared=256KiB", or "-". */
static void pools_used_cell(char *buf, const json_value *pools)
{
    size_t used = 0;
    snprintf(buf, CELL_MAX, "-");
    for (size_t i = 0; pools != NULL && pools->type == JSON_OBJECT && i < pools->count; i++) {
        const json_value *use = pools->members[i].value;
        char size[32];
        ctl_format_size(use->type == JSON_NUMBER && use->is_uint ? use->uint : 0, size,
                        sizeof size);
        int n = snprintf(buf + used, CELL_MAX - used, "%s%s=%s", i ? "," : "",
                         pools->members[i].key, size);
        if (n < 0 || (size_t)n >= CELL_MAX - used)
            break;
        used += (size_t)n;
    }
}

static void print_clients(FILE *f, size_t max, const json_value *reply)
{
    static const column cols[] = {
        { "ID", 0, false },     { "PID", 0, false },   { "UID", 3, false },
        { "GID", 5, false },    { "BLOCKS", 2, false }, { "BYTES", 0, false },
        { "SINCE", 4, false },  { "POOLS", 1, true },   { "NAME", 0, true },
    };
    const json_value *clients = json_get(reply, "clients");
    table t;
    table_init(&t, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; clients != NULL && clients->type == JSON_ARRAY && i < clients->count; i++) {
        const json_value *c = clients->items[i];
        char row[TABLE_MAX_COLS][CELL_MAX];
        count_cell(row[0], c, "id");
        count_cell(row[1], c, "pid");
        count_cell(row[2], c, "uid");
        count_cell(row[3], c, "gid");
        count_cell(row[4], c, "blocks");
        size_cell(row[5], c, "bytes");
        time_cell(row[6], CELL_MAX, json_get_uint(c, "connected_unix_ms", 0));
        pools_used_cell(row[7], json_get(c, "pools"));
        const char *name = json_get_string(c, "name", "");
        snprintf(row[8], CELL_MAX, "%s", name[0] != '\0' ? name : "-");
        table_add(&t, row);
    }
    table_print(f, &t, max);
}

/* `names [POOL]`: one row per name; the block id is the column dropped
 * first on a narrow terminal, the name itself never. */
static void print_names(FILE *f, size_t max, const json_value *reply)
{
    static const column cols[] = {
        { "NAME", 0, true }, { "POOL", 0, true }, { "SIZE", 0, false },
        { "UID", 2, false }, { "PROT", 0, false }, { "AGE", 0, false },
        { "BLOCK", 1, false },
    };
    const json_value *names = json_get(reply, "names");
    table t;
    table_init(&t, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; names != NULL && names->type == JSON_ARRAY && i < names->count; i++) {
        const json_value *n = names->items[i];
        char row[TABLE_MAX_COLS][CELL_MAX];
        snprintf(row[0], CELL_MAX, "%s", json_get_string(n, "name", "?"));
        snprintf(row[1], CELL_MAX, "%s", json_get_string(n, "pool", "?"));
        size_cell(row[2], n, "size");
        count_cell(row[3], n, "publisher_uid");
        snprintf(row[4], CELL_MAX, "%s", json_get_string(n, "prot", "?"));
        duration_cell(row[5], CELL_MAX, json_get_uint(n, "age_ms", 0));
        count_cell(row[6], n, "block");
        table_add(&t, row);
    }
    table_print(f, &t, max);
}

static void print_help(FILE *f, size_t max, const json_value *reply)
{
    static const column cols[] = {
        { "COMMAND", 0, true }, { "CHANGES", 1, false }, { "WHAT", 0, true },
    };
    const json_value *cmds = json_get(reply, "commands");
    table t;
    table_init(&t, cols, 3);
    for (size_t i = 0; cmds != NULL && cmds->type == JSON_ARRAY && i < cmds->count; i++) {
        const json_value *c = cmds->items[i];
        char row[TABLE_MAX_COLS][CELL_MAX];
        const char *args = json_get_string(c, "args", "");
        snprintf(row[0], CELL_MAX, "%s%s%s", json_get_string(c, "name", "?"),
                 args[0] != '\0' ? " " : "", args);
        snprintf(row[1], CELL_MAX, "%s", json_get_bool(c, "changes_state", false) ? "yes" : "no");
        snprintf(row[2], CELL_MAX, "%s", json_get_string(c, "help", ""));
        table_add(&t, row);
    }
    table_print(f, &t, max);
}

static void print_lines(FILE *f, const char *title, const json_value *lines)
{
    if (lines == NULL || lines->type != JSON_ARRAY || lines->count == 0)
        return;
    fprintf(f, "%s:\n", title);
    for (size_t i = 0; i < lines->count; i++)
        if (lines->items[i]->type == JSON_STRING)
            fprintf(f, "  %s\n", lines->items[i]->string);
}

static void print_scavenge(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    const json_value *pools = json_get(reply, "pools");
    char size[32];
    ctl_format_size(json_get_uint(reply, "released", 0), size, sizeof size);
    fprintf(f, "released %s\n", size);
    for (size_t i = 0; pools != NULL && pools->type == JSON_ARRAY && i < pools->count; i++) {
        const json_value *p = pools->items[i];
        ctl_format_size(json_get_uint(p, "warm", 0), size, sizeof size);
        fprintf(f, "%-18swarm now %s\n", json_get_string(p, "name", "?"), size);
    }
}

static void print_reload(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    const json_value *changes = json_get(reply, "changes");
    size_t n = changes != NULL && changes->type == JSON_ARRAY ? changes->count : 0;
    fprintf(f, "policy reloaded: %zu change%s\n", n, n == 1 ? "" : "s");
    print_lines(f, "changes", changes);
}

/* A text field printed as it is, with a final newline. */
static void print_text(FILE *f, const json_value *reply, const char *key)
{
    const char *text = json_get_string(reply, key, "");
    size_t n = strlen(text);
    fputs(text, f);
    if (n > 0 && text[n - 1] != '\n')
        fputc('\n', f);
}

static void print_version(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    fprintf(f, "mempoold %s (protocol %" PRIu64 "), pid %" PRIu64 ", policy %s\n",
            json_get_string(reply, "version", "?"), json_get_uint(reply, "protocol", 0),
            json_get_uint(reply, "pid", 0), json_get_string(reply, "policy", "?"));
}

static void print_log_level(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    fprintf(f, "log level %s (was %s)\n", json_get_string(reply, "level", "?"),
            json_get_string(reply, "previous", "?"));
}

static void print_shutdown(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    (void)reply;
    fprintf(f, "mempoold is shutting down\n");
}

/* The policy and the metrics are never cut: they are copied and parsed. */
static void print_policy(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    print_text(f, reply, "yaml");
}

static void print_metrics(FILE *f, size_t max, const json_value *reply)
{
    (void)max;
    print_text(f, reply, "text");
}

static const struct {
    const char *command;
    void (*print)(FILE *, size_t, const json_value *);
} printers[] = {
    { "stats", print_stats },     { "pools", print_pools },     { "pool", print_pool },
    { "clients", print_clients }, { "names", print_names },     { "help", print_help },       { "scavenge", print_scavenge },
    { "reload", print_reload },   { "policy", print_policy },   { "metrics", print_metrics },
    { "version", print_version }, { "log-level", print_log_level },
    { "shutdown", print_shutdown },
};

void ctl_print_reply(FILE *f, size_t max, const char *command, const json_value *reply)
{
    for (size_t i = 0; i < sizeof printers / sizeof printers[0]; i++) {
        if (strcmp(printers[i].command, command) == 0) {
            printers[i].print(f, max, reply);
            return;
        }
    }
    fprintf(f, "ok\n");
}

void ctl_print_error(FILE *f, const json_value *reply)
{
    fprintf(f, "mempoolctl: mempoold said no: %s (%s)\n", json_get_string(reply, "error", "?"),
            json_get_string(reply, "code", "?"));
    print_lines(f, "errors", json_get(reply, "errors"));
    print_lines(f, "changes", json_get(reply, "changes"));
    print_lines(f, "needing a restart", json_get(reply, "needs_restart"));
}
