/* Debugger breakpoints: a set of virtual addresses, shared by all harts,
 * that machine_run stops in front of (see machine.c for how the run loop
 * checks them, and cpu_exec.c for how a slice leaves a page).
 *
 * A machine without breakpoints has no set (m->breakpoints is NULL) and
 * pays one pointer test per page change. Sets are tiny (GDB inserts a
 * handful of breakpoints), so a linear scan is the fastest lookup. */
#include "breakpoints.h"
#include "jit.h"
#include "cpu.h"
#include "watchpoints.h"

#include <glib.h>
#include <string.h>

typedef struct Breakpoint {
    uint64_t addr;
    int type;
    int refs;       /* GDB may insert the same address twice (Z0 and Z1) */
} Breakpoint;

struct BreakpointSet {
    Machine *m;
    Breakpoint *bp;
    int n, cap;
    /* the last stop reported, so resuming does not report it again */
    bool hit_valid;
    int hit_hart;
    uint64_t hit_pc, hit_icount;
    int hit_type;
};

static BreakpointSet *find_set(const Machine *m)
{
    return m->breakpoints;
}

BreakpointSet *breakpoints_of(const Machine *m)
{
    BreakpointSet *s = m->breakpoints;
    return s && s->n && !m->debug_suspended ? s : NULL;
}

static BreakpointSet *get_set(Machine *m)
{
    if (!m->breakpoints) {
        m->breakpoints = g_new0(BreakpointSet, 1);
        m->breakpoints->m = m;
    }
    return m->breakpoints;
}

bool machine_set_breakpoint(Machine *m, uint64_t addr, int type)
{
    if (type != BP_SOFTWARE && type != BP_HARDWARE)
        return false;
    BreakpointSet *s = get_set(m);
    for (int i = 0; i < s->n; i++) {
        if (s->bp[i].addr == addr && s->bp[i].type == type) {
            s->bp[i].refs++;
            return true;
        }
    }
    if (s->n >= BP_MAX)
        return false;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->bp = g_renew(Breakpoint, s->bp, s->cap);
    }
    s->bp[s->n++] = (Breakpoint){ .addr = addr, .type = type, .refs = 1 };
    jit_flush(m);   /* compiled blocks may run over the new address */
    return true;
}

bool machine_clear_breakpoint(Machine *m, uint64_t addr, int type)
{
    BreakpointSet *s = find_set(m);
    if (!s)
        return false;
    for (int i = 0; i < s->n; i++) {
        if (s->bp[i].addr == addr && s->bp[i].type == type) {
            if (--s->bp[i].refs <= 0) {
                s->bp[i] = s->bp[--s->n];
                jit_flush(m);   /* blocks may run through the address again */
            }
            return true;
        }
    }
    return false;
}

void machine_clear_all_breakpoints(Machine *m)
{
    BreakpointSet *s = find_set(m);
    if (s && s->n) {
        s->n = 0;
        jit_flush(m);
    }
}

int machine_breakpoint_count(const Machine *m)
{
    BreakpointSet *s = find_set(m);
    return s ? s->n : 0;
}

bool machine_breakpoint_hit(const Machine *m, int *hart, uint64_t *pc, int *type)
{
    BreakpointSet *s = find_set(m);
    if (!s || !s->hit_valid)
        return false;
    if (hart)
        *hart = s->hit_hart;
    if (pc)
        *pc = s->hit_pc;
    if (type)
        *type = s->hit_type;
    return true;
}

void breakpoints_free_machine(Machine *m)
{
    BreakpointSet *s = m->breakpoints;
    if (s) {
        g_free(s->bp);
        g_free(s);
        m->breakpoints = NULL;
    }
}

void machine_debug_forget_hits(Machine *m)
{
    if (m->breakpoints)
        m->breakpoints->hit_valid = false;
    watchpoints_forget_hit(m);
}

bool breakpoint_at(const BreakpointSet *s, uint64_t pc)
{
    for (int i = 0; i < s->n; i++)
        if (s->bp[i].addr == pc)
            return true;
    return false;
}

bool breakpoint_at_page_offset(const BreakpointSet *s, uint32_t off)
{
    for (int i = 0; i < s->n; i++)
        if ((s->bp[i].addr & (PAGE_SIZE - 1)) == off)
            return true;
    return false;
}

void breakpoints_patch_page(const BreakpointSet *s, DecodedPage *page, uint64_t vpage,
                            const void *bp_handler)
{
    for (int i = 0; i < s->n; i++) {
        uint64_t a = s->bp[i].addr;
        if ((a & PAGE_MASK) != vpage || (a & 1))
            continue;
        DecodedInsn *e = &page->insn[(a & (PAGE_SIZE - 1)) >> 1];
        if (e->op != OP_DECODE && e->op != OP_PAGE_END)
            e->handler = bp_handler;
    }
}

bool breakpoint_should_stop(BreakpointSet *s, int hart, uint64_t pc, uint64_t retired)
{
    int type = -1;
    for (int i = 0; i < s->n; i++) {
        if (s->bp[i].addr == pc) {
            type = s->bp[i].type;
            break;
        }
    }
    if (type < 0)
        return false;
    /* the stop we reported last: the debugger resumes from it */
    if (s->hit_valid && s->hit_hart == hart && s->hit_pc == pc && s->hit_icount == retired)
        return false;
    s->hit_valid = true;
    s->hit_hart = hart;
    s->hit_pc = pc;
    s->hit_icount = retired;
    s->hit_type = type;
    return true;
}
