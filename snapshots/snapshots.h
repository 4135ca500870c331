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

/* ---- Snapshots in a file (snapshot_file.c; docs/snapshots.md) ----
 * A qcow2 (version 3) image whose internal snapshots each hold a whole
 * machine at one icount, with the replay log position to go on from:
 * BUNDLE/snapshots.qcow2, the recording's initial and periodic snapshots.
 * `qemu-img snapshot -l` lists them with their icount and `qemu-img check`
 * accepts the file. Consecutive snapshots share unchanged pages, so a
 * periodic snapshot costs the pages written since the previous one. Every
 * page carries a checksum: a damaged file is refused, never half loaded.
 *
 * "tracked": the caller lets the file own the machine's dirty tracking
 * (RAM and disks; no SnapStore on the same machine): only pages written
 * since the last save or load of this SnapFile are looked at, and save and
 * load clear the bitmaps. Untracked, save compares every page with the
 * last snapshot saved or loaded, and load marks the pages it changes dirty
 * for the store that owns the tracking. */
typedef struct SnapFile SnapFile;

#define SNAPFILE_POS_MAX 64     /* bytes of log position a snapshot keeps */

SnapFile *snapfile_create(const char *path, char *err, size_t errlen);
SnapFile *snapfile_open(const char *path, bool writable, char *err, size_t errlen);
bool snapfile_close(SnapFile *f, char *err, size_t errlen);     /* frees in any case */
const char *snapfile_path(const SnapFile *f);

typedef struct SnapFileInfo {
    const char *id, *name;      /* valid until the file changes */
    uint64_t icount;            /* UINT64_MAX when the entry has none */
    uint64_t bytes;             /* size of its VM state */
    uint64_t date_sec;
    bool machine;               /* holds a Rewind machine (qemu-img's disk-only
                                   snapshots do not) */
} SnapFileInfo;

int snapfile_count(const SnapFile *f);
bool snapfile_info(const SnapFile *f, int index, SnapFileInfo *info);
int snapfile_find(const SnapFile *f, const char *name_or_id);
/* The machine snapshot with the highest icount <= icount, -1 if none. */
int snapfile_find_before(const SnapFile *f, uint64_t icount);

/* Saves m (between runs) as a new snapshot NAME with the caller's log
 * position (pos_len <= SNAPFILE_POS_MAX bytes). Returns its index, -1 with
 * a message (the file keeps its previous snapshots). */
int snapfile_save(SnapFile *f, Machine *m, const char *name, const void *pos, size_t pos_len,
                  bool tracked, char *err, size_t errlen);
/* Puts m in the state of snapshot index and gives its log position (pos:
 * room for SNAPFILE_POS_MAX bytes). Everything is checked before m
 * changes (the Rewind build that wrote it, the machine's shape, every
 * checksum): on failure m is untouched. */
bool snapfile_load(SnapFile *f, int index, Machine *m, void *pos, size_t *pos_len, bool tracked,
                   char *err, size_t errlen);
bool snapfile_delete(SnapFile *f, int index, char *err, size_t errlen);

#endif
