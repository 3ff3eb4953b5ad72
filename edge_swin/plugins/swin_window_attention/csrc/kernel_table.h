// Lookups in the embedded kernel table: which cubin serves a (family, mode, io, window, shifted) variant on a
// given SM, and what the table holds (for error messages that say what was compiled). `io` is the node's io type
// (the dtype of x, the weights and y); the INT8 node's workspaces are int8 whatever the io.
#pragma once

#include "embedded_kernels.h"

#include <string>

namespace edge_swin {

struct KernelKey
{
    KernelFamily family;
    KernelMode mode;
    IoType io;
    int32_t windowH{0}; // attention only; 0 for linear
    int32_t windowW{0};
    int32_t shifted{0};
};

KernelKey linearKey(KernelMode mode, IoType io);
KernelKey qkvLinearKey(KernelMode mode, IoType io);
KernelKey attentionKey(KernelMode mode, IoType io, int32_t windowH, int32_t windowW, bool shifted);

// The three launches of a node, in order: qkv projection, window attention, output projection.
// FP16 node: swin_linear_fp16, swin_window_attention_fp16, swin_linear_fp16 (all on io tensors).
// INT8 node: swin_qkv_int8 (io x -> int8 q/k/v), swin_window_attention_int8 (int8 -> int8), swin_linear_int8
// (int8 -> io y). FP8 node: the same with fp8 e4m3 for int8 (swin_qkv_fp8, ..._fp8, swin_linear_fp8), fp16 io,
// fp8 weights.
struct NodeKernelKeys
{
    KernelKey qkv;
    KernelKey attention;
    KernelKey proj;
};
NodeKernelKeys nodeKernelKeys(KernelMode mode, IoType io, int32_t windowH, int32_t windowW, bool shifted);

// The cubin to run on a device of compute capability `deviceSm` (major * 10 + minor), or nullptr.
// A cubin for sm_XY runs on X.Z with Z >= Y (same major); the exact SM wins, then the nearest older minor.
// sm 90 and 110 in the table are sm_90a / sm_110a (arch-specific): they run on 9.0 / 11.0 only.
EmbeddedKernel const* findKernel(KernelKey const& key, int32_t deviceSm);

// Whether the table holds `key` for at least one SM (what the builder can check without a GPU).
bool hasKernel(KernelKey const& key);

// "sm_80, sm_86" for `key`; "none" when absent.
std::string compiledSms(KernelKey const& key);

// "4x4, 7x7" (attention windows compiled for mode/io); "none" when the table has none.
std::string compiledWindows(KernelMode mode, IoType io);

std::string describe(KernelKey const& key);

} // namespace edge_swin
