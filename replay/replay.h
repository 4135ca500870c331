/* Public interface of replay/: the event log of a recording.
 *
 * A recording logs every input that comes from outside the machine with the
 * icount at which the guest sees it. This header is the container: a writer
 * that appends events (type byte, icount, payload bytes) to a file of
 * compressed, CRC-protected chunks, and a reader that returns them in order
 * and stops cleanly at the last good chunk of a truncated or corrupt file.
 * Each source of non-determinism (console input, clock reads, network...)
 * is a small file on top of this API with its own event type below.
 * The byte layout is described in docs/log-format.md.
 *
 * Errors follow the project's convention: functions that can fail return
 * false/NULL (or a status) and write a one-line message, without trailing
 * newline, into a caller-supplied buffer (err, errlen); err may be NULL.
 */
#ifndef REWIND_REPLAY_H
#define REWIND_REPLAY_H

#include "emulator.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Format constants ------------------------------------------------- */

#define RLOG_MAGIC            "RWNDLOG"   /* 8 bytes with the NUL */
#define RLOG_FORMAT_VERSION   1u
#define RLOG_FILE_HEADER_SIZE 40u
#define RLOG_CHUNK_HEADER_SIZE 44u

/* Writer defaults and hard limits (a reader refuses anything larger). */
#define RLOG_DEFAULT_CHUNK_SIZE   (64u * 1024)          /* uncompressed */
#define RLOG_MAX_CHUNK_TARGET     (8u * 1024 * 1024)
#define RLOG_MAX_PAYLOAD          (8u * 1024 * 1024)
#define RLOG_MAX_CHUNK_BYTES      (32u * 1024 * 1024)   /* uncompressed */

/* One check event every 2^28 instructions (about 0.27 G): a 10^10
 * instruction run with no input writes 37 check events, a log of about
 * 500 bytes. See docs/log-format.md, "Check events", for the choice. */
#define RLOG_DEFAULT_CHECK_PERIOD (UINT64_C(1) << 28)

/* Event types. 0x00-0x0f belong to the container, 0x10-0xff to the
 * sources of non-determinism; a new source takes the next free number here
 * so that numbers never collide. A reader hands unknown types to the
 * caller (their payload length is always explicit in the file). */
enum {
    RLOG_EV_END      = 0x00,  /* end of log, written by rlog_writer_close */
    RLOG_EV_CHECK    = 0x01,  /* 8-byte little-endian hash of CPU state */

    RLOG_EV_CHAR     = 0x10,  /* console input bytes */
    RLOG_EV_CLOCK    = 0x11,  /* host clock read (RTC) */
    RLOG_EV_IDLE     = 0x12,  /* idle wait that depended on the host */
    RLOG_EV_REQUEST  = 0x13,  /* power off / reset requested from outside */
    RLOG_EV_NET      = 0x14,  /* network packet delivered by slirp */
    RLOG_EV_RNG      = 0x15,  /* random bytes (virtio-rng) */
    RLOG_EV_BLOCK    = 0x16,  /* block device completion (unused: disks
                                 are deterministic, see DESIGN.md) */
    RLOG_EV_SKIP     = 0x17,  /* idle time skipped after waiting on the host */
};

/* A short name for an event type ("end", "check", "char"...), "unknown"
 * for numbers not assigned above. */
const char *rlog_event_name(uint8_t type);

/* A position in the log: the chunk and the event in it (see
 * rlog_reader_tell and rlog_writer_tell). */
typedef struct RLogPos {
    uint64_t chunk_offset;    /* file offset of the chunk header */
    uint64_t base_icount;     /* last icount of the chunk before it */
    uint32_t chunk_index;
    uint32_t event_index;     /* events of that chunk already consumed */
} RLogPos;

/* ---- Writer ----------------------------------------------------------- */

typedef struct RLogWriter RLogWriter;

typedef struct RLogWriterConfig {
    uint32_t chunk_size;     /* uncompressed bytes per chunk; 0 = default */
    uint64_t check_period;   /* instructions between check events; 0 = none */
    int zlib_level;          /* 1..9; 0 = zlib's default */
} RLogWriterConfig;

void rlog_writer_config_defaults(RLogWriterConfig *cfg);

/* Creates (truncates) PATH and writes the file header. cfg may be NULL for
 * the defaults. */
RLogWriter *rlog_writer_open(const char *path, const RLogWriterConfig *cfg,
                             char *err, size_t errlen);

/* Appends one event. icount is absolute and must not be lower than the
 * previous event's. type must not be RLOG_EV_END (close writes it);
 * len <= RLOG_MAX_PAYLOAD. Events are buffered; a full chunk is compressed
 * and written before the next event with a higher icount, so the events of
 * one icount are never split between chunks by the writer itself.
 * After a failure the writer refuses everything except close/free. */
bool rlog_write_event(RLogWriter *w, uint8_t type, uint64_t icount,
                      const void *payload, size_t len, char *err, size_t errlen);

/* Appends a check event carrying hash, and moves the next due check to the
 * first multiple of the check period above icount. */
bool rlog_write_check(RLogWriter *w, uint64_t icount, uint64_t hash,
                      char *err, size_t errlen);

/* The icount at which the recorder should next call rlog_write_check
 * (a multiple of the period), or UINT64_MAX if checks are off. */
uint64_t rlog_writer_next_check(const RLogWriter *w);

/* Writes the buffered events as a chunk (if any) and flushes stdio. */
bool rlog_writer_flush(RLogWriter *w, char *err, size_t errlen);

/* Writes the end-of-log event at end_icount (>= the last event's icount:
 * the icount at which the recording stopped), flushes, closes and frees
 * the writer, whatever happens. Returns false if anything failed. */
bool rlog_writer_close(RLogWriter *w, uint64_t end_icount, char *err, size_t errlen);

/* Closes and frees without writing buffered events or the end marker:
 * the file then reads as a truncated log. For error paths. */
void rlog_writer_free(RLogWriter *w);

uint64_t rlog_writer_last_icount(const RLogWriter *w);
/* Where the next event written will be, as a reader of the finished file
 * would tell it (rlog_reader_tell): for snapshots taken while recording. */
RLogPos rlog_writer_tell(const RLogWriter *w);
uint64_t rlog_writer_bytes_written(const RLogWriter *w);  /* in the file so far */
uint64_t rlog_writer_events(const RLogWriter *w);         /* events written */

/* ---- Reader ----------------------------------------------------------- */

typedef struct RLogReader RLogReader;

typedef struct RLogEvent {
    uint8_t type;
    uint64_t icount;          /* absolute */
    const uint8_t *payload;   /* valid until the next rlog_reader_next,
                                 rlog_reader_seek or rlog_reader_close */
    size_t len;
} RLogEvent;

typedef enum RLogNext {
    RLOG_NEXT_EVENT,    /* *ev holds the next event */
    RLOG_NEXT_END,      /* clean end: the end marker was reached */
    RLOG_NEXT_BROKEN,   /* the log ends early (truncated or corrupt) */
} RLogNext;

/* Opens PATH and validates its header. Errors read
 * "PATH: not a Rewind event log",
 * "PATH: format version N, this Rewind reads M", ... */
RLogReader *rlog_reader_open(const char *path, char *err, size_t errlen);
void rlog_reader_close(RLogReader *r);

/* Returns the next event in icount order. A chunk is handed out only after
 * all of it was verified (CRC, zlib stream, event structure), so a damaged
 * file yields exactly the events of its good chunks. Once END or BROKEN is
 * returned, further calls return the same; for BROKEN the message is
 * written to err each time and rlog_reader_stop_reason gives it too. */
RLogNext rlog_reader_next(RLogReader *r, RLogEvent *ev, char *err, size_t errlen);

/* The icount of the next event (when the next input is due) without
 * consuming it; false at the end or where the log breaks (then
 * rlog_reader_next tells which). */
bool rlog_reader_peek_icount(RLogReader *r, uint64_t *icount);
/* Same, with the whole next event (the payload pointer stays valid until
 * the next call to rlog_reader_next or rlog_reader_seek). */
bool rlog_reader_peek(RLogReader *r, RLogEvent *ev);

/* After END: the end icount. After BROKEN: the last icount of the last good
 * chunk (0 if none), i.e. the icount up to which replay is valid. Before
 * either: the icount of the last event returned. */
uint64_t rlog_reader_valid_icount(const RLogReader *r);
/* NULL unless the reader is stopped on a damaged log: then
 * "PATH: log ends early at byte OFFSET (chunk K, icounts A..B): REASON;
 * replay is valid up to icount V" (or "(chunk K, after icount V)" when the
 * chunk header itself is unreadable). */
const char *rlog_reader_stop_reason(const RLogReader *r);

uint64_t rlog_reader_check_period(const RLogReader *r);  /* from the header */
uint64_t rlog_reader_file_size(const RLogReader *r);

/* A position in the log, for snapshots: rlog_reader_tell gives the place
 * of the next event rlog_reader_next would return; rlog_reader_seek goes
 * back (or forward) to a position told earlier by a reader of the same
 * file, and clears an END/BROKEN state. A position the file does not have
 * fails with a message and leaves the reader stopped (BROKEN) there. */
RLogPos rlog_reader_tell(const RLogReader *r);
bool rlog_reader_seek(RLogReader *r, const RLogPos *pos, char *err, size_t errlen);

/* ---- Check events (log_check.c) --------------------------------------- */

/* FNV-1a, 64 bits, over data, continuing from h (start with
 * RLOG_HASH_INIT). For hashing CPU state portably. */
#define RLOG_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t rlog_hash64(uint64_t h, const void *data, size_t len);

/* Writes "replay diverged at icount N (expected 0x%016x, got 0x%016x)" into
 * buf (always NUL-terminated); returns what snprintf returns. */
int rlog_format_divergence(char *buf, size_t len, uint64_t icount,
                           uint64_t expected, uint64_t got);

/* Reads the hash of a check event. False (with a message) if ev is not a
 * well-formed check event. */
bool rlog_check_hash(const RLogEvent *ev, uint64_t *hash, char *err, size_t errlen);

/* Compares a check event with the hash replay computed at ev->icount.
 * True if they agree; otherwise false with the divergence message. */
bool rlog_check_verify(const RLogEvent *ev, uint64_t actual, char *err, size_t errlen);

/* ---- Varints (LEB128, unsigned, 64-bit), for payload encoders ---------- */

#define RLOG_VARINT_MAX 10

/* Writes v at p (room for RLOG_VARINT_MAX bytes); returns the length. */
size_t rlog_uvarint_put(uint8_t *p, uint64_t v);
/* Reads a varint from p[0..avail); returns its length, or 0 if it is
 * truncated, longer than 10 bytes, overflows 64 bits or is not in its
 * shortest form. */
size_t rlog_uvarint_get(const uint8_t *p, size_t avail, uint64_t *v);

/* ---- Record/replay sessions (replay_session.c and the sources) ---------
 *
 * A session drives a machine in record or replay mode. The run loops
 * (rewind.c, the GDB stub) call replay_run instead of machine_run.
 *
 * Recording: replay_run runs the machine and writes a check event at every
 * multiple of the check period and an idle event where every hart waits on
 * the host; console bytes (through console.c's input hook), the RTC start
 * time and requests from outside are logged with the icount at which the
 * guest sees them.
 * Replaying: replay_run runs the machine exactly up to each event's icount
 * and applies it there; it stops at the end of the log (RUN_REPLAY_END) or
 * at a check that does not match (RUN_REPLAY_DIVERGED). Console input then
 * comes from the log only.
 *
 * Event payloads (little-endian):
 *   char    (0x10): the input bytes, in the order the UART received them
 *   clock   (0x11): 1 byte clock id (0 = RTC start time), 8 bytes ns since
 *                   the Unix epoch; logged at icount 0
 *   idle    (0x12): empty; every hart waited for host input here
 *   request (0x13): 1 byte kind (REPLAY_REQ_*), then a varint argument (the
 *                   exit status for quit, 0 for reset)
 *   net     (0x14): one ethernet frame slirp sent the guest (no header)
 *   rng     (0x15): the random bytes given to the posted virtio-rng buffer
 *   skip    (0x17): every hart waited on the host (after an idle event at
 *                   the same icount): empty, virtual time jumped to the
 *                   next timer deadline; or a varint, it advanced by that
 *                   many ns (-icount sleep=on)
 *   check   (0x01): machine_state_hash() at that icount
 */

typedef enum ReplayMode {
    REPLAY_MODE_RECORD = 1,
    REPLAY_MODE_REPLAY = 2,
} ReplayMode;

enum {
    REPLAY_REQ_QUIT  = 1,   /* Ctrl-A x, monitor quit: the recording ends */
    REPLAY_REQ_RESET = 2,   /* monitor system_reset */
};

enum { REPLAY_CLOCK_RTC_START = 0 };

typedef struct ReplaySession ReplaySession;

/* Recording to log_path (created or truncated). check_period: instructions
 * between check events, 0 for RLOG_DEFAULT_CHECK_PERIOD. */
ReplaySession *replay_session_record(const char *log_path, uint64_t check_period,
                                     char *err, size_t errlen);
/* Replaying log_path. */
ReplaySession *replay_session_replay(const char *log_path, char *err, size_t errlen);
ReplayMode replay_session_mode(const ReplaySession *s);

/* Connects the session to the machine's host console: recording logs every
 * byte console_poll gives the guest; replaying makes console_poll leave the
 * guest's input alone. Call after console_attach. Replaying, also applies
 * the events logged at icount 0 (so do it before the first run). */
void replay_session_attach(ReplaySession *s, Machine *m);

/* Runs at most max_steps instructions as machine_run does, honouring the
 * session: returns RUN_BUDGET, RUN_EXIT, RUN_IDLE (recording only),
 * RUN_BREAKPOINT, RUN_WATCHPOINT, and when replaying RUN_REPLAY_END (the
 * log ends at the current icount; replay_session_message says how) or
 * RUN_REPLAY_DIVERGED (the message says where). Returns at once with the
 * same code when called again at the end. */
RunResult replay_run(ReplaySession *s, Machine *m, uint64_t max_steps);

/* Replaying: applies the events due at the current icount (for a debugger
 * about to step one instruction). Returns RUN_BUDGET when the machine may
 * go on, or RUN_REPLAY_END / RUN_REPLAY_DIVERGED. Recording: RUN_BUDGET. */
RunResult replay_apply_due(ReplaySession *s, Machine *m);

/* Replaying: true once the end of the log (or a divergence) was reached;
 * the icount where the log ends (valid once the end was seen; before, the
 * icount of the last event read); the one-line message for the stop:
 * "end of recording at icount N", the reader's message for a damaged log,
 * or the divergence. NULL while nothing stopped the replay. */
bool replay_session_ended(const ReplaySession *s);
/* Where the log stands: replaying, the reader's position; recording, the
 * place the next event will have in the finished log (console bytes still
 * pending are logged first), so that a snapshot taken while recording can
 * be replayed from. Seeking (replay only) goes back there with a machine
 * state saved at the same moment, and clears the end-of-log and
 * divergence state: they are found again when replay gets there. */
RLogPos replay_session_tell(ReplaySession *s);
bool replay_session_seek(ReplaySession *s, const RLogPos *pos, char *err, size_t errlen);
bool replay_session_log_damaged(const ReplaySession *s);
bool replay_session_diverged(const ReplaySession *s);
uint64_t replay_session_end_icount(const ReplaySession *s);
const char *replay_session_message(const ReplaySession *s);
/* Replaying: the recording ended by a quit request (its exit status in
 * *code) rather than by the guest. */
bool replay_session_quit_requested(const ReplaySession *s, int *code);

/* Recording: replay_run calls tick before every run of the machine; tick
 * returns the icount at which it wants to be called again (the run stops
 * there), UINT64_MAX for none. The recording's periodic snapshots. */
typedef uint64_t (*ReplayRecordTick)(void *opaque, Machine *m);
void replay_session_set_record_tick(ReplaySession *s, ReplayRecordTick tick, void *opaque);

/* Recording: write the events buffered so far to the file (the recorder
 * calls it about once a second while input comes, so that a killed
 * recording loses little). */
void replay_session_flush(ReplaySession *s, Machine *m);

/* Recording: logs a final check and the end of the log at the machine's
 * icount and closes the file. Replaying: nothing. */
bool replay_session_finish(ReplaySession *s, Machine *m, char *err, size_t errlen);
void replay_session_free(ReplaySession *s);

/* Events read or written, by type (for `rewind info`, tests). */
uint64_t replay_session_event_count(const ReplaySession *s, uint8_t type);

/* replay_clock.c: the RTC's start time (MachineConfig.rtc_start_ns).
 * Recording: reads the host wall clock once and logs it at icount 0.
 * Replaying: the logged value (0 with a message if the log has none). */
bool replay_clock_rtc_start(ReplaySession *s, uint64_t *ns, char *err, size_t errlen);

/* replay_idle.c: the run loop got RUN_IDLE and the machine cannot go on.
 * Waits for host input (console, network) up to poll_ms, or, when a timer
 * deadline exists (a machine that waits on the host, see emulator.h), up
 * to a few ms of host time, then jumps virtual time to the deadline
 * (logged when recording). s may be NULL (plain run). */
void replay_idle_wait(ReplaySession *s, Machine *m, int poll_ms);

/* replay_request.c: requests from outside the machine, recording only
 * (replaying they come from the log). quit: the user ended the session
 * (Ctrl-A x, monitor quit); reset: monitor system_reset, about to be done
 * at the current icount. A replaying session refuses reset (false with a
 * message) and ignores quit. */
void replay_request_quit(ReplaySession *s, Machine *m, int code);
bool replay_request_reset(ReplaySession *s, Machine *m, char *err, size_t errlen);

/* ---- Bundles (bundle.c) ------------------------------------------------
 * A recording is a directory: "manifest" (a GLib key file: Rewind's
 * version, the machine configuration, record options, and the path, size
 * and SHA-256 of every input file), "events.rlog" (the event log), the
 * disks' overlays and, when the recording keeps snapshots,
 * "snapshots.qcow2". See docs/record-replay.md. */

#define BUNDLE_MANIFEST "manifest"
#define BUNDLE_EVENTS   "events.rlog"
#define BUNDLE_SNAPSHOTS "snapshots.qcow2"

/* Options of a recording kept in the manifest (the snapshot options say
 * what the recording's snapshots.qcow2 holds; snapshot_mem is the replay's
 * in-memory budget). 0 / NULL = not given. */
typedef struct BundleOptions {
    uint64_t check_every;       /* check period, instructions */
    uint64_t snapshot_every;    /* instructions between snapshots */
    uint64_t snapshot_time;     /* host seconds between snapshots */
    int64_t snapshot_count;     /* keep the last N (-1 = not given) */
    uint64_t snapshot_mem;      /* memory budget, bytes */
    const char *rrsnapshot;     /* name of the initial snapshot */
    const char *rrsnapmode;     /* "initial" or "periodic" */
} BundleOptions;

/* The loaded manifest: strings owned by the Bundle. */
typedef struct Bundle {
    char *dir;
    char *manifest_path;
    char *events_path;
    char *version;
    MachineConfig cfg;          /* serial fields left at their defaults */
    BundleOptions opts;
    bool finished;              /* the recorder wrote its end section */
    uint64_t end_icount;
    uint64_t net_tx_frames;     /* frames the guest sent on its NIC */
    int exit_status;
    bool guest_exited;
    char **hostfwd;             /* owns cfg.hostfwd's strings */
    void *keyfile;              /* GKeyFile */
} Bundle;

/* Creates dir (and parents) if needed and writes the manifest for cfg
 * (input files hashed now). False with a message if an input file cannot
 * be read or the directory cannot be written. */
bool bundle_create(const char *dir, const MachineConfig *cfg, const BundleOptions *opts,
                   char *err, size_t errlen);
/* Adds the [recording] section (end icount, exit status) at the end. */
bool bundle_finish(const char *dir, uint64_t end_icount, int exit_status, bool guest_exited,
                   uint64_t log_bytes, uint64_t net_tx_frames, char *err, size_t errlen);
/* Reads and checks the manifest: "DIR: not a Rewind bundle (no manifest)",
 * "DIR/manifest: ...: bad manifest" ... */
Bundle *bundle_open(const char *dir, char *err, size_t errlen);
/* Hashes every input file again: "DIR: input file changed since
 * recording: PATH (sha256 A, now B)" or "... input file missing: PATH". */
bool bundle_verify_inputs(const Bundle *b, char *err, size_t errlen);
/* Prints the manifest summary (for `rewind info`). */
void bundle_print_summary(const Bundle *b, FILE *out);
void bundle_free(Bundle *b);

#endif
