// match.cuh: the pattern as the kernel sees it (compiled by gpu_worker/kernel_plan.py into
// __constant__ memory on the GPU) and the one scoring rule of docs/design.md over digit strings.
#pragma once
#include "vk_common.cuh"

#define VK_RANGE_LEVELS 6
#define VK_RANGE_WORDS 9  // a payload number as 9 big-endian 32-bit words (did: 35 bytes)
#define VK_MAX_RANGES 32

// Layout mirrored by gpu_worker/kernel_plan.py (ctypes): keep the two in step.
typedef struct {
  // Per term character: the set of accepted alphabet indices ('?' = all, case folding and
  // fuzzy look-alikes already expanded). This is the whole automaton: one mask per state.
  uint64_t cls[VK_MAX_PATTERN_CHARS];
  // Anchored-prefix intervals on the payload number (see kernel_plan.py): for level t,
  // a body whose first t characters match lies in one of range_count[t - 1] intervals
  // [lo, hi), unless the number is below pass_below (then no conclusion is drawn).
  uint32_t range_lo[VK_RANGE_LEVELS][VK_MAX_RANGES][VK_RANGE_WORDS];
  uint32_t range_hi[VK_RANGE_LEVELS][VK_MAX_RANGES][VK_RANGE_WORDS];
  uint32_t pass_below[VK_RANGE_WORDS];
  // The same intervals on the payload's 64-bit head (its 8 bytes after the format's
  // constant leading bytes), closed [lo, hi]: wider than the exact ones, so a head outside
  // all of them rejects a key from registers before any byte of it is laid out.
  uint64_t head_lo[VK_RANGE_LEVELS][VK_MAX_RANGES];
  uint64_t head_hi[VK_RANGE_LEVELS][VK_MAX_RANGES];
  uint64_t head_pass_upto;  // head <= this: the number may be below pass_below (no conclusion)
  int32_t head_has_pass;
  int32_t range_count[VK_RANGE_LEVELS];
  int32_t range_levels;  // 0: no range filter
  int32_t rest_len;      // characters of the terms after the first (bound on their score)
  int32_t term_start[VK_MAX_TERMS];
  int32_t term_len[VK_MAX_TERMS];
  int32_t n_terms;
  int32_t anchored_start;
  int32_t anchored_end;
  int32_t max_score;
} vk_pattern;

VK_HD int vk_accepts(uint64_t cls, uint8_t digit) { return (int)((cls >> digit) & 1); }

// How many leading characters of the term (classes cls[0..len)) match body[at..].
VK_HD int vk_common_prefix(const uint64_t* cls, int len, const uint8_t* body, int blen, int at) {
  int limit = blen - at < len ? blen - at : len;
  int m = 0;
  while (m < limit && vk_accepts(cls[m], body[at + m])) m++;
  return m;
}

// The docs/design.md score: left to right, each term's longest prefix occurring at or after
// the current position (leftmost occurrence), then move past it; ^ pins the first term's
// prefix to the start of the body, $ pins the last term's suffix to its end.
VK_HD_NOINLINE int vk_score(const vk_pattern& pat, const uint8_t* body, int blen) {
  int score = 0;
  int pos = 0;
  for (int t = 0; t < pat.n_terms; t++) {
    const uint64_t* cls = pat.cls + pat.term_start[t];
    int len = pat.term_len[t];
    if (t == 0 && pat.anchored_start) {
      int m = vk_common_prefix(cls, len, body, blen, 0);
      score += m;
      pos = m;
      continue;
    }
    if (pat.anchored_end && t == pat.n_terms - 1) {
      for (int m = len; m > 0; m--) {
        int at = blen - m;
        if (at < pos) continue;
        if (vk_common_prefix(cls + (len - m), m, body, blen, at) == m) {
          score += m;
          break;
        }
      }
      continue;
    }
    int best = 0, best_at = pos;
    for (int at = pos; at < blen && best < len; at++) {
      int m = vk_common_prefix(cls, len, body, blen, at);
      if (m > best) {
        best = m;
        best_at = at;
      }
    }
    score += best;
    pos = best_at + best;
  }
  return score;
}

// -1, 0, 1 as a < b, ==, > over VK_RANGE_WORDS big-endian words.
VK_HD int vk_cmp_words(const uint32_t* a, const uint32_t* b) {
  for (int i = 0; i < VK_RANGE_WORDS; i++) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

// Can a number in [low, high] start its body with `level` characters of the first term?
// (false means certainly not; true means "encode it and score it").
VK_HD int vk_prefix_possible(const vk_pattern& pat, int level, const uint32_t* low, const uint32_t* high) {
  if (vk_cmp_words(low, pat.pass_below) < 0) return 1;
  if (level > pat.range_levels) level = pat.range_levels;
  int count = pat.range_count[level - 1];
  for (int r = 0; r < count; r++) {
    if (vk_cmp_words(low, pat.range_hi[level - 1][r]) < 0 && vk_cmp_words(pat.range_lo[level - 1][r], high) <= 0)
      return 1;
  }
  return 0;
}

// The conservative twin of vk_prefix_possible on a payload's 64-bit head: 0 only when no
// payload with this head can start its body with `level` characters of the first term.
// One binary search over the sorted intervals, however many case variants they stand for.
VK_HD int vk_head_possible(const vk_pattern& pat, int level, uint64_t head) {
  if (pat.head_has_pass && head <= pat.head_pass_upto) return 1;
  if (level > pat.range_levels) level = pat.range_levels;
  const uint64_t* lo = pat.head_lo[level - 1];
  int first = 0, n = pat.range_count[level - 1];
  while (n > 0) {  // first = how many intervals start at or below head
    const int half = n >> 1;
    if (lo[first + half] <= head) {
      first += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  return first > 0 && head <= pat.head_hi[level - 1][first - 1];
}
