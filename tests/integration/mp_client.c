/* mp_client: a client of mempoold driven from the command line, for the
 * integration tests. It runs its steps in order on one connection and
 * prints one line per result on stdout.
 *
 *   mp_client [-s SOCKET] STEP...
 *
 *   alloc POOL SIZE [FLAGS]  FLAGS: dirty,populate   -> block N ID SIZE PROT
 *   attach HANDLE|-          (- reads a line of stdin) -> block N ID SIZE PROT
 *   share N ro|rw                                    -> handle HEX
 *   write N OFFSET TEXT      copies TEXT (no NUL) into block N
 *   read N OFFSET LEN                                -> read TEXT
 *   expect N OFFSET TEXT     exit 1 unless block N holds TEXT there
 *   release N                                        -> released N
 *   info POOL                                        -> info page_size=... (all fields)
 *   sleep MS
 *   wait                     blocks until a line (or EOF) arrives on stdin
 *
 * Blocks are numbered from 0 in the order alloc/attach obtained them. A
 * step prefixed with `try` prints "error MEMPOOL_E..." (or "ok") and goes
 * on; any other failing step prints "error STEP MEMPOOL_E..." on stderr and
 * exits 2. Exit 1: an expect mismatch; 64: bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mempool.h"

#define MAX_BLOCKS 1024

typedef struct state {
    mempool_client *client;
    mempool_block blocks[MAX_BLOCKS];
    int nblocks;
} state;

typedef int (*step_fn)(state *s, char **argv);

typedef struct step {
    const char *name;
    int min_args;
    int max_args;
    step_fn run;
} step;

static void usage(const char *why)
{
    fprintf(stderr, "mp_client: %s\nusage: mp_client [-s SOCKET] STEP...\n", why);
    exit(64);
}

static unsigned long long number(const char *text)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 0);
    if (*text == '\0' || *end != '\0')
        usage("not a number");
    return v;
}

static mempool_block *block_arg(state *s, const char *text)
{
    unsigned long long n = number(text);
    if (n >= (unsigned long long)s->nblocks || s->blocks[n].addr == NULL)
        usage("no such block number");
    return &s->blocks[n];
}

/* Checks that [offset, offset+len) lies inside the block. */
static char *range_arg(const mempool_block *b, const char *offset, size_t len)
{
    unsigned long long off = number(offset);
    if (off > b->size || len > b->size - off)
        usage("range outside the block");
    return (char *)b->addr + off;
}

static int add_block(state *s, const mempool_block *b)
{
    if (s->nblocks == MAX_BLOCKS)
        usage("too many blocks");
    s->blocks[s->nblocks] = *b;
    printf("block %d %llu %zu %s\n", s->nblocks, (unsigned long long)b->id,
           b->size, (b->prot & MEMPOOL_WRITE) ? "rw" : "ro");
    s->nblocks++;
    return 0;
}

static int step_alloc(state *s, char **argv)
{
    unsigned flags = 0;
    if (argv[2] != NULL) {
        flags |= strstr(argv[2], "dirty") ? MEMPOOL_ALLOC_DIRTY : 0;
        flags |= strstr(argv[2], "populate") ? MEMPOOL_ALLOC_POPULATE : 0;
    }
    mempool_block b;
    int err = mempool_alloc(s->client, argv[0], (size_t)number(argv[1]), flags, &b);
    return err != 0 ? err : add_block(s, &b);
}

static int step_attach(state *s, char **argv)
{
    char line[256];
    const char *text = argv[0];
    if (strcmp(text, "-") == 0) {
        if (fgets(line, sizeof line, stdin) == NULL)
            usage("no handle on stdin");
        line[strcspn(line, "\r\n")] = '\0';
        text = line;
    }
    mempool_handle h;
    mempool_block b;
    int err = mempool_handle_parse(text, &h);
    if (err == 0)
        err = mempool_attach(s->client, &h, &b);
    return err != 0 ? err : add_block(s, &b);
}

static int step_share(state *s, char **argv)
{
    unsigned prot = strcmp(argv[1], "rw") == 0 ? MEMPOOL_READ | MEMPOOL_WRITE
                    : strcmp(argv[1], "ro") == 0 ? MEMPOOL_READ
                                                 : 0;
    if (prot == 0)
        usage("share takes ro or rw");
    mempool_handle h;
    char text[MEMPOOL_HANDLE_STRLEN];
    int err = mempool_share(s->client, block_arg(s, argv[0]), prot, &h);
    if (err == 0)
        err = mempool_handle_format(&h, text, sizeof text);
    if (err == 0)
        printf("handle %s\n", text);
    return err;
}

static int step_write(state *s, char **argv)
{
    mempool_block *b = block_arg(s, argv[0]);
    size_t len = strlen(argv[2]);
    memcpy(range_arg(b, argv[1], len), argv[2], len);
    return 0;
}

static int step_read(state *s, char **argv)
{
    mempool_block *b = block_arg(s, argv[0]);
    size_t len = (size_t)number(argv[2]);
    printf("read %.*s\n", (int)len, range_arg(b, argv[1], len));
    return 0;
}

static int step_expect(state *s, char **argv)
{
    mempool_block *b = block_arg(s, argv[0]);
    size_t len = strlen(argv[2]);
    if (memcmp(range_arg(b, argv[1], len), argv[2], len) != 0) {
        fprintf(stderr, "mp_client: expect %s %s %s: mismatch\n", argv[0],
                argv[1], argv[2]);
        exit(1);
    }
    return 0;
}

static int step_release(state *s, char **argv)
{
    int err = mempool_release(s->client, block_arg(s, argv[0]));
    if (err == 0)
        printf("released %s\n", argv[0]);
    return err;
}

static int step_info(state *s, char **argv)
{
    mempool_info i;
    int err = mempool_pool_info(s->client, argv[0], &i);
    if (err != 0)
        return err;
    printf("info page_size=%llu limit=%llu in_use=%llu warm=%llu quota=%llu "
           "client_use=%llu released=%llu scavenger_runs=%llu "
           "scavenger_cpu_ns=%llu last_scavenge_ms=%llu\n",
           (unsigned long long)i.page_size, (unsigned long long)i.limit,
           (unsigned long long)i.in_use, (unsigned long long)i.warm,
           (unsigned long long)i.quota, (unsigned long long)i.client_use,
           (unsigned long long)i.released, (unsigned long long)i.scavenger_runs,
           (unsigned long long)i.scavenger_cpu_ns,
           (unsigned long long)i.last_scavenge_ms);
    return 0;
}

static int step_sleep(state *s, char **argv)
{
    (void)s;
    unsigned long long ms = number(argv[0]);
    struct timespec t = { .tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
    return 0;
}

static int step_wait(state *s, char **argv)
{
    (void)s;
    (void)argv;
    char line[256];
    if (fgets(line, sizeof line, stdin) == NULL)
        clearerr(stdin);
    return 0;
}

static const step steps[] = {
    { "alloc", 2, 3, step_alloc },     { "attach", 1, 1, step_attach },
    { "share", 2, 2, step_share },     { "write", 3, 3, step_write },
    { "read", 3, 3, step_read },       { "expect", 3, 3, step_expect },
    { "release", 1, 1, step_release }, { "info", 1, 1, step_info },
    { "sleep", 1, 1, step_sleep },     { "wait", 0, 0, step_wait },
};

static const step *find_step(const char *name)
{
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (strcmp(steps[i].name, name) == 0)
            return &steps[i];
    usage("unknown step");
    return NULL;
}

/* A step's arguments run up to the next step name, so that optional
 * arguments need no terminator. */
static int count_args(int argc, char **argv, int first)
{
    int n = 0;
    while (first + n < argc && strcmp(argv[first + n], "try") != 0) {
        int is_step = 0;
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            is_step |= strcmp(steps[i].name, argv[first + n]) == 0;
        if (is_step)
            break;
        n++;
    }
    return n;
}

static int run_step(state *s, int argc, char **argv, int i)
{
    int tried = strcmp(argv[i], "try") == 0;
    if (tried && ++i >= argc)
        usage("try needs a step");
    const step *st = find_step(argv[i]);
    int nargs = count_args(argc, argv, i + 1);
    if (nargs < st->min_args || nargs > st->max_args)
        usage("wrong number of arguments");
    char *args[4] = { NULL, NULL, NULL, NULL };
    for (int k = 0; k < nargs; k++)
        args[k] = argv[i + 1 + k];
    int err = st->run(s, args);
    if (tried)
        printf(err == 0 ? "ok\n" : "error %s\n", mempool_err_name(err));
    else if (err != 0) {
        fprintf(stderr, "error %s %s\n", st->name, mempool_err_name(err));
        exit(2);
    }
    fflush(stdout);
    return i + 1 + nargs;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
        socket_path = argv[2];
        i = 3;
    }
    state s = { 0 };
    int err = mempool_connect(socket_path, &s.client);
    if (err != 0) {
        fprintf(stderr, "error connect %s\n", mempool_err_name(err));
        return 2;
    }
    while (i < argc)
        i = run_step(&s, argc, argv, i);
    mempool_disconnect(s.client);
    return 0;
}
