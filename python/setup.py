"""Builds mempool._mempool against libmempool.

Where the library comes from, first match wins:
  1. $MEMPOOL_BUILD_DIR: a CMake build tree of this project; the extension
     links its static libmempool.a, so it needs nothing at run time.
  2. ../build, when a build there has libmempool.a (after `make`).
  3. pkg-config mempool (after `make install`): links the shared library.
$MEMPOOL_SANITIZE=1 adds AddressSanitizer and UBSan flags, for a build tree
made with -DMEMPOOL_SANITIZE=ON.
"""
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
# The project's source tree: python/'s parent, unless the package is built
# from a copy (the tests do, from CTest) that names it.
SOURCE_TREE = os.environ.get("MEMPOOL_SOURCE_DIR") or os.path.dirname(HERE)


def from_build_tree(build_dir):
    archive = os.path.join(build_dir, "libmempool.a")
    if not os.path.exists(archive):
        sys.exit(f"setup.py: {archive} is missing: build the project first (make)")
    return {
        "include_dirs": [os.path.join(SOURCE_TREE, "client", "include")],
        "extra_objects": [archive],
        "libraries": ["pthread"],
    }


def from_pkg_config():
    def ask(*args):
        out = subprocess.run(["pkg-config", *args, "mempool"], check=True,
                             capture_output=True, text=True).stdout
        return shlex.split(out)
    cflags, libs = ask("--cflags"), ask("--libs")
    return {
        "include_dirs": [f[2:] for f in cflags if f.startswith("-I")],
        "library_dirs": [f[2:] for f in libs if f.startswith("-L")],
        "libraries": [f[2:] for f in libs if f.startswith("-l")],
    }


def library_flags():
    build_dir = os.environ.get("MEMPOOL_BUILD_DIR")
    if build_dir:
        return from_build_tree(os.path.abspath(build_dir))
    default_build = os.path.join(SOURCE_TREE, "build")
    if os.path.exists(os.path.join(default_build, "libmempool.a")):
        return from_build_tree(default_build)
    try:
        return from_pkg_config()
    except (OSError, subprocess.CalledProcessError):
        sys.exit("setup.py: libmempool not found: build the project (make) and "
                 "set MEMPOOL_BUILD_DIR, or install it (make install) so that "
                 "pkg-config finds mempool")


flags = library_flags()
compile_args = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
link_args = []
if os.environ.get("MEMPOOL_SANITIZE") == "1":
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    compile_args += sanitize
    link_args += sanitize

setup(
    ext_modules=[
        Extension(
            "mempool._mempool",
            sources=["mempool/_mempool.c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            **flags,
        )
    ],
)
