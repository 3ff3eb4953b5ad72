// The few CUDA driver entry points the plugin needs, resolved at first use with dlopen("libcuda.so.1").
// Why not link libcuda: the library must load (and the builder must call its build-time half) on machines
// without a GPU driver, e.g. TensorRT-RTX building an engine on a CPU in CI. Only enqueue() touches the driver.
#pragma once

#include <cuda.h>

#include <string>

namespace edge_swin {

struct CudaDriver
{
    CUresult(CUDAAPI* moduleLoadData)(CUmodule*, void const*);
    CUresult(CUDAAPI* moduleUnload)(CUmodule);
    CUresult(CUDAAPI* moduleGetFunction)(CUfunction*, CUmodule, char const*);
    CUresult(CUDAAPI* launchKernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
        unsigned int, unsigned int, CUstream, void**, void**);
    CUresult(CUDAAPI* funcSetAttribute)(CUfunction, CUfunction_attribute, int);
    CUresult(CUDAAPI* ctxGetCurrent)(CUcontext*);
    CUresult(CUDAAPI* ctxGetDevice)(CUdevice*);
    CUresult(CUDAAPI* deviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
    CUresult(CUDAAPI* getErrorString)(CUresult, char const**);
};

// The driver, loaded once per process (thread-safe); nullptr when libcuda.so.1 or a symbol is missing, with the
// reason in *error.
CudaDriver const* cudaDriver(std::string* error) noexcept;

// "CUDA_ERROR_... (code): text" for a failed driver call.
std::string cudaErrorText(CudaDriver const& driver, CUresult status);

} // namespace edge_swin
