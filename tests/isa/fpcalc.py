#!/usr/bin/env python3
"""Reference arithmetic for writing FP test expectations (development aid).

Values are computed exactly with fractions and rounded per IEEE 754-2008 /
the RISC-V F and D chapters (tininess detected after rounding, canonical
NaN results), so expected bit patterns come from the specification, not
from any emulator.  Usage (interactive):

    python3 -i fpcalc.py
    >>> hx(add(S, s(1.0), bits_s(0x33800000), RNE))     # ('0x3f800000', 'NX')
"""
from fractions import Fraction as F
import math, struct

RNE, RTZ, RDN, RUP, RMM = range(5)
NV, DZ, OF, UF, NX = 0x10, 0x08, 0x04, 0x02, 0x01

class Fmt:
    def __init__(self, e, m):
        self.e, self.m = e, m                 # exponent bits, fraction bits
        self.bias = (1 << (e - 1)) - 1
        self.emin = 1 - self.bias
        self.emax = self.bias
        self.width = 1 + e + m
        self.cnan = ((1 << e) - 1) << m | 1 << (m - 1)
S = Fmt(8, 23)
D = Fmt(11, 52)

def decode(f, b):
    """bits -> ('nan', quiet?) | ('inf', sign) | Fraction (with sign, -0 as ('zero',1))"""
    sign = b >> (f.width - 1)
    ex = (b >> f.m) & ((1 << f.e) - 1)
    fr = b & ((1 << f.m) - 1)
    if ex == (1 << f.e) - 1:
        if fr: return ('nan', bool(fr >> (f.m - 1)))
        return ('inf', sign)
    if ex == 0:
        if fr == 0: return ('zero', sign)
        v = F(fr, 1 << f.m) * F(2) ** f.emin
    else:
        v = (1 + F(fr, 1 << f.m)) * F(2) ** (ex - f.bias)
    return -v if sign else v

def round_to(f, v, rm, sign_of_zero=0):
    """exact Fraction -> (bits, flags)"""
    if v == 0:
        return (sign_of_zero << (f.width - 1)), 0
    sign = 1 if v < 0 else 0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while F(2) ** e > a: e -= 1
    while F(2) ** (e + 1) <= a: e += 1
    e = max(e, f.emin)
    q = F(2) ** (e - f.m)          # quantum
    n = a / q
    lo = math.floor(n)
    rem = n - lo
    up = False
    if rem:
        if rm == RNE: up = rem > F(1, 2) or (rem == F(1, 2) and lo % 2 == 1)
        elif rm == RMM: up = rem >= F(1, 2)
        elif rm == RTZ: up = False
        elif rm == RDN: up = sign == 1
        elif rm == RUP: up = sign == 0
    m = lo + (1 if up else 0)
    flags = NX if rem else 0
    if m >= (2 << f.m):            # carried into next binade
        m //= 2; e += 1
    if e > f.emax:
        flags |= OF | NX
        if rm == RTZ or (rm == RDN and not sign) or (rm == RUP and sign):
            return (sign << (f.width - 1)) | ((((1 << f.e) - 2) << f.m) | ((1 << f.m) - 1)), flags
        return (sign << (f.width - 1)) | (((1 << f.e) - 1) << f.m), flags
    if m < (1 << f.m):             # subnormal (after rounding)
        if rem: flags |= UF
        return (sign << (f.width - 1)) | m, flags
    return (sign << (f.width - 1)) | ((e + f.bias) << f.m) | (m - (1 << f.m)), flags

def inf(f, sign): return (sign << (f.width - 1)) | (((1 << f.e) - 1) << f.m)

def _nan_in(f, *xs):
    fl = 0
    isnan = False
    for x in xs:
        if isinstance(x, tuple) and x[0] == 'nan':
            isnan = True
            if not x[1]: fl |= NV
    return isnan, fl

def _val(x):
    if isinstance(x, tuple) and x[0] == 'zero': return F(0)
    return x

def add(f, a, b, rm, neg_b=False):
    A, B = decode(f, a), decode(f, b)
    n, fl = _nan_in(f, A, B)
    if n: return f.cnan, fl
    sa = A[1] if isinstance(A, tuple) else None
    if neg_b:
        if isinstance(B, tuple): B = (B[0], B[1] ^ 1)
        else: B = -B
    if isinstance(A, tuple) and A[0] == 'inf':
        if isinstance(B, tuple) and B[0] == 'inf' and B[1] != A[1]: return f.cnan, NV
        return inf(f, A[1]), 0
    if isinstance(B, tuple) and B[0] == 'inf': return inf(f, B[1]), 0
    va, vb = _val(A), _val(B)
    s = va + vb
    if s == 0:
        za = A[1] if isinstance(A, tuple) else (1 if va < 0 else 0)
        zb = B[1] if isinstance(B, tuple) else (1 if vb < 0 else 0)
        if isinstance(A, tuple) and isinstance(B, tuple) and za == zb: sz = za
        else: sz = 1 if rm == RDN else 0
        return round_to(f, s, rm, sz)
    return round_to(f, s, rm)

def sub(f, a, b, rm): return add(f, a, b, rm, neg_b=True)

def _sign(x):
    if isinstance(x, tuple): return x[1]
    return 1 if x < 0 else 0

def mul(f, a, b, rm):
    A, B = decode(f, a), decode(f, b)
    n, fl = _nan_in(f, A, B)
    if n: return f.cnan, fl
    s = _sign(A) ^ _sign(B)
    ia = isinstance(A, tuple) and A[0] == 'inf'; ib = isinstance(B, tuple) and B[0] == 'inf'
    za = isinstance(A, tuple) and A[0] == 'zero'; zb = isinstance(B, tuple) and B[0] == 'zero'
    if (ia and zb) or (ib and za): return f.cnan, NV
    if ia or ib: return inf(f, s), 0
    return round_to(f, _val(A) * _val(B), rm, s)

def div(f, a, b, rm):
    A, B = decode(f, a), decode(f, b)
    n, fl = _nan_in(f, A, B)
    if n: return f.cnan, fl
    s = _sign(A) ^ _sign(B)
    ia = isinstance(A, tuple) and A[0] == 'inf'; ib = isinstance(B, tuple) and B[0] == 'inf'
    za = isinstance(A, tuple) and A[0] == 'zero'; zb = isinstance(B, tuple) and B[0] == 'zero'
    if (ia and ib) or (za and zb): return f.cnan, NV
    if ia: return inf(f, s), 0
    if ib: return s << (f.width - 1), 0
    if zb: return inf(f, s), DZ
    return round_to(f, _val(A) / _val(B), rm, s)

def sqrt(f, a, rm):
    A = decode(f, a)
    n, fl = _nan_in(f, A)
    if n: return f.cnan, fl
    if isinstance(A, tuple):
        if A[0] == 'zero': return a, 0
        if A[1]: return f.cnan, NV
        return a, 0
    if A < 0: return f.cnan, NV
    # exact sqrt rounding: find r with enough precision via integer sqrt
    e = 0
    v = A
    # scale to integer with many bits
    k = 2 * (f.m + 10) - (v.numerator.bit_length() - v.denominator.bit_length())
    k += k & 1
    N = v * F(2) ** k
    iv = math.isqrt(math.floor(N))
    exact = (F(iv) ** 2 == N)
    r = F(iv) / F(2) ** (k // 2)
    if not exact:
        r += F(1, 2) / F(2) ** (k // 2)      # sticky: strictly between
    bits, fl = round_to(f, r, rm)
    if exact: fl &= ~NX
    return bits, fl

def fma(f, a, b, c, rm, neg_prod=False, neg_c=False):
    A, B, C = decode(f, a), decode(f, b), decode(f, c)
    ia = isinstance(A, tuple) and A[0] == 'inf'; ib = isinstance(B, tuple) and B[0] == 'inf'
    za = isinstance(A, tuple) and A[0] == 'zero'; zb = isinstance(B, tuple) and B[0] == 'zero'
    if (ia and zb) or (ib and za):
        return f.cnan, NV                      # even if c is a quiet NaN
    n, fl = _nan_in(f, A, B, C)
    if n: return f.cnan, fl
    ps = _sign(A) ^ _sign(B) ^ (1 if neg_prod else 0)
    if neg_c:
        C = (C[0], C[1] ^ 1) if isinstance(C, tuple) else -C
    ic = isinstance(C, tuple) and C[0] == 'inf'
    if ia or ib:
        if ic and C[1] != ps: return f.cnan, NV
        return inf(f, ps), 0
    if ic: return inf(f, C[1]), 0
    p = _val(A) * _val(B) * (-1 if neg_prod else 1)
    s = p + _val(C)
    if s == 0:
        pz = p == 0
        cs = _sign(C)
        if pz and isinstance(C, tuple) and C[0] == 'zero' and ps == cs: sz = ps
        else: sz = 1 if rm == RDN else 0
        return round_to(f, s, rm, sz)
    return round_to(f, s, rm)

def fmadd(f, a, b, c, rm): return fma(f, a, b, c, rm)
def fmsub(f, a, b, c, rm): return fma(f, a, b, c, rm, neg_c=True)
def fnmsub(f, a, b, c, rm): return fma(f, a, b, c, rm, neg_prod=True)
def fnmadd(f, a, b, c, rm): return fma(f, a, b, c, rm, neg_prod=True, neg_c=True)

def s(x): return struct.unpack('<I', struct.pack('<f', x))[0]
def d(x): return struct.unpack('<Q', struct.pack('<d', x))[0]
def bits_s(b): return b
def flagstr(fl):
    n = [nm for nm, v in (('NV', NV), ('DZ', DZ), ('OF', OF), ('UF', UF), ('NX', NX)) if fl & v]
    return '|'.join(n) or '0'
def hx(r): return (hex(r[0]), flagstr(r[1]))

def to_int(f, a, rm, bits, signed):
    """fcvt.{w,wu,l,lu}: returns (value as unsigned 64-bit reg for the W
    forms sign-extended), flags"""
    A = decode(f, a)
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    def reg(v):
        if bits == 32:
            v &= 0xffffffff
            if v >> 31: v |= 0xffffffff00000000
        return v & 0xffffffffffffffff
    if isinstance(A, tuple):
        if A[0] == 'nan': return reg(hi), NV
        if A[0] == 'inf': return reg(lo if A[1] else hi), NV
        return 0, 0
    fl = math.floor(A)
    rem = A - fl
    sign = A < 0
    if rem == 0: r = fl
    elif rm == RNE: r = fl + (1 if rem > F(1, 2) or (rem == F(1, 2) and fl % 2) else 0)
    elif rm == RMM: r = fl + (1 if (rem > F(1, 2) or (rem == F(1, 2) and not sign)) else 0)
    elif rm == RTZ: r = fl + (1 if sign else 0)
    elif rm == RDN: r = fl
    else: r = fl + 1
    if r < lo: return reg(lo), NV
    if r > hi: return reg(hi), NV
    return reg(r), (NX if rem else 0)

def from_int(f, v, rm):
    return round_to(f, F(v), rm)
