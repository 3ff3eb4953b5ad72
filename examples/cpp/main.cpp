// classify: run an edge-swin TensorRT engine on one image from C++ and print the top-5 classes.
//
//   classify model_int8.engine shirt.ppm                  plugin library and sidecar found beside the engine
//   classify model_int8.engine shirt.ppm --plugin /opt/edge_swin/libedge_swin_plugins.so
//   classify model_fp16_noplugin.engine img.f32 --raw --no-plugin
//
// What it shows, in order: load the plugin library into TensorRT's registry (IPluginRegistry::loadLibrary,
// which calls the library's getCreators), check the engine's JSON sidecar against this TensorRT and GPU,
// deserialize, preprocess exactly as edge_swin.data.eval_transform, enqueueV3 on a CUDA stream, softmax, top-5.
#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_lite.h"
#include "preprocess.h"

namespace {

using edge_swin_example::Json;

constexpr int kExitMismatch = 2; // engine built for another TensorRT / GPU: rebuild it, or pass --ignore-mismatch

class Logger : public nvinfer1::ILogger {
public:
    void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override {
        if (severity <= Severity::kWARNING) {
            std::cerr << "[TensorRT] " << msg << "\n";
        }
    }
};

void checkCuda(cudaError_t status, char const* what) {
    if (status != cudaSuccess) {
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
    }
}

struct Options {
    std::string engine;
    std::string image;
    std::string plugin;     // empty: the sidecar's plugin library beside the engine, if the engine uses one
    std::string metadata;   // empty: <engine>.json, else <engine stem>.json
    std::string labels;     // one class name a line; default: the sidecar's classes
    bool noPlugin = false;
    bool raw = false;       // image is a preprocessed float32 [3, H, W] file
    bool ignoreMismatch = false;
    double cropPct = -1.0;  // < 0: the sidecar's, else 1.0
    int topK = 5;
};

void usage(std::ostream& out) {
    out << "usage: classify ENGINE IMAGE [--plugin LIB.so | --no-plugin] [--metadata ENGINE.json]\n"
           "                [--labels FILE] [--raw] [--crop-pct X] [--top K] [--ignore-mismatch]\n"
           "  IMAGE     binary PPM (P6) or PGM (P5); or, with --raw, float32 [3, H, W] already preprocessed\n"
           "  --plugin  the edge-swin plugin library (default: the one named in the sidecar, beside the engine)\n";
}

Options parseArgs(int argc, char** argv) {
    Options o;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](char const* name) -> std::string {
            if (i + 1 >= argc) {
                throw std::invalid_argument(std::string(name) + " needs a value");
            }
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            usage(std::cout);
            std::exit(0);
        } else if (a == "--plugin") {
            o.plugin = value("--plugin");
        } else if (a == "--no-plugin") {
            o.noPlugin = true;
        } else if (a == "--metadata") {
            o.metadata = value("--metadata");
        } else if (a == "--labels") {
            o.labels = value("--labels");
        } else if (a == "--raw") {
            o.raw = true;
        } else if (a == "--crop-pct") {
            o.cropPct = std::stod(value("--crop-pct"));
        } else if (a == "--top") {
            o.topK = std::stoi(value("--top"));
        } else if (a == "--ignore-mismatch") {
            o.ignoreMismatch = true;
        } else if (!a.empty() && a[0] == '-') {
            throw std::invalid_argument("unknown option " + a);
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) {
        throw std::invalid_argument("expected ENGINE and IMAGE");
    }
    o.engine = positional[0];
    o.image = positional[1];
    return o;
}

bool fileExists(std::string const& path) {
    return std::ifstream(path).good();
}

std::string dirOf(std::string const& path) {
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string withoutExtension(std::string const& path) {
    auto dot = path.find_last_of('.');
    auto slash = path.find_last_of('/');
    return (dot == std::string::npos || (slash != std::string::npos && dot < slash)) ? path : path.substr(0, dot);
}

std::vector<char> readFile(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The sidecar edge_swin writes beside every engine; a null value (with a warning) when there is none.
Json loadSidecar(Options const& o) {
    std::vector<std::string> candidates;
    if (!o.metadata.empty()) {
        candidates.push_back(o.metadata);
    } else {
        candidates = {o.engine + ".json", withoutExtension(o.engine) + ".json"};
    }
    for (auto const& path : candidates) {
        if (fileExists(path)) {
            auto bytes = readFile(path);
            return edge_swin_example::parseJson(std::string(bytes.begin(), bytes.end()));
        }
    }
    if (!o.metadata.empty()) {
        throw std::runtime_error("metadata file " + o.metadata + " not found");
    }
    std::cerr << "warning: no sidecar " << candidates[0] << ": TensorRT version and GPU are not checked\n";
    return Json{};
}

// "10.3.0.30" -> "10.3.0": engines are tied to the TensorRT release (major.minor.patch), not to the build.
std::string release(std::string const& version) {
    std::istringstream in(version);
    std::string part, out;
    for (int i = 0; i < 3 && std::getline(in, part, '.'); ++i) {
        out += (i ? "." : "") + part;
    }
    return out;
}

std::string runtimeVersion() {
    int32_t v = getInferLibVersion(); // (MAJOR * 100 + MINOR) * 100 + PATCH
    return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

std::vector<int> releaseNumbers(std::string const& version) {
    std::vector<int> parts;
    std::istringstream in(release(version));
    for (std::string part; std::getline(in, part, '.');) {
        parts.push_back(std::atoi(part.c_str()));
    }
    return parts;
}

// edge_swin.trt.metadata.runtime_accepts: the same release, or for a version-compatible engine the same major
// release or newer.
bool runtimeAccepts(std::string const& built, std::string const& current, bool versionCompatible) {
    auto const b = releaseNumbers(built);
    auto const c = releaseNumbers(current);
    if (versionCompatible) {
        return !b.empty() && !c.empty() && b[0] == c[0] && c >= b;
    }
    return b == c;
}

// Refuse, with one message that names the fix, an engine built for another TensorRT release or GPU
// (the checks of edge_swin.trt.metadata.check_engine, on the sidecar's fields).
void checkSidecar(Json const& meta, cudaDeviceProp const& prop, Options const& o) {
    if (meta.isNull()) {
        return;
    }
    std::vector<std::string> problems;
    Json const& target = meta["target"];
    std::string const flavour = meta["tensorrt"]["flavour"].str("tensorrt");
    std::string const built = meta["tensorrt"]["version"].str();
    if (flavour != "tensorrt") {
        problems.push_back("it was built with " + flavour + " " + built + ", and this program links TensorRT");
    } else if (!built.empty() && !runtimeAccepts(built, runtimeVersion(), target["version_compatible"].boolean)) {
        problems.push_back("it was built with TensorRT " + built + ", this process runs TensorRT " + runtimeVersion()
                           + " (an engine loads only in the release that built it)");
    }
    int const here = prop.major * 10 + prop.minor;
    std::string const gpu = std::string(prop.name) + ", sm_" + std::to_string(here);
    if (target["hardware_compatibility"].str() == "ampere_plus") {
        if (here < 80) {
            problems.push_back("it is a hardware-compatible engine for sm_80 and newer; this GPU is " + gpu);
        }
    } else if (target["sm"].kind == Json::Kind::kNumber) {
        int const sm = static_cast<int>(target["sm"].number);
        if (sm != here) {
            problems.push_back("it was built for " + target["name"].str("?") + " (sm_" + std::to_string(sm)
                               + "); this GPU is " + gpu);
        }
    } else if (target["min_sm"].kind == Json::Kind::kNumber && here < static_cast<int>(target["min_sm"].number)) {
        problems.push_back("it needs sm_" + std::to_string(static_cast<int>(target["min_sm"].number))
                           + " or newer; this GPU is " + gpu);
    }
    if (problems.empty()) {
        return;
    }
    std::string msg = "engine " + o.engine + " does not match this machine: ";
    for (size_t i = 0; i < problems.size(); ++i) {
        msg += (i ? "; " : "") + problems[i];
    }
    msg += ". Rebuild the engine here (the bundle's build_engine.sh, or python -m pipelines.build --target ...), "
           "or pass --ignore-mismatch to try anyway.";
    if (!o.ignoreMismatch) {
        std::cerr << "classify: " << msg << "\n";
        std::exit(kExitMismatch);
    }
    std::cerr << "warning: " << msg << "\n";
}

// Which plugin library to load: --plugin, else the sidecar's library file name beside the engine, else
// libedge_swin_plugins.so beside the engine if present; empty when the engine needs none.
std::string pluginPath(Json const& meta, Options const& o) {
    if (o.noPlugin) {
        return "";
    }
    if (!o.plugin.empty()) {
        return o.plugin;
    }
    // The sidecar records the library relative to the engine's folder (or absolute when it was elsewhere).
    std::string const recorded = meta["plugin"]["library"].str();
    if (!recorded.empty()) {
        std::string const beside = dirOf(o.engine) + "/" + recorded.substr(recorded.find_last_of('/') + 1);
        std::string const path = recorded[0] == '/' ? recorded : dirOf(o.engine) + "/" + recorded;
        if (fileExists(path)) {
            return path;
        }
        if (fileExists(beside)) {
            return beside;
        }
        throw std::runtime_error("the engine uses the plugin library " + recorded + ", not found (looked at " + path
                                 + " and " + beside + "): pass --plugin PATH");
    }
    std::string const fallback = dirOf(o.engine) + "/libedge_swin_plugins.so";
    return fileExists(fallback) ? fallback : "";
}

std::vector<std::string> classNames(Json const& meta, Options const& o, int64_t count) {
    std::vector<std::string> names;
    if (!o.labels.empty()) {
        std::ifstream in(o.labels);
        if (!in) {
            throw std::runtime_error("cannot open labels file " + o.labels);
        }
        for (std::string line; std::getline(in, line);) {
            names.push_back(line);
        }
    } else {
        for (auto const& c : meta["classes"].items) {
            names.push_back(c.str());
        }
    }
    for (auto i = static_cast<int64_t>(names.size()); i < count; ++i) {
        names.push_back("class " + std::to_string(i));
    }
    return names;
}

// IEEE half from float, round to nearest even (FP16 engines take and give half tensors).
uint16_t toHalf(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t const sign = (x >> 16) & 0x8000u;
    int32_t const exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) {
        return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
    }
    if (exp >= 31) {
        return static_cast<uint16_t>(sign | 0x7c00u);
    }
    if (exp <= 0) {
        if (exp < -10) {
            return static_cast<uint16_t>(sign);
        }
        mant |= 0x800000u;
        uint32_t const shift = static_cast<uint32_t>(14 - exp);
        uint32_t half = mant >> shift;
        uint32_t const rem = mant & ((1u << shift) - 1);
        uint32_t const mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) {
            ++half;
        }
        return static_cast<uint16_t>(sign | half);
    }
    uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    uint32_t const rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) {
        ++half; // may carry into the exponent: still correct
    }
    return static_cast<uint16_t>(half);
}

float fromHalf(uint16_t h) {
    uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while (!(mant & 0x400u));
            bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

size_t elementSize(nvinfer1::DataType t) {
    switch (t) {
    case nvinfer1::DataType::kFLOAT: return 4;
    case nvinfer1::DataType::kHALF: return 2;
    default: throw std::runtime_error("this example handles float32 and float16 input/output tensors only");
    }
}

int64_t volume(nvinfer1::Dims const& d) {
    int64_t v = 1;
    for (int i = 0; i < d.nbDims; ++i) {
        v *= d.d[i];
    }
    return v;
}

struct Destroy {
    template <typename T>
    void operator()(T* p) const { delete p; }
};

int run(Options const& o) {
    Logger logger;
    int device = 0;
    checkCuda(cudaGetDevice(&device), "cudaGetDevice (is a GPU visible? in Docker: --runtime nvidia)");
    cudaDeviceProp prop{};
    checkCuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");

    Json const meta = loadSidecar(o);
    checkSidecar(meta, prop, o);

    std::unique_ptr<nvinfer1::IRuntime, Destroy> runtime(nvinfer1::createInferRuntime(logger));
    if (!runtime) {
        throw std::runtime_error("createInferRuntime failed");
    }
    // The plugin creators must be registered before deserialization; the library stays loaded until the end.
    std::string const plugin = pluginPath(meta, o);
    nvinfer1::IPluginRegistry::PluginLibraryHandle pluginHandle = nullptr;
    if (!plugin.empty()) {
        pluginHandle = runtime->getPluginRegistry().loadLibrary(plugin.c_str());
        if (pluginHandle == nullptr) {
            throw std::runtime_error("could not load the plugin library " + plugin
                                     + " (see the TensorRT message above): build it with the bundle's build_engine.sh, "
                                       "or pass --no-plugin for an engine built without it");
        }
        std::cout << "plugin library: " << plugin << "\n";
    }

    auto const blob = readFile(o.engine);
    std::unique_ptr<nvinfer1::ICudaEngine, Destroy> engine(runtime->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine) {
        throw std::runtime_error("could not deserialize " + o.engine
                                 + " (see the TensorRT message above): wrong TensorRT version, another GPU, or a "
                                   "plugin the engine needs was not loaded");
    }
    std::unique_ptr<nvinfer1::IExecutionContext, Destroy> context(engine->createExecutionContext());

    std::string input, output;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        char const* name = engine->getIOTensorName(i);
        if (engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
            input = input.empty() ? name : input;
        } else if (output.empty()) {
            output = name;
        }
    }
    if (input.empty() || output.empty()) {
        throw std::runtime_error("the engine has no input or no output tensor");
    }
    nvinfer1::Dims inDims = engine->getTensorShape(input.c_str()); // [-1, 3, H, W]
    if (inDims.nbDims != 4 || inDims.d[1] != 3 || inDims.d[2] != inDims.d[3]) {
        throw std::runtime_error("expected an input [N, 3, S, S], got " + std::to_string(inDims.nbDims) + " dims");
    }
    int const size = static_cast<int>(inDims.d[2]);
    // Batch: 1, or the profile's minimum when that is larger (the image is repeated).
    int64_t batch = 1;
    if (inDims.d[0] < 0) {
        batch = std::max<int64_t>(1, engine->getProfileShape(input.c_str(), 0, nvinfer1::OptProfileSelector::kMIN).d[0]);
    } else {
        batch = inDims.d[0];
    }
    inDims.d[0] = batch;
    if (!context->setInputShape(input.c_str(), inDims)) {
        throw std::runtime_error("setInputShape refused batch " + std::to_string(batch));
    }

    // Preprocess on the host: the same numbers as edge_swin.data.eval_transform(size, crop_pct).
    edge_swin_example::EvalTransform t;
    t.size = size;
    Json const& pre = meta["preprocess"];
    t.cropPct = o.cropPct > 0 ? o.cropPct : pre["crop_pct"].num(1.0);
    if (pre["mean"].items.size() == 3 && pre["std"].items.size() == 3) {
        for (int c = 0; c < 3; ++c) {
            t.mean[c] = static_cast<float>(pre["mean"].items[c].num());
            t.std[c] = static_cast<float>(pre["std"].items[c].num());
        }
    }
    size_t const perImage = static_cast<size_t>(3) * size * size;
    std::vector<float> chw = o.raw ? edge_swin_example::readRawFloat(o.image, perImage)
                                   : edge_swin_example::evalTransform(edge_swin_example::readPnm(o.image), t);

    nvinfer1::DataType const inType = engine->getTensorDataType(input.c_str());
    nvinfer1::DataType const outType = engine->getTensorDataType(output.c_str());
    std::vector<uint8_t> hostIn(perImage * batch * elementSize(inType));
    for (int64_t b = 0; b < batch; ++b) {
        for (size_t i = 0; i < perImage; ++i) {
            size_t const at = b * perImage + i;
            if (inType == nvinfer1::DataType::kHALF) {
                uint16_t const h = toHalf(chw[i]);
                std::memcpy(hostIn.data() + at * 2, &h, 2);
            } else {
                std::memcpy(hostIn.data() + at * 4, &chw[i], 4);
            }
        }
    }
    nvinfer1::Dims const outDims = context->getTensorShape(output.c_str()); // [batch, classes]
    int64_t const outCount = volume(outDims);
    int64_t const classes = outCount / batch;
    std::vector<uint8_t> hostOut(static_cast<size_t>(outCount) * elementSize(outType));

    cudaStream_t stream = nullptr;
    checkCuda(cudaStreamCreate(&stream), "cudaStreamCreate");
    void* dIn = nullptr;
    void* dOut = nullptr;
    checkCuda(cudaMalloc(&dIn, hostIn.size()), "cudaMalloc(input)");
    checkCuda(cudaMalloc(&dOut, hostOut.size()), "cudaMalloc(output)");
    context->setTensorAddress(input.c_str(), dIn);
    context->setTensorAddress(output.c_str(), dOut);

    cudaEvent_t start, stop;
    checkCuda(cudaEventCreate(&start), "cudaEventCreate");
    checkCuda(cudaEventCreate(&stop), "cudaEventCreate");
    checkCuda(cudaMemcpyAsync(dIn, hostIn.data(), hostIn.size(), cudaMemcpyHostToDevice, stream), "copy in");
    if (!context->enqueueV3(stream)) { // first run: warm-up
        throw std::runtime_error("enqueueV3 failed (see the TensorRT message above)");
    }
    checkCuda(cudaEventRecord(start, stream), "cudaEventRecord");
    context->enqueueV3(stream);
    checkCuda(cudaEventRecord(stop, stream), "cudaEventRecord");
    checkCuda(cudaMemcpyAsync(hostOut.data(), dOut, hostOut.size(), cudaMemcpyDeviceToHost, stream), "copy out");
    checkCuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    float ms = 0.f;
    checkCuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");

    std::vector<double> logits(static_cast<size_t>(classes));
    for (int64_t i = 0; i < classes; ++i) {
        if (outType == nvinfer1::DataType::kHALF) {
            uint16_t h;
            std::memcpy(&h, hostOut.data() + i * 2, 2);
            logits[i] = fromHalf(h);
        } else {
            float f;
            std::memcpy(&f, hostOut.data() + i * 4, 4);
            logits[i] = f;
        }
    }
    double const top = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    std::vector<double> prob(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        prob[i] = std::exp(logits[i] - top);
        sum += prob[i];
    }
    std::vector<size_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
    auto const names = classNames(meta, o, classes);

    std::cout << "engine: " << o.engine << " (TensorRT " << runtimeVersion() << ", " << prop.name << ", sm_"
              << prop.major << prop.minor << "), input " << input << " [" << batch << ", 3, " << size << ", " << size
              << "], enqueueV3 " << std::fixed << std::setprecision(3) << ms << " ms\n";
    for (int k = 0; k < std::min<int>(o.topK, static_cast<int>(order.size())); ++k) {
        size_t const c = order[k];
        std::cout << std::setw(2) << k + 1 << ". " << std::setw(6) << std::setprecision(2) << 100.0 * prob[c] / sum
                  << "%  " << names[c] << " (class " << c << ", logit " << std::setprecision(4) << logits[c] << ")\n";
    }

    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaFree(dIn);
    cudaFree(dOut);
    cudaStreamDestroy(stream);
    context.reset();
    engine.reset();
    if (pluginHandle != nullptr) {
        runtime->getPluginRegistry().deregisterLibrary(pluginHandle);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(parseArgs(argc, argv));
    } catch (std::invalid_argument const& e) {
        std::cerr << "classify: " << e.what() << "\n";
        usage(std::cerr);
        return 1;
    } catch (std::exception const& e) {
        std::cerr << "classify: " << e.what() << "\n";
        return 1;
    }
}
