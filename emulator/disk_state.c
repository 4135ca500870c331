/* The machine's disks as snapshots/ sees them (emulator.h, "disks, for
 * snapshots"): each disk's overlay pages and dirty bitmap, over block.h.
 * The disks themselves are opened by the board (Machine.disks). */
#include "block.h"
#include "machine.h"

int machine_ndisks(const Machine *m)
{
    return m->ndisks;
}

uint64_t machine_disk_pages(const Machine *m, int disk)
{
    return block_pages(m->disks[disk]);
}

const uint8_t *machine_disk_page(const Machine *m, int disk, uint64_t page)
{
    return block_overlay_page(m->disks[disk], page);
}

uint64_t machine_disk_next_page(const Machine *m, int disk, uint64_t from)
{
    return block_overlay_next(m->disks[disk], from);
}

const uint64_t *machine_disk_dirty_bitmap(const Machine *m, int disk)
{
    return block_dirty_bitmap(m->disks[disk]);
}

void machine_disk_clear_dirty(Machine *m, int disk)
{
    block_clear_dirty(m->disks[disk]);
}

void machine_disk_restore_page(Machine *m, int disk, uint64_t page, const void *data)
{
    block_set_overlay_page(m->disks[disk], page, data);
}

void machine_disk_mark_dirty(Machine *m, int disk, uint64_t page)
{
    block_mark_dirty(m->disks[disk], page);
}
