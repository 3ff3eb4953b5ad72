import pytest
import torch

from edge_swin.errors import EdgeSwinError
from edge_swin.models import create_swin
from edge_swin.train import TrainConfig, cosine_with_warmup, create_optimizer, train
from tests.helpers import tensor_dataset

CONFIG = TrainConfig(epochs=2, batch_size=8, lr=2e-3, warmup_epochs=0.5, seed=3)


def fresh_model():
    torch.manual_seed(0)
    return create_swin("swin_nano", num_classes=4)


class Interrupt(Exception):
    pass


def test_training_lowers_loss_and_checkpoints_every_epoch(tmp_path):
    result = train(fresh_model(), tensor_dataset(), tensor_dataset(16, seed=1), CONFIG, tmp_path)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    state = torch.load(tmp_path / "last.pth", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2


def test_resume_after_interrupted_epoch_matches_uninterrupted_run(tmp_path):
    train_set, val_set = tensor_dataset(), tensor_dataset(16, seed=1)
    reference = fresh_model()
    train(reference, train_set, val_set, CONFIG, tmp_path / "straight")

    def stop_in_second_epoch(epoch, step):
        if epoch == 1 and step == 1:
            raise Interrupt

    interrupted = fresh_model()
    with pytest.raises(Interrupt):
        train(interrupted, train_set, val_set, CONFIG, tmp_path / "broken", on_step=stop_in_second_epoch)
    assert torch.load(tmp_path / "broken" / "last.pth", weights_only=True)["epoch"] == 1

    resumed = fresh_model()  # a new process: nothing survives but the checkpoint
    result = train(resumed, train_set, val_set, CONFIG, tmp_path / "broken", resume=True)
    assert result.resumed_from_epoch == 1
    assert [h["epoch"] for h in result.history] == [1, 2]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_with_changed_settings_fails_clearly(tmp_path):
    train(fresh_model(), tensor_dataset(), tensor_dataset(8), TrainConfig(epochs=1, batch_size=8), tmp_path)
    with pytest.raises(EdgeSwinError, match="lr: checkpoint 0.0015, now 0.01"):
        train(fresh_model(), tensor_dataset(), tensor_dataset(8), TrainConfig(epochs=1, batch_size=8, lr=0.01),
              tmp_path, resume=True)


def test_cosine_schedule_warms_up_then_decays():
    opt = create_optimizer(torch.nn.Linear(2, 2), lr=1.0)
    sched = cosine_with_warmup(opt, total_steps=100, warmup_steps=10, min_lr_ratio=0.01)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.01, abs=1e-3)


def test_no_weight_decay_on_norms_biases_and_bias_tables():
    model = create_swin("swin_nano", num_classes=4)
    decay, no_decay = create_optimizer(model, lr=1e-3, weight_decay=0.05).param_groups
    no_decay_ids = {id(p) for p in no_decay["params"]}
    for name, p in model.named_parameters():
        expect_no_decay = p.ndim <= 1 or name.endswith("relative_position_bias_table")
        assert (id(p) in no_decay_ids) == expect_no_decay, name
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
