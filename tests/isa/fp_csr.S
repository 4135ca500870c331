/* FP control and status: fcsr = frm << 5 | fflags and its views, sticky
   flags; reserved rounding modes: static rm 5/6 and dyn with frm 5..7 raise
   illegal instruction (mtval = instruction bits), while instructions
   without a rounding mode and static rm keep working. */
#include "test.h"
TEST_START
    .option norvc
    csrwi fcsr, 0

    /* ---- fcsr = frm << 5 | fflags; fields are views of it ---- */
    li   a0, 0xe5
    csrw fcsr, a0
    csrr a1, frm
    CHECK a1, 7
    csrr a1, fflags
    CHECK a1, 5
    csrwi fflags, 0x1f
    csrr a1, fcsr
    CHECK a1, 0xff
    li   a0, 0x1ff               /* bits above 7 are not fcsr fields */
    csrw fflags, a0
    csrr a1, fflags
    CHECK a1, 0x1f
    csrwi frm, 2
    csrr a1, fcsr
    CHECK a1, 0x5f
    csrrwi a1, fflags, 0         /* swap returns the old flags */
    CHECK a1, 0x1f
    csrr a1, fcsr
    CHECK a1, 0x40
    /* flags accumulate (sticky) until cleared */
    csrwi fcsr, 0
    LI_S fa0, 0x3f800000
    LI_S fa1, 0x00000000
    fdiv.s fa2, fa0, fa1         /* DZ */
    LI_S fa1, 0x40400000
    fdiv.s fa2, fa0, fa1         /* NX */
    fsqrt.s fa2, fa2             /* NX again */
    csrr a1, fflags
    CHECK a1, FF_DZ | FF_NX
    csrwi fcsr, 0

#define FRM_FADD_S(rm)   (0x00000053 | (12 << 7) | ((rm) << 12) | (10 << 15) | (11 << 20))
#define FRM_FADD_D(rm)   (FRM_FADD_S(rm) | (1 << 25))
#define FRM_FSQRT_S(rm)  (0x58000053 | (12 << 7) | ((rm) << 12) | (10 << 15))
#define FRM_FMADD_D(rm)  (0x02000043 | (12 << 7) | ((rm) << 12) | (10 << 15) | (11 << 20) | (13 << 27))
#define FRM_FCVT_W_S(rm) (0xc0000053 | (10 << 7) | ((rm) << 12) | (10 << 15))
#define FRM_FCVT_D_S(rm) (0x42000053 | (12 << 7) | ((rm) << 12) | (10 << 15))
#define FRM_FCVT_D_W(rm) (0xd2000053 | (12 << 7) | ((rm) << 12) | (10 << 15))

    LI_D fa0, 0x3ff0000000000000
    LI_D fa1, 0x3ff0000000000000
    LI_D fa3, 0x3ff0000000000000
    /* the encodings above are right: with valid rm they execute */
    .word FRM_FADD_D(0)
    CHECK_D fa2, 0x4000000000000000
    .word FRM_FMADD_D(1)
    CHECK_D fa2, 0x4000000000000000
    .word FRM_FCVT_W_S(0)        /* fa0 is not a boxed single: canonical NaN -> max */
    CHECK a0, 0x7fffffff
    CHECK_FLAGS FF_NV

    /* ---- static rm 5 and 6 are reserved: illegal instruction ---- */
    ILLEGAL .word FRM_FADD_S(5)
    ILLEGAL .word FRM_FADD_S(6)
    ILLEGAL .word FRM_FADD_D(5)
    ILLEGAL .word FRM_FSQRT_S(6)
    ILLEGAL .word FRM_FMADD_D(5)
    ILLEGAL .word FRM_FCVT_W_S(5)
    ILLEGAL .word FRM_FCVT_D_S(6)

    /* ---- dyn with an invalid frm (5, 6, 7): illegal instruction ---- */
    csrwi frm, 5
    ILLEGAL fadd.s fa2, fa0, fa1, dyn
    ILLEGAL .word FRM_FCVT_D_S(7)    /* even though the conversion is exact */
    ILLEGAL .word FRM_FCVT_D_W(7)
    csrwi frm, 6
    ILLEGAL fmul.d fa2, fa0, fa1, dyn
    ILLEGAL fsqrt.d fa2, fa0, dyn
    csrwi frm, 7
    ILLEGAL fdiv.s fa2, fa0, fa1, dyn
    ILLEGAL fmadd.s fa2, fa0, fa1, fa3, dyn
    ILLEGAL fcvt.l.d a0, fa0, dyn
    ILLEGAL fcvt.s.l fa2, a0, dyn
    /* static rm still works while frm is invalid */
    NO_TRAP fadd.d fa2, fa0, fa1, rne
    CHECK_D fa2, 0x4000000000000000
    /* instructions without rounding are unaffected by an invalid frm */
    NO_TRAP fsgnj.d fa2, fa0, fa1
    NO_TRAP fmin.d fa2, fa0, fa1
    NO_TRAP feq.d a0, fa0, fa1
    NO_TRAP fclass.d a0, fa0
    NO_TRAP fmv.x.d a0, fa0
    NO_TRAP fmv.d.x fa2, a0
    NO_TRAP fsd fa0, -8(sp)
    NO_TRAP fld fa2, -8(sp)
    /* the trapping instructions did not set flags nor change frm */
    csrr a1, fcsr
    CHECK a1, 0xe0
    csrwi fcsr, 0
TEST_END
