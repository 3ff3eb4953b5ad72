// Test harness for the plugin library, the way TensorRT drives it but without TensorRT (tests/plugins).
//
//   plugin_harness select                 -> one line per device SM: "sm <device> -> <cubin sm | none>"
//   plugin_harness roundtrip <library.so> -> the creator's round trip and a refused enqueue, one fact a line
//
// `select` links kernel_table.cpp with a stub table and prints which cubin each device SM would get.
// `roundtrip` dlopens the library, takes its creator from getCreators (through the vtables only, as TensorRT
// does), creates a plugin from a node's fields, serialises it, recreates it for the runtime phase from the
// serialised fields, asks supportsFormatCombination about each node kind's io (one line a question), and, for
// an FP16 node and INT8 nodes with fp32 and fp16 io, calls onShapeChange (as TensorRT does before the first
// enqueue) then enqueue with aligned fake pointers: on a machine without a GPU driver (or without a current
// CUDA context) it must return non-zero and log why, never touching the pointers.
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

    // The tensors of a 7x7 SW-MSA node on x [1, 14, 14, 96] (3 heads, 2 x 2 windows): 7 inputs, 15 for INT8.
    auto node = [](int32_t nbInputs, DataType io) {
        std::vector<std::vector<int64_t>> const shapes = {{1, 14, 14, 96}, {288, 96}, {288}, {96, 96}, {96},
            {3, 49, 49}, {4, 49, 49}, {}, {288}, {}, {}, {}, {}, {}, {96}};
        std::vector<PluginTensorDesc> desc(nbInputs + 1);
        for (int32_t i = 0; i <= nbInputs; ++i)
        {
            std::vector<int64_t> const& shape = shapes[i == nbInputs ? 0 : i]; // the output: x's shape
            PluginTensorDesc& d = desc[i];
            d.type = i >= 7 && i < nbInputs ? DataType::kFLOAT : io; // INT8 scales are FLOAT
            d.format = TensorFormat::kLINEAR;
            d.scale = 1.F;
            d.dims.nbDims = static_cast<int32_t>(shape.size());
            for (size_t k = 0; k < shape.size(); ++k)
            {
                d.dims.d[k] = shape[k];
            }
        }
        return desc;
    };

    // Formats: which io each node kind offers (x's type decides the others; scales FLOAT).
    auto* buildCap = static_cast<IPluginV3OneBuild*>(built->getCapabilityInterface(PluginCapabilityType::kBUILD));
    struct Question
    {
        char const* what;
        int32_t nbInputs;
        DataType x;
        int32_t pos;
        DataType type;
    };
    Question const questions[] = {{"fp16_node_x_half", 7, DataType::kHALF, 0, DataType::kHALF},
        {"fp16_node_x_float", 7, DataType::kFLOAT, 0, DataType::kFLOAT},
        {"int8_node_x_half", 15, DataType::kHALF, 0, DataType::kHALF},
        {"int8_node_x_float", 15, DataType::kFLOAT, 0, DataType::kFLOAT},
        {"int8_node_x_int8", 15, DataType::kINT8, 0, DataType::kINT8},
        {"int8_half_weight_half", 15, DataType::kHALF, 1, DataType::kHALF},
        {"int8_half_weight_float", 15, DataType::kHALF, 1, DataType::kFLOAT},
        {"int8_half_scale_float", 15, DataType::kHALF, 9, DataType::kFLOAT},
        {"int8_half_scale_half", 15, DataType::kHALF, 9, DataType::kHALF},
        {"int8_half_y_half", 15, DataType::kHALF, 15, DataType::kHALF},
        {"int8_half_y_float", 15, DataType::kHALF, 15, DataType::kFLOAT},
        {"int8_float_y_float", 15, DataType::kFLOAT, 15, DataType::kFLOAT}};
    for (Question const& q : questions)
    {
        std::vector<PluginTensorDesc> desc = node(q.nbInputs, q.x);
        std::vector<DynamicPluginTensorDesc> dyn(desc.size());
        for (size_t i = 0; i < desc.size(); ++i)
        {
            dyn[i].desc = desc[i];
            dyn[i].min = dyn[i].max = dyn[i].opt = desc[i].dims;
        }
        dyn[q.pos].desc.type = q.type;
        bool const ok = buildCap->supportsFormatCombination(q.pos, dyn.data(), q.nbInputs, 1);
        std::printf("format_%s %d\n", q.what, ok ? 1 : 0);
    }

    auto* rt = static_cast<IPluginV3OneRuntime*>(restored->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    struct Kind
    {
        char const* name;
        int32_t nbInputs;
        DataType io;
    };
    for (Kind const& kind : {Kind{"fp16", 7, DataType::kHALF}, Kind{"int8_fp32io", 15, DataType::kFLOAT},
             Kind{"int8_fp16io", 15, DataType::kHALF}})
    {
        std::vector<PluginTensorDesc> desc = node(kind.nbInputs, kind.io);
        std::vector<void const*> inputs(kind.nbInputs, reinterpret_cast<void const*>(0x100000));
        void* outputs[1] = {reinterpret_cast<void*>(0x200000)};
        int32_t const shaped = rt->onShapeChange(desc.data(), kind.nbInputs, &desc[kind.nbInputs], 1);
        int32_t const status = rt->enqueue(desc.data(), &desc[kind.nbInputs], inputs.data(), outputs,
            reinterpret_cast<void*>(0x300000), nullptr);
        std::printf("enqueue_%s %d %d\n", kind.name, shaped, status);
    }

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
