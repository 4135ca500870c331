"""Forward debugging with the real gdb-multiarch through its MI interface
(gdb_driver.py): breakpoints on C functions, bt, finish, exact stepi,
registers (integer, FP, CSR, priv), memory through the hart's translation,
code patched from GDB, steps into trap handlers and over WFI, harts as
threads, Ctrl-C, detach / reconnect / disconnect, kill, Unix sockets."""
import os
import re
import signal
import time

import pytest

from gdb_driver import Gdb, RewindProc


@pytest.fixture
def machine(rewind, gdb_multiarch, guest_elf, free_port):
    """machine(name, extra=(), unix=None) -> (RewindProc, elf); closed after."""
    procs = []

    def start(name, extra=("-serial", "null"), unix=None):
        elf = guest_elf(name)
        spec = "unix:" + unix if unix else "tcp::%d" % free_port
        rw = RewindProc(rewind, elf, gdb=spec, extra=extra)
        procs.append(rw)
        return rw, elf

    yield start
    for rw in procs:
        rw.close()


def session(machine, name, **kw):
    rw, elf = machine(name, **kw)
    g = Gdb(elf)
    g.connect(rw.target)
    return rw, g


def insn_at(g, addr):
    """(length, mnemonic) of the instruction at addr, from GDB's x/i."""
    half = g.eval_int("*(unsigned short *)%#x" % addr)
    text = g.cmd("x/i %#x" % addr)
    m = re.search(r":\s+(\S+)", text.split("\n")[0].split(">:", 1)[-1])
    mnem = text.split(":", 1)[1].split()[0] if ":" in text else ""
    return (4 if half & 3 == 3 else 2), (m.group(1) if m else mnem)


def kill_and_wait(g, rw):
    g.cmd("kill")
    assert rw.wait(10) is not None


def test_break_continue_bt_finish(machine):
    rw, g = session(machine, "uart")
    with g:
        g.cmd("break rt_printf")
        stop = g.run("continue")
        assert stop.reason == "breakpoint-hit" and stop.func == "rt_printf", stop
        bt = g.cmd("bt")
        assert re.search(r"^#0\s+rt_printf \(", bt, re.M), bt
        # rt_check calls it (a tail call at -O2 shows main directly)
        assert re.search(r"^#1\s+0x[0-9a-f]+ in (rt_check|main) \(", bt, re.M), bt
        g.cmd("delete")
        stop = g.run("finish")
        assert stop.reason == "function-finished", stop
        assert stop.func in ("rt_check", "main"), stop
        # the first check uart.c prints: "ok: LCR reads back 8N1 (0x03)\n"
        m = re.search(r"Value returned is \$\d+ = (\d+)", stop.text)
        assert m and int(m.group(1)) == len("ok: LCR reads back 8N1 (0x03)\n"), stop.text
        kill_and_wait(g, rw)


def test_stepi_is_exact(machine):
    rw, g = session(machine, "uart")
    with g:
        g.cmd("break main")
        stop = g.run("continue")
        assert stop.func == "main"
        g.cmd("delete")
        main = g.pc()
        # main starts with a compressed instruction: stepi moves by 2
        assert insn_at(g, main)[0] == 2
        g.run("stepi")
        assert g.pc() == main + 2
        # every stepi executes exactly one instruction: the pc moves to the
        # next one unless it is a jump or branch, and minstret counts one
        for _ in range(25):
            pc = g.pc()
            n, mnem = insn_at(g, pc)
            before = g.eval_int("$minstret")
            g.run("stepi")
            assert g.eval_int("$minstret") == before + 1
            if not re.match(r"(j|jal|jalr|jr|ret|call|tail|b\w+|c\.\w+)$", mnem):
                assert g.pc() == pc + n, (hex(pc), mnem)
        before = g.eval_int("$minstret")
        g.run("stepi 100")
        assert g.eval_int("$minstret") == before + 100
        kill_and_wait(g, rw)


def test_registers_fp_csr_and_writes(machine):
    rw, g = session(machine, "uart")
    with g:
        g.cmd("break main")
        g.run("continue")
        g.cmd("set $a0 = 0x1234")
        g.cmd("set $t6 = -2")
        assert g.eval("/x $a0") == "0x1234"
        out = g.cmd("info registers a0 t6")
        assert re.search(r"^a0\s+0x1234\s", out, re.M), out
        assert re.search(r"^t6\s+0xfffffffffffffffe\s", out, re.M), out
        g.cmd("set $f3 = 1.5")
        assert "double = 1.5" in g.cmd("p $f3")
        out = g.cmd("info registers float")
        assert re.search(r"^ft3\s+.*raw 0x3ff8000000000000", out, re.M), out
        assert re.search(r"^fcsr\s+0x0", out, re.M), out
        # CSRs
        assert g.eval("/x $misa") == "0x800000000014112d"      # rv64imafdcsu
        assert g.eval_int("$mhartid") == 0
        assert g.eval_int("$priv") == 3
        assert g.eval_int("$mstatus") & (3 << 13)            # FS on (crt0)
        g.cmd("set $mscratch = 0xfeed")
        assert g.eval("/x $mscratch") == "0xfeed"
        # the values survive a step of code that does not touch them
        g.run("stepi")
        assert g.eval("/x $a0") == "0x1234" and "double = 1.5" in g.cmd("p $f3")
        # memory writes read back, an unmapped address is an error
        g.cmd("set {unsigned int}0x80100000 = 0xc0ffee11")
        assert "0xc0ffee11" in g.cmd("x/wx 0x80100000")
        out = g.cmd("x/wx 0x200", allow_error=True)
        assert "Cannot access memory at address 0x200" in out, out
        out = g.cmd("set {int}0x10 = 1", allow_error=True)
        assert "Cannot access memory at address 0x10" in out, out
        kill_and_wait(g, rw)


def test_code_patched_from_gdb_runs(machine):
    """A GDB write to code that already ran (and was decoded) takes effect:
    the decoded-instruction cache is invalidated."""
    rw, g = session(machine, "uart")
    with g:
        g.cmd("break main")
        g.run("continue")
        g.cmd("delete")
        main = g.pc()
        sp = g.eval_int("$sp")
        g.run("stepi")                      # addi sp,sp,-208 ran (decoded)
        assert g.eval_int("$sp") == sp - 208
        g.cmd("set $pc = %#x" % main)
        g.cmd("set {unsigned int}%#x = 0x12300513" % main)   # li a0, 0x123
        assert re.search(r"li\s+a0,\s*291", g.cmd("x/i $pc")), g.cmd("x/i $pc")
        g.run("stepi")
        assert g.eval_int("$a0") == 0x123
        assert g.pc() == main + 4
        assert g.eval_int("$sp") == sp - 208      # not the old instruction
        kill_and_wait(g, rw)


def test_stepi_into_trap_handlers(machine):
    rw, g = session(machine, "traps")
    with g:
        g.cmd("break *illegal32_insn")
        g.cmd("break *ecall_insn")
        stop = g.run("continue")
        assert stop.pc == g.eval_int("&illegal32_insn")
        g.run("stepi")
        assert g.pc() == g.eval_int("$mtvec") == g.eval_int("&rt_mtrap_entry")
        assert g.eval_int("$mcause") == 2
        assert g.eval_int("$mepc") == g.eval_int("&illegal32_insn")
        stop = g.run("continue")
        assert stop.pc == g.eval_int("&ecall_insn")
        g.run("stepi")
        assert g.pc() == g.eval_int("&rt_mtrap_entry")
        assert g.eval_int("$mcause") == 11
        assert g.eval_int("$mepc") == g.eval_int("&ecall_insn")
        kill_and_wait(g, rw)


def test_ctrl_c_and_stepi_over_wfi(machine):
    """uart_irq waits for input in WFI; with no serial input it waits
    forever. Ctrl-C stops it; stepi never hangs in WFI."""
    rw, g = session(machine, "uart_irq")
    with g:
        for _ in range(2):
            g.start("continue")
            time.sleep(0.7)
            assert rw.proc.poll() is None
            g.interrupt()
            stop = g.wait_stop(10)
            assert stop.signal == "SIGINT", stop
            assert stop.thread == 1
        # the interrupted hart waits in WFI: a step completes the wait at
        # once and runs the next instruction; a step of a WFI executes it
        wfis = 0
        for _ in range(30):
            if re.search(r"\swfi\b", g.cmd("x/i $pc")):
                wfis += 1
                pc = g.pc()
                g.run("stepi", timeout=10)
                assert g.pc() == pc + 4
            else:
                g.run("stepi", timeout=10)
        assert wfis >= 2
        kill_and_wait(g, rw)


def test_ctrl_c_while_busy(machine):
    """smp's secondary harts spin; hart 0 waits on its own: stop with Ctrl-C
    while instructions run (not idle)."""
    rw, g = session(machine, "smp", extra=("-serial", "null", "-smp", "4"))
    with g:
        g.cmd("break rt_secondary_main")
        g.run("continue")
        g.cmd("delete")
        g.start("continue")
        time.sleep(0.3)
        g.interrupt()
        stop = g.wait_stop(10)
        assert stop.signal == "SIGINT" or stop.reason == "exited-normally", stop
        if stop.signal:
            kill_and_wait(g, rw)


def thread_pcs(g):
    out = g.cmd("thread apply all p/x $pc")
    pcs = {}
    for m in re.finditer(r"^Thread (\d+) .*\n\$\d+ = (0x[0-9a-f]+)", out, re.M):
        pcs[int(m.group(1))] = int(m.group(2), 16)
    return pcs


def test_harts_are_threads(machine):
    rw, g = session(machine, "smp", extra=("-serial", "null", "-smp", "4"))
    with g:
        # a breakpoint hit on hart 3 selects thread 4
        g.cmd("break rt_secondary_main if $mhartid == 3")
        stop = g.run("continue")
        assert stop.thread == 4, stop
        assert g.eval_int("$mhartid") == 3
        g.cmd("delete")
        out = g.cmd("info threads")
        for hart in range(4):
            assert re.search(r"^\*?\s+%d\s+Thread %d \(hart %d, M-mode\) (0x[0-9a-f]+ in )?\w+ \("
                             % (hart + 1, hart + 1, hart), out, re.M), out
        assert re.search(r"^\*\s+4\s+Thread 4", out, re.M), out
        g.cmd("thread 3")
        assert g.eval_int("$mhartid") == 2
        # stepping one hart keeps the others still
        before = thread_pcs(g)
        assert sorted(before) == [1, 2, 3, 4], before
        g.cmd("thread 2")
        g.run("stepi")
        g.run("stepi")
        after = thread_pcs(g)
        assert after[2] != before[2]
        for t in (1, 3, 4):
            assert after[t] == before[t], (t, before, after)
        assert "Current thread is 2" in g.cmd("thread")
        # stepping thread 1 then: only it moves
        g.cmd("thread 1")
        g.run("stepi")
        again = thread_pcs(g)
        assert again[1] != after[1] and all(again[t] == after[t] for t in (2, 3, 4))
        # continue runs every hart: the guest finishes its checks
        stop = g.run("continue", timeout=60)
        assert stop.reason == "exited-normally", stop
        assert rw.wait(10) == 0


def test_paging_user_breakpoint(machine):
    """paging.elf runs u_store (.utext) in U-mode at user VA 0x40000014
    under Sv39, storing a1 = 0xabcdef through a0 = UV_DATA + 8."""
    rw, g = session(machine, "paging")
    with g:
        uva = 0x40000000 + g.eval_int("&u_store") - g.eval_int("&__user_text_start")
        assert uva == 0x40000014
        g.cmd("break *%#x" % uva)
        stop = g.run("continue")
        assert stop.pc == uva, stop
        assert g.eval_int("$priv") == 0                      # U-mode
        assert g.eval_int("$satp") >> 60 == 8                # Sv39
        assert "hart 0, U-mode" in g.cmd("info threads")
        assert g.eval_int("$a0") == 0x40001008 and g.eval_int("$a1") == 0xabcdef
        assert re.search(r"sd\s+a1,0\(a0\)", g.cmd("x/i $pc"))
        # memory through the U-mode translation: user data at its user VA
        assert "0x1111222233334444" in g.cmd("x/gx 0x40001000")
        # the hole in the user area and supervisor-only pages are not there
        out = g.cmd("x/gx 0x40002000", allow_error=True)
        assert "Cannot access memory at address 0x40002000" in out, out
        out = g.cmd("x/gx 0x40006000", allow_error=True)
        assert "Cannot access memory at address 0x40006000" in out, out
        g.run("stepi")
        assert "0x0000000000abcdef" in g.cmd("x/gx 0x40001008")
        # a write through the user VA lands in the physical page
        g.cmd("set {unsigned long}0x40001010 = 0x5151")
        g.cmd("set $priv = 3")                               # look as M-mode
        assert g.eval_int("user_data[2]") == 0x5151
        g.cmd("set $priv = 0")
        kill_and_wait(g, rw)


def test_detach_and_reconnect(machine):
    rw, g = session(machine, "uart_irq")
    with g:
        g.run("stepi")
        g.cmd("detach")
    time.sleep(0.5)
    assert rw.proc.poll() is None         # the machine runs on, waiting for input
    with Gdb() as g2:
        g2.connect(rw.target)             # the machine stops for the new GDB
        assert g2.pc() >= 0x80000000
        assert "Thread 1 (hart 0, M-mode)" in g2.cmd("info threads")
        g2.cmd("detach")
    with Gdb() as g3:
        g3.connect(rw.target)
        kill_and_wait(g3, rw)


def test_disconnect_leaves_the_machine_stopped(machine):
    rw, g = session(machine, "uart_irq")
    g.run("stepi 3")
    pc = g.pc()
    g.proc.kill()                          # gdb dies without a word
    g.close()
    time.sleep(0.3)
    with Gdb() as g2:
        g2.connect(rw.target)
        assert g2.pc() == pc               # nothing ran
        g2.start("continue")
        time.sleep(0.3)
        g2.proc.kill()                     # dies while the machine runs
    time.sleep(0.3)
    assert rw.proc.poll() is None
    with Gdb() as g3:
        g3.connect(rw.target)
        n = g3.eval_int("$minstret")
        g3.proc.kill()
    time.sleep(0.5)
    with Gdb() as g4:
        g4.connect(rw.target)
        assert g4.eval_int("$minstret") == n   # stopped while nobody watched
        kill_and_wait(g4, rw)
    assert "debugger disconnected" in rw.text()


def test_unix_socket(machine, tmp_path):
    path = str(tmp_path / "gdb.sock")
    rw, g = session(machine, "uart", unix=path)
    with g:
        g.cmd("break main")
        stop = g.run("continue")
        assert stop.func == "main"
        g.run("stepi")
        kill_and_wait(g, rw)
    assert not os.path.exists(path)        # removed at exit


def test_kill_exits_rewind(machine):
    rw, g = session(machine, "uart_irq")
    with g:
        g.start("continue")
        time.sleep(0.3)
        g.interrupt()
        g.wait_stop(10)
        g.cmd("kill")
    assert rw.wait(10) is not None
    assert rw.proc.returncode != -signal.SIGKILL


def test_attach_to_a_running_machine(rewind, gdb_multiarch, guest_elf, free_port):
    """Without -S the machine runs; it stops when GDB connects (no stray
    stop reply confuses GDB's handshake)."""
    elf = guest_elf("uart_irq")
    with RewindProc(rewind, elf, gdb="tcp::%d" % free_port, start_stopped=False,
                    extra=("-serial", "null")) as rw:
        time.sleep(0.3)
        with Gdb(elf) as g:
            g.connect(rw.target)
            assert g.pc() >= 0x80000000
            assert g.eval_int("$minstret") > 0
            g.run("stepi")
            kill_and_wait(g, rw)
