/* Reverse execution over a replay: seek, reverse-stepi, reverse-continue.
 *
 * A position is an icount; the state "at icount N" is the machine after N
 * steps, before any interrupt pending there is taken (the run loop takes
 * interrupts at the start of a slice). Going to N restores the snapshot
 * with the highest icount <= N and replays forward exactly, with the
 * debugger's breakpoints and watchpoints suspended. Replay passing through
 * takes a snapshot every `interval` instructions, and every debugger stop
 * takes one, so reverse steps near the debugger cost one short replay. */
#include "reverse.h"
#include "snapshots.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_INTERVAL (1ull << 20)

struct Reverse {
    Machine *m;
    ReplaySession *rs;
    SnapStore *store;
    GArray *positions;      /* RLogPos; a snapshot's log_pos indexes it */
    uint64_t interval;
    ReversePoll poll;
    void *poll_opaque;
    bool interrupted;
    char msg[768];
};

static uint64_t now(const Reverse *r)
{
    return machine_icount(r->m);
}

static int take_snapshot(Reverse *r)
{
    RLogPos pos = replay_session_tell(r->rs);
    g_array_append_val(r->positions, pos);
    return snapstore_take(r->store, r->positions->len - 1);
}

static bool snapshot_at(const Reverse *r, uint64_t icount)
{
    SnapInfo info;
    int id = snapstore_find(r->store, icount);
    return id > 0 && snapstore_get(r->store, id, &info) && info.icount == icount;
}

static bool restore_snapshot(Reverse *r, int id)
{
    uint64_t index;
    char err[256];
    if (!snapstore_restore(r->store, id, &index) || index >= r->positions->len) {
        snprintf(r->msg, sizeof r->msg, "snapshot %d cannot be restored", id);
        return false;
    }
    RLogPos pos = g_array_index(r->positions, RLogPos, index);
    if (!replay_session_seek(r->rs, &pos, err, sizeof err)) {
        snprintf(r->msg, sizeof r->msg, "replay log: %s", err);
        return false;
    }
    return true;
}

/* Restores the latest snapshot strictly before `icount` (at 0 for 0). */
static bool restore_before(Reverse *r, uint64_t icount, uint64_t *at)
{
    int id = snapstore_find(r->store, icount ? icount - 1 : 0);
    SnapInfo info;
    if (id <= 0 || !snapstore_get(r->store, id, &info)) {
        snprintf(r->msg, sizeof r->msg, "no snapshot before icount %" PRIu64, icount);
        return false;
    }
    if (!restore_snapshot(r, id))
        return false;
    *at = info.icount;
    return true;
}

Reverse *reverse_new(Machine *m, ReplaySession *rs, uint64_t snapshot_budget, uint64_t interval)
{
    Reverse *r = g_new0(Reverse, 1);
    r->m = m;
    r->rs = rs;
    r->store = snapstore_new(m, snapshot_budget);
    r->positions = g_array_new(FALSE, FALSE, sizeof(RLogPos));
    r->interval = interval ? interval : DEFAULT_INTERVAL;
    /* the start of history: always kept */
    int first = take_snapshot(r);
    snapstore_set_pinned(r->store, first, true);
    return r;
}

void reverse_free(Reverse *r)
{
    if (!r)
        return;
    snapstore_free(r->store);
    g_array_free(r->positions, TRUE);
    g_free(r);
}

void reverse_set_poll(Reverse *r, ReversePoll poll, void *opaque)
{
    r->poll = poll;
    r->poll_opaque = opaque;
}

/* Replays forward until icount `target` (or something stops it), taking a
 * snapshot at every multiple of the interval it reaches that has none.
 * Checks the poll between chunks: r->interrupted says it fired. */
static RunResult forward_to(Reverse *r, uint64_t target)
{
    for (;;) {
        uint64_t ic = now(r);
        if (ic % r->interval == 0 && !snapshot_at(r, ic))
            take_snapshot(r);
        if (ic >= target)
            return RUN_BUDGET;
        uint64_t boundary = (ic / r->interval + 1) * r->interval;
        uint64_t stop = target < boundary ? target : boundary;
        RunResult res = replay_run(r->rs, r->m, stop - ic);
        if (res != RUN_BUDGET)
            return res;
        if (r->poll && r->poll(r->poll_opaque)) {
            r->interrupted = true;
            return RUN_BUDGET;
        }
    }
}

static ReverseStop stop_of(Reverse *r, RunResult res)
{
    switch (res) {
    case RUN_BUDGET:
    case RUN_HART_GOAL:
        return REV_STOPPED;
    case RUN_BREAKPOINT:
        return REV_BREAKPOINT;
    case RUN_WATCHPOINT:
        return REV_WATCHPOINT;
    case RUN_EXIT:
        return REV_EXIT;
    case RUN_REPLAY_END:
        return REV_END;
    default:
        if (replay_session_message(r->rs))
            snprintf(r->msg, sizeof r->msg, "%s", replay_session_message(r->rs));
        return REV_ERROR;
    }
}

RunResult reverse_run(Reverse *r, uint64_t max_steps)
{
    uint64_t target = now(r) + max_steps;
    if (target < max_steps)
        target = UINT64_MAX;
    return forward_to(r, target);
}

ReverseStop reverse_seek(Reverse *r, uint64_t icount)
{
    uint64_t ic = now(r), at;
    int id = snapstore_find(r->store, icount);
    SnapInfo info;
    /* go back only when forward from here cannot get there, or when a
     * snapshot lies between here and the target */
    if (icount < ic || (id > 0 && snapstore_get(r->store, id, &info) && info.icount > ic)) {
        if (!restore_before(r, icount + 1, &at))
            return REV_ERROR;
    }
    machine_suspend_debug(r->m, true);
    RunResult res = forward_to(r, icount);
    machine_suspend_debug(r->m, false);
    r->interrupted = false;     /* a seek is not interrupted halfway */
    return stop_of(r, res);
}

/* The global icount at which `hart` began its k-th step (k >= 1): the last
 * position where it had retired k - 1. Leaves the machine somewhere
 * before the current position. */
static bool find_step_start(Reverse *r, int hart, uint64_t k, uint64_t *where)
{
    uint64_t before = now(r), at;
    for (;;) {
        if (!restore_before(r, before, &at))
            return false;
        if (machine_hart_steps(r->m, hart) < k)
            break;
        if (at == 0)
            return false;
        before = at;
    }
    machine_suspend_debug(r->m, true);
    machine_set_hart_goal(r->m, hart, k - 1);
    RunResult res = replay_run(r->rs, r->m, UINT64_MAX);
    machine_set_hart_goal(r->m, -1, 0);
    bool ok = res == RUN_HART_GOAL || machine_hart_steps(r->m, hart) == k - 1;
    /* one global step at a time until the hart's k-th step is done: that
     * step began one icount before where it ends */
    while (ok && machine_hart_steps(r->m, hart) < k) {
        res = replay_run(r->rs, r->m, 1);
        if (res != RUN_BUDGET && res != RUN_HART_GOAL)
            ok = false;
    }
    machine_suspend_debug(r->m, false);
    if (!ok) {
        snprintf(r->msg, sizeof r->msg, "could not find the previous step of hart %d", hart);
        return false;
    }
    *where = now(r) - 1;
    return true;
}

ReverseStop reverse_stepi(Reverse *r, int hart)
{
    uint64_t ic = now(r), target;
    uint64_t k = machine_hart_steps(r->m, hart);
    if (ic == 0 || k == 0)
        return REV_BEGIN;
    if (machine_nharts(r->m) == 1) {
        target = ic - 1;
    } else if (!find_step_start(r, hart, k, &target)) {
        return REV_ERROR;
    }
    return reverse_seek(r, target);
}

ReverseStop reverse_step(Reverse *r, int hart, ReverseHit *hit)
{
    uint64_t k = machine_hart_steps(r->m, hart);
    machine_set_hart_goal(r->m, hart, k + 1);
    RunResult res = forward_to(r, UINT64_MAX);
    machine_set_hart_goal(r->m, -1, 0);
    r->interrupted = false;
    ReverseStop st = stop_of(r, res);
    if (st == REV_BREAKPOINT && hit)
        machine_breakpoint_hit(r->m, &hit->hart, &hit->addr, &hit->type);
    if (st == REV_WATCHPOINT && hit)
        machine_watchpoint_hit(r->m, &hit->hart, &hit->addr, &hit->type);
    return st;
}

ReverseStop reverse_continue(Reverse *r, ReverseHit *hit)
{
    uint64_t origin = now(r), end = origin, start;
    r->interrupted = false;
    while (end > 0) {
        if (!restore_before(r, end, &start))
            return REV_ERROR;
        /* scan [start, end) with the debugger's traps on: the last hit wins */
        bool have = false, watch = false;
        uint64_t hit_icount = 0;
        ReverseHit last = { 0 };
        for (;;) {
            RunResult res = forward_to(r, end);
            if (r->interrupted) {
                r->interrupted = false;
                return REV_INTERRUPTED;
            }
            if (res != RUN_BREAKPOINT && res != RUN_WATCHPOINT)
                break;      /* reached the end of the window (or of the log) */
            if (now(r) < origin) {
                have = true;
                hit_icount = now(r);
                watch = res == RUN_WATCHPOINT;
                if (watch)
                    machine_watchpoint_hit(r->m, &last.hart, &last.addr, &last.type);
                else
                    machine_breakpoint_hit(r->m, &last.hart, &last.addr, &last.type);
            }
        }
        if (have) {
            ReverseStop st = reverse_seek(r, hit_icount);
            if (st != REV_STOPPED)
                return st;
            if (hit)
                *hit = last;
            return watch ? REV_WATCHPOINT : REV_BREAKPOINT;
        }
        end = start;
    }
    ReverseStop st = reverse_seek(r, 0);
    return st == REV_STOPPED ? REV_BEGIN : st;
}

void reverse_note_stop(Reverse *r)
{
    uint64_t ic = now(r);
    if (!snapshot_at(r, ic))
        take_snapshot(r);
    snapstore_set_focus(r->store, ic);
}

uint64_t reverse_icount(const Reverse *r)
{
    return now(r);
}

uint64_t reverse_end_icount(const Reverse *r)
{
    return replay_session_ended(r->rs) ? replay_session_end_icount(r->rs) : 0;
}

const char *reverse_message(const Reverse *r)
{
    return r->msg[0] ? r->msg : NULL;
}

void reverse_describe(const Reverse *r, void (*line)(void *opaque, const char *text), void *opaque)
{
    char buf[160];
    int n = snapstore_count(r->store);
    SnapStats st;
    snapstore_stats(r->store, &st);
    snprintf(buf, sizeof buf, "%d snapshots, %" PRIu64 " KiB of %" PRIu64 " KiB budget", n,
             st.bytes / 1024, st.budget / 1024);
    line(opaque, buf);
    for (int i = 0; i < n; i++) {
        SnapInfo info;
        if (!snapstore_info(r->store, i, &info))
            continue;
        snprintf(buf, sizeof buf, "  #%d  icount %" PRIu64 "  %" PRIu64 " KiB%s", info.id,
                 info.icount, info.bytes / 1024, info.pinned ? "  (kept)" : "");
        line(opaque, buf);
    }
}
