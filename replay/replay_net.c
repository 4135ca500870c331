/* Network frames slirp sent the guest (RLOG_EV_NET). Recording logs each
 * frame at the icount where host_input.c gave it to virtio-net (through
 * replay_host_input_hook, replay_session.c); replay
 * starts no slirp and gives the same frame at the same icount. Frames the
 * guest sends go nowhere in replay (the device counts them). */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

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
