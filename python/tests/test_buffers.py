"""Blocks as buffers: zero-copy across processes, read-only enforced, no
way for Python code to reach an unmapped block."""
import gc
import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy
import pytest

import mempool


def test_numpy_write_is_seen_by_another_process(daemon, client):
    block = client.alloc("default", 1 << 20)
    a = numpy.frombuffer(block, dtype=numpy.uint32)
    a[:] = numpy.arange(a.size, dtype=numpy.uint32)
    handle = block.share(readonly=False)
    # Another process attaches by the handle's text, checks the pattern,
    # and writes back through its own numpy view.
    child = textwrap.dedent(f"""
        import mempool, numpy, sys
        with mempool.connect({daemon.socket!r}) as c:
            b = c.attach({str(handle)!r})
            a = numpy.frombuffer(b, dtype=numpy.uint32)
            ok = bool((a == numpy.arange(a.size, dtype=numpy.uint32)).all())
            a[7] = 0xdeadbeef
            del a
            b.release()
        sys.exit(0 if ok else 3)
    """)
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    assert a[7] == 0xDEADBEEF  # the same pages, not a copy
    assert a[8] == 8
    del a
    block.release()


def test_view_points_into_the_block_not_a_copy(client):
    with client.alloc("default", 8192) as block:
        m = memoryview(block)
        assert m.nbytes == block.size == 8192
        assert not m.readonly
        m[0:5] = b"hello"
        assert bytes(memoryview(block)[0:5]) == b"hello"
        m.release()


def test_new_block_reads_as_zeros(client):
    with client.alloc("default", 65536) as block:
        assert not numpy.frombuffer(block, dtype=numpy.uint8).any()


def test_readonly_handle_gives_readonly_buffer(daemon, client):
    with client.alloc("default", 4096) as block:
        memoryview(block)[0:2] = b"ok"
        handle = block.share()  # read-only by default
        with mempool.connect(daemon.socket) as other:
            ro = other.attach(handle)
            assert ro.readonly
            a = numpy.frombuffer(ro, dtype=numpy.uint8)
            assert bytes(a[:2]) == b"ok"
            with pytest.raises(ValueError):
                a[0] = 1  # numpy refuses: assignment destination is read-only
            with pytest.raises(TypeError):
                memoryview(ro)[0:1] = b"x"  # cannot modify read-only memory
            with pytest.raises(ValueError):
                a.setflags(write=True)  # the buffer itself is read-only
            del a
            ro.release()


def _write_readonly_block(socket, text):
    with mempool.connect(socket) as c:
        b = c.attach(text)
        # A raw write through the address, bypassing the buffer flags: the
        # kernel must refuse it (SIGSEGV), since the mapping is PROT_READ.
        import ctypes
        view = numpy.frombuffer(b, dtype=numpy.uint8)
        ctypes.memset(view.ctypes.data, 1, 1)
    os._exit(0)


def test_readonly_mapping_is_enforced_by_the_kernel(daemon, client):
    with client.alloc("default", 4096) as block:
        handle = block.share(readonly=True)
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=_write_readonly_block, args=(daemon.socket, str(handle)))
        p.start()
        p.join(60)
        assert p.exitcode == -11  # SIGSEGV
        assert numpy.frombuffer(block, dtype=numpy.uint8)[0] == 0


def test_release_with_live_view_raises_and_block_stays_usable(client):
    block = client.alloc("default", 4096)
    m = memoryview(block)
    with pytest.raises(BufferError):
        block.release()
    m[0] = 42  # still mapped
    a = numpy.frombuffer(block, dtype=numpy.uint8)
    m.release()
    with pytest.raises(BufferError):
        block.release()  # the numpy array still holds an export
    assert a[0] == 42
    del a
    block.release()
    assert block.released
    block.release()  # twice is harmless
    with pytest.raises(ValueError):
        memoryview(block)


def test_context_manager_refuses_exit_with_live_view(client):
    with pytest.raises(BufferError):
        with client.alloc("default", 4096) as block:
            view = memoryview(block)
    view[0] = 1  # the block was not released: still mapped
    view.release()
    block.release()


def test_exception_in_with_block_is_not_masked(client):
    with pytest.raises(KeyError):
        with client.alloc("default", 4096) as block:
            view = memoryview(block)
            raise KeyError("the test's own")
    assert not block.released  # a view lives: released later, by the GC
    view.release()
    del view
    block.release()


def test_close_refuses_while_a_view_lives(daemon):
    c = mempool.connect(daemon.socket)
    block = c.alloc("default", 4096)
    m = memoryview(block)
    with pytest.raises(BufferError):
        c.close()
    m.release()
    c.close()
    assert c.closed and block.released
    with pytest.raises(ValueError):
        memoryview(block)
    with pytest.raises(ValueError):
        c.alloc("default", 4096)


def test_garbage_collected_block_is_released(daemon, client):
    before = client.pool_info("default").client_use
    block = client.alloc("default", 1 << 20)
    assert client.pool_info("default").client_use == before + (1 << 20)
    del block
    gc.collect()
    assert client.pool_info("default").client_use == before


def test_trim_gives_the_block_cache_back(daemon, client):
    """A released block waits in the library's cache (still held, to the
    daemon); trim gives it back, which another connection can see."""
    with mempool.connect(daemon.socket) as observer:
        block = client.alloc("cached", 65536)
        block.release()
        client.pool_info("cached")  # a round trip: the cache report is sent
        assert observer.pool_info("cached").in_use == 65536
        client.trim()
        client.pool_info("cached")
        assert observer.pool_info("cached").in_use == 0


def test_attributes(client):
    with client.alloc("default", 5000) as block:
        assert block.size == 8192  # whole pages
        assert isinstance(block.id, int) and block.id > 0
        assert block.readonly is False
        assert "read-write" in repr(block)
