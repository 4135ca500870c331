/* The list of in-memory snapshots: take, restore, drop, lookup by icount,
 * the memory budget and the thinning rule.
 *
 * The store keeps `cur`, the page table of what RAM held at the last take
 * or restore (the state the machine "derives from"). Since then, only
 * pages marked in the machine's dirty bitmap can differ from it. So:
 *  - take: for every dirty page that differs from cur, store a copy and
 *    put it in cur; the snapshot's table is a copy of cur (chunks shared);
 *  - restore T: a page must be rewritten when it is dirty or when T's id
 *    differs from cur's; chunks that T and cur share are skipped whole.
 * Both end by clearing the dirty bitmap (which also drops every store-TLB
 * entry, see emulator/machine_state.c) and make cur a copy of the
 * snapshot's table.
 *
 * Disks work the same way, one table per disk over its overlay pages
 * (emulator.h, "disks"), with one difference: a page may be absent from
 * the overlay (PAGE_ID_ABSENT, it reads from the base image), which is not
 * the same as present and all zero (PAGE_ID_ZEROED). Restoring an absent
 * page removes it from the overlay. The first take walks the whole
 * overlay; later ones only the pages in the disk's dirty bitmap. */
#include "snapshots.h"
#include "page_store.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct Snapshot {
    int id;
    uint64_t icount;
    uint64_t log_pos;
    MachineState *state;
    PageTable *pages;
    PageTable **disks;      /* one per disk of the machine */
    uint64_t pages_copied;
    uint64_t disk_pages_copied;
    uint64_t bytes_added;
    bool pinned;
} Snapshot;

struct SnapStore {
    Machine *m;
    PageStore *ps;
    PageTable *cur;         /* RAM as of the last take/restore; NULL before */
    int ndisks;             /* fixed for the machine's lifetime */
    PageTable **dcur;       /* each disk's overlay, as cur (NULL before) */
    Snapshot **snaps;       /* sorted by icount */
    int n, cap;
    int next_id;
    uint64_t budget;
    bool have_focus;
    uint64_t focus;
    uint64_t state_bytes;   /* MachineStates and tables of the snapshots */
    SnapStats st;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t snapshot_default_budget(void)
{
    uint64_t kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            unsigned long long v;
            if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
                kb = v;
                break;
            }
        }
        fclose(f);
    }
    if (!kb)
        return 1ull << 30;
    return kb * 1024 / 4;
}

SnapStore *snapstore_new(Machine *m, uint64_t budget_bytes)
{
    SnapStore *s = g_new0(SnapStore, 1);
    s->m = m;
    s->ps = page_store_new();
    s->budget = budget_bytes ? budget_bytes : snapshot_default_budget();
    s->next_id = 1;
    s->ndisks = machine_ndisks(m);
    s->dcur = g_new0(PageTable *, s->ndisks ? s->ndisks : 1);
    return s;
}

static uint64_t table_bytes(const PageTable *t)
{
    return sizeof(PageTable) + (uint64_t)t->nchunks * sizeof(PageChunk *);
}

static uint64_t snap_overhead(const SnapStore *s, const Snapshot *sn)
{
    uint64_t n = sizeof(Snapshot) + machine_state_size(sn->state) + table_bytes(sn->pages);
    for (int d = 0; d < s->ndisks; d++)
        n += sizeof(PageTable *) + table_bytes(sn->disks[d]);
    return n;
}

static void snap_free(SnapStore *s, Snapshot *sn)
{
    s->state_bytes -= snap_overhead(s, sn);
    page_table_free(s->ps, sn->pages);
    for (int d = 0; d < s->ndisks; d++)
        page_table_free(s->ps, sn->disks[d]);
    g_free(sn->disks);
    machine_state_free(sn->state);
    g_free(sn);
}

void snapstore_free(SnapStore *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        snap_free(s, s->snaps[i]);
    g_free(s->snaps);
    page_table_free(s->ps, s->cur);
    for (int d = 0; d < s->ndisks; d++)
        page_table_free(s->ps, s->dcur[d]);
    g_free(s->dcur);
    page_store_free(s->ps);
    g_free(s);
}

static uint64_t store_bytes(const SnapStore *s)
{
    uint64_t n = page_store_bytes(s->ps) + s->state_bytes +
                 (s->cur ? table_bytes(s->cur) : 0) + (uint64_t)s->cap * sizeof(Snapshot *);
    for (int d = 0; d < s->ndisks; d++)
        n += sizeof(PageTable *) + (s->dcur[d] ? table_bytes(s->dcur[d]) : 0);
    return n;
}

static int index_of(const SnapStore *s, int id)
{
    for (int i = 0; i < s->n; i++)
        if (s->snaps[i]->id == id)
            return i;
    return -1;
}

static void remove_at(SnapStore *s, int i)
{
    snap_free(s, s->snaps[i]);
    memmove(&s->snaps[i], &s->snaps[i + 1], (size_t)(s->n - i - 1) * sizeof(Snapshot *));
    s->n--;
}

/* ---- thinning ---- */

/* What dropping snapshot i costs: the gap it leaves between its
 * neighbours, divided by its distance from the focus (plus one), so that
 * far from the focus larger gaps are accepted: kept snapshots end up
 * spaced roughly in proportion to their distance from it. The last
 * snapshot's gap is the one to its predecessor. */
static double drop_cost(const SnapStore *s, int i)
{
    uint64_t prev = s->snaps[i - 1]->icount;
    uint64_t next = i + 1 < s->n ? s->snaps[i + 1]->icount : s->snaps[i]->icount;
    double gap = (double)(next - prev);
    if (!s->have_focus)
        return gap;
    uint64_t c = s->snaps[i]->icount;
    double dist = (double)(c > s->focus ? c - s->focus : s->focus - c);
    return gap / (dist + 1.0);
}

/* Drops snapshots by the thinning rule until the store fits its budget or
 * only undroppable ones are left (the first, pinned ones, keep_id). */
static void enforce_budget(SnapStore *s, int keep_id)
{
    while (store_bytes(s) > s->budget) {
        int best = -1;
        double best_cost = 0;
        for (int i = 1; i < s->n; i++) {
            const Snapshot *sn = s->snaps[i];
            if (sn->pinned || sn->id == keep_id)
                continue;
            double c = drop_cost(s, i);
            if (best < 0 || c < best_cost) {
                best = i;
                best_cost = c;
            }
        }
        if (best < 0)
            return;
        remove_at(s, best);
        s->st.dropped++;
    }
}

/* ---- take and restore ---- */

/* Brings dcur[d] up to date with disk d's overlay: the pages marked dirty,
 * or on the first take every page in the overlay. Returns the pages
 * copied; *seen gets the pages looked at. */
static uint64_t take_disk(SnapStore *s, int d, uint64_t *seen)
{
    Machine *m = s->m;
    uint64_t npages = machine_disk_pages(m, d);
    uint64_t copied = 0;
    bool first = !s->dcur[d];
    if (first)
        s->dcur[d] = page_table_new(s->ps, npages);
    PageTable *cur = s->dcur[d];
    const uint64_t *dirty = machine_disk_dirty_bitmap(m, d);
    uint64_t nwords = (npages + 63) / 64;
    uint64_t pg = 0, next = 0, w = 0, bits = 0;
    for (;;) {
        /* next candidate page */
        if (first) {
            pg = machine_disk_next_page(m, d, next);
            if (pg == UINT64_MAX)
                break;
            next = pg + 1;
        } else {
            while (!bits && w < nwords)
                bits = dirty[w++];
            if (!bits)
                break;
            pg = (w - 1) * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
        }
        (*seen)++;
        const uint8_t *p = machine_disk_page(m, d, pg);
        PageId old = page_table_get(cur, pg);
        if (!p) {
            if (old != PAGE_ID_ABSENT)
                page_table_set(s->ps, cur, pg, PAGE_ID_ABSENT);
            continue;
        }
        if (old != PAGE_ID_ABSENT &&
            memcmp(p, page_store_data(s->ps, old), SNAP_PAGE_SIZE) == 0)
            continue;
        page_table_set(s->ps, cur, pg, page_store_put_present(s->ps, p));
        copied++;
    }
    machine_disk_clear_dirty(m, d);
    return copied;
}

int snapstore_take(SnapStore *s, uint64_t log_pos)
{
    uint64_t t0 = now_ns();
    Machine *m = s->m;
    uint64_t npages = machine_ram_pages(m);
    uint64_t before = page_store_bytes(s->ps);
    /* before the first take nothing is tracked: every page is a candidate
     * (so too when an earlier store left a bitmap behind) */
    bool first = !s->cur;
    if (first)
        s->cur = page_table_new(s->ps, npages);
    const uint64_t *dirty = first ? NULL : machine_ram_dirty_bitmap(m);
    uint64_t copied = 0, seen = 0;
    uint64_t nwords = (npages + 63) / 64;
    /* a first take need not read RAM the host never backed: it is zero */
    uint64_t *untouched = NULL;
    if (first) {
        untouched = g_new(uint64_t, nwords ? nwords : 1);
        machine_ram_untouched(m, untouched);
    }
    for (uint64_t w = 0; w < nwords; w++) {
        uint64_t bits = dirty ? dirty[w] : ~untouched[w];
        if (w == nwords - 1 && npages % 64)
            bits &= (1ull << (npages % 64)) - 1;
        while (bits) {
            uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            seen++;
            const uint8_t *ram = machine_ram_page(m, pg);
            PageId old = page_table_get(s->cur, pg);
            /* written back with the same contents (or still zero) */
            if (memcmp(ram, page_store_data(s->ps, old), SNAP_PAGE_SIZE) == 0)
                continue;
            page_table_set(s->ps, s->cur, pg, page_store_put(s->ps, ram));
            copied++;
        }
    }
    g_free(untouched);
    machine_ram_clear_dirty(m);

    uint64_t disk_copied = 0, disk_seen = 0;
    for (int d = 0; d < s->ndisks; d++) {
        uint64_t seen_d = 0;
        disk_copied += take_disk(s, d, &seen_d);
        disk_seen += seen_d;
    }

    Snapshot *sn = g_new0(Snapshot, 1);
    sn->id = s->next_id++;
    sn->icount = machine_icount(m);
    sn->log_pos = log_pos;
    sn->state = machine_state_save(m);
    sn->pages = page_table_copy(s->ps, s->cur);
    sn->pages_copied = copied;
    sn->disks = g_new0(PageTable *, s->ndisks ? s->ndisks : 1);
    for (int d = 0; d < s->ndisks; d++)
        sn->disks[d] = page_table_copy(s->ps, s->dcur[d]);
    sn->disk_pages_copied = disk_copied;
    s->state_bytes += snap_overhead(s, sn);
    uint64_t after = page_store_bytes(s->ps);
    sn->bytes_added = snap_overhead(s, sn) + (after > before ? after - before : 0);

    /* insert in icount order, replacing one at the same icount */
    int pos = 0;
    while (pos < s->n && s->snaps[pos]->icount < sn->icount)
        pos++;
    if (pos < s->n && s->snaps[pos]->icount == sn->icount) {
        sn->pinned = s->snaps[pos]->pinned;
        snap_free(s, s->snaps[pos]);
        s->snaps[pos] = sn;
    } else {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->snaps = g_renew(Snapshot *, s->snaps, s->cap);
        }
        memmove(&s->snaps[pos + 1], &s->snaps[pos], (size_t)(s->n - pos) * sizeof(Snapshot *));
        s->snaps[pos] = sn;
        s->n++;
    }

    s->st.takes++;
    s->st.last_take_pages = copied;
    s->st.last_take_dirty = seen;
    s->st.last_take_disk_pages = disk_copied;
    s->st.last_take_disk_dirty = disk_seen;
    enforce_budget(s, sn->id);
    s->st.last_take_ns = now_ns() - t0;
    return sn->id;
}

/* Rewrites, through put(), the pages of a RAM or disk table t that may
 * differ from what the machine holds: those whose id differs from cur's,
 * and those marked in dirty (NULL: none). Chunks t and cur share are
 * skipped whole but for their dirty pages. Returns the pages rewritten. */
typedef void (*PutPage)(SnapStore *s, int disk, uint64_t page, PageId id);

static uint64_t restore_table(SnapStore *s, const PageTable *t, const PageTable *cur,
                              const uint64_t *dirty, PutPage put, int disk)
{
    uint64_t npages = t->npages;
    uint64_t written = 0;
    for (uint32_t c = 0; c < t->nchunks; c++) {
        const PageChunk *tc = t->chunks[c];
        const PageChunk *cc = cur->chunks[c];
        uint64_t first = (uint64_t)c * CHUNK_PAGES;
        uint64_t count = npages - first < CHUNK_PAGES ? npages - first : CHUNK_PAGES;
        if (tc == cc) {
            /* same pages: only what was written since may differ */
            if (!dirty)
                continue;
            for (uint64_t w = first / 64; w < (first + count + 63) / 64; w++) {
                uint64_t bits = dirty[w];
                while (bits) {
                    uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
                    bits &= bits - 1;
                    put(s, disk, pg, page_table_get(t, pg));
                    written++;
                }
            }
            continue;
        }
        for (uint64_t j = 0; j < count; j++) {
            uint64_t pg = first + j;
            bool is_dirty = dirty && ((dirty[pg / 64] >> (pg % 64)) & 1);
            if (tc->ids[j] != cc->ids[j] || is_dirty) {
                put(s, disk, pg, tc->ids[j]);
                written++;
            }
        }
    }
    return written;
}

static void put_ram_page(SnapStore *s, int disk, uint64_t page, PageId id)
{
    (void)disk;
    machine_ram_write_page(s->m, page, page_store_data(s->ps, id));
}

static void put_disk_page(SnapStore *s, int disk, uint64_t page, PageId id)
{
    machine_disk_restore_page(s->m, disk, page,
                              id == PAGE_ID_ABSENT ? NULL : page_store_data(s->ps, id));
}

bool snapstore_restore(SnapStore *s, int id, uint64_t *log_pos)
{
    int idx = index_of(s, id);
    if (idx < 0)
        return false;
    uint64_t t0 = now_ns();
    Machine *m = s->m;
    const Snapshot *sn = s->snaps[idx];

    /* s->cur and s->dcur exist: a snapshot exists, so a take made them */
    uint64_t written = restore_table(s, sn->pages, s->cur, machine_ram_dirty_bitmap(m),
                                     put_ram_page, -1);
    machine_ram_clear_dirty(m);
    page_table_free(s->ps, s->cur);
    s->cur = page_table_copy(s->ps, sn->pages);

    uint64_t disk_written = 0;
    for (int d = 0; d < s->ndisks; d++) {
        disk_written += restore_table(s, sn->disks[d], s->dcur[d],
                                      machine_disk_dirty_bitmap(m, d), put_disk_page, d);
        machine_disk_clear_dirty(m, d);
        page_table_free(s->ps, s->dcur[d]);
        s->dcur[d] = page_table_copy(s->ps, sn->disks[d]);
    }

    machine_state_restore(m, sn->state);
    if (log_pos)
        *log_pos = sn->log_pos;
    s->st.restores++;
    s->st.last_restore_pages = written;
    s->st.last_restore_disk_pages = disk_written;
    s->st.last_restore_ns = now_ns() - t0;
    return true;
}

bool snapstore_drop(SnapStore *s, int id)
{
    int idx = index_of(s, id);
    if (idx < 0)
        return false;
    remove_at(s, idx);
    return true;
}

int snapstore_find(const SnapStore *s, uint64_t icount)
{
    int lo = 0, hi = s->n;      /* first index with icount > the target */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->snaps[mid]->icount <= icount)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? s->snaps[lo - 1]->id : -1;
}

void snapstore_set_focus(SnapStore *s, uint64_t icount)
{
    s->have_focus = true;
    s->focus = icount;
}

void snapstore_clear_focus(SnapStore *s)
{
    s->have_focus = false;
}

void snapstore_set_budget(SnapStore *s, uint64_t budget_bytes)
{
    s->budget = budget_bytes ? budget_bytes : snapshot_default_budget();
    enforce_budget(s, -1);
}

bool snapstore_set_pinned(SnapStore *s, int id, bool pinned)
{
    int idx = index_of(s, id);
    if (idx < 0)
        return false;
    s->snaps[idx]->pinned = pinned;
    return true;
}

/* ---- listing ---- */

int snapstore_count(const SnapStore *s)
{
    return s->n;
}

static void fill_info(const Snapshot *sn, SnapInfo *info)
{
    info->id = sn->id;
    info->icount = sn->icount;
    info->log_pos = sn->log_pos;
    info->pages_copied = sn->pages_copied;
    info->disk_pages_copied = sn->disk_pages_copied;
    info->bytes = sn->bytes_added;
    info->pinned = sn->pinned;
}

bool snapstore_info(const SnapStore *s, int index, SnapInfo *info)
{
    if (index < 0 || index >= s->n)
        return false;
    fill_info(s->snaps[index], info);
    return true;
}

bool snapstore_get(const SnapStore *s, int id, SnapInfo *info)
{
    int idx = index_of(s, id);
    if (idx < 0)
        return false;
    fill_info(s->snaps[idx], info);
    return true;
}

void snapstore_stats(const SnapStore *s, SnapStats *st)
{
    *st = s->st;
    st->count = s->n;
    st->bytes = store_bytes(s);
    st->budget = s->budget;
    st->pages_held = page_store_pages(s->ps);
}
