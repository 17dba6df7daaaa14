// keccak.cuh: Keccak-256 (the original padding Ethereum uses, not SHA3-256) of 64 bytes.
#pragma once
#include "vk_common.cuh"

#define VK_ROTL64(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

// W is uint64_t (one state) or, on the host, a vector of 64-bit lanes (one state per lane).
template <typename W>
VK_HD void keccak_f1600(W a[25]) {
  const uint64_t rc[24] = {
      0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
      0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
      0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
      0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
      0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
      0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
  const int rotation[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};
  for (int round = 0; round < 24; round++) {
    W c[5], b[25];
VK_UNROLL
    for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
VK_UNROLL
    for (int x = 0; x < 5; x++) {
      W d = c[(x + 4) % 5] ^ VK_ROTL64(c[(x + 1) % 5], 1);
VK_UNROLL
      for (int y = 0; y < 25; y += 5) a[y + x] ^= d;
    }
    // rho and pi: lane (x, y) moves to (y, 2x + 3y).
VK_UNROLL
    for (int x = 0; x < 5; x++) {
VK_UNROLL
      for (int y = 0; y < 5; y++) {
        int n = rotation[x + 5 * y];
        W lane = a[x + 5 * y];
        b[y + 5 * ((2 * x + 3 * y) % 5)] = n ? VK_ROTL64(lane, n) : lane;
      }
    }
VK_UNROLL
    for (int y = 0; y < 25; y += 5) {
VK_UNROLL
      for (int x = 0; x < 5; x++) a[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
    }
    a[0] ^= rc[round];
  }
}

// digest = Keccak-256(msg[0..64)), 32 bytes.
VK_HD_NOINLINE void keccak256_64(uint8_t digest[32], const uint8_t msg[64]) {
  uint64_t a[25];
  for (int i = 0; i < 25; i++) a[i] = 0;
  for (int i = 0; i < 8; i++) {
    uint64_t lane = 0;
    for (int j = 7; j >= 0; j--) lane = (lane << 8) | msg[8 * i + j];
    a[i] = lane;
  }
  a[8] ^= 0x01ULL;                 // pad10*1 at byte 64 ...
  a[16] ^= 0x8000000000000000ULL;  // ... and the last byte of the 136-byte rate
  keccak_f1600(a);
  for (int i = 0; i < 32; i++) digest[i] = (uint8_t)(a[i >> 3] >> (8 * (i & 7)));
}

// Keccak-256 of n <= 8 messages of 64 bytes (one point's six (x, y) variants).
VK_HD_NOINLINE void keccak256_64_many(uint8_t (*digests)[32], const uint8_t (*msgs)[64], int n) {
#if VK_HOST_LANES
  vk_u64x8 a[25];
  for (int i = 0; i < 25; i++) a[i] = vk_u64x8{};
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 8; i++) {
      uint64_t word = 0;
      for (int j = 7; j >= 0; j--) word = (word << 8) | msgs[lane][8 * i + j];
      a[i][lane] = word;
    }
  a[8] = a[8] ^ 0x01ULL;
  a[16] = a[16] ^ 0x8000000000000000ULL;
  keccak_f1600(a);
  for (int lane = 0; lane < n; lane++)
    for (int i = 0; i < 32; i++) digests[lane][i] = (uint8_t)(a[i >> 3][lane] >> (8 * (i & 7)));
#else
  for (int lane = 0; lane < n; lane++) keccak256_64(digests[lane], msgs[lane]);
#endif
}
