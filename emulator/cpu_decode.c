/* Instruction decoder: RV64GC bits -> DecodedInsn. Compressed instructions
 * expand to the operation of their 32-bit equivalent with len = 2, so the
 * interpreter has one handler per operation. */
#include "cpu.h"

#include <string.h>

#define OP_NAME(name) #name,
static const char *const op_names[OP_COUNT] = { OP_LIST(OP_NAME) };
#undef OP_NAME

const char *op_name(unsigned op)
{
    return op < OP_COUNT ? op_names[op] : "?";
}

static inline uint32_t bits(uint32_t v, int hi, int lo)
{
    return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static inline int32_t sext(uint32_t v, int width)
{
    return (int32_t)(v << (32 - width)) >> (32 - width);
}

/* Integer destinations: writes to x0 go to the sink register 32 so that
 * handlers need no rd == 0 test. */
static inline uint8_t int_rd(uint32_t r)
{
    return r ? (uint8_t)r : 32;
}

static void set(DecodedInsn *d, unsigned op, uint32_t rd, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    d->op = (uint16_t)op;
    d->rd = (uint8_t)rd;
    d->rs1 = (uint8_t)rs1;
    d->rs2 = (uint8_t)rs2;
    d->imm = imm;
}

static void illegal(DecodedInsn *d)
{
    d->op = OP_ILLEGAL;
    d->rd = 32;
    d->rs1 = d->rs2 = d->rs3 = 0;
    d->imm = 0;
}

static bool valid_rm(uint32_t rm)
{
    return rm != 5 && rm != 6;
}

static void decode_op_fp(uint32_t insn, DecodedInsn *d)
{
    uint32_t rd = bits(insn, 11, 7), rs1 = bits(insn, 19, 15), rs2 = bits(insn, 24, 20);
    uint32_t f3 = bits(insn, 14, 12), f7 = bits(insn, 31, 25);
    unsigned op = OP_ILLEGAL;
    bool uses_rm = true, int_dest = false;
    bool dbl = f7 & 1;

    switch (f7 & ~1u) {
    case 0x00: op = dbl ? OP_FADD_D : OP_FADD_S; break;
    case 0x04: op = dbl ? OP_FSUB_D : OP_FSUB_S; break;
    case 0x08: op = dbl ? OP_FMUL_D : OP_FMUL_S; break;
    case 0x0c: op = dbl ? OP_FDIV_D : OP_FDIV_S; break;
    case 0x2c:
        if (rs2 == 0)
            op = dbl ? OP_FSQRT_D : OP_FSQRT_S;
        break;
    case 0x10:
        uses_rm = false;
        if (f3 <= 2)
            op = (dbl ? OP_FSGNJ_D : OP_FSGNJ_S) + f3;
        break;
    case 0x14:
        uses_rm = false;
        if (f3 <= 1)
            op = (dbl ? OP_FMIN_D : OP_FMIN_S) + f3;
        break;
    case 0x20: /* fcvt.s.d (f7 0x20, rs2 1) / fcvt.d.s (f7 0x21, rs2 0) */
        if (!dbl && rs2 == 1)
            op = OP_FCVT_S_D;
        else if (dbl && rs2 == 0)
            op = OP_FCVT_D_S;
        break;
    case 0x50:
        uses_rm = false;
        int_dest = true;
        if (f3 == 0)
            op = dbl ? OP_FLE_D : OP_FLE_S;
        else if (f3 == 1)
            op = dbl ? OP_FLT_D : OP_FLT_S;
        else if (f3 == 2)
            op = dbl ? OP_FEQ_D : OP_FEQ_S;
        break;
    case 0x60:
        int_dest = true;
        if (rs2 <= 3)
            op = (dbl ? OP_FCVT_W_D : OP_FCVT_W_S) + rs2;
        break;
    case 0x68:
        if (rs2 <= 3)
            op = (dbl ? OP_FCVT_D_W : OP_FCVT_S_W) + rs2;
        break;
    case 0x70:
        uses_rm = false;
        int_dest = true;
        if (rs2 == 0 && f3 == 0)
            op = dbl ? OP_FMV_X_D : OP_FMV_X_W;
        else if (rs2 == 0 && f3 == 1)
            op = dbl ? OP_FCLASS_D : OP_FCLASS_S;
        break;
    case 0x78:
        uses_rm = false;
        if (rs2 == 0 && f3 == 0)
            op = dbl ? OP_FMV_D_X : OP_FMV_W_X;
        break;
    }
    if (op == OP_ILLEGAL || (uses_rm && !valid_rm(f3))) {
        illegal(d);
        return;
    }
    set(d, op, int_dest ? int_rd(rd) : rd, rs1, rs2, 0);
    d->rm = (uint8_t)f3;
}

static void decode32(uint32_t insn, DecodedInsn *d)
{
    uint32_t opcode = insn & 0x7f;
    uint32_t rd = bits(insn, 11, 7), rs1 = bits(insn, 19, 15), rs2 = bits(insn, 24, 20);
    uint32_t f3 = bits(insn, 14, 12), f7 = bits(insn, 31, 25);
    int32_t imm_i = (int32_t)insn >> 20;
    int32_t imm_s = sext(bits(insn, 31, 25) << 5 | bits(insn, 11, 7), 12);
    static const uint16_t branch_ops[8] = {
        OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU,
    };
    static const uint16_t load_ops[8] = {
        OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL,
    };
    static const uint16_t store_ops[8] = {
        OP_SB, OP_SH, OP_SW, OP_SD, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL,
    };
    static const uint16_t alu_ops[8] = {
        OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND,
    };
    static const uint16_t alui_ops[8] = {
        OP_ADDI, OP_SLLI, OP_SLTI, OP_SLTIU, OP_XORI, OP_SRLI, OP_ORI, OP_ANDI,
    };
    static const uint16_t mul_ops[8] = {
        OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU,
    };
    static const uint16_t mulw_ops[8] = {
        OP_MULW, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW,
    };

    switch (opcode) {
    case 0x37:
        set(d, OP_LUI, int_rd(rd), 0, 0, (int32_t)(insn & 0xfffff000));
        return;
    case 0x17:
        set(d, OP_AUIPC, int_rd(rd), 0, 0, (int32_t)(insn & 0xfffff000));
        return;
    case 0x6f: {
        uint32_t imm = bits(insn, 31, 31) << 20 | bits(insn, 19, 12) << 12 |
                       bits(insn, 20, 20) << 11 | bits(insn, 30, 21) << 1;
        set(d, OP_JAL, int_rd(rd), 0, 0, sext(imm, 21));
        return;
    }
    case 0x67:
        if (f3 != 0)
            break;
        set(d, OP_JALR, int_rd(rd), rs1, 0, imm_i);
        return;
    case 0x63: {
        uint32_t imm = bits(insn, 31, 31) << 12 | bits(insn, 7, 7) << 11 |
                       bits(insn, 30, 25) << 5 | bits(insn, 11, 8) << 1;
        if (branch_ops[f3] == OP_ILLEGAL)
            break;
        set(d, branch_ops[f3], 32, rs1, rs2, sext(imm, 13));
        return;
    }
    case 0x03:
        if (load_ops[f3] == OP_ILLEGAL)
            break;
        set(d, load_ops[f3], int_rd(rd), rs1, 0, imm_i);
        return;
    case 0x23:
        if (store_ops[f3] == OP_ILLEGAL)
            break;
        set(d, store_ops[f3], 32, rs1, rs2, imm_s);
        return;
    case 0x13:
        if (f3 == 1) {
            if (bits(insn, 31, 26) != 0)
                break;
            set(d, OP_SLLI, int_rd(rd), rs1, 0, (int32_t)bits(insn, 25, 20));
            return;
        }
        if (f3 == 5) {
            uint32_t f6 = bits(insn, 31, 26);
            if (f6 != 0 && f6 != 0x10)
                break;
            set(d, f6 ? OP_SRAI : OP_SRLI, int_rd(rd), rs1, 0, (int32_t)bits(insn, 25, 20));
            return;
        }
        set(d, alui_ops[f3], int_rd(rd), rs1, 0, imm_i);
        return;
    case 0x1b:
        if (f3 == 0) {
            set(d, OP_ADDIW, int_rd(rd), rs1, 0, imm_i);
            return;
        }
        if (f3 == 1 && f7 == 0) {
            set(d, OP_SLLIW, int_rd(rd), rs1, 0, (int32_t)rs2);
            return;
        }
        if (f3 == 5 && (f7 == 0 || f7 == 0x20)) {
            set(d, f7 ? OP_SRAIW : OP_SRLIW, int_rd(rd), rs1, 0, (int32_t)rs2);
            return;
        }
        break;
    case 0x33:
        if (f7 == 0) {
            set(d, alu_ops[f3], int_rd(rd), rs1, rs2, 0);
            return;
        }
        if (f7 == 0x20 && (f3 == 0 || f3 == 5)) {
            set(d, f3 ? OP_SRA : OP_SUB, int_rd(rd), rs1, rs2, 0);
            return;
        }
        if (f7 == 1) {
            set(d, mul_ops[f3], int_rd(rd), rs1, rs2, 0);
            return;
        }
        break;
    case 0x3b:
        if (f7 == 0 && (f3 == 0 || f3 == 1 || f3 == 5)) {
            set(d, f3 == 0 ? OP_ADDW : f3 == 1 ? OP_SLLW : OP_SRLW, int_rd(rd), rs1, rs2, 0);
            return;
        }
        if (f7 == 0x20 && (f3 == 0 || f3 == 5)) {
            set(d, f3 ? OP_SRAW : OP_SUBW, int_rd(rd), rs1, rs2, 0);
            return;
        }
        if (f7 == 1 && mulw_ops[f3] != OP_ILLEGAL) {
            set(d, mulw_ops[f3], int_rd(rd), rs1, rs2, 0);
            return;
        }
        break;
    case 0x0f:
        if (f3 == 0) {
            set(d, OP_FENCE, 32, 0, 0, 0);
            return;
        }
        if (f3 == 1) {
            set(d, OP_FENCE_I, 32, 0, 0, 0);
            return;
        }
        break;
    case 0x73:
        if (f3 == 0) {
            if (rd != 0)
                break;
            if (insn == 0x00000073) {
                set(d, OP_ECALL, 32, 0, 0, 0);
                return;
            }
            if (insn == 0x00100073) {
                set(d, OP_EBREAK, 32, 0, 0, 0);
                return;
            }
            if (insn == 0x30200073) {
                set(d, OP_MRET, 32, 0, 0, 0);
                return;
            }
            if (insn == 0x10200073) {
                set(d, OP_SRET, 32, 0, 0, 0);
                return;
            }
            if (insn == 0x10500073) {
                set(d, OP_WFI, 32, 0, 0, 0);
                return;
            }
            if (f7 == 0x09) {
                set(d, OP_SFENCE_VMA, 32, rs1, rs2, 0);
                return;
            }
            break;
        }
        if (f3 == 4)
            break;
        /* rs1 holds the 5-bit immediate for the I forms */
        set(d, OP_CSRRW + (f3 & 3) - 1 + ((f3 & 4) ? 3 : 0), int_rd(rd), rs1, 0,
            (int32_t)bits(insn, 31, 20));
        return;
    case 0x2f: {
        uint32_t f5 = bits(insn, 31, 27);
        unsigned base;
        if (f3 == 2)
            base = OP_LR_W;
        else if (f3 == 3)
            base = OP_LR_D;
        else
            break;
        static const int8_t amo_index[32] = {
            [0x02] = 0, [0x03] = 1, [0x01] = 2, [0x00] = 3, [0x04] = 4, [0x0c] = 5,
            [0x08] = 6, [0x10] = 7, [0x14] = 8, [0x18] = 9, [0x1c] = 10,
            [0x05] = -1, [0x06] = -1, [0x07] = -1, [0x09] = -1, [0x0a] = -1, [0x0b] = -1,
            [0x0d] = -1, [0x0e] = -1, [0x0f] = -1, [0x11] = -1, [0x12] = -1, [0x13] = -1,
            [0x15] = -1, [0x16] = -1, [0x17] = -1, [0x19] = -1, [0x1a] = -1, [0x1b] = -1,
            [0x1d] = -1, [0x1e] = -1, [0x1f] = -1,
        };
        if (amo_index[f5] < 0 || (f5 == 0x02 && rs2 != 0))
            break;
        set(d, base + (unsigned)amo_index[f5], int_rd(rd), rs1, rs2, 0);
        return;
    }
    case 0x07:
        if (f3 == 2 || f3 == 3) {
            set(d, f3 == 2 ? OP_FLW : OP_FLD, rd, rs1, 0, imm_i);
            return;
        }
        break;
    case 0x27:
        if (f3 == 2 || f3 == 3) {
            set(d, f3 == 2 ? OP_FSW : OP_FSD, 32, rs1, rs2, imm_s);
            return;
        }
        break;
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
        uint32_t fmt = bits(insn, 26, 25);
        if (fmt > 1 || !valid_rm(f3))
            break;
        unsigned op = (fmt ? OP_FMADD_D : OP_FMADD_S) + ((opcode - 0x43) >> 2);
        set(d, op, rd, rs1, rs2, 0);
        d->rs3 = (uint8_t)bits(insn, 31, 27);
        d->rm = (uint8_t)f3;
        return;
    }
    case 0x53:
        decode_op_fp(insn, d);
        return;
    }
    illegal(d);
}

static void decode16(uint32_t insn, DecodedInsn *d)
{
    uint32_t q = insn & 3, f3 = bits(insn, 15, 13);
    uint32_t rd = bits(insn, 11, 7), rs2 = bits(insn, 6, 2);
    uint32_t rdp = bits(insn, 4, 2) + 8, rs1p = bits(insn, 9, 7) + 8;
    int32_t imm6 = sext(bits(insn, 12, 12) << 5 | bits(insn, 6, 2), 6);

    if (q == 0) {
        switch (f3) {
        case 0: { /* c.addi4spn */
            uint32_t imm = bits(insn, 12, 11) << 4 | bits(insn, 10, 7) << 6 |
                           bits(insn, 6, 6) << 2 | bits(insn, 5, 5) << 3;
            if (imm == 0)
                break;
            set(d, OP_ADDI, rdp, 2, 0, (int32_t)imm);
            return;
        }
        case 1: case 3: case 5: case 7: { /* c.fld c.ld c.fsd c.sd */
            int32_t imm = (int32_t)(bits(insn, 12, 10) << 3 | bits(insn, 6, 5) << 6);
            static const uint16_t ops[8] = {
                [1] = OP_FLD, [3] = OP_LD, [5] = OP_FSD, [7] = OP_SD,
            };
            if (f3 < 4)
                set(d, ops[f3], rdp, rs1p, 0, imm);
            else
                set(d, ops[f3], 32, rs1p, rdp, imm);
            return;
        }
        case 2: case 6: { /* c.lw c.sw */
            int32_t imm = (int32_t)(bits(insn, 12, 10) << 3 | bits(insn, 6, 6) << 2 |
                                    bits(insn, 5, 5) << 6);
            if (f3 == 2)
                set(d, OP_LW, rdp, rs1p, 0, imm);
            else
                set(d, OP_SW, 32, rs1p, rdp, imm);
            return;
        }
        }
        illegal(d);
        return;
    }
    if (q == 1) {
        switch (f3) {
        case 0: /* c.addi, c.nop */
            if (rd == 0)
                set(d, OP_NOP, 32, 0, 0, 0);
            else
                set(d, OP_ADDI, rd, rd, 0, imm6);
            return;
        case 1: /* c.addiw */
            if (rd == 0)
                break;
            set(d, OP_ADDIW, rd, rd, 0, imm6);
            return;
        case 2: /* c.li */
            set(d, OP_ADDI, int_rd(rd), 0, 0, imm6);
            return;
        case 3:
            if (rd == 2) { /* c.addi16sp */
                uint32_t imm = bits(insn, 12, 12) << 9 | bits(insn, 6, 6) << 4 |
                               bits(insn, 5, 5) << 6 | bits(insn, 4, 3) << 7 |
                               bits(insn, 2, 2) << 5;
                if (imm == 0)
                    break;
                set(d, OP_ADDI, 2, 2, 0, sext(imm, 10));
                return;
            }
            if (imm6 == 0) /* c.lui with nzimm = 0 is reserved */
                break;
            set(d, OP_LUI, int_rd(rd), 0, 0, imm6 * 4096);
            return;
        case 4: {
            uint32_t f2 = bits(insn, 11, 10);
            uint32_t shamt = bits(insn, 12, 12) << 5 | bits(insn, 6, 2);
            if (f2 == 0) {
                set(d, OP_SRLI, rs1p, rs1p, 0, (int32_t)shamt);
                return;
            }
            if (f2 == 1) {
                set(d, OP_SRAI, rs1p, rs1p, 0, (int32_t)shamt);
                return;
            }
            if (f2 == 2) {
                set(d, OP_ANDI, rs1p, rs1p, 0, imm6);
                return;
            }
            static const uint16_t ops[8] = {
                OP_SUB, OP_XOR, OP_OR, OP_AND, OP_SUBW, OP_ADDW, OP_ILLEGAL, OP_ILLEGAL,
            };
            unsigned op = ops[bits(insn, 12, 12) << 2 | bits(insn, 6, 5)];
            if (op == OP_ILLEGAL)
                break;
            set(d, op, rs1p, rs1p, rdp, 0);
            return;
        }
        case 5: { /* c.j */
            uint32_t imm = bits(insn, 12, 12) << 11 | bits(insn, 11, 11) << 4 |
                           bits(insn, 10, 9) << 8 | bits(insn, 8, 8) << 10 |
                           bits(insn, 7, 7) << 6 | bits(insn, 6, 6) << 7 |
                           bits(insn, 5, 3) << 1 | bits(insn, 2, 2) << 5;
            set(d, OP_JAL, 32, 0, 0, sext(imm, 12));
            return;
        }
        case 6: case 7: { /* c.beqz c.bnez */
            uint32_t imm = bits(insn, 12, 12) << 8 | bits(insn, 11, 10) << 3 |
                           bits(insn, 6, 5) << 6 | bits(insn, 4, 3) << 1 |
                           bits(insn, 2, 2) << 5;
            set(d, f3 == 6 ? OP_BEQ : OP_BNE, 32, rs1p, 0, sext(imm, 9));
            return;
        }
        }
        illegal(d);
        return;
    }
    if (q == 2) {
        switch (f3) {
        case 0: /* c.slli */
            set(d, OP_SLLI, int_rd(rd), rd, 0, (int32_t)(bits(insn, 12, 12) << 5 | rs2));
            return;
        case 1: case 3: { /* c.fldsp c.ldsp */
            int32_t imm = (int32_t)(bits(insn, 12, 12) << 5 | bits(insn, 6, 5) << 3 |
                                    bits(insn, 4, 2) << 6);
            if (f3 == 3 && rd == 0)
                break;
            set(d, f3 == 1 ? OP_FLD : OP_LD, rd, 2, 0, imm);
            return;
        }
        case 2: { /* c.lwsp */
            int32_t imm = (int32_t)(bits(insn, 12, 12) << 5 | bits(insn, 6, 4) << 2 |
                                    bits(insn, 3, 2) << 6);
            if (rd == 0)
                break;
            set(d, OP_LW, rd, 2, 0, imm);
            return;
        }
        case 4:
            if (bits(insn, 12, 12) == 0) {
                if (rs2 == 0) { /* c.jr */
                    if (rd == 0)
                        break;
                    set(d, OP_JALR, 32, rd, 0, 0);
                } else { /* c.mv */
                    set(d, OP_ADD, int_rd(rd), 0, rs2, 0);
                }
                return;
            }
            if (rs2 == 0) {
                if (rd == 0)
                    set(d, OP_EBREAK, 32, 0, 0, 0);
                else
                    set(d, OP_JALR, 1, rd, 0, 0); /* c.jalr */
                return;
            }
            set(d, OP_ADD, int_rd(rd), rd, rs2, 0); /* c.add */
            return;
        case 5: case 7: { /* c.fsdsp c.sdsp */
            int32_t imm = (int32_t)(bits(insn, 12, 10) << 3 | bits(insn, 9, 7) << 6);
            set(d, f3 == 5 ? OP_FSD : OP_SD, 32, 2, rs2, imm);
            return;
        }
        case 6: { /* c.swsp */
            int32_t imm = (int32_t)(bits(insn, 12, 9) << 2 | bits(insn, 8, 7) << 6);
            set(d, OP_SW, 32, 2, rs2, imm);
            return;
        }
        }
        illegal(d);
        return;
    }
    illegal(d);
}

void decode_insn(uint32_t insn, DecodedInsn *d)
{
    memset(d, 0, sizeof(*d));
    if ((insn & 3) == 3) {
        d->len = 4;
        d->step = INSN_STEP(4);
        d->raw = insn;
        decode32(insn, d);
    } else {
        d->len = 2;
        d->step = INSN_STEP(2);
        d->raw = insn & 0xffff;
        decode16(insn & 0xffff, d);
    }
}
