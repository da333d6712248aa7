/* --print-config: the effective policy as YAML, every default filled in,
 * each key followed by what it means. Driven by the key tables, so the dump
 * cannot miss a key that loading knows. */
#include "policy_internal.h"

#include <errno.h>

static void write_section(FILE *f, const policy_section *section, const void *base,
                          int indent, bool list_item);

static void write_pools(FILE *f, const policy_key *key, const void *base, int indent)
{
    const policy_pool *pools = *POLICY_CFIELD(base, key, policy_pool *);
    size_t npools = *(const size_t *)((const char *)base + key->aux_offset);
    for (size_t i = 0; i < npools; i++)
        write_section(f, key->section, &pools[i], indent + 4, true);
}

static void write_key(FILE *f, const policy_key *key, const void *base, int indent)
{
    if (key->type == POLICY_SECTION) {
        fprintf(f, "%s:  # %s\n", key->name, key->help);
        write_section(f, key->section, (const char *)base + key->offset, indent + 2, false);
    } else if (key->type == POLICY_POOLS) {
        fprintf(f, "%s:  # %s\n", key->name, key->help);
        write_pools(f, key, base, indent);
    } else {
        fprintf(f, "%s: ", key->name);
        policy_type_ops_of(key->type)->write(key, base, f);
        fprintf(f, "  # %s\n", key->help);
    }
}

/* A list item's first key goes on the "- " line, the others under it. */
static void write_section(FILE *f, const policy_section *section, const void *base,
                          int indent, bool list_item)
{
    for (size_t i = 0; i < section->nkeys; i++) {
        if (list_item && i == 0)
            fprintf(f, "%*s- ", indent - 2, "");
        else
            fprintf(f, "%*s", indent, "");
        write_key(f, &section->keys[i], base, indent);
    }
}

int policy_write_yaml(const policy *p, FILE *f)
{
    write_section(f, &policy_root_section, p, 0, false);
    return ferror(f) || fflush(f) != 0 ? -EIO : 0;
}
