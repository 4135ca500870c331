"""The GDB stub with the real gdb-multiarch in batch mode: connect, read
registers, break/continue, stepi, CSRs, disassembly, detach and kill."""
import re
import socket
import subprocess
import time

import pytest


def start_rewind(rewind, elf, port, extra=()):
    proc = subprocess.Popen([rewind, "run", "-bios", "none", "-kernel", elf,
                             "-serial", "null", "-S", "-gdb", "tcp::%d" % port, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc


def wait_listening(port, proc):
    """start_rewind probed the port with a connection, which the stub took
    for a debugger; let it notice the close before GDB connects."""
    time.sleep(0.3)
    assert proc.poll() is None


def gdb(gdb_bin, elf, port, *cmds, timeout=60):
    argv = [gdb_bin, "-batch", "-nx", "-ex", "set confirm off",
            "-ex", "target remote :%d" % port]
    for c in cmds:
        argv += ["-ex", c]
    argv.append(elf)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


@pytest.fixture
def session(rewind, free_port, gdb_multiarch, guest_elf):
    elf = guest_elf("uart")
    proc = start_rewind(rewind, elf, free_port)
    wait_listening(free_port, proc)
    yield lambda *cmds: gdb(gdb_multiarch, elf, free_port, *cmds), proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def pc_values(out):
    return [int(m, 16) for m in re.findall(r"^pc\s+(0x[0-9a-f]+)", out, re.M)]


def test_connect_stepi_and_registers(session):
    run, proc = session
    out = run("info registers pc", "stepi", "info registers pc",
              "info registers a0", "p $mstatus", "p/x $misa", "p $priv", "kill")
    pcs = pc_values(out)
    assert len(pcs) == 2, out
    assert pcs[0] == 0x1000               # the boot ROM's reset vector
    assert pcs[1] > pcs[0]                # stepi advanced
    assert re.search(r"^a0\s+0x[0-9a-f]+", out, re.M), out
    assert re.search(r"^\$1 = -?\d+", out, re.M), out         # $mstatus
    assert re.search(r"^\$2 = 0x800000000014112d", out, re.M), out  # rv64imafdcsu
    assert re.search(r"^\$3 = 3", out, re.M), out              # M-mode
    assert proc.wait(timeout=10) is not None


def test_break_main_continue(session):
    run, proc = session
    out = run("break main", "continue", "info registers pc", "x/4i $pc",
              "stepi", "info registers pc", "info threads", "kill")
    assert "Breakpoint 1, main ()" in out, out
    pcs = pc_values(out)
    assert len(pcs) == 2 and pcs[1] > pcs[0], out
    assert re.search(r"=> 0x[0-9a-f]+ <main>:", out), out      # x/4i
    assert "Thread 1" in out, out
    proc.wait(timeout=10)


def test_detach_lets_the_guest_finish(session):
    run, proc = session
    out = run("break main", "continue", "detach")
    assert "Breakpoint 1, main ()" in out, out
    assert "Detaching" in out or "detached" in out.lower(), out
    # breakpoints are gone, the machine runs on and the guest powers off
    assert proc.wait(timeout=30) == 0


def test_second_connection_refused(rewind, free_port, guest_elf):
    elf = guest_elf("uart")
    proc = start_rewind(rewind, elf, free_port)
    try:
        wait_listening(free_port, proc)
        first = socket.create_connection(("127.0.0.1", free_port))
        first.sendall(b"$?#3f")
        buf = b""
        while not re.search(rb"\$[^#]*#..", buf):
            buf += first.recv(100)     # the ack and the reply may come apart
        assert buf.startswith(b"+$T05"), buf
        second = socket.create_connection(("127.0.0.1", free_port))
        msg = second.recv(200)
        assert b"already connected" in msg
        first.sendall(b"$k#6b")
        assert proc.wait(timeout=10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_malformed_packets_get_errors(rewind, free_port, guest_elf):
    elf = guest_elf("uart")
    proc = start_rewind(rewind, elf, free_port)
    try:
        wait_listening(free_port, proc)
        s = socket.create_connection(("127.0.0.1", free_port))

        def cmd(p):
            s.sendall(b"$%s#%02x" % (p, sum(p) & 0xff))
            buf = b""
            while not re.search(rb"\$[^#]*#..", buf):
                buf += s.recv(4096)
            return re.search(rb"\$([^#]*)#", buf).group(1)

        for bad in (b"m", b"mzz,4", b"m80000000", b"M80000000,4:zz", b"pzz",
                    b"P20=12", b"Z0", b"Hgzz", b"g00", b"X80000000,10:ab",
                    b"vCont;q", b"qXfer:features:read:target.xml:zz"):
            assert cmd(bad).startswith(b"E"), bad
        assert cmd(b"m0,4").startswith(b"E")       # nothing mapped at 0
        assert cmd(b"m80000000,4") != b""           # still alive and answering
        s.sendall(b"$k#6b")
        assert proc.wait(timeout=10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
