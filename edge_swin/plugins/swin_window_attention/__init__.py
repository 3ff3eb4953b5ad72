"""The fused SwinWindowAttention node, everything of it in this folder (README.md is the contract between the pieces).

contract.py   the op's identity, inputs and attributes, and attention_nodes (the only place they are written)
kernels/      the Triton kernels (the plugin's launches; Triton's interpreter runs them on a CPU)
emulate.py    the node run through those kernels from PyTorch (JIT on a GPU, interpreted on a CPU)
aot/          the ahead-of-time kernel build: build.py (python -m ...aot.build), kernel_cache.py, ptxas.py
library.py    the CMake build of libedge_swin_plugins.so from csrc/ and its loading into TensorRT's plugin registry
csrc/         the C++ IPluginV3 and CMakeLists.txt
testing/      harness.py: the GPU test harness (the plugin's launcher without TensorRT, sanitizer builds)
"""
