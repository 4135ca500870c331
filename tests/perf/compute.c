/* Benchmark (a): integer compute loop. An LCG feeds a 64-bit mixer
 * (multiply, shifts, rotates, xor) folded into a running hash; no memory
 * traffic beyond registers. About 13 instructions per iteration. */
#include "perf.h"

#ifndef ITERS
#define ITERS 150000000UL
#endif

int main(void)
{
    uint64_t t0 = read_minstret();
    uint64_t x = 0x0123456789abcdefULL, h = 0x9e3779b97f4a7c15ULL;
    for (unsigned long i = 0; i < ITERS; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t y = x ^ (x >> 29);
        y *= 0xbf58476d1ce4e5b9ULL;
        y ^= y >> 32;
        h ^= y + (h << 6) + (h >> 2);
        h = (h << 13) | (h >> 51);
    }
    uint64_t t1 = read_minstret();
    perf_report("compute", h, t0, t1);
    return 0;
}
