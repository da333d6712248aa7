/* mempoolctl's connection to the admin socket: a text line out, one JSON
 * line back. Failures come with a sentence that names the path and says
 * what to do, for the caller to print on stderr or on the watch screen. */
#ifndef MEMPOOL_CTL_CONN_H
#define MEMPOOL_CTL_CONN_H

#include <signal.h>
#include <stddef.h>

#define CTL_MESSAGE_MAX 512

typedef struct ctl_conn {
    const char *path;
    volatile sig_atomic_t *interrupted; /* a blocking call gives up once set */
    int fd;
    char *buf;          /* what was read and not yet returned */
    size_t used, cap;
    size_t consumed;    /* the line returned last, with its '\n' */
    char message[CTL_MESSAGE_MAX];
} ctl_conn;

void ctl_conn_init(ctl_conn *c, const char *path, volatile sig_atomic_t *interrupted);
/* 0, or a negative errno with c->message set. -EPROTOTYPE: the path is
 * mempoold's client socket, not its admin socket. */
int ctl_conn_open(ctl_conn *c);
/* Sends `line` (one command and its '\n') and returns the reply line,
 * NUL-terminated, valid until the next call; NULL with *err (negative
 * errno, -EPROTOTYPE as above) and c->message set. */
char *ctl_conn_exchange(ctl_conn *c, const char *line, int *err);
/* Closes the socket; the connection can be opened again. */
void ctl_conn_close(ctl_conn *c);
void ctl_conn_free(ctl_conn *c);

#endif
