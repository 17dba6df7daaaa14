// field.cuh: arithmetic modulo p = 2^256 - 2^32 - 977, four little-endian 64-bit limbs.
// Only the carry-chain primitives differ between builds: inline PTX (add.cc / addc /
// mad.lo.cc / madc.hi) on the GPU, unsigned __int128 on the host. Everything above them
// (reduction tail, inversion, all of point.cuh) is shared code.
#pragma once
#include "vk_common.cuh"

typedef struct { uint64_t v[4]; } fe;

// 2^256 mod p: the whole reduction is "fold the high half back in times C".
#define VK_FE_C 0x1000003D1ULL
#define VK_P0 0xFFFFFFFEFFFFFC2FULL
#define VK_ALL1 0xFFFFFFFFFFFFFFFFULL

// ---- carry-chain primitives -------------------------------------------------------
#if VK_ON_GPU

// r = a + b over 256 bits; returns the carry out.
__device__ __forceinline__ uint64_t vk_add256(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
  uint64_t carry;
  asm("add.cc.u64  %0, %5, %9;\n\t"
      "addc.cc.u64 %1, %6, %10;\n\t"
      "addc.cc.u64 %2, %7, %11;\n\t"
      "addc.cc.u64 %3, %8, %12;\n\t"
      "addc.u64    %4, 0, 0;"
      : "=l"(r[0]), "=l"(r[1]), "=l"(r[2]), "=l"(r[3]), "=l"(carry)
      : "l"(a[0]), "l"(a[1]), "l"(a[2]), "l"(a[3]), "l"(b[0]), "l"(b[1]), "l"(b[2]), "l"(b[3]));
  return carry;
}

// r = a - b over 256 bits; returns 1 on borrow.
__device__ __forceinline__ uint64_t vk_sub256(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
  uint64_t borrow;
  asm("sub.cc.u64  %0, %5, %9;\n\t"
      "subc.cc.u64 %1, %6, %10;\n\t"
      "subc.cc.u64 %2, %7, %11;\n\t"
      "subc.cc.u64 %3, %8, %12;\n\t"
      "subc.u64    %4, 0, 0;"
      : "=l"(r[0]), "=l"(r[1]), "=l"(r[2]), "=l"(r[3]), "=l"(borrow)
      : "l"(a[0]), "l"(a[1]), "l"(a[2]), "l"(a[3]), "l"(b[0]), "l"(b[1]), "l"(b[2]), "l"(b[3]));
  return borrow & 1;
}

// t[0..4] += a[0..3] * b  (the caller guarantees the 320-bit sum does not overflow).
__device__ __forceinline__ void vk_mac_row(uint64_t& t0, uint64_t& t1, uint64_t& t2, uint64_t& t3, uint64_t& t4,
                                           const uint64_t a[4], uint64_t b) {
  asm("mad.lo.cc.u64  %0, %5, %9, %0;\n\t"
      "madc.lo.cc.u64 %1, %6, %9, %1;\n\t"
      "madc.lo.cc.u64 %2, %7, %9, %2;\n\t"
      "madc.lo.cc.u64 %3, %8, %9, %3;\n\t"
      "addc.u64       %4, %4, 0;\n\t"
      "mad.hi.cc.u64  %1, %5, %9, %1;\n\t"
      "madc.hi.cc.u64 %2, %6, %9, %2;\n\t"
      "madc.hi.cc.u64 %3, %7, %9, %3;\n\t"
      "madc.hi.u64    %4, %8, %9, %4;"
      : "+l"(t0), "+l"(t1), "+l"(t2), "+l"(t3), "+l"(t4)
      : "l"(a[0]), "l"(a[1]), "l"(a[2]), "l"(a[3]), "l"(b));
}

// 512-bit product a * b.
__device__ __forceinline__ void vk_mul512(uint64_t t[8], const uint64_t a[4], const uint64_t b[4]) {
  t[0] = t[1] = t[2] = t[3] = t[4] = t[5] = t[6] = t[7] = 0;
  vk_mac_row(t[0], t[1], t[2], t[3], t[4], a, b[0]);
  vk_mac_row(t[1], t[2], t[3], t[4], t[5], a, b[1]);
  vk_mac_row(t[2], t[3], t[4], t[5], t[6], a, b[2]);
  vk_mac_row(t[3], t[4], t[5], t[6], t[7], a, b[3]);
}

// 512-bit square a * a: the six cross products once, doubled, plus the four squares
// (20 64-bit multiply halves instead of the product's 32).
__device__ __forceinline__ void vk_sqr512(uint64_t t[8], const uint64_t a[4]) {
  asm("mul.lo.u64     %1, %8, %9;\n\t"
      "mul.lo.u64     %2, %8, %10;\n\t"
      "mul.lo.u64     %3, %8, %11;\n\t"
      "mad.hi.cc.u64  %2, %8, %9, %2;\n\t"
      "madc.hi.cc.u64 %3, %8, %10, %3;\n\t"
      "madc.hi.u64    %4, %8, %11, 0;\n\t"
      "mad.lo.cc.u64  %3, %9, %10, %3;\n\t"
      "madc.hi.cc.u64 %4, %9, %10, %4;\n\t"
      "madc.hi.u64    %5, %9, %11, 0;\n\t"
      "mad.lo.cc.u64  %4, %9, %11, %4;\n\t"
      "addc.u64       %5, %5, 0;\n\t"
      "mad.lo.cc.u64  %5, %10, %11, %5;\n\t"
      "madc.hi.u64    %6, %10, %11, 0;\n\t"
      "add.cc.u64     %1, %1, %1;\n\t"
      "addc.cc.u64    %2, %2, %2;\n\t"
      "addc.cc.u64    %3, %3, %3;\n\t"
      "addc.cc.u64    %4, %4, %4;\n\t"
      "addc.cc.u64    %5, %5, %5;\n\t"
      "addc.cc.u64    %6, %6, %6;\n\t"
      "addc.u64       %7, 0, 0;\n\t"
      "mul.lo.u64     %0, %8, %8;\n\t"
      "mad.hi.cc.u64  %1, %8, %8, %1;\n\t"
      "madc.lo.cc.u64 %2, %9, %9, %2;\n\t"
      "madc.hi.cc.u64 %3, %9, %9, %3;\n\t"
      "madc.lo.cc.u64 %4, %10, %10, %4;\n\t"
      "madc.hi.cc.u64 %5, %10, %10, %5;\n\t"
      "madc.lo.cc.u64 %6, %11, %11, %6;\n\t"
      "madc.hi.u64    %7, %11, %11, %7;"
      : "=l"(t[0]), "=l"(t[1]), "=l"(t[2]), "=l"(t[3]), "=l"(t[4]), "=l"(t[5]), "=l"(t[6]), "=l"(t[7])
      : "l"(a[0]), "l"(a[1]), "l"(a[2]), "l"(a[3]));
}

// r + top * 2^256 = lo + hi * C, with top < 2^34.
__device__ __forceinline__ uint64_t vk_fold_high(uint64_t r[4], const uint64_t t[8]) {
  uint64_t r0 = t[0], r1 = t[1], r2 = t[2], r3 = t[3], top = 0;
  vk_mac_row(r0, r1, r2, r3, top, t + 4, VK_FE_C);
  r[0] = r0; r[1] = r1; r[2] = r2; r[3] = r3;
  return top;
}

// r += small * C over 256 bits (small < 2^35); returns the carry out.
__device__ __forceinline__ uint64_t vk_add_small_times_c(uint64_t r[4], uint64_t small) {
  uint64_t carry;
  asm("{\n\t.reg .u64 lo, hi;\n\t"
      "mul.lo.u64 lo, %5, %6;\n\t"
      "mul.hi.u64 hi, %5, %6;\n\t"
      "add.cc.u64  %0, %0, lo;\n\t"
      "addc.cc.u64 %1, %1, hi;\n\t"
      "addc.cc.u64 %2, %2, 0;\n\t"
      "addc.cc.u64 %3, %3, 0;\n\t"
      "addc.u64    %4, 0, 0;\n\t}"
      : "+l"(r[0]), "+l"(r[1]), "+l"(r[2]), "+l"(r[3]), "=l"(carry)
      : "l"(small), "l"(VK_FE_C));
  return carry;
}

#else  // host: unsigned __int128

typedef unsigned __int128 vk_u128;

VK_HD uint64_t vk_add256(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
  vk_u128 acc = 0;
  for (int i = 0; i < 4; i++) {
    acc += (vk_u128)a[i] + b[i];
    r[i] = (uint64_t)acc;
    acc >>= 64;
  }
  return (uint64_t)acc;
}

VK_HD uint64_t vk_sub256(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
  uint64_t borrow = 0;
  for (int i = 0; i < 4; i++) {
    vk_u128 d = (vk_u128)a[i] - b[i] - borrow;
    r[i] = (uint64_t)d;
    borrow = (uint64_t)(d >> 64) & 1;
  }
  return borrow;
}

VK_HD void vk_mul512(uint64_t t[8], const uint64_t a[4], const uint64_t b[4]) {
  for (int i = 0; i < 8; i++) t[i] = 0;
  for (int i = 0; i < 4; i++) {
    uint64_t carry = 0;
    for (int j = 0; j < 4; j++) {
      vk_u128 s = (vk_u128)a[j] * b[i] + t[i + j] + carry;
      t[i + j] = (uint64_t)s;
      carry = (uint64_t)(s >> 64);
    }
    t[i + 4] = carry;
  }
}

// 512-bit square. On the host the product's loop is the faster square: a square written
// with __int128 (six cross products doubled plus four squares) measured 22-28 ns against
// 18-21 ns for vk_mul512(a, a) (g++ -O3 -march=native, the 2-core EPYC dev box), so the
// dedicated square is the GPU's only (inline PTX above, checked in emulation).
VK_HD void vk_sqr512(uint64_t t[8], const uint64_t a[4]) { vk_mul512(t, a, a); }

VK_HD uint64_t vk_fold_high(uint64_t r[4], const uint64_t t[8]) {
  vk_u128 acc = 0;
  for (int i = 0; i < 4; i++) {
    acc += (vk_u128)t[i + 4] * VK_FE_C + t[i];
    r[i] = (uint64_t)acc;
    acc >>= 64;
  }
  return (uint64_t)acc;
}

VK_HD uint64_t vk_add_small_times_c(uint64_t r[4], uint64_t small) {
  vk_u128 acc = (vk_u128)small * VK_FE_C;
  for (int i = 0; i < 4; i++) {
    acc += r[i];
    r[i] = (uint64_t)acc;
    acc >>= 64;
  }
  return (uint64_t)acc;
}

#endif

// ---- shared field code ---------------------------------------------------------------

VK_HD int fe_ge_p(const fe& a) {
  return a.v[3] == VK_ALL1 && a.v[2] == VK_ALL1 && a.v[1] == VK_ALL1 && a.v[0] >= VK_P0;
}

VK_HD void fe_normalize(fe& a) {
  // Subtracting p is adding C modulo 2^256.
  if (fe_ge_p(a)) vk_add_small_times_c(a.v, 1);
}

VK_HD void fe_set(fe& r, const fe& a) { r = a; }

VK_HD int fe_is_zero(const fe& a) { return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0; }

VK_HD int fe_equal(const fe& a, const fe& b) {
  return a.v[0] == b.v[0] && a.v[1] == b.v[1] && a.v[2] == b.v[2] && a.v[3] == b.v[3];
}

VK_HD void fe_add(fe& r, const fe& a, const fe& b) {
  uint64_t carry = vk_add256(r.v, a.v, b.v);
  if (carry) vk_add_small_times_c(r.v, 1);  // 2^256 = C (mod p); cannot carry again
  fe_normalize(r);
}

VK_HD void fe_sub(fe& r, const fe& a, const fe& b) {
  if (vk_sub256(r.v, a.v, b.v)) {
    // Add p back: minus C modulo 2^256.
    const uint64_t c[4] = {VK_FE_C, 0, 0, 0};
    vk_sub256(r.v, r.v, c);
  }
}

VK_HD void fe_neg(fe& r, const fe& a) {
  const fe zero = {{0, 0, 0, 0}};
  fe_sub(r, zero, a);
}

// r = t mod p, fully reduced, for a 512-bit t.
VK_HD void fe_reduce512(fe& r, const uint64_t t[8]) {
  uint64_t top = vk_fold_high(r.v, t);
  if (vk_add_small_times_c(r.v, top)) vk_add_small_times_c(r.v, 1);
  fe_normalize(r);
}

VK_HD void fe_mul(fe& r, const fe& a, const fe& b) {
  uint64_t t[8];
  vk_mul512(t, a.v, b.v);
  fe_reduce512(r, t);
}

VK_HD void fe_sqr(fe& r, const fe& a) {
  uint64_t t[8];
  vk_sqr512(t, a.v);
  fe_reduce512(r, t);
}

VK_HD_NOINLINE void fe_sqr_n(fe& r, const fe& a, int n) {
  fe_sqr(r, a);
#pragma unroll 1
  for (int i = 1; i < n; i++) fe_sqr(r, r);
}

// a^(p-2) (Fermat), by libsecp256k1's addition chain: 255 squarings, 15 multiplications.
VK_HD_NOINLINE void fe_inv(fe& r, const fe& a) {
  fe x2, x3, x6, x9, x11, x22, x44, x88, x176, x220, x223, t1;
  fe_sqr(x2, a); fe_mul(x2, x2, a);
  fe_sqr(x3, x2); fe_mul(x3, x3, a);
  fe_sqr_n(x6, x3, 3); fe_mul(x6, x6, x3);
  fe_sqr_n(x9, x6, 3); fe_mul(x9, x9, x3);
  fe_sqr_n(x11, x9, 2); fe_mul(x11, x11, x2);
  fe_sqr_n(x22, x11, 11); fe_mul(x22, x22, x11);
  fe_sqr_n(x44, x22, 22); fe_mul(x44, x44, x22);
  fe_sqr_n(x88, x44, 44); fe_mul(x88, x88, x44);
  fe_sqr_n(x176, x88, 88); fe_mul(x176, x176, x88);
  fe_sqr_n(x220, x176, 44); fe_mul(x220, x220, x44);
  fe_sqr_n(x223, x220, 3); fe_mul(x223, x223, x3);
  fe_sqr_n(t1, x223, 23); fe_mul(t1, t1, x22);
  fe_sqr_n(t1, t1, 5); fe_mul(t1, t1, a);
  fe_sqr_n(t1, t1, 3); fe_mul(t1, t1, x2);
  fe_sqr_n(t1, t1, 2); fe_mul(r, t1, a);
}

// The 32-byte big-endian encoding as eight big-endian 32-bit words (what SHA-256 reads).
VK_HD void fe_to_words(uint32_t w[8], const fe& a) {
  for (int i = 0; i < 4; i++) {
    w[2 * i] = (uint32_t)(a.v[3 - i] >> 32);
    w[2 * i + 1] = (uint32_t)a.v[3 - i];
  }
}

// Big-endian bytes <-> limbs.
VK_HD void fe_to_bytes(uint8_t out[32], const fe& a) {
  for (int i = 0; i < 4; i++) {
    uint64_t w = a.v[3 - i];
    for (int j = 0; j < 8; j++) out[i * 8 + j] = (uint8_t)(w >> (56 - 8 * j));
  }
}

VK_HD void fe_from_bytes(fe& a, const uint8_t in[32]) {
  for (int i = 0; i < 4; i++) {
    uint64_t w = 0;
    for (int j = 0; j < 8; j++) w = (w << 8) | in[i * 8 + j];
    a.v[3 - i] = w;
  }
}
