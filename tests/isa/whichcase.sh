#!/bin/sh
# Show the source line of case N of a test: tests/isa/whichcase.sh rv64m 31 [-DQEMU_SKIP]
here=$(cd "$(dirname "$0")" && pwd)
t=$1; n=$2
riscv64-unknown-elf-gcc -g -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles \
    -T "$here/link.ld" -I "$here" ${3:-} "$here/$t.S" -o /tmp/whichcase.elf || exit 1
l=$(riscv64-unknown-elf-objdump -dl /tmp/whichcase.elf | awk -v n="$n" -v f="$t.S" '
    index($0, f ":") { line = $0; sub(/.*:/, "", line); sub(/ .*/, "", line) }
    $0 ~ ("li\tgp," n "$") { print line; exit }')
[ -n "$l" ] && echo "$t.S:$l: $(sed -n "${l}p" "$here/$t.S")"
