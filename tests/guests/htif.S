/* HTIF guest: no UART, no finisher. Prints through the console putchar
 * command of the tohost/fromhost protocol (device 1, command 1), waiting for
 * the host to take each byte, then exits with code 7 ((7 << 1) | 1), the
 * way Spike and QEMU's spike machine drive such a program. */
    .section .text
    .globl _start
_start:
    la      s0, message
    la      s1, tohost
next_char:
    lbu     a0, 0(s0)
    beqz    a0, done
    li      t0, 0x0101000000000000      /* device 1 (console), command 1 */
    or      t0, t0, a0
    sd      t0, 0(s1)
wait_host:
    ld      t1, 0(s1)                   /* the host clears tohost when done */
    bnez    t1, wait_host
    addi    s0, s0, 1
    j       next_char
done:
    li      t0, (7 << 1) | 1
    sd      t0, 0(s1)
1:  j       1b

    .section .rodata
message:
    .asciz  "hello from HTIF\n"

    .section .data
    .balign 64
    .globl tohost
tohost:
    .dword  0
    .size   tohost, 8                   /* QEMU checks the symbol's size */
    .balign 64
    .globl fromhost
fromhost:
    .dword  0
    .size   fromhost, 8
