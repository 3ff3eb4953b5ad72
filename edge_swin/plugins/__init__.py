"""The fused SwinWindowAttention TensorRT plugin: Triton kernels, their ahead-of-time build, the C++ plugin (README.md)."""
