"""Threads and processes: the GIL is released in every call; fork and spawn
children allocate on their own; a killed process gives its blocks back."""
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy
import pytest

import mempool
from conftest import wait_until


def test_gil_is_released_while_a_call_waits(daemon, client):
    """With the daemon stopped, a thread's alloc waits inside the library;
    Python code in the main thread must keep running meanwhile."""
    result = {}

    def alloc():
        try:
            result["block"] = client.alloc("default", 4096)
        except Exception as e:  # pragma: no cover - reported below
            result["error"] = e

    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        t = threading.Thread(target=alloc)
        t.start()
        ticks, deadline = 0, time.monotonic() + 0.5
        while time.monotonic() < deadline:
            ticks += 1  # pure Python: needs the GIL
        assert t.is_alive(), "the call returned although the daemon was stopped"
        assert ticks > 10000
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    t.join(30)
    assert "error" not in result, result.get("error")
    result["block"].release()


def test_threads_share_one_client(client):
    errors = []

    def churn():
        try:
            for _ in range(200):
                with client.alloc("default", 65536, dirty=True) as b:
                    memoryview(b)[0] = 1
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert client.pool_info("default").client_use == 0


def _child_allocates(socket, queue):
    """Runs in a fork or spawn child: its own connection, its own block."""
    with mempool.connect(socket) as c:
        b = c.alloc("default", 1 << 16)
        numpy.frombuffer(b, dtype=numpy.uint8)[:] = 7
        queue.put(str(b.share(readonly=True)))
        queue.get()  # hold the block until the parent has looked
        b.release()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_allocate_on_their_own(daemon, client, method):
    ctx = multiprocessing.get_context(method)
    to_child, from_child = ctx.Queue(), ctx.Queue()
    # The parent holds a block of its own across the fork.
    mine = client.alloc("default", 4096)
    memoryview(mine)[0] = 1
    p = ctx.Process(target=_child_allocates, args=(daemon.socket, from_child))
    p.start()
    text = from_child.get(timeout=60)
    with client.attach(text) as seen:
        assert (numpy.frombuffer(seen, dtype=numpy.uint8) == 7).all()
    to_child = from_child  # the child waits on the same queue
    to_child.put("done")
    p.join(60)
    assert p.exitcode == 0
    # The parent's own block and connection are untouched.
    assert memoryview(mine)[0] == 1
    mine.release()
    assert client.pool_info("default").client_use == 0


def _inherited_client_allocates(client, parent_block, queue):
    """A fork child using the client it inherited: the library gives it a
    connection of its own; the parent's block is still mapped here."""
    try:
        with client.alloc("default", 4096) as b:
            memoryview(b)[0] = 9
            queue.put(("ok", memoryview(parent_block)[0], client.pool_info("default").client_use))
    except Exception as e:
        queue.put(("error", repr(e), 0))


def test_fork_child_uses_the_inherited_client(client):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    mine = client.alloc("default", 8192)
    memoryview(mine)[0] = 5
    p = ctx.Process(target=_inherited_client_allocates, args=(client, mine, queue))
    p.start()
    status, seen, child_use = queue.get(timeout=60)
    p.join(60)
    assert (status, p.exitcode) == ("ok", 0), seen
    assert seen == 5          # the inherited block stays mapped in the child
    assert child_use == 4096  # the child's own connection holds only its block
    # The parent's connection and block are untouched by the child.
    assert client.pool_info("default").client_use == 8192
    assert memoryview(mine)[0] == 5
    mine.release()


def test_killed_process_returns_its_blocks(daemon, client):
    base_in_use = client.pool_info("default").in_use
    base_fds = daemon.fd_count()
    child = textwrap.dedent(f"""
        import mempool, sys
        c = mempool.connect({daemon.socket!r})
        blocks = [c.alloc("default", 1 << 20) for _ in range(8)]
        for b in blocks:
            memoryview(b)[0] = 1
        print("ready", flush=True)
        sys.stdin.read()
    """)
    p = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert client.pool_info("default").in_use == base_in_use + (8 << 20)
    p.kill()
    p.wait(30)
    assert wait_until(lambda: client.pool_info("default").in_use == base_in_use)
    # Warm blocks keep a descriptor each until the scavenger gives them
    # back; what must not stay is the dead client's connection.
    assert wait_until(lambda: daemon.fd_count() <= base_fds + 8)
