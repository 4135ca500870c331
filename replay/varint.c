/* Unsigned LEB128 varints, 64-bit: seven bits per byte, low bits first,
 * the top bit of a byte set when another byte follows. Icount deltas are
 * always 64-bit here: a guest may run for 2^40 instructions without input. */
#include "replay.h"

size_t rlog_uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t rlog_uvarint_get(const uint8_t *p, size_t avail, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < RLOG_VARINT_MAX && i < avail; i++) {
        uint8_t b = p[i];
        if (i == RLOG_VARINT_MAX - 1 && b > 1)
            return 0;                       /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return 0;                   /* not the shortest form */
            *v = x;
            return i + 1;
        }
    }
    return 0;                               /* truncated or too long */
}
