/* Random bytes from the host for virtio-rng (RLOG_EV_RNG): logged (by
 * replay_host_input_hook, replay_session.c) when host_input.c fills a
 * posted buffer, given back at the same icount in
 * replay. */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

bool replay_rng_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    if (machine_host_input_push(m, HOST_INPUT_RNG, ev->payload, ev->len))
        return true;
    s->diverged = true;
    snprintf(s->msg, sizeof s->msg,
             "replay diverged at icount %" PRIu64
             " (expected a virtio-rng buffer for %zu random bytes, got none posted)",
             ev->icount, ev->len);
    return false;
}
