/* uart_irq: console input by interrupt. The UART's receive interrupt
 * (irq 10) goes through the PLIC to hart 0's M-mode context (context 0).
 * Lines read from the console are echoed back; "quit" ends the test. */
#include <stdio.h>
#include <string.h>
#include "rt.h"

#define UART_IER 1
#define UART_LSR 5

static volatile char ring[256];
static volatile unsigned head, tail;   /* head: written by the handler */
static volatile unsigned irqs, bad_claims, overflow;

void m_trap(struct trap_frame *f)
{
    if (f->cause != (CAUSE_INTR | IRQ_MEI)) {
        rt_printf("unexpected trap cause=%#lx epc=%#lx\n", f->cause, f->epc);
        rt_fail(0x7f);
    }
    uint32_t irq = MMIO32(PLIC_CLAIM(0));
    if (irq == UART_IRQ) {
        irqs++;
        while (MMIO8(UART_BASE + UART_LSR) & 1) {
            char c = (char)MMIO8(UART_BASE);
            if (head - tail < sizeof ring)
                ring[head++ % sizeof ring] = c;
            else
                overflow++;
        }
    } else if (irq != 0) {
        bad_claims++;
    }
    if (irq)
        MMIO32(PLIC_CLAIM(0)) = irq;    /* complete */
}

static int getc_irq(void)
{
    for (;;) {
        csr_clear(mstatus, MSTATUS_MIE);
        if (tail != head) {
            char c = ring[tail++ % sizeof ring];
            csr_set(mstatus, MSTATUS_MIE);
            return (unsigned char)c;
        }
        wfi();                          /* wakes on the pending interrupt */
        csr_set(mstatus, MSTATUS_MIE);  /* ... which is taken here */
    }
}

int main(void)
{
    /* no uart_init(): resetting the FIFOs would drop early input */
    csr_write(mtvec, rt_mtrap_entry);

    /* PLIC: uart irq 10, priority 1, enabled for context 0, threshold 0 */
    MMIO32(PLIC_PRIORITY(UART_IRQ)) = 1;
    MMIO32(PLIC_ENABLE(0, UART_IRQ)) = 1u << (UART_IRQ % 32);
    MMIO32(PLIC_THRESHOLD(0)) = 0;
    CHECK(MMIO32(PLIC_PRIORITY(UART_IRQ)) == 1, "PLIC priority reads back");
    CHECK(MMIO32(PLIC_ENABLE(0, UART_IRQ)) == 1u << UART_IRQ,
          "PLIC enable reads back");

    /* input that arrived before this point is still in the FIFO and raises
     * the interrupt as soon as it is enabled */
    MMIO8(UART_BASE + UART_IER) = 0x01;
    csr_write(mie, 1UL << IRQ_MEI);
    csr_set(mstatus, MSTATUS_MIE);
    printf("uart_irq: ready, type lines, 'quit' to end\n");

    char line[128];
    unsigned n = 0, lines = 0;
    for (;;) {
        int c = getc_irq();
        if (c == '\r')
            continue;
        if (c != '\n') {
            if (n < sizeof line - 1)
                line[n++] = (char)c;
            continue;
        }
        line[n] = 0;
        n = 0;
        if (strcmp(line, "quit") == 0)
            break;
        lines++;
        printf("echo: %s\n", line);
    }
    csr_clear(mstatus, MSTATUS_MIE);
    MMIO8(UART_BASE + UART_IER) = 0;
    printf("uart_irq: %u lines echoed\n", lines);
    CHECK(irqs > 0, "input arrived through the receive interrupt");
    CHECK(bad_claims == 0, "no spurious PLIC claims");
    CHECK(overflow == 0, "no input lost");
    rt_finish();
}
