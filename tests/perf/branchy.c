/* Benchmark (c): branchy compressed code (built -march=rv64gc, so most
 * instructions are 16-bit). A switch-dispatched bytecode interpreter runs
 * a small program with data-dependent branches (Collatz steps, a prime
 * sieve test), and an insertion/quick sort sorts pseudo-random keys. */
#include "perf.h"

#ifndef ROUNDS
#define ROUNDS 30
#endif

enum { OP_LOADI, OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_SHR, OP_JZ, OP_JNZ,
       OP_JLT, OP_DEC, OP_MOV, OP_ODD, OP_HALT };

struct insn { uint8_t op, a, b, c; int32_t imm; };

/* for n = r5 down to 1: count the Collatz steps of n into r2 */
static const struct insn prog[] = {
    /* 0 */  { OP_MOV, 0, 5, 0, 0 },       /* r0 = r5 */
    /* 1 */  { OP_LOADI, 1, 0, 0, 1 },     /* r1 = 1 */
    /* 2 */  { OP_SUB, 3, 0, 1, 0 },       /* r3 = r0 - 1 */
    /* 3 */  { OP_JZ, 3, 0, 0, 12 },       /* r0 == 1: next n */
    /* 4 */  { OP_ODD, 4, 0, 0, 0 },       /* r4 = r0 & 1 */
    /* 5 */  { OP_JNZ, 4, 0, 0, 8 },       /* odd: goto 8 */
    /* 6 */  { OP_SHR, 0, 0, 0, 1 },       /* r0 >>= 1 */
    /* 7 */  { OP_JZ, 6, 0, 0, 10 },       /* (r6 == 0) goto 10 */
    /* 8 */  { OP_MUL, 0, 0, 7, 0 },       /* r0 *= 3 (r7 = 3) */
    /* 9 */  { OP_ADD, 0, 0, 1, 0 },       /* r0 += 1 */
    /* 10 */ { OP_ADD, 2, 2, 1, 0 },       /* r2++ */
    /* 11 */ { OP_JZ, 6, 0, 0, 2 },        /* goto 2 */
    /* 12 */ { OP_DEC, 5, 0, 0, 0 },       /* r5-- */
    /* 13 */ { OP_JNZ, 5, 0, 0, 0 },       /* more n: goto 0 */
    /* 14 */ { OP_HALT, 0, 0, 0, 0 },
};

static uint64_t run(const struct insn *code, int64_t n)
{
    int64_t r[8] = { 0, 0, 0, 0, 0, n, 0, 3 };
    unsigned pc = 0;
    for (;;) {
        const struct insn *i = &code[pc++];
        switch (i->op) {
        case OP_LOADI: r[i->a] = i->imm; break;
        case OP_ADD:   r[i->a] = r[i->b] + r[i->c]; break;
        case OP_SUB:   r[i->a] = r[i->b] - r[i->c]; break;
        case OP_MUL:   r[i->a] = r[i->b] * r[i->c]; break;
        case OP_AND:   r[i->a] = r[i->b] & r[i->c]; break;
        case OP_SHR:   r[i->a] = r[i->b] >> i->imm; break;
        case OP_JZ:    if (r[i->a] == 0) pc = (unsigned)i->imm; break;
        case OP_JNZ:   if (r[i->a] != 0) pc = (unsigned)i->imm; break;
        case OP_JLT:   if (r[i->a] < r[i->b]) pc = (unsigned)i->imm; break;
        case OP_DEC:   r[i->a]--; break;
        case OP_MOV:   r[i->a] = r[i->b]; break;
        case OP_ODD:   r[i->a] = r[i->b] & 1; break;
        case OP_HALT:  return (uint64_t)r[2];
        default:       return ~0ULL;
        }
    }
}

#define NKEYS 4096
static uint32_t keys[NKEYS];

static void isort(uint32_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        uint32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void qsort_u32(uint32_t *a, int n)
{
    while (n > 16) {
        uint32_t p = a[n / 2];
        int i = 0, j = n - 1;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) {
                uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
                i++; j--;
            }
        }
        if (j + 1 < n - i) {
            qsort_u32(a, j + 1);
            a += i; n -= i;
        } else {
            qsort_u32(a + i, n - i);
            n = j + 1;
        }
    }
    isort(a, n);
}

int main(void)
{
    uint64_t t0 = read_minstret();
    uint64_t sum = 0, seed = 12345;
    for (int round = 0; round < ROUNDS; round++) {
        sum += run(prog, 3000 + round);
        for (int i = 0; i < NKEYS; i++) {
            seed = seed * 6364136223846793005ULL + 1;
            keys[i] = (uint32_t)(seed >> 33);
        }
        qsort_u32(keys, NKEYS);
        int sorted = 1;
        for (int i = 1; i < NKEYS; i++)
            sorted &= keys[i - 1] <= keys[i];
        sum = sum * 31 + keys[NKEYS / 3] + (uint64_t)sorted;
    }
    uint64_t t1 = read_minstret();
    perf_report("branchy", sum, t0, t1);
    return 0;
}
