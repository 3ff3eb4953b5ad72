#include "swin_attention_params.h"

#include "kernel_table.h"

#include <cstring>
#include <limits>
#include <sstream>

namespace edge_swin {
namespace {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

char const* typeName(PluginFieldType type)
{
    switch (type)
    {
    case PluginFieldType::kFLOAT16: return "FLOAT16";
    case PluginFieldType::kFLOAT32: return "FLOAT32";
    case PluginFieldType::kFLOAT64: return "FLOAT64";
    case PluginFieldType::kINT8: return "INT8";
    case PluginFieldType::kINT16: return "INT16";
    case PluginFieldType::kINT32: return "INT32";
    case PluginFieldType::kINT64: return "INT64";
    case PluginFieldType::kCHAR: return "CHAR";
    default: return "another type";
    }
}

bool readInts(PluginField const& f, int32_t count, int32_t* out, std::string& error)
{
    if (f.data == nullptr || f.length != count)
    {
        error = std::string("attribute ") + f.name + " has " + std::to_string(f.length) + " values, expected "
            + std::to_string(count);
        return false;
    }
    for (int32_t i = 0; i < count; ++i)
    {
        if (f.type == PluginFieldType::kINT32)
        {
            out[i] = static_cast<int32_t const*>(f.data)[i];
        }
        else if (f.type == PluginFieldType::kINT64)
        {
            int64_t v = static_cast<int64_t const*>(f.data)[i];
            if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
            {
                error = std::string("attribute ") + f.name + " value " + std::to_string(v) + " does not fit int32";
                return false;
            }
            out[i] = static_cast<int32_t>(v);
        }
        else
        {
            error = std::string("attribute ") + f.name + " is " + typeName(f.type) + ", expected INT32 or INT64";
            return false;
        }
    }
    return true;
}

bool readFloat(PluginField const& f, float& out, std::string& error)
{
    if (f.data == nullptr || f.length != 1)
    {
        error = std::string("attribute ") + f.name + " has " + std::to_string(f.length) + " values, expected 1";
        return false;
    }
    if (f.type == PluginFieldType::kFLOAT32)
    {
        out = *static_cast<float const*>(f.data);
        return true;
    }
    if (f.type == PluginFieldType::kFLOAT64)
    {
        out = static_cast<float>(*static_cast<double const*>(f.data));
        return true;
    }
    error = std::string("attribute ") + f.name + " is " + typeName(f.type) + ", expected FLOAT32 or FLOAT64";
    return false;
}

// num_heads, window_size, shift_size, scale, version
enum FieldBit : unsigned { kHeads = 1U, kWindow = 2U, kShift = 4U, kScale = 8U, kVersion = 16U, kAll = 31U };

} // namespace

bool parseFields(nvinfer1::PluginFieldCollection const* fields, SwinAttentionParams& params, std::string& error)
{
    if (fields == nullptr || (fields->nbFields > 0 && fields->fields == nullptr))
    {
        error = "no attributes given";
        return false;
    }
    unsigned seen = 0;
    for (int32_t i = 0; i < fields->nbFields; ++i)
    {
        PluginField const& f = fields->fields[i];
        if (f.name == nullptr)
        {
            continue;
        }
        bool ok = true;
        if (std::strcmp(f.name, "num_heads") == 0)
        {
            ok = readInts(f, 1, &params.numHeads, error);
            seen |= kHeads;
        }
        else if (std::strcmp(f.name, "window_size") == 0)
        {
            int32_t v[2];
            ok = readInts(f, 2, v, error);
            params.windowH = v[0];
            params.windowW = v[1];
            seen |= kWindow;
        }
        else if (std::strcmp(f.name, "shift_size") == 0)
        {
            int32_t v[2];
            ok = readInts(f, 2, v, error);
            params.shiftH = v[0];
            params.shiftW = v[1];
            seen |= kShift;
        }
        else if (std::strcmp(f.name, "scale") == 0)
        {
            ok = readFloat(f, params.scale, error);
            seen |= kScale;
        }
        else if (std::strcmp(f.name, "version") == 0)
        {
            ok = readInts(f, 1, &params.version, error);
            seen |= kVersion;
        }
        if (!ok)
        {
            return false;
        }
    }
    if (seen != kAll)
    {
        std::string missing;
        char const* names[] = {"num_heads", "window_size", "shift_size", "scale", "version"};
        for (unsigned b = 0; b < 5; ++b)
        {
            if ((seen & (1U << b)) == 0)
            {
                missing += (missing.empty() ? "" : ", ") + std::string(names[b]);
            }
        }
        error = "missing attribute(s) " + missing
            + ": the node was not written by edge_swin.export (or by an older version); re-export the model";
        return false;
    }
    return true;
}

bool checkParams(SwinAttentionParams const& p, std::string& error)
{
    std::ostringstream msg;
    if (p.version != kFunctionVersion)
    {
        msg << "node signature version " << p.version << ", this plugin implements version " << kFunctionVersion
            << " (edge_swin.export.function.FUNCTION_VERSION): re-export the ONNX and rebuild the plugin library "
               "from the same edge_swin checkout";
    }
    else if (p.numHeads < 1)
    {
        msg << "num_heads " << p.numHeads << " must be at least 1";
    }
    else if (p.windowH < 1 || p.windowW < 1)
    {
        msg << "window_size [" << p.windowH << ", " << p.windowW << "] must be positive";
    }
    else if (p.shiftH < 0 || p.shiftH >= p.windowH || p.shiftW < 0 || p.shiftW >= p.windowW)
    {
        msg << "shift_size [" << p.shiftH << ", " << p.shiftW << "] must lie in [0, window) for window ["
            << p.windowH << ", " << p.windowW << "]";
    }
    else if (!(p.scale > 0.F))
    {
        msg << "scale " << p.scale << " must be positive";
    }
    else if (!hasKernel(attentionKey(KernelMode::kFP16, IoType::kHALF, p.windowH, p.windowW, p.shifted()))
        && !hasKernel(attentionKey(KernelMode::kINT8, IoType::kHALF, p.windowH, p.windowW, p.shifted()))
        && !hasKernel(attentionKey(KernelMode::kINT8, IoType::kFLOAT, p.windowH, p.windowW, p.shifted()))
        && !hasKernel(attentionKey(KernelMode::kFP8, IoType::kHALF, p.windowH, p.windowW, p.shifted())))
    {
        msg << "window " << p.windowH << "x" << p.windowW << (p.shifted() ? " (shifted)" : "")
            << " has no compiled kernels (fp16: " << compiledWindows(KernelMode::kFP16, IoType::kHALF)
            << "; int8, fp16 io: " << compiledWindows(KernelMode::kINT8, IoType::kHALF)
            << "; int8, fp32 io: " << compiledWindows(KernelMode::kINT8, IoType::kFLOAT)
            << "; fp8: " << compiledWindows(KernelMode::kFP8, IoType::kHALF)
            << "): use a model with one of those windows, or add the window to edge_swin.plugins.swin_window_attention.aot.build and "
               "rebuild the plugin library";
    }
    error = msg.str();
    return error.empty();
}

std::string describe(SwinAttentionParams const& p)
{
    std::ostringstream out;
    out << "num_heads=" << p.numHeads << " window_size=[" << p.windowH << ", " << p.windowW << "] shift_size=["
        << p.shiftH << ", " << p.shiftW << "] scale=" << p.scale << " version=" << p.version;
    return out.str();
}

nvinfer1::PluginFieldCollection const* fieldNames()
{
    static PluginField const kFields[] = {
        PluginField("num_heads", nullptr, PluginFieldType::kINT32, 1),
        PluginField("window_size", nullptr, PluginFieldType::kINT32, 2),
        PluginField("shift_size", nullptr, PluginFieldType::kINT32, 2),
        PluginField("scale", nullptr, PluginFieldType::kFLOAT32, 1),
        PluginField("version", nullptr, PluginFieldType::kINT32, 1),
    };
    static nvinfer1::PluginFieldCollection const kCollection{5, kFields};
    return &kCollection;
}

nvinfer1::PluginFieldCollection const* SerializedFields::update(SwinAttentionParams const& p)
{
    mInts = {p.numHeads, p.windowH, p.windowW, p.shiftH, p.shiftW, p.version};
    mScale = p.scale;
    mFields[0] = PluginField("num_heads", &mInts[0], PluginFieldType::kINT32, 1);
    mFields[1] = PluginField("window_size", &mInts[1], PluginFieldType::kINT32, 2);
    mFields[2] = PluginField("shift_size", &mInts[3], PluginFieldType::kINT32, 2);
    mFields[3] = PluginField("scale", &mScale, PluginFieldType::kFLOAT32, 1);
    mFields[4] = PluginField("version", &mInts[5], PluginFieldType::kINT32, 1);
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
    return &mCollection;
}

} // namespace edge_swin
