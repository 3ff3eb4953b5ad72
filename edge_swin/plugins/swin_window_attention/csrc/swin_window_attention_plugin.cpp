#include "swin_window_attention_plugin.h"

#include "kernel_table.h"
#include "plugin_logger.h"

#include <exception>
#include <sstream>
#include <vector>

using namespace nvinfer1;

namespace edge_swin {
namespace {

char const* typeName(DataType t)
{
    switch (t)
    {
    case DataType::kFLOAT: return "FLOAT";
    case DataType::kHALF: return "HALF";
    case DataType::kINT8: return "INT8";
    case DataType::kFP8: return "FP8";
    case DataType::kINT32: return "INT32";
    case DataType::kBOOL: return "BOOL";
    case DataType::kBF16: return "BF16";
    case DataType::kINT64: return "INT64";
    default: return "another type";
    }
}

char const* formatName(TensorFormat f)
{
    switch (f)
    {
    case TensorFormat::kLINEAR: return "LINEAR";
    case TensorFormat::kCHW2: return "CHW2";
    case TensorFormat::kHWC8: return "HWC8";
    case TensorFormat::kCHW4: return "CHW4";
    case TensorFormat::kCHW16: return "CHW16";
    case TensorFormat::kCHW32: return "CHW32";
    case TensorFormat::kDHWC8: return "DHWC8";
    case TensorFormat::kCDHW32: return "CDHW32";
    case TensorFormat::kHWC: return "HWC";
    case TensorFormat::kHWC16: return "HWC16";
    case TensorFormat::kDHWC: return "DHWC";
    default: return "another format";
    }
}

char const* fieldTypeName(PluginFieldType t)
{
    switch (t)
    {
    case PluginFieldType::kFLOAT32: return "FLOAT32";
    case PluginFieldType::kFLOAT64: return "FLOAT64";
    case PluginFieldType::kINT32: return "INT32";
    case PluginFieldType::kINT64: return "INT64";
    case PluginFieldType::kCHAR: return "CHAR";
    default: return "other";
    }
}

std::string dimsText(Dims const& d)
{
    std::ostringstream out;
    out << "[";
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        out << (i ? ", " : "");
        if (d.d[i] < 0)
        {
            out << "?";
        }
        else
        {
            out << d.d[i];
        }
    }
    out << "]";
    return out.str();
}

// Whether `d` is `want`, dimension by dimension; -1 in either (unknown at this point / any) matches anything.
bool shapeIs(Dims const& d, std::vector<int64_t> const& want)
{
    if (d.nbDims != static_cast<int32_t>(want.size()))
    {
        return false;
    }
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        if (d.d[i] >= 0 && want[i] >= 0 && d.d[i] != want[i])
        {
            return false;
        }
    }
    return true;
}

bool isScalar(Dims const& d)
{
    int64_t volume = 1;
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        volume *= d.d[i];
    }
    return volume == 1;
}

std::string wantText(std::vector<int64_t> const& want)
{
    Dims d{};
    d.nbDims = static_cast<int32_t>(want.size());
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        d.d[i] = want[i];
    }
    return dimsText(d);
}

// edge_swin.plugins.swin_window_attention.contract.INT8_INPUTS, in node order (tests/test_structure.py holds them equal)
char const* const kInputNames[kInt8NodeInputs] = {"x", "qkv_w", "qkv_b", "proj_w", "proj_b", "rel_bias", "mask",
    "qkv_x_scale", "qkv_w_scale", "q_scale", "k_scale", "softmax_scale", "v_scale", "proj_x_scale", "proj_w_scale"};

// A 15-input node is FP8 when its weights (inputs 1 and 3) are FP8 tensors (the e4m3 values; their per-tensor
// scales are inputs 8 and 14), INT8 otherwise; 7 inputs: FP16. `weightType`: input 1's type.
KernelMode modeOf(int32_t nbInputs, DataType weightType)
{
    if (nbInputs != kInt8NodeInputs)
    {
        return KernelMode::kFP16;
    }
    return weightType == DataType::kFP8 ? KernelMode::kFP8 : KernelMode::kINT8;
}

// The io types a node's kernels exist for (README "Variants"): FP16 node HALF; INT8 node HALF (an FP16+INT8
// engine, or an INT8 export with an FP16 graph) or FLOAT (an FP32 graph with Q/DQ, strongly typed); FP8 node HALF.
bool ioSupported(KernelMode mode, DataType io)
{
    return io == DataType::kHALF || (mode == KernelMode::kINT8 && io == DataType::kFLOAT);
}


IoType ioOf(DataType io)
{
    return io == DataType::kHALF ? IoType::kHALF : IoType::kFLOAT;
}

// Inputs 7-14 (the quantized nodes' scales) are FLOAT whatever the io: the kernels read fp32 scales. The FP8
// node's weights (inputs 1 and 3) are FP8; every other tensor has x's type.
DataType wantedType(int32_t index, DataType io, KernelMode mode = KernelMode::kINT8)
{
    if (index >= kFp16NodeInputs)
    {
        return DataType::kFLOAT;
    }
    return mode == KernelMode::kFP8 && (index == 1 || index == 3) ? DataType::kFP8 : io;
}

bool nodeKernelsExist(KernelMode mode, DataType io, SwinAttentionParams const& p)
{
    NodeKernelKeys const node = nodeKernelKeys(mode, ioOf(io), p.windowH, p.windowW, p.shifted());
    return hasKernel(node.qkv) && hasKernel(node.attention) && hasKernel(node.proj);
}

std::string inputCountError(int32_t nbInputs)
{
    return std::to_string(nbInputs) + " inputs; a SwinWindowAttention node has " + std::to_string(kFp16NodeInputs)
        + " (FP16 export) or " + std::to_string(kInt8NodeInputs) + " (INT8 or FP8 export)";
}

} // namespace

SwinWindowAttentionPlugin::SwinWindowAttentionPlugin(std::string nodeName, SwinAttentionParams const& params)
    : mNodeName(std::move(nodeName))
    , mParams(params)
    , mMetadata(describe(params))
    , mLauncher(std::make_shared<KernelLauncher>())
{
}

std::string SwinWindowAttentionPlugin::who() const
{
    return std::string(kPluginNamespace) + "::" + kPluginName + " '" + mNodeName + "'";
}

IPluginCapability* SwinWindowAttentionPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

IPluginV3* SwinWindowAttentionPlugin::clone() noexcept
{
    try
    {
        auto* copy = new SwinWindowAttentionPlugin(mNodeName, mParams);
        copy->mLauncher = mLauncher;
        copy->mNbInputs = mNbInputs;
        return copy;
    }
    catch (...)
    {
        logError("edge_swin::SwinWindowAttention: clone failed (out of memory?)");
    }
    return nullptr;
}

char const* SwinWindowAttentionPlugin::getPluginName() const noexcept
{
    return kPluginName;
}

char const* SwinWindowAttentionPlugin::getPluginVersion() const noexcept
{
    return kPluginVersion;
}

char const* SwinWindowAttentionPlugin::getPluginNamespace() const noexcept
{
    return kPluginNamespace;
}

int32_t SwinWindowAttentionPlugin::getNbOutputs() const noexcept
{
    return 1;
}

int32_t SwinWindowAttentionPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    try
    {
        std::string error;
        if (nbOutputs != 1)
        {
            error = std::to_string(nbOutputs) + " outputs; the node has one (y)";
        }
        else if (nbInputs != kFp16NodeInputs && nbInputs != kInt8NodeInputs)
        {
            error = inputCountError(nbInputs);
        }
        else if (nbInputs == kFp16NodeInputs && inputTypes[0] == DataType::kFLOAT)
        {
            error = "an FP32 node (7 inputs, FLOAT): the plugin has FP16 and INT8 kernels only. Build FP32 engines "
                    "without loading the plugin library; TensorRT then runs the node's ONNX function body";
        }
        else if (!ioSupported(modeOf(nbInputs, inputTypes[1]), inputTypes[0]))
        {
            error = std::string("x is ") + typeName(inputTypes[0]) + "; an INT8 node (15 inputs) takes HALF or FLOAT "
                    "tensors, an FP8 node (15 inputs, FP8 weights) and an FP16 node (7 inputs) HALF";
        }
        else
        {
            DataType const io = inputTypes[0];
            KernelMode const mode = modeOf(nbInputs, inputTypes[1]);
            for (int32_t i = 1; i < nbInputs && error.empty(); ++i)
            {
                DataType const want = wantedType(i, io, mode);
                if (inputTypes[i] != want)
                {
                    error = std::string("input ") + std::to_string(i) + " (" + kInputNames[i] + ") is "
                        + typeName(inputTypes[i]) + "; with x " + typeName(io) + " a " + std::to_string(nbInputs)
                        + "-input node needs it " + typeName(want)
                        + (i >= kFp16NodeInputs ? " (the INT8 scales stay float32, also in an FP16 graph: cast them "
                                                  "inside the node's function body, not before the node)"
                                                : " (tensors 0-6 share x's type)");
                }
            }
        }
        if (!error.empty())
        {
            logError(who() + ": " + error);
            return 1;
        }
        outputTypes[0] = inputTypes[0];
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(who() + ": getOutputDataTypes failed: " + e.what());
    }
    return 1;
}

int32_t SwinWindowAttentionPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs,
    DimsExprs const* /* shapeInputs */, int32_t /* nbShapeInputs */, DimsExprs* outputs, int32_t nbOutputs,
    IExprBuilder& /* exprBuilder */) noexcept
{
    try
    {
        std::string error;
        if (nbOutputs != 1 || (nbInputs != kFp16NodeInputs && nbInputs != kInt8NodeInputs))
        {
            error = nbOutputs != 1 ? std::to_string(nbOutputs) + " outputs; the node has one (y)"
                                   : inputCountError(nbInputs);
        }
        else if (inputs[0].nbDims != 4)
        {
            error = "x has rank " + std::to_string(inputs[0].nbDims) + "; expected [B, H, W, C]";
        }
        else if (inputs[0].d[3]->isConstant())
        {
            int64_t const c = inputs[0].d[3]->getConstantValue();
            if (c != mParams.channels())
            {
                error = "x has C = " + std::to_string(c) + " channels for num_heads = "
                    + std::to_string(mParams.numHeads) + " (head dim " + (c % mParams.numHeads == 0
                        ? std::to_string(c / mParams.numHeads) : std::string("not whole"))
                    + "); the kernels are compiled for head dim " + std::to_string(kHeadDim)
                    + " (C = num_heads * 32): use a model with 32 channels per head";
            }
        }
        else
        {
            error = "x's channel dimension is not a build-time constant; the kernels need C = num_heads * 32";
        }
        if (!error.empty())
        {
            logError(who() + ": " + error);
            return 1;
        }
        outputs[0] = inputs[0];
        logVerbose(who() + ": getOutputShapes: " + std::to_string(nbInputs) + " inputs, y = x's shape, "
            + mMetadata);
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(who() + ": getOutputShapes failed: " + e.what());
    }
    return 1;
}

bool SwinWindowAttentionPlugin::supportsFormatCombination(
    int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbOutputs != 1 || (nbInputs != kFp16NodeInputs && nbInputs != kInt8NodeInputs) || pos < 0
        || pos >= nbInputs + nbOutputs)
    {
        return false;
    }
    // Every tensor LINEAR. x (pos 0): HALF, or for an INT8 node HALF or FLOAT (what the kernels have); tensors 1-6
    // and y: x's type, except the FP8 node's weights (1, 3): FP8; the scales (7-14): FLOAT. TensorRT asks in
    // position order with the earlier positions fixed, so x's type is settled when qkv_w's is asked, and qkv_w's
    // (FP8: an FP8 node, x's type: an INT8 one) when the rest are. Strongly typed: the types are the ONNX file's.
    // A type is offered only where the embedded table holds the node's three kernels for it: FP8 weights only
    // where the library has the FP8 kernels (built for SMs with FP8 tensor cores), and a table built without one
    // io leaves TensorRT the other.
    PluginTensorDesc const& d = inOut[pos].desc;
    bool ok = d.format == TensorFormat::kLINEAR;
    DataType const x = inOut[0].desc.type;
    if (pos == 0)
    {
        bool const anyMode = nbInputs == kInt8NodeInputs
            ? (ioSupported(KernelMode::kINT8, d.type) && nodeKernelsExist(KernelMode::kINT8, d.type, mParams))
                || (ioSupported(KernelMode::kFP8, d.type) && nodeKernelsExist(KernelMode::kFP8, d.type, mParams))
            : ioSupported(KernelMode::kFP16, d.type) && nodeKernelsExist(KernelMode::kFP16, d.type, mParams);
        ok = ok && anyMode;
    }
    else if (pos == 1)
    {
        KernelMode const mode = modeOf(nbInputs, d.type);
        ok = ok && d.type == wantedType(1, x, mode) && ioSupported(mode, x) && nodeKernelsExist(mode, x, mParams);
    }
    else
    {
        int32_t const index = pos == nbInputs ? 0 : pos; // the output has x's type
        ok = ok && d.type == wantedType(index, x, modeOf(nbInputs, inOut[1].desc.type));
    }
    try
    {
        logVerbose(who() + ": supportsFormatCombination: pos " + std::to_string(pos) + " " + typeName(d.type) + " "
            + formatName(d.format) + (ok ? " -> yes" : " -> no"));
    }
    catch (...)
    {
    }
    return ok;
}

bool SwinWindowAttentionPlugin::checkInputs(
    Dims const* dims, int32_t nbInputs, KernelMode mode, std::string& error) const
{
    if (nbInputs != kFp16NodeInputs && nbInputs != kInt8NodeInputs)
    {
        error = inputCountError(nbInputs);
        return false;
    }
    Dims const& x = dims[0];
    int64_t const c = mParams.channels();
    int64_t const heads = mParams.numHeads;
    int64_t const n = mParams.windowTokens();
    if (!shapeIs(x, {-1, -1, -1, c}) || x.d[3] < 0)
    {
        error = "x is " + dimsText(x) + "; expected [B, H, W, C = num_heads * 32 = " + std::to_string(c) + "]";
        return false;
    }
    std::vector<std::vector<int64_t>> want = {{}, {3 * c, c}, {3 * c}, {c, c}, {c}, {heads, n, n}};
    for (int32_t i = 1; i <= 5; ++i)
    {
        if (!shapeIs(dims[i], want[i]))
        {
            error = std::string("input ") + std::to_string(i) + " (" + kInputNames[i] + ") is " + dimsText(dims[i])
                + ", expected " + wantText(want[i]) + " for num_heads " + std::to_string(heads) + ", window "
                + std::to_string(mParams.windowH) + "x" + std::to_string(mParams.windowW)
                + ": the node's attributes do not match its tensors; re-export the model";
            return false;
        }
    }
    Dims const& mask = dims[6];
    if (mParams.shifted() && x.d[1] >= 0 && x.d[2] >= 0)
    {
        int64_t const windows = ((x.d[1] + mParams.windowH - 1) / mParams.windowH)
            * ((x.d[2] + mParams.windowW - 1) / mParams.windowW);
        if (!shapeIs(mask, {windows, n, n}))
        {
            error = "input 6 (mask) is " + dimsText(mask) + ", expected " + wantText({windows, n, n})
                + " (one shift mask per window of the " + std::to_string(x.d[1]) + "x" + std::to_string(x.d[2])
                + " map)";
            return false;
        }
    }
    else if (mask.nbDims != 3)
    {
        error = "input 6 (mask) is " + dimsText(mask) + "; expected rank 3 ([nW, N, N], or [1, 1, 1] for W-MSA)";
        return false;
    }
    if (nbInputs == kInt8NodeInputs)
    {
        // INT8 weights are per output channel (scales 8 and 14 are vectors); an FP8 node's weights are per tensor
        // (the FP8 kernels take one scale a weight), so all eight of its scales are scalars.
        bool const perChannel = mode == KernelMode::kINT8;
        for (int32_t i = kFp16NodeInputs; i < kInt8NodeInputs; ++i)
        {
            int64_t const channels = !perChannel ? 0 : i == 8 ? 3 * c : i == 14 ? c : 0;
            bool ok = channels > 0 ? shapeIs(dims[i], {channels}) : isScalar(dims[i]);
            if (!ok)
            {
                error = std::string("input ") + std::to_string(i) + " (" + kInputNames[i] + ") is " + dimsText(dims[i])
                    + ", expected " + (channels > 0 ? wantText({channels}) : std::string("a scalar"))
                    + (mode == KernelMode::kFP8 ? " (an FP8 node: per-tensor scales)" : "");
                return false;
            }
        }
    }
    return true;
}

int32_t SwinWindowAttentionPlugin::configurePlugin(
    DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    try
    {
        std::string error;
        std::vector<Dims> dims;
        for (int32_t i = 0; i < nbInputs; ++i)
        {
            dims.push_back(in[i].desc.dims);
        }
        if (nbOutputs != 1)
        {
            error = std::to_string(nbOutputs) + " outputs; the node has one (y)";
        }
        else if (checkInputs(dims.data(), nbInputs, modeOf(nbInputs, in[1].desc.type), error))
        {
            KernelMode const mode = modeOf(nbInputs, in[1].desc.type);
            IoType const io = ioOf(in[0].desc.type);
            NodeKernelKeys const node = nodeKernelKeys(mode, io, mParams.windowH, mParams.windowW, mParams.shifted());
            mNbInputs = nbInputs;
            for (KernelKey const& key : {node.qkv, node.attention, node.proj})
            {
                if (error.empty() && !hasKernel(key))
                {
                    error = "the library has no " + describe(key) + " kernel (attention windows compiled for this "
                        "precision and io: " + compiledWindows(mode, io)
                        + "): add the variant to edge_swin.plugins.swin_window_attention.aot.build and rebuild the library";
                }
            }
            Dims const& maxX = in[0].max;
            TokenShape const largest{maxX.d[0], maxX.d[1], maxX.d[2], maxX.d[3]};
            if (error.empty())
            {
                fitsInt32Indexing(largest, error);
            }
        }
        if (!error.empty())
        {
            logError(who() + ": " + error);
            return 1;
        }
        logVerbose(who() + ": configurePlugin: " + std::to_string(nbInputs) + " inputs, "
            + typeName(in[0].desc.type) + ", x " + dimsText(in[0].desc.dims) + " (min " + dimsText(in[0].min)
            + ", max " + dimsText(in[0].max) + "), y " + dimsText(out[0].desc.dims) + " " + typeName(out[0].desc.type));
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(who() + ": configurePlugin failed: " + e.what());
    }
    return 1;
}

size_t SwinWindowAttentionPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    DynamicPluginTensorDesc const* /* outputs */, int32_t /* nbOutputs */) const noexcept
{
    if (nbInputs < 1 || inputs[0].max.nbDims != 4)
    {
        return 0;
    }
    Dims const& m = inputs[0].max;
    size_t const bytes = workspaceBytes(TokenShape{m.d[0], m.d[1], m.d[2], m.d[3]},
        modeOf(nbInputs, nbInputs > 1 ? inputs[1].desc.type : DataType::kHALF), ioOf(inputs[0].desc.type));
    try
    {
        logVerbose(who() + ": getWorkspaceSize: " + std::to_string(bytes) + " bytes for x max " + dimsText(m));
    }
    catch (...)
    {
    }
    return bytes;
}

int32_t SwinWindowAttentionPlugin::getNbTactics() noexcept
{
    return 1;
}

int32_t SwinWindowAttentionPlugin::getValidTactics(int32_t* tactics, int32_t nbTactics) noexcept
{
    // One tactic: the embedded kernels (0 is TensorRT's reserved default).
    if (tactics == nullptr || nbTactics < 1)
    {
        return 1;
    }
    tactics[0] = 1;
    try
    {
        logVerbose(who() + ": getValidTactics: [1]");
    }
    catch (...)
    {
    }
    return 0;
}

char const* SwinWindowAttentionPlugin::getMetadataString() noexcept
{
    return mMetadata.c_str();
}

int32_t SwinWindowAttentionPlugin::setTactic(int32_t tactic) noexcept
{
    if (tactic != 0 && tactic != 1)
    {
        try
        {
            logError(who() + ": unknown tactic " + std::to_string(tactic));
        }
        catch (...)
        {
        }
        return 1;
    }
    return 0;
}

int32_t SwinWindowAttentionPlugin::onShapeChange(
    PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    try
    {
        std::string error;
        std::vector<Dims> dims;
        for (int32_t i = 0; i < nbInputs; ++i)
        {
            dims.push_back(in[i].dims);
        }
        if (nbOutputs != 1)
        {
            error = std::to_string(nbOutputs) + " outputs; the node has one (y)";
        }
        else if (checkInputs(dims.data(), nbInputs, modeOf(nbInputs, nbInputs > 1 ? in[1].type : DataType::kHALF), error)
            && !ioSupported(modeOf(nbInputs, nbInputs > 1 ? in[1].type : DataType::kHALF), in[0].type))
        {
            error = std::string("x is ") + typeName(in[0].type) + " in a " + std::to_string(nbInputs) + "-input node";
        }
        mNbInputs = error.empty() ? nbInputs : 0;
        if (!error.empty())
        {
            logError(who() + ": " + error);
            return 1;
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(who() + ": onShapeChange failed: " + e.what());
    }
    return 1;
}

int32_t SwinWindowAttentionPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /* outputDesc */,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    // enqueue gets no input count: onShapeChange (always called before it) recorded the node kind.
    try
    {
        int32_t const nbInputs = mNbInputs;
        DataType const type = inputDesc[0].type;
        KernelMode const mode = modeOf(nbInputs, nbInputs > 1 ? inputDesc[1].type : DataType::kHALF);
        if ((nbInputs != kFp16NodeInputs && nbInputs != kInt8NodeInputs) || !ioSupported(mode, type))
        {
            logError(who() + ": enqueue with x " + typeName(type) + " and " + std::to_string(nbInputs)
                + " known inputs (onShapeChange did not succeed first?)");
            return 1;
        }
        Dims const& x = inputDesc[0].dims;
        NodeBuffers buffers;
        for (int32_t i = 0; i < nbInputs; ++i)
        {
            buffers.inputs[i] = inputs[i];
        }
        buffers.output = outputs[0];
        buffers.workspace = workspace;
        // cudaStream_t and CUstream are the same handle type (struct CUstream_st*).
        return mLauncher->run(mParams, mode, ioOf(type), TokenShape{x.d[0], x.d[1], x.d[2], x.d[3]}, buffers,
            reinterpret_cast<CUstream>(stream), who());
    }
    catch (...)
    {
        logError("edge_swin::SwinWindowAttention: enqueue failed (out of memory?)");
    }
    return 1;
}

IPluginV3* SwinWindowAttentionPlugin::attachToContext(IPluginResourceContext* /* context */) noexcept
{
    return clone();
}

PluginFieldCollection const* SwinWindowAttentionPlugin::getFieldsToSerialize() noexcept
{
    try
    {
        logVerbose(who() + ": getFieldsToSerialize: " + mMetadata);
    }
    catch (...)
    {
    }
    return mSerialized.update(mParams);
}

// ---- creator ----

char const* SwinWindowAttentionCreator::getPluginName() const noexcept
{
    return kPluginName;
}

char const* SwinWindowAttentionCreator::getPluginVersion() const noexcept
{
    return kPluginVersion;
}

char const* SwinWindowAttentionCreator::getPluginNamespace() const noexcept
{
    return kPluginNamespace;
}

PluginFieldCollection const* SwinWindowAttentionCreator::getFieldNames() noexcept
{
    return fieldNames();
}

IPluginV3* SwinWindowAttentionCreator::createPlugin(
    char const* name, PluginFieldCollection const* fc, TensorRTPhase phase) noexcept
{
    std::string const node = name != nullptr ? name : "";
    std::string const who = std::string(kPluginNamespace) + "::" + kPluginName + " '" + node + "'";
    try
    {
        SwinAttentionParams params;
        std::string error;
        if (!parseFields(fc, params, error) || !checkParams(params, error))
        {
            logError(who + ": " + error);
            return nullptr;
        }
        std::ostringstream seen;
        for (int32_t i = 0; i < fc->nbFields; ++i)
        {
            PluginField const& f = fc->fields[i];
            seen << (i ? ", " : "") << (f.name ? f.name : "?") << ":" << fieldTypeName(f.type) << "[" << f.length << "]";
        }
        logVerbose(who + ": createPlugin (" + (phase == TensorRTPhase::kBUILD ? "build" : "runtime") + ") fields "
            + seen.str() + " -> " + describe(params));
        return new SwinWindowAttentionPlugin(node, params);
    }
    catch (std::exception const& e)
    {
        logError(who + ": createPlugin failed: " + e.what());
    }
    catch (...)
    {
        logError(who + ": createPlugin failed with an unknown exception");
    }
    return nullptr;
}

} // namespace edge_swin
