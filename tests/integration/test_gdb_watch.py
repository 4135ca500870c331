"""Watchpoints through stock gdb-multiarch: write, read and access
watchpoints report the right old and new values and the writing code, as
the same session does against qemu-system-riscv64."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, need

WATCH_ELF = os.path.join(BUILD, "tests", "guests", "watch.elf")

SCRIPT = """set confirm off
set pagination off
target remote :{port}
break main
continue
watch counter
continue
continue
rwatch limit
continue
delete
awatch buffer[5]
continue
p/x buffer[5]
info registers pc
kill
"""


def gdb_session(server_argv, port, tmp_path):
    gdb = shutil.which("gdb-multiarch")
    if not gdb:
        pytest.skip("gdb-multiarch missing")
    server = subprocess.Popen(server_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        script = tmp_path / "watch.gdb"
        script.write_text(SCRIPT.format(port=port))
        r = subprocess.run([gdb, "-batch", "-nx", "-x", str(script), WATCH_ELF],
                           capture_output=True, text=True, timeout=60)
        return r.stdout
    finally:
        server.kill()
        server.wait()


def test_watchpoints(rewind, free_port, tmp_path):
    need(WATCH_ELF)
    out = gdb_session([rewind, "run", "-bios", "none", "-kernel", WATCH_ELF,
                       "-S", "-gdb", f"tcp::{free_port}"], free_port, tmp_path)
    # write watchpoint: two hits, each with the value before and after, in bump()
    assert "Hardware watchpoint 2: counter" in out
    assert "Old value = 0\nNew value = 1\n" in out
    assert "Old value = 1\nNew value = 2\n" in out
    assert out.count("in bump () at") == 2
    # read watchpoint: the loop condition reads the limit
    assert "Hardware read watchpoint 3: limit\n\nValue = 3\n" in out
    # access watchpoint on one byte of a misaligned 8-byte store
    assert "Hardware access (read/write) watchpoint 4: buffer[5]" in out
    assert "Old value = 0 '\\000'\nNew value = 102 'f'" in out
    assert "in fill_buffer () at" in out
    assert "$1 = 0x66" in out


def test_watchpoints_match_qemu(rewind, free_port, tmp_path):
    qemu = shutil.which("qemu-system-riscv64")
    if not qemu:
        pytest.skip("qemu-system-riscv64 missing")
    need(WATCH_ELF)
    ours = gdb_session([rewind, "run", "-bios", "none", "-kernel", WATCH_ELF,
                        "-S", "-gdb", f"tcp::{free_port}"], free_port, tmp_path)
    theirs = gdb_session([qemu, "-M", "virt", "-bios", "none", "-nographic",
                          "-kernel", WATCH_ELF, "-S", "-gdb", f"tcp::{free_port}"],
                         free_port, tmp_path)

    def significant(text):
        # GDB names the inferior differently (QEMU announces a process id)
        return [line for line in text.splitlines() if not line.startswith("[Inferior 1")]

    assert significant(ours) == significant(theirs)


def test_reset_state_registers(rewind, free_port, tmp_path):
    """At reset the debugger sees the hart as it is: mstatus with only UXL
    and SXL set (the FPU off), pc at the boot ROM, M-mode."""
    gdb = shutil.which("gdb-multiarch")
    if not gdb:
        pytest.skip("gdb-multiarch missing")
    need(WATCH_ELF)
    server = subprocess.Popen([rewind, "run", "-bios", "none", "-kernel", WATCH_ELF,
                               "-S", "-gdb", f"tcp::{free_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        r = subprocess.run([gdb, "-batch", "-nx", "-ex", f"target remote :{free_port}",
                            "-ex", "p/x $mstatus", "-ex", "p/x $pc", "-ex", "p $priv",
                            "-ex", "p/x $fcsr", "-ex", "p/x $mstatus", "-ex", "kill", WATCH_ELF],
                           capture_output=True, text=True, timeout=60)
    finally:
        server.kill()
        server.wait()
    assert "$1 = 0xa00000000\n" in r.stdout
    assert "$2 = 0x1000\n" in r.stdout
    assert "$3 = 3\n" in r.stdout
    assert "$4 = 0x0\n" in r.stdout
    assert "$5 = 0xa00000000\n" in r.stdout     # reading fcsr left FS alone
