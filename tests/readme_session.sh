#!/bin/sh
# The README's example session (under "Admin commands") is what the daemon
# prints: its commands are run against the built mempoold on
# conf/mempoold.yaml (the sockets moved to a temporary folder), with
# build/example_share holding its block as the README says, and each
# reply is compared with the README's. What changes from run to run
# (pids, uids, times, RSS) is masked on both sides, and runs of spaces
# are one, since a table's columns widen with its figures.
#   usage: readme_session.sh README BUILD_DIR POLICY
# Exit 77 (skipped) without socat, which the session uses.
set -eu
readme=$1
build=$2
policy=$3
command -v socat >/dev/null || { echo "readme_session: socat not installed: skipped"; exit 77; }

work=$(mktemp -d /tmp/mempool-readme-XXXXXX)
daemon_pid=
holder_pid=
cleanup() {
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    [ -z "$daemon_pid" ] || kill -TERM "$daemon_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The session: the console block after "An example session".
awk '/^An example session/ { on = 1 } on && /^```console/ { block = 1; next }
     block && /^```/ { exit } block { print }' "$readme" >"$work/session"
[ -s "$work/session" ] || { echo "readme_session: no example session in $readme" >&2; exit 1; }

sed -e "s|^\( *socket:\) /var/run/mempoold.sock|\1 $work/mempoold.sock|" \
    -e "s|^\( *socket:\) /var/run/mempoold.admin.sock|\1 $work/admin.sock|" "$policy" >"$work/policy.yaml"
"$build/mempoold" -c "$work/policy.yaml" 2>"$work/mempoold.log" &
daemon_pid=$!
export MEMPOOL_SOCKET="$work/mempoold.sock" MEMPOOL_ADMIN_SOCKET="$work/admin.sock"
tries=0
until "$build/mempoolctl" version >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -le 300 ] && kill -0 "$daemon_pid" 2>/dev/null ||
        { cat "$work/mempoold.log" >&2; echo "readme_session: mempoold did not start" >&2; exit 1; }
    sleep 0.1
done

# The second shell: the example holds its block until its stdin says so.
mkfifo "$work/hold"
"$build/example_share" <"$work/hold" >"$work/handle" 2>&1 &
holder_pid=$!
exec 3>"$work/hold"
tries=0
until [ -s "$work/handle" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || { echo "readme_session: example_share printed no handle" >&2; exit 1; }
    sleep 0.1
done

# The third shell: each command as written, build/ being this build.
mkdir "$work/top"
ln -s "$build" "$work/top/build"
expected=$work/expected
actual=$work/actual
: >"$expected"
: >"$actual"
while IFS= read -r line; do
    case "$line" in
    '$ '*)
        cmd=${line#\$ }
        echo "\$ $cmd" >>"$actual"
        (cd "$work/top" && sh -c "$(echo "$cmd" | sed "s|/var/run/mempoold.admin.sock|$work/admin.sock|g")") \
            >>"$actual" 2>&1 || true
        echo "$line" >>"$expected" ;;
    *) echo "$line" >>"$expected" ;;
    esac
done <"$work/session"
exec 3>&-

mask() {
    sed -E -e 's/"uid":[0-9]+/"uid":N/g' \
        -e 's/^(uptime|pid|rss) .*/\1 N/' \
        -e 's/^([0-9]+) +[0-9]+ +[0-9]+ +[0-9]+ /\1 PID UID GID /' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/TIME/g' \
        -e 's/  +/ /g' "$1"
}
mask "$expected" >"$expected.masked"
mask "$actual" >"$actual.masked"
if ! diff -u "$expected.masked" "$actual.masked" >"$work/diff"; then
    echo "readme_session: the README's session differs from what mempoold prints (-: README, +: now):"
    tail -n +3 "$work/diff"
    exit 1
fi
echo "readme_session: the README's session is what mempoold prints"
