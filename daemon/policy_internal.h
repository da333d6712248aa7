/* What the policy_*.c files share and nothing else includes: the YAML tree,
 * the load context that collects errors, and the key tables that drive
 * parsing, defaults, dumps, comparison and freeing (Valkey's standardConfig
 * is the model: one entry per key, one set of operations per type). */
#ifndef MEMPOOL_POLICY_INTERNAL_H
#define MEMPOOL_POLICY_INTERNAL_H

#include "policy.h"

/* ---- the YAML tree (policy_yaml.c) ---------------------------------------- */

typedef enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING, YNODE_ALIAS } ynode_kind;

typedef struct ynode {
    ynode_kind kind;
    int line, column;            /* 1-based, where the node starts */
    char *text;                  /* scalar: its value; alias: the anchor's name */
    size_t len;                  /* of text, which may hold NUL bytes ("\0") */
    bool plain;                  /* a scalar without quotes: only those can be null */
    const struct ynode *target;  /* alias: the anchored node */
    struct ynode **children;     /* sequence: items; mapping: key, value, key, value, ... */
    size_t nchildren, capacity;
    char *anchor;
    struct ynode *next;          /* every node of a document, for freeing */
} ynode;

typedef struct ydoc {
    ynode *root;                 /* NULL: no document in the stream */
    ynode *nodes;
    size_t count;
} ydoc;

typedef struct policy_ctx policy_ctx;

/* 0, -EINVAL (the error is reported) or -ENOMEM. */
int ydoc_parse(policy_ctx *ctx, const char *buf, size_t len, ydoc *doc);
void ydoc_free(ydoc *doc);
/* An alias's target; any other node itself. */
const ynode *ynode_resolve(const ynode *node);
/* An empty plain scalar, ~ or null: what YAML reads as "no value". */
bool ynode_is_null(const ynode *node);
/* The value of key in a mapping (resolved), or NULL. */
const ynode *ymap_get(const ynode *map, const char *key);
/* "a list", "a mapping", "a single value": for messages. */
const char *ynode_kind_name(ynode_kind kind);

/* ---- errors (policy.c) ------------------------------------------------------ */

#define POLICY_SECTION_MAX_KEYS 16

/* Per key of a mapping being loaded: where it was written (NULL: absent)
   and whether loading it reported an error (later checks then skip it). */
typedef struct policy_key_state {
    const ynode *key, *value;
    bool bad;
} policy_key_state;

/* Errors are kept here while loading and sorted by place at the end, so a
   person reads them from the top of the file down. */
#define POLICY_MAX_MESSAGES 128

typedef struct policy_message {
    int line, column;
    size_t offset;               /* of its text in policy_ctx.messages_text */
} policy_message;

struct policy_ctx {
    const char *file;
    policy_error *err;
    char messages_text[sizeof(((policy_error *)0)->text)];
    size_t messages_len;
    policy_message messages[POLICY_MAX_MESSAGES];
    int nmessages;
    int dropped;                 /* errors counted whose text did not fit */
    bool out_of_memory;
    char key[256];               /* the dotted path of the key being loaded */
    size_t key_len;
    policy *root;                /* the policy being built */
    policy_key_state root_state[POLICY_SECTION_MAX_KEYS];   /* the top-level keys */
};

/* User text quoted in a message is cut to this many bytes. */
#define POLICY_SHOWN "%.100s"

/* Adds "file:line:column: key: message" (line 0: no position). */
void policy_report(policy_ctx *ctx, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void policy_report_at(policy_ctx *ctx, const ynode *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends to the key path; returns what policy_key_pop restores. */
size_t policy_key_push(policy_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void policy_key_pop(policy_ctx *ctx, size_t saved);
/* Reports "out of memory" once and remembers it: loading then fails with -ENOMEM. */
void policy_out_of_memory(policy_ctx *ctx);

/* ---- key tables (policy_keys.c) and types (policy_types.c) ------------------ */

typedef enum policy_type {
    POLICY_SIZE,
    POLICY_DURATION,
    POLICY_SHARE,
    POLICY_MODE,
    POLICY_COUNT,
    POLICY_BOOL,
    POLICY_ENUM,
    POLICY_SOCKET_PATH,
    POLICY_ADDRESS,
    POLICY_POOL_NAME,
    POLICY_PAGE,
    POLICY_USERS,
    POLICY_GROUPS,
    POLICY_SECTION,
    POLICY_POOLS,
} policy_type;

#define POLICY_KEY_RESTART 0x1u    /* a change needs a restart (policy_diff) */
#define POLICY_KEY_REQUIRED 0x2u   /* no default: leaving it out is an error */
#define POLICY_KEY_INHERITS 0x4u   /* section: absent keys keep the values at aux_offset of the root */

typedef struct policy_key policy_key;
typedef struct policy_section policy_section;

typedef struct policy_enum_value {
    const char *name;
    int value;
} policy_enum_value;

struct policy_key {
    const char *name;
    policy_type type;
    size_t offset;               /* of the field, from the section's base */
    size_t aux_offset;           /* page: of page_auto in the pool; INHERITS: of the source in the policy */
    const char *default_text;    /* written as in a policy file; lists: one item or NULL for [] */
    int (*default_fn)(policy_ctx *ctx, const policy_key *key, void *base);  /* instead of text */
    uint64_t min, max;           /* in the type's base unit: bytes, ns, 1/1000, count */
    const policy_enum_value *values;   /* POLICY_ENUM, ending with a NULL name */
    const policy_section *section;     /* POLICY_SECTION; POLICY_POOLS: a pool's keys */
    unsigned flags;
    const char *help;            /* what the key means, with its unit */
    const char *if_missing;      /* POLICY_KEY_REQUIRED: why it is */
};

struct policy_section {
    const policy_key *keys;
    size_t nkeys;
    size_t size;                 /* of the struct the keys fill, for POLICY_KEY_INHERITS */
    /* Rules that involve several keys, run after every key has loaded. */
    void (*check)(policy_ctx *ctx, void *base, const policy_key_state *state);
};

extern const policy_section policy_root_section;
extern const policy_section policy_pool_section;

/* The state of a key by name, within a section's state array. */
const policy_key_state *policy_key_state_of(const policy_section *section,
                                            const policy_key_state *state,
                                            const char *name);

typedef struct policy_type_ops {
    const char *expected;        /* "a size such as 64MiB" */
    ynode_kind kind;             /* what the value must be */
    /* Loads node (resolved, not null, of the right kind) into the field; 0 or
       -EINVAL after reporting, -ENOMEM. NULL for sections and pools. */
    int (*parse)(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base);
    /* Writes the value as YAML (a scalar or a flow list). */
    void (*write)(const policy_key *key, const void *base, FILE *f);
    bool (*equal)(const policy_key *key, const void *a, const void *b);
    void (*release)(const policy_key *key, void *base);   /* NULL: owns nothing */
} policy_type_ops;

const policy_type_ops *policy_type_ops_of(policy_type type);
/* "block or pool": the names an enum key takes, for messages. */
void policy_enum_names(const policy_key *key, char *buf, size_t len);
/* NULL when path can be bound as a Unix socket; otherwise why not (may use buf). */
const char *policy_socket_path_problem(const char *path, char *buf, size_t len);

#define POLICY_FIELD(base, key, type) ((type *)((char *)(base) + (key)->offset))
#define POLICY_CFIELD(base, key, type) ((const type *)((const char *)(base) + (key)->offset))

/* ---- loading (policy_walk.c) ------------------------------------------------ */

/* Fills base from map (NULL: the section is absent) by the section's table:
   values written, then defaults (or the inherited values), then the checks. */
void policy_walk_section(policy_ctx *ctx, const policy_section *section, const ynode *map,
                         void *base, const void *inherited);
/* Releases what a section's fields own (strings, id lists, pools). */
void policy_release_section(const policy_section *section, void *base);

/* ---- users and groups (policy_ids.c) ------------------------------------------ */

/* A numeric id, or a name looked up in the user (group) database:
   0, -ENOENT for an unknown name, -EINVAL for an id out of range, or the
   -errno of a failed lookup. */
int policy_resolve_user(const char *text, uint32_t *uid);
int policy_resolve_group(const char *text, uint32_t *gid);
/* Its name, or its number when it has none. */
void policy_user_name(uint32_t uid, char *buf, size_t len);
void policy_group_name(uint32_t gid, char *buf, size_t len);
int policy_idlist_add(policy_idlist *list, uint32_t id);     /* 0 or -ENOMEM */
bool policy_idlist_has(const policy_idlist *list, uint32_t id);
bool policy_idlist_equal(const policy_idlist *a, const policy_idlist *b);
void policy_idlist_clear(policy_idlist *list);

/* ---- what depends on the OS (policy_linux.c, policy_darwin.c) ------------------ */

/* NULL when a pool with this page may ask for huge pages; otherwise why not. */
const char *policy_os_huge_pages_problem(uint64_t page, char *buf, size_t len);

#endif
