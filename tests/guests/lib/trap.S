/* Trap entry/exit for M and S mode, vector tables, and mode switching.
 *
 * Each entry swaps sp with mscratch/sscratch (which hold the top of this
 * hart's trap stack), saves all registers and the trap CSRs into a
 * struct trap_frame, and calls rt_mtrap_dispatch / rt_strap_dispatch (C).
 * On return epc and status are written back from the frame (so a handler
 * can redirect the return) and the registers are restored. Traps do not
 * nest. */
#include "rt_asm.h"

.macro SAVE_REGS scratch
    csrrw   sp, \scratch, sp
    addi    sp, sp, -TF_SIZE
    sd      x1, 1*8(sp)
    sd      x3, 3*8(sp)
    sd      x4, 4*8(sp)
    sd      x5, 5*8(sp)
    sd      x6, 6*8(sp)
    sd      x7, 7*8(sp)
    sd      x8, 8*8(sp)
    sd      x9, 9*8(sp)
    sd      x10, 10*8(sp)
    sd      x11, 11*8(sp)
    sd      x12, 12*8(sp)
    sd      x13, 13*8(sp)
    sd      x14, 14*8(sp)
    sd      x15, 15*8(sp)
    sd      x16, 16*8(sp)
    sd      x17, 17*8(sp)
    sd      x18, 18*8(sp)
    sd      x19, 19*8(sp)
    sd      x20, 20*8(sp)
    sd      x21, 21*8(sp)
    sd      x22, 22*8(sp)
    sd      x23, 23*8(sp)
    sd      x24, 24*8(sp)
    sd      x25, 25*8(sp)
    sd      x26, 26*8(sp)
    sd      x27, 27*8(sp)
    sd      x28, 28*8(sp)
    sd      x29, 29*8(sp)
    sd      x30, 30*8(sp)
    sd      x31, 31*8(sp)
    csrr    t0, \scratch            /* interrupted sp */
    sd      t0, 2*8(sp)
.endm

/* M-mode entry; \vec is stored in the frame's x0 slot (-1 = direct) */
.macro MENTRY name, vec
    .balign 4
\name:
    SAVE_REGS mscratch
    li      t0, \vec
    j       rt_mtrap_common
.endm

.macro SENTRY name, vec
    .balign 4
\name:
    SAVE_REGS sscratch
    li      t0, \vec
    j       rt_strap_common
.endm

.macro RESTORE_REGS_AND_RETURN scratch, ret
    addi    t0, sp, TF_SIZE
    csrw    \scratch, t0
    ld      x1, 1*8(sp)
    ld      x3, 3*8(sp)
    ld      x4, 4*8(sp)
    ld      x5, 5*8(sp)
    ld      x6, 6*8(sp)
    ld      x7, 7*8(sp)
    ld      x8, 8*8(sp)
    ld      x9, 9*8(sp)
    ld      x10, 10*8(sp)
    ld      x11, 11*8(sp)
    ld      x12, 12*8(sp)
    ld      x13, 13*8(sp)
    ld      x14, 14*8(sp)
    ld      x15, 15*8(sp)
    ld      x16, 16*8(sp)
    ld      x17, 17*8(sp)
    ld      x18, 18*8(sp)
    ld      x19, 19*8(sp)
    ld      x20, 20*8(sp)
    ld      x21, 21*8(sp)
    ld      x22, 22*8(sp)
    ld      x23, 23*8(sp)
    ld      x24, 24*8(sp)
    ld      x25, 25*8(sp)
    ld      x26, 26*8(sp)
    ld      x27, 27*8(sp)
    ld      x28, 28*8(sp)
    ld      x29, 29*8(sp)
    ld      x30, 30*8(sp)
    ld      x31, 31*8(sp)
    ld      x2, 2*8(sp)
    \ret
.endm

    .text
    .globl rt_mtrap_entry, rt_strap_entry, rt_mtrap_vectors, rt_strap_vectors
    MENTRY rt_mtrap_entry, -1
    SENTRY rt_strap_entry, -1

rt_mtrap_common:
    sd      t0, 0(sp)
    csrr    t0, mcause
    sd      t0, TF_CAUSE(sp)
    csrr    t0, mepc
    sd      t0, TF_EPC(sp)
    csrr    t0, mtval
    sd      t0, TF_TVAL(sp)
    csrr    t0, mstatus
    sd      t0, TF_STATUS(sp)
    mv      a0, sp
    call    rt_mtrap_dispatch
    ld      t0, TF_EPC(sp)
    csrw    mepc, t0
    ld      t0, TF_STATUS(sp)
    csrw    mstatus, t0
    RESTORE_REGS_AND_RETURN mscratch, mret

rt_strap_common:
    sd      t0, 0(sp)
    csrr    t0, scause
    sd      t0, TF_CAUSE(sp)
    csrr    t0, sepc
    sd      t0, TF_EPC(sp)
    csrr    t0, stval
    sd      t0, TF_TVAL(sp)
    csrr    t0, sstatus
    sd      t0, TF_STATUS(sp)
    mv      a0, sp
    call    rt_strap_dispatch
    ld      t0, TF_EPC(sp)
    csrw    sepc, t0
    ld      t0, TF_STATUS(sp)
    csrw    sstatus, t0
    RESTORE_REGS_AND_RETURN sscratch, sret

/* Vector tables for vectored mode (xtvec = table | 1): entry i holds a jump
 * to a stub that records i. Exceptions use entry 0. */
.macro VTABLE prefix
    .balign 256
\prefix\()_vectors:
    .option push
    .option norvc
    j \prefix\()_v0
    j \prefix\()_v1
    j \prefix\()_v2
    j \prefix\()_v3
    j \prefix\()_v4
    j \prefix\()_v5
    j \prefix\()_v6
    j \prefix\()_v7
    j \prefix\()_v8
    j \prefix\()_v9
    j \prefix\()_v10
    j \prefix\()_v11
    j \prefix\()_v12
    j \prefix\()_v13
    j \prefix\()_v14
    j \prefix\()_v15
    .option pop
.endm

    VTABLE rt_mtrap
    MENTRY rt_mtrap_v0, 0
    MENTRY rt_mtrap_v1, 1
    MENTRY rt_mtrap_v2, 2
    MENTRY rt_mtrap_v3, 3
    MENTRY rt_mtrap_v4, 4
    MENTRY rt_mtrap_v5, 5
    MENTRY rt_mtrap_v6, 6
    MENTRY rt_mtrap_v7, 7
    MENTRY rt_mtrap_v8, 8
    MENTRY rt_mtrap_v9, 9
    MENTRY rt_mtrap_v10, 10
    MENTRY rt_mtrap_v11, 11
    MENTRY rt_mtrap_v12, 12
    MENTRY rt_mtrap_v13, 13
    MENTRY rt_mtrap_v14, 14
    MENTRY rt_mtrap_v15, 15

    VTABLE rt_strap
    SENTRY rt_strap_v0, 0
    SENTRY rt_strap_v1, 1
    SENTRY rt_strap_v2, 2
    SENTRY rt_strap_v3, 3
    SENTRY rt_strap_v4, 4
    SENTRY rt_strap_v5, 5
    SENTRY rt_strap_v6, 6
    SENTRY rt_strap_v7, 7
    SENTRY rt_strap_v8, 8
    SENTRY rt_strap_v9, 9
    SENTRY rt_strap_v10, 10
    SENTRY rt_strap_v11, 11
    SENTRY rt_strap_v12, 12
    SENTRY rt_strap_v13, 13
    SENTRY rt_strap_v14, 14
    SENTRY rt_strap_v15, 15

/* long rt_menter(long arg, void *pc, long mode, void *sp)
 * From M-mode: run pc(arg) in mode (0 = U, 1 = S) with stack sp, via mret.
 * Returns when that code does ecall with a7 = RT_ECALL_EXIT_MODE, a0 = value
 * (the M trap dispatcher redirects to rt_menter_return). Resets sscratch to
 * this hart's S trap stack. */
    .globl rt_menter, rt_menter_return
    .balign 4
rt_menter:
    addi    sp, sp, -112
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s1, 16(sp)
    sd      s2, 24(sp)
    sd      s3, 32(sp)
    sd      s4, 40(sp)
    sd      s5, 48(sp)
    sd      s6, 56(sp)
    sd      s7, 64(sp)
    sd      s8, 72(sp)
    sd      s9, 80(sp)
    sd      s10, 88(sp)
    sd      s11, 96(sp)
    sd      gp, 104(sp)
    csrr    t0, mhartid
    slli    t0, t0, 3
    la      t1, rt_menter_sp
    add     t1, t1, t0
    sd      sp, 0(t1)
    /* sscratch = top of this hart's S trap stack = mscratch + S stack size */
    csrr    t0, mscratch
    li      t1, RT_STRAP_STACK
    add     t0, t0, t1
    csrw    sscratch, t0
    csrw    mepc, a1
    li      t0, (3 << 11)
    csrc    mstatus, t0
    andi    a2, a2, 3
    slli    a2, a2, 11
    csrs    mstatus, a2
    mv      sp, a3
    mret
rt_menter_return:
    csrr    t0, mhartid
    slli    t0, t0, 3
    la      t1, rt_menter_sp
    add     t1, t1, t0
    ld      sp, 0(t1)
    ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s1, 16(sp)
    ld      s2, 24(sp)
    ld      s3, 32(sp)
    ld      s4, 40(sp)
    ld      s5, 48(sp)
    ld      s6, 56(sp)
    ld      s7, 64(sp)
    ld      s8, 72(sp)
    ld      s9, 80(sp)
    ld      s10, 88(sp)
    ld      s11, 96(sp)
    ld      gp, 104(sp)
    addi    sp, sp, 112
    ret

/* long rt_senter(long arg, void *pc, void *sp, long arg2)
 * From S-mode: run pc(arg, arg2) in U-mode via sret; returns when it does ecall
 * with a7 = RT_ECALL_EXIT_MODE (ecall from U must be delegated to S).
 * Single hart only. */
    .globl rt_senter, rt_senter_return
    .balign 4
rt_senter:
    addi    sp, sp, -112
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s1, 16(sp)
    sd      s2, 24(sp)
    sd      s3, 32(sp)
    sd      s4, 40(sp)
    sd      s5, 48(sp)
    sd      s6, 56(sp)
    sd      s7, 64(sp)
    sd      s8, 72(sp)
    sd      s9, 80(sp)
    sd      s10, 88(sp)
    sd      s11, 96(sp)
    sd      gp, 104(sp)
    la      t1, rt_senter_sp
    sd      sp, 0(t1)
    csrw    sepc, a1
    li      t0, (1 << 8)            /* sstatus.SPP = U */
    csrc    sstatus, t0
    mv      sp, a2
    mv      a1, a3
    sret
rt_senter_return:
    la      t1, rt_senter_sp
    ld      sp, 0(t1)
    ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s1, 16(sp)
    ld      s2, 24(sp)
    ld      s3, 32(sp)
    ld      s4, 40(sp)
    ld      s5, 48(sp)
    ld      s6, 56(sp)
    ld      s7, 64(sp)
    ld      s8, 72(sp)
    ld      s9, 80(sp)
    ld      s10, 88(sp)
    ld      s11, 96(sp)
    ld      gp, 104(sp)
    addi    sp, sp, 112
    ret

/* long rt_exit_mode(long value): leave the current lower mode (see above) */
    .globl rt_exit_mode
    .balign 4
rt_exit_mode:
    li      a7, RT_ECALL_EXIT_MODE
    ecall
1:  j       1b

    .bss
    .balign 8
rt_menter_sp:
    .skip 8 * RT_MAX_HARTS
rt_senter_sp:
    .skip 8
