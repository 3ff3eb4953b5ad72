// The SwinWindowAttention node's attributes as the plugin holds them: parsed from the plugin fields the ONNX
// parser (or engine deserialisation) passes, checked, and written back for serialisation.
// The contract's facts are edge_swin/plugins/swin_window_attention/contract.py (held equal to these by tests/test_structure.py); the
// signature and semantics, edge_swin/export/function.py (inputs 0-14).
#pragma once

#include "embedded_kernels.h"

#include <NvInferRuntime.h>

#include <array>
#include <string>

namespace edge_swin {

constexpr char const* kPluginName = "SwinWindowAttention";
constexpr char const* kPluginVersion = "1";
constexpr char const* kPluginNamespace = "edge_swin";
constexpr int32_t kFunctionVersion = 2; // edge_swin.plugins.swin_window_attention.contract.FUNCTION_VERSION
constexpr int32_t kHeadDim = 32;        // edge_swin.plugins.swin_window_attention.contract.HEAD_DIM, the kernels' HEAD_DIM constexpr
constexpr int32_t kFp16NodeInputs = 7;  // x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask
constexpr int32_t kInt8NodeInputs = 15; // + qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w scales

struct SwinAttentionParams
{
    int32_t numHeads{0};
    int32_t windowH{0};
    int32_t windowW{0};
    int32_t shiftH{0};
    int32_t shiftW{0};
    float scale{0.F};
    int32_t version{0};

    bool shifted() const
    {
        return shiftH != 0 || shiftW != 0;
    }
    int32_t windowTokens() const
    {
        return windowH * windowW;
    }
    int32_t channels() const
    {
        return numHeads * kHeadDim;
    }
};

// Fills `params` from `fields`; false with the reason in `error` (missing attribute, wrong type or length).
// Integers may arrive as INT32 (TensorRT-RTX's parser) or INT64, the scale as FLOAT32 or FLOAT64.
// Unknown fields are ignored.
bool parseFields(nvinfer1::PluginFieldCollection const* fields, SwinAttentionParams& params, std::string& error);

// Checks that do not need tensor shapes: version, positive sizes, shift inside the window, and that the
// embedded table holds the window (in either precision); false with a message that names the fix.
bool checkParams(SwinAttentionParams const& params, std::string& error);

// "num_heads=2 window_size=[4, 4] shift_size=[2, 2] scale=0.1768 version=2"
std::string describe(SwinAttentionParams const& params);

// The creator's field list (names, types, lengths; no data), for IPluginCreatorV3One::getFieldNames.
nvinfer1::PluginFieldCollection const* fieldNames();

// The fields getFieldsToSerialize returns, with storage that lives as long as this object.
class SerializedFields
{
public:
    nvinfer1::PluginFieldCollection const* update(SwinAttentionParams const& params);

private:
    std::array<int32_t, 6> mInts{};
    float mScale{0.F};
    std::array<nvinfer1::PluginField, 5> mFields{};
    nvinfer1::PluginFieldCollection mCollection{};
};

} // namespace edge_swin
