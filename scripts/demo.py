#!/usr/bin/env python3
"""The demo, in two parts.

1. Boots Debian's OpenSBI and U-Boot on Rewind's virt board, stops U-Boot's
   autoboot, asks for its version and powers off.
2. Reverse debugging: records tests/guests/corrupt.c, a small sensor logger
   whose last reading silently overwrites its configured limit, then replays
   the recording under gdb-multiarch (batch mode, from a script): stop where
   the program notices, watch the limit, reverse-continue, and GDB lands on
   the faulty store and prints its source line.

Every command is printed as it runs ("$ ..."), so the output reads like
docs/walkthrough.md. Needs no terminal: free ports, timeouts, and the
processes it starts are killed on the way out.

usage: scripts/demo.py [--bundle DIR] [--skip-uboot]
Exit status 0 when GDB landed on the faulty store, 1 otherwise."""
import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_console import GuestConsole  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("REWIND_BUILD", os.path.join(ROOT, "build"))
REWIND = os.path.join(BUILD, "rewind")
GUEST = os.path.join(BUILD, "tests", "guests", "corrupt.elf")
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"

# The line of corrupt.c that GDB must land on, and the value it wrote.
FAULTY_LINE = "sensor_log.slot[i + 1].tag = tag;      /* BUG: i + 1 runs past the end */"

GDB_SCRIPT = """\
set trace-commands on
set pagination off
set confirm off
target remote :{port}
break check_config
continue
print sensor_log.limit
print/x sensor_log.limit
x/4c &sensor_log.limit
watch -l sensor_log.limit
reverse-continue
bt
print i
print sizeof sensor_log.slot / sizeof sensor_log.slot[0]
print &sensor_log.slot[i + 1] == (void *) &sensor_log.limit
list store_reading
reverse-continue
print sensor_log.limit
kill
"""


def short(path):
    """A path as a person in the project's folder would type it."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def show_command(argv):
    print("$ " + " ".join(shlex.quote(short(a)) for a in argv), flush=True)


def heading(text):
    print(f"\n==== {text} ====\n", flush=True)


def run(argv, timeout=60):
    """Runs a command as the transcript shows it; returns (status, output)."""
    show_command(argv)
    r = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = r.stdout.decode(errors="replace")
    sys.stdout.write(out)
    sys.stdout.flush()
    return r.returncode, out


def uboot_readable(transcript):
    """The console as a person would have seen it, without the markers
    uboot_command() types to find where each command's output ends."""
    lines = []
    for line in transcript.splitlines(keepends=True):
        if line.startswith("@@done-") or "setenv rw_mark" in line:
            continue
        lines.append(re.sub(r"; echo @@\$\{rw_mark\}-\d+", "", line))
    return "".join(lines)


def part_uboot():
    heading("Part 1: OpenSBI and U-Boot on Rewind's virt board")
    if not (os.path.exists(FW_JUMP) and os.path.exists(UBOOT)):
        print("(skipped: Debian's opensbi / u-boot-qemu are not installed)")
        return 0
    argv = [REWIND, "run", "-nographic", "-smp", "2", "-bios", FW_JUMP, "-kernel", UBOOT]
    show_command(argv)
    con = GuestConsole(argv)
    status = None
    try:
        con.expect("Hit any key to stop autoboot")
        con.sendline("")
        con.expect("=> ")
        con.uboot_command("version")
        con.sendline("poweroff")
        status = con.wait(30)
    finally:
        con.close()
        sys.stdout.write(uboot_readable(con.text()))
    print(f"\n[rewind exited with status {status}]")
    return 0 if status == 0 else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether something listens on TCP port (Linux's /proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(":%04X" % port) and fields[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def wait_listening(proc, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if listening(port):
            return True
        time.sleep(0.05)
    # no /proc/net? GDB retries a refused connection for a while anyway
    return proc.poll() is None


def stop(proc):
    """Ends a process this script started (and its children)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def gdb_readable(out):
    """GDB's batch output with the commands shown as typed at its prompt:
    trace-commands echoes each as '+cmd', and reverse-continue once more as
    the 'continue' it runs backwards."""
    lines, previous = [], None
    for line in out.splitlines():
        if line.startswith("+"):
            cmd = line[1:].rstrip()
            if previous == "reverse-continue" and cmd == "continue":
                continue
            previous = cmd
            if cmd in ("set pagination off", "set confirm off"):
                continue    # batch-mode settings, not part of the story
            lines.append(f"(gdb) {cmd}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def part_reverse(bundle):
    heading("Part 2: record a buggy guest, then walk it backwards with GDB")
    print("tests/guests/corrupt.c keeps 8 readings in sensor_log.slot[8], but slot 0 is\n"
          "a header, so reading i goes to slot i + 1 and the last one lands past the\n"
          "end. The program only notices at the very end. Record it once:\n")
    if os.path.isdir(bundle):
        shutil.rmtree(bundle)
    status, _ = run([REWIND, "record", "-o", bundle, "-bios", "none", "-kernel", GUEST])
    if status != 0:
        print(f"[rewind record exited with status {status}]")
        return 1
    print()
    run(["du", "-sh", bundle])
    run([REWIND, "info", bundle])

    print("\nReplay it with a GDB stub, waiting for GDB (-S), in the background:\n")
    port = free_port()
    base = bundle[:-len(".bundle")] if bundle.endswith(".bundle") else bundle
    script = base + ".gdb"
    replay_log = base + ".replay.log"
    argv = [REWIND, "replay", bundle, "-S", "-gdb", f"tcp::{port}", "-serial", "null"]
    print("$ " + " ".join(shlex.quote(short(a)) for a in argv) + " &", flush=True)
    replay = None
    try:
        with open(replay_log, "wb") as log:
            replay = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_listening(replay, port):
            print(f"[rewind replay did not start: status {replay.poll()}]")
            with open(replay_log, errors="replace") as f:
                sys.stdout.write(f.read())
            return 1

        print("\nThe GDB script: stop where the program notices, look at the limit, watch\n"
              "it, and run backwards to the store that last wrote it:\n")
        with open(script, "w") as f:
            f.write(GDB_SCRIPT.format(port=port))
        run(["cat", script])
        print()
        gdb = shutil.which("gdb-multiarch")
        if not gdb:
            print("[gdb-multiarch is not installed: ./rewind.sh setup installs it]")
            return 1
        argv = [gdb, "-batch", "-nx", "-x", script, GUEST]
        show_command(["gdb-multiarch"] + argv[1:])
        try:
            r = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            out = r.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") + "\n[gdb timed out]\n"
        sys.stdout.write(gdb_readable(out))
        try:
            replay.wait(10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        stop(replay)
    with open(replay_log, errors="replace") as f:
        tail = f.read().strip()
    if tail:
        print(f"\n[rewind replay, on stderr: {tail}]")

    landed = FAULTY_LINE in out and "Old value = 1380929348" in out and "New value = 16" in out
    if landed:
        where = re.search(r"in (\w+) \(.*\) at \S*?([\w.]+:\d+)\n", out)
        where = f"{where.group(1)}() at {where.group(2)}" if where else "store_reading()"
        print("\nreverse-continue stopped on the store that wrote the limit: "
              f"{where},\nwith i = 7, so slot[i + 1] is slot[8], one past the end of the "
              "8-slot array:\nthe limit's address. Going backwards, GDB's \"Old value\" is "
              "where we came\nfrom and \"New value\" the value before the store. The "
              "second reverse-continue\nran back to the start of the recording: nothing "
              "else ever wrote the limit.\ndocs/walkthrough.md does the same by hand.")
    else:
        print("\n[the GDB session did not land on the faulty store]")
    return 0 if landed else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="/tmp/rewind-demo.bundle",
                    help="where to record (default /tmp/rewind-demo.bundle)")
    ap.add_argument("--skip-uboot", action="store_true", help="only the reverse-debugging part")
    args = ap.parse_args()
    for path in (REWIND, GUEST):
        if not os.path.exists(path):
            print(f"demo: {short(path)} is missing; run ./rewind.sh setup", file=sys.stderr)
            return 2
    status = 0 if args.skip_uboot else part_uboot()
    return part_reverse(os.path.abspath(args.bundle)) or status


if __name__ == "__main__":
    sys.exit(main())
