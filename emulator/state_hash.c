/* The hash of CPU state that record/replay's check events carry: FNV-1a
 * (64 bits) over every hart's integer and FP registers, pc, privilege level
 * and mstatus, then the machine's icount. Only state that is the same at a
 * given icount however the caller split its runs is hashed (mip, for one,
 * is updated lazily by the run loop and is left out). */
#include "machine.h"

#define FNV_INIT  UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint8_t)(v >> (8 * i));
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t machine_state_hash(const Machine *m)
{
    uint64_t h = FNV_INIT;
    for (int i = 0; i < m->nharts; i++) {
        const Hart *hart = m->harts[i];
        for (int r = 0; r < 32; r++)
            h = fnv_u64(h, hart->x[r]);
        for (int r = 0; r < 32; r++)
            h = fnv_u64(h, hart->f[r]);
        h = fnv_u64(h, hart->pc);
        h = fnv_u64(h, (uint64_t)hart->priv);
        h = fnv_u64(h, hart->mstatus);
    }
    return fnv_u64(h, m->icount);
}
