// grind.cu: the one kernel source. CuPy compiles it with NVRTC (or loads the cubins
// scripts/build_cubins.py made from it); native_driver.cpp includes it for the CPU build.
#include "grind.cuh"

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
// The compiled pattern: read by every thread, written once per job by the host.
__constant__ vk_pattern c_pattern;

#ifndef VK_THREADS_PER_BLOCK
#define VK_THREADS_PER_BLOCK 128  // gpu_worker/grinders/cuda.py THREADS_PER_BLOCK
#endif
#ifndef VK_MIN_BLOCKS_PER_SM
#define VK_MIN_BLOCKS_PER_SM 4    // 4 x 128 threads x 128 registers = the SM's 65,536 registers
#endif

extern "C" __global__ void __launch_bounds__(VK_THREADS_PER_BLOCK, VK_MIN_BLOCKS_PER_SM) vk_grind(const vk_scan_params* params, const vk_affine* table, vk_candidate* cands,
                                    vk_scan_out* out, vk_affine* centres) {
  const uint64_t item = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  vk_run_item(c_pattern, *params, table, item, cands, out, centres);
}
#endif
