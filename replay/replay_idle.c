/* Waiting on the host while every hart waits (RLOG_EV_SKIP).
 *
 * A machine that may get input from the host (a NIC, a posted RNG buffer)
 * does not jump virtual time to its next timer by itself: a peer on the
 * host needs real time to answer, and a guest whose clock raced ahead
 * would time out first (QEMU's -icount sleep=on has the same reason).
 * The run loop waits here instead: at most the virtual time left to the
 * deadline, and never more than IDLE_WAIT_MAX_MS, for host input; if
 * none came, time jumps to the deadline. The jump is a host decision, so
 * recording logs it; replay repeats it where the log says. */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

#define IDLE_WAIT_MAX_MS 20

void replay_idle_wait(ReplaySession *s, Machine *m, int poll_ms)
{
    uint64_t gap = machine_idle_gap_ns(m);
    if (gap == UINT64_MAX || (s && s->mode == REPLAY_MODE_REPLAY)) {
        console_wait(m, poll_ms);
        return;
    }
    uint64_t ms = (gap + 999999) / 1000000;
    int wait_ms = ms > IDLE_WAIT_MAX_MS ? IDLE_WAIT_MAX_MS : (int)ms;
    gint64 t0 = g_get_monotonic_time();
    console_wait(m, wait_ms);
    if (g_get_monotonic_time() - t0 < (gint64)wait_ms * 1000)
        return;     /* input came: the run loop delivers it first */
    if (s && s->mode == REPLAY_MODE_RECORD)
        session_log(s, RLOG_EV_SKIP, machine_icount(m), NULL, 0);
    machine_idle_skip(m);
}

bool replay_skip_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    if (machine_idle_skip(m))
        return true;
    s->diverged = true;
    snprintf(s->msg, sizeof s->msg,
             "replay diverged at icount %" PRIu64
             " (expected every hart waiting for a timer, got %s)", ev->icount,
             machine_can_progress(m) ? "a running machine" : "no timer armed");
    return false;
}
