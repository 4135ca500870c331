/* Trap entry and return: exceptions, interrupts, delegation, xRET. */
#include "cpu.h"

void hart_set_priv(Hart *h, int priv)
{
    if (h->priv != priv) {
        h->priv = priv;
        hart_tlb_flush(h);
    }
}

static uint64_t trap_vector(uint64_t tvec, uint64_t cause, bool interrupt)
{
    uint64_t base = tvec & ~3ull;
    if (interrupt && (tvec & 3) == 1)
        return base + 4 * cause;
    return base;
}

/* Enters the trap handler at S or M level, as delegation says. */
static void enter_trap(Hart *h, uint64_t cause, uint64_t tval, bool interrupt)
{
    uint64_t bit = 1ull << cause;
    bool to_s = h->priv <= PRV_S &&
                ((interrupt ? h->mideleg : h->medeleg) & bit) != 0;
    uint64_t mcause = cause | (interrupt ? 1ull << 63 : 0);

    h->wfi = false;
    if (to_s) {
        h->scause = mcause;
        h->sepc = h->pc;
        h->stval = tval;
        h->mstatus &= ~(MSTATUS_SPP | MSTATUS_SPIE);
        if (h->priv == PRV_S)
            h->mstatus |= MSTATUS_SPP;
        if (h->mstatus & MSTATUS_SIE)
            h->mstatus |= MSTATUS_SPIE;
        h->mstatus &= ~MSTATUS_SIE;
        h->pc = trap_vector(h->stvec, cause, interrupt);
        hart_set_priv(h, PRV_S);
    } else {
        h->mcause = mcause;
        h->mepc = h->pc;
        h->mtval = tval;
        h->mstatus &= ~(MSTATUS_MPP | MSTATUS_MPIE);
        h->mstatus |= (uint64_t)h->priv << 11;
        if (h->mstatus & MSTATUS_MIE)
            h->mstatus |= MSTATUS_MPIE;
        h->mstatus &= ~MSTATUS_MIE;
        h->pc = trap_vector(h->mtvec, cause, interrupt);
        hart_set_priv(h, PRV_M);
    }
}

void hart_raise_exception(Hart *h, uint64_t cause, uint64_t tval)
{
    enter_trap(h, cause, tval, false);
}

/* Interrupt priority order of the privileged spec. */
static const int irq_order[] = { 11, 3, 7, 9, 1, 5 };

bool hart_take_interrupt(Hart *h)
{
    uint64_t pending = h->mip & h->mie;
    if (!pending)
        return false;
    bool m_enabled = h->priv < PRV_M || (h->mstatus & MSTATUS_MIE);
    bool s_enabled = h->priv < PRV_S || (h->priv == PRV_S && (h->mstatus & MSTATUS_SIE));
    uint64_t m_pending = m_enabled ? pending & ~h->mideleg : 0;
    uint64_t s_pending = s_enabled ? pending & h->mideleg : 0;
    uint64_t take = m_pending ? m_pending : s_pending;
    if (!take)
        return false;
    for (unsigned i = 0; i < sizeof(irq_order) / sizeof(irq_order[0]); i++) {
        if (take & (1ull << irq_order[i])) {
            enter_trap(h, (uint64_t)irq_order[i], 0, true);
            return true;
        }
    }
    return false;
}

void hart_mret(Hart *h)
{
    int prev = (int)((h->mstatus & MSTATUS_MPP) >> 11);
    h->mstatus &= ~MSTATUS_MIE;
    if (h->mstatus & MSTATUS_MPIE)
        h->mstatus |= MSTATUS_MIE;
    h->mstatus |= MSTATUS_MPIE;
    h->mstatus &= ~MSTATUS_MPP;
    if (prev != PRV_M)
        h->mstatus &= ~MSTATUS_MPRV;
    h->pc = h->mepc;
    hart_set_priv(h, prev);
    hart_tlb_flush(h);  /* MPRV may have changed */
}

void hart_sret(Hart *h)
{
    int prev = (h->mstatus & MSTATUS_SPP) ? PRV_S : PRV_U;
    h->mstatus &= ~MSTATUS_SIE;
    if (h->mstatus & MSTATUS_SPIE)
        h->mstatus |= MSTATUS_SIE;
    h->mstatus |= MSTATUS_SPIE;
    h->mstatus &= ~MSTATUS_SPP;
    h->mstatus &= ~MSTATUS_MPRV;
    h->pc = h->sepc;
    hart_set_priv(h, prev);
}
