#include "policy_units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct unit {
    const char *name;
    uint64_t scale;
} unit;

/* Formatting tries these in order, so binary units come first: sizes in a
   page-based allocator are nearly always powers of two. */
static const unit size_units[] = {
    { "TiB", POLICY_TIB }, { "GiB", POLICY_GIB }, { "MiB", POLICY_MIB },
    { "KiB", POLICY_KIB }, { "TB", 1000000000000ull }, { "GB", 1000000000ull },
    { "MB", 1000000ull }, { "KB", 1000ull }, { "B", 1 },
};

static const unit duration_units[] = {
    { "h", 3600 * POLICY_NS_PER_S }, { "m", 60 * POLICY_NS_PER_S },
    { "s", POLICY_NS_PER_S }, { "ms", POLICY_NS_PER_MS },
};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads the leading decimal digits. Returns the number of digits read, or
   -ERANGE when they do not fit in 64 bits. */
static int scan_digits(const char *text, uint64_t *value)
{
    uint64_t v = 0;
    int n = 0;
    for (; is_digit(text[n]); n++) {
        uint64_t digit = (uint64_t)(text[n] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -ERANGE;
        v = v * 10 + digit;
    }
    *value = v;
    return n;
}

static int fail(const char **why, const char *text)
{
    *why = text;
    return -EINVAL;
}

static const unit *find_unit(const unit *units, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(units[i].name, name) == 0)
            return &units[i];
    return NULL;
}

/* How one scaled type is written: its units, what a bare number means
   (0: a unit is required) and what to tell a person who got it wrong. */
typedef struct scaled_syntax {
    const unit *units;
    size_t nunits;
    uint64_t bare_scale;
    const char *expected;
    const char *unknown_unit;
    const char *missing_unit;
} scaled_syntax;

static const scaled_syntax size_syntax = {
    size_units, COUNT_OF(size_units), 1, "expected a size such as 64MiB",
    "unknown unit: sizes take B, KiB, MiB, GiB, TiB, KB, MB, GB or TB", NULL,
};

static const scaled_syntax duration_syntax = {
    duration_units, COUNT_OF(duration_units), 0, "expected a duration such as 30s",
    "unknown unit: durations take ms, s, m or h",
    "missing unit: durations take ms, s, m or h",
};

/* Digits, an optional space, a unit from the syntax's table. */
static int scan_scaled(const char *text, const scaled_syntax *syntax, uint64_t *out,
                       const char **why)
{
    uint64_t number;
    if (text[0] == '-')
        return fail(why, "cannot be negative");
    int digits = scan_digits(text, &number);
    if (digits == -ERANGE)
        return fail(why, "too large for 64 bits");
    if (digits == 0)
        return fail(why, syntax->expected);
    const char *rest = text + digits;
    if (*rest == '.')
        return fail(why, "expected a whole number: use a smaller unit instead of a fraction");
    if (*rest == ' ')
        rest++;
    uint64_t scale = syntax->bare_scale;
    if (*rest != '\0') {
        const unit *u = find_unit(syntax->units, syntax->nunits, rest);
        if (u == NULL)
            return fail(why, syntax->unknown_unit);
        scale = u->scale;
    }
    if (scale == 0)
        return fail(why, syntax->missing_unit);
    if (number > UINT64_MAX / scale)
        return fail(why, "too large for 64 bits");
    *out = number * scale;
    return 0;
}

int policy_scan_size(const char *text, uint64_t *bytes, const char **why)
{
    return scan_scaled(text, &size_syntax, bytes, why);
}

int policy_scan_duration(const char *text, uint64_t *ns, const char **why)
{
    return scan_scaled(text, &duration_syntax, ns, why);
}

static void format_scaled(uint64_t value, const unit *units, size_t nunits,
                          char *buf, size_t len)
{
    for (size_t i = 0; i < nunits && value != 0; i++)
        if (value % units[i].scale == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", value / units[i].scale, units[i].name);
            return;
        }
    /* Zero, or (durations only) finer than the smallest unit: the last unit
       is the most precise there is. */
    snprintf(buf, len, "%" PRIu64 "%s", value / units[nunits - 1].scale,
             units[nunits - 1].name);
}

void policy_format_size(uint64_t bytes, char *buf, size_t len)
{
    format_scaled(bytes, size_units, COUNT_OF(size_units), buf, len);
}

void policy_format_duration(uint64_t ns, char *buf, size_t len)
{
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    format_scaled(ns, duration_units, COUNT_OF(duration_units), buf, len);
}

int policy_scan_share(const char *text, uint64_t *permille, const char **why)
{
    uint64_t whole, tenths = 0;
    if (text[0] == '-')
        return fail(why, "cannot be negative");
    int digits = scan_digits(text, &whole);
    if (digits <= 0 || whole > 100000)
        return fail(why, digits == 0 ? "expected a share such as 1%" : "too large");
    const char *rest = text + digits;
    if (*rest == '.') {
        if (!is_digit(rest[1]) || is_digit(rest[2]))
            return fail(why, "a share takes one decimal at most, as 0.5%");
        tenths = (uint64_t)(rest[1] - '0');
        rest += 2;
    }
    if (*rest == ' ')
        rest++;
    if (*rest == '\0')
        return fail(why, "missing %: a share is written as 1% or 0.5%");
    if (strcmp(rest, "%") != 0)
        return fail(why, "unknown unit: a share is written as 1% or 0.5%");
    *permille = whole * 10 + tenths;
    return 0;
}

void policy_format_share(uint64_t permille, char *buf, size_t len)
{
    if (permille % 10 == 0)
        snprintf(buf, len, "%" PRIu64 "%%", permille / 10);
    else
        snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%%", permille / 10, permille % 10);
}

int policy_scan_mode(const char *text, uint64_t *mode, const char **why)
{
    const char *digits = text;
    if (text[0] == '0' && text[1] == 'o')
        digits = text + 2;
    else if (text[0] == '0')
        digits = text + 1;
    else
        return fail(why, "a mode is octal with a leading 0, as 0660");
    uint64_t v = 0;
    size_t i = 0;
    for (; digits[i] >= '0' && digits[i] <= '7'; i++) {
        v = v * 8 + (uint64_t)(digits[i] - '0');
        if (v > 07777)
            return fail(why, "too large for a mode");
    }
    if (digits[i] != '\0' || (i == 0 && digits != text + 1))
        return fail(why, "not an octal number");
    *mode = v;
    return 0;
}

void policy_format_mode(uint64_t mode, char *buf, size_t len)
{
    snprintf(buf, len, "0%03" PRIo64, mode);
}

int policy_scan_count(const char *text, uint64_t *count, const char **why)
{
    if (text[0] == '-')
        return fail(why, "cannot be negative");
    int digits = scan_digits(text, count);
    if (digits == -ERANGE)
        return fail(why, "too large for 64 bits");
    if (digits == 0 || text[digits] != '\0')
        return fail(why, "expected a whole number");
    return 0;
}

void policy_format_count(uint64_t count, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64, count);
}

int policy_scan_bool(const char *text, bool *value, const char **why)
{
    static const char *const yes[] = { "true", "True", "TRUE" };
    static const char *const no[] = { "false", "False", "FALSE" };
    for (size_t i = 0; i < COUNT_OF(yes); i++) {
        if (strcmp(text, yes[i]) == 0) {
            *value = true;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *value = false;
            return 0;
        }
    }
    return fail(why, "expected true or false");
}
