"""The plugin's kernels compiled ahead of time on a CPU: build.py (python -m ...aot.build), its cache, the ptxas it uses."""
