"""The README's example, as a user runs it: two processes."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "numpy_share.py")
README = os.path.join(HERE, "..", "README.md")


def test_readme_quotes_the_example_verbatim():
    with open(EXAMPLE) as f, open(README) as r:
        assert f.read() in r.read()


def test_producer_and_consumer(daemon):
    env = dict(os.environ, MEMPOOL_SOCKET=daemon.socket)
    producer = subprocess.Popen([sys.executable, EXAMPLE], env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    handle = producer.stdout.readline().strip()
    assert len(handle) == 64
    consumer = subprocess.run([sys.executable, EXAMPLE, "consume", handle], env=env,
                              text=True, capture_output=True, timeout=60)
    producer.communicate("\n", timeout=60)
    assert consumer.returncode == 0, consumer.stderr
    assert consumer.stdout == "mean 0.5000, read-only: True\n"
    assert producer.returncode == 0
