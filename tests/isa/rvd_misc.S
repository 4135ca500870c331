/* RV64D non-arithmetic instructions: sign injection, fmin/fmax, compares,
   fclass (all ten classes), fmv.x.d / fmv.d.x and fld/fsd (bit-exact, no
   canonicalization), and the interplay with single values (fcvt between
   formats is in rvd_convert). */
#include "test.h"

#define P1   0x3ff0000000000000
#define P2   0x4000000000000000
#define M1   0xbff0000000000000
#define M2   0xc000000000000000
#define PZ   0x0000000000000000
#define MZ   0x8000000000000000
#define PINF 0x7ff0000000000000
#define MINF 0xfff0000000000000
#define QNAN 0x7ff8000000000000
#define SNAN 0x7ff0000000000001
#define MQNAN 0xfff8000000000000
#define PSUB 0x0000000000000001
#define MSUB 0x800fffffffffffff
#define PMAX 0x7fefffffffffffff

.macro TEST_CLASS val, res
    LI_D fa0, \val
    fclass.d a0, fa0
    CHECK a0, \res
.endm

TEST_START
    .option norvc
    csrwi fcsr, 0

    /* ---- sign injection ---- */
    TEST_FP2 fsgnj.d,  d, , P1, M2, M1, 0
    TEST_FP2 fsgnj.d,  d, , M1, P2, P1, 0
    TEST_FP2 fsgnjn.d, d, , P1, M2, P1, 0
    TEST_FP2 fsgnjn.d, d, , P1, P2, M1, 0
    TEST_FP2 fsgnjx.d, d, , M1, M2, P1, 0
    TEST_FP2 fsgnjx.d, d, , M1, P2, M1, 0
    TEST_FP2 fsgnj.d,  d, , SNAN, M1, 0xfff0000000000001, 0
    TEST_FP2 fsgnjn.d, d, , 0x7ff8000000012345, P1, 0xfff8000000012345, 0
    TEST_FP2 fsgnjx.d, d, , MINF, M1, PINF, 0
    /* fneg / fabs pseudo-instructions */
    LI_D fa0, M2
    fneg.d fa2, fa0
    CHECK_D fa2, P2
    fabs.d fa2, fa0
    CHECK_D fa2, P2

    /* ---- min / max ---- */
    TEST_FP2 fmin.d, d, , P1, P2, P1, 0
    TEST_FP2 fmax.d, d, , P1, P2, P2, 0
    TEST_FP2 fmin.d, d, , M1, P1, M1, 0
    TEST_FP2 fmin.d, d, , MZ, PZ, MZ, 0
    TEST_FP2 fmin.d, d, , PZ, MZ, MZ, 0
    TEST_FP2 fmax.d, d, , MZ, PZ, PZ, 0
    TEST_FP2 fmax.d, d, , PZ, MZ, PZ, 0
    TEST_FP2 fmin.d, d, , QNAN, P1, P1, 0
    TEST_FP2 fmax.d, d, , M1, QNAN, M1, 0
    TEST_FP2 fmin.d, d, , SNAN, P1, P1, FF_NV
    TEST_FP2 fmax.d, d, , P2, SNAN, P2, FF_NV
    TEST_FP2 fmin.d, d, , QNAN, 0x7ff8000000012345, QNAN, 0
    TEST_FP2 fmax.d, d, , SNAN, SNAN, QNAN, FF_NV
    TEST_FP2 fmax.d, d, , MINF, PMAX, PMAX, 0
    TEST_FP2 fmin.d, d, , PSUB, MSUB, MSUB, 0

    /* ---- compares ---- */
    TEST_FCMP feq.d, d, P1, P1, 1, 0
    TEST_FCMP feq.d, d, P1, P2, 0, 0
    TEST_FCMP flt.d, d, P1, P2, 1, 0
    TEST_FCMP flt.d, d, P2, P1, 0, 0
    TEST_FCMP fle.d, d, P1, P1, 1, 0
    TEST_FCMP fle.d, d, P2, P1, 0, 0
    TEST_FCMP feq.d, d, MZ, PZ, 1, 0
    TEST_FCMP flt.d, d, MZ, PZ, 0, 0
    TEST_FCMP fle.d, d, MZ, PZ, 1, 0
    TEST_FCMP feq.d, d, QNAN, P1, 0, 0
    TEST_FCMP feq.d, d, P1, SNAN, 0, FF_NV
    TEST_FCMP flt.d, d, QNAN, QNAN, 0, FF_NV
    TEST_FCMP fle.d, d, QNAN, P1, 0, FF_NV
    TEST_FCMP flt.d, d, MINF, PINF, 1, 0
    TEST_FCMP flt.d, d, MSUB, PSUB, 1, 0
    TEST_FCMP fle.d, d, 0x3ff0000000000001, P1, 0, 0

    /* ---- classify ---- */
    TEST_CLASS MINF, 0x001
    TEST_CLASS M1,   0x002
    TEST_CLASS MSUB, 0x004
    TEST_CLASS MZ,   0x008
    TEST_CLASS PZ,   0x010
    TEST_CLASS PSUB, 0x020
    TEST_CLASS P1,   0x040
    TEST_CLASS 0x0010000000000000, 0x040                 /* min normal */
    TEST_CLASS PINF, 0x080
    TEST_CLASS SNAN, 0x100
    TEST_CLASS 0x7ff7ffffffffffff, 0x100
    TEST_CLASS QNAN, 0x200
    TEST_CLASS MQNAN, 0x200
    /* a boxed single is a quiet NaN for the double instruction */
    TEST_CLASS 0xffffffff3f800000, 0x200
    CHECK_FLAGS 0

    /* ---- moves and loads/stores are bit-exact ---- */
    li   a0, 0x7ff0000000000001
    fmv.d.x fa0, a0
    fmv.x.d a1, fa0
    CHECK a1, 0x7ff0000000000001
    li   a0, 0x123456789abcdef0
    fmv.d.x fa0, a0
    fmv.x.d a1, fa0
    CHECK a1, 0x123456789abcdef0
    la   s0, ddata
    fld  fa0, 0(s0)
    CHECK_D fa0, 0xfff0000000000123
    fsd  fa0, 16(s0)
    ld   a1, 16(s0)
    CHECK a1, 0xfff0000000000123
    fld  fa1, 8(s0)
    fsd  fa1, 24(s0)
    ld   a1, 24(s0)
    CHECK a1, 0x00000000deadbeef
    CHECK_FLAGS 0
    /* fld of a single's boxed image then a single op: properly boxed */
    li   a0, 0xffffffff40400000
    sd   a0, 16(s0)
    fld  fa0, 16(s0)
    fadd.s fa2, fa0, fa0
    CHECK_S fa2, 0x40c00000                              /* 3 + 3 */
    /* fsd of a single result stores the boxed 64 bits */
    fsd  fa2, 24(s0)
    ld   a1, 24(s0)
    CHECK a1, 0xffffffff40c00000
    /* fmv.x.d of a single: the whole box */
    fmv.x.d a1, fa2
    CHECK a1, 0xffffffff40c00000
TEST_END

    .data
    .align 3
ddata:
    .dword 0xfff0000000000123, 0x00000000deadbeef, 0, 0
