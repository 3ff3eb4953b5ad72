"""The performance tables of docs/benchmarks.md, from the committed benchmark JSON; `--run` re-measures them first.

    python benchmarks/readme_table.py          # print the tables from benchmarks/results/*.json
    python benchmarks/readme_table.py --run    # re-measure every table on this machine, then print

`--run` reproduces every number in docs/benchmarks.md's tables with the
exact commands listed in TABLES (the default run folder is built first with
`python -m pipelines.build --target jetson-orin` when it is missing). Each row
carries the device, the versions and the date its JSON header recorded, so a
table pasted into docs/benchmarks.md says where its numbers come from. A backend that
could not run is printed as "not available: <reason>", never as a number.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge_swin.bench.backends import REGISTRY  # noqa: E402  (after the sys.path line above)

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_RUN = ROOT / "runs" / "swin_nano_patch4_window4_32-fashion-mnist"
BACKEND_LABELS = {name: backend.label for name, backend in REGISTRY.items()}  # edge_swin.bench.backends


@dataclass(frozen=True)
class Table:
    title: str
    json_name: str          # under benchmarks/results/
    latency_args: tuple     # benchmarks/latency.py arguments that produce json_name
    needs_default_run: bool = False


TABLES = (
    Table("swin_nano (default model), 32 px", "latency_cpu-2core.json",
          ("--model", str(DEFAULT_RUN), "--threads", "2", "--out", "benchmarks/results/latency_cpu-2core.json"),
          needs_default_run=True),
    Table("Swin-T, 224 px, random weights", "latency_swin_t_cpu-2core.json",
          ("--arch", "swin_t", "--int8-calibrate", "16", "--batch", "1,8", "--threads", "2", "--runs", "20",
           "--rounds", "3", "--out", "benchmarks/results/latency_swin_t_cpu-2core.json")),
)


def _versions(header: dict) -> str:
    v = header.get("versions", {})
    keys = ("torch", "onnxruntime", "tensorrt", "tensorrt_rtx")
    return ", ".join(f"{k} {v[k]}" for k in keys if v.get(k))


def _device(header: dict) -> str:
    if header.get("gpu"):
        return f"{header['gpu']} (CUDA {header.get('cuda')})"
    return f"{header.get('cpu', '?')} {header.get('cpu_cores', '?')} cores, {header.get('torch_threads', '?')} threads"


def render(table: Table, result: dict) -> str:
    header = result["header"]
    batches = [str(b) for b in result["settings"]["batches"]]
    where = f"{_device(header)}; {_versions(header)}; {header.get('date', 'date not recorded')}"
    lines = [f"**{table.title}**",
             "",
             "| backend | " + " | ".join(f"batch {b} ms (median)" for b in batches)
             + f" | images/s at {batches[-1]} | device, versions, date |",
             "|---|" + "---|" * (len(batches) + 2)]
    for name, entry in result["backends"].items():
        label = BACKEND_LABELS.get(name, name)
        if entry.get("status") != "ok":
            lines.append(f"| {label} | {entry.get('status')} |" + " |" * (len(batches) + 1))
            continue
        cells = [f"{entry['batches'][b]['median_ms']:.2f}" if b in entry["batches"] else "-" for b in batches]
        last = entry["batches"].get(batches[-1])
        rate = f"{last['images_per_s']:,.0f}" if last else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {rate} | {where} |")
    command = "python benchmarks/latency.py " + " ".join(table.latency_args).replace(str(ROOT) + "/", "")
    lines += ["", f"(`{command}`)", ""]
    return "\n".join(lines)


def run(table: Table) -> None:
    if table.needs_default_run and not (DEFAULT_RUN / "report.json").is_file():
        print(f"[readme_table] {DEFAULT_RUN} missing: building the default run first", flush=True)
        subprocess.run([sys.executable, "-m", "pipelines.build", "--target", "jetson-orin"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "latency.py"), *table.latency_args], cwd=ROOT, check=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="store_true", help="re-measure every table on this machine before printing")
    args = p.parse_args(argv)
    for table in TABLES:
        if args.run:
            run(table)
        path = RESULTS / table.json_name
        if not path.is_file():
            print(f"error: {path} is missing: run `python benchmarks/readme_table.py --run`", file=sys.stderr)
            return 2
        print(render(table, json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
