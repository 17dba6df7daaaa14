// native_driver.cpp: the CPU build of grind.cu. The same device code, run one work item
// per OpenMP iteration on every core; plus small entry points the tests use to check the
// primitives against Python (hashlib, coincurve, pycryptodome).
#include "grind.cu"

#include <omp.h>

extern "C" {

int vk_abi_version(void) { return 2; }

int vk_native_scan(const vk_pattern* pattern, const vk_scan_params* params, const vk_affine* table,
                   vk_candidate* cands, vk_scan_out* out, int threads, vk_affine* centres) {
  if ((params->state_items || params->resume_items) && !centres) return -1;
  if (params->group_size <= 0 || params->group_size > VK_MAX_GROUP || params->group_size % 2) return -1;
  const int64_t items = (int64_t)params->n_items;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t item = 0; item < items; item++) vk_run_item(*pattern, *params, table, (uint64_t)item, cands, out, centres);
  return 0;
}

// ---- primitives, for the tests ----
void vk_test_fe_mul(uint8_t out[32], const uint8_t a[32], const uint8_t b[32]) {
  fe x, y, r;
  fe_from_bytes(x, a); fe_from_bytes(y, b);
  fe_mul(r, x, y);
  fe_to_bytes(out, r);
}

void vk_test_fe_add_sub(uint8_t sum[32], uint8_t diff[32], const uint8_t a[32], const uint8_t b[32]) {
  fe x, y, r;
  fe_from_bytes(x, a); fe_from_bytes(y, b);
  fe_add(r, x, y); fe_to_bytes(sum, r);
  fe_sub(r, x, y); fe_to_bytes(diff, r);
}

void vk_test_fe_inv(uint8_t out[32], const uint8_t a[32]) {
  fe x, r;
  fe_from_bytes(x, a);
  fe_inv(r, x);
  fe_to_bytes(out, r);
}

// k*G (+ Q when q64 is not null) as x || y; returns 0 at infinity.
int vk_test_scalar_mult(uint8_t out[64], const uint8_t k[32], const uint8_t* q64) {
  fe scalar;
  fe_from_bytes(scalar, k);
  vk_affine q, r;
  if (q64) { fe_from_bytes(q.x, q64); fe_from_bytes(q.y, q64 + 32); }
  if (!scalar_mult_base(r, scalar.v, q64 ? &q : 0)) return 0;
  fe_to_bytes(out, r.x); fe_to_bytes(out + 32, r.y);
  return 1;
}

void vk_test_sha256(uint8_t out[32], const uint8_t* msg, int len) { sha256_short(out, msg, len); }
void vk_test_sha256_portable(uint8_t out[32], const uint8_t* msg, int len) { sha256_short_with(out, msg, len, 1); }
int vk_sha_extensions(void) { return VK_SHA_NI; }
void vk_test_ripemd160(uint8_t out[20], const uint8_t* msg, int len) { ripemd160_short(out, msg, len); }
void vk_test_keccak256_64(uint8_t out[32], const uint8_t msg[64]) { keccak256_64(out, msg); }
int vk_test_base58(uint8_t* out, const uint8_t* payload, int len) {
  return len < 1 || len > 36 ? -1 : base58_digits(out, payload, len);
}

// The body digits of point (x, y) in a format, one key at a time (no batching, no range
// filter); returns the length.
int vk_test_body(uint8_t* out, int format, const uint8_t xy[64]) {
  vk_pattern none;
  memset(&none, 0, sizeof(none));
  uint8_t payload[VK_PAYLOAD_MAX], pub33[33], sha[32], digest[32];
  pub33[0] = (uint8_t)(2 + (xy[63] & 1));
  memcpy(pub33 + 1, xy, 32);
  switch (format) {
    case VK_BTC:
      payload[0] = 0x00;
      sha256_short(sha, pub33, 33);
      ripemd160_short(payload + 1, sha, 32);
      break;
    case VK_DID:
      payload[0] = 0xE7;
      payload[1] = 0x01;
      memcpy(payload + 2, pub33, 33);
      break;
    case VK_ETH:
      keccak256_64(digest, xy);
      memcpy(payload, digest + 12, 20);
      break;
    default:
      payload[0] = 0x41;
      keccak256_64(digest, xy);
      memcpy(payload + 1, digest + 12, 20);
  }
  return vk_key_body(out, none, 0, format, payload);
}

// The batched hashes against the one-at-a-time ones: n messages laid out back to back.
void vk_test_ripemd160_32_many(uint8_t* out, const uint8_t* msgs, int n) {
  ripemd160_32_many((uint8_t(*)[20])out, (const uint8_t(*)[32])msgs, n);
}
// beta x || beta^2 x (the endomorphism's two other x's, from one multiplication).
void vk_test_endo_xs(uint8_t out[64], const uint8_t x32[32]) {
  fe x, bx, b2x;
  fe_from_bytes(x, x32);
  vk_endo_xs(bx, b2x, x);
  fe_to_bytes(out, bx);
  fe_to_bytes(out + 32, b2x);
}

// SHA-256 of n <= 6 compressed public keys (33 bytes each, back to back) as the btc walk
// hashes them: vk_pub33_block's padded block, then sha256_blocks (side by side on the host).
void vk_test_sha256_pub33_many(uint8_t* out, const uint8_t* keys, int n) {
  uint32_t blocks[6][16], state[6][8];
  for (int k = 0; k < n; k++) {
    fe x;
    fe_from_bytes(x, keys + 33 * k + 1);
    uint32_t xw[8];
    fe_to_words(xw, x);
    vk_pub33_block(blocks[k], keys[33 * k], xw);
  }
  sha256_blocks(state, blocks, n);
  for (int k = 0; k < n; k++)
    for (int i = 0; i < 32; i++) out[32 * k + i] = (uint8_t)(state[k][i >> 2] >> (24 - 8 * (i & 3)));
}

// hash160 of n <= 16 compressed public keys as the wide btc batch computes them (SHA-256 and
// RIPEMD-160 in the lanes of 512-bit vectors); returns 0 in a build without them.
int vk_test_hash160_pub33_x16(uint8_t* out, const uint8_t* keys, int n) {
#if VK_SHA_X16
  vk_u32x16 words[9], state[8], h[5];
  for (int i = 0; i < 9; i++) words[i] = vk_u32x16{};
  for (int k = 0; k < n; k++) {
    fe x;
    fe_from_bytes(x, keys + 33 * k + 1);
    uint32_t xw[8], block[16];
    fe_to_words(xw, x);
    vk_pub33_block(block, keys[33 * k], xw);
    for (int i = 0; i < 9; i++) words[i][k] = block[i];
  }
  sha256_pub33_x16(state, words);
  ripemd160_of_sha256_vec16(h, state);
  for (int k = 0; k < n; k++)
    for (int i = 0; i < 20; i++) out[20 * k + i] = (uint8_t)(h[i >> 2][k] >> (8 * (i & 3)));
  return 1;
#else
  return 0;
#endif
}

void vk_test_keccak256_64_many(uint8_t* out, const uint8_t* msgs, int n) {
  keccak256_64_many((uint8_t(*)[32])out, (const uint8_t(*)[64])msgs, n);
}

int vk_test_score(const vk_pattern* pattern, const uint8_t* body, int len) { return vk_score(*pattern, body, len); }

// 1 when the range filter lets `payload` (all bytes known) through at `level`.
int vk_test_prefix_possible(const vk_pattern* pattern, int level, const uint8_t* payload, int len) {
  uint32_t words[VK_RANGE_WORDS];
  vk_payload_words(words, payload, len);
  return vk_prefix_possible(*pattern, level, words, words);
}

// 1 when the 64-bit head filter lets `payload` of the format through at `level`.
int vk_test_head_possible(const vk_pattern* pattern, int level, const uint8_t* payload, int format) {
  return vk_head_possible(*pattern, level, vk_payload_head(payload, format == VK_DID ? 2 : 1));
}

// The batched btc bodies (host lanes) of n <= 6 payloads 0x00 || hash160 || checksum (25 bytes
// each, back to back): body digits into out (VK_MAX_BODY per key), lengths into lens.
int vk_test_btc_bodies(uint8_t* out, int* lens, const uint8_t* payloads, int n) {
#if VK_HOST_LANES
  uint32_t h[6][5], sums[6];
  for (int k = 0; k < n; k++) {
    const uint8_t* p = payloads + 25 * k;
    for (int i = 0; i < 5; i++)
      h[k][i] = (uint32_t)p[1 + 4 * i] | ((uint32_t)p[2 + 4 * i] << 8) | ((uint32_t)p[3 + 4 * i] << 16) |
                ((uint32_t)p[4 + 4 * i] << 24);
    sums[k] = ((uint32_t)p[21] << 24) | ((uint32_t)p[22] << 16) | ((uint32_t)p[23] << 8) | p[24];
  }
  vk_btc_bodies((uint8_t(*)[VK_MAX_BODY])out, lens, (const uint32_t(*)[5])h, sums, n);
  return 1;
#else
  return 0;
#endif
}

// 1 when the host's bound rules out every checksum of the btc key with this hash160 (20 bytes)
// at `threshold`; -1 without host lanes (no such bound in this build).
int vk_test_btc_cannot_reach(const vk_pattern* pattern, const uint8_t* hash160, int threshold) {
#if VK_HOST_LANES
  uint32_t h[5];
  for (int i = 0; i < 5; i++)
    h[i] = (uint32_t)hash160[4 * i] | ((uint32_t)hash160[4 * i + 1] << 8) | ((uint32_t)hash160[4 * i + 2] << 16) |
           ((uint32_t)hash160[4 * i + 3] << 24);
  return vk_btc_cannot_reach(*pattern, h, threshold);
#else
  return -1;
#endif
}

int vk_sizeof_pattern(void) { return (int)sizeof(vk_pattern); }
int vk_sizeof_params(void) { return (int)sizeof(vk_scan_params); }
int vk_sizeof_out(void) { return (int)sizeof(vk_scan_out); }
}
