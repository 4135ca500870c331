/* Shared bits of the benchmark workloads: instruction counter and report. */
#ifndef PERF_H
#define PERF_H

#include <stdio.h>
#include <stdint.h>
#include "rt.h"

static inline uint64_t read_minstret(void)
{
    uint64_t v;
    __asm__ volatile ("csrr %0, minstret" : "=r"(v) :: "memory");
    return v;
}

/* Lines parsed by bench.py: "workload: NAME", "checksum: 0x...",
 * "instructions: N" (minstret delta over the measured part). */
static inline void perf_report(const char *name, uint64_t checksum,
                               uint64_t start, uint64_t end)
{
    printf("workload: %s\n", name);
    printf("checksum: 0x%016llx\n", (unsigned long long)checksum);
    printf("instructions: %llu\n", (unsigned long long)(end - start));
}

#endif
