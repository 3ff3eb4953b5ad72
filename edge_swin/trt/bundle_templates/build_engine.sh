#!/usr/bin/env bash
# Build the edge-swin TensorRT engine on the device (Jetson Orin or Thor) from this bundle.
#
#   ./build_engine.sh                      INT8 engine with the SwinWindowAttention plugin, in ./out/
#   ./build_engine.sh --precision fp16     the FP16 engine
#   ./build_engine.sh --no-plugin          native baseline: TensorRT builds the attention from the ONNX function body
#   ./build_engine.sh --dla                INT8 layers on DLA core 0, GPU fallback for the rest (targets with a DLA)
#
# Steps: (1) the plugin library libedge_swin_plugins.so from plugin/csrc (CMake, plain C++17: the kernels are
# pre-compiled cubins for this target's SM in plugin/kernels/embedded_kernels.cpp) against the device's
# TensorRT headers; (2) the engine, with edge-swin's own builder when the edge_swin package is importable,
# else with trtexec and the same settings; (3) the engine's JSON sidecar (<engine>.json). Every value that
# comes from the target or the ONNX file (input name, batch profile, workspace) is in bundle.env, written
# with this script by edge_swin.trt.bundle.write_bundle.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -f "$HERE/bundle.env" ]]; then
    echo "build_engine.sh: error: $HERE/bundle.env is missing: this script only runs inside a bundle written by edge_swin.trt.bundle.write_bundle" >&2
    exit 1
fi
# shellcheck source-path=SCRIPTDIR source=bundle.env
source "$HERE/bundle.env"

PLUGIN_LIBRARY_NAME="libedge_swin_plugins.so"

usage() {
    cat <<EOF
usage: build_engine.sh [--precision $(echo "$BUNDLE_PRECISIONS" | tr ' ' '|')] [--no-plugin] [--dla] [--out DIR]
                       [--builder auto|edge_swin|trtexec] [--plugin-only] [--reuse] [--export DIR]
                       [--defer-without-gpu]

Builds the $TARGET_NAME engine ($TARGET_DESCRIPTION) from this bundle.
  --precision P        which ONNX file to build (default: $DEFAULT_PRECISION; this bundle has: $BUNDLE_PRECISIONS)
  --no-plugin          do not build or load the plugin: TensorRT builds the attention itself (native baseline)
  --dla                run what the DLA supports on DLA core 0, the rest on the GPU (target dla = "optional")
  --out DIR            where the plugin library, engine and sidecar go (default: $HERE/out)
  --builder B          auto (default: edge_swin's builder if python3 can import it, else trtexec), edge_swin, trtexec
  --plugin-only        build the plugin library and stop (needs no GPU)
  --reuse              if the engine and its sidecar already exist in --out, only say where they are
  --export DIR         afterwards, copy the engine, its sidecar and the plugin library it needs into DIR
  --defer-without-gpu  when no GPU is visible (a 'docker build' without the nvidia runtime), build the plugin,
                       say so, and exit 0 instead of failing at the engine
Environment: TENSORRT_INCLUDE_DIR (folder of NvInferRuntime.h), CUDA_INCLUDE_DIR (folder of cuda.h),
TRTEXEC (path of trtexec), EDGE_SWIN_ASSUME_GPU=1 (skip the GPU check of --defer-without-gpu).
EOF
}

die() {
    echo "build_engine.sh: error: $*" >&2
    exit 1
}

note() {
    echo "[build_engine] $*"
}

PRECISION="$DEFAULT_PRECISION"
USE_PLUGIN=1
USE_DLA=0
OUT_DIR="$HERE/out"
BUILDER="auto"
PLUGIN_ONLY=0
REUSE=0
EXPORT_DIR=""
DEFER_WITHOUT_GPU=0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --precision) [[ $# -ge 2 ]] || die "--precision needs a value ($BUNDLE_PRECISIONS)"; PRECISION="$2"; shift 2 ;;
        --precision=*) PRECISION="${1#*=}"; shift ;;
        --no-plugin) USE_PLUGIN=0; shift ;;
        --dla) USE_DLA=1; shift ;;
        --out) [[ $# -ge 2 ]] || die "--out needs a folder"; OUT_DIR="$2"; shift 2 ;;
        --out=*) OUT_DIR="${1#*=}"; shift ;;
        --builder) [[ $# -ge 2 ]] || die "--builder needs auto, edge_swin or trtexec"; BUILDER="$2"; shift 2 ;;
        --builder=*) BUILDER="${1#*=}"; shift ;;
        --plugin-only) PLUGIN_ONLY=1; shift ;;
        --reuse) REUSE=1; shift ;;
        --export) [[ $# -ge 2 ]] || die "--export needs a folder"; EXPORT_DIR="$2"; shift 2 ;;
        --export=*) EXPORT_DIR="${1#*=}"; shift ;;
        --defer-without-gpu) DEFER_WITHOUT_GPU=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done

# ---- what to build, checked before anything runs -------------------------------------------------------
case " $BUNDLE_PRECISIONS " in
    *" $PRECISION "*) ;;
    *) die "unknown precision '$PRECISION': this bundle has ONNX files for: $BUNDLE_PRECISIONS (--precision ${BUNDLE_PRECISIONS%% *})" ;;
esac
case "$BUILDER" in
    auto|edge_swin|trtexec) ;;
    *) die "unknown builder '$BUILDER': use auto, edge_swin or trtexec" ;;
esac
ONNX="$HERE/onnx/model_${PRECISION}.onnx"
# Without the plugin TensorRT imports the SwinWindowAttention function body; the bundle carries a copy of each
# file with the functions already inlined (onnx.inliner), because the ONNX parser names the layers of an
# imported body after the body's node outputs, identically for every call, and refuses the second call of an
# INT8 body (edge_swin/trt/builder.py, onnx_for_parser). Our own builder inlines by itself.
ONNX_NO_PLUGIN="$HERE/onnx/model_${PRECISION}.inlined.onnx"
[[ -f "$ONNX" ]] || die "the bundle has no $ONNX: it is incomplete; copy the whole bundle folder again, or rewrite it (python -m pipelines.build --target $TARGET_NAME)"
if [[ "$USE_DLA" == 1 && "$TARGET_DLA" != "optional" ]]; then
    die "--dla: target $TARGET_NAME has no DLA (dla = $TARGET_DLA in edge_swin/trt/targets.toml); drop --dla"
fi
# The plugin replaces the node with its own kernels: only for a precision its kernel table has (an FP8 file with
# INT8-only kernels would run INT8 arithmetic on FP8 scales). Otherwise TensorRT runs the node's function body.
if [[ "$USE_PLUGIN" == 1 && "$PLUGIN_AVAILABLE" == 1 && " ${PLUGIN_PRECISIONS:-fp16 int8} " != *" $PRECISION "* ]]; then
    note "the plugin in this bundle has kernels for ${PLUGIN_PRECISIONS:-fp16 int8}, not $PRECISION: building the $PRECISION engine without it (TensorRT runs the SwinWindowAttention function body)"
    USE_PLUGIN=0
fi
if [[ "$USE_PLUGIN" == 1 && "$PLUGIN_AVAILABLE" != 1 ]]; then
    die "this bundle has no pre-compiled plugin kernels ($PLUGIN_UNAVAILABLE_REASON): build the native engine with --no-plugin, or rewrite the bundle where 'python -m edge_swin.plugins.swin_window_attention.aot.build' works"
fi

suffix=""
[[ "$USE_PLUGIN" == 1 ]] || suffix="${suffix}_noplugin"
[[ "$USE_DLA" == 1 ]] && suffix="${suffix}_dla"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
ENGINE="$OUT_DIR/model_${PRECISION}${suffix}.engine"
SIDECAR="$ENGINE.json"
PLUGIN_LIB="$OUT_DIR/$PLUGIN_LIBRARY_NAME"

export_artifacts() {
    [[ -n "$EXPORT_DIR" ]] || return 0
    mkdir -p "$EXPORT_DIR"
    cp "$ENGINE" "$SIDECAR" "$EXPORT_DIR/"
    if [[ "$USE_PLUGIN" == 1 ]]; then
        cp "$PLUGIN_LIB" "$EXPORT_DIR/"
    fi
    note "copied $(basename "$ENGINE"), its sidecar$([[ "$USE_PLUGIN" == 1 ]] && echo " and $PLUGIN_LIBRARY_NAME") to $EXPORT_DIR"
}

if [[ "$REUSE" == 1 && -f "$ENGINE" && -f "$SIDECAR" && ( "$USE_PLUGIN" == 0 || -f "$PLUGIN_LIB" ) ]]; then
    note "engine already built: $ENGINE (sidecar $SIDECAR)"
    export_artifacts
    exit 0
fi

# ---- the device's TensorRT and CUDA headers --------------------------------------------------------------
find_tensorrt_include() {
    if [[ -n "${TENSORRT_INCLUDE_DIR:-}" ]]; then
        [[ -f "$TENSORRT_INCLUDE_DIR/NvInferRuntime.h" ]] || die "TENSORRT_INCLUDE_DIR=$TENSORRT_INCLUDE_DIR has no NvInferRuntime.h"
        echo "$TENSORRT_INCLUDE_DIR"
        return
    fi
    local dir
    for dir in /usr/include/aarch64-linux-gnu /usr/include/x86_64-linux-gnu /usr/local/tensorrt/include /usr/include; do
        if [[ -f "$dir/NvInferRuntime.h" ]]; then
            echo "$dir"
            return
        fi
    done
    die "no TensorRT headers (NvInferRuntime.h) in /usr/include/aarch64-linux-gnu or the usual places: on JetPack install them (apt install nvidia-tensorrt-dev), or set TENSORRT_INCLUDE_DIR"
}

# "10.3.0" from NvInferVersion.h (10.x: NV_TENSORRT_MAJOR 10; 10.16+/11: TRT_MAJOR_ENTERPRISE 11).
header_tensorrt_version() {
    local header="$1/NvInferVersion.h" major minor patch
    [[ -f "$header" ]] || { echo "unknown"; return; }
    major=$(sed -nE 's/^#define (NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) ([0-9]+).*/\2/p' "$header" | head -n 1)
    minor=$(sed -nE 's/^#define (NV_TENSORRT_MINOR|TRT_MINOR_ENTERPRISE) ([0-9]+).*/\2/p' "$header" | head -n 1)
    patch=$(sed -nE 's/^#define (NV_TENSORRT_PATCH|TRT_PATCH_ENTERPRISE) ([0-9]+).*/\2/p' "$header" | head -n 1)
    if [[ -n "$major" && -n "$minor" ]]; then
        echo "$major.$minor.${patch:-0}"
    else
        echo "unknown"
    fi
}

find_cuda_include() {
    if [[ -n "${CUDA_INCLUDE_DIR:-}" ]]; then
        echo "$CUDA_INCLUDE_DIR"
        return
    fi
    local dir
    for dir in /usr/local/cuda/include /usr/local/cuda-12.6/include /usr/include; do
        if [[ -f "$dir/cuda.h" ]]; then
            echo "$dir"
            return
        fi
    done
    die "no CUDA headers (cuda.h) in /usr/local/cuda/include: install the CUDA toolkit (JetPack: apt install nvidia-jetpack, or use the l4t-jetpack image), or set CUDA_INCLUDE_DIR"
}

TRT_INCLUDE="$(find_tensorrt_include)"
DEVICE_TENSORRT="$(header_tensorrt_version "$TRT_INCLUDE")"
note "target $TARGET_NAME (sm_$TARGET_SM, built for TensorRT $EXPECTED_TENSORRT), TensorRT headers $TRT_INCLUDE ($DEVICE_TENSORRT)"
if [[ "$DEVICE_TENSORRT" != "unknown" && "${DEVICE_TENSORRT%.*}" != "${EXPECTED_TENSORRT%.*}" ]]; then
    echo "build_engine.sh: warning: this device has TensorRT $DEVICE_TENSORRT, the bundle was written for $EXPECTED_TENSORRT ($EXPECTED_PLATFORM); building for what is here, the sidecar records it" >&2
fi

# ---- (1) the plugin library --------------------------------------------------------------------------------
build_plugin() {
    command -v cmake >/dev/null 2>&1 || die "cmake not found: apt install cmake (the Dockerfile.jetson image has it)"
    local cuda_include tree jobs
    cuda_include="$(find_cuda_include)"
    tree="$OUT_DIR/plugin-build"
    jobs="$(nproc 2>/dev/null || echo 2)"
    note "building $PLUGIN_LIBRARY_NAME (kernels for sm_$TARGET_SM pre-compiled in the bundle)"
    cmake -S "$HERE/plugin/csrc" -B "$tree" -DCMAKE_BUILD_TYPE=Release \
        -DTENSORRT_INCLUDE_DIR="$TRT_INCLUDE" -DCUDA_INCLUDE_DIR="$cuda_include" \
        -DEDGE_SWIN_KERNELS_CPP="$HERE/plugin/kernels/embedded_kernels.cpp"
    cmake --build "$tree" -j "$jobs"
    [[ -f "$tree/$PLUGIN_LIBRARY_NAME" ]] || die "cmake finished but $tree/$PLUGIN_LIBRARY_NAME is missing"
    cp "$tree/$PLUGIN_LIBRARY_NAME" "$PLUGIN_LIB.partial"
    mv -f "$PLUGIN_LIB.partial" "$PLUGIN_LIB"
    note "plugin library: $PLUGIN_LIB"
}

if [[ "$USE_PLUGIN" == 1 ]]; then
    build_plugin
fi
if [[ "$PLUGIN_ONLY" == 1 ]]; then
    [[ "$USE_PLUGIN" == 1 ]] || die "--plugin-only with --no-plugin builds nothing"
    exit 0
fi

# ---- (2) the engine ----------------------------------------------------------------------------------------
gpu_visible() {
    [[ "${EDGE_SWIN_ASSUME_GPU:-0}" == 1 ]] && return 0
    local node
    # Jetson (nvgpu) and discrete-GPU device nodes; the nvidia container runtime mounts them into a container.
    for node in /dev/nvhost-ctrl-gpu /dev/nvgpu/igpu0/ctrl /dev/nvidia0; do
        [[ -e "$node" ]] && return 0
    done
    return 1
}

if [[ "$DEFER_WITHOUT_GPU" == 1 ]] && ! gpu_visible; then
    note "no GPU visible here (a 'docker build' without the nvidia runtime): the engine is not built now."
    note "Build it on the device: docker run --runtime nvidia <image> (its default command builds it), or set"
    note "\"default-runtime\": \"nvidia\" in /etc/docker/daemon.json and rebuild the image with DOCKER_BUILDKIT=0."
    exit 0
fi

if [[ "$BUILDER" == "auto" ]]; then
    if command -v python3 >/dev/null 2>&1 && python3 -c "import edge_swin.trt.builder" >/dev/null 2>&1; then
        BUILDER="edge_swin"
    else
        BUILDER="trtexec"
    fi
fi

# TensorRT 10 builds an INT8 Q/DQ file weakly typed with the INT8 and FP16 flags, so what is not quantized
# runs in FP16; TensorRT 11 is strongly typed only. The FP16 and FP8 files are strongly typed everywhere (their
# types are the precision; the FP8 file's graph is FP16). The same rule as edge_swin/trt/builder.py.
typing_flags() {
    local major="${DEVICE_TENSORRT%%.*}"
    if [[ "$major" =~ ^[0-9]+$ && "$major" -ge 11 ]]; then
        echo "--stronglyTyped"
    elif [[ "$PRECISION" == "int8" ]]; then
        echo "--int8 --fp16"
    else
        echo "--stronglyTyped"
    fi
}

find_trtexec() {
    if [[ -n "${TRTEXEC:-}" ]]; then
        [[ -x "$TRTEXEC" ]] || die "TRTEXEC=$TRTEXEC is not an executable"
        echo "$TRTEXEC"
        return
    fi
    if command -v trtexec >/dev/null 2>&1; then
        command -v trtexec
        return
    fi
    [[ -x /usr/src/tensorrt/bin/trtexec ]] && { echo /usr/src/tensorrt/bin/trtexec; return; }
    die "trtexec not found (not on PATH, not /usr/src/tensorrt/bin/trtexec): on JetPack apt install libnvinfer-bin, set TRTEXEC, or install edge_swin and use --builder edge_swin"
}

SHAPE_FLAGS=()
if [[ "$INPUT_BATCH_DYNAMIC" == 1 ]]; then
    SHAPE_FLAGS=("--minShapes=${INPUT_NAME}:${BATCH_MIN}x${INPUT_DIMS}"
                 "--optShapes=${INPUT_NAME}:${BATCH_OPT}x${INPUT_DIMS}"
                 "--maxShapes=${INPUT_NAME}:${BATCH_MAX}x${INPUT_DIMS}")
fi

ENGINE_ONNX="$ONNX"
if [[ "$USE_PLUGIN" == 0 && -f "$ONNX_NO_PLUGIN" ]]; then
    ENGINE_ONNX="$ONNX_NO_PLUGIN"
fi

rm -f "$ENGINE.partial"
start=$(date +%s)
if [[ "$BUILDER" == "edge_swin" ]]; then
    # edge_swin.trt.builder.build_engine: the same settings from the target table, the engine written
    # atomically with its sidecar (<engine>.json) and build log (<engine>.build.log).
    note "building $(basename "$ENGINE") with edge_swin.trt.builder"
    plugin_arg=""
    [[ "$USE_PLUGIN" == 1 ]] && plugin_arg="$PLUGIN_LIB"
    python3 - "$ONNX" "$ENGINE" "$TARGET_NAME" "$PRECISION" "$plugin_arg" "$OUT_DIR/timing.cache" "$USE_DLA" \
        "$HERE/manifest.json" <<'PY'
import json, sys
from edge_swin.trt.builder import build_engine

onnx, engine, target, precision, plugin, cache, dla, manifest = sys.argv[1:]
manifest = json.load(open(manifest))
fields = manifest.get("engine_metadata_fields") or {}
accuracy = manifest.get("accuracy")
if isinstance(accuracy, dict) and accuracy and set(accuracy) <= {"int8", "fp8", "fp16", "fp32"}:
    accuracy = accuracy.get(precision)  # keyed by precision: this engine's model
built = build_engine(onnx, engine, target, precision=precision, plugin_library=plugin or None, timing_cache=cache,
                     dla=dla == "1", accuracy=accuracy, preprocess=fields.get("preprocess"),
                     classes=fields.get("classes"))
print(f"[build_engine] layers by precision: {built.layers['counts']} (log: {built.log_path})")
PY
else
    TRTEXEC_BIN="$(find_trtexec)"
    read -r -a TYPING <<< "$(typing_flags)"
    trtexec_args=(--onnx="$ENGINE_ONNX" --saveEngine="$ENGINE.partial" "${SHAPE_FLAGS[@]}" "${TYPING[@]}"
                  --memPoolSize=workspace:"${WORKSPACE_MIB}"M --timingCacheFile="$OUT_DIR/timing.cache"
                  --profilingVerbosity=detailed --skipInference)
    # --dynamicPlugins: trtexec loads the library with IPluginRegistry::loadLibrary, which calls its getCreators.
    [[ "$USE_PLUGIN" == 1 ]] && trtexec_args+=(--dynamicPlugins="$PLUGIN_LIB")
    [[ "$USE_DLA" == 1 ]] && trtexec_args+=(--useDLACore=0 --allowGPUFallback)
    note "building $(basename "$ENGINE") with $TRTEXEC_BIN ${TYPING[*]}"
    if ! "$TRTEXEC_BIN" "${trtexec_args[@]}" 2>&1 | tee "$ENGINE.build.log"; then
        rm -f "$ENGINE.partial"
        die "trtexec failed building $(basename "$ENGINE"): see its log above ($ENGINE.build.log)"
    fi
    [[ -s "$ENGINE.partial" ]] || die "trtexec finished but wrote no engine ($ENGINE.partial): see its log above ($ENGINE.build.log)"
    mv -f "$ENGINE.partial" "$ENGINE"
fi
[[ -s "$ENGINE" ]] || die "no engine at $ENGINE after the build: see the log above"
build_seconds=$(( $(date +%s) - start ))

# ---- (3) the sidecar (edge_swin's builder wrote its own) -------------------------------------------------
if [[ "$BUILDER" == "trtexec" ]]; then
    command -v python3 >/dev/null 2>&1 || die "python3 not found: it writes the engine's sidecar ($SIDECAR); apt install python3"
    typing="weak"
    [[ "$(typing_flags)" == "--stronglyTyped" ]] && typing="strong"
    sidecar_args=(--engine "$ENGINE" --manifest "$HERE/manifest.json" --precision "$PRECISION" --onnx "$ENGINE_ONNX"
                  --typing "$typing" --build-seconds "$build_seconds" --header-tensorrt "$DEVICE_TENSORRT")
    [[ "$USE_PLUGIN" == 1 ]] && sidecar_args+=(--plugin "$PLUGIN_LIB")
    [[ "$USE_DLA" == 1 ]] && sidecar_args+=(--dla)
    python3 "$HERE/write_engine_metadata.py" "${sidecar_args[@]}"
fi
[[ -f "$SIDECAR" ]] || die "no sidecar $SIDECAR after the build"
note "engine:  $ENGINE"
note "sidecar: $SIDECAR"
[[ "$USE_PLUGIN" == 1 ]] && note "plugin:  $PLUGIN_LIB (load it before deserializing the engine)"
export_artifacts
