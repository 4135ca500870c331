"""Real firmware: Debian's OpenSBI (fw_jump) and U-Boot boot on Rewind's
virt board to U-Boot's prompt, which answers as it does under QEMU."""
import pytest

from conftest import FW_JUMP, UBOOT_BIN, need
from guest_console import GuestConsole


def boot_to_prompt(rewind, smp):
    con = GuestConsole([rewind, "run", "-nographic", "-smp", str(smp),
                        "-bios", need(FW_JUMP), "-kernel", need(UBOOT_BIN)])
    try:
        banner = con.expect("Hit any key to stop autoboot", timeout=60)
        con.sendline("")
        con.expect("=> ")
    except BaseException:
        con.close()
        raise
    return con, banner


@pytest.mark.parametrize("smp", [1, 4])
def test_uboot_prompt(rewind, smp):
    con, banner = boot_to_prompt(rewind, smp)
    try:
        assert "OpenSBI v" in banner
        assert "Platform Name             : riscv-virtio,qemu" in banner
        assert f"Platform HART Count       : {smp}" in banner
        assert "Boot HART Base ISA        : rv64imafdc" in banner
        assert "U-Boot 20" in banner
        assert "DRAM:  128 MiB" in banner

        out = con.uboot_command("version")
        assert "U-Boot 20" in out

        out = con.uboot_command("bdinfo")
        assert "boot_params" in out
        assert "0x0000000080000000" in out          # DRAM bank start

        out = con.uboot_command("fdt addr $fdtcontroladdr; fdt print /cpus")
        assert "timebase-frequency = <0x00989680>" in out   # 10 MHz
        for hart in range(smp):
            assert f"cpu@{hart} {{" in out
        assert f"cpu@{smp} {{" not in out
        assert 'riscv,isa = "rv64imafdc_zicsr_zifencei"' in out
        assert 'mmu-type = "riscv,sv48"' in out

        con.sendline("poweroff")
        assert con.wait(30) == 0
    finally:
        con.close()


def test_uboot_console_is_deterministic(rewind):
    """Two boots with the same typed input print the same bytes."""
    outputs = []
    for _ in range(2):
        con, _ = boot_to_prompt(rewind, 2)
        try:
            con.uboot_command("version")
            con.sendline("poweroff")
            assert con.wait(30) == 0
            outputs.append(con.text())
        finally:
            con.close()
    assert outputs[0] == outputs[1]


def test_uboot_reset_reboots(rewind):
    """U-Boot's reset goes through OpenSBI's syscon-reboot to the test
    finisher (0x7777): the whole machine starts again from the boot ROM."""
    con, _ = boot_to_prompt(rewind, 2)
    try:
        con.sendline("reset")
        again = con.expect("Hit any key to stop autoboot", timeout=60)
        assert "resetting ..." in again
        assert "OpenSBI v" in again and "U-Boot 20" in again
        con.sendline("")
        con.expect("=> ")
        assert "U-Boot 20" in con.uboot_command("version")
        con.sendline("poweroff")
        assert con.wait(30) == 0
    finally:
        con.close()
