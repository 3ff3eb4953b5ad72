"""benchmarks/gpu_suite.py on a CPU: the no-GPU line, its arguments, the missing-prebuilt message, the sections'
frame (a failing section does not stop the others), goals as pass/FAIL/not measured, the summary files, and
the pieces of the built-in sections that need no GPU (node inputs the harness accepts, memory floors, the
kernel manifest's io, pytest's summary line)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_swin.bench import gpu_suite as frame
from edge_swin.plugins.swin_window_attention.testing import harness as hn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import gpu_sections, gpu_suite  # noqa: E402


def test_without_a_gpu_it_says_so_and_writes_nothing(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_suite.py"), "--out", str(tmp_path / "r")],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "not available: no CUDA GPU\n"
    assert not (tmp_path / "r").exists()


def test_arguments():
    args = gpu_suite.parse_args(["--batch", "8,64", "--stages", "1,3", "--sections", "nodes"])
    assert args.batch == (8, 64) and args.stages == (1, 3) and args.sections == ["nodes"]
    assert gpu_suite.parse_args([]).batch == (8, 64)
    for bad in (["--stages", "5"], ["--batch", "eight"], ["--batch", "0"]):
        with pytest.raises(SystemExit):
            gpu_suite.parse_args(bad)


def test_missing_prebuilt_kernels_name_the_commands(tmp_path):
    problem = gpu_suite.prebuilt_problem(tmp_path, tmp_path / "libedge_swin_node_harness.so")
    assert "manifest.json" in problem and "python -m edge_swin.plugins.swin_window_attention.aot.build --arch" in problem
    assert "python -m edge_swin.plugins.swin_window_attention.testing.harness" in problem


def test_builtin_sections_register():
    assert frame.load_sections(gpu_suite.SECTION_MODULES) == {}
    assert {"gpu_tests", "refusal", "kernels", "nodes", "breakdown", "whole_model", "top1", "train"} <= set(frame.SECTIONS)
    assert frame.load_sections(["edge_swin.no_such_module"]).keys() == {"edge_swin.no_such_module"}


def test_sections_run_alone_and_the_summary_says_what_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(frame, "SECTIONS", {})

    @frame.section("good", "returns numbers")
    def good(ctx):
        return frame.SectionResult(data={"x": 1}, goals=[frame.Goal("fast enough", 0.5, 0.7),
                                                         frame.Goal("small enough", 0.2, 0.18, unit="ms"),
                                                         frame.Goal("measured", None, 1.0)],
                                   markdown="| a |\n|---|\n| 1 |")

    @frame.section("broken", "raises")
    def broken(ctx):
        raise RuntimeError("kernel API changed")

    @frame.section("later", "still runs")
    def later(ctx):
        return frame.SectionResult(status="not available: no pytest")

    ctx = frame.SuiteContext(root=REPO, out_dir=tmp_path, harness=tmp_path / "h.so", kernels_dir=tmp_path,
                             log=lambda s: None)
    seen = []
    results = frame.run_sections(ctx, ["good", "broken", "later"], lambda done: seen.append(list(done)))
    assert seen == [["good"], ["good", "broken"], ["good", "broken", "later"]]  # a summary after each section
    assert results["good"].status == "ok"
    assert results["broken"].status == "failed: RuntimeError: kernel API changed"
    assert "Traceback" in results["broken"].data["traceback"]
    assert results["later"].status.startswith("not available")
    json_path, md_path = frame.write_summary(tmp_path, results, {"gpu": "Fake GPU", "versions": {"torch": "2.11"}},
                                             {"edge_swin.runtime.bench": "ImportError: no"})
    data = json.loads(json_path.read_text())
    assert data["goals"] == {"passed": 1, "failed": 1, "not_measured": 1}
    assert [g["passed"] for g in data["sections"]["good"]["goals"]] == [True, False, None]
    assert data["section_modules_not_imported"] == {"edge_swin.runtime.bench": "ImportError: no"}
    md = md_path.read_text()
    assert "# GPU suite: Fake GPU" in md and "1 passed, 1 failed, 1 not measured" in md
    assert "| fast enough | 0.50x | 0.70x | pass |" in md and "| small enough | 0.200 ms | 0.180 ms | FAIL |" in md
    assert "| broken | failed: RuntimeError: kernel API changed |" in md and "## good" in md
    assert "edge_swin.runtime.bench" in md


def test_node_goals_take_the_worse_kind():
    def row(stage, batch, ratio, fp16_ms=0.3):
        return {"stage": stage, "batch": batch, "int8_over_fp16": ratio, "fp16": {"ms": fp16_ms}}

    rows = [row(1, 64, 0.6), row(1, 64, 0.75, 0.17), row(1, 8, 0.9), row(2, 64, 0.5)]
    goals = {g.name: g for g in gpu_sections.node_goals(rows, 0.09)}
    assert goals["INT8 / FP16 node time, stage 1, batch 64"].measured == 0.75
    assert goals["INT8 / FP16 node time, stage 1, batch 64"].passed is False
    assert goals["INT8 / FP16 node time, stage 1, batch 8"].passed is True
    assert goals["INT8 / FP16 node time, stage 2, batch 64"].passed is True
    assert goals["INT8 / FP16 node time, stage 3, batch 64"].passed is None
    fp16 = goals["FP16 node, stage 1, batch 64"]
    assert fp16.measured == 0.3 and fp16.unit == "ms" and fp16.limit == 0.18 and fp16.passed is False


def test_memory_floor_matches_the_h200_finding():
    """docs/findings.md, "On a GPU: H200": Swin-T stage 1, b64 at 4.3 TB/s: FP16 node 0.090 ms, INT8 (fp16 io)
    0.054 ms."""
    tokens = 64 * 56 * 56
    floor = gpu_sections.memory_floor_ms(tokens, 96, gpu_sections.NODE_BYTES["fp16"], 4.3e12)
    assert floor == pytest.approx(0.0896, abs=1e-4)
    assert gpu_sections.memory_floor_ms(tokens, 96, gpu_sections.NODE_BYTES["int8_fp16io_int8_workspace"],
                                        4.3e12) == pytest.approx(0.0538, abs=1e-4)


def test_node_io_comes_from_the_manifest(tmp_path):
    kernels = [{"family": "linear", "mode": "int8", "io": "fp32"},
               {"family": "window_attention", "mode": "int8", "io": "fp16"},
               {"family": "window_attention", "mode": "fp16", "io": "fp16"}]
    (tmp_path / "manifest.json").write_text(json.dumps({"kernels": kernels}))
    assert gpu_sections.manifest_io(tmp_path) == {"int8": "fp16", "fp16": "fp16"}
    # i13a's table: the INT8 node in fp32 and fp16 io, each with its swin_qkv_int8; fp16 io is the one timed
    kernels = [{"family": "qkv_linear", "mode": "int8", "io": "fp32"},
               {"family": "qkv_linear", "mode": "int8", "io": "fp16"},
               {"family": "window_attention", "mode": "int8", "io": "fp32"},
               {"family": "window_attention", "mode": "int8", "io": "fp16"},
               {"family": "window_attention", "mode": "fp16", "io": "fp16"}]
    (tmp_path / "manifest.json").write_text(json.dumps({"kernels": kernels}))
    assert gpu_sections.manifest_io(tmp_path) == {"int8": "fp16", "fp16": "fp16"}
    # an INT8 attention without its qkv kernel in that io is no INT8 node
    kernels = [{"family": "qkv_linear", "mode": "int8", "io": "fp32"},
               {"family": "window_attention", "mode": "int8", "io": "fp16"},
               {"family": "window_attention", "mode": "int8", "io": "fp32"}]
    (tmp_path / "manifest.json").write_text(json.dumps({"kernels": kernels}))
    assert gpu_sections.manifest_io(tmp_path) == {"int8": "fp32"}


@pytest.mark.parametrize("int8", [False, True])
@pytest.mark.parametrize("stage,shifted", [(1, True), (4, False)])
def test_synthetic_nodes_are_what_the_harness_accepts(stage, shifted, int8):
    tensors, attrs = gpu_sections.synthetic_node(stage, 1, shifted, int8, torch.float16, torch.device("cpu"))
    scales = attrs["int8_scales"]
    assert hn._check_inputs(tensors, scales, attrs["num_heads"], attrs["window_size"], attrs["shift_size"]) == []
    assert all(t.dtype == torch.float16 for t in tensors) and (scales is None) != int8
    if int8:
        assert all(s.dtype == torch.float32 and bool((s > 0).all()) for s in scales)
        w, w_scale = tensors[1].float(), scales[1]
        assert torch.allclose(w / w_scale[:, None], (w / w_scale[:, None]).round(), atol=0.1)  # the int8 grid (in fp16)


def test_pytest_summary_line():
    out = "....\n=== 14 passed, 2 skipped, 1 deselected in 30.1s ===\n"
    assert gpu_sections.pytest_counts(out) == {"passed": 14, "skipped": 2, "deselected": 1}
    assert gpu_sections.pytest_counts("Fatal Python error: Segmentation fault") == {}


@pytest.mark.parametrize("mode,io", [("fp16", "fp16"), ("int8", "fp16"), ("int8", "fp32")])
def test_breakdown_launches_run_in_the_interpreter(mode, io, monkeypatch):
    """The breakdown's three JIT launches through the node's launch sequence (Triton's interpreter here), each and
    its output allocation timed by a stand-in that runs it once.
    A stage-4-like map with C = 64 ("stage 9") keeps the interpreter quick."""
    from benchmarks import kernels

    monkeypatch.setitem(kernels.SWIN_T_STAGES, 9, (7, 64))
    calls = []

    def bench(fn):
        out = fn()
        calls.append(tuple(out.shape))
        return 1.0

    times = gpu_sections._launch_times(9, 1, mode, io, device="cpu", bench=bench)
    assert times == {"qkv_linear_ms": 0.0, "attention_ms": 0.0, "proj_linear_ms": 0.0}  # each launch, its alloc off
    assert sorted(set(calls)) == [(49, 64), (49, 3 * 64)] and len(calls) == 6


def test_a_crashing_pytest_is_a_result(tmp_path):
    """The harness segfault killed the test process on the H200: the suite records it and goes on."""
    (tmp_path / "test_crash.py").write_text("import os, signal\n\ndef test_crash():\n"
                                            "    os.kill(os.getpid(), signal.SIGSEGV)\n")
    ctx = frame.SuiteContext(root=tmp_path, out_dir=tmp_path, harness=tmp_path, kernels_dir=tmp_path, timeout_s=60)
    run = gpu_sections._pytest(ctx, ["test_crash.py"])
    assert run["crashed"] and run["returncode"] != 0 and "Segmentation fault" in run["crash"], run


def test_refusal_section_runs_here(tmp_path, monkeypatch):
    """The segfault check builds the stub harness with this machine's compiler and asks it in a fresh process
    (one prelude here, to keep CI short; on a GPU also after Triton and after torch + CUDA)."""
    from tests.plugins.toolchain import needs_cmake_and_compiler

    needs_cmake_and_compiler("the harness")
    if torch.cuda.is_available():
        pytest.skip("on a GPU machine the suite's own refusal section is the check")
    monkeypatch.setattr(gpu_sections, "REFUSAL_PRELUDES", {"bare": ""})
    ctx = frame.SuiteContext(root=REPO, out_dir=tmp_path, harness=tmp_path, kernels_dir=tmp_path, timeout_s=120)
    result = gpu_sections.refusal(ctx)
    if result.status.startswith("not available"):
        pytest.skip(result.status)
    assert result.status == "ok" and result.goals[0].passed is True, result.data
    answers = result.data["runs"]["bare"]["answers"]
    assert answers["75"] == [75, ""] and answers["90"][0] == 0 and "has it for: sm_75" in answers["90"][1]


# ------------------------------------------------------------------------------------------------ model sections

def _fake_child(payloads: dict):
    """A stand-in for run_child: writes the JSON the real child would write to its --out, records the call."""
    calls = []

    def run(ctx, args, env=None, timeout_s=None):
        calls.append({"args": args, "env": env or {}, "timeout_s": timeout_s})
        out = Path(args[args.index("--out") + 1])
        name = out.stem
        if payloads.get(name) is not None:
            out.write_text(json.dumps(payloads[name]))
        return {"returncode": 0 if payloads.get(name) is not None else -11, "crashed": payloads.get(name) is None,
                "crash": "Fatal Python error: Segmentation fault", "timed_out": None, "stdout": "",
                "output_tail": "Fatal Python error: Segmentation fault"}
    return run, calls


def _kit(tmp_path) -> Path:
    from benchmarks.gpu_kit import KitLayout

    layout = KitLayout(tmp_path / "kit")
    for rel in ("run/train/model.pth", "run/qat/int8.pth", "prebuilt/runtime_int8.pt", "prebuilt/int8_accuracy.pt",
                "data/t10k-images-idx3-ubyte.gz", "data/t10k-labels-idx1-ubyte.gz", "kit.json"):
        (layout.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (layout.root / rel).write_bytes(b"{}")
    return layout.root


WHOLE = {"status": "ok", "device": "Fake GPU", "model": "swin_t (random weights)", "timer": "CUDA events", "runs": 30,
         "contenders": {n: n for n in ("eager_fp16", "torch_compile_fp16", "runtime_fp16", "runtime_int8")},
         "rows": [{"batch": b, "eager_fp16_ms": 9.0, "torch_compile_fp16_ms": 6.0, "runtime_fp16_ms": 4.0,
                   "runtime_int8_ms": 3.0 if b == 64 else 4.4, "runtime_fp16_over_torch_compile_fp16": 0.667,
                   "runtime_int8_over_runtime_fp16": 0.75 if b == 64 else 1.1} for b in (1, 64)],
         "first_call_s": {"torch_compile_fp16": {"1": 25.0, "64": 30.0}},
         "fidelity": {"runtime_fp16": {"vs": "fp32 eager", "max_rel_logit_err": 1e-3, "top1_agreement": 1.0}}}
TOP1 = {"status": "ok", "accuracy": {"images": 10000, "pytorch_fp32": {"top1": 86.84}, "runtime_fp16": {"top1": 86.86},
                                     "pytorch_fake_quant_int8": {"top1": 86.77}, "runtime_int8": {"top1": 86.60},
                                     "runtime_int8_vs_pytorch_fake_quant_int8": {"top1_agreement": 99.5}}}
TRAIN = {"results": [{"precision": "fp32", "images_per_second": 1000.0, "global_batch": 128, "steps": 20},
                     {"precision": "bf16", "images_per_second": 2600.0, "global_batch": 128, "steps": 20}]}


def test_model_sections_turn_child_json_into_goals(tmp_path, monkeypatch):
    from benchmarks import gpu_model_sections as gms

    run, calls = _fake_child({"whole_model": WHOLE, "top1": TOP1, "train": TRAIN})
    monkeypatch.setattr(gms, "run_child", run)
    ctx = frame.SuiteContext(root=REPO, out_dir=tmp_path, harness=tmp_path, kernels_dir=tmp_path, kit=_kit(tmp_path),
                             log=lambda s: None)
    results = frame.run_sections(ctx, ["whole_model", "top1", "train"])
    verdicts = {g.name: g.passed for r in results.values() for g in r.goals}
    assert verdicts == {"whole Swin-T FP16, our runtime / torch.compile reduce-overhead, batch 64": True,
                        "whole Swin-T INT8 / FP16, our runtime, batch 64": False,
                        "whole Swin-T INT8 / FP16, our runtime, batch 1": False,
                        "runtime FP16 top-1 vs PyTorch FP32, test set": True,
                        "runtime INT8 top-1 vs fake quant, test set": False,
                        "Swin-T training bf16 / fp32 images per second, one GPU": True}
    whole, top1 = calls[0], calls[1]
    assert f"runtime_int8={ctx.kit}/prebuilt/runtime_int8.pt" in whole["args"] and whole["timeout_s"] >= 480
    assert "--accuracy-only" in top1["args"] and f"int8_accuracy={ctx.kit}/prebuilt/int8_accuracy.pt" in top1["args"]
    assert top1["env"] == {"EDGE_SWIN_FASHION_MNIST": str(ctx.kit / "data")}
    assert "| torch_compile_fp16 | 25.0 | 30.0 |" in results["whole_model"].markdown
    assert "| runtime_int8 | 86.60 | 99.50 | - |" in results["top1"].markdown


def test_a_crashed_or_kitless_model_section_is_a_result(tmp_path, monkeypatch):
    from benchmarks import gpu_model_sections as gms

    run, _ = _fake_child({})  # every child segfaults before writing its JSON
    monkeypatch.setattr(gms, "run_child", run)
    ctx = frame.SuiteContext(root=REPO, out_dir=tmp_path, harness=tmp_path, kernels_dir=tmp_path, log=lambda s: None)
    results = frame.run_sections(ctx, ["whole_model", "top1", "train"])
    assert results["whole_model"].status == "failed: whole_model crashed: Fatal Python error: Segmentation fault"
    assert results["top1"].status.startswith("not available: no run checkpoints")
    assert results["train"].status.startswith("failed: train_throughput.py crashed")


def test_goals_as_floors_and_the_plot(tmp_path):
    floor = frame.Goal("bf16 / fp32", 2.4, 2.5, at_least=True)
    assert floor.passed is False and frame.Goal("bf16 / fp32", 2.6, 2.5, at_least=True).passed is True
    assert frame.format_value(0.03, "points") == "0.03 points"
    results = {"s": frame.SectionResult(goals=[floor, frame.Goal("ratio", 0.5, 0.7), frame.Goal("gone", None, 1.0)])}
    json_path, md_path = frame.write_summary(tmp_path, results, {"gpu": "Fake GPU", "versions": {}})
    assert "| bf16 / fp32 | 2.40x | >= 2.50x | FAIL |" in md_path.read_text()
    pytest.importorskip("matplotlib")
    png = frame.plot_goals(json.loads(json_path.read_text()), tmp_path / "goals.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_kit_argument_and_quick(tmp_path):
    with pytest.raises(SystemExit):
        gpu_suite.parse_args(["--kit", str(tmp_path)])  # no kit.json: not a prepared folder
    args = gpu_suite.parse_args(["--kit", str(_kit(tmp_path)), "--quick"])
    assert args.batch == (64,) and args.model_batch == (64,) and args.runs == 20 and args.train_steps == 10
    assert args.sections == ["nodes", "breakdown", "top1", "train", "whole_model"]
    full = gpu_suite.parse_args([])
    assert full.model_batch == (1, 8, 64) and full.runs == 50 and full.stages == (1, 2, 3, 4) and not full.sections
    assert gpu_suite.parse_args(["--quick", "--sections", "nodes"]).sections == ["nodes"]


def test_fp8_rows_join_where_the_runtime_and_the_gpu_have_it(monkeypatch):
    import edge_swin.runtime as runtime
    from edge_swin.bench.whole_model import contender_table

    assert "runtime_fp8" not in contender_table(90) or "fp8" in runtime.PRECISIONS
    monkeypatch.setattr(runtime, "PRECISIONS", (*runtime.PRECISIONS, "fp8"))
    assert contender_table(90)["runtime_fp8"].precision == "fp8"
    assert "runtime_fp8" not in contender_table(87)  # Orin: no FP8 tensor cores
    assert list(contender_table(87)) == ["eager_fp16", "torch_compile_fp16", "runtime_fp16", "runtime_int8"]


def test_command_runs_sections_from_the_kit_and_writes_the_summary(tmp_path, monkeypatch, capsys):
    """main() as on a GPU (the CUDA check stubbed): the kit's kernels and harness, the sections in order, the
    summary rewritten after each, the goals printed, exit 1 when a section failed."""
    kit = _kit(tmp_path)
    (kit / "kernels").mkdir()
    (kit / "kernels" / "manifest.json").write_text("{}")
    (kit / "kernels" / "libedge_swin_node_harness.so").write_bytes(b"")
    monkeypatch.setattr(frame, "cuda_unavailable", lambda: None)
    monkeypatch.setattr(frame, "load_sections", lambda modules: {})
    monkeypatch.setattr(frame, "SECTIONS", {})
    monkeypatch.delenv("EDGE_SWIN_NODE_HARNESS", raising=False)
    seen = []

    @frame.section("nodes", "fake")
    def nodes(ctx):
        seen.append((ctx.kit, ctx.harness, ctx.model_batches, json.loads((ctx.out_dir / "summary.json").read_text())
                     if (ctx.out_dir / "summary.json").exists() else None))
        return frame.SectionResult(goals=[frame.Goal("INT8 / FP16 node time, stage 1, batch 64", 0.6, 0.7)])

    @frame.section("train", "fake")
    def train(ctx):
        assert json.loads((ctx.out_dir / "summary.json").read_text())["sections"].keys() == {"nodes"}
        raise RuntimeError("no torchvision")

    out = tmp_path / "results"
    assert gpu_suite.main(["--kit", str(kit), "--out", str(out), "--sections", "train", "nodes", "--quick"]) == 1
    assert seen[0][:3] == (kit.resolve(), (kit / "kernels" / "libedge_swin_node_harness.so").resolve(), (64,))
    data = json.loads((out / "summary.json").read_text())
    assert list(data["sections"]) == ["train", "nodes"] and data["goals"]["passed"] == 1
    assert data["header"]["settings"]["quick"] is True and data["header"]["kit"] == str(kit.resolve())
    printed = capsys.readouterr().out
    assert "pass  INT8 / FP16 node time, stage 1, batch 64: 0.60x (limit 0.70x)" in printed
    assert "summary.md" in printed
