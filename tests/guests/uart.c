/* uart: console output through the NS16550A at 0x10000000, with picolibc's
 * printf (integer formats) on top of the runtime's putc hook, plus a few
 * register checks. */
#include <stdio.h>
#include <string.h>
#include <inttypes.h>
#include "rt.h"

int main(void)
{
    uart_init();
    uart_puts("uart: hello from uart_puts\n");
    puts("uart: hello from puts");
    printf("uart: decimal %d %d %u\n", 42, -17, 4000000000u);
    printf("uart: hex %#x %08lx %X\n", 0xbeef, 0x1234abcdUL, 0xcafe);
    printf("uart: 64-bit %" PRIu64 " %" PRIx64 "\n",
           UINT64_C(18446744073709551615), UINT64_C(0x0123456789abcdef));
    printf("uart: padded [%5d] [%-5d] [%05d]\n", 7, 7, 7);
    printf("uart: string '%s' char '%c' percent %%\n", "rewind", 'R');

    unsigned long sum = 0;
    for (int i = 1; i <= 100; i++)
        sum += (unsigned long)i * i;
    printf("uart: sum of squares 1..100 = %lu\n", sum);

    /* register checks */
    uint8_t lcr = MMIO8(UART_BASE + 3);
    CHECK(lcr == 0x03, "LCR reads back 8N1 (0x%02x)", lcr);
    MMIO8(UART_BASE + 7) = 0x5a;
    uint8_t scr = MMIO8(UART_BASE + 7);
    CHECK(scr == 0x5a, "scratch register holds 0x5a (0x%02x)", scr);
    uint8_t lsr = MMIO8(UART_BASE + 5);
    CHECK((lsr & 0x60) == 0x60, "LSR: transmitter empty (0x%02x)", lsr);
    uint8_t iir = MMIO8(UART_BASE + 2);
    CHECK((iir & 0x0f) == 0x01, "IIR: no interrupt pending (0x%02x)", iir);
    CHECK((iir & 0xc0) == 0xc0, "IIR: FIFOs enabled (0x%02x)", iir);
    CHECK(sum == 338350, "arithmetic");

    /* a long line, to exercise the transmit path past any FIFO */
    char line[161];
    for (int i = 0; i < 160; i++)
        line[i] = (char)('a' + i % 26);
    line[160] = 0;
    printf("%s\n", line);
    printf("uart: %d characters\n", (int)strlen(line));
    rt_finish();
}
