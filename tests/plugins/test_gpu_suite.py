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
    assert {"gpu_tests", "kernels", "nodes", "breakdown"} <= set(frame.SECTIONS)
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
    results = frame.run_sections(ctx, ["good", "broken", "later"])
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
    goals = {g.name: g for g in gpu_sections.node_goals(rows)}
    assert goals["INT8 / FP16 node time, stage 1, batch 64"].measured == 0.75
    assert goals["INT8 / FP16 node time, stage 1, batch 64"].passed is False
    assert goals["INT8 / FP16 node time, stage 1, batch 8"].passed is True
    assert goals["INT8 / FP16 node time, stage 2, batch 64"].passed is True
    assert goals["INT8 / FP16 node time, stage 3, batch 64"].passed is None
    assert goals["FP16 node, stage 1, batch 64"].measured == 0.3 and goals["FP16 node, stage 1, batch 64"].unit == "ms"


def test_memory_floor_matches_the_h200_finding():
    """FINDINGS "On a GPU: H200": Swin-T stage 1, b64 at 4.3 TB/s: FP16 node 0.090 ms, INT8 (fp16 io) 0.054 ms."""
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
    """The breakdown's three JIT launches (Triton's interpreter here; tests/plugins/conftest.py sets it), each
    timed by a stand-in that runs it once: the kernels' Python API is called as the section calls it on a GPU.
    A stage-4-like map with C = 64 ("stage 9") keeps the interpreter quick."""
    from benchmarks import kernels

    monkeypatch.setitem(kernels.SWIN_T_STAGES, 9, (7, 64))
    calls = []

    def bench(fn):
        out = fn()
        calls.append(tuple(out.shape))
        return 1.0

    times = gpu_sections._launch_times(9, 1, mode, io, device="cpu", bench=bench)
    assert times == {"qkv_linear_ms": 0.0, "attention_ms": 0.0, "proj_linear_ms": 0.0}
    assert (49, 3 * 64) in calls and (1, 7, 7, 64) in calls and (49, 64) in calls


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
