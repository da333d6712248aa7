"""Every MEMPOOL_E* code has its own subclass of mempool.Error, and the
daemon's refusals arrive as those classes."""
import os
import pathlib
import pwd
import tempfile

import pytest

import mempool
from mempool import _mempool


CODES = {name: code for name, code, _ in _mempool.error_codes()}


def class_for(name):
    """The one subclass of mempool.Error documented as MEMPOOL_<name>."""
    matching = [c for c in vars(mempool).values()
                if isinstance(c, type) and issubclass(c, mempool.Error)
                and c.__doc__.startswith(f"MEMPOOL_{name}:")]
    assert len(matching) == 1, f"MEMPOOL_{name} has no class of its own"
    return matching[0]


def test_every_code_has_a_named_subclass():
    assert len(CODES) >= 17
    for name, code in CODES.items():
        cls = class_for(name)
        assert cls is not mempool.Error and cls.__name__ in mempool.__all__
        assert code < 0


def raises(cls, code_name):
    """pytest.raises for a mempool error, checking .code and .name too."""
    class Checker:
        def __enter__(self):
            self.ctx = pytest.raises(cls)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.ctx.__exit__(*exc)
            err = self.info.value
            assert err.name == code_name
            assert err.code == CODES[code_name]
            assert isinstance(err, mempool.Error)
            assert code_name in str(err)
            return suppressed
    return Checker()


def test_invalid_argument_is_also_a_value_error(client):
    with raises(mempool.InvalidArgument, "EINVAL"):
        client.alloc("x" * 100, 4096)
    with pytest.raises(ValueError):
        client.alloc("default", -1)
    with raises(mempool.InvalidArgument, "EINVAL"):
        mempool.Handle("not hex")


def test_no_such_pool(client):
    with raises(mempool.NoSuchPool, "ENOPOOL"):
        client.alloc("nosuch", 4096)
    with raises(mempool.NoSuchPool, "ENOPOOL"):
        client.pool_info("nosuch")


def test_block_too_large(client):
    with raises(mempool.BlockTooLarge, "E2BIG"):
        client.alloc("small", 1 << 20)


def test_quota_exceeded(client):
    a = client.alloc("small", 512 << 10)
    b = client.alloc("small", 512 << 10)
    with raises(mempool.QuotaExceeded, "EDQUOT"):
        client.alloc("small", 4096)
    a.release()
    b.release()


@pytest.mark.root
def test_out_of_memory_at_the_pool_limit(daemon, client):
    """Quota is per uid, and a pool's quota cannot exceed its limit: only a
    second uid can meet the limit. The child drops to nobody."""
    whole = client.alloc("tight", 2 << 20)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            nobody = pwd.getpwnam("nobody")
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            with mempool.connect(daemon.socket) as other:
                try:
                    other.alloc("tight", 4096)
                except mempool.OutOfMemory as e:
                    status = 0 if (e.name, e.code) == ("ENOMEM", CODES["ENOMEM"]) else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    whole.release()


def test_access_denied(client):
    assert os.getuid() != 1, "the 'closed' pool admits only the daemon user"
    with raises(mempool.AccessDenied, "EACCES"):
        client.alloc("closed", 4096)


def test_bad_handle(client):
    with raises(mempool.BadHandle, "EBADHANDLE"):
        client.attach("ab" * 32)


def test_widening_a_read_only_handle(daemon, client):
    with client.alloc("default", 4096) as block:
        handle = block.share(readonly=True)
        with mempool.connect(daemon.socket) as other:
            with other.attach(handle) as ro:
                with raises(mempool.PermissionDenied, "EPERM"):
                    ro.share(readonly=False)


def test_cannot_connect():
    path = os.path.join(tempfile.mkdtemp(), "nobody-here.sock")
    with raises(mempool.ConnectError, "ECONN"):
        mempool.connect(path)


def test_connect_finds_the_socket_through_the_environment(daemon, monkeypatch):
    monkeypatch.setenv("MEMPOOL_SOCKET", daemon.socket)
    assert mempool.default_socket() == daemon.socket
    with mempool.connect() as c:
        assert c.pool_info("default").page_size > 0
    with mempool.connect(pathlib.Path(daemon.socket)) as c:
        assert not c.closed
    assert c.closed


def test_docs_list_every_class():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "README.md")) as f:
        readme = f.read()
    with open(os.path.join(here, "..", "mempool", "__init__.pyi")) as f:
        stub = f.read()
    for name, code in CODES.items():
        cls = class_for(name)
        assert f"| `{cls.__name__}` | `MEMPOOL_{name}` ({code})" in readme
        assert f"class {cls.__name__}(Error" in stub


def test_handle_round_trips(client):
    with client.alloc("default", 4096) as block:
        h = block.share()
        text = str(h)
        assert len(text) == 64 and int(text, 16) >= 0
        assert mempool.Handle(text) == h and hash(mempool.Handle(text)) == hash(h)
        assert bytes(mempool.Handle(bytes(h))) == bytes(h)
        assert repr(h) == f"mempool.Handle('{text}')"
        with pytest.raises(TypeError):
            client.attach(12345)


def test_pool_info_fields(client):
    info = client.pool_info("default")
    assert isinstance(info, mempool.PoolInfo)
    assert info.page_size == os.sysconf("SC_PAGE_SIZE")
    assert info.limit == 256 << 20 and info.quota == 64 << 20
    with client.alloc("default", 1 << 20):
        assert client.pool_info("default").client_use == info.client_use + (1 << 20)
