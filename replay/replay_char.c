/* Console input: the bytes console_poll gives the UART. Recording batches
 * the bytes of one icount into one event (payload: the bytes in order);
 * replaying pushes them into the UART at that icount, where the guest
 * found the UART ready for each of them during the recording. */
#include "replay_internal.h"

#include <inttypes.h>
#include <stdio.h>

void replay_char_hook(void *opaque, Machine *m, uint8_t byte)
{
    ReplaySession *s = opaque;
    if (s->mode != REPLAY_MODE_RECORD || s->failed)
        return;
    uint64_t ic = machine_icount(m);
    if (s->chars->len && s->chars_icount != ic)
        session_log_pending_chars(s);
    s->chars_icount = ic;
    g_byte_array_append(s->chars, &byte, 1);
}

void session_log_pending_chars(ReplaySession *s)
{
    if (!s->chars->len)
        return;
    GByteArray *b = s->chars;
    s->chars = g_byte_array_new();
    session_log(s, RLOG_EV_CHAR, s->chars_icount, b->data, b->len);
    g_byte_array_free(b, TRUE);
}

bool replay_char_apply(ReplaySession *s, Machine *m, const RLogEvent *ev)
{
    for (size_t i = 0; i < ev->len; i++) {
        if (!machine_console_push(m, ev->payload[i])) {
            s->diverged = true;
            snprintf(s->msg, sizeof s->msg,
                     "replay diverged at icount %" PRIu64
                     " (expected the UART to take console input byte %zu of %zu, got a full UART)",
                     ev->icount, i + 1, ev->len);
            return false;
        }
    }
    return true;
}
