/* Decoder: encodings from the ISA manual map to the right operation,
 * registers and immediates; reserved encodings are illegal. */
#include "cpu.h"

typedef struct {
    uint32_t insn;
    unsigned op;
    int rd, rs1, rs2;
    int32_t imm;
    int len;
} Case;

static void check(const Case *c)
{
    DecodedInsn d;
    decode_insn(c->insn, &d);
    if (d.op != c->op)
        g_error("0x%08x: op %s, expected %s", c->insn, op_name(d.op), op_name(c->op));
    g_assert_cmpint(d.len, ==, c->len);
    if (c->rd >= 0)
        g_assert_cmpint(d.rd, ==, c->rd);
    if (c->rs1 >= 0)
        g_assert_cmpint(d.rs1, ==, c->rs1);
    if (c->rs2 >= 0)
        g_assert_cmpint(d.rs2, ==, c->rs2);
    g_assert_cmpint(d.imm, ==, c->imm);
}

static void test_rv64i(void)
{
    static const Case cases[] = {
        { 0xfff10093, OP_ADDI, 1, 2, -1, -1, 4 },            /* addi x1,x2,-1 */
        { 0x00000013, OP_ADDI, 32, 0, -1, 0, 4 },            /* nop: rd x0 -> sink */
        { 0x123452b7, OP_LUI, 5, -1, -1, 0x12345000, 4 },    /* lui t0,0x12345 */
        { 0xfffff517, OP_AUIPC, 10, -1, -1, (int32_t)0xfffff000, 4 },
        { 0x0000006f, OP_JAL, 32, -1, -1, 0, 4 },            /* j . */
        { 0xffdff0ef, OP_JAL, 1, -1, -1, -4, 4 },            /* jal ra,.-4 */
        { 0x000080e7, OP_JALR, 1, 1, -1, 0, 4 },             /* jalr ra */
        { 0xfe208ee3, OP_BEQ, 32, 1, 2, -4, 4 },             /* beq x1,x2,.-4 */
        { 0x0020f463, OP_BGEU, 32, 1, 2, 8, 4 },             /* bgeu x1,x2,.+8 */
        { 0xff853283, OP_LD, 5, 10, -1, -8, 4 },             /* ld t0,-8(a0) */
        { 0x00554303, OP_LBU, 6, 10, -1, 5, 4 },
        { 0xfe553c23, OP_SD, 32, 10, 5, -8, 4 },             /* sd t0,-8(a0) */
        { 0x03f51513, OP_SLLI, 10, 10, -1, 63, 4 },          /* slli a0,a0,63 */
        { 0x43f55513, OP_SRAI, 10, 10, -1, 63, 4 },          /* srai a0,a0,63 */
        { 0x01f5151b, OP_SLLIW, 10, 10, -1, 31, 4 },
        { 0x40b50533, OP_SUB, 10, 10, 11, 0, 4 },
        { 0x02b50533, OP_MUL, 10, 10, 11, 0, 4 },
        { 0x02b5553b, OP_DIVUW, 10, 10, 11, 0, 4 },
        { 0x30200073, OP_MRET, -1, -1, -1, 0, 4 },
        { 0x10500073, OP_WFI, -1, -1, -1, 0, 4 },
        { 0x12000073, OP_SFENCE_VMA, -1, 0, 0, 0, 4 },
        { 0x34202573, OP_CSRRS, 10, 0, -1, 0x342, 4 },       /* csrr a0,mcause */
        { 0x3412d073, OP_CSRRWI, 32, 5, -1, 0x341, 4 },      /* csrwi mepc,5 */
        { 0x100525af, OP_LR_W, 11, 10, 0, 0, 4 },
        { 0x18c5b5af, OP_SC_D, 11, 11, 12, 0, 4 },
        { 0xe0c5a5af, OP_AMOMAXU_W, 11, 11, 12, 0, 4 },
        { 0x0000100f, OP_FENCE_I, -1, -1, -1, 0, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++)
        check(&cases[i]);
}

static void test_fp(void)
{
    static const Case cases[] = {
        { 0x00b57553, OP_FADD_S, 10, 10, 11, 0, 4 },         /* fadd.s fa0,fa0,fa1 (dyn) */
        { 0x02b50553, OP_FADD_D, 10, 10, 11, 0, 4 },         /* fadd.d rne */
        { 0x60b5f543, OP_FMADD_S, 10, 11, 11, 0, 4 },        /* fmadd.s fa0,fa1,fa1,fa2 */
        { 0xc0051553, OP_FCVT_W_S, 10, 10, 0, 0, 4 },        /* fcvt.w.s a0,fa0,rtz */
        { 0xe2050553, OP_FMV_X_D, 10, 10, 0, 0, 4 },
        { 0xa0b52553, OP_FEQ_S, 10, 10, 11, 0, 4 },
        { 0x40157553, OP_FCVT_S_D, 10, 10, 1, 0, 4 },
        { 0x00052507, OP_FLW, 10, 10, -1, 0, 4 },
        { 0x00a53427, OP_FSD, 32, 10, 10, 8, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++)
        check(&cases[i]);
    DecodedInsn d;
    decode_insn(0x00b55553, &d);   /* fadd.s with rm=5: reserved */
    g_assert_cmpint(d.op, ==, OP_ILLEGAL);
    decode_insn(0x00b56553, &d);   /* rm=6: reserved */
    g_assert_cmpint(d.op, ==, OP_ILLEGAL);
}

static void test_compressed(void)
{
    static const Case cases[] = {
        { 0x0040, OP_ADDI, 8, 2, -1, 4, 2 },                 /* c.addi4spn s0,sp,4 */
        { 0x0505, OP_ADDI, 10, 10, -1, 1, 2 },               /* c.addi a0,1 */
        { 0x0001, OP_NOP, -1, -1, -1, 0, 2 },                /* c.nop */
        { 0x357d, OP_ADDIW, 10, 10, -1, -1, 2 },             /* c.addiw a0,-1 */
        { 0x557d, OP_ADDI, 10, 0, -1, -1, 2 },               /* c.li a0,-1 */
        { 0x7179, OP_ADDI, 2, 2, -1, -48, 2 },               /* c.addi16sp sp,-48 */
        { 0x6505, OP_LUI, 10, -1, -1, 0x1000, 2 },           /* c.lui a0,1 */
        { 0x757d, OP_LUI, 10, -1, -1, -4096, 2 },            /* c.lui a0,0xfffff */
        { 0x8105, OP_SRLI, 10, 10, -1, 1, 2 },               /* c.srli a0,1 */
        { 0x8505, OP_SRAI, 10, 10, -1, 1, 2 },               /* c.srai a0,1 */
        { 0x8d0d, OP_SUB, 10, 10, 11, 0, 2 },                /* c.sub a0,a1 */
        { 0x9d2d, OP_ADDW, 10, 10, 11, 0, 2 },               /* c.addw a0,a1 */
        { 0xa001, OP_JAL, 32, -1, -1, 0, 2 },                /* c.j . */
        { 0xdd75, OP_BEQ, 32, 10, 0, -4, 2 },                /* c.beqz a0,.-4 */
        { 0x050a, OP_SLLI, 10, 10, -1, 2, 2 },               /* c.slli a0,2 */
        { 0x6522, OP_LD, 10, 2, -1, 8, 2 },                  /* c.ldsp a0,8(sp) */
        { 0x4532, OP_LW, 10, 2, -1, 12, 2 },                 /* c.lwsp a0,12(sp) */
        { 0xe42a, OP_SD, 32, 2, 10, 8, 2 },                  /* c.sdsp a0,8(sp) */
        { 0x8082, OP_JALR, 32, 1, -1, 0, 2 },                /* c.jr ra (ret) */
        { 0x9502, OP_JALR, 1, 10, -1, 0, 2 },                /* c.jalr a0 */
        { 0x852e, OP_ADD, 10, 0, 11, 0, 2 },                 /* c.mv a0,a1 */
        { 0x952e, OP_ADD, 10, 10, 11, 0, 2 },                /* c.add a0,a1 */
        { 0x9002, OP_EBREAK, -1, -1, -1, 0, 2 },
        { 0x6188, OP_LD, 10, 11, -1, 0, 2 },                 /* c.ld a0,0(a1) */
        { 0xa188, OP_FSD, 32, 11, 10, 0, 2 },                /* c.fsd fa0,0(a1) */
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++)
        check(&cases[i]);
}

static void test_reserved_compressed(void)
{
    /* all-zero, c.addi4spn imm 0, c.lui imm 0, c.addi16sp imm 0,
     * c.addiw rd 0, c.lwsp rd 0, c.ldsp rd 0, c.jr x0, quadrant-0 f3=4 */
    static const uint32_t bad[] = {
        0x0000, 0x0004, 0x6501, 0x6101, 0x2005, 0x4002, 0x6002, 0x8002, 0x8000,
        0x9c41, 0x9c61,   /* reserved c.subw/c.addw slots */
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        DecodedInsn d;
        decode_insn(bad[i], &d);
        if (d.op != OP_ILLEGAL)
            g_error("0x%04x decoded as %s, expected illegal", bad[i], op_name(d.op));
        g_assert_cmpuint(d.raw, ==, bad[i]);
    }
}

static void test_illegal32(void)
{
    static const uint32_t bad[] = {
        0xffffffff,   /* all ones */
        0x00002063,   /* branch funct3 2 */
        0x00007003,   /* load funct3 7 */
        0x00004023,   /* store funct3 4 */
        0x40001013,   /* slli with funct6 0x10 */
        0x00004073,   /* system funct3 4 */
        0x2800202f,   /* amo funct5 0x05: unassigned */
        0x1010202f,   /* lr.w with rs2 != 0 */
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        DecodedInsn d;
        decode_insn(bad[i], &d);
        if (d.op != OP_ILLEGAL)
            g_error("0x%08x decoded as %s, expected illegal", bad[i], op_name(d.op));
        g_assert_cmpuint(d.raw, ==, bad[i]);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/decode/rv64i", test_rv64i);
    g_test_add_func("/decode/fp", test_fp);
    g_test_add_func("/decode/compressed", test_compressed);
    g_test_add_func("/decode/reserved-compressed", test_reserved_compressed);
    g_test_add_func("/decode/illegal32", test_illegal32);
    return g_test_run();
}
