"""Oracle ceilings: IP with the true source powers, least-squares demixing; and the evaluation path."""

import pytest
import torch

from asteroid_mvae.evaluation import get_separator
from asteroid_mvae.evaluation.evaluate import run_separator
from asteroid_mvae.models import ILRMA
from asteroid_mvae.models.oracle import OracleIP, OracleLS
from asteroid_mvae.separation import FixedVariance, StftConfig, separate, stft

pytestmark = pytest.mark.usefixtures("single_thread")
STFT = dict(n_fft=1024, hop_length=512)


def test_oracle_ip_reaches_ilrma_on_a_simulated_room(room, sisdri):
    mixture, references = room(2, 0.15, seconds=5.0)
    mix, refs = torch.from_numpy(mixture), torch.from_numpy(references)
    ilrma = sisdri(ILRMA(n_src=2, n_iter=60, **STFT).forward_wav(mix[None])[0], references, mixture[0])
    oracle = sisdri(OracleIP(n_src=2, n_iter=60, **STFT).forward_wav(mix[None], refs[None])[0], references, mixture[0])
    assert oracle > 3.0, oracle
    assert oracle >= ilrma - 0.2, (oracle, ilrma)


def test_oracle_ls_is_the_best_linear_demixer(room, sisdri):
    mixture, references = room(2, 0.15, seconds=5.0)
    mix, refs = torch.from_numpy(mixture), torch.from_numpy(references)
    ls = OracleLS(n_src=2, **STFT).forward_wav(mix[None], refs[None])[0]
    ip = OracleIP(n_src=2, n_iter=60, **STFT).forward_wav(mix[None], refs[None])[0]
    assert sisdri(ls, references, mixture[0]) > sisdri(ip, references, mixture[0])
    # no frequency-domain demixer has a smaller squared error towards the images, per bin
    cfg = StftConfig(**STFT)
    err = lambda est: (stft(est.double(), cfg) - stft(refs.double(), cfg)).abs().pow(2).sum()
    assert err(ls) < err(ip)


def test_oracle_ls_is_exact_without_reverberation_overlap():
    """Instantaneous, frequency-flat mixing: the images are exactly a linear map of the mixture."""
    g = torch.Generator().manual_seed(0)
    sources = torch.randn(2, 16000, generator=g)
    A = torch.tensor([[1.0, 0.6], [0.4, 1.0]])
    mixture = A @ sources
    images = A[0][:, None] * sources  # images at microphone 0
    est = OracleLS(n_src=2, **STFT).forward_wav(mixture[None], images[None])[0]
    assert torch.allclose(est, images, atol=1e-4)


def test_fixed_variance_never_raises_j(room):
    mixture, references = room(2, 0.3, seconds=3.0)
    cfg = StftConfig(**STFT)
    X = stft(torch.from_numpy(mixture)[None].double(), cfg)
    target = stft(torch.from_numpy(references)[None].double(), cfg).abs().pow(2)
    J = separate(X, FixedVariance(target), n_iter=20).objective[:, 0]
    assert torch.all(J[1:] <= J[:-1] + 1e-9 * J[:-1].abs()), J


def test_oracles_come_by_name_and_get_references_in_evaluation(room):
    mixture, references = room(2, 0.15, seconds=2.0)
    mix, refs = torch.from_numpy(mixture), torch.from_numpy(references)
    for name in ("oracle_ip", "oracle_ls"):
        sep = get_separator(name, n_src=2, n_iter=3, stft_config=StftConfig(**STFT))
        assert sep.needs_references
        est = run_separator(sep, mix, references=refs)
        assert est.shape == refs.shape and torch.isfinite(est).all()
        with pytest.raises(ValueError, match="oracle"):
            run_separator(sep, mix)


def test_oracle_rejects_references_of_the_wrong_shape(room):
    mixture, references = room(2, 0.15, seconds=2.0)
    with pytest.raises(ValueError, match="references must be"):
        OracleIP(n_src=2, **STFT).forward_wav(torch.from_numpy(mixture)[None], torch.from_numpy(references[:1])[None])


def test_ideal_masks_bound_single_channel_masking(room, sisdri):
    """IBM and IRM at the reference microphone separate a reverberant room well; the IRM's
    estimates sum back to the mixture exactly."""
    mixture, references = room(2, 0.15, seconds=4.0)
    wav, refs = torch.from_numpy(mixture), torch.from_numpy(references)
    for kind in ("ibm", "irm"):
        separator = get_separator(kind, n_src=2, stft_config=StftConfig(512, 256))
        estimates = run_separator(separator, wav, references=refs)
        assert sisdri(estimates, references, mixture[0]) > 8.0, kind
    irm = get_separator("irm", n_src=2, stft_config=StftConfig(512, 256)).forward_wav(wav, refs)
    torch.testing.assert_close(irm.sum(0), wav[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", [OracleIP, OracleLS])
def test_oracles_with_lengths_crop_references_with_their_mixtures(room, cls):
    rooms = [room(2, 0.15, seconds=s, seed=i) for i, s in enumerate((1.0, 1.5))]
    lengths = [r[0].shape[-1] for r in rooms]
    pad = lambda x: torch.nn.functional.pad(torch.from_numpy(x), (0, max(lengths) - x.shape[-1]))
    wav, refs = torch.stack([pad(r[0]) for r in rooms]), torch.stack([pad(r[1]) for r in rooms])
    model = cls(n_src=2, n_iter=3, **STFT)
    out = model.forward_wav(wav, refs, lengths=lengths)
    alone = model.forward_wav(torch.from_numpy(rooms[0][0])[None], torch.from_numpy(rooms[0][1])[None])[0]
    torch.testing.assert_close(out[0, :, : lengths[0]], alone, atol=1e-5, rtol=1e-4)
    assert not out[0, :, lengths[0] :].any()
