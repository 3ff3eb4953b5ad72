"""`KernelVariant`: one compiled kernel of the plugin, as a kernel module declares it for the ahead-of-time build.

Every kernel module listed in `edge_swin.plugins.swin_window_attention.kernels.KERNEL_MODULES` exposes `VARIANTS`, a tuple of
`KernelVariant`; `python -m edge_swin.plugins.swin_window_attention.aot.build` compiles each one for every target SM (one cubin per
variant and SM) and writes the embedded table of `edge_swin/plugins/swin_window_attention/README.md`.

Fields (all plain data, so the manifest can record them verbatim):
  family      "linear" | "qkv_linear" | "window_attention" -> EmbeddedKernel.family ("qkv_linear": the INT8
              and FP8 nodes' qkv projection, which writes int8 / fp8 q/k/v for the attention)
  mode        "fp16" | "int8" | "fp8"                -> EmbeddedKernel.mode
  io          "fp16" | "fp32": dtype of the tensors  -> EmbeddedKernel.io
  kernel      name of the `@triton.jit` function in the declaring module; it is also the cubin's symbol
              (Triton names the entry point after the function), e.g. "swin_linear_fp16"
  signature   {arg name: Triton type} for EVERY argument of the kernel, in the kernel's order, runtime and
              constexpr alike: "*fp16" / "*fp32" (pointers), "i32", "fp32", and "constexpr" for the
              compile-time ones; e.g. {"x": "*fp16", ..., "M": "i32", "BLOCK_M": "constexpr"}
  constexprs  {arg name: value} for every "constexpr" argument, e.g. {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}
              BLOCK_M / BLOCK_N / BLOCK_K, where present, go into the table's blockM / blockN / blockK
              (0 where absent): the C++ launcher computes the grid from them
  num_warps   threads per block = num_warps * 32
  num_stages  software-pipelining depth passed to triton.compile
  window      (wh, ww) for attention; (0, 0) for linear
  shifted     1 = SW-MSA (reads the mask), 0 = W-MSA / linear
  attrs       {arg name: [[attribute, value], ...]} specialisations the cubin may assume and the C++ side must
              guarantee, e.g. {"x": [["tt.divisibility", 16]]} (16-byte aligned pointer / multiple of 16)
  tag         optional suffix to tell apart two variants with the same fields (e.g. two tilings)
  arch_constexprs  {sm: {constexpr name: value}}: overrides of `constexprs` for particular SMs, e.g.
              {75: {"INT8_DOT": 0}} where Triton has no int8 mma (sm_75); names must be in `constexprs`.
              The table's blockM/N/K are per cubin, so a tile constexpr may differ per SM too.
  arch_num_warps  {sm: num_warps}: overrides of `num_warps` for particular SMs (e.g. 8 warps = two warpgroups
              for Hopper's wgmma on sm_90); the table's numWarps is per cubin
  archs       SMs this variant is built for (None: every SM the build targets), e.g. a variant that
              spills on one SM leaves it out; the C++ side then finds no kernel for that GPU

`name` (derived) is unique per variant and names the cubin file: kernels/<name>.sm<NN>.cubin.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

FAMILIES = ("linear", "qkv_linear", "window_attention")
MODES = ("fp16", "int8", "fp8")
IO_TYPES = ("fp16", "fp32")
# mode -> the node io types its kernels ship with (README "Variants"): the INT8 node has fp16 io (an FP16+INT8
# engine) and fp32 io (an FP32 Q/DQ graph, strongly typed builders: INT8_FP32_IO_SMS)
SHIPPED_IOS = {"fp16": ("fp16",), "int8": ("fp16", "fp32"), "fp8": ("fp16",)}
POINTER_TYPES = {"fp16": "*fp16", "fp32": "*fp32"}  # io dtype -> Triton pointer type in a signature
# mode -> the Triton pointer type of the node's 8-bit workspaces (qkv linear -> attention -> proj)
WORKSPACE_POINTERS = {"int8": "*i8", "fp8": "*fp8e4nv"}
DIVISIBLE_16 = [["tt.divisibility", 16]]  # the attrs value for a 16-byte aligned pointer or a multiple of 16
# SMs that get the INT8 node's fp32-io kernels. fp32 io exists for strongly typed builds of an FP32-graph INT8
# export (TensorRT 11, TensorRT-RTX: datacenter and RTX GPUs). Not sm_87: Jetson Orin's TensorRT 10.x builds
# INT8 weakly typed (the bundle's `--int8 --fp16`), where the plugin's fp16 io serves; this keeps the full AOT
# build within ~1.5x of what it was before the INT8 node had two io types.
INT8_FP32_IO_SMS = (75, 80, 86, 89, 90)
# SMs with FP8 (e4m3) tensor cores: Ada (sm_89), Hopper (sm_90), Jetson Thor (sm_110). The FP8 node's kernels
# are built for these only (KernelVariant.archs); the plugin offers FP8 only where the table holds them.
# Its io is fp16 (SHIPPED_IOS): the FP8 node sits in FP16 engines (FP8 Q/DQ + FP16 graph).
FP8_SMS = (89, 90, 110)


@dataclass(frozen=True)
class KernelVariant:
    family: str
    mode: str
    io: str
    kernel: str
    signature: dict[str, str]
    constexprs: dict[str, int]
    num_warps: int = 4
    num_stages: int = 1
    window: tuple[int, int] = (0, 0)
    shifted: int = 0
    attrs: dict[str, list] = field(default_factory=dict)
    tag: str = ""
    arch_constexprs: dict[int, dict[str, int]] = field(default_factory=dict)
    archs: tuple[int, ...] | None = None
    arch_num_warps: dict[int, int] = field(default_factory=dict)

    def __post_init__(self):
        problems = []
        if self.family not in FAMILIES:
            problems.append(f"family {self.family!r} not in {FAMILIES}")
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r} not in {MODES}")
        if self.io not in IO_TYPES:
            problems.append(f"io {self.io!r} not in {IO_TYPES}")
        declared = {k for k, v in self.signature.items() if v == "constexpr"}
        if declared != set(self.constexprs):
            problems.append(f"constexpr arguments {sorted(declared)} != constexprs given {sorted(self.constexprs)}")
        unknown = set(self.attrs) - set(self.signature)
        if unknown:
            problems.append(f"attrs name arguments not in the signature: {sorted(unknown)}")
        overridden = {k for values in self.arch_constexprs.values() for k in values}
        if overridden - set(self.constexprs):
            problems.append(f"arch_constexprs override unknown constexprs {sorted(overridden - set(self.constexprs))}")
        if problems:
            raise ValueError(f"KernelVariant {self.kernel}: " + "; ".join(problems))

    @property
    def name(self) -> str:
        """e.g. window_attention_int8_fp32io_w7x7_shifted, linear_fp16_fp16io."""
        parts = [self.family, self.mode, f"{self.io}io"]
        if self.family == "window_attention":
            parts += [f"w{self.window[0]}x{self.window[1]}", "shifted" if self.shifted else "unshifted"]
        if self.tag:
            parts.append(self.tag)
        return "_".join(parts)

    @property
    def tile(self) -> tuple[int, int, int]:
        """(blockM, blockN, blockK) for the embedded table, 0 where the kernel has no such constexpr."""
        return tuple(int(self.constexprs.get(k, 0)) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))  # type: ignore[return-value]

    def constexprs_for(self, sm: int) -> dict[str, int]:
        """The constexprs a cubin for `sm` is compiled with."""
        return {**self.constexprs, **self.arch_constexprs.get(sm, {})}

    def num_warps_for(self, sm: int) -> int:
        """The num_warps a cubin for `sm` is compiled (and launched) with."""
        return int(self.arch_num_warps.get(sm, self.num_warps))

    def to_json(self) -> dict:
        """The fields as JSON-ready data (manifest.json), plus the derived name."""
        data = asdict(self)
        data["window"] = list(self.window)
        data["arch_constexprs"] = {str(k): v for k, v in self.arch_constexprs.items()}
        data["arch_num_warps"] = {str(k): v for k, v in self.arch_num_warps.items()}
        data["archs"] = None if self.archs is None else list(self.archs)
        data["name"] = self.name
        return data
