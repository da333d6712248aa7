#!/usr/bin/env python3
"""The macOS workflow (.github/workflows/macos.yml), parsed with a real
YAML parser (PyYAML, Debian's python3-yaml). It cannot run here, so this
checks what can be checked without a Mac: it is valid YAML, it runs on an
Apple-silicon and an Intel runner, and its steps install the dependencies,
build and run `make test`, install the LaunchDaemon (dscl, launchctl
bootstrap system) and run e2e_darwin, a program the build defines.

Run by ctest as `macos-workflow`; prints one line per check and exits
non-zero on any failure."""

import argparse
import os
import re
import sys

import yaml

checks = []


def check(what, ok):
    checks.append((what, bool(ok)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    src = ap.parse_args().source_dir
    path = os.path.join(src, ".github/workflows/macos.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    doc = yaml.safe_load(text)
    check("a mapping", isinstance(doc, dict))
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = doc.get("on", doc.get(True))
    check("triggers on push and pull_request",
          isinstance(triggers, dict) and "push" in triggers and "pull_request" in triggers)
    jobs = doc.get("jobs", {})
    check("one job", isinstance(jobs, dict) and len(jobs) == 1)
    job = next(iter(jobs.values())) if jobs else {}
    include = job.get("strategy", {}).get("matrix", {}).get("include", [])
    runners = {(e.get("runner"), e.get("arch")) for e in include}
    check("an Apple-silicon runner (macos-14, arm64)", ("macos-14", "arm64") in runners)
    check("an Intel runner (macos-13, x86_64)", ("macos-13", "x86_64") in runners)
    check("runs-on the matrix runner", job.get("runs-on") == "${{ matrix.runner }}")
    steps = job.get("steps", [])
    check("every step has a name or uses", all("name" in s or "uses" in s for s in steps))
    runs = "\n".join(s.get("run", "") for s in steps)
    for what, pattern in [
        ("dependencies from Homebrew", r"scripts/install-deps\.sh"),
        ("make test", r"(^|\s)make test(\s|$)"),
        ("the build installed", r"sudo cmake --install build"),
        ("the user made with dscl", r"dscl \. -create /Users/_mempoold UniqueID"),
        ("launchctl bootstrap system", r"launchctl bootstrap system /Library/LaunchDaemons/org\.mempool\.mempoold\.plist"),
        ("e2e_darwin run", r"build/e2e_darwin"),
        ("the job is booted out at the end", r"launchctl bootout system/org\.mempool\.mempoold"),
    ]:
        check(what, re.search(pattern, runs, re.M))
    check("says it cannot run here", "cannot run where mempoold is developed" in text)
    with open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8") as f:
        check("e2e_darwin is a target of the build", "add_executable(e2e_darwin" in f.read())

    failed = 0
    for what, ok in checks:
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        failed += not ok
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
