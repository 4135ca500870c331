#!/usr/bin/python3
"""Snapshots kept with a recording: what they cost and what they save.

For each workload, fastest of --repeat runs (wall time, start-up included):
  record s        `rewind record -o B` without snapshots
  +snap s         the same with `--snapshot-every P` (P: about 1/20 of the
                  run, so about 20 snapshots; the initial one too)
  overhead        +snap / record - 1
  snaps, ms each  snapshots taken and the host time each took (as the
                  recorder measures it: REWIND_SNAPSHOT_STATS)
  file MiB        BUNDLE/snapshots.qcow2; RAM MiB: the machine's
  replay s        `rewind replay B` to the end
  from last s     `rewind replay B -loadvm LAST` to the end (load + the rest)

Workloads: memwalk (tests/guests, -smp 2: pages rewritten all the time),
memory and compute (tests/perf: a 16 MiB read-modify-write walk; registers
only), and the Linux boot of scripts/build-linux-guest when it is built
(-m 256M). Nothing here asserts a time: it prints figures.

usage: /usr/bin/python3 tests/perf/snapshot_bench.py [--repeat N] [--build-dir D] [names...]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def timed(cmd, env=None, timeout=600):
    t = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, timeout=timeout)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stderr.decode()[-500:]))
    return dt, p.stderr.decode()


def best(fn, repeat):
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def linux_args():
    script = os.path.join(ROOT, "scripts", "build-linux-guest")
    p = subprocess.run([script, "-q"], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    env = dict(l.split("=", 1) for l in p.stdout.split() if "=" in l)
    if "IMAGE" not in env or not os.path.exists(env["IMAGE"]):
        return None
    return ["-m", "256M", "-kernel", env["IMAGE"], "-initrd", env["INITRAMFS"],
            "-append", "console=ttyS0"], 256


def workloads(build):
    g = os.path.join(build, "tests", "guests")
    p = os.path.join(build, "tests", "perf")
    w = {
        "memwalk": (["-bios", "none", "-smp", "2", "-kernel", os.path.join(g, "memwalk.elf")],
                    128),
        "memory": (["-bios", "none", "-kernel", os.path.join(p, "memory.elf")], 128),
        "compute": (["-bios", "none", "-kernel", os.path.join(p, "compute.elf")], 128),
    }
    lin = linux_args()
    if lin:
        w["linux"] = lin
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    rewind = os.path.join(a.build_dir, "rewind")
    if not os.path.exists(rewind):
        print("snapshot_bench: %s is not built" % rewind)
        return 1
    tmp = tempfile.mkdtemp(prefix="snapbench-")
    rows = []
    try:
        for name, (args, ram) in workloads(a.build_dir).items():
            if a.names and name not in a.names:
                continue
            if not os.path.exists(args[-1]) and "linux" != name:
                print("%s: %s is not built, skipped" % (name, args[-1]))
                continue
            plain = os.path.join(tmp, name + "-plain")
            snap = os.path.join(tmp, name + "-snap")

            def rec(bundle, extra=()):
                shutil.rmtree(bundle, ignore_errors=True)
                env = dict(os.environ, REWIND_SNAPSHOT_STATS="1")
                return timed([rewind, "record", "-o", bundle, *extra, *args], env=env)
            t_rec, _ = best(lambda: rec(plain), a.repeat)
            _, err = timed([rewind, "replay", plain, "-report-icount"])
            m = re.search(r"after (\d+) instructions", err)
            insns = int(m.group(1)) if m else 0
            period = max(insns // 20, 1000)
            t_snap, err = best(lambda: rec(snap, ["--snapshot-every", str(period)]), a.repeat)
            m = re.search(r"(\d+) snapshots taken in ([0-9.]+) s", err)
            n, spent = (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)
            size = os.path.getsize(os.path.join(snap, "snapshots.qcow2"))
            t_rep, _ = best(lambda: timed([rewind, "replay", snap]), a.repeat)
            lst = subprocess.run([rewind, "snapshot", "list", snap], capture_output=True,
                                 text=True).stdout.split("\n")
            last = [l.split()[1] for l in lst[1:] if l.strip()][-1]
            t_last, _ = best(lambda: timed([rewind, "replay", snap, "-loadvm", last]),
                             a.repeat)
            rows.append((name, insns, t_rec, t_snap, n, spent, size, ram, t_rep, t_last))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    hdr = ("workload", "instructions", "record s", "+snap s", "overhead", "snaps",
           "ms each", "file MiB", "RAM MiB", "replay s", "from last s")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for (name, insns, t_rec, t_snap, n, spent, size, ram, t_rep, t_last) in rows:
        print("| %s | %.3g | %.3f | %.3f | %+.0f%% | %d | %.2f | %.1f | %d | %.3f | %.3f |"
              % (name, insns, t_rec, t_snap, 100 * (t_snap / t_rec - 1), n,
                 1000 * spent / n if n else 0, size / 2**20, ram, t_rep, t_last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
