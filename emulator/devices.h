/* Internal to emulator/: constructors and hooks of the board's devices and
 * of the pieces that assemble the board. One device per file. */
#ifndef REWIND_DEVICES_H
#define REWIND_DEVICES_H

#include "machine.h"

/* ns16550a UART (dev_uart.c). Registers its MMIO region. */
Uart *uart_new(Machine *m, uint64_t base, int irq);
void uart_free(Uart *u);
void uart_reset(Uart *u);
/* Host side: bytes typed by the user, and room for them. */
bool uart_rx_ready(const Uart *u);          /* true when it can take a byte */
void uart_rx_push(Uart *u, uint8_t byte);
/* Where the guest's output goes (console.c provides the stdio sink). */
void uart_set_output(Uart *u, void (*out)(void *opaque, uint8_t byte), void *opaque);

/* CLINT (dev_clint.c): msip, mtimecmp, mtime derived from icount. */
Clint *clint_new(Machine *m, uint64_t base);
void clint_free(Clint *c);
void clint_reset(Clint *c);
/* Re-evaluates MTIP for every hart against the current mtime. */
void clint_update(Clint *c);
/* mtimecmp of a hart (UINT64_MAX when none). */
uint64_t clint_mtimecmp(const Clint *c, int hart);

/* PLIC (dev_plic.c): 2 contexts per hart (M then S), as on QEMU virt. */
Plic *plic_new(Machine *m, uint64_t base, int ndev);
void plic_free(Plic *p);
void plic_reset(Plic *p);
void plic_set_irq(Plic *p, int irq, bool level);

/* goldfish RTC (dev_rtc.c) */
Rtc *rtc_new(Machine *m, uint64_t base, int irq);
void rtc_free(Rtc *r);
void rtc_reset(Rtc *r);
/* Fires the alarm if its time has come (call with clint_update). */
void rtc_update(Rtc *r);
/* Virtual time (machine_now_ns units) at which the armed alarm fires,
 * UINT64_MAX when none: a wake-up deadline for idle skipping. */
uint64_t rtc_alarm_deadline_ns(const Rtc *r);
/* The single read of the host wall clock (ns since the epoch), at start. */
uint64_t rtc_host_clock_ns(void);

/* sifive,test1 finisher (dev_finisher.c) */
void finisher_new(Machine *m, uint64_t base);

/* HTIF tohost/fromhost (htif.c): called by the store path when a write hits
 * m->htif_tohost. */
void htif_write_tohost(Machine *m, uint64_t value);

/* Device tree (fdt.c): builds m->fdt for the machine's configuration. */
bool fdt_build(Machine *m, char *err, size_t errlen);
/* Adds linux,initrd-start/end to /chosen of the built m->fdt. */
bool fdt_set_initrd(Machine *m, uint64_t start, uint64_t end, char *err, size_t errlen);

/* Images (loader.c): ELF or raw. Returns false with a message in err.
 * entry receives the ELF entry point (or load address for raw images). */
bool load_image(Machine *m, const char *path, uint64_t raw_addr, uint64_t *entry,
                uint64_t *end, char *err, size_t errlen);
typedef struct LoadedImage {
    uint64_t entry;     /* ELF e_entry, or the load address of a raw image */
    uint64_t low, end;  /* lowest and one-past-highest loaded address */
    bool elf;
} LoadedImage;
bool load_image_info(Machine *m, const char *path, uint64_t raw_addr, LoadedImage *img,
                     char *err, size_t errlen);
/* Finds tohost/fromhost symbols in an ELF (0 when absent). */
void load_find_htif(const char *path, uint64_t *tohost, uint64_t *fromhost);

/* Host console (console.c): declared in emulator.h (the CLI drives it). */

/* ---- virtio devices' host side ---- */
/* slirp user networking (net_slirp.c). hostfwd rules as QEMU spells them. */
NetBackend *net_slirp_new(const char *const *hostfwd, int nhostfwd, char *err, size_t errlen);
void net_slirp_free(NetBackend *nb);
void net_slirp_send(NetBackend *nb, const uint8_t *frame, size_t len);
/* Polls slirp's sockets and timers, and fd (if >= 0) for input, waiting at
 * most timeout_ms. Frames for the guest queue up for net_slirp_peek. */
void net_slirp_poll(NetBackend *nb, int fd, int timeout_ms);
bool net_slirp_peek(NetBackend *nb, const uint8_t **frame, size_t *len);
void net_slirp_pop(NetBackend *nb);
/* host_input.c: the guest sent a frame; host input into the devices;
 * waiting on host input (fd and slirp); the idle rule of machine_run. */
void host_net_send(Machine *m, const uint8_t *frame, size_t len);
void machine_poll_host(Machine *m);
void machine_host_wait(Machine *m, int fd, int timeout_ms);
bool machine_waits_for_host(Machine *m);

/* ---- the CPU (cpu_*.c, mmu.c) ---- */
Hart *hart_new(Machine *m, int id);
void hart_free(Hart *h);
void hart_reset(Hart *h, uint64_t pc);
/* Runs up to max steps; returns steps executed. */
int64_t hart_run(Hart *h, int64_t max);
/* True when an enabled interrupt is pending (wakes WFI). */
bool hart_interrupt_pending(const Hart *h);
/* Flushes the hart's TLBs (satp, privilege, mstatus changes). */
void hart_tlb_flush(Hart *h);
/* Drops only the store-TLB entries (dirty tracking, machine_state.c). */
void hart_tlb_flush_store(Hart *h);
/* Invalidates decoded instructions covering [paddr, paddr+len). */
void machine_code_written(Machine *m, uint64_t paddr, uint64_t len);
void machine_code_cache_free(Machine *m);

#endif
