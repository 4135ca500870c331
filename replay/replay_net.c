/* Network frames slirp sent the guest (RLOG_EV_NET). Recording logs each
 * frame at the icount where host_input.c gave it to virtio-net; replay
 * starts no slirp and gives the same frame at the same icount. Frames the
 * guest sends go nowhere in replay (the device counts them). */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

void replay_host_input_hook(void *opaque, Machine *m, HostInputKind kind, const uint8_t *data,
                            size_t len)
{
    ReplaySession *s = opaque;
    if (s->mode != REPLAY_MODE_RECORD || s->failed)
        return;
    if (kind == HOST_INPUT_NET)
        replay_net_record(s, m, data, len);
    else if (kind == HOST_INPUT_RNG)
        replay_rng_record(s, m, data, len);
}

void replay_net_record(ReplaySession *s, Machine *m, const uint8_t *frame, size_t len)
{
    session_log(s, RLOG_EV_NET, machine_icount(m), frame, len);
}

bool replay_net_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    if (machine_host_input_push(m, HOST_INPUT_NET, ev->payload, ev->len))
        return true;
    s->diverged = true;
    snprintf(s->msg, sizeof s->msg,
             "replay diverged at icount %" PRIu64
             " (expected virtio-net to take a %zu-byte frame, got no receive buffer posted)",
             ev->icount, ev->len);
    return false;
}
