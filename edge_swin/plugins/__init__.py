"""TensorRT plugins, one folder per plugin (as NVIDIA/TensorRT's plugin/): swin_window_attention/, the fused SwinWindowAttention node."""
