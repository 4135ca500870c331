/* RV64I control transfer: every conditional branch taken and not taken
   (signed/unsigned boundaries), backward branches, JAL, JALR (link value,
   LSB clearing, rd == rs1, negative offsets). */
#include "test.h"

/* BR insn, a, b, taken(1/0) */
.macro BR insn, va, vb, taken
    li   a0, \va
    li   a1, \vb
    li   a2, 0
    \insn a0, a1, .Lbr\@
    li   a2, 1                   /* fall-through path */
    j    .Lbrd\@
.Lbr\@:
    li   a2, 2                   /* taken path */
.Lbrd\@:
    .if \taken
    CHECK a2, 2
    .else
    CHECK a2, 1
    .endif
.endm

TEST_START
    .option norvc
    BR beq, 0, 0, 1
    BR beq, 1, 0, 0
    BR beq, -1, -1, 1
    BR beq, 0x100000000, 0, 0        /* all 64 bits compared */
    BR bne, 0, 0, 0
    BR bne, 1, 0, 1
    BR bne, 0x100000000, 0, 1
    BR bne, -1, -1, 0

    BR blt, -1, 0, 1
    BR blt, 0, -1, 0
    BR blt, 1, 1, 0
    BR blt, 0x8000000000000000, 0x7fffffffffffffff, 1
    BR blt, 0x7fffffffffffffff, 0x8000000000000000, 0
    BR bge, -1, 0, 0
    BR bge, 0, -1, 1
    BR bge, 1, 1, 1
    BR bge, 0x8000000000000000, 0x8000000000000000, 1
    BR bge, 0x7fffffffffffffff, 0x8000000000000000, 1

    BR bltu, 0, -1, 1
    BR bltu, -1, 0, 0
    BR bltu, 5, 5, 0
    BR bltu, 0x7fffffffffffffff, 0x8000000000000000, 1
    BR bltu, 0xffffffff, 0x100000000, 1
    BR bgeu, 0, -1, 0
    BR bgeu, -1, 0, 1
    BR bgeu, 5, 5, 1
    BR bgeu, 0x8000000000000000, 0x7fffffffffffffff, 1

    /* pseudo forms with x0 */
    li   a0, -5
    li   a2, 0
    bltz a0, 1f
    li   a2, 1
1:  CHECK a2, 0
    li   a2, 0
    bgtz a0, 1f
    li   a2, 1
1:  CHECK a2, 1

    /* backward branch: loop 10 times */
    li   a0, 10
    li   a1, 0
1:  addi a1, a1, 3
    addi a0, a0, -1
    bnez a0, 1b
    CHECK a1, 30

    /* ---- JAL ---- */
    li   a2, 0
.Ljal1:
    jal  ra, .Ljal_t1
    li   a2, 99                      /* skipped */
.Ljal_t1:
    la   a3, .Ljal1 + 4
    CHECK_REG ra, a3                 /* link = pc + 4 */
    CHECK a2, 0
    /* backward jal */
    j    .Ljal_fwd
.Ljal_back:
    li   a2, 7
    j    .Ljal_done
.Ljal_fwd:
    jal  zero, .Ljal_back
    li   a2, 99
.Ljal_done:
    CHECK a2, 7

    /* ---- JALR ---- */
    la   a0, .Ljr_t1
    li   a2, 0
.Ljr1:
    jalr t1, 0(a0)
    li   a2, 99
.Ljr_t1:
    la   a3, .Ljr1 + 4
    CHECK_REG t1, a3
    CHECK a2, 0
    /* target LSB is cleared: (a0 + 1) & ~1 */
    la   a0, .Ljr_t2
    addi a0, a0, 1
    li   a2, 0
    jalr ra, 0(a0)
    li   a2, 99
.Ljr_t2:
    CHECK a2, 0
    /* odd offset also cleared */
    la   a0, .Ljr_t3 - 3
    li   a2, 0
    jalr ra, 3(a0)
    li   a2, 99
.Ljr_t3:
    CHECK a2, 0
    /* negative offset */
    la   a0, .Ljr_t4 + 16
    li   a2, 0
    jalr ra, -16(a0)
    li   a2, 99
.Ljr_t4:
    CHECK a2, 0
    /* rd == rs1: target uses the old value */
    la   t2, .Ljr_t5
    li   a2, 0
.Ljr5:
    jalr t2, 0(t2)
    li   a2, 99
.Ljr_t5:
    CHECK a2, 0
    la   a3, .Ljr5 + 4
    CHECK_REG t2, a3
    /* jalr x0 (ret-like): no link written */
    la   a0, .Ljr_t6
    li   a2, 0
    jalr zero, 0(a0)
    li   a2, 99
.Ljr_t6:
    CHECK a2, 0
    CHECK zero, 0
    /* call/ret through a subroutine */
    li   a0, 20
    call .Lsub_double
    CHECK a0, 40
    j    .Lend
.Lsub_double:
    add  a0, a0, a0
    ret
.Lend:
TEST_END
