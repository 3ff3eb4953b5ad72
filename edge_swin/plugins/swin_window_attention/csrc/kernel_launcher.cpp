#include "kernel_launcher.h"

#include "cuda_driver.h"
#include "kernel_table.h"
#include "plugin_logger.h"

#include <limits>
#include <sstream>

namespace edge_swin {
namespace {

constexpr size_t kAlign = 256;             // TensorRT's own tensor alignment; Triton assumes 16 at most
constexpr int32_t kDefaultSharedMax = 48 * 1024; // above this a kernel must opt in (cuFuncSetAttribute)

size_t alignUp(size_t bytes)
{
    return (bytes + kAlign - 1) / kAlign * kAlign;
}

int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

size_t elementSize(IoType io)
{
    return io == IoType::kHALF ? 2 : 4;
}

// Bytes of one workspace element: the io type for an FP16 node, one byte (int8 / fp8) for an INT8 / FP8 node.
size_t workspaceElementSize(KernelMode mode, IoType io)
{
    return mode == KernelMode::kFP16 ? elementSize(io) : 1;
}

// Loads one cubin and finds its kernel; opts in to more than 48 KiB of dynamic shared memory when needed.
bool loadKernel(CudaDriver const& cu, EmbeddedKernel const& k, CUmodule& module, CUfunction& fn, std::string& error)
{
    CUresult st = cu.moduleLoadData(&module, k.image);
    if (st != CUDA_SUCCESS)
    {
        error = std::string("cuModuleLoadData(") + k.symbol + ", sm_" + std::to_string(k.sm)
            + ") failed: " + cudaErrorText(cu, st)
            + " (a driver older than the cubins' ptxas, or a cubin for another SM)";
        module = nullptr;
        return false;
    }
    st = cu.moduleGetFunction(&fn, module, k.symbol);
    if (st == CUDA_SUCCESS && k.sharedBytes > kDefaultSharedMax)
    {
        st = cu.funcSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, k.sharedBytes);
        if (st != CUDA_SUCCESS)
        {
            error = std::string("kernel ") + k.symbol + " needs " + std::to_string(k.sharedBytes)
                + " bytes of shared memory, more than this GPU allows: " + cudaErrorText(cu, st);
            return false;
        }
    }
    if (st != CUDA_SUCCESS)
    {
        error = std::string("cuModuleGetFunction(") + k.symbol + ") failed: " + cudaErrorText(cu, st)
            + " (the kernel table's symbol does not match its cubin: regenerate it with "
              "python -m edge_swin.plugins.swin_window_attention.aot.build)";
        return false;
    }
    return true;
}

bool launch(CudaDriver const& cu, CUfunction fn, EmbeddedKernel const& k, int64_t gx, int64_t gy, int64_t gz,
    CUstream stream, void** args, std::string& error)
{
    if (gx < 1 || gy < 1 || gz < 1 || gx > std::numeric_limits<int32_t>::max() || gy > 65535 || gz > 65535)
    {
        std::ostringstream msg;
        msg << "grid (" << gx << ", " << gy << ", " << gz << ") of " << k.symbol << " is out of CUDA's limits";
        error = msg.str();
        return false;
    }
    CUresult st = cu.launchKernel(fn, static_cast<unsigned>(gx), static_cast<unsigned>(gy),
        static_cast<unsigned>(gz), static_cast<unsigned>(k.numWarps * 32), 1, 1,
        static_cast<unsigned>(k.sharedBytes), stream, args, nullptr);
    if (st != CUDA_SUCCESS)
    {
        error = std::string("cuLaunchKernel(") + k.symbol + ") failed: " + cudaErrorText(cu, st);
        return false;
    }
    return true;
}

} // namespace

size_t workspaceBytes(TokenShape const& shape, KernelMode mode, IoType io)
{
    if (shape.tokens() <= 0 || shape.channels <= 0)
    {
        return 0;
    }
    size_t const tokens = static_cast<size_t>(shape.tokens());
    size_t const c = static_cast<size_t>(shape.channels);
    size_t const elem = workspaceElementSize(mode, io);
    return alignUp(tokens * 3 * c * elem) + alignUp(tokens * c * elem);
}

bool fitsInt32Indexing(TokenShape const& shape, std::string& error)
{
    // M = B*H*W and 3C are i32 kernel arguments; the kernels' row offsets are int64 (kernels/*.py).
    if (shape.tokens() > std::numeric_limits<int32_t>::max() || 3 * shape.channels > std::numeric_limits<int32_t>::max())
    {
        std::ostringstream msg;
        msg << "batch " << shape.batch << " x " << shape.height << "x" << shape.width << " = " << shape.tokens()
            << " tokens exceeds the kernels' 32-bit M argument: lower the optimisation profile's max batch";
        error = msg.str();
        return false;
    }
    return true;
}

KernelLauncher::~KernelLauncher()
{
    if (mLoaded.empty())
    {
        return; // never launched (the builder on a CPU): do not touch the driver
    }
    std::string ignored;
    CudaDriver const* cu = cudaDriver(&ignored);
    if (cu == nullptr)
    {
        return;
    }
    for (auto& entry : mLoaded)
    {
        for (CUmodule m : entry.second.modules)
        {
            if (m != nullptr)
            {
                cu->moduleUnload(m); // errors ignored: the context may already be gone at process exit
            }
        }
    }
}

KernelLauncher::Loaded const* KernelLauncher::kernelsForCurrentContext(
    SwinAttentionParams const& params, KernelMode mode, IoType io, std::string& error)
{
    CudaDriver const* cu = cudaDriver(&error);
    if (cu == nullptr)
    {
        return nullptr;
    }
    CUcontext ctx{nullptr};
    CUresult st = cu->ctxGetCurrent(&ctx);
    if (st != CUDA_SUCCESS || ctx == nullptr)
    {
        error = "no current CUDA context (" + (st != CUDA_SUCCESS ? cudaErrorText(*cu, st) : std::string("null"))
            + ")";
        return nullptr;
    }
    std::lock_guard<std::mutex> lock(mMutex);
    auto const key = std::make_tuple(ctx, static_cast<int32_t>(mode), static_cast<int32_t>(io));
    auto found = mLoaded.find(key);
    if (found != mLoaded.end())
    {
        return &found->second;
    }

    CUdevice device{};
    int major = 0;
    int minor = 0;
    st = cu->ctxGetDevice(&device);
    if (st == CUDA_SUCCESS)
    {
        st = cu->deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    }
    if (st == CUDA_SUCCESS)
    {
        st = cu->deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    }
    if (st != CUDA_SUCCESS)
    {
        error = "cannot query the GPU's compute capability: " + cudaErrorText(*cu, st);
        return nullptr;
    }
    Loaded loaded;
    loaded.sm = major * 10 + minor;
    NodeKernelKeys const node = nodeKernelKeys(mode, io, params.windowH, params.windowW, params.shifted());
    KernelKey const keys[kLaunches] = {node.qkv, node.attention, node.proj};
    for (int i = 0; i < kLaunches && error.empty(); ++i)
    {
        EmbeddedKernel const* k = findKernel(keys[i], loaded.sm);
        loaded.kernels[i] = k;
        if (k == nullptr)
        {
            error = "no compiled " + describe(keys[i]) + " for this GPU (sm_" + std::to_string(loaded.sm)
                + "); the library has it for: " + compiledSms(keys[i])
                + ". Rebuild the kernels for this SM (python -m edge_swin.plugins.swin_window_attention.aot.build) and the library";
        }
        else if (k->numWarps < 1 || k->blockM < 1 || (keys[i].family != KernelFamily::kWindowAttention && k->blockN < 1))
        {
            error = describe(keys[i]) + " sm_" + std::to_string(k->sm)
                + " has no num_warps/BLOCK_M/BLOCK_N in the kernel table: regenerate it with "
                  "python -m edge_swin.plugins.swin_window_attention.aot.build";
        }
        else if (k->image == nullptr || k->imageSize == 0)
        {
            error = describe(keys[i]) + " sm_" + std::to_string(k->sm)
                + " has an empty cubin in the kernel table (a test table?): rebuild the library with the "
                  "embedded_kernels.cpp of python -m edge_swin.plugins.swin_window_attention.aot.build";
        }
        else
        {
            int earlier = -1; // the FP16 node's proj runs the qkv launch's cubin: load it once
            for (int j = 0; j < i; ++j)
            {
                earlier = loaded.kernels[j] == k ? j : earlier;
            }
            if (earlier >= 0)
            {
                loaded.functions[i] = loaded.functions[earlier];
            }
            else
            {
                loadKernel(*cu, *k, loaded.modules[i], loaded.functions[i], error);
            }
        }
    }
    if (!error.empty())
    {
        for (CUmodule m : loaded.modules)
        {
            if (m != nullptr)
            {
                cu->moduleUnload(m);
            }
        }
        return nullptr;
    }
    logVerbose("edge_swin::SwinWindowAttention: loaded " + std::string(loaded.kernels[0]->symbol) + ", "
        + loaded.kernels[1]->symbol + " and " + loaded.kernels[2]->symbol + " (sm_"
        + std::to_string(loaded.kernels[1]->sm) + ") for a device of sm_" + std::to_string(loaded.sm));
    return &mLoaded.emplace(key, loaded).first->second;
}

int32_t KernelLauncher::run(SwinAttentionParams const& params, KernelMode mode, IoType io, TokenShape const& shape,
    NodeBuffers const& buffers, CUstream stream, std::string const& who) noexcept
{
    try
    {
        std::string error;
        if (!fitsInt32Indexing(shape, error))
        {
            logError(who + ": " + error);
            return 1;
        }
        if (mode == KernelMode::kFP16 && io != IoType::kHALF)
        {
            logError(who + ": an FP16 node runs on fp16 tensors only (io fp32 asked)");
            return 1;
        }
        // The cubins are compiled for 16-byte aligned pointers (tt.divisibility 16, kernels/*.py); TensorRT's
        // tensors and workspace are 256-byte aligned, so a misaligned one is a bug worth a clear stop.
        int32_t const nbInputs = mode == KernelMode::kFP16 ? kFp16NodeInputs : kInt8NodeInputs;
        for (int32_t i = -2; i < nbInputs; ++i)
        {
            void const* p = i == -2 ? buffers.output : i == -1 ? buffers.workspace : buffers.inputs[i];
            if (p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 != 0)
            {
                logError(who + ": " + (i == -2 ? std::string("output") : i == -1 ? std::string("workspace")
                    : "input " + std::to_string(i)) + " is null or not 16-byte aligned; the kernels need both");
                return 1;
            }
        }
        Loaded const* k = kernelsForCurrentContext(params, mode, io, error);
        if (k == nullptr)
        {
            logError(who + ": " + error);
            return 1;
        }
        CudaDriver const* cu = cudaDriver(&error);
        // INT8 and FP8 take the same arguments (their kernels differ in types and constexprs only)
        bool const int8 = mode != KernelMode::kFP16;
        size_t const elem = workspaceElementSize(mode, io);

        // Kernel arguments, README "Kernel ABI": pointers as CUdeviceptr, i32 as int32_t, fp32 as float,
        // then two null pointers (Triton 3.8's global and profile scratch).
        auto ptr = [](void const* p) { return reinterpret_cast<CUdeviceptr>(p); };
        // Non-const: cuLaunchKernel takes void** to each argument.
        CUdeviceptr x = ptr(buffers.inputs[0]);
        CUdeviceptr qkvW = ptr(buffers.inputs[1]);
        CUdeviceptr qkvB = ptr(buffers.inputs[2]);
        CUdeviceptr projW = ptr(buffers.inputs[3]);
        CUdeviceptr projB = ptr(buffers.inputs[4]);
        CUdeviceptr relBias = ptr(buffers.inputs[5]);
        CUdeviceptr mask = ptr(buffers.inputs[6]);
        CUdeviceptr qkv = ptr(buffers.workspace);
        CUdeviceptr out = qkv + alignUp(static_cast<size_t>(shape.tokens() * 3 * shape.channels) * elem);
        CUdeviceptr y = ptr(buffers.output);
        // INT8 / FP8 scales, inputs 7-14: qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w (fp32; FP8: one value each)
        CUdeviceptr s[8]{};
        if (int8)
        {
            for (int i = 0; i < 8; ++i)
            {
                s[i] = ptr(buffers.inputs[kFp16NodeInputs + i]);
            }
        }
        void* scratch0 = nullptr;
        void* scratch1 = nullptr;
        int32_t M = static_cast<int32_t>(shape.tokens());
        int32_t C = static_cast<int32_t>(shape.channels);
        int32_t C3 = 3 * C;
        int32_t H = static_cast<int32_t>(shape.height);
        int32_t W = static_cast<int32_t>(shape.width);
        int32_t shiftH = params.shiftH;
        int32_t shiftW = params.shiftW;
        float scale = params.scale;

        EmbeddedKernel const& qkvK = *k->kernels[0];
        EmbeddedKernel const& att = *k->kernels[1];
        EmbeddedKernel const& projK = *k->kernels[2];
        int64_t const heads = shape.channels / kHeadDim;
        int64_t const windows = shape.batch * cdiv(shape.height, params.windowH) * cdiv(shape.width, params.windowW);

        // 1. qkv = x @ qkv_w^T + qkv_b (INT8: quantized to int8 q * scale, k, v in the epilogue).
        //    The linears' grid: one program per BLOCK_M rows, every output column (kernels/linear.py).
        {
            void* fp16Args[] = {&x, &qkvW, &qkvB, &qkv, &M, &C3, &C, &scratch0, &scratch1};
            void* int8Args[] = {&x, &qkvW, &qkvB, &qkv, &s[0], &s[1], &s[2], &s[3], &s[5], &M, &C, &scale, &scratch0,
                &scratch1};
            if (!launch(*cu, k->functions[0], qkvK, cdiv(M, qkvK.blockM), 1, 1, stream, int8 ? int8Args : fp16Args,
                    error))
            {
                logError(who + ": " + error);
                return 1;
            }
        }
        // 2. out = window attention over qkv (roll, pad, partition and their inverse in the index arithmetic);
        //    INT8: int8 out, quantized with the proj input's scale
        {
            void* fp16Args[] = {&qkv, &qkvB, &relBias, &mask, &out, &H, &W, &shiftH, &shiftW, &C, &scale, &scratch0,
                &scratch1};
            void* int8Args[] = {&qkv, &qkvB, &relBias, &mask, &out, &s[2], &s[3], &s[4], &s[5], &s[6], &H, &W,
                &shiftH, &shiftW, &C, &scale, &scratch0, &scratch1};
            if (!launch(*cu, k->functions[1], att, windows, heads, cdiv(params.windowTokens(), att.blockM), stream,
                    int8 ? int8Args : fp16Args, error))
            {
                logError(who + ": " + error);
                return 1;
            }
        }
        // 3. y = out @ proj_w^T + proj_b (INT8: out is already int8)
        {
            void* fp16Args[] = {&out, &projW, &projB, &y, &M, &C, &C, &scratch0, &scratch1};
            void* int8Args[] = {&out, &projW, &projB, &y, &s[6], &s[7], &M, &C, &C, &scratch0, &scratch1};
            if (!launch(*cu, k->functions[2], projK, cdiv(M, projK.blockM), 1, 1, stream, int8 ? int8Args : fp16Args,
                    error))
            {
                logError(who + ": " + error);
                return 1;
            }
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(who + ": enqueue failed: " + e.what());
    }
    catch (...)
    {
        logError(who + ": enqueue failed with an unknown exception");
    }
    return 1;
}

} // namespace edge_swin
