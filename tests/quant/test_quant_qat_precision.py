"""QAT in bf16 autocast: the fake-quantized student trains, its scales stay put, the checkpoint records the setting."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader


def test_bf16_qat_trains_and_keeps_the_scales(quant, ptq, fp32_model, train_set, tmp_path):
    scales = quant.amax_state(ptq)
    loader = DataLoader(train_set, batch_size=16, shuffle=True, generator=torch.Generator())
    config = quant.QATConfig(epochs=2, lr=1e-3, max_steps_per_epoch=2, device="cpu", precision="bf16")
    result = quant.qat_finetune(ptq, fp32_model, loader, config, checkpoint_dir=tmp_path)
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
    after = quant.amax_state(ptq)
    assert all(torch.equal(scales[k], after[k]) for k in scales)  # QAT moves weights, never the calibrated amax
    assert torch.load(tmp_path / "last.pth", weights_only=True)["config"]["precision"] == "bf16"
    assert next(ptq.parameters()).dtype == torch.float32  # autocast, not a bf16 copy of the weights
