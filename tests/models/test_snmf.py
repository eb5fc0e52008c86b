"""Supervised NMF in the IP engine: bases learned per speaker, J never rises, it separates a
simulated room, serialisation keeps the bases."""

import torch

from asteroid_mvae.evaluation import get_separator, si_sdr_improvement
from asteroid_mvae.models import SupervisedILRMA
from asteroid_mvae.separation import SupervisedNMF, learn_bases

SMALL = dict(n_fft=512, hop_length=256)


def test_learned_bases_fit_their_source():
    torch.manual_seed(0)
    truth = torch.rand(64, 3)
    power = truth @ torch.rand(3, 200) * 5
    bases = learn_bases(power, 3, n_iter=300)
    assert bases.shape == (64, 3) and torch.allclose(bases.mean(0), torch.ones(3))
    fit = SupervisedNMF(bases[None])
    fit.reset(power[None, None])
    for _ in range(200):
        variance = fit.update(power[None, None])
    assert float((power / variance).mean()) < 1.2  # IS fit: the ratio near 1


def _room(seed):
    from asteroid_mvae.evaluation.toy import simulate_mixture

    return simulate_mixture(2, 4.0, rt60=0.15, seed=seed)


def test_supervised_ilrma_lowers_j_monotonically_and_separates():
    mixture, references = _room(3)
    model = SupervisedILRMA(n_src=2, n_basis=8, n_iter=40, **SMALL)
    model.fit_bases([torch.from_numpy(references[k]) for k in range(2)])  # each source's own signal: oracle bases
    out = model.separate_with_history(torch.from_numpy(mixture)[None])
    J = out.result.objective[:, 0]
    assert torch.all(J[1:] <= J[:-1] + 1e-6 * J[:-1].abs()), J
    estimates = out.estimates[0].numpy()
    improvement = si_sdr_improvement(mixture[0], references, estimates)
    assert improvement.mean() > 3.0, improvement


def test_round_trip_keeps_the_bases(tmp_path):
    mixture, references = _room(4)
    model = SupervisedILRMA(n_src=2, n_basis=4, n_iter=5, init_ilrma=3, **SMALL).fit_bases(
        [torch.from_numpy(r) for r in references]
    )
    torch.save(model.serialize(), tmp_path / "snmf.pth")
    loaded = get_separator(str(tmp_path / "snmf.pth"))
    assert isinstance(loaded, SupervisedILRMA) and torch.equal(loaded.bases, model.bases) and loaded.init_ilrma == 3
    wav = torch.from_numpy(mixture)[None]
    torch.testing.assert_close(loaded.forward_wav(wav), model.forward_wav(wav))
