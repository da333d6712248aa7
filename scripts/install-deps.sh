#!/bin/sh
# Installs what mempoold needs to build and test, and nothing that is
# already there: on Debian/Ubuntu with apt-get (as root, or through sudo),
# on macOS with Homebrew.
set -eu

debian_packages="cmake make gcc pkg-config libuv1-dev libyaml-dev check libjansson-dev python3"
# The install tests: man pages rendered by man-db and groff, libmempool's
# exports read with nm and readelf. systemd is not installed for them:
# they verify the units with systemd-analyze where it is already there.
debian_packages="$debian_packages man-db groff-base binutils"
# The Python binding (python/): built in a venv of Debian's python3, with
# setuptools, numpy and pytest from Debian (no package index is reached).
debian_packages="$debian_packages python3-dev python3-venv python3-setuptools python3-numpy python3-pytest"
brew_packages="cmake pkg-config libuv libyaml check jansson"

missing_debian() {
    for p in $debian_packages "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
    done
}

install_debian() {
    missing=$(missing_debian "$@")
    [ -z "$missing" ] && return 0
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "install-deps: installing" $missing
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

install_macos() {
    command -v brew >/dev/null || { echo "install-deps: Homebrew is needed (https://brew.sh)" >&2; exit 1; }
    for p in $brew_packages; do
        brew list --versions "$p" >/dev/null 2>&1 || brew install "$p"
    done
}

case "$(uname -s)" in
Linux)
    command -v apt-get >/dev/null || { echo "install-deps: no apt-get; install: $debian_packages" >&2; exit 1; }
    install_debian "$@" ;;
Darwin) install_macos ;;
*) echo "install-deps: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
