#!/usr/bin/env bash
# Install edge-swin from scratch into ./.venv: the embedded dataset (Debian package), then the Python package.
#   bash scripts/setup.sh          runtime: train, quantize, export, build
#   bash scripts/setup.sh test     runtime + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# The embedded default dataset ships in Debian/Ubuntu's dataset-fashion-mnist (30 MB, MIT).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${EDGE_SWIN_FASHION_MNIST:-}" ]; then
  if [ "$(id -u)" = 0 ]; then as_root=(); elif command -v sudo >/dev/null; then as_root=(sudo); else
    echo "setup: installing dataset-fashion-mnist needs root: run 'apt-get install dataset-fashion-mnist' as root," \
         "or set EDGE_SWIN_FASHION_MNIST to a folder with the Fashion-MNIST .gz files, then rerun." >&2
    exit 1
  fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends dataset-fashion-mnist
fi

# The TensorRT plugin library (edge_swin/plugins/csrc) is built with CMake and a C++17 compiler.
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  if [ "$(id -u)" = 0 ]; then as_root=(); elif command -v sudo >/dev/null; then as_root=(sudo); else as_root=(none); fi
  if [ "${as_root[*]}" = none ]; then
    echo "setup: cmake and g++ are missing (the plugin library needs them): apt-get install cmake g++ as root;" \
         "continuing: plugin builds will say they are not available" >&2
  else
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends cmake g++
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$extras" = test ]; then .venv/bin/python -m pip install -q -e '.[test]'; else .venv/bin/python -m pip install -q -e .; fi
echo "setup: done (.venv)"
