/* Disk images behind virtio-blk: a read-only base (a raw file, or a qcow2
 * chain: block_qcow2.c) and an in-memory overlay of 4 KiB pages.
 *
 * Where writes go (BlockWriteMode): straight into a raw file, as QEMU does
 * with a raw -drive (the image is then opened read-write), or into the
 * overlay: the first write to a page copies it from the base (read-modify-
 * write for a partial page), and from then on the page lives in the
 * overlay and hides the base. Reads take overlay pages where present and
 * the base elsewhere. Record and replay always use the overlay, so the
 * image is never written and a recording replays against the very bytes
 * it was made with.
 *
 * The overlay is a two-level table (a directory of 512-pointer chunks,
 * allocated on first use), so a large, mostly unwritten disk costs little.
 * A dirty bit per page is set on every guest write, in both modes;
 * snapshots/ reads and clears it (emulator.h, "disks, for snapshots").
 *
 * Raw images whose size is not a multiple of 512: QEMU rounds the visible
 * size up to whole sectors, reads the missing tail as zeros and extends the
 * file when the guest writes there; so does this. */
#include "block.h"
#include "emulator.h"
#include "block_qcow2.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#define DIR_PAGES 512u
#define X64 "0x%" G_GINT64_MODIFIER "x"
#define U64 "%" G_GUINT64_FORMAT

struct BlockDev {
    char *path;
    BlockFormat fmt;
    bool readonly;
    BlockWriteMode mode;
    int fd;                 /* raw image, -1 for qcow2 */
    uint64_t file_size;     /* raw image: bytes in the file */
    Qcow2 *q;
    uint64_t size, npages;

    uint8_t ***dir;         /* overlay: dir[n / DIR_PAGES][n % DIR_PAGES] */
    uint64_t ndir;
    uint64_t overlay_count;
    uint64_t *dirty;        /* one bit per page, never NULL */
    uint64_t dirty_words;
};

static bool file_size_of(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return false;
    }
    if (S_ISREG(st.st_mode)) {
        *size = (uint64_t)st.st_size;
        return true;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        return false;
    *size = (uint64_t)end;
    return true;
}

bool block_probe_format(const char *path, BlockFormat *fmt, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    *fmt = qcow2_probe(fd) ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_RAW;
    close(fd);
    return true;
}

static void format_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes >= (1ull << 40) && bytes % (1ull << 40) == 0)
        snprintf(buf, len, U64 " TiB", bytes >> 40);
    else
        snprintf(buf, len, U64 " bytes", bytes);
}

BlockDev *block_open(const char *path, BlockFormat fmt, bool readonly, BlockWriteMode mode,
                     char *err, size_t errlen)
{
    if (fmt == BLOCK_FORMAT_QCOW2 && mode == BLOCK_WRITE_THROUGH) {
        snprintf(err, errlen, "%s: writing to qcow2 images is not supported; their writes "
                 "can only be kept in memory", path);
        return NULL;
    }
    BlockDev *b = g_new0(BlockDev, 1);
    b->path = g_strdup(path);
    b->fmt = fmt;
    b->readonly = readonly;
    b->mode = mode;
    b->fd = -1;
    if (fmt == BLOCK_FORMAT_QCOW2) {
        b->q = qcow2_open(path, err, errlen);
        if (!b->q)
            goto fail;
        b->size = qcow2_size(b->q);
    } else {
        /* the base is read-only unless the guest writes the file itself */
        bool rw = mode == BLOCK_WRITE_THROUGH && !readonly;
        b->fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (b->fd < 0 || !file_size_of(b->fd, &b->file_size)) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        b->size = (b->file_size + 511) & ~511ull;
    }
    if (b->size > BLOCK_MAX_SIZE) {
        char have[64], max[64];
        format_size(b->size, have, sizeof have);
        format_size(BLOCK_MAX_SIZE, max, sizeof max);
        snprintf(err, errlen, "%s: the disk is %s, more than Rewind supports (%s)", path, have,
                 max);
        goto fail;
    }
    b->npages = (b->size + BLOCK_PAGE_SIZE - 1) / BLOCK_PAGE_SIZE;
    b->ndir = (b->npages + DIR_PAGES - 1) / DIR_PAGES;
    b->dir = g_new0(uint8_t **, b->ndir ? b->ndir : 1);
    b->dirty_words = (b->npages + 63) / 64;
    b->dirty = g_new0(uint64_t, b->dirty_words ? b->dirty_words : 1);
    return b;

fail:
    block_close(b);
    return NULL;
}

static void overlay_clear(BlockDev *b)
{
    for (uint64_t d = 0; d < b->ndir; d++) {
        if (!b->dir[d])
            continue;
        for (unsigned i = 0; i < DIR_PAGES; i++)
            g_free(b->dir[d][i]);
        g_free(b->dir[d]);
        b->dir[d] = NULL;
    }
    b->overlay_count = 0;
}

void block_close(BlockDev *b)
{
    if (!b)
        return;
    if (b->dir)
        overlay_clear(b);
    g_free(b->dir);
    g_free(b->dirty);
    qcow2_close(b->q);
    if (b->fd >= 0)
        close(b->fd);
    g_free(b->path);
    g_free(b);
}

uint64_t block_size(const BlockDev *b)
{
    return b->size;
}

bool block_readonly(const BlockDev *b)
{
    return b->readonly;
}

const char *block_path(const BlockDev *b)
{
    return b->path;
}

BlockWriteMode block_write_mode(const BlockDev *b)
{
    return b->mode;
}

/* ---- the overlay ---- */

static uint8_t *overlay_get(const BlockDev *b, uint64_t page)
{
    uint8_t **chunk = b->dir[page / DIR_PAGES];
    return chunk ? chunk[page % DIR_PAGES] : NULL;
}

/* Puts p (owned from now on) as page n, or removes the page (p NULL). */
static void overlay_put(BlockDev *b, uint64_t page, uint8_t *p)
{
    uint8_t ***chunk = &b->dir[page / DIR_PAGES];
    if (!*chunk) {
        if (!p)
            return;
        *chunk = g_new0(uint8_t *, DIR_PAGES);
    }
    uint8_t **slot = &(*chunk)[page % DIR_PAGES];
    if (*slot)
        b->overlay_count--;
    g_free(*slot);
    *slot = p;
    if (p)
        b->overlay_count++;
}

static void mark_dirty(BlockDev *b, uint64_t page)
{
    b->dirty[page / 64] |= 1ull << (page % 64);
}

uint64_t block_pages(const BlockDev *b)
{
    return b->npages;
}

uint64_t block_overlay_count(const BlockDev *b)
{
    return b->overlay_count;
}

uint64_t block_overlay_next(const BlockDev *b, uint64_t from)
{
    for (uint64_t pg = from; pg < b->npages; pg++) {
        uint8_t **chunk = b->dir[pg / DIR_PAGES];
        if (!chunk)
            pg += DIR_PAGES - 1 - pg % DIR_PAGES;
        else if (chunk[pg % DIR_PAGES])
            return pg;
    }
    return UINT64_MAX;
}

const uint8_t *block_overlay_page(const BlockDev *b, uint64_t page)
{
    return page < b->npages ? overlay_get(b, page) : NULL;
}

void block_mark_dirty(BlockDev *b, uint64_t page)
{
    if (page < b->npages)
        mark_dirty(b, page);
}

const uint64_t *block_dirty_bitmap(const BlockDev *b)
{
    return b->dirty;
}

void block_clear_dirty(BlockDev *b)
{
    memset(b->dirty, 0, b->dirty_words * sizeof(uint64_t));
}

void block_set_overlay_page(BlockDev *b, uint64_t page, const void *data)
{
    if (page >= b->npages || b->mode != BLOCK_WRITE_OVERLAY)
        return;
    if (!data) {
        overlay_put(b, page, NULL);
        return;
    }
    uint8_t *p = overlay_get(b, page);
    if (p)
        memcpy(p, data, BLOCK_PAGE_SIZE);
    else
        overlay_put(b, page, g_memdup2(data, BLOCK_PAGE_SIZE));
}

/* ---- I/O ---- */

static bool check_range(const BlockDev *b, uint64_t offset, uint64_t len, char *err,
                        size_t errlen)
{
    if (offset <= b->size && len <= b->size - offset)
        return true;
    snprintf(err, errlen, "%s: access at " X64 " (" U64 " bytes) beyond the end of the disk ("
             U64 " bytes)", b->path, offset, len, b->size);
    return false;
}

static bool base_read(BlockDev *b, uint64_t offset, void *buf, uint64_t len, char *err,
                      size_t errlen)
{
    if (b->q)
        return qcow2_read(b->q, offset, buf, len, err, errlen);
    return image_pread(b->fd, b->path, offset, buf, len, err, errlen);
}

bool block_read(BlockDev *b, uint64_t offset, void *buf, uint64_t len, char *err,
                size_t errlen)
{
    if (!check_range(b, offset, len, err, errlen))
        return false;
    uint8_t *out = buf;
    /* runs of pages outside the overlay are read from the base at once */
    uint64_t run_start = offset, run_len = 0;
    while (len) {
        uint64_t page = offset / BLOCK_PAGE_SIZE;
        uint64_t within = offset % BLOCK_PAGE_SIZE;
        uint64_t n = BLOCK_PAGE_SIZE - within < len ? BLOCK_PAGE_SIZE - within : len;
        const uint8_t *p = overlay_get(b, page);
        if (p) {
            if (run_len && !base_read(b, run_start, out - run_len, run_len, err, errlen))
                return false;
            run_len = 0;
            memcpy(out, p + within, n);
        } else {
            if (!run_len)
                run_start = offset;
            run_len += n;
        }
        out += n;
        offset += n;
        len -= n;
    }
    return !run_len || base_read(b, run_start, out - run_len, run_len, err, errlen);
}

static bool write_through(BlockDev *b, uint64_t offset, const uint8_t *buf, uint64_t len,
                          char *err, size_t errlen)
{
    uint64_t off = offset, left = len;
    while (left) {
        size_t n = left > (1u << 30) ? (1u << 30) : (size_t)left;
        ssize_t done = pwrite(b->fd, buf, n, (off_t)off);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0) {
            snprintf(err, errlen, "%s: write at " X64 ": %s", b->path, off,
                     done < 0 ? strerror(errno) : "no progress");
            return false;
        }
        buf += done;
        off += (uint64_t)done;
        left -= (uint64_t)done;
    }
    if (off > b->file_size)
        b->file_size = off;     /* the last sector of an odd-sized image */
    for (uint64_t pg = offset / BLOCK_PAGE_SIZE; len && pg <= (offset + len - 1) / BLOCK_PAGE_SIZE;
         pg++)
        mark_dirty(b, pg);
    return true;
}

bool block_write(BlockDev *b, uint64_t offset, const void *buf, uint64_t len, char *err,
                 size_t errlen)
{
    if (b->readonly) {
        snprintf(err, errlen, "%s: the disk is read-only", b->path);
        return false;
    }
    if (!check_range(b, offset, len, err, errlen))
        return false;
    const uint8_t *in = buf;
    if (b->mode == BLOCK_WRITE_THROUGH)
        return write_through(b, offset, in, len, err, errlen);
    while (len) {
        uint64_t page = offset / BLOCK_PAGE_SIZE;
        uint64_t within = offset % BLOCK_PAGE_SIZE;
        uint64_t n = BLOCK_PAGE_SIZE - within < len ? BLOCK_PAGE_SIZE - within : len;
        uint8_t *p = overlay_get(b, page);
        if (!p) {
            /* first write to the page: start from the base's bytes, unless
             * the write covers them all; past the disk's end stays zero */
            p = g_malloc0(BLOCK_PAGE_SIZE);
            uint64_t start = page * BLOCK_PAGE_SIZE;
            uint64_t have = b->size - start < BLOCK_PAGE_SIZE ? b->size - start : BLOCK_PAGE_SIZE;
            if (n < have && !base_read(b, start, p, have, err, errlen)) {
                g_free(p);
                return false;
            }
            overlay_put(b, page, p);
        }
        memcpy(p + within, in, n);
        mark_dirty(b, page);
        in += n;
        offset += n;
        len -= n;
    }
    return true;
}

bool block_flush(BlockDev *b, char *err, size_t errlen)
{
    if (b->mode != BLOCK_WRITE_THROUGH || b->readonly || b->fd < 0)
        return true;
    if (fdatasync(b->fd) != 0) {
        snprintf(err, errlen, "%s: flush: %s", b->path, strerror(errno));
        return false;
    }
    return true;
}

char **block_image_files(const char *path, BlockFormat fmt, char *err, size_t errlen)
{
    GPtrArray *files = g_ptr_array_new();
    if (fmt == BLOCK_FORMAT_QCOW2) {
        Qcow2 *q = qcow2_open(path, err, errlen);
        if (!q) {
            g_ptr_array_free(files, TRUE);
            return NULL;
        }
        qcow2_chain_files(q, files);
        qcow2_close(q);
    } else {
        g_ptr_array_add(files, g_strdup(path));
    }
    g_ptr_array_add(files, NULL);
    return (char **)g_ptr_array_free(files, FALSE);
}

/* ---- the overlay file ----
 * Little-endian:
 *   0  8  magic "RWDSKOVL"
 *   8  4  version (1)
 *  12  4  page size (4096)
 *  16  8  disk size, bytes
 *  24  8  page count N
 *  32     N records: page index (u64), then the page's 4096 bytes, in
 *         strictly ascending page order
 *  end 4  CRC-32 (zlib's crc32) of every byte before it */

#define OVL_MAGIC "RWDSKOVL"
#define OVL_VERSION 1u
#define OVL_HEADER 32u
#define OVL_RECORD (8u + BLOCK_PAGE_SIZE)

static bool write_all(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n;
}

bool block_save_overlay(const BlockDev *b, const char *path, char *err, size_t errlen)
{
    /* written next to the target, then renamed: never a half-written file
     * under the final name */
    char *tmp = g_strdup_printf("%s.tmp-%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        g_free(tmp);
        return false;
    }
    uLong crc = crc32(0, Z_NULL, 0);
    uint8_t hdr[OVL_HEADER];
    memcpy(hdr, OVL_MAGIC, 8);
    put_le32(hdr + 8, OVL_VERSION);
    put_le32(hdr + 12, BLOCK_PAGE_SIZE);
    put_le64(hdr + 16, b->size);
    put_le64(hdr + 24, b->overlay_count);
    bool ok = write_all(f, hdr, sizeof hdr, &crc);
    for (uint64_t pg = block_overlay_next(b, 0); ok && pg != UINT64_MAX;
         pg = block_overlay_next(b, pg + 1)) {
        const uint8_t *p = overlay_get(b, pg);
        uint8_t idx[8];
        put_le64(idx, pg);
        ok = write_all(f, idx, 8, &crc) && write_all(f, p, BLOCK_PAGE_SIZE, &crc);
    }
    uint8_t tail[4];
    put_le32(tail, (uint32_t)crc);
    ok = ok && fwrite(tail, 1, 4, f) == 4;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        unlink(tmp);
    }
    g_free(tmp);
    return ok;
}

typedef struct LoadedPage {
    uint64_t index;
    uint8_t *data;
} LoadedPage;

static void loaded_free(GArray *pages)
{
    for (guint i = 0; i < pages->len; i++)
        g_free(g_array_index(pages, LoadedPage, i).data);
    g_array_free(pages, TRUE);
}

/* Reads exactly n bytes; false at the end of the file. */
static bool read_exact(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

bool block_load_overlay(BlockDev *b, const char *path, char *err, size_t errlen)
{
    if (b->mode != BLOCK_WRITE_OVERLAY) {
        snprintf(err, errlen, "%s: cannot load an overlay into %s, whose writes go to the "
                 "image file", path, b->path);
        return false;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    GArray *pages = g_array_new(FALSE, FALSE, sizeof(LoadedPage));
    uint64_t file_size = 0;
    uint8_t hdr[OVL_HEADER] = {0};
    size_t got = fread(hdr, 1, sizeof hdr, f);
    if (!file_size_of(fileno(f), &file_size)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (got < 8 || memcmp(hdr, OVL_MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a Rewind disk overlay (bad magic)", path);
        goto fail;
    }
    if (got < sizeof hdr) {
        snprintf(err, errlen, "%s: truncated overlay header (" U64 " bytes)", path, file_size);
        goto fail;
    }
    uint32_t version = get_le32(hdr + 8), page_size = get_le32(hdr + 12);
    uint64_t disk_size = get_le64(hdr + 16), count = get_le64(hdr + 24);
    if (version != OVL_VERSION) {
        snprintf(err, errlen, "%s: overlay format version %u is not supported (this Rewind "
                 "reads version %u)", path, version, OVL_VERSION);
        goto fail;
    }
    if (page_size != BLOCK_PAGE_SIZE) {
        snprintf(err, errlen, "%s: overlay page size %u is not supported (%u is)", path,
                 page_size, BLOCK_PAGE_SIZE);
        goto fail;
    }
    if (disk_size != b->size) {
        snprintf(err, errlen, "%s: the overlay is for a disk of " U64 " bytes, %s has " U64
                 " bytes", path, disk_size, b->path, b->size);
        goto fail;
    }
    if (count > b->npages) {
        snprintf(err, errlen, "%s: the overlay holds " U64 " pages, more than the disk's "
                 U64, path, count, b->npages);
        goto fail;
    }
    uint64_t want = OVL_HEADER + count * OVL_RECORD + 4;
    if (file_size < want) {
        snprintf(err, errlen, "%s: truncated overlay (" U64 " bytes, " U64 " expected for "
                 U64 " pages)", path, file_size, want, count);
        goto fail;
    }
    if (file_size > want) {
        snprintf(err, errlen, "%s: " U64 " unexpected bytes after the overlay's end", path,
                 file_size - want);
        goto fail;
    }

    uLong crc = crc32(0, hdr, sizeof hdr);
    for (uint64_t i = 0; i < count; i++) {
        uint8_t idx[8];
        LoadedPage lp = { 0, g_malloc(BLOCK_PAGE_SIZE) };
        g_array_append_val(pages, lp);
        if (!read_exact(f, idx, 8) ||
            !read_exact(f, g_array_index(pages, LoadedPage, i).data, BLOCK_PAGE_SIZE)) {
            snprintf(err, errlen, "%s: truncated overlay (page record " U64 " of " U64 ")",
                     path, i, count);
            goto fail;
        }
        g_array_index(pages, LoadedPage, i).index = get_le64(idx);
        crc = crc32(crc, idx, 8);
        crc = crc32(crc, g_array_index(pages, LoadedPage, i).data, BLOCK_PAGE_SIZE);
    }
    uint8_t tail[4];
    if (!read_exact(f, tail, 4)) {
        snprintf(err, errlen, "%s: truncated overlay (no CRC)", path);
        goto fail;
    }
    if (get_le32(tail) != (uint32_t)crc) {
        snprintf(err, errlen, "%s: overlay CRC mismatch (stored %08x, computed %08x): the file "
                 "is corrupt", path, get_le32(tail), (uint32_t)crc);
        goto fail;
    }
    /* a consistent file can still be wrong: check the indices before any
     * change to the disk */
    for (guint i = 0; i < pages->len; i++) {
        uint64_t idx = g_array_index(pages, LoadedPage, i).index;
        if (idx >= b->npages) {
            snprintf(err, errlen, "%s: overlay page " U64 " is beyond the disk's " U64
                     " pages", path, idx, b->npages);
            goto fail;
        }
        if (i && idx <= g_array_index(pages, LoadedPage, i - 1).index) {
            snprintf(err, errlen, "%s: overlay page " U64 " out of order", path, idx);
            goto fail;
        }
    }
    fclose(f);

    /* the overlay becomes the file's; every page that may have changed is
     * marked dirty, for a snapshot store watching the disk */
    for (uint64_t pg = block_overlay_next(b, 0); pg != UINT64_MAX;
         pg = block_overlay_next(b, pg + 1))
        mark_dirty(b, pg);
    overlay_clear(b);
    for (guint i = 0; i < pages->len; i++) {
        LoadedPage *lp = &g_array_index(pages, LoadedPage, i);
        overlay_put(b, lp->index, lp->data);
        mark_dirty(b, lp->index);
        lp->data = NULL;
    }
    g_array_free(pages, TRUE);
    return true;

fail:
    fclose(f);
    loaded_free(pages);
    return false;
}
