"""GPU checks of the node without TensorRT: harness.py (python -m ...testing.harness builds the harness library)."""
