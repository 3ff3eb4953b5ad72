#include "cuda_driver.h"

#include <dlfcn.h>

#include <mutex>

namespace edge_swin {
namespace {

struct LoadedDriver
{
    CudaDriver driver{};
    bool ok{false};
    std::string error;
};

template <typename Fn>
bool resolve(void* handle, char const* symbol, Fn& fn, std::string& error)
{
    // The unversioned names are the stable ABI of these entry points (cuda.h only renames them for
    // per-thread default streams, which we never use: TensorRT gives us an explicit stream).
    fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
    if (fn == nullptr)
    {
        error = std::string("libcuda.so.1 has no symbol ") + symbol + "; the NVIDIA driver is too old or broken";
        return false;
    }
    return true;
}

LoadedDriver load()
{
    LoadedDriver out;
    // Never dlclose'd: function pointers into it live for the whole process.
    void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
    {
        char const* why = dlerror();
        out.error = std::string("cannot load the CUDA driver libcuda.so.1 (") + (why ? why : "unknown reason")
            + "): the SwinWindowAttention plugin runs only on a machine with an NVIDIA GPU and its driver";
        return out;
    }
    CudaDriver& d = out.driver;
    out.ok = resolve(handle, "cuModuleLoadData", d.moduleLoadData, out.error)
        && resolve(handle, "cuModuleUnload", d.moduleUnload, out.error)
        && resolve(handle, "cuModuleGetFunction", d.moduleGetFunction, out.error)
        && resolve(handle, "cuLaunchKernel", d.launchKernel, out.error)
        && resolve(handle, "cuFuncSetAttribute", d.funcSetAttribute, out.error)
        && resolve(handle, "cuCtxGetCurrent", d.ctxGetCurrent, out.error)
        && resolve(handle, "cuCtxGetDevice", d.ctxGetDevice, out.error)
        && resolve(handle, "cuDeviceGetAttribute", d.deviceGetAttribute, out.error)
        && resolve(handle, "cuGetErrorString", d.getErrorString, out.error);
    return out;
}

} // namespace

CudaDriver const* cudaDriver(std::string* error) noexcept
{
    static std::once_flag once;
    static LoadedDriver loaded;
    try
    {
        std::call_once(once, [] { loaded = load(); });
    }
    catch (...)
    {
        if (error != nullptr)
        {
            *error = "loading the CUDA driver failed (out of memory?)";
        }
        return nullptr;
    }
    if (!loaded.ok)
    {
        if (error != nullptr)
        {
            *error = loaded.error;
        }
        return nullptr;
    }
    return &loaded.driver;
}

std::string cudaErrorText(CudaDriver const& driver, CUresult status)
{
    char const* text = nullptr;
    if (driver.getErrorString(status, &text) != CUDA_SUCCESS || text == nullptr)
    {
        text = "unknown CUDA error";
    }
    return std::string(text) + " (CUresult " + std::to_string(static_cast<int>(status)) + ")";
}

} // namespace edge_swin
