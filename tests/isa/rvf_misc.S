/* RV64F non-arithmetic instructions: sign injection (no canonicalization,
   no flags), fmin/fmax (-0 < +0, NaN handling), feq/flt/fle (quiet vs
   signaling compares), fclass (all ten classes), fmv.x.w (sign-extends) /
   fmv.w.x (NaN-boxes), flw/fsw (bit-exact), and NaN boxing: a single
   operation reading a register that is not properly NaN-boxed sees the
   canonical NaN 0x7fc00000. */
#include "test.h"

#define P1   0x3f800000   /* 1.0 */
#define P2   0x40000000   /* 2.0 */
#define M1   0xbf800000   /* -1.0 */
#define M2   0xc0000000   /* -2.0 */
#define PZ   0x00000000
#define MZ   0x80000000
#define PINF 0x7f800000
#define MINF 0xff800000
#define QNAN 0x7fc00000
#define SNAN 0x7f800001
#define MQNAN 0xffc00000
#define PSUB 0x00000001
#define MSUB 0x807fffff
#define PMAX 0x7f7fffff

/* TEST_CLASS bits, expected */
.macro TEST_CLASS val, res
    LI_S fa0, \val
    fclass.s a0, fa0
    CHECK a0, \res
.endm

TEST_START
    .option norvc
    csrwi fcsr, 0

    /* ---- sign injection ---- */
    TEST_FP2 fsgnj.s,  s, , P1, M2, M1, 0
    TEST_FP2 fsgnj.s,  s, , M1, P2, P1, 0
    TEST_FP2 fsgnjn.s, s, , P1, M2, P1, 0
    TEST_FP2 fsgnjn.s, s, , P1, P2, M1, 0
    TEST_FP2 fsgnjx.s, s, , M1, M2, P1, 0
    TEST_FP2 fsgnjx.s, s, , M1, P2, M1, 0
    TEST_FP2 fsgnjx.s, s, , P1, M2, M1, 0
    TEST_FP2 fsgnj.s,  s, , SNAN, M1, 0xff800001, 0      /* NaN kept as is, no NV */
    TEST_FP2 fsgnjn.s, s, , 0x7fc12345, P1, 0xffc12345, 0
    TEST_FP2 fsgnjx.s, s, , MINF, M1, PINF, 0
    TEST_FP2 fsgnj.s,  s, , MZ, P1, PZ, 0

    /* ---- min / max ---- */
    TEST_FP2 fmin.s, s, , P1, P2, P1, 0
    TEST_FP2 fmax.s, s, , P1, P2, P2, 0
    TEST_FP2 fmin.s, s, , M1, P1, M1, 0
    TEST_FP2 fmax.s, s, , M2, M1, M1, 0
    TEST_FP2 fmin.s, s, , MZ, PZ, MZ, 0                  /* -0 < +0 */
    TEST_FP2 fmin.s, s, , PZ, MZ, MZ, 0
    TEST_FP2 fmax.s, s, , MZ, PZ, PZ, 0
    TEST_FP2 fmax.s, s, , PZ, MZ, PZ, 0
    TEST_FP2 fmin.s, s, , QNAN, P1, P1, 0                /* one NaN: the other */
    TEST_FP2 fmax.s, s, , M1, QNAN, M1, 0
    TEST_FP2 fmin.s, s, , SNAN, P1, P1, FF_NV            /* sNaN: NV */
    TEST_FP2 fmax.s, s, , P2, SNAN, P2, FF_NV
    TEST_FP2 fmin.s, s, , QNAN, 0x7fc12345, QNAN, 0      /* both NaN: canonical */
    TEST_FP2 fmax.s, s, , SNAN, QNAN, QNAN, FF_NV
    TEST_FP2 fmax.s, s, , MQNAN, MQNAN, QNAN, 0
    TEST_FP2 fmin.s, s, , MINF, PMAX, MINF, 0
    TEST_FP2 fmax.s, s, , PSUB, PZ, PSUB, 0

    /* ---- compares ---- */
    TEST_FCMP feq.s, s, P1, P1, 1, 0
    TEST_FCMP feq.s, s, P1, P2, 0, 0
    TEST_FCMP flt.s, s, P1, P2, 1, 0
    TEST_FCMP flt.s, s, P2, P1, 0, 0
    TEST_FCMP flt.s, s, P1, P1, 0, 0
    TEST_FCMP fle.s, s, P1, P1, 1, 0
    TEST_FCMP fle.s, s, P2, P1, 0, 0
    TEST_FCMP flt.s, s, M2, M1, 1, 0
    TEST_FCMP feq.s, s, MZ, PZ, 1, 0                     /* -0 == +0 */
    TEST_FCMP flt.s, s, MZ, PZ, 0, 0
    TEST_FCMP fle.s, s, PZ, MZ, 1, 0
    TEST_FCMP feq.s, s, QNAN, QNAN, 0, 0                 /* feq: quiet */
    TEST_FCMP feq.s, s, SNAN, P1, 0, FF_NV
    TEST_FCMP flt.s, s, QNAN, P1, 0, FF_NV               /* flt/fle: signaling */
    TEST_FCMP fle.s, s, P1, QNAN, 0, FF_NV
    TEST_FCMP feq.s, s, PINF, PINF, 1, 0
    TEST_FCMP flt.s, s, MINF, 0xff7fffff, 1, 0
    TEST_FCMP fle.s, s, PSUB, PZ, 0, 0

    /* ---- classify ---- */
    TEST_CLASS MINF, 0x001
    TEST_CLASS M1,   0x002
    TEST_CLASS MSUB, 0x004
    TEST_CLASS MZ,   0x008
    TEST_CLASS PZ,   0x010
    TEST_CLASS PSUB, 0x020
    TEST_CLASS P1,   0x040
    TEST_CLASS PMAX, 0x040
    TEST_CLASS PINF, 0x080
    TEST_CLASS SNAN, 0x100
    TEST_CLASS 0xffbfffff, 0x100                         /* negative sNaN */
    TEST_CLASS QNAN, 0x200
    TEST_CLASS MQNAN, 0x200
    CHECK_FLAGS 0                                        /* fclass sets no flags */

    /* ---- moves ---- */
    li   a0, 0x12345678bf800000
    fmv.w.x fa0, a0                                      /* NaN-boxes the low word */
    CHECK_S fa0, M1
    fmv.x.w a1, fa0
    CHECK a1, 0xffffffffbf800000                         /* sign-extended */
    li   a0, 0x7f800001
    fmv.w.x fa0, a0
    fmv.x.w a1, fa0
    CHECK a1, 0x7f800001                                 /* sNaN bits unchanged */
    CHECK_FLAGS 0
    li   a0, 0x00000000ffc00000
    fmv.w.x fa0, a0
    fmv.x.w a1, fa0
    CHECK a1, 0xffffffffffc00000

    /* ---- loads / stores are bit-exact ---- */
    la   s0, fdata
    flw  fa0, 0(s0)                                      /* 0xff800001: negative sNaN */
    CHECK_S fa0, 0xff800001
    fsw  fa0, 8(s0)
    lwu  a1, 8(s0)
    CHECK a1, 0xff800001
    CHECK_FLAGS 0
    flw  fa0, 4(s0)
    CHECK_S fa0, 0x7fc12345

    /* ---- NaN boxing ---- */
    li   a0, 0x123456783f800000                          /* not boxed */
    fmv.d.x fa0, a0
    li   a0, 0xfffffffe3f800000                          /* almost boxed: still not */
    fmv.d.x fa4, a0
    LI_S fa1, P1
    LI_S fa5, M1
    fadd.s fa2, fa0, fa1
    CHECK_S fa2, QNAN
    CHECK_FLAGS 0                                        /* canonical qNaN: no NV */
    fadd.s fa2, fa1, fa4
    CHECK_S fa2, QNAN
    fmul.s fa2, fa1, fa0
    CHECK_S fa2, QNAN
    fmadd.s fa2, fa1, fa1, fa0
    CHECK_S fa2, QNAN
    fsqrt.s fa2, fa0
    CHECK_S fa2, QNAN
    CHECK_FLAGS 0
    fsgnj.s fa2, fa0, fa5                                /* canonical NaN, sign of rs2 */
    CHECK_S fa2, 0xffc00000
    fsgnjn.s fa2, fa1, fa0                               /* rs2 = +qNaN: sign -> 1 */
    CHECK_S fa2, M1
    fsgnjx.s fa2, fa5, fa0
    CHECK_S fa2, M1
    fmin.s fa2, fa0, fa5                                 /* NaN operand: the other */
    CHECK_S fa2, M1
    fmax.s fa2, fa4, fa0
    CHECK_S fa2, QNAN
    feq.s a1, fa0, fa1
    CHECK a1, 0
    CHECK_FLAGS 0
    flt.s a1, fa1, fa0
    CHECK a1, 0
    CHECK_FLAGS FF_NV
    fclass.s a1, fa0
    CHECK a1, 0x200
    fclass.s a1, fa4
    CHECK a1, 0x200
    fcvt.w.s a1, fa0
    CHECK a1, 0x7fffffff
    CHECK_FLAGS FF_NV
    fcvt.d.s fa2, fa0
    CHECK_D fa2, 0x7ff8000000000000
    CHECK_FLAGS 0
    /* transfers do not check boxing: fmv.x.w and fsw use the low 32 bits */
    fmv.x.w a1, fa0
    CHECK a1, 0x3f800000
    fsw  fa0, 12(s0)
    lwu  a1, 12(s0)
    CHECK a1, 0x3f800000
    /* a double value seen by a single instruction */
    LI_D fa0, 0x3ff0000000000000
    fadd.s fa2, fa0, fa0
    CHECK_S fa2, QNAN
    /* single results are always boxed, also for sign injection/min/moves */
    li   a0, -1
    fmv.d.x fa2, a0
    fsgnj.s fa2, fa1, fa1
    fmv.x.d a1, fa2
    CHECK a1, 0xffffffff3f800000
    fmv.d.x fa2, zero
    flw  fa2, 0(s0)
    fmv.x.d a1, fa2
    CHECK a1, 0xffffffffff800001
TEST_END

    .data
    .align 3
fdata:
    .word 0xff800001, 0x7fc12345, 0, 0
