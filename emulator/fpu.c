/* IEEE 754-2008 binary32/binary64 arithmetic with RISC-V F/D semantics,
 * implemented in portable integer C (no host FPU, no fenv).
 *
 * Internal representation: a finite nonzero value is (sign, exp, sig) with
 * sig a 64-bit integer whose leading one is at bit 62, so the value is
 *     sig * 2^(exp - 62),   i.e. exp is the unbiased exponent of 1.xxx.
 * Bits below the target precision are round/sticky bits; a "jam" (OR-ing any
 * discarded nonzero bits into bit 0) keeps the information rounding needs.
 * Bit 63 is kept clear as headroom for a carry.
 *
 * The generic helpers take the format as (mb, eb) = (fraction bits, exponent
 * bits): binary32 = (23, 8), binary64 = (52, 11). They are always inlined, so
 * each public wrapper gets a specialised copy with constants folded in.
 *
 * RISC-V rules followed throughout: tininess is detected after rounding, UF
 * only when the result is also inexact; every NaN result is the canonical
 * NaN; sNaN operands raise NV; fma raises NV for inf*0 even when the addend
 * is a quiet NaN. */
#include "fpu.h"

#include <stdbool.h>

typedef unsigned __int128 u128;

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define F32 23, 8
#define F64 52, 11

/* ---- format helpers --------------------------------------------------- */

ALWAYS_INLINE int bias_of(int eb) { return (1 << (eb - 1)) - 1; }
ALWAYS_INLINE uint64_t absmask_of(int mb, int eb) { return (1ull << (mb + eb)) - 1; }
ALWAYS_INLINE uint64_t inf_of(int mb, int eb) { return ((1ull << eb) - 1) << mb; }
ALWAYS_INLINE uint64_t sign_bit_of(int mb, int eb) { return 1ull << (mb + eb); }
ALWAYS_INLINE int sign_of(uint64_t x, int mb, int eb) { return (int)(x >> (mb + eb)) & 1; }
ALWAYS_INLINE uint64_t canon_nan_of(int mb, int eb) { return inf_of(mb, eb) | (1ull << (mb - 1)); }

ALWAYS_INLINE bool is_nan(uint64_t x, int mb, int eb)
{
    return (x & absmask_of(mb, eb)) > inf_of(mb, eb);
}

ALWAYS_INLINE bool is_snan(uint64_t x, int mb, int eb)
{
    return is_nan(x, mb, eb) && !(x & (1ull << (mb - 1)));
}

ALWAYS_INLINE bool is_inf(uint64_t x, int mb, int eb)
{
    return (x & absmask_of(mb, eb)) == inf_of(mb, eb);
}

ALWAYS_INLINE bool is_zero(uint64_t x, int mb, int eb)
{
    return (x & absmask_of(mb, eb)) == 0;
}

/* Exponent field all ones: inf or NaN. */
ALWAYS_INLINE bool is_special(uint64_t x, int mb, int eb)
{
    return (x & absmask_of(mb, eb)) >= inf_of(mb, eb);
}

ALWAYS_INLINE int clz64(uint64_t x) { return __builtin_clzll(x); } /* x != 0 */

ALWAYS_INLINE int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)x);
}

ALWAYS_INLINE uint64_t shr_jam64(uint64_t x, int n)
{
    if (n <= 0)
        return x;
    if (n >= 64)
        return x != 0;
    return (x >> n) | ((x & ((1ull << n) - 1)) != 0);
}

ALWAYS_INLINE u128 shr_jam128(u128 x, int n)
{
    if (n <= 0)
        return x;
    if (n >= 128)
        return x != 0;
    return (x >> n) | ((x & (((u128)1 << n) - 1)) != 0);
}

/* Collapse a nonzero 128-bit significand to the 64-bit form (leading one at
 * bit 62), jamming what is dropped. Returns the position of the leading one
 * in x so the caller can adjust the exponent. */
ALWAYS_INLINE uint64_t norm128(u128 x, int *lead)
{
    int l = 127 - clz128(x);
    *lead = l;
    if (l >= 62)
        return (uint64_t)shr_jam128(x, l - 62);
    return (uint64_t)x << (62 - l);
}

/* Unpack a finite nonzero value into (exp, sig) with sig's top bit at 62. */
ALWAYS_INLINE void unpack(uint64_t x, int *exp, uint64_t *sig, int mb, int eb)
{
    uint64_t frac = x & ((1ull << mb) - 1);
    int e = (int)((x >> mb) & ((1u << eb) - 1));
    if (__builtin_expect(e != 0, 1)) {
        *sig = (frac | (1ull << mb)) << (62 - mb);
        *exp = e - bias_of(eb);
    } else {
        int p = 63 - clz64(frac); /* subnormal: leading one at bit p */
        *sig = frac << (62 - p);
        *exp = p + 1 - bias_of(eb) - mb;
    }
}

/* ---- rounding --------------------------------------------------------- */

/* Should the magnitude be incremented? rb = the discarded bits (nonzero),
 * half = the weight of the first discarded bit, lsb = the kept lsb. */
ALWAYS_INLINE bool round_up(int rm, int sign, uint64_t lsb, uint64_t rb, uint64_t half)
{
    switch (rm) {
    case RM_RTZ: return false;
    case RM_RDN: return sign;
    case RM_RUP: return !sign;
    case RM_RMM: return rb >= half;
    default:     return rb > half || (rb == half && lsb); /* RNE */
    }
}

/* Shift sig right by n (1..) and round to an integer by rm; *inexact set. */
ALWAYS_INLINE uint64_t round_shift(uint64_t sig, int n, int rm, int sign, bool *inexact)
{
    if (n > 63) {          /* only sticky survives; still below half */
        sig = sig != 0;
        n = 63;
    }
    uint64_t rb = sig & ((1ull << n) - 1);
    uint64_t m = sig >> n;
    *inexact = rb != 0;
    if (rb && round_up(rm, sign, m & 1, rb, 1ull << (n - 1)))
        m++;
    return m;
}

ALWAYS_INLINE uint64_t overflow_result(int sign, int rm, uint32_t *flags, int mb, int eb)
{
    *flags |= FFLAG_OF | FFLAG_NX;
    bool to_inf = rm == RM_RNE || rm == RM_RMM || (rm == RM_RDN && sign) ||
                  (rm == RM_RUP && !sign) || rm > RM_RMM;
    uint64_t mag = inf_of(mb, eb) - (to_inf ? 0 : 1);
    return ((uint64_t)sign << (mb + eb)) | mag;
}

/* Round (sign, exp, sig) -- sig nonzero with its leading one at bit 62 --
 * to the format and pack it, raising NX/UF/OF. */
ALWAYS_INLINE uint64_t round_pack(int sign, int exp, uint64_t sig, int rm,
                                  uint32_t *flags, int mb, int eb)
{
    const int shift = 62 - mb;               /* extra bits below the lsb */
    const int emax_field = (1 << eb) - 1;    /* all-ones exponent field */
    const uint64_t sgn = (uint64_t)sign << (mb + eb);
    int e = exp + bias_of(eb);               /* biased exponent */
    bool inexact;

    if (__builtin_expect(e >= 1, 1)) {
        if (e >= emax_field)
            return overflow_result(sign, rm, flags, mb, eb);
        uint64_t m = round_shift(sig, shift, rm, sign, &inexact);
        if (inexact)
            *flags |= FFLAG_NX;
        /* m includes the hidden bit, which adds one to the exponent field;
         * a rounding carry to 2^(mb+1) propagates into the exponent. */
        uint64_t bits = ((uint64_t)(e - 1) << mb) + m;
        if (bits >= inf_of(mb, eb))
            return overflow_result(sign, rm, flags, mb, eb);
        return sgn | bits;
    }

    /* Subnormal range. Tininess after rounding: the value is tiny unless
     * rounding it with an unbounded exponent range gives 2^emin, which can
     * only happen from just below (e == 0). */
    bool tiny = true;
    if (e == 0) {
        uint64_t m = round_shift(sig, shift, rm, sign, &inexact);
        if (m >> (mb + 1))
            tiny = false;
    }
    int n = shift + 1 - e;
    uint64_t m = round_shift(sig, n, rm, sign, &inexact);
    if (inexact)
        *flags |= tiny ? (FFLAG_NX | FFLAG_UF) : FFLAG_NX;
    return sgn | m; /* a carry into bit mb yields the smallest normal */
}

/* ---- NaN propagation helper -------------------------------------------- */

ALWAYS_INLINE uint64_t nan2(uint64_t a, uint64_t b, uint32_t *flags, int mb, int eb)
{
    if (is_snan(a, mb, eb) || is_snan(b, mb, eb))
        *flags |= FFLAG_NV;
    return canon_nan_of(mb, eb);
}

ALWAYS_INLINE uint64_t invalid(uint32_t *flags, int mb, int eb)
{
    *flags |= FFLAG_NV;
    return canon_nan_of(mb, eb);
}

/* Exact zero result of x + (-x): +0, or -0 when rounding down. */
ALWAYS_INLINE uint64_t cancel_zero(int rm, int mb, int eb)
{
    return rm == RM_RDN ? sign_bit_of(mb, eb) : 0;
}

/* ---- add / sub -------------------------------------------------------- */

ALWAYS_INLINE uint64_t g_add(uint64_t a, uint64_t b, int rm, uint32_t *flags, int mb, int eb)
{
    const uint64_t am = absmask_of(mb, eb);
    uint64_t aa = a & am, ab = b & am;

    if (__builtin_expect(is_special(a, mb, eb) || is_special(b, mb, eb), 0)) {
        if (is_nan(a, mb, eb) || is_nan(b, mb, eb))
            return nan2(a, b, flags, mb, eb);
        if (aa == ab && a != b)          /* inf + -inf */
            return invalid(flags, mb, eb);
        return aa == inf_of(mb, eb) ? a : b;
    }
    if (ab == 0)
        return aa == 0 && a != b ? cancel_zero(rm, mb, eb) : a;
    if (aa == 0)
        return b;

    if (aa < ab) {                       /* make |a| >= |b| */
        uint64_t t = a; a = b; b = t;
    }
    int sa = sign_of(a, mb, eb), sb = sign_of(b, mb, eb);
    int ea, eb_;
    uint64_t ma, mb_;
    unpack(a, &ea, &ma, mb, eb);
    unpack(b, &eb_, &mb_, mb, eb);
    mb_ = shr_jam64(mb_, ea - eb_);

    uint64_t sig;
    if (sa == sb) {
        sig = ma + mb_;
        if (sig >> 63) {
            sig = (sig >> 1) | (sig & 1);
            ea++;
        }
    } else {
        sig = ma - mb_;
        if (sig == 0)
            return cancel_zero(rm, mb, eb);
        int lz = clz64(sig) - 1;
        sig <<= lz;
        ea -= lz;
    }
    return round_pack(sa, ea, sig, rm, flags, mb, eb);
}

/* ---- mul -------------------------------------------------------------- */

ALWAYS_INLINE uint64_t g_mul(uint64_t a, uint64_t b, int rm, uint32_t *flags, int mb, int eb)
{
    int sign = sign_of(a ^ b, mb, eb);
    uint64_t sgn = (uint64_t)sign << (mb + eb);

    if (__builtin_expect(is_special(a, mb, eb) || is_special(b, mb, eb), 0)) {
        if (is_nan(a, mb, eb) || is_nan(b, mb, eb))
            return nan2(a, b, flags, mb, eb);
        if (is_zero(a, mb, eb) || is_zero(b, mb, eb))   /* inf * 0 */
            return invalid(flags, mb, eb);
        return sgn | inf_of(mb, eb);
    }
    if (is_zero(a, mb, eb) || is_zero(b, mb, eb))
        return sgn;

    int ea, eb_;
    uint64_t ma, mb_;
    unpack(a, &ea, &ma, mb, eb);
    unpack(b, &eb_, &mb_, mb, eb);
    /* ma*mb_ is in [2^124, 2^126); keep the top 63-64 bits. */
    u128 p = (u128)ma * mb_;
    uint64_t sig = (uint64_t)(p >> 63) | (((uint64_t)p & ((1ull << 63) - 1)) != 0);
    int exp = ea + eb_ + 1;
    if (!(sig >> 62)) {
        sig <<= 1;
        exp--;
    }
    return round_pack(sign, exp, sig, rm, flags, mb, eb);
}

/* ---- div -------------------------------------------------------------- */

ALWAYS_INLINE uint64_t g_div(uint64_t a, uint64_t b, int rm, uint32_t *flags, int mb, int eb)
{
    int sign = sign_of(a ^ b, mb, eb);
    uint64_t sgn = (uint64_t)sign << (mb + eb);

    if (__builtin_expect(is_special(a, mb, eb) || is_special(b, mb, eb), 0)) {
        if (is_nan(a, mb, eb) || is_nan(b, mb, eb))
            return nan2(a, b, flags, mb, eb);
        if (is_inf(a, mb, eb))
            return is_inf(b, mb, eb) ? invalid(flags, mb, eb) : (sgn | inf_of(mb, eb));
        return sgn;                                   /* x / inf */
    }
    if (is_zero(b, mb, eb)) {
        if (is_zero(a, mb, eb))
            return invalid(flags, mb, eb);            /* 0 / 0 */
        *flags |= FFLAG_DZ;
        return sgn | inf_of(mb, eb);
    }
    if (is_zero(a, mb, eb))
        return sgn;

    int ea, eb_;
    uint64_t ma, mb_;
    unpack(a, &ea, &ma, mb, eb);
    unpack(b, &eb_, &mb_, mb, eb);
    int exp = ea - eb_;
    uint64_t q, r;
    if (mb == 23) {
        /* Single precision: 24-bit significands fit a 64-bit division with a
         * 40-bit quotient, plenty for round and sticky. */
        uint64_t na = ma >> 39 << (ma >= mb_ ? 39 : 40), db = mb_ >> 39;
        if (ma < mb_)
            exp--;
        q = na / db;                 /* in [2^39, 2^40) */
        r = na - q * db;
        q <<= 24;                    /* as if in [2^63, 2^64) */
    } else {
        /* Scale so that the quotient lands in [2^63, 2^64). */
        u128 n = (u128)ma << (ma >= mb_ ? 63 : 64);
        if (ma < mb_)
            exp--;
        q = (uint64_t)(n / mb_);
        r = (uint64_t)(n - (u128)q * mb_);
    }
    uint64_t sig = (q >> 1) | (q & 1) | (r != 0);
    return round_pack(sign, exp, sig, rm, flags, mb, eb);
}

/* ---- sqrt ------------------------------------------------------------- */

/* Square root with remainder, Zimmermann's "Karatsuba square root": split
 * the radicand into four limbs, take the root of the top half recursively,
 * then get the low half of the root with one division and fix it up with at
 * most one correction. Inputs must be normalised (top two bits not both 0). */

/* 32-bit radicand >= 2^30, digit by digit (16 steps). */
static uint32_t sqrtrem32(uint32_t x, uint32_t *rem)
{
    uint32_t root = 0, r = 0;
    for (int i = 0; i < 16; i++) {
        r = (r << 2) | (x >> 30);
        x <<= 2;
        root <<= 1;
        uint32_t trial = (root << 1) | 1;
        if (r >= trial) {
            r -= trial;
            root |= 1;
        }
    }
    *rem = r;                       /* <= 2*root, fits 32 bits */
    return root;
}

/* 64-bit radicand >= 2^62: limbs of 16 bits. */
static uint64_t sqrtrem64(uint64_t x, uint64_t *rem)
{
    uint32_t r1;
    uint64_t s1 = sqrtrem32((uint32_t)(x >> 32), &r1);         /* < 2^16 */
    uint64_t num = ((uint64_t)r1 << 16) | ((x >> 16) & 0xffff);
    uint64_t q = num / (2 * s1), u = num % (2 * s1);
    uint64_t s = (s1 << 16) + q;
    int64_t r = (int64_t)((u << 16) | (x & 0xffff)) - (int64_t)(q * q);
    if (r < 0) {
        r += (int64_t)(2 * s - 1);
        s--;
    }
    *rem = (uint64_t)r;             /* <= 2*s < 2^33 */
    return s;
}

/* 128-bit radicand >= 2^126: limbs of 32 bits. Returns the 64-bit root and
 * whether the remainder is zero. */
static uint64_t sqrt128(u128 x, bool *exact)
{
    uint64_t r1;
    uint64_t s1 = sqrtrem64((uint64_t)(x >> 64), &r1);         /* < 2^32 */
    u128 num = ((u128)r1 << 32) | (((uint64_t)x >> 32) & 0xffffffff);
    uint64_t q = (uint64_t)(num / (2 * s1));
    uint64_t u = (uint64_t)(num - (u128)q * (2 * s1));
    uint64_t s = (s1 << 32) + q;
    __int128 r = (__int128)(((u128)u << 32) | ((uint64_t)x & 0xffffffff)) -
                 (__int128)((u128)q * q);
    if (r < 0) {
        r += (__int128)(2 * (u128)s - 1);
        s--;
    }
    *exact = r == 0;
    return s;
}

ALWAYS_INLINE uint64_t g_sqrt(uint64_t a, int rm, uint32_t *flags, int mb, int eb)
{
    if (__builtin_expect(is_special(a, mb, eb), 0)) {
        if (is_nan(a, mb, eb))
            return nan2(a, a, flags, mb, eb);
        return sign_of(a, mb, eb) ? invalid(flags, mb, eb) : a;   /* +-inf */
    }
    if (is_zero(a, mb, eb))
        return a;                                               /* +-0 */
    if (sign_of(a, mb, eb))
        return invalid(flags, mb, eb);

    int ea;
    uint64_t ma;
    unpack(a, &ea, &ma, mb, eb);
    /* Make the exponent even: value = (ma << odd) * 2^(2 * exp - 62), so
     * sqrt = sqrt(ma << odd) * 2^(exp - 31), and ma << odd is in [2^62, 2^64)
     * as the root helpers want. */
    int odd = ea & 1;
    int exp = (ea - odd) / 2;
    uint64_t sig;
    if (mb == 23) {
        /* sqrt(ma << odd) has 32 bits: plenty for 24 plus round/sticky. */
        uint64_t rem;
        uint64_t root = sqrtrem64(ma << odd, &rem);  /* in [2^31, 2^32) */
        sig = (root << 31) | (rem != 0);
    } else {
        /* sqrt((ma << (62 + odd)) << 2) = 2 * the root we want */
        bool exact;
        uint64_t root = sqrt128((u128)ma << (64 + odd), &exact);
        sig = (root >> 1) | (root & 1) | !exact;
    }
    return round_pack(0, exp, sig, rm, flags, mb, eb);
}

/* ---- fused multiply-add ----------------------------------------------- */

ALWAYS_INLINE uint64_t g_muladd(uint64_t a, uint64_t b, uint64_t c, int rm,
                                uint32_t *flags, int mb, int eb)
{
    int ps = sign_of(a ^ b, mb, eb);
    int cs = sign_of(c, mb, eb);
    bool inf_times_zero = (is_inf(a, mb, eb) && is_zero(b, mb, eb)) ||
                          (is_zero(a, mb, eb) && is_inf(b, mb, eb));

    if (__builtin_expect(is_special(a, mb, eb) || is_special(b, mb, eb) ||
                         is_special(c, mb, eb), 0)) {
        if (is_nan(a, mb, eb) || is_nan(b, mb, eb) || is_nan(c, mb, eb)) {
            if (inf_times_zero || is_snan(c, mb, eb))
                *flags |= FFLAG_NV;
            return nan2(a, b, flags, mb, eb);
        }
        if (inf_times_zero)
            return invalid(flags, mb, eb);
        if (is_inf(a, mb, eb) || is_inf(b, mb, eb)) {
            if (is_inf(c, mb, eb) && cs != ps)
                return invalid(flags, mb, eb);          /* inf - inf */
            return ((uint64_t)ps << (mb + eb)) | inf_of(mb, eb);
        }
        return c;                                       /* finite + inf */
    }
    if (is_zero(a, mb, eb) || is_zero(b, mb, eb)) {
        if (is_zero(c, mb, eb) && cs != ps)
            return cancel_zero(rm, mb, eb);
        return c;
    }

    int ea, eb_;
    uint64_t ma, mb_;
    unpack(a, &ea, &ma, mb, eb);
    unpack(b, &eb_, &mb_, mb, eb);
    /* product = P * 2^(pe - 124), P in [2^124, 2^126) */
    u128 p = (u128)ma * mb_;
    int pe = ea + eb_;
    int lead;
    uint64_t sig;

    if (is_zero(c, mb, eb)) {
        sig = norm128(p, &lead);
        return round_pack(ps, pe - 124 + lead, sig, rm, flags, mb, eb);
    }

    int ec;
    uint64_t mc;
    unpack(c, &ec, &mc, mb, eb);
    /* addend = C * 2^(ec - 124), C in [2^124, 2^125). Both have many zero
     * low bits, so jamming during alignment never meets cancellation. */
    u128 cc = (u128)mc << 62;
    int e;
    if (pe >= ec) {
        e = pe;
        cc = shr_jam128(cc, pe - ec);
    } else {
        e = ec;
        p = shr_jam128(p, ec - pe);
    }
    u128 r;
    int rs;
    if (ps == cs) {
        r = p + cc;                    /* < 2^127: no overflow */
        rs = ps;
    } else if (p >= cc) {
        r = p - cc;
        rs = ps;
    } else {
        r = cc - p;
        rs = cs;
    }
    if (r == 0)
        return cancel_zero(rm, mb, eb);
    sig = norm128(r, &lead);
    return round_pack(rs, e - 124 + lead, sig, rm, flags, mb, eb);
}

/* ---- min / max / compare / classify ----------------------------------- */

/* a < b for non-NaN operands, with -0 < +0. */
ALWAYS_INLINE bool total_lt(uint64_t a, uint64_t b, int mb, int eb)
{
    int sa = sign_of(a, mb, eb), sb = sign_of(b, mb, eb);
    if (sa != sb)
        return sa;
    return sa ? a > b : a < b;
}

ALWAYS_INLINE uint64_t g_minmax(uint64_t a, uint64_t b, bool want_max,
                                uint32_t *flags, int mb, int eb)
{
    bool an = is_nan(a, mb, eb), bn = is_nan(b, mb, eb);
    if (an || bn) {
        if (is_snan(a, mb, eb) || is_snan(b, mb, eb))
            *flags |= FFLAG_NV;
        if (an && bn)
            return canon_nan_of(mb, eb);
        return an ? b : a;
    }
    bool lt = total_lt(a, b, mb, eb);
    return (lt != want_max) ? a : b;
}

ALWAYS_INLINE int g_eq(uint64_t a, uint64_t b, uint32_t *flags, int mb, int eb)
{
    if (is_nan(a, mb, eb) || is_nan(b, mb, eb)) {
        if (is_snan(a, mb, eb) || is_snan(b, mb, eb))
            *flags |= FFLAG_NV;
        return 0;
    }
    return a == b || is_zero(a | b, mb, eb);
}

ALWAYS_INLINE int g_lt(uint64_t a, uint64_t b, uint32_t *flags, int mb, int eb)
{
    if (is_nan(a, mb, eb) || is_nan(b, mb, eb)) {
        *flags |= FFLAG_NV;
        return 0;
    }
    if (is_zero(a | b, mb, eb))
        return 0;
    return total_lt(a, b, mb, eb);
}

ALWAYS_INLINE int g_le(uint64_t a, uint64_t b, uint32_t *flags, int mb, int eb)
{
    if (is_nan(a, mb, eb) || is_nan(b, mb, eb)) {
        *flags |= FFLAG_NV;
        return 0;
    }
    if (a == b || is_zero(a | b, mb, eb))
        return 1;
    return total_lt(a, b, mb, eb);
}

ALWAYS_INLINE uint32_t g_classify(uint64_t a, int mb, int eb)
{
    int s = sign_of(a, mb, eb);
    uint64_t mag = a & absmask_of(mb, eb);
    if (mag == inf_of(mb, eb))
        return s ? 1u << 0 : 1u << 7;
    if (mag > inf_of(mb, eb))
        return (a & (1ull << (mb - 1))) ? 1u << 9 : 1u << 8;
    if (mag == 0)
        return s ? 1u << 3 : 1u << 4;
    if (mag < (1ull << mb))
        return s ? 1u << 2 : 1u << 5;
    return s ? 1u << 1 : 1u << 6;
}

/* ---- float -> integer --------------------------------------------------- */

/* Convert to an integer of `bits` (32/64) width, signed or not, saturating
 * as RISC-V specifies. Returns the result's bit pattern (low `bits` bits). */
ALWAYS_INLINE uint64_t g_to_int(uint64_t a, int rm, uint32_t *flags, bool is_signed,
                                int bits, int mb, int eb)
{
    const uint64_t umax = bits == 64 ? ~0ull : (1ull << bits) - 1;
    const uint64_t smax = umax >> 1;                /* 2^(bits-1) - 1 */
    const uint64_t max = is_signed ? smax : umax;
    const uint64_t min = is_signed ? smax + 1 : 0;  /* -2^(bits-1) as bits */
    int sign = sign_of(a, mb, eb);

    if (is_nan(a, mb, eb)) {
        *flags |= FFLAG_NV;
        return max;
    }
    if (is_zero(a, mb, eb))
        return 0;
    if (is_inf(a, mb, eb)) {
        *flags |= FFLAG_NV;
        return sign ? min : max;
    }

    int exp;
    uint64_t sig;
    unpack(a, &exp, &sig, mb, eb);
    if (exp >= 64) {                                 /* |a| >= 2^64 */
        *flags |= FFLAG_NV;
        return sign ? min : max;
    }
    uint64_t v;
    bool inexact = false;
    if (exp >= 62)
        v = sig << (exp - 62);
    else
        v = round_shift(sig, 62 - exp, rm, sign, &inexact);

    if (sign) {
        if (v > (is_signed ? smax + 1 : 0)) {
            *flags |= FFLAG_NV;
            return min;
        }
        v = (0 - v) & umax;
    } else if (v > max) {
        *flags |= FFLAG_NV;
        return max;
    }
    if (inexact)
        *flags |= FFLAG_NX;
    return v;
}

/* ---- integer -> float --------------------------------------------------- */

ALWAYS_INLINE uint64_t g_from_int(int sign, uint64_t mag, int rm, uint32_t *flags,
                                  int mb, int eb)
{
    if (mag == 0)
        return 0;
    int lz = clz64(mag);
    uint64_t sig;
    int exp;
    if (lz == 0) {
        sig = (mag >> 1) | (mag & 1);
        exp = 63;
    } else {
        sig = mag << (lz - 1);
        exp = 63 - lz;
    }
    return round_pack(sign, exp, sig, rm, flags, mb, eb);
}

/* ---- public binary32 -------------------------------------------------- */

uint32_t f32_add(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    return (uint32_t)g_add(a, b, rm, flags, F32);
}

uint32_t f32_sub(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    return (uint32_t)g_add(a, b ^ 0x80000000u, rm, flags, F32);
}

uint32_t f32_mul(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    return (uint32_t)g_mul(a, b, rm, flags, F32);
}

uint32_t f32_div(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    return (uint32_t)g_div(a, b, rm, flags, F32);
}

uint32_t f32_sqrt(uint32_t a, int rm, uint32_t *flags)
{
    return (uint32_t)g_sqrt(a, rm, flags, F32);
}

uint32_t f32_muladd(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags)
{
    return (uint32_t)g_muladd(a, b, c, rm, flags, F32);
}

uint32_t f32_min(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)g_minmax(a, b, false, flags, F32);
}

uint32_t f32_max(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)g_minmax(a, b, true, flags, F32);
}

int f32_eq(uint32_t a, uint32_t b, uint32_t *flags) { return g_eq(a, b, flags, F32); }
int f32_lt(uint32_t a, uint32_t b, uint32_t *flags) { return g_lt(a, b, flags, F32); }
int f32_le(uint32_t a, uint32_t b, uint32_t *flags) { return g_le(a, b, flags, F32); }
uint32_t f32_classify(uint32_t a) { return g_classify(a, F32); }

int64_t f32_to_i32(uint32_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)g_to_int(a, rm, flags, true, 32, F32);
}

int64_t f32_to_u32(uint32_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)g_to_int(a, rm, flags, false, 32, F32);
}

int64_t f32_to_i64(uint32_t a, int rm, uint32_t *flags)
{
    return (int64_t)g_to_int(a, rm, flags, true, 64, F32);
}

uint64_t f32_to_u64(uint32_t a, int rm, uint32_t *flags)
{
    return g_to_int(a, rm, flags, false, 64, F32);
}

uint32_t i32_to_f32(int32_t v, int rm, uint32_t *flags)
{
    return (uint32_t)g_from_int(v < 0, v < 0 ? 0 - (uint64_t)(int64_t)v : (uint64_t)v,
                                rm, flags, F32);
}

uint32_t u32_to_f32(uint32_t v, int rm, uint32_t *flags)
{
    return (uint32_t)g_from_int(0, v, rm, flags, F32);
}

uint32_t i64_to_f32(int64_t v, int rm, uint32_t *flags)
{
    return (uint32_t)g_from_int(v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v,
                                rm, flags, F32);
}

uint32_t u64_to_f32(uint64_t v, int rm, uint32_t *flags)
{
    return (uint32_t)g_from_int(0, v, rm, flags, F32);
}

/* ---- public binary64 -------------------------------------------------- */

uint64_t f64_add(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    return g_add(a, b, rm, flags, F64);
}

uint64_t f64_sub(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    return g_add(a, b ^ (1ull << 63), rm, flags, F64);
}

uint64_t f64_mul(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    return g_mul(a, b, rm, flags, F64);
}

uint64_t f64_div(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    return g_div(a, b, rm, flags, F64);
}

uint64_t f64_sqrt(uint64_t a, int rm, uint32_t *flags)
{
    return g_sqrt(a, rm, flags, F64);
}

uint64_t f64_muladd(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags)
{
    return g_muladd(a, b, c, rm, flags, F64);
}

uint64_t f64_min(uint64_t a, uint64_t b, uint32_t *flags)
{
    return g_minmax(a, b, false, flags, F64);
}

uint64_t f64_max(uint64_t a, uint64_t b, uint32_t *flags)
{
    return g_minmax(a, b, true, flags, F64);
}

int f64_eq(uint64_t a, uint64_t b, uint32_t *flags) { return g_eq(a, b, flags, F64); }
int f64_lt(uint64_t a, uint64_t b, uint32_t *flags) { return g_lt(a, b, flags, F64); }
int f64_le(uint64_t a, uint64_t b, uint32_t *flags) { return g_le(a, b, flags, F64); }
uint32_t f64_classify(uint64_t a) { return g_classify(a, F64); }

int64_t f64_to_i32(uint64_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)g_to_int(a, rm, flags, true, 32, F64);
}

int64_t f64_to_u32(uint64_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)g_to_int(a, rm, flags, false, 32, F64);
}

int64_t f64_to_i64(uint64_t a, int rm, uint32_t *flags)
{
    return (int64_t)g_to_int(a, rm, flags, true, 64, F64);
}

uint64_t f64_to_u64(uint64_t a, int rm, uint32_t *flags)
{
    return g_to_int(a, rm, flags, false, 64, F64);
}

uint64_t i32_to_f64(int32_t v, int rm, uint32_t *flags)
{
    return g_from_int(v < 0, v < 0 ? 0 - (uint64_t)(int64_t)v : (uint64_t)v,
                      rm, flags, F64);
}

uint64_t u32_to_f64(uint32_t v, int rm, uint32_t *flags)
{
    return g_from_int(0, v, rm, flags, F64);
}

uint64_t i64_to_f64(int64_t v, int rm, uint32_t *flags)
{
    return g_from_int(v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, rm, flags, F64);
}

uint64_t u64_to_f64(uint64_t v, int rm, uint32_t *flags)
{
    return g_from_int(0, v, rm, flags, F64);
}

/* ---- format conversion ------------------------------------------------- */

uint64_t f32_to_f64(uint32_t a, uint32_t *flags)
{
    uint64_t sgn = (uint64_t)(a >> 31) << 63;
    if (is_special(a, F32)) {
        if (is_nan(a, F32)) {
            if (is_snan(a, F32))
                *flags |= FFLAG_NV;
            return F64_CANONICAL_NAN;
        }
        return sgn | inf_of(F64);
    }
    if (is_zero(a, F32))
        return sgn;
    int exp;
    uint64_t sig;
    unpack(a, &exp, &sig, F32);
    return round_pack(a >> 31, exp, sig, RM_RNE, flags, F64);  /* exact */
}

uint32_t f64_to_f32(uint64_t a, int rm, uint32_t *flags)
{
    uint32_t sgn = (uint32_t)(a >> 63) << 31;
    if (is_special(a, F64)) {
        if (is_nan(a, F64)) {
            if (is_snan(a, F64))
                *flags |= FFLAG_NV;
            return F32_CANONICAL_NAN;
        }
        return sgn | (uint32_t)inf_of(F32);
    }
    if (is_zero(a, F64))
        return sgn;
    int exp;
    uint64_t sig;
    unpack(a, &exp, &sig, F64);
    return (uint32_t)round_pack(a >> 63, exp, sig, rm, flags, F32);
}
