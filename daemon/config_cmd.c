#include "config_cmd.h"

#include "policy.h"
#include "policy_units.h"

#include <inttypes.h>
#include <stdio.h>

static policy *load_or_explain(const char *path, FILE *err)
{
    policy *p = NULL;
    policy_error errors;
    if (policy_load_file(path, &p, &errors) < 0) {
        fprintf(err, "%s\n", errors.text);
        if (errors.count > 1)
            fprintf(err, "%s: %d errors\n", path, errors.count);
        return NULL;
    }
    return p;
}

static const char *who(const policy_idlist *users, const policy_idlist *groups)
{
    if (users->any || groups->any)
        return "anyone";
    if (users->n == 0 && groups->n == 0)
        return "nobody";
    return "listed users and groups";
}

/* "488280KiB", or "488280KiB (500MB rounded down to the page)" when the
 * policy wrote a size that was no whole number of pages. */
static void size_text(uint64_t value, const char *written, const char *way, char *buf,
                      size_t len)
{
    char size[32];
    policy_format_size(value, size, sizeof size);
    if (written[0] != '\0')
        snprintf(buf, len, "%s (%s rounded %s to the page)", size, written, way);
    else
        snprintf(buf, len, "%s", size);
}

static void summarize_pool(const policy_pool *pool, FILE *out)
{
    char reserve[96], limit[96], quota[96], max_block[96], page[32];
    size_text(pool->reserve, pool->rounded_from.reserve, "up", reserve, sizeof reserve);
    size_text(pool->limit, pool->rounded_from.limit, "down", limit, sizeof limit);
    size_text(pool->quota, pool->rounded_from.quota, "down", quota, sizeof quota);
    size_text(pool->max_block, pool->rounded_from.max_block, "down", max_block, sizeof max_block);
    policy_format_size(pool->page, page, sizeof page);
    fprintf(out,
            "pool %s: reserve %s, limit %s, quota %s, max_block %s, page %s%s%s, "
            "isolation %s, access: %s%s\n",
            pool->name, reserve, limit, quota, max_block, page,
            pool->page_auto ? " (auto)" : "", pool->huge_pages ? ", huge pages" : "",
            policy_isolation_name(pool->isolation),
            who(&pool->users, &pool->groups),
            pool->read_only_users.any || pool->read_only_users.n ? " (some read-only)" : "");
}

int config_check(const char *path, FILE *out, FILE *err)
{
    policy *p = load_or_explain(path, err);
    if (p == NULL)
        return CONFIG_CMD_INVALID;
    fprintf(out, "%s: valid, %zu pool%s\n", path, p->npools, p->npools == 1 ? "" : "s");
    for (size_t i = 0; i < p->npools; i++)
        summarize_pool(&p->pools[i], out);
    policy_free(p);
    return CONFIG_CMD_OK;
}

int config_print(const char *path, FILE *out, FILE *err)
{
    policy *p = load_or_explain(path, err);
    if (p == NULL)
        return CONFIG_CMD_INVALID;
    fprintf(out, "# The effective policy of %s, every default filled in.\n", path);
    int rc = policy_write_yaml(p, out);
    policy_free(p);
    if (rc < 0) {
        fprintf(err, "%s: cannot write the policy\n", path);
        return CONFIG_CMD_INVALID;
    }
    return CONFIG_CMD_OK;
}
