"""The demo (scripts/demo.py, ./rewind.sh demo) keeps working: it records
tests/guests/corrupt.elf, replays it under gdb-multiarch, and the watchpoint
plus reverse-continue land on the faulty store, with its source line."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, need

DEMO = os.path.join(ROOT, "scripts", "demo.py")
CORRUPT_ELF = os.path.join(BUILD, "tests", "guests", "corrupt.elf")
FAULTY_LINE = ("68\t    sensor_log.slot[i + 1].tag = tag;"
               "      /* BUG: i + 1 runs past the end */")


def run_demo(args, tmp_path):
    if not shutil.which("gdb-multiarch"):
        pytest.skip("gdb-multiarch is not installed")
    need(os.path.join(BUILD, "rewind"))
    need(CORRUPT_ELF)
    r = subprocess.run(["/usr/bin/python3", DEMO, "--bundle", str(tmp_path / "demo.bundle")]
                       + args, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_demo_reverse_debugging(tmp_path):
    out = run_demo(["--skip-uboot"], tmp_path)
    # the recording: the guest's console, the bundle summary
    assert "$ build/rewind record -o " in out
    assert "logger: FAIL: limit is 1380929348, expected 16" in out
    assert "recording:    ended at icount" in out
    assert "guest exit status 0" in out
    # GDB: the corrupted value where the program notices
    assert "(gdb) break check_config" in out
    assert "Breakpoint 1, check_config () at " in out
    assert "$1 = 1380929348" in out
    assert "68 'D'\t79 'O'\t79 'O'\t82 'R'" in out
    # the watchpoint and reverse-continue land on the faulty store
    watch = out.index("(gdb) reverse-continue")
    landing = out[watch:]
    assert "Old value = 1380929348\nNew value = 16\n" in landing
    assert " in store_reading (i=i@entry=7, " in landing
    assert FAULTY_LINE in landing
    assert "#1  0x" in landing and " in load_readings () at " in landing
    assert "#2  0x" in landing and " in main () at " in landing
    assert "$3 = 7" in landing            # print i
    assert "$5 = 1" in landing            # slot[i + 1] is the limit
    # nothing else wrote the limit: back to the start, where it was 16
    assert "No more reverse-execution history." in landing
    assert "$6 = 16" in landing
    assert "[Inferior 1 (Remote target) killed]" in landing
    assert "reverse-continue stopped on the store that wrote the limit" in out
    # the bundle, the script and the replay's log, and no replay left behind
    assert (tmp_path / "demo.bundle" / "manifest").exists()
    assert (tmp_path / "demo.gdb").exists()
    assert not leftover_processes(str(tmp_path / "demo.bundle"))


def leftover_processes(needle):
    """Processes whose command line mentions needle (Linux /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.mark.slow
def test_demo_whole(tmp_path):
    """As ./rewind.sh demo runs it: U-Boot first, then the reverse part."""
    need("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf")
    need("/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin")
    out = run_demo([], tmp_path)
    assert "==== Part 1: OpenSBI and U-Boot" in out
    assert "=> version\nU-Boot 20" in out
    assert "[rewind exited with status 0]" in out
    assert "==== Part 2: record a buggy guest" in out
    assert FAULTY_LINE in out
    assert "Old value = 1380929348\nNew value = 16\n" in out
