/* paging.c helpers.
 * .utext: U-mode routines. The linker puts them on their own page(s),
 * which paging.c maps at a user virtual address; they use only pc-relative
 * control flow and registers, and end with the exit ecall (a0 = result).
 * The kernel probes run in S-mode. Everything is 4-byte instructions so a
 * fault handler can step over the faulting one. */
#include "rt_asm.h"

    .option norvc

.macro UEXIT
    li      a7, RT_ECALL_EXIT_MODE
    ecall
1:  j       1b
.endm

    .section .utext, "ax", @progbits
    .globl u_load, u_load_insn
u_load:                             /* a0 = *(u64 *)a0 */
u_load_insn:
    ld      a0, 0(a0)
    UEXIT

    .globl u_store, u_store_insn
u_store:                            /* *(u64 *)a0 = a1; a0 = 0 */
u_store_insn:
    sd      a1, 0(a0)
    li      a0, 0
    UEXIT

    .globl u_exec                   /* call a0; a0 = -1 if it returns here */
u_exec:
    jalr    ra, a0
    li      a0, -1
    UEXIT

    .globl u_ret42
u_ret42:                            /* a target for u_exec */
    li      a0, 42
    UEXIT

    .text
    .globl k_load, k_load_insn
k_load:
k_load_insn:
    ld      a0, 0(a0)
    ret
