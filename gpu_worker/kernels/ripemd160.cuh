// ripemd160.cuh: RIPEMD-160 of one short message (at most 55 bytes: one block).
#pragma once
#include "vk_common.cuh"

#define VK_ROTL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

template <typename W>
VK_HD W ripemd_f(int j, W x, W y, W z) {
  switch (j >> 4) {
    case 0: return x ^ y ^ z;
    case 1: return (x & y) | (~x & z);
    case 2: return (x | ~y) ^ z;
    case 3: return (x & z) | (y & ~z);
    default: return x ^ (y | ~z);
  }
}

// W is uint32_t (one message) or, on the host, a vector of 32-bit lanes (one message per lane).
template <typename W>
VK_HD void ripemd160_compress(W h[5], const W x[16]) {
  const uint8_t r[80] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5,
                         2, 14, 11, 8, 3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12, 1, 9, 11, 10, 0, 8, 12, 4,
                         13, 3, 7, 15, 14, 5, 6, 2, 4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13};
  const uint8_t rp[80] = {5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12,
                          4, 9, 1, 2, 15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13, 8, 6, 4, 1, 3, 11, 15, 0,
                          5, 12, 2, 13, 9, 7, 10, 14, 12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11};
  const uint8_t s[80] = {11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8, 7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9,
                         11, 7, 13, 12, 11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5, 11, 12, 14, 15, 14, 15,
                         9, 8, 9, 14, 5, 6, 8, 6, 5, 12, 9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6};
  const uint8_t sp[80] = {8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6, 9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7,
                          6, 15, 13, 11, 9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5, 15, 5, 8, 11, 14, 14,
                          6, 14, 6, 9, 12, 9, 12, 5, 15, 8, 8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11};
  const uint32_t kl[5] = {0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E};
  const uint32_t kr[5] = {0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000};
  W al = h[0], bl = h[1], cl = h[2], dl = h[3], el = h[4];
  W ar = h[0], br = h[1], cr = h[2], dr = h[3], er = h[4];
VK_UNROLL
  for (int j = 0; j < 80; j++) {
    W t = al + ripemd_f(j, bl, cl, dl) + x[r[j]] + kl[j >> 4];
    t = VK_ROTL32(t, s[j]) + el;
    al = el; el = dl; dl = VK_ROTL32(cl, 10); cl = bl; bl = t;
    t = ar + ripemd_f(79 - j, br, cr, dr) + x[rp[j]] + kr[j >> 4];
    t = VK_ROTL32(t, sp[j]) + er;
    ar = er; er = dr; dr = VK_ROTL32(cr, 10); cr = br; br = t;
  }
  W t = h[1] + cl + dr;
  h[1] = h[2] + dl + er;
  h[2] = h[3] + el + ar;
  h[3] = h[4] + al + br;
  h[4] = h[0] + bl + cr;
  h[0] = t;
}

VK_HD_NOINLINE void ripemd160_short(uint8_t digest[20], const uint8_t* msg, int len) {
  uint32_t x[16];
  for (int i = 0; i < 16; i++) x[i] = 0;
  for (int i = 0; i < len; i++) x[i >> 2] |= (uint32_t)msg[i] << (8 * (i & 3));
  x[len >> 2] |= 0x80u << (8 * (len & 3));
  x[14] = (uint32_t)len * 8;
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  ripemd160_compress(h, x);
  for (int i = 0; i < 5; i++) {
    digest[4 * i] = (uint8_t)h[i];
    digest[4 * i + 1] = (uint8_t)(h[i] >> 8);
    digest[4 * i + 2] = (uint8_t)(h[i] >> 16);
    digest[4 * i + 3] = (uint8_t)(h[i] >> 24);
  }
}

// RIPEMD-160 of n <= 8 messages of 32 bytes (the SHA-256 digests of one point's keys).
// On the GPU one after another; on the host side by side, one per vector lane.
VK_HD_NOINLINE void ripemd160_32_many(uint8_t (*digests)[20], const uint8_t (*msgs)[32], int n) {
#if VK_HOST_LANES
  vk_u32x8 x[16], h[5];
  for (int i = 0; i < 16; i++) x[i] = vk_u32x8{} ;
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 8; i++)
      x[i][lane] = (uint32_t)msgs[lane][4 * i] | ((uint32_t)msgs[lane][4 * i + 1] << 8) |
                   ((uint32_t)msgs[lane][4 * i + 2] << 16) | ((uint32_t)msgs[lane][4 * i + 3] << 24);
  x[8] = x[8] + 0x80u;
  x[14] = x[14] + 256u;
  const uint32_t init[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  for (int i = 0; i < 5; i++) h[i] = vk_u32x8{} + init[i];
  ripemd160_compress(h, x);
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 5; i++)
      for (int b = 0; b < 4; b++) digests[lane][4 * i + b] = (uint8_t)(h[i][lane] >> (8 * b));
#else
  for (int lane = 0; lane < n; lane++) ripemd160_short(digests[lane], msgs[lane], 32);
#endif
}

#define VK_RIPEMD160_INIT {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}

// The RIPEMD-160 message block of a SHA-256 digest given as its state words.
VK_HD void ripemd160_block_of_sha256(uint32_t x[16], const uint32_t sha[8]) {
  for (int i = 0; i < 8; i++) x[i] = vk_bswap32(sha[i]);
  x[8] = 0x80u;
  for (int i = 9; i < 16; i++) x[i] = 0;
  x[14] = 256u;
}

#if VK_HOST_LANES
// hash160 words of 16 SHA-256 states, one per lane of a 512-bit vector (the host's batches
// of points: 16 keys fill every lane, where one point's six left a quarter of 8 lanes idle).
static inline void ripemd160_of_sha256_x16(uint32_t (*h)[5], const uint32_t (*sha)[8]) {
  const uint32_t init[5] = VK_RIPEMD160_INIT;
  vk_u32x16 x[16], hv[5];
  for (int i = 0; i < 16; i++) x[i] = vk_u32x16{};
  for (int lane = 0; lane < 16; lane++)
    for (int i = 0; i < 8; i++) x[i][lane] = vk_bswap32(sha[lane][i]);
  x[8] = x[8] + 0x80u;
  x[14] = x[14] + 256u;
  for (int i = 0; i < 5; i++) hv[i] = vk_u32x16{} + init[i];
  ripemd160_compress(hv, x);
  for (int lane = 0; lane < 16; lane++)
    for (int i = 0; i < 5; i++) h[lane][i] = hv[i][lane];
}
#endif

#if VK_HOST_LANES && defined(__AVX512F__)
// hash160 words of 16 SHA-256 states given as vectors (lane = key): h[i][lane].
static inline void ripemd160_of_sha256_vec16(vk_u32x16 h[5], const vk_u32x16 sha[8]) {
  const uint32_t init[5] = VK_RIPEMD160_INIT;
  vk_u32x16 x[16];
  for (int i = 0; i < 8; i++) {
    const vk_u32x16 v = sha[i];  // to little-endian words: a byte swap in every lane
    x[i] = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
  }
  for (int i = 8; i < 16; i++) x[i] = vk_u32x16{};
  x[8] = x[8] + 0x80u;
  x[14] = x[14] + 256u;
  for (int i = 0; i < 5; i++) h[i] = vk_u32x16{} + init[i];
  ripemd160_compress(h, x);
}
#endif

// hash160 words of n <= 8 SHA-256 states: h[k][i] little-endian (digest byte b is
// h[k][b / 4] >> 8 (b % 4)). On the host side by side in vector lanes.
VK_HD void ripemd160_of_sha256_many(uint32_t (*h)[5], const uint32_t (*sha)[8], int n) {
  const uint32_t init[5] = VK_RIPEMD160_INIT;
#if VK_HOST_LANES
  vk_u32x8 x[16], hv[5];
  for (int i = 0; i < 16; i++) x[i] = vk_u32x8{};
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 8; i++) x[i][lane] = vk_bswap32(sha[lane][i]);
  x[8] = x[8] + 0x80u;
  x[14] = x[14] + 256u;
  for (int i = 0; i < 5; i++) hv[i] = vk_u32x8{} + init[i];
  ripemd160_compress(hv, x);
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 5; i++) h[lane][i] = hv[i][lane];
#else
  for (int lane = 0; lane < n; lane++) {
    uint32_t x[16];
    ripemd160_block_of_sha256(x, sha[lane]);
    for (int i = 0; i < 5; i++) h[lane][i] = init[i];
    ripemd160_compress(h[lane], x);
  }
#endif
}
