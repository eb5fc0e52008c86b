"""BatchNorm: recalibrated running statistics, per-source statistics, and the NLL-gap warning."""

import torch
from torch.utils.data import DataLoader

from asteroid_mvae.networks import ACVAE, CVAE, ChimeraACVAE, load_network_package
from asteroid_mvae.networks.layers import per_item_batchnorm
from asteroid_mvae.networks.package import nll_gap_warning
from asteroid_mvae.training import CVAESystem, train_cvae
from asteroid_mvae.training.batchnorm import batchnorm_layers, recalibrate_batchnorm

N_FREQ = 32


def test_recalibration_gives_the_average_batch_statistics(synthetic_speakers):
    torch.manual_seed(0)
    net = CVAE(n_labels=3, n_freq=N_FREQ)
    data = synthetic_speakers(n_speakers=3, items_per_speaker=8, n_freq=N_FREQ, frames=16)
    batches = list(DataLoader(data, batch_size=8))
    first = net.encoder.layers[0]
    captured = []
    hook = first.norm.register_forward_hook(lambda m, inp, out: captured.append(inp[0].mean((0, 2))))
    labels = lambda y: torch.nn.functional.one_hot(y, 3).float()
    seen = recalibrate_batchnorm(net, batches, lambda b: net(b[0], labels(b[1])))
    hook.remove()
    assert seen == len(batches) and not net.training
    assert torch.allclose(first.norm.running_mean, torch.stack(captured).mean(0), atol=1e-5)
    assert first.norm.momentum == 0.1  # restored
    assert batchnorm_layers(ChimeraACVAE(3, N_FREQ)) == []  # GroupNorm only: nothing to do


def test_recalibration_repairs_stale_running_statistics(synthetic_speakers):
    """Stale running statistics (here: the initial ones) make eval-mode decoding far off; one
    recalibration pass brings the eval-mode NLL to the train-mode one."""
    torch.manual_seed(0)
    data = synthetic_speakers(n_speakers=3, items_per_speaker=12, n_freq=N_FREQ, frames=16)
    system = CVAESystem(CVAE(3, N_FREQ), None, DataLoader(data, batch_size=6))
    batch = next(iter(DataLoader(data, batch_size=36)))
    optimizer = torch.optim.Adam(system.model.parameters(), lr=3e-3)
    for _ in range(3):
        for magnitude, labels in DataLoader(data, batch_size=6, shuffle=True):
            loss = system.total_loss(system.loss_terms(magnitude, labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for layer in batchnorm_layers(system.model):
        layer.reset_running_stats()  # what a too-slow running average looks like

    def eval_nll():
        system.model.eval()
        torch.manual_seed(1)
        with torch.no_grad():
            return system.loss_terms(*batch)["nll"].item()

    stale = eval_nll()
    system.model.train()
    torch.manual_seed(1)
    with torch.no_grad():
        train_mode = system.loss_terms(*batch)["nll"].item()
    recalibrate_batchnorm(system.model, DataLoader(data, batch_size=6), lambda b: system.loss_terms(*b))
    fixed = eval_nll()
    assert abs(fixed - train_mode) < 0.25 * abs(stale - train_mode), (stale, train_mode, fixed)


def test_training_recalibrates_and_records_it(tmp_path, synthetic_speakers):
    data = synthetic_speakers(n_speakers=3, items_per_speaker=12, n_freq=N_FREQ, frames=16)
    conf = {
        "network": {"n_freq": N_FREQ},
        "optim": {"lr": 3e-3, "batch_size": 6},
        "data": {"val_fraction": 0.2},
        "trainer": {"max_epochs": 1, "log_every_n_steps": 1, "enable_progress_bar": False},
    }
    _, package = load_network_package(train_cvae(tmp_path / "cvae", data, **conf))
    metrics = package["training"]["final_metrics"]
    assert metrics["batchnorm_recalibration_batches"] == 5  # one pass over the 30 training items
    assert "val_nll_recalibrated" in metrics
    off = {"batchnorm": {"recalibrate_batches": 0}}
    _, package = load_network_package(train_cvae(tmp_path / "off", data, **conf, **off))
    assert "batchnorm_recalibration_batches" not in package["training"]["final_metrics"]


def test_per_item_statistics_equal_batchnorm_on_each_item_alone():
    torch.manual_seed(0)
    net = ACVAE(n_labels=3, n_freq=N_FREQ).train()
    x = torch.rand(4, N_FREQ, 16)
    label = torch.full((4, 3), 1 / 3)
    with torch.no_grad():
        one_by_one = torch.cat([net.encode(x[i : i + 1], label[i : i + 1])[0] for i in range(4)])
        net.eval()
        running_before = net.encoder.layers[0].norm.running_mean.clone()
        with per_item_batchnorm(net):
            batched = net.encode(x, label)[0]
        plain_eval = net.encode(x, label)[0]
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    assert not torch.allclose(plain_eval, batched, atol=1e-3)  # the context really switched
    assert torch.equal(net.encoder.layers[0].norm.running_mean, running_before)  # left alone


def test_nll_gap_warning():
    assert nll_gap_warning({"train_nll_epoch": -0.3, "val_nll": 3083.0}) is not None
    assert nll_gap_warning({"train_nll_epoch": -0.3, "val_nll": 3083.0, "val_nll_recalibrated": -0.1}) is None
    assert nll_gap_warning({}) is None
