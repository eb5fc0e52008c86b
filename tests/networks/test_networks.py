import math

import pytest
import torch
import torch.nn.functional as F

from asteroid_mvae.networks import (
    ACVAE,
    CVAE,
    LOG_POWER_FLOOR,
    ChimeraACVAE,
    load_network_package,
    save_network_package,
)

N_FREQ = 32
N_LABELS = 3


def count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    "cls, n_labels, expected",
    [(ChimeraACVAE, 101, 7_884_389), (ChimeraACVAE, 4, 6_990_340), (CVAE, 101, 12_461_312), (ACVAE, 101, 18_914_789)],
)
def test_paper_parameter_counts(cls, n_labels, expected):
    net = cls(n_labels=n_labels)
    assert net.n_freq == 1024 and net.n_labels == n_labels
    assert count(net) == expected


def one_hot(batch, n_labels=N_LABELS):
    return F.one_hot(torch.arange(batch) % n_labels, n_labels).float()


def encode(net, x, label):
    return net.encode(x) if isinstance(net, ChimeraACVAE) else net.encode(x, label)


@pytest.mark.parametrize("cls", [CVAE, ACVAE, ChimeraACVAE])
@pytest.mark.parametrize("frames", [1, 5, 13, 130])
def test_odd_frame_counts_pad_and_crop(cls, frames):
    torch.manual_seed(0)
    net = cls(N_LABELS, N_FREQ).eval()
    x, label = torch.rand(2, N_FREQ, frames), one_hot(2)
    mean, logvar = encode(net, x, label)[:2]
    latent_frames = math.ceil(max(frames, 8) / 4)
    assert mean.shape == logvar.shape == (2, N_FREQ // 8, latent_frames)
    assert net.decode(mean, label).shape == (2, N_FREQ, 4 * latent_frames)
    assert net.decode(mean, label, n_frames=frames).shape == (2, N_FREQ, frames)
    # The padding is zeros appended at the end: encoding the padded input gives the same latent.
    padded = F.pad(x, (0, 4 * latent_frames - frames))
    assert torch.allclose(encode(net, padded, label)[0], mean, atol=1e-6)
    log_power = net(x, label)[0]
    assert log_power.shape == (2, N_FREQ, frames)


@pytest.mark.parametrize("cls", [CVAE, ACVAE, ChimeraACVAE])
def test_weights_initialised_small_and_biases_zero(cls):
    torch.manual_seed(0)
    net = cls(N_LABELS, 256)
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert abs(weights.std().item() - 0.01) < 5e-4
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)


@pytest.mark.parametrize("cls", [CVAE, ChimeraACVAE])
def test_decoder_depends_on_label_and_is_clamped(cls):
    torch.manual_seed(0)
    net = cls(N_LABELS, N_FREQ).eval()
    z = torch.randn(1, N_FREQ // 8, 4)
    first = net.decode(z, one_hot(1))
    second = net.decode(z, torch.tensor([[0.0, 1.0, 0.0]]))
    assert (first - second).abs().max() > 1e-4
    with torch.no_grad():
        net.decoder.layers[-1].bias.fill_(-1e4)
    assert torch.all(net.decode(z, one_hot(1)) == LOG_POWER_FLOOR)


def test_acvae_classify_is_product_of_frame_softmax_clamped():
    torch.manual_seed(0)
    net = ACVAE(N_LABELS, N_FREQ).eval()
    x = torch.rand(2, N_FREQ, 16)
    frame_probs = torch.softmax(net.classifier(x), dim=1)  # [2, L, 2 frames]
    assert frame_probs.shape[-1] == 2
    assert torch.allclose(net.classify(x), frame_probs.prod(dim=-1), rtol=1e-5)
    with torch.no_grad():
        net.classifier.net[-1].bias.copy_(torch.tensor([1e3, 0.0, 0.0]))
    probs = net.classify(torch.rand(2, N_FREQ, 64))
    assert torch.allclose(probs[:, 0], torch.ones(2))
    assert probs[:, 1:].min().item() == pytest.approx(1e-35, rel=1e-4)


def test_chimera_class_logits_are_time_average():
    torch.manual_seed(0)
    net = ChimeraACVAE(N_LABELS, N_FREQ).eval()
    x = torch.rand(2, N_FREQ, 32)
    logits = net.encode(x)[2]
    expected = net.encoder.class_head(net.encoder.trunk(x)).mean(dim=-1)
    assert logits.shape == (2, N_LABELS)
    assert torch.allclose(logits, expected, atol=1e-6)


@pytest.mark.parametrize("cls", [CVAE, ACVAE, ChimeraACVAE])
def test_bad_shapes_give_clear_errors(cls):
    net = cls(N_LABELS, N_FREQ)
    with pytest.raises(ValueError, match="n_freq=32"):
        encode(net, torch.rand(2, 31, 8), one_hot(2))
    with pytest.raises(ValueError, match="n_labels=3"):
        net.decode(torch.rand(2, 4, 2), torch.rand(2, 5))
    with pytest.raises(ValueError, match="multiple of 8"):
        cls(N_LABELS, 30)


@pytest.mark.parametrize("cls", [CVAE, ACVAE, ChimeraACVAE])
def test_package_roundtrip(tmp_path, cls):
    torch.manual_seed(0)
    net = cls(N_LABELS, N_FREQ)
    net(torch.rand(4, N_FREQ, 8), one_hot(4))  # update BatchNorm running statistics
    net.eval()
    label_map = {"alice": 0, "bob": 1, "carol": 2}
    path = save_network_package(tmp_path / "net.pt", net, 2.5, label_map, {"epochs": 3})
    raw = torch.load(path, weights_only=True)
    assert raw["network"] == cls.__name__ and raw["network_args"] == {"n_labels": 3, "n_freq": N_FREQ}
    loaded, package = load_network_package(path)
    assert type(loaded) is cls and not loaded.training
    assert package["input_scale"] == 2.5 and package["label_map"] == label_map and package["training"] == {"epochs": 3}
    x, label = torch.rand(1, N_FREQ, 12), one_hot(1)
    mean = encode(net, x, label)[0]
    assert torch.equal(encode(loaded, x, label)[0], mean)
    assert torch.equal(loaded.decode(mean, label), net.decode(mean, label))
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]  # no temporary file left


def test_package_errors(tmp_path):
    net = CVAE(N_LABELS, N_FREQ)
    with pytest.raises(ValueError, match="label_map has 2 speakers"):
        save_network_package(tmp_path / "a.pt", net, 1.0, {"a": 0, "b": 1})
    with pytest.raises(ValueError, match="input_scale"):
        save_network_package(tmp_path / "a.pt", net, 0.0, {"a": 0, "b": 1, "c": 2})
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_network_package(tmp_path / "missing.pt")
    torch.save({"foo": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a network package"):
        load_network_package(tmp_path / "other.pt")
