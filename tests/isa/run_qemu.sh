#!/bin/sh
# Build every tests/isa/*.S with the cross compiler and run it on QEMU (or on
# another emulator given as $EMU, e.g. EMU="build/rewind run").
# Usage: tests/isa/run_qemu.sh [test-name ...]     (default: all)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/rewind-isa}
mkdir -p "$out"
cd "$here"
if [ $# -eq 0 ]; then set -- $(ls *.S | sed 's/\.S$//'); fi
fails=0
# on QEMU, build with -DQEMU_SKIP (cases where QEMU 7.2 deviates from the spec)
if [ -n "${EMU:-}" ]; then defs=""; else defs="-DQEMU_SKIP"; fi
for t in "$@"; do
    riscv64-unknown-elf-gcc -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles \
        -T link.ld -I . $defs "$t.S" -o "$out/$t.elf" || { echo "BUILD FAIL $t"; fails=$((fails+1)); continue; }
    if [ -n "${EMU:-}" ]; then
        timeout 60 $EMU -bios none -kernel "$out/$t.elf" </dev/null
    else
        timeout 20 qemu-system-riscv64 -machine virt -bios none -nographic \
            -monitor none -serial stdio -kernel "$out/$t.elf" </dev/null
    fi
    rc=$?
    if [ $rc -eq 0 ]; then echo "PASS $t"; else echo "FAIL $t (exit $rc)"; fails=$((fails+1)); fi
done
exit $fails
