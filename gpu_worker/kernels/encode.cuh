// encode.cuh: identifiers as digit strings (alphabet indices), the form the scorer reads.
#pragma once
#include "vk_common.cuh"

#define VK_58_POW5 656356768ULL  // 58^5 < 2^32: five digits per long-division pass

// Base58 of payload[0..len) (len <= 36) into out[] as digit values 0..57, most
// significant first, each leading zero byte as digit 0 ('1'). Returns the digit count.
VK_HD_NOINLINE int base58_digits(uint8_t* out, const uint8_t* payload, int len) {
  uint32_t w[9];
  int nwords = (len + 3) >> 2;
  int head = len - 4 * (nwords - 1);  // bytes in the most significant word
  int pos = 0;
  for (int i = 0; i < nwords; i++) {
    int take = i == 0 ? head : 4;
    uint32_t word = 0;
    for (int j = 0; j < take; j++) word = (word << 8) | payload[pos++];
    w[i] = word;
  }
  uint8_t reversed[56];
  int ndig = 0;
  int first = 0;
  while (first < nwords && w[first] == 0) first++;
  while (first < nwords) {
    uint64_t rem = 0;
    for (int i = first; i < nwords; i++) {
      uint64_t cur = (rem << 32) | w[i];
      w[i] = (uint32_t)(cur / VK_58_POW5);
      rem = cur % VK_58_POW5;
    }
    while (first < nwords && w[first] == 0) first++;
    uint32_t r = (uint32_t)rem;
    for (int k = 0; k < 5; k++) {
      reversed[ndig++] = (uint8_t)(r % 58);
      r /= 58;
    }
  }
  while (ndig > 0 && reversed[ndig - 1] == 0) ndig--;
  int zeros = 0;
  while (zeros < len && payload[zeros] == 0) zeros++;
  for (int i = 0; i < zeros; i++) out[i] = 0;
  for (int i = 0; i < ndig; i++) out[zeros + i] = reversed[ndig - 1 - i];
  return zeros + ndig;
}

// Hex digits (nibble values, the index in "0123456789abcdef") of bytes[0..len).
VK_HD void hex_digits(uint8_t* out, const uint8_t* bytes, int len) {
  for (int i = 0; i < len; i++) {
    out[2 * i] = bytes[i] >> 4;
    out[2 * i + 1] = bytes[i] & 15;
  }
}
