/* One set of operations per value type: parse a YAML node into the field,
 * write the field back as YAML, compare two fields, release what a field
 * owns. The key tables say which type each key has. */
#include "policy_internal.h"
#include "policy_units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE_MAX POLICY_GIB

/* ---- numbers: sizes, durations, shares, modes, counts --------------------- */

typedef struct number_syntax {
    int (*scan)(const char *text, uint64_t *value, const char **why);
    void (*format)(uint64_t value, char *buf, size_t len);
    bool wide;   /* uint64_t field; otherwise uint32_t */
} number_syntax;

static const number_syntax *number_syntax_of(policy_type type)
{
    static const number_syntax size = { policy_scan_size, policy_format_size, true };
    static const number_syntax duration = { policy_scan_duration, policy_format_duration, true };
    static const number_syntax share = { policy_scan_share, policy_format_share, false };
    static const number_syntax mode = { policy_scan_mode, policy_format_mode, false };
    static const number_syntax count = { policy_scan_count, policy_format_count, false };
    switch (type) {
    case POLICY_SIZE:
        return &size;
    case POLICY_DURATION:
        return &duration;
    case POLICY_SHARE:
        return &share;
    case POLICY_MODE:
        return &mode;
    default:
        return &count;
    }
}

static uint64_t number_of(const policy_key *key, const void *base)
{
    if (number_syntax_of(key->type)->wide)
        return *POLICY_CFIELD(base, key, uint64_t);
    return *POLICY_CFIELD(base, key, uint32_t);
}

static int check_bounds(policy_ctx *ctx, const policy_key *key, const ynode *node,
                        uint64_t value, const number_syntax *syntax)
{
    char bound[32];
    if (value >= key->min && value <= key->max)
        return 0;
    syntax->format(value < key->min ? key->min : key->max, bound, sizeof bound);
    if (value == 0)
        policy_report_at(ctx, node, POLICY_SHOWN ": zero is not allowed (at least %s)", node->text,
                         bound);
    else if (value < key->min)
        policy_report_at(ctx, node, POLICY_SHOWN " is below the minimum (%s)", node->text, bound);
    else
        policy_report_at(ctx, node, POLICY_SHOWN " is above the maximum (%s)", node->text, bound);
    return -EINVAL;
}

static int parse_number(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    const number_syntax *syntax = number_syntax_of(key->type);
    uint64_t value;
    const char *why;
    if (syntax->scan(node->text, &value, &why) < 0) {
        policy_report_at(ctx, node, POLICY_SHOWN ": %s", node->text, why);
        return -EINVAL;
    }
    if (check_bounds(ctx, key, node, value, syntax) < 0)
        return -EINVAL;
    if (syntax->wide)
        *POLICY_FIELD(base, key, uint64_t) = value;
    else
        *POLICY_FIELD(base, key, uint32_t) = (uint32_t)value;
    return 0;
}

static void write_number(const policy_key *key, const void *base, FILE *f)
{
    char text[32];
    number_syntax_of(key->type)->format(number_of(key, base), text, sizeof text);
    fputs(text, f);
}

static bool equal_number(const policy_key *key, const void *a, const void *b)
{
    return number_of(key, a) == number_of(key, b);
}

/* ---- booleans and names from a fixed list ---------------------------------- */

static int parse_bool(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    const char *why;
    if (policy_scan_bool(node->text, POLICY_FIELD(base, key, bool), &why) < 0) {
        policy_report_at(ctx, node, POLICY_SHOWN ": %s", node->text, why);
        return -EINVAL;
    }
    return 0;
}

static void write_bool(const policy_key *key, const void *base, FILE *f)
{
    fputs(*POLICY_CFIELD(base, key, bool) ? "true" : "false", f);
}

static bool equal_bool(const policy_key *key, const void *a, const void *b)
{
    return *POLICY_CFIELD(a, key, bool) == *POLICY_CFIELD(b, key, bool);
}

void policy_enum_names(const policy_key *key, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const policy_enum_value *v = key->values; v->name && used < len; v++) {
        const char *separator = v == key->values ? "" : v[1].name ? ", " : " or ";
        int n = snprintf(buf + used, len - used, "%s%s", separator, v->name);
        used += n > 0 ? (size_t)n : 0;
    }
}

static int parse_enum(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    for (const policy_enum_value *v = key->values; v->name; v++)
        if (strcmp(node->text, v->name) == 0) {
            *POLICY_FIELD(base, key, int) = v->value;
            return 0;
        }
    char names[128];
    policy_enum_names(key, names, sizeof names);
    policy_report_at(ctx, node, POLICY_SHOWN " is not %s", node->text, names);
    return -EINVAL;
}

static const char *enum_name(const policy_key *key, int value)
{
    for (const policy_enum_value *v = key->values; v->name; v++)
        if (v->value == value)
            return v->name;
    return "?";
}

static void write_enum(const policy_key *key, const void *base, FILE *f)
{
    fputs(enum_name(key, *POLICY_CFIELD(base, key, int)), f);
}

static bool equal_enum(const policy_key *key, const void *a, const void *b)
{
    return *POLICY_CFIELD(a, key, int) == *POLICY_CFIELD(b, key, int);
}

/* ---- strings: socket paths and pool names ----------------------------------- */

/* Always double-quoted, so no path or name can be read back as anything
   but a string (a name like "true" or "-x" stays a name). */
static void write_quoted(const char *text, FILE *f)
{
    fputc('"', f);
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if (*s < 0x20 || *s == 0x7f)
            fprintf(f, "\\x%02x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

const char *policy_socket_path_problem(const char *path, char *buf, size_t len)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (path[0] != '/')
        return "must be an absolute path";
    if (strlen(path) > max) {
        snprintf(buf, len, "is %zu bytes long; a socket path holds at most %zu", strlen(path),
                 max);
        return buf;
    }
    return NULL;
}

static int parse_socket_path(policy_ctx *ctx, const policy_key *key, const ynode *node,
                             void *base)
{
    char why[96];
    const char *problem = policy_socket_path_problem(node->text, why, sizeof why);
    if (problem != NULL) {
        policy_report_at(ctx, node, POLICY_SHOWN ": %s", node->text, problem);
        return -EINVAL;
    }
    char *copy = strdup(node->text);
    if (copy == NULL)
        return -ENOMEM;
    char **field = POLICY_FIELD(base, key, char *);
    free(*field);
    *field = copy;
    return 0;
}

static void write_string(const policy_key *key, const void *base, FILE *f)
{
    const char *text = *POLICY_CFIELD(base, key, char *);
    write_quoted(text ? text : "", f);
}

static bool equal_string(const policy_key *key, const void *a, const void *b)
{
    const char *sa = *POLICY_CFIELD(a, key, char *), *sb = *POLICY_CFIELD(b, key, char *);
    return strcmp(sa ? sa : "", sb ? sb : "") == 0;
}

static void release_string(const policy_key *key, void *base)
{
    char **field = POLICY_FIELD(base, key, char *);
    free(*field);
    *field = NULL;
}

/* ---- addresses: HOST:PORT or off ------------------------------------------------ */

int policy_parse_address(const char *text, int *family, char *host, size_t host_len,
                         uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        strlen(colon + 1) > 5 || strtoul(colon + 1, NULL, 10) > 65535)
        return -EINVAL;
    size_t len = (size_t)(colon - text);
    bool bracketed = len >= 2 && text[0] == '[' && text[len - 1] == ']';
    if (bracketed)
        text++, len -= 2;
    if (len == 0 || len >= host_len)
        return -EINVAL;
    memcpy(host, text, len);
    host[len] = '\0';
    unsigned char addr[16];
    *family = bracketed ? AF_INET6 : AF_INET;
    if (inet_pton(*family, host, addr) != 1)
        return -EINVAL;
    *port = (uint16_t)strtoul(colon + 1, NULL, 10);
    return 0;
}

/* NULL in the field is off. */
static int parse_address(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    char host[64];
    int family;
    uint16_t port;
    char **field = POLICY_FIELD(base, key, char *);
    if (strcmp(node->text, "off") == 0) {
        free(*field);
        *field = NULL;
        return 0;
    }
    if (policy_parse_address(node->text, &family, host, sizeof host, &port) != 0) {
        policy_report_at(ctx, node,
                         POLICY_SHOWN ": expected off or HOST:PORT with an IP address, such as "
                         "127.0.0.1:9464 or [::1]:9464",
                         node->text);
        return -EINVAL;
    }
    char *copy = strdup(node->text);
    if (copy == NULL)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static void write_address(const policy_key *key, const void *base, FILE *f)
{
    const char *text = *POLICY_CFIELD(base, key, char *);
    if (text == NULL)
        fputs("off", f);
    else
        write_quoted(text, f);
}

static bool is_pool_name(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || n > POLICY_POOL_NAME_MAX)
        return false;
    return strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int parse_pool_name(policy_ctx *ctx, const policy_key *key, const ynode *node,
                           void *base)
{
    if (!is_pool_name(node->text)) {
        policy_report_at(ctx, node,
                         POLICY_SHOWN " is not a pool name: 1 to %d of a-z, 0-9, '_', '.' and '-'",
                         node->text, POLICY_POOL_NAME_MAX);
        return -EINVAL;
    }
    memcpy(POLICY_FIELD(base, key, char), node->text, node->len + 1);
    return 0;
}

static void write_name(const policy_key *key, const void *base, FILE *f)
{
    write_quoted(POLICY_CFIELD(base, key, char), f);
}

static bool equal_name(const policy_key *key, const void *a, const void *b)
{
    return strcmp(POLICY_CFIELD(a, key, char), POLICY_CFIELD(b, key, char)) == 0;
}

/* ---- page: auto or a power of two ------------------------------------------- */

static uint64_t os_page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)page : 4096;
}

static bool *page_auto_of(const policy_key *key, void *base)
{
    return (bool *)((char *)base + key->aux_offset);
}

static int check_page(policy_ctx *ctx, const ynode *node, uint64_t page)
{
    char bound[32];
    if (page < os_page_size()) {
        policy_format_size(os_page_size(), bound, sizeof bound);
        policy_report_at(ctx, node, POLICY_SHOWN " is below the OS page size (%s)", node->text, bound);
    } else if (page > PAGE_MAX) {
        policy_format_size(PAGE_MAX, bound, sizeof bound);
        policy_report_at(ctx, node, POLICY_SHOWN " is above the maximum (%s)", node->text, bound);
    } else if ((page & (page - 1)) != 0) {
        policy_report_at(ctx, node, POLICY_SHOWN " is not a power of two", node->text);
    } else {
        return 0;
    }
    return -EINVAL;
}

static int parse_page(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    uint64_t page = os_page_size();
    bool is_auto = strcmp(node->text, "auto") == 0;
    const char *why;
    if (!is_auto && policy_scan_size(node->text, &page, &why) < 0) {
        policy_report_at(ctx, node, POLICY_SHOWN ": %s; or auto for the OS page size", node->text,
                         why);
        return -EINVAL;
    }
    if (!is_auto && check_page(ctx, node, page) < 0)
        return -EINVAL;
    *POLICY_FIELD(base, key, uint64_t) = page;
    *page_auto_of(key, base) = is_auto;
    return 0;
}

static void write_page(const policy_key *key, const void *base, FILE *f)
{
    if (*page_auto_of(key, (void *)base)) {
        fputs("auto", f);
        return;
    }
    char text[32];
    policy_format_size(*POLICY_CFIELD(base, key, uint64_t), text, sizeof text);
    fputs(text, f);
}

static bool equal_page(const policy_key *key, const void *a, const void *b)
{
    return *page_auto_of(key, (void *)a) == *page_auto_of(key, (void *)b) &&
           *POLICY_CFIELD(a, key, uint64_t) == *POLICY_CFIELD(b, key, uint64_t);
}

/* ---- user and group lists ----------------------------------------------------- */

static int parse_id(policy_ctx *ctx, bool users, const ynode *written, policy_idlist *list)
{
    const char *what = users ? "user" : "group";
    const ynode *node = ynode_resolve(written);
    if (node->kind != YNODE_SCALAR || ynode_is_null(node) || strlen(node->text) != node->len) {
        policy_report_at(ctx, written, "expected a %s name or id, found %s", what,
                         ynode_is_null(node) ? "no value" : ynode_kind_name(node->kind));
        return -EINVAL;
    }
    if (strcmp(node->text, "*") == 0) {
        list->any = true;
        return 0;
    }
    uint32_t id;
    int rc = users ? policy_resolve_user(node->text, &id) : policy_resolve_group(node->text, &id);
    if (rc == -ENOENT)
        policy_report_at(ctx, written, "unknown %s " POLICY_SHOWN, what, node->text);
    else if (rc == -EINVAL)
        policy_report_at(ctx, written, POLICY_SHOWN " is not a valid %s id", node->text, what);
    else if (rc < 0)
        policy_report_at(ctx, written, "cannot look up %s " POLICY_SHOWN ": %s", what, node->text,
                         strerror(-rc));
    if (rc < 0)
        return -EINVAL;
    return policy_idlist_add(list, id);
}

static int parse_ids(policy_ctx *ctx, const policy_key *key, const ynode *node, void *base)
{
    policy_idlist *list = POLICY_FIELD(base, key, policy_idlist);
    policy_idlist_clear(list);
    int result = 0;
    for (size_t i = 0; i < node->nchildren && result != -ENOMEM; i++) {
        size_t saved = policy_key_push(ctx, "[%zu]", i);
        int rc = parse_id(ctx, key->type == POLICY_USERS, node->children[i], list);
        policy_key_pop(ctx, saved);
        if (rc < 0)
            result = rc;
    }
    if (result < 0)
        policy_idlist_clear(list);
    return result;
}

static void write_ids(const policy_key *key, const void *base, FILE *f)
{
    const policy_idlist *list = POLICY_CFIELD(base, key, policy_idlist);
    char name[256];
    fputc('[', f);
    if (list->any)
        fputs(list->n ? "\"*\", " : "\"*\"", f);
    for (size_t i = 0; i < list->n; i++) {
        if (key->type == POLICY_USERS)
            policy_user_name(list->ids[i], name, sizeof name);
        else
            policy_group_name(list->ids[i], name, sizeof name);
        write_quoted(name, f);
        fputs(i + 1 < list->n ? ", " : "", f);
    }
    fputc(']', f);
}

static bool equal_ids(const policy_key *key, const void *a, const void *b)
{
    return policy_idlist_equal(POLICY_CFIELD(a, key, policy_idlist),
                               POLICY_CFIELD(b, key, policy_idlist));
}

static void release_ids(const policy_key *key, void *base)
{
    policy_idlist_clear(POLICY_FIELD(base, key, policy_idlist));
}

/* ---- the table ------------------------------------------------------------------ */

static const policy_type_ops type_ops[] = {
    [POLICY_SIZE] = { "a size such as 64MiB", YNODE_SCALAR, parse_number, write_number,
                      equal_number, NULL },
    [POLICY_DURATION] = { "a duration such as 30s", YNODE_SCALAR, parse_number, write_number,
                          equal_number, NULL },
    [POLICY_SHARE] = { "a share such as 1%", YNODE_SCALAR, parse_number, write_number,
                       equal_number, NULL },
    [POLICY_MODE] = { "an octal mode such as 0660", YNODE_SCALAR, parse_number, write_number,
                      equal_number, NULL },
    [POLICY_COUNT] = { "a whole number", YNODE_SCALAR, parse_number, write_number,
                       equal_number, NULL },
    [POLICY_BOOL] = { "true or false", YNODE_SCALAR, parse_bool, write_bool, equal_bool, NULL },
    [POLICY_ENUM] = { "a name", YNODE_SCALAR, parse_enum, write_enum, equal_enum, NULL },
    [POLICY_SOCKET_PATH] = { "an absolute path", YNODE_SCALAR, parse_socket_path,
                             write_string, equal_string, release_string },
    [POLICY_ADDRESS] = { "off or HOST:PORT", YNODE_SCALAR, parse_address, write_address,
                         equal_string, release_string },
    [POLICY_POOL_NAME] = { "a pool name", YNODE_SCALAR, parse_pool_name, write_name,
                           equal_name, NULL },
    [POLICY_PAGE] = { "auto or a size such as 16KiB", YNODE_SCALAR, parse_page, write_page,
                      equal_page, NULL },
    [POLICY_USERS] = { "a list of user names or ids", YNODE_SEQUENCE, parse_ids, write_ids,
                       equal_ids, release_ids },
    [POLICY_GROUPS] = { "a list of group names or ids", YNODE_SEQUENCE, parse_ids, write_ids,
                        equal_ids, release_ids },
    [POLICY_SECTION] = { "a mapping", YNODE_MAPPING, NULL, NULL, NULL, NULL },
    [POLICY_POOLS] = { "a list of pools", YNODE_SEQUENCE, NULL, NULL, NULL, NULL },
};

const policy_type_ops *policy_type_ops_of(policy_type type)
{
    return &type_ops[type];
}
