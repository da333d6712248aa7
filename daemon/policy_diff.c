/* Comparing two policies, key by key through the tables: policy_equal for
 * "same settings", policy_diff for what a reload changes and whether the
 * running daemon can apply it. */
#include "policy_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static bool equal_section(const policy_section *section, const void *a, const void *b)
{
    for (size_t i = 0; i < section->nkeys; i++) {
        const policy_key *key = &section->keys[i];
        if (key->type == POLICY_SECTION) {
            if (!equal_section(key->section, (const char *)a + key->offset,
                               (const char *)b + key->offset))
                return false;
        } else if (key->type == POLICY_POOLS) {
            const policy *pa = a, *pb = b;
            if (pa->npools != pb->npools)
                return false;
            for (size_t j = 0; j < pa->npools; j++)
                if (!equal_section(key->section, &pa->pools[j], &pb->pools[j]))
                    return false;
        } else if (!policy_type_ops_of(key->type)->equal(key, a, b)) {
            return false;
        }
    }
    return true;
}

bool policy_equal(const policy *a, const policy *b)
{
    return equal_section(&policy_root_section, a, b);
}

typedef struct diff_out {
    char *buf;
    size_t len, used;
    int count;
    bool restart;
} diff_out;

static void emit(diff_out *out, bool restart, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emit(diff_out *out, bool restart, const char *fmt, ...)
{
    out->count++;
    out->restart |= restart;
    if (out->used >= out->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out->buf + out->used, out->len - out->used, fmt, ap);
    va_end(ap);
    out->used += n > 0 ? (size_t)n : 0;
    if (out->used < out->len) {
        n = snprintf(out->buf + out->used, out->len - out->used, " (%s)\n",
                     restart ? "needs restart" : "live");
        out->used += n > 0 ? (size_t)n : 0;
    }
}

/* The YAML text of one value, as --print-config writes it. */
static char *value_text(const policy_key *key, const void *base)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    policy_type_ops_of(key->type)->write(key, base, f);
    fclose(f);
    return text;
}

static void diff_leaf(diff_out *out, const char *prefix, const policy_key *key,
                      const void *a, const void *b)
{
    const policy_type_ops *ops = policy_type_ops_of(key->type);
    if (ops->equal(key, a, b))
        return;
    char *was = value_text(key, a), *now = value_text(key, b);
    emit(out, key->flags & POLICY_KEY_RESTART, "%s%s: %s -> %s", prefix, key->name,
         was ? was : "?", now ? now : "?");
    free(was);
    free(now);
}

static void diff_section(diff_out *out, const char *prefix, const policy_section *section,
                         const void *a, const void *b);

static void diff_pools(diff_out *out, const policy_key *key, const policy *a, const policy *b)
{
    char prefix[POLICY_POOL_NAME_MAX + 16];
    for (size_t i = 0; i < a->npools; i++) {
        const policy_pool *now = policy_find_pool(b, a->pools[i].name);
        snprintf(prefix, sizeof prefix, "pools[%s].", a->pools[i].name);
        if (now == NULL)
            emit(out, true, "pools[%s]: removed", a->pools[i].name);
        else
            diff_section(out, prefix, key->section, &a->pools[i], now);
    }
    for (size_t i = 0; i < b->npools; i++)
        if (policy_find_pool(a, b->pools[i].name) == NULL)
            emit(out, true, "pools[%s]: added", b->pools[i].name);
}

static void diff_section(diff_out *out, const char *prefix, const policy_section *section,
                         const void *a, const void *b)
{
    for (size_t i = 0; i < section->nkeys; i++) {
        const policy_key *key = &section->keys[i];
        char inner[128];
        if (key->type == POLICY_SECTION) {
            snprintf(inner, sizeof inner, "%s%s.", prefix, key->name);
            diff_section(out, inner, key->section, (const char *)a + key->offset,
                         (const char *)b + key->offset);
        } else if (key->type == POLICY_POOLS) {
            diff_pools(out, key, a, b);
        } else {
            diff_leaf(out, prefix, key, a, b);
        }
    }
}

int policy_diff(const policy *old, const policy *new_, char *buf, size_t len,
                bool *needs_restart)
{
    diff_out out = { .buf = buf, .len = len };
    if (len > 0)
        buf[0] = '\0';
    diff_section(&out, "", &policy_root_section, old, new_);
    *needs_restart = out.restart;
    return out.count;
}
