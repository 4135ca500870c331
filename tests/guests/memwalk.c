/* memwalk: a long, memory-heavy run for snapshots taken while recording
 * (tests/integration/test_snapshot_file.py). Every hart rewrites pages of
 * its own 2 MiB share of a buffer, round after round, mixing in the count
 * of timer interrupts it took and any console bytes hart 0 polled; some
 * pages go back to all zero, so snapshots see pages appear, change and
 * vanish. At the end hart 0 prints a checksum of the whole buffer: the
 * line proves the memory after a replay (from the start or from any
 * snapshot) is the recorded one. */
#include <stdio.h>
#include <string.h>
#include "rt.h"

#define MAX_HARTS 4
#define SHARE (2u << 20)
#define PAGE 4096u
#define PAGES (SHARE / PAGE)
#define ROUNDS 24
#define TICK 20000u                 /* mtime ticks between timer interrupts */

static uint8_t buf[MAX_HARTS][SHARE] __attribute__((aligned(4096)));
static volatile unsigned long ticks[MAX_HARTS];
static volatile unsigned long started_harts = 1, done_harts;
static volatile unsigned long input_mix;
static ticket_lock_t lock;

void m_trap(struct trap_frame *f)
{
    unsigned long h = hartid();
    if (f->cause == (CAUSE_INTR | IRQ_MTI)) {
        ticks[h]++;
        set_mtimecmp(h, mtime() + TICK);
        return;
    }
    rt_printf("unexpected trap cause=%#lx epc=%#lx\n", f->cause, f->epc);
    rt_fail(0x7f);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return x;
}

static void walk(unsigned long h)
{
    csr_write(mtvec, rt_mtrap_entry);
    set_mtimecmp(h, mtime() + TICK);
    csr_set(mie, 1UL << IRQ_MTI);
    csr_set(mstatus, MSTATUS_MIE);
    uint64_t seed = 0x1234567 + h;
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned k = 0; k < PAGES / 4; k++) {
            seed = mix(seed + k);
            unsigned pg = (unsigned)(seed % PAGES);
            uint64_t *p = (uint64_t *)(void *)&buf[h][pg * PAGE];
            if ((seed >> 20) % 7 == 0) {
                memset(p, 0, PAGE);             /* back to zero */
                continue;
            }
            uint64_t v = seed ^ ticks[h] ^ input_mix;
            for (unsigned i = 0; i < PAGE / 8; i += 1 + (unsigned)(v & 3))
                p[i] = v = mix(v + i);
        }
        if (h == 0) {
            int c;
            while ((c = uart_getc_nonblock()) >= 0)
                input_mix = mix(input_mix + (unsigned)c);
        }
    }
    csr_clear(mstatus, MSTATUS_MIE);
    ticket_lock(&lock);
    done_harts++;
    ticket_unlock(&lock);
}

void rt_secondary_main(unsigned long hart)
{
    if (hart >= MAX_HARTS)
        for (;;)
            wfi();
    ticket_lock(&lock);
    started_harts++;
    ticket_unlock(&lock);
    walk(hart);
    for (;;)
        wfi();
}

int main(void)
{
    rt_printf("memwalk: start\n");
    walk(0);
    /* the other harts started long before hart 0's walk ended */
    while (done_harts < started_harts)
        ;
    unsigned long nharts = done_harts;
    uint64_t sum = 0;
    unsigned long nonzero = 0;
    for (unsigned h = 0; h < MAX_HARTS; h++) {
        for (unsigned pg = 0; pg < PAGES; pg++) {
            const uint64_t *p = (const uint64_t *)(const void *)&buf[h][pg * PAGE];
            uint64_t s = 0;
            for (unsigned i = 0; i < PAGE / 8; i++)
                s = mix(s + p[i]);
            nonzero += s != 0;
            sum = mix(sum ^ s);
        }
    }
    rt_printf("memwalk: %lu harts, %lu ticks on hart 0, %lu non-zero pages\n", nharts,
              ticks[0], nonzero);
    rt_printf("memwalk: checksum %016llx\n", (unsigned long long)sum);
    CHECK(nonzero > 0, "pages were written");
    rt_printf("memwalk: done\n");
    rt_finish();
}
