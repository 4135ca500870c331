/* The virt board: memory, harts, devices, image placement and the boot ROM,
 * arranged as QEMU 7.2's hw/riscv/virt.c and hw/riscv/boot.c do, so that
 * firmware and kernels find everything where they expect it.
 *
 * Placement (checked against qemu-system-riscv64 7.2 with its monitor):
 *   firmware  at DRAM base 0x80000000 (raw), or at its own addresses (ELF)
 *   kernel    with firmware: at the firmware's end rounded up to 2 MiB
 *             (0x80200000 for OpenSBI); without: at its own addresses
 *             (ELF) or at 0x80000000 (raw)
 *   initrd    at kernel_entry + min(ram_size / 2, 128 MiB)
 *   fdt       at align_down(min(ram_end, 3 GiB) - 1 MiB, 2 MiB)
 *             (QEMU measures its 1 MiB unpacked tree): 0x87e00000 for 128 MiB
 *   boot ROM  at 0x1000: reset vector + fw_dynamic_info */
#include "breakpoints.h"
#include "watchpoints.h"
#include "devices.h"
#include "block.h"
#include "jit.h"
#include "virtio.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>

#define MIB ((uint64_t)1024 * 1024)
#define GIB (1024 * MIB)

#define DEFAULT_BIOS "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

/* Upper bound on -m: keeps ram_base + ram_size and the code-page table
 * sane. */
#define MAX_RAM_SIZE (1024 * GIB)

/* OpenSBI's struct fw_dynamic_info (include/sbi/fw_dynamic.h), all fields
 * xlen wide. */
#define FW_DYNAMIC_INFO_MAGIC 0x4942534full   /* "OSBI" */
#define FW_DYNAMIC_INFO_VERSION 2
#define FW_DYNAMIC_INFO_NEXT_MODE_S 1

void machine_config_defaults(MachineConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ram_size = 128 * MIB;      /* QEMU virt's default -m */
    cfg->smp = 1;
    cfg->bios = NULL;               /* "default": OpenSBI fw_dynamic */
    cfg->icount_shift = 0;          /* 1 instruction = 1 ns */
    cfg->serial = SERIAL_STDIO;
    cfg->accel = ACCEL_JIT;
}

/* ---- the reset vector, assembled by hand ----
 * RISC-V base encodings: I-type imm[11:0] rs1 funct3 rd opcode, U-type
 * imm[31:12] rd opcode. */
enum { REG_T0 = 5, REG_A0 = 10, REG_A1 = 11, REG_A2 = 12 };

static uint32_t enc_i(uint32_t opcode, uint32_t funct3, uint32_t rd, uint32_t rs1, int32_t imm)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode;
}

static uint32_t enc_u(uint32_t opcode, uint32_t rd, uint32_t imm_hi20)
{
    return imm_hi20 << 12 | rd << 7 | opcode;
}

/* Writes QEMU's reset vector (riscv_setup_rom_reset_vec) and, right after
 * it, the fw_dynamic_info block OpenSBI's fw_dynamic reads through a2:
 *
 *   0x00  auipc t0, 0              t0 = 0x1000
 *   0x04  addi  a2, t0, 40         a2 = &fw_dynamic_info
 *   0x08  csrr  a0, mhartid
 *   0x0c  ld    a1, 32(t0)         a1 = fdt address
 *   0x10  ld    t0, 24(t0)         t0 = start address
 *   0x14  jr    t0
 *   0x18  .dword start
 *   0x20  .dword fdt
 *   0x28  fw_dynamic_info { magic, version, next_addr, next_mode,
 *                           options, boot_hart }
 * QEMU 7.2 fills in version 2, next_mode S, options 0, boot_hart 0 and
 * next_addr = the kernel's address (0 without -kernel). */
static void write_reset_vector(Machine *m, uint64_t start, uint64_t fdt, uint64_t next_addr)
{
    const uint32_t insns[6] = {
        enc_u(0x17, REG_T0, 0),                     /* auipc t0, 0 */
        enc_i(0x13, 0, REG_A2, REG_T0, 40),         /* addi a2, t0, 40 */
        enc_i(0x73, 2, REG_A0, 0, 0xf14),           /* csrrs a0, mhartid, x0 */
        enc_i(0x03, 3, REG_A1, REG_T0, 32),         /* ld a1, 32(t0) */
        enc_i(0x03, 3, REG_T0, REG_T0, 24),         /* ld t0, 24(t0) */
        enc_i(0x67, 0, 0, REG_T0, 0),               /* jalr x0, 0(t0) */
    };
    const uint64_t data[8] = {
        start,
        fdt,
        FW_DYNAMIC_INFO_MAGIC,
        FW_DYNAMIC_INFO_VERSION,
        next_addr,
        FW_DYNAMIC_INFO_NEXT_MODE_S,
        0,      /* options */
        0,      /* boot_hart: 0 lets OpenSBI pick (lottery), as QEMU */
    };
    /* The host is little-endian like the guest (x86-64, aarch64). */
    memcpy(m->rom, insns, sizeof insns);
    memcpy(m->rom + sizeof insns, data, sizeof data);
}

/* ---- empty virtio-mmio slots ----
 * The device tree lists eight virtio-mmio transports, as QEMU's does, and
 * Linux probes every one: a slot with no device must answer like QEMU's
 * empty transport (magic "virt", version 1, device ID 0 = "nothing here")
 * instead of faulting. Slots that a real virtio device registered first
 * are left alone. */
static bool empty_virtio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    (void)opaque;
    (void)size;
    switch (offset) {
    case 0x000: *val = 0x74726976; break;   /* MagicValue "virt" */
    case 0x004: *val = 1; break;            /* Version: legacy, QEMU's default */
    case 0x00c: *val = 0x554d4551; break;   /* VendorID "QEMU" */
    default: *val = 0; break;               /* DeviceID 0 and the rest */
    }
    return true;
}

static bool empty_virtio_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    (void)opaque;
    (void)offset;
    (void)size;
    (void)val;
    return true;
}

static void add_empty_virtio_slots(Machine *m)
{
    for (int i = 0; i < VIRT_VIRTIO_COUNT; i++) {
        uint64_t base = VIRT_VIRTIO_BASE + (uint64_t)i * VIRT_VIRTIO_SIZE;
        if (machine_mmio_taken(m, base))
            continue;
        MmioRegion r = {
            .name = "virtio-mmio (empty)",
            .base = base,
            .size = VIRT_VIRTIO_SIZE,
            .opaque = NULL,
            .read = empty_virtio_read,
            .write = empty_virtio_write,
        };
        machine_add_mmio(m, &r);
    }
}

/* ---- virtio devices ----
 * Drives, then the NIC, then the RNG, each in the next free slot from the
 * top (virtio_new). Record and replay keep every disk write in memory
 * (the image is an input of the recording); `run` writes raw images in
 * place, as QEMU does, and keeps qcow2 writes in memory (block.h). */
static bool create_virtio_devices(Machine *m, char *err, size_t errlen)
{
    const MachineConfig *c = &m->cfg;
    if (c->ndrives + (c->nic_user ? 1 : 0) + (c->rng ? 1 : 0) > VIRT_VIRTIO_COUNT) {
        snprintf(err, errlen, "too many virtio devices: the virt board has %d slots",
                 VIRT_VIRTIO_COUNT);
        return false;
    }
    for (int i = 0; i < c->ndrives; i++) {
        const DriveConfig *dc = &c->drives[i];
        BlockFormat fmt = dc->format == DRIVE_FORMAT_QCOW2 ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_RAW;
        BlockWriteMode mode = (c->disk_overlay || fmt == BLOCK_FORMAT_QCOW2 || dc->readonly)
                                  ? BLOCK_WRITE_OVERLAY : BLOCK_WRITE_THROUGH;
        char e[512];
        BlockDev *b = block_open(dc->path, fmt, dc->readonly, mode, e, sizeof e);
        if (!b) {
            snprintf(err, errlen, "-drive: %s", e);
            return false;
        }
        if (!c->disk_overlay && fmt == BLOCK_FORMAT_QCOW2 && !dc->readonly)
            fprintf(stderr, "rewind: -drive file=%s: the guest's writes to this qcow2 image stay "
                    "in memory and are lost at exit (Rewind writes raw images only)\n",
                    dc->path);
        m->disks[m->ndisks++] = b;
        if (!virtio_blk_new(m, b))
            goto full;
    }
    if (c->nic_user) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };  /* QEMU's */
        m->virtio_net = virtio_net_new(m, mac);
        if (!m->virtio_net)
            goto full;
        if (!c->inputs_from_log) {
            m->net = net_slirp_new(c->hostfwd, c->nhostfwd, err, errlen);
            if (!m->net)
                return false;
        }
    }
    if (c->rng) {
        m->virtio_rng = virtio_rng_new(m);
        if (!m->virtio_rng)
            goto full;
    }
    return true;
full:
    snprintf(err, errlen, "cannot create the virtio devices (MMIO or state table full)");
    return false;
}

bool machine_save_disk_overlays(Machine *m, const char *dir, char *err, size_t errlen)
{
    for (int i = 0; i < m->ndisks; i++) {
        if (block_overlay_count(m->disks[i]) == 0)
            continue;
        char *path = g_strdup_printf("%s/disk%d.overlay", dir, i);
        bool ok = block_save_overlay(m->disks[i], path, err, errlen);
        g_free(path);
        if (!ok)
            return false;
    }
    return true;
}

char **machine_drive_files(const DriveConfig *d, char *err, size_t errlen)
{
    return block_image_files(d->path,
                             d->format == DRIVE_FORMAT_QCOW2 ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_RAW,
                             err, errlen);
}

/* ---- images ---- */

static const char *resolve_bios(const char *bios)
{
    if (!bios || !strcmp(bios, "default"))
        return DEFAULT_BIOS;
    if (!strcmp(bios, "none"))
        return NULL;
    return bios;
}

static bool write_dtb(const Machine *m, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "-dumpdtb %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = fwrite(m->fdt, 1, m->fdt_size, f) == m->fdt_size;
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, errlen, "-dumpdtb %s: write error", path);
    return ok;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Loads firmware, kernel and initrd, builds and places the device tree and
 * writes the boot ROM. */
static bool load_everything(Machine *m, char *err, size_t errlen)
{
    const MachineConfig *cfg = &m->cfg;
    char sub[512];
    uint64_t dram = m->ram_base;
    uint64_t start_addr = dram;     /* where the reset vector jumps */
    uint64_t firmware_end = dram;
    uint64_t kernel_entry = 0;      /* fw_dynamic_info.next_addr */
    uint64_t images_end = dram;     /* highest byte loaded, for the fdt check */
    bool have_initrd = false;
    uint64_t initrd_start = 0, initrd_end = 0;
    LoadedImage fw = { 0 }, kern = { 0 };

    const char *bios = resolve_bios(cfg->bios);
    if (bios) {
        if (!load_image_info(m, bios, dram, &fw, sub, sizeof sub)) {
            snprintf(err, errlen, "-bios %s", sub);
            return false;
        }
        firmware_end = fw.end;
        images_end = fw.end;
        /* QEMU always jumps to DRAM base; for an ELF firmware we use its
         * entry, which is the same for every real firmware and right for
         * test programs passed as -bios. */
        start_addr = fw.elf ? fw.entry : dram;
    }

    if (cfg->kernel) {
        /* The kernel goes after the firmware, 2 MiB aligned (the RV64
         * kernel's own alignment), or at DRAM base without firmware. */
        uint64_t kernel_start = (firmware_end + 2 * MIB - 1) & ~(2 * MIB - 1);
        if (!load_image_info(m, cfg->kernel, kernel_start, &kern, sub, sizeof sub)) {
            snprintf(err, errlen, "-kernel %s", sub);
            return false;
        }
        if (bios && ranges_overlap(kern.low, kern.end - kern.low, fw.low, fw.end - fw.low)) {
            snprintf(err, errlen, "-kernel %s: overlaps the firmware (0x%" PRIx64 "-0x%" PRIx64 ")",
                     cfg->kernel, fw.low, fw.end);
            return false;
        }
        /* Like QEMU, the firmware is told the lowest loaded address of an
         * ELF kernel, not e_entry (FreeBSD relies on this). */
        kernel_entry = kern.elf ? kern.low : kern.entry;
        if (kern.end > images_end)
            images_end = kern.end;
        if (!bios)
            start_addr = kern.entry;    /* bare metal: run the ELF's entry */

        if (cfg->initrd) {
            /* QEMU: "put the initrd far enough into RAM that when the
             * kernel is uncompressed it will not clobber the initrd". */
            uint64_t off = m->ram_size / 2 < 128 * MIB ? m->ram_size / 2 : 128 * MIB;
            initrd_start = kernel_entry + off;
            /* An initrd is raw data: load it raw even if it looks like an
             * ELF, which load_image_info would otherwise interpret. */
            FILE *f = fopen(cfg->initrd, "rb");
            if (!f) {
                snprintf(err, errlen, "-initrd %s: %s", cfg->initrd, strerror(errno));
                return false;
            }
            uint64_t size = 0;
            if (fseeko(f, 0, SEEK_END) == 0 && ftello(f) >= 0)
                size = (uint64_t)ftello(f);
            uint8_t *dst = machine_phys_ptr(m, initrd_start, size ? size : 1);
            if (!dst) {
                fclose(f);
                snprintf(err, errlen, "-initrd %s: initrd (%" PRIu64 " MiB) at 0x%" PRIx64
                         " does not fit in RAM (%" PRIu64 " MiB)",
                         cfg->initrd, (size + MIB - 1) / MIB, initrd_start, m->ram_size / MIB);
                return false;
            }
            bool ok = fseeko(f, 0, SEEK_SET) == 0 && fread(dst, 1, size, f) == size;
            fclose(f);
            if (!ok) {
                snprintf(err, errlen, "-initrd %s: read error", cfg->initrd);
                return false;
            }
            initrd_end = initrd_start + size;
            have_initrd = true;
            if (initrd_end > images_end)
                images_end = initrd_end;
        }
    }
    /* As QEMU, -initrd without -kernel is ignored (nothing would boot it). */

    /* HTIF for bare-metal test programs: the image that runs first. */
    uint64_t th = 0, fh = 0;
    if (bios && fw.elf)
        load_find_htif(bios, &th, &fh);
    if (!th && cfg->kernel && kern.elf)
        load_find_htif(cfg->kernel, &th, &fh);
    m->htif_tohost = th;
    m->htif_fromhost = fh;

    if (!fdt_build(m, err, errlen))
        return false;
    if (have_initrd && !fdt_set_initrd(m, initrd_start, initrd_end, err, errlen))
        return false;

    /* QEMU sizes its tree at 1 MiB when placing it. */
    uint64_t fdt_room = m->fdt_size > MIB ? m->fdt_size : MIB;
    uint64_t top = m->ram_base + m->ram_size;
    if (m->ram_base < 3 * GIB && top > 3 * GIB)
        top = 3 * GIB;
    if (top - m->ram_base < fdt_room) {
        snprintf(err, errlen, "-m %" PRIu64 "M: no room for the device tree in RAM",
                 m->ram_size / MIB);
        return false;
    }
    m->fdt_addr = (top - fdt_room) & ~(2 * MIB - 1);
    if (images_end > m->ram_base &&
        ranges_overlap(m->fdt_addr, m->fdt_size, m->ram_base, images_end - m->ram_base)) {
        snprintf(err, errlen, "-m %" PRIu64 "M: the images loaded up to 0x%" PRIx64
                 " collide with the device tree at 0x%" PRIx64 "; give more memory",
                 m->ram_size / MIB, images_end, m->fdt_addr);
        return false;
    }
    if (!machine_phys_write(m, m->fdt_addr, m->fdt, m->fdt_size)) {
        snprintf(err, errlen, "device tree at 0x%" PRIx64 " is outside RAM", m->fdt_addr);
        return false;
    }

    write_reset_vector(m, start_addr, m->fdt_addr, kernel_entry);

    if (cfg->dumpdtb && !write_dtb(m, cfg->dumpdtb, err, errlen))
        return false;
    return true;
}

Machine *machine_new(const MachineConfig *cfg, char *err, size_t errlen)
{
    if (cfg->smp < 1 || cfg->smp > REWIND_MAX_HARTS) {
        snprintf(err, errlen, "-smp %d: the virt board supports 1 to %d harts",
                 cfg->smp, REWIND_MAX_HARTS);
        return NULL;
    }
    if (cfg->ram_size < PAGE_SIZE || cfg->ram_size > MAX_RAM_SIZE) {
        snprintf(err, errlen, "-m %" PRIu64 "M: RAM size must be between 4 KiB and %" PRIu64 " GiB",
                 cfg->ram_size / MIB, MAX_RAM_SIZE / GIB);
        return NULL;
    }
    if (cfg->icount_shift < 0 || cfg->icount_shift > 10) {
        snprintf(err, errlen, "-icount shift=%d: must be between 0 and 10", cfg->icount_shift);
        return NULL;
    }

    Machine *m = g_new0(Machine, 1);
    m->goal_hart = -1;
    m->cfg = *cfg;
    /* Own copies: the caller's strings may not outlive the machine. */
    m->cfg.bios = g_strdup(cfg->bios);
    m->cfg.kernel = g_strdup(cfg->kernel);
    m->cfg.initrd = g_strdup(cfg->initrd);
    m->cfg.append = g_strdup(cfg->append);
    m->cfg.dumpdtb = g_strdup(cfg->dumpdtb);
    m->cfg.serial_path = g_strdup(cfg->serial_path);
    for (int i = 0; i < cfg->ndrives; i++)
        m->cfg.drives[i].path = g_strdup(cfg->drives[i].path);
    for (int i = 0; i < cfg->nhostfwd; i++)
        m->cfg.hostfwd[i] = g_strdup(cfg->hostfwd[i]);
    m->icount_shift = cfg->icount_shift;
    /* Round-robin quantum of the run loop (DESIGN: "around a thousand
     * instructions" so a hart spinning on a lock soon yields). */
    m->quantum = 1000;

    /* RAM: anonymous, lazily backed, so -m 4G costs nothing until used.
     * The size is rounded up to whole pages for the code-page table. */
    m->ram_base = VIRT_DRAM_BASE;
    m->ram_size = (cfg->ram_size + PAGE_SIZE - 1) & PAGE_MASK;
    m->cfg.ram_size = m->ram_size;
    void *ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        snprintf(err, errlen, "-m %" PRIu64 "M: cannot allocate guest RAM: %s",
                 m->ram_size / MIB, strerror(errno));
        m->ram_size = 0;
        machine_free(m);
        return NULL;
    }
    m->ram = ram;
    m->rom_base = VIRT_MROM_BASE;
    m->rom_size = VIRT_MROM_SIZE;
    m->rom = g_malloc0(m->rom_size);
    m->code_pages = g_new0(DecodedPage *, m->ram_size >> PAGE_SHIFT);
    m->rom_code_pages = g_new0(DecodedPage *, m->rom_size >> PAGE_SHIFT);

    m->nharts = cfg->smp;
    for (int i = 0; i < m->nharts; i++)
        m->harts[i] = hart_new(m, i);
    /* the code buffer; without it (a host that refuses RWX memory) the
     * interpreter runs everything */
    if (jit_wanted(cfg->accel))
        jit_init(m);

    /* The PLIC first: the others raise their lines through it. */
    m->plic = plic_new(m, VIRT_PLIC_BASE, VIRT_PLIC_NDEV);
    m->clint = clint_new(m, VIRT_CLINT_BASE);
    m->uart = uart_new(m, VIRT_UART0_BASE, VIRT_UART0_IRQ);
    m->rtc = rtc_new(m, VIRT_RTC_BASE, VIRT_RTC_IRQ);
    finisher_new(m, VIRT_TEST_BASE);
    if (!m->plic || !m->clint || !m->uart || !m->rtc) {
        snprintf(err, errlen, "cannot create the board's devices (MMIO table full)");
        machine_free(m);
        return NULL;
    }

    if (!create_virtio_devices(m, err, errlen) || !load_everything(m, err, errlen)) {
        machine_free(m);
        return NULL;
    }
    add_empty_virtio_slots(m);

    for (int i = 0; i < m->nharts; i++)
        hart_reset(m->harts[i], m->rom_base);
    /* After the harts' reset: mtimecmp = 0 <= mtime = 0 makes MTIP pending
     * at power-on, as in QEMU 7.2. */
    clint_update(m->clint);
    return m;
}

bool machine_reset(Machine *m, char *err, size_t errlen)
{
    /* As QEMU's system_reset: devices to their power-on state, the images
     * (firmware, kernel, initrd, device tree, boot ROM) copied in again,
     * every hart at the reset vector. The rest of RAM keeps its contents,
     * and virtual time goes on. */
    uart_reset(m->uart);
    clint_reset(m->clint);
    plic_reset(m->plic);
    rtc_reset(m->rtc);
    for (int i = 0; i < m->nvirtio; i++)
        virtio_reset(m->virtio[i]);
    /* the loaders write RAM directly: count every page as written for
     * snapshots (the next one compares them all; resets are rare) */
    if (m->ram_dirty)
        memset(m->ram_dirty, 0xff, ((m->ram_size >> PAGE_SHIFT) + 63) / 64 * sizeof(uint64_t));
    if (!load_everything(m, err, errlen))
        return false;
    for (int i = 0; i < m->nharts; i++)
        hart_reset(m->harts[i], m->rom_base);
    m->sched_hart = 0;
    m->quantum_left = 0;
    clint_update(m->clint);
    return true;
}

void machine_request_reset(Machine *m)
{
    m->reset_requested = true;
    if (m->current)
        m->current->stop_slice = true;
}

void machine_free(Machine *m)
{
    if (!m)
        return;
    machine_code_cache_free(m);     /* frees code_pages/rom_code_pages too */
    breakpoints_free_machine(m);
    watchpoints_free_machine(m);
    for (int i = 0; i < m->nharts; i++)
        if (m->harts[i])
            hart_free(m->harts[i]);
    if (m->uart)
        uart_free(m->uart);
    if (m->clint)
        clint_free(m->clint);
    if (m->plic)
        plic_free(m->plic);
    if (m->rtc)
        rtc_free(m->rtc);
    for (int i = 0; i < m->nvirtio; i++)
        virtio_free(m->virtio[i]);
    net_slirp_free(m->net);
    for (int i = 0; i < m->ndisks; i++)
        block_close(m->disks[i]);
    for (int i = 0; i < m->cfg.ndrives; i++)
        g_free((char *)m->cfg.drives[i].path);
    for (int i = 0; i < m->cfg.nhostfwd; i++)
        g_free((char *)m->cfg.hostfwd[i]);
    if (m->ram && m->ram_size)
        munmap(m->ram, m->ram_size);
    g_free(m->rom);
    g_free(m->fdt);
    g_free(m->ram_dirty);
    g_free((char *)m->cfg.bios);
    g_free((char *)m->cfg.kernel);
    g_free((char *)m->cfg.initrd);
    g_free((char *)m->cfg.append);
    g_free((char *)m->cfg.dumpdtb);
    g_free((char *)m->cfg.serial_path);
    g_free(m);
}
