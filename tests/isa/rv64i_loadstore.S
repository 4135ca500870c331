/* RV64I loads and stores: sign/zero extension of every width, little-endian
   byte order, positive/negative offsets, partial stores, x0 destination,
   FENCE. */
#include "test.h"
TEST_START
    .option norvc
    la   s0, tdata

    /* tdata = 00 81 7f ff | 80 00 fe ff | 01 02 03 04 05 06 07 88 */
    lb   a0, 0(s0)
    CHECK a0, 0
    lb   a0, 1(s0)
    CHECK a0, 0xffffffffffffff81
    lbu  a0, 1(s0)
    CHECK a0, 0x81
    lb   a0, 2(s0)
    CHECK a0, 0x7f
    lb   a0, 3(s0)
    CHECK a0, -1
    lbu  a0, 3(s0)
    CHECK a0, 0xff

    lh   a0, 0(s0)
    CHECK a0, 0xffffffffffff8100
    lhu  a0, 0(s0)
    CHECK a0, 0x8100
    lh   a0, 2(s0)
    CHECK a0, 0xffffffffffffff7f
    lhu  a0, 2(s0)
    CHECK a0, 0xff7f
    lh   a0, 4(s0)
    CHECK a0, 0x0080
    lh   a0, 6(s0)
    CHECK a0, 0xfffffffffffffffe

    lw   a0, 0(s0)
    CHECK a0, 0xffffffffff7f8100
    lwu  a0, 0(s0)
    CHECK a0, 0xff7f8100
    lw   a0, 4(s0)
    CHECK a0, 0xfffffffffffe0080
    lwu  a0, 4(s0)
    CHECK a0, 0xfffe0080
    lw   a0, 8(s0)
    CHECK a0, 0x04030201
    lw   a0, 12(s0)
    CHECK a0, 0xffffffff88070605
    lwu  a0, 12(s0)
    CHECK a0, 0x88070605

    ld   a0, 0(s0)
    CHECK a0, 0xfffe0080ff7f8100
    ld   a0, 8(s0)
    CHECK a0, 0x8807060504030201

    /* negative offsets */
    addi s1, s0, 16
    ld   a0, -8(s1)
    CHECK a0, 0x8807060504030201
    lbu  a0, -1(s1)
    CHECK a0, 0x88
    lh   a0, -2(s1)
    CHECK a0, 0xffffffffffff8807
    /* large offsets */
    la   s1, tdata - 2047
    lbu  a0, 2047(s1)
    CHECK a0, 0
    addi s1, s0, 2047
    lbu  a0, 1(s1)              /* tbig at tdata + 2048 */
    CHECK a0, 0x5a
    la   s1, tdata + 2048 + 2048
    lbu  a0, -2048(s1)
    CHECK a0, 0x5a

    /* stores */
    la   s1, sbuf
    li   a0, -1
    sd   a0, 0(s1)
    sd   a0, 8(s1)
    li   a0, 0x1122334455667788
    sb   a0, 0(s1)
    ld   a1, 0(s1)
    CHECK a1, 0xffffffffffffff88
    sh   a0, 2(s1)
    ld   a1, 0(s1)
    CHECK a1, 0xffffffff7788ff88
    sw   a0, 4(s1)
    ld   a1, 0(s1)
    CHECK a1, 0x556677887788ff88
    sd   a0, 8(s1)
    ld   a1, 8(s1)
    CHECK a1, 0x1122334455667788
    lbu  a1, 15(s1)
    CHECK a1, 0x11
    lhu  a1, 14(s1)
    CHECK a1, 0x1122
    sb   zero, 15(s1)
    ld   a1, 8(s1)
    CHECK a1, 0x0022334455667788
    /* negative store offset */
    addi s2, s1, 8
    li   a0, 0xabcd
    sh   a0, -8(s2)
    lhu  a1, 0(s1)
    CHECK a1, 0xabcd
    /* store then load back each width sign extension */
    li   a0, 0x80
    sb   a0, 0(s1)
    lb   a1, 0(s1)
    CHECK a1, -128
    li   a0, 0x8000
    sh   a0, 0(s1)
    lh   a1, 0(s1)
    CHECK a1, -32768
    li   a0, 0x80000000
    sw   a0, 0(s1)
    lw   a1, 0(s1)
    CHECK a1, 0xffffffff80000000
    lwu  a1, 0(s1)
    CHECK a1, 0x80000000

    /* load into x0: no effect, no trap */
    lw   zero, 0(s0)
    ld   zero, 8(s0)
    CHECK zero, 0

    /* rd == rs1 */
    la   a0, tdata + 8
    ld   a0, 0(a0)
    CHECK a0, 0x8807060504030201

    /* fences are valid (no-ops here) */
    fence
    fence rw, rw
    fence r, w
    fence.tso
    li   a0, 1
    CHECK a0, 1
TEST_END

    .data
    .align 4
tdata:
    .byte 0x00, 0x81, 0x7f, 0xff, 0x80, 0x00, 0xfe, 0xff
    .byte 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88
    .skip 2048 - 16
tbig:
    .byte 0x5a
    .align 4
sbuf:
    .skip 32
