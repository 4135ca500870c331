/* The block compiler against the interpreter: the same guest code runs on
 * two machines, one with -accel interp and one with the JIT (blocks
 * compiled at their first entry), both driven by machine_run with the
 * same random sequence of budgets (1, 2, 3, 7, 1000 and up to 5000,
 * fixed seed). After every call the icount and machine_state_hash() must
 * match; every so often, and at the end, RAM and the whole saved state
 * (CSRs, devices) too. For part of each run a breakpoint is set on both
 * (blocks still run, ending in front of it, and the stops must be the
 * same). The guests: a
 * program assembled here (self-modifying code, loads and stores, some
 * misaligned, divisions by zero and by -1, ecall and access faults taken
 * by its trap handler) and the built guest programs (traps, page faults,
 * interrupts and WFI, four harts with AMOs). */
#include "jit.h"
#include "mini_machine.h"

#include <glib.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char guest_dir[4096];

static Machine *board(const char *elf, int smp, MachineAccel accel)
{
    char path[4200];
    MachineConfig cfg;
    bare_metal_config(&cfg, smp);
    cfg.accel = accel;
    if (elf) {
        snprintf(path, sizeof path, "%s/%s", guest_dir, elf);
        cfg.kernel = path;
    }
    char err[512];
    Machine *m = machine_new(&cfg, err, sizeof err);
    if (!m)
        g_error("machine_new: %s", err);
    return m;
}

/* ---- a program with everything a block may meet ---- */

enum { X0 = 0, T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A2 = 12, A3 = 13,
       A4 = 14, T3 = 28, T4 = 29, T5 = 30, T6 = 31 };

static uint32_t enc_i(uint32_t op, uint32_t f3, uint32_t rd, uint32_t rs1, int32_t imm)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_s(uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm & 0xfff;
    return (u >> 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 31) << 7 | 0x23;
}

static uint32_t enc_r(uint32_t op, uint32_t f7, uint32_t f3, uint32_t rd, uint32_t rs1, uint32_t rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_b(uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}

static uint32_t enc_jal(uint32_t rd, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

#define ADD(rd, a, b) enc_r(0x33, 0, 0, rd, a, b)
#define ADDI(rd, a, imm) enc_i(0x13, 0, rd, a, imm)
#define CSRRW(rd, csr, rs) enc_i(0x73, 1, rd, rs, csr)
#define CSRRS(rd, csr, rs) enc_i(0x73, 2, rd, rs, csr)
#define MEXT(f3, rd, a, b) enc_r(0x33, 1, f3, rd, a, b)
#define MEXTW(f3, rd, a, b) enc_r(0x3b, 1, f3, rd, a, b)

enum { LOOP = 8, PATCH = 14, SKIP = 40, NOPF = 43, HANDLER = 52 };

/* An endless loop: each pass rewrites the immediate of one of its own
 * instructions (store + fence.i), divides by zero (every 4th pass) and by
 * -1, stores and loads misaligned data on one of 64 pages, and every 8th
 * pass takes an ecall and a load access fault, every 16th a store access
 * fault, every pass a load access fault in the middle of a block, all
 * counted by the handler in a4 (with the a3 the block computed). */
static void load_program(Machine *m)
{
    uint32_t p[64];
    int n = 0;
    p[n++] = 0x00000297;                        /*  0: auipc t0, 0 */
    p[n++] = ADDI(T1, T0, HANDLER * 4);         /*  1 */
    p[n++] = CSRRW(X0, CSR_MTVEC, T1);          /*  2 */
    p[n++] = 0x00010437;                        /*  3: lui s0, 0x10 */
    p[n++] = ADD(S0, S0, T0);                   /*  4: s0 = data */
    p[n++] = ADDI(A0, X0, 0);                   /*  5 */
    p[n++] = ADDI(A1, X0, 0);                   /*  6 */
    p[n++] = ADDI(S1, X0, 0);                   /*  7: pass counter */
    g_assert_cmpint(n, ==, LOOP);
    p[n++] = enc_i(0x03, 2, T2, T0, PATCH * 4); /*  8: lw t2, patch */
    p[n++] = 0x00100e37;                        /*  9: lui t3, 0x100 */
    p[n++] = ADD(T2, T2, T3);                   /* 10 */
    p[n++] = enc_s(2, T0, T2, PATCH * 4);       /* 11: sw t2, patch */
    p[n++] = 0x0000100f;                        /* 12: fence.i */
    p[n++] = enc_jal(X0, 4);                    /* 13: j patch: blocks start at jumps */
    g_assert_cmpint(n, ==, PATCH);
    p[n++] = ADDI(A0, A0, 1);                   /* 14: immediate patched */
    p[n++] = ADD(A1, A1, A0);                   /* 15 */
    p[n++] = enc_i(0x13, 7, T3, S1, 3);         /* 16: andi t3, s1, 3 */
    p[n++] = MEXT(5, T4, A1, T3);               /* 17: divu t4, a1, t3 (0 every 4th) */
    p[n++] = ADD(A2, A2, T4);                   /* 18 */
    p[n++] = MEXT(6, T5, A1, X0);               /* 19: rem t5, a1, zero */
    p[n++] = ADD(A1, A1, T5);                   /* 20 */
    p[n++] = ADDI(T6, X0, -1);                  /* 21 */
    p[n++] = MEXT(4, T4, A1, T6);               /* 22: div t4, a1, -1 */
    p[n++] = MEXTW(4, T5, A0, T3);              /* 23: divw t5, a0, t3 */
    p[n++] = ADD(A3, A3, T5);                   /* 24 */
    p[n++] = MEXTW(7, T6, A1, T3);              /* 25: remuw t6, a1, t3 */
    p[n++] = enc_r(0x33, 0, 4, A1, A1, T4);     /* 26: xor a1, a1, t4 */
    p[n++] = ADD(A1, A1, T6);                   /* 27 */
    p[n++] = enc_i(0x13, 7, T4, S1, 63);        /* 28: andi t4, s1, 63 */
    p[n++] = enc_i(0x13, 1, T4, T4, 12);        /* 29: slli t4, t4, 12 */
    p[n++] = ADD(T4, T4, S0);                   /* 30 */
    p[n++] = enc_s(3, T4, A1, 4);               /* 31: sd a1, 4(t4): misaligned */
    p[n++] = enc_i(0x03, 3, T5, T4, 4);         /* 32: ld t5, 4(t4) */
    p[n++] = ADD(A2, A2, T5);                   /* 33 */
    p[n++] = enc_i(0x03, 1, T6, T4, 1);         /* 34: lh t6, 1(t4): misaligned */
    p[n++] = ADD(A2, A2, T6);                   /* 35 */
    p[n++] = enc_i(0x13, 7, T6, S1, 7);         /* 36: andi t6, s1, 7 */
    p[n] = enc_b(1, T6, X0, (SKIP - n) * 4), n++;/* 37: bnez t6, skip */
    p[n++] = 0x00000073;                        /* 38: ecall */
    p[n++] = enc_i(0x03, 2, T5, X0, 0);         /* 39: lw t5, 0(zero): access fault */
    g_assert_cmpint(n, ==, SKIP);
    p[n++] = enc_i(0x13, 7, T6, S1, 15);        /* 40: andi t6, s1, 15 */
    p[n] = enc_b(1, T6, X0, (NOPF - n) * 4), n++;/* 41: bnez t6, nopf */
    p[n++] = enc_s(3, X0, A1, 8);               /* 42: sd a1, 8(zero): access fault */
    g_assert_cmpint(n, ==, NOPF);
    p[n++] = MEXT(1, T4, A1, A2);               /* 43: mulh */
    p[n++] = MEXT(2, T5, A1, A2);               /* 44: mulhsu */
    p[n++] = ADD(A3, A3, T4);                   /* 45 */
    p[n++] = ADD(A3, A3, T5);                   /* 46 */
    p[n++] = enc_r(0x33, 0, 3, T6, A3, A1);     /* 47: sltu t6, a3, a1 */
    p[n++] = ADD(A3, A3, T6);                   /* 48 */
    /* a fault inside a block (it starts at NOPF, a jump target) after it
     * changed registers the compiler keeps in host registers: they must
     * reach h->x[] before the trap */
    p[n++] = enc_i(0x03, 3, T4, X0, 16);        /* 49: ld t4, 16(zero): access fault */
    p[n++] = ADDI(S1, S1, 1);                   /* 50 */
    p[n] = enc_jal(X0, (LOOP - n) * 4), n++;     /* 51: j loop */
    g_assert_cmpint(n, ==, HANDLER);
    p[n++] = CSRRS(T6, CSR_MEPC, X0);           /* 52 */
    p[n++] = ADDI(T6, T6, 4);                   /* 53 */
    p[n++] = CSRRW(X0, CSR_MEPC, T6);           /* 54 */
    p[n++] = CSRRS(T6, CSR_MCAUSE, X0);         /* 55 */
    p[n++] = ADD(A4, A4, A3);                   /* 56: sees the block's a3 */
    p[n++] = ADD(A4, A4, T6);                   /* 57 */
    p[n++] = 0x30200073;                        /* 58: mret */
    g_assert_true(machine_phys_write(m, m->ram_base, p, (uint64_t)n * 4));
}

/* ---- the comparison ---- */

typedef struct Case {
    const char *elf;        /* NULL: load_program */
    int smp;
    uint64_t limit;         /* instructions at most */
} Case;

static void assert_same_memory(Machine *a, Machine *b, uint64_t icount)
{
    if (memcmp(a->ram, b->ram, a->ram_size) != 0) {
        for (uint64_t i = 0; i < a->ram_size; i++)
            if (a->ram[i] != b->ram[i]) {
                g_test_message("icount %" G_GUINT64_FORMAT ": RAM differs first at %#"
                               G_GINT64_MODIFIER "x", icount, a->ram_base + i);
                break;
            }
        g_assert_not_reached();
    }
    MachineState *sa = machine_state_save(a), *sb = machine_state_save(b);
    g_assert_cmpuint(machine_state_size(sa), ==, machine_state_size(sb));
    if (memcmp(sa, sb, machine_state_size(sa)) != 0) {
        const uint8_t *x = (const uint8_t *)sa, *y = (const uint8_t *)sb;
        int shown = 0;
        for (size_t i = 0; i < machine_state_size(sa) && shown < 16; i++)
            if (x[i] != y[i]) {
                g_test_message("state byte %zu: interp %02x jit %02x", i, x[i], y[i]);
                shown++;
            }
        g_test_message("icount %" G_GUINT64_FORMAT ": saved states differ", icount);
        g_assert_not_reached();
    }
    machine_state_free(sa);
    machine_state_free(sb);
}

static void report_regs(Machine *a, Machine *b)
{
    for (int h = 0; h < machine_nharts(a); h++)
        for (int r = 0; r <= REG_PC; r++) {
            uint64_t va = 0, vb = 0;
            machine_read_reg(a, h, r, &va);
            machine_read_reg(b, h, r, &vb);
            if (va != vb)
                g_test_message("hart %d reg %d: interp %#" G_GINT64_MODIFIER "x jit %#"
                               G_GINT64_MODIFIER "x", h, r, va, vb);
        }
}

static void check_case(gconstpointer data)
{
    const Case *c = data;
    if (c->elf) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", guest_dir, c->elf);
        if (access(path, R_OK) != 0) {
            g_test_skip("guest programs not built (no riscv64-unknown-elf-gcc)");
            return;
        }
    }
    Machine *mi = board(c->elf, c->smp, ACCEL_INTERP);
    Machine *mj = board(c->elf, c->smp, ACCEL_JIT);
    g_assert_null(mi->jit);
    if (!mj->jit) {
        g_test_skip("the host refuses RWX memory: no JIT to compare");
        machine_free(mi);
        machine_free(mj);
        return;
    }
    if (!c->elf) {
        load_program(mi);
        load_program(mj);
    }

    GRand *rnd = g_rand_new_with_seed(0x5eed + (guint32)c->limit);
    static const uint64_t fixed[] = { 1, 2, 3, 7, 1000 };
    uint64_t bp_addr = 0;
    bool bp_window_seen = false;
    uint64_t bp_hits = 0, jit_in_window = 0, jit_after = 0;
    int calls_after = 0;
    for (int call = 0; machine_icount(mi) < c->limit; call++) {
        /* calls 30..129: a breakpoint where hart 0 is now */
        if (call == 30) {
            g_assert_true(machine_read_reg(mi, 0, REG_PC, &bp_addr));
            g_assert_true(machine_set_breakpoint(mi, bp_addr, BP_SOFTWARE));
            g_assert_true(machine_set_breakpoint(mj, bp_addr, BP_SOFTWARE));
            bp_window_seen = true;
        } else if (call == 130) {
            machine_clear_all_breakpoints(mi);
            machine_clear_all_breakpoints(mj);
        }
        int pick = g_rand_int_range(rnd, 0, 6);
        uint64_t budget = pick < 5 ? fixed[pick] : (uint64_t)g_rand_int_range(rnd, 1, 5001);
        uint64_t entries = jit_entries(mj);
        RunResult ri = machine_run(mi, budget);
        RunResult rj = machine_run(mj, budget);
        uint64_t ic = machine_icount(mi);
        if (call >= 30 && call < 130)
            jit_in_window += jit_entries(mj) - entries;
        if (call >= 130) {
            jit_after += jit_entries(mj) - entries;
            calls_after++;
        }
        if (ri != rj || ic != machine_icount(mj) ||
            machine_state_hash(mi) != machine_state_hash(mj)) {
            g_test_message("%s: call %d (budget %" G_GUINT64_FORMAT "): interp %d at icount %"
                           G_GUINT64_FORMAT ", jit %d at icount %" G_GUINT64_FORMAT,
                           c->elf ? c->elf : "program", call, budget, ri, ic, rj,
                           machine_icount(mj));
            report_regs(mi, mj);
            g_assert_not_reached();
        }
        if (call % 256 == 0)
            assert_same_memory(mi, mj, ic);
        if (ri == RUN_BREAKPOINT)
            bp_hits++;
        if (ri == RUN_EXIT) {
            g_assert_cmpint(machine_exit_code(mi), ==, machine_exit_code(mj));
            g_assert_cmpint(machine_exit_code(mi), ==, 0);
            break;
        }
        if (ri == RUN_IDLE)
            break;
    }
    assert_same_memory(mi, mj, machine_icount(mi));
    /* the comparison means something only if blocks ran; with the
     * breakpoint set they still run (ending in front of its offset), and
     * the assembled program's loop stops at it again and again */
    g_assert_cmpuint(jit_entries(mj), >, 0);
    if (bp_window_seen && !c->elf) {
        g_assert_cmpuint(jit_in_window, >, 0);
        g_assert_cmpuint(bp_hits, >, 0);
    }
    if (calls_after >= 20)     /* and again once the breakpoint is gone */
        g_assert_cmpuint(jit_after, >, 0);
    g_test_message("%s: icount %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " block entries, "
                   "%" G_GUINT64_FORMAT " breakpoint stops at %#" G_GINT64_MODIFIER "x",
                   c->elf ? c->elf : "program", machine_icount(mi), jit_entries(mj), bp_hits,
                   bp_addr);
    g_rand_free(rnd);
    machine_free(mi);
    machine_free(mj);
}

int main(int argc, char **argv)
{
    /* blocks compile at their first entry; the environment must not
     * choose for the test (REWIND_JIT overrides -accel) */
    g_setenv("REWIND_JIT_HOT", "1", TRUE);
    g_unsetenv("REWIND_JIT");
    g_unsetenv("REWIND_JIT_BUF_KB");
    g_test_init(&argc, &argv, NULL);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    snprintf(guest_dir, sizeof guest_dir, "%s/../guests", dirname(exe));

    static const Case program = { NULL, 1, 2000000 };
    static const Case traps = { "traps.elf", 1, 5000000 };
    static const Case paging = { "paging.elf", 1, 5000000 };
    static const Case timer = { "timer.elf", 1, 5000000 };
    static const Case uart = { "uart.elf", 1, 5000000 };
    static const Case smp = { "smp.elf", 4, 3000000 };
    g_test_add_data_func("/jit/program", &program, check_case);
    g_test_add_data_func("/jit/traps", &traps, check_case);
    g_test_add_data_func("/jit/paging", &paging, check_case);
    g_test_add_data_func("/jit/timer", &timer, check_case);
    g_test_add_data_func("/jit/uart", &uart, check_case);
    g_test_add_data_func("/jit/smp", &smp, check_case);
    return g_test_run();
}
