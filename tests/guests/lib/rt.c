/* Tiny runtime for the Rewind test guests. See rt.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "rt.h"

/* ---- NS16550A ---- */
#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR   0x01
#define LSR_THRE 0x20

void uart_init(void)
{
    MMIO8(UART_BASE + UART_IER) = 0x00;
    MMIO8(UART_BASE + UART_LCR) = 0x80;     /* DLAB: divisor (ignored by models) */
    MMIO8(UART_BASE + 0) = 0x01;
    MMIO8(UART_BASE + 1) = 0x00;
    MMIO8(UART_BASE + UART_LCR) = 0x03;     /* 8N1 */
    MMIO8(UART_BASE + UART_FCR) = 0x07;     /* FIFO on, cleared */
    MMIO8(UART_BASE + UART_MCR) = 0x03;     /* DTR, RTS */
}

void uart_putc(char c)
{
    while (!(MMIO8(UART_BASE + UART_LSR) & LSR_THRE))
        ;
    MMIO8(UART_BASE + UART_THR) = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

int uart_getc_nonblock(void)
{
    if (MMIO8(UART_BASE + UART_LSR) & LSR_DR)
        return MMIO8(UART_BASE + UART_RBR);
    return -1;
}

/* ---- picolibc stdio hooks ---- */
static int stdio_put(char c, FILE *f)
{
    (void)f;
    uart_putc(c);
    return (unsigned char)c;
}

static int stdio_get(FILE *f)
{
    int c;
    (void)f;
    while ((c = uart_getc_nonblock()) < 0)
        ;
    return c;
}

static FILE rt_stdio = FDEV_SETUP_STREAM(stdio_put, stdio_get, NULL, _FDEV_SETUP_RW);
FILE *const stdin = &rt_stdio;
FILE *const stdout = &rt_stdio;
FILE *const stderr = &rt_stdio;

/* ---- locks ---- */
void ticket_lock(ticket_lock_t *l)
{
    uint32_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != me)
        ;
}

void ticket_unlock(ticket_lock_t *l)
{
    __atomic_store_n(&l->serving, l->serving + 1, __ATOMIC_RELEASE);
}

static ticket_lock_t print_lock;

int rt_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ticket_lock(&print_lock);
    uart_puts(buf);
    ticket_unlock(&print_lock);
    return n;
}

/* ---- exit ---- */
static void finisher(uint32_t v)
{
    fence();
    for (;;) {
        MMIO32(FINISHER_BASE) = v;
        wfi();
    }
}

void rt_pass(void)
{
    finisher(0x5555);
    __builtin_unreachable();
}

void rt_fail(int code)
{
    if ((code & 0xffff) == 0)
        code = 1;
    finisher(0x3333 | ((uint32_t)(code & 0xffff) << 16));
    __builtin_unreachable();
}

void _exit(int code)
{
    if (code == 0)
        rt_pass();
    rt_fail(code);
}

int rt_failures;

void rt_check(int ok, const char *file, int line, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ok) {
        rt_printf("ok: %s\n", buf);
    } else {
        rt_failures++;
        rt_printf("FAIL: %s (%s:%d)\n", buf, file, line);
    }
}

void rt_finish(void)
{
    if (rt_failures) {
        rt_printf("%d check(s) failed\n", rt_failures);
        rt_fail(rt_failures);
    }
    rt_printf("PASS\n");
    rt_pass();
}

/* ---- traps ---- */
extern char rt_menter_return[], rt_senter_return[];

static void unexpected(const char *mode, struct trap_frame *f)
{
    rt_printf("unexpected %s trap: cause=%#lx epc=%#lx tval=%#lx\n",
              mode, f->cause, f->epc, f->tval);
    rt_fail(0x7f);
}

__attribute__((weak)) void m_trap(struct trap_frame *f) { unexpected("M", f); }
__attribute__((weak)) void s_trap(struct trap_frame *f) { unexpected("S", f); }

void rt_mtrap_dispatch(struct trap_frame *f);
void rt_mtrap_dispatch(struct trap_frame *f)
{
    if ((f->cause == EXC_ECALL_U || f->cause == EXC_ECALL_S) &&
        f->regs[TF_A7] == RT_ECALL_EXIT_MODE) {
        f->epc = (unsigned long)rt_menter_return;
        f->status |= MSTATUS_MPP;               /* back to M */
        return;
    }
    m_trap(f);
}

void rt_strap_dispatch(struct trap_frame *f);
void rt_strap_dispatch(struct trap_frame *f)
{
    if (f->cause == EXC_ECALL_U && f->regs[TF_A7] == RT_ECALL_EXIT_MODE) {
        f->epc = (unsigned long)rt_senter_return;
        f->status |= MSTATUS_SPP;               /* back to S */
        return;
    }
    s_trap(f);
}

__attribute__((weak)) void rt_secondary_main(unsigned long hart)
{
    (void)hart;
    csr_write(mie, 0);
    for (;;)
        wfi();
}
