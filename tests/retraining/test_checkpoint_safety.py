"""Checkpoints are data: loading a crafted best.ckpt must never run code (weights-only loads)."""

import os

import pytest
import torch

from asteroid_mvae.retraining.train import _best_encoder_state


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_crafted_checkpoint_is_refused_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    torch.save({"state_dict": {}, "payload": RunsCode()}, tmp_path / "checkpoints" / "best.ckpt")
    with pytest.raises(ValueError, match="is not a tensors-only file"):  # the one safe reader's refusal
        _best_encoder_state(tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_a_plain_checkpoint_loads(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    torch.save(
        {"state_dict": {"model.encoder.w": torch.ones(2), "model.decoder.v": torch.zeros(1)}},
        tmp_path / "checkpoints" / "best.ckpt",
    )
    assert list(_best_encoder_state(tmp_path)) == ["w"]
