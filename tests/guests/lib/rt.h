/* Tiny runtime for the Rewind test guests: console, finisher, CSRs, traps,
 * locks, CLINT/PLIC helpers. Programs also use picolibc's <stdio.h>. */
#ifndef RT_H
#define RT_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "rt_asm.h"

/* ---- virt board ---- */
#define FINISHER_BASE   0x100000UL
#define CLINT_BASE      0x2000000UL
#define CLINT_MSIP(h)   (CLINT_BASE + 4UL * (h))
#define CLINT_MTIMECMP(h) (CLINT_BASE + 0x4000UL + 8UL * (h))
#define CLINT_MTIME     (CLINT_BASE + 0xbff8UL)
#define TIMEBASE_HZ     10000000UL
#define PLIC_BASE       0xc000000UL
#define UART_BASE       0x10000000UL
#define UART_IRQ        10

#define MMIO32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define MMIO64(a) (*(volatile uint64_t *)(uintptr_t)(a))
#define MMIO8(a)  (*(volatile uint8_t *)(uintptr_t)(a))

/* ---- CSRs ---- */
#define csr_read(csr) ({ unsigned long __v; \
    __asm__ volatile ("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) ({ unsigned long __v = (unsigned long)(val); \
    __asm__ volatile ("csrw " #csr ", %0" :: "rK"(__v) : "memory"); })
#define csr_set(csr, val) ({ unsigned long __v = (unsigned long)(val); \
    __asm__ volatile ("csrs " #csr ", %0" :: "rK"(__v) : "memory"); })
#define csr_clear(csr, val) ({ unsigned long __v = (unsigned long)(val); \
    __asm__ volatile ("csrc " #csr ", %0" :: "rK"(__v) : "memory"); })

#define MSTATUS_SIE   (1UL << 1)
#define MSTATUS_MIE   (1UL << 3)
#define MSTATUS_SPIE  (1UL << 5)
#define MSTATUS_MPIE  (1UL << 7)
#define MSTATUS_SPP   (1UL << 8)
#define MSTATUS_MPP   (3UL << 11)
#define MSTATUS_MPRV  (1UL << 17)
#define MSTATUS_SUM   (1UL << 18)
#define MSTATUS_MXR   (1UL << 19)

#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define CAUSE_INTR    (1UL << 63)

#define EXC_INST_MISALIGNED 0
#define EXC_INST_ACCESS     1
#define EXC_ILLEGAL         2
#define EXC_BREAKPOINT      3
#define EXC_LOAD_MISALIGNED 4
#define EXC_LOAD_ACCESS     5
#define EXC_STORE_MISALIGNED 6
#define EXC_STORE_ACCESS    7
#define EXC_ECALL_U         8
#define EXC_ECALL_S         9
#define EXC_ECALL_M         11
#define EXC_INST_PAGE       12
#define EXC_LOAD_PAGE       13
#define EXC_STORE_PAGE      15

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* ---- traps ---- */
struct trap_frame {
    unsigned long regs[32];   /* regs[0] = vector number, -1 when direct */
    unsigned long cause, epc, tval, status;
};
#define TF_A0 10
#define TF_A7 17

/* Program hooks (weak defaults report an unexpected trap and fail). They
 * run on the trap stack with traps off; modify f->epc / f->regs / f->status
 * to change where and how the trap returns. */
void m_trap(struct trap_frame *f);
void s_trap(struct trap_frame *f);

extern char rt_mtrap_entry[], rt_strap_entry[];
extern char rt_mtrap_vectors[], rt_strap_vectors[];

/* Run pc(arg) in PRV_U or PRV_S with the given stack; returns the value it
 * passes to rt_exit_mode(). M-mode only. */
long rt_menter(long arg, void *pc, long mode, void *sp);
/* Run pc(arg, arg2) in U-mode from S-mode (delegate ecall from U to S). */
long rt_senter(long arg, void *pc, void *sp, long arg2);
/* Leave the mode entered by rt_menter/rt_senter, returning value. */
__attribute__((noreturn)) void rt_exit_mode(long value);

/* length (2 or 4) of the instruction at an address readable from here */
static inline unsigned insn_len(unsigned long pc)
{
    return ((*(volatile uint16_t *)pc) & 3) == 3 ? 4 : 2;
}

/* ---- harts ---- */
static inline unsigned long hartid(void) { return csr_read(mhartid); }
void rt_secondary_main(unsigned long hart);   /* weak: park in WFI */

/* ---- console & exit ---- */
/* Optional: 8N1, FIFOs enabled and cleared (drops received input). The
 * models work without it. */
void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);        /* no newline added */
int  uart_getc_nonblock(void);        /* -1 when nothing received */
/* Locked printf: whole line at once, safe from several harts. */
int  rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

__attribute__((noreturn)) void rt_pass(void);
__attribute__((noreturn)) void rt_fail(int code);

/* CHECK: print "ok: msg" or "FAIL: msg" and remember the failure;
 * rt_finish() exits with pass or with the number of failed checks. */
extern int rt_failures;
#define CHECK(cond, ...) rt_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
void rt_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
__attribute__((noreturn)) void rt_finish(void);

/* ---- locks ---- */
typedef struct { volatile uint32_t next, serving; } ticket_lock_t;
void ticket_lock(ticket_lock_t *l);
void ticket_unlock(ticket_lock_t *l);

/* ---- CLINT / PLIC ---- */
static inline uint64_t mtime(void) { return MMIO64(CLINT_MTIME); }
static inline void set_mtimecmp(unsigned long hart, uint64_t v)
{
    MMIO64(CLINT_MTIMECMP(hart)) = v;
}
static inline void send_ipi(unsigned long hart) { MMIO32(CLINT_MSIP(hart)) = 1; }
static inline void clear_ipi(unsigned long hart) { MMIO32(CLINT_MSIP(hart)) = 0; }

#define PLIC_PRIORITY(irq)      (PLIC_BASE + 4UL * (irq))
#define PLIC_PENDING(irq)       (PLIC_BASE + 0x1000UL + 4UL * ((irq) / 32))
#define PLIC_ENABLE(ctx, irq)   (PLIC_BASE + 0x2000UL + 0x80UL * (ctx) + 4UL * ((irq) / 32))
#define PLIC_THRESHOLD(ctx)     (PLIC_BASE + 0x200000UL + 0x1000UL * (ctx))
#define PLIC_CLAIM(ctx)         (PLIC_BASE + 0x200004UL + 0x1000UL * (ctx))

static inline void wfi(void) { __asm__ volatile ("wfi" ::: "memory"); }
static inline void fence(void) { __asm__ volatile ("fence rw, rw" ::: "memory"); }

#endif
