#!/usr/bin/python3
"""Run a guest program under an emulator and check its console output.

usage: run_guest.py [options] -- COMMAND [ARG...]

The command runs --runs times (default 2). Every run must exit with status
0 and print, in order, every line listed in the --expect file (blank lines
and lines starting with '#' are ignored; trailing blanks do not matter).
With --deterministic (default) the outputs of all runs must be identical.
--stdin FILE feeds the guest console from FILE.

An expect line "@TAG text" is required only when --tag TAG is given (lines
with other tags are ignored), so one file can hold what differs between
emulators. --scratch-disk SIZE creates, for each run, a raw disk image of
SIZE bytes (K/M suffixes) in a fresh temporary folder and replaces @DISK@ in
the command's arguments with its path; byte o of the image is
(o * 7 + (o >> 9) * 13 + 1) & 0xff, except the first 16, which are
"rewind-virtio-0\n" (virtio_garbage.c checks sector 0).

Exit status: 0 pass, 1 fail, 77 skip (emulator missing), for meson.
"""

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time


def load_expect(path, tags=()):
    lines = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@"):
                tag, _, rest = line[1:].partition(" ")
                if tag not in tags:
                    continue
                line = rest
            lines.append(line.rstrip())
    return lines


DISK_TAG = b"rewind-virtio-0\n"


def parse_size(text):
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * mult


def write_scratch_disk(path, size):
    """The pattern virtio_garbage.c expects (see the module docstring)."""
    with open(path, "wb") as f:
        for s in range((size + 511) // 512):
            base = s * 512
            # (o * 7 + (o >> 9) * 13 + 1) & 0xff for o in this sector
            data = bytearray(((base + i) * 7 + s * 13 + 1) & 0xff for i in range(512))
            if s == 0:
                data[:len(DISK_TAG)] = DISK_TAG
            f.write(data[:min(512, size - base)])


def normalise(data):
    text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_expected(output, expected):
    """Return None, or the first expected line not found (in order)."""
    got = [l.rstrip() for l in output.split("\n")]
    pos = 0
    for want in expected:
        while pos < len(got) and got[pos] != want:
            pos += 1
        if pos == len(got):
            return want
        pos += 1
    return None


def show(title, text, limit=200):
    lines = text.split("\n")
    print("----- %s (%d lines) -----" % (title, len(lines)))
    if len(lines) > limit:
        print("\n".join(lines[:limit // 2]))
        print("... [%d lines omitted] ..." % (len(lines) - limit))
        print("\n".join(lines[-limit // 2:]))
    else:
        print(text)
    print("----- end of %s -----" % title)


def run_once(cmd, stdin_path, timeout, scratch_disk=None):
    if scratch_disk:
        with tempfile.TemporaryDirectory(prefix="rewind-guest-") as tmp:
            disk = os.path.join(tmp, "disk.img")
            write_scratch_disk(disk, scratch_disk)
            cmd = [a.replace("@DISK@", disk) for a in cmd]
            return run_once(cmd, stdin_path, timeout)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            rc = None
    finally:
        if stdin_path:
            stdin.close()
    return rc, normalise(out), normalise(err), time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expect", help="file of required output lines")
    ap.add_argument("--stdin", help="file fed to the guest console")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--deterministic", dest="deterministic", action="store_true",
                    default=True, help="outputs of all runs must match (default)")
    ap.add_argument("--no-deterministic", dest="deterministic",
                    action="store_false")
    ap.add_argument("--timeout", type=float, default=25.0,
                    help="seconds per run")
    ap.add_argument("--name", default=None, help="label for messages")
    ap.add_argument("--tag", action="append", default=[],
                    help="also require the expect lines marked @TAG")
    ap.add_argument("--scratch-disk", metavar="SIZE", default=None,
                    help="make a patterned raw disk image per run; @DISK@ "
                         "in the command is its path")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()

    cmd = args.command
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        ap.error("no command given")
    if shutil.which(cmd[0]) is None and not os.path.exists(cmd[0]):
        print("SKIP: %s not found" % cmd[0])
        return 77
    name = args.name or os.path.basename(cmd[-1])
    expected = load_expect(args.expect, args.tag) if args.expect else []
    scratch_disk = parse_size(args.scratch_disk) if args.scratch_disk else None

    print("command:", " ".join(cmd))
    if args.stdin:
        print("stdin:", args.stdin)
    outputs = []
    ok = True
    for i in range(max(1, args.runs)):
        rc, out, err, secs = run_once(cmd, args.stdin, args.timeout, scratch_disk)
        print("run %d: exit %s, %.2f s, %d bytes of output"
              % (i + 1, "TIMEOUT" if rc is None else rc, secs, len(out)))
        problems = []
        if rc is None:
            problems.append("timed out after %.0f s" % args.timeout)
        elif rc != 0:
            problems.append("exit status %d (guest failure code or "
                            "emulator error)" % rc)
        missing = check_expected(out, expected)
        if missing is not None:
            problems.append("expected line not found (in order): %r" % missing)
        if problems:
            ok = False
            for p in problems:
                print("FAIL [%s run %d]: %s" % (name, i + 1, p))
            show("stdout", out)
            if err.strip():
                show("stderr", err)
            break
        # stderr too: Rewind's -report-icount line makes the final
        # instruction count part of what must not change between runs
        outputs.append(out + ("\n----- stderr -----\n" + err if err.strip() else ""))

    if ok and args.deterministic and len(outputs) > 1:
        for i in range(1, len(outputs)):
            if outputs[i] != outputs[0]:
                ok = False
                print("FAIL [%s]: output of run %d differs from run 1"
                      % (name, i + 1))
                diff = difflib.unified_diff(
                    outputs[0].split("\n"), outputs[i].split("\n"),
                    "run 1", "run %d" % (i + 1), lineterm="")
                print("\n".join(list(diff)[:200]))
                break

    if ok:
        print("PASS [%s]: %d run(s), %d expected line(s)%s"
              % (name, len(outputs), len(expected),
                 ", identical output" if args.deterministic and len(outputs) > 1
                 else ""))
        if outputs:
            show("stdout", outputs[0], limit=60)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
