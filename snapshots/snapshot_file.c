/* Whole-machine snapshots in a qcow2 file (snapshots.h, "Snapshots in a
 * file"; the container is qcow2.c).
 *
 * A snapshot's VM state is an array of 4 KiB pages laid out in regions
 * that start on 2 MiB boundaries (one qcow2 L2 table each, so a region
 * that did not change shares whole L2 tables with the snapshot before):
 *
 *   page 0      header: magic, format, the Rewind build, icount, the shape
 *               of the machine, where the regions are, the log position
 *   state       the MachineState bytes (emulator.h), CRC-32 in the header
 *   hashes      one 64-bit checksum per page of RAM and of every disk
 *               overlay (0: all-zero RAM page / page not in the overlay)
 *   RAM         page n of RAM at page n of the region; zero pages absent
 *   disk d      page n of disk d's overlay: absent when not in the
 *               overlay, a qcow2 zero cluster when all zero, else data
 *
 * The checksums make a load all-or-nothing: pass 1 reads every stored
 * page and checks it, pass 2 changes the machine. They also make saving
 * incremental without a snapshot store: a page whose checksum equals the
 * base snapshot's is compared byte for byte with it and shared when equal.
 * The base is the last snapshot this SnapFile saved or loaded. */
#include "snapshots.h"
#include "build_id.h"
#include "qcow2.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define PAGE QCOW2_PAGE_SIZE
#define REGION_ALIGN (2ull << 20)
#define HASHES_PER_PAGE (PAGE / 8)
#define MAX_DISKS 64

#define SF_MAGIC "RWNDSNAP"
#define SF_FORMAT 1u

/* Header page (little-endian). */
enum {
    H_MAGIC = 0,            /* 8 bytes */
    H_FORMAT = 8,           /* u32 */
    H_CRC = 12,             /* u32: CRC-32 of the page with this field 0 */
    H_BUILD = 16,           /* 32 bytes: "rewind BUILD-ID", NUL padded */
    H_ICOUNT = 48,
    H_STATE_HASH = 56,      /* machine_state_hash, for messages and checks */
    H_RAM_PAGES = 64,
    H_NHARTS = 72,          /* u32 */
    H_NDISKS = 76,          /* u32 */
    H_STATE_OFF = 80,
    H_STATE_LEN = 88,
    H_STATE_CRC = 96,       /* u32 */
    H_POS_LEN = 100,        /* u32 */
    H_POS = 104,            /* SNAPFILE_POS_MAX bytes */
    H_HASH_OFF = 168,
    H_RAM_OFF = 176,
    H_VCLOCK = 184,
    H_DISKS = 192,          /* per disk: offset, pages (u64 each) */
};
_Static_assert(H_POS + SNAPFILE_POS_MAX <= H_HASH_OFF, "header fields overlap");
_Static_assert(H_DISKS + MAX_DISKS * 16 <= PAGE, "header page too small");

/* Where everything is in a machine's VM state. Global page numbers: RAM
 * pages first, then each disk's pages. */
typedef struct Layout {
    uint64_t ram_pages;
    int ndisks;
    uint64_t disk_pages[MAX_DISKS];
    uint64_t total_pages;
    uint64_t state_off, state_len;
    uint64_t hash_off, ram_off;
    uint64_t disk_off[MAX_DISKS];
    uint64_t size;          /* bytes of VM state */
} Layout;

struct SnapFile {
    Qcow2Image *q;
    char *path;
    char *base_id;          /* qcow2 id of the base snapshot, NULL: none */
    uint64_t *hashes;       /* the base's page checksums */
    Layout base_layout;
};

static void G_GNUC_PRINTF(3, 4) set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static void build_string(char out[32])
{
    memset(out, 0, 32);
    snprintf(out, 32, "rewind %s", REWIND_BUILD_ID);
}

/* ---- page checksums ---- */

static inline uint64_t rotl64(uint64_t v, int r)
{
    return v << r | v >> (64 - r);
}

/* A 64-bit checksum of one page: four independent multiply-rotate lanes
 * (fast; it only has to catch damage, the byte compare settles sharing),
 * never 0, which stands for "no page". */
static uint64_t page_hash(const uint8_t *p)
{
    const uint64_t k1 = 0x9e3779b185ebca87ull, k2 = 0xc2b2ae3d27d4eb4full;
    uint64_t l[4] = { k1, k2, k1 ^ k2, ~k1 };
    for (unsigned i = 0; i < PAGE; i += 32) {
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * j, 8);
            l[j] = rotl64(l[j] + w * k2, 31) * k1;
        }
    }
    uint64_t h = rotl64(l[0], 1) + rotl64(l[1], 7) + rotl64(l[2], 12) + rotl64(l[3], 18);
    h ^= h >> 33;
    h *= k2;
    h ^= h >> 29;
    return h ? h : 1;
}

static bool page_is_zero(const uint8_t *p)
{
    uint64_t acc = 0;
    for (unsigned i = 0; i < PAGE; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    return acc == 0;
}

static const uint8_t zero_page[PAGE];

/* ---- layout ---- */

static bool layout_for(Layout *L, const Machine *m, uint64_t state_len, char *err,
                       size_t errlen)
{
    memset(L, 0, sizeof *L);
    L->ram_pages = machine_ram_pages(m);
    L->ndisks = machine_ndisks(m);
    if (L->ndisks > MAX_DISKS) {
        set_err(err, errlen, "snapshots hold at most %d disks, the machine has %d", MAX_DISKS,
                L->ndisks);
        return false;
    }
    L->total_pages = L->ram_pages;
    for (int d = 0; d < L->ndisks; d++) {
        L->disk_pages[d] = machine_disk_pages(m, d);
        L->total_pages += L->disk_pages[d];
    }
    L->state_off = PAGE;
    L->state_len = state_len;
    L->hash_off = align_up(L->state_off + state_len, REGION_ALIGN);
    L->ram_off = align_up(L->hash_off + L->total_pages * 8, REGION_ALIGN);
    uint64_t end = L->ram_off + L->ram_pages * PAGE;
    for (int d = 0; d < L->ndisks; d++) {
        L->disk_off[d] = align_up(end, REGION_ALIGN);
        end = L->disk_off[d] + L->disk_pages[d] * PAGE;
    }
    L->size = align_up(end, PAGE);
    return true;
}

static bool layout_equal(const Layout *a, const Layout *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* The VM state page holding global page g. */
static uint64_t vm_page(const Layout *L, uint64_t g)
{
    if (g < L->ram_pages)
        return L->ram_off / PAGE + g;
    g -= L->ram_pages;
    for (int d = 0; d < L->ndisks; d++) {
        if (g < L->disk_pages[d])
            return L->disk_off[d] / PAGE + g;
        g -= L->disk_pages[d];
    }
    return UINT64_MAX;
}

static uint64_t disk_first(const Layout *L, int disk)
{
    uint64_t g = L->ram_pages;
    for (int d = 0; d < disk; d++)
        g += L->disk_pages[d];
    return g;
}

/* ---- opening ---- */

static SnapFile *wrap(Qcow2Image *q, const char *path)
{
    SnapFile *f = g_new0(SnapFile, 1);
    f->q = q;
    f->path = g_strdup(path);
    return f;
}

SnapFile *snapfile_create(const char *path, char *err, size_t errlen)
{
    Qcow2Image *q = qcow2_image_create(path, err, errlen);
    return q ? wrap(q, path) : NULL;
}

SnapFile *snapfile_open(const char *path, bool writable, char *err, size_t errlen)
{
    Qcow2Image *q = qcow2_image_open(path, writable, err, errlen);
    return q ? wrap(q, path) : NULL;
}

static void forget_base(SnapFile *f)
{
    g_free(f->base_id);
    f->base_id = NULL;
    g_free(f->hashes);
    f->hashes = NULL;
}

bool snapfile_close(SnapFile *f, char *err, size_t errlen)
{
    if (!f)
        return true;
    bool ok = qcow2_image_close(f->q, err, errlen);
    forget_base(f);
    g_free(f->path);
    g_free(f);
    return ok;
}

const char *snapfile_path(const SnapFile *f)
{
    return f->path;
}

/* ---- listing ---- */

int snapfile_count(const SnapFile *f)
{
    return qcow2_snapshot_count(f->q);
}

bool snapfile_info(const SnapFile *f, int index, SnapFileInfo *info)
{
    Qcow2SnapInfo qi;
    if (!qcow2_snapshot_info(f->q, index, &qi))
        return false;
    info->id = qi.id;
    info->name = qi.name;
    info->icount = qi.icount;
    info->bytes = qi.vm_state_size;
    info->date_sec = qi.date_sec;
    info->machine = qi.vm_state_size >= 2 * PAGE && qi.icount != UINT64_MAX;
    return true;
}

int snapfile_find(const SnapFile *f, const char *name_or_id)
{
    return qcow2_snapshot_find(f->q, name_or_id);
}

int snapfile_find_before(const SnapFile *f, uint64_t icount)
{
    int best = -1;
    uint64_t best_ic = 0;
    for (int i = 0; i < snapfile_count(f); i++) {
        SnapFileInfo in;
        if (snapfile_info(f, i, &in) && in.machine && in.icount <= icount &&
            (best < 0 || in.icount > best_ic)) {
            best = i;
            best_ic = in.icount;
        }
    }
    return best;
}

static int base_index(const SnapFile *f)
{
    if (!f->base_id)
        return -1;
    for (int i = 0; i < snapfile_count(f); i++) {
        Qcow2SnapInfo qi;
        if (qcow2_snapshot_info(f->q, i, &qi) && !strcmp(qi.id, f->base_id))
            return i;
    }
    return -1;
}

/* ---- saving ---- */

/* True when page vp of snapshot idx holds exactly data (a present page;
 * for a disk, present means not absent). */
static bool same_as_base(SnapFile *f, int idx, uint64_t vp, const uint8_t *data, uint8_t *buf)
{
    Qcow2PageKind k = qcow2_page_kind(f->q, idx, vp, NULL, 0);
    if (k != QCOW2_DATA && k != QCOW2_ZERO)
        return false;
    if (!qcow2_read_page(f->q, idx, vp, buf, NULL, 0))
        return false;
    return memcmp(buf, data, PAGE) == 0;
}

typedef struct SaveCtx {
    SnapFile *f;
    Qcow2Build *b;
    int base;               /* -1: none */
    const Layout *L;
    uint64_t *nh;           /* the new snapshot's checksums */
    uint8_t *hash_dirty;    /* one flag per page of the checksum region */
    uint8_t buf[PAGE];
    char *err;
    size_t errlen;
    uint64_t written;       /* pages stored anew */
} SaveCtx;

static void set_hash(SaveCtx *c, uint64_t g, uint64_t h)
{
    if (c->nh[g] != h) {
        c->nh[g] = h;
        c->hash_dirty[g / HASHES_PER_PAGE] = 1;
    }
}

static bool save_ram_page(SaveCtx *c, Machine *m, uint64_t p)
{
    const uint8_t *data = machine_ram_page(m, p);
    uint64_t vp = vm_page(c->L, p);
    if (page_is_zero(data)) {
        if (c->nh[p] != 0 || c->base < 0)
            qcow2_build_absent(c->b, vp);
        set_hash(c, p, 0);
        return true;
    }
    uint64_t h = page_hash(data);
    if (c->base >= 0 && c->nh[p] == h && same_as_base(c->f, c->base, vp, data, c->buf))
        return true;
    if (!qcow2_build_put(c->b, vp, data, c->err, c->errlen))
        return false;
    c->written++;
    set_hash(c, p, h);
    return true;
}

static bool save_disk_page(SaveCtx *c, Machine *m, int d, uint64_t p)
{
    uint64_t g = disk_first(c->L, d) + p;
    uint64_t vp = vm_page(c->L, g);
    const uint8_t *data = machine_disk_page(m, d, p);
    if (!data) {
        if (c->nh[g] != 0 || c->base < 0)
            qcow2_build_absent(c->b, vp);
        set_hash(c, g, 0);
        return true;
    }
    uint64_t h = page_hash(data);
    if (c->base >= 0 && c->nh[g] == h && same_as_base(c->f, c->base, vp, data, c->buf))
        return true;
    if (page_is_zero(data)) {
        qcow2_build_zero(c->b, vp);
    } else {
        if (!qcow2_build_put(c->b, vp, data, c->err, c->errlen))
            return false;
        c->written++;
    }
    set_hash(c, g, h);
    return true;
}

/* Writes `len` bytes at VM state offset off (page aligned), the last page
 * padded with zeros. */
static bool put_bytes(SaveCtx *c, uint64_t off, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t done = 0; done < len; done += PAGE) {
        size_t n = len - done < PAGE ? len - done : PAGE;
        memset(c->buf, 0, PAGE);
        memcpy(c->buf, p + done, n);
        if (!qcow2_build_put(c->b, off / PAGE + done / PAGE, c->buf, c->err, c->errlen))
            return false;
    }
    return true;
}

static bool save_pages(SaveCtx *c, Machine *m, bool tracked)
{
    const Layout *L = c->L;
    /* tracked and with a base: only the pages written since it */
    const uint64_t *rd = tracked && c->base >= 0 ? machine_ram_dirty_bitmap(m) : NULL;
    if (rd) {
        for (uint64_t w = 0; w < (L->ram_pages + 63) / 64; w++) {
            for (uint64_t bits = rd[w]; bits; bits &= bits - 1) {
                uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
                if (p < L->ram_pages && !save_ram_page(c, m, p))
                    return false;
            }
        }
    } else {
        /* RAM the host never backed is zero: no need to read it */
        uint64_t *untouched = g_new(uint64_t, (L->ram_pages + 63) / 64 + 1);
        machine_ram_untouched(m, untouched);
        bool ok = true;
        for (uint64_t p = 0; p < L->ram_pages && ok; p++) {
            if ((untouched[p / 64] >> (p % 64)) & 1) {
                if (c->nh[p] != 0)
                    ok = save_ram_page(c, m, p);
                continue;
            }
            ok = save_ram_page(c, m, p);
        }
        g_free(untouched);
        if (!ok)
            return false;
    }
    for (int d = 0; d < L->ndisks; d++) {
        uint64_t n = L->disk_pages[d];
        if (tracked && c->base >= 0) {
            const uint64_t *dd = machine_disk_dirty_bitmap(m, d);
            for (uint64_t w = 0; w < (n + 63) / 64; w++) {
                for (uint64_t bits = dd[w]; bits; bits &= bits - 1) {
                    uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
                    if (p < n && !save_disk_page(c, m, d, p))
                        return false;
                }
            }
            continue;
        }
        /* every page the overlay has, and every page the base had */
        uint64_t g0 = disk_first(L, d);
        uint64_t next = machine_disk_next_page(m, d, 0);
        for (uint64_t p = 0; p < n; p++) {
            if (p == next)
                next = machine_disk_next_page(m, d, p + 1);
            else if (!c->nh[g0 + p])
                continue;
            if (!save_disk_page(c, m, d, p))
                return false;
        }
    }
    return true;
}

static void fill_header(uint8_t *h, Machine *m, const Layout *L, uint32_t state_crc,
                        const void *pos, size_t pos_len)
{
    memset(h, 0, PAGE);
    memcpy(h + H_MAGIC, SF_MAGIC, 8);
    put_le32(h + H_FORMAT, SF_FORMAT);
    char build[32];
    build_string(build);
    memcpy(h + H_BUILD, build, 32);
    put_le64(h + H_ICOUNT, machine_icount(m));
    put_le64(h + H_STATE_HASH, machine_state_hash(m));
    put_le64(h + H_RAM_PAGES, L->ram_pages);
    put_le32(h + H_NHARTS, (uint32_t)machine_nharts(m));
    put_le32(h + H_NDISKS, (uint32_t)L->ndisks);
    put_le64(h + H_STATE_OFF, L->state_off);
    put_le64(h + H_STATE_LEN, L->state_len);
    put_le32(h + H_STATE_CRC, state_crc);
    put_le32(h + H_POS_LEN, (uint32_t)pos_len);
    memcpy(h + H_POS, pos, pos_len);
    put_le64(h + H_HASH_OFF, L->hash_off);
    put_le64(h + H_RAM_OFF, L->ram_off);
    put_le64(h + H_VCLOCK, machine_vclock_ns(m));
    for (int d = 0; d < L->ndisks; d++) {
        put_le64(h + H_DISKS + 16 * d, L->disk_off[d]);
        put_le64(h + H_DISKS + 16 * d + 8, L->disk_pages[d]);
    }
    put_le32(h + H_CRC, (uint32_t)crc32(0, h, PAGE));
}

int snapfile_save(SnapFile *f, Machine *m, const char *name, const void *pos, size_t pos_len,
                  bool tracked, char *err, size_t errlen)
{
    if (pos_len > SNAPFILE_POS_MAX) {
        set_err(err, errlen, "%s: log position of %zu bytes (at most %d)", f->path, pos_len,
                SNAPFILE_POS_MAX);
        return -1;
    }
    if (snapfile_find(f, name) >= 0) {
        set_err(err, errlen, "%s: a snapshot named '%s' exists already", f->path, name);
        return -1;
    }
    MachineState *st = machine_state_save(m);
    size_t state_len;
    const void *state = machine_state_bytes(st, &state_len);
    Layout L;
    if (!layout_for(&L, m, state_len, err, errlen)) {
        machine_state_free(st);
        return -1;
    }
    int base = base_index(f);
    if (base >= 0 && !layout_equal(&L, &f->base_layout))
        base = -1;      /* another machine: nothing to share */

    SaveCtx *c = g_new0(SaveCtx, 1);
    c->f = f;
    c->base = base;
    c->L = &L;
    c->err = err;
    c->errlen = errlen;
    c->nh = base >= 0 ? g_memdup2(f->hashes, L.total_pages * 8)
                      : g_new0(uint64_t, L.total_pages ? L.total_pages : 1);
    uint64_t hash_pages = (L.total_pages + HASHES_PER_PAGE - 1) / HASHES_PER_PAGE;
    c->hash_dirty = g_new0(uint8_t, hash_pages ? hash_pages : 1);
    int idx = -1;
    c->b = qcow2_build_begin(f->q, base, L.size, err, errlen);
    if (!c->b)
        goto out;
    if (!save_pages(c, m, tracked))
        goto out;
    for (uint64_t k = 0; k < hash_pages; k++) {
        if (!c->hash_dirty[k])
            continue;
        uint64_t n = L.total_pages - k * HASHES_PER_PAGE;
        if (n > HASHES_PER_PAGE)
            n = HASHES_PER_PAGE;
        uint8_t page[PAGE] = { 0 };
        for (uint64_t i = 0; i < n; i++)
            put_le64(page + 8 * i, c->nh[k * HASHES_PER_PAGE + i]);
        if (!qcow2_build_put(c->b, L.hash_off / PAGE + k, page, err, errlen))
            goto out;
    }
    if (!put_bytes(c, L.state_off, state, state_len))
        goto out;
    uint8_t h[PAGE];
    fill_header(h, m, &L, (uint32_t)crc32(0, state, (uInt)state_len), pos, pos_len);
    if (!qcow2_build_put(c->b, 0, h, err, errlen))
        goto out;
    idx = qcow2_build_commit(c->b, name, machine_icount(m), machine_vclock_ns(m), err, errlen);
    c->b = NULL;
    if (idx < 0)
        goto out;
    /* the new snapshot is the base of the next one */
    Qcow2SnapInfo qi;
    qcow2_snapshot_info(f->q, idx, &qi);
    forget_base(f);
    f->base_id = g_strdup(qi.id);
    f->hashes = c->nh;
    c->nh = NULL;
    f->base_layout = L;
    if (tracked) {
        machine_ram_clear_dirty(m);
        for (int d = 0; d < L.ndisks; d++)
            machine_disk_clear_dirty(m, d);
    }
out:
    if (c->b)
        qcow2_build_abort(c->b);
    g_free(c->nh);
    g_free(c->hash_dirty);
    g_free(c);
    machine_state_free(st);
    return idx;
}

/* ---- loading ---- */

typedef struct LoadCtx {
    SnapFile *f;
    int idx;
    const char *name;
    Layout L;
    uint64_t *nh;
    uint8_t buf[PAGE];
    char *err;
    size_t errlen;
} LoadCtx;

static bool G_GNUC_PRINTF(2, 3) load_fail(LoadCtx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_err(c->err, c->errlen, "%s: snapshot '%s': %s", c->f->path, c->name, why);
    g_free(why);
    return false;
}

/* Header and machine shape. */
static bool load_header(LoadCtx *c, const Machine *m, uint8_t *h, uint64_t vm_size)
{
    char e[512];
    if (vm_size < 2 * PAGE)
        return load_fail(c, "holds no machine state (%" PRIu64 " bytes)", vm_size);
    if (!qcow2_read_vmstate(c->f->q, c->idx, 0, h, PAGE, e, sizeof e))
        return load_fail(c, "%s", e);
    if (memcmp(h + H_MAGIC, SF_MAGIC, 8) != 0)
        return load_fail(c, "not a Rewind machine snapshot (bad magic)");
    uint32_t crc = get_le32(h + H_CRC);
    put_le32(h + H_CRC, 0);
    if (crc != (uint32_t)crc32(0, h, PAGE))
        return load_fail(c, "header checksum mismatch: the file is damaged");
    if (get_le32(h + H_FORMAT) != SF_FORMAT)
        return load_fail(c, "snapshot format %" PRIu32 ", this Rewind reads %u",
                         get_le32(h + H_FORMAT), SF_FORMAT);
    char build[32];
    build_string(build);
    if (memcmp(h + H_BUILD, build, 32) != 0 || h[H_BUILD + 31] != 0)
        return load_fail(c, "written by %.31s, this is %s: its machine state cannot be read "
                         "(replay from the start instead)", (const char *)h + H_BUILD, build);
    if (get_le32(h + H_NHARTS) != (uint32_t)machine_nharts(m) ||
        get_le64(h + H_RAM_PAGES) != machine_ram_pages(m) ||
        get_le32(h + H_NDISKS) != (uint32_t)machine_ndisks(m))
        return load_fail(c, "a machine with %" PRIu32 " harts, %" PRIu64 " KiB of RAM and %"
                         PRIu32 " disks; this one has %d, %" PRIu64 " KiB and %d",
                         get_le32(h + H_NHARTS), get_le64(h + H_RAM_PAGES) * 4, get_le32(h + H_NDISKS),
                         machine_nharts(m), machine_ram_pages(m) * 4, machine_ndisks(m));
    uint64_t state_len = get_le64(h + H_STATE_LEN);
    if (state_len > 64u << 20)
        return load_fail(c, "impossible machine state size %" PRIu64, state_len);
    if (!layout_for(&c->L, m, state_len, e, sizeof e))
        return load_fail(c, "%s", e);
    bool same = get_le64(h + H_STATE_OFF) == c->L.state_off &&
                get_le64(h + H_HASH_OFF) == c->L.hash_off && get_le64(h + H_RAM_OFF) == c->L.ram_off;
    for (int d = 0; d < c->L.ndisks; d++)
        same = same && get_le64(h + H_DISKS + 16 * d) == c->L.disk_off[d] &&
               get_le64(h + H_DISKS + 16 * d + 8) == c->L.disk_pages[d];
    if (!same)
        return load_fail(c, "its layout does not match this machine (different disks?)");
    if (vm_size < c->L.size)
        return load_fail(c, "VM state of %" PRIu64 " bytes, the machine needs %" PRIu64,
                         vm_size, c->L.size);
    if (get_le32(h + H_POS_LEN) > SNAPFILE_POS_MAX)
        return load_fail(c, "impossible log position length %" PRIu32, get_le32(h + H_POS_LEN));
    return true;
}

/* Reads global page g as the snapshot has it into c->buf; *present says
 * whether it is there at all (for disks: in the overlay). Checks it
 * against its checksum. */
static bool read_checked(LoadCtx *c, uint64_t g, bool *present)
{
    char e[512];
    uint64_t vp = vm_page(&c->L, g);
    Qcow2PageKind k = qcow2_page_kind(c->f->q, c->idx, vp, e, sizeof e);
    if (k == QCOW2_BAD)
        return load_fail(c, "%s", e);
    bool ram = g < c->L.ram_pages;
    uint64_t want = c->nh[g];
    if (k == QCOW2_ABSENT) {
        *present = false;
        memset(c->buf, 0, PAGE);
        if (want != 0)
            return load_fail(c, "page %" PRIu64 " of its VM state is missing", vp);
        return true;
    }
    if (!qcow2_read_page(c->f->q, c->idx, vp, c->buf, e, sizeof e))
        return load_fail(c, "%s", e);
    *present = true;
    if (ram && want == 0) {
        /* RAM pages with no checksum must be zero */
        if (!page_is_zero(c->buf))
            return load_fail(c, "page %" PRIu64 " of its VM state has no checksum", vp);
        return true;
    }
    if (page_hash(c->buf) != want)
        return load_fail(c, "checksum mismatch in page %" PRIu64 " of its VM state (%s %"
                         PRIu64 "): the file is damaged", vp, ram ? "RAM page" : "disk page",
                         ram ? g : g - c->L.ram_pages);
    return true;
}

/* Pass 1: every page the snapshot holds or should hold is read and
 * checked; nothing changes. */
static bool verify_pages(LoadCtx *c)
{
    const Layout *L = &c->L;
    /* stored pages: every present page must check out ... */
    for (uint64_t g = 0; g < L->total_pages; g++) {
        bool present;
        if (c->nh[g] == 0) {
            /* ... pages without a checksum are skipped here and caught
             * below if the file has them anyway */
            continue;
        }
        if (!read_checked(c, g, &present))
            return false;
    }
    /* pages the file has that the checksums say it should not */
    uint64_t first = L->ram_off / PAGE;
    for (uint64_t vp = qcow2_next_present(c->f->q, c->idx, first); vp != UINT64_MAX;
         vp = qcow2_next_present(c->f->q, c->idx, vp + 1)) {
        uint64_t g = UINT64_MAX;
        if (vp < first + L->ram_pages) {
            g = vp - first;
        } else {
            for (int d = 0; d < L->ndisks; d++) {
                uint64_t d0 = L->disk_off[d] / PAGE;
                if (vp >= d0 && vp < d0 + L->disk_pages[d])
                    g = disk_first(L, d) + (vp - d0);
            }
        }
        if (g == UINT64_MAX || c->nh[g] != 0)
            continue;
        bool present;
        if (!read_checked(c, g, &present))
            return false;
        if (g >= L->ram_pages)
            return load_fail(c, "disk page %" PRIu64 " has no checksum", g - L->ram_pages);
    }
    return true;
}

/* Pass 2: the machine takes the snapshot's pages (only those that
 * differ). Reads were checked in pass 1; a read failing now (the file
 * changed under us) leaves a page as it was and is reported. */
static bool apply_pages(LoadCtx *c, Machine *m, bool tracked)
{
    const Layout *L = &c->L;
    bool ok = true;
    uint64_t *untouched = g_new(uint64_t, (L->ram_pages + 63) / 64 + 1);
    machine_ram_untouched(m, untouched);
    for (uint64_t p = 0; p < L->ram_pages; p++) {
        /* zero here and in the snapshot: nothing to read or write */
        if (c->nh[p] == 0 && ((untouched[p / 64] >> (p % 64)) & 1))
            continue;
        const uint8_t *cur = machine_ram_page(m, p);
        const uint8_t *want = zero_page;
        if (c->nh[p] != 0) {
            bool present;
            if (!read_checked(c, p, &present)) {
                ok = false;
                continue;
            }
            want = c->buf;
        }
        if (memcmp(cur, want, PAGE) == 0)
            continue;
        machine_ram_write_page(m, p, want);
        if (!tracked)
            machine_ram_mark_dirty(m, p);
    }
    g_free(untouched);
    for (int d = 0; d < L->ndisks; d++) {
        uint64_t g0 = disk_first(L, d);
        for (uint64_t p = 0; p < L->disk_pages[d]; p++) {
            const uint8_t *cur = machine_disk_page(m, d, p);
            if (c->nh[g0 + p] == 0) {
                if (cur) {
                    machine_disk_restore_page(m, d, p, NULL);
                    if (!tracked)
                        machine_disk_mark_dirty(m, d, p);
                }
                continue;
            }
            bool present;
            if (!read_checked(c, g0 + p, &present)) {
                ok = false;
                continue;
            }
            if (cur && memcmp(cur, c->buf, PAGE) == 0)
                continue;
            machine_disk_restore_page(m, d, p, c->buf);
            if (!tracked)
                machine_disk_mark_dirty(m, d, p);
        }
    }
    return ok;
}

bool snapfile_load(SnapFile *f, int index, Machine *m, void *pos, size_t *pos_len, bool tracked,
                   char *err, size_t errlen)
{
    Qcow2SnapInfo qi;
    if (!qcow2_snapshot_info(f->q, index, &qi)) {
        set_err(err, errlen, "%s: no snapshot number %d", f->path, index);
        return false;
    }
    LoadCtx *c = g_new0(LoadCtx, 1);
    c->f = f;
    c->idx = index;
    c->name = qi.name;
    c->err = err;
    c->errlen = errlen;
    bool ok = false;
    uint8_t *h = g_malloc(PAGE);
    uint8_t *state = NULL;
    MachineState *st = NULL;
    char e[512];
    if (!load_header(c, m, h, qi.vm_state_size))
        goto out;
    uint64_t state_len = c->L.state_len;
    state = g_malloc(state_len ? state_len : 1);
    if (!qcow2_read_vmstate(f->q, index, c->L.state_off, state, state_len, e, sizeof e)) {
        load_fail(c, "%s", e);
        goto out;
    }
    if ((uint32_t)crc32(0, state, (uInt)state_len) != get_le32(h + H_STATE_CRC)) {
        load_fail(c, "machine state checksum mismatch: the file is damaged");
        goto out;
    }
    st = machine_state_from_bytes(m, state, state_len, e, sizeof e);
    if (!st) {
        load_fail(c, "%s", e);
        goto out;
    }
    if (machine_state_icount(st) != get_le64(h + H_ICOUNT) || get_le64(h + H_ICOUNT) != qi.icount) {
        load_fail(c, "icounts disagree (table %" PRIu64 ", header %" PRIu64 ", state %" PRIu64
                  ")", qi.icount, get_le64(h + H_ICOUNT), machine_state_icount(st));
        goto out;
    }
    uint64_t total = c->L.total_pages;
    c->nh = g_new0(uint64_t, total ? total : 1);
    uint8_t *raw = g_malloc(total * 8 + 1);
    if (!qcow2_read_vmstate(f->q, index, c->L.hash_off, raw, total * 8, e, sizeof e)) {
        g_free(raw);
        load_fail(c, "%s", e);
        goto out;
    }
    for (uint64_t g = 0; g < total; g++)
        c->nh[g] = get_le64(raw + 8 * g);
    g_free(raw);
    if (!verify_pages(c))
        goto out;

    /* everything checked: change the machine */
    bool pages_ok = apply_pages(c, m, tracked);
    machine_state_restore(m, st);
    if (machine_state_hash(m) != get_le64(h + H_STATE_HASH) && pages_ok) {
        load_fail(c, "the machine state does not hash as recorded");
        pages_ok = false;
    }
    if (tracked) {
        machine_ram_clear_dirty(m);
        for (int d = 0; d < c->L.ndisks; d++)
            machine_disk_clear_dirty(m, d);
    }
    size_t plen = get_le32(h + H_POS_LEN);
    memcpy(pos, h + H_POS, plen);
    *pos_len = plen;
    forget_base(f);
    f->base_id = g_strdup(qi.id);
    f->hashes = c->nh;
    c->nh = NULL;
    f->base_layout = c->L;
    ok = pages_ok;
out:
    machine_state_free(st);
    g_free(state);
    g_free(h);
    g_free(c->nh);
    g_free(c);
    return ok;
}

bool snapfile_delete(SnapFile *f, int index, char *err, size_t errlen)
{
    Qcow2SnapInfo qi;
    if (!qcow2_snapshot_info(f->q, index, &qi)) {
        set_err(err, errlen, "%s: no snapshot number %d", f->path, index);
        return false;
    }
    if (f->base_id && !strcmp(qi.id, f->base_id))
        forget_base(f);
    return qcow2_snapshot_delete(f->q, index, err, errlen);
}
