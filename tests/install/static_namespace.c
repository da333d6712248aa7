/* A program with functions of its own named like libmempool's internals
 * (session_open, proto_encode_header, handoff_send), linked statically
 * against libmempool.a: it links only because the library's objects are
 * compiled under other names (client/libmempool_names.h), and it runs
 * showing that each side calls its own. */
#include <stdio.h>
#include <string.h>

#include "mempool.h"

static int calls;

const char *session_open(const char *who);
const char *session_open(const char *who)
{
    calls++;
    return who;
}

int proto_encode_header(void);
int proto_encode_header(void) { return 42; }

int handoff_send(int x);
int handoff_send(int x) { return x + 1; }

int main(void)
{
    mempool_client *c = NULL;
    /* libmempool's own session_open runs here and finds nothing. */
    int err = mempool_connect("/nonexistent/mempool-static-namespace.sock", &c);
    if (err == 0 || c != NULL) {
        fprintf(stderr, "static_namespace: connected to a socket that does not exist\n");
        return 1;
    }
    if (calls != 0 || strcmp(session_open("mine"), "mine") != 0 || calls != 1 ||
        proto_encode_header() != 42 || handoff_send(1) != 2) {
        fprintf(stderr, "static_namespace: a call went to the wrong function\n");
        return 1;
    }
    printf("static_namespace: mempool_connect said %s; the program's own functions answered\n",
           mempool_err_name(err));
    return 0;
}
