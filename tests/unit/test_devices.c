/* Unit tests of the board and its devices: each device is driven through
 * its MMIO handlers, as the CPU would, and checked against the behaviour
 * of QEMU 7.2's virt machine. */
#include "devices.h"

#include <glib.h>
#include <libfdt.h>
#include <string.h>

static Machine *new_machine(int smp)
{
    MachineConfig cfg;
    machine_config_defaults(&cfg);
    cfg.bios = "none";
    cfg.smp = smp;
    cfg.serial = SERIAL_NULL;
    char err[256];
    Machine *m = machine_new(&cfg, err, sizeof err);
    if (!m)
        g_error("machine_new: %s", err);
    return m;
}

static const MmioRegion *region_at(Machine *m, uint64_t base)
{
    for (int i = 0; i < m->n_mmio; i++)
        if (m->mmio[i].base == base)
            return &m->mmio[i];
    g_error("no MMIO region at 0x%" G_GINT64_MODIFIER "x", base);
    return NULL;
}

static uint64_t rd(Machine *m, uint64_t addr, unsigned size)
{
    for (int i = 0; i < m->n_mmio; i++) {
        const MmioRegion *r = &m->mmio[i];
        if (addr >= r->base && addr - r->base < r->size) {
            uint64_t v = 0;
            g_assert_true(r->read(r->opaque, addr - r->base, size, &v));
            return v;
        }
    }
    g_error("no device at 0x%" G_GINT64_MODIFIER "x", addr);
    return 0;
}

static void wr(Machine *m, uint64_t addr, unsigned size, uint64_t val)
{
    for (int i = 0; i < m->n_mmio; i++) {
        const MmioRegion *r = &m->mmio[i];
        if (addr >= r->base && addr - r->base < r->size) {
            g_assert_true(r->write(r->opaque, addr - r->base, size, val));
            return;
        }
    }
    g_error("no device at 0x%" G_GINT64_MODIFIER "x", addr);
}

/* ---- boot ROM ---- */

static void test_reset_vector(void)
{
    Machine *m = new_machine(1);
    /* Words read from QEMU 7.2 with `xp /22wx 0x1000` (-bios none). */
    const uint32_t expect[] = {
        0x00000297, 0x02828613, 0xf1402573, 0x0202b583, 0x0182b283, 0x00028067,
        0x80000000, 0x00000000, 0x87e00000, 0x00000000,
        0x4942534f, 0x00000000, 0x00000002, 0x00000000,
        0x00000000, 0x00000000, 0x00000001, 0x00000000,
    };
    g_assert_cmpmem(m->rom, sizeof expect, expect, sizeof expect);
    g_assert_cmphex(m->fdt_addr, ==, 0x87e00000);
    for (int i = 0; i < m->nharts; i++)
        g_assert_cmphex(m->harts[i]->pc, ==, 0x1000);
    machine_free(m);
}

/* ---- CLINT ---- */

static void test_clint(void)
{
    Machine *m = new_machine(2);
    Hart *h0 = m->harts[0], *h1 = m->harts[1];
    /* QEMU 7.2: mtimecmp resets to 0, so MTIP is pending at power-on. */
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 0x4000, 8), ==, 0);
    g_assert_true(h0->mip & MIP_MTIP);
    g_assert_true(h1->mip & MIP_MTIP);

    wr(m, VIRT_CLINT_BASE + 0x4008, 8, UINT64_MAX);
    g_assert_false(h1->mip & MIP_MTIP);
    g_assert_true(h0->mip & MIP_MTIP);
    g_assert_cmphex(clint_mtimecmp(m->clint, 1), ==, UINT64_MAX);

    /* 32-bit halves. */
    wr(m, VIRT_CLINT_BASE + 0x4000, 4, 0xffffffff);
    wr(m, VIRT_CLINT_BASE + 0x4004, 4, 0x12345678);
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 0x4000, 8), ==, 0x12345678ffffffffull);
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 0x4004, 4), ==, 0x12345678);
    g_assert_false(h0->mip & MIP_MTIP);

    /* msip */
    wr(m, VIRT_CLINT_BASE + 4, 4, 1);
    g_assert_true(h1->mip & MIP_MSIP);
    g_assert_false(h0->mip & MIP_MSIP);
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 4, 4), ==, 1);
    wr(m, VIRT_CLINT_BASE + 4, 4, 0);
    g_assert_false(h1->mip & MIP_MSIP);

    /* mtime follows the instruction count; writes move it. */
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 0xbff8, 8), ==, machine_mtime(m));
    wr(m, VIRT_CLINT_BASE + 0xbff8, 8, 1000);
    g_assert_cmphex(rd(m, VIRT_CLINT_BASE + 0xbff8, 8), ==, 1000);
    wr(m, VIRT_CLINT_BASE + 0x4000, 8, 1500);
    g_assert_false(h0->mip & MIP_MTIP);
    g_assert_cmphex(clint_mtimecmp(m->clint, 0), ==, 1500 - 1000 + machine_mtime(m));
    wr(m, VIRT_CLINT_BASE + 0xbff8, 8, 2000);
    g_assert_true(h0->mip & MIP_MTIP);

    /* Bad sizes fault. */
    const MmioRegion *r = region_at(m, VIRT_CLINT_BASE);
    uint64_t v;
    g_assert_false(r->read(r->opaque, 0, 8, &v));
    g_assert_false(r->read(r->opaque, 0x4000, 2, &v));
    g_assert_false(r->write(r->opaque, 0x4002, 4, 0));
    machine_free(m);
}

/* ---- PLIC ---- */

#define PLIC_PRIO(s) (VIRT_PLIC_BASE + 4 * (s))
#define PLIC_PENDING (VIRT_PLIC_BASE + 0x1000)
#define PLIC_ENABLE(c) (VIRT_PLIC_BASE + 0x2000 + 0x80 * (c))
#define PLIC_THRESHOLD(c) (VIRT_PLIC_BASE + 0x200000 + 0x1000 * (c))
#define PLIC_CLAIM(c) (PLIC_THRESHOLD(c) + 4)

static void test_plic(void)
{
    Machine *m = new_machine(1);
    Hart *h = m->harts[0];
    wr(m, PLIC_PRIO(5), 4, 3);
    wr(m, PLIC_PRIO(7), 4, 9);      /* masked to 3 bits */
    g_assert_cmpuint(rd(m, PLIC_PRIO(7), 4), ==, 1);
    wr(m, PLIC_ENABLE(1), 4, (1u << 5) | (1u << 7));   /* S context */

    plic_set_irq(m->plic, 5, true);
    g_assert_cmphex(rd(m, PLIC_PENDING, 4), ==, 1u << 5);
    g_assert_true(h->mip & MIP_SEIP);
    g_assert_false(h->mip & MIP_MEIP);

    /* threshold masks priorities at or below it */
    wr(m, PLIC_THRESHOLD(1), 4, 3);
    g_assert_false(h->mip & MIP_SEIP);
    wr(m, PLIC_THRESHOLD(1), 4, 0);
    g_assert_true(h->mip & MIP_SEIP);

    /* highest priority first */
    plic_set_irq(m->plic, 7, true);
    g_assert_cmpuint(rd(m, PLIC_CLAIM(1), 4), ==, 5);
    g_assert_cmphex(rd(m, PLIC_PENDING, 4), ==, 1u << 7);
    g_assert_cmpuint(rd(m, PLIC_CLAIM(1), 4), ==, 7);
    g_assert_false(h->mip & MIP_SEIP);
    g_assert_cmpuint(rd(m, PLIC_CLAIM(1), 4), ==, 0);

    /* level-triggered: still high at completion -> pending again */
    wr(m, PLIC_CLAIM(1), 4, 5);
    g_assert_true(h->mip & MIP_SEIP);
    g_assert_cmpuint(rd(m, PLIC_CLAIM(1), 4), ==, 5);
    plic_set_irq(m->plic, 5, false);
    wr(m, PLIC_CLAIM(1), 4, 5);
    plic_set_irq(m->plic, 7, false);
    wr(m, PLIC_CLAIM(1), 4, 7);
    g_assert_false(h->mip & MIP_SEIP);
    g_assert_cmphex(rd(m, PLIC_PENDING, 4), ==, 0);

    /* a line dropped before the claim is no longer pending (as QEMU) */
    plic_set_irq(m->plic, 5, true);
    plic_set_irq(m->plic, 5, false);
    g_assert_false(h->mip & MIP_SEIP);
    machine_free(m);
}

/* ---- UART ---- */

static GString *uart_out;

static void capture(void *opaque, uint8_t b)
{
    (void)opaque;
    g_string_append_c(uart_out, (char)b);
}

#define UART(r) (VIRT_UART0_BASE + (r))

static void test_uart(void)
{
    Machine *m = new_machine(1);
    Hart *h = m->harts[0];
    uart_out = g_string_new(NULL);
    uart_set_output(m->uart, capture, NULL);

    g_assert_cmphex(rd(m, UART(5), 1), ==, 0x60);     /* THRE | TEMT */
    g_assert_cmphex(rd(m, UART(2), 1), ==, 0x01);     /* no interrupt */
    wr(m, UART(0), 1, 'h');
    wr(m, UART(0), 1, 'i');
    g_assert_cmpstr(uart_out->str, ==, "hi");

    /* divisor latch */
    wr(m, UART(3), 1, 0x83);
    wr(m, UART(0), 1, 0x34);
    wr(m, UART(1), 1, 0x12);
    g_assert_cmphex(rd(m, UART(0), 1), ==, 0x34);
    g_assert_cmphex(rd(m, UART(1), 1), ==, 0x12);
    wr(m, UART(3), 1, 0x03);
    g_assert_cmphex(rd(m, UART(1), 1), ==, 0);
    g_assert_cmpstr(uart_out->str, ==, "hi");

    /* route irq 10 to the M context */
    wr(m, PLIC_PRIO(VIRT_UART0_IRQ), 4, 1);
    wr(m, PLIC_ENABLE(0), 4, 1u << VIRT_UART0_IRQ);

    /* THR empty interrupt: raised by enabling ETBEI, acked by IIR read */
    wr(m, UART(1), 1, 0x02);
    g_assert_true(h->mip & MIP_MEIP);
    g_assert_cmpuint(rd(m, PLIC_CLAIM(0), 4), ==, VIRT_UART0_IRQ);
    g_assert_false(h->mip & MIP_MEIP);
    g_assert_cmphex(rd(m, UART(2), 1), ==, 0x02);
    g_assert_cmphex(rd(m, UART(2), 1), ==, 0x01);
    wr(m, PLIC_CLAIM(0), 4, VIRT_UART0_IRQ);
    g_assert_false(h->mip & MIP_MEIP);
    wr(m, UART(1), 1, 0x00);

    /* receive with the FIFO on */
    wr(m, UART(2), 1, 0x07);
    g_assert_cmphex(rd(m, UART(2), 1) & 0xc0, ==, 0xc0);
    wr(m, UART(1), 1, 0x01);
    for (int i = 0; i < 16; i++) {
        g_assert_true(uart_rx_ready(m->uart));
        uart_rx_push(m->uart, (uint8_t)('a' + i));
    }
    g_assert_false(uart_rx_ready(m->uart));
    g_assert_true(h->mip & MIP_MEIP);
    g_assert_cmphex(rd(m, UART(2), 1) & 0x0f, ==, 0x04);
    g_assert_cmphex(rd(m, UART(5), 1) & 1, ==, 1);
    for (int i = 0; i < 16; i++)
        g_assert_cmphex(rd(m, UART(0), 1), ==, 'a' + i);
    g_assert_cmphex(rd(m, UART(5), 1) & 1, ==, 0);
    g_assert_cmphex(rd(m, UART(2), 1) & 0x0f, ==, 0x01);
    /* the PLIC still holds the claimable request until the line drops; it
     * did, so nothing is pending any more */
    g_assert_false(h->mip & MIP_MEIP);

    /* without the FIFO: one byte of room */
    wr(m, UART(2), 1, 0x00);
    uart_rx_push(m->uart, 'x');
    g_assert_false(uart_rx_ready(m->uart));

    /* scratch and loopback */
    wr(m, UART(7), 1, 0x5a);
    g_assert_cmphex(rd(m, UART(7), 1), ==, 0x5a);
    rd(m, UART(0), 1);
    wr(m, UART(4), 1, 0x10 | 0x02);             /* LOOP | RTS */
    g_assert_cmphex(rd(m, UART(6), 1) & 0xf0, ==, 0x10);   /* CTS */
    wr(m, UART(0), 1, 'L');
    g_assert_cmphex(rd(m, UART(0), 1), ==, 'L');
    g_assert_cmpstr(uart_out->str, ==, "hi");
    g_string_free(uart_out, TRUE);
    machine_free(m);
}

/* ---- RTC ---- */

#define RTC(r) (VIRT_RTC_BASE + (r))

static void test_rtc(void)
{
    Machine *m = new_machine(1);
    uint64_t host = rtc_host_clock_ns();
    uint64_t lo = rd(m, RTC(0), 4);
    uint64_t hi = rd(m, RTC(4), 4);
    uint64_t t = hi << 32 | lo;
    /* virtual time has not moved: the RTC is the host clock at start */
    g_assert_cmpuint(t, <=, host);
    g_assert_cmpuint(host - t, <, 60ull * 1000000000);

    /* setting the time */
    wr(m, RTC(4), 4, 0);
    wr(m, RTC(0), 4, 1000);
    g_assert_cmpuint(rd(m, RTC(0), 4), ==, 1000);
    g_assert_cmpuint(rd(m, RTC(4), 4), ==, 0);

    /* an alarm in the past fires at once; irq gated by IRQ_ENABLED */
    wr(m, PLIC_PRIO(VIRT_RTC_IRQ), 4, 1);
    wr(m, PLIC_ENABLE(0), 4, 1u << VIRT_RTC_IRQ);
    wr(m, RTC(0x0c), 4, 0);
    wr(m, RTC(0x08), 4, 500);
    g_assert_cmpuint(rd(m, RTC(0x18), 4), ==, 0);
    g_assert_false(m->harts[0]->mip & MIP_MEIP);
    wr(m, RTC(0x10), 4, 1);
    g_assert_true(m->harts[0]->mip & MIP_MEIP);
    wr(m, RTC(0x1c), 4, 1);
    g_assert_false(m->harts[0]->mip & MIP_MEIP);

    /* a future alarm stays armed; its deadline is in virtual ns */
    wr(m, RTC(0x08), 4, 1000 + 5000);
    g_assert_cmpuint(rd(m, RTC(0x18), 4), ==, 1);
    g_assert_cmpuint(rtc_alarm_deadline_ns(m->rtc), ==, 5000);
    wr(m, RTC(0x14), 4, 1);
    g_assert_cmpuint(rd(m, RTC(0x18), 4), ==, 0);
    g_assert_cmpuint(rtc_alarm_deadline_ns(m->rtc), ==, UINT64_MAX);
    machine_free(m);
}

/* ---- finisher ---- */

static void test_finisher(void)
{
    Machine *m = new_machine(1);
    wr(m, VIRT_TEST_BASE, 4, 0x1234);       /* ignored */
    g_assert_false(m->exit_requested);
    wr(m, VIRT_TEST_BASE, 4, 0x3333 | (7 << 16));
    g_assert_true(m->exit_requested);
    g_assert_cmpint(machine_exit_code(m), ==, 7);
    machine_free(m);

    m = new_machine(1);
    wr(m, VIRT_TEST_BASE, 4, 0x5555);
    g_assert_true(m->exit_requested);
    g_assert_cmpint(machine_exit_code(m), ==, 0);
    machine_free(m);
}

/* ---- device tree ---- */

static void test_fdt(void)
{
    MachineConfig cfg;
    machine_config_defaults(&cfg);
    cfg.bios = "none";
    cfg.smp = 3;
    cfg.ram_size = 256ull << 20;
    cfg.append = "console=ttyS0";
    cfg.serial = SERIAL_NULL;
    char err[256];
    Machine *m = machine_new(&cfg, err, sizeof err);
    g_assert_nonnull(m);
    void *fdt = m->fdt;
    g_assert_cmpint(fdt_check_header(fdt), ==, 0);

    int chosen = fdt_path_offset(fdt, "/chosen");
    g_assert_cmpint(chosen, >=, 0);
    g_assert_cmpstr(fdt_getprop(fdt, chosen, "bootargs", NULL), ==, "console=ttyS0");
    g_assert_cmpstr(fdt_getprop(fdt, chosen, "stdout-path", NULL), ==, "/soc/serial@10000000");

    int mem = fdt_path_offset(fdt, "/memory@80000000");
    int len;
    const fdt32_t *reg = fdt_getprop(fdt, mem, "reg", &len);
    g_assert_cmpint(len, ==, 16);
    g_assert_cmphex(fdt32_to_cpu(reg[3]), ==, 256u << 20);

    /* phandles as QEMU numbers them: last cpu first */
    int cpu0 = fdt_path_offset(fdt, "/cpus/cpu@0");
    int cpu2 = fdt_path_offset(fdt, "/cpus/cpu@2");
    g_assert_cmpuint(fdt_get_phandle(fdt, cpu2), ==, 1);
    g_assert_cmpuint(fdt_get_phandle(fdt, cpu0), ==, 5);
    g_assert_cmpuint(fdt_get_phandle(fdt, fdt_path_offset(fdt, "/soc/plic@c000000")), ==, 7);
    g_assert_cmpuint(fdt_get_phandle(fdt, fdt_path_offset(fdt, "/soc/test@100000")), ==, 8);
    g_assert_cmpstr(fdt_getprop(fdt, cpu0, "riscv,isa", NULL), ==, "rv64imafdc_zicsr_zifencei");
    g_assert_cmpstr(fdt_getprop(fdt, cpu0, "mmu-type", NULL), ==, "riscv,sv48");
    const fdt32_t *tb = fdt_getprop(fdt, fdt_path_offset(fdt, "/cpus"), "timebase-frequency", NULL);
    g_assert_cmpuint(fdt32_to_cpu(*tb), ==, 10000000);

    int n = 0;
    for (int off = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); off >= 0;
         off = fdt_node_offset_by_compatible(fdt, off, "virtio,mmio"))
        n++;
    g_assert_cmpint(n, ==, 8);

    /* the blob in RAM is the same one */
    g_assert_cmphex(m->fdt_addr, ==, 0x8fe00000);
    uint8_t *p = machine_phys_ptr(m, m->fdt_addr, m->fdt_size);
    g_assert_cmpmem(p, m->fdt_size, m->fdt, m->fdt_size);
    machine_free(m);
}

/* ---- loader errors ---- */

static void test_loader_errors(void)
{
    MachineConfig cfg;
    machine_config_defaults(&cfg);
    cfg.bios = "none";
    cfg.kernel = "/nonexistent/kernel";
    cfg.serial = SERIAL_NULL;
    char err[256];
    g_assert_null(machine_new(&cfg, err, sizeof err));
    g_assert_cmpstr(err, ==, "-kernel /nonexistent/kernel: No such file or directory");

    cfg.kernel = "/proc/self/exe";  /* an x86-64 ELF */
    g_assert_null(machine_new(&cfg, err, sizeof err));
    g_assert_nonnull(strstr(err, "not a RISC-V ELF"));

    cfg.kernel = NULL;
    cfg.smp = 9;
    g_assert_null(machine_new(&cfg, err, sizeof err));
    g_assert_nonnull(strstr(err, "-smp 9"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/devices/reset-vector", test_reset_vector);
    g_test_add_func("/devices/clint", test_clint);
    g_test_add_func("/devices/plic", test_plic);
    g_test_add_func("/devices/uart", test_uart);
    g_test_add_func("/devices/rtc", test_rtc);
    g_test_add_func("/devices/finisher", test_finisher);
    g_test_add_func("/devices/fdt", test_fdt);
    g_test_add_func("/devices/loader-errors", test_loader_errors);
    return g_test_run();
}
