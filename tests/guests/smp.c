/* smp: run with -smp 4. Every hart starts and says hello in hart order
 * (a turn counter advanced with an AMO), all harts hammer shared counters
 * (amoadd, lr/sc, a ticket lock), then the secondary harts park in WFI and
 * hart 0 wakes them one by one with CLINT software interrupts (msip). */
#include <stdio.h>
#include "rt.h"

#define NHARTS 4
#define ITERS  5000
#define TIMEOUT (5 * TIMEBASE_HZ)      /* 5 s of mtime */

static volatile uint32_t turn;
static volatile uint32_t started_mask;
static volatile uint32_t counter_amo;
static volatile uint64_t counter_lrsc;
static volatile uint64_t counter_lock;
static ticket_lock_t lock;
static volatile uint32_t barrier1, barrier2;
static volatile uint32_t woke[RT_MAX_HARTS];
static volatile uint32_t parked[RT_MAX_HARTS];

static void lrsc_inc(volatile uint64_t *p)
{
    uint64_t tmp, fail;
    __asm__ volatile (
        "1: lr.d.aq %0, (%2)\n"
        "   addi    %0, %0, 1\n"
        "   sc.d.rl %1, %0, (%2)\n"
        "   bnez    %1, 1b\n"
        : "=&r"(tmp), "=&r"(fail) : "r"(p) : "memory");
}

/* wait until *p == want; 0 on timeout */
static int wait_eq(volatile uint32_t *p, uint32_t want)
{
    uint64_t start = mtime();
    while (*p != want)
        if (mtime() - start > TIMEOUT)
            return 0;
    return 1;
}

static void barrier(volatile uint32_t *b)
{
    __atomic_fetch_add(b, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(b, __ATOMIC_ACQUIRE) < NHARTS)
        ;
}

static void work(unsigned long h)
{
    for (int i = 0; i < ITERS; i++) {
        __atomic_fetch_add(&counter_amo, 1, __ATOMIC_RELAXED);
        lrsc_inc(&counter_lrsc);
        ticket_lock(&lock);
        counter_lock = counter_lock + 1;        /* plain load + store */
        ticket_unlock(&lock);
    }
    (void)h;
}

static void hello(unsigned long h)
{
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != h)
        ;
    rt_printf("hart %lu: alive (mhartid %lu)\n", h, csr_read(mhartid));
    __atomic_fetch_or(&started_mask, 1u << h, __ATOMIC_RELAXED);
    __atomic_fetch_add(&turn, 1, __ATOMIC_RELEASE);
}

void rt_secondary_main(unsigned long h)
{
    if (h >= NHARTS) {
        for (;;)
            wfi();
    }
    hello(h);
    barrier(&barrier1);
    work(h);
    barrier(&barrier2);

    /* park until an IPI arrives: MSIE on, MIE off, so WFI wakes but no
     * trap is taken */
    csr_write(mie, 1UL << IRQ_MSI);
    parked[h] = 1;
    while (!(csr_read(mip) & (1UL << IRQ_MSI)))
        wfi();
    clear_ipi(h);
    while (csr_read(mip) & (1UL << IRQ_MSI))
        ;
    rt_printf("hart %lu: woken by IPI\n", h);
    __atomic_store_n(&woke[h], 1, __ATOMIC_RELEASE);
    csr_write(mie, 0);
    for (;;)
        wfi();
}

int main(void)
{
    printf("smp: start, expecting %d harts\n", NHARTS);
    hello(0);
    if (!wait_eq(&turn, NHARTS)) {
        rt_printf("smp: only %u hart(s) started (mask %#x); run with -smp %d\n",
                  turn, started_mask, NHARTS);
        rt_fail(2);
    }
    CHECK(started_mask == (1u << NHARTS) - 1, "all %d harts started, in order",
          NHARTS);

    barrier(&barrier1);
    work(0);
    barrier(&barrier2);
    CHECK(counter_amo == NHARTS * ITERS, "amoadd.w counter = %d", NHARTS * ITERS);
    CHECK(counter_lrsc == NHARTS * ITERS, "lr.d/sc.d counter = %d",
          NHARTS * ITERS);
    CHECK(counter_lock == NHARTS * ITERS, "ticket-locked counter = %d",
          NHARTS * ITERS);

    for (unsigned long h = 1; h < NHARTS; h++) {
        if (!wait_eq(&parked[h], 1)) {
            CHECK(0, "hart %lu parked", h);
            continue;
        }
        /* give it time to reach WFI; it must not wake by itself */
        uint64_t t = mtime();
        while (mtime() - t < TIMEBASE_HZ / 1000)
            ;
        CHECK(woke[h] == 0, "hart %lu still parked before its IPI", h);
        send_ipi(h);
        int ok = wait_eq(&woke[h], 1);
        CHECK(ok, "hart %lu woke after its IPI", h);
    }
    int clear = 1;
    for (unsigned long h = 0; h < NHARTS; h++)
        clear = clear && MMIO32(CLINT_MSIP(h)) == 0;
    CHECK(clear, "every msip reads 0 again");
    rt_finish();
}
