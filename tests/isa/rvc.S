/* RV64C: every compressed instruction, written with explicit c.* mnemonics
   so that the assembler must use the 16-bit encoding.  Includes link values
   of c.jalr (pc + 2), sign extension of c.lw/c.addiw/c.subw/c.addw,
   immediate ranges and the sp-relative forms. */
#include "test.h"
TEST_START
    .option rvc
    la   sp, cstack + 512

    /* ---- quadrant 1: immediates ---- */
    c.li   a0, 31
    CHECK a0, 31
    c.li   a0, -32
    CHECK a0, -32
    c.li   a0, 0
    CHECK a0, 0
    c.lui  a0, 1
    CHECK a0, 0x1000
    c.lui  a0, 31
    CHECK a0, 0x1f000
    c.lui  a0, 0xfffe0                   /* nzimm = -32 << 12 */
    CHECK a0, 0xfffffffffffe0000
    c.lui  a0, 0xfffff
    CHECK a0, -4096
    li     a0, 100
    c.addi a0, 31
    CHECK a0, 131
    c.addi a0, -32
    CHECK a0, 99
    c.nop
    li     a0, 0x7fffffff
    c.addiw a0, 1
    CHECK a0, 0xffffffff80000000
    li     a0, 0x1ffffffff
    c.addiw a0, 0                       /* sext.w */
    CHECK a0, -1
    li     a0, 5
    c.addiw a0, -6
    CHECK a0, -1
    mv     s0, sp
    c.addi16sp sp, 496
    sub    a0, sp, s0
    CHECK a0, 496
    c.addi16sp sp, -512
    sub    a0, sp, s0
    CHECK a0, -16
    c.addi16sp sp, 16
    CHECK_REG sp, s0
    c.addi4spn a0, sp, 4
    sub    a0, a0, sp
    CHECK a0, 4
    c.addi4spn s1, sp, 1020
    sub    s1, s1, sp
    CHECK s1, 1020

    /* ---- shifts and logic on x8..x15 ---- */
    li     a0, 0x8000000000000001
    c.srli a0, 1
    CHECK a0, 0x4000000000000000
    li     a0, 0x8000000000000001
    c.srli a0, 63
    CHECK a0, 1
    li     a0, 0x8000000000000001
    c.srai a0, 1
    CHECK a0, 0xc000000000000000
    li     a0, 0x8000000000000000
    c.srai a0, 63
    CHECK a0, -1
    li     a0, 0x8000000000000000
    c.srai a0, 32
    CHECK a0, 0xffffffff80000000
    li     a0, 0xff
    c.andi a0, -16
    CHECK a0, 0xf0
    li     a0, -1
    c.andi a0, 31
    CHECK a0, 31
    li     a1, 0x1234
    c.slli a1, 4
    CHECK a1, 0x12340
    li     a1, 1
    c.slli a1, 63
    CHECK a1, 0x8000000000000000
    li     t3, 3                        /* c.slli works on any register */
    c.slli t3, 32
    CHECK t3, 0x300000000

    li     a0, 10
    li     a1, 3
    c.sub  a0, a1
    CHECK a0, 7
    li     a0, 0xff00
    li     a1, 0x0ff0
    c.xor  a0, a1
    CHECK a0, 0xf0f0
    li     a0, 0xff00
    c.or   a0, a1
    CHECK a0, 0xfff0
    li     a0, 0xff00
    c.and  a0, a1
    CHECK a0, 0x0f00
    li     a0, 0x80000000
    li     a1, 1
    c.subw a0, a1
    CHECK a0, 0x7fffffff
    li     a0, 0
    li     a1, 0x80000000
    c.subw a0, a1
    CHECK a0, 0xffffffff80000000
    li     a0, 0x7fffffff
    li     a1, 1
    c.addw a0, a1
    CHECK a0, 0xffffffff80000000
    li     a0, 0x100000001
    li     a1, 0x200000002
    c.addw a0, a1
    CHECK a0, 3

    /* ---- quadrant 2: mv / add ---- */
    li     t4, 0x123456789
    c.mv   t3, t4
    CHECK t3, 0x123456789
    li     t3, 5
    c.add  t3, t4
    CHECK t3, 0x12345678e
    li     ra, 1
    c.add  ra, ra
    CHECK ra, 2

    /* ---- loads/stores (register based) ---- */
    la     s0, cdata
    c.lw   a0, 0(s0)
    CHECK a0, 0xffffffff89abcdef
    c.lw   a0, 4(s0)
    CHECK a0, 0x01234567
    c.ld   a0, 0(s0)
    CHECK a0, 0x0123456789abcdef
    c.ld   a1, 248(s0)
    CHECK a1, 0x1111222233334444
    c.lw   a1, 124(s0)
    CHECK a1, 0x55556666
    la     s1, cbuf
    li     a2, 0xfedcba9876543210
    c.sd   a2, 0(s1)
    c.sw   a2, 8(s1)
    c.sw   a2, 124(s1)
    c.sd   a2, 248(s1)
    ld     a3, 0(s1)
    CHECK a3, 0xfedcba9876543210
    ld     a3, 8(s1)
    CHECK a3, 0x76543210
    lwu    a3, 124(s1)
    CHECK a3, 0x76543210
    ld     a3, 248(s1)
    CHECK a3, 0xfedcba9876543210
    /* FP */
    c.fld  fa0, 8(s0)
    CHECK_D fa0, 0x3ff0000000000000
    c.fld  fa1, 240(s0)
    CHECK_D fa1, 0xc000000000000000
    c.fsd  fa0, 16(s1)
    c.fsd  fa1, 232(s1)
    ld     a3, 16(s1)
    CHECK a3, 0x3ff0000000000000
    ld     a3, 232(s1)
    CHECK a3, 0xc000000000000000

    /* ---- sp-relative loads/stores ---- */
    la     sp, cdata
    c.lwsp a0, 0(sp)
    CHECK a0, 0xffffffff89abcdef
    c.lwsp t3, 124(sp)
    CHECK t3, 0x55556666
    c.ldsp t3, 0(sp)
    CHECK t3, 0x0123456789abcdef
    c.ldsp ra, 248(sp)
    CHECK ra, 0x1111222233334444
    c.fldsp ft0, 8(sp)
    CHECK_D ft0, 0x3ff0000000000000
    c.fldsp ft1, 240(sp)
    CHECK_D ft1, 0xc000000000000000
    la     sp, cbuf
    li     t3, 0x0a0b0c0d0e0f1011
    c.sdsp t3, 32(sp)
    c.swsp t3, 40(sp)
    c.sdsp t3, 504(sp)
    c.swsp t3, 252(sp)
    c.fsdsp ft1, 48(sp)
    c.fsdsp ft0, 496(sp)
    ld     a3, 32(sp)
    CHECK a3, 0x0a0b0c0d0e0f1011
    ld     a3, 40(sp)
    CHECK a3, 0x0e0f1011
    ld     a3, 504(sp)
    CHECK a3, 0x0a0b0c0d0e0f1011
    lwu    a3, 252(sp)
    CHECK a3, 0x0e0f1011
    ld     a3, 48(sp)
    CHECK a3, 0xc000000000000000
    ld     a3, 496(sp)
    CHECK a3, 0x3ff0000000000000
    la     sp, cstack + 512

    /* ---- control transfer ---- */
    li     a2, 0
    c.j    1f
    li     a2, 99
1:  CHECK a2, 0
    j      3f
2:  li     a2, 5                         /* backward c.j target */
    j      4f
3:  c.j    2b
4:  CHECK a2, 5

    li     a0, 0
    li     a2, 0
    c.beqz a0, 1f
    li     a2, 99
1:  CHECK a2, 0
    li     a0, 1
    c.beqz a0, 1f
    li     a2, 7
1:  CHECK a2, 7
    li     a0, 0x100000000              /* all 64 bits tested */
    li     a2, 0
    c.bnez a0, 1f
    li     a2, 99
1:  CHECK a2, 0
    li     a0, 0
    c.bnez a0, 1f
    li     a2, 8
1:  CHECK a2, 8

    la     t3, .Lcjr_t
    li     a2, 0
    c.jr   t3
    li     a2, 99
.Lcjr_t:
    CHECK a2, 0
    la     t3, .Lcjalr_t
    li     a2, 0
.Lcjalr:
    c.jalr t3
    li     a2, 99
.Lcjalr_t:
    CHECK a2, 0
    la     t4, .Lcjalr + 2               /* link = pc + 2 */
    CHECK_REG ra, t4
    /* c.jalr ra: target read before link written */
    la     ra, .Lcjalr2_t
    li     a2, 0
.Lcjalr2:
    c.jalr ra
    li     a2, 99
.Lcjalr2_t:
    CHECK a2, 0
    la     t4, .Lcjalr2 + 2
    CHECK_REG ra, t4

    /* ---- c.ebreak: breakpoint exception, mepc = its address ---- */
    EXPECT_TRAP
.Lcebreak:
    c.ebreak
    CHECK_CAUSE CAUSE_BREAKPOINT
    CHECK_EPC .Lcebreak
    /* the handler skipped exactly 2 bytes */
    li     a0, 1
    CHECK a0, 1
    /* ebreak (32-bit) also */
    .option push
    .option norvc
    EXPECT_TRAP
.Lebreak:
    ebreak
    .option pop
    CHECK_CAUSE CAUSE_BREAKPOINT
    CHECK_EPC .Lebreak

    /* mixing 16/32-bit instructions at 2-byte alignment */
    .align 2
    c.nop
    li     a0, 0x12345                   /* 32-bit instr at 2-mod-4 address */
    c.addi a0, 1
    CHECK a0, 0x12346
TEST_END

    .data
    .align 4
cdata:
    .dword 0x0123456789abcdef
    .dword 0x3ff0000000000000           /* 1.0 */
    .skip 124 - 16
    .word 0x55556666                    /* +124 */
    .skip 240 - 128
    .dword 0xc000000000000000           /* +240: -2.0 */
    .dword 0x1111222233334444           /* +248 */
    .align 4
cbuf:
    .skip 512
    .align 4
cstack:
    .skip 1024
