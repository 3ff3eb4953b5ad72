// Messages from the plugin go to the logger of whoever is using TensorRT (builder, runtime): TensorRT hands
// the library an ILoggerFinder through setLoggerFinder() when IPluginRegistry::loadLibrary opens it.
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace edge_swin {

void setPluginLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// Logs through the current TensorRT logger; errors and warnings go to stderr when there is none
// (a library opened with dlopen by hand, before any builder exists). Never throws.
void pluginLog(nvinfer1::ILogger::Severity severity, std::string const& message) noexcept;

inline void logError(std::string const& message) noexcept
{
    pluginLog(nvinfer1::ILogger::Severity::kERROR, message);
}
inline void logVerbose(std::string const& message) noexcept
{
    pluginLog(nvinfer1::ILogger::Severity::kVERBOSE, message);
}

} // namespace edge_swin
