#include "plugin_logger.h"

#include <cstdio>
#include <mutex>

namespace edge_swin {
namespace {
std::mutex gFinderMutex;
nvinfer1::ILoggerFinder* gFinder{nullptr};
} // namespace

void setPluginLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept
{
    std::lock_guard<std::mutex> lock(gFinderMutex);
    gFinder = finder;
}

void pluginLog(nvinfer1::ILogger::Severity severity, std::string const& message) noexcept
{
    try
    {
        nvinfer1::ILogger* logger{nullptr};
        {
            std::lock_guard<std::mutex> lock(gFinderMutex);
            if (gFinder != nullptr)
            {
                // The finder returns the logger of the builder/runtime active now: look it up at every message.
                logger = gFinder->findLogger();
            }
        }
        if (logger != nullptr)
        {
            logger->log(severity, message.c_str());
            return;
        }
    }
    catch (...)
    {
        // fall through to stderr: a logging failure must not become a plugin failure
    }
    if (severity <= nvinfer1::ILogger::Severity::kWARNING)
    {
        std::fprintf(stderr, "[edge_swin plugin] %s\n", message.c_str());
    }
}

} // namespace edge_swin
