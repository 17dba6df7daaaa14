// sha256.cuh: SHA-256 of one short message (at most 55 bytes: one block).
#pragma once
#include "vk_common.cuh"

#define VK_ROTR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

#define VK_SHA_CH(e, f, g) (((e) & (f)) ^ (~(e) & (g)))
#define VK_SHA_MAJ(a, b, c) (((a) & (b)) ^ ((a) & (c)) ^ ((b) & (c)))
#define VK_SHA_S0(a) (VK_ROTR32(a, 2) ^ VK_ROTR32(a, 13) ^ VK_ROTR32(a, 22))
#define VK_SHA_S1(e) (VK_ROTR32(e, 6) ^ VK_ROTR32(e, 11) ^ VK_ROTR32(e, 25))
#define VK_SHA_G0(w) (VK_ROTR32(w, 7) ^ VK_ROTR32(w, 18) ^ ((w) >> 3))
#define VK_SHA_G1(w) (VK_ROTR32(w, 17) ^ VK_ROTR32(w, 19) ^ ((w) >> 10))

// FIPS 180-4, 4.2.2: the round constants, shared by the portable and the SHA-extension compress.
#define VK_SHA256_K                                                                                   \
  {0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, \
   0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, \
   0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, \
   0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, \
   0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, \
   0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, \
   0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, \
   0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2}

VK_HD void sha256_compress_portable(uint32_t state[8], const uint32_t block[16]) {
  const uint32_t k[64] = VK_SHA256_K;
  uint32_t w[64];
  VK_UNROLL
  for (int i = 0; i < 16; i++) w[i] = block[i];
  VK_UNROLL
  for (int i = 16; i < 64; i++) w[i] = w[i - 16] + VK_SHA_G0(w[i - 15]) + w[i - 7] + VK_SHA_G1(w[i - 2]);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
  VK_UNROLL
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + VK_SHA_S1(e) + VK_SHA_CH(e, f, g) + k[i] + w[i];
    uint32_t t2 = VK_SHA_S0(a) + VK_SHA_MAJ(a, b, c);
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  state[0] += a; state[1] += b; state[2] += c; state[3] += d;
  state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

#if !VK_ON_GPU && defined(__SHA__) && defined(__SSE4_1__) && !defined(__CUDACC__) && !defined(VK_PORTABLE_HOST)
// x86 hosts with the SHA extensions (AMD Zen, Intel since Ice Lake): the one place the
// native build swaps a primitive above the field arithmetic, because SHA-256 is most of a
// Bitcoin key's cost on a CPU. The portable compress above is what the GPU runs; the tests
// check both against hashlib (vk_test_sha256 and vk_test_sha256_portable).
#include <immintrin.h>
#define VK_SHA_NI 1

// N independent messages, their rounds interleaved: one SHA-256 round instruction waits
// for the previous one of its own message only, so N messages fill the pipeline.
//
// The SHA instructions exist only in the legacy SSE encoding. Run while a 256/512-bit
// instruction has left the vector registers' upper halves dirty, each switch between the two
// encodings costs a state transition: cheap on bare metal, but about 0.5 us where a
// hypervisor handles it (measured on the shared dev box). So the rounds run in a function of
// their own (no vector register lives across a call) that first clears the upper halves, and
// inside it every other instruction is 128-bit VEX, which keeps them clear.
template <int N>
static __attribute__((noinline)) void sha256_compress_lanes(uint32_t (*state)[8], const uint32_t (*block)[16]) {
  static const uint32_t k[64] __attribute__((aligned(16))) = VK_SHA256_K;
  _mm256_zeroupper();
  __m128i state0[N], state1[N], abef[N], cdgh[N], m[N][4];
  VK_UNROLL
  for (int l = 0; l < N; l++) {
    __m128i tmp = _mm_loadu_si128((const __m128i*)&state[l][0]);
    __m128i s1 = _mm_loadu_si128((const __m128i*)&state[l][4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                 // CDAB
    s1 = _mm_shuffle_epi32(s1, 0x1B);                   // EFGH
    state0[l] = _mm_alignr_epi8(tmp, s1, 8);            // ABEF
    state1[l] = _mm_blend_epi16(s1, tmp, 0xF0);         // CDGH
    abef[l] = state0[l];
    cdgh[l] = state1[l];
    VK_UNROLL
    for (int i = 0; i < 4; i++) m[l][i] = _mm_loadu_si128((const __m128i*)(block[l] + 4 * i));
  }
  VK_UNROLL
  for (int q = 0; q < 16; q++) {  // four rounds per step, message schedule interleaved
    const __m128i kq = _mm_load_si128((const __m128i*)(k + 4 * q));
    VK_UNROLL
    for (int l = 0; l < N; l++) {
      __m128i msg = _mm_add_epi32(m[l][q & 3], kq);
      state1[l] = _mm_sha256rnds2_epu32(state1[l], state0[l], msg);
      if (q >= 3 && q <= 14) {
        __m128i next = _mm_add_epi32(m[l][(q + 1) & 3], _mm_alignr_epi8(m[l][q & 3], m[l][(q + 3) & 3], 4));
        m[l][(q + 1) & 3] = _mm_sha256msg2_epu32(next, m[l][q & 3]);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      state0[l] = _mm_sha256rnds2_epu32(state0[l], state1[l], msg);
      if (q >= 1 && q <= 12) m[l][(q + 3) & 3] = _mm_sha256msg1_epu32(m[l][(q + 3) & 3], m[l][q & 3]);
    }
  }
  VK_UNROLL
  for (int l = 0; l < N; l++) {
    __m128i s0 = _mm_add_epi32(state0[l], abef[l]);
    __m128i s1 = _mm_add_epi32(state1[l], cdgh[l]);
    __m128i tmp = _mm_shuffle_epi32(s0, 0x1B);          // FEBA
    s1 = _mm_shuffle_epi32(s1, 0xB1);                   // DCHG
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);                // DCBA
    s1 = _mm_alignr_epi8(s1, tmp, 8);                   // HGFE
    _mm_storeu_si128((__m128i*)&state[l][0], s0);
    _mm_storeu_si128((__m128i*)&state[l][4], s1);
  }
}

static inline void sha256_compress(uint32_t state[8], const uint32_t block[16]) {
  sha256_compress_lanes<1>((uint32_t(*)[8])state, (const uint32_t(*)[16])block);
}
#else
#define VK_SHA_NI 0
VK_HD void sha256_compress(uint32_t state[8], const uint32_t block[16]) { sha256_compress_portable(state, block); }
#endif

#define VK_SHA256_INIT {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

#if VK_HOST_LANES && defined(__AVX512F__)
// 512-bit vectors: SHA-256 of 16 compressed public keys at once, one per lane, in plain
// vector instructions (rotates and three-input logic are one instruction each). On the
// Xeon dev box this beats the SHA extensions, whose round instruction has a single unit:
// their 32 rounds per block waited on it while the vector ports idled.
#define VK_SHA_X16 1

// The compress of sha256_compress_portable, W = 16 lanes, its schedule kept as a rolling
// window of 16 words. `words` are the 9 words of the block that depend on the key: the
// padding of a 33-byte message (words 9..14 zero, 15 its bit length) and the initial state
// are constants, so the compiler folds what they feed (the schedule terms of zero words,
// the first rounds' state-only parts).
static inline void sha256_pub33_x16(vk_u32x16 state[8], const vk_u32x16 words[9]) {
  typedef vk_u32x16 W;
  const uint32_t k[64] = VK_SHA256_K;
  const uint32_t init[8] = VK_SHA256_INIT;
  W w[16];
  VK_UNROLL
  for (int i = 0; i < 9; i++) w[i] = words[i];
  VK_UNROLL
  for (int i = 9; i < 15; i++) w[i] = W{};
  w[15] = W{} + (uint32_t)(33 * 8);
  W a = W{} + init[0], b = W{} + init[1], c = W{} + init[2], d = W{} + init[3];
  W e = W{} + init[4], f = W{} + init[5], g = W{} + init[6], h = W{} + init[7];
  VK_UNROLL
  for (int i = 0; i < 64; i++) {
    if (i >= 16)
      w[i & 15] = w[i & 15] + VK_SHA_G0(w[(i - 15) & 15]) + w[(i - 7) & 15] + VK_SHA_G1(w[(i - 2) & 15]);
    const W t1 = h + VK_SHA_S1(e) + VK_SHA_CH(e, f, g) + k[i] + w[i & 15];
    const W t2 = VK_SHA_S0(a) + VK_SHA_MAJ(a, b, c);
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  state[0] = a + init[0]; state[1] = b + init[1]; state[2] = c + init[2]; state[3] = d + init[3];
  state[4] = e + init[4]; state[5] = f + init[5]; state[6] = g + init[6]; state[7] = h + init[7];
}
#else
#define VK_SHA_X16 0
#endif

// n <= 6 one-block messages (already padded words) from the initial state; the host
// interleaves them where it has the SHA extensions, the GPU hashes one after another.
VK_HD void sha256_blocks(uint32_t (*state)[8], const uint32_t (*block)[16], int n) {
  const uint32_t init[8] = VK_SHA256_INIT;
  for (int l = 0; l < n; l++)
    for (int i = 0; i < 8; i++) state[l][i] = init[i];
#if VK_SHA_NI
  int l = 0;
  for (; l + 3 <= n; l += 3) sha256_compress_lanes<3>(state + l, block + l);
  if (n - l == 2) sha256_compress_lanes<2>(state + l, block + l);
  if (n - l == 1) sha256_compress_lanes<1>(state + l, block + l);
#else
  for (int l = 0; l < n; l++) sha256_compress(state[l], block[l]);
#endif
}

// digest = SHA-256(msg[0..len)), len <= 55; digest as 32 big-endian bytes.
VK_HD void sha256_short_with(uint8_t digest[32], const uint8_t* msg, int len, int portable) {
  uint32_t w[16];
  for (int i = 0; i < 16; i++) w[i] = 0;
  for (int i = 0; i < len; i++) w[i >> 2] |= (uint32_t)msg[i] << (24 - 8 * (i & 3));
  w[len >> 2] |= 0x80u << (24 - 8 * (len & 3));
  w[15] = (uint32_t)len * 8;
  uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  if (portable) sha256_compress_portable(state, w); else sha256_compress(state, w);
  for (int i = 0; i < 8; i++) {
    digest[4 * i] = (uint8_t)(state[i] >> 24);
    digest[4 * i + 1] = (uint8_t)(state[i] >> 16);
    digest[4 * i + 2] = (uint8_t)(state[i] >> 8);
    digest[4 * i + 3] = (uint8_t)state[i];
  }
}

VK_HD_NOINLINE void sha256_short(uint8_t digest[32], const uint8_t* msg, int len) {
  sha256_short_with(digest, msg, len, 0);
}

// The base58check checksum: the first 4 bytes of SHA-256(SHA-256(payload)), len <= 55.
// The second hash takes the first one's state words as its message block directly.
VK_HD void base58check_checksum(uint8_t out[4], const uint8_t* payload, int len) {
  uint32_t w[16];
  for (int i = 0; i < 16; i++) w[i] = 0;
  for (int i = 0; i < len; i++) w[i >> 2] |= (uint32_t)payload[i] << (24 - 8 * (i & 3));
  w[len >> 2] |= 0x80u << (24 - 8 * (len & 3));
  w[15] = (uint32_t)len * 8;
  uint32_t once[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  sha256_compress(once, w);
  for (int i = 0; i < 8; i++) w[i] = once[i];
  w[8] = 0x80000000u;
  for (int i = 9; i < 15; i++) w[i] = 0;
  w[15] = 256;
  uint32_t twice[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  sha256_compress(twice, w);
  for (int i = 0; i < 4; i++) out[i] = (uint8_t)(twice[0] >> (24 - 8 * i));
}
