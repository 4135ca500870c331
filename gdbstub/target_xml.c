/* Target description: the XML GDB reads with qXfer:features:read, so that
 * a stock gdb-multiarch knows the registers without configuration.
 *
 * Features (the names GDB's RISC-V support looks for):
 *   org.gnu.gdb.riscv.cpu      x0..x31 (ABI names) and pc, numbers 0..32
 *   org.gnu.gdb.riscv.fpu      f0..f31 (33..64), fflags/frm/fcsr (66..68)
 *   org.gnu.gdb.riscv.virtual  priv, the privilege level as QEMU exposes it
 *   org.gnu.gdb.riscv.csr      every CSR the CPU implements, number 65 + csr
 * Numbers follow GDB's own RISC-V numbering (emulator.h REG_*), given
 * explicitly with regnum; QEMU numbers its CSRs differently on the wire,
 * which GDB does not care about since it maps registers by name. */
#include "stub_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const xreg_names[32] = {
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2",
    "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
    "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};

static const char *const freg_names[32] = {
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7",
    "fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",
    "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
    "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
};

typedef struct CsrName {
    unsigned num;
    const char *name;
} CsrName;

/* Single CSRs by name; numbered families are generated below. */
static const CsrName csr_names[] = {
    { 0xc00, "cycle" }, { 0xc01, "time" }, { 0xc02, "instret" },
    { 0x100, "sstatus" }, { 0x104, "sie" }, { 0x105, "stvec" },
    { 0x106, "scounteren" }, { 0x10a, "senvcfg" }, { 0x140, "sscratch" },
    { 0x141, "sepc" }, { 0x142, "scause" }, { 0x143, "stval" },
    { 0x144, "sip" }, { 0x180, "satp" },
    { 0x300, "mstatus" }, { 0x301, "misa" }, { 0x302, "medeleg" },
    { 0x303, "mideleg" }, { 0x304, "mie" }, { 0x305, "mtvec" },
    { 0x306, "mcounteren" }, { 0x30a, "menvcfg" }, { 0x320, "mcountinhibit" },
    { 0x340, "mscratch" }, { 0x341, "mepc" }, { 0x342, "mcause" },
    { 0x343, "mtval" }, { 0x344, "mip" }, { 0x34a, "mtinst" },
    { 0x34b, "mtval2" }, { 0x7a0, "tselect" }, { 0x7a1, "tdata1" },
    { 0x7a2, "tdata2" }, { 0x7a3, "tdata3" }, { 0xb00, "mcycle" },
    { 0xb02, "minstret" }, { 0xf11, "mvendorid" }, { 0xf12, "marchid" },
    { 0xf13, "mimpid" }, { 0xf14, "mhartid" }, { 0xf15, "mconfigptr" },
};

/* Name of a CSR, in buf when generated; NULL for numbers we do not name
 * (the CPU has none of those that matter to a debugger user). */
static const char *csr_name(unsigned n, char *buf, size_t len)
{
    for (size_t i = 0; i < G_N_ELEMENTS(csr_names); i++)
        if (csr_names[i].num == n)
            return csr_names[i].name;
    if (n >= 0xc03 && n <= 0xc1f)
        snprintf(buf, len, "hpmcounter%u", n - 0xc00);
    else if (n >= 0xb03 && n <= 0xb1f)
        snprintf(buf, len, "mhpmcounter%u", n - 0xb00);
    else if (n >= 0x323 && n <= 0x33f)
        snprintf(buf, len, "mhpmevent%u", n - 0x320);
    else if (n >= 0x3a0 && n <= 0x3af && !(n & 1))
        snprintf(buf, len, "pmpcfg%u", n - 0x3a0);
    else if (n >= 0x3b0 && n <= 0x3ef)
        snprintf(buf, len, "pmpaddr%u", n - 0x3b0);
    else
        return NULL;
    return buf;
}

static void add_reg(GString *x, const char *name, int bits, int regnum, const char *type,
                    const char *group)
{
    g_string_append_printf(x, "  <reg name=\"%s\" bitsize=\"%d\" regnum=\"%d\"", name, bits,
                           regnum);
    if (type)
        g_string_append_printf(x, " type=\"%s\"", type);
    if (group)
        g_string_append_printf(x, " group=\"%s\"", group);
    g_string_append(x, "/>\n");
}

static GString *build_xml(Machine *m)
{
    GString *x = g_string_new(NULL);
    g_string_append(x,
                    "<?xml version=\"1.0\"?>\n"
                    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                    "<target version=\"1.0\">\n"
                    "<architecture>riscv:rv64</architecture>\n"
                    /* bare metal: without this, a gdb-multiarch built for
                     * Linux takes an ELF without an ABI note for a Linux
                     * program and single-steps by planting a breakpoint
                     * after the instruction and continuing (every hart
                     * runs, traps run to their end); with it, stepi is a
                     * vCont;s the stub executes exactly */
                    "<osabi>none</osabi>\n"
                    "<feature name=\"org.gnu.gdb.riscv.cpu\">\n");
    for (int i = 0; i < 32; i++)
        add_reg(x, xreg_names[i], 64, i,
                i == 1 ? "code_ptr" : (i == 2 || i == 3 || i == 4 || i == 8) ? "data_ptr" : "int",
                NULL);
    add_reg(x, "pc", 64, REG_PC, "code_ptr", NULL);
    g_string_append(x, "</feature>\n"
                       "<feature name=\"org.gnu.gdb.riscv.fpu\">\n"
                       "  <union id=\"riscv_double\">\n"
                       "    <field name=\"float\" type=\"ieee_single\"/>\n"
                       "    <field name=\"double\" type=\"ieee_double\"/>\n"
                       "  </union>\n");
    for (int i = 0; i < 32; i++)
        add_reg(x, freg_names[i], 64, REG_F0 + i, "riscv_double", NULL);
    add_reg(x, "fflags", 32, REG_CSR0 + 1, "int", "float");
    add_reg(x, "frm", 32, REG_CSR0 + 2, "int", "float");
    add_reg(x, "fcsr", 32, REG_CSR0 + 3, "int", "float");
    g_string_append(x, "</feature>\n"
                       "<feature name=\"org.gnu.gdb.riscv.virtual\">\n");
    add_reg(x, "priv", 64, REG_PRIV, "int", "general");
    g_string_append(x, "</feature>\n"
                       "<feature name=\"org.gnu.gdb.riscv.csr\">\n");
    for (unsigned n = 4; n < 0x1000; n++) {
        char buf[32];
        const char *name = csr_name(n, buf, sizeof(buf));
        uint64_t v;
        if (name && machine_read_reg(m, 0, REG_CSR0 + (int)n, &v))
            add_reg(x, name, 64, REG_CSR0 + (int)n, "int", NULL);
    }
    g_string_append(x, "</feature>\n</target>\n");
    return x;
}

const char *gdb_target_xml(GdbStub *s, size_t *len)
{
    if (!s->target_xml) {
        GString *x = build_xml(s->m);
        s->target_xml_len = x->len;
        s->target_xml = g_string_free(x, FALSE);
    }
    *len = s->target_xml_len;
    return s->target_xml;
}

int gdb_reg_size(GdbStub *s, int regno)
{
    (void)s;
    if (regno >= 0 && regno < REG_CSR0)
        return 8;
    if (regno >= REG_CSR0 + 1 && regno <= REG_CSR0 + 3)
        return 4;
    if (regno == REG_PRIV)
        return 8;
    if (regno > REG_CSR0 + 3 && regno < REG_PRIV) {
        char buf[32];
        uint64_t v;
        if (csr_name((unsigned)(regno - REG_CSR0), buf, sizeof(buf)) &&
            machine_read_reg(s->m, 0, regno, &v))
            return 8;
    }
    return 0;
}
