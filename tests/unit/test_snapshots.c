/* In-memory snapshots (snapshots/): restore + run forward gives the very
 * state of a straight run (registers, CSRs, devices, every RAM byte and the
 * console output), with guests that use timer interrupts and WFI, the
 * UART, paging (hardware A/D bits), four harts with AMOs, and code that
 * rewrites itself; taking a snapshot copies only the pages written since
 * the last one; restoring rewrites only the pages that differ; the budget
 * drops snapshots by the thinning rule and keeps the first; disk overlays
 * are taken and restored with the rest. */
#include "devices.h"
#include "mini_machine.h"
#include "snapshots.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <libgen.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024ull * 1024)

static char guest_dir[4096];

/* ---- machines ---- */

typedef struct Run {
    Machine *m;
    GString *out;           /* everything the UART printed */
} Run;

static void capture(void *opaque, uint8_t byte)
{
    g_string_append_c((GString *)opaque, (char)byte);
}

/* A board running a guest ELF bare-metal (-bios none -kernel ELF), or an
 * empty board (elf NULL: the reset vector jumps to empty RAM). */
static bool run_new(Run *r, const char *elf, int smp)
{
    char path[4200];
    MachineConfig cfg;
    bare_metal_config(&cfg, smp);
    if (elf) {
        snprintf(path, sizeof path, "%s/%s", guest_dir, elf);
        if (access(path, R_OK) != 0) {
            g_test_skip("guest programs not built (no riscv64-unknown-elf-gcc)");
            return false;
        }
        cfg.kernel = path;
    }
    char err[512];
    r->m = machine_new(&cfg, err, sizeof err);
    if (!r->m)
        g_error("machine_new: %s", err);
    r->out = g_string_new(NULL);
    uart_set_output(r->m->uart, capture, r->out);
    return true;
}

static void run_free(Run *r)
{
    machine_free(r->m);
    g_string_free(r->out, TRUE);
}

/* Runs exactly n more instructions, or until the guest stops. */
static void run_for(Run *r, uint64_t n)
{
    uint64_t end = machine_icount(r->m) + n;
    while (machine_icount(r->m) < end) {
        RunResult rr = machine_run(r->m, end - machine_icount(r->m));
        if (rr == RUN_EXIT || rr == RUN_IDLE)
            break;
    }
}

/* Everything the guest can see, for bitwise comparison. */
typedef struct Image {
    MachineState *state;
    uint8_t *ram;
    char *out;
    uint64_t icount;
} Image;

static void image_take(Run *r, Image *img)
{
    img->state = machine_state_save(r->m);
    img->ram = g_memdup2(r->m->ram, r->m->ram_size);
    img->out = g_strdup(r->out->str);
    img->icount = machine_icount(r->m);
}

static void image_free(Image *img)
{
    machine_state_free(img->state);
    g_free(img->ram);
    g_free(img->out);
}

static void assert_same(Run *r, const Image *img)
{
    Machine *m = r->m;
    g_assert_cmpuint(machine_icount(m), ==, img->icount);
    MachineState *now = machine_state_save(m);
    g_assert_cmpuint(machine_state_size(now), ==, machine_state_size(img->state));
    if (memcmp(now, img->state, machine_state_size(now)) != 0) {
        /* say which register differs: load the expected state for a
         * moment and compare through the debugger interface */
        MachineState *cur = machine_state_save(m);
        uint64_t mine[REWIND_MAX_HARTS][33];
        for (int h = 0; h < machine_nharts(m); h++)
            for (int x = 0; x < 33; x++)
                machine_read_reg(m, h, x, &mine[h][x]);
        machine_state_restore(m, img->state);
        for (int h = 0; h < machine_nharts(m); h++)
            for (int x = 0; x < 33; x++) {
                uint64_t want;
                machine_read_reg(m, h, x, &want);
                if (want != mine[h][x])
                    g_test_message("hart %d reg %d: got %#" G_GINT64_MODIFIER "x want %#"
                                   G_GINT64_MODIFIER "x", h, x, mine[h][x], want);
            }
        machine_state_restore(m, cur);
        machine_state_free(cur);
        g_assert_not_reached();
    }
    machine_state_free(now);
    if (memcmp(m->ram, img->ram, m->ram_size) != 0) {
        for (uint64_t i = 0; i < m->ram_size; i++)
            if (m->ram[i] != img->ram[i]) {
                g_test_message("RAM differs first at %#" G_GINT64_MODIFIER "x",
                               m->ram_base + i);
                break;
            }
        g_assert_not_reached();
    }
    g_assert_cmpstr(r->out->str, ==, img->out);
}

/* ---- determinism: restore + run == straight run ---- */

typedef struct Guest {
    const char *elf;
    int smp;
    uint64_t limit;     /* instructions at most (the guest may end before) */
} Guest;

static void check_guest(const Guest *g, void (*setup)(Run *))
{
    /* the reference: a machine that never takes a snapshot */
    Run ref;
    if (!run_new(&ref, g->elf, g->smp))
        return;
    if (setup)
        setup(&ref);
    /* legs of a third, a half and the rest of the guest's whole run */
    uint64_t total = g->limit;
    {
        Run pre;
        run_new(&pre, g->elf, g->smp);
        if (setup)
            setup(&pre);
        run_for(&pre, g->limit);
        total = machine_icount(pre.m);
        g_test_message("%s: %" G_GUINT64_FORMAT " instructions, output %zu bytes",
                       g->elf ? g->elf : "program", total, pre.out->len);
        run_free(&pre);
    }
    const struct { uint64_t a, b, c; } legs = { total / 3, total / 2, total };
    const typeof(legs) *lg = &legs;
    Image at_a, at_b, at_end;
    run_for(&ref, lg->a);
    image_take(&ref, &at_a);
    run_for(&ref, lg->b);
    image_take(&ref, &at_b);
    run_for(&ref, lg->c);
    image_take(&ref, &at_end);
    run_free(&ref);

    Run r;
    run_new(&r, g->elf, g->smp);
    if (setup)
        setup(&r);
    SnapStore *s = snapstore_new(r.m, 0);
    run_for(&r, lg->a);
    int s1 = snapstore_take(s, 111);
    assert_same(&r, &at_a);
    run_for(&r, lg->b);
    int s2 = snapstore_take(s, 222);
    assert_same(&r, &at_b);       /* taking snapshots changes nothing */
    run_for(&r, lg->c);
    assert_same(&r, &at_end);

    uint64_t pos = 0;
    /* back to the first, forward through the second to the end */
    g_assert_true(snapstore_restore(s, s1, &pos));
    g_assert_cmpuint(pos, ==, 111);
    g_string_assign(r.out, at_a.out);
    assert_same(&r, &at_a);
    run_for(&r, lg->b);
    assert_same(&r, &at_b);
    run_for(&r, lg->c);
    assert_same(&r, &at_end);

    /* straight to the second */
    g_assert_true(snapstore_restore(s, s2, &pos));
    g_assert_cmpuint(pos, ==, 222);
    g_string_assign(r.out, at_b.out);
    assert_same(&r, &at_b);
    run_for(&r, lg->c);
    assert_same(&r, &at_end);

    /* second, then first, then second with nothing run in between */
    g_assert_true(snapstore_restore(s, s2, NULL));
    g_assert_true(snapstore_restore(s, s1, NULL));
    g_string_assign(r.out, at_a.out);
    assert_same(&r, &at_a);
    g_assert_true(snapstore_restore(s, s2, NULL));
    g_string_assign(r.out, at_b.out);
    assert_same(&r, &at_b);

    /* a snapshot taken after a restore, in the middle of the replay */
    g_assert_true(snapstore_restore(s, s1, NULL));
    g_string_assign(r.out, at_a.out);
    run_for(&r, lg->b / 2);
    char *out_mid = g_strdup(r.out->str);
    int s3 = snapstore_take(s, 333);
    run_for(&r, lg->b - lg->b / 2);
    assert_same(&r, &at_b);
    run_for(&r, lg->c);
    assert_same(&r, &at_end);
    g_assert_cmpint(snapstore_find(s, machine_icount(r.m)), ==, s2);
    g_assert_true(snapstore_restore(s, s3, &pos));
    g_assert_cmpuint(pos, ==, 333);
    g_string_assign(r.out, out_mid);
    run_for(&r, lg->b - lg->b / 2);
    assert_same(&r, &at_b);
    run_for(&r, lg->c);
    assert_same(&r, &at_end);

    g_free(out_mid);
    snapstore_free(s);
    run_free(&r);
    image_free(&at_a);
    image_free(&at_b);
    image_free(&at_end);
}

static void test_timer(void)
{
    /* timer interrupts 10000 ticks apart, WFI with idle skipping */
    Guest g = { "timer.elf", 1, 50000000 };
    check_guest(&g, NULL);
}

static void test_uart(void)
{
    Guest g = { "uart.elf", 1, 50000000 };
    check_guest(&g, NULL);
}

static void test_paging(void)
{
    Guest g = { "paging.elf", 1, 50000000 };
    check_guest(&g, NULL);
}

static void test_smp(void)
{
    Guest g = { "smp.elf", 4, 50000000 };
    check_guest(&g, NULL);
}

/* ---- self-modifying code, written into RAM by hand ---- */

enum { X0 = 0, T0 = 5, T1 = 6, T2 = 7, S0 = 8, A0 = 10, A1 = 11, T3 = 28, T4 = 29 };

static uint32_t enc_i(uint32_t op, uint32_t f3, uint32_t rd, uint32_t rs1, int32_t imm)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_s(uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm & 0xfff;
    return (u >> 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 31) << 7 | 0x23;
}

static uint32_t enc_r(uint32_t f7, uint32_t f3, uint32_t rd, uint32_t rs1, uint32_t rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x33;
}

static uint32_t enc_jal(uint32_t rd, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

/* A loop that increments the immediate of one of its own instructions
 * (store + fence.i), and writes a running sum to one of 64 data pages. */
static void setup_smc(Run *r)
{
    uint32_t p[32];
    int n = 0;
    p[n++] = 0x00000297;                        /*  0: auipc t0, 0 */
    p[n++] = 0x00010417;                        /*  4: auipc s0, 0x10 (data) */
    p[n++] = enc_i(0x13, 0, T1, X0, 0);         /*  8: li t1, 0 */
    p[n++] = enc_i(0x03, 2, T2, T0, 36);        /* 12: loop: lw t2, 36(t0) */
    p[n++] = 0x00100e37;                        /* 16: lui t3, 0x100 */
    p[n++] = enc_r(0, 0, T2, T2, T3);           /* 20: add t2, t2, t3 */
    p[n++] = enc_s(2, T0, T2, 36);              /* 24: sw t2, 36(t0) */
    p[n++] = 0x0000100f;                        /* 28: fence.i */
    p[n++] = enc_i(0x13, 0, X0, X0, 0);         /* 32: nop */
    p[n++] = enc_i(0x13, 0, A0, A0, 1);         /* 36: addi a0, a0, imm (patched) */
    p[n++] = enc_r(0, 0, A1, A1, A0);           /* 40: add a1, a1, a0 */
    p[n++] = enc_i(0x13, 7, T4, T1, 63);        /* 44: andi t4, t1, 63 */
    p[n++] = enc_i(0x13, 1, T4, T4, 12);        /* 48: slli t4, t4, 12 */
    p[n++] = enc_r(0, 0, T4, T4, S0);           /* 52: add t4, t4, s0 */
    p[n++] = enc_s(3, T4, A1, 4);               /* 56: sd a1, 4(t4) (aligned) */
    p[n++] = enc_i(0x13, 0, T1, T1, 1);         /* 60: addi t1, t1, 1 */
    p[n++] = enc_jal(X0, 12 - 64);              /* 64: j loop */
    g_assert_true(machine_phys_write(r->m, r->m->ram_base, p, (uint64_t)n * 4));
}

static void test_self_modifying(void)
{
    Guest g = { NULL, 1, 300001 };
    check_guest(&g, setup_smc);
}

/* ---- incremental cost ---- */

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void touch_pages(Run *r, uint64_t first_page, int k, uint8_t value)
{
    uint8_t buf[64];
    memset(buf, value, sizeof buf);
    for (int i = 0; i < k; i++)
        g_assert_true(machine_phys_write(r->m, r->m->ram_base + (first_page + (uint64_t)i * 7) * 4096 + 100,
                                         buf, sizeof buf));
}

/* A machine spinning on `j .` at the start of RAM: it runs without
 * writing anything (snapshots at the same icount replace each other, so
 * the tests run one instruction between takes). */
static void setup_spin(Run *r)
{
    uint32_t j = enc_jal(X0, 0);
    g_assert_true(machine_phys_write(r->m, r->m->ram_base, &j, 4));
}

static void test_incremental(void)
{
    Run r;
    run_new(&r, NULL, 1);
    setup_spin(&r);
    SnapStore *s = snapstore_new(r.m, 0);
    SnapStats st;

    uint64_t t0 = host_ns();
    int s0 = snapstore_take(s, 0);
    uint64_t first_ns = host_ns() - t0;
    snapstore_stats(s, &st);
    /* 128 MiB, almost all zero: only non-zero pages are stored (the
     * program and the device tree), and RAM the host never backed is not
     * even looked at (when /proc/self/pagemap tells) */
    uint64_t *untouched = g_new(uint64_t, r.m->ram_size / 4096 / 64);
    uint64_t looked = r.m->ram_size / 4096;
    if (machine_ram_untouched(r.m, untouched))
        for (uint64_t w = 0; w < r.m->ram_size / 4096 / 64; w++)
            looked -= (uint64_t)__builtin_popcountll(untouched[w]);
    g_free(untouched);
    g_assert_cmpuint(st.last_take_dirty, ==, looked);
    g_assert_cmpuint(st.last_take_dirty, <, 64);
    g_assert_cmpuint(st.pages_held, <, 16);
    uint64_t held0 = st.pages_held;

    /* k pages touched: k pages copied, and no other */
    const int k = 100;
    touch_pages(&r, 1000, k, 0x5a);
    run_for(&r, 1);
    t0 = host_ns();
    int s1 = snapstore_take(s, 1);
    uint64_t take_ns = host_ns() - t0;
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_dirty, ==, k);
    g_assert_cmpuint(st.last_take_pages, ==, k);
    g_assert_cmpuint(st.pages_held, ==, held0 + k);

    /* nothing touched: nothing copied */
    run_for(&r, 1);
    int s2 = snapstore_take(s, 2);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_pages, ==, 0);
    g_assert_cmpint(s2, !=, s1);

    /* pages written back with the same bytes are shared, not copied */
    touch_pages(&r, 1000, 10, 0x5a);
    run_for(&r, 1);
    snapstore_take(s, 3);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_dirty, ==, 10);
    g_assert_cmpuint(st.last_take_pages, ==, 0);

    /* restore rewrites exactly the pages that differ */
    t0 = host_ns();
    g_assert_true(snapstore_restore(s, s0, NULL));
    uint64_t restore_ns = host_ns() - t0;
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_pages, ==, k);
    uint8_t b = 0xff;
    machine_phys_read(r.m, r.m->ram_base + 1000 * 4096 + 100, &b, 1);
    g_assert_cmpuint(b, ==, 0);

    g_assert_true(snapstore_restore(s, s1, NULL));
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_pages, ==, k);
    g_assert_true(snapstore_restore(s, s1, NULL));
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_pages, ==, 0);

    /* dirty pages since the restore are put back too */
    touch_pages(&r, 5000, 3, 0x77);
    g_assert_true(snapstore_restore(s, s2, NULL));
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_pages, ==, 3);

    /* the guest's stores: the store TLB must not let a page escape the
     * bitmap after a take (each iteration writes one of 64 data pages and
     * the code page) */
    setup_smc(&r);
    g_assert_true(machine_write_reg(r.m, 0, REG_PC, r.m->ram_base));
    snapstore_take(s, 4);
    run_for(&r, 64 * 15 + 20);
    snapstore_take(s, 4);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_dirty, ==, 65);
    run_for(&r, 64 * 15);
    snapstore_take(s, 5);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_dirty, ==, 65);
    g_assert_cmpuint(st.last_take_pages, ==, 65);

    /* steady state: 20 rounds of touching 100 pages and taking, then
     * restoring back and forth between two of them */
    uint64_t takes[20], restores[20];
    int ids[20];
    uint32_t spin = enc_jal(X0, 0);
    g_assert_true(machine_phys_write(r.m, r.m->ram_base + 0x3000, &spin, 4));
    g_assert_true(machine_write_reg(r.m, 0, REG_PC, r.m->ram_base + 0x3000));
    run_for(&r, 1);
    snapstore_take(s, 9);
    for (int i = 0; i < 20; i++) {
        touch_pages(&r, 3000 + (uint64_t)i * 11, k, (uint8_t)(i + 1));
        run_for(&r, 1);
        ids[i] = snapstore_take(s, 10);
        snapstore_stats(s, &st);
        g_assert_cmpuint(st.last_take_pages, ==, k);
        takes[i] = st.last_take_ns;
    }
    for (int i = 0; i < 20; i++) {
        g_assert_true(snapstore_restore(s, ids[i % 2 ? 19 : 18], NULL));
        snapstore_stats(s, &st);
        restores[i] = st.last_restore_ns;
    }
    qsort(takes, 20, sizeof takes[0], cmp_u64);
    qsort(restores, 20, sizeof restores[0], cmp_u64);
    g_test_message("128 MiB guest: first take %.3f ms (all pages scanned); take after "
                   "touching %d pages: first %.1f us, median of 20 %.1f us; restore of "
                   "%d pages: first %.1f us, median of 20 (%" G_GUINT64_FORMAT " pages) %.1f us",
                   first_ns / 1e6, k, take_ns / 1e3, takes[10] / 1e3, k, restore_ns / 1e3,
                   st.last_restore_pages, restores[10] / 1e3);
    /* generous bound, also under ASan */
    g_assert_cmpuint(take_ns, <, 20 * 1000 * 1000);

    snapstore_free(s);
    run_free(&r);
}

/* The store fast path and the page-table walker's A/D updates: a loop of
 * aligned stores to 64 pages, run once to fill the store TLB, then again
 * after a take (through the TLB, which the take must have dropped), then
 * through Sv39 translation (M-mode loads/stores with MPRV, MPP = S) whose
 * first store sets A and D in the page table. */
static void test_tracking(void)
{
    Run r;
    run_new(&r, NULL, 1);
    uint32_t p[] = {
        0x00001e37,                     /*  0: lui t3, 1 */
        enc_s(3, S0, T1, 0),            /*  4: loop: sd t1, 0(s0) */
        enc_r(0, 0, S0, S0, T3),        /*  8: add s0, s0, t3 */
        enc_i(0x13, 0, T2, T2, -1),     /* 12: addi t2, t2, -1 */
        0xfe039ae3,                     /* 16: bnez t2, loop */
        enc_jal(X0, 0),                 /* 20: j . */
    };
    Machine *m = r.m;
    g_assert_true(machine_phys_write(m, m->ram_base, p, sizeof p));
    SnapStore *s = snapstore_new(m, 0);
    SnapStats st;
    uint64_t data = m->ram_base + 0x100000;
    for (int pass = 1; pass <= 3; pass++) {
        if (pass == 3) {
            /* a gigapage mapping RAM with A = D = 0, root at +2 MiB */
            uint64_t root = m->ram_base + 0x200000;
            uint64_t pte = (m->ram_base >> 12) << 10 | 0xf;
            g_assert_true(machine_phys_write(m, root + 2 * 8, &pte, 8));
            g_assert_true(machine_write_reg(m, 0, REG_CSR0 + 0x180, 8ull << 60 | root >> 12));
            g_assert_true(machine_write_reg(m, 0, REG_CSR0 + 0x300, 1ull << 17 | 1ull << 11));
        }
        g_assert_true(machine_write_reg(m, 0, REG_PC, m->ram_base));
        g_assert_true(machine_write_reg(m, 0, S0, data));
        g_assert_true(machine_write_reg(m, 0, T1, (uint64_t)pass));
        g_assert_true(machine_write_reg(m, 0, T2, 64));
        snapstore_take(s, 0);
        run_for(&r, 1 + 64 * 4 + 1);
        snapstore_take(s, 0);
        snapstore_stats(s, &st);
        uint64_t want = pass == 3 ? 65 : 64;     /* + the page table */
        g_assert_cmpuint(st.last_take_dirty, ==, want);
        g_assert_cmpuint(st.last_take_pages, ==, want);
        uint64_t pte = 0;
        machine_phys_read(m, m->ram_base + 0x200000 + 16, &pte, 8);
        if (pass == 3)
            g_assert_cmphex(pte & 0xc0, ==, 0xc0);
    }
    snapstore_free(s);
    run_free(&r);
}

/* ---- disks ---- */

typedef struct Disk {
    BlockDev *b;
    uint8_t *model;         /* what the disk should read as */
    uint64_t size;
} Disk;

static void disk_write(Disk *d, uint64_t off, uint64_t len, uint8_t value)
{
    uint8_t *buf = g_malloc(len);
    memset(buf, value, len);
    char err[256];
    if (!block_write(d->b, off, buf, len, err, sizeof err))
        g_error("block_write: %s", err);
    memcpy(d->model + off, buf, len);
    g_free(buf);
}

static void disk_check(const Disk *d, const uint8_t *want)
{
    uint8_t *buf = g_malloc(d->size);
    char err[256];
    g_assert_true(block_read(d->b, 0, buf, d->size, err, sizeof err));
    for (uint64_t i = 0; i < d->size; i++)
        if (buf[i] != want[i])
            g_error("disk byte %#" G_GINT64_MODIFIER "x: got %#x, want %#x", i, buf[i], want[i]);
    g_free(buf);
}

static uint64_t dirty_count(const Disk *d)
{
    uint64_t n = 0;
    for (uint64_t pg = 0; pg < block_pages(d->b); pg++)
        n += (block_dirty_bitmap(d->b)[pg / 64] >> (pg % 64)) & 1;
    return n;
}

/* Two disks (raw images, writes kept in the overlay) in a machine: take,
 * write, take, write more, then restore either snapshot and the disks read
 * as they did then, pages written after a snapshot reverted and pages not
 * in its overlay removed from the overlay. */
static void test_disk(void)
{
    Run r;
    run_new(&r, NULL, 1);
    setup_spin(&r);
    char *dir = g_dir_make_tmp("rewind-snapdisk-XXXXXX", NULL);
    char *path = g_build_filename(dir, "disk.raw", NULL);
    uint64_t size = 1024 * 1024;
    uint8_t *base = g_malloc(size);
    for (uint64_t i = 0; i < size; i++)
        base[i] = (uint8_t)(i * 13 + i / 4096);
    g_assert_true(g_file_set_contents(path, (const char *)base, (gssize)size, NULL));
    Disk d[2];
    for (int i = 0; i < 2; i++) {
        char err[256];
        d[i].b = block_open(path, BLOCK_FORMAT_RAW, false, BLOCK_WRITE_OVERLAY, err, sizeof err);
        if (!d[i].b)
            g_error("block_open: %s", err);
        d[i].size = size;
        d[i].model = g_memdup2(base, size);
        mini_machine_attach_disk(r.m, d[i].b);
    }
    g_assert_cmpint(machine_ndisks(r.m), ==, 2);
    SnapStore *s = snapstore_new(r.m, 0);
    SnapStats st;

    /* written before the first take, which walks the overlay */
    disk_write(&d[0], 5 * 4096 + 100, 300, 0x01);
    run_for(&r, 1);
    int s1 = snapstore_take(s, 1);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_disk_pages, ==, 1);
    g_assert_cmpuint(dirty_count(&d[0]), ==, 0);
    uint8_t *state1[2] = { g_memdup2(d[0].model, size), g_memdup2(d[1].model, size) };

    /* page 5 again, 10 and 11 (a write across them), 20 all zeros, 7
     * rewritten with the bytes it had, and page 3 of the second disk */
    disk_write(&d[0], 5 * 4096, 10, 0x02);
    disk_write(&d[0], 10 * 4096 + 4000, 200, 0x03);
    disk_write(&d[0], 20 * 4096, 4096, 0x00);
    g_assert_true(block_write(d[0].b, 7 * 4096, base + 7 * 4096, 4096, NULL, 0));
    disk_write(&d[1], 3 * 4096 + 1, 1, 0x04);
    run_for(&r, 1);
    int s2 = snapstore_take(s, 2);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_disk_dirty, ==, 6);
    g_assert_cmpuint(st.last_take_disk_pages, ==, 6);
    SnapInfo info;
    g_assert_true(snapstore_get(s, s2, &info));
    g_assert_cmpuint(info.disk_pages_copied, ==, 6);
    uint8_t *state2[2] = { g_memdup2(d[0].model, size), g_memdup2(d[1].model, size) };

    /* more: new pages, pages of both snapshots, no take */
    disk_write(&d[0], 30 * 4096, 5000, 0x05);   /* pages 30, 31 */
    disk_write(&d[0], 5 * 4096, 4096, 0x06);
    disk_write(&d[0], 10 * 4096 + 4000, 10, 0x07);
    disk_write(&d[1], 60 * 4096, 1, 0x08);

    /* back to the first */
    g_assert_true(snapstore_restore(s, s1, NULL));
    snapstore_stats(s, &st);
    /* 5, 10, 11, 20, 7, 30, 31 and the second disk's 3 and 60 */
    g_assert_cmpuint(st.last_restore_disk_pages, ==, 9);
    for (int i = 0; i < 2; i++) {
        disk_check(&d[i], state1[i]);
        g_assert_cmpuint(dirty_count(&d[i]), ==, 0);
    }
    g_assert_cmpuint(block_overlay_count(d[0].b), ==, 1);
    g_assert_nonnull(block_overlay_page(d[0].b, 5));
    g_assert_null(block_overlay_page(d[0].b, 30));
    g_assert_cmpuint(block_overlay_count(d[1].b), ==, 0);

    /* to the second: the zero page and the rewritten one are in the
     * overlay again, the later pages are not */
    g_assert_true(snapstore_restore(s, s2, NULL));
    for (int i = 0; i < 2; i++)
        disk_check(&d[i], state2[i]);
    g_assert_cmpuint(block_overlay_count(d[0].b), ==, 5);
    const uint8_t *z = block_overlay_page(d[0].b, 20);
    g_assert_nonnull(z);
    for (int i = 0; i < 4096; i++)
        g_assert_cmpuint(z[i], ==, 0);
    g_assert_nonnull(block_overlay_page(d[0].b, 7));
    g_assert_null(block_overlay_page(d[0].b, 30));
    g_assert_cmpuint(block_overlay_count(d[1].b), ==, 1);
    g_assert_true(snapstore_restore(s, s2, NULL));
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_disk_pages, ==, 0);

    /* written since a restore, put back by the next one */
    disk_write(&d[1], 3 * 4096, 4096, 0x09);
    disk_write(&d[0], 40 * 4096, 1, 0x0a);
    g_assert_true(snapstore_restore(s, s2, NULL));
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_restore_disk_pages, ==, 2);
    for (int i = 0; i < 2; i++)
        disk_check(&d[i], state2[i]);

    /* the disk pages are in the accounts */
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.pages_held, >=, 4);     /* 5, 10, 11, 7, second disk's 3 */
    uint64_t bytes = st.bytes;
    disk_write(&d[0], 50 * 4096, 64 * 4096, 0x0b);
    run_for(&r, 1);
    snapstore_take(s, 3);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.bytes, >=, bytes + 64 * 4096);
    g_assert_true(snapstore_restore(s, s2, NULL));

    /* a new store on the same machine: its first take walks the whole
     * overlay (the bitmap was cleared by the old one) */
    snapstore_free(s);
    s = snapstore_new(r.m, 0);
    run_for(&r, 1);
    int t1 = snapstore_take(s, 0);
    snapstore_stats(s, &st);
    g_assert_cmpuint(st.last_take_disk_pages, ==, 6);
    disk_write(&d[0], 5 * 4096, 4096, 0x0c);
    disk_write(&d[0], 9 * 4096, 1, 0x0d);
    g_assert_true(snapstore_restore(s, t1, NULL));
    for (int i = 0; i < 2; i++)
        disk_check(&d[i], state2[i]);

    snapstore_free(s);
    mini_machine_close_disks(r.m);
    run_free(&r);
    for (int i = 0; i < 2; i++) {
        g_free(d[i].model);
        g_free(state1[i]);
        g_free(state2[i]);
    }
    g_free(base);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

/* ---- budget and thinning ---- */

static void test_budget(void)
{
    Run r;
    run_new(&r, NULL, 1);
    setup_smc(&r);
    SnapStore *s = snapstore_new(r.m, 0);
    int first = snapstore_take(s, 0);
    SnapStats st;
    snapstore_stats(s, &st);
    uint64_t base = st.bytes;
    /* each snapshot: 3 pages of its own */
    run_for(&r, 1000);
    touch_pages(&r, 2000, 3, 1);
    snapstore_take(s, 0);
    snapstore_stats(s, &st);
    uint64_t each = st.bytes - base;
    snapstore_set_budget(s, base + 10 * each + each / 2);

    int last = -1;
    for (int i = 0; i < 60; i++) {
        run_for(&r, 1000);
        touch_pages(&r, 2000 + (uint64_t)i * 30, 3, (uint8_t)(i + 2));
        last = snapstore_take(s, (uint64_t)i);
        snapstore_stats(s, &st);
        g_assert_cmpuint(st.bytes, <=, st.budget);
    }
    snapstore_stats(s, &st);
    g_assert_cmpint(st.count, <=, 12);
    g_assert_cmpint(st.count, >=, 5);
    g_assert_cmpuint(st.dropped, >, 0);
    SnapInfo info;
    g_assert_true(snapstore_info(s, 0, &info));
    g_assert_cmpint(info.id, ==, first);            /* the first is kept */
    g_assert_true(snapstore_info(s, st.count - 1, &info));
    g_assert_cmpint(info.id, ==, last);             /* and the newest */

    /* the survivors still restore to what they were */
    for (int i = 0; i < st.count; i++) {
        g_assert_true(snapstore_info(s, i, &info));
        g_assert_true(snapstore_restore(s, info.id, NULL));
        g_assert_cmpuint(machine_icount(r.m), ==, info.icount);
    }
    snapstore_free(s);
    run_free(&r);
}

static void test_focus(void)
{
    Run r;
    run_new(&r, NULL, 1);
    setup_smc(&r);
    SnapStore *s = snapstore_new(r.m, 0);
    snapstore_take(s, 0);
    int pinned = -1;
    for (int i = 1; i <= 100; i++) {
        run_for(&r, 1000);
        int id = snapstore_take(s, 0);
        if (i == 20) {
            pinned = id;
            snapstore_set_pinned(s, id, true);
        }
    }
    g_assert_cmpint(snapstore_count(s), ==, 101);
    g_assert_cmpint(snapstore_find(s, 50500), ==, snapstore_find(s, 50000));
    SnapInfo info;
    g_assert_true(snapstore_get(s, snapstore_find(s, 50999), &info));
    g_assert_cmpuint(info.icount, ==, 50000);
    g_assert_cmpint(snapstore_find(s, 0), >, 0);

    /* shrink to about 15 snapshots, dense near icount 90000 */
    snapstore_set_focus(s, 90000);
    SnapStats st;
    snapstore_stats(s, &st);
    uint64_t per = st.bytes / 101;
    snapstore_set_budget(s, st.bytes - 86 * per);
    snapstore_stats(s, &st);
    g_assert_cmpint(st.count, <=, 20);
    g_assert_true(snapstore_info(s, 0, &info));
    g_assert_cmpuint(info.icount, ==, 0);           /* the first is kept */
    g_assert_true(snapstore_get(s, pinned, &info)); /* so is the pinned one */
    /* gaps grow with the distance from the focus */
    uint64_t near_gap = UINT64_MAX, far_gap = 0;
    for (int i = 1; i < st.count; i++) {
        SnapInfo a, b;
        snapstore_info(s, i - 1, &a);
        snapstore_info(s, i, &b);
        uint64_t gap = b.icount - a.icount;
        uint64_t mid = (a.icount + b.icount) / 2;
        if (mid >= 80000 && mid <= 100000 && gap < near_gap)
            near_gap = gap;
        if (mid <= 40000 && gap > far_gap)
            far_gap = gap;
        g_test_message("kept %" G_GUINT64_FORMAT, b.icount);
    }
    g_assert_cmpuint(near_gap, <=, 2000);
    g_assert_cmpuint(far_gap, >=, 8 * near_gap);
    snapstore_free(s);
    run_free(&r);
}


/* ---- snapshots in a file (snapshot_file.c) ---- */

/* The state of r as an Image, and whether r still has it. */
static bool image_equal(Run *r, const Image *img)
{
    MachineState *now = machine_state_save(r->m);
    bool same = machine_icount(r->m) == img->icount &&
                machine_state_size(now) == machine_state_size(img->state) &&
                memcmp(now, img->state, machine_state_size(now)) == 0 &&
                memcmp(r->m->ram, img->ram, r->m->ram_size) == 0;
    machine_state_free(now);
    return same;
}

static void test_file(void)
{
    Run a, b;
    if (!run_new(&a, "memwalk.elf", 2))
        return;
    run_new(&b, "memwalk.elf", 2);
    char *dir = g_dir_make_tmp("snapfile-XXXXXX", NULL);
    char *path = g_build_filename(dir, "s.qcow2", NULL);
    char err[768];
    SnapFile *f = snapfile_create(path, err, sizeof err);
    g_assert_nonnull(f);
    /* tracked saves along one run, each with its position bytes */
    enum { N = 5 };
    Image img[N];
    for (int k = 0; k < N; k++) {
        if (k)
            run_for(&a, 700000);
        image_take(&a, &img[k]);
        uint64_t pos[2] = { 1000 + (uint64_t)k, 42 };
        char name[16];
        snprintf(name, sizeof name, "s%d", k);
        g_assert_cmpint(snapfile_save(f, a.m, name, pos, sizeof pos, true, err, sizeof err),
                        ==, k);
    }
    g_assert_true(snapfile_close(f, err, sizeof err));

    /* loads in any order, tracked or not, onto a machine that ran elsewhere */
    f = snapfile_open(path, false, err, sizeof err);
    g_assert_nonnull(f);
    g_assert_cmpint(snapfile_count(f), ==, N);
    g_assert_cmpint(snapfile_find_before(f, 1500000), ==, 2);
    run_for(&b, 123456);
    const int order[] = { 3, 0, 4, 1, 2, 2, 0 };
    for (unsigned i = 0; i < G_N_ELEMENTS(order); i++) {
        int k = order[i];
        uint8_t pos[SNAPFILE_POS_MAX];
        size_t len = 0;
        g_assert_true(snapfile_load(f, k, b.m, pos, &len, i % 2, err, sizeof err));
        g_assert_cmpuint(len, ==, 16);
        uint64_t p0;
        memcpy(&p0, pos, 8);
        g_assert_cmpuint(p0, ==, 1000 + (uint64_t)k);
        g_string_assign(b.out, img[k].out);
        assert_same(&b, &img[k]);
        /* and runs on exactly as the original did */
        if (k + 1 < N) {
            run_for(&b, 700000);
            g_string_assign(b.out, img[k + 1].out);
            assert_same(&b, &img[k + 1]);
        }
    }
    snapfile_close(f, NULL, 0);

    /* damage: a load either succeeds exactly or changes nothing */
    struct stat st;
    g_assert_cmpint(stat(path, &st), ==, 0);
    FILE *fp = fopen(path, "r+b");
    g_assert_nonnull(fp);
    for (off_t off = st.st_size / 3; off < st.st_size; off += 4096 * 5) {
        fseeko(fp, off + 777, SEEK_SET);
        int c = fgetc(fp);
        fseeko(fp, off + 777, SEEK_SET);
        fputc(c ^ 0x41, fp);
    }
    fclose(fp);
    f = snapfile_open(path, false, err, sizeof err);
    g_assert_nonnull(f);
    int failed = 0;
    for (int k = N - 1; k >= 0; k--) {
        Image before;
        image_take(&b, &before);
        uint8_t pos[SNAPFILE_POS_MAX];
        size_t len;
        if (snapfile_load(f, k, b.m, pos, &len, false, err, sizeof err)) {
            g_string_assign(b.out, img[k].out);
            assert_same(&b, &img[k]);
        } else {
            failed++;
            g_test_message("snapshot %d: %s", k, err);
            g_assert_nonnull(strstr(err, "s.qcow2"));
            g_assert_true(image_equal(&b, &before));
        }
        image_free(&before);
    }
    g_assert_cmpint(failed, >, 0);
    snapfile_close(f, NULL, 0);

    for (int k = 0; k < N; k++)
        image_free(&img[k]);
    run_free(&a);
    run_free(&b);
    unlink(path);
    rmdir(dir);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    snprintf(guest_dir, sizeof guest_dir, "%s/../guests", dirname(exe));

    g_test_add_func("/snapshots/incremental", test_incremental);
    g_test_add_func("/snapshots/tracking", test_tracking);
    g_test_add_func("/snapshots/disk", test_disk);
    g_test_add_func("/snapshots/budget", test_budget);
    g_test_add_func("/snapshots/focus", test_focus);
    g_test_add_func("/snapshots/self_modifying", test_self_modifying);
    g_test_add_func("/snapshots/timer", test_timer);
    g_test_add_func("/snapshots/uart", test_uart);
    g_test_add_func("/snapshots/paging", test_paging);
    g_test_add_func("/snapshots/smp", test_smp);
    g_test_add_func("/snapshots/file", test_file);
    return g_test_run();
}
