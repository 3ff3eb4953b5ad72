// The table of Triton cubins the plugin launches (edge_swin/plugins/swin_window_attention/README.md, "Embedded kernel table").
// Declared here, defined by the embedded_kernels.cpp that `python -m edge_swin.plugins.swin_window_attention.aot.build` generates.
// This header is the contract between that generator and the plugin: change both together.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edge_swin {
// kQkvLinear: the INT8 and FP8 nodes' qkv projection (swin_qkv_int8 / swin_qkv_fp8), which writes int8 / fp8
// q/k/v for the attention.
enum class KernelFamily : int32_t { kLinear = 0, kWindowAttention = 1, kQkvLinear = 2 };
enum class KernelMode : int32_t { kFP16 = 0, kINT8 = 1, kFP8 = 2 };
enum class IoType : int32_t { kFLOAT = 0, kHALF = 1 };
struct EmbeddedKernel {
    KernelFamily family;
    KernelMode mode;
    IoType io;
    int32_t sm;                  // 75, 80, 86, 87, 89, 90, 110 (90, 110 = sm_90a, sm_110a: run on that SM only)
    int32_t windowH, windowW;    // attention; 0 for linears
    int32_t shifted;             // attention; 0 for linears
    char const* symbol;          // kernel symbol in the cubin
    int32_t numWarps;
    int32_t sharedBytes;         // dynamic shared memory for cuLaunchKernel
    int32_t blockM, blockN, blockK;  // tile constexprs (0 where unused): grid x = cdiv(M, blockM) for the linears
                                     // (one program covers every column), cdiv(N, blockM) queries for attention
    unsigned char const* image;  // cubin bytes
    size_t imageSize;
};
extern EmbeddedKernel const kEmbeddedKernels[];
extern size_t const kNumEmbeddedKernels;
}
