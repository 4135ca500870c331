/* sifive,test1 "finisher" at 0x100000, as QEMU's sifive_test: a 32-bit
 * write to offset 0 whose low 16 bits say what to do and whose high 16 bits
 * carry an exit code:
 *   0x5555            power off, exit status 0 (also syscon-poweroff)
 *   0x3333 | code<<16 fail with that exit status
 *   0x7777            reset (syscon-reboot)
 * Other values are ignored, and reads return 0, as in QEMU. */
#include "devices.h"

#include <stdio.h>

#define FINISHER_FAIL  0x3333
#define FINISHER_PASS  0x5555
#define FINISHER_RESET 0x7777

static bool finisher_read(void *opaque, uint64_t offset, unsigned size, uint64_t *val)
{
    (void)opaque;
    (void)offset;
    (void)size;
    *val = 0;
    return true;
}

static bool finisher_write(void *opaque, uint64_t offset, unsigned size, uint64_t val)
{
    Machine *m = opaque;
    /* QEMU accepts 2- and 4-byte accesses; a halfword write can only say
     * pass/fail/reset with code 0. 8-byte stores act on the low word. */
    if (size == 1)
        return false;
    if (offset != 0)
        return true;
    uint32_t status = val & 0xffff;
    uint32_t code = size >= 4 ? (val >> 16) & 0xffff : 0;
    switch (status) {
    case FINISHER_PASS:
        machine_request_exit(m, 0);
        break;
    case FINISHER_FAIL:
        machine_request_exit(m, (int)code);
        break;
    case FINISHER_RESET:
        machine_request_reset(m);
        break;
    default:
        break;
    }
    return true;
}

void finisher_new(Machine *m, uint64_t base)
{
    MmioRegion r = {
        .name = "test",
        .base = base,
        .size = VIRT_TEST_SIZE,
        .opaque = m,
        .read = finisher_read,
        .write = finisher_write,
    };
    machine_add_mmio(m, &r);
}
