#include "kernel_table.h"

#include <set>
#include <sstream>
#include <utility>

namespace edge_swin {
namespace {

bool matches(EmbeddedKernel const& k, KernelKey const& key)
{
    if (k.family != key.family || k.mode != key.mode || k.io != key.io)
    {
        return false;
    }
    return key.family != KernelFamily::kWindowAttention
        || (k.windowH == key.windowH && k.windowW == key.windowW && k.shifted == key.shifted);
}

bool runsOn(int32_t cubinSm, int32_t deviceSm)
{
    if (cubinSm >= 90)
    {
        return deviceSm == cubinSm; // sm_90a, sm_110a: arch-specific cubins run on that SM only
    }
    return cubinSm / 10 == deviceSm / 10 && cubinSm % 10 <= deviceSm % 10;
}

char const* modeName(KernelMode mode)
{
    return mode == KernelMode::kINT8 ? "int8" : mode == KernelMode::kFP8 ? "fp8" : "fp16";
}

char const* ioName(IoType io)
{
    return io == IoType::kHALF ? "fp16" : "fp32";
}

} // namespace

KernelKey linearKey(KernelMode mode, IoType io)
{
    return KernelKey{KernelFamily::kLinear, mode, io, 0, 0, 0};
}

KernelKey qkvLinearKey(KernelMode mode, IoType io)
{
    return KernelKey{KernelFamily::kQkvLinear, mode, io, 0, 0, 0};
}

KernelKey attentionKey(KernelMode mode, IoType io, int32_t windowH, int32_t windowW, bool shifted)
{
    return KernelKey{KernelFamily::kWindowAttention, mode, io, windowH, windowW, shifted ? 1 : 0};
}

NodeKernelKeys nodeKernelKeys(KernelMode mode, IoType io, int32_t windowH, int32_t windowW, bool shifted)
{
    KernelKey const qkv = mode == KernelMode::kFP16 ? linearKey(mode, io) : qkvLinearKey(mode, io);
    return NodeKernelKeys{qkv, attentionKey(mode, io, windowH, windowW, shifted), linearKey(mode, io)};
}

EmbeddedKernel const* findKernel(KernelKey const& key, int32_t deviceSm)
{
    EmbeddedKernel const* best{nullptr};
    for (size_t i = 0; i < kNumEmbeddedKernels; ++i)
    {
        EmbeddedKernel const& k = kEmbeddedKernels[i];
        if (matches(k, key) && runsOn(k.sm, deviceSm) && (best == nullptr || k.sm > best->sm))
        {
            best = &k;
        }
    }
    return best;
}

bool hasKernel(KernelKey const& key)
{
    for (size_t i = 0; i < kNumEmbeddedKernels; ++i)
    {
        if (matches(kEmbeddedKernels[i], key))
        {
            return true;
        }
    }
    return false;
}

std::string compiledSms(KernelKey const& key)
{
    std::set<int32_t> sms;
    for (size_t i = 0; i < kNumEmbeddedKernels; ++i)
    {
        if (matches(kEmbeddedKernels[i], key))
        {
            sms.insert(kEmbeddedKernels[i].sm);
        }
    }
    std::ostringstream out;
    for (int32_t sm : sms)
    {
        out << (out.tellp() > 0 ? ", " : "") << "sm_" << sm << (sm == 90 ? "a" : "");
    }
    return sms.empty() ? "none" : out.str();
}

std::string compiledWindows(KernelMode mode, IoType io)
{
    std::set<std::pair<int32_t, int32_t>> windows;
    for (size_t i = 0; i < kNumEmbeddedKernels; ++i)
    {
        EmbeddedKernel const& k = kEmbeddedKernels[i];
        if (k.family == KernelFamily::kWindowAttention && k.mode == mode && k.io == io)
        {
            windows.insert({k.windowH, k.windowW});
        }
    }
    std::ostringstream out;
    for (auto const& w : windows)
    {
        out << (out.tellp() > 0 ? ", " : "") << w.first << "x" << w.second;
    }
    return windows.empty() ? "none" : out.str();
}

std::string describe(KernelKey const& key)
{
    std::ostringstream out;
    if (key.family == KernelFamily::kLinear)
    {
        out << "swin_linear_" << modeName(key.mode) << " (io " << ioName(key.io) << ")";
    }
    else if (key.family == KernelFamily::kQkvLinear)
    {
        out << "swin_qkv_" << modeName(key.mode) << " (io " << ioName(key.io) << ")";
    }
    else
    {
        out << "swin_window_attention_" << modeName(key.mode) << " (io " << ioName(key.io) << ", window "
            << key.windowH << "x" << key.windowW << (key.shifted ? ", shifted" : ", unshifted") << ")";
    }
    return out.str();
}

} // namespace edge_swin
