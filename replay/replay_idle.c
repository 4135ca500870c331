/* Waiting on the host while every hart waits (RLOG_EV_SKIP).
 *
 * A machine that may get input from the host (a NIC, a posted RNG buffer)
 * does not jump virtual time to its next timer by itself: a peer on the
 * host needs real time to answer, and a guest whose clock raced ahead
 * would time out first (QEMU's -icount sleep=on has the same reason).
 * The run loop waits here instead: at most the virtual time left to the
 * deadline, and never more than IDLE_WAIT_MAX_MS, for host input; if
 * none came, time jumps to the deadline. The jump is a host decision, so
 * recording logs it; replay repeats it where the log says.
 *
 * With -icount sleep=on (the default on a terminal) idle time follows host
 * time instead, as QEMU's does: the loop waits up to the deadline (in
 * slices of IDLE_SLEEP_SLICE_MS) and virtual time advances by the host
 * time that passed, input or not; the skip event then carries the ns. A
 * guest sitting at a shell prompt costs no CPU and its clock keeps time. */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

#define IDLE_WAIT_MAX_MS 20
#define IDLE_SLEEP_SLICE_MS 100

static void log_skip(ReplaySession *s, Machine *m, uint64_t ns, bool partial)
{
    if (!s || s->mode != REPLAY_MODE_RECORD)
        return;
    uint8_t p[RLOG_VARINT_MAX];
    size_t n = partial ? rlog_uvarint_put(p, ns) : 0;
    session_log(s, RLOG_EV_SKIP, machine_icount(m), p, n);
}

/* sleep=on: virtual time advances by the host time spent waiting. Waits
 * are whole milliseconds and overshoot; what a wait gave beyond the timer
 * deadline is kept as credit for the next one, so that over many short
 * waits (a guest's timer ticks) virtual time neither falls behind nor runs
 * ahead of the host's. Host-side state: its effects are all logged. */
static uint64_t sleep_credit_ns;
#define SLEEP_CREDIT_MAX_NS 1000000000ull

static void idle_sleep_wait(ReplaySession *s, Machine *m, uint64_t gap, int poll_ms)
{
    uint64_t ns = sleep_credit_ns;
    sleep_credit_ns = 0;
    if (gap == UINT64_MAX || ns < gap) {
        int wait_ms = poll_ms > IDLE_SLEEP_SLICE_MS ? poll_ms : IDLE_SLEEP_SLICE_MS;
        if (gap != UINT64_MAX && (gap - ns) / 1000000 < (uint64_t)wait_ms)
            wait_ms = (int)((gap - ns + 999999) / 1000000);
        gint64 t0 = g_get_monotonic_time();
        console_wait(m, wait_ms);
        ns += (uint64_t)(g_get_monotonic_time() - t0) * 1000;
    }
    if (gap != UINT64_MAX && ns >= gap) {
        sleep_credit_ns = ns - gap < SLEEP_CREDIT_MAX_NS ? ns - gap : SLEEP_CREDIT_MAX_NS;
        log_skip(s, m, 0, false);
        machine_idle_skip(m);
    } else if (ns) {
        log_skip(s, m, ns, true);
        machine_idle_skip_ns(m, ns);
    }
}

void replay_idle_wait(ReplaySession *s, Machine *m, int poll_ms)
{
    uint64_t gap = machine_idle_gap_ns(m);
    if (s && s->mode == REPLAY_MODE_REPLAY) {
        console_wait(m, poll_ms);
        return;
    }
    if (machine_config_idle_sleep(m)) {
        idle_sleep_wait(s, m, gap, poll_ms);
        return;
    }
    if (gap == UINT64_MAX) {
        console_wait(m, poll_ms);
        return;
    }
    uint64_t ms = (gap + 999999) / 1000000;
    int wait_ms = ms > IDLE_WAIT_MAX_MS ? IDLE_WAIT_MAX_MS : (int)ms;
    gint64 t0 = g_get_monotonic_time();
    console_wait(m, wait_ms);
    if (g_get_monotonic_time() - t0 < (gint64)wait_ms * 1000)
        return;     /* input came: the run loop delivers it first */
    log_skip(s, m, 0, false);
    machine_idle_skip(m);
}

bool replay_skip_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    uint64_t ns = 0;
    if (ev->len && rlog_uvarint_get(ev->payload, ev->len, &ns) != ev->len) {
        s->diverged = true;
        snprintf(s->msg, sizeof s->msg, "replay: malformed skip event at icount %" PRIu64,
                 ev->icount);
        return false;
    }
    if (ev->len ? machine_idle_skip_ns(m, ns) : machine_idle_skip(m))
        return true;
    s->diverged = true;
    snprintf(s->msg, sizeof s->msg,
             "replay diverged at icount %" PRIu64
             " (expected every hart waiting for a timer, got %s)", ev->icount,
             machine_can_progress(m) ? "a running machine" : "no timer armed");
    return false;
}
