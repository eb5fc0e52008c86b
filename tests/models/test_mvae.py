"""MVAE, FastMVAE and FastMVAE2: sizes, shapes, objective, serialization, and a trained model that separates."""

import numpy as np
import pytest
import torch

from asteroid_mvae.models import MVAE, FastMVAE, FastMVAE2, load_model
from asteroid_mvae.networks import ChimeraACVAE, save_network_package
from asteroid_mvae.separation import StftConfig

SMALL = dict(n_freq=128, n_fft=256, hop_length=128)  # 128-bin networks for fast tests


pytestmark = pytest.mark.usefixtures("single_thread")


def test_full_size_models_build_untrained():
    """FastMVAE2(n_labels=101, n_src=2, n_iter=60) is the paper's model, as benchmarks use it."""
    model = FastMVAE2(n_labels=101, n_src=2, n_iter=60)
    assert sum(p.numel() for p in model.parameters()) == 7_884_389
    assert model.stft_config == StftConfig(2048, 1024, "hamming")
    assert sum(p.numel() for p in MVAE(n_labels=101).parameters()) == 12_461_312
    assert sum(p.numel() for p in FastMVAE(n_labels=101).parameters()) == 18_914_789


@pytest.mark.parametrize("cls", [FastMVAE2, FastMVAE, MVAE])
def test_forward_wav_shapes_for_odd_lengths(cls):
    extra = {"n_steps": 2} if cls is MVAE else {}
    model = cls(n_labels=3, n_src=2, n_iter=2, **SMALL, **extra)
    for length in (4000, 4321):  # frame counts not a multiple of 4
        out = model.separate_with_history(torch.randn(1, 2, length))
        assert out.estimates.shape == (1, 2, length)
        assert torch.isfinite(out.result.objective).all()


@pytest.mark.parametrize("cls", [FastMVAE2, MVAE])
def test_a_given_source_model_replaces_the_network(cls):
    """``separate_with_history(source_model=...)`` runs the given model, as for every separator."""
    from asteroid_mvae.separation.source_models import GaussIVA

    extra = {"n_steps": 2} if cls is MVAE else {}
    model = cls(n_labels=3, n_src=2, n_iter=3, **SMALL, **extra)
    calls = []

    class Counting(GaussIVA):
        def update(self, power):
            calls.append(power.shape)
            return super().update(power)

    wav = torch.randn(1, 2, 4000)
    out = model.separate_with_history(wav, source_model=Counting())
    assert len(calls) == 3 and out.estimates.shape == (1, 2, 4000)


def test_mvae_lowers_the_objective(room):
    mixture, _ = room(2, 0.3, seconds=3.0)
    torch.manual_seed(0)
    model = MVAE(n_labels=3, n_src=2, n_iter=4, n_steps=10, **SMALL)
    J = model.separate_with_history(torch.from_numpy(mixture)).result.objective[:, 0]
    assert J[-1] < J[0]
    assert torch.all(J[1:] <= J[:-1] + 1e-6 * J[:-1].abs()), J  # latent descent + IP: MM-like


def test_serialization_round_trip_gives_identical_separations(tmp_path, room):
    mixture = torch.from_numpy(room(2, 0.3, seconds=3.0)[0])
    torch.manual_seed(0)
    model = FastMVAE2(n_labels=3, n_src=2, n_iter=5, label_map={"a": 0, "b": 1, "c": 2}, input_scale=0.5, **SMALL)
    torch.save(model.serialize(), tmp_path / "model.pth")
    loaded = load_model(str(tmp_path / "model.pth"))
    assert loaded.label_map == model.label_map and loaded.input_scale == 0.5
    assert torch.equal(loaded.forward_wav(mixture), model.forward_wav(mixture))
    assert load_model(str(tmp_path / "model.pth"), n_src=2, n_iter=9).n_iter == 9


@pytest.mark.parametrize("cls", [FastMVAE2, FastMVAE, MVAE])
def test_bfloat16_network_passes_track_float32(room, cls):
    mixture = torch.from_numpy(room(2, 0.3, seconds=3.0)[0])
    torch.manual_seed(0)
    extra = {"n_steps": 3} if cls is MVAE else {}
    exact = cls(n_labels=3, n_src=2, n_iter=4, **SMALL, **extra)
    fast = cls(n_labels=3, n_src=2, n_iter=4, precision="bfloat16", **SMALL, **extra)
    fast.load_state_dict(exact.state_dict())
    J32 = exact.separate_with_history(mixture).result.objective
    J16 = fast.separate_with_history(mixture).result.objective
    assert torch.allclose(J16, J32, rtol=1e-3), (J16 - J32).abs().max()
    with pytest.raises(ValueError, match="precision"):
        cls(n_labels=3, precision="float16", **SMALL)


def test_from_network_package(tmp_path):
    net = ChimeraACVAE(n_labels=2, n_freq=128)
    save_network_package(tmp_path / "net.pt", net, 0.3, {"x": 0, "y": 1}, {"epochs": 1})
    model = FastMVAE2.from_network_package(tmp_path / "net.pt", n_src=2, n_iter=3)
    assert model.stft_config.n_fft == 256 and model.label_map == {"x": 0, "y": 1}
    assert all(torch.equal(a, b) for a, b in zip(model.network.state_dict().values(), net.state_dict().values()))
    with pytest.raises(ValueError, match="needs a CVAE"):
        MVAE.from_network_package(tmp_path / "net.pt")
    with pytest.raises(ValueError, match="n_freq"):
        FastMVAE2(n_labels=2, n_freq=128)  # default n_fft 2048 gives 1024 bins


def test_trained_fastmvae2_separates_its_speakers(tmp_path):
    """Train a small CVAE teacher and ChimeraACVAE on two built-in speakers (the project's
    training code), then separate a reverberant mixture of new utterances of them.

    The networks model 256 bins (512-point STFT, 32 ms) to stay fast, so the room is mildly
    reverberant (RT60 0.15 s): with frames much shorter than the reverberation no
    frequency-domain BSS separates (ILRMA, AuxIVA included).
    """
    from asteroid_mvae.data.corpora import BuiltinCorpus
    from asteroid_mvae.data.datasets import MixtureDataset, SpeakerSpectrogramDataset
    from asteroid_mvae.data.rooms import RoomConfig, simulate_mixtures, simulate_speakers
    from asteroid_mvae.evaluation.metrics import si_sdr_improvement
    from asteroid_mvae.training import train_chimera, train_cvae

    corpus = BuiltinCorpus(n_speakers=2, utterances_per_speaker=12, seed=0)
    short = RoomConfig(duration=4.0, rt60=0.15)
    simulate_speakers(corpus, tmp_path / "speakers", n_per_speaker=8, seed=0, config=short)
    data = SpeakerSpectrogramDataset(tmp_path / "speakers", segment_frames=32, stft=StftConfig(512, 256), cache=True)
    common = dict(
        network={"n_freq": 256},
        optim={"batch_size": 8, "lr": 1e-3},
        data={"val_fraction": 0.0, "scale_items": 16},
        trainer={
            "max_steps": 120,
            "limit_val_batches": 0,
            "enable_progress_bar": False,
            "ckpt_every_n_steps": None,
            "accelerator": "cpu",
            "devices": 1,
        },
    )
    teacher = train_cvae(tmp_path / "cvae", data, preset="cpu", **common)
    package = train_chimera(teacher, tmp_path / "chimera", data, preset="cpu", **common)

    simulate_mixtures(corpus, tmp_path / "mix", n_src=2, n_mixtures=1, seed=7, config=short)
    mixture, references = MixtureDataset(tmp_path / "mix")[0]
    separators = {
        "FastMVAE2": FastMVAE2.from_network_package(package, n_src=2, n_iter=30),
        "FastMVAE2, 3 refinement steps": FastMVAE2.from_network_package(package, n_src=2, n_iter=30, refine_steps=3),
        "MVAE from the ChimeraACVAE's encoder": MVAE.from_network_package(
            teacher, start_package=package, n_src=2, n_iter=15, init_ilrma=0, n_steps=5
        ),
    }
    for name, model in separators.items():
        gain = si_sdr_improvement(mixture[0], references, model.forward_wav(mixture))
        print(name, "SI-SDR improvement per source (dB):", gain)
        assert float(torch.as_tensor(gain).mean()) > 3.0, (name, gain)


@pytest.mark.parametrize(
    "options", [{"init_steps": 5}, {"prior_weight": 1.0}, {"scale": "previous"}, {"bn_mode": "per_source"}]
)
def test_mvae_protocol_options_lower_the_objective(room, options):
    """The authors' protocol pieces (initial latent steps, N(0, I) prior, scale kept from the
    previous update, per-source BatchNorm statistics) each keep J decreasing overall."""
    mixture, _ = room(2, 0.3, seconds=3.0)
    torch.manual_seed(0)
    model = MVAE(n_labels=3, n_src=2, n_iter=4, n_steps=10, **SMALL, **options)
    J = model.separate_with_history(torch.from_numpy(mixture)).result.objective[:, 0]
    assert torch.isfinite(J).all() and J[-1] < J[0], J
    assert (
        load_model("mvae", allow_untrained=True, n_labels=3, **SMALL, **options).get_model_args().items()
        >= options.items()
    )


def test_mvae_initial_steps_move_the_latent_before_the_first_demixing_update(room):
    from asteroid_mvae.separation import stft
    from asteroid_mvae.separation.deep import CVAESource

    mixture, _ = room(2, 0.3, seconds=3.0)
    torch.manual_seed(0)
    model = MVAE(n_labels=3, n_src=2, **SMALL)
    power = stft(torch.from_numpy(mixture)[None], model.stft_config).abs().pow(2)
    start = CVAESource(model.network, n_steps=1)
    start.reset(power)
    fitted = CVAESource(model.network, n_steps=1, init_steps=5)
    fitted.reset(power)
    assert not torch.allclose(start.latent, fitted.latent)
    with pytest.raises(ValueError, match="scale"):
        MVAE(n_labels=3, scale="fixed", **SMALL)


def test_per_source_batchnorm_makes_each_source_independent_of_the_others(room):
    """bn_mode='per_source': a source's variance does not depend on what else is in the batch."""
    from asteroid_mvae.separation.deep import ACVAESource

    torch.manual_seed(0)
    model = FastMVAE(n_labels=3, n_src=2, **SMALL)
    power = torch.rand(1, 2, 129, 20) + 0.1
    per_source = ACVAESource(model.network, bn_mode="per_source")
    both = per_source.update(power)
    alone = per_source.update(power[:, :1])
    assert torch.allclose(both[:, :1], alone, rtol=1e-4)
    with pytest.raises(ValueError, match="bn_mode"):
        FastMVAE(n_labels=3, bn_mode="batch", **SMALL)


def test_two_ip_sweeps_per_iteration(room):
    mixture = torch.from_numpy(room(2, 0.3, seconds=3.0)[0])
    torch.manual_seed(0)
    one = FastMVAE2(n_labels=3, n_src=2, n_iter=3, **SMALL)
    two = FastMVAE2(n_labels=3, n_src=2, n_iter=3, ip_sweeps=2, **SMALL)
    two.load_state_dict(one.state_dict())
    J1 = one.separate_with_history(mixture).result.objective[:, 0]
    J2 = two.separate_with_history(mixture).result.objective[:, 0]
    assert J1[0] == J2[0] and not torch.allclose(J1[1:], J2[1:])
    assert two.get_model_args()["ip_sweeps"] == 2
    with pytest.raises(ValueError, match="ip_sweeps"):
        FastMVAE2(n_labels=3, ip_sweeps=0, **SMALL)


@pytest.mark.parametrize("name, network", [("mvae", "cvae"), ("fastmvae", "acvae"), ("fastmvae2", "chimera")])
def test_deep_names_without_weights_say_how_to_get_them(tmp_path, capsys, name, network):
    import soundfile as sf

    from asteroid_mvae.cli import main

    with pytest.raises(FileNotFoundError, match=f"needs trained weights.*--model {network}"):
        load_model(name)
    path = tmp_path / "mix.wav"
    sf.write(path, np.zeros((16000, 2)), 16000)
    assert main(["separate", str(path), "--model", name, "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs trained weights" in err
    assert not (tmp_path / "out").exists()


def test_a_network_package_loads_as_its_separator(tmp_path):
    net = ChimeraACVAE(n_labels=3, n_freq=SMALL["n_fft"] // 2)
    package = save_network_package(tmp_path / "network.pt", net, 1.0, {"a": 0, "b": 1, "c": 2})
    model = load_model(str(package), n_src=2, n_iter=3)
    assert isinstance(model, FastMVAE2) and model.n_iter == 3 and model.stft_config.n_fft == SMALL["n_fft"]
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in model.network.state_dict().items())


@pytest.mark.parametrize("cls, gain", [(FastMVAE2, 10), (FastMVAE, 60)])
def test_monotone_option_never_raises_the_objective(cls, gain):
    """Untrained networks (decoders scaled up so that their output depends on the input) raise J;
    with ``monotone=True`` J never rises, and the option survives serialisation (it is not the
    papers' algorithm, so it stays off by default)."""
    from asteroid_mvae.evaluation.toy import simulate_mixture

    mixture = torch.from_numpy(simulate_mixture(2, 3.0, rt60=0.3, seed=0)[0])
    torch.manual_seed(0)
    plain = cls(n_labels=3, n_src=2, n_iter=15, **SMALL).eval()
    with torch.no_grad():
        plain.network.decoder.layers[-1].weight.mul_(gain)
    guarded = cls(n_labels=3, n_src=2, n_iter=15, monotone=True, **SMALL).eval()
    guarded.load_state_dict(plain.state_dict())
    J_plain = plain.separate_with_history(mixture).result.objective[:, 0]
    J = guarded.separate_with_history(mixture).result.objective[:, 0]
    rises = lambda J: int((J[1:] > J[:-1] + 1e-6 * J[:-1].abs()).sum())
    assert rises(J_plain) > 0 and rises(J) == 0, (J_plain, J)
    assert J[-1] < J_plain[-1]
    assert cls(**guarded.get_model_args()).monotone and not plain.monotone


def test_variance_step_is_a_geometric_damped_update():
    """``variance_step = a``: the second variance is ``prev^(1-a) * proposal^a`` up to each output's
    ML gain (the proposal being what the plain update gives on the same power); 0 is refused."""
    from asteroid_mvae.separation.deep import ChimeraSource

    torch.manual_seed(0)
    model = FastMVAE2(n_labels=3, n_src=2, **SMALL).eval()
    power1, power2 = torch.rand(2, 1, 2, SMALL["n_fft"] // 2 + 1, 8, dtype=torch.float64).float() + 0.1
    with torch.no_grad():
        plain = ChimeraSource(model.network)
        first, proposal = plain.update(power1), plain.update(power2)
        damped = ChimeraSource(model.network, variance_step=0.25)
        assert torch.equal(damped.update(power1), first)
        second = damped.update(power2)
    log_ratio = torch.log(second) - 0.75 * torch.log(first) - 0.25 * torch.log(proposal)
    assert torch.allclose(log_ratio, log_ratio.mean((2, 3), keepdim=True), atol=1e-4)
    assert FastMVAE2(**FastMVAE2(variance_step=0.5, n_labels=3, **SMALL).get_model_args()).variance_step == 0.5
    with pytest.raises(ValueError, match="variance_step"):
        FastMVAE2(n_labels=3, variance_step=0, **SMALL)


def test_fastmvae2_with_lengths_separates_each_mixture_as_if_alone():
    """The network's receptive field never sees another mixture's padding: estimates equal each
    mixture alone and are zero beyond its length."""
    from asteroid_mvae.evaluation.toy import simulate_mixture

    torch.manual_seed(0)
    model = FastMVAE2(n_labels=3, n_src=2, n_iter=4, **SMALL).eval()
    mixtures = [torch.from_numpy(simulate_mixture(2, s, rt60=0.3, seed=i)[0]) for i, s in enumerate((1.0, 1.5))]
    lengths = [m.shape[-1] for m in mixtures]
    batch = torch.stack([torch.nn.functional.pad(m, (0, max(lengths) - m.shape[-1])) for m in mixtures])
    out = model.forward_wav(batch, lengths=lengths)
    for b, mixture in enumerate(mixtures):
        torch.testing.assert_close(out[b, :, : lengths[b]], model.forward_wav(mixture), atol=1e-5, rtol=1e-4)
        assert not out[b, :, lengths[b] :].any()


def _scaled_up(model, gain=10.0):
    """An untrained network whose decoder output depends on its input (see the monotone test)."""
    with torch.no_grad():
        model.network.decoder.layers[-1].weight.mul_(gain)
    return model.eval()


@pytest.mark.parametrize("cls", [FastMVAE2, FastMVAE])
def test_refinement_never_fits_worse_than_the_encoder(cls):
    """``refine_steps = k`` with ``keep_best``: each output's part of J (scale at its optimum) is at
    most that of the one-pass update on the same power, and below it for some output (the steps
    move); without ``keep_best`` the last iterate is returned, which also differs."""
    from asteroid_mvae.separation.deep import ACVAESource, ChimeraSource, Refinement, profile_nll_per_output

    torch.manual_seed(0)
    model = _scaled_up(cls(n_labels=3, n_src=2, **SMALL))
    source = ChimeraSource if cls is FastMVAE2 else ACVAESource
    power = torch.rand(1, 2, SMALL["n_fft"] // 2 + 1, 24, dtype=torch.float64).float() * 4 + 0.01
    with torch.no_grad():
        plain = source(model.network).update(power)
        refined = source(model.network, refinement=Refinement(5, lr=0.05)).update(power)
        last = source(model.network, refinement=Refinement(5, lr=0.05, keep_best=False)).update(power)
    before, after = profile_nll_per_output(power, plain), profile_nll_per_output(power, refined)
    assert torch.all(after <= before) and torch.any(after < before - 1e-3), (before, after)
    assert not torch.equal(last, refined) or torch.all(profile_nll_per_output(power, last) <= before)


@pytest.mark.parametrize("label", ["optimise", "fixed"])
def test_refinement_with_the_monotone_guard_never_raises_the_objective(label):
    """Semi-amortized FastMVAE2 in float64 (complex128 engine): with ``monotone=True`` J never
    rises; the refinement settings survive serialisation; bad settings are refused."""
    from asteroid_mvae.evaluation.toy import simulate_mixture

    mixture = torch.from_numpy(simulate_mixture(2, 3.0, rt60=0.3, seed=0)[0])
    torch.manual_seed(0)
    options = dict(refine_steps=3, refine_lr=0.05, refine_label=label, dtype="complex128")
    guarded = _scaled_up(FastMVAE2(n_labels=3, n_src=2, n_iter=12, monotone=True, **options, **SMALL))
    J = guarded.separate_with_history(mixture).result.objective[:, 0]
    assert J.dtype == torch.float64 and torch.all(J[1:] <= J[:-1] + 1e-9 * J[:-1].abs()), J
    assert J[-1] < J[0]
    args = FastMVAE2(**guarded.get_model_args()).get_model_args()
    assert {k: args[k] for k in ("refine_steps", "refine_lr", "refine_label", "refine_keep_best")} == {
        "refine_steps": 3,
        "refine_lr": 0.05,
        "refine_label": label,
        "refine_keep_best": True,
    }
    for bad, match in [
        ({"refine_steps": -1}, "refine_steps"),
        ({"refine_lr": 0}, "refine_lr"),
        ({"refine_label": "hard"}, "refine_label"),
    ]:
        with pytest.raises(ValueError, match=match):
            FastMVAE2(n_labels=3, **bad, **SMALL)
    with pytest.raises(ValueError, match="refine_steps"):
        MVAE(n_labels=3, refine_steps=2, **SMALL)


def test_mvae_started_from_a_chimera_encoder(tmp_path):
    """``start_package``: the MVAE latent and label logits start at the ChimeraACVAE encoder's
    answer; the start network travels with the model (serialisation round trip gives the same
    separation); a package of other speakers or of the wrong kind is refused."""
    from asteroid_mvae.networks import CVAE
    from asteroid_mvae.separation import stft
    from asteroid_mvae.separation.deep import network_input

    torch.manual_seed(0)
    labels = {"a": 0, "b": 1, "c": 2}
    cvae, chimera = CVAE(n_labels=3, n_freq=128), ChimeraACVAE(n_labels=3, n_freq=128)
    save_network_package(tmp_path / "cvae.pt", cvae, 1.0, labels)
    save_network_package(tmp_path / "chimera.pt", chimera, 1.0, labels)
    save_network_package(tmp_path / "other.pt", ChimeraACVAE(n_labels=3, n_freq=128), 1.0, {"a": 0, "b": 1, "d": 2})
    model = MVAE.from_network_package(
        tmp_path / "cvae.pt", start_package=tmp_path / "chimera.pt", n_src=2, n_iter=2, n_steps=2, init_ilrma=0
    )
    assert model.start == "chimera"
    assert all(
        torch.equal(a, b) for a, b in zip(model.start_network.state_dict().values(), chimera.state_dict().values())
    )
    wav = torch.randn(1, 2, 8000)
    source = model.make_source_model()
    power = stft(wav, model.stft_config).abs().pow(2)
    source.reset(power)
    with torch.no_grad():
        mean, _, logits = chimera.encode(network_input(power))
    assert torch.equal(source.latent.detach(), mean) and torch.equal(source.logits.detach(), logits)
    torch.save(model.serialize(), tmp_path / "mvae.pth")
    loaded = load_model(str(tmp_path / "mvae.pth"))
    assert loaded.start == "chimera" and torch.equal(loaded.forward_wav(wav), model.forward_wav(wav))
    with pytest.raises(ValueError, match="other speakers"):
        MVAE.from_network_package(tmp_path / "cvae.pt", start_package=tmp_path / "other.pt")
    with pytest.raises(ValueError, match="needs a ChimeraACVAE"):
        MVAE.from_network_package(tmp_path / "cvae.pt", start_package=tmp_path / "cvae.pt")
    with pytest.raises(ValueError, match="start"):
        MVAE(n_labels=3, start="acvae", **SMALL)
