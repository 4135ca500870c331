"""Record and replay (docs/record-replay.md): `rewind record` writes a bundle,
`rewind replay` re-executes it with identical console output and input
taken from the log; damaged, changed or diverging bundles give clear
errors. Every test that records also replays and compares."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import FW_JUMP, ROOT, UBOOT_BIN, guest, manifest, need
from guest_console import GuestConsole

UART_IRQ_INPUT = os.path.join(ROOT, "tests", "guests", "uart_irq.input")


def run(argv, stdin=None, timeout=60):
    with open(stdin or os.devnull, "rb") as f:
        return subprocess.run(argv, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)


def record(rewind, bundle, kernel, stdin=None, extra=()):
    p = run([rewind, "record", "-o", bundle, *extra, "-bios", "none", "-kernel", kernel],
            stdin=stdin)
    assert p.returncode == 0, p.stderr.decode()
    return p


def replay(rewind, bundle, stdin=None, extra=(), timeout=60):
    return run([rewind, "replay", bundle, *extra], stdin=stdin, timeout=timeout)


def end_icount(stderr):
    m = re.search(rb"replay: end of recording at icount (\d+)", stderr)
    assert m, stderr.decode()
    return int(m.group(1))


def test_uart_irq_input_replays_from_log(rewind, tmp_path):
    bundle = str(tmp_path / "uart_irq")
    rec = record(rewind, bundle, guest("uart_irq"), stdin=UART_IRQ_INPUT)
    assert b"rewind replays this exactly" in rec.stdout
    assert set(os.listdir(bundle)) >= {"manifest", "events.rlog"}
    end = int(manifest(bundle)["recording"]["end_icount"])

    # twice: once with no input at all, once with different input that
    # must be ignored (the terminal is only output while replaying)
    other = tmp_path / "other.input"
    other.write_text("something else\nquit\n")
    for stdin in (None, str(other)):
        rep = replay(rewind, bundle, stdin=stdin)
        assert rep.returncode == 0, rep.stderr.decode()
        assert rep.stdout == rec.stdout
        assert end_icount(rep.stderr) == end


def test_cpu_only_guest_log_is_small(rewind, tmp_path):
    for name in ("uart", "timer"):
        bundle = str(tmp_path / name)
        rec = record(rewind, bundle, guest(name))
        size = os.path.getsize(os.path.join(bundle, "events.rlog"))
        assert size < 400, f"{name}: {size} bytes"
        rep = replay(rewind, bundle)
        assert rep.returncode == rec.returncode == 0, rep.stderr.decode()
        assert rep.stdout == rec.stdout


def test_info(rewind, tmp_path):
    bundle = str(tmp_path / "b")
    record(rewind, bundle, guest("uart_irq"), stdin=UART_IRQ_INPUT,
           extra=["--check-every", "10k", "--snapshot-every", "100M", "--snapshot-time", "5",
                  "--snapshot-count", "3", "--snapshot-mem", "64M"])
    cp = manifest(bundle)
    assert cp["record"]["check_every"] == "10000"
    assert cp["record"]["snapshot_every"] == "100000000"
    assert cp["record"]["snapshot_time"] == "5"
    assert cp["record"]["snapshot_count"] == "3"
    assert cp["record"]["snapshot_mem"] == str(64 << 20)
    assert len(cp["input kernel"]["sha256"]) == 64
    p = run([rewind, "info", bundle])
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert "inputs:       unchanged" in out
    assert re.search(r"events:\s+\d+ \(check \d+, char \d+, clock 1", out), out
    assert "(end of recording)" in out
    assert f"{os.path.getsize(os.path.join(bundle, 'events.rlog'))} bytes" in out
    # a short check period still replays (more checks, all matching)
    rep = replay(rewind, bundle)
    assert rep.returncode == 0, rep.stderr.decode()


def test_changed_input_file_is_refused(rewind, tmp_path):
    kernel = tmp_path / "kernel.elf"
    shutil.copy(guest("uart"), kernel)
    bundle = str(tmp_path / "b")
    record(rewind, bundle, str(kernel))
    with open(kernel, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    rep = replay(rewind, bundle)
    assert rep.returncode == 2
    err = rep.stderr.decode()
    assert f"input file changed since recording: {kernel}" in err
    assert len(err.strip().splitlines()) == 1
    assert rep.stdout == b""
    os.unlink(kernel)
    rep = replay(rewind, bundle)
    assert rep.returncode == 2 and f"input file missing: {kernel}" in rep.stderr.decode()


def test_missing_or_garbled_manifest(rewind, tmp_path):
    rep = replay(rewind, str(tmp_path / "nothing"))
    assert rep.returncode == 2 and b"not a Rewind bundle" in rep.stderr
    bundle = str(tmp_path / "b")
    record(rewind, bundle, guest("uart"))
    path = os.path.join(bundle, "manifest")
    with open(path, "w") as f:
        f.write("this is [not a key file\n")
    rep = replay(rewind, bundle)
    assert rep.returncode == 2
    assert b"bad manifest" in rep.stderr
    assert len(rep.stderr.strip().splitlines()) == 1
    os.unlink(path)
    rep = replay(rewind, bundle)
    assert rep.returncode == 2 and b"no manifest" in rep.stderr


def test_end_section_cut_short(rewind, tmp_path):
    """The recorder appends the manifest's [recording] section last; one cut
    short (a crash while writing it) reads as an unfinished recording, and
    the replay still runs to the end of the log."""
    bundle = str(tmp_path / "b")
    rec = record(rewind, bundle, guest("uart"))
    path = os.path.join(bundle, "manifest")
    with open(path) as f:
        text = f.read()
    assert text.rstrip().splitlines()[-1].startswith("net_tx_frames=")
    with open(path, "w") as f:
        f.write(text[:text.rindex("net_tx_frames=")])
    info = subprocess.run([rewind, "info", bundle], capture_output=True, text=True)
    assert "no end section" in info.stdout and "ended at" not in info.stdout, info.stdout
    rep = replay(rewind, bundle)
    assert rep.returncode == 0, rep.stderr
    assert rep.stdout == rec.stdout


def test_divergence_is_detected(rewind, tmp_path):
    """A different icount shift forced into the manifest changes when the
    timer fires: replay must stop and say where, not go silently wrong."""
    bundle = str(tmp_path / "b")
    rec = record(rewind, bundle, guest("timer"))
    assert replay(rewind, bundle).stdout == rec.stdout
    path = os.path.join(bundle, "manifest")
    text = open(path).read()
    assert "icount_shift=0" in text
    open(path, "w").write(text.replace("icount_shift=0", "icount_shift=3"))
    rep = replay(rewind, bundle)
    assert rep.returncode == 1
    assert re.search(rb"replay diverged at icount \d+ \(expected ", rep.stderr), rep.stderr


def test_qemu_spelling(rewind, tmp_path):
    rrfile = str(tmp_path / "replay.bin")
    kernel = guest("uart_irq")
    rec = run([rewind, "run", "-icount", f"shift=0,rr=record,rrfile={rrfile}", "-bios", "none",
               "-kernel", kernel], stdin=UART_IRQ_INPUT)
    assert rec.returncode == 0, rec.stderr.decode()
    assert os.path.exists(os.path.join(rrfile + ".bundle", "events.rlog"))
    rep = run([rewind, "run", "-icount", f"shift=0,rr=replay,rrfile={rrfile}", "-bios", "none",
               "-kernel", kernel])
    assert rep.returncode == 0, rep.stderr.decode()
    assert rep.stdout == rec.stdout
    # and the bundle is an ordinary one
    assert replay(rewind, rrfile + ".bundle").stdout == rec.stdout

    rec = run([rewind, "run", "-icount",
               f"shift=2,rr=record,rrfile={rrfile}2,rrsnapshot=init,rrsnapmode=periodic,"
               "rrsnaptime=10,rrsnapcount=4", "-bios", "none", "-kernel", guest("uart")])
    assert rec.returncode == 0, rec.stderr.decode()
    cp = manifest(rrfile + "2.bundle")
    assert cp["machine"]["icount_shift"] == "2"
    assert cp["record"]["snapshot_name"] == "init"
    assert cp["record"]["snapshot_mode"] == "periodic"
    assert cp["record"]["snapshot_time"] == "10"
    assert cp["record"]["snapshot_count"] == "4"
    rep = replay(rewind, rrfile + "2.bundle")
    assert rep.returncode == 0 and rep.stdout == rec.stdout


def test_rrsnaptime_zero_is_refused(rewind, tmp_path):
    p = run([rewind, "run", "-icount",
             f"shift=0,rr=record,rrfile={tmp_path}/x,rrsnapmode=periodic,rrsnaptime=0",
             "-bios", "none", "-kernel", guest("uart")])
    assert p.returncode == 2
    assert b"rrsnaptime=0 is not allowed" in p.stderr
    assert not os.path.exists(f"{tmp_path}/x.bundle")


def test_replay_refuses_machine_options(rewind, tmp_path):
    p = run([rewind, "replay", str(tmp_path), "-m", "256M"])
    assert p.returncode == 2 and b"not a replay option" in p.stderr


def record_uboot(rewind, bundle):
    con = GuestConsole([rewind, "record", "-o", bundle, "-nographic", "-smp", "2",
                        "-bios", need(FW_JUMP), "-kernel", need(UBOOT_BIN)])
    try:
        con.expect("Hit any key to stop autoboot", timeout=60)
        con.sendline("")
        con.expect("=> ")
        assert "U-Boot 20" in con.uboot_command("version")
        assert "0x0000000080000000" in con.uboot_command("bdinfo")
        con.uboot_command("echo typed at an unpredictable time")
        con.sendline("poweroff")
        assert con.wait(60) == 0
    finally:
        con.close()
    return con.output


@pytest.mark.slow
def test_uboot_record_replay(rewind, tmp_path):
    bundle = str(tmp_path / "uboot")
    recorded = record_uboot(rewind, bundle)
    rep = replay(rewind, bundle, timeout=120)
    assert rep.returncode == 0, rep.stderr.decode()
    # GuestConsole merges stderr into the output; the guest's bytes come first
    assert rep.stdout == recorded[:len(rep.stdout)]
    assert b"typed at an unpredictable time" in rep.stdout
    end = end_icount(rep.stderr)
    assert end == int(manifest(bundle)["recording"]["end_icount"])

    # damaged logs replay up to their last good chunk and say where it ends
    events = os.path.join(bundle, "events.rlog")
    good = open(events, "rb").read()
    damaged = {
        "truncated": good[:len(good) // 2],
        "flipped": good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 0x10]) +
        good[len(good) // 2 + 1:],
    }
    for what, data in damaged.items():
        open(events, "wb").write(data)
        p = replay(rewind, bundle, timeout=120)
        assert p.returncode == 3, (what, p.stderr.decode())
        assert b"log ends early at byte" in p.stderr, what
        valid = int(re.search(rb"replay is valid up to icount (\d+)", p.stderr).group(1))
        assert end_icount(p.stderr) == valid < end, what
        assert rep.stdout.startswith(p.stdout), what
    open(events, "wb").write(good)
    again = replay(rewind, bundle, timeout=120)
    assert again.stdout == rep.stdout


def test_damaged_small_log(rewind, tmp_path):
    bundle = str(tmp_path / "b")
    record(rewind, bundle, guest("uart_irq"), stdin=UART_IRQ_INPUT)
    events = os.path.join(bundle, "events.rlog")
    good = open(events, "rb").read()
    open(events, "wb").write(good[:len(good) // 2])
    p = replay(rewind, bundle)
    assert p.returncode == 3
    assert b"log ends early at byte" in p.stderr
    assert b"replay: end of recording at icount" in p.stderr
    open(events, "wb").write(good[:20])
    p = replay(rewind, bundle)
    assert p.returncode == 2 and b"events.rlog" in p.stderr, p.stderr


def test_monitor_quit_recorded_and_gdb_sees_end_of_log(rewind, tmp_path, free_port):
    """A recording ended from outside (monitor quit while the guest waits
    for input) replays to the same icount; under GDB the end of the log is
    the replaylog:end stop ("No more reverse-execution history")."""
    import socket
    import time
    bundle = str(tmp_path / "b")
    mon = str(tmp_path / "mon")
    p = subprocess.Popen([rewind, "record", "-o", bundle, "-bios", "none", "-kernel",
                          guest("uart_irq"), "-monitor", f"unix:{mon},server,nowait"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        time.sleep(1.0)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(mon)
            time.sleep(0.2)
            s.sendall(b"quit\n")
            out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err.decode()
    assert b"echo: hello" in out
    cp = manifest(bundle)
    assert cp["recording"]["guest_exited"] == "false"
    end = int(cp["recording"]["end_icount"])
    rep = replay(rewind, bundle)
    assert rep.returncode == 0 and rep.stdout == out
    assert end_icount(rep.stderr) == end

    if not shutil.which("gdb-multiarch"):
        return
    srv = subprocess.Popen([rewind, "replay", bundle, "-S", "-gdb", f"tcp::{free_port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        g = subprocess.run(["gdb-multiarch", "-batch", "-ex", f"target remote :{free_port}",
                            "-ex", "continue", "-ex", "kill", guest("uart_irq")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert b"No more reverse-execution history" in g.stdout, g.stdout.decode()
        sout, serr = srv.communicate(timeout=20)
    finally:
        if srv.poll() is None:
            srv.kill()
    assert sout == out
    assert end_icount(serr) == end


@pytest.mark.parametrize("rec_accel, rep_accel", [("jit", "interp"), ("interp", "tcg")])
@pytest.mark.parametrize("name, smp", [("uart_irq", "1"), ("timer", "1"), ("smp", "4")])
def test_accel_is_not_guest_visible(rewind, tmp_path, rec_accel, rep_accel, name, smp):
    """Recorded with one -accel, replayed with the other: the same console,
    the same end, and state checks every 1000 instructions that agree.
    The manifest does not hold the choice."""
    bundle = str(tmp_path / name)
    stdin = UART_IRQ_INPUT if name == "uart_irq" else None
    rec = record(rewind, bundle, guest(name), stdin=stdin,
                 extra=("--check-every", "1000", "-accel", rec_accel, "-smp", smp))
    assert "accel" not in open(os.path.join(bundle, "manifest")).read()
    rep = replay(rewind, bundle, extra=("-accel", rep_accel))
    assert rep.returncode == 0, rep.stderr.decode()
    assert rep.stdout == rec.stdout
    assert end_icount(rep.stderr) == int(manifest(bundle)["recording"]["end_icount"])
