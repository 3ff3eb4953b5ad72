"""One line of the numbers that matter per stage, for the stage table of report.md.

Each summary reads only the stage's manifest (status, numbers, artifacts), so a
report rebuilt from stages that were skipped as up to date says the same.
Paths are relative to the run folder. A stage without a summary of its own
lists its plain numbers.
"""
from __future__ import annotations


def stage_summary(name: str, stage: dict) -> str:
    numbers = stage.get("numbers") or {}
    if not numbers:
        return ""
    summary = SUMMARIES.get(name)
    try:
        return summary(name, stage, numbers) if summary else _plain(numbers)
    except (KeyError, TypeError, ValueError):  # a manifest of another version: its plain numbers, never a crash
        return _plain(numbers)


def _path(name: str, stage: dict, key: str) -> str:
    artifact = (stage.get("artifacts") or {}).get(key)
    return f"`{name}/{artifact['path']}`" if artifact else ""


def _model(name, stage, n) -> str:
    return f"{n['parameters']:,} parameters, {n['source']}"


def _train(name, stage, n) -> str:
    line = (f"{n['epochs']} epochs: val top-1 {n['val_top1']:.2f}%, top-5 {n['val_top5']:.2f}%; "
            f"{n['images_per_second']:.0f} img/s (last epoch), {n['train_minutes']:.1f} min training")
    if n.get("processes", 1) > 1 or n.get("precision") not in (None, "fp32"):  # i17: torchrun / mixed precision
        line += f" ({n.get('processes', 1)} process(es), {n.get('precision', 'fp32')})"
    return f"{line}; {_path(name, stage, 'weights')}"


def _qat(name, stage, n) -> str:
    parts = [f"FP32 {n['fp32']['top1']:.2f}%"]
    for model in ("ptq", "qat"):
        if model in n:
            m = n[model]
            parts.append(f"{model.upper()} {m['top1']:.2f}% (drop {m['top1_drop']:.2f} points, "
                         f"agreement {m['top1_agreement']:.2f}%)")
    checked = str(n.get("checked")).upper()
    verdict = "passed" if n.get("passed") else "FAILED"
    line = f"{', '.join(parts)}; {checked} drop check {verdict}"
    fmt = n.get("format", "int8")
    line = f"{fmt.upper()} ({n['recipe']}): {line}" if n.get("recipe") else line
    return f"{line}; {_path(name, stage, fmt)}" if _path(name, stage, fmt) else line


def _export(name, stage, n) -> str:
    files = []
    for precision, e in n.items():
        if not isinstance(e, dict) or "bytes" not in e:
            continue
        files.append(f"{_path(name, stage, precision) or precision} {e['bytes'] / 1e6:.2f} MB, "
                     f"{e['custom_ops']} SwinWindowAttention, ONNX Runtime vs PyTorch {e['ort_max_relative_error']:.1e}"
                     + (f" (inlined copy `{name}/{e['inlined_copy']}`)" if e.get("inlined_copy") else ""))
    return "; ".join(files)


def _engine(name, stage, n) -> str:
    if n.get("bundle"):
        return f"bundle `{n['bundle']}` ({n['bundle_files']} files): the device builds the engines"
    engines = []
    for engine, e in (n.get("engines") or {}).items():
        where = _path(name, stage, engine) or f"`{name}/model_{engine}.engine`"
        engines.append(f"{where} {e['bytes'] / 1e6:.1f} MB" if e.get("status") == "built" else f"{engine}: {e.get('status')}")
    return f"{n.get('tensorrt', '')}: " + "; ".join(engines) if engines else n.get("tensorrt", "")


def _evaluate(name, stage, n) -> str:
    rows = []
    for backend, m in n.items():
        if not isinstance(m, dict):
            continue
        rows.append(f"{backend} {m['top1']:.2f}%" if "top1" in m else f"{backend} {str(m.get('status', '-')).split(':')[0]}")
    return "top-1 " + ", ".join(rows)


def _plain(numbers: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in numbers.items() if not isinstance(v, dict))


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


SUMMARIES = {"model": _model, "train": _train, "qat": _qat, "export": _export, "engine": _engine, "evaluate": _evaluate}
