"""The envelope-correlation fallback: the statistic, and the deep separators keeping their start."""

import pytest
import torch

from asteroid_mvae.models import MVAE
from asteroid_mvae.separation import FixedVariance, separate, stft
from asteroid_mvae.separation.fallback import envelope_correlation, keep_start

SMALL = dict(n_freq=128, n_fft=256, hop_length=128)

pytestmark = pytest.mark.usefixtures("single_thread")


def talkers(n_src=2, frames=200, freq=33, seed=0):
    """Complex spectrograms ``[1, src, freq, frames]`` with independent on/off activity."""
    gen = torch.Generator().manual_seed(seed)
    active = (torch.rand(1, n_src, 1, frames, generator=gen) > 0.5).to(torch.float64) + 1e-3
    noise = torch.randn(1, n_src, freq, frames, dtype=torch.complex128, generator=gen)
    return noise * active


def test_separated_outputs_correlate_less_than_merged_ones():
    S = talkers()
    merged = torch.stack([S[:, 0], S[:, 0] + 0.1 * S[:, 1]], 1)
    separated, collapsed = envelope_correlation(S), envelope_correlation(merged)
    assert separated.shape == (1,) and float(separated) < 0.2 < 0.5 < float(collapsed) <= 1
    assert bool(keep_start(merged, S)) and not bool(keep_start(S, merged))


def test_statistic_ignores_each_outputs_scale_and_the_dc_bin():
    S = talkers(n_src=3)
    scaled = S * torch.tensor([1e-3, 1.0, 50.0], dtype=torch.float64)[None, :, None, None]
    scaled[:, :, 0] = 1e6  # DC left out
    assert torch.allclose(envelope_correlation(scaled), envelope_correlation(S), atol=1e-9)
    assert torch.isnan(envelope_correlation(S[:, :1])).all()
    with pytest.raises(ValueError, match="batch, src, freq, frames"):
        envelope_correlation(S[0])


class OracleStart(MVAE):
    """MVAE starting from given demixing matrices (for the test: a good separation)."""

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def initial_demix(self, mix_stft):
        return self.start


def oracle_case(room):
    mixture, references = room(2, 0.3, seconds=4.0)
    wav = torch.from_numpy(mixture)[None]
    model = MVAE(n_labels=3, n_src=2, n_iter=1, **SMALL)
    X = stft(wav, model.stft_config)
    powers = stft(torch.from_numpy(references)[None], model.stft_config).abs() ** 2
    W = separate(X, FixedVariance(powers.float()), n_iter=20, proj_back=False).demix  # oracle IP: separated
    return wav, mixture, references, W, powers.float()


@pytest.mark.parametrize("fallback", ["none", "envelope"])
def test_the_start_is_kept_where_the_iterations_merge_the_talkers(room, sisdri, fallback):
    """From a separated start, iterations whose variances follow the talkers' powers backwards in time
    (a source model that describes neither talker) undo the separation; the fallback keeps the
    start's outputs (and says so), without it they are lost."""
    wav, mixture, references, W, powers = oracle_case(room)
    model = OracleStart(W, n_labels=3, n_src=2, n_iter=30, n_steps=1, fallback=fallback, **SMALL)
    out = model.separate_with_history(wav, source_model=FixedVariance(powers.flip(-1)))
    start = OracleStart(W, n_labels=3, n_src=2, n_iter=1, n_steps=1, **SMALL).separate_with_history(
        wav, source_model=FixedVariance(powers)
    )
    start_score = sisdri(start.estimates[0].numpy(), references, mixture[0])
    score = sisdri(out.estimates[0].numpy(), references, mixture[0])
    if fallback == "envelope":
        assert out.result.kept_start.tolist() == [True]
        assert score > start_score - 1.0 and score > 5.0
    else:
        assert out.result.kept_start is None and score < start_score - 3.0


def test_iterations_that_separate_are_kept(room, sisdri):
    """From ILRMA's start, iterations with the true powers separate better: the fallback keeps them,
    and the output is the plain separator's."""
    wav, mixture, references, _, powers = oracle_case(room)
    kwargs = dict(n_labels=3, n_src=2, n_iter=10, n_steps=1, init_ilrma=5, **SMALL)
    out = MVAE(fallback="envelope", **kwargs).separate_with_history(wav, source_model=FixedVariance(powers))
    plain = MVAE(**kwargs).separate_with_history(wav, source_model=FixedVariance(powers))
    assert out.result.kept_start.tolist() == [False]
    assert torch.equal(out.estimates, plain.estimates)
    assert sisdri(out.estimates[0].numpy(), references, mixture[0]) > 5.0


def test_fallback_is_a_checked_saved_argument():
    model = MVAE(n_labels=3, n_src=2, fallback="envelope", **SMALL)
    assert model.get_model_args()["fallback"] == "envelope"
    with pytest.raises(ValueError, match="fallback must be one of"):
        MVAE(n_labels=3, fallback="always", **SMALL)
