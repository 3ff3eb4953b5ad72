"""Stages whose issues have not landed: they say so in one line and produce nothing."""
from __future__ import annotations

from edge_swin.stages import NOT_BUILT
from pipelines.stages.context import RunContext

PENDING = {
    "engine": "TensorRT engine / Jetson bundle",
}


def run(ctx: RunContext, name: str) -> None:
    print(f"[{name}] not built yet: {PENDING[name]} is not implemented in this version; continuing")
    ctx.stages[name] = {"stage": name, "status": NOT_BUILT, "note": f"{PENDING[name]}: not implemented yet"}
