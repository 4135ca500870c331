"""The replay monitor commands (info replay, replay_seek, replay_break,
replay_delete_break, info snapshots, savevm/loadvm/delvm, bookmark/goto)
on the monitor socket and through gdb-multiarch's `monitor`, on a
recording of watch.elf."""
import configparser
import os
import re
import subprocess
import time

import pytest

from conftest import GUESTS, need
from gdb_driver import Gdb
from test_monitor import MonitorClient, wait_for_path


def record(rewind, bundle, guest="watch"):
    elf = need(os.path.join(GUESTS, guest + ".elf"))
    p = subprocess.run([rewind, "record", "-o", bundle, "-bios", "none", "-kernel", elf],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(os.path.join(bundle, "manifest"))
    return elf, int(cp["recording"]["end_icount"])


class Replay:
    """rewind replay BUNDLE -S -monitor unix:M [-gdb unix:G]."""

    def __init__(self, rewind, bundle, tmp_path, gdb=True, extra=()):
        self.mon_path = str(tmp_path / "mon.sock")
        self.gdb_path = str(tmp_path / "gdb.sock") if gdb else None
        argv = [rewind, "replay", bundle, "-S", "-monitor",
                "unix:%s,server,nowait" % self.mon_path, *extra]
        if gdb:
            argv += ["-gdb", "unix:" + self.gdb_path]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        wait_for_path(self.mon_path, self.proc)
        if gdb:
            wait_for_path(self.gdb_path, self.proc)
        self.mon = MonitorClient(self.mon_path)

    def icount(self):
        out = self.mon.cmd("info replay")
        m = re.search(r"instruction count = (\d+)", out)
        assert m, out
        return int(m.group(1))

    def pc(self):
        out = self.mon.cmd("info registers")
        m = re.search(r"^ pc\s+([0-9a-f]+)$", out, re.M)
        assert m, out
        return int(m.group(1), 16)

    def close(self):
        self.mon.close()
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate(timeout=10)


@pytest.fixture
def replay(rewind, tmp_path):
    sessions = []

    def start(gdb=True, guest="watch"):
        bundle = str(tmp_path / "bundle")
        if not os.path.exists(bundle):
            start.elf, start.end = record(rewind, bundle, guest)
        r = Replay(rewind, bundle, tmp_path, gdb=gdb)
        sessions.append(r)
        return r

    yield start
    for r in sessions:
        r.close()


@pytest.fixture
def gdb_on(gdb_multiarch):
    gdbs = []

    def connect(r, elf):
        g = Gdb(elf)
        gdbs.append(g)
        g.connect(r.gdb_path)
        return g

    yield connect
    for g in gdbs:
        g.close()


def minstret(g):
    return g.eval_int("$minstret")


def test_info_replay(replay):
    r = replay(gdb=False)
    out = r.mon.cmd("info replay")
    assert re.search(r"^Replaying execution '.*events\.rlog': instruction count = 0$", out, re.M)
    assert "mode:         replay" in out
    assert "end icount:   %d" % replay.end in out
    assert re.search(r"log:\s+.*events\.rlog \(\d+ bytes\)", out)
    assert "replay_break: none" in out
    assert "info replay" in r.mon.cmd("help info")


def test_seek_reaches_gdb(replay, gdb_on):
    r = replay()
    g = gdb_on(r, replay.elf)
    assert minstret(g) == 0
    # through GDB's monitor: GDB keeps its cached registers until flushed
    out = g.cmd("monitor replay_seek 1000")
    assert "now at icount 1000" in out
    g.cmd("maintenance flush register-cache")
    assert minstret(g) == 1000
    assert r.icount() == 1000
    assert g.pc() == r.pc()
    # forward and back again from the console
    assert "now at icount 2500" in r.mon.cmd("replay_seek 2500")
    g.cmd("maintenance flush register-cache")
    assert minstret(g) == 2500 and g.pc() == r.pc()
    r.mon.cmd("replay_seek 10")
    g.cmd("maintenance flush register-cache")
    assert minstret(g) == 10 and r.icount() == 10
    # the machine still runs from there: stepi is one instruction further
    g.run("stepi")
    assert minstret(g) == 11 and r.icount() == 11


def test_replay_break_forward_and_reverse(replay, gdb_on):
    r = replay()
    g = gdb_on(r, replay.elf)
    assert g.cmd("monitor replay_break 1234") == ""
    assert "replay_break: 1234" in r.mon.cmd("info replay")
    stop = g.run("continue")
    assert stop.signal == "SIGTRAP", stop
    assert minstret(g) == 1234 and r.icount() == 1234
    # one-shot
    assert "replay_break: none" in r.mon.cmd("info replay")
    # a breakpoint further back than the break: reverse-continue stops at the break
    g.cmd("break main")
    r.mon.cmd("replay_break 700")
    stop = g.run("reverse-continue")
    assert minstret(g) == 700 and r.icount() == 700, stop
    assert "replay_break: none" in r.mon.cmd("info replay")
    # deleted before it is reached: continue goes on to the next breakpoint
    r.mon.cmd("replay_break 3000")
    r.mon.cmd("replay_delete_break")
    assert "replay_break: none" in r.mon.cmd("info replay")
    g.cmd("delete")
    stop = g.run("continue")
    # watch.elf powers off at the end of the recording: the end of history
    # (replaylog:end), where GDB stays; rewind exits when GDB kills it
    assert "No more reverse-execution history" in stop.text, stop.text
    g.cmd("kill")
    r.proc.wait(timeout=20)


def registers(r):
    return re.sub(r"^CPU#.*$", "", r.mon.cmd("info registers"), flags=re.M)


def test_savevm_loadvm_delvm(replay, gdb_on):
    r = replay()
    g = gdb_on(r, replay.elf)
    r.mon.cmd("replay_seek 1500")
    before = registers(r)
    assert r.mon.cmd("savevm first") == ""
    r.mon.cmd("replay_seek 3000")
    assert registers(r) != before
    g.cmd("maintenance flush register-cache")
    assert minstret(g) == 3000
    out = g.cmd("monitor loadvm first")
    assert "now at icount 1500" in out
    g.cmd("maintenance flush register-cache")
    assert minstret(g) == 1500 and r.icount() == 1500
    assert registers(r) == before
    snaps = r.mon.cmd("info snapshots")
    assert re.search(r"^\d+\s+first\s+1500\s+\d+ KiB\s+\(kept\)$", snaps, re.M), snaps
    # forward to a named snapshot too, and a second name on one position
    r.mon.cmd("replay_seek 200")
    r.mon.cmd("loadvm first")
    assert r.icount() == 1500 and registers(r) == before
    r.mon.cmd("savevm again")
    assert re.search(r"^\d+\s+first,again\s+1500", r.mon.cmd("info snapshots"), re.M)
    assert r.mon.cmd("delvm first") == ""
    snaps = r.mon.cmd("info snapshots")
    assert "first" not in snaps and "again" in snaps
    assert "no snapshot named 'first'" in r.mon.cmd("loadvm first")
    assert "no snapshot named 'first'" in r.mon.cmd("delvm first")
    assert "a name is needed" in r.mon.cmd("savevm")
    assert r.icount() == 1500


def test_bookmark_goto(replay):
    r = replay(gdb=False)
    assert r.mon.cmd("bookmark") == "no bookmarks\n"
    r.mon.cmd("replay_seek 321")
    assert r.mon.cmd("bookmark here") == "bookmark 'here' at icount 321\n"
    pc = r.pc()
    r.mon.cmd("replay_seek 2000")
    r.mon.cmd("bookmark later")
    assert re.search(r"^here\s+icount 321$", r.mon.cmd("bookmark"), re.M)
    assert r.mon.cmd("goto here") == ""
    assert r.icount() == 321 and r.pc() == pc
    r.mon.cmd("goto later")
    assert r.icount() == 2000
    assert "no bookmark named 'nowhere'" in r.mon.cmd("goto nowhere")
    r.mon.cmd("bookmark -d here")
    assert "no bookmark named 'here'" in r.mon.cmd("goto here")
    assert r.icount() == 2000


def test_errors_leave_position(replay):
    r = replay(gdb=False)
    r.mon.cmd("replay_seek 1000")
    for bad in ("replay_seek x", "replay_seek -5", "replay_seek 12q", "replay_break 1.5",
                "replay_seek 99999999999999999999999"):
        assert "invalid instruction count" in r.mon.cmd(bad), bad
    assert "an instruction count is needed" in r.mon.cmd("replay_seek")
    out = r.mon.cmd("replay_seek %d" % (replay.end + 1))
    assert "past the end of the recording (icount %d)" % replay.end in out
    assert "position unchanged (icount 1000)" in out
    assert "past the end" in r.mon.cmd("replay_break %d" % (replay.end + 100))
    assert r.icount() == 1000
    # the very end is a position
    assert r.mon.cmd("replay_seek %d" % replay.end) == ""
    assert r.icount() == replay.end


def test_monitor_only_replay_break_and_cont(replay):
    r = replay(gdb=False)
    r.mon.cmd("replay_break 2222")
    r.mon.cmd("cont")
    deadline = time.time() + 10
    while "VM status: paused" not in r.mon.cmd("info status"):
        assert time.time() < deadline
        time.sleep(0.05)
    assert r.icount() == 2222
    r.mon.cmd("cont")
    r.proc.wait(timeout=20)
    _, err = r.close()
    assert "replay: stopped at icount 2222 (replay_break)" in err
    assert "end of recording at icount %d" % replay.end in err


def test_not_replaying(rewind, tmp_path, guest_elf):
    path = str(tmp_path / "m.sock")
    elf = guest_elf("uart_irq")
    for argv in ([rewind, "run", "-bios", "none", "-kernel", elf],
                 [rewind, "record", "-o", str(tmp_path / "b"), "-bios", "none", "-kernel", elf]):
        proc = subprocess.Popen(argv + ["-S", "-monitor", "unix:%s,server,nowait" % path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_for_path(path, proc)
            mon = MonitorClient(path)
            for cmd in ("replay_seek 10", "replay_break 10", "replay_delete_break",
                        "savevm a", "loadvm a", "delvm a", "bookmark a", "goto a",
                        "info snapshots"):
                name = cmd.rsplit(" ", 1)[0] if cmd != "info snapshots" else cmd
                assert mon.cmd(cmd).startswith("%s: not replaying" % name), cmd
            info = mon.cmd("info replay")
            if argv[1] == "run":
                assert info == "Record/replay is not active\n"
            else:
                assert re.match(r"Recording execution '.*events\.rlog': instruction count = 0",
                                info), info
                assert "mode:         record" in info
            mon.send_quit()
            mon.close()
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        os.path.exists(path) and os.unlink(path)
