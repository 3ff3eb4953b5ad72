// Image loading and the eval transform of edge_swin.data.eval_transform, in plain C++17 (no image library).
//
// What Python does (torchvision on a PIL RGB image), and what this file reproduces:
//   Resize(round(size / crop_pct), BICUBIC)  shorter side to that length, the longer one int(len * long / short);
//                                             PIL's separable bicubic (a = -0.5, antialiased when shrinking,
//                                             8-bit fixed-point, horizontal pass then vertical pass)
//   CenterCrop(size)                          offsets int(round((h - size) / 2)), Python's round (half to even)
//   ToTensor(), Normalize(mean, std)          x / 255, then (x - mean[c]) / std[c], CHW float32
// A grey (PGM) image is replicated to 3 channels first, as PIL's convert("RGB") and the embedded
// Fashion-MNIST set do. tests/bundle checks this file against torchvision on random images.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace edge_swin_example {

struct Image8 {
    int width = 0;
    int height = 0;
    int channels = 3;            // always 3 after loading: grey is replicated
    std::vector<uint8_t> pixels; // HWC, row-major
};

namespace detail {

inline void skipSpaceAndComments(std::istream& in) {
    for (int c = in.peek(); c != EOF; c = in.peek()) {
        if (c == '#') {
            std::string line;
            std::getline(in, line);
        } else if (std::isspace(c)) {
            in.get();
        } else {
            break;
        }
    }
}

inline int readHeaderInt(std::istream& in, std::string const& path) {
    skipSpaceAndComments(in);
    int value = -1;
    if (!(in >> value) || value <= 0) {
        throw std::runtime_error(path + ": malformed PPM/PGM header");
    }
    return value;
}

} // namespace detail

// Binary PPM (P6, RGB) or PGM (P5, grey), maxval <= 255. Convert anything else first, e.g.
//   python3 -c "from PIL import Image; Image.open('in.png').convert('RGB').save('in.ppm')"
//   convert in.png in.ppm            (ImageMagick)
inline Image8 readPnm(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open image " + path);
    }
    char magic[2] = {0, 0};
    in.read(magic, 2);
    if (magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) {
        throw std::runtime_error(path + ": not a binary PPM (P6) or PGM (P5) file. Convert it: "
                                        "python3 -c \"from PIL import Image; Image.open('in.png').convert('RGB').save('in.ppm')\"");
    }
    int const srcChannels = magic[1] == '6' ? 3 : 1;
    Image8 img;
    img.width = detail::readHeaderInt(in, path);
    img.height = detail::readHeaderInt(in, path);
    int const maxval = detail::readHeaderInt(in, path);
    if (maxval > 255) {
        throw std::runtime_error(path + ": 16-bit PPM/PGM is not supported (maxval " + std::to_string(maxval) + ")");
    }
    in.get(); // the single whitespace byte before the raster
    std::vector<uint8_t> raw(static_cast<size_t>(img.width) * img.height * srcChannels);
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
    if (in.gcount() != static_cast<std::streamsize>(raw.size())) {
        throw std::runtime_error(path + ": truncated raster");
    }
    img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
    for (size_t i = 0, n = static_cast<size_t>(img.width) * img.height; i < n; ++i) {
        for (int c = 0; c < 3; ++c) {
            int const v = raw[i * srcChannels + (srcChannels == 3 ? c : 0)];
            img.pixels[i * 3 + c] = static_cast<uint8_t>(maxval == 255 ? v : (v * 255 + maxval / 2) / maxval);
        }
    }
    return img;
}

namespace detail {

constexpr int kPrecisionBits = 32 - 8 - 2; // PIL's fixed-point precision for 8-bit resampling

inline double bicubic(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) {
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    }
    if (x < 2.0) {
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    }
    return 0.0;
}

struct Taps {
    int first = 0;
    std::vector<int32_t> weights; // fixed point, kPrecisionBits
};

// One output pixel's source range and weights along one axis (PIL's precompute_coeffs + normalize_coeffs_8bpc).
inline std::vector<Taps> resampleTaps(int inSize, int outSize) {
    double const scale = static_cast<double>(inSize) / outSize;
    double const filterScale = std::max(scale, 1.0);
    double const support = 2.0 * filterScale;
    std::vector<Taps> taps(static_cast<size_t>(outSize));
    for (int xx = 0; xx < outSize; ++xx) {
        double const center = (xx + 0.5) * scale;
        int const xmin = std::max(static_cast<int>(center - support + 0.5), 0);
        int const xmax = std::min(static_cast<int>(center + support + 0.5), inSize) - xmin;
        std::vector<double> k(static_cast<size_t>(xmax));
        double total = 0.0;
        for (int x = 0; x < xmax; ++x) {
            k[x] = bicubic((x + xmin - center + 0.5) / filterScale);
            total += k[x];
        }
        taps[xx].first = xmin;
        taps[xx].weights.resize(static_cast<size_t>(xmax));
        for (int x = 0; x < xmax; ++x) {
            double const w = total != 0.0 ? k[x] / total : k[x];
            double const fixed = w * (1 << kPrecisionBits);
            taps[xx].weights[x] = static_cast<int32_t>(w < 0 ? std::trunc(fixed - 0.5) : std::trunc(fixed + 0.5));
        }
    }
    return taps;
}

inline uint8_t clip8(int64_t v) {
    if (v <= 0) {
        return 0;
    }
    int64_t const shifted = v >> kPrecisionBits;
    return static_cast<uint8_t>(shifted > 255 ? 255 : shifted);
}

// Resample along x (horizontal = true) or y, 3 channels, into a new image.
inline Image8 resampleAxis(Image8 const& src, int outSize, bool horizontal) {
    Image8 dst;
    dst.width = horizontal ? outSize : src.width;
    dst.height = horizontal ? src.height : outSize;
    dst.pixels.assign(static_cast<size_t>(dst.width) * dst.height * 3, 0);
    auto const taps = resampleTaps(horizontal ? src.width : src.height, outSize);
    for (int y = 0; y < dst.height; ++y) {
        for (int x = 0; x < dst.width; ++x) {
            Taps const& t = taps[horizontal ? x : y];
            for (int c = 0; c < 3; ++c) {
                int64_t acc = int64_t{1} << (kPrecisionBits - 1);
                for (size_t i = 0; i < t.weights.size(); ++i) {
                    int const sx = horizontal ? t.first + static_cast<int>(i) : x;
                    int const sy = horizontal ? y : t.first + static_cast<int>(i);
                    acc += static_cast<int64_t>(src.pixels[(static_cast<size_t>(sy) * src.width + sx) * 3 + c]) * t.weights[i];
                }
                dst.pixels[(static_cast<size_t>(y) * dst.width + x) * 3 + c] = clip8(acc);
            }
        }
    }
    return dst;
}

inline int pythonRound(double v) {
    return static_cast<int>(std::nearbyint(v)); // default rounding mode: half to even, like Python's round()
}

} // namespace detail

// PIL's Image.resize(..., BICUBIC): horizontal pass first, each pass skipped when that size is unchanged.
inline Image8 resizeBicubic(Image8 const& src, int width, int height) {
    Image8 out = src;
    if (width != src.width) {
        out = detail::resampleAxis(out, width, true);
    }
    if (height != src.height) {
        out = detail::resampleAxis(out, height, false);
    }
    return out;
}

struct EvalTransform {
    int size = 224;                                  // the model's input height = width
    double cropPct = 224.0 / 256.0;                  // 1.0: resize whole (the embedded Fashion-MNIST default)
    std::array<float, 3> mean{0.485f, 0.456f, 0.406f}; // ImageNet, as edge_swin.data.transforms
    std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// CHW float32 [3, size, size], exactly what edge_swin.data.eval_transform(size, crop_pct) gives.
inline std::vector<float> evalTransform(Image8 const& img, EvalTransform const& t) {
    int const shortTarget = detail::pythonRound(t.size / t.cropPct);
    int const shortSide = std::min(img.width, img.height);
    int const longSide = std::max(img.width, img.height);
    int const longTarget = static_cast<int>(static_cast<double>(shortTarget) * longSide / shortSide);
    int const w = img.width <= img.height ? shortTarget : longTarget;
    int const h = img.width <= img.height ? longTarget : shortTarget;
    Image8 const resized = (w == img.width && h == img.height) ? img : resizeBicubic(img, w, h);
    if (resized.width < t.size || resized.height < t.size) {
        throw std::runtime_error("crop_pct > 1 (padding before the crop) is not supported by this example");
    }
    int const top = detail::pythonRound((resized.height - t.size) / 2.0);
    int const left = detail::pythonRound((resized.width - t.size) / 2.0);
    std::vector<float> chw(static_cast<size_t>(3) * t.size * t.size);
    for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < t.size; ++y) {
            for (int x = 0; x < t.size; ++x) {
                uint8_t const v = resized.pixels[(static_cast<size_t>(y + top) * resized.width + (x + left)) * 3 + c];
                float const unit = static_cast<float>(v) / 255.0f;
                chw[(static_cast<size_t>(c) * t.size + y) * t.size + x] = (unit - t.mean[c]) / t.std[c];
            }
        }
    }
    return chw;
}

// A raw little-endian float32 file holding one already-preprocessed [C, H, W] tensor, e.g. from
//   edge_swin.data.eval_transform(size, crop_pct)(img).numpy().tofile("img.f32")
inline std::vector<float> readRawFloat(std::string const& path, size_t expectedCount) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    auto const bytes = static_cast<size_t>(in.tellg());
    if (bytes != expectedCount * sizeof(float)) {
        throw std::runtime_error(path + ": " + std::to_string(bytes) + " bytes, but the engine's input needs "
                                 + std::to_string(expectedCount) + " float32 values (" + std::to_string(expectedCount * 4)
                                 + " bytes)");
    }
    std::vector<float> data(expectedCount);
    in.seekg(0);
    in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes));
    return data;
}

} // namespace edge_swin_example
