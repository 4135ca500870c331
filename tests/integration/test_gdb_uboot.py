"""Real firmware under gdb-multiarch: OpenSBI (fw_jump) + Debian's U-Boot,
started with -S. U-Boot relocates itself to the top of RAM, so the symbols
of uboot.elf (Debian strips it to its dynamic symbols) are loaded again at
the offset gd->relocaddr gives, as U-Boot's doc/develop/gdb.rst describes;
then a breakpoint on printf stops U-Boot at its prompt when `version` is
typed, and bt shows U-Boot frames. The console is driven in parallel."""
import re
import subprocess
import time

import pytest

from conftest import FW_JUMP, UBOOT_BIN, UBOOT_ELF, need
from gdb_driver import Gdb, tcp_listening
from guest_console import GuestConsole

LINK_ADDR = 0x80200000      # uboot.elf's .text; fw_jump jumps there
# struct global_data of this U-Boot (v2023.01, qemu-riscv64_smode): the
# offsets of relocaddr and reloc_off. gd lives in gp on RISC-V.
GD_RELOCADDR = 0x70
GD_RELOC_OFF = 0x98


@pytest.mark.slow
def test_uboot_relocated_symbols(rewind, gdb_multiarch, free_port):
    elf = need(UBOOT_ELF)
    con = GuestConsole([rewind, "run", "-nographic", "-bios", need(FW_JUMP),
                        "-kernel", need(UBOOT_BIN), "-S", "-gdb", "tcp::%d" % free_port])
    try:
        deadline = time.monotonic() + 10
        while not tcp_listening(free_port):
            assert con.proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        with Gdb(elf, gdb=gdb_multiarch) as g:
            g.connect(":%d" % free_port)
            printf_link = g.eval_int("&printf")
            # before relocation U-Boot runs at its link address
            g.cmd("break board_init_f")
            stop = g.run("continue", timeout=60)
            assert stop.func == "board_init_f" and stop.pc >> 12 == 0x80212, stop
            assert g.eval_int("$priv") == 1                 # S-mode under OpenSBI
            bt = g.cmd("bt", allow_error=True)
            assert re.search(r"^#1\s+0x[0-9a-f]+ in _start \(\)", bt, re.M), bt
            g.cmd("delete")

            # run to the prompt; U-Boot's console prints gd->relocaddr
            g.start("continue")
            con.expect("Hit any key to stop autoboot", timeout=60)
            con.sendline("")
            con.expect("=> ")
            info = con.uboot_command("bdinfo")
            m = re.search(r"relocaddr\s*=\s*(0x[0-9a-f]+)", info)
            assert m, info
            relocaddr = int(m.group(1), 16)

            # stop at the prompt: gd (gp) now points to the relocated
            # global_data, whose relocaddr gives the symbols' offset
            g.interrupt()
            stop = g.wait_stop(10)
            assert stop.signal == "SIGINT", stop
            gd = g.eval_int("$gp")
            assert g.eval_int("*(unsigned long *)%#x" % (gd + GD_RELOCADDR)) == relocaddr
            reloc_off = g.eval_int("*(unsigned long *)%#x" % (gd + GD_RELOC_OFF))
            assert relocaddr - reloc_off == LINK_ADDR, (hex(relocaddr), hex(reloc_off))
            assert relocaddr <= stop.pc < relocaddr + 0x100000, stop
            # reload the symbols at the relocation offset
            g.cmd("symbol-file")
            out = g.cmd("add-symbol-file %s -o %#x" % (elf, reloc_off))
            assert "offset by %#x" % reloc_off in out, out
            assert g.eval_int("&printf") == printf_link + reloc_off

            # a breakpoint on a U-Boot function that runs after relocation
            g.cmd("break printf")
            g.start("continue")
            con.sendline("version")
            stop = g.wait_stop(30)
            assert stop.func == "printf" and stop.pc > relocaddr, stop
            g.cmd("delete")
            g.cmd("break puts")
            stop = g.run("continue", timeout=30)
            assert stop.func == "puts", stop
            bt = g.cmd("bt", allow_error=True)
            assert re.search(r"^#0\s+0x[0-9a-f]+ in puts \(\)", bt, re.M), bt
            assert re.search(r"^#1\s+0x[0-9a-f]+ in vprintf \(\)", bt, re.M), bt
            assert re.search(r"^#2\s+0x[0-9a-f]+ in printf \(\)", bt, re.M), bt
            assert "puts + " in g.cmd("info symbol $pc")
            g.cmd("delete")
            g.start("continue")
            con.expect("U-Boot 20", timeout=30)             # version printed
            con.expect("=> ", timeout=30)
            g.interrupt()
            g.wait_stop(10)
            g.cmd("kill")
        assert con.wait(10) is not None
    except BaseException:
        print(con.output[-3000:].decode(errors="replace"))
        raise
    finally:
        if con.proc.poll() is None:
            con.proc.kill()
        try:
            con.close()
        except (OSError, subprocess.SubprocessError):
            pass
