/* Zifencei: FENCE.I makes stores to instruction memory visible to
   instruction fetch on the same hart (self-modifying code): code written to
   a RAM buffer, code patched in place after it already ran (so it may be
   cached/translated), and patched compressed instructions. */
#include "test.h"

#define ADDI_A0(imm)  ((((imm) & 0xfff) << 20) | 0x513)   /* addi a0, x0, imm */
#define RET           0x00008067                          /* jalr x0, 0(ra) */
#define C_LI_A0(imm)  (0x4501 | (((imm) & 0x1f) << 2) | (((imm) & 0x20) << 7))
#define C_RET         0x8082                              /* c.jr ra */

TEST_START
    .option norvc
    la   s0, codebuf

    /* generate "addi a0, x0, 11; ret", run it */
    li   a1, ADDI_A0(11)
    sw   a1, 0(s0)
    li   a1, RET
    sw   a1, 4(s0)
    fence.i
    li   a0, 0
    jalr ra, 0(s0)
    CHECK a0, 11

    /* rewrite it and run again: must see the new code */
    li   a1, ADDI_A0(-7)
    sw   a1, 0(s0)
    fence.i
    li   a0, 0
    jalr ra, 0(s0)
    CHECK a0, -7

    /* run it many times (hot code), then patch */
    li   s1, 100
1:  jalr ra, 0(s0)
    addi s1, s1, -1
    bnez s1, 1b
    CHECK a0, -7
    li   a1, ADDI_A0(1234)
    sw   a1, 0(s0)
    fence.i
    jalr ra, 0(s0)
    CHECK a0, 1234

    /* compressed code: c.li a0, 5; c.ret */
    li   a1, C_LI_A0(5) | (C_RET << 16)
    sw   a1, 0(s0)
    fence.i
    li   a0, 0
    jalr ra, 0(s0)
    CHECK a0, 5
    li   a1, C_LI_A0(-3)
    sh   a1, 0(s0)                  /* patch only the first halfword */
    fence.i
    jalr ra, 0(s0)
    CHECK a0, -3

    /* patch an instruction in .text that has already executed */
    li   s2, 0
.Lloop:
    la   a2, .Lpatch
.Lpatch:
    addi a0, zero, 1                /* becomes addi a0, zero, 2 */
    bnez s2, .Lafter
    li   s2, 1
    CHECK a0, 1
    li   a1, ADDI_A0(2)
    sw   a1, 0(a2)
    fence.i
    j    .Lloop
.Lafter:
    CHECK a0, 2

    /* the next instruction in straight-line code: store then fence.i then
       fall into the patched instruction */
    la   a2, .Lnext
    li   a1, ADDI_A0(77)
    sw   a1, 0(a2)
    fence.i
.Lnext:
    addi a0, zero, 66
    CHECK a0, 77

    /* fence.i with nonzero imm/rs1/rd: these fields are reserved and base
       implementations shall ignore them */
    li   a1, ADDI_A0(42)
    sw   a1, 0(s0)
    li   a1, RET
    sw   a1, 4(s0)
    .word 0x0015150f                /* fence.i, imm=1 rs1=a0 rd=a0 */
    jalr ra, 0(s0)
    CHECK a0, 42
TEST_END

    .data
    .align 4
codebuf:
    .skip 64
