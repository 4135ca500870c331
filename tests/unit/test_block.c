/* The disk image layer (emulator/block.c, block_qcow2.c): images made at
 * test time by QEMU's own tools (qemu-img, qemu-io) read back byte for
 * byte: raw (odd size), qcow2 v3 and compat=0.10, small and large
 * clusters, compressed, backing chains (raw and qcow2, relative names,
 * zero clusters, a top larger than its base); the overlay (read-after-
 * write across page boundaries, the base file untouched, dirty bits,
 * restoring pages); write-through to raw files; corrupt images refused
 * with their messages, and randomly damaged ones read without a crash;
 * the overlay file's round trip and its checks. */
#include "block.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define RAW_SIZE (MIB + 1000)           /* not a multiple of 512 */
#define RAW_VSIZE (MIB + 1024)          /* what QEMU shows of it */

static char *tmpdir;
static bool have_qemu_img, have_qemu_io;

/* ---- helpers ---- */

static char *tpath(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a shell command in the temp dir; false (with the output logged) if
 * it fails. */
static bool sh_try(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static bool sh_try(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    char *out = NULL, *errout = NULL;
    int status = -1;
    GError *e = NULL;
    bool ok = g_spawn_sync(tmpdir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errout,
                           &status, &e) && g_spawn_check_wait_status(status, NULL);
    if (!ok)
        g_test_message("command failed: %s\n%s%s", cmd, out ? out : "",
                       errout ? errout : (e ? e->message : ""));
    g_clear_error(&e);
    g_free(out);
    g_free(errout);
    g_free(cmd);
    return ok;
}

#define sh(...) g_assert_true(sh_try(__VA_ARGS__))

static bool need_qemu_img(void)
{
    if (!have_qemu_img)
        g_test_skip("qemu-img not installed (Debian: qemu-utils)");
    return have_qemu_img;
}

/* Compressible, but different on every page. */
static uint8_t pat(uint64_t off)
{
    return (uint8_t)((off % 251) ^ (off / 4096) * 7);
}

static void fill_pattern(uint8_t *buf, uint64_t size)
{
    for (uint64_t i = 0; i < size; i++)
        buf[i] = pat(i);
}

static void write_file(const char *name, const void *data, uint64_t size)
{
    char *p = tpath(name);
    GError *e = NULL;
    g_assert_true(g_file_set_contents(p, data, (gssize)size, &e));
    g_free(p);
}

static void write_pattern_file(const char *name, uint64_t size)
{
    uint8_t *buf = g_malloc(size);
    fill_pattern(buf, size);
    write_file(name, buf, size);
    g_free(buf);
}

/* The expected contents of the raw base image as a disk (the tail past
 * the file reads as zeros). */
static uint8_t *raw_expect(uint64_t vsize)
{
    uint8_t *buf = g_malloc0(vsize);
    fill_pattern(buf, RAW_SIZE < vsize ? RAW_SIZE : vsize);
    return buf;
}

static char *file_hash(const char *name)
{
    char *p = tpath(name), *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    char *h = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
    g_free(data);
    g_free(p);
    return h;
}

static BlockDev *open_ok(const char *name, BlockFormat fmt, bool ro, BlockWriteMode mode)
{
    char *p = tpath(name), err[512] = "";
    BlockDev *b = block_open(p, fmt, ro, mode, err, sizeof err);
    if (!b)
        g_error("block_open %s: %s", name, err);
    g_free(p);
    return b;
}

/* Opens must fail with a message holding want. */
static void open_fails(const char *name, BlockFormat fmt, BlockWriteMode mode, const char *want)
{
    char *p = tpath(name), err[512] = "";
    BlockDev *b = block_open(p, fmt, false, mode, err, sizeof err);
    g_test_message("%s: %s", name, err);
    g_assert_null(b);
    if (!strstr(err, want))
        g_error("message for %s: \"%s\" lacks \"%s\"", name, err, want);
    g_assert_null(strchr(err, '\n'));
    g_free(p);
}

static void assert_bytes(const uint8_t *got, const uint8_t *want, uint64_t len, uint64_t base)
{
    if (memcmp(got, want, len) == 0)
        return;
    for (uint64_t i = 0; i < len; i++)
        if (got[i] != want[i])
            g_error("byte at %#" G_GINT64_MODIFIER "x: got %#x, want %#x", base + i, got[i],
                    want[i]);
}

/* The whole disk reads as want, in one go and in unaligned pieces. */
static void check_reads(BlockDev *b, const uint8_t *want, uint64_t size)
{
    char err[512];
    g_assert_cmpuint(block_size(b), ==, size);
    uint8_t *buf = g_malloc(size);
    if (!block_read(b, 0, buf, size, err, sizeof err))
        g_error("read: %s", err);
    assert_bytes(buf, want, size, 0);
    GRand *r = g_rand_new_with_seed(42);
    for (int i = 0; i < 300; i++) {
        uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)size);
        uint64_t len = (uint64_t)g_rand_int_range(r, 1, 3 * 4096);
        if (len > size - off)
            len = size - off;
        if (!block_read(b, off, buf, len, err, sizeof err))
            g_error("read at %#" G_GINT64_MODIFIER "x: %s", off, err);
        assert_bytes(buf, want + off, len, off);
    }
    g_rand_free(r);
    /* reading past the end fails */
    g_assert_false(block_read(b, size - 10, buf, 11, err, sizeof err));
    g_assert_nonnull(strstr(err, "beyond the end"));
    g_free(buf);
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t file_be64(const char *name, uint64_t off)
{
    char *p = tpath(name), *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    g_assert_cmpuint(off + 8, <=, len);
    uint64_t v = get_be((const uint8_t *)data + off, 8);
    g_free(data);
    g_free(p);
    return v;
}

static void patch_bytes(const char *name, uint64_t off, const void *bytes, size_t n)
{
    char *p = tpath(name);
    FILE *f = fopen(p, "r+b");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, (long)off, SEEK_SET), ==, 0);
    g_assert_cmpuint(fwrite(bytes, 1, n, f), ==, n);
    fclose(f);
    g_free(p);
}

static void patch_be64(const char *name, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    patch_bytes(name, off, b, 8);
}

static void copy_file(const char *from, const char *to)
{
    sh("cp '%s' '%s'", from, to);
}

/* Turns the backing format header extension of a qcow2 image into an
 * unknown one, as in images made before QEMU wrote it: the format of the
 * backing file is then probed. */
static void drop_backing_format(const char *name)
{
    char *p = tpath(name), *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    uint64_t pos = (get_be((const uint8_t *)data + 4, 4) == 3)
                       ? get_be((const uint8_t *)data + 100, 4) : 72;
    for (;;) {
        g_assert_cmpuint(pos + 8, <=, len);
        uint64_t type = get_be((const uint8_t *)data + pos, 4);
        uint64_t elen = get_be((const uint8_t *)data + pos + 4, 4);
        g_assert_cmphex(type, !=, 0);
        if (type == 0xe2792aca) {
            patch_bytes(name, pos, "\x12\x34\x56\x78", 4);
            break;
        }
        pos += 8 + ((elen + 7) & ~7ull);
    }
    g_free(data);
    g_free(p);
}

/* ---- raw ---- */

static void test_raw(void)
{
    write_pattern_file("base.raw", RAW_SIZE);
    BlockDev *b = open_ok("base.raw", BLOCK_FORMAT_RAW, true, BLOCK_WRITE_OVERLAY);
    uint8_t *want = raw_expect(RAW_VSIZE);
    check_reads(b, want, RAW_VSIZE);
    g_assert_true(block_readonly(b));
    g_assert_cmpuint(block_pages(b), ==, (RAW_VSIZE + 4095) / 4096);
    /* a read-only disk refuses writes */
    char err[512];
    g_assert_false(block_write(b, 0, want, 1, err, sizeof err));
    g_assert_nonnull(strstr(err, "read-only"));
    block_close(b);
    g_free(want);

    if (have_qemu_img) {
        /* QEMU shows the same size */
        sh("qemu-img info --output=json base.raw | grep -q '\"virtual-size\": %llu'",
           (unsigned long long)RAW_VSIZE);
    }

    char *p = tpath("base.raw"), **files = block_image_files(p, BLOCK_FORMAT_RAW, err,
                                                                sizeof err);
    g_assert_nonnull(files);
    g_assert_cmpuint(g_strv_length(files), ==, 1);
    g_assert_cmpstr(files[0], ==, p);
    g_strfreev(files);
    BlockFormat fmt = BLOCK_FORMAT_QCOW2;
    g_assert_true(block_probe_format(p, &fmt, err, sizeof err));
    g_assert_cmpint(fmt, ==, BLOCK_FORMAT_RAW);
    g_free(p);

    open_fails("missing.raw", BLOCK_FORMAT_RAW, BLOCK_WRITE_OVERLAY, "No such file");
    open_fails(".", BLOCK_FORMAT_RAW, BLOCK_WRITE_OVERLAY, "Is a directory");
}

/* ---- qcow2 made by qemu-img convert ---- */

static void check_converted(const char *name, const char *opts)
{
    write_pattern_file("base.raw", RAW_SIZE);
    sh("qemu-img convert -f raw -O qcow2 %s base.raw %s", opts, name);
    BlockDev *b = open_ok(name, BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    uint8_t *want = raw_expect(RAW_VSIZE);
    check_reads(b, want, RAW_VSIZE);
    char *p = tpath(name), err[256];
    BlockFormat fmt = BLOCK_FORMAT_RAW;
    g_assert_true(block_probe_format(p, &fmt, err, sizeof err));
    g_assert_cmpint(fmt, ==, BLOCK_FORMAT_QCOW2);
    g_free(p);
    block_close(b);
    g_free(want);
}

static void test_qcow2(void)
{
    if (!need_qemu_img())
        return;
    check_converted("v3.qcow2", "");
    g_assert_cmpuint(file_be64("v3.qcow2", 0) & 0xffffffff, ==, 3);
    check_converted("v2.qcow2", "-o compat=0.10");
    g_assert_cmpuint(file_be64("v2.qcow2", 0) & 0xffffffff, ==, 2);
    /* 512-byte clusters: 32 L2 tables, more than the L2 cache holds */
    check_converted("c512.qcow2", "-o cluster_size=512");
    check_converted("c2m.qcow2", "-o cluster_size=2M");
    /* an empty image reads as zeros */
    sh("qemu-img create -q -f qcow2 empty.qcow2 3M");
    BlockDev *b = open_ok("empty.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    uint8_t *zero = g_malloc0(3 * MIB);
    check_reads(b, zero, 3 * MIB);
    block_close(b);
    g_free(zero);
}

static void test_compressed(void)
{
    if (!need_qemu_img())
        return;
    check_converted("comp.qcow2", "-c");
    /* it really is compressed */
    char *p = tpath("comp.qcow2");
    GStatBuf st;
    g_assert_cmpint(g_stat(p, &st), ==, 0);
    g_test_message("compressed image: %lld bytes for %llu", (long long)st.st_size,
                   (unsigned long long)RAW_SIZE);
    g_assert_cmpint(st.st_size, <, (long long)RAW_SIZE / 2);
    g_free(p);
    check_converted("comp512.qcow2", "-c -o cluster_size=512");
    check_converted("comp2.qcow2", "-c -o compat=0.10");
}

/* ---- backing files ---- */

static void test_backing_raw(void)
{
    if (!need_qemu_img())
        return;
    write_pattern_file("base.raw", RAW_SIZE);
    /* a relative name, resolved against the image's directory (the test
     * opens it from elsewhere) */
    sh("qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 2M");
    uint8_t *want = raw_expect(2 * MIB);
    if (have_qemu_io) {
        sh("qemu-io -f qcow2 -c 'write -P 0xab 4k 8k' -c 'write -P 0x5c 1536k 3k' top.qcow2");
        memset(want + 4 * KIB, 0xab, 8 * KIB);
        memset(want + 1536 * KIB, 0x5c, 3 * KIB);
    }
    g_assert_cmpint(chdir("/"), ==, 0);
    BlockDev *b = open_ok("top.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    check_reads(b, want, 2 * MIB);
    block_close(b);
    /* without the backing format extension, the base is probed as raw */
    copy_file("top.qcow2", "top_probe.qcow2");
    drop_backing_format("top_probe.qcow2");
    b = open_ok("top_probe.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    check_reads(b, want, 2 * MIB);
    block_close(b);

    char err[512], *top = tpath("top.qcow2"), *base = tpath("base.raw");
    char **files = block_image_files(top, BLOCK_FORMAT_QCOW2, err, sizeof err);
    g_assert_nonnull(files);
    g_assert_cmpuint(g_strv_length(files), ==, 2);
    g_assert_cmpstr(files[0], ==, top);
    g_assert_cmpstr(files[1], ==, base);
    g_strfreev(files);
    g_free(top);
    g_free(base);
    g_free(want);

    /* a missing backing file */
    sh("qemu-img create -q -f qcow2 -u -b gone.raw -F raw orphan.qcow2 1M");
    open_fails("orphan.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY,
               "backing file gone.raw");
    open_fails("orphan.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "No such file");
}

static void test_backing_qcow2(void)
{
    if (!need_qemu_img())
        return;
    if (!have_qemu_io) {
        g_test_skip("qemu-io not installed");
        return;
    }
    write_pattern_file("base.raw", RAW_SIZE);
    sh("qemu-img convert -f raw -O qcow2 -c base.raw chain0.qcow2");
    sh("qemu-img create -q -f qcow2 -b chain0.qcow2 -F qcow2 chain1.qcow2");
    sh("qemu-io -f qcow2 -c 'write -P 0xcd 100k 5k' chain1.qcow2");
    /* the top has 4 KiB clusters and a zero cluster hiding its backing */
    sh("qemu-img create -q -f qcow2 -o cluster_size=4096 -b chain1.qcow2 -F qcow2 "
       "chain2.qcow2");
    sh("qemu-io -f qcow2 -c 'write -P 0xab 4k 8k' -c 'write -z 256k 64k' chain2.qcow2");
    uint8_t *want = raw_expect(RAW_VSIZE);
    memset(want + 100 * KIB, 0xcd, 5 * KIB);
    memset(want + 4 * KIB, 0xab, 8 * KIB);
    memset(want + 256 * KIB, 0, 64 * KIB);
    BlockDev *b = open_ok("chain2.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    check_reads(b, want, RAW_VSIZE);
    block_close(b);
    /* and probed as qcow2 without the extension */
    drop_backing_format("chain1.qcow2");
    b = open_ok("chain2.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    check_reads(b, want, RAW_VSIZE);
    block_close(b);
    g_free(want);

    /* the zero flag is really used (L2 entry of guest 256k in chain2) */
    uint64_t l1 = file_be64("chain2.qcow2", 40);
    uint64_t l2 = file_be64("chain2.qcow2", l1) & 0x00fffffffffffe00ull;
    uint64_t entry = file_be64("chain2.qcow2", l2 + (256 * KIB / 4096) * 8);
    g_assert_cmphex(entry & 1, ==, 1);

    char err[512], *top = tpath("chain2.qcow2");
    char **files = block_image_files(top, BLOCK_FORMAT_QCOW2, err, sizeof err);
    g_assert_nonnull(files);
    g_assert_cmpuint(g_strv_length(files), ==, 3);
    g_assert_true(g_str_has_suffix(files[1], "/chain1.qcow2"));
    g_assert_true(g_str_has_suffix(files[2], "/chain0.qcow2"));
    g_strfreev(files);
    g_free(top);
}

/* ---- the overlay ---- */

static void write_ok(BlockDev *b, uint64_t off, const void *data, uint64_t len)
{
    char err[512];
    if (!block_write(b, off, data, len, err, sizeof err))
        g_error("write at %#" G_GINT64_MODIFIER "x: %s", off, err);
}

static bool page_dirty(BlockDev *b, uint64_t page)
{
    return (block_dirty_bitmap(b)[page / 64] >> (page % 64)) & 1;
}

/* Writes that straddle pages, at odd offsets, into disk b, mirrored in
 * want. */
static void scribble(BlockDev *b, uint8_t *want, uint64_t size)
{
    static const struct { uint64_t off, len; uint8_t v; } w[] = {
        { 4090, 20, 0x11 },             /* across pages 0 and 1 */
        { 8191, 8194, 0x22 },           /* 1 byte of page 1, all of 2 and 3, 1 of 4 */
        { 20480, 4096, 0x33 },          /* exactly page 5 */
        { 20480 + 100, 7, 0x44 },       /* again, inside it */
        { 40000, 1, 0x55 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(w); i++) {
        uint8_t *buf = g_malloc(w[i].len);
        for (uint64_t j = 0; j < w[i].len; j++)
            buf[j] = (uint8_t)(w[i].v + j);
        write_ok(b, w[i].off, buf, w[i].len);
        memcpy(want + w[i].off, buf, w[i].len);
        g_free(buf);
    }
    /* the very last byte of the disk */
    uint8_t last = 0x66;
    write_ok(b, size - 1, &last, 1);
    want[size - 1] = last;
}

static void check_overlay(const char *name, BlockFormat fmt)
{
    char *before = file_hash(name);
    BlockDev *b = open_ok(name, fmt, false, BLOCK_WRITE_OVERLAY);
    uint64_t size = block_size(b);
    uint8_t *base = g_malloc(size), *want = g_malloc(size);
    char err[512];
    g_assert_true(block_read(b, 0, base, size, err, sizeof err));
    memcpy(want, base, size);
    g_assert_cmpuint(block_overlay_count(b), ==, 0);
    scribble(b, want, size);
    check_reads(b, want, size);

    /* pages 0 to 5, 9 and the last are in the overlay, and dirty */
    uint64_t last = block_pages(b) - 1;
    const uint64_t in[] = { 0, 1, 2, 3, 4, 5, 9, last };
    g_assert_cmpuint(block_overlay_count(b), ==, G_N_ELEMENTS(in));
    for (uint64_t pg = 0; pg <= last; pg++) {
        bool expect = false;
        for (size_t i = 0; i < G_N_ELEMENTS(in); i++)
            expect |= in[i] == pg;
        g_assert_cmpint(block_overlay_page(b, pg) != NULL, ==, expect);
        g_assert_cmpint(page_dirty(b, pg), ==, expect);
    }
    g_assert_cmpuint(block_overlay_next(b, 0), ==, 0);
    g_assert_cmpuint(block_overlay_next(b, 6), ==, 9);
    g_assert_cmpuint(block_overlay_next(b, 10), ==, last);
    g_assert_cmpuint(block_overlay_next(b, last + 1), ==, UINT64_MAX);
    /* the overlay page is the disk's bytes (page 1, read-modify-write) */
    assert_bytes(block_overlay_page(b, 1), want + 4096, 4096, 4096);

    block_clear_dirty(b);
    g_assert_false(page_dirty(b, 5));
    /* restoring: a page removed reads from the base again; one put back
     * holds what it is given; neither is marked dirty */
    block_set_overlay_page(b, 5, NULL);
    memcpy(want + 5 * 4096, base + 5 * 4096, 4096);
    uint8_t page[4096];
    memset(page, 0x77, sizeof page);
    block_set_overlay_page(b, 7, page);
    memcpy(want + 7 * 4096, page, 4096);
    g_assert_false(page_dirty(b, 5));
    g_assert_false(page_dirty(b, 7));
    g_assert_null(block_overlay_page(b, 5));
    check_reads(b, want, size);
    g_assert_true(block_flush(b, err, sizeof err));
    block_close(b);

    /* the image file never changed */
    char *after = file_hash(name);
    g_assert_cmpstr(before, ==, after);
    g_free(before);
    g_free(after);
    g_free(base);
    g_free(want);
}

static void test_overlay(void)
{
    write_pattern_file("base.raw", RAW_SIZE);
    check_overlay("base.raw", BLOCK_FORMAT_RAW);
    if (!have_qemu_img)
        return;
    sh("qemu-img convert -f raw -O qcow2 -c base.raw ovl.qcow2");
    check_overlay("ovl.qcow2", BLOCK_FORMAT_QCOW2);
    sh("qemu-img create -q -f qcow2 -b base.raw -F raw ovl2.qcow2 2M");
    check_overlay("ovl2.qcow2", BLOCK_FORMAT_QCOW2);
}

/* ---- write-through ---- */

static void test_write_through(void)
{
    write_pattern_file("wt.raw", RAW_SIZE);
    BlockDev *b = open_ok("wt.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_THROUGH);
    g_assert_cmpint(block_write_mode(b), ==, BLOCK_WRITE_THROUGH);
    uint8_t *want = raw_expect(RAW_VSIZE);
    scribble(b, want, RAW_VSIZE);
    g_assert_cmpuint(block_overlay_count(b), ==, 0);
    g_assert_true(page_dirty(b, 5));
    check_reads(b, want, RAW_VSIZE);
    char err[512];
    g_assert_true(block_flush(b, err, sizeof err));
    block_close(b);
    /* the file holds the writes; the one in the last sector grew it to a
     * whole sector, as QEMU does */
    char *p = tpath("wt.raw"), *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    g_assert_cmpuint(len, ==, RAW_VSIZE);
    assert_bytes((const uint8_t *)data, want, len, 0);
    g_free(data);
    g_free(p);
    g_free(want);

    /* restoring pages is meaningless without an overlay: ignored */
    b = open_ok("wt.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_THROUGH);
    uint8_t page[4096] = {0};
    block_set_overlay_page(b, 0, page);
    g_assert_null(block_overlay_page(b, 0));
    block_close(b);

    /* qcow2 is never written */
    if (have_qemu_img) {
        sh("qemu-img create -q -f qcow2 wt.qcow2 1M");
        open_fails("wt.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_THROUGH, "qcow2");
    }
}

/* ---- corrupt images ---- */

static void test_corrupt(void)
{
    /* not qcow2 at all */
    write_pattern_file("junk.qcow2", 100000);
    open_fails("junk.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "not a qcow2 image");
    write_file("tiny.qcow2", "QFI", 3);
    open_fails("tiny.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "not a qcow2 image");
    if (!need_qemu_img())
        return;

    write_pattern_file("base.raw", RAW_SIZE);
    sh("qemu-img convert -f raw -O qcow2 base.raw good.qcow2");
    uint64_t l1 = file_be64("good.qcow2", 40);

    /* truncated: inside the header, then before the L1 table */
    copy_file("good.qcow2", "trunc1.qcow2");
    sh("truncate -s 100 trunc1.qcow2");
    open_fails("trunc1.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "truncated");
    copy_file("good.qcow2", "trunc2.qcow2");
    sh("truncate -s %llu trunc2.qcow2", (unsigned long long)l1);
    open_fails("trunc2.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY,
               "L1 table at 0x30000 lies outside the file");
    /* truncated before the data: an L2 table is missing */
    uint64_t l2 = file_be64("good.qcow2", l1) & 0x00fffffffffffe00ull;
    copy_file("good.qcow2", "trunc3.qcow2");
    sh("truncate -s %llu trunc3.qcow2", (unsigned long long)l2);
    BlockDev *b = open_ok("trunc3.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    uint8_t buf[4096];
    char err[512], want[256];
    g_assert_false(block_read(b, 5000, buf, 100, err, sizeof err));
    g_test_message("%s", err);
    snprintf(want, sizeof want, "L2 table at %#llx for guest offset 0x1388 lies outside the "
             "file", (unsigned long long)l2);
    g_assert_nonnull(strstr(err, want));
    block_close(b);

    /* the L1 offset beyond the file */
    copy_file("good.qcow2", "l1far.qcow2");
    patch_be64("l1far.qcow2", 40, 1ull << 40);
    open_fails("l1far.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY,
               "L1 table at 0x10000000000 lies outside the file");
    copy_file("good.qcow2", "l1odd.qcow2");
    patch_be64("l1odd.qcow2", 40, l1 + 8);
    open_fails("l1odd.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "not aligned");

    /* an L1 entry pointing far away, and an unaligned data cluster */
    copy_file("good.qcow2", "l2far.qcow2");
    patch_be64("l2far.qcow2", l1, 1ull << 63 | 1ull << 45);
    b = open_ok("l2far.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    g_assert_false(block_read(b, 0, buf, sizeof buf, err, sizeof err));
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "L2 table at 0x200000000000 for guest offset 0x0 lies "
                                 "outside the file"));
    block_close(b);
    copy_file("good.qcow2", "dodd.qcow2");
    uint64_t e0 = file_be64("good.qcow2", l2);
    patch_be64("dodd.qcow2", l2, e0 + 512);
    b = open_ok("dodd.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    g_assert_false(block_read(b, 0, buf, sizeof buf, err, sizeof err));
    g_assert_nonnull(strstr(err, "data cluster at"));
    g_assert_nonnull(strstr(err, "not aligned"));
    block_close(b);
    copy_file("good.qcow2", "dfar.qcow2");
    patch_be64("dfar.qcow2", l2, 1ull << 63 | 1ull << 50);
    b = open_ok("dfar.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    g_assert_false(block_read(b, 0, buf, sizeof buf, err, sizeof err));
    g_assert_nonnull(strstr(err, "lies outside the file"));
    block_close(b);

    /* a zero-cluster flag in a version 2 image */
    sh("qemu-img convert -f raw -O qcow2 -o compat=0.10 base.raw v2z.qcow2");
    uint64_t v2l1 = file_be64("v2z.qcow2", 40);
    uint64_t v2l2 = file_be64("v2z.qcow2", v2l1) & 0x00fffffffffffe00ull;
    patch_be64("v2z.qcow2", v2l2, file_be64("v2z.qcow2", v2l2) | 1);
    b = open_ok("v2z.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    g_assert_false(block_read(b, 0, buf, sizeof buf, err, sizeof err));
    g_assert_nonnull(strstr(err, "version 2"));
    block_close(b);

    /* a compressed cluster whose stream is damaged */
    sh("qemu-img convert -f raw -O qcow2 -c base.raw zbad.qcow2");
    uint64_t zl1 = file_be64("zbad.qcow2", 40);
    uint64_t zl2 = file_be64("zbad.qcow2", zl1) & 0x00fffffffffffe00ull;
    uint64_t ze = file_be64("zbad.qcow2", zl2 + 8);     /* guest cluster 1 */
    g_assert_cmphex(ze >> 62 & 1, ==, 1);
    uint64_t zoff = ze & ((1ull << 54) - 1);            /* x = 62 - (16 - 8) */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    patch_bytes("zbad.qcow2", zoff, junk, sizeof junk);
    b = open_ok("zbad.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    g_assert_true(block_read(b, 0, buf, sizeof buf, err, sizeof err));   /* cluster 0 */
    g_assert_false(block_read(b, 65536 + 10, buf, 10, err, sizeof err));
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "compressed cluster at"));
    g_assert_nonnull(strstr(err, "for guest offset 0x1000a is corrupt"));
    block_close(b);

    /* bad magic, unknown version */
    copy_file("good.qcow2", "magic.qcow2");
    patch_bytes("magic.qcow2", 0, "QFJ", 3);
    open_fails("magic.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "not a qcow2 image");
    copy_file("good.qcow2", "v4.qcow2");
    patch_bytes("v4.qcow2", 4, "\0\0\0\4", 4);
    open_fails("v4.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "version 4");

    /* incompatible features: unknown, and the ones refused by name */
    copy_file("good.qcow2", "feat.qcow2");
    patch_be64("feat.qcow2", 72, 1ull << 20);
    open_fails("feat.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY,
               "incompatible feature bit 20");
    copy_file("good.qcow2", "corrupt.qcow2");
    patch_be64("corrupt.qcow2", 72, 2);
    open_fails("corrupt.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "marked corrupt");
    copy_file("good.qcow2", "dirty.qcow2");
    patch_be64("dirty.qcow2", 72, 1);       /* the dirty bit is fine for reading */
    b = open_ok("dirty.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    block_close(b);
    if (sh_try("qemu-img create -q -f qcow2 -o extended_l2=on ext.qcow2 1M"))
        open_fails("ext.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "extended L2");
    if (sh_try("qemu-img create -q -f qcow2 -o compression_type=zstd zstd.qcow2 1M"))
        open_fails("zstd.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "zstd");
    if (sh_try("qemu-img create -q -f qcow2 -o data_file=ext.data df.qcow2 1M"))
        open_fails("df.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "external data file");
    /* encryption (the header field: making a LUKS image needs a secret
     * and a timing calibration that may fail on a loaded machine) */
    copy_file("good.qcow2", "luks.qcow2");
    patch_bytes("luks.qcow2", 32, "\0\0\0\2", 4);
    open_fails("luks.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "encrypted");
    open_fails("luks.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "LUKS");
    copy_file("good.qcow2", "bits.qcow2");
    patch_bytes("bits.qcow2", 20, "\0\0\0\x1f", 4);
    open_fails("bits.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "cluster size");

    /* backing loops: a file naming itself, and two naming each other */
    sh("qemu-img create -q -f qcow2 self.qcow2 1M");
    sh("qemu-img rebase -q -u -f qcow2 -b self.qcow2 -F qcow2 self.qcow2");
    open_fails("self.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "loop");
    sh("qemu-img create -q -f qcow2 loopb.qcow2 1M");
    sh("qemu-img create -q -f qcow2 -b loopb.qcow2 -F qcow2 loopa.qcow2 1M");
    sh("qemu-img rebase -q -u -f qcow2 -b loopa.qcow2 -F qcow2 loopb.qcow2");
    open_fails("loopa.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY,
               "backing file loopa.qcow2 makes a loop");
    char *p = tpath("loopa.qcow2");
    g_assert_null(block_image_files(p, BLOCK_FORMAT_QCOW2, err, sizeof err));
    g_assert_nonnull(strstr(err, "loop"));
    g_free(p);

    /* a chain deeper than the limit */
    sh("qemu-img create -q -f qcow2 deep0.qcow2 1M");
    for (int i = 1; i <= 33; i++)
        sh("qemu-img create -q -f qcow2 -u -b deep%d.qcow2 -F qcow2 deep%d.qcow2 1M", i - 1, i);
    b = open_ok("deep20.qcow2", BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY);
    block_close(b);
    open_fails("deep33.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "backing chain");

    /* a backing format other than raw and qcow2 */
    sh("qemu-img create -q -f qcow2 -u -b base.raw -F vmdk vm.qcow2 1M");
    open_fails("vm.qcow2", BLOCK_FORMAT_QCOW2, BLOCK_WRITE_OVERLAY, "format 'vmdk'");
}

/* Random damage to the metadata of small images (header, extensions, L1
 * and L2 tables, compressed streams): opening and reading must fail
 * cleanly or succeed, never crash or read out of bounds (run under ASan). */
#define FUZZ_ROUNDS 400

static void test_fuzz(void)
{
    if (!need_qemu_img())
        return;
    write_pattern_file("base.raw", RAW_SIZE);
    sh("qemu-img convert -f raw -O qcow2 -c -o cluster_size=512 base.raw fz_base.qcow2");
    sh("qemu-img create -q -f qcow2 -o cluster_size=4096 -b fz_base.qcow2 -F qcow2 "
       "fz_top.qcow2");
    if (have_qemu_io)
        sh("qemu-io -f qcow2 -c 'write -P 0xab 4k 8k' -c 'write -z 64k 64k' fz_top.qcow2");
    GRand *r = g_rand_new_with_seed(7);
    uint8_t *buf = g_malloc(2 * MIB);
    char *orig[2];
    gsize olen[2];
    for (int i = 0; i < 2; i++) {
        char *p = tpath(i ? "fz_top.qcow2" : "fz_base.qcow2");
        g_assert_true(g_file_get_contents(p, &orig[i], &olen[i], NULL));
        g_free(p);
    }
    int opened = 0, failed = 0;
    for (int it = 0; it < FUZZ_ROUNDS; it++) {
        /* a damaged copy of the base, or of the top (whose backing file
         * is still the intact base) */
        int which = it % 2;
        uint8_t *img = g_memdup2(orig[which], olen[which]);
        uint64_t span = olen[which] < 256 * KIB ? olen[which] : 256 * KIB;
        int flips = g_rand_int_range(r, 1, 8);
        for (int f = 0; f < flips; f++) {
            uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)span);
            if (g_rand_boolean(r))
                off %= 512;     /* often the header */
            img[off] = (uint8_t)g_rand_int(r);
        }
        write_file("fz_damaged.qcow2", img, olen[which]);
        g_free(img);
        char err[512], *p = tpath("fz_damaged.qcow2");
        BlockDev *b = block_open(p, BLOCK_FORMAT_QCOW2, false, BLOCK_WRITE_OVERLAY, err,
                                 sizeof err);
        if (b) {
            opened++;
            uint64_t n = block_size(b) < 2 * MIB ? block_size(b) : 2 * MIB;
            if (!block_read(b, 0, buf, n, err, sizeof err))
                failed++;
            for (uint64_t off = 0; off + 4096 <= n; off += 4096 * 17)
                block_read(b, off, buf, 4096, err, sizeof err);
            block_close(b);
        }
        g_free(p);
    }
    g_free(orig[0]);
    g_free(orig[1]);
    g_test_message("fuzz: %d of %d damaged images opened, %d of those failed a read", opened,
                   FUZZ_ROUNDS, failed);
    g_free(buf);
    g_rand_free(r);
}

/* ---- the overlay file ---- */

static bool load(BlockDev *b, const char *name, char *err, size_t errlen)
{
    char *p = tpath(name);
    bool ok = block_load_overlay(b, p, err, errlen);
    g_free(p);
    return ok;
}

static void load_fails(BlockDev *b, const char *name, const char *want)
{
    char err[512] = "";
    uint64_t count = block_overlay_count(b);
    g_assert_false(load(b, name, err, sizeof err));
    g_test_message("%s: %s", name, err);
    if (!strstr(err, want))
        g_error("message for %s: \"%s\" lacks \"%s\"", name, err, want);
    g_assert_cmpuint(block_overlay_count(b), ==, count);    /* unchanged */
}

static void test_overlay_file(void)
{
    write_pattern_file("base.raw", RAW_SIZE);
    BlockDev *b = open_ok("base.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_OVERLAY);
    uint64_t size = block_size(b);
    uint8_t *want = raw_expect(size);
    scribble(b, want, size);
    uint8_t zero[4096] = {0};
    write_ok(b, 12 * 4096, zero, sizeof zero);       /* a page of zeros is kept */
    memset(want + 12 * 4096, 0, 4096);
    char err[512], *p = tpath("disk.ovl");
    g_assert_true(block_save_overlay(b, p, err, sizeof err));
    uint64_t count = block_overlay_count(b);
    block_close(b);

    /* header, records, CRC */
    GStatBuf st;
    g_assert_cmpint(g_stat(p, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 32 + (long long)count * (8 + 4096) + 4);

    /* a fresh disk with the overlay loaded reads as the old one did */
    b = open_ok("base.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_OVERLAY);
    write_ok(b, 30 * 4096, "x", 1);         /* replaced by the load */
    block_clear_dirty(b);
    g_assert_true(block_load_overlay(b, p, err, sizeof err));
    g_assert_cmpuint(block_overlay_count(b), ==, count);
    check_reads(b, want, size);
    g_assert_true(page_dirty(b, 30));       /* removed: marked */
    g_assert_true(page_dirty(b, 12));       /* loaded: marked */
    g_assert_false(page_dirty(b, 13));

    /* damaged copies, each refused with the disk unchanged */
    char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    uint8_t *d = (uint8_t *)data;

    write_file("magic.ovl", "RWDSKOVX", 8);
    load_fails(b, "magic.ovl", "bad magic");
    write_file("empty.ovl", "", 0);
    load_fails(b, "empty.ovl", "bad magic");
    write_file("short.ovl", d, 20);
    load_fails(b, "short.ovl", "truncated overlay header");
    write_file("trunc.ovl", d, len - 100);
    load_fails(b, "trunc.ovl", "truncated overlay");
    write_file("nocrc.ovl", d, len - 2);
    load_fails(b, "nocrc.ovl", "truncated overlay");
    uint8_t *copy = g_malloc(len + 3);
    memcpy(copy, d, len);
    memcpy(copy + len, "abc", 3);
    write_file("long.ovl", copy, len + 3);
    load_fails(b, "long.ovl", "3 unexpected bytes");
    memcpy(copy, d, len);
    copy[32 + 8 + 100] ^= 1;                 /* a data byte of the first record */
    write_file("crc.ovl", copy, len);
    load_fails(b, "crc.ovl", "CRC mismatch");
    memcpy(copy, d, len);
    copy[8] = 2;
    write_file("ver.ovl", copy, len);
    load_fails(b, "ver.ovl", "version 2 is not supported");
    memcpy(copy, d, len);
    copy[16] ^= 0x10;
    write_file("size.ovl", copy, len);
    load_fails(b, "size.ovl", "is for a disk of");
    load_fails(b, "none.ovl", "No such file");
    g_free(copy);
    g_free(data);
    check_reads(b, want, size);
    block_close(b);

    /* another disk size */
    write_pattern_file("other.raw", 2 * MIB);
    b = open_ok("other.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_OVERLAY);
    load_fails(b, "disk.ovl", "is for a disk of 1049600 bytes");
    block_close(b);
    /* a disk without an overlay */
    b = open_ok("base.raw", BLOCK_FORMAT_RAW, false, BLOCK_WRITE_THROUGH);
    load_fails(b, "disk.ovl", "whose writes go to the image file");
    block_close(b);

    /* an empty overlay round-trips too */
    b = open_ok("base.raw", BLOCK_FORMAT_RAW, true, BLOCK_WRITE_OVERLAY);
    g_assert_true(block_save_overlay(b, p, err, sizeof err));
    g_assert_true(block_load_overlay(b, p, err, sizeof err));
    g_assert_cmpuint(block_overlay_count(b), ==, 0);
    block_close(b);
    g_free(want);
    g_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    GError *e = NULL;
    tmpdir = g_dir_make_tmp("rewind-block-XXXXXX", &e);
    g_assert_nonnull(tmpdir);
    char *qi = g_find_program_in_path("qemu-img"), *qio = g_find_program_in_path("qemu-io");
    have_qemu_img = qi != NULL;
    have_qemu_io = qio != NULL;
    g_free(qi);
    g_free(qio);

    g_test_add_func("/block/raw", test_raw);
    g_test_add_func("/block/qcow2", test_qcow2);
    g_test_add_func("/block/compressed", test_compressed);
    g_test_add_func("/block/backing_raw", test_backing_raw);
    g_test_add_func("/block/backing_qcow2", test_backing_qcow2);
    g_test_add_func("/block/overlay", test_overlay);
    g_test_add_func("/block/write_through", test_write_through);
    g_test_add_func("/block/corrupt", test_corrupt);
    g_test_add_func("/block/fuzz", test_fuzz);
    g_test_add_func("/block/overlay_file", test_overlay_file);
    int rc = g_test_run();

    char *argv_rm[] = { "rm", "-rf", tmpdir, NULL };
    g_spawn_sync(NULL, argv_rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    g_free(tmpdir);
    return rc;
}
