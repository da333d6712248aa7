#!/bin/sh
# Installs what mempoold needs to build and test, and nothing that is
# already there: on Debian/Ubuntu with apt-get (as root, or through sudo),
# on macOS with Homebrew. Extra apt package names given as arguments are
# installed too (the fuzzing and cross-build targets use that).
#   sh scripts/install-deps.sh [PACKAGE...]
#   sh scripts/install-deps.sh --list debian|brew   print the lists, install nothing
#
# The lists below are the only place packages are named: add new ones
# there. The README's list (under "The two commands") must match them;
# the test readme.deps compares the two.
set -eu

# ---- Debian 12 (apt package names) -------------------------------------------
# The build: a compiler with its C library headers and start files (gcc
# only recommends libc6-dev), make, CMake, pkg-config, the libraries.
debian_packages="gcc libc6-dev make cmake pkg-config libuv1-dev libyaml-dev"
# The tests: Check, jansson (the admin suite's JSON), Python (the plist
# test), man-db and groff (man pages render), binutils (nm and readelf on
# libmempool), socat (the admin socket by hand, as the docs show).
# systemd is not installed: the units are verified where systemd-analyze
# is already there, and reported skipped elsewhere.
debian_packages="$debian_packages check libjansson-dev python3 man-db groff-base binutils socat"
# The macOS workflow's test parses .github/workflows/macos.yml with PyYAML.
debian_packages="$debian_packages python3-yaml"
# The Python binding (python/): built in a venv of Debian's python3, with
# setuptools, wheel (pip builds the package as one), numpy and pytest from
# Debian (no package index is reached).
debian_packages="$debian_packages python3-dev python3-venv python3-setuptools python3-wheel python3-numpy python3-pytest"
# promtool, which checks the metrics text (integration.metrics_http.promtool),
# comes only inside Debian's prometheus package, whose server would start
# and listen on every address once installed. So that package is not
# installed: fetch_promtool unpacks promtool alone into this tree's
# .tools/bin, where the test looks for it.

# ---- macOS (Homebrew formulae) ------------------------------------------------
# The compiler, make and Python come with the Command Line Tools, which
# Homebrew itself needs. Homebrew's prometheus has promtool too (its
# server runs only if asked, with `brew services`).
brew_packages="cmake pkg-config libuv libyaml check jansson socat prometheus"

missing_debian() {
    for p in $debian_packages "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
    done
}

install_debian() {
    missing=$(missing_debian "$@")
    [ -z "$missing" ] && return 0
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "install-deps: run as root, or install sudo, to install:" $missing >&2
            exit 1
        }
        sudo="sudo"
    fi
    echo "install-deps: installing" $missing
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# promtool from Debian's prometheus package, unpacked into .tools/bin of
# this tree; nothing is installed system-wide. A download that fails leaves
# the promtool check skipped, and says so.
fetch_promtool() {
    tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/bin"
    { command -v promtool || [ -x "$tools/promtool" ]; } >/dev/null 2>&1 && return 0
    tmp=$(mktemp -d)
    chmod 0755 "$tmp" # apt's download sandbox user writes here
    if (cd "$tmp" && apt-get download -qq prometheus) >/dev/null 2>&1 &&
        dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool; then
        mkdir -p "$tools"
        mv "$tmp/usr/bin/promtool" "$tools/promtool"
        echo "install-deps: promtool unpacked into $tools"
    else
        echo "install-deps: could not fetch promtool; integration.metrics_http.promtool will be skipped" >&2
    fi
    rm -rf "$tmp"
}

install_macos() {
    xcode-select -p >/dev/null 2>&1 || {
        echo "install-deps: the Command Line Tools are needed: xcode-select --install" >&2
        exit 1
    }
    command -v brew >/dev/null || { echo "install-deps: Homebrew is needed (https://brew.sh)" >&2; exit 1; }
    for p in $brew_packages; do
        brew list --versions "$p" >/dev/null 2>&1 || brew install "$p"
    done
}

if [ "${1:-}" = --list ]; then
    case "${2:-}" in
    debian) echo $debian_packages ;;
    brew) echo $brew_packages ;;
    *) echo "usage: install-deps.sh --list debian|brew" >&2; exit 2 ;;
    esac
    exit 0
fi

case "$(uname -s)" in
Linux)
    command -v apt-get >/dev/null || { echo "install-deps: no apt-get; install: $debian_packages" >&2; exit 1; }
    install_debian "$@"
    fetch_promtool ;;
Darwin) install_macos ;;
*) echo "install-deps: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
