/* A bare machine for unit tests: RAM and harts, no devices. */
#ifndef MINI_MACHINE_H
#define MINI_MACHINE_H

#include "block.h"
#include "cpu.h"

/* The configuration of a whole virt board for a bare-metal guest
 * (-bios none, no console), with the same RTC start in every machine so
 * that two of them run alike. */
static inline void bare_metal_config(MachineConfig *cfg, int smp)
{
    machine_config_defaults(cfg);
    cfg->bios = "none";
    cfg->smp = smp;
    cfg->serial = SERIAL_NULL;
    cfg->rtc_start_ns = 1700000000ull * 1000000000ull;
}

static inline Machine *mini_machine(uint64_t ram_size, int nharts)
{
    Machine *m = g_new0(Machine, 1);
    m->goal_hart = -1;
    m->ram_base = VIRT_DRAM_BASE;
    m->ram_size = ram_size;
    m->ram = g_malloc0(ram_size);
    m->code_pages = g_new0(DecodedPage *, ram_size >> PAGE_SHIFT);
    m->nharts = nharts;
    m->quantum = 1000;
    for (int i = 0; i < nharts; i++) {
        m->harts[i] = hart_new(m, i);
        hart_reset(m->harts[i], VIRT_DRAM_BASE);
    }
    return m;
}

static inline void mini_machine_free(Machine *m)
{
    for (int i = 0; i < m->nharts; i++)
        hart_free(m->harts[i]);
    machine_code_cache_free(m);
    g_free(m->ram);
    g_free(m);
}

/* Gives a machine (a mini one or a board) a disk, as the board does for a
 * -drive; the machine takes it over until mini_machine_close_disks. */
static inline void mini_machine_attach_disk(Machine *m, BlockDev *b)
{
    g_assert_cmpint(m->ndisks, <, REWIND_MAX_DRIVES);
    m->disks[m->ndisks++] = b;
}

/* Closes and detaches every disk (before machine_free, whatever it does
 * with disks). */
static inline void mini_machine_close_disks(Machine *m)
{
    for (int i = 0; i < m->ndisks; i++) {
        block_close(m->disks[i]);
        m->disks[i] = NULL;
    }
    m->ndisks = 0;
}

static inline void poke32(Machine *m, uint64_t pa, uint32_t v)
{
    g_assert_true(machine_phys_write(m, pa, &v, 4));
}

static inline void poke64(Machine *m, uint64_t pa, uint64_t v)
{
    g_assert_true(machine_phys_write(m, pa, &v, 8));
}

static inline uint64_t peek64(Machine *m, uint64_t pa)
{
    uint64_t v = 0;
    g_assert_true(machine_phys_read(m, pa, &v, 8));
    return v;
}

#endif
