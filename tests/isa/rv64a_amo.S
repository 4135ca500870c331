/* RV64A atomic memory operations: every AMO in W and D form.  rd gets the
   old memory value (W: sign-extended 32-bit), memory gets op(old, rs2)
   (W: only the addressed word changes); min/max signed and unsigned. */
#include "test.h"

/* AMOD insn, mem, rs2, expect_rd, expect_mem */
.macro AMOD insn, mem, src, erd, emem
    la   s0, amo_d
    li   a0, \mem
    sd   a0, 0(s0)
    li   a1, \src
    \insn a2, a1, (s0)
    CHECK a2, \erd
    ld   a3, 0(s0)
    CHECK a3, \emem
.endm

/* AMOW insn, mem32, rs2, expect_rd(64-bit), expect_mem32; also checks the
   neighbouring words are untouched */
.macro AMOW insn, mem, src, erd, emem
    la   s0, amo_w
    li   a0, 0x5a5a5a5a5a5a5a5a
    sd   a0, -8(s0)
    sd   a0, 0(s0)
    li   a0, \mem
    sw   a0, 0(s0)
    li   a1, \src
    \insn a2, a1, (s0)
    CHECK a2, \erd
    ld   a3, 0(s0)
    CHECK a3, 0x5a5a5a5a00000000 | ((\emem) & 0xffffffff)
.endm

TEST_START
    .option norvc
    /* ---- doubleword ---- */
    AMOD amoswap.d, 0x1111111111111111, 0x2222222222222222, 0x1111111111111111, 0x2222222222222222
    AMOD amoadd.d, 0x7fffffffffffffff, 1, 0x7fffffffffffffff, 0x8000000000000000
    AMOD amoadd.d, -1, 1, -1, 0
    AMOD amoand.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0x0f000f000f000f00
    AMOD amoor.d,  0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xfff0fff0fff0fff0
    AMOD amoxor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0
    AMOD amomin.d, -5, 3, -5, -5
    AMOD amomin.d, 3, -5, 3, -5
    AMOD amomin.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x8000000000000000
    AMOD amomax.d, -5, 3, -5, 3
    AMOD amomax.d, 3, -5, 3, 3
    AMOD amomax.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    AMOD amominu.d, -5, 3, -5, 3
    AMOD amominu.d, 3, -5, 3, 3
    AMOD amominu.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
    AMOD amomaxu.d, -5, 3, -5, -5
    AMOD amomaxu.d, 3, -5, 3, -5
    AMOD amomaxu.d, 7, 7, 7, 7
    /* ordering bits do not change the result */
    AMOD amoadd.d.aq, 10, 5, 10, 15
    AMOD amoadd.d.rl, 10, 5, 10, 15
    AMOD amoadd.d.aqrl, 10, 5, 10, 15
    AMOD amoswap.d.aqrl, 1, 2, 1, 2

    /* ---- word ---- */
    AMOW amoswap.w, 0x80000000, 0x12345678, 0xffffffff80000000, 0x12345678
    AMOW amoswap.w, 0x7fffffff, 0xffffffff87654321, 0x7fffffff, 0x87654321
    AMOW amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0x80000000
    AMOW amoadd.w, 0xffffffff, 1, -1, 0                      /* no carry into neighbour */
    AMOW amoadd.w, 5, 0x7fffffff00000003, 5, 8               /* upper bits of rs2 ignored */
    AMOW amoand.w, 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00, 0x0f000f00
    AMOW amoor.w,  0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00, 0xfff0fff0
    AMOW amoxor.w, 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00, 0xf0f0f0f0
    AMOW amomin.w, 0xfffffffb, 3, -5, 0xfffffffb
    AMOW amomin.w, 3, 0xfffffffb, 3, 0xfffffffb
    AMOW amomin.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x80000000
    AMOW amomin.w, 1, 0x00000001ffffffff, 1, 0xffffffff      /* rs2 low word = -1 */
    AMOW amomax.w, 0xfffffffb, 3, -5, 3
    AMOW amomax.w, 3, 0xfffffffb, 3, 3
    AMOW amomax.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x7fffffff
    AMOW amomax.w, 1, 0xffffffff00000000, 1, 1               /* rs2 low word = 0 */
    AMOW amominu.w, 0xfffffffb, 3, -5, 3
    AMOW amominu.w, 3, 0xfffffffb, 3, 3
    AMOW amominu.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x7fffffff
    AMOW amominu.w, 2, 0x0000000100000001, 2, 1              /* compares low words only */
    AMOW amomaxu.w, 0xfffffffb, 3, -5, 0xfffffffb
    AMOW amomaxu.w, 3, 0xfffffffb, 3, 0xfffffffb
    AMOW amomaxu.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x80000000
    AMOW amomaxu.w, 2, 0xffffffff00000001, 2, 2
    AMOW amoor.w.aqrl, 1, 2, 1, 3

    /* ---- word AMO on the upper half of a doubleword ---- */
    la   s0, amo_d
    li   a0, 0x0000000100000002
    sd   a0, 0(s0)
    li   a1, 0x10
    addi a4, s0, 4
    amoadd.w a2, a1, (a4)
    CHECK a2, 1
    ld   a3, 0(s0)
    CHECK a3, 0x0000001100000002

    /* ---- rd = x0: memory still updated ---- */
    li   a0, 40
    sd   a0, 0(s0)
    li   a1, 2
    amoadd.d zero, a1, (s0)
    ld   a3, 0(s0)
    CHECK a3, 42
    CHECK zero, 0

    /* ---- rd == rs2: old value returned, new value from old rs2 ---- */
    li   a0, 100
    sd   a0, 0(s0)
    li   a1, 23
    amoadd.d a1, a1, (s0)
    CHECK a1, 100
    ld   a3, 0(s0)
    CHECK a3, 123
    li   a1, 7
    amoswap.w a1, a1, (s0)
    CHECK a1, 123
    lw   a3, 0(s0)
    CHECK a3, 7

    /* ---- rd == rs1 ---- */
    li   a0, 55
    sd   a0, 0(s0)
    mv   a4, s0
    li   a1, 1
    amoadd.d a4, a1, (a4)
    CHECK a4, 55
    ld   a3, 0(s0)
    CHECK a3, 56
TEST_END

    .data
    .align 4
    .dword 0
amo_d:
    .dword 0
    .dword 0
amo_w:
    .dword 0
    .dword 0
