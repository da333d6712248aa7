"""The Python binding's calls beside the same calls from C, in one run
against one daemon: 64 KiB alloc(dirty) + release with the library's block
cache on (pool default) and off (pool nocache: a message each), and
attach + release of a shared 64 KiB block. Printed, never asserted.

    build/pyvenv/bin/python tests/bench/bench_python.py BUILD_DIR [ITERATIONS]

Daemon and clients run pinned to one CPU first (this VM's cross-CPU wake-up
costs more than a whole round trip on one CPU), then with the daemon on
another CPU."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mempool

POLICY = """\
listen: {{socket: {dir}/mempoold.sock, mode: 0600}}
admin: {{socket: {dir}/admin.sock, mode: 0600}}
log: {{level: warn}}
pools:
  - name: default
    reserve: 4GiB
    limit: 1GiB
  - name: nocache
    reserve: 4GiB
    limit: 1GiB
    library:
      client_cache: 0B
"""


def start_daemon(build, workdir):
    policy = os.path.join(workdir, "policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY.format(dir=workdir))
    proc = subprocess.Popen([os.path.join(build, "mempoold"), "-c", policy])
    socket = os.path.join(workdir, "mempoold.sock")
    for _ in range(1000):
        try:
            mempool.connect(socket).close()
            return proc, socket
        except mempool.ConnectError:
            time.sleep(0.01)
    proc.kill()
    sys.exit("bench_python: mempoold did not answer")


def percentiles(ns):
    ns.sort()
    return ns[len(ns) // 2], ns[len(ns) * 99 // 100]


def python_figures(socket, n):
    clock = time.perf_counter_ns
    with mempool.connect(socket) as owner, mempool.connect(socket) as c:
        shared = owner.alloc("default", 64 << 10)
        handle = shared.share(readonly=False)
        figures = {}
        for op, pool in (("alloc_release_cached", "default"), ("alloc_release", "nocache")):
            ns = []
            for _ in range(n):
                t0 = clock()
                c.alloc(pool, 64 << 10, dirty=True).release()
                ns.append(clock() - t0)
            figures[op] = percentiles(ns)
        ns = []
        for _ in range(n):
            t0 = clock()
            c.attach(handle).release()
            ns.append(clock() - t0)
        shared.release()
        figures["attach_release"] = percentiles(ns)
        return figures


def c_figures(build, socket, n):
    out = subprocess.run([os.path.join(build, "bench_calls"), socket, str(n)],
                         check=True, capture_output=True, text=True).stdout
    return {name: (int(med), int(p99)) for name, med, p99 in
            (line.split() for line in out.splitlines())}


def run(build, n, daemon_cpu, client_cpu, label):
    workdir = tempfile.mkdtemp(prefix="bench-python-")
    os.sched_setaffinity(0, {client_cpu})
    proc, socket = start_daemon(build, workdir)
    try:
        os.sched_setaffinity(proc.pid, {daemon_cpu})
        c, py = c_figures(build, socket, n), python_figures(socket, n)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{label}: {n} iterations, median / p99 in µs")
    print(f"{'operation (64 KiB)':<28}{'C':>18}{'Python':>18}{'Python / C':>12}")
    labels = {"alloc_release_cached": "alloc + release, cache hit",
              "alloc_release": "alloc + release, no cache",
              "attach_release": "attach + release"}
    for op, label in labels.items():
        (cm, cp), (pm, pp) = c[op], py[op]
        print(f"{label:<28}{cm / 1e3:>9.2f} /{cp / 1e3:>7.2f}"
              f"{pm / 1e3:>10.2f} /{pp / 1e3:>7.2f}{pm / cm:>12.2f}")


def main():
    build = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    cpus = sorted(os.sched_getaffinity(0))
    run(build, n, cpus[0], cpus[0], f"one CPU (daemon and client on CPU {cpus[0]})")
    if len(cpus) > 1:
        run(build, n, cpus[1], cpus[0],
            f"two CPUs (daemon on CPU {cpus[1]}, client on CPU {cpus[0]})")
    else:
        print("\ntwo CPUs: skipped, this machine lets us use one")


if __name__ == "__main__":
    main()
