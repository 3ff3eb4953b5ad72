"""Stage `report`: report.json (everything) and report.md (what a person reads) at the top of the run folder.

The report describes the files beside it: it is written at the end of a run (also of a failed one),
lists the stage folders that an earlier run left and this one made stale, and is marked "not current"
the moment a stage starts rebuilding (`mark_not_current`), so an interrupted run leaves no report
that vouches for files being replaced.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edge_swin.utils.manifest import STALE, read_manifest, versions
from edge_swin.utils.io import write_json, write_text
from pipelines.stages.context import STAGES, RunContext
from pipelines.stages.summaries import stage_summary

NOT_CURRENT = "> **NOT CURRENT**"


def mark_not_current(out_dir: Path, because: str) -> None:
    """Say at the top of report.md (and in report.json) that the run folder is being rebuilt."""
    md, js = out_dir / "report.md", out_dir / "report.json"
    if md.is_file() and not md.read_text().startswith(NOT_CURRENT):
        write_text(md, f"{NOT_CURRENT}: {because}. This report describes an earlier run whose files are being "
                       "replaced; the run rewrites it when it ends (if this note stays, it was interrupted: rerun "
                       "it).\n\n" + md.read_text())
    if js.is_file():
        try:
            report = json.loads(js.read_text())
        except json.JSONDecodeError:
            report = {}
        write_json(js, {**report, "current": False, "not_current_because": because})


def stale_stages(ctx: RunContext) -> dict[str, dict]:
    """Stage folders an earlier run left that this run marked stale and did not rebuild."""
    found = {}
    for name in STAGES:
        manifest = read_manifest(ctx.out_dir / name) if name not in ctx.stages else None
        if manifest and manifest.get("status") == STALE:
            found[name] = {"status": STALE, "note": f"{manifest.get('note')}; rerun to rebuild these files"}
    return found


def run(ctx: RunContext) -> dict:
    stages = {**ctx.stages, **stale_stages(ctx)}
    report = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": ctx.args.command_line,
        "model": ctx.variant,
        "target": ctx.target.as_dict(),
        "data": ctx.data_info,
        "classes": ctx.classes,  # what an application prints for each logit (examples/python/classify.py)
        "device": ctx.device,
        "current": True,
        "stages": {name: {k: m.get(k) for k in ("status", "note", "numbers", "artifacts", "fingerprint", "seconds")}
                   for name, m in sorted(stages.items(), key=lambda item: _order(item[0]))},
        "versions": versions(),
    }
    write_json(ctx.out_dir / "report.json", report)
    write_text(ctx.out_dir / "report.md", to_markdown(report))
    print(f"[report] {ctx.out_dir / 'report.md'}")
    return report


def to_markdown(report: dict) -> str:
    target, stages = report["target"], report["stages"]
    lines = [f"# edge-swin run: {report['model']} for {target['name']}", "",
             f"- created: {report['created']}", f"- command: `{report['command']}`",
             f"- target: {target['description']} (TensorRT {target['tensorrt']}, sm {target['sm']})",
             f"- data: {report['data']['name']} (sha256 {report['data']['sha256'][:12]}){_image_check(report['data'])}",
             f"- device used here: {report['device']}", "", "## Stages", "", "| stage | status | seconds | numbers |",
             "|---|---|---|---|"]
    for name, s in stages.items():
        seconds = _fmt(s["seconds"]) if s.get("seconds") is not None else ""
        lines.append(f"| {name} | {s['status']}{': ' + s['note'] if s.get('note') else ''} | {seconds} | "
                     f"{stage_summary(name, s)} |")
    if any(s["status"] == STALE for s in stages.values()):
        lines += ["", "Stages marked stale hold files from an earlier run that no longer match the stages before "
                      "them (see the STALE.txt in their folders): do not deploy or compare them; rerun to rebuild them."]
    ev = (stages.get("evaluate") or {}).get("numbers") or {}
    if ev:
        lines += ["", "## Accuracy (validation split)", "", "| model | top-1 % | top-5 % | images |", "|---|---|---|---|"]
        for model, m in ev.items():
            if "top1" in m:
                lines.append(f"| {model} | {m['top1']:.2f} | {m['top5']:.2f} | {m['n']} |")
            else:  # an engine that cannot run here: its reason, no number
                lines.append(f"| {model} | {m.get('status', '-')} | | |")
        for model, m in ev.items():
            if "top1_minus_fake_quant" in m:
                lines.append(f"\n{model}: top-1 {m['top1_minus_fake_quant']:+.2f} points against the fake-quant PyTorch "
                             f"model ({str(m['fake_quant']).upper()}) on the same images.")
    qat = (stages.get("qat") or {}).get("numbers") or {}
    if qat.get("fp32"):
        fmt = str(qat.get("format", "int8")).upper()
        recipe = f", recipe {qat['recipe']}" if qat.get("recipe") else ""
        lines += ["", f"## {fmt} (modelopt, Swin placement{recipe}): what quantization cost", "",
                  "| model | top-1 % | top-5 % | top-1 drop (points) | top-1 agreement with FP32 % | mean cosine of logits |",
                  "|---|---|---|---|---|---|"]
        for name in ("fp32", "ptq", "qat"):
            if name in qat:
                m = qat[name]
                lines.append(f"| {name.upper()} | {m['top1']:.2f} | {m['top5']:.2f} | {_fmt(m.get('top1_drop', '-'))} | "
                             f"{_fmt(m.get('top1_agreement', '-'))} | {_fmt(m.get('mean_cosine', '-'))} |")
        verdict = "passed" if qat.get("passed") else "FAILED"
        lines.append(f"\nThe {str(qat.get('checked')).upper()} drop check {verdict}.")
        if ((stages.get("qat") or {}).get("artifacts") or {}).get("chart"):
            lines += ["", "![accuracy per precision](qat/accuracy.png)"]
    exported = (stages.get("export") or {}).get("numbers") or {}
    if exported:
        lines += ["", "## ONNX", ""]
        for precision, e in exported.items():
            qdq = f", {e['qdq_pairs']} Q/DQ pairs + {e['qdq_pairs_in_function']} in the function body" if e.get("qdq_pairs") else ""
            lines.append(f"- `export/model_{precision}.onnx`: {e['custom_ops']} SwinWindowAttention nodes ({e['attention_body']} "
                         f"body, opset {e['opset']}){qdq}, {e['bytes'] / 1e6:.2f} MB; ONNX Runtime vs PyTorch max "
                         f"relative error {e['ort_max_relative_error']:.1e}"
                         + (f"; `export/{e['inlined_copy']}` for trtexec without the plugin" if e.get("inlined_copy") else ""))
    lines += _engines(stages.get("engine") or {})
    if ((stages.get("train") or {}).get("artifacts") or {}).get("curve"):
        lines += ["", "![training curve](train/curve.png)"]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def _engines(stage: dict) -> list[str]:
    """The engine stage's engines (or its bundle), one row each."""
    numbers = stage.get("numbers") or {}
    if numbers.get("bundle"):
        return ["", "## Engines", "", (f"Not built on this host: the device builds them from the bundle `{numbers['bundle']}` "
                                       f"({numbers['bundle_files']} files, its build_engine.sh); {stage.get('note', '')}")]
    engines = numbers.get("engines") or {}
    if not engines:
        return []
    lines = ["", "## Engines", "", f"Built with {numbers.get('tensorrt')}; plugin: {numbers.get('plugin')}.", "",
             "| engine | precision | MB | build s | layers by precision | source of the layer counts |",
             "|---|---|---|---|---|---|"]
    for name, e in engines.items():
        if e["status"] != "built":
            lines.append(f"| `engine/model_{name}.engine` | {e['status']} | | | | |")
            continue
        counts = ", ".join(f"{k} {v}" for k, v in e["layers"].items())
        source = "engine inspector" if e["layer_source"].startswith("engine inspector") else "network before the build"
        lines.append(f"| `engine/model_{name}.engine` | {e['precision']}{' + plugin' if e['plugin_layers'] else ''} | "
                     f"{e['bytes'] / 1e6:.1f} | {_fmt(e['build_seconds'])} | {counts} | {source} |")
    return lines


def _image_check(data: dict) -> str:
    """What the image check of a folder found (none for the embedded dataset)."""
    check = data.get("image_check")
    if not check:
        return ""
    text = f"; {check['images_checked']:,} images checked"
    if check["bad_images"]:
        text += f", {check['bad_images']} unreadable left out (--skip-bad-images)"
    if check["non_image_files"]:
        text += f", {check['non_image_files']} non-image files skipped"
    return text


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _order(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)
