/* Handles as text: 64 hex digits, so they fit a command line, an
 * environment variable or a line of a pipe. */
#include "mempool.h"

#include <string.h>

#define HANDLE_HEX_DIGITS (2 * sizeof(((mempool_handle *)0)->bytes))

int mempool_handle_format(const mempool_handle *h, char *buf, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (h == NULL || buf == NULL || len < MEMPOOL_HANDLE_STRLEN)
        return MEMPOOL_EINVAL;
    for (size_t i = 0; i < sizeof h->bytes; i++) {
        buf[2 * i] = digits[h->bytes[i] >> 4];
        buf[2 * i + 1] = digits[h->bytes[i] & 0xF];
    }
    buf[HANDLE_HEX_DIGITS] = '\0';
    return 0;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Exactly 64 digits: a handle cut short or with text after it is a
 * mistake to report, not to guess around. */
int mempool_handle_parse(const char *text, mempool_handle *out)
{
    if (text == NULL || out == NULL ||
        strnlen(text, HANDLE_HEX_DIGITS + 1) != HANDLE_HEX_DIGITS)
        return MEMPOOL_EINVAL;
    mempool_handle h;
    for (size_t i = 0; i < sizeof h.bytes; i++) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return MEMPOOL_EINVAL;
        h.bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = h;
    return 0;
}
