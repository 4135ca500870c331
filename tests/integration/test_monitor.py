"""The monitor: on a Unix socket (-monitor unix:PATH), through gdb-multiarch's
`monitor` (qRcmd), and on a terminal with readline (-monitor stdio,
-serial mon:stdio with Ctrl-A c), driven through a pty."""
import os
import pty
import re
import select
import socket
import subprocess
import time

import pytest

PROMPT = b"(rewind) "


def wait_for_path(path, proc, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)
    raise AssertionError("%s never appeared" % path)


class MonitorClient:
    """The line protocol of -monitor unix:PATH: a banner, then a prompt
    after each command's output."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.banner = self._until_prompt()

    def _until_prompt(self):
        buf = b""
        while not buf.endswith(PROMPT):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(buf.decode())
            buf += chunk
        return buf[:-len(PROMPT)].decode()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self._until_prompt()

    def send_quit(self):
        self.sock.sendall(b"quit\n")
        # the connection closes when rewind exits
        while self.sock.recv(1000):
            pass

    def close(self):
        self.sock.close()


@pytest.fixture
def monitor(rewind, guest_elf, tmp_path):
    """Starts rewind with a monitor socket; yields a function taking the
    guest and extra options, returning (client, proc)."""
    procs, clients = [], []

    def start(guest="uart", extra=()):
        path = str(tmp_path / "mon.sock")
        proc = subprocess.Popen([rewind, "run", "-bios", "none", "-kernel", guest_elf(guest),
                                 "-serial", "null", "-monitor", "unix:%s,server,nowait" % path,
                                 *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        wait_for_path(path, proc)
        client = MonitorClient(path)
        clients.append(client)
        return client, proc

    yield start
    for c in clients:
        c.close()
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_socket_help_registers_and_quit(monitor):
    mon, proc = monitor("uart", ["-S"])
    assert "type 'help'" in mon.banner
    out = mon.cmd("help")
    for name in ("info", "x /fmt addr", "xp /fmt addr", "stop|s", "cont|c", "system_reset",
                 "quit|q", "gdb_phys"):
        assert name in out, out
    out = mon.cmd("help info")
    assert "info registers [-a|vcpu]" in out and "info mtree" in out, out
    assert mon.cmd("help x") == "x /fmt addr -- virtual memory dump starting at 'addr'\n"

    out = mon.cmd("info registers")
    assert out.startswith("\nCPU#0\n"), out
    assert re.search(r"^ pc       0000000000001000$", out, re.M), out
    assert re.search(r"^ mhartid  0000000000000000$", out, re.M), out
    assert re.search(r"^ x0/zero  0000000000000000 x1/ra    [0-9a-f]{16} ", out, re.M), out
    assert re.search(r"^ f28/ft8  [0-9a-f]{16} .* f31/ft11 [0-9a-f]{16}$", out, re.M), out

    mon.send_quit()
    assert proc.wait(timeout=10) == 0


def test_socket_info_cpus_smp(monitor):
    mon, proc = monitor("smp", ["-S", "-smp", "4"])
    out = mon.cmd("info cpus")
    lines = out.splitlines()
    assert len(lines) == 4, out
    assert lines[0] == "* CPU #0: pc=0x0000000000001000 mode=M thread_id=1", out
    assert lines[3] == "  CPU #3: pc=0x0000000000001000 mode=M thread_id=4", out
    assert mon.cmd("cpu 2") == ""
    assert mon.cmd("info cpus").splitlines()[2].startswith("* CPU #2:")
    assert "mhartid  0000000000000002" in mon.cmd("info registers")
    assert "mhartid  0000000000000003" in mon.cmd("info registers 3")
    assert mon.cmd("info registers -a").count("CPU#") == 4
    assert "invalid CPU index" in mon.cmd("cpu 4")
    mon.send_quit()
    proc.wait(timeout=10)


def test_socket_mtree_and_memory_dumps(monitor):
    mon, proc = monitor("uart", ["-S"])
    out = mon.cmd("info mtree")
    assert out.startswith("address-space: memory\n"), out
    assert "0000000010000000-00000000100000ff (prio 0, i/o): uart" in out, out
    assert "0000000000001000-000000000000ffff (prio 0, rom):" in out, out
    assert "0000000080000000-0000000087ffffff (prio 0, ram):" in out, out
    assert "(prio 0, i/o): clint" in out and "(prio 0, i/o): plic" in out, out
    assert len(re.findall(r"^    000000001000[1-8]000-.*virtio-mmio", out, re.M)) == 8, out

    # the boot ROM's reset vector: auipc t0,0; addi a2,t0,40; csrr a0,mhartid; ld a1,32(t0)
    rom = "0000000000001000: 0x00000297 0x02828613 0xf1402573 0x0202b583\n"
    assert mon.cmd("x/4xw 0x1000") == rom
    assert mon.cmd("xp/4xw 0x1000") == rom
    assert mon.cmd("x/2xg 4096") == "0000000000001000: 0x0282861300000297 0x0202b583f1402573\n"
    assert mon.cmd("x/3ob 0x1000") == "0000000000001000: 0227  02   0\n"
    assert mon.cmd("x/2uw 0x1000") == "0000000000001000:        663   42108435\n"
    assert mon.cmd("x/2dh 0x1000") == "0000000000001000:   663     0\n"
    assert mon.cmd("x/2c 0x1000") == "0000000000001000: '\\x97' '\\x02'\n"
    out = mon.cmd("x/10xb 0x1000")
    assert out.splitlines()[1] == "0000000000001008: 0x73 0x25", out
    assert mon.cmd("x/1xw $pc+4") == "0000000000001004: 0x02828613\n"
    # errors: a clear line, and the monitor goes on
    assert mon.cmd("x/4xw 0x200") == "0000000000000200: Cannot access memory\n"
    assert mon.cmd("xp/4xw 0x90000000") == "0000000090000000: Cannot access memory\n"
    assert "invalid char in format: 'z'" in mon.cmd("x/4zw 0x1000")
    assert "unexpected end of expression" in mon.cmd("x/4xw")
    assert "unknown register" in mon.cmd("x $nosuch")
    assert "at most" in mon.cmd("x/99999999999999999999999xg 0")
    assert mon.cmd("frobnicate 1 2") == "unknown command: 'frobnicate'\n"
    assert mon.cmd("info nothing") == "unknown command: 'info nothing'\n"
    assert mon.cmd("") == ""
    mon.sock.sendall(b"\x00\xff\xfe garbage\n")
    mon._until_prompt()
    assert mon.cmd("x/1xw 0x1000") == "0000000000001000: 0x00000297\n"
    mon.send_quit()
    assert proc.wait(timeout=10) == 0


def pc_of_hart0(mon):
    m = re.search(r"CPU #0: pc=(0x[0-9a-f]+)", mon.cmd("info cpus"))
    return int(m.group(1), 16)


def test_socket_stop_and_cont(monitor):
    # -S without -gdb: the monitor starts the CPUs
    mon, proc = monitor("uart_irq", ["-S"])
    assert mon.cmd("info status") == "VM status: paused\n"
    assert pc_of_hart0(mon) == 0x1000
    time.sleep(0.2)
    assert pc_of_hart0(mon) == 0x1000       # stopped means stopped
    assert mon.cmd("cont") == ""
    assert mon.cmd("info status") == "VM status: running\n"
    deadline = time.time() + 5
    while pc_of_hart0(mon) == 0x1000 and time.time() < deadline:
        time.sleep(0.05)
    assert pc_of_hart0(mon) != 0x1000
    assert mon.cmd("stop") == ""
    assert mon.cmd("info status") == "VM status: paused\n"
    pc = pc_of_hart0(mon)
    time.sleep(0.2)
    assert pc_of_hart0(mon) == pc
    assert mon.cmd("c") == ""
    assert mon.cmd("info status") == "VM status: running\n"
    mon.send_quit()
    assert proc.wait(timeout=10) == 0


def test_system_reset(monitor):
    """system_reset puts every hart back at the boot ROM and the guest runs
    again from the start, with the machine still running."""
    mon, proc = monitor("uart_irq", ["-S", "-smp", "2"])
    assert mon.cmd("cont") == ""
    deadline = time.time() + 5
    while pc_of_hart0(mon) == 0x1000 and time.time() < deadline:
        time.sleep(0.05)
    assert mon.cmd("stop") == ""
    assert pc_of_hart0(mon) != 0x1000
    assert mon.cmd("system_reset") == ""
    out = mon.cmd("info cpus")
    assert "CPU #0: pc=0x0000000000001000 mode=M" in out, out
    assert "CPU #1: pc=0x0000000000001000 mode=M" in out, out
    assert mon.cmd("info status") == "VM status: paused\n"
    assert mon.cmd("x/1xw 0x1000") == "0000000000001000: 0x00000297\n"
    mon.send_quit()
    assert proc.wait(timeout=10) == 0


def test_socket_one_client_at_a_time(monitor, tmp_path):
    mon, proc = monitor("uart", ["-S"])
    second = socket.socket(socket.AF_UNIX)
    second.settimeout(10)
    second.connect(str(tmp_path / "mon.sock"))
    assert b"already connected" in second.recv(200)
    second.close()
    mon.close()
    time.sleep(0.1)
    again = MonitorClient(str(tmp_path / "mon.sock"))   # served after the first left
    assert "0x00000297" in again.cmd("x/1xw 0x1000")
    again.send_quit()
    assert proc.wait(timeout=10) == 0


# ---- through GDB's `monitor` ----

def test_gdb_monitor_commands(rewind, guest_elf, gdb_multiarch, free_port, tmp_path):
    elf = guest_elf("uart")
    path = str(tmp_path / "mon.sock")
    proc = subprocess.Popen([rewind, "run", "-bios", "none", "-kernel", elf, "-serial", "null",
                             "-S", "-gdb", "tcp::%d" % free_port, "-smp", "2",
                             "-monitor", "unix:" + path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_path(path, proc)
        # the console works while the machine waits for GDB
        con = MonitorClient(path)
        assert "pc       0000000000001000" in con.cmd("info registers")
        argv = [gdb_multiarch, "-batch", "-nx", "-ex", "set confirm off",
                "-ex", "target remote :%d" % free_port,
                "-ex", "monitor help",
                "-ex", "monitor info registers",
                "-ex", "monitor info cpus",
                "-ex", "monitor info mtree",
                "-ex", "monitor x/4xw 0x1000",
                "-ex", "monitor xp/2xg 0x1000",
                "-ex", "monitor frobnicate",
                "-ex", "monitor cont",
                "-ex", "stepi",
                "-ex", "thread 2",
                "-ex", "monitor info cpus",
                "-ex", "monitor gdb_phys on",
                "-ex", "x/2xw 0x1000",
                "-ex", "maintenance packet qqemu.PhyMemMode",
                "-ex", "monitor gdb_phys off",
                "-ex", "monitor quit",
                elf]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        assert "info [subcommand] -- show various information" in out, out
        assert re.search(r"^ pc       0000000000001000$", out, re.M), out
        assert "* CPU #0: pc=0x0000000000001000 mode=M thread_id=1" in out, out
        assert "0000000010000000-00000000100000ff (prio 0, i/o): uart" in out, out
        assert "0000000000001000: 0x00000297 0x02828613 0xf1402573 0x0202b583" in out, out
        assert "0000000000001000: 0x0282861300000297 0x0202b583f1402573" in out, out
        assert "unknown command: 'frobnicate'" in out, out
        assert "use GDB's 'continue'" in out, out
        # after `thread 2` the monitor's selected hart follows GDB's
        assert "* CPU #1: pc=0x0000000000001000" in out, out
        assert "  CPU #0: pc=0x0000000000001004" in out, out
        assert "GDB memory accesses are physical" in out, out
        assert re.search(r"0x1000:\s+0x00000297\s+0x02828613", out), out
        assert 'received: "1"' in out, out
        assert proc.wait(timeout=10) == 0      # monitor quit ends rewind
        con.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# ---- -monitor stdio with readline, on a pty ----

class Pty:
    def __init__(self, argv):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.buf = b""

    def expect(self, pattern, timeout=10):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no %r in %r" % (pattern, self.buf))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.master, 4096)
                except OSError:
                    raise AssertionError("EOF waiting for %r in %r" % (pattern, self.buf))

    def send(self, data):
        os.write(self.master, data)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def test_stdio_readline(rewind, guest_elf):
    t = Pty([rewind, "run", "-bios", "none", "-kernel", guest_elf("uart"), "-serial", "null",
             "-S", "-monitor", "stdio"])
    try:
        t.expect(rb"type 'help'")
        t.expect(rb"\(rewind\) ")
        t.send(b"info cpus\r")
        t.expect(rb"\* CPU #0: pc=0x0000000000001000 mode=M")
        t.expect(rb"\(rewind\) ")
        # TAB completes command names: "inf" -> "info ", "reg" -> "registers"
        t.send(b"inf\t")
        t.expect(rb"info ")
        t.send(b"reg\t\r")
        t.expect(rb" pc       0000000000001000")
        t.expect(rb"\(rewind\) ")
        # history: up-arrow recalls "info registers"
        t.send(b"\x1b[A\r")
        t.expect(rb"info registers")
        t.expect(rb"CPU#0")
        t.expect(rb"\(rewind\) ")
        t.send(b"quit\r")
        assert t.proc.wait(timeout=10) == 0
    finally:
        t.close()


def test_mon_stdio_ctrl_a_c(rewind, guest_elf):
    t = Pty([rewind, "run", "-bios", "none", "-kernel", guest_elf("uart_irq"),
             "-serial", "mon:stdio"])
    try:
        t.expect(rb"uart_irq: ready")
        t.send(b"hello\n")
        t.expect(rb"echo: hello")
        t.send(b"\x01c")                        # to the monitor
        t.expect(rb"\(rewind\) ")
        t.send(b"info status\r")
        t.expect(rb"VM status: running")
        t.expect(rb"\(rewind\) ")
        t.send(b"\x01c")                        # back to the guest
        time.sleep(0.2)
        t.send(b"again\n")
        t.expect(rb"echo: again")
        t.send(b"\x01c")
        t.expect(rb"\(rewind\) ")
        t.send(b"quit\r")
        assert t.proc.wait(timeout=10) == 0
    finally:
        t.close()
