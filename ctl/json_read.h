/* A small, strict JSON reader (RFC 8259) for mempoolctl: the daemon's reply
 * lines become a tree of values, so the program can print tables without a
 * JSON library. Whole numbers >= 0 are kept exact as uint64_t next to their
 * double. Strings are UTF-8, NUL-terminated, with their length (a "\u0000"
 * inside is kept). */
#ifndef MEMPOOL_JSON_READ_H
#define MEMPOOL_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_READ_MAX_DEPTH 64

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;

typedef struct json_member {
    char *key;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    bool boolean;
    double number;
    bool is_uint;          /* a whole number >= 0 that fits uint64_t */
    uint64_t uint;
    char *string;          /* JSON_STRING */
    size_t length;
    json_value **items;    /* JSON_ARRAY */
    json_member *members;  /* JSON_OBJECT, in the order written */
    size_t count;          /* items or members */
};

/* Parses exactly one value (whitespace around it allowed). NULL on error,
 * with `err` saying what and at which byte. */
json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_value_free(json_value *v);

/* A member of an object (the first with that key), or NULL: also when `v`
 * is NULL or not an object, so lookups chain. */
const json_value *json_get(const json_value *v, const char *key);
/* The member's value, or `fallback` when it is missing or of another type. */
uint64_t json_get_uint(const json_value *v, const char *key, uint64_t fallback);
const char *json_get_string(const json_value *v, const char *key, const char *fallback);
bool json_get_bool(const json_value *v, const char *key, bool fallback);

#endif
