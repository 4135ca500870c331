/* The machine's heartbeat: round-robin scheduling of harts in fixed
 * instruction quanta, virtual time derived from the instruction count, and
 * the services the core offers to devices and debuggers.
 *
 * Determinism: the interleaving of harts depends only on instruction
 * counts. The scheduler state (current hart, steps left in its quantum)
 * survives between calls to machine_run, so how a caller splits a run into
 * calls never changes what the guest sees. */
#include "cpu.h"
#include "breakpoints.h"
#include "watchpoints.h"

#include <stdio.h>
#include <string.h>

#define NS_PER_MTIME_TICK (1000000000ull / TIMEBASE_FREQ)

Hart *hart_new(Machine *m, int id)
{
    Hart *h = g_new0(Hart, 1);
    h->m = m;
    h->id = id;
    if (!interp_handlers)
        hart_run(h, 0);     /* sets up the interpreter's handler table */
    hart_reset(h, 0);
    return h;
}

void hart_free(Hart *h)
{
    g_free(h);
}

void hart_reset(Hart *h, uint64_t pc)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    csr_reset(h);
    h->priv = PRV_M;
    h->pc = pc;
    h->wfi = false;
    h->reservation = ~0ull;
    h->instret = 0;
    h->stop_slice = false;
    hart_tlb_flush(h);
}

/* ---- time ---- */

uint64_t machine_now_icount(const Machine *m)
{
    const Hart *h = m->current;
    if (!h)
        return m->icount;
    return m->icount + (uint64_t)(h->slice_len - h->slice_left - 1);
}

static unsigned __int128 ns_at(const Machine *m, uint64_t icount)
{
    return ((unsigned __int128)icount << m->icount_shift) + m->idle_ns;
}

uint64_t machine_now_ns(const Machine *m)
{
    return (uint64_t)ns_at(m, machine_now_icount(m));
}

uint64_t machine_vclock_ns(const Machine *m)
{
    return machine_now_ns(m);
}

uint64_t machine_mtime(const Machine *m)
{
    return (uint64_t)(ns_at(m, machine_now_icount(m)) / NS_PER_MTIME_TICK);
}

/* Steps from now (between slices) until mtime reaches cmp; -1 if never or
 * already there. */
static int64_t steps_until_mtime(const Machine *m, uint64_t cmp)
{
    if (cmp >= UINT64_MAX / NS_PER_MTIME_TICK)
        return -1;
    unsigned __int128 now = ns_at(m, m->icount);
    unsigned __int128 deadline = (unsigned __int128)cmp * NS_PER_MTIME_TICK;
    if (deadline <= now)
        return -1;
    unsigned __int128 unit = (unsigned __int128)1 << m->icount_shift;
    unsigned __int128 steps = (deadline - now + unit - 1) / unit;
    return steps > INT64_MAX ? INT64_MAX : (int64_t)steps;
}

/* ---- services to devices ---- */

void hart_set_mip(Hart *h, uint64_t mask, bool level)
{
    uint64_t old = h->mip;
    if (level)
        h->mip |= mask;
    else
        h->mip &= ~mask;
    if (h->mip != old && h->m->current)
        h->m->current->stop_slice = true;
}

void machine_request_exit(Machine *m, int code)
{
    if (!m->exit_requested) {
        m->exit_requested = true;
        m->exit_code = code;
    }
    if (m->current)
        m->current->stop_slice = true;
}

bool machine_add_mmio(Machine *m, const MmioRegion *r)
{
    if (m->n_mmio >= MAX_MMIO)
        return false;
    m->mmio[m->n_mmio++] = *r;
    return true;
}

bool machine_mmio_taken(const Machine *m, uint64_t addr)
{
    for (int i = 0; i < m->n_mmio; i++)
        if (addr >= m->mmio[i].base && addr - m->mmio[i].base < m->mmio[i].size)
            return true;
    return false;
}

uint8_t *machine_phys_ptr(Machine *m, uint64_t paddr, uint64_t len)
{
    if (paddr >= m->ram_base && paddr - m->ram_base <= m->ram_size &&
        len <= m->ram_size - (paddr - m->ram_base))
        return m->ram + (paddr - m->ram_base);
    if (m->rom && paddr >= m->rom_base && paddr - m->rom_base <= m->rom_size &&
        len <= m->rom_size - (paddr - m->rom_base))
        return m->rom + (paddr - m->rom_base);
    return NULL;
}

bool machine_phys_read(Machine *m, uint64_t paddr, void *buf, uint64_t len)
{
    uint8_t *p = machine_phys_ptr(m, paddr, len);
    if (!p)
        return false;
    memcpy(buf, p, len);
    return true;
}

bool machine_phys_write(Machine *m, uint64_t paddr, const void *buf, uint64_t len)
{
    uint8_t *p = machine_phys_ptr(m, paddr, len);
    if (!p)
        return false;
    memcpy(p, buf, len);
    machine_mark_dirty(m, paddr, len);
    if (m->code_pages)
        machine_code_written(m, paddr, len);
    return true;
}

/* ---- the run loop ---- */

static void next_hart(Machine *m)
{
    m->sched_hart = (m->sched_hart + 1) % m->nharts;
    m->quantum_left = 0;
}

/* Every hart waits: steps of virtual time until the earliest timer
 * deadline that wakes one, -1 when none will. */
static int64_t idle_gap_steps(const Machine *m)
{
    int64_t best = -1;
    for (int i = 0; i < m->nharts; i++) {
        Hart *h = m->harts[i];
        if (!(h->mie & MIP_MTIP))
            continue;
        int64_t s = steps_until_mtime(m, clint_mtimecmp(m->clint, i));
        if (s > 0 && (best < 0 || s < best))
            best = s;
    }
    /* the RTC alarm wakes harts through the PLIC */
    uint64_t alarm = m->rtc ? rtc_alarm_deadline_ns(m->rtc) : UINT64_MAX;
    uint64_t now = (uint64_t)ns_at(m, m->icount);
    if (alarm != UINT64_MAX && alarm > now) {
        unsigned __int128 unit = (unsigned __int128)1 << m->icount_shift;
        int64_t s = (int64_t)((alarm - now + unit - 1) / unit);
        if (best < 0 || s < best)
            best = s;
    }
    return best;
}

/* Jumps virtual time to that deadline; false when there is none. */
static bool skip_idle_time(Machine *m)
{
    int64_t best = idle_gap_steps(m);
    if (best < 0)
        return false;
    m->idle_ns += (uint64_t)best << m->icount_shift;
    return true;
}

uint64_t machine_idle_gap_ns(const Machine *m)
{
    int64_t best = idle_gap_steps(m);
    if (best < 0)
        return UINT64_MAX;
    return (uint64_t)best << m->icount_shift;
}

bool machine_idle_skip(Machine *m)
{
    if (machine_can_progress(m))
        return false;
    return skip_idle_time(m);
}

bool machine_idle_skip_ns(Machine *m, uint64_t ns)
{
    if (machine_can_progress(m))
        return false;
    uint64_t gap = machine_idle_gap_ns(m);
    if (ns > gap)
        ns = gap;
    m->idle_ns += ns;
    return true;
}

static void update_lines(Machine *m)
{
    if (m->clint)
        clint_update(m->clint);
    if (m->rtc)
        rtc_update(m->rtc);
}

/* Every return of machine_run leaves the timer and RTC lines as they are
 * at the icount it stops at, so that the state at a position does not
 * depend on why the run stopped there. */
static RunResult stopped(Machine *m, RunResult r)
{
    update_lines(m);
    return r;
}

/* n steps of hart h happened: its count and the machine's. */
static void account(Machine *m, Hart *h, int64_t n)
{
    h->instret += (uint64_t)n;
    m->icount += (uint64_t)n;
}

/* Runs up to max steps of h as the current hart; returns the steps run. */
static int64_t run_steps(Machine *m, Hart *h, int64_t max)
{
    m->current = h;
    int64_t n = hart_run(h, max);
    m->current = NULL;
    account(m, h, n);
    return n;
}

static bool goal_reached(const Machine *m, const Hart *h)
{
    return unlikely(m->goal_hart == h->id) && h->instret >= m->goal_steps;
}

RunResult machine_run(Machine *m, uint64_t max_steps)
{
    uint64_t end = m->icount + max_steps;
    int idle_harts = 0;
    BreakpointSet *bps = breakpoints_of(m);

    for (;;) {
        update_lines(m);
        if (unlikely(m->reset_requested)) {
            char err[256];
            m->reset_requested = false;
            if (!machine_reset(m, err, sizeof(err))) {
                fprintf(stderr, "rewind: reset failed: %s\n", err);
                machine_request_exit(m, 1);
            }
        }
        if (m->exit_requested)
            return RUN_EXIT;
        if (m->icount >= end)
            return RUN_BUDGET;
        Hart *h = m->harts[m->sched_hart];
        if (m->quantum_left <= 0)
            m->quantum_left = m->quantum;
        if (h->wfi) {
            if (!hart_interrupt_pending(h)) {
                next_hart(m);
                if (++idle_harts >= m->nharts) {
                    idle_harts = 0;
                    /* host input may be on its way: the run loop decides
                     * when time jumps (host_input.c) */
                    if (machine_waits_for_host(m) || !skip_idle_time(m))
                        return RUN_IDLE;
                }
                continue;
            }
            h->wfi = false;
        }
        idle_harts = 0;
        if (goal_reached(m, h))
            return RUN_HART_GOAL;
        /* Taking an interrupt is a step of its own, as an exception is: the
         * state at an icount is then the same however it was reached (before
         * the trap entry, or after it one icount later), and a debugger
         * stepping into an interrupt stops at the handler's first
         * instruction. */
        if (hart_take_interrupt(h)) {
            account(m, h, 1);
            if (--m->quantum_left <= 0)
                next_hart(m);
            if (goal_reached(m, h))
                return stopped(m, RUN_HART_GOAL);
            continue;
        }

        int64_t slice = m->quantum_left;
        if ((uint64_t)slice > end - m->icount)
            slice = (int64_t)(end - m->icount);
        if (unlikely(m->goal_hart == h->id) && (uint64_t)slice > m->goal_steps - h->instret)
            slice = (int64_t)(m->goal_steps - h->instret);
        if (m->clint) {
            int64_t t = steps_until_mtime(m, clint_mtimecmp(m->clint, h->id));
            if (t > 0 && t < slice)
                slice = t;
        }
        /* a breakpoint at the first instruction of the slice is checked
         * here; the interpreter checks the others (cpu_exec.c L_BREAKPOINT)
         * and runs at full speed everywhere else */
        if (unlikely(bps) && breakpoint_should_stop(bps, h->id, h->pc, h->instret))
            return RUN_BREAKPOINT;
        m->quantum_left -= run_steps(m, h, slice);
        if (h->wfi || m->quantum_left <= 0)
            next_hart(m);
        if (unlikely(m->watchpoints) && machine_take_watchpoint_stop(m))
            return stopped(m, RUN_WATCHPOINT);
        if (unlikely(h->bp_stop)) {
            h->bp_stop = false;
            return stopped(m, RUN_BREAKPOINT);
        }
        if (goal_reached(m, h))
            return stopped(m, RUN_HART_GOAL);
    }
}

uint64_t machine_hart_steps(const Machine *m, int hart)
{
    return hart >= 0 && hart < m->nharts ? m->harts[hart]->instret : 0;
}

void machine_set_hart_goal(Machine *m, int hart, uint64_t steps)
{
    m->goal_hart = hart;
    m->goal_steps = steps;
}

void machine_suspend_debug(Machine *m, bool suspend)
{
    if (m->debug_suspended && !suspend) {
        /* pages holding watchpoints may have been mapped meanwhile */
        for (int i = 0; i < m->nharts; i++)
            hart_tlb_flush(m->harts[i]);
    }
    m->debug_suspended = suspend;
}

bool machine_can_progress(const Machine *m)
{
    for (int i = 0; i < m->nharts; i++) {
        const Hart *h = m->harts[i];
        if (!h->wfi || hart_interrupt_pending(h))
            return true;
    }
    return false;
}

int machine_exit_code(const Machine *m)
{
    return m->exit_code;
}

uint64_t machine_icount(const Machine *m)
{
    return m->icount;
}

/* ---- debugger access ---- */

int machine_nharts(const Machine *m)
{
    return m->nharts;
}

static Hart *hart_at(Machine *m, int hart)
{
    return hart >= 0 && hart < m->nharts ? m->harts[hart] : NULL;
}

bool machine_read_reg(Machine *m, int hart, int regno, uint64_t *val)
{
    Hart *h = hart_at(m, hart);
    if (!h || regno < 0)
        return false;
    if (regno < 32) {
        *val = h->x[regno];
        return true;
    }
    if (regno == REG_PC) {
        *val = h->pc;
        return true;
    }
    if (regno < REG_CSR0) {
        *val = h->f[regno - REG_F0];
        return true;
    }
    if (regno == REG_PRIV) {
        *val = (uint64_t)h->priv;
        return true;
    }
    if (regno < REG_PRIV) {
        /* the debugger sees every CSR, whatever the hart's mode, and the
         * FP CSRs even while the FPU is off */
        unsigned csr = (unsigned)(regno - REG_CSR0);
        int priv = h->priv;
        uint64_t mstatus = h->mstatus;
        h->priv = PRV_M;
        if (csr <= CSR_FCSR)
            h->mstatus |= MSTATUS_FS;
        bool ok = csr_read(h, csr, val);
        h->priv = priv;
        h->mstatus = mstatus;
        return ok;
    }
    return false;
}

bool machine_write_reg(Machine *m, int hart, int regno, uint64_t val)
{
    Hart *h = hart_at(m, hart);
    if (!h || regno < 0)
        return false;
    if (regno < 32) {
        if (regno)
            h->x[regno] = val;
        return true;
    }
    if (regno == REG_PC) {
        h->pc = val;
        return true;
    }
    if (regno < REG_CSR0) {
        h->f[regno - REG_F0] = val;
        return true;
    }
    if (regno == REG_PRIV) {
        if (val != PRV_U && val != PRV_S && val != PRV_M)
            return false;
        hart_set_priv(h, (int)val);
        return true;
    }
    if (regno < REG_PRIV) {
        int priv = h->priv;
        h->priv = PRV_M;
        uint64_t fs = h->mstatus & MSTATUS_FS;
        h->mstatus |= MSTATUS_FS;
        bool ok = csr_write(h, (unsigned)(regno - REG_CSR0), val);
        if (regno - REG_CSR0 != CSR_MSTATUS && regno - REG_CSR0 != CSR_SSTATUS)
            h->mstatus = (h->mstatus & ~MSTATUS_FS) | fs;
        h->priv = priv;
        hart_tlb_flush(h);
        return ok;
    }
    return false;
}

static size_t debug_access(Machine *m, int hart, uint64_t addr, void *buf, size_t len,
                           bool phys, bool write)
{
    Hart *h = hart_at(m, hart);
    size_t done = 0;
    if (!h)
        return 0;
    while (done < len) {
        uint64_t va = addr + done, pa = va;
        size_t chunk = PAGE_SIZE - (va & (PAGE_SIZE - 1));
        if (chunk > len - done)
            chunk = len - done;
        if (!phys) {
            uint64_t cause = h->exc_cause, tval = h->exc_tval;
            bool ok = mmu_translate(h, va, ACC_LOAD, &pa, true);
            h->exc_cause = cause;
            h->exc_tval = tval;
            if (!ok)
                break;
        }
        bool ok = write ? machine_phys_write(m, pa, (const uint8_t *)buf + done, chunk)
                        : machine_phys_read(m, pa, (uint8_t *)buf + done, chunk);
        if (!ok)
            break;
        done += chunk;
    }
    return done;
}

size_t machine_read_mem(Machine *m, int hart, uint64_t addr, void *buf, size_t len, bool phys)
{
    return debug_access(m, hart, addr, buf, len, phys, false);
}

size_t machine_write_mem(Machine *m, int hart, uint64_t addr, const void *buf, size_t len,
                         bool phys)
{
    return debug_access(m, hart, addr, (void *)buf, len, phys, true);
}

RunResult machine_step_hart(Machine *m, int hart)
{
    Hart *h = hart_at(m, hart);
    if (!h)
        return RUN_BUDGET;
    if (m->exit_requested)
        return RUN_EXIT;
    if (m->clint)
        clint_update(m->clint);
    h->wfi = false;
    run_steps(m, h, 1);
    if (unlikely(m->watchpoints) && machine_take_watchpoint_stop(m))
        return RUN_WATCHPOINT;
    return m->exit_requested ? RUN_EXIT : RUN_BUDGET;
}
