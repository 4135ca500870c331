#!/usr/bin/python3
"""Reverse-debugging benchmark: Rewind against QEMU's record/replay.

One guest (tests/perf/revloop.c: a register-only hash loop, then a function
called once, rev_marker, then a tail of about 10^6 instructions, the report
and exit) is built at about 10^6, 10^7, 10^8 and 10^9 instructions. For each
size and each emulator it measures:

  (run, record, replay: fastest of --repeat runs, wall time start-up included)
  run s          plain run: `rewind run` / `qemu -icount shift=0`
  record s       `rewind record -o B` / `qemu -icount shift=0,rr=record,
                 rrfile=F,rrsnapshot=init -drive file=disk.qcow2,if=none,id=rr`
  record/run     goal (Rewind): <= 1.15 (record-run ms: the difference)
  replay s       `rewind replay B` / `qemu -icount shift=0,rr=replay,...`
  log bytes      the event log (events.rlog / the rrfile)
  then, over several fresh debugging sessions (`-S -gdb tcp::PORT`, driven by
  a raw RSP client in this script, no gdb):
  to end s       `c` from the start to the end: the guest exits through the
                 finisher, which ends the session (W00) in both emulators, so
                 "the end" is a Z0 breakpoint on rt_pass, the exit path, 4
                 instructions before the last one; the breakpoint is removed
  bs@end ms      one reverse-stepi (`bs`) from there (median over sessions);
                 goal < 20 ms
  10 x bs ms     ten more consecutive `bs` (median of all); goal < 5 ms
  bc 1e6 ms      Z0 on rev_marker (~10^6 instructions before the end), `bc`,
                 time to the stop reply (median over sessions); the stop pc
                 must be rev_marker's
and "better than QEMU" for every row. A measurement QEMU cannot make (error
reply such as E14, wrong stop, timeout) is printed as text, not a number.

usage: /usr/bin/python3 tests/perf/reverse_bench.py [--sizes 1e6,1e7] [--sessions N]
       [--qemu-max 1e9] [--repeat N] [--step-timeout S] [--json FILE]
"""

import argparse
import atexit
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import children  # noqa: E402
from children import reap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GUEST_LIB = os.path.join(ROOT, "tests", "guests", "lib")
CFLAGS = ["-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany", "-O2", "-g",
          "--specs=picolibc.specs", "-DPICOLIBC_INTEGER_PRINTF_SCANF",
          "-nostartfiles", "-static"]
INSNS_PER_ITER = 17          # hash_loop at -O2 (measured)
TAIL_ITERS = 58800           # ~10^6 instructions after rev_marker
GOAL_RECORD = 1.15
GOAL_BS_END_MS = 20.0
GOAL_BS_CONSEC_MS = 5.0

def spawn(cmd, out=subprocess.DEVNULL):
    return children.spawn(cmd, stdout=out, stderr=subprocess.STDOUT)


def timed(cmd, timeout):
    """Wall seconds of a command that must exit 0, or (None, why)."""
    start = time.monotonic()
    p = spawn(cmd, subprocess.PIPE)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        return None, "timeout %.0fs" % timeout
    secs = time.monotonic() - start
    reap(p)
    if p.returncode != 0:
        tail = out.decode("utf-8", "replace").strip().splitlines()[-1:] if out else []
        return None, "exit %d %s" % (p.returncode, tail[0][:60] if tail else "")
    return secs, out.decode("utf-8", "replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RSPError(Exception):
    pass


class RSP:
    """Minimal GDB remote-protocol client (ack mode, as both stubs start)."""

    def __init__(self, port, proc, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RSPError("emulator exited (status %d)" % proc.returncode)
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RSPError("cannot connect to port %d" % port)
                time.sleep(0.02)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _packet(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"+-")
            i = self.buf.find(b"$")
            if i >= 0:
                j = self.buf.find(b"#", i)
                if j >= 0 and len(self.buf) >= j + 3:
                    data = self.buf[i + 1:j]
                    self.buf = self.buf[j + 3:]
                    self.s.sendall(b"+")
                    return data.decode("latin-1")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RSPError("timeout %.0fs" % timeout)
            self.s.settimeout(min(left, 1.0))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                raise RSPError("connection: %s" % e)
            if not d:
                raise RSPError("connection closed")
            self.buf += d

    def cmd(self, data, timeout):
        """Sends a packet; returns (reply, seconds to the reply)."""
        raw = data.encode("latin-1")
        start = time.monotonic()
        try:
            self.s.sendall(b"$%s#%02x" % (raw, sum(raw) & 0xff))
        except OSError as e:
            raise RSPError("connection: %s" % e)
        while True:
            r = self._packet(timeout)
            if r.startswith("O") and r != "OK":      # console output
                continue
            return r, time.monotonic() - start

    def pc(self, timeout):
        regs, _ = self.cmd("g", timeout)
        if len(regs) < 33 * 16:
            raise RSPError("short g reply %r" % regs[:40])
        return int.from_bytes(bytes.fromhex(regs[32 * 16:33 * 16]), "little")


def is_stop(reply):
    return reply.startswith("T") or reply.startswith("S")


def build(outdir, size):
    cc = shutil.which("riscv64-unknown-elf-gcc")
    if not cc:
        sys.exit("reverse_bench: riscv64-unknown-elf-gcc not found")
    iters = max(0, int(round((size - TAIL_ITERS * INSNS_PER_ITER) / INSNS_PER_ITER)))
    out = os.path.join(outdir, "revloop-%.0e.elf" % size)
    srcs = [os.path.join(GUEST_LIB, f) for f in ("crt0.S", "trap.S", "rt.c")]
    srcs.append(os.path.join(HERE, "revloop.c"))
    subprocess.run([cc] + CFLAGS + ["-I" + GUEST_LIB, "-I" + HERE,
                    "-DITERS=%dUL" % iters, "-DTAIL_ITERS=%dUL" % TAIL_ITERS,
                    "-T", os.path.join(GUEST_LIB, "link.ld"), "-o", out] + srcs,
                   check=True)
    nm = shutil.which("riscv64-unknown-elf-nm")
    syms = {}
    for line in subprocess.run([nm, out], check=True, stdout=subprocess.PIPE,
                               text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = int(f[0], 16)
    return out, syms["rt_pass"], syms["rev_marker"]


def best(cmd_fn, repeat, timeout, prepare=None):
    """Fastest of `repeat` runs of cmd_fn(); (secs, error)."""
    b = None
    for _ in range(repeat):
        if prepare:
            prepare()
        secs, out = timed(cmd_fn(), timeout)
        if secs is None:
            return None, out
        b = secs if b is None or secs < b else b
    return b, None


def session(cmd_fn, end_pc, marker_pc, steps, step_timeout):
    """One fresh debugging session. Returns a dict of latencies, or raises
    RSPError with what went wrong (partial results in e.args[1])."""
    port = free_port()
    p = spawn(cmd_fn(port))
    res = {}
    rsp = None
    try:
        rsp = RSP(port, p, 30)
        rsp.cmd("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+",
                step_timeout)
        rsp.cmd("?", step_timeout)
        r, _ = rsp.cmd("Z0,%x,2" % end_pc, step_timeout)
        if r != "OK":
            raise RSPError("Z0 end: %s" % r, res)
        r, t = rsp.cmd("c", step_timeout)
        if not is_stop(r) or rsp.pc(step_timeout) != end_pc:
            raise RSPError("c to end: %s" % r[:24], res)
        res["to_end"] = t
        rsp.cmd("z0,%x,2" % end_pc, step_timeout)
        lat = []
        for i in range(steps + 1):
            pc0 = rsp.pc(step_timeout)
            try:
                r, t = rsp.cmd("bs", step_timeout)
            except RSPError as e:
                raise RSPError("bs: %s" % e, res)
            if not is_stop(r) or "replaylog" in r:
                raise RSPError("bs: %s" % r[:24], res)
            if rsp.pc(step_timeout) == pc0 and i == 0:
                raise RSPError("bs did not move", res)
            if i == 0:
                res["bs_end"] = t
            else:
                lat.append(t)
                res["bs_consec"] = lat
        r, _ = rsp.cmd("Z0,%x,2" % marker_pc, step_timeout)
        if r != "OK":
            raise RSPError("Z0 marker: %s" % r, res)
        try:
            r, t = rsp.cmd("bc", step_timeout)
        except RSPError as e:
            raise RSPError("bc: %s" % e, res)
        pc = rsp.pc(step_timeout) if is_stop(r) else None
        if pc != marker_pc:
            raise RSPError("bc: %s pc %s" % (r[:18] if r else "?",
                                             "%x" % pc if pc else "?"), res)
        res["bc"] = t
        return res
    except RSPError as e:
        if len(e.args) < 2:
            raise RSPError(e.args[0], res)
        raise
    finally:
        if rsp:
            rsp.close()
        reap(p)


def measure(emu, elf, end_pc, marker_pc, work, args, sessions):
    """All figures of one emulator on one ELF: a dict of value or error."""
    out = {}
    rewind, qemu = args.rewind, args.qemu
    qbase = [qemu, "-M", "virt", "-bios", "none", "-nographic", "-net", "none",
             "-kernel", elf]
    bundle = os.path.join(work, emu + ".bundle")
    rrfile = os.path.join(work, "qemu.rr")
    disk = os.path.join(work, "disk.qcow2")

    def fresh_disk():
        if os.path.exists(disk):
            os.unlink(disk)
        subprocess.run(["qemu-img", "create", "-f", "qcow2", disk, "32M"],
                       check=True, stdout=subprocess.DEVNULL)

    def fresh_bundle():
        shutil.rmtree(bundle, ignore_errors=True)

    rr = lambda mode: ["-icount", "shift=0,rr=%s,rrfile=%s,rrsnapshot=init" % (mode, rrfile),
                       "-drive", "file=%s,if=none,id=rr" % disk]
    if emu == "rewind":
        run_cmd = lambda: [rewind, "run", "-bios", "none", "-kernel", elf]
        rec_cmd = lambda: [rewind, "record", "-o", bundle, "-bios", "none", "-kernel", elf]
        rec_prep = fresh_bundle
        rep_cmd = lambda: [rewind, "replay", bundle]
        dbg_cmd = lambda port: [rewind, "replay", bundle, "-S", "-gdb", "tcp::%d" % port]
    else:
        run_cmd = lambda: qbase + ["-icount", "shift=0"]
        rec_cmd = lambda: qbase + rr("record")
        rec_prep = fresh_disk
        rep_cmd = lambda: qbase + rr("replay")
        dbg_cmd = lambda port: qbase + rr("replay") + ["-S", "-gdb", "tcp::%d" % port]

    t = args.run_timeout
    # run and record alternate, so that load from elsewhere on the host
    # weighs on both alike; the fastest of each is kept
    out["run"] = out["record"] = (None, "not run")
    for i in range(args.repeat):
        for key, cmd, prep in (("run", run_cmd, None), ("record", rec_cmd, rec_prep)):
            prev = out[key]
            if i and prev[0] is None:
                continue
            secs, err = best(cmd, 1, t, prep)
            out[key] = (secs, err) if secs is None or prev[0] is None or \
                secs < prev[0] else prev
    if out["run"][0] and out["record"][0]:
        out["ratio"] = (out["record"][0] / out["run"][0], None)
        out["extra"] = (out["record"][0] - out["run"][0], None)
    else:
        out["ratio"] = out["extra"] = (None, "n/a")
    if out["record"][0] is None:
        for k in ("replay", "log", "to_end", "bs_end", "bs_consec", "bc"):
            out[k] = (None, "no recording")
        return out
    log = os.path.join(bundle, "events.rlog") if emu == "rewind" else rrfile
    out["log"] = (os.path.getsize(log), None) if os.path.exists(log) else (None, "no log")
    out["replay"] = best(rep_cmd, args.repeat, t)

    got = {"to_end": [], "bs_end": [], "bs_consec": [], "bc": []}
    errors = {}
    for _ in range(sessions):
        try:
            res = session(dbg_cmd, end_pc, marker_pc, args.steps, args.step_timeout)
        except RSPError as e:
            res = e.args[1] if len(e.args) > 1 else {}
            msg = e.args[0]
            for k in ("to_end", "bs_end", "bs_consec", "bc"):
                if k not in res or (k == "bs_consec" and len(res[k]) < args.steps):
                    errors.setdefault(k, msg)
                    break
        for k, v in res.items():
            got[k] += v if isinstance(v, list) else [v]
        if errors:
            break           # one failure is enough: QEMU's are deterministic
    for k, v in got.items():
        if k in errors:
            out[k] = (None, errors[k])
        elif v:
            out[k] = (statistics.median(v), None)
            out[k + "_n"] = len(v)
        else:
            # after an earlier failure in the same session
            out[k] = (None, "not reached")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rewind", help="rewind binary (default BUILD/rewind)")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--sizes", default="1e6,1e7,1e8,1e9",
                    help="approximate instruction counts (default 1e6,1e7,1e8,1e9)")
    ap.add_argument("--qemu-max", type=float, default=1e9,
                    help="largest size QEMU is measured at (default 1e9)")
    ap.add_argument("--sessions", type=int, default=5,
                    help="debugging sessions per size for Rewind (default 5)")
    ap.add_argument("--qemu-sessions", type=int, default=3,
                    help="for QEMU at <= 1e8 (default 3; 1 above 1e8)")
    ap.add_argument("--steps", type=int, default=10,
                    help="consecutive reverse-stepi after the first (default 10)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="run/record/replay: fastest of N (default 3; 5 below 5e7)")
    ap.add_argument("--run-timeout", type=float, default=120)
    ap.add_argument("--step-timeout", type=float, default=120,
                    help="seconds for any one RSP reply (default 120)")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    children.install()

    args.rewind = args.rewind or os.path.join(args.build_dir, "rewind")
    if not os.access(args.rewind, os.X_OK):
        sys.exit("reverse_bench: %s not built (ninja -C build)" % args.rewind)
    have_qemu = not args.no_qemu and shutil.which(args.qemu) and shutil.which("qemu-img")
    if not have_qemu:
        print("reverse_bench: no QEMU (or qemu-img): QEMU column left empty")
    sizes = [float(s) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="rewind-revbench-")
    atexit.register(shutil.rmtree, tmp, True)

    t_start = time.monotonic()
    results = []
    for size in sizes:
        work = os.path.join(tmp, "%.0e" % size)
        os.makedirs(work)
        elf, end_pc, marker_pc = build(work, size)
        big = size > 1.5e8
        saved = args.repeat
        args.repeat = max(saved, 5) if size < 5e7 else saved
        row = {"size": size}
        print("reverse_bench: %.0e ..." % size, flush=True)
        row["rewind"] = measure("rewind", elf, end_pc, marker_pc, work, args,
                                args.sessions)
        if have_qemu and size <= args.qemu_max * 1.01:
            row["qemu"] = measure("qemu", elf, end_pc, marker_pc, work, args,
                                  1 if big else args.qemu_sessions)
        elif have_qemu:
            row["qemu"] = {}
        args.repeat = saved
        # the recording's length, from the bundle
        info = subprocess.run([args.rewind, "info", os.path.join(work, "rewind.bundle")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, timeout=30).stdout
        for line in info.splitlines():
            if line.startswith("icounts:"):
                row["icount"] = int(line.split("..")[1].split()[0])
        results.append(row)
        print("reverse_bench: %.0e done at %.0f s" % (size, time.monotonic() - t_start),
              flush=True)

    rows = [("run s", "run", 1, "%.3f", None),
            ("record s", "record", 1, "%.3f", None),
            ("record/run", "ratio", 1, "%.3fx", ("<=", GOAL_RECORD)),
            ("record-run ms", "extra", 1000, "%+.1f", None),
            ("replay s", "replay", 1, "%.3f", None),
            ("log bytes", "log", 1, "%d", None),
            ("c to end s (gdb)", "to_end", 1, "%.3f", None),
            ("rev-stepi@end ms", "bs_end", 1000, "%.2f", ("<", GOAL_BS_END_MS)),
            ("10x rev-stepi ms", "bs_consec", 1000, "%.2f", ("<", GOAL_BS_CONSEC_MS)),
            ("rev-cont 1e6 ms", "bc", 1000, "%.1f", None)]
    head = "%-7s %-17s | %14s | %26s | %-8s | %s" % (
        "size", "figure", "rewind", "qemu 7.2", "goal", "met / better than QEMU")
    print()
    print(head)
    print("-" * len(head))
    problems = []
    for r in results:
        first = True
        for label, key, scale, spec, goal in rows:
            def cell(emu):
                v = r.get(emu, {}).get(key)
                if v is None:
                    return None, ("not run" if emu in r else "-")
                if v[0] is None:
                    return None, v[1]
                return v[0] * scale, spec % (v[0] * scale)
            rv, rs = cell("rewind")
            qv, qs = cell("qemu")
            verdict = []
            if goal and rv is not None:
                ok = rv <= goal[1] if goal[0] == "<=" else rv < goal[1]
                verdict.append("goal " + ("met" if ok else "MISSED"))
                if not ok:
                    problems.append("%.0e %s: %s (goal %s %g)" % (
                        r["size"], label, rs, goal[0], goal[1]))
            elif goal:
                verdict.append("goal MISSED")
                problems.append("%.0e %s: %s" % (r["size"], label, rs))
            if rv is not None and qv is not None:
                verdict.append("better" if rv < qv else
                               ("equal" if rv == qv else "WORSE"))
            elif rv is not None and qs not in ("-", "not run"):
                verdict.append("better (QEMU failed)")
            size_s = ("%.2e" % r["icount"]).replace("e+0", "e") if (
                first and "icount" in r) else ("%.0e" % r["size"] if first else "")
            print("%-7s %-17s | %14s | %26s | %-8s | %s" % (
                size_s, label, rs, qs[:26],
                "%s%g" % goal if goal else "", ", ".join(verdict)))
            first = False
        print()
    print("size = instructions retired by the recording (rewind info). Times: "
          "run/record/replay fastest of %d (5 below 5e7), run and record alternating;" % args.repeat)
    print("reverse figures: medians over %d Rewind sessions and %d QEMU sessions "
          "(1 above 1e8), each a fresh `replay -S -gdb`:" % (args.sessions,
                                                             args.qemu_sessions))
    print("c to a breakpoint on rt_pass (4 instructions before the guest's exit), "
          "1 bs, %d more bs, Z0 rev_marker (~%.2g insns back), bc." % (
              args.steps, TAIL_ITERS * INSNS_PER_ITER))
    print("QEMU: -M virt -bios none -nographic -net none -icount shift=0,rr=record|replay,"
          "rrfile=F,rrsnapshot=init -drive file=disk.qcow2,if=none,id=rr "
          "(qemu-img create -f qcow2 disk.qcow2 32M)")
    print("total %.0f s" % (time.monotonic() - t_start))
    for p in problems:
        print("GOAL MISSED:", p)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
