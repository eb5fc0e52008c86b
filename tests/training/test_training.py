import copy
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from asteroid_mvae.networks import ACVAE, CVAE, ChimeraACVAE, load_network_package, save_network_package
from asteroid_mvae.training import (
    ACVAESystem,
    ChimeraSystem,
    CVAESystem,
    make_config,
    train,
    train_chimera,
    train_cvae,
)

N_FREQ = 32
STEPS = 40


@pytest.fixture(scope="module")
def dataset(synthetic_speakers):
    return synthetic_speakers(n_speakers=3, items_per_speaker=12, n_freq=N_FREQ, frames=16)


def evaluate(system, batch):
    """Loss terms on a fixed batch, eval mode, fixed noise (latent samples, Gumbel labels)."""
    system.eval()
    torch.manual_seed(123)
    with torch.no_grad():
        terms = system.loss_terms(batch[0] / system.input_scale, batch[1])
    system.train()
    return {name: value.item() for name, value in terms.items()}


def fit(system, loader, steps=STEPS, lr=3e-3):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(system.model.parameters(), lr=lr)
    done = 0
    while done < steps:
        for magnitude, labels in loader:
            loss = system.total_loss(system.loss_terms(magnitude / system.input_scale, labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


@pytest.fixture(scope="module")
def loaders(dataset):
    return DataLoader(dataset, batch_size=6, shuffle=True), next(iter(DataLoader(dataset, batch_size=36)))


@pytest.fixture(scope="module")
def trained_teacher(loaders):
    torch.manual_seed(0)
    system = CVAESystem(CVAE(3, N_FREQ), None, loaders[0], input_scale=2.0)
    before = evaluate(system, loaders[1])
    fit(system, loaders[0])
    return system.model.eval(), before, evaluate(system, loaders[1])


def assert_lowered(before, after, names):
    for name in names:
        assert after[name] < before[name] - 0.1 * abs(before[name]), (name, before[name], after[name])
    assert sum(after.values()) < sum(before.values())


def test_cvae_training_lowers_nll(trained_teacher):
    _, before, after = trained_teacher
    assert_lowered(before, after, ["nll"])


def test_acvae_training_lowers_nll_and_both_cross_entropies(loaders):
    torch.manual_seed(0)
    system = ACVAESystem(ACVAE(3, N_FREQ), None, loaders[0], input_scale=2.0)
    assert system.loss_weights == {"ce_input": 0.5, "ce_decoded": 0.5}
    before = evaluate(system, loaders[1])
    fit(system, loaders[0])
    assert_lowered(before, evaluate(system, loaders[1]), ["nll", "ce_input", "ce_decoded"])


def test_chimera_training_lowers_its_losses_and_teacher_stays_frozen(loaders, trained_teacher):
    teacher = copy.deepcopy(trained_teacher[0])
    snapshot = copy.deepcopy(teacher.state_dict())
    torch.manual_seed(0)
    system = ChimeraSystem(ChimeraACVAE(3, N_FREQ), None, loaders[0], input_scale=2.0, teacher=teacher)
    system.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    before = evaluate(system, loaders[1])
    assert set(before) == {
        "kl",
        "nll",
        "ce_input",
        "ce_decoded",
        "nll_gumbel",
        "ce_gumbel",
        "teacher_kl",
        "is_true",
        "is_gumbel",
    }
    fit(system, loaders[0])
    after = evaluate(system, loaders[1])
    assert_lowered(
        before,
        after,
        ["nll", "ce_input", "ce_decoded", "nll_gumbel", "ce_gumbel", "teacher_kl", "is_true", "is_gumbel"],
    )
    assert all(torch.equal(snapshot[k], v) for k, v in teacher.state_dict().items())  # incl. BatchNorm statistics
    assert not teacher.training


def test_chimera_rejects_mismatched_teacher(loaders):
    with pytest.raises(ValueError, match="n_labels=4"):
        ChimeraSystem(ChimeraACVAE(3, N_FREQ), None, loaders[0], teacher=CVAE(4, N_FREQ))
    with pytest.raises(TypeError, match="teacher"):
        ChimeraSystem(ChimeraACVAE(3, N_FREQ), None, loaders[0], teacher=ChimeraACVAE(3, N_FREQ))


LIGHTNING = {
    "network": {"n_freq": N_FREQ},
    "optim": {"lr": 3e-3, "batch_size": 6},
    "data": {"val_fraction": 0.2},
    "trainer": {"max_epochs": 1, "log_every_n_steps": 1, "enable_progress_bar": False},
}


def test_lightning_training_writes_package_logs_and_resumes(tmp_path, dataset):
    exp = tmp_path / "cvae"
    package_path = train_cvae(exp, dataset, **LIGHTNING)
    net, package = load_network_package(package_path)
    assert isinstance(net, CVAE) and package["label_map"] == dataset.label_map
    scale = torch.stack([dataset[i][0] for i in range(len(dataset))]).pow(2).mean().sqrt().item()
    assert 0.9 * scale < package["input_scale"] < 1.1 * scale  # RMS of the training items
    assert package["training"]["epochs"] == 1 and package["training"]["steps"] == 5  # 30 train items / 6
    assert (exp / "checkpoints" / "last.ckpt").exists() and (exp / "config.yml").exists()
    metrics = pd.read_csv(exp / "logs" / "version_0" / "metrics.csv")
    assert {"train_nll_step", "train_kl_step", "val_loss"} <= set(metrics.columns)

    resumed = make_config(
        "cvae", "paper", {"exp_dir": str(exp), **LIGHTNING, "trainer": {**LIGHTNING["trainer"], "max_epochs": 2}}
    )
    _, package = load_network_package(train(resumed, dataset))
    assert package["training"]["steps"] == 10  # continued from the checkpoint, not restarted

    chimera = train_chimera(package_path, tmp_path / "chimera", dataset, **LIGHTNING)
    student, student_package = load_network_package(chimera)
    assert isinstance(student, ChimeraACVAE)
    assert student_package["input_scale"] == package["input_scale"]  # the teacher's input domain
    assert "train_is_true_epoch" in student_package["training"]["final_metrics"]


def test_early_stopping_on_the_validation_nll(tmp_path, dataset):
    """``trainer.early_stop_patience = p``: training stops after ``p`` validations without a lower
    validation NLL (lr 0: the NLL never falls, so 1 + p epochs of 5 steps run, not 20)."""
    config = {
        **LIGHTNING,
        "optim": {"lr": 0.0, "batch_size": 6},
        "trainer": {**LIGHTNING["trainer"], "max_epochs": 20, "early_stop_patience": 2},
    }
    _, package = load_network_package(train_cvae(tmp_path / "cvae", dataset, **config))
    assert package["training"]["steps"] == 15


def test_chimera_training_needs_a_matching_teacher(tmp_path, dataset):
    with pytest.raises(ValueError, match="teacher"):
        train_chimera(None, tmp_path / "x", dataset, **LIGHTNING)
    other = save_network_package(tmp_path / "other.pt", CVAE(3, N_FREQ), 1.0, {"a": 0, "b": 1, "c": 2})
    with pytest.raises(ValueError, match="other speakers"):
        train_chimera(other, tmp_path / "y", dataset, **LIGHTNING)


def kill_during_epoch_3(monkeypatch):
    """Make the next training die at step 10 (epoch 3 of 4-batch epochs; last checkpoint: step 8)."""
    from asteroid_mvae.training import run

    def dying(desc):
        from pytorch_lightning.callbacks import Callback

        class Die(Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == 10:
                    raise RuntimeError("killed")

        return Die()

    monkeypatch.setattr(run, "training_progress_callback", dying)


@pytest.mark.parametrize("model", ["cvae", "chimera"])
def test_a_killed_and_resumed_training_equals_the_uninterrupted_one(tmp_path, dataset, model, monkeypatch):
    """Killed in epoch 3 (after the epoch-2 checkpoint) and resumed: the same weights, bit for bit."""
    teacher = None
    if model == "chimera":
        teacher = train(make_config("cvae", "paper", {"exp_dir": str(tmp_path / "teacher"), **LIGHTNING}), dataset)
    conf = {
        **LIGHTNING,
        "model": model,
        "teacher": None if teacher is None else str(teacher),
        "trainer": {**LIGHTNING["trainer"], "max_epochs": 4, "ckpt_every_n_steps": 5, "limit_train_batches": 4},
    }
    whole, _ = load_network_package(
        train(make_config(model, "paper", {**conf, "exp_dir": str(tmp_path / "whole")}), dataset)
    )
    kill_during_epoch_3(monkeypatch)
    with pytest.raises(RuntimeError, match="killed"):
        train(make_config(model, "paper", {**conf, "exp_dir": str(tmp_path / "parts")}), dataset)
    monkeypatch.undo()
    parts, package = load_network_package(
        train(make_config(model, "paper", {**conf, "exp_dir": str(tmp_path / "parts")}), dataset)
    )
    assert package["training"]["steps"] == 16
    for key, value in whole.state_dict().items():
        assert torch.equal(value, parts.state_dict()[key]), key


def test_training_logs_carry_no_lightning_chatter(tmp_path, dataset, caplog, capsys, recwarn):
    import logging

    with caplog.at_level(logging.INFO):
        train(make_config("cvae", "paper", {"exp_dir": str(tmp_path / "q"), **LIGHTNING}), dataset)
    text = caplog.text + capsys.readouterr().err
    for noise in ("Tip", "GPU available", "TPU available", "Seed set", "Total params", "LeafSpec"):
        assert noise not in text, noise
    assert not [w for w in recwarn if "LeafSpec" in str(w.message) or "eval mode" in str(w.message)]


def test_two_identical_trainings_write_identical_bytes(tmp_path, dataset):
    import shutil

    conf = make_config("cvae", "paper", {"exp_dir": str(tmp_path / "run"), **LIGHTNING})
    first = train(conf, dataset).read_bytes()
    shutil.move(tmp_path / "run", tmp_path / "first")
    assert train(conf, dataset).read_bytes() == first
    assert (tmp_path / "run" / "fit_time.json").exists()  # wall time beside the package, not in it


def test_last_checkpoint_is_written_on_its_schedule_not_only_at_the_end(tmp_path, dataset, monkeypatch):
    """A kill between checkpoints loses at most the schedule's steps (cpu_long: 2-epoch schedule,
    validation every 2 epochs; Lightning 2.6 skips ``save_last`` with ``save_top_k=0``)."""
    import pytorch_lightning as pl

    saved = []
    original = pl.Trainer.save_checkpoint

    def spy(trainer, filepath, *args, **kwargs):
        saved.append((Path(filepath).name, trainer.global_step))
        return original(trainer, filepath, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", spy)
    conf = {
        **LIGHTNING,
        "trainer": {
            **LIGHTNING["trainer"],
            "max_epochs": 6,
            "limit_train_batches": 2,
            "check_val_every_n_epoch": 2,
            "ckpt_every_n_steps": 4,
        },
    }
    train(make_config("cvae", "paper", {**conf, "exp_dir": str(tmp_path / "run")}), dataset)
    assert [step for name, step in saved if name == "last.ckpt"] == [4, 8, 12]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_training_in_a_log_file_reports_progress_lines(tmp_path, dataset, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="asteroid_mvae.progress"):
        train(make_config("cvae", "paper", {"exp_dir": str(tmp_path / "p"), **LIGHTNING}), dataset)
    lines = [r.getMessage() for r in caplog.records if r.name == "asteroid_mvae.progress"]
    assert lines and lines[-1].startswith("train cvae: 5/5 steps (100%)") and "s_per_step" in lines[-1]
