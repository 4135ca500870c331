/* SiFive PLIC as on QEMU virt:
 *   0x000000 + 4*src          priority (3 bits: QEMU virt has 7 levels)
 *   0x001000                  pending bitmap (read-only)
 *   0x002000 + 0x80*ctx       enable bitmap of a context
 *   0x200000 + 0x1000*ctx     threshold (+0), claim/complete (+4)
 * Context 2*hart is the hart's M-mode (MEIP), 2*hart+1 its S-mode (SEIP).
 *
 * Sources are level-triggered. The gateway forwards a request (sets
 * pending) while the line is high and the source is not claimed; a claim
 * clears pending and marks the source in service; completion releases it,
 * and if the line is still high the source becomes pending again. Like
 * QEMU, pending also drops when the line goes low before a claim. */
#include "devices.h"

#include <string.h>

#include <glib.h>

#define PLIC_PRIORITY_BASE  0x0
#define PLIC_PENDING_BASE   0x1000
#define PLIC_ENABLE_BASE    0x2000
#define PLIC_ENABLE_STRIDE  0x80
#define PLIC_CONTEXT_BASE   0x200000
#define PLIC_CONTEXT_STRIDE 0x1000
#define PLIC_PRIO_MASK      7

#define PLIC_MAX_SOURCES 1024           /* the PLIC's architectural limit */
#define PLIC_WORDS (PLIC_MAX_SOURCES / 32)
#define PLIC_MAX_CTX (2 * REWIND_MAX_HARTS)

struct Plic {
    Machine *m;
    int ndev;           /* valid sources are 1..ndev */
    int nwords;         /* 32-bit words covering sources 0..ndev */
    int nctx;

    uint32_t priority[PLIC_MAX_SOURCES];
    uint32_t level[PLIC_WORDS];     /* the device lines */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS];   /* in service: claimed, not completed */
    uint32_t enable[PLIC_MAX_CTX][PLIC_WORDS];
    uint32_t threshold[PLIC_MAX_CTX];
    bool ctx_level[PLIC_MAX_CTX];   /* last level given to hart_set_mip */
};

static bool bit_get(const uint32_t *map, int n)
{
    return (map[n / 32] >> (n % 32)) & 1;
}

static void bit_set(uint32_t *map, int n, bool v)
{
    if (v)
        map[n / 32] |= 1u << (n % 32);
    else
        map[n / 32] &= ~(1u << (n % 32));
}

/* Highest-priority source that is pending, enabled for ctx, not in service
 * and above the context's threshold; ties go to the lowest ID. 0 if none. */
static int plic_best(const Plic *p, int ctx)
{
    int best = 0;
    uint32_t best_prio = p->threshold[ctx];
    for (int w = 0; w < p->nwords; w++) {
        uint32_t cand = p->pending[w] & p->enable[ctx][w] & ~p->claimed[w];
        while (cand) {
            int src = w * 32 + __builtin_ctz(cand);
            cand &= cand - 1;
            if (p->priority[src] > best_prio) {
                best_prio = p->priority[src];
                best = src;
            }
        }
    }
    return best;
}

static void plic_update(Plic *p)
{
    for (int ctx = 0; ctx < p->nctx; ctx++) {
        bool level = plic_best(p, ctx) != 0;
        if (level == p->ctx_level[ctx])
            continue;
        p->ctx_level[ctx] = level;
        Hart *h = p->m->harts[ctx / 2];
        if (h)
            hart_set_mip(h, (ctx & 1) ? MIP_SEIP : MIP_MEIP, level);
    }
}

void plic_set_irq(Plic *p, int irq, bool level)
{
    if (irq <= 0 || irq > p->ndev)
        return;
    bit_set(p->level, irq, level);
    if (!bit_get(p->claimed, irq))
        bit_set(p->pending, irq, level);
    plic_update(p);
}

static uint32_t plic_claim(Plic *p, int ctx)
{
    int src = plic_best(p, ctx);
    if (src) {
        bit_set(p->pending, src, false);
        bit_set(p->claimed, src, true);
        plic_update(p);
    }
    return (uint32_t)src;
}

static void plic_complete(Plic *p, int ctx, uint32_t src)
{
    /* The spec ignores completions for sources not enabled in the context;
     * QEMU does not check. Checking is harmless for correct guests and
     * keeps one context from releasing another's source. */
    if (src == 0 || src > (uint32_t)p->ndev || !bit_get(p->enable[ctx], (int)src))
        return;
    bit_set(p->claimed, (int)src, false);
    if (bit_get(p->level, (int)src))
        bit_set(p->pending, (int)src, true);
    plic_update(p);
}

/* All registers are 32 bits wide; QEMU accepts only aligned 4-byte accesses
 * and so do we. Unimplemented offsets read as zero and ignore writes. */
static bool plic_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    Plic *p = opaque;
    if (size != 4 || (offset & 3))
        return false;
    *val = 0;
    if (offset < PLIC_PENDING_BASE) {
        uint64_t src = offset / 4;
        if (src >= 1 && src <= (uint64_t)p->ndev)
            *val = p->priority[src];
    } else if (offset < PLIC_ENABLE_BASE) {
        uint64_t w = (offset - PLIC_PENDING_BASE) / 4;
        if (w < (uint64_t)p->nwords)
            *val = p->pending[w];
    } else if (offset < PLIC_CONTEXT_BASE) {
        uint64_t ctx = (offset - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        uint64_t w = ((offset - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE) / 4;
        if (ctx < (uint64_t)p->nctx && w < (uint64_t)p->nwords)
            *val = p->enable[ctx][w];
    } else {
        uint64_t ctx = (offset - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (offset - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
        if (ctx < (uint64_t)p->nctx) {
            if (reg == 0)
                *val = p->threshold[ctx];
            else if (reg == 4)
                *val = plic_claim(p, (int)ctx);
        }
    }
    return true;
}

static bool plic_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    Plic *p = opaque;
    if (size != 4 || (offset & 3))
        return false;
    uint32_t v = (uint32_t)val;
    if (offset < PLIC_PENDING_BASE) {
        uint64_t src = offset / 4;
        if (src >= 1 && src <= (uint64_t)p->ndev) {
            p->priority[src] = v & PLIC_PRIO_MASK;
            plic_update(p);
        }
    } else if (offset < PLIC_ENABLE_BASE) {
        /* pending is read-only */
    } else if (offset < PLIC_CONTEXT_BASE) {
        uint64_t ctx = (offset - PLIC_ENABLE_BASE) / PLIC_ENABLE_STRIDE;
        uint64_t w = ((offset - PLIC_ENABLE_BASE) % PLIC_ENABLE_STRIDE) / 4;
        if (ctx < (uint64_t)p->nctx && w < (uint64_t)p->nwords) {
            if (w == 0)
                v &= ~1u;       /* source 0 does not exist */
            if (w == (uint64_t)p->nwords - 1 && (p->ndev + 1) % 32)
                v &= (1u << ((p->ndev + 1) % 32)) - 1;  /* beyond ndev */
            p->enable[ctx][w] = v;
            plic_update(p);
        }
    } else {
        uint64_t ctx = (offset - PLIC_CONTEXT_BASE) / PLIC_CONTEXT_STRIDE;
        uint64_t reg = (offset - PLIC_CONTEXT_BASE) % PLIC_CONTEXT_STRIDE;
        if (ctx < (uint64_t)p->nctx) {
            if (reg == 0) {
                p->threshold[ctx] = v & PLIC_PRIO_MASK;
                plic_update(p);
            } else if (reg == 4) {
                plic_complete(p, (int)ctx, v);
            }
        }
    }
    return true;
}

void plic_reset(Plic *p)
{
    /* registers to zero; the device lines (level[]) are the devices' own
     * and follow their reset */
    memset(p->priority, 0, sizeof(p->priority));
    memset(p->pending, 0, sizeof(p->pending));
    memset(p->claimed, 0, sizeof(p->claimed));
    memset(p->enable, 0, sizeof(p->enable));
    memset(p->threshold, 0, sizeof(p->threshold));
    memset(p->ctx_level, 0, sizeof(p->ctx_level));
}

/* Snapshot state: the registers, the device lines and the levels last
 * given to the harts (ndev and nctx are configuration). */
typedef struct PlicState {
    uint32_t priority[PLIC_MAX_SOURCES];
    uint32_t level[PLIC_WORDS];
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS];
    uint32_t enable[PLIC_MAX_CTX][PLIC_WORDS];
    uint32_t threshold[PLIC_MAX_CTX];
    uint8_t ctx_level[PLIC_MAX_CTX];
} PlicState;

static void plic_save(const void *opaque, void *buf)
{
    const Plic *p = opaque;
    PlicState *s = buf;     /* buf is malloc-aligned (machine_state.c) */
    memcpy(s->priority, p->priority, sizeof s->priority);
    memcpy(s->level, p->level, sizeof s->level);
    memcpy(s->pending, p->pending, sizeof s->pending);
    memcpy(s->claimed, p->claimed, sizeof s->claimed);
    memcpy(s->enable, p->enable, sizeof s->enable);
    memcpy(s->threshold, p->threshold, sizeof s->threshold);
    for (int i = 0; i < PLIC_MAX_CTX; i++)
        s->ctx_level[i] = p->ctx_level[i];
}

static void plic_load(void *opaque, const void *buf)
{
    Plic *p = opaque;
    const PlicState *s = buf;
    memcpy(p->priority, s->priority, sizeof p->priority);
    memcpy(p->level, s->level, sizeof p->level);
    memcpy(p->pending, s->pending, sizeof p->pending);
    memcpy(p->claimed, s->claimed, sizeof p->claimed);
    memcpy(p->enable, s->enable, sizeof p->enable);
    memcpy(p->threshold, s->threshold, sizeof p->threshold);
    for (int i = 0; i < PLIC_MAX_CTX; i++)
        p->ctx_level[i] = s->ctx_level[i] != 0;
}

static const DeviceStateOps plic_state_ops = {
    .name = "plic", .size = sizeof(PlicState), .save = plic_save, .load = plic_load,
};

Plic *plic_new(Machine *m, uint64_t base, int ndev)
{
    if (ndev < 1 || ndev >= PLIC_MAX_SOURCES)
        return NULL;
    Plic *p = g_new0(Plic, 1);
    p->m = m;
    p->ndev = ndev;
    p->nwords = (ndev + 1 + 31) / 32;
    p->nctx = 2 * m->nharts;
    MmioRegion r = {
        .name = "plic",
        .base = base,
        .size = VIRT_PLIC_SIZE,
        .opaque = p,
        .read = plic_read,
        .write = plic_write,
    };
    if (!machine_add_mmio(m, &r) || !machine_add_device_state(m, &plic_state_ops, p)) {
        g_free(p);
        return NULL;
    }
    return p;
}

void plic_free(Plic *p)
{
    g_free(p);
}
