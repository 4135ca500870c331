/* Check events: the recorder logs machine_state_hash() at every multiple of
 * the check period and at the end; replay compares at the same icounts
 * (log_check.c carries and compares the hash). */
#include "replay_internal.h"

#include <stdio.h>

void replay_check_record(ReplaySession *s, Machine *m)
{
    uint64_t ic = machine_icount(m);
    if (s->failed || (s->checked && s->checked_icount == ic))
        return;
    session_log_pending_chars(s);
    char err[512];
    if (!rlog_write_check(s->w, ic, machine_state_hash(m), err, sizeof err)) {
        s->failed = true;
        snprintf(s->msg, sizeof s->msg, "%s", err);
        return;
    }
    s->counts[RLOG_EV_CHECK]++;
    s->checked = true;
    s->checked_icount = ic;
}

bool replay_check_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    if (!rlog_check_verify(ev, machine_state_hash(m), s->msg, sizeof s->msg)) {
        s->diverged = true;
        return false;
    }
    return true;
}
