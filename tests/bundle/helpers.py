"""Small inputs for the bundle tests: a tiny ONNX file with a local function, a kernel table, PATH stubs."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edge_swin.plugins.swin_window_attention import trt_headers
from edge_swin.plugins.swin_window_attention.trt_headers import HEADER_SETS_ENV

REPO = Path(__file__).resolve().parents[2]
# keyed by precision, as the pipeline's engine stage passes it
ACCURACY = {"int8": {"top1": 82.52, "top5": 99.3}, "fp16": {"top1": 82.68, "top5": 99.37}}
FIELDS = {"preprocess": {"img_size": 32, "crop_pct": 1.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
          "classes": [f"class_{i}" for i in range(10)]}
HEADERS_ENV = HEADER_SETS_ENV  # the folder of tensorrt-<release>/include sets (CI sets it)
HEADER_RELEASES = ("10.3.0", "10.16", "11.1")
CUDA_INCLUDE = Path("/usr/local/cuda-13.0/include")


def header_set(release: str) -> Path | None:
    """The include/ folder of TensorRT `release`'s headers under $EDGE_SWIN_TRT_HEADERS_ROOT, None without."""
    return trt_headers.header_set(release)


def tiny_onnx(path: Path, *, size: int = 32, classes: int = 10, input_name: str = "images",
              dtype: str = "float32", custom_op: bool = True) -> Path:
    """[batch, 3, size, size] -> one edge_swin::SwinWindowAttention-like local function -> mean -> Gemm -> logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.FLOAT16
    np_type = np.float32 if dtype == "float32" else np.float16
    function = helper.make_function(
        "edge_swin", "SwinWindowAttention", ["x"], ["y"],
        [helper.make_node("Relu", ["x"], ["y"])],
        opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((classes, 3)).astype(np_type), "w")
    bias = numpy_helper.from_array(np.zeros(classes, np_type), "b")
    attention = (helper.make_node("SwinWindowAttention", [input_name], ["attended"], domain="edge_swin",
                                  num_heads=2, window_size=[4, 4], shift_size=[0, 0], scale=0.17, version=1)
                 if custom_op else helper.make_node("Relu", [input_name], ["attended"]))
    nodes = [
        attention,
        helper.make_node("ReduceMean", ["attended"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(input_name, elem, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", elem, ["batch", classes])],
        initializer=[weight, bias])
    model = helper.make_model(graph, functions=[function] if custom_op else [],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("edge_swin", 1)])
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def kernel_dir(path: Path, sms=(87,), windows=((4, 4),), modes=("fp16", "int8")) -> Path:
    """A folder as `python -m edge_swin.plugins.swin_window_attention.aot.build` leaves it: embedded_kernels.cpp and manifest.json (the
    linear, the INT8 node's qkv_linear and, per window and mode, the attention entries for each SM)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "embedded_kernels.cpp").write_text("// kernel table stand-in for the bundle tests\n")
    entries = [{"family": "linear", "mode": m, "sm": sm, "symbol": f"swin_linear_{m}"} for sm in sms for m in modes]
    entries += [{"family": "qkv_linear", "mode": "int8", "sm": sm, "symbol": "swin_qkv_int8"} for sm in sms
                if "int8" in modes]
    entries += [{"family": "window_attention", "mode": m, "sm": sm, "window": list(w),
                 "symbol": f"swin_window_attention_{m}"} for sm in sms for w in windows for m in modes]
    (path / "manifest.json").write_text(json.dumps({"kernels": entries, "ptxas_version": "12.6",
                                                    "ptxas": {"source": "nvidia-cuda-nvcc-cu12"}}))
    return path


# ------------------------------------------------------------------------------------------- PATH stubs

_TRTEXEC = r"""#!/bin/bash
# trtexec stand-in: records its arguments, writes the engine named by --saveEngine=.
printf '%s\n' "$@" > "$STUB_LOG/trtexec.args"
[[ "${STUB_TRTEXEC_FAIL:-0}" == 1 ]] && { echo "stub trtexec: failing on purpose" >&2; exit 3; }
for a in "$@"; do
  case "$a" in --saveEngine=*) printf 'stub engine' > "${a#--saveEngine=}" ;; esac
done
echo "&&&& PASSED TensorRT.trtexec (stub)"
"""

_CMAKE = r"""#!/bin/bash
# cmake stand-in: records each call; `--build TREE` leaves TREE/libedge_swin_plugins.so.
printf '%s\n' "$@" > "$STUB_LOG/cmake.$(date +%s%N).args"
if [[ "$1" == "--build" ]]; then printf 'stub plugin library' > "$2/libedge_swin_plugins.so"; exit 0; fi
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "-B" ]]; then mkdir -p "$2"; fi
  shift
done
"""

_NPROC = "#!/bin/bash\necho 2\n"

_PYTHON3 = """#!/bin/bash
# python3 stand-in: the real interpreter without edge_swin on its path (-I), unless STUB_PY_EDGE_SWIN=1.
if [[ "${1:-}" == "-c" && "${2:-}" == "import edge_swin.trt.builder" ]]; then
  [[ "${STUB_PY_EDGE_SWIN:-0}" == 1 ]] && exit 0 || exit 1
fi
if [[ "${1:-}" == "-" && "${STUB_PY_EDGE_SWIN:-0}" == 1 ]]; then
  shift; printf '%s\n' "$@" > "$STUB_LOG/builder.args"; cat > "$STUB_LOG/builder.stdin"
  printf 'stub engine' > "$2"; echo '{"format": "edge-swin-engine/1"}' > "$2.json"; exit 0
fi
exec {python} -I "$@"
"""


def make_stubs(root: Path, python: str) -> Path:
    """A folder of stand-ins for trtexec, cmake, nproc and python3, to put first on PATH."""
    bin_dir = root / "stubs"
    bin_dir.mkdir(parents=True)
    for name, text in (("trtexec", _TRTEXEC), ("cmake", _CMAKE), ("nproc", _NPROC),
                       ("python3", _PYTHON3.replace("{python}", python))):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def fake_headers(root: Path, version: str = "10.3.0") -> tuple[Path, Path]:
    """(TensorRT include folder, CUDA include folder) with just the files build_engine.sh looks for."""
    major, minor, patch = (version.split(".") + ["0", "0"])[:3]
    trt = root / f"trt-{version}"
    trt.mkdir(parents=True)
    (trt / "NvInferRuntime.h").write_text("// stand-in\n")
    if int(major) >= 10 and int(minor) >= 16 or int(major) >= 11:
        text = (f"#define TRT_MAJOR_ENTERPRISE {major}\n#define TRT_MINOR_ENTERPRISE {minor}\n"
                f"#define TRT_PATCH_ENTERPRISE {patch}\n#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE\n")
    else:
        text = f"#define NV_TENSORRT_MAJOR {major}\n#define NV_TENSORRT_MINOR {minor}\n#define NV_TENSORRT_PATCH {patch}\n"
    (trt / "NvInferVersion.h").write_text(text)
    cuda = root / "cuda"
    cuda.mkdir(exist_ok=True)
    (cuda / "cuda.h").write_text("// stand-in\n")
    return trt, cuda


def run_script(bundle: Path, args: list[str], *, stubs: Path, log: Path, trt_include: Path, cuda_include: Path,
               extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(log), "STUB_LOG": str(log), "LANG": "C.UTF-8",
           "TENSORRT_INCLUDE_DIR": str(trt_include), "CUDA_INCLUDE_DIR": str(cuda_include), **(extra_env or {})}
    return subprocess.run(["bash", str(bundle / "build_engine.sh"), *args], env=env, check=False, capture_output=True, text=True,
                          timeout=60)


def recorded(log: Path, tool: str) -> list[list[str]]:
    """Every recorded call of a stub, as argument lists, oldest first."""
    return [p.read_text().splitlines() for p in sorted(log.glob(f"{tool}*.args"))]


def copy_bundle(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest, symlinks=True)
    return dest
