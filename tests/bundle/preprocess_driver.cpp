// Test driver for the header-only parts of examples/cpp (no TensorRT, no CUDA):
//   preprocess_driver IMAGE.ppm|pgm SIZE CROP_PCT OUT.f32   the eval transform, CHW float32 written to OUT
//   preprocess_driver --json SIDECAR.json                    the sidecar fields classify reads, one a line
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "json_lite.h"
#include "preprocess.h"

int main(int argc, char** argv) {
    try {
        if (argc == 3 && std::string(argv[1]) == "--json") {
            std::ifstream in(argv[2]);
            std::string const text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            auto const meta = edge_swin_example::parseJson(text);
            std::cout << "tensorrt.version=" << meta["tensorrt"]["version"].str() << "\n"
                      << "target.sm=" << meta["target"]["sm"].num(-1) << "\n"
                      << "plugin.library=" << meta["plugin"]["library"].str("null") << "\n"
                      << "preprocess.crop_pct=" << meta["preprocess"]["crop_pct"].num(-1) << "\n"
                      << "classes=" << meta["classes"].items.size() << "\n"
                      << "missing=" << meta["no"]["such"]["key"].str("none") << "\n";
            return 0;
        }
        if (argc != 5) {
            std::cerr << "usage: preprocess_driver IMAGE SIZE CROP_PCT OUT.f32 | --json FILE\n";
            return 2;
        }
        edge_swin_example::EvalTransform t;
        t.size = std::atoi(argv[2]);
        t.cropPct = std::atof(argv[3]);
        auto const chw = edge_swin_example::evalTransform(edge_swin_example::readPnm(argv[1]), t);
        std::ofstream(argv[4], std::ios::binary)
            .write(reinterpret_cast<char const*>(chw.data()), static_cast<std::streamsize>(chw.size() * sizeof(float)));
    } catch (std::exception const& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
