/* timer: CLINT machine timer and software interrupts in M-mode.
 * Takes NTICKS timer interrupts 1 ms (10000 timebase ticks) apart, checks
 * that none arrives early, then a software interrupt through msip. */
#include <stdio.h>
#include "rt.h"

#define NTICKS   10
#define INTERVAL (TIMEBASE_HZ / 1000)

static volatile int ticks, early, msi_count, other;
static volatile uint64_t next_deadline;

void m_trap(struct trap_frame *f)
{
    if (f->cause == (CAUSE_INTR | IRQ_MTI)) {
        if (mtime() < next_deadline)
            early++;
        ticks++;
        if (ticks < NTICKS) {
            next_deadline += INTERVAL;
            set_mtimecmp(0, next_deadline);
        } else {
            set_mtimecmp(0, UINT64_MAX);
        }
    } else if (f->cause == (CAUSE_INTR | IRQ_MSI)) {
        msi_count++;
        clear_ipi(0);
    } else {
        other++;
        rt_printf("unexpected trap cause=%#lx epc=%#lx\n", f->cause, f->epc);
        rt_fail(0x7f);
    }
}

int main(void)
{
    printf("timer: start\n");
    csr_write(mtvec, rt_mtrap_entry);

    /* mtime advances; the time CSR mirrors it */
    uint64_t t0 = mtime();
    for (volatile int i = 0; i < 1000; i++)
        ;
    uint64_t t1 = mtime();
    CHECK(t1 > t0, "mtime advances");
    uint64_t a = mtime();
    uint64_t tc = csr_read(time);
    uint64_t b = mtime();
    CHECK(a <= tc && tc <= b, "time CSR reads mtime");

    /* MTIP follows mtime >= mtimecmp, with interrupts off */
    csr_write(mie, 0);
    set_mtimecmp(0, UINT64_MAX);
    CHECK(!(csr_read(mip) & (1UL << IRQ_MTI)), "MTIP clear when mtimecmp is far");
    set_mtimecmp(0, mtime());
    int seen = 0;
    for (int i = 0; i < 1000 && !seen; i++)
        seen = !!(csr_read(mip) & (1UL << IRQ_MTI));
    CHECK(seen, "MTIP set when mtime >= mtimecmp");
    set_mtimecmp(0, UINT64_MAX);
    CHECK(!(csr_read(mip) & (1UL << IRQ_MTI)), "MTIP clears when mtimecmp moves");

    /* timer interrupts */
    uint64_t start = mtime();
    next_deadline = start + INTERVAL;
    set_mtimecmp(0, next_deadline);
    csr_write(mie, 1UL << IRQ_MTI);
    csr_set(mstatus, MSTATUS_MIE);
    for (int i = 1; i <= NTICKS; i++) {
        while (ticks < i)
            wfi();
        printf("tick %d\n", i);
    }
    csr_clear(mstatus, MSTATUS_MIE);
    uint64_t elapsed = mtime() - start;
    CHECK(ticks == NTICKS, "%d timer interrupts", NTICKS);
    CHECK(early == 0, "no interrupt before its deadline");
    CHECK(elapsed >= NTICKS * INTERVAL, "at least %d ms of mtime elapsed",
          NTICKS);

    /* WFI with interrupts globally off still wakes on a pending+enabled one */
    set_mtimecmp(0, mtime() + INTERVAL);
    while (!(csr_read(mip) & (1UL << IRQ_MTI)))
        wfi();
    CHECK(ticks == NTICKS, "WFI wakes with mstatus.MIE=0, no trap taken");
    set_mtimecmp(0, UINT64_MAX);

    /* software interrupt */
    csr_write(mie, 1UL << IRQ_MSI);
    send_ipi(0);
    CHECK(MMIO32(CLINT_MSIP(0)) == 1, "msip reads back 1");
    CHECK(csr_read(mip) & (1UL << IRQ_MSI), "MSIP pending");
    csr_set(mstatus, MSTATUS_MIE);
    for (int i = 0; i < 100 && !msi_count; i++)
        ;
    csr_clear(mstatus, MSTATUS_MIE);
    CHECK(msi_count == 1, "one software interrupt taken");
    CHECK(!(csr_read(mip) & (1UL << IRQ_MSI)), "MSIP clear after msip=0");
    printf("timer: %d ticks\n", ticks);
    rt_finish();
}
