"""Encoder re-training: IS loss, stage-1 data (content, precision, resume), re-training
(decoder bit-identical, validation loss drops, model round-trip), dropout hooks, comparison, CLI."""

import json

import pytest
import torch

from asteroid_mvae.networks import load_network_package
from asteroid_mvae.retraining import (
    RetrainConfig,
    RetrainingDataset,
    add_encoder_dropout,
    autoencode,
    best_permutation,
    compare,
    generate_retraining_data,
    load_retrained,
    retrain,
    scaled_is_divergence,
)
from asteroid_mvae.separation import StftConfig, stft
from asteroid_mvae.separation.deep import fit_scale, network_input

N_FFT = 256  # as in conftest.py
N_ITER = 3


def test_scaled_is_divergence_matches_the_separation_scale():
    torch.manual_seed(0)
    h = torch.randn(2, 8, 5)
    assert torch.allclose(scaled_is_divergence(3.7 * torch.exp(h), h), torch.zeros(2), atol=1e-6)
    p = torch.rand(2, 8, 5) + 0.1
    r = fit_scale(p[:, None], h[:, None])[:, 0]  # the engine's g * exp(h)
    expected = (p / r - torch.log(p / r) - 1).mean((1, 2))
    assert torch.allclose(scaled_is_divergence(p, h), expected, atol=1e-6)
    assert (scaled_is_divergence(p, h) > 0).all()
    assert torch.isfinite(scaled_is_divergence(torch.zeros(1, 8, 5), h[:1])).all()  # p clamped


def test_best_permutation_finds_swapped_sources():
    clean = torch.rand(3, 16, 10) ** 4
    assert best_permutation(clean[[2, 0, 1]], clean).tolist() == [2, 0, 1]


@pytest.fixture(scope="module")
def data_dir(retrain_setup):
    out = retrain_setup["root"] / "data"
    generate_retraining_data(
        retrain_setup["package"], [retrain_setup["train_csv"]], out, n_iter=N_ITER, store_clean=True, progress=False
    )
    return out


def test_stage1_stores_what_the_encoder_sees_and_resumes(retrain_setup, data_dir):
    from asteroid_mvae.data import MixtureDataset

    index = json.loads((data_dir / "index.json").read_text())
    assert len(index["items"]) == 4 and index["settings"]["n_iter"] == N_ITER
    first = data_dir / index["items"][0]["file"]
    shard = torch.load(first, weights_only=True)
    frames = index["items"][0]["n_frames"]
    assert shard["inputs"].shape == (N_ITER + 1, 2, N_FFT // 2, frames) and shard["inputs"].dtype == torch.float16
    # iteration 0 (identity demixing) is the mixture's channels, in the network domain
    mixture, _ = MixtureDataset(retrain_setup["train_csv"])[0]
    x0 = network_input(stft(mixture, StftConfig(N_FFT, N_FFT // 2)).abs().pow(2)[None])
    assert torch.allclose(shard["inputs"][0].float(), x0, rtol=2e-3, atol=1e-4)
    assert not torch.allclose(shard["inputs"][N_ITER].float(), shard["inputs"][0].float(), atol=1e-2)
    # float16 is precise enough: the encoder's latent barely moves
    network, _ = load_network_package(retrain_setup["package"])
    with torch.no_grad():
        z16 = network.encode(shard["inputs"][0].float())[0]
        z32 = network.encode(x0)[0]
    assert (z16 - z32).abs().max() <= 1e-3 * z32.abs().max()
    # resume: a deleted shard is regenerated identically, finished ones are not touched
    others = {p: p.stat().st_mtime_ns for p in (data_dir / "shards").iterdir() if p != first}
    first.unlink()
    generate_retraining_data(
        retrain_setup["package"],
        [retrain_setup["train_csv"]],
        data_dir,
        n_iter=N_ITER,
        store_clean=True,
        progress=False,
    )
    again = torch.load(first, weights_only=True)
    assert torch.equal(again["inputs"], shard["inputs"]) and torch.equal(again["perm"], shard["perm"])
    assert all(p.stat().st_mtime_ns == t for p, t in others.items())
    with pytest.raises(ValueError, match="other settings"):
        generate_retraining_data(
            retrain_setup["package"], [retrain_setup["train_csv"]], data_dir, n_iter=2, progress=False
        )


def test_dataset_targets_weights_and_oracle(data_dir):
    plain = RetrainingDataset(data_dir, segment_frames=32, early_iterations=2, early_weight=3.0)
    assert len(plain) == 4 * (N_ITER + 1) * 2
    x, target, weight = plain[0]
    assert x.shape == (N_FFT // 2, 32) and torch.allclose(target, x**2) and float(weight) == 3.0
    assert float(plain[len(plain) - 1][2]) == 1.0
    oracle = RetrainingDataset(data_dir, segment_frames=32, oracle=True)
    assert not torch.allclose(oracle[5][1], oracle[5][0] ** 2)


def test_dropout_hooks_keep_parameters_and_eval_output(retrain_setup):
    network, _ = load_network_package(retrain_setup["package"])
    x = torch.rand(2, N_FFT // 2, 16)
    n_params = sum(p.numel() for p in network.parameters())
    with torch.no_grad():
        reference = autoencode(network, x)
        handles = add_encoder_dropout(network, 0.3)
        assert len(handles) == 3 and sum(p.numel() for p in network.parameters()) == n_params
        assert torch.equal(autoencode(network.eval(), x), reference)
        assert not torch.allclose(autoencode(network.train(), x), reference)
        for handle in handles:
            handle.remove()
        assert torch.equal(autoencode(network.train(), x), reference)


def test_retraining_turns_dropout_on_although_the_package_loads_in_eval_mode(retrain_setup):
    from asteroid_mvae.retraining.system import EncoderRetrainingSystem

    network, _ = load_network_package(retrain_setup["package"])  # eval mode, as retrain() gets it
    add_encoder_dropout(network, 0.3)
    system = EncoderRetrainingSystem(network, torch.optim.Adam(network.encoder.parameters()), train_loader=[])
    system.on_train_start()  # what Lightning calls before the first step
    assert network.encoder.training and not network.decoder.training
    x = torch.rand(2, network.n_freq, 16)
    assert not torch.equal(network.encode(x)[0], network.encode(x)[0])  # dropout is active


@pytest.fixture(scope="module")
def retrained(retrain_setup, data_dir):
    config = RetrainConfig(
        lr=1e-3, max_steps=40, batch_size=8, segment_frames=32, val_fraction=0.25, val_every_n_steps=10, dropout=0.3
    )
    return retrain(retrain_setup["package"], data_dir, retrain_setup["root"] / "rt", config, progress=False)


def test_retraining_lowers_val_loss_and_keeps_decoder(retrain_setup, retrained):
    before, _ = load_network_package(retrain_setup["package"])
    after, package = load_network_package(retrained.parent / "network.pt")
    for name, value in before.decoder.state_dict().items():
        assert torch.equal(value, after.decoder.state_dict()[name]), name
    assert any(not torch.equal(v, after.encoder.state_dict()[k]) for k, v in before.encoder.state_dict().items())
    info = package["training"]["retraining"]
    assert package["training"]["retrained"] is True and info["data"]["train_mixtures"] == 3
    assert info["val_loss_final"] < 0.9 * info["val_loss_initial"]


def test_retrained_model_round_trips(retrain_setup, retrained):
    from asteroid_mvae.models import FastMVAE2, load_model

    model = load_model(str(retrained), n_iter=2)
    assert isinstance(model, FastMVAE2)
    reference = FastMVAE2.from_network_package(retrained.parent / "network.pt", n_iter=2)
    for name, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    assert load_retrained(retrained).training_info["retrained"] is True
    mixture = torch.randn(2, 4000)
    assert torch.allclose(model.eval()(mixture), reference(mixture))


def test_compare_reports_both_claims(retrain_setup, retrained):
    out = retrain_setup["root"] / "compare"
    compare(retrain_setup["package"], retrained, [retrain_setup["test_csv"]], out, n_iter=N_ITER, progress=False)
    claims = json.loads((out / "claims.json").read_text())["N=2"]
    assert set(claims) == {"ILRMA", "FastMVAE2", "FastMVAE2-retrained"}
    for c in claims.values():
        assert 0 <= c["j_increase_fraction"] <= 1 and len(c["si_sdr_imp"]) == N_ITER + 1
    paired = claims["FastMVAE2-retrained"]["paired_vs_FastMVAE2"]
    n = claims["FastMVAE2"]["n_mixtures"]
    assert paired["n_mixtures"] == n and 0 <= paired["wins"] <= n
    expected = claims["FastMVAE2-retrained"]["final_si_sdr_imp"] - claims["FastMVAE2"]["final_si_sdr_imp"]
    assert abs(paired["mean_difference"] - expected) < 1e-9  # same mixtures: difference of means
    assert "Paired over the same mixtures" in (out / "claims.md").read_text()
    for name in ("claims.md", "results.md", "si_sdr_imp_vs_iteration.png", "objective_raw_vs_iteration.png"):
        assert (out / name).stat().st_size > 0


def test_cli_errors_name_the_path(tmp_path, retrain_setup, capsys):
    from asteroid_mvae.cli import main

    missing = str(tmp_path / "none.pt")
    assert main(["retrain", "--network", missing, "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert missing in capsys.readouterr().err
    assert main(["retrain-data", "--network", str(retrain_setup["package"]), "--out", str(tmp_path / "d")]) == 2
    assert "--mixtures" in capsys.readouterr().err


def test_mixture_ids_from_a_csv_cannot_write_outside_the_output(retrain_setup, tmp_path):
    import pandas as pd

    from asteroid_mvae.utils.io import UnsafePathError

    frame = pd.read_csv(retrain_setup["train_csv"])
    frame.loc[0, "mixture_ID"] = "/../../../X"
    csv = retrain_setup["train_csv"].parent / "hostile.csv"  # beside the original: its relative paths stay valid
    frame.to_csv(csv, index=False)
    with pytest.raises(UnsafePathError, match="unsafe name"):
        generate_retraining_data(retrain_setup["package"], [csv], tmp_path / "data", n_iter=1, progress=False)
    assert not (tmp_path / "data").exists() and not list(tmp_path.rglob("X.pt"))


def test_killed_and_resumed_retraining_equals_the_uninterrupted_one(retrain_setup, data_dir, tmp_path):
    """A run stopped mid-epoch (3 batches per epoch, last checkpoint at step 4) and resumed gives
    the same encoder, to the bit, as one run: data order, segments, dropout, the best-checkpoint
    and early-stopping states restart exactly."""
    common = dict(
        lr=1e-3,
        batch_size=8,
        segment_frames=16,
        val_fraction=0.25,
        val_every_n_steps=2,
        dropout=0.3,
        patience=5,
        seed=3,
    )
    retrain(retrain_setup["package"], data_dir, tmp_path / "once", RetrainConfig(max_steps=7, **common), progress=False)
    retrain(
        retrain_setup["package"], data_dir, tmp_path / "twice", RetrainConfig(max_steps=4, **common), progress=False
    )
    retrain(
        retrain_setup["package"], data_dir, tmp_path / "twice", RetrainConfig(max_steps=7, **common), progress=False
    )
    once, once_package = load_network_package(tmp_path / "once" / "network.pt")
    twice, package = load_network_package(tmp_path / "twice" / "network.pt")
    info = package["training"]["retraining"]
    assert info["steps"] == 7 and info["data"]["train_samples"] == 24  # 3 batches of 8 per epoch
    assert info["val_loss_final"] == once_package["training"]["retraining"]["val_loss_final"]
    for name, value in once.encoder.state_dict().items():
        assert torch.equal(value, twice.encoder.state_dict()[name]), name
