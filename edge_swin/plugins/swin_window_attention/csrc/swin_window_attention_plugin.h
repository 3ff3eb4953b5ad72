// edge_swin::SwinWindowAttention, plugin version 1: TensorRT IPluginV3 (OneCore / OneBuild / OneRuntime)
// replacing the body of the `edge_swin.SwinWindowAttention` ONNX local function (edge_swin/export/function.py).
//
// Which nodes it serves (strongly typed networks fix the types):
//   * FP16 export: 7 inputs, every tensor HALF  -> fp16 kernels;
//   * INT8 export: 15 inputs, every tensor FLOAT (a Q/DQ graph) -> int8 kernels with the node's scales.
// A 7-input FLOAT node (an FP32 export) is refused with an error: the plugin has no FP32 kernels. Build FP32
// engines without loading this library; the ONNX parser then uses the function body.
// The ONNX parser maps a node to this plugin only when the node carries plugin_namespace="edge_swin" (it
// otherwise imports the local function body; edge_swin.plugins.swin_window_attention.contract.add_plugin_namespace).
// All tensors LINEAR; y has x's shape and type. The build-time half (shapes, types, formats, workspace,
// serialisation) runs without a GPU; enqueue launches the embedded Triton cubins through the CUDA driver.
#pragma once

#include "kernel_launcher.h"
#include "swin_attention_params.h"

#include <NvInferRuntime.h>

#include <memory>
#include <string>

namespace edge_swin {

class SwinWindowAttentionPlugin : public nvinfer1::IPluginV3,
                                  public nvinfer1::IPluginV3OneCore,
                                  public nvinfer1::IPluginV3OneBuild,
                                  public nvinfer1::IPluginV3OneRuntime
{
public:
    SwinWindowAttentionPlugin(std::string nodeName, SwinAttentionParams const& params);
    ~SwinWindowAttentionPlugin() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t getNbOutputs() const noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
        nvinfer1::DimsExprs const* shapeInputs, int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs,
        int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    int32_t getNbTactics() noexcept override;
    int32_t getValidTactics(int32_t* tactics, int32_t nbTactics) noexcept override;
    char const* getMetadataString() noexcept override;

    // IPluginV3OneRuntime
    int32_t setTactic(int32_t tactic) noexcept override;
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    // "edge_swin::SwinWindowAttention '<node>'", the prefix of every message.
    std::string who() const;
    // Input count and tensor shapes against the attributes; false with the reason.
    // mode: the node's kind (modeOf), which decides the scales' shapes
    bool checkInputs(nvinfer1::Dims const* dims, int32_t nbInputs, KernelMode mode, std::string& error) const;

    std::string mNodeName;
    SwinAttentionParams mParams;
    // 7 (FP16 node) or 15 (INT8 node), from configurePlugin / onShapeChange: enqueue gets no input count, and
    // x's type alone does not tell the nodes apart (both take HALF). 0 until then.
    int32_t mNbInputs{0};
    std::string mMetadata;
    SerializedFields mSerialized;
    // Shared by clones: cubins are loaded once per CUDA context per node.
    std::shared_ptr<KernelLauncher> mLauncher;
};

class SwinWindowAttentionCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV3* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
        nvinfer1::TensorRTPhase phase) noexcept override;
};

} // namespace edge_swin
