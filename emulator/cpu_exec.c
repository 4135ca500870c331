/* The interpreter: threaded dispatch (computed goto) over decoded pages.
 *
 * Each guest physical page that holds code has a DecodedPage: one entry per
 * 2-byte slot, decoded lazily, plus sentinels after the last slot that send
 * execution to a full lookup. The pc is not kept per instruction: it is
 * derived from the entry's position in its page when an instruction needs
 * it. Every executed instruction (or exception taken) consumes one step of
 * the slice budget, so the instruction count is exact. */
#include "breakpoints.h"
#include "cpu.h"
#include "jit.h"
#include "watchpoints.h"

#include <string.h>

static const void *handler_table[OP_ALL_COUNT];
const void **interp_handlers;

static int64_t interp(Hart *h, int64_t max, bool init);

static inline uint32_t unbox32(uint64_t v)
{
    return (v >> 32) == 0xffffffffu ? (uint32_t)v : F32_CANONICAL_NAN;
}

static inline uint64_t box32(uint32_t v)
{
    return 0xffffffff00000000ull | v;
}

int64_t hart_run(Hart *h, int64_t max)
{
    if (unlikely(!interp_handlers))
        interp(h, 0, true);
    if (max <= 0)
        return 0;
    return interp(h, max, false);
}

/* The per-hart page used to execute an instruction that straddles two
 * pages: it is decoded afresh every time, since either page may change. */
static DecodedPage *cross_page(Hart *h)
{
    static __thread DecodedPage *pages[REWIND_MAX_HARTS];
    if (!pages[h->id]) {
        pages[h->id] = g_malloc0(sizeof(DecodedPage));
        pages[h->id]->insn[PAGE_INSNS].handler = handler_table[OP_PAGE_END];
        pages[h->id]->insn[PAGE_INSNS].op = OP_PAGE_END;
        pages[h->id]->insn[PAGE_INSNS + 1].handler = handler_table[OP_PAGE_END];
        pages[h->id]->insn[PAGE_INSNS + 1].op = OP_PAGE_END;
    }
    return pages[h->id];
}

static int64_t interp(Hart *h, int64_t max, bool init)
{
    if (init) {
#define OP_LABEL(name) handler_table[OP_##name] = &&L_##name;
        OP_LIST(OP_LABEL)
#undef OP_LABEL
        handler_table[OP_DECODE] = &&L_DECODE;
        handler_table[OP_PAGE_END] = &&L_PAGE_END;
        handler_table[OP_CROSS_PAGE] = &&L_CROSS_PAGE;
        handler_table[OP_BREAKPOINT] = &&L_BREAKPOINT;
        interp_handlers = handler_table;
        return 0;
    }

    uint64_t *const x = h->x;
    int64_t left = max;
    DecodedPage *page = NULL;
    DecodedInsn *di = NULL;
    DecodedInsn *insn_base = NULL;  /* page->insn, kept apart so the compiler
                                     * does not recompute it at each dispatch */
    uint64_t vpage = 0;          /* virtual base of the page di points into */
    uint64_t fast_tag = ~0ull;   /* vpage when same-page jumps may skip lookup */
    uint64_t npc = h->pc;        /* target of the pending lookup */
    uint32_t fflags;
    /* compiled blocks run where jumps land; they end in front of any
     * debugger breakpoint's page offset (jit_compile), so the entries there
     * still go through L_BREAKPOINT */
    const bool jit_on = h->m->jit != NULL;

    h->slice_len = max;
    h->slice_left = max;
    h->stop_slice = false;

#define PC() (vpage + ((uint64_t)(di - insn_base) << 1))
#define SYNC() (h->slice_left = left)
/* The budget check is a decrement and a sign test: one fused host
 * instruction per guest instruction. */
#define DISPATCH()                           \
    do {                                     \
        if (unlikely(--left < 0))            \
            goto out_no_budget;              \
        goto *di->handler;                   \
    } while (0)
#define NEXT()                               \
    do {                                     \
        di = (DecodedInsn *)((char *)di + di->step); \
        DISPATCH();                          \
    } while (0)
/* Dispatch at a jump target: where compiled blocks start. */
#define DISPATCH_JUMP()                      \
    do {                                     \
        if (jit_on)                          \
            goto jit_enter;                  \
        DISPATCH();                          \
    } while (0)
#define JUMP(target)                         \
    do {                                     \
        npc = (target);                      \
        goto lookup;                         \
    } while (0)
#define RS1 x[di->rs1]
#define RS2 x[di->rs2]
#define RD x[di->rd]
#define IMM ((int64_t)di->imm)
/* After a slow path: a device may have raised an interrupt, or code in
 * this page may have been overwritten; leave the slice after this insn. */
#define AFTER_SLOW()                         \
    do {                                     \
        if (unlikely(h->stop_slice)) {       \
            di = (DecodedInsn *)((char *)di + di->step); \
            goto out;                        \
        }                                    \
    } while (0)
#define EXCEPTION()                          \
    do {                                     \
        h->pc = PC();                        \
        goto take_exception;                 \
    } while (0)

#define LOAD(type, size)                                                        \
    do {                                                                        \
        uint64_t va = RS1 + IMM;                                                \
        TlbEntry *e = &h->tlb_load[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];        \
        if (likely(e->tag == (va & (PAGE_MASK | (size - 1))))) {                \
            RD = (uint64_t)(int64_t) * (type *)(e->addend + va);                \
        } else {                                                                \
            uint64_t v_;                                                        \
            SYNC();                                                             \
            h->pc = PC();                                                       \
            if (!mmu_load_slow(h, va, size, &v_))                               \
                goto take_exception;                                            \
            RD = (uint64_t)(int64_t)(type)v_;                                   \
            AFTER_SLOW();                                                       \
        }                                                                       \
        NEXT();                                                                 \
    } while (0)

#define STORE(type, size, value)                                                \
    do {                                                                        \
        uint64_t va = RS1 + IMM;                                                \
        TlbEntry *e = &h->tlb_store[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];       \
        if (likely(e->tag == (va & (PAGE_MASK | (size - 1))))) {                \
            *(type *)(e->addend + va) = (type)(value);                          \
        } else {                                                                \
            SYNC();                                                             \
            h->pc = PC();                                                       \
            if (!mmu_store_slow(h, va, size, (uint64_t)(value)))                \
                goto take_exception;                                            \
            AFTER_SLOW();                                                       \
        }                                                                       \
        NEXT();                                                                 \
    } while (0)

#define BRANCH(cond)                                                            \
    do {                                                                        \
        if (cond) {                                                             \
            if (likely(di->target)) {                                           \
                di += di->target;                                               \
                DISPATCH_JUMP();                                                \
            }                                                                   \
            JUMP(PC() + IMM);                                                   \
        }                                                                       \
        NEXT();                                                                 \
    } while (0)

    goto lookup;

lookup:
    if (likely((npc & PAGE_MASK) == fast_tag)) {
        di = &insn_base[(npc & (PAGE_SIZE - 1)) >> 1];
        DISPATCH_JUMP();
    }
    {
        CodeTlbEntry *ce = &h->tlb_code[(npc >> PAGE_SHIFT) & (TLB_SIZE - 1)];
        if (likely(ce->tag == (npc & PAGE_MASK))) {
            page = ce->page;
            insn_base = page->insn;
        } else {
            SYNC();
            h->pc = npc;
            page = mmu_code_page(h, npc);
            if (page)
                insn_base = page->insn;
            if (!page) {
                /* the fetch fault is this step */
                if (left <= 0)
                    goto out_at_npc;
                left--;
                goto take_exception;
            }
        }
        /* entering a page that holds a debugger breakpoint: the entries at
         * breakpoints check before they run (guest memory is untouched) */
        if (unlikely(h->m->breakpoints) && !h->m->debug_suspended)
            breakpoints_patch_page(h->m->breakpoints, page, npc & PAGE_MASK,
                                   handler_table[OP_BREAKPOINT]);
        vpage = npc & PAGE_MASK;
        fast_tag = vpage;
        di = &insn_base[(npc & (PAGE_SIZE - 1)) >> 1];
        DISPATCH_JUMP();
    }

jit_enter: {
    /* di: a jump target in page, the step not taken yet */
    if (unlikely(!page->host))
        DISPATCH();     /* the cross-page scratch page */
    JitPage *jp = page->jit;
    if (unlikely(!jp))
        jp = page->jit = g_new0(JitPage, 1);
    unsigned idx = (unsigned)(di - insn_base);
    void *code = jp->code[idx];
    if (!code) {
        if (jp->hot[idx] == JIT_NEVER || ++jp->hot[idx] < jit_hot)
            DISPATCH();
        code = jit_compile(h->m, page, idx);
        if (!code)
            DISPATCH();
    }
    if ((int64_t)jit_block_len(code) > left)
        DISPATCH();
    JitExit ex;
    npc = jit_run(h->m, h, code, left, vpage, &ex);
    left = ex.left;
    if (likely(ex.status == JIT_EXIT_JUMP))
        goto lookup;
    if (ex.status == JIT_EXIT_EXC)
        goto take_exception;
    goto out_at_npc;
}

take_exception:
    /* h->pc is the faulting instruction; the step was already counted */
    if (unlikely(h->exc_cause == EXC_WATCHPOINT)) {
        /* not an exception: stop in front of the instruction, uncounted */
        left++;
        h->slice_left = left;
        return max - left;
    }
    hart_raise_exception(h, h->exc_cause, h->exc_tval);
    fast_tag = ~0ull;
    npc = h->pc;
    goto lookup;

illegal_insn:
    h->exc_cause = EXC_ILLEGAL;
    h->exc_tval = di->raw;
    EXCEPTION();

L_DECODE: {
    uint64_t off = (uint64_t)(di - insn_base) << 1;
    uint32_t insn;
    uint16_t lo;
    memcpy(&lo, page->host + off, 2);
    if ((lo & 3) == 3 && off == PAGE_SIZE - 2) {
        di->handler = handler_table[OP_CROSS_PAGE];
        di->op = OP_CROSS_PAGE;
        di->len = 4;
        di->step = INSN_STEP(4);
        goto L_CROSS_PAGE;
    }
    if ((lo & 3) == 3)
        memcpy(&insn, page->host + off, 4);
    else
        insn = lo;
    decode_insn(insn, di);
    di->handler = handler_table[di->op];
    if (unlikely(h->m->breakpoints) && breakpoint_at(h->m->breakpoints, PC()))
        di->handler = handler_table[OP_BREAKPOINT];
    if ((di->op >= OP_BEQ && di->op <= OP_BGEU) || di->op == OP_JAL) {
        int64_t t = (int64_t)off + di->imm;
        if (t >= 0 && t < PAGE_SIZE)
            di->target = (int16_t)(di->imm / 2);
    }
    goto *di->handler;
}

L_CROSS_PAGE: {
    uint64_t pc = PC();
    uint16_t lo, hi;
    memcpy(&lo, page->host + PAGE_SIZE - 2, 2);
    SYNC();
    h->pc = pc;
    if (!mmu_fetch16(h, pc + 2, &hi))
        goto take_exception;
    DecodedPage *xp = cross_page(h);
    decode_insn((uint32_t)lo | (uint32_t)hi << 16, &xp->insn[PAGE_INSNS - 1]);
    xp->insn[PAGE_INSNS - 1].handler = handler_table[xp->insn[PAGE_INSNS - 1].op];
    page = xp;
    insn_base = xp->insn;
    fast_tag = ~0ull;   /* same-page jumps must not land in the scratch page */
    di = &xp->insn[PAGE_INSNS - 1];
    goto *di->handler;
}

L_BREAKPOINT: {
    /* an entry whose address holds (or held) a debugger breakpoint */
    BreakpointSet *bps = h->m->breakpoints;
    uint64_t pc = PC();
    if (!bps || !breakpoint_at(bps, pc)) {
        /* removed, or this physical page is also mapped where there is
         * none: run as the instruction it is (entering the breakpoint's
         * page again patches it again) */
        di->handler = handler_table[di->op];
        goto *di->handler;
    }
    /* the run loop checks the first instruction of a slice itself, so the
     * debugger can resume from a breakpoint it reported */
    if (!h->m->debug_suspended && left + 1 < max &&
        breakpoint_should_stop(bps, h->id, pc, h->instret + (uint64_t)(max - left - 1))) {
        left++;     /* not executed */
        h->bp_stop = true;
        goto out;
    }
    goto *handler_table[di->op];
}

L_PAGE_END:
    /* fell off the end of a page: not an instruction, give the step back */
    left++;
    JUMP(PC());

L_ILLEGAL:
    goto illegal_insn;
L_NOP:
L_FENCE:
    NEXT();
L_LUI:
    RD = (uint64_t)IMM;
    NEXT();
L_AUIPC:
    RD = PC() + (uint64_t)IMM;
    NEXT();
L_JAL: {
    uint64_t pc = PC();
    RD = pc + di->len;
    if (likely(di->target)) {
        di += di->target;
        DISPATCH_JUMP();
    }
    JUMP(pc + IMM);
}
L_JALR: {
    uint64_t pc = PC();
    uint64_t target = (RS1 + IMM) & ~1ull;
    RD = pc + di->len;
    JUMP(target);
}
L_BEQ: BRANCH(RS1 == RS2);
L_BNE: BRANCH(RS1 != RS2);
L_BLT: BRANCH((int64_t)RS1 < (int64_t)RS2);
L_BGE: BRANCH((int64_t)RS1 >= (int64_t)RS2);
L_BLTU: BRANCH(RS1 < RS2);
L_BGEU: BRANCH(RS1 >= RS2);

L_LB: LOAD(int8_t, 1);
L_LH: LOAD(int16_t, 2);
L_LW: LOAD(int32_t, 4);
L_LD: LOAD(int64_t, 8);
L_LBU: LOAD(uint8_t, 1);
L_LHU: LOAD(uint16_t, 2);
L_LWU: LOAD(uint32_t, 4);
L_SB: STORE(uint8_t, 1, RS2);
L_SH: STORE(uint16_t, 2, RS2);
L_SW: STORE(uint32_t, 4, RS2);
L_SD: STORE(uint64_t, 8, RS2);

L_ADDI: RD = RS1 + (uint64_t)IMM; NEXT();
L_SLTI: RD = (int64_t)RS1 < IMM; NEXT();
L_SLTIU: RD = RS1 < (uint64_t)IMM; NEXT();
L_XORI: RD = RS1 ^ (uint64_t)IMM; NEXT();
L_ORI: RD = RS1 | (uint64_t)IMM; NEXT();
L_ANDI: RD = RS1 & (uint64_t)IMM; NEXT();
L_SLLI: RD = RS1 << di->imm; NEXT();
L_SRLI: RD = RS1 >> di->imm; NEXT();
L_SRAI: RD = (uint64_t)((int64_t)RS1 >> di->imm); NEXT();
L_ADD: RD = RS1 + RS2; NEXT();
L_SUB: RD = RS1 - RS2; NEXT();
L_SLL: RD = RS1 << (RS2 & 63); NEXT();
L_SLT: RD = (int64_t)RS1 < (int64_t)RS2; NEXT();
L_SLTU: RD = RS1 < RS2; NEXT();
L_XOR: RD = RS1 ^ RS2; NEXT();
L_SRL: RD = RS1 >> (RS2 & 63); NEXT();
L_SRA: RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63)); NEXT();
L_OR: RD = RS1 | RS2; NEXT();
L_AND: RD = RS1 & RS2; NEXT();
L_ADDIW: RD = (uint64_t)(int64_t)(int32_t)(RS1 + (uint64_t)IMM); NEXT();
L_SLLIW: RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 << di->imm); NEXT();
L_SRLIW: RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 >> di->imm); NEXT();
L_SRAIW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> di->imm); NEXT();
L_ADDW: RD = (uint64_t)(int64_t)(int32_t)(RS1 + RS2); NEXT();
L_SUBW: RD = (uint64_t)(int64_t)(int32_t)(RS1 - RS2); NEXT();
L_SLLW: RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 << (RS2 & 31)); NEXT();
L_SRLW: RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 >> (RS2 & 31)); NEXT();
L_SRAW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31)); NEXT();

L_MUL: RD = RS1 * RS2; NEXT();
L_MULH: RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >> 64); NEXT();
L_MULHSU: RD = (uint64_t)(((__int128)(int64_t)RS1 * (unsigned __int128)RS2) >> 64); NEXT();
L_MULHU: RD = (uint64_t)(((unsigned __int128)RS1 * (unsigned __int128)RS2) >> 64); NEXT();
L_DIV: {
    int64_t a = (int64_t)RS1, b = (int64_t)RS2;
    if (b == 0)
        RD = ~0ull;
    else if (a == INT64_MIN && b == -1)
        RD = (uint64_t)a;
    else
        RD = (uint64_t)(a / b);
    NEXT();
}
L_DIVU: RD = RS2 ? RS1 / RS2 : ~0ull; NEXT();
L_REM: {
    int64_t a = (int64_t)RS1, b = (int64_t)RS2;
    if (b == 0)
        RD = (uint64_t)a;
    else if (a == INT64_MIN && b == -1)
        RD = 0;
    else
        RD = (uint64_t)(a % b);
    NEXT();
}
L_REMU: RD = RS2 ? RS1 % RS2 : RS1; NEXT();
L_MULW: RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 * (uint32_t)RS2); NEXT();
L_DIVW: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    if (b == 0)
        RD = ~0ull;
    else if (a == INT32_MIN && b == -1)
        RD = (uint64_t)(int64_t)a;
    else
        RD = (uint64_t)(int64_t)(a / b);
    NEXT();
}
L_DIVUW: {
    uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
    RD = b ? (uint64_t)(int64_t)(int32_t)(a / b) : ~0ull;
    NEXT();
}
L_REMW: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    if (b == 0)
        RD = (uint64_t)(int64_t)a;
    else if (a == INT32_MIN && b == -1)
        RD = 0;
    else
        RD = (uint64_t)(int64_t)(a % b);
    NEXT();
}
L_REMUW: {
    uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
    RD = (uint64_t)(int64_t)(int32_t)(b ? a % b : a);
    NEXT();
}

L_FENCE_I:
    /* nothing to do: every store to a code page already invalidated the
     * decoded instructions it overwrote */
    NEXT();

L_ECALL:
    h->exc_cause = EXC_ECALL_U + (uint64_t)h->priv;
    h->exc_tval = 0;
    EXCEPTION();
L_EBREAK:
    h->exc_cause = EXC_BREAKPOINT;
    h->exc_tval = PC();
    EXCEPTION();
L_MRET:
    if (h->priv < PRV_M)
        goto illegal_insn;
    hart_mret(h);
    npc = h->pc;
    fast_tag = ~0ull;
    h->stop_slice = true;
    goto out_at_npc;
L_SRET:
    if (h->priv < PRV_S || (h->priv == PRV_S && (h->mstatus & MSTATUS_TSR)))
        goto illegal_insn;
    hart_sret(h);
    npc = h->pc;
    fast_tag = ~0ull;
    goto out_at_npc;
L_WFI:
    if (h->priv == PRV_U || (h->priv == PRV_S && (h->mstatus & MSTATUS_TW)))
        goto illegal_insn;
    if (!hart_interrupt_pending(h))
        h->wfi = true;
    di = (DecodedInsn *)((char *)di + di->step);
    goto out;
L_SFENCE_VMA:
    if (h->priv == PRV_U || (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM)))
        goto illegal_insn;
    hart_tlb_flush(h);
    di = (DecodedInsn *)((char *)di + di->step);
    goto out;

#define CSR_OP(value, do_read, do_write, newval)                               \
    do {                                                                        \
        uint64_t old_ = 0, src_ = (value);                                      \
        SYNC();                                                                 \
        h->pc = PC();                                                           \
        if ((do_read) && !csr_read(h, (unsigned)di->imm, &old_))                \
            goto illegal_insn;                                                  \
        if ((do_write) && !csr_write(h, (unsigned)di->imm, (newval)))           \
            goto illegal_insn;                                                  \
        RD = old_;                                                              \
        AFTER_SLOW();                                                           \
        NEXT();                                                                 \
    } while (0)

L_CSRRW: CSR_OP(RS1, di->rd != 32, true, src_);
L_CSRRS: CSR_OP(RS1, true, di->rs1 != 0, old_ | src_);
L_CSRRC: CSR_OP(RS1, true, di->rs1 != 0, old_ & ~src_);
L_CSRRWI: CSR_OP(di->rs1, di->rd != 32, true, src_);
L_CSRRSI: CSR_OP(di->rs1, true, di->rs1 != 0, old_ | src_);
L_CSRRCI: CSR_OP(di->rs1, true, di->rs1 != 0, old_ & ~src_);

    /* ---- A ---- */
#define AMO_PTR(size, is_lr)                                                    \
    SYNC();                                                                     \
    h->pc = PC();                                                               \
    uint8_t *p_ = mmu_amo_ptr(h, RS1, size, is_lr);                             \
    if (!p_)                                                                    \
        goto take_exception;

/* LR/SC as QEMU does it: SC succeeds when the reserved address still holds
 * the value LR read, a compare-and-swap. Stores by other harts in between
 * break the reservation by changing the value; writing back the same value
 * (ABA) does not, which no synchronisation primitive can observe. */
L_LR_W: {
    AMO_PTR(4, true);
    int32_t v;
    memcpy(&v, p_, 4);
    h->reservation = RS1;
    h->reservation_value = (uint32_t)v;
    RD = (uint64_t)(int64_t)v;
    NEXT();
}
L_LR_D: {
    AMO_PTR(8, true);
    uint64_t v;
    memcpy(&v, p_, 8);
    h->reservation = RS1;
    h->reservation_value = v;
    RD = v;
    NEXT();
}
L_SC_W:
L_SC_D: {
    unsigned size = di->op == OP_SC_W ? 4 : 8;
    /* alignment is checked before the reservation: a misaligned SC traps */
    if (unlikely(RS1 & (size - 1))) {
        h->exc_cause = EXC_STORE_MISALIGNED;
        h->exc_tval = RS1;
        EXCEPTION();
    }
    if (h->reservation != RS1) {
        h->reservation = ~0ull;
        RD = 1;
        NEXT();
    }
    AMO_PTR(size, false);
    uint64_t now = 0, v = RS2;
    memcpy(&now, p_, size);
    h->reservation = ~0ull;
    if (now != h->reservation_value) {
        RD = 1;
        NEXT();
    }
    memcpy(p_, &v, size);
    RD = 0;
    NEXT();
}

#define AMO_W(expr)                                                             \
    do {                                                                        \
        AMO_PTR(4, false);                                                      \
        int32_t a, b = (int32_t)RS2, r;                                         \
        memcpy(&a, p_, 4);                                                      \
        r = (expr);                                                             \
        memcpy(p_, &r, 4);                                                      \
        RD = (uint64_t)(int64_t)a;                                              \
        NEXT();                                                                 \
    } while (0)
#define AMO_D(expr)                                                             \
    do {                                                                        \
        AMO_PTR(8, false);                                                      \
        int64_t a, b = (int64_t)RS2, r;                                         \
        memcpy(&a, p_, 8);                                                      \
        r = (expr);                                                             \
        memcpy(p_, &r, 8);                                                      \
        RD = (uint64_t)a;                                                       \
        NEXT();                                                                 \
    } while (0)

L_AMOSWAP_W: AMO_W(b);
L_AMOADD_W: AMO_W((int32_t)((uint32_t)a + (uint32_t)b));
L_AMOXOR_W: AMO_W(a ^ b);
L_AMOAND_W: AMO_W(a & b);
L_AMOOR_W: AMO_W(a | b);
L_AMOMIN_W: AMO_W(a < b ? a : b);
L_AMOMAX_W: AMO_W(a > b ? a : b);
L_AMOMINU_W: AMO_W((uint32_t)a < (uint32_t)b ? a : b);
L_AMOMAXU_W: AMO_W((uint32_t)a > (uint32_t)b ? a : b);
L_AMOSWAP_D: AMO_D(b);
L_AMOADD_D: AMO_D((int64_t)((uint64_t)a + (uint64_t)b));
L_AMOXOR_D: AMO_D(a ^ b);
L_AMOAND_D: AMO_D(a & b);
L_AMOOR_D: AMO_D(a | b);
L_AMOMIN_D: AMO_D(a < b ? a : b);
L_AMOMAX_D: AMO_D(a > b ? a : b);
L_AMOMINU_D: AMO_D((uint64_t)a < (uint64_t)b ? a : b);
L_AMOMAXU_D: AMO_D((uint64_t)a > (uint64_t)b ? a : b);

    /* ---- F and D ---- */
#define F_CHECK()                                                               \
    if (unlikely((h->mstatus & MSTATUS_FS) == 0))                               \
        goto illegal_insn;
#define F_DIRTY() (h->mstatus |= MSTATUS_FS)
#define RM(var)                                                                 \
    int var = di->rm;                                                           \
    if (var == RM_DYN) {                                                        \
        var = (int)h->frm;                                                      \
        if (unlikely(var > RM_RMM))                                             \
            goto illegal_insn;                                                  \
    }
#define FS1 h->f[di->rs1]
#define FS2 h->f[di->rs2]
#define FS3 h->f[di->rs3]
#define FD h->f[di->rd]
#define FLAGS_DONE() (h->fflags |= fflags)

L_FLW: {
    F_CHECK();
    uint64_t va = RS1 + IMM, v;
    TlbEntry *e = &h->tlb_load[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    if (likely(e->tag == (va & (PAGE_MASK | 3)))) {
        v = *(uint32_t *)(e->addend + va);
    } else {
        SYNC();
        h->pc = PC();
        if (!mmu_load_slow(h, va, 4, &v))
            goto take_exception;
    }
    FD = box32((uint32_t)v);
    F_DIRTY();
    AFTER_SLOW();
    NEXT();
}
L_FLD: {
    F_CHECK();
    uint64_t va = RS1 + IMM, v;
    TlbEntry *e = &h->tlb_load[(va >> PAGE_SHIFT) & (TLB_SIZE - 1)];
    if (likely(e->tag == (va & (PAGE_MASK | 7)))) {
        v = *(uint64_t *)(e->addend + va);
    } else {
        SYNC();
        h->pc = PC();
        if (!mmu_load_slow(h, va, 8, &v))
            goto take_exception;
    }
    FD = v;
    F_DIRTY();
    AFTER_SLOW();
    NEXT();
}
L_FSW:
    F_CHECK();
    STORE(uint32_t, 4, (uint32_t)FS2);
L_FSD:
    F_CHECK();
    STORE(uint64_t, 8, FS2);

#define FOP_S2(fn)                                                              \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm_);                                                                \
        fflags = 0;                                                             \
        FD = box32(fn(unbox32(FS1), unbox32(FS2), rm_, &fflags));               \
        FLAGS_DONE();                                                           \
        F_DIRTY();                                                              \
        NEXT();                                                                 \
    } while (0)
#define FOP_D2(fn)                                                              \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm_);                                                                \
        fflags = 0;                                                             \
        FD = fn(FS1, FS2, rm_, &fflags);                                        \
        FLAGS_DONE();                                                           \
        F_DIRTY();                                                              \
        NEXT();                                                                 \
    } while (0)
#define FMA_S(nega, negc)                                                       \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm_);                                                                \
        fflags = 0;                                                             \
        uint32_t a_ = unbox32(FS1) ^ ((nega) ? 0x80000000u : 0);               \
        uint32_t c_ = unbox32(FS3) ^ ((negc) ? 0x80000000u : 0);               \
        FD = box32(f32_muladd(a_, unbox32(FS2), c_, rm_, &fflags));             \
        FLAGS_DONE();                                                           \
        F_DIRTY();                                                              \
        NEXT();                                                                 \
    } while (0)
#define FMA_D(nega, negc)                                                       \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm_);                                                                \
        fflags = 0;                                                             \
        uint64_t a_ = FS1 ^ ((nega) ? 0x8000000000000000ull : 0);               \
        uint64_t c_ = FS3 ^ ((negc) ? 0x8000000000000000ull : 0);               \
        FD = f64_muladd(a_, FS2, c_, rm_, &fflags);                             \
        FLAGS_DONE();                                                           \
        F_DIRTY();                                                              \
        NEXT();                                                                 \
    } while (0)

L_FMADD_S: FMA_S(0, 0);
L_FMSUB_S: FMA_S(0, 1);
L_FNMSUB_S: FMA_S(1, 0);
L_FNMADD_S: FMA_S(1, 1);
L_FMADD_D: FMA_D(0, 0);
L_FMSUB_D: FMA_D(0, 1);
L_FNMSUB_D: FMA_D(1, 0);
L_FNMADD_D: FMA_D(1, 1);
L_FADD_S: FOP_S2(f32_add);
L_FSUB_S: FOP_S2(f32_sub);
L_FMUL_S: FOP_S2(f32_mul);
L_FDIV_S: FOP_S2(f32_div);
L_FADD_D: FOP_D2(f64_add);
L_FSUB_D: FOP_D2(f64_sub);
L_FMUL_D: FOP_D2(f64_mul);
L_FDIV_D: FOP_D2(f64_div);
L_FSQRT_S: {
    F_CHECK();
    RM(rm);
    fflags = 0;
    FD = box32(f32_sqrt(unbox32(FS1), rm, &fflags));
    FLAGS_DONE();
    F_DIRTY();
    NEXT();
}
L_FSQRT_D: {
    F_CHECK();
    RM(rm);
    fflags = 0;
    FD = f64_sqrt(FS1, rm, &fflags);
    FLAGS_DONE();
    F_DIRTY();
    NEXT();
}
L_FSGNJ_S:
L_FSGNJN_S:
L_FSGNJX_S: {
    F_CHECK();
    uint32_t a = unbox32(FS1), b = unbox32(FS2), s;
    if (di->op == OP_FSGNJ_S)
        s = b & 0x80000000u;
    else if (di->op == OP_FSGNJN_S)
        s = ~b & 0x80000000u;
    else
        s = (a ^ b) & 0x80000000u;
    FD = box32((a & 0x7fffffffu) | s);
    F_DIRTY();
    NEXT();
}
L_FSGNJ_D:
L_FSGNJN_D:
L_FSGNJX_D: {
    F_CHECK();
    const uint64_t sign = 0x8000000000000000ull;
    uint64_t a = FS1, b = FS2, s;
    if (di->op == OP_FSGNJ_D)
        s = b & sign;
    else if (di->op == OP_FSGNJN_D)
        s = ~b & sign;
    else
        s = (a ^ b) & sign;
    FD = (a & ~sign) | s;
    F_DIRTY();
    NEXT();
}
L_FMIN_S:
L_FMAX_S: {
    F_CHECK();
    fflags = 0;
    uint32_t a = unbox32(FS1), b = unbox32(FS2);
    FD = box32(di->op == OP_FMIN_S ? f32_min(a, b, &fflags) : f32_max(a, b, &fflags));
    FLAGS_DONE();
    F_DIRTY();
    NEXT();
}
L_FMIN_D:
L_FMAX_D: {
    F_CHECK();
    fflags = 0;
    FD = di->op == OP_FMIN_D ? f64_min(FS1, FS2, &fflags) : f64_max(FS1, FS2, &fflags);
    FLAGS_DONE();
    F_DIRTY();
    NEXT();
}

#define FCVT_TO_INT(expr)                                                       \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm);                                                                 \
        fflags = 0;                                                             \
        RD = (uint64_t)(expr);                                                  \
        FLAGS_DONE();                                                           \
        NEXT();                                                                 \
    } while (0)
L_FCVT_W_S: FCVT_TO_INT(f32_to_i32(unbox32(FS1), rm, &fflags));
L_FCVT_WU_S: FCVT_TO_INT(f32_to_u32(unbox32(FS1), rm, &fflags));
L_FCVT_L_S: FCVT_TO_INT(f32_to_i64(unbox32(FS1), rm, &fflags));
L_FCVT_LU_S: FCVT_TO_INT(f32_to_u64(unbox32(FS1), rm, &fflags));
L_FCVT_W_D: FCVT_TO_INT(f64_to_i32(FS1, rm, &fflags));
L_FCVT_WU_D: FCVT_TO_INT(f64_to_u32(FS1, rm, &fflags));
L_FCVT_L_D: FCVT_TO_INT(f64_to_i64(FS1, rm, &fflags));
L_FCVT_LU_D: FCVT_TO_INT(f64_to_u64(FS1, rm, &fflags));

#define FCVT_TO_FP(expr)                                                        \
    do {                                                                        \
        F_CHECK();                                                              \
        RM(rm);                                                                 \
        fflags = 0;                                                             \
        FD = (expr);                                                            \
        FLAGS_DONE();                                                           \
        F_DIRTY();                                                              \
        NEXT();                                                                 \
    } while (0)
L_FCVT_S_W: FCVT_TO_FP(box32(i32_to_f32((int32_t)RS1, rm, &fflags)));
L_FCVT_S_WU: FCVT_TO_FP(box32(u32_to_f32((uint32_t)RS1, rm, &fflags)));
L_FCVT_S_L: FCVT_TO_FP(box32(i64_to_f32((int64_t)RS1, rm, &fflags)));
L_FCVT_S_LU: FCVT_TO_FP(box32(u64_to_f32(RS1, rm, &fflags)));
L_FCVT_D_W: FCVT_TO_FP(i32_to_f64((int32_t)RS1, rm, &fflags));
L_FCVT_D_WU: FCVT_TO_FP(u32_to_f64((uint32_t)RS1, rm, &fflags));
L_FCVT_D_L: FCVT_TO_FP(i64_to_f64((int64_t)RS1, rm, &fflags));
L_FCVT_D_LU: FCVT_TO_FP(u64_to_f64(RS1, rm, &fflags));
L_FCVT_S_D: FCVT_TO_FP(box32(f64_to_f32(FS1, rm, &fflags)));
L_FCVT_D_S: FCVT_TO_FP(((void)rm, f32_to_f64(unbox32(FS1), &fflags)));

L_FMV_X_W:
    F_CHECK();
    RD = (uint64_t)(int64_t)(int32_t)(uint32_t)FS1;
    NEXT();
L_FMV_X_D:
    F_CHECK();
    RD = FS1;
    NEXT();
L_FMV_W_X:
    F_CHECK();
    FD = box32((uint32_t)RS1);
    F_DIRTY();
    NEXT();
L_FMV_D_X:
    F_CHECK();
    FD = RS1;
    F_DIRTY();
    NEXT();

#define FCMP(expr)                                                              \
    do {                                                                        \
        F_CHECK();                                                              \
        fflags = 0;                                                             \
        RD = (uint64_t)(expr);                                                  \
        FLAGS_DONE();                                                           \
        NEXT();                                                                 \
    } while (0)
L_FEQ_S: FCMP(f32_eq(unbox32(FS1), unbox32(FS2), &fflags));
L_FLT_S: FCMP(f32_lt(unbox32(FS1), unbox32(FS2), &fflags));
L_FLE_S: FCMP(f32_le(unbox32(FS1), unbox32(FS2), &fflags));
L_FEQ_D: FCMP(f64_eq(FS1, FS2, &fflags));
L_FLT_D: FCMP(f64_lt(FS1, FS2, &fflags));
L_FLE_D: FCMP(f64_le(FS1, FS2, &fflags));
L_FCLASS_S:
    F_CHECK();
    RD = f32_classify(unbox32(FS1));
    NEXT();
L_FCLASS_D:
    F_CHECK();
    RD = f64_classify(FS1);
    NEXT();

out_no_budget:
    left = 0;
out:
    h->pc = PC();
    h->slice_left = left;
    return max - left;
out_at_npc:
    h->pc = npc;
    h->slice_left = left;
    return max - left;
}
