/* Loading a policy (file or buffer) into a new object, collecting every
 * error with its place; and the questions the daemon asks a loaded policy. */
#include "policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room kept at the end of the error text for "(and N more errors)". */
#define ERROR_TAIL_ROOM 48

static void keep_message(policy_ctx *ctx, int line, int column, const char *message)
{
    size_t n = strlen(message) + 1;
    ctx->err->count++;
    if (ctx->nmessages == POLICY_MAX_MESSAGES ||
        ctx->messages_len + n > sizeof ctx->messages_text) {
        ctx->dropped++;
        return;
    }
    memcpy(ctx->messages_text + ctx->messages_len, message, n);
    ctx->messages[ctx->nmessages++] =
        (policy_message){ .line = line, .column = column, .offset = ctx->messages_len };
    ctx->messages_len += n;
}

static void vreport(policy_ctx *ctx, int line, int column, const char *fmt, va_list ap)
{
    char what[512], message[1024];
    vsnprintf(what, sizeof what, fmt, ap);
    int n = line > 0 ? snprintf(message, sizeof message, "%s:%d:%d: ", ctx->file, line, column)
                     : snprintf(message, sizeof message, "%s: ", ctx->file);
    size_t used = n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
    if (ctx->key_len > 0)
        snprintf(message + used, sizeof message - used, "%s: %s", ctx->key, what);
    else
        snprintf(message + used, sizeof message - used, "%s", what);
    keep_message(ctx, line, column, message);
}

void policy_report(policy_ctx *ctx, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, line, column, fmt, ap);
    va_end(ap);
}

void policy_report_at(policy_ctx *ctx, const ynode *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, node ? node->line : 0, node ? node->column : 0, fmt, ap);
    va_end(ap);
}

void policy_out_of_memory(policy_ctx *ctx)
{
    if (!ctx->out_of_memory)
        policy_report(ctx, 0, 0, "out of memory");
    ctx->out_of_memory = true;
}

size_t policy_key_push(policy_ctx *ctx, const char *fmt, ...)
{
    size_t saved = ctx->key_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx->key + saved, sizeof ctx->key - saved, fmt, ap);
    va_end(ap);
    if (n > 0)
        ctx->key_len = saved + (size_t)n < sizeof ctx->key ? saved + (size_t)n
                                                           : sizeof ctx->key - 1;
    return saved;
}

void policy_key_pop(policy_ctx *ctx, size_t saved)
{
    ctx->key_len = saved;
    ctx->key[saved] = '\0';
}

static bool comes_before(const policy_message *a, const policy_message *b)
{
    return a->line < b->line || (a->line == b->line && a->column < b->column);
}

/* A stable insertion sort: errors at one place keep the order found. */
static void sort_messages(policy_message *messages, int n)
{
    for (int i = 1; i < n; i++) {
        policy_message m = messages[i];
        int j = i;
        for (; j > 0 && comes_before(&m, &messages[j - 1]); j--)
            messages[j] = messages[j - 1];
        messages[j] = m;
    }
}

static void finish_errors(policy_ctx *ctx)
{
    policy_error *err = ctx->err;
    size_t used = 0;
    sort_messages(ctx->messages, ctx->nmessages);
    err->text[0] = '\0';
    for (int i = 0; i < ctx->nmessages; i++) {
        const char *text = ctx->messages_text + ctx->messages[i].offset;
        size_t n = strlen(text);
        if (used + n + 1 + ERROR_TAIL_ROOM > sizeof err->text) {
            ctx->dropped += ctx->nmessages - i;
            break;
        }
        if (used > 0)
            err->text[used++] = '\n';
        memcpy(err->text + used, text, n + 1);
        used += n;
    }
    if (ctx->dropped > 0)
        snprintf(err->text + used, sizeof err->text - used, "%s(and %d more errors)",
                 used ? "\n" : "", ctx->dropped);
}

static void load_root(policy_ctx *ctx, const ynode *root)
{
    if (root == NULL || ynode_is_null(root)) {
        policy_report(ctx, root ? root->line : 1, root ? root->column : 1,
                      "the policy is empty: it needs at least a list of pools");
        return;
    }
    if (root->kind != YNODE_MAPPING) {
        policy_report_at(ctx, root,
                         "expected a mapping of sections (listen, admin, limits, log, metrics, "
                         "scavenger, library, pools), found %s", ynode_kind_name(root->kind));
        return;
    }
    policy_walk_section(ctx, &policy_root_section, root, ctx->root, NULL);
}

static void reset_error(policy_error *err)
{
    err->text[0] = '\0';
    err->count = 0;
}

static int load_document(policy_ctx *ctx, const char *buf, size_t len, policy **out)
{
    if (len > POLICY_MAX_FILE_SIZE) {
        policy_report(ctx, 0, 0, "larger than %d bytes: not a policy", POLICY_MAX_FILE_SIZE);
        return -EINVAL;
    }
    ydoc doc;
    int rc = ydoc_parse(ctx, buf, len, &doc);
    if (rc < 0)
        return rc;
    policy *p = calloc(1, sizeof *p);
    if (p == NULL || (p->path = strdup(ctx->file)) == NULL) {
        free(p);
        ydoc_free(&doc);
        policy_out_of_memory(ctx);
        return -ENOMEM;
    }
    ctx->root = p;
    load_root(ctx, doc.root);
    ydoc_free(&doc);
    rc = ctx->out_of_memory ? -ENOMEM : ctx->err->count > 0 ? -EINVAL : 0;
    if (rc < 0)
        policy_free(p);
    else
        *out = p;
    return rc;
}

int policy_load_buffer(const char *name, const char *buf, size_t len, policy **out,
                       policy_error *err)
{
    policy_error scratch;
    policy_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL && err != NULL)
        snprintf(err->text, sizeof err->text, "%s: out of memory", name ? name : "<memory>");
    if (ctx == NULL)
        return -ENOMEM;
    ctx->file = name ? name : "<memory>";
    ctx->err = err ? err : &scratch;
    reset_error(ctx->err);
    int rc = load_document(ctx, buf, len, out);
    finish_errors(ctx);
    free(ctx);
    return rc;
}

/* Reads at most POLICY_MAX_FILE_SIZE + 1 bytes: one more than allowed is
   enough to know the file is too large. */
static int read_whole_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = POLICY_MAX_FILE_SIZE + 1, used = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0 && used < cap) {
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        else if (n == 0)
            break;
        else
            used += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = used;
    return 0;
}

int policy_load_file(const char *path, policy **out, policy_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = read_whole_file(path, &data, &len);
    if (rc < 0 && err != NULL) {
        snprintf(err->text, sizeof err->text, "%s: cannot read: %s", path, strerror(-rc));
        err->count = 1;
    }
    if (rc < 0)
        return rc;
    rc = policy_load_buffer(path, data, len, out, err);
    free(data);
    return rc;
}

void policy_free(policy *p)
{
    if (p == NULL)
        return;
    policy_release_section(&policy_root_section, p);
    free(p->path);
    free(p);
}

const policy_pool *policy_find_pool(const policy *p, const char *name)
{
    for (size_t i = 0; i < p->npools; i++)
        if (strcmp(p->pools[i].name, name) == 0)
            return &p->pools[i];
    return NULL;
}

static bool any_group_listed(const policy_idlist *groups, const uint32_t *gids, size_t ngids)
{
    if (groups->any)
        return true;
    for (size_t i = 0; i < ngids; i++)
        if (policy_idlist_has(groups, gids[i]))
            return true;
    return false;
}

bool policy_pool_admits(const policy_pool *pool, uint32_t uid, const uint32_t *gids,
                        size_t ngids)
{
    return policy_idlist_has(&pool->users, uid) ||
           policy_idlist_has(&pool->read_only_users, uid) ||
           any_group_listed(&pool->groups, gids, ngids);
}

bool policy_pool_read_only(const policy_pool *pool, uint32_t uid)
{
    return policy_idlist_has(&pool->read_only_users, uid);
}

bool policy_admin_admits(const policy *p, uint32_t uid, const uint32_t *gids, size_t ngids)
{
    return policy_idlist_has(&p->admin_users, uid) ||
           any_group_listed(&p->admin_groups, gids, ngids);
}

static size_t add_named(const policy_idlist *list, uint32_t *out, size_t n, size_t cap)
{
    for (size_t i = 0; i < list->n; i++) {
        size_t k = 0;
        while (k < n && k < cap && out[k] != list->ids[i])
            k++;
        if (k == n || k == cap) {
            if (n < cap)
                out[n] = list->ids[i];
            n++;
        }
    }
    return n;
}

size_t policy_named_groups(const policy *p, uint32_t *out, size_t cap)
{
    size_t n = add_named(&p->admin_groups, out, 0, cap);
    for (size_t i = 0; i < p->npools; i++)
        n = add_named(&p->pools[i].groups, out, n, cap);
    return n;
}
