/* The record/replay driver: runs the machine between events.
 *
 * Recording: replay_run bounds each machine_run by the next check due,
 * logs the check there, and logs an idle event the first time the machine
 * reports RUN_IDLE at an icount (the run loop then waits on the host, and
 * virtual time stands still, so only the input that ends the wait needs
 * logging; the idle event makes replay take the same idle path through
 * machine_run before it applies that input).
 * Replaying: replay_run runs machine_run exactly to the next event's
 * icount, applies every event logged there in order, and stops at the end
 * of the log or at a divergence. machine_run's scheduling does not depend
 * on how runs are split, so the machine is at the recorded state at every
 * event. */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

#define FLUSH_INTERVAL_US 1000000

static ReplaySession *session_new(ReplayMode mode, const char *path)
{
    ReplaySession *s = g_new0(ReplaySession, 1);
    s->mode = mode;
    s->path = g_strdup(path);
    s->chars = g_byte_array_new();
    s->last_flush_us = g_get_monotonic_time();
    return s;
}

ReplaySession *replay_session_record(const char *log_path, uint64_t check_period,
                                     char *err, size_t errlen)
{
    RLogWriterConfig cfg;
    rlog_writer_config_defaults(&cfg);
    if (check_period)
        cfg.check_period = check_period;
    RLogWriter *w = rlog_writer_open(log_path, &cfg, err, errlen);
    if (!w)
        return NULL;
    ReplaySession *s = session_new(REPLAY_MODE_RECORD, log_path);
    s->w = w;
    return s;
}

ReplaySession *replay_session_replay(const char *log_path, char *err, size_t errlen)
{
    RLogReader *r = rlog_reader_open(log_path, err, errlen);
    if (!r)
        return NULL;
    ReplaySession *s = session_new(REPLAY_MODE_REPLAY, log_path);
    s->r = r;
    return s;
}

ReplayMode replay_session_mode(const ReplaySession *s)
{
    return s->mode;
}

void replay_session_free(ReplaySession *s)
{
    if (!s)
        return;
    console_set_input_hook(NULL, NULL);
    if (s->w)
        rlog_writer_free(s->w);
    if (s->r)
        rlog_reader_close(s->r);
    g_byte_array_free(s->chars, TRUE);
    g_free(s->path);
    g_free(s);
}

uint64_t replay_session_event_count(const ReplaySession *s, uint8_t type)
{
    return s->counts[type];
}

/* ---- recording ---- */

bool session_log(ReplaySession *s, uint8_t type, uint64_t icount, const void *payload,
                 size_t len)
{
    if (s->failed || !s->w)
        return false;
    if (type != RLOG_EV_CHAR)
        session_log_pending_chars(s);
    if (s->failed)
        return false;
    char err[512];
    if (!rlog_write_event(s->w, type, icount, payload, len, err, sizeof err)) {
        s->failed = true;
        snprintf(s->msg, sizeof s->msg, "%s", err);
        fprintf(stderr, "rewind: recording stopped: %s\n", err);
        return false;
    }
    s->counts[type]++;
    return true;
}

void replay_session_flush(ReplaySession *s, Machine *m)
{
    (void)m;
    if (s->mode != REPLAY_MODE_RECORD || s->failed)
        return;
    gint64 now = g_get_monotonic_time();
    if (now - s->last_flush_us < FLUSH_INTERVAL_US)
        return;
    s->last_flush_us = now;
    session_log_pending_chars(s);
    uint64_t n = rlog_writer_events(s->w);
    if (n == s->flushed_events)
        return;
    char err[512];
    if (!rlog_writer_flush(s->w, err, sizeof err)) {
        s->failed = true;
        snprintf(s->msg, sizeof s->msg, "%s", err);
        fprintf(stderr, "rewind: recording stopped: %s\n", err);
        return;
    }
    s->flushed_events = n;
}

static RunResult record_run(ReplaySession *s, Machine *m, uint64_t max_steps)
{
    if (s->failed)
        return machine_run(m, max_steps);
    uint64_t ic = machine_icount(m);
    uint64_t due = rlog_writer_next_check(s->w);
    if (due <= ic) {
        replay_check_record(s, m);
        due = rlog_writer_next_check(s->w);
    }
    uint64_t budget = max_steps;
    if (due != UINT64_MAX && due - ic < budget)
        budget = due - ic;
    if (s->tick) {
        uint64_t want = s->tick(s->tick_opaque, m);
        if (want > ic && want - ic < budget)
            budget = want - ic;
    }
    RunResult r = machine_run(m, budget);
    ic = machine_icount(m);
    if (ic == due)
        replay_check_record(s, m);
    if (r == RUN_IDLE && !(s->idle_logged && s->idle_icount == ic)) {
        session_log(s, RLOG_EV_IDLE, ic, NULL, 0);
        s->idle_logged = true;
        s->idle_icount = ic;
    }
    return r;
}

void replay_host_input_hook(void *opaque, Machine *m, HostInputKind kind, const uint8_t *data,
                            size_t len)
{
    ReplaySession *s = opaque;
    if (s->mode != REPLAY_MODE_RECORD || s->failed)
        return;
    session_log(s, kind == HOST_INPUT_NET ? RLOG_EV_NET : RLOG_EV_RNG, machine_icount(m), data,
                len);
}

/* ---- replaying ---- */

static void reach_end(ReplaySession *s)
{
    RLogEvent ev;
    char err[768];
    RLogNext n = rlog_reader_next(s->r, &ev, err, sizeof err);
    if (n == RLOG_NEXT_EVENT)
        return;     /* not at the end after all (the caller peeks again) */
    s->at_end = true;
    s->end_icount = rlog_reader_valid_icount(s->r);
    if (n == RLOG_NEXT_BROKEN) {
        s->damaged = true;
        snprintf(s->msg, sizeof s->msg, "%s", err);
    } else {
        snprintf(s->msg, sizeof s->msg, "end of recording at icount %" PRIu64, s->end_icount);
    }
}

/* Applies one event at the machine's icount. */
static bool apply_event(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    s->counts[ev->type]++;
    switch (ev->type) {
    case RLOG_EV_CHECK:
        return replay_check_apply(s, m, ev);
    case RLOG_EV_CHAR:
        return replay_char_apply(s, m, ev);
    case RLOG_EV_CLOCK:
        return replay_clock_apply(s, ev);
    case RLOG_EV_REQUEST:
        return replay_request_apply(s, m, ev);
    case RLOG_EV_NET:
        return replay_net_apply(s, m, ev);
    case RLOG_EV_RNG:
        return replay_rng_apply(s, m, ev);
    case RLOG_EV_SKIP:
        return replay_skip_apply(s, m, ev);
    case RLOG_EV_IDLE: {
        /* the recording saw every hart wait here: go the same way */
        RunResult r = machine_run(m, 1);
        if (r != RUN_IDLE || machine_icount(m) != ev->icount) {
            s->diverged = true;
            snprintf(s->msg, sizeof s->msg,
                     "replay diverged at icount %" PRIu64
                     " (expected every hart waiting, got a running machine)", ev->icount);
            return false;
        }
        return true;
    }
    default:
        s->diverged = true;
        snprintf(s->msg, sizeof s->msg,
                 "replay: the log has a %s event (type 0x%02x) at icount %" PRIu64
                 " that this Rewind cannot replay", rlog_event_name(ev->type), ev->type,
                 ev->icount);
        return false;
    }
}

RunResult replay_apply_due(ReplaySession *s, Machine *m)
{
    if (s->mode != REPLAY_MODE_REPLAY)
        return RUN_BUDGET;
    for (;;) {
        if (s->diverged)
            return RUN_REPLAY_DIVERGED;
        uint64_t ic = machine_icount(m), next;
        if (s->at_end)
            return ic >= s->end_icount ? RUN_REPLAY_END : RUN_BUDGET;
        if (!rlog_reader_peek_icount(s->r, &next)) {
            reach_end(s);
            continue;
        }
        if (next > ic)
            return RUN_BUDGET;
        RLogEvent ev;
        char err[768];
        if (rlog_reader_next(s->r, &ev, err, sizeof err) != RLOG_NEXT_EVENT)
            continue;
        if (ev.icount < ic) {
            s->diverged = true;
            snprintf(s->msg, sizeof s->msg,
                     "replay diverged at icount %" PRIu64 " (expected a %s event at icount %"
                     PRIu64 ", the machine went past it)", ic, rlog_event_name(ev.type),
                     ev.icount);
            continue;
        }
        apply_event(s, m, &ev);
    }
}

static RunResult replay_replay_run(ReplaySession *s, Machine *m, uint64_t max_steps)
{
    uint64_t end = machine_icount(m) + max_steps;
    if (end < max_steps)
        end = UINT64_MAX;
    for (;;) {
        RunResult due = replay_apply_due(s, m);
        if (due != RUN_BUDGET)
            return due;
        uint64_t ic = machine_icount(m), target;
        if (s->at_end)
            target = s->end_icount;
        else if (!rlog_reader_peek_icount(s->r, &target))
            continue;   /* replay_apply_due finds the end */
        if (ic >= end)
            return RUN_BUDGET;
        if (target > end)
            target = end;
        RunResult r = machine_run(m, target - ic);
        if (r == RUN_EXIT) {
            /* the guest stopped here; the end of the log (and its final
             * check) should be here too */
            RunResult d = replay_apply_due(s, m);
            if (d == RUN_REPLAY_DIVERGED)
                return d;
            uint64_t next = 0;
            bool more = s->at_end ? s->end_icount > machine_icount(m)
                                  : rlog_reader_peek_icount(s->r, &next);
            if (more) {
                s->diverged = true;
                snprintf(s->msg, sizeof s->msg,
                         "replay diverged at icount %" PRIu64
                         " (expected the recording to go on to icount %" PRIu64
                         ", got the guest's exit)", machine_icount(m),
                         s->at_end ? s->end_icount : next);
                return RUN_REPLAY_DIVERGED;
            }
            return RUN_EXIT;
        }
        if (r == RUN_IDLE) {
            s->diverged = true;
            snprintf(s->msg, sizeof s->msg,
                     "replay diverged at icount %" PRIu64
                     " (expected the machine to run to icount %" PRIu64
                     ", got every hart waiting)", machine_icount(m), target);
            return RUN_REPLAY_DIVERGED;
        }
        if (r != RUN_BUDGET) {
            /* breakpoint, watchpoint, hart goal: the state at this icount
             * includes the inputs that arrive here, however it is reached */
            RunResult d = replay_apply_due(s, m);
            return d == RUN_REPLAY_DIVERGED ? d : r;
        }
    }
}

RunResult replay_run(ReplaySession *s, Machine *m, uint64_t max_steps)
{
    if (s->mode == REPLAY_MODE_RECORD)
        return record_run(s, m, max_steps);
    return replay_replay_run(s, m, max_steps);
}

void replay_session_attach(ReplaySession *s, Machine *m)
{
    if (s->mode == REPLAY_MODE_RECORD) {
        console_set_input_hook(replay_char_hook, s);
        console_set_input_from_log(false);
        machine_set_host_input_hook(m, replay_host_input_hook, s);
    } else {
        console_set_input_hook(NULL, NULL);
        console_set_input_from_log(true);
        replay_apply_due(s, m);
    }
}

RLogPos replay_session_tell(ReplaySession *s)
{
    if (s->mode == REPLAY_MODE_RECORD) {
        session_log_pending_chars(s);
        if (!s->w)
            return (RLogPos){ 0 };
        return rlog_writer_tell(s->w);
    }
    return rlog_reader_tell(s->r);
}

void replay_session_set_record_tick(ReplaySession *s, ReplayRecordTick tick, void *opaque)
{
    s->tick = tick;
    s->tick_opaque = opaque;
}

bool replay_session_seek(ReplaySession *s, const RLogPos *pos, char *err, size_t errlen)
{
    if (s->mode != REPLAY_MODE_REPLAY)
        return false;
    if (!rlog_reader_seek(s->r, pos, err, errlen))
        return false;
    s->at_end = false;
    s->diverged = false;
    s->msg[0] = 0;
    return true;
}

bool replay_session_ended(const ReplaySession *s)
{
    return s->diverged || s->at_end;
}

bool replay_session_log_damaged(const ReplaySession *s)
{
    return s->damaged;
}

bool replay_session_diverged(const ReplaySession *s)
{
    return s->diverged;
}

uint64_t replay_session_end_icount(const ReplaySession *s)
{
    if (s->mode == REPLAY_MODE_RECORD)
        return s->w ? rlog_writer_last_icount(s->w) : 0;
    return s->at_end ? s->end_icount : rlog_reader_valid_icount(s->r);
}

const char *replay_session_message(const ReplaySession *s)
{
    return s->msg[0] ? s->msg : NULL;
}

bool replay_session_quit_requested(const ReplaySession *s, int *code)
{
    if (s->quit_seen && code)
        *code = s->quit_code;
    return s->quit_seen;
}

bool replay_session_finish(ReplaySession *s, Machine *m, char *err, size_t errlen)
{
    if (s->mode != REPLAY_MODE_RECORD || !s->w)
        return true;
    if (!s->failed)
        replay_check_record(s, m);
    session_log_pending_chars(s);
    RLogWriter *w = s->w;
    s->w = NULL;
    if (s->failed) {
        rlog_writer_free(w);
        snprintf(err, errlen, "%s", s->msg);
        return false;
    }
    return rlog_writer_close(w, machine_icount(m), err, errlen);
}
