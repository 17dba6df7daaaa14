// vk_common.cuh: what lets one CUDA C++ source build three ways.
//   nvcc / NVRTC      : __CUDA_ARCH__ set while compiling device code (PTX carry chains)
//   g++ (native build): the CUDA qualifiers become harmless, unsigned __int128 arithmetic
#pragma once

#if defined(__CUDACC_RTC__)
// NVRTC ships no C library headers: the fixed-width types by hand.
typedef unsigned char uint8_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
#else
#include <stdint.h>
#include <string.h>
#endif

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VK_HD __host__ __device__ inline
#define VK_HD_NOINLINE __host__ __device__ __noinline__
#define VK_GLOBAL __global__
#define VK_CONSTANT __constant__
#else
#define VK_HD static inline
#define VK_HD_NOINLINE static __attribute__((noinline))
#define VK_GLOBAL
#define VK_CONSTANT
#define __host__
#define __device__
#endif

// Full unrolling of the hash rounds lets both compilers fold the round constants.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define VK_UNROLL _Pragma("unroll")
#else
#define VK_UNROLL _Pragma("GCC unroll 128")
#endif

#if defined(__CUDA_ARCH__)
#define VK_ON_GPU 1
#else
#define VK_ON_GPU 0
#endif

// Host builds hash the keys of one point side by side, one per vector lane (GCC/Clang
// vector extensions; AVX2 or AVX-512 with -march=native). The GPU runs one thread per lane
// already, so there each batch is a plain loop over the same templated compress function.
// -DVK_PORTABLE_HOST builds the host library with the GPU's exact hash code paths.
#if !VK_ON_GPU && !defined(__CUDACC__) && !defined(__CUDACC_RTC__) && defined(__GNUC__) && !defined(VK_PORTABLE_HOST)
#define VK_HOST_LANES 1
typedef uint32_t vk_u32x8 __attribute__((vector_size(32)));
typedef uint32_t vk_u32x16 __attribute__((vector_size(64)));
typedef uint64_t vk_u64x8 __attribute__((vector_size(64)));
#else
#define VK_HOST_LANES 0
#endif

// Byte order swap of a 32-bit word (one BSWAP on x86, one PRMT on the GPU).
VK_HD uint32_t vk_bswap32(uint32_t x) {
  return (x >> 24) | ((x >> 8) & 0xFF00u) | ((x << 8) & 0xFF0000u) | (x << 24);
}

// Sizes the Python plan compiler (gpu_worker/kernel_plan.py) mirrors exactly.
#define VK_MAX_TERMS 16
#define VK_MAX_PATTERN_CHARS 64
#define VK_MAX_BODY 64
#define VK_MAX_SCORE 64
#define VK_LOCAL_TOP 8     // per-thread best list used to raise the thread's own threshold

enum vk_format_id { VK_BTC = 0, VK_DID = 1, VK_ETH = 2, VK_TRX = 3 };
