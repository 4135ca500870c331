/* Internal to emulator/: IEEE 754 arithmetic with RISC-V semantics.
 *
 * Values are raw bit patterns (f32 in uint32_t, f64 in uint64_t); NaN boxing
 * is the caller's business. rm is a resolved rounding mode (never DYN);
 * every function ORs the exception flags it raises into *flags. Results that
 * are NaN are the canonical NaN (0x7fc00000 / 0x7ff8000000000000), as the
 * RISC-V spec requires. */
#ifndef REWIND_FPU_H
#define REWIND_FPU_H

#include <stdint.h>

enum {
    RM_RNE = 0, RM_RTZ = 1, RM_RDN = 2, RM_RUP = 3, RM_RMM = 4, RM_DYN = 7,
};

enum {
    FFLAG_NX = 1 << 0, /* inexact */
    FFLAG_UF = 1 << 1, /* underflow */
    FFLAG_OF = 1 << 2, /* overflow */
    FFLAG_DZ = 1 << 3, /* divide by zero */
    FFLAG_NV = 1 << 4, /* invalid */
};

#define F32_CANONICAL_NAN 0x7fc00000u
#define F64_CANONICAL_NAN 0x7ff8000000000000ull

uint32_t f32_add(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_sub(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_mul(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_div(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_sqrt(uint32_t a, int rm, uint32_t *flags);
/* a*b+c with a single rounding; fmsub/fnmadd/fnmsub are built by the caller
 * by flipping the sign bits of a and/or c. */
uint32_t f32_muladd(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
uint32_t f32_min(uint32_t a, uint32_t b, uint32_t *flags);
uint32_t f32_max(uint32_t a, uint32_t b, uint32_t *flags);
int f32_eq(uint32_t a, uint32_t b, uint32_t *flags);   /* quiet */
int f32_lt(uint32_t a, uint32_t b, uint32_t *flags);   /* signalling */
int f32_le(uint32_t a, uint32_t b, uint32_t *flags);   /* signalling */
uint32_t f32_classify(uint32_t a);                     /* fclass.s mask */
/* Saturating conversions as RISC-V specifies (NaN -> max positive). The
 * 32-bit results are returned sign-extended to 64 bits, as fcvt.w[u] writes
 * them to rd. */
int64_t f32_to_i32(uint32_t a, int rm, uint32_t *flags);
int64_t f32_to_u32(uint32_t a, int rm, uint32_t *flags);
int64_t f32_to_i64(uint32_t a, int rm, uint32_t *flags);
uint64_t f32_to_u64(uint32_t a, int rm, uint32_t *flags);
uint32_t i32_to_f32(int32_t v, int rm, uint32_t *flags);
uint32_t u32_to_f32(uint32_t v, int rm, uint32_t *flags);
uint32_t i64_to_f32(int64_t v, int rm, uint32_t *flags);
uint32_t u64_to_f32(uint64_t v, int rm, uint32_t *flags);

uint64_t f64_add(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_sub(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_mul(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_div(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_sqrt(uint64_t a, int rm, uint32_t *flags);
uint64_t f64_muladd(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags);
uint64_t f64_min(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t f64_max(uint64_t a, uint64_t b, uint32_t *flags);
int f64_eq(uint64_t a, uint64_t b, uint32_t *flags);
int f64_lt(uint64_t a, uint64_t b, uint32_t *flags);
int f64_le(uint64_t a, uint64_t b, uint32_t *flags);
uint32_t f64_classify(uint64_t a);
int64_t f64_to_i32(uint64_t a, int rm, uint32_t *flags);
int64_t f64_to_u32(uint64_t a, int rm, uint32_t *flags);
int64_t f64_to_i64(uint64_t a, int rm, uint32_t *flags);
uint64_t f64_to_u64(uint64_t a, int rm, uint32_t *flags);
uint64_t i32_to_f64(int32_t v, int rm, uint32_t *flags);
uint64_t u32_to_f64(uint32_t v, int rm, uint32_t *flags);
uint64_t i64_to_f64(int64_t v, int rm, uint32_t *flags);
uint64_t u64_to_f64(uint64_t v, int rm, uint32_t *flags);

uint64_t f32_to_f64(uint32_t a, uint32_t *flags);
uint32_t f64_to_f32(uint64_t a, int rm, uint32_t *flags);

#endif
