// enqueue()'s work: the three launches of one SwinWindowAttention node (edge_swin/plugins/README.md,
// "What the plugin computes"): qkv = x @ qkv_w^T + qkv_b; window attention qkv -> out; y = out @ proj_w^T + proj_b.
// Cubins are loaded once per CUDA context with cuModuleLoadData and cached here; the plugin's clones share
// one launcher, so a node loads its two cubins once per context however many execution contexts run it.
#pragma once

#include "embedded_kernels.h"
#include "swin_attention_params.h"

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
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
    void const* inputs[kInt8NodeInputs]{}; // 7 used by FP16 nodes, 15 by INT8 nodes
    void* output{nullptr};
    void* workspace{nullptr};
};

// Bytes of workspace for `shape`: qkv [tokens, 3C] then out [tokens, C] in the io type, each 256-byte aligned.
size_t workspaceBytes(TokenShape const& shape, IoType io);

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
    int32_t run(SwinAttentionParams const& params, KernelMode mode, TokenShape const& shape,
        NodeBuffers const& buffers, CUstream stream, std::string const& who) noexcept;

private:
    struct Loaded
    {
        int32_t sm{0};
        CUmodule modules[2]{};
        CUfunction linear{};
        CUfunction attention{};
        EmbeddedKernel const* linearKernel{nullptr};
        EmbeddedKernel const* attentionKernel{nullptr};
    };

    // The kernels for the current context (loaded on first use); nullptr with the reason in `error`.
    Loaded const* kernelsForCurrentContext(
        SwinAttentionParams const& params, KernelMode mode, std::string& error);

    std::mutex mMutex;
    std::map<std::pair<CUcontext, int32_t>, Loaded> mLoaded; // (context, KernelMode)
};

} // namespace edge_swin
