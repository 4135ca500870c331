/* RV64A LR/SC: success/failure rules that the spec makes mandatory.
   - LR then SC to the same address succeeds (rd = 0) and stores.
   - SC without a reservation fails (rd = 1, the only defined failure code)
     and does not store.
   - Any SC invalidates the reservation (a second SC fails), whether it
     succeeded or failed.
   - SC to an address outside the reservation set fails (addresses 4 KiB
     apart are never in one reservation set).
   - A newer LR replaces the reservation.
   - LR.W sign-extends; SC.W stores only 32 bits. */
#include "test.h"
TEST_START
    .option norvc
    la   s0, lrdata
    li   s1, 4096
    add  s1, s0, s1               /* far address */

    /* basic LR.D / SC.D */
    li   a0, 0x1122334455667788
    sd   a0, 0(s0)
    lr.d a1, (s0)
    CHECK a1, 0x1122334455667788
    li   a2, 0xaabbccdd
    sc.d a3, a2, (s0)
    CHECK a3, 0
    ld   a4, 0(s0)
    CHECK a4, 0xaabbccdd
    /* reservation consumed: second SC fails */
    li   a2, 5
    sc.d a3, a2, (s0)
    CHECK a3, 1
    ld   a4, 0(s0)
    CHECK a4, 0xaabbccdd

    /* SC without any LR fails */
    sc.w a3, a2, (s1)
    CHECK a3, 1

    /* SC to another address fails, and kills the reservation */
    lr.d a1, (s0)
    sc.d a3, a2, (s1)
    CHECK a3, 1
    ld   a4, 0(s1)
    CHECK a4, 0
    sc.d a3, a2, (s0)
    CHECK a3, 1
    ld   a4, 0(s0)
    CHECK a4, 0xaabbccdd

    /* a newer LR replaces the reservation */
    lr.d a1, (s0)
    lr.d a1, (s1)
    sc.d a3, a2, (s0)
    CHECK a3, 1
    lr.d a1, (s0)
    lr.d a1, (s1)
    li   a2, 77
    sc.d a3, a2, (s1)
    CHECK a3, 0
    ld   a4, 0(s1)
    CHECK a4, 77

    /* LR.W sign-extends, SC.W writes only the word */
    li   a0, 0xffffffff80000001
    sd   a0, 0(s0)
    li   a0, 0x1234
    sd   a0, 8(s0)
    lr.w a1, (s0)
    CHECK a1, 0xffffffff80000001
    li   a2, 0x5555555566666666
    sc.w a3, a2, (s0)
    CHECK a3, 0
    ld   a4, 0(s0)
    CHECK a4, 0xffffffff66666666
    /* LR.W on the upper word of a doubleword */
    addi s2, s0, 4
    lr.w a1, (s2)
    CHECK a1, -1
    li   a2, 0x7
    sc.w a3, a2, (s2)
    CHECK a3, 0
    ld   a4, 0(s0)
    CHECK a4, 0x0000000766666666
    ld   a4, 8(s0)
    CHECK a4, 0x1234

    /* failed SC.W does not store */
    li   a2, 0x99
    sc.w a3, a2, (s0)
    CHECK a3, 1
    lwu  a4, 0(s0)
    CHECK a4, 0x66666666

    /* ordering bits */
    lr.d.aq a1, (s0)
    li   a2, 3
    sc.d.rl a3, a2, (s0)
    CHECK a3, 0
    lr.w.aqrl a1, (s0)
    CHECK a1, 3
    li   a2, 4
    sc.w.aqrl a3, a2, (s0)
    CHECK a3, 0
    ld   a4, 0(s0)
    CHECK a4, 4

    /* rd = x0 on SC: store happens, result discarded */
    lr.d a1, (s0)
    li   a2, 9
    sc.d zero, a2, (s0)
    ld   a4, 0(s0)
    CHECK a4, 9
    CHECK zero, 0
    /* rd == rs2 */
    lr.d a1, (s0)
    li   a2, 10
    sc.d a2, a2, (s0)
    CHECK a2, 0
    ld   a4, 0(s0)
    CHECK a4, 10

    /* an atomic increment loop (the canonical LR/SC use) */
    li   a5, 0
    sd   zero, 0(s0)
1:  lr.d a1, (s0)
    addi a1, a1, 1
    sc.d a3, a1, (s0)
    bnez a3, 1b
    addi a5, a5, 1
    li   a6, 10
    blt  a5, a6, 1b
    ld   a4, 0(s0)
    CHECK a4, 10
TEST_END

    .data
    .align 12
lrdata:
    .skip 8192
