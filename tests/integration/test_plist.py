#!/usr/bin/env python3
"""The launchd plist, read with a real plist parser (plistlib), against what
the code and the install use: the socket names the daemon asks launchd for
(daemon/activation.h), the Mach service the handoff checks in and looks up
(common/handoff.h), the socket paths and modes of the default policy
(conf/mempoold.yaml) and of the library's system socket (common/paths.h),
the installed daemon and policy paths (given by CMake), and the newsyslog
entry that rotates the log file the daemon is told to write.


the optional metrics socket (commented out; checked as an administrator
would enable it),
and the installed daemon and policy paths (given by CMake).

Run by ctest as the `plist` test; prints one line per check and a closing
"N passed, N failed" line, and exits non-zero on any failure."""

import argparse
import os
import plistlib
import re
import sys

checks = []


def check(what, got, expected):
    checks.append((what, got == expected, got, expected))


def c_string_define(path, name):
    """The string literal a header #defines `name` as."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'^#define\s+%s\s+"([^"\\]*)"' % re.escape(name), text, re.M)
    if m is None:
        sys.exit("test_plist: %s does not #define %s as a string" % (path, name))
    return m.group(1)


def policy_socket(path, section):
    """socket and mode of a top-level section of the policy file; the mode
    is octal there, as the policy documents."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^%s:\n((?:[ #].*\n|\n)*)" % re.escape(section), text, re.M)
    if m is None:
        sys.exit("test_plist: no %s section in %s" % (section, path))
    body = m.group(1)
    socket = re.search(r"^  socket:\s*(\S+)", body, re.M)
    mode = re.search(r"^  mode:\s*(0[0-7]+)", body, re.M)
    if socket is None or mode is None:
        sys.exit("test_plist: %s.socket or %s.mode missing in %s" % (section, section, path))
    return socket.group(1), int(mode.group(1), 8)


def check_socket(sockets, name, path, mode):
    entry = sockets.get(name, {})
    check("Sockets.%s.SockPathName" % name, entry.get("SockPathName"), path)
    # launchd wants an integer; a string such as "0666" would be ignored.
    check("Sockets.%s.SockPathMode is an integer" % name, type(entry.get("SockPathMode")), int)
    check("Sockets.%s.SockPathMode" % name, entry.get("SockPathMode"), mode)
    check("Sockets.%s.SockFamily" % name, entry.get("SockFamily"), "Unix")
    check("Sockets.%s.SockType" % name, entry.get("SockType"), "stream")


def check_newsyslog(path, log_file):
    """The one entry of the newsyslog conf: the daemon's log file, owned by
    its user, rotated without a signal (the daemon follows the rename)."""
    with open(path, encoding="utf-8") as f:
        entries = [l.split() for l in f if l.strip() and not l.lstrip().startswith("#")]
    check("newsyslog: one entry", len(entries), 1)
    fields = entries[0] if entries else [""] * 7
    check("newsyslog: the log file", fields[0], log_file)
    check("newsyslog: owner", fields[1], "_mempoold:_mempoold")
    check("newsyslog: mode", fields[2], "640")
    check("newsyslog: count and size are numbers", fields[3].isdigit() and fields[4].isdigit(), True)
    check("newsyslog: flags say no signal", "N" in fields[6] if len(fields) > 6 else False, True)


def enable_metrics(text):
    """The plist as an administrator makes it after following the comment
    of the metrics socket: its first three lines and its last one deleted."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if "<!-- metrics:" in l), None)
    end = next((i for i, l in enumerate(lines) if "end of metrics -->" in l), None)
    if start is None or end is None or end < start + 3:
        sys.exit("test_plist: no commented metrics socket in the plist")
    return "".join(lines[:start] + lines[start + 3:end] + lines[end + 1:])


def check_metrics_socket(plist_text, metrics_name):
    plist = plistlib.loads(enable_metrics(plist_text).encode(), fmt=plistlib.FMT_XML)
    entry = plist.get("Sockets", {}).get(metrics_name, {})
    check("metrics enabled: Sockets.%s.SockNodeName" % metrics_name, entry.get("SockNodeName"),
          "127.0.0.1")
    # launchd takes the port as a string (a service name or a number).
    check("metrics enabled: Sockets.%s.SockServiceName" % metrics_name,
          entry.get("SockServiceName"), "9464")
    check("metrics enabled: Sockets.%s.SockFamily" % metrics_name, entry.get("SockFamily"), "IPv4")
    check("metrics enabled: Sockets.%s.SockType" % metrics_name, entry.get("SockType"), "stream")
    check("metrics enabled: the other sockets stay", len(plist.get("Sockets", {})), 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plist", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--daemon", required=True, help="the installed mempoold")
    ap.add_argument("--policy", required=True, help="the installed policy file")
    args = ap.parse_args()
    src = args.source_dir

    with open(args.plist, "rb") as f:
        plist_text = f.read().decode("utf-8")
    plist = plistlib.loads(plist_text.encode(), fmt=plistlib.FMT_XML)

    client_name = c_string_define(os.path.join(src, "daemon/activation.h"), "ACTIVATION_CLIENT_SOCKET")
    admin_name = c_string_define(os.path.join(src, "daemon/activation.h"), "ACTIVATION_ADMIN_SOCKET")
    metrics_name = c_string_define(os.path.join(src, "daemon/activation.h"),
                                   "ACTIVATION_METRICS_SOCKET")
    mach_service = c_string_define(os.path.join(src, "common/handoff.h"), "MEMPOOL_MACH_SERVICE")
    socket_file = c_string_define(os.path.join(src, "common/paths.h"), "MEMPOOL_SOCKET_FILE")
    policy = os.path.join(src, "conf/mempoold.yaml")
    client_path, client_mode = policy_socket(policy, "listen")
    admin_path, admin_mode = policy_socket(policy, "admin")

    check("Label", plist.get("Label"), "org.mempool.mempoold")
    log_file = plist.get("StandardErrorPath", "")
    check("ProgramArguments", plist.get("ProgramArguments"),
          [args.daemon, "-c", args.policy, "--log-file", log_file])
    check("ProcessType", plist.get("ProcessType"), "Standard")
    check_newsyslog(os.path.join(src, "launchd/org.mempool.mempoold.newsyslog.conf"), log_file)
    sockets = plist.get("Sockets", {})
    check("Sockets names", sorted(sockets), sorted([client_name, admin_name]))
    check_socket(sockets, client_name, client_path, client_mode)
    check_socket(sockets, admin_name, admin_path, admin_mode)
    # The library's system socket, where clients look when nothing else is
    # set, is the one launchd makes.
    check("client socket is the library's system socket",
          sockets.get(client_name, {}).get("SockPathName"), "/var/run/" + socket_file)
    check_metrics_socket(plist_text, metrics_name)
    check("MachServices", plist.get("MachServices"), {mach_service: True})
    check("KeepAlive", plist.get("KeepAlive"), True)
    check("RunAtLoad", plist.get("RunAtLoad"), True)
    check("StandardErrorPath is absolute", os.path.isabs(plist.get("StandardErrorPath", "")), True)
    check("UserName", plist.get("UserName"), "_mempoold")
    check("GroupName", plist.get("GroupName"), "_mempoold")

    failed = 0
    for what, ok, got, expected in checks:
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        if not ok:
            print("    got      %r\n    expected %r" % (got, expected))
            failed += 1
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
