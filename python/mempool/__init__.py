"""mempool: blocks of mempoold's shared memory as zero-copy Python buffers.

    import mempool, numpy
    with mempool.connect() as client:
        with client.alloc("default", 1 << 20) as block:
            a = numpy.frombuffer(block, dtype=numpy.float32)  # no copy
            a[:] = 1.0
            handle = block.share(readonly=True)
            del a  # a block is released only once no buffer uses it

Another process attaches with ``client.attach(handle)`` (or its string,
``str(handle)``) and sees the same memory. Every failure of the daemon or
of the library raises a subclass of :class:`Error`.
"""

from collections import namedtuple as _namedtuple

from . import _mempool

__all__ = [
    "Block",
    "Client",
    "Error",
    "Handle",
    "PoolInfo",
    "connect",
    "default_socket",
]

Client = _mempool.Client
Block = _mempool.Block


class Error(Exception):
    """A MEMPOOL_E* error: ``code`` is the negative number, ``name`` the
    code's name without the MEMPOOL_ prefix (``"EDQUOT"``)."""

    def __init__(self, code, name, message):
        super().__init__(code, name, message)
        self.code = code
        self.name = name
        self.message = message

    def __str__(self):
        return f"{self.message} ({self.name})"


# The class raised for each code. A code of the C library without an entry
# here gets no class of its own; the tests check every code has one.
_CLASS_NAMES = {
    "EINVAL": "InvalidArgument",
    "ENOMEM": "OutOfMemory",
    "EDQUOT": "QuotaExceeded",
    "E2BIG": "BlockTooLarge",
    "EACCES": "AccessDenied",
    "ENOPOOL": "NoSuchPool",
    "EBADHANDLE": "BadHandle",
    "ENOBLOCK": "NoSuchBlock",
    "EPROTO": "ProtocolError",
    "EVERSION": "VersionMismatch",
    "ECONN": "ConnectError",
    "ECONNLOST": "ConnectionLost",
    "ELIMIT": "LimitReached",
    "EIO": "SystemCallFailed",
    "ENOSYS": "NotSupported",
    "ESHUTDOWN": "ShuttingDown",
    "EPERM": "PermissionDenied",
    "EEXIST": "NameExists",
    "ENONAME": "NoSuchName",
    "ETIMEDOUT": "TimedOut",
    "EBADNAME": "BadName",
}

# EINVAL and EBADNAME are also ValueErrors, so that ``except ValueError``
# catches them.
_EXTRA_BASES = {"EINVAL": (ValueError,), "EBADNAME": (ValueError,)}


def _make_error_classes():
    classes = {}
    for name, code, text in _mempool.error_codes():
        class_name = _CLASS_NAMES.get(name)
        if class_name is None:
            continue
        cls = type(class_name, (Error,) + _EXTRA_BASES.get(name, ()),
                   {"__doc__": f"MEMPOOL_{name}: {text}.", "__module__": __name__})
        globals()[class_name] = cls
        __all__.append(class_name)
        classes[code] = cls
    return classes


class Handle:
    """A handle to a shared block: 32 opaque bytes. ``str(handle)`` is its
    64-hex-digit form; ``Handle(text)`` reads it back. Handles pickle, so
    they can be sent to multiprocessing children."""

    __slots__ = ("_bytes",)

    def __init__(self, value):
        if isinstance(value, Handle):
            value = value._bytes
        elif isinstance(value, str):
            value = _mempool.handle_parse(value)
        value = bytes(value)
        if len(value) != 32:
            raise TypeError("a handle is 32 bytes or 64 hex digits")
        self._bytes = value

    def __bytes__(self):
        return self._bytes

    def __str__(self):
        return _mempool.handle_format(self._bytes)

    def __repr__(self):
        return f"mempool.Handle('{self}')"

    def __eq__(self, other):
        return isinstance(other, Handle) and other._bytes == self._bytes

    def __hash__(self):
        return hash(self._bytes)

    def __reduce__(self):
        return (Handle, (self._bytes,))


PoolInfo = _namedtuple("PoolInfo", _mempool.info_fields(), module=__name__)
PoolInfo.__doc__ = """A pool's figures as mempool_info has them (bytes unless
the name says otherwise); client_use is this connection's share."""

_mempool._register(_make_error_classes(), Error, Handle, PoolInfo)


def connect(path=None):
    """A Client connected to mempoold at ``path``, else ``$MEMPOOL_SOCKET``,
    else the default socket (see :func:`default_socket`)."""
    return Client(path)


def default_socket():
    """The socket path ``connect()`` uses when given none."""
    return _mempool.default_socket()
