/* The policy's schema: one table of keys per section, with each key's type,
 * default, bounds and restart flag, and the rules that involve several keys.
 * Loading, --print-config, policy_diff and policy_equal all read these
 * tables; docs/policy.md and conf/mempoold.yaml describe the same keys. */
#include "policy_internal.h"
#include "policy_units.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

/* Where mempool_default_path puts sockets for root. */
#define ROOT_RUN_DIR "/var/run"

/* No pool can reserve more than the 47-bit user address space of x86-64
   and arm64 allows in practice; the bound also keeps sums of sizes far
   from overflowing. */
#define SIZE_MAX_BYTES (64 * POLICY_TIB)
#define SECONDS(n) ((n) * POLICY_NS_PER_S)

/* ---- defaults that depend on who runs the daemon --------------------------- */

static int set_socket_path(policy_ctx *ctx, char **field, const char *path)
{
    char why[96];
    const char *problem = path ? policy_socket_path_problem(path, why, sizeof why)
                               : "does not fit in a path";
    if (problem != NULL) {
        policy_report(ctx, 0, 0, "the default %s %s: set the key", path ? path : "path",
                      problem);
        return -EINVAL;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int default_socket(policy_ctx *ctx, const policy_key *key, void *base,
                          const char *file_name)
{
    char path[PATH_MAX];
    return set_socket_path(ctx, POLICY_FIELD(base, key, char *),
                           mempool_default_path(file_name, path, sizeof path));
}

static int default_listen_socket(policy_ctx *ctx, const policy_key *key, void *base)
{
    return default_socket(ctx, key, base, MEMPOOL_SOCKET_FILE);
}

static int default_admin_socket(policy_ctx *ctx, const policy_key *key, void *base)
{
    return default_socket(ctx, key, base, MEMPOOL_ADMIN_SOCKET_FILE);
}

/* The annotated default file names the root paths; a daemon that cannot
   create sockets there (not root) uses its own default paths instead, so
   the same file serves both. Any other path is taken as written. */
static int fall_back_when_unwritable(policy_ctx *ctx, char **field, const char *file_name)
{
    char root_default[PATH_MAX], path[PATH_MAX];
    snprintf(root_default, sizeof root_default, "%s/%s", ROOT_RUN_DIR, file_name);
    if (*field == NULL || strcmp(*field, root_default) != 0 ||
        faccessat(AT_FDCWD, ROOT_RUN_DIR, W_OK, AT_EACCESS) == 0)
        return 0;
    return set_socket_path(ctx, field, mempool_default_path(file_name, path, sizeof path));
}

static int default_same_as_limit(policy_ctx *ctx, const policy_key *key, void *base)
{
    (void)ctx;
    *POLICY_FIELD(base, key, uint64_t) = ((policy_pool *)base)->limit;
    return 0;
}

/* An eighth of the connections: eight users can each hold their whole
   share at once, and root and the daemon's uid are never counted. */
static int default_clients_per_uid(policy_ctx *ctx, const policy_key *key, void *base)
{
    (void)ctx;
    /* An eighth of what users may open together (root's sixteenth kept,
     * server.c), so that eight uids can each open all of theirs at once. */
    uint32_t all = ((policy *)base)->max_clients;
    uint32_t users = all - (all / 16 > 0 ? all / 16 : 1);
    *POLICY_FIELD(base, key, uint32_t) = users / 8 > 0 ? users / 8 : 1;
    return 0;
}

/* ---- sections ------------------------------------------------------------------ */

static const policy_enum_value log_levels[] = {
    { "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
    { "debug", LOG_LEVEL_DEBUG }, { NULL, 0 },
};

static const policy_enum_value isolations[] = {
    { "block", POLICY_ISOLATION_BLOCK }, { "pool", POLICY_ISOLATION_POOL },
    { "uid", POLICY_ISOLATION_UID }, { NULL, 0 },
};

const char *policy_isolation_name(policy_isolation isolation)
{
    for (const policy_enum_value *v = isolations; v->name != NULL; v++)
        if (v->value == (int)isolation)
            return v->name;
    return "?";
}

#define SECTION(keys, struct_size, check_fn)                                           \
    { keys, sizeof(keys) / sizeof((keys)[0]), struct_size, check_fn }

static const policy_key listen_keys[] = {
    { .name = "socket", .type = POLICY_SOCKET_PATH, .offset = offsetof(policy, listen_socket),
      .default_fn = default_listen_socket, .flags = POLICY_KEY_RESTART,
      .help = "path of the client socket" },
    { .name = "mode", .type = POLICY_MODE, .offset = offsetof(policy, listen_mode),
      .default_text = "0666", .max = 0777, .flags = POLICY_KEY_RESTART,
      .help = "permissions of the client socket, octal" },
};

static const policy_key admin_keys[] = {
    { .name = "socket", .type = POLICY_SOCKET_PATH, .offset = offsetof(policy, admin_socket),
      .default_fn = default_admin_socket, .flags = POLICY_KEY_RESTART,
      .help = "path of the admin socket" },
    { .name = "mode", .type = POLICY_MODE, .offset = offsetof(policy, admin_mode),
      .default_text = "0600", .max = 0777, .flags = POLICY_KEY_RESTART,
      .help = "permissions of the admin socket, octal" },
    { .name = "users", .type = POLICY_USERS, .offset = offsetof(policy, admin_users),
      .default_text = "root", .help = "users who may send admin commands" },
    { .name = "groups", .type = POLICY_GROUPS, .offset = offsetof(policy, admin_groups),
      .help = "groups whose members may send admin commands" },
    { .name = "idle_timeout", .type = POLICY_DURATION,
      .offset = offsetof(policy, admin_idle_timeout_ns), .default_text = "60s",
      .min = 100 * POLICY_NS_PER_MS, .max = SECONDS(24 * 3600),
      .help = "an admin connection that sends no command for this long is closed" },
};

static const policy_key limits_keys[] = {
    { .name = "max_clients", .type = POLICY_COUNT, .offset = offsetof(policy, max_clients),
      .default_text = "1024", .min = 1, .max = 1000000,
      .help = "client connections open at once" },
    { .name = "max_blocks_per_client", .type = POLICY_COUNT,
      .offset = offsetof(policy, max_blocks_per_client), .default_text = "65536", .min = 1,
      .max = 16777216, .help = "blocks one connection may hold" },
    { .name = "max_clients_per_uid", .type = POLICY_COUNT,
      .offset = offsetof(policy, max_clients_per_uid), .default_fn = default_clients_per_uid,
      .min = 1, .max = 1000000,
      .help = "connections one uid may open (not root or the daemon's uid); default: an "
              "eighth of max_clients less root's sixteenth" },
    { .name = "backings_per_uid", .type = POLICY_SHARE,
      .offset = offsetof(policy, backings_per_uid), .default_text = "12.5%", .min = 1,
      .max = 1000,
      .help = "share of the daemon's block backings one uid may hold (not root or the "
              "daemon's uid)" },
    { .name = "hello_timeout", .type = POLICY_DURATION,
      .offset = offsetof(policy, hello_timeout_ns), .default_text = "5s",
      .min = 100 * POLICY_NS_PER_MS, .max = SECONDS(3600),
      .help = "a client connection that has not said HELLO by then is closed" },
    { .name = "max_names_per_uid", .type = POLICY_COUNT,
      .offset = offsetof(policy, max_names_per_uid), .default_text = "1024", .min = 0,
      .max = 1000000, .help = "names one uid may have published, in all pools" },
    { .name = "max_waits_per_client", .type = POLICY_COUNT,
      .offset = offsetof(policy, max_waits_per_client), .default_text = "64", .min = 0,
      .max = 65536, .help = "lookups one connection may have waiting for a name" },
};

static const policy_key log_keys[] = {
    { .name = "level", .type = POLICY_ENUM, .offset = offsetof(policy, log_level),
      .default_text = "info", .values = log_levels,
      .help = "error, warn, info or debug" },
};

static const policy_key metrics_keys[] = {
    { .name = "listen", .type = POLICY_ADDRESS, .offset = offsetof(policy, metrics_listen),
      .default_text = "off", .flags = POLICY_KEY_RESTART,
      .help = "HOST:PORT of the HTTP endpoint for GET /metrics, or off" },
};

static const policy_key scavenger_keys[] = {
    { .name = "interval", .type = POLICY_DURATION,
      .offset = offsetof(policy_scavenger, interval_ns), .default_text = "1s",
      .min = 10 * POLICY_NS_PER_MS, .max = SECONDS(3600),
      .help = "how often the background scavenger wakes" },
    { .name = "idle", .type = POLICY_DURATION, .offset = offsetof(policy_scavenger, idle_ns),
      .default_text = "30s", .min = 0, .max = SECONDS(24 * 3600),
      .help = "free memory untouched this long goes back to the OS" },
    { .name = "retain", .type = POLICY_SIZE, .offset = offsetof(policy_scavenger, retain),
      .default_text = "64MiB", .min = 0, .max = SIZE_MAX_BYTES,
      .help = "free memory a pool may keep warm for reuse" },
    { .name = "cpu", .type = POLICY_SHARE, .offset = offsetof(policy_scavenger, cpu_permille),
      .default_text = "1%", .min = 1, .max = 1000,
      .help = "share of one core the background scavenger may use" },
};

static const policy_key library_keys[] = {
    { .name = "kept_mappings", .type = POLICY_COUNT,
      .offset = offsetof(policy_library, kept_mappings), .default_text = "64", .min = 0,
      .max = 1024,
      .help = "block isolation: mappings of released blocks a connection keeps, 0: none" },
    { .name = "client_cache", .type = POLICY_SIZE,
      .offset = offsetof(policy_library, client_cache), .default_text = "4MiB", .min = 0,
      .max = SIZE_MAX_BYTES,
      .help = "bytes of released blocks one connection keeps cached, 0B: none; "
              "at most a quarter of the quota" },
    { .name = "client_cache_age", .type = POLICY_DURATION,
      .offset = offsetof(policy_library, client_cache_age_ns), .default_text = "1s", .min = 0,
      .max = SECONDS(3600), .help = "how long a released block may stay cached" },
};

static const policy_key access_keys[] = {
    { .name = "users", .type = POLICY_USERS, .offset = offsetof(policy_pool, users),
      .default_text = "*", .help = "users who may allocate and map" },
    { .name = "groups", .type = POLICY_GROUPS, .offset = offsetof(policy_pool, groups),
      .help = "groups whose members may allocate and map" },
    { .name = "read_only_users", .type = POLICY_USERS,
      .offset = offsetof(policy_pool, read_only_users),
      .help = "users who may only map read-only" },
};

static const policy_section listen_section = SECTION(listen_keys, sizeof(policy), NULL);
static const policy_section admin_section = SECTION(admin_keys, sizeof(policy), NULL);
static const policy_section limits_section = SECTION(limits_keys, sizeof(policy), NULL);
static const policy_section log_section = SECTION(log_keys, sizeof(policy), NULL);
static const policy_section metrics_section = SECTION(metrics_keys, sizeof(policy), NULL);
static const policy_section scavenger_section =
    SECTION(scavenger_keys, sizeof(policy_scavenger), NULL);
static const policy_section access_section = SECTION(access_keys, sizeof(policy_pool), NULL);
static const policy_section library_section =
    SECTION(library_keys, sizeof(policy_library), NULL);

static void check_pool(policy_ctx *ctx, void *base, const policy_key_state *state);
static void check_root(policy_ctx *ctx, void *base, const policy_key_state *state);

static const policy_key pool_keys[] = {
    { .name = "name", .type = POLICY_POOL_NAME, .offset = offsetof(policy_pool, name),
      .flags = POLICY_KEY_REQUIRED, .help = "what clients ask for: [a-z0-9_.-], 1 to 64",
      .if_missing = "every pool needs a name" },
    { .name = "reserve", .type = POLICY_SIZE, .offset = offsetof(policy_pool, reserve),
      .default_text = "64GiB", .min = 1, .max = SIZE_MAX_BYTES, .flags = POLICY_KEY_RESTART,
      .help = "address space reserved at start; costs no memory" },
    { .name = "limit", .type = POLICY_SIZE, .offset = offsetof(policy_pool, limit),
      .default_text = "2GiB", .min = 1, .max = SIZE_MAX_BYTES,
      .help = "most memory the pool may hold, in use plus warm" },
    { .name = "quota", .type = POLICY_SIZE, .offset = offsetof(policy_pool, quota),
      .default_fn = default_same_as_limit, .min = 1, .max = SIZE_MAX_BYTES,
      .help = "most one uid may hold, all its connections together; default: the limit" },
    { .name = "max_block", .type = POLICY_SIZE, .offset = offsetof(policy_pool, max_block),
      .default_fn = default_same_as_limit, .min = 1, .max = SIZE_MAX_BYTES,
      .help = "largest single block; default: the limit" },
    { .name = "page", .type = POLICY_PAGE, .offset = offsetof(policy_pool, page),
      .aux_offset = offsetof(policy_pool, page_auto), .default_text = "auto",
      .flags = POLICY_KEY_RESTART, .help = "allocation unit: auto (the OS page) or a power of two" },
    { .name = "huge_pages", .type = POLICY_BOOL, .offset = offsetof(policy_pool, huge_pages),
      .default_text = "false", .flags = POLICY_KEY_RESTART,
      .help = "ask the kernel for huge pages (Linux)" },
    { .name = "isolation", .type = POLICY_ENUM, .offset = offsetof(policy_pool, isolation),
      .default_text = "block", .values = isolations, .flags = POLICY_KEY_RESTART,
      .help = "block: one backing per block; uid: one per uid, shared within it; pool: one "
              "per pool, trusted clients only" },
    { .name = "access", .type = POLICY_SECTION, .offset = 0, .section = &access_section,
      .help = "who may use the pool" },
    { .name = "max_names", .type = POLICY_COUNT, .offset = offsetof(policy_pool, max_names),
      .default_text = "4096", .min = 0, .max = 1000000,
      .help = "names published in the pool at once" },
    { .name = "scavenger", .type = POLICY_SECTION, .offset = offsetof(policy_pool, scavenger),
      .aux_offset = offsetof(policy, scavenger), .section = &scavenger_section,
      .flags = POLICY_KEY_INHERITS, .help = "overrides of the global scavenger keys" },
    { .name = "library", .type = POLICY_SECTION, .offset = offsetof(policy_pool, library),
      .aux_offset = offsetof(policy, library), .section = &library_section,
      .flags = POLICY_KEY_INHERITS, .help = "overrides of the global library keys" },
};

const policy_section policy_pool_section = SECTION(pool_keys, sizeof(policy_pool), check_pool);

static const policy_key root_keys[] = {
    { .name = "listen", .type = POLICY_SECTION, .section = &listen_section,
      .help = "the client socket" },
    { .name = "admin", .type = POLICY_SECTION, .section = &admin_section,
      .help = "the admin socket" },
    { .name = "limits", .type = POLICY_SECTION, .section = &limits_section,
      .help = "per-daemon limits" },
    { .name = "log", .type = POLICY_SECTION, .section = &log_section, .help = "logging" },
    { .name = "metrics", .type = POLICY_SECTION, .section = &metrics_section,
      .help = "the Prometheus endpoint (the admin command `metrics` serves the same text)" },
    { .name = "scavenger", .type = POLICY_SECTION, .offset = offsetof(policy, scavenger),
      .section = &scavenger_section, .help = "defaults for every pool" },
    { .name = "library", .type = POLICY_SECTION, .offset = offsetof(policy, library),
      .section = &library_section,
      .help = "what libmempool keeps per connection; defaults for every pool" },
    { .name = "pools", .type = POLICY_POOLS, .offset = offsetof(policy, pools),
      .aux_offset = offsetof(policy, npools), .section = &policy_pool_section,
      .flags = POLICY_KEY_REQUIRED, .help = "the pools, at least one",
      .if_missing = "a policy needs at least one pool" },
};

const policy_section policy_root_section = SECTION(root_keys, sizeof(policy), check_root);

_Static_assert(sizeof pool_keys / sizeof pool_keys[0] <= POLICY_SECTION_MAX_KEYS,
               "a section holds at most POLICY_SECTION_MAX_KEYS keys");
_Static_assert(sizeof root_keys / sizeof root_keys[0] <= POLICY_SECTION_MAX_KEYS,
               "a section holds at most POLICY_SECTION_MAX_KEYS keys");
_Static_assert(sizeof(policy_isolation) == sizeof(int), "enum keys are stored as int");

/* ---- rules across keys ------------------------------------------------------------ */

static const policy_key_state *pool_state(const policy_key_state *state, const char *name)
{
    return policy_key_state_of(&policy_pool_section, state, name);
}

static uint64_t pool_size(const policy_pool *pool, const char *name)
{
    size_t index;
    for (index = 0; strcmp(pool_keys[index].name, name) != 0; index++)
        continue;
    return *POLICY_CFIELD(pool, &pool_keys[index], uint64_t);
}

/* A written value as the user wrote it: "1000000", not "1MB". */
static const char *written_text(const ynode *node)
{
    return ynode_resolve(node)->text;
}

/* upper <= bound, reported at whichever of the two was written. */
static void check_not_above(policy_ctx *ctx, const policy_pool *pool,
                            const policy_key_state *state, const char *upper, const char *bound)
{
    const policy_key_state *u = pool_state(state, upper), *b = pool_state(state, bound);
    uint64_t uv = pool_size(pool, upper), bv = pool_size(pool, bound);
    if (u->bad || b->bad || uv <= bv || (u->value == NULL && b->value == NULL))
        return;
    char us[32], bs[32];
    policy_format_size(uv, us, sizeof us);
    policy_format_size(bv, bs, sizeof bs);
    size_t saved = policy_key_push(ctx, ".%s", u->value ? upper : bound);
    /* The other side left out is its default: say so, or "below limit"
       sends the reader looking for a limit that is not in the file. */
    if (u->value)
        policy_report_at(ctx, u->value, "%s is above %s%s (%s)", written_text(u->value),
                         b->value ? "" : "the default ", bound, bs);
    else
        policy_report_at(ctx, b->value, "%s is below the default %s (%s): write a %s of at most %s",
                         written_text(b->value), upper, us, upper, written_text(b->value));
    policy_key_pop(ctx, saved);
}

/* Sizes are kept in whole pages. One written otherwise ("limit: 500MB",
 * as users write every day) is rounded rather than refused: the reserve
 * up, since it only costs address space, and the others down, so that
 * the pool never holds more than written. A size below one page after
 * rounding down is an error. */
static const struct {
    const char *name;
    size_t written; /* offset of its rounded_from text */
    bool up;
} page_sizes[] = {
    { "reserve", offsetof(policy_pool, rounded_from.reserve), true },
    { "limit", offsetof(policy_pool, rounded_from.limit), false },
    { "quota", offsetof(policy_pool, rounded_from.quota), false },
    { "max_block", offsetof(policy_pool, rounded_from.max_block), false },
};

static uint64_t *pool_size_field(policy_pool *pool, const char *name)
{
    size_t index;
    for (index = 0; strcmp(pool_keys[index].name, name) != 0; index++)
        continue;
    return POLICY_FIELD(pool, &pool_keys[index], uint64_t);
}

static void round_to_pages(policy_ctx *ctx, policy_pool *pool, const policy_key_state *state)
{
    if (pool_state(state, "page")->bad)
        return;
    for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++) {
        const policy_key_state *s = pool_state(state, page_sizes[i].name);
        uint64_t *v = pool_size_field(pool, page_sizes[i].name), rest = *v % pool->page;
        if (s->bad || rest == 0)
            continue;
        if (page_sizes[i].up && *v <= UINT64_MAX - (pool->page - rest))
            *v += pool->page - rest;
        else
            *v -= rest;
        if (s->value != NULL)
            snprintf((char *)pool + page_sizes[i].written, POLICY_WRITTEN_MAX, "%s",
                     written_text(s->value));
        if (*v != 0 || s->value == NULL) /* a default follows a written size */
            continue;
        char page[32];
        policy_format_size(pool->page, page, sizeof page);
        size_t saved = policy_key_push(ctx, ".%s", page_sizes[i].name);
        policy_report_at(ctx, s->value, "%s is less than one page (%s)",
                         written_text(s->value), page);
        policy_key_pop(ctx, saved);
    }
}

/* A pool cannot keep more memory warm than it may hold at all. A retain
 * written on the pool above its limit is an error; one inherited from the
 * global scavenger section is cut to the limit, so a small pool does not
 * need to repeat the scavenger section to be valid. */
static void check_retain(policy_ctx *ctx, policy_pool *pool, const policy_key_state *state)
{
    const policy_key_state *limit = pool_state(state, "limit");
    const policy_key_state *scavenger = pool_state(state, "scavenger");
    if (limit->bad || scavenger->bad || pool->scavenger.retain <= pool->limit)
        return;
    const ynode *written = ymap_get(scavenger->value, "retain");
    if (written == NULL) {
        pool->scavenger.retain = pool->limit;
        return;
    }
    char max[32];
    policy_format_size(pool->limit, max, sizeof max);
    size_t saved = policy_key_push(ctx, ".scavenger.retain");
    policy_report_at(ctx, written, "%s is above limit (%s)", written->text, max);
    policy_key_pop(ctx, saved);
}

/* A connection's cache counts toward its quota: at most a quarter of it,
 * so that what one connection keeps cached never starves its own
 * allocations. Written on the pool above that is an error; inherited from
 * the global section it is cut, as retain is. */
static void check_client_cache(policy_ctx *ctx, policy_pool *pool, const policy_key_state *state)
{
    const policy_key_state *quota = pool_state(state, "quota");
    const policy_key_state *library = pool_state(state, "library");
    uint64_t max = pool->quota / 4;
    if (quota->bad || library->bad || pool->library.client_cache <= max)
        return;
    const ynode *written = ymap_get(library->value, "client_cache");
    if (written == NULL) {
        pool->library.client_cache = max;
        return;
    }
    char text[32];
    policy_format_size(max, text, sizeof text);
    size_t saved = policy_key_push(ctx, ".library.client_cache");
    policy_report_at(ctx, written, "%s is above a quarter of quota (%s)", written->text, text);
    policy_key_pop(ctx, saved);
}

static void check_huge_pages(policy_ctx *ctx, const policy_pool *pool,
                             const policy_key_state *state)
{
    const policy_key_state *huge = pool_state(state, "huge_pages");
    char why[128];
    if (!pool->huge_pages || huge->bad || pool_state(state, "page")->bad)
        return;
    const char *problem = policy_os_huge_pages_problem(pool->page, why, sizeof why);
    if (problem == NULL)
        return;
    size_t saved = policy_key_push(ctx, ".huge_pages");
    policy_report_at(ctx, huge->value, "%s", problem);
    policy_key_pop(ctx, saved);
}

static void check_pool(policy_ctx *ctx, void *base, const policy_key_state *state)
{
    policy_pool *pool = base;
    round_to_pages(ctx, pool, state);
    check_not_above(ctx, pool, state, "limit", "reserve");
    check_not_above(ctx, pool, state, "quota", "limit");
    check_not_above(ctx, pool, state, "max_block", "limit");
    check_retain(ctx, pool, state);
    check_client_cache(ctx, pool, state);
    check_huge_pages(ctx, pool, state);
}

/* The uid running the daemon may always use its admin socket: it owns the
   socket file anyway, and the annotated default lists only root. */
static void check_root(policy_ctx *ctx, void *base, const policy_key_state *state)
{
    policy *p = base;
    (void)state;
    int rc = fall_back_when_unwritable(ctx, &p->listen_socket, MEMPOOL_SOCKET_FILE);
    if (rc != -ENOMEM)
        rc = fall_back_when_unwritable(ctx, &p->admin_socket, MEMPOOL_ADMIN_SOCKET_FILE);
    if (rc != -ENOMEM && !p->admin_users.any)
        rc = policy_idlist_add(&p->admin_users, (uint32_t)geteuid());
    if (rc == -ENOMEM)
        policy_out_of_memory(ctx);
}
