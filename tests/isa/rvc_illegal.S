/* Reserved / illegal compressed encodings raise illegal instruction with
   mtval = the 16 instruction bits (zero-extended) and mepc = the
   instruction; some illegal 32-bit encodings (mtval = 32 bits); and the
   HINT encodings of RV64C, which must execute as no-ops (no trap). */
#include "test.h"

/* ILL16 bits: the halfword is illegal */
.macro ILL16 bits
    EXPECT_TRAP
.Li\@:
    .hword \bits
    CHECK_CAUSE CAUSE_ILLEGAL
    CHECK_TVAL \bits
    CHECK_EPC .Li\@
.endm
.macro ILL32 bits
    EXPECT_TRAP
.Li\@:
    .word \bits
    CHECK_CAUSE CAUSE_ILLEGAL
    CHECK_TVAL \bits
    CHECK_EPC .Li\@
.endm

TEST_START
    .option rvc
    la   sp, cstack + 256

    ILL16 0x0000        /* all-zero halfword (c.addi4spn rd'=x8, imm 0) */
    ILL16 0x0010        /* c.addi4spn a2, sp, 0: nzuimm = 0 */
    ILL16 0x001c        /* c.addi4spn a5, sp, 0 */
    ILL16 0x6501        /* c.lui a0, 0: nzimm = 0 */
    ILL16 0x6f81        /* c.lui t6, 0 */
    ILL16 0x6101        /* c.addi16sp sp, 0: nzimm = 0 */
    ILL16 0x2001        /* c.addiw x0, 0: rd = 0 */
    ILL16 0x207d        /* c.addiw x0, 31 */
    ILL16 0x4002        /* c.lwsp x0, 0(sp): rd = 0 */
    ILL16 0x5002        /* c.lwsp x0, 32(sp)... rd = 0 */
    ILL16 0x6002        /* c.ldsp x0, 0(sp): rd = 0 */
    ILL16 0x8002        /* c.jr x0: rs1 = 0 */
    ILL16 0x8000        /* quadrant 0, funct3 = 100: reserved */
    ILL16 0x9c41        /* quadrant 1, 100 1 11 .. 10: reserved */
    ILL16 0x9c61        /* quadrant 1, 100 1 11 .. 11: reserved */

    /* 32-bit illegal instructions */
    ILL32 0x40001033    /* OP funct7=0100000 funct3=001 (no such "sll") */
    ILL32 0x00007003    /* LOAD funct3=111 (ldu is RV128 only) */
    ILL32 0x0000000b    /* custom-0, not implemented */
    ILL32 0x4000503b | (1 << 25)   /* OP-32 funct7=0100001 funct3=101 */
    ILL32 0x00003023 | (1 << 14)   /* STORE funct3=111 (sq is RV128 only) */
    ILL32 0x00300073    /* SYSTEM funct3=0 imm=3: no such instruction */
    ILL32 0xffffffff    /* reserved long encoding */

    /* ---- HINTs: execute as no-ops, must not trap ---- */
    li   a0, 0x1234
    li   a1, 0x1234
    .hword 0x0005       /* c.nop with imm = 1 */
    .hword 0x0501       /* c.addi a0, 0 */
    .hword 0x4015       /* c.li x0, 5 */
    .hword 0x6005       /* c.lui x0, 1 */
    .hword 0x802a       /* c.mv x0, a0 */
    .hword 0x902a       /* c.add x0, a0 */
    .hword 0x0006       /* c.slli x0, 1 */
    .hword 0x0502       /* c.slli a0, 0 (shamt 0) */
    .hword 0x8101       /* c.srli a0, 0 (shamt 0) */
    .hword 0x8501       /* c.srai a0, 0 (shamt 0) */
    CHECK a0, 0x1234
    CHECK zero, 0
    .option push
    .option norvc
    addi zero, a1, 5    /* 32-bit HINTs */
    slli zero, a1, 3
    .word 0x0100000f    /* fence w, 0: empty successor set is a HINT */
    .option pop
    CHECK a1, 0x1234
TEST_END

    .data
    .align 4
cstack:
    .skip 512
