/* The one walk that loads every section: match the mapping's keys against
 * the section's table, load each key (written, default or inherited), then
 * run the section's cross-key checks. Nothing here knows a key by name. */
#include "policy_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool find_key(const policy_section *section, const char *name, size_t *index)
{
    for (size_t i = 0; i < section->nkeys; i++)
        if (strcmp(section->keys[i].name, name) == 0) {
            *index = i;
            return true;
        }
    return false;
}

const policy_key_state *policy_key_state_of(const policy_section *section,
                                            const policy_key_state *state, const char *name)
{
    size_t index;
    return find_key(section, name, &index) ? &state[index] : NULL;
}

/* Optimal string alignment distance, enough to catch a typo. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return (size_t)-1;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static void list_keys(const policy_section *section, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < section->nkeys && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", section->keys[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void report_unknown_key(policy_ctx *ctx, const policy_section *section, const ynode *key)
{
    size_t saved = policy_key_push(ctx, "%s" POLICY_SHOWN, ctx->key_len ? "." : "", key->text);
    for (size_t i = 0; i < section->nkeys; i++)
        if (edit_distance(key->text, section->keys[i].name) <= 2) {
            policy_report_at(ctx, key, "unknown key; did you mean %s?", section->keys[i].name);
            policy_key_pop(ctx, saved);
            return;
        }
    char known[256];
    list_keys(section, known, sizeof known);
    policy_report_at(ctx, key, "unknown key; expected one of: %s", known);
    policy_key_pop(ctx, saved);
}

static void collect_keys(policy_ctx *ctx, const policy_section *section, const ynode *map,
                         policy_key_state *state)
{
    for (size_t i = 0; i + 1 < map->nchildren; i += 2) {
        const ynode *key = ynode_resolve(map->children[i]);
        size_t index;
        if (key->kind != YNODE_SCALAR || strlen(key->text) != key->len) {
            policy_report_at(ctx, map->children[i], "expected a key name, found %s",
                             ynode_kind_name(key->kind));
        } else if (!find_key(section, key->text, &index)) {
            report_unknown_key(ctx, section, key);
        } else if (state[index].key != NULL) {
            size_t saved = policy_key_push(ctx, "%s%s", ctx->key_len ? "." : "", key->text);
            policy_report_at(ctx, key, "duplicate key: first given at %d:%d",
                             state[index].key->line, state[index].key->column);
            policy_key_pop(ctx, saved);
        } else {
            state[index].key = key;
            state[index].value = map->children[i + 1];
        }
    }
}

static void describe_expected(const policy_key *key, char *buf, size_t len)
{
    if (key->type == POLICY_SECTION) {
        char keys[200];
        list_keys(key->section, keys, sizeof keys);
        snprintf(buf, len, "a mapping of %s", keys);
    } else if (key->type == POLICY_ENUM) {
        policy_enum_names(key, buf, len);
    } else {
        snprintf(buf, len, "%s", policy_type_ops_of(key->type)->expected);
    }
}

static void report_wrong_kind(policy_ctx *ctx, const policy_key *key, const ynode *written)
{
    char expected[256];
    describe_expected(key, expected, sizeof expected);
    const ynode *node = ynode_resolve(written);
    if (written->kind == YNODE_ALIAS)
        policy_report_at(ctx, written, "alias *" POLICY_SHOWN " points at %s; expected %s",
                         written->text, ynode_kind_name(node->kind), expected);
    else
        policy_report_at(ctx, written, "expected %s, found %s", expected,
                         ynode_kind_name(node->kind));
}

static const void *inherited_source(const policy_ctx *ctx, const policy_key *key)
{
    return key->flags & POLICY_KEY_INHERITS ? (const char *)ctx->root + key->aux_offset : NULL;
}

/* Defaults are written as in a policy file and go through the same parser,
   so the table cannot hold a value a user could not write. */
static void parse_default_text(policy_ctx *ctx, const policy_key *key, void *base)
{
    const policy_type_ops *ops = policy_type_ops_of(key->type);
    const char *text = key->default_text;
    ynode item = { .kind = YNODE_SCALAR, .plain = true, .text = (char *)text,
                   .len = text ? strlen(text) : 0 };
    ynode *items[1] = { &item };
    ynode list = { .kind = YNODE_SEQUENCE, .children = items, .nchildren = text != NULL };
    int rc = 0;
    if (ops->parse != NULL && ops->kind == YNODE_SEQUENCE)
        rc = ops->parse(ctx, key, &list, base);
    else if (ops->parse != NULL && text != NULL)
        rc = ops->parse(ctx, key, &item, base);
    if (rc == -ENOMEM)
        policy_out_of_memory(ctx);
}

static void apply_default(policy_ctx *ctx, const policy_key *key, void *base)
{
    if (key->type == POLICY_SECTION)
        policy_walk_section(ctx, key->section, NULL, (char *)base + key->offset,
                            inherited_source(ctx, key));
    else if (key->default_fn != NULL && key->default_fn(ctx, key, base) == -ENOMEM)
        policy_out_of_memory(ctx);
    else if (key->default_fn == NULL)
        parse_default_text(ctx, key, base);
}

static void load_absent(policy_ctx *ctx, const policy_key *key, void *base, bool inherited,
                        const ynode *map)
{
    if (key->flags & POLICY_KEY_REQUIRED)
        policy_report_at(ctx, map, "missing: %s", key->if_missing);
    else if (!inherited)
        apply_default(ctx, key, base);
}

static void load_pool(policy_ctx *ctx, const policy_section *section, const ynode *item,
                      policy_pool *pool)
{
    const ynode *map = ynode_resolve(item);
    pool->line = item->line;
    pool->column = item->column;
    if (map->kind == YNODE_MAPPING)
        policy_walk_section(ctx, section, map, pool, NULL);
    else
        policy_report_at(ctx, item, "expected a pool (a mapping with a name), found %s",
                         ynode_kind_name(map->kind));
}

static void check_unique_name(policy_ctx *ctx, const policy_pool *pools, size_t i,
                              const ynode *item)
{
    if (pools[i].name[0] == '\0')
        return;
    for (size_t j = 0; j < i; j++)
        if (strcmp(pools[j].name, pools[i].name) == 0) {
            const ynode *name = ymap_get(item, "name");
            size_t saved = policy_key_push(ctx, ".name");
            policy_report_at(ctx, name ? name : item,
                             "duplicate pool name %s: pools[%zu] has it already",
                             pools[i].name, j);
            policy_key_pop(ctx, saved);
            return;
        }
}

static void load_pools(policy_ctx *ctx, const policy_key *key, const ynode *written,
                       void *base)
{
    const ynode *list = ynode_resolve(written);
    if (list->kind != YNODE_SEQUENCE || list->nchildren == 0) {
        policy_report_at(ctx, written, "no pools: a policy needs at least one");
        return;
    }
    policy_pool **pools = POLICY_FIELD(base, key, policy_pool *);
    size_t *npools = (size_t *)((char *)base + key->aux_offset);
    *pools = calloc(list->nchildren, sizeof **pools);
    if (*pools == NULL) {
        policy_out_of_memory(ctx);
        return;
    }
    *npools = list->nchildren;
    for (size_t i = 0; i < list->nchildren; i++) {
        size_t saved = policy_key_push(ctx, "[%zu]", i);
        load_pool(ctx, key->section, list->children[i], &(*pools)[i]);
        check_unique_name(ctx, *pools, i, list->children[i]);
        policy_key_pop(ctx, saved);
    }
}

static void load_present(policy_ctx *ctx, const policy_key *key, const ynode *written,
                         void *base)
{
    const ynode *node = ynode_resolve(written);
    const policy_type_ops *ops = policy_type_ops_of(key->type);
    bool null = ynode_is_null(node);
    if (key->type == POLICY_POOLS && (null || node->kind == YNODE_SEQUENCE)) {
        load_pools(ctx, key, written, base);
    } else if (null && key->type == POLICY_SECTION) {
        apply_default(ctx, key, base);   /* every key of it commented out */
    } else if (null) {
        policy_report_at(ctx, written, key->flags & POLICY_KEY_REQUIRED
                                           ? "no value given"
                                           : "no value given; leave the key out to use the default");
        apply_default(ctx, key, base);
    } else if (node->kind != ops->kind) {
        report_wrong_kind(ctx, key, written);
        apply_default(ctx, key, base);
    } else if (node->kind == YNODE_SCALAR && strlen(node->text) != node->len) {
        policy_report_at(ctx, written, "contains a NUL character");
        apply_default(ctx, key, base);
    } else if (key->type == POLICY_SECTION) {
        policy_walk_section(ctx, key->section, node, (char *)base + key->offset,
                            inherited_source(ctx, key));
    } else {
        /* A value that failed leaves its default behind, so the checks that
           follow never see a half-loaded field. */
        int rc = ops->parse(ctx, key, node, base);
        if (rc == -ENOMEM)
            policy_out_of_memory(ctx);
        else if (rc < 0)
            apply_default(ctx, key, base);
    }
}

static void load_key(policy_ctx *ctx, const policy_key *key, policy_key_state *state,
                     void *base, bool inherited, const ynode *map)
{
    size_t saved = policy_key_push(ctx, "%s%s", ctx->key_len ? "." : "", key->name);
    int errors = ctx->err->count;
    if (state->value == NULL)
        load_absent(ctx, key, base, inherited, map);
    else
        load_present(ctx, key, state->value, base);
    state->bad = ctx->err->count != errors;
    policy_key_pop(ctx, saved);
}

void policy_walk_section(policy_ctx *ctx, const policy_section *section, const ynode *map,
                         void *base, const void *inherited)
{
    /* The top-level states outlive this call: checks deeper down look at
       them (a pool inherits the global scavenger only if that loaded). */
    policy_key_state local[POLICY_SECTION_MAX_KEYS] = { 0 };
    policy_key_state *state = section == &policy_root_section ? ctx->root_state : local;
    if (inherited != NULL)
        memcpy(base, inherited, section->size);
    if (map != NULL)
        collect_keys(ctx, section, map, state);
    for (size_t i = 0; i < section->nkeys; i++)
        load_key(ctx, &section->keys[i], &state[i], base, inherited != NULL, map);
    if (section->check != NULL && !ctx->out_of_memory)
        section->check(ctx, base, state);
}

void policy_release_section(const policy_section *section, void *base)
{
    for (size_t i = 0; i < section->nkeys; i++) {
        const policy_key *key = &section->keys[i];
        if (key->type == POLICY_SECTION) {
            policy_release_section(key->section, (char *)base + key->offset);
        } else if (key->type == POLICY_POOLS) {
            policy_pool **pools = POLICY_FIELD(base, key, policy_pool *);
            size_t *npools = (size_t *)((char *)base + key->aux_offset);
            for (size_t j = 0; j < *npools; j++)
                policy_release_section(key->section, &(*pools)[j]);
            free(*pools);
            *pools = NULL;
            *npools = 0;
        } else if (policy_type_ops_of(key->type)->release != NULL) {
            policy_type_ops_of(key->type)->release(key, base);
        }
    }
}
