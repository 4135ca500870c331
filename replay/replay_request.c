/* Requests from outside the machine: quit (Ctrl-A x, the monitor's quit)
 * and reset (the monitor's system_reset). The monitor's stop and cont do
 * not change the guest and are not logged.
 * Payload: kind (1 byte, REPLAY_REQ_*), argument (varint). */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

static bool log_request(ReplaySession *s, Machine *m, uint8_t kind, uint64_t arg)
{
    uint8_t p[1 + RLOG_VARINT_MAX];
    p[0] = kind;
    size_t n = 1 + rlog_uvarint_put(p + 1, arg);
    return session_log(s, RLOG_EV_REQUEST, machine_icount(m), p, n);
}

void replay_request_quit(ReplaySession *s, Machine *m, int code)
{
    if (s->mode == REPLAY_MODE_RECORD)
        log_request(s, m, REPLAY_REQ_QUIT, (uint64_t)(uint32_t)code);
}

bool replay_request_reset(ReplaySession *s, Machine *m, char *err, size_t errlen)
{
    if (s->mode == REPLAY_MODE_REPLAY) {
        snprintf(err, errlen, "not available while replaying (the machine follows the recording)");
        return false;
    }
    log_request(s, m, REPLAY_REQ_RESET, 0);
    return true;
}

bool replay_request_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    uint64_t arg = 0;
    if (ev->len < 1 || rlog_uvarint_get(ev->payload + 1, ev->len - 1, &arg) != ev->len - 1) {
        s->diverged = true;
        snprintf(s->msg, sizeof s->msg, "replay: malformed request event at icount %" PRIu64,
                 ev->icount);
        return false;
    }
    switch (ev->payload[0]) {
    case REPLAY_REQ_QUIT:
        /* the end of the log follows at this icount */
        s->quit_seen = true;
        s->quit_code = (int)arg;
        return true;
    case REPLAY_REQ_RESET: {
        char err[256];
        if (!machine_reset(m, err, sizeof err)) {
            s->diverged = true;
            snprintf(s->msg, sizeof s->msg, "replay: recorded reset at icount %" PRIu64
                     " failed: %s", ev->icount, err);
            return false;
        }
        return true;
    }
    default:
        s->diverged = true;
        snprintf(s->msg, sizeof s->msg, "replay: unknown request %u at icount %" PRIu64
                 " (recorded by a newer Rewind?)", ev->payload[0], ev->icount);
        return false;
    }
}
