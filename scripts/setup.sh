#!/usr/bin/env bash
# Install edge-swin from scratch into ./.venv: the embedded dataset (Debian package), then the Python package.
#   bash scripts/setup.sh          runtime: train, quantize, export, build
#   bash scripts/setup.sh test     runtime + test dependencies
# A torch already installed for $PYTHON (default python3) inside pyproject.toml's range is reused, not
# replaced: .venv sees its folder and pip is pinned to that version (scripts/find_torch.py).
# EDGE_SWIN_CONSTRAINTS=FILE adds a pip constraints file (CI: scripts/ci-constraints.txt, the exact torch it tests).
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

# The TensorRT plugin library (edge_swin/plugins/swin_window_attention/csrc) is built with CMake and a C++17 compiler.
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

base_python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$base_python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

pip_constraints=()
if [ -n "${EDGE_SWIN_CONSTRAINTS:-}" ]; then pip_constraints+=(-c "$EDGE_SWIN_CONSTRAINTS"); fi
# A supported torch that $PYTHON already has: its folder goes on .venv's path (a .pth file) and its version is
# pinned, so pip counts it as installed instead of downloading another.
# Not with EDGE_SWIN_CONSTRAINTS (exact versions asked for), nor when .venv already has a torch of its own.
found_torch=""
venv_site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -z "${EDGE_SWIN_CONSTRAINTS:-}" ] && ! compgen -G "$venv_site/torch-*.dist-info" >/dev/null; then
  found_torch="$("$base_python" scripts/find_torch.py)"
fi
if [ -n "$found_torch" ]; then
  site_dir="$(sed -n 's/^site //p' <<<"$found_torch")"
  if [ "$site_dir" != "$venv_site" ]; then
    echo "$site_dir" > "$venv_site/edge_swin_user_torch.pth"
    mkdir -p .venv/constraints
    grep -v '^site ' <<<"$found_torch" > .venv/constraints/user-torch.txt
    pip_constraints+=(-c .venv/constraints/user-torch.txt)
    echo "setup: reusing $(grep '^torch==' <<<"$found_torch") from $site_dir (not downloading another)"
  fi
fi
if [ "$extras" = test ]; then target='.[test]'; else target='.'; fi
.venv/bin/python -m pip install -q "${pip_constraints[@]}" -e "$target"
echo "setup: done (.venv; torch $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("torch"))'))"
