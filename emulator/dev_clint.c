/* SiFive CLINT as on QEMU virt (ACLINT MSWI + MTIMER layout):
 *   0x0000 + 4*hart  msip      (bit 0 drives MIP.MSIP)
 *   0x4000 + 8*hart  mtimecmp
 *   0xbff8           mtime
 * mtime is never the host clock: it is derived from the instruction count
 * (machine_mtime), so timer interrupts land on the same instruction in
 * every run. A guest write to mtime is kept as an offset from that count.
 *
 * QEMU 7.2 allocates mtimecmp zeroed and its reset writes mtime = 0, which
 * re-evaluates every hart: MTIP is therefore pending right after reset
 * (checked with `info registers`: mip = 0x80). We do the same. */
#include "devices.h"

#include <string.h>

#include <glib.h>

#define CLINT_MSIP_BASE     0x0000
#define CLINT_MTIMECMP_BASE 0x4000
#define CLINT_MTIME         0xbff8

struct Clint {
    Machine *m;
    uint64_t mtimecmp[REWIND_MAX_HARTS];
    uint32_t msip[REWIND_MAX_HARTS];
    uint64_t mtime_offset;      /* guest-visible mtime - machine_mtime() */
};

static uint64_t clint_mtime(const Clint *c)
{
    return machine_mtime(c->m) + c->mtime_offset;
}

static void clint_update_hart(Clint *c, int hart, uint64_t now)
{
    Hart *h = c->m->harts[hart];
    bool level = c->mtimecmp[hart] <= now;
    /* MTIP is read-only for software, so mip holds exactly our last level;
     * skipping no-op calls keeps the run loop's slices from being cut. */
    if (h && !!(h->mip & MIP_MTIP) != level)
        hart_set_mip(h, MIP_MTIP, level);
}

void clint_update(Clint *c)
{
    uint64_t now = clint_mtime(c);
    for (int i = 0; i < c->m->nharts; i++)
        clint_update_hart(c, i, now);
}

/* The deadline in machine_mtime() units, which is what the run loop
 * compares against to skip idle time; UINT64_MAX means "never". */
uint64_t clint_mtimecmp(const Clint *c, int hart)
{
    if (hart < 0 || hart >= c->m->nharts)
        return UINT64_MAX;
    uint64_t cmp = c->mtimecmp[hart];
    if (cmp == UINT64_MAX)
        return UINT64_MAX;
    if (cmp < c->mtime_offset)
        return 0;   /* already reached */
    return cmp - c->mtime_offset;
}

/* Merges a 4- or 8-byte write at byte offset off (0 or 4) into a 64-bit
 * register. */
static uint64_t merge64(uint64_t old, uint64_t off, unsigned size, uint64_t val)
{
    if (size == 8)
        return val;
    if (off & 4)
        return (old & 0xffffffffull) | (val << 32);
    return (old & ~0xffffffffull) | (val & 0xffffffffull);
}

static uint64_t extract64(uint64_t reg, uint64_t off, unsigned size)
{
    if (size == 8)
        return reg;
    return (off & 4) ? reg >> 32 : reg & 0xffffffffull;
}

/* Accesses must be naturally aligned 4- or 8-byte ones (msip: 4 only), as
 * QEMU's ACLINT accepts; anything else is an access fault. Registers of
 * harts that do not exist read as zero and ignore writes. */
static bool clint_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    Clint *c = opaque;
    if ((size != 4 && size != 8) || (offset & (size - 1)))
        return false;
    *val = 0;
    if (offset < CLINT_MTIMECMP_BASE) {
        if (size != 4)
            return false;
        uint64_t hart = offset / 4;
        if (hart < (uint64_t)c->m->nharts)
            *val = c->msip[hart];
    } else if (offset >= CLINT_MTIME && offset < CLINT_MTIME + 8) {
        *val = extract64(clint_mtime(c), offset - CLINT_MTIME, size);
    } else if (offset < CLINT_MTIMECMP_BASE + 8 * REWIND_MAX_HARTS) {
        uint64_t hart = (offset - CLINT_MTIMECMP_BASE) / 8;
        if (hart < (uint64_t)c->m->nharts)
            *val = extract64(c->mtimecmp[hart], offset & 7, size);
    }
    return true;
}

static bool clint_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    Clint *c = opaque;
    if ((size != 4 && size != 8) || (offset & (size - 1)))
        return false;
    if (offset < CLINT_MTIMECMP_BASE) {
        if (size != 4)
            return false;
        uint64_t hart = offset / 4;
        if (hart < (uint64_t)c->m->nharts) {
            c->msip[hart] = val & 1;    /* only bit 0 is writable */
            hart_set_mip(c->m->harts[hart], MIP_MSIP, val & 1);
        }
    } else if (offset >= CLINT_MTIME && offset < CLINT_MTIME + 8) {
        uint64_t now = clint_mtime(c);
        uint64_t want = merge64(now, offset - CLINT_MTIME, size, val);
        c->mtime_offset += want - now;
        clint_update(c);
    } else if (offset < CLINT_MTIMECMP_BASE + 8 * REWIND_MAX_HARTS) {
        uint64_t hart = (offset - CLINT_MTIMECMP_BASE) / 8;
        if (hart < (uint64_t)c->m->nharts) {
            c->mtimecmp[hart] = merge64(c->mtimecmp[hart], offset & 7, size, val);
            clint_update_hart(c, (int)hart, clint_mtime(c));
        }
    }
    return true;
}

void clint_reset(Clint *c)
{
    /* mtimecmp = 0 and no software interrupt, as at power-on; mtime goes on
     * (it is virtual time, as QEMU's virtual clock goes on) */
    memset(c->mtimecmp, 0, sizeof(c->mtimecmp));
    memset(c->msip, 0, sizeof(c->msip));
}

/* Snapshot state: everything but the Machine pointer. */
typedef struct ClintState {
    uint64_t mtimecmp[REWIND_MAX_HARTS];
    uint32_t msip[REWIND_MAX_HARTS];
    uint64_t mtime_offset;
} ClintState;

static void clint_save(const void *opaque, void *buf)
{
    const Clint *c = opaque;
    ClintState s;
    memset(&s, 0, sizeof s);
    memcpy(s.mtimecmp, c->mtimecmp, sizeof s.mtimecmp);
    memcpy(s.msip, c->msip, sizeof s.msip);
    s.mtime_offset = c->mtime_offset;
    memcpy(buf, &s, sizeof s);
}

static void clint_load(void *opaque, const void *buf)
{
    Clint *c = opaque;
    ClintState s;
    memcpy(&s, buf, sizeof s);
    memcpy(c->mtimecmp, s.mtimecmp, sizeof c->mtimecmp);
    memcpy(c->msip, s.msip, sizeof c->msip);
    c->mtime_offset = s.mtime_offset;
}

static const DeviceStateOps clint_state_ops = {
    .name = "clint", .size = sizeof(ClintState), .save = clint_save, .load = clint_load,
};

Clint *clint_new(Machine *m, uint64_t base)
{
    Clint *c = g_new0(Clint, 1);
    c->m = m;
    /* mtimecmp = 0 at reset, as QEMU 7.2 (see the comment at the top). The
     * board calls clint_update once the harts are reset, which raises MTIP. */
    MmioRegion r = {
        .name = "clint",
        .base = base,
        .size = VIRT_CLINT_SIZE,
        .opaque = c,
        .read = clint_read,
        .write = clint_write,
    };
    if (!machine_add_mmio(m, &r) || !machine_add_device_state(m, &clint_state_ops, c)) {
        g_free(c);
        return NULL;
    }
    return c;
}

void clint_free(Clint *c)
{
    g_free(c);
}
