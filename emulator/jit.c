/* The basic-block compiler (-accel tcg|jit, the default): straight runs
 * of RV64IM instructions to x86-64, ending at a branch, jal or jalr
 * (compiled too), in front of a debugger breakpoint's offset, or in front of an
 * instruction it does not compile (the interpreter runs that one).
 *
 * Guest registers live in h->x[] (rbx = h); r12 holds the slice budget
 * left, r13 the virtual base of the page the code runs from (blocks belong
 * to a physical page and may run from any mapping of it: every pc is
 * r13 + offset). A block starts by taking its instruction count from r12
 * and bails out to the interpreter, untouched, when that does not fit.
 * Inside a block its most used guest registers are cached in host
 * registers (cache_regs[]): loaded after the budget check when read
 * before written, written back to h->x[] before every exit, chain and
 * slow-path call, and reloaded after a load slow path returns.
 * Loads and stores inline the software TLB fast path and call mmu.c's slow
 * paths on a miss, with h->pc and h->slice_left as the interpreter would
 * have them. A failing slow path exits with the faulting instruction
 * counted (the interpreter's rule); a store slow path always ends the
 * block, since it may have overwritten code. Same-page exits chain to the
 * compiled block there through the page's table. */
#include "breakpoints.h"
#include "jit.h"
#include "machine.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define JIT_BUF_MAX (64u << 20)
static size_t JIT_BUF_SIZE = JIT_BUF_MAX;     /* REWIND_JIT_BUF_KB, for tests */
#define JIT_MAX_INSNS 64
#define JIT_RESERVE (48u << 10)     /* free space needed to start a block */

struct Jit {
    uint8_t *buf;
    size_t used, start;     /* start: after the trampoline */
    uint64_t (*entry)(Hart *h, void *code, int64_t left, uint64_t vpage, JitExit *ex);
    uint8_t *exit;
    uint64_t entries;       /* jit_run calls, for tests */
};

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_L = 0xc, CC_GE = 0xd };

typedef struct Asm {
    uint8_t *p, *end;
} Asm;

static void b1(Asm *a, unsigned v)
{
    if (a->p < a->end)
        *a->p = (uint8_t)v;
    a->p++;
}

static void b4(Asm *a, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b1(a, (v >> (8 * i)) & 0xff);
}

static void b8(Asm *a, uint64_t v)
{
    b4(a, (uint32_t)v);
    b4(a, (uint32_t)(v >> 32));
}

/* op reg, [base + disp] (reg may be an opcode extension) */
static void mem_op(Asm *a, int w, int p66, unsigned op, int oplen, int reg, int base, int32_t disp)
{
    if (p66)
        b1(a, 0x66);
    unsigned rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0);
    if (rex != 0x40)
        b1(a, rex);
    for (int i = oplen - 1; i >= 0; i--)
        b1(a, (op >> (8 * i)) & 0xff);
    unsigned sib = (base & 7) == 4;
    if (disp == 0 && (base & 7) != 5) {
        b1(a, ((reg & 7) << 3) | (base & 7));
        if (sib)
            b1(a, 0x24);
    } else if (disp >= -128 && disp < 128) {
        b1(a, 0x40 | ((reg & 7) << 3) | (base & 7));
        if (sib)
            b1(a, 0x24);
        b1(a, (uint8_t)disp);
    } else {
        b1(a, 0x80 | ((reg & 7) << 3) | (base & 7));
        if (sib)
            b1(a, 0x24);
        b4(a, (uint32_t)disp);
    }
}

/* op reg, rm (register direct) */
static void reg_op(Asm *a, int w, unsigned op, int oplen, int reg, int rm)
{
    unsigned rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
    if (rex != 0x40)
        b1(a, rex);
    for (int i = oplen - 1; i >= 0; i--)
        b1(a, (op >> (8 * i)) & 0xff);
    b1(a, 0xc0 | ((reg & 7) << 3) | (rm & 7));
}

#define XOFF(i) ((int32_t)((i) * 8))
#define HOFF(f) ((int32_t)offsetof(Hart, f))

/* ALU r, imm32 (ext: 0 add, 1 or, 4 and, 5 sub, 6 xor, 7 cmp) */
static void alu_i(Asm *a, int w, int ext, int r, int32_t imm)
{
    if (imm >= -128 && imm < 128) {
        reg_op(a, w, 0x83, 1, ext, r);
        b1(a, (uint8_t)imm);
    } else {
        reg_op(a, w, 0x81, 1, ext, r);
        b4(a, (uint32_t)imm);
    }
}
static void shift_i(Asm *a, int w, int ext, int r, unsigned n)
{
    reg_op(a, w, 0xc1, 1, ext, r);
    b1(a, n);
}
static void movsxd(Asm *a, int r) { reg_op(a, 1, 0x63, 1, r, r); }
static void mov_rr(Asm *a, int dst, int src) { reg_op(a, 1, 0x89, 1, src, dst); }
static void lea(Asm *a, int r, int base, int32_t disp) { mem_op(a, 1, 0, 0x8d, 1, r, base, disp); }
static void mov_imm(Asm *a, int r, uint64_t v)
{
    if (v <= 0xffffffffu) {
        if (r & 8)
            b1(a, 0x41);
        b1(a, 0xb8 + (r & 7));
        b4(a, (uint32_t)v);
    } else if ((int64_t)v == (int32_t)v) {
        reg_op(a, 1, 0xc7, 1, 0, r);
        b4(a, (uint32_t)v);
    } else {
        b1(a, 0x48 | ((r & 8) ? 1 : 0));
        b1(a, 0xb8 + (r & 7));
        b8(a, v);
    }
}
static void xor_self(Asm *a, int r) { reg_op(a, 0, 0x31, 1, r, r); }
static void setcc(Asm *a, int cc, int r) { reg_op(a, 0, 0x0f90 | cc, 2, 0, r); }

static uint8_t *jcc(Asm *a, int cc)
{
    b1(a, 0x0f);
    b1(a, 0x80 | cc);
    b4(a, 0);
    return a->p;
}
static uint8_t *jmp(Asm *a)
{
    b1(a, 0xe9);
    b4(a, 0);
    return a->p;
}
/* points the rel32 that ends at `after` to target */
static void patch(Asm *a, uint8_t *after, const uint8_t *target)
{
    if (after <= a->end) {
        int32_t rel = (int32_t)(target - after);
        memcpy(after - 4, &rel, 4);
    }
}
static void jmp_to(Asm *a, const uint8_t *target) { patch(a, jmp(a), target); }
static void call_abs(Asm *a, const void *fn)
{
    mov_imm(a, RAX, (uint64_t)(uintptr_t)fn);
    b1(a, 0xff);
    b1(a, 0xd0);    /* call rax */
}

/* ---- the trampoline ---- */

static void emit_trampoline(Jit *j)
{
    Asm a = { j->buf, j->buf + JIT_BUF_SIZE };
    j->entry = (void *)a.p;
    b1(&a, 0x53);                   /* push rbx */
    b1(&a, 0x55);                   /* push rbp */
    b1(&a, 0x41); b1(&a, 0x54);     /* push r12 */
    b1(&a, 0x41); b1(&a, 0x55);     /* push r13 */
    b1(&a, 0x41); b1(&a, 0x56);     /* push r14 */
    b1(&a, 0x41); b1(&a, 0x57);     /* push r15 */
    /* sub rsp, 24: calls see rsp 16-aligned; [rsp] is the load slow
     * path's value, [rsp + 8] the JitExit (r14 caches a guest register) */
    alu_i(&a, 1, 5, RSP, 24);
    mov_rr(&a, RBX, RDI);
    mov_rr(&a, R12, RDX);
    mov_rr(&a, R13, RCX);
    mem_op(&a, 1, 0, 0x89, 1, R8, RSP, 8);
    b1(&a, 0xff); b1(&a, 0xe6);     /* jmp rsi */
    /* exit: rax = next pc, rcx = status, r12 = budget left */
    j->exit = a.p;
    mem_op(&a, 1, 0, 0x8b, 1, RDX, RSP, 8);
    mem_op(&a, 1, 0, 0x89, 1, R12, RDX, offsetof(JitExit, left));
    mem_op(&a, 1, 0, 0x89, 1, RCX, RDX, offsetof(JitExit, status));
    alu_i(&a, 1, 0, RSP, 24);
    b1(&a, 0x41); b1(&a, 0x5f);
    b1(&a, 0x41); b1(&a, 0x5e);
    b1(&a, 0x41); b1(&a, 0x5d);
    b1(&a, 0x41); b1(&a, 0x5c);
    b1(&a, 0x5d);
    b1(&a, 0x5b);
    b1(&a, 0xc3);
    j->start = j->used = (size_t)((a.p - j->buf + 15) & ~15);
}

unsigned jit_hot = 2;
static bool jit_stats;
static uint64_t stat_blocks, stat_insns, stat_flushes;

/* The environment's knobs, read once: REWIND_JIT=0|1 overrides -accel
 * (tests run whole suites either way); the others tune the compiler. */
static int jit_env = -1;    /* REWIND_JIT: -1 unset, else 0 or 1 */

static void read_env(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *s = getenv("REWIND_JIT");
    if (s && *s)
        jit_env = strcmp(s, "0") != 0;
    const char *hot = getenv("REWIND_JIT_HOT");
    if (hot && atoi(hot) >= 1 && atoi(hot) < JIT_NEVER)
        jit_hot = (unsigned)atoi(hot);
    jit_stats = getenv("REWIND_JIT_STATS") != NULL;
    const char *kb = getenv("REWIND_JIT_BUF_KB");
    if (kb && atoi(kb) >= 128 && (size_t)atoi(kb) << 10 < JIT_BUF_MAX)
        JIT_BUF_SIZE = (size_t)atoi(kb) << 10;
}

bool jit_wanted(MachineAccel accel)
{
    read_env();
    return jit_env >= 0 ? jit_env == 1 : accel == ACCEL_JIT;
}

bool jit_init(Machine *m)
{
    read_env();
    if (m->jit)
        return true;
    void *p = mmap(NULL, JIT_BUF_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        /* hardened hosts (SELinux deny_execmem, PaX) refuse RWX memory:
         * the interpreter gives the very same results, slower */
        static bool told;
        if (!told)
            fprintf(stderr, "rewind: cannot map the JIT's code buffer (%s): running the "
                    "interpreter\n", strerror(errno));
        told = true;
        return false;
    }
    Jit *j = g_new0(Jit, 1);
    j->buf = p;
    emit_trampoline(j);
    m->jit = j;
    return true;
}

void jit_free(Machine *m)
{
    if (!m->jit)
        return;
    if (jit_stats)
        fprintf(stderr, "jit: %" PRIu64 " blocks, %" PRIu64 " instructions, %" PRIu64 " flushes, %zu bytes in use\n",
                stat_blocks, stat_insns, stat_flushes, m->jit->used);
    munmap(m->jit->buf, JIT_BUF_SIZE);
    g_free(m->jit);
    m->jit = NULL;
}

uint64_t jit_run(Machine *m, Hart *h, void *code, int64_t left, uint64_t vpage, JitExit *ex)
{
    m->jit->entries++;
    return m->jit->entry(h, code, left, vpage, ex);
}

uint64_t jit_entries(const Machine *m)
{
    return m->jit ? m->jit->entries : 0;
}

void jit_page_invalidate(DecodedPage *page)
{
    JitPage *jp = page->jit;
    if (!jp || jp->nblocks == 0)    /* nothing compiled nor refused */
        return;
    memset(jp, 0, sizeof(*jp));
}

/* Every compiled block goes: code buffer full means start over. Called
 * only from the interpreter, never while compiled code runs. */
static void flush_all(Machine *m)
{
    Jit *j = m->jit;
    if (m->code_pages)
        for (uint64_t i = 0; i < m->ram_size >> PAGE_SHIFT; i++)
            if (m->code_pages[i] && m->code_pages[i]->jit)
                memset(m->code_pages[i]->jit, 0, sizeof(JitPage));
    if (m->rom_code_pages)
        for (uint64_t i = 0; i < m->rom_size >> PAGE_SHIFT; i++)
            if (m->rom_code_pages[i] && m->rom_code_pages[i]->jit)
                memset(m->rom_code_pages[i]->jit, 0, sizeof(JitPage));
    j->used = j->start;
    stat_flushes++;
}

void jit_flush(Machine *m)
{
    if (m->jit)
        flush_all(m);
}

/* ---- the compiler ---- */

static bool compiled_op(unsigned op)
{
    switch (op) {
    case OP_NOP: case OP_FENCE: case OP_LUI: case OP_AUIPC: case OP_JAL: case OP_JALR:
    case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
    case OP_SB: case OP_SH: case OP_SW: case OP_SD:
    case OP_ADDI: case OP_SLTI: case OP_SLTIU: case OP_XORI: case OP_ORI: case OP_ANDI:
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
    case OP_ADD: case OP_SUB: case OP_SLL: case OP_SLT: case OP_SLTU: case OP_XOR:
    case OP_SRL: case OP_SRA: case OP_OR: case OP_AND:
    case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
    case OP_ADDW: case OP_SUBW: case OP_SLLW: case OP_SRLW: case OP_SRAW:
    case OP_MUL: case OP_MULH: case OP_MULHSU: case OP_MULHU:
    case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU:
    case OP_MULW: case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
        return true;
    default:
        return false;
    }
}


/* Host registers that cache guest registers inside a block, best first.
 * None is used by the code around them: rax, rcx, rdx and rsi are
 * scratch, rbx, r12 and r13 fixed. The caller-saved ones die in the slow
 * paths' calls, which reload every cached register after the call. */
static const int cache_regs[] = { RBP, R15, R14, R8, R9, R10, R11, RDI };
#define NCACHE ((int)(sizeof(cache_regs) / sizeof(cache_regs[0])))

enum { STUB_LOAD, STUB_STORE, STUB_TAKEN };

typedef struct Stub {
    int kind;
    unsigned i;             /* index in the block */
    DecodedInsn d;
    uint32_t off;           /* page offset of the instruction */
    uint32_t dirty;         /* cached registers to write back there */
    uint8_t *from;          /* jcc to patch */
    uint8_t *back;          /* where the fast path resumes */
} Stub;

typedef struct Block {
    Asm a;
    JitPage *jp;
    unsigned n;
    Stub stubs[JIT_MAX_INSNS + 1];
    int nstubs;
    uint8_t *exit;
    int rax_holds;          /* guest register whose value rax holds, or -1 */
    int8_t host[33];        /* host register caching x[i], or -1 */
    uint32_t cached;        /* guest registers cached */
    uint32_t dirty;         /* cached registers written so far in the block */
} Block;

static int hreg(const Block *bk, unsigned xi) { return bk->host[xi]; }

/* op reg, x[xi]: the register caching it or [rbx + xi * 8] */
static void x_op(Block *bk, int w, unsigned op, int oplen, int reg, unsigned xi)
{
    int hr = hreg(bk, xi);
    if (hr >= 0)
        reg_op(&bk->a, w, op, oplen, reg, hr);
    else
        mem_op(&bk->a, w, 0, op, oplen, reg, RBX, XOFF(xi));
}

static void ld(Block *bk, int r, unsigned xi)
{
    int hr = hreg(bk, xi);
    if (hr == r)
        return;
    x_op(bk, 1, 0x8b, 1, r, xi);
}

static void st(Block *bk, unsigned xi, int r)
{
    int hr = hreg(bk, xi);
    if (hr >= 0) {
        if (hr != r)
            mov_rr(&bk->a, hr, r);
        bk->dirty |= 1u << xi;
    } else {
        mem_op(&bk->a, 1, 0, 0x89, 1, r, RBX, XOFF(xi));
    }
}

/* x[xi] = imm32, sign-extended */
static void st_imm(Block *bk, unsigned xi, int32_t imm)
{
    if (hreg(bk, xi) >= 0)
        bk->dirty |= 1u << xi;
    x_op(bk, 1, 0xc7, 1, 0, xi);
    b4(&bk->a, (uint32_t)imm);
}

/* ALU r, x[xi] with a two-operand opcode (03 add, 0b or, 23 and, 2b sub, 33 xor, 3b cmp) */
static void alu_x(Block *bk, int w, unsigned op, int r, unsigned xi) { x_op(bk, w, op, 1, r, xi); }

/* h->x[] gets the cached registers of mask */
static void write_back(Block *bk, uint32_t mask)
{
    for (unsigned xi = 1; xi < 32; xi++)
        if (mask & (1u << xi))
            mem_op(&bk->a, 1, 0, 0x89, 1, bk->host[xi], RBX, XOFF(xi));
}

/* the cached registers of mask get h->x[] */
static void load_cached(Block *bk, uint32_t mask)
{
    for (unsigned xi = 1; xi < 32; xi++)
        if (mask & (1u << xi))
            mem_op(&bk->a, 1, 0, 0x8b, 1, bk->host[xi], RBX, XOFF(xi));
}

/* leave with pc r13 + off and status JUMP, chaining to a compiled block
 * when off is in this page; h->x[] gets the dirty registers first */
static void exit_to(Block *bk, int64_t off, uint32_t dirty)
{
    Asm *a = &bk->a;
    write_back(bk, dirty);
    if (off >= 0 && off < PAGE_SIZE) {
        b1(a, 0x48);
        b1(a, 0xa1);    /* mov rax, [moffs64] */
        b8(a, (uint64_t)(uintptr_t)&bk->jp->code[off >> 1]);
        reg_op(a, 1, 0x85, 1, RAX, RAX);   /* test rax, rax */
        uint8_t *z = jcc(a, CC_E);
        b1(a, 0xff);
        b1(a, 0xe0);    /* jmp rax */
        patch(a, z, a->p);
    }
    lea(a, RAX, R13, (int32_t)off);
    xor_self(a, RCX);
    jmp_to(a, bk->exit);
}

/* from a slow path's stub, registers written back */
static void exit_status(Block *bk, unsigned i, int status, int64_t off)
{
    Asm *a = &bk->a;
    if (bk->n - i - 1)
        alu_i(a, 1, 0, R12, (int32_t)(bk->n - i - 1));
    if (status != JIT_EXIT_EXC)
        lea(a, RAX, R13, (int32_t)off);
    mov_imm(a, RCX, (uint64_t)status);
    jmp_to(a, bk->exit);
}

/* rsi = effective address; rax = &tlb entry - offset of the TLB; jne to stub */
static void tlb_lookup(Block *bk, const DecodedInsn *d, unsigned size, int32_t tlb_off, int kind,
                       unsigned i, uint32_t off)
{
    Asm *a = &bk->a;
    ld(bk, RSI, d->rs1);
    if (d->imm)
        alu_i(a, 1, 0, RSI, d->imm);
    mov_rr(a, RAX, RSI);
    shift_i(a, 1, 5, RAX, PAGE_SHIFT);
    alu_i(a, 0, 4, RAX, TLB_SIZE - 1);
    shift_i(a, 0, 4, RAX, 4);
    reg_op(a, 1, 0x01, 1, RBX, RAX);   /* add rax, rbx */
    mov_rr(a, RCX, RSI);
    alu_i(a, 1, 4, RCX, (int32_t)(0xfffff000u | (size - 1)));
    mem_op(a, 1, 0, 0x3b, 1, RCX, RAX, tlb_off);       /* cmp rcx, [rax + tag] */
    Stub *s = &bk->stubs[bk->nstubs++];
    s->kind = kind;
    s->i = i;
    s->d = *d;
    s->off = off;
    s->dirty = bk->dirty;
    s->from = jcc(a, CC_NE);
    mem_op(a, 1, 0, 0x8b, 1, RAX, RAX, tlb_off + 8);    /* addend */
    reg_op(a, 1, 0x01, 1, RSI, RAX);   /* add rax, rsi */
}

static unsigned mem_size(unsigned op)
{
    switch (op) {
    case OP_LB: case OP_LBU: case OP_SB: return 1;
    case OP_LH: case OP_LHU: case OP_SH: return 2;
    case OP_LW: case OP_LWU: case OP_SW: return 4;
    default: return 8;
    }
}

/* rax = the loaded value (at [rax] when mem, else in rax), extended */
static void load_extend(Asm *a, unsigned op, bool mem)
{
    unsigned opc;
    int w = 1;
    switch (op) {
    case OP_LB: opc = 0x0fbe; break;
    case OP_LH: opc = 0x0fbf; break;
    case OP_LW: opc = 0x63; break;
    case OP_LBU: opc = 0x0fb6; w = 0; break;
    case OP_LHU: opc = 0x0fb7; w = 0; break;
    case OP_LWU: opc = 0x8b; w = 0; break;
    default: opc = 0x8b; break;
    }
    if (mem)
        mem_op(a, w, 0, opc, opc > 0xff ? 2 : 1, RAX, RAX, 0);
    else if (op != OP_LD)
        reg_op(a, w, opc, opc > 0xff ? 2 : 1, RAX, RAX);
}

/* div/rem family: rax = rs1, rcx = rs2 loaded; result to rax */
static void emit_div(Asm *a, unsigned op)
{
    bool w32 = op == OP_DIVW || op == OP_DIVUW || op == OP_REMW || op == OP_REMUW;
    bool sign = op == OP_DIV || op == OP_REM || op == OP_DIVW || op == OP_REMW;
    bool rem = op == OP_REM || op == OP_REMU || op == OP_REMW || op == OP_REMUW;
    int w = !w32;
    reg_op(a, w, 0x85, 1, RCX, RCX);                /* test rcx, rcx */
    uint8_t *zero = jcc(a, CC_E);
    uint8_t *m1 = NULL;
    if (sign) {
        alu_i(a, w, 7, RCX, -1);
        m1 = jcc(a, CC_E);
        if (w)
            b1(a, 0x48);
        b1(a, 0x99);                                /* cqo / cdq */
        reg_op(a, w, 0xf7, 1, 7, RCX);              /* idiv */
    } else {
        xor_self(a, RDX);
        reg_op(a, w, 0xf7, 1, 6, RCX);              /* div */
    }
    if (rem)
        mov_rr(a, RAX, RDX);
    uint8_t *done1 = jmp(a);
    uint8_t *done2 = NULL;
    if (sign) {
        /* divisor -1: quotient -a (wrapping), remainder 0 */
        patch(a, m1, a->p);
        if (rem)
            xor_self(a, RAX);
        else
            reg_op(a, w, 0xf7, 1, 3, RAX);          /* neg */
        done2 = jmp(a);
    }
    patch(a, zero, a->p);
    /* divisor 0: quotient all ones, remainder a */
    if (!rem)
        mov_imm(a, RAX, ~0ull);
    patch(a, done1, a->p);
    if (done2)
        patch(a, done2, a->p);
    if (w32)    /* the zero case's all ones survive sign extension */
        movsxd(a, RAX);
}

/* The host register to compute rd in place: rd's cache register when rd
 * is cached and computing there cannot clobber a source still needed
 * (rs2 when the instruction reads it), else rax. */
static int dest_reg(const Block *bk, unsigned rd, int rs2)
{
    if (rd < 32 && bk->host[rd] >= 0 && (rs2 < 0 || (unsigned)rs2 != rd))
        return bk->host[rd];
    return RAX;
}

static void emit_insn(Block *bk, const DecodedInsn *d, unsigned i, uint32_t off)
{
    Asm *a = &bk->a;
    unsigned rd = d->rd;
    int32_t imm = d->imm;
    /* rax still holds a guest register written by the previous
     * instruction: reading it again needs no load */
    int held = bk->rax_holds;
    bk->rax_holds = -1;
    int r = RAX;            /* where the result is computed */
    /* r = x[rs1]: from rax when it holds it (and r is rax) */
#define LD_RS1() do { if (r != RAX || held != d->rs1) ld(bk, r, d->rs1); } while (0)
#define ST_RD() do { st(bk, rd, r); if (r == RAX) bk->rax_holds = (int)rd; } while (0)
    switch (d->op) {
    case OP_NOP: case OP_FENCE:
        return;
    case OP_LUI:
        if (rd != 32)
            st_imm(bk, rd, imm);
        return;
    case OP_AUIPC: {
        if (rd == 32)
            return;
        int64_t v = (int64_t)off + imm;
        r = dest_reg(bk, rd, -1);
        if (v == (int32_t)v) {
            lea(a, r, R13, (int32_t)v);
        } else {
            mov_imm(a, r, (uint64_t)v);
            reg_op(a, 1, 0x01, 1, R13, r);
        }
        ST_RD();
        return;
    }
    case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI: {
        if (rd == 32)
            return;
        int ext = d->op == OP_ADDI ? 0 : d->op == OP_XORI ? 6 : d->op == OP_ORI ? 1 : 4;
        if (d->rs1 == 0) {
            st_imm(bk, rd, d->op == OP_ANDI ? 0 : imm);
            return;
        }
        r = dest_reg(bk, rd, -1);
        if (r != RAX && d->op == OP_ADDI && imm && hreg(bk, d->rs1) >= 0 && d->rs1 != rd) {
            lea(a, r, hreg(bk, d->rs1), imm);
            ST_RD();
            return;
        }
        LD_RS1();
        if (imm || d->op == OP_ANDI)
            alu_i(a, 1, ext, r, imm);
        ST_RD();
        return;
    }
    case OP_SLTI: case OP_SLTIU:
        if (rd == 32)
            return;
        xor_self(a, RCX);
        LD_RS1();
        alu_i(a, 1, 7, RAX, imm);
        setcc(a, d->op == OP_SLTI ? CC_L : CC_B, RCX);
        st(bk, rd, RCX);
        return;
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
    case OP_SLLIW: case OP_SRLIW: case OP_SRAIW: {
        if (rd == 32)
            return;
        bool w32 = d->op >= OP_ADDIW;
        int ext = (d->op == OP_SLLI || d->op == OP_SLLIW) ? 4 : (d->op == OP_SRLI || d->op == OP_SRLIW) ? 5 : 7;
        r = dest_reg(bk, rd, -1);
        LD_RS1();
        if (imm)
            shift_i(a, !w32, ext, r, (unsigned)imm);
        if (w32)
            movsxd(a, r);
        ST_RD();
        return;
    }
    case OP_ADDIW:
        if (rd == 32)
            return;
        r = dest_reg(bk, rd, -1);
        LD_RS1();
        if (imm)
            alu_i(a, 0, 0, r, imm);
        movsxd(a, r);
        ST_RD();
        return;
    case OP_ADD: case OP_SUB: case OP_XOR: case OP_OR: case OP_AND:
    case OP_ADDW: case OP_SUBW: {
        if (rd == 32)
            return;
        unsigned opc = (d->op == OP_ADD || d->op == OP_ADDW) ? 0x03 : (d->op == OP_SUB || d->op == OP_SUBW) ? 0x2b
                     : d->op == OP_XOR ? 0x33 : d->op == OP_OR ? 0x0b : 0x23;
        bool w32 = d->op == OP_ADDW || d->op == OP_SUBW;
        r = dest_reg(bk, rd, d->rs2);
        LD_RS1();
        alu_x(bk, !w32, opc, r, d->rs2);
        if (w32)
            movsxd(a, r);
        ST_RD();
        return;
    }
    case OP_SLT: case OP_SLTU:
        if (rd == 32)
            return;
        xor_self(a, RCX);
        LD_RS1();
        alu_x(bk, 1, 0x3b, RAX, d->rs2);
        setcc(a, d->op == OP_SLT ? CC_L : CC_B, RCX);
        st(bk, rd, RCX);
        return;
    case OP_SLL: case OP_SRL: case OP_SRA:
    case OP_SLLW: case OP_SRLW: case OP_SRAW: {
        if (rd == 32)
            return;
        bool w32 = d->op >= OP_ADDW;
        int ext = (d->op == OP_SLL || d->op == OP_SLLW) ? 4 : (d->op == OP_SRL || d->op == OP_SRLW) ? 5 : 7;
        ld(bk, RCX, d->rs2);
        r = dest_reg(bk, rd, -1);  /* rs2 is in rcx already */
        LD_RS1();
        reg_op(a, !w32, 0xd3, 1, ext, r);    /* shift by cl (masked as RISC-V does) */
        if (w32)
            movsxd(a, r);
        ST_RD();
        return;
    }
    case OP_MUL: case OP_MULW:
        if (rd == 32)
            return;
        r = dest_reg(bk, rd, d->rs2);
        LD_RS1();
        x_op(bk, d->op == OP_MUL, 0x0faf, 2, r, d->rs2);
        if (d->op == OP_MULW)
            movsxd(a, r);
        ST_RD();
        return;
    case OP_MULH: case OP_MULHU:
        if (rd == 32)
            return;
        LD_RS1();
        x_op(bk, 1, 0xf7, 1, d->op == OP_MULH ? 5 : 4, d->rs2);
        st(bk, rd, RDX);
        return;
    case OP_MULHSU:
        /* signed a * unsigned b: high(unsigned) - (a < 0 ? b : 0) */
        if (rd == 32)
            return;
        LD_RS1();
        mov_rr(a, RCX, RAX);
        x_op(bk, 1, 0xf7, 1, 4, d->rs2);
        shift_i(a, 1, 7, RCX, 63);
        alu_x(bk, 1, 0x23, RCX, d->rs2);
        reg_op(a, 1, 0x29, 1, RCX, RDX);   /* sub rdx, rcx */
        st(bk, rd, RDX);
        return;
    case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU:
    case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
        if (rd == 32)
            return;
        LD_RS1();
        ld(bk, RCX, d->rs2);
        emit_div(a, d->op);
        ST_RD();
        return;
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
        tlb_lookup(bk, d, mem_size(d->op), HOFF(tlb_load), STUB_LOAD, i, off);
        load_extend(a, d->op, true);
        ST_RD();
        bk->stubs[bk->nstubs - 1].back = a->p;
        return;
    case OP_SB: case OP_SH: case OP_SW: case OP_SD: {
        unsigned size = mem_size(d->op);
        tlb_lookup(bk, d, size, HOFF(tlb_store), STUB_STORE, i, off);
        ld(bk, RCX, d->rs2);
        if (size == 1)
            mem_op(a, 0, 0, 0x88, 1, RCX, RAX, 0);
        else
            mem_op(a, size == 8, size == 2, 0x89, 1, RCX, RAX, 0);
        bk->stubs[bk->nstubs - 1].back = a->p;
        return;
    }
    default:
        abort();
    }
}
#undef LD_RS1
#undef ST_RD

static void emit_stub(Block *bk, Stub *s)
{
    Asm *a = &bk->a;
    const DecodedInsn *d = &s->d;
    unsigned size = mem_size(d->op);
    patch(a, s->from, a->p);
    if (s->kind == STUB_TAKEN) {
        exit_to(bk, (int64_t)s->off + d->imm, s->dirty);
        return;
    }
    /* as the interpreter before a slow path: registers in h->x[] (traps
     * and watchpoints see them), pc and budget synced */
    write_back(bk, s->dirty);
    if (s->kind == STUB_STORE)
        ld(bk, RCX, d->rs2);
    lea(a, RAX, R13, (int32_t)s->off);
    mem_op(a, 1, 0, 0x89, 1, RAX, RBX, HOFF(pc));
    lea(a, RAX, R12, (int32_t)(bk->n - s->i - 1));
    mem_op(a, 1, 0, 0x89, 1, RAX, RBX, HOFF(slice_left));
    mov_rr(a, RDI, RBX);
    mov_imm(a, RDX, size);
    if (s->kind == STUB_LOAD) {
        mov_rr(a, RCX, RSP);
        call_abs(a, (const void *)mmu_load_slow);
    } else {
        call_abs(a, (const void *)mmu_store_slow);
    }
    reg_op(a, 0, 0x84, 1, RAX, RAX);    /* test al, al */
    uint8_t *fail = jcc(a, CC_E);
    if (s->kind == STUB_LOAD) {
        mem_op(a, 1, 0, 0x8b, 1, RAX, RSP, 0);
        load_extend(a, d->op, false);
        mem_op(a, 1, 0, 0x89, 1, RAX, RBX, XOFF(d->rd));
    }
    mem_op(a, 0, 0, 0x80, 1, 7, RBX, HOFF(stop_slice));
    b1(a, 0);                           /* cmp byte [stop_slice], 0 */
    uint8_t *stop = jcc(a, CC_NE);
    if (s->kind == STUB_LOAD) {
        /* the call clobbered the caller-saved cache registers */
        load_cached(bk, bk->cached);
        jmp_to(a, s->back);
    } else {    /* the store may have overwritten code: leave the block */
        exit_status(bk, s->i, JIT_EXIT_JUMP, s->off + d->len);
    }
    patch(a, stop, a->p);
    exit_status(bk, s->i, JIT_EXIT_STOP, s->off + d->len);
    patch(a, fail, a->p);
    exit_status(bk, s->i, JIT_EXIT_EXC, 0);
}

/* Guest registers an instruction reads (a superset is harmless) and the
 * one it writes (32 when none). */
static uint32_t insn_reads(const DecodedInsn *d)
{
    switch (d->op) {
    case OP_NOP: case OP_FENCE: case OP_LUI: case OP_AUIPC: case OP_JAL:
        return 0;
    case OP_JALR:
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
    case OP_ADDI: case OP_SLTI: case OP_SLTIU: case OP_XORI: case OP_ORI: case OP_ANDI:
    case OP_SLLI: case OP_SRLI: case OP_SRAI:
    case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
        return 1u << d->rs1;
    default:
        return 1u << d->rs1 | 1u << d->rs2;
    }
}

static unsigned insn_writes(const DecodedInsn *d)
{
    if ((d->op >= OP_BEQ && d->op <= OP_BGEU) || d->op == OP_NOP || d->op == OP_FENCE ||
        d->op == OP_SB || d->op == OP_SH || d->op == OP_SW || d->op == OP_SD)
        return 32;
    return d->rd;
}

/* Picks the block's most used registers (two uses or more) for the
 * cache registers; returns those read before written, to load on entry. */
static uint32_t choose_cached(Block *bk, const DecodedInsn *insns, unsigned n)
{
    unsigned uses[32] = { 0 };
    uint32_t read_first = 0, written = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t rmask = insn_reads(&insns[i]);
        read_first |= rmask & ~written;
        for (unsigned xi = 1; xi < 32; xi++)
            if (rmask & (1u << xi))
                uses[xi]++;
        unsigned w = insn_writes(&insns[i]);
        if (w < 32) {
            written |= 1u << w;
            uses[w]++;
        }
    }
    memset(bk->host, -1, sizeof(bk->host));
    bk->cached = 0;
    for (int k = 0; k < NCACHE; k++) {
        unsigned best = 0;
        for (unsigned xi = 1; xi < 32; xi++)
            if (!(bk->cached & (1u << xi)) && uses[xi] >= 2 && uses[xi] > uses[best])
                best = xi;
        if (!best)
            break;
        bk->cached |= 1u << best;
        bk->host[best] = (int8_t)cache_regs[k];
    }
    return read_first & bk->cached;
}

void *jit_compile(Machine *m, DecodedPage *page, unsigned idx)
{
    Jit *j = m->jit;
    JitPage *jp = page->jit;
    DecodedInsn insns[JIT_MAX_INSNS];
    uint32_t offs[JIT_MAX_INSNS];
    unsigned n = 0;
    uint32_t off = idx * 2;
    bool ends_in_jump = false;

    while (n < JIT_MAX_INSNS && off < PAGE_SIZE) {
        uint16_t lo;
        uint32_t raw;
        memcpy(&lo, page->host + off, 2);
        if ((lo & 3) == 3) {
            if (off == PAGE_SIZE - 2)
                break;      /* straddles the page end */
            memcpy(&raw, page->host + off, 4);
        } else {
            raw = lo;
        }
        DecodedInsn d;
        memset(&d, 0, sizeof(d));
        decode_insn(raw, &d);
        if (!compiled_op(d.op))
            break;
        /* a debugger breakpoint at this offset of any page: the block ends
         * in front of it and the interpreter checks it (L_BREAKPOINT);
         * blocks are dropped whenever breakpoints change (jit_flush), and
         * any page offset counts because a physical page may run from any
         * virtual mapping */
        if (unlikely(m->breakpoints) && breakpoint_at_page_offset(m->breakpoints, off))
            break;
        insns[n] = d;
        offs[n] = off;
        n++;
        off += d.len;
        if ((d.op >= OP_BEQ && d.op <= OP_BGEU) || d.op == OP_JAL || d.op == OP_JALR) {
            ends_in_jump = true;
            break;
        }
    }
    if (n == 0) {
        jp->hot[idx] = JIT_NEVER;
        jp->nblocks++;
        return NULL;
    }
    if (JIT_BUF_SIZE - j->used < JIT_RESERVE)
        flush_all(m);

    static __thread Block bk;
    bk.jp = page->jit;
    bk.n = n;
    bk.nstubs = 0;
    bk.exit = j->exit;
    bk.rax_holds = -1;
    bk.dirty = 0;
    uint32_t entry_loads = choose_cached(&bk, insns, n);
    uint8_t *start = j->buf + j->used;
    bk.a.p = start;
    bk.a.end = j->buf + JIT_BUF_SIZE;
    Asm *a = &bk.a;
    b4(a, idx);
    b4(a, n);
    uint8_t *entry = a->p;
    /* take the block's steps from the budget, or leave untouched */
    alu_i(a, 1, 5, R12, (int32_t)n);
    uint8_t *bail = jcc(a, CC_L);
    load_cached(&bk, entry_loads);

    for (unsigned i = 0; i < n; i++) {
        const DecodedInsn *d = &insns[i];
        uint32_t o = offs[i];
        if (d->op >= OP_BEQ && d->op <= OP_BGEU) {
            static const int cc[] = { CC_E, CC_NE, CC_L, CC_GE, CC_B, CC_AE };
            int r1 = hreg(&bk, d->rs1);
            if (r1 < 0) {
                r1 = RAX;
                if (bk.rax_holds != d->rs1)
                    ld(&bk, RAX, d->rs1);
            }
            alu_x(&bk, 1, 0x3b, r1, d->rs2);
            Stub *s = &bk.stubs[bk.nstubs++];
            s->kind = STUB_TAKEN;
            s->i = i;
            s->d = *d;
            s->off = o;
            s->dirty = bk.dirty;
            s->from = jcc(a, cc[d->op - OP_BEQ]);
            exit_to(&bk, (int64_t)o + d->len, bk.dirty);
        } else if (d->op == OP_JAL) {
            if (d->rd != 32) {
                int r = dest_reg(&bk, d->rd, -1);
                lea(a, r, R13, (int32_t)(o + d->len));
                st(&bk, d->rd, r);
            }
            exit_to(&bk, (int64_t)o + d->imm, bk.dirty);
        } else if (d->op == OP_JALR) {
            if (bk.rax_holds != d->rs1)
                ld(&bk, RAX, d->rs1);
            if (d->imm)
                alu_i(a, 1, 0, RAX, d->imm);
            alu_i(a, 1, 4, RAX, -2);
            if (d->rd != 32) {
                lea(a, RCX, R13, (int32_t)(o + d->len));
                st(&bk, d->rd, RCX);
            }
            write_back(&bk, bk.dirty);
            xor_self(a, RCX);
            jmp_to(a, bk.exit);
        } else {
            emit_insn(&bk, d, i, o);
        }
    }
    if (!ends_in_jump)
        exit_to(&bk, off, bk.dirty);
    for (int s = 0; s < bk.nstubs; s++)
        emit_stub(&bk, &bk.stubs[s]);
    patch(a, bail, a->p);
    alu_i(a, 1, 0, R12, (int32_t)n);
    lea(a, RAX, R13, (int32_t)(idx * 2));
    xor_self(a, RCX);
    jmp_to(a, bk.exit);

    if (a->p > a->end) {
        /* cannot happen with JIT_RESERVE free; refuse rather than run it */
        jp->hot[idx] = JIT_NEVER;
        jp->nblocks++;
        return NULL;
    }
    j->used = (size_t)((a->p - j->buf + 15) & ~(uintptr_t)15);
    jp->code[idx] = entry;
    jp->nblocks++;
    stat_blocks++;
    stat_insns += n;
    return entry;
}
