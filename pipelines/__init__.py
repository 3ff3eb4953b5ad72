"""Entry points that chain edge_swin's stages: `python -m pipelines.build --target jetson-orin`."""
