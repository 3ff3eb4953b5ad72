"""The accuracy report as a picture: what INT8 cost, per model."""
from __future__ import annotations

from pathlib import Path

from edge_swin.utils.io import atomic_path


def plot_accuracy(report: dict, title: str, path: str | Path) -> Path:
    """Top-1 and top-5 bars per model (FP32, PTQ, QAT), the checked drop and its verdict in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["models"])
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    width = 0.38
    for i, (metric, label) in enumerate((("top1", "top-1"), ("top5", "top-5"))):
        xs = [j + (i - 0.5) * width for j in range(len(names))]
        values = [report["models"][n][metric] for n in names]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    ax.set_xticks(range(len(names)), [n.upper() for n in names])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 119)
    checked = report.get("checked")
    if checked:
        drop = report["models"][checked]["top1_drop"]
        verdict = "pass" if report["passed"] else "FAIL"
        title += f"\n{checked.upper()} top-1 drop {drop:.2f} pts (max {report['max_drop']:.2f}): {verdict}"
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", ncols=2, fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
