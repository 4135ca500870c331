/* Instructions that trap, at known addresses, for traps.c. Each function
 * returns normally once the handler has skipped the trapping instruction
 * (or, for fetch faults, returned to ra). */
    .text
    .option norvc

    .globl illegal32, illegal32_insn
illegal32:
illegal32_insn:
    .word   0xc0001073              /* unimp = csrrw x0, cycle, x0 */
    ret

    .globl illegal16, illegal16_insn
illegal16:
illegal16_insn:
    .hword  0x0000                  /* all-zero 16-bit: defined illegal */
    .hword  0x0001                  /* c.nop, keeps 4-byte alignment */
    ret

    .globl do_ebreak, ebreak_insn
do_ebreak:
ebreak_insn:
    ebreak
    ret

    .globl do_cebreak, cebreak_insn
do_cebreak:
    .option push
    .option rvc
cebreak_insn:
    c.ebreak
    c.nop
    .option pop
    ret

/* long do_ecall(long a0): ecall with a7 = 0 */
    .globl do_ecall, ecall_insn
do_ecall:
    li      a7, 0
ecall_insn:
    ecall
    ret

    .globl load64, load64_insn
load64:
load64_insn:
    ld      a0, 0(a0)
    ret

    .globl store64, store64_insn
store64:
store64_insn:
    sd      a1, 0(a0)
    ret

    .globl load32, load32_insn
load32:
load32_insn:
    lw      a0, 0(a0)
    ret

    .globl amoadd32, amoadd32_insn
amoadd32:
amoadd32_insn:
    amoadd.w a0, a1, (a0)
    ret

/* void jump_to(void *pc): the handler returns to ra */
    .globl jump_to
jump_to:
    jr      a0

    .globl read_mstatus, read_mstatus_insn
read_mstatus:
read_mstatus_insn:
    csrr    a0, mstatus
    ret

    .globl read_sstatus, read_sstatus_insn
read_sstatus:
read_sstatus_insn:
    csrr    a0, sstatus
    ret

    .globl do_mret, mret_insn
do_mret:
mret_insn:
    mret
    ret

    .globl do_sret, sret_insn
do_sret:
sret_insn:
    sret
    ret
