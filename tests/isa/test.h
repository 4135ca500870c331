/*
 * test.h - shared header for the Rewind ISA tests (tests/isa/).
 *
 * Every test is a bare-metal M-mode program linked at 0x80000000 (link.ld),
 * started with `-bios none -kernel test.elf`.  It ends by writing to the
 * sifive,test1 finisher at 0x100000: 0x5555 = pass (exit 0),
 * 0x3333 | (case << 16) = fail (exit code = case number).
 *
 * Layout of a test:
 *
 *     #include "test.h"
 *     TEST_START
 *         li   a0, 1
 *         addi a0, a0, 1
 *         CHECK a0, 2
 *     TEST_END
 *
 * Register conventions: gp holds the current case number; t5 and t6 are
 * scratch registers of the CHECK macros; t0..t2 are clobbered by the
 * ENTER_MODE macro.  Tests must not keep values in gp/t5/t6 across a CHECK.
 *
 * Each CHECK* macro is one case; cases are numbered 1, 2, 3, ... in source
 * order (the assembler counts them).  A file may hold at most 254 cases so
 * that the exit code (which the shell truncates to 8 bits) is never 0 on
 * failure; exit code 255 means "failed outside any case".  On failure the
 * test also prints "FAIL case N" on the UART (and, for an unexpected trap,
 * mcause/mepc/mtval).
 *
 * Traps: the trap handler records mcause, mepc, mtval in memory and skips
 * the faulting instruction (2 or 4 bytes, from the instruction's low bits).
 * A trap is only allowed after EXPECT_TRAP (which allows exactly one);
 * any other trap fails the test.  Exception: ecall from U or S mode always
 * returns to M mode at the instruction after the ecall (see ENTER_MODE),
 * and does not need EXPECT_TRAP.  The handler uses mscratch (any trap
 * overwrites it).
 */
#ifndef REWIND_ISA_TEST_H
#define REWIND_ISA_TEST_H

#define FINISHER        0x100000
#define UART0           0x10000000

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL           2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6   /* store/AMO address misaligned */
#define CAUSE_STORE_ACCESS      7
#define CAUSE_ECALL_U           8
#define CAUSE_ECALL_S           9
#define CAUSE_ECALL_M           11

#define MSTATUS_MIE     0x8
#define MSTATUS_MPP     0x1800
#define MSTATUS_FS      0x6000
#define MSTATUS_FS_INIT 0x2000
#define MSTATUS_FS_DIRTY 0x6000
#define MSTATUS_SD      0x8000000000000000

#define MODE_U 0
#define MODE_S 1
#define MODE_M 3

/* fflags bits */
#define FF_NX 0x01
#define FF_UF 0x02
#define FF_OF 0x04
#define FF_DZ 0x08
#define FF_NV 0x10

/* rounding modes */
#define RM_RNE 0
#define RM_RTZ 1
#define RM_RDN 2
#define RM_RUP 3
#define RM_RMM 4

/* offsets into the trap record */
#define TR_SAVE_T1   0
#define TR_SAVE_T2   8
#define TR_CAUSE     16
#define TR_EPC       24
#define TR_TVAL      32
#define TR_COUNT     40
#define TR_EXPECTED  48

.set __case, 0

/* ------------------------------------------------------------------ */
.macro TEST_START
    .section .text.init, "ax", @progbits
    .option push
    .option norvc
    .globl _start
_start:
    li      gp, 0
    /* PMP: give S/U modes access to everything (tolerate a trap if PMP
       is not implemented: mtvec points just past the PMP writes). */
    la      t0, .Lpmp_done
    csrw    mtvec, t0
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, 0x1f            /* NAPOT, R W X */
    csrw    pmpcfg0, t0
    .align 2
.Lpmp_done:
    la      t0, trap_handler
    csrw    mtvec, t0
    csrwi   medeleg, 0
    csrwi   mideleg, 0
    csrwi   mie, 0
    csrwi   satp, 0
    li      t0, MSTATUS_MPP | MSTATUS_FS_INIT
    csrw    mstatus, t0
    csrwi   fcsr, 0
    la      t0, trap_record
    sd      zero, TR_CAUSE(t0)
    sd      zero, TR_EPC(t0)
    sd      zero, TR_TVAL(t0)
    sd      zero, TR_COUNT(t0)
    sd      zero, TR_EXPECTED(t0)
    la      sp, test_stack_top
    j       test_body

/* ---- trap handler ---- */
    .align 2
trap_handler:
    csrw    mscratch, t0
    la      t0, trap_record
    sd      t1, TR_SAVE_T1(t0)
    sd      t2, TR_SAVE_T2(t0)
    csrr    t1, mcause
    sd      t1, TR_CAUSE(t0)
    csrr    t2, mepc
    sd      t2, TR_EPC(t0)
    csrr    t1, mtval
    sd      t1, TR_TVAL(t0)
    ld      t1, TR_COUNT(t0)
    addi    t1, t1, 1
    sd      t1, TR_COUNT(t0)
    csrr    t1, mcause
    bltz    t1, unexpected_trap         /* interrupts are never expected */
    addi    t1, t1, -CAUSE_ECALL_U
    beqz    t1, .Lecall_lower
    addi    t1, t1, -1                  /* CAUSE_ECALL_S */
    beqz    t1, .Lecall_lower
    ld      t1, TR_EXPECTED(t0)
    beqz    t1, unexpected_trap
    sd      zero, TR_EXPECTED(t0)
    /* skip the faulting instruction: 4 bytes if its low bits are 11 */
    lhu     t1, 0(t2)
    andi    t1, t1, 3
    addi    t2, t2, 2
    addi    t1, t1, -3
    bnez    t1, 1f
    addi    t2, t2, 2
1:  csrw    mepc, t2
    j       .Ltrap_ret
.Lecall_lower:
    /* ecall from U/S: come back to M mode after the ecall */
    addi    t2, t2, 4
    csrw    mepc, t2
    li      t1, MSTATUS_MPP
    csrs    mstatus, t1
.Ltrap_ret:
    ld      t1, TR_SAVE_T1(t0)
    ld      t2, TR_SAVE_T2(t0)
    csrr    t0, mscratch
    mret

/* ---- failure paths ---- */
unexpected_trap:
    la      t0, .Lfail_final
    csrw    mtvec, t0
    li      t0, UART0
    la      a1, .Lmsg_trap
    jal     t4, .Lputs
    csrr    a0, mcause
    jal     t4, .Lputhex
    la      a1, .Lmsg_epc
    jal     t4, .Lputs
    csrr    a0, mepc
    jal     t4, .Lputhex
    la      a1, .Lmsg_tval
    jal     t4, .Lputs
    csrr    a0, mtval
    jal     t4, .Lputhex
    la      a1, .Lmsg_nl
    jal     t4, .Lputs
    /* fall through */
    .globl fail
fail:
    la      t0, .Lfail_final
    csrw    mtvec, t0
    li      t0, UART0
    la      a1, .Lmsg_fail
    jal     t4, .Lputs
    mv      a0, gp
    jal     t4, .Lputdec
    la      a1, .Lmsg_nl
    jal     t4, .Lputs
    .align 2
.Lfail_final:
    li      t1, 255
    beqz    gp, 1f
    mv      t1, gp
1:  slli    t1, t1, 16
    li      t2, 0x3333
    or      t1, t1, t2
    li      t0, FINISHER
    sw      t1, 0(t0)
2:  j       2b

/* print NUL-terminated string at a1 to UART at t0; return via t4 */
.Lputs:
    lbu     t1, 0(a1)
    beqz    t1, 1f
    sb      t1, 0(t0)
    addi    a1, a1, 1
    j       .Lputs
1:  jr      t4
/* print a0 as 16 hex digits */
.Lputhex:
    li      t2, 60
1:  srl     t1, a0, t2
    andi    t1, t1, 15
    addi    t1, t1, '0'
    li      t3, '9' + 1
    blt     t1, t3, 2f
    addi    t1, t1, 'a' - '9' - 1
2:  sb      t1, 0(t0)
    addi    t2, t2, -4
    bgez    t2, 1b
    jr      t4
/* print a0 (< 1000) in decimal, by repeated subtraction */
.Lputdec:
    li      t1, '0'
    li      t2, 100
1:  blt     a0, t2, 2f
    sub     a0, a0, t2
    addi    t1, t1, 1
    j       1b
2:  sb      t1, 0(t0)
    li      t1, '0'
    li      t2, 10
3:  blt     a0, t2, 4f
    sub     a0, a0, t2
    addi    t1, t1, 1
    j       3b
4:  sb      t1, 0(t0)
    addi    t1, a0, '0'
    sb      t1, 0(t0)
    jr      t4

.Lmsg_trap: .asciz "unexpected trap: mcause=0x"
.Lmsg_epc:  .asciz " mepc=0x"
.Lmsg_tval: .asciz " mtval=0x"
.Lmsg_fail: .asciz "FAIL case "
.Lmsg_nl:   .asciz "\n"
    .align 2
    .option pop

    .text
    .align 2
test_body:
.endm

/* ------------------------------------------------------------------ */
.macro PASS
    li      t0, FINISHER
    li      t1, 0x5555
    sw      t1, 0(t0)
1:  j       1b
.endm

.macro FAIL
    j       fail
.endm

.macro TEST_END
    PASS
    .if __case > 254
    .error "too many cases in one test file (max 254)"
    .endif
    .data
    .align 3
    .globl trap_record
trap_record:
    .dword 0, 0, 0, 0, 0, 0, 0, 0
    .bss
    .align 4
test_stack:
    .skip 4096
test_stack_top:
.endm

/* ------------------------------------------------------------------ */
/* next case number -> gp */
.macro NEXT_CASE
    .set __case, __case + 1
    li      gp, __case
.endm

/* CHECK reg, value: 64-bit compare of a register with a constant */
.macro CHECK reg, val
    NEXT_CASE
    li      t6, \val
    beq     \reg, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* CHECK_REG reg1, reg2: two registers equal */
.macro CHECK_REG reg1, reg2
    NEXT_CASE
    beq     \reg1, \reg2, .Lck\@
    j       fail
.Lck\@:
.endm

/* CHECK_S freg, bits32: single-precision register holds bits32, properly
   NaN-boxed (upper 32 bits all ones) */
.macro CHECK_S freg, val
    NEXT_CASE
    fmv.x.d t5, \freg
    li      t6, 0xffffffff00000000 | ((\val) & 0xffffffff)
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* CHECK_D freg, bits64 */
.macro CHECK_D freg, val
    NEXT_CASE
    fmv.x.d t5, \freg
    li      t6, \val
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* CHECK_FLAGS value: fflags equal value; fflags is cleared afterwards */
.macro CHECK_FLAGS val
    NEXT_CASE
    csrrw   t5, fflags, zero
    li      t6, \val
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* clear fflags without checking */
.macro CLEAR_FLAGS
    csrw    fflags, zero
.endm

/* load a constant into an FP register as raw bits (clobbers t5) */
.macro LI_S freg, val
    li      t5, (\val) & 0xffffffff
    fmv.w.x \freg, t5
.endm
.macro LI_D freg, val
    li      t5, \val
    fmv.d.x \freg, t5
.endm

/* ---- floating point test macros (fmt is s or d; rm is a static rounding
   mode name: rne rtz rdn rup rmm dyn, or empty for instructions without
   one).  Each TEST_* is two cases: the result, then fflags. ---- */
.macro FLI fmt, freg, val
    .ifc \fmt, s
    LI_S \freg, \val
    .else
    LI_D \freg, \val
    .endif
.endm
.macro FCHK fmt, freg, val
    .ifc \fmt, s
    CHECK_S \freg, \val
    .else
    CHECK_D \freg, \val
    .endif
.endm
/* two sources: fadd fsub fmul fdiv fmin fmax fsgnj* */
.macro TEST_FP2 op, fmt, rm, a, b, res, flags
    FLI  \fmt, fa0, \a
    FLI  \fmt, fa1, \b
    .ifb \rm
    \op  fa2, fa0, fa1
    .else
    \op  fa2, fa0, fa1, \rm
    .endif
    FCHK \fmt, fa2, \res
    CHECK_FLAGS \flags
.endm
/* one source: fsqrt */
.macro TEST_FP1 op, fmt, rm, a, res, flags
    FLI  \fmt, fa0, \a
    \op  fa2, fa0, \rm
    FCHK \fmt, fa2, \res
    CHECK_FLAGS \flags
.endm
/* three sources: fmadd fmsub fnmsub fnmadd */
.macro TEST_FP3 op, fmt, rm, a, b, c, res, flags
    FLI  \fmt, fa0, \a
    FLI  \fmt, fa1, \b
    FLI  \fmt, fa3, \c
    \op  fa2, fa0, fa1, fa3, \rm
    FCHK \fmt, fa2, \res
    CHECK_FLAGS \flags
.endm
/* compare: feq flt fle -> integer */
.macro TEST_FCMP op, fmt, a, b, res, flags
    FLI  \fmt, fa0, \a
    FLI  \fmt, fa1, \b
    \op  a0, fa0, fa1
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm
/* FP -> integer: fcvt.{w,wu,l,lu}.{s,d} (res is the 64-bit register value) */
.macro TEST_FCVT_I op, fmt, rm, a, res, flags
    FLI  \fmt, fa0, \a
    \op  a0, fa0, \rm
    CHECK a0, \res
    CHECK_FLAGS \flags
.endm
/* integer -> FP: fcvt.{s,d}.{w,wu,l,lu} */
.macro TEST_FCVT_F op, fmt, rm, a, res, flags
    li   a0, \a
    .ifb \rm
    \op  fa2, a0
    .else
    \op  fa2, a0, \rm
    .endif
    FCHK \fmt, fa2, \res
    CHECK_FLAGS \flags
.endm
/* FP -> FP: fcvt.s.d (sfmt d, dfmt s), fcvt.d.s */
.macro TEST_FCVT_FF op, sfmt, dfmt, rm, a, res, flags
    FLI  \sfmt, fa0, \a
    .ifb \rm
    \op  fa2, fa0
    .else
    \op  fa2, fa0, \rm
    .endif
    FCHK \dfmt, fa2, \res
    CHECK_FLAGS \flags
.endm

/* ---- traps ---- */

/* allow one trap; sets the recorded cause to a sentinel so CHECK_CAUSE
   fails if no trap happens */
.macro EXPECT_TRAP
    la      t6, trap_record
    li      t5, -1
    sd      t5, TR_CAUSE(t6)
    sd      t5, TR_EPC(t6)
    sd      t5, TR_TVAL(t6)
    li      t5, 1
    sd      t5, TR_EXPECTED(t6)
.endm

/* no trap may be pending: the last EXPECT_TRAP was consumed */
.macro CHECK_CAUSE cause
    NEXT_CASE
    la      t6, trap_record
    ld      t5, TR_CAUSE(t6)
    li      t6, \cause
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

.macro CHECK_TVAL val
    NEXT_CASE
    la      t6, trap_record
    ld      t5, TR_TVAL(t6)
    li      t6, \val
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* mtval equals a register's value */
.macro CHECK_TVAL_REG reg
    NEXT_CASE
    la      t6, trap_record
    ld      t5, TR_TVAL(t6)
    beq     t5, \reg, .Lck\@
    j       fail
.Lck\@:
.endm

/* mtval equals the 32-bit instruction word at label */
.macro CHECK_TVAL_INSN label
    NEXT_CASE
    la      t6, \label
    lwu     t6, 0(t6)
    la      t5, trap_record
    ld      t5, TR_TVAL(t5)
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* ILLEGAL insn...: the 32-bit instruction raises illegal instruction with
   mtval = its encoding and mepc = its address (3 cases) */
.macro ILLEGAL insn:vararg
    EXPECT_TRAP
.Lil\@:
    \insn
    CHECK_CAUSE CAUSE_ILLEGAL
    CHECK_TVAL_INSN .Lil\@
    CHECK_EPC .Lil\@
.endm

/* NO_TRAP insn...: the instruction executes without trapping (1 case) */
.macro NO_TRAP insn:vararg
    EXPECT_TRAP
    \insn
    CHECK_NO_TRAP
.endm

.macro CHECK_EPC label
    NEXT_CASE
    la      t6, trap_record
    ld      t5, TR_EPC(t6)
    la      t6, \label
    beq     t5, t6, .Lck\@
    j       fail
.Lck\@:
.endm

/* no trap happened since EXPECT_TRAP (the allowance is still there) -- to check
   that an instruction did NOT trap: after EXPECT_TRAP; insn; CHECK_NO_TRAP */
.macro CHECK_NO_TRAP
    NEXT_CASE
    la      t6, trap_record
    ld      t5, TR_EXPECTED(t6)
    sd      zero, TR_EXPECTED(t6)
    bnez    t5, .Lck\@
    j       fail
.Lck\@:
.endm

/* TRAP_TEST cause, tval, insn...: the instruction traps with the given
   cause and mtval, and mepc points at it (3 cases) */
.macro TRAP_TEST cause, tval, insn:vararg
    EXPECT_TRAP
.Ltt\@:
    \insn
    CHECK_CAUSE \cause
    CHECK_TVAL \tval
    CHECK_EPC .Ltt\@
.endm

/* ENTER_MODE mode: continue at the next instruction in U (0) or S (1)
   mode.  Come back to M mode with `ecall`.  Clobbers t0. */
.macro ENTER_MODE mode
    li      t0, MSTATUS_MPP
    csrc    mstatus, t0
    li      t0, (\mode) << 11
    csrs    mstatus, t0
    la      t0, .Lem\@
    csrw    mepc, t0
    mret
.Lem\@:
.endm

.macro EXIT_TO_M
    ecall
.endm

#endif
