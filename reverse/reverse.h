/* Public interface of reverse/: running a replay backwards.
 *
 * Every position of a replay is an instruction count (icount). Going back
 * means restoring the nearest in-memory snapshot at or before the target
 * and replaying forward to it exactly; the engine takes snapshots as replay
 * passes and at every debugger stop, so positions near the debugger stay
 * cheap to reach. */
#ifndef REWIND_REVERSE_H
#define REWIND_REVERSE_H

#include "emulator.h"
#include "replay.h"
#include "snapshots.h"

typedef struct Reverse Reverse;

typedef enum ReverseStop {
    REV_STOPPED,        /* reached the target position */
    REV_BEGIN,          /* the start of the recording: nothing before */
    REV_END,            /* the end of the recording: nothing after */
    REV_BREAKPOINT,
    REV_WATCHPOINT,
    REV_EXIT,           /* forward: the guest exited (the end of the log) */
    REV_INTERRUPTED,    /* the caller's poll asked to stop */
    REV_ERROR,          /* divergence or damaged log: see reverse_message */
    REV_REPLAY_BREAK,   /* reverse-continue: stopped at the replay_break icount */
} ReverseStop;

/* What a stop was about (for REV_BREAKPOINT/REV_WATCHPOINT). */
typedef struct ReverseHit {
    int hart;
    int type;           /* BP_* or WP_* */
    uint64_t addr;      /* watchpoints: the watched address touched */
} ReverseHit;

/* Polled during long operations; returns true to interrupt them. */
typedef bool (*ReversePoll)(void *opaque);

/* The machine must be at the start of the replay (icount 0, session
 * attached). snapshot_budget 0 = the default (a quarter of free memory);
 * interval 0 = the default distance between snapshots taken as replay
 * passes. */
Reverse *reverse_new(Machine *m, ReplaySession *rs, uint64_t snapshot_budget,
                     uint64_t interval);
void reverse_free(Reverse *r);
void reverse_set_poll(Reverse *r, ReversePoll poll, void *opaque);

/* Forward replay, as replay_run, taking snapshots as it passes. */
RunResult reverse_run(Reverse *r, uint64_t max_steps);
/* Forward by one instruction of `hart`, the other harts following the
 * recorded schedule (they may run meanwhile). */
ReverseStop reverse_step(Reverse *r, int hart, ReverseHit *hit);
/* Back by one instruction of `hart`: to just before its last retired one. */
ReverseStop reverse_stepi(Reverse *r, int hart);
/* Back to the last breakpoint or watchpoint hit before the position. */
ReverseStop reverse_continue(Reverse *r, ReverseHit *hit);
/* To any icount of the recording (clamped to its end). */
ReverseStop reverse_seek(Reverse *r, uint64_t icount);
/* The debugger stopped here: keep a snapshot and focus the schedule. */
void reverse_note_stop(Reverse *r);

uint64_t reverse_icount(const Reverse *r);
uint64_t reverse_end_icount(const Reverse *r);   /* known end, or 0 */
const char *reverse_message(const Reverse *r);
/* replay_break ICOUNT: a one-shot stop at that icount, in both directions.
 * reverse_run stops there (returning RUN_BUDGET; reverse_break_reached
 * then says so, once) when it lies ahead; reverse_continue stops there
 * (REV_REPLAY_BREAK) when it is the last event before the position. The
 * break is deleted once it stopped the machine. */
void reverse_set_break(Reverse *r, uint64_t icount);
void reverse_delete_break(Reverse *r);
bool reverse_get_break(const Reverse *r, uint64_t *icount);
bool reverse_break_reached(Reverse *r);

/* savevm/loadvm/delvm NAME: named snapshots, pinned (the memory budget
 * never drops them). savevm snapshots the current position (an existing
 * name moves there) and returns the snapshot id, -1 with a message;
 * loadvm puts the machine and the log back there; delvm forgets the name
 * and drops the snapshot when no other name holds it. */
int reverse_savevm(Reverse *r, const char *name);
bool reverse_loadvm(Reverse *r, const char *name);
bool reverse_delvm(Reverse *r, const char *name);
/* The recording's snapshots on disk (BUNDLE/snapshots.qcow2), opened
 * read-only: seeks far from every in-memory snapshot load the nearest one
 * instead of replaying from afar, loadvm finds them by name, and info
 * snapshots lists them. False (with a message) if the file cannot be
 * opened. */
bool reverse_use_snapshot_file(Reverse *r, const char *path, char *err, size_t errlen);

/* The icount of a named snapshot; false when there is none by that name. */
bool reverse_named_icount(const Reverse *r, const char *name, uint64_t *icount);

/* "info snapshots": a summary line, then one line per snapshot (id, names,
 * icount, size) through the callback. */
void reverse_describe(const Reverse *r, void (*line)(void *opaque, const char *text),
                      void *opaque);

/* ---- Snapshots while recording (record_snapshots.c) ----
 * The recording's snapshots on disk (snapshots.h, "Snapshots in a file"):
 * one named `initial` (or the given name, QEMU's rrsnapshot) when
 * recording starts, then periodic ones named periodic-1, periodic-2 ...
 * every `every` instructions and/or `seconds` host seconds, of which the
 * last `keep` are kept (0: all; the initial one always). Start it after
 * replay_session_attach, at icount 0; it owns the machine's dirty
 * tracking until finished. A snapshot that fails is reported on stderr
 * and stops the snapshots, not the recording. */
typedef struct RecordSnapOptions {
    const char *initial;
    uint64_t every;
    uint64_t seconds;
    int64_t keep;
} RecordSnapOptions;

typedef struct RecordSnaps RecordSnaps;
RecordSnaps *record_snaps_start(Machine *m, ReplaySession *rs, const char *path,
                                const RecordSnapOptions *o, char *err, size_t errlen);
/* Closes the file; false (with a message) if it failed or snapshots
 * stopped on the way. Frees in any case. */
bool record_snaps_finish(RecordSnaps *s, char *err, size_t errlen);
/* Snapshots taken, and the host time they cost (µs). */
uint64_t record_snaps_taken(const RecordSnaps *s, uint64_t *spent_us);

/* A file snapshot with the replay log position it belongs to
 * (snapshots.h, "Snapshots in a file"; tracked has the meaning it has
 * there). save: m as it is, at the position rs tells. load: m and rs back
 * where snapshot idx was taken; on failure m is unchanged, or (a page
 * read failing after the checks) only pages marked dirty changed. */
int snapfile_save_replay(SnapFile *f, Machine *m, ReplaySession *rs, const char *name,
                         bool tracked, char *err, size_t errlen);
bool snapfile_load_replay(SnapFile *f, int idx, Machine *m, ReplaySession *rs, bool tracked,
                          char *err, size_t errlen);

/* rewind snapshot add: replays m (at the start of the replay rs) to
 * icount, from the nearest snapshot before it in the file at path (created
 * when missing), and adds one named name there, sharing every page the
 * replay did not write. False with a message: a name that exists, an
 * icount past the end of the recording, a divergence, the file. */
bool record_snaps_add_at(const char *path, Machine *m, ReplaySession *rs, uint64_t icount,
                         const char *name, char *err, size_t errlen);

#endif
