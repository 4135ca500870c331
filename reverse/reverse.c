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
#include <unistd.h>

#define DEFAULT_INTERVAL (1ull << 20)
/* A snapshot from the bundle's file is loaded instead of replaying from
 * an in-memory one when replaying the instructions it saves would take
 * longer than a load, by the speeds measured so far (before any: 2 GIPS
 * and 20 ms), and never to save less than MIN_FILE_GAIN instructions. */
#define MIN_FILE_GAIN (1ull << 20)
#define GUESS_NS_PER_INSN 0.5
#define GUESS_LOAD_NS 20e6
/* The progress meter: shown on a terminal once an operation has taken
 * PROGRESS_DELAY, redrawn at most every PROGRESS_PERIOD (microseconds). */
#define PROGRESS_DELAY 300000
#define PROGRESS_PERIOD 100000

typedef struct Named {      /* savevm NAME */
    char *name;
    int id;
} Named;

/* A one-line progress meter on stderr for long seeks and scans: the
 * distance covered is base + (icount - from) out of total. */
typedef struct Progress {
    bool on, tty, shown;
    const char *what;
    uint64_t total, base, from;
    int64_t t0, last;
} Progress;

struct Reverse {
    Machine *m;
    ReplaySession *rs;
    SnapStore *store;
    GArray *positions;      /* RLogPos; a snapshot's log_pos indexes it */
    uint64_t interval;
    uint64_t high_water;    /* furthest icount reached: output before it was shown */
    ReversePoll poll;
    void *poll_opaque;
    bool interrupted;
    char msg[768];
    int first_id;           /* the snapshot at icount 0 */
    GPtrArray *named;       /* Named: savevm snapshots */
    bool have_break;        /* replay_break */
    uint64_t break_icount;
    bool break_reached;     /* reverse_run stopped at it */
    Progress prog;
    SnapFile *sf;           /* the recording's snapshots on disk, or NULL */
    double replay_ns, replay_insns;     /* forward replay measured */
    double load_ns;         /* the last load of a file snapshot took */
};

static void named_free(gpointer p)
{
    Named *n = p;
    g_free(n->name);
    g_free(n);
}

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
    machine_debug_forget_hits(r->m);
    if (!replay_session_seek(r->rs, &pos, err, sizeof err)) {
        snprintf(r->msg, sizeof r->msg, "replay log: %s", err);
        return false;
    }
    return true;
}

/* Puts the machine and the log where file snapshot idx was taken, and
 * keeps an in-memory snapshot there. On failure the file is not used
 * again (the caller restores an in-memory snapshot: a failed load changed
 * nothing, or only pages the store sees as dirty). */
static bool load_file_snapshot(Reverse *r, int idx)
{
    char err[768];
    gint64 t0 = g_get_monotonic_time();
    bool ok = snapfile_load_replay(r->sf, idx, r->m, r->rs, false, err, sizeof err);
    r->load_ns = (double)(g_get_monotonic_time() - t0) * 1e3;
    if (!ok) {
        fprintf(stderr, "rewind: %s; going on without the snapshot file\n", err);
        snapfile_close(r->sf, NULL, 0);
        r->sf = NULL;
        return false;
    }
    take_snapshot(r);
    return true;
}

/* The file snapshot worth loading to reach `target` when the best start
 * otherwise is icount `from`: -1 if none saves enough. */
static int file_snapshot_for(const Reverse *r, uint64_t target, uint64_t from)
{
    if (!r->sf)
        return -1;
    int idx = snapfile_find_before(r->sf, target);
    SnapFileInfo fi;
    if (idx < 0 || !snapfile_info(r->sf, idx, &fi) || fi.icount <= from ||
        fi.icount - from < MIN_FILE_GAIN)
        return -1;
    double ns_per_insn = r->replay_insns >= 1e6 ? r->replay_ns / r->replay_insns
                                                : GUESS_NS_PER_INSN;
    double load_ns = r->load_ns > 0 ? r->load_ns : GUESS_LOAD_NS;
    return (double)(fi.icount - from) * ns_per_insn > load_ns ? idx : -1;
}

/* Restores the latest snapshot strictly before `icount` (at 0 for 0):
 * in memory, or from the file when that saves a long replay. */
static bool restore_before(Reverse *r, uint64_t icount, uint64_t *at)
{
    uint64_t target = icount ? icount - 1 : 0;
    int id = snapstore_find(r->store, target);
    SnapInfo info;
    if (id <= 0 || !snapstore_get(r->store, id, &info)) {
        snprintf(r->msg, sizeof r->msg, "no snapshot before icount %" PRIu64, icount);
        return false;
    }
    int fidx = file_snapshot_for(r, target, info.icount);
    if (fidx >= 0 && load_file_snapshot(r, fidx)) {
        *at = now(r);
        return true;
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
    r->first_id = first;
    r->named = g_ptr_array_new_with_free_func(named_free);
    return r;
}

void reverse_free(Reverse *r)
{
    if (!r)
        return;
    snapstore_free(r->store);
    snapfile_close(r->sf, NULL, 0);
    g_array_free(r->positions, TRUE);
    g_ptr_array_free(r->named, TRUE);
    g_free(r);
}

void reverse_set_poll(Reverse *r, ReversePoll poll, void *opaque)
{
    r->poll = poll;
    r->poll_opaque = opaque;
}

/* Starts the meter unless an enclosing operation has one; true when the
 * caller owns it (and must end it). */
static bool progress_begin(Reverse *r, const char *what, uint64_t total)
{
    if (r->prog.on)
        return false;
    r->prog = (Progress){
        .on = true, .tty = isatty(STDERR_FILENO), .what = what, .total = total,
        .from = now(r), .t0 = g_get_monotonic_time(),
    };
    return true;
}

static void progress_window(Reverse *r, uint64_t base, uint64_t from)
{
    r->prog.base = base;
    r->prog.from = from;
}

static void progress_tick(Reverse *r)
{
    if (!r->prog.on || !r->prog.tty)
        return;
    int64_t t = g_get_monotonic_time();
    if (t - r->prog.t0 < PROGRESS_DELAY || t - r->prog.last < PROGRESS_PERIOD)
        return;
    r->prog.last = t;
    uint64_t ic = now(r);
    uint64_t done = r->prog.base + (ic > r->prog.from ? ic - r->prog.from : 0);
    double pct = r->prog.total ? 100.0 * (double)done / (double)r->prog.total : 100.0;
    if (pct > 100.0)
        pct = 100.0;
    fprintf(stderr, "\r%s: %5.1f%% (icount %" PRIu64 ")\033[K", r->prog.what, pct, ic);
    fflush(stderr);
    r->prog.shown = true;
}

static void progress_end(Reverse *r, bool owner)
{
    if (!owner)
        return;
    if (r->prog.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    r->prog.on = false;
}

/* Replays forward until icount `target` (or something stops it), taking a
 * snapshot at every multiple of the interval it reaches that has none.
 * Checks the poll between chunks: r->interrupted says it fired. */
static RunResult forward_chunks(Reverse *r, uint64_t target)
{
    for (;;) {
        uint64_t ic = now(r);
        if (ic % r->interval == 0 && !snapshot_at(r, ic))
            take_snapshot(r);
        if (ic >= target)
            return RUN_BUDGET;
        uint64_t boundary = (ic / r->interval + 1) * r->interval;
        uint64_t stop = target < boundary ? target : boundary;
        /* below the high-water mark the console output was shown when
         * replay first got there: do not print it again */
        bool seen = ic < r->high_water;
        if (seen && stop > r->high_water)
            stop = r->high_water;
        console_mute_output(seen);
        gint64 t0 = g_get_monotonic_time();
        RunResult res = replay_run(r->rs, r->m, stop - ic);
        r->replay_ns += (double)(g_get_monotonic_time() - t0) * 1e3;
        r->replay_insns += (double)(now(r) - ic);
        if (now(r) > r->high_water)
            r->high_water = now(r);
        if (res != RUN_BUDGET)
            return res;
        progress_tick(r);
        if (r->poll && r->poll(r->poll_opaque)) {
            r->interrupted = true;
            return RUN_BUDGET;
        }
    }
}

static RunResult forward_to(Reverse *r, uint64_t target)
{
    RunResult res = forward_chunks(r, target);
    console_mute_output(false);
    return res;
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
    /* replay_break ahead: stop exactly there */
    bool brk = r->have_break && r->break_icount > now(r) && r->break_icount <= target;
    if (brk)
        target = r->break_icount;
    /* a forward run is polled by its caller (the stub reads Ctrl-C
     * itself): polling here would swallow it */
    ReversePoll poll = r->poll;
    r->poll = NULL;
    RunResult res = forward_to(r, target);
    r->poll = poll;
    if (brk && res == RUN_BUDGET && now(r) == r->break_icount) {
        r->have_break = false;
        r->break_reached = true;
    }
    return res;
}

ReverseStop reverse_seek(Reverse *r, uint64_t icount)
{
    uint64_t ic = now(r), at;
    int id = snapstore_find(r->store, icount);
    SnapInfo info;
    /* go back only when forward from here cannot get there, or when a
     * snapshot lies between here and the target */
    if (icount < ic || (id > 0 && snapstore_get(r->store, id, &info) && info.icount > ic) ||
        file_snapshot_for(r, icount, ic) >= 0) {
        if (!restore_before(r, icount + 1, &at))
            return REV_ERROR;
    }
    bool owner = progress_begin(r, "seeking", icount > now(r) ? icount - now(r) : 0);
    machine_suspend_debug(r->m, true);
    RunResult res = forward_to(r, icount);
    machine_suspend_debug(r->m, false);
    progress_end(r, owner);
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
    console_mute_output(true);      /* all of it was shown already */
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
    console_mute_output(false);
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

static ReverseStop continue_back(Reverse *r, ReverseHit *hit)
{
    uint64_t origin = now(r), end = origin, start;
    r->interrupted = false;
    while (end > 0) {
        if (!restore_before(r, end, &start))
            return REV_ERROR;
        progress_window(r, origin - end, start);
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
        /* replay_break in the window, after every hit: it wins */
        if (r->have_break && r->break_icount < origin && r->break_icount >= start &&
            r->break_icount < end && (!have || r->break_icount > hit_icount)) {
            ReverseStop st = reverse_seek(r, r->break_icount);
            if (st != REV_STOPPED)
                return st;
            r->have_break = false;
            return REV_REPLAY_BREAK;
        }
        if (have) {
            /* gdb-multiarch treats RISC-V watchpoints as non-steppable: in
             * reverse it expects the stop after the access and steps back
             * over it itself, landing in front of the access with the old
             * value. The access is the watching hart's next step, so the
             * position after it is one icount later. */
            ReverseStop st = reverse_seek(r, watch ? hit_icount + 1 : hit_icount);
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

ReverseStop reverse_continue(Reverse *r, ReverseHit *hit)
{
    bool owner = progress_begin(r, "reverse-continue", now(r));
    ReverseStop st = continue_back(r, hit);
    progress_end(r, owner);
    return st;
}

/* ---- replay_break ---- */

void reverse_set_break(Reverse *r, uint64_t icount)
{
    r->have_break = true;
    r->break_icount = icount;
    r->break_reached = false;
}

void reverse_delete_break(Reverse *r)
{
    r->have_break = false;
    r->break_reached = false;
}

bool reverse_get_break(const Reverse *r, uint64_t *icount)
{
    if (r->have_break && icount)
        *icount = r->break_icount;
    return r->have_break;
}

bool reverse_break_reached(Reverse *r)
{
    bool reached = r->break_reached;
    r->break_reached = false;
    return reached;
}

/* ---- named snapshots (savevm) ---- */

static Named *find_named(const Reverse *r, const char *name, guint *index)
{
    for (guint i = 0; i < r->named->len; i++) {
        Named *n = g_ptr_array_index(r->named, i);
        if (!strcmp(n->name, name)) {
            if (index)
                *index = i;
            return n;
        }
    }
    return NULL;
}

/* Drops snapshot id unless a name holds it or it is the start of history. */
static void release_snapshot(Reverse *r, int id)
{
    if (id == r->first_id)
        return;
    for (guint i = 0; i < r->named->len; i++)
        if (((Named *)g_ptr_array_index(r->named, i))->id == id)
            return;
    snapstore_drop(r->store, id);
}

int reverse_savevm(Reverse *r, const char *name)
{
    uint64_t ic = now(r);
    int id = snapstore_find(r->store, ic);
    SnapInfo info;
    if (id <= 0 || !snapstore_get(r->store, id, &info) || info.icount != ic)
        id = take_snapshot(r);
    if (id <= 0) {
        snprintf(r->msg, sizeof r->msg, "could not take a snapshot at icount %" PRIu64, ic);
        return -1;
    }
    snapstore_set_pinned(r->store, id, true);
    Named *n = find_named(r, name, NULL);
    if (n) {
        int old = n->id;
        n->id = id;
        release_snapshot(r, old);
    } else {
        n = g_new0(Named, 1);
        n->name = g_strdup(name);
        n->id = id;
        g_ptr_array_add(r->named, n);
    }
    return id;
}

bool reverse_loadvm(Reverse *r, const char *name)
{
    Named *n = find_named(r, name, NULL);
    if (n)
        return restore_snapshot(r, n->id);
    /* one of the recording's, on disk: it becomes a named one here */
    int idx = r->sf ? snapfile_find(r->sf, name) : -1;
    SnapFileInfo fi;
    if (idx >= 0 && snapfile_info(r->sf, idx, &fi) && !fi.machine) {
        snprintf(r->msg, sizeof r->msg, "snapshot '%s' in %s holds no machine", name,
                 snapfile_path(r->sf));
        return false;
    }
    if (idx < 0) {
        snprintf(r->msg, sizeof r->msg, "no snapshot named '%s'", name);
        return false;
    }
    if (!load_file_snapshot(r, idx)) {
        snprintf(r->msg, sizeof r->msg, "snapshot '%s' could not be loaded (see above)", name);
        return false;
    }
    return reverse_savevm(r, name) > 0;
}

bool reverse_use_snapshot_file(Reverse *r, const char *path, char *err, size_t errlen)
{
    SnapFile *f = snapfile_open(path, false, err, errlen);
    if (!f)
        return false;
    snapfile_close(r->sf, NULL, 0);
    r->sf = f;
    return true;
}

bool reverse_delvm(Reverse *r, const char *name)
{
    guint index;
    Named *n = find_named(r, name, &index);
    if (!n) {
        snprintf(r->msg, sizeof r->msg, "no snapshot named '%s'", name);
        return false;
    }
    int id = n->id;
    g_ptr_array_remove_index(r->named, index);
    if (id != r->first_id) {
        /* no longer kept by the name; gone unless another name holds it */
        bool held = false;
        for (guint i = 0; i < r->named->len; i++)
            held |= ((Named *)g_ptr_array_index(r->named, i))->id == id;
        if (!held)
            snapstore_set_pinned(r->store, id, false);
        release_snapshot(r, id);
    }
    return true;
}

bool reverse_named_icount(const Reverse *r, const char *name, uint64_t *icount)
{
    Named *n = find_named(r, name, NULL);
    SnapInfo info;
    if (!n || !snapstore_get(r->store, n->id, &info))
        return false;
    if (icount)
        *icount = info.icount;
    return true;
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
    snprintf(buf, sizeof buf, "%-8s %-20s %16s %12s", "ID", "TAG", "ICOUNT", "SIZE");
    line(opaque, buf);
    GString *text = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        SnapInfo info;
        if (!snapstore_info(r->store, i, &info))
            continue;
        GString *tags = g_string_new(NULL);
        for (guint k = 0; k < r->named->len; k++) {
            const Named *nm = g_ptr_array_index(r->named, k);
            if (nm->id == info.id)
                g_string_append_printf(tags, "%s%s", tags->len ? "," : "", nm->name);
        }
        g_string_printf(text, "%-8d %-20s %16" PRIu64 " %8" PRIu64 " KiB%s", info.id,
                        tags->len ? tags->str : "--", info.icount, info.bytes / 1024,
                        info.id == r->first_id ? "  (start)" : info.pinned ? "  (kept)" : "");
        line(opaque, text->str);
        g_string_free(tags, TRUE);
    }
    if (r->sf) {
        g_string_printf(text, "on disk, %s: %d snapshots", snapfile_path(r->sf),
                        snapfile_count(r->sf));
        line(opaque, text->str);
        for (int i = 0; i < snapfile_count(r->sf); i++) {
            SnapFileInfo fi;
            if (!snapfile_info(r->sf, i, &fi))
                continue;
            if (fi.machine)
                g_string_printf(text, "%-8s %-20s %16" PRIu64 " %8" PRIu64 " KiB", fi.id,
                                fi.name, fi.icount, fi.bytes / 1024);
            else
                g_string_printf(text, "%-8s %-20s %16s %8s      (no machine state)", fi.id,
                                fi.name, "--", "--");
            line(opaque, text->str);
        }
    }
    g_string_free(text, TRUE);
}
