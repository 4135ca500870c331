/* Internal to emulator/: the machine, its harts, the bus and the device
 * interface. Other folders use emulator.h only. */
#ifndef REWIND_MACHINE_H
#define REWIND_MACHINE_H

#include "emulator.h"
#include <glib.h>
#include <stddef.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define PAGE_SHIFT 12
#define PAGE_SIZE (1u << PAGE_SHIFT)
#define PAGE_MASK (~(uint64_t)(PAGE_SIZE - 1))

/* virt board memory map (QEMU hw/riscv/virt.c) */
#define VIRT_MROM_BASE      0x1000ull
#define VIRT_MROM_SIZE      0xf000ull
#define VIRT_TEST_BASE      0x100000ull
#define VIRT_TEST_SIZE      0x1000ull
#define VIRT_RTC_BASE       0x101000ull
#define VIRT_RTC_SIZE       0x1000ull
#define VIRT_CLINT_BASE     0x2000000ull
#define VIRT_CLINT_SIZE     0x10000ull
#define VIRT_PLIC_BASE      0xc000000ull
#define VIRT_PLIC_SIZE      0x600000ull  /* enough for 8 harts x 2 contexts */
#define VIRT_UART0_BASE     0x10000000ull
#define VIRT_UART0_SIZE     0x100ull
#define VIRT_VIRTIO_BASE    0x10001000ull
#define VIRT_VIRTIO_SIZE    0x1000ull
#define VIRT_VIRTIO_COUNT   8
#define VIRT_DRAM_BASE      0x80000000ull

#define VIRT_UART0_IRQ      10
#define VIRT_RTC_IRQ        11
#define VIRT_VIRTIO_IRQ     1   /* slots use irqs 1..8 */
#define VIRT_PLIC_NDEV      96  /* interrupt sources, as QEMU's VIRT_IRQCHIP_NUM_SOURCES */

#define TIMEBASE_FREQ       10000000ull /* 10 MHz mtime */

/* mip/mie bits */
#define MIP_SSIP (1ull << 1)
#define MIP_MSIP (1ull << 3)
#define MIP_STIP (1ull << 5)
#define MIP_MTIP (1ull << 7)
#define MIP_SEIP (1ull << 9)
#define MIP_MEIP (1ull << 11)

/* ---- devices on the bus ---- */

/* An MMIO handler returns false for an access the device refuses (the CPU
 * then raises an access fault). size is 1, 2, 4 or 8; offset is relative to
 * the region base. */
typedef struct MmioRegion {
    const char *name;
    uint64_t base, size;
    void *opaque;
    bool (*read)(void *opaque, uint64_t offset, unsigned size, uint64_t *val);
    bool (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t val);
} MmioRegion;

#define MAX_MMIO 32

/* Guest-visible state of a device, for snapshots (machine_state.c). A
 * device registers one entry when it is created (machine_add_device_state)
 * and nothing else is needed: save copies the guest-visible fields into a
 * buffer of `size` bytes, load copies them back. Host-side fields (the
 * Machine pointer, output callbacks, irq numbers given by the board) are
 * left alone by load. Interrupt lines need no replay: the harts' mip and
 * the PLIC's inputs are saved too. */
typedef struct DeviceStateOps {
    const char *name;
    size_t size;
    void (*save)(const void *opaque, void *buf);
    void (*load)(void *opaque, const void *buf);
} DeviceStateOps;

#define MAX_DEVICE_STATE 32

/* ---- the CPU ---- */

typedef struct DecodedPage DecodedPage;
typedef struct Jit Jit;
typedef struct BreakpointSet BreakpointSet;
typedef struct WatchpointSet WatchpointSet;

typedef struct TlbEntry {
    uint64_t tag;       /* virtual page | 0 ; ~0 when empty */
    uintptr_t addend;   /* host pointer = vaddr + addend */
} TlbEntry;

typedef struct CodeTlbEntry {
    uint64_t tag;       /* virtual page; ~0 when empty */
    DecodedPage *page;
} CodeTlbEntry;

#define TLB_SIZE 256

typedef struct Hart Hart;
struct Hart {
    uint64_t x[33];     /* x[32] is the sink for writes to x0 */
    uint64_t f[32];     /* NaN-boxed */
    uint64_t pc;
    int priv;           /* 0 U, 1 S, 3 M */
    int id;
    Machine *m;

    /* CSRs */
    uint64_t mstatus;   /* holds sstatus too; SD computed on read */
    uint64_t misa;
    uint64_t medeleg, mideleg;
    uint64_t mie, mip;
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t stvec, sscratch, sepc, scause, stval, satp;
    uint64_t mcounteren, scounteren, mcountinhibit;
    uint64_t menvcfg, senvcfg;
    uint64_t pmpcfg[16];    /* even indices used on RV64 */
    uint64_t pmpaddr[64];
    uint64_t mhpmevent[32];
    uint32_t fflags, frm;
    uint64_t instret;       /* steps this hart retired (see docs) */
    int64_t instret_offset; /* minstret writes */
    int64_t cycle_offset;   /* mcycle writes */

    bool wfi;               /* waiting for an interrupt */
    uint64_t reservation;   /* LR/SC reserved address, ~0 none */
    uint64_t reservation_value; /* what LR read there (see OP_SC_W) */

    /* execution state of the current slice */
    int64_t slice_len, slice_left;  /* slice_left synced before slow paths */
    bool stop_slice;                /* end the slice after this instruction */
    bool bp_stop;                   /* the slice ended in front of a breakpoint */
    uint64_t exc_cause, exc_tval;   /* set by failing slow paths */

    TlbEntry tlb_load[TLB_SIZE];
    TlbEntry tlb_store[TLB_SIZE];
    CodeTlbEntry tlb_code[TLB_SIZE];
};

/* ---- devices (one file each) ---- */

typedef struct Uart Uart;
typedef struct Clint Clint;
typedef struct Plic Plic;
typedef struct Rtc Rtc;
typedef struct BlockDev BlockDev;
typedef struct VirtioDevice VirtioDevice;
typedef struct NetBackend NetBackend;

struct Machine {
    MachineConfig cfg;

    uint8_t *ram;
    uint64_t ram_base, ram_size;
    uint8_t *rom;
    uint64_t rom_base, rom_size;

    MmioRegion mmio[MAX_MMIO];
    int n_mmio;

    Hart *harts[REWIND_MAX_HARTS];
    int nharts;
    Hart *current;          /* hart whose slice is running, or NULL */
    int sched_hart;         /* round-robin position */
    int64_t quantum_left;   /* steps left in sched_hart's quantum */
    int64_t quantum;        /* steps per quantum */

    uint64_t icount;        /* steps retired by all harts, at slice start */
    uint64_t idle_ns;       /* virtual time skipped while every hart waited */
    int icount_shift;

    BlockDev *disks[REWIND_MAX_DRIVES];    /* one per -drive, in order */
    int ndisks;
    VirtioDevice *virtio[VIRT_VIRTIO_COUNT];  /* in creation order */
    int nvirtio;
    VirtioDevice *virtio_net, *virtio_rng;    /* the host-fed ones */
    NetBackend *net;        /* slirp, while running live (not in replay) */
    HostInputHook host_hook;
    void *host_hook_opaque;

    Uart *uart;
    Clint *clint;
    Plic *plic;
    Rtc *rtc;

    /* HTIF (tohost/fromhost symbols of a bare-metal ELF), 0 when absent */
    uint64_t htif_tohost, htif_fromhost;

    bool exit_requested;
    int exit_code;
    bool reset_requested;   /* by the guest: done between two slices */
    int goal_hart;          /* machine_set_hart_goal, -1 when none */
    uint64_t goal_steps;
    bool debug_suspended;   /* machine_suspend_debug */

    /* Snapshots (machine_state.c): one bit per RAM page, set when the page
     * is written. NULL until the first machine_ram_clear_dirty: every page
     * counts as dirty until then, and nothing is tracked. Rule: a page may
     * have store-TLB entries only while its bit is set (the fast path
     * writes without marking). */
    uint64_t *ram_dirty;
    struct {
        const DeviceStateOps *ops;
        void *opaque;
    } dev_state[MAX_DEVICE_STATE];
    int n_dev_state;

    /* decoded-instruction cache: one slot per RAM page, plus the ROM */
    DecodedPage **code_pages;   /* indexed by (paddr - ram_base) >> 12 */
    DecodedPage **rom_code_pages;

    struct Jit *jit;            /* compiled code (jit.c), NULL when off */

    BreakpointSet *breakpoints; /* debugger breakpoints, NULL when none */
    WatchpointSet *watchpoints; /* debugger watchpoints, NULL when none */

    void *fdt;              /* the generated device tree blob */
    size_t fdt_size;
    uint64_t fdt_addr;      /* where it was placed in RAM */
};

/* ---- services the core offers to devices ---- */

/* Exact instruction count now, valid inside a slice (devices call it from
 * MMIO handlers). */
uint64_t machine_now_icount(const Machine *m);
/* Virtual time in ns and in mtime ticks. */
uint64_t machine_now_ns(const Machine *m);
uint64_t machine_mtime(const Machine *m);

/* Raise or lower interrupt-pending bits of a hart (level-triggered). Ends
 * the running slice so the interrupt is seen at the next instruction. */
void hart_set_mip(Hart *h, uint64_t mask, bool level);

/* Guest asked to stop the machine (finisher, HTIF). */
void machine_request_exit(Machine *m, int code);
/* Guest asked for a reset (finisher 0x7777, syscon-reboot). */
void machine_request_reset(Machine *m);

/* Registers an MMIO region; returns false when the table is full. */
bool machine_add_mmio(Machine *m, const MmioRegion *r);
/* True when a registered region covers addr. */
bool machine_mmio_taken(const Machine *m, uint64_t addr);

/* Pointer to guest RAM/ROM for [paddr, paddr+len), or NULL. */
uint8_t *machine_phys_ptr(Machine *m, uint64_t paddr, uint64_t len);

/* Physical access used by device DMA and loaders; false outside RAM/ROM. */
bool machine_phys_read(Machine *m, uint64_t paddr, void *buf, uint64_t len);
bool machine_phys_write(Machine *m, uint64_t paddr, const void *buf, uint64_t len);

/* Registers a device's snapshot state (see DeviceStateOps). */
bool machine_add_device_state(Machine *m, const DeviceStateOps *ops, void *opaque);

/* Marks the RAM pages of [paddr, paddr+len) dirty (no-op outside RAM or
 * while nothing is tracked). Every write to RAM that does not go through
 * the store TLB calls it. */
static inline void machine_mark_dirty(Machine *m, uint64_t paddr, uint64_t len)
{
    uint64_t off = paddr - m->ram_base;
    if (!m->ram_dirty || off >= m->ram_size || len == 0)
        return;
    uint64_t last = off + len - 1;
    if (last >= m->ram_size || last < off)
        last = m->ram_size - 1;
    for (uint64_t pg = off >> PAGE_SHIFT; pg <= last >> PAGE_SHIFT; pg++)
        m->ram_dirty[pg >> 6] |= 1ull << (pg & 63);
}

#endif
