/* mstatus.FS: with FS = Off every F/D instruction (arithmetic, moves,
   loads/stores, compressed FP loads/stores) and every access to fflags,
   frm, fcsr raises illegal instruction (mtval = instruction bits) and
   changes nothing; with FS != Off, writing FP state sets FS = Dirty and
   mstatus.SD. */
#include "test.h"

.macro ILLEGAL16 insn:vararg
    EXPECT_TRAP
.Li16\@:
    \insn
    CHECK_CAUSE CAUSE_ILLEGAL
    NEXT_CASE
    la   t6, .Li16\@
    lhu  t6, 0(t6)
    la   t5, trap_record
    ld   t5, TR_TVAL(t5)
    beq  t5, t6, .Lok16\@
    j    fail
.Lok16\@:
    CHECK_EPC .Li16\@
.endm

.macro SET_FS val
    li   t1, MSTATUS_FS
    csrc mstatus, t1
    li   t1, (\val) << 13
    csrs mstatus, t1
.endm

.macro CHECK_FS val
    csrr t1, mstatus
    srli t1, t1, 13
    andi t1, t1, 3
    CHECK t1, \val
.endm

TEST_START
    .option norvc
    la   s0, fpbuf
    LI_D fa0, 0x3ff0000000000000
    LI_D fa1, 0x4000000000000000
    LI_S fs0, 0x40400000
    li   a0, 0x21                       /* frm = 1, fflags = NX */
    csrw fcsr, a0

    SET_FS 0
    CHECK_FS 0
    ILLEGAL fadd.s fa2, fa0, fa1
    ILLEGAL fadd.d fa2, fa0, fa1
    ILLEGAL fdiv.d fa2, fa0, fa1
    ILLEGAL fsqrt.s fa2, fa0
    ILLEGAL fmadd.d fa2, fa0, fa1, fa0
    ILLEGAL fsgnj.d fa2, fa0, fa1
    ILLEGAL fmin.s fa2, fa0, fa1
    ILLEGAL feq.d a0, fa0, fa1
    ILLEGAL fclass.s a0, fa0
    ILLEGAL fcvt.w.d a0, fa0
    ILLEGAL fcvt.d.l fa2, a0
    ILLEGAL fcvt.s.d fa2, fa0
    ILLEGAL fmv.x.w a0, fa0
    ILLEGAL fmv.x.d a0, fa0
    ILLEGAL fmv.w.x fa0, zero
    ILLEGAL fmv.d.x fa0, zero
    ILLEGAL flw fa0, 0(s0)
    ILLEGAL fld fa0, 0(s0)
    ILLEGAL fsw fa0, 0(s0)
    ILLEGAL fsd fa0, 0(s0)
    ILLEGAL csrr a0, fcsr
    ILLEGAL csrr a0, fflags
    ILLEGAL csrr a0, frm
    ILLEGAL csrw fcsr, zero
    ILLEGAL csrwi frm, 0
    ILLEGAL csrci fflags, 1
    .option push
    .option rvc
    mv   sp, s0
    ILLEGAL16 c.fld fa0, 0(s0)
    ILLEGAL16 c.fsd fa0, 8(s0)
    ILLEGAL16 c.fldsp fa0, 0(sp)
    ILLEGAL16 c.fsdsp fa0, 8(sp)
    .option pop
    la   sp, test_stack_top
    /* still Off; nothing was changed */
    CHECK_FS 0
    ld   a1, 0(s0)
    CHECK a1, 0x1122334455667788

    SET_FS 1                            /* Initial */
    csrr a1, fcsr
    CHECK a1, 0x21                      /* fcsr untouched */
    fmv.x.d a1, fa0
    CHECK a1, 0x3ff0000000000000        /* registers untouched */
    fmv.x.d a1, fs0
    CHECK a1, 0xffffffff40400000
    csrr t1, mstatus
    bltz t1, 1f                         /* SD clear while nothing is dirty */
    li   t1, 0
1:  CHECK t1, 0

    /* writing an FP register makes FS Dirty and sets SD */
    SET_FS 1
    fadd.d fa2, fa0, fa1
    CHECK_FS 3
    csrr t1, mstatus
    srli t1, t1, 63
    CHECK t1, 1
    SET_FS 2                            /* Clean */
    fld  fa3, 0(s0)
    CHECK_FS 3
    SET_FS 1
    fmv.w.x fa3, zero
    CHECK_FS 3
    /* writing fcsr makes FS Dirty */
    SET_FS 2
    csrwi fflags, 0
    CHECK_FS 3
    SET_FS 1
    csrwi frm, 0
    CHECK_FS 3
    /* sstatus shows the same FS and SD */
    csrr t1, sstatus
    srli t2, t1, 63
    CHECK t2, 1
    srli t1, t1, 13
    andi t1, t1, 3
    CHECK t1, 3

    /* FS off in S and U mode as well */
    SET_FS 0
    ENTER_MODE MODE_S
    ILLEGAL fadd.d fa2, fa0, fa1
    ILLEGAL csrr a0, fflags
    EXIT_TO_M
    ENTER_MODE MODE_U
    ILLEGAL fmv.x.d a0, fa0
    ILLEGAL csrr a0, frm
    EXIT_TO_M
    SET_FS 1
    ENTER_MODE MODE_U
    NO_TRAP fadd.d fa2, fa0, fa1
    NO_TRAP csrr a0, fcsr
    EXIT_TO_M
    CHECK_D fa2, 0x4008000000000000
TEST_END

    .data
    .align 4
fpbuf:
    .dword 0x1122334455667788, 0x99aabbccddeeff00
