/* RV64M: MUL/MULH/MULHSU/MULHU/MULW, DIV/DIVU/REM/REMU and W forms,
   including division by zero and signed overflow (results defined by the
   spec: x/0 = -1 (all ones), x%0 = x, MIN/-1 = MIN, MIN%-1 = 0). */
#include "test.h"

/* OP insn, a, b, expected */
.macro OP insn, va, vb, res
    li   a0, \va
    li   a1, \vb
    \insn a2, a0, a1
    CHECK a2, \res
.endm

TEST_START
    .option norvc
    /* ---- multiply ---- */
    OP mul, 0, 0, 0
    OP mul, 3, 7, 21
    OP mul, -3, 7, -21
    OP mul, -1, -1, 1
    OP mul, 0x123456789abcdef0, 0x0fedcba987654321, 0x2236d88fe5618cf0
    OP mul, 0xfedcba9876543210, 0xfedcba9876543210, 0xdeec6cd7a44a4100
    OP mul, 0x8000000000000000, -1, 0x8000000000000000

    OP mulh, -1, -1, 0
    OP mulh, 0x8000000000000000, 0x8000000000000000, 0x4000000000000000
    OP mulh, 0x8000000000000000, 0x7fffffffffffffff, 0xc000000000000000
    OP mulh, 0xfedcba9876543210, 0xfedcba9876543210, 0x14b66dc33f6ac
    OP mulh, 0x0123456789abcdef, 0xfedcba9876543210, 0xfffeb49923cc0953
    OP mulh, 2, -1, -1

    OP mulhu, -1, -1, 0xfffffffffffffffe
    OP mulhu, 0x8000000000000000, 0x8000000000000000, 0x4000000000000000
    OP mulhu, 0xfedcba9876543210, 0xfedcba9876543210, 0xfdbac097c8dc5acc
    OP mulhu, 0x0123456789abcdef, 0xfedcba9876543210, 0x121fa00ad77d742
    OP mulhu, 2, -1, 1

    /* mulhsu: rs1 signed, rs2 unsigned */
    OP mulhsu, -1, -1, -1                 /* -(2^64-1) -> high = -1 */
    OP mulhsu, 2, -1, 1
    OP mulhsu, -2, 3, -1
    OP mulhsu, 0x8000000000000000, 0x8000000000000000, 0xc000000000000000
    OP mulhsu, 0xfedcba9876543210, 0xfedcba9876543210, 0xfede05ff528828bc
    OP mulhsu, 0x0123456789abcdef, 0xfedcba9876543210, 0x121fa00ad77d742
    OP mulhsu, 0, -1, 0

    OP mulw, 0x7fffffff, 2, -2            /* result sign-extended */
    OP mulw, 0x10000, 0x8000, 0xffffffff80000000
    OP mulw, 0xffffffff00000003, 0x1234567800000005, 15   /* upper bits ignored */
    OP mulw, -1, -1, 1
    OP mulw, 0x12345678, 0x9abcdef0, 0x242d2080
    OP mulw, 0x12345678, 0x9abcdef8, 0xffffffffb5cfd440

    /* ---- signed divide / remainder ---- */
    OP div, 20, 6, 3
    OP div, -20, 6, -3                    /* round toward zero */
    OP div, 20, -6, -3
    OP div, -20, -6, 3
    OP rem, 20, 6, 2
    OP rem, -20, 6, -2                    /* sign of dividend */
    OP rem, 20, -6, 2
    OP rem, -20, -6, -2
    OP div, 0x8000000000000000, -1, 0x8000000000000000   /* overflow */
    OP rem, 0x8000000000000000, -1, 0
    OP div, 0x8000000000000000, 1, 0x8000000000000000
    OP div, 5, 0, -1                      /* divide by zero */
    OP div, -5, 0, -1
    OP rem, 5, 0, 5
    OP rem, -5, 0, -5
    OP rem, 0x8000000000000000, 0, 0x8000000000000000
    OP div, 0, 0, -1
    OP rem, 0, 0, 0

    /* ---- unsigned ---- */
    OP divu, 20, 6, 3
    OP divu, -20, 6, 0x2aaaaaaaaaaaaaa7   /* (2^64-20)/6 */
    OP divu, 20, -6, 0
    OP divu, -1, -1, 1
    OP remu, 20, 6, 2
    OP remu, -20, 6, 2                    /* (2^64-20) mod 6 */
    OP remu, 20, -6, 20
    OP divu, 0x8000000000000000, -1, 0
    OP remu, 0x8000000000000000, -1, 0x8000000000000000
    OP divu, 5, 0, -1                     /* 2^64 - 1 */
    OP divu, 0, 0, -1
    OP remu, 5, 0, 5
    OP remu, -5, 0, -5

    /* ---- W forms: 32-bit operands, sign-extended 32-bit result ---- */
    OP divw, 20, 6, 3
    OP divw, -20, 6, -3
    OP divw, 0xffffffff00000014, 0x00000001fffffffa, -3  /* 20 / -6, upper ignored */
    OP remw, -20, 6, -2
    OP remw, 0x12345678ffffffec, 6, -2
    OP divw, 0x80000000, -1, 0xffffffff80000000          /* overflow */
    OP remw, 0x80000000, -1, 0
    OP divw, 0xffffffff80000000, 0xffffffff, 0xffffffff80000000
    OP divw, 5, 0, -1
    OP divw, 0x100000005, 0x100000000, -1                /* low word of rs2 is 0 */
    OP remw, 5, 0, 5
    OP remw, 0x80000001, 0, 0xffffffff80000001           /* sext of low word */
    OP remw, 0x1234567800000007, 0x100000000, 7

    OP divuw, 20, 6, 3
    OP divuw, -20, 6, 0x2aaaaaa7                        /* (2^32-20)/6 */
    OP divuw, 0xffffffff, 1, -1                          /* 0xffffffff sign-extended */
    OP divuw, 0x80000000, 1, 0xffffffff80000000
    OP divuw, 0x1ffffffff, 0x100000002, 0x7fffffff       /* 0xffffffff / 2 */
    OP divuw, 5, 0, -1                                   /* 2^32-1, sign-extended */
    OP divuw, 0x100000000, 0, -1
    OP remuw, 20, 6, 2
    OP remuw, -20, 6, 2                                  /* (2^32-20) mod 6 = 4294967276 mod 6 */
    OP remuw, 0x80000001, 0x80000000, 1
    OP remuw, 0xfffffffe, 0xffffffff, 0xfffffffffffffffe /* sign-extended result */
    OP remuw, 5, 0, 5
    OP remuw, 0x80000005, 0, 0xffffffff80000005
    OP remuw, 0xabcdef0180000005, 0x100000000, 0xffffffff80000005

    /* rd == rs1 == rs2 */
    li   a0, 7
    mul  a0, a0, a0
    CHECK a0, 49
    li   a0, 7
    div  a0, a0, a0
    CHECK a0, 1
    /* x0 destination */
    li   a0, 3
    mul  zero, a0, a0
    div  zero, a0, zero
    CHECK zero, 0
TEST_END
