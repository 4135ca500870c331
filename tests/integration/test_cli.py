"""The command line as a user meets it: QEMU's option names, one-line errors
with exit status 2, the device tree dump, HTIF guests, default firmware."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, FW_DYNAMIC, UBOOT_BIN, need
from guest_console import GuestConsole

HTIF_ELF = os.path.join(BUILD, "tests", "guests", "htif.elf")
UART_ELF = os.path.join(BUILD, "tests", "guests", "uart.elf")


def run(argv, timeout=30, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.parametrize("args, needle", [
    (["-bogus"], "unknown option '-bogus'"),
    (["-m", "lots"], "-m: invalid RAM size 'lots'"),
    (["-smp", "9"], "-smp: number of harts must be 1..8"),
    (["-smp", "0"], "-smp: number of harts must be 1..8"),
    (["-machine", "sifive_u"], "unsupported machine 'sifive_u'"),
    (["-serial", "tcp::4444"], "-serial: unsupported backend"),
    (["-icount", "shift=99"], "-icount: shift must be 0..10"),
    (["-bios", "none", "-kernel", "/nonexistent/kernel.elf"], "/nonexistent/kernel.elf"),
    (["-kernel"], "option -kernel needs an argument"),
    (["-accel", "kvm"], "-accel: unsupported accelerator 'kvm'"),
    (["-accel", "tcg,thread=multi"], "-accel: unsupported property 'thread=multi'"),
    (["-accel", "tcg,tb-size=64"], "-accel: unsupported property 'tb-size=64'"),
    (["-machine", "virt,accel=kvm"], "-machine: unsupported accelerator 'kvm'"),
])
def test_bad_options_one_line_exit_2(rewind, args, needle):
    r = run([rewind, "run"] + args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("rewind: ")
    assert needle in lines[0]


def test_unknown_command(rewind):
    r = run([rewind, "frobnicate"])
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr


def test_image_too_big_for_ram(rewind, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (3 << 20))
    r = run([rewind, "run", "-m", "2M", "-bios", "none", "-kernel", str(big)])
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "does not fit in RAM" in r.stderr


def test_dumpdtb(rewind, tmp_path):
    dtb = tmp_path / "virt.dtb"
    r = run([rewind, "run", "-smp", "3", "-m", "256M", "-append", "console=ttyS0",
             "-dumpdtb", str(dtb)])
    assert r.returncode == 0, r.stderr
    if not shutil.which("dtc"):
        pytest.skip("dtc (device-tree-compiler) missing")
    dts = run(["dtc", "-q", "-I", "dtb", "-O", "dts", str(dtb)]).stdout
    assert 'compatible = "riscv-virtio"' in dts
    assert "cpu@2 {" in dts and "cpu@3 {" not in dts
    assert "reg = <0x00 0x80000000 0x00 0x10000000>;" in dts    # 256 MiB at 2 GiB
    assert 'bootargs = "console=ttyS0";' in dts
    assert 'compatible = "ns16550a";' in dts
    assert 'compatible = "sifive,test1\\0sifive,test0\\0syscon";' in dts


def test_htif_guest(rewind):
    r = run([rewind, "run", "-bios", "none", "-kernel", need(HTIF_ELF)])
    assert r.stdout == "hello from HTIF\n"
    assert r.returncode == 7


def test_htif_guest_matches_qemu_spike(rewind):
    qemu = shutil.which("qemu-system-riscv64")
    if not qemu:
        pytest.skip("qemu-system-riscv64 missing")
    q = run([qemu, "-machine", "spike", "-bios", "none", "-nographic",
             "-kernel", need(HTIF_ELF)])
    r = run([rewind, "run", "-bios", "none", "-kernel", HTIF_ELF])
    assert (r.stdout, r.returncode) == (q.stdout.replace("\r\n", "\n"), q.returncode)


def test_serial_file_and_null(rewind, tmp_path):
    out = tmp_path / "console.txt"
    r = run([rewind, "run", "-bios", "none", "-serial", f"file:{out}",
             "-kernel", need(UART_ELF)])
    assert r.returncode == 0
    assert r.stdout == ""
    assert "uart: hello from uart_puts" in out.read_text()
    r = run([rewind, "run", "-bios", "none", "-serial", "null", "-kernel", UART_ELF])
    assert r.returncode == 0 and r.stdout == ""


def test_report_icount_is_deterministic(rewind):
    lines = set()
    for _ in range(2):
        r = run([rewind, "run", "-report-icount", "-bios", "none", "-kernel", need(UART_ELF)])
        assert r.returncode == 0
        lines.add(r.stderr.strip())
    assert len(lines) == 1
    (line,) = lines
    assert line.startswith("rewind: exit status 0 after ") and line.endswith(" instructions")


def test_default_firmware_is_fw_dynamic(rewind):
    """-bios default (or none given) loads Debian's OpenSBI fw_dynamic, which
    finds the kernel through the boot ROM's fw_dynamic_info."""
    need(FW_DYNAMIC)
    con = GuestConsole([rewind, "run", "-kernel", need(UBOOT_BIN)])
    try:
        banner = con.expect("Hit any key to stop autoboot", timeout=60)
    finally:
        con.close()
    assert "OpenSBI v" in banner
    assert "Domain0 Next Address      : 0x0000000080200000" in banner
    assert "Domain0 Next Mode         : S-mode" in banner
    assert "U-Boot 20" in banner


@pytest.mark.parametrize("accel", [["-accel", "tcg"], ["-accel", "tcg,thread=single"],
                                   ["-accel", "jit"], ["-accel", "interp"],
                                   ["-accel", "accel=interp"], ["-machine", "virt,accel=tcg"], []])
def test_accel_spellings_same_run(rewind, accel):
    """Every spelling of -accel runs the guest to the same end."""
    r = run([rewind, "run", *accel, "-report-icount", "-bios", "none", "-kernel", need(UART_ELF)])
    assert r.returncode == 0, r.stderr
    base = run([rewind, "run", "-accel", "interp", "-report-icount", "-bios", "none",
                "-kernel", UART_ELF])
    assert r.stdout == base.stdout
    assert r.stderr == base.stderr      # "exit status 0 after N instructions"


def test_no_rwx_memory_falls_back_to_the_interpreter(rewind, tmp_path):
    """A host that refuses RWX memory (here an LD_PRELOAD shim) gets one
    line on stderr and the interpreter's very run."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the mmap shim")
    src = tmp_path / "noexec.c"
    src.write_text(
        "#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <errno.h>\n#include <sys/mman.h>\n"
        "#define SHIM(name) void *name(void *a, size_t l, int p, int f, int fd, off_t o) { \\\n"
        "  static void *(*real)(void *, size_t, int, int, int, off_t); \\\n"
        "  if (p & PROT_EXEC) { errno = EACCES; return MAP_FAILED; } \\\n"
        "  if (!real) real = dlsym(RTLD_NEXT, #name); \\\n"
        "  return real(a, l, p, f, fd, o); }\n"
        "SHIM(mmap)\nSHIM(mmap64)\n")
    so = tmp_path / "noexec.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    env = dict(os.environ, LD_PRELOAD=str(so))
    env.pop("REWIND_JIT", None)
    r = run([rewind, "run", "-report-icount", "-bios", "none", "-kernel", need(UART_ELF)], env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == ("rewind: cannot map the JIT's code buffer (Permission denied): "
                        "running the interpreter"), r.stderr
    assert len(lines) == 2 and "exit status 0 after" in lines[1]
    base = run([rewind, "run", "-accel", "interp", "-report-icount", "-bios", "none",
                "-kernel", UART_ELF])
    assert r.stdout == base.stdout and lines[1] == base.stderr.strip()
