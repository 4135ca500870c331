/* Start-up code for the Rewind test guests (bare metal, M-mode).
 *
 * Every hart enters _start with a0 = mhartid (set by the boot ROM; we read
 * the CSR anyway). Each hart gets its own stack, M and S trap stacks and TLS
 * block. Hart 0 clears .bss, then releases the others and calls main();
 * the other harts wait for that release and call rt_secondary_main(hartid),
 * which parks them in WFI unless the program provides its own. */
#include "rt_asm.h"

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    csrw    mie, zero
    csrr    s0, mhartid

    /* trap during early set-up (e.g. no PMP): skip the instruction */
    la      t0, early_trap
    csrw    mtvec, t0

    /* let S and U mode reach all of memory: PMP entry 0 = NAPOT, RWX */
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, 0x1f
    csrw    pmpcfg0, t0

    /* FPU on (compiled code may use FP registers), clean rounding state */
    li      t0, (1 << 13)           /* mstatus.FS = Initial */
    csrs    mstatus, t0
    csrw    fcsr, zero

    li      t0, RT_MAX_HARTS
    bgeu    s0, t0, park_forever

    /* per-hart stacks: [stack | M trap stack | S trap stack] */
    la      t0, __stacks_start
    li      t1, RT_HART_AREA
    mul     t1, t1, s0
    add     t0, t0, t1
    li      t1, RT_STACK_SIZE
    add     sp, t0, t1
    li      t1, RT_MTRAP_STACK
    add     t2, sp, t1
    csrw    mscratch, t2
    li      t1, RT_STRAP_STACK
    add     t2, t2, t1
    csrw    sscratch, t2

    /* default trap vector (direct) */
    la      t0, rt_mtrap_entry
    csrw    mtvec, t0

    bnez    s0, secondary

    /* hart 0: clear .bss */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:
    call    setup_tls
    fence   rw, rw
    li      t0, 1
    la      t1, rt_boot_done
    sw      t0, 0(t1)
    fence   rw, rw

    li      a0, 0
    li      a1, 0
    li      a2, 0
    call    main
    call    exit                    /* flushes stdio, calls _exit */
    j       park_forever

secondary:
    la      t1, rt_boot_done
1:  lw      t0, 0(t1)
    beqz    t0, 1b
    fence   rw, rw
    call    setup_tls
    mv      a0, s0
    call    rt_secondary_main
park_forever:
    csrw    mie, zero
1:  wfi
    j       1b

/* tp = this hart's TLS block: copy .tdata, zero .tbss. Uses s0 = hartid. */
setup_tls:
    la      t0, __tls_blocks
    li      t1, RT_TLS_SIZE
    mul     t1, t1, s0
    add     tp, t0, t1
    la      t0, __tdata_start
    la      t1, __tdata_end
    la      t2, __tls_end
    mv      t3, tp
1:  bgeu    t0, t1, 2f
    lb      t4, 0(t0)
    sb      t4, 0(t3)
    addi    t0, t0, 1
    addi    t3, t3, 1
    j       1b
2:  bgeu    t0, t2, 3f
    sb      zero, 0(t3)
    addi    t0, t0, 1
    addi    t3, t3, 1
    j       2b
3:  ret

    .balign 4
early_trap:
    csrr    t6, mepc
    lhu     t5, 0(t6)
    andi    t5, t5, 3
    addi    t6, t6, 2
    li      t4, 3
    bne     t5, t4, 1f
    addi    t6, t6, 2
1:  csrw    mepc, t6
    mret

/* hart 0 sets this after clearing .bss; lives in .data so it starts at 0
 * as loaded, whatever RAM held before. */
    .section .data
    .balign 4
    .globl rt_boot_done
rt_boot_done:
    .word 0
