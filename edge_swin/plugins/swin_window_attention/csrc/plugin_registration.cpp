// Entry points IPluginRegistry::loadLibrary looks up (TensorRT >= 10, TensorRT-RTX): the creators this library
// registers, and the logger finder TensorRT hands over. The only symbols the library exports.
#include "plugin_logger.h"
#include "swin_window_attention_plugin.h"

#include <NvInferRuntime.h>

#define EDGE_SWIN_EXPORT __attribute__((visibility("default")))

extern "C" EDGE_SWIN_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    edge_swin::setPluginLoggerFinder(finder);
}

extern "C" EDGE_SWIN_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static edge_swin::SwinWindowAttentionCreator creator;
    static nvinfer1::IPluginCreatorInterface* const creators[] = {&creator};
    nbCreators = 1;
    return creators;
}
