"""Latency per backend and batch size: median / p90 / p99, images/s, peak memory, model size; JSON + PNG.

    python benchmarks/latency.py --model runs/<name>                      # train/model.pth + export/*.onnx
    python benchmarks/latency.py --model model_fp32.onnx --backends onnxruntime_fp32
    python benchmarks/latency.py --model ckpt.pth --arch swin_nano --batch 1,8,64 --threads 1
    python benchmarks/latency.py --arch swin_nano                         # random weights (plumbing only)
    python benchmarks/latency.py --arch swin_t --int8-calibrate 16 --batch 1,8 --threads 2   # Swin-T FP32 vs INT8 on a CPU
    python benchmarks/latency.py --record-baseline                        # regression baselines, see below

--model is a run folder (uses train/model.pth, qat/int8.pth, export/model_fp32.onnx and export/model_int8.onnx, and the
engine stage's engine/model_int8.engine and model_int8_plugin.engine where present), an .onnx file (--int8-onnx
adds a Q/DQ file), an .engine (its .json sidecar gives the input size; a *_plugin.engine is timed by the
*_plugin backends), or a PyTorch checkpoint with --arch.
With PyTorch weights and no FP32 ONNX file, the model is exported to a temporary file for ONNX Runtime.
Backends that cannot run here are listed as 'not available: <reason>' and never get a number.
On a CUDA GPU, torch_compile_fp16 (FP16, reduce-overhead) is the yardstick of runtime_fp16 / runtime_int8
(edge_swin.runtime, same compile mode; INT8 from qat/int8.pth or --int8-calibrate); each reports its compile
time per batch apart (compile_seconds), never inside the latency.
Writes benchmarks/results/latency_<device>.json and .png (or --out). Each run is timed alone
(perf_counter per call on a CPU, CUDA events on a GPU) after --warmup untimed runs.

--record-baseline measures the regression suite's fixed model (edge_swin.bench.reference) and writes
benchmarks/baselines/<device>.json: top-1 and FP32 agreement per backend, and the latency ratio
onnxruntime_fp32 / pytorch_fp32 at batch 8 (1 thread, interleaved rounds). Rerun it, on a quiet machine,
when a change is *meant* to move those numbers, and commit the file with the change.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.bench import backends  # noqa: E402  (after the sys.path line above)
from edge_swin.errors import EdgeSwinError  # noqa: E402
from edge_swin.utils.cli_numbers import COUNT, POSITIVE, POSITIVE_INT, BoundedList, add_number  # noqa: E402
from edge_swin.utils.io import write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BASELINES = ROOT / "benchmarks" / "baselines"
DEFAULT_BACKENDS = ",".join(backends.DEFAULT_BACKENDS)  # every backend of the table but those marked not default


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="run folder, .onnx, .engine, or checkpoint (.pth/.safetensors)")
    p.add_argument("--arch", default=None, help="variant for a checkpoint or random weights (e.g. swin_nano)")
    add_number(p, "--num-classes", type=POSITIVE_INT, default=None, help="class count when the checkpoint does not say")
    p.add_argument("--int8-onnx", default=None, help="an INT8 Q/DQ ONNX file")
    p.add_argument("--plugin-library", default=None,
                   help="the plugin library of a *_plugin.engine (default: the one its sidecar names)")
    add_number(p, "--int8-calibrate", type=COUNT, default=0,
               help="with PyTorch weights and no INT8 file: calibrate a copy (modelopt, Swin INT8 placement) on this "
                    "many seeded random images and export an INT8 file, for latency only (its accuracy means nothing)")
    p.add_argument("--backends", default=DEFAULT_BACKENDS,
                   help=f"comma list (default {DEFAULT_BACKENDS}; torch_compile too if you want it: it compiles per batch)")
    add_number(p, "--batch", type=BoundedList(POSITIVE_INT), default=[1, 8, 64],
               help="batch sizes to time (default: 1,8,64)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda where available)")
    add_number(p, "--threads", type=POSITIVE_INT, default=None, help="CPU threads for torch and ONNX Runtime")
    add_number(p, "--warmup", type=COUNT, default=5)
    add_number(p, "--runs", type=POSITIVE_INT, default=50)
    add_number(p, "--rounds", type=POSITIVE_INT, default=1,
               help="time every backend in this many alternating turns and pool them (use 5+ on a shared machine)")
    add_number(p, "--max-seconds", type=POSITIVE, default=30.0, help="stop timing one batch size after this (>= 3 runs)")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/latency_<device>.json)")
    p.add_argument("--note", default=None, help="free text kept in the JSON: the conditions (load, nice, provenance)")
    p.add_argument("--record-baseline", action="store_true", help="write benchmarks/baselines/<device>.json instead")
    return p.parse_args(argv)


def _torch_factory(checkpoint: Path | None, arch: str | None, num_classes: int | None):
    import torch

    from edge_swin.models import create_swin, load_checkpoint

    from edge_swin.models import read_state_dict

    classes, variant = num_classes, arch
    if checkpoint is not None:
        state = read_state_dict(checkpoint)  # a missing or corrupt file fails here with the fix
        if checkpoint.suffix != ".safetensors":  # our run files also name their variant and classes
            raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
            variant = variant or raw.get("variant")
            classes = classes or (len(raw["classes"]) if raw.get("classes") else None)
        head = state.get("head.fc.weight", state.get("head.weight"))
        if classes is None and head is not None:
            classes = int(head.shape[0])
    if variant is None:
        raise SystemExit("--arch is needed: the checkpoint does not name its variant")

    def build():
        model = create_swin(variant, num_classes=classes or 1000)
        if checkpoint is not None:
            load_checkpoint(model, checkpoint)
        return model.eval()
    return variant, build


def _calibrated_int8(model, img: int, n: int, workdir: Path) -> Path:
    """An INT8 Q/DQ file of `model` with scales from n seeded random images: the right graph, for timing only."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin.export import export_onnx
    from edge_swin.quant import calibrate

    images = torch.randn(n, 3, img, img, generator=torch.Generator().manual_seed(0))
    calibrate(model, DataLoader(TensorDataset(images, torch.zeros(n, dtype=torch.long)), batch_size=8))
    print(f"[latency] exporting the calibrated model to INT8 ONNX ({workdir})")
    return export_onnx(model, workdir / "model_int8.onnx", dynamic_batch=True, precision="int8", write_report=False).path


def build_spec(args, workdir: Path):
    from edge_swin.bench import ModelSpec
    from edge_swin.models import model_config

    model = Path(args.model) if args.model else None
    if model is not None and not model.exists():
        raise EdgeSwinError(f"--model {model} does not exist: give a run folder (runs/<name>), an .onnx, an .engine "
                            "or a checkpoint")
    ckpt = onnx32 = onnx8 = engine = engine_plugin = build_int8 = None
    if model is None:
        pass
    elif model.is_dir():
        ckpt = model / "train" / "model.pth"
        ckpt = ckpt if ckpt.is_file() else None
        onnx32, onnx8 = model / "export" / "model_fp32.onnx", model / "export" / "model_int8.onnx"
        onnx32, onnx8 = (onnx32 if onnx32.is_file() else None), (onnx8 if onnx8.is_file() else None)
        engine, engine_plugin = _run_engines(model / "engine")
        qat = model / "qat" / "int8.pth"
        if qat.is_file():
            def build_int8():
                from edge_swin.quant import load_quantized
                return load_quantized(qat)
    elif model.suffix == ".onnx":
        onnx32 = model
    elif model.suffix in (".engine", ".plan"):
        engine_plugin, engine = (model, None) if model.stem.endswith("_plugin") else (None, model)
    else:
        ckpt = model
    if args.int8_onnx:
        onnx8 = Path(args.int8_onnx)
    build = None
    img = None
    name = model.name if model else f"{args.arch} (random weights)"
    if ckpt is not None or (model is None and args.arch) or (args.arch and onnx32 is None and engine is None):
        variant, build = _torch_factory(ckpt, args.arch, args.num_classes)
        name = f"{variant} ({model})" if model else name
        img = model_config(variant)["img_size"]
        if onnx32 is None:
            from edge_swin.export import export_onnx
            print(f"[latency] exporting {variant} to ONNX for ONNX Runtime ({workdir})")
            onnx32 = export_onnx(build(), workdir / "model_fp32.onnx", dynamic_batch=True, write_report=False).path
            name += "; FP32 ONNX exported from it for this run"
        if (onnx8 is None or build_int8 is None) and args.int8_calibrate:
            calibrated = build()
            path = _calibrated_int8(calibrated, img, args.int8_calibrate, workdir)
            onnx8, build_int8 = onnx8 or path, build_int8 or (lambda: calibrated)
            name += f"; INT8 calibrated on {args.int8_calibrate} random images for this run"
    if img is None and (engine or engine_plugin) is not None:
        img = _engine_img_size(engine or engine_plugin)
    if img is None and onnx32 is not None:
        import onnx
        dims = onnx.load(str(onnx32), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
        img = dims[-1].dim_value
    if img is None:
        raise SystemExit("cannot tell the input size: give --arch")
    return ModelSpec(img_size=img, build_torch=build, onnx_fp32=onnx32, onnx_int8=onnx8, engine=engine,
                     engine_plugin=engine_plugin, plugin_library=Path(args.plugin_library) if args.plugin_library else None,
                     build_int8=build_int8, name=name)


def _run_engines(folder: Path) -> tuple[Path | None, Path | None]:
    """(native, plugin) engine of a run folder's engine stage: INT8 first, then FP16, then FP32."""
    def first(names):
        return next((folder / n for n in names if (folder / n).is_file()), None)
    return (first(["model_int8.engine", "model_fp16.engine", "model_fp32.engine"]),
            first(["model_int8_plugin.engine", "model_fp16_plugin.engine"]))


def _engine_img_size(engine: Path) -> int | None:
    """The input size from the engine's sidecar (an engine alone does not say it without TensorRT and a GPU)."""
    from edge_swin.trt.metadata import read_metadata

    shape = read_metadata(engine)["inputs"][0]["shape"]  # a missing or foreign sidecar fails here with the fix
    return int(shape[-1])


def record_baseline(args) -> int:
    import torch

    from edge_swin.bench import device_id, header, make_runner, measure_accuracy, measure_latency_ratio, ratio_key
    from edge_swin.bench.backends import ModelSpec
    from edge_swin.bench.reference import IMG, reference_data, reference_model
    from edge_swin.export import export_onnx

    torch.set_num_threads(1)
    model = reference_model()
    images, labels = reference_data()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "ref.onnx", dynamic_batch=True, write_report=False).path
        spec = ModelSpec(img_size=IMG, build_torch=lambda: model, onnx_fp32=path)
        runners = {n: make_runner(n, spec, threads=1) for n in ("pytorch_fp32", "onnxruntime_fp32")}
        measured = measure_accuracy(runners, images, labels)
        ratios = [measure_latency_ratio(runners["onnxruntime_fp32"], runners["pytorch_fp32"], 8, IMG) for _ in range(3)]
    measured["latency_ratio"] = {ratio_key("onnxruntime_fp32", "pytorch_fp32", 8): round(sorted(ratios)[1], 4)}
    measured["latency_ratio_samples"] = [round(r, 4) for r in ratios]
    measured["header"] = header(1)
    measured["command"] = "python benchmarks/latency.py --record-baseline"
    out = BASELINES / f"{device_id()}.json"
    write_json(out, measured)
    print(json.dumps({k: measured[k] for k in ("accuracy", "latency_ratio", "latency_ratio_samples")}, indent=2))
    print(f"[latency] baseline written: {out}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    if args.record_baseline:
        return record_baseline(args)
    import torch

    from edge_swin.bench import device_id, plot_latency, run_suite, table

    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in backends.REGISTRY]
    if unknown:
        print(f"unknown backend(s) {', '.join(unknown)}: use {', '.join(backends.REGISTRY)}", file=sys.stderr)
        return 2
    if not args.model and not args.arch:
        print("give --model (run folder, .onnx, .engine, checkpoint) or --arch", file=sys.stderr)
        return 2
    batches = args.batch
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        spec = build_spec(args, Path(tmp))
        result = run_suite(spec, names, batches, device=device, threads=args.threads, warmup=args.warmup,
                           runs=args.runs, max_seconds=args.max_seconds, rounds=args.rounds)
    if args.note:
        result["note"] = args.note
    out = Path(args.out) if args.out else RESULTS / f"latency_{device_id(device == 'cuda')}.json"
    write_json(out, result)
    png = plot_latency(result, out.with_suffix(".png"))
    print(table(result))
    print(f"[latency] {out}\n[latency] {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
