#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init(json_writer *w) { memset(w, 0, sizeof *w); }

void json_free(json_writer *w)
{
    free(w->text);
    json_init(w);
}

void json_reset(json_writer *w)
{
    w->len = 0;
    w->failed = w->need_comma = w->after_key = false;
    w->depth = 0;
    if (w->text != NULL)
        w->text[0] = '\0';
}

static bool reserve(json_writer *w, size_t more)
{
    if (w->failed)
        return false;
    if (more > JSON_MAX_TEXT - w->len) {
        w->failed = true;
        return false;
    }
    size_t need = w->len + more + 1;
    if (need <= w->cap)
        return true;
    size_t cap = w->cap < 256 ? 256 : w->cap;
    while (cap < need)
        cap *= 2;
    char *text = realloc(w->text, cap);
    if (text == NULL) {
        w->failed = true;
        return false;
    }
    w->text = text;
    w->cap = cap;
    return true;
}

void json_raw(json_writer *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->text + w->len, s, n);
    w->len += n;
    w->text[w->len] = '\0';
}

static void put(json_writer *w, const char *s) { json_raw(w, s, strlen(s)); }

/* Every value and key passes here first: the comma that separates it
 * from the one before in the same container. */
static void before_value(json_writer *w)
{
    if (w->need_comma && !w->after_key)
        put(w, ",");
    w->after_key = false;
}

static void open_container(json_writer *w, const char *bracket)
{
    before_value(w);
    if (w->depth >= JSON_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->depth++;
    put(w, bracket);
    w->need_comma = false;
}

static void close_container(json_writer *w, const char *bracket)
{
    if (w->depth == 0) {
        w->failed = true;
        return;
    }
    w->depth--;
    put(w, bracket);
    w->need_comma = true;
}

void json_object_begin(json_writer *w) { open_container(w, "{"); }
void json_object_end(json_writer *w) { close_container(w, "}"); }
void json_array_begin(json_writer *w) { open_container(w, "["); }
void json_array_end(json_writer *w) { close_container(w, "]"); }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                                      : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the allowed range of the 2nd byte */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (len > 1 && (s[1] < lo || s[1] > hi))
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

static void put_escaped(json_writer *w, unsigned char c)
{
    static const char short_escapes[] = "\"\"\\\\\bb\ff\nn\rr\tt";
    for (size_t i = 0; short_escapes[i] != '\0'; i += 2) {
        if ((unsigned char)short_escapes[i] == c) {
            char esc[2] = { '\\', short_escapes[i + 1] };
            json_raw(w, esc, 2);
            return;
        }
    }
    char esc[8];
    snprintf(esc, sizeof esc, "\\u%04x", c);
    put(w, esc);
}

void json_string_n(json_writer *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    before_value(w);
    put(w, "\"");
    for (size_t i = 0; i < n && !w->failed;) {
        size_t len = utf8_sequence(p + i, n - i);
        if (len == 0) {
            put(w, "\\ufffd");
            i++;
        } else if (len == 1 && (p[i] < 0x20 || p[i] == '"' || p[i] == '\\' || p[i] == 0x7f)) {
            put_escaped(w, p[i++]);
        } else {
            json_raw(w, s + i, len);
            i += len;
        }
    }
    put(w, "\"");
    w->need_comma = true;
}

void json_string(json_writer *w, const char *s) { json_string_n(w, s, strlen(s)); }

void json_key(json_writer *w, const char *key)
{
    json_string(w, key);
    put(w, ":");
    w->after_key = true;
}

static void scalar(json_writer *w, const char *text)
{
    before_value(w);
    put(w, text);
    w->need_comma = true;
}

void json_uint(json_writer *w, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, v);
    scalar(w, text);
}

void json_int(json_writer *w, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    scalar(w, text);
}

void json_bool(json_writer *w, bool v) { scalar(w, v ? "true" : "false"); }
void json_null(json_writer *w) { scalar(w, "null"); }

void json_kv_string(json_writer *w, const char *key, const char *s)
{
    json_key(w, key);
    json_string(w, s);
}

void json_kv_uint(json_writer *w, const char *key, uint64_t v)
{
    json_key(w, key);
    json_uint(w, v);
}

void json_kv_int(json_writer *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}

void json_kv_bool(json_writer *w, const char *key, bool v)
{
    json_key(w, key);
    json_bool(w, v);
}
