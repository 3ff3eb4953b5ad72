"""Pictures for the report: what a person would rather see than read."""
from __future__ import annotations

from pathlib import Path

from edge_swin.utils.io import atomic_path


def plot_training(history: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig, loss_ax = plt.subplots(figsize=(6, 3.5))
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue", label="train loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.set_ylabel("train loss", color="tab:blue")
    acc_ax = loss_ax.twinx()
    acc_ax.plot(epochs, [h["val_top1"] for h in history], "s-", color="tab:red", label="val top-1")
    acc_ax.set_ylabel("val top-1 (%)", color="tab:red")
    loss_ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path

