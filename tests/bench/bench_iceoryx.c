/* RouDi (iceoryx's daemon) is started here and stopped at the end; the
 * publisher runs in a child process, because an iceoryx runtime lives as
 * long as its process and ends it when RouDi cannot be reached. The child
 * writes its samples into a shared anonymous mapping. */
#include "bench_iceoryx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iceoryx_binding_c/enums.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"

#include "bench_util.h"

/* iceoryx 2.0's RouDi listens on this Unix socket (IOX_UDS_SOCKET_PATH_PREFIX
 * "/tmp/" and the name "roudi"). */
#define ROUDI_SOCKET "/tmp/roudi"

static void quiet(void)
{
    if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
        _exit(126);
}

/* RouDi's banner and log go nowhere: the table is the output. */
static pid_t start_roudi(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        quiet();
        execl(IOX_ROUDI_PATH, "iox-roudi", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_roudi(pid_t pid)
{
    struct stat st;
    for (int i = 0; i < 500; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        if (stat(ROUDI_SOCKET, &st) == 0)
            return 0;
        usleep(10000);
    }
    return -1;
}

static void stop_roudi(pid_t pid)
{
    kill(pid, SIGINT);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The runtime's log goes nowhere, as RouDi's: a failure shows as the
 * child's status. */
static void publisher(size_t size, int n, int cpu, uint64_t *ns)
{
    quiet();
    bench_pin(0, cpu);
    alarm(60);
    iox_runtime_init("mempoold-bench");
    iox_pub_options_t options;
    iox_pub_options_init(&options);
    iox_pub_storage_t storage;
    iox_pub_t pub = iox_pub_init(&storage, "mempoold", "bench", "loan", &options);
    for (int i = 0; i < n + 100; i++) {
        void *chunk;
        uint64_t t0 = bench_now_ns();
        if (iox_pub_loan_chunk(pub, &chunk, (uint32_t)size) != AllocationResult_SUCCESS)
            _exit(2);
        ((volatile char *)chunk)[0] = 1;
        iox_pub_release_chunk(pub, chunk);
        if (i >= 100) /* the first loans warm up */
            ns[i - 100] = bench_now_ns() - t0;
    }
    iox_pub_deinit(pub);
    iox_runtime_shutdown();
    _exit(0);
}

int bench_iceoryx_loan_release(size_t size, int n, int cpu, uint64_t *ns, char *why,
                               size_t whylen)
{
    pid_t roudi = start_roudi();
    if (wait_roudi(roudi) != 0) {
        snprintf(why, whylen, "skipped: %s did not start", IOX_ROUDI_PATH);
        stop_roudi(roudi);
        return -1;
    }
    uint64_t *shared = mmap(NULL, (size_t)n * sizeof *ns, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        bench_die("mmap", 0);
    pid_t child = fork();
    if (child == 0)
        publisher(size, n, cpu, shared);
    int status = 0;
    waitpid(child, &status, 0);
    stop_roudi(roudi);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok)
        memcpy(ns, shared, (size_t)n * sizeof *ns);
    else
        snprintf(why, whylen, "skipped: the iceoryx publisher failed (status %d)", status);
    munmap(shared, (size_t)n * sizeof *ns);
    return ok ? 0 : -1;
}
