/* Zicsr: the six CSR instructions (read/write/set/clear semantics, old
   value in rd), rs1=x0 / uimm=0 forms that do not write, and the access
   faults: unknown CSR, write to a read-only CSR, access to a CSR of a
   higher privilege level, counters gated by mcounteren/scounteren,
   sret/mret/TVM/TSR.  All faults are illegal instruction with
   mtval = the instruction bits. */
#include "test.h"

#define CSR_MSCRATCH 0x340
#define CSR_SSCRATCH 0x140

TEST_START
    .option norvc

    /* ---- basic semantics on mscratch ---- */
    li   a0, 0x0123456789abcdef
    csrw mscratch, a0
    csrr a1, mscratch
    CHECK a1, 0x0123456789abcdef
    li   a0, 0xff00000000000000
    csrrw a1, mscratch, a0
    CHECK a1, 0x0123456789abcdef
    csrr a1, mscratch
    CHECK a1, 0xff00000000000000
    li   a0, 0x00000000000000ff
    csrrs a1, mscratch, a0
    CHECK a1, 0xff00000000000000
    csrr a1, mscratch
    CHECK a1, 0xff000000000000ff
    li   a0, 0xf00000000000000f
    csrrc a1, mscratch, a0
    CHECK a1, 0xff000000000000ff
    csrr a1, mscratch
    CHECK a1, 0x0f000000000000f0
    csrrwi a1, mscratch, 0x1f
    CHECK a1, 0x0f000000000000f0
    csrr a1, mscratch
    CHECK a1, 0x1f                     /* uimm zero-extended */
    csrrci a1, mscratch, 0x3
    CHECK a1, 0x1f
    csrrsi a1, mscratch, 0x40 >> 2     /* 0x10 */
    CHECK a1, 0x1c
    csrr a1, mscratch
    CHECK a1, 0x1c
    csrrsi a1, mscratch, 0x3
    csrr a1, mscratch
    CHECK a1, 0x1f
    /* rd == rs1: old value to rd, old rs1 written */
    li   a2, 0x55
    csrrw a2, mscratch, a2
    CHECK a2, 0x1f
    csrr a1, mscratch
    CHECK a1, 0x55
    /* rs1 = x0 / uimm = 0: no change */
    csrrs a1, mscratch, zero
    csrrc a1, mscratch, zero
    csrrsi a1, mscratch, 0
    csrrci a1, mscratch, 0
    csrr a1, mscratch
    CHECK a1, 0x55
    /* rd = x0 with csrrw still writes */
    li   a0, 0x66
    csrrw zero, mscratch, a0
    csrr a1, mscratch
    CHECK a1, 0x66
    /* sscratch is a separate full-width register */
    li   a0, -1
    csrw sscratch, a0
    csrr a1, sscratch
    CHECK a1, -1
    csrr a1, mscratch
    CHECK a1, 0x66

    /* ---- identity CSRs ---- */
    csrr a1, mhartid
    CHECK a1, 0
    csrr a1, misa
    srli a2, a1, 62
    CHECK a2, 2                        /* MXL = 64 */
    li   a2, (1<<0)|(1<<2)|(1<<3)|(1<<5)|(1<<8)|(1<<12)|(1<<18)|(1<<20)  /* A C D F I M S U */
    and  a1, a1, a2
    CHECK_REG a1, a2

    /* ---- read-only CSRs: reads fine, writes trap ---- */
    NO_TRAP csrr a1, mvendorid
    NO_TRAP csrrs a1, mhartid, zero
    NO_TRAP csrrc a1, marchid, zero
    NO_TRAP csrrsi a1, mimpid, 0
    NO_TRAP csrrci a1, mhartid, 0
    NO_TRAP csrr a1, cycle
    NO_TRAP csrr a1, instret
    li   a0, 0
    ILLEGAL csrw mhartid, a0
    ILLEGAL csrrw zero, mvendorid, a0
#ifndef QEMU_SKIP
    /* csrrs/csrrc with rs1 != x0 attempt the write even when the register
       holds 0, so a read-only CSR raises illegal instruction.  QEMU 7.2
       decides on the value (write mask == 0 -> no write, no trap). */
    ILLEGAL csrrs a1, mhartid, a0
    ILLEGAL csrrc a1, marchid, a0
#endif
    li   a0, 1
    ILLEGAL csrrs a1, mhartid, a0
    ILLEGAL csrrc a1, marchid, a0
    li   a0, 0
    ILLEGAL csrrsi a1, mimpid, 1
    ILLEGAL csrrci a1, mhartid, 1
    ILLEGAL csrrwi a1, mhartid, 0       /* csrrwi always writes */
    ILLEGAL csrw cycle, a0
    li   t3, 1
    ILLEGAL csrs instret, t3
    /* the failed write did not change anything */
    csrr a1, mhartid
    CHECK a1, 0

    /* ---- unknown CSRs ---- */
    ILLEGAL csrr a1, 0x0ff
    ILLEGAL csrw 0x0ff, a0
    ILLEGAL csrr a1, 0x3ff
    ILLEGAL csrrs a1, 0xfff, zero
    ILLEGAL csrr a1, 0x5ff

#ifndef QEMU_SKIP
    /* ---- minstret counts retired instructions: back-to-back reads differ
       by exactly 1; writes take effect (QEMU 7.2 without -icount returns
       host ticks for minstret, so this is skipped there) ---- */
    csrr a1, minstret
    csrr a2, minstret
    sub  a3, a2, a1
    CHECK a3, 1
    li   a0, 1000
    csrw minstret, a0
    csrr a1, minstret
    csrr a2, instret                   /* the user alias sees the same counter */
    CHECK a1, 1000
    CHECK a2, 1001
#endif

    /* ---- U mode ---- */
    csrwi mcounteren, 0
    csrwi scounteren, 0
    ENTER_MODE MODE_U
    ILLEGAL csrr a1, mscratch
    ILLEGAL csrw mscratch, a0
    ILLEGAL csrr a1, mstatus
    ILLEGAL csrr a1, mhartid
    ILLEGAL csrr a1, sscratch
    ILLEGAL csrr a1, sstatus
    ILLEGAL csrr a1, cycle              /* mcounteren.CY = 0 */
    ILLEGAL csrr a1, instret
    ILLEGAL mret
    ILLEGAL sret
    NO_TRAP csrr a1, fcsr               /* FP CSRs are user CSRs */
    EXIT_TO_M
    CHECK_CAUSE CAUSE_ECALL_U
    /* counters enabled at M level only: U still denied */
    csrwi mcounteren, 5                 /* CY, IR */
    csrwi scounteren, 0
    ENTER_MODE MODE_U
    ILLEGAL csrr a1, cycle
    ILLEGAL csrr a1, instret
    EXIT_TO_M
    csrwi scounteren, 1                 /* CY only */
    ENTER_MODE MODE_U
    NO_TRAP csrr a1, cycle
    ILLEGAL csrr a1, instret
    EXIT_TO_M

    /* ---- S mode ---- */
    csrwi mcounteren, 0
    ENTER_MODE MODE_S
    NO_TRAP csrr a1, sscratch
    NO_TRAP csrr a1, sstatus
    NO_TRAP csrw sscratch, a0
    ILLEGAL csrr a1, mscratch
    ILLEGAL csrw mscratch, a0
    ILLEGAL csrr a1, mstatus
    ILLEGAL csrr a1, medeleg
    ILLEGAL csrr a1, mhartid
    ILLEGAL csrr a1, cycle              /* mcounteren.CY = 0 */
    ILLEGAL mret
    EXIT_TO_M
    CHECK_CAUSE CAUSE_ECALL_S
    csrwi mcounteren, 1
    ENTER_MODE MODE_S
    NO_TRAP csrr a1, cycle              /* scounteren does not gate S mode */
    NO_TRAP csrr a1, satp
    NO_TRAP sfence.vma
    EXIT_TO_M
    /* mstatus.TVM: satp and sfence.vma trap in S mode */
    li   t1, 1 << 20
    csrs mstatus, t1
    ENTER_MODE MODE_S
    ILLEGAL csrr a1, satp
    ILLEGAL csrw satp, zero
    ILLEGAL sfence.vma
    EXIT_TO_M
    li   t1, 1 << 20
    csrc mstatus, t1
    /* mstatus.TSR: sret traps in S mode */
    li   t1, 1 << 22
    csrs mstatus, t1
    ENTER_MODE MODE_S
    ILLEGAL sret
    EXIT_TO_M
    li   t1, 1 << 22
    csrc mstatus, t1
    /* sret from S mode works without TSR: back in S mode at sepc */
    ENTER_MODE MODE_S
    la   t1, .Lafter_sret
    csrw sepc, t1
    li   t1, 1 << 8                     /* SPP = S */
    csrs sstatus, t1
    sret
    li   a5, 99                         /* skipped */
.Lafter_sret:
    li   a5, 1
    EXIT_TO_M
    CHECK a5, 1
    CHECK_CAUSE CAUSE_ECALL_S           /* still S mode after sret */
TEST_END
