/* RV64I integer computational instructions: register-immediate,
   register-register, LUI/AUIPC, W forms, shift amount masking, x0. */
#include "test.h"
TEST_START
    .option norvc

    /* ---- ADD / ADDI / SUB ---- */
    li   a0, 0x7fffffffffffffff
    li   a1, 1
    add  a2, a0, a1
    CHECK a2, 0x8000000000000000          /* signed overflow wraps */
    li   a0, -1
    add  a2, a0, a0
    CHECK a2, -2
    addi a2, zero, -2048
    CHECK a2, -2048                       /* imm sign extension */
    addi a2, zero, 2047
    CHECK a2, 2047
    li   a0, 0xffffffffffffffff
    addi a2, a0, 1
    CHECK a2, 0
    li   a0, 0
    li   a1, 1
    sub  a2, a0, a1
    CHECK a2, -1
    li   a0, 0x8000000000000000
    sub  a2, a0, a1
    CHECK a2, 0x7fffffffffffffff
    sub  a2, a1, a0
    CHECK a2, 0x8000000000000001

    /* ---- LUI / AUIPC ---- */
    lui  a2, 0x80000
    CHECK a2, 0xffffffff80000000          /* sign-extended from bit 31 */
    lui  a2, 0x7ffff
    CHECK a2, 0x7ffff000
    lui  a2, 0xfffff
    CHECK a2, -4096
1:  auipc a2, 0
    la   a3, 1b
    CHECK_REG a2, a3
2:  auipc a2, 1
    la   a3, 2b
    sub  a2, a2, a3
    CHECK a2, 0x1000
3:  auipc a2, 0xfffff
    la   a3, 3b
    sub  a2, a2, a3
    CHECK a2, -4096

    /* ---- SLT / SLTU / SLTI / SLTIU ---- */
    li   a0, -1
    li   a1, 1
    slt  a2, a0, a1
    CHECK a2, 1
    sltu a2, a0, a1
    CHECK a2, 0
    slt  a2, a1, a0
    CHECK a2, 0
    sltu a2, a1, a0
    CHECK a2, 1
    slt  a2, a1, a1
    CHECK a2, 0
    slti a2, a0, 0
    CHECK a2, 1
    slti a2, a1, -1
    CHECK a2, 0
    sltiu a2, a1, -1                      /* imm sign-extended then unsigned */
    CHECK a2, 1
    sltiu a2, a0, -1
    CHECK a2, 0
    sltiu a2, zero, 1                     /* seqz */
    CHECK a2, 1
    sltiu a2, a1, 1
    CHECK a2, 0
    li   a0, 0x8000000000000000
    li   a1, 0x7fffffffffffffff
    slt  a2, a0, a1
    CHECK a2, 1
    sltu a2, a0, a1
    CHECK a2, 0
    sltu a2, zero, a0                     /* snez */
    CHECK a2, 1

    /* ---- logic ---- */
    li   a0, 0xff00ff00ff00ff00
    li   a1, 0x0ff00ff00ff00ff0
    and  a2, a0, a1
    CHECK a2, 0x0f000f000f000f00
    or   a2, a0, a1
    CHECK a2, 0xfff0fff0fff0fff0
    xor  a2, a0, a1
    CHECK a2, 0xf0f0f0f0f0f0f0f0
    andi a2, a0, -16                      /* 0xff...f0 */
    CHECK a2, 0xff00ff00ff00ff00
    andi a2, a0, 0x7f0
    CHECK a2, 0x700
    ori  a2, a1, -2048
    CHECK a2, 0xfffffffffffffff0
    xori a2, a0, -1                       /* not */
    CHECK a2, 0x00ff00ff00ff00ff
    xori a2, a1, 0x0ff
    CHECK a2, 0x0ff00ff00ff00f0f

    /* ---- 64-bit shifts ---- */
    li   a0, 0x8000000000000001
    slli a2, a0, 63
    CHECK a2, 0x8000000000000000
    slli a2, a0, 0
    CHECK a2, 0x8000000000000001
    srli a2, a0, 63
    CHECK a2, 1
    srai a2, a0, 63
    CHECK a2, -1
    srai a2, a0, 1
    CHECK a2, 0xc000000000000000
    li   a0, 0x123456789abcdef0
    li   a1, 68                           /* shamt uses only bits 5:0 -> 4 */
    sll  a2, a0, a1
    CHECK a2, 0x23456789abcdef00
    srl  a2, a0, a1
    CHECK a2, 0x0123456789abcdef
    li   a1, -1                           /* shamt 63 */
    sll  a2, a0, a1
    CHECK a2, 0
    li   a0, 0x8000000000000000
    sra  a2, a0, a1
    CHECK a2, -1
    srl  a2, a0, a1
    CHECK a2, 1
    li   a1, 64                           /* shamt 0 */
    sra  a2, a0, a1
    CHECK a2, 0x8000000000000000
    li   a1, 32
    srl  a2, a0, a1
    CHECK a2, 0x80000000
    sra  a2, a0, a1
    CHECK a2, 0xffffffff80000000

    /* ---- W forms: 32-bit result sign-extended ---- */
    li   a0, 0x7fffffff
    li   a1, 1
    addw a2, a0, a1
    CHECK a2, 0xffffffff80000000
    li   a0, 0xffffffff00000001           /* upper bits ignored */
    addw a2, a0, zero
    CHECK a2, 1
    li   a0, 0x00000000ffffffff
    addiw a2, a0, 0                       /* sext.w */
    CHECK a2, -1
    li   a0, 0x123456787fffffff
    addiw a2, a0, 1
    CHECK a2, 0xffffffff80000000
    addiw a2, zero, -2048
    CHECK a2, -2048
    li   a0, 0x80000000
    li   a1, 1
    subw a2, a0, a1
    CHECK a2, 0x7fffffff
    subw a2, zero, a0
    CHECK a2, 0xffffffff80000000
    li   a0, 0x0000000180000000
    subw a2, a0, zero
    CHECK a2, 0xffffffff80000000

    li   a0, 0xffffffff00000001
    slliw a2, a0, 31
    CHECK a2, 0xffffffff80000000
    slliw a2, a0, 0
    CHECK a2, 1
    li   a0, 0x0000000080000000
    srliw a2, a0, 31
    CHECK a2, 1
    srliw a2, a0, 0                       /* shamt 0: sign-extends bit 31 */
    CHECK a2, 0xffffffff80000000
    li   a0, 0xfffffffe80000000
    srliw a2, a0, 1                       /* zero-fills from bit 31 of low word */
    CHECK a2, 0x40000000
    sraiw a2, a0, 1
    CHECK a2, 0xffffffffc0000000
    sraiw a2, a0, 31
    CHECK a2, -1
    li   a0, 0x00000000c0000000
    li   a1, 33                           /* sllw uses bits 4:0 -> 1 */
    sllw a2, a0, a1
    CHECK a2, 0xffffffff80000000
    li   a0, 0x0000000080000000
    srlw a2, a0, a1
    CHECK a2, 0x40000000
    sraw a2, a0, a1
    CHECK a2, 0xffffffffc0000000
    li   a1, 32                           /* -> 0 */
    srlw a2, a0, a1
    CHECK a2, 0xffffffff80000000
    li   a1, 31
    srlw a2, a0, a1
    CHECK a2, 1
    li   a1, -1                           /* -> 31 */
    sllw a2, a1, a1
    CHECK a2, 0xffffffff80000000
    li   a0, 0x7fffffff00000000
    sraw a2, a0, a1
    CHECK a2, 0

    /* ---- writes to x0 are discarded ---- */
    li   a0, 5
    addi zero, a0, 1
    add  zero, a0, a0
    lui  zero, 0x12345
    CHECK zero, 0
    mv   a2, zero
    CHECK a2, 0
    /* rd == rs */
    li   a0, 3
    add  a0, a0, a0
    CHECK a0, 6
TEST_END
