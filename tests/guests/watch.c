/* Watchpoint target: a counter written by one function, a limit only read,
 * and a buffer written with a misaligned 8-byte store, so a debugger can
 * check write, read and access watchpoints (tests/integration). */
#include "rt.h"

#include <stdio.h>
#include <string.h>

volatile long counter;          /* written by bump() */
volatile long limit = 3;        /* only read */
unsigned char buffer[16];       /* written once, misaligned */

__attribute__((noinline)) void bump(void)
{
    counter = counter + 1;
}

__attribute__((noinline)) void fill_buffer(void)
{
    uint64_t v = 0x1122334455667788ull;
    memcpy(buffer + 3, &v, sizeof(v));     /* an unaligned 8-byte store */
}

int main(void)
{
    while (counter < limit)
        bump();
    fill_buffer();
    printf("watch: counter = %ld\n", counter);
    printf("watch: buffer[3] = 0x%02x\n", buffer[3]);
    CHECK(counter == 3, "counter reached the limit");
    rt_finish();
}
