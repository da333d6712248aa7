"""Named blocks: publish in one process, look up or attach by name in
another, wait for a name to appear."""
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


def test_attach_by_name_from_another_process(daemon, client):
    with client.alloc("default", 65536) as block:
        numpy.frombuffer(block, dtype=numpy.uint8)[:3] = (1, 2, 3)
        block.publish("camera/frame.0", readonly=False)
        child = textwrap.dedent(f"""
            import mempool, numpy
            with mempool.connect({daemon.socket!r}) as c:
                with c.attach_name("default", "camera/frame.0") as b:
                    a = numpy.frombuffer(b, dtype=numpy.uint8)
                    assert list(a[:3]) == [1, 2, 3]
                    a[3] = 4
                    del a
        """)
        subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
        assert memoryview(block)[3] == 4  # the same pages


def test_published_read_only_gives_read_only_blocks(daemon, client):
    with client.alloc("default", 4096) as block:
        block.publish("weights")  # read-only by default
        with mempool.connect(daemon.socket) as other:
            handle = other.lookup("default", "weights")
            assert isinstance(handle, mempool.Handle)
            with other.attach(handle) as seen:
                assert seen.readonly


def test_lookup_of_a_missing_name(client):
    with pytest.raises(mempool.NoSuchName):
        client.lookup("default", "nothing-here")
    with pytest.raises(mempool.TimedOut):
        client.lookup("default", "nothing-here", timeout=0.05)
    with pytest.raises(mempool.BadName):
        client.lookup("default", "spaces are not allowed")
    with pytest.raises(ValueError):
        client.lookup("default", "x", timeout=-1)


def test_timeout_is_never_shorter_than_asked(client):
    t0 = time.monotonic()
    with pytest.raises(mempool.TimedOut):
        client.attach_name("default", "late", timeout=0.6)  # three slices
    assert time.monotonic() - t0 >= 0.6


def test_waiting_lookup_wakes_on_publish(daemon, client):
    got = {}

    def wait():
        with mempool.connect(daemon.socket) as c:
            with c.attach_name("default", "soon", timeout=None) as b:
                got["byte"] = memoryview(b)[0]

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.3)
    assert t.is_alive()
    with client.alloc("default", 4096) as block:
        memoryview(block)[0] = 77
        block.publish("soon")
        t.join(30)
    assert got == {"byte": 77}


def test_other_threads_keep_working_while_one_waits(client):
    errors, found = [], []

    def wait():
        try:
            found.append(client.lookup("default", "awaited", timeout=60.0))
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    for _ in range(50):  # the same client, while the other thread waits
        client.alloc("default", 4096).release()
    # Still waiting, however long a loaded machine took: only the publish
    # below ends the wait (60 s is only there so a failure cannot hang).
    assert t.is_alive() and not errors and not found
    with client.alloc("default", 4096) as block:
        block.publish("awaited")
        t.join(30)
    assert not errors
    assert len(found) == 1 and isinstance(found[0], mempool.Handle)


def test_ctrl_c_interrupts_an_endless_wait(client):
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.lookup("default", "never", timeout=None)
    assert time.monotonic() - t0 < 30  # the interrupt ended it: it has no timeout
    client.alloc("default", 4096).release()  # the client is still usable


def test_name_taken_and_replace(daemon, client):
    a = client.alloc("default", 4096)
    b = client.alloc("default", 8192)
    a.publish("model")
    with pytest.raises(mempool.NameExists):
        b.publish("model")
    b.publish("model", replace=True)
    with mempool.connect(daemon.socket) as other:
        with other.attach_name("default", "model") as seen:
            assert seen.size == 8192
    client.unpublish("default", "model")
    with pytest.raises(mempool.NoSuchName):
        client.lookup("default", "model")
    a.release()
    b.release()


def test_a_name_dies_with_its_block(client):
    block = client.alloc("default", 4096)
    block.publish("short-lived")
    client.lookup("default", "short-lived")
    block.release()
    with pytest.raises(mempool.NoSuchName):
        client.lookup("default", "short-lived")
