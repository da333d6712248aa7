/* Producer: allocates a block, writes a message, shares it read-only and
 * prints the handle. Consumer: attaches by handle and prints the message.
 *
 *   ./share                 # prints a handle, waits for Enter
 *   ./share consume HANDLE  # in another shell: prints the message */
#include <mempool.h>
#include <stdio.h>
#include <string.h>

static int produce(mempool_client *c)
{
    mempool_block b;
    mempool_handle h;
    char text[MEMPOOL_HANDLE_STRLEN];
    int rc = mempool_alloc(c, "default", 1 << 20, 0, &b);
    if (rc == 0) {
        strcpy(b.addr, "hello from the producer");
        rc = mempool_share(c, &b, MEMPOOL_READ, &h);
    }
    if (rc == 0 && (rc = mempool_handle_format(&h, text, sizeof text)) == 0) {
        printf("%s\n", text);
        fflush(stdout);
        getchar(); /* hold the block until the consumer is done */
    }
    return rc;
}

static int consume(mempool_client *c, const char *text)
{
    mempool_handle h;
    mempool_block b;
    int rc = mempool_handle_parse(text, &h);
    if (rc == 0 && (rc = mempool_attach(c, &h, &b)) == 0) {
        printf("%s\n", (const char *)b.addr);
        rc = mempool_release(c, &b);
    }
    return rc;
}

int main(int argc, char **argv)
{
    mempool_client *c;
    int rc = mempool_connect(NULL, &c); /* $MEMPOOL_SOCKET, else the default */
    if (rc != 0) {
        const char *path = mempool_default_socket(); /* the path just tried */
        fprintf(stderr, "share: %s: %s\n", path != NULL ? path : "$MEMPOOL_SOCKET",
                mempool_strerror(rc));
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "consume") == 0)
        rc = consume(c, argv[2]);
    else
        rc = produce(c);
    mempool_disconnect(c);
    if (rc != 0)
        fprintf(stderr, "share: %s\n", mempool_strerror(rc));
    return rc == 0 ? 0 : 1;
}
