"""The fused SwinWindowAttention node, everything of it in this folder (README.md: what it computes, its inputs,
parameters, precisions, build and limitations).

contract.py       the op's identity, inputs and attributes, and attention_nodes (the only place they are written)
kernels/          the Triton kernels (the plugin's launches; Triton's interpreter runs them on a CPU)
launch.py         the one launch sequence (run_node, with a hook around each launch)
emulate.py        a node's inputs checked and run through launch.run_node (JIT on a GPU, interpreted on a CPU)
aot/              the ahead-of-time kernel build: build.py (python -m ...aot.build), kernel_cache.py, ptxas.py
trt_headers.py    which TensorRT headers the library is built against
library.py        the CMake build of libedge_swin_plugins.so (and its cache) and its loading into TensorRT's registry
plugin_build.py   the plugin for a target: kernel_table, build_plugin (kernels + headers + library)
csrc/             the C++ IPluginV3 and CMakeLists.txt
testing/          harness.py: the GPU test harness (the plugin's launcher without TensorRT, sanitizer builds);
                  for tests and the GPU suite only, never imported by the product
"""
