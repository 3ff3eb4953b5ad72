// Test harness for the plugin library, the way TensorRT drives it but without TensorRT (tests/plugins).
//
//   plugin_harness select                 -> one line per device SM: "sm <device> -> <cubin sm | none>"
//   plugin_harness roundtrip <library.so> -> the creator's round trip and a refused enqueue, one fact a line
//
// `select` links kernel_table.cpp with a stub table and prints which cubin each device SM would get.
// `roundtrip` dlopens the library, takes its creator from getCreators (through the vtables only, as TensorRT
// does), creates a plugin from a node's fields, serialises it, recreates it for the runtime phase from the
// serialised fields, and calls enqueue with aligned fake pointers: on a machine without a GPU driver (or
// without a current CUDA context) it must return non-zero and log why, never touching the pointers.
#include "kernel_table.h"

#include <NvInferRuntime.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace nvinfer1;

namespace {

class PrintLogger : public ILogger
{
public:
    void log(Severity severity, char const* msg) noexcept override
    {
        std::printf("log %d %s\n", static_cast<int>(severity), msg);
    }
};

class Finder : public ILoggerFinder
{
public:
    ILogger* findLogger() override
    {
        return &mLogger;
    }

private:
    PrintLogger mLogger;
};

int select()
{
    for (int sm : {75, 80, 86, 87, 89, 90, 100, 120})
    {
        edge_swin::EmbeddedKernel const* k = edge_swin::findKernel(
            edge_swin::attentionKey(edge_swin::KernelMode::kFP16, edge_swin::IoType::kHALF, 7, 7, true), sm);
        std::printf("sm %d -> %s\n", sm, k ? std::to_string(k->sm).c_str() : "none");
    }
    return 0;
}

std::string metadata(IPluginV3* plugin)
{
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    return build && build->getMetadataString() ? build->getMetadataString() : "(none)";
}

int roundtrip(char const* path)
{
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
    {
        std::printf("error dlopen %s\n", dlerror());
        return 1;
    }
    using GetCreators = IPluginCreatorInterface* const* (*) (int32_t&);
    using SetFinder = void (*)(ILoggerFinder*);
    auto getCreators = reinterpret_cast<GetCreators>(dlsym(lib, "getCreators"));
    auto setFinder = reinterpret_cast<SetFinder>(dlsym(lib, "setLoggerFinder"));
    static Finder finder;
    setFinder(&finder);
    int32_t n = 0;
    IPluginCreatorInterface* const* creators = getCreators(n);
    InterfaceInfo info = creators[0]->getInterfaceInfo();
    std::printf("creators %d kind %s\n", n, info.kind);
    auto* creator = static_cast<IPluginCreatorV3One*>(creators[0]);
    std::printf("creator %s %s %s\n", creator->getPluginNamespace(), creator->getPluginName(),
        creator->getPluginVersion());

    // The fields as TensorRT-RTX's parser passes them (INT32 ints, FLOAT32 scale), a shifted 7x7 node.
    int32_t heads = 3;
    int32_t window[2] = {7, 7};
    int32_t shift[2] = {3, 3};
    float scale = 0.17677669F;
    int32_t version = 2;
    PluginField fields[] = {{"num_heads", &heads, PluginFieldType::kINT32, 1},
        {"window_size", window, PluginFieldType::kINT32, 2}, {"shift_size", shift, PluginFieldType::kINT32, 2},
        {"scale", &scale, PluginFieldType::kFLOAT32, 1}, {"version", &version, PluginFieldType::kINT32, 1}};
    PluginFieldCollection fc{5, fields};
    IPluginV3* built = creator->createPlugin("node0", &fc, TensorRTPhase::kBUILD);
    std::printf("build %s\n", built ? metadata(built).c_str() : "null");

    // INT64 ints (what an INT64-delivering parser would give) give the same plugin.
    int64_t heads64 = 3;
    int64_t window64[2] = {7, 7};
    int64_t shift64[2] = {3, 3};
    int64_t version64 = 2;
    PluginField fields64[] = {{"num_heads", &heads64, PluginFieldType::kINT64, 1},
        {"window_size", window64, PluginFieldType::kINT64, 2}, {"shift_size", shift64, PluginFieldType::kINT64, 2},
        {"scale", &scale, PluginFieldType::kFLOAT32, 1}, {"version", &version64, PluginFieldType::kINT64, 1}};
    PluginFieldCollection fc64{5, fields64};
    IPluginV3* built64 = creator->createPlugin("node0", &fc64, TensorRTPhase::kBUILD);
    std::printf("build64 %s\n", built64 ? metadata(built64).c_str() : "null");

    auto* runtime = static_cast<IPluginV3OneRuntime*>(built->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    PluginFieldCollection const* saved = runtime->getFieldsToSerialize();
    std::printf("serialized %d fields\n", saved->nbFields);
    IPluginV3* restored = creator->createPlugin("node0", saved, TensorRTPhase::kRUNTIME);
    std::printf("runtime %s\n", restored ? metadata(restored).c_str() : "null");

    // enqueue: an FP16 node, x [1, 14, 14, 96]; pointers aligned and fake (must never be dereferenced here).
    std::vector<PluginTensorDesc> desc(7);
    for (auto& d : desc)
    {
        d.type = DataType::kHALF;
        d.format = TensorFormat::kLINEAR;
        d.scale = 1.F;
        d.dims.nbDims = 1;
        d.dims.d[0] = 1;
    }
    desc[0].dims.nbDims = 4;
    desc[0].dims.d[0] = 1;
    desc[0].dims.d[1] = 14;
    desc[0].dims.d[2] = 14;
    desc[0].dims.d[3] = 96;
    std::vector<void const*> inputs(7, reinterpret_cast<void const*>(0x100000));
    void* outputs[1] = {reinterpret_cast<void*>(0x200000)};
    auto* rt = static_cast<IPluginV3OneRuntime*>(restored->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    int32_t status = rt->enqueue(desc.data(), desc.data(), inputs.data(), outputs, reinterpret_cast<void*>(0x300000),
        nullptr);
    std::printf("enqueue %d\n", status);

    delete built;
    delete built64;
    delete restored;
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 2 && std::strcmp(argv[1], "select") == 0)
    {
        return select();
    }
    if (argc >= 3 && std::strcmp(argv[1], "roundtrip") == 0)
    {
        return roundtrip(argv[2]);
    }
    std::fprintf(stderr, "usage: plugin_harness select | roundtrip <library.so>\n");
    return 2;
}
