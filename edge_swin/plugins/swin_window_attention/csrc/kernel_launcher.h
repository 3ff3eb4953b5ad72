// enqueue()'s work: the three launches of one SwinWindowAttention node (edge_swin/plugins/swin_window_attention/README.md,
// "Description"): qkv = x @ qkv_w^T + qkv_b; window attention qkv -> out; y = out @ proj_w^T + proj_b.
// FP16 node: fp16 workspaces. INT8 node (bytes decide the speed): x and y of the io type (fp16 or fp32),
// int8 workspaces: the qkv launch writes int8 q/k/v, the attention int8 out, which the proj launch reads. FP8 node:
// the same with fp8 (e4m3) workspaces and weights, fp16 io.
// Cubins are loaded once per CUDA context with cuModuleLoadData and cached here; the plugin's clones share
// one launcher, so a node loads its cubins once per context however many execution contexts run it.
#pragma once

#include "embedded_kernels.h"
#include "swin_attention_params.h"

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

namespace edge_swin {

// x [B, H, W, C]: the one shape the launches depend on.
struct TokenShape
{
    int64_t batch{0};
    int64_t height{0};
    int64_t width{0};
    int64_t channels{0};

    int64_t tokens() const
    {
        return batch * height * width;
    }
};

// Device pointers of one node's inputs (0-14, function.py order), output and workspace.
struct NodeBuffers
{
    void const* inputs[kInt8NodeInputs]{}; // 7 used by FP16 nodes, 15 by INT8 and FP8 nodes
    void* output{nullptr};
    void* workspace{nullptr};
};

// Bytes of workspace for `shape`: qkv [tokens, 3C] then out [tokens, C], each 256-byte aligned; in the io type
// for an FP16 node, int8 / fp8 for an INT8 / FP8 node (3C + C bytes a token).
size_t workspaceBytes(TokenShape const& shape, KernelMode mode, IoType io);

// Whether `shape` fits the kernels' i32 arguments (M = B*H*W tokens, 3C); false with the reason.
bool fitsInt32Indexing(TokenShape const& shape, std::string& error);

class KernelLauncher
{
public:
    KernelLauncher() = default;
    KernelLauncher(KernelLauncher const&) = delete;
    KernelLauncher& operator=(KernelLauncher const&) = delete;
    ~KernelLauncher();

    // Launches the three kernels on `stream`; 0 on success, else logs `who: what failed` and returns non-zero.
    // io: the node's tensor type (x, weights, biases, y); INT8 nodes take HALF or FLOAT, FP16 and FP8 nodes HALF
    // (the FP8 node's weights are fp8).
    int32_t run(SwinAttentionParams const& params, KernelMode mode, IoType io, TokenShape const& shape,
        NodeBuffers const& buffers, CUstream stream, std::string const& who) noexcept;

private:
    static constexpr int kLaunches = 3; // qkv, attention, proj (NodeKernelKeys order)

    struct Loaded
    {
        int32_t sm{0};
        CUmodule modules[kLaunches]{}; // null where a launch reuses an earlier one's cubin (FP16: qkv = proj)
        CUfunction functions[kLaunches]{};
        EmbeddedKernel const* kernels[kLaunches]{};
    };

    // The kernels for the current context (loaded on first use); nullptr with the reason in `error`.
    Loaded const* kernelsForCurrentContext(
        SwinAttentionParams const& params, KernelMode mode, IoType io, std::string& error);

    std::mutex mMutex;
    std::map<std::tuple<CUcontext, int32_t, int32_t>, Loaded> mLoaded; // (context, KernelMode, IoType)
};

} // namespace edge_swin
