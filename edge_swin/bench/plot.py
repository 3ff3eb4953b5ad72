"""PNG: median latency vs batch, one line per backend that ran (log-log), p90 as a band."""
from __future__ import annotations

import textwrap
from pathlib import Path


def plot_latency(result: dict, path: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    missing, ticks = [], set()
    for name, entry in result["backends"].items():
        if entry["status"] != "ok":
            missing.append(f"{name}: {entry['status']}")
            continue
        batches = sorted(int(b) for b in entry["batches"])
        med = [entry["batches"][str(b)]["median_ms"] for b in batches]
        p90 = [entry["batches"][str(b)]["p90_ms"] for b in batches]
        ticks.update(batches)
        line, = ax.plot(batches, med, marker="o", label=name)
        ax.fill_between(batches, med, p90, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if ticks:
        ax.set_xticks(sorted(ticks), [str(b) for b in sorted(ticks)])
    ax.set_xlabel("batch")
    ax.set_ylabel("latency, ms (median; band to p90)")
    h = result["header"]
    title = f"{result['model']['name']} on {h['gpu'] or h['cpu']} ({result['settings']['threads'] or 'default'} threads)"
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    if missing:
        fig.text(0.01, 0.01, "\n".join(missing)[:900], fontsize=6, va="bottom")
        fig.subplots_adjust(bottom=0.12 + 0.025 * len(missing))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
