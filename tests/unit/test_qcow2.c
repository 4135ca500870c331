/* The qcow2 snapshot container (snapshots/qcow2.c): snapshots built from
 * random pages (data, zero, absent, shared with a base, across several L2
 * tables, sizes that end inside a table) read back byte for byte against a
 * model, through reopen, deletes of the first, middle and last snapshot and
 * an add/delete loop whose file size must stay bounded; after every step
 * qemu-img check finds no error and no leak and qemu-img snapshot -l lists
 * every snapshot with its icount. Also: the cost of a snapshot changing k
 * pages, files changed by qemu-img snapshot -c / -d, aborted builds and
 * failed commits, refused images and refcounts, and truncated or damaged
 * files read without a crash. */
#include "qcow2.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE QCOW2_PAGE_SIZE
#define TOK_ABSENT 0u
#define TOK_ZERO 1u

static char *tmpdir;
static bool have_qemu_img;
/* when set, every add and delete checks that it left the clusters the
 * previous image used untouched (but for the header) */
static const char *watch_path;

static uint8_t *file_bytes(const char *path, size_t *len);
static void assert_used_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                             uint64_t from);

/* ---- helpers ---- */

static char *tpath(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a shell command in the temp dir: its exit status, its stdout in *out
 * (if out). */
static int run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    char *o = NULL, *e = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(tmpdir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e,
                               &status, NULL));
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code != 0)
        g_test_message("%s: exit %d\n%s%s", cmd, code, o, e);
    g_free(e);
    g_free(cmd);
    if (out)
        *out = o;
    else
        g_free(o);
    return code;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    g_assert_cmpint(stat(path, &st), ==, 0);
    return (uint64_t)st.st_size;
}

static uint8_t *file_bytes(const char *path, size_t *len)
{
    char *data = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    *len = n;
    return (uint8_t *)data;
}

static void put_file(const char *path, const uint8_t *data, size_t len)
{
    g_assert_true(g_file_set_contents(path, (const char *)data, (gssize)len, NULL));
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return GUINT32_FROM_BE(v);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, 4);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- the model: what each snapshot's pages should read ---- */

/* A page is TOK_ABSENT, TOK_ZERO, or the seed of its data. */
typedef struct MSnap {
    char *name;
    uint64_t icount;
    uint64_t npages;
    uint32_t *tok;
} MSnap;

typedef struct Model {
    GPtrArray *snaps;
    uint32_t next_tok;
    GRand *r;
} Model;

static void msnap_free(gpointer p)
{
    MSnap *s = p;
    g_free(s->name);
    g_free(s->tok);
    g_free(s);
}

static Model *model_new(guint32 seed)
{
    Model *m = g_new0(Model, 1);
    m->snaps = g_ptr_array_new_with_free_func(msnap_free);
    m->next_tok = 2;
    m->r = g_rand_new_with_seed(seed);
    return m;
}

static void model_free(Model *m)
{
    g_ptr_array_free(m->snaps, TRUE);
    g_rand_free(m->r);
    g_free(m);
}

static MSnap *msnap(const Model *m, guint i)
{
    return g_ptr_array_index(m->snaps, i);
}

static int model_find(const Model *m, const char *name)
{
    for (guint i = 0; i < m->snaps->len; i++)
        if (strcmp(msnap(m, i)->name, name) == 0)
            return (int)i;
    return -1;
}

/* Never all zero: xorshift from a nonzero state. */
static void page_data(uint32_t tok, uint8_t *buf)
{
    uint64_t x = (uint64_t)tok * 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i < PAGE / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + 8 * i, &x, 8);
    }
}

static void expect_page(uint32_t tok, uint8_t *buf)
{
    if (tok <= TOK_ZERO)
        memset(buf, 0, PAGE);
    else
        page_data(tok, buf);
}

static Qcow2PageKind tok_kind(uint32_t tok)
{
    return tok == TOK_ABSENT ? QCOW2_ABSENT : tok == TOK_ZERO ? QCOW2_ZERO : QCOW2_DATA;
}

/* Clusters the live snapshots' data needs: one per distinct data token. */
static uint64_t model_data_pages(const Model *m)
{
    GHashTable *seen = g_hash_table_new(NULL, NULL);
    for (guint i = 0; i < m->snaps->len; i++)
        for (uint64_t p = 0; p < msnap(m, i)->npages; p++)
            if (msnap(m, i)->tok[p] > TOK_ZERO)
                g_hash_table_add(seen, GUINT_TO_POINTER(msnap(m, i)->tok[p]));
    uint64_t n = g_hash_table_size(seen);
    g_hash_table_destroy(seen);
    return n;
}

/* ---- checks ---- */

/* qemu-img check: no error, no leak; qemu-img snapshot -l: every snapshot
 * with its icount. */
static void qemu_ok(const char *path, const Model *m)
{
    if (!have_qemu_img)
        return;
    char *out = NULL;
    int code = run(&out, "qemu-img check --output=json '%s'", path);
    g_assert_cmpint(code, ==, 0);
    g_assert_nonnull(strstr(out, "\"check-errors\": 0"));
    g_assert_null(strstr(out, "\"corruptions\""));
    g_assert_null(strstr(out, "\"leaks\""));
    g_free(out);

    g_assert_cmpint(run(&out, "qemu-img snapshot -l '%s'", path), ==, 0);
    char **lines = g_strsplit(out, "\n", -1);
    guint listed = 0;
    for (char **l = lines; *l; l++) {
        char **f = g_strsplit_set(g_strstrip(*l), " ", -1);
        GPtrArray *w = g_ptr_array_new();
        for (char **x = f; *x; x++)
            if (**x)
                g_ptr_array_add(w, *x);
        int k = w->len >= 2 ? model_find(m, g_ptr_array_index(w, 1)) : -1;
        if (k >= 0) {
            char want[32];
            snprintf(want, sizeof want, "%" G_GUINT64_FORMAT, msnap(m, (guint)k)->icount);
            /* wide icounts run into the VM CLOCK column: no space between */
            const char *last = g_ptr_array_index(w, w->len - 1);
            if (!g_str_has_suffix(last, want))
                g_error("qemu-img snapshot -l shows '%s' for %s, not icount %s", last,
                        msnap(m, (guint)k)->name, want);
            listed++;
        }
        g_ptr_array_free(w, TRUE);
        g_strfreev(f);
    }
    g_assert_cmpuint(listed, ==, m->snaps->len);
    g_strfreev(lines);
    g_free(out);
}

/* Every snapshot of the image reads as the model says, page by page, by
 * next_present and by unaligned read_vmstate ranges. */
static void verify(Qcow2Image *q, Model *m)
{
    char err[512] = "";
    uint8_t got[PAGE], want[PAGE];
    g_assert_cmpint(qcow2_snapshot_count(q), ==, (int)m->snaps->len);
    for (guint k = 0; k < m->snaps->len; k++) {
        const MSnap *s = msnap(m, k);
        int i = qcow2_snapshot_find(q, s->name);
        g_assert_cmpint(i, >=, 0);
        Qcow2SnapInfo info;
        g_assert_true(qcow2_snapshot_info(q, i, &info));
        g_assert_cmpstr(info.name, ==, s->name);
        g_assert_cmpuint(info.vm_state_size, ==, s->npages * PAGE);
        g_assert_cmpuint(info.icount, ==, s->icount);
        uint64_t next = qcow2_next_present(q, i, 0);
        for (uint64_t p = 0; p < s->npages; p++) {
            Qcow2PageKind kind = qcow2_page_kind(q, i, p, err, sizeof err);
            if (kind == QCOW2_BAD)
                g_error("%s", err);
            g_assert_cmpint(kind, ==, tok_kind(s->tok[p]));
            if (!qcow2_read_page(q, i, p, got, err, sizeof err))
                g_error("%s", err);
            expect_page(s->tok[p], want);
            g_assert_true(memcmp(got, want, PAGE) == 0);
            if (s->tok[p] != TOK_ABSENT) {
                g_assert_cmpuint(next, ==, p);
                next = qcow2_next_present(q, i, p + 1);
            }
        }
        g_assert_cmpuint(next, ==, UINT64_MAX);
        g_assert_cmpint(qcow2_page_kind(q, i, s->npages, err, sizeof err), ==, QCOW2_BAD);
        g_assert_cmpstr(err, !=, "");
        if (s->npages >= 2) {
            uint64_t off = g_rand_int_range(m->r, 1, (gint32)(s->npages * PAGE / 2));
            size_t len = (size_t)g_rand_int_range(m->r, 1, 3 * PAGE);
            if (off + len > s->npages * PAGE)
                len = (size_t)(s->npages * PAGE - off);
            uint8_t *buf = g_malloc(len), *exp = g_malloc(len + 2 * PAGE);
            g_assert_true(qcow2_read_vmstate(q, i, off, buf, len, err, sizeof err));
            for (uint64_t p = off / PAGE; p * PAGE < off + len; p++)
                expect_page(s->tok[p], exp + (p - off / PAGE) * PAGE);
            g_assert_true(memcmp(buf, exp + off % PAGE, len) == 0);
            g_free(buf);
            g_free(exp);
        }
        g_assert_false(qcow2_read_vmstate(q, i, s->npages * PAGE - 1, got, 2, err,
                                          sizeof err));
    }
}

/* A new snapshot of npages from model snapshot base (-1: none) with n random
 * changes, built and committed. */
static void add_snapshot(Qcow2Image *q, Model *m, int base, uint64_t npages, int n,
                         const char *name)
{
    char err[512] = "";
    MSnap *s = g_new0(MSnap, 1);
    s->name = g_strdup(name);
    s->icount = g_rand_int(m->r) * 1000ull + m->snaps->len;
    s->npages = npages;
    s->tok = g_new0(uint32_t, npages ? npages : 1);
    int qbase = -1;
    if (base >= 0) {
        const MSnap *b = msnap(m, (guint)base);
        memcpy(s->tok, b->tok, (npages < b->npages ? npages : b->npages) * sizeof *s->tok);
        qbase = qcow2_snapshot_find(q, b->name);
        g_assert_cmpint(qbase, >=, 0);
    }
    Qcow2Build *bd = qcow2_build_begin(q, qbase, npages * PAGE, err, sizeof err);
    if (!bd)
        g_error("%s", err);
    uint8_t buf[PAGE];
    for (int k = 0; k < n && npages; k++) {
        uint64_t p = (uint64_t)g_rand_int_range(m->r, 0, (gint32)npages);
        int op = g_rand_int_range(m->r, 0, 20);
        if (op == 3 && g_rand_int_range(m->r, 0, 50))
            op = 5;     /* whole tables absent: rarely */
        switch (op) {
        case 0:     /* an all-zero page given as data */
            memset(buf, 0, PAGE);
            g_assert_true(qcow2_build_put(bd, p, buf, err, sizeof err));
            s->tok[p] = TOK_ZERO;
            break;
        case 1:
            qcow2_build_zero(bd, p);
            s->tok[p] = TOK_ZERO;
            break;
        case 2:
            qcow2_build_absent(bd, p);
            s->tok[p] = TOK_ABSENT;
            break;
        case 3:     /* a whole L2 table's worth absent */
            for (uint64_t x = p & ~511ull; x < npages && x <= (p | 511); x++) {
                qcow2_build_absent(bd, x);
                s->tok[x] = TOK_ABSENT;
            }
            break;
        case 4:     /* written twice in one build: the last wins */
            page_data(m->next_tok++, buf);
            g_assert_true(qcow2_build_put(bd, p, buf, err, sizeof err));
            /* fall through */
        default:
            s->tok[p] = m->next_tok++;
            page_data(s->tok[p], buf);
            if (!qcow2_build_put(bd, p, buf, err, sizeof err))
                g_error("%s", err);
        }
    }
    size_t len0 = 0, len1 = 0;
    uint8_t *before = watch_path ? file_bytes(watch_path, &len0) : NULL;
    int idx = qcow2_build_commit(bd, name, s->icount, 1000000ull * m->snaps->len, err,
                                 sizeof err);
    if (idx < 0)
        g_error("%s", err);
    if (before) {
        uint8_t *after = file_bytes(watch_path, &len1);
        assert_used_same(before, len0, after, len1, PAGE);
        g_free(after);
        g_free(before);
    }
    g_assert_cmpint(idx, ==, qcow2_snapshot_count(q) - 1);
    g_ptr_array_add(m->snaps, s);
}

static void delete_snapshot(Qcow2Image *q, Model *m, guint k)
{
    char err[512] = "";
    int i = qcow2_snapshot_find(q, msnap(m, k)->name);
    g_assert_cmpint(i, >=, 0);
    size_t len0 = 0, len1 = 0;
    uint8_t *before = watch_path ? file_bytes(watch_path, &len0) : NULL;
    if (!qcow2_snapshot_delete(q, i, err, sizeof err))
        g_error("%s", err);
    if (before) {
        uint8_t *after = file_bytes(watch_path, &len1);
        assert_used_same(before, len0, after, len1, PAGE);
        g_free(after);
        g_free(before);
    }
    g_ptr_array_remove_index(m->snaps, k);
}

static Qcow2Image *open_ok(const char *path, bool writable)
{
    char err[512] = "";
    Qcow2Image *q = qcow2_image_open(path, writable, err, sizeof err);
    if (!q)
        g_error("%s", err);
    return q;
}

static void close_ok(Qcow2Image *q)
{
    char err[512] = "";
    g_assert_true(qcow2_image_close(q, err, sizeof err));
}

static void step(Qcow2Image *q, Model *m, const char *path)
{
    verify(q, m);
    qemu_ok(path, m);
}

/* ---- tests ---- */

static void test_model(void)
{
    char *path = tpath("model.qcow2"), err[512] = "";
    Model *m = model_new(1);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    if (!q)
        g_error("%s", err);
    watch_path = path;
    step(q, m, path);
    add_snapshot(q, m, -1, 1500, 1200, "s1");
    step(q, m, path);
    add_snapshot(q, m, 0, 1300, 100, "s2");        /* shrinks inside a table */
    step(q, m, path);
    add_snapshot(q, m, 1, 2100, 150, "s3");        /* grows past the base */
    step(q, m, path);
    add_snapshot(q, m, 0, 700, 30, "s4");
    step(q, m, path);
    add_snapshot(q, m, -1, 0, 0, "empty");
    step(q, m, path);
    add_snapshot(q, m, 3, 700, 0, "same");         /* shares every table */
    step(q, m, path);
    close_ok(q);

    q = open_ok(path, false);
    verify(q, m);
    close_ok(q);
    q = open_ok(path, true);
    verify(q, m);
    delete_snapshot(q, m, 2);                      /* middle */
    step(q, m, path);
    delete_snapshot(q, m, 0);                      /* first */
    step(q, m, path);
    delete_snapshot(q, m, m->snaps->len - 1);      /* last */
    step(q, m, path);
    Qcow2SnapInfo info;
    g_assert_true(qcow2_snapshot_info(q, 0, &info));
    g_assert_cmpstr(info.id, ==, "2");
    add_snapshot(q, m, 0, 1000, 50, "s5");
    g_assert_true(qcow2_snapshot_info(q, qcow2_snapshot_find(q, "s5"), &info));
    g_assert_cmpstr(info.id, ==, "6");             /* highest id left + 1, as QEMU */
    step(q, m, path);

    /* add and delete in a loop: freed clusters are reused, so the file
     * never outgrows the most clusters ever in use at once (data, per
     * snapshot its L1 and L2 tables, the header, tables and refcount
     * blocks, and what a commit keeps pinned) */
    uint64_t peak = file_size(path) / PAGE;
    for (int round = 0; round < 24; round++) {
        int base = g_rand_int_range(m->r, -1, (gint32)m->snaps->len);
        uint64_t npages = (uint64_t)g_rand_int_range(m->r, 300, 1800);
        char name[32];
        snprintf(name, sizeof name, "loop%d", round);
        add_snapshot(q, m, base, npages, 300, name);
        uint64_t used = model_data_pages(m) + 8;
        for (guint k = 0; k < m->snaps->len; k++)
            used += 1 + (msnap(m, k)->npages + 511) / 512;
        peak = MAX(peak, used);
        g_assert_cmpuint(file_size(path), <=, (peak + 64) * PAGE);
        while (m->snaps->len > 3)
            delete_snapshot(q, m, (guint)g_rand_int_range(m->r, 0, (gint32)m->snaps->len - 1));
        step(q, m, path);
        g_assert_cmpuint(file_size(path), <=, (peak + 64) * PAGE);
    }
    g_test_message("add/delete loop: peak %" G_GUINT64_FORMAT " clusters, file %"
                   G_GUINT64_FORMAT " clusters", peak, file_size(path) / PAGE);
    close_ok(q);
    watch_path = NULL;
    q = open_ok(path, true);
    step(q, m, path);
    close_ok(q);
    model_free(m);
    g_free(path);
}

/* A snapshot changing k pages of a large base costs about k clusters. */
static void test_sharing(void)
{
    char *path = tpath("share.qcow2"), err[512] = "";
    Model *m = model_new(2);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    const uint64_t npages = 8192;                  /* 32 MiB, 16 L2 tables */
    MSnap *s = g_new0(MSnap, 1);
    s->name = g_strdup("base");
    s->icount = 7;
    s->npages = npages;
    s->tok = g_new(uint32_t, npages);
    Qcow2Build *b = qcow2_build_begin(q, -1, npages * PAGE, err, sizeof err);
    uint8_t buf[PAGE];
    for (uint64_t p = 0; p < npages; p++) {
        s->tok[p] = m->next_tok++;
        page_data(s->tok[p], buf);
        g_assert_true(qcow2_build_put(b, p, buf, err, sizeof err));
    }
    g_assert_cmpint(qcow2_build_commit(b, "base", 7, 0, err, sizeof err), ==, 0);
    g_ptr_array_add(m->snaps, s);

    const int k = 20;
    for (int round = 0; round < 6; round++) {
        uint64_t before = file_size(path);
        char name[16];
        snprintf(name, sizeof name, "r%d", round);
        gint64 t0 = g_get_monotonic_time();
        add_snapshot(q, m, (int)m->snaps->len - 1, npages, k, name);
        gint64 t1 = g_get_monotonic_time();
        uint64_t grown = (file_size(path) - before) / PAGE;
        g_test_message("snapshot changing %d of %" G_GUINT64_FORMAT " pages: %" G_GINT64_FORMAT
                       " us, file +%" G_GUINT64_FORMAT " clusters", k, npages, t1 - t0, grown);
        /* k data clusters, at most k L2 tables, the L1, the snapshot
         * table, a few refcount blocks and the refcount table */
        g_assert_cmpuint(grown, <=, 2 * (uint64_t)k + 12);
    }
    step(q, m, path);
    close_ok(q);
    model_free(m);
    g_free(path);
}

/* Files changed by qemu-img snapshot -c (a disk-only snapshot) and -d. */
static void test_interop(void)
{
    if (!have_qemu_img) {
        g_test_skip("qemu-img not installed (Debian: qemu-utils)");
        return;
    }
    char *path = tpath("interop.qcow2"), err[512] = "";
    Model *m = model_new(3);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    add_snapshot(q, m, -1, 600, 400, "a");
    add_snapshot(q, m, 0, 900, 60, "b");
    close_ok(q);

    g_assert_cmpint(run(NULL, "qemu-img snapshot -c disk1 '%s'", path), ==, 0);
    /* qemu-img snapshot -c writes an icount of 0, not -1 */
    MSnap *d = g_new0(MSnap, 1);
    d->name = g_strdup("disk1");
    d->tok = g_new0(uint32_t, 1);
    g_ptr_array_add(m->snaps, d);
    qemu_ok(path, m);
    q = open_ok(path, true);
    verify(q, m);
    Qcow2SnapInfo info;
    g_assert_true(qcow2_snapshot_info(q, 2, &info));
    g_assert_cmpstr(info.id, ==, "3");
    g_assert_cmpuint(info.vm_state_size, ==, 0);
    g_assert_cmpint(qcow2_next_present(q, 2, 0), ==, UINT64_MAX);
    add_snapshot(q, m, 1, 900, 40, "c");
    g_assert_true(qcow2_snapshot_info(q, 3, &info));
    g_assert_cmpstr(info.id, ==, "4");
    step(q, m, path);
    close_ok(q);

    g_assert_cmpint(run(NULL, "qemu-img snapshot -d a '%s'", path), ==, 0);
    g_ptr_array_remove_index(m->snaps, 0);
    qemu_ok(path, m);
    q = open_ok(path, true);
    verify(q, m);
    delete_snapshot(q, m, (guint)model_find(m, "disk1"));
    step(q, m, path);
    add_snapshot(q, m, model_find(m, "c"), 1200, 80, "e");
    step(q, m, path);
    close_ok(q);
    g_assert_cmpint(run(NULL, "qemu-img snapshot -d b '%s'", path), ==, 0);
    g_ptr_array_remove_index(m->snaps, (guint)model_find(m, "b"));
    q = open_ok(path, true);
    step(q, m, path);
    close_ok(q);
    model_free(m);
    g_free(path);
}

/* ---- the layout of a valid image, from its own tables ---- */

typedef struct Region {
    uint64_t off, len;
} Region;

static void add_region(GArray *r, uint64_t off, uint64_t len, size_t flen)
{
    if (off < flen && len) {
        Region x = { off, off + len <= flen ? len : flen - off };
        g_array_append_val(r, x);
    }
}

/* The metadata of a valid image, and with data its data clusters. */
static GArray *image_regions(const uint8_t *f, size_t flen, bool data)
{
    GArray *r = g_array_new(FALSE, FALSE, sizeof(Region));
    add_region(r, 0, 112, flen);
    uint64_t rt = rd64(f + 48), used = (flen + PAGE * 2048 - 1) / (PAGE * 2048);
    add_region(r, rt, 8 * used, flen);
    for (uint64_t i = 0; i < used; i++) {
        /* the counts of clusters in the file */
        uint64_t nc = flen / PAGE + 1, first = i * 2048;
        uint64_t bytes = nc > first ? MIN(PAGE, 2 * (nc - first)) : 0;
        add_region(r, rd64(f + rt + 8 * i), bytes, flen);
    }
    uint32_t nsn = rd32(f + 60);
    uint64_t pos = rd64(f + 64);
    for (uint32_t i = 0; i < nsn; i++) {
        const uint8_t *e = f + pos;
        uint64_t l1 = rd64(e);
        uint32_t l1_size = rd32(e + 8);
        uint64_t elen = (40 + rd32(e + 36) + rd16(e + 12) + rd16(e + 14) + 7) & ~7ull;
        add_region(r, pos, elen, flen);
        add_region(r, l1, 8ull * l1_size, flen);
        for (uint32_t k = 0; k < l1_size; k++) {
            uint64_t l2 = rd64(f + l1 + 8 * k) & 0x00fffffffffffe00ull;
            add_region(r, l2, PAGE, flen);
            for (unsigned j = 0; l2 && data && j < 512; j++)
                add_region(r, rd64(f + l2 + 8 * j) & 0x00fffffffffffe00ull, PAGE, flen);
        }
        pos += elen;
    }
    return r;
}

/* The bytes image a uses, from offset from on, are the same in b; those
 * past the end of b must have been cut only with from > 0 (after a commit,
 * which may free and cut them). */
static void assert_used_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                             uint64_t from)
{
    GArray *r = image_regions(a, alen, true);
    g_assert_cmpuint(r->len, >=, 3);
    for (guint i = 0; i < r->len; i++) {
        const Region *x = &g_array_index(r, Region, i);
        if (x->off < from)
            continue;
        if (from && x->off + x->len > blen)
            continue;
        g_assert_cmpuint(x->off + x->len, <=, blen);
        g_assert_true(memcmp(a + x->off, b + x->off, x->len) == 0);
    }
    g_array_free(r, TRUE);
}

/* An aborted build and a failed commit leave the file as it was. */
static void test_abort(void)
{
    char *path = tpath("abort.qcow2"), err[512] = "";
    Model *m = model_new(4);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    add_snapshot(q, m, -1, 800, 500, "a");
    add_snapshot(q, m, 0, 800, 50, "b");
    size_t len0, len1;
    uint8_t *before = file_bytes(path, &len0);

    uint8_t buf[PAGE];
    Qcow2Build *b = qcow2_build_begin(q, 1, 900 * PAGE, err, sizeof err);
    g_assert_nonnull(b);
    g_assert_null(qcow2_build_begin(q, 0, PAGE, err, sizeof err));     /* one at a time */
    g_assert_nonnull(strstr(err, "being built"));
    g_assert_false(qcow2_snapshot_delete(q, 0, err, sizeof err));
    for (uint64_t p = 0; p < 900; p++) {
        page_data((uint32_t)p + 100000, buf);
        g_assert_true(qcow2_build_put(b, p, buf, err, sizeof err));
    }
    qcow2_build_zero(b, 3);
    qcow2_build_abort(b);
    /* its writes went to free clusters (holes inside the file, or past
     * its end, cut again) */
    uint8_t *after = file_bytes(path, &len1);
    g_assert_cmpuint(len1, ==, len0);
    assert_used_same(before, len0, after, len1, 0);
    g_free(after);
    step(q, m, path);

    /* a commit refused for its name rolls back too */
    b = qcow2_build_begin(q, 0, 400 * PAGE, err, sizeof err);
    for (uint64_t p = 0; p < 400; p += 2) {
        page_data((uint32_t)p + 200000, buf);
        g_assert_true(qcow2_build_put(b, p, buf, err, sizeof err));
    }
    g_assert_cmpint(qcow2_build_commit(b, "a", 1, 1, err, sizeof err), ==, -1);
    g_assert_nonnull(strstr(err, "already exists"));
    after = file_bytes(path, &len1);
    g_assert_cmpuint(len1, ==, len0);
    assert_used_same(before, len0, after, len1, 0);
    g_free(after);
    step(q, m, path);

    /* and the image goes on */
    add_snapshot(q, m, 1, 900, 100, "c");
    step(q, m, path);
    close_ok(q);
    g_free(before);
    model_free(m);
    g_free(path);
}

/* Images and calls refused, with their messages. */
static void test_errors(void)
{
    char *path = tpath("err.qcow2"), err[512] = "";
    Model *m = model_new(5);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    add_snapshot(q, m, -1, 600, 300, "a");
    g_assert_null(qcow2_build_begin(q, 0, 100, err, sizeof err));
    g_assert_nonnull(strstr(err, "invalid VM state size"));
    g_assert_null(qcow2_build_begin(q, 5, PAGE, err, sizeof err));
    g_assert_nonnull(strstr(err, "no snapshot at index 5"));
    g_assert_false(qcow2_snapshot_delete(q, 1, err, sizeof err));
    Qcow2Build *b = qcow2_build_begin(q, 0, PAGE, err, sizeof err);
    uint8_t buf[PAGE] = {1};
    g_assert_false(qcow2_build_put(b, 1, buf, err, sizeof err));
    g_assert_nonnull(strstr(err, "past the end"));
    g_assert_cmpint(qcow2_build_commit(b, "", 0, 0, err, sizeof err), ==, -1);
    close_ok(q);

    g_assert_null(qcow2_image_create(path, err, sizeof err));
    g_assert_nonnull(strstr(err, "File exists"));
    char *missing = tpath("missing.qcow2");
    g_assert_null(qcow2_image_open(missing, false, err, sizeof err));
    g_assert_nonnull(strstr(err, "No such file"));
    g_free(missing);

    q = open_ok(path, false);
    g_assert_null(qcow2_build_begin(q, 0, PAGE, err, sizeof err));
    g_assert_nonnull(strstr(err, "read-only"));
    g_assert_false(qcow2_snapshot_delete(q, 0, err, sizeof err));
    g_assert_cmpint(qcow2_snapshot_find(q, "1"), ==, 0);   /* by id */
    g_assert_cmpint(qcow2_snapshot_find(q, "nope"), ==, -1);
    close_ok(q);

    char *other = tpath("other");
    put_file(other, (const uint8_t *)"hello world", 11);
    g_assert_null(qcow2_image_open(other, false, err, sizeof err));
    g_assert_nonnull(strstr(err, "not a qcow2 image"));

    /* the refcount of a data cluster lowered: readable, not writable;
     * raised: a leak, freed by the next commit */
    size_t len;
    uint8_t *f = file_bytes(path, &len);
    uint64_t rt = rd64(f + 48), st = rd64(f + 64);
    uint64_t l1 = rd64(f + st), l2 = rd64(f + l1) & 0x00fffffffffffe00ull;
    uint64_t data = 0;
    for (unsigned j = 0; j < 512 && !data; j++)
        data = rd64(f + l2 + 8 * j) & 0x00fffffffffffe00ull;
    g_assert_cmpuint(data, !=, 0);
    uint64_t block = rd64(f + rt);
    uint8_t *cnt = f + block + 2 * (data / PAGE);
    g_assert_cmpuint(rd16(cnt), ==, 1);
    cnt[1] = 0;
    put_file(other, f, len);
    q = open_ok(other, false);
    g_assert_cmpint(qcow2_next_present(q, 0, 0), !=, UINT64_MAX);
    close_ok(q);
    g_assert_null(qcow2_image_open(other, true, err, sizeof err));
    g_assert_nonnull(strstr(err, "refcounts are inconsistent; run qemu-img check -r all"));
    if (have_qemu_img)
        g_assert_cmpint(run(NULL, "qemu-img check '%s'", other), ==, 2);
    cnt[1] = 3;
    put_file(other, f, len);
    if (have_qemu_img)
        g_assert_cmpint(run(NULL, "qemu-img check '%s'", other), ==, 3);
    q = open_ok(other, true);
    add_snapshot(q, m, 0, 600, 10, "b");
    step(q, m, other);
    close_ok(q);
    /* marked dirty: readable, not writable */
    f[72 + 7] |= 1;
    put_file(other, f, len);
    q = open_ok(other, false);
    close_ok(q);
    g_assert_null(qcow2_image_open(other, true, err, sizeof err));
    g_assert_nonnull(strstr(err, "dirty"));
    g_free(f);
    g_free(other);

    if (have_qemu_img) {
        static const struct {
            const char *opts, *size, *msg;
        } bad[] = {
            { "compat=0.10,cluster_size=4096", "0", "version 2" },
            { "cluster_size=65536", "0", "cluster_bits is 16" },
            { "cluster_size=4096", "1M", "virtual disk of 1048576 bytes" },
            { "cluster_size=4096,refcount_bits=8", "0", "refcount_order is 3" },
        };
        for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
            char *p = tpath("bad.qcow2");
            unlink(p);
            g_assert_cmpint(run(NULL, "qemu-img create -q -f qcow2 -o %s '%s' %s", bad[i].opts,
                                p, bad[i].size), ==, 0);
            g_assert_null(qcow2_image_open(p, false, err, sizeof err));
            g_test_message("%s", err);
            g_assert_nonnull(strstr(err, bad[i].msg));
            g_free(p);
        }
    }
    model_free(m);
    g_free(path);
}

/* What read_damaged met, for the messages of the damage tests. */
static struct {
    int refused, read_errors, read_ok, refused_rw, written;
} dmg;

/* Opens and reads every present page of every snapshot; failures must say
 * why. With model, every page read successfully must match it (truncation
 * never changes bytes). Then, if it opens writable, a delete and a build. */
static void read_damaged(const char *path, const Model *model)
{
    char err[512];
    uint8_t buf[PAGE], want[PAGE];
    err[0] = 0;
    Qcow2Image *q = qcow2_image_open(path, false, err, sizeof err);
    if (!q) {
        g_assert_cmpstr(err, !=, "");
        dmg.refused++;
        return;
    }
    bool read_error = false;
    for (int i = 0; i < qcow2_snapshot_count(q); i++) {
        Qcow2SnapInfo info;
        g_assert_true(qcow2_snapshot_info(q, i, &info));
        int mk = model ? model_find(model, info.name) : -1;
        const MSnap *ms = mk >= 0 ? msnap(model, (guint)mk) : NULL;
        int n = 0;
        for (uint64_t p = qcow2_next_present(q, i, 0); p != UINT64_MAX && n < 5000;
             p = qcow2_next_present(q, i, p + 1), n++) {
            err[0] = 0;
            if (qcow2_read_page(q, i, p, buf, err, sizeof err)) {
                if (ms) {
                    g_assert_cmpuint(p, <, ms->npages);
                    expect_page(ms->tok[p], want);
                    g_assert_true(memcmp(buf, want, PAGE) == 0);
                }
            } else {
                g_assert_cmpstr(err, !=, "");
                read_error = true;
            }
        }
        err[0] = 0;
        if (qcow2_page_kind(q, i, info.vm_state_size / PAGE / 2, err, sizeof err) == QCOW2_BAD)
            g_assert_cmpstr(err, !=, "");
        err[0] = 0;
        uint8_t small[100];
        if (info.vm_state_size > 5000 &&
            !qcow2_read_vmstate(q, i, 4000, small, sizeof small, err, sizeof err))
            g_assert_cmpstr(err, !=, "");
    }
    close_ok(q);
    dmg.read_errors += read_error;
    dmg.read_ok += !read_error;

    err[0] = 0;
    q = qcow2_image_open(path, true, err, sizeof err);
    if (!q) {
        g_assert_cmpstr(err, !=, "");
        dmg.refused_rw++;
        return;
    }
    err[0] = 0;
    if (qcow2_snapshot_count(q) > 1 && !qcow2_snapshot_delete(q, 1, err, sizeof err))
        g_assert_cmpstr(err, !=, "");
    err[0] = 0;
    Qcow2Build *b = qcow2_build_begin(q, qcow2_snapshot_count(q) - 1, 700 * PAGE, err,
                                      sizeof err);
    if (b) {
        page_data(99, buf);
        g_assert_true(qcow2_build_put(b, 5, buf, err, sizeof err));
        if (qcow2_build_commit(b, "new", 1, 1, err, sizeof err) < 0)
            g_assert_cmpstr(err, !=, "");
        else
            dmg.written++;
    } else {
        g_assert_cmpstr(err, !=, "");
    }
    close_ok(q);
}

static char *damage_source(Model *m, const char *name)
{
    char *path = tpath(name), err[512] = "";
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    /* deleted, it leaves room at the front for the tables of the next
     * commit, so that cuts through the data leave them whole */
    add_snapshot(q, m, -1, 300, 300, "junk");
    add_snapshot(q, m, -1, 700, 400, "a");
    add_snapshot(q, m, 1, 1100, 60, "b");
    add_snapshot(q, m, 2, 300, 40, "c");
    delete_snapshot(q, m, 0);
    add_snapshot(q, m, -1, 4, 2, "d");
    close_ok(q);
    return path;
}

static void test_truncated(void)
{
    memset(&dmg, 0, sizeof dmg);
    Model *m = model_new(6);
    char *src = damage_source(m, "cut-src.qcow2"), *path = tpath("cut.qcow2");
    size_t len;
    uint8_t *f = file_bytes(src, &len);
    GRand *r = g_rand_new_with_seed(6);
    for (int i = 0; i < 160; i++) {
        size_t cut = i < 40 ? (size_t)i * 3 : (size_t)g_rand_int_range(r, 0, (gint32)len);
        if (i >= 40 && i % 2)
            cut &= ~(size_t)(PAGE - 1);     /* at a cluster boundary */
        put_file(path, f, cut);
        read_damaged(path, m);
    }
    const char *name = "truncated";
    g_test_message("%s: %d refused at open, %d with read errors, %d read whole; writable: %d "
                   "refused, %d took a new snapshot", name, dmg.refused, dmg.read_errors,
                   dmg.read_ok, dmg.refused_rw, dmg.written);
    g_rand_free(r);
    g_free(f);
    g_free(src);
    g_free(path);
    model_free(m);
}

static void test_corrupt(void)
{
    memset(&dmg, 0, sizeof dmg);
    Model *m = model_new(7);
    char *src = damage_source(m, "flip-src.qcow2"), *path = tpath("flip.qcow2");
    size_t len;
    uint8_t *f = file_bytes(src, &len), *g = g_malloc(len);
    GArray *regions = image_regions(f, len, false);
    GRand *r = g_rand_new_with_seed(7);
    for (int i = 0; i < 300; i++) {
        memcpy(g, f, len);
        int flips = g_rand_int_range(r, 1, 4);
        for (int k = 0; k < flips; k++) {
            const Region *x = &g_array_index(regions, Region,
                                             g_rand_int_range(r, 0, (gint32)regions->len));
            uint64_t at = x->off + (uint64_t)g_rand_int_range(r, 0, (gint32)x->len);
            if (g_rand_boolean(r))
                g[at] ^= (uint8_t)(1u << g_rand_int_range(r, 0, 8));
            else
                g[at] = (uint8_t)g_rand_int(r);
        }
        put_file(path, g, len);
        read_damaged(path, NULL);
    }
    const char *name = "bit flips";
    g_test_message("%s: %d refused at open, %d with read errors, %d read whole; writable: %d "
                   "refused, %d took a new snapshot", name, dmg.refused, dmg.read_errors,
                   dmg.read_ok, dmg.refused_rw, dmg.written);
    g_rand_free(r);
    g_array_free(regions, TRUE);
    g_free(g);
    g_free(f);
    g_free(src);
    g_free(path);
    model_free(m);
}

/* References past 65535 would overflow a refcount: a snapshot that would
 * share such an L2 table or data cluster gets copies of its own. The
 * counts are made cheaply: 255 snapshot entries share one L1 table whose
 * 257 entries all name one L2 table, whose one entry names one data
 * cluster, so both have 255 * 257 = 65535 references in QEMU's model. */
static void test_refcount_limit(void)
{
    char *path = tpath("limit.qcow2"), err[512] = "";
    const unsigned nsn = 255, nl1 = 257;
    const uint64_t npages = (uint64_t)nl1 * 512;
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    uint8_t page[PAGE], got[PAGE];
    page_data(42, page);
    Qcow2Build *b = qcow2_build_begin(q, -1, npages * PAGE, err, sizeof err);
    g_assert_true(qcow2_build_put(b, 0, page, err, sizeof err));
    g_assert_cmpint(qcow2_build_commit(b, "base", 9, 0, err, sizeof err), ==, 0);
    close_ok(q);

    size_t len;
    uint8_t *f = file_bytes(path, &len);
    uint64_t st = rd64(f + 64), l1 = rd64(f + st), l2 = rd64(f + l1);
    uint64_t data = rd64(f + l2), rb = rd64(f + rd64(f + 48));
    const size_t elen = 40 + 24 + 8 + 8;       /* ids and names of 8 characters */
    uint64_t tstart = (len + PAGE - 1) / PAGE * PAGE, tclusters = (nsn * elen + PAGE - 1) / PAGE;
    uint8_t *g = g_malloc0(tstart + tclusters * PAGE);
    memcpy(g, f, len);
    for (unsigned k = 1; k < nl1; k++)
        wr64(g + l1 + 8 * k, l2);
    for (unsigned i = 0; i < nsn; i++) {
        uint8_t *e = g + tstart + i * elen;
        memcpy(e, f + st, 64);
        wr16(e + 12, 8);
        wr16(e + 14, 8);
        char id[9], name[9];
        snprintf(id, sizeof id, "%08u", i + 1);
        snprintf(name, sizeof name, "n%07u", i);
        memcpy(e + 64, id, 8);
        memcpy(e + 72, name, 8);
    }
    wr32(g + 60, nsn);
    wr64(g + 64, tstart);
    uint8_t *cnt = g + rb;
    wr16(cnt + 2 * (st / PAGE), 0);
    wr16(cnt + 2 * (l1 / PAGE), (uint16_t)nsn);
    wr16(cnt + 2 * (l2 / PAGE), 65535);
    wr16(cnt + 2 * (data / PAGE), 65535);
    for (uint64_t k = 0; k < tclusters; k++)
        wr16(cnt + 2 * (tstart / PAGE + k), 1);
    put_file(path, g, tstart + tclusters * PAGE);

    /* one writable open to the end, so that no recount hides a leak from
     * the one qemu-img check (slow here: it walks all 65535 references) */
    q = open_ok(path, true);
    b = qcow2_build_begin(q, 0, npages * PAGE, err, sizeof err);
    g_assert_nonnull(b);
    page_data(43, page);
    g_assert_true(qcow2_build_put(b, 512 * 3 + 1, page, err, sizeof err));
    g_assert_cmpint(qcow2_build_commit(b, "over", 10, 0, err, sizeof err), ==, (int)nsn);
    /* reads as its base did, but for the page it changed */
    uint64_t n = 0;
    for (uint64_t p = qcow2_next_present(q, (int)nsn, 0); p != UINT64_MAX;
         p = qcow2_next_present(q, (int)nsn, p + 1), n++) {
        g_assert_true(qcow2_read_page(q, (int)nsn, p, got, err, sizeof err));
        page_data(p == 512 * 3 + 1 ? 43 : 42, page);
        g_assert_true(p % 512 == 0 || p == 512 * 3 + 1);
        g_assert_true(memcmp(got, page, PAGE) == 0);
    }
    g_assert_cmpuint(n, ==, nl1 + 1);
    g_free(f);
    f = file_bytes(path, &len);
    /* none of its tables or clusters is the overflowing one */
    uint64_t pos = rd64(f + 64);
    for (unsigned i = 0; i < nsn; i++)
        pos += elen;
    uint64_t nl1off = rd64(f + pos);
    g_assert_cmpuint(nl1off, !=, l1);
    for (unsigned k = 0; k < nl1; k++) {
        uint64_t t = rd64(f + nl1off + 8 * k) & 0x00fffffffffffe00ull;
        g_assert_cmpuint(t, !=, l2);
        g_assert_cmpuint(rd64(f + t) & 0x00fffffffffffe00ull, !=, data);
    }

    /* and deleting gives the references back */
    g_assert_true(qcow2_snapshot_delete(q, 3, err, sizeof err));
    b = qcow2_build_begin(q, 0, PAGE, err, sizeof err);
    g_assert_cmpint(qcow2_build_commit(b, "small", 11, 0, err, sizeof err), ==, (int)nsn);
    close_ok(q);
    if (have_qemu_img)
        g_assert_cmpint(run(NULL, "qemu-img check -q '%s'", path), ==, 0);
    g_free(f);
    g_free(g);
    g_free(path);
}

/* Child snapshot j of the crash test: its base with every fifth page
 * (shifted by j) new, as tokens the parent can recompute. */
static MSnap *crash_plan(const MSnap *base, int j)
{
    MSnap *s = g_new0(MSnap, 1);
    s->name = g_strdup_printf("c%d", j);
    s->icount = (uint64_t)j;
    s->npages = base->npages;
    s->tok = g_memdup2(base->tok, base->npages * sizeof *base->tok);
    for (uint64_t p = (uint64_t)j % 5; p < s->npages; p += 5)
        s->tok[p] = 10000000u * (uint32_t)(j + 1) + (uint32_t)p;
    return s;
}

/* A process killed at a random moment while it commits snapshot after
 * snapshot leaves an image qemu-img check finds clean, with every
 * snapshot committed before the kill intact. */
static void test_crash(void)
{
    char *path = tpath("crash.qcow2"), err[512] = "";
    Model *m = model_new(8);
    Qcow2Image *q = qcow2_image_create(path, err, sizeof err);
    g_assert_nonnull(q);
    add_snapshot(q, m, -1, 2000, 1500, "base");
    close_ok(q);
    GRand *r = g_rand_new_with_seed(8);
    int next = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
            Qcow2Image *cq = qcow2_image_open(path, true, err, sizeof err);
            uint8_t buf[PAGE];
            for (int j = next; cq; j++) {
                const MSnap *base = msnap(m, m->snaps->len - 1);
                MSnap *s = crash_plan(base, j);
                Qcow2Build *b = qcow2_build_begin(cq, qcow2_snapshot_count(cq) - 1,
                                                  s->npages * PAGE, err, sizeof err);
                for (uint64_t p = (uint64_t)j % 5; b && p < s->npages; p += 5) {
                    page_data(s->tok[p], buf);
                    qcow2_build_put(b, p, buf, err, sizeof err);
                }
                if (!b || qcow2_build_commit(b, s->name, s->icount, 0, err, sizeof err) < 0)
                    _exit(1);
                g_ptr_array_add(m->snaps, s);
            }
            _exit(1);
        }
        g_usleep((gulong)g_rand_int_range(r, 100, 15000));
        kill(pid, SIGKILL);
        int status;
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFSIGNALED(status));

        /* the snapshots committed before the kill are a prefix of the plan */
        q = open_ok(path, true);
        for (;; next++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", next);
            if (qcow2_snapshot_find(q, name) < 0)
                break;
            g_ptr_array_add(m->snaps, crash_plan(msnap(m, m->snaps->len - 1), next));
        }
        g_test_message("killed after %d commits", next);
        step(q, m, path);
        close_ok(q);
    }
    g_rand_free(r);
    model_free(m);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    GError *e = NULL;
    tmpdir = g_dir_make_tmp("rewind-qcow2-XXXXXX", &e);
    g_assert_nonnull(tmpdir);
    char *qi = g_find_program_in_path("qemu-img");
    have_qemu_img = qi != NULL;
    g_free(qi);

    g_test_add_func("/qcow2/model", test_model);
    g_test_add_func("/qcow2/sharing", test_sharing);
    g_test_add_func("/qcow2/interop", test_interop);
    g_test_add_func("/qcow2/abort", test_abort);
    g_test_add_func("/qcow2/errors", test_errors);
    g_test_add_func("/qcow2/refcount_limit", test_refcount_limit);
    g_test_add_func("/qcow2/truncated", test_truncated);
    g_test_add_func("/qcow2/corrupt", test_corrupt);
    g_test_add_func("/qcow2/crash", test_crash);
    int rc = g_test_run();

    char *argv_rm[] = { "rm", "-rf", tmpdir, NULL };
    g_spawn_sync(NULL, argv_rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    g_free(tmpdir);
    return rc;
}
