/* Address translation (Sv39/Sv48), the software TLBs and the slow paths
 * of loads, stores, atomics and instruction fetch.
 *
 * TLB entries are only valid for the translation context in which they were
 * filled (privilege, satp, MPRV/SUM/MXR): every change of that context
 * flushes them. The store TLB never maps a page holding decoded code or the
 * HTIF tohost word, so stores to those pages take the slow path, which keeps
 * the decoded-instruction cache coherent. */
#include "cpu.h"
#include "jit.h"
#include "watchpoints.h"

#include <string.h>

#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_PPN_MASK 0x003ffffffffffc00ull
#define PTE_PBMT (3ull << 61)
#define PTE_N (1ull << 63)

void hart_tlb_flush(Hart *h)
{
    memset(h->tlb_load, 0xff, sizeof(h->tlb_load));
    memset(h->tlb_store, 0xff, sizeof(h->tlb_store));
    memset(h->tlb_code, 0xff, sizeof(h->tlb_code));
}

void hart_tlb_flush_store(Hart *h)
{
    memset(h->tlb_store, 0xff, sizeof(h->tlb_store));
}

static int effective_priv(const Hart *h, int access)
{
    if (access != ACC_FETCH && h->priv == PRV_M && (h->mstatus & MSTATUS_MPRV))
        return (int)((h->mstatus & MSTATUS_MPP) >> 11);
    return h->priv;
}

static uint64_t page_fault_cause(int access)
{
    return access == ACC_FETCH ? EXC_INSN_PAGE : access == ACC_LOAD ? EXC_LOAD_PAGE : EXC_STORE_PAGE;
}

static uint64_t access_fault_cause(int access)
{
    return access == ACC_FETCH ? EXC_INSN_ACCESS : access == ACC_LOAD ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS;
}

static void fault(Hart *h, uint64_t cause, uint64_t tval)
{
    h->exc_cause = cause;
    h->exc_tval = tval;
}

bool mmu_translate(Hart *h, uint64_t va, int access, uint64_t *pa, bool debug)
{
    int priv = effective_priv(h, access);
    unsigned mode = (unsigned)(h->satp >> 60);
    int levels;

    if (priv == PRV_M || mode == 0) {
        *pa = va;
        return true;
    }
    levels = mode == 8 ? 3 : 4;   /* csr_write only accepts 0, 8 and 9 */
    {
        int vabits = 12 + 9 * levels;
        int64_t top = (int64_t)va >> (vabits - 1);
        if (top != 0 && top != -1) {
            fault(h, page_fault_cause(access), va);
            return false;
        }
    }

    uint64_t table = (h->satp & ((1ull << 44) - 1)) << PAGE_SHIFT;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t idx = (va >> (PAGE_SHIFT + 9 * level)) & 511;
        uint64_t pte_addr = table + idx * 8;
        uint8_t *pte_ptr = machine_phys_ptr(h->m, pte_addr, 8);
        uint64_t pte;

        if (!pte_ptr) {
            fault(h, access_fault_cause(access), va);
            return false;
        }
        memcpy(&pte, pte_ptr, 8);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte & (PTE_PBMT | PTE_N)))
            break;
        if (!(pte & (PTE_R | PTE_X))) {
            table = ((pte & PTE_PPN_MASK) >> 10) << PAGE_SHIFT;
            continue;
        }
        /* leaf: permissions */
        if (access == ACC_FETCH) {
            if (!(pte & PTE_X))
                break;
            if (priv == PRV_U ? !(pte & PTE_U) : (pte & PTE_U) != 0)
                break;
        } else {
            if (priv == PRV_U && !(pte & PTE_U))
                break;
            /* the debugger reads user memory from a kernel stop whatever
             * SUM says (so does QEMU's): a syscall's pointer arguments */
            if (priv == PRV_S && (pte & PTE_U) && !(h->mstatus & MSTATUS_SUM) && !debug)
                break;
            if (access == ACC_LOAD &&
                !((pte & PTE_R) || ((pte & PTE_X) && (h->mstatus & MSTATUS_MXR))))
                break;
            if (access == ACC_STORE && !(pte & PTE_W))
                break;
        }
        uint64_t ppn = (pte & PTE_PPN_MASK) >> 10;
        uint64_t low_mask = (1ull << (9 * level)) - 1;
        if (ppn & low_mask)   /* misaligned superpage */
            break;
        if (!debug) {
            uint64_t need = PTE_A | (access == ACC_STORE ? PTE_D : 0);
            if ((pte & need) != need) {
                pte |= need;
                memcpy(pte_ptr, &pte, 8);
                machine_mark_dirty(h->m, pte_addr, 8);
            }
        }
        *pa = ((ppn | ((va >> PAGE_SHIFT) & low_mask)) << PAGE_SHIFT) | (va & (PAGE_SIZE - 1));
        return true;
    }
    fault(h, page_fault_cause(access), va);
    return false;
}

static const MmioRegion *find_mmio(Machine *m, uint64_t pa, unsigned size)
{
    for (int i = 0; i < m->n_mmio; i++) {
        const MmioRegion *r = &m->mmio[i];
        if (pa >= r->base && pa - r->base + size <= r->size)
            return r;
    }
    return NULL;
}

static bool is_code_page(Machine *m, uint64_t pa)
{
    if (pa >= m->ram_base && pa - m->ram_base < m->ram_size)
        return m->code_pages[(pa - m->ram_base) >> PAGE_SHIFT] != NULL;
    if (pa >= m->rom_base && pa - m->rom_base < m->rom_size)
        return m->rom_code_pages[(pa - m->rom_base) >> PAGE_SHIFT] != NULL;
    return false;
}

static bool is_htif_page(Machine *m, uint64_t pa)
{
    return m->htif_tohost && (pa & PAGE_MASK) == (m->htif_tohost & PAGE_MASK);
}

static bool load_aligned(Hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    uint64_t pa;
    if (!mmu_translate(h, va, ACC_LOAD, &pa, false))
        return false;
    uint8_t *p = machine_phys_ptr(h->m, pa, size);
    if (p) {
        uint64_t v = 0;
        memcpy(&v, p, size);
        *val = v;
        if (!watchpoint_page(h->m, va)) {
            TlbEntry *e = &h->tlb_load[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
            e->tag = va & PAGE_MASK;
            e->addend = (uintptr_t)(p - (pa & (PAGE_SIZE - 1))) - (va & PAGE_MASK);
        }
        return true;
    }
    const MmioRegion *r = find_mmio(h->m, pa, size);
    uint64_t v = 0;
    if (!r || !r->read || !r->read(r->opaque, pa - r->base, size, &v)) {
        fault(h, EXC_LOAD_ACCESS, va);
        return false;
    }
    *val = size == 8 ? v : v & ((1ull << (size * 8)) - 1);
    return true;
}

bool mmu_load_slow(Hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    if (unlikely(watchpoint_check(h, va, size, true, false)))
        return false;
    if (likely((va & (size - 1)) == 0))
        return load_aligned(h, va, size, val);
    /* misaligned: done byte by byte, as QEMU's virt allows them */
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t b;
        if (!load_aligned(h, va + i, 1, &b))
            return false;
        v |= b << (8 * i);
    }
    *val = v;
    return true;
}

static bool store_aligned(Hart *h, uint64_t va, unsigned size, uint64_t val)
{
    Machine *m = h->m;
    uint64_t pa;
    if (!mmu_translate(h, va, ACC_STORE, &pa, false))
        return false;
    uint8_t *p = machine_phys_ptr(m, pa, size);
    if (p && !(pa >= m->rom_base && pa - m->rom_base < m->rom_size)) {
        memcpy(p, &val, size);
        /* before the TLB fill below: see the rule in machine.h */
        machine_mark_dirty(m, pa, size);
        bool code = is_code_page(m, pa), htif = is_htif_page(m, pa);
        if (code)
            machine_code_written(m, pa, size);
        if (htif && pa == m->htif_tohost) {
            uint64_t tohost;
            memcpy(&tohost, machine_phys_ptr(m, pa, 8), 8);
            htif_write_tohost(m, tohost);
        }
        if (!code && !htif && !watchpoint_page(m, va)) {
            TlbEntry *e = &h->tlb_store[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
            e->tag = va & PAGE_MASK;
            e->addend = (uintptr_t)(p - (pa & (PAGE_SIZE - 1))) - (va & PAGE_MASK);
        }
        return true;
    }
    const MmioRegion *r = p ? NULL : find_mmio(m, pa, size);
    if (!r || !r->write || !r->write(r->opaque, pa - r->base, size, val)) {
        fault(h, EXC_STORE_ACCESS, va);
        return false;
    }
    /* a device write may change interrupt lines or stop the machine */
    h->stop_slice = true;
    return true;
}

bool mmu_store_slow(Hart *h, uint64_t va, unsigned size, uint64_t val)
{
    if (unlikely(watchpoint_check(h, va, size, false, true)))
        return false;
    if (likely((va & (size - 1)) == 0))
        return store_aligned(h, va, size, val);
    /* misaligned: check both ends first so a fault leaves memory alone */
    uint64_t pa;
    if (!mmu_translate(h, va, ACC_STORE, &pa, false) ||
        !mmu_translate(h, va + size - 1, ACC_STORE, &pa, false))
        return false;
    for (unsigned i = 0; i < size; i++) {
        if (!store_aligned(h, va + i, 1, (val >> (8 * i)) & 0xff))
            return false;
    }
    return true;
}

uint8_t *mmu_amo_ptr(Hart *h, uint64_t va, unsigned size, bool is_lr)
{
    Machine *m = h->m;
    int access = is_lr ? ACC_LOAD : ACC_STORE;
    uint64_t pa;
    if (va & (size - 1)) {
        fault(h, is_lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
        return NULL;
    }
    /* an AMO reads and writes; LR reads; SC writes (its caller passes
     * is_lr false and only comes here when the SC would store) */
    if (unlikely(watchpoint_check(h, va, size, true, !is_lr)))
        return NULL;
    if (!mmu_translate(h, va, access, &pa, false))
        return NULL;
    if (!(pa >= m->ram_base && pa - m->ram_base < m->ram_size)) {
        fault(h, access_fault_cause(access), va);
        return NULL;
    }
    if (!is_lr) {
        /* the caller writes through the pointer: mark the page first */
        machine_mark_dirty(m, pa, size);
        if (is_code_page(m, pa))
            machine_code_written(m, pa, size);
    }
    return m->ram + (pa - m->ram_base);
}

static DecodedPage **code_slot(Machine *m, uint64_t pa)
{
    if (pa >= m->ram_base && pa - m->ram_base < m->ram_size)
        return &m->code_pages[(pa - m->ram_base) >> PAGE_SHIFT];
    if (pa >= m->rom_base && pa - m->rom_base < m->rom_size)
        return &m->rom_code_pages[(pa - m->rom_base) >> PAGE_SHIFT];
    return NULL;
}

static DecodedPage *new_code_page(Machine *m, uint64_t pa_page)
{
    DecodedPage *dp = g_malloc(sizeof(DecodedPage));
    dp->paddr = pa_page;
    dp->host = machine_phys_ptr(m, pa_page, PAGE_SIZE);
    dp->jit = NULL;
    for (unsigned i = 0; i < PAGE_INSNS; i++) {
        dp->insn[i].handler = interp_handlers[OP_DECODE];
        dp->insn[i].op = OP_DECODE;
        dp->insn[i].len = 2;
        dp->insn[i].step = INSN_STEP(2);
    }
    for (unsigned i = PAGE_INSNS; i < PAGE_INSNS + 2; i++) {
        dp->insn[i].handler = interp_handlers[OP_PAGE_END];
        dp->insn[i].op = OP_PAGE_END;
        dp->insn[i].len = 2;
        dp->insn[i].step = INSN_STEP(2);
    }
    /* stores to this page must now take the slow path, in every hart */
    for (int i = 0; i < m->nharts; i++) {
        Hart *o = m->harts[i];
        for (int j = 0; j < TLB_SIZE; j++) {
            TlbEntry *e = &o->tlb_store[j];
            if (e->tag != ~0ull && (uint8_t *)(e->tag + e->addend) == dp->host)
                e->tag = ~0ull;
        }
    }
    return dp;
}

DecodedPage *mmu_code_page(Hart *h, uint64_t va)
{
    Machine *m = h->m;
    uint64_t pa;
    if (!mmu_translate(h, va, ACC_FETCH, &pa, false))
        return NULL;
    DecodedPage **slot = code_slot(m, pa);
    if (!slot) {
        fault(h, EXC_INSN_ACCESS, va);
        return NULL;
    }
    if (!*slot)
        *slot = new_code_page(m, pa & PAGE_MASK);
    CodeTlbEntry *ce = &h->tlb_code[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    ce->tag = va & PAGE_MASK;
    ce->page = *slot;
    return *slot;
}

bool mmu_fetch16(Hart *h, uint64_t va, uint16_t *val)
{
    uint64_t pa;
    if (!mmu_translate(h, va, ACC_FETCH, &pa, false))
        return false;
    uint8_t *p = code_slot(h->m, pa) ? machine_phys_ptr(h->m, pa, 2) : NULL;
    if (!p) {
        fault(h, EXC_INSN_ACCESS, va);
        return false;
    }
    memcpy(val, p, 2);
    return true;
}

void machine_code_written(Machine *m, uint64_t pa, uint64_t len)
{
    uint64_t end = pa + len;
    /* an instruction starting 2 bytes before the write may overlap it */
    uint64_t start = pa >= 2 ? pa - 2 : pa;
    for (uint64_t a = start; a < end; a = (a & PAGE_MASK) + PAGE_SIZE) {
        DecodedPage **slot = code_slot(m, a);
        if (!slot || !*slot)
            continue;
        unsigned first = (unsigned)((a & (PAGE_SIZE - 1)) >> 1);
        uint64_t page_end = (a & PAGE_MASK) + PAGE_SIZE;
        unsigned last = (unsigned)((((end < page_end ? end : page_end) - 1) & (PAGE_SIZE - 1)) >> 1);
        jit_page_invalidate(*slot);
        for (unsigned i = first; i <= last; i++) {
            (*slot)->insn[i].handler = interp_handlers[OP_DECODE];
            (*slot)->insn[i].op = OP_DECODE;
        }
    }
}

void machine_code_cache_free(Machine *m)
{
    if (m->code_pages) {
        for (uint64_t i = 0; i < m->ram_size >> PAGE_SHIFT; i++) {
            if (m->code_pages[i])
                g_free(m->code_pages[i]->jit);
            g_free(m->code_pages[i]);
        }
        g_free(m->code_pages);
        m->code_pages = NULL;
    }
    if (m->rom_code_pages) {
        for (uint64_t i = 0; i < m->rom_size >> PAGE_SHIFT; i++) {
            if (m->rom_code_pages[i])
                g_free(m->rom_code_pages[i]->jit);
            g_free(m->rom_code_pages[i]);
        }
        g_free(m->rom_code_pages);
        m->rom_code_pages = NULL;
    }
    jit_free(m);
}
