"""Started by torchrun in tests/pipeline/test_build_torchrun.py: `pipelines.build`, recording each rank's writes.

    EDGE_SWIN_TEST_WRITES=DIR torchrun --standalone --nproc_per_node 2 tests/pipeline/torchrun_build.py ARGS...

Every file this rank creates, opens for writing, renames, removes or makes a
folder of under the run's --out is listed in DIR/rank<RANK>.txt (Python's
audit hooks see every such call, torch.save's included: it writes a
temporary file that `atomic_path` opened and renames).
"""
from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout under test

from pipelines.build import main  # noqa: E402

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
out = Path(sys.argv[sys.argv.index("--out") + 1]).resolve()
writes: list[str] = []


def record(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        if not (mode and any(c in mode for c in "wax+")) and not (mode is None and isinstance(flags, int) and flags & WRITE_FLAGS):
            return
        paths = [path]
    elif event in ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "os.chmod", "os.truncate"):
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return
    for p in paths:
        if isinstance(p, (str, os.PathLike)) and Path(os.fsdecode(p)).resolve().is_relative_to(out):
            writes.append(f"{event} {p}")


def dump() -> None:
    log = Path(os.environ["EDGE_SWIN_TEST_WRITES"]) / f"rank{os.environ.get('RANK', '0')}.txt"
    log.write_text("".join(w + "\n" for w in writes))


atexit.register(dump)
sys.addaudithook(record)
sys.exit(main(sys.argv[1:]))
