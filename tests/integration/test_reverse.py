"""Reverse execution (docs/reverse.md, issue 4 "Done when") with the real
gdb-multiarch on recorded bundles: stepi / reverse-stepi, breakpoints hit by
reverse-continue then continue, reverse watchpoints, reverse-finish,
reverse-next, the start and end of history, timer interrupts and console
input in the recording, -smp 4, determinism, Ctrl-C during a long
reverse-continue, and a 10^10-instruction recording."""
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ROOT, guest, manifest
from gdb_driver import Gdb, tcp_listening

UART_IRQ_INPUT = os.path.join(ROOT, "tests", "guests", "uart_irq.input")
NO_HISTORY = "No more reverse-execution history"


# ---------------------------------------------------------------- helpers

def record(rewind, bundle, kernel, stdin=None, extra=(), timeout=120):
    with open(stdin or os.devnull, "rb") as f:
        p = subprocess.run([rewind, "record", "-o", bundle, *extra, "-bios", "none",
                            "-kernel", kernel], stdin=f, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    assert p.returncode == 0, p.stderr.decode()
    return p


def replay(rewind, bundle, extra=(), timeout=120):
    return subprocess.run([rewind, "replay", bundle, *extra], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def end_icount(stderr):
    m = re.search(rb"replay: end of recording at icount (\d+)", stderr)
    assert m, stderr.decode()
    return int(m.group(1))


def record_with_monitor_quit(rewind, bundle, kernel, stdin_bytes, wait_for, tmp):
    """Records with console input, then ends the recording with the
    monitor's `quit` (not a guest exit), so the log ends with the machine
    still running: the end of history under GDB is replaylog:end."""
    sock = os.path.join(str(tmp), "mon-%d.sock" % os.getpid())
    proc = subprocess.Popen([rewind, "record", "-o", bundle, "-monitor", "unix:" + sock,
                             "-bios", "none", "-kernel", kernel],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out = bytearray()

    def reader():
        while True:
            b = proc.stdout.read1(4096)
            if not b:
                break
            out.extend(b)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    proc.stdin.write(stdin_bytes)
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while wait_for not in out:
        assert time.monotonic() < deadline, bytes(out)
        time.sleep(0.05)
    import socket
    s = socket.socket(socket.AF_UNIX)
    while True:
        try:
            s.connect(sock)
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    s.recv(4096)
    s.sendall(b"quit\n")
    assert proc.wait(20) == 0, proc.stderr.read().decode()
    s.close()
    t.join(5)
    return bytes(out)


class ReplayProc:
    """build/rewind replay BUNDLE -S -gdb tcp::PORT, waited for until it
    listens; its console output is collected."""

    def __init__(self, rewind, bundle, port, extra=()):
        self.argv = [rewind, "replay", bundle, "-S", "-gdb", "tcp::%d" % port, *extra]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output = b""
        self.errors = b""
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, "output"),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, "errors"),
                                          daemon=True)]
        for r in self._readers:
            r.start()
        self.target = ":%d" % port
        deadline = time.monotonic() + 10
        while not tcp_listening(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rewind replay did not listen: %r" % self.errors)
            time.sleep(0.02)

    def _read(self, f, attr):
        while True:
            chunk = f.read1(65536)
            if not chunk:
                break
            setattr(self, attr, getattr(self, attr) + chunk)

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        for r in self._readers:
            r.join(5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def debug_replay(rewind, gdb_multiarch, free_port):
    """debug_replay(bundle, elf) -> (ReplayProc, Gdb connected); closed after."""
    opened = []

    def start(bundle, elf, extra=()):
        rp = ReplayProc(rewind, bundle, free_port, extra)
        g = Gdb(elf)
        opened.append((rp, g))
        g.connect(rp.target)
        return rp, g

    yield start
    for rp, g in opened:
        g.close()
        rp.close()


# a few CSRs that an interrupt entry changes, on top of `info registers`
CSRS = "mstatus mepc mcause mip mie minstret priv"


def regs(g):
    """The selected hart's state as GDB shows it: {name: raw hex}."""
    text = g.cmd("info registers") + g.cmd("info registers " + CSRS)
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)\s+(0x[0-9a-f]+)", line)
        if m:
            out[m.group(1)] = int(m.group(2), 16)
    assert "pc" in out and "ra" in out and "minstret" in out, text
    return out


def threads(g):
    ids = [int(t) for t in re.findall(r"^\*?\s+(\d+)\s+Thread", g.cmd("info threads"), re.M)]
    assert ids
    return ids


def machine_state(g, variables=()):
    """Every hart's registers (switching GDB's thread and back) plus the
    values of some guest variables: the whole machine as far as GDB sees."""
    cur = int(re.search(r"Current thread is (\d+)", g.cmd("thread")).group(1))
    ids = threads(g)
    state = {}
    for t in ids:
        if len(ids) > 1:
            g.cmd("thread %d" % t)
        state[t] = regs(g)
    if len(ids) > 1:
        g.cmd("thread %d" % cur)
    for v in variables:
        state[v] = g.eval(v)
    return state


def diff(a, b):
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k) != b.get(k):
            if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
                out.append((k, {r: (hex(a[k].get(r, -1)), hex(b[k].get(r, -1)))
                                for r in set(a[k]) | set(b[k])
                                if a[k].get(r) != b[k].get(r)}))
            else:
                out.append((k, a.get(k), b.get(k)))
    return out


def assert_history_end(stop):
    """A stop at the start or end of history: GDB says so (replaylog:*),
    never an error."""
    assert NO_HISTORY in stop.text, stop.text
    assert stop.signal is None or stop.signal == "SIGTRAP", stop


# ------------------------------------------------------------ bundles

@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Records the guests once per module: name -> (bundle, elf, stdout)."""
    if not os.path.exists(os.path.join(ROOT, "build", "rewind")):
        pytest.skip("build/rewind is not built")
    from conftest import REWIND
    tmp = tmp_path_factory.mktemp("bundles")
    made = {}

    def get(name):
        if name in made:
            return made[name]
        if name == "uart_irq":
            elf = guest("uart_irq")
            b = str(tmp / name)
            p = record(REWIND, b, elf, stdin=UART_IRQ_INPUT)
        elif name == "smp":
            elf = guest("smp")
            b = str(tmp / name)
            p = record(REWIND, b, elf, extra=["-smp", "4"])
        else:
            elf = guest(name)
            b = str(tmp / name)
            p = record(REWIND, b, elf)
        made[name] = (b, elf, p.stdout)
        return made[name]
    return get


# Where each guest is stopped before the ten steps: a breakpoint
# (optionally for one thread), the hit number, and the state variables to
# compare besides registers.
START = {
    "watch": ("bump", None, 2, ("counter",)),
    "timer": ("m_trap", None, 3, ("ticks", "next_deadline")),
    "uart_irq": ("m_trap", None, 2, ("head", "tail", "irqs")),
    # hart 1 printing "alive" while the others spin elsewhere
    "smp": ("rt_printf", 2, 1, ("turn", "started_mask")),
}


def go_to_start(g, name):
    where, thread, hit, variables = START[name]
    g.cmd("break %s%s" % (where, " thread %d" % thread if thread else ""))
    for _ in range(hit):
        stop = g.run("continue")
        assert stop.reason == "breakpoint-hit", stop
    g.cmd("delete")
    if thread:
        assert stop.thread == thread, stop
    return stop, variables


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("name", ["watch", "timer", "uart_irq", "smp"])
def test_stepi_then_reverse_stepi_and_breakpoints(bundles, debug_replay, name):
    """Ten stepi collecting pcs and the whole machine state, ten
    reverse-stepi back through the same states in reverse order (the
    selected hart's minstret -1 each time); then breakpoints on those pcs
    hit in reverse order by reverse-continue and in forward order by
    continue, at the same icounts and states."""
    bundle, elf, _ = bundles(name)
    rp, g = debug_replay(bundle, elf)
    stop, variables = go_to_start(g, name)
    thread = stop.thread
    states = [machine_state(g, variables)]
    for _ in range(10):
        s = g.run("stepi")
        assert s.thread == thread, s
        states.append(machine_state(g, variables))
        # exactly one instruction of the selected hart
        assert states[-1][thread]["minstret"] == states[-2][thread]["minstret"] + 1
    pcs = [st[thread]["pc"] for st in states]
    icounts = [st[thread]["minstret"] for st in states]

    for i in range(9, -1, -1):
        s = g.run("reverse-stepi")
        assert s.thread == thread, s
        assert NO_HISTORY not in s.text
        now = machine_state(g, variables)
        assert now[thread]["pc"] == pcs[i]
        assert now[thread]["minstret"] == icounts[i]
        if len(now) - len(variables) == 1:
            assert now == states[i], (i, diff(states[i], now))
        else:
            # -smp: the selected hart exactly; the others where the
            # recorded schedule had them when that instruction ran
            assert now[thread] == states[i][thread], (i, diff(states[i], now))

    # forward again over the same ground: the same states
    for i in range(1, 11):
        g.run("stepi")
        now = machine_state(g, variables)
        assert now[thread] == states[i][thread], (i, diff(states[i], now))

    # breakpoints on pcs[1..9] (pcs[0] would be hit earlier; in a loop a pc
    # may repeat: keep the hits' sequence as the positions give it)
    for pc in sorted(set(pcs[1:10])):
        g.cmd("break *%#x%s" % (pc, " thread %d" % thread if len(threads(g)) > 1 else ""))
    for i in range(9, 0, -1):
        s = g.run("reverse-continue")
        assert s.reason == "breakpoint-hit", (i, s, s.text)
        assert s.thread == thread
        now = machine_state(g, variables)
        assert (now[thread]["pc"], now[thread]["minstret"]) == (pcs[i], icounts[i]), i
        assert now[thread] == states[i][thread], (i, diff(states[i], now))
    for i in range(2, 10):
        s = g.run("continue")
        assert s.reason == "breakpoint-hit", (i, s, s.text)
        now = machine_state(g, variables)
        assert (now[thread]["pc"], now[thread]["minstret"]) == (pcs[i], icounts[i]), i
        assert now[thread] == states[i][thread], (i, diff(states[i], now))


def test_smp_reverse_stepi_each_hart(bundles, debug_replay):
    """-smp 4 in the work loop: each thread in turn goes back five
    instructions, its minstret -1 each time, and forward again."""
    bundle, elf, _ = bundles("smp")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break work thread 3")
    g.run("continue")
    g.cmd("delete")
    g.run("stepi 200")
    for t in (1, 2, 3, 4):
        g.cmd("thread %d" % t)
        start = regs(g)
        seen = [start]
        for _ in range(5):
            s = g.run("reverse-stepi")
            assert s.thread == t, s
            seen.append(regs(g))
            assert seen[-1]["minstret"] == seen[-2]["minstret"] - 1
        for k in range(4, -1, -1):
            s = g.run("stepi")
            assert s.thread == t, s
            now = regs(g)
            assert now == seen[k], (t, k, diff(seen[k], now))


def test_reverse_watchpoint_each_write(bundles, debug_replay):
    """watch.elf's counter, written three times by bump(): going back,
    reverse-continue stops at each write in turn with the value before it
    in memory; forward again, continue stops at each write in turn."""
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break fill_buffer")
    g.run("continue")
    g.cmd("delete")
    end = g.eval_int("$minstret")
    g.cmd("watch counter")
    icounts = []
    for old, new in ((3, 2), (2, 1), (1, 0)):
        s = g.run("reverse-continue")
        assert s.reason == "watchpoint-trigger", (s, s.text)
        assert "Old value = %d\nNew value = %d" % (old, new) in s.text, s.text
        assert s.func == "bump", s
        assert g.eval_int("counter") == new
        icounts.append(g.eval_int("$minstret"))
    assert icounts == sorted(icounts, reverse=True) and icounts[0] < end
    s = g.run("reverse-continue")
    assert_history_end(s)
    assert g.eval_int("$minstret") == 0
    for old, new in ((0, 1), (1, 2), (2, 3)):
        s = g.run("continue")
        assert s.reason == "watchpoint-trigger", (s, s.text)
        assert "Old value = %d\nNew value = %d" % (old, new) in s.text, s.text
        assert s.func == "bump", s
        assert g.eval_int("counter") == new


def store_in_bump(g):
    text = g.cmd("disassemble bump")
    m = re.search(r"(0x[0-9a-f]+) <\+\d+>:\s+sd\s", text)
    assert m, text
    return int(m.group(1), 16)


def test_reverse_watchpoint_pc_at_store(bundles, debug_replay):
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break fill_buffer")
    g.run("continue")
    g.cmd("delete")
    store = store_in_bump(g)
    g.cmd("watch counter")
    s = g.run("reverse-continue")
    assert s.reason == "watchpoint-trigger", s
    assert g.eval_int("counter") == 2
    assert g.pc() == store, "pc %#x, the store is at %#x" % (g.pc(), store)


def test_reverse_finish_and_reverse_next(bundles, debug_replay):
    """reverse-finish from a callee lands in the caller at the call;
    reverse-next in C steps back over a whole call."""
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break bump")
    g.run("continue")
    g.run("continue")                      # the second call: counter == 1
    g.cmd("delete")
    assert g.eval_int("counter") == 1
    inside = g.eval_int("$minstret")
    s = g.run("reverse-finish")
    assert s.func == "main", (s, s.text)
    assert "Run back to call of #0" in s.text and "bump" in s.text, s.text
    # the pc is at the call to bump, before it ran
    assert re.search(r"\b(jal|call)\b.*<bump>", g.cmd("x/i $pc")), g.cmd("x/i $pc")
    assert g.eval_int("$minstret") < inside
    assert g.eval_int("counter") == 1
    # forward: next over the call, then reverse-next back over it
    line = int(re.search(r"\bline=\"(\d+)\"", s.line).group(1))
    here = g.eval_int("$minstret")
    s = g.run("next")
    assert g.eval_int("counter") == 2
    s = g.run("reverse-next")
    assert s.func == "main", (s, s.text)
    assert g.eval_int("counter") == 1
    assert g.eval_int("$minstret") <= here
    # and again back over the previous iteration's call to bump
    for _ in range(6):
        s = g.run("reverse-next")
        assert s.func == "main", (s, s.text)
        if g.eval_int("counter") == 0:
            break
    assert g.eval_int("counter") == 0
    assert line


def test_timer_reverse_finish_from_handler(bundles, debug_replay):
    """reverse-finish out of the timer interrupt handler goes back to its
    caller in the trap path (rt_mtrap_dispatch), at the call."""
    bundle, elf, _ = bundles("timer")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break m_trap")
    g.run("continue")
    g.run("continue")
    g.cmd("delete")
    ticks = g.eval_int("ticks")
    s = g.run("reverse-finish")
    assert s.func == "rt_mtrap_dispatch", (s, s.text)
    assert g.eval_int("ticks") == ticks


def test_start_and_end_of_history(rewind, debug_replay, tmp_path):
    """reverse-continue with no breakpoints reaches the start
    (replaylog:begin); continue forward to the end of a recording that the
    user ended (monitor quit) stops with replaylog:end; stepping past
    either end says so too, never an E error, and the session goes on."""
    bundle = str(tmp_path / "b")
    elf = guest("uart_irq")
    out = record_with_monitor_quit(rewind, bundle, elf, b"hello\nworld\n", b"echo: world\n",
                                   tmp_path)
    end = int(manifest(bundle)["recording"]["end_icount"])
    rp, g = debug_replay(bundle, elf)
    s = g.run("reverse-stepi")
    assert_history_end(s)
    assert g.eval_int("$minstret") == 0
    s = g.run("continue")
    assert_history_end(s)
    assert g.eval_int("$minstret") == end
    assert rp.proc.poll() is None
    s = g.run("continue")
    assert_history_end(s)
    s = g.run("stepi")
    assert_history_end(s)
    assert g.eval_int("$minstret") == end
    at_end = regs(g)
    s = g.run("reverse-continue")
    assert_history_end(s)
    assert g.eval_int("$minstret") == 0 and g.pc() == 0x1000
    s = g.run("reverse-continue")
    assert_history_end(s)
    s = g.run("continue")
    assert_history_end(s)
    assert regs(g) == at_end
    assert "error" not in "".join(g.log[-50:]).lower() or "E0" not in "".join(g.log[-50:])
    assert out.endswith(b"echo: world\n")


def test_guest_exit_at_end_of_history(bundles, debug_replay):
    """A recording that ends with the guest's exit: continue to the end
    stops at the end of history (replaylog:end, not an error, not the end
    of the session), GDB can walk back from there and forward again, and
    rewind then exits with the recorded status."""
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    s = g.run("continue")
    assert NO_HISTORY in s.text, (s, s.text)
    end = regs(g)
    s = g.run("reverse-stepi")
    assert NO_HISTORY not in s.text, s.text
    back = regs(g)
    assert back["minstret"] == end["minstret"] - 1 and back["pc"] != end["pc"]
    s = g.run("stepi")
    assert regs(g) == end
    s = g.run("continue")
    assert NO_HISTORY in s.text, (s, s.text)
    g.cmd("kill")
    assert rp.wait(10) == 0


def test_console_output_not_repeated_by_reverse(bundles, debug_replay):
    """Reverse execution re-executes what was shown already: the replay's
    console prints the recording's output exactly once."""
    bundle, elf, recorded = bundles("timer")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break m_trap")
    for _ in range(3):
        g.run("continue")
    g.run("reverse-continue")
    g.run("reverse-stepi")
    g.cmd("delete")
    s = g.run("continue")
    assert NO_HISTORY in s.text, (s, s.text)
    g.cmd("kill")
    rp.wait(10)
    assert rp.output == recorded


def step_states(g, n, variables, direction):
    out = []
    for _ in range(n):
        s = g.run(direction)
        assert NO_HISTORY not in s.text, s.text
        out.append(machine_state(g, variables))
    return out


def check_cross(g, variables, n_back=12, n_fwd=4):
    """From a stop at a handler entry: forward n_fwd, back n_fwd + n_back
    (across the entry and the event that caused it), forward again: each
    icount has the same state whichever way it was reached. (The stop
    itself is not compared: see test_stepi_reverse_stepi_at_vector.)"""
    by_icount = {}

    def note(st):
        ic = st[1]["minstret"]
        if ic in by_icount:
            assert by_icount[ic] == st, (ic, diff(by_icount[ic], st))
        else:
            by_icount[ic] = st

    for st in step_states(g, n_fwd, variables, "stepi"):
        note(st)
    for st in step_states(g, n_fwd + n_back, variables, "reverse-stepi"):
        note(st)
    for st in step_states(g, n_fwd + n_back, variables, "stepi"):
        note(st)
    assert len(by_icount) == n_fwd + n_back + 1, sorted(by_icount)
    # the window spans the entry: interrupts on (MIE) before, off after
    assert {st[1]["mstatus"] & 8 for st in by_icount.values()} == {0, 8}
    return by_icount


def test_timer_interrupt_entry_same_state_both_ways(bundles, debug_replay):
    """Across a timer interrupt's entry: the states at each icount agree
    going forward and going back."""
    bundle, elf, _ = bundles("timer")
    rp, g = debug_replay(bundle, elf)
    variables = ("ticks", "next_deadline")
    g.cmd("break *rt_mtrap_entry")
    g.run("continue")
    g.run("continue")                       # the second timer interrupt
    g.cmd("delete")
    check_cross(g, variables)


def test_timer_vector_breakpoint_both_ways(bundles, debug_replay):
    """A breakpoint at the trap vector is hit at the same icount and state
    by continue and by reverse-continue; the handler's first steps agree
    forward and back; the first interrupt is found going back too."""
    bundle, elf, _ = bundles("timer")
    rp, g = debug_replay(bundle, elf)
    variables = ("ticks", "next_deadline")
    g.cmd("break *rt_mtrap_entry")
    g.run("continue")
    s = g.run("continue")                   # the second timer interrupt
    assert s.pc == g.eval_int("&rt_mtrap_entry")
    at_vector = machine_state(g, variables)
    assert at_vector[1]["mcause"] == (1 << 63) | 7
    assert at_vector[1]["mstatus"] & 8 == 0 and at_vector[1]["mepc"] != 0
    g.cmd("delete")
    fwd = step_states(g, 30, variables, "stepi")
    back = step_states(g, 29, variables, "reverse-stepi")
    for a, b in zip(reversed(fwd[:-1]), back):
        assert a == b, diff(a, b)
    g.run("stepi 29")
    g.cmd("break *rt_mtrap_entry")
    s = g.run("reverse-continue")
    assert s.reason == "breakpoint-hit", s
    again = machine_state(g, variables)
    assert again == at_vector, diff(at_vector, again)
    s = g.run("reverse-continue")
    assert s.reason == "breakpoint-hit", s
    assert g.eval_int("ticks") == 0
    s = g.run("continue")
    assert machine_state(g, variables) == at_vector


def test_stepi_reverse_stepi_at_vector(bundles, debug_replay):
    bundle, elf, _ = bundles("timer")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break *rt_mtrap_entry")
    g.run("continue")
    g.cmd("delete")
    at_vector = regs(g)
    g.run("stepi")
    g.run("reverse-stepi")
    now = regs(g)
    assert now == at_vector, diff(at_vector, now)


def test_reverse_continue_to_last_breakpoint_stop(bundles, debug_replay):
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break bump")
    g.run("continue")
    g.run("continue")
    second = g.eval_int("$minstret")
    g.cmd("delete")
    g.run("stepi 3")
    g.cmd("break bump")
    s = g.run("reverse-continue")
    assert s.reason == "breakpoint-hit", s
    assert g.eval_int("$minstret") == second
    assert g.eval_int("counter") == 1


# ---- console input arriving at unpredictable times

def record_sleepy(rewind, bundle, lines, gaps):
    """Records uart_irq.elf with its input piped line by line, sleeping
    between lines: the bytes arrive while the guest waits."""
    proc = subprocess.Popen([rewind, "record", "-o", bundle, "-bios", "none", "-kernel",
                             guest("uart_irq")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed():
        for line, gap in zip(lines, gaps):
            time.sleep(gap)
            proc.stdin.write(line)
            proc.stdin.flush()
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    t.join(30)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return out


SLEEPY_LINES = [b"first\n", b"second line\n", b"3\n", b"quit\n"]


@pytest.fixture(scope="module")
def sleepy_bundle(tmp_path_factory):
    from conftest import REWIND
    if not os.path.exists(REWIND):
        pytest.skip("build/rewind is not built")
    b = str(tmp_path_factory.mktemp("sleepy") / "b")
    out = record_sleepy(REWIND, b, SLEEPY_LINES, [0.3, 0.25, 0.4, 0.2])
    return b, out


def test_determinism_input_at_unpredictable_times(rewind, sleepy_bundle, tmp_path):
    """Replaying twice gives the recording's console output and the same
    end icount (the end check event verifies the state hash, else the
    replay reports a divergence); a second recording with other timings
    retires a different number of instructions, so the timing mattered."""
    bundle, recorded = sleepy_bundle
    for line in SLEEPY_LINES[:-1]:
        assert b"echo: " + line in recorded
    end = int(manifest(bundle)["recording"]["end_icount"])
    runs = []
    for _ in range(2):
        p = replay(rewind, bundle, extra=["-report-icount"])
        assert p.returncode == 0, p.stderr.decode()
        assert b"diverged" not in p.stderr
        m = re.search(rb"exit status 0 after (\d+) instructions", p.stderr)
        assert m, p.stderr.decode()
        runs.append((p.stdout, int(m.group(1)), end_icount(p.stderr)))
    assert runs[0] == runs[1]
    assert runs[0][0] == recorded
    assert runs[0][2] == end
    # the input came while the guest waited on the host (idle events)
    info = subprocess.run([rewind, "info", bundle], stdout=subprocess.PIPE).stdout.decode()
    m = re.search(r"idle (\d+)", info)
    assert m and int(m.group(1)) >= len(SLEEPY_LINES), info


def test_determinism_state_under_gdb(sleepy_bundle, debug_replay):
    """Two replays under GDB stopped just before the guest's exit: the same
    icount, registers and guest variables."""
    bundle, _ = sleepy_bundle
    elf = guest("uart_irq")
    seen = []
    for _ in range(2):
        rp, g = debug_replay(bundle, elf)
        g.cmd("break rt_finish")
        s = g.run("continue")
        assert s.func == "rt_finish", s
        seen.append(machine_state(g, ("head", "tail", "irqs", "ring")))
        g.close()
        rp.close()
    assert seen[0] == seen[1], diff(*seen)


def test_console_byte_arrival_same_state_both_ways(sleepy_bundle, debug_replay):
    """Across the point where a console byte arrived (the guest waiting in
    WFI) and the receive interrupt's entry: every icount has the same
    state forward and backward."""
    bundle, _ = sleepy_bundle
    elf = guest("uart_irq")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break m_trap")
    g.run("continue")
    g.run("continue")                       # the line after the first sleep
    g.cmd("delete")
    check_cross(g, ("head", "tail", "irqs"), n_back=100)


def test_console_byte_handler_breakpoint_both_ways(sleepy_bundle, debug_replay):
    """The receive handler's breakpoint is hit by reverse-continue at the
    same icount and state as by continue, for the bytes that arrived after
    each sleep; the registers and variables at every stepi of the handler
    agree forward and back."""
    bundle, _ = sleepy_bundle
    elf = guest("uart_irq")
    rp, g = debug_replay(bundle, elf)
    variables = ("head", "tail", "irqs")
    g.cmd("break m_trap")
    hits = []
    for _ in range(3):
        g.run("continue")
        hits.append(machine_state(g, variables))
    g.cmd("delete")
    fwd = step_states(g, 20, variables, "stepi")
    back = step_states(g, 19, variables, "reverse-stepi")
    for a, b in zip(reversed(fwd[:-1]), back):
        assert a == b, diff(a, b)
    g.cmd("break m_trap")
    for want in reversed(hits):
        s = g.run("reverse-continue")
        assert s.reason == "breakpoint-hit", (s, s.text)
        now = machine_state(g, variables)
        assert now == want, diff(want, now)


def test_uart_irq_input_file_watch_head(bundles, debug_replay):
    """uart_irq.elf recorded with uart_irq.input: a watchpoint on the
    ring's head index stops at each byte stored by the handler going back,
    and at each one from the start going forward."""
    bundle, elf, _ = bundles("uart_irq")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break rt_finish")
    s = g.run("continue")
    g.cmd("delete")
    total = g.eval_int("head")
    assert total == sum(len(l) + 1 for l in open(UART_IRQ_INPUT).read().split("\n")[:-1])
    g.cmd("watch head")
    for k in range(5):
        s = g.run("reverse-continue")
        assert s.reason == "watchpoint-trigger", (s, s.text)
        assert "Old value = %d\nNew value = %d" % (total - k, total - k - 1) in s.text, s.text
        assert s.func == "m_trap", s
    # forward from the start (forward right after a reverse watchpoint
    # stop: test_forward_watch_after_reverse_watch_stop)
    g.cmd("delete")
    assert_history_end(g.run("reverse-continue"))
    g.cmd("watch head")
    for k in range(5):
        s = g.run("continue")
        assert s.reason == "watchpoint-trigger", (s, s.text)
        assert "Old value = %d\nNew value = %d" % (k, k + 1) in s.text, s.text
        assert s.func == "m_trap", s


def test_forward_watch_after_reverse_watch_stop(bundles, debug_replay):
    bundle, elf, _ = bundles("watch")
    rp, g = debug_replay(bundle, elf)
    g.cmd("break fill_buffer")
    g.run("continue")
    g.cmd("delete")
    g.cmd("watch counter")
    s = g.run("reverse-continue")
    assert "Old value = 3\nNew value = 2" in s.text, s.text
    s = g.run("continue")
    assert s.reason == "watchpoint-trigger", (s, s.text)
    assert "Old value = 2\nNew value = 3" in s.text, s.text


# ---- loop guests built here: a long recording, and Ctrl-C

LOOP_S = r"""
    .section .text
    .globl _start
_start:
    csrr    t1, mhartid
    bnez    t1, park
    li      t0, ITERS
    .globl loop
loop:
    addi    t0, t0, -1
    bnez    t0, loop
    .globl done
done:
    li      t1, 0x100000            /* the sifive,test finisher */
    li      t2, 0x5555              /* pass */
    sw      t2, 0(t1)
park:
    wfi
    j       park
"""


@pytest.fixture(scope="module")
def loop_guest(tmp_path_factory):
    """loop_guest(iterations) -> ELF running 2 * iterations instructions."""
    cc = shutil.which("riscv64-unknown-elf-gcc")
    if not cc:
        pytest.skip("riscv64-unknown-elf-gcc is not installed")
    d = tmp_path_factory.mktemp("loop")
    src = d / "loop.S"
    src.write_text(LOOP_S)

    def build(iters):
        elf = str(d / ("loop%d.elf" % iters))
        if not os.path.exists(elf):
            subprocess.run([cc, "-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles",
                            "-static", "-g", "-Wl,-Ttext=0x80000000", "-DITERS=%d" % iters,
                            "-o", elf, str(src)], check=True)
        return elf
    return build


def test_ctrl_c_during_long_reverse_continue(rewind, loop_guest, debug_replay, tmp_path):
    """A reverse-continue that would scan back over ~4e9 instructions is
    interrupted by Ctrl-C: it stops (SIGINT) at a consistent position in the
    loop (the counter register matches the instruction count), stepi and
    reverse-stepi still work there, and a later reverse-continue finds a
    breakpoint."""
    # long enough that the JIT (~2e9 instructions/s on this loop) is still
    # scanning when Ctrl-C comes
    iters = 2_000_000_000
    elf = loop_guest(iters)
    bundle = str(tmp_path / "b")
    record(rewind, bundle, elf)
    rp, g = debug_replay(bundle, elf)
    g.cmd("break *loop")
    g.run("continue")
    i0 = g.eval_int("$minstret")
    assert g.eval_int("$t0") == iters
    g.cmd("delete")
    g.cmd("break *done")
    t = time.monotonic()
    s = g.run("continue", timeout=120)
    forward = time.monotonic() - t
    assert s.reason == "breakpoint-hit" and s.pc == g.eval_int("&done"), s
    g.cmd("delete")

    def consistent():
        n, pc, t0 = g.eval_int("$minstret"), g.pc(), g.eval_int("$t0")
        k = n - i0
        if pc == g.eval_int("&loop"):
            assert k % 2 == 0 and t0 == iters - k // 2, (n, hex(pc), t0)
        else:
            assert g.eval_int("&loop") < pc < g.eval_int("&done"), hex(pc)
            assert k % 2 == 1 and t0 == iters - (k + 1) // 2, (n, hex(pc), t0)
        return n

    # no breakpoint: the scan would go back to the start
    t = time.monotonic()
    g.start("reverse-continue")
    time.sleep(0.3)
    assert rp.proc.poll() is None
    g.interrupt()
    s = g.wait_stop(30)
    took = time.monotonic() - t
    assert s.signal == "SIGINT", (s, s.text, took)
    assert took < 5, took
    n = consistent()
    assert i0 < n < i0 + 2 * iters
    before = regs(g)
    g.run("stepi")
    assert g.eval_int("$minstret") == n + 1
    consistent()
    g.run("reverse-stepi")
    assert regs(g) == before
    g.run("reverse-stepi")
    assert g.eval_int("$minstret") == n - 1
    consistent()
    # and the session goes on: a breakpoint back near the start
    g.cmd("break *_start")
    s = g.run("reverse-continue", timeout=120)
    assert s.reason == "breakpoint-hit" and s.pc == g.eval_int("&_start"), (s, s.text)
    print("forward continue %.2f s; reverse-continue interrupted after %.2f s"
          % (forward, took))


@pytest.mark.slow
def test_long_recording_1e10_instructions(rewind, loop_guest, tmp_path):
    """10^10 instructions with no input at all (QEMU 7.2 aborts past 2^31
    instructions between two events): records, the log stays small, and
    the replay ends with the same status and icount."""
    iters = 5_000_000_000
    elf = loop_guest(iters)
    bundle = str(tmp_path / "long")
    t = time.monotonic()
    rec = record(rewind, bundle, elf, timeout=300)
    t_rec = time.monotonic() - t
    end = int(manifest(bundle)["recording"]["end_icount"])
    assert end >= 2 * iters
    assert manifest(bundle)["recording"]["exit_status"] == "0"
    size = os.path.getsize(os.path.join(bundle, "events.rlog"))
    assert size < 4096, size
    t = time.monotonic()
    rep = replay(rewind, bundle, extra=["-report-icount"], timeout=300)
    t_rep = time.monotonic() - t
    assert rep.returncode == 0, rep.stderr.decode()
    assert b"diverged" not in rep.stderr
    assert end_icount(rep.stderr) == end
    m = re.search(rb"exit status 0 after (\d+) instructions", rep.stderr)
    assert m and int(m.group(1)) == end, rep.stderr.decode()
    assert rep.stdout == rec.stdout == b""
    print("1e10: record %.1f s, replay %.1f s, log %d bytes" % (t_rec, t_rep, size))
