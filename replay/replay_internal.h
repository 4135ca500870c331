/* Private to replay/: the session shared by replay_session.c and the event
 * sources (replay_char.c, replay_clock.c, replay_request.c,
 * replay_check.c). */
#ifndef REWIND_REPLAY_INTERNAL_H
#define REWIND_REPLAY_INTERNAL_H

#include "replay.h"

#include <glib.h>

struct ReplaySession {
    ReplayMode mode;
    char *path;
    uint64_t counts[256];       /* events by type */

    /* recording */
    RLogWriter *w;
    bool failed;                /* a write failed: the message is in msg */
    GByteArray *chars;          /* console bytes not logged yet ... */
    uint64_t chars_icount;      /* ... all seen at this icount */
    bool idle_logged;           /* an idle event at idle_icount was logged */
    uint64_t idle_icount;
    bool checked;               /* a check event at checked_icount exists */
    uint64_t checked_icount;
    uint64_t flushed_events;    /* events in the file at the last flush */
    gint64 last_flush_us;
    ReplayRecordTick tick;      /* periodic snapshots, see replay.h */
    void *tick_opaque;

    /* replaying */
    RLogReader *r;
    bool at_end;                /* the log ends at end_icount */
    bool damaged;               /* ... because it is truncated or corrupt */
    bool diverged;
    uint64_t end_icount;
    bool quit_seen;
    int quit_code;
    bool clock_seen;
    uint64_t rtc_start_ns;

    char msg[1024];
};

/* Recording: appends an event, after the console bytes still pending.
 * On failure the session stops recording (msg says why; the caller learns
 * it from replay_session_finish). */
bool session_log(ReplaySession *s, uint8_t type, uint64_t icount, const void *payload,
                 size_t len);
void session_log_pending_chars(ReplaySession *s);

/* Sources: applying one replayed event to the machine. Each returns false
 * and fills s->msg (setting s->diverged) when the machine cannot follow. */
bool replay_char_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
bool replay_clock_apply(ReplaySession *s, const RLogEvent *ev);
bool replay_request_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
bool replay_check_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
bool replay_net_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
bool replay_rng_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
bool replay_skip_apply(ReplaySession *s, Machine *m, const RLogEvent *ev);
/* emulator host-input hook target (recording): logs network frames and
 * random bytes as net and rng events. */
void replay_host_input_hook(void *opaque, Machine *m, HostInputKind kind, const uint8_t *data,
                            size_t len);
/* Recording: the check event at the machine's icount, once per icount. */
void replay_check_record(ReplaySession *s, Machine *m);
/* console.c's input hook target (recording). */
void replay_char_hook(void *opaque, Machine *m, uint8_t byte);

#endif
