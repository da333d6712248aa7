/* The daemon's policy: sockets, limits, scavenger pacing and the pools, read
 * from YAML (docs/policy.md), validated to the line and column. A policy is
 * an immutable value: loading builds a new one or reports errors, so a
 * reload swaps it in only when it is valid. */
#ifndef MEMPOOL_POLICY_H
#define MEMPOOL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct policy_scavenger {
    uint64_t interval_ns;   /* how often the background scavenger wakes */
    uint64_t idle_ns;       /* free memory idle this long goes back to the OS */
    uint64_t retain;        /* bytes a pool may keep warm */
    uint32_t cpu_permille;  /* share of one core, in 1/1000 (1% = 10) */
} policy_scavenger;

/* What libmempool keeps per connection, told to it in every block reply
 * so that a reload reaches connected clients. */
typedef struct policy_library {
    uint32_t kept_mappings; /* block isolation: released mappings kept, 0: off */
    uint64_t client_cache;  /* bytes one connection may keep cached, 0: off */
    uint64_t client_cache_age_ns; /* how long a block may stay cached */
} policy_library;

typedef enum policy_isolation {
    POLICY_ISOLATION_BLOCK = 0,
    POLICY_ISOLATION_POOL,
    POLICY_ISOLATION_UID    /* a pool-isolation backing per uid */
} policy_isolation;

/* "block", "pool" or "uid". */
const char *policy_isolation_name(policy_isolation isolation);

/* Sorted, without duplicates. any: "*" was given. */
typedef struct policy_idlist {
    uint32_t *ids;
    size_t n;
    bool any;
} policy_idlist;

#define POLICY_POOL_NAME_MAX 64

/* The longest size text kept as written (longer ones are cut). */
#define POLICY_WRITTEN_MAX 32

typedef struct policy_pool {
    char name[POLICY_POOL_NAME_MAX + 1];
    uint64_t reserve, limit, quota, max_block;
    uint64_t page;          /* resolved: `auto` becomes the OS page size (sysconf) */
    bool page_auto;         /* as written, for dumps */
    bool huge_pages;
    policy_isolation isolation;
    policy_idlist users, groups, read_only_users;   /* uids, gids, uids */
    uint32_t max_names;     /* names published in the pool at once */
    policy_scavenger scavenger;                      /* global defaults overridden per pool */
    policy_library library;                          /* likewise */
    int line, column;       /* where the pool's mapping starts, for messages */
    /* A size written as no whole number of pages ("500MB") is rounded to
       the page: reserve up, limit, quota and max_block down. What was
       written is kept here for --check-config; "" when taken as written. */
    struct {
        char reserve[POLICY_WRITTEN_MAX], limit[POLICY_WRITTEN_MAX];
        char quota[POLICY_WRITTEN_MAX], max_block[POLICY_WRITTEN_MAX];
    } rounded_from;
} policy_pool;

typedef struct policy {
    char *path;             /* the file it came from ("<memory>" for buffers) */
    char *listen_socket;  uint32_t listen_mode;
    char *admin_socket;   uint32_t admin_mode;
    policy_idlist admin_users, admin_groups;
    uint64_t admin_idle_timeout_ns; /* an admin connection silent this long is closed */
    uint32_t max_clients, max_blocks_per_client;
    uint32_t max_clients_per_uid;   /* connections of one uid (root and the daemon's uid: none) */
    uint32_t backings_per_uid;      /* share of the backing budget one uid may hold, in 1/1000 */
    uint64_t hello_timeout_ns;      /* a client that has not said HELLO by then is closed */
    uint32_t max_names_per_uid;      /* names one uid may publish */
    uint32_t max_waits_per_client;   /* lookups one connection may have waiting */
    int log_level;          /* values of log_level in daemon/log.h */
    char *metrics_listen;   /* "HOST:PORT" of the HTTP metrics endpoint; NULL: off */
    policy_scavenger scavenger;   /* the global defaults */
    policy_library library;       /* the global defaults */
    policy_pool *pools; size_t npools;
} policy;

/* On failure *out is untouched, and err holds one message per error
   ("file:line:column: key: what is wrong"), joined by '\n'. count is the
   number of errors found, which may exceed the messages that fit. */
typedef struct policy_error { char text[4096]; int count; } policy_error;

/* A policy file may be at most this large. */
#define POLICY_MAX_FILE_SIZE (1024 * 1024)

/* Both return 0, -EINVAL when the policy has errors (listed in err), -ENOMEM,
   or (file only) the -errno of opening or reading it. err may be NULL. */
int policy_load_file(const char *path, policy **out, policy_error *err);
int policy_load_buffer(const char *name, const char *buf, size_t len, policy **out,
                       policy_error *err);
void policy_free(policy *p);

const policy_pool *policy_find_pool(const policy *p, const char *name);

/* Access: may this uid (with these groups) use the pool, and may it write?
   A pool admits its users, the members of its groups and its read-only
   users; read_only_users wins over users, so a uid in both is read-only. */
bool policy_pool_admits(const policy_pool *pool, uint32_t uid, const uint32_t *gids,
                        size_t ngids);
bool policy_pool_read_only(const policy_pool *pool, uint32_t uid);
bool policy_admin_admits(const policy *p, uint32_t uid, const uint32_t *gids, size_t ngids);
/* The groups the policy grants something to (admin.groups and every
   pool's groups), each once, up to `cap`; returns how many there are. A
   peer's membership of these is what peer_add_named_groups checks. */
size_t policy_named_groups(const policy *p, uint32_t *out, size_t cap);

/* Reload: compares two policies key by key (pools are matched by name).
   Writes one line per difference into buf ("pools[default].limit: 2GiB ->
   4GiB (live)"), truncated to len like snprintf. Returns the number of
   differences (0: same policy). *needs_restart is set when any difference
   cannot apply to a running daemon: a socket path or mode, a pool's reserve,
   page or isolation, a pool added or removed. Everything else applies live. */
int policy_diff(const policy *old, const policy *new_, char *buf, size_t len,
                bool *needs_restart);

/* metrics.listen's "HOST:PORT", an IP literal (127.0.0.1:9464,
   [::1]:9464): 0 with the family (AF_INET, AF_INET6), the host without
   brackets and the port, or -EINVAL. */
int policy_parse_address(const char *text, int *family, char *host, size_t host_len,
                         uint16_t *port);

/* --print-config: the effective policy, every default filled in, as YAML
   that loads again to an equal policy. Returns 0 or -EIO. */
int policy_write_yaml(const policy *p, FILE *f);

/* Same effective settings (path, where each came from, is not compared). */
bool policy_equal(const policy *a, const policy *b);

#endif
