/* A small JSON writer for the admin socket's replies: one growing buffer,
 * commas placed by the writer, strings escaped so that any bytes (a
 * client's name, a command someone typed) come out as valid JSON and
 * valid UTF-8. Out of memory or past JSON_MAX_TEXT, the writer stops
 * growing and remembers it failed: callers check once, at the end. */
#ifndef MEMPOOL_JSON_H
#define MEMPOOL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest text one writer builds (a `clients` reply of many thousand
 * connections still fits). */
#define JSON_MAX_TEXT (64u * 1024 * 1024)
#define JSON_MAX_DEPTH 32

typedef struct json_writer {
    char *text;
    size_t len, cap;
    bool failed;        /* out of memory, too large or too deep */
    bool need_comma;    /* a value came before in this container */
    bool after_key;     /* a key was written; its value comes next */
    unsigned depth;
} json_writer;

void json_init(json_writer *w);
void json_free(json_writer *w);
/* Forgets the text written so far, keeps the buffer. */
void json_reset(json_writer *w);

void json_object_begin(json_writer *w);
void json_object_end(json_writer *w);
void json_array_begin(json_writer *w);
void json_array_end(json_writer *w);
void json_key(json_writer *w, const char *key);

/* Invalid UTF-8 becomes U+FFFD; control characters are escaped. */
void json_string(json_writer *w, const char *s);
void json_string_n(json_writer *w, const char *s, size_t n);
void json_uint(json_writer *w, uint64_t v);
void json_int(json_writer *w, int64_t v);
void json_bool(json_writer *w, bool v);
void json_null(json_writer *w);

/* A key and its value. */
void json_kv_string(json_writer *w, const char *key, const char *s);
void json_kv_uint(json_writer *w, const char *key, uint64_t v);
void json_kv_int(json_writer *w, const char *key, int64_t v);
void json_kv_bool(json_writer *w, const char *key, bool v);

/* Raw bytes after the document (the reply's '\n'). */
void json_raw(json_writer *w, const char *s, size_t n);

#endif
