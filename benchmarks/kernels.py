"""Fused window attention (our Triton kernel) vs PyTorch eager and SDPA with the same bias and mask, on a GPU.

    python benchmarks/kernels.py                         # every Swin-T stage shape, batch 1,8,64, W-MSA and SW-MSA
    python benchmarks/kernels.py --batch 64 --stages 1   # the shape the goal names (stage 1, batch 64)
    python benchmarks/kernels.py --aot                   # also the whole node through the AOT cubins (below)

Each contender computes the same thing from the qkv projection output [B, H, W, 3C]
to the attention output [B, H, W, C]: cyclic shift, window partition,
QK^T * scale + relative-position bias (+ shift mask), softmax, x V, heads merged,
windows reversed, shift undone. The fused kernel folds the geometry into its
index arithmetic; PyTorch eager and SDPA do it with roll/view/permute, as
timm does. SDPA is tried with each backend that accepts a float mask (cuDNN,
memory-efficient, math) and the best one is reported. CUDA events, medians
over --runs after --warmup; FP16 in, FP32 accumulation (the kernel's fp16 mode).
Writes benchmarks/results/kernels_<device>.json and a PNG of the speed-up per stage.

--aot also times the whole node (qkv Linear, attention, proj Linear: 3 launches) as
the plugin runs it: the ahead-of-time cubins through its C++ KernelLauncher
(edge_swin.plugins.swin_window_attention.testing.harness; build the kernel table for this GPU and the harness
first), next to the same three JIT kernels (edge_swin.plugins.swin_window_attention.emulate.run_node,
which also allocates its outputs and pays Python launch overhead per call).

On a machine without a CUDA GPU it writes nothing and says so: a kernel
timing without a GPU would be a made-up number.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from edge_swin.bench.timing import median_ms as cuda_ms  # noqa: E402  (CUDA-event medians, warm-up apart)
from edge_swin.utils.io import write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# Swin-T at 224: (feature map, channels); head dim 32 everywhere, window 7.
SWIN_T_STAGES = {1: (56, 96), 2: (28, 192), 3: (14, 384), 4: (7, 768)}
WINDOW = 7


def shift_mask(H: int, W: int, window: int, shift: int, device) -> torch.Tensor:
    """timm's SW-MSA mask [nW, N, N] (0 / -100) for an H x W map (multiples of the window here)."""
    img = torch.zeros(1, H, W, 1, device=device)
    cnt = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    win = img.view(1, H // window, window, W // window, window, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.ne(0).float().mul(-100.0)


def eager_attention(qkv, bias, mask, *, H, W, C, shift, scale, sdpa: bool = False):
    """Reference path from qkv [B, H, W, 3C]: roll, partition, attention (eager or SDPA), reverse, roll back."""
    B = qkv.shape[0]
    heads, ws = C // 32, WINDOW
    x = torch.roll(qkv, (-shift, -shift), (1, 2)) if shift else qkv
    x = x.view(B, H // ws, ws, W // ws, ws, 3, heads, 32).permute(5, 0, 1, 3, 6, 2, 4, 7)
    q, k, v = x.reshape(3, -1, heads, ws * ws, 32).unbind(0)  # [B*nW, heads, N, 32]
    n_windows = (H // ws) * (W // ws)
    add = bias.unsqueeze(0)
    if mask is not None:
        add = (add.view(1, 1, heads, ws * ws, ws * ws) + mask.view(1, n_windows, 1, ws * ws, ws * ws)).expand(
            B, -1, -1, -1, -1).reshape(B * n_windows, heads, ws * ws, ws * ws)
    if sdpa:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=add.to(q.dtype), scale=scale)
    else:
        attn = (q * scale) @ k.transpose(-2, -1) + add
        out = attn.softmax(-1) @ v
    out = out.view(B, H // ws, W // ws, heads, ws, ws, 32).permute(0, 1, 4, 2, 5, 3, 6).reshape(B, H, W, C)
    return torch.roll(out, (shift, shift), (1, 2)) if shift else out


def sdpa_backends():
    from torch.nn.attention import SDPBackend
    return {"cudnn": SDPBackend.CUDNN_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def measure_shape(stage: int, batch: int, shifted: bool, warmup: int, runs: int) -> dict:
    from torch.nn.attention import sdpa_kernel

    from edge_swin.plugins.swin_window_attention.kernels.window_attention import window_attention

    hw, C = SWIN_T_STAGES[stage]
    shift = WINDOW // 2 if shifted and hw > WINDOW else 0
    heads, n = C // 32, WINDOW * WINDOW
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(stage * 100 + batch)
    qkv = torch.randn(batch, hw, hw, 3 * C, device=dev, generator=gen).half()
    qkv_b = torch.zeros(3 * C, device=dev).half()  # no padding at these shapes: the bias is never read
    bias = torch.randn(heads, n, n, device=dev, generator=gen).half()
    mask = shift_mask(hw, hw, WINDOW, shift, dev).half() if shift else None
    scale = 32 ** -0.5
    kw = dict(H=hw, W=hw, C=C, shift=shift, scale=scale)

    def fused():
        return window_attention(qkv, qkv_b, bias, mask, mode="fp16", **kw)

    ref = eager_attention(qkv.double(), bias.double(), None if mask is None else mask.double(), **kw)
    err = float(((fused().double() - ref).abs().max() / ref.abs().max()))
    row = {"stage": stage, "batch": batch, "shifted": bool(shift), "map": hw, "channels": C, "heads": heads,
           "fused_max_rel_error_vs_fp64": err,
           "fused_ms": cuda_ms(fused, warmup, runs),
           "eager_ms": cuda_ms(lambda: eager_attention(qkv, bias, mask, **kw), warmup, runs)}
    sdpa = {}
    for name, backend in sdpa_backends().items():
        try:
            with sdpa_kernel([backend]):
                eager_attention(qkv, bias, mask, sdpa=True, **kw)
                sdpa[name] = cuda_ms(lambda: eager_attention(qkv, bias, mask, sdpa=True, **kw), warmup, runs)
        except RuntimeError as e:  # this backend refuses a float mask or this shape
            sdpa[name] = f"not available: {str(e).splitlines()[0][:120]}"
    timed = {k: v for k, v in sdpa.items() if isinstance(v, float)}
    row["sdpa_ms"] = sdpa
    row["sdpa_best"] = min(timed, key=timed.get) if timed else None
    row["speedup_vs_best_sdpa"] = timed[row["sdpa_best"]] / row["fused_ms"] if timed else None
    row["speedup_vs_eager"] = row["eager_ms"] / row["fused_ms"]
    return row


def synthetic_node(stage: int, batch: int, shifted: bool, int8: bool, io, device):
    """(tensors, attrs) of a Swin-T stage's node with random weights (no modelopt needed): for INT8, weights on
    the per-row int8 grid and per-tensor scales from the amax of x, q/k/v and the output (as calibration would)."""
    hw, C = SWIN_T_STAGES[stage]
    heads, n = C // 32, WINDOW * WINDOW
    shift = WINDOW // 2 if shifted and hw > WINDOW else 0
    gen = torch.Generator(device=device).manual_seed(stage * 1000 + batch)

    def rand(*shape, std=1.0):
        return torch.randn(*shape, device=device, generator=gen) * std

    x, qkv_w, qkv_b = rand(batch, hw, hw, C), rand(3 * C, C, std=C ** -0.5), rand(3 * C, std=0.1)
    proj_w, proj_b, bias = rand(C, C, std=C ** -0.5), rand(C, std=0.1), rand(heads, n, n)
    mask = shift_mask(hw, hw, WINDOW, shift, device) if shift else torch.zeros(1, 1, 1, device=device)
    scales = None
    if int8:
        def grid(w):
            s = w.abs().amax(1).clamp_min(1e-8) / 127
            return (w / s[:, None]).round().clamp(-127, 127) * s[:, None], s

        qkv_w, qkv_w_scale = grid(qkv_w)
        proj_w, proj_w_scale = grid(proj_w)
        qkv = (x.reshape(-1, C) @ qkv_w.t() + qkv_b).view(-1, 3, C)
        q_amax, k_amax, v_amax = (qkv[:, i].abs().amax() for i in range(3))
        one = lambda v: (v / 127).reshape(1).float()  # noqa: E731
        scales = [one(x.abs().amax()), qkv_w_scale.float(), one(q_amax), one(k_amax),
                  one(torch.tensor(1.0, device=device)), one(v_amax), one(v_amax), proj_w_scale.float()]
    tensors = [t.to(io) for t in (x, qkv_w, qkv_b, proj_w, proj_b, bias, mask)]
    attrs = {"num_heads": heads, "window_size": (WINDOW, WINDOW), "shift_size": (shift, shift),
             "scale": 32 ** -0.5, "int8_scales": scales}
    return tensors, attrs


def measure_node(harness, stage: int, batch: int, shifted: bool, warmup: int, runs: int) -> dict:
    """The whole FP16 node from x [B, H, W, C]: AOT cubins via the plugin's launcher vs the same JIT kernels."""
    from edge_swin.plugins.swin_window_attention.emulate import run_node
    from edge_swin.plugins.swin_window_attention.testing.harness import NodeLaunch

    tensors, attrs = synthetic_node(stage, batch, shifted, False, torch.float16, torch.device("cuda"))
    aot = NodeLaunch(tensors, attrs, harness)

    def jit():
        return run_node(*tensors, **attrs)

    ref = jit().double()
    return {"aot_cubin_sm": aot.cubin_sm,
            "aot_vs_jit_node_max_rel_diff": float((aot().double() - ref).abs().max() / ref.abs().max()),
            "aot_node_ms": cuda_ms(aot, warmup, runs), "jit_node_ms": cuda_ms(jit, warmup, runs)}


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for stage in sorted({r["stage"] for r in rows}):
        for shifted in (False, True):
            pts = [(r["batch"], r["speedup_vs_best_sdpa"]) for r in rows
                   if r["stage"] == stage and r["shifted"] == shifted and r["speedup_vs_best_sdpa"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", linestyle="-" if shifted else "--",
                        label=f"stage {stage} {'SW' if shifted else 'W'}-MSA")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch")
    ax.set_ylabel("speed-up of the fused kernel vs best SDPA")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", default="1,8,64")
    p.add_argument("--stages", default="1,2,3,4")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/kernels_<device>.json)")
    p.add_argument("--aot", action="store_true", help="also time the whole node through the AOT cubins (harness)")
    p.add_argument("--harness", type=Path, default=None,
                   help="harness library for --aot (default $EDGE_SWIN_NODE_HARNESS or build/plugins/)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("[kernels] not available: needs a CUDA GPU (torch.cuda.is_available() is False); nothing measured, "
              "nothing written")
        return 0
    from tqdm import tqdm

    from edge_swin.bench import device_id, header

    shapes = [(s, b, sh) for s in map(int, args.stages.split(",")) for b in map(int, args.batch.split(","))
              for sh in (False, True)]
    harness = None
    if args.aot:
        from edge_swin.plugins.swin_window_attention.testing.harness import HarnessError, load_harness

        try:
            harness = load_harness(args.harness)
        except HarnessError as e:
            print(f"[kernels] --aot: {e}")
            return 1
    rows = []
    for s, b, sh in tqdm(shapes, desc="kernels"):
        row = measure_shape(s, b, sh, args.warmup, args.runs)
        if harness is not None:
            row |= measure_node(harness, s, b, sh, args.warmup, args.runs)
        rows.append(row)
    print(f"{'stage':>5} {'batch':>5} {'kind':>6} {'fused ms':>9} {'eager ms':>9} {'best SDPA':>18} {'x SDPA':>7} {'err':>8}")
    for r in rows:
        best = f"{r['sdpa_ms'][r['sdpa_best']]:.3f} ({r['sdpa_best']})" if r["sdpa_best"] else "n/a"
        ratio = f"{r['speedup_vs_best_sdpa']:.2f}" if r["speedup_vs_best_sdpa"] else "n/a"
        print(f"{r['stage']:>5} {r['batch']:>5} {'SW-MSA' if r['shifted'] else 'W-MSA':>6} {r['fused_ms']:>9.3f} "
              f"{r['eager_ms']:>9.3f} {best:>18} {ratio:>7} {r['fused_max_rel_error_vs_fp64']:>8.1e}")
    if harness is not None:
        print(f"\nwhole node, 3 launches ({harness.path.name}, cubins for sm_{rows[0]['aot_cubin_sm']}):")
        print(f"{'stage':>5} {'batch':>5} {'kind':>6} {'AOT ms':>9} {'JIT ms':>9} {'AOT vs JIT':>10}")
        for r in rows:
            print(f"{r['stage']:>5} {r['batch']:>5} {'SW-MSA' if r['shifted'] else 'W-MSA':>6} {r['aot_node_ms']:>9.3f} "
                  f"{r['jit_node_ms']:>9.3f} {r['aot_vs_jit_node_max_rel_diff']:>10.1e}")
    out = args.out or RESULTS / f"kernels_{device_id(True)}.json"
    write_json(out, {"header": header(), "settings": vars(args) | {"out": str(out)}, "rows": rows})
    print(f"[kernels] {out}\n[kernels] {plot(rows, out.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
