/* Debugger watchpoints on virtual addresses: write, read and access, any
 * length. They cost nothing on pages that hold none: the TLBs never map a
 * page a watchpoint overlaps, so only accesses there reach the slow paths
 * (mmu.c), which call watchpoint_check before touching memory. A hit stops
 * the hart in front of the accessing instruction, which has not executed:
 * the place gdb-multiarch's RISC-V support expects (it treats watchpoints
 * as non-steppable: it removes them, steps the instruction and compares the
 * old and new values itself). */
#include "watchpoints.h"
#include "cpu.h"

#include <string.h>

#define WP_MAX 64

typedef struct Watchpoint {
    uint64_t addr, len;
    int type;       /* WP_WRITE, WP_READ, WP_ACCESS */
    int refs;
} Watchpoint;

struct WatchpointSet {
    Watchpoint wp[WP_MAX];
    int n;
    /* the last hit, reported by machine_watchpoint_hit; a resume does not
     * report it again at the same point of the same hart */
    bool hit_valid, hit_pending;
    int hit_hart, hit_type;
    uint64_t hit_addr, hit_pc, hit_steps;
};

static WatchpointSet *get_set(Machine *m)
{
    if (!m->watchpoints)
        m->watchpoints = g_new0(WatchpointSet, 1);
    return m->watchpoints;
}

static void flush_all_tlbs(Machine *m)
{
    for (int i = 0; i < m->nharts; i++)
        hart_tlb_flush(m->harts[i]);
}

bool machine_set_watchpoint(Machine *m, uint64_t addr, uint64_t len, int type)
{
    if (len == 0 || addr + len < addr ||
        (type != WP_WRITE && type != WP_READ && type != WP_ACCESS))
        return false;
    WatchpointSet *s = get_set(m);
    for (int i = 0; i < s->n; i++) {
        Watchpoint *w = &s->wp[i];
        if (w->addr == addr && w->len == len && w->type == type) {
            w->refs++;
            return true;
        }
    }
    if (s->n >= WP_MAX)
        return false;
    s->wp[s->n++] = (Watchpoint){ .addr = addr, .len = len, .type = type, .refs = 1 };
    flush_all_tlbs(m);      /* pages mapped before must reach the slow path */
    return true;
}

bool machine_clear_watchpoint(Machine *m, uint64_t addr, uint64_t len, int type)
{
    WatchpointSet *s = m->watchpoints;
    if (!s)
        return false;
    for (int i = 0; i < s->n; i++) {
        Watchpoint *w = &s->wp[i];
        if (w->addr == addr && w->len == len && w->type == type) {
            if (--w->refs <= 0)
                s->wp[i] = s->wp[--s->n];
            return true;
        }
    }
    return false;
}

void machine_clear_all_watchpoints(Machine *m)
{
    if (m->watchpoints)
        m->watchpoints->n = 0;
}

int machine_watchpoint_count(const Machine *m)
{
    return m->watchpoints ? m->watchpoints->n : 0;
}

bool machine_watchpoint_hit(const Machine *m, int *hart, uint64_t *addr, int *type)
{
    const WatchpointSet *s = m->watchpoints;
    if (!s || !s->hit_valid)
        return false;
    if (hart)
        *hart = s->hit_hart;
    if (addr)
        *addr = s->hit_addr;
    if (type)
        *type = s->hit_type;
    return true;
}

bool machine_take_watchpoint_stop(Machine *m)
{
    WatchpointSet *s = m->watchpoints;
    if (!s || !s->hit_pending)
        return false;
    s->hit_pending = false;
    return true;
}

bool watchpoint_page(const Machine *m, uint64_t va)
{
    const WatchpointSet *s = m->watchpoints;
    if (likely(!s || !s->n) || m->debug_suspended)
        return false;
    uint64_t page = va & PAGE_MASK;
    for (int i = 0; i < s->n; i++) {
        const Watchpoint *w = &s->wp[i];
        uint64_t first = w->addr & PAGE_MASK, last = (w->addr + w->len - 1) & PAGE_MASK;
        if (page >= first && page <= last)
            return true;
    }
    return false;
}

bool watchpoint_check(Hart *h, uint64_t va, unsigned len, bool is_read, bool is_write)
{
    WatchpointSet *s = h->m->watchpoints;
    if (likely(!s || !s->n) || h->m->debug_suspended)
        return false;
    for (int i = 0; i < s->n; i++) {
        const Watchpoint *w = &s->wp[i];
        bool kind = w->type == WP_ACCESS ? (is_read || is_write)
                  : w->type == WP_WRITE ? is_write : is_read;
        if (!kind || va >= w->addr + w->len || w->addr >= va + len)
            continue;
        /* with the pc, the hart's step count identifies "this access of
         * this instruction", so resuming from a reported hit goes through */
        uint64_t steps = hart_steps(h);
        if (s->hit_valid && s->hit_hart == h->id && s->hit_pc == h->pc && s->hit_steps == steps)
            return false;   /* the stop already reported: the debugger resumes */
        s->hit_valid = true;
        s->hit_pending = true;
        s->hit_hart = h->id;
        s->hit_type = w->type;
        s->hit_addr = va > w->addr ? va : w->addr;
        s->hit_pc = h->pc;
        s->hit_steps = steps;
        h->exc_cause = EXC_WATCHPOINT;
        h->exc_tval = va;
        return true;
    }
    return false;
}

void watchpoints_forget_hit(Machine *m)
{
    if (m->watchpoints)
        m->watchpoints->hit_valid = m->watchpoints->hit_pending = false;
}

void watchpoints_free_machine(Machine *m)
{
    g_free(m->watchpoints);
    m->watchpoints = NULL;
}
