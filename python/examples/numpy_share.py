"""Producer/consumer: one process fills a numpy array in a mempoold block
and shares it read-only; another attaches by handle and reads it, no copy.

    python3 numpy_share.py                 # prints a handle, waits for Enter
    python3 numpy_share.py consume HANDLE  # in another shell
"""
import sys

import numpy

import mempool


def produce(client):
    with client.alloc("default", 1 << 20) as block:
        frame = numpy.frombuffer(block, dtype=numpy.float32).reshape(512, 512)
        frame[:] = numpy.linspace(0.0, 1.0, frame.size).reshape(frame.shape)
        print(block.share(readonly=True), flush=True)
        sys.stdin.readline()  # hold the block until the consumer is done
        del frame  # a block is released only once no array uses it


def consume(client, text):
    with client.attach(text) as block:
        frame = numpy.frombuffer(block, dtype=numpy.float32).reshape(512, 512)
        print(f"mean {frame.mean():.4f}, read-only: {not frame.flags.writeable}")
        del frame


if __name__ == "__main__":
    with mempool.connect() as client:  # $MEMPOOL_SOCKET, else the default
        if len(sys.argv) == 3 and sys.argv[1] == "consume":
            consume(client, sys.argv[2])
        else:
            produce(client)
