/* Control and status registers: access rules, WARL fields and counters. */
#include "cpu.h"

#define MSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | \
                          MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | \
                          MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_READABLE (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_VS | MSTATUS_FS | \
                          MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD)
#define SSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | \
                          MSTATUS_MXR)
#define S_INTERRUPTS (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define ALL_INTERRUPTS (S_INTERRUPTS | MIP_MSIP | MIP_MTIP | MIP_MEIP)
/* software may set these pending bits in mip; the rest come from devices */
#define MIP_WRITABLE (MIP_SSIP | MIP_STIP)
#define MEDELEG_WRITABLE 0xb3ffull /* all synchronous causes but ecall from M */

/* As many PMP entries as QEMU's virt harts have. They are stored, not
 * enforced: firmware programs them and expects them to read back. */
#define PMP_ENTRIES 16

#define MISA_VALUE ((2ull << 62) | (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5) | (1u << 8) | \
                    (1u << 12) | (1u << 18) | (1u << 20))

void csr_reset(Hart *h)
{
    h->misa = MISA_VALUE;
    h->mstatus = (2ull << 32) | (2ull << 34);   /* UXL = SXL = 64 */
    h->medeleg = h->mideleg = 0;
    h->mie = h->mip = 0;
    h->mtvec = h->stvec = 0;
    h->mscratch = h->sscratch = 0;
    h->mepc = h->sepc = h->mcause = h->scause = h->mtval = h->stval = 0;
    h->satp = 0;
    h->mcounteren = h->scounteren = h->mcountinhibit = 0;
    h->menvcfg = h->senvcfg = 0;
    h->fflags = h->frm = 0;
    h->instret_offset = h->cycle_offset = 0;
    for (int i = 0; i < 16; i++)
        h->pmpcfg[i] = 0;
    for (int i = 0; i < 64; i++)
        h->pmpaddr[i] = 0;
    for (int i = 0; i < 32; i++)
        h->mhpmevent[i] = 0;
}

uint64_t csr_read_mstatus(const Hart *h)
{
    uint64_t s = h->mstatus;
    if ((s & MSTATUS_FS) == MSTATUS_FS)
        s |= MSTATUS_SD;
    return s;
}

uint64_t hart_steps(const Hart *h)
{
    uint64_t n = h->instret;
    if (h->m->current == h)
        n += (uint64_t)(h->slice_len - h->slice_left - 1);
    return n;
}

static bool counter_allowed(const Hart *h, unsigned idx)
{
    if (h->priv == PRV_M)
        return true;
    if (!((h->mcounteren >> idx) & 1))
        return false;
    if (h->priv == PRV_U && !((h->scounteren >> idx) & 1))
        return false;
    return true;
}

static bool fs_enabled(const Hart *h)
{
    return (h->mstatus & MSTATUS_FS) != 0;
}

bool csr_read(Hart *h, unsigned csr, uint64_t *val)
{
    if (((csr >> 8) & 3) > (unsigned)h->priv)
        return false;
    switch (csr) {
    case CSR_FFLAGS:
        if (!fs_enabled(h))
            return false;
        *val = h->fflags;
        return true;
    case CSR_FRM:
        if (!fs_enabled(h))
            return false;
        *val = h->frm;
        return true;
    case CSR_FCSR:
        if (!fs_enabled(h))
            return false;
        *val = h->frm << 5 | h->fflags;
        return true;
    case CSR_CYCLE:
    case CSR_TIME:
    case CSR_INSTRET:
        if (!counter_allowed(h, csr - CSR_CYCLE))
            return false;
        if (csr == CSR_TIME)
            *val = machine_mtime(h->m);
        else if (csr == CSR_CYCLE)
            *val = hart_steps(h) + (uint64_t)h->cycle_offset;
        else
            *val = hart_steps(h) + (uint64_t)h->instret_offset;
        return true;
    case CSR_SSTATUS:
        *val = csr_read_mstatus(h) & SSTATUS_READABLE;
        return true;
    case CSR_SIE:
        *val = h->mie & h->mideleg;
        return true;
    case CSR_STVEC: *val = h->stvec; return true;
    case CSR_SCOUNTEREN: *val = h->scounteren; return true;
    case CSR_SENVCFG: *val = h->senvcfg; return true;
    case CSR_SSCRATCH: *val = h->sscratch; return true;
    case CSR_SEPC: *val = h->sepc; return true;
    case CSR_SCAUSE: *val = h->scause; return true;
    case CSR_STVAL: *val = h->stval; return true;
    case CSR_SIP:
        *val = h->mip & h->mideleg;
        return true;
    case CSR_SATP:
        if (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM))
            return false;
        *val = h->satp;
        return true;
    case CSR_MSTATUS: *val = csr_read_mstatus(h); return true;
    case CSR_MISA: *val = h->misa; return true;
    case CSR_MEDELEG: *val = h->medeleg; return true;
    case CSR_MIDELEG: *val = h->mideleg; return true;
    case CSR_MIE: *val = h->mie; return true;
    case CSR_MTVEC: *val = h->mtvec; return true;
    case CSR_MCOUNTEREN: *val = h->mcounteren; return true;
    case CSR_MENVCFG: *val = h->menvcfg; return true;
    case CSR_MCOUNTINHIBIT: *val = h->mcountinhibit; return true;
    case CSR_MSCRATCH: *val = h->mscratch; return true;
    case CSR_MEPC: *val = h->mepc; return true;
    case CSR_MCAUSE: *val = h->mcause; return true;
    case CSR_MTVAL: *val = h->mtval; return true;
    case CSR_MIP: *val = h->mip; return true;
    case CSR_MCYCLE: *val = hart_steps(h) + (uint64_t)h->cycle_offset; return true;
    case CSR_MINSTRET: *val = hart_steps(h) + (uint64_t)h->instret_offset; return true;
    case CSR_MVENDORID:
    case CSR_MARCHID:
    case CSR_MIMPID:
    case CSR_MCONFIGPTR:
        *val = 0;
        return true;
    case CSR_MHARTID: *val = (uint64_t)h->id; return true;
    }
    if (csr >= CSR_PMPCFG0 && csr < CSR_PMPCFG0 + PMP_ENTRIES / 4) {
        if (csr & 1)    /* odd pmpcfg registers do not exist on RV64 */
            return false;
        *val = h->pmpcfg[csr - CSR_PMPCFG0];
        return true;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + PMP_ENTRIES) {
        *val = h->pmpaddr[csr - CSR_PMPADDR0];
        return true;
    }
    if (csr >= 0xc03 && csr <= 0xc1f) {     /* hpmcounter3..31 */
        if (!counter_allowed(h, csr - CSR_CYCLE))
            return false;
        *val = 0;
        return true;
    }
    if (csr >= 0xb03 && csr <= 0xb1f) {     /* mhpmcounter3..31 */
        *val = 0;
        return true;
    }
    if (csr >= 0x323 && csr <= 0x33f) {     /* mhpmevent3..31 */
        *val = h->mhpmevent[csr - 0x320];
        return true;
    }
    return false;
}

static void set_tvec(uint64_t *tvec, uint64_t val)
{
    /* modes 2 and 3 are reserved: QEMU ignores such writes, so do we */
    if ((val & 3) < 2)
        *tvec = val;
}

bool csr_write(Hart *h, unsigned csr, uint64_t val)
{
    uint64_t ignored;
    if (((csr >> 10) & 3) == 3)     /* read-only range */
        return false;
    if (!csr_read(h, csr, &ignored))  /* existence and privilege */
        return false;
    switch (csr) {
    case CSR_FFLAGS:
        h->fflags = val & 0x1f;
        h->mstatus |= MSTATUS_FS;
        return true;
    case CSR_FRM:
        h->frm = val & 7;
        h->mstatus |= MSTATUS_FS;
        return true;
    case CSR_FCSR:
        h->fflags = val & 0x1f;
        h->frm = (val >> 5) & 7;
        h->mstatus |= MSTATUS_FS;
        return true;
    case CSR_SSTATUS:
        val = (h->mstatus & ~SSTATUS_WRITABLE) | (val & SSTATUS_WRITABLE);
        __attribute__((fallthrough));
    case CSR_MSTATUS: {
        uint64_t mpp = (val & MSTATUS_MPP) >> 11;
        uint64_t keep = h->mstatus & ~MSTATUS_WRITABLE;
        if (mpp == 2)   /* reserved privilege: keep the old MPP */
            val = (val & ~MSTATUS_MPP) | (h->mstatus & MSTATUS_MPP);
        h->mstatus = keep | (val & MSTATUS_WRITABLE);
        hart_tlb_flush(h);
        h->stop_slice = true;
        return true;
    }
    case CSR_SIE:
        h->mie = (h->mie & ~h->mideleg) | (val & h->mideleg & ALL_INTERRUPTS);
        h->stop_slice = true;
        return true;
    case CSR_STVEC: set_tvec(&h->stvec, val); return true;
    case CSR_SCOUNTEREN: h->scounteren = val & 0xffffffffull; return true;
    case CSR_SENVCFG: h->senvcfg = val & 1; return true;
    case CSR_SSCRATCH: h->sscratch = val; return true;
    case CSR_SEPC: h->sepc = val & ~1ull; return true;
    case CSR_SCAUSE: h->scause = val; return true;
    case CSR_STVAL: h->stval = val; return true;
    case CSR_SIP: {
        uint64_t mask = MIP_SSIP & h->mideleg;
        h->mip = (h->mip & ~mask) | (val & mask);
        h->stop_slice = true;
        return true;
    }
    case CSR_SATP: {
        uint64_t mode = val >> 60;
        if (mode != 0 && mode != 8 && mode != 9)
            return true;    /* WARL: unsupported modes leave satp alone */
        h->satp = val & ((0xfull << 60) | ((1ull << 44) - 1));  /* no ASIDs */
        hart_tlb_flush(h);
        h->stop_slice = true;
        return true;
    }
    case CSR_MISA: return true;     /* fixed */
    case CSR_MEDELEG: h->medeleg = val & MEDELEG_WRITABLE; return true;
    case CSR_MIDELEG:
        h->mideleg = val & S_INTERRUPTS;
        h->stop_slice = true;
        return true;
    case CSR_MIE:
        h->mie = val & ALL_INTERRUPTS;
        h->stop_slice = true;
        return true;
    case CSR_MTVEC: set_tvec(&h->mtvec, val); return true;
    case CSR_MCOUNTEREN: h->mcounteren = val & 0xffffffffull; return true;
    case CSR_MENVCFG: h->menvcfg = val & 1; return true;
    case CSR_MCOUNTINHIBIT: h->mcountinhibit = val & 0xfffffffdull; return true;
    case CSR_MSCRATCH: h->mscratch = val; return true;
    case CSR_MEPC: h->mepc = val & ~1ull; return true;
    case CSR_MCAUSE: h->mcause = val; return true;
    case CSR_MTVAL: h->mtval = val; return true;
    case CSR_MIP:
        h->mip = (h->mip & ~MIP_WRITABLE) | (val & MIP_WRITABLE);
        h->stop_slice = true;
        return true;
    case CSR_MCYCLE:
        /* the written value is the count before this instruction retires:
         * the next read sees it plus the instructions since */
        h->cycle_offset = (int64_t)(val - hart_steps(h) - 1);
        return true;
    case CSR_MINSTRET:
        h->instret_offset = (int64_t)(val - hart_steps(h) - 1);
        return true;
    }
    if (csr >= CSR_PMPCFG0 && csr < CSR_PMPCFG0 + PMP_ENTRIES / 4) {
        h->pmpcfg[csr - CSR_PMPCFG0] = val;
        return true;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + PMP_ENTRIES) {
        h->pmpaddr[csr - CSR_PMPADDR0] = val & ((1ull << 54) - 1);
        return true;
    }
    if (csr >= 0x323 && csr <= 0x33f) {
        h->mhpmevent[csr - 0x320] = val;
        return true;
    }
    /* mhpmcounters read as zero and ignore writes */
    return true;
}

bool hart_interrupt_pending(const Hart *h)
{
    return (h->mip & h->mie) != 0;
}
