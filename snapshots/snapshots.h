/* Public interface of snapshots/: in-memory, incremental machine
 * snapshots (see docs/snapshots.md).
 *
 * A snapshot is the whole machine at one icount: the MachineState of the
 * emulator (harts, scheduler, devices), a table naming one stored copy of
 * every RAM page, one table per disk naming the pages of its in-memory
 * overlay (or their absence), and an opaque u64 the caller attaches (the
 * replay log position). Taking one copies only the pages written since the previous
 * take or restore and shares every other page, by reference, with the
 * snapshots before it; restoring rewrites only the pages that differ from
 * the current RAM. A memory budget bounds the store: past it, snapshots
 * are dropped by a thinning rule (the first one is always kept), denser
 * near a focus icount the caller sets (the debugger's position).
 *
 * Take and restore between machine_run calls only. One store per machine;
 * it owns the machine's dirty tracking (RAM and disks) from its first take
 * on. Disks whose writes go straight to the image file have no overlay and
 * are not brought back (emulator.h, "disks"). */
#ifndef REWIND_SNAPSHOTS_H
#define REWIND_SNAPSHOTS_H

#include "emulator.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct SnapStore SnapStore;

/* budget_bytes 0: snapshot_default_budget(). */
SnapStore *snapstore_new(Machine *m, uint64_t budget_bytes);
void snapstore_free(SnapStore *s);

/* A quarter of the host's available memory (MemAvailable in
 * /proc/meminfo), or 1 GiB when that cannot be read. */
uint64_t snapshot_default_budget(void);

/* Snapshots the machine at its current icount with the caller's log
 * position. Returns the snapshot's id (> 0; ids are never reused). A
 * snapshot already at that icount is replaced. The budget is then
 * enforced, never dropping the snapshot just taken. */
int snapstore_take(SnapStore *s, uint64_t log_pos);
/* Puts the machine back to snapshot id; *log_pos (may be NULL) receives
 * the position attached to it. False if id does not exist. */
bool snapstore_restore(SnapStore *s, int id, uint64_t *log_pos);
bool snapstore_drop(SnapStore *s, int id);
/* Id of the snapshot with the highest icount <= icount, -1 if none. */
int snapstore_find(const SnapStore *s, uint64_t icount);

/* Thinning keeps snapshots dense near this icount and sparse far from
 * it; without a focus it keeps them evenly spread. */
void snapstore_set_focus(SnapStore *s, uint64_t icount);
void snapstore_clear_focus(SnapStore *s);
/* Changes the budget and enforces it at once. */
void snapstore_set_budget(SnapStore *s, uint64_t budget_bytes);
/* A pinned snapshot (savevm NAME, bookmarks) is never dropped by the
 * budget; snapstore_drop still drops it. */
bool snapstore_set_pinned(SnapStore *s, int id, bool pinned);

typedef struct SnapInfo {
    int id;
    uint64_t icount;
    uint64_t log_pos;
    uint64_t pages_copied;  /* RAM pages this snapshot stored when taken */
    uint64_t disk_pages_copied; /* disk overlay pages it stored, all disks */
    uint64_t bytes;         /* what it added to the store when taken */
    bool pinned;
} SnapInfo;

/* Snapshots in icount order: index 0 .. snapstore_count() - 1. */
int snapstore_count(const SnapStore *s);
bool snapstore_info(const SnapStore *s, int index, SnapInfo *info);
bool snapstore_get(const SnapStore *s, int id, SnapInfo *info);

typedef struct SnapStats {
    int count;
    uint64_t bytes;             /* pages, tables and states held now */
    uint64_t budget;
    uint64_t pages_held;        /* distinct stored pages, RAM and disks (zero
                                   pages not counted) */
    uint64_t takes, restores, dropped;
    uint64_t last_take_pages;       /* pages copied by the last take */
    uint64_t last_take_dirty;       /* pages it found marked dirty */
    uint64_t last_restore_pages;    /* pages rewritten by the last restore */
    uint64_t last_take_disk_pages;  /* the same for disk overlay pages, all */
    uint64_t last_take_disk_dirty;  /* disks (dirty: the first take counts */
    uint64_t last_restore_disk_pages; /* every overlay page) */
    uint64_t last_take_ns, last_restore_ns;   /* host time they took */
} SnapStats;
void snapstore_stats(const SnapStore *s, SnapStats *st);

#endif
