/* Check events: every so often the recorder logs a hash of CPU state; replay
 * computes the same hash at the same icount and stops at the first
 * difference instead of going silently wrong. Computing the hash is the
 * machine's business; this file carries and compares it. */
#include "log_format.h"
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>

uint64_t rlog_hash64(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

int rlog_format_divergence(char *buf, size_t len, uint64_t icount,
                           uint64_t expected, uint64_t got)
{
    return snprintf(buf, len, "replay diverged at icount %" PRIu64
                    " (expected 0x%016" PRIx64 ", got 0x%016" PRIx64 ")",
                    icount, expected, got);
}

bool rlog_check_hash(const RLogEvent *ev, uint64_t *hash, char *err, size_t errlen)
{
    if (ev->type != RLOG_EV_CHECK || ev->len != 8) {
        if (err && errlen)
            snprintf(err, errlen, "not a check event at icount %" PRIu64
                     " (type 0x%02x, %zu-byte payload)", ev->icount, ev->type, ev->len);
        return false;
    }
    *hash = get_le64(ev->payload);
    return true;
}

bool rlog_check_verify(const RLogEvent *ev, uint64_t actual, char *err, size_t errlen)
{
    uint64_t expected;
    if (!rlog_check_hash(ev, &expected, err, errlen))
        return false;
    if (expected == actual)
        return true;
    if (err && errlen)
        rlog_format_divergence(err, errlen, ev->icount, expected, actual);
    return false;
}
