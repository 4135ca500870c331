/* Internal to emulator/: decoded instructions, CSR numbers and the pieces
 * of the CPU that its files share. */
#ifndef REWIND_CPU_H
#define REWIND_CPU_H

#include "devices.h"
#include "fpu.h"

/* ---- decoded instructions ---- */

#define OP_LIST(X) \
    X(ILLEGAL) X(NOP) X(LUI) X(AUIPC) X(JAL) X(JALR) \
    X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) \
    X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) X(SB) X(SH) X(SW) X(SD) \
    X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) \
    X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND) \
    X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) \
    X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(SFENCE_VMA) \
    X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) \
    X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
    X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) \
    X(LR_W) X(SC_W) X(AMOSWAP_W) X(AMOADD_W) X(AMOXOR_W) X(AMOAND_W) X(AMOOR_W) \
    X(AMOMIN_W) X(AMOMAX_W) X(AMOMINU_W) X(AMOMAXU_W) \
    X(LR_D) X(SC_D) X(AMOSWAP_D) X(AMOADD_D) X(AMOXOR_D) X(AMOAND_D) X(AMOOR_D) \
    X(AMOMIN_D) X(AMOMAX_D) X(AMOMINU_D) X(AMOMAXU_D) \
    X(FLW) X(FSW) X(FLD) X(FSD) \
    X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S) \
    X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S) \
    X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) X(FMIN_S) X(FMAX_S) \
    X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S) X(FMV_X_W) \
    X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S) \
    X(FCVT_S_W) X(FCVT_S_WU) X(FCVT_S_L) X(FCVT_S_LU) X(FMV_W_X) \
    X(FMADD_D) X(FMSUB_D) X(FNMSUB_D) X(FNMADD_D) \
    X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D) \
    X(FSGNJ_D) X(FSGNJN_D) X(FSGNJX_D) X(FMIN_D) X(FMAX_D) \
    X(FCVT_S_D) X(FCVT_D_S) \
    X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D) X(FMV_X_D) \
    X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D) \
    X(FCVT_D_W) X(FCVT_D_WU) X(FCVT_D_L) X(FCVT_D_LU) X(FMV_D_X)

#define OP_ENUM(name) OP_##name,
enum { OP_LIST(OP_ENUM) OP_COUNT };
#undef OP_ENUM

/* Interpreter-internal pseudo-ops that never come out of the decoder. */
enum { OP_DECODE = OP_COUNT, OP_PAGE_END, OP_CROSS_PAGE, OP_BREAKPOINT, OP_ALL_COUNT };

typedef struct DecodedInsn {
    const void *handler;    /* the interpreter's label for op */
    int32_t imm;            /* immediate; CSR number for CSR ops */
    uint32_t raw;           /* instruction bits, for mtval on illegal */
    uint16_t op;
    /* Branches and jal whose target lies in the same page: the distance
     * to the target's entry, so a taken branch needs no lookup. 0 when the
     * target must be looked up (other page, or not yet known). */
    int16_t target;
    uint8_t rd;             /* integer destinations of x0 become 32 */
    uint8_t rs1, rs2, rs3;
    uint8_t rm;             /* FP rounding mode field; AMO aq/rl unused */
    uint8_t len;            /* 2 or 4 bytes */
    uint8_t step;           /* bytes from this entry to the next one's */
} DecodedInsn;

/* The entry step of an instruction of len bytes (one entry per 2 bytes). */
#define INSN_STEP(len) ((uint8_t)(((len) / 2) * sizeof(DecodedInsn)))

/* Decodes one instruction (16- or 32-bit: low bits tell). */
void decode_insn(uint32_t insn, DecodedInsn *d);
const char *op_name(unsigned op);

#define PAGE_INSNS (PAGE_SIZE / 2)
typedef struct JitPage JitPage;
struct DecodedPage {
    uint64_t paddr;
    uint8_t *host;
    JitPage *jit;       /* compiled blocks (jit.h), NULL when none */
    DecodedInsn insn[PAGE_INSNS + 2];   /* + page-end sentinels */
};

/* ---- CSRs ---- */
#define CSR_FFLAGS 0x001
#define CSR_FRM 0x002
#define CSR_FCSR 0x003
#define CSR_CYCLE 0xc00
#define CSR_TIME 0xc01
#define CSR_INSTRET 0xc02
#define CSR_SSTATUS 0x100
#define CSR_SIE 0x104
#define CSR_STVEC 0x105
#define CSR_SCOUNTEREN 0x106
#define CSR_SENVCFG 0x10a
#define CSR_SSCRATCH 0x140
#define CSR_SEPC 0x141
#define CSR_SCAUSE 0x142
#define CSR_STVAL 0x143
#define CSR_SIP 0x144
#define CSR_SATP 0x180
#define CSR_MSTATUS 0x300
#define CSR_MISA 0x301
#define CSR_MEDELEG 0x302
#define CSR_MIDELEG 0x303
#define CSR_MIE 0x304
#define CSR_MTVEC 0x305
#define CSR_MCOUNTEREN 0x306
#define CSR_MENVCFG 0x30a
#define CSR_MCOUNTINHIBIT 0x320
#define CSR_MSCRATCH 0x340
#define CSR_MEPC 0x341
#define CSR_MCAUSE 0x342
#define CSR_MTVAL 0x343
#define CSR_MIP 0x344
#define CSR_PMPCFG0 0x3a0
#define CSR_PMPADDR0 0x3b0
#define CSR_MCYCLE 0xb00
#define CSR_MINSTRET 0xb02
#define CSR_MVENDORID 0xf11
#define CSR_MARCHID 0xf12
#define CSR_MIMPID 0xf13
#define CSR_MHARTID 0xf14
#define CSR_MCONFIGPTR 0xf15

#define MSTATUS_SIE (1ull << 1)
#define MSTATUS_MIE (1ull << 3)
#define MSTATUS_SPIE (1ull << 5)
#define MSTATUS_UBE (1ull << 6)
#define MSTATUS_MPIE (1ull << 7)
#define MSTATUS_SPP (1ull << 8)
#define MSTATUS_VS (3ull << 9)
#define MSTATUS_MPP (3ull << 11)
#define MSTATUS_FS (3ull << 13)
#define MSTATUS_XS (3ull << 15)
#define MSTATUS_MPRV (1ull << 17)
#define MSTATUS_SUM (1ull << 18)
#define MSTATUS_MXR (1ull << 19)
#define MSTATUS_TVM (1ull << 20)
#define MSTATUS_TW (1ull << 21)
#define MSTATUS_TSR (1ull << 22)
#define MSTATUS_UXL (3ull << 32)
#define MSTATUS_SXL (3ull << 34)
#define MSTATUS_SD (1ull << 63)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* exception causes */
enum {
    EXC_INSN_MISALIGNED = 0, EXC_INSN_ACCESS = 1, EXC_ILLEGAL = 2,
    EXC_BREAKPOINT = 3, EXC_LOAD_MISALIGNED = 4, EXC_LOAD_ACCESS = 5,
    EXC_STORE_MISALIGNED = 6, EXC_STORE_ACCESS = 7, EXC_ECALL_U = 8,
    EXC_ECALL_S = 9, EXC_ECALL_M = 11, EXC_INSN_PAGE = 12,
    EXC_LOAD_PAGE = 13, EXC_STORE_PAGE = 15,
};

/* CSR access: returns false when the access must raise illegal
 * instruction. csr_write may set h->stop_slice (interrupt state changed). */
bool csr_read(Hart *h, unsigned csr, uint64_t *val);
bool csr_write(Hart *h, unsigned csr, uint64_t val);
void csr_reset(Hart *h);
/* Steps this hart has completed before the instruction being executed
 * (inside a slice) or in all (between slices). */
uint64_t hart_steps(const Hart *h);
uint64_t csr_read_mstatus(const Hart *h);

/* ---- traps (cpu_trap.c) ---- */
/* Enters the trap handler for an exception raised by the instruction at
 * h->pc. */
void hart_raise_exception(Hart *h, uint64_t cause, uint64_t tval);
/* Takes the highest-priority enabled pending interrupt, if any. */
bool hart_take_interrupt(Hart *h);
void hart_mret(Hart *h);
void hart_sret(Hart *h);
void hart_set_priv(Hart *h, int priv);

/* ---- memory (mmu.c) ---- */
enum { ACC_LOAD, ACC_STORE, ACC_FETCH };

/* Slow paths of loads and stores: translation, MMIO, misaligned accesses,
 * TLB fill. On failure they set h->exc_cause/h->exc_tval and return false. */
bool mmu_load_slow(Hart *h, uint64_t va, unsigned size, uint64_t *val);
bool mmu_store_slow(Hart *h, uint64_t va, unsigned size, uint64_t val);
/* Atomic memory operations need a translated host pointer (RAM only). */
uint8_t *mmu_amo_ptr(Hart *h, uint64_t va, unsigned size, bool is_lr);
/* Decoded page for the instruction at va (code TLB fill). */
DecodedPage *mmu_code_page(Hart *h, uint64_t va);
/* Reads instruction halfword/word at va through translation (cross-page). */
bool mmu_fetch16(Hart *h, uint64_t va, uint16_t *val);
/* Page-table walk; returns physical address or sets exc. no_update: skip
 * A/D updates and do not fault into the hart (debugger). */
bool mmu_translate(Hart *h, uint64_t va, int access, uint64_t *pa, bool debug);

extern const void **interp_handlers;   /* op -> label, set up by cpu_exec.c */

#endif
