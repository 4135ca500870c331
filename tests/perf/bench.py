#!/usr/bin/python3
"""Rewind vs QEMU speed on three bare-metal workloads.

For each workload ELF (tests/perf/*.c, built by meson into
BUILD/tests/perf/W.elf) this runs

    BUILD/rewind run -bios none -kernel W.elf
    qemu-system-riscv64 -machine virt -bios none -nographic -icount shift=0 -kernel W.elf
    qemu-system-riscv64 -machine virt -bios none -nographic -kernel W.elf

measures wall time and prints MIPS = guest instructions / wall seconds, and
the ratios Rewind/QEMU-icount and Rewind/QEMU. The guest prints the number
of instructions it retired (minstret). Plain QEMU's minstret follows the
host clock, not instructions, so the count measured under -icount (the
program is deterministic) is used for the plain QEMU column. The wall time
of an empty guest is subtracted as start-up cost (--no-baseline to keep it).

usage: python3 tests/perf/bench.py [--build-dir build] [--repeat N] [WORKLOAD...]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GUEST_LIB = os.path.join(ROOT, "tests", "guests", "lib")
WORKLOADS = ["compute", "memory", "branchy"]
CFLAGS = ["-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany", "-O2", "-g",
          "--specs=picolibc.specs", "-DPICOLIBC_INTEGER_PRINTF_SCANF",
          "-nostartfiles", "-static"]


def build_missing(names, outdir):
    """Build workload ELFs with the cross compiler when meson has not."""
    cc = shutil.which("riscv64-unknown-elf-gcc")
    if not cc:
        sys.exit("bench: %s.elf not built and riscv64-unknown-elf-gcc not "
                 "found; run 'ninja -C build' first" % names[0])
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    for n in names:
        out = os.path.join(outdir, n + ".elf")
        srcs = [os.path.join(GUEST_LIB, f) for f in ("crt0.S", "trap.S", "rt.c")]
        srcs.append(os.path.join(HERE, n + ".c"))
        cmd = [cc] + CFLAGS + ["-I" + GUEST_LIB, "-I" + HERE, "-T",
                               os.path.join(GUEST_LIB, "link.ld"), "-o", out] + srcs
        subprocess.run(cmd, check=True)
        paths[n] = out
    return paths


def run(cmd, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timeout after %.0f s" % timeout
    secs = time.monotonic() - start
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        return None, out, "exit status %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace").strip()[-300:])
    return secs, out, ""


def parse(out):
    insns = re.search(r"^instructions: (\d+)", out, re.M)
    csum = re.search(r"^checksum: (0x[0-9a-f]+)", out, re.M)
    return (int(insns.group(1)) if insns else None,
            csum.group(1) if csum else None)


def best_of(cmd, repeat, timeout):
    """Fastest of `repeat` runs: (seconds, output) or (None, error)."""
    best, best_out = None, ""
    for _ in range(repeat):
        secs, out, err = run(cmd, timeout)
        if secs is None:
            return None, err
        if best is None or secs < best:
            best, best_out = secs, out
    return best, best_out


def fmt(v, spec):
    return format(v, spec) if v is not None else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", default=WORKLOADS)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rewind", help="rewind binary (default BUILD/rewind)")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per measurement, fastest kept (default 1)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not subtract the empty guest's wall time")
    ap.add_argument("--no-rewind", action="store_true")
    ap.add_argument("--accel", choices=["jit", "interp"], default="jit",
                    help="Rewind's -accel (default jit)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    rewind = args.rewind or os.path.join(args.build_dir, "rewind")
    have_rewind = not args.no_rewind and os.access(rewind, os.X_OK)
    have_qemu = shutil.which(args.qemu) is not None
    if not have_rewind:
        print("bench: %s not found: Rewind columns left empty" % rewind)
    if not have_qemu:
        print("bench: %s not found: QEMU columns left empty" % args.qemu)

    names = list(args.workloads)
    if not args.no_baseline:
        names.append("empty")
    elfs, missing = {}, []
    for n in names:
        p = os.path.join(args.build_dir, "tests", "perf", n + ".elf")
        if os.path.exists(p):
            elfs[n] = p
        else:
            missing.append(n)
    if missing:
        tmp = tempfile.mkdtemp(prefix="rewind-bench-")
        print("bench: building %s in %s" % (", ".join(missing), tmp))
        elfs.update(build_missing(missing, tmp))

    emus = {}
    if have_rewind:
        emus["rewind"] = lambda elf: [rewind, "run", "-accel", args.accel,
                                      "-bios", "none", "-kernel", elf]
    if have_qemu:
        q = [args.qemu, "-machine", "virt", "-bios", "none", "-nographic"]
        emus["qemu-icount"] = lambda elf: q + ["-icount", "shift=0", "-kernel", elf]
        emus["qemu"] = lambda elf: q + ["-kernel", elf]

    baseline = {e: 0.0 for e in emus}
    if not args.no_baseline:
        for e, mk in emus.items():
            secs, out = best_of(mk(elfs["empty"]), max(args.repeat, 3),
                                args.timeout)
            if secs is None:
                print("bench: empty guest failed under %s: %s" % (e, out))
            else:
                baseline[e] = secs
        print("start-up baseline (empty guest, subtracted): " + ", ".join(
            "%s %.3f s" % (e, s) for e, s in baseline.items()))

    results, problems = [], []
    for w in args.workloads:
        r = {"workload": w}
        for e, mk in emus.items():
            secs, out = best_of(mk(elfs[w]), args.repeat, args.timeout)
            if secs is None:
                problems.append("%s under %s: %s" % (w, e, out))
                continue
            insns, csum = parse(out)
            r[e] = {"wall": secs, "net": max(secs - baseline[e], 1e-3),
                    "minstret": insns, "checksum": csum}
        # instruction count: from Rewind or QEMU -icount (exact counters)
        counts = {e: r[e]["minstret"] for e in ("rewind", "qemu-icount") if e in r}
        n = counts.get("qemu-icount", counts.get("rewind"))
        r["instructions"] = n
        if len(set(counts.values())) > 1:
            problems.append("%s: instruction counts differ: %s" % (w, counts))
        csums = {e: r[e]["checksum"] for e in emus if e in r}
        if len(set(csums.values())) > 1:
            problems.append("%s: checksums differ: %s" % (w, csums))
        for e in emus:
            if e in r and n:
                r[e]["mips"] = n / r[e]["net"] / 1e6
        results.append(r)

    def mips(r, e):
        return r.get(e, {}).get("mips")

    head = ("%-9s %9s | %8s %8s | %8s %8s | %8s %8s | %9s %9s"
            % ("workload", "Minsns", "rewind s", "MIPS", "qemu-ic s", "MIPS",
               "qemu s", "MIPS", "R/QEMU-ic", "R/QEMU"))
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        n = r["instructions"]
        rw, qi, qp = mips(r, "rewind"), mips(r, "qemu-icount"), mips(r, "qemu")
        print("%-9s %9s | %8s %8s | %8s %8s | %8s %8s | %9s %9s" % (
            r["workload"], fmt(n / 1e6 if n else None, ".1f"),
            fmt(r.get("rewind", {}).get("net"), ".2f"), fmt(rw, ".0f"),
            fmt(r.get("qemu-icount", {}).get("net"), ".2f"), fmt(qi, ".0f"),
            fmt(r.get("qemu", {}).get("net"), ".2f"), fmt(qp, ".0f"),
            fmt(rw / qi if rw and qi else None, ".3f"),
            fmt(rw / qp if rw and qp else None, ".3f")))
    print()
    print("MIPS = guest instructions / (wall seconds%s). Instructions: "
          "minstret under QEMU -icount shift=0 (used for plain QEMU too)."
          % ("" if args.no_baseline else " - empty-guest start-up"))
    for p in problems:
        print("PROBLEM:", p)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline": baseline, "results": results,
                       "problems": problems}, f, indent=2)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
