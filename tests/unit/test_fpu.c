/* Unit tests for emulator/fpu.c.
 *
 * Two kinds of checks:
 *  - hand-picked vectors straight from the RISC-V F/D chapters (NaN rules,
 *    min/max, compares, fclass, conversion saturation, RMM, underflow);
 *  - random cross-checks against the host (x86-64 SSE, an IEEE 754 machine
 *    that also detects tininess after rounding), driven with fesetround /
 *    fetestexcept, for RNE/RTZ/RDN/RUP. The host has no RMM, so RMM is
 *    checked against an exact long-double reference: when the exact result
 *    fits in 64 bits it is rounded by a small independent model, otherwise it
 *    cannot be a tie and RMM must agree with RNE.
 * The fenv use is confined to this test; fpu.c itself never touches it. */
#include <fenv.h>
#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fpu.h"

/* Vectors per operation and rounding mode. For a longer soak run set
 * REWIND_FPU_SCALE (a multiplier) and REWIND_FPU_SEED in the environment. */
#define N_RANDOM_DEFAULT 8000
static int N_RANDOM = N_RANDOM_DEFAULT;

/* ---- bit casts ---------------------------------------------------------- */

static double d_of(uint64_t x) { double d; memcpy(&d, &x, 8); return d; }
static uint64_t bits_d(double d) { uint64_t x; memcpy(&x, &d, 8); return x; }
static float f_of(uint32_t x) { float f; memcpy(&f, &x, 4); return f; }
static uint32_t bits_f(float f) { uint32_t x; memcpy(&x, &f, 4); return x; }

/* ---- formats -------------------------------------------------------------- */

typedef struct {
    const char *name;
    int mb, eb;          /* fraction / exponent bits */
} fmt_t;

static const fmt_t FMT32 = { "f32", 23, 8 };
static const fmt_t FMT64 = { "f64", 52, 11 };

static uint64_t fmt_abs(const fmt_t *f) { return (1ull << (f->mb + f->eb)) - 1; }
static uint64_t fmt_inf(const fmt_t *f) { return ((1ull << f->eb) - 1) << f->mb; }
static bool fmt_isnan(const fmt_t *f, uint64_t x) { return (x & fmt_abs(f)) > fmt_inf(f); }
static bool fmt_issnan(const fmt_t *f, uint64_t x)
{
    return fmt_isnan(f, x) && !(x & (1ull << (f->mb - 1)));
}
static bool fmt_isinf(const fmt_t *f, uint64_t x) { return (x & fmt_abs(f)) == fmt_inf(f); }
static bool fmt_iszero(const fmt_t *f, uint64_t x) { return (x & fmt_abs(f)) == 0; }
static uint64_t fmt_cnan(const fmt_t *f) { return fmt_inf(f) | (1ull << (f->mb - 1)); }
static int fmt_emin(const fmt_t *f) { return 2 - (1 << (f->eb - 1)); }
static int fmt_emax(const fmt_t *f) { return (1 << (f->eb - 1)) - 1; }

static long double ld_of(const fmt_t *f, uint64_t x)
{
    return f->mb == 23 ? (long double)f_of((uint32_t)x) : (long double)d_of(x);
}
static uint64_t bits_of_ld(const fmt_t *f, long double v) /* v representable */
{
    return f->mb == 23 ? bits_f((float)v) : bits_d((double)v);
}

/* ---- random operands -------------------------------------------------------- */

static GRand *rng;

static uint64_t rnd64(void)
{
    return ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
}
static int rnd_range(int lo, int hi) { return g_rand_int_range(rng, lo, hi + 1); }

static uint64_t make(const fmt_t *f, int sign, int bexp, uint64_t frac)
{
    return ((uint64_t)sign << (f->mb + f->eb)) | ((uint64_t)bexp << f->mb) |
           (frac & ((1ull << f->mb) - 1));
}

static uint64_t special(const fmt_t *f)
{
    uint64_t top = (1ull << f->mb) - 1;
    int emaxb = (1 << f->eb) - 1, bias = emaxb >> 1;
    uint64_t tab[] = {
        0, 1, top, top - 1, 1ull << f->mb, make(f, 0, emaxb - 1, top),
        fmt_inf(f), fmt_cnan(f), fmt_inf(f) | 1, fmt_inf(f) | (top >> 1) | 5,
        make(f, 0, bias, 0), make(f, 0, bias, 1), make(f, 0, bias - 1, top),
        make(f, 0, bias, top), make(f, 0, bias + 1, 0), make(f, 0, bias - 1, 0),
        make(f, 0, 1, 1), make(f, 0, emaxb - 1, 0), make(f, 0, bias + 31, 0),
        make(f, 0, bias + 63, 0), make(f, 0, bias + 64, 0), make(f, 0, bias + 62, top),
        make(f, 0, bias + 30, top), make(f, 0, bias + 31, top),
    };
    uint64_t x = tab[g_rand_int_range(rng, 0, G_N_ELEMENTS(tab))];
    return x | ((uint64_t)g_rand_boolean(rng) << (f->mb + f->eb));
}

/* A random operand; `near` (if >= 0) biases the biased exponent near it. */
static uint64_t gen(const fmt_t *f, int near)
{
    int emaxb = (1 << f->eb) - 1;
    int sign = g_rand_boolean(rng);
    int k = g_rand_int_range(rng, 0, 100);
    if (k < 8)
        return special(f);
    if (k < 25)
        return rnd64() & (fmt_abs(f) | (1ull << (f->mb + f->eb)));
    int e;
    if (near >= 0 && k < 60)
        e = near + rnd_range(-3, 3);
    else if (k < 75)
        e = (emaxb >> 1) + rnd_range(-40, 40);
    else
        e = rnd_range(0, emaxb - 1);
    if (e < 0) e = 0;
    if (e > emaxb - 1) e = emaxb - 1;
    uint64_t frac = rnd64();
    switch (g_rand_int_range(rng, 0, 4)) {
    case 0: /* short significand: exact products and ties become common */
        frac &= ~((1ull << rnd_range(f->mb / 2, f->mb)) - 1);
        break;
    case 1: /* runs of ones / zeros */
        frac = g_rand_boolean(rng) ? (frac | ((1ull << rnd_range(0, f->mb)) - 1))
                                   : (frac & ~((1ull << rnd_range(0, f->mb)) - 1));
        break;
    default:
        break;
    }
    return make(f, sign, e, frac);
}

static int bexp_of(const fmt_t *f, uint64_t x)
{
    return (int)((x >> f->mb) & ((1u << f->eb) - 1));
}

/* ---- host reference ------------------------------------------------------- */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_SQRT, OP_FMA, OP_COUNT };
static const char *op_name[] = { "add", "sub", "mul", "div", "sqrt", "fma" };

static int host_rm(int rm)
{
    switch (rm) {
    case RM_RTZ: return FE_TOWARDZERO;
    case RM_RDN: return FE_DOWNWARD;
    case RM_RUP: return FE_UPWARD;
    default:     return FE_TONEAREST;
    }
}

static uint32_t host_flags(void)
{
    int e = fetestexcept(FE_ALL_EXCEPT);
    return ((e & FE_INEXACT) ? FFLAG_NX : 0) | ((e & FE_UNDERFLOW) ? FFLAG_UF : 0) |
           ((e & FE_OVERFLOW) ? FFLAG_OF : 0) | ((e & FE_DIVBYZERO) ? FFLAG_DZ : 0) |
           ((e & FE_INVALID) ? FFLAG_NV : 0);
}

static void host_begin(int rm)
{
    fesetround(host_rm(rm));
    feclearexcept(FE_ALL_EXCEPT);
}

static void host_end(uint32_t *fl)
{
    *fl = host_flags();
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
}

static __attribute__((noinline)) uint64_t
host_op(const fmt_t *f, int op, uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *fl)
{
    uint64_t res;
    if (f->mb == 23) {
        volatile float x = f_of((uint32_t)a), y = f_of((uint32_t)b), z = f_of((uint32_t)c);
        volatile float r = 0;
        host_begin(rm);
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV: r = x / y; break;
        case OP_SQRT: r = sqrtf(x); break;
        case OP_FMA: r = fmaf(x, y, z); break;
        }
        host_end(fl);
        res = bits_f(r);
    } else {
        volatile double x = d_of(a), y = d_of(b), z = d_of(c);
        volatile double r = 0;
        host_begin(rm);
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV: r = x / y; break;
        case OP_SQRT: r = sqrt(x); break;
        case OP_FMA: r = fma(x, y, z); break;
        }
        host_end(fl);
        res = bits_d(r);
    }
    return res;
}

/* The exact result in long double (RNE); *exact tells whether it is exact. */
static __attribute__((noinline)) long double
host_exact(const fmt_t *f, int op, uint64_t a, uint64_t b, uint64_t c, bool *exact)
{
    volatile long double x = ld_of(f, a), y = ld_of(f, b), z = ld_of(f, c);
    volatile long double r = 0, p;
    feclearexcept(FE_ALL_EXCEPT);
    switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV: r = x / y; break;
    case OP_SQRT: r = sqrtl(x); break;
    case OP_FMA:
        p = x * y;
        if (fetestexcept(FE_INEXACT)) {   /* product not exact: give up */
            *exact = false;
            feclearexcept(FE_ALL_EXCEPT);
            return NAN;
        }
        r = p + z;
        break;
    }
    *exact = !fetestexcept(FE_ALL_EXCEPT);   /* also no NV / DZ */
    feclearexcept(FE_ALL_EXCEPT);
    return r;
}

static uint64_t mine(const fmt_t *f, int op, uint64_t a, uint64_t b, uint64_t c, int rm,
                     uint32_t *fl)
{
    if (f->mb == 23) {
        uint32_t x = (uint32_t)a, y = (uint32_t)b, z = (uint32_t)c;
        switch (op) {
        case OP_ADD: return f32_add(x, y, rm, fl);
        case OP_SUB: return f32_sub(x, y, rm, fl);
        case OP_MUL: return f32_mul(x, y, rm, fl);
        case OP_DIV: return f32_div(x, y, rm, fl);
        case OP_SQRT: return f32_sqrt(x, rm, fl);
        default: return f32_muladd(x, y, z, rm, fl);
        }
    }
    switch (op) {
    case OP_ADD: return f64_add(a, b, rm, fl);
    case OP_SUB: return f64_sub(a, b, rm, fl);
    case OP_MUL: return f64_mul(a, b, rm, fl);
    case OP_DIV: return f64_div(a, b, rm, fl);
    case OP_SQRT: return f64_sqrt(a, rm, fl);
    default: return f64_muladd(a, b, c, rm, fl);
    }
}

/* Independent RMM model: round an exact finite value to precision p with
 * exponent range [emin, emax], by scaling to an integer (all exact in long
 * double). Tininess after rounding, UF only when inexact. */
static long double rmm_round(long double x, int p, int emin, int emax, uint32_t *fl)
{
    if (x == 0 || !isfinite(x))
        return x;
    long double ax = fabsl(x);
    int e;
    frexpl(ax, &e);
    int E = e - 1;                                   /* ax in [2^E, 2^(E+1)) */
    long double qu = ldexpl(1, E - (p - 1));         /* unbounded quantum */
    long double n = ax / qu, fl_ = floorl(n);
    long double r_unbounded = (n - fl_ >= 0.5L ? fl_ + 1 : fl_) * qu;
    long double q = ldexpl(1, (E < emin ? emin : E) - (p - 1));
    n = ax / q;
    fl_ = floorl(n);
    long double frac = n - fl_;
    long double r = (frac >= 0.5L ? fl_ + 1 : fl_) * q;
    if (frac != 0) {
        *fl |= FFLAG_NX;
        if (r_unbounded < ldexpl(1, emin))
            *fl |= FFLAG_UF;
    }
    if (r >= ldexpl(1, emax + 1)) {
        *fl |= FFLAG_OF | FFLAG_NX;
        r = INFINITY;
    }
    return x < 0 ? -r : r;
}

/* ---- checking ---------------------------------------------------------------- */

static int failures;

static void check(const fmt_t *f, const char *what, int rm, uint64_t a, uint64_t b, uint64_t c,
                  uint64_t got, uint32_t gfl, uint64_t want, uint32_t wfl)
{
    bool ok;
    if (fmt_isnan(f, want))
        ok = got == fmt_cnan(f);      /* host payloads differ: NaN-ness only */
    else
        ok = got == want;
    ok = ok && gfl == wfl;
    if (!ok && failures++ < 30) {
        g_test_message("%s %s rm=%d a=%#" G_GINT64_MODIFIER "x b=%#" G_GINT64_MODIFIER
                       "x c=%#" G_GINT64_MODIFIER "x: got %#" G_GINT64_MODIFIER
                       "x fl=%#x want %#" G_GINT64_MODIFIER "x fl=%#x",
                       f->name, what, rm, a, b, c, got, gfl, want, wfl);
        g_test_fail();
    }
}

/* A value at (or a few ulps from) the underflow or overflow threshold. */
static uint64_t threshold(const fmt_t *f)
{
    uint64_t sgn = (uint64_t)g_rand_boolean(rng) << (f->mb + f->eb);
    uint64_t d = (uint64_t)rnd_range(0, 3);
    switch (g_rand_int_range(rng, 0, 3)) {
    case 0: return sgn | ((1ull << f->mb) + d);                 /* 2^emin + */
    case 1: return sgn | ((1ull << f->mb) - 1 - d);             /* 2^emin - */
    default: return sgn | (fmt_inf(f) - 1 - d);                 /* max finite */
    }
}

/* Operands for an op: random, with the second/third biased towards the
 * interesting exponents (cancellation, underflow, overflow). */
static void gen_operands(const fmt_t *f, int op, uint64_t *a, uint64_t *b, uint64_t *c)
{
    int bias = (1 << (f->eb - 1)) - 1;
    *a = gen(f, -1);
    int ea = bexp_of(f, *a);
    int k = g_rand_int_range(rng, 0, 4);
    switch (op) {
    case OP_ADD: case OP_SUB:
        *b = gen(f, k ? ea : -1);
        break;
    case OP_MUL:   /* product near the subnormal or overflow threshold */
        if (k == 3 && !fmt_isnan(f, *a) && !fmt_isinf(f, *a) && !fmt_iszero(f, *a)) {
            /* a * (t / a) lands within an ulp or so of t */
            uint32_t fl;
            *b = host_op(f, OP_DIV, threshold(f), *a, 0, rnd_range(0, 3), &fl);
            break;
        }
        *b = gen(f, k == 0 ? -1 : k == 1 ? 2 * bias + 1 - ea : bias + 1 - ea + rnd_range(-30, 1));
        break;
    case OP_DIV:
        if (k == 3 && !fmt_isnan(f, *a) && !fmt_isinf(f, *a) && !fmt_iszero(f, *a)) {
            uint32_t fl;
            *b = host_op(f, OP_DIV, *a, threshold(f), 0, rnd_range(0, 3), &fl);
            break;
        }
        *b = gen(f, k == 0 ? -1 : k == 1 ? ea - bias + 1 : ea + bias - 1 + rnd_range(-1, 30));
        break;
    case OP_SQRT:  /* perfect squares: exact roots, no NX */
        if (k == 1) {
            uint32_t fl;
            uint64_t r = gen(f, bias + rnd_range(-60, 60)) & ~(1ull << (f->mb + f->eb));
            r &= ~((1ull << (f->mb / 2 + 1)) - 1);
            *a = host_op(f, OP_MUL, r, r, 0, RM_RNE, &fl);
        }
        *b = 0;
        break;
    default:
        *b = gen(f, -1);
        break;
    }
    *c = 0;
    if (op == OP_FMA) {
        if (k == 0) {
            *c = gen(f, -1);
        } else {
            /* c close to -(a*b): massive cancellation */
            uint32_t fl;
            uint64_t p = host_op(f, OP_MUL, *a, *b, 0, rnd_range(0, 3), &fl);
            p ^= 1ull << (f->mb + f->eb);
            if (k == 2)
                p += rnd_range(-2, 2);
            else if (k == 3)
                p = gen(f, bexp_of(f, p));
            *c = p;
        }
    }
}

static bool any_nan(const fmt_t *f, int op, uint64_t a, uint64_t b, uint64_t c)
{
    return fmt_isnan(f, a) || (op != OP_SQRT && fmt_isnan(f, b)) ||
           (op == OP_FMA && fmt_isnan(f, c));
}

static void arith_vs_host(const fmt_t *f)
{
    failures = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        for (int rm = RM_RNE; rm <= RM_RMM; rm++) {
            for (int i = 0; i < N_RANDOM; i++) {
                uint64_t a, b, c, want, got;
                uint32_t wfl = 0, gfl = 0;
                gen_operands(f, op, &a, &b, &c);
                got = mine(f, op, a, b, c, rm, &gfl);
                if (op == OP_FMA && any_nan(f, op, a, b, c)) {
                    /* RISC-V: NV for sNaN, and for inf*0 even with a qNaN c. */
                    bool inf0 = (fmt_isinf(f, a) && fmt_iszero(f, b)) ||
                                (fmt_iszero(f, a) && fmt_isinf(f, b));
                    want = fmt_cnan(f);
                    wfl = (inf0 || fmt_issnan(f, a) || fmt_issnan(f, b) || fmt_issnan(f, c))
                              ? FFLAG_NV : 0;
                } else if (rm != RM_RMM) {
                    want = host_op(f, op, a, b, c, rm, &wfl);
                } else {
                    bool exact;
                    long double x = host_exact(f, op, a, b, c, &exact);
                    if (exact && !any_nan(f, op, a, b, c)) {
                        want = bits_of_ld(f, rmm_round(x, f->mb + 1, fmt_emin(f),
                                                       fmt_emax(f), &wfl));
                    } else if (op == OP_FMA && isnan(x)) {
                        continue;     /* product inexact in long double */
                    } else {
                        /* not a tie (a tie would fit in 64 bits): RMM == RNE */
                        want = host_op(f, op, a, b, c, RM_RNE, &wfl);
                    }
                }
                check(f, op_name[op], rm, a, b, c, got, gfl, want, wfl);
            }
        }
    }
}

static void test_f32_arith_host(void) { arith_vs_host(&FMT32); }
static void test_f64_arith_host(void) { arith_vs_host(&FMT64); }

/* ---- conversions vs host ------------------------------------------------------ */

/* Reference float->int: round with the host (or roundl for RMM), then clip. */
static uint64_t ref_to_int(long double x, int rm, bool is_signed, int bits, uint32_t *fl)
{
    long double lo = is_signed ? -ldexpl(1, bits - 1) : 0;
    long double hi = is_signed ? ldexpl(1, bits - 1) - 1 : ldexpl(1, bits) - 1;
    if (isnan(x)) {
        *fl |= FFLAG_NV;
        return is_signed ? (uint64_t)(int64_t)hi : (uint64_t)hi;
    }
    long double r;
    if (rm == RM_RMM) {
        r = roundl(x);
    } else {
        fesetround(host_rm(rm));
        r = nearbyintl(x);
        fesetround(FE_TONEAREST);
    }
    if (r > hi) {
        *fl |= FFLAG_NV;
        return is_signed ? (uint64_t)(int64_t)hi : (uint64_t)hi;
    }
    if (r < lo) {
        *fl |= FFLAG_NV;
        return (uint64_t)(int64_t)lo;
    }
    if (r != x)
        *fl |= FFLAG_NX;
    return r < 0 ? (uint64_t)(int64_t)r : (uint64_t)r;
}

static uint64_t sext32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)(uint32_t)v; }

static uint64_t my_to_int(const fmt_t *f, uint64_t a, int rm, int kind, uint32_t *fl)
{
    if (f->mb == 23) {
        uint32_t x = (uint32_t)a;
        switch (kind) {
        case 0: return (uint64_t)f32_to_i32(x, rm, fl);
        case 1: return (uint64_t)f32_to_u32(x, rm, fl);
        case 2: return (uint64_t)f32_to_i64(x, rm, fl);
        default: return f32_to_u64(x, rm, fl);
        }
    }
    switch (kind) {
    case 0: return (uint64_t)f64_to_i32(a, rm, fl);
    case 1: return (uint64_t)f64_to_u32(a, rm, fl);
    case 2: return (uint64_t)f64_to_i64(a, rm, fl);
    default: return f64_to_u64(a, rm, fl);
    }
}

static uint64_t gen_for_int(const fmt_t *f)
{
    int bias = (1 << (f->eb - 1)) - 1;
    switch (g_rand_int_range(rng, 0, 4)) {
    case 0: return gen(f, bias + rnd_range(-2, 3));        /* small, fractional */
    case 1: return gen(f, bias + 31);                      /* 32-bit limits */
    case 2: return gen(f, bias + 63);                      /* 64-bit limits */
    default: return gen(f, bias + rnd_range(0, 66));
    }
}

static void to_int_vs_ref(const fmt_t *f)
{
    static const char *names[] = { "to_i32", "to_u32", "to_i64", "to_u64" };
    failures = 0;
    for (int kind = 0; kind < 4; kind++) {
        bool is_signed = !(kind & 1);
        int bits = kind < 2 ? 32 : 64;
        for (int rm = RM_RNE; rm <= RM_RMM; rm++) {
            for (int i = 0; i < N_RANDOM; i++) {
                uint64_t a = gen_for_int(f);
                uint32_t gfl = 0, wfl = 0;
                uint64_t got = my_to_int(f, a, rm, kind, &gfl);
                uint64_t want = ref_to_int(ld_of(f, a), rm, is_signed, bits, &wfl);
                if (bits == 32)
                    want = sext32(want);
                if (got != want || gfl != wfl) {
                    if (failures++ < 30) {
                        g_test_message("%s %s rm=%d a=%#" G_GINT64_MODIFIER "x: got %#"
                                       G_GINT64_MODIFIER "x fl=%#x want %#" G_GINT64_MODIFIER
                                       "x fl=%#x", f->name, names[kind], rm, a, got, gfl,
                                       want, wfl);
                        g_test_fail();
                    }
                }
            }
        }
    }
}

static void test_f32_to_int(void) { to_int_vs_ref(&FMT32); }
static void test_f64_to_int(void) { to_int_vs_ref(&FMT64); }

static uint64_t gen_int(void)
{
    uint64_t v = rnd64();
    switch (g_rand_int_range(rng, 0, 4)) {
    case 0: return v >> rnd_range(0, 63);
    case 1: return (uint64_t)-(int64_t)(v >> rnd_range(1, 63));
    case 2: return v & ~((1ull << rnd_range(0, 63)) - 1);   /* ties and exact */
    default: return v;
    }
}

/* Compilers may convert unsigned integers with tricks that are not exact
 * under directed rounding (clang turns 0 into -0 under RDN), so only the
 * signed conversion instruction is used. */
static __attribute__((noinline)) uint64_t
host_from_int(const fmt_t *f, int kind, uint64_t v, int rm, uint32_t *fl)
{
    volatile uint64_t vv = v;
    uint64_t res = 0;
    host_begin(rm);
    if (f->mb == 23) {
        volatile float r = 0;
        switch (kind) {
        case 0: r = (float)(int32_t)vv; break;
        case 1: r = (float)(int64_t)(uint32_t)vv; break;
        case 2: r = (float)(int64_t)vv; break;
        default: /* halve with a sticky bit, so only signed conversions are used */
            if ((int64_t)vv >= 0) {
                r = (float)(int64_t)vv;
            } else {
                r = (float)(int64_t)((vv >> 1) | (vv & 1));
                r = r * 2;
            }
            break;
        }
        host_end(fl);
        res = bits_f(r);
    } else {
        volatile double r = 0;
        switch (kind) {
        case 0: r = (double)(int32_t)vv; break;
        case 1: r = (double)(int64_t)(uint32_t)vv; break;
        case 2: r = (double)(int64_t)vv; break;
        default: /* halve with a sticky bit, so only signed conversions are used */
            if ((int64_t)vv >= 0) {
                r = (double)(int64_t)vv;
            } else {
                r = (double)(int64_t)((vv >> 1) | (vv & 1));
                r = r * 2;
            }
            break;
        }
        host_end(fl);
        res = bits_d(r);
    }
    return res;
}

static uint64_t my_from_int(const fmt_t *f, int kind, uint64_t v, int rm, uint32_t *fl)
{
    if (f->mb == 23) {
        switch (kind) {
        case 0: return i32_to_f32((int32_t)v, rm, fl);
        case 1: return u32_to_f32((uint32_t)v, rm, fl);
        case 2: return i64_to_f32((int64_t)v, rm, fl);
        default: return u64_to_f32(v, rm, fl);
        }
    }
    switch (kind) {
    case 0: return i32_to_f64((int32_t)v, rm, fl);
    case 1: return u32_to_f64((uint32_t)v, rm, fl);
    case 2: return i64_to_f64((int64_t)v, rm, fl);
    default: return u64_to_f64(v, rm, fl);
    }
}

static void from_int_vs_host(const fmt_t *f)
{
    static const char *names[] = { "from_i32", "from_u32", "from_i64", "from_u64" };
    failures = 0;
    for (int kind = 0; kind < 4; kind++) {
        for (int rm = RM_RNE; rm <= RM_RMM; rm++) {
            for (int i = 0; i < N_RANDOM; i++) {
                uint64_t v = gen_int();
                if (kind < 2 && g_rand_boolean(rng))
                    v = (uint64_t)(int64_t)(int32_t)v;
                uint32_t gfl = 0, wfl = 0;
                uint64_t got = my_from_int(f, kind, v, rm, &gfl);
                uint64_t want;
                if (rm != RM_RMM) {
                    want = host_from_int(f, kind, v, rm, &wfl);
                } else {
                    long double x = kind == 0 ? (long double)(int32_t)v
                                  : kind == 1 ? (long double)(uint32_t)v
                                  : kind == 2 ? (long double)(int64_t)v : (long double)v;
                    want = bits_of_ld(f, rmm_round(x, f->mb + 1, fmt_emin(f),
                                                   fmt_emax(f), &wfl));
                }
                check(f, names[kind], rm, v, 0, 0, got, gfl, want, wfl);
            }
        }
    }
}

static void test_f32_from_int(void) { from_int_vs_host(&FMT32); }
static void test_f64_from_int(void) { from_int_vs_host(&FMT64); }

static __attribute__((noinline)) uint32_t host_d2f(uint64_t a, int rm, uint32_t *fl)
{
    volatile double x = d_of(a);
    volatile float r;
    host_begin(rm);
    r = (float)x;
    host_end(fl);
    return bits_f(r);
}

static __attribute__((noinline)) uint64_t host_f2d(uint32_t a, uint32_t *fl)
{
    volatile float x = f_of(a);
    volatile double r;
    host_begin(RM_RNE);
    r = (double)x;
    host_end(fl);
    return bits_d(r);
}

static void test_f64_to_f32(void)
{
    failures = 0;
    for (int rm = RM_RNE; rm <= RM_RMM; rm++) {
        for (int i = 0; i < N_RANDOM * 2; i++) {
            /* exponents around the binary32 range, including its subnormals */
            uint64_t a;
            uint32_t fl;
            switch (g_rand_int_range(rng, 0, 4)) {
            case 0: a = gen(&FMT64, -1); break;
            case 1: /* a binary32 threshold plus bits below binary32 precision */
                a = f32_to_f64((uint32_t)threshold(&FMT32), &fl);
                a = g_rand_boolean(rng) ? a + (rnd64() >> 35) : a - 1 - (rnd64() >> 35);
                break;
            default: a = gen(&FMT64, 1023 + rnd_range(-155, 130)); break;
            }
            uint32_t gfl = 0, wfl = 0;
            uint32_t got = f64_to_f32(a, rm, &gfl), want;
            if (rm != RM_RMM)
                want = host_d2f(a, rm, &wfl);
            else if (fmt_isnan(&FMT64, a))
                want = host_d2f(a, RM_RNE, &wfl);
            else
                want = bits_f((float)rmm_round(d_of(a), 24, -126, 127, &wfl));
            check(&FMT32, "f64_to_f32", rm, a, 0, 0, got, gfl, want, wfl);
        }
    }
    for (int i = 0; i < N_RANDOM; i++) {
        uint32_t a = (uint32_t)gen(&FMT32, -1);
        uint32_t gfl = 0, wfl = 0;
        uint64_t got = f32_to_f64(a, &gfl), want = host_f2d(a, &wfl);
        check(&FMT64, "f32_to_f64", 0, a, 0, 0, got, gfl, want, wfl);
    }
}

/* ---- compare / min / max vs a plain model ------------------------------------ */

static void cmp_model(const fmt_t *f)
{
    failures = 0;
    for (int i = 0; i < N_RANDOM * 4; i++) {
        uint64_t a = gen(f, -1);
        uint64_t b = g_rand_int_range(rng, 0, 4) ? gen(f, bexp_of(f, a)) : a;
        if (!g_rand_int_range(rng, 0, 8))
            b = a ^ (1ull << (f->mb + f->eb));
        long double x = ld_of(f, a), y = ld_of(f, b);
        bool nan = fmt_isnan(f, a) || fmt_isnan(f, b);
        bool snan = fmt_issnan(f, a) || fmt_issnan(f, b);
        uint32_t fe = 0, fl = 0, fle = 0, fmn = 0, fmx = 0;
        int eq, lt, le;
        uint64_t mn, mx;
        if (f->mb == 23) {
            eq = f32_eq(a, b, &fe); lt = f32_lt(a, b, &fl); le = f32_le(a, b, &fle);
            mn = f32_min(a, b, &fmn); mx = f32_max(a, b, &fmx);
        } else {
            eq = f64_eq(a, b, &fe); lt = f64_lt(a, b, &fl); le = f64_le(a, b, &fle);
            mn = f64_min(a, b, &fmn); mx = f64_max(a, b, &fmx);
        }
        uint64_t wmn, wmx;
        if (fmt_isnan(f, a) && fmt_isnan(f, b)) {
            wmn = wmx = fmt_cnan(f);
        } else if (fmt_isnan(f, a)) {
            wmn = wmx = b;
        } else if (fmt_isnan(f, b)) {
            wmn = wmx = a;
        } else if (x < y || (x == y && signbit(x) && !signbit(y))) {
            wmn = a; wmx = b;
        } else if (y < x || (x == y && signbit(y) && !signbit(x))) {
            wmn = b; wmx = a;
        } else {
            wmn = wmx = a; /* identical */
        }
        bool ok = eq == (!nan && x == y) && lt == (!nan && x < y) && le == (!nan && x <= y) &&
                  fe == (snan ? FFLAG_NV : 0u) && fl == (nan ? FFLAG_NV : 0u) &&
                  fle == (nan ? FFLAG_NV : 0u) && mn == wmn && mx == wmx &&
                  fmn == (snan ? FFLAG_NV : 0u) && fmx == fmn;
        if (!ok && failures++ < 30) {
            g_test_message("%s cmp a=%#" G_GINT64_MODIFIER "x b=%#" G_GINT64_MODIFIER
                           "x eq=%d lt=%d le=%d min=%#" G_GINT64_MODIFIER "x max=%#"
                           G_GINT64_MODIFIER "x flags %x %x %x %x %x",
                           f->name, a, b, eq, lt, le, mn, mx, fe, fl, fle, fmn, fmx);
            g_test_fail();
        }
    }
}

static void test_f32_compare(void) { cmp_model(&FMT32); }
static void test_f64_compare(void) { cmp_model(&FMT64); }

/* ---- hand-picked spec vectors ---------------------------------------------- */

#define P32 0x3f800000u /* 1.0f */
#define QN32 0x7fc00000u
#define SN32 0x7f800001u
#define INF32 0x7f800000u
#define QN64 0x7ff8000000000000ull
#define SN64 0x7ff0000000000001ull
#define INF64 0x7ff0000000000000ull
#define ONE64 0x3ff0000000000000ull

#define EXPECT(expr, want, wfl) do {                                          \
        uint32_t fl_ = 0;                                                     \
        uint64_t got_ = (uint64_t)(expr);                                     \
        if (got_ != (uint64_t)(want) || fl_ != (uint32_t)(wfl)) {             \
            g_test_message("%s: got %#" G_GINT64_MODIFIER "x fl=%#x, want %#" \
                           G_GINT64_MODIFIER "x fl=%#x", #expr, got_, fl_,   \
                           (uint64_t)(want), (uint32_t)(wfl));               \
            g_test_fail();                                                    \
        }                                                                     \
    } while (0)
/* `fl_` in the expression refers to the macro's local flags word. */
#define F (&fl_)

static void test_nan_rules(void)
{
    /* invalid operations give the canonical NaN */
    EXPECT(f32_div(0, 0, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_add(INF32, INF32 | 0x80000000u, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_sub(INF32, INF32, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_mul(INF32, 0x80000000u, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_sqrt(0xbf800000u, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f64_sqrt(0x8000000000000001ull, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f64_div(INF64, INF64, RM_RNE, F), QN64, FFLAG_NV);
    /* NaN operands: payload and sign are not propagated */
    EXPECT(f32_add(0xffc12345u, P32, RM_RNE, F), QN32, 0);
    EXPECT(f32_add(SN32, P32, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_mul(P32, 0xff800001u, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f64_add(0xfff8000000000001ull, ONE64, RM_RNE, F), QN64, 0);
    EXPECT(f64_div(ONE64, SN64, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f64_sqrt(SN64, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f64_sqrt(QN64 | 0x8000000000000000ull, RM_RNE, F), QN64, 0);
    /* fma: inf*0 is invalid even when c is a quiet NaN */
    EXPECT(f32_muladd(INF32, 0, QN32, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f32_muladd(0x80000000u, INF32, QN32, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f64_muladd(0, INF64, QN64, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f64_muladd(ONE64, ONE64, SN64, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f64_muladd(ONE64, QN64, ONE64, RM_RNE, F), QN64, 0);
    EXPECT(f64_muladd(INF64, ONE64, INF64 | 1ull << 63, RM_RNE, F), QN64, FFLAG_NV);
    EXPECT(f32_muladd(INF32, P32, INF32, RM_RNE, F), INF32, 0);
    EXPECT(f32_muladd(P32, P32, INF32 | 0x80000000u, RM_RNE, F), 0xff800000u, 0);
    /* conversions between formats */
    EXPECT(f32_to_f64(SN32, F), QN64, FFLAG_NV);
    EXPECT(f32_to_f64(0xffc00001u, F), QN64, 0);
    EXPECT(f64_to_f32(SN64, RM_RNE, F), QN32, FFLAG_NV);
    EXPECT(f64_to_f32(QN64 | 0xabc, RM_RNE, F), QN32, 0);
    /* divide by zero */
    EXPECT(f32_div(P32, 0x80000000u, RM_RNE, F), 0xff800000u, FFLAG_DZ);
    EXPECT(f64_div(0xbff0000000000000ull, 0, RM_RNE, F), 0xfff0000000000000ull, FFLAG_DZ);
    EXPECT(f64_div(INF64, 0, RM_RNE, F), INF64, 0);
}

static void test_zero_signs(void)
{
    EXPECT(f32_sub(P32, P32, RM_RNE, F), 0, 0);
    EXPECT(f32_sub(P32, P32, RM_RDN, F), 0x80000000u, 0);
    EXPECT(f32_add(0x80000000u, 0x80000000u, RM_RNE, F), 0x80000000u, 0);
    EXPECT(f32_add(0x80000000u, 0, RM_RNE, F), 0, 0);
    EXPECT(f32_add(0x80000000u, 0, RM_RDN, F), 0x80000000u, 0);
    EXPECT(f64_mul(0, 0xbff0000000000000ull, RM_RNE, F), 1ull << 63, 0);
    EXPECT(f64_sqrt(1ull << 63, RM_RNE, F), 1ull << 63, 0);
    EXPECT(f64_muladd(0, 0xbff0000000000000ull, 0, RM_RNE, F), 0, 0);
    EXPECT(f64_muladd(0, 0xbff0000000000000ull, 0, RM_RDN, F), 1ull << 63, 0);
    EXPECT(f64_muladd(0, 0xbff0000000000000ull, 1ull << 63, RM_RNE, F), 1ull << 63, 0);
    EXPECT(f64_muladd(ONE64, ONE64, 0xbff0000000000000ull, RM_RUP, F), 0, 0);
    EXPECT(f64_muladd(ONE64, ONE64, 0xbff0000000000000ull, RM_RDN, F), 1ull << 63, 0);
    /* a tiny product added to zero keeps the product's sign */
    EXPECT(f64_muladd(1, 0xbff0000000000000ull, 1ull << 63, RM_RNE, F),
           0x8000000000000001ull, 0);
    EXPECT(f64_muladd(1, 1, 1ull << 63, RM_RNE, F), 0, FFLAG_UF | FFLAG_NX);
    EXPECT(f64_muladd(1, 1, 1ull << 63, RM_RUP, F), 1, FFLAG_UF | FFLAG_NX);
}

static void test_overflow_underflow(void)
{
    const uint64_t MAX64 = 0x7fefffffffffffffull;
    EXPECT(f64_mul(MAX64, 0x4000000000000000ull, RM_RNE, F), INF64, FFLAG_OF | FFLAG_NX);
    EXPECT(f64_mul(MAX64, 0x4000000000000000ull, RM_RMM, F), INF64, FFLAG_OF | FFLAG_NX);
    EXPECT(f64_mul(MAX64, 0x4000000000000000ull, RM_RTZ, F), MAX64, FFLAG_OF | FFLAG_NX);
    EXPECT(f64_mul(MAX64, 0x4000000000000000ull, RM_RDN, F), MAX64, FFLAG_OF | FFLAG_NX);
    EXPECT(f64_mul(MAX64, 0xc000000000000000ull, RM_RDN, F), INF64 | 1ull << 63,
           FFLAG_OF | FFLAG_NX);
    EXPECT(f64_mul(MAX64, 0xc000000000000000ull, RM_RUP, F), MAX64 | 1ull << 63,
           FFLAG_OF | FFLAG_NX);
    EXPECT(f32_add(0x7f7fffffu, 0x73000000u, RM_RNE, F), INF32, FFLAG_OF | FFLAG_NX);
    EXPECT(f32_add(0x7f7fffffu, 0x72800000u, RM_RNE, F), 0x7f7fffffu, FFLAG_NX);
    EXPECT(f32_add(0x7f7fffffu, 0x73000000u, RM_RMM, F), INF32, FFLAG_OF | FFLAG_NX);
    /* (1 - 2^-53) * 2^-1022: exact in unbounded range, below 2^emin -> tiny;
     * a tie at subnormal precision, rounds up to 2^-1022 but raises UF. */
    EXPECT(f64_mul(0x3fefffffffffffffull, 0x0010000000000000ull, RM_RNE, F),
           0x0010000000000000ull, FFLAG_UF | FFLAG_NX);
    /* 2^-126 * (1 - 2^-26) to binary32: rounds to 2^-126 even with an
     * unbounded exponent, so it is not tiny: NX only (after rounding). */
    EXPECT(f64_to_f32(0x380ffffff8000000ull, RM_RNE, F), 0x00800000u, FFLAG_NX);
    EXPECT(f64_to_f32(0x380ffffff8000000ull, RM_RTZ, F), 0x007fffffu, FFLAG_UF | FFLAG_NX);
    EXPECT(f64_to_f32(0x380ffffff8000000ull, RM_RUP, F), 0x00800000u, FFLAG_NX);
    /* exact subnormal results raise nothing */
    EXPECT(f32_mul(0x00800000u, 0x3f000000u, RM_RNE, F), 0x00400000u, 0);
    EXPECT(f64_sub(0x0010000000000001ull, 0x0010000000000000ull, RM_RNE, F), 1, 0);
    /* carry-out of an addition must keep the sticky bit: 2 - 2^-52 plus
     * 2^-52 (1 + 2^-52) = 2 + 2^-104 */
    EXPECT(f64_add(0x3fffffffffffffffull, 0x3cb0000000000001ull, RM_RUP, F),
           0x4000000000000001ull, FFLAG_NX);
    EXPECT(f64_add(0x3fffffffffffffffull, 0x3cb0000000000001ull, RM_RNE, F),
           0x4000000000000000ull, FFLAG_NX);
    /* smallest subnormal halved: a tie to zero / away */
    EXPECT(f32_mul(1, 0x3f000000u, RM_RNE, F), 0, FFLAG_UF | FFLAG_NX);
    EXPECT(f32_mul(1, 0x3f000000u, RM_RMM, F), 1, FFLAG_UF | FFLAG_NX);
    EXPECT(f32_mul(0x80000001u, 0x3f000000u, RM_RDN, F), 0x80000001u, FFLAG_UF | FFLAG_NX);
    EXPECT(f32_mul(0x80000001u, 0x3f000000u, RM_RUP, F), 0x80000000u, FFLAG_UF | FFLAG_NX);
}

static void test_rmm(void)
{
    /* 1 + 2^-24 is a tie in binary32 */
    EXPECT(f32_add(P32, 0x33800000u, RM_RNE, F), P32, FFLAG_NX);
    EXPECT(f32_add(P32, 0x33800000u, RM_RMM, F), P32 + 1, FFLAG_NX);
    EXPECT(f32_sub(0xbf800000u, 0x33800000u, RM_RMM, F), 0xbf800001u, FFLAG_NX);
    /* 1 + 3*2^-24: tie, RNE goes to the even 1+2^-22, RMM too */
    EXPECT(f32_add(P32, 0x34400000u, RM_RNE, F), P32 + 2, FFLAG_NX);
    EXPECT(f32_add(P32, 0x34400000u, RM_RMM, F), P32 + 2, FFLAG_NX);
    EXPECT(f32_to_i32(0x40200000u, RM_RMM, F), 3, FFLAG_NX);        /* 2.5 */
    EXPECT(f32_to_i32(0x40200000u, RM_RNE, F), 2, FFLAG_NX);
    EXPECT(f32_to_i32(0xc0200000u, RM_RMM, F), (uint64_t)-3, FFLAG_NX);
    EXPECT(f64_to_i64(0x3fe0000000000000ull, RM_RMM, F), 1, FFLAG_NX);  /* 0.5 */
    EXPECT(f64_to_i64(0x3fe0000000000000ull, RM_RNE, F), 0, FFLAG_NX);
    EXPECT(f64_to_u64(0xbfe0000000000000ull, RM_RMM, F), 0, FFLAG_NV);  /* -0.5 -> -1 */
    EXPECT(u64_to_f32(0x0000000001000001ull, RM_RMM, F), 0x4b800001u, FFLAG_NX);
    EXPECT(u64_to_f32(0x0000000001000001ull, RM_RNE, F), 0x4b800000u, FFLAG_NX);
    EXPECT(i64_to_f64(-(int64_t)((1ull << 53) + 1), RM_RMM, F), 0xc340000000000001ull, FFLAG_NX);
    EXPECT(f64_to_f32(0x3ff0000010000000ull, RM_RMM, F), P32 + 1, FFLAG_NX);
    /* fused: 1*1 + 2^-24 rounds once */
    EXPECT(f32_muladd(P32, P32, 0x33800000u, RM_RMM, F), P32 + 1, FFLAG_NX);
    EXPECT(f32_muladd(P32, P32, 0x33800000u, RM_RNE, F), P32, FFLAG_NX);
}

static void test_fma_single_rounding(void)
{
    /* (1+2^-52)(1-2^-52) - 1 = -2^-104 exactly: a two-rounding fma gives 0 */
    EXPECT(f64_muladd(0x3ff0000000000001ull, 0x3feffffffffffffeull, 0xbff0000000000000ull,
                      RM_RNE, F), 0xb970000000000000ull, 0);
    /* (1+2^-23)^2 - 1 - 2^-22 = 2^-46 */
    EXPECT(f32_muladd(0x3f800001u, 0x3f800001u, 0xbf800002u, RM_RNE, F), 0x28800000u, 0);
    /* sticky below the addend: 1 + 2^-24 + tiny rounds up under RNE */
    EXPECT(f32_muladd(0x33800000u, 0x3f800001u, P32, RM_RNE, F), P32 + 1, FFLAG_NX);
}

static void test_min_max(void)
{
    EXPECT(f32_min(QN32, P32, F), P32, 0);
    EXPECT(f32_max(P32, QN32, F), P32, 0);
    EXPECT(f32_min(SN32, P32, F), P32, FFLAG_NV);
    EXPECT(f32_max(P32, SN32, F), P32, FFLAG_NV);
    EXPECT(f32_min(QN32 | 5, 0xffc00000u, F), QN32, 0);
    EXPECT(f32_max(SN32, QN32, F), QN32, FFLAG_NV);
    EXPECT(f32_min(0x80000000u, 0, F), 0x80000000u, 0);
    EXPECT(f32_min(0, 0x80000000u, F), 0x80000000u, 0);
    EXPECT(f32_max(0x80000000u, 0, F), 0, 0);
    EXPECT(f32_max(0, 0x80000000u, F), 0, 0);
    EXPECT(f64_min(0xbff0000000000000ull, ONE64, F), 0xbff0000000000000ull, 0);
    EXPECT(f64_max(0xbff0000000000000ull, 0xc000000000000000ull, F), 0xbff0000000000000ull, 0);
    EXPECT(f64_min(SN64, SN64, F), QN64, FFLAG_NV);
    EXPECT(f64_max(INF64 | 1ull << 63, QN64, F), INF64 | 1ull << 63, 0);
}

static void test_compare(void)
{
    EXPECT(f32_eq(QN32, P32, F), 0, 0);
    EXPECT(f32_eq(SN32, P32, F), 0, FFLAG_NV);
    EXPECT(f32_lt(QN32, P32, F), 0, FFLAG_NV);
    EXPECT(f32_le(P32, QN32, F), 0, FFLAG_NV);
    EXPECT(f32_eq(0x80000000u, 0, F), 1, 0);
    EXPECT(f32_lt(0x80000000u, 0, F), 0, 0);
    EXPECT(f32_le(0, 0x80000000u, F), 1, 0);
    EXPECT(f32_lt(0xbf800000u, 0x80000000u, F), 1, 0);
    EXPECT(f32_lt(0xc0000000u, 0xbf800000u, F), 1, 0);
    EXPECT(f32_le(0xbf800000u, 0xc0000000u, F), 0, 0);
    EXPECT(f64_eq(QN64, QN64, F), 0, 0);
    EXPECT(f64_le(INF64, INF64, F), 1, 0);
    EXPECT(f64_lt(INF64 | 1ull << 63, 0xffefffffffffffffull, F), 1, 0);
    EXPECT(f64_eq(SN64, SN64, F), 0, FFLAG_NV);
}

static void test_classify(void)
{
    g_assert_cmpuint(f32_classify(0xff800000u), ==, 1u << 0);
    g_assert_cmpuint(f32_classify(0xbf800000u), ==, 1u << 1);
    g_assert_cmpuint(f32_classify(0x807fffffu), ==, 1u << 2);
    g_assert_cmpuint(f32_classify(0x80000000u), ==, 1u << 3);
    g_assert_cmpuint(f32_classify(0x00000000u), ==, 1u << 4);
    g_assert_cmpuint(f32_classify(0x00000001u), ==, 1u << 5);
    g_assert_cmpuint(f32_classify(0x00800000u), ==, 1u << 6);
    g_assert_cmpuint(f32_classify(0x7f800000u), ==, 1u << 7);
    g_assert_cmpuint(f32_classify(0x7f800001u), ==, 1u << 8);
    g_assert_cmpuint(f32_classify(0xffbfffffu), ==, 1u << 8);
    g_assert_cmpuint(f32_classify(0x7fc00000u), ==, 1u << 9);
    g_assert_cmpuint(f32_classify(0xffc00001u), ==, 1u << 9);
    g_assert_cmpuint(f64_classify(0xfff0000000000000ull), ==, 1u << 0);
    g_assert_cmpuint(f64_classify(0xffefffffffffffffull), ==, 1u << 1);
    g_assert_cmpuint(f64_classify(0x8000000000000001ull), ==, 1u << 2);
    g_assert_cmpuint(f64_classify(0x8000000000000000ull), ==, 1u << 3);
    g_assert_cmpuint(f64_classify(0), ==, 1u << 4);
    g_assert_cmpuint(f64_classify(0x000fffffffffffffull), ==, 1u << 5);
    g_assert_cmpuint(f64_classify(ONE64), ==, 1u << 6);
    g_assert_cmpuint(f64_classify(INF64), ==, 1u << 7);
    g_assert_cmpuint(f64_classify(SN64), ==, 1u << 8);
    g_assert_cmpuint(f64_classify(QN64), ==, 1u << 9);
}

static void test_int_conversions(void)
{
    /* saturation table of the spec */
    EXPECT(f32_to_i32(QN32, RM_RNE, F), 0x7fffffff, FFLAG_NV);
    EXPECT(f32_to_i32(INF32, RM_RNE, F), 0x7fffffff, FFLAG_NV);
    EXPECT(f32_to_i32(0xff800000u, RM_RNE, F), 0xffffffff80000000ull, FFLAG_NV);
    EXPECT(f32_to_i32(0x4f000000u, RM_RNE, F), 0x7fffffff, FFLAG_NV);           /* 2^31 */
    EXPECT(f32_to_i32(0xcf000000u, RM_RNE, F), 0xffffffff80000000ull, 0);      /* -2^31 */
    EXPECT(f64_to_i32(0xc1e0000000100000ull, RM_RTZ, F), 0xffffffff80000000ull, FFLAG_NX);
    EXPECT(f64_to_i32(0xc1e0000000100000ull, RM_RDN, F), 0xffffffff80000000ull, FFLAG_NV);
    EXPECT(f32_to_u32(QN32, RM_RNE, F), 0xffffffffffffffffull, FFLAG_NV);
    EXPECT(f32_to_u32(INF32, RM_RNE, F), 0xffffffffffffffffull, FFLAG_NV);
    EXPECT(f32_to_u32(0xff800000u, RM_RNE, F), 0, FFLAG_NV);
    EXPECT(f32_to_u32(0xbf800000u, RM_RNE, F), 0, FFLAG_NV);                   /* -1 */
    EXPECT(f32_to_u32(0xbf000000u, RM_RTZ, F), 0, FFLAG_NX);                   /* -0.5 */
    EXPECT(f32_to_u32(0xbf000000u, RM_RNE, F), 0, FFLAG_NX);
    EXPECT(f32_to_u32(0xbf000000u, RM_RDN, F), 0, FFLAG_NV);
    EXPECT(f32_to_u32(0xbf400000u, RM_RNE, F), 0, FFLAG_NV);                   /* -0.75 */
    EXPECT(f32_to_u32(0x4f7fffffu, RM_RNE, F), 0xffffffffffffff00ull, 0);
    EXPECT(f64_to_u32(0x41efffffffe00000ull, RM_RNE, F), 0xffffffffffffffffull, 0);
    EXPECT(f64_to_u32(0x41efffffffe00000ull + 1, RM_RUP, F), 0xffffffffffffffffull, FFLAG_NV);
    EXPECT(f64_to_u32(0x41efffffffe00000ull + 1, RM_RTZ, F), 0xffffffffffffffffull, FFLAG_NX);
    EXPECT(f64_to_u32(0x3fe8000000000000ull, RM_RNE, F), 1, FFLAG_NX);
    EXPECT(f64_to_i64(0x43e0000000000000ull, RM_RNE, F), 0x7fffffffffffffffull, FFLAG_NV);
    EXPECT(f64_to_i64(0xc3e0000000000000ull, RM_RNE, F), 0x8000000000000000ull, 0);
    EXPECT(f64_to_i64(0xfff0000000000000ull, RM_RNE, F), 0x8000000000000000ull, FFLAG_NV);
    EXPECT(f64_to_i64(SN64, RM_RNE, F), 0x7fffffffffffffffull, FFLAG_NV);
    EXPECT(f64_to_u64(0x43efffffffffffffull, RM_RNE, F), 0xfffffffffffff800ull, 0);
    EXPECT(f64_to_u64(0x43f0000000000000ull, RM_RNE, F), ~0ull, FFLAG_NV);
    EXPECT(f64_to_u64(1ull << 63, RM_RNE, F), 0, 0);
    EXPECT(f64_to_u64(0x8000000000000001ull, RM_RUP, F), 0, FFLAG_NX);
    EXPECT(f64_to_u64(0x8000000000000001ull, RM_RDN, F), 0, FFLAG_NV);
    EXPECT(f32_to_u64(QN32, RM_RNE, F), ~0ull, FFLAG_NV);
    EXPECT(f32_to_i64(0x5effffffu, RM_RNE, F), 0x7fffff8000000000ull, 0);
    /* int -> float */
    EXPECT(i64_to_f32(INT64_MIN, RM_RNE, F), 0xdf000000u, 0);
    EXPECT(u64_to_f32(~0ull, RM_RNE, F), 0x5f800000u, FFLAG_NX);
    EXPECT(u64_to_f32(~0ull, RM_RTZ, F), 0x5f7fffffu, FFLAG_NX);
    EXPECT(u64_to_f64(~0ull, RM_RDN, F), 0x43efffffffffffffull, FFLAG_NX);
    EXPECT(i32_to_f64(INT32_MIN, RM_RNE, F), 0xc1e0000000000000ull, 0);
    EXPECT(u32_to_f64(0xffffffffu, RM_RNE, F), 0x41efffffffe00000ull, 0);
    EXPECT(i32_to_f32(0, RM_RDN, F), 0, 0);
    EXPECT(i32_to_f32(-16777217, RM_RNE, F), 0xcb800000u, FFLAG_NX);
    EXPECT(i32_to_f32(-16777217, RM_RDN, F), 0xcb800001u, FFLAG_NX);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *seed = g_getenv("REWIND_FPU_SEED");
    const char *scale = g_getenv("REWIND_FPU_SCALE");
    rng = g_rand_new_with_seed(seed ? (guint32)g_ascii_strtoull(seed, NULL, 0) : 0x5eed1234);
    if (scale)
        N_RANDOM = N_RANDOM_DEFAULT * (int)g_ascii_strtoull(scale, NULL, 0);

    g_test_add_func("/fpu/nan_rules", test_nan_rules);
    g_test_add_func("/fpu/zero_signs", test_zero_signs);
    g_test_add_func("/fpu/overflow_underflow", test_overflow_underflow);
    g_test_add_func("/fpu/rmm", test_rmm);
    g_test_add_func("/fpu/fma_single_rounding", test_fma_single_rounding);
    g_test_add_func("/fpu/min_max", test_min_max);
    g_test_add_func("/fpu/compare", test_compare);
    g_test_add_func("/fpu/classify", test_classify);
    g_test_add_func("/fpu/int_conversions", test_int_conversions);
    g_test_add_func("/fpu/f32/arith_vs_host", test_f32_arith_host);
    g_test_add_func("/fpu/f64/arith_vs_host", test_f64_arith_host);
    g_test_add_func("/fpu/f32/to_int", test_f32_to_int);
    g_test_add_func("/fpu/f64/to_int", test_f64_to_int);
    g_test_add_func("/fpu/f32/from_int", test_f32_from_int);
    g_test_add_func("/fpu/f64/from_int", test_f64_from_int);
    g_test_add_func("/fpu/f64_f32_conversion", test_f64_to_f32);
    g_test_add_func("/fpu/f32/compare_model", test_f32_compare);
    g_test_add_func("/fpu/f64/compare_model", test_f64_compare);

    int rc = g_test_run();
    g_rand_free(rng);
    return rc;
}
