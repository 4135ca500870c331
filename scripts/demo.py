#!/usr/bin/env python3
"""The demo: boots Debian's OpenSBI and U-Boot on Rewind's virt board, stops
U-Boot's autoboot, types a few commands at its prompt and powers off."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_console import GuestConsole  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"


def readable(transcript):
    """The console as a person would have seen it, without the markers
    uboot_command() types to find where each command's output ends."""
    lines = []
    for line in transcript.splitlines(keepends=True):
        if line.startswith("@@done-") or "setenv rw_mark" in line:
            continue
        lines.append(re.sub(r"; echo @@\$\{rw_mark\}-\d+", "", line))
    return "".join(lines)


def main():
    argv = [os.path.join(ROOT, "build", "rewind"), "run", "-nographic", "-smp", "2",
            "-bios", FW_JUMP, "-kernel", UBOOT]
    print("$ " + " ".join(argv), flush=True)
    con = GuestConsole(argv)
    try:
        con.expect("Hit any key to stop autoboot")
        con.sendline("")
        con.expect("=> ")
        for cmd in ("version", "bdinfo", "fdt addr $fdtcontroladdr; fdt print /cpus/cpu@1"):
            con.uboot_command(cmd)
        con.sendline("poweroff")
        status = con.wait(30)
    finally:
        con.close()
        sys.stdout.write(readable(con.text()))
    print(f"\n[rewind exited with status {status}]")
    print("Recording, replay and reverse debugging with GDB arrive with the next "
          "issues; see README.md.")
    return status


if __name__ == "__main__":
    sys.exit(main())
