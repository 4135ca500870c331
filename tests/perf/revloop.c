/* Workload of reverse_bench.py: a register-only hash loop of a chosen
 * length, then a function called exactly once (rev_marker), then a tail of
 * TAIL_ITERS loop iterations (reverse_bench.py: 58800, about 10^6
 * instructions) before the report and exit. A breakpoint on rev_marker is
 * therefore about that many instructions before the end of
 * the recording: reverse_bench.py sets it and reverse-continues to it.
 * -DITERS=N sets the main loop (17 instructions per iteration at -O2);
 * meson builds revloop.elf with the defaults, reverse_bench.py builds its
 * own sized copies. */
#include "perf.h"

#ifndef ITERS
#define ITERS 10000000UL
#endif
#ifndef TAIL_ITERS
#define TAIL_ITERS 58800UL
#endif

static uint64_t __attribute__((noinline)) hash_loop(uint64_t h, unsigned long n)
{
    uint64_t x = 0x0123456789abcdefULL ^ h;
    for (unsigned long i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t y = x ^ (x >> 29);
        y *= 0xbf58476d1ce4e5b9ULL;
        y ^= y >> 32;
        h ^= y + (h << 6) + (h >> 2);
        h = (h << 13) | (h >> 51);
    }
    return h;
}

volatile uint64_t rev_sink;

void __attribute__((noinline)) rev_marker(uint64_t h)
{
    rev_sink = h;
}

int main(void)
{
    uint64_t t0 = read_minstret();
    uint64_t h = hash_loop(0x9e3779b97f4a7c15ULL, ITERS);
    rev_marker(h);
    h = hash_loop(h, TAIL_ITERS);
    uint64_t t1 = read_minstret();
    perf_report("revloop", h, t0, t1);
    return 0;
}
