// A C API over one SwinWindowAttention node's launches, for tests and benchmarks on a GPU
// (edge_swin/plugins/swin_window_attention/testing/harness.py loads it with ctypes). Built only with -DEDGE_SWIN_BUILD_HARNESS=ON, as its own
// library (libedge_swin_node_harness.so): the plugin library keeps exporting getCreators/setLoggerFinder only.
//
// Why this exists: the plugin's enqueue() is reachable only through a TensorRT engine, which needs a GPU and a
// TensorRT runtime. This calls the very KernelLauncher::run that enqueue() calls (same embedded kernel table,
// same cuModuleLoadData per context, same grids and argument packing), with device pointers that PyTorch owns,
// so the cubins can be checked against the PyTorch module with nothing else in between.
//
// Errors never abort: every function returns a status, and what KernelLauncher logs goes to the caller's
// errorBuffer (a logger finder that captures messages on the calling thread).
#include "kernel_launcher.h"
#include "kernel_table.h"
#include "plugin_logger.h"
#include "swin_attention_params.h"

#include <NvInferRuntime.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#define EDGE_SWIN_EXPORT __attribute__((visibility("default")))

namespace edge_swin {
namespace {

// Bumped whenever an exported signature changes; harness.py refuses a library of another version.
constexpr int32_t kHarnessAbiVersion = 3; // 2: int8Mode 2 (INT8 node, fp16 io); int8 workspaces; 3: int8Mode 3 (FP8)

// The messages of the current call on this thread (nullptr: no call in progress, e.g. a message logged while
// another thread's call holds the finder).
thread_local std::string* tCapture = nullptr;

class CaptureLogger : public nvinfer1::ILogger
{
public:
    void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override
    {
        if (severity > Severity::kWARNING || msg == nullptr)
        {
            return; // verbose/info (e.g. "loaded <symbol> (sm_90)"): not an error
        }
        try
        {
            if (tCapture != nullptr)
            {
                tCapture->append(tCapture->empty() ? "" : "\n").append(msg);
                return;
            }
        }
        catch (...)
        {
        }
        std::fprintf(stderr, "[edge_swin node harness] %s\n", msg);
    }
};

class CaptureFinder : public nvinfer1::ILoggerFinder
{
public:
    nvinfer1::ILogger* findLogger() noexcept override
    {
        return &mLogger;
    }

private:
    CaptureLogger mLogger;
};

// Sets the capturing finder once per process and collects this thread's messages while it lives.
class Capture
{
public:
    Capture()
    {
        static CaptureFinder finder;
        static std::once_flag once;
        std::call_once(once, [] { setPluginLoggerFinder(&finder); });
        mPrevious = tCapture;
        tCapture = &mMessages;
    }
    ~Capture()
    {
        tCapture = mPrevious;
    }
    Capture(Capture const&) = delete;
    Capture& operator=(Capture const&) = delete;

    std::string const& messages() const
    {
        return mMessages;
    }

private:
    std::string mMessages;
    std::string* mPrevious{nullptr};
};

void writeError(char* buffer, size_t size, std::string const& text) noexcept
{
    if (buffer == nullptr || size == 0)
    {
        return;
    }
    size_t const n = text.size() < size - 1 ? text.size() : size - 1; // truncated, always NUL-terminated
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
}

// One launcher per (window, shifted), as the plugin has one per node: KernelLauncher caches the cubins it loaded
// per (context, mode) only, so a launcher must never serve two windows or both W-MSA and SW-MSA.
// Never destroyed: tearing it down at process exit would call cuModuleUnload after the CUDA runtime and the
// driver library may already be gone; the process exit frees the modules anyway.
KernelLauncher& launcherFor(SwinAttentionParams const& params)
{
    static std::mutex mutex;
    static auto* launchers = new std::map<std::tuple<int32_t, int32_t, bool>, std::unique_ptr<KernelLauncher>>();
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = (*launchers)[std::make_tuple(params.windowH, params.windowW, params.shifted())];
    if (!slot)
    {
        slot = std::make_unique<KernelLauncher>();
    }
    return *slot;
}

// int8Mode, the node kind: 0 FP16 node (fp16 tensors), 1 INT8 node with fp32 tensors, 2 INT8 node with fp16
// tensors (scales fp32 in both INT8 kinds), 3 FP8 node (fp16 tensors, fp8 e4m3 weights, fp32 scales).
bool modeOf(int32_t int8Mode, KernelMode& mode, IoType& io, std::string& error)
{
    if (int8Mode < 0 || int8Mode > 3)
    {
        error = "int8Mode is " + std::to_string(int8Mode)
            + "; expected 0 (FP16 node), 1 (INT8 node, fp32 io), 2 (INT8 node, fp16 io) or 3 (FP8 node)";
        return false;
    }
    mode = int8Mode == 0 ? KernelMode::kFP16 : int8Mode == 3 ? KernelMode::kFP8 : KernelMode::kINT8;
    io = int8Mode == 1 ? IoType::kFLOAT : IoType::kHALF;
    return true;
}

bool checkNode(SwinAttentionParams const& params, int32_t int8Mode, TokenShape const& x, void const* const* inputs,
    int32_t numInputs, KernelMode& mode, IoType& io, std::string& error)
{
    if (!modeOf(int8Mode, mode, io, error))
    {
        return false;
    }
    bool const int8 = mode != KernelMode::kFP16;
    int32_t const expected = int8 ? kInt8NodeInputs : kFp16NodeInputs;
    if (inputs == nullptr || numInputs != expected)
    {
        error = std::to_string(numInputs) + " inputs" + (inputs == nullptr ? " (null array)" : "") + " for "
            + (mode == KernelMode::kFP8 ? "an FP8" : int8 ? "an INT8" : "an FP16") + " node; expected "
            + std::to_string(expected)
            + " (function.py order: x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask" + (int8 ? ", 8 scales)" : ")");
        return false;
    }
    if (!checkParams(params, error))
    {
        return false;
    }
    if (x.channels != params.channels())
    {
        error = "C = " + std::to_string(x.channels) + " channels for num_heads = " + std::to_string(params.numHeads)
            + ": the kernels need C = num_heads * " + std::to_string(kHeadDim);
        return false;
    }
    if (x.batch < 1 || x.height < 1 || x.width < 1)
    {
        error = "x is [" + std::to_string(x.batch) + ", " + std::to_string(x.height) + ", " + std::to_string(x.width)
            + ", " + std::to_string(x.channels) + "]; every dimension must be at least 1";
        return false;
    }
    return true;
}

} // namespace
} // namespace edge_swin

using namespace edge_swin;

extern "C" EDGE_SWIN_EXPORT int32_t edge_swin_node_abi_version()
{
    return kHarnessAbiVersion;
}

// Bytes of workspace the node needs (kernel_launcher.h's workspaceBytes: the plugin's getWorkspaceSize); 0 for an
// empty shape or an int8Mode other than 0-3.
extern "C" EDGE_SWIN_EXPORT size_t edge_swin_node_workspace_bytes(
    int64_t batch, int64_t height, int64_t width, int64_t channels, int32_t int8Mode)
{
    KernelMode mode{};
    IoType io{};
    std::string ignored;
    if (!modeOf(int8Mode, mode, io, ignored))
    {
        return 0;
    }
    return workspaceBytes(TokenShape{batch, height, width, channels}, mode, io);
}

// The SM of the attention cubin the launcher would load on a device of compute capability `deviceSm`
// (major * 10 + minor), or 0 when the table lacks the attention or the linear cubin for it (the reason, with the
// SMs the table has, in errorBuffer). Needs no GPU: it reads the embedded table only.
extern "C" EDGE_SWIN_EXPORT int32_t edge_swin_node_kernel_sm(int32_t int8Mode, int32_t windowH, int32_t windowW,
    int32_t shifted, int32_t deviceSm, char* errorBuffer, size_t errorBufferSize)
{
    try
    {
        KernelMode mode{};
        IoType io{};
        std::string error;
        if (!modeOf(int8Mode, mode, io, error))
        {
            writeError(errorBuffer, errorBufferSize, error);
            return 0;
        }
        NodeKernelKeys const node = nodeKernelKeys(mode, io, windowH, windowW, shifted != 0);
        KernelKey const keys[3] = {node.qkv, node.attention, node.proj};
        EmbeddedKernel const* found[3] = {findKernel(keys[0], deviceSm), findKernel(keys[1], deviceSm),
            findKernel(keys[2], deviceSm)};
        for (int i = 0; i < 3; ++i)
        {
            if (found[i] == nullptr)
            {
                writeError(errorBuffer, errorBufferSize,
                    "no compiled " + describe(keys[i]) + " for sm_" + std::to_string(deviceSm)
                        + "; this library has it for: " + compiledSms(keys[i])
                        + ". If the build targets this SM, rebuild the kernel table (python -m edge_swin.plugins.swin_window_attention.aot.build "
                          "--arch "
                        + std::to_string(deviceSm)
                        + ") and the harness; a variant that spills on an SM is not built for it (manifest.json "
                          "not_built)");
                return 0;
            }
        }
        writeError(errorBuffer, errorBufferSize, "");
        return found[1]->sm; // the attention cubin's
    }
    catch (...)
    {
        writeError(errorBuffer, errorBufferSize, "edge_swin_node_kernel_sm failed (out of memory?)");
    }
    return 0;
}

// One node: the plugin's three launches (KernelLauncher::run) on `stream` (a cudaStream_t / CUstream; null =
// the legacy default stream), asynchronously. inputs: the node's device pointers in function.py order, 7 for an
// FP16 node (int8Mode 0, fp16 tensors) or 15 for an INT8 node (int8Mode 1: fp32 tensors, 2: fp16 tensors; the
// 8 scales fp32 in both) or an FP8 node (int8Mode 3: fp16 tensors, fp8 weights, fp32 scales); output [B, H, W, C]
// of the tensors' type
// and workspace (edge_swin_node_workspace_bytes) device pointers; all 16-byte aligned. The calling thread must
// have the device's CUDA context current (PyTorch's primary context once it has used the device).
// 0 on success (errorBuffer set to ""), else non-zero with the reason in errorBuffer. Shapes of inputs 1-14 are
// the caller's to check (TensorRT checks them for the plugin at build time; harness.py does here).
extern "C" EDGE_SWIN_EXPORT int32_t edge_swin_node_run(int32_t numHeads, int32_t windowH, int32_t windowW,
    int32_t shiftH, int32_t shiftW, float scale, int32_t int8Mode, int64_t batch, int64_t height, int64_t width,
    int64_t channels, void const* const* inputs, int32_t numInputs, void* output, void* workspace, void* stream,
    char* errorBuffer, size_t errorBufferSize)
{
    try
    {
        Capture capture;
        std::string error;
        KernelMode mode{};
        IoType io{};
        SwinAttentionParams params;
        params.numHeads = numHeads;
        params.windowH = windowH;
        params.windowW = windowW;
        params.shiftH = shiftH;
        params.shiftW = shiftW;
        params.scale = scale;
        params.version = kFunctionVersion;
        if (!checkNode(params, int8Mode, TokenShape{batch, height, width, channels}, inputs, numInputs, mode, io, error))
        {
            writeError(errorBuffer, errorBufferSize, "edge_swin_node_run: " + error);
            return 1;
        }
        NodeBuffers buffers;
        for (int32_t i = 0; i < numInputs; ++i)
        {
            buffers.inputs[i] = inputs[i];
        }
        buffers.output = output;
        buffers.workspace = workspace;
        int32_t const status = launcherFor(params).run(params, mode, io, TokenShape{batch, height, width, channels},
            buffers, reinterpret_cast<CUstream>(stream), "edge_swin_node_run (" + describe(params) + ")");
        if (status != 0)
        {
            writeError(errorBuffer, errorBufferSize,
                capture.messages().empty() ? std::string("edge_swin_node_run: KernelLauncher::run failed (status ")
                        + std::to_string(status) + ") without a message"
                                           : capture.messages());
            return status;
        }
        writeError(errorBuffer, errorBufferSize, "");
        return 0;
    }
    catch (std::exception const& e)
    {
        writeError(errorBuffer, errorBufferSize, std::string("edge_swin_node_run failed: ") + e.what());
    }
    catch (...)
    {
        writeError(errorBuffer, errorBufferSize, "edge_swin_node_run failed with an unknown exception");
    }
    return 1;
}
