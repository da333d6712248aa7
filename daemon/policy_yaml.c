/* YAML text to a tree of nodes that remember where they start, read with
 * libyaml's event API. The tree keeps aliases as nodes of their own (not
 * copies of what they name), so an alias used in the wrong place is reported
 * at the alias, and a chain of aliases cannot blow up in memory. */
#include "policy_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A policy is a few dozen keys: these bounds only stop hostile input from
   costing time or stack, and each one is reported when hit. */
#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000
#define YAML_MAX_ANCHORS 256

typedef struct builder {
    policy_ctx *ctx;
    ydoc *doc;
    const char *buf;
    size_t len;
    ynode *open[YAML_MAX_DEPTH];   /* containers not closed yet */
    int depth;
    const ynode *anchors[YAML_MAX_ANCHORS];
    int nanchors;
    int documents;
} builder;

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
   surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

static size_t first_invalid_utf8(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

static bool is_continuation_byte(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

static void position_of_offset(const char *buf, size_t offset, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (buf[i] == '\n')
            ++*line, *column = 1;
        else if (!is_continuation_byte(buf[i]))
            ++*column;
    }
}

/* The byte at a 1-based line and column (in characters), or NULL. */
static const char *byte_at_position(const char *buf, size_t len, int line, int column)
{
    size_t i = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (nl == NULL)
            return NULL;
        i = (size_t)(nl - buf) + 1;
    }
    for (int c = 1; i < len; i++) {
        if (is_continuation_byte(buf[i]))
            continue;
        if (c++ == column)
            return buf + i;
    }
    return NULL;
}

static void report_parser_error(builder *b, const yaml_parser_t *parser)
{
    policy_ctx *ctx = b->ctx;
    if (parser->error == YAML_MEMORY_ERROR) {
        policy_out_of_memory(ctx);
        return;
    }
    if (parser->error == YAML_READER_ERROR) {
        int line, column;
        position_of_offset(b->buf, parser->problem_offset, &line, &column);
        policy_report(ctx, line, column, "%s", parser->problem);
        return;
    }
    int line = (int)parser->problem_mark.line + 1;
    int column = (int)parser->problem_mark.column + 1;
    const char *at = byte_at_position(b->buf, b->len, line, column);
    /* A bare * is the commonest slip in an access list: YAML reads it as
       the start of an alias. */
    const char *hint = parser->context && strstr(parser->context, "alias")
                           ? "; to mean anyone, write \"*\" in quotes"
                           : "";
    if (at != NULL && *at == '\t')
        policy_report(ctx, line, column, "tab character: YAML indents with spaces, not tabs");
    else if (parser->context != NULL)
        policy_report(ctx, line, column, "YAML syntax error: %s %s started at %d:%d%s",
                      parser->problem, parser->context, (int)parser->context_mark.line + 1,
                      (int)parser->context_mark.column + 1, hint);
    else
        policy_report(ctx, line, column, "YAML syntax error: %s", parser->problem);
}

static ynode *new_node(builder *b, ynode_kind kind, yaml_mark_t mark)
{
    if (b->doc->count >= YAML_MAX_NODES) {
        policy_report(b->ctx, (int)mark.line + 1, (int)mark.column + 1,
                      "too many YAML nodes: a policy holds at most %d", YAML_MAX_NODES);
        return NULL;
    }
    ynode *node = calloc(1, sizeof *node);
    if (node == NULL) {
        policy_out_of_memory(b->ctx);
        return NULL;
    }
    node->kind = kind;
    node->line = (int)mark.line + 1;
    node->column = (int)mark.column + 1;
    node->next = b->doc->nodes;
    b->doc->nodes = node;
    b->doc->count++;
    return node;
}

static int add_child(builder *b, ynode *parent, ynode *child)
{
    if (parent->nchildren == parent->capacity) {
        size_t capacity = parent->capacity ? parent->capacity * 2 : 8;
        ynode **children = realloc(parent->children, capacity * sizeof *children);
        if (children == NULL) {
            policy_out_of_memory(b->ctx);
            return -ENOMEM;
        }
        parent->children = children;
        parent->capacity = capacity;
    }
    parent->children[parent->nchildren++] = child;
    return 0;
}

/* Hangs a finished or opened node under the innermost open container. */
static int attach(builder *b, ynode *node)
{
    if (b->depth == 0) {
        b->doc->root = node;
        return 0;
    }
    return add_child(b, b->open[b->depth - 1], node);
}

static int copy_text(builder *b, char **dst, const unsigned char *src, size_t len)
{
    *dst = malloc(len + 1);
    if (*dst == NULL) {
        policy_out_of_memory(b->ctx);
        return -ENOMEM;
    }
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    return 0;
}

static int name_anchor(builder *b, ynode *node, const unsigned char *anchor)
{
    if (anchor == NULL)
        return 0;
    return copy_text(b, &node->anchor, anchor, strlen((const char *)anchor));
}

/* Anchors become visible once their node is complete, so an alias can
   never point into a node that contains it: the tree has no cycles. */
static int define_anchor(builder *b, const ynode *node)
{
    if (node->anchor == NULL)
        return 0;
    if (b->nanchors == YAML_MAX_ANCHORS) {
        policy_report(b->ctx, node->line, node->column,
                      "too many anchors: a policy holds at most %d", YAML_MAX_ANCHORS);
        return -EINVAL;
    }
    b->anchors[b->nanchors++] = node;
    return 0;
}

static const ynode *find_anchor(const builder *b, const char *name)
{
    for (int i = b->nanchors - 1; i >= 0; i--)   /* a redefined anchor: the latest wins */
        if (strcmp(b->anchors[i]->anchor, name) == 0)
            return b->anchors[i];
    return NULL;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    ynode *node = new_node(b, YNODE_SCALAR, ev->start_mark);
    if (node == NULL)
        return -EINVAL;
    node->len = ev->data.scalar.length;
    node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (copy_text(b, &node->text, ev->data.scalar.value, node->len) < 0)
        return -ENOMEM;
    if (name_anchor(b, node, ev->data.scalar.anchor) < 0)
        return -ENOMEM;
    if (define_anchor(b, node) < 0)
        return -EINVAL;
    return attach(b, node);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    ynode *node = new_node(b, YNODE_ALIAS, ev->start_mark);
    if (node == NULL)
        return -EINVAL;
    node->target = find_anchor(b, name);
    if (node->target == NULL) {
        policy_report(b->ctx, node->line, node->column,
                      "alias *%s names no anchor (&%s) defined before it", name, name);
        return -EINVAL;
    }
    if (copy_text(b, &node->text, ev->data.alias.anchor, strlen(name)) < 0)
        return -ENOMEM;
    node->len = strlen(name);
    return attach(b, node);
}

static int on_container_start(builder *b, const yaml_event_t *ev, ynode_kind kind,
                              const unsigned char *anchor)
{
    if (b->depth == YAML_MAX_DEPTH) {
        policy_report(b->ctx, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                      "nested deeper than %d levels", YAML_MAX_DEPTH);
        return -EINVAL;
    }
    ynode *node = new_node(b, kind, ev->start_mark);
    if (node == NULL)
        return -EINVAL;
    int rc = name_anchor(b, node, anchor);
    if (rc == 0)
        rc = attach(b, node);
    if (rc < 0)
        return rc;
    b->open[b->depth++] = node;
    return 0;
}

static int on_container_end(builder *b)
{
    return define_anchor(b, b->open[--b->depth]);
}

static int on_document_start(builder *b, const yaml_event_t *ev)
{
    if (++b->documents == 1)
        return 0;
    policy_report(b->ctx, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                  "a second YAML document: a policy file holds exactly one");
    return -EINVAL;
}

static int on_event(builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return on_document_start(b, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_container_start(b, ev, YNODE_SEQUENCE, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_container_start(b, ev, YNODE_MAPPING, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_container_end(b);
    default:
        return 0;
    }
}

static int check_utf8(policy_ctx *ctx, const char *buf, size_t len)
{
    size_t bad = first_invalid_utf8(buf, len);
    if (bad == len)
        return 0;
    int line, column;
    position_of_offset(buf, bad, &line, &column);
    policy_report(ctx, line, column, "byte 0x%02x is not UTF-8: a policy is UTF-8 text",
                  (unsigned char)buf[bad]);
    return -EINVAL;
}

static int run_parser(builder *b, yaml_parser_t *parser)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(parser, &ev)) {
            report_parser_error(b, parser);
            return b->ctx->out_of_memory ? -ENOMEM : -EINVAL;
        }
        int rc = on_event(b, &ev);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc < 0)
            return b->ctx->out_of_memory ? -ENOMEM : rc;
        if (end)
            return 0;
    }
}

int ydoc_parse(policy_ctx *ctx, const char *buf, size_t len, ydoc *doc)
{
    memset(doc, 0, sizeof *doc);
    if (check_utf8(ctx, buf, len) < 0)
        return -EINVAL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        policy_out_of_memory(ctx);
        return -ENOMEM;
    }
    /* Forcing UTF-8 turns a UTF-16 byte-order mark into an error instead of
       a silent change of encoding. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    builder *b = calloc(1, sizeof *b);
    int rc = -ENOMEM;
    if (b == NULL) {
        policy_out_of_memory(ctx);
    } else {
        *b = (builder){ .ctx = ctx, .doc = doc, .buf = buf, .len = len };
        rc = run_parser(b, &parser);
        free(b);
    }
    yaml_parser_delete(&parser);
    if (rc < 0)
        ydoc_free(doc);
    return rc;
}

void ydoc_free(ydoc *doc)
{
    ynode *node = doc->nodes;
    while (node != NULL) {
        ynode *next = node->next;
        free(node->text);
        free(node->anchor);
        free(node->children);
        free(node);
        node = next;
    }
    memset(doc, 0, sizeof *doc);
}

const ynode *ynode_resolve(const ynode *node)
{
    return node != NULL && node->kind == YNODE_ALIAS ? node->target : node;
}

bool ynode_is_null(const ynode *node)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
    if (node == NULL || node->kind != YNODE_SCALAR || !node->plain)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(node->text, nulls[i]) == 0)
            return true;
    return false;
}

const ynode *ymap_get(const ynode *map, const char *key)
{
    map = ynode_resolve(map);
    if (map == NULL || map->kind != YNODE_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < map->nchildren; i += 2) {
        const ynode *k = ynode_resolve(map->children[i]);
        if (k->kind == YNODE_SCALAR && strlen(k->text) == k->len && strcmp(k->text, key) == 0)
            return ynode_resolve(map->children[i + 1]);
    }
    return NULL;
}

const char *ynode_kind_name(ynode_kind kind)
{
    switch (kind) {
    case YNODE_SEQUENCE:
        return "a list";
    case YNODE_MAPPING:
        return "a mapping";
    default:
        return "a single value";
    }
}
