#!/usr/bin/env bash
# Install edge-swin from scratch into ./.venv: the embedded dataset (Debian package), then the Python package.
#   bash scripts/setup.sh          runtime: train, quantize, export, build
#   bash scripts/setup.sh test     runtime + test dependencies
# Which torch (docs/install.md): EDGE_SWIN_TORCH=auto (default) reuses a torch that $PYTHON (default python3)
# already has inside pyproject.toml's range: .venv is made with --system-site-packages and pip is pinned to that
# version (scripts/find_torch.py decides). EDGE_SWIN_TORCH=reuse insists on it, EDGE_SWIN_TORCH=own never reuses.
# EDGE_SWIN_CONSTRAINTS=FILE adds a pip constraints file (CI: scripts/ci-constraints.txt, the exact torch it
# tests); exact versions asked for mean .venv gets its own torch.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# Which torch first: a bad choice stops here, before anything is installed.
base_python="${PYTHON:-python3}"
if ! command -v "$base_python" >/dev/null; then
  echo "setup: PYTHON=$base_python is not a command here: set PYTHON to a Python 3.10+ interpreter" >&2
  exit 1
fi
torch_choice="${EDGE_SWIN_TORCH:-auto}"
case "$torch_choice" in
  auto|reuse|own) ;;
  *) echo "setup: EDGE_SWIN_TORCH=$torch_choice is not a choice: auto (default), reuse or own" >&2; exit 1 ;;
esac
if [ -n "${EDGE_SWIN_CONSTRAINTS:-}" ]; then
  if [ "$torch_choice" = reuse ]; then
    echo "setup: EDGE_SWIN_CONSTRAINTS pins exact versions and EDGE_SWIN_TORCH=reuse keeps yours: unset one" >&2
    exit 1
  fi
  torch_choice=own
fi

# A supported torch that $PYTHON already has is shared through a --system-site-packages venv: pip counts it as
# installed (pinned to its version) and installs into .venv only what that interpreter lacks.
found_torch=""
if [ "$torch_choice" != own ]; then found_torch="$("$base_python" scripts/find_torch.py)"; fi
if [ "$torch_choice" = reuse ] && [ -z "$found_torch" ]; then
  echo "setup: EDGE_SWIN_TORCH=reuse, but $base_python has no torch .venv can reuse (the line above says why):" \
       "set PYTHON to the interpreter that has it, or unset EDGE_SWIN_TORCH to let .venv get its own" >&2
  exit 1
fi

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

# An older setup shared a torch by putting its whole site-packages folder on .venv's path: start over.
if compgen -G ".venv/lib/python*/site-packages/edge_swin_user_torch.pth" >/dev/null; then
  echo "setup: .venv was made by an older setup that put another interpreter's site-packages on its path: recreating it"
  rm -rf .venv
fi
if [ -f .venv/pyvenv.cfg ]; then
  if grep -qiE '^include-system-site-packages *= *true' .venv/pyvenv.cfg; then venv_shares=yes; else venv_shares=no; fi
  if [ -n "$found_torch" ]; then want_shared=yes; else want_shared=no; fi
  if [ "$venv_shares" != "$want_shared" ]; then
    if [ "$torch_choice" = auto ]; then
      # Keep what the user has; only an explicit choice rebuilds .venv.
      if [ "$venv_shares" = no ] && [ -n "$found_torch" ]; then
        echo "setup: keeping .venv, which has its own packages; EDGE_SWIN_TORCH=reuse recreates it to use" \
             "$(grep '^torch==' <<<"$found_torch") from $(sed -n 's/^site //p' <<<"$found_torch")"
        found_torch=""
      fi
    else
      echo "setup: recreating .venv for EDGE_SWIN_TORCH=$torch_choice"
      rm -rf .venv
    fi
  fi
fi
venv_flags=()
if [ -n "$found_torch" ]; then venv_flags+=(--system-site-packages); fi
[ -x .venv/bin/python ] || "$base_python" -m venv "${venv_flags[@]}" .venv
.venv/bin/python -m pip install -q --upgrade pip

pip_constraints=()
if [ -n "${EDGE_SWIN_CONSTRAINTS:-}" ]; then pip_constraints+=(-c "$EDGE_SWIN_CONSTRAINTS"); fi
if [ -n "$found_torch" ]; then
  mkdir -p .venv/constraints
  grep -v '^site ' <<<"$found_torch" > .venv/constraints/user-torch.txt
  pip_constraints+=(-c .venv/constraints/user-torch.txt)
  echo "setup: reusing $(grep '^torch==' <<<"$found_torch") from $(sed -n 's/^site //p' <<<"$found_torch")" \
       "(.venv made with --system-site-packages: it sees $base_python's packages; EDGE_SWIN_TORCH=own gives it its own)"
fi
if [ "$extras" = test ]; then target='.[test]'; else target='.'; fi
.venv/bin/python -m pip install -q "${pip_constraints[@]}" -e "$target"
echo "setup: done (.venv; torch $(.venv/bin/python -c 'import importlib.metadata as m; d = m.distribution("torch"); print(d.version, "from", d.locate_file(""))'))"
