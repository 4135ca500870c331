#!/usr/bin/env bash
# Rewind's entry point: set-up, demo, tests and benchmarks.
#   ./rewind.sh setup   install missing Debian packages, configure, build
#   ./rewind.sh demo    setup, boot OpenSBI + U-Boot, then record a buggy guest
#                       and walk it backwards with gdb-multiarch
#   ./rewind.sh test    setup, then the whole test suite (also under ASan+UBSan)
#   ./rewind.sh bench   setup, then the MIPS, reverse-debugging and Linux boot
#                       benchmarks against QEMU, and the snapshot benchmark
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
    gcc meson ninja-build pkg-config
    libglib2.0-dev zlib1g-dev libslirp-dev libreadline-dev libfdt-dev
    gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf picolibc-riscv64-unknown-elf
    gcc-riscv64-linux-gnu
    linux-source-6.1 make flex bison bc xz-utils gzip e2fsprogs
    qemu-system-misc qemu-utils gdb-multiarch opensbi u-boot-qemu device-tree-compiler
    python3 python3-pytest
)

log() { printf 'rewind.sh: %s\n' "$*" >&2; }

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

build() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || { meson setup "$dir" "$@"; exit 1; }
    fi
    ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

setup() {
    install_missing
    build build
}

run_tests() {
    setup
    local status=0
    log "test suite (meson test)"
    meson test -C build --num-processes 2 --print-errorlogs || status=1
    log "Linux guest (scripts/build-linux-guest: ~5 minutes once per machine, then cached)"
    scripts/build-linux-guest -q >/dev/null || status=1
    if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
        log "integration tests (pytest, real gdb-multiarch)"
        /usr/bin/python3 -m pytest -q tests/integration || status=1
    fi
    log "unit, ISA and guest tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --num-processes 2 --print-errorlogs --suite unit --suite isa \
        --suite guests || status=1
    return $status
}

demo() {
    setup
    log "booting OpenSBI + U-Boot, then recording tests/guests/corrupt.c and" \
        "finding its faulty store with gdb-multiarch, a watchpoint and reverse-continue"
    /usr/bin/python3 scripts/demo.py
}

case "${1:-}" in
    setup) setup ;;
    demo) demo ;;
    test) run_tests ;;
    bench) setup; b=0; /usr/bin/python3 tests/perf/bench.py || b=$?
           /usr/bin/python3 tests/perf/reverse_bench.py || b=$?
           /usr/bin/python3 tests/perf/snapshot_bench.py || b=$?
           /usr/bin/python3 tests/perf/linux_boot.py || b=$?; exit $b ;;
    *) echo "usage: $0 setup|demo|test|bench" >&2; exit 2 ;;
esac
