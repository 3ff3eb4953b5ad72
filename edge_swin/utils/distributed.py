"""torch.distributed for the train and QAT stages: join torchrun's process group, rank queries, rank-0-only work.

torchrun starts one process per GPU (or per CPU worker) and sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. `init` joins that group
(NCCL on GPUs, Gloo on CPUs, with a timeout so a hung peer cannot block the
others forever); without those variables every helper here is a no-op for one
process, so the same code runs both ways.

Rank 0 alone writes files. `on_main(fn)` runs `fn` there while the other ranks
wait, then hands them its result, or its error as `PeerFailed` (which the CLI
prints nowhere: rank 0 has already said what went wrong, once).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from edge_swin.errors import EdgeSwinError

TIMEOUT_ENV = "EDGE_SWIN_DIST_TIMEOUT"  # seconds a collective may wait for a peer before the run stops
DEFAULT_TIMEOUT_S = 1800
T = TypeVar("T")


class PeerFailed(EdgeSwinError):
    """Rank 0 failed inside `on_main`; it has printed the reason, the other ranks stop quietly."""


class PeerLost(EdgeSwinError):
    """A collective failed: another rank died or hung past the timeout."""


def launched() -> bool:
    """True in a process torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))


def init(device: str) -> str:
    """Join torchrun's process group if this process is one of several; returns the device this rank uses.

    device "cuda" becomes "cuda:LOCAL_RANK" (one GPU a process, NCCL); "cpu" uses Gloo.
    Ranks other than 0 print nothing to stdout and show no progress bars.
    """
    if not launched() or active():
        return device
    if device.startswith("cuda"):
        if device != "cuda":
            raise EdgeSwinError(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK; pass "
                                "--device cuda (or auto) and choose GPUs with CUDA_VISIBLE_DEVICES")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise EdgeSwinError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) here: "
                                "--nproc_per_node must not exceed the GPUs of a machine")
        torch.cuda.set_device(local_rank)
        device, backend = f"cuda:{local_rank}", "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=timeout())
    if not is_main():
        _quiet()
    return device


def _quiet() -> None:
    """No stdout and no progress bars on this rank (stderr stays: its errors and tracebacks are worth reading)."""
    import functools

    from tqdm import tqdm

    # tqdm reads TQDM_DISABLE when it is imported, long before this: switch its default off on the class itself.
    tqdm.__init__ = functools.partialmethod(tqdm.__init__, disable=True)
    from edge_swin.utils.progress import set_progress

    set_progress(False)  # and edge_swin.utils.progress, which passes disable= itself
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_from_main(value: T) -> T:
    """Rank 0's `value` on every rank (any picklable object)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(values: list[float], device: str | torch.device = "cpu") -> list[float]:
    """Element-wise sums of `values` over all ranks (float64, so counts stay exact)."""
    if not active():
        return list(values)
    # NCCL reduces CUDA tensors only; Gloo CPU ones.
    where = device if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=where)
    dist.all_reduce(tensor)
    return tensor.tolist()


def on_main(fn: Callable[[], T]) -> T | None:
    """Run `fn` on rank 0 only, while the other ranks wait; rank 0 gets its result, the others None.

    An error in `fn` propagates on rank 0 and reaches the others as `PeerFailed`,
    so no rank is left waiting for a rank 0 that gave up.
    """
    if not active():
        return fn()
    status, result, error = "ok", None, None
    if is_main():
        try:
            result = fn()
        except BaseException as err:  # noqa: BLE001 (the others must hear of any failure; then it propagates)
            status, error = f"{type(err).__name__}: {err}", err
    status = broadcast_from_main(status)
    if error is not None:
        error.peers_told = True  # the CLI holds the others at a barrier until rank 0 has reported it
        raise error
    if status != "ok":
        raise PeerFailed(f"rank 0 failed: {status}")
    return result


def lost_peer_message(err: BaseException, checkpoint_hint: str) -> str:
    return (f"rank {rank()} of {world_size()}: the other ranks stopped answering ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else 'no detail'}). {checkpoint_hint}")


def is_collective_failure(err: BaseException) -> bool:
    """True for the errors a collective raises when a peer died, closed its connection or timed out."""
    if not active():
        return False
    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(w in text for w in ("gloo", "nccl", "connection closed", "timed out",
                                                                     "connection reset", "broken pipe"))


@contextlib.contextmanager
def peer_loss_stops_cleanly(hint: str):
    """Turn a collective's failure (a peer died or timed out) into one `PeerLost` message ending in `hint`."""
    try:
        yield
    except Exception as err:
        if is_collective_failure(err):
            raise PeerLost(lost_peer_message(err, hint)) from None
        raise
