/* The board's address map as the monitor's `info mtree` shows it: the
 * boot ROM, RAM and the MMIO regions the devices registered. */
#include "machine.h"

#include <stdlib.h>

typedef struct MapEntry {
    const char *name;
    uint64_t base, size;
    MemRegionKind kind;
} MapEntry;

static int by_base(const void *a, const void *b)
{
    const MapEntry *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

void machine_memory_map(Machine *m, MemoryMapFn fn, void *opaque)
{
    MapEntry e[MAX_MMIO + 2];
    int n = 0;
    if (m->rom && m->rom_size)
        e[n++] = (MapEntry){ "boot ROM", m->rom_base, m->rom_size, MEMREGION_ROM };
    if (m->ram && m->ram_size)
        e[n++] = (MapEntry){ "RAM", m->ram_base, m->ram_size, MEMREGION_RAM };
    for (int i = 0; i < m->n_mmio && n < MAX_MMIO + 2; i++)
        e[n++] = (MapEntry){ m->mmio[i].name ? m->mmio[i].name : "mmio", m->mmio[i].base,
                             m->mmio[i].size, MEMREGION_IO };
    qsort(e, (size_t)n, sizeof e[0], by_base);
    for (int i = 0; i < n; i++)
        fn(opaque, e[i].name, e[i].base, e[i].size, e[i].kind);
}
