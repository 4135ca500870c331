/* The device tree of the virt board, built with libfdt's sequential-write
 * API. It reproduces the nodes, properties and phandle numbers QEMU 7.2
 * generates for `-machine virt` (compare with `-machine virt,dumpdtb=F`),
 * minus the devices Rewind does not model: no PCI host, flash, fw-cfg,
 * platform bus or PMU node, and no random /chosen/rng-seed (it would make
 * the guest's memory differ from run to run for no benefit).
 *
 * Nodes are emitted in the order QEMU's dump shows them (QEMU adds nodes
 * at the front of their parent, so its order is the reverse of creation);
 * matching it keeps `dtc -O dts` diffs against QEMU readable. */
#include "devices.h"

#include <glib.h>
#include <inttypes.h>
#include <libfdt.h>
#include <string.h>

/* riscv,isa: what the CPU implements. QEMU 7.2 says
 * "rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc"; we have
 * no H, bitmanip or Sstc, and advertising them would make Linux use them. */
#define VIRT_ISA_STRING "rv64imafdc_zicsr_zifencei"
/* QEMU's default for rv64 is sv57 off / sv48; we implement sv39 and sv48. */
#define VIRT_MMU_TYPE "riscv,sv48"
#define VIRT_UART_CLOCK 0x384000    /* 3.6864 MHz, as QEMU */

/* Sequential writes stop at the first error; ok() keeps the code flat. */
typedef struct FdtWriter {
    void *fdt;
    int err;
    const char *what;
} FdtWriter;

static void ck(FdtWriter *w, int r, const char *what)
{
    if (r < 0 && w->err == 0) {
        w->err = r;
        w->what = what;
    }
}

static void begin(FdtWriter *w, const char *name)
{
    ck(w, fdt_begin_node(w->fdt, name), name);
}

static void end(FdtWriter *w)
{
    ck(w, fdt_end_node(w->fdt), "end node");
}

static void prop_u32(FdtWriter *w, const char *name, uint32_t v)
{
    ck(w, fdt_property_u32(w->fdt, name, v), name);
}

static void prop_str(FdtWriter *w, const char *name, const char *s)
{
    ck(w, fdt_property_string(w->fdt, name, s), name);
}

/* A string list: pass the literal with embedded NULs and its sizeof. */
static void prop_strs(FdtWriter *w, const char *name, const char *s, size_t len)
{
    ck(w, fdt_property(w->fdt, name, s, (int)len), name);
}

static void prop_empty(FdtWriter *w, const char *name)
{
    ck(w, fdt_property(w->fdt, name, NULL, 0), name);
}

static void prop_cells(FdtWriter *w, const char *name, const uint32_t *cells, int n)
{
    fdt32_t be[64];
    g_assert(n <= 64);
    for (int i = 0; i < n; i++)
        be[i] = cpu_to_fdt32(cells[i]);
    ck(w, fdt_property(w->fdt, name, be, n * (int)sizeof(fdt32_t)), name);
}

/* reg = <base size> with #address-cells = #size-cells = 2. */
static void prop_reg(FdtWriter *w, uint64_t base, uint64_t size)
{
    uint32_t c[4] = { (uint32_t)(base >> 32), (uint32_t)base,
                      (uint32_t)(size >> 32), (uint32_t)size };
    prop_cells(w, "reg", c, 4);
}

/* QEMU numbers phandles while creating the CPUs from the last to the
 * first (cpu, then its interrupt controller), then the PLIC, then the test
 * device. */
static uint32_t ph_cpu(int n, int i)  { return (uint32_t)(2 * (n - 1 - i) + 1); }
static uint32_t ph_intc(int n, int i) { return (uint32_t)(2 * (n - 1 - i) + 2); }
static uint32_t ph_plic(int n)        { return (uint32_t)(2 * n + 1); }
static uint32_t ph_test(int n)        { return (uint32_t)(2 * n + 2); }

static void syscon_node(FdtWriter *w, const char *name, const char *compat,
                        uint32_t value, int n)
{
    begin(w, name);
    prop_u32(w, "value", value);
    prop_u32(w, "offset", 0);
    prop_u32(w, "regmap", ph_test(n));
    prop_str(w, "compatible", compat);
    end(w);
}

static void cpus_node(FdtWriter *w, int n)
{
    char name[32];
    begin(w, "cpus");
    prop_u32(w, "#address-cells", 1);
    prop_u32(w, "#size-cells", 0);
    prop_u32(w, "timebase-frequency", (uint32_t)TIMEBASE_FREQ);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "cpu@%d", i);
        begin(w, name);
        prop_u32(w, "phandle", ph_cpu(n, i));
        prop_str(w, "device_type", "cpu");
        prop_u32(w, "reg", (uint32_t)i);
        prop_str(w, "status", "okay");
        prop_str(w, "compatible", "riscv");
        prop_str(w, "riscv,isa", VIRT_ISA_STRING);
        prop_str(w, "mmu-type", VIRT_MMU_TYPE);
        begin(w, "interrupt-controller");
        prop_u32(w, "#interrupt-cells", 1);
        prop_empty(w, "interrupt-controller");
        prop_str(w, "compatible", "riscv,cpu-intc");
        prop_u32(w, "phandle", ph_intc(n, i));
        end(w);
        end(w);
    }
    begin(w, "cpu-map");
    begin(w, "cluster0");
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "core%d", i);
        begin(w, name);
        prop_u32(w, "cpu", ph_cpu(n, i));
        end(w);
    }
    end(w);
    end(w);
    end(w);
}

/* interrupts-extended of the CLINT/PLIC: for each hart, its intc with the
 * M-mode cause, then with the S-mode cause. */
static void prop_irqs_ext(FdtWriter *w, int n, uint32_t m_cause, uint32_t s_cause)
{
    uint32_t c[4 * REWIND_MAX_HARTS];
    for (int i = 0; i < n; i++) {
        c[4 * i + 0] = ph_intc(n, i);
        c[4 * i + 1] = m_cause;
        c[4 * i + 2] = ph_intc(n, i);
        c[4 * i + 3] = s_cause;
    }
    prop_cells(w, "interrupts-extended", c, 4 * n);
}

static void soc_node(FdtWriter *w, int n)
{
    char name[64];
    begin(w, "soc");
    prop_u32(w, "#address-cells", 2);
    prop_u32(w, "#size-cells", 2);
    prop_str(w, "compatible", "simple-bus");
    prop_empty(w, "ranges");

    snprintf(name, sizeof name, "rtc@%" PRIx64, (uint64_t)VIRT_RTC_BASE);
    begin(w, name);
    prop_u32(w, "interrupts", VIRT_RTC_IRQ);
    prop_u32(w, "interrupt-parent", ph_plic(n));
    prop_reg(w, VIRT_RTC_BASE, VIRT_RTC_SIZE);
    prop_str(w, "compatible", "google,goldfish-rtc");
    end(w);

    snprintf(name, sizeof name, "serial@%" PRIx64, (uint64_t)VIRT_UART0_BASE);
    begin(w, name);
    prop_u32(w, "interrupts", VIRT_UART0_IRQ);
    prop_u32(w, "interrupt-parent", ph_plic(n));
    prop_u32(w, "clock-frequency", VIRT_UART_CLOCK);
    prop_reg(w, VIRT_UART0_BASE, VIRT_UART0_SIZE);
    prop_str(w, "compatible", "ns16550a");
    end(w);

    snprintf(name, sizeof name, "test@%" PRIx64, (uint64_t)VIRT_TEST_BASE);
    begin(w, name);
    prop_u32(w, "phandle", ph_test(n));
    prop_reg(w, VIRT_TEST_BASE, VIRT_TEST_SIZE);
    static const char test_compat[] = "sifive,test1\0sifive,test0\0syscon";
    prop_strs(w, "compatible", test_compat, sizeof test_compat);
    end(w);

    for (int i = VIRT_VIRTIO_COUNT - 1; i >= 0; i--) {
        uint64_t base = VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE;
        snprintf(name, sizeof name, "virtio_mmio@%" PRIx64, base);
        begin(w, name);
        prop_u32(w, "interrupts", (uint32_t)(VIRT_VIRTIO_IRQ + i));
        prop_u32(w, "interrupt-parent", ph_plic(n));
        prop_reg(w, base, VIRT_VIRTIO_SIZE);
        prop_str(w, "compatible", "virtio,mmio");
        end(w);
    }

    snprintf(name, sizeof name, "plic@%" PRIx64, (uint64_t)VIRT_PLIC_BASE);
    begin(w, name);
    prop_u32(w, "phandle", ph_plic(n));
    prop_u32(w, "riscv,ndev", VIRT_PLIC_NDEV);
    prop_reg(w, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
    prop_irqs_ext(w, n, 11, 9);     /* MEIP, SEIP */
    prop_empty(w, "interrupt-controller");
    static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
    prop_strs(w, "compatible", plic_compat, sizeof plic_compat);
    prop_u32(w, "#address-cells", 0);
    prop_u32(w, "#interrupt-cells", 1);
    end(w);

    snprintf(name, sizeof name, "clint@%" PRIx64, (uint64_t)VIRT_CLINT_BASE);
    begin(w, name);
    prop_irqs_ext(w, n, 3, 7);      /* MSIP, MTIP */
    prop_reg(w, VIRT_CLINT_BASE, VIRT_CLINT_SIZE);
    static const char clint_compat[] = "sifive,clint0\0riscv,clint0";
    prop_strs(w, "compatible", clint_compat, sizeof clint_compat);
    end(w);

    end(w);
}

bool fdt_build(Machine *m, char *err, size_t errlen)
{
    int n = m->nharts;
    const char *append = m->cfg.append;
    size_t size = 64 * 1024 + (append ? strlen(append) : 0);
    FdtWriter w = { .fdt = g_malloc0(size) };
    char name[64];

    ck(&w, fdt_create(w.fdt, (int)size), "create");
    ck(&w, fdt_finish_reservemap(w.fdt), "reservemap");
    begin(&w, "");
    prop_u32(&w, "#address-cells", 2);
    prop_u32(&w, "#size-cells", 2);
    prop_str(&w, "compatible", "riscv-virtio");
    prop_str(&w, "model", "riscv-virtio,qemu");

    begin(&w, "chosen");
    if (append)
        prop_str(&w, "bootargs", append);
    snprintf(name, sizeof name, "/soc/serial@%" PRIx64, (uint64_t)VIRT_UART0_BASE);
    prop_str(&w, "stdout-path", name);
    end(&w);

    syscon_node(&w, "poweroff", "syscon-poweroff", 0x5555, n);
    syscon_node(&w, "reboot", "syscon-reboot", 0x7777, n);

    snprintf(name, sizeof name, "memory@%" PRIx64, m->ram_base);
    begin(&w, name);
    prop_str(&w, "device_type", "memory");
    prop_reg(&w, m->ram_base, m->ram_size);
    end(&w);

    cpus_node(&w, n);
    soc_node(&w, n);

    end(&w);
    ck(&w, fdt_finish(w.fdt), "finish");

    if (w.err) {
        snprintf(err, errlen, "device tree: %s: %s", w.what, fdt_strerror(w.err));
        g_free(w.fdt);
        return false;
    }
    g_free(m->fdt);
    m->fdt = w.fdt;
    m->fdt_size = fdt_totalsize(w.fdt);
    return true;
}

bool fdt_set_initrd(Machine *m, uint64_t start, uint64_t end, char *err, size_t errlen)
{
    size_t size = m->fdt_size + 256;
    void *fdt = g_malloc0(size);
    int r = fdt_open_into(m->fdt, fdt, (int)size);
    int node = r < 0 ? r : fdt_path_offset(fdt, "/chosen");
    if (node >= 0) {
        /* QEMU 7.2 writes one cell each; Linux accepts one or two cells,
         * so use two only when an address needs them. */
        if (end <= UINT32_MAX) {
            r = fdt_setprop_u32(fdt, node, "linux,initrd-start", (uint32_t)start);
            if (r >= 0)
                r = fdt_setprop_u32(fdt, node, "linux,initrd-end", (uint32_t)end);
        } else {
            r = fdt_setprop_u64(fdt, node, "linux,initrd-start", start);
            if (r >= 0)
                r = fdt_setprop_u64(fdt, node, "linux,initrd-end", end);
        }
    } else {
        r = node;
    }
    if (r >= 0)
        r = fdt_pack(fdt);
    if (r < 0) {
        snprintf(err, errlen, "device tree: initrd: %s", fdt_strerror(r));
        g_free(fdt);
        return false;
    }
    g_free(m->fdt);
    m->fdt = fdt;
    m->fdt_size = fdt_totalsize(fdt);
    return true;
}
