/* Unit tests of the event log (replay/): round trips, icount rules, chunking,
 * and the reader's behaviour on damaged files: whatever the damage, it
 * returns a prefix of the events that were written, never an invented one,
 * and never crashes. */
#include "replay.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

static char *tmpdir;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* ---- A model of what was written -------------------------------------- */

typedef struct Ev {
    uint8_t type;
    uint64_t icount;
    GBytes *payload;
} Ev;

static void ev_clear(gpointer p)
{
    g_bytes_unref(((Ev *)p)->payload);
}

static GArray *ev_list_new(void)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(Ev));
    g_array_set_clear_func(a, ev_clear);
    return a;
}

static void ev_add(GArray *a, uint8_t type, uint64_t icount, const void *p, size_t len)
{
    Ev e = { type, icount, g_bytes_new(p, len) };
    g_array_append_val(a, e);
}

static void write_events(RLogWriter *w, GArray *evs)
{
    char err[256];
    for (guint i = 0; i < evs->len; i++) {
        Ev *e = &g_array_index(evs, Ev, i);
        gsize len;
        const void *p = g_bytes_get_data(e->payload, &len);
        if (!rlog_write_event(w, e->type, e->icount, p, len, err, sizeof err))
            g_error("write event %u: %s", i, err);
    }
}

static void write_log(const char *path, const RLogWriterConfig *cfg, GArray *evs,
                      uint64_t end_icount)
{
    char err[256];
    RLogWriter *w = rlog_writer_open(path, cfg, err, sizeof err);
    if (!w)
        g_error("%s", err);
    write_events(w, evs);
    if (!rlog_writer_close(w, end_icount, err, sizeof err))
        g_error("close: %s", err);
}

static bool ev_equal(const Ev *e, const RLogEvent *ev)
{
    gsize len;
    const uint8_t *p = g_bytes_get_data(e->payload, &len);
    return e->type == ev->type && e->icount == ev->icount && len == ev->len &&
           (len == 0 || memcmp(p, ev->payload, len) == 0);
}

/* Reads the whole log; asserts every event returned is the next one of
 * expected. Returns the number of events read; *status the final state. */
static guint read_prefix(RLogReader *r, GArray *expected, RLogNext *status, char *err,
                         size_t errlen)
{
    guint n = 0;
    for (;;) {
        RLogEvent ev, pk;
        uint64_t pic;
        bool peeked = rlog_reader_peek(r, &pk);
        g_assert_true(peeked == rlog_reader_peek_icount(r, &pic));
        RLogNext st = rlog_reader_next(r, &ev, err, errlen);
        if (st != RLOG_NEXT_EVENT) {
            g_assert_false(peeked);
            *status = st;
            return n;
        }
        g_assert_true(peeked);
        g_assert_cmpuint(pic, ==, ev.icount);
        g_assert_cmpuint(pk.type, ==, ev.type);
        g_assert_cmpuint(n, <, expected->len);
        g_assert_true(ev_equal(&g_array_index(expected, Ev, n), &ev));
        n++;
    }
}

/* Plain stdio: g_file_set_contents syncs to disk, far too slow here. */
static void set_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        g_error("%s: cannot write", path);
}

static GBytes *get_file(const char *path)
{
    gchar *data;
    gsize len;
    GError *gerr = NULL;
    if (!g_file_get_contents(path, &data, &len, &gerr))
        g_error("%s", gerr->message);
    return g_bytes_new_take(data, len);
}

/* Chunk layout, walked from outside (docs/log-format.md). */
typedef struct ChunkInfo {
    size_t offset, end;
    uint64_t first, last;
    uint32_t nevents;
} ChunkInfo;

static GArray *walk_chunks(GBytes *file)
{
    gsize len;
    const uint8_t *d = g_bytes_get_data(file, &len);
    GArray *a = g_array_new(FALSE, TRUE, sizeof(ChunkInfo));
    size_t off = RLOG_FILE_HEADER_SIZE;
    while (off < len) {
        g_assert_cmpuint(off + RLOG_CHUNK_HEADER_SIZE, <=, len);
        g_assert_cmpmem(d + off, 4, "RWCK", 4);
        ChunkInfo c = { off, off + RLOG_CHUNK_HEADER_SIZE + get_le32(d + off + 28),
                        get_le64(d + off + 8), get_le64(d + off + 16), get_le32(d + off + 24) };
        g_assert_cmpuint(get_le32(d + off + 40), ==, (uint32_t)crc32(0, d + off, 40));
        g_assert_cmpuint(c.end, <=, len);
        g_array_append_val(a, c);
        off = c.end;
    }
    g_assert_cmpuint(off, ==, len);
    return a;
}

/* ---- Varints ---------------------------------------------------------- */

static void test_varint(void)
{
    static const uint64_t vals[] = {
        0, 1, 127, 128, 255, 300, 16383, 16384, (1u << 21) - 1, 1u << 21,
        UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_C(1) << 56, UINT64_C(1) << 63,
        UINT64_MAX - 1, UINT64_MAX,
    };
    for (size_t i = 0; i < G_N_ELEMENTS(vals); i++) {
        uint8_t b[RLOG_VARINT_MAX];
        size_t n = rlog_uvarint_put(b, vals[i]);
        size_t bits = vals[i] ? 64 - (size_t)__builtin_clzll(vals[i]) : 1;
        g_assert_cmpuint(n, ==, (bits + 6) / 7);
        uint64_t v;
        g_assert_cmpuint(rlog_uvarint_get(b, n, &v), ==, n);
        g_assert_cmpuint(v, ==, vals[i]);
        /* Any shorter buffer is truncated. */
        for (size_t k = 0; k < n; k++)
            g_assert_cmpuint(rlog_uvarint_get(b, k, &v), ==, 0);
    }
    uint64_t v;
    static const uint8_t overlong[] = { 0x80, 0x00 };
    g_assert_cmpuint(rlog_uvarint_get(overlong, 2, &v), ==, 0);
    static const uint8_t too_big[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    g_assert_cmpuint(rlog_uvarint_get(too_big, 10, &v), ==, 0);
    static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x00 };
    g_assert_cmpuint(rlog_uvarint_get(eleven, 11, &v), ==, 0);
}

/* ---- Round trips ------------------------------------------------------ */

static GArray *random_events(GRand *rng, guint n, bool big_gaps)
{
    GArray *evs = ev_list_new();
    uint64_t ic = g_rand_int_range(rng, 0, 1000);
    uint8_t *buf = g_malloc(300 * 1024);
    for (guint i = 0; i < n; i++) {
        switch (g_rand_int_range(rng, 0, 6)) {
        case 0: break;                                      /* same icount */
        case 1: ic += 1; break;
        case 2: ic += g_rand_int_range(rng, 1, 1 << 20); break;
        case 3: ic += big_gaps ? (UINT64_C(1) << 33) + g_rand_int(rng) : 77; break;
        default: ic += g_rand_int_range(rng, 1, 200); break;
        }
        uint8_t type = (uint8_t)g_rand_int_range(rng, 1, 256);
        size_t len;
        int k = g_rand_int_range(rng, 0, 100);
        if (k < 30)
            len = 0;
        else if (k < 80)
            len = g_rand_int_range(rng, 1, 16);
        else if (k < 98)
            len = g_rand_int_range(rng, 16, 5000);
        else
            len = g_rand_int_range(rng, 60 * 1024, 300 * 1024);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)(k < 90 ? g_rand_int(rng) : j / 7);
        ev_add(evs, type, ic, buf, len);
    }
    g_free(buf);
    return evs;
}

static void roundtrip(GArray *evs, const RLogWriterConfig *cfg, uint64_t end)
{
    char *path = tmp_path("roundtrip.log");
    write_log(path, cfg, evs, end);
    char err[512];
    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    g_assert_nonnull(r);
    RLogNext st;
    guint n = read_prefix(r, evs, &st, err, sizeof err);
    g_assert_cmpuint(n, ==, evs->len);
    g_assert_cmpint(st, ==, RLOG_NEXT_END);
    g_assert_null(rlog_reader_stop_reason(r));
    g_assert_cmpuint(rlog_reader_valid_icount(r), ==, end);
    /* END is sticky. */
    RLogEvent ev;
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_END);
    rlog_reader_close(r);
    g_free(path);
}

static void test_roundtrip(void)
{
    GRand *rng = g_rand_new_with_seed(1);
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    for (int round = 0; round < 4; round++) {
        GArray *evs = random_events(rng, 3000, round & 1);
        cfg.chunk_size = round < 2 ? 1024 : 0;
        cfg.zlib_level = round == 3 ? 1 : 0;
        uint64_t last = g_array_index(evs, Ev, evs->len - 1).icount;
        roundtrip(evs, &cfg, last + (uint64_t)round);
        g_array_unref(evs);
    }
    /* Nothing but the end marker. */
    GArray *none = ev_list_new();
    roundtrip(none, NULL, 0);
    roundtrip(none, NULL, UINT64_C(123456789012));
    g_array_unref(none);
    g_rand_free(rng);
}

static void test_big_gaps(void)
{
    GArray *evs = ev_list_new();
    static const uint64_t ics[] = {
        0, 0, (UINT64_C(1) << 31) + 1, (UINT64_C(1) << 32) + 5, UINT64_C(1) << 40,
        (UINT64_C(1) << 40) + (UINT64_C(1) << 33), UINT64_C(1) << 63, UINT64_MAX - 1,
        UINT64_MAX - 1, UINT64_MAX,
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ics); i++)
        ev_add(evs, RLOG_EV_CHAR, ics[i], "x", 1);
    roundtrip(evs, NULL, UINT64_MAX);
    g_array_unref(evs);

    /* A first event far from zero, then a 2^40 gap with no input at all. */
    evs = ev_list_new();
    ev_add(evs, RLOG_EV_CLOCK, UINT64_C(5000000000), "12345678", 8);
    ev_add(evs, RLOG_EV_CHAR, UINT64_C(5000000000) + (UINT64_C(1) << 40), "q", 1);
    roundtrip(evs, NULL, UINT64_C(1) << 41);
    g_array_unref(evs);
}

/* ---- Writer rules ----------------------------------------------------- */

static void test_order(void)
{
    char *path = tmp_path("order.log");
    char err[256];
    RLogWriter *w = rlog_writer_open(path, NULL, err, sizeof err);
    g_assert_nonnull(w);
    g_assert_true(rlog_write_event(w, RLOG_EV_CHAR, 100, "a", 1, err, sizeof err));
    g_assert_true(rlog_write_event(w, RLOG_EV_CHAR, 100, "b", 1, err, sizeof err));
    g_assert_false(rlog_write_event(w, RLOG_EV_CHAR, 99, "c", 1, err, sizeof err));
    g_assert_nonnull(strstr(err, "char event at icount 99 is before the previous event "
                                 "(icount 100)"));
    g_assert_false(rlog_write_check(w, 50, 1, err, sizeof err));
    /* The end marker is the writer's; payloads have a limit. */
    g_assert_false(rlog_write_event(w, RLOG_EV_END, 200, NULL, 0, err, sizeof err));
    g_assert_false(rlog_write_event(w, RLOG_EV_NET, 200, NULL, RLOG_MAX_PAYLOAD + 1, err,
                                    sizeof err));
    void *big = g_malloc0(RLOG_MAX_PAYLOAD + 1);
    g_assert_false(rlog_write_event(w, RLOG_EV_NET, 200, big, RLOG_MAX_PAYLOAD + 1, err,
                                    sizeof err));
    g_free(big);
    /* Rejected events leave the writer usable. */
    g_assert_true(rlog_write_event(w, RLOG_EV_CHAR, 101, "d", 1, err, sizeof err));
    g_assert_cmpuint(rlog_writer_last_icount(w), ==, 101);
    g_assert_cmpuint(rlog_writer_events(w), ==, 3);
    /* An end before the last event is refused: the log then reads truncated. */
    g_assert_false(rlog_writer_close(w, 100, err, sizeof err));
    g_assert_nonnull(strstr(err, "end of log at icount 100 is before the last event"));

    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    g_assert_nonnull(r);
    GArray *evs = ev_list_new();
    ev_add(evs, RLOG_EV_CHAR, 100, "a", 1);
    ev_add(evs, RLOG_EV_CHAR, 100, "b", 1);
    ev_add(evs, RLOG_EV_CHAR, 101, "d", 1);
    RLogNext st;
    g_assert_cmpuint(read_prefix(r, evs, &st, err, sizeof err), ==, 3);
    g_assert_cmpint(st, ==, RLOG_NEXT_BROKEN);
    g_assert_cmpuint(rlog_reader_valid_icount(r), ==, 101);
    rlog_reader_close(r);
    g_array_unref(evs);
    g_free(path);
}

static void test_chunks(void)
{
    char *path = tmp_path("chunks.log");
    char err[256];
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    cfg.chunk_size = 100;
    GArray *evs = ev_list_new();
    uint8_t pl[40];
    memset(pl, 0xab, sizeof pl);
    for (int i = 0; i < 200; i++)
        ev_add(evs, RLOG_EV_RNG, (uint64_t)(i / 10) * 1000, pl, (size_t)(i % 40));
    /* 25 events at one icount, far more than a chunk. */
    for (int i = 0; i < 25; i++)
        ev_add(evs, RLOG_EV_NET, 1000000, pl, sizeof pl);
    ev_add(evs, RLOG_EV_CHAR, 1000001, "z", 1);

    RLogWriter *w = rlog_writer_open(path, &cfg, err, sizeof err);
    write_events(w, evs);
    uint64_t before = rlog_writer_bytes_written(w);
    g_assert_true(rlog_writer_flush(w, err, sizeof err));
    g_assert_cmpuint(rlog_writer_bytes_written(w), >, before);
    /* A flush with nothing buffered writes nothing. */
    before = rlog_writer_bytes_written(w);
    g_assert_true(rlog_writer_flush(w, err, sizeof err));
    g_assert_cmpuint(rlog_writer_bytes_written(w), ==, before);
    /* After an explicit flush, the same icount may continue in the next chunk. */
    g_assert_true(rlog_write_event(w, RLOG_EV_CHAR, 1000001, "y", 1, err, sizeof err));
    ev_add(evs, RLOG_EV_CHAR, 1000001, "y", 1);
    g_assert_true(rlog_writer_close(w, 2000000, err, sizeof err));

    GBytes *file = get_file(path);
    GArray *chunks = walk_chunks(file);
    g_assert_cmpuint(chunks->len, >, 10);
    uint32_t total = 0;
    for (guint i = 0; i < chunks->len; i++) {
        ChunkInfo *c = &g_array_index(chunks, ChunkInfo, i);
        total += c->nevents;
        /* Size-triggered boundaries never split one icount's events. */
        if (i > 0 && i + 1 < chunks->len)
            g_assert_cmpuint(c->first, >, g_array_index(chunks, ChunkInfo, i - 1).last);
    }
    g_assert_cmpuint(total, ==, evs->len + 1);      /* + the end marker */
    ChunkInfo *lastc = &g_array_index(chunks, ChunkInfo, chunks->len - 1);
    g_assert_cmpuint(lastc->first, ==, 1000001);
    g_assert_cmpuint(lastc->last, ==, 2000000);

    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    RLogNext st;
    g_assert_cmpuint(read_prefix(r, evs, &st, err, sizeof err), ==, evs->len);
    g_assert_cmpint(st, ==, RLOG_NEXT_END);
    g_assert_cmpuint(rlog_reader_valid_icount(r), ==, 2000000);
    g_assert_cmpuint(rlog_reader_file_size(r), ==, g_bytes_get_size(file));
    rlog_reader_close(r);
    g_array_unref(chunks);
    g_bytes_unref(file);
    g_array_unref(evs);
    g_free(path);
}

/* ---- Seeking (snapshots keep a log position) --------------------------- */

static void test_seek(void)
{
    GRand *rng = g_rand_new_with_seed(7);
    GArray *evs = random_events(rng, 500, false);
    char *path = tmp_path("seek.log");
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    cfg.chunk_size = 512;
    uint64_t end = g_array_index(evs, Ev, evs->len - 1).icount + 10;
    write_log(path, &cfg, evs, end);

    char err[256];
    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    RLogPos *pos = g_new(RLogPos, evs->len + 1);
    for (guint i = 0; i <= evs->len; i++) {
        pos[i] = rlog_reader_tell(r);
        RLogEvent ev;
        if (i & 1) {        /* a peek must not move the position */
            uint64_t ic;
            rlog_reader_peek_icount(r, &ic);
            RLogPos p = rlog_reader_tell(r);
            if (i < evs->len)
                g_assert_cmpuint(p.event_index, ==, pos[i].event_index);
        }
        RLogNext st = rlog_reader_next(r, &ev, err, sizeof err);
        g_assert_cmpint(st, ==, i < evs->len ? RLOG_NEXT_EVENT : RLOG_NEXT_END);
    }
    for (int k = 0; k < 200; k++) {
        guint i = (guint)g_rand_int_range(rng, 0, (gint32)evs->len + 1);
        g_assert_true(rlog_reader_seek(r, &pos[i], err, sizeof err));
        for (guint j = i; j < MIN(evs->len, i + 5); j++) {
            RLogEvent ev;
            g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_EVENT);
            g_assert_true(ev_equal(&g_array_index(evs, Ev, j), &ev));
        }
        if (i == evs->len) {
            RLogEvent ev;
            g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_END);
        }
    }
    /* Back to the start after the end. */
    g_assert_true(rlog_reader_seek(r, &pos[0], err, sizeof err));
    RLogNext st;
    g_assert_cmpuint(read_prefix(r, evs, &st, err, sizeof err), ==, evs->len);
    g_assert_cmpint(st, ==, RLOG_NEXT_END);
    /* A position that does not exist is refused, without crashing. */
    RLogPos bad = pos[1];
    bad.event_index = 100000;
    g_assert_false(rlog_reader_seek(r, &bad, err, sizeof err));
    g_assert_nonnull(strstr(err, "bad log position"));
    RLogEvent ev;
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_BROKEN);
    g_assert_nonnull(strstr(err, "bad log position"));
    bad.chunk_offset = 3;
    g_assert_false(rlog_reader_seek(r, &bad, err, sizeof err));
    bad.chunk_offset = 1000000000;
    bad.event_index = 1;
    g_assert_false(rlog_reader_seek(r, &bad, err, sizeof err));
    rlog_reader_close(r);
    g_free(pos);
    g_array_unref(evs);
    g_free(path);
    g_rand_free(rng);
}

/* ---- Damaged logs ----------------------------------------------------- */

/* A small log of several chunks: the file for the damage tests. */
static GArray *small_log(const char *path)
{
    GArray *evs = ev_list_new();
    uint64_t ic = 0;
    for (int i = 0; i < 24; i++) {
        char p[16];
        int n = g_snprintf(p, sizeof p, "ev%d", i);
        ic += (uint64_t)(i % 3) * 1000 + (i == 12 ? UINT64_C(1) << 35 : 0);
        ev_add(evs, (uint8_t)(i % 4 == 0 ? RLOG_EV_CHECK : RLOG_EV_CHAR + i % 5), ic, p,
               i % 4 == 0 ? 8 : (size_t)n);
    }
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    cfg.chunk_size = 40;
    write_log(path, &cfg, evs, ic + 5);
    return evs;
}

/* Reads a damaged file: the open fails, or the events are a prefix of evs.
 * Returns the number read, or -1 if the open failed. */
static int read_damaged(const char *path, GArray *evs, RLogNext *st, char *err, size_t errlen)
{
    RLogReader *r = rlog_reader_open(path, err, errlen);
    if (!r)
        return -1;
    guint n = read_prefix(r, evs, st, err, errlen);
    if (*st == RLOG_NEXT_BROKEN) {
        g_assert_nonnull(rlog_reader_stop_reason(r));
        g_assert_cmpstr(rlog_reader_stop_reason(r), ==, err);
        g_assert_nonnull(strstr(err, "log ends early at byte "));
        g_assert_nonnull(strstr(err, "; replay is valid up to icount "));
        uint64_t valid = rlog_reader_valid_icount(r);
        g_assert_true(n == 0 || valid >= g_array_index(evs, Ev, n - 1).icount);
        /* Sticky. */
        RLogEvent ev;
        g_assert_cmpint(rlog_reader_next(r, &ev, err, errlen), ==, RLOG_NEXT_BROKEN);
    }
    rlog_reader_close(r);
    return (int)n;
}

static void test_truncation(void)
{
    char *path = tmp_path("small.log");
    char *cut = tmp_path("cut.log");
    GArray *evs = small_log(path);
    GBytes *file = get_file(path);
    gsize size;
    const uint8_t *d = g_bytes_get_data(file, &size);
    GArray *chunks = walk_chunks(file);
    g_assert_cmpuint(chunks->len, >=, 4);
    g_test_message("small log: %zu bytes, %u chunks, %u events", (size_t)size,
                   chunks->len, evs->len);
    char err[512];
    for (size_t len = 0; len < size; len++) {
        set_file(cut, d, len);
        RLogNext st;
        int n = read_damaged(cut, evs, &st, err, sizeof err);
        if (len < RLOG_FILE_HEADER_SIZE) {
            g_assert_cmpint(n, ==, -1);
            g_assert_nonnull(strstr(err, len < 8 ? "not a Rewind event log"
                                                 : "truncated header"));
            continue;
        }
        g_assert_cmpint(st, ==, RLOG_NEXT_BROKEN);
        /* Exactly the events of the chunks wholly inside the prefix. */
        int whole = 0;
        uint64_t valid = 0;
        size_t at = RLOG_FILE_HEADER_SIZE;
        guint k = 0;
        for (; k < chunks->len; k++) {
            ChunkInfo *c = &g_array_index(chunks, ChunkInfo, k);
            if (c->end > len)
                break;
            whole += (int)c->nevents;
            valid = c->last;
            at = c->end;
        }
        g_assert_cmpint(n, ==, whole);
        char *want = g_strdup_printf("%s: log ends early at byte %zu (chunk %u, ", cut, at, k);
        g_assert_true(g_str_has_prefix(err, want));
        g_free(want);
        g_assert_nonnull(strstr(err, "truncated"));
        char *tail = g_strdup_printf("; replay is valid up to icount %" PRIu64, valid);
        g_assert_true(g_str_has_suffix(err, tail));
        g_free(tail);
    }
    g_test_message("e.g. %s", err);
    /* The whole file reads to the end. */
    RLogNext st;
    g_assert_cmpint(read_damaged(path, evs, &st, err, sizeof err), ==, (int)evs->len);
    g_assert_cmpint(st, ==, RLOG_NEXT_END);
    g_array_unref(chunks);
    g_bytes_unref(file);
    g_array_unref(evs);
    g_free(cut);
    g_free(path);
}

static void test_bitflips(void)
{
    char *path = tmp_path("small.log");
    char *bad = tmp_path("flipped.log");
    GArray *evs = small_log(path);
    GBytes *file = get_file(path);
    gsize size;
    const uint8_t *d = g_bytes_get_data(file, &size);
    GArray *chunks = walk_chunks(file);
    uint8_t *copy = g_memdup2(d, size);
    char err[512];
    int failed_open = 0, broken = 0;
    for (size_t bit = 0; bit < size * 8; bit++) {
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        set_file(bad, copy, size);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        RLogNext st;
        int n = read_damaged(bad, evs, &st, err, sizeof err);
        /* A flip in the file header is caught at open, and only there. */
        g_assert_cmpint(n < 0, ==, bit / 8 < RLOG_FILE_HEADER_SIZE);
        if (n < 0) {
            failed_open++;
            continue;
        }
        /* Every flip is caught by a CRC: never the clean end. */
        g_assert_cmpint(st, ==, RLOG_NEXT_BROKEN);
        /* Reading stops at the chunk holding the flipped bit. */
        int before = 0;
        for (guint k = 0; k < chunks->len; k++) {
            ChunkInfo *c = &g_array_index(chunks, ChunkInfo, k);
            if (c->end > bit / 8)
                break;
            before += (int)c->nevents;
        }
        g_assert_cmpint(n, ==, before);
        broken++;
    }
    g_test_message("%zu bit flips: %d refused at open, %d read to the damaged chunk",
                   (size_t)size * 8, failed_open, broken);
    g_free(copy);
    g_array_unref(chunks);
    g_bytes_unref(file);
    g_array_unref(evs);
    g_free(bad);
    g_free(path);
}

/* Builds a chunk with correct CRCs around arbitrary event bytes. */
static void append_chunk(GByteArray *out, uint32_t index, uint64_t first, uint64_t last,
                         uint32_t nev, const uint8_t *events, size_t ulen, uint32_t ulen_claim)
{
    uLongf clen = compressBound(ulen);
    uint8_t *z = g_malloc(clen);
    g_assert_cmpint(compress2(z, &clen, events, ulen, 6), ==, Z_OK);
    uint8_t h[RLOG_CHUNK_HEADER_SIZE];
    memcpy(h, "RWCK", 4);
    put_le32(h + 4, index);
    put_le64(h + 8, first);
    put_le64(h + 16, last);
    put_le32(h + 24, nev);
    put_le32(h + 28, (uint32_t)clen);
    put_le32(h + 32, ulen_claim);
    put_le32(h + 36, (uint32_t)crc32(0, z, clen));
    put_le32(h + 40, (uint32_t)crc32(0, h, 40));
    g_byte_array_append(out, h, sizeof h);
    g_byte_array_append(out, z, clen);
    g_free(z);
}

static void test_garbage(void)
{
    GRand *rng = g_rand_new_with_seed(42);
    char *path = tmp_path("small.log");
    char *bad = tmp_path("garbage.log");
    GArray *evs = small_log(path);
    GBytes *file = get_file(path);
    gsize size;
    const uint8_t *d = g_bytes_get_data(file, &size);
    char err[512];
    RLogNext st;
    uint8_t buf[4096];

    /* Random bytes: not a log. */
    for (int i = 0; i < 500; i++) {
        size_t len = (size_t)g_rand_int_range(rng, 0, sizeof buf);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)g_rand_int(rng);
        set_file(bad, buf, len);
        g_assert_cmpint(read_damaged(bad, evs, &st, err, sizeof err), ==, -1);
        g_assert_nonnull(strstr(err, "not a Rewind event log"));
    }
    /* A good header, then random bytes, with or without a chunk tag. */
    for (int i = 0; i < 500; i++) {
        size_t len = (size_t)g_rand_int_range(rng, RLOG_FILE_HEADER_SIZE, sizeof buf);
        memcpy(buf, d, RLOG_FILE_HEADER_SIZE);
        for (size_t j = RLOG_FILE_HEADER_SIZE; j < len; j++)
            buf[j] = (uint8_t)g_rand_int(rng);
        if (i & 1 && len >= RLOG_FILE_HEADER_SIZE + 4)
            memcpy(buf + RLOG_FILE_HEADER_SIZE, "RWCK", 4);
        set_file(bad, buf, len);
        g_assert_cmpint(read_damaged(bad, evs, &st, err, sizeof err), ==, 0);
        g_assert_cmpint(st, ==, RLOG_NEXT_BROKEN);
    }
    /* Random overwrites of a few bytes of a good log: a prefix, always. */
    uint8_t *copy = g_malloc(size);
    for (int i = 0; i < 3000; i++) {
        memcpy(copy, d, size);
        int nbytes = g_rand_int_range(rng, 1, 6);
        for (int k = 0; k < nbytes; k++)
            copy[g_rand_int_range(rng, 0, (gint32)size)] = (uint8_t)g_rand_int(rng);
        size_t len = g_rand_boolean(rng) ? size : (size_t)g_rand_int_range(rng, 0, (gint32)size);
        set_file(bad, copy, len);
        read_damaged(bad, evs, &st, err, sizeof err);
    }
    g_free(copy);
    /* Chunks with correct CRCs around garbage events: the reader's own
     * checks of the event structure. Nothing may crash; a chunk is taken
     * only if it is consistent. */
    GArray *none = ev_list_new();
    for (int i = 0; i < 3000; i++) {
        GByteArray *out = g_byte_array_new();
        g_byte_array_append(out, d, RLOG_FILE_HEADER_SIZE);
        size_t ulen = (size_t)g_rand_int_range(rng, 0, 64);
        for (size_t j = 0; j < ulen; j++) {
            int k = g_rand_int_range(rng, 0, 4);
            buf[j] = (uint8_t)(k == 0 ? 0 : k == 1 ? 0x80 | g_rand_int(rng)
                               : (guint32)g_rand_int_range(rng, 0, 8));
        }
        uint32_t nev = (uint32_t)g_rand_int_range(rng, 0, 6);
        uint64_t first = g_rand_boolean(rng) ? 0 : g_rand_int_range(rng, 0, 10);
        uint64_t last = first + (uint64_t)g_rand_int_range(rng, 0, 20);
        uint32_t claim = g_rand_int_range(rng, 0, 8) ? (uint32_t)ulen : g_rand_int(rng);
        append_chunk(out, (uint32_t)g_rand_int_range(rng, 0, 2), first, last, nev, buf, ulen,
                     claim);
        set_file(bad, out->data, out->len);
        RLogReader *r = rlog_reader_open(bad, err, sizeof err);
        g_assert_nonnull(r);
        RLogEvent ev;
        RLogNext s;
        int n = 0;
        while ((s = rlog_reader_next(r, &ev, err, sizeof err)) == RLOG_NEXT_EVENT) {
            g_assert_cmpuint(ev.icount, >=, first);
            g_assert_cmpuint(ev.icount, <=, last);
            g_assert_cmpuint(ev.type, !=, RLOG_EV_END);
            g_assert_cmpint(++n, <=, (int)nev);
        }
        g_assert_cmpint(s, !=, RLOG_NEXT_EVENT);
        rlog_reader_close(r);
        g_byte_array_unref(out);
    }
    g_array_unref(none);
    g_bytes_unref(file);
    g_array_unref(evs);
    g_free(bad);
    g_free(path);
    g_rand_free(rng);
}

static void test_open_errors(void)
{
    char err[512];
    char *path = tmp_path("hdr.log");
    g_assert_null(rlog_reader_open("/nonexistent/dir/x.log", err, sizeof err));
    g_assert_nonnull(strstr(err, "/nonexistent/dir/x.log: "));

    set_file(path, "#!/bin/sh\necho hello, this is not a log at all\n", 47);
    g_assert_null(rlog_reader_open(path, err, sizeof err));
    char *want = g_strdup_printf("%s: not a Rewind event log", path);
    g_assert_cmpstr(err, ==, want);
    g_free(want);
    set_file(path, "", 0);
    g_assert_null(rlog_reader_open(path, err, sizeof err));
    g_assert_nonnull(strstr(err, "not a Rewind event log"));

    /* A later version, with a correct CRC. */
    uint8_t h[RLOG_FILE_HEADER_SIZE] = {0};
    memcpy(h, "RWNDLOG", 8);
    put_le32(h + 8, 7);
    put_le32(h + 12, RLOG_FILE_HEADER_SIZE);
    put_le32(h + 36, (uint32_t)crc32(0, h, 36));
    set_file(path, h, sizeof h);
    g_assert_null(rlog_reader_open(path, err, sizeof err));
    want = g_strdup_printf("%s: format version 7, this Rewind reads %u", path,
                           RLOG_FORMAT_VERSION);
    g_assert_cmpstr(err, ==, want);
    g_free(want);

    /* Version 1 with a flag that must be understood. */
    put_le32(h + 8, RLOG_FORMAT_VERSION);
    put_le32(h + 16, 0x00010000);
    put_le32(h + 36, (uint32_t)crc32(0, h, 36));
    set_file(path, h, sizeof h);
    g_assert_null(rlog_reader_open(path, err, sizeof err));
    g_assert_nonnull(strstr(err, "unsupported log flags 0x00010000"));
    /* A flag that may be ignored: opens, and the log (no chunk) is truncated. */
    put_le32(h + 16, 0x00000001);
    put_le32(h + 36, (uint32_t)crc32(0, h, 36));
    set_file(path, h, sizeof h);
    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    g_assert_nonnull(r);
    RLogEvent ev;
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_BROKEN);
    want = g_strdup_printf("%s: log ends early at byte 40 (chunk 0, after icount 0): "
                           "truncated (no end marker); replay is valid up to icount 0", path);
    g_assert_cmpstr(err, ==, want);
    g_free(want);
    rlog_reader_close(r);

    g_assert_null(rlog_writer_open("/nonexistent/dir/x.log", NULL, err, sizeof err));
    g_free(path);
}

static void test_crc_message(void)
{
    /* A bad data CRC in chunk 2 names the chunk, its icounts and the
     * icount up to which replay holds. */
    char *path = tmp_path("small.log");
    GArray *evs = small_log(path);
    GBytes *file = get_file(path);
    GArray *chunks = walk_chunks(file);
    gsize size;
    const uint8_t *d = g_bytes_get_data(file, &size);
    uint8_t *copy = g_memdup2(d, size);
    ChunkInfo *c1 = &g_array_index(chunks, ChunkInfo, 1);
    ChunkInfo *c2 = &g_array_index(chunks, ChunkInfo, 2);
    copy[c2->offset + RLOG_CHUNK_HEADER_SIZE + 3] ^= 0x10;
    set_file(path, copy, size);
    char err[512];
    RLogNext st;
    int n = read_damaged(path, evs, &st, err, sizeof err);
    g_assert_cmpint(n, ==, (int)(g_array_index(chunks, ChunkInfo, 0).nevents + c1->nevents));
    char *want = g_strdup_printf("%s: log ends early at byte %zu (chunk 2, icounts %" PRIu64
                                 "..%" PRIu64 "): CRC mismatch; replay is valid up to icount %"
                                 PRIu64, path, c2->offset, c2->first, c2->last, c1->last);
    g_assert_cmpstr(err, ==, want);
    g_test_message("%s", err);
    g_free(want);
    g_free(copy);
    g_array_unref(chunks);
    g_bytes_unref(file);
    g_array_unref(evs);
    g_free(path);
}

/* ---- Check events ----------------------------------------------------- */

static void test_divergence(void)
{
    char buf[128];
    rlog_format_divergence(buf, sizeof buf, 123456789, 0x0123456789abcdefULL, 0xfeULL);
    g_assert_cmpstr(buf, ==, "replay diverged at icount 123456789 "
                             "(expected 0x0123456789abcdef, got 0x00000000000000fe)");
    /* A short buffer is cut, not overrun. */
    char small[16];
    rlog_format_divergence(small, sizeof small, 1, 2, 3);
    g_assert_cmpstr(small, ==, "replay diverged");

    char *path = tmp_path("check.log");
    char err[256];
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    cfg.check_period = 1000;
    RLogWriter *w = rlog_writer_open(path, &cfg, err, sizeof err);
    g_assert_cmpuint(rlog_writer_next_check(w), ==, 1000);
    g_assert_true(rlog_write_check(w, 1000, 0xdeadbeefcafef00dULL, err, sizeof err));
    g_assert_cmpuint(rlog_writer_next_check(w), ==, 2000);
    g_assert_true(rlog_write_event(w, RLOG_EV_CHAR, 1500, "k", 1, err, sizeof err));
    g_assert_true(rlog_write_check(w, 2345, 42, err, sizeof err));  /* late: next is 3000 */
    g_assert_cmpuint(rlog_writer_next_check(w), ==, 3000);
    g_assert_true(rlog_writer_close(w, 2500, err, sizeof err));

    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    g_assert_cmpuint(rlog_reader_check_period(r), ==, 1000);
    RLogEvent ev;
    uint64_t hash;
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_EVENT);
    g_assert_cmpuint(ev.type, ==, RLOG_EV_CHECK);
    g_assert_true(rlog_check_hash(&ev, &hash, err, sizeof err));
    g_assert_cmpuint(hash, ==, 0xdeadbeefcafef00dULL);
    g_assert_true(rlog_check_verify(&ev, 0xdeadbeefcafef00dULL, err, sizeof err));
    g_assert_false(rlog_check_verify(&ev, 0xdeadbeefcafef00cULL, err, sizeof err));
    g_assert_cmpstr(err, ==, "replay diverged at icount 1000 "
                             "(expected 0xdeadbeefcafef00d, got 0xdeadbeefcafef00c)");
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_EVENT);
    g_assert_false(rlog_check_hash(&ev, &hash, err, sizeof err));
    g_assert_nonnull(strstr(err, "not a check event at icount 1500"));
    g_assert_cmpstr(rlog_event_name(ev.type), ==, "char");
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_EVENT);
    g_assert_true(rlog_check_verify(&ev, 42, err, sizeof err));
    g_assert_cmpint(rlog_reader_next(r, &ev, err, sizeof err), ==, RLOG_NEXT_END);
    g_assert_cmpuint(rlog_reader_valid_icount(r), ==, 2500);
    rlog_reader_close(r);

    /* The hash helper is FNV-1a 64. */
    g_assert_cmpuint(rlog_hash64(RLOG_HASH_INIT, "", 0), ==, 0xcbf29ce484222325ULL);
    g_assert_cmpuint(rlog_hash64(RLOG_HASH_INIT, "a", 1), ==, 0xaf63dc4c8601ec8cULL);
    g_free(path);
}

/* ---- Sizes ------------------------------------------------------------ */

/* A CPU-only guest: check events at every multiple of the period, nothing
 * else; returns the file size. */
static gsize cpu_only_log(const char *path, uint64_t period, uint64_t run, int hashes)
{
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    cfg.check_period = period;
    char err[256];
    RLogWriter *w = rlog_writer_open(path, &cfg, err, sizeof err);
    GRand *rng = g_rand_new_with_seed(3);
    uint64_t h = 0x1234567890abcdefULL;
    while (rlog_writer_next_check(w) <= run) {
        uint64_t ic = rlog_writer_next_check(w);
        if (hashes == 1)
            h = (uint64_t)g_rand_int(rng) << 32 | g_rand_int(rng);  /* unrelated hashes */
        else if (hashes == 2)
            h += 1;                                                 /* similar hashes */
        g_assert_true(rlog_write_check(w, ic, h, err, sizeof err));
    }
    uint64_t events = rlog_writer_events(w);
    g_assert_true(rlog_writer_close(w, run, err, sizeof err));
    g_rand_free(rng);
    GBytes *file = get_file(path);
    gsize size = g_bytes_get_size(file);
    g_bytes_unref(file);
    g_test_message("run of %" PRIu64 " instructions, check every %" PRIu64 ": %" PRIu64
                   " check events (%s hashes), log of %zu bytes", run, period, events,
                   hashes == 0 ? "identical" : hashes == 1 ? "random" : "similar",
                   (size_t)size);

    /* And it reads back, ending at the end of the run. */
    RLogReader *r = rlog_reader_open(path, err, sizeof err);
    RLogEvent ev;
    uint64_t n = 0;
    while (rlog_reader_next(r, &ev, err, sizeof err) == RLOG_NEXT_EVENT) {
        g_assert_cmpuint(ev.type, ==, RLOG_EV_CHECK);
        g_assert_cmpuint(ev.icount, ==, (n + 1) * period);
        n++;
    }
    g_assert_cmpuint(n, ==, events);
    g_assert_cmpuint(rlog_reader_valid_icount(r), ==, run);
    rlog_reader_close(r);
    return size;
}

static void test_sizes(void)
{
    char *path = tmp_path("cpu_only.log");
    /* The default period on a 10^10-instruction run: a few hundred bytes
     * even with hashes that share nothing. */
    gsize s = cpu_only_log(path, RLOG_DEFAULT_CHECK_PERIOD, UINT64_C(10000000000), 1);
    g_assert_cmpuint(s, <, 600);
    /* 1000 check events with identical or similar payloads compress to
     * little more than their framing. */
    s = cpu_only_log(path, UINT64_C(1) << 24, UINT64_C(1000) << 24, 0);
    g_assert_cmpuint(s, <, 200);
    s = cpu_only_log(path, UINT64_C(1) << 24, UINT64_C(1000) << 24, 2);
    g_assert_cmpuint(s, <, 2000);
    /* For comparison: 2^24 with random hashes is 8 bytes a check. */
    s = cpu_only_log(path, UINT64_C(1) << 24, UINT64_C(10000000000), 1);
    g_assert_cmpuint(s, <, 6000);
    /* No input, no checks: header, one chunk with the end marker. */
    s = cpu_only_log(path, 0, UINT64_C(1) << 50, 1);
    g_assert_cmpuint(s, <, 100);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test_replay_log-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    g_test_add_func("/replay_log/varint", test_varint);
    g_test_add_func("/replay_log/roundtrip", test_roundtrip);
    g_test_add_func("/replay_log/big_gaps", test_big_gaps);
    g_test_add_func("/replay_log/order", test_order);
    g_test_add_func("/replay_log/chunks", test_chunks);
    g_test_add_func("/replay_log/seek", test_seek);
    g_test_add_func("/replay_log/open_errors", test_open_errors);
    g_test_add_func("/replay_log/truncation", test_truncation);
    g_test_add_func("/replay_log/bitflips", test_bitflips);
    g_test_add_func("/replay_log/crc_message", test_crc_message);
    g_test_add_func("/replay_log/garbage", test_garbage);
    g_test_add_func("/replay_log/divergence", test_divergence);
    g_test_add_func("/replay_log/sizes", test_sizes);
    int rc = g_test_run();
    GDir *dir = g_dir_open(tmpdir, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir))) {
        char *p = g_build_filename(tmpdir, name, NULL);
        g_unlink(p);
        g_free(p);
    }
    if (dir)
        g_dir_close(dir);
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return rc;
}
