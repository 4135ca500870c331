/* Machine state for snapshots: every hart, the scheduler and every
 * device's guest-visible state in one flat buffer, and the RAM services
 * snapshots/ builds on (pages, the dirty bitmap, page write-back).
 *
 * Harts: everything in struct Hart before the TLBs (registers, CSRs,
 * counters, WFI, the LR/SC reservation and the slice bookkeeping, which is
 * idle between machine_run calls) is copied as one block; the host fields
 * in it (m, id) are kept on restore. New CSR fields added before the TLBs
 * are therefore saved with no change here. The TLBs are not saved: restore
 * flushes them. Decoded instructions are not saved either: they follow RAM,
 * and machine_ram_write_page invalidates those of every page it rewrites.
 *
 * Devices register a DeviceStateOps entry when they are created
 * (machine_add_device_state); their states follow the harts in
 * registration order. Interrupt lines need nothing special: hart mip, the
 * PLIC's inputs and its per-context levels, and each device's last line
 * level are all part of the state, so they agree after a restore.
 *
 * Dirty tracking rule: the store fast path (cpu_exec.c) writes through the
 * store TLB without any check, so a page may have store-TLB entries only
 * while its dirty bit is set. The slow paths mark the page before they fill
 * the TLB; machine_ram_clear_dirty drops every hart's store TLB when it
 * clears the bits. Until the first clear no bitmap exists and nothing is
 * tracked (every page counts as dirty), so a machine that never takes a
 * snapshot pays nothing. */
#include "cpu.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HART_STATE_BYTES offsetof(Hart, tlb_load)
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

typedef struct SchedState {
    uint64_t icount, idle_ns;
    int64_t quantum_left;
    int32_t sched_hart;
    int32_t exit_code;
    uint8_t exit_requested, reset_requested;
} SchedState;

struct MachineState {
    size_t size;            /* bytes of the whole allocation */
    uint64_t icount;
    int nharts, ndev;
    /* harts, then SchedState, then each device's state (8-byte aligned) */
    uint8_t data[];
};

bool machine_add_device_state(Machine *m, const DeviceStateOps *ops, void *opaque)
{
    if (m->n_dev_state >= MAX_DEVICE_STATE)
        return false;
    m->dev_state[m->n_dev_state].ops = ops;
    m->dev_state[m->n_dev_state].opaque = opaque;
    m->n_dev_state++;
    return true;
}

static size_t state_data_bytes(const Machine *m)
{
    size_t n = (size_t)m->nharts * ALIGN8(HART_STATE_BYTES) + ALIGN8(sizeof(SchedState));
    for (int i = 0; i < m->n_dev_state; i++)
        n += ALIGN8(m->dev_state[i].ops->size);
    return n;
}

MachineState *machine_state_save(Machine *m)
{
    size_t bytes = offsetof(MachineState, data) + state_data_bytes(m);
    MachineState *s = g_malloc0(bytes);    /* zeroed: states compare bytewise */
    s->size = bytes;
    s->icount = m->icount;
    s->nharts = m->nharts;
    s->ndev = m->n_dev_state;
    uint8_t *p = s->data;
    for (int i = 0; i < m->nharts; i++) {
        memcpy(p, m->harts[i], HART_STATE_BYTES);
        /* host fields are zero in the state */
        Hart *hs = (Hart *)(void *)p;
        hs->m = NULL;
        /* nor is the x0 sink, which the interpreter writes and compiled
         * code mostly skips: states compare equal across -accel */
        hs->x[32] = 0;
        p += ALIGN8(HART_STATE_BYTES);
    }
    SchedState sc;
    memset(&sc, 0, sizeof sc);
    sc.icount = m->icount;
    sc.idle_ns = m->idle_ns;
    sc.quantum_left = m->quantum_left;
    sc.sched_hart = m->sched_hart;
    sc.exit_code = m->exit_code;
    sc.exit_requested = m->exit_requested;
    sc.reset_requested = m->reset_requested;
    memcpy(p, &sc, sizeof sc);
    p += ALIGN8(sizeof sc);
    for (int i = 0; i < m->n_dev_state; i++) {
        m->dev_state[i].ops->save(m->dev_state[i].opaque, p);
        p += ALIGN8(m->dev_state[i].ops->size);
    }
    return s;
}

void machine_state_restore(Machine *m, const MachineState *s)
{
    g_return_if_fail(s && s->nharts == m->nharts && s->ndev == m->n_dev_state &&
                     s->size == offsetof(MachineState, data) + state_data_bytes(m));
    const uint8_t *p = s->data;
    for (int i = 0; i < m->nharts; i++) {
        Hart *h = m->harts[i];
        Machine *hm = h->m;
        int id = h->id;
        memcpy(h, p, HART_STATE_BYTES);
        h->m = hm;
        h->id = id;
        hart_tlb_flush(h);
        p += ALIGN8(HART_STATE_BYTES);
    }
    SchedState sc;
    memcpy(&sc, p, sizeof sc);
    p += ALIGN8(sizeof sc);
    m->icount = sc.icount;
    m->idle_ns = sc.idle_ns;
    m->quantum_left = sc.quantum_left;
    m->sched_hart = sc.sched_hart;
    m->exit_code = sc.exit_code;
    m->exit_requested = sc.exit_requested;
    m->reset_requested = sc.reset_requested;
    m->current = NULL;
    for (int i = 0; i < m->n_dev_state; i++) {
        m->dev_state[i].ops->load(m->dev_state[i].opaque, p);
        p += ALIGN8(m->dev_state[i].ops->size);
    }
}

void machine_state_free(MachineState *s)
{
    g_free(s);
}

size_t machine_state_size(const MachineState *s)
{
    return s ? s->size : 0;
}

uint64_t machine_state_icount(const MachineState *s)
{
    return s ? s->icount : 0;
}

const void *machine_state_bytes(const MachineState *s, size_t *len)
{
    *len = s->size;
    return s;
}

MachineState *machine_state_from_bytes(const Machine *m, const void *data, size_t len,
                                       char *err, size_t errlen)
{
    size_t want = offsetof(MachineState, data) + state_data_bytes(m);
    MachineState head;
    if (len != want || len < sizeof head) {
        snprintf(err, errlen, "machine state of %zu bytes, this machine's has %zu", len, want);
        return NULL;
    }
    memcpy(&head, data, sizeof head);
    if (head.size != want || head.nharts != m->nharts || head.ndev != m->n_dev_state) {
        snprintf(err, errlen, "machine state for %d harts and %d devices, this machine has "
                 "%d and %d", head.nharts, head.ndev, m->nharts, m->n_dev_state);
        return NULL;
    }
    return g_memdup2(data, len);
}

/* ---- RAM pages and dirty tracking ---- */

uint64_t machine_ram_pages(const Machine *m)
{
    return m->ram_size >> PAGE_SHIFT;
}

const uint8_t *machine_ram_page(const Machine *m, uint64_t page)
{
    return m->ram + (page << PAGE_SHIFT);
}

const uint64_t *machine_ram_dirty_bitmap(const Machine *m)
{
    return m->ram_dirty;
}

void machine_ram_clear_dirty(Machine *m)
{
    size_t words = (size_t)((machine_ram_pages(m) + 63) / 64);
    if (!m->ram_dirty)
        m->ram_dirty = g_new0(uint64_t, words ? words : 1);
    else
        memset(m->ram_dirty, 0, words * sizeof(uint64_t));
    for (int i = 0; i < m->nharts; i++)
        hart_tlb_flush_store(m->harts[i]);
}

bool machine_ram_untouched(const Machine *m, uint64_t *bitmap)
{
    uint64_t npages = machine_ram_pages(m);
    memset(bitmap, 0, (size_t)((npages + 63) / 64) * 8);
    if (sysconf(_SC_PAGESIZE) != PAGE_SIZE)
        return false;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    /* one u64 per host page: bit 63 present, bit 62 swapped; neither means
     * the anonymous page was never backed (or was dropped) and reads zero */
    enum { BATCH = 4096 };
    uint64_t *e = g_new(uint64_t, BATCH);
    uint64_t first = (uint64_t)(uintptr_t)m->ram / PAGE_SIZE;
    bool ok = true;
    for (uint64_t p = 0; p < npages && ok; p += BATCH) {
        uint64_t n = npages - p < BATCH ? npages - p : BATCH;
        ssize_t got = pread(fd, e, n * 8, (off_t)((first + p) * 8));
        if (got != (ssize_t)(n * 8)) {
            ok = false;
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            if (!(e[i] >> 62))
                bitmap[(p + i) / 64] |= 1ull << ((p + i) % 64);
    }
    g_free(e);
    close(fd);
    if (!ok)
        memset(bitmap, 0, (size_t)((npages + 63) / 64) * 8);
    return ok;
}

void machine_ram_mark_dirty(Machine *m, uint64_t page)
{
    if (m->ram_dirty && page < machine_ram_pages(m))
        m->ram_dirty[page / 64] |= 1ull << (page % 64);
}

void machine_ram_write_page(Machine *m, uint64_t page, const void *data)
{
    uint64_t pa = m->ram_base + (page << PAGE_SHIFT);
    memcpy(m->ram + (page << PAGE_SHIFT), data, PAGE_SIZE);
    if (m->code_pages)
        machine_code_written(m, pa, PAGE_SIZE);
}
