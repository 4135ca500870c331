#!/usr/bin/python3
"""Linux boot: time to the init banner, Rewind against QEMU, in one run.

The guest is the one scripts/build-linux-guest builds (a small 6.1 kernel
and an initramfs whose /init prints "rewind-linux: init started", a few
lines more, and powers the machine off). Six ways to boot it, with the same
firmware (Debian's OpenSBI fw_dynamic), kernel, initramfs and machine
(-smp 1 -m 256M -append console=ttyS0):

  rewind run       BUILD/rewind run -smp 1 -m 256M -bios FW -kernel IMAGE
                   -initrd INITRAMFS -append console=ttyS0
  rewind record    BUILD/rewind record -o B ... (the same options)
  rewind replay    BUILD/rewind replay B
  qemu plain       qemu-system-riscv64 -M virt -smp 1 -m 256M -nographic
                   -net none -bios FW -kernel IMAGE -initrd INITRAMFS
                   -append console=ttyS0
  qemu record      ... -icount shift=auto,rr=record,rrfile=F
  qemu replay      ... -icount shift=auto,rr=replay,rrfile=F

For each: the wall time from starting the process to the banner appearing
on its console (stdout, read as it comes), and to the process' exit after
the guest powered off, and the process' CPU time (user + system, all its
threads; less sensitive to a loaded host); the median of --runs runs (3 by default; the six
alternate, so that load from elsewhere weighs on all alike; each replay
replays the recording made in the same round). Then the ratios Rewind/QEMU
for record and for replay, and the goals: Rewind's record beats QEMU's
record and its replay beats QEMU's replay (exit status 1 if either is
missed, or if a boot fails or a replay's console differs from its
recording's).

QEMU 7.2 records and replays this machine without any disk: a qcow2 drive
is needed only for rrsnapshot (reverse debugging, see reverse_bench.py),
and QEMU's icount with more than one vCPU hangs, hence -smp 1 everywhere.

When the kernel cannot be built (missing Debian packages), the script says
so and exits 0 (a skip).

usage: /usr/bin/python3 tests/perf/linux_boot.py [--runs N] [--no-qemu] [--json FILE]
"""

import argparse
import atexit
import json
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import children  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BANNER = b"rewind-linux: init started"
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
CONFIGS = [("rewind run", "rewind", "run"),
           ("rewind record", "rewind", "record"),
           ("rewind replay", "rewind", "replay"),
           ("qemu plain", "qemu", "run"),
           ("qemu record", "qemu", "record"),
           ("qemu replay", "qemu", "replay")]

def linux_guest(args):
    """(image, initramfs) or (None, why)."""
    if args.kernel and args.initrd:
        return (args.kernel, args.initrd), None
    script = os.path.join(ROOT, "scripts", "build-linux-guest")
    print("linux_boot: building (or finding) the Linux guest with "
          "scripts/build-linux-guest ...", flush=True)
    try:
        p = subprocess.run([script, "-q"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=args.build_timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, " ".join(err[:2]) or "exit status %d" % p.returncode
    found = {}
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        k, _, v = line.partition("=")
        if k in ("IMAGE", "VMLINUX", "INITRAMFS"):
            found[k] = v.strip()
    if "IMAGE" not in found or "INITRAMFS" not in found:
        return None, "no IMAGE= / INITRAMFS= lines in its output"
    return (found["IMAGE"], found["INITRAMFS"]), None


def boot(cmd, timeout):
    """Runs cmd; returns a dict: banner (s), total (s), cpu (user + system
    s of the process), out (bytes), err (text), rc, problem (None or text)."""
    start = time.monotonic()
    p = children.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, "out")
    sel.register(p.stderr, selectors.EVENT_READ, "err")
    out, err, banner = b"", b"", None
    open_streams = 2
    deadline = start + timeout
    problem = None
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            problem = "timeout after %.0f s" % timeout
            break
        for key, _ in sel.select(min(left, 1.0)):
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if key.data == "out":
                out += data
                if banner is None and BANNER in out:
                    banner = time.monotonic() - start
            else:
                err += data
    sel.close()
    if problem:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    _, status, usage = os.wait4(p.pid, 0)
    total = time.monotonic() - start
    rc = p.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    children.PROCS.remove(p)
    if problem is None and rc != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:]
        problem = "exit status %d%s" % (rc, ": " + tail[0][:100] if tail else "")
    if problem is None and banner is None:
        problem = "no banner on the console"
    return {"banner": banner, "total": total if problem is None else None,
            "cpu": cpu,
            "out": out, "err": err.decode("utf-8", "replace"), "rc": rc,
            "problem": problem}


def console(out):
    """The guest's console text, for comparing a replay with its recording."""
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    return text


def log_size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path) if os.path.exists(path) else None


def fmt(v, spec):
    return format(v, spec) if v is not None else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rewind", help="rewind binary (default BUILD/rewind)")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--runs", type=int, default=3,
                    help="boots per configuration, median kept (default 3)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds per boot (default 300)")
    ap.add_argument("--build-timeout", type=float, default=3600,
                    help="seconds for scripts/build-linux-guest (default 3600)")
    ap.add_argument("--bios", default=FIRMWARE,
                    help="firmware for both emulators (default %s)" % FIRMWARE)
    ap.add_argument("--kernel", help="kernel Image (with --initrd: skip the build)")
    ap.add_argument("--initrd", help="initramfs")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    children.install()

    rewind = args.rewind or os.path.join(args.build_dir, "rewind")
    if not os.access(rewind, os.X_OK):
        sys.exit("linux_boot: %s not built (ninja -C build)" % rewind)
    if not os.path.exists(args.bios):
        print("linux_boot: SKIP: firmware %s not found (Debian package opensbi)"
              % args.bios)
        return 0
    guest, why = linux_guest(args)
    if guest is None:
        print("linux_boot: SKIP: cannot build the Linux guest: %s" % why)
        return 0
    image, initrd = guest
    have_qemu = not args.no_qemu and shutil.which(args.qemu) is not None
    if not have_qemu:
        print("linux_boot: no QEMU: QEMU rows left empty")

    tmp = tempfile.mkdtemp(prefix="rewind-linuxboot-")
    atexit.register(shutil.rmtree, tmp, True)
    # private copies: a rebuild of the guest while this runs replaces the
    # cached files (and a replay needs the recording's inputs unchanged)
    print("linux_boot: kernel %s" % image)
    print("linux_boot: initramfs %s" % initrd)
    image = shutil.copy(image, os.path.join(tmp, "Image"))
    initrd = shutil.copy(initrd, os.path.join(tmp, "initramfs.cpio.gz"))
    bundle = os.path.join(tmp, "boot.bundle")
    rrfile = os.path.join(tmp, "boot.rr")
    machine = ["-smp", "1", "-m", "256M", "-bios", args.bios, "-kernel", image,
               "-initrd", initrd, "-append", "console=ttyS0"]
    qbase = [args.qemu, "-M", "virt", "-nographic", "-net", "none"] + machine
    cmds = {
        ("rewind", "run"): [rewind, "run"] + machine,
        ("rewind", "record"): [rewind, "record", "-o", bundle] + machine,
        ("rewind", "replay"): [rewind, "replay", bundle],
        ("qemu", "run"): qbase,
        ("qemu", "record"): qbase + ["-icount", "shift=auto,rr=record,rrfile=%s" % rrfile],
        ("qemu", "replay"): qbase + ["-icount", "shift=auto,rr=replay,rrfile=%s" % rrfile],
    }
    configs = [c for c in CONFIGS if c[1] == "rewind" or have_qemu]

    t_start = time.monotonic()
    got = {c[0]: {"banner": [], "total": [], "cpu": []} for c in configs}
    problems, errors = [], {}
    logs, icount = {}, None
    for i in range(max(1, args.runs)):
        recorded = {}
        for name, emu, mode in configs:
            if name in errors:
                continue
            if mode == "record":
                shutil.rmtree(bundle, ignore_errors=True)
                if os.path.exists(rrfile):
                    os.unlink(rrfile)
            if mode == "replay" and emu not in recorded:
                errors.setdefault(name, "no recording")
                continue
            r = boot(cmds[(emu, mode)], args.timeout)
            if r["problem"]:
                errors[name] = r["problem"]
                problems.append("%s: %s" % (name, r["problem"]))
                if r["err"].strip():
                    print("linux_boot: %s stderr: %s" % (
                        name, r["err"].strip().splitlines()[-1][:200]))
                continue
            got[name]["banner"].append(r["banner"])
            got[name]["total"].append(r["total"])
            got[name]["cpu"].append(r["cpu"])
            if mode == "record":
                recorded[emu] = console(r["out"])
                logs[emu] = log_size(bundle if emu == "rewind" else rrfile)
            if mode == "replay":
                if console(r["out"]) != recorded[emu]:
                    problems.append("%s: console output differs from the "
                                    "recording's (round %d)" % (name, i + 1))
                if emu == "rewind":
                    for line in r["err"].splitlines():
                        if "end of recording at icount" in line:
                            icount = int(line.split()[-1])
        print("linux_boot: round %d of %d done at %.0f s" % (
            i + 1, args.runs, time.monotonic() - t_start), flush=True)

    res = {}
    for name, _, _ in configs:
        g = got[name]
        res[name] = {k: statistics.median(g[k]) if g[k] else None
                     for k in ("banner", "total", "cpu")}
        res[name].update({"runs": len(g["total"]), "error": errors.get(name),
                          "all": g})

    def ratio(a, b, key):
        x, y = res.get(a, {}).get(key), res.get(b, {}).get(key)
        return x / y if x and y else None

    head = "%-14s | %10s | %12s | %8s | %s" % ("boot", "banner s", "power-off s",
                                               "cpu s", "")
    print()
    print(head)
    print("-" * len(head))
    for name, emu, mode in configs:
        r = res[name]
        note = ""
        if r["error"]:
            note = r["error"][:60]
        elif mode == "record" and logs.get(emu) is not None:
            note = "log %d bytes" % logs[emu]
        print("%-14s | %10s | %12s | %8s | %s" % (
            name, fmt(r["banner"], ".3f"), fmt(r["total"], ".3f"),
            fmt(r["cpu"], ".3f"), note))
    goals = []
    if have_qemu:
        print()
        for label, a, b in (("record", "rewind record", "qemu record"),
                            ("replay", "rewind replay", "qemu replay")):
            rb, rt = ratio(a, b, "banner"), ratio(a, b, "total")
            met = rb is not None and rb < 1 and rt is not None and rt < 1
            goals.append((label, met))
            print("%-6s Rewind/QEMU: banner %sx, power-off %sx: goal "
                  "(Rewind's %s beats QEMU's) %s" % (
                      label, fmt(rb, ".2f"), fmt(rt, ".2f"), label,
                      "met" if met else "MISSED"))
            if not met:
                problems.append("goal missed: Rewind's %s does not beat QEMU's" % label)
        print("run    Rewind/QEMU plain: banner %sx, power-off %sx" % (
            fmt(ratio("rewind run", "qemu plain", "banner"), ".2f"),
            fmt(ratio("rewind run", "qemu plain", "total"), ".2f")))
    print()
    print("Wall seconds from process start to the line %r on the console and to "
          "the process' exit after power-off, and the process' CPU time (user + "
          "system, all threads); median of %d runs each, the configurations alternating."
          % (BANNER.decode(), args.runs))
    if icount:
        print("The boot retires %d instructions (rewind replay's end of "
              "recording)." % icount)
    print("Machine: -smp 1 -m 256M -bios %s -append console=ttyS0; QEMU adds "
          "-M virt -nographic -net none, and -icount shift=auto,rr=record|replay,"
          "rrfile=F for record and replay." % args.bios)
    print("total %.0f s" % (time.monotonic() - t_start))
    for p in problems:
        print("PROBLEM:", p)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kernel": image, "initramfs": initrd, "runs": args.runs,
                       "results": res, "log_bytes": logs, "icount": icount,
                       "goals": dict(goals), "problems": problems}, f, indent=2)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
