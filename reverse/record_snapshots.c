/* The recording's snapshots (reverse.h, "Snapshots while recording"): the
 * initial one at the start, then one every N instructions (exactly at the
 * multiples: replay_run stops there) and/or every S host seconds, written
 * to the bundle's qcow2 file as the recording goes. The file owns the
 * machine's dirty tracking meanwhile (recording has no in-memory store),
 * so each periodic snapshot costs the pages written since the previous.
 * A failure stops the snapshots, never the recording.
 * Also here: the log-position glue every user of a snapshot file needs
 * (snapfile_save_replay / snapfile_load_replay), and `rewind snapshot add`,
 * which adds one to a finished recording. */
#include "reverse.h"
#include "snapshots.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct RecordSnaps {
    Machine *m;
    ReplaySession *rs;
    SnapFile *f;
    RecordSnapOptions o;
    char *initial;
    uint64_t next_icount;       /* the next instruction-count snapshot */
    gint64 next_us;             /* the next host-time snapshot */
    uint64_t last_icount;       /* of the latest snapshot */
    int seq;                    /* periodic snapshots taken */
    GQueue periodic;            /* names of the periodic ones kept, oldest first */
    bool failed;
    uint64_t taken;
    gint64 spent_us;            /* host time the snapshots took */
};

int snapfile_save_replay(SnapFile *f, Machine *m, ReplaySession *rs, const char *name,
                         bool tracked, char *err, size_t errlen)
{
    RLogPos pos = replay_session_tell(rs);
    return snapfile_save(f, m, name, &pos, sizeof pos, tracked, err, errlen);
}

bool snapfile_load_replay(SnapFile *f, int idx, Machine *m, ReplaySession *rs, bool tracked,
                          char *err, size_t errlen)
{
    uint8_t buf[SNAPFILE_POS_MAX];
    size_t len = 0;
    RLogPos pos;
    if (!snapfile_load(f, idx, m, buf, &len, tracked, err, errlen))
        return false;
    if (len != sizeof pos) {
        snprintf(err, errlen, "%s: a log position of %zu bytes", snapfile_path(f), len);
        return false;
    }
    memcpy(&pos, buf, sizeof pos);
    machine_debug_forget_hits(m);
    return replay_session_seek(rs, &pos, err, errlen);
}

static bool take(RecordSnaps *s, const char *name)
{
    char err[768];
    gint64 t0 = g_get_monotonic_time();
    int idx = snapfile_save_replay(s->f, s->m, s->rs, name, true, err, sizeof err);
    s->spent_us += g_get_monotonic_time() - t0;
    if (idx < 0) {
        fprintf(stderr, "rewind: snapshots stopped (the recording goes on): %s\n", err);
        s->failed = true;
        return false;
    }
    s->last_icount = machine_icount(s->m);
    s->taken++;
    return true;
}

/* Drops the oldest periodic snapshots past the count to keep. */
static void prune(RecordSnaps *s)
{
    char err[768];
    while (s->o.keep > 0 && g_queue_get_length(&s->periodic) > (guint)s->o.keep) {
        char *old = g_queue_pop_head(&s->periodic);
        int idx = snapfile_find(s->f, old);
        if (idx >= 0 && !snapfile_delete(s->f, idx, err, sizeof err)) {
            fprintf(stderr, "rewind: snapshots stopped (the recording goes on): %s\n", err);
            s->failed = true;
        }
        g_free(old);
    }
}

static uint64_t tick(void *opaque, Machine *m)
{
    RecordSnaps *s = opaque;
    if (s->failed)
        return UINT64_MAX;
    uint64_t ic = machine_icount(m);
    gint64 now = g_get_monotonic_time();
    bool due = (s->o.every && ic >= s->next_icount) || (s->o.seconds && now >= s->next_us);
    if (due && ic != s->last_icount) {
        char *name = g_strdup_printf("periodic-%d", ++s->seq);
        if (take(s, name)) {
            g_queue_push_tail(&s->periodic, name);
            prune(s);
        } else {
            g_free(name);
        }
    }
    if (s->o.seconds && now >= s->next_us)
        s->next_us = now + (gint64)s->o.seconds * G_USEC_PER_SEC;
    if (!s->o.every)
        return UINT64_MAX;
    if (ic >= s->next_icount)
        s->next_icount = ic / s->o.every * s->o.every + s->o.every;
    return s->next_icount;
}

RecordSnaps *record_snaps_start(Machine *m, ReplaySession *rs, const char *path,
                                const RecordSnapOptions *o, char *err, size_t errlen)
{
    SnapFile *f = snapfile_create(path, err, errlen);
    if (!f)
        return NULL;
    RecordSnaps *s = g_new0(RecordSnaps, 1);
    s->m = m;
    s->rs = rs;
    s->f = f;
    s->o = *o;
    s->initial = g_strdup(o->initial ? o->initial : "initial");
    s->o.initial = s->initial;
    g_queue_init(&s->periodic);
    if (!take(s, s->initial)) {
        snprintf(err, errlen, "%s: the initial snapshot failed", path);
        record_snaps_finish(s, NULL, 0);
        return NULL;
    }
    s->next_icount = o->every ? machine_icount(m) + o->every : UINT64_MAX;
    s->next_us = g_get_monotonic_time() + (gint64)o->seconds * G_USEC_PER_SEC;
    if (o->every || o->seconds)
        replay_session_set_record_tick(rs, tick, s);
    return s;
}

bool record_snaps_finish(RecordSnaps *s, char *err, size_t errlen)
{
    if (!s)
        return true;
    replay_session_set_record_tick(s->rs, NULL, NULL);
    bool ok = snapfile_close(s->f, err, errlen);
    if (ok && s->failed) {
        if (err)
            snprintf(err, errlen, "snapshots stopped during the recording");
        ok = false;
    }
    g_queue_clear_full(&s->periodic, g_free);
    g_free(s->initial);
    g_free(s);
    return ok;
}

uint64_t record_snaps_taken(const RecordSnaps *s, uint64_t *spent_us)
{
    if (spent_us)
        *spent_us = (uint64_t)s->spent_us;
    return s->taken;
}

bool record_snaps_add_at(const char *path, Machine *m, ReplaySession *rs, uint64_t icount,
                         const char *name, char *err, size_t errlen)
{
    SnapFile *f = g_file_test(path, G_FILE_TEST_EXISTS) ? snapfile_open(path, true, err, errlen)
                                                        : snapfile_create(path, err, errlen);
    if (!f)
        return false;
    bool ok = false;
    int from = snapfile_find_before(f, icount);
    if (snapfile_find(f, name) >= 0) {
        snprintf(err, errlen, "a snapshot named '%s' exists already", name);
    } else if (from < 0 || snapfile_load_replay(f, from, m, rs, true, err, errlen)) {
        console_mute_output(true);
        while (machine_icount(m) < icount) {
            RunResult r = replay_run(rs, m, icount - machine_icount(m));
            if (r == RUN_EXIT || r == RUN_REPLAY_END || r == RUN_REPLAY_DIVERGED)
                break;
        }
        console_mute_output(false);
        if (replay_session_diverged(rs))
            snprintf(err, errlen, "%s", replay_session_message(rs));
        else if (machine_icount(m) != icount)
            snprintf(err, errlen, "the recording ends at icount %" PRIu64 ", before %" PRIu64,
                     machine_icount(m), icount);
        else
            ok = snapfile_save_replay(f, m, rs, name, true, err, errlen) >= 0;
    }
    if (!snapfile_close(f, ok ? err : NULL, errlen) && ok)
        ok = false;
    return ok;
}
