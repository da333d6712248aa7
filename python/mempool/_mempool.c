/* mempool._mempool: the CPython extension over libmempool.
 *
 * Two types, Client (one mempool_client) and Block (one mempool_block),
 * plus the handle codecs. The pure-Python package (mempool/__init__.py)
 * gives this module its exception classes, Handle and PoolInfo through
 * _register() before anything else runs.
 *
 * Safety rules, all kept under the GIL:
 *   - A Block holds a strong reference to its Client, so a client is never
 *     disconnected (which unmaps everything) while a Block object exists,
 *     except by an explicit close().
 *   - Buffer exports are counted per block and per client. release() and
 *     close() refuse with BufferError while any export is alive, as
 *     mmap.close() does, so no Python code can reach an unmapped block.
 *   - Every library call runs with the GIL released and the client marked
 *     busy; a close() that comes meanwhile only marks the client closed,
 *     and the last call to return disconnects it.
 *   - After fork(), the library gives the child a connection of its own at
 *     its first call (mempool(3)); a Block the child inherited is the
 *     parent's, so the child never releases it, not even when it dies. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <mempool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

static PyObject *error_classes; /* dict: negative code -> exception class */
static PyObject *base_error;    /* mempool.Error */
static PyObject *handle_class;  /* mempool.Handle */
static PyObject *info_class;    /* mempool.PoolInfo */

typedef struct {
    PyObject_HEAD
    mempool_client *c; /* NULL once disconnected */
    int closed;        /* close() was called */
    Py_ssize_t busy;   /* library calls running without the GIL */
    Py_ssize_t exports; /* live buffer exports of this client's blocks */
} ClientObject;

typedef struct {
    PyObject_HEAD
    ClientObject *client;
    mempool_block b;
    pid_t pid; /* the process that allocated or attached it */
    int released;
    Py_ssize_t exports;
} BlockObject;

static PyTypeObject ClientType;
static PyTypeObject BlockType;

/* Raises the registered subclass of mempool.Error for a MEMPOOL_E* code:
 * Error(code, name, message). */
static PyObject *raise_mempool_error(int rc)
{
    PyObject *key = PyLong_FromLong(rc);
    PyObject *cls = key != NULL && error_classes != NULL
                        ? PyDict_GetItemWithError(error_classes, key)
                        : NULL;
    Py_XDECREF(key);
    if (PyErr_Occurred())
        return NULL;
    if (cls == NULL)
        cls = base_error != NULL ? base_error : PyExc_RuntimeError;
    const char *name = mempool_err_name(rc); /* "MEMPOOL_EDQUOT" */
    if (strncmp(name, "MEMPOOL_", 8) == 0)
        name += 8;
    PyObject *exc = PyObject_CallFunction(cls, "iss", rc, name, mempool_strerror(rc));
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* ---- Client ------------------------------------------------------------ */

static int client_usable(ClientObject *self)
{
    if (self->closed || self->c == NULL) {
        PyErr_SetString(PyExc_ValueError, "the client is closed");
        return 0;
    }
    return 1;
}

/* Disconnects with the GIL released; the client must not be busy. */
static void client_disconnect(ClientObject *self)
{
    mempool_client *c = self->c;
    self->c = NULL;
    if (c == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    mempool_disconnect(c);
    Py_END_ALLOW_THREADS
}

static void client_enter(ClientObject *self) { self->busy++; }

/* After a call: the last call out of a closed client disconnects it.
 * Returns 0, or -1 (ValueError set) when the client was closed meanwhile,
 * so that what the call produced is not handed out. */
static int client_leave(ClientObject *self)
{
    self->busy--;
    if (!self->closed)
        return 0;
    if (self->busy == 0)
        client_disconnect(self);
    PyErr_SetString(PyExc_ValueError, "the client was closed during the call");
    return -1;
}

/* Runs `call`, a library call on `client`'s connection, with the GIL
 * released and the client marked busy; `rc` gets its result. The caller
 * ends with call_status (or client_leave) under the GIL again. */
#define CALL_WITHOUT_GIL(client, rc, call)                                     \
    do {                                                                       \
        client_enter(client);                                                  \
        Py_BEGIN_ALLOW_THREADS                                                 \
        rc = (call);                                                           \
        Py_END_ALLOW_THREADS                                                   \
    } while (0)

/* 0, or -1 with an exception set: the client was closed during the call,
 * or the call failed. */
static int call_status(ClientObject *client, int rc)
{
    if (client_leave(client) != 0)
        return -1;
    if (rc != 0) {
        raise_mempool_error(rc);
        return -1;
    }
    return 0;
}

static int client_init(ClientObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = { "path", NULL };
    PyObject *arg = Py_None, *path = NULL;
    if (self->c != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the client is already connected");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Client", kw, &arg) ||
        (arg != Py_None && !PyUnicode_FSConverter(arg, &path)))
        return -1;
    const char *p = path != NULL ? PyBytes_AS_STRING(path) : NULL;
    mempool_client *c = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mempool_connect(p, &c);
    Py_END_ALLOW_THREADS
    Py_XDECREF(path);
    if (rc != 0) {
        raise_mempool_error(rc);
        return -1;
    }
    self->c = c;
    return 0;
}

static void client_dealloc(ClientObject *self)
{
    if (!self->closed)
        client_disconnect(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *client_close(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed)
        Py_RETURN_NONE;
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError,
                        "cannot close the client: a buffer (memoryview, numpy "
                        "array) still uses one of its blocks");
        return NULL;
    }
    self->closed = 1;
    if (self->busy == 0)
        client_disconnect(self);
    Py_RETURN_NONE;
}

static PyObject *client_enter_ctx(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!client_usable(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

/* An exception on its way out of the with-block is not masked by a
 * BufferError: with a buffer still alive the client stays open, and is
 * closed when garbage-collected. */
static int exiting_with_exception(PyObject *args)
{
    return PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 &&
           PyTuple_GET_ITEM(args, 0) != Py_None;
}

static PyObject *client_exit_ctx(ClientObject *self, PyObject *args)
{
    if (self->exports > 0 && exiting_with_exception(args))
        Py_RETURN_FALSE;
    PyObject *r = client_close(self, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

/* A Block object for what a call produced. */
static PyObject *block_new(ClientObject *client, const mempool_block *b)
{
    BlockObject *self = PyObject_New(BlockObject, &BlockType);
    if (self == NULL) {
        mempool_block copy = *b;
        Py_BEGIN_ALLOW_THREADS
        mempool_release(client->c, &copy);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    Py_INCREF(client);
    self->client = client;
    self->b = *b;
    self->pid = getpid();
    self->released = 0;
    self->exports = 0;
    return (PyObject *)self;
}

/* The end of every call that yields a block: hands it out, or gives it
 * back when the call failed or the client was closed meanwhile. */
static PyObject *block_result(ClientObject *self, int rc, mempool_block *b)
{
    /* Closed meanwhile: the disconnect unmapped it. */
    return call_status(self, rc) == 0 ? block_new(self, b) : NULL;
}

static PyObject *client_alloc(ClientObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = { "pool", "size", "dirty", "populate", NULL };
    const char *pool;
    Py_ssize_t size;
    int dirty = 0, populate = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sn|$pp:alloc", kw, &pool,
                                     &size, &dirty, &populate))
        return NULL;
    if (size < 0)
        return raise_mempool_error(MEMPOOL_EINVAL);
    if (!client_usable(self))
        return NULL;
    unsigned flags = (dirty ? MEMPOOL_ALLOC_DIRTY : 0) |
                     (populate ? MEMPOOL_ALLOC_POPULATE : 0);
    mempool_block b;
    int rc;
    CALL_WITHOUT_GIL(self, rc, mempool_alloc(self->c, pool, (size_t)size, flags, &b));
    return block_result(self, rc, &b);
}

/* A handle from a Handle, its 64-hex-digit string, or its 32 bytes. */
static int handle_from_object(PyObject *o, mempool_handle *h)
{
    if (PyUnicode_Check(o)) {
        const char *text = PyUnicode_AsUTF8(o);
        int rc = text != NULL ? mempool_handle_parse(text, h) : 0;
        if (text == NULL)
            return -1;
        if (rc != 0) {
            raise_mempool_error(rc);
            return -1;
        }
        return 0;
    }
    int is_handle = handle_class != NULL && PyObject_IsInstance(o, handle_class);
    if (is_handle < 0)
        return -1;
    PyObject *bytes = is_handle ? PyObject_Bytes(o) : (Py_INCREF(o), o);
    if (bytes == NULL)
        return -1;
    int ok = PyBytes_Check(bytes) && PyBytes_GET_SIZE(bytes) == (Py_ssize_t)sizeof h->bytes;
    if (ok)
        memcpy(h->bytes, PyBytes_AS_STRING(bytes), sizeof h->bytes);
    Py_DECREF(bytes);
    if (!ok)
        PyErr_SetString(PyExc_TypeError,
                        "a handle is a mempool.Handle, its 64-hex-digit string "
                        "or its 32 bytes");
    return ok ? 0 : -1;
}

static PyObject *client_attach(ClientObject *self, PyObject *handle)
{
    mempool_handle h;
    if (handle_from_object(handle, &h) != 0 || !client_usable(self))
        return NULL;
    mempool_block b;
    int rc;
    CALL_WITHOUT_GIL(self, rc, mempool_attach(self->c, &h, &b));
    return block_result(self, rc, &b);
}

/* ---- named blocks ------------------------------------------------------ */

/* A wait is made of slices, so that a signal (Ctrl-C) is handled within
 * one slice rather than when the name appears. */
#define WAIT_SLICE_MS 250

/* timeout: None waits until the name appears, else seconds (0: do not
 * wait). Milliseconds for the library, -1 for no end. */
static int timeout_ms_from(PyObject *timeout, long long *ms)
{
    if (timeout == Py_None) {
        *ms = -1;
        return 0;
    }
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (!(seconds >= 0.0) || seconds > 86400.0 * 365) {
        PyErr_SetString(PyExc_ValueError, "timeout is None or 0 to a year of seconds");
        return -1;
    }
    *ms = (long long)(seconds * 1000.0 + 0.999); /* never shorter than asked */
    return 0;
}

/* The next slice of a wait with `left` ms to go (-1: no end). */
static int slice_of(long long left)
{
    return left < 0 || left > WAIT_SLICE_MS ? WAIT_SLICE_MS : (int)left;
}

typedef int (*name_call)(mempool_client *c, const char *pool, const char *name,
                         int timeout_ms, void *out);

static int call_lookup(mempool_client *c, const char *pool, const char *name,
                       int timeout_ms, void *out)
{
    return mempool_lookup(c, pool, name, timeout_ms, out);
}

static int call_attach_name(mempool_client *c, const char *pool, const char *name,
                            int timeout_ms, void *out)
{
    return mempool_attach_name(c, pool, name, timeout_ms, out);
}

/* A Handle object for a handle's bytes. */
static PyObject *handle_object(const mempool_handle *h)
{
    return PyObject_CallFunction(handle_class, "y#", (const char *)h->bytes,
                                 (Py_ssize_t)sizeof h->bytes);
}

/* Runs a lookup or attach_name slice by slice until it answers, the time
 * is up, or a signal handler raises. 0, or -1 with an exception set. */
static int wait_for_name(ClientObject *self, name_call call, PyObject *args,
                         PyObject *kwargs, const char *fmt, void *out)
{
    static char *kw[] = { "pool", "name", "timeout", NULL };
    const char *pool, *name;
    PyObject *timeout = NULL;
    long long ms = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kw, &pool, &name, &timeout) ||
        (timeout != NULL && timeout_ms_from(timeout, &ms) != 0) || !client_usable(self))
        return -1;
    for (long long left = ms;;) {
        int slice = ms == 0 ? 0 : slice_of(left);
        int rc;
        CALL_WITHOUT_GIL(self, rc, call(self->c, pool, name, slice, out));
        int again = rc == MEMPOOL_ETIMEDOUT && ms != 0 && (left < 0 || (left -= slice) > 0);
        if (!again)
            return call_status(self, rc);
        if (client_leave(self) != 0 || PyErr_CheckSignals() != 0)
            return -1;
    }
}

static PyObject *client_lookup(ClientObject *self, PyObject *args, PyObject *kwargs)
{
    mempool_handle h;
    if (wait_for_name(self, call_lookup, args, kwargs, "ss|$O:lookup", &h) != 0)
        return NULL;
    return handle_object(&h);
}

static PyObject *client_attach_name(ClientObject *self, PyObject *args, PyObject *kwargs)
{
    mempool_block b;
    if (wait_for_name(self, call_attach_name, args, kwargs, "ss|$O:attach_name", &b) != 0)
        return NULL;
    return block_new(self, &b);
}

static PyObject *client_unpublish(ClientObject *self, PyObject *args)
{
    const char *pool, *name;
    if (!PyArg_ParseTuple(args, "ss:unpublish", &pool, &name) || !client_usable(self))
        return NULL;
    int rc;
    CALL_WITHOUT_GIL(self, rc, mempool_unpublish(self->c, pool, name));
    if (call_status(self, rc) != 0)
        return NULL;
    Py_RETURN_NONE;
}

/* mempool_info's fields, in order: PoolInfo is made from this list. */
#define INFO_FIELDS(XX)                                                        \
    XX(page_size) XX(limit) XX(in_use) XX(warm) XX(quota) XX(client_use)       \
    XX(released) XX(scavenger_runs) XX(scavenger_cpu_ns) XX(last_scavenge_ms)

static PyObject *info_tuple(const mempool_info *info)
{
    const uint64_t values[] = {
#define INFO_VALUE(f) info->f,
        INFO_FIELDS(INFO_VALUE)
#undef INFO_VALUE
    };
    size_t n = sizeof values / sizeof values[0];
    PyObject *args = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; args != NULL && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (v == NULL) {
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, (Py_ssize_t)i, v);
    }
    if (args == NULL)
        return NULL;
    PyObject *r = PyObject_CallObject(info_class, args);
    Py_DECREF(args);
    return r;
}

static PyObject *client_pool_info(ClientObject *self, PyObject *args)
{
    const char *pool;
    if (!PyArg_ParseTuple(args, "s:pool_info", &pool) || !client_usable(self))
        return NULL;
    mempool_info info;
    int rc;
    CALL_WITHOUT_GIL(self, rc, mempool_pool_info(self->c, pool, &info));
    if (call_status(self, rc) != 0)
        return NULL;
    return info_tuple(&info);
}

static PyObject *client_trim(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!client_usable(self))
        return NULL;
    int rc;
    CALL_WITHOUT_GIL(self, rc, mempool_trim(self->c));
    if (call_status(self, rc) != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *client_get_closed(ClientObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->closed || self->c == NULL);
}

static PyMethodDef client_methods[] = {
    { "alloc", (PyCFunction)(void (*)(void))client_alloc, METH_VARARGS | METH_KEYWORDS,
      "alloc(pool, size, *, dirty=False, populate=False) -> Block\n\n"
      "Allocates a block of at least size bytes from the named pool.\n"
      "dirty: the block may keep bytes this uid wrote before (no zeroing).\n"
      "populate: prefault the mapping." },
    { "attach", (PyCFunction)client_attach, METH_O,
      "attach(handle) -> Block\n\n"
      "Maps the block a handle names (a Handle or its 64-hex-digit string)." },
    { "lookup", (PyCFunction)(void (*)(void))client_lookup, METH_VARARGS | METH_KEYWORDS,
      "lookup(pool, name, *, timeout=0) -> Handle\n\n"
      "The handle published under a name. timeout: seconds to wait for the\n"
      "name to appear (0: do not wait, NoSuchName; None: until it does);\n"
      "TimedOut when it does not appear in time." },
    { "attach_name", (PyCFunction)(void (*)(void))client_attach_name,
      METH_VARARGS | METH_KEYWORDS,
      "attach_name(pool, name, *, timeout=0) -> Block\n\n"
      "lookup and attach in one round trip; timeout as for lookup." },
    { "unpublish", (PyCFunction)client_unpublish, METH_VARARGS,
      "unpublish(pool, name)\n\nRemoves a name (the publisher's uid or root only)." },
    { "pool_info", (PyCFunction)client_pool_info, METH_VARARGS,
      "pool_info(pool) -> PoolInfo\n\nThe pool's figures and this connection's share." },
    { "trim", (PyCFunction)client_trim, METH_NOARGS,
      "trim()\n\nGives back at once every block the library keeps in this\n"
      "client's block cache (released blocks kept for the next alloc)." },
    { "close", (PyCFunction)client_close, METH_NOARGS,
      "close()\n\nReleases every block of this client and disconnects. Raises\n"
      "BufferError while a buffer still uses one of its blocks. Closing twice\n"
      "is harmless." },
    { "__enter__", (PyCFunction)client_enter_ctx, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)client_exit_ctx, METH_VARARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef client_getset[] = {
    { "closed", (getter)client_get_closed, NULL, "True once closed.", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mempool.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Client(path=None)\n\n"
              "One connection to mempoold: path, else $MEMPOOL_SOCKET, else the\n"
              "default socket. Thread-safe; a context manager that closes on exit.",
    .tp_methods = client_methods,
    .tp_getset = client_getset,
    .tp_init = (initproc)client_init,
    .tp_new = PyType_GenericNew,
};

/* ---- Block ------------------------------------------------------------- */

static int block_usable(BlockObject *self)
{
    if (self->released) {
        PyErr_SetString(PyExc_ValueError, "the block is released");
        return 0;
    }
    return client_usable(self->client);
}

/* Gives the block back unless the client is gone (its disconnect let go
 * of everything) or this is a forked child (the block is the parent's). */
static int block_do_release(BlockObject *self)
{
    ClientObject *client = self->client;
    self->released = 1;
    if (client->closed || client->c == NULL || self->pid != getpid())
        return 0;
    int rc;
    CALL_WITHOUT_GIL(client, rc, mempool_release(client->c, &self->b));
    if (client_leave(client) != 0)
        PyErr_Clear(); /* closed meanwhile: the disconnect let go of it */
    return rc;
}

static PyObject *block_release(BlockObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->released)
        Py_RETURN_NONE;
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError,
                        "cannot release a block while a buffer (memoryview, "
                        "numpy array) still uses it");
        return NULL;
    }
    int rc = block_do_release(self);
    if (rc != 0)
        return raise_mempool_error(rc);
    Py_RETURN_NONE;
}

static void block_dealloc(BlockObject *self)
{
    if (!self->released) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        block_do_release(self);
        PyErr_Restore(type, value, tb);
    }
    Py_DECREF(self->client);
    PyObject_Free(self);
}

static PyObject *block_share(BlockObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = { "readonly", NULL };
    int readonly = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:share", kw, &readonly) ||
        !block_usable(self))
        return NULL;
    ClientObject *client = self->client;
    unsigned prot = readonly ? MEMPOOL_READ : MEMPOOL_READ | MEMPOOL_WRITE;
    mempool_handle h;
    int rc;
    CALL_WITHOUT_GIL(client, rc, mempool_share(client->c, &self->b, prot, &h));
    if (call_status(client, rc) != 0)
        return NULL;
    return handle_object(&h);
}

static PyObject *block_publish(BlockObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = { "name", "readonly", "replace", NULL };
    const char *name;
    int readonly = 1, replace = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|$pp:publish", kw, &name,
                                     &readonly, &replace) ||
        !block_usable(self))
        return NULL;
    ClientObject *client = self->client;
    unsigned prot = (readonly ? MEMPOOL_READ : MEMPOOL_READ | MEMPOOL_WRITE) |
                    (replace ? MEMPOOL_PUBLISH_REPLACE : 0);
    int rc;
    CALL_WITHOUT_GIL(client, rc, mempool_publish(client->c, &self->b, name, prot));
    if (call_status(client, rc) != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *block_enter_ctx(BlockObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!block_usable(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *block_exit_ctx(BlockObject *self, PyObject *args)
{
    if (self->exports > 0 && exiting_with_exception(args))
        Py_RETURN_FALSE; /* released when garbage-collected */
    PyObject *r = block_release(self, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static int block_getbuffer(BlockObject *self, Py_buffer *view, int flags)
{
    if (!block_usable(self)) {
        view->obj = NULL;
        return -1;
    }
    int readonly = (self->b.prot & MEMPOOL_WRITE) == 0;
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->b.addr,
                          (Py_ssize_t)self->b.size, readonly, flags) != 0)
        return -1;
    self->exports++;
    self->client->exports++;
    return 0;
}

static void block_releasebuffer(BlockObject *self, Py_buffer *Py_UNUSED(view))
{
    self->exports--;
    self->client->exports--;
}

static PyBufferProcs block_as_buffer = {
    .bf_getbuffer = (getbufferproc)block_getbuffer,
    .bf_releasebuffer = (releasebufferproc)block_releasebuffer,
};

static PyObject *block_get_size(BlockObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->b.size);
}

static PyObject *block_get_id(BlockObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->b.id);
}

static PyObject *block_get_readonly(BlockObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong((self->b.prot & MEMPOOL_WRITE) == 0);
}

static PyObject *block_get_released(BlockObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->released || self->client->closed);
}

static PyObject *block_repr(BlockObject *self)
{
    return PyUnicode_FromFormat("<mempool.Block id=%llu size=%zu %s%s>",
                                (unsigned long long)self->b.id, self->b.size,
                                (self->b.prot & MEMPOOL_WRITE) ? "read-write" : "read-only",
                                self->released ? " released" : "");
}

static PyMethodDef block_methods[] = {
    { "share", (PyCFunction)(void (*)(void))block_share, METH_VARARGS | METH_KEYWORDS,
      "share(readonly=True) -> Handle\n\n"
      "A handle another process attaches with; read-only unless asked." },
    { "publish", (PyCFunction)(void (*)(void))block_publish, METH_VARARGS | METH_KEYWORDS,
      "publish(name, *, readonly=True, replace=False)\n\n"
      "Puts the block under a name in its pool, read-only unless asked; the\n"
      "name lives while the block does. NameExists when the name is taken,\n"
      "unless replace (the publisher's uid or root only)." },
    { "release", (PyCFunction)block_release, METH_NOARGS,
      "release()\n\nUnmaps the block; it is freed when its last holder lets go.\n"
      "Raises BufferError while a buffer still uses it; releasing twice is\n"
      "harmless." },
    { "__enter__", (PyCFunction)block_enter_ctx, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)block_exit_ctx, METH_VARARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef block_getset[] = {
    { "size", (getter)block_get_size, NULL, "Bytes, a whole number of pages.", NULL },
    { "id", (getter)block_get_id, NULL, "The daemon-wide block id.", NULL },
    { "readonly", (getter)block_get_readonly, NULL, "True for a read-only mapping.", NULL },
    { "released", (getter)block_get_released, NULL,
      "True once released (or its client closed).", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mempool.Block",
    .tp_basicsize = sizeof(BlockObject),
    .tp_dealloc = (destructor)block_dealloc,
    .tp_repr = (reprfunc)block_repr,
    .tp_as_buffer = &block_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A block of shared memory mapped in this process.\n\n"
              "Supports the buffer protocol: memoryview(block) and\n"
              "numpy.frombuffer(block, dtype) are zero-copy views. Made by\n"
              "Client.alloc and Client.attach.",
    .tp_methods = block_methods,
    .tp_getset = block_getset,
};

/* ---- module functions -------------------------------------------------- */

static PyObject *mod_handle_format(PyObject *Py_UNUSED(m), PyObject *arg)
{
    mempool_handle h;
    char text[MEMPOOL_HANDLE_STRLEN];
    if (handle_from_object(arg, &h) != 0)
        return NULL;
    int rc = mempool_handle_format(&h, text, sizeof text);
    return rc != 0 ? raise_mempool_error(rc) : PyUnicode_FromString(text);
}

static PyObject *mod_handle_parse(PyObject *Py_UNUSED(m), PyObject *arg)
{
    mempool_handle h;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "a handle's text is a str");
        return NULL;
    }
    if (handle_from_object(arg, &h) != 0)
        return NULL;
    return PyBytes_FromStringAndSize((const char *)h.bytes, sizeof h.bytes);
}

static PyObject *mod_error_codes(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0);
#define ERROR_ITEM(name, num, text)                                            \
    if (list != NULL) {                                                        \
        PyObject *t = Py_BuildValue("(sis)", #name, -(num), text);             \
        if (t == NULL || PyList_Append(list, t) != 0)                          \
            Py_CLEAR(list);                                                    \
        Py_XDECREF(t);                                                         \
    }
    MEMPOOL_ERRNO_MAP(ERROR_ITEM)
#undef ERROR_ITEM
    return list;
}

static PyObject *mod_info_fields(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
#define INFO_NAME(f) #f,
    static const char *names[] = { INFO_FIELDS(INFO_NAME) };
#undef INFO_NAME
    size_t n = sizeof names / sizeof names[0];
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t != NULL && i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (s == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, s);
    }
    return t;
}

static PyObject *mod_default_socket(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
    const char *path = mempool_default_socket();
    if (path == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(path);
}

static PyObject *mod_register(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *classes, *base, *handle, *info;
    if (!PyArg_ParseTuple(args, "O!OOO:_register", &PyDict_Type, &classes, &base,
                          &handle, &info))
        return NULL;
    Py_INCREF(classes);
    Py_XSETREF(error_classes, classes);
    Py_INCREF(base);
    Py_XSETREF(base_error, base);
    Py_INCREF(handle);
    Py_XSETREF(handle_class, handle);
    Py_INCREF(info);
    Py_XSETREF(info_class, info);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    { "handle_format", mod_handle_format, METH_O, "The 64 hex digits of a handle's 32 bytes." },
    { "handle_parse", mod_handle_parse, METH_O, "The 32 bytes of a handle's 64 hex digits." },
    { "error_codes", mod_error_codes, METH_NOARGS,
      "[(name, code, text)] for every MEMPOOL_E* code, codes negative." },
    { "info_fields", mod_info_fields, METH_NOARGS, "mempool_info's field names, in order." },
    { "default_socket", mod_default_socket, METH_NOARGS,
      "The socket path connect() uses when given none." },
    { "_register", mod_register, METH_VARARGS,
      "_register(classes, Error, Handle, PoolInfo): called once by mempool." },
    { NULL, NULL, 0, NULL },
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mempool._mempool",
    .m_doc = "The C side of the mempool package: use mempool instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__mempool(void)
{
    if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&BlockType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddObjectRef(m, "Block", (PyObject *)&BlockType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
