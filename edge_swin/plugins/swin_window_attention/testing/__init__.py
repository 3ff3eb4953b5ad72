"""The node's testing corner: GPU checks without TensorRT, harness.py (python -m ...testing.harness builds the harness
library, sanitizer builds included). Used by tests/ and the GPU suite (benchmarks/) only: no module of the product
imports it (tests/test_structure.py holds that)."""
