"""Snapshots taken while recording (docs/snapshots.md, "Snapshots in a
file"): the initial snapshot and periodic ones (every N instructions or S
host seconds, the last K kept) in BUNDLE/snapshots.qcow2, a file that
`qemu-img check` accepts and `qemu-img snapshot -l` lists with icounts;
replays started from any of them (-loadvm, QEMU's rr=replay,rrsnapshot=)
end in exactly the recorded state; far seeks load them; a damaged file is
reported and never crashes or corrupts a replay."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import guest, manifest
from test_replay_monitor import Replay

QEMU_IMG = shutil.which("qemu-img")


def record(rewind, bundle, elf, extra=(), smp=1, stdin=None, timeout=120):
    p = subprocess.run([rewind, "record", "-o", bundle, *extra, "-bios", "none",
                        "-kernel", elf, "-smp", str(smp)],
                       stdin=stdin if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    assert p.returncode == 0, p.stderr.decode()
    return p


def replay(rewind, bundle, extra=(), timeout=120):
    return subprocess.run([rewind, "replay", bundle, "-report-icount", *extra],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def snapshots(rewind, bundle):
    """`rewind snapshot list`: name -> icount (None: no machine state)."""
    p = subprocess.run([rewind, "snapshot", "list", bundle], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines()[1:]:
        f = line.split()
        out[f[1]] = int(f[2]) if f[2].isdigit() else None
    return out


def qemu_check(path):
    """qemu-img check: no errors, no leaks."""
    if not QEMU_IMG:
        return
    p = subprocess.run([QEMU_IMG, "check", "--output=json", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r.get("corruptions", 0) == 0 and r.get("leaks", 0) == 0, r
    assert r.get("check-errors", 0) == 0, r


def qemu_list(path):
    """qemu-img snapshot -l: name -> icount column."""
    if not QEMU_IMG:
        return None
    p = subprocess.run([QEMU_IMG, "snapshot", "-l", path], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "ICOUNT" in lines[1], p.stdout
    out = {}
    for line in lines[2:]:
        f = line.split()
        out[f[1]] = int(f[-1]) if f[-1].isdigit() else None
    return out


def checksum(stdout):
    m = re.search(rb"memwalk: checksum ([0-9a-f]{16})", stdout)
    assert m, stdout.decode(errors="replace")
    return m.group(1)


def final_icount(stderr):
    m = re.search(rb"exit status 0 after (\d+) instructions", stderr)
    assert m, stderr.decode(errors="replace")
    return int(m.group(1))


@pytest.fixture(scope="module")
def walk_bundle(tmp_path_factory):
    """memwalk at -smp 2 recorded with a snapshot every 3M instructions."""
    from conftest import REWIND
    if not os.path.exists(REWIND):
        pytest.skip("build/rewind is not built")
    d = tmp_path_factory.mktemp("walk")
    bundle = str(d / "walk")
    elf = guest("memwalk")
    rec = record(REWIND, bundle, elf, smp=2, extra=["--snapshot-every", "3M"])
    return bundle, elf, rec


def test_periodic_snapshots_every_n_instructions(rewind, walk_bundle):
    bundle, _, rec = walk_bundle
    end = int(manifest(bundle)["recording"]["end_icount"])
    snaps = snapshots(rewind, bundle)
    assert snaps["initial"] == 0
    periodic = {k: v for k, v in snaps.items() if k.startswith("periodic-")}
    # one at every multiple of 3M before the end, exactly there
    assert sorted(periodic.values()) == list(range(3_000_000, end, 3_000_000)), snaps
    for name, ic in periodic.items():
        assert ic == 3_000_000 * int(name.split("-")[1])
    path = os.path.join(bundle, "snapshots.qcow2")
    qemu_check(path)
    listed = qemu_list(path)
    if listed is not None:
        assert listed == snaps
    info = subprocess.run([rewind, "info", bundle], capture_output=True, text=True)
    assert "snapshots:    %s, %d" % (path, len(snaps)) in info.stdout, info.stdout


def test_replay_from_each_snapshot_ends_in_the_recorded_state(rewind, walk_bundle):
    bundle, _, rec = walk_bundle
    end = int(manifest(bundle)["recording"]["end_icount"])
    want = checksum(rec.stdout)
    snaps = snapshots(rewind, bundle)
    names = sorted(snaps, key=snaps.get)
    for name in [names[0], names[1], names[len(names) // 2], names[-1]]:
        p = replay(rewind, bundle, ["-loadvm", name])
        assert p.returncode == 0, (name, p.stderr.decode())
        assert ("starting from snapshot '%s' at icount %d" % (name, snaps[name])).encode() \
            in p.stderr
        assert b"diverged" not in p.stderr
        assert final_icount(p.stderr) == end
        assert checksum(p.stdout) == want, name
        # what the guest printed from there on, and nothing else
        assert rec.stdout.endswith(p.stdout), name
    # from the start: all of it
    p = replay(rewind, bundle, ["-loadvm", "initial"])
    assert p.stdout == rec.stdout


def test_far_seek_loads_a_file_snapshot(rewind, walk_bundle, tmp_path):
    """replay_seek far from every in-memory snapshot loads the file's
    nearest one (an in-memory snapshot appears exactly at its icount, not a
    multiple of the replay's 2^20 interval), and lands on the same state as
    a replay without the file."""
    bundle, _, _ = walk_bundle
    end = int(manifest(bundle)["recording"]["end_icount"])
    target = end - 1000
    r = Replay(rewind, bundle, tmp_path, gdb=False)
    # a short replay first: the engine measures how fast this guest replays
    r.mon.cmd("replay_seek 2000000")
    assert r.icount() == 2_000_000
    r.mon.cmd("replay_seek %d" % target)
    assert r.icount() == target
    regs_file = r.mon.cmd("info registers")
    snaps = r.mon.cmd("info snapshots")
    r.close()
    nearest = max(ic for ic in range(3_000_000, end, 3_000_000) if ic <= target)
    assert re.search(r"^\S+\s+\S+\s+%d\s" % nearest, snaps, re.M), snaps
    assert "on disk, %s" % os.path.join(bundle, "snapshots.qcow2") in snaps
    # the same seek without the file
    copy = str(tmp_path / "nofile")
    shutil.copytree(bundle, copy)
    os.unlink(os.path.join(copy, "snapshots.qcow2"))
    other = tmp_path / "second"
    other.mkdir()
    r = Replay(rewind, copy, other, gdb=False)
    r.mon.cmd("replay_seek %d" % target)
    assert r.icount() == target
    regs_plain = r.mon.cmd("info registers")
    r.close()
    assert regs_file == regs_plain


def test_qemu_spelling_host_time_and_count(rewind, tmp_path):
    """rrsnapshot + rrsnapmode=periodic,rrsnaptime=1,rrsnapcount=2 on a
    recording that lasts ~4 s of host time (console input 1.2 s apart):
    the initial snapshot under its name, at most the last 2 periodic ones,
    a clean qcow2 file; replay with rr=replay,rrsnapshot= starts there."""
    elf = guest("uart_irq")
    rrfile = str(tmp_path / "rec")
    argv = [rewind, "run", "-bios", "none", "-kernel", elf, "-icount",
            "shift=0,rr=record,rrfile=%s,rrsnapshot=init,rrsnapmode=periodic,rrsnaptime=1,"
            "rrsnapcount=2" % rrfile]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    for line in [b"one\n", b"two\n", b"three\n", b"four\n"]:
        proc.stdin.write(line)
        proc.stdin.flush()
        time.sleep(1.2)
    proc.stdin.write(b"quit\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    bundle = rrfile + ".bundle"
    snaps = snapshots(rewind, bundle)
    assert snaps["init"] == 0
    periodic = sorted((int(k.split("-")[1]), v) for k, v in snaps.items()
                      if k.startswith("periodic-"))
    assert 1 <= len(periodic) <= 2, snaps
    # the kept ones are the newest: numbered up to the count taken
    assert [ic for _, ic in periodic] == sorted(ic for _, ic in periodic)
    path = os.path.join(bundle, "snapshots.qcow2")
    qemu_check(path)
    # QEMU's replay spelling loads the initial snapshot
    p = subprocess.run([rewind, "run", "-bios", "none", "-kernel", elf, "-icount",
                        "shift=0,rr=replay,rrfile=%s,rrsnapshot=init" % rrfile],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert b"starting from snapshot 'init' at icount 0" in p.stderr
    assert p.stdout == out
    last = "periodic-%d" % periodic[-1][0]
    p = replay(rewind, bundle, ["-loadvm", last])
    assert p.returncode == 0, p.stderr.decode()
    assert out.endswith(p.stdout) and b"diverged" not in p.stderr


def test_initial_only_and_none(rewind, tmp_path):
    elf = guest("watch")
    bundle = str(tmp_path / "b")
    record(rewind, bundle, elf, extra=["--snapshot-name", "start"])
    assert snapshots(rewind, bundle) == {"start": 0}
    qemu_check(os.path.join(bundle, "snapshots.qcow2"))
    # recording again without snapshot options leaves no stale file
    record(rewind, bundle, elf)
    assert not os.path.exists(os.path.join(bundle, "snapshots.qcow2"))
    p = subprocess.run([rewind, "snapshot", "list", bundle], capture_output=True, text=True)
    assert p.returncode == 0 and "no snapshots" in p.stdout
    p = replay(rewind, bundle, ["-loadvm", "start"])
    assert p.returncode == 2 and b"has no snapshots on disk" in p.stderr, p.stderr
    p = subprocess.run([rewind, "record", "-o", str(tmp_path / "c"), "-loadvm", "x",
                        "-bios", "none", "-kernel", elf], capture_output=True, text=True)
    assert p.returncode == 2 and "replay only" in p.stderr, p.stderr


def test_delete_and_missing_names(rewind, walk_bundle, tmp_path):
    bundle = str(tmp_path / "copy")
    shutil.copytree(walk_bundle[0], bundle)
    before = snapshots(rewind, bundle)
    p = subprocess.run([rewind, "snapshot", "delete", bundle, "periodic-2"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    after = snapshots(rewind, bundle)
    del before["periodic-2"]
    assert after == before
    qemu_check(os.path.join(bundle, "snapshots.qcow2"))
    p = subprocess.run([rewind, "snapshot", "delete", bundle, "periodic-2"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "no snapshot named 'periodic-2'" in p.stderr, p.stderr
    p = replay(rewind, bundle, ["-loadvm", "nosuch"])
    assert p.returncode == 2 and b"no snapshot named 'nosuch'" in p.stderr, p.stderr
    # the snapshots left still replay to the recorded end
    p = replay(rewind, bundle, ["-loadvm", "periodic-3"])
    assert p.returncode == 0 and checksum(p.stdout) == checksum(walk_bundle[2].stdout)


def test_damaged_file_is_reported_never_trusted(rewind, walk_bundle, tmp_path):
    bundle = str(tmp_path / "copy")
    shutil.copytree(walk_bundle[0], bundle)
    path = os.path.join(bundle, "snapshots.qcow2")
    want = checksum(walk_bundle[2].stdout)
    size = os.path.getsize(path)
    # damage data in the second half of the file: some snapshot's pages
    with open(path, "r+b") as f:
        for off in range(size // 2, size - 4096, 4096 * 7):
            f.seek(off + 100)
            b = f.read(1)
            f.seek(off + 100)
            f.write(bytes([b[0] ^ 0x5a]))
    snaps = snapshots(rewind, bundle)      # metadata is intact
    failed = 0
    for name in snaps:
        p = replay(rewind, bundle, ["-loadvm", name])
        if p.returncode == 0:
            assert checksum(p.stdout) == want, name
        else:
            failed += 1
            assert p.returncode == 2, p.stderr
            assert re.search(rb"snapshot '%s': .*(checksum mismatch|damaged)" % name.encode(),
                             p.stderr), p.stderr
    assert failed > 0
    # a plain replay does not need the file
    p = replay(rewind, bundle)
    assert p.returncode == 0 and checksum(p.stdout) == want
    # truncated: listing and replay say so, replay goes on without it
    with open(path, "r+b") as f:
        f.truncate(size // 3)
    p = replay(rewind, bundle, ["-loadvm", "periodic-1"])
    assert p.returncode == 2 and b"snapshots.qcow2" in p.stderr, p.stderr
    r = Replay(rewind, bundle, tmp_path, gdb=False)
    end = int(manifest(bundle)["recording"]["end_icount"])
    r.mon.cmd("replay_seek 2000000")
    r.mon.cmd("replay_seek %d" % (end - 5))
    assert r.icount() == end - 5
    _, err = r.close()
    p = subprocess.run([rewind, "snapshot", "list", bundle], capture_output=True, text=True)
    assert p.returncode != 0 or "periodic" in p.stdout
    assert "Traceback" not in p.stderr and "Segmentation" not in p.stderr


def test_snapshot_add(rewind, walk_bundle, tmp_path):
    """rewind snapshot add replays to an icount (from the file's nearest
    snapshot before it) and adds one there, sharing what did not change;
    a recording without snapshots gets its file."""
    bundle = str(tmp_path / "copy")
    shutil.copytree(walk_bundle[0], bundle)
    path = os.path.join(bundle, "snapshots.qcow2")
    size = os.path.getsize(path)
    p = subprocess.run([rewind, "snapshot", "add", bundle, "10500000", "mid"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "added snapshot 'mid' at icount 10500000" in p.stdout
    assert snapshots(rewind, bundle)["mid"] == 10_500_000
    qemu_check(path)
    # it shares the pages that replay from periodic-3 did not write
    assert os.path.getsize(path) - size < 8 << 20
    want = checksum(walk_bundle[2].stdout)
    p = replay(rewind, bundle, ["-loadvm", "mid"])
    assert p.returncode == 0 and checksum(p.stdout) == want, p.stderr
    p = subprocess.run([rewind, "snapshot", "add", bundle, "10500000", "mid"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "exists already" in p.stderr, p.stderr
    p = subprocess.run([rewind, "snapshot", "add", bundle, "1G"], capture_output=True, text=True)
    assert p.returncode == 1 and "the recording ends at icount" in p.stderr, p.stderr
    # a recording that kept none
    plain = str(tmp_path / "plain")
    record(rewind, plain, walk_bundle[1], smp=2)
    p = subprocess.run([rewind, "snapshot", "add", plain, "7M"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert snapshots(rewind, plain) == {"icount-7000000": 7_000_000}
    p = replay(rewind, plain, ["-loadvm", "icount-7000000"])
    assert p.returncode == 0 and checksum(p.stdout) == want, p.stderr


def test_gdb_steps_both_ways_after_a_file_load(rewind, walk_bundle, tmp_path, gdb_multiarch):
    """Under gdb-multiarch, after a seek that loaded a file snapshot:
    stepi five times, reverse-stepi five times through the same pcs, and
    a breakpoint hit by continue is found again by reverse-continue."""
    from gdb_driver import Gdb
    bundle, elf, _ = walk_bundle
    end = int(manifest(bundle)["recording"]["end_icount"])
    r = Replay(rewind, bundle, tmp_path, gdb=True)
    g = Gdb(elf)
    try:
        g.connect(r.gdb_path)
        g.cmd("monitor replay_seek 2000000")
        g.cmd("monitor replay_seek %d" % (end - 20000))
        g.cmd("maintenance flush register-cache")
        assert r.icount() == end - 20000
        snaps = r.mon.cmd("info snapshots")
        assert re.search(r"^\S+\s+\S+\s+%d\s" % (end // 3_000_000 * 3_000_000), snaps, re.M)
        pcs = [g.pc()]
        for _ in range(5):
            g.run("stepi")
            pcs.append(g.pc())
        for i in range(5):
            g.run("reverse-stepi")
            assert g.pc() == pcs[-2 - i], (i, pcs)
        g.cmd("break uart_putc")
        s = g.run("continue")
        assert s.reason == "breakpoint-hit", s
        hit, at = g.pc(), r.icount()
        g.run("stepi")
        g.run("stepi")
        s = g.run("reverse-continue")
        assert s.reason == "breakpoint-hit" and g.pc() == hit and r.icount() == at, s
    finally:
        g.close()
        r.close()
