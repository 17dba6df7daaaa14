// point.cuh: secp256k1 points. The hot path is affine addition walking consecutive
// points with one batch inversion per group (grind.cuh); the Jacobian code here only
// computes each thread's starting point once per launch.
#pragma once
#include "field.cuh"

typedef struct { fe x, y; } vk_affine;
typedef struct { fe x, y, z; int infinity; } vk_jacobian;

// beta and beta^2 (mod p): (x, y) -> (beta x, y) is multiplication by lambda.
#define VK_BETA_INIT {{0xC1396C28719501EEULL, 0x9CF0497512F58995ULL, 0x6E64479EAC3434E9ULL, 0x7AE96A2B657C0710ULL}}
#define VK_BETA2_INIT {{0x3EC693D68E6AFA40ULL, 0x630FB68AED0A766AULL, 0x919BB86153CBCB16ULL, 0x851695D49A83F8EFULL}}
#define VK_GX_INIT {{0x59F2815B16F81798ULL, 0x029BFCDB2DCE28D9ULL, 0x55A06295CE870B07ULL, 0x79BE667EF9DCBBACULL}}
#define VK_GY_INIT {{0x9C47D08FFB10D4B8ULL, 0xFD17B448A6855419ULL, 0x5DA4FBFC0E1108A8ULL, 0x483ADA7726A3C465ULL}}

// x's other two endomorphism images from one multiplication: beta is a primitive cube root of
// unity mod p, so 1 + beta + beta^2 = 0 and beta^2 x = -(x + beta x).
VK_HD void vk_endo_xs(fe& bx, fe& b2x, const fe& x) {
  const fe beta = VK_BETA_INIT;
  fe_mul(bx, x, beta);
  fe_add(b2x, x, bx);
  fe_neg(b2x, b2x);
}

// Group order n, for adding a thread's offset to the start scalar.
#define VK_N_INIT {0xBFD25E8CD0364141ULL, 0xBAAEDCE6AF48A03BULL, 0xFFFFFFFFFFFFFFFEULL, 0xFFFFFFFFFFFFFFFFULL}

VK_HD void scalar_add_u64_mod_n(uint64_t r[4], const uint64_t a[4], uint64_t add) {
  const uint64_t n[4] = VK_N_INIT;
  const uint64_t b[4] = {add, 0, 0, 0};
  uint64_t carry = vk_add256(r, a, b);
  int ge = carry != 0;
  if (!ge) {
    ge = 1;  // r >= n ?
    for (int i = 3; i >= 0; i--) {
      if (r[i] != n[i]) { ge = r[i] > n[i]; break; }
    }
  }
  if (ge) vk_sub256(r, r, n);
}

VK_HD_NOINLINE void jac_double(vk_jacobian& r, const vk_jacobian& p) {
  if (p.infinity || fe_is_zero(p.y)) { r.infinity = 1; return; }
  fe a, b, c, d, e, f, t;
  fe_sqr(a, p.x);
  fe_sqr(b, p.y);
  fe_sqr(c, b);
  fe_add(t, p.x, b); fe_sqr(t, t); fe_sub(t, t, a); fe_sub(t, t, c); fe_add(d, t, t);
  fe_add(e, a, a); fe_add(e, e, a);
  fe_sqr(f, e);
  fe z3; fe_mul(z3, p.y, p.z); fe_add(z3, z3, z3);
  fe x3; fe_add(t, d, d); fe_sub(x3, f, t);
  fe c8; fe_add(c8, c, c); fe_add(c8, c8, c8); fe_add(c8, c8, c8);
  fe y3; fe_sub(t, d, x3); fe_mul(y3, e, t); fe_sub(y3, y3, c8);
  r.x = x3; r.y = y3; r.z = z3; r.infinity = 0;
}

// r = p + q (q affine), every case handled (p at infinity, p == q, p == -q).
VK_HD_NOINLINE void jac_add_affine(vk_jacobian& r, const vk_jacobian& p, const vk_affine& q) {
  if (p.infinity) { r.x = q.x; r.y = q.y; r.z = fe{{1, 0, 0, 0}}; r.infinity = 0; return; }
  fe z1z1, u2, s2, h, hh, i, j, rr, v, t;
  fe_sqr(z1z1, p.z);
  fe_mul(u2, q.x, z1z1);
  fe_mul(s2, q.y, p.z); fe_mul(s2, s2, z1z1);
  fe_sub(h, u2, p.x);
  fe_sub(rr, s2, p.y);
  if (fe_is_zero(h)) {
    if (fe_is_zero(rr)) { jac_double(r, p); return; }
    r.infinity = 1;
    return;
  }
  fe_add(rr, rr, rr);
  fe_sqr(hh, h);
  fe_add(i, hh, hh); fe_add(i, i, i);
  fe_mul(j, h, i);
  fe_mul(v, p.x, i);
  fe x3; fe_sqr(x3, rr); fe_sub(x3, x3, j); fe_sub(x3, x3, v); fe_sub(x3, x3, v);
  fe y3; fe_sub(t, v, x3); fe_mul(y3, rr, t); fe_mul(t, p.y, j); fe_add(t, t, t); fe_sub(y3, y3, t);
  fe z3; fe_add(z3, p.z, h); fe_sqr(z3, z3); fe_sub(z3, z3, z1z1); fe_sub(z3, z3, hh);
  r.x = x3; r.y = y3; r.z = z3; r.infinity = 0;
}

// Returns 0 for the point at infinity.
VK_HD int jac_to_affine(vk_affine& r, const vk_jacobian& p) {
  if (p.infinity) return 0;
  fe zi, zi2, zi3;
  fe_inv(zi, p.z);
  fe_sqr(zi2, zi);
  fe_mul(zi3, zi2, zi);
  fe_mul(r.x, p.x, zi2);
  fe_mul(r.y, p.y, zi3);
  return 1;
}

// k*G (+ Q when q is given), left-to-right double-and-add. Once per thread per launch.
VK_HD_NOINLINE int scalar_mult_base(vk_affine& r, const uint64_t k[4], const vk_affine* q) {
  const vk_affine g = {VK_GX_INIT, VK_GY_INIT};
  vk_jacobian acc;
  acc.infinity = 1;
#pragma unroll 1
  for (int bit = 255; bit >= 0; bit--) {
    jac_double(acc, acc);
    if ((k[bit >> 6] >> (bit & 63)) & 1) jac_add_affine(acc, acc, g);
  }
  if (q) jac_add_affine(acc, acc, *q);
  return jac_to_affine(r, acc);
}

// r = p + q for affine points with distinct x, given inv = 1 / (q.x - p.x).
VK_HD void affine_add_with_inverse(vk_affine& r, const vk_affine& p, const fe& qx, const fe& qy, const fe& inv) {
  fe lambda, t, x3, y3;
  fe_sub(t, qy, p.y);
  fe_mul(lambda, t, inv);
  fe_sqr(x3, lambda);
  fe_sub(x3, x3, p.x);
  fe_sub(x3, x3, qx);
  fe_sub(t, p.x, x3);
  fe_mul(y3, lambda, t);
  fe_sub(y3, y3, p.y);
  r.x = x3;
  r.y = y3;
}
