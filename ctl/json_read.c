/* A recursive-descent JSON parser. Strict: what RFC 8259 does not allow
 * (trailing commas, leading zeros, raw control characters in strings, lone
 * surrogates, invalid UTF-8, anything after the value) is an error. */
#include "json_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const unsigned char *p, *end, *start;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
} reader;

static json_value *parse_value(reader *r);

static void fail(reader *r, const char *what)
{
    if (!r->failed && r->err != NULL && r->errlen > 0)
        snprintf(r->err, r->errlen, "%s at byte %zu", what, (size_t)(r->p - r->start));
    r->failed = true;
}

static void skip_space(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static json_value *new_value(reader *r, json_type type)
{
    json_value *v = calloc(1, sizeof *v);
    if (v == NULL)
        fail(r, "out of memory");
    else
        v->type = type;
    return v;
}

/* ---- strings ------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static bool text_put(reader *r, text *t, const void *bytes, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap < 32 ? 32 : t->cap;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (s == NULL) {
            fail(r, "out of memory");
            return false;
        }
        t->s = s;
        t->cap = cap;
    }
    memcpy(t->s + t->len, bytes, n);
    t->len += n;
    t->s[t->len] = '\0';
    return true;
}

static bool put_code_point(reader *r, text *t, uint32_t cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return text_put(r, t, b, n);
}

static bool hex4(reader *r, uint32_t *out)
{
    *out = 0;
    if (r->end - r->p < 4)
        return false;
    for (int i = 0; i < 4; i++) {
        unsigned char c = *r->p++;
        uint32_t digit = c >= '0' && c <= '9' ? (uint32_t)(c - '0')
                         : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 16;
        if (digit == 16)
            return false;
        *out = *out << 4 | digit;
    }
    return true;
}

/* \uXXXX, with a surrogate pair's second half. */
static bool unicode_escape(reader *r, text *t)
{
    uint32_t cp, low;
    if (!hex4(r, &cp))
        return fail(r, "bad \\u escape"), false;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(r, "lone low surrogate"), false;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (!literal(r, "\\u") || !hex4(r, &low) || low < 0xdc00 || low > 0xdfff)
            return fail(r, "high surrogate without its low half"), false;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return put_code_point(r, t, cp);
}

static bool escape(reader *r, text *t)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (r->p >= r->end)
        return fail(r, "unterminated string"), false;
    unsigned char c = *r->p++;
    if (c == 'u')
        return unicode_escape(r, t);
    const char *hit = c != '\0' ? strchr(from, c) : NULL;
    if (hit == NULL) {
        r->p--;
        fail(r, "bad escape");
        return false;
    }
    return text_put(r, t, &to[hit - from], 1);
}

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t utf8_length(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                                    : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || (size_t)(end - p) < n)
        return 0;
    lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : lo;
    hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : hi;
    if (n > 1 && (p[1] < lo || p[1] > hi))
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* After the opening quote; fills t, consumes the closing quote. */
static bool string_body(reader *r, text *t)
{
    if (!text_put(r, t, "", 0))
        return false;
    while (!r->failed) {
        if (r->p >= r->end)
            return fail(r, "unterminated string"), false;
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            return true;
        }
        if (c == '\\') {
            r->p++;
            escape(r, t);
            continue;
        }
        size_t n = c < 0x20 ? 0 : utf8_length(r->p, r->end);
        if (n == 0)
            return fail(r, c < 0x20 ? "control character in string" : "invalid UTF-8"), false;
        text_put(r, t, r->p, n);
        r->p += n;
    }
    return false;
}

static json_value *parse_string(reader *r)
{
    text t = { 0 };
    r->p++;
    if (!string_body(r, &t)) {
        free(t.s);
        return NULL;
    }
    json_value *v = new_value(r, JSON_STRING);
    if (v == NULL) {
        free(t.s);
        return NULL;
    }
    v->string = t.s;
    v->length = t.len;
    return v;
}

/* ---- numbers ------------------------------------------------------------- */

static size_t digits(reader *r)
{
    size_t n = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++, n++;
    return n;
}

static json_value *parse_number(reader *r)
{
    const unsigned char *start = r->p;
    bool negative = r->p < r->end && *r->p == '-';
    r->p += negative;
    if (r->p < r->end && *r->p == '0' && r->end - r->p > 1 && r->p[1] >= '0' && r->p[1] <= '9')
        return fail(r, "leading zero"), NULL;
    if (digits(r) == 0)
        return fail(r, "bad number"), NULL;
    bool whole = true;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        whole = false;
        if (digits(r) == 0)
            return fail(r, "bad fraction"), NULL;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        whole = false;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (digits(r) == 0)
            return fail(r, "bad exponent"), NULL;
    }
    char buf[64];
    size_t n = (size_t)(r->p - start);
    if (n >= sizeof buf)
        return fail(r, "number too long"), NULL;
    memcpy(buf, start, n);
    buf[n] = '\0';
    json_value *v = new_value(r, JSON_NUMBER);
    if (v == NULL)
        return NULL;
    v->number = strtod(buf, NULL);
    errno = 0;
    if (whole && !negative) {
        v->uint = strtoull(buf, NULL, 10);
        v->is_uint = errno != ERANGE;
    }
    return v;
}

/* ---- containers ---------------------------------------------------------- */

/* Arrays grow to 4, 8, 16... items: full when count is 0 or a power of
 * two from 4 on. Returns the array with room for one more, or NULL. */
static void *room_for_one(reader *r, void *array, size_t count, size_t size)
{
    bool full = count == 0 || (count >= 4 && (count & (count - 1)) == 0);
    if (!full)
        return array;
    void *bigger = realloc(array, (count == 0 ? 4 : count * 2) * size);
    if (bigger == NULL)
        fail(r, "out of memory");
    return bigger;
}

/* Parses `item` until `close`, comma-separated; true when closed well. */
static bool parse_list(reader *r, json_value *v, char close,
                       bool (*item)(reader *, json_value *))
{
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return true;
    }
    while (item(r, v)) {
        skip_space(r);
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return true;
        }
        if (r->p >= r->end || *r->p != ',')
            return fail(r, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'"), false;
        r->p++;
    }
    return false;
}

static bool array_item(reader *r, json_value *v)
{
    json_value **items = room_for_one(r, v->items, v->count, sizeof *v->items);
    if (items == NULL)
        return false;
    v->items = items;
    json_value *item = parse_value(r);
    if (item == NULL)
        return false;
    v->items[v->count++] = item;
    return true;
}

static bool object_member(reader *r, json_value *v)
{
    skip_space(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "expected a key"), false;
    json_value *key = parse_string(r);
    if (key == NULL)
        return false;
    skip_space(r);
    json_value *value = NULL;
    if (r->p < r->end && *r->p == ':') {
        r->p++;
        value = parse_value(r);
    } else {
        fail(r, "expected ':'");
    }
    json_member *members = value != NULL
                               ? room_for_one(r, v->members, v->count, sizeof *v->members)
                               : NULL;
    if (members == NULL) {
        json_value_free(key);
        json_value_free(value);
        return false;
    }
    v->members = members;
    v->members[v->count].key = key->string;
    v->members[v->count++].value = value;
    free(key);
    return true;
}

static json_value *parse_container(reader *r, json_type type)
{
    if (++r->depth > JSON_READ_MAX_DEPTH)
        return fail(r, "nested too deep"), NULL;
    json_value *v = new_value(r, type);
    bool ok = v != NULL && (type == JSON_ARRAY ? parse_list(r, v, ']', array_item)
                                               : parse_list(r, v, '}', object_member));
    r->depth--;
    if (!ok) {
        json_value_free(v);
        return NULL;
    }
    return v;
}

/* ---- values -------------------------------------------------------------- */

static json_value *parse_literal(reader *r)
{
    json_value *v = NULL;
    if (literal(r, "null"))
        v = new_value(r, JSON_NULL);
    else if (literal(r, "true") && (v = new_value(r, JSON_BOOL)) != NULL)
        v->boolean = true;
    else if (literal(r, "false"))
        v = new_value(r, JSON_BOOL);
    else
        fail(r, "unexpected character");
    return v;
}

static json_value *parse_value(reader *r)
{
    skip_space(r);
    if (r->p >= r->end)
        return fail(r, "unexpected end"), NULL;
    switch (*r->p) {
    case '{':
        return parse_container(r, JSON_OBJECT);
    case '[':
        return parse_container(r, JSON_ARRAY);
    case '"':
        return parse_string(r);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(r);
    default:
        return parse_literal(r);
    }
}

json_value *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    reader r = { .p = (const unsigned char *)text, .end = (const unsigned char *)text + len,
                 .start = (const unsigned char *)text, .err = err, .errlen = errlen };
    json_value *v = parse_value(&r);
    skip_space(&r);
    if (v != NULL && r.p != r.end) {
        fail(&r, "text after the value");
        json_value_free(v);
        return NULL;
    }
    return v;
}

void json_value_free(json_value *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v->type == JSON_ARRAY && i < v->count; i++)
        json_value_free(v->items[i]);
    for (size_t i = 0; v->type == JSON_OBJECT && i < v->count; i++) {
        free(v->members[i].key);
        json_value_free(v->members[i].value);
    }
    free(v->items);
    free(v->members);
    free(v->string);
    free(v);
}

/* ---- lookups ------------------------------------------------------------- */

const json_value *json_get(const json_value *v, const char *key)
{
    if (v == NULL || v->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->members[i].key, key) == 0)
            return v->members[i].value;
    return NULL;
}

uint64_t json_get_uint(const json_value *v, const char *key, uint64_t fallback)
{
    const json_value *m = json_get(v, key);
    return m != NULL && m->type == JSON_NUMBER && m->is_uint ? m->uint : fallback;
}

const char *json_get_string(const json_value *v, const char *key, const char *fallback)
{
    const json_value *m = json_get(v, key);
    return m != NULL && m->type == JSON_STRING ? m->string : fallback;
}

bool json_get_bool(const json_value *v, const char *key, bool fallback)
{
    const json_value *m = json_get(v, key);
    return m != NULL && m->type == JSON_BOOL ? m->boolean : fallback;
}
