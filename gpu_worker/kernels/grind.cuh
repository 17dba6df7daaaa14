// grind.cuh: one thread's run of consecutive points, six keys per point, scored against
// the compiled pattern; candidates appended to a small buffer behind an atomic counter.
#pragma once
#include "encode.cuh"
#include "keccak.cuh"
#include "match.cuh"
#include "point.cuh"
#include "ripemd160.cuh"
#include "sha256.cuh"

#ifndef VK_MAX_GROUP
#define VK_MAX_GROUP 1024  // points per batch inversion (P - (G/2)..P + (G/2 - 1))
#endif

// Layouts mirrored by gpu_worker/kernel_plan.py (ctypes): keep the two in step.
typedef struct {
  uint64_t base_scalar[4];  // (start + first point of this scan) mod n, little-endian limbs
  vk_affine split_q;        // Q in split-key mode
  vk_affine jump;           // group_size * G: from one group's centre to the next
  vk_affine resume_jump;    // from an item's centre in the previous launch to this one's
  uint64_t n_points;        // points in this scan, counted from base_scalar
  uint64_t key_lo;          // key-index window [key_lo, key_hi), relative to base point * keys_per_point
  uint64_t key_hi;
  uint64_t points_per_item; // a multiple of group_size
  uint64_t n_items;
  int32_t group_size;       // even, <= VK_MAX_GROUP
  int32_t format;           // vk_format_id
  int32_t split;
  int32_t min_score;
  int32_t max_candidates;
  uint32_t capacity;        // candidate buffer slots
  uint32_t state_items;     // items whose first centre is kept in `centres` for the next launch
  uint32_t resume_items;    // items that start from their kept centre instead of a scalar multiplication
  int32_t resume_moves;     // 1: add resume_jump to the kept centre; 0: it is this launch's centre already
  int32_t reserved;
} vk_scan_params;

typedef struct {
  uint64_t key;  // relative key index
  uint32_t score;
  uint32_t reserved;
} vk_candidate;

typedef struct {
  uint32_t count;  // candidates reported (may exceed capacity: then the host splits the scan)
  uint32_t error;  // nonzero: a degenerate point (infinity / equal x); the host falls back
  uint32_t hist[VK_MAX_SCORE + 1];
} vk_scan_out;

#define VK_ERROR_DEGENERATE 1u

VK_HD uint32_t vk_atomic_add(uint32_t* where, uint32_t value) {
#if VK_ON_GPU
  return atomicAdd(where, value);
#else
  return __atomic_fetch_add(where, value, __ATOMIC_RELAXED);
#endif
}

VK_HD void vk_atomic_or(uint32_t* where, uint32_t value) {
#if VK_ON_GPU
  atomicOr(where, value);
#else
  __atomic_fetch_or(where, value, __ATOMIC_RELAXED);
#endif
}

#if VK_HOST_LANES && VK_SHA_NI
#define VK_BTC_PIPE 1  // the host's pipelined btc hashing (vk_btc_batch, below)
struct vk_btc_batch;
#else
#define VK_BTC_PIPE 0
#endif

// The thread's own best scores: once it holds max_candidates of them, a key must reach
// the lowest to matter (ties still go out: the host ranks ties by key index).
typedef struct {
  int32_t scores[VK_LOCAL_TOP];
  int32_t held;
  int32_t want;  // max_candidates when <= VK_LOCAL_TOP, else 0 (no local pruning)
  int32_t floor; // plan min_score
#if VK_BTC_PIPE
  vk_btc_batch* batch;  // the item's queue of btc keys to hash; null for other formats and split keys
#endif
} vk_local_best;

VK_HD int vk_threshold(const vk_local_best& best) {
  if (best.want > 0 && best.held >= best.want) {
    int low = best.scores[best.want - 1];
    return low > best.floor ? low : best.floor;
  }
  return best.floor;
}

VK_HD void vk_report(const vk_scan_params& prm, vk_local_best& best, uint64_t key, int score,
                     vk_candidate* cands, vk_scan_out* out) {
  if (score < vk_threshold(best)) return;
  if (best.want > 0) {
    // insert into the descending list, dropping the lowest when full
    int n = best.held < best.want ? best.held + 1 : best.want;
    int i = n - 1;
    if (best.held < best.want || score > best.scores[i]) {
      while (i > 0 && best.scores[i - 1] < score) {
        best.scores[i] = best.scores[i - 1];
        i--;
      }
      best.scores[i] = score;
      best.held = n;
    }
  }
  uint32_t slot = vk_atomic_add(&out->count, 1u);
  if (slot < prm.capacity) {
    cands[slot].key = key;
    cands[slot].score = (uint32_t)score;
    cands[slot].reserved = 0;
  }
  vk_atomic_add(&out->hist[score], 1u);
}

// The payload number's words for the range filter: bytes right-aligned in 9 big-endian words.
VK_HD void vk_payload_words(uint32_t words[VK_RANGE_WORDS], const uint8_t* payload, int len) {
  uint8_t bytes[VK_RANGE_WORDS * 4];
  const int offset = VK_RANGE_WORDS * 4 - len;
  for (int i = 0; i < offset; i++) bytes[i] = 0;
  for (int i = 0; i < len; i++) bytes[offset + i] = payload[i];
  for (int w = 0; w < VK_RANGE_WORDS; w++)
    words[w] = ((uint32_t)bytes[4 * w] << 24) | ((uint32_t)bytes[4 * w + 1] << 16) | ((uint32_t)bytes[4 * w + 2] << 8) |
               bytes[4 * w + 3];
}

// Is scoring this key pointless? Only when the pattern starts anchored and the threshold
// is out of reach of the other terms. Payload bytes from `known` on (a checksum not
// computed yet) may be anything: the key is rejected only if no value of them could match.
VK_HD int vk_range_rejects(const vk_pattern& pat, int threshold, const uint8_t* payload, int len, int known) {
  if (pat.range_levels == 0) return 0;
  const int level = threshold - pat.rest_len;
  if (level <= 0) return 0;
  uint32_t low[VK_RANGE_WORDS], high[VK_RANGE_WORDS];
  vk_payload_words(low, payload, len);  // the caller zeroed the unknown bytes
  const int offset = VK_RANGE_WORDS * 4 - len;
  for (int w = 0; w < VK_RANGE_WORDS; w++) high[w] = low[w];
  for (int i = known; i < len; i++) {
    const int at = offset + i;
    high[at >> 2] |= 0xFFu << (24 - 8 * (at & 3));
  }
  return !vk_prefix_possible(pat, level, low, high);
}

// The payload each format encodes, as far as the kernel needs it:
//   btc: 0x00 || hash160 || 4 checksum bytes (filled in here)   25 bytes
//   trx: 0x41 || keccak address || 4 checksum bytes              25 bytes
//   did: 0xe7 0x01 || compressed public key                      35 bytes
//   eth: the 20-byte address
#define VK_PAYLOAD_MAX 35

// Body digits of one key's identifier from its payload; returns the body length, or 0 when
// the range filter shows the key cannot reach `threshold`.
// `checksum`: the base58check checksum's first word when the caller computed it already.
VK_HD int vk_key_body(uint8_t* body, const vk_pattern& pat, int threshold, int format, uint8_t* payload,
                      const uint32_t* checksum = 0) {
  uint8_t digits[56];
  if (format == VK_ETH) {
    hex_digits(body, payload, 20);
    return 40;
  }
  if (format == VK_DID) {
    if (vk_range_rejects(pat, threshold, payload, 35, 35)) return 0;
    int n = base58_digits(digits, payload, 35);
    for (int i = 4; i < n; i++) body[i - 4] = digits[i];  // past "Q3sh"
    return n - 4;
  }
  payload[21] = payload[22] = payload[23] = payload[24] = 0;
  if (vk_range_rejects(pat, threshold, payload, 25, 21)) return 0;
  if (checksum) {
    for (int i = 0; i < 4; i++) payload[21 + i] = (uint8_t)(*checksum >> (24 - 8 * i));
  } else {
    base58check_checksum(payload + 21, payload, 21);
  }
  int n = base58_digits(digits, payload, 25);
  for (int i = 1; i < n; i++) body[i - 1] = digits[i];  // past the version byte's '1' / 'T'
  return n - 1;
}

// The payload's 64-bit head: its 8 bytes after the format's constant leading bytes.
VK_HD uint64_t vk_payload_head(const uint8_t* payload, int skip) {
  uint64_t head = 0;
  for (int i = 0; i < 8; i++) head = (head << 8) | payload[skip + i];
  return head;
}

// 0 when the range filter's head intervals show a key cannot reach `threshold`.
VK_HD int vk_head_may_reach(const vk_pattern& pat, int threshold, uint64_t head) {
  const int level = threshold - pat.rest_len;
  return pat.range_levels == 0 || level <= 0 || vk_head_possible(pat, level, head);
}

// Score one key from its payload and report it when it qualifies.
VK_HD_NOINLINE void vk_check_payload(const vk_pattern& pat, const vk_scan_params& prm, vk_local_best& best, uint64_t key,
                            uint8_t* payload, vk_candidate* cands, vk_scan_out* out, const uint32_t* checksum = 0) {
  const int threshold = vk_threshold(best);
  if (threshold > pat.max_score) return;
  if (prm.format != VK_ETH && !vk_head_may_reach(pat, threshold, vk_payload_head(payload, prm.format == VK_DID ? 2 : 1)))
    return;
  uint8_t body[VK_MAX_BODY];
  const int blen = vk_key_body(body, pat, threshold, prm.format, payload, checksum);
  if (blen == 0) return;
  vk_report(prm, best, key, vk_score(pat, body, blen), cands, out);
}

// SHA-256's one padded block of the compressed key prefix || x (33 bytes), from x's words.
VK_HD void vk_pub33_block(uint32_t block[16], uint32_t prefix, const uint32_t xw[8]) {
  block[0] = (prefix << 24) | (xw[0] >> 8);
  for (int i = 1; i < 8; i++) block[i] = (xw[i - 1] << 24) | (xw[i] >> 8);
  block[8] = (xw[7] << 24) | 0x00800000u;
  for (int i = 9; i < 15; i++) block[i] = 0;
  block[15] = 33 * 8;
}

// hash160 (RIPEMD-160 of SHA-256) of the compressed key prefix || x, word for word in registers.
VK_HD void vk_hash160_pub33(uint32_t h[5], uint32_t prefix, const uint32_t xw[8]) {
  uint32_t block[16], sha[8] = VK_SHA256_INIT;
  vk_pub33_block(block, prefix, xw);
  sha256_compress(sha, block);
  uint32_t x[16];
  ripemd160_block_of_sha256(x, sha);
  const uint32_t init[5] = VK_RIPEMD160_INIT;
  for (int i = 0; i < 5; i++) h[i] = init[i];
  ripemd160_compress(h, x);
}

// One btc key from its hash160 words: the head filter first, bytes only for the few it passes.
VK_HD void vk_check_hash160(const vk_pattern& pat, const vk_scan_params& prm, vk_local_best& best, uint64_t key,
                            const uint32_t h[5], vk_candidate* cands, vk_scan_out* out,
                            const uint32_t* checksum = 0) {
  if (key < prm.key_lo || key >= prm.key_hi) return;
  const int threshold = vk_threshold(best);
  if (threshold > pat.max_score) return;
  if (!vk_head_may_reach(pat, threshold, ((uint64_t)vk_bswap32(h[0]) << 32) | vk_bswap32(h[1]))) return;
  uint8_t payload[VK_PAYLOAD_MAX];
  payload[0] = 0x00;
  for (int i = 0; i < 20; i++) payload[1 + i] = (uint8_t)(h[i >> 2] >> (8 * (i & 3)));
  vk_check_payload(pat, prm, best, key, payload, cands, out, checksum);
}

// First words of the base58check checksums of n btc payloads 0x00 || hash160, from the
// hash160 words (both SHA-256 passes interleaved across the keys on the host).
VK_HD void vk_btc_checksums(uint32_t* sums, const uint32_t (*h)[5], int n) {
  uint32_t blocks[6][16], state[6][8];
  for (int k = 0; k < n; k++) {
    uint32_t hb[5];
    for (int i = 0; i < 5; i++) hb[i] = vk_bswap32(h[k][i]);
    blocks[k][0] = hb[0] >> 8;  // the version byte 0x00, then hash160
    for (int i = 1; i < 5; i++) blocks[k][i] = (hb[i - 1] << 24) | (hb[i] >> 8);
    blocks[k][5] = (hb[4] << 24) | 0x00800000u;
    for (int i = 6; i < 15; i++) blocks[k][i] = 0;
    blocks[k][15] = 21 * 8;
  }
  sha256_blocks(state, blocks, n);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < 8; i++) blocks[k][i] = state[k][i];
    blocks[k][8] = 0x80000000u;
    for (int i = 9; i < 15; i++) blocks[k][i] = 0;
    blocks[k][15] = 256;
  }
  sha256_blocks(state, blocks, n);
  for (int k = 0; k < n; k++) sums[k] = state[k][0];
}

#if VK_HOST_LANES
// The btc body digits (base58 past the version byte's '1') of n keys from their hash160 and
// checksum words, the long divisions of all keys interleaved (each one a chain of dependent
// divisions: side by side they overlap). The digits vk_key_body gives; blen[k] their count.
static inline void vk_btc_bodies(uint8_t (*body)[VK_MAX_BODY], int* blen, const uint32_t (*h)[5], const uint32_t* sums,
                                 int n) {
  uint32_t w[6][6];  // hash160 || checksum: 192 bits, big-endian words (the version byte is 0)
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < 5; i++) w[k][i] = vk_bswap32(h[k][i]);
    w[k][5] = sums[k];
  }
  uint8_t rev[6][35];  // digits, least significant first: 2^192 < 58^33, 7 passes of 5 digits
  for (int pass = 0; pass < 7; pass++) {
    uint32_t r[6] = {0, 0, 0, 0, 0, 0};
    for (int i = (29 * pass) / 32; i < 6; i++) {  // words above are zero by now (58^5 > 2^29)
      for (int k = 0; k < n; k++) {
        const uint64_t cur = ((uint64_t)r[k] << 32) | w[k][i];
        w[k][i] = (uint32_t)(cur / VK_58_POW5);
        r[k] = (uint32_t)(cur % VK_58_POW5);
      }
    }
    for (int d = 0; d < 5; d++) {
      for (int k = 0; k < n; k++) {
        rev[k][5 * pass + d] = (uint8_t)(r[k] % 58);
        r[k] /= 58;
      }
    }
  }
  for (int k = 0; k < n; k++) {
    int digits = 35;
    while (digits > 0 && rev[k][digits - 1] == 0) digits--;
    int zero_bytes = 0;  // leading zero bytes after the version byte: one '1' each
    while (zero_bytes < 24) {
      const uint8_t byte = zero_bytes < 20 ? (uint8_t)(h[k][zero_bytes >> 2] >> (8 * (zero_bytes & 3)))
                                           : (uint8_t)(sums[k] >> (24 - 8 * (zero_bytes - 20)));
      if (byte != 0) break;
      zero_bytes++;
    }
    for (int i = 0; i < zero_bytes; i++) body[k][i] = 0;
    for (int i = 0; i < digits; i++) body[k][zero_bytes + i] = rev[k][digits - 1 - i];
    blen[k] = zero_bytes + digits;
  }
}
#endif

#if VK_HOST_LANES
// A single term's score with the body's digits from `known` on unknown: each may be any digit.
// The most the key can score (a term's longest prefix at a position only grows when digits may
// be anything); more than one term is not bounded this way (a longer first match moves the
// second term's start).
static inline int vk_single_term_bound(const vk_pattern& pat, const uint8_t* body, int known, int blen) {
  const uint64_t* cls = pat.cls + pat.term_start[0];
  const int len = pat.term_len[0];
  if (!pat.anchored_start && pat.anchored_end) {  // vk_score: the term's last m characters end the body
    for (int m = len; m > 0; m--) {
      const int at = blen - m;
      if (at < 0) continue;
      int i = 0;
      while (i < m && (at + i >= known || vk_accepts(cls[len - m + i], body[at + i]))) i++;
      if (i == m) return m;
    }
    return 0;
  }
  int best = 0;
  const uint64_t first = cls[0];
  for (int at = 0; at < blen && best < len; at++) {
    if (at < known && !vk_accepts(first, body[at])) {  // most positions: not even the first character
      if (pat.anchored_start) return 0;
      continue;
    }
    const int limit = blen - at < len ? blen - at : len;
    int m = 0;
    while (m < limit && (at + m >= known || vk_accepts(cls[m], body[at + m]))) m++;
    if (pat.anchored_start) return m;  // its prefix at the start only
    if (m > best) best = m;
  }
  return best;
}

// Certainly below `threshold` whatever its checksum? A btc body is base58 of hash160 || checksum:
// N = H * 2^32 + C. When every C < 2^32 leaves N / 58^6 the same (about 89% of keys), the
// body is the digits of that quotient then 6 digits that depend on C; scored with those 6 as
// wildcards, a single-term pattern's score cannot be higher. Then the two SHA-256 passes of
// the checksum and the full base58 are skipped for most keys of an unanchored pattern.
static inline int vk_btc_cannot_reach(const vk_pattern& pat, const uint32_t h[5], int threshold) {
  // The 6 unknown digits alone can hold 6 characters of an unanchored term: below 7 the bound
  // never rejects, and working it out would only cost time.
  if (pat.n_terms != 1 || threshold <= 0 || (!pat.anchored_start && threshold <= 6)) return 0;
  uint32_t w[6];
  for (int i = 0; i < 5; i++) w[i] = vk_bswap32(h[i]);
  w[5] = 0;
  if ((w[0] >> 24) == 0) return 0;  // a leading zero byte is a '1' of its own: the exact path
  // N0 = H * 2^32 divided by 58^6 as two divisions by 58^3 (64-bit throughout).
  const uint64_t a = 195112;  // 58^3
  uint64_t r1 = 0, r2 = 0;
  uint32_t q[6];
  for (int i = 0; i < 6; i++) {
    const uint64_t cur = (r1 << 32) | w[i];
    w[i] = (uint32_t)(cur / a);
    r1 = cur % a;
  }
  for (int i = 0; i < 6; i++) {
    const uint64_t cur = (r2 << 32) | w[i];
    q[i] = (uint32_t)(cur / a);
    r2 = cur % a;
  }
  const uint64_t low = r2 * a + r1;  // N0 mod 58^6
  if (low + 0xFFFFFFFFull >= a * a) return 0;  // some C carries into the quotient
  uint8_t rev[36];
  int digits = 0;
  for (int pass = 0; pass < 7; pass++) {
    uint32_t r = 0;
    for (int i = 0; i < 6; i++) {
      const uint64_t cur = ((uint64_t)r << 32) | q[i];
      q[i] = (uint32_t)(cur / VK_58_POW5);
      r = (uint32_t)(cur % VK_58_POW5);
    }
    for (int d = 0; d < 5; d++) {
      rev[digits++] = (uint8_t)(r % 58);
      r /= 58;
    }
  }
  while (digits > 0 && rev[digits - 1] == 0) digits--;
  uint8_t body[VK_MAX_BODY];
  for (int i = 0; i < digits; i++) body[i] = rev[digits - 1 - i];
  return vk_single_term_bound(pat, body, digits, digits + 6) < threshold;
}

// The btc keys of `points` points (per_point keys each, key j of point p is
// first_keys[p] + j) from their hash160 words: the head filter first, or, with no head filter,
// the keys that may still reach the threshold, checksummed and encoded together.
#define VK_BTC_KEYS_MAX 48  // 6 keys of VK_BATCH_POINTS points
static inline void vk_btc_point_keys(const vk_pattern& pat, const vk_scan_params& prm, vk_local_best& best,
                                     const uint64_t* first_keys, int points, int per_point,
                                     const uint32_t (*h160)[5], vk_candidate* cands, vk_scan_out* out) {
  if (pat.range_levels == 0 && vk_threshold(best) <= pat.max_score) {
    // No head filter: the keys that may still reach the threshold without their checksum
    // known, then their checksums (their SHA-256 passes interleaved: of a whole batch, most
    // keys are ruled out and one point's survivors are too few to fill the pipeline).
    uint32_t hs[VK_BTC_KEYS_MAX][5];
    uint64_t keys[VK_BTC_KEYS_MAX];
    int m = 0;
    for (int p = 0; p < points; p++) {
      for (int j = 0; j < per_point; j++) {
        const uint64_t key = first_keys[p] + (uint64_t)j;
        const uint32_t* h = h160[p * per_point + j];
        if (key < prm.key_lo || key >= prm.key_hi) continue;
        if (vk_btc_cannot_reach(pat, h, vk_threshold(best))) continue;
        for (int i = 0; i < 5; i++) hs[m][i] = h[i];
        keys[m++] = key;
      }
    }
    for (int c = 0; c < m; c += 6) {
      const int chunk = m - c < 6 ? m - c : 6;
      uint32_t sums[6];
      vk_btc_checksums(sums, hs + c, chunk);
      uint8_t bodies[6][VK_MAX_BODY];
      int blens[6];
      vk_btc_bodies(bodies, blens, hs + c, sums, chunk);
      for (int k = 0; k < chunk; k++) {
        if (vk_threshold(best) > pat.max_score) continue;
        vk_report(prm, best, keys[c + k], vk_score(pat, bodies[k], blens[k]), cands, out);
      }
    }
    return;
  }
  for (int p = 0; p < points; p++)
    for (int j = 0; j < per_point; j++)
      vk_check_hash160(pat, prm, best, first_keys[p] + (uint64_t)j, h160[p * per_point + j], cands, out);
}

#if VK_BTC_PIPE
// The host hashes btc keys in batches of VK_BATCH_POINTS points (48 keys), in one of two ways.
//  - "wide", with 512-bit vectors: the drain hashes SHA-256 in 16 lanes (sha256_pub33_x16)
//    and RIPEMD-160 likewise: 1.17-1.21x on ^Vanik and 1.05-1.10x on vanikey against the
//    SHA extensions on the Xeon dev box.
//  - SHA extensions (hosts without 512-bit vectors): the walk queues each point's six SHA-256
//    message blocks and, between its field operations, hashes the next three queued ones
//    (vk_btc_hash_some): the SHA round instruction has a single execution unit, and the field
//    arithmetic beside it is independent (1.02-1.03x on ^Vanik against hashing the batch at
//    once). Once 8 points are hashed, their RIPEMD-160s run in vector lanes (3 x 16).
// Then the batch's keys are checked (vk_btc_drain). The batch lives in vk_run_item's frame
// (OpenMP runs an item on one thread).
#define VK_BATCH_POINTS 8
#define VK_QUEUE_POINTS 12  // a batch, plus the points queued while it is being hashed
struct vk_btc_batch {
  uint32_t block[6 * VK_QUEUE_POINTS][16];  // each queued key's message block (SHA extensions)
  uint32_t sha[6 * VK_QUEUE_POINTS][8];     // its SHA-256 state, once hashed
#if VK_SHA_X16
  uint32_t words[9][6 * VK_QUEUE_POINTS];   // wide: the blocks' key-dependent words, word-major
#endif
  uint64_t first_key[VK_QUEUE_POINTS];
  int points;  // queued
  int hashed;  // keys hashed, counted from the first queued (a multiple of 3)
  int wide;    // hashed 16 at a time by the drain
};

// Hash the next three queued keys, if there are three (wide: the drain hashes).
static inline void vk_btc_hash_some(vk_btc_batch& batch) {
  const int k = batch.hashed;
  if (batch.wide || k + 3 > 6 * batch.points) return;
  const uint32_t init[8] = VK_SHA256_INIT;
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < 8; i++) batch.sha[k + l][i] = init[i];
  sha256_compress_lanes<3>(batch.sha + k, batch.block + k);
  batch.hashed = k + 3;
}

// hash160 and check the first `points` queued points (all hashed), then move the rest up.
static __attribute__((noinline)) void vk_btc_drain(const vk_pattern& pat, const vk_scan_params& prm,
                                                   vk_local_best& best, vk_candidate* cands, vk_scan_out* out,
                                                   int points) {
  vk_btc_batch& batch = *best.batch;
  const int keys = 6 * points;
  uint32_t h160[6 * VK_BATCH_POINTS][5];
#if VK_SHA_X16
  if (batch.wide) {
    for (int k = 0; k < keys; k += 16) {  // lanes past `keys` hash stale words, never read
      vk_u32x16 words[9], state[8], h[5];
      for (int i = 0; i < 9; i++) memcpy(&words[i], &batch.words[i][k], sizeof(words[i]));
      sha256_pub33_x16(state, words);
      ripemd160_of_sha256_vec16(h, state);
      for (int lane = 0; lane < 16; lane++)
        for (int i = 0; i < 5; i++) h160[k + lane][i] = h[i][lane];
    }
  } else
#endif
  {
    for (int k = 0; k < keys; k += 16) {
      if (k + 16 <= keys) {
        ripemd160_of_sha256_x16(h160 + k, batch.sha + k);
      } else {
        for (int m = k; m < keys; m += 8)
          ripemd160_of_sha256_many(h160 + m, batch.sha + m, keys - m < 8 ? keys - m : 8);
      }
    }
  }
  vk_btc_point_keys(pat, prm, best, batch.first_key, points, 6, h160, cands, out);
  const int rest = batch.points - points;
  for (int p = 0; p < rest; p++) batch.first_key[p] = batch.first_key[points + p];
  for (int k = 0; k < 6 * rest; k++) {
#if VK_SHA_X16
    for (int i = 0; i < 9; i++) batch.words[i][k] = batch.words[i][keys + k];
#endif
    for (int i = 0; i < 16; i++) batch.block[k][i] = batch.block[keys + k][i];
    for (int i = 0; i < 8; i++) batch.sha[k][i] = batch.sha[keys + k][i];
  }
  batch.points = rest;
  batch.hashed = batch.wide ? 6 * rest : batch.hashed - keys;
}

// Everything queued, hashed and checked (the end of an item).
static __attribute__((noinline)) void vk_btc_flush(const vk_pattern& pat, const vk_scan_params& prm,
                                                   vk_local_best& best, vk_candidate* cands, vk_scan_out* out) {
  vk_btc_batch& batch = *best.batch;
  if (batch.wide) batch.hashed = 6 * batch.points;
  while (batch.hashed < 6 * batch.points) vk_btc_hash_some(batch);
  while (batch.points > 0)
    vk_btc_drain(pat, prm, best, cands, out, batch.points < VK_BATCH_POINTS ? batch.points : VK_BATCH_POINTS);
}
#endif  // VK_BTC_PIPE
#endif

// The btc keys of one point: key 2e + s has x = beta^e x and prefix 02/03 by y's parity.
VK_HD_NOINLINE void vk_check_point_btc(const vk_pattern& pat, const vk_scan_params& prm, vk_local_best& best,
                              uint64_t first_key, const vk_affine& p, vk_candidate* cands, vk_scan_out* out) {
  const uint32_t parity = (uint32_t)(p.y.v[0] & 1);  // -y has the other parity (y != 0)
  const int n_x = prm.split ? 1 : 3;
  const int per_x = prm.split ? 1 : 2;
#if VK_BTC_PIPE
  if (best.batch) {
    // Host: queued; hashed by the walk, or (wide) by the drain (vk_btc_batch).
    vk_btc_batch& batch = *best.batch;
    if (batch.points == VK_QUEUE_POINTS) {  // the walk fell behind: catch up
      while (batch.hashed < 6 * batch.points) vk_btc_hash_some(batch);
      vk_btc_drain(pat, prm, best, cands, out, VK_BATCH_POINTS);
    }
    const int at = batch.points;
    fe bx, b2x;
    vk_endo_xs(bx, b2x, p.x);
    uint32_t xw[3][8];
    fe_to_words(xw[0], p.x);
    fe_to_words(xw[1], bx);
    fe_to_words(xw[2], b2x);
    batch.first_key[at] = first_key;
    batch.points = at + 1;
#if VK_SHA_X16
    if (batch.wide) {
      for (int k = 0; k < 6; k++) {
        uint32_t block[16];
        vk_pub33_block(block, 2 + (parity ^ (uint32_t)(k & 1)), xw[k >> 1]);
        for (int i = 0; i < 9; i++) batch.words[i][6 * at + k] = block[i];
      }
      if (batch.points == VK_BATCH_POINTS) vk_btc_drain(pat, prm, best, cands, out, VK_BATCH_POINTS);
      return;
    }
#endif
    for (int k = 0; k < 6; k++) vk_pub33_block(batch.block[6 * at + k], 2 + (parity ^ (uint32_t)(k & 1)), xw[k >> 1]);
    if (batch.hashed >= 6 * VK_BATCH_POINTS) vk_btc_drain(pat, prm, best, cands, out, VK_BATCH_POINTS);
    return;
  }
#endif
#if VK_HOST_LANES
  // Host: all six keys' hashes at once (interleaved SHA rounds, RIPEMD-160 in vector lanes).
  uint32_t xw[3][8], blocks[6][16], sha[6][8], h160[6][5];
  fe_to_words(xw[0], p.x);
  if (!prm.split) {
    fe bx, b2x;
    vk_endo_xs(bx, b2x, p.x);
    fe_to_words(xw[1], bx);
    fe_to_words(xw[2], b2x);
  }
  const int n = n_x * per_x;
  for (int k = 0; k < n; k++) vk_pub33_block(blocks[k], 2 + (parity ^ (uint32_t)(k & 1)), xw[k >> 1]);
  sha256_blocks(sha, blocks, n);
  ripemd160_of_sha256_many(h160, sha, n);
  vk_btc_point_keys(pat, prm, best, &first_key, 1, n, h160, cands, out);
#else
  // GPU: one key at a time, everything in registers.
  for (int e = 0; e < n_x; e++) {
    fe vx = p.x;
    if (e == 1) { const fe beta = VK_BETA_INIT; fe_mul(vx, p.x, beta); }
    if (e == 2) { const fe beta2 = VK_BETA2_INIT; fe_mul(vx, p.x, beta2); }
    uint32_t xw[8];
    fe_to_words(xw, vx);
    for (int s = 0; s < per_x; s++) {
      uint32_t h[5];
      vk_hash160_pub33(h, 2 + (parity ^ (uint32_t)s), xw);
      vk_check_hash160(pat, prm, best, first_key + (uint64_t)(2 * e + s), h, cands, out);
    }
  }
#endif
}

// The six keys of point number `point` (relative to base_scalar), keyspace.py's order:
// key 2e + s is the point (beta^e x, (-1)^s y). Their hashes are computed as one batch.
VK_HD_NOINLINE void vk_check_point(const vk_pattern& pat, const vk_scan_params& prm, vk_local_best& best, uint64_t point,
                                   const vk_affine& p, vk_candidate* cands, vk_scan_out* out) {
  const int per_point = prm.split ? 1 : 6;
  const uint64_t first_key = point * (uint64_t)per_point;
  if (point >= prm.n_points || first_key + per_point <= prm.key_lo || first_key >= prm.key_hi) return;
  if (prm.format == VK_BTC) {
    vk_check_point_btc(pat, prm, best, first_key, p, cands, out);
    return;
  }
  uint8_t xs[3][32];
  fe_to_bytes(xs[0], p.x);
  if (!prm.split) {
    fe bx, b2x;
    vk_endo_xs(bx, b2x, p.x);
    fe_to_bytes(xs[1], bx);
    fe_to_bytes(xs[2], b2x);
  }
  uint8_t payloads[6][VK_PAYLOAD_MAX];
  if (prm.format == VK_DID) {
    const uint8_t parity = (uint8_t)(p.y.v[0] & 1);  // -y has the other parity (y != 0)
    for (int k = 0; k < per_point; k++) {
      payloads[k][0] = 0xE7;  // multicodec secp256k1-pub, varint
      payloads[k][1] = 0x01;
      payloads[k][2] = (uint8_t)(2 + (parity ^ (k & 1)));
      for (int i = 0; i < 32; i++) payloads[k][3 + i] = xs[k >> 1][i];
    }
  } else {
    uint8_t ys[2][32], xy[6][64], digests[6][32];
    fe neg_y;
    fe_neg(neg_y, p.y);
    fe_to_bytes(ys[0], p.y);
    fe_to_bytes(ys[1], neg_y);
    for (int k = 0; k < per_point; k++) {
      for (int i = 0; i < 32; i++) {
        xy[k][i] = xs[k >> 1][i];
        xy[k][32 + i] = ys[k & 1][i];
      }
    }
    keccak256_64_many(digests, xy, per_point);
    const int offset = prm.format == VK_TRX ? 1 : 0;
    for (int k = 0; k < per_point; k++) {
      payloads[k][0] = 0x41;
      for (int i = 0; i < 20; i++) payloads[k][offset + i] = digests[k][12 + i];
    }
  }
  for (int k = 0; k < per_point; k++) {
    const uint64_t key = first_key + (uint64_t)k;
    if (key >= prm.key_lo && key < prm.key_hi) vk_check_payload(pat, prm, best, key, payloads[k], cands, out);
  }
}

// One work item: points [item * points_per_item, ...) of the scan, in groups of
// group_size around a centre P: P itself, P + iG (i < G/2) and P - iG (i <= G/2) all
// from one batch inversion of (iG.x - P.x), plus the jump to the next centre.
// table[i - 1] = i*G for i = 1..group_size/2.
// An item's first centre: from the centre it kept in the previous launch (one affine addition)
// when the host says it may, else by a scalar multiplication. 0 on a degenerate point.
VK_HD_NOINLINE int vk_first_centre(vk_affine& centre, const vk_scan_params& prm, uint64_t item, const uint64_t scalar[4],
                          vk_affine* centres) {
  if (item < prm.resume_items) {
    const vk_affine kept = centres[item];
    if (!prm.resume_moves) {
      centre = kept;
      return 1;
    }
    fe dx, inv;
    fe_sub(dx, prm.resume_jump.x, kept.x);
    if (fe_is_zero(dx)) return 0;  // kept = +-jump
    fe_inv(inv, dx);
    affine_add_with_inverse(centre, kept, prm.resume_jump.x, prm.resume_jump.y, inv);
  } else if (!scalar_mult_base(centre, scalar, prm.split ? &prm.split_q : (const vk_affine*)0)) {
    return 0;
  }
  if (item < prm.state_items) centres[item] = centre;
  return 1;
}

// The walk's centre (in the thread's frame: its address goes to vk_check_point), read back
// at each step rather than held in 16 registers across the calls to vk_check_point, whose
// call tree takes them: held, they were spilled and refilled around every call.
VK_HD void vk_read_frame(vk_affine& r, const vk_affine& slot) {
#if VK_ON_GPU
  const volatile uint64_t* x = slot.x.v;
  const volatile uint64_t* y = slot.y.v;
  for (int i = 0; i < 4; i++) {
    r.x.v[i] = x[i];
    r.y.v[i] = y[i];
  }
#else
  r = slot;
#endif
}

VK_HD void vk_run_item(const vk_pattern& pat, const vk_scan_params& prm, const vk_affine* table, uint64_t item,
                       vk_candidate* cands, vk_scan_out* out, vk_affine* centres) {
  const uint64_t first_point = item * prm.points_per_item;
  if (item >= prm.n_items || first_point >= prm.n_points) return;
  const int group = prm.group_size;
  const int half = group / 2;

  uint64_t centre_scalar[4];
  scalar_add_u64_mod_n(centre_scalar, prm.base_scalar, first_point + (uint64_t)half);
  vk_affine centre;
  if (!vk_first_centre(centre, prm, item, centre_scalar, centres)) {
    vk_atomic_or(&out->error, VK_ERROR_DEGENERATE);
    return;
  }

  vk_local_best best;
  best.held = 0;
  best.want = prm.max_candidates <= VK_LOCAL_TOP ? prm.max_candidates : 0;
  best.floor = prm.min_score;
#if VK_BTC_PIPE
  vk_btc_batch batch;
  batch.points = batch.hashed = 0;
  batch.wide = VK_SHA_X16;
  best.batch = prm.format == VK_BTC && !prm.split ? &batch : 0;
#define VK_BTC_HASH_SOME() \
  if (best.batch) vk_btc_hash_some(batch)
#else
#define VK_BTC_HASH_SOME()
#endif

  // Running products for the batch inversion; the last two slots park the next centre
  // (computed first, used last: in memory rather than in registers for the whole walk).
  fe prefix[VK_MAX_GROUP / 2 + 3];
  const uint64_t groups = prm.points_per_item / (uint64_t)group;
  // Recomputed rather than kept across vk_first_centre's call tree (sm_80 spilled it).
  const uint64_t walk_first = item * prm.points_per_item;
  for (uint64_t g = 0; g < groups; g++) {
    const uint64_t group_first = walk_first + g * (uint64_t)group;
    if (group_first >= prm.n_points) break;
    const uint64_t centre_point = group_first + (uint64_t)half;
    const int last_group = g + 1 == groups || group_first + (uint64_t)group >= prm.n_points;
    // dx_i = (iG).x - P.x for i = 1..half; slot `half` is the jump to the next centre.
    fe dx, acc = {{0, 0, 0, 0}};
    const int n_inv = last_group ? half : half + 1;
    for (int i = 0; i < n_inv; i++) {
      fe_sub(dx, i < half ? table[i].x : prm.jump.x, centre.x);
      if (i == 0) acc = dx; else fe_mul(acc, acc, dx);
      prefix[i] = acc;
    }
    if (fe_is_zero(acc)) {  // P = +-iG: the affine formulas do not apply
      vk_atomic_or(&out->error, VK_ERROR_DEGENERATE);
      return;
    }
    fe inv;
    fe_inv(inv, acc);
    fe inverse_i;
    // Walk back: inverse of dx_i = inv * prefix[i - 1]; then inv *= dx_i.
    vk_check_point(pat, prm, best, centre_point, centre, cands, out);
    for (int i = n_inv - 1; i >= 0; i--) {
      const fe& qx = i < half ? table[i].x : prm.jump.x;
      const fe& qy = i < half ? table[i].y : prm.jump.y;
      VK_BTC_HASH_SOME();
      fe_sub(dx, qx, centre.x);
      if (i > 0) fe_mul(inverse_i, inv, prefix[i - 1]); else inverse_i = inv;
      fe_mul(inv, inv, dx);
      VK_BTC_HASH_SOME();
      if (i == half) {
        vk_affine next_centre;
        affine_add_with_inverse(next_centre, centre, qx, qy, inverse_i);
        prefix[half + 1] = next_centre.x;
        prefix[half + 2] = next_centre.y;
        continue;
      }
      // Both points of this step before either is checked: across the calls only inv and
      // the loop's counters stay live (vk_check_point's call tree takes the other registers).
      vk_affine q[2];  // P - step*G, P + step*G
      const int step = i + 1;
      vk_affine p;
      vk_read_frame(p, centre);
      fe neg_qy;  // P - step*G: same x, so the same inverse
      fe_neg(neg_qy, qy);
      affine_add_with_inverse(q[0], p, qx, neg_qy, inverse_i);
      VK_BTC_HASH_SOME();
      if (step < half) affine_add_with_inverse(q[1], p, qx, qy, inverse_i);
      VK_BTC_HASH_SOME();
      if (step < half) vk_check_point(pat, prm, best, centre_point + (uint64_t)step, q[1], cands, out);
      vk_check_point(pat, prm, best, centre_point - (uint64_t)step, q[0], cands, out);
    }
    if (!last_group) {
      centre.x = prefix[half + 1];
      centre.y = prefix[half + 2];
    }
  }
#if VK_BTC_PIPE
  if (best.batch) vk_btc_flush(pat, prm, best, cands, out);
#endif
#undef VK_BTC_HASH_SOME
}
