"""Metric values on signals with known SI-SDR, permutation solving, get_metrics wrapper."""

import numpy as np
import pytest

from asteroid_mvae.evaluation.metrics import (
    compute_metrics,
    pairwise_si_sdr,
    si_sdr,
    si_sdr_improvement,
    solve_permutation,
)


def orthogonal_noise(ref, rng):
    """Zero-mean noise orthogonal to ``ref`` with unit energy."""
    noise = rng.standard_normal(ref.shape[-1])
    noise -= noise.mean()
    noise -= (noise @ ref) / (ref @ ref) * ref
    return noise / np.linalg.norm(noise)


@pytest.mark.parametrize("target_db", [-5.0, 0.0, 12.0, 30.0])
def test_si_sdr_exact_on_reference_plus_orthogonal_noise(target_db):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(8000)
    ref -= ref.mean()
    gain = 0.37  # SI-SDR ignores the estimate's scale
    noise = orthogonal_noise(ref, rng) * np.linalg.norm(ref) * 10 ** (-target_db / 20)
    estimate = gain * (ref + noise)
    assert si_sdr(estimate, ref)[0] == pytest.approx(target_db, abs=1e-6)


def test_permutation_solved_on_permuted_estimates():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((3, 4000))
    levels = np.array([20.0, 10.0, 5.0])
    estimates = np.stack([r + 10 ** (-l / 20) * rng.standard_normal(4000) for r, l in zip(refs, levels)])
    perm = np.array([2, 0, 1])
    shuffled = estimates[perm]  # shuffled[i] = estimates[perm[i]]
    order = solve_permutation(shuffled, refs)
    np.testing.assert_array_equal(shuffled[order], estimates)
    np.testing.assert_allclose(pairwise_si_sdr(shuffled, refs)[order, [0, 1, 2]], si_sdr(estimates, refs))
    # an extra, useless estimate is dropped
    order = solve_permutation(np.concatenate([rng.standard_normal((1, 4000)), shuffled]), refs)
    assert 0 not in order


def test_si_sdr_improvement_of_the_mixture_is_zero_and_of_the_references_large():
    rng = np.random.default_rng(2)
    refs = rng.standard_normal((2, 4000))
    mix = refs.sum(0)
    np.testing.assert_allclose(si_sdr_improvement(mix, refs, np.stack([mix, mix])), 0.0, atol=1e-9)
    assert (si_sdr_improvement(mix, refs, refs[::-1] * 3.0) > 100).all()


def test_compute_metrics_reorders_and_reports_improvements():
    rng = np.random.default_rng(3)
    t = np.arange(16000) / 16000
    refs = np.stack([np.sin(2 * np.pi * 220 * t) * (t < 0.5), rng.standard_normal(16000) * 0.3])
    mix = refs.sum(0)
    noise = np.stack([orthogonal_noise(r - r.mean(), rng) * np.linalg.norm(r - r.mean()) * 0.1 for r in refs])
    estimates = (refs + noise)[::-1]  # swapped order, 20 dB SI-SDR each
    out = compute_metrics(mix, refs, estimates, 16000, metrics_list=["si_sdr"])
    assert out["si_sdr"] == pytest.approx(20.0, abs=0.05)
    assert out["si_sdr_imp"] == pytest.approx(out["si_sdr"] - out["input_si_sdr"])
    assert out["si_sdr_s0"] == pytest.approx(20.0, abs=0.1)
    with pytest.raises(ValueError, match="Unknown metrics"):
        compute_metrics(mix, refs, estimates, metrics_list=["snr"])


def test_every_metric_once_on_a_short_signal():
    rng = np.random.default_rng(4)
    t = np.arange(16000) / 16000
    refs = np.stack(
        [
            np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 3 * t) ** 2,
            rng.standard_normal(16000) * 0.2 * (np.sin(2 * np.pi * 2 * t) > 0),
        ]
    )
    mix = refs.sum(0)
    estimates = refs[::-1] + 0.01 * rng.standard_normal(refs.shape)
    out = compute_metrics(mix, refs, estimates, 16000, metrics_list="all")
    for name in ("si_sdr", "sdr", "sir"):
        assert out[f"{name}_imp"] > 10, name
    assert out["stoi"] > 0.6 and out["stoi_imp"] > 0.1
    assert out["pesq"] > out["input_pesq"]
    assert out["sar"] > 20 and "sar_imp" not in out  # the mixture's SAR is unbounded: no improvement


@pytest.fixture
def two_threads_set():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # explicitly: MKL's threaded LU failed after this call (10-s signals)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("n_src", [2, 3])
def test_bss_eval_values_equal_asteroids_get_metrics(room, n_src, two_threads_set):
    """fast_bss_eval (ours) and asteroid's get_metrics (mir_eval's algorithm) agree to 1e-3 dB."""
    from asteroid.metrics import get_metrics

    from asteroid_mvae.models import load_model

    mixture, references = room(n_src, 0.15, seconds=10.0)
    estimates = (
        load_model("auxiva", n_src=n_src, n_iter=10).forward_wav(__import__("torch").from_numpy(mixture)).numpy()
    )
    ours = compute_metrics(mixture[0], references, estimates, metrics_list=["si_sdr", "sdr", "sir", "sar"])
    from asteroid_mvae.evaluation.metrics import reorder

    theirs = get_metrics(
        mixture[:1], references, reorder(estimates, references), metrics_list=["si_sdr", "sdr", "sir", "sar"]
    )
    for name in ("si_sdr", "sdr", "sir", "sar"):
        assert ours[name] == pytest.approx(theirs[name], abs=1e-3), name
    for name in ("si_sdr", "sdr", "sir"):
        assert ours[f"input_{name}"] == pytest.approx(theirs[f"input_{name}"], abs=1e-3), name
