import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from asteroid_mvae.training import BalancedSpeakerSampler, losses
from asteroid_mvae.training.data import compute_input_scale, split_per_speaker


def test_gaussian_nll_is_complex_gaussian_nll_minimised_at_the_power():
    torch.manual_seed(0)
    magnitude = torch.rand(2, 4, 3) + 0.1
    log_power = torch.randn(2, 4, 3)
    power = log_power.exp()
    # -log N_c(s; 0, v) = log(pi v) + |s|^2 / v, mean per bin, without log(pi)
    expected = (torch.log(math.pi * power) + magnitude**2 / power).mean() - math.log(math.pi)
    assert losses.gaussian_nll(magnitude, log_power).item() == pytest.approx(expected.item(), rel=1e-5)
    best = torch.log(magnitude**2).requires_grad_(True)
    losses.gaussian_nll(magnitude, best).backward()
    assert best.grad.abs().max() < 1e-5


def test_kl_terms_match_torch_distributions():
    torch.manual_seed(0)
    mean_p, logvar_p, mean_q, logvar_q = torch.randn(4, 2, 5, 3).unbind(0)
    p, q = Normal(mean_p, (0.5 * logvar_p).exp()), Normal(mean_q, (0.5 * logvar_q).exp())
    expected = kl_divergence(p, q).mean()
    assert losses.kl_diagonal_gaussians(mean_p, logvar_p, mean_q, logvar_q).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    standard = Normal(torch.zeros_like(mean_p), torch.ones_like(mean_p))
    expected = kl_divergence(p, standard).sum() / 1000  # per input bin
    assert losses.kl_standard_normal(mean_p, logvar_p, 1000).item() == pytest.approx(expected.item(), rel=1e-5)


def test_itakura_saito_divergence():
    ref = torch.log(torch.tensor([[[2.0, 1.0]]]))
    est = torch.log(torch.tensor([[[1.0, 1.0]]]))
    assert losses.itakura_saito(ref, est).item() == pytest.approx((2.0 - math.log(2.0) - 1.0) / 2, rel=1e-6)
    assert losses.itakura_saito(ref, ref).item() == 0.0


def test_classifier_cross_entropies():
    log_scores = torch.log(torch.tensor([[0.5, 0.25], [1e-40, 1.0]]))
    labels = torch.tensor([1, 0])
    assert losses.product_classifier_ce(log_scores, labels).item() == pytest.approx(
        (math.log(4) - math.log(1e-35)) / 2, rel=1e-5
    )
    logits = torch.tensor([[2.0, 0.0]])
    assert losses.softmax_ce(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_balanced_sampler_batches_cover_speakers_equally():
    labels = [0] * 10 + [1] * 3 + [2] * 5
    sampler = BalancedSpeakerSampler(labels, seed=1)
    order = list(sampler)
    assert len(order) == len(labels) == len(sampler)
    for start in range(0, 18, 3):  # every round of 3 indices has one item per speaker
        assert sorted(labels[i] for i in order[start : start + 3]) == [0, 1, 2]
    assert list(BalancedSpeakerSampler(labels, seed=1)) == order  # seeded
    sampler.set_epoch(1)
    assert list(sampler) != order
    minority = [i for i in order if labels[i] == 1]
    assert sorted(minority) == [10, 10, 11, 11, 12, 12]  # each of speaker 1's items used twice


def test_split_per_speaker_and_input_scale():
    labels = [0] * 10 + [1] * 2 + [2] * 1
    train, val = split_per_speaker(labels, 0.2, seed=0)
    assert sorted(train + val) == list(range(13))
    assert [labels[i] for i in val].count(0) == 2 and [labels[i] for i in val].count(1) == 1
    assert 12 in train  # a speaker with one item stays in training
    dataset = [(torch.full((4, 2), float(i)), i) for i in range(4)]
    assert compute_input_scale(dataset, [1, 3], 10, 0) == pytest.approx(math.sqrt((1 + 9) / 2))
    with pytest.raises(ValueError, match="all zero"):
        compute_input_scale(dataset, [0], 10, 0)
