/* The qcow2 container of persistent snapshots (qcow2.h), after QEMU's
 * docs/interop/qcow2.txt, with fixed choices: version 3, 4 KiB clusters,
 * 16-bit refcounts, no backing file, encryption or compression, and a
 * virtual disk of 0 bytes. QEMU puts a snapshot's VM state at the first L1
 * index past the disk, here 0, so VM state page p is guest cluster p: L1
 * index p / 512, L2 index p % 512.
 *
 * Refcounts follow QEMU's model, which qemu-img check enforces: every L1
 * table that reaches an L2 table counts one reference on the L2 cluster
 * and one on each cluster that L2 table points to. A snapshot sharing an
 * unchanged L2 table with its base therefore adds 1 to the table and to
 * each of its data clusters; a delete subtracts the same.
 *
 * Crash safety without fsync: a change (a new snapshot, a delete) writes
 * every new cluster (data, L2, L1, snapshot table, refcount blocks and
 * table) where the committed metadata has nothing, and rewrites the header,
 * which points at the refcount and snapshot tables, last. Refcounts live in
 * memory, one u16 per cluster. A change is a transaction with an undo
 * journal: a cluster the committed image uses stays reserved ("pinned")
 * until the header is written, even when its new count is 0. Refcount
 * blocks that change are copied on write, so each commit writes a new
 * refcount table, and the blocks must count themselves: their placement is
 * iterated to a fixed point.
 *
 * Trust nothing in the file: offsets are checked for alignment and against
 * the file size before use, sizes against QEMU's limits, so damage gives
 * one line naming the file and the place, at open or at the read that
 * meets it. A writable open recounts every reference and refuses to write
 * when a stored refcount is below it. */
#include "qcow2.h"
#include "emulator.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLUSTER_BITS 12u
#define CLUSTER_SIZE (1u << CLUSTER_BITS)
#define L2_ENTRIES 512u                 /* one L2 table: 2 MiB of VM state */
#define RB_ENTRIES 2048u                /* 16-bit counts in a refcount block */
#define RT_ENTRIES 512u                 /* refcount table entries per cluster */

#define QCOW2_MAGIC 0x514649fbu         /* "QFI\xfb" */
#define HEADER_LEN 104u
#define REFCOUNT_ORDER 4u
#define REFCOUNT_MAX 0xffffu

/* QEMU's limits */
#define MAX_L1_ENTRIES ((32u << 20) / 8)
#define MAX_SNAPSHOTS 65536u
#define MAX_SNAPSHOT_TABLE (UINT64_C(64) << 20)
#define MAX_EXTRA 1024u
#define MAX_REFTABLE_CLUSTERS ((8u << 20) / CLUSTER_SIZE)
#define MAX_VM_STATE ((uint64_t)MAX_L1_ENTRIES * L2_ENTRIES * CLUSTER_SIZE)

#define ENTRY_FIXED 40u                 /* snapshot table entry before its extra data */
#define OUR_EXTRA 24u                   /* vm_state_size_large, disk size, icount */

#define OFFSET_MASK UINT64_C(0x00fffffffffffe00)   /* bits 9-55 of L1 and L2 entries */
#define L1E_RESERVED UINT64_C(0x7f000000000001ff)  /* bits 0-8 and 56-62 */
#define L2E_ZERO UINT64_C(1)
#define L2E_RESERVED UINT64_C(0x3f000000000001fe)  /* bits 1-8 and 56-61 */
#define L2E_COMPRESSED (UINT64_C(1) << 62)
#define RTE_RESERVED UINT64_C(0x1ff)

#define INCOMPAT_DIRTY UINT64_C(1)
#define INCOMPAT_CORRUPT UINT64_C(2)

#define L2_CACHE_MAX 2048u              /* 8 MiB: the L2 tables of 4 GiB of VM state */
#define WRITE_BATCH 256u                /* clusters: writes of up to 1 MiB */

#define X64 "0x%" G_GINT64_MODIFIER "x"
#define U64 "%" G_GUINT64_FORMAT

typedef struct Snap {
    char *id, *name;
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;               /* host order, flags as on disk */
    bool l1_loaded;             /* read at first use: a truncated file keeps
                                 * its older snapshots readable */
    uint64_t vm_state_size, icount, vm_clock_ns;
    uint32_t date_sec, date_nsec;
    uint8_t *raw;               /* the table entry, padded: rewritten verbatim */
    uint32_t raw_len;
} Snap;

typedef struct L2Slot {
    uint64_t offset;
    GList link;                 /* in Qcow2Image.l2_lru, most recent first */
    uint64_t e[L2_ENTRIES];     /* host order */
} L2Slot;

typedef struct RcUndo {
    uint64_t cluster;
    uint16_t old;
} RcUndo;

/* per cluster, during a transaction */
#define CF_TOUCHED 1u           /* its committed count is in the journal */
#define CF_PINNED 2u            /* the committed image uses it: not free yet */

/* per refcount block */
#define RB_DIRTY 1u             /* its counts differ from the block on disk */
#define RB_MOVED 2u             /* has its new cluster in this commit */

struct Qcow2Image {
    char *path;
    int fd;
    bool writable;
    uint64_t file_size;

    /* the committed header */
    uint32_t active_l1_size;
    uint64_t active_l1_offset;
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t st_offset, st_bytes;
    Snap *snaps;
    int nsnaps;

    GHashTable *l2_index;       /* host offset -> L2Slot */
    GQueue l2_lru;

    /* refcounts (writable images only) */
    uint16_t *rc;
    uint8_t *cflags;
    uint64_t rc_cap;            /* clusters the arrays cover */
    uint64_t hint;              /* no free cluster below it */
    GArray *journal;            /* RcUndo of the open transaction */
    uint64_t *rb_off;           /* committed refcount block offsets, by index */
    uint64_t *rb_next;          /* the same while a commit places them */
    uint8_t *rb_flags;
    uint64_t rb_cap;

    /* batched writes of consecutive clusters */
    uint8_t *wbuf;
    uint64_t wstart;            /* first cluster in wbuf */
    uint32_t wn;                /* clusters in wbuf */

    Qcow2Build *build;
};

typedef struct BuildTable {
    uint64_t e[L2_ENTRIES];     /* entries set by the build: 0, L2E_ZERO or an offset */
    uint64_t set[L2_ENTRIES / 64];
    uint64_t fresh[L2_ENTRIES / 64];    /* e[] is a cluster this build wrote */
} BuildTable;

struct Qcow2Build {
    Qcow2Image *q;
    int base;
    uint64_t size, npages, n1;
    uint64_t *base_l1;          /* the base's L2 offsets, 0 when absent; n1 entries */
    BuildTable **tabs;          /* n1; NULL: the base's table unchanged */
    bool broken;                /* a batched write failed: data was lost */
};

typedef struct NewL2 {
    uint64_t offset;
    uint64_t e[L2_ENTRIES];
} NewL2;

/* ---- helpers ---- */

static bool fail(char *err, size_t errlen, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static bool bit(const uint64_t *map, unsigned i)
{
    return map[i / 64] >> (i % 64) & 1;
}

static void bit_set(uint64_t *map, unsigned i, bool on)
{
    if (on)
        map[i / 64] |= 1ull << (i % 64);
    else
        map[i / 64] &= ~(1ull << (i % 64));
}

static bool page_is_zero(const void *data)
{
    static const uint8_t zero[QCOW2_PAGE_SIZE];
    return memcmp(data, zero, QCOW2_PAGE_SIZE) == 0;
}

static uint64_t snap_pages(const Snap *s)
{
    return div_up(s->vm_state_size, QCOW2_PAGE_SIZE);
}

static const Snap *snap_at(const Qcow2Image *q, int index)
{
    return index >= 0 && index < q->nsnaps ? &q->snaps[index] : NULL;
}

static Snap *snap_get(Qcow2Image *q, int index)
{
    return index >= 0 && index < q->nsnaps ? &q->snaps[index] : NULL;
}

static bool no_snapshot(const Qcow2Image *q, int index, char *err, size_t errlen)
{
    return fail(err, errlen, "%s: no snapshot at index %d (the image has %d)", q->path, index,
                q->nsnaps);
}

static void snap_free(Snap *s)
{
    g_free(s->id);
    g_free(s->name);
    g_free(s->l1);
    g_free(s->raw);
}

/* ---- file I/O ---- */

/* Exactly len bytes, which the caller checked lie inside the file. */
static bool read_at(Qcow2Image *q, uint64_t offset, void *buf, size_t len, char *err,
                    size_t errlen)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t got = pread(q->fd, p, len, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail(err, errlen, "%s: read at " X64 ": %s", q->path, offset,
                        strerror(errno));
        if (got == 0)
            return fail(err, errlen, "%s: read at " X64 ": the file ended early (truncated "
                        "while open?)", q->path, offset);
        p += got;
        offset += (uint64_t)got;
        len -= (size_t)got;
    }
    return true;
}

static bool write_at(Qcow2Image *q, uint64_t offset, const void *buf, size_t len, char *err,
                     size_t errlen)
{
    const uint8_t *p = buf;
    uint64_t end = offset + len;
    while (len) {
        ssize_t n = pwrite(q->fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail(err, errlen, "%s: write at " X64 ": %s", q->path, offset,
                        n < 0 ? strerror(errno) : "nothing written");
        p += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    if (end > q->file_size)
        q->file_size = end;
    return true;
}

static bool w_flush(Qcow2Image *q, char *err, size_t errlen)
{
    if (!q->wn)
        return true;
    uint32_t n = q->wn;
    q->wn = 0;
    return write_at(q, q->wstart << CLUSTER_BITS, q->wbuf, (size_t)n << CLUSTER_BITS, err,
                    errlen);
}

/* Writes one cluster; consecutive clusters go out together. */
static bool w_put(Qcow2Image *q, uint64_t c, const void *data, char *err, size_t errlen)
{
    if (q->wn && c >= q->wstart && c < q->wstart + q->wn) {
        memcpy(q->wbuf + ((c - q->wstart) << CLUSTER_BITS), data, CLUSTER_SIZE);
        return true;
    }
    if (q->wn && (c != q->wstart + q->wn || q->wn == WRITE_BATCH) && !w_flush(q, err, errlen))
        return false;
    if (!q->wn)
        q->wstart = c;
    memcpy(q->wbuf + ((size_t)q->wn << CLUSTER_BITS), data, CLUSTER_SIZE);
    q->wn++;
    return true;
}

/* ---- L2 tables: an LRU cache by host offset ---- */

static void l2_drop(Qcow2Image *q, uint64_t offset)
{
    L2Slot *s = g_hash_table_lookup(q->l2_index, &offset);
    if (!s)
        return;
    g_hash_table_remove(q->l2_index, &offset);
    g_queue_unlink(&q->l2_lru, &s->link);
    g_free(s);
}

/* A slot for the table at offset, to be filled and then added: the least
 * recently used one when the cache is full. */
static L2Slot *l2_slot_new(Qcow2Image *q, uint64_t offset)
{
    L2Slot *s;
    if (q->l2_lru.length >= L2_CACHE_MAX) {
        s = q->l2_lru.tail->data;
        g_queue_unlink(&q->l2_lru, &s->link);
        g_hash_table_remove(q->l2_index, &s->offset);
    } else {
        s = g_new(L2Slot, 1);
        s->link.data = s;
        s->link.prev = s->link.next = NULL;
    }
    s->offset = offset;
    return s;
}

static void l2_slot_add(Qcow2Image *q, L2Slot *s)
{
    g_queue_push_head_link(&q->l2_lru, &s->link);
    g_hash_table_insert(q->l2_index, &s->offset, s);
}

/* " for page N" in messages when page is known */
static const char *for_page(char *buf, size_t len, uint64_t page)
{
    if (page == UINT64_MAX)
        buf[0] = 0;
    else
        snprintf(buf, len, " for page " U64, page);
    return buf;
}

/* The L2 table at offset, in host order, valid until the next l2_get. s
 * and page only name the place in messages. */
static const uint64_t *l2_get(Qcow2Image *q, uint64_t offset, const Snap *s, uint64_t page,
                              char *err, size_t errlen)
{
    L2Slot *slot = g_hash_table_lookup(q->l2_index, &offset);
    if (slot) {
        g_queue_unlink(&q->l2_lru, &slot->link);
        g_queue_push_head_link(&q->l2_lru, &slot->link);
        return slot->e;
    }
    char where[48];
    if (offset & (CLUSTER_SIZE - 1)) {
        fail(err, errlen, "%s: snapshot '%s': L2 table at " X64 "%s is not aligned to a "
             "cluster", q->path, s->name, offset, for_page(where, sizeof where, page));
        return NULL;
    }
    if (!range_inside(offset, CLUSTER_SIZE, q->file_size)) {
        fail(err, errlen, "%s: snapshot '%s': L2 table at " X64 "%s lies outside the file ("
             U64 " bytes)", q->path, s->name, offset, for_page(where, sizeof where, page),
             q->file_size);
        return NULL;
    }
    slot = l2_slot_new(q, offset);
    if (!read_at(q, offset, slot->e, CLUSTER_SIZE, err, errlen)) {
        g_free(slot);
        return NULL;
    }
    for (unsigned i = 0; i < L2_ENTRIES; i++)
        slot->e[i] = GUINT64_FROM_BE(slot->e[i]);
    l2_slot_add(q, slot);
    return slot->e;
}

static Qcow2PageKind entry_kind(uint64_t e)
{
    if (e & (L2E_COMPRESSED | L2E_RESERVED))
        return QCOW2_BAD;
    if (e & L2E_ZERO)
        return QCOW2_ZERO;
    return (e & OFFSET_MASK) ? QCOW2_DATA : QCOW2_ABSENT;
}

/* Every entry of an L2 table is one this code can read and count. */
static bool check_l2(const Qcow2Image *q, const uint64_t *t, const Snap *s, uint64_t l1_index,
                     char *err, size_t errlen)
{
    for (unsigned j = 0; j < L2_ENTRIES; j++) {
        uint64_t e = t[j], off = e & OFFSET_MASK, page = l1_index * L2_ENTRIES + j;
        if (e & L2E_COMPRESSED)
            return fail(err, errlen, "%s: snapshot '%s': page " U64 " is a compressed cluster "
                        "(not supported)", q->path, s->name, page);
        if (e & L2E_RESERVED)
            return fail(err, errlen, "%s: snapshot '%s': the L2 entry of page " U64 " has "
                        "reserved bits set (" X64 ")", q->path, s->name, page, e);
        if (off & (CLUSTER_SIZE - 1))
            return fail(err, errlen, "%s: snapshot '%s': cluster at " X64 " for page " U64
                        " is not aligned to a cluster", q->path, s->name, off, page);
        if (off && off >= q->file_size)
            return fail(err, errlen, "%s: snapshot '%s': cluster at " X64 " for page " U64
                        " lies outside the file (" U64 " bytes)", q->path, s->name, off, page,
                        q->file_size);
    }
    return true;
}

static bool check_table(const Qcow2Image *q, const char *what, uint64_t offset, uint64_t len,
                        char *err, size_t errlen);

static bool load_l1(Qcow2Image *q, Snap *s, char *err, size_t errlen)
{
    if (s->l1_loaded)
        return true;
    char what[64];
    snprintf(what, sizeof what, "the L1 table of snapshot '%.32s'", s->name);
    if (!check_table(q, what, s->l1_offset, (uint64_t)s->l1_size * 8, err, errlen))
        return false;
    s->l1 = g_new(uint64_t, s->l1_size ? s->l1_size : 1);
    if (!read_at(q, s->l1_offset, s->l1, (size_t)s->l1_size * 8, err, errlen)) {
        g_free(s->l1);
        s->l1 = NULL;
        return false;
    }
    for (uint32_t k = 0; k < s->l1_size; k++)
        s->l1[k] = GUINT64_FROM_BE(s->l1[k]);
    s->l1_loaded = true;
    return true;
}

/* The L2 offset of L1 entry i of s, 0 when the table is missing. */
static bool l1_entry(Qcow2Image *q, Snap *s, uint64_t i, uint64_t *l2, char *err,
                     size_t errlen)
{
    *l2 = 0;
    if (i >= s->l1_size)
        return true;
    if (!load_l1(q, s, err, errlen))
        return false;
    if (s->l1[i] & L1E_RESERVED)
        return fail(err, errlen, "%s: snapshot '%s': L1 entry " U64 " has reserved bits set ("
                    X64 ")", q->path, s->name, i, s->l1[i]);
    *l2 = s->l1[i] & OFFSET_MASK;
    return true;
}

/* ---- refcounts in memory ---- */

static void rb_reserve(Qcow2Image *q, uint64_t n)
{
    if (n <= q->rb_cap)
        return;
    uint64_t cap = q->rb_cap ? q->rb_cap : 16;
    while (cap < n)
        cap *= 2;
    q->rb_off = g_renew(uint64_t, q->rb_off, cap);
    q->rb_next = g_renew(uint64_t, q->rb_next, cap);
    q->rb_flags = g_renew(uint8_t, q->rb_flags, cap);
    memset(q->rb_off + q->rb_cap, 0, (cap - q->rb_cap) * sizeof *q->rb_off);
    memset(q->rb_next + q->rb_cap, 0, (cap - q->rb_cap) * sizeof *q->rb_next);
    memset(q->rb_flags + q->rb_cap, 0, cap - q->rb_cap);
    q->rb_cap = cap;
}

/* The arrays cover clusters [0, n). */
static void rc_reserve(Qcow2Image *q, uint64_t n)
{
    if (n <= q->rc_cap)
        return;
    uint64_t cap = q->rc_cap ? q->rc_cap : RB_ENTRIES;
    while (cap < n)
        cap *= 2;
    q->rc = g_renew(uint16_t, q->rc, cap);
    q->cflags = g_renew(uint8_t, q->cflags, cap);
    memset(q->rc + q->rc_cap, 0, (cap - q->rc_cap) * sizeof *q->rc);
    memset(q->cflags + q->rc_cap, 0, cap - q->rc_cap);
    q->rc_cap = cap;
    rb_reserve(q, cap / RB_ENTRIES + 1);
}

static uint16_t rc_get(const Qcow2Image *q, uint64_t c)
{
    return c < q->rc_cap ? q->rc[c] : 0;
}

/* Every change goes through here, inside a transaction. */
static void rc_set(Qcow2Image *q, uint64_t c, uint16_t v)
{
    rc_reserve(q, c + 1);
    if (!(q->cflags[c] & CF_TOUCHED)) {
        RcUndo u = { c, q->rc[c] };
        g_array_append_val(q->journal, u);
        q->cflags[c] = CF_TOUCHED | (q->rc[c] ? CF_PINNED : 0);
    }
    q->rc[c] = v;
    q->rb_flags[c / RB_ENTRIES] |= RB_DIRTY;
    if (v == 0 && !(q->cflags[c] & CF_PINNED) && c < q->hint)
        q->hint = c;
}

/* false when the count is already at its maximum */
static bool rc_inc(Qcow2Image *q, uint64_t c)
{
    uint16_t v = rc_get(q, c);
    if (v == REFCOUNT_MAX)
        return false;
    rc_set(q, c, (uint16_t)(v + 1));
    return true;
}

/* false when the count is already 0: the refcounts do not match the metadata */
static bool rc_dec(Qcow2Image *q, uint64_t c)
{
    uint16_t v = rc_get(q, c);
    if (v == 0)
        return false;
    rc_set(q, c, (uint16_t)(v - 1));
    return true;
}

static bool inconsistent(const Qcow2Image *q, uint64_t c, char *err, size_t errlen)
{
    return fail(err, errlen, "%s: refcounts are inconsistent; run qemu-img check -r all "
                "(cluster at " X64 ")", q->path, (uint64_t)c << CLUSTER_BITS);
}

/* Drops one reference from each cluster of [offset, offset + len). */
static bool unref_span(Qcow2Image *q, uint64_t offset, uint64_t len, char *err, size_t errlen)
{
    if (!len)
        return true;
    for (uint64_t c = offset >> CLUSTER_BITS; c <= (offset + len - 1) >> CLUSTER_BITS; c++)
        if (!rc_dec(q, c))
            return inconsistent(q, c, err, errlen);
    return true;
}

static bool cluster_free(const Qcow2Image *q, uint64_t c)
{
    return c >= q->rc_cap || (q->rc[c] == 0 && !(q->cflags[c] & CF_PINNED));
}

/* n consecutive free clusters, the lowest, with a count of 1. */
static uint64_t alloc_run(Qcow2Image *q, uint64_t n)
{
    uint64_t start = q->hint, run = 0, first_free = UINT64_MAX;
    for (uint64_t c = q->hint;; c++) {
        if (!cluster_free(q, c)) {
            run = 0;
            continue;
        }
        if (first_free == UINT64_MAX)
            first_free = c;
        if (run++ == 0)
            start = c;
        if (run == n)
            break;
    }
    /* nothing was free below first_free, nor is [start, start + n) now */
    q->hint = start == first_free ? start + n : first_free;
    for (uint64_t c = start; c < start + n; c++) {
        rc_set(q, c, 1);
        l2_drop(q, c << CLUSTER_BITS);      /* a freed table's cluster reused */
    }
    return start;
}

static uint64_t top_cluster(const Qcow2Image *q)
{
    for (uint64_t c = q->rc_cap; c-- > 0;)
        if (q->rc[c])
            return c;
    return 0;
}

/* Ends the transaction: keeps its counts, or restores the committed ones. */
static void txn_end(Qcow2Image *q, bool keep)
{
    const RcUndo *u = (const RcUndo *)(const void *)q->journal->data;
    for (guint i = q->journal->len; i-- > 0;) {
        uint64_t c = u[i].cluster;
        if (!keep)
            q->rc[c] = u[i].old;
        q->cflags[c] = 0;
        if (q->rc[c] == 0 && c < q->hint)
            q->hint = c;
    }
    g_array_set_size(q->journal, 0);
    for (uint64_t i = 0; i < q->rb_cap; i++)
        q->rb_flags[i] &= (uint8_t)~RB_MOVED;
}

/* Trailing free clusters go. */
static void trim(Qcow2Image *q)
{
    uint64_t end = (top_cluster(q) + 1) << CLUSTER_BITS;
    if (q->file_size > end && ftruncate(q->fd, (off_t)end) == 0)
        q->file_size = end;
}

static void rollback(Qcow2Image *q)
{
    q->wn = 0;
    txn_end(q, false);
    trim(q);
}

/* ---- committing ---- */

/* Allocates clusters for a buffer of whole clusters and queues its write. */
static bool write_new(Qcow2Image *q, const uint8_t *buf, uint64_t clusters, uint64_t *offset,
                      char *err, size_t errlen)
{
    uint64_t start = alloc_run(q, clusters);
    for (uint64_t k = 0; k < clusters; k++)
        if (!w_put(q, start + k, buf + (k << CLUSTER_BITS), err, errlen))
            return false;
    *offset = start << CLUSTER_BITS;
    return true;
}

static bool write_snapshot_table(Qcow2Image *q, const Snap *snaps, int n, uint64_t *offset,
                                 uint64_t *bytes, char *err, size_t errlen)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += snaps[i].raw_len;
    if (total > MAX_SNAPSHOT_TABLE)
        return fail(err, errlen, "%s: the snapshot table would exceed %u MiB", q->path,
                    (unsigned)(MAX_SNAPSHOT_TABLE >> 20));
    if (!unref_span(q, q->st_offset, q->st_bytes, err, errlen))
        return false;
    *offset = 0;
    *bytes = total;
    if (!n)
        return true;
    uint64_t clusters = div_up(total, CLUSTER_SIZE);
    uint8_t *buf = g_malloc0(clusters << CLUSTER_BITS);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        memcpy(buf + pos, snaps[i].raw, snaps[i].raw_len);
        pos += snaps[i].raw_len;
    }
    bool ok = write_new(q, buf, clusters, offset, err, errlen);
    g_free(buf);
    return ok;
}

/* Places every refcount block whose counts changed in a new cluster, and a
 * new refcount table, until the blocks count themselves; then queues their
 * writes. */
static bool write_refcounts(Qcow2Image *q, uint64_t *rt_offset, uint32_t *rt_clusters,
                            char *err, size_t errlen)
{
    memcpy(q->rb_next, q->rb_off, q->rb_cap * sizeof *q->rb_off);
    if (!unref_span(q, q->rt_offset, (uint64_t)q->rt_clusters << CLUSTER_BITS, err, errlen))
        return false;
    uint64_t table = 0, table_n = 0, nb = 0;
    for (int round = 0;; round++) {
        if (round == 64)
            return fail(err, errlen, "%s: internal error: refcount blocks found no stable "
                        "place", q->path);
        bool changed = false;
        nb = top_cluster(q) / RB_ENTRIES + 1;
        rb_reserve(q, nb);
        /* blocks past the last used cluster count nothing */
        for (uint64_t i = nb; i < q->rb_cap; i++) {
            if (!q->rb_next[i])
                continue;
            if (!rc_dec(q, q->rb_next[i] >> CLUSTER_BITS))
                return inconsistent(q, q->rb_next[i] >> CLUSTER_BITS, err, errlen);
            q->rb_next[i] = 0;
            q->rb_flags[i] &= (uint8_t)~RB_MOVED;
            changed = true;
        }
        uint64_t need = div_up(nb, RT_ENTRIES);
        if (need != table_n) {
            for (uint64_t k = 0; k < table_n; k++)
                rc_dec(q, table + k);
            table = alloc_run(q, need);
            table_n = need;
            changed = true;
        }
        for (uint64_t i = 0; i < nb; i++) {
            if ((q->rb_flags[i] & (RB_DIRTY | RB_MOVED)) != RB_DIRTY)
                continue;
            uint64_t c = alloc_run(q, 1);
            if (q->rb_next[i] && !rc_dec(q, q->rb_next[i] >> CLUSTER_BITS))
                return inconsistent(q, q->rb_next[i] >> CLUSTER_BITS, err, errlen);
            q->rb_next[i] = c << CLUSTER_BITS;
            q->rb_flags[i] |= RB_MOVED;
            changed = true;
        }
        if (!changed)
            break;
    }
    if (table_n > MAX_REFTABLE_CLUSTERS)
        return fail(err, errlen, "%s: the refcount table would exceed QEMU's limit", q->path);

    uint8_t block[CLUSTER_SIZE];
    for (uint64_t i = 0; i < nb; i++) {
        if (!(q->rb_flags[i] & RB_MOVED))
            continue;
        for (unsigned j = 0; j < RB_ENTRIES; j++)
            put_be16(block + 2 * j, rc_get(q, i * RB_ENTRIES + j));
        if (!w_put(q, q->rb_next[i] >> CLUSTER_BITS, block, err, errlen))
            return false;
    }
    uint8_t *tbuf = g_malloc0(table_n << CLUSTER_BITS);
    for (uint64_t i = 0; i < nb; i++)
        put_be64(tbuf + 8 * i, q->rb_next[i]);
    bool ok = true;
    for (uint64_t k = 0; k < table_n && ok; k++)
        ok = w_put(q, table + k, tbuf + (k << CLUSTER_BITS), err, errlen);
    g_free(tbuf);
    *rt_offset = table << CLUSTER_BITS;
    *rt_clusters = (uint32_t)table_n;
    return ok;
}

/* The whole first cluster: our header, the end of extensions, zeros. */
static bool write_header(Qcow2Image *q, uint64_t rt_offset, uint32_t rt_clusters, uint32_t nsn,
                         uint64_t st_offset, char *err, size_t errlen)
{
    uint8_t h[CLUSTER_SIZE] = {0};
    put_be32(h, QCOW2_MAGIC);
    put_be32(h + 4, 3);
    put_be32(h + 20, CLUSTER_BITS);
    put_be32(h + 36, q->active_l1_size);
    put_be64(h + 40, q->active_l1_offset);
    put_be64(h + 48, rt_offset);
    put_be32(h + 56, rt_clusters);
    put_be32(h + 60, nsn);
    put_be64(h + 64, st_offset);
    put_be32(h + 96, REFCOUNT_ORDER);
    put_be32(h + 100, HEADER_LEN);
    return write_at(q, 0, h, sizeof h, err, errlen);
}

/* The last steps of every change: the snapshot table for snaps, the
 * refcounts, everything queued, then the header. On success the
 * transaction is over and q describes the new image (but for q->snaps,
 * which the caller replaces). */
static bool commit(Qcow2Image *q, const Snap *snaps, int n, char *err, size_t errlen)
{
    uint64_t st_offset = 0, st_bytes = 0, rt_offset = 0;
    uint32_t rt_clusters = 0;
    if (!write_snapshot_table(q, snaps, n, &st_offset, &st_bytes, err, errlen) ||
        !write_refcounts(q, &rt_offset, &rt_clusters, err, errlen) ||
        !w_flush(q, err, errlen) ||
        !write_header(q, rt_offset, rt_clusters, (uint32_t)n, st_offset, err, errlen))
        return false;
    q->rt_offset = rt_offset;
    q->rt_clusters = rt_clusters;
    q->st_offset = st_offset;
    q->st_bytes = st_bytes;
    memcpy(q->rb_off, q->rb_next, q->rb_cap * sizeof *q->rb_off);
    memset(q->rb_flags, 0, q->rb_cap);
    txn_end(q, true);
    trim(q);
    return true;
}

/* ---- opening ---- */

static Qcow2Image *image_new(const char *path, int fd, bool writable)
{
    Qcow2Image *q = g_new0(Qcow2Image, 1);
    q->path = g_strdup(path);
    q->fd = fd;
    q->writable = writable;
    q->l2_index = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_queue_init(&q->l2_lru);
    q->journal = g_array_new(FALSE, FALSE, sizeof(RcUndo));
    if (writable)
        q->wbuf = g_malloc((size_t)WRITE_BATCH << CLUSTER_BITS);
    return q;
}

static void image_free(Qcow2Image *q)
{
    for (int i = 0; i < q->nsnaps; i++)
        snap_free(&q->snaps[i]);
    g_free(q->snaps);
    GList *l = q->l2_lru.head;
    while (l) {
        GList *next = l->next;
        g_free(l->data);
        l = next;
    }
    g_hash_table_destroy(q->l2_index);
    g_array_free(q->journal, TRUE);
    g_free(q->rc);
    g_free(q->cflags);
    g_free(q->rb_off);
    g_free(q->rb_next);
    g_free(q->rb_flags);
    g_free(q->wbuf);
    g_free(q->path);
    g_free(q);
}

/* A table of len bytes at offset: aligned, past the header, in the file. */
static bool check_table(const Qcow2Image *q, const char *what, uint64_t offset, uint64_t len,
                        char *err, size_t errlen)
{
    if (offset & (CLUSTER_SIZE - 1))
        return fail(err, errlen, "%s: %s at " X64 " is not aligned to a cluster", q->path, what,
                    offset);
    if (offset == 0)
        return fail(err, errlen, "%s: %s at offset 0 overlaps the header", q->path, what);
    if (!range_inside(offset, len, q->file_size))
        return fail(err, errlen, "%s: %s at " X64 " (" U64 " bytes) lies outside the file ("
                    U64 " bytes)", q->path, what, offset, len, q->file_size);
    return true;
}

static bool read_header(Qcow2Image *q, uint32_t *nsn, uint64_t *incompat, char *err,
                        size_t errlen)
{
    uint8_t h[HEADER_LEN];
    if (q->file_size < 4)
        return fail(err, errlen, "%s: not a qcow2 image", q->path);
    if (!read_at(q, 0, h, q->file_size < HEADER_LEN ? 4 : HEADER_LEN, err, errlen))
        return false;
    if (get_be32(h) != QCOW2_MAGIC)
        return fail(err, errlen, "%s: not a qcow2 image", q->path);
    if (q->file_size < HEADER_LEN)
        return fail(err, errlen, "%s: the qcow2 header is truncated (the file has " U64
                    " bytes)", q->path, q->file_size);
    uint32_t version = get_be32(h + 4);
    if (version == 2)
        return fail(err, errlen, "%s: qcow2 version 2 (compat=0.10) is not supported; snapshot "
                    "files are version 3", q->path);
    if (version != 3)
        return fail(err, errlen, "%s: qcow2 version %u is not supported (only 3 is)", q->path,
                    version);
    if (get_be64(h + 8) || get_be32(h + 16))
        return fail(err, errlen, "%s: the image has a backing file; snapshot files have none",
                    q->path);
    if (get_be32(h + 20) != CLUSTER_BITS)
        return fail(err, errlen, "%s: cluster_bits is %u; snapshot files have 4096-byte "
                    "clusters (12)", q->path, get_be32(h + 20));
    if (get_be64(h + 24))
        return fail(err, errlen, "%s: the image has a virtual disk of " U64 " bytes; snapshot "
                    "files have none", q->path, get_be64(h + 24));
    if (get_be32(h + 32))
        return fail(err, errlen, "%s: the image is encrypted", q->path);
    if (get_be32(h + 96) != REFCOUNT_ORDER)
        return fail(err, errlen, "%s: refcount_order is %u; snapshot files have 16-bit "
                    "refcounts (4)", q->path, get_be32(h + 96));
    uint32_t header_len = get_be32(h + 100);
    if (header_len < HEADER_LEN || header_len % 8 || header_len > CLUSTER_SIZE)
        return fail(err, errlen, "%s: invalid qcow2 header length %u", q->path, header_len);
    *incompat = get_be64(h + 72);
    if (*incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT))
        return fail(err, errlen, "%s: unsupported qcow2 incompatible features (" X64 ")",
                    q->path, *incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT));

    q->active_l1_size = get_be32(h + 36);
    q->active_l1_offset = get_be64(h + 40);
    if (q->active_l1_size > MAX_L1_ENTRIES)
        return fail(err, errlen, "%s: active L1 table too large (%u entries)", q->path,
                    q->active_l1_size);
    if (q->active_l1_size && !check_table(q, "the active L1 table", q->active_l1_offset,
                                          (uint64_t)q->active_l1_size * 8, err, errlen))
        return false;

    q->rt_offset = get_be64(h + 48);
    q->rt_clusters = get_be32(h + 56);
    if (q->rt_clusters == 0 || q->rt_clusters > MAX_REFTABLE_CLUSTERS)
        return fail(err, errlen, "%s: invalid refcount table size (%u clusters)", q->path,
                    q->rt_clusters);
    if (!check_table(q, "the refcount table", q->rt_offset,
                     (uint64_t)q->rt_clusters << CLUSTER_BITS, err, errlen))
        return false;

    *nsn = get_be32(h + 60);
    q->st_offset = get_be64(h + 64);
    if (*nsn > MAX_SNAPSHOTS)
        return fail(err, errlen, "%s: too many snapshots (%u)", q->path, *nsn);
    if (*nsn && !check_table(q, "the snapshot table", q->st_offset, ENTRY_FIXED, err, errlen))
        return false;
    return true;
}

static bool read_snapshot(Qcow2Image *q, uint32_t i, uint64_t pos, Snap *s, char *err,
                          size_t errlen)
{
    uint64_t rel = pos - q->st_offset;
    uint8_t fx[ENTRY_FIXED];
    if (!range_inside(pos, ENTRY_FIXED, q->file_size) || rel + ENTRY_FIXED > MAX_SNAPSHOT_TABLE)
        return fail(err, errlen, "%s: snapshot table entry %u at " X64 " lies outside the "
                    "file", q->path, i, pos);
    if (!read_at(q, pos, fx, ENTRY_FIXED, err, errlen))
        return false;
    uint32_t extra = get_be32(fx + 36);
    uint32_t idlen = get_be16(fx + 12), namelen = get_be16(fx + 14);
    if (extra > MAX_EXTRA)
        return fail(err, errlen, "%s: snapshot table entry %u has %u bytes of extra data (at "
                    "most %u)", q->path, i, extra, MAX_EXTRA);
    uint64_t len = ENTRY_FIXED + (uint64_t)extra + idlen + namelen;
    uint64_t padded = (len + 7) & ~7ull;
    if (!range_inside(pos, len, q->file_size) || rel + padded > MAX_SNAPSHOT_TABLE)
        return fail(err, errlen, "%s: snapshot table entry %u at " X64 " lies outside the "
                    "file", q->path, i, pos);
    s->raw = g_malloc0(padded);
    s->raw_len = (uint32_t)padded;
    if (!read_at(q, pos, s->raw, len, err, errlen))
        return false;
    const uint8_t *id = s->raw + ENTRY_FIXED + extra, *name = id + idlen;
    if (memchr(id, 0, idlen) || memchr(name, 0, namelen))
        return fail(err, errlen, "%s: snapshot table entry %u has a NUL byte in its id or "
                    "name", q->path, i);
    s->id = g_strndup((const char *)id, idlen);
    s->name = g_strndup((const char *)name, namelen);
    s->l1_offset = get_be64(fx);
    s->l1_size = get_be32(fx + 8);
    s->date_sec = get_be32(fx + 16);
    s->date_nsec = get_be32(fx + 20);
    s->vm_clock_ns = get_be64(fx + 24);
    const uint8_t *ex = s->raw + ENTRY_FIXED;
    s->vm_state_size = extra >= 8 ? get_be64(ex) : get_be32(fx + 32);
    s->icount = extra >= 24 ? get_be64(ex + 16) : UINT64_MAX;
    if (s->vm_state_size > MAX_VM_STATE)
        return fail(err, errlen, "%s: snapshot '%s' has an impossible VM state size (" U64
                    " bytes)", q->path, s->name, s->vm_state_size);
    if (s->l1_size > MAX_L1_ENTRIES)
        return fail(err, errlen, "%s: snapshot '%s': L1 table too large (%u entries)", q->path,
                    s->name, s->l1_size);
    if (s->l1_size && (s->l1_offset & (CLUSTER_SIZE - 1) || !s->l1_offset))
        return fail(err, errlen, "%s: snapshot '%s': L1 table at " X64 " is not aligned to a "
                    "cluster", q->path, s->name, s->l1_offset);
    s->l1_loaded = s->l1_size == 0;
    return true;
}

static bool read_snapshots(Qcow2Image *q, uint32_t nsn, char *err, size_t errlen)
{
    q->snaps = g_new0(Snap, nsn ? nsn : 1);
    uint64_t pos = q->st_offset;
    for (uint32_t i = 0; i < nsn; i++) {
        q->nsnaps = (int)i + 1;     /* so that a failure frees it */
        if (!read_snapshot(q, i, pos, &q->snaps[i], err, errlen))
            return false;
        pos += q->snaps[i].raw_len;
    }
    q->st_bytes = nsn ? pos - q->st_offset : 0;
    return true;
}

/* Adds n references to each cluster of [offset, offset + len), which the
 * caller checked lie in the file. */
static void count_span(uint32_t *refs, uint64_t offset, uint64_t len, uint32_t n)
{
    if (!len)
        return;
    for (uint64_t c = offset >> CLUSTER_BITS; c <= (offset + len - 1) >> CLUSTER_BITS; c++)
        refs[c] += n;
}

typedef struct L2Ref {
    uint64_t offset;
    int snap;                   /* the first snapshot naming it, for messages */
    uint32_t l1_index;
} L2Ref;

static int cmp_l2ref(const void *a, const void *b)
{
    const L2Ref *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->snap - y->snap;
}

/* Counts the references of every snapshot's L1 and L2 tables into refs:
 * each L2 table is read once, and counts as many times as L1 entries name
 * it. */
static bool count_tables(Qcow2Image *q, uint32_t *refs, char *err, size_t errlen)
{
    GArray *l2s = g_array_new(FALSE, FALSE, sizeof(L2Ref));
    bool ok = false;
    for (int k = 0; k < q->nsnaps; k++) {
        Snap *s = &q->snaps[k];
        if (!load_l1(q, s, err, errlen))
            goto out;
        count_span(refs, s->l1_offset, (uint64_t)s->l1_size * 8, 1);
        for (uint32_t i = 0; i < s->l1_size; i++) {
            L2Ref r = { 0, k, i };
            if (!l1_entry(q, s, i, &r.offset, err, errlen))
                goto out;
            if (r.offset)
                g_array_append_val(l2s, r);
        }
    }
    if (l2s->len)
        qsort(l2s->data, l2s->len, sizeof(L2Ref), cmp_l2ref);
    for (guint i = 0; i < l2s->len;) {
        const L2Ref *r = &g_array_index(l2s, L2Ref, i);
        const Snap *s = &q->snaps[r->snap];
        uint32_t n = 0;
        while (i + n < l2s->len && g_array_index(l2s, L2Ref, i + n).offset == r->offset)
            n++;
        const uint64_t *t = l2_get(q, r->offset, s, (uint64_t)r->l1_index * L2_ENTRIES, err,
                                   errlen);
        if (!t || !check_l2(q, t, s, r->l1_index, err, errlen))
            goto out;
        refs[r->offset >> CLUSTER_BITS] += n;
        for (unsigned j = 0; j < L2_ENTRIES; j++)
            if (t[j] & OFFSET_MASK)
                refs[(t[j] & OFFSET_MASK) >> CLUSTER_BITS] += n;
        i += n;
    }
    ok = true;
out:
    g_array_free(l2s, TRUE);
    return ok;
}

/* Loads the stored refcounts and checks them against a recount of every
 * reference; the recount becomes the truth (leaks are freed at the next
 * commit). */
static bool load_refcounts(Qcow2Image *q, char *err, size_t errlen)
{
    uint64_t fclusters = div_up(q->file_size, CLUSTER_SIZE);
    uint64_t slots = (uint64_t)q->rt_clusters * RT_ENTRIES;
    rc_reserve(q, fclusters);
    rb_reserve(q, slots);
    uint32_t *refs = g_new0(uint32_t, fclusters + 1);
    uint8_t *rt = g_malloc((size_t)q->rt_clusters << CLUSTER_BITS);
    uint8_t block[CLUSTER_SIZE];
    bool ok = false;

    if (!read_at(q, q->rt_offset, rt, (size_t)q->rt_clusters << CLUSTER_BITS, err, errlen))
        goto out;
    refs[0]++;
    count_span(refs, q->rt_offset, (uint64_t)q->rt_clusters << CLUSTER_BITS, 1);
    for (uint64_t i = 0; i < slots; i++) {
        uint64_t e = get_be64(rt + 8 * i);
        if (!e)
            continue;
        char what[48];
        snprintf(what, sizeof what, "refcount block " U64, i);
        if (e & RTE_RESERVED) {
            fail(err, errlen, "%s: %s: reserved bits set (" X64 ")", q->path, what, e);
            goto out;
        }
        if (!check_table(q, what, e, CLUSTER_SIZE, err, errlen) ||
            !read_at(q, e, block, CLUSTER_SIZE, err, errlen))
            goto out;
        q->rb_off[i] = e;
        refs[e >> CLUSTER_BITS]++;
        for (unsigned j = 0; j < RB_ENTRIES; j++) {
            uint64_t c = i * RB_ENTRIES + j;
            uint16_t v = get_be16(block + 2 * j);
            if (c < fclusters)
                q->rc[c] = v;
            else if (v)
                q->rb_flags[i] |= RB_DIRTY;     /* counts past the end: leaks */
        }
    }

    if (q->active_l1_size) {
        uint64_t *l1 = g_new(uint64_t, q->active_l1_size);
        bool used = false;
        ok = read_at(q, q->active_l1_offset, l1, (size_t)q->active_l1_size * 8, err, errlen);
        for (uint32_t i = 0; ok && i < q->active_l1_size; i++)
            used |= l1[i] != 0;
        g_free(l1);
        if (!ok)
            goto out;
        ok = false;
        if (used) {
            fail(err, errlen, "%s: the active L1 table is in use; only images whose VM states "
                 "are all in snapshots can be written", q->path);
            goto out;
        }
        count_span(refs, q->active_l1_offset, (uint64_t)q->active_l1_size * 8, 1);
    }
    count_span(refs, q->st_offset, q->st_bytes, 1);
    if (!count_tables(q, refs, err, errlen))
        goto out;

    for (uint64_t c = 0; c < fclusters; c++) {
        if (refs[c] > REFCOUNT_MAX || q->rc[c] < refs[c]) {
            inconsistent(q, c, err, errlen);
            goto out;
        }
        if (q->rc[c] != refs[c]) {
            q->rc[c] = (uint16_t)refs[c];
            q->rb_flags[c / RB_ENTRIES] |= RB_DIRTY;
        }
    }
    ok = true;
out:
    g_free(refs);
    g_free(rt);
    return ok;
}

/* Takes ownership of fd (closed on failure too). */
static Qcow2Image *open_fd(const char *path, int fd, bool writable, char *err, size_t errlen)
{
    Qcow2Image *q = image_new(path, fd, writable);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    q->file_size = (uint64_t)st.st_size;
    uint32_t nsn = 0;
    uint64_t incompat = 0;
    if (!read_header(q, &nsn, &incompat, err, errlen) || !read_snapshots(q, nsn, err, errlen))
        goto fail;
    if (writable) {
        if (incompat & INCOMPAT_CORRUPT) {
            fail(err, errlen, "%s: the image is marked corrupt; run qemu-img check -r all", path);
            goto fail;
        }
        if (incompat & INCOMPAT_DIRTY) {
            fail(err, errlen, "%s: the image is marked dirty (its refcounts may be stale); run "
                 "qemu-img check -r all", path);
            goto fail;
        }
        if (!load_refcounts(q, err, errlen))
            goto fail;
    }
    return q;
fail:
    close(q->fd);
    image_free(q);
    return NULL;
}

Qcow2Image *qcow2_image_open(const char *path, bool writable, char *err, size_t errlen)
{
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return open_fd(path, fd, writable, err, errlen);
}

/* What qemu-img create -f qcow2 -o cluster_size=4096 makes for size 0: the
 * header, the refcount table in cluster 1, its one block in cluster 2. */
Qcow2Image *qcow2_image_create(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = g_malloc0(3 * CLUSTER_SIZE);
    put_be32(buf, QCOW2_MAGIC);
    put_be32(buf + 4, 3);
    put_be32(buf + 20, CLUSTER_BITS);
    put_be64(buf + 48, CLUSTER_SIZE);
    put_be32(buf + 56, 1);
    put_be32(buf + 96, REFCOUNT_ORDER);
    put_be32(buf + 100, HEADER_LEN);
    put_be64(buf + CLUSTER_SIZE, 2 * CLUSTER_SIZE);
    for (int c = 0; c < 3; c++)
        put_be16(buf + 2 * CLUSTER_SIZE + 2 * c, 1);
    size_t done = 0;
    while (done < 3 * CLUSTER_SIZE) {
        ssize_t n = pwrite(fd, buf + done, 3 * CLUSTER_SIZE - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fail(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "write failed");
            break;
        }
        done += (size_t)n;
    }
    g_free(buf);
    Qcow2Image *q = NULL;
    if (done == 3 * CLUSTER_SIZE)
        q = open_fd(path, fd, true, err, errlen);
    else
        close(fd);
    if (!q)
        unlink(path);
    return q;
}

bool qcow2_image_close(Qcow2Image *q, char *err, size_t errlen)
{
    if (!q)
        return true;
    if (q->build)
        qcow2_build_abort(q->build);
    bool ok = close(q->fd) == 0 || fail(err, errlen, "%s: %s", q->path, strerror(errno));
    image_free(q);
    return ok;
}

/* ---- the snapshot table ---- */

int qcow2_snapshot_count(const Qcow2Image *q)
{
    return q->nsnaps;
}

bool qcow2_snapshot_info(const Qcow2Image *q, int index, Qcow2SnapInfo *info)
{
    const Snap *s = snap_at(q, index);
    if (!s)
        return false;
    info->id = s->id;
    info->name = s->name;
    info->vm_state_size = s->vm_state_size;
    info->icount = s->icount;
    info->date_sec = s->date_sec;
    info->date_nsec = s->date_nsec;
    info->vm_clock_ns = s->vm_clock_ns;
    return true;
}

int qcow2_snapshot_find(const Qcow2Image *q, const char *name_or_id)
{
    for (int i = 0; i < q->nsnaps; i++)
        if (strcmp(q->snaps[i].name, name_or_id) == 0)
            return i;
    for (int i = 0; i < q->nsnaps; i++)
        if (strcmp(q->snaps[i].id, name_or_id) == 0)
            return i;
    return -1;
}

static bool may_change(const Qcow2Image *q, char *err, size_t errlen)
{
    if (!q->writable)
        return fail(err, errlen, "%s: the image is open read-only", q->path);
    if (q->build)
        return fail(err, errlen, "%s: a snapshot is being built", q->path);
    return true;
}

/* Drops the references snapshot s holds: its L1 table, and for each L1
 * entry the L2 table and every cluster in it. */
static bool unref_snapshot(Qcow2Image *q, Snap *s, char *err, size_t errlen)
{
    if (!unref_span(q, s->l1_offset, (uint64_t)s->l1_size * 8, err, errlen))
        return false;
    for (uint64_t i = 0; i < s->l1_size; i++) {
        uint64_t l2;
        if (!l1_entry(q, s, i, &l2, err, errlen))
            return false;
        if (!l2)
            continue;
        const uint64_t *t = l2_get(q, l2, s, i * L2_ENTRIES, err, errlen);
        if (!t || !check_l2(q, t, s, i, err, errlen))
            return false;
        if (!rc_dec(q, l2 >> CLUSTER_BITS))
            return inconsistent(q, l2 >> CLUSTER_BITS, err, errlen);
        for (unsigned j = 0; j < L2_ENTRIES; j++) {
            uint64_t c = (t[j] & OFFSET_MASK) >> CLUSTER_BITS;
            if (c && !rc_dec(q, c))
                return inconsistent(q, c, err, errlen);
        }
    }
    return true;
}

bool qcow2_snapshot_delete(Qcow2Image *q, int index, char *err, size_t errlen)
{
    if (!may_change(q, err, errlen))
        return false;
    if (!snap_at(q, index))
        return no_snapshot(q, index, err, errlen);
    int n = q->nsnaps - 1;
    Snap *rest = g_new(Snap, n ? n : 1);
    memcpy(rest, q->snaps, (size_t)index * sizeof *rest);
    memcpy(rest + index, q->snaps + index + 1, (size_t)(n - index) * sizeof *rest);
    if (!unref_snapshot(q, &q->snaps[index], err, errlen) || !commit(q, rest, n, err, errlen)) {
        g_free(rest);
        rollback(q);
        return false;
    }
    snap_free(&q->snaps[index]);
    g_free(q->snaps);
    q->snaps = rest;
    q->nsnaps = n;
    return true;
}

/* ---- reading ---- */

/* The kind of a page, and for DATA its host offset and how many bytes of it
 * the VM state covers. */
static Qcow2PageKind page_lookup(Qcow2Image *q, int index, uint64_t page, uint64_t *host,
                                 uint64_t *len, char *err, size_t errlen)
{
    Snap *s = snap_get(q, index);
    if (!s) {
        no_snapshot(q, index, err, errlen);
        return QCOW2_BAD;
    }
    if (page >= snap_pages(s)) {
        fail(err, errlen, "%s: snapshot '%s': page " U64 " is past the end of its VM state ("
             U64 " pages)", q->path, s->name, page, snap_pages(s));
        return QCOW2_BAD;
    }
    uint64_t l2, e = 0;
    if (!l1_entry(q, s, page / L2_ENTRIES, &l2, err, errlen))
        return QCOW2_BAD;
    if (l2) {
        const uint64_t *t = l2_get(q, l2, s, page, err, errlen);
        if (!t)
            return QCOW2_BAD;
        e = t[page % L2_ENTRIES];
    }
    Qcow2PageKind k = entry_kind(e);
    uint64_t off = e & OFFSET_MASK;
    if (k == QCOW2_BAD) {
        fail(err, errlen, "%s: snapshot '%s': the L2 entry of page " U64 " %s (" X64 ")",
             q->path, s->name, page, e & L2E_COMPRESSED ? "is a compressed cluster (not "
             "supported)" : "has reserved bits set", e);
        return QCOW2_BAD;
    }
    if (k != QCOW2_DATA)
        return k;
    /* QEMU may leave the last cluster of a VM state short */
    uint64_t need = s->vm_state_size - page * QCOW2_PAGE_SIZE;
    if (need > QCOW2_PAGE_SIZE)
        need = QCOW2_PAGE_SIZE;
    if (off & (CLUSTER_SIZE - 1)) {
        fail(err, errlen, "%s: snapshot '%s': data cluster at " X64 " for page " U64 " is not "
             "aligned to a cluster", q->path, s->name, off, page);
        return QCOW2_BAD;
    }
    if (!range_inside(off, need, q->file_size)) {
        fail(err, errlen, "%s: snapshot '%s': data cluster at " X64 " for page " U64 " lies "
             "outside the file (" U64 " bytes)", q->path, s->name, off, page, q->file_size);
        return QCOW2_BAD;
    }
    *host = off;
    *len = q->file_size - off < CLUSTER_SIZE ? q->file_size - off : CLUSTER_SIZE;
    return QCOW2_DATA;
}

Qcow2PageKind qcow2_page_kind(Qcow2Image *q, int index, uint64_t page, char *err,
                              size_t errlen)
{
    uint64_t host, len;
    return page_lookup(q, index, page, &host, &len, err, errlen);
}

uint64_t qcow2_next_present(Qcow2Image *q, int index, uint64_t from)
{
    Snap *s = snap_get(q, index);
    if (!s)
        return UINT64_MAX;
    uint64_t end = snap_pages(s);
    for (uint64_t p = from; p < end;) {
        uint64_t i = p / L2_ENTRIES, l2;
        if (i >= s->l1_size)
            return UINT64_MAX;
        if (!l1_entry(q, s, i, &l2, NULL, 0))
            return p;
        if (!l2) {
            p = (i + 1) * L2_ENTRIES;
            continue;
        }
        const uint64_t *t = l2_get(q, l2, s, p, NULL, 0);
        if (!t)
            return p;
        for (; p < end && p / L2_ENTRIES == i; p++)
            if (entry_kind(t[p % L2_ENTRIES]) != QCOW2_ABSENT)
                return p;
    }
    return UINT64_MAX;
}

bool qcow2_read_page(Qcow2Image *q, int index, uint64_t page, void *buf, char *err,
                     size_t errlen)
{
    uint64_t host = 0, len = 0;
    Qcow2PageKind k = page_lookup(q, index, page, &host, &len, err, errlen);
    if (k == QCOW2_BAD)
        return false;
    if (k != QCOW2_DATA) {
        memset(buf, 0, QCOW2_PAGE_SIZE);
        return true;
    }
    memset((uint8_t *)buf + len, 0, QCOW2_PAGE_SIZE - len);
    return read_at(q, host, buf, len, err, errlen);
}

bool qcow2_read_vmstate(Qcow2Image *q, int index, uint64_t offset, void *buf, size_t len,
                        char *err, size_t errlen)
{
    const Snap *s = snap_at(q, index);
    if (!s)
        return no_snapshot(q, index, err, errlen);
    if (offset > s->vm_state_size || len > s->vm_state_size - offset)
        return fail(err, errlen, "%s: snapshot '%s': read of %zu bytes at " X64 " past the end "
                    "of its VM state (" U64 " bytes)", q->path, s->name, len, offset,
                    s->vm_state_size);
    uint8_t *p = buf, page[QCOW2_PAGE_SIZE];
    while (len) {
        uint64_t within = offset % QCOW2_PAGE_SIZE;
        size_t n = QCOW2_PAGE_SIZE - within < len ? QCOW2_PAGE_SIZE - within : len;
        bool whole = n == QCOW2_PAGE_SIZE;
        if (!qcow2_read_page(q, index, offset / QCOW2_PAGE_SIZE, whole ? p : page, err, errlen))
            return false;
        if (!whole)
            memcpy(p, page + within, n);
        p += n;
        offset += n;
        len -= n;
    }
    return true;
}

/* ---- building a snapshot ---- */

static void build_free(Qcow2Build *b)
{
    for (uint64_t i = 0; i < b->n1; i++)
        g_free(b->tabs[i]);
    g_free(b->tabs);
    g_free(b->base_l1);
    b->q->build = NULL;
    g_free(b);
}

static BuildTable *tab_of(Qcow2Build *b, uint64_t i)
{
    if (!b->tabs[i])
        b->tabs[i] = g_new0(BuildTable, 1);
    return b->tabs[i];
}

/* Sets the entry of a page; a cluster this build wrote for it is freed. */
static void set_entry(Qcow2Build *b, uint64_t page, uint64_t e)
{
    BuildTable *t = tab_of(b, page / L2_ENTRIES);
    unsigned j = page % L2_ENTRIES;
    if (bit(t->fresh, j)) {
        rc_set(b->q, t->e[j] >> CLUSTER_BITS, 0);
        bit_set(t->fresh, j, false);
    }
    t->e[j] = e;
    bit_set(t->set, j, true);
}

Qcow2Build *qcow2_build_begin(Qcow2Image *q, int base, uint64_t vm_state_size, char *err,
                              size_t errlen)
{
    if (!may_change(q, err, errlen))
        return NULL;
    if (base != -1 && !snap_at(q, base)) {
        no_snapshot(q, base, err, errlen);
        return NULL;
    }
    if (vm_state_size % QCOW2_PAGE_SIZE || vm_state_size > MAX_VM_STATE) {
        fail(err, errlen, "%s: invalid VM state size " U64 " (a multiple of %u up to " U64 ")",
             q->path, vm_state_size, QCOW2_PAGE_SIZE, MAX_VM_STATE);
        return NULL;
    }
    Qcow2Build *b = g_new0(Qcow2Build, 1);
    b->q = q;
    b->base = base;
    b->size = vm_state_size;
    b->npages = vm_state_size / QCOW2_PAGE_SIZE;
    b->n1 = div_up(b->npages, L2_ENTRIES);
    b->base_l1 = g_new0(uint64_t, b->n1 ? b->n1 : 1);
    b->tabs = g_new0(BuildTable *, b->n1 ? b->n1 : 1);
    q->build = b;
    if (base < 0)
        return b;

    Snap *s = &q->snaps[base];
    uint64_t bpages = snap_pages(s);
    for (uint64_t i = 0; i < b->n1 && i * L2_ENTRIES < bpages; i++)
        if (!l1_entry(q, s, i, &b->base_l1[i], err, errlen))
            goto fail;
    /* the table where the base or the new state ends must show nothing
     * past that end */
    uint64_t m = bpages < b->npages ? bpages : b->npages;
    uint64_t i = m / L2_ENTRIES;
    if (m % L2_ENTRIES && i < b->n1 && b->base_l1[i]) {
        const uint64_t *t = l2_get(q, b->base_l1[i], s, UINT64_MAX, err, errlen);
        if (!t)
            goto fail;
        for (unsigned j = m % L2_ENTRIES; j < L2_ENTRIES; j++)
            if (t[j]) {
                BuildTable *bt = tab_of(b, i);
                bt->e[j] = 0;
                bit_set(bt->set, j, true);
            }
    }
    return b;
fail:
    build_free(b);
    return NULL;
}

bool qcow2_build_put(Qcow2Build *b, uint64_t page, const void *data, char *err, size_t errlen)
{
    Qcow2Image *q = b->q;
    if (page >= b->npages)
        return fail(err, errlen, "%s: page " U64 " is past the end of the new snapshot (" U64
                    " pages)", q->path, page, b->npages);
    if (page_is_zero(data)) {
        set_entry(b, page, L2E_ZERO);
        return true;
    }
    BuildTable *t = tab_of(b, page / L2_ENTRIES);
    unsigned j = page % L2_ENTRIES;
    uint64_t c = bit(t->fresh, j) ? t->e[j] >> CLUSTER_BITS : alloc_run(q, 1);
    if (!bit(t->fresh, j)) {
        t->e[j] = c << CLUSTER_BITS;
        bit_set(t->set, j, true);
        bit_set(t->fresh, j, true);
    }
    if (!w_put(q, c, data, err, errlen)) {
        b->broken = true;       /* the batch held other pages too */
        return false;
    }
    return true;
}

void qcow2_build_zero(Qcow2Build *b, uint64_t page)
{
    if (page < b->npages)
        set_entry(b, page, L2E_ZERO);
}

void qcow2_build_absent(Qcow2Build *b, uint64_t page)
{
    if (page < b->npages)
        set_entry(b, page, 0);
}

void qcow2_build_abort(Qcow2Build *b)
{
    if (!b)
        return;
    rollback(b->q);
    build_free(b);
}

/* Shares the base's L2 table at l2 (entries t): one more reference on it
 * and on each cluster it names. false, changing nothing, when a count is
 * at its maximum. */
static bool share_table(Qcow2Image *q, uint64_t l2, const uint64_t *t)
{
    if (!rc_inc(q, l2 >> CLUSTER_BITS))
        return false;
    for (unsigned j = 0; j < L2_ENTRIES; j++) {
        uint64_t c = (t[j] & OFFSET_MASK) >> CLUSTER_BITS;
        if (c && !rc_inc(q, c)) {
            while (j-- > 0)
                if (t[j] & OFFSET_MASK)
                    rc_dec(q, (t[j] & OFFSET_MASK) >> CLUSTER_BITS);
            rc_dec(q, l2 >> CLUSTER_BITS);
            return false;
        }
    }
    return true;
}

/* The L1 entry of table i of the new snapshot: 0 when it is all absent, the
 * base's table when nothing changed there, else a new table. */
static bool resolve_table(Qcow2Build *b, uint64_t i, uint64_t *l1e, GArray *new_l2, char *err,
                          size_t errlen)
{
    Qcow2Image *q = b->q;
    const BuildTable *t = b->tabs[i];
    uint64_t base = b->base_l1[i];
    uint64_t old[L2_ENTRIES] = {0}, ent[L2_ENTRIES];
    *l1e = 0;
    if (!t && !base)
        return true;
    if (base) {
        const Snap *s = &q->snaps[b->base];
        const uint64_t *bt = l2_get(q, base, s, i * L2_ENTRIES, err, errlen);
        if (!bt || !check_l2(q, bt, s, i, err, errlen))
            return false;
        memcpy(old, bt, sizeof old);
    }
    /* shared verbatim when untouched, or when the changes left it as it was */
    bool same = true, empty = true;
    for (unsigned j = 0; j < L2_ENTRIES; j++) {
        if (t && bit(t->set, j))
            ent[j] = t->e[j];
        else    /* a zero cluster with an allocation becomes a plain one */
            ent[j] = old[j] & L2E_ZERO ? L2E_ZERO : old[j] & OFFSET_MASK;
        same &= !t || ent[j] == old[j];
        empty &= ent[j] == 0;
    }
    if (base && same && share_table(q, base, old)) {
        *l1e = base;
        return true;
    }
    if (empty)
        return true;
    for (unsigned j = 0; j < L2_ENTRIES; j++) {
        uint64_t off = ent[j] & OFFSET_MASK;
        if (!off || (t && bit(t->fresh, j)) || rc_inc(q, off >> CLUSTER_BITS))
            continue;
        /* 65535 references already: this snapshot gets a copy of its own */
        uint8_t data[CLUSTER_SIZE] = {0};
        uint64_t len = q->file_size - off < CLUSTER_SIZE ? q->file_size - off : CLUSTER_SIZE;
        uint64_t c = alloc_run(q, 1);
        if (!read_at(q, off, data, len, err, errlen) || !w_put(q, c, data, err, errlen))
            return false;
        ent[j] = c << CLUSTER_BITS;
    }
    uint64_t c = alloc_run(q, 1);
    uint8_t buf[CLUSTER_SIZE];
    for (unsigned j = 0; j < L2_ENTRIES; j++)
        put_be64(buf + 8 * j, ent[j]);
    NewL2 n = { c << CLUSTER_BITS, {0} };
    memcpy(n.e, ent, sizeof ent);
    g_array_append_val(new_l2, n);
    *l1e = c << CLUSTER_BITS;
    return w_put(q, c, buf, err, errlen);
}

/* QEMU's rule: one more than the highest numeric id. */
static char *next_id(const Qcow2Image *q)
{
    uint64_t max = 0;
    for (int i = 0; i < q->nsnaps; i++) {
        uint64_t v = strtoull(q->snaps[i].id, NULL, 10);
        if (v > max)
            max = v;
    }
    return g_strdup_printf(U64, max + 1);
}

/* The snapshot table entry of s, with our 24 bytes of extra data. */
static void snap_encode(Snap *s)
{
    size_t idlen = strlen(s->id), namelen = strlen(s->name);
    size_t len = ENTRY_FIXED + OUR_EXTRA + idlen + namelen;
    s->raw_len = (uint32_t)((len + 7) & ~(size_t)7);
    s->raw = g_malloc0(s->raw_len);
    uint8_t *p = s->raw;
    put_be64(p, s->l1_offset);
    put_be32(p + 8, s->l1_size);
    put_be16(p + 12, (uint16_t)idlen);
    put_be16(p + 14, (uint16_t)namelen);
    put_be32(p + 16, s->date_sec);
    put_be32(p + 20, s->date_nsec);
    put_be64(p + 24, s->vm_clock_ns);
    put_be32(p + 32, (uint32_t)s->vm_state_size);     /* truncated, as QEMU does */
    put_be32(p + 36, OUR_EXTRA);
    put_be64(p + 40, s->vm_state_size);
    put_be64(p + 48, 0);                               /* disk size */
    put_be64(p + 56, s->icount);
    memcpy(p + ENTRY_FIXED + OUR_EXTRA, s->id, idlen);
    memcpy(p + ENTRY_FIXED + OUR_EXTRA + idlen, s->name, namelen);
}

int qcow2_build_commit(Qcow2Build *b, const char *name, uint64_t icount, uint64_t vm_clock_ns,
                       char *err, size_t errlen)
{
    Qcow2Image *q = b->q;
    GArray *new_l2 = g_array_new(FALSE, FALSE, sizeof(NewL2));
    Snap ns = {0};
    Snap *snaps = NULL;
    uint8_t *l1buf = NULL;
    int index = -1;

    if (b->broken) {
        fail(err, errlen, "%s: an earlier write of this snapshot failed", q->path);
        goto out;
    }
    if (!name || !*name || strlen(name) > 0xffff) {
        fail(err, errlen, "%s: invalid snapshot name", q->path);
        goto out;
    }
    for (int i = 0; i < q->nsnaps; i++)
        if (strcmp(q->snaps[i].name, name) == 0) {
            fail(err, errlen, "%s: a snapshot named '%s' already exists", q->path, name);
            goto out;
        }
    if ((uint32_t)q->nsnaps >= MAX_SNAPSHOTS) {
        fail(err, errlen, "%s: too many snapshots", q->path);
        goto out;
    }

    ns.l1_size = (uint32_t)b->n1;
    ns.l1 = g_new0(uint64_t, b->n1 ? b->n1 : 1);
    ns.l1_loaded = true;
    for (uint64_t i = 0; i < b->n1; i++)
        if (!resolve_table(b, i, &ns.l1[i], new_l2, err, errlen))
            goto out;
    if (b->n1) {
        uint64_t clusters = div_up(b->n1 * 8, CLUSTER_SIZE);
        l1buf = g_malloc0(clusters << CLUSTER_BITS);
        for (uint64_t i = 0; i < b->n1; i++)
            put_be64(l1buf + 8 * i, ns.l1[i]);
        if (!write_new(q, l1buf, clusters, &ns.l1_offset, err, errlen))
            goto out;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ns.id = next_id(q);
    ns.name = g_strdup(name);
    ns.date_sec = (uint32_t)now.tv_sec;
    ns.date_nsec = (uint32_t)now.tv_nsec;
    ns.vm_clock_ns = vm_clock_ns;
    ns.vm_state_size = b->size;
    ns.icount = icount;
    snap_encode(&ns);

    snaps = g_new(Snap, q->nsnaps + 1);
    memcpy(snaps, q->snaps, (size_t)q->nsnaps * sizeof *snaps);
    snaps[q->nsnaps] = ns;
    if (!commit(q, snaps, q->nsnaps + 1, err, errlen))
        goto out;
    g_free(q->snaps);
    q->snaps = snaps;
    snaps = NULL;
    index = q->nsnaps++;
    memset(&ns, 0, sizeof ns);
    /* the next snapshot will likely build on this one */
    for (guint k = 0; k < new_l2->len; k++) {
        const NewL2 *n = &g_array_index(new_l2, NewL2, k);
        L2Slot *slot = l2_slot_new(q, n->offset);
        memcpy(slot->e, n->e, sizeof slot->e);
        l2_slot_add(q, slot);
    }
out:
    if (index < 0)
        rollback(q);
    snap_free(&ns);
    g_free(snaps);
    g_free(l1buf);
    g_array_free(new_l2, TRUE);
    build_free(b);
    return index;
}
