/* A checker of the Prometheus text exposition format (0.0.4), shared by the
 * admin unit and integration suites: every line is a HELP, a TYPE or a
 * sample of the family whose TYPE came last; each family is declared once.
 * Returns NULL when the text is valid, else the first bad line (static). */
#ifndef MEMPOOL_TEST_PROM_SYNTAX_H
#define MEMPOOL_TEST_PROM_SYNTAX_H

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PROM_NAME "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define PROM_LABEL "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define PROM_VALUE "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)"

static const char *prom_bad_line(const char *text)
{
    static char bad[512];
    static const char *const patterns[3] = {
        "^# HELP (" PROM_NAME ") .*$",
        "^# TYPE (" PROM_NAME ") (counter|gauge|histogram|summary|untyped)$",
        "^(" PROM_NAME ")(\\{" PROM_LABEL "(," PROM_LABEL ")*\\})? " PROM_VALUE "$",
    };
    regex_t re[3];
    for (int i = 0; i < 3; i++)
        if (regcomp(&re[i], patterns[i], REG_EXTENDED) != 0)
            return "a pattern does not compile";
    char family[256] = "", declared[16384] = " ";
    const char *result = NULL;
    for (const char *line = text; *line != '\0' && result == NULL;) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        snprintf(bad, sizeof bad, "%.*s", (int)n, line);
        regmatch_t m[2];
        int kind = -1;
        for (int i = 0; i < 3 && kind < 0; i++)
            if (regexec(&re[i], bad, 2, m, 0) == 0)
                kind = i;
        char name[256];
        snprintf(name, sizeof name, "%.*s", kind >= 0 ? (int)(m[1].rm_eo - m[1].rm_so) : 0,
                 bad + (kind >= 0 ? m[1].rm_so : 0));
        char key[260];
        snprintf(key, sizeof key, " %s ", name);
        if (kind < 0 || end == NULL)
            result = bad; /* no match, or the last line lacks its '\n' */
        else if (kind == 1 && strstr(declared, key) != NULL)
            result = bad; /* a family declared twice */
        else if (kind == 1) {
            snprintf(family, sizeof family, "%s", name);
            strncat(declared, key + 1, sizeof declared - strlen(declared) - 1);
        } else if (kind == 2 && strcmp(name, family) != 0)
            result = bad; /* a sample outside its family */
        line += n + (end != NULL);
    }
    for (int i = 0; i < 3; i++)
        regfree(&re[i]);
    return result;
}

#endif
