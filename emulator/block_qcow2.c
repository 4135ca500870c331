/* A read-only qcow2 reader (versions 2 and 3), after QEMU's
 * docs/interop/qcow2.txt.
 *
 * Guest offset -> cluster -> L1 entry -> L2 table (one cluster of
 * big-endian u64 entries) -> L2 entry, which says where the cluster is:
 *  - standard: bits 9-55 give the host offset of a whole cluster; 0 means
 *    unallocated, read from the backing file (zeros past its end, or with
 *    none); bit 0 (v3) means the cluster reads as zeros;
 *  - compressed (bit 62): a raw deflate stream at an unaligned host offset,
 *    x = 62 - (cluster_bits - 8) bits wide, followed by the number of
 *    512-byte sectors it spans beyond the first. It inflates to exactly
 *    one cluster; neighbouring streams may share a sector.
 * Refcounts only matter to writers and are not read.
 *
 * Trust nothing in the file: every table offset is checked for alignment
 * and against the file size before it is read, so a corrupt image gives
 * one line naming the file, the table and the guest offset, never a crash.
 * Data clusters must start inside the file; bytes past its end read as
 * zeros, as in QEMU (qemu-img writes the last cluster short).
 *
 * Backing files: a relative name is taken relative to the directory of the
 * image that names it, as QEMU does; the format comes from the backing
 * format extension or, without one, from the magic. Chains are followed
 * recursively, at most QCOW2_MAX_CHAIN deep, and a file met twice (same
 * device and inode) is a loop. */
#include "block_qcow2.h"
#include "emulator.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#define QCOW2_MAGIC 0x514649fbu         /* "QFI\xfb" */
#define V2_HEADER_LEN 72u
#define V3_HEADER_LEN 104u
#define MIN_CLUSTER_BITS 9u
#define MAX_CLUSTER_BITS 21u            /* 2 MiB, QEMU's limit */
#define MAX_L1_BYTES (32u << 20)        /* QEMU's limit */
#define MAX_BACKING_NAME 1023u

#define OFFSET_MASK 0x00fffffffffffe00ull   /* bits 9-55 of L1 and L2 entries */
#define L2E_COMPRESSED (1ull << 62)
#define L2E_ZERO 1ull

#define INCOMPAT_DIRTY (1ull << 0)
#define INCOMPAT_CORRUPT (1ull << 1)
#define INCOMPAT_DATA_FILE (1ull << 2)
#define INCOMPAT_COMPRESSION (1ull << 3)
#define INCOMPAT_EXTL2 (1ull << 4)

#define EXT_END 0x00000000u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_NAMES 0x6803f857u

#define L2_CACHE_SLOTS 16
#define L2_CACHE_BYTES (4u << 20)   /* fewer slots with large clusters */

#define X64 "0x%" G_GINT64_MODIFIER "x"

typedef struct L2Slot {
    uint64_t offset;        /* host offset of the table, 0 when empty */
    uint64_t used;          /* LRU clock */
    uint64_t *table;        /* host byte order */
} L2Slot;

struct Qcow2 {
    char *path;
    int fd;
    uint64_t file_size;
    uint32_t version;
    unsigned cluster_bits, l2_bits;
    uint64_t cluster_size;
    uint64_t size;          /* virtual size, rounded down to 512 as QEMU does */
    uint64_t *l1;           /* host byte order */
    uint32_t l1_size;

    L2Slot l2[L2_CACHE_SLOTS];
    int l2_slots;
    uint64_t clock;

    /* compressed clusters: the last one inflated, by its host offset */
    z_stream zs;
    bool zs_ready;
    uint8_t *zin, *zout;
    uint64_t zout_offset;   /* UINT64_MAX: none */

    /* backing file: a qcow2 chain, or a raw file; neither when bsize == 0
     * and !has_backing */
    bool has_backing;
    Qcow2 *bq;
    int bfd;
    char *bpath;
    uint64_t bfile_size;
    uint64_t bsize;
};

static bool file_size_of(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    if (S_ISREG(st.st_mode)) {
        *size = (uint64_t)st.st_size;
        return true;
    }
    off_t end = lseek(fd, 0, SEEK_END);     /* block devices */
    if (end < 0)
        return false;
    *size = (uint64_t)end;
    return true;
}

bool qcow2_probe(int fd)
{
    uint8_t magic[4];
    return pread(fd, magic, 4, 0) == 4 && get_be32(magic) == QCOW2_MAGIC;
}

/* ---- opening ---- */

typedef struct FileId {
    dev_t dev;
    ino_t ino;
} FileId;

/* Opens one file of a chain: -1 with errno set on failure, errno = ELOOP
 * when the file is already in the chain (ids). */
static int chain_open(const char *path, GArray *ids, uint64_t *file_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !file_size_of(fd, file_size)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    for (guint i = 0; i < ids->len; i++) {
        const FileId *id = &g_array_index(ids, FileId, i);
        if (id->dev == st.st_dev && id->ino == st.st_ino) {
            close(fd);
            errno = ELOOP;
            return -1;
        }
    }
    FileId id = { st.st_dev, st.st_ino };
    g_array_append_val(ids, id);
    return fd;
}

/* The feature name table's name for incompatible feature bit `bit`. */
static bool feature_name(const uint8_t *table, uint32_t len, unsigned bit, char *name,
                         size_t namelen)
{
    for (uint32_t i = 0; i + 48 <= len; i += 48) {
        if (table[i] != 0 || table[i + 1] != bit)
            continue;
        size_t n = strnlen((const char *)table + i + 2, 46);
        snprintf(name, namelen, "%.*s", (int)n, (const char *)table + i + 2);
        return true;
    }
    return false;
}

/* Refuses the incompatible features this reader does not implement, by
 * name. The dirty bit is fine: it only says the refcounts may be stale. */
static bool check_features(const Qcow2 *q, uint64_t incompat, const uint8_t *hdr,
                           uint32_t header_len, const uint8_t *names, uint32_t names_len,
                           char *err, size_t errlen)
{
    if (incompat & INCOMPAT_CORRUPT) {
        snprintf(err, errlen, "%s: the image is marked corrupt (qemu-img check -r all "
                 "repairs it)", q->path);
        return false;
    }
    if (incompat & INCOMPAT_DATA_FILE) {
        snprintf(err, errlen, "%s: qcow2 images with an external data file are not "
                 "supported", q->path);
        return false;
    }
    if (incompat & INCOMPAT_COMPRESSION) {
        unsigned type = header_len > V3_HEADER_LEN ? hdr[V3_HEADER_LEN] : 0;
        snprintf(err, errlen, "%s: qcow2 compression type %s is not supported (only zlib "
                 "is)", q->path, type == 1 ? "zstd" : "other than zlib");
        return false;
    }
    if (incompat & INCOMPAT_EXTL2) {
        snprintf(err, errlen, "%s: qcow2 extended L2 entries (subclusters) are not "
                 "supported", q->path);
        return false;
    }
    uint64_t unknown = incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE |
                                    INCOMPAT_COMPRESSION | INCOMPAT_EXTL2);
    if (unknown) {
        unsigned bit = (unsigned)__builtin_ctzll(unknown);
        char name[64];
        if (names && feature_name(names, names_len, bit, name, sizeof name))
            snprintf(err, errlen, "%s: unsupported qcow2 incompatible feature '%s' (bit %u)",
                     q->path, name, bit);
        else
            snprintf(err, errlen, "%s: unknown qcow2 incompatible feature bit %u", q->path,
                     bit);
        return false;
    }
    return true;
}

/* Where a backing file name points: relative names are relative to the
 * directory of the image naming them. NULL for names that are not local
 * files (json:, nbd:// ...). */
static char *backing_path(const char *image, const char *name)
{
    if (g_str_has_prefix(name, "file:"))
        name += 5;
    else {
        const char *colon = strchr(name, ':');
        const char *slash = strchr(name, '/');
        if (colon && (!slash || colon < slash))
            return NULL;
    }
    if (g_path_is_absolute(name))
        return g_strdup(name);
    char *dir = g_path_get_dirname(image);
    char *p = g_build_filename(dir, name, NULL);
    g_free(dir);
    return p;
}

static Qcow2 *open_layer(const char *path, int fd, uint64_t file_size, int depth, GArray *ids,
                         char *err, size_t errlen);

/* Opens the backing file named in the header of q. */
static bool open_backing(Qcow2 *q, const char *name, const char *format, int depth,
                         GArray *ids, char *err, size_t errlen)
{
    if (format && strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0) {
        snprintf(err, errlen, "%s: backing file %s has format '%s', which is not supported "
                 "(raw and qcow2 are)", q->path, name, format);
        return false;
    }
    char *bpath = backing_path(q->path, name);
    if (!bpath) {
        snprintf(err, errlen, "%s: backing file %s is not a local file", q->path, name);
        return false;
    }
    if (depth + 1 >= QCOW2_MAX_CHAIN) {
        snprintf(err, errlen, "%s: backing chain longer than %d images", q->path,
                 QCOW2_MAX_CHAIN);
        g_free(bpath);
        return false;
    }
    uint64_t bfile_size = 0;
    int bfd = chain_open(bpath, ids, &bfile_size);
    if (bfd < 0) {
        if (errno == ELOOP)
            snprintf(err, errlen, "%s: backing file %s makes a loop (it is already in the "
                     "chain)", q->path, name);
        else if (strcmp(bpath, name) != 0)
            snprintf(err, errlen, "%s: backing file %s (%s): %s", q->path, name, bpath,
                     strerror(errno));
        else
            snprintf(err, errlen, "%s: backing file %s: %s", q->path, name, strerror(errno));
        g_free(bpath);
        return false;
    }
    q->has_backing = true;
    bool is_qcow2 = format ? strcmp(format, "qcow2") == 0 : qcow2_probe(bfd);
    if (is_qcow2) {
        q->bq = open_layer(bpath, bfd, bfile_size, depth + 1, ids, err, errlen);
        g_free(bpath);
        if (!q->bq)
            return false;
        q->bsize = q->bq->size;
        return true;
    }
    q->bfd = bfd;
    q->bpath = bpath;
    q->bfile_size = bfile_size;
    q->bsize = (bfile_size + 511) & ~511ull;    /* as a raw image (block.c) */
    return true;
}

/* Takes ownership of fd (closed on failure too). */
static Qcow2 *open_layer(const char *path, int fd, uint64_t file_size, int depth, GArray *ids,
                         char *err, size_t errlen)
{
    Qcow2 *q = g_new0(Qcow2, 1);
    q->path = g_strdup(path);
    q->fd = fd;
    q->file_size = file_size;
    q->bfd = -1;
    q->zout_offset = UINT64_MAX;
    uint8_t *hdr = NULL;
    char *bname = NULL, *bformat = NULL;

    uint8_t fixed[V3_HEADER_LEN] = {0};
    if (!image_pread(fd, path, 0, fixed, sizeof fixed, err, errlen))
        goto fail;
    if (get_be32(fixed) != QCOW2_MAGIC || file_size < 4) {
        snprintf(err, errlen, "%s: not a qcow2 image", path);
        goto fail;
    }
    q->version = get_be32(fixed + 4);
    if (q->version != 2 && q->version != 3) {
        snprintf(err, errlen, "%s: qcow2 version %u is not supported (2 and 3 are)", path,
                 q->version);
        goto fail;
    }
    uint32_t header_len = q->version == 2 ? V2_HEADER_LEN : get_be32(fixed + 100);
    uint32_t min_len = q->version == 2 ? V2_HEADER_LEN : V3_HEADER_LEN;
    if (file_size < min_len || file_size < header_len) {
        snprintf(err, errlen, "%s: the qcow2 header is truncated (the file has %" G_GUINT64_FORMAT
                 " bytes)", path, file_size);
        goto fail;
    }
    q->cluster_bits = get_be32(fixed + 20);
    if (q->cluster_bits < MIN_CLUSTER_BITS || q->cluster_bits > MAX_CLUSTER_BITS) {
        snprintf(err, errlen, "%s: unsupported qcow2 cluster size (cluster_bits %u; 9 to 21 "
                 "are supported)", path, q->cluster_bits);
        goto fail;
    }
    q->cluster_size = 1ull << q->cluster_bits;
    q->l2_bits = q->cluster_bits - 3;
    if (q->version == 3 && (header_len < V3_HEADER_LEN || header_len % 8 ||
                            header_len > q->cluster_size)) {
        snprintf(err, errlen, "%s: invalid qcow2 header length %u", path, header_len);
        goto fail;
    }

    /* the first cluster: header, extensions, backing file name */
    uint64_t hdr_len = file_size < q->cluster_size ? file_size : q->cluster_size;
    hdr = g_malloc(hdr_len);
    if (!image_pread(fd, path, 0, hdr, hdr_len, err, errlen))
        goto fail;

    uint64_t backing_off = get_be64(hdr + 8);
    uint32_t backing_len = get_be32(hdr + 16);
    uint64_t ext_end = hdr_len;
    if (backing_off) {
        if (backing_len == 0 || backing_len > MAX_BACKING_NAME ||
            !range_inside(backing_off, backing_len, hdr_len) || backing_off < header_len) {
            snprintf(err, errlen, "%s: invalid backing file name (offset " X64 ", %u bytes)",
                     path, backing_off, backing_len);
            goto fail;
        }
        if (memchr(hdr + backing_off, 0, backing_len)) {
            snprintf(err, errlen, "%s: invalid backing file name (it holds a NUL byte)", path);
            goto fail;
        }
        bname = g_strndup((const char *)hdr + backing_off, backing_len);
        ext_end = backing_off;
    }

    /* header extensions (after the header, before the backing name) */
    const uint8_t *names = NULL;
    uint32_t names_len = 0;
    for (uint64_t pos = header_len; pos + 8 <= ext_end;) {
        uint32_t type = get_be32(hdr + pos), len = get_be32(hdr + pos + 4);
        if (type == EXT_END)
            break;
        if (!range_inside(pos + 8, len, ext_end)) {
            snprintf(err, errlen, "%s: qcow2 header extension 0x%08x at " X64 " overruns the "
                     "header", path, type, pos);
            goto fail;
        }
        if (type == EXT_BACKING_FORMAT) {
            g_free(bformat);
            bformat = g_strndup((const char *)hdr + pos + 8, len);
        } else if (type == EXT_FEATURE_NAMES) {
            names = hdr + pos + 8;
            names_len = len;
        }
        pos += 8 + (((uint64_t)len + 7) & ~7ull);
    }

    uint32_t crypt = get_be32(hdr + 32);
    if (crypt) {
        snprintf(err, errlen, "%s: encrypted qcow2 images (%s) are not supported", path,
                 crypt == 1 ? "AES" : crypt == 2 ? "LUKS" : "unknown method");
        goto fail;
    }
    if (q->version == 3) {
        if (!check_features(q, get_be64(hdr + 72), hdr, header_len, names, names_len, err,
                            errlen))
            goto fail;
        if (get_be32(hdr + 96) > 6) {
            snprintf(err, errlen, "%s: invalid qcow2 refcount order %u", path, get_be32(hdr + 96));
            goto fail;
        }
    }

    /* virtual size and the L1 table */
    uint64_t size = get_be64(hdr + 24);
    if (size > (1ull << 56)) {
        snprintf(err, errlen, "%s: invalid qcow2 virtual size %" G_GUINT64_FORMAT, path, size);
        goto fail;
    }
    q->size = size & ~511ull;
    uint64_t clusters = (size + q->cluster_size - 1) >> q->cluster_bits;
    uint64_t l1_needed = (clusters + (1ull << q->l2_bits) - 1) >> q->l2_bits;
    q->l1_size = get_be32(hdr + 36);
    uint64_t l1_offset = get_be64(hdr + 40);
    if ((uint64_t)q->l1_size * 8 > MAX_L1_BYTES) {
        snprintf(err, errlen, "%s: qcow2 L1 table too large (%u entries)", path, q->l1_size);
        goto fail;
    }
    if (q->l1_size < l1_needed) {
        snprintf(err, errlen, "%s: qcow2 L1 table too small for the virtual size (%u entries, "
                 "%" G_GUINT64_FORMAT " needed)", path, q->l1_size, l1_needed);
        goto fail;
    }
    if (q->l1_size) {
        if (l1_offset & (q->cluster_size - 1)) {
            snprintf(err, errlen, "%s: L1 table at " X64 " is not aligned to a cluster", path,
                     l1_offset);
            goto fail;
        }
        if (!range_inside(l1_offset, (uint64_t)q->l1_size * 8, file_size)) {
            snprintf(err, errlen, "%s: L1 table at " X64 " lies outside the file (%"
                     G_GUINT64_FORMAT " bytes)", path, l1_offset, file_size);
            goto fail;
        }
        q->l1 = g_new(uint64_t, q->l1_size);
        if (!image_pread(fd, path, l1_offset, q->l1, (uint64_t)q->l1_size * 8, err, errlen))
            goto fail;
        for (uint32_t i = 0; i < q->l1_size; i++)
            q->l1[i] = GUINT64_FROM_BE(q->l1[i]);
    }

    q->l2_slots = (int)(L2_CACHE_BYTES >> q->cluster_bits);
    if (q->l2_slots > L2_CACHE_SLOTS)
        q->l2_slots = L2_CACHE_SLOTS;
    if (q->l2_slots < 2)
        q->l2_slots = 2;

    if (bname && !open_backing(q, bname, bformat, depth, ids, err, errlen))
        goto fail;
    g_free(hdr);
    g_free(bname);
    g_free(bformat);
    return q;

fail:
    g_free(hdr);
    g_free(bname);
    g_free(bformat);
    qcow2_close(q);
    return NULL;
}

Qcow2 *qcow2_open(const char *path, char *err, size_t errlen)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(FileId));
    uint64_t file_size = 0;
    int fd = chain_open(path, ids, &file_size);
    Qcow2 *q = NULL;
    if (fd < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    else
        q = open_layer(path, fd, file_size, 0, ids, err, errlen);
    g_array_free(ids, TRUE);
    return q;
}

void qcow2_close(Qcow2 *q)
{
    if (!q)
        return;
    qcow2_close(q->bq);
    if (q->bfd >= 0)
        close(q->bfd);
    if (q->fd >= 0)
        close(q->fd);
    for (int i = 0; i < L2_CACHE_SLOTS; i++)
        g_free(q->l2[i].table);
    if (q->zs_ready)
        inflateEnd(&q->zs);
    g_free(q->zin);
    g_free(q->zout);
    g_free(q->l1);
    g_free(q->bpath);
    g_free(q->path);
    g_free(q);
}

uint64_t qcow2_size(const Qcow2 *q)
{
    return q->size;
}

void qcow2_chain_files(const Qcow2 *q, GPtrArray *files)
{
    g_ptr_array_add(files, g_strdup(q->path));
    if (q->bq)
        qcow2_chain_files(q->bq, files);
    else if (q->bpath)
        g_ptr_array_add(files, g_strdup(q->bpath));
}

/* ---- reading ---- */

/* The L2 entry of the cluster holding guest offset `guest` (0 when its L2
 * table is not allocated). */
static bool l2_entry(Qcow2 *q, uint64_t guest, uint64_t *entry, char *err, size_t errlen)
{
    uint64_t cluster = guest >> q->cluster_bits;
    uint64_t l1i = cluster >> q->l2_bits;
    uint64_t l2i = cluster & ((1ull << q->l2_bits) - 1);
    *entry = 0;
    if (l1i >= q->l1_size)
        return true;
    uint64_t l2_offset = q->l1[l1i] & OFFSET_MASK;
    if (!l2_offset)
        return true;
    if (l2_offset & (q->cluster_size - 1)) {
        snprintf(err, errlen, "%s: L2 table at " X64 " for guest offset " X64 " is not aligned "
                 "to a cluster", q->path, l2_offset, guest);
        return false;
    }
    if (!range_inside(l2_offset, q->cluster_size, q->file_size)) {
        snprintf(err, errlen, "%s: L2 table at " X64 " for guest offset " X64 " lies outside "
                 "the file", q->path, l2_offset, guest);
        return false;
    }

    L2Slot *slot = NULL, *lru = &q->l2[0];
    for (int i = 0; i < q->l2_slots; i++) {
        if (q->l2[i].offset == l2_offset) {
            slot = &q->l2[i];
            break;
        }
        if (q->l2[i].used < lru->used)
            lru = &q->l2[i];
    }
    if (!slot) {
        slot = lru;
        if (!slot->table)
            slot->table = g_malloc(q->cluster_size);
        slot->offset = 0;
        if (!image_pread(q->fd, q->path, l2_offset, slot->table, q->cluster_size, err, errlen))
            return false;
        for (uint64_t i = 0; i < (1ull << q->l2_bits); i++)
            slot->table[i] = GUINT64_FROM_BE(slot->table[i]);
        slot->offset = l2_offset;
    }
    slot->used = ++q->clock;
    *entry = slot->table[l2i];
    return true;
}

/* Inflates the compressed cluster of L2 entry `entry` into q->zout. */
static bool inflate_cluster(Qcow2 *q, uint64_t entry, uint64_t guest, char *err, size_t errlen)
{
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t host = entry & ((1ull << x) - 1);
    uint64_t sectors = ((entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
    if (host == q->zout_offset)
        return true;
    if (host >= q->file_size) {
        snprintf(err, errlen, "%s: compressed cluster at " X64 " for guest offset " X64 " lies "
                 "outside the file", q->path, host, guest);
        return false;
    }
    /* the stream may end before the last sector does, or share it */
    uint64_t csize = sectors * 512 - (host & 511);
    if (csize > q->file_size - host)
        csize = q->file_size - host;
    if (!q->zin) {
        q->zin = g_malloc(2 * q->cluster_size);     /* the most sectors can cover */
        q->zout = g_malloc(q->cluster_size);
    }
    if (!q->zs_ready) {
        /* QEMU deflates with a 4 KiB window (-12); inflating with the
         * largest window accepts that and any smaller one */
        if (inflateInit2(&q->zs, -15) != Z_OK) {
            snprintf(err, errlen, "%s: zlib initialisation failed", q->path);
            return false;
        }
        q->zs_ready = true;
    }
    q->zout_offset = UINT64_MAX;
    if (!image_pread(q->fd, q->path, host, q->zin, csize, err, errlen))
        return false;
    inflateReset(&q->zs);
    q->zs.next_in = q->zin;
    q->zs.avail_in = (uInt)csize;
    q->zs.next_out = q->zout;
    q->zs.avail_out = (uInt)q->cluster_size;
    int ret = inflate(&q->zs, Z_FINISH);
    bool ok = (ret == Z_STREAM_END || ret == Z_OK || ret == Z_BUF_ERROR) &&
              q->zs.avail_out == 0;
    if (!ok) {
        snprintf(err, errlen, "%s: compressed cluster at " X64 " for guest offset " X64 " is "
                 "corrupt (%s)", q->path, host, guest,
                 ret == Z_DATA_ERROR && q->zs.msg ? q->zs.msg : "it inflates short");
        return false;
    }
    q->zout_offset = host;
    return true;
}

/* Guest bytes from the backing file: zeros past its end or without one. */
static bool read_backing(Qcow2 *q, uint64_t guest, uint8_t *buf, uint64_t len, char *err,
                         size_t errlen)
{
    uint64_t part = 0;
    if (q->has_backing && guest < q->bsize)
        part = len < q->bsize - guest ? len : q->bsize - guest;
    if (part) {
        bool ok = q->bq ? qcow2_read(q->bq, guest, buf, part, err, errlen)
                        : image_pread(q->bfd, q->bpath, guest, buf, part, err, errlen);
        if (!ok)
            return false;
    }
    memset(buf + part, 0, len - part);
    return true;
}

/* [guest, guest + len) lies in one cluster. */
static bool read_in_cluster(Qcow2 *q, uint64_t guest, uint8_t *buf, uint64_t len, char *err,
                            size_t errlen)
{
    uint64_t entry;
    if (!l2_entry(q, guest, &entry, err, errlen))
        return false;
    uint64_t within = guest & (q->cluster_size - 1);
    if (entry & L2E_COMPRESSED) {
        if (!inflate_cluster(q, entry, guest, err, errlen))
            return false;
        memcpy(buf, q->zout + within, len);
        return true;
    }
    if (entry & L2E_ZERO) {
        if (q->version < 3) {
            snprintf(err, errlen, "%s: zero cluster entry for guest offset " X64 " in a "
                     "version 2 image", q->path, guest);
            return false;
        }
        memset(buf, 0, len);
        return true;
    }
    uint64_t host = entry & OFFSET_MASK;
    if (!host)
        return read_backing(q, guest, buf, len, err, errlen);
    if (host & (q->cluster_size - 1)) {
        snprintf(err, errlen, "%s: data cluster at " X64 " for guest offset " X64 " is not "
                 "aligned to a cluster", q->path, host, guest);
        return false;
    }
    if (host >= q->file_size) {
        snprintf(err, errlen, "%s: data cluster at " X64 " for guest offset " X64 " lies "
                 "outside the file", q->path, host, guest);
        return false;
    }
    return image_pread(q->fd, q->path, host + within, buf, len, err, errlen);
}

bool qcow2_read(Qcow2 *q, uint64_t offset, void *buf, uint64_t len, char *err, size_t errlen)
{
    if (offset > q->size || len > q->size - offset) {
        snprintf(err, errlen, "%s: read at " X64 " beyond the end of the image", q->path,
                 offset);
        return false;
    }
    uint8_t *p = buf;
    while (len) {
        uint64_t room = q->cluster_size - (offset & (q->cluster_size - 1));
        uint64_t n = len < room ? len : room;
        if (!read_in_cluster(q, offset, p, n, err, errlen))
            return false;
        p += n;
        offset += n;
        len -= n;
    }
    return true;
}
