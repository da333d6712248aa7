"""A real mempoold on a temporary socket for every test that asks for it.

$MEMPOOLD names the daemon binary (CTest sets it to the build's); the
daemon's log is printed when a test fails."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import mempool

POLICY = """\
listen:
  socket: {dir}/mempoold.sock
  mode: 0666
admin:
  socket: {dir}/admin.sock
  mode: 0600
log:
  level: info
# The tests count what a connection holds right after a release: no
# client-side block cache (libmempool's, which keeps released blocks held
# for the next allocation).
library:
  client_cache: 0B
pools:
  - name: default
    reserve: 1GiB
    limit: 256MiB
    quota: 64MiB
  - name: small
    reserve: 64MiB
    limit: 16MiB
    quota: 1MiB
    max_block: 512KiB
  - name: tight
    reserve: 64MiB
    limit: 2MiB
  - name: cached
    reserve: 64MiB
    limit: 16MiB
    library:
      client_cache: 1MiB
  - name: closed
    reserve: 64MiB
    limit: 16MiB
    access:
      users: [daemon]
"""


class Daemon:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="mempool-py-")
        os.chmod(self.dir, 0o755)  # reachable by children that drop to nobody
        self.socket = os.path.join(self.dir, "mempoold.sock")
        self.policy = os.path.join(self.dir, "policy.yaml")
        self.log_path = os.path.join(self.dir, "mempoold.log")
        with open(self.policy, "w") as f:
            f.write(POLICY.format(dir=self.dir))
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([binary, "-c", self.policy],
                                         stdout=log, stderr=log)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mempoold exited at start:\n" + self.log())
            try:
                mempool.connect(self.socket).close()
                return
            except mempool.ConnectError:
                time.sleep(0.02)
        raise RuntimeError("mempoold did not answer:\n" + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def daemon(request):
    binary = os.environ.get("MEMPOOLD")
    if not binary:
        pytest.fail("set MEMPOOLD to the mempoold binary (CTest does)")
    d = Daemon(binary)
    yield d
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print("---- mempoold log ----\n" + d.log())
    d.stop()


@pytest.fixture
def client(daemon):
    with mempool.connect(daemon.socket) as c:
        yield c


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def wait_until(predicate, timeout=30.0):
    """Polls until predicate() holds; what the daemon does in milliseconds
    can take seconds on a loaded machine, and a longer bound costs nothing
    when it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
