/* Host clock reads. Today there is one: the RTC's start time, read once
 * when the machine is created (dev_rtc.c adds virtual time to it). The
 * recorder reads the host wall clock, logs it at icount 0 and passes it in
 * MachineConfig.rtc_start_ns; replay takes it from the log.
 * Payload: clock id (1 byte, REPLAY_CLOCK_RTC_START), ns (u64 LE). */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

bool replay_clock_rtc_start(ReplaySession *s, uint64_t *ns, char *err, size_t errlen)
{
    if (s->mode == REPLAY_MODE_RECORD) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        uint8_t p[9];
        p[0] = REPLAY_CLOCK_RTC_START;
        for (int i = 0; i < 8; i++)
            p[1 + i] = (uint8_t)(v >> (8 * i));
        if (!session_log(s, RLOG_EV_CLOCK, 0, p, sizeof p)) {
            snprintf(err, errlen, "%s", s->msg);
            return false;
        }
        *ns = v;
        return true;
    }
    /* replaying: the clock event is the first thing at icount 0 */
    RLogEvent ev;
    while (rlog_reader_peek(s->r, &ev) && ev.icount == 0 && ev.type == RLOG_EV_CLOCK) {
        char e[512];
        if (rlog_reader_next(s->r, &ev, e, sizeof e) != RLOG_NEXT_EVENT)
            break;
        s->counts[ev.type]++;
        replay_clock_apply(s, &ev);
    }
    if (!s->clock_seen) {
        snprintf(err, errlen, "%s: no RTC start time at the start of the log", s->path);
        *ns = 0;
        return false;
    }
    *ns = s->rtc_start_ns;
    return true;
}

bool replay_clock_apply(ReplaySession *s, const RLogEvent *ev)
{
    /* Only the start time exists; a later clock event (from a newer
     * Rewind) has nothing to feed here and is skipped. */
    if (ev->len == 9 && ev->payload[0] == REPLAY_CLOCK_RTC_START && ev->icount == 0) {
        s->rtc_start_ns = le64(ev->payload + 1);
        s->clock_seen = true;
    }
    return true;
}
