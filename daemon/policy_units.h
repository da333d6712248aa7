/* The units a policy is written in: sizes, durations, shares, modes, counts
 * and booleans. Each scanner turns the text of one YAML scalar into a number
 * in the type's base unit (bytes, nanoseconds, 1/1000 of a core, mode bits)
 * or returns -EINVAL with *why saying what is wrong; each formatter writes
 * the shortest exact text the scanner reads back to the same number. */
#ifndef MEMPOOL_POLICY_UNITS_H
#define MEMPOOL_POLICY_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_NS_PER_MS 1000000ull
#define POLICY_NS_PER_S 1000000000ull
#define POLICY_KIB 1024ull
#define POLICY_MIB (1024ull * 1024)
#define POLICY_GIB (1024ull * 1024 * 1024)
#define POLICY_TIB (1024ull * 1024 * 1024 * 1024)

/* A whole number with an optional unit: B, KiB, MiB, GiB, TiB (powers of
   two) or KB, MB, GB, TB (powers of ten); a bare number is bytes. */
int policy_scan_size(const char *text, uint64_t *bytes, const char **why);
void policy_format_size(uint64_t bytes, char *buf, size_t len);

/* A whole number with a unit: ms, s, m or h. */
int policy_scan_duration(const char *text, uint64_t *ns, const char **why);
void policy_format_duration(uint64_t ns, char *buf, size_t len);

/* A percentage with at most one decimal: 1%, 0.5%, 100%. */
int policy_scan_share(const char *text, uint64_t *permille, const char **why);
void policy_format_share(uint64_t permille, char *buf, size_t len);

/* Octal with a leading 0 (0660) or 0o (0o660). */
int policy_scan_mode(const char *text, uint64_t *mode, const char **why);
void policy_format_mode(uint64_t mode, char *buf, size_t len);

/* A plain decimal whole number. */
int policy_scan_count(const char *text, uint64_t *count, const char **why);
void policy_format_count(uint64_t count, char *buf, size_t len);

/* true or false (also True, TRUE, False, FALSE: YAML 1.2's core schema). */
int policy_scan_bool(const char *text, bool *value, const char **why);

#endif
