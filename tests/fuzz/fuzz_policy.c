/* libFuzzer: any bytes go through the whole policy loader (UTF-8 check,
 * libyaml, the tree, every key's parser and check) and must come out as a
 * policy or as errors, never as a crash, a leak or undefined behavior. A
 * policy that loads must also survive a dump and load to an equal one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

static void check_round_trip(const policy *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return;
    int rc = policy_write_yaml(p, f);
    fclose(f);
    policy *again = NULL;
    policy_error err;
    if (rc == 0 && (policy_load_buffer("dump", text, len, &again, &err) != 0 ||
                    !policy_equal(p, again))) {
        fprintf(stderr, "a dump does not load back to the same policy:\n%s\n%s\n", text,
                err.text);
        abort();
    }
    policy_free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    policy *p = NULL;
    policy_error err;
    if (policy_load_buffer("fuzz", (const char *)data, size, &p, &err) == 0) {
        check_round_trip(p);
        policy_free(p);
    }
    return 0;
}
