/* Berkeley HTIF, the tohost/fromhost mailbox of Spike, for bare-metal ELFs
 * (riscv-tests, small benchmarks) that define those symbols. A 64-bit value
 * written to tohost encodes device (bits 63:56), command (55:48) and
 * payload (47:0):
 *   device 0, cmd 0, payload odd:   exit with status payload >> 1
 *   device 0, cmd 0, payload even:  a system call; payload points to
 *                                   magic_mem[8] = {num, a0, a1, a2, ...}
 *   device 1, cmd 1:                console putchar of the low byte
 * As Spike's front end does, the host clears tohost once it has taken the
 * command and posts the answer, if any, in fromhost. */
#include "devices.h"

#include <stdio.h>
#include <unistd.h>

#define HTIF_DEV(v) ((v) >> 56)
#define HTIF_CMD(v) (((v) >> 48) & 0xff)
#define HTIF_PAYLOAD(v) ((v) & 0xffffffffffffull)

#define SYS_write 64
#define SYS_exit 93
#define HTIF_ENOSYS 38

static void htif_respond(Machine *m, uint64_t dev, uint64_t cmd, uint64_t data)
{
    if (!m->htif_fromhost)
        return;
    uint64_t v = (dev << 56) | (cmd << 48) | (data & 0xffffffffffffull);
    machine_phys_write(m, m->htif_fromhost, &v, sizeof v);
}

/* Only what the riscv-tests benchmarks' printf needs: write(1 or 2, ...).
 * Everything else answers -ENOSYS. */
static void htif_syscall(Machine *m, uint64_t addr)
{
    uint64_t mm[8];
    if (!machine_phys_read(m, addr, mm, sizeof mm))
        return;
    int64_t ret = -HTIF_ENOSYS;
    if (mm[0] == SYS_write && (mm[1] == 1 || mm[1] == 2)) {
        uint64_t done = 0;
        uint8_t buf[256];
        while (done < mm[3]) {
            uint64_t n = mm[3] - done < sizeof buf ? mm[3] - done : sizeof buf;
            if (!machine_phys_read(m, mm[2] + done, buf, n))
                break;
            fwrite(buf, 1, n, mm[1] == 1 ? stdout : stderr);
            done += n;
        }
        fflush(mm[1] == 1 ? stdout : stderr);
        ret = (int64_t)done;
    } else if (mm[0] == SYS_exit) {
        machine_request_exit(m, (int)mm[1]);
        return;
    }
    mm[0] = (uint64_t)ret;
    machine_phys_write(m, addr, mm, sizeof mm[0]);
    htif_respond(m, 0, 0, 1);
}

void htif_write_tohost(Machine *m, uint64_t value)
{
    if (value == 0)
        return;
    uint64_t zero = 0;
    machine_phys_write(m, m->htif_tohost, &zero, sizeof zero);

    uint64_t dev = HTIF_DEV(value), cmd = HTIF_CMD(value);
    uint64_t payload = HTIF_PAYLOAD(value);
    if (dev == 0 && cmd == 0) {
        if (payload & 1)
            machine_request_exit(m, (int)(payload >> 1));
        else
            htif_syscall(m, payload);
    } else if (dev == 1 && cmd == 1) {
        uint8_t ch = (uint8_t)payload;
        fputc(ch, stdout);
        if (isatty(STDOUT_FILENO))
            fflush(stdout);
        /* Spike's console answers a write with 0x100 | the byte. */
        htif_respond(m, 1, 1, 0x100 | ch);
    }
    /* Console reads (device 1, cmd 0) and unknown devices get no answer:
     * Spike would wait for input, which we do not route through HTIF. */
}
