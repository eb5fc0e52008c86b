"""VAE-BSS: trained on mixtures only through Lightning, VAEM estimates sum to the mixture, a short
training separates better than the mixture, K = 3 on 2-source mixtures, round trip."""

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from asteroid_mvae.baselines import VAEBSS, build_vaebss, train_pit
from asteroid_mvae.evaluation import get_separator, si_sdr_improvement
from asteroid_mvae.evaluation.toy import ToyMixtureDataset, speech_like_noise

NETWORK = {"hidden": [256], "latent": 8, "frames": 16, "beta": 0.1}


class TwoKinds(torch.utils.data.Dataset):
    """Single-channel mixtures of a low-pass and a high-pass speech-like source (the kinds an
    unsupervised model can tell apart from mixtures alone): ``([1, time], [2, time])``."""

    def __init__(self, n_mixtures, seconds, seed):
        self.items = []
        for i in range(n_mixtures):
            rng = np.random.default_rng(seed + i)
            sources = [
                lfilter([1.0], [1.0, -pole], speech_like_noise(int(seconds * 16000), 16000, rng))
                for pole in (0.9, -0.9)
            ]
            refs = np.stack([s / np.abs(s).max() for s in sources]).astype(np.float32)
            self.items.append((torch.from_numpy(refs.sum(0, keepdims=True)), torch.from_numpy(refs)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def test_segments_round_trip_and_vaem_sums_to_the_mixture():
    torch.manual_seed(0)
    model = build_vaebss(3, size="tiny").eval()
    magnitude = torch.rand(2, model.n_freq, 37)
    seg, peak, n_seg = model.segments(magnitude)
    assert seg.shape == (2 * n_seg, model.n_freq * model.frames) and float(seg.max()) <= 1.0
    back = model.unsegment((seg * peak)[:, None].expand(-1, 3, -1), 2, n_seg, 37)
    torch.testing.assert_close(back[:, 1], magnitude)
    wav = torch.randn(2, 1, 6000)
    with torch.no_grad():
        est = model.forward_wav(wav)
    assert est.shape == (2, 3, 6000)
    torch.testing.assert_close(est.sum(1), wav[:, 0], atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = TwoKinds(16, 1.0, seed=100)
    config = {
        "model": "vaebss",
        "size": "tiny",
        "network": NETWORK,
        "segment_seconds": 1.0,
        "seed": 0,
        "optim": {"batch_size": 4, "lr": 1e-3},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 600,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 10,
        },
    }
    torch.manual_seed(0)
    return train, train_pit(train, tmp_path_factory.mktemp("vaebss"), config)


def _mean_improvement(model, dataset):
    with torch.no_grad():
        return sum(
            si_sdr_improvement(x[0].numpy(), r.numpy(), model.forward_wav(x[None])[0].numpy()).mean()
            for x, r in (dataset[i] for i in range(len(dataset)))
        ) / len(dataset)


def test_training_on_mixtures_lowers_the_loss_and_separates(trained):
    train, path = trained
    torch.manual_seed(0)
    initial = build_vaebss(2, size="tiny", **NETWORK).eval()
    model = get_separator(str(path)).eval()
    assert isinstance(model, VAEBSS) and model.vaem
    mix = torch.stack([train[i][0][0] for i in range(len(train))])
    with torch.no_grad():
        assert float(model.loss(mix)) < 0.5 * float(initial.loss(mix))
    test = TwoKinds(4, 2.0, seed=7)
    assert _mean_improvement(model, test) > 0.3


def test_plain_vae_output_and_more_latents_than_sources(trained):
    _, path = trained
    plain = get_separator(str(path)).eval()
    plain.vaem = False
    mixture, _ = ToyMixtureDataset(n_mixtures=1, n_src=2, seconds=1.0, seed=3)[0]
    with torch.no_grad():
        out = plain.forward_wav(mixture[None])
    assert out.shape == (1, 2, mixture.shape[-1]) and torch.isfinite(out).all()
    three = build_vaebss(3, size="tiny", **NETWORK).eval()
    torch.save(three.serialize(), path.parent / "k3.pth")
    loaded = get_separator(str(path.parent / "k3.pth")).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.forward_wav(mixture[None]), three.forward_wav(mixture[None]))


def test_asteroid_mvae_train_cli_trains_vaebss_on_simulated_mixtures(tmp_path, capsys):
    """``asteroid-mvae train --model vaebss`` on ``asteroid-mvae simulate`` output: 3 steps, a model
    that loads; source-model flags and a missing ``--data`` are one-line errors."""
    import yaml

    from asteroid_mvae.cli import main
    from asteroid_mvae.models import load_model

    data = tmp_path / "mix"
    assert main(["simulate", "--n-src", "2", "--n-mixtures", "2", "--duration", "1", "--out", str(data)]) == 0
    conf = tmp_path / "conf.yml"
    conf.write_text(
        yaml.safe_dump(
            {
                "network": NETWORK,
                "segment_seconds": 1.0,
                "optim": {"batch_size": 2},
                "trainer": {"accelerator": "cpu", "enable_model_summary": False},
            }
        )
    )
    out = tmp_path / "exp"
    assert (
        main(
            [
                "train",
                "--model",
                "vaebss",
                "--data",
                str(data),
                "--size",
                "tiny",
                "--conf",
                str(conf),
                "--max-steps",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    model = load_model(str(out / "best_model.pth"))
    assert isinstance(model, VAEBSS) and model.frames == NETWORK["frames"]
    assert torch.load(out / "best_model.pth", weights_only=True)["training"]["steps"] == 3
    capsys.readouterr()
    assert main(["train", "--model", "vaebss", "--out", str(tmp_path / "x")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["train", "--model", "cvae", "--size", "tiny", "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "--size is for mixture-trained models" in capsys.readouterr().err
