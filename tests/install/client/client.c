/* A program built against an installed libmempool, as a user builds one:
 * allocates a block, shares it read-only, attaches to it by the handle's
 * text on a second connection, and checks what arrived. Prints "ok" and
 * exits 0, or says what went wrong and exits 1.
 *   usage: client SOCKET */
#include <mempool.h>
#include <stdio.h>
#include <string.h>

#define MESSAGE "written through an installed libmempool"

static int check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "client: %s: %s (%s)\n", what, mempool_strerror(rc),
                mempool_err_name(rc));
    return rc;
}

/* Shares `b` read-only and attaches to it on `reader` through the text form
 * of the handle, as another process would. */
static int share_and_attach(mempool_client *writer, mempool_client *reader,
                            const mempool_block *b, mempool_block *seen)
{
    mempool_handle h, parsed;
    char text[MEMPOOL_HANDLE_STRLEN];
    int rc = check(mempool_share(writer, b, MEMPOOL_READ, &h), "share");
    if (rc == 0)
        rc = check(mempool_handle_format(&h, text, sizeof text), "handle_format");
    if (rc == 0)
        rc = check(mempool_handle_parse(text, &parsed), "handle_parse");
    if (rc == 0)
        rc = check(mempool_attach(reader, &parsed, seen), "attach");
    return rc;
}

static int exercise(mempool_client *writer, mempool_client *reader)
{
    mempool_block b, seen;
    mempool_info info;
    int rc = check(mempool_alloc(writer, "default", 64 * 1024, 0, &b), "alloc");
    if (rc != 0)
        return rc;
    strcpy(b.addr, MESSAGE);
    rc = share_and_attach(writer, reader, &b, &seen);
    if (rc == 0 && (seen.prot != MEMPOOL_READ || strcmp(seen.addr, MESSAGE) != 0)) {
        fprintf(stderr, "client: the attached block does not hold what was written\n");
        rc = MEMPOOL_EIO;
    }
    if (rc == 0)
        rc = check(mempool_release(reader, &seen), "release (reader)");
    /* Releases are one-way: a round trip on the reader puts its release
     * ahead of the writer's question. */
    if (rc == 0)
        rc = check(mempool_pool_info(reader, "default", &info), "pool_info (reader)");
    if (rc == 0)
        rc = check(mempool_release(writer, &b), "release (writer)");
    if (rc == 0)
        rc = check(mempool_pool_info(writer, "default", &info), "pool_info");
    if (rc == 0 && info.in_use != 0) {
        fprintf(stderr, "client: %llu bytes still in use\n", (unsigned long long)info.in_use);
        rc = MEMPOOL_EIO;
    }
    if (rc == 0 && mempool_alloc(writer, "nosuch", 4096, 0, &b) != MEMPOOL_ENOPOOL) {
        fprintf(stderr, "client: an unknown pool was not MEMPOOL_ENOPOOL\n");
        rc = MEMPOOL_EIO;
    }
    return rc;
}

int main(int argc, char **argv)
{
    mempool_client *writer = NULL, *reader = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: client SOCKET\n");
        return 2;
    }
    int rc = check(mempool_connect(argv[1], &writer), "connect");
    if (rc == 0)
        rc = check(mempool_connect(argv[1], &reader), "connect");
    if (rc == 0)
        rc = exercise(writer, reader);
    if (reader != NULL)
        mempool_disconnect(reader);
    if (writer != NULL)
        mempool_disconnect(writer);
    if (rc == 0)
        printf("ok\n");
    return rc == 0 ? 0 : 1;
}
