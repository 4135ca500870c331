/* The event log container: a file header, then zlib-compressed chunks of
 * events, each chunk with its icount range and CRCs. The writer buffers
 * events and compresses a chunk at a time; the reader verifies a whole chunk
 * before handing out any of its events, so a damaged file yields exactly the
 * events of the chunks before the damage. Layout: docs/log-format.md. */
#include "log_format.h"
#include "replay.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static void G_GNUC_PRINTF(3, 4) set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *rlog_event_name(uint8_t type)
{
    switch (type) {
    case RLOG_EV_END:     return "end";
    case RLOG_EV_CHECK:   return "check";
    case RLOG_EV_CHAR:    return "char";
    case RLOG_EV_CLOCK:   return "clock";
    case RLOG_EV_IDLE:    return "idle";
    case RLOG_EV_REQUEST: return "request";
    case RLOG_EV_NET:     return "net";
    case RLOG_EV_RNG:     return "rng";
    case RLOG_EV_BLOCK:   return "block";
    case RLOG_EV_SKIP:    return "skip";
    default:              return "unknown";
    }
}

/* ======================================================================
 * Writer
 * ====================================================================== */

struct RLogWriter {
    FILE *f;
    char *path;
    uint32_t chunk_size;
    uint64_t check_period;
    int level;

    GByteArray *buf;           /* encoded events of the open chunk */
    uint8_t *zbuf;             /* compressed chunk */
    size_t zcap;
    uint32_t chunk_events;
    uint64_t chunk_first;
    uint32_t chunk_index;
    uint64_t prev_chunk_last;  /* last icount of the chunk written last */

    bool have_event;           /* any event written yet */
    uint64_t last_icount;
    uint64_t next_check;
    uint64_t events;
    uint64_t bytes;            /* written to the file */
    char *failure;             /* set once a write failed: sticky */
};

void rlog_writer_config_defaults(RLogWriterConfig *cfg)
{
    cfg->chunk_size = RLOG_DEFAULT_CHUNK_SIZE;
    cfg->check_period = RLOG_DEFAULT_CHECK_PERIOD;
    cfg->zlib_level = 0;
}

static bool write_bytes(RLogWriter *w, const void *p, size_t n, char *err, size_t errlen)
{
    if (n && fwrite(p, 1, n, w->f) != n) {
        g_free(w->failure);
        w->failure = g_strdup_printf("%s: write failed: %s", w->path, g_strerror(errno));
        set_err(err, errlen, "%s", w->failure);
        return false;
    }
    w->bytes += n;
    return true;
}

RLogWriter *rlog_writer_open(const char *path, const RLogWriterConfig *cfg,
                             char *err, size_t errlen)
{
    RLogWriterConfig def;
    if (!cfg) {
        rlog_writer_config_defaults(&def);
        cfg = &def;
    }
    uint32_t chunk_size = cfg->chunk_size ? cfg->chunk_size : RLOG_DEFAULT_CHUNK_SIZE;
    if (chunk_size > RLOG_MAX_CHUNK_TARGET) {
        set_err(err, errlen, "%s: chunk size %" PRIu32 " is above the limit of %u bytes",
                path, chunk_size, RLOG_MAX_CHUNK_TARGET);
        return NULL;
    }
    if (cfg->zlib_level < 0 || cfg->zlib_level > 9) {
        set_err(err, errlen, "%s: zlib level %d is not in 1..9", path, cfg->zlib_level);
        return NULL;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, g_strerror(errno));
        return NULL;
    }
    RLogWriter *w = g_new0(RLogWriter, 1);
    w->f = f;
    w->path = g_strdup(path);
    w->chunk_size = chunk_size;
    w->check_period = cfg->check_period;
    w->level = cfg->zlib_level ? cfg->zlib_level : Z_DEFAULT_COMPRESSION;
    w->buf = g_byte_array_sized_new(chunk_size + 64);
    w->next_check = cfg->check_period ? cfg->check_period : UINT64_MAX;

    uint8_t h[RLOG_FILE_HEADER_SIZE] = {0};
    memcpy(h + FH_MAGIC, RLOG_MAGIC, 8);
    put_le32(h + FH_VERSION, RLOG_FORMAT_VERSION);
    put_le32(h + FH_HEADER_SIZE, RLOG_FILE_HEADER_SIZE);
    put_le32(h + FH_FLAGS, 0);
    put_le32(h + FH_CHUNK_SIZE, chunk_size);
    put_le64(h + FH_CHECK_PERIOD, cfg->check_period);
    put_le32(h + FH_RESERVED, 0);
    put_le32(h + FH_CRC, (uint32_t)crc32(0, h, FH_CRC));
    if (!write_bytes(w, h, sizeof h, err, errlen) || fflush(f) != 0) {
        if (!w->failure)
            set_err(err, errlen, "%s: write failed: %s", path, g_strerror(errno));
        rlog_writer_free(w);
        return NULL;
    }
    return w;
}

/* Compresses the open chunk and writes it. */
static bool flush_chunk(RLogWriter *w, char *err, size_t errlen)
{
    if (w->chunk_events == 0)
        return true;
    uLong bound = compressBound(w->buf->len);
    if (bound > w->zcap) {
        g_free(w->zbuf);
        w->zcap = bound;
        w->zbuf = g_malloc(w->zcap);
    }
    uLongf clen = w->zcap;
    int zr = compress2(w->zbuf, &clen, w->buf->data, w->buf->len, w->level);
    if (zr != Z_OK) {
        g_free(w->failure);
        w->failure = g_strdup_printf("%s: zlib compress failed (%d)", w->path, zr);
        set_err(err, errlen, "%s", w->failure);
        return false;
    }
    uint8_t h[RLOG_CHUNK_HEADER_SIZE];
    memcpy(h + CH_TAG, RLOG_CHUNK_TAG, 4);
    put_le32(h + CH_INDEX, w->chunk_index);
    put_le64(h + CH_FIRST, w->chunk_first);
    put_le64(h + CH_LAST, w->last_icount);
    put_le32(h + CH_NEVENTS, w->chunk_events);
    put_le32(h + CH_CLEN, (uint32_t)clen);
    put_le32(h + CH_ULEN, w->buf->len);
    put_le32(h + CH_DATA_CRC, (uint32_t)crc32(0, w->zbuf, clen));
    put_le32(h + CH_CRC, (uint32_t)crc32(0, h, CH_CRC));
    if (!write_bytes(w, h, sizeof h, err, errlen) || !write_bytes(w, w->zbuf, clen, err, errlen))
        return false;
    w->chunk_index++;
    w->prev_chunk_last = w->last_icount;
    w->chunk_events = 0;
    g_byte_array_set_size(w->buf, 0);
    return true;
}

static bool append_event(RLogWriter *w, uint8_t type, uint64_t icount,
                         const void *payload, size_t len, char *err, size_t errlen)
{
    if (w->failure) {
        set_err(err, errlen, "%s", w->failure);
        return false;
    }
    if (len > RLOG_MAX_PAYLOAD) {
        set_err(err, errlen, "%s: %s event payload of %zu bytes is above the limit of %u",
                w->path, rlog_event_name(type), len, RLOG_MAX_PAYLOAD);
        return false;
    }
    if (w->have_event && icount < w->last_icount) {
        set_err(err, errlen, "%s: %s event at icount %" PRIu64
                " is before the previous event (icount %" PRIu64 ")",
                w->path, rlog_event_name(type), icount, w->last_icount);
        return false;
    }
    size_t need = 1 + 2 * RLOG_VARINT_MAX + len;
    /* A full chunk goes out before an event with a later icount, so the
     * events of one icount stay together; a chunk that would pass the hard
     * limit goes out in any case. */
    if (w->chunk_events &&
        ((w->buf->len >= w->chunk_size && icount > w->last_icount) ||
         w->buf->len + need > RLOG_MAX_CHUNK_BYTES)) {
        if (!flush_chunk(w, err, errlen))
            return false;
    }
    uint64_t prev = w->chunk_events ? w->last_icount : icount;
    if (!w->chunk_events)
        w->chunk_first = icount;
    uint8_t hdr[1 + 2 * RLOG_VARINT_MAX];
    size_t n = 0;
    hdr[n++] = type;
    n += rlog_uvarint_put(hdr + n, icount - prev);
    n += rlog_uvarint_put(hdr + n, len);
    g_byte_array_append(w->buf, hdr, n);
    if (len)
        g_byte_array_append(w->buf, payload, len);
    w->chunk_events++;
    w->events++;
    w->last_icount = icount;
    w->have_event = true;
    return true;
}

bool rlog_write_event(RLogWriter *w, uint8_t type, uint64_t icount,
                      const void *payload, size_t len, char *err, size_t errlen)
{
    if (type == RLOG_EV_END) {
        set_err(err, errlen, "%s: the end event is written by rlog_writer_close", w->path);
        return false;
    }
    if (len && !payload) {
        set_err(err, errlen, "%s: %s event with %zu bytes of payload and no data",
                w->path, rlog_event_name(type), len);
        return false;
    }
    return append_event(w, type, icount, payload, len, err, errlen);
}

bool rlog_write_check(RLogWriter *w, uint64_t icount, uint64_t hash, char *err, size_t errlen)
{
    uint8_t p[8];
    put_le64(p, hash);
    if (!append_event(w, RLOG_EV_CHECK, icount, p, sizeof p, err, errlen))
        return false;
    if (w->check_period) {
        uint64_t k = icount / w->check_period + 1;
        w->next_check = k > UINT64_MAX / w->check_period ? UINT64_MAX : k * w->check_period;
    }
    return true;
}

uint64_t rlog_writer_next_check(const RLogWriter *w)
{
    return w->next_check;
}

bool rlog_writer_flush(RLogWriter *w, char *err, size_t errlen)
{
    if (w->failure) {
        set_err(err, errlen, "%s", w->failure);
        return false;
    }
    if (!flush_chunk(w, err, errlen))
        return false;
    if (fflush(w->f) != 0) {
        g_free(w->failure);
        w->failure = g_strdup_printf("%s: write failed: %s", w->path, g_strerror(errno));
        set_err(err, errlen, "%s", w->failure);
        return false;
    }
    return true;
}

bool rlog_writer_close(RLogWriter *w, uint64_t end_icount, char *err, size_t errlen)
{
    bool ok;
    if (w->have_event && end_icount < w->last_icount) {
        set_err(err, errlen, "%s: end of log at icount %" PRIu64
                " is before the last event (icount %" PRIu64 ")",
                w->path, end_icount, w->last_icount);
        ok = false;
        rlog_writer_flush(w, NULL, 0);
    } else {
        ok = append_event(w, RLOG_EV_END, end_icount, NULL, 0, err, errlen) &&
             rlog_writer_flush(w, err, errlen);
    }
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0 && ok) {
        set_err(err, errlen, "%s: close failed: %s", w->path, g_strerror(errno));
        ok = false;
    }
    rlog_writer_free(w);
    return ok;
}

void rlog_writer_free(RLogWriter *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    g_byte_array_unref(w->buf);
    g_free(w->zbuf);
    g_free(w->failure);
    g_free(w->path);
    g_free(w);
}

RLogPos rlog_writer_tell(const RLogWriter *w)
{
    /* the open chunk goes to the end of the file, whatever is added to it */
    RLogPos p;
    p.chunk_offset = w->bytes;
    p.base_icount = w->prev_chunk_last;
    p.chunk_index = w->chunk_index;
    p.event_index = w->chunk_events;
    return p;
}

uint64_t rlog_writer_last_icount(const RLogWriter *w)
{
    return w->last_icount;
}

uint64_t rlog_writer_bytes_written(const RLogWriter *w)
{
    return w->bytes;
}

uint64_t rlog_writer_events(const RLogWriter *w)
{
    return w->events;
}

/* ======================================================================
 * Reader
 * ====================================================================== */

typedef enum ReaderState {
    RS_OK,
    RS_END,
    RS_BROKEN,
} ReaderState;

struct RLogReader {
    FILE *f;
    char *path;
    uint64_t file_size;
    uint64_t check_period;

    /* The next chunk to load. */
    uint64_t next_offset;
    uint32_t next_index;
    uint64_t prev_last;          /* last icount of the last good chunk */

    /* The loaded chunk, all verified. */
    bool loaded;
    uint64_t chunk_offset;
    uint32_t chunk_index;
    uint64_t chunk_base;         /* prev_last before it was loaded */
    uint64_t chunk_first, chunk_last;
    uint32_t nevents;
    uint8_t *data;               /* uncompressed events */
    size_t ulen, ucap;
    uint8_t *zdata;
    size_t zcap;
    size_t cursor;               /* offset of the next event in data */
    uint32_t consumed;           /* events of the chunk returned */
    uint64_t cursor_icount;      /* icount the next delta applies to */

    ReaderState state;
    uint64_t returned_icount;    /* icount of the last event returned */
    uint64_t end_icount;
    char *stop_reason;
    GByteArray *evbuf;           /* payload of the event last returned */
};

/* Decodes the event at *pos of data[0..len), relative to icount base.
 * Returns false if it does not fit or overflows. */
static bool parse_event(const uint8_t *data, size_t len, size_t *pos, uint64_t base,
                        RLogEvent *ev)
{
    size_t p = *pos;
    if (p >= len)
        return false;
    uint8_t type = data[p++];
    uint64_t delta, plen;
    size_t n = rlog_uvarint_get(data + p, len - p, &delta);
    if (!n)
        return false;
    p += n;
    n = rlog_uvarint_get(data + p, len - p, &plen);
    if (!n)
        return false;
    p += n;
    if (plen > len - p || plen > RLOG_MAX_PAYLOAD || delta > UINT64_MAX - base)
        return false;
    ev->type = type;
    ev->icount = base + delta;
    ev->payload = data + p;
    ev->len = (size_t)plen;
    *pos = p + (size_t)plen;
    return true;
}

static void G_GNUC_PRINTF(4, 5) reader_break(RLogReader *r, uint64_t offset,
                                             const uint8_t *hdr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *where;
    if (hdr)
        where = g_strdup_printf("chunk %" PRIu32 ", icounts %" PRIu64 "..%" PRIu64,
                                r->next_index, get_le64(hdr + CH_FIRST), get_le64(hdr + CH_LAST));
    else
        where = g_strdup_printf("chunk %" PRIu32 ", after icount %" PRIu64,
                                r->next_index, r->prev_last);
    g_free(r->stop_reason);
    r->stop_reason = g_strdup_printf("%s: log ends early at byte %" PRIu64
                                     " (%s): %s; replay is valid up to icount %" PRIu64,
                                     r->path, offset, where, why, r->prev_last);
    g_free(where);
    g_free(why);
    r->state = RS_BROKEN;
    r->loaded = false;
}

/* Reads exactly n bytes at offset; returns how many were read. */
static size_t read_at(RLogReader *r, uint64_t offset, void *buf, size_t n)
{
    if (fseeko(r->f, (off_t)offset, SEEK_SET) != 0)
        return 0;
    return fread(buf, 1, n, r->f);
}

/* Loads and verifies the chunk at r->next_offset. On failure the reader is
 * BROKEN and nothing of the chunk is visible. */
static bool load_chunk(RLogReader *r)
{
    uint64_t off = r->next_offset;
    uint8_t h[RLOG_CHUNK_HEADER_SIZE];
    size_t got = read_at(r, off, h, sizeof h);
    if (got == 0) {
        reader_break(r, off, NULL, "truncated (no end marker)");
        return false;
    }
    if (got < sizeof h) {
        reader_break(r, off, NULL, "truncated chunk header (%zu of %u bytes)",
                     got, RLOG_CHUNK_HEADER_SIZE);
        return false;
    }
    if (memcmp(h + CH_TAG, RLOG_CHUNK_TAG, 4) != 0) {
        reader_break(r, off, NULL, "no chunk header here");
        return false;
    }
    if (get_le32(h + CH_CRC) != (uint32_t)crc32(0, h, CH_CRC)) {
        reader_break(r, off, NULL, "chunk header CRC mismatch");
        return false;
    }
    uint32_t index = get_le32(h + CH_INDEX);
    uint64_t first = get_le64(h + CH_FIRST), last = get_le64(h + CH_LAST);
    uint32_t nev = get_le32(h + CH_NEVENTS);
    uint32_t clen = get_le32(h + CH_CLEN), ulen = get_le32(h + CH_ULEN);
    if (index != r->next_index) {
        reader_break(r, off, h, "chunk number %" PRIu32 " out of sequence", index);
        return false;
    }
    if (first > last || first < r->prev_last) {
        reader_break(r, off, h, "icounts out of order (previous chunk ends at %" PRIu64 ")",
                     r->prev_last);
        return false;
    }
    if (nev == 0 || ulen > RLOG_MAX_CHUNK_BYTES || ulen / RLOG_MIN_EVENT_BYTES < nev ||
        clen == 0 || clen > compressBound(RLOG_MAX_CHUNK_BYTES)) {
        reader_break(r, off, h, "impossible chunk sizes (%" PRIu32 " events, %" PRIu32
                     " bytes compressed, %" PRIu32 " uncompressed)", nev, clen, ulen);
        return false;
    }
    if (clen > r->zcap) {
        g_free(r->zdata);
        r->zcap = clen;
        r->zdata = g_malloc(r->zcap);
    }
    got = fread(r->zdata, 1, clen, r->f);
    if (got < clen) {
        reader_break(r, off, h, "truncated (%zu of %" PRIu32 " compressed bytes)", got, clen);
        return false;
    }
    if (get_le32(h + CH_DATA_CRC) != (uint32_t)crc32(0, r->zdata, clen)) {
        reader_break(r, off, h, "CRC mismatch");
        return false;
    }
    if (ulen > r->ucap) {
        g_free(r->data);
        r->ucap = ulen;
        r->data = g_malloc(r->ucap);
    }
    uLongf dlen = ulen;
    int zr = uncompress(r->data, &dlen, r->zdata, clen);
    if (zr != Z_OK || dlen != ulen) {
        reader_break(r, off, h, "bad zlib stream (%s)",
                     zr != Z_OK ? zError(zr) : "wrong uncompressed length");
        return false;
    }
    /* Walk every event before handing out any. */
    size_t pos = 0;
    uint64_t ic = first;
    for (uint32_t i = 0; i < nev; i++) {
        RLogEvent ev;
        if (!parse_event(r->data, ulen, &pos, ic, &ev)) {
            reader_break(r, off, h, "malformed event %" PRIu32, i);
            return false;
        }
        if (i == 0 && ev.icount != first) {
            reader_break(r, off, h, "first event at icount %" PRIu64, ev.icount);
            return false;
        }
        if (ev.type == RLOG_EV_END && i != nev - 1) {
            reader_break(r, off, h, "end marker followed by events");
            return false;
        }
        ic = ev.icount;
    }
    if (pos != ulen || ic != last) {
        reader_break(r, off, h, "events do not match the chunk header");
        return false;
    }
    r->loaded = true;
    r->chunk_offset = off;
    r->chunk_index = index;
    r->chunk_base = r->prev_last;
    r->chunk_first = first;
    r->chunk_last = last;
    r->nevents = nev;
    r->ulen = ulen;
    r->cursor = 0;
    r->consumed = 0;
    r->cursor_icount = first;
    r->next_offset = off + RLOG_CHUNK_HEADER_SIZE + clen;
    r->next_index = index + 1;
    r->prev_last = last;
    return true;
}

/* Makes sure a chunk with an unconsumed event is loaded. */
static bool ensure_event(RLogReader *r)
{
    if (r->state != RS_OK)
        return false;
    while (!r->loaded || r->consumed >= r->nevents) {
        r->loaded = false;
        if (!load_chunk(r))
            return false;
    }
    return true;
}

RLogReader *rlog_reader_open(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, g_strerror(errno));
        return NULL;
    }
    uint8_t h[RLOG_FILE_HEADER_SIZE];
    size_t n = fread(h, 1, sizeof h, f);
    const char *bad = NULL;
    uint32_t version = n >= 12 ? get_le32(h + FH_VERSION) : 0;
    uint32_t flags = n >= 20 ? get_le32(h + FH_FLAGS) : 0;
    if (n < 8 || memcmp(h + FH_MAGIC, RLOG_MAGIC, 8) != 0)
        bad = "not a Rewind event log";
    else if (n < 12)
        bad = "truncated header";
    else if (version != RLOG_FORMAT_VERSION) {
        set_err(err, errlen, "%s: format version %" PRIu32 ", this Rewind reads %u",
                path, version, RLOG_FORMAT_VERSION);
        fclose(f);
        return NULL;
    } else if (n < sizeof h)
        bad = "truncated header";
    else if (get_le32(h + FH_HEADER_SIZE) != RLOG_FILE_HEADER_SIZE)
        bad = "bad header size";
    else if (get_le32(h + FH_CRC) != (uint32_t)crc32(0, h, FH_CRC))
        bad = "header CRC mismatch";
    else if (flags & RLOG_FLAGS_INCOMPAT_MASK & ~RLOG_FLAGS_KNOWN) {
        set_err(err, errlen, "%s: unsupported log flags 0x%08" PRIx32, path, flags);
        fclose(f);
        return NULL;
    }
    if (bad) {
        set_err(err, errlen, "%s: %s", path, bad);
        fclose(f);
        return NULL;
    }
    struct stat st;
    RLogReader *r = g_new0(RLogReader, 1);
    r->f = f;
    r->path = g_strdup(path);
    r->file_size = fstat(fileno(f), &st) == 0 ? (uint64_t)st.st_size : 0;
    r->check_period = get_le64(h + FH_CHECK_PERIOD);
    r->next_offset = RLOG_FILE_HEADER_SIZE;
    r->evbuf = g_byte_array_new();
    return r;
}

void rlog_reader_close(RLogReader *r)
{
    if (!r)
        return;
    fclose(r->f);
    g_free(r->path);
    g_free(r->data);
    g_free(r->zdata);
    g_free(r->stop_reason);
    g_byte_array_unref(r->evbuf);
    g_free(r);
}

/* Decodes the next event of the loaded chunk without consuming it. */
static void current_event(RLogReader *r, RLogEvent *ev, size_t *next_cursor)
{
    size_t pos = r->cursor;
    /* Cannot fail: load_chunk walked the whole chunk. */
    bool ok = parse_event(r->data, r->ulen, &pos, r->cursor_icount, ev);
    g_assert(ok);
    *next_cursor = pos;
}

static RLogNext stopped(RLogReader *r, char *err, size_t errlen)
{
    if (r->state == RS_END)
        return RLOG_NEXT_END;
    set_err(err, errlen, "%s", r->stop_reason);
    return RLOG_NEXT_BROKEN;
}

RLogNext rlog_reader_next(RLogReader *r, RLogEvent *ev, char *err, size_t errlen)
{
    if (!ensure_event(r))
        return stopped(r, err, errlen);
    RLogEvent e;
    size_t next;
    current_event(r, &e, &next);
    if (e.type == RLOG_EV_END) {
        /* Not consumed: rlog_reader_tell keeps pointing at it. */
        r->state = RS_END;
        r->end_icount = e.icount;
        return RLOG_NEXT_END;
    }
    g_byte_array_set_size(r->evbuf, 0);
    g_byte_array_append(r->evbuf, e.payload, e.len);
    e.payload = r->evbuf->data;
    r->cursor = next;
    r->consumed++;
    r->cursor_icount = e.icount;
    r->returned_icount = e.icount;
    *ev = e;
    return RLOG_NEXT_EVENT;
}

bool rlog_reader_peek(RLogReader *r, RLogEvent *ev)
{
    if (!ensure_event(r))
        return false;
    size_t next;
    RLogEvent e;
    current_event(r, &e, &next);
    if (e.type == RLOG_EV_END)
        return false;
    *ev = e;
    return true;
}

bool rlog_reader_peek_icount(RLogReader *r, uint64_t *icount)
{
    RLogEvent ev;
    if (!rlog_reader_peek(r, &ev))
        return false;
    *icount = ev.icount;
    return true;
}

uint64_t rlog_reader_valid_icount(const RLogReader *r)
{
    switch (r->state) {
    case RS_END:
        return r->end_icount;
    case RS_BROKEN:
        return r->prev_last;
    default:
        return r->returned_icount;
    }
}

const char *rlog_reader_stop_reason(const RLogReader *r)
{
    return r->state == RS_BROKEN ? r->stop_reason : NULL;
}

uint64_t rlog_reader_check_period(const RLogReader *r)
{
    return r->check_period;
}

uint64_t rlog_reader_file_size(const RLogReader *r)
{
    return r->file_size;
}

RLogPos rlog_reader_tell(const RLogReader *r)
{
    RLogPos p;
    if (r->loaded && r->consumed < r->nevents) {
        p.chunk_offset = r->chunk_offset;
        p.base_icount = r->chunk_base;
        p.chunk_index = r->chunk_index;
        p.event_index = r->consumed;
    } else {
        p.chunk_offset = r->next_offset;
        p.base_icount = r->prev_last;
        p.chunk_index = r->next_index;
        p.event_index = 0;
    }
    return p;
}

/* A seek to a position this file does not have: the reader stops there. */
static bool G_GNUC_PRINTF(4, 5) seek_failed(RLogReader *r, char *err, size_t errlen,
                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_free(r->stop_reason);
    r->stop_reason = g_strdup_printf("%s: %s", r->path, msg);
    g_free(msg);
    r->state = RS_BROKEN;
    r->loaded = false;
    set_err(err, errlen, "%s", r->stop_reason);
    return false;
}

bool rlog_reader_seek(RLogReader *r, const RLogPos *pos, char *err, size_t errlen)
{
    r->state = RS_OK;
    r->loaded = false;
    g_free(r->stop_reason);
    r->stop_reason = NULL;
    r->next_offset = pos->chunk_offset;
    r->next_index = pos->chunk_index;
    r->prev_last = pos->base_icount;
    r->returned_icount = pos->base_icount;
    if (pos->chunk_offset < RLOG_FILE_HEADER_SIZE)
        return seek_failed(r, err, errlen, "bad log position (byte %" PRIu64 ")",
                           pos->chunk_offset);
    if (pos->event_index == 0)
        return true;
    if (!load_chunk(r)) {
        set_err(err, errlen, "%s", r->stop_reason);
        return false;
    }
    for (uint32_t i = 0; i < pos->event_index; i++) {
        RLogEvent e;
        size_t next;
        if (r->consumed >= r->nevents)
            return seek_failed(r, err, errlen, "bad log position (event %" PRIu32
                               " of chunk %" PRIu32 " with %" PRIu32 " events)",
                               pos->event_index, pos->chunk_index, r->nevents);
        current_event(r, &e, &next);
        if (e.type == RLOG_EV_END)
            return seek_failed(r, err, errlen, "bad log position (past the end marker)");
        r->cursor = next;
        r->consumed++;
        r->cursor_icount = e.icount;
        r->returned_icount = e.icount;
    }
    return true;
}
