"""Before a stage rewrites anything: everything made from its old output stops claiming to be current.

The stage's own folder and every later stage's folder are marked stale (manifest status and a
STALE.txt note), the Jetson bundle moves to `bundle.stale/` (so a copy of `bundle/` can never ship a
model the run no longer stands behind), and report.md / report.json say they are not current until
the run writes them again.
"""
from __future__ import annotations

import datetime as dt
import shutil

from edge_swin.utils import distributed
from edge_swin.utils.manifest import Stage
from pipelines.stages import report
from pipelines.stages.context import STAGES, RunContext

BUNDLE, STALE_BUNDLE = "bundle", "bundle.stale"


def begin(ctx: RunContext, stage: Stage) -> None:
    """Mark what `stage` invalidates (rank 0 writes; the others have nothing to do)."""
    if not distributed.is_main():
        return
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    because = f"the {stage.name} stage started rebuilding at {now}"
    later = STAGES[STAGES.index(stage.name) + 1:]
    marked = stage.begin(later, because)
    bundle = ctx.out_dir / BUNDLE
    if bundle.is_dir() and (stage.name == "engine" or "engine" in later):
        stale = ctx.out_dir / STALE_BUNDLE
        shutil.rmtree(stale, ignore_errors=True)  # an older stale bundle: the one moving there is newer
        bundle.rename(stale)
        marked.append(f"{BUNDLE} (moved to {STALE_BUNDLE}/)")
    report.mark_not_current(ctx.out_dir, because)
    if marked:
        print(f"[{stage.name}] rebuilding: {', '.join(marked)} no longer current (marked stale until rebuilt)")
