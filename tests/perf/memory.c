/* Benchmark (b): memory-bound loop over a 16 MiB array. Each pass walks
 * the whole array with a large odd stride (about 32 KiB + 8 bytes), so
 * consecutive accesses touch different cache lines and pages; every step
 * is a read-modify-write plus a second read elsewhere. */
#include "perf.h"

#ifndef PASSES
#define PASSES 3
#endif

#define WORDS  (16UL * 1024 * 1024 / 8)   /* 2 Mi uint64 = 16 MiB */
#define STRIDE 4097UL                     /* odd: visits every word */

static uint64_t array[WORDS] __attribute__((aligned(4096)));

int main(void)
{
    uint64_t t0 = read_minstret();
    for (unsigned long i = 0; i < WORDS; i++)
        array[i] = i * 0x9e3779b97f4a7c15ULL;
    uint64_t sum = 0;
    for (unsigned long p = 0; p < PASSES; p++) {
        unsigned long idx = p;
        for (unsigned long k = 0; k < WORDS; k++) {
            idx = (idx + STRIDE) & (WORDS - 1);
            uint64_t v = array[idx];
            uint64_t w = array[(idx * 7 + 12345) & (WORDS - 1)];
            array[idx] = v + (w >> 3) + k;
            sum += v ^ w;
        }
    }
    uint64_t t1 = read_minstret();
    perf_report("memory", sum, t0, t1);
    return 0;
}
