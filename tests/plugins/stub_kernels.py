"""A stand-in for the generated embedded_kernels.cpp: the table's entries with empty cubins (tests only).

The plugin's build-time half (fields, shapes, formats, workspace, serialisation) reads only the table's
variant fields, so a table without images lets the library build and serve TensorRT-RTX's builder in
seconds. enqueue refuses an empty cubin with an error (it is never called without a GPU).
"""
from __future__ import annotations

from pathlib import Path

WINDOWS = ((4, 4), (7, 7), (12, 12))
SMS = (75, 80, 86, 87, 89, 90)
# (mode, io) shipped per README "Variants"; C++ enum spellings
MODES = (("kFP16", "kHALF"), ("kINT8", "kHALF"), ("kINT8", "kFLOAT"), ("kFP8", "kHALF"))
FP8_SMS = (89, 90, 110)  # the FP8 rows exist for these SMs only (kernels/spec.py FP8_SMS)
MODE_NAMES = {"kFP16": "fp16", "kINT8": "int8", "kFP8": "fp8"}


def write_stub_table(path: str | Path, windows=WINDOWS, sms=SMS) -> Path:
    """Write an embedded_kernels.cpp defining edge_swin::kEmbeddedKernels with zero-length images."""
    rows = []
    for mode, io in MODES:
        mode_name = MODE_NAMES[mode]
        for sm in sms:
            if mode == "kFP8" and sm not in FP8_SMS:
                continue
            rows.append(f'    {{KernelFamily::kLinear, KernelMode::{mode}, IoType::{io}, {sm}, 0, 0, 0, '
                        f'"swin_linear_{mode_name}", 8, 0, 64, 32, 128, nullptr, 0}},')
            if mode != "kFP16":  # the quantized nodes' qkv projection (int8 / fp8 q/k/v out)
                rows.append(f'    {{KernelFamily::kQkvLinear, KernelMode::{mode}, IoType::{io}, {sm}, 0, 0, 0, '
                            f'"swin_qkv_{mode_name}", 8, 0, 64, 32, 128, nullptr, 0}},')
            for wh, ww in windows:
                block_n = 1 << (wh * ww - 1).bit_length()
                for shifted in (0, 1):
                    rows.append(f'    {{KernelFamily::kWindowAttention, KernelMode::{mode}, IoType::{io}, {sm}, '
                                f'{wh}, {ww}, {shifted}, "swin_window_attention_{mode_name}", 4, 0, 16, {block_n}, 0, '
                                f'nullptr, 0}},')
    text = ("// Stub kernel table for tests (tests/plugins/stub_kernels.py): no cubins.\n"
            '#include "embedded_kernels.h"\n\nnamespace edge_swin {\n'
            "EmbeddedKernel const kEmbeddedKernels[] = {\n" + "\n".join(rows) + "\n};\n"
            "size_t const kNumEmbeddedKernels = sizeof(kEmbeddedKernels) / sizeof(kEmbeddedKernels[0]);\n"
            "} // namespace edge_swin\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
