/* The admin socket (docs/design.md §8): a Unix stream socket at the policy's
 * admin.socket, one text command per line, one JSON object per reply line,
 * so `socat - UNIX-CONNECT:PATH` works and mempoolctl only formats.
 * docs/admin.md lists the commands and their replies.
 *
 * admin.c owns the socket and the connections; admin_cmds.c the command
 * table and the handlers, which run synchronously on the loop thread and
 * never see a socket (so unit tests call them directly). */
#ifndef MEMPOOL_ADMIN_H
#define MEMPOOL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "json.h"
#include "peer.h"

/* ---- the service module (admin.c) ---------------------------------------- */

typedef struct admin admin;

int admin_start(daemon_state *d);
void admin_stop(daemon_state *d);
void admin_release(daemon_state *d);

/* ---- commands (admin_cmds.c) --------------------------------------------- */

/* A command line's longest length, without its '\n'. */
#define ADMIN_MAX_LINE 4096
/* Words on a line, the command's name included. */
#define ADMIN_MAX_ARGS 8

/* One command being run. */
typedef struct admin_call {
    daemon_state *d;
    const peer_cred *peer;       /* who sent it (for the log) */
    void *session;               /* the connection, for replies that come later */
    int argc;                    /* the command's name is argv[0] */
    char *argv[ADMIN_MAX_ARGS];
    json_writer *out;            /* the reply object */
    bool shutdown_after_reply;   /* set by `shutdown` */
    pool *scavenge_pool;         /* set by `scavenge`: its pool, NULL for all */
} admin_call;

/* A handler writes the whole reply object: admin_reply_ok and its fields,
 * or admin_reply_error and any details. It returns 0 when it succeeded,
 * -1 when it said no, ADMIN_HANDLER_LATER when the reply comes later
 * (having written nothing). */
#define ADMIN_HANDLER_LATER 1
typedef int (*admin_handler)(admin_call *c);

typedef struct admin_cmd {
    const char *name;
    admin_handler handler;
    bool changes_state;      /* logged with the caller's uid; refused while stopping */
    int min_args, max_args;  /* words after the name */
    const char *args;        /* for help: "[POOL] [BYTES]" */
    const char *help;
} admin_cmd;

size_t admin_cmd_count(void);
const admin_cmd *admin_cmd_at(size_t i);
const admin_cmd *admin_find_cmd(const char *name);

/* Splits a line at spaces and tabs in place. Returns the number of words,
 * or -1 when there are more than `max`. */
int admin_split_words(char *line, char **words, int max);

typedef enum admin_outcome {
    ADMIN_NO_REPLY,    /* a blank line */
    ADMIN_DONE,        /* replied: the command succeeded */
    ADMIN_REFUSED,     /* replied: an error */
    ADMIN_BAD_INPUT,   /* replied: an error, and the connection should end */
    ADMIN_LATER        /* no reply yet: `scavenge` waits for the scavenger */
} admin_outcome;

/* Runs one command line of `len` bytes, without its '\n' (line[len], where
 * the '\n' was, is overwritten; the line is split in place), and leaves in
 * c->out one reply: a JSON object and its '\n'. */
admin_outcome admin_execute(admin_call *c, char *line, size_t len);

/* `scavenge` hands its work to scavenger_force with admin_scavenge_done
 * (admin.c) and the session; once the scavenger is done, this writes the
 * reply line: what was released, and the warm bytes left in `target`'s
 * pool (every pool when NULL). */
void admin_write_scavenge_reply(json_writer *out, const daemon_state *d, const pool *target,
                                uint64_t released);
void admin_scavenge_done(uint64_t released, void *session);

void admin_reply_ok(json_writer *out);
void admin_reply_error(json_writer *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
